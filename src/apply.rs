//! Execute a plan with an undo journal, and the run-dir files that go with it (lock, owned
//! devices).

use crate::plan::{Op, OwnedRecord};
use anyhow::Context;
use std::fs::{self, File};
use std::path::{Path, PathBuf};

/// The result of one operation of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Done,
    Failed(String),
    NotRun,
}

/// Something that can carry out operations (the kernel; a fake in tests).
pub trait Executor {
    fn execute(&self, op: &Op) -> impl std::future::Future<Output = Result<(), String>>;

    /// Run a whole plan, as fast as the executor can while keeping each device's order;
    /// stops starting new operations after a failure. One outcome per operation.
    fn execute_all(&self, ops: &[Op]) -> impl std::future::Future<Output = Vec<Outcome>> {
        async move {
            let mut out = vec![Outcome::NotRun; ops.len()];
            for (i, op) in ops.iter().enumerate() {
                match self.execute(op).await {
                    Ok(()) => out[i] = Outcome::Done,
                    Err(e) => {
                        out[i] = Outcome::Failed(e);
                        break;
                    }
                }
            }
            out
        }
    }
}

/// A failed apply: what failed, and how the rollback went.
#[derive(Debug, thiserror::Error)]
#[error(
    "operation {index} of {total} failed: {op}: {error}; {}",
    rollback_summary(*.rolled_back, .rollback_errors)
)]
pub struct ApplyError {
    pub index: usize,
    pub total: usize,
    pub op: Op,
    pub error: String,
    pub rolled_back: usize,
    pub rollback_errors: Vec<String>,
}

/// "rolled back N operation(s)…", with the undo steps that failed.
pub fn rollback_summary(n: usize, errors: &[String]) -> String {
    if errors.is_empty() {
        format!("rolled back {n} operation(s); the kernel is as it was")
    } else {
        format!(
            "rolled back {n} operation(s) but {} undo step(s) failed: {}",
            errors.len(),
            errors.join("; ")
        )
    }
}

/// Run `ops`. On a failure undo what was done, newest first, and report the first failure.
/// Operations on a device created in this same run need no undo of their own: deleting the
/// device (the inverse of its creation) takes them all back.
pub async fn execute<E: Executor>(executor: &E, ops: &[Op]) -> Result<(), ApplyError> {
    let outcomes = executor.execute_all(ops).await;
    let Some((failed_at, error)) = outcomes.iter().enumerate().find_map(|(i, o)| match o {
        Outcome::Failed(e) => Some((i, e.clone())),
        _ => None,
    }) else {
        return Ok(());
    };
    let (rolled_back, rollback_errors) = undo(executor, ops, &outcomes).await;
    Err(ApplyError {
        index: failed_at + 1,
        total: ops.len(),
        op: ops[failed_at].clone(),
        error,
        rolled_back,
        rollback_errors,
    })
}

/// Undo the operations of `ops` whose outcome is Done, newest first; how many were undone
/// and the undo steps that failed. Operations on a device created in the same run need no
/// undo of their own: deleting the device takes them all back.
pub async fn undo<E: Executor>(
    executor: &E,
    ops: &[Op],
    outcomes: &[Outcome],
) -> (usize, Vec<String>) {
    let mut journal: Vec<Op> = Vec::new();
    let mut created: Vec<&str> = Vec::new();
    for (op, outcome) in ops.iter().zip(outcomes) {
        if *outcome != Outcome::Done {
            continue;
        }
        if let Op::CreateMacvlan { device, .. } = op {
            created.push(device);
        } else if created.contains(&op.device()) {
            continue;
        }
        if let Some(undo) = op.inverse() {
            journal.push(undo);
        }
    }
    let mut rolled_back = 0;
    let mut rollback_errors = Vec::new();
    for undo in journal.iter().rev() {
        match executor.execute(undo).await {
            Ok(()) => rolled_back += 1,
            Err(e) => rollback_errors.push(format!("{undo}: {e}")),
        }
    }
    (rolled_back, rollback_errors)
}

