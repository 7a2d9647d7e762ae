//! Routers that cannot run are never silent (issue 19, item 3): `show vrrp` lists them with
//! the reason, and the runtime starts them when the condition clears, with no apply. An
//! absent pathway interface does not block `apply`: a warning, the pathway NOT READY, and
//! its macvlan created by the runtime when the interface appears. `autoconfigure` names
//! every VRRP device it leaves out, and why. A shut-down router says so in `show`.
//!
//! One namespace: `eth0` (a veth whose peer `peer0` stays up) carries the routers; a router
//! alone on its link becomes Master after Master_Down_Interval.

mod common;

use common::lab::{try_inst, try_show};
use common::{Netns, text, wait_until};
use serde_json::Value;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(10);

fn setup(prefix: &str) -> Netns {
    let ns = Netns::new(prefix);
    ns.ip_ok(&[
        "link", "add", "eth0", "type", "veth", "peer", "name", "peer0",
    ]);
    ns.ip_ok(&["link", "set", "eth0", "up"]);
    ns.ip_ok(&["link", "set", "peer0", "up"]);
    ns
}

/// Wait for the row (`vrid`, `family`) to satisfy `ok`, and return it.
fn wait_row(ns: &Netns, vrid: u8, family: &str, ok: impl Fn(&Value) -> bool) -> Value {
    wait_until(
        LIMIT,
        || format!("show vrrp: {:?}", try_show(ns)),
        || try_inst(ns, vrid, family).filter(|r| ok(r)),
    )
}

fn reason(row: &Value) -> &str {
    row["not_running"].as_str().unwrap_or("")
}

#[test]
fn a_router_without_a_parent_address_is_listed_and_starts_when_the_address_appears() {
    let ns = setup("nvwait");
    let cfg = ns.dir().join("vrrp.toml");
    std::fs::write(
        &cfg,
        r#"
[defaults]
advertisement-interval = 100

[[vrrp]]
interface = "eth0"
vrid = 5
priority = 150
ipv4 = ["192.0.2.5/24"]
"#,
    )
    .unwrap();
    let cfg = cfg.to_string_lossy().into_owned();
    let out = ns.netvrrp(&["apply", "-f", &cfg]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("eth0 has no IPv4 address"),
        "apply warns: {}",
        text(&out)
    );
    let row = wait_row(&ns, 5, "ipv4", |r| !reason(r).is_empty());
    assert_eq!(row["state"], "initialize", "{row}");
    assert_eq!(
        reason(&row),
        "parent interface eth0 has no IPv4 address",
        "{row}"
    );
    let brief = ns.netvrrp(&["show"]);
    let brief_text = String::from_utf8_lossy(&brief.stdout);
    assert!(
        brief_text.contains("* eth0 vrid 5 ipv4: parent interface eth0 has no IPv4 address"),
        "{}",
        text(&brief)
    );
    let full = ns.netvrrp(&["show", "vrrp"]);
    assert!(
        String::from_utf8_lossy(&full.stdout).contains("Not running"),
        "{}",
        text(&full)
    );

    // The address appears (a DHCP lease, ifup): the router starts by itself.
    ns.ip_ok(&["addr", "add", "192.0.2.2/24", "dev", "eth0"]);
    let row = wait_row(&ns, 5, "ipv4", |r| r["state"] == "master");
    assert!(row["not_running"].is_null(), "{row}");
    assert_eq!(row["primary_address"], "192.0.2.2", "{row}");

    // The parent goes down: held in Initialize, with the reason; back up, Master again.
    ns.ip_ok(&["link", "set", "eth0", "down"]);
    let row = wait_row(&ns, 5, "ipv4", |r| r["state"] == "initialize");
    assert_eq!(reason(&row), "parent interface eth0 is down", "{row}");
    ns.ip_ok(&["link", "set", "eth0", "up"]);
    wait_row(&ns, 5, "ipv4", |r| r["state"] == "master");

    // Its vrrp device is removed behind its back: the reason names it; apply re-creates it.
    let device = row["device"].as_str().unwrap().to_string();
    ns.ip_ok(&["link", "del", &device]);
    let row = wait_row(&ns, 5, "ipv4", |r| r["device_index"].is_null());
    assert!(
        reason(&row).starts_with(&format!("device {device} is missing")),
        "{row}"
    );
    let out = ns.netvrrp(&["apply", "-f", &cfg]);
    assert!(out.status.success(), "{}", text(&out));
    wait_row(&ns, 5, "ipv4", |r| r["state"] == "master");
}

