//! contrib/: the Prometheus alert rules (promtool check rules / test rules), the Grafana
//! dashboard (structure, and its queries parsed by promtool), and every metric they name
//! checked against what the runtime exports.
//!
//! promtool comes with Debian's `prometheus` package. Without it the promtool parts are
//! skipped on a developer machine, but fail where NETVRRP_REQUIRE_PROMTOOL=1 (set by .ci/run,
//! which installs the package), so CI can never pass them without running them.

use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

const RULES: &str = "contrib/prometheus/netvrrp.rules.yml";
const RULE_TESTS: &str = "contrib/prometheus/netvrrp.rules.test.yml";
const DASHBOARD: &str = "contrib/grafana/netvrrp-dashboard.json";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// The promtool command, or None (after saying so) when it is not installed and not required.
fn promtool() -> Option<Command> {
    let found = Command::new("promtool").arg("--version").output().is_ok();
    if found {
        return Some(Command::new("promtool"));
    }
    assert!(
        std::env::var_os("NETVRRP_REQUIRE_PROMTOOL").is_none(),
        "NETVRRP_REQUIRE_PROMTOOL is set but promtool is not installed (apt-get install prometheus)"
    );
    eprintln!("promtool not installed: skipping its checks (apt-get install prometheus)");
    None
}

fn run(mut cmd: Command, dir: &Path) -> String {
    let out = cmd.current_dir(dir).output().expect("run promtool");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{cmd:?}:\n{text}");
    text
}

/// The family names of a real exposition (a router row with every counter), with the
/// `_total` of counters, as a query names them.
fn exported_names() -> BTreeSet<String> {
    use netvrrp::daemon::metrics::{RuntimeInfo, RuntimeStats, render};
    let counters: serde_json::Map<String, Value> =
        serde_json::to_value(netvrrp::vrrp::router::Counters::default())
            .expect("counters serialise")
            .as_object()
            .cloned()
            .unwrap_or_default();
    // The fields a row needs (the rest read as empty, as from an older runtime).
    let row = serde_json::json!({
        "interface": "eth0", "vrid": 1, "family": "ipv4", "state": "master",
        "vmac": "00:00:5e:00:01:01", "counters": counters,
        "track": [{"interface": "eth1", "state": "up", "decrement": 10}],
    });
    let row: netvrrp::contract::VrrpRow = serde_json::from_value(row).expect("a show vrrp row");
    let track = serde_json::json!({"name": "web", "kind": "route", "state": "up", "changes": 0,
        "config": {"kind": "route", "prefix": "0.0.0.0/0", "table": 254}});
    let track: [netvrrp::contract::TrackRow; 1] =
        [serde_json::from_value(track).expect("a show track row")];
    let stats = RuntimeStats::default();
    let text = render(
        &[row],
        &[],
        &[],
        &track,
        &RuntimeInfo {
            version: "0",
            stats: &stats,
            process: None,
        },
    );
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(str::to_string)
        .collect()
}

/// Every `netvrrp_…` name a PromQL text uses.
fn netvrrp_names(expr: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = expr;
    while let Some(i) = rest.find("netvrrp_") {
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        out.insert(tail[..end].to_string());
        rest = &tail[end..];
    }
    out
}

fn dashboard() -> Value {
    serde_json::from_str(&read(DASHBOARD)).expect("dashboard is JSON")
}

/// Every query of the dashboard's panels.
fn dashboard_exprs(d: &Value) -> Vec<String> {
    d["panels"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|p| p["targets"].as_array().cloned().unwrap_or_default())
        .map(|t| t["expr"].as_str().unwrap_or("").to_string())
        .collect()
}

#[test]
fn alert_rules_check_and_unit_tests() {
    let Some(mut check) = promtool() else { return };
    let dir = root();
    check.args(["check", "rules", RULES]);
    let text = run(check, &dir);
    assert!(text.contains("SUCCESS: 6 rules found"), "{text}");
    let Some(mut test) = promtool() else { return };
    // Relative to the test file, as its rule_files entry is.
    test.args(["test", "rules", "netvrrp.rules.test.yml"]);
    let text = run(test, &dir.join("contrib/prometheus"));
    assert!(text.contains("SUCCESS"), "{text}");
}

