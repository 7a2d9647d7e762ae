//! The fast path of [`super::filter`]: set/map element changes sent to nf_tables as one
//! netlink batch (one transaction), instead of spawning `nft -f` to delete and recreate both
//! tables (tens of milliseconds, during which a new Master still drops traffic to its VIPs).
//!
//! Elements of a set with timeouts (the dead-man leases of [`super::filter`]) carry their
//! timeout and an expiration equal to it: re-adding an element that exists then restarts its
//! clock (the kernel updates an existing element's expiration when one is given, since
//! Linux 6.10), which is how a lease is renewed; they are deleted with DESTROYSETELEM, which
//! does not fail on an element that has just expired.
//!
//! Only element additions and deletions are encoded here; creating tables, chains and sets
//! stays with `nft`. The batch carries the nf_tables generation id read after our last
//! change, so the kernel refuses it (ERESTART) when anybody committed anything in between
//! (our table deleted, replaced or edited): the caller then falls back to a full install.

use anyhow::{Context, bail};
use nix::sys::socket::{
    AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol, SockType, bind, getsockopt, recv,
    send, setsockopt, socket, sockopt,
};
use nix::sys::time::TimeVal;
use std::os::fd::{AsRawFd, OwnedFd};

// linux/netlink.h
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_CREATE: u16 = 0x400;
const NLA_F_NESTED: u16 = 0x8000;
// linux/netfilter/nfnetlink.h
const NFNL_MSG_BATCH_BEGIN: u16 = 0x10;
const NFNL_MSG_BATCH_END: u16 = 0x11;
const NFNL_BATCH_GENID: u16 = 1;
const NFNL_SUBSYS_NFTABLES: u16 = 10;
// linux/netfilter/nf_tables.h
const NFT_MSG_NEWSETELEM: u16 = 12;
const NFT_MSG_DELSETELEM: u16 = 14;
const NFT_MSG_NEWGEN: u16 = 15;
const NFT_MSG_GETGEN: u16 = 16;
const NFT_MSG_DESTROYSETELEM: u16 = 30;
const NFTA_GEN_ID: u16 = 1;
const NFTA_SET_ELEM_LIST_TABLE: u16 = 1;
const NFTA_SET_ELEM_LIST_SET: u16 = 2;
const NFTA_SET_ELEM_LIST_ELEMENTS: u16 = 3;
const NFTA_LIST_ELEM: u16 = 1;
const NFTA_SET_ELEM_KEY: u16 = 1;
const NFTA_SET_ELEM_DATA: u16 = 2;
const NFTA_SET_ELEM_TIMEOUT: u16 = 4;
const NFTA_SET_ELEM_EXPIRATION: u16 = 5;
const NFTA_DATA_VALUE: u16 = 1;

/// nfgenmsg families (linux/netfilter.h).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Inet = 1,
    Arp = 3,
}

/// One set or map element: its key and, for a map, its value, already in the byte order of
/// the set's type (ipv4/ipv6 addresses in network order, iface_index in host order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Elem {
    pub key: ElemBytes,
    pub data: Option<ElemBytes>,
    /// Milliseconds to live from this commit (sets with `flags timeout` only).
    pub timeout_ms: Option<u32>,
}

/// A set element's key or value: an ifindex or an address, inline. A batch renewing every
/// Master's leases holds thousands of elements at once (at 4,000 routers, a heap copy of
/// each key was 0.5 MB every advert interval).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ElemBytes {
    len: u8,
    bytes: [u8; 16],
}

