//! One function per command: library calls in, exit code out. Printing happens here.

mod show;

use crate::apply;
use crate::cli::{Cli, Command, ShowCommand, VrrsWhat};
use crate::config::{self, Config};
use crate::daemon::service::{Handoff, UNIT};
use crate::exit;
use crate::kernel::{Kernel, Snapshot};
use crate::plan::{self, Op, OwnedRecord, ProtodownOwner};
use crate::reconcile::kernel::{Failure, Loaded};
use crate::reconcile::{self, RuntimeDiff, routers::ReloadReport};
use anyhow::Context;
use std::io::IsTerminal;
use std::path::Path;

pub use show::show;

/// Print a configuration error list and return the data-error exit code.
fn config_failed(errors: &config::ConfigErrors) -> i32 {
    config_failed_before(errors, "nothing was applied")
}

/// [`config_failed`], ending with what the command did not do (`down` applies nothing: it
/// stops and removes; `validate` changes nothing in any case: empty).
fn config_failed_before(errors: &config::ConfigErrors, untouched: &str) -> i32 {
    crate::report_plain!("{errors}");
    let tail = if untouched.is_empty() {
        String::new()
    } else {
        format!("; {untouched}")
    };
    crate::report!("{} error(s) in the configuration{tail}", errors.0.len());
    exit::DATAERR
}

fn failed(e: &anyhow::Error) -> i32 {
    crate::report!("{e:#}");
    exit::FAILURE
}

/// Does a runtime hold this run-dir? (Its lock, not an answer: a busy runtime is running.)
pub fn runtime_running(run_dir: &Path) -> bool {
    crate::daemon::identity::is_running_settled(run_dir)
}

/// The runtime half of `diff`, `check` and `apply --dry-run`; Err(exit code) after printing
/// why (a runtime that holds the run-dir but does not answer).
fn runtime_diff(run_dir: &Path, config: &Config, file: &Path) -> Result<RuntimeDiff, i32> {
    let running = crate::daemon::running_state(run_dir).map_err(|e| failed(&e))?;
    let mut d = reconcile::compare(running.as_ref(), config, file);
    if !d.running
        && let Some(other) = foreign_runtime(run_dir)
    {
        d.problems.push(format!(
            "another runtime runs in this network namespace, with run-dir {}",
            other.display()
        ));
    }
    Ok(d)
}

/// [`runtime_diff`], or None with `--no-runtime`.
fn runtime_section(
    run_dir: &Path,
    config: &Config,
    file: &Path,
    no_runtime: bool,
) -> Result<Option<RuntimeDiff>, i32> {
    if no_runtime {
        return Ok(None);
    }
    runtime_diff(run_dir, config, file).map(Some)
}

/// The run-dir of a runtime that runs in this namespace with another run-dir than ours.
fn foreign_runtime(run_dir: &Path) -> Option<std::path::PathBuf> {
    let other = crate::daemon::identity::namespace_owner()?;
    let ours = std::fs::canonicalize(run_dir).unwrap_or_else(|_| run_dir.to_path_buf());
    (other != ours).then_some(other)
}

/// Err(exit 1) when another run-dir's runtime owns this namespace: its devices, their
/// protodown and its filter are its own, and a second runtime would run a second election.
fn refuse_foreign_runtime(run_dir: &Path) -> Result<(), i32> {
    match foreign_runtime(run_dir) {
        None => Ok(()),
        Some(other) => {
            crate::report!(
                "a runtime with run-dir {} already runs in this network namespace (one per namespace; this command's run-dir is {}); nothing was changed. Use --run-dir {} or stop it first",
                other.display(),
                run_dir.display(),
                other.display()
            );
            Err(exit::FAILURE)
        }
    }
}

