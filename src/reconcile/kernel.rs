//! The kernel half of a reconcile, one transaction: load → plan → execute with the undo
//! journal → (the runtime's reload, between the changes and the deletions of owned devices
//! that left the file, so leaving routers can still send priority 0 through them) → verify
//! with a short bounded retry → record ownership; any failure after the kernel was changed
//! rolls the whole transaction back. Prints nothing: the CLI (src/commands.rs) and the
//! runtime's SIGHUP (src/daemon) report the typed result their own way, in the same order.

use crate::apply::{self, ApplyError, Executor};
use crate::config::{self, Config, ConfigErrors};
use crate::desired::{self, DesiredState};
use crate::kernel::{Kernel, Snapshot};
use crate::plan::{self, Op, OwnedRecord, Plan, ProtodownOwner};
use crate::reconcile::routers::ReloadReport;
use std::future::Future;
use std::path::Path;
use std::time::Duration;

impl Executor for Kernel {
    async fn execute(&self, op: &Op) -> Result<(), String> {
        Kernel::execute(self, op).await.map_err(|e| e.to_string())
    }

    /// Batched: independent operations share netlink datagrams (see `Kernel::execute_many`).
    async fn execute_all(&self, ops: &[Op]) -> Vec<apply::Outcome> {
        Kernel::execute_many(self, ops)
            .await
            .into_iter()
            .map(|o| match o {
                crate::kernel::Outcome::Done => apply::Outcome::Done,
                crate::kernel::Outcome::Failed(e) => apply::Outcome::Failed(e.to_string()),
                crate::kernel::Outcome::NotRun => apply::Outcome::NotRun,
            })
            .collect()
    }
}

/// Everything a kernel-facing command needs: the config, a snapshot, the desired state and
/// the owned records.
pub struct Loaded {
    pub config: Config,
    pub snapshot: Snapshot,
    pub desired: DesiredState,
    pub owned: Vec<OwnedRecord>,
    /// Risky settings on this host (src/risk.rs), each naming file:line:column: for the
    /// caller to print or log.
    pub warnings: Vec<String>,
}

/// Why a reconcile stopped. Nothing was changed, except where the variant says a rollback
/// was done.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// The file is invalid (exit 65).
    #[error("{0}")]
    Config(ConfigErrors),
    /// The file names interfaces this machine does not have, or similar.
    #[error("{}", .0.join("\n"))]
    Fit(Vec<String>),
    /// A VIP is an address of another interface of this host: the filter would cut the
    /// host off from it (exit 65).
    #[error("{}", .0.join("\n"))]
    Lockout(Vec<String>),
    /// The file is wrong for this host (e.g. priority 255 without the addresses; exit 65).
    #[error("{}", .0.join("\n"))]
    Risk(Vec<String>),
    /// The planner refused (e.g. a foreign device in the way).
    #[error("{}", .0.join("\n"))]
    Plan(Vec<String>),
    /// Reading the kernel, the run-dir files, the lock, the file's permissions.
    #[error("{0:#}")]
    Io(anyhow::Error),
    /// An operation failed; the ones before it were undone.
    #[error("apply failed: {0}")]
    Execute(Box<ApplyError>),
    /// The runtime did not take the new file; the kernel changes were undone.
    #[error("the runtime did not reload: {why}; {rollback}")]
    Reload { why: String, rollback: String },
    /// The kernel still differs after the changes (and the retries); they were undone.
    #[error("{why}; {rollback}")]
    Verify { why: String, rollback: String },
}

impl Failure {
    /// The command's exit code (netvrrp(8) EXIT STATUS).
    pub fn exit_code(&self) -> i32 {
        match self {
            Failure::Config(_) | Failure::Lockout(_) | Failure::Risk(_) => crate::exit::DATAERR,
            _ => crate::exit::FAILURE,
        }
    }
}

/// Read the file, the kernel and the owned records, and derive the desired state.
pub async fn load(kernel: &Kernel, file: &Path, run_dir: &Path) -> Result<Loaded, Failure> {
    let config = config::load(file).map_err(Failure::Config)?;
    load_with(kernel, config, run_dir).await
}

/// [`load`] without judging the file against the host: `down` must always be able to remove
/// what a risky file made.
pub async fn load_unjudged(
    kernel: &Kernel,
    file: &Path,
    run_dir: &Path,
) -> Result<Loaded, Failure> {
    let config = config::load(file).map_err(Failure::Config)?;
    derive_loaded(kernel, config, run_dir).await
}

/// Check and parse the file on a blocking-pool thread, so a runtime's loop keeps electing
/// while thousands of routers are parsed and validated (group lookups included).
pub async fn load_config_off_loop(file: &Path, check_permissions: bool) -> Result<Config, Failure> {
    let file = file.to_path_buf();
    tokio::task::spawn_blocking(move || {
        if check_permissions {
            crate::security::check_config_file(&file).map_err(Failure::Io)?;
        }
        config::load(&file).map_err(Failure::Config)
    })
    .await
    .map_err(|e| Failure::Io(anyhow::anyhow!("the configuration reader failed: {e}")))?
}

