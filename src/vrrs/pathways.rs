//! Pathway evaluation: the flags of each pathway (Cisco's `show vrrs pathway`) from the
//! link model, the state they give with the leader's, and the kernel effects that bring
//! its macvlan and addresses in line (one device-group protodown per leader when it can).

use super::*;

impl Vrrs {
    /// Re-evaluate pathways `which` (in that order) and collect their changes and effects.
    pub(super) fn refresh(&mut self, which: &[usize]) -> Fanout {
        let mut fan = Fanout::default();
        // Only pathways without `mac` look for their addresses on other links; skip building
        // the index on the (hot) push path of leaders that have none.
        let needs_owners = which.iter().any(|&i| {
            let p = &self.pathways[i];
            p.mac.is_none() && !p.addresses.is_empty()
        });
        let owners = (self.complete && needs_owners).then(|| self.owners());
        for &i in which {
            if let Some(u) = self.refresh_one(i, owners.as_ref()) {
                fan.pathways.push(u);
            }
        }
        fan
    }

    pub(super) fn owners(&self) -> Owners {
        let mut owners: Owners = HashMap::new();
        for (name, link) in &self.links {
            for a in link.addresses.iter().flatten() {
                owners.entry(a.addr()).or_default().push(name.clone());
            }
        }
        owners
    }

    pub(super) fn refresh_one(
        &mut self,
        i: usize,
        owners: Option<&Owners>,
    ) -> Option<PathwayUpdate> {
        let (eval, device) = self.evaluate(&self.pathways[i], owners);
        let leader = self.pathways[i]
            .server
            .and_then(|s| self.servers[s].leader());
        let state = pathway_state(leader, &eval);
        let device_present = device.as_ref().is_some_and(|d| self.links.contains_key(d));
        let p = &mut self.pathways[i];
        let previous = p.state;
        p.eval = eval;
        p.device = device;
        p.state = state;
        if device_present {
            p.create_requested = false;
        }
        if previous != state {
            p.transitions += 1;
            tracing::debug!(target: TARGET, leader = %p.leader, interface = %p.interface, previous = previous.as_str(), state = state.as_str(), ?eval, "pathway state");
        }
        // Members follow the leader in bulk; Connected is the leader's own flag, the same for
        // all of its pathways, so it does not decide membership.
        let group = p.server.and_then(|s| self.servers[s].group).map(|g| {
            let ready = Evaluation {
                connected: true,
                ..p.eval
            };
            if ready.all() { g } else { 0 }
        });
        let mut effects = kernel_effects(&mut self.links, self.complete, p, previous, group);
        if let Some(settle) = settle_carrier(&self.links, p) {
            effects.insert(0, settle);
        }
        (previous != state || !effects.is_empty()).then(|| PathwayUpdate {
            leader: p.leader.clone(),
            interface: p.interface.clone(),
            default_pathway: p.default.is_some(),
            previous,
            state,
            removed: false,
            effects,
        })
    }

    /// Replace the `SetProtodown` effects in `fan` (a push of leader `s`) by one change of
    /// the leader's device group when that is exactly the same change: every device the
    /// model places in the group has a `SetProtodown` in `fan`, all to the same value. A
    /// member without one (a foreign device someone put in the group, or a pathway already
    /// in that state) keeps the per-device effects, so the group change never touches a
    /// device that should not change. Only with a complete link table, where an absent
    /// member is truly absent.
    pub(super) fn bulk_protodown(&self, s: usize, fan: &mut Fanout) {
        let Some(group) = self.servers[s].group else {
            return;
        };
        if !self.complete {
            return;
        }
        let members: std::collections::HashSet<&str> = self
            .links
            .iter()
            .filter(|(_, l)| l.group == Some(group))
            .map(|(name, _)| name.as_str())
            .collect();
        // One device: a per-device request costs the same.
        if members.len() < 2 {
            return;
        }
        let mut on = None;
        let mut covered = 0;
        for effect in fan.pathway_effects() {
            if let PathwayEffect::SetProtodown { device, on: o } = effect
                && members.contains(device.as_str())
            {
                if *on.get_or_insert(*o) != *o {
                    return;
                }
                covered += 1;
            }
        }
        let Some(on) = on.filter(|_| covered == members.len()) else {
            return;
        };
        let mut devices = Vec::with_capacity(covered);
        for u in &mut fan.pathways {
            u.effects.retain(|e| match e {
                PathwayEffect::SetProtodown { device, .. } if members.contains(device.as_str()) => {
                    devices.push(device.clone());
                    false
                }
                _ => true,
            });
        }
        fan.bulk.push(BulkProtodown { group, on, devices });
    }

