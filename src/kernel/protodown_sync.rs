//! Protodown off on the runtime's hot path as one synchronous netlink request.
//!
//! A router becoming Master clears its device's protodown before its first advert leaves
//! (`daemon::runtime::promotion`). Through [`super::Kernel`] that request travels
//! channel → rtnetlink connection task → socket → ack → channel → wake-up of the loop:
//! 0.15-0.23 ms measured, against the kernel's own few tens of microseconds. The kernel
//! carries out a NETLINK_ROUTE request inside the sender's `sendmsg` (rtnetlink_rcv runs in
//! the sender's context), so on a socket of its own the loop sends the change and finds the
//! answer already queued: the advert waits for the kernel's work and nothing else.
//!
//! The datagram holds the same two messages as [`super::Kernel::set_protodown`]: the change
//! (RTM_NEWLINK with IFLA_PROTO_DOWN 0, acknowledged) and a non-dump RTM_GETLINK of the
//! device, which makes the kernel finish the link-watch work of the carrier change at once,
//! so the kernel's answers for the VIPs can leave through the device right away.

use super::error::{Cause, KernelError};
use super::nl::messages;
use netlink_packet_core::{
    NLM_F_ACK, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage, NetlinkPayload,
};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::link::{LinkAttribute, LinkExtentMask, LinkMessage};
use nix::sys::socket::{
    AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol, SockType, bind, recv, send,
    setsockopt, socket, sockopt,
};
use nix::sys::time::TimeVal;
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

const NLMSG_ERROR: u16 = 2;
/// How long the loop waits for the answers at most. They are queued before `send` returns
/// (see the module comment); the bound only keeps a kernel that behaves otherwise from
/// holding the loop.
const ANSWER_WAIT: Duration = Duration::from_millis(20);
/// Room for one answer: the acknowledgement, or the device's RTM_NEWLINK (a few KiB).
const RECV_BUF: usize = 32 << 10;

/// A NETLINK_ROUTE socket of the namespace of the thread that opened it, in no multicast
/// group (it receives only answers to its own requests). Kept open: closing a netlink
/// socket waits for an RCU grace period.
#[derive(Debug)]
pub struct ProtodownSock {
    fd: OwnedFd,
    seq: u32,
    buf: Vec<u8>,
}

impl ProtodownSock {
    pub fn open() -> Result<ProtodownSock, KernelError> {
        let what = "open a netlink route socket for protodown";
        let fail = |e: nix::Error| KernelError::new(what, Cause::errno(e as i32));
        let fd = socket(
            AddressFamily::Netlink,
            SockType::Raw,
            SockFlag::SOCK_CLOEXEC,
            SockProtocol::NetlinkRoute,
        )
        .map_err(fail)?;
        bind(fd.as_raw_fd(), &NetlinkAddr::new(0, 0)).map_err(fail)?;
        let wait = TimeVal::new(0, ANSWER_WAIT.as_micros() as i64);
        setsockopt(&fd, sockopt::ReceiveTimeout, &wait).map_err(fail)?;
        Ok(ProtodownSock {
            fd,
            seq: 0,
            buf: vec![0; RECV_BUF],
        })
    }

    /// Protodown off for the device with ifindex `index`, waiting for the kernel's answer.
    /// Any error (a refusal, no answer within [`ANSWER_WAIT`], a socket error) is returned
    /// for the caller to fall back on [`super::Kernel::set_protodown`].
    pub fn clear(&mut self, index: u32) -> Result<(), KernelError> {
        let what = || format!("set ifindex {index} protodown off (direct)");
        let io = |e: nix::Error| KernelError::new(what(), Cause::errno(e as i32));
        // Two sequence numbers: the change's, then the sync's. Answers to an earlier
        // request abandoned on a timeout carry older numbers and are skipped.
        let seq = self.seq.wrapping_add(1);
        self.seq = seq.wrapping_add(1);
        let request = clear_request(index, seq);
        let sent = send(self.fd.as_raw_fd(), &request, MsgFlags::empty()).map_err(io)?;
        if sent != request.len() {
            return Err(KernelError::new(
                what(),
                Cause::Other(format!("short send ({sent} of {} bytes)", request.len())),
            ));
        }
        let deadline = Instant::now() + ANSWER_WAIT;
        let (mut acked, mut synced) = (false, false);
        while !(acked && synced) {
            if Instant::now() > deadline {
                return Err(KernelError::new(
                    what(),
                    Cause::Other("no answer from the kernel in time".into()),
                ));
            }
            let n = recv(self.fd.as_raw_fd(), &mut self.buf, MsgFlags::empty()).map_err(io)?;
            let buf = self.buf.get(..n).unwrap_or(&[]);
            for answer in answers(buf, seq) {
                match answer {
                    Answer::Change(0) => acked = true,
                    Answer::Change(errno) => {
                        return Err(KernelError::new(what(), Cause::errno(errno)));
                    }
                    // Its content is not needed, nor is an error: the change is made.
                    Answer::Sync => synced = true,
                }
            }
        }
        Ok(())
    }
}

/// What a datagram says about the request with sequence numbers `seq` (the change) and
/// `seq + 1` (the sync).
#[derive(Debug, PartialEq, Eq)]
enum Answer {
    /// The change's acknowledgement (0) or its refusal (a positive errno).
    Change(i32),
    /// The sync's answer (the device, or an error).
    Sync,
}

