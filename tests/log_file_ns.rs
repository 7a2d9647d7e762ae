//! The log of a runtime spawned by `apply` holds one format (issue 20, item 1): a JSON
//! runtime after a text one starts a fresh `netvrrp.log`, the text one's moves to
//! `netvrrp.log.1`. (The size cap is unit-tested in src/daemon/log_file.rs.)

mod common;

use common::{Netns, text, wait_until};
use std::time::Duration;

#[test]
fn a_runtime_in_another_format_starts_a_fresh_log() {
    let ns = Netns::new("nvlogf");
    ns.ip_ok(&[
        "link", "add", "eth0", "type", "veth", "peer", "name", "peer0",
    ]);
    ns.ip_ok(&["link", "set", "eth0", "up"]);
    ns.ip_ok(&["link", "set", "peer0", "up"]);
    ns.ip_ok(&["addr", "add", "192.0.2.2/24", "dev", "eth0"]);
    let cfg = ns.dir().join("vrrp.toml");
    std::fs::write(
        &cfg,
        "[[vrrp]]\ninterface = \"eth0\"\nvrid = 5\nipv4 = [\"192.0.2.5/24\"]\n",
    )
    .unwrap();
    let cfg = cfg.to_string_lossy().into_owned();
    let log = ns.run_dir().join("netvrrp.log");
    let read = |p: &std::path::Path| std::fs::read_to_string(p).unwrap_or_default();
    let started = |p: &std::path::Path| read(p).contains("runtime started").then_some(());

    let out = ns.netvrrp(&["apply", "-f", &cfg]);
    assert!(out.status.success(), "{}", text(&out));
    wait_until(Duration::from_secs(10), || read(&log), || started(&log));
    let out = ns.netvrrp(&["stop"]);
    assert!(out.status.success(), "{}", text(&out));

    let out = ns.netvrrp(&["--log-format", "json", "apply", "-f", &cfg]);
    assert!(out.status.success(), "{}", text(&out));
    wait_until(Duration::from_secs(10), || read(&log), || started(&log));
    let json = read(&log);
    for line in json.lines() {
        assert!(
            serde_json::from_str::<serde_json::Value>(line).is_ok(),
            "not JSON in the JSON runtime's log: {line:?}\n{json}"
        );
    }
    let old = read(&ns.run_dir().join("netvrrp.log.1"));
    assert!(
        old.contains(" INFO ") && old.contains("runtime started") && !old.contains('{'),
        "the text runtime's log: {old}"
    );
}
