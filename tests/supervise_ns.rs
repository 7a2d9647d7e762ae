//! The supervisor of a runtime `apply` starts outside systemd (issue 20, item 5;
//! src/daemon/supervisor.rs): a runtime killed with SIGKILL is started again, resumes its
//! Master (masters.json) and answers with the same configuration; `netvrrp stop` ends the
//! runtime and the supervisor, and nothing is restarted after it.
//!
//! One namespace with a veth to a second (so eth0 has a carrier); one router, priority 200,
//! alone on the link: Master.

mod common;

use common::lab::try_inst;
use common::{Netns, text, wait_until};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(20);

const CONFIG: &str = r#"
[defaults]
advertisement-interval = 100

[[vrrp]]
name = "supervised"
interface = "eth0"
vrid = 7
priority = 200
ipv4 = ["192.0.2.7/24"]
"#;

fn log(ns: &Netns) -> String {
    std::fs::read_to_string(ns.run_dir().join("netvrrp.log")).unwrap_or_default()
}

fn runtime_pid(ns: &Netns) -> Option<u32> {
    std::fs::read_to_string(ns.run_dir().join("netvrrp.pid"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// (state, priority, name) of the router, when a runtime answers.
fn router(ns: &Netns) -> Option<(String, u64, String)> {
    let r = try_inst(ns, 7, "ipv4")?;
    Some((
        r["state"].as_str()?.to_string(),
        r["priority"].as_u64()?,
        r["name"].as_str()?.to_string(),
    ))
}

fn master(ns: &Netns) -> Option<()> {
    router(ns)
        .filter(|r| *r == ("master".to_string(), 200, "supervised".to_string()))
        .map(|_| ())
}

fn processes(ns: &Netns) -> Vec<String> {
    let out = std::process::Command::new("ip")
        .args(["netns", "pids", ns.name()])
        .output()
        .expect("ip netns pids");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

/// The router's namespace (and its peer's, to keep the veth) after `apply`, once Master.
fn applied(tag: &str) -> (Netns, Netns) {
    let ns = Netns::new(tag);
    let other = Netns::new(&format!("{tag}p"));
    ns.veth_to("eth0", &other, "eth0");
    ns.ip_ok(&["addr", "add", "192.0.2.2/24", "dev", "eth0"]);
    let cfg = ns.dir().join("vrrp.toml");
    std::fs::write(&cfg, CONFIG).unwrap();
    let out = ns.netvrrp(&["apply", "-f", &cfg.to_string_lossy()]);
    assert!(out.status.success(), "{}", text(&out));
    wait_until(
        LIMIT,
        || format!("{:?}\n{}", router(&ns), log(&ns)),
        || master(&ns),
    );
    (ns, other)
}

#[test]
fn a_killed_runtime_is_restarted_and_stop_ends_both() {
    let (ns, _other) = applied("nvsup");

    let first = runtime_pid(&ns).expect("pid file");
    let supervisor = common::supervisor_of(first).expect("the runtime runs under a supervisor");
    let sup_file = ns.run_dir().join("netvrrp-supervisor.pid");
    assert_eq!(
        std::fs::read_to_string(&sup_file).unwrap().trim(),
        supervisor.to_string()
    );

    // The runtime alone dies (as a crash would); its supervisor stays.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(first as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let second = wait_until(
        LIMIT,
        || log(&ns),
        || runtime_pid(&ns).filter(|&p| p != first && master(&ns).is_some()),
    );
    assert_eq!(common::supervisor_of(second), Some(supervisor));
    let text_log = log(&ns);
    assert!(
        text_log.contains("the runtime died (killed by SIGKILL); restarting it in 1000 ms"),
        "{text_log}"
    );
    // It was Master when killed: the new runtime resumed it from masters.json.
    assert!(
        text_log.contains("the previous runtime died while Master: resuming"),
        "{text_log}"
    );
    // The VIP is on the router's device again.
    let addrs = ns.ip_ok(&["-4", "addr", "show"]);
    assert!(addrs.contains("192.0.2.7/24"), "{addrs}");

    // stop: the runtime exits cleanly and so does the supervisor; nothing comes back.
    let out = ns.netvrrp(&["stop"]);
    assert!(out.status.success(), "{}", text(&out));
    wait_until(
        LIMIT,
        || format!("still running in the namespace: {:?}", processes(&ns)),
        || processes(&ns).is_empty().then_some(()),
    );
    assert!(!sup_file.exists(), "the supervisor left its pid file");
    assert!(router(&ns).is_none(), "a runtime answers after stop");
    let out = ns.netvrrp(&["stop"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("no runtime is running"),
        "{}",
        text(&out)
    );
}

/// A runtime that exits cleanly on SIGTERM (as `systemctl stop` or an operator's `kill`
/// ends it) is not restarted: the supervisor exits with it.
#[test]
fn a_runtime_stopped_by_sigterm_is_not_restarted() {
    let (ns, _other) = applied("nvsupt");
    let pid = runtime_pid(&ns).expect("pid file");
    assert!(common::supervisor_of(pid).is_some());
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    wait_until(
        LIMIT,
        || format!("still running in the namespace: {:?}", processes(&ns)),
        || processes(&ns).is_empty().then_some(()),
    );
    assert!(!log(&ns).contains("restarting it"), "{}", log(&ns));
}
