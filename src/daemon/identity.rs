//! Which runtime is which. One runtime per network namespace:
//! - the default run-dir follows the namespace (`/run/netvrrp` for the namespace a command
//!   runs in, `/run/netvrrp/netns/NAME` for `--netns NAME`);
//! - a runtime holds `<run-dir>/runtime.lock` (flock) for its whole life: that, not an answer
//!   on the control socket, says it is running, so a busy runtime is never taken for a dead
//!   one;
//! - a runtime claims its namespace with an abstract unix socket (abstract names belong to a
//!   network namespace), so a second one in the same namespace is refused at start, naming
//!   the first one's run-dir;
//! - every control request carries the namespace and run-dir its client means, and the
//!   runtime refuses a request meant for another.

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::{SocketAddr, UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

/// Where per-namespace run-dirs live (`--netns NAME` without `--run-dir`).
pub const NETNS_RUN_DIRS: &str = "/run/netvrrp/netns";

/// How long a runtime waits for the claim of one that is exiting: 20 × 50 ms.
const CLAIM_ATTEMPTS: u32 = 20;
const CLAIM_PAUSE: Duration = Duration::from_millis(50);

/// The abstract socket name a runtime claims its network namespace with.
const CLAIM_NAME: &[u8] = b"netvrrp/runtime";

/// The default run-dir for a command run with `--netns` (None: the namespace it runs in).
pub fn default_run_dir(netns: Option<&str>) -> PathBuf {
    match netns {
        Some(name) => Path::new(NETNS_RUN_DIRS).join(name),
        None => PathBuf::from(crate::cli::DEFAULT_RUN_DIR),
    }
}

/// This process's network namespace, as the kernel names it (`net:[4026531840]`).
pub fn own_netns() -> String {
    std::fs::read_link("/proc/self/ns/net")
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|_| "unknown".into())
}

/// The namespace `--netns NAME` names, in the same form, without entering it: the bind mount
/// `/run/netns/NAME` has the namespace's inode.
pub fn named_netns(name: &str) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let md = std::fs::metadata(Path::new("/run/netns").join(name)).ok()?;
    Some(format!("net:[{}]", md.ino()))
}

/// A namespace as the kernel names it, with the names `ip netns` knows it by
/// (`net:[4026532240] (blue)`), for messages: the inode alone tells an operator nothing.
fn described_netns(kernel_name: &str) -> String {
    let names: Vec<String> = std::fs::read_dir("/run/netns")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            (named_netns(&name).as_deref() == Some(kernel_name)).then_some(name)
        })
        .collect();
    if names.is_empty() {
        kernel_name.to_string()
    } else {
        format!("{kernel_name} ({})", names.join(", "))
    }
}

/// What a control request is meant for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub netns: Option<String>,
    pub run_dir: PathBuf,
}

/// The namespace this command means (set once by `main`; before that, none is sent).
static TARGET_NETNS: OnceLock<Option<String>> = OnceLock::new();

/// Record the namespace the command line means: `--netns NAME`; else the one it runs in
/// for commands that act on that namespace's kernel (apply, diff, check, down: their
/// runtime must be this namespace's); none for `show`, `stop` and `subscribe` without
/// `--netns`, which only name a run-dir (they may be run from anywhere, by group members).
pub fn set_target(netns: Option<&str>, socket_only: bool) {
    let target = match netns {
        Some(name) => named_netns(name),
        None if socket_only => None,
        None => Some(own_netns()),
    };
    let _ = TARGET_NETNS.set(target);
}

/// The identity a client sends with a request to the runtime of `run_dir`.
pub fn client_identity(run_dir: &Path) -> Identity {
    Identity {
        netns: TARGET_NETNS.get().cloned().flatten(),
        run_dir: canonical(run_dir),
    }
}

/// This runtime's identity (set once at start).
static RUNTIME: OnceLock<Identity> = OnceLock::new();

pub fn set_runtime(run_dir: &Path) {
    let _ = RUNTIME.set(Identity {
        netns: Some(own_netns()),
        run_dir: canonical(run_dir),
    });
}

/// Is a request that says it is meant for `asked` ours? Err names both sides.
pub fn check_request(asked: &Identity) -> Result<(), String> {
    let Some(me) = RUNTIME.get() else {
        return Ok(());
    };
    if let (Some(a), Some(m)) = (&asked.netns, &me.netns)
        && a != m
    {
        return Err(format!(
            "wrong runtime: the request is for network namespace {}, this runtime runs in {} (run-dir {})",
            described_netns(a),
            described_netns(m),
            me.run_dir.display()
        ));
    }
    if asked.run_dir != me.run_dir {
        return Err(format!(
            "wrong runtime: the request is for run-dir {}, this runtime's is {}",
            asked.run_dir.display(),
            me.run_dir.display()
        ));
    }
    Ok(())
}

