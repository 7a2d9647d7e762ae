//! Reloads: the new file's routers are compared with the running instances by
//! [`crate::reconcile::routers`], the same comparison `diff` shows. Only a change of identity
//! (interface, VRID, family, version) or a re-created device restarts an instance; every
//! other change is applied to the running state machine, so a priority edit that keeps the
//! master moves nothing.
//!
//! The file is read, checked and hashed, the kernel dumped and the new routers compared with
//! the running ones off the loop ([`prepare`], [`on_sighup`], [`super::reload_plan`]), on the
//! reload thread ([`super::reload_thread`]: the loop's tokio runtime has one thread, and a
//! dump read there stalled every timer).
//! The loop swaps the prepared state in ([`Runtime::begin_reload`]; an unchanged list of
//! instances is kept as it is, with its indexes and timers) and then
//! reconfigures the changed instances a slice per loop turn ([`Runtime::continue_reload`]),
//! serving due timers and received adverts between slices, so reconfiguring 1,000 routers
//! does not hold back the adverts of the others. Semantics of a reload in progress:
//! - each instance switches atomically: it runs either its old or its new configuration,
//!   never a mix, and instances switch in the file's order;
//! - kept routers switch as their actions are worked out (a slice per turn when the list of
//!   instances stays as it is; they only share the new file's equal configuration); routers
//!   added, removed or restarted switch in the turn the last action is known;
//! - the running file (`running`, the metrics' hash, the reload counter) changes, tracked
//!   objects are re-fed and the filter follows once the last instance has switched; the
//!   `reload` reply (and SIGHUP's next transaction step) waits for that;
//! - the loop takes no other reload until this one is done (the next waits in the commit
//!   channel); a stop in between leaves with the instances as they are, and the waiting
//!   `apply` is told the runtime is stopping.

use super::reload_classify::{Classifying, Done};
use super::reload_plan::ReloadPlan;
use super::{Instance, Runtime, lock, open_unicast, unix_now};
use crate::config::{self, RouterConfig};
use crate::kernel::{Kernel, Snapshot};
use crate::plan::ProtodownOwner;
use crate::reconcile::kernel::{self, Failure};
use crate::reconcile::routers::{ReloadReport, RouterAction};
use crate::reconcile::{RunningState, RuntimeSettings, SCHEMA};
use crate::types::Family;
use crate::vrrp::router::{Action, Input, Reason, State, Time};
use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// How long one loop turn reconfigures instances of a reload before it lets timers and
/// adverts through (half the lateness a router at the shortest advert interval, 10 ms,
/// tolerates: a timer falling due during a slice waits for its end).
pub(super) const RELOAD_SLICE: Duration = Duration::from_micros(500);

/// What reloads send the loop (one channel, so a reload sees the routers after any swap
/// in progress): a question, then the prepared reload.
pub(in crate::daemon) enum Commit {
    /// The routers running now, to compare the new file's with off the loop.
    Running(oneshot::Sender<Vec<Arc<RouterConfig>>>),
    /// A prepared reload to swap in.
    Swap(Box<Prepared>),
}

/// A reload prepared off the loop (file read, checked and hashed, kernel dumped, routers
/// compared), for the loop to swap in.
pub(in crate::daemon) struct Prepared {
    file: PathBuf,
    /// The new file's configuration without its routers (in `routers`).
    config: config::Config,
    routers: Vec<Arc<RouterConfig>>,
    /// The new file's VRRS database, before it takes over the running one's state.
    vrrs: crate::vrrs::Vrrs,
    plan: ReloadPlan,
    snapshot: Snapshot,
    /// SHA-256 of the file (hex), for the metrics.
    sha256: String,
    /// The client's deadline (see [`crate::daemon::control::reload_deadline`]), if it gave one.
    answer_by: Option<u64>,
    done: oneshot::Sender<Result<ReloadReport, String>>,
}

