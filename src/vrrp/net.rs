//! Socket I/O of the runtime: one receive socket per (parent, family) serving every VRID on
//! that parent, and one send socket for everything the runtime sends.
//!
//! Facts this relies on (checked on kernel 6.18):
//! * IPv4 receive: raw socket for protocol 112 bound to the **parent**, joined to 224.0.0.18 on
//!   that ifindex, `IP_MULTICAST_ALL` off (or it would get every group of every interface).
//!   The kernel hands over the IP header: TTL, source and destination come from it.
//! * IPv6 receive: raw socket for protocol 112 bound to the parent, joined to ff02::12, with
//!   `IPV6_RECVHOPLIMIT` and `IPV6_RECVPKTINFO` so hop limit and destination come from control
//!   messages. No `IPV6_CHECKSUM` on receive: the kernel would drop bad checksums silently,
//!   and we want to count them.
//! * The event loop reads the receive sockets itself, into one reused buffer ([`Received`]
//!   borrows it): no task, channel or allocation per packet. Every packet carries its kernel
//!   receive time (`SO_TIMESTAMPNS`): a backup's Master_Down_Interval runs from when the
//!   master's advert arrived, not from when the loop got to it (which would add the wake-up
//!   latency to every failover).
//! * Send: every advert (v2/v3, IPv4/IPv6), gratuitous ARP and unsolicited NA is built here
//!   (from the headers and payloads of [`super::frames`]) as a whole **Ethernet frame** — destination 01:00:5e:00:00:12 / 33:33:00:00:00:12 /
//!   ff:ff:ff:ff:ff:ff / 33:33:00:00:00:01, source the virtual MAC, our own IP header (TTL /
//!   hop limit 255, TOS / traffic class 0xc0, source = our primary address on the parent:
//!   IPv4 primary, IPv6 link-local as keepalived does) and the VRRP checksum over that
//!   source — and handed to **one** `AF_PACKET`/`SOCK_RAW` socket addressed to the
//!   **parent**'s ifindex ([`FrameBatch`]). The wire sees exactly what it saw when each
//!   vrrp macvlan sent its own frames (source MAC = vMAC; a switch learns the vMAC on the
//!   same port), but:
//!   - frames do not depend on the macvlan's carrier: a protodown macvlan has none, and until
//!     the kernel's link-watch work reattaches its qdisc after protodown is lifted it drops
//!     frames silently. A new Master therefore sends its advert and gratuitous packets at once
//!     and asks for protodown off right after, instead of waiting for the netlink round trip
//!     (about 0.25 ms of every takeover). The flip side: the device being up no longer gates
//!     the adverts, so a refused protodown off takes the instance to Initialize (runtime);
//!   - one fd for the runtime instead of one per instance;
//!   - no sibling broadcast: a macvlan in bridge mode offers every multicast frame it sends
//!     to every other macvlan of the parent (none takes it), which was the largest share of
//!     the send cost at 250 instances per parent;
//!   - frames queued during one event-loop turn (timers due at the same tick, bursts) leave
//!     with one `sendmmsg`, from buffers reused from turn to turn.
//!
//!   The parent's qdisc is not bypassed: it is attached as usual, so traffic control applies
//!   and taps on the parent (`tcpdump -i eth0`) see the frames. Taps on the vrrp device do
//!   not (nothing goes through it). VRRS pathways share the socket ([`FrameBatch::sibling`]):
//!   a pathway macvlan's frames leave through its lower device with the pathway's MAC as
//!   source, any other pathway device's through the device itself.
//!   The kernel's own traffic for the VIPs (ARP replies, ND, ICMP) still goes through the
//!   macvlan, which is why protodown off is still followed by a link-watch sync
//!   (`Kernel::set_protodown`).

