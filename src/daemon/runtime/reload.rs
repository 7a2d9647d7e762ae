//! Reloads: the new file's routers are compared with the running instances by
//! [`crate::reconcile::routers`], the same comparison `diff` shows. Only a change of identity
//! (interface, VRID, family, version) or a re-created device restarts an instance; every
//! other change is applied to the running state machine, so a priority edit that keeps the
//! master moves nothing.

use super::{InstanceKey, Runtime, lock, open_unicast};
use crate::config::{self, RouterConfig};
use crate::kernel::{Kernel, Snapshot};
use crate::plan::ProtodownOwner;
use crate::reconcile::kernel::{self, Failure};
use crate::reconcile::routers::{self, ReloadReport, RouterAction, RouterChange};
use crate::reconcile::{RunningState, RuntimeSettings, SCHEMA};
use crate::vrrp::router::{Input, State, Time};
use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// A reload prepared off the loop (file read and checked, kernel dumped), for the loop to
/// swap in.
pub(in crate::daemon) struct Commit {
    pub file: PathBuf,
    pub config: config::Config,
    pub snapshot: Snapshot,
    pub done: oneshot::Sender<Result<ReloadReport, String>>,
}

/// The netlink connection reloads read and change the kernel through: one, opened at
/// start, used by one reload at a time (a socket serves one dump at a time).
pub(in crate::daemon) type ReconcileKernel = Arc<tokio::sync::Mutex<Kernel>>;

/// Hand a prepared reload to the loop and wait for what it did.
async fn commit(
    commits: &mpsc::Sender<Commit>,
    file: PathBuf,
    config: config::Config,
    snapshot: Snapshot,
) -> Result<ReloadReport, String> {
    let (done, wait) = oneshot::channel();
    commits
        .send(Commit {
            file,
            config,
            snapshot,
            done,
        })
        .await
        .map_err(|_| "the runtime is stopping".to_string())?;
    wait.await
        .map_err(|_| "the runtime is stopping".to_string())?
}

/// A `reload` control request (apply has reconciled the kernel): read the file and dump the
/// kernel off the loop, then let the loop swap.
pub(in crate::daemon) async fn prepare(
    kernel: ReconcileKernel,
    file: PathBuf,
    commits: mpsc::Sender<Commit>,
    failures: mpsc::UnboundedSender<()>,
) -> Result<ReloadReport, String> {
    let prepared = async {
        let config = kernel::load_config_off_loop(&file, true)
            .await
            .map_err(|f| f.to_string())?;
        let k = kernel.lock().await;
        let snapshot = k.snapshot().await.map_err(|e| format!("{e:#}"))?;
        Ok::<_, String>((config, snapshot))
    }
    .await;
    match prepared {
        // A failed commit is counted by the loop itself.
        Ok((config, snapshot)) => commit(&commits, file, config, snapshot).await,
        Err(e) => {
            let _ = failures.send(());
            Err(e)
        }
    }
}

/// SIGHUP: the same transaction as `apply` ([`kernel::execute`]), off the loop: the kernel
/// changes, then the loop's swap (before owned devices that left the file are deleted, so
/// leaving routers still have them for their priority 0), then deletions and verify.
pub(in crate::daemon) async fn on_sighup(
    kernel: ReconcileKernel,
    run_dir: PathBuf,
    file: PathBuf,
    commits: mpsc::Sender<Commit>,
    failures: mpsc::UnboundedSender<()>,
) {
    let result = async {
        let config = kernel::load_config_off_loop(&file, true).await?;
        let k = kernel.lock().await;
        let _lock = crate::apply::lock(&run_dir).map_err(Failure::Io)?;
        let loaded = kernel::load_with(&k, config, &run_dir).await?;
        for w in &loaded.warnings {
            tracing::warn!(target: "netvrrp::protocol", "{w}");
        }
        // protodown is ours while we run.
        let owner = ProtodownOwner::Runtime;
        let plan = kernel::plan(&loaded, owner)?;
        if plan.changes.is_empty() {
            // The usual reload: nothing to change in the kernel. The snapshot the plan was
            // made from is the one to swap in; no second dump, no copy of the file's
            // configuration, no verify (at 4,000 routers each snapshot is megabytes).
            let kernel::Loaded {
                config, snapshot, ..
            } = loaded;
            return commit(&commits, file.clone(), config, snapshot)
                .await
                .map(Some)
                .map_err(|why| Failure::Reload {
                    why,
                    rollback: "nothing was changed".into(),
                });
        }
        let config = loaded.config.clone();
        kernel::execute(&k, &run_dir, loaded, &plan, owner, || async {
            let snapshot = k.snapshot().await?;
            commit(&commits, file.clone(), config, snapshot)
                .await
                .map(Some)
                .map_err(anyhow::Error::msg)
        })
        .await
        .map(|(_, report)| report)
    }
    .await;
    match result {
        Ok(report) => {
            let changed = report.as_ref().is_some_and(|r| r.changed());
            tracing::info!(target: "netvrrp::protocol", changed, "SIGHUP: file reloaded and kernel reconciled");
        }
        Err(f) => {
            // A commit the loop refused was counted there.
            if !matches!(f, Failure::Reload { .. }) {
                let _ = failures.send(());
            }
            tracing::error!(target: "netvrrp::protocol", "reload on SIGHUP failed, routers keep running as they were: {f}")
        }
    }
}