/// [`load`] with the file already parsed, judged against the host (src/risk.rs): risky
/// settings become warnings, wrong ones a [`Failure::Risk`].
pub async fn load_with(kernel: &Kernel, config: Config, run_dir: &Path) -> Result<Loaded, Failure> {
    let mut loaded = derive_loaded(kernel, config, run_dir).await?;
    // Positions need the file parsed again with spans (megabytes at thousands of routers):
    // only when there is something to report.
    let mut findings = crate::risk::check(&loaded.config, &loaded.snapshot, None);
    if !findings.errors.is_empty() || !findings.warnings.is_empty() {
        let text = loaded
            .config
            .source
            .as_ref()
            .and_then(|p| std::fs::read_to_string(p).ok());
        findings = crate::risk::check(&loaded.config, &loaded.snapshot, text.as_deref());
    }
    if !findings.errors.is_empty() {
        return Err(Failure::Risk(findings.errors));
    }
    let config_warnings = loaded.config.warnings.iter().map(ToString::to_string);
    loaded
        .warnings
        .extend(config_warnings.chain(findings.warnings));
    Ok(loaded)
}

async fn derive_loaded(kernel: &Kernel, config: Config, run_dir: &Path) -> Result<Loaded, Failure> {
    let snapshot = kernel.snapshot().await.map_err(Failure::Io)?;
    let desired = desired::derive(&config, |name| snapshot.by_name(name).map(|l| l.index))
        .map_err(|mut errors| {
            with_spans(&config, |spans| {
                errors.iter_mut().for_each(|e| e.place(spans))
            });
            Failure::Fit(errors.iter().map(|e| e.to_string()).collect())
        })?;
    let owned = apply::load_owned(run_dir).map_err(Failure::Io)?;
    let warnings =
        desired::absent_pathways(&config, |name| snapshot.by_name(name).map(|l| l.index));
    Ok(Loaded {
        config,
        snapshot,
        desired,
        owned,
        warnings,
    })
}

/// What the kernel must change for `loaded`; refused when a VIP would lock the host out.
pub fn plan(loaded: &Loaded, owner: ProtodownOwner) -> Result<Plan, Failure> {
    let mut lockouts = plan::self_lockouts(&loaded.config, &loaded.desired, &loaded.snapshot.links);
    if !lockouts.is_empty() {
        with_spans(&loaded.config, |spans| {
            lockouts.iter_mut().for_each(|e| e.at.place(spans))
        });
        return Err(Failure::Lockout(
            lockouts.iter().map(|e| e.to_string()).collect(),
        ));
    }
    let renaming = plan::Renaming::of_release(crate::host::running_release());
    plan::plan(
        &loaded.snapshot,
        &loaded.desired,
        &loaded.owned,
        owner,
        renaming,
    )
    .map_err(|errors| Failure::Plan(errors.iter().map(|e| e.to_string()).collect()))
}

/// Run `place` with the file parsed again with spans, to point errors at their values
/// (megabytes at thousands of routers: only once there is something to report). Not run
/// when the file cannot be read or parsed again: the errors keep their tables' starts.
fn with_spans(config: &Config, place: impl FnOnce(&config::FileSpans)) {
    let text = config
        .source
        .as_ref()
        .and_then(|p| std::fs::read_to_string(p).ok());
    if let Some(spans) = text.as_deref().and_then(config::FileSpans::parse) {
        place(&spans);
    }
}

/// The records to keep after an apply: every desired device as it now exists.
pub fn owned_after(snapshot: &Snapshot, desired: &DesiredState) -> Vec<OwnedRecord> {
    desired
        .devices
        .iter()
        .filter_map(|d| {
            let l = snapshot.by_name(&d.name)?;
            Some(OwnedRecord {
                name: l.name.clone(),
                index: l.index,
                parent_index: l.parent_index?,
                mac: l.mac?,
            })
        })
        .collect()
}

/// How often and how long verify re-reads the kernel before a difference counts: the
/// kernel applies some changes asynchronously (a carrier, a tentative address).
const VERIFY_ATTEMPTS: usize = 5;
const VERIFY_PAUSE: Duration = Duration::from_millis(40);

