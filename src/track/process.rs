//! process objects: up while a process runs, event-driven.
//!
//! * `process = "name"`: the kernel's process events connector (NETLINK_CONNECTOR,
//!   CN_IDX_PROC) says when a process execs, renames itself or forks; its name (comm) is
//!   read then, and every matching process is held by a pidfd, which becomes readable the
//!   moment it exits. /proc is scanned once at the start (after subscribing) and again
//!   only when events were lost.
//! * `pidfile = "/path"`: the file's directory is watched with inotify (a restarted daemon
//!   writes a new pid) and the pid it names is held by a pidfd.
//!
//! The connector exists only in the initial network namespace: a socket opened inside
//! another one is refused. `netvrrp --netns NS run` therefore opens it ([`preopen`]) before
//! entering the namespace, and `apply --netns`, which starts the runtime inside the
//! namespace, hands its socket over ([`hand_over`]). One thread reads it and fans the events out to every tracker.
//! Without it (no privilege, or no connector in the kernel) name objects fall back to a
//! /proc scan every [`FALLBACK_SCAN`], with a warning.

use super::Reporter;
use super::file::{Change, DirWatch, mid_rewrite};
use crate::config::ProcessTarget;
use std::collections::HashMap;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinHandle;

/// The /proc scan interval without the connector.
pub const FALLBACK_SCAN: Duration = Duration::from_secs(1);

/// What the connector says about a process (thread events are filtered out).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcEvent {
    /// A process exec'd or renamed itself: its comm may have changed.
    Named(i32),
    /// A process forked a new process.
    Forked { parent: i32, child: i32 },
    /// Events were lost (socket overrun): rescan.
    Lost,
}

const NETLINK_CONNECTOR: i32 = 11;
const CN_IDX_PROC: u32 = 1;
const CN_VAL_PROC: u32 = 1;
const PROC_CN_MCAST_LISTEN: u32 = 1;
const PROC_EVENT_FORK: u32 = 0x1;
const PROC_EVENT_EXEC: u32 = 0x2;
const PROC_EVENT_COMM: u32 = 0x200;
const NLMSG_HDRLEN: usize = 16;
const CN_MSG_LEN: usize = 20;
/// what, cpu, timestamp_ns before the event data.
const PROC_EVENT_HDR: usize = 16;

static PREOPENED: Mutex<Option<OwnedFd>> = Mutex::new(None);
static EVENTS: OnceLock<Option<broadcast::Sender<ProcEvent>>> = OnceLock::new();

/// Open the connector now, in the namespace the process is in (the initial one), for the
/// runtime to use after it entered another one. Failing is not fatal: name objects then
/// scan /proc.
///
/// A process already in another namespace (a runtime that `apply --netns` or `ip netns
/// exec` started) steps into the namespace of PID 1 for the open and back. Only call this
/// while the process has a single thread: setns moves the calling thread only.
pub fn preopen() {
    let fd = inherited()
        .map_or_else(open_connector, Ok)
        .or_else(|_| open_in_initial_netns());
    if let Ok(fd) = fd {
        *PREOPENED.lock().unwrap_or_else(|e| e.into_inner()) = Some(fd);
    }
}

/// The environment variable that hands a connector socket to the runtime `apply` starts
/// (`apply --netns` opened it before entering the namespace; the runtime starts inside).
pub const FD_ENV: &str = "NETVRRP_PROC_CONNECTOR_FD";

