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