impl Runtime {
    /// Swap in a prepared reload (on the loop).
    pub(super) async fn commit_reload(
        &mut self,
        file: PathBuf,
        config: config::Config,
        snapshot: Snapshot,
    ) -> Result<ReloadReport, String> {
        self.access = super::super::access::Policy::from_config(&config.runtime);
        self.set_socket_mode();
        let snapshot = Arc::new(snapshot);
        self.snapshot = snapshot.clone();
        // Fan-outs of the old configuration name clients by their old positions: let them
        // reach the runners before those follow the new configuration.
        self.flush_vrrs().await;
        let fan = self.vrrs.reconfigure(&config);
        lock(&self.runners).reconfigure(&config);
        // `[[track]]` objects: unchanged ones keep their state, the others are re-read.
        let retracked = self.tracks.reconfigure(&config);
        self.carry_out(fan);
        let now = self.now();
        let old = std::mem::take(&mut self.instances);
        let by_router: HashMap<(&str, u8), &RouterConfig> = config
            .routers
            .iter()
            .map(|r| ((r.interface.as_str(), r.vrid), r))
            .collect();
        let device_index: HashMap<&str, u32> = snapshot
            .links
            .iter()
            .map(|l| (l.name.as_str(), l.index))
            .collect();
        let mut done: HashMap<InstanceKey, RouterAction> = HashMap::new();
        let mut keep = Vec::new();
        let mut live: Vec<(InstanceKey, RouterConfig)> = Vec::new();
        for inst in old {
            let key = inst.key.clone();
            let desired = by_router
                .get(&(inst.key.interface.as_str(), inst.key.vrid))
                .copied();
            let mut action = routers::instance_action(&inst.config, inst.key.family, desired);
            let device_now = device_index.get(inst.device.as_str()).copied();
            if matches!(
                action,
                RouterAction::Keep | RouterAction::Reconfigure { .. }
            ) && device_now != inst.device_index
            {
                action = RouterAction::Restart {
                    reason: "vrrp device re-created".into(),
                };
            }
            match (&action, desired) {
                (RouterAction::Keep, _) => keep.push(inst),
                (RouterAction::Reconfigure { .. }, Some(rc)) => {
                    live.push((inst.key.clone(), rc.clone()));
                    keep.push(inst);
                }
                _ => self.leave_detached(inst, now).await,
            }
            done.insert(key, action);
        }
        self.install(&config, &snapshot, keep).await;
        let reconfigured = !live.is_empty();
        let position: HashMap<InstanceKey, usize> = self
            .instances
            .iter()
            .enumerate()
            .map(|(i, inst)| (inst.key.clone(), i))
            .collect();
        for (key, rc) in live {
            if let Some(&i) = position.get(&key) {
                self.reconfigure_instance(i, &rc, &snapshot, now).await;
            }
        }
        self.feed_tracks(&retracked).await;
        self.config = Arc::new(config);
        let restarted = done.values().any(|a| !a.is_keep());
        self.stats.reloaded(&file, restarted || reconfigured);
        self.file = file;
        let mut report = Vec::new();
        for rc in &self.config.routers {
            for family in rc.families() {
                let key = InstanceKey::new(&rc.interface, rc.vrid, family);
                let action = done.remove(&key).unwrap_or(RouterAction::Add);
                report.push(change(&key, action));
            }
        }
        let mut removed: Vec<(InstanceKey, RouterAction)> = done.into_iter().collect();
        removed.sort_by(|a, b| a.0.cmp(&b.0));
        report.extend(
            removed
                .into_iter()
                .map(|(key, action)| change(&key, action)),
        );
        let report = ReloadReport {
            schema: SCHEMA,
            routers: report,
            instances: self.instances.len(),
        };
        // Only a reload that changed something counts (a no-op apply is not a reload).
        if report.changed() {
            self.reloads += 1;
        }
        let count = |word: &str| {
            report
                .routers
                .iter()
                .filter(|c| c.action.word() == word)
                .count()
        };
        tracing::info!(target: "netvrrp::protocol", kept = count("keep"), reconfigured = count("reconfigure"), restarted = count("restart"), added = count("add"), removed = count("remove"), total = self.instances.len(), "reloaded");
        Ok(report)
    }