/// Carry out `plan` for `loaded` (the caller holds the run-dir lock): the changes, then
/// `reload` (the runtime takes the new file: a control request from the CLI, the loop's
/// commit from SIGHUP; None when no runtime runs), then the deletions, then verify and
/// record ownership. On any failure after the first change, everything is undone.
pub async fn execute<R, F>(
    kernel: &Kernel,
    run_dir: &Path,
    loaded: Loaded,
    plan: &Plan,
    owner: ProtodownOwner,
    reload: R,
) -> Result<(Loaded, Option<ReloadReport>), Failure>
where
    R: FnOnce() -> F,
    F: Future<Output = Result<Option<ReloadReport>, anyhow::Error>>,
{
    // The planner puts deletions of owned devices that left the file last.
    let split = plan
        .changes
        .iter()
        .rposition(|op| !matches!(op, Op::DeleteMacvlan { .. }))
        .map_or(0, |i| i + 1);
    let (changes, deletes) = plan.changes.split_at(split);
    apply::execute(kernel, changes)
        .await
        .map_err(|e| Failure::Execute(Box::new(e)))?;
    let report = match reload().await {
        Ok(r) => r,
        Err(e) => {
            return Err(Failure::Reload {
                why: format!("{e:#}"),
                rollback: roll_back(kernel, changes).await,
            });
        }
    };
    if let Err(e) = apply::execute(kernel, deletes).await {
        // The deletions undid themselves; the changes before them go too.
        return Err(Failure::Reload {
            why: format!("apply failed: {e}"),
            rollback: roll_back(kernel, changes).await,
        });
    }
    let after = match verify(kernel, &loaded.desired, owner).await {
        Ok(after) => after,
        Err(why) => {
            return Err(Failure::Verify {
                why,
                rollback: roll_back(kernel, &plan.changes).await,
            });
        }
    };
    let owned = owned_after(&after, &loaded.desired);
    // Devices nobody records as ours would be foreign to the next apply (never removed, in
    // the way): a kernel change that cannot be recorded (ENOSPC, a read-only run-dir) is
    // undone, like any other failure after the first change.
    // Unchanged records need no write (a runtime starting on a full run-dir still starts).
    if owned != loaded.owned
        && let Err(e) = save_owned_retrying(run_dir, &owned).await
    {
        return Err(Failure::Verify {
            why: format!("cannot record the devices netvrrp owns: {e:#}"),
            rollback: roll_back(kernel, &plan.changes).await,
        });
    }
    Ok((
        Loaded {
            snapshot: after,
            owned,
            ..loaded
        },
        report,
    ))
}

/// Attempts at writing owned.json before giving up (a full disk may free up meanwhile:
/// logrotate, a removed core dump).
const SAVE_OWNED_ATTEMPTS: u32 = 3;

async fn save_owned_retrying(run_dir: &Path, owned: &[OwnedRecord]) -> anyhow::Result<()> {
    let mut attempt = 1;
    loop {
        match apply::save_owned(run_dir, owned) {
            Ok(()) => return Ok(()),
            Err(e) if attempt >= SAVE_OWNED_ATTEMPTS => return Err(e),
            Err(e) => {
                tracing::warn!(target: "netvrrp::protocol", attempt, "cannot write owned.json, retrying: {e:#}");
                tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt))).await;
                attempt += 1;
            }
        }
    }
}

/// Undo an apply whose kernel changes all succeeded but whose runtime then could not
/// start (issue 16: any failure after the kernel changed is rolled back): `plan`'s changes,
/// newest first, and the ownership records as they were before (`owned_before`). The
/// caller holds the run-dir lock and made sure no runtime runs. A sentence saying how it
/// went.
pub async fn undo_applied(
    kernel: &Kernel,
    run_dir: &Path,
    plan: &Plan,
    owned_before: &[OwnedRecord],
) -> String {
    let mut summary = roll_back(kernel, &plan.changes).await;
    if let Err(e) = save_owned_retrying(run_dir, owned_before).await {
        summary += &format!("; cannot restore the records of the devices netvrrp owns: {e:#}");
    }
    summary
}

/// Undo `ops` (all done), newest first; a sentence saying how it went.
async fn roll_back(kernel: &Kernel, ops: &[Op]) -> String {
    let done = vec![apply::Outcome::Done; ops.len()];
    let (n, errors) = apply::undo(kernel, ops, &done).await;
    apply::rollback_summary(n, &errors)
}

/// A fresh snapshot must be in sync with what was asked; a difference is re-read a few times
/// before it counts.
async fn verify(
    kernel: &Kernel,
    desired: &DesiredState,
    owner: ProtodownOwner,
) -> Result<Snapshot, String> {
    let mut last = String::new();
    for attempt in 0..VERIFY_ATTEMPTS {
        if attempt > 0 {
            tokio::time::sleep(VERIFY_PAUSE).await;
        }
        let after = kernel.snapshot().await.map_err(|e| format!("{e:#}"))?;
        let owned = owned_after(&after, desired);
        let renaming = plan::Renaming::of_release(crate::host::running_release());
        match plan::plan(&after, desired, &owned, owner, renaming) {
            Ok(v) if v.in_sync => return Ok(after),
            Ok(v) => {
                last = format!(
                    "applied, but the kernel still differs ({} operation(s) left): {}",
                    v.changes.len(),
                    v.changes
                        .iter()
                        .map(|o| o.to_string())
                        .collect::<Vec<_>>()
                        .join("; ")
                );
            }
            Err(errors) => {
                return Err(format!(
                    "verify: {}",
                    errors
                        .iter()
                        .map(|e| e.to_string())
                        .collect::<Vec<_>>()
                        .join("; ")
                ));
            }
        }
    }
    Err(last)
}
