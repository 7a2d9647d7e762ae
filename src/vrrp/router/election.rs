//! The RFC 9568 / RFC 3768 transitions on adverts and timers (the table in the module
//! documentation of [`super`]), and the timer formulas they use.

use super::*;

impl Router {
    /// Initialize → Master (owner, with `owner_reason`) or Backup (with `reason`).
    pub(super) fn start(
        &mut self,
        now: Time,
        owner_reason: Reason,
        reason: Reason,
        out: &mut Vec<Action>,
    ) {
        if self.state != State::Initialize {
            return;
        }
        self.set_master_adver_interval(self.params.advert_interval_cs);
        if self.effective_priority == OWNER_PRIORITY {
            self.become_master(now, owner_reason, out);
        } else {
            self.transition(State::Backup, reason, out);
            self.set_protodown(true, out);
            self.arm_master_down(now, self.master_down_interval, DownCause::Silence);
            // Startup opens a preempt hold: a router that just came up leaves a working
            // lower-priority master alone for preempt_delay.
            self.preempt_hold_until = self
                .preempt_delay_applies()
                .then(|| now + self.params.preempt_delay);
            self.master_address = None;
        }
    }

    /// Any state → Initialize. A Master leaving on Shutdown says so with priority 0; on link
    /// loss no advert can be sent.
    pub(super) fn stop(&mut self, reason: Reason, out: &mut Vec<Action>) {
        let from = self.state;
        if from != State::Initialize {
            self.transition(State::Initialize, reason, out);
            // A fault, unlike a lost link, leaves the link usable for the goodbye.
            if from == State::Master && matches!(reason, Reason::Shutdown | Reason::TrackFault) {
                self.send_advert(0, out);
            }
        }
        // After the advert: protodown would stop the send.
        self.set_protodown(true, out);
        self.cancel_timers();
        self.master_address = None;
    }

    pub(super) fn on_advert(
        &mut self,
        now: Time,
        src: IpAddr,
        priority: u8,
        interval_cs: u16,
        out: &mut Vec<Action>,
    ) {
        self.counters.adverts_received += 1;
        if priority == 0 {
            self.counters.priority_zero_received += 1;
        }
        if self.state == State::Initialize {
            return;
        }
        let interval_ok = match self.params.version {
            // RFC 3768 section 7.1: the interval must match ours; v2 never learns it.
            Version::V2 => interval_cs == self.params.advert_interval_cs,
            // v3 learns it, but 0 would make the master-down timer expire at once.
            Version::V3 => interval_cs != 0,
        };
        if !interval_ok {
            self.counters.interval_errors += 1;
            return;
        }
        match self.state {
            State::Initialize => {}
            State::Backup => self.backup_advert(now, src, priority, interval_cs),
            State::Master => self.master_advert(now, src, priority, interval_cs, out),
        }
        // Misconfiguration reports go last: a state change, when there is one, is always the
        // first action of a call.
        if self.params.priority == OWNER_PRIORITY {
            // Erratum 8298: the owner keeps processing (dropping would leave two owners both
            // Master forever); it only reports the misconfiguration.
            self.counters.owner_conflicts += 1;
            if report_due(&mut self.owner_conflict_logged_at, now) {
                out.push(Action::OwnerConflict { src, priority });
            }
        }
        if self.params.version == Version::V3 && interval_cs != self.params.advert_interval_cs {
            self.counters.interval_mismatches += 1;
            if report_due(&mut self.interval_mismatch_logged_at, now) {
                out.push(Action::IntervalMismatch { src, interval_cs });
            }
        }
    }

