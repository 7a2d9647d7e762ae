//! The runtime process: spawn/hand-off from `apply`, the foreground `run`, the control socket
//! and the event loop that drives every VRRP router.

pub mod access;
pub mod control;
pub mod filter;
pub mod metrics;
pub mod nft_netlink;
pub mod render;
pub mod runtime;
pub mod sched;
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

pub fn log_path(run_dir: &Path) -> PathBuf {
    run_dir.join("netvrrp.log")
}

fn absolute(file: &Path) -> PathBuf {
    std::fs::canonicalize(file).unwrap_or_else(|_| file.to_path_buf())
}

/// After the kernel part of `apply`: reload the running runtime (normally already done by
/// `apply_kernel`), or start one detached and wait until it answers.
pub async fn hand_off(cli: &Cli, file: &Path) -> i32 {
    let file = absolute(file);
    if control::ping(&cli.run_dir).is_ok() {
        return match control::request(&cli.run_dir, &control::Request::Reload { file }) {
            Ok(summary) => {
                tracing::info!(target: "netvrrp::protocol", %summary, "runtime reloaded");
                exit::OK
            }
            Err(e) => {
                eprintln!("netvrrp: reload failed: {e:#}");
                exit::FAILURE
            }
        };
    }
    match spawn(cli, &file) {
        Ok(()) => exit::OK,
        Err(e) => {
            eprintln!("netvrrp: {e:#}");
            exit::FAILURE
        }
    }
}

/// Start `netvrrp run --spawned` in its own session (so it survives this process and its
/// terminal), logging to `<run-dir>/netvrrp.log`, and wait for its control socket.
fn spawn(cli: &Cli, file: &Path) -> anyhow::Result<()> {
    use std::os::unix::process::CommandExt;
    let exe = std::env::current_exe().context("cannot find my own executable")?;
    crate::security::prepare_run_dir(&cli.run_dir)?;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log_path(&cli.run_dir))
        .with_context(|| format!("cannot open {}", log_path(&cli.run_dir).display()))?;
    let log2 = log.try_clone().context("cannot duplicate the log handle")?;
    let mut cmd = std::process::Command::new(exe);
    // We are already inside the namespace (main entered it); the child inherits it.
    cmd.arg("--run-dir").arg(&cli.run_dir);
    for _ in 0..cli.verbose {
        cmd.arg("-v");
    }
    if cli.log_format == crate::cli::LogFormat::Json {
        cmd.args(["--log-format", "json"]);
    }
    cmd.arg("run")
        .arg("--spawned")
        .arg("-f")
        .arg(file)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2);
    // SAFETY: setsid is async-signal-safe and touches no memory of the parent.
    unsafe {
        cmd.pre_exec(|| {
            nix::unistd::setsid()
                .map(|_| ())
                .map_err(std::io::Error::from)
        });
    }
    // `apply --netns` opened the process events connector before entering the namespace,
    // where the runtime cannot open it.
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

/// `netvrrp run`: apply the kernel state, then run elections until stopped.
pub async fn run(cli: &Cli, file: &Path, spawned: bool) -> i32 {
    if let Err(e) = crate::security::check_config_file(file)
        .and_then(|()| crate::security::prepare_run_dir(&cli.run_dir))
    {
        eprintln!("netvrrp: {e:#}");
        return exit::FAILURE;
    }
    if control::ping(&cli.run_dir).is_ok() {
        eprintln!(
            "netvrrp: a runtime already answers on {}",
            control::socket_path(&cli.run_dir).display()
        );
        return exit::FAILURE;
    }
    // `apply` has just reconciled the kernel before spawning us; do it again anyway when run
    // by hand or by systemd, where nothing did.
    let loaded = if spawned {
        let kernel = match crate::kernel::Kernel::connect().await {
            Ok(k) => k,
            Err(e) => {
                eprintln!("netvrrp: {e:#}");
                return exit::FAILURE;
            }
        };
        crate::commands::load(&kernel, file, &cli.run_dir).await
    } else {
        crate::commands::apply_kernel(
            &cli.run_dir,
            file,
            false,
            false,
            crate::commands::Reload::No,
        )
        .await
    };
    let loaded = match loaded {
        Ok(l) => l,
        Err(code) => return code,
    };
    // Before the runtime starts its timers. Read at start only: a reload keeps the policy.
    sched::apply_realtime_priority(loaded.config.runtime.realtime_priority);
    match runtime::Runtime::start(cli.run_dir.clone(), absolute(file), loaded).await {
        Ok(rt) => match rt.run().await {
            Ok(()) => exit::OK,
            Err(e) => {
                eprintln!("netvrrp: runtime failed: {e:#}");
                exit::FAILURE
            }
        },
        Err(e) => {
            eprintln!("netvrrp: cannot start the runtime: {e:#}");
            exit::FAILURE
        }
    }
}