use crate::types::{Family, MacAddr};
use crate::vrrp::frames::{self, ALL_NODES_V6, ETH_BROADCAST, ETH_P_ARP, ETH_P_IP, ETH_P_IPV6};
use crate::vrrp::packet::{self, VRRP_GROUP_V4, VRRP_GROUP_V6, VRRP_PROTOCOL};
use anyhow::Context;
use socket2::{Domain, Protocol, Socket, Type};
use std::io;
use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;
use std::os::fd::{AsRawFd, OwnedFd};
use tokio::io::unix::AsyncFd;

/// One VRRP packet as received, before validation; the payload borrows the caller's
/// receive buffer.
#[derive(Debug, Clone, Copy)]
pub struct Received<'a> {
    pub parent_index: u32,
    pub family: Family,
    pub src: IpAddr,
    pub dst: IpAddr,
    /// TTL / hop limit read from the packet (IPv4 header) or control message (IPv6).
    pub ttl: u8,
    /// The VRRP message (IP header removed).
    pub payload: &'a [u8],
    /// When the kernel received it (`SO_TIMESTAMPNS`, wall clock), if it said.
    pub arrived: Option<std::time::SystemTime>,
}

impl<'a> Received<'a> {
    /// The VRID the packet claims, before any check (None: too short to carry one): what
    /// finds the router whose configured version [`Received::view_for`] checks against.
    pub fn vrid(&self) -> Option<u8> {
        packet::peek_vrid(self.payload)
    }

    /// Check the packet for a router of `version` that expects it sent to `dst` (the VRRP
    /// group, or our address in unicast mode), and view it in place (no allocation).
    pub fn view_for(
        &self,
        version: u8,
        dst: IpAddr,
    ) -> Result<packet::AdvertView<'a>, packet::DecodeError> {
        packet::view_to(
            self.payload,
            &packet::RxContext {
                src: self.src,
                dst: self.dst,
                ttl: self.ttl,
                version,
            },
            dst,
        )
    }
}

/// Room for the largest packet a receive socket hands over (an IPv4 header with options
/// and the largest advert, which the codec rejects as oversized rather than truncated).
pub const RX_BUFFER_LEN: usize = 2048;

fn index(i: u32) -> anyhow::Result<NonZeroU32> {
    NonZeroU32::new(i).context("interface index 0")
}

/// Receive socket for every VRRP packet of one family on one parent. The event loop reads
/// it directly (no task, no per-packet allocation): it polls readiness with
/// [`RxSocket::poll_ready`] and reads with [`RxSocket::try_recv`] into a buffer it reuses.
pub struct RxSocket {
    fd: AsyncFd<Socket>,
    parent_index: u32,
    family: Family,
    /// Control-message space (IPv6 hop limit and destination), reused.
    cmsg: Vec<u8>,
}

impl RxSocket {
    pub fn open(family: Family, parent_index: u32) -> anyhow::Result<RxSocket> {
        let idx = index(parent_index)?;
        let sock = match family {
            Family::Ipv4 => {
                let s = Socket::new(
                    Domain::IPV4,
                    Type::RAW,
                    Some(Protocol::from(i32::from(VRRP_PROTOCOL))),
                )
                .context("raw IPv4 socket for VRRP")?;
                s.bind_device_by_index_v4(Some(idx))
                    .context("bind to the parent")?;
                s.set_multicast_all_v4(false)
                    .context("IP_MULTICAST_ALL off")?;
                s.join_multicast_v4_n(
                    &VRRP_GROUP_V4,
                    &socket2::InterfaceIndexOrAddress::Index(parent_index),
                )
                .context("join 224.0.0.18")?;
                s
            }
            Family::Ipv6 => {
                let s = Socket::new(
                    Domain::IPV6,
                    Type::RAW,
                    Some(Protocol::from(i32::from(VRRP_PROTOCOL))),
                )
                .context("raw IPv6 socket for VRRP")?;
                s.bind_device_by_index_v6(Some(idx))
                    .context("bind to the parent")?;
                s.set_recv_hoplimit_v6(true).context("IPV6_RECVHOPLIMIT")?;
                nix::sys::socket::setsockopt(
                    &s,
                    nix::sys::socket::sockopt::Ipv6RecvPacketInfo,
                    &true,
                )
                .context("IPV6_RECVPKTINFO")?;
                s.join_multicast_v6(&VRRP_GROUP_V6, parent_index)
                    .context("join ff02::12")?;
                s
            }
        };
        // The arrival time, not the time the loop gets to the packet, is when a backup heard
        // the master: its Master_Down_Interval starts then.
        nix::sys::socket::setsockopt(&sock, nix::sys::socket::sockopt::ReceiveTimestampns, &true)
            .context("SO_TIMESTAMPNS")?;
        sock.set_nonblocking(true).context("non-blocking")?;
        // Bursts from many routers on one parent must not overflow the queue.
        let _ = sock.set_recv_buffer_size(1 << 20);
        // SAFETY: the AsyncFd owns the socket, so the fd stays open exactly as long as it is
        // registered.
        let fd = unsafe { AsyncFd::register(sock) }
            .map_err(|e| anyhow::anyhow!("register with the event loop: {e}"))?;
        Ok(RxSocket {
            fd,
            parent_index,
            family,
            cmsg: nix::cmsg_space!(libc::in6_pktinfo, libc::c_int, libc::timespec),
        })
    }