    /// The evaluation flags of a pathway and the name of its device.
    pub(super) fn evaluate(
        &self,
        p: &Pathway,
        owners: Option<&Owners>,
    ) -> (Evaluation, Option<String>) {
        let parent = self.links.get(&p.interface);
        let connected = p.server.is_some_and(|s| self.servers[s].connected);
        let needs_v6 = p.addresses.iter().any(|a| matches!(a, IpNet::V6(_)));
        let device = match (p.default, p.mac) {
            (Some((family, vrid)), _) => parent
                .and_then(|l| l.index)
                .map(|idx| desired::router_device_name(family, idx, vrid)),
            (None, Some(mac)) => parent
                .and_then(|l| l.index)
                .map(|idx| desired::pathway_device_name(idx, mac)),
            (None, None) => None,
        };
        let (vmac_ready, vip_ready) = match p.mac {
            Some(mac) => {
                let dev = device.as_ref().and_then(|d| self.links.get(d));
                // A device by that name with another MAC is not ours.
                let vmac = dev.is_some_and(|d| {
                    d.admin_up && d.mac.is_none_or(|m| m == mac) && d.protodown_reason == 0
                });
                let vip = dev.is_some_and(|d| {
                    d.addresses
                        .as_ref()
                        .is_none_or(|have| p.addresses.iter().all(|a| have.contains(a)))
                });
                (vmac, vip)
            }
            None => {
                let foreign = owners.is_some_and(|o| {
                    p.addresses.iter().any(|a| {
                        o.get(&a.addr())
                            .is_some_and(|links| links.iter().any(|l| *l != p.interface))
                    })
                });
                (true, !foreign)
            }
        };
        let eval = Evaluation {
            no_shut: parent.is_some_and(|l| l.admin_up),
            connected,
            oir: parent.is_some(),
            l2_ready: parent.is_some_and(|l| l.carrier),
            l3_ready: parent.is_some_and(|l| l.admin_up && !(needs_v6 && l.ipv6 == Some(false))),
            vmac_ready,
            vip_ready,
        };
        (eval, device)
    }
}

