//! `<run-dir>/masters.json`: the instances that are Master now (see [`Runtime::sync_masters`]).

use super::*;

/// `<run-dir>/masters.json`: the instances that are Master now, rewritten (atomically) when
/// one enters or leaves Master. A runtime that leaves normally ends with an empty list; one
/// killed with SIGKILL leaves its Masters behind, and the next runtime resumes them
/// ([`Input::Resume`]) so the backups do not take over and hand back.
pub fn masters_path(run_dir: &std::path::Path) -> PathBuf {
    run_dir.join("masters.json")
}

pub(super) fn load_masters(run_dir: &std::path::Path) -> HashSet<InstanceKey> {
    // Not through a symlink (see `crate::security`); unreadable means nothing to resume.
    crate::security::read_nofollow(&masters_path(run_dir))
        .ok()
        .flatten()
        .and_then(|t| serde_json::from_str::<Vec<InstanceKey>>(&t).ok())
        .map(|v| v.into_iter().collect())
        .unwrap_or_default()
}

/// Shortest time between two attempts at a state file that could not be written (a full
/// run-dir: the loop wakes often, the log must not fill what little is left).
pub(super) const STATE_WRITE_RETRY: Duration = Duration::from_secs(1);

impl Runtime {
    /// Rewrite `masters.json` if an instance entered or left Master. A failed write keeps
    /// the file dirty: it is retried at the loop's next wake-up at least
    /// [`STATE_WRITE_RETRY`] later, logged, and counted (`netvrrp_runtime_state_write_failures`).
    pub(super) fn sync_masters(&mut self) {
        if !self.masters_dirty {
            return;
        }
        let now = std::time::Instant::now();
        if self.masters_retry_at.is_some_and(|at| now < at) {
            return;
        }
        let masters: Vec<&InstanceKey> = self
            .instances
            .iter()
            .filter(|i| i.router.state() == State::Master)
            .map(|i| &i.key)
            .collect();
        let path = masters_path(&self.run_dir);
        let text = serde_json::to_string(&masters).unwrap_or_else(|_| "[]".into());
        match crate::security::replace_file(&path, text.as_bytes()) {
            Ok(()) => {
                if self.masters_retry_at.take().is_some() {
                    tracing::info!(target: "netvrrp::protocol", "{} written again", path.display());
                }
                self.masters_dirty = false;
            }
            Err(e) => {
                self.stats.state_write_failures += 1;
                self.masters_retry_at = Some(now + STATE_WRITE_RETRY);
                tracing::warn!(target: "netvrrp::protocol", failures = self.stats.state_write_failures, "cannot write {} (retrying every {} s): {e:#}", path.display(), STATE_WRITE_RETRY.as_secs());
            }
        }
    }

    /// Write the pid file. Not fatal when it fails (nothing of netvrrp reads it: the lock
    /// and the control socket say whether a runtime runs); logged and counted.
    pub(super) fn write_pid_file(&mut self, path: &std::path::Path) {
        let pid = format!("{}\n", std::process::id());
        if let Err(e) = crate::security::replace_file(path, pid.as_bytes()) {
            self.stats.state_write_failures += 1;
            tracing::warn!(target: "netvrrp::protocol", "cannot write the pid file {}: {e:#}", path.display());
        }
    }
}
