//! The layers around a VRRP message, sans-IO: Ethernet headers, IPv4 and IPv6 headers (built
//! and parsed), the Internet checksum, and the gratuitous ARP / unsolicited NA payloads a new
//! Master sends. The VRRP message itself is [`super::packet`]'s; the sockets that carry
//! these frames are [`super::net`]'s.
//!
//! Everything here writes into or reads from caller-provided buffers, so the send path
//! ([`super::net::FrameBatch`]) builds a whole frame in a reused buffer without allocating.

use crate::types::MacAddr;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub const IPV4_HEADER_LEN: usize = 20;
pub const IPV6_HEADER_LEN: usize = 40;

/// Ethertypes of the frames the runtime sends.
pub const ETH_P_IP: u16 = 0x0800;
pub const ETH_P_ARP: u16 = 0x0806;
pub const ETH_P_IPV6: u16 = 0x86dd;
pub const ETH_BROADCAST: [u8; 6] = [0xff; 6];

/// IPv6 next header of ICMPv6 (the unsolicited NA).
pub const ICMPV6_PROTOCOL: u8 = 58;
/// Where unsolicited NAs go (RFC 4861 section 7.2.6: the all-nodes group).
pub const ALL_NODES_V6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

/// Append an Ethernet header (no VLAN tag) to `out`.
pub fn write_ethernet_header(out: &mut Vec<u8>, dst: [u8; 6], src: MacAddr, ethertype: u16) {
    out.extend_from_slice(&dst);
    out.extend_from_slice(&src.octets());
    out.extend_from_slice(&ethertype.to_be_bytes());
}

/// 01:00:5e + the low 23 bits of an IPv4 multicast group (RFC 1112).
pub fn multicast_mac_v4(group: Ipv4Addr) -> [u8; 6] {
    let o = group.octets();
    [0x01, 0x00, 0x5e, o[1] & 0x7f, o[2], o[3]]
}

/// 33:33 + the low 32 bits of an IPv6 multicast group (RFC 2464).
pub fn multicast_mac_v6(group: Ipv6Addr) -> [u8; 6] {
    let o = group.octets();
    [0x33, 0x33, o[12], o[13], o[14], o[15]]
}

/// Ones-complement sum of 16-bit words.
fn sum16(data: &[u8], mut acc: u32) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        acc += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        acc += u32::from(*last) << 8;
    }
    acc
}

fn fold(mut acc: u32) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    !(acc as u16)
}

/// The sum of the IPv4 (RFC 768 style) or IPv6 (RFC 8200 section 8.1) pseudo-header; the
/// field order differs but the sum does not.
fn pseudo_sum(src: IpAddr, dst: IpAddr, len: usize, proto: u8) -> u32 {
    let mut acc = 0;
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            acc = sum16(&s.octets(), acc);
            acc = sum16(&d.octets(), acc);
            acc += u32::from(proto);
            acc += len as u32;
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            acc = sum16(&s.octets(), acc);
            acc = sum16(&d.octets(), acc);
            acc += len as u32;
            acc += u32::from(proto);
        }
        _ => {}
    }
    acc
}

/// Internet checksum of `msg`, with or without a pseudo-header (source, destination,
/// protocol). With the checksum field zeroed it is the value to write; over a message that
/// carries its checksum it is 0 when that checksum verifies.
pub fn checksum(msg: &[u8], pseudo: Option<(IpAddr, IpAddr, u8)>) -> u16 {
    let acc = match pseudo {
        Some((s, d, proto)) => pseudo_sum(s, d, msg.len(), proto),
        None => 0,
    };
    fold(sum16(msg, acc))
}

/// An IPv4 packet around `payload` (no options): TOS 0xc0 (network control), DF set with
/// identification 0 (an atomic datagram, RFC 6864), TTL 255, header checksum filled in.
pub fn ipv4_packet(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0u8; IPV4_HEADER_LEN];
    p.extend_from_slice(payload);
    write_ipv4_header(&mut p, src, dst, protocol);
    p
}

/// Fill in the IPv4 header at the start of `packet` (its first [`IPV4_HEADER_LEN`] bytes,
/// reserved by the caller) for the payload that follows it; see [`ipv4_packet`].
pub fn write_ipv4_header(packet: &mut [u8], src: Ipv4Addr, dst: Ipv4Addr, protocol: u8) {
    let total = u16::try_from(packet.len()).unwrap_or(u16::MAX);
    let h = &mut packet[..IPV4_HEADER_LEN];
    h[0..2].copy_from_slice(&[0x45, 0xc0]);
    h[2..4].copy_from_slice(&total.to_be_bytes());
    h[4..8].copy_from_slice(&[0, 0, 0x40, 0]); // identification 0, DF, fragment offset 0
    h[8] = 255;
    h[9] = protocol;
    h[10..12].copy_from_slice(&[0, 0]);
    h[12..16].copy_from_slice(&src.octets());
    h[16..20].copy_from_slice(&dst.octets());
    let ck = checksum(h, None);
    h[10..12].copy_from_slice(&ck.to_be_bytes());
}

