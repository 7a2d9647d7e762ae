//! The process between the runtime and a hook (an exec check, a VRRS exec client): a child
//! subreaper that kills the hook's whole tree.
//!
//! The runtime forks a helper (no exec) that marks itself PR_SET_CHILD_SUBREAPER and then
//! forks and execs the check in a process group of its own. Whatever the check starts stays
//! below the helper, even a process that called setsid() and lost its parent (orphans are
//! reparented to the nearest subreaper, not to init). When the check has ended, or the
//! helper gets SIGTERM (the timeout, a stopped tracker, or the runtime dying:
//! PR_SET_PDEATHSIG), the helper kills the check's group and then every child it has, until
//! it has none, and exits. It then writes the check's wait status to a pipe.
//!
//! Between fork and exit the helper runs only async-signal-safe system calls on memory
//! prepared before the fork (the runtime is multi-threaded: a lock held by another thread
//! at fork time stays held in the child forever).
//!
//! Unlike a PID namespace, the check lives in the runtime's PID namespace, so it can
//! signal other processes (keepalived's `killall -0 haproxy` works).

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};

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

/// Set by the helper's SIGTERM handler.
static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_term(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

/// SIGCHLD needs a handler to end `sigsuspend` (its default is to discard it).
extern "C" fn on_child(_: libc::c_int) {}

/// Give up on orphans that cannot be found (no /proc/PID/task/TID/children) after this
/// many 1 ms rounds; they are reparented to init then.
const REAP_ROUNDS: u32 = 5000;

/// SIGTERM and SIGCHLD, blocked around the fork so that none is lost before the helper's
/// handlers are in place.
fn term_and_child() -> libc::sigset_t {
    // SAFETY: sigset_t is plain data, initialised by sigemptyset before use.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGCHLD);
        set
    }
}

fn cstring(bytes: &[u8]) -> io::Result<CString> {
    CString::new(bytes)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a NUL byte in the command"))
}

fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(io::Error::from)
}

/// Start `hook` below a fresh helper. Call it on a thread that then calls [`wait`]: the
/// helper gets SIGTERM when that thread ends.
pub fn start(hook: &super::Hook) -> io::Result<Started> {
    // Everything the children need, allocated before the fork.
    let args: Vec<CString> = hook
        .argv
        .iter()
        .map(|a| cstring(a.as_bytes()))
        .collect::<io::Result<_>>()?;
    let Some(program) = args.first() else {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "empty command"));
    };
    let mut arg_ptrs: Vec<*const libc::c_char> = args.iter().map(|a| a.as_ptr()).collect();
    arg_ptrs.push(std::ptr::null());
    // Not the runtime's environment (the operator's shell, when `apply` spawned it).
    let env: Vec<CString> = hook
        .environment()
        .iter()
        .map(|kv| cstring(kv.as_bytes()))
        .collect::<io::Result<_>>()?;
    let ids = Ids {
        uid: hook.run_as.uid.map(|u| u as libc::uid_t),
        gid: hook.run_as.gid.map(|g| g as libc::gid_t),
    };
    let mut env_ptrs: Vec<*const libc::c_char> = env.iter().map(|e| e.as_ptr()).collect();
    env_ptrs.push(std::ptr::null());
    let (out_r, out_w) = pipe()?;
    let (st_r, st_w) = pipe()?;
    let devnull = std::fs::File::open("/dev/null")?;
    let children = c"/proc/thread-self/children";
    // SAFETY: getpid has no preconditions.
    let parent = unsafe { libc::getpid() };
    let blocked = term_and_child();
    // This thread only starts and waits for the helper: it keeps them blocked (signals for
    // the process go to other threads), and the helper inherits the mask.
    // SAFETY: `blocked` is an initialised set.
    unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &blocked, std::ptr::null_mut()) };
    // SAFETY: the child runs only async-signal-safe calls on the data prepared above (see
    // the module docs) and never returns from `helper`.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    if pid == 0 {
        // SAFETY: in the forked child; see above.
        unsafe {
            helper(
                parent,
                program.as_ptr(),
                arg_ptrs.as_ptr(),
                env_ptrs.as_ptr(),
                devnull.as_raw_fd(),
                out_w.as_raw_fd(),
                st_w.as_raw_fd(),
                children.as_ptr(),
                ids,
            )
        }
    }
    Ok(Started {
        helper: pid,
        output: out_r,
        status: st_r,
    })
}

/// Whom the hook runs as (None: unchanged, the runtime's).
#[derive(Clone, Copy)]
struct Ids {
    uid: Option<libc::uid_t>,
    gid: Option<libc::gid_t>,
}

