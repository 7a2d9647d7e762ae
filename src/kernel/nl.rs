//! One rtnetlink socket for every request, with batching.
//!
//! rtnetlink's `Handle` sends one message per request and the connection task writes one
//! request per wake-up, so 1,000 devices cost thousands of task switches. Here a batch of
//! requests goes out in ONE datagram (`ConnectionHandle::request_batch`): the kernel runs the
//! messages of a datagram in order, each under its own rtnl lock, and acks each one in order,
//! which is what `ip -batch` gets with one datagram per line. rtnetlink is still used for its
//! message builders.
//!
//! Replies are kept as raw bytes ([`Msg::Raw`]) and parsed on demand by `parse.rs`. Dumps
//! run on a second socket of their own and are streamed to the caller ([`Conn::dump`]).

use super::error::Cause;
use futures::StreamExt;
use netlink_packet_core::{
    NLM_F_ACK_TLVS, NLM_F_CAPPED, NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_REQUEST,
    NetlinkDeserializable, NetlinkHeader, NetlinkMessage, NetlinkPayload, NetlinkSerializable,
};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_proto::ConnectionHandle;
use netlink_proto::sys::{AsyncSocket, SocketAddr, protocols::NETLINK_ROUTE};
use netlink_sys::Socket;
use std::io;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::unix::AsyncFd;

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
    /// The socket dumps run on (one dump at a time per socket).
    dumper: Arc<tokio::sync::Mutex<Dumper>>,
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
        let dumper = Arc::new(tokio::sync::Mutex::new(Dumper::open()?));
        Ok(Conn {
            handle,
            chunk,
            dumper,
        })
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

    /// A dump (NLM_F_DUMP), streamed: `each` sees every message of the dump as it arrives
    /// (`Some((type, payload))`, the payload borrowed from the receive buffer) and nothing of
    /// it is kept here, so a caller that folds each message into its own compact form never
    /// holds the dump itself. When the kernel flags the dump as interrupted by a concurrent
    /// change it is run again (up to [`DUMP_ATTEMPTS`] times): `each(None)` before every
    /// attempt tells the caller to start over.
    ///
    /// Dumps use a socket of their own, read directly into one reused buffer: through the
    /// connection task every message would be copied into its own allocation and queued
    /// (the connection reads ahead of its consumer), so a dump of 4,000 links sat in memory
    /// whole, several MB, before the first one was looked at.
    pub(crate) async fn dump(
        &self,
        payload: RouteNetlinkMessage,
        mut each: impl FnMut(Option<(u16, &[u8])>),
    ) -> Result<(), Cause> {
        let mut dumper = self.dumper.lock().await;
        for attempt in 1..=DUMP_ATTEMPTS {
            each(None);
            let interrupted = tokio::time::timeout(REPLY_TIMEOUT, dumper.run(&payload, &mut each))
                .await
                .map_err(|_| Cause::Other("netlink dump timed out".into()))??;
            // Still inconsistent after retries under constant churn: the last dump is as
            // good as any (the caller re-reads on the next event).
            if !interrupted || attempt == DUMP_ATTEMPTS {
                break;
            }
        }
        Ok(())
    }
}

/// Receive buffer of a dump: the kernel fills a dump datagram up to ~32 KiB (more only when
/// a single message needs it; the buffer grows then).
const DUMP_BUF: usize = 32 << 10;

// linux/netlink.h
const NLMSG_NOOP: u16 = 1;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLMSG_OVERRUN: u16 = 4;
const NLMSG_HDRLEN: usize = 16;

/// The dump socket of a [`Conn`].
struct Dumper {
    socket: AsyncFd<Socket>,
    seq: u32,
    /// A dump whose NLMSG_DONE was not read (its future was dropped): the kernel refuses a
    /// new dump on the socket until the rest of it is read.
    unfinished: bool,
}

impl std::fmt::Debug for Dumper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dumper")
            .field("fd", &self.socket.as_raw_fd())
            .field("seq", &self.seq)
            .finish()
    }
}

impl Dumper {
    fn open() -> io::Result<Dumper> {
        let mut socket = Socket::new(NETLINK_ROUTE)?;
        socket.bind_auto()?;
        socket.connect(&SocketAddr::new(0, 0))?;
        let _ = socket.set_ext_ack(true);
        socket.set_non_blocking(true)?;
        // SAFETY: the AsyncFd owns the socket, so the fd stays open exactly as long as it is
        // registered.
        let socket =
            unsafe { AsyncFd::register_with_interest(socket, tokio::io::Interest::READABLE) }
                .map_err(|e| io::Error::other(format!("register with the event loop: {e}")))?;
        Ok(Dumper {
            socket,
            seq: 0,
            unfinished: false,
        })
    }

    /// One datagram into `buf` (cleared first), grown to the datagram's size.
    async fn recv(&self, buf: &mut Vec<u8>) -> io::Result<()> {
        loop {
            let mut ready = self.socket.readable().await?;
            match ready.try_io(|fd| recv_datagram(fd.as_raw_fd(), buf)) {
                Ok(result) => return result,
                Err(_would_block) => continue,
            }
        }
    }

