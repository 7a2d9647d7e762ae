//! One rtnetlink socket for every request, with batching.
//!
//! rtnetlink's `Handle` sends one message per request and the connection task writes one
//! request per wake-up, so 1,000 devices cost thousands of task switches. Here a batch of
//! requests goes out in ONE datagram (`ConnectionHandle::request_batch`): the kernel runs the
//! messages of a datagram in order, each under its own rtnl lock, and acks each one in order,
//! which is what `ip -batch` gets with one datagram per line. rtnetlink is still used for its
//! message builders.
//!
//! Replies are kept as raw bytes ([`Msg::Raw`]) and parsed on demand by `parse.rs`.

use super::error::Cause;
use futures::StreamExt;
use netlink_packet_core::{
    NLM_F_ACK_TLVS, NLM_F_CAPPED, NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_REQUEST,
    NetlinkDeserializable, NetlinkHeader, NetlinkMessage, NetlinkPayload, NetlinkSerializable,
};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_proto::ConnectionHandle;
use netlink_proto::sys::{AsyncSocket, SocketAddr, protocols::NETLINK_ROUTE};
use std::io;
use std::time::Duration;

/// Receive buffer asked for (root gets it via SO_RCVBUFFORCE): large dumps and the replies
/// of a whole batch must fit, or the kernel drops acks and a request never completes.
pub(crate) const RCVBUF: usize = 4 << 20;

/// Upper bound of messages per datagram. A reply (a full RTM_NEWLINK for a lookup) costs a
/// few KiB of receive buffer; the chunk is further limited by the buffer actually granted.
const MAX_CHUNK: usize = 256;
const REPLY_BUDGET: usize = 4096;

/// The kernel answers netlink requests synchronously; this only guards against a lost
/// reply (receive buffer overrun) turning into a hang.
const REPLY_TIMEOUT: Duration = Duration::from_secs(30);

/// How often an interrupted dump (`NLM_F_DUMP_INTR`: the table changed mid-dump) is retried.
const DUMP_ATTEMPTS: usize = 3;

/// What travels on the socket: typed requests out, raw payloads in.
#[derive(Debug, Clone)]
pub(crate) enum Msg {
    Request(RouteNetlinkMessage),
    /// A received message: netlink message type and payload (after the netlink header).
    Raw {
        kind: u16,
        payload: Vec<u8>,
    },
}

impl NetlinkSerializable for Msg {
    fn message_type(&self) -> u16 {
        match self {
            Msg::Request(m) => m.message_type(),
            Msg::Raw { kind, .. } => *kind,
        }
    }
    fn buffer_len(&self) -> usize {
        match self {
            Msg::Request(m) => m.buffer_len(),
            Msg::Raw { payload, .. } => payload.len(),
        }
    }
    fn serialize(&self, buffer: &mut [u8]) {
        match self {
            Msg::Request(m) => m.serialize(buffer),
            Msg::Raw { payload, .. } => buffer.copy_from_slice(payload),
        }
    }
}

impl NetlinkDeserializable for Msg {
    type Error = std::convert::Infallible;
    fn deserialize(header: &NetlinkHeader, payload: &[u8]) -> Result<Self, Self::Error> {
        Ok(Msg::Raw {
            kind: header.message_type,
            payload: payload.to_vec(),
        })
    }
}

/// A received message: (netlink message type, payload).
pub(crate) type Raw = (u16, Vec<u8>);

pub(crate) type Reply = Result<Option<Raw>, Cause>;

/// A request message ready to send: payload and netlink flags.
pub(crate) struct Request {
    pub payload: RouteNetlinkMessage,
    pub flags: u16,
}

#[derive(Clone, Debug)]
pub(crate) struct Conn {
    handle: ConnectionHandle<Msg>,
    chunk: usize,
}

impl Conn {
    /// Open the socket in the current thread's namespace and spawn its connection task on
    /// the current tokio runtime.
    pub(crate) fn open() -> io::Result<Conn> {
        let (mut connection, handle, _unsolicited) =
            netlink_proto::new_connection::<Msg>(NETLINK_ROUTE)?;
        let socket = connection.socket_mut().socket_mut();
        let granted = grow_rcvbuf(socket, RCVBUF);
        // Extended acks give the kernel's reason in plain text; capped acks keep each ack
        // small (no copy of the request) so a batch's acks fit the receive buffer.
        let _ = socket.set_ext_ack(true);
        let _ = socket.set_cap_ack(true);
        // Acks are how batch replies are counted, so they must reach the request stream.
        connection.set_forward_ack(true);
        tokio::spawn(connection);
        let chunk = (granted / REPLY_BUDGET).clamp(1, MAX_CHUNK);
        Ok(Conn { handle, chunk })
    }

