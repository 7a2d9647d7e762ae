//! `netvrrp autoconfigure` without `--from-…`: the VRRP devices already in the kernel, found
//! by virtual MAC (FRR's rule: the MAC, not the name, makes a VRRP device), and every one
//! that cannot be described, with the reason (issue 19: autoconfigure never skips silently).

use crate::config::{DiscoveredRouter, Version};
use crate::kernel::Snapshot;
use crate::types::Family;
use std::collections::BTreeMap;
use std::fmt;

/// A device with a VRRP virtual MAC that the output does not describe, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub device: String,
    pub reason: String,
}

impl fmt::Display for Skipped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.device, self.reason)
    }
}

/// What the kernel holds: one [`DiscoveredRouter`] per (parent, vrid) with at least one
/// address, and every skipped device.
#[derive(Debug, Default)]
pub struct Discovery {
    pub routers: Vec<DiscoveredRouter>,
    pub skipped: Vec<Skipped>,
}

/// Find the VRRP devices of `snapshot`, described with `version`.
pub fn discover(snapshot: &Snapshot, version: Version) -> Discovery {
    let mut by_key: BTreeMap<(String, u8), DiscoveredRouter> = BTreeMap::new();
    let mut skipped = Vec::new();
    let mut skip = |device: &str, reason: String| {
        skipped.push(Skipped {
            device: device.to_string(),
            reason,
        })
    };
    for l in &snapshot.links {
        let Some((family, vrid)) = l.mac.and_then(|m| m.as_vrrp()) else {
            continue;
        };
        if l.kind.as_deref() != Some("macvlan") {
            let kind = l.kind.as_deref().unwrap_or("plain device");
            skip(
                &l.name,
                format!("has a VRRP virtual MAC but is a {kind}, not a macvlan"),
            );
            continue;
        }
        if family == Family::Ipv6 && version == Version::V2 {
            skip(
                &l.name,
                format!("IPv6 VRID {vrid}: VRRP version 2 has no IPv6 (use --vrrp-version 3)"),
            );
            continue;
        }
        let Some(parent) = l.parent_index.and_then(|i| snapshot.by_index(i)) else {
            skip(
                &l.name,
                "its parent interface is not in this network namespace".into(),
            );
            continue;
        };
        let addresses = crate::plan::managed_addresses(l, &[]);
        let before = by_key
            .get(&(parent.name.clone(), vrid))
            .map_or(0, |r| r.ipv4.len() + r.ipv6.len());
        let r = by_key
            .entry((parent.name.clone(), vrid))
            .or_insert_with(|| DiscoveredRouter {
                interface: parent.name.clone(),
                vrid,
                version,
                ipv4: vec![],
                ipv6: vec![],
                devices: vec![],
            });
        r.devices.push(l.name.clone());
        for a in addresses {
            match (family, a) {
                (Family::Ipv4, ipnet::IpNet::V4(n)) => r.ipv4.push(n),
                (Family::Ipv6, ipnet::IpNet::V6(n)) => r.ipv6.push(n),
                _ => {}
            }
        }
        if r.ipv4.len() + r.ipv6.len() == before {
            skip(
                &l.name,
                format!(
                    "{family} VRID {vrid} on {}: no address{} (a router needs at least one VIP)",
                    parent.name,
                    if family == Family::Ipv6 {
                        " other than link-locals"
                    } else {
                        ""
                    }
                ),
            );
        }
    }
    Discovery {
        routers: by_key
            .into_values()
            .filter(|r| !r.ipv4.is_empty() || !r.ipv6.is_empty())
            .collect(),
        skipped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::LinkInfo;

    #[test]
    fn every_skipped_device_is_named_with_its_reason() {
        let mut v4 = LinkInfo::for_test(
            3,
            "vrrp4-2-5",
            Some("macvlan"),
            Some(2),
            "00:00:5e:00:01:05",
        );
        v4.addresses = vec!["192.0.2.5/24".parse().unwrap()];
        let mut v6 = LinkInfo::for_test(
            4,
            "vrrp6-2-5",
            Some("macvlan"),
            Some(2),
            "00:00:5e:00:02:05",
        );
        v6.addresses = vec!["fe80::1/64".parse().unwrap()];
        let snapshot = Snapshot {
            links: vec![
                LinkInfo::for_test(2, "eth0", Some("veth"), None, "02:00:00:00:00:02"),
                v4,
                v6,
                LinkInfo::for_test(5, "bare", Some("macvlan"), Some(2), "00:00:5e:00:01:09"),
                LinkInfo::for_test(6, "orphan", Some("macvlan"), Some(99), "00:00:5e:00:01:0a"),
                LinkInfo::for_test(7, "br-vrrp", Some("bridge"), None, "00:00:5e:00:01:0b"),
            ],
        };
        let found = discover(&snapshot, Version::V3);
        assert_eq!(found.routers.len(), 1);
        assert_eq!(found.routers[0].devices, ["vrrp4-2-5", "vrrp6-2-5"]);
        let skipped: Vec<String> = found.skipped.iter().map(|s| s.to_string()).collect();
        assert_eq!(
            skipped,
            [
                "vrrp6-2-5: ipv6 VRID 5 on eth0: no address other than link-locals (a router needs at least one VIP)",
                "bare: ipv4 VRID 9 on eth0: no address (a router needs at least one VIP)",
                "orphan: its parent interface is not in this network namespace",
                "br-vrrp: has a VRRP virtual MAC but is a bridge, not a macvlan",
            ]
        );
        let v2 = discover(&snapshot, Version::V2);
        assert!(
            v2.skipped
                .iter()
                .any(|s| s.device == "vrrp6-2-5" && s.reason.contains("version 2 has no IPv6")),
            "{:?}",
            v2.skipped
        );
    }
}
