//! Health tracking end to end (issue 17): two runtimes in two namespaces joined by a veth,
//! r1 priority 200 tracking one object with `decrement = 150`, r2 priority 100. For each
//! kind, r2 takes over when the object goes down and r1 takes mastership back (preempt)
//! when it recovers. Needs root and iproute2; every namespace and process is removed when
//! a test ends, also on failure.

mod common;

use common::{Netns, wait_until};
use serde_json::Value;
use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const VRID: u8 = 10;
/// Fast adverts: a handover takes about 3 × 100 ms.
const INTERVAL_MS: u32 = 100;
const LIMIT: Duration = Duration::from_secs(6);

struct Pair {
    r1: Netns,
    r2: Netns,
    net: u8,
}

impl Pair {
    /// Two namespaces with `eth0` joined by a veth, 10.NET.0.1 and 10.NET.0.2.
    fn new(tag: &str, net: u8) -> Pair {
        let r1 = Netns::new(&format!("{tag}-1"));
        let r2 = Netns::new(&format!("{tag}-2"));
        r1.veth_to("eth0", &r2, "eth0");
        r1.ip_ok(&["addr", "add", &format!("10.{net}.0.1/24"), "dev", "eth0"]);
        r2.ip_ok(&["addr", "add", &format!("10.{net}.0.2/24"), "dev", "eth0"]);
        Pair { r1, r2, net }
    }

    fn ns(&self, k: usize) -> &Netns {
        if k == 1 { &self.r1 } else { &self.r2 }
    }

    /// `apply` on router K: `tracks` (`[[track]]` tables) and one router with `priority`
    /// and `extra` lines.
    fn apply(&self, k: usize, priority: u8, tracks: &str, extra: &str) {
        let ns = self.ns(k);
        let text = format!(
            "[defaults]\nadvertisement-interval = {INTERVAL_MS}\n\n{tracks}\n[[vrrp]]\ninterface = \"eth0\"\nvrid = {VRID}\npriority = {priority}\nipv4 = [\"10.{}.0.200/24\"]\n{extra}\n",
            self.net
        );
        let path = ns.dir().join(format!("r{k}.toml"));
        fs::write(&path, text).expect("write config");
        let out = ns.netvrrp(&["-v", "apply", "-f", &path.to_string_lossy()]);
        assert!(
            out.status.success(),
            "apply on r{k}: {}",
            common::text(&out)
        );
    }

    /// r1 with `tracks` and `entry` in its track list, r2 plain; r2 is started first when
    /// `r2_first` (so r1's start-up state decides).
    fn start(&self, tracks: &str, entry: &str, r2_first: bool) {
        let r1 = || self.apply(1, 200, tracks, &format!("track = [{entry}]"));
        let r2 = || self.apply(2, 100, "", "");
        if r2_first {
            r2();
            self.wait(&[(2, "master")]);
            r1();
        } else {
            r1();
            self.wait(&[(1, "master")]);
            r2();
        }
    }

    fn wait(&self, want: &[(usize, &str)]) {
        wait_until(
            LIMIT,
            || {
                let mut s = format!("states {want:?}; now:");
                for &(k, _) in want {
                    s += &format!(
                        "\n r{k}: {:?}\n track: {:?}",
                        row(self.ns(k)),
                        show_track(self.ns(k))
                    );
                }
                s
            },
            || {
                want.iter()
                    .all(|&(k, st)| row(self.ns(k)).is_some_and(|r| r["state"] == st))
                    .then_some(())
            },
        );
    }

    /// r1 Master and r2 Backup, r1 at its full priority.
    fn r1_master(&self) {
        self.wait(&[(1, "master"), (2, "backup")]);
        let r = row(&self.r1).expect("r1 row");
        assert_eq!(r["effective_priority"], 200, "{r}");
    }

