//! The runtime's logs through the real paths, in a namespace: a state change (with its
//! reason) at the default level as a text line with its level, as a flat JSON object, and as
//! a native journald entry, read back twice: by the real systemd-journald (started by the
//! test in a private mount namespace; the machine's PID 1 is not systemd) and journalctl,
//! and as raw datagrams.
//!
//! Raw datagrams: the test plays journald itself. It
//! binds a unix datagram socket, and runs the binary in a private mount namespace where that
//! socket's directory is mounted on /run/systemd/journal: the binary sends to the real path
//! (tracing-journald's fixed /run/systemd/journal/socket) and the test reads back the native
//! protocol datagrams. JOURNAL_STREAM names the binary's stderr, as systemd sets it.

mod common;

use common::{Netns, wait_until};
use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

const CONFIG: &str = r#"
[defaults]
advertisement-interval = 100

[[vrrp]]
interface = "veth0"
vrid = 7
priority = 200
ipv4 = ["192.0.2.7/24"]
"#;

fn setup(prefix: &str) -> (Netns, String) {
    let ns = Netns::new(prefix);
    ns.veth("veth0", "veth1");
    ns.ip_ok(&["addr", "add", "192.0.2.2/24", "dev", "veth0"]);
    let cfg = ns.dir().join("vrrp.toml");
    std::fs::write(&cfg, CONFIG).expect("write config");
    (ns, cfg.to_string_lossy().into_owned())
}

fn stderr_file(path: &Path) -> std::fs::File {
    std::fs::File::create(path).expect("create the stderr file")
}

/// The lines of a log file once one contains all of `want`.
fn wait_for_line(path: &Path, want: &[&str]) -> String {
    wait_until(
        Duration::from_secs(10),
        || {
            format!(
                "no line with {want:?} in {}",
                std::fs::read_to_string(path).unwrap_or_default()
            )
        },
        || {
            let text = std::fs::read_to_string(path).ok()?;
            text.lines()
                .find(|l| want.iter().all(|w| l.contains(w)))
                .map(str::to_string)
        },
    )
}

#[test]
fn text_and_json_lines() {
    let (ns, cfg) = setup("nvlogt");
    let text_log = ns.dir().join("text.log");
    let mut cmd = ns.netvrrp_command(&["run", "-f", &cfg]);
    cmd.stderr(stderr_file(&text_log)).env_remove("RUST_LOG");
    ns.spawn(cmd);
    // Info by default, with the level and the reason on the line.
    let line = wait_for_line(&text_log, &["state change", "to=master"]);
    assert!(line.contains(" INFO "), "{line}");
    assert!(line.contains("reason="), "{line}");
    assert!(
        line.contains("interface=veth0") && line.contains("vrid=7"),
        "{line}"
    );
    // Stop it: the JSON runtime below uses the same namespace and run directory.
    let out = ns.netvrrp(&["stop"]);
    assert!(out.status.success(), "{}", common::text(&out));
    wait_until(
        Duration::from_secs(10),
        || "the text runtime did not stop".into(),
        || (!ns.netvrrp(&["show", "vrrp"]).status.success()).then_some(()),
    );

    let json_log = ns.dir().join("json.log");
    let mut cmd = ns.netvrrp_command(&["--log-format", "json", "run", "-f", &cfg]);
    cmd.stderr(stderr_file(&json_log)).env_remove("RUST_LOG");
    ns.spawn(cmd);
    let line = wait_for_line(&json_log, &["state change", "\"master\""]);
    let v: serde_json::Value = serde_json::from_str(&line).expect("a JSON line");
    assert_eq!(v["level"], "INFO", "{line}");
    assert_eq!(v["message"], "state change", "{line}");
    // Fields at the top level, not under "fields".
    assert!(v.get("fields").is_none(), "{line}");
    assert_eq!(v["interface"], "veth0", "{line}");
    assert_eq!(v["vrid"], 7, "{line}");
    assert_eq!(v["family"], "ipv4", "{line}");
    assert_eq!(v["to"], "master", "{line}");
    assert!(
        v["reason"].as_str().is_some_and(|r| !r.is_empty()),
        "{line}"
    );
    // Every line of the file is JSON (one format per stream).
    for l in std::fs::read_to_string(&json_log)
        .unwrap_or_default()
        .lines()
    {
        assert!(
            serde_json::from_str::<serde_json::Value>(l).is_ok(),
            "not JSON: {l}"
        );
    }

    // A command error in JSON too.
    let out = ns.netvrrp(&["--log-format", "json", "validate", "-f", "/nonexistent"]);
    let err = String::from_utf8_lossy(&out.stderr);
    for l in err.lines() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
        assert_eq!(v["level"], "ERROR", "{l}");
    }
    assert!(err.contains("1 error(s) in the configuration"), "{err}");
    // validate applies nothing in any case: it does not say it did not.
    assert!(!err.contains("nothing was applied"), "{err}");
    // The importers' diagnostics too.
    let bad = ns.dir().join("keepalived.conf");
    std::fs::write(&bad, "vrrp_instance VI_1 {\n    virtual_router_id 300\n").unwrap();
    let bad = bad.display().to_string();
    let out = ns.netvrrp(&[
        "--log-format",
        "json",
        "autoconfigure",
        "--from-keepalived",
        &bad,
    ]);
    assert_eq!(out.status.code(), Some(65), "{}", common::text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("nothing was written"), "{err}");
    for l in err.lines() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
        assert_eq!(v["level"], "ERROR", "{l}");
    }
}