/// The connector socket `apply` handed over, if any (checked to be one).
fn inherited() -> Option<OwnedFd> {
    let value = std::env::var(FD_ENV).ok()?;
    // SAFETY: called from main while the process has a single thread, so nothing reads
    // the environment concurrently. Exec checks must not see it.
    unsafe { std::env::remove_var(FD_ENV) };
    let raw: i32 = value.parse().ok()?;
    let mut protocol: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `protocol`.
    let r = unsafe {
        libc::getsockopt(
            raw,
            libc::SOL_SOCKET,
            libc::SO_PROTOCOL,
            (&mut protocol as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if r != 0 || protocol != NETLINK_CONNECTOR {
        return None;
    }
    // SAFETY: a descriptor inherited for this purpose only; from here on it is ours.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    let _ = nix::fcntl::fcntl(
        &fd,
        nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
    );
    Some(fd)
}

/// Hand the connector socket [`preopen`] opened to the runtime `cmd` starts (see
/// [`FD_ENV`]).
pub fn hand_over(cmd: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    let raw = match PREOPENED.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
        Some(fd) => fd.as_raw_fd(),
        None => return,
    };
    cmd.env(FD_ENV, raw.to_string());
    // SAFETY: fcntl is async-signal-safe; the descriptor stays open in the parent.
    unsafe {
        cmd.pre_exec(move || {
            // Inherited across exec by this child only.
            if libc::fcntl(raw, libc::F_SETFD, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

fn open_in_initial_netns() -> std::io::Result<OwnedFd> {
    use nix::sched::{CloneFlags, setns};
    let here = std::fs::File::open("/proc/thread-self/ns/net")?;
    let initial = std::fs::File::open("/proc/1/ns/net")?;
    setns(&initial, CloneFlags::CLONE_NEWNET).map_err(std::io::Error::from)?;
    let fd = open_connector();
    if let Err(e) = setns(&here, CloneFlags::CLONE_NEWNET) {
        // Going on in the wrong namespace would run VRRP on the wrong links.
        eprintln!(
            "netvrrp: cannot return to the network namespace after opening the process events connector: {e}"
        );
        std::process::exit(crate::exit::FAILURE);
    }
    fd
}

fn open_connector() -> std::io::Result<OwnedFd> {
    // SAFETY: plain socket(2); the descriptor is owned right below.
    let raw = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
            NETLINK_CONNECTOR,
        )
    };
    if raw < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: a fresh descriptor owned by nobody else.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: sockaddr_nl is plain data; all-zero is a valid value.
    let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    addr.nl_family = libc::AF_NETLINK as u16;
    addr.nl_groups = CN_IDX_PROC;
    // SAFETY: addr is a valid sockaddr_nl of the size given.
    let r = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&addr as *const libc::sockaddr_nl).cast(),
            std::mem::size_of::<libc::sockaddr_nl>() as u32,
        )
    };
    if r < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // nlmsghdr + cn_msg + the op: subscribe.
    let total = NLMSG_HDRLEN + CN_MSG_LEN + 4;
    let mut msg = Vec::with_capacity(total);
    msg.extend_from_slice(&(total as u32).to_ne_bytes());
    msg.extend_from_slice(&(libc::NLMSG_DONE as u16).to_ne_bytes());
    msg.extend_from_slice(&0u16.to_ne_bytes()); // flags
    msg.extend_from_slice(&0u32.to_ne_bytes()); // seq
    msg.extend_from_slice(&std::process::id().to_ne_bytes());
    msg.extend_from_slice(&CN_IDX_PROC.to_ne_bytes());
    msg.extend_from_slice(&CN_VAL_PROC.to_ne_bytes());
    msg.extend_from_slice(&0u32.to_ne_bytes()); // seq
    msg.extend_from_slice(&0u32.to_ne_bytes()); // ack
    msg.extend_from_slice(&4u16.to_ne_bytes()); // len
    msg.extend_from_slice(&0u16.to_ne_bytes()); // flags
    msg.extend_from_slice(&PROC_CN_MCAST_LISTEN.to_ne_bytes());
    // SAFETY: msg is a valid buffer of msg.len() bytes.
    let n = unsafe { libc::send(fd.as_raw_fd(), msg.as_ptr().cast(), msg.len(), 0) };
    if n < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(fd)
}

/// Parse one datagram of the connector into events.
pub fn parse(buf: &[u8], out: &mut Vec<ProcEvent>) {
    let u32_at = |b: &[u8], at: usize| -> Option<u32> {
        b.get(at..at + 4)
            .and_then(|s| s.try_into().ok())
            .map(u32::from_ne_bytes)
    };
    let i32_at = |b: &[u8], at: usize| u32_at(b, at).map(|v| v as i32);
    let mut off = 0;
    while off + NLMSG_HDRLEN <= buf.len() {
        let Some(len) = u32_at(buf, off).map(|l| l as usize) else {
            return;
        };
        if len < NLMSG_HDRLEN || off + len > buf.len() {
            return;
        }
        let msg = &buf[off..off + len];
        let ev = NLMSG_HDRLEN + CN_MSG_LEN;
        let data = ev + PROC_EVENT_HDR;
        match u32_at(msg, ev) {
            Some(PROC_EVENT_EXEC) | Some(PROC_EVENT_COMM) => {
                // process_pid, process_tgid: only the thread-group leader names a process.
                if let (Some(pid), Some(tgid)) = (i32_at(msg, data), i32_at(msg, data + 4))
                    && pid == tgid
                {
                    out.push(ProcEvent::Named(tgid));
                }
            }
            Some(PROC_EVENT_FORK) => {
                // parent_pid, parent_tgid, child_pid, child_tgid: a new thread is no process.
                if let (Some(parent), Some(pid), Some(tgid)) = (
                    i32_at(msg, data + 4),
                    i32_at(msg, data + 8),
                    i32_at(msg, data + 12),
                ) && pid == tgid
                {
                    out.push(ProcEvent::Forked {
                        parent,
                        child: tgid,
                    });
                }
            }
            _ => {}
        }
        // NLMSG_ALIGN
        off += (len + 3) & !3;
    }
}

/// Subscribe to the connector's events (the reader thread starts on first use); None when
/// the connector cannot be used.
fn subscribe() -> Option<broadcast::Receiver<ProcEvent>> {
    let sender = EVENTS.get_or_init(|| {
        let taken = PREOPENED.lock().unwrap_or_else(|e| e.into_inner()).take();
        let fd = match taken.map_or_else(open_connector, Ok) {
            Ok(fd) => fd,
            Err(e) => {
                tracing::warn!(target: "netvrrp::track", "cannot use the process events connector ({e}): process objects scan /proc every {} ms", FALLBACK_SCAN.as_millis());
                return None;
            }
        };
        let (tx, _) = broadcast::channel(4096);
        let sender = tx.clone();
        let spawned = std::thread::Builder::new()
            .name("track-proc".into())
            .spawn(move || read_loop(fd, tx));
        spawned.ok().map(|_| sender)
    });
    sender.as_ref().map(|s| s.subscribe())
}

fn read_loop(fd: OwnedFd, tx: broadcast::Sender<ProcEvent>) {
    let mut buf = vec![0u8; 16 * 1024];
    let mut events = Vec::new();
    loop {
        // SAFETY: buf is a valid writable buffer of buf.len() bytes.
        let n = unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(libc::ENOBUFS) => {
                    let _ = tx.send(ProcEvent::Lost);
                    continue;
                }
                _ => {
                    tracing::error!(target: "netvrrp::track", "process events connector failed: {e}");
                    return;
                }
            }
        }
        events.clear();
        parse(&buf[..n as usize], &mut events);
        for ev in events.drain(..) {
            // No receivers is fine: no tracker right now.
            let _ = tx.send(ev);
        }
    }
}