    /// r2 Master, r1 Backup at 200 - 150.
    fn r2_master(&self) {
        self.wait(&[(1, "backup"), (2, "master")]);
        let r = row(&self.r1).expect("r1 row");
        assert_eq!(r["effective_priority"], 50, "{r}");
        assert_eq!(r["track"][0]["state"], "down", "{r}");
        assert_eq!(r["track"][0]["contribution"], -150, "{r}");
    }
}

/// The IPv4 row of VRID 10 in `show vrrp --json`.
fn row(ns: &Netns) -> Option<Value> {
    let out = ns.netvrrp(&["show", "vrrp", "--json"]);
    if !out.status.success() {
        return None;
    }
    let v: Value = serde_json::from_slice(&out.stdout).ok()?;
    v["routers"]
        .as_array()?
        .iter()
        .find(|r| r["vrid"] == u64::from(VRID) && r["family"] == "ipv4")
        .cloned()
}

/// `show track NAME --json`: the object's row.
fn show_track(ns: &Netns) -> Option<Value> {
    let out = ns.netvrrp(&["show", "track", "--json"]);
    if !out.status.success() {
        return None;
    }
    let v: Value = serde_json::from_slice(&out.stdout).ok()?;
    v["tracks"].as_array()?.first().cloned()
}

fn track_field(ns: &Netns, field: &str) -> String {
    show_track(ns).map_or_else(String::new, |r| match &r[field] {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    })
}

fn exec_object(command: &[&str], extra: &str) -> String {
    let argv: Vec<String> = command.iter().map(|a| format!("{a:?}")).collect();
    format!(
        "[[track]]\nname = \"t\"\nkind = \"exec\"\ncommand = [{}]\ninterval-ms = 100\ntimeout-ms = 1000\n{extra}\n",
        argv.join(", ")
    )
}

const ENTRY: &str = "{ object = \"t\", decrement = 150 }";

