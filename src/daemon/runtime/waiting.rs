//! Routers that cannot run, and why: instances the configuration asks for that could not be
//! installed (the parent interface is absent, it has no usable address of the family), and
//! installed ones held in Initialize (parent down or gone, vrrp device removed, protodown
//! refused, shut down, a tracked object faulting them). `show vrrp` lists both with the
//! reason; the ones waiting to be installed are started as soon as a kernel event shows
//! their condition cleared, without an apply (issue 19: no silent failure).

use super::*;
use crate::contract::{TrackContribution, VrrpRow};

/// An instance of the configuration that is not installed, and why.
pub(super) struct NotInstalled {
    pub key: InstanceKey,
    pub reason: String,
    /// A kernel condition that may clear (false: the configuration itself is refused, only
    /// a reload changes that).
    pub retry: bool,
}

impl Runtime {
    /// Whether a kernel event may change what the loop knows: every link event, address
    /// events while an instance waits for its parent's address, and those of the addresses
    /// adverts may be sent from (IPv4, IPv6 link-local) on the parents of running instances
    /// (see `drift.rs`).
    pub(super) fn wants_event(&self, ev: &KernelEvent) -> bool {
        match ev {
            KernelEvent::AddressChanged { index, address }
            | KernelEvent::AddressRemoved { index, address } => {
                let family = match address.addr() {
                    IpAddr::V4(_) => Family::Ipv4,
                    IpAddr::V6(a) if (a.segments()[0] & 0xffc0) == 0xfe80 => Family::Ipv6,
                    IpAddr::V6(_) => return !self.not_installed.is_empty(),
                };
                !self.not_installed.is_empty() || self.receivers.contains_key(&(*index, family))
            }
            ev => Self::is_link_event(ev),
        }
    }

    /// Install the waiting instances whose condition cleared in the current snapshot (the
    /// others keep waiting; the running ones are kept as they are).
    pub(super) async fn start_waiting(&mut self) {
        // A reload being swapped in holds instance positions: the waiting ones are installed
        // by the reload itself, or at the next kernel event after it.
        if self.swap.is_some() {
            return;
        }
        let snapshot = self.snapshot.clone();
        let ready = self
            .not_installed
            .iter()
            .any(|w| w.retry && why_not_installable(&snapshot, &w.key).is_none());
        if !ready {
            return;
        }
        let routers = self.routers.clone();
        let running = std::mem::take(&mut self.instances);
        let before = running.len();
        self.install(&routers, &snapshot, running).await;
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
            tracing::error!(target: "netvrrp::kernel", interface = %key.interface, vrid = key.vrid, family = %key.family, "router not started: {reason}; it starts when that clears");
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
            None => format!("parent interface {} is gone", inst.key.interface),
            Some(p) if !p.admin_up => format!("parent interface {} is down", p.name),
            Some(p) if !p.carrier => format!("parent interface {} has no carrier", p.name),
            _ if let Some(drift) = self.drift_of(inst) => drift.reason(),
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
    pub(super) fn not_installed_rows(&self) -> Vec<VrrpRow> {
        let by_router: HashMap<(&str, u8), &RouterConfig> = self
            .routers
            .iter()
            .map(|r| ((r.interface.as_str(), r.vrid), &**r))
            .collect();
        self.not_installed
            .iter()
            .filter_map(|w| {
                let rc = by_router.get(&(w.key.interface.as_str(), w.key.vrid))?;
                Some(not_installed_row(rc, w))
            })
            .collect()
    }
}

/// The `show vrrp` row of an instance that is not installed: what the file says, the
/// timers a Backup of it would run, no device, no counters yet.
fn not_installed_row(rc: &RouterConfig, w: &NotInstalled) -> VrrpRow {
    let family = w.key.family;
    let interval_ms = f64::from(rc.advertisement_interval_ms);
    let interval_cs = u16::try_from(rc.advertisement_interval_ms / 10).unwrap_or(u16::MAX);
    let (skew, master_down) =
        crate::vrrp::router::skew_and_master_down(rc.version, rc.priority, interval_cs);
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    VrrpRow {
        name: rc.name.clone(),
        interface: w.key.interface.clone(),
        vrid: w.key.vrid,
        family,
        version: rc.version.number(),
        device: None,
        device_index: None,
        vmac: MacAddr::vrrp(family, rc.vrid),
        state: State::Initialize,
        priority: rc.priority,
        effective_priority: rc.priority,
        preempt: rc.preempt,
        preempt_delay_ms: rc.preempt_delay_ms,
        accept_mode: rc.accept_mode,
        primary_address: None,
        master_address: None,
        protodown: None,
        advertisement_interval_ms: rc.advertisement_interval_ms,
        master_adver_interval_ms: interval_ms,
        skew_time_ms: ms(skew),
        master_down_interval_ms: ms(master_down),
        vips: rc.addresses(family).iter().map(|n| n.addr()).collect(),
        vrrs_leader: rc.vrrs_leader.clone(),
        unicast_peers: crate::vrrp::unicast::peers_of(&rc.unicast_peers, family),
        last_change: 0.0,
        last_reason: None,
        track: TrackContribution::of(&rc.track, &vec![false; rc.track.len()]),
        faulted: false,
        counters: Default::default(),
        router_advertisements: None,
        shutdown: rc.shutdown,
        not_running: Some(w.reason.clone()),
        drift: None,
    }
}

/// Why the instance `key` cannot be installed on `snapshot`, or None when it can.
pub(super) fn why_not_installable(snapshot: &Snapshot, key: &InstanceKey) -> Option<String> {
    let Some(parent) = snapshot.by_name(&key.interface) else {
        return Some(format!("parent interface {} does not exist", key.interface));
    };
    if primary_address(snapshot, parent.index, key.family).is_none() {
        return Some(match key.family {
            Family::Ipv4 => format!("parent interface {} has no IPv4 address", key.interface),
            Family::Ipv6 => format!(
                "parent interface {} has no IPv6 link-local address",
                key.interface
            ),
        });
    }
    None
}