    /// Apply a router's new configuration to its running instance `i` (no transition of its
    /// own: a Master stays Master unless the RFC rules say otherwise).
    async fn reconfigure_instance(
        &mut self,
        i: usize,
        rc: &RouterConfig,
        snapshot: &Snapshot,
        now: Time,
    ) {
        let inst = &mut self.instances[i];
        let family = inst.key.family;
        let was_shut = inst.config.shutdown;
        let params = crate::daemon::router_params::router_params(rc, family, inst.primary);
        let track_down: Vec<bool> = rc
            .track
            .iter()
            .map(|t| !crate::track::entry_up(t, snapshot, &self.tracks))
            .collect();
        let vips: Vec<IpAddr> = rc.addresses(family).iter().map(|n| n.addr()).collect();
        let added: Vec<IpAddr> = vips
            .iter()
            .filter(|v| !inst.vips.contains(v))
            .copied()
            .collect();
        if inst.config.unicast_peers != rc.unicast_peers {
            inst.unicast = open_unicast(rc, family, inst.parent_index, inst.primary);
        }
        let attributes = routers::changed_attributes(&inst.config, rc, family);
        // One line per instance at debug; the reload's summary line is at info (1,000
        // reconfigured routers would otherwise write 1,000 lines from the election loop).
        tracing::debug!(target: "netvrrp::protocol", interface = %inst.key.interface, vrid = inst.key.vrid, family = %family, attributes = %attributes.join(","), "reconfigured in place");
        let announce = inst.vips != vips;
        inst.vips = vips;
        inst.config = rc.clone();
        // VIPs, accept-mode and peers are the filter's business.
        self.filter_dirty = true;
        let mut refused = None;
        self.drive(i, now, |router, now, out| {
            if let Err(e) = router.reconfigure(now, params, &track_down, announce, out) {
                refused = Some(e);
            }
        })
        .await;
        if let Some(e) = refused {
            // Validation makes this unreachable from a file; say so rather than guess.
            tracing::error!(target: "netvrrp::protocol", interface = %rc.interface, vrid = rc.vrid, %family, "reconfiguration refused, old parameters kept: {e}");
        }
        if rc.shutdown != was_shut {
            let input = if rc.shutdown {
                Input::Shutdown
            } else {
                Input::Startup
            };
            self.feed(i, now, input).await;
        }
        // Only the VIPs that are new get gratuitous ARP / NA: hosts already know the others.
        let inst = &mut self.instances[i];
        if inst.router.state() == State::Master && inst.device_index.is_some() {
            let src6 = match inst.primary {
                IpAddr::V6(s) => Some(s),
                IpAddr::V4(_) => None,
            };
            for vip in added {
                match self
                    .frames
                    .push_gratuitous(i, inst.parent_index, inst.vmac, vip, src6)
                {
                    Ok(()) => inst.router.counters_mut().gratuitous_packets_sent += 1,
                    Err(e) => {
                        inst.router.counters_mut().send_errors += 1;
                        tracing::warn!(target: "netvrrp::packets", device = %inst.device, %vip, "gratuitous packet not sent: {e:#}");
                    }
                }
            }
            self.flush_frames();
        }
    }

    /// Who this runtime is and what it runs (the `running` control request).
    pub(super) fn running_state(&self) -> RunningState {
        let current = RuntimeSettings::from(&self.config.runtime);
        RunningState {
            schema: SCHEMA,
            pid: std::process::id(),
            file: self.file.clone(),
            run_dir: self.run_dir.clone(),
            netns: crate::daemon::identity::own_netns(),
            routers: self.config.routers.clone(),
            pathways: self.config.pathways.clone(),
            clients: self.config.clients.clone(),
            tracks: self.config.tracks.clone(),
            settings: RuntimeSettings {
                // Read at start only.
                metrics_listen: self.metrics_listen.clone(),
                realtime_priority: self.started_realtime_priority,
                ..current
            },
        }
    }
}

fn change(key: &InstanceKey, action: RouterAction) -> RouterChange {
    RouterChange {
        interface: key.interface.clone(),
        vrid: key.vrid,
        family: key.family,
        action,
    }
}
