//! Running a hook once: argv only, off the event loop, the whole process tree killed at the
//! timeout, and nothing left behind (the helper reaped by its thread, the output reader
//! joined or aborted).
//!
//! The check runs below a helper process that is its subreaper ([`super::subreaper`]):
//! at the timeout, when its tracker stops, or when the runtime dies, the helper kills the
//! check's process group and every process that ended up below it, setsid() or not. A
//! thread of its own starts the helper and waits for it, so nothing here blocks the event
//! loop.

use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::sync::oneshot;

use super::subreaper::{self, Ended};

/// Output bytes kept of one run (its tail): enough for [`super::OUTPUT_LINES`] lines.
const OUTPUT_CAP: usize = 4096;
/// How long output is still read after the check ended (a descendant outside a PID
/// namespace may hold the pipe open).
const OUTPUT_GRACE: Duration = Duration::from_millis(100);

/// How one run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Exit status 0.
    pub success: bool,
    /// Killed at the timeout.
    pub timed_out: bool,
    /// The exit code when it exited by itself.
    pub code: Option<i32>,
    /// `exit status 3`, `killed by signal 9`, `timed out after 500 ms`, `cannot execute:
    /// No such file or directory (os error 2)`.
    pub status: String,
    /// The last lines of stdout and stderr.
    pub output: VecDeque<String>,
}

impl Outcome {
    /// The program could not be started at all (missing, not executable, unknown user...):
    /// a configuration error rather than a failing check.
    pub fn could_not_execute(&self) -> bool {
        self.status.starts_with("cannot execute")
    }
}

struct Spawned {
    /// The helper between the runtime and the check (see [`super::subreaper`]).
    helper: i32,
    output: OwnedFd,
    /// How the check ended, once it has.
    ended: oneshot::Receiver<Ended>,
}

/// Start the check below a helper, on a thread of its own that then waits for it: the
/// helper kills the check's tree when that thread ends (the runtime dying included).
async fn spawn(hook: &super::Hook) -> io::Result<Spawned> {
    let (reply, wait) = oneshot::channel();
    let (ended_tx, ended) = oneshot::channel();
    let hook = hook.clone();
    std::thread::Builder::new()
        .name("hook".into())
        .spawn(move || match subreaper::start(&hook) {
            Ok(started) => {
                let helper = started.helper;
                if reply.send(Ok((helper, started.output))).is_err() {
                    // The run was dropped while starting: nobody will stop it later.
                    subreaper::stop(helper);
                }
                let _ = ended_tx.send(subreaper::wait(helper, started.status));
            }
            Err(e) => {
                let _ = reply.send(Err(e));
            }
        })?;
    let (helper, output) = wait
        .await
        .map_err(|_| io::Error::other("the check's thread ended without an answer"))??;
    Ok(Spawned {
        helper,
        output,
        ended,
    })
}

/// Stops the check if the run is dropped half-way (its tracker stopped by a reload); its
/// thread reaps the helper.
struct StopOnDrop(Option<i32>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        if let Some(helper) = self.0.take() {
            subreaper::stop(helper);
        }
    }
}

