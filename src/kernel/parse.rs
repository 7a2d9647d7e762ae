//! rtnetlink payloads → the crate's kernel types, and the enums we write.
//!
//! Replies are parsed here from raw bytes rather than through netlink-packet-route: its
//! parser builds every attribute of every link (devconf arrays, stats, ...) and is ~10x
//! slower than reading the dozen attributes a snapshot needs; 1,000 links went from ~40 ms
//! to a few ms. Unknown or malformed attributes are skipped, never fatal.

use super::{LinkInfo, MacvlanMode};
use crate::types::{AddrGenMode, MacAddr};
use ipnet::IpNet;
use netlink_packet_route::link::{In6AddrGenMode, MacVlanMode};
use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

// rtnetlink message types (linux/rtnetlink.h).
pub(crate) const RTM_NEWLINK: u16 = 16;
pub(crate) const RTM_DELLINK: u16 = 17;
pub(crate) const RTM_NEWADDR: u16 = 20;
pub(crate) const RTM_DELADDR: u16 = 21;

// linux/if_link.h
const IFLA_ADDRESS: u16 = 1;
const IFLA_IFNAME: u16 = 3;
const IFLA_LINK: u16 = 5;
const IFLA_OPERSTATE: u16 = 16;
const IFLA_LINKINFO: u16 = 18;
const IFLA_AF_SPEC: u16 = 26;
const IFLA_LINK_NETNSID: u16 = 37;
const IFLA_GROUP: u16 = 27;
const IFLA_PROTO_DOWN: u16 = 39;
const IFLA_PROTO_DOWN_REASON: u16 = 55;
const IFLA_PROTO_DOWN_REASON_VALUE: u16 = 2;
const IFLA_INFO_KIND: u16 = 1;
const IFLA_INFO_DATA: u16 = 2;
const IFLA_MACVLAN_MODE: u16 = 1;
const IFLA_INET6_CONF: u16 = 2;
const IFLA_INET6_ADDR_GEN_MODE: u16 = 8;
// Indexes into the IFLA_INET6_CONF array (linux/ipv6.h DEVCONF_*).
const DEVCONF_ACCEPT_RA: usize = 3;
const DEVCONF_AUTOCONF: usize = 5;
const DEVCONF_DAD_TRANSMITS: usize = 6;
const DEVCONF_DISABLE_IPV6: usize = 26;
const DEVCONF_ACCEPT_DAD: usize = 27;
const DEVCONF_ENHANCED_DAD: usize = 46;
const DEVCONF_IGNORE_ROUTES_WITH_LINKDOWN: usize = 39;
// IFLA_AF_SPEC / AF_INET: the IPv4 devconf array; element i is IPV4_DEVCONF_(i+1)
// (linux/ip.h), IGNORE_ROUTES_WITH_LINKDOWN being 29.
const IFLA_INET_CONF: u16 = 1;
const IPV4_DEVCONF_IGNORE_ROUTES_WITH_LINKDOWN: usize = 28;
// linux/if_addr.h
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
/// IFA_PROTO (Linux 5.18+): who made the address; absent for addresses added by userspace.
const IFA_PROTO: u16 = 11;
/// IFAPROT_KERNEL_LL: a link-local addrconf generated.
const IFAPROT_KERNEL_LL: u8 = 3;

const AF_INET: u8 = libc::AF_INET as u8;
const AF_INET6: u8 = libc::AF_INET6 as u8;
const IFF_UP: u32 = libc::IFF_UP as u32;
const IFF_LOWER_UP: u32 = 0x10000;
const IFINFOMSG_LEN: usize = 16;
const IFADDRMSG_LEN: usize = 8;

/// Iterator over the (type, value) attributes of a netlink attribute area.
struct Attrs<'a>(&'a [u8]);

