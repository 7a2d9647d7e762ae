//! Which runtime `apply` hands off to: the systemd unit's, or its own supervised one
//! ([`super::supervisor`]).
//!
//! When systemd is the init system (`sd_booted()`: /run/systemd/system exists) and
//! `netvrrp.service` is installed (`systemctl show` says LoadState=loaded), the runtime of
//! the unit's run-dir and network namespace is the unit's: `apply` starts the unit (`systemctl
//! start`, which waits for the runtime's READY=1) instead of spawning a runtime of its own,
//! so systemd supervises it, starts it at boot (once enabled) and never finds "a runtime
//! already answers". A unit that runs already is reloaded over the control socket, as any
//! runtime is: the reload's per-router report and failure come back to `apply` and its exit
//! code, and the runtime tells systemd (RELOADING=1, READY=1). (`systemctl reload` would
//! send SIGHUP, whose result only reaches the journal; and the reload must come between the
//! kernel changes and the deletion of devices that left the file, which `apply` orders.)
//!
//! The unit's file, run-dir and namespace are read from its ExecStart (`netvrrp [--netns
//! NAME] [--run-dir DIR] run [-f FILE]`, drop-ins included). `apply -f OTHER` for the unit's
//! run-dir is refused before anything changes: the unit would run (after a reboot or a
//! `systemctl reload`) another file than the one applied. Other run-dirs and namespaces
//! (`--netns`, `--run-dir`) are not the unit's: they get a supervised runtime.

use crate::cli::Cli;
use anyhow::Context;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

pub const UNIT: &str = "netvrrp.service";

/// `sd_booted()`: systemd is the init system.
pub fn systemd_booted() -> bool {
    Path::new("/run/systemd/system").is_dir()
}

/// What `systemctl show` says about the unit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnitState {
    /// loaded, not-found, masked, bad-setting, error.
    pub load: String,
    /// active, reloading, inactive, failed, activating, deactivating.
    pub active: String,
    /// enabled, disabled, static, ...
    pub enabled: String,
    /// The argv of ExecStart (empty when there is none).
    pub exec_start: Vec<String>,
}

const PROPERTIES: &str = "LoadState,ActiveState,UnitFileState,ExecStart";

/// Parse `systemctl show --property=…` output.
pub fn parse_show(text: &str) -> UnitState {
    let mut s = UnitState::default();
    for line in text.lines() {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        match key {
            "LoadState" => s.load = value.to_string(),
            "ActiveState" => s.active = value.to_string(),
            "UnitFileState" => s.enabled = value.to_string(),
            "ExecStart" => s.exec_start = exec_argv(value),
            _ => {}
        }
    }
    s
}

/// The argv of an ExecStart property value, `{ path=… ; argv[]=ARGS ; ignore_errors=… }`
/// (arguments separated by spaces, as systemctl prints them).
fn exec_argv(value: &str) -> Vec<String> {
    value
        .split(" ; ")
        .find_map(|f| f.trim_start_matches("{ ").strip_prefix("argv[]="))
        .map(|a| a.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default()
}

/// Where a runtime runs: what makes two runtimes the same one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    pub run_dir: PathBuf,
    /// (st_dev, st_ino) of the network namespace.
    pub netns: (u64, u64),
}

/// What the unit's runtime runs, from its ExecStart argv.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitRun {
    pub file: PathBuf,
    pub run_dir: PathBuf,
    pub netns: Option<String>,
}

/// The file, run-dir and namespace of `netvrrp … run …` argv; None when it is not one.
pub fn unit_run(argv: &[String]) -> Option<UnitRun> {
    use clap::{CommandFactory, FromArgMatches};
    let matches = Cli::command().try_get_matches_from(argv).ok()?;
    let cli = Cli::from_arg_matches(&matches).ok()?;
    let crate::cli::Command::Run { file, .. } = cli.command else {
        return None;
    };
    // As main does: without --run-dir, --netns NAME has its own run-dir.
    let run_dir =
        if matches.value_source("run_dir") == Some(clap::parser::ValueSource::DefaultValue) {
            super::identity::default_run_dir(cli.netns.as_deref())
        } else {
            cli.run_dir
        };
    Some(UnitRun {
        file: file.file,
        run_dir,
        netns: cli.netns,
    })
}

/// What `apply` does with the runtime once the kernel is applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handoff {
    /// No systemd, no unit, or not the unit's run-dir/namespace: a runtime of its own under
    /// [`super::supervisor`].
    Supervised,
    /// The unit's runtime: reloaded if it runs, else `systemctl start`. `enabled`: the unit
    /// starts at boot.
    Unit { active: bool, enabled: bool },
}

/// What `apply` found out about systemd and the unit, for [`decide`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub booted: bool,
    /// None: systemctl could not be asked.
    pub unit: Option<UnitState>,
    /// What the unit runs (None: its ExecStart is not `netvrrp run`).
    pub unit_run: Option<UnitRun>,
    /// The unit's runtime runs in this run-dir and namespace.
    pub same_place: bool,
    /// The unit runs this file.
    pub same_file: bool,
}

