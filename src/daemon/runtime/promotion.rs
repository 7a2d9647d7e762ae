//! A router becoming Master: its device out of protodown and its part of the VIP filter
//! opened before its first advert leaves.
//!
//! Why before: hosts send to the virtual MAC as soon as they hear the advert (or already do:
//! a switch that lost the old Master's port floods the frames), and until both changes are
//! in, the new Master's kernel loses what they send: the filter still drops whatever a
//! Backup's device receives and traffic to its VIPs, and a protodown device sends nothing,
//! not even the Neighbor Solicitation its first reply needs. When the filter task opened the
//! filter after the advert, that took 1 to 10 ms on a busy machine, and an IPv6 host's first
//! echo request to the new Master went unanswered in 3 of 10 runs (bench/ra.sh with
//! DIAG=1). Both are netlink requests the kernel carries out inside the send (the
//! protodown change and one nf_tables element batch of the router's own elements), so the
//! advert waits tens of microseconds for them (bench/failover.sh).

use super::*;
use crate::daemon::filter::{Promotion, lease_for};

impl Runtime {
    /// Protodown off for instance `i`, which has just become Master, then its part of the
    /// filter opened (or left to the filter task when that cannot be done at once). False
    /// when the kernel refused the protodown change; the filter then stays as it was.
    pub(super) async fn open_for_master(&mut self, i: usize) -> bool {
        let started = std::time::Instant::now();
        if !Self::set_protodown(&self.kernel, &mut self.instances[i], false).await {
            return false;
        }
        let protodown_us = started.elapsed().as_micros() as u64;
        let inst = &self.instances[i];
        let promotion = Promotion {
            device: inst.device_index,
            vips: &inst.vips,
            accept: inst.router.accept_mode(),
            lease_ms: self.lease_ms(inst.config.advertisement_interval_ms),
        };
        let opened = self.filter.promote(&promotion);
        let total_us = started.elapsed().as_micros() as u64;
        if opened {
            tracing::debug!(target: "netvrrp::kernel", device = %inst.device, protodown_us, total_us, "VIP filter: opened for the new Master before its advert");
        } else {
            tracing::debug!(target: "netvrrp::kernel", device = %inst.device, protodown_us, "VIP filter: not open before the advert (the filter task is busy or has no fast path); the task opens it");
        }
        true
    }

    /// The dead-man lease of a Master advertising every `interval_ms` (0: a permanent
    /// element, on a kernel that cannot renew leases).
    pub(super) fn lease_ms(&self, interval_ms: u32) -> u32 {
        if self.deadman {
            lease_for(Duration::from_millis(u64::from(interval_ms)))
        } else {
            0
        }
    }
}
