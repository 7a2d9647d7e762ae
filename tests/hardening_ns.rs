//! Fail-safe hardening (issue 16) in namespaces: files root writes or trusts, the control
//! socket's fairness, reflection of lesser adverts, self-lockout by a VIP, and recovery from
//! a corrupt owned.json. Each test provokes what a hostile local user (or a crash) would and
//! checks that netvrrp refuses it, naming the path or interface.

mod common;

use common::Netns;
use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A namespace with a veth pair, `veth0` holding 192.0.2.2/24 (the parent of [`ROUTER`]).
fn lab(prefix: &str) -> Netns {
    let ns = Netns::new(prefix);
    ns.veth("veth0", "veth1");
    ns.ip_ok(&["addr", "add", "192.0.2.2/24", "dev", "veth0"]);
    ns
}

const ROUTER: &str = r#"
[[vrrp]]
interface = "veth0"
vrid = 7
ipv4 = ["192.0.2.7/24"]
"#;

/// Write the config (0644, owned by root) and return its path as a string.
fn config(ns: &Netns, text: &str) -> String {
    let cfg = ns.dir().join("vrrp.toml");
    fs::write(&cfg, text).unwrap();
    fs::set_permissions(&cfg, fs::Permissions::from_mode(0o644)).unwrap();
    cfg.to_string_lossy().into_owned()
}

/// `netvrrp --netns NS --run-dir RUN ARGS`.
fn netvrrp_in(ns: &Netns, run: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_netvrrp"))
        .args(["--netns", ns.name(), "--run-dir"])
        .arg(run)
        .args(args)
        .output()
        .unwrap()
}

/// Exit 1 with every one of `needles` in stderr.
fn refused(out: &Output, needles: &[&str]) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{}", common::text(out));
    for n in needles {
        assert!(err.contains(n), "missing {n:?} in: {err}");
    }
}

