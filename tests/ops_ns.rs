//! Operator integration in a namespace: systemd notifications (READY, RELOADING, STOPPING) on
//! a fake NOTIFY_SOCKET, and the Prometheus endpoint scraped and parsed.

mod common;

use common::Netns;
use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

fn recv_until(sock: &UnixDatagram, want: &str, seen: &mut Vec<String>) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        if let Ok(n) = sock.recv(&mut buf) {
            let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
            seen.push(msg.clone());
            if msg.lines().any(|l| l == want) {
                return;
            }
        }
    }
    panic!("no {want} from the runtime; got {seen:?}");
}

/// Parse OpenMetrics text into (name{labels}, value) pairs, checking every sample line.
fn samples(text: &str) -> Vec<(String, f64)> {
    let mut out = Vec::new();
    for line in text.lines() {
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let (key, value) = line.rsplit_once(' ').expect("sample line has a value");
        let value: f64 = value.parse().expect("sample value is a number");
        assert!(
            key.chars().next().is_some_and(|c| c.is_ascii_alphabetic()),
            "bad metric name in {line:?}"
        );
        out.push((key.to_string(), value));
    }
    out
}

#[test]
fn notify_socket_and_metrics_endpoint() {
    let ns = Netns::new("nvops");
    ns.ok(&[
        "ip", "link", "add", "veth0", "type", "veth", "peer", "name", "veth1",
    ]);
    ns.ok(&["ip", "link", "set", "veth0", "up"]);
    ns.ok(&["ip", "link", "set", "veth1", "up"]);
    ns.ok(&["ip", "addr", "add", "192.0.2.2/24", "dev", "veth0"]);
    let cfg = ns.dir().join("vrrp.toml");
    std::fs::write(
        &cfg,
        r#"
[runtime]
metrics-listen = "127.0.0.1:9712"

[defaults]
advertisement-interval = 100

[[vrrp]]
interface = "veth0"
vrid = 7
priority = 200
ipv4 = ["192.0.2.7/24"]
vrrs-leader = ["edge"]
"#,
    )
    .unwrap();
    let notify_path = ns.dir().join("notify.sock");
    let notify = UnixDatagram::bind(&notify_path).unwrap();
    notify
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let cfg_s = cfg.to_string_lossy().into_owned();
    let mut cmd = ns.netvrrp_command(&["run", "-f", &cfg_s]);
    cmd.env("NOTIFY_SOCKET", &notify_path);
    let pid = ns.spawn(cmd);
    let mut seen = Vec::new();
    recv_until(&notify, "READY=1", &mut seen);

    // Alone on its link, the router becomes Master after Master_Down_Interval.
    let deadline = Instant::now() + Duration::from_secs(5);
    let text = loop {
        let text = ns.block_on(|| async {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let mut s = tokio::net::TcpStream::connect("127.0.0.1:9712")
                .await
                .unwrap();
            s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
                .await
                .unwrap();
            let mut out = String::new();
            s.read_to_string(&mut out).await.unwrap();
            out
        });
        if text.contains(r#"state="master"} 1"#) || Instant::now() > deadline {
            break text;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let (head, body) = text.split_once("\r\n\r\n").expect("HTTP reply");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains("openmetrics-text"), "{head}");
    let s = samples(body);
    let get = |k: &str| s.iter().find(|(n, _)| n == k).map(|(_, v)| *v);
    let labels = r#"interface="veth0",vrid="7",family="ipv4""#;
    assert_eq!(
        get(&format!("netvrrp_vrrp_state{{{labels},state=\"master\"}}")),
        Some(1.0),
        "{body}"
    );
    assert_eq!(
        get(&format!("netvrrp_vrrp_state{{{labels},state=\"backup\"}}")),
        Some(0.0)
    );
    assert_eq!(
        get(&format!("netvrrp_vrrp_priority{{{labels}}}")),
        Some(200.0)
    );
    assert!(get(&format!("netvrrp_vrrp_adverts_sent_total{{{labels}}}")).unwrap_or(0.0) >= 1.0);
    assert_eq!(
        get(r#"netvrrp_vrrs_state{name="edge",state="master"}"#),
        Some(1.0),
        "{body}"
    );
    assert!(body.contains("netvrrp_runtime_info{version="), "{body}");
    assert!(body.ends_with("# EOF\n"));

    // SIGHUP: RELOADING=1 then READY=1. SIGTERM: STOPPING=1, and the process exits 0.
    let pid_s = pid.to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-HUP", &pid_s])
            .status()
            .unwrap()
            .success()
    );
    recv_until(&notify, "RELOADING=1", &mut seen);
    recv_until(&notify, "READY=1", &mut seen);
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid_s])
            .status()
            .unwrap()
            .success()
    );
    recv_until(&notify, "STOPPING=1", &mut seen);
}

