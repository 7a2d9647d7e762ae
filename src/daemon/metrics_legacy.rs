//! The Prometheus renderer metrics.rs replaced (string keys over `serde_json::Value`), kept
//! for the tests that show the typed one writes the same bytes.

use super::metrics::RuntimeInfo;
use serde_json::Value;
use std::fmt::Write as _;
use std::sync::atomic::Ordering;

type Labels = Vec<(&'static str, String)>;

fn s(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The labels naming an instance. `name` comes first when the row has one: it is what
/// identifies "the same virtual router" across hosts (interface names differ per host).
/// NOTE: `[[vrrp]] name` is not a configuration key yet; the label appears once `show vrrp`
/// rows carry a non-empty `name`.
fn router_labels(r: &Value) -> Labels {
    let mut l = Vec::with_capacity(5);
    if let Some(name) = r["name"].as_str().filter(|n| !n.is_empty()) {
        l.push(("name", name.to_string()));
    }
    l.push(("interface", s(&r["interface"])));
    l.push(("vrid", s(&r["vrid"])));
    l.push(("family", s(&r["family"])));
    l
}

fn with(l: &Labels, k: &'static str, v: &str) -> Labels {
    let mut l = l.clone();
    l.push((k, v.to_string()));
    l
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Counter,
    Gauge,
}

/// One metric family: its samples in the order they were added.
struct Fam {
    name: &'static str,
    kind: Kind,
    help: &'static str,
    samples: Vec<(Labels, f64)>,
}

impl Fam {
    fn new(name: &'static str, kind: Kind, help: &'static str) -> Fam {
        Fam {
            name,
            kind,
            help,
            samples: Vec::new(),
        }
    }

    fn add(&mut self, labels: Labels, value: f64) {
        self.samples.push((labels, value));
    }

    fn write(&self, out: &mut String) {
        let kind = match self.kind {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
        };
        let _ = writeln!(out, "# TYPE {} {kind}", self.name);
        // OpenMetrics: a unit line, when present, must be a suffix of the family name.
        for unit in ["seconds", "bytes"] {
            if self.name.ends_with(&format!("_{unit}")) {
                let _ = writeln!(out, "# UNIT {} {unit}", self.name);
            }
        }
        let _ = writeln!(out, "# HELP {} {}", self.name, self.help);
        let suffix = if self.kind == Kind::Counter {
            "_total"
        } else {
            ""
        };
        for (labels, value) in &self.samples {
            out.push_str(self.name);
            out.push_str(suffix);
            if !labels.is_empty() {
                out.push('{');
                for (i, (k, v)) in labels.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    let _ = write!(out, "{k}=\"{}\"", escape(v));
                }
                out.push('}');
            }
            let _ = writeln!(out, " {}", number(*value));
        }
    }
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else {
        format!("{v}")
    }
}

/// Why an advert was discarded, as the `reason` label, and the counter of `show vrrp` that
/// counts it. `interval_mismatches` is not here: those adverts are processed.
const DROP_REASONS: [(&str, &str); 13] = [
    ("ttl", "ttl_errors"),
    ("version", "version_errors"),
    ("type", "type_errors"),
    ("vrid", "vrid_errors"),
    ("length", "length_errors"),
    ("zero_count", "zero_count_errors"),
    ("truncated", "truncated_errors"),
    ("oversized", "oversized_errors"),
    ("checksum", "checksum_errors"),
    ("auth_type", "auth_type_errors"),
    ("address_list", "address_list_errors"),
    ("peer_not_allowed", "peer_not_allowed"),
    ("interval", "interval_errors"),
];

/// One counter per row: (family name, help, counter of `show vrrp`).
const ROUTER_COUNTERS: [(&str, &str, &str); 9] = [
    (
        "netvrrp_vrrp_adverts_sent",
        "adverts sent, priority-0 ones included",
        "adverts_sent",
    ),
    (
        "netvrrp_vrrp_adverts_received",
        "adverts handed to the state machine",
        "adverts_received",
    ),
    (
        "netvrrp_vrrp_priority_zero_adverts_sent",
        "priority-0 adverts sent (leaving Master)",
        "priority_zero_sent",
    ),
    (
        "netvrrp_vrrp_priority_zero_adverts_received",
        "priority-0 adverts received",
        "priority_zero_received",
    ),
    (
        "netvrrp_vrrp_interval_mismatches",
        "VRRPv3 adverts whose interval differs from ours (processed anyway)",
        "interval_mismatches",
    ),
    (
        "netvrrp_vrrp_owner_conflicts",
        "adverts from another router while we own the addresses",
        "owner_conflicts",
    ),
    (
        "netvrrp_vrrp_gratuitous_packets_sent",
        "gratuitous ARP / unsolicited NA packets sent",
        "gratuitous_packets_sent",
    ),
    (
        "netvrrp_vrrp_send_errors",
        "packets the kernel refused to send",
        "send_errors",
    ),
    (
        "netvrrp_vrrp_protodown_failures",
        "protodown changes the kernel refused",
        "protodown_errors",
    ),
];

fn counter(c: &Value, key: &str) -> f64 {
    c[key].as_u64().unwrap_or(0) as f64
}

/// Rows sorted by their key, so series keep their order across scrapes and reloads.
fn sorted(rows: &[Value], key: impl Fn(&Value) -> (String, u64, String)) -> Vec<&Value> {
    let mut v: Vec<&Value> = rows.iter().collect();
    v.sort_by_key(|r| key(r));
    v
}

/// Router Advertisement families of the instances that send them (rows with a
/// `router_advertisements` object).
fn router_advertisement_families(rows: &[&Value]) -> Vec<Fam> {
    let mut advertising = Fam::new(
        "netvrrp_vrrp_ra_advertising",
        Kind::Gauge,
        "1 while the instance sends Router Advertisements (Master), 0 while silent",
    );
    let mut sent = Fam::new(
        "netvrrp_vrrp_ra_sent",
        Kind::Counter,
        "Router Advertisements sent",
    );
    let mut solicitations = Fam::new(
        "netvrrp_vrrp_ra_solicitations",
        Kind::Counter,
        "Router Solicitations heard, by outcome (answered; ignored: not Master; invalid)",
    );
    for r in rows
        .iter()
        .filter(|r| r["router_advertisements"].is_object())
    {
        let base = router_labels(r);
        let ra = &r["router_advertisements"];
        let on = ra["state"].as_str() == Some("advertising");
        advertising.add(base.clone(), if on { 1.0 } else { 0.0 });
        let c = &ra["counters"];
        sent.add(base.clone(), counter(c, "sent"));
        for (outcome, key) in [
            ("answered", "rs_answered"),
            ("ignored", "rs_ignored"),
            ("invalid", "rs_invalid"),
        ] {
            solicitations.add(with(&base, "outcome", outcome), counter(c, key));
        }
    }
    vec![advertising, sent, solicitations]
}

/// The exposition text (OpenMetrics format) for the given `show` rows.
pub fn render(
    vrrp: &[Value],
    vrrs_servers: &[Value],
    vrrs_pathways: &[Value],
    track: &[Value],
    info: &RuntimeInfo,
) -> String {
    let mut fams: Vec<Fam> = Vec::new();
    let rows = sorted(vrrp, |r| {
        (
            format!("{}\0{}", s(&r["name"]), s(&r["interface"])),
            r["vrid"].as_u64().unwrap_or(0),
            s(&r["family"]),
        )
    });
    fams.extend(router_gauge_families(&rows));
    fams.extend(router_counter_families(&rows));
    fams.extend(router_advertisement_families(&rows));
    fams.extend(vrrs_families(vrrs_servers, vrrs_pathways));
    fams.extend(runtime_families(info));
    fams.extend(process_families(info));
    fams.extend(track_families(track));

    let mut out = String::with_capacity(4096);
    for f in &fams {
        f.write(&mut out);
    }
    out.push_str("# EOF\n");
    out
}

/// The gauges of each VRRP instance: state, priorities, intervals, flags, tracked
/// interfaces.
fn router_gauge_families(rows: &[&Value]) -> Vec<Fam> {
    use Kind::Gauge;
    let mut state = Fam::new(
        "netvrrp_vrrp_state",
        Gauge,
        "1 for the state each VRRP instance is in",
    );
    let mut priority = Fam::new("netvrrp_vrrp_priority", Gauge, "configured priority");
    let mut effective = Fam::new(
        "netvrrp_vrrp_effective_priority",
        Gauge,
        "priority after tracking (the advertised one)",
    );
    let mut last_change = Fam::new(
        "netvrrp_vrrp_last_transition_timestamp_seconds",
        Gauge,
        "Unix time of the last state change",
    );
    let mut adver = Fam::new(
        "netvrrp_vrrp_advertisement_interval_seconds",
        Gauge,
        "configured advertisement interval",
    );
    let mut master_adver = Fam::new(
        "netvrrp_vrrp_master_advertisement_interval_seconds",
        Gauge,
        "advertisement interval in use (the Master's, learnt from its adverts in Backup)",
    );
    let mut down = Fam::new(
        "netvrrp_vrrp_master_down_interval_seconds",
        Gauge,
        "time without adverts after which a Backup takes over",
    );
    let mut tracked = Fam::new(
        "netvrrp_vrrp_tracked_interface_up",
        Gauge,
        "1 while a tracked interface is up, 0 while it is down (its decrement applies)",
    );
    let mut not_running = Fam::new(
        "netvrrp_vrrp_not_running",
        Gauge,
        "1 while the instance is held in Initialize or could not start (show vrrp: not_running)",
    );
    let mut drifted = Fam::new(
        "netvrrp_vrrp_device_drift",
        Gauge,
        "1 while the instance's vrrp device differs from what netvrrp made (apply repairs it)",
    );
    for r in rows.iter().copied() {
        let base = router_labels(r);
        let current = r["state"].as_str().unwrap_or("");
        for st in ["initialize", "backup", "master"] {
            state.add(
                with(&base, "state", st),
                if st == current { 1.0 } else { 0.0 },
            );
        }
        let num = |k: &str| r[k].as_f64().unwrap_or(0.0);
        priority.add(base.clone(), num("priority"));
        effective.add(base.clone(), num("effective_priority"));
        last_change.add(base.clone(), num("last_change"));
        adver.add(base.clone(), num("advertisement_interval_ms") / 1000.0);
        master_adver.add(base.clone(), num("master_adver_interval_ms") / 1000.0);
        down.add(base.clone(), num("master_down_interval_ms") / 1000.0);
        let flag = |k: &str| if r[k].is_null() { 0.0 } else { 1.0 };
        not_running.add(base.clone(), flag("not_running"));
        drifted.add(base.clone(), flag("drift"));
        // Tracked interfaces (entries naming an object are in netvrrp_track_up).
        for t in r["track"].as_array().into_iter().flatten() {
            let Some(interface) = t["interface"].as_str() else {
                continue;
            };
            tracked.add(
                with(&base, "tracked_interface", interface),
                if t["state"] == "up" { 1.0 } else { 0.0 },
            );
        }
    }
    vec![
        state,
        priority,
        effective,
        last_change,
        adver,
        master_adver,
        down,
        not_running,
        drifted,
        tracked,
    ]
}

/// The counters of each VRRP instance: transitions, drops by reason, the `show vrrp`
/// counters.
fn router_counter_families(rows: &[&Value]) -> Vec<Fam> {
    use Kind::Counter;
    let mut transitions = Fam::new(
        "netvrrp_vrrp_transitions",
        Counter,
        "state changes by the state entered",
    );
    let mut dropped = Fam::new(
        "netvrrp_vrrp_adverts_dropped",
        Counter,
        "adverts discarded, by reason",
    );
    let mut counters: Vec<Fam> = ROUTER_COUNTERS
        .iter()
        .map(|(name, help, _)| Fam::new(name, Counter, help))
        .collect();
    for r in rows.iter().copied() {
        let base = router_labels(r);
        let c = &r["counters"];
        let (all, to_master, to_backup) = (
            counter(c, "transitions"),
            counter(c, "became_master"),
            counter(c, "became_backup"),
        );
        transitions.add(with(&base, "to", "master"), to_master);
        transitions.add(with(&base, "to", "backup"), to_backup);
        // Every other change ends in Initialize (shutdown, link or parent down, protodown
        // refused).
        transitions.add(
            with(&base, "to", "initialize"),
            (all - to_master - to_backup).max(0.0),
        );
        for (reason, key) in DROP_REASONS {
            dropped.add(with(&base, "reason", reason), counter(c, key));
        }
        for (fam, (_, _, key)) in counters.iter_mut().zip(ROUTER_COUNTERS) {
            fam.add(base.clone(), counter(c, key));
        }
    }
    let mut fams = vec![transitions, dropped];
    fams.extend(counters);
    fams
}

/// VRRS leader names (servers) and pathways.
fn vrrs_families(vrrs_servers: &[Value], vrrs_pathways: &[Value]) -> Vec<Fam> {
    use Kind::{Counter, Gauge};
    let mut vrrs_state = Fam::new(
        "netvrrp_vrrs_state",
        Gauge,
        "1 for the state each VRRS leader name follows",
    );
    let mut pushes = Fam::new(
        "netvrrp_vrrs_pushes",
        Counter,
        "state changes pushed per leader name",
    );
    for srv in sorted(vrrs_servers, |r| (s(&r["name"]), 0, String::new())) {
        let name: Labels = vec![("name", s(&srv["name"]))];
        let current = srv["state"].as_str().unwrap_or("");
        for st in ["initialize", "backup", "master"] {
            vrrs_state.add(
                with(&name, "state", st),
                if st == current { 1.0 } else { 0.0 },
            );
        }
        pushes.add(name, srv["pushes"].as_u64().unwrap_or(0) as f64);
    }
    let mut pathway = Fam::new(
        "netvrrp_vrrs_pathway_state",
        Gauge,
        "1 for the state each VRRS pathway is in",
    );
    for p in sorted(vrrs_pathways, |r| (s(&r["name"]), 0, s(&r["interface"]))) {
        let base: Labels = vec![("leader", s(&p["name"])), ("interface", s(&p["interface"]))];
        let current = p["state"].as_str().unwrap_or("");
        for st in ["active", "inactive", "not_ready"] {
            pathway.add(
                with(&base, "state", st),
                if current == st { 1.0 } else { 0.0 },
            );
        }
    }
    vec![vrrs_state, pushes, pathway]
}

/// The daemon's own: version, configuration, reloads and failures.
fn runtime_families(info: &RuntimeInfo) -> Vec<Fam> {
    use Kind::{Counter, Gauge};
    let stats = info.stats;
    let mut runtime = Fam::new(
        "netvrrp_runtime_info",
        Gauge,
        "version and SHA-256 of the configuration in use",
    );
    runtime.add(
        vec![
            ("version", info.version.to_string()),
            ("config_sha256", stats.config_sha256.clone()),
        ],
        1.0,
    );
    let mut reloads = Fam::new(
        "netvrrp_runtime_reloads",
        Counter,
        "configuration reloads that changed something",
    );
    reloads.add(Vec::new(), stats.reloads_changed as f64);
    let mut reload_failures = Fam::new(
        "netvrrp_runtime_reload_failures",
        Counter,
        "configuration reloads refused (bad file, kernel error)",
    );
    reload_failures.add(Vec::new(), stats.reload_failures as f64);
    let mut filter_failures = Fam::new(
        "netvrrp_runtime_filter_failures",
        Counter,
        "VIP filter (nftables) updates that failed",
    );
    filter_failures.add(
        Vec::new(),
        stats.filter_failures.load(Ordering::Relaxed) as f64,
    );
    let mut drift = Fam::new(
        "netvrrp_runtime_device_drift_events",
        Counter,
        "vrrp devices found changed behind netvrrp's back (mode, MAC, parent)",
    );
    drift.add(Vec::new(), stats.drift_events as f64);
    let mut state_write_failures = Fam::new(
        "netvrrp_runtime_state_write_failures",
        Counter,
        "writes of masters.json or the pid file that failed (masters.json is retried)",
    );
    state_write_failures.add(Vec::new(), stats.state_write_failures as f64);
    vec![
        runtime,
        reloads,
        reload_failures,
        filter_failures,
        state_write_failures,
        drift,
    ]
}

/// The standard process_* families, when /proc could be read.
fn process_families(info: &RuntimeInfo) -> Vec<Fam> {
    use Kind::{Counter, Gauge};
    let mut out = Vec::new();
    if let Some(p) = info.process {
        for (name, kind, help, v) in [
            (
                "process_cpu_seconds",
                Counter,
                "user and system CPU time",
                p.cpu_seconds,
            ),
            (
                "process_resident_memory_bytes",
                Gauge,
                "resident memory size",
                p.resident_bytes,
            ),
            (
                "process_virtual_memory_bytes",
                Gauge,
                "virtual memory size",
                p.virtual_bytes,
            ),
            (
                "process_open_fds",
                Gauge,
                "open file descriptors",
                p.open_fds,
            ),
            ("process_max_fds", Gauge, "file descriptor limit", p.max_fds),
            (
                "process_start_time_seconds",
                Gauge,
                "start time since the Unix epoch",
                p.start_time_seconds,
            ),
        ] {
            let mut f = Fam::new(name, kind, help);
            f.add(Vec::new(), v);
            out.push(f);
        }
    }

    out
}

/// [[track]] objects.
fn track_families(track: &[Value]) -> Vec<Fam> {
    use Kind::{Counter, Gauge};
    let mut track_up = Fam::new(
        "netvrrp_track_up",
        Gauge,
        "1 while a [[track]] object is up (as the routers see it)",
    );
    let mut track_changes = Fam::new(
        "netvrrp_track_changes",
        Counter,
        "state changes of each [[track]] object",
    );
    for t in track {
        let base: Labels = vec![("name", s(&t["name"])), ("kind", s(&t["kind"]))];
        track_up.add(base.clone(), if t["state"] == "up" { 1.0 } else { 0.0 });
        track_changes.add(base, t["changes"].as_u64().unwrap_or(0) as f64);
    }
    vec![track_up, track_changes]
}
