//! Golden files for the importers (`netvrrp autoconfigure --from-keepalived / --from-frr`).
//!
//! Each folder of tests/import/ holds one input (`keepalived.conf`, `frr.conf` or
//! `running-config.txt`; files it includes may sit beside it), the TOML the import must
//! write (`expected.toml`, which must also pass `netvrrp validate`) and the warnings or
//! errors it must print (`expected.stderr`). `NETVRRP_BLESS=1 cargo test --test import`
//! rewrites the expected files after a deliberate change; review the diff.

use netvrrp::import::{Diags, Dialect, import_to_text};
use std::path::{Path, PathBuf};

const DIR: &str = "tests/import";

fn input_of(case: &Path) -> Option<(Dialect, PathBuf)> {
    for (name, dialect) in [
        ("keepalived.conf", Dialect::Keepalived),
        ("frr.conf", Dialect::Frr),
        ("running-config.txt", Dialect::Frr),
    ] {
        let p = case.join(name);
        if p.is_file() {
            return Some((dialect, p));
        }
    }
    None
}

/// (stdout text or None on error, stderr lines)
fn run(dialect: Dialect, input: &Path, existing: Option<&str>) -> (Option<String>, String) {
    let mut diags = Diags::default();
    let out = import_to_text(dialect, input, existing, &mut diags);
    let mut stderr = String::new();
    for w in &diags.warnings {
        stderr.push_str(&format!("{}: warning: {}\n", w.loc, w.message));
    }
    match out {
        Ok(text) => (Some(text), stderr),
        Err(errors) => {
            for e in errors {
                stderr.push_str(&e);
                stderr.push('\n');
            }
            (None, stderr)
        }
    }
}

