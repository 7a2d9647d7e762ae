//! VRRS client executors. Each client gets its own tokio task behind a non-blocking handle,
//! so a slow client (a hung script, a stalled disk) never delays the runtime's loop, and so
//! never an advert.
//!
//! - `accounting`: one JSON line per transition appended to `path` (created 0640, never
//!   truncated, reopened per line so logrotate can move it, fsync'd per line). Lines queue in
//!   a bounded channel; if the disk stalls long enough to fill it, further lines are dropped
//!   and counted (the `seq` gap shows it) rather than growing memory without bound.
//! - `exec`: `command` as argv (no shell, nothing interpolated) with the transition in the
//!   environment; at most one run at a time per client, notices arriving meanwhile coalesced
//!   to the latest; run like every hook (src/hook: cleared environment, cwd `/`, optional
//!   user/group, the whole process tree killed after `timeout`, setsid() or not).
//! - `interface-state`: no task; its admin up/down is a [`ClientEffect`] in the
//!   [`super::Fanout`] for the runtime's netlink handle.
//!
//! Environment of an `exec` run (states as in the JSON: `initialize`, `backup`, `master`),
//! and nothing else but `PATH` ([`crate::hook::PATH`]): `NETVRRP_NAME`, `NETVRRP_STATE`, `NETVRRP_PREVIOUS_STATE`, `NETVRRP_VMAC` (colon form),
//! `NETVRRP_VIPS` (space-separated addresses), `NETVRRP_REASON`, `NETVRRP_TIME` (Unix seconds),
//! `NETVRRP_SEQ`, `NETVRRP_COALESCED` (notices skipped since the previous run).

use super::{ClientNotice, TARGET};
use crate::config::{ClientConfig, ClientKind, Config};
use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, mpsc};

/// Kernel work a client needs from the runtime.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum ClientEffect {
    /// `interface-state`: set IFF_UP of `interface` (up only while the leader is Master).
    SetAdminState { interface: String, up: bool },
}

/// Counters of one client runner (`show vrrs client`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClientStats {
    /// Notices handed to the runner.
    pub notices: u64,
    /// exec: runs started.
    pub runs: u64,
    /// exec: runs that exited non-zero, were killed, or could not start.
    pub failures: u64,
    /// exec: runs killed at the timeout.
    pub timeouts: u64,
    /// exec: notices replaced by a later one before they could run.
    pub coalesced: u64,
    /// exec: a run is in progress.
    pub running: bool,
    /// exec: how the last run ended (`exit status: 0`, `killed after 5000 ms`, ...).
    pub last_exit: Option<String>,
    /// accounting: lines written and fsync'd.
    pub lines_written: u64,
    /// accounting: lines lost to I/O errors or to a full queue.
    pub lines_dropped: u64,
    /// The last error, if any.
    pub last_error: Option<String>,
}

/// How many accounting lines may wait for a stalled disk.
const ACCOUNTING_QUEUE: usize = 1024;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding these short locks leaves plain counters behind: keep going.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The latest exec notice not yet taken, and how many it replaced.
#[derive(Default)]
struct Slot {
    latest: Option<ClientNotice>,
    pending: u64,
    closed: bool,
}

struct ExecShared {
    slot: Mutex<Slot>,
    wake: Notify,
}

enum Feed {
    /// interface-state: effects travel in the Fanout; nothing to run.
    None,
    Accounting(mpsc::Sender<ClientNotice>),
    Exec(Arc<ExecShared>),
}

/// The handle of one client's task. Dropping it lets the task finish what it is doing (an
/// exec run is still bounded by its timeout) and end.
pub struct ClientRunner {
    index: usize,
    feed: Feed,
    stats: Arc<Mutex<ClientStats>>,
    config: ClientConfig,
    /// The client's task (None for `interface-state`), for [`ClientRunners::finish`].
    task: Option<tokio::task::JoinHandle<()>>,
}

