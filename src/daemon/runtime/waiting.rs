//! Routers that cannot run, and why: instances the configuration asks for that could not be
//! installed (the parent interface is absent, it has no usable address of the family), and
//! installed ones held in Initialize (parent down or gone, vrrp device removed, protodown
//! refused, shut down, a tracked object faulting them). `show vrrp` lists both with the
//! reason; the ones waiting to be installed are started as soon as a kernel event shows
//! their condition cleared, without an apply (issue 19: no silent failure).

use super::*;

/// An instance of the configuration that is not installed, and why.
pub(super) struct NotInstalled {
    pub key: InstanceKey,
    pub reason: String,
    /// A kernel condition that may clear (false: the configuration itself is refused, only
    /// a reload changes that).
    pub retry: bool,
}

impl Runtime {
    /// Whether a kernel event may change what the loop knows: every link event, and
    /// address events while an instance waits for its parent's address.
    pub(super) fn wants_event(&self, ev: &KernelEvent) -> bool {
        Self::is_link_event(ev)
            || (!self.not_installed.is_empty()
                && matches!(
                    ev,
                    KernelEvent::AddressChanged { .. } | KernelEvent::AddressRemoved { .. }
                ))
    }

    /// Install the waiting instances whose condition cleared in the current snapshot (the
    /// others keep waiting; the running ones are kept as they are).
    pub(super) async fn start_waiting(&mut self) {
        let snapshot = self.snapshot.clone();
        let ready = self
            .not_installed
            .iter()
            .any(|w| w.retry && why_not_installable(&snapshot, &w.key).is_none());
        if !ready {
            return;
        }
        let config = self.config.clone();
        let running = std::mem::take(&mut self.instances);
        let before = running.len();
        self.install(&config, &snapshot, running).await;
        self.filter_dirty = true;
        self.masters_dirty = true;
        tracing::info!(target: "netvrrp::protocol", started = self.instances.len().saturating_sub(before), waiting = self.not_installed.len(), "routers started: the condition that held them cleared");
    }

    /// Record that instance `key` cannot be installed on `snapshot`; logged once, when it
    /// starts waiting (not at every retry).
    pub(super) fn wait(&mut self, was: &[NotInstalled], key: InstanceKey, snapshot: &Snapshot) {
        let reason = why_not_installable(snapshot, &key)
            .unwrap_or_else(|| "the kernel state is not known yet".into());
        if !was.iter().any(|w| w.key == key && w.reason == reason) {
            tracing::error!(target: "netvrrp::kernel", interface = %key.0, vrid = key.1, family = %key.2, "router not started: {reason}; it starts when that clears");
        }
        self.not_installed.push(NotInstalled {
            key,
            reason,
            retry: true,
        });
    }

    /// Why an installed instance is held in Initialize, if it is.
    pub(super) fn held_reason(&self, inst: &Instance) -> Option<String> {
        let r = &inst.router;
        if inst.config.shutdown {
            return Some("shut down (shutdown = true)".into());
        }
        if r.link_up() {
            return r
                .faulted()
                .then(|| "faulted by a tracked object (track … fault = true)".into());
        }
        let parent = self.snapshot.by_index(inst.parent_index);
        Some(match parent {
            None => format!("parent interface {} is gone", inst.key.0),
            Some(p) if !p.admin_up => format!("parent interface {} is down", p.name),
            Some(p) if !p.carrier => format!("parent interface {} has no carrier", p.name),
            _ if let Some(what) = self.drift_of(inst) => {
                format!("device changed behind netvrrp's back: {what} (`netvrrp apply` repairs it)")
            }
            _ if inst.device_index.is_none() => format!(
                "device {} is missing (`netvrrp apply` re-creates it)",
                inst.device
            ),
            _ if inst.protodown_failed => format!(
                "the kernel refused protodown off on {}: another protodown reason is set",
                inst.device
            ),
            _ => "link down".into(),
        })
    }

    /// `show vrrp` rows of the instances that are not installed: what the configuration
    /// says, state Initialize, and the reason.
    pub(super) fn not_installed_rows(&self) -> Vec<serde_json::Value> {
        let by_router: HashMap<(&str, u8), &RouterConfig> = self
            .config
            .routers
            .iter()
            .map(|r| ((r.interface.as_str(), r.vrid), r))
            .collect();
        self.not_installed
            .iter()
            .filter_map(|w| {
                let rc = by_router.get(&(w.key.0.as_str(), w.key.1))?;
                let family = w.key.2;
                Some(json!({
                    "name": rc.name,
                    "interface": w.key.0,
                    "vrid": w.key.1,
                    "family": family,
                    "version": rc.version.number(),
                    "device": null,
                    "device_index": null,
                    "vmac": MacAddr::vrrp(family, rc.vrid).to_string(),
                    "state": State::Initialize.as_str(),
                    "priority": rc.priority,
                    "effective_priority": rc.priority,
                    "preempt": rc.preempt,
                    "preempt_delay_ms": rc.preempt_delay_ms,
                    "accept_mode": rc.accept_mode,
                    "primary_address": null,
                    "master_address": null,
                    "protodown": null,
                    "advertisement_interval_ms": rc.advertisement_interval_ms,
                    "vips": rc.addresses(family).iter().map(|n| n.addr()).collect::<Vec<_>>(),
                    "vrrs_leader": rc.vrrs_leader,
                    "shutdown": rc.shutdown,
                    "not_running": w.reason,
                }))
            })
            .collect()
    }
}

/// Why the instance `key` cannot be installed on `snapshot`, or None when it can.
pub(super) fn why_not_installable(snapshot: &Snapshot, key: &InstanceKey) -> Option<String> {
    let Some(parent) = snapshot.by_name(&key.0) else {
        return Some(format!("parent interface {} does not exist", key.0));
    };
    if primary_address(snapshot, parent.index, key.2).is_none() {
        return Some(match key.2 {
            Family::Ipv4 => format!("parent interface {} has no IPv4 address", key.0),
            Family::Ipv6 => format!("parent interface {} has no IPv6 link-local address", key.0),
        });
    }
    None
}
