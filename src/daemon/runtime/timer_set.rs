//! The routers' armed timers, and the order in which due ones are served.
//!
//! Routers started together stay in step: at 1,000 routers with 1 s adverts every one of
//! them is due in the same microsecond, and sending their 1,000 adverts takes the loop about
//! 5 ms on this machine (each frame crosses the kernel). Served in deadline order, a router
//! with 10 ms adverts that falls due just after the burst began waits for all of it: in a
//! lab of 1,000 routers at 1 s and 100 at 10 ms in one runtime (the reload benchmark's),
//! the 10 ms routers' gaps reached 12.6 ms (p99) and 15.1 ms (max) with no reload at all,
//! once every second. Here the due timers are served by urgency instead:
//! a timer's urgency is its deadline plus a tenth of its router's advertisement interval
//! (the lateness an advert may have: no gap over the interval + 10 %; a Backup's
//! Master_Down_Interval is three intervals plus skew), and the loop looks again for newly
//! due timers every
//! [`SERVED_PER_LOOK`] timers (after sending what they queued). A 10 ms router due during
//! the burst then goes next; a 1 s router waits at most the burst, far inside its 100 ms.

use crate::vrrp::router::Time;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::time::Duration;

/// How many due timers are served between two looks for newly due ones (and two sends of
/// the queued frames): about 80 µs of adverts on this machine, small against a 10 ms
/// router's 1 ms of tolerance, large enough that the look (a clock read and a range of the
/// set) costs nothing. A reload slice sends its queued adverts every this many too.
pub const SERVED_PER_LOOK: usize = 16;

/// The armed timers: (deadline, instance index) with the urgency each is served by.
#[derive(Default)]
pub struct TimerSet {
    armed: BTreeMap<(Time, usize), Time>,
    /// Due timers not yet served, most urgent first: (urgency, deadline, instance).
    ready: BinaryHeap<Reverse<(Time, Time, usize)>>,
    /// Every timer due at or before this was put in `ready` by the current round.
    looked_until: Option<Time>,
}

impl TimerSet {
    /// Arm instance `i`'s timer for `deadline` (its advertisement interval sets how late it
    /// may be served). The caller removes the instance's previous deadline first.
    pub fn insert(&mut self, deadline: Time, i: usize, interval: Duration) {
        let slack = Time::from_duration(interval / 10);
        let urgency = Time::from_nanos(deadline.as_nanos().saturating_add(slack.as_nanos()));
        self.armed.insert((deadline, i), urgency);
    }

    pub fn remove(&mut self, deadline: Time, i: usize) {
        self.armed.remove(&(deadline, i));
    }

    pub fn clear(&mut self) {
        self.armed.clear();
        self.ready.clear();
        self.looked_until = None;
    }

    /// The earliest deadline armed.
    pub fn first(&self) -> Option<Time> {
        self.armed.first_key_value().map(|(&(t, _), _)| t)
    }

    pub fn is_due(&self, now: Time) -> bool {
        self.first().is_some_and(|t| t <= now)
    }

    /// Start serving the timers due at `now` (a new round: what an earlier round left is
    /// looked at again).
    pub fn begin(&mut self, now: Time) {
        self.ready.clear();
        self.looked_until = None;
        self.look(now);
    }

    /// Add the timers that fell due since the last look (up to `now`) to the ones waiting.
    /// A timer re-armed for a deadline before the last look waits for the next round.
    pub fn look(&mut self, now: Time) {
        let from = match self.looked_until {
            Some(t) if t >= now => return,
            Some(t) => std::ops::Bound::Excluded((t, usize::MAX)),
            None => std::ops::Bound::Unbounded,
        };
        let to = std::ops::Bound::Included((now, usize::MAX));
        for (&(deadline, i), &urgency) in self.armed.range((from, to)) {
            self.ready.push(Reverse((urgency, deadline, i)));
        }
        self.looked_until = Some(now);
    }