/// The name (comm) of process `pid`.
fn comm(pid: i32) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .ok()
        .map(|s| s.trim_end_matches('\n').to_string())
}

/// A process that has exited but not been reaped yet still shows its name.
fn zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            // The state follows the name, which is in parentheses and may hold anything.
            let rest = &s[s.rfind(')')? + 1..];
            rest.split_whitespace()
                .next()
                .map(|st| st == "Z" || st == "X")
        })
        .unwrap_or(true)
}

/// Every live process named `name` now.
fn scan(name: &str) -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| comm(*pid).as_deref() == Some(name) && !zombie(*pid))
        .collect()
}

/// Whether the object is up now, by a look at /proc (for its state before the tracker's
/// first report).
pub fn running_now(target: &ProcessTarget) -> bool {
    match target {
        ProcessTarget::Name(name) => !scan(name).is_empty(),
        ProcessTarget::Pidfile(path) => read_pidfile(path).is_ok_and(|pid| !zombie(pid)),
    }
}

pub fn spawn(target: ProcessTarget, reporter: Reporter) -> JoinHandle<()> {
    match target {
        ProcessTarget::Name(name) => tokio::spawn(by_name(name, reporter)),
        ProcessTarget::Pidfile(path) => tokio::spawn(by_pidfile(path, reporter)),
    }
}

