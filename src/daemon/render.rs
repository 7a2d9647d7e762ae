//! Text rendering of `show vrrp` rows ([`VrrpRow`], as the CLI reads them back from the
//! control socket), close to FRR's `show vrrp`. VRRS renderings live in [`crate::vrrs`].

use crate::contract::{RaRow, VrrpRow};
use crate::vrrp::router::Counters;
use std::fmt::Display;

/// A value, or "-" when there is none.
fn or_dash<T: Display>(v: Option<T>) -> String {
    v.map_or_else(|| "-".into(), |v| v.to_string())
}

fn ms(v: impl Into<f64>) -> String {
    format!("{} ms", v.into())
}

fn list<T: Display>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The headings the counters of `show vrrp` are grouped under, in print order.
pub const COUNTER_GROUPS: [&str; 5] = ["Sent", "Received", "Dropped", "Transitions", "Other"];

/// Every counter under its JSON name, in its group of [`COUNTER_GROUPS`] (same index):
/// what was sent (send errors included), what was received, adverts discarded by reason (the
/// reasons of the metrics' `adverts_dropped_total`), state changes, and the rest (adverts that
/// were processed but say something is wrong, refused protodown). Destructured without `..`:
/// a counter added to [`Counters`] does not compile (unused binding) until it is placed here.
pub fn counters_grouped(c: &Counters) -> [Vec<(&'static str, u64)>; 5] {
    let Counters {
        adverts_sent,
        adverts_received,
        priority_zero_sent,
        priority_zero_received,
        gratuitous_bursts_sent,
        transitions,
        became_master,
        became_backup,
        released_master,
        owner_conflicts,
        interval_mismatches,
        lesser_adverts_unanswered,
        interval_errors,
        ttl_errors,
        version_errors,
        type_errors,
        vrid_errors,
        length_errors,
        zero_count_errors,
        truncated_errors,
        oversized_errors,
        checksum_errors,
        auth_type_errors,
        destination_errors,
        peer_not_allowed,
        checksum_with_pseudoheader_received,
        checksum_without_pseudoheader_received,
        send_errors,
        protodown_errors,
        gratuitous_packets_sent,
    } = *c;
    [
        vec![
            ("adverts_sent", adverts_sent),
            ("priority_zero_sent", priority_zero_sent),
            ("gratuitous_bursts_sent", gratuitous_bursts_sent),
            ("gratuitous_packets_sent", gratuitous_packets_sent),
            ("send_errors", send_errors),
        ],
        vec![
            ("adverts_received", adverts_received),
            ("priority_zero_received", priority_zero_received),
            (
                "checksum_with_pseudoheader_received",
                checksum_with_pseudoheader_received,
            ),
            (
                "checksum_without_pseudoheader_received",
                checksum_without_pseudoheader_received,
            ),
        ],
        // In the order the checks run: the packet, its sender, then the state machine's.
        vec![
            ("ttl_errors", ttl_errors),
            ("version_errors", version_errors),
            ("type_errors", type_errors),
            ("vrid_errors", vrid_errors),
            ("length_errors", length_errors),
            ("zero_count_errors", zero_count_errors),
            ("truncated_errors", truncated_errors),
            ("oversized_errors", oversized_errors),
            ("checksum_errors", checksum_errors),
            ("auth_type_errors", auth_type_errors),
            ("address_list_errors", destination_errors),
            ("peer_not_allowed", peer_not_allowed),
            ("interval_errors", interval_errors),
        ],
        vec![
            ("transitions", transitions),
            ("became_master", became_master),
            ("became_backup", became_backup),
            ("released_master", released_master),
        ],
        // Adverts processed anyway (a misconfiguration, a reply held back) and protodown-off
        // refusals (the router goes to Initialize; its state says why).
        vec![
            ("interval_mismatches", interval_mismatches),
            ("owner_conflicts", owner_conflicts),
            ("lesser_adverts_unanswered", lesser_adverts_unanswered),
            ("protodown_errors", protodown_errors),
        ],
    ]
}

/// When the last state change was, how long ago, and why (`-` when there is no time).
fn last_transition(r: &VrrpRow, now: f64) -> String {
    if !r.last_change.is_finite() || r.last_change <= 0.0 {
        return "-".into();
    }
    let mut out = crate::types::utc_date_time(r.last_change as i64);
    match age(now, r.last_change) {
        a if a == "-" => {}
        a => out += &format!(", {a} ago"),
    }
    if let Some(why) = &r.last_reason {
        out += &format!(" ({why})");
    }
    out
}

/// One block per (interface, vrid, family), FRR style; `now` (Unix seconds) dates the last
/// transition.
pub fn vrrp_text(rows: &[VrrpRow], now: f64) -> String {
    if rows.is_empty() {
        return "no VRRP routers".into();
    }
    let mut out = String::new();
    for r in rows {
        let field = |k: &str, v: String| format!(" {k:<32} {v}\n");
        out += &format!("\n Virtual Router ID                {}\n", r.vrid);
        if let Some(name) = r.name.as_ref().filter(|n| !n.is_empty()) {
            out += &field("Name", name.clone());
        }
        out += &field("Interface", r.interface.clone());
        out += &field("Address family", r.family.to_string());
        out += &field("Protocol Version", r.version.to_string());
        out += &field("State", r.state.as_str().to_uppercase());
        out += &field("Last transition", last_transition(r, now));
        if let Some(why) = &r.not_running {
            out += &field("Not running", why.clone());
        }
        out += &field("Shutdown", r.shutdown.to_string());
        out += &field("Device", or_dash(r.device.as_ref()));
        out += &field("Virtual MAC", r.vmac.to_string());
        out += &field("Primary address", or_dash(r.primary_address));
        out += &field("Master address", or_dash(r.master_address));
        out += &field("Protodown", or_dash(r.protodown));
        out += &field("Priority", r.priority.to_string());
        out += &field("Effective Priority", r.effective_priority.to_string());
        out += &field("Preempt Mode", r.preempt.to_string());
        out += &field("Accept Mode", r.accept_mode.to_string());
        out += &field("Advertisement Interval", ms(r.advertisement_interval_ms));
        out += &field(
            "Master Advertisement Interval",
            ms(r.master_adver_interval_ms),
        );
        out += &field("Skew Time", ms(r.skew_time_ms));
        out += &field("Master Down Interval", ms(r.master_down_interval_ms));
        out += &field("Virtual addresses", list(&r.vips));
        if !r.vrrs_leader.is_empty() {
            out += &field("VRRS leaders", list(&r.vrrs_leader));
        }
        if let Some(ra) = &r.router_advertisements {
            out += &router_advertisement_lines(ra);
        }
        let tracked = crate::track::show::tracked_lines(&r.track);
        if !tracked.is_empty() {
            out += " Tracked objects:\n";
            out += &tracked;
        }
        out += " Counters:\n";
        for (heading, counters) in COUNTER_GROUPS.iter().zip(counters_grouped(&r.counters)) {
            out += &format!("   {heading}:\n");
            for (k, v) in counters {
                out += &format!("     {k:<40} {v}\n");
            }
        }
    }
    out
}

/// The Router Advertisement block of a row that sends RAs.
fn router_advertisement_lines(ra: &RaRow) -> String {
    let or_none = |items: String| if items.is_empty() { "-".into() } else { items };
    let mut out = " Router Advertisements:\n".to_string();
    let mut line = |k: &str, v: String| out += &format!("   {k:<30} {v}\n");
    line("State", ra.state.as_str().into());
    line("Source", ra.source.to_string());
    line(
        "Interval",
        format!("{}..{} ms", ra.min_interval_ms, ra.max_interval_ms),
    );
    line("Router lifetime", format!("{} s", ra.lifetime_s));
    line("Prefixes", or_none(list(&ra.prefixes)));
    line("RDNSS", or_none(list(&ra.rdnss)));
    line("MTU", or_dash(ra.mtu));
    line("RAs sent", ra.counters.sent.to_string());
    line("RS answered", ra.counters.rs_answered.to_string());
    line(
        "RS ignored (not Master)",
        ra.counters.rs_ignored.to_string(),
    );
    line("RS invalid", ra.counters.rs_invalid.to_string());
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
pub fn vrrp_brief(rows: &[VrrpRow], now: f64) -> String {
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
        let name = r.name.as_deref().filter(|n| !n.is_empty()).unwrap_or("-");
        table.push([
            name.to_string(),
            r.interface.clone(),
            r.vrid.to_string(),
            r.family.to_string(),
            // A router held in Initialize says so (the reason is in the full view).
            match r.not_running {
                Some(_) => format!("{}*", r.state),
                None => r.state.to_string(),
            },
            format!("{}/{}", r.priority, r.effective_priority),
            or_dash(r.master_address),
            match age(now, r.last_change) {
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
    let notes = rows.iter().filter_map(|r| {
        let why = r.not_running.as_ref()?;
        Some(format!(
            "* {} vrid {} {}: {why}",
            r.interface, r.vrid, r.family
        ))
    });
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
mod tests {
    use super::*;
    use crate::contract::{Listing, over_the_wire, samples};

    /// Rows as the CLI gets them, with and without each optional part.
    fn rows() -> (Vec<serde_json::Value>, Vec<VrrpRow>) {
        over_the_wire(&samples::vrrp_rows(), Listing::Routers)
    }

    /// Fails naming the first of `wants` that `text` lacks.
    fn assert_contains_all(text: &str, wants: &[&str]) {
        for want in wants {
            assert!(text.contains(want), "{want:?} missing from\n{text}");
        }
    }

    /// When the tests render: 312.4 s after the sample Master's last change.
    const NOW: f64 = 1_765_091_112.5;

    /// The text of the sample rows, byte for byte as src/contract/golden/ has it (written by
    /// the renderer over `serde_json::Value` this one replaced; since issue 20 with a name,
    /// the last transition, the VRRS leaders and the counters in groups).
    #[test]
    fn the_text_is_the_golden_text() {
        let (_, typed) = rows();
        let full = vrrp_text(&typed, NOW);
        assert_eq!(full, include_str!("../contract/golden/show_vrrp.txt"));
        assert_eq!(
            vrrp_brief(&typed, NOW),
            include_str!("../contract/golden/show.txt")
        );
        // The samples reach every branch.
        assert_contains_all(
            &full,
            &[
                "Not running",
                "Router Advertisements:",
                "Tracked objects:",
                "fault (router",
                "VRRS leaders",
            ],
        );
    }

    /// Every counter of [`Counters`] is printed once, in one group, under its JSON name and
    /// with its own value; no group is empty.
    #[test]
    fn every_counter_is_in_exactly_one_group() {
        let c = samples::counters(1);
        let json = serde_json::to_value(c).unwrap();
        let groups = counters_grouped(&c);
        let mut printed: Vec<&str> = groups.iter().flatten().map(|(k, _)| *k).collect();
        for (heading, group) in COUNTER_GROUPS.iter().zip(&groups) {
            assert!(!group.is_empty(), "{heading}");
            for (k, v) in group {
                assert_eq!(json[k], *v, "{heading}: {k}");
            }
        }
        printed.sort_unstable();
        let mut keys: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(printed, keys);
        // What each heading means (src/vrrp/router/counters.rs, src/daemon/metrics.rs).
        let group_of = |name: &str| {
            let i = groups
                .iter()
                .position(|g| g.iter().any(|(k, _)| *k == name))
                .unwrap();
            COUNTER_GROUPS[i]
        };
        for k in keys.iter().filter(|k| k.ends_with("_errors")) {
            let want = match *k {
                "send_errors" => "Sent",
                "protodown_errors" => "Other",
                _ => "Dropped",
            };
            assert_eq!(group_of(k), want, "{k}");
        }
        assert_eq!(group_of("peer_not_allowed"), "Dropped");
        assert_eq!(group_of("interval_mismatches"), "Other");
        let full = vrrp_text(&rows().1, NOW);
        for heading in COUNTER_GROUPS {
            assert_eq!(
                full.matches(&format!("\n   {heading}:\n")).count(),
                4,
                "{heading}"
            );
        }
    }

    /// The name, the last transition with its reason, and the VRRS leaders of the full view.
    #[test]
    fn the_full_view_says_when_and_why_the_last_transition_was() {
        let (_, mut rows) = rows();
        let text = vrrp_text(&rows, NOW);
        assert_contains_all(
            &text,
            &[
                "\n Virtual Router ID                5\n Name                             edge-web\n",
                " Last transition                  2025-12-07 07:00:00 UTC, 5m12s ago (master down timer)\n",
                " VRRS leaders                     group1\n",
                " Last transition                  -\n",
            ],
        );
        // An unnamed router has no Name line; no reason before the first transition; a
        // clock behind the change has no age.
        assert_eq!(text.matches(" Name ").count(), 2, "{text}");
        rows[0].last_reason = None;
        let text = vrrp_text(&rows[..1], rows[0].last_change - 1.0);
        assert!(
            text.contains(" Last transition                  2025-12-07 07:00:00 UTC\n"),
            "{text}"
        );
    }

    #[test]
    fn one_aligned_line_per_router() {
        let (_, rows) = rows();
        let text = vrrp_brief(&rows, NOW);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 6, "{text}");
        assert_eq!(
            lines[0],
            "NAME      INTERFACE  VRID  FAMILY  STATE        PRIO/EFF  MASTER     CHANGED"
        );
        assert_eq!(
            lines[1],
            "edge-web  bond0.100  5     ipv4    master       200/150   192.0.2.2  5m12s ago"
        );
        assert_eq!(
            lines[2],
            "-         eth0       17    ipv6    backup       100/100   fe80::2    5m12s ago"
        );
        assert_eq!(
            lines[4],
            "-         eth2       9     ipv4    initialize*  200/150   -          -"
        );
        assert_eq!(
            lines[5],
            "* eth2 vrid 9 ipv4: parent interface eth2 has no IPv4 address"
        );
        assert_eq!(vrrp_brief(&[], 0.0), "no VRRP routers");
        assert_eq!(age(100_000.0, 100.0), "1d03h");
    }

    #[test]
    fn the_full_view_has_a_block_per_router() {
        let (_, rows) = rows();
        let text = vrrp_text(&rows, NOW);
        assert_contains_all(
            &text,
            &[
                "\n Virtual Router ID                5\n",
                " State                            MASTER\n",
                " Master address                   -\n",
                " Protodown                        true\n",
                " Master Down Interval             3218.75 ms\n",
                " Advertisement Interval           1000 ms\n",
                " Virtual addresses                192.0.2.1, 198.51.100.7\n",
                " Not running                      parent interface eth2 has no IPv4 address\n",
                "   interface eth9                 down  decrement 50, contributes -50\n",
                "   object haproxy                 up    fault when down\n",
                "     address_list_errors                      1\n",
                " Router Advertisements:\n",
                "   State                          silent\n",
                "   Source                         fe80::200:5eff:fe00:211\n",
                "   Interval                       198000..600000 ms\n",
                "   Prefixes                       2001:db8:5::/64, 2001:db8:6::/64\n",
                "   MTU                            1500\n",
                "   RAs sent                       41\n",
                "   RS ignored (not Master)        12\n",
            ],
        );
        assert_eq!(text.matches("Router Advertisements").count(), 1, "{text}");
        assert_eq!(vrrp_text(&[], NOW), "no VRRP routers");
    }
}
