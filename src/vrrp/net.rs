//! Socket I/O of the runtime: one receive socket per (parent, family) serving every VRID on
//! that parent, one send socket per vrrp device, gratuitous ARP and unsolicited NA.
//!
//! Facts this relies on (checked on kernel 6.18):
//! * IPv4 receive: raw socket for protocol 112 bound to the **parent**, joined to 224.0.0.18 on
//!   that ifindex, `IP_MULTICAST_ALL` off (or it would get every group of every interface).
//!   The kernel hands over the IP header: TTL, source and destination come from it.
//! * IPv6 receive: raw socket for protocol 112 bound to the parent, joined to ff02::12, with
//!   `IPV6_RECVHOPLIMIT` and `IPV6_RECVPKTINFO` so hop limit and destination come from control
//!   messages. No `IPV6_CHECKSUM` on receive: the kernel would drop bad checksums silently,
//!   and we want to count them.
//! * Send: everything a vrrp device sends (adverts of both families, gratuitous ARP,
//!   unsolicited NA) leaves as a whole IP/ARP packet through an `AF_PACKET`/`SOCK_DGRAM`
//!   socket addressed to the vrrp **macvlan**, so frames carry the virtual MAC (the kernel
//!   adds the Ethernet header) and we write the IP header ourselves: TTL/hop limit 255,
//!   TOS/traffic class 0xc0, source = our primary address on the parent (IPv4 primary; IPv6
//!   link-local, as keepalived does, stable and known before the first takeover), whatever
//!   the macvlan's own addresses are. The VRRP checksum is computed by our encoder over that
//!   source; the kernel computes nothing. The socket sets `PACKET_QDISC_BYPASS`: when
//!   protodown is lifted the kernel turns the carrier on at once but reattaches the
//!   device's qdisc only later (linkwatch, on a workqueue); until then the noop qdisc drops
//!   every frame **silently**, so the advert and the gratuitous packets sent with the
//!   transition to Master would be lost and the first advert would come one interval late
//!   (measured by the interop matrix in both families; FRR 8.4 shows the same symptom for
//!   IPv6). Direct transmission only needs the carrier, which is up when the protodown
//!   request returns. VRRS pathways use one such socket for all their devices
//!   ([`FrameSender`]). Side effect: taps on the vrrp device (`tcpdump -i vrrp4-...`) do not
//!   see what we send; taps on the parent do.

use crate::types::{Family, MacAddr};
use crate::vrrp::packet;
use anyhow::Context;
use socket2::{Domain, Protocol, Socket, Type};
use std::io;
use std::mem::MaybeUninit;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::num::NonZeroU32;
use std::os::fd::{AsRawFd, OwnedFd};
use tokio::io::unix::AsyncFd;

pub const VRRP_PROTO: i32 = 112;
pub const VRRP_GROUP_V4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
pub const VRRP_GROUP_V6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12);
const ALL_NODES_V6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

/// One VRRP packet as received, before validation.
#[derive(Debug, Clone)]
pub struct Received {
    pub parent_index: u32,
    pub family: Family,
    pub src: IpAddr,
    pub dst: IpAddr,
    /// TTL / hop limit read from the packet (IPv4 header) or control message (IPv6).
    pub ttl: u8,
    /// The VRRP message (IP header removed).
    pub payload: Vec<u8>,
}

fn index(i: u32) -> anyhow::Result<NonZeroU32> {
    NonZeroU32::new(i).context("interface index 0")
}

/// Receive socket for every VRRP packet of one family on one parent.
pub struct RxSocket {
    fd: AsyncFd<Socket>,
    parent_index: u32,
    family: Family,
}