impl<'a> Iterator for Attrs<'a> {
    type Item = (u16, &'a [u8]);
    fn next(&mut self) -> Option<Self::Item> {
        let buf = self.0;
        if buf.len() < 4 {
            return None;
        }
        let len = u16::from_ne_bytes([buf[0], buf[1]]) as usize;
        // NLA_F_NESTED and NLA_F_NET_BYTEORDER are flags, not part of the type.
        let kind = u16::from_ne_bytes([buf[2], buf[3]]) & 0x3fff;
        if len < 4 || len > buf.len() {
            self.0 = &[];
            return None;
        }
        let value = &buf[4..len];
        self.0 = buf.get((len + 3) & !3..).unwrap_or(&[]);
        Some((kind, value))
    }
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn i32_at(b: &[u8], at: usize) -> Option<i32> {
    Some(i32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// A NUL-terminated attribute string.
fn text(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

/// The ifindex of an RTM_NEWLINK/RTM_DELLINK payload.
pub(crate) fn link_index(payload: &[u8]) -> Option<u32> {
    u32_at(payload, 4)
}

/// One link from an RTM_NEWLINK/RTM_DELLINK payload (ifinfomsg + attributes). `addresses`
/// is empty: addresses come from the address dump.
pub(crate) fn link_from_payload(payload: &[u8]) -> Option<LinkInfo> {
    let index = link_index(payload)?;
    let flags = u32_at(payload, 8)?;
    let mut link = LinkInfo {
        index,
        name: String::new(),
        kind: None,
        macvlan_mode: None,
        parent_index: None,
        mac: None,
        addrgenmode: None,
        protodown: false,
        protodown_reason: 0,
        admin_up: flags & IFF_UP != 0,
        carrier: flags & IFF_LOWER_UP != 0,
        operstate: Cow::Borrowed("unknown"),
        addresses: Vec::new(),
        kernel_link_locals: Vec::new(),
        ra_host_sysctls: None,
        dad_sysctls: None,
        disable_ipv6: None,
        ipv4_ignore_linkdown: None,
        ipv6_ignore_linkdown: None,
        group: 0,
    };
    let mut parent_in_other_netns = false;
    for (kind, value) in Attrs(payload.get(IFINFOMSG_LEN..)?) {
        match kind {
            IFLA_IFNAME => link.name = text(value),
            IFLA_ADDRESS => {
                if let Ok(octets) = <[u8; 6]>::try_from(value) {
                    link.mac = Some(MacAddr(octets));
                }
            }
            IFLA_LINK => link.parent_index = u32_at(value, 0),
            // IFLA_LINK then names an ifindex of ANOTHER namespace (e.g. a macvlan moved
            // away from its lower device): it must not be matched against our links.
            IFLA_LINK_NETNSID => parent_in_other_netns = true,
            IFLA_PROTO_DOWN => link.protodown = value.first().is_some_and(|&v| v != 0),
            IFLA_GROUP => link.group = u32_at(value, 0).unwrap_or(0),
            IFLA_PROTO_DOWN_REASON => {
                for (k, v) in Attrs(value) {
                    if k == IFLA_PROTO_DOWN_REASON_VALUE {
                        link.protodown_reason = u32_at(v, 0).unwrap_or(0);
                    }
                }
            }
            IFLA_OPERSTATE => {
                if let Some(&s) = value.first() {
                    link.operstate = operstate_text(s);
                }
            }
            IFLA_LINKINFO => parse_linkinfo(value, &mut link),
            IFLA_AF_SPEC => {
                for (family, spec) in Attrs(value) {
                    if family == AF_INET6 as u16 {
                        parse_inet6(spec, &mut link);
                    } else if family == AF_INET as u16 {
                        for (kind, v) in Attrs(spec) {
                            if kind == IFLA_INET_CONF {
                                link.ipv4_ignore_linkdown =
                                    i32_at(v, IPV4_DEVCONF_IGNORE_ROUTES_WITH_LINKDOWN * 4)
                                        .map(|x| x != 0);
                            }
                        }
                    }
                }
            }
            _ => {}
        }
    }
    if parent_in_other_netns {
        link.parent_index = None;
    }
    Some(link)
}

fn parse_linkinfo(value: &[u8], link: &mut LinkInfo) {
    let mut data = None;
    for (kind, v) in Attrs(value) {
        match kind {
            IFLA_INFO_KIND => link.kind = Some(kind_text(v)),
            IFLA_INFO_DATA => data = Some(v),
            _ => {}
        }
    }
    // IFLA_INFO_DATA's layout depends on the kind (macvtap shares macvlan's).
    if let (Some("macvlan" | "macvtap"), Some(data)) = (link.kind.as_deref(), data) {
        for (kind, v) in Attrs(data) {
            if kind == IFLA_MACVLAN_MODE
                && let Some(mode) = u32_at(v, 0)
            {
                link.macvlan_mode = Some(macvlan_mode_from_nl(MacVlanMode::from(mode)));
            }
        }
    }
}

fn parse_inet6(spec: &[u8], link: &mut LinkInfo) {
    for (kind, v) in Attrs(spec) {
        match kind {
            IFLA_INET6_ADDR_GEN_MODE => {
                link.addrgenmode = v
                    .first()
                    .and_then(|&m| addrgenmode_from_nl(In6AddrGenMode::from(m)));
            }
            // The DAD sysctls are these fields of the device's inet6 config, the same
            // values /proc/sys/net/ipv6/conf/<dev>/ shows; reading them here saves three
            // file reads per device.
            IFLA_INET6_CONF => {
                let at = |i: usize| i32_at(v, i * 4);
                if let (Some(a), Some(d), Some(e)) = (
                    at(DEVCONF_ACCEPT_DAD),
                    at(DEVCONF_DAD_TRANSMITS),
                    at(DEVCONF_ENHANCED_DAD),
                ) {
                    link.dad_sysctls = Some([a, d, e]);
                }
                if let (Some(ra), Some(auto)) = (at(DEVCONF_ACCEPT_RA), at(DEVCONF_AUTOCONF)) {
                    link.ra_host_sysctls = Some([ra, auto]);
                }
                link.disable_ipv6 = i32_at(v, DEVCONF_DISABLE_IPV6 * 4).map(|x| x != 0);
                link.ipv6_ignore_linkdown =
                    i32_at(v, DEVCONF_IGNORE_ROUTES_WITH_LINKDOWN * 4).map(|x| x != 0);
            }
            _ => {}
        }
    }
}

/// (ifindex, address with prefix length) of an RTM_NEWADDR/RTM_DELADDR payload.
pub(crate) fn address_from_payload(payload: &[u8]) -> Option<(u32, IpNet)> {
    let family = *payload.first()?;
    let prefix_len = *payload.get(1)?;
    let index = u32_at(payload, 4)?;
    // IFA_LOCAL is the interface's own address; IFA_ADDRESS is the peer on point-to-point
    // links and the only attribute for ordinary IPv6 addresses.
    let mut local = None;
    let mut address = None;
    for (kind, v) in Attrs(payload.get(IFADDRMSG_LEN..)?) {
        let ip = match (family, v.len()) {
            (AF_INET, 4) => IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(v).ok()?)),
            (AF_INET6, 16) => IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(v).ok()?)),
            _ => continue,
        };
        match kind {
            IFA_LOCAL => local = Some(ip),
            IFA_ADDRESS => address = Some(ip),
            _ => {}
        }
    }
    let ip = local.or(address)?;
    let net = IpNet::new(ip, prefix_len).ok()?;
    Some((index, net))
}

/// Whether an RTM_NEWADDR payload is a link-local the kernel made itself (IFA_PROTO
/// `kernel_ll`): such an address is the kernel's, never a VIP netvrrp manages.
pub(crate) fn is_kernel_link_local(payload: &[u8]) -> bool {
    payload.get(IFADDRMSG_LEN..).is_some_and(|attrs| {
        Attrs(attrs).any(|(kind, v)| kind == IFA_PROTO && v.first() == Some(&IFAPROT_KERNEL_LL))
    })
}

pub(crate) fn macvlan_mode_from_nl(mode: MacVlanMode) -> MacvlanMode {
    match mode {
        MacVlanMode::Private => MacvlanMode::Private,
        MacVlanMode::Vepa => MacvlanMode::Vepa,
        MacVlanMode::Bridge => MacvlanMode::Bridge,
        MacVlanMode::Passthrough => MacvlanMode::Passthru,
        MacVlanMode::Source => MacvlanMode::Source,
        _ => MacvlanMode::Other,
    }
}

/// None for [`MacvlanMode::Other`], which names no mode the kernel knows.
pub(crate) fn macvlan_mode_to_nl(mode: MacvlanMode) -> Option<MacVlanMode> {
    Some(match mode {
        MacvlanMode::Private => MacVlanMode::Private,
        MacvlanMode::Vepa => MacVlanMode::Vepa,
        MacvlanMode::Bridge => MacVlanMode::Bridge,
        MacvlanMode::Passthru => MacVlanMode::Passthrough,
        MacvlanMode::Source => MacVlanMode::Source,
        MacvlanMode::Other => return None,
    })
}

pub(crate) fn addrgenmode_from_nl(mode: In6AddrGenMode) -> Option<AddrGenMode> {
    match mode {
        In6AddrGenMode::Eui64 => Some(AddrGenMode::Eui64),
        In6AddrGenMode::None => Some(AddrGenMode::None),
        In6AddrGenMode::StablePrivacy => Some(AddrGenMode::StablePrivacy),
        In6AddrGenMode::Random => Some(AddrGenMode::Random),
        _ => None,
    }
}

pub(crate) fn addrgenmode_to_nl(mode: AddrGenMode) -> In6AddrGenMode {
    match mode {
        AddrGenMode::Eui64 => In6AddrGenMode::Eui64,
        AddrGenMode::None => In6AddrGenMode::None,
        AddrGenMode::StablePrivacy => In6AddrGenMode::StablePrivacy,
        AddrGenMode::Random => In6AddrGenMode::Random,
    }
}

/// IFLA_OPERSTATE in the lower-case words of `ip -j link` (RFC 2863 names).
fn operstate_text(state: u8) -> Cow<'static, str> {
    Cow::Borrowed(match state {
        0 => "unknown",
        1 => "notpresent",
        2 => "down",
        3 => "lowerlayerdown",
        4 => "testing",
        5 => "dormant",
        6 => "up",
        n => return Cow::Owned(format!("other({n})")),
    })
}

