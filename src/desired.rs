//! Config → the kernel objects that should exist (pure).

use crate::config::{Config, FileSpans, PathwayConfig, ValueRef};
use crate::types::{AddrGenMode, Family, IFNAME_MAX, MacAddr};
use ipnet::IpNet;
use serde::Serialize;

/// Why a device exists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "role", rename_all = "kebab-case")]
pub enum DeviceRole {
    /// The vrrp macvlan of one VRRP instance.
    Router {
        interface: String,
        vrid: u8,
        family: Family,
    },
    /// The macvlan of a VRRS pathway with a `mac`.
    Pathway { leader: String, interface: String },
}

/// One macvlan netvrrp should own, with every attribute it manages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DesiredDevice {
    pub name: String,
    pub parent: String,
    pub parent_index: u32,
    pub mac: MacAddr,
    pub addrgenmode: AddrGenMode,
    /// IPv6 on the device. Off (`disable_ipv6`) on a pathway macvlan without IPv6
    /// addresses: with IPv6 on, every carrier change of such a device (each protodown
    /// change of a VRRS fan-out) makes addrconf walk the whole IPv6 routing table for its
    /// link-local and multicast routes, which is quadratic in the number of macvlans: with
    /// 1,000 pathways it was most of the fan-out's kernel time (bench/vrrs_fanout.sh).
    pub ipv6: bool,
    /// `ignore_routes_with_linkdown` = 1 for IPv4 and IPv6 ([`crate::kernel::IGNORE_LINKDOWN`]):
    /// on VRRP devices, whose protodown as Backup must not capture the subnet's route. Not
    /// managed (left as found) when false.
    pub ignore_linkdown: bool,
    /// `accept_ra` = 0 and `autoconf` = 0 ([`crate::kernel::RA_HOST_SYSCTLS`]): on the vrrp6
    /// device of a router with `router-advertisements`, which must not learn from RAs (its
    /// own, looped back by the bridge, or another router's). Not managed when false.
    pub ra_quiet: bool,
    /// Addresses (VIPs), sorted.
    pub addresses: Vec<IpNet>,
    /// Protodown as the configurator leaves it: on (the runtime turns it off on Master).
    pub protodown: bool,
    pub role: DeviceRole,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct DesiredState {
    /// Sorted by name.
    pub devices: Vec<DesiredDevice>,
}

/// A reason the desired state cannot be built on this machine. Each names the value it is
/// about (`file:line:col: key: message`; [`DesiredError::place`] points at the value).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DesiredError {
    #[error("{at}: interface {interface:?} does not exist")]
    MissingParent { interface: String, at: ValueRef },
    /// The name is made of the parent's index (a router's `interface`, a pathway's `mac`).
    #[error("{at}: device name {name:?} is longer than {IFNAME_MAX} bytes")]
    NameTooLong { name: String, at: ValueRef },
}

impl DesiredError {
    /// Point at the value itself rather than its table's start.
    pub fn place(&mut self, spans: &FileSpans) {
        match self {
            DesiredError::MissingParent { at, .. } | DesiredError::NameTooLong { at, .. } => {
                at.place(spans)
            }
        }
    }
}

/// A VIP that is already an address of an interface on this host other than a VRRP one.
/// While its router is Backup (or stopped) the VIP filter drops IP and ARP/ND for it, so the
/// host would cut itself off from its own address (typically the parent's).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{at}: VIP {vip} is an address of interface {interface:?} on this host; while this \
     router is not Master, netvrrp drops traffic to its VIPs and would cut the host off from \
     that address. Use another address, or make this router its owner (priority = 255)"
)]
pub struct SelfLockout {
    pub vip: std::net::IpAddr,
    pub interface: String,
    /// The VIP in its router's `ipv4` or `ipv6` list.
    pub at: ValueRef,
}

/// Name of the vrrp macvlan of an instance: `vrrp4-<parent ifindex>-<vrid>`.
pub fn router_device_name(family: Family, parent_index: u32, vrid: u8) -> String {
    format!("vrrp{}-{}-{}", family.digit(), parent_index, vrid)
}