impl RxSocket {
    pub fn open(family: Family, parent_index: u32) -> anyhow::Result<RxSocket> {
        let idx = index(parent_index)?;
        let sock = match family {
            Family::Ipv4 => {
                let s = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::from(VRRP_PROTO)))
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
                let s = Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::from(VRRP_PROTO)))
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
        })
    }

    /// The next packet (waits until one arrives).
    pub async fn recv(&self) -> anyhow::Result<Received> {
        loop {
            let mut guard = self.fd.readable().await.context("socket readiness")?;
            match guard.try_io(|fd| self.read_one(fd.get_ref())) {
                Ok(Ok(Some(pkt))) => return Ok(pkt),
                Ok(Ok(None)) => continue, // not VRRP-shaped enough to carry further
                Ok(Err(e)) => return Err(e).context("receive"),
                Err(_would_block) => continue,
            }
        }
    }

    /// The next packet already queued, without waiting: None when the queue is empty.
    pub fn try_recv(&self) -> anyhow::Result<Option<Received>> {
        loop {
            match self.read_one(self.fd.get_ref()) {
                Ok(Some(pkt)) => return Ok(Some(pkt)),
                Ok(None) => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
                Err(e) => return Err(e).context("receive"),
            }
        }
    }

    fn read_one(&self, sock: &Socket) -> io::Result<Option<Received>> {
        match self.family {
            Family::Ipv4 => {
                let mut buf = [MaybeUninit::<u8>::uninit(); 2048];
                let (n, _from) = sock.recv_from(&mut buf)?;
                // SAFETY: recv_from initialised the first n bytes.
                let data: Vec<u8> = buf[..n]
                    .iter()
                    .map(|b| unsafe { b.assume_init() })
                    .collect();
                Ok(parse_ipv4(&data).map(|(src, dst, ttl, payload)| Received {
                    parent_index: self.parent_index,
                    family: Family::Ipv4,
                    src: IpAddr::V4(src),
                    dst: IpAddr::V4(dst),
                    ttl,
                    payload: payload.to_vec(),
                }))
            }
            Family::Ipv6 => {
                use nix::sys::socket::{ControlMessageOwned, MsgFlags, SockaddrIn6, recvmsg};
                let mut data = vec![0u8; 2048];
                let mut cmsg = nix::cmsg_space!(libc::in6_pktinfo, libc::c_int);
                let (n, src, hop, dst) = {
                    let mut iov = [io::IoSliceMut::new(&mut data)];
                    let msg = recvmsg::<SockaddrIn6>(
                        sock.as_raw_fd(),
                        &mut iov,
                        Some(&mut cmsg),
                        MsgFlags::empty(),
                    )
                    .map_err(io::Error::from)?;
                    let mut hop = None;
                    let mut dst = None;
                    if let Ok(cmsgs) = msg.cmsgs() {
                        for c in cmsgs {
                            match c {
                                ControlMessageOwned::Ipv6HopLimit(h) => hop = u8::try_from(h).ok(),
                                ControlMessageOwned::Ipv6PacketInfo(info) => {
                                    dst = Some(Ipv6Addr::from(info.ipi6_addr.s6_addr))
                                }
                                _ => {}
                            }
                        }
                    }
                    (msg.bytes, msg.address.map(|a| a.ip()), hop, dst)
                };
                let (Some(src), Some(ttl), Some(dst)) = (src, hop, dst) else {
                    return Ok(None);
                };
                data.truncate(n);
                Ok(Some(Received {
                    parent_index: self.parent_index,
                    family: Family::Ipv6,
                    src: IpAddr::V6(src),
                    dst: IpAddr::V6(dst),
                    ttl,
                    payload: data,
                }))
            }
        }
    }
}

/// Split a received IPv4 packet: (source, destination, TTL, payload). None when the header is
/// malformed (the IHL is honoured, so IP options are skipped correctly).
pub fn parse_ipv4(data: &[u8]) -> Option<(Ipv4Addr, Ipv4Addr, u8, &[u8])> {
    let first = *data.first()?;
    if first >> 4 != 4 {
        return None;
    }
    let ihl = usize::from(first & 0x0f) * 4;
    if ihl < 20 || data.len() < ihl {
        return None;
    }
    let total = usize::from(u16::from_be_bytes([data[2], data[3]]));
    let end = if total >= ihl && total <= data.len() {
        total
    } else {
        data.len()
    };
    let src = Ipv4Addr::new(data[12], data[13], data[14], data[15]);
    let dst = Ipv4Addr::new(data[16], data[17], data[18], data[19]);
    Some((src, dst, data[8], &data[ihl..end]))
}

