//! Live reconfiguration (see Reconfiguration in the module documentation of [`super`]):
//! new parameters, tracking entries or a new primary address on a running router.

use super::*;

impl Router {
    /// Replace the tracked entries (a reload changed the router's `track` list), with the
    /// state of each (`down[i]` for `track[i]`; missing states count as up), without
    /// restarting the router: only what the new entries change happens (a new effective
    /// priority advertised at once by a Master, a fault starting or ending).
    pub fn set_track(
        &mut self,
        now: Time,
        track: Vec<Tracked>,
        mut down: Vec<bool>,
        out: &mut Vec<Action>,
    ) {
        let was_faulted = self.faulted();
        down.resize(track.len(), false);
        self.params.track = track;
        self.track_down = down;
        self.track_settled(now, was_faulted, out);
    }

    /// Our primary address changed (e.g. a new IPv4 primary on the parent). It is only used
    /// for the tie-break, so nothing else changes.
    pub fn set_primary_address(&mut self, address: IpAddr) -> Result<(), ParamsError> {
        let old = self.params.primary_address;
        self.params.primary_address = address;
        if let Err(e) = self.params.validate() {
            self.params.primary_address = old;
            return Err(e);
        }
        if self.state == State::Master {
            self.master_address = Some(address);
        }
        Ok(())
    }

    /// Apply new parameters to the running state machine (a live reconfiguration; see
    /// "Reconfiguration" in the module documentation). `track_down` is the current state of
    /// each entry of `params.track` (missing entries count as up). `announce`: the advert's
    /// contents changed outside the parameters (the runtime's VIP list), so a Master sends
    /// one at once. Version, family and VRID cannot change: [`ParamsError::Identity`], and
    /// nothing is changed on any error.
    pub fn reconfigure(
        &mut self,
        now: Time,
        params: RouterParams,
        track_down: &[bool],
        announce: bool,
        out: &mut Vec<Action>,
    ) -> Result<(), ParamsError> {
        params.validate()?;
        if (params.version, params.family, params.vrid)
            != (self.params.version, self.params.family, self.params.vrid)
        {
            return Err(ParamsError::Identity);
        }
        let was_faulted = self.faulted();
        let old = std::mem::replace(&mut self.params, params);
        self.track_down = (0..self.params.track.len())
            .map(|i| track_down.get(i).copied().unwrap_or(false))
            .collect();
        if self.state == State::Master {
            self.master_address = Some(self.params.primary_address);
        }
        let interval_changed = old.advert_interval_cs != self.params.advert_interval_cs;
        // A VRRPv3 Backup follows the master's interval (learned from its adverts), not ours.
        if interval_changed && (self.state != State::Backup || self.params.version == Version::V2) {
            self.master_adver_interval_cs = self.params.advert_interval_cs;
        }
        if !self.params.preempt || self.params.preempt_delay != old.preempt_delay {
            // A hold measured against the old setting no longer means anything; a new one
            // starts with the next lesser advert.
            self.preempt_hold_until = None;
        }
        if self.garp_next > self.params.garp_bursts {
            self.garp_at = None;
        }
        let old_priority = self.effective_priority;
        self.effective_priority = self.tracked_priority();
        self.recompute_intervals();
        let priority_changed = self.effective_priority != old_priority;
        // A fault that starts or ends with the new tracking list: the transition goes first
        // (a state change is the first action of a call).
        let state_before = self.state;
        self.settle_fault(now, was_faulted, out);
        if priority_changed {
            out.push(Action::EffectivePriorityChanged {
                from: old_priority,
                to: self.effective_priority,
            });
        }
        if self.state != state_before {
            return Ok(());
        }
        match self.state {
            State::Master => {
                if priority_changed || interval_changed || announce {
                    // Backups hear the new priority / interval now, not an interval later: the
                    // Adver_Timer is due at once (the advert leaves with the timers the runtime
                    // serves next, most urgent first, so a reload of 1,000 routers does not
                    // send 1,000 adverts ahead of a 10 ms router's). A lowered priority is
                    // handed over by the RFC rules (a preempting backup ignores us and takes
                    // over): never by priority 0.
                    self.adver_at = Some(now);
                }
            }
            State::Backup => {
                if self.effective_priority == OWNER_PRIORITY {
                    // The address owner does not wait for the master to fall silent.
                    self.become_master(now, Reason::BecameOwner, out);
                } else if self.params.version == Version::V2 && interval_changed {
                    // A v2 master with the old interval is now discarded (7.1); count the
                    // silence from here.
                    self.arm_master_down(now, self.master_down_interval, DownCause::Silence);
                }
            }
            State::Initialize => {}
        }
        Ok(())
    }
}
