//! What the runtime shows outward: the filter state it wants, `show vrrp` rows and the
//! metrics text.

use super::*;
use crate::contract::{TrackContribution, VrrpRow};

impl Runtime {
    /// Bring the nftables filter in line with the instances' states (see [`super::filter`]).
    /// Called right after the frames are flushed, so the leases of the Masters that sent
    /// an advert are renewed after it left, never before: a runtime killed in between must
    /// not hold a lease later than 2 intervals after its last advert (see
    /// [`crate::daemon::filter::lease_for`]).
    pub(super) fn sync_filter(&mut self) {
        if self.filter_dirty {
            self.filter_dirty = false;
            let _ = self.filter.send(FilterJob::Sync(self.filter_state(false)));
        }
        if !self.renewals.is_empty() {
            let _ = self
                .filter
                .send(FilterJob::Renew(std::mem::take(&mut self.renewals)));
        }
    }

    /// The filter for the current states; `leaving`: as if no instance were Master (every
    /// VIP blocked), for the stop.
    pub(super) fn filter_state(&self, leaving: bool) -> crate::daemon::filter::FilterState {
        let mut wanted = crate::daemon::filter::FilterState::default();
        for inst in &self.instances {
            // A device taken over live answers as a Master's, on a permanent lease: it sends
            // no adverts (nothing renews) until it is Master (see `takeover.rs`).
            let held = self.held(inst);
            wanted.add(
                &inst.vips,
                inst.device_index,
                !leaving && (inst.router.state() == State::Master || held),
                inst.router.accept_mode(),
                if held {
                    0
                } else {
                    self.lease_ms(inst.config.advertisement_interval_ms)
                },
            );
            if let IpAddr::V4(p) = inst.primary {
                wanted.primary4.insert(inst.parent_index, p);
            }
        }
        wanted
    }

    /// What a scrape needs from the loop: the rows as `show` builds them (rendered off the
    /// loop, see src/daemon/metrics_http.rs).
    pub(super) fn metrics_snapshot(&self) -> crate::daemon::metrics::Snapshot {
        crate::daemon::metrics::Snapshot {
            vrrp: self.show_vrrp(),
            vrrs_servers: self.vrrs.show_server(),
            vrrs_pathways: self.vrrs.show_pathway(),
            track: self.tracks.show(None),
            stats: self.stats.clone(),
        }
    }

    /// `show vrrp`: one row per instance, then the instances that could not be installed.
    pub(super) fn show_vrrp(&self) -> Vec<VrrpRow> {
        let mut rows: Vec<VrrpRow> = self
            .instances
            .iter()
            .enumerate()
            .map(|(i, inst)| {
                let r = &inst.router;
                let ms = |d: Duration| d.as_secs_f64() * 1000.0;
                VrrpRow {
                    name: inst.config.name.clone(),
                    interface: inst.key.interface.clone(),
                    vrid: inst.key.vrid,
                    family: inst.key.family,
                    version: inst.config.version.number(),
                    device: Some(inst.device.clone()),
                    device_index: inst.device_index,
                    vmac: inst.vmac,
                    state: r.state(),
                    priority: r.priority(),
                    effective_priority: r.effective_priority(),
                    preempt: inst.config.preempt,
                    preempt_delay_ms: inst.config.preempt_delay_ms,
                    accept_mode: r.accept_mode(),
                    primary_address: Some(inst.primary),
                    master_address: r.master_address(),
                    // What the runtime set, else what the kernel shows (a shut-down
                    // router's device stays as apply left it: protodown).
                    protodown: inst
                        .protodown
                        .or_else(|| self.snapshot.by_name(&inst.device).map(|l| l.protodown)),
                    advertisement_interval_ms: inst.config.advertisement_interval_ms,
                    master_adver_interval_ms: ms(r.master_adver_interval()),
                    skew_time_ms: ms(r.skew_time()),
                    master_down_interval_ms: ms(r.master_down_interval()),
                    vips: inst.vips.clone(),
                    vrrs_leader: inst.config.vrrs_leader.clone(),
                    unicast_peers: crate::vrrp::unicast::peers_of(
                        &inst.config.unicast_peers,
                        inst.key.family,
                    ),
                    last_change: inst.last_change,
                    last_reason: inst.last_reason.map(|r| r.to_string()),
                    track: TrackContribution::of(&inst.config.track, r.tracked_down()),
                    faulted: r.faulted(),
                    counters: *r.counters(),
                    router_advertisements: self.ra.row(i),
                    shutdown: inst.config.shutdown,
                    not_running: self.held_reason(inst),
                    drift: self.drift_of(inst).map(|d| d.what().to_string()),
                }
            })
            .collect();
        rows.extend(self.not_installed_rows());
        rows
    }
}