/// IFLA_INFO_KIND: the kinds this host makes or meets as static text, others copied.
fn kind_text(b: &[u8]) -> Cow<'static, str> {
    const KNOWN: [&str; 8] = [
        "macvlan", "macvtap", "veth", "bridge", "vlan", "bond", "dummy", "vrf",
    ];
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    match KNOWN.iter().find(|k| k.as_bytes() == &b[..end]) {
        Some(k) => Cow::Borrowed(k),
        None => Cow::Owned(text(b)),
    }
}

#[cfg(test)]
mod tests {
    //! Messages are built with netlink-packet-route and emitted to bytes, so the raw
    //! parser is checked against an independent encoder.
    use super::*;
    use netlink_packet_core::Emitable;
    use netlink_packet_route::AddressFamily;
    use netlink_packet_route::address::{AddressAttribute, AddressMessage};
    use netlink_packet_route::link::{
        AfSpecInet6, AfSpecUnspec, Inet6DevConf, InfoData, InfoKind, InfoMacVlan, LinkAttribute,
        LinkFlags, LinkInfo as NlLinkInfo, LinkMessage, State,
    };

    fn bytes<T: Emitable>(msg: &T) -> Vec<u8> {
        let mut buf = vec![0; msg.buffer_len()];
        msg.emit(&mut buf);
        buf
    }