#[test]
fn every_alert_is_unit_tested_and_names_exported_metrics() {
    let rules = read(RULES);
    let tests = read(RULE_TESTS);
    let alerts: Vec<&str> = rules
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- alert: "))
        .collect();
    for want in [
        "NetvrrpNoMaster",
        "NetvrrpTwoMasters",
        "NetvrrpFlapping",
        "NetvrrpAdvertDrops",
        "NetvrrpIntervalMismatch",
        "NetvrrpRuntimeDown",
    ] {
        assert!(alerts.contains(&want), "no alert {want}");
    }
    for a in &alerts {
        // A firing case: an exp_alerts list that is not empty after this alert's name.
        let firing = tests
            .split("alertname: ")
            .skip(1)
            .any(|case| case.starts_with(&format!("{a}\n")) && !case.contains("exp_alerts: []"));
        assert!(firing, "{a} has no firing case in {RULE_TESTS}");
    }
    let exported = exported_names();
    for name in netvrrp_names(&rules)
        .into_iter()
        .chain(netvrrp_names(&tests))
    {
        assert!(
            exported.contains(&name),
            "{name} is not exported: {exported:?}"
        );
    }
}

#[test]
fn dashboard_structure() {
    let d = dashboard();
    assert_eq!(d["uid"], "netvrrp-vrrp");
    assert!(d["title"].as_str().is_some_and(|t| !t.is_empty()));
    assert!(d["schemaVersion"].as_u64().is_some_and(|v| v >= 36));
    let vars: Vec<&str> = d["templating"]["list"]
        .as_array()
        .expect("templating.list")
        .iter()
        .filter_map(|v| v["name"].as_str())
        .collect();
    let panels = d["panels"].as_array().expect("panels");
    let mut ids = BTreeSet::new();
    let mut cells = BTreeSet::new();
    for p in panels {
        let title = p["title"].as_str().expect("panel title");
        assert!(
            ids.insert(p["id"].as_u64().expect("panel id")),
            "{title}: id twice"
        );
        assert!(
            ["state-timeline", "timeseries"].contains(&p["type"].as_str().unwrap_or("")),
            "{title}: unexpected type"
        );
        let g = &p["gridPos"];
        let n = |k: &str| {
            g[k].as_u64()
                .unwrap_or_else(|| panic!("{title}: gridPos.{k}"))
        };
        assert!(
            n("w") >= 1 && n("h") >= 1 && n("x") + n("w") <= 24,
            "{title}: {g}"
        );
        // No two panels cover the same grid cell.
        for x in n("x")..n("x") + n("w") {
            for y in n("y")..n("y") + n("h") {
                assert!(
                    cells.insert((x, y)),
                    "{title} overlaps another panel at {x},{y}"
                );
            }
        }
        assert_eq!(p["datasource"]["uid"], "${datasource}", "{title}");
        let targets = p["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "{title}: no query");
        let refs: BTreeSet<&str> = targets.iter().filter_map(|t| t["refId"].as_str()).collect();
        assert_eq!(refs.len(), targets.len(), "{title}: refIds");
        for t in targets {
            let expr = t["expr"].as_str().unwrap_or("");
            // Every dashboard variable a query uses is defined.
            for part in expr.split('$').skip(1) {
                let var: String = part
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                assert!(
                    var.starts_with("__") || vars.contains(&var.as_str()),
                    "{title}: ${var} undefined"
                );
            }
        }
    }
    // What the dashboard is for: state timeline, transitions, drops by reason, adverts/s.
    let has = |typ: &str, metric: &str, extra: &str| {
        panels.iter().any(|p| {
            p["type"] == typ
                && dashboard_exprs(&serde_json::json!({ "panels": [p] }))
                    .iter()
                    .any(|e| e.contains(metric) && e.contains(extra))
        })
    };
    assert!(has("state-timeline", "netvrrp_vrrp_state", "master"));
    assert!(has("timeseries", "netvrrp_vrrp_transitions_total", "to"));
    assert!(has(
        "timeseries",
        "netvrrp_vrrp_adverts_dropped_total",
        "reason"
    ));
    assert!(has(
        "timeseries",
        "netvrrp_vrrp_adverts_sent_total",
        "rate("
    ));
    assert!(has(
        "timeseries",
        "netvrrp_vrrp_adverts_received_total",
        "rate("
    ));
    let exported = exported_names();
    for e in dashboard_exprs(&d) {
        for name in netvrrp_names(&e) {
            assert!(exported.contains(&name), "{name} is not exported");
        }
    }
}

/// The dashboard's queries, with Grafana's variables replaced, parse as PromQL: promtool
/// checks them as recording rules.
#[test]
fn dashboard_queries_parse() {
    let Some(mut check) = promtool() else { return };
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    for (i, e) in dashboard_exprs(&dashboard()).iter().enumerate() {
        let e = e
            .replace("$__rate_interval", "5m")
            .replace("$instance", ".*")
            .replace("$name", ".*");
        let quoted = serde_json::to_string(&e).expect("quote");
        rules.push_str(&format!(
            "      - record: dashboard:query{i}\n        expr: {quoted}\n"
        ));
    }
    let dir = std::env::temp_dir().join(format!("netvrrp-contrib-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("dashboard.rules.yml");
    std::fs::write(&path, &rules).expect("write rules");
    check.arg("check").arg("rules").arg(&path);
    let out = check.output().expect("run promtool");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.status.success(),
        "{rules}\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The role installs the same hardened unit the .deb ships (examples/netvrrp.service): a copy
/// that drifts would give Ansible-managed hosts another reload path and no sandbox.
#[test]
fn ansible_role_installs_the_packaged_unit() {
    assert_eq!(
        read(
            "contrib/ansible/ansible_collections/netvrrp/netvrrp/roles/netvrrp/files/netvrrp.service"
        ),
        read("examples/netvrrp.service"),
        "copy examples/netvrrp.service into the Ansible role"
    );
}

/// The names of a Jinja list `{%- set NAME = ['a', 'b', ...] -%}` of the role's template.
fn template_list(template: &str, name: &str) -> BTreeSet<String> {
    let start = format!("set {name} = [");
    let from = template
        .find(&start)
        .unwrap_or_else(|| panic!("no {name} in the role's template"))
        + start.len();
    let to = from + template[from..].find(']').expect("the list ends");
    template[from..to]
        .split(',')
        .map(|k| k.trim().trim_matches('\'').to_string())
        .filter(|k| !k.is_empty())
        .collect()
}

/// The keys netvrrp.toml(5) types as `kind` (integer, boolean): `.BR key " (integer ...`,
/// `.BR a ", " b " (boolean ...` and `.B key` followed by a line `(integer ...`.
fn man_keys_of_type(man: &str, kind: &str) -> BTreeSet<String> {
    let lines: Vec<&str> = man.lines().collect();
    let mut keys = BTreeSet::new();
    for (i, line) in lines.iter().enumerate() {
        let typed_here = line.starts_with(".BR ") && line.contains(&format!("\" ({kind}"));
        let typed_next = line.starts_with(".B ")
            && lines
                .get(i + 1)
                .is_some_and(|n| n.starts_with(&format!("({kind}")));
        if !(typed_here || typed_next) {
            continue;
        }
        let names = line[3..].split(" (").next().unwrap_or("");
        // Unquoted words are key names; quoted ones (", ") are punctuation.
        for (j, word) in names.split('"').enumerate() {
            if j % 2 == 0 {
                keys.extend(word.split_whitespace().map(|w| w.replace("\\-", "-")));
            }
        }
    }
    keys
}

/// The role's template writes a templated (string) value as an integer or a boolean only
/// under the keys it lists as such: every integer and boolean key of netvrrp.toml(5) must be
/// there, or a per-host `priority: "{{ ... }}"`-style value of a new key would be written as
/// a string and refused.
#[test]
fn ansible_template_knows_every_integer_and_boolean_key() {
    let template = read(
        "contrib/ansible/ansible_collections/netvrrp/netvrrp/roles/netvrrp/templates/vrrp.toml.j2",
    );
    let man = read("man/netvrrp.toml.5");
    for (list, kind, at_least) in [
        ("integer_keys", "integer", ["vrid", "decrement", "table"]),
        (
            "boolean_keys",
            "boolean",
            ["preempt", "managed", "other-config"],
        ),
    ] {
        let documented = man_keys_of_type(&man, kind);
        for key in at_least {
            assert!(documented.contains(key), "{key} not read from the man page");
        }
        let listed = template_list(&template, list);
        let missing: Vec<&String> = documented.difference(&listed).collect();
        assert!(
            missing.is_empty(),
            "add {missing:?} to {list} of the template"
        );
    }
}
