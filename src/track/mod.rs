//! Health tracking: `[[track]]` objects (netvrrp.toml(5), "TRACKING") whose up/down state
//! lowers a router's priority or faults it.
//!
//! One tracker task per object, one file per kind: [`exec`] (a check run every interval,
//! through [`run`]), [`process`] (the kernel's process events connector and pidfds),
//! [`file`] (inotify) and [`route`] (rtnetlink route notifications). A tracker reports its
//! object's state over a channel; the runtime's event loop hands each [`Report`] to
//! [`TrackSet::apply`], which keeps the state `show track` prints, logs the change once, and
//! tells the loop to feed `Input::TrackChanged` to the routers that reference the object.
//!
//! The loop owns the [`TrackSet`]; [`TrackSet::reconfigure`] rebuilds it from a new
//! configuration (on start and on a reload): unchanged objects keep their tracker and
//! state, changed or new ones get a fresh tracker (and a new generation, so reports still
//! queued from the old one are ignored), removed ones are stopped.

pub mod exec;
pub mod file;
pub mod process;
pub mod route;
pub mod show;

use crate::config::{Config, TrackConfig, TrackKind, TrackObject};
use crate::contract::TrackRow;
use serde::Serialize;
use std::collections::{HashMap, VecDeque};
use std::os::fd::{FromRawFd, OwnedFd};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::io::unix::AsyncFd;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Lines of a check's output kept for `show track`.
pub use crate::hook::OUTPUT_LINES;

/// A state change, for `subscribe`.
#[derive(Debug, Clone)]
pub struct TrackEvent {
    pub name: String,
    pub kind: &'static str,
    pub up: bool,
    pub result: String,
    /// Seconds since the Unix epoch.
    pub time: f64,
}

/// A tracker's word on its object: `up` is its current state.
#[derive(Debug, Clone)]
pub struct Report {
    pub name: String,
    pub generation: u64,
    pub up: bool,
}

/// What `show track` prints about one object, updated by its tracker (details) and by the
/// loop (state, since).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Status {
    /// The state the routers see ("up" / "down").
    pub up: bool,
    /// When that state began, seconds since the Unix epoch.
    pub since: f64,
    /// The last observation, in words (`exit status 1`, `pid 412 exited`, `file missing`).
    pub last_result: String,
    /// When the last observation was made.
    pub last_checked: f64,
    /// exec: how the last run ended (`exit status 0`, `timed out after 500 ms`, ...).
    pub exit_status: Option<String>,
    /// exec: the last lines of the last run's output (stdout and stderr).
    pub output: VecDeque<String>,
    /// State changes since the object was created.
    pub changes: u64,
}

/// Register a descriptor this task owns with tokio.
pub(crate) fn async_fd(fd: OwnedFd) -> std::io::Result<AsyncFd<OwnedFd>> {
    // SAFETY: the AsyncFd owns the descriptor, so it stays open and the same as long as it
    // is registered.
    unsafe { AsyncFd::register(fd) }.map_err(std::io::Error::from)
}

/// A pidfd of `pid`, ready to await: it becomes readable when the process exits.
pub(crate) fn pidfd(pid: i32) -> std::io::Result<AsyncFd<OwnedFd>> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let fd = i32::try_from(fd).map_err(|_| std::io::Error::other("bad descriptor"))?;
    // SAFETY: the kernel just returned this descriptor, owned by nobody else.
    async_fd(unsafe { OwnedFd::from_raw_fd(fd) })
}

pub(crate) fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn lock(m: &Mutex<Status>) -> MutexGuard<'_, Status> {
    // A tracker that panicked mid-update leaves a readable status: take it as is.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A tracker's handle to report through.
#[derive(Clone)]
pub struct Reporter {
    name: String,
    generation: u64,
    tx: mpsc::UnboundedSender<Report>,
    status: Arc<Mutex<Status>>,
}

impl Reporter {
    /// Record an observation (for `show track`) without reporting a state.
    pub fn record(&self, result: impl Into<String>) {
        let mut st = lock(&self.status);
        st.last_result = result.into();
        st.last_checked = unix_now();
    }

    /// Record an observation and report the state it implies (the loop ignores a report
    /// that changes nothing).
    pub fn report(&self, up: bool, result: impl Into<String>) {
        self.record(result);
        // The loop gone means the runtime is stopping.
        let _ = self.tx.send(Report {
            name: self.name.clone(),
            generation: self.generation,
            up,
        });
    }

    /// exec: the end and output of the last run.
    pub fn exec_details(&self, exit_status: String, output: VecDeque<String>) {
        let mut st = lock(&self.status);
        st.exit_status = Some(exit_status);
        st.output = output;
    }
}

struct Tracker {
    config: TrackObject,
    generation: u64,
    status: Arc<Mutex<Status>>,
    task: JoinHandle<()>,
}

impl Drop for Tracker {
    fn drop(&mut self) {
        // An exec check still running is killed by its own task's drop guard.
        self.task.abort();
    }
}