/// An IPv6 packet around `payload`: traffic class 0xc0 (network control), hop limit 255.
pub fn ipv6_packet(src: Ipv6Addr, dst: Ipv6Addr, next_header: u8, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0u8; IPV6_HEADER_LEN];
    p.extend_from_slice(payload);
    write_ipv6_header(&mut p, src, dst, next_header);
    p
}

/// Fill in the IPv6 header at the start of `packet` (its first [`IPV6_HEADER_LEN`] bytes,
/// reserved by the caller) for the payload that follows it; see [`ipv6_packet`].
pub fn write_ipv6_header(packet: &mut [u8], src: Ipv6Addr, dst: Ipv6Addr, next_header: u8) {
    let payload_len =
        u16::try_from(packet.len().saturating_sub(IPV6_HEADER_LEN)).unwrap_or(u16::MAX);
    let h = &mut packet[..IPV6_HEADER_LEN];
    // version 6, traffic class 0xc0, flow label 0
    h[0..4].copy_from_slice(&[0x6c, 0x00, 0x00, 0x00]);
    h[4..6].copy_from_slice(&payload_len.to_be_bytes());
    h[6] = next_header;
    h[7] = 255;
    h[8..24].copy_from_slice(&src.octets());
    h[24..40].copy_from_slice(&dst.octets());
}