fn answers(buf: &[u8], seq: u32) -> impl Iterator<Item = Answer> + '_ {
    messages(buf).filter_map(move |(kind, _, msg_seq, body)| {
        if msg_seq == seq && kind == NLMSG_ERROR {
            let code = body.get(..4)?;
            let code = i32::from_ne_bytes([code[0], code[1], code[2], code[3]]);
            Some(Answer::Change(code.saturating_neg()))
        } else if msg_seq == seq.wrapping_add(1) {
            Some(Answer::Sync)
        } else {
            None
        }
    })
}

/// The datagram: RTM_NEWLINK (protodown 0, ack asked for) with sequence number `seq`, then
/// RTM_GETLINK of the same device (no statistics) with `seq + 1`.
fn clear_request(index: u32, seq: u32) -> Vec<u8> {
    let mut change = LinkMessage::default();
    change.header.index = index;
    change.attributes.push(LinkAttribute::ProtoDown(0));
    let mut sync = LinkMessage::default();
    sync.header.index = index;
    sync.attributes
        .push(LinkAttribute::ExtMask(vec![LinkExtentMask::SkipStats]));
    let mut out = Vec::new();
    for (payload, flags, seq) in [
        (
            RouteNetlinkMessage::NewLink(change),
            NLM_F_REQUEST | NLM_F_ACK,
            seq,
        ),
        (
            RouteNetlinkMessage::GetLink(sync),
            NLM_F_REQUEST,
            seq.wrapping_add(1),
        ),
    ] {
        let mut message = NetlinkMessage::new(
            NetlinkHeader::default(),
            NetlinkPayload::InnerMessage(payload),
        );
        message.header.flags = flags;
        message.header.sequence_number = seq;
        message.finalize();
        let at = out.len();
        out.resize(at + message.buffer_len(), 0);
        message.serialize(&mut out[at..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_core::NetlinkDeserializable;

    fn parse(buf: &[u8]) -> Vec<(NetlinkHeader, RouteNetlinkMessage)> {
        messages(buf)
            .map(|(kind, flags, seq, body)| {
                let mut header = NetlinkHeader::default();
                header.message_type = kind;
                header.flags = flags;
                header.sequence_number = seq;
                header.length = (body.len() + 16) as u32;
                let msg = RouteNetlinkMessage::deserialize(&header, body).expect("parses");
                (header, msg)
            })
            .collect()
    }

    #[test]
    fn the_request_clears_protodown_then_syncs_the_same_device() {
        let buf = clear_request(42, 7);
        let msgs = parse(&buf);
        assert_eq!(msgs.len(), 2, "{msgs:?}");
        let (h, change) = &msgs[0];
        assert_eq!(h.sequence_number, 7);
        assert_eq!(h.flags, NLM_F_REQUEST | NLM_F_ACK);
        let RouteNetlinkMessage::NewLink(link) = change else {
            panic!("not RTM_NEWLINK: {change:?}");
        };
        assert_eq!(link.header.index, 42);
        assert_eq!(link.attributes, vec![LinkAttribute::ProtoDown(0)]);
        let (h, sync) = &msgs[1];
        assert_eq!(h.sequence_number, 8);
        assert_eq!(h.flags, NLM_F_REQUEST, "no ack, no dump");
        let RouteNetlinkMessage::GetLink(link) = sync else {
            panic!("not RTM_GETLINK: {sync:?}");
        };
        assert_eq!(link.header.index, 42);
        assert_eq!(
            link.attributes,
            vec![LinkAttribute::ExtMask(vec![LinkExtentMask::SkipStats])]
        );
        // Both messages fill the datagram exactly (aligned, lengths patched).
        assert_eq!(
            buf.len(),
            msgs.iter().map(|(h, _)| h.length as usize).sum::<usize>()
        );
    }

    #[test]
    fn sequence_numbers_wrap() {
        let msgs = parse(&clear_request(1, u32::MAX));
        assert_eq!(msgs[0].0.sequence_number, u32::MAX);
        assert_eq!(msgs[1].0.sequence_number, 0);
    }

    fn nlmsg(kind: u16, seq: u32, body: &[u8]) -> Vec<u8> {
        let mut m = Vec::new();
        m.extend_from_slice(&((16 + body.len()) as u32).to_ne_bytes());
        m.extend_from_slice(&kind.to_ne_bytes());
        m.extend_from_slice(&0u16.to_ne_bytes());
        m.extend_from_slice(&seq.to_ne_bytes());
        m.extend_from_slice(&0u32.to_ne_bytes());
        m.extend_from_slice(body);
        m
    }

    fn error_body(code: i32) -> Vec<u8> {
        let mut b = code.to_ne_bytes().to_vec();
        b.extend_from_slice(&[0; 16]); // the request's header
        b
    }

    #[test]
    fn answers_are_read_by_sequence_number() {
        let mut buf = nlmsg(NLMSG_ERROR, 9, &error_body(0)); // an abandoned request
        buf.extend(nlmsg(NLMSG_ERROR, 10, &error_body(0)));
        buf.extend(nlmsg(16 /* RTM_NEWLINK */, 11, &[0; 16]));
        assert_eq!(
            answers(&buf, 10).collect::<Vec<_>>(),
            vec![Answer::Change(0), Answer::Sync]
        );
        let refused = nlmsg(NLMSG_ERROR, 10, &error_body(-16)); // EBUSY
        assert_eq!(
            answers(&refused, 10).collect::<Vec<_>>(),
            vec![Answer::Change(16)]
        );
        assert_eq!(answers(&refused, 3).count(), 0);
        assert_eq!(answers(&[1, 2, 3], 10).count(), 0, "truncated");
    }
}