/// A reload being swapped in over loop turns (see the module comment).
pub(super) struct Swap {
    /// Instances still to reconfigure: their position in the list and new configuration.
    pub(super) pending: VecDeque<(usize, Arc<RouterConfig>)>,
    /// The running instances' actions being worked out (the first step; see
    /// [`super::reload_classify`]), None once they are known.
    classifying: Option<Classifying>,
    /// Every instance of the old list with its action (the report).
    pub(super) done: Done,
    /// `[[track]]` objects re-read: their state is fed to the routers at the end.
    retracked: Vec<String>,
    /// The new file's configuration without its routers (in `routers`).
    config: config::Config,
    pub(super) routers: Vec<Arc<RouterConfig>>,
    file: PathBuf,
    sha256: String,
    reply: oneshot::Sender<Result<ReloadReport, String>>,
    /// Some instance is reconfigured in place.
    reconfigured: bool,
    began: std::time::Instant,
    /// Time on the loop: the first turn, and all turns.
    first_turn: Duration,
    busy: Duration,
    /// The loop thread's CPU time in the first turn and in all turns (unlike the times
    /// above, not stretched by other processes taking the CPU meanwhile).
    first_turn_cpu: Duration,
    busy_cpu: Duration,
    turns: u32,
    /// What the reload replaced (the old snapshot, configuration and routers, the plan),
    /// freed on a blocking thread once the swap is done. Freed while the swap runs, the
    /// thousands of frees contended with the loop's allocations for the heap's one arena
    /// (`M_ARENA_MAX=1`): perf sched showed the loop and a blocking thread waking each
    /// other ~40 times in 2 ms and the swap's turns taking 4 ms of loop time instead of 2.
    pub(super) garbage: Vec<Box<dyn Send>>,
}

/// The netlink connection reloads read and change the kernel through: one, opened at
/// start, used by one reload at a time (a socket serves one dump at a time).
pub(in crate::daemon) type ReconcileKernel = Arc<tokio::sync::Mutex<Kernel>>;

/// A new file's configuration with its routers taken out as shared copies (one each, with
/// the instances), and the VRRS database it describes (built from the routers' leader names
/// before they left the configuration).
struct Shared {
    config: config::Config,
    routers: Vec<Arc<RouterConfig>>,
    vrrs: crate::vrrs::Vrrs,
}

/// [`Shared`] from a new file's configuration, on a blocking thread.
async fn share_off_loop(mut config: config::Config) -> Result<Shared, String> {
    tokio::task::spawn_blocking(move || {
        let vrrs = crate::vrrs::Vrrs::new(&config);
        let routers = super::reload_plan::shared(std::mem::take(&mut config.routers));
        Shared {
            config,
            routers,
            vrrs,
        }
    })
    .await
    .map_err(|e| format!("the reload's preparation failed: {e}"))
}

/// Hand a prepared reload to the loop and wait for what it did. The file's hash and the
/// comparison of its routers with the running ones are made on a blocking thread.
async fn commit(
    commits: &mpsc::Sender<Commit>,
    file: PathBuf,
    shared: Shared,
    snapshot: Snapshot,
    answer_by: Option<u64>,
) -> Result<ReloadReport, String> {
    let Shared {
        config,
        routers,
        vrrs,
    } = shared;
    let stopping = |_| "the runtime is stopping".to_string();
    let (ask, answer) = oneshot::channel();
    commits
        .send(Commit::Running(ask))
        .await
        .map_err(|_| "the runtime is stopping".to_string())?;
    let running = answer.await.map_err(stopping)?;
    let hashed = file.clone();
    let (sha256, routers, plan) = tokio::task::spawn_blocking(move || {
        let sha256 = crate::daemon::metrics::file_sha256(&hashed);
        let plan = ReloadPlan::new(running, &routers);
        (sha256, routers, plan)
    })
    .await
    .map_err(|e| format!("the reload's preparation failed: {e}"))?;
    let (done, wait) = oneshot::channel();
    commits
        .send(Commit::Swap(Box::new(Prepared {
            file,
            config,
            routers,
            vrrs,
            plan,
            snapshot,
            sha256,
            answer_by,
            done,
        })))
        .await
        .map_err(|_| "the runtime is stopping".to_string())?;
    wait.await.map_err(stopping)?
}