/// A plan's JSON with the schema version and the runtime section added. Every key is
/// always there: without a runtime section (`--no-runtime`) `runtime` is null and `in_sync`
/// is the kernel's.
fn plan_json(p: &plan::Plan, runtime: Option<serde_json::Value>) -> String {
    let mut v = serde_json::to_value(p).unwrap_or_default();
    if let Some(obj) = v.as_object_mut() {
        let runtime = runtime.unwrap_or_default();
        let runtime_in_sync = runtime["in_sync"].as_bool().unwrap_or(true);
        obj.insert("schema".into(), reconcile::SCHEMA.into());
        obj.insert("kernel_in_sync".into(), p.in_sync.into());
        obj.insert("in_sync".into(), (p.in_sync && runtime_in_sync).into());
        obj.insert("runtime".into(), runtime);
    }
    serde_json::to_string_pretty(&v).unwrap_or_default()
}

fn protodown_owner(run_dir: &Path) -> ProtodownOwner {
    if runtime_running(run_dir) {
        ProtodownOwner::Runtime
    } else {
        ProtodownOwner::Configurator
    }
}

/// Print why a reconcile stopped; its exit code.
fn report_failure(f: &Failure) -> i32 {
    match f {
        Failure::Config(errors) => return config_failed(errors),
        Failure::Fit(errors) => {
            for e in errors {
                crate::report_plain!("{e}");
            }
            crate::report!("the configuration does not fit this machine; nothing was applied");
        }
        Failure::Lockout(errors) => {
            for e in errors {
                crate::report_plain!("{e}");
            }
            crate::report!("the configuration would lock this host out; nothing was applied");
        }
        Failure::Risk(errors) => {
            for e in errors {
                crate::report_plain!("{e}");
            }
            crate::report!(
                "{} error(s) in the configuration for this host; nothing was applied",
                errors.len()
            );
        }
        Failure::Plan(errors) => {
            for e in errors {
                crate::report!("{e}");
            }
            crate::report!("nothing was applied");
        }
        other => crate::report!("{other}"),
    }
    f.exit_code()
}

/// Err(exit code) after printing the reason. The file is also judged against this host
/// (src/risk.rs).
pub async fn load(kernel: &Kernel, file: &Path, run_dir: &Path) -> Result<Loaded, i32> {
    let loaded = reconcile::kernel::load(kernel, file, run_dir)
        .await
        .map_err(|f| report_failure(&f))?;
    for w in &loaded.warnings {
        crate::report_plain!("{w}");
    }
    Ok(loaded)
}

/// A netlink connection and everything [`load`] reads; Err(exit code) after printing why.
async fn connect_and_load(file: &Path, run_dir: &Path) -> Result<(Kernel, Loaded), i32> {
    let kernel = Kernel::connect().await.map_err(|e| failed(&e))?;
    let loaded = load(&kernel, file, run_dir).await?;
    Ok((kernel, loaded))
}

fn make_plan(l: &Loaded, owner: ProtodownOwner) -> Result<plan::Plan, i32> {
    reconcile::kernel::plan(l, owner).map_err(|f| report_failure(&f))
}

fn color() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

pub async fn diff(cli: &Cli, file: &Path, json: bool, exit_code: bool, no_runtime: bool) -> i32 {
    let (_, loaded) = match connect_and_load(file, &cli.run_dir).await {
        Ok(v) => v,
        Err(code) => return code,
    };
    let p = match make_plan(&loaded, protodown_owner(&cli.run_dir)) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let runtime = match runtime_section(&cli.run_dir, &loaded.config, file, no_runtime) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let runtime_in_sync = runtime.as_ref().is_none_or(|d| d.in_sync);
    if json {
        let r = runtime.as_ref().and_then(|d| serde_json::to_value(d).ok());
        println!("{}", plan_json(&p, r));
    } else {
        print_plan_text(&p, runtime.as_ref());
    }
    if exit_code && !(p.in_sync && runtime_in_sync) {
        exit::DRIFT
    } else {
        exit::OK
    }
}

