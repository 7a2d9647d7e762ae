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

    /// The drift recorded for instance `inst`, if any.
    pub(super) fn drift_of(&self, inst: &Instance) -> Option<&String> {
        self.drifted.get(&inst.key)
    }
}
