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