/// One native-protocol datagram: `KEY=VALUE\n`, or `KEY\n` + 64-bit LE length + value + `\n`
/// for values with newlines.
fn parse_native(mut b: &[u8]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    while !b.is_empty() {
        let nl = b.iter().position(|&c| c == b'\n').unwrap_or(b.len());
        let line = &b[..nl];
        if let Some(eq) = line.iter().position(|&c| c == b'=') {
            out.insert(
                String::from_utf8_lossy(&line[..eq]).into_owned(),
                String::from_utf8_lossy(&line[eq + 1..]).into_owned(),
            );
            b = &b[(nl + 1).min(b.len())..];
        } else {
            let key = String::from_utf8_lossy(line).into_owned();
            let rest = &b[nl + 1..];
            let len = u64::from_le_bytes(rest[..8].try_into().expect("length")) as usize;
            out.insert(key, String::from_utf8_lossy(&rest[8..8 + len]).into_owned());
            b = &rest[(8 + len + 1).min(rest.len())..];
        }
    }
    out
}

#[test]
fn journald_native_entries() {
    let (ns, cfg) = setup("nvlogj");
    // The stand-in for /run/systemd: journal/socket is ours.
    let fake = ns.dir().join("systemd");
    std::fs::create_dir_all(fake.join("journal")).expect("mkdir");
    let sock = UnixDatagram::bind(fake.join("journal/socket")).expect("bind the journal socket");
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let stderr_path = ns.dir().join("stderr.log");
    let stderr = stderr_file(&stderr_path);
    let meta = std::fs::metadata(&stderr_path).expect("stat");
    let script = r#"mount --bind "$1" /run/systemd && shift && exec "$@""#;
    let mut cmd = Command::new("ip");
    cmd.args([
        "netns",
        "exec",
        ns.name(),
        "unshare",
        "-m",
        "--propagation",
        "private",
    ])
    .args(["sh", "-c", script, "sh"])
    .arg(&fake)
    .arg(env!("CARGO_BIN_EXE_netvrrp"))
    .arg("--run-dir")
    .arg(ns.run_dir())
    .args(["run", "-f", &cfg])
    .env("JOURNAL_STREAM", format!("{}:{}", meta.dev(), meta.ino()))
    .env_remove("RUST_LOG")
    .stdout(Stdio::null())
    .stderr(stderr);
    ns.spawn(cmd);

    let seen = std::cell::RefCell::new(Vec::new());
    let mut buf = vec![0u8; 65536];
    let entry = wait_until(
        Duration::from_secs(10),
        || format!("no state change entry; got {:?}", seen.borrow()),
        || {
            let n = sock.recv(&mut buf).ok()?;
            let e = parse_native(&buf[..n]);
            let found = e.get("MESSAGE").map(String::as_str) == Some("state change")
                && e.get("TO").map(String::as_str) == Some("master");
            seen.borrow_mut().push(e.clone());
            found.then_some(e)
        },
    );
    let get = |k: &str| entry.get(k).map(String::as_str);
    // info → syslog priority 6, structured fields without a prefix.
    assert_eq!(get("PRIORITY"), Some("6"), "{entry:?}");
    assert_eq!(get("SYSLOG_IDENTIFIER"), Some("netvrrp"), "{entry:?}");
    assert_eq!(get("INTERFACE"), Some("veth0"), "{entry:?}");
    assert_eq!(get("VRID"), Some("7"), "{entry:?}");
    assert_eq!(get("FAMILY"), Some("ipv4"), "{entry:?}");
    assert!(get("REASON").is_some_and(|r| !r.is_empty()), "{entry:?}");
    assert_eq!(get("TARGET"), Some("netvrrp::protocol"), "{entry:?}");
    // Nothing went to stderr as text meanwhile.
    let text = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    assert!(!text.contains("state change"), "{text}");
}

