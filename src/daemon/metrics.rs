//! Prometheus exposition (`[runtime] metrics-listen`), written from the same typed rows
//! `show vrrp` / `show vrrs` / `show track` return ([`crate::contract`]), so the two can
//! never disagree. The text is built per
//! scrape: scrapes are rare next to adverts, and nothing in the election path has to update
//! metric objects.
//!
//! The encoder is a small one of our own rather than `prometheus-client`'s: that crate keeps
//! a family's series in a hash map, so their order changed from one scrape to the next, and
//! it prefixes every family of a registry, which the conventional `process_*` names must not
//! carry. Here series come out in a fixed order (routers sorted by their key).

use crate::contract::{TrackRow, TrackState, VrrpRow};
use crate::vrrp::ra::{RaCounters, RaState};
use crate::vrrp::router::{Counters, State};
use crate::vrrs::{PathwayRow, PathwayState, ServerRow};
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The port the documentation and examples use for `metrics-listen`. The Prometheus
/// exporter range 9100-9999 is fully allocated on the project's "Default port allocations"
/// wiki page (9100 is node_exporter's, 9650 and 9165 keepalived exporters'), so any port
/// there belongs to another exporter; 10112 (112 is VRRP's IP protocol number) lies outside
/// that range and outside /etc/services.
pub const DEFAULT_PORT: u16 = 10112;

type Labels = Vec<(&'static str, String)>;

/// Counters the runtime keeps for the metrics only (the election path never reads them).
#[derive(Debug, Default, Clone)]
pub struct RuntimeStats {
    /// Reloads that changed something: the file's bytes, or an instance restarted, added or
    /// removed. A reload of an unchanged file (every `apply` of a fleet tool) is not one.
    pub reloads_changed: u64,
    pub reload_failures: u64,
    /// Writes of the runtime's state files (masters.json, the pid file) that failed; each
    /// is retried (masters.json) or logged (the pid file).
    pub state_write_failures: u64,
    /// Shared with the nftables task, which runs apart from the loop.
    pub filter_failures: Arc<AtomicU64>,
    /// SHA-256 of the configuration the runtime runs (hex), as `sha256sum` prints it.
    pub config_sha256: String,
    /// vrrp devices found changed behind the runtime's back (mode, MAC, parent).
    pub drift_events: u64,
}

impl RuntimeStats {
    pub fn new(file: &std::path::Path) -> RuntimeStats {
        RuntimeStats {
            config_sha256: file_sha256(file),
            ..RuntimeStats::default()
        }
    }

    /// After a successful reload of a file whose SHA-256 is `sha` (hashed off the event
    /// loop, see [`file_sha256`]): count it when something changed.
    pub fn reloaded(&mut self, sha: String, instances_changed: bool) {
        if instances_changed || sha != self.config_sha256 {
            self.reloads_changed += 1;
        }
        self.config_sha256 = sha;
    }
}

/// SHA-256 of a file in hex; empty when it cannot be read (the metric then shows an empty
/// hash rather than failing the scrape).
pub fn file_sha256(file: &std::path::Path) -> String {
    std::fs::read(file)
        .map(|b| sha256_hex(&b))
        .unwrap_or_default()
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .fold(String::with_capacity(64), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// Facts about the runtime process itself.
pub struct RuntimeInfo<'a> {
    pub version: &'a str,
    pub stats: &'a RuntimeStats,
    /// None in unit tests (values of the test process would make the text unpredictable).
    pub process: Option<ProcessStats>,
}

/// The rows and counters of one instant of the loop, taken per scrape: copying them is the
/// loop's whole share of a scrape; the text is rendered from this elsewhere
/// (src/daemon/metrics_http.rs renders it on a blocking thread).
pub struct Snapshot {
    pub vrrp: Vec<crate::contract::VrrpRow>,
    pub vrrs_servers: Vec<crate::vrrs::ServerRow>,
    pub vrrs_pathways: Vec<crate::vrrs::PathwayRow>,
    pub track: Vec<crate::contract::TrackRow>,
    pub stats: RuntimeStats,
}

impl Snapshot {
    /// The OpenMetrics text, with the `process_*` families read now.
    pub fn render(&self) -> String {
        render(
            &self.vrrp,
            &self.vrrs_servers,
            &self.vrrs_pathways,
            &self.track,
            &RuntimeInfo {
                version: env!("CARGO_PKG_VERSION"),
                stats: &self.stats,
                process: ProcessStats::read(),
            },
        )
    }
}

/// The conventional `process_*` metrics, read from /proc/self.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProcessStats {
    pub cpu_seconds: f64,
    pub resident_bytes: f64,
    pub virtual_bytes: f64,
    pub open_fds: f64,
    pub max_fds: f64,
    pub start_time_seconds: f64,
}

impl ProcessStats {
    /// None when /proc is not readable (then the families are left out).
    pub fn read() -> Option<ProcessStats> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        let btime = std::fs::read_to_string("/proc/stat").ok()?;
        let open_fds = std::fs::read_dir("/proc/self/fd").ok()?.count() as f64;
        let max_fds = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
            .map(|(soft, _)| soft as f64)
            .unwrap_or(0.0);
        // SAFETY: sysconf only reads a constant of the C library.
        let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as f64;
        parse_proc(&stat, &btime, ticks, page).map(|mut p| {
            p.open_fds = open_fds;
            p.max_fds = max_fds;
            p
        })
    }
}

