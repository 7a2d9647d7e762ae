//! The Prometheus endpoint of a real runtime in a namespace, scraped and parsed: the
//! families and units, stable series order across scrapes, the SHA-256 of the file, reloads
//! counted only when something changed, reload failures, and `promtool check metrics` when
//! promtool is installed (CI installs it).

mod common;

use common::{Netns, text, wait_until};
use std::collections::BTreeMap;
use std::time::Duration;

const LISTEN: &str = "127.0.0.1:10112";

fn config(priority: u8) -> String {
    format!(
        r#"
[runtime]
metrics-listen = "{LISTEN}"

[defaults]
advertisement-interval = 100

[[vrrp]]
interface = "veth0"
vrid = 7
priority = {priority}
ipv4 = ["192.0.2.7/24"]
track = [{{ interface = "veth1", decrement = 50 }}]
"#
    )
}

/// One parsed exposition: families (name → type) and samples in their order.
struct Exposition {
    types: BTreeMap<String, String>,
    units: BTreeMap<String, String>,
    samples: Vec<(String, f64)>,
}

impl Exposition {
    /// Parse OpenMetrics text, checking the syntax of every line on the way.
    fn parse(body: &str) -> Exposition {
        let mut e = Exposition {
            types: BTreeMap::new(),
            units: BTreeMap::new(),
            samples: Vec::new(),
        };
        assert!(body.ends_with("# EOF\n"), "{body}");
        for line in body.lines() {
            if line == "# EOF" {
                continue;
            }
            if let Some(rest) = line.strip_prefix("# ") {
                let mut parts = rest.splitn(3, ' ');
                let (kind, name, value) = (
                    parts.next().unwrap_or(""),
                    parts.next().unwrap_or(""),
                    parts.next().unwrap_or(""),
                );
                match kind {
                    "TYPE" => {
                        assert!(
                            e.types.insert(name.into(), value.into()).is_none(),
                            "family {name} twice"
                        );
                    }
                    "UNIT" => {
                        assert!(name.ends_with(&format!("_{value}")), "{line}");
                        e.units.insert(name.into(), value.into());
                    }
                    "HELP" => assert!(!value.is_empty(), "{line}"),
                    _ => panic!("unknown comment {line:?}"),
                }
                continue;
            }
            let (key, value) = line.rsplit_once(' ').expect("sample has a value");
            let value: f64 = value
                .parse()
                .unwrap_or_else(|_| panic!("bad value: {line}"));
            let name = key.split('{').next().unwrap_or("");
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
                "bad name: {line}"
            );
            // Every sample belongs to the family declared last (counters add `_total`).
            let family =
                e.types.keys().rev().find(|f| {
                    name == f.as_str() || name.strip_suffix("_total") == Some(f.as_str())
                });
            assert!(family.is_some(), "sample of no declared family: {line}");
            e.samples.push((key.to_string(), value));
        }
        e
    }

    fn get(&self, key: &str) -> Option<f64> {
        self.samples.iter().find(|(k, _)| k == key).map(|(_, v)| *v)
    }

    fn keys(&self) -> Vec<&str> {
        self.samples.iter().map(|(k, _)| k.as_str()).collect()
    }
}

fn scrape(ns: &Netns) -> String {
    let (head, body) = common::scrape_metrics(ns, LISTEN);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains("application/openmetrics-text"), "{head}");
    body
}

/// `promtool check metrics` on `body`; None when promtool is not installed.
fn promtool_check(body: &str) -> Option<std::process::Output> {
    use std::io::Write;
    let mut child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .ok()?;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(body.as_bytes())
        .expect("write to promtool");
    Some(child.wait_with_output().expect("promtool"))
}

fn sha256sum(path: &std::path::Path) -> String {
    let out = std::process::Command::new("sha256sum")
        .arg(path)
        .output()
        .expect("run sha256sum");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_string()
}