/// The real systemd-journald, when installed: started in a private mount namespace (tmpfs on
/// /run/systemd, /run/log and /var/log/journal, so nothing reaches the host's journal), the
/// runtime logging to it with JOURNAL_STREAM naming its stderr, the entries read back with
/// journalctl, whose own `-p` filter sees info as priority 6.
#[test]
fn journald_real_daemon_and_journalctl() {
    const JOURNALD: &str = "/lib/systemd/systemd-journald";
    if !Path::new(JOURNALD).exists() {
        assert!(
            std::env::var_os("NETVRRP_REQUIRE_JOURNALD").is_none(),
            "NETVRRP_REQUIRE_JOURNALD is set but {JOURNALD} is missing"
        );
        eprintln!("{JOURNALD} not installed: skipping");
        return;
    }
    let (ns, cfg) = setup("nvlogr");
    // journald runs in the root network namespace: `ip netns exec` would remount /sys
    // without /sys/fs/cgroup, which journald needs. netvrrp enters the test's namespace with
    // --netns, like an operator's command. The trap ends both whatever happens.
    let script = r#"
set -eu
journald=$1 bin=$2 netns=$3 run_dir=$4 cfg=$5 dir=$6
mount -t tmpfs tmpfs /run/systemd
mkdir -p /run/log && mount -t tmpfs tmpfs /run/log
if [ -d /var/log/journal ]; then mount -t tmpfs tmpfs /var/log/journal; fi
"$journald" >"$dir/journald.log" 2>&1 & jpid=$!
npid=
trap 'kill $jpid $npid 2>/dev/null || true' EXIT
i=0; until [ -S /run/systemd/journal/socket ]; do i=$((i+1)); [ $i -lt 100 ]; sleep 0.05; done
: > "$dir/stderr"
JOURNAL_STREAM=$(stat -c '%d:%i' "$dir/stderr") "$bin" --netns "$netns" --run-dir "$run_dir" \
    run -f "$cfg" >/dev/null 2>>"$dir/stderr" & npid=$!
q() { journalctl -D "$(echo /run/log/journal/*)" --no-pager -o json SYSLOG_IDENTIFIER=netvrrp "$@" || true; }
i=0; until q MESSAGE='state change' TO=master | grep -q .; do i=$((i+1)); [ $i -lt 200 ] || break; sleep 0.05; done
q MESSAGE='state change' > "$dir/all.json"
q -p info MESSAGE='state change' > "$dir/info.json"
q -p notice MESSAGE='state change' > "$dir/notice.json"
"#;
    let out = Command::new("unshare")
        .args(["-m", "--propagation", "private"])
        .args([
            "sh",
            "-c",
            script,
            "sh",
            JOURNALD,
            env!("CARGO_BIN_EXE_netvrrp"),
            ns.name(),
        ])
        .arg(ns.run_dir())
        .arg(&cfg)
        .arg(ns.dir())
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .expect("run journald and netvrrp");
    assert!(out.status.success(), "{}", common::text(&out));
    let read = |name: &str| -> Vec<serde_json::Value> {
        std::fs::read_to_string(ns.dir().join(name))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    };
    let all = read("all.json");
    let entry = all.iter().find(|e| e["TO"] == "master").unwrap_or_else(|| {
        panic!(
            "no state change in the journal: {all:?}\n{}",
            common::text(&out)
        )
    });
    assert_eq!(entry["PRIORITY"], "6", "{entry}");
    assert_eq!(entry["INTERFACE"], "veth0", "{entry}");
    assert_eq!(entry["VRID"], "7", "{entry}");
    assert_eq!(entry["FAMILY"], "ipv4", "{entry}");
    assert!(
        entry["REASON"].as_str().is_some_and(|r| !r.is_empty()),
        "{entry}"
    );
    // journald's _TRANSPORT for the native protocol (not "stdout": the stream was bypassed).
    assert_eq!(entry["_TRANSPORT"], "journal", "{entry}");
    assert_eq!(read("info.json").len(), all.len());
    assert!(
        read("notice.json").is_empty(),
        "info entries at notice or above"
    );
    let stderr = std::fs::read_to_string(ns.dir().join("stderr")).unwrap_or_default();
    assert!(!stderr.contains("state change"), "{stderr}");
}