/// A `reload` control request (apply has reconciled the kernel): read the file and dump the
/// kernel off the loop, then let the loop swap.
pub(in crate::daemon) async fn prepare(
    kernel: ReconcileKernel,
    file: PathBuf,
    answer_by: Option<u64>,
    commits: mpsc::Sender<Commit>,
    failures: mpsc::UnboundedSender<()>,
) -> Result<ReloadReport, String> {
    let prepared = async {
        let config = kernel::load_config_off_loop(&file, true)
            .await
            .map_err(|f| f.to_string())?;
        // Before the dump: the parser's buffers are gone by then (the peak of a reload at
        // thousands of routers).
        let shared = share_off_loop(config).await?;
        let k = kernel.lock().await;
        let snapshot = k.snapshot().await.map_err(|e| format!("{e:#}"))?;
        Ok::<_, String>((shared, snapshot))
    }
    .await;
    match prepared {
        // A failed commit is counted by the loop itself.
        Ok((shared, snapshot)) => commit(&commits, file, shared, snapshot, answer_by).await,
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
                config,
                snapshot,
                desired,
                owned,
                warnings,
            } = loaded;
            // Not kept alive while the loop swaps (the desired state is as large as a
            // snapshot).
            drop((desired, owned, warnings, plan));
            let refused = |why| Failure::Reload {
                why,
                rollback: "nothing was changed".into(),
            };
            let shared = share_off_loop(config).await.map_err(refused)?;
            return commit(&commits, file.clone(), shared, snapshot, None)
                .await
                .map(Some)
                .map_err(refused);
        }
        let config = loaded.config.clone();
        kernel::execute(&k, &run_dir, loaded, &plan, owner, || async {
            let shared = share_off_loop(config).await.map_err(anyhow::Error::msg)?;
            let snapshot = k.snapshot().await?;
            commit(&commits, file.clone(), shared, snapshot, None)
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
    /// A message of a reload: answer which routers run, or start swapping in a prepared
    /// reload.
    pub(super) async fn begin_reload(&mut self, c: Commit) {
        match c {
            // Shared copies: the comparison reads them on a blocking thread.
            Commit::Running(reply) => drop(reply.send(self.routers.clone())),
            Commit::Swap(prepared) => {
                if let Some(deadline) = prepared.answer_by
                    && crate::daemon::control::monotonic_ms() > deadline
                {
                    // The client has given up (a stopped or swamped runtime): it told its
                    // user the reload failed and undid its kernel changes.
                    self.stats.reload_failures += 1;
                    tracing::warn!(target: "netvrrp::command", file = %prepared.file.display(), "reload dropped: its client stopped waiting before it could be swapped in (routers keep running as they were)");
                    let why = "the reload came to the runtime after its client had stopped \
                               waiting; nothing was changed";
                    // What it prepared (thousands of allocations) is freed off the loop.
                    drop(tokio::task::spawn_blocking(move || {
                        drop(prepared.done.send(Err(why.into())))
                    }));
                    return;
                }
                self.swap_in(*prepared).await
            }
        }
    }

    /// The first part of a swap: the access policy, the kernel snapshot, VRRS, clients and
    /// `[[track]]` objects follow the new file. Returns the re-read tracked objects and the
    /// old snapshot (to be freed once the swap is done).
    async fn adopt_settings(
        &mut self,
        config: &config::Config,
        snapshot: &Arc<Snapshot>,
        vrrs: crate::vrrs::Vrrs,
    ) -> (Vec<String>, Arc<Snapshot>) {
        self.access = super::super::access::Policy::from_config(&config.runtime);
        self.set_socket_mode();
        let old_snapshot = std::mem::replace(&mut self.snapshot, snapshot.clone());
        // Fan-outs of the old configuration name clients by their old positions: let them
        // reach the runners before those follow the new configuration (none pending: no
        // round trip to the executor thread, which a busy machine may not run for a while).
        if self.vrrs_pending.load(std::sync::atomic::Ordering::SeqCst) > 0 {
            self.flush_vrrs().await;
        }
        let mut fan = self.vrrs.adopt(vrrs);
        if self.vrrs.needs_snapshot() {
            fan.append(self.vrrs.on_snapshot(snapshot));
        }
        lock(&self.runners).reconfigure(config);
        // `[[track]]` objects: unchanged ones keep their state, the others are re-read.
        let retracked = self.tracks.reconfigure(config);
        self.carry_out(fan);
        (retracked, old_snapshot)
    }

    /// Start swapping in a prepared reload (on the loop): the settings, VRRS, clients and
    /// `[[track]]` objects follow the new file at once; each running instance's action is
    /// then worked out ([`super::reload_classify`]: removed and restarted instances leave,
    /// added ones start, unchanged ones take the new file's equal configuration) and the
    /// instances to reconfigure are reconfigured, both in bounded slices, the first in this
    /// turn and the others by [`Runtime::continue_reload`].
    async fn swap_in(&mut self, p: Prepared) {
        let began = std::time::Instant::now();
        let began_cpu = thread_cpu();
        let Prepared {
            file,
            config,
            routers,
            vrrs,
            mut plan,
            snapshot,
            sha256,
            answer_by: _,
            done: reply,
        } = p;
        let snapshot = Arc::new(snapshot);
        let (retracked, old_snapshot) = self.adopt_settings(&config, &snapshot, vrrs).await;
        let mut garbage: Vec<Box<dyn Send>> = vec![Box::new(old_snapshot)];
        if !plan.is_current(&self.routers) {
            // Another reload swapped in after this one was compared: compare again, here.
            garbage.push(Box::new(std::mem::replace(
                &mut plan,
                ReloadPlan::new(self.routers.clone(), &routers),
            )));
        }
        // The same instances in the same order (the usual reload): the list, its indexes and
        // timers may stay as they are.
        let same_list = self.not_installed.is_empty()
            && super::reload_plan::same_instances(
                self.instances.iter().map(|inst| &inst.key),
                &routers,
            );
        let classifying = Classifying::new(plan, self.instances.len(), same_list);
        let mut reloading = vec![sd_notify::NotifyState::Reloading];
        if let Ok(now) = sd_notify::NotifyState::monotonic_usec_now() {
            reloading.push(now);
        }
        super::notify(&reloading);
        let first_turn = began.elapsed();
        let first_turn_cpu = thread_cpu().saturating_sub(began_cpu);
        self.swap = Some(Swap {
            reconfigured: false,
            pending: VecDeque::new(),
            classifying: Some(classifying),
            done: Done::InPlace(Vec::new()),
            retracked,
            config,
            routers,
            file,
            sha256,
            reply,
            began,
            first_turn,
            busy: first_turn,
            first_turn_cpu,
            busy_cpu: first_turn_cpu,
            turns: 1,
            garbage,
        });
        // The first slice of the classification in this turn (all of it if not sliced).
        self.continue_reload_from(began, false).await;
    }

    /// Work out the next instances' actions of the reload in progress, or reconfigure the
    /// next instances, for at most [`RELOAD_SLICE`] or until a router timer is due (at least
    /// one instance a turn), then let the loop serve timers and adverts; finish the reload
    /// after the last one.
    pub(super) async fn continue_reload(&mut self) {
        self.continue_reload_from(std::time::Instant::now(), true)
            .await;
    }

    /// [`Runtime::continue_reload`] in a slice that began at `slice` (the first turn's
    /// began with the swap), counted as a turn of its own if `new_turn`.
    async fn continue_reload_from(&mut self, slice: std::time::Instant, new_turn: bool) {
        let Some(mut swap) = self.swap.take() else {
            return;
        };
        let slice_began = self.now();
        let slice_cpu = thread_cpu();
        if new_turn {
            swap.turns += 1;
        }
        if let Some(mut c) = swap.classifying.take() {
            let budget = c.sliced().then_some((slice, slice_began));
            if !self.classify(&mut c, &swap.routers, budget) {
                swap.classifying = Some(c);
                self.end_slice(swap, slice, slice_cpu, new_turn).await;
                return;
            }
            self.settle(&mut swap, c).await;
            swap.reconfigured = !swap.pending.is_empty();
        }
        while let Some((i, rc)) = swap.pending.pop_front() {
            let now = self.now();
            let attributes = match swap.done.get(i, &self.instances[i].key) {
                Some(RouterAction::Reconfigure { attributes }) => attributes.join(","),
                _ => String::new(),
            };
            self.reconfigure_instance(i, rc, &attributes, now).await;
            // Gratuitous ARP / NA of added VIPs leave as we go, so the slice's time includes
            // the sending (adverts are timers, see `Router::reconfigure`).
            if self.frames.queued() >= super::timer_set::SERVED_PER_LOOK {
                self.flush_frames();
            }
            // A reconfigured Master's advert is its own timer, due at once: only timers due
            // before the slice began end it early; the others wait at most the slice.
            let timer_due = self.timers.is_due(slice_began);
            if timer_due || slice.elapsed() >= RELOAD_SLICE {
                break;
            }
        }
        self.end_slice(swap, slice, slice_cpu, new_turn).await;
    }

    /// Count a slice's time (in the first turn's figures too unless `new_turn`) and finish
    /// the reload if nothing is left.
    async fn end_slice(
        &mut self,
        mut swap: Swap,
        slice: std::time::Instant,
        slice_cpu: Duration,
        new_turn: bool,
    ) {
        let cpu = thread_cpu().saturating_sub(slice_cpu);
        if new_turn {
            swap.busy += slice.elapsed();
            swap.busy_cpu += cpu;
        } else {
            // The first turn: its time runs from the swap's start.
            swap.first_turn = slice.elapsed();
            swap.busy = swap.first_turn;
            swap.first_turn_cpu += cpu;
            swap.busy_cpu = swap.first_turn_cpu;
        }
        let finished = swap.classifying.is_none() && swap.pending.is_empty();
        self.swap = Some(swap);
        if finished {
            self.finish_reload().await;
        }
    }

    /// The last step of a reload: the new file is the running one, the report goes back.
    async fn finish_reload(&mut self) {
        let Some(swap) = self.swap.take() else {
            return;
        };
        let finishing = std::time::Instant::now();
        let finishing_cpu = thread_cpu();
        let done = swap.done;
        self.feed_tracks(&swap.retracked).await;
        self.follow_running_instances();
        // VIPs, accept-mode and peers of reconfigured routers are the filter's business.
        self.filter_dirty |= swap.reconfigured;
        let old_config = std::mem::replace(&mut self.config, Arc::new(swap.config));
        let old_routers = std::mem::replace(&mut self.routers, swap.routers);
        let mut garbage = swap.garbage;
        garbage.push(Box::new((old_config, old_routers)));
        // An old instance reconfigured, restarted or removed.
        let old_changed = !done.all_kept();
        self.stats
            .reloaded(swap.sha256, old_changed || swap.reconfigured);
        self.file = swap.file;
        // Only a reload that changed something counts (a no-op apply is not a reload): an
        // old instance not kept as it ran, or a new one.
        if old_changed || self.instances.len() > done.len() {
            self.reloads += 1;
        }
        let finish = finishing.elapsed();
        let busy = swap.busy + finish;
        let busy_cpu = swap.busy_cpu + thread_cpu().saturating_sub(finishing_cpu);
        super::notify(&[sd_notify::NotifyState::Ready]);
        self.heap_trim.notify_one();
        // The report (a name per instance), the log line and the reply, off the loop.
        let (routers, instances, reply) = (self.routers.clone(), self.instances.len(), swap.reply);
        let (turns, first_turn, first_turn_cpu, began) =
            (swap.turns, swap.first_turn, swap.first_turn_cpu, swap.began);
        let restart_pending = crate::reconcile::restart_pending(
            &self.started_settings(),
            &RuntimeSettings::from(&self.config.runtime),
        );
        for key in &restart_pending {
            tracing::warn!(target: "netvrrp::command", "[runtime] {key}");
        }
        drop(tokio::task::spawn_blocking(move || {
            let report = ReloadReport {
                schema: SCHEMA,
                routers: done.report(&routers),
                instances,
                restart_pending,
            };
            let count = |word: &str| {
                report
                    .routers
                    .iter()
                    .filter(|c| c.action.word() == word)
                    .count()
            };
            tracing::info!(target: "netvrrp::protocol", kept = count("keep"), reconfigured = count("reconfigure"), restarted = count("restart"), added = count("add"), removed = count("remove"), total = instances, turns, first_turn_us = first_turn.as_micros() as u64, loop_us = busy.as_micros() as u64, first_turn_cpu_us = first_turn_cpu.as_micros() as u64, finish_us = finish.as_micros() as u64, loop_cpu_us = busy_cpu.as_micros() as u64, wall_us = began.elapsed().as_micros() as u64, "reloaded");
            let _ = reply.send(Ok(report));
            // What the reload replaced (the old snapshot, the old file's routers: thousands of
            // allocations, milliseconds) is freed here too, not on the election loop.
            drop((routers, garbage));
        }));
    }

    /// Apply a router's new configuration to its running instance `i` (no transition of its
    /// own: a Master stays Master unless the RFC rules say otherwise). `attributes` (what
    /// changed) is for the debug line.
    async fn reconfigure_instance(
        &mut self,
        i: usize,
        rc: Arc<RouterConfig>,
        attributes: &str,
        now: Time,
    ) {
        let snapshot = self.snapshot.clone();
        let was_shut = self.instances[i].config.shutdown;
        let shutting_down = rc.shutdown && !was_shut;
        if shutting_down {
            // Priority 0 goes out as the peers know this router now: with the running
            // transport (multicast or the old unicast peers) and VIP list, before either
            // follows the new file.
            self.feed(i, now, Input::Shutdown).await;
        }
        let inst = &mut self.instances[i];
        let family = inst.key.family;
        let params = crate::daemon::router_params::router_params(&rc, family, inst.primary);
        let track_down: Vec<bool> = rc
            .track
            .iter()
            .map(|t| !crate::track::entry_up(t, &snapshot, &self.tracks))
            .collect();
        let vips: Vec<IpAddr> = rc.addresses(family).iter().map(|n| n.addr()).collect();
        let added: Vec<IpAddr> = vips
            .iter()
            .filter(|v| !inst.vips.contains(v))
            .copied()
            .collect();
        if inst.config.unicast_peers != rc.unicast_peers {
            inst.unicast = open_unicast(&rc, family, inst.parent_index, inst.primary);
        }
        let announce = inst.vips != vips;
        inst.vips = vips;
        inst.config = rc;
        let mut refused = None;
        let mut priority = None;
        self.drive(i, now, |router, now, out| {
            if let Err(e) = router.reconfigure(now, params, &track_down, announce, out) {
                refused = Some(e);
            }
            // The reload's summary line says how many routers changed: one info line per
            // router (1,000 written from the election loop) would only repeat it.
            out.retain(|a| match *a {
                Action::EffectivePriorityChanged { from, to } => {
                    priority = Some((from, to));
                    false
                }
                _ => true,
            });
        })
        .await;
        let inst = &self.instances[i];
        tracing::debug!(target: "netvrrp::protocol", interface = %inst.key.interface, vrid = inst.key.vrid, family = %family, attributes, ?priority, "reconfigured in place");
        if let Some(e) = refused {
            // Validation makes this unreachable from a file; say so rather than guess.
            tracing::error!(target: "netvrrp::protocol", interface = %inst.key.interface, vrid = inst.key.vrid, %family, "reconfiguration refused, old parameters kept: {e}");
        }
        if was_shut && !inst.config.shutdown {
            self.feed(i, now, Input::Startup).await;
        }
        // Only the VIPs that are new get gratuitous ARP / NA: hosts already know the others.
        let inst = &mut self.instances[i];
        if !added.is_empty() && inst.router.state() == State::Master && inst.device_index.is_some()
        {
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
        }
    }

    /// VRRS leaders that a reload gave to routers it kept running follow their instance's
    /// state from now on, as after a start ([`crate::vrrs::Vrrs::follow_running`]): such a
    /// router makes no transition that would tell them.
    fn follow_running_instances(&mut self) {
        if self.vrrs.names().next().is_none() {
            return;
        }
        let followed = followed_instances(&self.instances);
        let fan = self
            .vrrs
            .follow_running(unix_now(), |interface, vrid, family| {
                followed.get(&(interface, vrid, family)).copied()
            });
        if !fan.is_empty() {
            self.carry_out(fan);
        }
    }

    /// The VRRS leaders that do not follow the state of their running instance (drift: see
    /// [`Runtime::follow_running_instances`]).
    fn unfollowed_leaders(&self) -> Vec<String> {
        if self.vrrs.names().next().is_none() {
            return Vec::new();
        }
        let followed = followed_instances(&self.instances);
        self.vrrs
            .unfollowed(|interface, vrid, family| {
                followed.get(&(interface, vrid, family)).map(|(s, _)| *s)
            })
            .into_iter()
            .map(String::from)
            .collect()
    }

    /// The `[runtime]` settings in force: the file's, but those read at start only as they
    /// were then.
    fn started_settings(&self) -> RuntimeSettings {
        RuntimeSettings {
            metrics_listen: self.metrics_listen.clone(),
            realtime_priority: self.started_realtime_priority,
            ..RuntimeSettings::from(&self.config.runtime)
        }
    }

    /// Who this runtime is and what it runs (the `running` control request).
    pub(super) fn running_state(&self) -> RunningState {
        RunningState {
            schema: SCHEMA,
            pid: std::process::id(),
            file: self.file.clone(),
            run_dir: self.run_dir.clone(),
            netns: crate::daemon::identity::own_netns(),
            routers: self.routers.iter().map(|r| (**r).clone()).collect(),
            pathways: self.config.pathways.clone(),
            clients: self.config.clients.clone(),
            tracks: self.config.tracks.clone(),
            settings: self.started_settings(),
            vrrs_unfollowed: self.unfollowed_leaders(),
        }
    }
}

/// The state and last transition's reason of each running instance that VRRS leaders may
/// follow (its router names leaders for its family), by interface, VRID and family.
#[allow(clippy::vec_box)] // the instance list, see `Runtime::instances`
fn followed_instances(instances: &[Box<Instance>]) -> HashMap<(&str, u8, Family), (State, Reason)> {
    instances
        .iter()
        .filter(|inst| {
            !inst.config.vrrs_leader.is_empty() && inst.key.family == inst.config.leader_family()
        })
        .map(|inst| {
            let key = (inst.key.interface.as_str(), inst.key.vrid, inst.key.family);
            // An instance out of Initialize has made a transition: the fallback is not used.
            let reason = inst.last_reason.unwrap_or(Reason::Startup);
            (key, (inst.router.state(), reason))
        })
        .collect()
}

/// The calling thread's CPU time (zero if the clock cannot be read).
fn thread_cpu() -> Duration {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the timespec it is given and nothing else.
    if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) } != 0 {
        return Duration::ZERO;
    }
    Duration::new(
        u64::try_from(t.tv_sec).unwrap_or(0),
        u32::try_from(t.tv_nsec).unwrap_or(0),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The routers leave the configuration off the loop; the VRRS database (its leader
    /// names come from the routers) must be built before they do.
    #[tokio::test]
    async fn shared_keeps_the_vrrs_leaders_the_routers_name() {
        let text = "[[vrrp]]\ninterface = \"eth0\"\nvrid = 5\nipv4 = [\"192.0.2.1/24\"]\nvrrs-leader = [\"group1\"]\n\n[[vrrp]]\ninterface = \"eth0\"\nvrid = 6\nipv4 = [\"192.0.2.2/24\"]\n";
        let config = crate::config::parse_str(text, "t.toml").expect("test config parses");
        let shared = share_off_loop(config).await.expect("shared");
        assert!(shared.config.routers.is_empty());
        assert_eq!(shared.routers.len(), 2);
        assert_eq!(shared.vrrs.names().collect::<Vec<_>>(), vec!["group1"]);
    }
}