    /// Send every request and return one reply per request, in order: `Ok(None)` for an ack,
    /// `Ok(Some(message))` for a single-message answer (a lookup), `Err` for a NACK.
    ///
    /// Each request must produce exactly one terminal reply: either it carries NLM_F_ACK
    /// and produces nothing else, or it is a non-dump GET without NLM_F_ACK.
    pub(crate) async fn batch(&self, requests: Vec<Request>) -> Vec<Reply> {
        let mut replies = Vec::with_capacity(requests.len());
        let mut requests = requests.into_iter().peekable();
        while requests.peek().is_some() {
            let chunk: Vec<NetlinkMessage<Msg>> = requests
                .by_ref()
                .take(self.chunk)
                .map(|r| {
                    let mut m = request_message(r.payload);
                    m.header.flags = r.flags;
                    m
                })
                .collect();
            let n = chunk.len();
            let got = self.send_chunk(chunk, &mut replies).await;
            // Whatever did not get a reply is reported as such (the caller decides).
            for _ in got..n {
                replies.push(Err(Cause::Other(
                    "no reply from the kernel (netlink connection lost or overrun)".into(),
                )));
            }
        }
        replies
    }

    /// One datagram; pushes the replies it got and returns how many.
    async fn send_chunk(&self, chunk: Vec<NetlinkMessage<Msg>>, replies: &mut Vec<Reply>) -> usize {
        let n = chunk.len();
        let Ok(mut stream) = self.handle.request_batch(chunk, SocketAddr::new(0, 0)) else {
            return 0;
        };
        let start = replies.len();
        // One timer for the whole chunk: a timer per reply costs more than the reply.
        let receive = async {
            let mut first_seq = None;
            let mut got = 0usize;
            while got < n {
                let Some(message) = stream.next().await else {
                    break;
                };
                // Replies come back in request order and carry the request's sequence
                // number; checking it guards the one-reply-per-request assumption.
                let seq = message.header.sequence_number;
                let base = *first_seq.get_or_insert(seq);
                let flags = message.header.flags;
                replies.push(if seq.wrapping_sub(base) as usize != got {
                    Err(Cause::Other(format!(
                        "netlink reply out of order (sequence {seq}, expected {})",
                        base.wrapping_add(got as u32)
                    )))
                } else {
                    match message.payload {
                        NetlinkPayload::Error(err) => match err.code {
                            None => Ok(None),
                            Some(code) => Err(Cause::Errno {
                                errno: code.get().abs(),
                                extack: extack_message(flags, &err.header),
                            }),
                        },
                        NetlinkPayload::InnerMessage(inner) => Ok(Some(raw(inner))),
                        other => Err(Cause::Other(format!("unexpected netlink reply {other:?}"))),
                    }
                });
                got += 1;
            }
        };
        let _ = tokio::time::timeout(REPLY_TIMEOUT, receive).await;
        replies.len() - start
    }

    /// A dump (NLM_F_DUMP) collected into a vector; retried when the kernel flags it as
    /// interrupted by a concurrent change.
    pub(crate) async fn dump(&self, payload: RouteNetlinkMessage) -> Result<Vec<Raw>, Cause> {
        let mut last = Vec::new();
        for _ in 0..DUMP_ATTEMPTS {
            let mut message = request_message(payload.clone());
            message.header.flags = NLM_F_REQUEST | NLM_F_DUMP;
            let mut stream = self
                .handle
                .request(message, SocketAddr::new(0, 0))
                .map_err(|e| Cause::Other(format!("netlink connection closed: {e}")))?;
            let collect = async {
                let mut out = Vec::new();
                let mut interrupted = false;
                while let Some(message) = stream.next().await {
                    interrupted |= message.header.flags & NLM_F_DUMP_INTR != 0;
                    let flags = message.header.flags;
                    match message.payload {
                        NetlinkPayload::InnerMessage(inner) => out.push(raw(inner)),
                        NetlinkPayload::Error(err) => {
                            if let Some(code) = err.code {
                                return Err(Cause::Errno {
                                    errno: code.get().abs(),
                                    extack: extack_message(flags, &err.header),
                                });
                            }
                        }
                        NetlinkPayload::Overrun(_) => {
                            return Err(Cause::Other("netlink receive buffer overrun".into()));
                        }
                        _ => {}
                    }
                }
                Ok((out, interrupted))
            };
            let (out, interrupted) = tokio::time::timeout(REPLY_TIMEOUT, collect)
                .await
                .map_err(|_| Cause::Other("netlink dump timed out".into()))??;
            if !interrupted {
                return Ok(out);
            }
            last = out;
        }
        // Still inconsistent after retries under constant churn: the last dump is as good
        // as any (the caller re-reads on the next event).
        Ok(last)
    }
}

