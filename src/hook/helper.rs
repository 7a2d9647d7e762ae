//! The helper process between the runtime and a hook (see [`super::subreaper`]): a fresh
//! exec of the runtime's own binary, recognised before `main` by a constructor, so that
//! starting it copies nothing of the runtime (no fork of its threads, memory or page tables).
//!
//! Its command line: `MARK PARENT-PID UID GID PROGRAM ARG...` (UID and GID a number or `-`
//! for unchanged), its environment the check's, fd 0 `/dev/null`, fd 1 the output pipe, fd
//! 2 the status pipe. It marks itself PR_SET_CHILD_SUBREAPER, then forks and execs the check
//! in a process group of its own. Whatever the check starts stays below the helper, even a
//! process that called setsid() and lost its parent (orphans are reparented to the nearest
//! subreaper, not to init). When the check has ended, or the helper gets SIGTERM (the
//! timeout, a stopped tracker, or the runtime's thread dying: PR_SET_PDEATHSIG), the helper
//! kills the check's group and then every child it has, until it has none, and exits. It
//! then writes the check's wait status to the status pipe.
//!
//! The helper runs before Rust's runtime is set up (from `.init_array`, in every binary that
//! links this library, the test binaries included): raw system calls only, no allocation.

use std::ffi::{CStr, c_char, c_int};
use std::sync::atomic::{AtomicBool, Ordering};

/// `argv[1]` of a helper. No command of the CLI takes it.
pub(super) const MARK: &CStr = c"--netvrrp-hook-helper-1";

/// Run by the dynamic loader before `main` (as std's own argument capture is): becomes the
/// helper when `argv[1]` is [`MARK`], returns at once otherwise.
#[used]
#[unsafe(link_section = ".init_array")]
pub(super) static ENTRY: extern "C" fn(c_int, *const *const c_char, *const *const c_char) = entry;

extern "C" fn entry(argc: c_int, argv: *const *const c_char, envp: *const *const c_char) {
    if argc < 6 || argv.is_null() {
        return;
    }
    // SAFETY: glibc calls `.init_array` functions with main's argc, argv (argc strings and
    // a NULL) and envp; argc >= 6 checked above.
    let arg = |i: usize| unsafe { CStr::from_ptr(*argv.add(i)) };
    if arg(1) != MARK {
        return;
    }
    // SAFETY: a single-threaded process before main: blocking signals, duplicating a
    // descriptor and exiting touch nothing Rust owns.
    unsafe {
        // SIGTERM and SIGCHLD stay blocked except inside the helper's sigsuspend, so one
        // sent before its handlers are in place is not lost.
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGCHLD);
        libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        // Its name in ps(1) and pgrep(1): "exe" (of /proc/self/exe) otherwise.
        libc::prctl(libc::PR_SET_NAME, c"netvrrp-hook".as_ptr(), 0, 0, 0);
        let (Some(parent), Some(uid), Some(gid)) = (
            parse_number(arg(2).to_bytes()),
            parse_id(arg(3).to_bytes()),
            parse_id(arg(4).to_bytes()),
        ) else {
            libc::_exit(2);
        };
        // The check's stderr becomes its stdout; the status pipe moves out of the way.
        let status_fd = libc::fcntl(libc::STDERR_FILENO, libc::F_DUPFD_CLOEXEC, 3);
        if status_fd < 0 || parent > libc::pid_t::MAX as u32 {
            libc::_exit(2);
        }
        let ids = Ids { uid, gid };
        // SAFETY: argv[5..] is the check's NULL-terminated argv (argc >= 6), envp its
        // environment; the signals are blocked and the fds in place (above).
        helper(parent as libc::pid_t, argv.add(5), envp, status_fd, ids)
    }
}

/// A decimal number (no sign, no spaces), without allocating.
fn parse_number(bytes: &[u8]) -> Option<u32> {
    if bytes.is_empty() {
        return None;
    }
    bytes.iter().try_fold(0u32, |n, &b| {
        if b.is_ascii_digit() {
            n.checked_mul(10)?.checked_add(u32::from(b - b'0'))
        } else {
            None
        }
    })
}

/// A uid or gid argument: `-` (unchanged) or a number.
fn parse_id(bytes: &[u8]) -> Option<Option<u32>> {
    match bytes {
        b"-" => Some(None),
        _ => parse_number(bytes).map(Some),
    }
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
///
/// SAFETY: `argv` and `envp` are NULL-terminated arrays of C strings (execve's arguments),
/// `argv[0]` the program; SIGTERM and SIGCHLD are blocked; fds 0 and 1 are the check's
/// stdin and stdout, `status_fd` the status pipe (close-on-exec).
unsafe fn helper(
    parent: libc::pid_t,
    argv: *const *const libc::c_char,
    envp: *const *const libc::c_char,
    status_fd: libc::c_int,
    ids: Ids,
) -> ! {
    let children = c"/proc/thread-self/children";
    // SAFETY (the whole body): raw system calls on the caller's memory; the check's side of
    // the fork, as a child of a single-threaded process, could do more but needs no more.
    unsafe {
        let program = *argv;
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
            // stdin /dev/null and stdout the output pipe already (see `enter`); stderr
            // joins stdout (it was the status pipe, kept at `status_fd`, closed on exec).
            libc::dup2(libc::STDOUT_FILENO, libc::STDERR_FILENO);
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
        libc::close(libc::STDIN_FILENO);
        libc::close(libc::STDOUT_FILENO);
        libc::close(libc::STDERR_FILENO);
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
            let fd = libc::open(children.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helper_arguments_parse_strictly() {
        assert_eq!(parse_number(b"4242"), Some(4242));
        assert_eq!(parse_number(b""), None);
        assert_eq!(parse_number(b"-1"), None);
        assert_eq!(parse_number(b"12 "), None);
        assert_eq!(parse_number(b"99999999999"), None);
        assert_eq!(parse_id(b"-"), Some(None));
        assert_eq!(parse_id(b"65534"), Some(Some(65534)));
        assert_eq!(parse_id(b"x"), None);
    }
}