/// Kernel effects that bring pathway `p` (already holding its new state) in line, given
/// the state it had before, and its macvlan into device group `group` (None: groups are not
/// managed). Updates the link model as if they succeeded.
pub(super) fn kernel_effects(
    links: &mut HashMap<String, Link>,
    complete: bool,
    p: &mut Pathway,
    previous: PathwayState,
    group: Option<u32>,
) -> Vec<PathwayEffect> {
    let mut out = Vec::new();
    if p.default.is_some() {
        // The VRRP router owns its device: protodown and GARP come from the state machine.
        return out;
    }
    let active = p.state == PathwayState::Active;
    let became_active = active && previous != PathwayState::Active;
    // A change the kernel must see (INACTIVE ↔ NOT READY looks the same there).
    let edge = (previous == PathwayState::Active) != active;
    let vips: Vec<IpAddr> = p.addresses.iter().map(|a| a.addr()).collect();
    match p.mac {
        Some(mac) => {
            let Some(device) = p.device.clone() else {
                // Parent absent or its index unknown: nothing to act on.
                return out;
            };
            let Some(link) = links.get_mut(&device) else {
                // Only once the parent is admin up: creation would be refused before (apply's
                // rule), and a re-inserted interface usually appears down and is brought up a
                // moment later (that link event brings us back here).
                if complete
                    && !p.create_requested
                    && let Some(cfg) = &p.config
                    && let Some(idx) = links
                        .get(&p.interface)
                        .filter(|l| l.admin_up)
                        .and_then(|l| l.index)
                {
                    p.create_requested = true;
                    tracing::info!(target: TARGET, leader = %p.leader, interface = %p.interface, %device, "pathway macvlan missing; asking for it to be re-created");
                    out.push(PathwayEffect::CreateDevice {
                        device: desired::pathway_device(cfg, mac, idx),
                    });
                }
                return out;
            };
            if let Some(group) = group
                && link.group != Some(group)
            {
                link.group = Some(group);
                out.push(PathwayEffect::SetGroup {
                    device: device.clone(),
                    group,
                });
            }
            let want_down = !active;
            let differs = match link.protodown {
                Some(on) => on != want_down,
                None => edge,
            };
            if differs {
                link.protodown = Some(want_down);
                out.push(PathwayEffect::SetProtodown {
                    device: device.clone(),
                    on: want_down,
                });
            }
            if became_active && !vips.is_empty() {
                out.push(PathwayEffect::Gratuitous {
                    device,
                    mac,
                    addrs: vips,
                });
            }
        }
        None => {
            if p.addresses.is_empty() {
                // A state-only pathway: shown, not acted on.
                return out;
            }
            let Some(link) = links.get_mut(&p.interface) else {
                return out;
            };
            match &mut link.addresses {
                Some(have) => {
                    let (present, missing): (Vec<IpNet>, Vec<IpNet>) =
                        p.addresses.iter().partition(|a| have.contains(a));
                    if active && !missing.is_empty() {
                        have.extend(missing.iter().copied());
                        out.push(PathwayEffect::AddAddresses {
                            interface: p.interface.clone(),
                            addrs: missing,
                        });
                    } else if !active && !present.is_empty() {
                        have.retain(|a| !present.contains(a));
                        out.push(PathwayEffect::DelAddresses {
                            interface: p.interface.clone(),
                            addrs: present,
                        });
                    }
                }
                None if edge => out.push(if active {
                    PathwayEffect::AddAddresses {
                        interface: p.interface.clone(),
                        addrs: p.addresses.clone(),
                    }
                } else {
                    PathwayEffect::DelAddresses {
                        interface: p.interface.clone(),
                        addrs: p.addresses.clone(),
                    }
                }),
                None => {}
            }
            if became_active {
                match link.mac {
                    Some(mac) => out.push(PathwayEffect::Gratuitous {
                        device: p.interface.clone(),
                        mac,
                        addrs: vips,
                    }),
                    None => {
                        tracing::warn!(target: TARGET, interface = %p.interface, "interface MAC not known yet; no gratuitous ARP/NA for this pathway")
                    }
                }
            }
        }
    }
    out
}

/// A [`PathwayEffect::SettleCarrier`] for pathway `p` if its interface has carrier the kernel
/// has not applied yet and none was asked for that link.
pub(super) fn settle_carrier(
    links: &HashMap<String, Link>,
    p: &mut Pathway,
) -> Option<PathwayEffect> {
    let Some(index) = links
        .get(&p.interface)
        .filter(|l| l.carrier_pending)
        .and_then(|l| l.index)
    else {
        p.settle_requested = None;
        return None;
    };
    // The VRRP router owns a default pathway's interface, and a kernel without the sync
    // answers without applying anything: asking again would not help.
    if p.default.is_some() || p.settle_requested == Some(index) {
        return None;
    }
    p.settle_requested = Some(index);
    tracing::debug!(target: TARGET, leader = %p.leader, interface = %p.interface, "carrier not applied by the kernel yet; asking it to");
    Some(PathwayEffect::SettleCarrier {
        interface: p.interface.clone(),
    })
}
