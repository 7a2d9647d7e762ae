//! The runtime half of the desired state: what a runtime reports about itself, and how that
//! compares with a configuration file (the `runtime` section of `diff`, `check` and
//! `apply`). The kernel half is [`crate::plan`].

pub mod kernel;
pub mod routers;

use crate::config::{
    ClientConfig, Config, Location, PathwayConfig, RouterConfig, RuntimeConfig, TrackObject,
};
use routers::{ReloadReport, RouterChange};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Version of every JSON document netvrrp prints or answers (`schema` key): one number for
/// the whole outward contract, defined there.
pub use crate::contract::SCHEMA;

/// The `[runtime]` settings as a runtime runs them.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RuntimeSettings {
    pub metrics_listen: Option<String>,
    pub realtime_priority: Option<u8>,
    pub control_group: Option<String>,
    pub control_read_group: Option<String>,
    pub pathway_group_base: Option<u32>,
}

impl From<&RuntimeConfig> for RuntimeSettings {
    fn from(r: &RuntimeConfig) -> Self {
        RuntimeSettings {
            metrics_listen: r.metrics_listen.clone(),
            realtime_priority: r.realtime_priority,
            control_group: r.control_group.as_ref().map(|g| g.name.clone()),
            control_read_group: r.control_read_group.as_ref().map(|g| g.name.clone()),
            pathway_group_base: r.pathway_group_base,
        }
    }
}

/// What a runtime answers to the `running` control request: who it is and the configuration
/// it runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunningState {
    pub schema: u32,
    pub pid: u32,
    /// The file it runs (absolute).
    pub file: PathBuf,
    pub run_dir: PathBuf,
    /// Its network namespace, as `/proc/self/ns/net` names it (`net:[inode]`).
    pub netns: String,
    pub routers: Vec<RouterConfig>,
    pub pathways: Vec<PathwayConfig>,
    pub clients: Vec<ClientConfig>,
    /// `[[track]]` objects.
    #[serde(default)]
    pub tracks: Vec<TrackObject>,
    pub settings: RuntimeSettings,
    /// VRRS leader names that do not follow the state of the running router instance that
    /// serves them (runtime drift: a reload connects them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vrrs_unfollowed: Vec<String>,
}

/// The `runtime` section of `diff`, `check` and `apply --dry-run`. Every key is always
/// written (`pid` and `file` as null without a runtime): a script reads one shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuntimeDiff {
    /// A runtime holds this run-dir.
    pub running: bool,
    #[serde(default)]
    pub pid: Option<u32>,
    /// The file the runtime runs.
    #[serde(default)]
    pub file: Option<PathBuf>,
    /// Nothing to do for the runtime.
    pub in_sync: bool,
    /// Whole-runtime drift: not running, running another file.
    pub problems: Vec<String>,
    /// Every instance with its action (`keep` included).
    pub routers: Vec<RouterChange>,
    /// VRRS pathways and clients added or removed, leaders to connect to their router.
    pub vrrs: Vec<String>,
    /// `[[track]]` objects added, removed or changed.
    #[serde(default)]
    pub tracks: Vec<String>,
    /// `[runtime]` keys that differ.
    pub settings: Vec<String>,
}

impl RuntimeDiff {
    /// Text for `diff` and `apply --dry-run`: one line per change, nothing when in sync.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        if self.in_sync {
            return out;
        }
        out += "runtime:\n";
        for p in &self.problems {
            out += &format!("  {p}\n");
        }
        for c in self.routers.iter().filter(|c| !c.action.is_keep()) {
            out += &format!("  {c}\n");
        }
        for v in &self.vrrs {
            out += &format!("  vrrs: {v}\n");
        }
        for t in &self.tracks {
            out += &format!("  track: {t}\n");
        }
        for s in &self.settings {
            out += &format!("  [runtime] {s}\n");
        }
        out
    }
}

/// The `runtime` section of a real `apply --json`: the keys of [`RuntimeDiff`] (so a script
/// reads diff's and apply's alike), then those of the [`ReloadReport`] it was before.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuntimeApplied {
    /// `running`, `pid` and `file`: the runtime the apply left running; `in_sync`: it needed
    /// nothing; `problems`, `vrrs`, `tracks`, `settings`: what differed before (what the
    /// apply changed); `routers`: what was done to each instance.
    #[serde(flatten)]
    pub diff: RuntimeDiff,
    /// Instances the runtime runs after the apply.
    pub instances: usize,
    pub schema: u32,
}

