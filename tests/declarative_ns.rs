//! The runtime is part of the desired state: `diff`/`check` see what it runs, `apply`
//! changes a running router in place (no failover for a change that should move nothing),
//! and one runtime owns each network namespace. Namespace tests: need root, iproute2,
//! tcpdump and nftables.

mod common;

use common::{Netns, text, wait_until};
use serde_json::Value;
use std::fs;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const VRID: u8 = 7;
const INTERVAL_MS: u32 = 100;

/// Two routers (r1, r2) and a host on one bridge; VIP 10.7.0.1 (and .2 when asked).
struct Pair {
    routers: Vec<Netns>,
    host: Netns,
    // The switch goes last: the routers' runtimes die with their namespaces first.
    _sw: Netns,
}

/// The runtimes run their loop under SCHED_FIFO (`realtime-priority`), as an operator who
/// cares about advert timing would: the gap checks below are about the reload, not about
/// the other test threads sharing this machine's cores.
fn config(iface: &str, priority: u8, interval_ms: u32, vips: &[&str]) -> String {
    let vips: Vec<String> = vips.iter().map(|v| format!("\"{v}/24\"")).collect();
    format!(
        "[runtime]\nrealtime-priority = 20\n\n[[vrrp]]\ninterface = \"{iface}\"\nvrid = {VRID}\npriority = {priority}\nadvertisement-interval = {interval_ms}\nipv4 = [{}]\n",
        vips.join(", ")
    )
}

impl Pair {
    fn new(tag: &str) -> Pair {
        let sw = Netns::new(&format!("{tag}-sw"));
        sw.bridge("br0");
        let mut routers = Vec::new();
        for k in 1..=2u8 {
            let r = Netns::new(&format!("{tag}-r{k}"));
            sw.veth_to(&format!("p{k}"), &r, "eth0");
            sw.enslave(&format!("p{k}"), "br0");
            r.ip_ok(&[
                "addr",
                "add",
                &format!("10.7.0.{}/24", 10 + k),
                "dev",
                "eth0",
            ]);
            routers.push(r);
        }
        let host = Netns::new(&format!("{tag}-h"));
        sw.veth_to("ph", &host, "eth0");
        sw.enslave("ph", "br0");
        host.ip_ok(&["addr", "add", "10.7.0.100/24", "dev", "eth0"]);
        Pair {
            routers,
            host,
            _sw: sw,
        }
    }

    fn r(&self, k: usize) -> &Netns {
        &self.routers[k - 1]
    }

    fn file(&self, k: usize) -> String {
        self.r(k).dir().join("vrrp.toml").display().to_string()
    }

    fn write(&self, k: usize, priority: u8, interval_ms: u32, vips: &[&str]) {
        fs::write(self.file(k), config("eth0", priority, interval_ms, vips)).unwrap();
    }

    fn apply(&self, k: usize) -> Output {
        let out = self.r(k).netvrrp(&["apply", "--json", "-f", &self.file(k)]);
        assert!(out.status.success(), "apply r{k}: {}", text(&out));
        Output(serde_json::from_slice(&out.stdout).expect("apply --json"))
    }

    /// `show vrrp --json` of router k's only instance.
    fn show(&self, k: usize) -> Value {
        let out = self.r(k).netvrrp(&["show", "vrrp", "--json"]);
        assert!(out.status.success(), "show r{k}: {}", text(&out));
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        v["routers"][0].clone()
    }

    fn state(&self, k: usize) -> String {
        self.show(k)["state"].as_str().unwrap_or("").to_string()
    }

    fn wait_state(&self, k: usize, want: &str) {
        wait_until(
            Duration::from_secs(10),
            || format!("r{k} not {want}: {}", self.show(k)),
            || (self.state(k) == want).then_some(()),
        );
    }

    fn counter(&self, k: usize, name: &str) -> u64 {
        self.show(k)["counters"][name].as_u64().unwrap_or(0)
    }

    /// Both up, r1 Master at `p1`, r2 Backup at `p2`.
    fn start(&self, p1: u8, p2: u8) {
        self.write(1, p1, INTERVAL_MS, &["10.7.0.1"]);
        self.write(2, p2, INTERVAL_MS, &["10.7.0.1"]);
        self.apply(1);
        self.apply(2);
        self.wait_state(1, "master");
        self.wait_state(2, "backup");
    }
}

/// `apply --json` output.
struct Output(Value);

impl Output {
    /// The action of the only router in the runtime section.
    fn action(&self) -> (String, Vec<String>) {
        let r = &self.0["runtime"]["routers"][0];
        (
            r["action"].as_str().unwrap_or("").to_string(),
            attributes(r),
        )
    }
}

