//! Drift at run time (issue 19, item 5): a Backup's vrrp device switched to macvlan mode
//! private by hand takes that router to Initialize with protodown on (never two Masters),
//! `show vrrp` says what changed, and `apply` repairs it.
//!
//! Two namespaces joined by a veth pair, each with a runtime spawned by `apply`: `a`
//! (priority 200, Master) and `b` (priority 100, Backup).

mod common;

use common::lab::{try_inst, try_show};
use common::{Netns, text, wait_until};
use serde_json::Value;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(10);

fn config(priority: u8) -> String {
    format!(
        "[[vrrp]]\ninterface = \"eth0\"\nvrid = 5\npriority = {priority}\n\
         advertisement-interval = 100\nipv4 = [\"192.0.2.5/24\"]\n"
    )
}

fn wait_row(ns: &Netns, ok: impl Fn(&Value) -> bool) -> Value {
    wait_until(
        LIMIT,
        || format!("show vrrp: {:?}", try_show(ns)),
        || try_inst(ns, 5, "ipv4").filter(|r| ok(r)),
    )
}

#[test]
fn a_device_changed_behind_the_runtimes_back_holds_its_router_until_apply() {
    let a = Netns::new("nvdrifta");
    let b = Netns::new("nvdriftb");
    a.veth_to("eth0", &b, "eth0");
    a.ip_ok(&["addr", "add", "192.0.2.2/24", "dev", "eth0"]);
    b.ip_ok(&["addr", "add", "192.0.2.3/24", "dev", "eth0"]);
    let mut files = Vec::new();
    for (ns, priority) in [(&a, 200), (&b, 100)] {
        let cfg = ns.dir().join("vrrp.toml");
        std::fs::write(&cfg, config(priority)).unwrap();
        let cfg = cfg.to_string_lossy().into_owned();
        let out = ns.netvrrp(&["apply", "-f", &cfg]);
        assert!(out.status.success(), "{}", text(&out));
        files.push(cfg);
    }
    wait_row(&a, |r| r["state"] == "master");
    let row = wait_row(&b, |r| r["state"] == "backup");
    let device = row["device"].as_str().unwrap().to_string();

    b.ip_ok(&["link", "set", &device, "type", "macvlan", "mode", "private"]);
    let row = wait_row(&b, |r| !r["drift"].is_null());
    assert_eq!(row["state"], "initialize", "{row}");
    assert!(
        row["drift"]
            .as_str()
            .unwrap()
            .contains("macvlan mode private instead of bridge"),
        "{row}"
    );
    assert!(
        row["not_running"]
            .as_str()
            .unwrap()
            .starts_with("device changed behind netvrrp's back"),
        "{row}"
    );
    let link = b.ip_json(&["-d", "link", "show", "dev", &device]);
    assert_eq!(link[0]["proto_down"], true, "{link}");
    // Never two Masters: the other side stays the only one.
    assert_eq!(try_inst(&a, 5, "ipv4").unwrap()["state"], "master");
    let log = std::fs::read_to_string(b.run_dir().join("netvrrp.log")).unwrap_or_default();
    assert!(
        log.contains("vrrp device changed behind netvrrp's back"),
        "{log}"
    );

    // diff sees it; apply repairs it and the router runs again.
    let out = b.netvrrp(&["diff", "-f", &files[1], "--exit-code"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let out = b.netvrrp(&["apply", "-f", &files[1]]);
    assert!(out.status.success(), "{}", text(&out));
    let row = wait_row(&b, |r| r["state"] == "backup");
    assert!(row["drift"].is_null(), "{row}");
    assert!(row["not_running"].is_null(), "{row}");
    assert_eq!(try_inst(&a, 5, "ipv4").unwrap()["state"], "master");
}

/// The parent's primary IPv4 address (the advert source) removed behind the runtime's back:
/// with another IPv4 address on the parent the adverts follow it; with none left the router
/// is held in Initialize with protodown on, `show vrrp` says why, and the Backup takes
/// over; an address back starts it again (no apply), from that address.
#[test]
fn the_advert_source_removed_from_the_parent_holds_its_router_until_one_is_back() {
    let a = Netns::new("nvdriftpa");
    let b = Netns::new("nvdriftpb");
    a.veth_to("eth0", &b, "eth0");
    a.ip_ok(&["addr", "add", "192.0.2.2/24", "dev", "eth0"]);
    a.ip_ok(&["addr", "add", "198.51.100.2/24", "dev", "eth0"]);
    b.ip_ok(&["addr", "add", "192.0.2.3/24", "dev", "eth0"]);
    for (ns, priority) in [(&a, 200), (&b, 100)] {
        let cfg = ns.dir().join("vrrp.toml");
        std::fs::write(&cfg, config(priority)).unwrap();
        let out = ns.netvrrp(&["apply", "-f", &cfg.to_string_lossy()]);
        assert!(out.status.success(), "{}", text(&out));
    }
    let row = wait_row(&a, |r| r["state"] == "master");
    assert_eq!(row["primary_address"], "192.0.2.2", "{row}");
    wait_row(&b, |r| r["state"] == "backup");

    // Another IPv4 address is left: the adverts come from it, nothing stops.
    a.ip_ok(&["addr", "del", "192.0.2.2/24", "dev", "eth0"]);
    let row = wait_row(&a, |r| r["primary_address"] == "198.51.100.2");
    assert_eq!(row["state"], "master", "{row}");
    assert!(row["drift"].is_null(), "{row}");
    let row = wait_row(&b, |r| r["master_address"] == "198.51.100.2");
    assert_eq!(row["state"], "backup", "{row}");

    // None left: held, with the reason; the Backup takes over.
    a.ip_ok(&["addr", "del", "198.51.100.2/24", "dev", "eth0"]);
    let row = wait_row(&a, |r| !r["drift"].is_null());
    assert_eq!(row["state"], "initialize", "{row}");
    assert_eq!(row["protodown"], true, "{row}");
    let reason = row["not_running"].as_str().unwrap_or_default();
    assert!(
        reason.starts_with(
            "parent interface eth0 has no IPv4 address (the advert source 198.51.100.2 was removed)"
        ),
        "{row}"
    );
    wait_row(&b, |r| r["state"] == "master");
    let log = std::fs::read_to_string(a.run_dir().join("netvrrp.log")).unwrap_or_default();
    assert!(
        log.contains("router held in Initialize with protodown on until the parent has an address"),
        "{log}"
    );

    // An address back: the router starts again from it and preempts the Backup.
    a.ip_ok(&["addr", "add", "192.0.2.12/24", "dev", "eth0"]);
    let row = wait_row(&a, |r| r["state"] == "master");
    assert_eq!(row["primary_address"], "192.0.2.12", "{row}");
    assert!(
        row["drift"].is_null() && row["not_running"].is_null(),
        "{row}"
    );
    wait_row(&b, |r| r["state"] == "backup");
}