    /// The most urgent waiting timer, taken out of the set: (deadline, instance). Timers
    /// removed or re-armed since they were looked at are skipped.
    pub fn pop_most_urgent(&mut self) -> Option<(Time, usize)> {
        while let Some(Reverse((_, deadline, i))) = self.ready.pop() {
            if self.armed.remove(&(deadline, i)).is_some() {
                return Some((deadline, i));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Time {
        Time::from_nanos(n * 1_000_000)
    }
    const SLOW: Duration = Duration::from_secs(1);
    const FAST: Duration = Duration::from_millis(10);

    #[test]
    fn a_fast_router_due_during_a_burst_goes_before_the_rest_of_the_burst() {
        let mut set = TimerSet::default();
        for i in 0..100 {
            set.insert(ms(1000), i, SLOW);
        }
        set.insert(ms(1002), 100, FAST);
        set.begin(ms(1000));
        let mut served = Vec::new();
        for _ in 0..SERVED_PER_LOOK {
            served.push(set.pop_most_urgent().map(|(_, i)| i));
        }
        assert!(served.iter().all(|i| i.is_some_and(|i| i < 100)));
        // The burst has taken 2 ms: the fast router is due now and goes next.
        set.look(ms(1002));
        assert_eq!(set.pop_most_urgent(), Some((ms(1002), 100)));
        let rest: Vec<_> = std::iter::from_fn(|| set.pop_most_urgent()).collect();
        assert_eq!(rest.len(), 100 - SERVED_PER_LOOK);
        assert_eq!(set.first(), None);
    }

    #[test]
    fn among_equal_intervals_the_earlier_deadline_goes_first() {
        let mut set = TimerSet::default();
        set.insert(ms(7), 1, SLOW);
        set.insert(ms(5), 2, SLOW);
        set.insert(ms(6), 3, FAST);
        set.begin(ms(10));
        // Urgencies: 107, 105, 7.
        let order: Vec<_> = std::iter::from_fn(|| set.pop_most_urgent()).collect();
        assert_eq!(order, vec![(ms(6), 3), (ms(5), 2), (ms(7), 1)]);
    }

    #[test]
    fn timers_not_yet_due_wait_and_each_due_one_is_served_once() {
        let mut set = TimerSet::default();
        set.insert(ms(5), 0, FAST);
        set.insert(ms(20), 1, FAST);
        set.begin(ms(10));
        set.look(ms(10));
        assert_eq!(set.pop_most_urgent(), Some((ms(5), 0)));
        assert_eq!(set.pop_most_urgent(), None);
        assert!(!set.is_due(ms(10)));
        assert_eq!(set.first(), Some(ms(20)));
        assert!(set.is_due(ms(20)));
    }

    #[test]
    fn a_timer_removed_or_rearmed_after_the_look_is_not_served_from_the_old_deadline() {
        let mut set = TimerSet::default();
        set.insert(ms(1), 0, FAST);
        set.insert(ms(2), 1, FAST);
        set.begin(ms(3));
        set.remove(ms(1), 0);
        set.remove(ms(2), 1);
        set.insert(ms(50), 1, FAST);
        assert_eq!(set.pop_most_urgent(), None);
        assert_eq!(set.first(), Some(ms(50)));
        // Re-armed for a deadline already looked past: served by the next round.
        set.insert(ms(2), 0, FAST);
        assert_eq!(set.pop_most_urgent(), None);
        set.begin(ms(3));
        assert_eq!(set.pop_most_urgent(), Some((ms(2), 0)));
    }

    #[test]
    fn clear_forgets_armed_and_waiting_timers() {
        let mut set = TimerSet::default();
        set.insert(ms(1), 0, FAST);
        set.begin(ms(1));
        set.clear();
        assert_eq!(set.pop_most_urgent(), None);
        assert_eq!(set.first(), None);
    }
}