/// Name of a pathway macvlan, unique for every (parent ifindex, MAC) pair and always
/// exactly [`IFNAME_MAX`] bytes.
///
/// Validation allows one pathway per (interface, MAC), and the same MAC on different parents
/// (the same vMAC on several VLANs is common), so the name must encode both: 32 + 48 bits in
/// 15 bytes. Two forms, told apart by the first letter so they can never collide:
/// - parent ifindex 1..=255: `v` + ifindex as 2 hex digits + the MAC as 12 hex digits,
///   readable: parent 3, MAC `fe24.fe24.fe24` → `v03fe24fe24fe24`;
/// - any other ifindex: `w` + `(ifindex << 48) | MAC` in 14 base-62 digits (`0-9a-zA-Z`;
///   62^14 > 2^80), opaque but still injective.
///
/// Neither form contains `-`, so neither can be mistaken for a `vrrp4-…`/`vrrp6-…` router
/// device. Identity is still (macvlan, parent, MAC), never the name (netvrrp(8),
/// OWNERSHIP).
pub fn pathway_device_name(parent_index: u32, mac: MacAddr) -> String {
    let m = mac.octets();
    if (1..=0xff).contains(&parent_index) {
        let mut s = format!("v{parent_index:02x}");
        for b in m {
            s.push_str(&format!("{b:02x}"));
        }
        return s;
    }
    const DIGITS: &[u8; 62] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut n = (u128::from(parent_index) << 48)
        | m.iter().fold(0u128, |acc, b| (acc << 8) | u128::from(*b));
    let mut body = [b'0'; 14];
    for slot in body.iter_mut().rev() {
        *slot = DIGITS[(n % 62) as usize];
        n /= 62;
    }
    let mut s = String::with_capacity(IFNAME_MAX);
    s.push('w');
    s.extend(body.iter().map(|b| char::from(*b)));
    s
}

/// The macvlan of one pathway with a `mac` on a parent with index `parent_index`, with every
/// attribute apply gives it (also used by the VRRS runtime to re-create the device after its
/// parent was removed and re-added).
pub fn pathway_device(pathway: &PathwayConfig, mac: MacAddr, parent_index: u32) -> DesiredDevice {
    let mut addresses = pathway.address.clone();
    addresses.sort();
    DesiredDevice {
        name: pathway_device_name(parent_index, mac),
        parent: pathway.interface.clone(),
        parent_index,
        mac,
        addrgenmode: AddrGenMode::Random,
        ipv6: addresses.iter().any(|a| matches!(a, IpNet::V6(_))),
        ignore_linkdown: false,
        ra_quiet: false,
        addresses,
        protodown: true,
        role: DeviceRole::Pathway {
            leader: pathway.leader.clone(),
            interface: pathway.interface.clone(),
        },
    }
}

/// Derive the desired devices. `ifindex` resolves an interface name in the namespace.
pub fn derive(
    config: &Config,
    ifindex: impl Fn(&str) -> Option<u32>,
) -> Result<DesiredState, Vec<DesiredError>> {
    let mut devices = Vec::new();
    let mut errors = Vec::new();
    for (i, router) in config.routers.iter().enumerate() {
        let interface_at = || ValueRef::router(i, "interface", None, &router.location);
        let Some(parent_index) = ifindex(&router.interface) else {
            errors.push(DesiredError::MissingParent {
                interface: router.interface.clone(),
                at: interface_at(),
            });
            continue;
        };
        for family in router.families() {
            let name = router_device_name(family, parent_index, router.vrid);
            if name.len() > IFNAME_MAX {
                errors.push(DesiredError::NameTooLong {
                    name,
                    at: interface_at(),
                });
                continue;
            }
            let mut addresses = router.addresses(family);
            addresses.sort();
            devices.push(DesiredDevice {
                name,
                parent: router.interface.clone(),
                parent_index,
                mac: MacAddr::vrrp(family, router.vrid),
                addrgenmode: match family {
                    Family::Ipv4 => AddrGenMode::None,
                    Family::Ipv6 => AddrGenMode::Random,
                },
                ipv6: true,
                ignore_linkdown: true,
                ra_quiet: family == Family::Ipv6 && router.router_advertisements.is_some(),
                addresses,
                protodown: true,
                role: DeviceRole::Router {
                    interface: router.interface.clone(),
                    vrid: router.vrid,
                    family,
                },
            });
        }
    }
    for (i, pathway) in config.pathways.iter().enumerate() {
        let Some(mac) = pathway.mac else { continue };
        // An absent pathway interface blocks nothing: the pathway is NOT READY and the
        // runtime creates its macvlan when the interface appears ([`absent_pathways`]
        // says so to the operator).
        let Some(parent_index) = ifindex(&pathway.interface) else {
            continue;
        };
        let device = pathway_device(pathway, mac, parent_index);
        if device.name.len() > IFNAME_MAX {
            errors.push(DesiredError::NameTooLong {
                name: device.name,
                at: ValueRef {
                    table: "vrrs.pathway",
                    index: i,
                    key: "mac",
                    elem: None,
                    location: pathway.location.clone(),
                },
            });
            continue;
        }
        devices.push(device);
    }
    devices.sort_by(|a, b| a.name.cmp(&b.name));
    if errors.is_empty() {
        Ok(DesiredState { devices })
    } else {
        Err(errors)
    }
}