/// The attributes a router's entry in the runtime section names.
fn attributes(router: &Value) -> Vec<String> {
    router["attributes"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// VRRP adverts seen on r2's port: (seconds, priority), from tcpdump's text.
struct Capture {
    child: Child,
    path: PathBuf,
}

impl Capture {
    fn start(ns: &Netns) -> Capture {
        let path = ns.dir().join("adverts.txt");
        let file = fs::File::create(&path).unwrap();
        let child = Command::new("ip")
            .args([
                "netns",
                "exec",
                ns.name(),
                "tcpdump",
                "-l",
                "-n",
                "-tt",
                "-i",
                "eth0",
            ])
            .args(["ip", "proto", "112"])
            .stdout(file)
            .stderr(Stdio::null())
            .spawn()
            .expect("tcpdump");
        // tcpdump needs a moment before it sees packets.
        std::thread::sleep(Duration::from_millis(500));
        Capture { child, path }
    }

    fn stop(mut self) -> Vec<(f64, u8)> {
        std::thread::sleep(Duration::from_millis(300));
        let _ = self.child.kill();
        let _ = self.child.wait();
        let text = fs::read_to_string(&self.path).unwrap_or_default();
        text.lines()
            .filter_map(|l| {
                let t: f64 = l.split_whitespace().next()?.parse().ok()?;
                let prio = l
                    .split("prio ")
                    .nth(1)?
                    .split(|c: char| !c.is_ascii_digit())
                    .next()?;
                Some((t, prio.parse().ok()?))
            })
            .collect()
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn longest_gap_ms(adverts: &[(f64, u8)]) -> f64 {
    adverts
        .windows(2)
        .map(|w| (w[1].0 - w[0].0) * 1000.0)
        .fold(0.0, f64::max)
}

#[test]
fn a_priority_edit_that_keeps_the_master_is_drift_and_moves_nothing() {
    let lab = Pair::new("dcl-prio");
    lab.start(200, 100);
    let transitions = [lab.counter(1, "transitions"), lab.counter(2, "transitions")];

    // The edit is drift for diff (exit 3, the router and the attribute named) and check.
    lab.write(1, 150, INTERVAL_MS, &["10.7.0.1"]);
    let out = lab
        .r(1)
        .netvrrp(&["diff", "--exit-code", "--json", "-f", &lab.file(1)]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["schema"], 1);
    assert_eq!(v["kernel_in_sync"], true, "{v}");
    assert_eq!(v["runtime"]["routers"][0]["action"], "reconfigure", "{v}");
    assert_eq!(v["runtime"]["routers"][0]["attributes"][0], "priority");
    assert_eq!(v["runtime"]["routers"][0]["vrid"], VRID);
    let out = lab.r(1).netvrrp(&["check", "-f", &lab.file(1)]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));

    // apply: reconfigured in place, the new priority on the wire, no transition, no
    // priority 0, no gap.
    let cap = Capture::start(lab.r(2));
    let applied = lab.apply(1);
    assert_eq!(
        applied.action(),
        ("reconfigure".into(), vec!["priority".to_string()])
    );
    std::thread::sleep(Duration::from_millis(600));
    let adverts = cap.stop();
    assert!(adverts.len() >= 8, "too few adverts captured: {adverts:?}");
    assert!(
        adverts.iter().all(|&(_, p)| p != 0),
        "priority 0 sent: {adverts:?}"
    );
    assert!(
        adverts.iter().any(|&(_, p)| p == 150),
        "150 never sent: {adverts:?}"
    );
    let gap = longest_gap_ms(&adverts);
    assert!(
        gap <= f64::from(INTERVAL_MS) * 1.1,
        "advert gap {gap:.1} ms over the interval + 10 %"
    );
    assert_eq!(lab.counter(1, "transitions"), transitions[0]);
    assert_eq!(lab.counter(2, "transitions"), transitions[1]);
    assert_eq!(lab.counter(1, "priority_zero_sent"), 0);
    assert_eq!(lab.show(1)["priority"], 150);

    // Now in sync; a second apply keeps everything.
    let out = lab
        .r(1)
        .netvrrp(&["diff", "--exit-code", "-f", &lab.file(1)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(lab.apply(1).action().0, "keep");

    // An interval change applies live too.
    lab.write(1, 150, 200, &["10.7.0.1"]);
    assert_eq!(
        lab.apply(1).action(),
        (
            "reconfigure".into(),
            vec!["advertisement-interval".to_string()]
        )
    );
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(lab.counter(1, "transitions"), transitions[0]);
    assert_eq!(lab.counter(2, "transitions"), transitions[1]);
    assert_eq!(
        lab.show(2)["master_adver_interval_ms"].as_f64(),
        Some(200.0),
        "{}",
        lab.show(2)
    );
}

#[test]
fn a_master_lowered_below_a_preempting_backup_hands_over_once_without_priority_zero() {
    let lab = Pair::new("dcl-low");
    lab.start(150, 100);
    let t1 = lab.counter(1, "transitions");
    let t2 = lab.counter(2, "transitions");
    // A plain VRRP configuration: `subscribe` without names streams its state changes.
    let subscriber = lab
        .r(2)
        .netvrrp_command(&["subscribe"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("subscribe");
    std::thread::sleep(Duration::from_millis(300));
    lab.write(1, 50, INTERVAL_MS, &["10.7.0.1"]);
    assert_eq!(lab.apply(1).action().0, "reconfigure");
    lab.wait_state(2, "master");
    lab.wait_state(1, "backup");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(lab.counter(1, "transitions"), t1 + 1);
    assert_eq!(lab.counter(2, "transitions"), t2 + 1);
    assert_eq!(lab.counter(1, "priority_zero_sent"), 0);
    assert_eq!(lab.counter(2, "priority_zero_received"), 0);
    let mut subscriber = subscriber;
    let _ = subscriber.kill();
    let out = subscriber.wait_with_output().unwrap();
    let streamed = String::from_utf8_lossy(&out.stdout);
    let change: Value = streamed
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["event"] == "change" && v["state"] == "master")
        .unwrap_or_else(|| panic!("no VRRP change streamed: {streamed}"));
    assert_eq!(change["schema"], 1, "{change}");
    assert_eq!(change["vrid"], VRID);
    assert_eq!(change["name"], Value::Null);
    // A name nobody serves is an error listing the known ones, not a silent wait.
    let out = lab.r(2).netvrrp(&["subscribe", "no-such-leader"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out)
            .contains("unknown VRRS leader, router or track name(s) no-such-leader; known: none"),
        "{}",
        text(&out)
    );
}

/// Without nftables the filter that keeps Backups silent cannot exist: apply refuses before
/// changing anything (nft hidden in a private mount namespace, the real binary untouched).
#[test]
fn apply_without_nftables_changes_nothing() {
    let lab = Pair::new("dcl-nft");
    lab.write(1, 200, INTERVAL_MS, &["10.7.0.1"]);
    let script = format!(
        "for p in /usr/sbin/nft /sbin/nft /usr/bin/nft /bin/nft; do [ -e $p ] && mount --bind /dev/null $p; done; exec {} --netns {} --run-dir {} apply -f {}",
        env!("CARGO_BIN_EXE_netvrrp"),
        lab.r(1).name(),
        lab.r(1).run_dir().display(),
        lab.file(1)
    );
    let out = Command::new("unshare")
        .args(["-m", "sh", "-c", &script])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("nftables"), "{}", text(&out));
    let links = lab.r(1).ip_json(&["link", "show"]);
    assert!(
        links
            .as_array()
            .unwrap()
            .iter()
            .all(|l| !l["ifname"].as_str().unwrap_or("").starts_with("vrrp")),
        "a device was created: {links}"
    );
    assert!(!lab.r(1).run_dir().join("netvrrp.sock").exists());
}

#[test]
fn adding_and_removing_a_vip_loses_no_reply_for_the_kept_one() {
    let lab = Pair::new("dcl-vip");
    lab.start(200, 100);
    let ping = Command::new("ip")
        .args([
            "netns",
            "exec",
            lab.host.name(),
            "ping",
            "-n",
            "-q",
            "-i",
            "0.01",
        ])
        .args(["-c", "250", "-W", "1", "10.7.0.1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ping");
    std::thread::sleep(Duration::from_millis(500));
    lab.write(1, 200, INTERVAL_MS, &["10.7.0.1", "10.7.0.2"]);
    lab.write(2, 100, INTERVAL_MS, &["10.7.0.1", "10.7.0.2"]);
    assert_eq!(
        lab.apply(1).action(),
        ("reconfigure".into(), vec!["ipv4".to_string()])
    );
    lab.apply(2);
    // The new VIP answers through the master.
    let out = lab
        .host
        .exec(&["ping", "-n", "-c", "3", "-i", "0.2", "-W", "1", "10.7.0.2"]);
    assert!(out.status.success(), "new VIP: {}", text(&out));
    lab.write(1, 200, INTERVAL_MS, &["10.7.0.1"]);
    lab.write(2, 100, INTERVAL_MS, &["10.7.0.1"]);
    lab.apply(1);
    lab.apply(2);
    let out = ping.wait_with_output().unwrap();
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(
        summary.contains(" 0% packet loss"),
        "replies lost for the kept VIP: {summary}"
    );
    let out = lab
        .host
        .exec(&["ping", "-n", "-c", "2", "-W", "1", "10.7.0.2"]);
    assert!(!out.status.success(), "removed VIP still answers");
    assert_eq!(lab.state(1), "master");
}

#[test]
fn a_stopped_runtime_and_one_running_another_file_are_drift() {
    let lab = Pair::new("dcl-stop");
    lab.write(1, 200, INTERVAL_MS, &["10.7.0.1"]);
    lab.apply(1);
    let file = lab.file(1);
    let r = lab.r(1);
    assert_eq!(
        r.netvrrp(&["diff", "--exit-code", "-f", &file])
            .status
            .code(),
        Some(0)
    );
    // Another file (same content) is drift: the runtime does not run it.
    let other = r.dir().join("other.toml").display().to_string();
    fs::copy(&file, &other).unwrap();
    let out = r.netvrrp(&["diff", "--exit-code", "-f", &other]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(text(&out).contains("instead of"), "{}", text(&out));
    // Stopped: drift for diff and check; a second stop is not an error.
    assert!(r.netvrrp(&["stop"]).status.success());
    let out = r.netvrrp(&["stop"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("no runtime is running"),
        "{}",
        text(&out)
    );
    let out = r.netvrrp(&["diff", "--exit-code", "-f", &file]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(text(&out).contains("not running"), "{}", text(&out));
    let out = r.netvrrp(&["check", "-f", &file]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    // --no-runtime looks at the kernel only.
    let out = r.netvrrp(&["diff", "--no-runtime", "--exit-code", "-f", &file]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // `down` with a broken file refuses before stopping anything.
    lab.apply(1);
    lab.wait_state(1, "master");
    fs::write(&other, "[[vrrp]]\nvrid = 0\n").unwrap();
    let out = r.netvrrp(&["down", "-f", &other]);
    assert_eq!(out.status.code(), Some(65), "{}", text(&out));
    assert!(
        text(&out).contains("nothing was stopped or removed"),
        "{}",
        text(&out)
    );
    assert_eq!(lab.state(1), "master");
}

#[test]
fn one_runtime_per_namespace_and_requests_for_another_are_refused() {
    let lab = Pair::new("dcl-one");
    lab.write(1, 200, INTERVAL_MS, &["10.7.0.1"]);
    lab.apply(1);
    lab.wait_state(1, "master");
    let r = lab.r(1);
    let second = r.dir().join("second");
    fs::create_dir_all(&second).unwrap();
    let file = lab.file(1);
    let out = Command::new(env!("CARGO_BIN_EXE_netvrrp"))
        .args(["--netns", r.name(), "--run-dir"])
        .arg(&second)
        .args(["apply", "-f", &file])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains(&r.run_dir().display().to_string()),
        "the running one's run-dir not named: {}",
        text(&out)
    );
    // Nothing was touched: the master is still up, protodown off.
    assert_eq!(lab.state(1), "master");
    let link = r.ip_json(&[
        "-d",
        "link",
        "show",
        "dev",
        &format!("vrrp4-{}-{VRID}", r.ifindex("eth0")),
    ]);
    assert_ne!(link[0]["protodown"], Value::Bool(true), "{link}");

    // A request that names another run-dir is refused, naming both.
    use std::io::{BufRead, BufReader, Write};
    let mut s = std::os::unix::net::UnixStream::connect(r.run_dir().join("netvrrp.sock")).unwrap();
    let req = serde_json::json!({"cmd": "stop", "identity": {"run_dir": second}});
    writeln!(s, "{req}").unwrap();
    let mut line = String::new();
    BufReader::new(&s).read_line(&mut line).unwrap();
    let reply: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(reply["ok"], false, "{reply}");
    assert!(
        reply["error"].as_str().unwrap().contains("wrong runtime"),
        "{reply}"
    );
    // One meant for another namespace names both, with the names `ip netns` knows.
    let kernel_name = |ns: &Netns| {
        use std::os::unix::fs::MetadataExt;
        let ino = fs::metadata(format!("/run/netns/{}", ns.name()))
            .unwrap()
            .ino();
        format!("net:[{ino}]")
    };
    let mut s = std::os::unix::net::UnixStream::connect(r.run_dir().join("netvrrp.sock")).unwrap();
    let req = serde_json::json!({"cmd": "stop", "identity": {"netns": kernel_name(lab.r(2)), "run_dir": r.run_dir()}});
    writeln!(s, "{req}").unwrap();
    let mut line = String::new();
    BufReader::new(&s).read_line(&mut line).unwrap();
    let reply: Value = serde_json::from_str(&line).unwrap();
    let error = reply["error"].as_str().unwrap_or_default();
    for ns in [lab.r(2), r] {
        let named = format!("{} ({})", kernel_name(ns), ns.name());
        assert!(error.contains(&named), "{named} not in {reply}");
    }
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(lab.state(1), "master", "a foreign stop was obeyed");
}

/// `down` with a run-dir that is not the namespace's runtime's changes nothing: exit 1, both
/// run-dirs named, the runtime's device (the same one: not deleted and re-created), its
/// protodown, its filter and both routers' states as they were. Deleting the device would
/// drop the Master to Initialize and hand its VIP to the peer. Without `-f` too (the default
/// file), and `stop` there finds nothing of its own to stop.
#[test]
fn down_with_another_run_dir_is_refused() {
    let lab = Pair::new("dcl-down");
    lab.start(200, 100);
    let r = lab.r(1);
    let second = r.dir().join("second");
    fs::create_dir_all(&second).unwrap();
    let with_second = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_netvrrp"))
            .args(["--netns", r.name(), "--run-dir"])
            .arg(&second)
            .args(args)
            .output()
            .unwrap()
    };
    let dev = format!("vrrp4-{}-{VRID}", r.ifindex("eth0"));
    let dev_index = r.ifindex(&dev);
    let transitions = (lab.counter(1, "transitions"), lab.counter(2, "transitions"));
    let file = lab.file(1);
    for args in [&["down", "-f", &file][..], &["down"][..]] {
        let out = with_second(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", text(&out));
        for named in [r.run_dir(), second.as_path()] {
            assert!(
                text(&out).contains(&named.display().to_string()),
                "{args:?}: run-dir {} not named: {}",
                named.display(),
                text(&out)
            );
        }
        assert!(!text(&out).contains("delete"), "{args:?}: {}", text(&out));
    }
    let out = with_second(&["stop"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains(&format!(
            "no runtime is running with run-dir {}",
            second.display()
        )),
        "{}",
        text(&out)
    );
    // Untouched: the same device, out of protodown, the filter in place, no transition.
    assert_eq!(r.ifindex(&dev), dev_index, "{dev} was re-created");
    let link = r.ip_json(&["-d", "link", "show", "dev", &dev]);
    assert_ne!(link[0]["protodown"], Value::Bool(true), "{link}");
    let nft = r.exec(&["nft", "list", "table", "inet", "netvrrp"]);
    assert!(
        nft.status.success(),
        "the filter was removed: {}",
        text(&nft)
    );
    assert_eq!(lab.state(1), "master");
    assert_eq!(lab.state(2), "backup");
    assert_eq!(
        (lab.counter(1, "transitions"), lab.counter(2, "transitions")),
        transitions
    );
    // The runtime's own run-dir still takes it down.
    let out = r.netvrrp(&["down", "-f", &file]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(!r.ip(&["link", "show", "dev", &dev]).status.success());
}

/// `--netns NAME` without `--run-dir` uses `/run/netvrrp/netns/NAME`: two namespaces stay
/// apart through apply, show, stop and down.
#[test]
fn two_namespaces_with_default_run_dirs_stay_independent() {
    struct DirGuard(Vec<PathBuf>);
    impl Drop for DirGuard {
        fn drop(&mut self) {
            for d in &self.0 {
                let _ = fs::remove_dir_all(d);
            }
        }
    }
    let a = Netns::new("dcl-nsa");
    let b = Netns::new("dcl-nsb");
    let _dirs = DirGuard(
        [&a, &b]
            .iter()
            .map(|n| PathBuf::from("/run/netvrrp/netns").join(n.name()))
            .collect(),
    );
    let cmd = |ns: &Netns, args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_netvrrp"))
            .args(["--netns", ns.name()])
            .args(args)
            .output()
            .unwrap()
    };
    let mut files = Vec::new();
    for (ns, prio) in [(&a, 200u8), (&b, 100u8)] {
        ns.veth("eth0", "eth1");
        ns.ip_ok(&["addr", "add", "10.7.0.11/24", "dev", "eth0"]);
        let f = ns.dir().join("vrrp.toml");
        fs::write(&f, config("eth0", prio, INTERVAL_MS, &["10.7.0.1"])).unwrap();
        let f = f.display().to_string();
        let out = cmd(ns, &["apply", "-f", &f]);
        assert!(out.status.success(), "{}: {}", ns.name(), text(&out));
        files.push(f);
    }
    let show = |ns: &Netns| {
        let out = cmd(ns, &["show", "vrrp", "--json"]);
        assert!(out.status.success(), "{}", text(&out));
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        v["routers"][0]["priority"].as_u64().unwrap()
    };
    assert_eq!(show(&a), 200);
    assert_eq!(show(&b), 100);
    // b's file applied to b reloads b only.
    fs::write(&files[1], config("eth0", 120, INTERVAL_MS, &["10.7.0.1"])).unwrap();
    assert!(cmd(&b, &["apply", "-f", &files[1]]).status.success());
    assert_eq!(show(&a), 200);
    assert_eq!(show(&b), 120);
    assert!(cmd(&b, &["stop"]).status.success());
    assert_eq!(show(&a), 200);
    assert!(cmd(&b, &["down", "-f", &files[1]]).status.success());
    assert_eq!(show(&a), 200);
    assert!(cmd(&a, &["down", "-f", &files[0]]).status.success());
}

/// Tracking edits apply live too: a new tracked interface that is down lowers the running
/// master's priority in place (the backup takes over once, no priority 0), and its link
/// coming up gives the priority back (preempt).
#[test]
fn a_tracking_edit_applies_live() {
    let lab = Pair::new("dcl-trk");
    lab.start(200, 100);
    // A tracked link that is down: a veth pair whose ends stay down.
    lab.r(1).ip_ok(&[
        "link", "add", "trk0", "type", "veth", "peer", "name", "trk1",
    ]);
    let t1 = lab.counter(1, "transitions");
    let t2 = lab.counter(2, "transitions");
    let tracked = format!(
        "{}track = [{{ interface = \"trk0\", decrement = 150 }}]\n",
        config("eth0", 200, INTERVAL_MS, &["10.7.0.1"])
    );
    fs::write(lab.file(1), tracked).unwrap();
    assert_eq!(
        lab.apply(1).action(),
        ("reconfigure".into(), vec!["track".to_string()])
    );
    lab.wait_state(2, "master");
    lab.wait_state(1, "backup");
    assert_eq!(lab.show(1)["effective_priority"], 50);
    assert_eq!(lab.counter(1, "transitions"), t1 + 1);
    assert_eq!(lab.counter(2, "transitions"), t2 + 1);
    assert_eq!(lab.counter(1, "priority_zero_sent"), 0);
    // The link comes up: priority 200 again, r1 preempts.
    lab.r(1).ip_ok(&["link", "set", "trk0", "up"]);
    lab.r(1).ip_ok(&["link", "set", "trk1", "up"]);
    lab.wait_state(1, "master");
    assert_eq!(lab.show(1)["effective_priority"], 200);
}

/// A Master shut down by the same reload that moves it to unicast peers says priority 0
/// the way its peers hear it now (multicast): the Backup takes over at once (Skew_Time), not
/// after Master_Down_Interval, and drops nothing.
#[test]
fn a_shutdown_with_new_unicast_peers_says_priority_zero_the_old_way() {
    let lab = Pair::new("dcl-shu");
    lab.start(200, 100);
    let zeros = lab.counter(2, "priority_zero_received");
    let errors = lab.counter(2, "address_list_errors");
    let shut = config("eth0", 200, INTERVAL_MS, &["10.7.0.1"]).replace(
        "[[vrrp]]\n",
        "[[vrrp]]\nshutdown = true\nunicast-peers = [\"10.7.0.12\"]\n",
    );
    fs::write(lab.file(1), shut).unwrap();
    let (action, attributes) = lab.apply(1).action();
    assert_eq!(action, "reconfigure");
    assert!(
        attributes.contains(&"shutdown".to_string()),
        "{attributes:?}"
    );
    lab.wait_state(2, "master");
    assert_eq!(lab.counter(1, "priority_zero_sent"), 1);
    assert_eq!(lab.counter(2, "priority_zero_received"), zeros + 1);
    assert_eq!(lab.counter(2, "address_list_errors"), errors);
}

/// A reload that reaches the runtime after its client stopped waiting (apply gave up on a
/// stopped runtime after 30 s, said so and undid its kernel changes) is dropped, not carried
/// out behind the client's back when the runtime resumes; the next apply does it.
#[test]
fn a_reload_its_client_stopped_waiting_for_is_dropped() {
    let lab = Pair::new("dcl-late");
    lab.start(200, 100);
    lab.write(1, 150, INTERVAL_MS, &["10.7.0.1"]);
    let pid = fs::read_to_string(lab.r(1).run_dir().join("netvrrp.pid")).unwrap();
    let pid = pid.trim();
    let signal = |sig: &str| {
        let out = Command::new("kill").args([sig, pid]).output().unwrap();
        assert!(out.status.success(), "kill {sig}: {}", text(&out));
    };
    signal("-STOP");
    let out = lab.r(1).netvrrp(&["apply", "-f", &lab.file(1)]);
    signal("-CONT");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("the runtime did not answer within 30 s"),
        "{}",
        text(&out)
    );
    let log = lab.r(1).run_dir().join("netvrrp.log");
    wait_until(
        Duration::from_secs(10),
        || fs::read_to_string(&log).unwrap_or_default(),
        || {
            fs::read_to_string(&log)
                .ok()
                .filter(|l| l.contains("reload dropped"))
        },
    );
    assert_eq!(lab.show(1)["priority"], 200, "{}", lab.show(1));
    let (action, attributes) = lab.apply(1).action();
    assert_eq!(
        (action.as_str(), attributes),
        ("reconfigure", vec!["priority".to_string()])
    );
    assert_eq!(lab.show(1)["priority"], 150);
}

/// A `[runtime]` key read at start only, changed by an apply: the reload cannot apply it, so
/// apply says what will (and `check` keeps calling it drift until then).
#[test]
fn a_start_only_setting_changed_by_apply_is_said_to_need_a_restart() {
    let lab = Pair::new("dcl-rst");
    lab.start(200, 100);
    let edited = config("eth0", 200, INTERVAL_MS, &["10.7.0.1"])
        .replace("realtime-priority = 20", "realtime-priority = 30");
    fs::write(lab.file(1), edited).unwrap();
    let out = lab.r(1).netvrrp(&["apply", "-f", &lab.file(1)]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(
            "runtime: [runtime] realtime-priority (takes effect when the runtime restarts): `netvrrp stop`, then `netvrrp apply`"
        ),
        "{}",
        text(&out)
    );
    let out = lab.r(1).netvrrp(&["check", "-f", &lab.file(1)]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert_eq!(lab.state(1), "master");
}

/// Liveness is the runtime's lock, not an answer: with every control connection held, apply
/// of the same file fails (exit 1, the reason named) without starting a second runtime or
/// touching the master's protodown.
#[test]
fn a_runtime_with_no_free_connection_is_still_running() {
    let lab = Pair::new("dcl-busy");
    lab.write(1, 200, INTERVAL_MS, &["10.7.0.1"]);
    lab.apply(1);
    lab.wait_state(1, "master");
    let r = lab.r(1);
    let pid = fs::read_to_string(r.run_dir().join("netvrrp.pid")).unwrap();
    // Enough descriptors for every slot.
    let (_, hard) =
        nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE).unwrap();
    nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE, hard, hard).unwrap();
    let sock = r.run_dir().join("netvrrp.sock");
    let mut held = Vec::new();
    for _ in 0..1200 {
        match std::os::unix::net::UnixStream::connect(&sock) {
            Ok(s) => held.push(s),
            Err(_) => break,
        }
    }
    // Let the runtime admit them all.
    std::thread::sleep(Duration::from_millis(500));
    let out = r.netvrrp(&["apply", "-f", &lab.file(1)]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("too many control connections"),
        "{}",
        text(&out)
    );
    drop(held);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        fs::read_to_string(r.run_dir().join("netvrrp.pid")).unwrap(),
        pid,
        "a second runtime replaced the first"
    );
    let dev = format!("vrrp4-{}-{VRID}", r.ifindex("eth0"));
    let link = r.ip_json(&["-d", "link", "show", "dev", &dev]);
    assert_ne!(link[0]["protodown"], Value::Bool(true), "{link}");
    assert_eq!(lab.state(1), "master");
    let procs = Command::new("pgrep")
        .args(["-f", &format!("run-dir {} run", r.run_dir().display())])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&procs.stdout).lines().count(),
        1,
        "runtimes: {}",
        text(&procs)
    );
}

/// SIGHUP goes through the same transaction as apply: a priority edit is taken in place.
#[test]
fn sighup_reloads_the_file_in_place() {
    let lab = Pair::new("dcl-hup");
    lab.start(200, 100);
    let t1 = lab.counter(1, "transitions");
    lab.write(1, 170, INTERVAL_MS, &["10.7.0.1"]);
    let pid = fs::read_to_string(lab.r(1).run_dir().join("netvrrp.pid")).unwrap();
    let out = Command::new("kill")
        .args(["-HUP", pid.trim()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    wait_until(
        Duration::from_secs(5),
        || format!("priority not reloaded: {}", lab.show(1)),
        || (lab.show(1)["priority"] == 170).then_some(()),
    );
    assert_eq!(lab.counter(1, "transitions"), t1);
    assert_eq!(lab.counter(1, "priority_zero_sent"), 0);
    let out = lab
        .r(1)
        .netvrrp(&["diff", "--exit-code", "-f", &lab.file(1)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

/// 250 routers on one parent (1 s adverts), VRID v with VIP 10.8.0.v, priority `priority(v)`,
/// VRRPv2 for the VRIDs in `v2`.
fn many_routers(priority: impl Fn(u8) -> u8, v2: &[u8]) -> String {
    let mut s = String::from("[runtime]\nrealtime-priority = 20\n");
    for v in 1..=250u8 {
        let version = if v2.contains(&v) { 2 } else { 3 };
        s += &format!(
            "\n[[vrrp]]\ninterface = \"eth0\"\nvrid = {v}\nversion = {version}\npriority = {}\nadvertisement-interval = 1000\nipv4 = [\"10.8.0.{v}/24\"]\n",
            priority(v)
        );
    }
    s
}

/// Each router's (action, attributes) in an `apply --json` report, by VRID.
fn actions(out: &Output) -> std::collections::BTreeMap<u64, (String, Vec<String>)> {
    out.0["runtime"]["routers"]
        .as_array()
        .expect("runtime routers")
        .iter()
        .map(|r| {
            let action = r["action"].as_str().unwrap_or("").to_string();
            (r["vrid"].as_u64().unwrap_or(0), (action, attributes(r)))
        })
        .collect()
}

/// Every router's row of `show vrrp --json`, by VRID.
fn rows(r: &Netns) -> std::collections::BTreeMap<u64, Value> {
    let out = r.netvrrp(&["show", "vrrp", "--json"]);
    assert!(out.status.success(), "show: {}", text(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["routers"]
        .as_array()
        .expect("routers")
        .iter()
        .map(|row| (row["vrid"].as_u64().unwrap_or(0), row.clone()))
        .collect()
}

/// A reload of 250 routers, whose per-instance work the loop spreads over turns: every
/// router gets the action `diff` would show, the kept and reconfigured ones without a
/// transition. First with one identity change (VRID 250 to VRRPv2: the list is rebuilt),
/// then priorities only (the list is kept as it is).
#[test]
fn a_reload_of_many_routers_gives_each_its_own_action() {
    let lab = Pair::new("dcl-many");
    let r = lab.r(1);
    fs::write(lab.file(1), many_routers(|_| 200, &[])).unwrap();
    lab.apply(1);
    let all_master = || {
        let rows = rows(r);
        (rows.len() == 250 && rows.values().all(|v| v["state"] == "master")).then_some(rows)
    };
    let before = wait_until(
        Duration::from_secs(20),
        || "not every router became Master".into(),
        all_master,
    );
    let transitions = |row: &Value| row["counters"]["transitions"].as_u64().unwrap_or(0);

    // Even VRIDs to priority 150, VRID 250 to VRRPv2.
    fs::write(
        lab.file(1),
        many_routers(|v| if v % 2 == 0 { 150 } else { 200 }, &[250]),
    )
    .unwrap();
    let got = actions(&lab.apply(1));
    assert_eq!(got.len(), 250, "{got:?}");
    for (v, (action, attrs)) in &got {
        let want = match v {
            250 => "restart",
            v if v % 2 == 0 => "reconfigure",
            _ => "keep",
        };
        assert_eq!(action, want, "VRID {v}: {attrs:?}");
        if want == "reconfigure" {
            assert_eq!(attrs, &["priority".to_string()], "VRID {v}");
        }
    }
    let after = wait_until(
        Duration::from_secs(20),
        || "not every router Master again".into(),
        all_master,
    );
    for (v, row) in &after {
        let want = if v % 2 == 0 { 150 } else { 200 };
        assert_eq!(row["priority"], want, "VRID {v}");
        if *v != 250 {
            assert_eq!(transitions(row), transitions(&before[v]), "VRID {v}: {row}");
        }
    }
    assert_eq!(after[&250]["version"], 2);

    // Priorities back, versions as they are: the list stays.
    fs::write(lab.file(1), many_routers(|_| 200, &[250])).unwrap();
    let got = actions(&lab.apply(1));
    for (v, (action, _)) in &got {
        let want = if v % 2 == 0 { "reconfigure" } else { "keep" };
        assert_eq!(action, want, "VRID {v}");
    }
    let last = rows(r);
    for (v, row) in &last {
        assert_eq!(row["priority"], 200, "VRID {v}");
        assert_eq!(row["state"], "master", "VRID {v}");
        assert_eq!(transitions(row), transitions(&after[v]), "VRID {v}: {row}");
    }
    // For the record: how many loop turns each reload took.
    let log = fs::read_to_string(r.run_dir().join("netvrrp.log")).unwrap_or_default();
    for line in log.lines().filter(|l| l.contains("reloaded")) {
        eprintln!("[measure] {line}");
    }
}
