//! contrib/ansible: the `netvrrp_apply` module run by ansible-core's `ansible-playbook`
//! against a network namespace: check mode reports changed and changes nothing, a real run
//! converges, a second run is ok, a priority edit is changed in check mode (the runtime runs
//! the old priority) and applied by a real run; and the role's template, validated by
//! `netvrrp validate -f %s` as the role does and read back by netvrrp's parser (names, track,
//! IPv6, peers, intervals; escaping; a misspelt key refused, not dropped).
//!
//! ansible-playbook comes with Debian's `ansible-core`. Without it the test is skipped on a
//! developer machine but fails where NETVRRP_REQUIRE_ANSIBLE=1 (set by .ci/run, which
//! installs it).

mod common;

use common::{Netns, text};
use std::path::{Path, PathBuf};
use std::process::Command;

fn collections() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("contrib/ansible")
}

fn have_ansible() -> bool {
    let found = Command::new("ansible-playbook")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var_os("NETVRRP_REQUIRE_ANSIBLE").is_none(),
            "NETVRRP_REQUIRE_ANSIBLE is set but ansible-playbook is not installed"
        );
        eprintln!("ansible-playbook not installed: skipping (apt-get install ansible-core)");
    }
    found
}

/// Run a one-task playbook on localhost; the task's registered result. ansible-core has no
/// JSON stdout callback (that is in community.general), so a second task writes it out
/// (also in check mode).
fn play(dir: &Path, task: &str, extra: &[&str]) -> serde_json::Value {
    let playbook = dir.join("play.yml");
    let result_path = dir.join("result.json");
    let _ = std::fs::remove_file(&result_path);
    std::fs::write(
        &playbook,
        format!(
            "- hosts: localhost\n  gather_facts: false\n  tasks:\n    - name: the task\n      \
             register: r\n{task}    - name: save the result\n      check_mode: false\n      \
             ansible.builtin.copy:\n        content: \"{{{{ r | to_json }}}}\"\n        \
             dest: {}\n",
            result_path.display()
        ),
    )
    .expect("write playbook");
    let out = Command::new("ansible-playbook")
        .args(["-i", "localhost,", "-c", "local"])
        .args(extra)
        .arg(&playbook)
        .env("ANSIBLE_COLLECTIONS_PATH", collections())
        .env("ANSIBLE_PYTHON_INTERPRETER", "auto_silent")
        .env("ANSIBLE_LOCAL_TEMP", dir.join("ansible-tmp"))
        .env("ANSIBLE_NOCOLOR", "1")
        .output()
        .expect("run ansible-playbook");
    assert!(out.status.success(), "{}", text(&out));
    let saved = std::fs::read_to_string(&result_path).unwrap_or_default();
    serde_json::from_str(&saved)
        .unwrap_or_else(|e| panic!("result is not JSON ({e}): {saved}\n{}", text(&out)))
}

fn config(priority: u8) -> String {
    format!(
        "[defaults]\nadvertisement-interval = 100\n\n[[vrrp]]\ninterface = \"veth0\"\nvrid = 7\n\
         priority = {priority}\nipv4 = [\"192.0.2.7/24\"]\n"
    )
}