/// An exclusive lock on `<run-dir>/netvrrp.lock`, held while the value lives.
pub struct RunDirLock {
    _lock: nix::fcntl::Flock<File>,
}

/// Take the run-dir lock without waiting: a second apply fails with a clear message.
pub fn lock(run_dir: &Path) -> anyhow::Result<RunDirLock> {
    crate::security::prepare_run_dir(run_dir)?;
    let path = run_dir.join("netvrrp.lock");
    let file = crate::security::open_lock_nofollow(&path)?;
    match nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock) {
        Ok(lock) => Ok(RunDirLock { _lock: lock }),
        Err((_, nix::errno::Errno::EWOULDBLOCK)) => anyhow::bail!(
            "another netvrrp is applying in {} (lock {} is held); try again when it is done",
            run_dir.display(),
            path.display()
        ),
        Err((_, e)) => Err(e).with_context(|| format!("cannot lock {}", path.display())),
    }
}

fn owned_path(run_dir: &Path) -> PathBuf {
    run_dir.join("owned.json")
}

/// Where an unreadable owned.json is moved so the next apply can rebuild it.
fn corrupt_owned_path(run_dir: &Path) -> PathBuf {
    run_dir.join("owned.json.corrupt")
}

/// The devices netvrrp created or adopted (empty when the file does not exist). A file that
/// does not parse (a crash mid-write on a filesystem without ordered renames, a hand edit)
/// must not stop every command: it is moved aside to `owned.json.corrupt` with a warning
/// and treated as empty. Nothing is lost by that: the planner finds the devices again by
/// identity (macvlan, parent, MAC), and the next apply writes a fresh file.
pub fn load_owned(run_dir: &Path) -> anyhow::Result<Vec<OwnedRecord>> {
    let path = owned_path(run_dir);
    let Some(text) = crate::security::read_nofollow(&path)? else {
        return Ok(Vec::new());
    };
    match serde_json::from_str(&text) {
        Ok(records) => Ok(records),
        Err(e) => {
            let aside = corrupt_owned_path(run_dir);
            let moved = match fs::rename(&path, &aside) {
                Ok(()) => format!("moved it to {}", aside.display()),
                Err(re) => format!("could not move it aside ({re})"),
            };
            tracing::warn!(target: "netvrrp::kernel", path = %path.display(), "cannot parse {}: {e}; {moved}; devices are matched by identity (macvlan, parent, MAC) and the file is rebuilt by the next apply", path.display());
            Ok(Vec::new())
        }
    }
}

/// Replace the owned-device records atomically (see [`crate::security::replace_file`]).
pub fn save_owned(run_dir: &Path, records: &[OwnedRecord]) -> anyhow::Result<()> {
    crate::security::prepare_run_dir(run_dir)?;
    let text = serde_json::to_string_pretty(records).context("cannot serialise owned devices")?;
    crate::security::replace_file(&owned_path(run_dir), text.as_bytes())
}

