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

/// The renderer this file replaced (string keys over `serde_json::Value`), kept for the
/// tests that show the typed one prints the same bytes.
#[cfg(test)]
pub(crate) mod legacy {
    use serde_json::Value;

    fn s(v: &Value) -> String {
        match v {
            Value::String(s) => s.clone(),
            Value::Null => "-".into(),
            other => other.to_string(),
        }
    }

    /// Seconds since the epoch as UTC `YYYY-MM-DD HH:MM:SS`.
    fn when(v: &Value) -> String {
        let Some(t) = v.as_f64().filter(|t| *t > 0.0) else {
            return "-".into();
        };
        crate::types::utc_date_time(t as i64)
    }

    /// One block per object.
    pub fn text(rows: &[Value]) -> String {
        if rows.is_empty() {
            return "no track objects".into();
        }
        let mut out = String::new();
        for r in rows {
            let field = |k: &str, v: String| format!(" {k:<16} {v}\n");
            out += &format!(
                "\n Track object     {} ({})\n",
                s(&r["name"]),
                s(&r["kind"])
            );
            out += &field("State", s(&r["state"]).to_uppercase());
            out += &field("Since", when(&r["since"]));
            out += &field("Last result", s(&r["last_result"]));
            out += &field("Last checked", when(&r["last_checked"]));
            out += &field("Changes", s(&r["changes"]));
            if !r["exit_status"].is_null() {
                out += &field("Exit status", s(&r["exit_status"]));
                let lines: Vec<String> = r["output"]
                    .as_array()
                    .map(|a| a.iter().map(s).collect())
                    .unwrap_or_default();
                if !lines.is_empty() {
                    out += " Output:\n";
                    for l in lines {
                        out += &format!("   {l}\n");
                    }
                }
            }
        }
        out
    }

    /// `show vrrp`: one line per tracked object with what it takes off the priority now.
    pub fn tracked_lines(track: &Value) -> String {
        let mut out = String::new();
        for t in track.as_array().into_iter().flatten() {
            let what = if t["interface"].is_null() {
                format!("object {}", s(&t["object"]))
            } else {
                format!("interface {}", s(&t["interface"]))
            };
            let effect = if t["fault"].as_bool() == Some(true) {
                if t["faulting"].as_bool() == Some(true) {
                    "fault (router held in Initialize)".to_string()
                } else {
                    "fault when down".to_string()
                }
            } else {
                format!(
                    "decrement {}, contributes {}",
                    s(&t["decrement"]),
                    s(&t["contribution"])
                )
            };
            out += &format!("   {what:<30} {:<5} {effect}\n", s(&t["state"]));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::{Listing, over_the_wire, samples};

    #[test]
    fn typed_rendering_prints_the_bytes_of_the_json_one() {
        let (values, rows) = over_the_wire(&samples::track_rows(), Listing::Tracks);
        assert_eq!(text(&rows), legacy::text(&values));
        assert_eq!(text(&[]), legacy::text(&[]));
        let (values, routers) = over_the_wire(&samples::vrrp_rows(), Listing::Routers);
        for (value, router) in values.iter().zip(&routers) {
            assert_eq!(
                tracked_lines(&router.track),
                legacy::tracked_lines(&value["track"])
            );
        }
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