/// Everything one vrrp device sends: adverts, and gratuitous ARP / unsolicited NA.
pub struct TxSocket {
    family: Family,
    device_index: u32,
    source: IpAddr,
    /// AF_PACKET datagram socket on the device (qdisc bypassed; see the module docs).
    packet: OwnedFd,
}

impl TxSocket {
    pub fn open(family: Family, device_index: u32, source: IpAddr) -> anyhow::Result<TxSocket> {
        index(device_index)?;
        match (family, source) {
            (Family::Ipv4, IpAddr::V4(_)) | (Family::Ipv6, IpAddr::V6(_)) => {}
            _ => anyhow::bail!("source {source} does not match family {family}"),
        }
        Ok(TxSocket {
            family,
            device_index,
            source,
            packet: open_packet_socket()?,
        })
    }

    pub fn source(&self) -> IpAddr {
        self.source
    }

    /// Send one advert to the VRRP group.
    pub fn send_advert(
        &self,
        advert: &packet::Advert,
        pseudo_header_v4: bool,
    ) -> anyhow::Result<()> {
        let dst = match self.family {
            Family::Ipv4 => IpAddr::V4(VRRP_GROUP_V4),
            Family::Ipv6 => IpAddr::V6(VRRP_GROUP_V6),
        };
        let bytes = packet::encode(advert, self.source, dst, pseudo_header_v4);
        match (self.source, dst) {
            (IpAddr::V4(src), IpAddr::V4(d)) => {
                let ip = packet::ipv4_packet(src, d, packet::VRRP_PROTOCOL, &bytes);
                send_packet(
                    &self.packet,
                    self.device_index,
                    ETH_P_IP,
                    multicast_mac_v4(d),
                    &ip,
                )
                .with_context(|| format!("send advert to {dst}"))?;
            }
            (IpAddr::V6(src), IpAddr::V6(d)) => {
                let ip = packet::ipv6_packet(src, d, packet::VRRP_PROTOCOL, &bytes);
                send_packet(
                    &self.packet,
                    self.device_index,
                    ETH_P_IPV6,
                    multicast_mac_v6(d),
                    &ip,
                )
                .with_context(|| format!("send advert to {dst}"))?;
            }
            _ => anyhow::bail!("source {} cannot send to {dst}", self.source),
        }
        Ok(())
    }

    /// Gratuitous ARP (IPv4 VIP) or unsolicited NA (IPv6 VIP) from the virtual MAC.
    pub fn send_gratuitous(&self, vmac: MacAddr, vip: IpAddr) -> anyhow::Result<()> {
        let src6 = match self.source {
            IpAddr::V6(s) => Some(s),
            IpAddr::V4(_) => None,
        };
        send_gratuitous(&self.packet, self.device_index, vmac, vip, src6)
    }
}

/// A send-only packet socket for gratuitous ARP / unsolicited NA on any device (VRRS
/// pathways).
pub struct FrameSender {
    packet: OwnedFd,
}

impl FrameSender {
    pub fn open() -> anyhow::Result<FrameSender> {
        Ok(FrameSender {
            packet: open_packet_socket()?,
        })
    }

    /// `src6`: the IPv6 source of an NA (a link-local of the link); needed for IPv6 VIPs.
    pub fn send_gratuitous(
        &self,
        device_index: u32,
        mac: MacAddr,
        vip: IpAddr,
        src6: Option<Ipv6Addr>,
    ) -> anyhow::Result<()> {
        send_gratuitous(&self.packet, device_index, mac, vip, src6)
    }
}

