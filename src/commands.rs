//! One function per command: library calls in, exit code out. Printing happens here.

use crate::apply::{self, Executor};
use crate::cli::{Cli, Command};
use crate::config::{self, Config};
use crate::desired::{self, DesiredState};
use crate::exit;
use crate::kernel::{Kernel, Snapshot};
use crate::plan::{self, Op, OwnedRecord, ProtodownOwner};
use anyhow::Context;
use std::io::IsTerminal;
use std::path::Path;

impl Executor for Kernel {
    async fn execute(&self, op: &Op) -> Result<(), String> {
        Kernel::execute(self, op).await.map_err(|e| e.to_string())
    }

    /// Batched: independent operations share netlink datagrams (see `Kernel::execute_many`).
    async fn execute_all(&self, ops: &[Op]) -> Vec<apply::Outcome> {
        Kernel::execute_many(self, ops)
            .await
            .into_iter()
            .map(|o| match o {
                crate::kernel::Outcome::Done => apply::Outcome::Done,
                crate::kernel::Outcome::Failed(e) => apply::Outcome::Failed(e.to_string()),
                crate::kernel::Outcome::NotRun => apply::Outcome::NotRun,
            })
            .collect()
    }
}

/// Print a configuration error list and return the data-error exit code.
fn config_failed(errors: &config::ConfigErrors) -> i32 {
    eprintln!("{errors}");
    eprintln!(
        "netvrrp: {} error(s) in the configuration; nothing was applied",
        errors.0.len()
    );
    exit::DATAERR
}

fn failed(e: &anyhow::Error) -> i32 {
    eprintln!("netvrrp: {e:#}");
    exit::FAILURE
}

/// Is a runtime answering on the control socket of this run-dir?
pub fn runtime_running(run_dir: &Path) -> bool {
    crate::daemon::control::ping(run_dir).is_ok()
}

fn protodown_owner(run_dir: &Path) -> ProtodownOwner {
    if runtime_running(run_dir) {
        ProtodownOwner::Runtime
    } else {
        ProtodownOwner::Configurator
    }
}

/// Everything a kernel-facing command needs: the config, a snapshot, the desired state and
/// the owned records.
pub struct Loaded {
    pub config: Config,
    pub snapshot: Snapshot,
    pub desired: DesiredState,
    pub owned: Vec<OwnedRecord>,
}

/// Err(exit code) after printing the reason. The file is also judged against this host
/// (src/risk.rs).
pub async fn load(kernel: &Kernel, file: &Path, run_dir: &Path) -> Result<Loaded, i32> {
    load_judged(kernel, file, run_dir, true).await
}

/// [`load`]; `judge`: report risky settings (a VIP off the parent's subnets, a false
/// owner). `down` does not: removing what a risky file made must always work.
async fn load_judged(
    kernel: &Kernel,
    file: &Path,
    run_dir: &Path,
    judge: bool,
) -> Result<Loaded, i32> {
    let config = config::load(file).map_err(|e| config_failed(&e))?;
    let snapshot = kernel.snapshot().await.map_err(|e| failed(&e))?;
    let desired = desired::derive(&config, |name| snapshot.by_name(name).map(|l| l.index))
        .map_err(|errors| {
            for e in &errors {
                eprintln!("{e}");
            }
            eprintln!("netvrrp: the configuration does not fit this machine; nothing was applied");
            exit::FAILURE
        })?;
    if judge {
        crate::risk::report(&config, &snapshot)?;
    }
    let owned = apply::load_owned(run_dir).map_err(|e| failed(&e))?;
    Ok(Loaded {
        config,
        snapshot,
        desired,
        owned,
    })
}

/// A netlink connection and everything [`load`] reads; Err(exit code) after printing why.
async fn connect_and_load(file: &Path, run_dir: &Path) -> Result<(Kernel, Loaded), i32> {
    let kernel = Kernel::connect().await.map_err(|e| failed(&e))?;
    let loaded = load(&kernel, file, run_dir).await?;
    Ok((kernel, loaded))
}