/// The processes a name object holds, each watched by a task that says when it exits.
struct Held {
    exits: mpsc::UnboundedSender<i32>,
    watchers: HashMap<i32, JoinHandle<()>>,
}

impl Held {
    fn add(&mut self, pid: i32) {
        if self.watchers.contains_key(&pid) {
            return;
        }
        // A process gone before its pidfd exists, or exited and not reaped, is not added.
        let Ok(fd) = super::pidfd(pid) else {
            return;
        };
        if zombie(pid) {
            return;
        }
        let exits = self.exits.clone();
        let task = tokio::spawn(async move {
            let _ = fd.readable().await;
            let _ = exits.send(pid);
        });
        self.watchers.insert(pid, task);
    }

    fn remove(&mut self, pid: i32) {
        if let Some(t) = self.watchers.remove(&pid) {
            t.abort();
        }
    }

    fn describe(&self, name: &str) -> String {
        let mut pids: Vec<i32> = self.watchers.keys().copied().collect();
        pids.sort_unstable();
        match pids.as_slice() {
            [] => format!("no process named {name}"),
            [p] => format!("{name} running (pid {p})"),
            // A few pids are enough to find them (a busy server has hundreds of workers).
            _ => format!(
                "{} processes named {name} (pids {:?}{})",
                pids.len(),
                &pids[..pids.len().min(5)],
                if pids.len() > 5 { " ..." } else { "" }
            ),
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        for t in self.watchers.values() {
            t.abort();
        }
    }
}

async fn by_name(name: String, reporter: Reporter) {
    let (exits, mut exited) = mpsc::unbounded_channel();
    let mut held = Held {
        exits,
        watchers: HashMap::new(),
    };
    // Subscribe first, then scan: a process starting in between is an event.
    let mut events = subscribe();
    let mut rescan = true;
    let mut last: Option<String> = None;
    loop {
        if rescan {
            rescan = false;
            let now = scan(&name);
            let gone: Vec<i32> = held
                .watchers
                .keys()
                .copied()
                .filter(|p| !now.contains(p))
                .collect();
            for p in gone {
                held.remove(p);
            }
            for p in now {
                held.add(p);
            }
        }
        let said = held.describe(&name);
        if last.as_ref() != Some(&said) {
            reporter.report(!held.watchers.is_empty(), said.clone());
            last = Some(said);
        }
        let event = async {
            match events.as_mut() {
                Some(rx) => Some(rx.recv().await),
                None => {
                    tokio::time::sleep(FALLBACK_SCAN).await;
                    None
                }
            }
        };
        tokio::select! {
            Some(pid) = exited.recv() => held.remove(pid),
            ev = event => match ev {
                None | Some(Err(broadcast::error::RecvError::Lagged(_))) | Some(Ok(ProcEvent::Lost)) => rescan = true,
                Some(Err(broadcast::error::RecvError::Closed)) => {
                    // The reader thread ended: scan from now on.
                    events = None;
                    rescan = true;
                }
                Some(Ok(ProcEvent::Named(pid))) => {
                    if comm(pid).as_deref() == Some(name.as_str()) {
                        held.add(pid);
                    } else {
                        // It exec'd something else or renamed itself.
                        held.remove(pid);
                    }
                }
                Some(Ok(ProcEvent::Forked { parent, child })) => {
                    if held.watchers.contains_key(&parent) && comm(child).as_deref() == Some(name.as_str()) {
                        held.add(child);
                    }
                }
            },
        }
    }
}

/// The pid a pidfile names (its first word).
fn read_pidfile(path: &Path) -> Result<i32, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("cannot read the pidfile: {e}"))?;
    text.split_whitespace()
        .next()
        .and_then(|w| w.parse::<i32>().ok())
        .filter(|p| *p > 0)
        .ok_or_else(|| "the pidfile holds no pid".to_string())
}

