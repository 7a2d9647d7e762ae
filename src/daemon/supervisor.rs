//! The supervisor of a runtime that `apply` starts outside systemd: the detached process is
//! `netvrrp supervise -f FILE` (a hidden subcommand), which runs `netvrrp run` as its child
//! and starts it again when it dies abnormally, as systemd's `Restart=on-failure` does for
//! the unit. Only the runtime `apply` spawns is supervised: `run` by hand, under systemd or
//! under another init's supervisor is theirs, so the two never fight over one runtime.
//!
//! - Restarted: a runtime killed by a signal (kill -9, the OOM killer, a crash) or exiting
//!   with a code other than 0, 2 (usage) and 65 (invalid configuration), like the unit's
//!   `RestartPreventExitStatus=2 65`: restarting cannot fix those.
//! - Not restarted: a clean exit (`netvrrp stop`, `down`, SIGTERM to the runtime); the
//!   supervisor exits with it. SIGTERM/SIGINT to the supervisor stop the runtime (SIGTERM
//!   forwarded: priority 0 from every Master) and then the supervisor; SIGHUP is forwarded
//!   (a reload).
//! - Backoff 1 s, doubling to 30 s; a runtime that ran [`Policy::stable`] starts the
//!   backoff over. At most [`Policy::burst`] restarts within [`Policy::window`]: one more
//!   and the supervisor gives up (logged), as systemd's start limit does.
//! - The first runtime is `apply`'s: if it dies before it ever answered, the supervisor
//!   exits with its status and `apply` reports the failure (nothing is retried behind the
//!   operator's back). A restarted runtime reconciles the kernel at start (`run
//!   --restarted`, like a start by hand) and resumes from `masters.json`: a Master comes
//!   back without a flap.
//! - Logged (to `<run-dir>/netvrrp.log`, the runtime's log): each restart with why the
//!   runtime died, and giving up.
//! - `<run-dir>/netvrrp-supervisor.pid` names the supervisor while it runs, so `stop` and
//!   `apply` find one that is waiting to restart the runtime (no runtime answers then).

use crate::cli::Cli;
use crate::exit;
use anyhow::Context;
use std::collections::VecDeque;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::{Duration, Instant};

/// Restart limits; see the module documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Delay before the first restart after a stable run.
    pub first_delay: Duration,
    /// The longest delay (the backoff doubles up to it).
    pub max_delay: Duration,
    /// A runtime that ran this long before dying starts the backoff over.
    pub stable: Duration,
    /// At most this many restarts within [`Policy::window`].
    pub burst: usize,
    pub window: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            first_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(30),
            stable: Duration::from_secs(60),
            burst: 5,
            window: Duration::from_secs(600),
        }
    }
}

/// How a runtime ended, for the restart decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// Exit 0: stopped on purpose.
    Clean,
    /// An exit code restarting cannot fix (usage, invalid configuration).
    Final(i32),
    /// Killed by a signal or failed: restart. The text says which.
    Abnormal(String),
}

/// [`Ended`] from a wait status.
pub fn classify(status: ExitStatus) -> Ended {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(0), _) => Ended::Clean,
        (Some(c @ (exit::USAGE | exit::DATAERR)), _) => Ended::Final(c),
        (Some(c), _) => Ended::Abnormal(format!("exit code {c}")),
        (None, Some(sig)) => Ended::Abnormal(match nix::sys::signal::Signal::try_from(sig) {
            Ok(s) => format!("killed by {s}"),
            Err(_) => format!("killed by signal {sig}"),
        }),
        (None, None) => Ended::Abnormal(format!("{status}")),
    }
}

/// What to do after an abnormal end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Restart after this delay; the count is this restart's number within the window.
    Restart { after: Duration, count: usize },
    /// The restart limit is reached.
    GiveUp,
}

/// The backoff and the restart limit over time.
#[derive(Debug)]
pub struct Backoff {
    policy: Policy,
    delay: Duration,
    restarts: VecDeque<Instant>,
}

impl Backoff {
    pub fn new(policy: Policy) -> Backoff {
        Backoff {
            policy,
            delay: policy.first_delay,
            restarts: VecDeque::new(),
        }
    }