fn make_plan(l: &Loaded, owner: ProtodownOwner) -> Result<plan::Plan, i32> {
    plan::plan(&l.snapshot, &l.desired, &l.owned, owner).map_err(|errors| {
        for e in &errors {
            eprintln!("netvrrp: {e}");
        }
        eprintln!("netvrrp: nothing was applied");
        exit::FAILURE
    })
}

fn color() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

/// The records to keep after an apply: every desired device as it now exists.
fn owned_after(snapshot: &Snapshot, desired: &DesiredState) -> Vec<OwnedRecord> {
    desired
        .devices
        .iter()
        .filter_map(|d| {
            let l = snapshot.by_name(&d.name)?;
            Some(OwnedRecord {
                name: l.name.clone(),
                index: l.index,
                parent_index: l.parent_index?,
                mac: l.mac?,
            })
        })
        .collect()
}

pub async fn diff(cli: &Cli, file: &Path, json: bool, exit_code: bool) -> i32 {
    let (_, loaded) = match connect_and_load(file, &cli.run_dir).await {
        Ok(v) => v,
        Err(code) => return code,
    };
    let p = match make_plan(&loaded, protodown_owner(&cli.run_dir)) {
        Ok(p) => p,
        Err(code) => return code,
    };
    if json {
        println!("{}", p.render_json());
    } else {
        print!("{}", p.render_text(color()));
    }
    if exit_code && !p.in_sync {
        exit::DRIFT
    } else {
        exit::OK
    }
}

/// What `apply_kernel` does with a runtime that is already running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reload {
    /// Leave it alone (`--no-runtime`, dry runs, the runtime's own SIGHUP).
    No,
    /// Make it reload the file after the devices exist and before owned devices that left
    /// the file are deleted, so its removed routers can still send priority 0 through them.
    BeforeDeletes,
    /// Called by the runtime itself (SIGHUP): protodown is the runtime's, and the control
    /// socket must not be asked (the runtime is busy running this).
    Inside,
}

/// The kernel part of apply (also used by `run` and the runtime's SIGHUP). Returns the
/// loaded config on success; prints the plan (text or JSON) when `print` is set.
pub async fn apply_kernel(
    run_dir: &Path,
    file: &Path,
    dry_run: bool,
    json: bool,
    reload: Reload,
) -> Result<Loaded, i32> {
    if !dry_run {
        crate::security::check_config_file(file).map_err(|e| failed(&e))?;
    }
    let kernel = Kernel::connect().await.map_err(|e| failed(&e))?;
    let _lock = if dry_run {
        None
    } else {
        Some(apply::lock(run_dir).map_err(|e| failed(&e))?)
    };
    let loaded = load(&kernel, file, run_dir).await?;
    let owner = if reload == Reload::Inside {
        ProtodownOwner::Runtime
    } else {
        protodown_owner(run_dir)
    };
    let p = make_plan(&loaded, owner)?;
    if json {
        println!("{}", p.render_json());
    } else if dry_run || !p.in_sync {
        print!("{}", p.render_text(color()));
    }
    if dry_run {
        return Ok(loaded);
    }
    // The planner puts deletions of owned devices that left the file last.
    let split = p
        .changes
        .iter()
        .rposition(|op| !matches!(op, Op::DeleteMacvlan { .. }))
        .map_or(0, |i| i + 1);
    let (changes, deletes) = p.changes.split_at(split);
    if let Err(e) = apply::execute(&kernel, changes).await {
        eprintln!("netvrrp: apply failed: {e}");
        return Err(exit::FAILURE);
    }
    if reload == Reload::BeforeDeletes && runtime_running(run_dir) {
        let file = std::fs::canonicalize(file).unwrap_or_else(|_| file.to_path_buf());
        if let Err(e) = crate::daemon::control::request(
            run_dir,
            &crate::daemon::control::Request::Reload { file },
        ) {
            eprintln!("netvrrp: the kernel is applied but the runtime did not reload: {e:#}");
            return Err(exit::FAILURE);
        }
    }
    if let Err(e) = apply::execute(&kernel, deletes).await {
        eprintln!("netvrrp: apply failed: {e}");
        return Err(exit::FAILURE);
    }
    // Verify: a fresh snapshot must be in sync with what was asked.
    let after = kernel.snapshot().await.map_err(|e| failed(&e))?;
    let owned = owned_after(&after, &loaded.desired);
    let verify = plan::plan(&after, &loaded.desired, &owned, owner);
    match verify {
        Ok(v) if v.in_sync => {}
        Ok(v) => {
            eprintln!(
                "netvrrp: applied, but the kernel still differs ({} operation(s) left): {}",
                v.changes.len(),
                v.changes
                    .iter()
                    .map(|o| o.to_string())
                    .collect::<Vec<_>>()
                    .join("; ")
            );
            return Err(exit::FAILURE);
        }
        Err(errors) => {
            for e in errors {
                eprintln!("netvrrp: verify: {e}");
            }
            return Err(exit::FAILURE);
        }
    }
    apply::save_owned(run_dir, &owned).map_err(|e| failed(&e))?;
    Ok(Loaded {
        snapshot: after,
        owned,
        ..loaded
    })
}

