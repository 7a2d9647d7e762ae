//! The man pages cannot drift from the command line: every subcommand and every long flag
//! clap knows must appear in man/netvrrp.8, and every config key the examples use must be
//! documented in man/netvrrp.toml.5.

use clap::CommandFactory;
use netvrrp::cli::Cli;

fn man8() -> String {
    // roff escapes hyphens as \-; compare on the unescaped text.
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/man/netvrrp.8"))
        .unwrap()
        .replace("\\-", "-")
}

fn walk(cmd: &clap::Command, path: &str, man: &str, missing: &mut Vec<String>) {
    for arg in cmd.get_arguments() {
        if arg.is_hide_set() {
            continue;
        }
        if let Some(long) = arg.get_long() {
            if long == "help" || long == "version" {
                continue;
            }
            if !man.contains(&format!("--{long}")) {
                missing.push(format!("{path} --{long}"));
            }
        }
    }
    for sub in cmd.get_subcommands() {
        if sub.get_name() == "help" {
            continue;
        }
        let name = sub.get_name();
        if !man.contains(name) {
            missing.push(format!("{path} {name}"));
        }
        walk(sub, &format!("{path} {name}"), man, missing);
    }
}

#[test]
fn every_command_and_flag_is_in_the_man_page() {
    let man = man8();
    let mut missing = Vec::new();
    walk(&Cli::command(), "netvrrp", &man, &mut missing);
    assert!(
        missing.is_empty(),
        "not documented in man/netvrrp.8: {missing:?}"
    );
}