    /// A runtime that ran for `ran` died abnormally at `now`: restart it (after how long),
    /// or give up.
    pub fn next(&mut self, now: Instant, ran: Duration) -> Decision {
        while self
            .restarts
            .front()
            .is_some_and(|&t| now.duration_since(t) >= self.policy.window)
        {
            self.restarts.pop_front();
        }
        if self.restarts.len() >= self.policy.burst {
            return Decision::GiveUp;
        }
        if ran >= self.policy.stable {
            self.delay = self.policy.first_delay;
        }
        let after = self.delay;
        self.delay = (self.delay * 2).min(self.policy.max_delay);
        self.restarts.push_back(now);
        Decision::Restart {
            after,
            count: self.restarts.len(),
        }
    }
}

pub fn pid_path(run_dir: &Path) -> PathBuf {
    run_dir.join("netvrrp-supervisor.pid")
}

/// The pid of a live supervisor of `run_dir` (its pid file, checked against the process's
/// command line: a stale file or a reused pid is not one).
pub fn running(run_dir: &Path) -> Option<nix::unistd::Pid> {
    let pid: i32 = std::fs::read_to_string(pid_path(run_dir))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let args: Vec<&[u8]> = cmdline.split(|&b| b == 0).collect();
    let canonical = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let ours = args.contains(&&b"supervise"[..])
        && args.windows(2).any(|w| {
            w[0] == b"--run-dir"
                && canonical(Path::new(std::ffi::OsStr::from_bytes(w[1]))) == canonical(run_dir)
        });
    ours.then(|| nix::unistd::Pid::from_raw(pid))
}

/// Stop a supervisor of `run_dir` that waits to restart a dead runtime (SIGTERM; it has no
/// runtime to stop) and wait until it is gone. Some(pid) when there was one.
pub fn stop_waiting(run_dir: &Path) -> anyhow::Result<Option<i32>> {
    let Some(pid) = running(run_dir) else {
        return Ok(None);
    };
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM)
        .with_context(|| format!("cannot stop the runtime's supervisor (pid {pid})"))?;
    for _ in 0..400 {
        if running(run_dir).is_none() {
            return Ok(Some(pid.as_raw()));
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    anyhow::bail!("the runtime's supervisor (pid {pid}) is still running after 10 s")
}

/// After a requested stop: wait (up to 2 s) for the supervisor of `run_dir` to see its
/// runtime's clean exit and end on its own, then stop it if it has not, so that when `stop`
/// returns nothing of this run-dir runs (a second `stop` right after would otherwise find a
/// supervisor and take it for one waiting to restart a dead runtime).
pub fn wait_gone(run_dir: &Path) -> anyhow::Result<()> {
    for _ in 0..80 {
        if running(run_dir).is_none() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    stop_waiting(run_dir).map(|_| ())
}

/// `netvrrp run` as the supervisor's child, logging to the run-dir's log file.
fn runtime_command(
    cli: &Cli,
    file: &Path,
    restarted: bool,
) -> anyhow::Result<std::process::Command> {
    // The log is opened again for every child: the runtime rotates it under its own
    // descriptors.
    let args: &[&str] = if restarted {
        &["run", "--spawned", "--restarted"]
    } else {
        &["run", "--spawned"]
    };
    let mut cmd = super::logging_child(cli, args, file)?;
    crate::track::process::hand_over(&mut cmd);
    Ok(cmd)
}

/// Point this process's stdout and stderr at the log file again (the runtime may have
/// rotated it), so the supervisor's lines land next to the runtime's.
fn reopen_log(run_dir: &Path) {
    use std::os::fd::AsRawFd;
    if let Ok(file) = crate::security::open_append_nofollow(&super::log_path(run_dir)) {
        for fd in [1, 2] {
            // SAFETY: dup2 onto this process's own stdout/stderr.
            unsafe { libc::dup2(file.as_raw_fd(), fd) };
        }
    }
}

/// Signals the supervisor handles.
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

/// How one runtime's life ended, seen from the supervisor.
enum Outcome {
    /// It exited (or was killed) by itself; whether it ever answered.
    Died(ExitStatus, bool),
    /// The supervisor was told to stop and the runtime has exited.
    Stopped(ExitStatus),
}

fn forward(child: &tokio::process::Child, sig: nix::sys::signal::Signal) {
    if let Some(pid) = child.id() {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), sig);
    }
}

