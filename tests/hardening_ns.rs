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

/// One VRRPv3 router on `veth0` (192.0.2.2/24), with whatever `extra` adds.
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
    // Without nft on the machine `down` fails at its last step (removing the VIP filter),
    // after the devices and state files are gone.
    let nft_missing = Command::new("nft").arg("--version").output().is_err();
    assert!(
        out.status.success() || nft_missing,
        "{}",
        common::text(&out)
    );
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