    fn backup_advert(&mut self, now: Time, src: IpAddr, priority: u8, interval_cs: u16) {
        if priority == 0 {
            // The master is leaving: take over after Skew_Time, highest priority first.
            self.preempt_hold_until = None;
            self.arm_master_down(now, self.skew_time, DownCause::PriorityZero);
            return;
        }
        if !self.preempts() || priority >= self.effective_priority {
            self.preempt_hold_until = None;
            self.accept_master(now, src, interval_cs);
            return;
        }
        // A lower-priority master and we preempt.
        if self.preempt_delay_applies() {
            let until = *self
                .preempt_hold_until
                .get_or_insert(now + self.params.preempt_delay);
            if now < until {
                // Still holding back: keep this master as if preemption were off.
                self.accept_master(now, src, interval_cs);
                return;
            }
        }
        // Ignore it and let the master-down timer run out (RFC 9568 6.4.2).
        if matches!(self.down_cause, DownCause::Silence | DownCause::Resume) {
            self.down_cause = DownCause::LowerPriority;
        }
    }

    fn master_advert(
        &mut self,
        now: Time,
        src: IpAddr,
        priority: u8,
        interval_cs: u16,
        out: &mut Vec<Action>,
    ) {
        if priority == 0 {
            // Another router is leaving: reassert ourselves at once so no backup takes over
            // after its Skew_Time. Rate-limited like the answer to a lesser advert: a leaving
            // router sends one, a flood must not be reflected.
            if self.may_answer_lesser(now, src) {
                self.send_advert(self.effective_priority, out);
                self.adver_at = Some(now + self.advert_interval());
            } else {
                self.counters.lesser_adverts_unanswered += 1;
            }
            return;
        }
        let reason = if priority > self.effective_priority {
            Reason::HigherPriorityAdvert
        } else if priority == self.effective_priority
            && addr_key(src) > addr_key(self.params.primary_address)
        {
            Reason::EqualPriorityHigherAddress
        } else {
            // RFC 9568 section 6.4.3 (new since RFC 5798): answer a lesser router at once, so
            // it learns there is an Active Router (a healed partition ends within one
            // round trip instead of up to one Advertisement_Interval) and learning bridges
            // see our vMAC again. Adver_Timer keeps its cadence: a flood of lesser adverts
            // never delays or bunches the periodic ones, and gets at most one reply per
            // sender per interval (we must not reflect it). VRRPv2 (RFC 3768) discards
            // silently. Our own address (a looped copy of our advert, or a duplicate
            // address) gets no reply: answering it would feed itself.
            if self.params.version == Version::V3 && src != self.params.primary_address {
                if self.may_answer_lesser(now, src) {
                    self.send_advert(self.effective_priority, out);
                } else {
                    self.counters.lesser_adverts_unanswered += 1;
                }
            }
            return;
        };
        self.transition(State::Backup, reason, out);
        self.set_protodown(true, out);
        self.adver_at = None;
        self.garp_at = None;
        self.accept_master(now, src, interval_cs);
    }

    pub(super) fn on_timer(&mut self, now: Time, out: &mut Vec<Action>) {
        match self.state {
            State::Initialize => {}
            State::Backup => {
                if let Some(at) = self.down_at
                    && now >= at
                {
                    let reason = match self.down_cause {
                        DownCause::Silence => Reason::MasterDownTimer,
                        DownCause::LowerPriority => Reason::Preempt,
                        DownCause::PriorityZero => Reason::PriorityZeroReceived,
                        DownCause::Resume => Reason::Resume,
                    };
                    self.become_master(now, reason, out);
                }
            }
            State::Master => {
                if let Some(at) = self.adver_at
                    && now >= at
                {
                    self.send_advert(self.effective_priority, out);
                    self.adver_at = Some(next_after(at, self.advert_interval(), now));
                }
                if let Some(at) = self.garp_at
                    && now >= at
                {
                    self.send_gratuitous(out);
                    self.garp_at = (self.garp_next <= self.params.garp_bursts)
                        .then(|| next_after(at, self.params.garp_burst_interval, now));
                }
            }
        }
    }