/// In the hook's process before execve: cwd `/` and the configured ids; the errno of the
/// first that fails.
///
/// SAFETY: async-signal-safe calls only (runs between fork and exec).
unsafe fn prepare(ids: Ids) -> Result<(), libc::c_int> {
    unsafe {
        let errno = || *libc::__errno_location();
        if libc::chdir(c"/".as_ptr()) != 0 {
            return Err(errno());
        }
        if let Some(gid) = ids.gid {
            // Supplementary groups first: root's would otherwise stay.
            if libc::setgroups(1, &gid) != 0 || libc::setgid(gid) != 0 {
                return Err(errno());
            }
        }
        // Dropping root this way also clears every capability (no PR_SET_KEEPCAPS).
        if let Some(uid) = ids.uid
            && libc::setuid(uid) != 0
        {
            return Err(errno());
        }
        Ok(())
    }
}

/// The helper process. Never returns.
#[allow(clippy::too_many_arguments)]
unsafe fn helper(
    parent: libc::pid_t,
    program: *const libc::c_char,
    argv: *const *const libc::c_char,
    envp: *const *const libc::c_char,
    devnull: libc::c_int,
    out: libc::c_int,
    status_fd: libc::c_int,
    children: *const libc::c_char,
    ids: Ids,
) -> ! {
    // SAFETY (the whole body): raw system calls only, on memory prepared before the fork.
    unsafe {
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        // SIGTERM and SIGCHLD stay blocked (inherited) except inside sigsuspend below, so
        // one sent before the wait is not lost.
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_term as *const () as libc::sighandler_t;
        libc::sigaction(libc::SIGTERM, &sa, std::ptr::null_mut());
        sa.sa_sigaction = on_child as *const () as libc::sighandler_t;
        libc::sigaction(libc::SIGCHLD, &sa, std::ptr::null_mut());
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM, 0, 0, 0);
        // The runtime died between fork and prctl: nobody would stop us.
        if libc::getppid() != parent {
            libc::_exit(1);
        }
        let check = libc::fork();
        if check == 0 {
            libc::setpgid(0, 0);
            libc::dup2(devnull, 0);
            libc::dup2(out, 1);
            libc::dup2(out, 2);
            // The runtime ignores SIGPIPE; a check starts with the defaults.
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
            libc::signal(libc::SIGTERM, libc::SIG_DFL);
            libc::signal(libc::SIGCHLD, libc::SIG_DFL);
            libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
            let errno = match prepare(ids) {
                Ok(()) => {
                    libc::execve(program, argv, envp);
                    *libc::__errno_location()
                }
                Err(errno) => errno,
            };
            let mut rec = [1u8, 0, 0, 0, 0];
            rec[1..].copy_from_slice(&errno.to_ne_bytes());
            libc::write(status_fd, rec.as_ptr().cast(), rec.len());
            libc::_exit(127);
        }
        // Only the check writes output: the pipe ends when its tree is gone.
        libc::close(out);
        libc::close(devnull);
        let mut status: libc::c_int = 0;
        let mut have = false;
        if check > 0 {
            loop {
                let r = libc::waitpid(check, &mut status, libc::WNOHANG);
                if r == check {
                    have = true;
                    break;
                }
                if STOP.load(Ordering::SeqCst) || r < 0 {
                    break;
                }
                // Wait for SIGCHLD or SIGTERM (unblocked only while waiting: no race).
                libc::sigsuspend(&empty);
            }
            libc::kill(-check, libc::SIGKILL);
            libc::kill(check, libc::SIGKILL);
        }
        // Every process left below us: kill the children we have (orphans come to us as
        // their parents die), reap, until there are none.
        let mut buf = [0u8; 4096];
        for _ in 0..REAP_ROUNDS {
            let fd = libc::open(children, libc::O_RDONLY | libc::O_CLOEXEC);
            if fd >= 0 {
                let n = libc::read(fd, buf.as_mut_ptr().cast(), buf.len());
                libc::close(fd);
                let mut pid: libc::pid_t = 0;
                for &b in buf.iter().take(n.max(0) as usize) {
                    if b.is_ascii_digit() {
                        pid = pid * 10 + libc::pid_t::from(b - b'0');
                    } else {
                        if pid > 0 {
                            libc::kill(pid, libc::SIGKILL);
                        }
                        pid = 0;
                    }
                }
                if pid > 0 {
                    libc::kill(pid, libc::SIGKILL);
                }
            }
            let mut s: libc::c_int = 0;
            let gone = loop {
                let r = libc::waitpid(-1, &mut s, libc::WNOHANG);
                if r > 0 {
                    if r == check && !have {
                        status = s;
                        have = true;
                    }
                    continue;
                }
                break r < 0 && *libc::__errno_location() == libc::ECHILD;
            };
            if gone {
                break;
            }
            let pause = libc::timespec {
                tv_sec: 0,
                tv_nsec: 1_000_000,
            };
            libc::nanosleep(&pause, std::ptr::null_mut());
        }
        if have {
            let mut rec = [0u8, 0, 0, 0, 0];
            rec[1..].copy_from_slice(&status.to_ne_bytes());
            libc::write(status_fd, rec.as_ptr().cast(), rec.len());
        }
        libc::_exit(0);
    }
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
