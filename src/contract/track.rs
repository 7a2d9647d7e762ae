//! `show track`, and what a router's tracked objects contribute to its `show vrrp` row.

use crate::config::{TrackConfig, TrackKind};
use serde::Serialize;
use std::collections::VecDeque;

/// One `[[track]]` object as `show track --json` lists it under `tracks`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrackRow {
    pub name: String,
    /// exec, process, file or route.
    pub kind: &'static str,
    /// "up" or "down".
    pub state: &'static str,
    /// When that state began, seconds since the Unix epoch.
    pub since: f64,
    pub last_result: String,
    pub last_checked: f64,
    /// exec: how the last run ended.
    pub exit_status: Option<String>,
    /// exec: the last lines of the last run's output.
    pub output: VecDeque<String>,
    pub changes: u64,
    /// The object's configuration.
    pub config: TrackKind,
}

/// One entry of a router's `track` list in `show vrrp`: an interface or an object, and what
/// it takes off the priority now.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrackContribution {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interface: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
    /// "up" or "down".
    pub state: &'static str,
    pub decrement: u8,
    pub fault: bool,
    /// What the entry takes off the priority now (0 or minus its decrement).
    pub contribution: i32,
    /// A `fault = true` entry that is down.
    pub faulting: bool,
}

impl TrackContribution {
    /// A router's track entries, `down` per entry (missing ones count as up).
    pub fn of(entries: &[TrackConfig], down: &[bool]) -> Vec<TrackContribution> {
        entries
            .iter()
            .zip(down.iter().copied().chain(std::iter::repeat(false)))
            .map(|(e, down)| {
                let (interface, object) = match (e.interface(), e.object()) {
                    (Some(i), _) => (Some(i.to_string()), None),
                    (None, o) => (None, Some(o.unwrap_or_default().to_string())),
                };
                TrackContribution {
                    interface,
                    object,
                    state: if down { "down" } else { "up" },
                    decrement: e.decrement,
                    fault: e.fault,
                    contribution: if down && !e.fault {
                        -i32::from(e.decrement)
                    } else {
                        0
                    },
                    faulting: down && e.fault,
                }
            })
            .collect()
    }
}
