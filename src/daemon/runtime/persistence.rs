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

impl Runtime {
    /// Rewrite `masters.json` if an instance entered or left Master.
    pub(super) fn sync_masters(&mut self) {
        if !self.masters_dirty {
            return;
        }
        self.masters_dirty = false;
        let masters: Vec<&InstanceKey> = self
            .instances
            .iter()
            .filter(|i| i.router.state() == State::Master)
            .map(|i| &i.key)
            .collect();
        let path = masters_path(&self.run_dir);
        let text = serde_json::to_string(&masters).unwrap_or_else(|_| "[]".into());
        if let Err(e) = crate::security::replace_file(&path, text.as_bytes()) {
            tracing::warn!(target: "netvrrp::protocol", "cannot write {}: {e:#}", path.display());
        }
    }
}
