//! The runtime process: spawn/hand-off from `apply`, the foreground `run`, the control socket
//! and the event loop that drives every VRRP router.

pub mod access;
pub mod admission;
pub mod control;
pub mod debug;
pub mod filter;
pub mod identity;
pub mod log_file;
pub mod metrics;
pub mod metrics_http;
pub mod nft_netlink;
pub mod render;
pub mod router_params;
pub mod runtime;
pub mod sched;
pub mod service;
pub mod supervisor;
pub mod timer;

use crate::cli::Cli;
use crate::exit;
use anyhow::Context;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

pub fn pid_path(run_dir: &Path) -> PathBuf {
    run_dir.join("netvrrp.pid")
}

/// The runtime's state files that mean nothing once it is down (`down` removes them).
pub fn state_files(run_dir: &Path) -> Vec<PathBuf> {
    vec![
        runtime::masters_path(run_dir),
        pid_path(run_dir),
        // Left behind only by a supervisor that was killed (a live one removes it).
        supervisor::pid_path(run_dir),
    ]
}

pub fn log_path(run_dir: &Path) -> PathBuf {
    run_dir.join("netvrrp.log")
}

/// Shortest period at which the runtime pings the systemd watchdog: a smaller WATCHDOG_USEC
/// cannot be met anyway, and pinging faster would starve the event loop (the watchdog arm
/// comes first in it).
const MIN_WATCHDOG_PERIOD: Duration = Duration::from_millis(10);

/// How often to ping the systemd watchdog for `WATCHDOG_USEC` (as `sd_notify` reads it):
/// half of it, at least [`MIN_WATCHDOG_PERIOD`]. None: no watchdog, also for 0 (which
/// systemd never sets, but the environment is not ours to trust; a zero period would panic
/// the runtime).
pub fn watchdog_period(usec: Option<Duration>) -> Option<Duration> {
    usec.filter(|d| !d.is_zero())
        .map(|d| (d / 2).max(MIN_WATCHDOG_PERIOD))
}

pub(crate) fn absolute(file: &Path) -> PathBuf {
    std::fs::canonicalize(file).unwrap_or_else(|_| file.to_path_buf())
}

/// After the kernel part of `apply`: reload the running runtime (normally already done by
/// `apply_kernel`), or start one (the unit, or a supervised one: `handoff`) and wait until
/// it answers.
pub async fn hand_off(cli: &Cli, file: &Path, handoff: &service::Handoff) -> i32 {
    let file = absolute(file);
    if identity::is_running(&cli.run_dir) {
        return match reload(&cli.run_dir, &file) {
            Ok(report) => {
                print!("{}", report.render_text());
                exit::OK
            }
            Err(e) => {
                crate::report!("reload failed: {e:#}");
                exit::FAILURE
            }
        };
    }
    let started = match handoff {
        service::Handoff::Supervised => spawn(cli, &file),
        service::Handoff::Unit { .. } => service::start_unit(&cli.run_dir),
    };
    match started {
        Ok(()) => exit::OK,
        Err(e) => {
            crate::report!("{e:#}");
            exit::FAILURE
        }
    }
}

/// Before `apply` changes the kernel for a runtime it is about to start (none runs): Err
/// when a file of the run-dir that the start opens would be refused then (a symbolic link
/// or other non-regular file at the runtime's lock, a directory at its socket, and for a
/// runtime of our own a link or non-regular file at its log or the supervisor's pid file),
/// so the apply fails with nothing changed instead of after.
pub fn check_start_files(run_dir: &Path, handoff: &service::Handoff) -> Result<(), String> {
    if identity::is_running_settled(run_dir) {
        // Reloaded, not started.
        return Ok(());
    }
    start_files_refusal(run_dir, handoff).map_err(|e| format!("{e:#}; nothing was applied"))
}

fn start_files_refusal(run_dir: &Path, handoff: &service::Handoff) -> anyhow::Result<()> {
    crate::security::check_state_file(&identity::lock_path(run_dir), "the lock file")?;
    // The runtime removes what is at its socket's name before binding it (a link included,
    // never followed); only a directory there survives that and fails the bind.
    let socket = control::socket_path(run_dir);
    if std::fs::symlink_metadata(&socket).is_ok_and(|m| m.is_dir()) {
        anyhow::bail!(
            "refusing the control socket {}: a directory is in its place; remove it",
            socket.display()
        );
    }
    if matches!(handoff, service::Handoff::Supervised) {
        crate::security::check_state_file(&log_path(run_dir), "the file")?;
        crate::security::check_state_file(&supervisor::pid_path(run_dir), "the pid file")?;
    }
    Ok(())
}