/// `down`: remove the state files that only mean something while netvrrp has devices or a
/// runtime: owned.json (when no device is left to own), masters.json, the pid file and
/// their temporary files. The log stays (it is the history of what happened), and so does
/// the lock file: it is held while this runs, and removing a held lock file would let a
/// concurrent apply lock a new file of the same name.
/// `runtime_files` are the runtime's (masters.json, the pid file: the daemon names them).
pub fn remove_state_files(
    run_dir: &Path,
    keep_owned: bool,
    runtime_files: &[PathBuf],
) -> anyhow::Result<()> {
    let owned = owned_path(run_dir);
    let mut files = vec![crate::security::temp_path(&owned)];
    for f in runtime_files {
        files.push(crate::security::temp_path(f));
        files.push(f.clone());
    }
    if !keep_owned {
        files.push(owned);
    }
    for f in files {
        match fs::remove_file(&f) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("cannot remove {}", f.display())),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{Family, MacAddr};
    use std::cell::RefCell;

    /// Records what ran; fails the operation whose text equals `fail`.
    struct Fake {
        log: RefCell<Vec<String>>,
        fail: String,
    }

    impl Executor for Fake {
        async fn execute(&self, op: &Op) -> Result<(), String> {
            let text = op.to_string();
            if text == self.fail {
                return Err("File exists (os error 17)".into());
            }
            self.log.borrow_mut().push(text);
            Ok(())
        }
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn rollback_undoes_in_reverse_and_skips_ops_on_created_devices() {
        let ops = vec![
            Op::AddAddress {
                device: "old".into(),
                address: "192.0.2.5/24".parse().unwrap(),
            },
            Op::CreateMacvlan {
                device: "new".into(),
                parent: "eth0".into(),
                parent_index: 2,
                mac: MacAddr::vrrp(Family::Ipv4, 1),
            },
            Op::SetAdmin {
                device: "new".into(),
                up: true,
                previous: false,
            },
            Op::AddAddress {
                device: "new".into(),
                address: "198.51.100.1/24".parse().unwrap(),
            },
        ];
        let fake = Fake {
            log: RefCell::new(vec![]),
            fail: "add address 198.51.100.1/24 dev new".into(),
        };
        let err = block_on(execute(&fake, &ops)).unwrap_err();
        assert_eq!(err.index, 4);
        assert_eq!(err.rolled_back, 2);
        assert_eq!(
            fake.log.into_inner(),
            vec![
                "add address 192.0.2.5/24 dev old",
                "create macvlan new link eth0 mode bridge address 00:00:5e:00:01:01",
                "set new up",
                "delete new",
                "del address 192.0.2.5/24 dev old",
            ]
        );
        assert!(err.to_string().contains("operation 4 of 4 failed"));
        assert!(err.to_string().contains("the kernel is as it was"));
    }

    #[test]
    fn lock_excludes_a_second_holder() {
        let dir = std::env::temp_dir().join(format!("netvrrp-lock-{}", std::process::id()));
        let first = lock(&dir).unwrap();
        let second = lock(&dir);
        assert!(second.is_err());
        assert!(
            second
                .err()
                .unwrap()
                .to_string()
                .contains("another netvrrp")
        );
        drop(first);
        assert!(lock(&dir).is_ok());
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn owned_records_round_trip() {
        let dir = std::env::temp_dir().join(format!("netvrrp-owned-{}", std::process::id()));
        assert!(load_owned(&dir).unwrap().is_empty());
        let r = vec![OwnedRecord {
            name: "vrrp4-2-1".into(),
            index: 9,
            parent_index: 2,
            mac: MacAddr::vrrp(Family::Ipv4, 1),
        }];
        save_owned(&dir, &r).unwrap();
        assert_eq!(load_owned(&dir).unwrap(), r);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn corrupt_owned_file_is_moved_aside_and_read_as_empty() {
        let dir = std::env::temp_dir().join(format!("netvrrp-corrupt-{}", std::process::id()));
        crate::security::prepare_run_dir(&dir).unwrap();
        fs::write(owned_path(&dir), "{ not json").unwrap();
        assert!(load_owned(&dir).unwrap().is_empty());
        assert!(!owned_path(&dir).exists());
        assert_eq!(
            fs::read_to_string(corrupt_owned_path(&dir)).unwrap(),
            "{ not json"
        );
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn remove_state_files_keeps_log_and_lock() {
        let dir = std::env::temp_dir().join(format!("netvrrp-rmstate-{}", std::process::id()));
        let _lock = lock(&dir).unwrap();
        save_owned(&dir, &[]).unwrap();
        let runtime_files = [dir.join("masters.json"), dir.join("netvrrp.pid")];
        for f in runtime_files.iter().chain([&dir.join("netvrrp.log")]) {
            fs::write(f, "x").unwrap();
        }
        remove_state_files(&dir, true, &runtime_files).unwrap();
        assert!(owned_path(&dir).exists());
        remove_state_files(&dir, false, &runtime_files).unwrap();
        let mut left: Vec<String> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, ["netvrrp.lock", "netvrrp.log"]);
        let _ = fs::remove_dir_all(&dir);
    }
}
