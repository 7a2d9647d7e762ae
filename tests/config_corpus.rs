//! Every malformed file in tests/bad-configs/ is refused with exit 65 and a
//! file:line:column message, and `apply` of it changes nothing in the kernel.

mod common;

use common::Netns;
use std::path::PathBuf;
use std::process::Command;

fn corpus() -> Vec<PathBuf> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/bad-configs");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 10, "corpus too small: {files:?}");
    files
}

/// `file:LINE:COL:` with LINE and COL at least 1.
fn has_position(stderr: &str, file: &str) -> bool {
    stderr.lines().any(|l| {
        let Some(rest) = l.strip_prefix(file).and_then(|r| r.strip_prefix(':')) else {
            return false;
        };
        let mut parts = rest.splitn(3, ':');
        let line = parts.next().and_then(|p| p.parse::<usize>().ok());
        let col = parts.next().and_then(|p| p.parse::<usize>().ok());
        matches!((line, col), (Some(l), Some(c)) if l >= 1 && c >= 1)
    })
}

#[test]
fn every_malformed_file_exits_65_with_a_position() {
    for f in corpus() {
        let out = Command::new(env!("CARGO_BIN_EXE_netvrrp"))
            .arg("validate")
            .arg("-f")
            .arg(&f)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(65), "{}: {stderr}", f.display());
        assert!(
            has_position(&stderr, &f.display().to_string()),
            "{}: no file:line:column in {stderr:?}",
            f.display()
        );
        assert!(
            out.stdout.is_empty(),
            "{}: validate printed to stdout",
            f.display()
        );
    }
}

/// What apply could change: every link (name, kind) with its addresses other than the
/// kernel's own link-locals. Not operstate or DAD flags, which move by themselves while a
/// fresh veth comes up.
fn kernel_view(ns: &Netns) -> Vec<String> {
    let v: serde_json::Value =
        serde_json::from_slice(&ns.ok(&["ip", "-d", "-j", "addr", "show"])).unwrap();
    let mut out: Vec<String> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            let mut addrs: Vec<String> = l["addr_info"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|a| a["scope"] != "link")
                .map(|a| format!("{}/{}", a["local"], a["prefixlen"]))
                .collect();
            addrs.sort();
            format!(
                "{} {} {}",
                l["ifname"],
                l["linkinfo"]["info_kind"],
                addrs.join(",")
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn apply_of_a_malformed_file_changes_nothing() {
    let ns = Netns::new("nvcorpus");
    ns.ok(&[
        "ip", "link", "add", "eth0", "type", "veth", "peer", "name", "eth1",
    ]);
    ns.ok(&["ip", "link", "set", "eth0", "up"]);
    ns.ok(&["ip", "link", "set", "eth1", "up"]);
    let before = kernel_view(&ns);
    // apply refuses, as root, a file another user could edit (exit 1 before any parsing):
    // the checkout belongs to whoever ran `sudo ./scripts/test`, so each file is applied
    // from a root-owned 0644 copy.
    let copies = ns.dir().join("corpus");
    std::fs::create_dir(&copies).unwrap();
    for original in corpus() {
        let copy = copies.join(original.file_name().unwrap());
        std::fs::write(&copy, std::fs::read(&original).unwrap()).unwrap();
        std::fs::set_permissions(&copy, std::os::unix::fs::PermissionsExt::from_mode(0o644))
            .unwrap();
        let f = copy.to_string_lossy().into_owned();
        let out = ns.netvrrp(&["apply", "-f", &f]);
        assert_eq!(out.status.code(), Some(65), "{f}: {}", common::text(&out));
        // Nothing was started either.
        assert!(!ns.run_dir().join("netvrrp.sock").exists(), "{f}");
    }
    assert_eq!(before, kernel_view(&ns));
}

/// A world-writable file (or one in a world-writable directory without the sticky bit) and
/// a world-writable run-dir are refused (exit 1, the path and the fix named) where the file
/// would be acted on as root; `validate` and `apply --dry-run` still read it.
#[test]
fn insecure_permissions_are_refused_where_the_file_is_acted_on() {
    use std::os::unix::fs::PermissionsExt;
    let ns = Netns::new("nvperm");
    ns.veth("eth0", "eth1");
    let set = |p: &std::path::Path, m: u32| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap()
    };
    let dir = ns.dir().join("conf");
    std::fs::create_dir(&dir).unwrap();
    set(&dir, 0o755);
    let cfg = dir.join("vrrp.toml");
    std::fs::write(
        &cfg,
        "[[vrrp]]\ninterface = \"eth0\"\nvrid = 5\nipv4 = [\"192.0.2.1/24\"]\n",
    )
    .unwrap();
    let f = cfg.to_string_lossy().into_owned();
    let refused = |args: &[&str], what: &str, fix: &str| {
        let out = ns.netvrrp(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{args:?}: {}",
            common::text(&out)
        );
        assert!(err.contains(what) && err.contains(fix), "{args:?}: {err}");
        assert!(
            !ns.run_dir().join("netvrrp.sock").exists(),
            "{args:?} started a runtime"
        );
    };
    let before = kernel_view(&ns);

    set(&cfg, 0o666);
    for cmd in ["apply", "run", "down"] {
        refused(&[cmd, "-f", &f], &f, "chmod o-w");
    }
    for args in [
        vec!["validate", "-f", &f],
        vec!["apply", "--dry-run", "-f", &f],
    ] {
        let out = ns.netvrrp(&args);
        assert!(out.status.success(), "{args:?}: {}", common::text(&out));
    }
    set(&cfg, 0o644);
    set(&dir, 0o777);
    refused(&["apply", "-f", &f], &dir.to_string_lossy(), "sticky");
    set(&dir, 0o755);

    // The run-dir, even with the sticky bit.
    let run = ns.dir().join("open-run");
    std::fs::create_dir(&run).unwrap();
    set(&run, 0o1777);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_netvrrp"))
        .args(["--netns", ns.name(), "--run-dir"])
        .arg(&run)
        .args(["apply", "-f", &f])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{}", common::text(&out));
    assert!(
        err.contains(&run.display().to_string()) && err.contains("world-writable"),
        "{err}"
    );
    assert_eq!(
        before,
        kernel_view(&ns),
        "a refused command changed the kernel"
    );

    // Fixed: it applies.
    set(&run, 0o755);
    let out = ns.netvrrp(&["apply", "--no-runtime", "-f", &f]);
    assert!(out.status.success(), "{}", common::text(&out));
}

/// A file that cannot be read has no position: `FILE: cannot read: REASON`, exit 65.
#[test]
fn an_unreadable_file_is_named_without_a_position() {
    let dir = std::env::temp_dir().join(format!("netvrrp-corpus-{}", std::process::id()));
    let missing = dir.join("nonexist.toml");
    let out = Command::new(env!("CARGO_BIN_EXE_netvrrp"))
        .arg("validate")
        .arg("-f")
        .arg(&missing)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(65), "{}", common::text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.lines().next(),
        Some(
            format!(
                "{}: cannot read: No such file or directory (os error 2)",
                missing.display()
            )
            .as_str()
        ),
        "{stderr}"
    );
}