    /// Ready when the event loop saw the socket readable (the readiness stays set until a
    /// [`RxSocket::try_recv`] finds the queue empty).
    pub fn poll_ready(&self, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        match self.fd.poll_read_ready(cx) {
            // Dropping the guard leaves the readiness set: try_recv clears it.
            std::task::Poll::Ready(_) => std::task::Poll::Ready(()),
            std::task::Poll::Pending => std::task::Poll::Pending,
        }
    }

    /// The next queued packet, read into `buf`; `Ok(None)` when the queue is empty.
    /// Packets not VRRP-shaped enough to carry further are skipped.
    ///
    /// Always asks the kernel (a non-blocking read), whatever readiness the reactor has
    /// recorded: after a stall (SIGSTOP, CPU starvation) the loop reads the sockets before it
    /// fires overdue timers, and the reactor has not been polled yet then, so a read gated
    /// on its readiness would find "nothing" and a backup would declare a live master dead.
    pub fn try_recv<'b>(&mut self, buf: &'b mut [u8]) -> io::Result<Option<Received<'b>>> {
        let family = self.family;
        loop {
            let meta = match read_one(family, self.fd.get_ref(), buf, &mut self.cmsg) {
                Ok(Some(meta)) => meta,
                Ok(None) => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    // Empty: clear the readiness the reactor may hold, or the loop would
                    // be woken again for nothing.
                    let _ = self.fd.try_io(tokio::io::Interest::READABLE, |_| {
                        Err::<(), _>(io::ErrorKind::WouldBlock.into())
                    });
                    return Ok(None);
                }
                Err(e) => return Err(e),
            };
            let (src, dst, ttl, range, arrived) = meta;
            return Ok(Some(Received {
                parent_index: self.parent_index,
                family: self.family,
                src,
                dst,
                ttl,
                payload: &buf[range],
                arrived,
            }));
        }
    }
}

/// One packet into `buf`: (source, destination, TTL, payload range, arrival time), None when
/// it is not carried further.
#[allow(clippy::type_complexity)]
fn read_one(
    family: Family,
    sock: &Socket,
    buf: &mut [u8],
    cmsg: &mut [u8],
) -> io::Result<
    Option<(
        IpAddr,
        IpAddr,
        u8,
        std::ops::Range<usize>,
        Option<std::time::SystemTime>,
    )>,
