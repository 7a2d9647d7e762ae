//! The process between the runtime and a hook (an exec check, a VRRS exec client): a child
//! subreaper that kills the hook's whole tree ([`super::helper`]).
//!
//! The helper is the runtime's own binary (`/proc/self/exe`) executed afresh, started with
//! std's `Command`, which uses posix_spawn (clone with CLONE_VM|CLONE_VFORK) here: the
//! runtime's address space is neither copied nor made copy-on-write. A fork() of the
//! runtime per check run instead copied its page tables under its mm lock and made its
//! memory copy-on-write: with 100 check runs a second the event loop stalled on page faults
//! and that lock for 10-57 ms (issue 17, bench/shared_checks.sh).
//!
//! Unlike a PID namespace, the check lives in the runtime's PID namespace, so it can
//! signal other processes (keepalived's `killall -0 haproxy` works).

use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

/// How a check ended, as its helper tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    Exited(i32),
    Signaled(i32),
    /// execve failed with this errno.
    ExecFailed(i32),
    /// The helper ended without saying (killed from outside).
    Unknown,
}

/// A started check: its helper's pid, the read end of its output, and the status pipe.
pub struct Started {
    pub helper: i32,
    pub output: OwnedFd,
    /// For [`wait`].
    pub status: OwnedFd,
}

fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(io::Error::from)
}

/// A uid or gid as the helper takes it: `-` for unchanged.
fn id_arg(id: Option<u32>) -> String {
    id.map_or_else(|| "-".to_string(), |id| id.to_string())
}

/// Start `hook` below a fresh helper. Call it on a thread that then calls [`wait`]: the
/// helper gets SIGTERM when that thread ends (PR_SET_PDEATHSIG follows the thread that
/// created it).
pub fn start(hook: &super::Hook) -> io::Result<Started> {
    if hook.argv.is_empty() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "empty command"));
    }
    // The helper's constructor must be linked into whatever binary runs this (see
    // super::helper): referencing it keeps it.
    std::hint::black_box(&super::helper::ENTRY);
    let (out_r, out_w) = pipe()?;
    let (st_r, st_w) = pipe()?;
    let mut command = Command::new("/proc/self/exe");
    command
        .arg0("netvrrp-hook")
        .arg(super::helper::MARK.to_str().map_err(io::Error::other)?)
        .arg(std::process::id().to_string())
        .arg(id_arg(hook.run_as.uid))
        .arg(id_arg(hook.run_as.gid))
        .args(&hook.argv)
        // Not the runtime's environment (the operator's shell, when `apply` spawned it).
        .env_clear()
        .envs(
            hook.environment()
                .iter()
                .filter_map(|kv| kv.split_once('=')),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::from(out_w))
        .stderr(Stdio::from(st_w));
    // Neither uid/gid nor a pre_exec closure on the Command: either would make std fork.
    let child = command.spawn()?;
    let helper = i32::try_from(child.id()).map_err(io::Error::other)?;
    // The Child is only a pid here: [`wait`] reaps it; dropping it neither waits nor kills.
    drop(child);
    Ok(Started {
        helper,
        output: out_r,
        status: st_r,
    })
}

/// Wait (blocking) for `helper` and say, from its status pipe, how its check ended.
pub fn wait(helper: i32, status: OwnedFd) -> Ended {
    let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(helper), None);
    let mut buf = [0u8; 10];
    let mut file = std::fs::File::from(status);
    let mut got = 0;
    while got < buf.len() {
        match io::Read::read(&mut file, &mut buf[got..]) {
            Ok(0) | Err(_) => break,
            Ok(n) => got += n,
        }
    }
    if got < 5 {
        return Ended::Unknown;
    }
    let value = i32::from_ne_bytes([buf[1], buf[2], buf[3], buf[4]]);
    match buf[0] {
        1 => Ended::ExecFailed(value),
        _ if libc::WIFEXITED(value) => Ended::Exited(libc::WEXITSTATUS(value)),
        _ if libc::WIFSIGNALED(value) => Ended::Signaled(libc::WTERMSIG(value)),
        _ => Ended::Unknown,
    }
}

/// Ask the helper to kill the check's tree and end (the timeout, a stopped tracker).
pub fn stop(helper: i32) {
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(helper),
        nix::sys::signal::Signal::SIGTERM,
    );
}