/// The parts of `/proc/self/stat` (fields after the command name, which may hold spaces and
/// parentheses, hence the split at the last ')') and `/proc/stat`'s `btime` we need.
fn parse_proc(stat: &str, proc_stat: &str, ticks: f64, page: f64) -> Option<ProcessStats> {
    if ticks <= 0.0 || page <= 0.0 {
        return None;
    }
    let rest = &stat[stat.rfind(')')? + 1..];
    // `rest` starts at field 3 (state): utime is field 14, so index 11 here.
    let f: Vec<&str> = rest.split_whitespace().collect();
    let num = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok());
    let btime = proc_stat
        .lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse::<f64>()
        .ok()?;
    Some(ProcessStats {
        cpu_seconds: (num(11)? + num(12)?) / ticks,
        start_time_seconds: btime + num(19)? / ticks,
        virtual_bytes: num(20)?,
        resident_bytes: num(21)? * page,
        open_fds: 0.0,
        max_fds: 0.0,
    })
}

/// The labels naming an instance. `name` comes first when the row has one: it is what
/// identifies "the same virtual router" across hosts (interface names differ per host).
/// NOTE: `[[vrrp]] name` is not a configuration key yet; the label appears once `show vrrp`
/// rows carry a non-empty `name`.
fn router_labels(r: &VrrpRow) -> Labels {
    let mut l = Vec::with_capacity(5);
    if let Some(name) = r.name.as_deref().filter(|n| !n.is_empty()) {
        l.push(("name", name.to_string()));
    }
    l.push(("interface", r.interface.clone()));
    l.push(("vrid", r.vrid.to_string()));
    l.push(("family", r.family.to_string()));
    l
}