impl ClientRunner {
    /// Start the task of client `index` (its position in `Config::clients`). Must be called
    /// within a tokio runtime.
    pub fn spawn(index: usize, config: &ClientConfig) -> ClientRunner {
        let stats = Arc::new(Mutex::new(ClientStats::default()));
        let mut task = None;
        let feed = match &config.kind {
            ClientKind::InterfaceState { .. } => Feed::None,
            ClientKind::Accounting { path } => {
                let (tx, rx) = mpsc::channel(ACCOUNTING_QUEUE);
                task = Some(tokio::spawn(accounting_task(
                    index,
                    path.clone(),
                    rx,
                    stats.clone(),
                )));
                Feed::Accounting(tx)
            }
            ClientKind::Exec {
                command,
                timeout_ms,
                run_as,
            } => {
                let shared = Arc::new(ExecShared {
                    slot: Mutex::new(Slot::default()),
                    wake: Notify::new(),
                });
                task = Some(tokio::spawn(exec_task(
                    index,
                    crate::hook::Hook::new(command.clone(), *run_as),
                    Duration::from_millis(u64::from(*timeout_ms)),
                    shared.clone(),
                    stats.clone(),
                )));
                Feed::Exec(shared)
            }
        };
        ClientRunner {
            index,
            feed,
            stats,
            config: config.clone(),
            task,
        }
    }

    /// Hand a notice to the client. Never blocks and never waits for the client.
    pub fn notify(&self, notice: ClientNotice) {
        lock(&self.stats).notices += 1;
        match &self.feed {
            Feed::None => {}
            Feed::Accounting(tx) => {
                if let Err(e) = tx.try_send(notice) {
                    let mut st = lock(&self.stats);
                    st.lines_dropped += 1;
                    st.last_error = Some("queue full (disk stalled?)".into());
                    // A stalled disk loses every line: warn at 1, 2, 4, 8… not once per line.
                    if st.lines_dropped.is_power_of_two() {
                        tracing::warn!(target: TARGET, client = self.index + 1, dropped = st.lines_dropped, "accounting line dropped: {e}");
                    }
                }
            }
            Feed::Exec(shared) => {
                let mut slot = lock(&shared.slot);
                slot.pending += 1;
                slot.latest = Some(notice);
                drop(slot);
                // notify_one stores a permit when the task is busy: no wake-up is lost.
                shared.wake.notify_one();
            }
        }
    }

    pub fn index(&self) -> usize {
        self.index
    }

    /// A copy of the runner's counters.
    pub fn stats(&self) -> ClientStats {
        lock(&self.stats).clone()
    }
}

impl Drop for ClientRunner {
    fn drop(&mut self) {
        if let Feed::Exec(shared) = &self.feed {
            lock(&shared.slot).closed = true;
            shared.wake.notify_one();
        }
    }
}

/// The runners of every client of a configuration, by client index.
#[derive(Default)]
pub struct ClientRunners {
    runners: Vec<ClientRunner>,
}

impl ClientRunners {
    /// Start one runner per `[[vrrs.client]]`. Must be called within a tokio runtime.
    pub fn spawn(config: &Config) -> ClientRunners {
        ClientRunners {
            runners: config
                .clients
                .iter()
                .enumerate()
                .map(|(i, c)| ClientRunner::spawn(i, c))
                .collect(),
        }
    }

    /// Follow a new configuration (reload): runners of unchanged clients carry over (so an
    /// exec still running stays the only one), others stop and new ones start.
    pub fn reconfigure(&mut self, config: &Config) {
        let mut old: Vec<Option<ClientRunner>> = std::mem::take(&mut self.runners)
            .into_iter()
            .map(Some)
            .collect();
        for (i, c) in config.clients.iter().enumerate() {
            let kept = old.iter_mut().find_map(|slot| {
                if slot
                    .as_ref()
                    .is_some_and(|r| r.config.leader == c.leader && r.config.kind == c.kind)
                {
                    slot.take()
                } else {
                    None
                }
            });
            self.runners.push(match kept {
                Some(mut r) => {
                    r.index = i;
                    r
                }
                None => ClientRunner::spawn(i, c),
            });
        }
    }

    /// Hand every notice of a fan-out to its client (non-blocking).
    pub fn dispatch(&self, fanout: &super::Fanout) {
        for notice in fanout.notices() {
            if let Some(r) = self.runners.get(notice.client) {
                r.notify(notice.clone());
            }
        }
    }