#[test]
fn an_absent_pathway_interface_does_not_block_apply() {
    let ns = setup("nvpathw");
    ns.ip_ok(&["addr", "add", "192.0.2.2/24", "dev", "eth0"]);
    let cfg = ns.dir().join("vrrp.toml");
    std::fs::write(
        &cfg,
        r#"
[defaults]
advertisement-interval = 100

[[vrrp]]
interface = "eth0"
vrid = 7
priority = 150
ipv4 = ["192.0.2.7/24"]
vrrs-leader = ["web"]

[[vrrs.pathway]]
leader = "web"
interface = "eth9"
mac = "02:00:5e:00:01:07"
address = ["198.51.100.7/24"]
"#,
    )
    .unwrap();
    let cfg = cfg.to_string_lossy().into_owned();
    let out = ns.netvrrp(&["apply", "-f", &cfg]);
    assert!(out.status.success(), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(":12:1: warning: pathway of \"web\": interface \"eth9\" does not exist"),
        "{}",
        text(&out)
    );
    // The VRRP router runs regardless.
    wait_row(&ns, 7, "ipv4", |r| r["state"] == "master");
    let pathway = |ns: &Netns| -> Option<Value> {
        let out = ns.netvrrp(&["show", "vrrs", "pathway", "--json"]);
        let rows: Value = serde_json::from_slice(&out.stdout).ok()?;
        rows["pathways"]
            .as_array()?
            .iter()
            .find(|p| p["interface"] == "eth9")
            .cloned()
    };
    let p = wait_until(LIMIT, || "show vrrs pathway".into(), || pathway(&ns));
    assert_eq!(p["state"], "not_ready", "{p}");
    // diff agrees with the kernel: the absent pathway is no drift.
    let out = ns.netvrrp(&["diff", "-f", &cfg, "--exit-code"]);
    assert!(out.status.success(), "{}", text(&out));

    // The interface appears: the runtime creates the pathway's macvlan and activates it.
    ns.ip_ok(&[
        "link", "add", "eth9", "type", "veth", "peer", "name", "peer9",
    ]);
    ns.ip_ok(&["link", "set", "peer9", "up"]);
    ns.ip_ok(&["link", "set", "eth9", "up"]);
    let p = wait_until(
        LIMIT,
        || format!("pathway: {:?}", pathway(&ns)),
        || pathway(&ns).filter(|p| p["state"] == "active"),
    );
    let device = p["device"].as_str().expect("pathway device").to_string();
    let link = ns.ip_json(&["-d", "link", "show", "dev", &device]);
    assert_eq!(link[0]["address"], "02:00:5e:00:01:07", "{link}");
}

#[test]
fn autoconfigure_names_every_device_it_skips() {
    let ns = setup("nvskip");
    ns.ip_ok(&["addr", "add", "192.0.2.2/24", "dev", "eth0"]);
    for (name, mac) in [("vr-a", "00:00:5e:00:01:05"), ("vr-b", "00:00:5e:00:01:09")] {
        ns.ip_ok(&[
            "link", "add", name, "link", "eth0", "address", mac, "type", "macvlan", "mode",
            "bridge",
        ]);
    }
    ns.ip_ok(&["addr", "add", "192.0.2.5/24", "dev", "vr-a"]);
    let out = ns.netvrrp(&["autoconfigure"]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let why = "vr-b: ipv4 VRID 9 on eth0: no address (a router needs at least one VIP)";
    assert!(stderr.contains(&format!("skipped {why}")), "{}", text(&out));
    assert!(
        stdout.contains(&format!("# Skipped: {why}")),
        "{}",
        text(&out)
    );
    assert!(stdout.contains("vrid = 5"), "{}", text(&out));
    assert!(!stdout.contains("vrid = 9"), "{}", text(&out));
}

#[test]
fn a_shut_down_router_says_so_in_show() {
    let ns = setup("nvshut");
    ns.ip_ok(&["addr", "add", "192.0.2.2/24", "dev", "eth0"]);
    let cfg = ns.dir().join("vrrp.toml");
    std::fs::write(
        &cfg,
        "[[vrrp]]\ninterface = \"eth0\"\nvrid = 5\nshutdown = true\nipv4 = [\"192.0.2.5/24\"]\n",
    )
    .unwrap();
    let cfg = cfg.to_string_lossy().into_owned();
    let out = ns.netvrrp(&["apply", "-f", &cfg]);
    assert!(out.status.success(), "{}", text(&out));
    let row = wait_row(&ns, 5, "ipv4", |r| r["shutdown"] == true);
    assert_eq!(row["state"], "initialize", "{row}");
    assert_eq!(reason(&row), "shut down (shutdown = true)", "{row}");
    assert_eq!(row["protodown"], true, "{row}");
    let full = ns.netvrrp(&["show", "vrrp"]);
    let full_text = String::from_utf8_lossy(&full.stdout);
    assert!(
        full_text
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["Shutdown", "true"]),
        "{}",
        text(&full)
    );
}
