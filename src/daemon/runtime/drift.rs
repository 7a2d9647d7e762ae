//! Drift at run time (issue 19, item 5): a router's vrrp device changed behind the
//! runtime's back (macvlan mode, MAC, parent, kind) must not carry traffic: the router is
//! held in Initialize with protodown on, as for a link down (never two Masters: a private
//! macvlan would not hear the other router), it is logged once, shown in `show vrrp`
//! (`drift`, `not_running`) and in the metrics, and `apply` repairs it (the device goes
//! back as it was, its link event clears the drift and the router starts again).
//!
//! The parent's address the adverts are sent from (the primary: its first IPv4 address, or
//! its IPv6 link-local) is watched the same way: removed, another address of the family
//! takes its place; with none left, the router is held in Initialize with protodown on
//! (adverts from an address the host no longer has would be answered by nobody, and a
//! Backup would elect itself on the tie-break of an address it does not own) until an
//! address is back, without an apply.

use super::*;
use crate::kernel::{LinkInfo, MacvlanMode};

/// What holds an instance in Initialize behind the runtime's back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Drift {
    /// Its vrrp device changed (kind, mode, MAC, parent): `apply` repairs it.
    Device(String),
    /// Its parent has no address of the family left to send adverts from: it starts again
    /// when one is back.
    NoPrimary(String),
}

impl Drift {
    /// What changed (`show vrrp`'s `drift`).
    pub(super) fn what(&self) -> &str {
        match self {
            Drift::Device(what) | Drift::NoPrimary(what) => what,
        }
    }

    /// Why the router does not run, and what ends it (`show vrrp`'s `not_running`, the log).
    pub(super) fn reason(&self) -> String {
        match self {
            Drift::Device(what) => {
                format!("device changed behind netvrrp's back: {what} (`netvrrp apply` repairs it)")
            }
            Drift::NoPrimary(what) => {
                format!("{what}; it starts again when the parent has one")
            }
        }
    }
}

/// The advert source of instance `inst` on `snap`: `Ok(None)` it is still on the parent,
/// `Ok(Some(a))` it is gone and `a` takes its place, `Err(what)` the parent has no address of
/// the family left. A parent that is gone is not this check's business (the link view
/// holds the router).
pub(super) fn primary_check(inst: &Instance, snap: &Snapshot) -> Result<Option<IpAddr>, String> {
    let Some(parent) = snap.by_index(inst.parent_index) else {
        return Ok(None);
    };
    if parent.addresses.iter().any(|a| a.addr() == inst.primary) {
        return Ok(None);
    }
    match primary_address(snap, inst.parent_index, inst.key.family) {
        Some(next) => Ok(Some(next)),
        None => Err(match inst.key.family {
            Family::Ipv4 => format!(
                "parent interface {} has no IPv4 address (the advert source {} was removed)",
                parent.name, inst.primary
            ),
            Family::Ipv6 => format!(
                "parent interface {} has no IPv6 link-local address (the advert source {} was removed)",
                parent.name, inst.primary
            ),
        }),
    }
}

/// What differs between the device `link` of instance `inst` and what netvrrp made, if
/// anything.
pub(super) fn device_drift(inst: &Instance, link: &LinkInfo) -> Option<Drift> {
    device_change(inst, link).map(Drift::Device)
}

fn device_change(inst: &Instance, link: &LinkInfo) -> Option<String> {
    if link.kind.as_deref() != Some("macvlan") {
        return Some(format!(
            "{} is a {}, not a macvlan",
            link.name,
            link.kind.as_deref().unwrap_or("plain device")
        ));
    }
    if let Some(mode) = link.macvlan_mode
        && mode != MacvlanMode::Bridge
    {
        return Some(format!(
            "{} is in macvlan mode {} instead of bridge",
            link.name,
            format!("{mode:?}").to_lowercase()
        ));
    }
    if link.mac != Some(inst.vmac) {
        let mac = link.mac.map_or("none".to_string(), |m| m.to_string());
        return Some(format!(
            "{} has MAC {mac} instead of {}",
            link.name, inst.vmac
        ));
    }
    if link.parent_index != Some(inst.parent_index) {
        return Some(format!(
            "{} is no longer on {} (ifindex {})",
            link.name, inst.key.interface, inst.parent_index
        ));
    }
    None
}

