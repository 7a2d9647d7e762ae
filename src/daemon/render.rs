//! Text rendering of `show vrrp` data (the JSON the control socket returns), close to FRR's
//! `show vrrp`. VRRS renderings live in [`crate::vrrs`].

use serde_json::Value;

fn s(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

fn ms(v: &Value) -> String {
    v.as_f64()
        .map(|m| format!("{m} ms"))
        .unwrap_or_else(|| "-".into())
}

/// One block per (interface, vrid, family), FRR style.
pub fn vrrp_text(rows: &[Value]) -> String {
    if rows.is_empty() {
        return "no VRRP routers".into();
    }
    let mut out = String::new();
    for r in rows {
        let field = |k: &str, v: String| format!(" {k:<32} {v}\n");
        out += &format!("\n Virtual Router ID                {}\n", s(&r["vrid"]));
        out += &field("Interface", s(&r["interface"]));
        out += &field("Address family", s(&r["family"]));
        out += &field("Protocol Version", s(&r["version"]));
        out += &field("State", s(&r["state"]).to_uppercase());
        out += &field("Device", s(&r["device"]));
        out += &field("Virtual MAC", s(&r["vmac"]));
        out += &field("Primary address", s(&r["primary_address"]));
        out += &field("Master address", s(&r["master_address"]));
        out += &field("Protodown", s(&r["protodown"]));
        out += &field("Priority", s(&r["priority"]));
        out += &field("Effective Priority", s(&r["effective_priority"]));
        out += &field("Preempt Mode", s(&r["preempt"]));
        out += &field("Accept Mode", s(&r["accept_mode"]));
        out += &field(
            "Advertisement Interval",
            ms(&r["advertisement_interval_ms"]),
        );
        out += &field(
            "Master Advertisement Interval",
            ms(&r["master_adver_interval_ms"]),
        );
        out += &field("Skew Time", ms(&r["skew_time_ms"]));
        out += &field("Master Down Interval", ms(&r["master_down_interval_ms"]));
        let vips: Vec<String> = r["vips"]
            .as_array()
            .map(|a| a.iter().map(s).collect())
            .unwrap_or_default();
        out += &field("Virtual addresses", vips.join(", "));
        let tracked = crate::track::show::tracked_lines(&r["track"]);
        if !tracked.is_empty() {
            out += " Tracked:\n";
            out += &tracked;
        }
        if let Some(counters) = r["counters"].as_object() {
            out += " Counters:\n";
            for (k, v) in counters {
                out += &format!("   {k:<40} {}\n", s(v));
            }
        }
    }
    out
}