/// The state an object has before its tracker's first report: exec objects start in their
/// configured `initial` state; file and process objects are looked at now (cheap, and an
/// address owner must not start as Master for the milliseconds until the first report);
/// a route object counts as up until its first dump (milliseconds).
pub fn initial_up(kind: &TrackKind) -> bool {
    match kind {
        TrackKind::Exec { initial_up, .. } => *initial_up,
        TrackKind::File { path, up_when } => file::evaluate(path, *up_when).0,
        TrackKind::Process { target } => process::running_now(target),
        TrackKind::Route { .. } => true,
    }
}

/// Every tracker of the runtime.
pub struct TrackSet {
    trackers: HashMap<String, Tracker>,
    next_generation: u64,
    tx: mpsc::UnboundedSender<Report>,
    rx: Option<mpsc::UnboundedReceiver<Report>>,
    events: tokio::sync::broadcast::Sender<TrackEvent>,
}

impl TrackSet {
    /// An empty set; call [`TrackSet::reconfigure`] (inside the tokio runtime) to start it.
    pub fn new() -> TrackSet {
        let (tx, rx) = mpsc::unbounded_channel();
        TrackSet {
            trackers: HashMap::new(),
            next_generation: 1,
            tx,
            rx: Some(rx),
            events: tokio::sync::broadcast::channel(256).0,
        }
    }

    /// State changes from now on (`subscribe`).
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<TrackEvent> {
        self.events.subscribe()
    }

    /// The receiving end of the reports (taken once, by the event loop).
    pub fn take_reports(&mut self) -> Option<mpsc::UnboundedReceiver<Report>> {
        self.rx.take()
    }

    /// Follow `config`: keep unchanged objects, restart changed ones, stop removed ones.
    /// Returns the names whose state may have changed (new, changed or removed objects).
    pub fn reconfigure(&mut self, config: &Config) -> Vec<String> {
        let mut touched = Vec::new();
        // The state of a replaced exec object carries over to its successor: a new interval
        // or timeout must not send a healthy object back to `initial` (and through `rise`).
        let mut carried: HashMap<String, (bool, f64)> = HashMap::new();
        self.trackers.retain(|name, t| {
            let keep = config
                .tracks
                .iter()
                .any(|o| o.name == *name && o.kind == t.config.kind);
            if !keep {
                touched.push(name.clone());
                let st = lock(&t.status);
                carried.insert(name.clone(), (st.up, st.since));
            }
            keep
        });
        for object in &config.tracks {
            if self.trackers.contains_key(&object.name) {
                continue;
            }
            let generation = self.next_generation;
            self.next_generation += 1;
            let mut kind = object.kind.clone();
            let (mut up, mut since) = (initial_up(&kind), unix_now());
            if let TrackKind::Exec { initial_up, .. } = &mut kind
                && let Some(&(was_up, was_since)) = carried.get(&object.name)
            {
                *initial_up = was_up;
                (up, since) = (was_up, was_since);
            }
            let status = Arc::new(Mutex::new(Status {
                up,
                since,
                last_result: "not checked yet".into(),
                ..Status::default()
            }));
            let reporter = Reporter {
                name: object.name.clone(),
                generation,
                tx: self.tx.clone(),
                status: status.clone(),
            };
            let task = match &object.kind {
                TrackKind::Exec { .. } => exec::spawn(kind, reporter),
                TrackKind::Process { target } => process::spawn(target.clone(), reporter),
                TrackKind::File { path, up_when } => file::spawn(path.clone(), *up_when, reporter),
                TrackKind::Route { prefix, table } => route::spawn(*prefix, *table, reporter),
            };
            tracing::info!(target: "netvrrp::track", name = %object.name, kind = object.kind_name(), "tracking");
            touched.push(object.name.clone());
            self.trackers.insert(
                object.name.clone(),
                Tracker {
                    config: object.clone(),
                    generation,
                    status,
                    task,
                },
            );
        }
        // A changed object was both removed and added.
        touched.sort();
        touched.dedup();
        touched
    }

    /// Take a report in: true when the object's state changed (then feed the routers).
    /// Logs the change, once.
    pub fn apply(&mut self, report: &Report) -> bool {
        let Some(t) = self.trackers.get(&report.name) else {
            return false;
        };
        if t.generation != report.generation {
            return false;
        }
        let mut st = lock(&t.status);
        if st.up == report.up {
            return false;
        }
        st.up = report.up;
        st.since = unix_now();
        st.changes += 1;
        let (name, kind, result) = (&report.name, t.config.kind_name(), &st.last_result);
        // No subscriber is fine.
        let _ = self.events.send(TrackEvent {
            name: name.clone(),
            kind,
            up: report.up,
            result: result.clone(),
            time: st.since,
        });
        // One line per change: down is what an operator must act on.
        if report.up {
            tracing::info!(target: "netvrrp::track", %name, kind, state = "up", %result, "track object {name} is up: {result}");
        } else {
            tracing::warn!(target: "netvrrp::track", %name, kind, state = "down", %result, "track object {name} is down: {result}");
        }
        true
    }

    /// The state routers see; None for a name the set does not hold.
    pub fn is_up(&self, name: &str) -> Option<bool> {
        self.trackers.get(name).map(|t| lock(&t.status).up)
    }

