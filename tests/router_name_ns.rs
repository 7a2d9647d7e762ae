//! The optional `name` of a `[[vrrp]]` (issue 20): in `show` (brief, full, JSON), usable
//! with `subscribe NAME`, a metric label; renaming is a live reconfiguration.
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
    let brief = ns.netvrrp(&["show"]);
    let line = String::from_utf8_lossy(&brief.stdout)
        .lines()
        .nth(1)
        .unwrap_or_default()
        .to_string();
    assert!(line.starts_with("web "), "{}", text(&brief));
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
    for sub in [&mut by_name, &mut all] {
        let _ = sub.kill();
        let _ = sub.wait();
    }
    ns.ip_ok(&["link", "set", "eth0", "up"]);
    wait_until(
        LIMIT,
        || format!("{:?}", try_show(&ns)),
        || try_inst(&ns, 5, "ipv4").filter(|r| r["state"] == "master"),
    );

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