> {
    use nix::sys::socket::{ControlMessageOwned, MsgFlags, SockaddrStorage, recvmsg};
    let mut iov = [io::IoSliceMut::new(buf)];
    let msg = recvmsg::<SockaddrStorage>(sock.as_raw_fd(), &mut iov, Some(cmsg), MsgFlags::empty())
        .map_err(io::Error::from)?;
    let mut hop = None;
    let mut dst6 = None;
    let mut arrived = None;
    if let Ok(cmsgs) = msg.cmsgs() {
        for c in cmsgs {
            match c {
                ControlMessageOwned::Ipv6HopLimit(h) => hop = u8::try_from(h).ok(),
                ControlMessageOwned::Ipv6PacketInfo(info) => {
                    dst6 = Some(Ipv6Addr::from(info.ipi6_addr.s6_addr))
                }
                ControlMessageOwned::ScmTimestampns(ts) => {
                    arrived = u64::try_from(ts.tv_sec()).ok().and_then(|secs| {
                        let d = std::time::Duration::new(secs, u32::try_from(ts.tv_nsec()).ok()?);
                        std::time::SystemTime::UNIX_EPOCH.checked_add(d)
                    });
                }
                _ => {}
            }
        }
    }
    let src6 = msg
        .address
        .and_then(|a| a.as_sockaddr_in6().map(|a| a.ip()));
    let n = msg.bytes;
    match family {
        Family::Ipv4 => {
            let data = &buf[..n];
            Ok(frames::parse_ipv4(data).map(|(src, dst, ttl, payload)| {
                let start = payload.as_ptr() as usize - data.as_ptr() as usize;
                (
                    IpAddr::V4(src),
                    IpAddr::V4(dst),
                    ttl,
                    start..start + payload.len(),
                    arrived,
                )
            }))
        }
        Family::Ipv6 => {
            let (Some(src), Some(ttl), Some(dst)) = (src6, hop, dst6) else {
                return Ok(None);
            };
            Ok(Some((IpAddr::V6(src), IpAddr::V6(dst), ttl, 0..n, arrived)))
        }
    }
}

/// What a queued frame is, so a failed send is charged to the right counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    Advert,
    Gratuitous,
    /// An IPv6 Router Advertisement (see [`crate::vrrp::ra`]).
    RouterAdvert,
}

/// Who a frame belongs to (an instance index of the caller's choosing) and what it is.
pub type FrameTag = (usize, FrameKind);

struct Frame {
    /// The interface the frame leaves through (a parent, never a vrrp macvlan).
    ifindex: u32,
    ethertype: u16,
    tag: FrameTag,
    /// Ethernet header included; the capacity is kept between batches.
    data: Vec<u8>,
}

/// Most messages one `sendmmsg` takes (the kernel caps `vlen` at `UIO_MAXIOV`).
const SENDMMSG_MAX: usize = 1024;

/// The runtime's one send socket and the frames queued for it: every advert, gratuitous ARP
/// and unsolicited NA, as whole Ethernet frames (see the module docs), sent with one
/// `sendmmsg` per event-loop turn. Frame buffers are reused from batch to batch, so the
/// steady state allocates nothing per frame.
pub struct FrameBatch {
    /// Shared by every batch of the process ([`FrameBatch::sibling`]).
    fd: std::sync::Arc<OwnedFd>,
    frames: Vec<Frame>,
    /// Frames `0..queued` are waiting; the rest are spare buffers.
    queued: usize,
}

impl FrameBatch {
    pub fn open() -> anyhow::Result<FrameBatch> {
        Ok(FrameBatch {
            fd: std::sync::Arc::new(open_packet_socket()?),
            frames: Vec::new(),
            queued: 0,
        })
    }

    /// An empty batch on the same socket (for another task: VRRS pathways).
    pub fn sibling(&self) -> FrameBatch {
        FrameBatch {
            fd: self.fd.clone(),
            frames: Vec::new(),
            queued: 0,
        }
    }

    /// Frames waiting for [`FrameBatch::flush`].
    pub fn queued(&self) -> usize {
        self.queued
    }

    /// An emptied buffer for the next frame, its Ethernet header written.
    fn next(
        &mut self,
        ifindex: u32,
        tag: FrameTag,
        dst: [u8; 6],
        src: MacAddr,
        ethertype: u16,
    ) -> &mut Vec<u8> {
        if self.queued == self.frames.len() {
            self.frames.push(Frame {
                ifindex,
                ethertype,
                tag,
                data: Vec::with_capacity(128),
            });
        }
        let f = &mut self.frames[self.queued];
        self.queued += 1;
        f.ifindex = ifindex;
        f.ethertype = ethertype;
        f.tag = tag;
        f.data.clear();
        frames::write_ethernet_header(&mut f.data, dst, src, ethertype);
        &mut f.data
    }

