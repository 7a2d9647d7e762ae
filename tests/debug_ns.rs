//! Live debug toggles (issue 20, item 1): `netvrrp debug packets on` makes the running
//! runtime log every advert sent and received, decoded; `off` stops it; no restart (the
//! runtime's pid and its routers' transitions stay as they were).
//!
//! Two namespaces joined by a veth pair, each with a runtime (spawned by `apply`, logging
//! to `<run-dir>/netvrrp.log`) running VRID 5: the Master (priority 200) logs what it
//! sends, the Backup (priority 100) what it receives.

mod common;

use common::lab::try_inst;
use common::{Netns, text, wait_until};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(10);

fn config(name: &str, priority: u8) -> String {
    format!(
        r#"
[defaults]
advertisement-interval = 100

[[vrrp]]
name = "{name}"
interface = "eth0"
vrid = 5
priority = {priority}
ipv4 = ["192.0.2.5/24"]
"#
    )
}

fn log(ns: &Netns) -> String {
    std::fs::read_to_string(ns.run_dir().join("netvrrp.log")).unwrap_or_default()
}

fn adverts_sent(ns: &Netns) -> u64 {
    try_inst(ns, 5, "ipv4")
        .and_then(|r| r["counters"]["adverts_sent"].as_u64())
        .unwrap_or(0)
}

fn pid(ns: &Netns) -> String {
    std::fs::read_to_string(ns.run_dir().join("netvrrp.pid")).unwrap_or_default()
}

#[test]
fn packets_debug_is_switched_live() {
    let ns = Netns::new("nvdebug");
    let other = Netns::new("nvdebugp");
    ns.veth_to("eth0", &other, "eth0");
    ns.ip_ok(&["addr", "add", "192.0.2.2/24", "dev", "eth0"]);
    other.ip_ok(&["addr", "add", "192.0.2.3/24", "dev", "eth0"]);
    for (n, name, priority) in [(&ns, "left", 200), (&other, "right", 100)] {
        let cfg = n.dir().join("vrrp.toml");
        std::fs::write(&cfg, config(name, priority)).unwrap();
        let out = n.netvrrp(&["apply", "-f", &cfg.to_string_lossy()]);
        assert!(out.status.success(), "{}", text(&out));
    }
    wait_until(LIMIT, || log(&ns), || (adverts_sent(&ns) > 2).then_some(()));
    let runtime = pid(&ns);
    let transitions = try_inst(&ns, 5, "ipv4").unwrap()["counters"]["transitions"].clone();

    let out = ns.netvrrp(&["debug"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "debug: none\n");
    assert!(!log(&ns).contains("advert sent"), "{}", log(&ns));

    let out = ns.netvrrp(&["debug", "packets", "on"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "debug: packets\n");
    let text_on = wait_until(
        LIMIT,
        || log(&ns),
        || Some(log(&ns)).filter(|l| l.contains("advert sent")),
    );
    let sent = text_on
        .lines()
        .find(|l| l.contains("advert sent") && l.contains("router=\"left\""))
        .unwrap_or_else(|| panic!("no decoded advert of router left: {text_on}"));
    for field in [
        "DEBUG",
        "vrid=5",
        "priority=200",
        "interval_ms=100",
        "192.0.2.5",
    ] {
        assert!(sent.contains(field), "{field} missing in {sent}");
    }
    let out = other.netvrrp(&["debug", "all", "on"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "debug: kernel packets protocol track vrrs\n"
    );
    let other_log = wait_until(
        LIMIT,
        || log(&other),
        || Some(log(&other)).filter(|l| l.contains("advert received")),
    );
    let received = other_log
        .lines()
        .find(|l| l.contains("advert received"))
        .unwrap_or_default();
    for field in [
        "router=\"right\"",
        "src=192.0.2.2",
        "priority=200",
        "heard=true",
    ] {
        assert!(received.contains(field), "{field} missing in {received}");
    }

    let out = ns.netvrrp(&["debug", "packets", "off"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "debug: none\n");
    let at_off = log(&ns).len();
    // Wait for more adverts than could be in flight, then for a later line (a status
    // request logs nothing; switching another category does).
    let sent_then = adverts_sent(&ns);
    wait_until(
        LIMIT,
        || log(&ns),
        || (adverts_sent(&ns) >= sent_then + 3).then_some(()),
    );
    let out = ns.netvrrp(&["debug", "kernel", "on"]);
    assert!(out.status.success(), "{}", text(&out));
    let after = wait_until(
        LIMIT,
        || log(&ns),
        || {
            let l = log(&ns);
            let tail = l.get(at_off..)?.to_string();
            tail.contains("category=\"kernel\"").then_some(tail)
        },
    );
    let lines: Vec<&str> = after.lines().collect();
    let last_packet_line = lines
        .iter()
        .rposition(|l| l.contains("advert sent") || l.contains("advert received"));
    let switched = lines
        .iter()
        .position(|l| l.contains("category=\"kernel\""))
        .unwrap();
    assert!(
        last_packet_line.is_none_or(|p| p < switched),
        "adverts still logged after `debug packets off`: {after}"
    );
    // Live: the same runtime, no transition.
    assert_eq!(pid(&ns), runtime);
    let row = try_inst(&ns, 5, "ipv4").unwrap();
    assert_eq!(row["counters"]["transitions"], transitions, "{row}");

    // Unknown categories are usage errors; half a request too.
    let out = ns.netvrrp(&["debug", "adverts", "on"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let out = ns.netvrrp(&["debug", "packets"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}