fn canonical(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

pub fn lock_path(run_dir: &Path) -> PathBuf {
    run_dir.join("runtime.lock")
}

/// The lock a runtime holds until it exits (the kernel drops it with the process, so a
/// killed runtime never leaves it held).
pub struct RuntimeLock(#[allow(dead_code)] std::fs::File);

fn open_lock(run_dir: &Path, create: bool) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(create)
        .mode(0o600)
        // Never follow a link planted in the run-dir.
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(lock_path(run_dir))
}

/// Take the runtime lock of `run_dir`; fails when another runtime holds it.
pub fn hold(run_dir: &Path) -> anyhow::Result<RuntimeLock> {
    let file = open_lock(run_dir, true)
        .with_context(|| format!("cannot open {}", lock_path(run_dir).display()))?;
    // SAFETY: flock on a descriptor we own; no memory is shared.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        bail!(
            "a runtime is already running with run-dir {} (it holds {})",
            run_dir.display(),
            lock_path(run_dir).display()
        );
    }
    Ok(RuntimeLock(file))
}

/// Does a runtime hold `run_dir` now? (Whether or not it answers on its socket.)
pub fn is_running(run_dir: &Path) -> bool {
    let Ok(file) = open_lock(run_dir, false) else {
        return false;
    };
    // SAFETY: flock on a descriptor we own.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_SH | libc::LOCK_NB) };
    if rc == 0 {
        // Free: release at once (closing the file would too).
        // SAFETY: as above.
        unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_UN) };
        return false;
    }
    std::io::Error::last_os_error().raw_os_error() == Some(libc::EWOULDBLOCK)
}

/// [`is_running`], settled: a runtime that holds the lock but has no control socket
/// listening is starting (the socket comes next) or dying (the kernel is still closing its
/// descriptors after a kill); wait up to 2 s for one or the other.
pub fn is_running_settled(run_dir: &Path) -> bool {
    let socket = run_dir.join("netvrrp.sock");
    for _ in 0..40 {
        if !is_running(run_dir) {
            return false;
        }
        if UnixStream::connect(&socket).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    is_running(run_dir)
}

fn claim_address() -> std::io::Result<SocketAddr> {
    use std::os::linux::net::SocketAddrExt;
    SocketAddr::from_abstract_name(CLAIM_NAME)
}

/// The run-dir of the runtime that claimed this network namespace, if one did.
pub fn namespace_owner() -> Option<PathBuf> {
    let addr = claim_address().ok()?;
    let s = UnixStream::connect_addr(&addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(1))).ok()?;
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).ok()?;
    let dir = line.trim_end_matches('\n');
    (!dir.is_empty()).then(|| PathBuf::from(dir))
}

/// Claim this network namespace for the runtime of `run_dir` until the process exits; fails
/// naming the run-dir of the runtime that has it.
pub fn claim_namespace(run_dir: &Path) -> anyhow::Result<()> {
    let addr = claim_address().context("cannot name the namespace claim")?;
    // A claim nobody answers on belongs to a runtime that is exiting: its lock is already
    // free (so `stop` has returned) while the kernel is still closing its other
    // descriptors. An abstract socket cannot outlive its process, so wait a moment for it.
    let mut attempts = 0;
    let listener = loop {
        match UnixListener::bind_addr(&addr) {
            Ok(l) => break l,
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                let owner = namespace_owner();
                attempts += 1;
                if owner.is_none() && attempts < CLAIM_ATTEMPTS {
                    std::thread::sleep(CLAIM_PAUSE);
                    continue;
                }
                let other = owner
                    .map(|d| d.display().to_string())
                    .unwrap_or_else(|| "(it did not say)".into());
                bail!(
                    "another netvrrp runtime already runs in this network namespace, with run-dir {other}; one runtime per namespace (stop it, or use its run-dir)"
                );
            }
            Err(e) => return Err(e).context("cannot claim the network namespace"),
        }
    };
    let answer = format!("{}\n", canonical(run_dir).display());
    // A thread of its own: answering who we are must not depend on the election loop.
    std::thread::Builder::new()
        .name("netns-claim".into())
        .spawn(move || {
            for mut conn in listener.incoming().flatten() {
                let _ = conn.set_write_timeout(Some(Duration::from_millis(200)));
                let _ = conn.write_all(answer.as_bytes());
            }
        })
        .context("cannot start the namespace claim thread")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_run_dir_follows_the_namespace() {
        assert_eq!(default_run_dir(None), PathBuf::from("/run/netvrrp"));
        assert_eq!(
            default_run_dir(Some("blue")),
            PathBuf::from("/run/netvrrp/netns/blue")
        );
    }

    #[test]
    fn the_lock_says_running_only_while_held() {
        let dir = std::env::temp_dir().join(format!("netvrrp-lock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert!(!is_running(&dir));
        let held = hold(&dir).unwrap();
        assert!(is_running(&dir));
        assert!(hold(&dir).is_err());
        drop(held);
        assert!(!is_running(&dir));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