/// Run `hook` once, killing its tree at `timeout`.
pub async fn run(hook: &super::Hook, timeout: Duration) -> Outcome {
    let spawned = match spawn(hook).await {
        Ok(s) => s,
        Err(e) => {
            return Outcome {
                success: false,
                timed_out: false,
                code: None,
                status: format!("cannot execute: {e}"),
                output: VecDeque::new(),
            };
        }
    };
    let mut guard = StopOnDrop(Some(spawned.helper));
    let mut reader = tokio::spawn(read_tail(spawned.output));
    let mut ended = spawned.ended;
    let (timed_out, ended) = match tokio::time::timeout(timeout, &mut ended).await {
        Ok(ended) => (false, ended),
        Err(_) => {
            // The helper kills the tree, then its thread reaps it: this wait is short.
            subreaper::stop(spawned.helper);
            (true, ended.await)
        }
    };
    guard.0 = None;
    let output = match tokio::time::timeout(OUTPUT_GRACE, &mut reader).await {
        Ok(Ok(lines)) => lines,
        _ => {
            // Not detached: the task and the pipe's descriptor end here.
            reader.abort();
            VecDeque::new()
        }
    };
    let code = match ended {
        Ok(Ended::Exited(code)) if !timed_out => Some(code),
        _ => None,
    };
    let (success, status) = match ended {
        _ if timed_out => (false, format!("timed out after {} ms", timeout.as_millis())),
        Ok(Ended::Exited(0)) => (true, "exit status 0".into()),
        Ok(Ended::Exited(code)) => (false, format!("exit status {code}")),
        Ok(Ended::Signaled(sig)) => (
            false,
            match nix::sys::signal::Signal::try_from(sig) {
                Ok(s) => format!("killed by signal {s}"),
                Err(_) => format!("killed by signal {sig}"),
            },
        ),
        Ok(Ended::ExecFailed(errno)) => (
            false,
            format!("cannot execute: {}", io::Error::from_raw_os_error(errno)),
        ),
        Ok(Ended::Unknown) | Err(_) => (false, "ended without a status".into()),
    };
    Outcome {
        success,
        timed_out,
        code,
        status,
        output,
    }
}