impl Runtime {
    /// Record the drift found for instance `i` (None: none); log when it starts or ends.
    pub(super) fn note_drift(&mut self, i: usize, drift: Option<Drift>) {
        let key = &self.instances[i].key;
        let known = self.drifted.get(key);
        if known == drift.as_ref() {
            return;
        }
        match &drift {
            Some(d) => {
                self.stats.drift_events += 1;
                let what = d.what();
                match d {
                    Drift::Device(_) => {
                        tracing::error!(target: "netvrrp::kernel", router = self.instances[i].config.name.as_deref(), interface = %key.interface, vrid = key.vrid, family = %key.family, "vrrp device changed behind netvrrp's back: {what}; router held in Initialize with protodown on until `netvrrp apply` repairs it")
                    }
                    Drift::NoPrimary(_) => {
                        tracing::error!(target: "netvrrp::kernel", router = self.instances[i].config.name.as_deref(), interface = %key.interface, vrid = key.vrid, family = %key.family, "{what}: router held in Initialize with protodown on until the parent has an address of the family again")
                    }
                }
                self.drifted.insert(key.clone(), d.clone());
            }
            None => {
                tracing::info!(target: "netvrrp::kernel", router = self.instances[i].config.name.as_deref(), interface = %key.interface, vrid = key.vrid, family = %key.family, "{}; router starts again", match known {
                    Some(Drift::NoPrimary(_)) => "parent address back",
                    _ => "vrrp device repaired",
                });
                self.drifted.remove(key);
            }
        }
    }

    /// The drift of instance `i` on `snap`: its device's ([`device_drift`] of `dev`), else
    /// its advert source's. A primary address that is gone while another of the family is
    /// on the parent is followed (the router's tie-break address, the filter's, a unicast
    /// socket's source), not a drift.
    pub(super) fn find_drift(
        &mut self,
        i: usize,
        dev: Option<&LinkInfo>,
        snap: &Snapshot,
    ) -> Option<Drift> {
        let inst = &self.instances[i];
        if let Some(d) = dev.and_then(|l| device_drift(inst, l)) {
            return Some(d);
        }
        let next = match primary_check(inst, snap) {
            Ok(None) => return None,
            Ok(Some(next)) => next,
            Err(what) => return Some(Drift::NoPrimary(what)),
        };
        let inst = &mut self.instances[i];
        if let Err(e) = inst.router.set_primary_address(next) {
            return Some(Drift::NoPrimary(format!(
                "the parent's address {next} cannot be the advert source: {e}"
            )));
        }
        tracing::info!(target: "netvrrp::kernel", interface = %inst.key.interface, vrid = inst.key.vrid, family = %inst.key.family, old = %inst.primary, new = %next, "the advert source was removed from the parent: adverts now come from another of its addresses");
        inst.primary = next;
        inst.unicast = open_unicast(&inst.config, inst.key.family, inst.parent_index, next);
        self.filter_dirty = true;
        None
    }

    /// A Master's device put into protodown by another program (the runtime had turned it
    /// off): turned off again when no protodown reason holds it (someone ran `ip link set
    /// protodown on`); with a reason set (FRR's zebra sets bit 7 when the vrrpd netvrrp took
    /// over from leaves, see README "Migrating from FRR"), logged once: the kernel would
    /// refuse, and that program's reason is not netvrrp's to clear. Clearing the reason is a
    /// link event that brings the runtime here again.
    pub(super) async fn reclaim_protodown(&mut self, i: usize, protodown: bool, reason: u32) {
        let inst = &mut self.instances[i];
        if !protodown || inst.router.state() != State::Master || inst.protodown != Some(false) {
            if !self.foreign_protodown.is_empty() {
                self.foreign_protodown.remove(&inst.key);
            }
            return;
        }
        if reason != 0 {
            if !self.foreign_protodown.insert(inst.key.clone()) {
                return;
            }
            tracing::warn!(target: "netvrrp::kernel", interface = %inst.key.interface, vrid = inst.key.vrid, family = %inst.key.family, device = %inst.device, "another program put the Master's device into protodown with reason bits {reason:#x}; it sends nothing until they are cleared (`ip link set dev {} protodown_reason BIT off`; FRR's zebra uses bit 7)", inst.device);
            return;
        }
        self.foreign_protodown.remove(&inst.key);
        tracing::warn!(target: "netvrrp::kernel", interface = %inst.key.interface, vrid = inst.key.vrid, family = %inst.key.family, device = %inst.device, "the Master's device was put into protodown behind netvrrp's back: turning it off again");
        if Self::set_protodown(&self.kernel, inst, false).await {
            self.stats.drift_events += 1;
        }
    }

    /// The drift recorded for instance `inst`, if any.
    pub(super) fn drift_of(&self, inst: &Instance) -> Option<&Drift> {
        self.drifted.get(&inst.key)
    }
}