/// The runtime `apply` meant to start did not (its failure is reported): undo the kernel
/// changes made for it (`plan`, with `owned_before` the ownership records before them),
/// unless a runtime or supervisor holds the run-dir after all (a runtime too slow to
/// answer may still come up: the devices are its).
pub async fn undo_failed_start(
    run_dir: &Path,
    plan: &crate::plan::Plan,
    owned_before: &[crate::plan::OwnedRecord],
) {
    if plan.changes.is_empty() {
        return;
    }
    if identity::is_running(run_dir) || supervisor::running(run_dir).is_some() {
        crate::report!(
            "a runtime or its supervisor holds {} after all: the kernel changes are kept for it",
            run_dir.display()
        );
        return;
    }
    let undone = async {
        let _lock = crate::apply::lock(run_dir)?;
        let kernel = crate::kernel::Kernel::connect().await?;
        anyhow::Ok(
            crate::reconcile::kernel::undo_applied(&kernel, run_dir, plan, owned_before).await,
        )
    };
    match undone.await {
        Ok(summary) => crate::report!("the runtime did not start; {summary}"),
        Err(e) => crate::report!(
            "the runtime did not start, and the kernel changes could not be undone: {e:#}"
        ),
    }
}

/// Err naming nftables when `nft` is missing: a runtime must not run without its filter.
pub fn require_nftables() -> anyhow::Result<()> {
    filter::nft_program().map(|_| ())
}

/// Remove the namespace's `netvrrp` nftables tables (what a stopped runtime left blocking
/// its VIPs), for `down`.
pub fn remove_filter() -> anyhow::Result<()> {
    filter::VipFilter::default().remove()
}

/// Ask the runtime of `run_dir` to reload `file`; what it did to each router.
pub fn reload(
    run_dir: &Path,
    file: &Path,
) -> anyhow::Result<crate::reconcile::routers::ReloadReport> {
    let data = control::request(
        run_dir,
        &control::Request::Reload {
            file: absolute(file),
            answer_by: Some(control::reload_deadline()),
        },
    )?;
    serde_json::from_value(data).context("unreadable reload report from the runtime")
}

/// What the runtime of `run_dir` runs, or None when no runtime holds it. A runtime that
/// holds the run-dir but does not answer is an error, never "not running".
pub fn running_state(run_dir: &Path) -> anyhow::Result<Option<crate::reconcile::RunningState>> {
    if !identity::is_running(run_dir) {
        return Ok(None);
    }
    let data = control::request(run_dir, &control::Request::Running)
        .context("a runtime holds the run-dir but did not say what it runs")?;
    serde_json::from_value(data)
        .map(Some)
        .context("unreadable running state from the runtime")
}

/// This executable with the run-dir, verbosity and log format of `cli`, then `args` and
/// `-f file`; stdin from /dev/null, stdout and stderr appended to `<run-dir>/netvrrp.log`
/// (opened now: a runtime rotates it under its own descriptors).
fn logging_child(cli: &Cli, args: &[&str], file: &Path) -> anyhow::Result<std::process::Command> {
    let exe = std::env::current_exe().context("cannot find my own executable")?;
    let log = crate::security::open_append_nofollow(&log_path(&cli.run_dir))?;
    let log2 = log.try_clone().context("cannot duplicate the log handle")?;
    let mut cmd = std::process::Command::new(exe);
    cmd.arg("--run-dir").arg(&cli.run_dir);
    for _ in 0..cli.verbose {
        cmd.arg("-v");
    }
    if cli.log_format == crate::cli::LogFormat::Json {
        cmd.args(["--log-format", "json"]);
    }
    cmd.args(args)
        .arg("-f")
        .arg(file)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2);
    Ok(cmd)
}

