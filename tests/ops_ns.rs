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

#[test]
fn notify_socket_and_metrics_endpoint() {
    let ns = one_link_ns("nvops");
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
    assert!(
        get(&format!(
            "netvrrp_vrrp_events_total{{{labels},counter=\"adverts_sent\"}}"
        ))
        .unwrap_or(0.0)
            >= 1.0
    );
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