    /// Graceful stop: close every runner and give them up to `grace` (in all) to deliver
    /// what they were handed: queued accounting lines written, the pending exec run started
    /// and finished. The runtime calls this after its last fan-out (every leader to
    /// Initialize), so clients see the final transition before the process exits.
    pub async fn finish(mut self, grace: Duration) {
        let tasks: Vec<(usize, tokio::task::JoinHandle<()>)> = self
            .runners
            .iter_mut()
            .filter_map(|r| r.task.take().map(|t| (r.index, t)))
            .collect();
        // Dropping the runners closes their feeds: an accounting task drains its queue and
        // ends; an exec task runs its pending notice (after the current run) and ends.
        self.runners.clear();
        let deadline = tokio::time::Instant::now() + grace;
        for (index, task) in tasks {
            if tokio::time::timeout_at(deadline, task).await.is_err() {
                tracing::warn!(target: TARGET, client = index + 1, grace_ms = grace.as_millis() as u64, "client still busy at stop; its last transition may not be delivered");
            }
        }
    }

    /// Counters by client index.
    pub fn stats(&self) -> Vec<ClientStats> {
        self.runners.iter().map(ClientRunner::stats).collect()
    }

    pub fn get(&self, index: usize) -> Option<&ClientRunner> {
        self.runners.get(index)
    }
}

/// One accounting line: what changed, for whom, when.
#[derive(Serialize)]
struct AccountingLine<'a> {
    time: f64,
    name: &'a str,
    previous: crate::vrrp::router::State,
    state: crate::vrrp::router::State,
    reason: &'a str,
    vmac: crate::types::MacAddr,
    vips: &'a [std::net::IpAddr],
    seq: u64,
}

/// The accounting line of a notice, newline included.
pub fn accounting_line(n: &ClientNotice) -> anyhow::Result<Vec<u8>> {
    let mut line = serde_json::to_vec(&AccountingLine {
        time: n.time,
        name: &n.name,
        previous: n.previous,
        state: n.state,
        reason: &n.reason,
        vmac: n.vmac,
        vips: &n.vips,
        seq: n.seq,
    })
    .context("cannot encode the accounting line")?;
    line.push(b'\n');
    Ok(line)
}

/// Append one line to `path` and fsync it. A new file is created 0640 exactly (whatever the
/// umask) and its directory fsync'd so the file survives a crash; an existing file keeps
/// the mode the operator gave it.
pub fn append_line(path: &Path, line: &[u8]) -> anyhow::Result<()> {
    use std::fs::OpenOptions;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    // Checked per line, not once: a reload may bring a new path, and a directory's mode
    // can change while the runtime runs.
    crate::security::check_accounting_path(path)?;
    let mut file = match OpenOptions::new()
        .append(true)
        .create_new(true)
        .mode(0o640)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(path)
    {
        Ok(f) => {
            f.set_permissions(std::fs::Permissions::from_mode(0o640))
                .with_context(|| format!("cannot chmod 0640 {}", path.display()))?;
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::File::open(dir)
                    .and_then(|d| d.sync_all())
                    .with_context(|| format!("cannot fsync directory {}", dir.display()))?;
            }
            f
        }
        // O_NOFOLLOW: a symlink planted at the name is refused, not appended through.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => OpenOptions::new()
            .append(true)
            .custom_flags(nix::libc::O_NOFOLLOW)
            .open(path)
            .with_context(|| {
                format!(
                    "cannot open {} for appending (a symbolic link is refused)",
                    path.display()
                )
            })?,
        Err(e) => return Err(e).with_context(|| format!("cannot create {}", path.display())),
    };
    // One write(2) on an O_APPEND file: lines from two writers never interleave.
    file.write_all(line)
        .with_context(|| format!("cannot append to {}", path.display()))?;
    file.sync_all()
        .with_context(|| format!("cannot fsync {}", path.display()))?;
    Ok(())
}