impl RuntimeApplied {
    /// `before`: the comparison made before the apply; `report`: what its reload (or the
    /// start) did; `now`: the pid and file of the runtime running after it (None when it did
    /// not answer: `pid` and `file` are then null).
    pub fn new(
        before: RuntimeDiff,
        report: ReloadReport,
        now: Option<(u32, std::path::PathBuf)>,
    ) -> Self {
        let (pid, file) = now.unzip();
        RuntimeApplied {
            diff: RuntimeDiff {
                // The apply fails when the runtime cannot be started or reloaded.
                running: true,
                pid,
                file,
                in_sync: before.in_sync && !report.changed(),
                routers: report.routers,
                ..before
            },
            instances: report.instances,
            schema: report.schema,
        }
    }
}

/// Compare what runs (None: no runtime) with `desired`, read from `file`.
pub fn compare(running: Option<&RunningState>, desired: &Config, file: &Path) -> RuntimeDiff {
    let Some(run) = running else {
        return RuntimeDiff {
            running: false,
            pid: None,
            file: None,
            in_sync: false,
            problems: vec!["not running (apply starts it)".into()],
            routers: routers::plan(&[], &desired.routers),
            vrrs: Vec::new(),
            tracks: Vec::new(),
            settings: Vec::new(),
        };
    };
    let mut problems = Vec::new();
    let wanted = std::fs::canonicalize(file).unwrap_or_else(|_| file.to_path_buf());
    if run.file != wanted {
        problems.push(format!(
            "runs {} instead of {} (apply reloads it with this file)",
            run.file.display(),
            wanted.display()
        ));
    }
    let routers = routers::plan(&run.routers, &desired.routers);
    let mut vrrs = list_changes("pathway", &run.pathways, &desired.pathways, |p| {
        format!("{} on {}", p.leader, p.interface)
    });
    vrrs.extend(list_changes(
        "client",
        &run.clients,
        &desired.clients,
        |c| format!("{} {}", c.leader, client_kind(c)),
    ));
    // Only what the file still names: a reload is what connects it.
    vrrs.extend(
        run.vrrs_unfollowed
            .iter()
            .filter(|name| desired.routers.iter().any(|r| r.vrrs_leader.contains(name)))
            .map(|name| format!("connect leader {name} (it does not follow its router's state)")),
    );
    // A changed object is one removal and one addition of the same name: say "change".
    let mut tracks = list_changes("track", &run.tracks, &desired.tracks, |t| t.name.clone());
    let added: Vec<String> = tracks
        .iter()
        .filter_map(|t| t.strip_prefix("add track ").map(String::from))
        .collect();
    tracks.retain(|t| {
        !t.strip_prefix("remove track ")
            .is_some_and(|n| added.iter().any(|a| a == n))
    });
    for t in tracks.iter_mut() {
        if let Some(n) = t.strip_prefix("add track ")
            && run.tracks.iter().any(|o| o.name == n)
        {
            *t = format!("change track {n}");
        }
    }
    let settings = settings_changes(&run.settings, &RuntimeSettings::from(&desired.runtime));
    let in_sync = problems.is_empty()
        && routers.iter().all(|c| c.action.is_keep())
        && vrrs.is_empty()
        && tracks.is_empty()
        && settings.is_empty();
    RuntimeDiff {
        running: true,
        pid: Some(run.pid),
        file: Some(run.file.clone()),
        in_sync,
        problems,
        routers,
        vrrs,
        tracks,
        settings,
    }
}

fn client_kind(c: &ClientConfig) -> &'static str {
    match c.kind {
        crate::config::ClientKind::InterfaceState { .. } => "interface-state",
        crate::config::ClientKind::Accounting { .. } => "accounting",
        crate::config::ClientKind::Exec { .. } => "exec",
    }
}

/// Entries only in `old` ("remove …") or only in `new` ("add …"), by value, ignoring where
/// they are written in the file.
fn list_changes<T: Clone + PartialEq + WithLocation>(
    what: &str,
    old: &[T],
    new: &[T],
    name: impl Fn(&T) -> String,
) -> Vec<String> {
    let old: Vec<T> = old.iter().map(WithLocation::unplaced).collect();
    let new: Vec<T> = new.iter().map(WithLocation::unplaced).collect();
    let mut out = Vec::new();
    for o in old.iter().filter(|o| !new.contains(o)) {
        out.push(format!("remove {what} {}", name(o)));
    }
    for n in new.iter().filter(|n| !old.contains(n)) {
        out.push(format!("add {what} {}", name(n)));
    }
    out
}

/// Configuration entries carry their place in the file, which is not part of their value.
trait WithLocation {
    fn unplaced(&self) -> Self;
}

impl WithLocation for PathwayConfig {
    fn unplaced(&self) -> Self {
        PathwayConfig {
            location: Location::default(),
            ..self.clone()
        }
    }
}

