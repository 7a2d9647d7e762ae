//! Text of `netvrrp show track` and of the tracked objects in `show vrrp` (from the rows
//! the CLI reads back from the control socket, [`TrackRow`] and [`TrackContribution`]).

use crate::contract::{TrackContribution, TrackRow};

/// Seconds since the epoch as UTC `YYYY-MM-DD HH:MM:SS` ("-" for none).
fn when(t: f64) -> String {
    if t > 0.0 {
        crate::types::utc_date_time(t as i64)
    } else {
        "-".into()
    }
}

/// One block per object.
pub fn text(rows: &[TrackRow]) -> String {
    if rows.is_empty() {
        return "no track objects".into();
    }
    let mut out = String::new();
    for r in rows {
        let field = |k: &str, v: String| format!(" {k:<16} {v}\n");
        out += &format!("\n Track object     {} ({})\n", r.name, r.kind);
        out += &field("State", r.state.as_str().to_uppercase());
        out += &field("Since", when(r.since));
        out += &field("Last result", r.last_result.clone());
        out += &field("Last checked", when(r.last_checked));
        out += &field("Changes", r.changes.to_string());
        if let Some(status) = &r.exit_status {
            out += &field("Exit status", status.clone());
            if !r.output.is_empty() {
                out += " Output:\n";
                for l in &r.output {
                    out += &format!("   {l}\n");
                }
            }
        }
    }
    out
}

/// `show vrrp`: one line per tracked object with what it takes off the priority now.
pub fn tracked_lines(track: &[TrackContribution]) -> String {
    let mut out = String::new();
    for t in track {
        let what = match &t.interface {
            Some(interface) => format!("interface {interface}"),
            None => format!("object {}", t.object.as_deref().unwrap_or("-")),
        };
        let effect = match (t.fault, t.faulting) {
            (true, true) => "fault (router held in Initialize)".to_string(),
            (true, false) => "fault when down".to_string(),
            (false, _) => format!("decrement {}, contributes {}", t.decrement, t.contribution),
        };
        out += &format!("   {what:<30} {:<5} {effect}\n", t.state.as_str());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::{Listing, over_the_wire, samples};

    /// Byte for byte what the renderer over `serde_json::Value` this one replaced printed
    /// (src/contract/golden/ was written by that one).
    #[test]
    fn the_text_is_the_golden_text() {
        let (_, rows) = over_the_wire(&samples::track_rows(), Listing::Tracks);
        assert_eq!(
            text(&rows),
            include_str!("../contract/golden/show_track.txt")
        );
    }

    #[test]
    fn track_show_text() {
        let rows = samples::track_rows();
        let t = text(&rows);
        assert!(t.contains("Track object     haproxy (exec)"), "{t}");
        assert!(t.contains("State            DOWN"), "{t}");
        assert!(
            t.contains("Last checked     2025-12-07 07:00:01 UTC"),
            "{t}"
        );
        assert!(
            t.contains(" Output:\n   curl: (7) refused\n   retrying\n"),
            "{t}"
        );
        // A route has no exit status; a file that never ran has no times.
        assert!(!t.contains("Exit status      route"), "{t}");
        assert!(t.contains(" Since            -\n"), "{t}");
        assert_eq!(text(&[]), "no track objects");
    }

    #[test]
    fn track_show_vrrp_lines() {
        let track = crate::contract::TrackContribution::of(
            &[
                crate::config::TrackConfig {
                    target: crate::config::TrackTarget::Object("web".into()),
                    decrement: 50,
                    fault: false,
                },
                crate::config::TrackConfig {
                    target: crate::config::TrackTarget::Interface("eth1".into()),
                    decrement: 0,
                    fault: true,
                },
            ],
            &[true, false],
        );
        let t = tracked_lines(&track);
        assert!(t.contains("object web"), "{t}");
        assert!(t.contains("down  decrement 50, contributes -50"), "{t}");
        assert!(t.contains("interface eth1"), "{t}");
        assert!(t.contains("up    fault when down"), "{t}");
    }
}
