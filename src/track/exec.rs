//! exec objects: run a check every `interval-ms` ([`super::run`]), with `rise`/`fall`
//! hysteresis.
//!
//! Runs start `interval-ms` apart (the first at once); a run that takes longer delays the
//! next one, never overlaps it. Exit 0 is a success; anything else is a failure: a
//! non-zero exit, a signal, the timeout, and not being able to execute the program at all
//! (keepalived counts the last as healthy, which kept a broken master in place).

use super::Reporter;
use crate::config::TrackKind;
use std::time::Duration;
use tokio::task::JoinHandle;

/// Consecutive results against the current state, turned into state changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hysteresis {
    up: bool,
    rise: u32,
    fall: u32,
    /// Consecutive results that disagree with `up`.
    streak: u32,
}

impl Hysteresis {
    pub fn new(initial_up: bool, rise: u32, fall: u32) -> Hysteresis {
        Hysteresis {
            up: initial_up,
            rise: rise.max(1),
            fall: fall.max(1),
            streak: 0,
        }
    }

    pub fn up(&self) -> bool {
        self.up
    }

    /// One result; Some(new state) when it changes the state.
    pub fn observe(&mut self, success: bool) -> Option<bool> {
        if success == self.up {
            self.streak = 0;
            return None;
        }
        self.streak += 1;
        let needed = if self.up { self.fall } else { self.rise };
        if self.streak < needed {
            return None;
        }
        self.streak = 0;
        self.up = success;
        Some(self.up)
    }
}

/// The hook of an exec check: its command, run as `run_as`, told which object it checks
/// (`NETVRRP_TRACK`, so one script can serve several objects).
fn check_hook(name: &str, command: Vec<String>, run_as: crate::config::RunAs) -> crate::hook::Hook {
    let mut hook = crate::hook::Hook::new(command, run_as);
    hook.env = vec![("NETVRRP_TRACK".into(), name.to_string())];
    hook
}

pub fn spawn(kind: TrackKind, reporter: Reporter) -> JoinHandle<()> {
    tokio::spawn(async move {
        let TrackKind::Exec {
            command,
            interval_ms,
            timeout_ms,
            rise,
            fall,
            initial_up,
            run_as,
        } = kind
        else {
            return;
        };
        let interval = Duration::from_millis(u64::from(interval_ms));
        let timeout = Duration::from_millis(u64::from(timeout_ms));
        let mut state = Hysteresis::new(initial_up, rise, fall);
        let mut next = tokio::time::Instant::now();
        let mut reported: Option<bool> = None;
        let mut said_unrunnable = false;
        let hook = check_hook(&reporter.name, command, run_as);
        loop {
            tokio::time::sleep_until(next).await;
            let started = tokio::time::Instant::now();
            let outcome = crate::hook::run::run(&hook, timeout).await;
            // A check that cannot run at all is a mistake in the file: said once (with the
            // default initial state down, no state change would ever log it), and again if
            // it comes back after the program ran.
            if outcome.could_not_execute() && !said_unrunnable {
                tracing::warn!(target: "netvrrp::track", name = %reporter.name, status = %outcome.status, "track object {}: its check cannot run: {}", reporter.name, outcome.status);
            }
            said_unrunnable = outcome.could_not_execute();
            state.observe(outcome.success);
            let counted = if state.up() == outcome.success {
                outcome.status.clone()
            } else {
                // Not enough in a row yet: say so, the state stays.
                format!("{} (state kept until rise/fall is reached)", outcome.status)
            };
            reporter.exec_details(outcome.status, outcome.output);
            // The first run confirms the initial state; after that only changes wake the
            // event loop.
            if reported == Some(state.up()) {
                reporter.record(counted);
            } else {
                reporter.report(state.up(), counted);
                reported = Some(state.up());
            }
            next = (started + interval).max(tokio::time::Instant::now());
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_exec_check_is_told_its_object_name() {
        let hook = check_hook("web", vec!["/bin/true".into()], Default::default());
        let env = hook.environment();
        assert!(env.contains(&"NETVRRP_TRACK=web".to_string()), "{env:?}");
        assert_eq!(env.len(), 2, "PATH and NETVRRP_TRACK only: {env:?}");
    }

    #[test]
    fn track_hysteresis_rise_and_fall() {
        let mut h = Hysteresis::new(false, 2, 3);
        assert_eq!(h.observe(true), None);
        assert_eq!(h.observe(false), None, "a failure resets the rise count");
        assert_eq!(h.observe(true), None);
        assert_eq!(h.observe(true), Some(true));
        assert_eq!(h.observe(true), None);
        assert_eq!(h.observe(false), None);
        assert_eq!(h.observe(false), None);
        assert_eq!(h.observe(true), None, "a success resets the fall count");
        assert_eq!(h.observe(false), None);
        assert_eq!(h.observe(false), None);
        assert_eq!(h.observe(false), Some(false));
        assert!(!h.up());
    }

    #[test]
    fn track_hysteresis_one_and_one() {
        let mut h = Hysteresis::new(true, 1, 1);
        assert_eq!(h.observe(false), Some(false));
        assert_eq!(h.observe(true), Some(true));
    }
}