/// A netlink message around a request (length and type are filled in when sent).
fn request_message(payload: RouteNetlinkMessage) -> NetlinkMessage<Msg> {
    NetlinkMessage::new(
        NetlinkHeader::default(),
        NetlinkPayload::InnerMessage(Msg::Request(payload)),
    )
}

fn raw(msg: Msg) -> Raw {
    match msg {
        Msg::Raw { kind, payload } => (kind, payload),
        // Only ever built for sending; a reply is always Raw.
        Msg::Request(m) => {
            let mut payload = vec![0; m.buffer_len()];
            m.serialize(&mut payload);
            (m.message_type(), payload)
        }
    }
}

/// Ask for `want` bytes of receive buffer: SO_RCVBUFFORCE (root, ignores rmem_max), else
/// SO_RCVBUF. Returns what the kernel granted (it reports double the asked value).
pub(crate) fn grow_rcvbuf(socket: &netlink_sys::Socket, want: usize) -> usize {
    use nix::sys::socket::{setsockopt, sockopt};
    if setsockopt(socket, sockopt::RcvBufForce, &want).is_err() {
        let _ = socket.set_rx_buf_sz(want as libc::c_int);
    }
    socket.get_rx_buf_sz().unwrap_or(212_992) / 2
}

/// The NLMSGERR_ATTR_MSG text of an extended ack, if any.
///
/// `payload` is what follows the errno in NLMSG_ERROR: the request's header (all of the
/// request unless NLM_F_CAPPED), then, with NLM_F_ACK_TLVS, the extended-ack attributes.
pub(crate) fn extack_message(flags: u16, payload: &[u8]) -> Option<String> {
    const NLMSG_HDRLEN: usize = 16;
    const NLMSGERR_ATTR_MSG: u16 = 1;
    if flags & NLM_F_ACK_TLVS == 0 {
        return None;
    }
    let skip = if flags & NLM_F_CAPPED != 0 {
        NLMSG_HDRLEN
    } else {
        u32::from_ne_bytes(payload.get(..4)?.try_into().ok()?) as usize
    };
    let mut tlvs = payload.get(skip..)?;
    while tlvs.len() >= 4 {
        let len = u16::from_ne_bytes([tlvs[0], tlvs[1]]) as usize;
        let kind = u16::from_ne_bytes([tlvs[2], tlvs[3]]) & 0x3fff;
        if len < 4 || len > tlvs.len() {
            return None;
        }
        if kind == NLMSGERR_ATTR_MSG {
            let text = String::from_utf8_lossy(&tlvs[4..len]);
            let text = text.trim_end_matches('\0').trim();
            return (!text.is_empty()).then(|| text.to_string());
        }
        tlvs = tlvs.get((len + 3) & !3..).unwrap_or(&[]);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extack_text_is_found_after_capped_header() {
        let mut payload = vec![0u8; 16];
        let text = b"Invalid address\0";
        let len = (4 + text.len()) as u16;
        payload.extend_from_slice(&len.to_ne_bytes());
        payload.extend_from_slice(&1u16.to_ne_bytes());
        payload.extend_from_slice(text);
        assert_eq!(
            extack_message(NLM_F_CAPPED | NLM_F_ACK_TLVS, &payload).as_deref(),
            Some("Invalid address")
        );
        assert_eq!(extack_message(NLM_F_CAPPED, &payload), None);
        assert_eq!(extack_message(NLM_F_CAPPED | NLM_F_ACK_TLVS, &[0; 3]), None);
    }
}