/// The process a pidfile names, held by a pidfd.
fn hold_pidfile(path: &Path) -> Result<(i32, tokio::io::unix::AsyncFd<OwnedFd>), String> {
    read_pidfile(path).and_then(|pid| {
        let fd = super::pidfd(pid).map_err(|e| format!("pid {pid} is not running ({e})"))?;
        // An exited process its parent has not reaped yet is not running.
        if zombie(pid) {
            return Err(format!("pid {pid} exited"));
        }
        Ok((pid, fd))
    })
}

async fn by_pidfile(path: PathBuf, reporter: Reporter) {
    let mut watch = DirWatch::new(&path);
    let mut last: Option<(bool, String)> = None;
    let mut say = |up: bool, said: String| {
        if last.as_ref() != Some(&(up, said.clone())) {
            reporter.report(up, said.clone());
            last = Some((up, said));
        }
    };
    let mut held = None;
    let mut change = Change::Settled;
    loop {
        if mid_rewrite(&path, change) {
            // A daemon rewriting its pidfile truncates it first: keep what is held until
            // the pid is written.
            reporter.record("pidfile being rewritten");
        } else {
            held = match hold_pidfile(&path) {
                Ok((pid, fd)) => {
                    say(true, format!("pid {pid} running"));
                    Some((pid, fd))
                }
                Err(why) => {
                    say(false, why);
                    None
                }
            };
        }
        let woke = match &held {
            Some((_, fd)) => tokio::select! {
                _ = fd.readable() => None,
                c = watch.changed() => Some(c),
            },
            None => Some(watch.changed().await),
        };
        change = match woke {
            Some(c) => c,
            None => {
                if let Some((pid, _)) = held.take() {
                    say(false, format!("pid {pid} exited"));
                }
                // Down until the pidfile changes (a restart writes it again).
                watch.changed().await
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn datagram(what: u32, data: &[i32]) -> Vec<u8> {
        let mut m = Vec::new();
        let len = NLMSG_HDRLEN + CN_MSG_LEN + PROC_EVENT_HDR + 4 * data.len();
        m.extend_from_slice(&(len as u32).to_ne_bytes());
        m.extend_from_slice(&[0u8; 12]);
        m.extend_from_slice(&[0u8; CN_MSG_LEN]);
        m.extend_from_slice(&what.to_ne_bytes());
        m.extend_from_slice(&[0u8; 12]);
        for d in data {
            m.extend_from_slice(&d.to_ne_bytes());
        }
        m
    }

    #[test]
    fn track_proc_connector_parse() {
        let mut out = Vec::new();
        let mut buf = datagram(PROC_EVENT_EXEC, &[10, 10]);
        buf.extend(datagram(PROC_EVENT_EXEC, &[11, 10])); // a thread: ignored
        buf.extend(datagram(PROC_EVENT_FORK, &[1, 1, 20, 20]));
        buf.extend(datagram(PROC_EVENT_FORK, &[1, 1, 21, 20])); // a thread
        buf.extend(datagram(PROC_EVENT_COMM, &[30, 30, 0, 0, 0, 0]));
        buf.extend(datagram(0x8000_0000, &[40, 40, 0, 0]));
        parse(&buf, &mut out);
        assert_eq!(
            out,
            vec![
                ProcEvent::Named(10),
                ProcEvent::Forked {
                    parent: 1,
                    child: 20
                },
                ProcEvent::Named(30),
            ]
        );
        // A truncated datagram parses what it can.
        out.clear();
        parse(&buf[..10], &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn track_pidfile_contents() {
        let dir = std::env::temp_dir().join(format!("netvrrp-track-pid-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("x.pid");
        std::fs::write(&f, "1234\n").unwrap();
        assert_eq!(read_pidfile(&f), Ok(1234));
        std::fs::write(&f, "junk").unwrap();
        assert!(read_pidfile(&f).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