    /// Read and drop what is left of an abandoned dump.
    async fn drain(&mut self, buf: &mut Vec<u8>) -> Result<(), Cause> {
        while self.unfinished {
            self.recv(buf)
                .await
                .map_err(|e| Cause::Other(format!("netlink dump socket: {e}")))?;
            for (kind, _, _, _) in messages(buf) {
                if kind == NLMSG_DONE || kind == NLMSG_ERROR {
                    self.unfinished = false;
                }
            }
        }
        Ok(())
    }

    /// One attempt; true when the kernel flagged it as interrupted.
    async fn run(
        &mut self,
        payload: &RouteNetlinkMessage,
        each: &mut impl FnMut(Option<(u16, &[u8])>),
    ) -> Result<bool, Cause> {
        let mut buf = Vec::with_capacity(DUMP_BUF);
        self.drain(&mut buf).await?;
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let mut message = NetlinkMessage::new(
            NetlinkHeader::default(),
            NetlinkPayload::InnerMessage(payload.clone()),
        );
        message.header.flags = NLM_F_REQUEST | NLM_F_DUMP;
        message.header.sequence_number = seq;
        message.finalize();
        let mut request = vec![0; message.buffer_len()];
        message.serialize(&mut request);
        let closed = |e: io::Error| Cause::Other(format!("netlink dump socket: {e}"));
        // A request to the kernel never waits for buffer space.
        self.socket.get_ref().send(&request, 0).map_err(closed)?;
        self.unfinished = true;
        let mut interrupted = false;
        loop {
            self.recv(&mut buf).await.map_err(closed)?;
            for (kind, flags, msg_seq, body) in messages(&buf) {
                if msg_seq != seq {
                    continue; // not ours (an earlier, abandoned request)
                }
                interrupted |= flags & NLM_F_DUMP_INTR != 0;
                match kind {
                    NLMSG_NOOP => {}
                    NLMSG_DONE => {
                        self.unfinished = false;
                        // NLMSG_DONE carries the dump's error code, if any.
                        return match i32_at(body) {
                            Some(code) if code < 0 => Err(Cause::Errno {
                                errno: code.abs(),
                                extack: None,
                            }),
                            _ => Ok(interrupted),
                        };
                    }
                    NLMSG_ERROR => {
                        self.unfinished = false;
                        let code = i32_at(body).unwrap_or(0);
                        return Err(Cause::Errno {
                            errno: code.abs(),
                            extack: extack_message(flags, body.get(4..).unwrap_or(&[])),
                        });
                    }
                    NLMSG_OVERRUN => {
                        return Err(Cause::Other("netlink receive buffer overrun".into()));
                    }
                    _ => each(Some((kind, body))),
                }
            }
            // Between datagrams (~20 links each), whatever else is due on the loop runs.
            tokio::task::yield_now().await;
        }
    }
}

/// One datagram of a non-blocking netlink socket into `buf` (cleared first, grown to the
/// datagram's size so that nothing is cut).
pub(crate) fn recv_datagram(fd: std::os::fd::RawFd, buf: &mut Vec<u8>) -> io::Result<()> {
    buf.clear();
    // The datagram's full size first.
    // SAFETY: a zero-length read of a datagram socket touches no memory.
    let size = unsafe {
        libc::recv(
            fd,
            std::ptr::null_mut(),
            0,
            libc::MSG_PEEK | libc::MSG_TRUNC,
        )
    };
    if size < 0 {
        return Err(io::Error::last_os_error());
    }
    buf.reserve(size as usize);
    let spare = buf.spare_capacity_mut();
    let room = spare.len();
    // SAFETY: the kernel writes at most `room` bytes into `spare`.
    let n = unsafe { libc::recv(fd, spare.as_mut_ptr().cast(), room, 0) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel initialised the first `n` bytes (at most `room`).
    unsafe { buf.set_len((n as usize).min(room)) };
    Ok(())
}

fn i32_at(b: &[u8]) -> Option<i32> {
    Some(i32::from_ne_bytes(b.get(..4)?.try_into().ok()?))
}

/// The netlink messages of a datagram: (type, flags, sequence number, payload).
pub(crate) fn messages(mut buf: &[u8]) -> impl Iterator<Item = (u16, u16, u32, &[u8])> {
    std::iter::from_fn(move || {
        if buf.len() < NLMSG_HDRLEN {
            return None;
        }
        let len = u32::from_ne_bytes(buf[0..4].try_into().ok()?) as usize;
        if len < NLMSG_HDRLEN || len > buf.len() {
            buf = &[];
            return None;
        }
        let kind = u16::from_ne_bytes([buf[4], buf[5]]);
        let flags = u16::from_ne_bytes([buf[6], buf[7]]);
        let seq = u32::from_ne_bytes(buf[8..12].try_into().ok()?);
        let body = &buf[NLMSG_HDRLEN..len];
        buf = buf.get((len + 3) & !3..).unwrap_or(&[]);
        Some((kind, flags, seq, body))
    })
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
