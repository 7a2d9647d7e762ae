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
        if let Some(why) = r["not_running"].as_str() {
            out += &field("Not running", why.to_string());
        }
        out += &field("Shutdown", s(&r["shutdown"]));
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
        out += &router_advertisement_lines(&r["router_advertisements"]);
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

/// The Router Advertisement block of a row (nothing for a router without RAs).
fn router_advertisement_lines(ra: &Value) -> String {
    if !ra.is_object() {
        return String::new();
    }
    let c = &ra["counters"];
    let list = |v: &Value| {
        let items: Vec<String> = v
            .as_array()
            .map(|a| a.iter().map(s).collect())
            .unwrap_or_default();
        if items.is_empty() {
            "-".to_string()
        } else {
            items.join(", ")
        }
    };
    let mut out = " Router Advertisements:
"
    .to_string();
    let mut line = |k: &str, v: String| {
        out += &format!(
            "   {k:<30} {v}
"
        )
    };
    line("State", s(&ra["state"]));
    line("Source", s(&ra["source"]));
    line(
        "Interval",
        format!(
            "{}..{} ms",
            s(&ra["min_interval_ms"]),
            s(&ra["max_interval_ms"])
        ),
    );
    line("Router lifetime", format!("{} s", s(&ra["lifetime_s"])));
    line("Prefixes", list(&ra["prefixes"]));
    line("RDNSS", list(&ra["rdnss"]));
    line("MTU", s(&ra["mtu"]));
    line("RAs sent", s(&c["sent"]));
    line("RS answered", s(&c["rs_answered"]));
    line("RS ignored (not Master)", s(&c["rs_ignored"]));
    line("RS invalid", s(&c["rs_invalid"]));
    out
}

/// How long ago `then` was, compactly (`42s`, `5m12s`, `3h05m`, `2d04h`).
fn age(now: f64, then: f64) -> String {
    if then <= 0.0 || now < then {
        return "-".into();
    }
    let s = (now - then) as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        3600..86400 => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d{:02}h", s / 86400, s % 86400 / 3600),
    }
}

/// `netvrrp show`: one line per router, in a table (the full view is `show vrrp`).
pub fn vrrp_brief(rows: &[Value], now: f64) -> String {
    if rows.is_empty() {
        return "no VRRP routers".into();
    }
    let mut table = vec![
        [
            "NAME",
            "INTERFACE",
            "VRID",
            "FAMILY",
            "STATE",
            "PRIO/EFF",
            "MASTER",
            "CHANGED",
        ]
        .map(String::from),
    ];
    for r in rows {
        // `name` is shown once `show vrrp` rows carry it; "-" until then.
        let name = r["name"].as_str().filter(|n| !n.is_empty()).unwrap_or("-");
        table.push([
            name.to_string(),
            s(&r["interface"]),
            s(&r["vrid"]),
            s(&r["family"]),
            // A router held in Initialize says so (the reason is in the full view).
            match r["not_running"].as_str() {
                Some(_) => format!("{}*", s(&r["state"])),
                None => s(&r["state"]),
            },
            format!("{}/{}", s(&r["priority"]), s(&r["effective_priority"])),
            s(&r["master_address"]),
            match age(now, r["last_change"].as_f64().unwrap_or(0.0)) {
                a if a == "-" => a,
                a => format!("{a} ago"),
            },
        ]);
    }
    let mut widths = [0usize; 8];
    for row in &table {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    // Footnotes: why each starred router is not running.
    let notes: Vec<String> = rows
        .iter()
        .filter_map(|r| {
            let why = r["not_running"].as_str()?;
            Some(format!(
                "* {} vrid {} {}: {why}",
                s(&r["interface"]),
                s(&r["vrid"]),
                s(&r["family"])
            ))
        })
        .collect();
    let lines = table
        .iter()
        .map(|row| {
            let mut line = String::new();
            for (i, (cell, w)) in row.iter().zip(widths).enumerate() {
                if i + 1 == row.len() {
                    line.push_str(cell);
                } else {
                    line.push_str(&format!("{cell:<w$}  "));
                }
            }
            line
        })
        .chain(notes)
        .collect::<Vec<_>>();
    lines.join("\n")
}

#[cfg(test)]
mod brief_tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn one_aligned_line_per_router() {
        let rows = [
            json!({"interface": "eth0", "vrid": 5, "family": "ipv4", "state": "master",
                   "priority": 200, "effective_priority": 150, "master_address": "192.0.2.2",
                   "last_change": 1000.0}),
            json!({"name": "web", "interface": "bond0.100", "vrid": 17, "family": "ipv6",
                   "state": "backup", "priority": 100, "effective_priority": 100,
                   "master_address": null, "last_change": 0.0}),
        ];
        let text = vrrp_brief(&rows, 1312.5);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[0].starts_with("NAME  INTERFACE  VRID"), "{text}");
        assert_eq!(
            lines[1],
            "-     eth0       5     ipv4    master  200/150   192.0.2.2  5m12s ago"
        );
        assert_eq!(
            lines[2],
            "web   bond0.100  17    ipv6    backup  100/100   -          -"
        );
        assert_eq!(vrrp_brief(&[], 0.0), "no VRRP routers");
        let waiting = [json!({"interface": "eth1", "vrid": 9, "family": "ipv4",
            "state": "initialize", "priority": 100, "effective_priority": 100,
            "master_address": null, "last_change": null,
            "not_running": "parent interface eth1 has no IPv4 address"})];
        let text = vrrp_brief(&waiting, 10.0);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[1].contains("initialize*"), "{text}");
        assert_eq!(
            lines[2],
            "* eth1 vrid 9 ipv4: parent interface eth1 has no IPv4 address"
        );
        let full = vrrp_text(&waiting);
        assert!(
            full.contains(
                "Not running                      parent interface eth1 has no IPv4 address"
            ),
            "{full}"
        );
        assert_eq!(age(100_000.0, 100.0), "1d03h");
    }
}

#[cfg(test)]
mod ra_tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn router_advertisements_have_a_block_of_their_own() {
        let ra = json!({"state": "advertising", "source": "fe80::5", "lifetime_s": 1800,
            "min_interval_ms": 198000, "max_interval_ms": 600000,
            "prefixes": ["2001:db8:5::/64"], "rdnss": [], "mtu": null,
            "counters": {"sent": 4, "rs_answered": 2, "rs_ignored": 0, "rs_invalid": 1}});
        let row = json!({"vrid": 5, "family": "ipv6", "router_advertisements": ra});
        let text = vrrp_text(&[row]);
        for want in [
            " Router Advertisements:\n",
            "   State                          advertising\n",
            "   Source                         fe80::5\n",
            "   Interval                       198000..600000 ms\n",
            "   Prefixes                       2001:db8:5::/64\n",
            "   RDNSS                          -\n",
            "   RAs sent                       4\n",
            "   RS answered                    2\n",
            "   RS invalid                     1\n",
        ] {
            assert!(text.contains(want), "{want:?} missing from\n{text}");
        }
        let without = vrrp_text(&[json!({"vrid": 6, "router_advertisements": null})]);
        assert!(!without.contains("Router Advertisements"), "{without}");
    }
}
