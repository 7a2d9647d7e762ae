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
//! * Send: raw socket bound (`SO_BINDTODEVICE`) to the vrrp **macvlan**, so frames leave with
//!   the virtual MAC; multicast TTL/hop limit 255, TOS/traffic class 0xc0, loop off. The source
//!   address is our primary address on the parent (IPv4 primary; IPv6 link-local), bound with
//!   `IP_FREEBIND`/`IPV6_FREEBIND` because it lives on the parent, not on the macvlan. Using the
//!   parent's IPv6 link-local (as keepalived does) instead of the macvlan's random one keeps
//!   the advert source stable and known before the first takeover (FRR 8.4 loses one
//!   interval there because the macvlan's link-local does not exist while protodown is on).
//!   The VRRP checksum is computed by our encoder over that source.
//! * Gratuitous ARP: `AF_PACKET`/`SOCK_DGRAM` on the macvlan, the kernel adds the Ethernet
//!   header with the device's (virtual) MAC. Unsolicited NA: raw ICMPv6 socket on the macvlan
//!   (the kernel computes the ICMPv6 checksum), hop limit 255, to ff02::1.

use crate::types::{Family, MacAddr};
use crate::vrrp::packet;
use anyhow::Context;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::io;
use std::mem::MaybeUninit;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::num::NonZeroU32;
use std::os::fd::{AsRawFd, OwnedFd};
use tokio::io::unix::AsyncFd;

pub const VRRP_PROTO: i32 = 112;
pub const VRRP_GROUP_V4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
pub const VRRP_GROUP_V6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12);
const ALL_NODES_V6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
/// DSCP CS6 (network control), as RFC 9568 recommends and keepalived/FRR send.
const TOS_NETWORK_CONTROL: u32 = 0xc0;

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
                s.set_recv_hoplimit_v6(true)
                    .context("IPV6_RECVHOPLIMIT")?;
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
    advert: Socket,
    /// AF_PACKET (ARP) for IPv4, raw ICMPv6 for IPv6.
    gratuitous: OwnedFd,
}

impl TxSocket {
    pub fn open(family: Family, device_index: u32, source: IpAddr) -> anyhow::Result<TxSocket> {
        let idx = index(device_index)?;
        let (advert, gratuitous) = match (family, source) {
            (Family::Ipv4, IpAddr::V4(src)) => {
                let s = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::from(VRRP_PROTO)))
                    .context("raw IPv4 socket for VRRP")?;
                s.bind_device_by_index_v4(Some(idx))
                    .context("bind to the vrrp device")?;
                s.set_freebind_v4(true).context("IP_FREEBIND")?;
                s.bind(&SockAddr::from(SocketAddrV4::new(src, 0)))
                    .with_context(|| format!("bind to source {src}"))?;
                s.set_multicast_ttl_v4(255).context("multicast TTL 255")?;
                s.set_ttl_v4(255).context("TTL 255")?;
                s.set_tos_v4(TOS_NETWORK_CONTROL).context("TOS")?;
                s.set_multicast_loop_v4(false).context("multicast loop off")?;
                (s, open_arp_socket(device_index)?)
            }
            (Family::Ipv6, IpAddr::V6(src)) => {
                let s = Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::from(VRRP_PROTO)))
                    .context("raw IPv6 socket for VRRP")?;
                prepare_v6_sender(&s, device_index, src)?;
                let na = Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::ICMPV6))
                    .context("raw ICMPv6 socket for unsolicited NA")?;
                prepare_v6_sender(&na, device_index, src)?;
                (s, OwnedFd::from(na))
            }
            _ => anyhow::bail!("source {source} does not match family {family}"),
        };
        advert.set_nonblocking(true).context("non-blocking")?;
        Ok(TxSocket {
            family,
            device_index,
            source,
            advert,
            gratuitous,
        })
    }

    pub fn source(&self) -> IpAddr {
        self.source
    }

    /// Send one advert to the VRRP group.
    pub fn send_advert(&self, advert: &packet::Advert, pseudo_header_v4: bool) -> anyhow::Result<()> {
        let dst = match self.family {
            Family::Ipv4 => IpAddr::V4(VRRP_GROUP_V4),
            Family::Ipv6 => IpAddr::V6(VRRP_GROUP_V6),
        };
        let bytes = packet::encode(advert, self.source, dst, pseudo_header_v4);
        let to: SockAddr = match dst {
            IpAddr::V4(d) => SocketAddrV4::new(d, 0).into(),
            IpAddr::V6(d) => SocketAddrV6::new(d, 0, 0, self.device_index).into(),
        };
        self.advert
            .send_to(&bytes, &to)
            .with_context(|| format!("send advert to {dst}"))?;
        Ok(())
    }

    /// Gratuitous ARP (IPv4 VIP) or unsolicited NA (IPv6 VIP) from the virtual MAC.
    pub fn send_gratuitous(&self, vmac: MacAddr, vip: IpAddr) -> anyhow::Result<()> {
        match vip {
            IpAddr::V4(v) => {
                let arp = packet::gratuitous_arp(vmac, v);
                send_arp(&self.gratuitous, self.device_index, &arp)
                    .with_context(|| format!("gratuitous ARP for {v}"))
            }
            IpAddr::V6(v) => {
                let na = packet::unsolicited_na(vmac, v);
                let to: SockAddr = SocketAddrV6::new(ALL_NODES_V6, 0, 0, self.device_index).into();
                let sock = socket2::SockRef::from(&self.gratuitous);
                sock.send_to(&na, &to)
                    .with_context(|| format!("unsolicited NA for {v}"))?;
                Ok(())
            }
        }
    }
}

