//! Drift at run time (issue 19, item 5): a router's vrrp device changed behind the
//! runtime's back (macvlan mode, MAC, parent, kind) must not carry traffic: the router is
//! held in Initialize with protodown on, as for a link down (never two Masters: a private
//! macvlan would not hear the other router), it is logged once, shown in `show vrrp`
//! (`drift`, `not_running`) and in the metrics, and `apply` repairs it (the device goes
//! back as it was, its link event clears the drift and the router starts again).

use super::*;
use crate::kernel::{LinkInfo, MacvlanMode};

/// What differs between the device `link` of instance `inst` and what netvrrp made, if
/// anything.
pub(super) fn device_drift(inst: &Instance, link: &LinkInfo) -> Option<String> {
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
    pub(super) fn note_drift(&mut self, i: usize, drift: Option<String>) {
        let key = &self.instances[i].key;
        let known = self.drifted.get(key);
        if known == drift.as_ref() {
            return;
        }
        match &drift {
            Some(what) => {
                self.stats.drift_events += 1;
                tracing::error!(target: "netvrrp::kernel", router = self.instances[i].config.name.as_deref(), interface = %key.interface, vrid = key.vrid, family = %key.family, "vrrp device changed behind netvrrp's back: {what}; router held in Initialize with protodown on until `netvrrp apply` repairs it");
                self.drifted.insert(key.clone(), what.clone());
            }
            None => {
                tracing::info!(target: "netvrrp::kernel", router = self.instances[i].config.name.as_deref(), interface = %key.interface, vrid = key.vrid, family = %key.family, "vrrp device repaired; router starts again");
                self.drifted.remove(key);
            }
        }
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
    pub(super) fn drift_of(&self, inst: &Instance) -> Option<&String> {
        self.drifted.get(&inst.key)
    }
}