pub async fn check(cli: &Cli, file: &Path, json: bool) -> i32 {
    let (_, loaded) = match connect_and_load(file, &cli.run_dir).await {
        Ok(v) => v,
        Err(code) => return code,
    };
    let checks = plan::check(
        &loaded.snapshot,
        &loaded.desired,
        &loaded.owned,
        protodown_owner(&cli.run_dir),
    );
    let all_pass = checks.iter().all(|c| c.pass);
    if json {
        let v = serde_json::json!({ "checks": checks, "pass": all_pass });
        println!("{v:#}");
    } else {
        let width = checks.iter().map(|c| c.device.len()).max().unwrap_or(0);
        for c in &checks {
            println!(
                "{:width$}  {:32} {:>4}  expected {}{}",
                c.device,
                c.attribute,
                if c.pass { "pass" } else { "FAIL" },
                c.expected,
                if c.pass {
                    String::new()
                } else {
                    format!(", found {}", c.actual)
                }
            );
        }
    }
    if all_pass { exit::OK } else { exit::DRIFT }
}

/// Remove the devices netvrrp owns for this file (after stopping the runtime).
pub async fn down(cli: &Cli, file: &Path) -> i32 {
    if let Err(e) = crate::security::check_config_file(file) {
        return failed(&e);
    }
    if runtime_running(&cli.run_dir)
        && let Err(e) = crate::daemon::control::stop(&cli.run_dir)
    {
        return failed(&e);
    }
    let kernel = match Kernel::connect().await {
        Ok(k) => k,
        Err(e) => return failed(&e),
    };
    let _lock = match apply::lock(&cli.run_dir) {
        Ok(l) => l,
        Err(e) => return failed(&e),
    };
    let loaded = match load_judged(&kernel, file, &cli.run_dir, false).await {
        Ok(l) => l,
        Err(code) => return code,
    };
    let matched = plan::match_devices(&loaded.snapshot, &loaded.desired, &loaded.owned);
    let ops: Vec<Op> = matched
        .iter()
        .filter_map(|m| m.current)
        .map(|l| Op::DeleteMacvlan {
            device: l.name.clone(),
            parent: m_parent(&loaded.snapshot, l.parent_index),
            parent_index: l.parent_index.unwrap_or(0),
            mac: l.mac.unwrap_or(crate::types::MacAddr([0; 6])),
        })
        .collect();
    for op in &ops {
        println!("{op}");
    }
    if let Err(e) = apply::execute(&kernel, &ops).await {
        eprintln!("netvrrp: down failed: {e}");
        return exit::FAILURE;
    }
    let removed: Vec<u32> = matched
        .iter()
        .filter_map(|m| m.current.map(|l| l.index))
        .collect();
    let keep: Vec<OwnedRecord> = loaded
        .owned
        .into_iter()
        .filter(|r| !removed.contains(&r.index))
        .collect();
    if let Err(e) = apply::save_owned(&cli.run_dir, &keep) {
        return failed(&e);
    }
    // The stopped runtime left its VIP filter in place (every VIP blocked); the devices are
    // gone now, so is the reason for it.
    if let Err(e) = crate::daemon::filter::VipFilter::default().remove() {
        return failed(&e);
    }
    exit::OK
}

