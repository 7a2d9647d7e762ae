//! Configurations that parse but are risky on this host, judged against its kernel state
//! (so `apply`, `diff` and `check` report them; `validate` reads no kernel):
//!
//! - a VIP outside every subnet of its parent interface: a warning. Hosts on the link may
//!   have no route to it, and the Master's adverts come from an address of another subnet.
//! - priority 255 on a router whose parent does not hold every one of its VIPs: an error
//!   (exit 65). 255 claims "I own these addresses": every peer defers to it at once, and a
//!   non-owner claiming it steals the addresses from the real owner.
//!
//! Each finding names the file, line and column of the value (read again with spans).

use crate::config::{Config, FileSpans, Location, RouterConfig, ValueRef};
use crate::kernel::Snapshot;
use crate::types::Family;
use ipnet::IpNet;

/// The owner's priority (RFC 9568 section 6.1).
const OWNER_PRIORITY: u8 = 255;

#[derive(Debug, Default, PartialEq)]
pub struct Findings {
    pub warnings: Vec<String>,
    pub errors: Vec<String>,
}

/// Print the findings; Err(exit 65) when any is an error.
pub fn report(config: &Config, snapshot: &Snapshot) -> Result<(), i32> {
    let text = config
        .source
        .as_ref()
        .and_then(|p| std::fs::read_to_string(p).ok());
    let f = check(config, snapshot, text.as_deref());
    for w in &f.warnings {
        eprintln!("{w}");
    }
    if f.errors.is_empty() {
        return Ok(());
    }
    for e in &f.errors {
        eprintln!("{e}");
    }
    eprintln!(
        "netvrrp: {} error(s) in the configuration for this host; nothing was applied",
        f.errors.len()
    );
    Err(crate::exit::DATAERR)
}

/// The findings of `config` on `snapshot`; `text` is the file's text (for positions; the
/// router's table start is used without it).
pub fn check(config: &Config, snapshot: &Snapshot, text: Option<&str>) -> Findings {
    let spans = text.and_then(FileSpans::parse);
    let mut f = Findings::default();
    for (i, r) in config.routers.iter().enumerate() {
        // A missing parent is reported by the desired state already.
        let Some(parent) = snapshot.by_name(&r.interface) else {
            continue;
        };
        let at = |key: &'static str, elem: Option<usize>| -> Location {
            let mut value = ValueRef::router(i, key, elem, &r.location);
            if let Some(spans) = &spans {
                value.place(spans);
            }
            value.location
        };
        for family in [Family::Ipv4, Family::Ipv6] {
            let key = family.as_str();
            let vips = r.addresses(family);
            let subnets: Vec<&IpNet> = parent
                .addresses
                .iter()
                .filter(|a| a.addr().is_ipv4() == (family == Family::Ipv4))
                .collect();
            // An advert needs a source: the parent's IPv4 address, or its IPv6 link-local.
            let has_source = match family {
                Family::Ipv4 => !subnets.is_empty(),
                Family::Ipv6 => subnets.iter().any(|a| is_link_local(a)),
            };
            if !vips.is_empty() && !has_source {
                let what = match family {
                    Family::Ipv4 => "no IPv4 address",
                    Family::Ipv6 => "no IPv6 link-local address",
                };
                f.warnings.push(format!(
                    "{}: vrrp[{}].{key}: warning: {} has {what}: the {family} instance has no source for its adverts and cannot run until {} gets one",
                    at(key, None),
                    i + 1,
                    r.interface,
                    r.interface
                ));
                continue;
            }
            // IPv4 adverts come from the parent's primary address; IPv6 ones from its
            // link-local, whatever the VIP's subnet.
            let also = match family {
                Family::Ipv4 => ", and the Master advertises from an address of another subnet",
                Family::Ipv6 => "",
            };
            for (j, vip) in vips.iter().enumerate() {
                if !subnets.iter().any(|s| s.trunc().contains(&vip.addr())) {
                    let list: Vec<String> = subnets.iter().map(|s| s.to_string()).collect();
                    let have = list.join(", ");
                    f.warnings.push(format!(
                        "{}: vrrp[{}].{key}[{}]: warning: {vip} is outside every subnet of {} ({have}): hosts on the link may have no route to it{also}",
                        at(key, Some(j)),
                        i + 1,
                        j + 1,
                        r.interface
                    ));
                }
            }
        }
        if r.priority == OWNER_PRIORITY {
            let missing = not_owned(r, parent);
            if !missing.is_empty() {
                f.errors.push(format!(
                    "{}: vrrp[{}].priority: priority 255 means this router owns its addresses, but {} does not have {}: add them to {} or use a priority below 255",
                    at("priority", None),
                    i + 1,
                    r.interface,
                    missing.join(", "),
                    r.interface
                ));
            }
        }
    }
    f
}