/// Throwaway users and groups, deleted on drop (also when the test fails).
struct Identities {
    users: Vec<String>,
    groups: Vec<String>,
}

impl Identities {
    fn new() -> Identities {
        Identities {
            users: Vec::new(),
            groups: Vec::new(),
        }
    }

    fn group(&mut self, name: &str) {
        let out = std::process::Command::new("groupadd")
            .arg(name)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "groupadd {name}: {}",
            common::text(&out)
        );
        self.groups.push(name.to_string());
    }

    /// A user without a home, with its own primary group and `groups` as supplementary.
    fn user(&mut self, name: &str, groups: &[&str]) {
        let mut cmd = std::process::Command::new("useradd");
        cmd.args(["-M", "-U", "-s", "/usr/sbin/nologin"]);
        if !groups.is_empty() {
            cmd.args(["-G", &groups.join(",")]);
        }
        let out = cmd.arg(name).output().unwrap();
        assert!(
            out.status.success(),
            "useradd {name}: {}",
            common::text(&out)
        );
        self.users.push(name.to_string());
    }
}

impl Drop for Identities {
    fn drop(&mut self) {
        for u in &self.users {
            // -U groups go with their user.
            let _ = std::process::Command::new("userdel").arg(u).status();
        }
        for g in &self.groups {
            let _ = std::process::Command::new("groupdel").arg(g).status();
        }
    }
}