/// Start `netvrrp supervise` (which runs `netvrrp run --spawned` and restarts it if it dies:
/// [`supervisor`]) in its own session, so both survive this process and its terminal,
/// logging to `<run-dir>/netvrrp.log`, and wait for the runtime's control socket.
fn spawn(cli: &Cli, file: &Path) -> anyhow::Result<()> {
    use std::os::unix::process::CommandExt;
    crate::security::prepare_run_dir(&cli.run_dir)?;
    // A supervisor still waiting to restart a runtime that died would start a second one.
    if let Some(pid) = supervisor::stop_waiting(&cli.run_dir)? {
        println!("netvrrp: stopped the supervisor (pid {pid}) waiting to restart the runtime");
    }
    // One format per file, and a size cap (see `log_file`).
    log_file::prepare(
        &log_path(&cli.run_dir),
        cli.log_format == crate::cli::LogFormat::Json,
    )
    .context("cannot rotate the runtime's log")?;
    // We are already inside the namespace (main entered it); the children inherit it.
    let mut cmd = logging_child(cli, &["supervise"], file)?;
    // SAFETY: setsid is async-signal-safe and touches no memory of the parent.
    unsafe {
        cmd.pre_exec(|| {
            nix::unistd::setsid()
                .map(|_| ())
                .map_err(std::io::Error::from)
        });
    }
    // `apply --netns` opened the process events connector before entering the namespace,
    // where the runtime cannot open it; the supervisor hands it to every runtime it starts.
    crate::track::process::hand_over(&mut cmd);
    let mut child = cmd.spawn().context("cannot start the runtime")?;
    for _ in 0..400 {
        if control::ping(&cli.run_dir).is_ok() {
            return Ok(());
        }
        if let Some(status) = child.try_wait().context("cannot watch the runtime")? {
            anyhow::bail!(
                "the runtime exited at start ({status}); see {}",
                log_path(&cli.run_dir).display()
            );
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    anyhow::bail!(
        "the runtime did not answer within 10 s; see {}",
        log_path(&cli.run_dir).display()
    )
}

/// The kernel as the runtime starts: read (`spawned`: apply has just reconciled it) or
/// reconciled through [`crate::reconcile::kernel`] (no runtime runs yet: protodown is the
/// configurator's, but a device answering now is left for the runtime to take over).
async fn reconcile_at_start(
    run_dir: &Path,
    file: &Path,
    spawned: bool,
) -> Result<crate::reconcile::kernel::Loaded, crate::reconcile::kernel::Failure> {
    use crate::reconcile::kernel::{self, Failure};
    let kernel = crate::kernel::Kernel::connect()
        .await
        .map_err(Failure::Io)?;
    if spawned {
        return kernel::load(&kernel, file, run_dir).await;
    }
    let _lock = crate::apply::lock(run_dir).map_err(Failure::Io)?;
    let loaded = kernel::load(&kernel, file, run_dir).await?;
    // The runtime starts right after: it takes over the devices answering now.
    let owner = crate::plan::ProtodownOwner::Handover;
    let plan = kernel::plan(&loaded, owner)?;
    let (loaded, _) = kernel::execute(&kernel, run_dir, loaded, &plan, owner, || async {
        Ok(None)
    })
    .await?;
    Ok(loaded)
}

/// `netvrrp run`: apply the kernel state, then run elections until stopped. `spawned`:
/// started by `apply` (through the supervisor), which has just reconciled the kernel, unless
/// `restarted` (the supervisor's restart after the previous runtime died: reconciled again,
/// as a start by hand is).
pub async fn run(cli: &Cli, file: &Path, spawned: bool, restarted: bool) -> i32 {
    runtime::share_one_heap_arena();
    if let Err(e) = crate::security::check_config_file(file)
        .and_then(|()| crate::security::prepare_run_dir(&cli.run_dir))
        .and_then(|()| filter::nft_program().map(|_| ()))
    {
        crate::report!("{e:#}");
        return exit::FAILURE;
    }
    // Held until this process exits: the lock says "running" even when the socket is busy.
    let _lock = match identity::hold(&cli.run_dir)
        .and_then(|lock| identity::claim_namespace(&cli.run_dir).map(|()| lock))
    {
        Ok(lock) => lock,
        Err(e) => {
            crate::report!("{e:#}");
            return exit::FAILURE;
        }
    };
    identity::set_runtime(&cli.run_dir);
    // `apply` has just reconciled the kernel before spawning us; do it again anyway when run
    // by hand or by systemd, where nothing did.
    let loaded = match reconcile_at_start(&cli.run_dir, file, spawned && !restarted).await {
        Ok(l) => l,
        Err(f) => {
            crate::report!("{f}");
            return f.exit_code();
        }
    };
    // Before the runtime starts its timers. Read at start only: a reload keeps the policy.
    sched::apply_realtime_priority(loaded.config.runtime.realtime_priority);
    match runtime::Runtime::start(cli.run_dir.clone(), absolute(file), loaded).await {
        Ok(rt) => match rt.run().await {
            Ok(()) => exit::OK,
            Err(e) => {
                crate::report!("runtime failed: {e:#}");
                exit::FAILURE
            }
        },
        Err(e) => {
            crate::report!("cannot start the runtime: {e:#}");
            exit::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watchdog_period_from_any_environment() {
        assert_eq!(watchdog_period(None), None);
        assert_eq!(watchdog_period(Some(Duration::ZERO)), None);
        assert_eq!(
            watchdog_period(Some(Duration::from_micros(1))),
            Some(MIN_WATCHDOG_PERIOD)
        );
        assert_eq!(
            watchdog_period(Some(Duration::from_secs(30))),
            Some(Duration::from_secs(15))
        );
        // u64::MAX microseconds: a valid (if useless) period; tokio handles it.
        assert!(watchdog_period(Some(Duration::from_micros(u64::MAX))).is_some());
    }
}