/// Split a received IPv4 packet: (source, destination, TTL, payload). None when the header is
/// malformed (the IHL is honoured, so IP options are skipped correctly). The raw IPv4
/// receive socket hands the header over, so this is what reads it.
pub fn parse_ipv4(data: &[u8]) -> Option<(Ipv4Addr, Ipv4Addr, u8, &[u8])> {
    let first = *data.first()?;
    if first >> 4 != 4 {
        return None;
    }
    let ihl = usize::from(first & 0x0f) * 4;
    if ihl < IPV4_HEADER_LEN || data.len() < ihl {
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

/// Split an IPv6 packet without extension headers: (source, destination, hop limit, next
/// header, payload). None when it is not IPv6 or shorter than its header; a payload length
/// beyond the data is cut to the data. The raw IPv6 receive socket never sees the header
/// (hop limit and destination arrive as control messages, see [`super::net`]): this reads
/// frames the runtime built and packets captured off the wire.
pub fn parse_ipv6(data: &[u8]) -> Option<(Ipv6Addr, Ipv6Addr, u8, u8, &[u8])> {
    if data.len() < IPV6_HEADER_LEN || data[0] >> 4 != 6 {
        return None;
    }
    let mut src = [0u8; 16];
    src.copy_from_slice(&data[8..24]);
    let mut dst = [0u8; 16];
    dst.copy_from_slice(&data[24..40]);
    let len = usize::from(u16::from_be_bytes([data[4], data[5]]));
    let end = (IPV6_HEADER_LEN + len).min(data.len());
    Some((
        Ipv6Addr::from(src),
        Ipv6Addr::from(dst),
        data[7],
        data[6],
        &data[IPV6_HEADER_LEN..end],
    ))
}

/// The 28-byte ARP payload of a gratuitous ARP request for `vip` from `vmac` (sender and
/// target protocol address both the VIP, as keepalived and FRR send; the Ethernet header,
/// broadcast, is added by the caller).
pub fn gratuitous_arp(vmac: MacAddr, vip: Ipv4Addr) -> [u8; 28] {
    let mut p = [0u8; 28];
    p[0..2].copy_from_slice(&1u16.to_be_bytes()); // Ethernet
    p[2..4].copy_from_slice(&ETH_P_IP.to_be_bytes()); // IPv4
    p[4] = 6;
    p[5] = 4;
    p[6..8].copy_from_slice(&1u16.to_be_bytes()); // request
    p[8..14].copy_from_slice(&vmac.octets());
    p[14..18].copy_from_slice(&vip.octets());
    // target hardware address stays zero
    p[24..28].copy_from_slice(&vip.octets());
    p
}

/// ICMPv6 Neighbor Advertisement for `target` with the Router and Override flags and a
/// target link-layer address option carrying `vmac`, checksum left zero (see
/// [`unsolicited_na_from`] for one ready to send).
pub fn unsolicited_na(vmac: MacAddr, target: Ipv6Addr) -> [u8; 32] {
    let mut p = [0u8; 32];
    p[0] = 136; // Neighbor Advertisement
    p[4] = 0x80 | 0x20; // R (router) and O (override); S is clear: nobody solicited
    p[8..24].copy_from_slice(&target.octets());
    p[24] = 2; // target link-layer address option
    p[25] = 1; // length in units of 8 bytes
    p[26..32].copy_from_slice(&vmac.octets());
    p
}

/// [`unsolicited_na`] with its checksum over the pseudo-header of a packet from `src` to
/// [`ALL_NODES_V6`], the packet it is sent in.
pub fn unsolicited_na_from(vmac: MacAddr, target: Ipv6Addr, src: Ipv6Addr) -> [u8; 32] {
    let mut na = unsolicited_na(vmac, target);
    let ck = checksum(
        &na,
        Some((IpAddr::V6(src), IpAddr::V6(ALL_NODES_V6), ICMPV6_PROTOCOL)),
    );
    na[2..4].copy_from_slice(&ck.to_be_bytes());
    na
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Family;
    use crate::vrrp::packet::{VRRP_GROUP_V4, VRRP_GROUP_V6, VRRP_PROTOCOL};

    const VIP4: &str = "10.99.0.254";
    const VIP6: &str = "2001:db8:99::254";

    // ledger: R9568-5.1.1.3-a R9568-7.2-b
    #[test]
    fn ipv4_header_for_adverts() {
        let src: Ipv4Addr = "10.99.0.1".parse().unwrap();
        let dst = VRRP_GROUP_V4;
        // keepalived's v3 advert for VRID 10, priority 200, 10.99.0.254.
        let msg = [
            0x31, 0x0a, 0xc8, 0x01, 0x00, 0x64, 0x10, 0x3c, 0x0a, 0x63, 0x00, 0xfe,
        ];
        let p = ipv4_packet(src, dst, VRRP_PROTOCOL, &msg);
        assert_eq!(p.len(), 32);
        assert_eq!(&p[..2], &[0x45, 0xc0]);
        assert_eq!(u16::from_be_bytes([p[2], p[3]]), 32);
        assert_eq!((p[8], p[9]), (255, VRRP_PROTOCOL));
        assert_eq!(checksum(&p[..20], None), 0, "header checksum verifies");
        assert_eq!(&p[12..16], &src.octets());
        assert_eq!(&p[16..20], &dst.octets());
        assert_eq!(&p[20..], &msg[..]);
        // What the receive side parses back.
        let (s, d, ttl, payload) = parse_ipv4(&p).unwrap();
        assert_eq!((s, d, ttl, payload), (src, dst, 255, &msg[..]));
    }

    #[test]
    fn ipv6_header_round_trip() {
        let src: Ipv6Addr = "fe80::1".parse().unwrap();
        let payload = [1u8, 2, 3, 4, 5];
        let p = ipv6_packet(src, VRRP_GROUP_V6, VRRP_PROTOCOL, &payload);
        assert_eq!(p.len(), IPV6_HEADER_LEN + 5);
        assert_eq!(&p[..4], &[0x6c, 0, 0, 0], "version 6, traffic class 0xc0");
        assert_eq!(
            parse_ipv6(&p),
            Some((src, VRRP_GROUP_V6, 255, VRRP_PROTOCOL, &payload[..]))
        );
        assert_eq!(parse_ipv6(&p[..39]), None);
        assert_eq!(
            parse_ipv6(&ipv4_packet(VRRP_GROUP_V4, VRRP_GROUP_V4, 1, &[])),
            None
        );
    }

    #[test]
    fn ipv4_parse_honours_options_and_refuses_garbage() {
        let mut p = ipv4_packet(VRRP_GROUP_V4, VRRP_GROUP_V4, VRRP_PROTOCOL, &[9; 8]);
        // Grow the header to 24 bytes (IHL 6): the payload starts after the option.
        p.splice(20..20, [1, 1, 1, 1]);
        p[0] = 0x46;
        p[2..4].copy_from_slice(&32u16.to_be_bytes());
        assert_eq!(parse_ipv4(&p).map(|r| r.3), Some(&[9u8; 8][..]));
        assert_eq!(parse_ipv4(&[]), None);
        assert_eq!(parse_ipv4(&[0x44; 20]), None, "IHL under 5");
        assert_eq!(parse_ipv4(&p[..23]), None, "shorter than its IHL");
    }

    #[test]
    fn multicast_macs() {
        assert_eq!(multicast_mac_v4(VRRP_GROUP_V4), [1, 0, 0x5e, 0, 0, 0x12]);
        assert_eq!(multicast_mac_v6(VRRP_GROUP_V6), [0x33, 0x33, 0, 0, 0, 0x12]);
        assert_eq!(multicast_mac_v6(ALL_NODES_V6), [0x33, 0x33, 0, 0, 0, 1]);
    }

    // ledger: R9568-6.4.1-b R9568-8.2.2-e
    #[test]
    fn gratuitous_payloads() {
        let vmac = MacAddr::vrrp(Family::Ipv4, 10);
        let arp = gratuitous_arp(vmac, VIP4.parse().unwrap());
        assert_eq!(&arp[8..14], &vmac.octets());
        assert_eq!(&arp[14..18], &arp[24..28]);
        let na = unsolicited_na(vmac, VIP6.parse().unwrap());
        assert_eq!(na[0], 136);
        assert_eq!(na[4], 0xa0);
        assert_eq!(&na[26..32], &vmac.octets());
        let ll: Ipv6Addr = "fe80::1".parse().unwrap();
        let sent = unsolicited_na_from(vmac, VIP6.parse().unwrap(), ll);
        assert_eq!(
            checksum(
                &sent,
                Some((IpAddr::V6(ll), IpAddr::V6(ALL_NODES_V6), ICMPV6_PROTOCOL))
            ),
            0,
            "the NA checksum verifies over the pseudo-header"
        );
    }
}