fn running_priority(ns: &Netns) -> Option<u64> {
    let out = ns.netvrrp(&["show", "vrrp", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    v["routers"][0]["priority"].as_u64()
}

#[test]
fn module_check_mode_diff_and_convergence() {
    if !have_ansible() {
        return;
    }
    let ns = Netns::new("nvans");
    ns.veth("veth0", "veth1");
    ns.ip_ok(&["addr", "add", "192.0.2.2/24", "dev", "veth0"]);
    let cfg = ns.dir().join("vrrp.toml");
    std::fs::write(&cfg, config(200)).expect("write config");
    let task = format!(
        "      netvrrp.netvrrp.netvrrp_apply:\n        path: {}\n        netns: {}\n        \
         run_dir: {}\n        binary: {}\n",
        cfg.display(),
        ns.name(),
        ns.run_dir().display(),
        env!("CARGO_BIN_EXE_netvrrp")
    );
    let devices = || ns.ip_ok(&["-br", "link", "show"]);

    // Check mode on a bare namespace: changed, with a diff, and nothing done.
    let r = play(ns.dir(), &task, &["--check", "--diff"]);
    assert_eq!(r["changed"], true, "{r:#}");
    assert!(
        r["diff"]["prepared"]
            .as_str()
            .is_some_and(|d| d.contains("vrrp4-")),
        "{r:#}"
    );
    assert!(!devices().contains("vrrp4-"), "{}", devices());
    assert_eq!(running_priority(&ns), None);

    // A real run converges: the device exists, the runtime runs.
    let r = play(ns.dir(), &task, &[]);
    assert_eq!(r["changed"], true, "{r:#}");
    assert!(devices().contains("vrrp4-"), "{}", devices());
    assert_eq!(running_priority(&ns), Some(200));

    // In sync: ok, in check mode and for real.
    for extra in [&["--check"][..], &[]] {
        let r = play(ns.dir(), &task, extra);
        assert_eq!(r["changed"], false, "{extra:?}: {r:#}");
    }

    // A priority edit touches no device: check mode sees it through the runtime section.
    std::fs::write(&cfg, config(150)).expect("write config");
    let r = play(ns.dir(), &task, &["--check", "--diff"]);
    assert_eq!(r["changed"], true, "{r:#}");
    assert_eq!(r["runtime"]["in_sync"], false, "{r:#}");
    assert_eq!(running_priority(&ns), Some(200));
    let r = play(ns.dir(), &task, &[]);
    assert_eq!(r["changed"], true, "{r:#}");
    assert_eq!(running_priority(&ns), Some(150));
    let r = play(ns.dir(), &task, &[]);
    assert_eq!(r["changed"], false, "{r:#}");
}

/// Render the role's template into `rendered.toml` of `dir` (over `old`, if any) as the role
/// does, validated by `netvrrp validate -f %s`, with `vars` over the role's empty defaults;
/// the task's result (failed, not stopping the play, when validation fails) and the file.
fn render_role_template(
    dir: &Path,
    vars: serde_json::Value,
    old: Option<&str>,
) -> (serde_json::Value, PathBuf) {
    let template = collections()
        .join("ansible_collections/netvrrp/netvrrp/roles/netvrrp/templates/vrrp.toml.j2");
    let dest = dir.join("rendered.toml");
    if let Some(old) = old {
        std::fs::write(&dest, old).expect("write old file");
    }
    let mut all = serde_json::json!({
        "netvrrp_metrics_listen": "", "netvrrp_runtime": {}, "netvrrp_defaults": {},
        "netvrrp_routers": [], "netvrrp_track_objects": [],
        "netvrrp_vrrs_pathways": [], "netvrrp_vrrs_clients": [],
    });
    for (key, value) in vars.as_object().into_iter().flatten() {
        all[key] = value.clone();
    }
    // JSON is YAML, but YAML takes DEL only escaped.
    let all = all.to_string().replace('\u{7f}', "\\u007f");
    let task = format!(
        "      ignore_errors: true\n      ansible.builtin.template:\n        src: {}\n        \
         dest: {}\n        mode: \"0600\"\n        validate: {} validate -f %s\n      \
         vars: {all}\n",
        template.display(),
        dest.display(),
        env!("CARGO_BIN_EXE_netvrrp")
    );
    (play(dir, &task, &[]), dest)
}

/// A check command that needs TOML's escapes: quotes, a backslash, non-ASCII (one character
/// outside the BMP, which JSON would write as a surrogate pair TOML refuses) and DEL.
const ESCAPED_COMMAND: [&str; 3] = [
    "/bin/sh",
    "-c",
    "test \"$(cat /run/fa)\" = 'a\\b' # é 😀 \u{7f}",
];

/// The role's template with every kind of variable defaults/main.yml documents: written by
/// ansible-core, validated by `netvrrp validate -f %s` as the role does, and read back by
/// netvrrp's own parser: each router's name, track entries, IPv6 addresses, unicast peers,
/// preempt and intervals, and the other sections, are the ones given, not comments or
/// nothing. The priority is an
/// Ansible expression (a string once templated), as per-host priorities are written.
#[test]
fn role_template_renders_a_valid_config() {
    use netvrrp::config::{TrackKind, TrackTarget};
    if !have_ansible() {
        return;
    }
    let ns = Netns::new("nvans");
    let vars = serde_json::json!({
        "netvrrp_metrics_listen": "127.0.0.1:10112",
        "netvrrp_defaults": {"version": 3, "garp_bursts": 3},
        "netvrrp_track_objects": [{"name": "web", "kind": "exec", "command": ESCAPED_COMMAND}],
        "netvrrp_routers": [
            {"name": "web", "interface": "eth0", "vrid": 7, "priority": "{{ 100 + 100 }}",
             "advertisement_interval": 100, "preempt": false, "preempt_delay": 5000,
             "ipv4": ["192.0.2.7/24"], "ipv6": ["fe80::7/64", "2001:db8::7/64"],
             "unicast_peers": ["192.0.2.2", "fe80::2"],
             "track": [{"interface": "eth1", "decrement": 20},
                       {"interface": "eth2", "fault": true},
                       {"object": "web", "decrement": 50}],
             "router_advertisements": {"max_interval_ms": 30000}, "vrrs_leader": ["gw"]},
            {"name": "db", "interface": "eth1", "vrid": 7, "ipv4": ["198.51.100.8/24"],
             "peers": ["198.51.100.2"], "accept_mode": null},
        ],
        "netvrrp_vrrs_pathways": [{"leader": "gw", "interface": "eth3",
                                   "address": ["203.0.113.1/24"]}],
        "netvrrp_vrrs_clients": [{"leader": "gw", "kind": "accounting",
                                  "path": "/var/log/netvrrp/gw.jsonl"}],
    });
    let (r, dest) = render_role_template(ns.dir(), vars, None);
    assert_ne!(r["failed"], true, "{r:#}");
    assert_eq!(r["changed"], true, "{r:#}");
    let text = std::fs::read_to_string(&dest).expect("rendered file");
    let config = netvrrp::config::load(&dest).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(
        config.runtime.metrics_listen.as_deref(),
        Some("127.0.0.1:10112"),
        "{text}"
    );
    let [web, db] = &config.routers[..] else {
        panic!("two routers: {text}")
    };
    assert_eq!(web.name.as_deref(), Some("web"), "{text}");
    assert_eq!(db.name.as_deref(), Some("db"), "{text}");
    assert_eq!(
        (web.vrid, web.priority, db.priority),
        (7, 200, 100),
        "{text}"
    );
    assert_eq!(
        (
            web.advertisement_interval_ms,
            web.preempt,
            web.preempt_delay_ms
        ),
        (100, false, 5000),
        "{text}"
    );
    assert_eq!((web.garp_bursts, db.garp_bursts), (3, 3), "{text}");
    let ipv6: Vec<String> = web.ipv6.iter().map(|a| a.to_string()).collect();
    assert_eq!(ipv6, ["fe80::7/64", "2001:db8::7/64"], "{text}");
    let unicast: Vec<String> = web.unicast_peers.iter().map(|a| a.to_string()).collect();
    assert_eq!(unicast, ["192.0.2.2", "fe80::2"], "{text}");
    assert!(web.router_advertisements.is_some(), "{text}");
    assert_eq!(db.peers.len(), 1, "{text}");
    let track: Vec<(TrackTarget, u8, bool)> = web
        .track
        .iter()
        .map(|t| (t.target.clone(), t.decrement, t.fault))
        .collect();
    assert_eq!(
        track,
        [
            (TrackTarget::Interface("eth1".into()), 20, false),
            (TrackTarget::Interface("eth2".into()), 0, true),
            (TrackTarget::Object("web".into()), 50, false),
        ],
        "{text}"
    );
    let [object] = &config.tracks[..] else {
        panic!("one [[track]]: {text}")
    };
    let TrackKind::Exec { command, .. } = &object.kind else {
        panic!("an exec object: {text}")
    };
    assert_eq!(command, &ESCAPED_COMMAND, "{text}");
    assert_eq!(web.vrrs_leader, ["gw"], "{text}");
    let leaders: Vec<&str> = (config.pathways.iter().map(|p| p.leader.as_str()))
        .chain(config.clients.iter().map(|c| c.leader.as_str()))
        .collect();
    assert_eq!(leaders, ["gw", "gw"], "{text}");
}

/// A misspelt key is not dropped by the template: `netvrrp validate` refuses the file (at
/// the key) and the old file stays.
#[test]
fn role_template_keeps_unknown_keys_for_validate() {
    if !have_ansible() {
        return;
    }
    let ns = Netns::new("nvans");
    let router = serde_json::json!({"name": "web", "interface": "eth0", "vrid": 7,
        "ipv4": ["192.0.2.7/24"], "preemt": false});
    let vars = serde_json::json!({ "netvrrp_routers": [router] });
    let (r, dest) = render_role_template(ns.dir(), vars, Some("# the old file\n"));
    assert_eq!(r["failed"], true, "{r:#}");
    assert!(
        r["stderr"]
            .as_str()
            .is_some_and(|e| e.contains("unknown key `preemt`")),
        "{r:#}"
    );
    assert_eq!(
        std::fs::read_to_string(&dest).expect("old file"),
        "# the old file\n"
    );
}

/// The module's documentation parses (ansible-doc) and the rolling playbook, with the role,
/// passes ansible-playbook's syntax check.
#[test]
fn module_docs_and_playbook_syntax() {
    if !have_ansible() {
        return;
    }
    let out = Command::new("ansible-doc")
        .args(["-t", "module", "netvrrp.netvrrp.netvrrp_apply"])
        .env("ANSIBLE_COLLECTIONS_PATH", collections())
        .output()
        .expect("run ansible-doc");
    let doc = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", text(&out));
    for option in ["path", "netns", "run_dir", "runtime", "binary"] {
        assert!(doc.contains(&format!("- {option}")), "{option}: {doc}");
    }
    let playbook = collections().join("ansible_collections/netvrrp/netvrrp/playbooks/rolling.yml");
    let out = Command::new("ansible-playbook")
        .args(["--syntax-check", "-i", "localhost,"])
        .arg(&playbook)
        .env("ANSIBLE_COLLECTIONS_PATH", collections())
        .output()
        .expect("run ansible-playbook");
    assert!(out.status.success(), "{}", text(&out));
    let yaml = std::fs::read_to_string(&playbook).expect("playbook");
    assert!(yaml.contains("serial: 1"), "{yaml}");
}