async fn accounting_task(
    index: usize,
    path: PathBuf,
    mut rx: mpsc::Receiver<ClientNotice>,
    stats: Arc<Mutex<ClientStats>>,
) {
    while let Some(notice) = rx.recv().await {
        let path2 = path.clone();
        let result = match accounting_line(&notice) {
            // fsync can take long: keep it off the runtime's worker threads.
            Ok(line) => tokio::task::spawn_blocking(move || append_line(&path2, &line))
                .await
                .unwrap_or_else(|e| Err(anyhow::anyhow!("accounting writer failed: {e}"))),
            Err(e) => Err(e),
        };
        let mut st = lock(&stats);
        match result {
            Ok(()) => st.lines_written += 1,
            Err(e) => {
                st.lines_dropped += 1;
                st.last_error = Some(format!("{e:#}"));
                tracing::error!(target: TARGET, client = index + 1, path = %path.display(), seq = notice.seq, "accounting line lost: {e:#}");
            }
        }
    }
}

async fn exec_task(
    index: usize,
    hook: crate::hook::Hook,
    timeout: Duration,
    shared: Arc<ExecShared>,
    stats: Arc<Mutex<ClientStats>>,
) {
    loop {
        shared.wake.notified().await;
        let (notice, skipped, closed) = {
            let mut slot = lock(&shared.slot);
            let pending = std::mem::take(&mut slot.pending);
            (slot.latest.take(), pending.saturating_sub(1), slot.closed)
        };
        if let Some(notice) = notice {
            {
                let mut st = lock(&stats);
                st.coalesced += skipped;
                st.runs += 1;
                st.running = true;
            }
            let outcome = run_exec(index, &hook, timeout, &notice, skipped).await;
            let mut st = lock(&stats);
            st.running = false;
            if !outcome.success {
                st.failures += 1;
                st.last_error = Some(outcome.text.clone());
            }
            if outcome.timed_out {
                st.timeouts += 1;
            }
            st.last_exit = Some(outcome.text);
        }
        if closed {
            return;
        }
    }
}

struct Outcome {
    success: bool,
    timed_out: bool,
    text: String,
}