    #[allow(clippy::field_reassign_with_default)]
    fn macvlan_message() -> LinkMessage {
        let mut msg = LinkMessage::default();
        msg.header.index = 7;
        msg.header.flags = LinkFlags::Up | LinkFlags::LowerUp;
        // Inet6DevConf is non_exhaustive: no struct literal.
        let mut conf = Inet6DevConf::default();
        conf.accept_dad = 0;
        conf.dad_transmits = 2;
        conf.enhanced_dad = 1;
        conf.disable_ipv6 = 1;
        conf.ignore_routes_with_linkdown = 1;
        msg.attributes = vec![
            LinkAttribute::IfName("vrrp4-2-5".into()),
            LinkAttribute::Link(2),
            LinkAttribute::Address(vec![0, 0, 0x5e, 0, 1, 5]),
            LinkAttribute::ProtoDown(1),
            LinkAttribute::OperState(State::LowerLayerDown),
            LinkAttribute::LinkInfo(vec![
                NlLinkInfo::Kind(InfoKind::MacVlan),
                NlLinkInfo::Data(InfoData::MacVlan(vec![InfoMacVlan::Mode(
                    MacVlanMode::Bridge,
                )])),
            ]),
            LinkAttribute::AfSpecUnspec(vec![AfSpecUnspec::Inet6(vec![
                AfSpecInet6::AddrGenMode(In6AddrGenMode::Random),
                AfSpecInet6::DevConf(conf),
            ])]),
        ];
        msg
    }

    #[test]
    fn usual_kinds_and_operstates_are_static_text() {
        assert!(matches!(kind_text(b"macvlan\0"), Cow::Borrowed("macvlan")));
        assert!(matches!(kind_text(b"veth"), Cow::Borrowed("veth")));
        assert!(matches!(kind_text(b"wireguard\0"), Cow::Owned(ref k) if k == "wireguard"));
        assert!(matches!(operstate_text(6), Cow::Borrowed("up")));
        assert_eq!(operstate_text(9), "other(9)");
    }