fn m_parent(snapshot: &Snapshot, index: Option<u32>) -> String {
    index
        .and_then(|i| snapshot.by_index(i))
        .map(|l| l.name.clone())
        .unwrap_or_default()
}

/// Discover VRRP macvlans by virtual MAC and print (or merge into a file) their TOML.
pub async fn autoconfigure(version: Option<u8>, output: Option<&Path>) -> i32 {
    let kernel = match Kernel::connect().await {
        Ok(k) => k,
        Err(e) => return failed(&e),
    };
    let snapshot = match kernel.snapshot().await {
        Ok(s) => s,
        Err(e) => return failed(&e),
    };
    let version = match version {
        Some(2) => config::Version::V2,
        _ => config::Version::V3,
    };
    let routers = discover(&snapshot, version);
    let existing = match output {
        Some(path) => match std::fs::read_to_string(path) {
            Ok(t) => Some(t),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => {
                return failed(
                    &anyhow::Error::new(e).context(format!("cannot read {}", path.display())),
                );
            }
        },
        None => None,
    };
    let text = match config::render_autoconfig(&routers, existing.as_deref()) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("netvrrp: {e}");
            return exit::DATAERR;
        }
    };
    match output {
        Some(path) => match std::fs::write(path, text)
            .with_context(|| format!("cannot write {}", path.display()))
        {
            Ok(()) => exit::OK,
            Err(e) => failed(&e),
        },
        None => {
            print!("{text}");
            exit::OK
        }
    }
}

/// One [`config::DiscoveredRouter`] per (parent, vrid) found by virtual MAC (FRR's rule:
/// the MAC, not the name, makes a VRRP device).
pub fn discover(snapshot: &Snapshot, version: config::Version) -> Vec<config::DiscoveredRouter> {
    use crate::types::Family;
    use std::collections::BTreeMap;
    let mut by_key: BTreeMap<(String, u8), config::DiscoveredRouter> = BTreeMap::new();
    for l in &snapshot.links {
        if l.kind.as_deref() != Some("macvlan") {
            continue;
        }
        let Some((family, vrid)) = l.mac.and_then(|m| m.as_vrrp()) else {
            continue;
        };
        if family == Family::Ipv6 && version == config::Version::V2 {
            // VRRPv2 has no IPv6; such a device cannot be described with version 2.
            continue;
        }
        let Some(parent) = l.parent_index.and_then(|i| snapshot.by_index(i)) else {
            continue;
        };
        let r = by_key
            .entry((parent.name.clone(), vrid))
            .or_insert_with(|| config::DiscoveredRouter {
                interface: parent.name.clone(),
                vrid,
                version,
                ipv4: vec![],
                ipv6: vec![],
                devices: vec![],
            });
        r.devices.push(l.name.clone());
        for a in plan::managed_addresses(l) {
            match (family, a) {
                (Family::Ipv4, ipnet::IpNet::V4(n)) => r.ipv4.push(n),
                (Family::Ipv6, ipnet::IpNet::V6(n)) => r.ipv6.push(n),
                _ => {}
            }
        }
    }
    by_key
        .into_values()
        .filter(|r| !r.ipv4.is_empty() || !r.ipv6.is_empty())
        .collect()
}