/// A directory made by `mktemp -d` under /tmp, removed on drop (also when the test fails).
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        let out = Command::new("mktemp").args(["-d"]).output().unwrap();
        assert!(out.status.success(), "{}", common::text(&out));
        TempDir(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Item 3: the run-dir must be the effective user's, below parents nobody else can
/// change; state files are never followed through symlinks; accounting files are refused
/// under world-writable directories; the config file must be root's (or the euid's) and
/// not group-writable.
#[test]
fn run_dir_state_files_and_config_are_not_trusted_blindly() {
    let ns = lab("nvh-files");
    let f = config(&ns, ROUTER);

    // /tmp itself and a run-dir owned by another user (mode 0755) are refused.
    refused(
        &netvrrp_in(&ns, Path::new("/tmp"), &["apply", "-f", &f]),
        &["/tmp", "world-writable"],
    );
    let foreign = ns.dir().join("foreign-run");
    fs::create_dir(&foreign).unwrap();
    fs::set_permissions(&foreign, fs::Permissions::from_mode(0o755)).unwrap();
    std::os::unix::fs::chown(&foreign, Some(65534), Some(65534)).unwrap();
    refused(
        &netvrrp_in(&ns, &foreign, &["apply", "-f", &f]),
        &[&foreign.display().to_string(), "owned by uid 65534"],
    );
    // A `mktemp -d` under /tmp is a valid run-dir.
    let private = TempDir::new();
    let out = netvrrp_in(&ns, &private.0, &["apply", "--no-runtime", "-f", &f]);
    assert!(out.status.success(), "{}", common::text(&out));

    // A symlink planted at owned.json.tmp is removed, not written through.
    let victim = ns.dir().join("victim");
    fs::write(&victim, "precious").unwrap();
    symlink(&victim, ns.run_dir().join("owned.json.tmp")).unwrap();
    let out = ns.netvrrp(&["apply", "--no-runtime", "-f", &f]);
    assert!(out.status.success(), "{}", common::text(&out));
    assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
    let owned = fs::read_to_string(ns.run_dir().join("owned.json")).unwrap();
    assert!(owned.contains("vrrp4-"), "{owned}");

    // A symlink at the lock is refused, and nothing is created where it points.
    let lock = ns.run_dir().join("netvrrp.lock");
    fs::remove_file(&lock).unwrap();
    let elsewhere = ns.dir().join("elsewhere");
    symlink(&elsewhere, &lock).unwrap();
    refused(
        &ns.netvrrp(&["apply", "--no-runtime", "-f", &f]),
        &[&lock.display().to_string(), "symbolic link"],
    );
    assert!(!elsewhere.exists());
    fs::remove_file(&lock).unwrap();

    // A group-writable config is refused where it is acted on; validate still reads it.
    fs::set_permissions(&f, fs::Permissions::from_mode(0o664)).unwrap();
    refused(
        &ns.netvrrp(&["apply", "--no-runtime", "-f", &f]),
        &[&f, "chmod g-w"],
    );
    assert!(ns.netvrrp(&["validate", "-f", &f]).status.success());
    fs::set_permissions(&f, fs::Permissions::from_mode(0o644)).unwrap();

    // An accounting file directly under /tmp is refused by apply, naming it.
    let acct = format!("/tmp/netvrrp-acct-{}.jsonl", std::process::id());
    let with_acct = format!(
        "{}vrrs-leader = [\"edge\"]\n\n[[vrrs.client]]\nleader = \"edge\"\nkind = \"accounting\"\npath = \"{acct}\"\n",
        ROUTER.trim_start()
    );
    let f = config(&ns, &with_acct);
    refused(
        &ns.netvrrp(&["apply", "--no-runtime", "-f", &f]),
        &[&acct, "world-writable directory /tmp"],
    );
    assert!(!Path::new(&acct).exists());
}

/// The vrrp devices in the lab namespace.
fn vrrp_devices(ns: &Netns) -> Vec<String> {
    ns.ip_ok(&["-o", "link", "show"])
        .lines()
        .filter_map(|l| l.split(": ").nth(1))
        .map(|name| name.split('@').next().unwrap_or(name).to_string())
        .filter(|name| name.starts_with("vrrp"))
        .collect()
}

/// Item 7: a runtime `apply` starts that would refuse a file of the run-dir (a symlink at
/// its log or lock, a directory at its socket) is refused by apply before the kernel
/// changes: exit 1, no vrrp device, the link's target untouched.
#[test]
fn apply_refuses_a_start_that_would_fail_before_changing_the_kernel() {
    let ns = lab("nvh-preflight");
    let f = config(&ns, ROUTER);
    fs::create_dir_all(ns.run_dir()).unwrap();
    let victim = ns.dir().join("victim");
    for (name, what) in [
        ("netvrrp.log", "symbolic link"),
        ("runtime.lock", "symbolic link"),
        ("netvrrp-supervisor.pid", "symbolic link"),
        ("netvrrp.sock", "directory"),
    ] {
        fs::write(&victim, "precious").unwrap();
        let planted = ns.run_dir().join(name);
        if what == "directory" {
            fs::create_dir_all(planted.join("inside")).unwrap();
        } else {
            symlink(&victim, &planted).unwrap();
        }
        refused(
            &ns.netvrrp(&["apply", "-f", &f]),
            &[&planted.display().to_string(), what, "nothing was applied"],
        );
        assert_eq!(vrrp_devices(&ns), Vec::<String>::new(), "{name}");
        assert_eq!(fs::read_to_string(&victim).unwrap(), "precious", "{name}");
        if what == "directory" {
            fs::remove_dir_all(&planted).unwrap();
        } else {
            fs::remove_file(&planted).unwrap();
        }
    }
    // With the run-dir clean the same apply starts the runtime.
    let out = ns.netvrrp(&["apply", "-f", &f]);
    assert!(out.status.success(), "{}", common::text(&out));
    assert_eq!(vrrp_devices(&ns).len(), 1);
}

/// Holds the runtime's namespace claim (an abstract socket) and closes every connection
/// without saying whose it is, so a runtime starting in this namespace gives up at start;
/// prints "held", then waits for stdin to close.
const HOLD_CLAIM: &str = r#"
import socket, sys, threading
s = socket.socket(socket.AF_UNIX)
s.bind(b"\0netvrrp/runtime")
s.listen(64)
def close_all():
    while True:
        s.accept()[0].close()
threading.Thread(target=close_all, daemon=True).start()
print("held", flush=True)
sys.stdin.read()
"#;

/// Item 7: a runtime that fails to start after apply changed the kernel (one apply cannot
/// check for: the namespace is claimed by a process that never says whose it is) has those
/// changes undone: exit 1, no vrrp device left, owned.json as before.
#[test]
fn apply_rolls_the_kernel_back_when_the_runtime_cannot_start() {
    use std::io::BufRead;
    let ns = lab("nvh-startfail");
    let f = config(&ns, ROUTER);
    let mut claim = Command::new("ip")
        .args(["netns", "exec", ns.name(), "python3", "-c", HOLD_CLAIM])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(claim.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "held");
    let out = ns.netvrrp(&["apply", "-f", &f]);
    drop(claim.stdin.take());
    let _ = claim.wait();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{}", common::text(&out));
    assert!(
        err.contains("the runtime did not start; rolled back") && err.contains("as it was"),
        "{err}"
    );
    assert_eq!(vrrp_devices(&ns), Vec::<String>::new(), "{err}");
    let owned = fs::read_to_string(ns.run_dir().join("owned.json")).unwrap_or_default();
    assert!(!owned.contains("vrrp4-"), "{owned}");
    // Once the claim is gone the same apply starts the runtime.
    let out = ns.netvrrp(&["apply", "-f", &f]);
    assert!(out.status.success(), "{}", common::text(&out));
    assert_eq!(vrrp_devices(&ns).len(), 1);
}

/// Item 7 (part): a corrupt owned.json is moved aside with a warning and rebuilt; `down`
/// removes the state files it owns.
#[test]
fn corrupt_owned_json_recovers_and_down_cleans_up() {
    let ns = lab("nvh-owned");
    let f = config(&ns, ROUTER);
    let out = ns.netvrrp(&["apply", "-f", &f]);
    assert!(out.status.success(), "{}", common::text(&out));
    let owned = ns.run_dir().join("owned.json");
    fs::write(&owned, "{ torn write").unwrap();
    let out = ns.netvrrp(&["apply", "-f", &f]);
    assert!(out.status.success(), "{}", common::text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("owned.json.corrupt"), "{err}");
    assert_eq!(
        fs::read_to_string(ns.run_dir().join("owned.json.corrupt")).unwrap(),
        "{ torn write"
    );
    let rebuilt = fs::read_to_string(&owned).unwrap();
    assert!(rebuilt.contains("vrrp4-"), "{rebuilt}");
    // The runtime (started by the first apply) wrote masters.json and its pid file.
    common::wait_until(
        std::time::Duration::from_secs(10),
        || "masters.json".into(),
        || ns.run_dir().join("masters.json").exists().then_some(()),
    );

    let out = ns.netvrrp(&["down", "-f", &f]);
    assert!(out.status.success(), "{}", common::text(&out));
    let mut left: Vec<String> = fs::read_dir(ns.run_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("netvrrp") || n.contains(".json"))
        .collect();
    left.sort();
    assert_eq!(
        left,
        ["netvrrp.lock", "netvrrp.log", "owned.json.corrupt"],
        "down left state behind"
    );
}

/// A group `nvhg<tag>` with one member `nvhv<tag>` (the viewer) and a user `nvhs<tag>` in no
/// group of ours (the stranger), `<tag>` the pid and a counter; all deleted on drop, also
/// when the test fails.
struct ReadOnlyUsers {
    group: String,
    viewer: String,
    stranger: String,
}

impl ReadOnlyUsers {
    fn new() -> ReadOnlyUsers {
        // Tests of one binary run in parallel: each gets its own names.
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let tag = format!("{}x{n}", std::process::id() % 100_000);
        let u = ReadOnlyUsers {
            group: format!("nvhg{tag}"),
            viewer: format!("nvhv{tag}"),
            stranger: format!("nvhs{tag}"),
        };
        let run = |args: &[&str]| {
            let out = Command::new(args[0]).args(&args[1..]).output().unwrap();
            assert!(out.status.success(), "{args:?}: {}", common::text(&out));
        };
        run(&["groupadd", &u.group]);
        let nologin = ["-M", "-U", "-s", "/usr/sbin/nologin"];
        run(&[&["useradd", "-G", &u.group][..], &nologin, &[&u.viewer]].concat());
        run(&[&["useradd"][..], &nologin, &[&u.stranger]].concat());
        u
    }
}

impl Drop for ReadOnlyUsers {
    fn drop(&mut self) {
        for user in [&self.viewer, &self.stranger] {
            let _ = Command::new("userdel").arg(user).status();
        }
        let _ = Command::new("groupdel").arg(&self.group).status();
    }
}

/// Run a Python script as `user` with the control socket path as argv[1]; stdin and stdout
/// piped so the test can step it.
fn python_as(user: &str, script: &str, sock: &Path, args: &[&str]) -> std::process::Child {
    Command::new("runuser")
        .args(["-u", user, "--", "python3", "-c", script])
        .arg(sock)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// Opens argv[2] connections, reports "refused held", waits for a line on stdin, then reports
/// how many held connections the runtime closed and after how many seconds.
const HOLD_CONNECTIONS: &str = r#"
import socket, sys, time
conns = []
for _ in range(int(sys.argv[2])):
    s = socket.socket(socket.AF_UNIX)
    s.connect(sys.argv[1])
    conns.append(s)
time.sleep(0.5)
refused, held = 0, []
for s in conns:
    s.setblocking(False)
    try:
        if b"too many control connections" in s.recv(4096):
            refused += 1
            continue
    except BlockingIOError:
        pass
    held.append(s)
print(refused, len(held), flush=True)
sys.stdin.readline()
start = time.time()
closed = 0
for s in held:
    s.settimeout(60)
    if s.recv(4096) == b"":
        closed += 1
print(closed, round(time.time() - start, 1), flush=True)
"#;

/// Connects argv[2] times (each refused), then on one connection sends argv[3] `stop`
/// requests and reads as many replies; prints the number of refusals seen.
const FLOOD_REFUSALS: &str = r#"
import socket, sys
refused = 0
for _ in range(int(sys.argv[2])):
    s = socket.socket(socket.AF_UNIX)
    s.connect(sys.argv[1])
    if b"permission denied" in s.recv(4096):
        refused += 1
    s.close()
n = int(sys.argv[3])
if n:
    s = socket.socket(socket.AF_UNIX)
    s.connect(sys.argv[1])
    s.sendall(b'{"cmd":"stop"}\n' * n)
    f = s.makefile()
    for _ in range(n):
        if "permission denied" in f.readline():
            refused += 1
print(refused, flush=True)
"#;

fn read_line(child: &mut std::process::Child) -> Vec<f64> {
    use std::io::BufRead;
    let mut line = String::new();
    let stdout = child.stdout.as_mut().unwrap();
    std::io::BufReader::new(stdout)
        .read_line(&mut line)
        .unwrap();
    line.split_whitespace()
        .map(|w| w.parse().unwrap_or_else(|e| panic!("{line:?}: {e}")))
        .collect()
}

/// Item 2: a read-only member cannot hold root out (per-uid cap, root reserve), idle
/// connections are closed, and refusals are summarised instead of logged one by one.
#[test]
fn control_socket_is_fair_to_root() {
    use std::io::Write;
    let ns = lab("nvh-ctl");
    let users = ReadOnlyUsers::new();
    let f = config(
        &ns,
        &format!(
            "[runtime]\ncontrol-read-group = \"{}\"\n{ROUTER}",
            users.group
        ),
    );
    let out = ns.netvrrp(&["apply", "-f", &f]);
    assert!(out.status.success(), "{}", common::text(&out));
    let sock = ns.run_dir().join("netvrrp.sock");

    // The viewer asks for 100 idle connections: it gets the per-user cap, root still works.
    let mut hold = python_as(&users.viewer, HOLD_CONNECTIONS, &sock, &["100"]);
    let got = read_line(&mut hold);
    let (refused, held) = (got[0], got[1]);
    eprintln!("[measure] viewer asked for 100 idle connections: {held} held, {refused} refused");
    assert_eq!(held, 16.0, "per-uid cap");
    assert_eq!(refused, 84.0);
    let out = ns.netvrrp(&["show", "vrrp"]);
    assert!(out.status.success(), "{}", common::text(&out));
    // Idle connections are closed after 30 s.
    writeln!(hold.stdin.as_mut().unwrap()).unwrap();
    let got = read_line(&mut hold);
    eprintln!(
        "[measure] idle connections closed: {} after {} s",
        got[0], got[1]
    );
    assert_eq!(got[0], 16.0);
    assert!(
        got[1] >= 25.0 && got[1] <= 35.0,
        "closed after {} s",
        got[1]
    );
    let _ = hold.wait();

    // 3,000 refused connections and 2,000 refused requests: a few summary lines, not 5,000.
    let log = ns.run_dir().join("netvrrp.log");
    let before = fs::metadata(&log).map(|m| m.len()).unwrap_or(0);
    let mut flood = python_as(&users.stranger, FLOOD_REFUSALS, &sock, &["3000", "0"]);
    assert_eq!(read_line(&mut flood), [3000.0]);
    let _ = flood.wait();
    let mut flood = python_as(&users.viewer, FLOOD_REFUSALS, &sock, &["0", "2000"]);
    assert_eq!(read_line(&mut flood), [2000.0]);
    let _ = flood.wait();
    std::thread::sleep(std::time::Duration::from_secs(6));
    let text = fs::read_to_string(&log).unwrap();
    let added = &text[before as usize..];
    let lines: Vec<&str> = added.lines().filter(|l| l.contains("refused")).collect();
    eprintln!(
        "[measure] 3,000 refused connections + 2,000 refused requests: {} log line(s), {} bytes",
        lines.len(),
        added.len()
    );
    assert!(lines.len() <= 4, "{lines:#?}");
    assert!(added.len() < 4096, "{added}");
    let connections: u64 = lines
        .iter()
        .filter_map(|l| {
            let rest = l.split("refused ").nth(1)?;
            rest.split(' ').next()?.parse::<u64>().ok()
        })
        .sum();
    // The 84 over-cap refusals of the viewer may fall into the same interval.
    assert!(connections >= 3000, "{lines:#?}");
    assert!(ns.netvrrp(&["show", "vrrp"]).status.success());
}

/// Sends the request argv[2] (JSON) on the control socket argv[1] and prints the reply line.
const ONE_REQUEST: &str = r#"
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(sys.argv[2].encode() + b"\n")
print(s.makefile().readline().strip(), flush=True)
"#;

/// A read-only member is refused `running` because it names exec programs and paths: its
/// `show track` and `show vrrs client` rows must not name them either (nor the check's
/// output), while root's keep them.
#[test]
fn read_only_members_see_no_exec_argv_paths_or_output() {
    let ns = lab("nvh-redact");
    let users = ReadOnlyUsers::new();
    let secret = ns.dir().join("secret-flag");
    fs::write(&secret, "").unwrap();
    let check = format!("echo checking-output; test -e {}", secret.display());
    let f = config(
        &ns,
        &format!(
            r#"[runtime]
control-read-group = "{group}"

[[track]]
name = "t"
kind = "exec"
command = ["/bin/sh", "-c", {check:?}]
interval-ms = 200
timeout-ms = 1000

[[vrrp]]
interface = "veth0"
vrid = 7
ipv4 = ["192.0.2.7/24"]
vrrs-leader = ["g"]
track = [{{ object = "t", decrement = 10 }}]

[[vrrs.client]]
leader = "g"
kind = "exec"
command = ["/bin/true", "client-argument"]
timeout = 1000

[[vrrs.client]]
leader = "g"
kind = "accounting"
path = "{accounting}"
"#,
            group = users.group,
            accounting = ns.dir().join("redact-accounting.json").display(),
        ),
    );
    let out = ns.netvrrp(&["apply", "-f", &f]);
    assert!(out.status.success(), "{}", common::text(&out));
    let sock = ns.run_dir().join("netvrrp.sock");
    let as_viewer = |request: &str| {
        let child = python_as(&users.viewer, ONE_REQUEST, &sock, &[request]);
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", common::text(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    // Root sees the argv and, once the check has run, its output.
    let root_track = common::wait_until(
        std::time::Duration::from_secs(30),
        || common::text(&ns.netvrrp(&["show", "track", "--json"])),
        || {
            let out = ns.netvrrp(&["show", "track", "--json"]);
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            text.contains("checking-output").then_some(text)
        },
    );
    assert!(root_track.contains("secret-flag"), "{root_track}");
    let out = ns.netvrrp(&["show", "vrrs", "client", "--json"]);
    let root_clients = String::from_utf8_lossy(&out.stdout);
    assert!(
        root_clients.contains("client-argument") && root_clients.contains("redact-accounting"),
        "{root_clients}"
    );

    let track = as_viewer(r#"{"cmd":"show-track"}"#);
    assert!(track.contains(r#""ok":true"#), "{track}");
    for hidden in ["secret-flag", "checking-output", "/bin/sh"] {
        assert!(
            !track.contains(hidden),
            "{hidden} shown to a read-only member: {track}"
        );
    }
    assert!(
        track.contains(r#""command":["(hidden: control-read-group)"]"#),
        "{track}"
    );
    let clients = as_viewer(r#"{"cmd":"show-vrrs","what":"client"}"#);
    assert!(clients.contains(r#""ok":true"#), "{clients}");
    for hidden in ["client-argument", "/bin/true", "redact-accounting"] {
        assert!(
            !clients.contains(hidden),
            "{hidden} shown to a read-only member: {clients}"
        );
    }
    // show vrrp names the tracked object only.
    let vrrp = as_viewer(r#"{"cmd":"show-vrrp"}"#);
    assert!(vrrp.contains(r#""object":"t""#), "{vrrp}");
    assert!(!vrrp.contains("secret-flag"), "{vrrp}");
}

/// Item 5: a VIP that is an address of a non-VRRP interface (here the parent's own) would
/// have the VIP filter cut the host off from it while the router is Backup: `apply` and
/// `diff` refuse it (65, naming the interface) unless the router is its owner.
#[test]
fn vip_of_a_host_interface_is_refused_unless_owner() {
    let ns = lab("nvh-lock");
    let router = |priority: u8| {
        format!(
            "[[vrrp]]\ninterface = \"veth0\"\nvrid = 7\npriority = {priority}\nipv4 = [\"192.0.2.2/24\"]\n"
        )
    };
    let f = config(&ns, &router(100));
    for cmd in ["apply", "diff"] {
        let out = ns.netvrrp(&[cmd, "-f", &f]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(65), "{cmd}: {}", common::text(&out));
        assert!(
            err.contains("192.0.2.2")
                && err.contains("\"veth0\"")
                && err.contains("priority = 255"),
            "{cmd}: {err}"
        );
    }
    let links = ns.ip_ok(&["-o", "link", "show"]);
    assert!(
        !links.contains("vrrp4-"),
        "a refused apply created a device: {links}"
    );
    assert!(!ns.run_dir().join("netvrrp.sock").exists());

    // The address owner may advertise its own address.
    let f = config(&ns, &router(255));
    let out = ns.netvrrp(&["apply", "--no-runtime", "-f", &f]);
    assert!(out.status.success(), "{}", common::text(&out));
}

/// The state letter of a process from /proc (None once it is gone).
fn proc_state(pid: u32) -> Option<char> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(") ")?.1.chars().next()
}

/// Item 9: nothing in the environment panics the runtime: a zero, tiny, huge or garbled
/// WATCHDOG_USEC, a NOTIFY_SOCKET that leads nowhere, an unparsable RUST_LOG.
#[test]
fn hostile_environment_does_not_panic_the_runtime() {
    let ns = lab("nvh-env");
    let f = config(&ns, ROUTER);
    let usecs = ["0", "1", "18446744073709551615", "-5", "garbage"];
    for usec in usecs {
        let mut cmd = ns.netvrrp_command(&["run", "-f", &f]);
        cmd.env("WATCHDOG_USEC", usec)
            .env_remove("WATCHDOG_PID")
            .env("NOTIFY_SOCKET", ns.dir().join("nobody-listens.sock"))
            .env("RUST_LOG", "netvrrp=[[[")
            .stdout(std::process::Stdio::null());
        // What the runtime said, for a failure message.
        let err_path = ns.dir().join(format!("run-{usec}.err"));
        cmd.stderr(fs::File::create(&err_path).unwrap());
        let pid = ns.spawn(cmd);
        common::wait_until(
            std::time::Duration::from_secs(10),
            || {
                format!(
                    "WATCHDOG_USEC={usec}: no master (runtime state {:?}); it said: {}",
                    proc_state(pid),
                    fs::read_to_string(&err_path).unwrap_or_default()
                )
            },
            || {
                let out = ns.netvrrp(&["show", "vrrp", "--json"]);
                let doc: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
                (doc["routers"][0]["state"] == "master").then_some(())
            },
        );
        // Past the first watchdog ticks: still running and answering.
        std::thread::sleep(std::time::Duration::from_millis(500));
        assert!(
            matches!(proc_state(pid), Some(s) if s != 'Z'),
            "WATCHDOG_USEC={usec}: the runtime died"
        );
        let out = ns.netvrrp(&["stop"]);
        assert!(
            out.status.success(),
            "WATCHDOG_USEC={usec}: {}",
            common::text(&out)
        );
    }
}

/// Sends argv[1] VRRPv3 adverts for VRID 7, priority 50, VIP 192.0.2.7, interval 1 s, as
/// fast as it can from this namespace's 192.0.2.50 to 224.0.0.18 (TTL 255).
const LESSER_FLOOD: &str = r#"
import socket, struct, sys
src, dst = socket.inet_aton("192.0.2.50"), socket.inet_aton("224.0.0.18")
def csum(b):
    if len(b) % 2: b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
body = struct.pack("!BBBBHH", 0x31, 7, 50, 1, 100, 0) + socket.inet_aton("192.0.2.7")
pseudo = src + dst + struct.pack("!BBH", 0, 112, len(body))
body = body[:6] + struct.pack("!H", csum(pseudo + body)) + body[8:]
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, 112)
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 255)
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, src)
for _ in range(int(sys.argv[1])):
    s.sendto(body, ("224.0.0.18", 0))
"#;

/// Item 4: 2,000 lesser adverts at a Master get at most one reply per interval, not one each.
#[test]
fn master_does_not_reflect_a_flood_of_lesser_adverts() {
    let ns = lab("nvh-refl");
    let host = Netns::new("nvh-reflh");
    ns.ip_ok(&["link", "del", "veth0"]);
    ns.veth_to("veth0", &host, "eth0");
    ns.ip_ok(&["addr", "add", "192.0.2.2/24", "dev", "veth0"]);
    host.ip_ok(&["addr", "add", "192.0.2.50/24", "dev", "eth0"]);
    let f = config(
        &ns,
        &format!("[defaults]\nadvertisement-interval = 1000\n{ROUTER}"),
    );
    let out = ns.netvrrp(&["apply", "-f", &f]);
    assert!(out.status.success(), "{}", common::text(&out));
    let counters = || {
        let out = ns.netvrrp(&["show", "vrrp", "--json"]);
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        let row = &doc["routers"][0];
        (row["state"] == "master").then(|| row["counters"].clone())
    };
    let before = common::wait_until(
        std::time::Duration::from_secs(10),
        || "no master".into(),
        counters,
    );
    let start = std::time::Instant::now();
    let out = host.exec(&["python3", "-c", LESSER_FLOOD, "2000"]);
    assert!(out.status.success(), "{}", common::text(&out));
    let get = |c: &serde_json::Value, k: &str| c[k].as_u64().unwrap_or(0);
    // Wait until the runtime has read the flood.
    let after = common::wait_until(
        std::time::Duration::from_secs(5),
        || "the flood was not received".into(),
        || {
            let c = counters()?;
            (get(&c, "adverts_received") >= get(&before, "adverts_received") + 1900).then_some(c)
        },
    );
    let elapsed = start.elapsed().as_secs_f64();
    let sent = get(&after, "adverts_sent") - get(&before, "adverts_sent");
    let received = get(&after, "adverts_received") - get(&before, "adverts_received");
    let unanswered = get(&after, "lesser_adverts_unanswered");
    eprintln!(
        "[measure] {received} lesser adverts received in {elapsed:.2} s: {sent} adverts sent, {unanswered} unanswered"
    );
    // The periodic adverts (one a second) plus at most one reply per started second.
    assert!(
        sent as f64 <= 2.0 * (elapsed.ceil() + 1.0),
        "{sent} adverts for {received} lesser ones in {elapsed:.2} s"
    );
    assert!(unanswered + 5 >= received, "{after}");
}

/// Sends each hostile request line (argv[2] holds them, JSON-encoded as a list of byte
/// strings in latin-1) on its own connection and prints each reply line.
const HOSTILE_REQUESTS: &str = r#"
import json, socket, sys
for line in json.loads(sys.argv[2]):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    s.connect(sys.argv[1])
    s.sendall(line.encode("latin-1"))
    print(json.dumps(s.makefile("rb").readline().decode("latin-1")), flush=True)
"#;

/// Item 9 (control socket): requests that are hostile even from root leave the runtime
/// answering: a reload of a FIFO (would block the event loop forever) or of a path with a
/// NUL byte, nesting past the parser's limit, bytes that are not UTF-8.
#[test]
fn hostile_control_requests_do_not_stop_the_runtime() {
    let ns = lab("nvh-ctlreq");
    let f = config(&ns, ROUTER);
    let out = ns.netvrrp(&["apply", "-f", &f]);
    assert!(out.status.success(), "{}", common::text(&out));
    let fifo = ns.dir().join("fifo.toml");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let lines = serde_json::json!([
        format!(
            "{{\"cmd\":\"reload\",\"file\":{:?}}}\n",
            fifo.display().to_string()
        ),
        "{\"cmd\":\"reload\",\"file\":\"/etc/\\u0000x\"}\n",
        "{\"cmd\":\"reload\",\"file\":\"\"}\n",
        format!("{}\n", "[".repeat(60_000)),
        "{\"cmd\":\"show-vrrs\",\"what\":\"\\u0000\"}\n",
        "\u{ff}\u{fe}{\"cmd\":\"ping\"}\n",
        "{\"cmd\":\"subscribe\",\"names\":[1,2,3]}\n",
    ]);
    let out = Command::new("python3")
        .args(["-c", HOSTILE_REQUESTS])
        .arg(ns.run_dir().join("netvrrp.sock"))
        .arg(lines.to_string())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", common::text(&out));
    let replies = String::from_utf8_lossy(&out.stdout);
    assert!(
        replies.contains("not a regular file"),
        "the FIFO reload was not refused: {replies}"
    );
    let out = ns.netvrrp(&["show", "vrrp", "--json"]);
    assert!(out.status.success(), "{}", common::text(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["routers"][0]["vrid"], 7, "{doc}");
}
