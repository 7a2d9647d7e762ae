//! The optional `name` of a `[[vrrp]]` (issue 20): in `show` (brief, full, JSON), usable
//! with `subscribe NAME`, a metric label; renaming is a live reconfiguration. With it, what
//! `show vrrp` adds: the last transition and its reason, tracked objects, grouped counters,
//! and `show vrrp brief`.
//!
//! One namespace: `eth0` (a veth whose peer stays up) carries the router, alone on its
//! link, so it becomes Master.

mod common;

use common::lab::{try_inst, try_show};
use common::{Netns, text, wait_until};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(10);
const LISTEN: &str = "127.0.0.1:9713";

fn config(name: &str) -> String {
    format!(
        r#"
[runtime]
metrics-listen = "{LISTEN}"

[[vrrp]]
name = "{name}"
interface = "eth0"
vrid = 5
priority = 150
advertisement-interval = 100
ipv4 = ["192.0.2.5/24"]
track = [{{ interface = "trk0", decrement = 10 }}]
"#
    )
}

#[test]
fn a_router_name_shows_streams_and_labels() {
    let ns = Netns::new("nvname");
    ns.ip_ok(&[
        "link", "add", "eth0", "type", "veth", "peer", "name", "peer0",
    ]);
    ns.ip_ok(&["link", "set", "eth0", "up"]);
    ns.ip_ok(&["link", "set", "peer0", "up"]);
    ns.ip_ok(&["addr", "add", "192.0.2.2/24", "dev", "eth0"]);
    // A tracked interface that stays up (a decrement of 10 while it is down).
    ns.ip_ok(&[
        "link", "add", "trk0", "type", "veth", "peer", "name", "trk1",
    ]);
    ns.ip_ok(&["link", "set", "trk0", "up"]);
    ns.ip_ok(&["link", "set", "trk1", "up"]);
    let cfg = ns.dir().join("vrrp.toml");
    std::fs::write(&cfg, config("web")).unwrap();
    let cfg = cfg.to_string_lossy().into_owned();
    let out = ns.netvrrp(&["apply", "-f", &cfg]);
    assert!(out.status.success(), "{}", text(&out));
    let row = wait_until(
        LIMIT,
        || format!("{:?}", try_show(&ns)),
        || try_inst(&ns, 5, "ipv4").filter(|r| r["state"] == "master"),
    );
    assert_eq!(row["name"], "web", "{row}");
    assert_eq!(row["last_reason"], "master down timer", "{row}");
    let brief = ns.netvrrp(&["show"]);
    let line = String::from_utf8_lossy(&brief.stdout)
        .lines()
        .nth(1)
        .unwrap_or_default()
        .to_string();
    assert!(line.starts_with("web "), "{}", text(&brief));
    // `show vrrp brief` (and FRR's `summary`, and with a VRID) is the same table, up to
    // the age of the last change, which may have ticked between the calls.
    let columns = |out: &std::process::Output| -> Vec<Vec<String>> {
        assert!(out.status.success(), "{}", text(out));
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| l.split_whitespace().take(7).map(String::from).collect())
            .collect()
    };
    let want = columns(&brief);
    assert_eq!(
        want[1],
        ["web", "eth0", "5", "ipv4", "master", "150/150", "192.0.2.2"],
        "{}",
        text(&brief)
    );
    for args in [
        &["show", "vrrp", "brief"][..],
        &["show", "vrrp", "summary"],
        &["show", "vrrp", "5", "brief"],
        &["show", "vrrp", "--brief"],
    ] {
        assert_eq!(columns(&ns.netvrrp(args)), want, "{args:?}");
    }
    let (_, metrics) = common::scrape_metrics(&ns, LISTEN);
    assert!(
        metrics.contains(
            r#"netvrrp_vrrp_state{name="web",interface="eth0",vrid="5",family="ipv4",state="master"} 1"#
        ),
        "{metrics}"
    );

    // subscribe by router name, and without names (a plain VRRP configuration): its
    // current state, then its changes, under the router's name both times.
    let (mut by_name, named) = subscribe(&ns, &["web"]);
    let (mut all, every) = subscribe(&ns, &[]);
    for lines in [&named, &every] {
        let first = lines.recv_timeout(LIMIT).expect("a current line");
        assert_eq!(first["event"], "current", "{first}");
        assert_eq!(first["name"], "web", "{first}");
        assert_eq!(first["state"], "master", "{first}");
    }
    ns.ip_ok(&["link", "set", "eth0", "down"]);
    for lines in [&named, &every] {
        let change = lines.recv_timeout(LIMIT).expect("a change line");
        assert_eq!(change["event"], "change", "{change}");
        assert_eq!(change["name"], "web", "{change}");
        assert_eq!(change["router"], "web", "{change}");
        assert_eq!(change["state"], "initialize", "{change}");
    }
    // show vrrp says why, once the change is published.
    let row = try_inst(&ns, 5, "ipv4").unwrap();
    assert_eq!(row["state"], "initialize", "{row}");
    assert_eq!(row["last_reason"], "link down", "{row}");
    for sub in [&mut by_name, &mut all] {
        let _ = sub.kill();
        let _ = sub.wait();
    }
    ns.ip_ok(&["link", "set", "eth0", "up"]);
    let row = wait_until(
        LIMIT,
        || format!("{:?}", try_show(&ns)),
        || try_inst(&ns, 5, "ipv4").filter(|r| r["state"] == "master"),
    );
    assert_eq!(row["last_reason"], "master down timer", "{row}");
    // The full view: the name, when and why the last transition was, the tracked
    // interface, and the counters under their headings.
    let full = ns.netvrrp(&["show", "vrrp"]);
    assert!(full.status.success(), "{}", text(&full));
    let full = String::from_utf8_lossy(&full.stdout).into_owned();
    for want in [
        "\n Virtual Router ID                5\n Name                             web\n",
        " ago (master down timer)\n",
        " Tracked objects:\n   interface trk0                 up    decrement 10, contributes 0\n",
        " Counters:\n   Sent:\n     adverts_sent ",
        "\n   Received:\n",
        "\n   Dropped:\n     ttl_errors ",
        "\n   Transitions:\n     transitions ",
        "\n   Other:\n",
    ] {
        assert!(full.contains(want), "{want:?} missing from\n{full}");
    }
    let last = full
        .lines()
        .find(|l| l.starts_with(" Last transition "))
        .unwrap_or_default();
    assert!(last.contains(" UTC, "), "{full}");

    // A rename is a live reconfiguration: no restart, no transition.
    let before = try_inst(&ns, 5, "ipv4").unwrap()["counters"]["transitions"].clone();
    std::fs::write(&cfg, config("web-2")).unwrap();
    let out = ns.netvrrp(&["apply", "-f", &cfg]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("reconfigured (name)"),
        "{}",
        text(&out)
    );
    let row = try_inst(&ns, 5, "ipv4").unwrap();
    assert_eq!(row["name"], "web-2", "{row}");
    assert_eq!(row["state"], "master", "{row}");
    assert_eq!(row["counters"]["transitions"], before, "{row}");
    let out = ns.netvrrp(&["subscribe", "web"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("known: web-2"), "{}", text(&out));
}

/// `subscribe NAMES...` running in `ns`, and its lines as JSON values.
fn subscribe(ns: &Netns, names: &[&str]) -> (std::process::Child, mpsc::Receiver<Value>) {
    let mut args = vec!["subscribe"];
    args.extend_from_slice(names);
    let mut sub = ns
        .netvrrp_command(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("subscribe");
    let stdout = sub.stdout.take().expect("piped stdout");
    let (send, lines) = mpsc::channel::<Value>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Ok(v) = serde_json::from_str::<Value>(&line)
                && send.send(v).is_err()
            {
                return;
            }
        }
    });
    (sub, lines)
}