/// `validate --verbose`: what the file describes, in one paragraph.
pub fn summary(c: &Config) -> String {
    let instances: usize = c.routers.iter().map(|r| r.families().len()).sum();
    let v4 = c.routers.iter().filter(|r| !r.ipv4.is_empty()).count();
    let v6 = c.routers.iter().filter(|r| !r.ipv6.is_empty()).count();
    let mut leaders: Vec<&str> = c
        .routers
        .iter()
        .flat_map(|r| r.vrrs_leader.iter().map(|s| s.as_str()))
        .collect();
    leaders.sort();
    format!(
        "{}: valid; {} router(s), {} instance(s) ({} IPv4, {} IPv6), {} VRRS leader name(s){}, {} pathway(s), {} client(s)",
        c.source
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
        c.routers.len(),
        instances,
        v4,
        v6,
        leaders.len(),
        if leaders.is_empty() {
            String::new()
        } else {
            format!(" [{}]", leaders.join(", "))
        },
        c.pathways.len(),
        c.clients.len()
    )
}

/// Dispatch a parsed command line (inside the tokio runtime).
pub async fn dispatch(cli: &Cli) -> i32 {
    match &cli.command {
        Command::Validate { file } => match config::load(&file.file) {
            Ok(c) => {
                if cli.verbose > 0 {
                    println!("{}", summary(&c));
                }
                exit::OK
            }
            Err(e) => config_failed(&e),
        },
        Command::Diff {
            file,
            json,
            exit_code,
        } => diff(cli, &file.file, *json, *exit_code).await,
        Command::Apply {
            file,
            dry_run,
            json,
            no_runtime,
        } => {
            let reload = if *dry_run || *no_runtime {
                Reload::No
            } else {
                Reload::BeforeDeletes
            };
            if let Err(code) = apply_kernel(&cli.run_dir, &file.file, *dry_run, *json, reload).await
            {
                return code;
            }
            if *dry_run || *no_runtime || runtime_running(&cli.run_dir) {
                // A running runtime has reloaded inside apply_kernel.
                return exit::OK;
            }
            crate::daemon::hand_off(cli, &file.file).await
        }
        Command::Check { file, json } => check(cli, &file.file, *json).await,
        Command::Autoconfigure {
            version,
            output,
            from_keepalived,
            from_frr,
        } => {
            // Importers read a file, not the kernel (src/import).
            let from = match (from_keepalived, from_frr) {
                (Some(f), _) => Some((crate::import::Dialect::Keepalived, f)),
                (_, Some(f)) => Some((crate::import::Dialect::Frr, f)),
                _ => None,
            };
            match from {
                Some((dialect, file)) => crate::import::run(dialect, file, output.as_deref()),
                None => autoconfigure(*version, output.as_deref()).await,
            }
        }
        Command::Down { file } => down(cli, &file.file).await,
        Command::Run { file, spawned } => crate::daemon::run(cli, &file.file, *spawned).await,
        Command::Show { what } => crate::daemon::control::show(&cli.run_dir, what),
        Command::Subscribe { names } => crate::daemon::control::subscribe(&cli.run_dir, names),
        Command::Completions { shell } => {
            use clap::CommandFactory;
            use std::io::Write;
            // Generate into memory: clap_complete panics on a write error (e.g. `| head`).
            let mut script = Vec::new();
            clap_complete::generate(
                *shell,
                &mut crate::cli::Cli::command(),
                "netvrrp",
                &mut script,
            );
            let _ = std::io::stdout().write_all(&script);
            exit::OK
        }
        Command::Stop => match crate::daemon::control::stop(&cli.run_dir) {
            Ok(()) => exit::OK,
            Err(e) => failed(&e),
        },
    }
}