#[test]
fn every_example_key_is_in_the_config_man_page() {
    let man = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/man/netvrrp.toml.5"))
        .unwrap()
        .replace("\\-", "-");
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/examples");
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for line in text.lines() {
            let line = line.trim();
            if line.starts_with('#') || line.starts_with('[') {
                continue;
            }
            if let Some((key, _)) = line.split_once('=') {
                let key = key.trim();
                if !key.is_empty() && !key.contains(' ') && !man.contains(key) {
                    missing.push(format!("{}: {key}", path.display()));
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "not documented in man/netvrrp.toml.5: {missing:?}"
    );
}

/// The RFC ledgers (docs/rfc9568.md, docs/rfc3768.md) cannot drift from the tests: every
/// test a row names exists and carries the row id, and the coverage figures at the top are
/// what the table says.
#[test]
fn ledger_rows_name_real_tests_and_coverage_is_current() {
    let root = env!("CARGO_MANIFEST_DIR");
    for doc in ["docs/rfc9568.md", "docs/rfc3768.md"] {
        let text = std::fs::read_to_string(format!("{root}/{doc}")).unwrap();
        let mut problems = Vec::new();
        // level class -> [rows, applicable, positive, negative]
        let mut counts: std::collections::BTreeMap<&str, [usize; 4]> = Default::default();
        for line in text.lines().filter(|l| l.starts_with("| R")) {
            let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
            assert_eq!(
                cells.len(),
                6,
                "{doc}: row with {} cells: {line}",
                cells.len()
            );
            let id = cells[0];
            let class = if cells[1].contains("MUST") {
                "MUST"
            } else if cells[1].contains("SHOULD") {
                "SHOULD"
            } else {
                "definitions"
            };
            let applies = !cells[3].to_lowercase().starts_with("n/a");
            let c = counts.entry(class).or_default();
            c[0] += 1;
            if applies {
                c[1] += 1;
                c[2] += usize::from(cells[4] != "–");
                c[3] += usize::from(cells[5] != "–");
            }
            for cell in &cells[4..6] {
                for reference in cell.split('`').skip(1).step_by(2) {
                    let Some((path, func)) = reference.split_once("::") else {
                        problems.push(format!("{id}: not a test reference: {reference}"));
                        continue;
                    };
                    let Ok(source) = std::fs::read_to_string(format!("{root}/{path}")) else {
                        problems.push(format!("{id}: no file {path}"));
                        continue;
                    };
                    if !source.contains(&format!("fn {func}(")) {
                        problems.push(format!("{id}: no fn {func} in {path}"));
                    }
                    if !source.contains(id) {
                        problems.push(format!("{id}: {path} never mentions {id}"));
                    }
                }
            }
        }
        for (class, [rows, applies, positive, negative]) in &counts {
            let label = match *class {
                "MUST" => "| MUST / MUST NOT |",
                "SHOULD" => "| SHOULD / SHOULD NOT |",
                _ => "| definitions / defaults |",
            };
            let header = text
                .lines()
                .find(|l| l.starts_with(label))
                .unwrap_or_else(|| panic!("{doc}: no coverage line {label}"));
            let figures: Vec<usize> = header
                .split('|')
                .skip(2)
                .filter_map(|c| c.split_whitespace().next()?.parse().ok())
                .collect();
            if figures != [*rows, *applies, *positive, *negative] {
                problems.push(format!(
                    "{doc}: coverage line {header:?} but the table counts {rows} rows, {applies} applicable, {positive} positive, {negative} negative"
                ));
            }
        }
        assert!(problems.is_empty(), "{doc}:\n{}", problems.join("\n"));
    }
}

/// One row of every `show … --json` listing, built from the contract's structs, so a field
/// added to a struct shows up here without this test changing.
fn sample_rows() -> Vec<(netvrrp::contract::Listing, serde_json::Value)> {
    use netvrrp::config::{ClientKind, TrackConfig, TrackKind, TrackTarget};
    use netvrrp::contract::{Listing, TrackContribution, TrackRow, VrrpRow};
    use netvrrp::types::{Family, MacAddr};
    use netvrrp::vrrp::router::{Counters, State};
    use netvrrp::vrrs::{ClientRow, ClientStats, PathwayRow, ServerRow};
    let ip: std::net::IpAddr = "192.0.2.1".parse().unwrap();
    let vmac = MacAddr::vrrp(Family::Ipv4, 7);
    let vrrp = VrrpRow {
        name: Some("web".into()),
        interface: "eth0".into(),
        vrid: 7,
        family: Family::Ipv4,
        version: 3,
        device: Some("vrrp4-2-7".into()),
        device_index: Some(9),
        vmac,
        state: State::Master,
        priority: 100,
        effective_priority: 100,
        preempt: true,
        preempt_delay_ms: 0,
        accept_mode: false,
        primary_address: Some(ip),
        master_address: Some(ip),
        protodown: Some(false),
        advertisement_interval_ms: 1000,
        master_adver_interval_ms: 1000.0,
        skew_time_ms: 609.0,
        master_down_interval_ms: 3609.0,
        vips: vec![ip],
        vrrs_leader: vec!["web".into()],
        unicast_peers: vec![],
        last_change: 1.0,
        last_reason: Some("master down timer".into()),
        track: TrackContribution::of(
            &[TrackConfig {
                target: TrackTarget::Interface("eth1".into()),
                decrement: 10,
                fault: false,
            }],
            &[true],
        ),
        faulted: false,
        counters: Counters::default(),
        router_advertisements: Some(netvrrp::contract::RaRow {
            state: netvrrp::vrrp::ra::RaState::Advertising,
            source: "fe80::5".parse().unwrap(),
            lifetime_s: 1800,
            min_interval_ms: 200_000,
            max_interval_ms: 600_000,
            prefixes: vec!["2001:db8:5::/64".parse().unwrap()],
            rdnss: vec![],
            mtu: None,
            solicitation_socket: true,
            counters: Default::default(),
        }),
        shutdown: false,
        not_running: Some("parent interface eth0 is down".into()),
        drift: Some("macvlan mode private, want bridge".into()),
    };
    let server = ServerRow {
        name: "web".into(),
        protocol: "vrrp".into(),
        interface: "eth0".into(),
        vrid: 7,
        family: Family::Ipv4,
        connected: true,
        state: State::Master,
        previous_state: Some(State::Backup),
        reason: Some("master down timer".into()),
        vmac,
        vips: vec![ip],
        last_change: Some(1.0),
        owner: false,
        accept_mode: false,
        pathways: 1,
        pathways_active: 1,
        clients: 1,
        pushes: 1,
    };
    let pathway = PathwayRow {
        name: "web".into(),
        interface: "eth1".into(),
        device: Some("vrrs-3-1".into()),
        state: netvrrp::vrrs::PathwayState::Active,
        leader_state: Some(State::Master),
        family: Some(Family::Ipv4),
        vmac: Some(vmac),
        mac_in_use: Some(vmac),
        addresses: vec!["192.0.2.9/24".parse().unwrap()],
        options: Default::default(),
        evaluation: Default::default(),
        device_group: Some(7),
        transitions: 1,
    };
    let client = ClientRow {
        client: 1,
        name: "web".into(),
        connected: true,
        notices: 1,
        last: None,
        kind: ClientKind::InterfaceState {
            interface: "eth2".into(),
        },
        runner: Some(ClientStats::default()),
    };
    let track = TrackRow {
        name: "web".into(),
        kind: "route".into(),
        state: netvrrp::contract::TrackState::Up,
        since: 1.0,
        last_result: "route present".into(),
        last_checked: 1.0,
        exit_status: None,
        output: Default::default(),
        changes: 0,
        config: TrackKind::Route {
            prefix: "0.0.0.0/0".parse().unwrap(),
            table: 254,
        },
    };
    let v = |r: serde_json::Result<serde_json::Value>| r.unwrap();
    vec![
        (Listing::Routers, v(serde_json::to_value(&vrrp))),
        (Listing::Servers, v(serde_json::to_value(&server))),
        (Listing::Pathways, v(serde_json::to_value(&pathway))),
        (Listing::Clients, v(serde_json::to_value(&client))),
        (Listing::Tracks, v(serde_json::to_value(&track))),
    ]
}

/// The paragraph of netvrrp(8), JSON FIELDS, that starts with `.B START`.
fn json_fields_paragraph(man: &str, start: &str) -> Option<String> {
    let section = man
        .split(".SH JSON FIELDS")
        .nth(1)?
        .split("\n.SH ")
        .next()?;
    section
        .split(".PP")
        .find(|p| p.trim_start().starts_with(&format!(".B {start}")))
        .map(str::to_string)
}

/// The words of a man page paragraph (a key is one).
fn words_of(paragraph: &str) -> std::collections::HashSet<&str> {
    paragraph
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .collect()
}

/// The keys of a row and of the objects in it (`config`, a track object's settings, is
/// documented in netvrrp.toml(5) and left out).
fn keys(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, inner) in map {
                out.push(k.clone());
                if k != "config" {
                    keys(inner, out);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|i| keys(i, out)),
        _ => {}
    }
}

/// JSON FIELDS documents every key of every `show … --json` row, in the paragraph of its
/// command, and the envelope (`schema` and the list's key) of each.
#[test]
fn json_fields_document_every_key_of_the_show_structs() {
    use netvrrp::contract::Listing;
    let man = man8();
    let mut missing = Vec::new();
    for (listing, row) in sample_rows() {
        let command = match listing {
            Listing::Routers => "show vrrp --json",
            Listing::Servers => "show vrrs server --json",
            Listing::Pathways => "show vrrs pathway --json",
            Listing::Clients => "show vrrs client --json",
            Listing::Tracks => "show track --json",
        };
        let paragraph = json_fields_paragraph(&man, command)
            .unwrap_or_else(|| panic!("no JSON FIELDS paragraph for {command}"));
        let envelope = format!("{{\"schema\": 1, \"{}\": [...]}}", listing.key());
        if !paragraph.contains(&envelope) {
            missing.push(format!("{command}: {envelope}"));
        }
        let words = words_of(&paragraph);
        let mut found = Vec::new();
        keys(&row, &mut found);
        for k in found {
            if !words.contains(k.as_str()) {
                missing.push(format!("{command}: {k}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "keys missing from JSON FIELDS in man/netvrrp.8: {missing:?}"
    );
    assert_eq!(
        Listing::ALL.len(),
        sample_rows().len(),
        "a listing without a sample row"
    );
}

/// JSON FIELDS documents every key of `diff`/`apply`/`check --json` and of their runtime
/// section, as the structs write them (the real apply's section included).
#[test]
fn json_fields_document_every_key_of_the_runtime_section() {
    use netvrrp::reconcile::{self, RuntimeApplied, routers::ReloadReport};
    use std::path::Path;
    let paragraph = json_fields_paragraph(&man8(), "diff --json")
        .expect("a JSON FIELDS paragraph for diff --json");
    let words = words_of(&paragraph);
    let config = netvrrp::config::parse_str(
        "[[vrrp]]\ninterface = \"eth0\"\nvrid = 1\nipv4 = [\"192.0.2.1/24\"]\n",
        "t.toml",
    )
    .unwrap();
    let before = reconcile::compare(None, &config, Path::new("/x.toml"));
    let applied = RuntimeApplied::new(before.clone(), ReloadReport::started(&config.routers), None);
    let mut found = vec![
        "schema".to_string(),
        "changes".into(),
        "in_sync".into(),
        "kernel_in_sync".into(),
        "runtime".into(),
        "checks".into(),
        "pass".into(),
    ];
    keys(&serde_json::to_value(&before).unwrap(), &mut found);
    keys(&serde_json::to_value(&applied).unwrap(), &mut found);
    let missing: Vec<String> = found
        .into_iter()
        .filter(|k| !words.contains(k.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "runtime section keys missing from JSON FIELDS in man/netvrrp.8: {missing:?}"
    );
}

/// CONTROL SOCKET names every key of every `subscribe` line.
#[test]
fn control_socket_documents_every_subscribe_line() {
    use netvrrp::contract::{StateEvent, StreamEvent, StreamLine};
    use netvrrp::types::{Family, MacAddr};
    use netvrrp::vrrp::router::State;
    let event = StateEvent {
        interface: "eth0".into(),
        vrid: 7,
        family: Family::Ipv4,
        router: None,
        previous: State::Backup,
        state: State::Master,
        reason: "master down timer".into(),
        vmac: MacAddr::vrrp(Family::Ipv4, 7),
        vips: vec![],
        time: 1.0,
    };
    let lines = [
        StreamEvent::Current {
            name: "web".into(),
            state: State::Master,
            previous: None,
            vmac: event.vmac,
            vips: vec![],
            instance: Some(netvrrp::contract::InstanceRef {
                interface: "eth0".into(),
                vrid: 7,
                family: Family::Ipv4,
            }),
        },
        StreamEvent::Change {
            name: Some("web".into()),
            change: event,
        },
        StreamEvent::Track {
            name: "t".into(),
            kind: "exec",
            state: "up",
            result: "exit status 0".into(),
            time: 1.0,
        },
        StreamEvent::Lagged { missed: 1 },
    ];
    let man = man8();
    let section = man
        .split(".SH CONTROL SOCKET\n")
        .nth(1)
        .and_then(|s| s.split("\n.SH ").next())
        .expect("a CONTROL SOCKET section");
    let words: std::collections::HashSet<&str> = section
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .collect();
    let mut missing = Vec::new();
    for line in lines {
        let v = serde_json::to_value(StreamLine::from(line)).unwrap();
        let mut found = Vec::new();
        keys(&v, &mut found);
        let tag = v["event"].as_str().unwrap().to_string();
        for k in found.into_iter().chain([tag]) {
            if !words.contains(k.as_str()) {
                missing.push(k);
            }
        }
    }
    assert!(
        missing.is_empty(),
        "subscribe keys missing from CONTROL SOCKET: {missing:?}"
    );
}
