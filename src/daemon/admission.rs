//! Fair use of the control socket: how many connections each peer may hold, and how
//! refusals are logged.
//!
//! Any allowed peer (a `control-read-group` member included) could otherwise hold every
//! connection slot, idle, and lock root out of `show` and `stop`. So:
//! - the last [`ROOT_RESERVED`] of the [`control::MAX_CONNECTIONS`] slots are for trusted
//!   peers only (root and the runtime's own user);
//! - every other uid holds at most [`PER_UID`] connections at once (subscribers included);
//! - a connection idle between requests for [`IDLE_TIMEOUT`] is closed (see
//!   `serve_connection`), so a slot held by a forgotten client comes back.
//!
//! Refusals (of connections and of requests) are not logged one by one: a peer could fill
//! the run-dir log with them. They are counted, and one summary line per
//! [`REFUSAL_LOG_INTERVAL`] with refusals says how many and the last reason.
//!
//! [`control::MAX_CONNECTIONS`]: super::control::MAX_CONNECTIONS

use super::control;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

/// Slots of [`control::MAX_CONNECTIONS`] that only root (or the runtime's user) can take.
pub const ROOT_RESERVED: usize = 16;

/// Connections one non-root uid may hold at once.
pub const PER_UID: usize = 16;

/// A connection that has sent nothing for this long between requests is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// At most one summary line of refusals per interval.
pub const REFUSAL_LOG_INTERVAL: Duration = Duration::from_secs(5);

#[derive(Debug, Default)]
struct State {
    total: usize,
    by_uid: HashMap<u32, usize>,
    refused_connections: u64,
    refused_requests: u64,
    last_refusal: Option<String>,
}

/// Connection slots and refusal counts, shared by every connection task.
#[derive(Debug)]
pub struct Admission {
    limit: usize,
    reserved: usize,
    per_uid: usize,
    state: Mutex<State>,
}

/// One admitted connection; dropping it frees the slot.
#[derive(Debug)]
pub struct Slot {
    admission: Arc<Admission>,
    uid: u32,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut st = self.admission.lock();
        st.total = st.total.saturating_sub(1);
        if let Some(n) = st.by_uid.get_mut(&self.uid) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                st.by_uid.remove(&self.uid);
            }
        }
    }
}

impl Admission {
    pub fn new(limit: usize, reserved: usize, per_uid: usize) -> Arc<Admission> {
        Arc::new(Admission {
            limit,
            reserved: reserved.min(limit),
            per_uid,
            state: Mutex::new(State::default()),
        })
    }

    /// The runtime's admission, with a task that logs the refusal summary every
    /// [`REFUSAL_LOG_INTERVAL`] (it ends when the admission is dropped). Needs tokio.
    pub fn start() -> Arc<Admission> {
        let admission = Admission::new(control::MAX_CONNECTIONS, ROOT_RESERVED, PER_UID);
        tokio::spawn(report_refusals(Arc::downgrade(&admission)));
        admission
    }

    // A panic while holding the lock leaves counts that are still usable: take them.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Take a slot for a peer, or say why not (the reply line for the peer). `trusted`:
    /// root or the runtime's own user, who may use the reserved slots and have no per-uid cap.
    pub fn admit(self: &Arc<Self>, uid: u32, trusted: bool) -> Result<Slot, String> {
        let mut st = self.lock();
        if st.total >= self.limit {
            return Err(format!(
                "too many control connections ({} open)",
                self.limit
            ));
        }
        if !trusted {
            if st.total >= self.limit - self.reserved {
                return Err(format!(
                    "too many control connections: the last {} of {} are kept for root",
                    self.reserved, self.limit
                ));
            }
            let held = st.by_uid.get(&uid).copied().unwrap_or(0);
            if held >= self.per_uid {
                return Err(format!(
                    "too many control connections: uid {uid} already holds {held} (at most {} \
                     per user)",
                    self.per_uid
                ));
            }
        }
        st.total += 1;
        *st.by_uid.entry(uid).or_default() += 1;
        Ok(Slot {
            admission: self.clone(),
            uid,
        })
    }

    /// Count a refused connection (not allowed, or over a limit).
    pub fn refused_connection(&self, why: &str) {
        let mut st = self.lock();
        st.refused_connections += 1;
        st.last_refusal = Some(format!("connection: {why}"));
    }

    /// Count a refused request (a read-only peer asking for a change).
    pub fn refused_request(&self, uid: u32, why: &str) {
        let mut st = self.lock();
        st.refused_requests += 1;
        st.last_refusal = Some(format!("request from uid {uid}: {why}"));
    }

    /// The summary of the refusals since the last call (None: there were none), resetting
    /// the counts.
    pub fn take_summary(&self) -> Option<String> {
        let mut st = self.lock();
        if st.refused_connections == 0 && st.refused_requests == 0 {
            return None;
        }
        let last = st.last_refusal.take().unwrap_or_default();
        let line = format!(
            "control socket: refused {} connection(s) and {} request(s) in the last {} s; \
             last: {}",
            st.refused_connections,
            st.refused_requests,
            REFUSAL_LOG_INTERVAL.as_secs(),
            last
        );
        st.refused_connections = 0;
        st.refused_requests = 0;
        Some(line)
    }
}

async fn report_refusals(admission: Weak<Admission>) {
    let mut tick = tokio::time::interval(REFUSAL_LOG_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(admission) = admission.upgrade() else {
            return;
        };
        if let Some(line) = admission.take_summary() {
            tracing::warn!(target: "netvrrp::protocol", "{line}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_uid_cap_and_root_reserve() {
        let a = Admission::new(10, 3, 4);
        // One user takes its 4, then is refused; another user takes 3 more (7 = 10 - 3).
        let mut held: Vec<Slot> = (0..4).map(|_| a.admit(1000, false).unwrap()).collect();
        let e = a.admit(1000, false).unwrap_err();
        assert!(e.contains("uid 1000 already holds 4"), "{e}");
        held.extend((0..3).map(|_| a.admit(1001, false).unwrap()));
        let e = a.admit(1002, false).unwrap_err();
        assert!(e.contains("kept for root"), "{e}");
        // Root takes the reserved slots, then the total limit holds for root too.
        held.extend((0..3).map(|_| a.admit(0, true).unwrap()));
        let e = a.admit(0, true).unwrap_err();
        assert!(e.starts_with("too many control connections"), "{e}");
        // Dropping frees: user 1000 gets one back.
        held.truncate(3);
        assert!(a.admit(1000, false).is_ok());
        drop(held);
        assert_eq!(a.lock().total, 0);
        assert!(a.lock().by_uid.is_empty());
    }

    #[test]
    fn refusals_are_summarised_once_per_interval() {
        let a = Admission::new(10, 3, 4);
        assert_eq!(a.take_summary(), None);
        for _ in 0..3000 {
            a.refused_connection("permission denied: uid 1000");
        }
        for _ in 0..20_000 {
            a.refused_request(1000, "`stop` needs root");
        }
        let line = a.take_summary().unwrap();
        assert!(
            line.contains("refused 3000 connection(s) and 20000 request(s)")
                && line.contains("last: request from uid 1000: `stop` needs root"),
            "{line}"
        );
        assert_eq!(a.take_summary(), None);
    }
}