/// The kernel plan, then the runtime's changes; "in sync" only when both are.
fn print_plan_text(p: &plan::Plan, runtime: Option<&RuntimeDiff>) {
    let runtime_text = runtime.map(|d| d.render_text()).unwrap_or_default();
    if p.in_sync && !runtime_text.is_empty() {
        print!("kernel in sync\n{runtime_text}");
    } else {
        print!("{}{runtime_text}", p.render_text(color()));
    }
}

/// What [`apply_kernel`] does with a runtime that is already running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reload {
    /// Leave it alone (`--no-runtime`, dry runs, `run`).
    No,
    /// Make it reload the file after the devices exist and before owned devices that left
    /// the file are deleted, so its removed routers can still send priority 0 through them.
    BeforeDeletes,
}

/// What [`apply_kernel`] did.
pub struct Applied {
    pub loaded: Loaded,
    /// The kernel plan (before execution).
    pub plan: plan::Plan,
    /// What the running runtime did on its reload ([`Reload::BeforeDeletes`] only).
    pub reload: Option<ReloadReport>,
    /// The runtime compared with the file before anything changed, for `apply --json`
    /// (the runtime section says what differed; the reload leaves nothing to compare).
    pub runtime_before: Option<RuntimeDiff>,
    /// The ownership records before the apply (restored if the runtime does not start).
    pub owned_before: Vec<OwnedRecord>,
}

/// The kernel part of apply (also used by `run`), through [`reconcile::kernel`]. Prints the
/// kernel plan as text when it changes something (not with `json` or `dry_run`: the caller
/// prints those, together with the runtime's part).
pub async fn apply_kernel(
    run_dir: &Path,
    file: &Path,
    dry_run: bool,
    json: bool,
    reload: Reload,
) -> Result<Applied, i32> {
    if !dry_run {
        crate::security::check_config_file(file).map_err(|e| failed(&e))?;
        refuse_foreign_runtime(run_dir)?;
    }
    let kernel = Kernel::connect().await.map_err(|e| failed(&e))?;
    let _lock = if dry_run {
        None
    } else {
        Some(apply::lock(run_dir).map_err(|e| failed(&e))?)
    };
    let loaded = load(&kernel, file, run_dir).await?;
    if !dry_run {
        crate::security::check_accounting_paths(&loaded.config).map_err(|e| failed(&e))?;
    }
    // No runtime yet and this apply starts one: it takes over the devices answering now.
    let owner = match protodown_owner(run_dir) {
        ProtodownOwner::Configurator if reload == Reload::BeforeDeletes => ProtodownOwner::Handover,
        owner => owner,
    };
    let p = make_plan(&loaded, owner)?;
    let owned_before = loaded.owned.clone();
    if dry_run {
        return Ok(Applied {
            loaded,
            plan: p,
            reload: None,
            runtime_before: None,
            owned_before,
        });
    }
    let runtime_before = if json && reload == Reload::BeforeDeletes {
        Some(runtime_diff(run_dir, &loaded.config, file)?)
    } else {
        None
    };
    if !json && !p.in_sync {
        print!("{}", p.render_text(color()));
    }
    let reload_runtime = reload == Reload::BeforeDeletes && runtime_running(run_dir);
    let result = reconcile::kernel::execute(&kernel, run_dir, loaded, &p, owner, || async {
        if reload_runtime {
            crate::daemon::reload(run_dir, file).map(Some)
        } else {
            Ok(None)
        }
    })
    .await;
    match result {
        Ok((loaded, report)) => Ok(Applied {
            loaded,
            plan: p,
            reload: report,
            runtime_before,
            owned_before,
        }),
        Err(f) => Err(report_failure(&f)),
    }
}