/// Read the pipe to its end, keeping the last [`OUTPUT_CAP`] bytes, as lines.
async fn read_tail(fd: OwnedFd) -> VecDeque<String> {
    let mut tail: VecDeque<u8> = VecDeque::new();
    // Non-blocking, as tokio's pipe type requires.
    let _ = nix::fcntl::fcntl(
        fd.as_fd(),
        nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
    );
    if let Ok(mut pipe) = tokio::net::unix::pipe::Receiver::from_owned_fd(fd) {
        let mut buf = [0u8; 1024];
        while let Ok(n) = pipe.read(&mut buf).await {
            if n == 0 {
                break;
            }
            tail.extend(&buf[..n]);
            let over = tail.len().saturating_sub(OUTPUT_CAP);
            tail.drain(..over);
        }
    }
    let bytes: Vec<u8> = tail.into_iter().collect();
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<&str> = text.lines().collect();
    let skip = lines.len().saturating_sub(super::OUTPUT_LINES);
    lines[skip..].iter().map(|l| l.to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(a: &[&str]) -> crate::hook::Hook {
        crate::hook::Hook::new(
            a.iter().map(|s| s.to_string()).collect(),
            crate::config::RunAs::default(),
        )
    }

    #[tokio::test]
    async fn track_run_exit_status_and_output() {
        let ok = run(
            &argv(&["/bin/sh", "-c", "echo one; echo two >&2"]),
            Duration::from_secs(5),
        )
        .await;
        assert!(ok.success, "{ok:?}");
        assert_eq!(ok.status, "exit status 0");
        assert_eq!(ok.output, ["one", "two"]);
        let bad = run(&argv(&["/bin/sh", "-c", "exit 3"]), Duration::from_secs(5)).await;
        assert_eq!((bad.success, bad.status.as_str()), (false, "exit status 3"));
    }

    #[tokio::test]
    async fn hook_runs_with_a_cleared_environment_in_root_dir() {
        let mut h = argv(&[
            "/bin/sh",
            "-c",
            "echo \"$(pwd)|$PATH|${HOME-unset}|$NETVRRP_X\"; env | wc -l",
        ]);
        h.env = vec![("NETVRRP_X".into(), "x y".into())];
        // SAFETY: only this test of the process reads or writes this variable.
        unsafe { std::env::set_var("NETVRRP_LEAK_TEST", "leaked") };
        let o = run(&h, Duration::from_secs(5)).await;
        assert!(o.success, "{o:?}");
        assert_eq!(o.output[0], format!("/|{}|unset|x y", crate::hook::PATH));
        // PATH, NETVRRP_X and what sh itself exports (PWD, maybe SHLVL and _): nothing of
        // ours beyond those.
        let count: usize = o.output[1].trim().parse().expect("a count");
        assert!(count <= 5, "{o:?}");
    }

    #[tokio::test]
    async fn hook_runs_as_the_configured_user_and_group() {
        let mut h = argv(&[
            "/bin/sh",
            "-c",
            "echo \"$(id -u) $(id -g) $(id -G)\"; grep CapEff /proc/self/status",
        ]);
        h.run_as = crate::config::RunAs {
            uid: Some(65534),
            gid: Some(65534),
        };
        let o = run(&h, Duration::from_secs(5)).await;
        assert!(o.success, "{o:?}");
        assert_eq!(o.output[0], "65534 65534 65534");
        assert_eq!(o.output[1], "CapEff:\t0000000000000000");
    }

    #[tokio::test]
    async fn track_run_missing_program_fails() {
        let o = run(&argv(&["/nonexistent/check"]), Duration::from_secs(5)).await;
        assert!(!o.success);
        assert!(o.status.starts_with("cannot execute"), "{o:?}");
    }

    #[tokio::test]
    async fn track_run_timeout_kills() {
        let start = std::time::Instant::now();
        let o = run(&argv(&["/bin/sleep", "30"]), Duration::from_millis(200)).await;
        assert_eq!(
            (o.success, o.status.as_str()),
            (false, "timed out after 200 ms")
        );
        assert!(start.elapsed() < Duration::from_secs(5));
    }

    /// Processes whose command line contains `token`.
    fn running(token: &str) -> usize {
        std::fs::read_dir("/proc")
            .unwrap()
            .filter_map(|e| std::fs::read(e.ok()?.path().join("cmdline")).ok())
            .filter(|c| String::from_utf8_lossy(c).contains(token))
            .count()
    }

    #[tokio::test]
    async fn track_run_timeout_kills_setsid_descendants() {
        let token = format!("{}.{}", 600 + std::process::id() % 100, std::process::id());
        let script = format!("setsid /bin/sleep {token} & /bin/sleep {token}");
        let o = run(
            &argv(&["/bin/sh", "-c", &script]),
            Duration::from_millis(300),
        )
        .await;
        assert!(o.status.starts_with("timed out"), "{o:?}");
        assert_eq!(running(&token), 0, "a descendant survived the timeout");
    }

    #[tokio::test]
    async fn track_run_daemon_left_by_a_finished_check_is_killed() {
        let token = format!("{}.{}", 700 + std::process::id() % 100, std::process::id());
        // The subshell forks a daemon and exits at once: an orphan while the check runs.
        let script = format!("(setsid /bin/sleep {token} &); exit 0");
        let o = run(&argv(&["/bin/sh", "-c", &script]), Duration::from_secs(5)).await;
        assert!(o.success, "{o:?}");
        assert_eq!(running(&token), 0, "the daemon outlived its check");
    }

    #[tokio::test]
    async fn track_run_check_can_signal_other_processes() {
        // keepalived's `killall -0 haproxy` idiom: the check shares our PID namespace.
        let me = std::process::id().to_string();
        let o = run(&argv(&["/bin/kill", "-0", &me]), Duration::from_secs(5)).await;
        assert!(o.success, "{o:?}");
    }

    #[tokio::test]
    async fn track_run_dropped_at_once_leaves_nothing() {
        // A tracker stopped by a reload while its check is starting.
        let token = format!("{}.{}", 800 + std::process::id() % 100, std::process::id());
        let script = format!("setsid /bin/sleep {token} & /bin/sleep {token}");
        for wait_ms in [0, 5, 50] {
            let a = argv(&["/bin/sh", "-c", &script]);
            let _ = tokio::time::timeout(
                Duration::from_millis(wait_ms),
                run(&a, Duration::from_secs(30)),
            )
            .await;
        }
        let end = std::time::Instant::now() + Duration::from_secs(5);
        while running(&token) > 0 && std::time::Instant::now() < end {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(running(&token), 0, "a stopped check outlived its tracker");
    }
}
