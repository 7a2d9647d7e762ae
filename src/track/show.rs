//! Text of `netvrrp show track` and of the tracked objects in `show vrrp` (from the JSON
//! the control socket returns).

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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn track_show_text() {
        let rows = vec![json!({
            "name": "web", "kind": "exec", "state": "down", "since": 0.0,
            "last_result": "exit status 1", "last_checked": 86_400.5, "changes": 1,
            "exit_status": "exit status 1", "output": ["curl: refused"],
        })];
        let t = text(&rows);
        assert!(t.contains("Track object     web (exec)"), "{t}");
        assert!(t.contains("State            DOWN"), "{t}");
        assert!(
            t.contains("Last checked     1970-01-02 00:00:00 UTC"),
            "{t}"
        );
        assert!(t.contains("   curl: refused"), "{t}");
        assert_eq!(text(&[]), "no track objects");
    }

    #[test]
    fn track_show_vrrp_lines() {
        let v = serde_json::to_value(crate::contract::TrackContribution::of(
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
        ))
        .unwrap();
        let t = tracked_lines(&v);
        assert!(t.contains("object web"), "{t}");
        assert!(t.contains("down  decrement 50, contributes -50"), "{t}");
        assert!(t.contains("interface eth1"), "{t}");
        assert!(t.contains("up    fault when down"), "{t}");
    }
}