fn is_link_local(a: &IpNet) -> bool {
    matches!(a, IpNet::V6(n) if (n.addr().segments()[0] & 0xffc0) == 0xfe80)
}

/// The VIPs of `r` that are not addresses of `parent` (the prefix length does not matter).
fn not_owned(r: &RouterConfig, parent: &crate::kernel::LinkInfo) -> Vec<String> {
    [Family::Ipv4, Family::Ipv6]
        .iter()
        .flat_map(|f| r.addresses(*f))
        .filter(|v| !parent.addresses.iter().any(|a| a.addr() == v.addr()))
        .map(|v| v.addr().to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_str;
    use crate::kernel::LinkInfo;

    fn link(name: &str, addrs: &[&str]) -> LinkInfo {
        LinkInfo {
            addresses: addrs.iter().map(|a| a.parse().unwrap()).collect(),
            ..LinkInfo::for_test(2, name, None, None, "")
        }
    }

    const FILE: &str = "[defaults]\npriority = 255\n\n[[vrrp]]\ninterface = \"eth0\"\nvrid = 1\nipv4 = [\"192.0.2.1/24\", \"198.51.100.1/24\"]\n\n[[vrrp]]\ninterface = \"eth0\"\nvrid = 2\npriority = 100\nipv6 = [\"2001:db8::1/64\"]\n";

    #[test]
    fn vip_outside_the_parent_subnets_is_a_warning_at_its_position() {
        let c = parse_str(FILE, "v.toml").unwrap();
        let snap = Snapshot {
            links: vec![link("eth0", &["192.0.2.1/24", "fe80::1/64"])],
        };
        let f = check(&c, &snap, Some(FILE));
        assert_eq!(f.warnings.len(), 2, "{f:?}");
        assert!(
            f.warnings[0].starts_with("v.toml:7:25: vrrp[1].ipv4[2]: warning: 198.51.100.1/24 is outside every subnet of eth0 (192.0.2.1/24)"),
            "{}",
            f.warnings[0]
        );
        assert!(
            f.warnings[1].starts_with("v.toml:13:9: vrrp[2].ipv6[1]: warning: 2001:db8::1/64 is outside every subnet of eth0 (fe80::1/64)"),
            "{}",
            f.warnings[1]
        );
        // IPv4 adverts come from the parent's (other-subnet) address; IPv6 ones from its
        // link-local, so only the IPv4 warning says so.
        assert!(f.warnings[0].ends_with("advertises from an address of another subnet"));
        assert!(
            f.warnings[1].ends_with("may have no route to it"),
            "{}",
            f.warnings[1]
        );
    }

    #[test]
    fn a_family_without_a_source_address_is_one_warning() {
        let c = parse_str(FILE, "v.toml").unwrap();
        // No IPv4 at all, IPv6 without a link-local.
        let snap = Snapshot {
            links: vec![link("eth0", &["2001:db8::7/64"])],
        };
        let f = check(&c, &snap, Some(FILE));
        assert_eq!(
            f.warnings,
            [
                "v.toml:7:8: vrrp[1].ipv4: warning: eth0 has no IPv4 address: the ipv4 instance has no source for its adverts and cannot run until eth0 gets one",
                "v.toml:13:8: vrrp[2].ipv6: warning: eth0 has no IPv6 link-local address: the ipv6 instance has no source for its adverts and cannot run until eth0 gets one",
            ]
        );
    }

    #[test]
    fn priority_255_needs_the_parent_to_own_every_vip() {
        let c = parse_str(FILE, "v.toml").unwrap();
        let snap = Snapshot {
            links: vec![link(
                "eth0",
                &[
                    "192.0.2.1/24",
                    "198.51.100.7/24",
                    "2001:db8::7/64",
                    "fe80::7/64",
                ],
            )],
        };
        let f = check(&c, &snap, Some(FILE));
        assert!(f.warnings.is_empty(), "{f:?}");
        // Priority from [defaults]: the error points there.
        assert_eq!(
            f.errors,
            [
                "v.toml:2:12: vrrp[1].priority: priority 255 means this router owns its addresses, but eth0 does not have 198.51.100.1: add them to eth0 or use a priority below 255"
            ]
        );
        // The owner: every VIP on the parent (any prefix length).
        let snap = Snapshot {
            links: vec![link(
                "eth0",
                &[
                    "192.0.2.1/24",
                    "198.51.100.1/32",
                    "2001:db8::7/64",
                    "fe80::7/64",
                ],
            )],
        };
        assert_eq!(check(&c, &snap, Some(FILE)), Findings::default());
        // Without the text: the router's table start.
        let snap = Snapshot {
            links: vec![link(
                "eth0",
                &[
                    "192.0.2.1/24",
                    "198.51.100.7/24",
                    "2001:db8::7/64",
                    "fe80::7/64",
                ],
            )],
        };
        assert!(check(&c, &snap, None).errors[0].starts_with("v.toml:4:1: "));
    }
}
