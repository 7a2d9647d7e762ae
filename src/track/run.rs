//! Running one exec check: argv only, off the event loop, the whole process tree killed at
//! the timeout.
//!
//! Each check starts as PID 1 of a PID namespace of its own. When that process ends (on
//! its own, or killed at the timeout) the kernel kills everything else in the namespace, so
//! no descendant outlives it, not even one that called setsid() or double-forked (a
//! process group or session would not hold those). The namespace is made by a short-lived
//! thread calling `unshare(CLONE_NEWPID)` before the spawn: that changes only the
//! namespace of that thread's future children, so no other thread's spawns are affected
//! (and a thread can do it only once: each run has a thread of its own).
//! Without the privilege (CAP_SYS_ADMIN) the check runs in a process group of its own, and
//! that group is killed at the timeout; a warning says so once.
//!
//! The thread that started the check waits for it (it is the parent) and hands the exit
//! status over; the check is killed if that thread ends (PR_SET_PDEATHSIG), so a runtime
//! that dies, even by SIGKILL, leaves no check behind.

use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::sync::oneshot;

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
    /// `exit status 3`, `killed by signal 9`, `timed out after 500 ms`, `cannot execute:
    /// No such file or directory (os error 2)`.
    pub status: String,
    /// The last lines of stdout and stderr.
    pub output: VecDeque<String>,
}

struct Spawned {
    pid: i32,
    output: OwnedFd,
    /// The thread's `waitpid` result, once the check has ended.
    ended: oneshot::Receiver<nix::Result<nix::sys::wait::WaitStatus>>,
}

static NO_PIDNS_WARNED: AtomicBool = AtomicBool::new(false);

/// Start the check on a thread of its own (see the module docs), which then waits for it:
/// a thread can make a PID namespace for its children only once, and the check dies with
/// that thread (PR_SET_PDEATHSIG), so a runtime that dies leaves no check behind.
async fn spawn(argv: &[String]) -> io::Result<Spawned> {
    let (reply, wait) = oneshot::channel();
    let (ended_tx, ended) = oneshot::channel();
    let argv = argv.to_vec();
    std::thread::Builder::new()
        .name("track-check".into())
        .spawn(move || match spawn_one(&argv) {
            Ok((pid, output)) => {
                let _ = reply.send(Ok((pid, output)));
                let status = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
                let _ = ended_tx.send(status);
            }
            Err(e) => {
                let _ = reply.send(Err(e));
            }
        })?;
    let (pid, output) = wait
        .await
        .map_err(|_| io::Error::other("the check's thread ended without an answer"))??;
    Ok(Spawned { pid, output, ended })
}

/// On the check's thread: a fresh PID namespace for its children, then the child.
fn spawn_one(argv: &[String]) -> io::Result<(i32, OwnedFd)> {
    let Some((program, args)) = argv.split_first() else {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "empty command"));
    };
    if let Err(e) = nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWPID)
        && !NO_PIDNS_WARNED.swap(true, Ordering::Relaxed)
    {
        tracing::warn!(target: "netvrrp::track", "cannot give exec checks a PID namespace ({e}): a check's descendants that leave its process group survive its timeout");
    }
    let (read, write) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(io::Error::from)?;
    let write2 = write.try_clone()?;
    let mut cmd = Command::new(program);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::from(write))
        .stderr(Stdio::from(write2))
        // The fallback without a PID namespace: the timeout kills the group.
        .process_group(0);
    // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            // Killed with the thread that waits for it (the runtime dying included).
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd.spawn()?;
    let pid = i32::try_from(child.id())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "pid out of range"))?;
    // The std handle neither kills nor reaps on drop; this thread waits for the pid.
    drop(child);
    Ok((pid, read))
}

/// Kill the check (and with it its PID namespace, or else its process group).
fn kill_tree(pid: i32) {
    use nix::sys::signal::{Signal, kill, killpg};
    use nix::unistd::Pid;
    let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
    let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
}

/// Kills the check if the run is dropped half-way (its tracker stopped by a reload); its
/// thread reaps it.
struct KillOnDrop(Option<i32>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(pid) = self.0.take() {
            kill_tree(pid);
        }
    }
}

/// Run `argv` once, killing it at `timeout`.
pub async fn run(argv: &[String], timeout: Duration) -> Outcome {
    let spawned = match spawn(argv).await {
        Ok(s) => s,
        Err(e) => {
            return Outcome {
                success: false,
                status: format!("cannot execute: {e}"),
                output: VecDeque::new(),
            };
        }
    };
    let mut guard = KillOnDrop(Some(spawned.pid));
    let reader = tokio::spawn(read_tail(spawned.output));
    let mut ended = spawned.ended;
    let (timed_out, status) = match tokio::time::timeout(timeout, &mut ended).await {
        Ok(status) => (false, status),
        Err(_) => {
            kill_tree(spawned.pid);
            // Killed: its thread reaps it at once.
            (true, ended.await)
        }
    };
    guard.0 = None;
    let output = match tokio::time::timeout(OUTPUT_GRACE, reader).await {
        Ok(Ok(lines)) => lines,
        _ => VecDeque::new(),
    };
    use nix::sys::wait::WaitStatus;
    let (success, status) = match status {
        _ if timed_out => (false, format!("timed out after {} ms", timeout.as_millis())),
        Ok(Ok(WaitStatus::Exited(_, 0))) => (true, "exit status 0".into()),
        Ok(Ok(WaitStatus::Exited(_, code))) => (false, format!("exit status {code}")),
        Ok(Ok(WaitStatus::Signaled(_, sig, _))) => (false, format!("killed by signal {sig}")),
        Ok(Ok(other)) => (false, format!("ended: {other:?}")),
        Ok(Err(e)) => (false, format!("cannot wait for it: {e}")),
        Err(_) => (false, "its thread ended".into()),
    };
    Outcome {
        success,
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

    fn argv(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
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
}