/// 1 for the state a row is in, 0 for the others.
fn one_hot<S: PartialEq + Copy>(
    states: &[(&'static str, S)],
    current: S,
) -> Vec<(&'static str, f64)> {
    states
        .iter()
        .map(|&(name, st)| (name, if st == current { 1.0 } else { 0.0 }))
        .collect()
}

const STATES: [(&str, State); 3] = [
    ("initialize", State::Initialize),
    ("backup", State::Backup),
    ("master", State::Master),
];

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

/// A counter of `show vrrp`.
type CounterOf = fn(&Counters) -> u64;

/// Why an advert was discarded, as the `reason` label, and the counter of `show vrrp` that
/// counts it. `interval_mismatches` is not here: those adverts are processed.
const DROP_REASONS: [(&str, CounterOf); 13] = [
    ("ttl", |c| c.ttl_errors),
    ("version", |c| c.version_errors),
    ("type", |c| c.type_errors),
    ("vrid", |c| c.vrid_errors),
    ("length", |c| c.length_errors),
    ("zero_count", |c| c.zero_count_errors),
    ("truncated", |c| c.truncated_errors),
    ("oversized", |c| c.oversized_errors),
    ("checksum", |c| c.checksum_errors),
    ("auth_type", |c| c.auth_type_errors),
    // Serialized as `address_list_errors` (see [`Counters`]).
    ("address_list", |c| c.destination_errors),
    ("peer_not_allowed", |c| c.peer_not_allowed),
    ("interval", |c| c.interval_errors),
];

/// One counter per row: (family name, help, counter of `show vrrp`).
const ROUTER_COUNTERS: [(&str, &str, CounterOf); 9] = [
    (
        "netvrrp_vrrp_adverts_sent",
        "adverts sent, priority-0 ones included",
        |c| c.adverts_sent,
    ),
    (
        "netvrrp_vrrp_adverts_received",
        "adverts handed to the state machine",
        |c| c.adverts_received,
    ),
    (
        "netvrrp_vrrp_priority_zero_adverts_sent",
        "priority-0 adverts sent (leaving Master)",
        |c| c.priority_zero_sent,
    ),
    (
        "netvrrp_vrrp_priority_zero_adverts_received",
        "priority-0 adverts received",
        |c| c.priority_zero_received,
    ),
    (
        "netvrrp_vrrp_interval_mismatches",
        "VRRPv3 adverts whose interval differs from ours (processed anyway)",
        |c| c.interval_mismatches,
    ),
    (
        "netvrrp_vrrp_owner_conflicts",
        "adverts from another router while we own the addresses",
        |c| c.owner_conflicts,
    ),
    (
        "netvrrp_vrrp_gratuitous_packets_sent",
        "gratuitous ARP / unsolicited NA packets sent",
        |c| c.gratuitous_packets_sent,
    ),
    (
        "netvrrp_vrrp_send_errors",
        "packets the kernel refused to send",
        |c| c.send_errors,
    ),
    (
        "netvrrp_vrrp_protodown_failures",
        "protodown changes the kernel refused",
        |c| c.protodown_errors,
    ),
];

/// Rows sorted by their key, so series keep their order across scrapes and reloads.
fn sorted<T, K: Ord>(rows: &[T], key: impl Fn(&T) -> K) -> Vec<&T> {
    let mut v: Vec<&T> = rows.iter().collect();
    v.sort_by_key(|r| key(r));
    v
}

/// A counter of a router's RAs.
type RaCounterOf = fn(&RaCounters) -> u64;

/// Router Solicitations by outcome, as the `outcome` label, and the RA counter of each.
const RS_OUTCOMES: [(&str, RaCounterOf); 3] = [
    ("answered", |c| c.rs_answered),
    ("ignored", |c| c.rs_ignored),
    ("invalid", |c| c.rs_invalid),
];

/// Router Advertisement families of the instances that send them (rows with a
/// `router_advertisements` object).
fn router_advertisement_families(rows: &[&VrrpRow]) -> Vec<Fam> {
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
    for (r, ra) in rows
        .iter()
        .filter_map(|r| Some((r, r.router_advertisements.as_ref()?)))
    {
        let base = router_labels(r);
        let on = ra.state == RaState::Advertising;
        advertising.add(base.clone(), if on { 1.0 } else { 0.0 });
        let c = &ra.counters;
        sent.add(base.clone(), c.sent as f64);
        for (outcome, count) in RS_OUTCOMES {
            solicitations.add(with(&base, "outcome", outcome), count(c) as f64);
        }
    }
    vec![advertising, sent, solicitations]
}

/// The exposition text (OpenMetrics format) for the given `show` rows.
pub fn render(
    vrrp: &[VrrpRow],
    vrrs_servers: &[ServerRow],
    vrrs_pathways: &[PathwayRow],
    track: &[TrackRow],
    info: &RuntimeInfo,
) -> String {
    let mut fams: Vec<Fam> = Vec::new();
    let rows = sorted(vrrp, |r| {
        (
            format!("{}\0{}", r.name.as_deref().unwrap_or_default(), r.interface),
            r.vrid,
            r.family.as_str(),
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
fn router_gauge_families(rows: &[&VrrpRow]) -> Vec<Fam> {
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
        for (st, on) in one_hot(&STATES, r.state) {
            state.add(with(&base, "state", st), on);
        }
        priority.add(base.clone(), f64::from(r.priority));
        effective.add(base.clone(), f64::from(r.effective_priority));
        last_change.add(base.clone(), r.last_change);
        adver.add(
            base.clone(),
            f64::from(r.advertisement_interval_ms) / 1000.0,
        );
        master_adver.add(base.clone(), r.master_adver_interval_ms / 1000.0);
        down.add(base.clone(), r.master_down_interval_ms / 1000.0);
        let flag = |set: bool| if set { 1.0 } else { 0.0 };
        not_running.add(base.clone(), flag(r.not_running.is_some()));
        drifted.add(base.clone(), flag(r.drift.is_some()));
        // Tracked interfaces (entries naming an object are in netvrrp_track_up).
        for t in &r.track {
            let Some(interface) = &t.interface else {
                continue;
            };
            tracked.add(
                with(&base, "tracked_interface", interface),
                flag(t.state == TrackState::Up),
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
fn router_counter_families(rows: &[&VrrpRow]) -> Vec<Fam> {
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
        let c = &r.counters;
        let (all, to_master, to_backup) = (
            c.transitions as f64,
            c.became_master as f64,
            c.became_backup as f64,
        );
        transitions.add(with(&base, "to", "master"), to_master);
        transitions.add(with(&base, "to", "backup"), to_backup);
        // Every other change ends in Initialize (shutdown, link or parent down, protodown
        // refused).
        transitions.add(
            with(&base, "to", "initialize"),
            (all - to_master - to_backup).max(0.0),
        );
        for (reason, count) in DROP_REASONS {
            dropped.add(with(&base, "reason", reason), count(c) as f64);
        }
        for (fam, (_, _, count)) in counters.iter_mut().zip(ROUTER_COUNTERS) {
            fam.add(base.clone(), count(c) as f64);
        }
    }
    let mut fams = vec![transitions, dropped];
    fams.extend(counters);
    fams
}

/// VRRS leader names (servers) and pathways.
fn vrrs_families(vrrs_servers: &[ServerRow], vrrs_pathways: &[PathwayRow]) -> Vec<Fam> {
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
    for srv in sorted(vrrs_servers, |r| r.name.clone()) {
        let name: Labels = vec![("name", srv.name.clone())];
        for (st, on) in one_hot(&STATES, srv.state) {
            vrrs_state.add(with(&name, "state", st), on);
        }
        pushes.add(name, srv.pushes as f64);
    }
    let mut pathway = Fam::new(
        "netvrrp_vrrs_pathway_state",
        Gauge,
        "1 for the state each VRRS pathway is in",
    );
    let pathway_states = [
        PathwayState::Active,
        PathwayState::Inactive,
        PathwayState::NotReady,
    ]
    .map(|st| (st.as_str(), st));
    for p in sorted(vrrs_pathways, |r| (r.name.clone(), r.interface.clone())) {
        let base: Labels = vec![
            ("leader", p.name.clone()),
            ("interface", p.interface.clone()),
        ];
        for (st, on) in one_hot(&pathway_states, p.state) {
            pathway.add(with(&base, "state", st), on);
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
fn track_families(track: &[TrackRow]) -> Vec<Fam> {
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
        let base: Labels = vec![("name", t.name.clone()), ("kind", t.kind.to_string())];
        let up = if t.state == TrackState::Up { 1.0 } else { 0.0 };
        track_up.add(base.clone(), up);
        track_changes.add(base, t.changes as f64);
    }
    vec![track_up, track_changes]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(interface: &str, vrid: u8, state: State) -> VrrpRow {
        let mut r = crate::contract::samples::vrrp_rows().remove(0);
        r.name = None;
        (r.interface, r.vrid, r.state) = (interface.into(), vrid, state);
        (r.priority, r.effective_priority, r.last_change) = (200, 150, 1.5);
        r.advertisement_interval_ms = 1000;
        r.master_adver_interval_ms = 100.0;
        r.master_down_interval_ms = 3609.375;
        r.track = crate::contract::TrackContribution::of(
            &[crate::config::TrackConfig {
                target: crate::config::TrackTarget::Interface("eth9".into()),
                decrement: 20,
                fault: false,
            }],
            &[true],
        );
        r.counters = Counters {
            adverts_sent: 7,
            checksum_errors: 2,
            transitions: 5,
            became_master: 2,
            became_backup: 2,
            protodown_errors: 1,
            ..Counters::default()
        };
        r
    }

    fn server(name: &str, state: State, pushes: u64) -> ServerRow {
        ServerRow {
            name: name.into(),
            protocol: "vrrp".into(),
            interface: "eth0".into(),
            vrid: 5,
            family: crate::types::Family::Ipv4,
            connected: true,
            state,
            previous_state: None,
            reason: None,
            vmac: crate::types::MacAddr::vrrp(crate::types::Family::Ipv4, 5),
            vips: vec![],
            last_change: Some(2.0),
            owner: false,
            accept_mode: true,
            pathways: 1,
            pathways_active: 1,
            clients: 0,
            pushes,
        }
    }

    fn pathway(leader: &str, interface: &str, state: PathwayState) -> PathwayRow {
        PathwayRow {
            name: leader.into(),
            interface: interface.into(),
            device: None,
            state,
            leader_state: Some(State::Master),
            family: Some(crate::types::Family::Ipv4),
            vmac: None,
            mac_in_use: None,
            addresses: vec![],
            options: Default::default(),
            evaluation: Default::default(),
            device_group: None,
            transitions: 1,
        }
    }

    fn text(vrrp: &[VrrpRow], stats: &RuntimeStats) -> String {
        let servers = [server("group1", State::Master, 3)];
        let pathways = [pathway("group1", "eth1", PathwayState::Active)];
        let mut track = crate::contract::samples::track_rows();
        track.truncate(1);
        (track[0].name, track[0].changes) = ("web".into(), 3);
        render(
            vrrp,
            &servers,
            &pathways,
            &track,
            &RuntimeInfo {
                version: "0.1.0",
                stats,
                process: None,
            },
        )
    }

    /// Byte for byte what the renderer over `serde_json::Value` this one replaced wrote
    /// (src/contract/golden/ was written by that one).
    #[test]
    fn the_exposition_is_the_golden_text() {
        use crate::contract::{Listing, over_the_wire, samples};
        let mut vrrp = samples::vrrp_rows();
        vrrp.extend([
            row("eth1", 10, State::Backup),
            row("eth0", 2, State::Master),
        ]);
        vrrp.push(vrrp[0].clone());
        vrrp.last_mut().unwrap().name = Some("edge-\"a\"\n".into());
        let (_, vrrp) = over_the_wire(&vrrp, Listing::Routers);
        let servers = [
            server("group2", State::Backup, 1),
            server("group1", State::Master, 3),
            server("dark", State::Initialize, 0),
        ];
        let pathways = [
            pathway("group1", "eth2", PathwayState::Inactive),
            pathway("group1", "eth1", PathwayState::Active),
            pathway("dark", "eth3", PathwayState::NotReady),
        ];
        let track = samples::track_rows();
        let stats = RuntimeStats {
            reloads_changed: 4,
            drift_events: 2,
            config_sha256: sha256_hex(b"x"),
            ..RuntimeStats::default()
        };
        let process = Some(ProcessStats {
            cpu_seconds: 1.25,
            resident_bytes: 12_345_678.0,
            virtual_bytes: 1e9,
            open_fds: 12.0,
            max_fds: 1024.0,
            start_time_seconds: 1_765_090_000.5,
        });
        let info = RuntimeInfo {
            version: "0.1.0",
            stats: &stats,
            process,
        };
        let text = render(&vrrp, &servers, &pathways, &track, &info);
        assert_eq!(text, include_str!("../contract/golden/metrics.txt"));
        assert!(text.contains("netvrrp_vrrp_ra_sent_total"), "{text}");
    }

    #[test]
    fn router_advertisement_counters_are_exposed() {
        let mut r = row("eth0", 5, State::Master);
        r.family = crate::types::Family::Ipv6;
        let mut ra = crate::contract::samples::vrrp_rows()[1]
            .router_advertisements
            .clone()
            .unwrap();
        ra.state = RaState::Advertising;
        ra.counters = RaCounters {
            sent: 9,
            rs_answered: 3,
            rs_ignored: 1,
            rs_invalid: 2,
        };
        r.router_advertisements = Some(ra);
        let text = text(
            &[r, row("eth1", 6, State::Backup)],
            &RuntimeStats::default(),
        );
        let l = r#"interface="eth0",vrid="5",family="ipv6""#;
        for line in [
            format!(r#"netvrrp_vrrp_ra_advertising{{{l}}} 1"#),
            format!(r#"netvrrp_vrrp_ra_sent_total{{{l}}} 9"#),
            format!(r#"netvrrp_vrrp_ra_solicitations_total{{{l},outcome="answered"}} 3"#),
            format!(r#"netvrrp_vrrp_ra_solicitations_total{{{l},outcome="ignored"}} 1"#),
            format!(r#"netvrrp_vrrp_ra_solicitations_total{{{l},outcome="invalid"}} 2"#),
        ] {
            assert!(text.contains(&line), "{line} missing:\n{text}");
        }
        // A router without RAs has no such series.
        assert!(!text.contains(r#"netvrrp_vrrp_ra_sent_total{interface="eth1""#));
    }

    #[test]
    fn exposition_has_families_with_units_and_info() {
        let stats = RuntimeStats {
            reloads_changed: 4,
            reload_failures: 1,
            state_write_failures: 2,
            config_sha256: sha256_hex(b""),
            ..RuntimeStats::default()
        };
        stats.filter_failures.store(6, Ordering::Relaxed);
        let text = text(&[row("eth0", 5, State::Master)], &stats);
        let l = r#"interface="eth0",vrid="5",family="ipv4""#;
        for line in [
            format!(r#"netvrrp_vrrp_state{{{l},state="master"}} 1"#),
            format!(r#"netvrrp_vrrp_effective_priority{{{l}}} 150"#),
            format!(r#"netvrrp_vrrp_adverts_sent_total{{{l}}} 7"#),
            format!(r#"netvrrp_vrrp_adverts_dropped_total{{{l},reason="checksum"}} 2"#),
            format!(r#"netvrrp_vrrp_adverts_dropped_total{{{l},reason="ttl"}} 0"#),
            format!(r#"netvrrp_vrrp_transitions_total{{{l},to="master"}} 2"#),
            format!(r#"netvrrp_vrrp_transitions_total{{{l},to="initialize"}} 1"#),
            format!(r#"netvrrp_vrrp_protodown_failures_total{{{l}}} 1"#),
            format!(r#"netvrrp_vrrp_tracked_interface_up{{{l},tracked_interface="eth9"}} 0"#),
            format!(r#"netvrrp_vrrp_advertisement_interval_seconds{{{l}}} 1"#),
            format!(r#"netvrrp_vrrp_master_advertisement_interval_seconds{{{l}}} 0.1"#),
            format!(r#"netvrrp_vrrp_master_down_interval_seconds{{{l}}} 3.609375"#),
            r#"netvrrp_vrrs_pathway_state{leader="group1",interface="eth1",state="active"} 1"#.into(),
            "netvrrp_runtime_reloads_total 4".into(),
            "netvrrp_runtime_reload_failures_total 1".into(),
            "netvrrp_runtime_filter_failures_total 6".into(),
            "netvrrp_runtime_state_write_failures_total 2".into(),
            "# UNIT netvrrp_vrrp_master_down_interval_seconds seconds".into(),
            "# TYPE netvrrp_vrrp_adverts_dropped counter".into(),
            // sha256sum of the empty file.
            r#"netvrrp_runtime_info{version="0.1.0",config_sha256="e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"} 1"#.into(),
        ] {
            assert!(text.lines().any(|x| x == line), "missing {line}:\n{text}");
        }
        assert!(
            !text
                .lines()
                .any(|x| x.starts_with("netvrrp_vrrp_") && x.contains("{name=")),
            "no name label without a name: {text}"
        );
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

    #[test]
    fn series_order_is_stable_and_sorted() {
        let stats = RuntimeStats::default();
        let a = [
            row("eth1", 10, State::Backup),
            row("eth0", 9, State::Master),
            row("eth0", 2, State::Backup),
        ];
        let mut b = a.clone();
        b.reverse();
        let (ta, tb) = (text(&a, &stats), text(&b, &stats));
        assert_eq!(ta, tb);
        let pos = |needle: &str| ta.find(needle).unwrap_or(usize::MAX);
        assert!(pos(r#"interface="eth0",vrid="2""#) < pos(r#"interface="eth0",vrid="9""#));
        assert!(pos(r#"interface="eth0",vrid="9""#) < pos(r#"interface="eth1",vrid="10""#));
    }

    #[test]
    fn router_name_is_the_first_label_when_present() {
        let mut r = row("eth0", 5, State::Master);
        r.name = Some("edge-\"a\"".into());
        let text = text(&[r], &RuntimeStats::default());
        assert!(
            text.contains(r#"netvrrp_vrrp_priority{name="edge-\"a\"",interface="eth0",vrid="5",family="ipv4"} 200"#),
            "{text}"
        );
    }

    #[test]
    fn reloads_count_only_changes() {
        let dir = std::env::temp_dir().join(format!("netvrrp-metrics-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("vrrp.toml");
        std::fs::write(&f, "a").unwrap();
        let mut stats = RuntimeStats::new(&f);
        assert_eq!(stats.config_sha256, sha256_hex(b"a"));
        stats.reloaded(file_sha256(&f), false);
        assert_eq!(stats.reloads_changed, 0);
        stats.reloaded(file_sha256(&f), true);
        assert_eq!(stats.reloads_changed, 1);
        std::fs::write(&f, "b").unwrap();
        stats.reloaded(file_sha256(&f), false);
        assert_eq!(stats.reloads_changed, 2);
        assert_eq!(stats.config_sha256, sha256_hex(b"b"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn process_stats_parse_proc() {
        // A command name with spaces and a ')' must not shift the fields.
        let stat = "1234 (a b) c) S 1 1234 1234 0 -1 4194560 100 0 0 0 150 50 0 0 20 0 1 0 \
                    1000 2048000 300 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0";
        let p = parse_proc(stat, "cpu 1 2 3\nbtime 1700000000\n", 100.0, 4096.0).unwrap();
        assert_eq!(p.cpu_seconds, 2.0);
        assert_eq!(p.start_time_seconds, 1_700_000_010.0);
        assert_eq!(p.virtual_bytes, 2_048_000.0);
        assert_eq!(p.resident_bytes, 300.0 * 4096.0);
        let live = ProcessStats::read().expect("/proc/self readable");
        assert!(live.resident_bytes > 0.0 && live.open_fds >= 3.0 && live.max_fds >= live.open_fds);
    }
}