/// A warning for each pathway whose interface this host does not have (yet): it is NOT
/// READY until the interface appears, and the runtime then creates its macvlan by itself.
pub fn absent_pathways(config: &Config, ifindex: impl Fn(&str) -> Option<u32>) -> Vec<String> {
    config
        .pathways
        .iter()
        .filter(|p| ifindex(&p.interface).is_none())
        .map(|p| {
            format!(
                "{}: warning: pathway of {:?}: interface {:?} does not exist; the pathway is NOT \
                 READY until it appears{}",
                p.location,
                p.leader,
                p.interface,
                if p.mac.is_some() {
                    " (the runtime then creates its macvlan)"
                } else {
                    ""
                }
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pathway_device_names_are_distinct_and_fit() {
        let mac: MacAddr = "fe24.fe24.fe24".parse().unwrap();
        assert_eq!(pathway_device_name(3, mac), "v03fe24fe24fe24");
        // The old scheme used only the last two bytes: these two collided.
        let a: MacAddr = "02:00:00:00:12:34".parse().unwrap();
        let b: MacAddr = "02:00:00:01:12:34".parse().unwrap();
        let mut seen = std::collections::HashSet::new();
        for idx in [0, 1, 2, 255, 256, 4096, 65_535, u32::MAX] {
            for m in [mac, a, b, MacAddr([0; 6]), MacAddr([0xff; 6])] {
                let n = pathway_device_name(idx, m);
                assert_eq!(n.len(), IFNAME_MAX, "{n}");
                assert!(
                    !n.contains('-') && !n.contains('/') && !n.contains(':'),
                    "{n}"
                );
                assert!(seen.insert(n.clone()), "collision on {n}");
            }
        }
        assert!(pathway_device_name(256, mac).starts_with('w'));
        assert_eq!(pathway_device_name(0, MacAddr([0; 6])), "w00000000000000");
    }

    #[test]
    fn a_missing_interface_is_an_error_at_its_value() {
        let text = "[defaults]\npriority = 100\n\n[[vrrp]]\nvrid = 5\ninterface = \"eth9\"\nipv4 = [\"192.0.2.5/24\"]\n";
        let config = crate::config::parse_str(text, "t.toml").unwrap();
        let mut errors = derive(&config, |_| None).unwrap_err();
        // Before placing: the table's start, with the key.
        assert_eq!(
            errors[0].to_string(),
            "t.toml:4:1: vrrp[1].interface: interface \"eth9\" does not exist"
        );
        errors[0].place(&FileSpans::parse(text).unwrap());
        assert_eq!(
            errors[0].to_string(),
            "t.toml:6:13: vrrp[1].interface: interface \"eth9\" does not exist"
        );
    }

    #[test]
    fn an_absent_pathway_interface_is_a_warning_not_an_error() {
        let config = crate::config::parse_str(
            r#"
[[vrrp]]
interface = "eth0"
vrid = 5
ipv4 = ["192.0.2.5/24"]
vrrs-leader = ["web"]

[[vrrs.pathway]]
leader = "web"
interface = "eth9"
mac = "02:00:00:00:00:09"
address = ["198.51.100.1/24"]
"#,
            "t.toml",
        )
        .unwrap();
        let ifindex = |name: &str| (name == "eth0").then_some(2);
        let desired = derive(&config, ifindex).unwrap();
        assert_eq!(
            desired
                .devices
                .iter()
                .map(|d| d.name.as_str())
                .collect::<Vec<_>>(),
            ["vrrp4-2-5"]
        );
        let warnings = absent_pathways(&config, ifindex);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].starts_with("t.toml:8:") && warnings[0].contains("\"eth9\" does not exist"),
            "{warnings:?}"
        );
        assert!(absent_pathways(&config, |_| Some(2)).is_empty());
    }
}