impl WithLocation for TrackObject {
    fn unplaced(&self) -> Self {
        TrackObject {
            location: Location::default(),
            ..self.clone()
        }
    }
}

impl WithLocation for ClientConfig {
    fn unplaced(&self) -> Self {
        ClientConfig {
            location: Location::default(),
            ..self.clone()
        }
    }
}

/// The `[runtime]` keys read once at start (the listener and the scheduling policy) whose
/// value in the file differs from the one the runtime started with: a reload cannot change
/// them, so say what will.
pub fn restart_pending(started: &RuntimeSettings, file: &RuntimeSettings) -> Vec<String> {
    let mut out = Vec::new();
    if started.metrics_listen != file.metrics_listen {
        out.push("metrics-listen (takes effect when the runtime restarts)".into());
    }
    if started.realtime_priority != file.realtime_priority {
        out.push("realtime-priority (takes effect when the runtime restarts)".into());
    }
    out
}

fn settings_changes(old: &RuntimeSettings, new: &RuntimeSettings) -> Vec<String> {
    let mut out = restart_pending(old, new);
    if old.control_group != new.control_group {
        out.push("control-group".into());
    }
    if old.control_read_group != new.control_read_group {
        out.push("control-read-group".into());
    }
    if old.pathway_group_base != new.pathway_group_base {
        out.push("pathway-group-base".into());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"
[[vrrp]]
interface = "eth0"
vrid = 1
priority = 200
ipv4 = ["192.0.2.1/24"]
"#;

    fn running(text: &str, file: &Path) -> RunningState {
        let c = crate::config::parse_str(text, "t.toml").unwrap();
        RunningState {
            schema: SCHEMA,
            pid: 1,
            file: file.to_path_buf(),
            run_dir: "/run/netvrrp".into(),
            netns: "net:[1]".into(),
            routers: c.routers,
            pathways: c.pathways,
            clients: c.clients,
            tracks: c.tracks,
            settings: RuntimeSettings::from(&c.runtime),
            vrrs_unfollowed: Vec::new(),
        }
    }

    #[test]
    fn no_runtime_is_drift_and_every_router_is_added() {
        let c = crate::config::parse_str(FILE, "t.toml").unwrap();
        let d = compare(None, &c, Path::new("/x.toml"));
        assert!(!d.in_sync && !d.running);
        assert_eq!(d.routers[0].action, routers::RouterAction::Add);
        assert!(d.render_text().contains("not running"));
    }

    #[test]
    fn same_file_and_config_is_in_sync_another_file_is_not() {
        let c = crate::config::parse_str(FILE, "t.toml").unwrap();
        let run = running(FILE, Path::new("/x.toml"));
        let d = compare(Some(&run), &c, Path::new("/x.toml"));
        assert!(d.in_sync, "{d:?}");
        assert_eq!(d.render_text(), "");
        let d = compare(Some(&run), &c, Path::new("/y.toml"));
        assert!(!d.in_sync);
        assert!(d.problems[0].contains("/x.toml"), "{d:?}");
    }

    #[test]
    fn a_priority_edit_is_drift_naming_the_attribute() {
        let c =
            crate::config::parse_str(&FILE.replace("priority = 200", "priority = 150"), "t.toml")
                .unwrap();
        let run = running(FILE, Path::new("/x.toml"));
        let d = compare(Some(&run), &c, Path::new("/x.toml"));
        assert!(!d.in_sync);
        let v = serde_json::to_value(&d).unwrap();
        assert_eq!(v["routers"][0]["action"], "reconfigure");
        assert_eq!(v["routers"][0]["attributes"][0], "priority");
        assert!(
            d.render_text()
                .contains("eth0 vrid 1 ipv4: reconfigure (priority)")
        );
    }

    /// A leader that does not follow its running router is drift until a reload connects
    /// it; one the file no longer names is not (the reload removes it).
    #[test]
    fn a_leader_that_does_not_follow_its_router_is_drift() {
        let text = FILE.replace("priority = 200", "priority = 200\nvrrs-leader = [\"grp\"]");
        let c = crate::config::parse_str(&text, "t.toml").unwrap();
        let mut run = running(&text, Path::new("/x.toml"));
        assert!(compare(Some(&run), &c, Path::new("/x.toml")).in_sync);
        run.vrrs_unfollowed = vec!["grp".into()];
        let d = compare(Some(&run), &c, Path::new("/x.toml"));
        assert!(!d.in_sync, "{d:?}");
        assert!(
            d.render_text().contains("vrrs: connect leader grp"),
            "{}",
            d.render_text()
        );
        let c = crate::config::parse_str(FILE, "t.toml").unwrap();
        let d = compare(Some(&run), &c, Path::new("/x.toml"));
        assert!(d.vrrs.is_empty(), "{d:?}");
        // What an older runtime answers (no such key) reads as nothing unfollowed.
        let mut v = serde_json::to_value(&run).unwrap();
        v.as_object_mut().unwrap().remove("vrrs_unfollowed");
        let back: RunningState = serde_json::from_value(v).unwrap();
        assert!(back.vrrs_unfollowed.is_empty());
    }

    /// The keys of a JSON object, sorted.
    fn keys_of(v: &serde_json::Value) -> Vec<String> {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    }

    #[test]
    fn every_runtime_section_key_is_written_even_without_a_runtime() {
        let c = crate::config::parse_str(FILE, "t.toml").unwrap();
        let none = serde_json::to_value(compare(None, &c, Path::new("/x.toml"))).unwrap();
        let run = running(FILE, Path::new("/x.toml"));
        let some = serde_json::to_value(compare(Some(&run), &c, Path::new("/x.toml"))).unwrap();
        let keys = [
            "file", "in_sync", "pid", "problems", "routers", "running", "settings", "tracks",
            "vrrs",
        ];
        assert_eq!(keys_of(&none), keys);
        assert_eq!(keys_of(&some), keys);
        assert_eq!(none["pid"], serde_json::Value::Null);
        assert_eq!(none["file"], serde_json::Value::Null);
        assert_eq!(some["pid"], 1);
    }

    #[test]
    fn a_first_start_is_not_in_sync_and_counts_its_instances() {
        let two = format!("{FILE}ipv6 = [\"2001:db8::1/64\"]\n");
        let c = crate::config::parse_str(&two, "t.toml").unwrap();
        let before = compare(None, &c, Path::new("/x.toml"));
        let now = running(&two, Path::new("/x.toml"));
        let applied = RuntimeApplied::new(
            before,
            ReloadReport::started(&c.routers),
            Some((now.pid, now.file.clone())),
        );
        let v = serde_json::to_value(&applied).unwrap();
        // Diff's keys, and the reload report's two.
        let mut keys = keys_of(&serde_json::to_value(&applied.diff).unwrap());
        keys.extend(["instances".to_string(), "schema".to_string()]);
        keys.sort();
        assert_eq!(keys_of(&v), keys);
        assert_eq!(v["running"], true);
        assert_eq!(v["in_sync"], false);
        assert_eq!(v["pid"], 1);
        assert_eq!(v["file"], "/x.toml");
        assert_eq!(v["instances"], 2);
        assert_eq!(v["routers"][0]["action"], "add");
        assert!(v["problems"][0].as_str().unwrap().contains("not running"));
    }

    #[test]
    fn a_reload_is_in_sync_only_when_it_needed_nothing() {
        let c = crate::config::parse_str(FILE, "t.toml").unwrap();
        let run = running(FILE, Path::new("/x.toml"));
        let kept = ReloadReport {
            schema: SCHEMA,
            routers: routers::plan(&run.routers, &c.routers),
            instances: 1,
            restart_pending: Vec::new(),
        };
        let before = compare(Some(&run), &c, Path::new("/x.toml"));
        let applied = RuntimeApplied::new(before, kept.clone(), Some((run.pid, run.file.clone())));
        assert!(applied.diff.in_sync, "{applied:?}");
        // Another file: nothing per router, but the runtime had to reload.
        let before = compare(Some(&run), &c, Path::new("/y.toml"));
        let applied = RuntimeApplied::new(before, kept, Some((run.pid, run.file.clone())));
        assert!(!applied.diff.in_sync, "{applied:?}");
        // A reconfigured router.
        let edited =
            crate::config::parse_str(&FILE.replace("priority = 200", "priority = 150"), "t.toml")
                .unwrap();
        let before = compare(Some(&run), &edited, Path::new("/x.toml"));
        let report = ReloadReport {
            schema: SCHEMA,
            routers: routers::plan(&run.routers, &edited.routers),
            instances: 1,
            restart_pending: Vec::new(),
        };
        let applied = RuntimeApplied::new(before, report, None);
        assert!(!applied.diff.in_sync, "{applied:?}");
        assert_eq!(applied.diff.pid, None);
    }

    #[test]
    fn running_state_round_trips() {
        let mut run = running(FILE, Path::new("/x.toml"));
        // Where a router is written is not part of what runs.
        run.routers[0].location = Location::default();
        let text = serde_json::to_string(&run).unwrap();
        let back: RunningState = serde_json::from_str(&text).unwrap();
        assert_eq!(back, run);
    }
}