/// Run `hook` once for `notice`, its whole process tree killed at `timeout`
/// (src/hook: cleared environment, cwd `/`, the configured user and group).
async fn run_exec(
    index: usize,
    hook: &crate::hook::Hook,
    timeout: Duration,
    notice: &ClientNotice,
    skipped: u64,
) -> Outcome {
    let vips: Vec<String> = notice.vips.iter().map(|a| a.to_string()).collect();
    let mut hook = hook.clone();
    hook.env = [
        ("NETVRRP_NAME", notice.name.clone()),
        ("NETVRRP_STATE", notice.state.as_str().to_string()),
        (
            "NETVRRP_PREVIOUS_STATE",
            notice.previous.as_str().to_string(),
        ),
        ("NETVRRP_VMAC", notice.vmac.to_string()),
        ("NETVRRP_VIPS", vips.join(" ")),
        ("NETVRRP_REASON", notice.reason.clone()),
        ("NETVRRP_TIME", format!("{:.6}", notice.time)),
        ("NETVRRP_SEQ", notice.seq.to_string()),
        ("NETVRRP_COALESCED", skipped.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let program = hook.argv.first().cloned().unwrap_or_default();
    let started = Instant::now();
    tracing::debug!(target: TARGET, client = index + 1, name = %notice.name, state = %notice.state, program = %program, "exec started");
    let run = crate::hook::run::run(&hook, timeout).await;
    let text = if run.timed_out {
        format!("killed after {} ms", timeout.as_millis())
    } else if let Some(code) = run.code {
        format!("exit status: {code}")
    } else {
        format!("{program}: {}", run.status)
    };
    let elapsed_ms = started.elapsed().as_millis() as u64;
    if run.success {
        tracing::info!(target: TARGET, client = index + 1, name = %notice.name, state = %notice.state, status = %text, elapsed_ms, "exec finished");
    } else {
        let output = Vec::from(run.output).join("\n");
        tracing::warn!(target: TARGET, client = index + 1, name = %notice.name, state = %notice.state, status = %text, elapsed_ms, output = %output, "exec failed");
    }
    Outcome {
        success: run.success,
        timed_out: run.timed_out,
        text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Location;
    use crate::types::{Family, MacAddr};
    use crate::vrrp::router::State;
    use std::os::unix::fs::PermissionsExt;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// A fresh directory under the system temp dir (no tempfile crate in the tree).
    fn temp_dir() -> PathBuf {
        static N: AtomicU32 = AtomicU32::new(0);
        let d = std::env::temp_dir().join(format!(
            "netvrrp-vrrs-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn notice(seq: u64, previous: State, state: State) -> ClientNotice {
        ClientNotice {
            client: 0,
            seq,
            name: "group1".into(),
            event: crate::contract::StateEvent {
                interface: "eth0".into(),
                vrid: 5,
                family: Family::Ipv4,
                router: None,
                previous,
                state,
                reason: "master down timer".into(),
                vmac: MacAddr::vrrp(Family::Ipv4, 5),
                vips: vec!["192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap()],
                time: 1000.0 + seq as f64,
            },
        }
    }

    fn client(kind: ClientKind) -> ClientConfig {
        ClientConfig {
            leader: "group1".into(),
            kind,
            location: Location::default(),
        }
    }

    fn exec(script: String, timeout_ms: u32) -> ClientRunner {
        ClientRunner::spawn(
            0,
            &client(ClientKind::Exec {
                command: vec!["/bin/sh".into(), "-c".into(), script],
                timeout_ms,
                run_as: Default::default(),
            }),
        )
    }

    /// Poll until `f` holds (or panic after `secs`).
    async fn until(secs: u64, what: &str, mut f: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while !f() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn lines(path: &Path) -> Vec<String> {
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    #[tokio::test]
    async fn vrrs_accounting_appends_fsyncs_and_creates_0640() {
        let dir = temp_dir();
        let path = dir.join("acct.json");
        let r = ClientRunner::spawn(0, &client(ClientKind::Accounting { path: path.clone() }));
        r.notify(notice(1, State::Initialize, State::Backup));
        r.notify(notice(2, State::Backup, State::Master));
        until(5, "two lines", || r.stats().lines_written == 2).await;
        let got = lines(&path);
        assert_eq!(got.len(), 2);
        let first: serde_json::Value = serde_json::from_str(&got[0]).unwrap();
        assert_eq!(
            first,
            serde_json::json!({
                "time": 1001.0,
                "name": "group1",
                "previous": "initialize",
                "state": "backup",
                "reason": "master down timer",
                "vmac": "00:00:5e:00:01:05",
                "vips": ["192.0.2.1", "192.0.2.2"],
                "seq": 1,
            })
        );
        let second: serde_json::Value = serde_json::from_str(&got[1]).unwrap();
        assert_eq!(
            (second["previous"].as_str(), second["state"].as_str()),
            (Some("backup"), Some("master"))
        );
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640, "mode {mode:o}");
        drop(r);

        // Never truncated: a new runner (a reload) appends after what is there, and an
        // operator's mode on an existing file is left alone.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let r = ClientRunner::spawn(0, &client(ClientKind::Accounting { path: path.clone() }));
        r.notify(notice(3, State::Master, State::Backup));
        until(5, "third line", || r.stats().lines_written == 1).await;
        let got = lines(&path);
        assert_eq!(got.len(), 3);
        assert!(got[2].contains("\"seq\":3"), "{}", got[2]);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn vrrs_accounting_refuses_a_symlink_at_its_path() {
        let dir = temp_dir();
        let victim = dir.join("victim");
        std::fs::write(&victim, "precious").unwrap();
        let path = dir.join("acct.json");
        std::os::unix::fs::symlink(&victim, &path).unwrap();
        let e = format!("{:#}", append_line(&path, b"line\n").unwrap_err());
        assert!(
            e.contains("symbolic link") && e.contains("acct.json"),
            "{e}"
        );
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn vrrs_accounting_error_is_counted_not_fatal() {
        let dir = temp_dir();
        let path = dir.join("missing-dir").join("acct.json");
        let r = ClientRunner::spawn(0, &client(ClientKind::Accounting { path: path.clone() }));
        r.notify(notice(1, State::Initialize, State::Backup));
        until(5, "the error", || r.stats().lines_dropped == 1).await;
        let err = r.stats().last_error.unwrap();
        assert!(
            err.contains("cannot create") && err.contains("acct.json"),
            "{err}"
        );
        // The task is still alive and writes once the directory exists.
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        r.notify(notice(2, State::Backup, State::Master));
        until(5, "a line", || r.stats().lines_written == 1).await;
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn vrrs_exec_environment() {
        let dir = temp_dir();
        let out = dir.join("env");
        let script = format!(
            "printf '%s|%s|%s|%s|%s|%s|%s|%s|%s\\n' \"$NETVRRP_NAME\" \"$NETVRRP_STATE\" \
             \"$NETVRRP_PREVIOUS_STATE\" \"$NETVRRP_VMAC\" \"$NETVRRP_VIPS\" \"$NETVRRP_REASON\" \
             \"$NETVRRP_SEQ\" \"$NETVRRP_COALESCED\" \"$NETVRRP_TIME\" >> '{}'",
            out.display()
        );
        let r = exec(script, 5000);
        r.notify(notice(4, State::Backup, State::Master));
        until(5, "the run", || r.stats().runs == 1 && !r.stats().running).await;
        assert_eq!(
            lines(&out),
            [
                "group1|master|backup|00:00:5e:00:01:05|192.0.2.1 192.0.2.2|master down timer|4|0|1004.000000"
            ]
        );
        let st = r.stats();
        assert_eq!((st.failures, st.timeouts), (0, 0));
        assert_eq!(st.last_exit.as_deref(), Some("exit status: 0"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn vrrs_exec_one_at_a_time_coalesced_to_latest() {
        let dir = temp_dir();
        let out = dir.join("runs");
        let script = format!(
            "echo \"start $NETVRRP_SEQ $NETVRRP_STATE $NETVRRP_COALESCED\" >> '{0}'; sleep 1; echo \"end $NETVRRP_SEQ\" >> '{0}'",
            out.display()
        );
        let r = exec(script, 10_000);
        r.notify(notice(1, State::Initialize, State::Backup));
        until(5, "the first run to start", || !lines(&out).is_empty()).await;
        // Three transitions while the first run sleeps: notify returns at once...
        let t = Instant::now();
        r.notify(notice(2, State::Backup, State::Master));
        r.notify(notice(3, State::Master, State::Backup));
        r.notify(notice(4, State::Backup, State::Master));
        assert!(t.elapsed() < Duration::from_millis(50), "notify blocked");
        // ...and only the latest runs, after the first one ended.
        until(10, "both runs", || lines(&out).len() == 4).await;
        assert_eq!(
            lines(&out),
            ["start 1 backup 0", "end 1", "start 4 master 2", "end 4"]
        );
        let st = r.stats();
        assert_eq!((st.runs, st.coalesced, st.notices), (2, 2, 4));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn vrrs_exec_killed_after_timeout_with_its_children() {
        let dir = temp_dir();
        let out = dir.join("runs");
        // The shell starts a child and waits: killing only the shell would leave `sleep`.
        let script = format!(
            "sleep 30 & echo \"$NETVRRP_SEQ $!\" >> '{0}'; wait; echo finished >> '{0}'",
            out.display()
        );
        let r = exec(script, 300);
        let t = Instant::now();
        r.notify(notice(1, State::Backup, State::Master));
        until(5, "the kill", || r.stats().timeouts == 1).await;
        let took = t.elapsed();
        assert!(took < Duration::from_secs(3), "killed after {took:?}");
        let st = r.stats();
        assert_eq!((st.runs, st.failures, st.running), (1, 1, false));
        assert_eq!(st.last_exit.as_deref(), Some("killed after 300 ms"));
        let got = lines(&out);
        assert_eq!(got.len(), 1, "{got:?}");
        let sleep_pid = got[0].split_whitespace().nth(1).unwrap().to_string();
        // The background `sleep` died with the group (a zombie until init reaps it).
        until(5, "the child to die", || {
            std::fs::read_to_string(format!("/proc/{sleep_pid}/stat"))
                .map(|s| {
                    s.rsplit(')')
                        .next()
                        .unwrap_or("")
                        .trim_start()
                        .starts_with('Z')
                })
                .unwrap_or(true)
        })
        .await;
        // The runner is free again: the next notice runs (and is killed) too.
        r.notify(notice(2, State::Master, State::Backup));
        until(5, "the second kill", || r.stats().timeouts == 2).await;
        assert!(!lines(&out).iter().any(|l| l == "finished"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn vrrs_exec_failures_are_counted() {
        let r = exec("echo oops >&2; exit 3".into(), 5000);
        r.notify(notice(1, State::Backup, State::Master));
        until(5, "the run", || r.stats().failures == 1).await;
        assert_eq!(r.stats().last_exit.as_deref(), Some("exit status: 3"));
        let missing = ClientRunner::spawn(
            0,
            &client(ClientKind::Exec {
                command: vec!["/nonexistent/netvrrp-hook".into()],
                timeout_ms: 1000,
                run_as: Default::default(),
            }),
        );
        missing.notify(notice(1, State::Backup, State::Master));
        until(5, "the spawn error", || missing.stats().failures == 1).await;
        let err = missing.stats().last_error.unwrap();
        assert!(err.contains("/nonexistent/netvrrp-hook"), "{err}");
    }

    #[tokio::test]
    async fn vrrs_runners_finish_delivers_the_last_transition() {
        let dir = temp_dir();
        let acct = dir.join("acct.json");
        let runs = dir.join("runs");
        let text = format!(
            "[[vrrp]]\ninterface = \"eth0\"\nvrid = 5\nipv4 = [\"192.0.2.1/24\"]\nvrrs-leader = [\"g\"]\n\
             [[vrrs.client]]\nleader = \"g\"\nkind = \"accounting\"\npath = \"{}\"\n\
             [[vrrs.client]]\nleader = \"g\"\nkind = \"exec\"\n\
             command = [\"/bin/sh\", \"-c\", \"sleep 0.2; echo $NETVRRP_STATE >> {}\"]\n",
            acct.display(),
            runs.display()
        );
        let config = crate::config::parse_str(&text, "t.toml").unwrap();
        let mut db = super::super::Vrrs::new(&config);
        let runners = ClientRunners::spawn(&config);
        for s in [State::Backup, State::Master, State::Initialize] {
            runners.dispatch(&db.on_state(1.0, "eth0", 5, Family::Ipv4, s, "t"));
        }
        // Handed over and at once finished (as at stop): nothing is lost, nothing waits for
        // the grace when the clients are done.
        let t = Instant::now();
        runners.finish(Duration::from_secs(5)).await;
        assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
        let states: Vec<String> = lines(&acct)
            .iter()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["state"].to_string())
            .collect();
        assert_eq!(states, ["\"backup\"", "\"master\"", "\"initialize\""]);
        // The exec task had no chance to run in between: one run, for the latest notice.
        assert_eq!(lines(&runs), ["initialize"]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn vrrs_runners_dispatch_and_reconfigure() {
        let dir = temp_dir();
        let path = dir.join("acct.json");
        let text = format!(
            "[[vrrp]]\ninterface = \"eth0\"\nvrid = 5\nipv4 = [\"192.0.2.1/24\"]\nvrrs-leader = [\"g\"]\n\
             [[vrrs.client]]\nleader = \"g\"\nkind = \"interface-state\"\ninterface = \"eth3\"\n\
             [[vrrs.client]]\nleader = \"g\"\nkind = \"accounting\"\npath = \"{}\"\n",
            path.display()
        );
        let config = crate::config::parse_str(&text, "t.toml").unwrap();
        let mut db = super::super::Vrrs::new(&config);
        let mut runners = ClientRunners::spawn(&config);
        let f = db.on_state(1.0, "eth0", 5, Family::Ipv4, State::Master, "startup owner");
        runners.dispatch(&f);
        until(5, "the line", || runners.stats()[1].lines_written == 1).await;
        assert_eq!(runners.stats()[0].notices, 1);
        let rows = db.show_client(Some(&runners));
        assert_eq!(rows[1].runner.as_ref().map(|r| r.lines_written), Some(1));
        // Same clients after a reload: the runners (and their counters) carry over.
        runners.reconfigure(&config);
        assert_eq!(runners.stats()[1].lines_written, 1);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