/// `netvrrp --run-dir DIR ARGS` as `user` (runuser: its uid, primary group and the
/// supplementary groups of the group database). No --netns: a path socket is reachable
/// from any network namespace, and entering one needs privileges the user lacks.
fn as_user(ns: &Netns, user: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new("runuser")
        .args(["-u", user, "--", env!("CARGO_BIN_EXE_netvrrp"), "--run-dir"])
        .arg(ns.run_dir())
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn control_socket_groups() {
    use std::os::unix::fs::PermissionsExt;
    let ns = Netns::new("nvacl");
    // Short unique names (user names are limited to 32 characters).
    let tag = format!("{}", std::process::id() % 100_000);
    let (ops, view) = (format!("nvops{tag}"), format!("nvview{tag}"));
    let (operator, viewer, stranger) = (
        format!("nvo{tag}"),
        format!("nvv{tag}"),
        format!("nvs{tag}"),
    );
    let mut ids = Identities::new();
    ids.group(&ops);
    ids.group(&view);
    ids.user(&operator, &[&ops]);
    ids.user(&viewer, &[&view]);
    ids.user(&stranger, &[]);

    ns.veth("veth0", "veth1");
    ns.ip_ok(&["addr", "add", "192.0.2.2/24", "dev", "veth0"]);
    let cfg = ns.dir().join("vrrp.toml");
    let router = r#"
[[vrrp]]
interface = "veth0"
vrid = 7
ipv4 = ["192.0.2.7/24"]
"#;
    std::fs::write(&cfg, router).unwrap();
    let cfg_s = cfg.to_string_lossy().into_owned();
    let out = ns.netvrrp(&["apply", "-f", &cfg_s]);
    assert!(out.status.success(), "{}", common::text(&out));
    let sock = ns.run_dir().join("netvrrp.sock");
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;

    // No group configured: root only, and the refusal says so.
    assert_eq!(mode(&sock), 0o600);
    let out = as_user(&ns, &operator, &["show", "vrrp"]);
    assert_eq!(out.status.code(), Some(1), "{}", common::text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("permission denied") && err.contains("control-group"),
        "{err}"
    );

    // Groups configured and reloaded: the socket opens and every peer is classified.
    std::fs::write(
        &cfg,
        format!("[runtime]\ncontrol-group = \"{ops}\"\ncontrol-read-group = \"{view}\"\n{router}"),
    )
    .unwrap();
    let out = ns.netvrrp(&["apply", "-f", &cfg_s]);
    assert!(out.status.success(), "{}", common::text(&out));
    assert_eq!(mode(&sock), 0o666);

    let out = as_user(&ns, &stranger, &["show", "vrrp"]);
    assert_eq!(out.status.code(), Some(1), "{}", common::text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("permission denied") && err.contains(&ops) && err.contains(&view),
        "{err}"
    );

    let out = as_user(&ns, &stranger, &["subscribe"]);
    assert_eq!(out.status.code(), Some(1), "{}", common::text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("permission denied"));
    // A reader's subscription streams until it is interrupted (timeout's 124).
    let out = std::process::Command::new("timeout")
        .args([
            "2",
            "runuser",
            "-u",
            &viewer,
            "--",
            env!("CARGO_BIN_EXE_netvrrp"),
            "--run-dir",
        ])
        .arg(ns.run_dir())
        .arg("subscribe")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(124), "{}", common::text(&out));

    let out = as_user(&ns, &viewer, &["show", "vrrp", "--json"]);
    assert!(out.status.success(), "{}", common::text(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["schema"], 1, "{doc}");
    assert_eq!(doc["routers"][0]["vrid"], 7, "{doc}");
    let out = as_user(&ns, &viewer, &["stop"]);
    assert_eq!(out.status.code(), Some(1), "{}", common::text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("`stop` needs") && err.contains(&format!("control-group `{ops}`")),
        "{err}"
    );
    // Still running.
    assert!(ns.netvrrp(&["show", "vrrp"]).status.success());

    // Raw reload requests from the operator: the running file again is fine; any other file
    // is refused (it would decide what the runtime runs as root).
    let reload = |file: &str| {
        let script = format!(
            "import json,socket\n\
             s=socket.socket(socket.AF_UNIX)\n\
             s.connect({sock:?})\n\
             s.sendall((json.dumps({{'cmd':'reload','file':{file:?}}})+'\\n').encode())\n\
             print(s.makefile().readline())",
            sock = sock.to_string_lossy(),
        );
        let out = std::process::Command::new("runuser")
            .args(["-u", &operator, "--", "python3", "-c", &script])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", common::text(&out));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let other = ns.dir().join("other.toml");
    std::fs::copy(&cfg, &other).unwrap();
    let r = reload(&other.to_string_lossy());
    assert_eq!(r["ok"], false, "{r}");
    assert!(
        r["error"]
            .as_str()
            .unwrap()
            .contains("running configuration"),
        "{r}"
    );
    let r = reload(&cfg_s);
    assert_eq!(r["ok"], true, "{r}");

    // --netns is accepted (and not entered: that would need privileges).
    let out = as_user(&ns, &operator, &["--netns", ns.name(), "show", "vrrp"]);
    assert!(out.status.success(), "{}", common::text(&out));
    let out = as_user(&ns, &operator, &["stop"]);
    assert!(out.status.success(), "{}", common::text(&out));
    let out = ns.netvrrp(&["show", "vrrp"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "runtime still answers after stop"
    );
}

/// A namespace with veth0 (192.0.2.2/24) up, its peer veth1 up: a link for one router.
fn one_link_ns(prefix: &str) -> Netns {
    let ns = Netns::new(prefix);
    ns.ok(&[
        "ip", "link", "add", "veth0", "type", "veth", "peer", "name", "veth1",
    ]);
    ns.ok(&["ip", "link", "set", "veth0", "up"]);
    ns.ok(&["ip", "link", "set", "veth1", "up"]);
    ns.ok(&["ip", "addr", "add", "192.0.2.2/24", "dev", "veth0"]);
    ns
}

/// Start `netvrrp run` with `[runtime]` set to `runtime_table`, wait until it answers, and
/// return what `chrt -p` says about its main thread (the event loop).
fn runtime_scheduling(runtime_table: &str) -> String {
    let ns = one_link_ns("nvrt");
    let cfg = ns.dir().join("vrrp.toml");
    std::fs::write(
        &cfg,
        format!(
            "[runtime]\n{runtime_table}\n[[vrrp]]\ninterface = \"veth0\"\nvrid = 9\n\
             priority = 200\nipv4 = [\"192.0.2.9/24\"]\n"
        ),
    )
    .unwrap();
    let cfg_s = cfg.to_string_lossy().into_owned();
    let pid = ns.spawn(ns.netvrrp_command(&["run", "-f", &cfg_s]));
    common::wait_until(
        Duration::from_secs(10),
        || "the runtime did not answer show vrrp".to_string(),
        || {
            ns.netvrrp(&["show", "vrrp", "--json"])
                .status
                .success()
                .then_some(())
        },
    );
    let out = std::process::Command::new("chrt")
        .args(["-p", &pid.to_string()])
        .output()
        .expect("run chrt");
    assert!(out.status.success(), "{}", common::text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn realtime_priority_puts_the_event_loop_under_sched_fifo() {
    // Tests run as root, so CAP_SYS_NICE is there and the policy must really be set.
    let rt = runtime_scheduling("realtime-priority = 7\n");
    assert!(
        rt.contains("policy: SCHED_FIFO|SCHED_RESET_ON_FORK"),
        "{rt}"
    );
    assert!(rt.contains("priority: 7"), "{rt}");
    let normal = runtime_scheduling("");
    assert!(normal.contains("policy: SCHED_OTHER"), "{normal}");
    assert!(!normal.contains("FIFO"), "{normal}");
}