    /// Queue an advert to the VRRP group of `source`'s family, from `vmac`, out of `parent`.
    pub fn push_advert(
        &mut self,
        tag: usize,
        parent: u32,
        vmac: MacAddr,
        source: IpAddr,
        advert: &packet::AdvertFields<'_>,
        pseudo_header_v4: bool,
    ) {
        let (group, mac, ethertype, header_len) = match source {
            IpAddr::V4(_) => (
                IpAddr::V4(VRRP_GROUP_V4),
                frames::multicast_mac_v4(VRRP_GROUP_V4),
                ETH_P_IP,
                frames::IPV4_HEADER_LEN,
            ),
            IpAddr::V6(_) => (
                IpAddr::V6(VRRP_GROUP_V6),
                frames::multicast_mac_v6(VRRP_GROUP_V6),
                ETH_P_IPV6,
                frames::IPV6_HEADER_LEN,
            ),
        };
        let out = self.next(parent, (tag, FrameKind::Advert), mac, vmac, ethertype);
        let ip = out.len();
        out.resize(ip + header_len, 0);
        packet::encode_into(out, advert, source, group, pseudo_header_v4);
        match source {
            IpAddr::V4(s) => {
                frames::write_ipv4_header(&mut out[ip..], s, VRRP_GROUP_V4, VRRP_PROTOCOL)
            }
            IpAddr::V6(s) => {
                frames::write_ipv6_header(&mut out[ip..], s, VRRP_GROUP_V6, VRRP_PROTOCOL)
            }
        }
    }

    /// Queue a gratuitous ARP (sender = target = VIP, to broadcast) or an unsolicited NA
    /// (to ff02::1, R and O flags, target link-layer option = `mac`) from `mac`, out of
    /// `ifindex`. `src6`: the NA's IPv6 source (a link-local of the link); needed for IPv6
    /// VIPs.
    pub fn push_gratuitous(
        &mut self,
        tag: usize,
        ifindex: u32,
        mac: MacAddr,
        vip: IpAddr,
        src6: Option<Ipv6Addr>,
    ) -> anyhow::Result<()> {
        let tag = (tag, FrameKind::Gratuitous);
        match vip {
            IpAddr::V4(v) => {
                let out = self.next(ifindex, tag, ETH_BROADCAST, mac, ETH_P_ARP);
                out.extend_from_slice(&frames::gratuitous_arp(mac, v));
            }
            IpAddr::V6(v) => {
                let src = src6
                    .with_context(|| format!("no IPv6 link-local to send the NA for {v} from"))?;
                let na = frames::unsolicited_na_from(mac, v, src);
                let out = self.next(
                    ifindex,
                    tag,
                    frames::multicast_mac_v6(ALL_NODES_V6),
                    mac,
                    ETH_P_IPV6,
                );
                let ip = out.len();
                out.resize(ip + frames::IPV6_HEADER_LEN, 0);
                out.extend_from_slice(&na);
                frames::write_ipv6_header(
                    &mut out[ip..],
                    src,
                    ALL_NODES_V6,
                    frames::ICMPV6_PROTOCOL,
                );
            }
        }
        Ok(())
    }

    /// Queue a Router Advertisement to all-nodes from the virtual router's link-local and
    /// MAC (`ra.source`, `ra.mac`), out of `parent`, like an unsolicited NA.
    pub fn push_router_advert(&mut self, tag: usize, parent: u32, ra: &super::ra::RaParams) {
        let mut message = ra.message();
        let ck = frames::checksum(
            &message,
            Some((
                IpAddr::V6(ra.source),
                IpAddr::V6(ALL_NODES_V6),
                frames::ICMPV6_PROTOCOL,
            )),
        );
        message[2..4].copy_from_slice(&ck.to_be_bytes());
        let out = self.next(
            parent,
            (tag, FrameKind::RouterAdvert),
            frames::multicast_mac_v6(ALL_NODES_V6),
            ra.mac,
            ETH_P_IPV6,
        );
        let ip = out.len();
        out.resize(ip + frames::IPV6_HEADER_LEN, 0);
        out.extend_from_slice(&message);
        frames::write_ipv6_header(
            &mut out[ip..],
            ra.source,
            ALL_NODES_V6,
            frames::ICMPV6_PROTOCOL,
        );
    }