    #[test]
    fn macvlan_link_fields() {
        let mut msg = macvlan_message();
        let link = link_from_payload(&bytes(&msg)).unwrap();
        assert_eq!(link.index, 7);
        assert_eq!(link.name, "vrrp4-2-5");
        assert_eq!(link.kind.as_deref(), Some("macvlan"));
        assert_eq!(link.macvlan_mode, Some(MacvlanMode::Bridge));
        assert_eq!(link.parent_index, Some(2));
        assert_eq!(link.mac, Some("00:00:5e:00:01:05".parse().unwrap()));
        assert_eq!(link.addrgenmode, Some(AddrGenMode::Random));
        assert!(link.protodown && link.admin_up && link.carrier);
        assert_eq!(link.operstate, "lowerlayerdown");
        assert_eq!(link.dad_sysctls, Some([0, 2, 1]));
        assert_eq!(link.disable_ipv6, Some(true));
        assert_eq!(link.ipv6_ignore_linkdown, Some(true));

        msg.attributes.push(LinkAttribute::LinkNetNsId(3));
        assert_eq!(link_from_payload(&bytes(&msg)).unwrap().parent_index, None);
    }

    #[test]
    fn truncated_messages_do_not_panic() {
        let full = bytes(&macvlan_message());
        for len in 0..full.len() {
            let _ = link_from_payload(&full[..len]);
            let _ = address_from_payload(&full[..len]);
        }
        assert!(link_from_payload(&full[..10]).is_none());
    }

    #[test]
    fn address_prefers_local() {
        let mut msg = AddressMessage::default();
        msg.header.family = AddressFamily::Inet;
        msg.header.index = 4;
        msg.header.prefix_len = 24;
        msg.attributes = vec![
            AddressAttribute::Address("10.0.0.2".parse().unwrap()),
            AddressAttribute::Local("10.0.0.1".parse().unwrap()),
        ];
        assert_eq!(
            address_from_payload(&bytes(&msg)),
            Some((4, "10.0.0.1/24".parse().unwrap()))
        );
        let mut msg = AddressMessage::default();
        msg.header.family = AddressFamily::Inet6;
        msg.header.index = 5;
        msg.header.prefix_len = 64;
        msg.attributes = vec![AddressAttribute::Address("fe80::1".parse().unwrap())];
        assert_eq!(
            address_from_payload(&bytes(&msg)),
            Some((5, "fe80::1/64".parse().unwrap()))
        );
    }

    #[test]
    fn kernel_made_link_locals_are_told_apart() {
        use netlink_packet_route::address::AddressProtocol;
        let mut msg = AddressMessage::default();
        msg.header.family = AddressFamily::Inet6;
        msg.header.index = 5;
        msg.header.prefix_len = 64;
        msg.attributes = vec![AddressAttribute::Address("fe80::1".parse().unwrap())];
        // Added by userspace (a link-local VIP): no IFA_PROTO.
        assert!(!is_kernel_link_local(&bytes(&msg)));
        msg.attributes
            .push(AddressAttribute::Protocol(AddressProtocol::LinkLocal));
        assert!(is_kernel_link_local(&bytes(&msg)));
        // Another protocol (e.g. an address SLAAC made from an RA) is not a link-local's tag.
        msg.attributes.pop();
        msg.attributes.push(AddressAttribute::Protocol(
            AddressProtocol::RouterAnnouncement,
        ));
        assert!(!is_kernel_link_local(&bytes(&msg)));
        assert!(!is_kernel_link_local(&[]));
    }

    #[test]
    fn enum_round_trips() {
        for m in [
            MacvlanMode::Private,
            MacvlanMode::Vepa,
            MacvlanMode::Bridge,
            MacvlanMode::Passthru,
            MacvlanMode::Source,
        ] {
            assert_eq!(macvlan_mode_from_nl(macvlan_mode_to_nl(m).unwrap()), m);
        }
        for m in [
            AddrGenMode::Eui64,
            AddrGenMode::None,
            AddrGenMode::StablePrivacy,
            AddrGenMode::Random,
        ] {
            assert_eq!(addrgenmode_from_nl(addrgenmode_to_nl(m)), Some(m));
        }
    }
}