pub async fn check(cli: &Cli, file: &Path, json: bool, no_runtime: bool) -> i32 {
    let (_, loaded) = match connect_and_load(file, &cli.run_dir).await {
        Ok(v) => v,
        Err(code) => return code,
    };
    let mut checks = plan::check(
        &loaded.snapshot,
        &loaded.desired,
        &loaded.owned,
        protodown_owner(&cli.run_dir),
    );
    let runtime = match runtime_section(&cli.run_dir, &loaded.config, file, no_runtime) {
        Ok(r) => r,
        Err(code) => return code,
    };
    if let Some(d) = &runtime {
        checks.extend(runtime_checks(d, file));
    }
    let all_pass = checks.iter().all(|c| c.pass);
    if json {
        // `runtime` is null with --no-runtime: the keys are the same either way.
        let v = serde_json::json!({
            "schema": reconcile::SCHEMA,
            "checks": checks,
            "pass": all_pass,
            "runtime": runtime,
        });
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

/// `check` rows for the runtime: that it runs this file, and each instance's configuration.
fn runtime_checks(d: &RuntimeDiff, file: &Path) -> Vec<plan::Check> {
    let wanted = std::fs::canonicalize(file).unwrap_or_else(|_| file.to_path_buf());
    let mut rows = vec![plan::Check {
        device: "runtime".into(),
        attribute: "running".into(),
        expected: format!("running {}", wanted.display()),
        actual: match &d.file {
            Some(f) => format!("running {}", f.display()),
            None => "not running".into(),
        },
        pass: d.running && d.file.as_deref() == Some(wanted.as_path()),
    }];
    if d.running {
        for c in &d.routers {
            rows.push(plan::Check {
                device: format!("{} vrid {} {}", c.interface, c.vrid, c.family),
                attribute: "running configuration".into(),
                expected: "as in the file".into(),
                actual: match c.action.detail() {
                    x if x.is_empty() => c.action.word().to_string(),
                    x => format!("{} ({x})", c.action.word()),
                },
                pass: c.action.is_keep(),
            });
        }
        for (what, list) in [
            ("vrrs", &d.vrrs),
            ("track", &d.tracks),
            ("[runtime]", &d.settings),
        ] {
            for item in list {
                rows.push(plan::Check {
                    device: "runtime".into(),
                    attribute: what.into(),
                    expected: "as in the file".into(),
                    actual: item.clone(),
                    pass: false,
                });
            }
        }
    }
    rows
}

/// Remove the devices netvrrp owns for this file (after stopping the runtime).
pub async fn down(cli: &Cli, file: &Path) -> i32 {
    // The namespace's runtime has another run-dir: its devices are the ones this file names
    // (deleting them would drop its routers to Initialize and hand their VIPs to the peer),
    // and it is not ours to stop. Asked first: whatever the file says, nothing is ours here.
    if let Err(code) = refuse_foreign_runtime(&cli.run_dir) {
        return code;
    }
    if let Err(e) = crate::security::check_config_file(file) {
        return failed(&e);
    }
    // A file that cannot be read says nothing about what to remove: refuse before stopping
    // anything.
    if let Err(e) = config::load(file) {
        return config_failed_before(&e, "nothing was stopped or removed");
    }
    if runtime_running(&cli.run_dir)
        && let Err(e) = crate::daemon::control::stop(&cli.run_dir)
    {
        return failed(&e);
    }
    // A supervisor between a runtime's death and its restart would bring it back.
    if let Err(e) = crate::daemon::supervisor::stop_waiting(&cli.run_dir) {
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
    let loaded = match reconcile::kernel::load_unjudged(&kernel, file, &cli.run_dir)
        .await
        .map_err(|f| report_failure(&f))
    {
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
        crate::report!("down failed: {e}");
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
    if let Err(e) = apply::save_owned(&cli.run_dir, &keep).and_then(|()| {
        apply::remove_state_files(
            &cli.run_dir,
            !keep.is_empty(),
            &crate::daemon::state_files(&cli.run_dir),
        )
    }) {
        return failed(&e);
    }
    // The stopped runtime left its VIP filter in place (every VIP blocked); the devices are
    // gone now, so is the reason for it. The table belongs to the namespace's runtime: when
    // another run-dir's runtime started here since the check above, it is that one's.
    if let Some(other) = crate::daemon::identity::namespace_owner()
        && std::fs::canonicalize(&cli.run_dir).ok().as_deref() != Some(other.as_path())
    {
        println!(
            "netvrrp: the nftables table belongs to the runtime of {}; left in place",
            other.display()
        );
        return exit::OK;
    }
    if let Err(e) = crate::daemon::remove_filter() {
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
    let found = crate::import::devices::discover(&snapshot, version);
    // Never silently: each device left out is named with the reason, here and in the
    // output (a fresh file's header).
    for s in &found.skipped {
        eprintln!("netvrrp: autoconfigure: skipped {s}");
    }
    let skipped: Vec<String> = found.skipped.iter().map(|s| s.to_string()).collect();
    let routers = found.routers;
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
    let text = match config::render_autoconfig(&routers, &skipped, existing.as_deref()) {
        Ok(t) => t,
        Err(e) => {
            crate::report!("{e}");
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

/// `apply`: the kernel, then the runtime (reloaded, or started), then what was done.
async fn apply(cli: &Cli, file: &Path, dry_run: bool, json: bool, no_runtime: bool) -> i32 {
    let reload = if dry_run || no_runtime {
        Reload::No
    } else {
        Reload::BeforeDeletes
    };
    // A runtime without its filter would let Backups answer for their VIPs: refuse before
    // anything changes.
    if reload == Reload::BeforeDeletes
        && let Err(e) = crate::daemon::require_nftables()
    {
        return failed(&e);
    }
    // Which runtime takes over (the systemd unit's, or a supervised one of our own): decided
    // before anything changes, since it can refuse the apply.
    let handoff = if reload == Reload::BeforeDeletes {
        match crate::security::check_config_file(file)
            .map_err(|e| format!("{e:#}"))
            .and_then(|()| crate::daemon::service::handoff(cli, file))
            // A refusal by the runtime apply starts would come after the kernel changed.
            .and_then(|h| crate::daemon::check_start_files(&cli.run_dir, &h).map(|()| h))
        {
            Ok(h) => Some(h),
            Err(why) => {
                crate::report!("{why}");
                return exit::FAILURE;
            }
        }
    } else {
        None
    };
    let applied = match apply_kernel(&cli.run_dir, file, dry_run, json, reload).await {
        Ok(a) => a,
        Err(code) => return code,
    };
    if dry_run {
        let runtime = match runtime_section(&cli.run_dir, &applied.loaded.config, file, no_runtime)
        {
            Ok(r) => r,
            Err(code) => return code,
        };
        if json {
            let r = runtime.as_ref().and_then(|d| serde_json::to_value(d).ok());
            println!("{}", plan_json(&applied.plan, r));
        } else {
            print_plan_text(&applied.plan, runtime.as_ref());
        }
        return exit::OK;
    }
    if no_runtime {
        if json {
            println!("{}", plan_json(&applied.plan, None));
        }
        return exit::OK;
    }
    let handoff = handoff.unwrap_or(crate::daemon::service::Handoff::Supervised);
    let report = match applied.reload {
        // A running runtime has reloaded inside apply_kernel.
        Some(report) => {
            if matches!(handoff, Handoff::Unit { active: false, .. }) {
                tracing::warn!(
                    "the runtime reloaded is not {UNIT}'s (started by an earlier apply): `netvrrp stop` (a failover if it is Master), then `systemctl start netvrrp` puts it under systemd"
                );
            }
            report
        }
        None => {
            let code = crate::daemon::hand_off(cli, file, &handoff).await;
            if code != exit::OK {
                let (plan, owned) = (&applied.plan, &applied.owned_before);
                crate::daemon::undo_failed_start(&cli.run_dir, plan, owned).await;
                return code;
            }
            if let Handoff::Unit { enabled, .. } = handoff {
                if !json {
                    println!("netvrrp: started {UNIT}");
                }
                if !enabled {
                    tracing::warn!(
                        "{UNIT} is not enabled, so it does not start at boot: `systemctl enable netvrrp`"
                    );
                }
            }
            ReloadReport::started(&applied.loaded.config.routers)
        }
    };
    if json && let Some(before) = applied.runtime_before {
        // Its pid (a ping, not the whole `running` answer) and the file just applied, by the
        // canonical path it runs it by; null when it does not answer (the apply succeeded).
        let pid = crate::daemon::control::pid(&cli.run_dir).ok();
        let now = pid.map(|pid| (pid, crate::daemon::absolute(file)));
        let runtime = reconcile::RuntimeApplied::new(before, report, now);
        println!(
            "{}",
            plan_json(&applied.plan, serde_json::to_value(&runtime).ok())
        );
    } else {
        print!("{}", report.render_text());
    }
    exit::OK
}

/// Dispatch a parsed command line (inside the tokio runtime).
pub async fn dispatch(cli: &Cli) -> i32 {
    match &cli.command {
        Command::Validate { file } => match config::load(&file.file) {
            Ok(c) => {
                for w in &c.warnings {
                    crate::report_plain!("{w}");
                }
                if cli.verbose > 0 {
                    println!("{}", summary(&c));
                }
                exit::OK
            }
            Err(e) => config_failed_before(&e, ""),
        },
        Command::Diff {
            file,
            json,
            exit_code,
            no_runtime,
        } => diff(cli, &file.file, *json, *exit_code, *no_runtime).await,
        Command::Apply {
            file,
            dry_run,
            json,
            no_runtime,
        } => apply(cli, &file.file, *dry_run, *json, *no_runtime).await,
        Command::Check {
            file,
            json,
            no_runtime,
        } => check(cli, &file.file, *json, *no_runtime).await,
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
        Command::Run {
            file,
            spawned,
            restarted,
        } => crate::daemon::run(cli, &file.file, *spawned, *restarted).await,
        Command::Supervise { file } => crate::daemon::supervisor::supervise(cli, &file.file).await,
        Command::Show { what } => show(&cli.run_dir, what),
        Command::Subscribe { names } => crate::daemon::control::subscribe(&cli.run_dir, names),
        Command::Debug { category, state } => crate::daemon::debug::command(
            &cli.run_dir,
            category.as_deref(),
            state.map(|s| s == crate::cli::OnOff::On),
        ),
        Command::Completions { shell } => {
            use std::io::Write;
            // Generated into memory: clap_complete panics on a write error (e.g. `| head`).
            let _ = std::io::stdout().write_all(&crate::completions::script(*shell));
            exit::OK
        }
        Command::Stop => {
            if !runtime_running(&cli.run_dir) && crate::daemon::control::ping(&cli.run_dir).is_err()
            {
                // Between a runtime's death and its restart, only its supervisor runs.
                match crate::daemon::supervisor::stop_waiting(&cli.run_dir) {
                    Ok(Some(pid)) => {
                        println!(
                            "netvrrp: stopped the supervisor (pid {pid}) waiting to restart the runtime"
                        );
                        return exit::OK;
                    }
                    Ok(None) => {}
                    Err(e) => return failed(&e),
                }
                // Like `systemctl stop` of a stopped unit: the goal is reached.
                println!(
                    "netvrrp: no runtime is running with run-dir {}",
                    cli.run_dir.display()
                );
                return exit::OK;
            }
            match crate::daemon::control::stop(&cli.run_dir)
                .and_then(|()| crate::daemon::supervisor::wait_gone(&cli.run_dir))
            {
                Ok(()) => exit::OK,
                Err(e) => failed(&e),
            }
        }
    }
}
