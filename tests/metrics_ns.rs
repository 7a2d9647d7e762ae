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
        use std::io::Write;
        let body = scrape(&ns);
        let mut child = std::process::Command::new("promtool")
            .args(["check", "metrics"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn promtool");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(body.as_bytes())
            .expect("write to promtool");
        let out = child.wait_with_output().expect("promtool");
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
