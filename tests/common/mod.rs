//! Shared support for namespace tests (need root and iproute2).
//!
//! Every test makes its own [`Netns`]; dropping it (also when the test panics) kills the
//! processes it started and deletes the namespace and its run directory. Tests that need
//! several namespaces on one link build a [`lab::Lab`] (a bridge with routers and a host).
#![allow(dead_code)]

pub mod lab;
pub mod migration;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A named network namespace (`ip netns add`) owned by one test.
pub struct Netns {
    name: String,
    run_dir: PathBuf,
    // A Mutex, not a RefCell: `block_on` closures borrow the Netns across threads.
    children: Mutex<Vec<Child>>,
}

impl Netns {
    /// `<prefix>-<pid>-<counter>`, unique across parallel tests and test binaries. The
    /// loopback device is brought up (as most tools expect).
    pub fn new(prefix: &str) -> Netns {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let name = format!("{prefix}-{}-{n}", std::process::id());
        run_ok(Command::new("ip").args(["netns", "add", &name]));
        let run_dir = std::env::temp_dir().join(format!("netvrrp-test-{name}"));
        // Construct the guard before anything else can fail so Drop cleans up.
        let ns = Netns {
            name,
            run_dir,
            children: Mutex::new(Vec::new()),
        };
        std::fs::create_dir_all(&ns.run_dir).expect("create test run dir");
        ns.ip_ok(&["link", "set", "lo", "up"]);
        ns
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The `--run-dir` given to netvrrp (removed on drop).
    pub fn run_dir(&self) -> &Path {
        &self.run_dir
    }

    /// `ip netns exec NAME args...`.
    pub fn exec(&self, args: &[&str]) -> Output {
        Command::new("ip")
            .args(["netns", "exec", &self.name])
            .args(args)
            .output()
            .expect("run ip netns exec")
    }

    /// `ip netns exec NAME args...`, which must succeed; its stdout.
    pub fn ok(&self, args: &[&str]) -> Vec<u8> {
        let out = self.exec(args);
        assert!(
            out.status.success(),
            "{args:?} failed in {}: {}",
            self.name,
            text(&out)
        );
        out.stdout
    }

    /// A scratch directory for the test's files (the run directory).
    pub fn dir(&self) -> &Path {
        &self.run_dir
    }

    /// `ip -n NAME args...`.
    pub fn ip(&self, args: &[&str]) -> Output {
        Command::new("ip")
            .args(["-n", &self.name])
            .args(args)
            .output()
            .expect("run ip")
    }

    /// Like [`Netns::ip`], panicking with stderr when it fails.
    pub fn ip_ok(&self, args: &[&str]) -> String {
        let out = self.ip(args);
        assert!(
            out.status.success(),
            "ip -n {} {}: {}",
            self.name,
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `ip -j ARGS` parsed as JSON.
    pub fn ip_json(&self, args: &[&str]) -> serde_json::Value {
        let mut full = vec!["-j"];
        full.extend_from_slice(args);
        let text = self.ip_ok(&full);
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("ip -j {args:?}: {e}: {text}"))
    }

    /// The ifindex of a device in this namespace.
    pub fn ifindex(&self, dev: &str) -> u32 {
        let v = self.ip_json(&["link", "show", "dev", dev]);
        v[0]["ifindex"].as_u64().expect("ifindex") as u32
    }

    /// A veth pair with both ends in this namespace, both up.
    pub fn veth(&self, a: &str, b: &str) {
        self.ip_ok(&["link", "add", a, "type", "veth", "peer", "name", b]);
        self.ip_ok(&["link", "set", a, "up"]);
        self.ip_ok(&["link", "set", b, "up"]);
    }

    /// A veth pair: `local` here, `remote` in `other`, both up.
    pub fn veth_to(&self, local: &str, other: &Netns, remote: &str) {
        self.ip_ok(&[
            "link",
            "add",
            local,
            "type",
            "veth",
            "peer",
            "name",
            remote,
            "netns",
            &other.name,
        ]);
        self.ip_ok(&["link", "set", local, "up"]);
        other.ip_ok(&["link", "set", remote, "up"]);
    }

    /// A bridge in this namespace, up.
    pub fn bridge(&self, name: &str) {
        self.ip_ok(&["link", "add", name, "type", "bridge"]);
        self.ip_ok(&["link", "set", name, "up"]);
    }

    /// Attach `port` to `bridge`.
    pub fn enslave(&self, port: &str, bridge: &str) {
        self.ip_ok(&["link", "set", port, "master", bridge]);
    }

    /// The netvrrp binary with `--netns NAME --run-dir DIR` and `args`.
    pub fn netvrrp_command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_netvrrp"));
        cmd.arg("--netns")
            .arg(&self.name)
            .arg("--run-dir")
            .arg(&self.run_dir)
            .args(args);
        cmd
    }

    /// Run netvrrp to completion (see [`Netns::netvrrp_command`]).
    pub fn netvrrp(&self, args: &[&str]) -> Output {
        self.netvrrp_command(args)
            .output()
            .expect("run netvrrp binary")
    }

    /// Start a long-running process (e.g. `netvrrp run`); it is killed on drop.
    pub fn spawn(&self, mut cmd: Command) -> u32 {
        let child = cmd
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn test process");
        let pid = child.id();
        self.children
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(child);
        pid
    }

    /// Run `f()`'s future on a fresh thread that has entered this namespace, with a
    /// current-thread tokio runtime (sockets and /proc/sys/net follow the thread's
    /// namespace; the test thread itself stays where it is). Panics propagate.
    pub fn block_on<F, Fut, R>(&self, f: F) -> R
    where
        F: FnOnce() -> Fut + Send,
        Fut: Future<Output = R>,
        R: Send,
    {
        let name = self.name.clone();
        std::thread::scope(|s| {
            let handle = s.spawn(move || {
                netvrrp::kernel::enter_netns(&name).expect("enter test namespace");
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("tokio runtime");
                rt.block_on(f())
            });
            match handle.join() {
                Ok(r) => r,
                Err(panic) => std::panic::resume_unwind(panic),
            }
        })
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let children = self.children.get_mut().unwrap_or_else(|e| e.into_inner());
        for child in children.iter_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
        // Runtimes started by `apply` detach into their own session: kill whatever still runs
        // in the namespace, or it would outlive the test. Again until nothing is left: a
        // supervisor killed after its runtime could have restarted it in between.
        for _ in 0..100 {
            let Ok(out) = Command::new("ip")
                .args(["netns", "pids", &self.name])
                .output()
            else {
                break;
            };
            let pids = String::from_utf8_lossy(&out.stdout).into_owned();
            if pids.trim().is_empty() {
                break;
            }
            for pid in pids.split_whitespace() {
                let _ = Command::new("kill").args(["-9", pid]).status();
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
        let _ = std::fs::remove_dir_all(&self.run_dir);
    }
}

/// The supervisor `apply` started runtime `pid` under (its parent, `netvrrp … supervise`),
/// if any: a runtime a test spawned itself has none.
pub fn supervisor_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Field 4 (ppid), after the parenthesised command name.
    let ppid: u32 = stat
        .rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    let cmdline = std::fs::read(format!("/proc/{ppid}/cmdline")).ok()?;
    cmdline
        .split(|&b| b == 0)
        .any(|a| a == b"supervise")
        .then_some(ppid)
}

/// "The box dies": SIGKILL to runtime `pid` and, first, to the supervisor `apply` started it
/// under, so nothing restarts it (the supervisor, killed first, never sees its runtime die).
/// Panics if the runtime's kill fails.
pub fn kill9_runtime(pid: u32) {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;
    if let Some(sup) = supervisor_of(pid) {
        let _ = kill(Pid::from_raw(sup as i32), Signal::SIGKILL);
    }
    kill(Pid::from_raw(pid as i32), Signal::SIGKILL)
        .unwrap_or_else(|e| panic!("kill -9 {pid}: {e}"));
}

fn run_ok(cmd: &mut Command) {
    let out = cmd.output().expect("run command");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// stdout and stderr of a finished command, for assertion messages.
pub fn text(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `GET /metrics` from the endpoint at `listen` inside `ns`: (HTTP head, body).
pub fn scrape_metrics(ns: &Netns, listen: &str) -> (String, String) {
    ns.block_on(|| async {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(listen)
            .await
            .expect("connect to the metrics endpoint");
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .expect("send request");
        let mut out = String::new();
        s.read_to_string(&mut out).await.expect("read reply");
        let (head, body) = out.split_once("\r\n\r\n").expect("HTTP reply");
        (head.to_string(), body.to_string())
    })
}

/// Seconds since the Unix epoch (to line runtime timestamps up with captures).
pub fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}

/// Poll `f` every 20 ms until it returns Some, or panic after `limit` with `what()`.
pub fn wait_until<T>(
    limit: std::time::Duration,
    what: impl Fn() -> String,
    mut f: impl FnMut() -> Option<T>,
) -> T {
    let end = std::time::Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return v;
        }
        if std::time::Instant::now() > end {
            panic!("timed out after {limit:?}: {}", what());
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// The IPv6 default routes of namespace `ns` as (gateway, device), from
/// `ip -n NS -6 -j route show default` (a host's RA-learned routes).
#[allow(dead_code)]
pub fn default_routes6(ns: &str) -> Vec<(String, String)> {
    let out = Command::new("ip")
        .args(["-n", ns, "-6", "-j", "route", "show", "default"])
        .output()
        .expect("run ip");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    v.as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            (
                r["gateway"].as_str().unwrap_or("").to_string(),
                r["dev"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}