/// Wait for the runtime to end, forwarding SIGTERM/SIGINT (then waiting) and SIGHUP.
async fn watch(
    run_dir: &Path,
    child: &mut tokio::process::Child,
    signals: &mut Signals,
) -> std::io::Result<Outcome> {
    use nix::sys::signal::Signal;
    let mut answered = false;
    let mut poll = tokio::time::interval(Duration::from_millis(25));
    loop {
        tokio::select! {
            status = child.wait() => return Ok(Outcome::Died(status?, answered)),
            _ = signals.term.recv() => break,
            _ = signals.int.recv() => break,
            _ = signals.hup.recv() => forward(child, Signal::SIGHUP),
            _ = poll.tick(), if !answered => {
                answered = super::control::ping(run_dir).is_ok();
            }
        }
    }
    forward(child, Signal::SIGTERM);
    Ok(Outcome::Stopped(child.wait().await?))
}

fn exit_code(status: ExitStatus) -> i32 {
    status.code().unwrap_or(exit::FAILURE)
}

/// `netvrrp supervise`: run the runtime, restart it per [`Policy`]; the exit code of the
/// last runtime (0 after a clean stop).
pub async fn supervise(cli: &Cli, file: &Path) -> i32 {
    use tokio::signal::unix::{SignalKind, signal};
    let signals = (|| -> std::io::Result<Signals> {
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            hup: signal(SignalKind::hangup())?,
        })
    })();
    let mut signals = match signals {
        Ok(s) => s,
        Err(e) => {
            crate::report!("cannot catch signals: {e}");
            return exit::FAILURE;
        }
    };
    let pid_file = pid_path(&cli.run_dir);
    // Not through a link planted at the name (see `crate::security`).
    if let Err(e) =
        crate::security::replace_file(&pid_file, format!("{}\n", std::process::id()).as_bytes())
    {
        crate::report!("cannot write {}: {e:#}", pid_file.display());
        return exit::FAILURE;
    }
    let code = supervise_loop(cli, file, &mut signals).await;
    let _ = std::fs::remove_file(&pid_file);
    code
}