/// The hand-off for what was seen; Err(why) refuses the apply before anything changes.
pub fn decide(seen: &Seen) -> Result<Handoff, String> {
    let Some(unit) = seen.unit.as_ref().filter(|_| seen.booted) else {
        return Ok(Handoff::Supervised);
    };
    if matches!(unit.load.as_str(), "not-found" | "") {
        return Ok(Handoff::Supervised);
    }
    let Some(run) = &seen.unit_run else {
        return Err(format!(
            "cannot tell which file and run-dir {UNIT} runs (LoadState={}, and its ExecStart is not `netvrrp … run -f FILE`): `apply --no-runtime`, then `systemctl reload netvrrp`; nothing was changed",
            unit.load
        ));
    };
    if !seen.same_place {
        return Ok(Handoff::Supervised);
    }
    match unit.load.as_str() {
        "loaded" => {}
        "masked" => {
            return Err(format!(
                "{UNIT} is masked, so no runtime is started in its run-dir {}: `systemctl unmask netvrrp`, or `apply --no-runtime` for the kernel part only; nothing was changed",
                run.run_dir.display()
            ));
        }
        other => {
            return Err(format!(
                "{UNIT} did not load (LoadState={other}): see `systemctl status netvrrp`; nothing was changed"
            ));
        }
    }
    if !seen.same_file {
        return Err(format!(
            "{UNIT} runs {} with run-dir {}: apply that file, point the unit at this one (`systemctl edit netvrrp`), or give this configuration a runtime of its own (--run-dir); nothing was changed",
            run.file.display(),
            run.run_dir.display()
        ));
    }
    Ok(Handoff::Unit {
        active: matches!(unit.active.as_str(), "active" | "reloading" | "activating"),
        enabled: unit.enabled == "enabled",
    })
}