/// A valid file that does not fit the host is reported at the offending value, with its
/// key: the missing interface at `interface`'s value (exit 1), a VIP that is an address of
/// the parent at that address in the array (exit 65). Nothing is changed.
#[test]
fn host_fit_errors_point_at_the_value() {
    let ns = Netns::new("nvfit");
    ns.veth("eth0", "eth1");
    ns.ok(&["ip", "addr", "add", "192.0.2.2/24", "dev", "eth0"]);
    let before = kernel_view(&ns);
    let file = ns.dir().join("fit.toml");
    let f = file.to_string_lossy().into_owned();
    let refused = |text: &str, code: i32, want: String| {
        std::fs::write(&file, text).unwrap();
        for args in [
            &["diff", "--no-runtime", "-f", &f][..],
            &["apply", "--no-runtime", "-f", &f],
        ] {
            let out = ns.netvrrp(args);
            assert_eq!(
                out.status.code(),
                Some(code),
                "{args:?}: {}",
                common::text(&out)
            );
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(
                stderr.lines().next(),
                Some(want.as_str()),
                "{args:?}: {stderr}"
            );
        }
    };
    refused(
        "# a router on an interface this host lacks\n\n[[vrrp]]\nvrid = 5\ninterface = \"eth9\"\nipv4 = [\"192.0.2.7/24\"]\n",
        1,
        format!("{f}:5:13: vrrp[1].interface: interface \"eth9\" does not exist"),
    );
    refused(
        "[[vrrp]]\ninterface = \"eth0\"\nvrid = 5\nipv4 = [\"192.0.2.7/24\", \"192.0.2.2/24\"]\n",
        65,
        format!(
            "{f}:4:25: vrrp[1].ipv4[2]: VIP 192.0.2.2 is an address of interface \"eth0\" on this host; while this router is not Master, netvrrp drops traffic to its VIPs and would cut the host off from that address. Use another address, or make this router its owner (priority = 255)"
        ),
    );
    assert_eq!(before, kernel_view(&ns));
}
