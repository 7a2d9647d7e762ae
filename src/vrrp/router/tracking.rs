//! Tracking and faults (see Tracking and Fault in the module documentation of
//! [`super`]): the effective priority from the tracked objects that are down, and the
//! router held in Initialize while a `fault` object is down.

use super::*;

/// What a tracked object (an interface or a health check) does to the router while down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tracked {
    /// Lower the effective priority by this much (see Tracking in the module docs).
    Decrement(u8),
    /// Hold the router in Initialize (see Fault in the module docs).
    Fault,
}

impl Router {
    /// Enabled, link up and no tracked fault: the router takes part in the election.
    pub(super) fn runnable(&self) -> bool {
        self.enabled && self.link_up && !self.faulted()
    }

    /// A tracked object with [`Tracked::Fault`] is down.
    pub fn faulted(&self) -> bool {
        self.track_down
            .iter()
            .zip(&self.params.track)
            .any(|(down, t)| *down && *t == Tracked::Fault)
    }

    pub(super) fn on_track(&mut self, now: Time, index: usize, up: bool, out: &mut Vec<Action>) {
        let down = !up;
        if self.track_down.get(index).is_none_or(|d| *d == down) {
            return;
        }
        let was_faulted = self.faulted();
        self.track_down[index] = down;
        self.track_settled(now, was_faulted, out);
    }

    /// The tracked entries and their states changed: recompute the effective priority and
    /// carry out what that and a fault starting or ending mean.
    pub(super) fn track_settled(&mut self, now: Time, was_faulted: bool, out: &mut Vec<Action>) {
        let old = self.effective_priority;
        self.effective_priority = self.tracked_priority();
        let changed = self.effective_priority != old;
        if changed {
            self.recompute_intervals();
        }
        // A state change is the first action of a call, so the fault transitions go before
        // the priority report; a start already uses the new priority.
        let state_before = self.state;
        self.settle_fault(now, was_faulted, out);
        if !changed {
            return;
        }
        out.push(Action::EffectivePriorityChanged {
            from: old,
            to: self.effective_priority,
        });
        if self.state == State::Master && state_before == State::Master {
            // Tell the backups now rather than an interval later.
            self.send_advert(self.effective_priority, out);
            self.adver_at = Some(now + self.advert_interval());
        }
    }

    /// A fault that started (to Initialize) or ended (start again) with the last change of
    /// the tracked entries or their states.
    pub(super) fn settle_fault(&mut self, now: Time, was_faulted: bool, out: &mut Vec<Action>) {
        match (was_faulted, self.faulted()) {
            (false, true) => self.stop(Reason::TrackFault, out),
            (true, false) if self.runnable() => {
                self.start(now, Reason::TrackRecovered, Reason::TrackRecovered, out)
            }
            _ => {}
        }
    }

    /// The configured priority less the decrements of the tracked objects that are down.
    pub(super) fn tracked_priority(&self) -> u8 {
        let penalty: u32 = self
            .track_down
            .iter()
            .zip(&self.params.track)
            .filter(|(down, _)| **down)
            .map(|(_, t)| match t {
                Tracked::Decrement(d) => u32::from(*d),
                Tracked::Fault => 0,
            })
            .sum();
        if penalty == 0 {
            self.params.priority
        } else {
            // Never 0 (that means "leaving") and never 255 (a demoted owner is not the owner).
            let lowered = u32::from(self.params.priority).saturating_sub(penalty);
            u8::try_from(lowered.clamp(1, 254)).unwrap_or(1)
        }
    }
}