async fn supervise_loop(cli: &Cli, file: &Path, signals: &mut Signals) -> i32 {
    let mut backoff = Backoff::new(Policy::default());
    let mut restarted = false;
    loop {
        let started = Instant::now();
        let child = runtime_command(cli, file, restarted).and_then(|cmd| {
            tokio::process::Command::from(cmd)
                .spawn()
                .context("cannot start the runtime")
        });
        let mut child = match child {
            Ok(c) => c,
            Err(e) => {
                crate::report!("{e:#}");
                return exit::FAILURE;
            }
        };
        let outcome = match watch(&cli.run_dir, &mut child, signals).await {
            Ok(o) => o,
            Err(e) => {
                crate::report!("cannot watch the runtime: {e}");
                return exit::FAILURE;
            }
        };
        let (status, answered) = match outcome {
            Outcome::Stopped(status) => return exit_code(status),
            Outcome::Died(status, answered) => (status, answered),
        };
        reopen_log(&cli.run_dir);
        let why = match classify(status) {
            Ended::Clean => return exit::OK,
            Ended::Final(code) => {
                tracing::error!(
                    "supervisor: the runtime exited with code {code}; not restarted (restarting cannot fix it)"
                );
                return code;
            }
            // apply's own runtime failed to start: apply reports it.
            Ended::Abnormal(_) if !restarted && !answered => return exit_code(status),
            Ended::Abnormal(why) => why,
        };
        let after = match backoff.next(Instant::now(), started.elapsed()) {
            Decision::GiveUp => {
                let p = Policy::default();
                tracing::error!(
                    "supervisor: the runtime died ({why}); giving up after {} restarts within {} s",
                    p.burst,
                    p.window.as_secs()
                );
                return exit_code(status);
            }
            Decision::Restart { after, count } => {
                tracing::warn!(
                    "supervisor: the runtime died ({why}); restarting it in {} ms (restart {count})",
                    after.as_millis()
                );
                after
            }
        };
        tokio::select! {
            () = tokio::time::sleep(after) => {}
            _ = signals.term.recv() => return exit::OK,
            _ = signals.int.recv() => return exit::OK,
        }
        restarted = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    #[test]
    fn a_stale_or_foreign_pid_file_names_no_supervisor() {
        let dir = std::env::temp_dir().join(format!("netvrrp-sup-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert_eq!(running(&dir), None);
        // A live process that is not `netvrrp supervise` (this test binary), a dead pid,
        // garbage: none is a supervisor to signal.
        for content in [
            std::process::id().to_string(),
            "999999999".into(),
            "x".into(),
        ] {
            std::fs::write(pid_path(&dir), content).unwrap();
            assert_eq!(running(&dir), None);
            assert_eq!(stop_waiting(&dir).unwrap(), None);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn clean_final_and_abnormal_ends() {
        assert_eq!(classify(ExitStatus::from_raw(0)), Ended::Clean);
        assert_eq!(classify(ExitStatus::from_raw(65 << 8)), Ended::Final(65));
        assert_eq!(classify(ExitStatus::from_raw(2 << 8)), Ended::Final(2));
        assert_eq!(
            classify(ExitStatus::from_raw(1 << 8)),
            Ended::Abnormal("exit code 1".into())
        );
        assert_eq!(
            classify(ExitStatus::from_raw(libc::SIGKILL)),
            Ended::Abnormal("killed by SIGKILL".into())
        );
        assert_eq!(
            classify(ExitStatus::from_raw(libc::SIGSEGV)),
            Ended::Abnormal("killed by SIGSEGV".into())
        );
    }

    #[test]
    fn backoff_doubles_to_its_cap_and_gives_up_after_the_burst() {
        let p = Policy::default();
        let mut b = Backoff::new(p);
        let t0 = Instant::now();
        let quick = Duration::from_millis(100);
        let delays: Vec<Decision> = (0..6)
            .map(|i| b.next(t0 + Duration::from_secs(i), quick))
            .collect();
        assert_eq!(
            delays,
            vec![
                Decision::Restart {
                    after: Duration::from_secs(1),
                    count: 1
                },
                Decision::Restart {
                    after: Duration::from_secs(2),
                    count: 2
                },
                Decision::Restart {
                    after: Duration::from_secs(4),
                    count: 3
                },
                Decision::Restart {
                    after: Duration::from_secs(8),
                    count: 4
                },
                Decision::Restart {
                    after: Duration::from_secs(16),
                    count: 5
                },
                Decision::GiveUp,
            ]
        );
    }

    #[test]
    fn the_delay_stops_at_max_delay() {
        let p = Policy {
            burst: 100,
            ..Policy::default()
        };
        let mut b = Backoff::new(p);
        let t0 = Instant::now();
        let mut last = Duration::ZERO;
        for i in 0..10 {
            if let Decision::Restart { after, .. } =
                b.next(t0 + Duration::from_secs(i), Duration::ZERO)
            {
                last = after;
            }
        }
        assert_eq!(last, p.max_delay);
    }

    #[test]
    fn a_stable_run_restarts_the_backoff_and_old_restarts_leave_the_window() {
        let p = Policy::default();
        let mut b = Backoff::new(p);
        let t0 = Instant::now();
        for i in 0..5 {
            assert!(matches!(
                b.next(t0 + Duration::from_secs(i), Duration::ZERO),
                Decision::Restart { .. }
            ));
        }
        // The window has passed since those five: restarted again, and after a stable run
        // with the first delay.
        let later = t0 + p.window + Duration::from_secs(10);
        assert_eq!(
            b.next(later, p.stable),
            Decision::Restart {
                after: p.first_delay,
                count: 1
            }
        );
    }
}
