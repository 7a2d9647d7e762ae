//! Prometheus exposition (`[runtime] metrics-listen`), encoded by `prometheus-client` from the
//! same JSON rows `show vrrp` / `show vrrs` return, so the two can never disagree. A
//! registry is built per scrape: scrapes are rare next to adverts, and nothing in the
//! election path has to update metric objects.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use serde_json::Value;
use std::sync::atomic::AtomicU64;

type Labels = Vec<(String, String)>;
type GaugeF = Gauge<f64, AtomicU64>;

/// Facts about the runtime process itself.
pub struct RuntimeInfo<'a> {
    pub version: &'a str,
    pub config_hash: String,
    pub reloads: u64,
}

fn s(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn router_labels(r: &Value) -> Labels {
    vec![
        ("interface".into(), s(&r["interface"])),
        ("vrid".into(), s(&r["vrid"])),
        ("family".into(), s(&r["family"])),
    ]
}

fn with(mut l: Labels, k: &str, v: &str) -> Labels {
    l.push((k.into(), v.into()));
    l
}

/// The exposition text (OpenMetrics format) for the given `show` rows.
pub fn render(
    vrrp: &[Value],
    vrrs_servers: &[Value],
    vrrs_pathways: &[Value],
    track: &[Value],
    info: &RuntimeInfo,
) -> Result<String, std::fmt::Error> {
    let mut reg = Registry::with_prefix("netvrrp");

    let state = Family::<Labels, GaugeF>::default();
    let priority = Family::<Labels, GaugeF>::default();
    let effective = Family::<Labels, GaugeF>::default();
    let last_change = Family::<Labels, GaugeF>::default();
    let counters = Family::<Labels, Counter>::default();
    for r in vrrp {
        let base = router_labels(r);
        let current = r["state"].as_str().unwrap_or("");
        for st in ["initialize", "backup", "master"] {
            state
                .get_or_create(&with(base.clone(), "state", st))
                .set(if st == current { 1.0 } else { 0.0 });
        }
        priority
            .get_or_create(&base)
            .set(r["priority"].as_f64().unwrap_or(0.0));
        effective
            .get_or_create(&base)
            .set(r["effective_priority"].as_f64().unwrap_or(0.0));
        last_change
            .get_or_create(&base)
            .set(r["last_change"].as_f64().unwrap_or(0.0));
        if let Some(map) = r["counters"].as_object() {
            for (name, value) in map {
                counters
                    .get_or_create(&with(base.clone(), "counter", name))
                    .inc_by(value.as_u64().unwrap_or(0));
            }
        }
    }
    reg.register(
        "vrrp_state",
        "1 for the state each VRRP instance is in",
        state,
    );
    reg.register("vrrp_priority", "configured priority", priority);
    reg.register(
        "vrrp_effective_priority",
        "priority after tracking (the advertised one)",
        effective,
    );
    reg.register(
        "vrrp_last_transition_timestamp_seconds",
        "Unix time of the last state change",
        last_change,
    );
    reg.register(
        "vrrp_events",
        "every counter of show vrrp (adverts, drops by reason, transitions, ...)",
        counters,
    );

    let vrrs_state = Family::<Labels, GaugeF>::default();
    let pushes = Family::<Labels, Counter>::default();
    for srv in vrrs_servers {
        let name = vec![("name".into(), s(&srv["name"]))];
        let current = srv["state"].as_str().unwrap_or("");
        for st in ["initialize", "backup", "master"] {
            vrrs_state
                .get_or_create(&with(name.clone(), "state", st))
                .set(if st == current { 1.0 } else { 0.0 });
        }
        pushes
            .get_or_create(&name)
            .inc_by(srv["pushes"].as_u64().unwrap_or(0));
    }
    reg.register(
        "vrrs_state",
        "1 for the state each VRRS leader name follows",
        vrrs_state,
    );
    reg.register(
        "vrrs_pushes",
        "state changes pushed per leader name",
        pushes,
    );

    let pathway = Family::<Labels, GaugeF>::default();
    for p in vrrs_pathways {
        let base: Labels = vec![
            ("leader".into(), s(&p["name"])),
            ("interface".into(), s(&p["interface"])),
        ];
        let current = p["state"].as_str().unwrap_or("");
        for st in ["active", "inactive", "not_ready"] {
            pathway
                .get_or_create(&with(base.clone(), "state", st))
                .set(if current == st { 1.0 } else { 0.0 });
        }
    }
    reg.register(
        "vrrs_pathway_state",
        "1 for the state each VRRS pathway is in",
        pathway,
    );

    let track_up = Family::<Labels, GaugeF>::default();
    let track_changes = Family::<Labels, Counter>::default();
    for t in track {
        let base: Labels = vec![
            ("name".into(), s(&t["name"])),
            ("kind".into(), s(&t["kind"])),
        ];
        track_up
            .get_or_create(&base)
            .set(if t["state"] == "up" { 1.0 } else { 0.0 });
        track_changes
            .get_or_create(&base)
            .inc_by(t["changes"].as_u64().unwrap_or(0));
    }
    reg.register(
        "track_up",
        "1 while a [[track]] object is up (as the routers see it)",
        track_up,
    );
    reg.register(
        "track_changes",
        "state changes of each [[track]] object",
        track_changes,
    );

    let runtime = Family::<Labels, GaugeF>::default();
    runtime
        .get_or_create(&vec![
            ("version".into(), info.version.into()),
            ("config_hash".into(), info.config_hash.clone()),
        ])
        .set(1.0);
    reg.register("runtime_info", "version and configuration hash", runtime);
    let reloads: Counter = Counter::default();
    reloads.inc_by(info.reloads);
    reg.register("runtime_reloads", "configuration reloads", reloads);

    let mut out = String::new();
    encode(&mut out, &reg)?;
    Ok(out)
}

/// FNV-1a of the configuration file, as a stable short hash for `runtime_info`.
pub fn config_hash(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// Serve `GET /metrics` on a bound listener (bound before the runtime reports ready, so a
/// scrape right after READY=1 finds it). Each scrape asks the event loop for the text through
/// `scrape` (so the numbers are consistent with one instant of the loop).
pub async fn serve(
    listener: tokio::net::TcpListener,
    scrape: tokio::sync::mpsc::Sender<tokio::sync::oneshot::Sender<String>>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    loop {
        let Ok((mut conn, _)) = listener.accept().await else {
            continue;
        };
        let scrape = scrape.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            let n =
                match tokio::time::timeout(std::time::Duration::from_secs(5), conn.read(&mut buf))
                    .await
                {
                    Ok(Ok(n)) => n,
                    _ => return,
                };
            let head = String::from_utf8_lossy(&buf[..n]);
            let path = head.split_whitespace().nth(1).unwrap_or("");
            let (status, ctype, body) =
                if head.starts_with("GET ") && (path == "/metrics" || path == "/") {
                    let (tx, rx) = tokio::sync::oneshot::channel();
                    if scrape.send(tx).await.is_err() {
                        return;
                    }
                    match rx.await {
                        Ok(text) => (
                            "200 OK",
                            "application/openmetrics-text; version=1.0.0; charset=utf-8",
                            text,
                        ),
                        Err(_) => return,
                    }
                } else {
                    (
                        "404 Not Found",
                        "text/plain",
                        "only GET /metrics here\n".to_string(),
                    )
                };
            let reply = format!(
                "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = conn.write_all(reply.as_bytes()).await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn exposition_has_states_counters_and_info() {
        let vrrp = vec![json!({
            "interface": "eth0", "vrid": 5, "family": "ipv4", "state": "master",
            "priority": 200, "effective_priority": 150, "last_change": 1.5,
            "counters": { "adverts_sent": 7, "checksum_errors": 2 }
        })];
        let servers = vec![json!({"name": "group1", "state": "master", "pushes": 3})];
        let pathways = vec![json!({"name": "group1", "interface": "eth1", "state": "active"})];
        let track = vec![json!({"name": "web", "kind": "exec", "state": "down", "changes": 3})];
        let text = render(
            &vrrp,
            &servers,
            &pathways,
            &track,
            &RuntimeInfo {
                version: "0.1.0",
                config_hash: "abc".into(),
                reloads: 4,
            },
        )
        .unwrap();
        assert!(
            text.contains(
                r#"netvrrp_vrrp_state{interface="eth0",vrid="5",family="ipv4",state="master"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains(
                r#"netvrrp_vrrp_effective_priority{interface="eth0",vrid="5",family="ipv4"} 150"#
            ),
            "{text}"
        );
        assert!(text.contains(r#"netvrrp_vrrp_events_total{interface="eth0",vrid="5",family="ipv4",counter="checksum_errors"} 2"#), "{text}");
        assert!(
            text.contains(
                r#"netvrrp_vrrs_pathway_state{leader="group1",interface="eth1",state="active"} 1"#
            ),
            "{text}"
        );
        assert!(text.contains("netvrrp_runtime_reloads_total 4"), "{text}");
        assert!(
            text.contains(r#"netvrrp_track_up{name="web",kind="exec"} 0"#),
            "{text}"
        );
        assert!(
            text.contains(r#"netvrrp_track_changes_total{name="web",kind="exec"} 3"#),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"));
    }
}