/// Gratuitous ARP (sender = target = VIP) or unsolicited NA to ff02::1 (R and O flags, target
/// link-layer option = `mac`) as whole frames from `mac`.
fn send_gratuitous(
    fd: &OwnedFd,
    device_index: u32,
    mac: MacAddr,
    vip: IpAddr,
    src6: Option<Ipv6Addr>,
) -> anyhow::Result<()> {
    match vip {
        IpAddr::V4(v) => {
            let arp = packet::gratuitous_arp(mac, v);
            send_packet(fd, device_index, ETH_P_ARP, [0xff; 6], &arp)
                .with_context(|| format!("gratuitous ARP for {v}"))
        }
        IpAddr::V6(v) => {
            let src =
                src6.with_context(|| format!("no IPv6 link-local to send the NA for {v} from"))?;
            let mut na = packet::unsolicited_na(mac, v);
            let ck = packet::checksum(&na, Some((IpAddr::V6(src), IpAddr::V6(ALL_NODES_V6), 58)));
            na[2..4].copy_from_slice(&ck.to_be_bytes());
            let ip = packet::ipv6_packet(src, ALL_NODES_V6, 58, &na);
            send_packet(
                fd,
                device_index,
                ETH_P_IPV6,
                multicast_mac_v6(ALL_NODES_V6),
                &ip,
            )
            .with_context(|| format!("unsolicited NA for {v}"))
        }
    }
}

const ETH_P_IP: u16 = 0x0800;
const ETH_P_ARP: u16 = 0x0806;
const ETH_P_IPV6: u16 = 0x86dd;

/// 01:00:5e + the low 23 bits of an IPv4 multicast group (RFC 1112).
fn multicast_mac_v4(group: Ipv4Addr) -> [u8; 6] {
    let o = group.octets();
    [0x01, 0x00, 0x5e, o[1] & 0x7f, o[2], o[3]]
}

/// 33:33 + the low 32 bits of an IPv6 multicast group (RFC 2464).
fn multicast_mac_v6(group: Ipv6Addr) -> [u8; 6] {
    let o = group.octets();
    [0x33, 0x33, o[12], o[13], o[14], o[15]]
}

fn open_packet_socket() -> anyhow::Result<OwnedFd> {
    use nix::sys::socket::{AddressFamily, SockFlag, SockProtocol, SockType, socket};
    // Protocol 0: a send-only packet socket that never receives. SOCK_DGRAM: the kernel adds
    // the Ethernet header with the device's (virtual) MAC as source.
    let fd = socket(
        AddressFamily::Packet,
        SockType::Datagram,
        SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
        None::<SockProtocol>,
    )
    .context("AF_PACKET socket")?;
    // Straight to the driver: see the module docs (frames sent right after protodown is
    // lifted would otherwise be dropped silently by the noop qdisc).
    let one: libc::c_int = 1;
    // SAFETY: a valid fd, and a pointer/length pair describing one c_int.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_PACKET,
            libc::PACKET_QDISC_BYPASS,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error()).context("PACKET_QDISC_BYPASS");
    }
    Ok(fd)
}

fn send_packet(
    fd: &OwnedFd,
    device_index: u32,
    ethertype: u16,
    dst: [u8; 6],
    data: &[u8],
) -> io::Result<()> {
    // SAFETY: sockaddr_ll is plain old data; all fields we do not set are zero.
    let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    addr.sll_family = libc::AF_PACKET as u16;
    addr.sll_protocol = ethertype.to_be();
    addr.sll_ifindex =
        i32::try_from(device_index).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    addr.sll_halen = 6;
    addr.sll_addr[..6].copy_from_slice(&dst);
    // SAFETY: the buffer and address pointers are valid for the lengths given.
    let rc = unsafe {
        libc::sendto(
            fd.as_raw_fd(),
            data.as_ptr().cast(),
            data.len(),
            0,
            (&addr as *const libc::sockaddr_ll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Decode a received packet for a router of `version` that expects it sent to `dst` (the
/// VRRP group, or our address in unicast mode).
pub fn decode_for(
    pkt: &Received,
    version: u8,
    dst: IpAddr,
) -> Result<packet::Decoded, packet::DecodeError> {
    packet::decode_to(
        &pkt.payload,
        &packet::RxContext {
            src: pkt.src,
            dst: pkt.dst,
            ttl: pkt.ttl,
            version,
        },
        dst,
    )
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
        E::BadDestination(_) => c.address_list_errors += 1,
    }
    tracing::debug!(target: "netvrrp::packets", "dropped: {e}");
}
