//! Command-line surface in a namespace: the bash completion run by bash (namespaces for
//! `--netns`, links for `--interface`, 2/3 for `--vrrp-version`), the renamed autoconfigure
//! flag and its old spelling, `show vrrp 0` refused, and `netvrrp show` alone.

mod common;

use common::{Netns, text, wait_until};
use std::process::Command;
use std::time::Duration;

/// Candidates bash's completion offers for the words `line` (the last one being completed).
fn complete_bash(line: &[&str]) -> Vec<String> {
    let script = String::from_utf8(
        Command::new(env!("CARGO_BIN_EXE_netvrrp"))
            .args(["completions", "bash"])
            .output()
            .expect("netvrrp completions bash")
            .stdout,
    )
    .expect("UTF-8 script");
    let words: Vec<String> = line.iter().map(|w| format!("'{w}'")).collect();
    let cword = line.len() - 1;
    let prev = line[cword - 1];
    let cur = line[cword];
    let program = format!(
        "{script}\nCOMP_WORDS=({}); COMP_CWORD={cword}; COMP_LINE='{}'; COMP_POINT=${{#COMP_LINE}}\n\
         _netvrrp netvrrp '{cur}' '{prev}'\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
        words.join(" "),
        line.join(" ")
    );
    let out = Command::new("bash")
        .args(["--norc", "-c", &program])
        .output()
        .expect("run bash");
    assert!(out.status.success(), "{}", text(&out));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn bash_completion_offers_namespaces_links_and_versions() {
    let ns = Netns::new("nvcli");
    let got = complete_bash(&["netvrrp", "show", "--netns", ""]);
    assert!(got.iter().any(|n| n == ns.name()), "{got:?}");
    // Only namespaces: no file names of the working directory.
    assert!(!got.iter().any(|n| n == "Cargo.toml"), "{got:?}");
    let got = complete_bash(&["netvrrp", "show", "vrrp", "--interface", "l"]);
    assert!(got.iter().any(|n| n == "lo"), "{got:?}");
    let got = complete_bash(&["netvrrp", "autoconfigure", "--vrrp-version", ""]);
    assert_eq!(got, ["2", "3"]);
}

#[test]
fn autoconfigure_version_flag_old_and_new_spelling() {
    let ns = Netns::new("nvcli");
    for flag in ["--vrrp-version", "--version"] {
        let out = ns.netvrrp(&["autoconfigure", flag, "2"]);
        assert!(out.status.success(), "{flag}: {}", text(&out));
    }
    let out = ns.netvrrp(&["autoconfigure", "--vrrp-version", "4"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    // The old spelling is hidden from the help.
    let out = ns.netvrrp(&["autoconfigure", "--help"]);
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("--vrrp-version"), "{help}");
    assert!(!help.contains("--version"), "{help}");
}

#[test]
fn show_alone_is_one_line_per_router_and_vrid_0_is_refused() {
    let ns = Netns::new("nvcli");
    let out = ns.netvrrp(&["show", "vrrp", "0"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    // No runtime: an operational failure, not a usage error.
    let out = ns.netvrrp(&["show"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));

    ns.veth("veth0", "veth1");
    ns.ip_ok(&["addr", "add", "192.0.2.2/24", "dev", "veth0"]);
    let cfg = ns.dir().join("vrrp.toml");
    std::fs::write(
        &cfg,
        "[defaults]\nadvertisement-interval = 100\n\n[[vrrp]]\ninterface = \"veth0\"\nvrid = 7\n\
         priority = 200\nipv4 = [\"192.0.2.7/24\"]\n\n[[vrrp]]\ninterface = \"veth0\"\nvrid = 8\n\
         priority = 100\nipv4 = [\"192.0.2.8/24\"]\n",
    )
    .expect("write config");
    let out = ns.netvrrp(&["apply", "-f", &cfg.to_string_lossy()]);
    assert!(out.status.success(), "{}", text(&out));
    let lines = wait_until(
        Duration::from_secs(10),
        || text(&ns.netvrrp(&["show"])),
        || {
            let out = ns.netvrrp(&["show"]);
            let t = String::from_utf8_lossy(&out.stdout).into_owned();
            let lines: Vec<String> = t.lines().map(str::to_string).collect();
            (out.status.success() && lines.iter().filter(|l| l.contains("master")).count() == 2)
                .then_some(lines)
        },
    );
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(lines[0].starts_with("NAME"), "{lines:?}");
    let cols: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(
        &cols[..6],
        ["-", "veth0", "7", "ipv4", "master", "200/200"],
        "{lines:?}"
    );
    assert!(lines[1].ends_with(" ago"), "{lines:?}");
    assert!(lines[2].contains(" 8 "), "{lines:?}");
}

/// One router (veth0, VRID 7, priority `prio`) in a file.
fn router_config(prio: u8) -> String {
    format!(
        "[[vrrp]]\ninterface = \"veth0\"\nvrid = 7\npriority = {prio}\nipv4 = [\"192.0.2.7/24\"]\n"
    )
}

/// veth0 with an address, and the path of a file with [`router_config`] at priority 200.
fn one_router(ns: &Netns) -> std::path::PathBuf {
    ns.veth("veth0", "veth1");
    ns.ip_ok(&["addr", "add", "192.0.2.2/24", "dev", "veth0"]);
    let cfg = ns.dir().join("vrrp.toml");
    std::fs::write(&cfg, router_config(200)).expect("write config");
    cfg
}

#[test]
fn diff_sees_what_the_runtime_runs() {
    let ns = Netns::new("nvcli");
    let cfg = one_router(&ns);
    let cfg_s = cfg.to_string_lossy().into_owned();
    let diff = || {
        let out = ns.netvrrp(&["diff", "--json", "--exit-code", "-f", &cfg_s]);
        let v: serde_json::Value =
            serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)));
        (out.status.code(), v)
    };
    // Nothing applied, no runtime: the kernel differs, and so does the runtime (not running).
    let (code, v) = diff();
    assert_eq!(code, Some(3));
    assert_eq!(v["runtime"]["running"], false, "{v}");
    assert_eq!(v["runtime"]["in_sync"], false, "{v}");
    let out = ns.netvrrp(&["apply", "-f", &cfg_s]);
    assert!(out.status.success(), "{}", text(&out));
    let (code, v) = diff();
    assert_eq!(code, Some(0), "{v}");
    assert_eq!(v["runtime"]["running"], true, "{v}");
    assert_eq!(v["in_sync"], true, "{v}");
    // A priority edit changes no device, only what the runtime should run.
    std::fs::write(&cfg, router_config(150)).expect("write config");
    let (code, v) = diff();
    assert_eq!(code, Some(3), "{v}");
    assert!(v["changes"].as_array().is_some_and(Vec::is_empty), "{v}");
    assert_eq!(v["runtime"]["in_sync"], false, "{v}");
    assert_eq!(v["runtime"]["routers"][0]["action"], "reconfigure", "{v}");
    let out = ns.netvrrp(&["diff", "-f", &cfg_s]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("veth0 vrid 7 ipv4: reconfigure (priority)"),
        "{}",
        text(&out)
    );
    let out = ns.netvrrp(&["apply", "-f", &cfg_s]);
    assert!(out.status.success(), "{}", text(&out));
    let (code, v) = diff();
    assert_eq!(code, Some(0), "{v}");
}

/// The sorted keys of a JSON object (empty for anything else).
fn keys_of(v: &serde_json::Value) -> Vec<String> {
    let mut k: Vec<String> = v
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    k.sort();
    k
}

/// `diff`, `check` and `apply --json` write every key netvrrp(8), JSON FIELDS lists, with
/// and without a runtime and with --no-runtime; the top-level in_sync of a real apply says
/// whether it had anything to do.
#[test]
fn json_documents_have_every_documented_key() {
    const PLAN: [&str; 5] = ["changes", "in_sync", "kernel_in_sync", "runtime", "schema"];
    const CHECK: [&str; 4] = ["checks", "pass", "runtime", "schema"];
    const RUNTIME: [&str; 9] = [
        "file", "in_sync", "pid", "problems", "routers", "running", "settings", "tracks", "vrrs",
    ];
    const APPLIED: [&str; 11] = [
        "file",
        "in_sync",
        "instances",
        "pid",
        "problems",
        "routers",
        "running",
        "schema",
        "settings",
        "tracks",
        "vrrs",
    ];
    let ns = Netns::new("nvcli");
    let cfg = one_router(&ns);
    let cfg_s = cfg.to_string_lossy().into_owned();
    let json = |args: &[&str]| -> serde_json::Value {
        let out = ns.netvrrp(args);
        assert!(
            matches!(out.status.code(), Some(0 | 3)),
            "{args:?}: {}",
            text(&out)
        );
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{args:?}: {e}: {}", text(&out)))
    };

    // No runtime: pid and file are there, null.
    let v = json(&["diff", "--json", "-f", &cfg_s]);
    assert_eq!(keys_of(&v), PLAN, "{v}");
    assert_eq!(keys_of(&v["runtime"]), RUNTIME, "{v}");
    assert!(
        v["runtime"]["pid"].is_null() && v["runtime"]["file"].is_null(),
        "{v}"
    );
    let v = json(&["check", "--json", "-f", &cfg_s]);
    assert_eq!(keys_of(&v), CHECK, "{v}");
    assert_eq!(keys_of(&v["runtime"]), RUNTIME, "{v}");
    // --no-runtime: the same keys, runtime null, in_sync the kernel's.
    let v = json(&["diff", "--json", "--no-runtime", "-f", &cfg_s]);
    assert_eq!(keys_of(&v), PLAN, "{v}");
    assert!(v["runtime"].is_null(), "{v}");
    assert_eq!(v["kernel_in_sync"], false, "{v}");
    assert_eq!(v["in_sync"], false, "{v}");
    let v = json(&["check", "--json", "--no-runtime", "-f", &cfg_s]);
    assert_eq!(keys_of(&v), CHECK, "{v}");
    assert!(v["runtime"].is_null(), "{v}");

    // A first apply starts the runtime: not in sync, one instance added and running.
    let v = json(&["apply", "--json", "-f", &cfg_s]);
    assert_eq!(keys_of(&v), PLAN, "{v}");
    assert_eq!(keys_of(&v["runtime"]), APPLIED, "{v}");
    assert_eq!(v["in_sync"], false, "{v}");
    assert_eq!(v["kernel_in_sync"], false, "{v}");
    assert_eq!(v["runtime"]["in_sync"], false, "{v}");
    assert_eq!(v["runtime"]["running"], true, "{v}");
    assert_eq!(v["runtime"]["instances"], 1, "{v}");
    assert_eq!(v["runtime"]["routers"][0]["action"], "add", "{v}");
    let canonical = std::fs::canonicalize(&cfg).expect("canonical path");
    assert_eq!(
        v["runtime"]["file"],
        canonical.to_string_lossy().as_ref(),
        "{v}"
    );
    let pid = v["runtime"]["pid"]
        .as_u64()
        .unwrap_or_else(|| panic!("no pid: {v}"));

    // Running: diff names it.
    let v = json(&["diff", "--json", "-f", &cfg_s]);
    assert_eq!(keys_of(&v["runtime"]), RUNTIME, "{v}");
    assert_eq!(v["runtime"]["pid"].as_u64(), Some(pid), "{v}");

    // The same file again: nothing to do, so in sync, the same runtime.
    let v = json(&["apply", "--json", "-f", &cfg_s]);
    assert_eq!(keys_of(&v["runtime"]), APPLIED, "{v}");
    assert_eq!(v["in_sync"], true, "{v}");
    assert_eq!(v["runtime"]["in_sync"], true, "{v}");
    assert_eq!(v["runtime"]["pid"].as_u64(), Some(pid), "{v}");
    assert_eq!(v["runtime"]["routers"][0]["action"], "keep", "{v}");

    // A priority edit: the kernel in sync, the runtime reconfigured, so not in sync.
    std::fs::write(&cfg, router_config(150)).expect("write config");
    let v = json(&["apply", "--json", "-f", &cfg_s]);
    assert_eq!(v["kernel_in_sync"], true, "{v}");
    assert_eq!(v["in_sync"], false, "{v}");
    assert_eq!(v["runtime"]["in_sync"], false, "{v}");
    assert_eq!(v["runtime"]["routers"][0]["action"], "reconfigure", "{v}");
    assert_eq!(v["runtime"]["instances"], 1, "{v}");

    // apply --no-runtime: the same top-level keys, runtime null.
    let v = json(&["apply", "--json", "--no-runtime", "-f", &cfg_s]);
    assert_eq!(keys_of(&v), PLAN, "{v}");
    assert!(v["runtime"].is_null(), "{v}");
    assert_eq!(v["in_sync"], true, "{v}");
    let out = ns.netvrrp(&["stop"]);
    assert!(out.status.success(), "{}", text(&out));
}

/// fish's own `complete -C` on the generated script: the same values as bash. fish comes
/// from Debian's `fish`; skipped without it, except where NETVRRP_REQUIRE_FISH=1 (.ci/run).
#[test]
fn fish_completion_offers_namespaces_links_and_versions() {
    if Command::new("fish").arg("--version").output().is_err() {
        assert!(
            std::env::var_os("NETVRRP_REQUIRE_FISH").is_none(),
            "NETVRRP_REQUIRE_FISH is set but fish is not installed"
        );
        eprintln!("fish not installed: skipping");
        return;
    }
    let ns = Netns::new("nvcli");
    let dir = ns.dir().to_path_buf();
    let script = dir.join("netvrrp.fish");
    let out = Command::new(env!("CARGO_BIN_EXE_netvrrp"))
        .args(["completions", "fish"])
        .output()
        .expect("netvrrp completions fish");
    std::fs::write(&script, &out.stdout).expect("write script");
    let complete = |line: &str| -> Vec<String> {
        let out = Command::new("fish")
            .args(["--no-config", "-c"])
            .arg(format!("source {}; complete -C '{line}'", script.display()))
            .output()
            .expect("run fish");
        assert!(out.status.success(), "{}", text(&out));
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| l.split('\t').next().unwrap_or("").to_string())
            .collect()
    };
    let got = complete("netvrrp show --netns ");
    assert!(got.iter().any(|n| n == ns.name()), "{got:?}");
    assert!(!got.iter().any(|n| n == "Cargo.toml"), "{got:?}");
    let got = complete("netvrrp show vrrp --interface l");
    assert!(got.iter().any(|n| n == "lo"), "{got:?}");
    assert_eq!(
        complete("netvrrp autoconfigure --vrrp-version "),
        ["2", "3"]
    );
}
