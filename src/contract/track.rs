//! `show track`, and what a router's tracked objects contribute to its `show vrrp` row.

use crate::config::{TrackConfig, TrackKind};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::VecDeque;

/// Whether a tracked object or interface is up, as `show track` and `show vrrp` say it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TrackState {
    Up,
    Down,
}

impl TrackState {
    pub fn of(up: bool) -> TrackState {
        if up { TrackState::Up } else { TrackState::Down }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TrackState::Up => "up",
            TrackState::Down => "down",
        }
    }
}

/// One `[[track]]` object as `show track --json` lists it under `tracks`. Read back by the
/// CLI: `name`, `kind`, `state` and `config` are required, the rest read as empty when a
/// runtime does not send them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrackRow {
    pub name: String,
    /// exec, process, file or route.
    pub kind: Cow<'static, str>,
    pub state: TrackState,
    /// When that state began, seconds since the Unix epoch.
    #[serde(default)]
    pub since: f64,
    #[serde(default)]
    pub last_result: String,
    #[serde(default)]
    pub last_checked: f64,
    /// exec: how the last run ended.
    #[serde(default)]
    pub exit_status: Option<String>,
    /// exec: the last lines of the last run's output.
    #[serde(default)]
    pub output: VecDeque<String>,
    #[serde(default)]
    pub changes: u64,
    /// The object's configuration.
    pub config: TrackKind,
}

/// [`super::HIDDEN`] as a path.
pub fn hidden_path() -> std::path::PathBuf {
    super::HIDDEN.into()
}

impl TrackRow {
    /// The row a `control-read-group` member gets: an exec object's argv and output lines
    /// and a file or pidfile object's path are what the root-only `running` request guards,
    /// so they are replaced by [`super::HIDDEN`] (argv, path) or dropped (output); state,
    /// results, exit status and timing stay (they name no program or path).
    pub fn redacted(mut self) -> TrackRow {
        self.output.clear();
        match &mut self.config {
            TrackKind::Exec { command, .. } => *command = vec![super::HIDDEN.to_string()],
            TrackKind::File { path, .. } => *path = hidden_path(),
            TrackKind::Process {
                target: crate::config::ProcessTarget::Pidfile(path),
            } => *path = hidden_path(),
            TrackKind::Process { .. } | TrackKind::Route { .. } => {}
        }
        self
    }
}

/// One entry of a router's `track` list in `show vrrp`: an interface or an object, and what
/// it takes off the priority now (`state` required when read back).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrackContribution {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
    pub state: TrackState,
    #[serde(default)]
    pub decrement: u8,
    #[serde(default)]
    pub fault: bool,
    /// What the entry takes off the priority now (0 or minus its decrement).
    #[serde(default)]
    pub contribution: i32,
    /// A `fault = true` entry that is down.
    #[serde(default)]
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
                    state: TrackState::of(!down),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_redacted_row_names_no_program_path_or_output() {
        let rows = crate::contract::samples::track_rows();
        let redacted: Vec<TrackRow> = rows.iter().cloned().map(TrackRow::redacted).collect();
        let text = serde_json::to_string(&redacted).unwrap();
        for secret in ["/usr/bin/curl", "http://[::1]/", "curl: (7)", "/run/maint"] {
            assert!(!text.contains(secret), "{secret} in {text}");
            assert!(serde_json::to_string(&rows).unwrap().contains(secret));
        }
        assert!(
            text.contains(r#""command":["(hidden: control-read-group)"]"#),
            "{text}"
        );
        // State, results and the route (no program, no path) are kept.
        assert_eq!(redacted[0].exit_status.as_deref(), Some("exit status 1"));
        assert_eq!(redacted[0].state, TrackState::Down);
        assert_eq!(redacted[1], rows[1]);
    }
}
