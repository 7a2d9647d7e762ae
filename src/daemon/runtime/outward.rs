//! What the runtime shows outward: the filter state it wants, `show vrrp` rows and the
//! metrics text.

use super::*;

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
            wanted.add(
                &inst.vips,
                inst.device_index,
                !leaving && inst.router.state() == State::Master,
                inst.router.accept_mode(),
                crate::daemon::filter::lease_for(Duration::from_millis(u64::from(
                    inst.config.advertisement_interval_ms,
                ))),
            );
            if let IpAddr::V4(p) = inst.primary {
                wanted.primary4.insert(inst.parent_index, p);
            }
        }
        wanted
    }

    pub(super) fn metrics_text(&self) -> String {
        let rows = |v: serde_json::Value| v.as_array().cloned().unwrap_or_default();
        crate::daemon::metrics::render(
            &rows(self.show_vrrp()),
            &rows(self.vrrs.show_server()),
            &rows(self.vrrs.show_pathway()),
            &rows(self.tracks.show(None)),
            &crate::daemon::metrics::RuntimeInfo {
                version: env!("CARGO_PKG_VERSION"),
                stats: &self.stats,
                process: crate::daemon::metrics::ProcessStats::read(),
            },
        )
    }

    pub(super) fn show_vrrp(&self) -> serde_json::Value {
        let rows: Vec<serde_json::Value> = self
            .instances
            .iter()
            .map(|inst| {
                let r = &inst.router;
                json!({
                    "interface": inst.key.0,
                    "vrid": inst.key.1,
                    "family": inst.key.2,
                    "version": inst.config.version.number(),
                    "device": inst.device,
                    "device_index": inst.device_index,
                    "vmac": inst.vmac.to_string(),
                    "state": r.state().as_str(),
                    "priority": r.priority(),
                    "effective_priority": r.effective_priority(),
                    "preempt": inst.config.preempt,
                    "preempt_delay_ms": inst.config.preempt_delay_ms,
                    "accept_mode": r.accept_mode(),
                    "primary_address": inst.primary,
                    "master_address": r.master_address(),
                    "protodown": inst.protodown,
                    "advertisement_interval_ms": inst.config.advertisement_interval_ms,
                    "master_adver_interval_ms": r.master_adver_interval().as_secs_f64() * 1000.0,
                    "skew_time_ms": r.skew_time().as_secs_f64() * 1000.0,
                    "master_down_interval_ms": r.master_down_interval().as_secs_f64() * 1000.0,
                    "vips": inst.vips,
                    "vrrs_leader": inst.config.vrrs_leader,
                    "unicast_peers": crate::vrrp::unicast::peers_of(&inst.config.unicast_peers, inst.key.2),
                    "last_change": inst.last_change,
                    "track": crate::track::contributions(&inst.config.track, r.tracked_down()),
                    "faulted": r.faulted(),
                    "counters": r.counters(),
                })
            })
            .collect();
        serde_json::Value::Array(rows)
    }
}