    pub(super) fn become_master(&mut self, now: Time, reason: Reason, out: &mut Vec<Action>) {
        self.transition(State::Master, reason, out);
        // Protodown first: the advert and the gratuitous packets leave through the macvlan.
        self.set_protodown(false, out);
        self.down_at = None;
        self.preempt_hold_until = None;
        self.set_master_adver_interval(self.params.advert_interval_cs);
        self.master_address = Some(self.params.primary_address);
        self.send_advert(self.effective_priority, out);
        self.adver_at = Some(now + self.advert_interval());
        self.garp_next = 1;
        self.garp_at = None;
        if self.params.garp_bursts >= 1 {
            self.send_gratuitous(out);
            if self.garp_next <= self.params.garp_bursts {
                self.garp_at = Some(now + self.params.garp_burst_interval);
            }
        }
    }

    /// Backup accepts `src` as master: RFC 9568 6.4.2's "else" branch.
    fn accept_master(&mut self, now: Time, src: IpAddr, interval_cs: u16) {
        if self.params.version == Version::V3 {
            self.set_master_adver_interval(interval_cs);
        }
        self.master_address = Some(src);
        self.arm_master_down(now, self.master_down_interval, DownCause::Silence);
    }

    pub(super) fn arm_master_down(&mut self, now: Time, after: Duration, cause: DownCause) {
        self.down_at = Some(now + after);
        self.down_cause = cause;
    }

    fn preempt_delay_applies(&self) -> bool {
        !self.params.preempt_delay.is_zero() && self.effective_priority != OWNER_PRIORITY
    }

    /// Whether a lesser advert from `src` may be answered now (see the module doc), noting
    /// the reply if so. A fixed table of recent senders, allocated on the first call.
    fn may_answer_lesser(&mut self, now: Time, src: IpAddr) -> bool {
        let interval = self.advert_interval();
        let expired = |at: Time| at + interval <= now;
        let replies = self
            .lesser_replies
            .get_or_insert_with(|| Box::new([None; LESSER_REPLY_SENDERS]));
        if let Some(entry) = replies.iter_mut().flatten().find(|(addr, _)| *addr == src) {
            if !expired(entry.1) {
                return false;
            }
            entry.1 = now;
            return true;
        }
        match replies
            .iter_mut()
            .find(|e| e.is_none_or(|(_, at)| expired(at)))
        {
            Some(free) => {
                *free = Some((src, now));
                true
            }
            None => false,
        }
    }
}

/// (Skew_Time, Master_Down_Interval) of a router of `priority` whose Master advertises every
/// `master_adver_interval_cs`, in nanoseconds (see the module documentation).
pub fn skew_and_master_down(
    version: Version,
    priority: u8,
    master_adver_interval_cs: u16,
) -> (Duration, Duration) {
    let weight = 256 - u64::from(priority);
    let mai_ns = u64::from(master_adver_interval_cs) * NANOS_PER_CS;
    let skew_ns = match version {
        Version::V3 => weight * mai_ns / 256,
        Version::V2 => weight * NANOS_PER_SEC / 256,
    };
    (
        Duration::from_nanos(skew_ns),
        Duration::from_nanos(3 * mai_ns + skew_ns),
    )
}

/// Rate limit of a misconfiguration report: true (and remember `now`) when the last report
/// is unset or at least [`MISCONFIGURATION_LOG_INTERVAL`] old.
fn report_due(last: &mut Option<Time>, now: Time) -> bool {
    let due = last.is_none_or(|at| now >= at + MISCONFIGURATION_LOG_INTERVAL);
    if due {
        *last = Some(now);
    }
    due
}

/// The next deadline of a periodic timer that was due at `due`: one `period` later, or one
/// `period` after `now` if the loop woke up so late that this is already past.
fn next_after(due: Time, period: Duration, now: Time) -> Time {
    let next = due + period;
    if next > now { next } else { now + period }
}

/// An address as the unsigned number RFC 9568 compares (network byte order).
fn addr_key(addr: IpAddr) -> u128 {
    match addr {
        IpAddr::V4(a) => u128::from(a.to_bits()),
        IpAddr::V6(a) => a.to_bits(),
    }
}
