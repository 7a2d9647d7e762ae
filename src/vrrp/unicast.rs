//! Unicast mode (`unicast-peers`, keepalived's `unicast_peer`) for links that carry no
//! multicast: every advert goes to each listed peer as a unicast packet.
//!
//! Sending: one raw socket (protocol 112) per instance, bound to the **parent** and to our
//! primary address on it (the parent's first IPv4 address, or its IPv6 link-local — the same
//! source as in multicast mode, so peers and the equal-priority tie-break see one address).
//! The kernel writes the IP header (TTL / hop limit 255 and TOS / traffic class 0xc0 are set
//! on the socket) and resolves the peer's MAC (ARP / ND) like for any unicast packet; we
//! compute the VRRP checksum over the real source and destination. The frames carry the
//! parent's MAC, not the virtual MAC: the virtual MAC is announced by the gratuitous ARP / NA
//! of a takeover, which are sent as in multicast mode. IPv6 peers are link-local (RFC 9568
//! sends adverts from the link-local address; the scope is the parent).
//!
//! Receiving needs no socket of its own: the per-parent raw receive sockets (see
//! [`super::net`]) see every protocol-112 packet delivered to this host on the parent,
//! unicast included. The destination check then expects our primary address instead of the
//! VRRP group ([`expected_destination`]), and only the listed peers are heard.

use crate::types::Family;
use crate::vrrp::packet;
use anyhow::Context;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::net::{IpAddr, SocketAddr, SocketAddrV6};

/// The destination a received advert must carry: the VRRP group, or in unicast mode the
/// address we send from (peers address us there).
pub fn expected_destination(family: Family, unicast: bool, primary: IpAddr) -> IpAddr {
    match (unicast, family) {
        (true, _) => primary,
        (false, family) => packet::vrrp_group(family),
    }
}

/// The peers of one family from a router's `unicast-peers`.
pub fn peers_of(all: &[IpAddr], family: Family) -> Vec<IpAddr> {
    all.iter()
        .copied()
        .filter(|a| {
            matches!(
                (family, a),
                (Family::Ipv4, IpAddr::V4(_)) | (Family::Ipv6, IpAddr::V6(_))
            )
        })
        .collect()
}

/// Sends one instance's adverts to its unicast peers.
pub struct UnicastSender {
    sock: Socket,
    source: IpAddr,
    /// Where each advert goes (IPv6: with the parent as scope).
    peers: Vec<(IpAddr, SockAddr)>,
}

impl UnicastSender {
    pub fn open(
        family: Family,
        parent_index: u32,
        source: IpAddr,
        peers: &[IpAddr],
    ) -> anyhow::Result<UnicastSender> {
        let idx = std::num::NonZeroU32::new(parent_index).context("interface index 0")?;
        let proto = Some(Protocol::from(i32::from(packet::VRRP_PROTOCOL)));
        let sock = match (family, source) {
            (Family::Ipv4, IpAddr::V4(_)) => {
                let s = Socket::new(Domain::IPV4, Type::RAW, proto)
                    .context("raw IPv4 socket for unicast VRRP")?;
                s.bind_device_by_index_v4(Some(idx))
                    .context("bind to the parent")?;
                s.set_ttl_v4(255).context("IP_TTL 255")?;
                s.set_tos_v4(0xc0).context("IP_TOS 0xc0")?;
                s
            }
            (Family::Ipv6, IpAddr::V6(_)) => {
                let s = Socket::new(Domain::IPV6, Type::RAW, proto)
                    .context("raw IPv6 socket for unicast VRRP")?;
                s.bind_device_by_index_v6(Some(idx))
                    .context("bind to the parent")?;
                s.set_unicast_hops_v6(255)
                    .context("IPV6_UNICAST_HOPS 255")?;
                s.set_tclass_v6(0xc0).context("IPV6_TCLASS 0xc0")?;
                s
            }
            _ => anyhow::bail!("source {source} does not match family {family}"),
        };
        // Our address as source whatever the route would pick (a link-local needs its scope).
        sock.bind(&scoped(source, parent_index))
            .with_context(|| format!("bind to {source}"))?;
        sock.set_nonblocking(true).context("non-blocking")?;
        let peers = peers_of(peers, family)
            .into_iter()
            .map(|p| (p, scoped(p, parent_index)))
            .collect();
        Ok(UnicastSender {
            sock,
            source,
            peers,
        })
    }

    /// Send the advert to every peer. A failure for one peer (no neighbour entry yet, a full
    /// queue) does not keep the advert from the others; the first error is returned.
    pub fn send_advert(
        &self,
        advert: &packet::Advert,
        pseudo_header_v4: bool,
    ) -> anyhow::Result<()> {
        let mut first_err = None;
        for (peer, addr) in &self.peers {
            let bytes = packet::encode(advert, self.source, *peer, pseudo_header_v4);
            if let Err(e) = self.sock.send_to(&bytes, addr)
                && first_err.is_none()
            {
                first_err = Some(anyhow::Error::from(e).context(format!("send advert to {peer}")));
            }
        }
        first_err.map_or(Ok(()), Err)
    }
}

fn scoped(a: IpAddr, parent_index: u32) -> SockAddr {
    match a {
        IpAddr::V4(v4) => SockAddr::from(SocketAddr::from((v4, 0))),
        IpAddr::V6(v6) => {
            let scope = if (v6.segments()[0] & 0xffc0) == 0xfe80 {
                parent_index
            } else {
                0
            };
            SockAddr::from(SocketAddrV6::new(v6, 0, 0, scope))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destination_and_peer_split() {
        let p4: IpAddr = "192.0.2.1".parse().unwrap();
        assert_eq!(
            expected_destination(Family::Ipv4, false, p4),
            "224.0.0.18".parse::<IpAddr>().unwrap()
        );
        assert_eq!(expected_destination(Family::Ipv4, true, p4), p4);
        let p6: IpAddr = "fe80::1".parse().unwrap();
        assert_eq!(
            expected_destination(Family::Ipv6, false, p6),
            "ff02::12".parse::<IpAddr>().unwrap()
        );
        assert_eq!(expected_destination(Family::Ipv6, true, p6), p6);
        let all: Vec<IpAddr> = vec![
            "192.0.2.2".parse().unwrap(),
            "fe80::2".parse().unwrap(),
            "192.0.2.3".parse().unwrap(),
        ];
        assert_eq!(peers_of(&all, Family::Ipv4), vec![all[0], all[2]]);
        assert_eq!(peers_of(&all, Family::Ipv6), vec![all[1]]);
    }

    #[test]
    fn link_locals_get_the_parent_as_scope() {
        let s = scoped("fe80::2".parse().unwrap(), 7);
        assert_eq!(s.as_socket_ipv6().map(|a| a.scope_id()), Some(7));
        let s = scoped("2001:db8::2".parse().unwrap(), 7);
        assert_eq!(s.as_socket_ipv6().map(|a| a.scope_id()), Some(0));
    }
}
