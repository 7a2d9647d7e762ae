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

#[test]
fn apply_of_a_malformed_file_changes_nothing() {
    let ns = Netns::new("nvcorpus");
    ns.ok(&[
        "ip", "link", "add", "eth0", "type", "veth", "peer", "name", "eth1",
    ]);
    ns.ok(&["ip", "link", "set", "eth0", "up"]);
    ns.ok(&["ip", "link", "set", "eth1", "up"]);
    let before = ns.ok(&["ip", "-d", "-j", "addr", "show"]);
    for f in corpus() {
        let f = f.to_string_lossy().into_owned();
        let out = ns.netvrrp(&["apply", "-f", &f]);
        assert_eq!(out.status.code(), Some(65), "{f}: {}", common::text(&out));
        // Nothing was started either.
        assert!(!ns.run_dir().join("netvrrp.sock").exists(), "{f}");
    }
    let after = ns.ok(&["ip", "-d", "-j", "addr", "show"]);
    assert_eq!(
        String::from_utf8_lossy(&before),
        String::from_utf8_lossy(&after)
    );
}