#[test]
fn exec_check_failing_hands_over_and_back() {
    let p = Pair::new("nvtk-exec", 41);
    let flag = p.r1.dir().join("healthy");
    fs::write(&flag, "").unwrap();
    let flag_s = flag.to_string_lossy().into_owned();
    p.start(
        &exec_object(&["/usr/bin/test", "-e", &flag_s], ""),
        ENTRY,
        false,
    );
    p.r1_master();
    assert_eq!(track_field(&p.r1, "state"), "up");
    // Subscribers are told about the object's changes: one without names, one by the
    // object's name.
    let streams: Vec<std::path::PathBuf> = [&[][..], &["t"][..]]
        .into_iter()
        .enumerate()
        .map(|(i, names)| {
            let events = p.r1.dir().join(format!("events{i}.jsonl"));
            let mut sub = p.r1.netvrrp_command(&[&["subscribe"][..], names].concat());
            sub.stdout(fs::File::create(&events).unwrap());
            p.r1.spawn(sub);
            events
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));

    fs::remove_file(&flag).unwrap();
    p.r2_master();
    for events in &streams {
        wait_until(
            LIMIT,
            || format!("no track event in {:?}", fs::read_to_string(events)),
            || {
                let text = fs::read_to_string(events).ok()?;
                text.lines()
                    .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                    .any(|e| e["event"] == "track" && e["name"] == "t" && e["state"] == "down")
                    .then_some(())
            },
        );
    }
    let t = show_track(&p.r1).expect("show track");
    assert_eq!(t["state"], "down", "{t}");
    assert_eq!(t["exit_status"], "exit status 1", "{t}");
    assert_eq!(t["kind"], "exec", "{t}");

    fs::write(&flag, "").unwrap();
    p.r1_master();
    // One line per change in the text form too.
    let out = p.r1.netvrrp(&["show", "track", "t"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Track object     t (exec)"), "{text}");
    assert!(text.contains("State            UP"), "{text}");
    let out = p.r1.netvrrp(&["show", "track", "nope"]);
    assert!(!out.status.success(), "an unknown name is an error");
    // A failing check is logged when it changes state, not at every run.
    let log = runtime_log(&p.r1);
    assert_eq!(log.matches("track object t is down").count(), 1, "{log}");
    // Up at start (initial state down, first run passes) and up again.
    assert_eq!(log.matches("track object t is up").count(), 2, "{log}");
}

/// The log of the runtime `apply` started.
fn runtime_log(ns: &Netns) -> String {
    fs::read_to_string(ns.run_dir().join("netvrrp.log")).unwrap_or_default()
}

#[test]
fn exec_program_missing_is_down_from_the_start() {
    let p = Pair::new("nvtk-miss", 42);
    // initial = "up": the failed start, not the initial state, makes it down.
    p.start(
        &exec_object(&["/nonexistent/netvrrp-check"], "initial = \"up\""),
        ENTRY,
        true,
    );
    wait_until(
        LIMIT,
        || format!("{:?}", show_track(&p.r1)),
        || (track_field(&p.r1, "state") == "down").then_some(()),
    );
    p.r2_master();
    let t = show_track(&p.r1).expect("show track");
    assert!(
        t["exit_status"]
            .as_str()
            .is_some_and(|s| s.starts_with("cannot execute")),
        "{t}"
    );
    // It stays down: never Master.
    std::thread::sleep(Duration::from_millis(500));
    p.r2_master();
    // The mistake is logged once, not at every run (10 a second here), whatever the initial
    // state (with the default, down, no state change would say it).
    let log = runtime_log(&p.r1);
    assert_eq!(
        log.matches("track object t: its check cannot run: cannot execute")
            .count(),
        1,
        "{log}"
    );
}

/// `kill -9 PID`, which must succeed.
fn kill9(pid: &str) {
    let ok = Command::new("kill").args(["-9", pid]).status();
    assert!(ok.is_ok_and(|s| s.success()), "kill -9 {pid}");
}

/// Processes whose command line contains `token`.
fn running(token: &str) -> usize {
    fs::read_dir("/proc")
        .map(|d| {
            d.filter_map(|e| fs::read(e.ok()?.path().join("cmdline")).ok())
                .filter(|c| String::from_utf8_lossy(c).contains(token))
                .count()
        })
        .unwrap_or(0)
}

#[test]
fn exec_check_hanging_past_its_timeout_is_down_and_leaves_nothing() {
    let p = Pair::new("nvtk-hang", 43);
    let token = format!("7{}.5", std::process::id());
    let script = format!("setsid /bin/sleep {token} & exec /bin/sleep {token}");
    let object = format!(
        "[[track]]\nname = \"t\"\nkind = \"exec\"\ncommand = [\"/bin/sh\", \"-c\", {script:?}]\ninterval-ms = 2000\ntimeout-ms = 200\ninitial = \"up\"\n"
    );
    p.start(&object, ENTRY, true);
    wait_until(
        LIMIT,
        || format!("{:?}", show_track(&p.r1)),
        || (track_field(&p.r1, "exit_status") == "timed out after 200 ms").then_some(()),
    );
    p.r2_master();
    // Between two runs (2 s apart, each killed after 200 ms) nothing of the check is left,
    // not even the child that left the session.
    wait_until(
        LIMIT,
        || format!("{} processes with {token} remain", running(&token)),
        || (running(&token) == 0).then_some(()),
    );
    // A runtime killed mid-run leaves nothing either (the check dies with it).
    wait_until(
        LIMIT,
        || "a check running".into(),
        || (running(&token) > 0).then_some(()),
    );
    let pid = fs::read_to_string(p.r1.run_dir().join("netvrrp.pid")).expect("pid file");
    // With its supervisor: a restarted runtime would start the check again.
    common::kill9_runtime(pid.trim().parse().expect("pid"));
    wait_until(
        LIMIT,
        || {
            format!(
                "{} processes with {token} outlived the runtime",
                running(&token)
            )
        },
        || (running(&token) == 0).then_some(()),
    );
}

#[test]
fn tracked_process_killed_hands_over_and_back() {
    let p = Pair::new("nvtk-proc", 44);
    // A copy of sleep under a name nobody else uses: its comm is that name.
    let name = format!("nvtk{}", std::process::id() % 100_000);
    let bin = p.r1.dir().join(&name);
    fs::copy("/bin/sleep", &bin).unwrap();
    let start = || {
        let mut c = Command::new(&bin);
        c.arg("600");
        p.r1.spawn(c)
    };
    let pid = start();
    let object = format!("[[track]]\nname = \"t\"\nkind = \"process\"\nprocess = \"{name}\"\n");
    p.start(&object, ENTRY, false);
    p.r1_master();

    let killed = common::unix_now();
    kill9(&pid.to_string());
    p.r2_master();
    // The pidfd says so at once: no poll interval in between.
    let since = show_track(&p.r1)
        .and_then(|t| t["since"].as_f64())
        .unwrap_or(0.0);
    assert!(
        since - killed < 0.5,
        "down {:.3} s after the kill",
        since - killed
    );
    assert!(
        track_field(&p.r1, "last_result").contains("no process"),
        "{:?}",
        show_track(&p.r1)
    );

    start();
    p.r1_master();
    // Event-driven, not a /proc poll: the connector worked although the runtime runs in
    // a network namespace.
    let log = runtime_log(&p.r1);
    assert!(
        !log.contains("cannot use the process events connector"),
        "{log}"
    );
}

#[test]
fn tracked_file_changed_hands_over_and_back() {
    let p = Pair::new("nvtk-file", 45);
    let file = p.r1.dir().join("weight");
    fs::write(&file, "0\n").unwrap();
    let object = format!(
        "[[track]]\nname = \"t\"\nkind = \"file\"\nfile = {:?}\nup-when = \"zero\"\n",
        file.to_string_lossy()
    );
    p.start(&object, ENTRY, false);
    p.r1_master();
    fs::write(&file, "1\n").unwrap();
    p.r2_master();
    assert_eq!(track_field(&p.r1, "last_result"), "file holds 1");
    write_atomically(&file, "0\n");
    p.r1_master();
}

/// Replace a file by rename, as configuration tools do.
fn write_atomically(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    fs::write(&tmp, text).unwrap();
    fs::rename(&tmp, path).unwrap();
}

#[test]
fn tracked_route_deleted_hands_over_and_back() {
    let p = Pair::new("nvtk-route", 46);
    p.r1.ip_ok(&["route", "add", "192.0.2.0/24", "via", "10.46.0.2"]);
    let object = "[[track]]\nname = \"t\"\nkind = \"route\"\nroute = \"192.0.2.0/24\"\n";
    p.start(object, ENTRY, false);
    p.r1_master();
    p.r1.ip_ok(&["route", "del", "192.0.2.0/24"]);
    p.r2_master();
    p.r1.ip_ok(&["route", "add", "192.0.2.0/24", "via", "10.46.0.2"]);
    p.r1_master();
}

#[test]
fn fault_puts_the_router_in_initialize_with_protodown() {
    let p = Pair::new("nvtk-fault", 47);
    let file = p.r1.dir().join("up");
    fs::write(&file, "").unwrap();
    let object = format!(
        "[[track]]\nname = \"t\"\nkind = \"file\"\nfile = {:?}\n",
        file.to_string_lossy()
    );
    p.start(&object, "{ object = \"t\", fault = true }", false);
    p.r1_master();
    fs::remove_file(&file).unwrap();
    p.wait(&[(1, "initialize"), (2, "master")]);
    let r = row(&p.r1).expect("r1 row");
    assert_eq!(r["protodown"], true, "{r}");
    assert_eq!(r["faulted"], true, "{r}");
    let dev = r["device"].as_str().expect("device").to_string();
    let link = p.r1.ip_json(&["-d", "link", "show", "dev", &dev]);
    assert_eq!(link[0]["proto_down"], true, "{link}");
    // r2 took over at once: r1 said goodbye with priority 0.
    fs::write(&file, "").unwrap();
    p.r1_master();
    let r = row(&p.r1).expect("r1 row");
    assert_eq!(r["protodown"], false, "{r}");
}

#[test]
fn reload_retargets_an_object_without_restarting_the_router() {
    let p = Pair::new("nvtk-reload", 48);
    let here = p.r1.dir().join("here");
    fs::write(&here, "").unwrap();
    let object = |path: &Path| {
        format!(
            "[[track]]\nname = \"t\"\nkind = \"file\"\nfile = {:?}\n",
            path.to_string_lossy()
        )
    };
    p.start(&object(&here), ENTRY, false);
    p.r1_master();
    let before = row(&p.r1).expect("r1 row")["counters"]["transitions"].clone();
    // Same router, the object now follows a file that does not exist.
    p.apply(
        1,
        200,
        &object(&p.r1.dir().join("gone")),
        &format!("track = [{ENTRY}]"),
    );
    p.r2_master();
    let r = row(&p.r1).expect("r1 row");
    let after = r["counters"]["transitions"].as_u64().unwrap_or(0);
    assert_eq!(
        after,
        before.as_u64().unwrap_or(0) + 1,
        "kept (one more transition, Master to Backup), not restarted: {r}"
    );
    assert_eq!(track_field(&p.r1, "last_result"), "file missing");
    // And back.
    p.apply(1, 200, &object(&here), &format!("track = [{ENTRY}]"));
    p.r1_master();
}

/// How many runs a shared check logged so far (one line per run).
fn check_runs(log: &Path) -> usize {
    fs::read_to_string(log).map_or(0, |t| t.lines().count())
}

/// `show vrrp --json`: (router number in the file, effective priority) of every row, for
/// routers numbered by parent `ethD` and VRID V as 250 D + V - 1.
fn priorities(ns: &Netns) -> Option<Vec<(usize, u64)>> {
    let out = ns.netvrrp(&["show", "vrrp", "--json"]);
    let v: Value = serde_json::from_slice(&out.stdout).ok()?;
    v["routers"]
        .as_array()?
        .iter()
        .map(|r| {
            let dev: usize = r["interface"].as_str()?.strip_prefix("eth")?.parse().ok()?;
            let vrid = usize::try_from(r["vrid"].as_u64()?).ok()?;
            Some((250 * dev + vrid - 1, r["effective_priority"].as_u64()?))
        })
        .collect()
}

/// 1,000 routers (VRIDs 1–250 on four parents) share 10 exec checks at 100 ms: each check
/// runs as one process per interval for all of its 100 routers (not once per router, which
/// would be 100 runs per interval), and one failing check lowers exactly its 100 routers.
/// How the adverts keep time meanwhile is a benchmark (bench/shared_checks.sh), not a test:
/// on a loaded machine the gaps measure the machine.
#[test]
fn thousand_routers_share_ten_checks_one_process_per_check_and_interval() {
    const CHECKS: usize = 10;
    const INTERVAL_MS: u64 = 100;
    let p = Pair::new("nvtk-many", 49);
    for k in 1..4 {
        p.r1.veth_to(&format!("eth{k}"), &p.r2, &format!("eth{k}"));
        let address = format!("10.{}.0.254/16", 100 + k);
        p.r1.ip_ok(&["addr", "add", &address, "dev", &format!("eth{k}")]);
    }
    let mut text = String::from("[defaults]\nadvertisement-interval = 1000\n\n");
    for c in 0..CHECKS {
        let flag = p.r1.dir().join(format!("ok{c}"));
        fs::write(&flag, "").unwrap();
        // Each run logs its start and succeeds while its flag exists.
        let script = format!(
            "echo run >> {log}; test -e {flag}",
            log = p.r1.dir().join(format!("c{c}.log")).display(),
            flag = flag.display()
        );
        text += &format!(
            "[[track]]\nname = \"c{c}\"\nkind = \"exec\"\ncommand = [\"/bin/sh\", \"-c\", {script:?}]\ninterval-ms = {INTERVAL_MS}\ntimeout-ms = 1000\ninitial = \"up\"\n\n"
        );
    }
    for n in 0..1000usize {
        let (dev, vrid) = (n / 250, n % 250 + 1);
        text += &format!(
            "[[vrrp]]\ninterface = \"eth{dev}\"\nvrid = {vrid}\npriority = 200\nipv4 = [\"10.{}.{}.{}/32\"]\ntrack = [{{ object = \"c{}\", decrement = 10 }}]\n",
            100 + dev,
            vrid / 250,
            vrid % 250 + 1,
            n % CHECKS
        );
    }
    let path = p.r1.dir().join("many.toml");
    fs::write(&path, text).unwrap();
    let out = p.r1.netvrrp(&["apply", "-f", &path.to_string_lossy()]);
    assert!(out.status.success(), "{}", common::text(&out));
    let all_at = |want: &dyn Fn(usize) -> u64| {
        wait_until(
            Duration::from_secs(60),
            || {
                format!(
                    "1,000 rows with the expected priorities: {:?}",
                    priorities(&p.r1).map(|v| v.len())
                )
            },
            || {
                let rows = priorities(&p.r1)?;
                (rows.len() == 1000 && rows.iter().all(|&(n, prio)| prio == want(n))).then_some(())
            },
        )
    };
    all_at(&|_| 200);
    // Every check runs as one process per interval, not one per router (100 per interval).
    // Counted on the test's clock: runs logged in a window of W ms started in it, but for
    // the first, and start an interval apart, so at most W / interval + 2 of them; the
    // bound allows half as many again (a late tick is followed by an early one) and still
    // catches a check run twice per interval.
    let logs: Vec<_> = (0..CHECKS)
        .map(|c| p.r1.dir().join(format!("c{c}.log")))
        .collect();
    let counts = || -> Vec<usize> { logs.iter().map(|l| check_runs(l)).collect() };
    let at_least = |n: &[usize], more: usize| {
        wait_until(
            Duration::from_secs(60),
            || format!("{more} more runs of every check than {n:?}: {:?}", counts()),
            || {
                let now = counts();
                now.iter()
                    .zip(n)
                    .all(|(c, n0)| *c >= n0 + more)
                    .then_some(now)
            },
        )
    };
    at_least(&[0; CHECKS], 5);
    let t0 = std::time::Instant::now();
    let n0 = counts();
    let n1 = at_least(&n0, 40);
    let window_ms = u64::try_from(t0.elapsed().as_millis()).unwrap_or(u64::MAX);
    let most = 3 * window_ms / (2 * INTERVAL_MS) + 3;
    for (c, (a, b)) in n0.iter().zip(&n1).enumerate() {
        let runs = (b - a) as u64;
        assert!(
            runs <= most,
            "c{c}: {runs} runs in {window_ms} ms: more than one process per interval"
        );
    }
    // One check fails: exactly its 100 routers (every tenth in the file) drop to 190.
    fs::remove_file(p.r1.dir().join("ok3")).unwrap();
    all_at(&|i| if i % CHECKS == 3 { 190 } else { 200 });
    let out = p.r1.netvrrp(&["show", "track", "c3", "--json"]);
    let t: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    assert_eq!(t["tracks"][0]["state"], "down", "{t}");
    fs::write(p.r1.dir().join("ok3"), "").unwrap();
    all_at(&|_| 200);
}

#[test]
fn tracked_pidfile_process_killed_hands_over_and_back() {
    let p = Pair::new("nvtk-pidf", 50);
    let pidfile = p.r1.dir().join("daemon.pid");
    let start = || {
        let mut c = Command::new("/bin/sleep");
        c.arg("600");
        let pid = p.r1.spawn(c);
        // Written by rename, as daemons do.
        write_atomically(&pidfile, &format!("{pid}\n"));
        pid
    };
    let pid = start();
    let object = format!(
        "[[track]]\nname = \"t\"\nkind = \"process\"\npidfile = {:?}\n",
        pidfile.to_string_lossy()
    );
    p.start(&object, ENTRY, false);
    p.r1_master();
    assert_eq!(
        track_field(&p.r1, "last_result"),
        format!("pid {pid} running")
    );
    kill9(&pid.to_string());
    p.r2_master();
    assert_eq!(
        track_field(&p.r1, "last_result"),
        format!("pid {pid} exited")
    );
    // A restart writes a new pid: up again.
    start();
    p.r1_master();
}

/// Descriptors the runtime holds at its quietest among `samples` looks (a run in progress
/// holds two pipe ends for a moment; between runs it holds neither).
fn quiet_fds(pid: &str, samples: usize) -> usize {
    (0..samples)
        .filter_map(|_| {
            fs::read_dir(format!("/proc/{pid}/fd"))
                .ok()
                .map(|d| d.count())
        })
        .min()
        .expect("the runtime's /proc/PID/fd")
}

/// 1,000 runs of an exec check that writes output and leaves a setsid() descendant holding
/// its output pipe: the runtime's descriptor count at its quietest is the same after as
/// before, give or take the one run in progress (no pipe end, status pipe or reader task
/// left per run).
#[test]
fn thousand_exec_runs_leave_the_runtime_fds_flat() {
    let ns = Netns::new("nvtkfd");
    ns.veth("veth0", "veth1");
    ns.ip_ok(&["addr", "add", "192.0.2.2/24", "dev", "veth0"]);
    let runs = ns.dir().join("runs");
    let token = format!("30.{}", std::process::id());
    let script = format!(
        "echo run >> '{}'; echo to-stderr >&2; setsid /bin/sleep {token} & exit 0",
        runs.display()
    );
    let cfg = ns.dir().join("vrrp.toml");
    fs::write(
        &cfg,
        format!(
            "[[track]]\nname = \"t\"\nkind = \"exec\"\ncommand = [\"/bin/sh\", \"-c\", {script:?}]\n\
             interval-ms = 10\ntimeout-ms = 1000\n\
             [[vrrp]]\ninterface = \"veth0\"\nvrid = 3\nipv4 = [\"192.0.2.3/24\"]\n\
             track = [{{ object = \"t\", decrement = 10 }}]\n"
        ),
    )
    .unwrap();
    let out = ns.netvrrp(&["apply", "-f", &cfg.to_string_lossy()]);
    assert!(out.status.success(), "{}", common::text(&out));
    let pid = fs::read_to_string(ns.run_dir().join("netvrrp.pid")).unwrap();
    let pid = pid.trim().to_string();
    let count = || {
        fs::read_to_string(&runs)
            .map(|t| t.lines().count())
            .unwrap_or(0)
    };
    wait_until(
        Duration::from_secs(30),
        || "20 runs".into(),
        || (count() >= 20).then_some(()),
    );
    let before = quiet_fds(&pid, 200);
    wait_until(
        Duration::from_secs(300),
        || format!("1,000 runs ({} so far)", count()),
        || (count() >= 1020).then_some(()),
    );
    let after = quiet_fds(&pid, 200);
    // Runs start every 10 ms: on a busy machine every sample may fall inside one, which
    // holds two descriptors (its output pipe and status pipe); a leak per run would show as
    // hundreds.
    assert!(
        after <= before + 2,
        "{after} descriptors after 1,000 runs, {before} before"
    );
    // Every descendant was killed with its run. A run starts every 10 ms, so one scan can
    // see the sleeper of the run in progress and, on a busy machine, the one of the run just
    // killed but not yet gone; a leaked sleeper lives 30 s and is in every scan. The fewest
    // of 20 scans 10 ms apart.
    let sleepers = (0..20)
        .map(|_| {
            std::thread::sleep(Duration::from_millis(10));
            fs::read_dir("/proc")
                .unwrap()
                .filter_map(|e| fs::read(e.ok()?.path().join("cmdline")).ok())
                .filter(|c| String::from_utf8_lossy(c).contains(&token))
                .count()
        })
        .min()
        .unwrap_or(0);
    assert!(
        sleepers <= 1,
        "{sleepers} descendants outlived their run (the fewest of 20 scans)"
    );
}
