//! Addresses and MACs as the file writes them, and what makes one unusable for a VIP.

use super::*;

/// Why a MAC cannot be a pathway MAC.
pub(super) fn mac_problem(m: MacAddr) -> Option<&'static str> {
    let o = m.octets();
    if o == [0; 6] {
        Some("is the all-zero MAC")
    } else if o[0] & 1 == 1 {
        Some("is a multicast MAC; a pathway MAC must be unicast")
    } else if o[..5] == [0x00, 0x00, 0x5e, 0x00, 0x01] || o[..5] == [0x00, 0x00, 0x5e, 0x00, 0x02] {
        // netvrrp recognises its VRRP devices by these MACs (and autoconfigure discovers
        // routers by them), so a pathway using one would be taken for a router.
        Some(
            "is a VRRP virtual MAC (00:00:5e:00:01:xx / 00:00:5e:00:02:xx), reserved for [[vrrp]] devices",
        )
    } else {
        None
    }
}

pub(super) fn v4_problem(a: Ipv4Addr) -> Option<&'static str> {
    if a.is_unspecified() {
        Some("the unspecified address")
    } else if a.is_multicast() {
        Some("a multicast address")
    } else if a.is_loopback() {
        Some("a loopback address")
    } else if a.is_broadcast() {
        Some("the broadcast address")
    } else {
        None
    }
}

pub(super) fn v6_problem(a: Ipv6Addr) -> Option<&'static str> {
    if a.is_unspecified() {
        Some("the unspecified address")
    } else if a.is_multicast() {
        Some("a multicast address")
    } else if a.is_loopback() {
        Some("the loopback address")
    } else if a.to_ipv4_mapped().is_some() {
        Some("an IPv4-mapped address")
    } else {
        None
    }
}

/// `a.b.c.d/len` or a bare address (= /32).
pub(crate) fn parse_v4(s: &str) -> Result<Ipv4Net, String> {
    let net = if s.contains('/') {
        s.parse::<Ipv4Net>().ok()
    } else {
        s.parse::<Ipv4Addr>().ok().map(Ipv4Net::from)
    };
    let Some(net) = net else {
        if parse_v6(s).is_ok() {
            return Err(format!("`{s}` is an IPv6 address: put it in `ipv6`"));
        }
        return Err(format!(
            "`{s}` is not an IPv4 address or prefix (a.b.c.d or a.b.c.d/len)"
        ));
    };
    match v4_problem(net.addr()) {
        Some(p) => Err(format!("`{s}` is {p} and cannot be configured")),
        None => Ok(net),
    }
}

/// `addr/len` or a bare address (= /128).
pub(crate) fn parse_v6(s: &str) -> Result<Ipv6Net, String> {
    let net = if s.contains('/') {
        s.parse::<Ipv6Net>().ok()
    } else {
        s.parse::<Ipv6Addr>().ok().map(Ipv6Net::from)
    };
    let Some(net) = net else {
        if s.split('/')
            .next()
            .is_some_and(|a| a.parse::<Ipv4Addr>().is_ok())
        {
            return Err(format!("`{s}` is an IPv4 address: put it in `ipv4`"));
        }
        return Err(format!(
            "`{s}` is not an IPv6 address or prefix (addr or addr/len)"
        ));
    };
    match v6_problem(net.addr()) {
        Some(p) => Err(format!("`{s}` is {p} and cannot be configured")),
        None => Ok(net),
    }
}

pub(super) fn parse_any(s: &str) -> Result<IpNet, String> {
    let is_v6 = s.split('/').next().is_some_and(|a| a.contains(':'));
    if is_v6 {
        parse_v6(s).map(IpNet::V6)
    } else {
        parse_v4(s).map(IpNet::V4).map_err(|_| {
            format!("`{s}` is not an IP address or prefix (a.b.c.d[/len] or addr[/len])")
        })
    }
}