    /// The objects' names, in name order.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.trackers.keys().cloned().collect();
        names.sort();
        names
    }

    /// `show track [NAME]`: one row per object, in name order.
    pub fn show(&self, name: Option<&str>) -> Vec<TrackRow> {
        let mut names: Vec<&String> = self.trackers.keys().collect();
        names.sort();
        names
            .into_iter()
            .filter(|n| name.is_none_or(|w| w == n.as_str()))
            .filter_map(|n| {
                let t = self.trackers.get(n)?;
                let st = lock(&t.status).clone();
                Some(TrackRow {
                    name: n.clone(),
                    kind: t.config.kind_name().into(),
                    state: crate::contract::TrackState::of(st.up),
                    since: st.since,
                    last_result: st.last_result,
                    last_checked: st.last_checked,
                    exit_status: st.exit_status,
                    output: st.output,
                    changes: st.changes,
                    config: t.config.kind.clone(),
                })
            })
            .collect()
    }
}

impl Default for TrackSet {
    fn default() -> Self {
        TrackSet::new()
    }
}

/// Whether a router's track entry is up: an interface is up while admin up with carrier
/// (from the kernel snapshot), an object as the [`TrackSet`] holds it (an unknown name,
/// which the configuration check prevents, counts as up).
pub fn entry_up(entry: &TrackConfig, snapshot: &crate::kernel::Snapshot, set: &TrackSet) -> bool {
    match (entry.interface(), entry.object()) {
        (Some(i), _) => snapshot.by_name(i).is_some_and(|l| l.admin_up && l.carrier),
        (None, Some(o)) => set.is_up(o).unwrap_or(true),
        (None, None) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn config(text: &str) -> Config {
        crate::config::parse_str(text, "t.toml").unwrap_or_else(|e| panic!("{e}"))
    }

    async fn next(rx: &mut mpsc::UnboundedReceiver<Report>) -> Report {
        tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .expect("a report")
            .expect("open channel")
    }

    #[tokio::test]
    async fn track_set_follows_reports_and_reconfigures() {
        let dir = std::env::temp_dir().join(format!("netvrrp-trackset-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (a, b) = (dir.join("a"), dir.join("b"));
        std::fs::write(&a, "").unwrap();
        let _ = std::fs::remove_file(&b);
        let object = |p: &std::path::Path| {
            config(&format!(
                "[[track]]\nname = \"f\"\nkind = \"file\"\nfile = {:?}\n[[track]]\nname = \"e\"\nkind = \"exec\"\ncommand = [\"/bin/true\"]\ninterval-ms = 100000\n",
                p.to_string_lossy()
            ))
        };
        let mut set = TrackSet::new();
        let mut rx = set.take_reports().unwrap();
        assert!(set.take_reports().is_none());
        let mut touched = set.reconfigure(&object(&a));
        touched.sort();
        assert_eq!(touched, ["e", "f"]);
        // Exec starts in its initial state (down), the others up.
        assert_eq!(set.is_up("e"), Some(false));
        assert_eq!(set.is_up("f"), Some(true));
        assert_eq!(set.is_up("nope"), None);
        let mut changed = 0;
        for _ in 0..2 {
            let r = next(&mut rx).await;
            changed += usize::from(set.apply(&r));
        }
        // The file exists (no change); the check passed (down -> up).
        assert_eq!(changed, 1);
        assert_eq!(set.is_up("e"), Some(true));
        // Unchanged objects are kept; a changed one restarts with a new generation.
        assert!(set.reconfigure(&object(&a)).is_empty());
        // A changed exec object keeps its state (up), not its `initial` (down).
        let mut faster = object(&a);
        if let TrackKind::Exec { interval_ms, .. } = &mut faster.tracks[1].kind {
            *interval_ms = 200_000;
        }
        assert_eq!(set.reconfigure(&faster), ["e"]);
        assert_eq!(set.is_up("e"), Some(true));
        let r = next(&mut rx).await;
        assert!(!set.apply(&r), "the first run confirms the carried state");
        assert_eq!(set.reconfigure(&object(&a)), ["e"]);
        let r = next(&mut rx).await;
        assert!(!set.apply(&r));
        let old = Report {
            name: "f".into(),
            generation: 1,
            up: false,
        };
        assert_eq!(set.reconfigure(&object(&b)), ["f"]);
        assert!(
            !set.apply(&old),
            "a report of the replaced tracker is ignored"
        );
        // A file object is looked at when it is created: down at once, the report agrees.
        assert_eq!(set.is_up("f"), Some(false));
        let r = next(&mut rx).await;
        assert!(!set.apply(&r));
        let rows = set.show(Some("f"));
        assert_eq!(rows[0].state, crate::contract::TrackState::Down);
        assert_eq!(rows[0].last_result, "file missing");
        assert_eq!(rows[0].changes, 0);
        // Removed objects are stopped and reported as touched.
        let mut gone = set.reconfigure(&Config::default());
        gone.sort();
        assert_eq!(gone, ["e", "f"]);
        assert_eq!(set.show(None), []);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
