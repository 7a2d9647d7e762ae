//! Reloads: the new file's routers are compared with the running instances by
//! [`crate::reconcile::routers`], the same comparison `diff` shows. Only a change of identity
//! (interface, VRID, family, version) or a re-created device restarts an instance; every
//! other change is applied to the running state machine, so a priority edit that keeps the
//! master moves nothing.

use super::{InstanceKey, Runtime, lock, open_unicast};
use crate::config::{self, RouterConfig};
use crate::kernel::Snapshot;
use crate::reconcile::routers::{self, ReloadReport, RouterAction, RouterChange};
use crate::reconcile::{RunningState, RuntimeSettings, SCHEMA};
use crate::vrrp::router::{Input, RouterParams, State, Time};
use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

impl Runtime {
    pub(super) async fn reload_inner(&mut self, file: PathBuf) -> Result<ReloadReport, String> {
        crate::security::check_config_file(&file).map_err(|e| format!("{e:#}"))?;
        let config = config::load(&file).map_err(|e| e.to_string())?;
        self.access = super::super::access::Policy::from_config(&config.runtime);
        self.set_socket_mode();
        let snapshot = Arc::new(self.kernel.snapshot().await.map_err(|e| format!("{e:#}"))?);
        self.snapshot = snapshot.clone();
        // Fan-outs of the old configuration name clients by their old positions: let them
        // reach the runners before those follow the new configuration.
        self.flush_vrrs().await;
        let fan = self.vrrs.reconfigure(&config);
        lock(&self.runners).reconfigure(&config);
        self.carry_out(fan);
        let now = self.now();
        let old = std::mem::take(&mut self.instances);
        let mut done: HashMap<InstanceKey, RouterAction> = HashMap::new();
        let mut keep = Vec::new();
        let mut live: Vec<(InstanceKey, RouterConfig)> = Vec::new();
        for inst in old {
            let key = inst.key.clone();
            let desired = routers::find(&config.routers, &inst.key.0, inst.key.1);
            let mut action = routers::instance_action(&inst.config, inst.key.2, desired);
            let device_now = snapshot.by_name(&inst.device).map(|l| l.index);
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
        for (key, rc) in live {
            if let Some(i) = self.instances.iter().position(|inst| inst.key == key) {
                self.reconfigure_instance(i, &rc, &snapshot, now).await;
            }
        }
        self.config = Arc::new(config);
        self.file = file;
        let mut report = Vec::new();
        for rc in &self.config.routers {
            for family in rc.families() {
                let key: InstanceKey = (rc.interface.clone(), rc.vrid, family);
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
        let family = inst.key.2;
        let was_shut = inst.config.shutdown;
        let params = RouterParams::from_config(rc, family, inst.primary);
        let track_down: Vec<bool> = rc
            .track
            .iter()
            .map(|t| {
                !snapshot
                    .by_name(&t.interface)
                    .is_some_and(|l| l.admin_up && l.carrier)
            })
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
        tracing::info!(target: "netvrrp::protocol", interface = %inst.key.0, vrid = inst.key.1, family = %family, attributes = %attributes.join(","), "reconfigured in place");
        inst.vips = vips;
        inst.config = rc.clone();
        // VIPs, accept-mode and peers are the filter's business.
        self.filter_dirty = true;
        let mut refused = None;
        self.drive(i, now, |router, now, out| {
            if let Err(e) = router.reconfigure(now, params, &track_down, out) {
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
        interface: key.0.clone(),
        vrid: key.1,
        family: key.2,
        action,
    }
}