fn check_or_bless(path: &Path, got: &str, failures: &mut Vec<String>) {
    if std::env::var_os("NETVRRP_BLESS").is_some() {
        std::fs::write(path, got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(path).unwrap_or_default();
    if want != got {
        failures.push(format!(
            "{} differs:\n--- want\n{want}\n--- got\n{got}",
            path.display()
        ));
    }
}

fn cases() -> Vec<PathBuf> {
    let mut cases: Vec<PathBuf> = std::fs::read_dir(DIR)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    cases
}

#[test]
fn golden_outputs_and_warnings() {
    let mut failures = Vec::new();
    let mut seen = 0;
    for case in cases() {
        let Some((dialect, input)) = input_of(&case) else {
            continue;
        };
        seen += 1;
        let (out, stderr) = run(dialect, &input, None);
        check_or_bless(&case.join("expected.stderr"), &stderr, &mut failures);
        match out {
            Some(text) => {
                let golden = case.join("expected.toml");
                check_or_bless(&golden, &text, &mut failures);
                // The golden file itself passes the validator (`netvrrp validate -f`).
                if let Err(e) = netvrrp::config::load(&golden) {
                    failures.push(format!("{} does not validate:\n{e}", golden.display()));
                }
            }
            None => assert!(
                !case.join("expected.toml").exists(),
                "{}: the import failed:\n{stderr}",
                case.display()
            ),
        }
    }
    assert!(seen >= 6, "only {seen} cases found under {DIR}");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// Every warning names the input file and a line (and column) in it.
#[test]
fn every_warning_names_file_and_line() {
    for case in cases() {
        let Some((dialect, input)) = input_of(&case) else {
            continue;
        };
        let (_, stderr) = run(dialect, &input, None);
        for line in stderr.lines() {
            let mut parts = line.splitn(4, ':');
            let file = parts.next().unwrap_or("");
            let line_no: usize = parts.next().and_then(|l| l.parse().ok()).unwrap_or(0);
            let col: usize = parts.next().and_then(|l| l.parse().ok()).unwrap_or(0);
            assert!(
                file.starts_with(DIR) && line_no > 0 && col > 0,
                "{}: not at file:line:col: {line}",
                case.display()
            );
        }
    }
}

/// `-o FILE` on an existing file: the operator's comments, other routers and the existing
/// [defaults] stay; the imported router replaces the one with its (interface, vrid), and the
/// result resolves to the same settings as the fresh import.
#[test]
fn merge_into_existing_file() {
    let existing = "# Site file: keep this comment.\n[defaults]\npriority = 180 # site-wide\nadvertisement-interval = 2000\n\n# Hand-written router, replaced by the import.\n[[vrrp]]\ninterface = \"eth0\"\nvrid = 51\nipv4 = [\"192.168.200.99/24\"]\n\n[[vrrp]]\ninterface = \"eth9\"\nvrid = 1\nipv4 = [\"203.0.113.1/24\"]\n";
    let input = Path::new(DIR).join("keepalived-basic/keepalived.conf");
    let (merged, _) = run(Dialect::Keepalived, &input, Some(existing));
    let merged = merged.expect("merge failed");
    for kept in [
        "# Site file: keep this comment.\n",
        "priority = 180 # site-wide\n",
        "# Hand-written router, replaced by the import.\n[[vrrp]]\n",
        "interface = \"eth9\"",
    ] {
        assert!(merged.contains(kept), "lost {kept:?}:\n{merged}");
    }
    assert!(!merged.contains("192.168.200.99"), "{merged}");
    let m = netvrrp::config::parse_str(&merged, "merged.toml").unwrap();
    let (fresh, _) = run(Dialect::Keepalived, &input, None);
    let f = netvrrp::config::parse_str(&fresh.unwrap(), "fresh.toml").unwrap();
    let imported = m
        .routers
        .iter()
        .find(|r| r.interface == "eth0" && r.vrid == 51)
        .unwrap();
    let mut want = f.routers[0].clone();
    want.location = imported.location.clone();
    assert_eq!(*imported, want, "same settings under the site's defaults");
    assert_eq!(m.routers.len(), 2);
    // Merging again gives the same file.
    let (again, _) = run(Dialect::Keepalived, &input, Some(&merged));
    let again = again.unwrap();
    let m2 = netvrrp::config::parse_str(&again, "again.toml").unwrap();
    assert_eq!(m2.routers.len(), 2);
}

/// Track objects merge by name: an existing `[[track]]` the import also defines is
/// replaced in place (its comments kept), others stay; merging again adds none.
#[test]
fn merge_track_objects_by_name() {
    let existing = "# Mine: replaced by the import.\n[[track]]\nname = \"nginx\"\nkind = \"file\"\nfile = \"/run/x\"\n\n[[track]]\nname = \"other\"\nkind = \"process\"\nprocess = \"sshd\"\n";
    let input = Path::new(DIR).join("keepalived-full/keepalived.conf");
    let (merged, _) = run(Dialect::Keepalived, &input, Some(existing));
    let merged = merged.expect("merge failed");
    assert!(
        merged.contains(
            "# Mine: replaced by the import.\n[[track]]\nname = \"nginx\"\nkind = \"process\""
        ),
        "{merged}"
    );
    let m = netvrrp::config::parse_str(&merged, "merged.toml").unwrap();
    let names: Vec<&str> = m.tracks.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["nginx", "other", "chk_haproxy"]);
    // Merging again: the same objects, none twice.
    let (again, _) = run(Dialect::Keepalived, &input, Some(&merged));
    let m2 = netvrrp::config::parse_str(&again.unwrap(), "again.toml").unwrap();
    let mut again: Vec<_> = m2.tracks.iter().map(|t| (&t.name, &t.kind)).collect();
    let mut first: Vec<_> = m.tracks.iter().map(|t| (&t.name, &t.kind)).collect();
    again.sort_by_key(|t| t.0);
    first.sort_by_key(|t| t.0);
    assert_eq!(again, first);
    assert_eq!(m2.routers.len(), m.routers.len());
}

fn netvrrp(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_netvrrp"))
        .args(args)
        .output()
        .expect("run netvrrp")
}

/// The command line: stdout is the golden file, warnings on stderr, exit 0; `-o` writes
/// (and merges into) a file that `netvrrp validate` accepts; bad input exits 65 and
/// writes nothing.
#[test]
fn command_line() {
    let input = format!("{DIR}/keepalived-full/keepalived.conf");
    let out = netvrrp(&["autoconfigure", "--from-keepalived", &input]);
    assert_eq!(out.status.code(), Some(0));
    let want = std::fs::read_to_string(format!("{DIR}/keepalived-full/expected.toml")).unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), want);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("keepalived.conf:7:5: warning: `smtp_server` not translated"),
        "{stderr}"
    );

    let dir = std::env::temp_dir().join(format!("netvrrp-import-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let target = dir.join("vrrp.toml");
    let target_s = target.to_str().unwrap();
    std::fs::write(
        &target,
        "# mine\n[[vrrp]]\ninterface = \"eth9\"\nvrid = 1\nipv4 = [\"203.0.113.1/24\"]\n",
    )
    .unwrap();
    let frr = format!("{DIR}/frr-guide/frr.conf");
    let out = netvrrp(&["autoconfigure", "--from-frr", &frr, "-o", target_s]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty());
    let merged = std::fs::read_to_string(&target).unwrap();
    assert!(
        merged.starts_with("# mine\n[[vrrp]]\ninterface = \"eth9\""),
        "{merged}"
    );
    let out = netvrrp(&["validate", "-f", target_s]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let bad = format!("{DIR}/keepalived-errors/keepalived.conf");
    let out = netvrrp(&["autoconfigure", "--from-keepalived", &bad, "-o", target_s]);
    assert_eq!(out.status.code(), Some(65));
    assert_eq!(
        std::fs::read_to_string(&target).unwrap(),
        merged,
        "nothing written"
    );
    let out = netvrrp(&[
        "autoconfigure",
        "--from-frr",
        &format!("{DIR}/no-such-file"),
    ]);
    assert_eq!(out.status.code(), Some(65));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read"));
    let _ = std::fs::remove_dir_all(&dir);
}
