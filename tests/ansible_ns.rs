//! contrib/ansible: the `netvrrp_apply` module run by ansible-core's `ansible-playbook`
//! against a network namespace: check mode reports changed and changes nothing, a real run
//! converges, a second run is ok, a priority edit is changed in check mode (the runtime runs
//! the old priority) and applied by a real run; and the role's template, validated by
//! `netvrrp validate -f %s` as the role does.
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

#[test]
fn role_template_renders_a_valid_config() {
    if !have_ansible() {
        return;
    }
    let ns = Netns::new("nvans");
    let template = collections()
        .join("ansible_collections/netvrrp/netvrrp/roles/netvrrp/templates/vrrp.toml.j2");
    let dest = ns.dir().join("rendered.toml");
    let task = format!(
        "      ansible.builtin.template:\n        src: {}\n        dest: {}\n        mode: \"0600\"\n        \
         validate: {} validate -f %s\n      vars:\n        netvrrp_metrics_listen: \"127.0.0.1:10112\"\n        \
         netvrrp_routers:\n          - {{ name: web, interface: eth0, vrid: 7, priority: 200, \
         advertisement_interval: 100, preempt: true, ipv4: [192.0.2.7/24], ipv6: [\"2001:db8::7/64\"] }}\n          \
         - {{ interface: eth1, vrid: 8, priority: 100, ipv4: [198.51.100.8/24] }}\n",
        template.display(),
        dest.display(),
        env!("CARGO_BIN_EXE_netvrrp")
    );
    let r = play(ns.dir(), &task, &[]);
    assert_eq!(r["changed"], true, "{r:#}");
    let text = std::fs::read_to_string(&dest).expect("rendered file");
    assert!(
        text.contains("vrid = 7") && text.contains("vrid = 8"),
        "{text}"
    );
    assert!(
        text.contains("metrics-listen = \"127.0.0.1:10112\""),
        "{text}"
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