fn prepare_v6_sender(s: &Socket, device_index: u32, src: Ipv6Addr) -> anyhow::Result<()> {
    s.bind_device_by_index_v6(Some(index(device_index)?))
        .context("bind to the vrrp device")?;
    s.set_freebind_v6(true).context("IPV6_FREEBIND")?;
    s.bind(&SockAddr::from(SocketAddr::V6(SocketAddrV6::new(
        src,
        0,
        0,
        device_index,
    ))))
    .with_context(|| format!("bind to source {src}"))?;
    s.set_multicast_hops_v6(255).context("hop limit 255")?;
    s.set_unicast_hops_v6(255).context("hop limit 255")?;
    s.set_multicast_loop_v6(false).context("multicast loop off")?;
    s.set_multicast_if_v6(device_index)
        .context("IPV6_MULTICAST_IF")?;
    s.set_tclass_v6(TOS_NETWORK_CONTROL).context("traffic class")?;
    s.set_nonblocking(true).context("non-blocking")?;
    Ok(())
}

const ETH_P_ARP: u16 = 0x0806;

fn open_arp_socket(device_index: u32) -> anyhow::Result<OwnedFd> {
    use nix::sys::socket::{AddressFamily, SockFlag, SockProtocol, SockType, socket};
    // Protocol 0: a send-only packet socket that never receives.
    let fd = socket(
        AddressFamily::Packet,
        SockType::Datagram,
        SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
        None::<SockProtocol>,
    )
    .context("AF_PACKET socket for gratuitous ARP")?;
    let _ = device_index;
    Ok(fd)
}

fn send_arp(fd: &OwnedFd, device_index: u32, arp: &[u8]) -> io::Result<()> {
    // SAFETY: sockaddr_ll is plain old data; all fields we do not set are zero.
    let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    addr.sll_family = libc::AF_PACKET as u16;
    addr.sll_protocol = ETH_P_ARP.to_be();
    addr.sll_ifindex = i32::try_from(device_index).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    addr.sll_halen = 6;
    addr.sll_addr[..6].copy_from_slice(&[0xff; 6]);
    // SAFETY: the buffer and address pointers are valid for the lengths given.
    let rc = unsafe {
        libc::sendto(
            fd.as_raw_fd(),
            arp.as_ptr().cast(),
            arp.len(),
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

/// Decode a received packet for a router of `version`.
pub fn decode_for(pkt: &Received, version: u8) -> Result<packet::Decoded, packet::DecodeError> {
    packet::decode(
        &pkt.payload,
        &packet::RxContext {
            src: pkt.src,
            dst: pkt.dst,
            ttl: pkt.ttl,
            version,
        },
    )
}

/// Count a dropped packet under its own counter.
pub fn count_drop(c: &mut crate::vrrp::router::Counters, e: &packet::DecodeError) {
    use packet::DecodeError as E;
    match e {
        E::BadTtl(_) => c.ttl_errors += 1,
        E::Truncated(_) | E::Oversized(_) | E::BadLength { .. } => c.length_errors += 1,
        E::BadVersion(..) => c.version_errors += 1,
        E::BadType(_) => c.type_errors += 1,
        E::BadChecksum { .. } => c.checksum_errors += 1,
        E::BadAuthType(_) => c.auth_type_errors += 1,
        E::BadDestination(_) => c.address_list_errors += 1,
    }
    tracing::debug!(target: "netvrrp::packets", "dropped: {e}");
}