impl ElemBytes {
    pub fn as_slice(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

impl From<[u8; 4]> for ElemBytes {
    fn from(b: [u8; 4]) -> ElemBytes {
        let mut bytes = [0; 16];
        bytes[..4].copy_from_slice(&b);
        ElemBytes { len: 4, bytes }
    }
}

impl From<[u8; 16]> for ElemBytes {
    fn from(bytes: [u8; 16]) -> ElemBytes {
        ElemBytes { len: 16, bytes }
    }
}

/// Element deltas of one set, in one table.
#[derive(Debug, Clone)]
pub struct SetDelta {
    pub family: Family,
    pub table: &'static str,
    pub set: &'static str,
    pub delete: Vec<Elem>,
    pub add: Vec<Elem>,
    /// A set with timeouts: deletions use DESTROYSETELEM (an element that expired a moment
    /// ago is gone already, and DELSETELEM would refuse the whole batch for it).
    pub timed: bool,
}

/// A netlink message under construction (header length patched in `finish`).
struct Msg {
    buf: Vec<u8>,
    start: usize,
}

impl Msg {
    fn begin(buf: Vec<u8>, ty: u16, flags: u16, seq: u32, family: u8, res_id: u16) -> Msg {
        let mut buf = buf;
        let start = buf.len();
        buf.extend_from_slice(&0u32.to_ne_bytes()); // nlmsg_len, patched
        buf.extend_from_slice(&ty.to_ne_bytes());
        buf.extend_from_slice(&flags.to_ne_bytes());
        buf.extend_from_slice(&seq.to_ne_bytes());
        buf.extend_from_slice(&0u32.to_ne_bytes()); // nlmsg_pid: the kernel fills it
        // struct nfgenmsg: family, version (NFNETLINK_V0), res_id (big endian)
        buf.push(family);
        buf.push(0);
        buf.extend_from_slice(&res_id.to_be_bytes());
        Msg { buf, start }
    }

    fn attr(&mut self, ty: u16, payload: &[u8]) {
        let len = 4 + payload.len();
        self.buf.extend_from_slice(&(len as u16).to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self.buf.extend_from_slice(payload);
        self.pad();
    }

    fn pad(&mut self) {
        while !self.buf.len().is_multiple_of(4) {
            self.buf.push(0);
        }
    }

    /// Start a nested attribute; returns where its length goes (see `nest_end`).
    fn nest_start(&mut self, ty: u16) -> usize {
        let at = self.buf.len();
        self.buf.extend_from_slice(&0u16.to_ne_bytes());
        self.buf
            .extend_from_slice(&(ty | NLA_F_NESTED).to_ne_bytes());
        at
    }

    fn nest_end(&mut self, at: usize) {
        let len = (self.buf.len() - at) as u16;
        self.buf[at..at + 2].copy_from_slice(&len.to_ne_bytes());
    }

    fn finish(mut self) -> Vec<u8> {
        self.pad();
        let len = (self.buf.len() - self.start) as u32;
        self.buf[self.start..self.start + 4].copy_from_slice(&len.to_ne_bytes());
        self.buf
    }
}

fn cstr(s: &str) -> Vec<u8> {
    let mut v = s.as_bytes().to_vec();
    v.push(0);
    v
}

fn nft_type(msg: u16) -> u16 {
    (NFNL_SUBSYS_NFTABLES << 8) | msg
}

/// Elements per NEWSETELEM/DELSETELEM message: the element list is one nested attribute,
/// whose length is 16 bits; an element takes at most 80 bytes (an IPv6 key, a value, a
/// timeout and an expiration), so 512 stay well under 64 KiB. A set of thousands of
/// elements goes in several messages of the same batch (as nft does).
const ELEMS_PER_MESSAGE: usize = 512;

/// The bytes [`encode_batch`] writes for `deltas`, to allocate them once: grown by
/// doubling, a renewal batch at 4,000 routers (~700 KB) was built in up to twice its size,
/// the old and the new buffer both held at each growth.
fn batch_len(deltas: &[SetDelta]) -> usize {
    let attr = |payload: usize| (4 + payload + 3) & !3;
    // Header and nfgenmsg of every message; BEGIN with its generation, END.
    let mut len = 20 + attr(4) + 20;
    for d in deltas {
        let names = attr(d.table.len() + 1) + attr(d.set.len() + 1) + 4;
        for (elems, adding) in [(&d.delete, false), (&d.add, true)] {
            len += message_count(elems) as usize * (20 + names);
            for e in elems.iter() {
                len += 8 + attr(e.key.as_slice().len());
                if let Some(data) = &e.data {
                    len += 4 + attr(data.as_slice().len());
                }
                if adding && e.timeout_ms.is_some() {
                    len += 2 * attr(8);
                }
            }
        }
    }
    len
}

/// How many messages `elems` take.
fn message_count(elems: &[Elem]) -> u32 {
    elems.len().div_ceil(ELEMS_PER_MESSAGE) as u32
}

/// The NEWSETELEM/DELSETELEM message for `elems` of one set (at most
/// [`ELEMS_PER_MESSAGE`]).
fn setelem_msg(buf: Vec<u8>, ty: u16, seq: u32, d: &SetDelta, elems: &[Elem]) -> Vec<u8> {
    let flags = NLM_F_REQUEST
        | NLM_F_ACK
        | if ty == NFT_MSG_NEWSETELEM {
            NLM_F_CREATE
        } else {
            0
        };
    let mut m = Msg::begin(buf, nft_type(ty), flags, seq, d.family as u8, 0);
    m.attr(NFTA_SET_ELEM_LIST_TABLE, &cstr(d.table));
    m.attr(NFTA_SET_ELEM_LIST_SET, &cstr(d.set));
    let list = m.nest_start(NFTA_SET_ELEM_LIST_ELEMENTS);
    for e in elems {
        let el = m.nest_start(NFTA_LIST_ELEM);
        let key = m.nest_start(NFTA_SET_ELEM_KEY);
        m.attr(NFTA_DATA_VALUE, e.key.as_slice());
        m.nest_end(key);
        if let Some(data) = &e.data {
            let dt = m.nest_start(NFTA_SET_ELEM_DATA);
            m.attr(NFTA_DATA_VALUE, data.as_slice());
            m.nest_end(dt);
        }
        if let (Some(ms), NFT_MSG_NEWSETELEM) = (e.timeout_ms, ty) {
            let ms = u64::from(ms).to_be_bytes();
            m.attr(NFTA_SET_ELEM_TIMEOUT, &ms);
            m.attr(NFTA_SET_ELEM_EXPIRATION, &ms);
        }
        m.nest_end(el);
    }
    m.nest_end(list);
    m.finish()
}

/// The whole batch: BEGIN (with the generation id the kernel must still be at), every
/// deletion, then every addition, END. Returns the bytes and the sequence numbers that must
/// be acknowledged.
fn encode_batch(genid: u32, deltas: &[SetDelta], seq0: u32) -> (Vec<u8>, Vec<u32>) {
    let mut seq = seq0;
    let mut acks = Vec::new();
    let mut m = Msg::begin(
        Vec::with_capacity(batch_len(deltas)),
        NFNL_MSG_BATCH_BEGIN,
        NLM_F_REQUEST,
        seq,
        0,
        NFNL_SUBSYS_NFTABLES,
    );
    m.attr(NFNL_BATCH_GENID, &genid.to_be_bytes());
    let mut buf = m.finish();
    // Deletions first: a map element whose value changes is deleted and re-added, and the
    // whole batch is one transaction, so no packet sees the set half-updated.
    for adding in [false, true] {
        for d in deltas {
            let (ty, elems) = match (adding, d.timed) {
                (true, _) => (NFT_MSG_NEWSETELEM, &d.add),
                (false, false) => (NFT_MSG_DELSETELEM, &d.delete),
                (false, true) => (NFT_MSG_DESTROYSETELEM, &d.delete),
            };
            for part in elems.chunks(ELEMS_PER_MESSAGE) {
                seq = seq.wrapping_add(1);
                acks.push(seq);
                buf = setelem_msg(buf, ty, seq, d, part);
            }
        }
    }
    seq = seq.wrapping_add(1);
    let end = Msg::begin(
        buf,
        NFNL_MSG_BATCH_END,
        NLM_F_REQUEST,
        seq,
        0,
        NFNL_SUBSYS_NFTABLES,
    );
    (end.finish(), acks)
}

/// A NETLINK_NETFILTER socket in the network namespace of the thread that opened it. Kept
/// open across changes: closing a netlink socket waits for an RCU grace period (measured
/// 8-14 ms here), longer than the whole batch.
#[derive(Debug)]
pub struct Sock {
    fd: OwnedFd,
    seq: u32,
    /// The largest datagram the send buffer takes (the kernel refuses one larger than the
    /// buffer less 32 bytes).
    room: usize,
}

impl Sock {
    pub fn open() -> anyhow::Result<Sock> {
        let fd = socket(
            AddressFamily::Netlink,
            SockType::Raw,
            SockFlag::SOCK_CLOEXEC,
            SockProtocol::NetlinkNetFilter,
        )
        .context("cannot open a netfilter netlink socket")?;
        bind(fd.as_raw_fd(), &NetlinkAddr::new(0, 0)).context("cannot bind netlink socket")?;
        // The kernel answers at once; a missing answer must not hang the filter task.
        setsockopt(&fd, sockopt::ReceiveTimeout, &TimeVal::new(1, 0))
            .context("cannot set netlink receive timeout")?;
        // Any start works; the time keeps traces of successive sockets apart.
        let seq = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(1);
        let room = getsockopt(&fd, sockopt::SndBuf)
            .unwrap_or(0)
            .saturating_sub(32);
        Ok(Sock { fd, seq, room })
    }

    /// Make room for a batch of `len` bytes: a batch is one datagram, refused (EMSGSIZE)
    /// when larger than the socket's send buffer (212 KB by default: the lease renewals of
    /// ~1,200 Masters). Root gets it past `wmem_max` (SO_SNDBUFFORCE), as nft does; should
    /// that fail the send reports it and the caller replaces the tables instead.
    fn fit(&mut self, len: usize) {
        if len <= self.room {
            return;
        }
        // Asked for the batch's size, the kernel sets twice that (its bookkeeping).
        if setsockopt(&self.fd, sockopt::SndBufForce, &len).is_err() {
            let _ = setsockopt(&self.fd, sockopt::SndBuf, &len);
        }
        self.room = getsockopt(&self.fd, sockopt::SndBuf)
            .unwrap_or(0)
            .saturating_sub(32);
    }

    /// Sequence numbers for `n` messages; answers to earlier requests (left unread after
    /// an error) carry other numbers and are skipped.
    fn next_seqs(&mut self, n: u32) -> u32 {
        let first = self.seq.wrapping_add(1);
        self.seq = self.seq.wrapping_add(n);
        first
    }

    fn send(&self, buf: &[u8]) -> anyhow::Result<()> {
        let n = send(self.fd.as_raw_fd(), buf, MsgFlags::empty())
            .context("cannot send to nf_tables")?;
        if n != buf.len() {
            bail!("short netlink send ({n} of {} bytes)", buf.len());
        }
        Ok(())
    }

    /// Read messages until `want` says it has everything; each message goes to `on_msg`
    /// (type, seq, payload after the netlink header).
    fn recv_until(
        &self,
        mut on_msg: impl FnMut(u16, u32, &[u8]) -> anyhow::Result<bool>,
    ) -> anyhow::Result<()> {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = recv(self.fd.as_raw_fd(), &mut buf, MsgFlags::empty())
                .context("no answer from nf_tables")?;
            let mut off = 0;
            while off + 16 <= n {
                let len = u32_ne(&buf[off..]) as usize;
                if len < 16 || off + len > n {
                    bail!("malformed netlink answer");
                }
                let ty = u16::from_ne_bytes([buf[off + 4], buf[off + 5]]);
                let seq = u32_ne(&buf[off + 8..]);
                if on_msg(ty, seq, &buf[off + 16..off + len])? {
                    return Ok(());
                }
                off += (len + 3) & !3;
            }
        }
    }
}

fn u32_ne(b: &[u8]) -> u32 {
    u32::from_ne_bytes([b[0], b[1], b[2], b[3]])
}

/// The error code of an NLMSG_ERROR payload (0 = acknowledgement).
fn nlmsg_error(payload: &[u8]) -> anyhow::Result<i32> {
    if payload.len() < 4 {
        bail!("truncated netlink error");
    }
    Ok(i32::from_ne_bytes([
        payload[0], payload[1], payload[2], payload[3],
    ]))
}

/// The current nf_tables generation id of the socket's network namespace.
pub fn generation(sock: &mut Sock) -> anyhow::Result<u32> {
    let seq = sock.next_seqs(1);
    let m = Msg::begin(
        Vec::new(),
        nft_type(NFT_MSG_GETGEN),
        NLM_F_REQUEST,
        seq,
        0,
        0,
    );
    sock.send(&m.finish())?;
    let mut genid = None;
    sock.recv_until(|ty, s, payload| {
        if s != seq {
            return Ok(false);
        }
        if ty == NLMSG_ERROR {
            let e = nlmsg_error(payload)?;
            if e != 0 {
                bail!(
                    "nf_tables refused GETGEN: {}",
                    std::io::Error::from_raw_os_error(-e)
                );
            }
            return Ok(genid.is_some());
        }
        if ty == NLMSG_DONE {
            return Ok(true);
        }
        if ty == nft_type(NFT_MSG_NEWGEN) {
            // Skip nfgenmsg (4 bytes), then walk the attributes.
            let mut off = 4;
            while off + 4 <= payload.len() {
                let len = u16::from_ne_bytes([payload[off], payload[off + 1]]) as usize;
                let aty = u16::from_ne_bytes([payload[off + 2], payload[off + 3]]) & 0x3fff;
                if len < 4 || off + len > payload.len() {
                    break;
                }
                if aty == NFTA_GEN_ID && len >= 8 {
                    let v = &payload[off + 4..off + 8];
                    genid = Some(u32::from_be_bytes([v[0], v[1], v[2], v[3]]));
                }
                off += (len + 3) & !3;
            }
            return Ok(true);
        }
        Ok(false)
    })?;
    genid.context("nf_tables sent no generation id")
}

/// Apply `deltas` as one transaction, provided nf_tables is still at generation `genid`.
/// Returns the generation after the commit. Any error means nothing was changed.
pub fn apply(sock: &mut Sock, genid: u32, deltas: &[SetDelta]) -> anyhow::Result<u32> {
    if deltas
        .iter()
        .all(|d| d.add.is_empty() && d.delete.is_empty())
    {
        return Ok(genid);
    }
    // BEGIN, the messages of each set and direction, END.
    let count = 2 + deltas
        .iter()
        .map(|d| message_count(&d.delete) + message_count(&d.add))
        .sum::<u32>();
    let seq0 = sock.next_seqs(count);
    let (buf, acks) = encode_batch(genid, deltas, seq0);
    sock.fit(buf.len());
    sock.send(&buf)?;
    let mut pending: Vec<u32> = acks.clone();
    sock.recv_until(|ty, seq, payload| {
        if ty != NLMSG_ERROR || seq.wrapping_sub(seq0) >= count {
            return Ok(false);
        }
        let e = nlmsg_error(payload)?;
        if e != 0 {
            let what = if seq == seq0 {
                "batch".to_string()
            } else {
                format!("message {}", seq.wrapping_sub(seq0))
            };
            bail!(
                "nf_tables refused the element batch ({what}): {}",
                std::io::Error::from_raw_os_error(-e)
            );
        }
        pending.retain(|s| *s != seq);
        Ok(pending.is_empty())
    })?;
    // Were this ever wrong, the next batch would be refused and the caller would fall back:
    // still correct, only slower.
    Ok(next_generation(genid))
}

/// The generation after one commit: the kernel advances it by one and skips 0 on wrap.
pub fn next_generation(genid: u32) -> u32 {
    match genid.wrapping_add(1) {
        0 => 1,
        g => g,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_layout_is_aligned_and_ordered() {
        let deltas = [SetDelta {
            family: Family::Arp,
            table: "netvrrp",
            set: "primary4",
            delete: vec![Elem {
                key: 7u32.to_ne_bytes().into(),
                data: Some([192, 0, 2, 1].into()),
                timeout_ms: None,
            }],
            add: vec![Elem {
                key: 7u32.to_ne_bytes().into(),
                data: Some([192, 0, 2, 9].into()),
                timeout_ms: None,
            }],
            timed: false,
        }];
        let (buf, acks) = encode_batch(42, &deltas, 100);
        assert_eq!(acks, vec![101, 102]);
        assert_eq!(buf.len(), batch_len(&deltas));
        // Walk the messages: BEGIN, DEL, NEW, END, each 4-byte aligned and ending exactly.
        let mut off = 0;
        let mut types = Vec::new();
        while off < buf.len() {
            let len = u32_ne(&buf[off..]) as usize;
            assert_eq!(len % 4, 0);
            types.push(u16::from_ne_bytes([buf[off + 4], buf[off + 5]]));
            off += len;
        }
        assert_eq!(off, buf.len());
        assert_eq!(
            types,
            vec![
                NFNL_MSG_BATCH_BEGIN,
                nft_type(NFT_MSG_DELSETELEM),
                nft_type(NFT_MSG_NEWSETELEM),
                NFNL_MSG_BATCH_END
            ]
        );
        // BEGIN carries res_id NFNL_SUBSYS_NFTABLES big endian and the genid big endian.
        assert_eq!(&buf[18..20], &10u16.to_be_bytes());
        assert_eq!(&buf[24..28], &42u32.to_be_bytes());
    }

    /// A lease set: additions carry the timeout and an expiration (what restarts the clock
    /// of an element that exists), deletions are DESTROYSETELEM.
    #[test]
    fn timed_elements_carry_timeout_and_expiration() {
        let e = |ms| Elem {
            key: 7u32.to_ne_bytes().into(),
            data: None,
            timeout_ms: ms,
        };
        let deltas = [SetDelta {
            family: Family::Inet,
            table: "netvrrp",
            set: "livedev",
            delete: vec![e(Some(0))],
            add: vec![e(Some(20))],
            timed: true,
        }];
        let (buf, _) = encode_batch(1, &deltas, 1);
        assert_eq!(buf.len(), batch_len(&deltas));
        let mut off = 0;
        let mut msgs = Vec::new();
        while off < buf.len() {
            let len = u32_ne(&buf[off..]) as usize;
            let ty = u16::from_ne_bytes([buf[off + 4], buf[off + 5]]);
            msgs.push((ty, buf[off..off + len].to_vec()));
            off += len;
        }
        assert_eq!(msgs[1].0, nft_type(NFT_MSG_DESTROYSETELEM));
        assert_eq!(msgs[2].0, nft_type(NFT_MSG_NEWSETELEM));
        // An attribute: length 12, type, 20 ms as a big-endian u64.
        let attr = |ty: u16| {
            let mut a = 12u16.to_ne_bytes().to_vec();
            a.extend_from_slice(&ty.to_ne_bytes());
            a.extend_from_slice(&20u64.to_be_bytes());
            a
        };
        let has = |m: &[u8], a: &[u8]| m.windows(a.len()).any(|w| w == a);
        for ty in [NFTA_SET_ELEM_TIMEOUT, NFTA_SET_ELEM_EXPIRATION] {
            assert!(
                has(&msgs[2].1, &attr(ty)),
                "NEWSETELEM lacks attribute {ty}"
            );
        }
        let timeout_attr_type = NFTA_SET_ELEM_TIMEOUT.to_ne_bytes();
        assert!(
            !has(
                &msgs[1].1,
                &[12, 0, timeout_attr_type[0], timeout_attr_type[1]]
            ),
            "a deletion carries no timeout"
        );
    }

    /// Thousands of elements (the leases of thousands of Masters) go in several messages of
    /// one batch, each element list's 16-bit nest length exact, one ack per message.
    #[test]
    fn large_sets_are_split_into_messages() {
        let elem = |i: u32| Elem {
            key: std::array::from_fn::<u8, 16, _>(|b| (i >> (b % 4 * 8)) as u8).into(),
            data: None,
            timeout_ms: Some(2000),
        };
        let deltas = [SetDelta {
            family: Family::Inet,
            table: "netvrrp",
            set: "live6",
            delete: Vec::new(),
            add: (0..1100).map(elem).collect(),
            timed: true,
        }];
        assert_eq!(message_count(&deltas[0].add), 3);
        let (buf, acks) = encode_batch(1, &deltas, 10);
        assert_eq!(acks, vec![11, 12, 13]);
        assert_eq!(
            (buf.len(), buf.capacity()),
            (batch_len(&deltas), batch_len(&deltas))
        );
        let mut off = 0;
        let mut elements = Vec::new();
        while off < buf.len() {
            let len = u32_ne(&buf[off..]) as usize;
            let ty = u16::from_ne_bytes([buf[off + 4], buf[off + 5]]);
            if ty == nft_type(NFT_MSG_NEWSETELEM) {
                // nfgenmsg, then the table and set names, then the element list.
                let mut at = off + 20;
                let mut list = None;
                while at < off + len {
                    let alen = u16::from_ne_bytes([buf[at], buf[at + 1]]) as usize;
                    let aty = u16::from_ne_bytes([buf[at + 2], buf[at + 3]]) & 0x3fff;
                    if aty == NFTA_SET_ELEM_LIST_ELEMENTS {
                        list = Some((at, alen));
                    }
                    at += (alen + 3) & !3;
                }
                let (at, alen) = list.expect("an element list");
                assert_eq!(at + alen, off + len, "the list ends the message");
                let mut n = 0;
                let mut el = at + 4;
                while el < at + alen {
                    n += 1;
                    el += (u16::from_ne_bytes([buf[el], buf[el + 1]]) as usize + 3) & !3;
                }
                elements.push(n);
            }
            off += len;
        }
        assert_eq!(elements, vec![512, 512, 76]);
    }
}
