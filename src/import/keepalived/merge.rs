//! The IPv4 and IPv6 instances of one (interface, VRID) → one netvrrp router.

use super::*;

/// Instances with one (interface, VRID) and two families are one netvrrp router.
pub(super) fn merge_instances(insts: Vec<Inst>, imp: &mut Imported, d: &mut Diags) {
    let mut routers: Vec<(Router, Vec<Family>, Option<Family>, Location)> = Vec::new();
    for mut inst in insts {
        imp.pathways.append(&mut inst.pathways);
        imp.clients.append(&mut inst.clients);
        let r = inst.router;
        let leader_family = (!r.vrrs_leader.is_empty()).then_some(inst.family);
        match routers
            .iter_mut()
            .find(|(x, ..)| x.interface == r.interface && x.vrid == r.vrid)
        {
            None => routers.push((r, vec![inst.family], leader_family, inst.loc.clone())),
            Some((x, fams, lf, _)) => {
                if fams.contains(&inst.family) {
                    d.warn(
                        inst.loc.clone(),
                        format!(
                            "vrrp_instance {}: ({}, vrid {}) already has an {} instance; skipped",
                            inst.name, r.interface, r.vrid, inst.family
                        ),
                    );
                    continue;
                }
                fams.push(inst.family);
                if r.settings != x.settings {
                    d.warn(
                        inst.loc.clone(),
                        format!(
                            "vrrp_instance {}: netvrrp runs both families of ({}, vrid {}) with one set of settings; those of the first instance are kept",
                            inst.name, r.interface, r.vrid
                        ),
                    );
                    x.note("", format!("{}: settings of vrrp_instance {} differ; the first instance's are kept", inst.loc, inst.name));
                }
                x.origin.extend(r.origin);
                x.ipv4.extend(r.ipv4);
                x.ipv6.extend(r.ipv6);
                x.notes.extend(r.notes);
                for l in r.vrrs_leader {
                    if !x.vrrs_leader.contains(&l) {
                        x.vrrs_leader.push(l);
                    }
                }
                if lf.is_none() {
                    *lf = leader_family;
                }
                for t in r.track {
                    if !x
                        .track
                        .iter()
                        .any(|u| u.interface == t.interface && u.name == t.name)
                    {
                        x.track.push(t);
                    }
                }
                for p in r.unicast_peers {
                    if !x.unicast_peers.contains(&p) {
                        x.unicast_peers.push(p);
                    }
                }
            }
        }
    }
    for (mut r, fams, lf, loc) in routers {
        if fams.len() > 1 && !r.vrrs_leader.is_empty() {
            r.vrrs_leader_family = lf;
        }
        // A unicast router must have peers for each family it runs (netvrrp.toml(5)).
        if !r.unicast_peers.is_empty() {
            let v4 = r.unicast_peers.iter().any(|a| a.is_ipv4());
            let v6 = r.unicast_peers.iter().any(|a| a.is_ipv6());
            if (!r.ipv4.is_empty() && !v4) || (!r.ipv6.is_empty() && !v6) {
                let list: Vec<String> = r.unicast_peers.iter().map(|a| a.to_string()).collect();
                d.warn(
                    loc,
                    format!(
                        "({}, vrid {}): unicast peers for one family only ({}); netvrrp needs them for both: multicast",
                        r.interface,
                        r.vrid,
                        list.join(" ")
                    ),
                );
                r.note(
                    "unicast-peers",
                    format!(
                        "unicast peers {} cover one family only: multicast for both",
                        list.join(" ")
                    ),
                );
                r.unicast_peers.clear();
            }
        }
        imp.routers.push(r);
    }
}
