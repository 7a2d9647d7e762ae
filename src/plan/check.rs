//! `netvrrp check`: every desired attribute compared with the kernel, pass or fail.

use super::*;

/// One desired attribute compared with the kernel (`netvrrp check`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub device: String,
    pub attribute: String,
    pub expected: String,
    pub actual: String,
    pub pass: bool,
}

/// Every desired attribute, pass or fail. More than `ifquery --check`: mode, addrgenmode,
/// protodown ownership, the DAD sysctls and disable_ipv6 are checked too.
pub fn check(
    snapshot: &Snapshot,
    desired: &DesiredState,
    owned: &[OwnedRecord],
    protodown: ProtodownOwner,
) -> Vec<Check> {
    let mut out = Vec::new();
    for m in match_devices(snapshot, desired, owned) {
        let d = m.desired;
        let mut push = |attribute: &str, expected: String, actual: String| {
            out.push(Check {
                device: d.name.clone(),
                attribute: attribute.into(),
                pass: expected == actual,
                expected,
                actual,
            });
        };
        let Some(l) = m.current else {
            push("exists", "yes".into(), "no".into());
            continue;
        };
        push("exists", "yes".into(), "yes".into());
        push("name", d.name.clone(), l.name.clone());
        push(
            "kind",
            "macvlan".into(),
            l.kind.as_deref().unwrap_or_default().to_string(),
        );
        push(
            "parent",
            d.parent.clone(),
            parent_name(snapshot, l.parent_index.unwrap_or(0)),
        );
        push("mode", "bridge".into(), mode_text(l));
        push(
            "mac",
            d.mac.to_string(),
            l.mac.map(|m| m.to_string()).unwrap_or_default(),
        );
        push(
            "addrgenmode",
            d.addrgenmode.to_string(),
            l.addrgenmode.map(|g| g.to_string()).unwrap_or("?".into()),
        );
        for (i, name) in DAD_SYSCTLS.iter().enumerate() {
            push(
                name,
                "0".into(),
                l.dad_sysctls
                    .map(|v| v[i].to_string())
                    .unwrap_or_else(|| "absent".into()),
            );
        }
        push(
            DISABLE_IPV6,
            i32::from(!d.ipv6).to_string(),
            l.disable_ipv6
                .map(|v| i32::from(v).to_string())
                .unwrap_or_else(|| "absent".into()),
        );
        if d.ignore_linkdown {
            for (family, v) in [
                ("ipv4", l.ipv4_ignore_linkdown),
                ("ipv6", l.ipv6_ignore_linkdown),
            ] {
                push(
                    &format!("{family}.{IGNORE_LINKDOWN}"),
                    "1".into(),
                    v.map(|v| i32::from(v).to_string())
                        .unwrap_or_else(|| "absent".into()),
                );
            }
        }
        if d.ra_quiet {
            for (i, name) in RA_HOST_SYSCTLS.iter().enumerate() {
                push(
                    name,
                    "0".into(),
                    l.ra_host_sysctls
                        .map(|v| v[i].to_string())
                        .unwrap_or_else(|| "absent".into()),
                );
            }
        }
        let have = managed_addresses(l, &d.addresses);
        for a in &d.addresses {
            push(
                &format!("address {a}"),
                "present".into(),
                if have.contains(a) {
                    "present"
                } else {
                    "absent"
                }
                .into(),
            );
        }
        for a in have.iter().filter(|a| !d.addresses.contains(a)) {
            push(&format!("address {a}"), "absent".into(), "present".into());
        }
        push(
            "admin",
            "up".into(),
            if l.admin_up { "up" } else { "down" }.into(),
        );
        match protodown {
            ProtodownOwner::Configurator | ProtodownOwner::Handover => push(
                "protodown",
                onoff(d.protodown).into(),
                onoff(l.protodown).into(),
            ),
            ProtodownOwner::Runtime => push(
                "protodown",
                "runtime".into(),
                "runtime".into(), // the runtime drives it; its current value is in `show vrrp`
            ),
        }
    }
    out
}