#[test]
fn scraped_families_reloads_and_order() {
    let ns = Netns::new("nvmet");
    ns.veth("veth0", "veth1");
    ns.ip_ok(&["addr", "add", "192.0.2.2/24", "dev", "veth0"]);
    let cfg = ns.dir().join("vrrp.toml");
    std::fs::write(&cfg, config(200)).expect("write config");
    let cfg_s = cfg.to_string_lossy().into_owned();
    let out = ns.netvrrp(&["apply", "-f", &cfg_s]);
    assert!(out.status.success(), "{}", text(&out));

    let labels = r#"interface="veth0",vrid="7",family="ipv4""#;
    let master = format!(r#"netvrrp_vrrp_state{{{labels},state="master"}}"#);
    // Alone on its link, the router becomes Master after Master_Down_Interval.
    let first = wait_until(
        Duration::from_secs(10),
        || "no Master in the metrics".into(),
        || {
            let e = Exposition::parse(&scrape(&ns));
            (e.get(&master) == Some(1.0)).then_some(e)
        },
    );
    for (family, kind) in [
        ("netvrrp_vrrp_adverts_sent", "counter"),
        ("netvrrp_vrrp_adverts_received", "counter"),
        ("netvrrp_vrrp_adverts_dropped", "counter"),
        ("netvrrp_vrrp_transitions", "counter"),
        ("netvrrp_vrrp_protodown_failures", "counter"),
        ("netvrrp_vrrp_advertisement_interval_seconds", "gauge"),
        ("netvrrp_vrrp_master_down_interval_seconds", "gauge"),
        ("netvrrp_runtime_reloads", "counter"),
        ("netvrrp_runtime_reload_failures", "counter"),
        ("netvrrp_runtime_filter_failures", "counter"),
        ("process_cpu_seconds", "counter"),
        ("process_resident_memory_bytes", "gauge"),
        ("process_open_fds", "gauge"),
        ("process_start_time_seconds", "gauge"),
    ] {
        assert_eq!(
            first.types.get(family).map(String::as_str),
            Some(kind),
            "{family}"
        );
    }
    assert_eq!(
        first
            .units
            .get("netvrrp_vrrp_master_down_interval_seconds")
            .map(String::as_str),
        Some("seconds")
    );
    assert_eq!(
        first.get(&format!(
            "netvrrp_vrrp_advertisement_interval_seconds{{{labels}}}"
        )),
        Some(0.1)
    );
    let down = first
        .get(&format!(
            "netvrrp_vrrp_master_down_interval_seconds{{{labels}}}"
        ))
        .expect("master down interval");
    // 3 × 0.1 s + skew ((256 - 200) × 0.1 / 256 s).
    assert!((down - 0.321875).abs() < 1e-9, "{down}");
    assert_eq!(
        first.get(&format!(
            r#"netvrrp_vrrp_transitions_total{{{labels},to="master"}}"#
        )),
        Some(1.0)
    );
    assert_eq!(
        first.get(&format!(
            r#"netvrrp_vrrp_adverts_dropped_total{{{labels},reason="checksum"}}"#
        )),
        Some(0.0)
    );
    assert!(
        first
            .get(&format!("netvrrp_vrrp_adverts_sent_total{{{labels}}}"))
            .unwrap_or(0.0)
            >= 1.0
    );
    let tracked =
        format!(r#"netvrrp_vrrp_tracked_interface_up{{{labels},tracked_interface="veth1"}}"#);
    assert_eq!(first.get(&tracked), Some(1.0));
    let rss = first.get("process_resident_memory_bytes").unwrap_or(0.0);
    assert!(rss > 1e6, "rss {rss}");
    let start = first.get("process_start_time_seconds").unwrap_or(0.0);
    assert!((common::unix_now() - start).abs() < 120.0, "start {start}");
    let info = |e: &Exposition, sha: &str| {
        e.get(&format!(
            r#"netvrrp_runtime_info{{version="{}",config_sha256="{sha}"}}"#,
            env!("CARGO_PKG_VERSION")
        ))
    };
    assert_eq!(info(&first, &sha256sum(&cfg)), Some(1.0));
    assert_eq!(first.get("netvrrp_runtime_reloads_total"), Some(0.0));

    // Same series, same order, on the next scrape.
    let second = Exposition::parse(&scrape(&ns));
    assert_eq!(first.keys(), second.keys());

    // An apply of the unchanged file reloads the runtime, which is no change.
    let out = ns.netvrrp(&["apply", "-f", &cfg_s]);
    assert!(out.status.success(), "{}", text(&out));
    let e = Exposition::parse(&scrape(&ns));
    assert_eq!(e.get("netvrrp_runtime_reloads_total"), Some(0.0));
    // A priority edit is one.
    std::fs::write(&cfg, config(150)).expect("write config");
    let out = ns.netvrrp(&["apply", "-f", &cfg_s]);
    assert!(out.status.success(), "{}", text(&out));
    let e = Exposition::parse(&scrape(&ns));
    assert_eq!(e.get("netvrrp_runtime_reloads_total"), Some(1.0));
    assert_eq!(info(&e, &sha256sum(&cfg)), Some(1.0));
    assert_eq!(
        e.get(&format!("netvrrp_vrrp_priority{{{labels}}}")),
        Some(150.0)
    );

    // The tracked interface goes down: 0, and the effective priority drops by 50.
    ns.ip_ok(&["link", "set", "veth1", "down"]);
    wait_until(
        Duration::from_secs(5),
        || "tracked interface still up in the metrics".into(),
        || {
            let e = Exposition::parse(&scrape(&ns));
            (e.get(&tracked) == Some(0.0)
                && e.get(&format!("netvrrp_vrrp_effective_priority{{{labels}}}")) == Some(100.0))
            .then_some(())
        },
    );

    // A SIGHUP with a broken file is a reload failure (and the runtime keeps running).
    std::fs::write(&cfg, "[[vrrp]]\ninterface = 5\n").expect("write config");
    let pid = std::fs::read_to_string(ns.run_dir().join("netvrrp.pid")).expect("pid file");
    let st = std::process::Command::new("kill")
        .args(["-HUP", pid.trim()])
        .status()
        .expect("kill");
    assert!(st.success());
    wait_until(
        Duration::from_secs(5),
        || "no reload failure counted".into(),
        || {
            let e = Exposition::parse(&scrape(&ns));
            (e.get("netvrrp_runtime_reload_failures_total") == Some(1.0)).then_some(())
        },
    );

    // promtool's own parser agrees (CI installs it; see tests/contrib.rs for the rule).
    if std::process::Command::new("promtool")
        .arg("--version")
        .output()
        .is_ok()
    {
        let body = scrape(&ns);
        let out = promtool_check(&body).expect("spawn promtool");
        // promtool reads the classic text format, where a counter's TYPE line names the
        // `_total` series; in OpenMetrics it names the family without `_total`, so promtool
        // lints (exit 3, not 1 for a parse error) that those series have no HELP. Anything
        // else it says is a real finding.
        let stderr = String::from_utf8_lossy(&out.stderr);
        let real: Vec<&str> = stderr
            .lines()
            .filter(|l| {
                l.strip_suffix("_total no help text")
                    .is_none_or(|f| first.types.get(f).map(String::as_str) != Some("counter"))
            })
            .collect();
        assert!(
            matches!(out.status.code(), Some(0 | 3)) && real.is_empty(),
            "{}\n{body}",
            text(&out)
        );
    }
}

/// The runtime's open descriptors (its pid from the run-dir).
fn runtime_fds(ns: &Netns) -> usize {
    let pid = std::fs::read_to_string(ns.run_dir().join("netvrrp.pid")).expect("pid file");
    std::fs::read_dir(format!("/proc/{}/fd", pid.trim()))
        .expect("runtime's /proc fd")
        .count()
}

/// One request on a new connection; the whole reply (head and body) as sent.
fn request(ns: &Netns, head: &str) -> String {
    ns.block_on(|| async {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(LISTEN)
            .await
            .expect("connect to the metrics endpoint");
        s.write_all(head.as_bytes()).await.expect("send request");
        let mut out = String::new();
        s.read_to_string(&mut out).await.expect("read reply");
        out
    })
}

fn start_alone(prefix: &str) -> Netns {
    let ns = Netns::new(prefix);
    ns.veth("veth0", "veth1");
    ns.ip_ok(&["addr", "add", "192.0.2.2/24", "dev", "veth0"]);
    let cfg = ns.dir().join("vrrp.toml");
    std::fs::write(&cfg, config(200)).expect("write config");
    let out = ns.netvrrp(&["apply", "-f", &cfg.to_string_lossy()]);
    assert!(out.status.success(), "{}", text(&out));
    ns
}

/// 3,000 idle connections: the runtime's descriptors stay within the connection cap, and a
/// scrape made while they are all held still succeeds (it evicts the oldest idle one).
#[test]
fn idle_connections_are_capped_and_scrapes_still_succeed() {
    let ns = start_alone("nvmcap");
    // The base once the router is Master: its transition writes masters.json, a descriptor
    // for a moment (counted once against the cap in a CI run when the base came before it).
    let master = r#"netvrrp_vrrp_state{interface="veth0",vrid="7",family="ipv4",state="master"}"#;
    wait_until(
        Duration::from_secs(10),
        || "no Master in the metrics".into(),
        || (Exposition::parse(&scrape(&ns)).get(master) == Some(1.0)).then_some(()),
    );
    let base = runtime_fds(&ns);
    // The cap of src/daemon/metrics_http.rs, plus the one accepted while it makes room.
    let limit = base + 64 + 1;
    let peak = ns.block_on(|| async {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut idle = Vec::new();
        let mut peak = 0;
        for i in 0..3000 {
            idle.push(
                tokio::net::TcpStream::connect(LISTEN)
                    .await
                    .expect("connect"),
            );
            if i % 100 == 0 {
                peak = peak.max(runtime_fds(&ns));
            }
        }
        // While all 3,000 are held open: a scrape gets through.
        let mut s = tokio::net::TcpStream::connect(LISTEN)
            .await
            .expect("connect");
        s.write_all(b"GET /metrics HTTP/1.1\r\n\r\n")
            .await
            .expect("send");
        let mut out = String::new();
        s.read_to_string(&mut out).await.expect("read reply");
        assert!(out.starts_with("HTTP/1.1 200"), "{out}");
        assert!(out.ends_with("# EOF\n"));
        peak.max(runtime_fds(&ns))
    });
    assert!(
        peak <= limit,
        "{peak} descriptors, limit {limit} (base {base})"
    );
    // Closed on our side: the runtime is back to its base (it holds none of them).
    wait_until(
        Duration::from_secs(10),
        || format!("{} descriptors, base {base}", runtime_fds(&ns)),
        || (runtime_fds(&ns) <= base).then_some(()),
    );
}

/// A client that trickles its request head is cut at the head deadline, however often it
/// sends a byte; `HEAD` returns the headers and no body; `Accept` picks the format.
#[test]
fn slow_client_cut_head_and_accept() {
    let ns = start_alone("nvmslow");
    Exposition::parse(&scrape(&ns));
    let full = b"GET /metrics HTTP/1.1\r\nHost: a-rather-long-host-name.example\r\n\r\n";
    let sent = ns.block_on(|| async {
        use tokio::io::AsyncWriteExt;
        let mut s = tokio::net::TcpStream::connect(LISTEN)
            .await
            .expect("connect");
        let mut sent = 0;
        // One byte every 200 ms (the whole head would take 13 s; the deadline is 5 s): the
        // server must close before the head is complete.
        for b in &full[..full.len() - 1] {
            if s.write_all(&[*b]).await.is_err() {
                break;
            }
            sent += 1;
            tokio::time::sleep(Duration::from_millis(200)).await;
            // Closed by the server: a read sees EOF at once (WouldBlock while it is open).
            let mut probe = [0u8; 1];
            if matches!(s.try_read(&mut probe), Ok(0)) {
                break;
            }
        }
        sent
    });
    assert!(sent < full.len() - 1, "the trickling client was never cut");

    let head = request(&ns, "HEAD /metrics HTTP/1.1\r\n\r\n");
    let (h, body) = head.split_once("\r\n\r\n").expect("HTTP reply");
    assert!(h.starts_with("HTTP/1.1 200"), "{h}");
    let length: usize = h
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .and_then(|v| v.parse().ok())
        .expect("Content-Length");
    assert!(length > 1000, "{h}");
    assert_eq!(body, "", "HEAD has no body");

    let classic = request(&ns, "GET /metrics HTTP/1.1\r\nAccept: text/plain\r\n\r\n");
    let (h, body) = classic.split_once("\r\n\r\n").expect("HTTP reply");
    assert!(h.contains("Content-Type: text/plain; version=0.0.4"), "{h}");
    assert!(
        !body.contains("# EOF") && !body.contains("# UNIT"),
        "{body}"
    );
    assert!(
        body.contains("# TYPE netvrrp_vrrp_adverts_sent_total counter"),
        "{body}"
    );
    // promtool reads the classic format: it must find nothing at all to say about it.
    if let Some(out) = promtool_check(body) {
        assert!(out.status.success(), "{}", text(&out));
    }
    let refused = request(
        &ns,
        "GET /metrics HTTP/1.1\r\nAccept: application/json\r\n\r\n",
    );
    assert!(refused.starts_with("HTTP/1.1 406"), "{refused}");
    let post = request(&ns, "POST /metrics HTTP/1.1\r\n\r\n");
    assert!(
        post.starts_with("HTTP/1.1 405") && post.contains("Allow: GET, HEAD"),
        "{post}"
    );
}