    /// Send every queued frame (one `sendmmsg` per 1,024 frames). A frame the
    /// kernel refuses is skipped and reported to `failed` with its tag; the rest still go.
    /// Returns how many frames left.
    pub fn flush(&mut self, mut failed: impl FnMut(FrameTag, &io::Error)) -> usize {
        let mut sent = 0;
        let mut start = 0;
        while start < self.queued {
            let end = (start + SENDMMSG_MAX).min(self.queued);
            match self.send_some(start, end) {
                Ok(n) => {
                    sent += n;
                    start += n;
                }
                Err(e) => {
                    // sendmmsg reports an error only when the first message fails: charge
                    // it to that frame and go on with the next.
                    failed(self.frames[start].tag, &e);
                    start += 1;
                }
            }
        }
        self.queued = 0;
        sent
    }

    /// One `sendmmsg` of frames `start..end`: how many the kernel took (at least one), or
    /// the error of the first.
    fn send_some(&self, start: usize, end: usize) -> io::Result<usize> {
        let frames = &self.frames[start..end];
        let mut addrs: Vec<libc::sockaddr_ll> = frames
            .iter()
            .map(|f| link_address(f.ifindex, f.ethertype))
            .collect::<io::Result<_>>()?;
        let mut iovs: Vec<libc::iovec> = frames
            .iter()
            .map(|f| libc::iovec {
                iov_base: f.data.as_ptr() as *mut libc::c_void,
                iov_len: f.data.len(),
            })
            .collect();
        let mut msgs: Vec<libc::mmsghdr> = iovs
            .iter_mut()
            .zip(addrs.iter_mut())
            .map(|(iov, addr)| {
                // SAFETY: msghdr is plain old data; the fields not set stay zero.
                let mut hdr: libc::msghdr = unsafe { std::mem::zeroed() };
                hdr.msg_name = (addr as *mut libc::sockaddr_ll).cast();
                hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
                hdr.msg_iov = iov;
                hdr.msg_iovlen = 1;
                libc::mmsghdr {
                    msg_hdr: hdr,
                    msg_len: 0,
                }
            })
            .collect();
        loop {
            // SAFETY: every msghdr points into `addrs`, `iovs` and the frames' buffers, which
            // all outlive the call; the count is the vector's length.
            let rc = unsafe {
                libc::sendmmsg(
                    self.fd.as_raw_fd(),
                    msgs.as_mut_ptr(),
                    msgs.len() as libc::c_uint,
                    0,
                )
            };
            if rc > 0 {
                return Ok(rc as usize);
            }
            let e = io::Error::last_os_error();
            if rc == 0 {
                return Err(io::Error::other("sendmmsg sent nothing"));
            }
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }
}

fn open_packet_socket() -> anyhow::Result<OwnedFd> {
    use nix::sys::socket::{AddressFamily, SockFlag, SockProtocol, SockType, socket};
    // Protocol 0: a send-only packet socket that never receives. SOCK_RAW: we write the
    // Ethernet header, so the source MAC is the virtual MAC whatever device sends it.
    let fd = socket(
        AddressFamily::Packet,
        SockType::Raw,
        SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
        None::<SockProtocol>,
    )
    .context("AF_PACKET socket")?;
    // One tick may queue an advert for every instance (4,000 and more at start-up, when
    // their timers line up): room for all of them, so none is refused with EAGAIN.
    // SO_SNDBUFFORCE passes the wmem_max limit (we run as root); SO_SNDBUF is the fallback.
    let size: libc::c_int = 8 << 20;
    for opt in [libc::SO_SNDBUFFORCE, libc::SO_SNDBUF] {
        // SAFETY: a valid fd, and a pointer/length pair describing one c_int.
        let rc = unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                opt,
                (&size as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc == 0 {
            break;
        }
    }
    Ok(fd)
}

/// The destination of a frame on a SOCK_RAW packet socket: only the interface and the
/// protocol matter (the frame carries its own header).
fn link_address(ifindex: u32, ethertype: u16) -> io::Result<libc::sockaddr_ll> {
    // SAFETY: sockaddr_ll is plain old data; all fields we do not set are zero.
    let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    addr.sll_family = libc::AF_PACKET as u16;
    addr.sll_protocol = ethertype.to_be();
    addr.sll_ifindex =
        i32::try_from(ifindex).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    Ok(addr)
}

/// Count a dropped packet under its own counter.
pub fn count_drop(c: &mut crate::vrrp::router::Counters, e: &packet::DecodeError) {
    use packet::DecodeError as E;
    match e {
        E::BadTtl(_) => c.ttl_errors += 1,
        E::Truncated(_) => c.truncated_errors += 1,
        E::Oversized(_) => c.oversized_errors += 1,
        E::BadLength { .. } => c.length_errors += 1,
        E::NoAddresses => c.zero_count_errors += 1,
        E::BadVersion(..) => c.version_errors += 1,
        E::BadType(_) => c.type_errors += 1,
        E::BadChecksum { .. } => c.checksum_errors += 1,
        E::BadAuthType(_) => c.auth_type_errors += 1,
        E::BadDestination(_) => c.destination_errors += 1,
    }
    tracing::debug!(target: "netvrrp::packets", "dropped: {e}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn batch() -> FrameBatch {
        // Opening an AF_PACKET socket needs CAP_NET_RAW: the tests run as root.
        FrameBatch::open().expect("AF_PACKET socket (run as root)")
    }

    fn frame(b: &FrameBatch, i: usize) -> &Frame {
        assert!(i < b.queued);
        &b.frames[i]
    }

    fn eth(dst: [u8; 6], src: MacAddr, ethertype: u16) -> Vec<u8> {
        let mut v = Vec::new();
        frames::write_ethernet_header(&mut v, dst, src, ethertype);
        v
    }

    /// What an advert frame must be: the old send path's IP packet (encode + ipv4_packet /
    /// ipv6_packet) behind an Ethernet header from the virtual MAC to the group's MAC.
    fn expected_advert(
        f: &packet::AdvertFields<'_>,
        src: IpAddr,
        vmac: MacAddr,
        pseudo: bool,
    ) -> Vec<u8> {
        let advert = packet::Advert::new(f.version, f.vrid, f.priority, f.interval_cs, f.addresses);
        match src {
            IpAddr::V4(s) => {
                let msg = packet::encode(&advert, src, IpAddr::V4(VRRP_GROUP_V4), pseudo);
                let mut want = eth([0x01, 0x00, 0x5e, 0, 0, 0x12], vmac, ETH_P_IP);
                want.extend(frames::ipv4_packet(s, VRRP_GROUP_V4, 112, &msg));
                want
            }
            IpAddr::V6(s) => {
                let msg = packet::encode(&advert, src, IpAddr::V6(VRRP_GROUP_V6), pseudo);
                let mut want = eth([0x33, 0x33, 0, 0, 0, 0x12], vmac, ETH_P_IPV6);
                want.extend(frames::ipv6_packet(s, VRRP_GROUP_V6, 112, &msg));
                want
            }
        }
    }

    #[test]
    fn advert_frames_are_the_ip_packet_behind_an_ethernet_header_from_the_vmac() {
        let mut b = batch();
        let vips4: Vec<IpAddr> = vec!["10.0.0.254".parse().unwrap(), "10.0.0.253".parse().unwrap()];
        let vips6: Vec<IpAddr> = vec!["2001:db8::254".parse().unwrap()];
        let cases: [(u8, bool, &str, &[IpAddr], usize); 4] = [
            (3, true, "10.0.0.1", &vips4, 14 + 8),
            (3, false, "10.0.0.1", &vips4, 14 + 8),
            (2, false, "10.0.0.1", &vips4, 14 + 8),
            (3, false, "fe80::1", &vips6, 14 + 7),
        ];
        for (n, (version, pseudo, src, vips, ttl_at)) in cases.into_iter().enumerate() {
            let src: IpAddr = src.parse().unwrap();
            let vmac = MacAddr::vrrp(Family::Ipv4, 7);
            let fields = packet::AdvertFields {
                version,
                vrid: 7,
                priority: 200,
                interval_cs: 100,
                addresses: vips,
            };
            b.push_advert(n, 40 + n as u32, vmac, src, &fields, pseudo);
            let f = frame(&b, n);
            assert_eq!(
                f.data,
                expected_advert(&fields, src, vmac, pseudo),
                "case {n}"
            );
            assert_eq!((f.ifindex, f.tag), (40 + n as u32, (n, FrameKind::Advert)));
            assert_eq!(f.data[ttl_at], 255, "TTL / hop limit");
        }
    }

    #[test]
    fn gratuitous_frames_and_buffer_reuse() {
        let mut b = batch();
        let mac = MacAddr::vrrp(Family::Ipv4, 1);
        let vip4: Ipv4Addr = "10.0.0.254".parse().unwrap();
        let vip6: Ipv6Addr = "2001:db8::254".parse().unwrap();
        let ll: Ipv6Addr = "fe80::1".parse().unwrap();
        // A long frame first, so the short one below reuses a buffer that held more.
        b.push_gratuitous(1, 5, mac, IpAddr::V6(vip6), Some(ll))
            .unwrap();
        let mut na = frames::unsolicited_na(mac, vip6);
        let ck = frames::checksum(&na, Some((IpAddr::V6(ll), IpAddr::V6(ALL_NODES_V6), 58)));
        na[2..4].copy_from_slice(&ck.to_be_bytes());
        let mut want = eth([0x33, 0x33, 0, 0, 0, 1], mac, ETH_P_IPV6);
        want.extend(frames::ipv6_packet(ll, ALL_NODES_V6, 58, &na));
        assert_eq!(frame(&b, 0).data, want);
        let capacity = b.frames[0].data.capacity();
        b.queued = 0;
        b.push_gratuitous(2, 6, mac, IpAddr::V4(vip4), None)
            .unwrap();
        let mut want = eth([0xff; 6], mac, ETH_P_ARP);
        want.extend_from_slice(&frames::gratuitous_arp(mac, vip4));
        let f = frame(&b, 0);
        assert_eq!(f.data, want);
        assert_eq!((f.ifindex, f.tag), (6, (2, FrameKind::Gratuitous)));
        assert_eq!(f.data.capacity(), capacity, "the buffer was reused");
        assert_eq!(b.frames.len(), 1);
        // An NA needs a source address.
        assert!(
            b.push_gratuitous(2, 6, mac, IpAddr::V6(vip6), None)
                .is_err()
        );
    }

    #[test]
    fn a_refused_frame_is_reported_and_the_rest_still_go() {
        let mut b = batch();
        let mac = MacAddr::vrrp(Family::Ipv4, 1);
        let vip: IpAddr = "127.0.0.254".parse().unwrap();
        // Loopback (ifindex 1) takes the frames; no interface has the second index.
        b.push_gratuitous(0, 1, mac, vip, None).unwrap();
        b.push_gratuitous(1, 0x7fff_fff0, mac, vip, None).unwrap();
        b.push_gratuitous(2, 1, mac, vip, None).unwrap();
        let mut failed = Vec::new();
        let sent = b.flush(|tag, _| failed.push(tag));
        assert_eq!(sent, 2);
        assert_eq!(failed, vec![(1, FrameKind::Gratuitous)]);
        assert_eq!(b.queued(), 0);
    }
}