fn canonical(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

fn netns_id(path: &str) -> Option<(u64, u64)> {
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

/// `systemctl show` of the unit; Err when systemctl cannot be run or fails.
fn show_unit() -> anyhow::Result<UnitState> {
    let out = std::process::Command::new("systemctl")
        .args(["show", "--property", PROPERTIES, UNIT])
        .stdin(std::process::Stdio::null())
        .output()
        .context("cannot run systemctl")?;
    if !out.status.success() {
        anyhow::bail!(
            "systemctl show {UNIT}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(parse_show(&String::from_utf8_lossy(&out.stdout)))
}

/// Look at systemd and the unit for `apply -f file` with `cli`'s run-dir, in the namespace
/// this process is in.
pub fn handoff(cli: &Cli, file: &Path) -> Result<Handoff, String> {
    let booted = systemd_booted();
    let unit = if booted {
        match show_unit() {
            Ok(u) => Some(u),
            Err(e) => {
                // A chroot or container that sees the host's /run: no unit to hand to.
                tracing::warn!("{e:#}; starting a supervised runtime instead of {UNIT}");
                None
            }
        }
    } else {
        None
    };
    // A masked unit has no ExecStart: the packaged one's run-dir and namespace are its.
    let packaged = ["/usr/sbin/netvrrp", "run", "-f", crate::cli::DEFAULT_CONFIG].map(String::from);
    let unit_run = unit.as_ref().and_then(|u| match u.load.as_str() {
        "masked" if u.exec_start.is_empty() => unit_run(&packaged),
        _ => unit_run(&u.exec_start),
    });
    let (same_place, same_file) = match &unit_run {
        Some(run) => {
            let theirs = Place {
                run_dir: canonical(&run.run_dir),
                // systemd's (PID 1's) namespace, unless the unit enters another.
                netns: match &run.netns {
                    Some(name) => netns_id(&format!("/run/netns/{name}")),
                    None => netns_id("/proc/1/ns/net"),
                }
                .unwrap_or_default(),
            };
            let ours = Place {
                run_dir: canonical(&cli.run_dir),
                netns: netns_id("/proc/thread-self/ns/net").unwrap_or((0, 1)),
            };
            (theirs == ours, canonical(&run.file) == canonical(file))
        }
        None => (false, false),
    };
    decide(&Seen {
        booted,
        unit,
        unit_run,
        same_place,
        same_file,
    })
}

/// `systemctl start netvrrp.service` (it returns once the runtime has sent READY=1 or the
/// start failed), then wait for the control socket.
pub fn start_unit(run_dir: &Path) -> anyhow::Result<()> {
    let out = std::process::Command::new("systemctl")
        .args(["start", UNIT])
        .stdin(std::process::Stdio::null())
        .output()
        .context("cannot run systemctl")?;
    if !out.status.success() {
        anyhow::bail!(
            "systemctl start {UNIT} failed ({}): {}; see `systemctl status netvrrp` and `journalctl -u netvrrp`",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    for _ in 0..400 {
        if super::control::ping(run_dir).is_ok() {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    anyhow::bail!(
        "{UNIT} started but its runtime does not answer on {} within 10 s; see `journalctl -u netvrrp`",
        run_dir.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHOW: &str = "LoadState=loaded\nActiveState=inactive\nUnitFileState=enabled\n\
ExecStart={ path=/usr/sbin/netvrrp ; argv[]=/usr/sbin/netvrrp run -f /etc/network/vrrp.toml ; ignore_errors=no ; start_time=[n/a] ; stop_time=[n/a] ; pid=0 ; code=(null) ; status=0/0 }\n";

    fn argv(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn systemctl_show_is_parsed() {
        let s = parse_show(SHOW);
        assert_eq!(s.load, "loaded");
        assert_eq!(s.active, "inactive");
        assert_eq!(s.enabled, "enabled");
        assert_eq!(
            s.exec_start,
            argv("/usr/sbin/netvrrp run -f /etc/network/vrrp.toml")
        );
        let missing =
            parse_show("LoadState=not-found\nActiveState=inactive\nUnitFileState=\nExecStart=\n");
        assert_eq!(missing.load, "not-found");
        assert!(missing.exec_start.is_empty());
    }

    #[test]
    fn the_units_file_run_dir_and_namespace_come_from_its_argv() {
        assert_eq!(
            unit_run(&argv("/usr/sbin/netvrrp run -f /etc/network/vrrp.toml")),
            Some(UnitRun {
                file: "/etc/network/vrrp.toml".into(),
                run_dir: "/run/netvrrp".into(),
                netns: None,
            })
        );
        // Defaults: the file, and the run-dir of a namespace.
        let r = unit_run(&argv("/usr/sbin/netvrrp --netns blue run")).unwrap();
        assert_eq!(r.file, PathBuf::from(crate::cli::DEFAULT_CONFIG));
        assert_eq!(
            r.run_dir,
            super::super::identity::default_run_dir(Some("blue"))
        );
        assert_eq!(r.netns.as_deref(), Some("blue"));
        let r = unit_run(&argv(
            "/x/netvrrp -v --run-dir /run/nv2 run --file /etc/a.toml",
        ))
        .unwrap();
        assert_eq!(
            (r.run_dir, r.file),
            ("/run/nv2".into(), "/etc/a.toml".into())
        );
        // Not a runtime.
        assert_eq!(unit_run(&argv("/usr/bin/env netvrrp run")), None);
        assert_eq!(unit_run(&argv("/usr/sbin/netvrrp apply")), None);
        assert_eq!(unit_run(&[]), None);
    }

    fn seen(load: &str, active: &str, same_place: bool, same_file: bool) -> Seen {
        let unit = UnitState {
            load: load.into(),
            active: active.into(),
            enabled: "enabled".into(),
            exec_start: argv("/usr/sbin/netvrrp run -f /etc/network/vrrp.toml"),
        };
        Seen {
            booted: true,
            unit_run: unit_run(&unit.exec_start),
            unit: Some(unit),
            same_place,
            same_file,
        }
    }

    #[test]
    fn which_runtime_apply_hands_off_to() {
        let unit = |active| {
            Ok(Handoff::Unit {
                active,
                enabled: true,
            })
        };
        // The unit's run-dir and file: started, or reloaded.
        assert_eq!(decide(&seen("loaded", "inactive", true, true)), unit(false));
        assert_eq!(decide(&seen("loaded", "failed", true, true)), unit(false));
        assert_eq!(decide(&seen("loaded", "active", true, true)), unit(true));
        assert_eq!(decide(&seen("loaded", "reloading", true, true)), unit(true));
        // Another run-dir or namespace: not the unit's.
        assert_eq!(
            decide(&seen("loaded", "active", false, false)),
            Ok(Handoff::Supervised)
        );
        // No unit, no systemd, systemctl unreachable.
        assert_eq!(
            decide(&seen("not-found", "inactive", false, false)),
            Ok(Handoff::Supervised)
        );
        let mut s = seen("loaded", "active", true, true);
        s.booted = false;
        assert_eq!(decide(&s), Ok(Handoff::Supervised));
        let mut s = seen("loaded", "active", true, true);
        s.unit = None;
        assert_eq!(decide(&s), Ok(Handoff::Supervised));
    }

    #[test]
    fn apply_is_refused_where_the_unit_would_disagree() {
        // Another file for the unit's run-dir: refused, naming the unit's file.
        let e = decide(&seen("loaded", "active", true, false)).unwrap_err();
        assert!(
            e.contains("/etc/network/vrrp.toml") && e.contains("nothing was changed"),
            "{e}"
        );
        let e = decide(&seen("masked", "inactive", true, true)).unwrap_err();
        assert!(e.contains("masked"), "{e}");
        // A masked or broken unit does not concern other run-dirs and namespaces.
        assert_eq!(
            decide(&seen("masked", "inactive", false, false)),
            Ok(Handoff::Supervised)
        );
        assert_eq!(
            decide(&seen("error", "inactive", false, false)),
            Ok(Handoff::Supervised)
        );
        let e = decide(&seen("bad-setting", "inactive", true, true)).unwrap_err();
        assert!(e.contains("LoadState=bad-setting"), "{e}");
        // An ExecStart that is not `netvrrp run`: which run-dir it uses is unknown.
        let mut s = seen("loaded", "active", true, true);
        s.unit_run = None;
        assert!(decide(&s).unwrap_err().contains("ExecStart"));
    }
}
