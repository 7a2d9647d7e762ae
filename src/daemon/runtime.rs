//! The event loop: one task drives every router. Timers live in one ordered set, received
//! adverts are read by the loop itself from one receive socket per (parent, family) into one
//! reused buffer, every frame sent goes through one packet socket in one `sendmmsg` per
//! loop turn ([`net::FrameBatch`]), kernel
//! events through one netlink multicast stream, control requests through one channel. VRRS
//! fan-outs are computed in the loop and carried out in order by their own OS thread (with
//! its own event loop and netlink socket, see [`spawn_vrrs_executor`]); the nftables filter
//! runs in a task of its own. The layering is described in docs/architecture.md.

use super::control::{self, Reply, Request};
use crate::config::{self, RouterConfig};
use crate::contract::StateEvent;
use crate::kernel::{Kernel, KernelEvent, Snapshot};
use crate::reconcile::kernel::Loaded;
use crate::types::{Family, MacAddr};
use crate::vrrp::net::{self, FrameBatch, Received, RxSocket};
use crate::vrrp::packet;
use crate::vrrp::router::{Action, Input, Reason, Router, State, Time};
use crate::vrrp::unicast::UnicastSender;
use anyhow::Context;
use futures::{FutureExt, StreamExt};
use serde_json::json;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::UnixListener;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::time::Instant;

mod background;
mod control_server;
mod drift;
mod event_loop;
mod fanout;
mod instance_key;
mod instances;
mod outward;
mod packet_log;
mod persistence;
mod promotion;
mod ra;
mod reload;
mod reload_classify;
mod reload_plan;
mod reload_thread;
mod side_loop;
mod takeover;
mod timer_set;
mod waiting;

pub(super) use background::share_one_heap_arena;
use background::*;
use control_server::*;
use fanout::*;
pub use persistence::masters_path;
use persistence::*;

/// The oldest kernel receive time stamp believed (see [`Runtime::arrival`]).
const MAX_RX_AGE: Duration = Duration::from_secs(10);

/// Packets read from one receive socket per loop turn at most.
const RX_BURST: usize = 1024;

/// The frame tag of an instance no longer in the list (its send errors have no counter).
const DETACHED: usize = usize::MAX;

/// Ready when any receive socket is readable.
fn poll_receivers(
    receivers: &HashMap<(u32, Family), RxSocket>,
    cx: &mut std::task::Context<'_>,
) -> std::task::Poll<()> {
    let mut ready = false;
    // Poll them all, so every one has the waker registered.
    for sock in receivers.values() {
        ready |= sock.poll_ready(cx).is_ready();
    }
    if ready {
        std::task::Poll::Ready(())
    } else {
        std::task::Poll::Pending
    }
}

/// How long a graceful stop waits for VRRS clients to deliver the final transition.
const CLIENT_STOP_GRACE: Duration = Duration::from_secs(2);

/// How long a [`crate::vrrs::PathwayEffect::SettleCarrier`] leaves the kernel to apply a
/// carrier by itself. It usually takes milliseconds, and it does the same for a peer on this
/// kernel (a bridge port that must forward the gratuitous ARP the pathway sends once ready,
/// which asking at once would outrun); only a backlog of other links makes it take seconds.
const SETTLE_GRACE: Duration = Duration::from_millis(250);

pub use instance_key::InstanceKey;

/// A state change as the loop publishes it (subscribe, heap trimming): the event and the
/// VRRS leader names that follow its instance (empty for the other family's instance of a
/// dual-stack router).
#[derive(Debug, Clone)]
pub struct Published {
    pub names: Vec<String>,
    pub event: StateEvent,
}

struct Instance {
    key: InstanceKey,
    /// Shared with [`Runtime::routers`] (and the other family's instance).
    config: Arc<RouterConfig>,
    router: Router,
    device: String,
    device_index: Option<u32>,
    parent_index: u32,
    vmac: MacAddr,
    vips: Vec<IpAddr>,
    primary: IpAddr,
    /// Unicast mode: adverts go to `unicast-peers` through this socket instead of the
    /// runtime's frame batch.
    unicast: Option<UnicastSender>,
    protodown: Option<bool>,
    /// The kernel refused protodown off on the way to Master: the instance is held in
    /// Initialize until the device shows no foreign protodown reason (see `resync`).
    protodown_failed: bool,
    /// Adverts sent as Master since its dead-man leases were last renewed (or installed by
    /// a state change).
    adverts_unrenewed: u8,
    /// The deadline this instance has in the timer set, if any.
    armed: Option<Time>,
    /// Last state change, seconds since the Unix epoch.
    last_change: f64,
    /// Why the last state change happened (None before the first): a VRRS leader a reload
    /// gives this running instance is connected with it (`Vrrs::follow_running`).
    last_reason: Option<Reason>,
}

impl Instance {
    /// The configured advertisement interval.
    fn interval(&self) -> Duration {
        Duration::from_millis(u64::from(self.config.advertisement_interval_ms))
    }

    /// The advert this instance sends with `priority` and `interval_cs`.
    fn advert(&self, priority: u8, interval_cs: u16) -> packet::Advert {
        packet::Advert::new(
            self.config.version.number(),
            self.key.vrid,
            priority,
            interval_cs,
            &self.vips,
        )
    }
}

enum Control {
    /// A request, who sent it (what it may see and reload depends on that; see
    /// [`super::access::Peer`]), and where the reply goes.
    Request(Request, super::access::Peer, oneshot::Sender<Reply>),
    /// A subscriber joins: it gets the current state of every leader name and a receiver
    /// subscribed at the same instant, so it can miss nothing in between.
    Subscribe(oneshot::Sender<Subscription>),
}

/// What a subscriber gets: the current leader rows, VRRP state changes from then on, and
/// `[[track]]` state changes.
type Subscription = (
    Vec<crate::contract::StreamEvent>,
    broadcast::Receiver<Published>,
    broadcast::Receiver<crate::track::TrackEvent>,
    // The `[[track]]` objects' names (a subscriber may ask for their events by name).
    Vec<String>,
);

pub struct Runtime {
    run_dir: PathBuf,
    file: PathBuf,
    kernel: Kernel,
    base: Instant,
    /// The latest time handed to a router: inputs never go back in time, even when a
    /// packet's arrival time is earlier than a timer already handled.
    floor: Time,
    /// Boxed: a reload moves the kept instances from the old list to the new one, and an
    /// instance is ~1 KB (4 MB of vector per list at 4,000 routers, two or three lists alive
    /// at once).
    #[allow(clippy::vec_box)]
    instances: Vec<Box<Instance>>,
    by_vrid: HashMap<(u32, Family, u8), usize>,
    timers: timer_set::TimerSet,
    receivers: HashMap<(u32, Family), RxSocket>,
    /// The receive buffer, reused for every packet.
    rx_buf: Vec<u8>,
    /// Every frame this loop sends, flushed once per loop turn and before each netlink
    /// request (so an advert never waits for a round trip), except the protodown off and
    /// filter opening of a new Master, which its first advert waits for (`promotion.rs`).
    frames: FrameBatch,
    events: broadcast::Sender<Published>,
    scratch: Vec<Action>,
    reloads: u64,
    /// What only the metrics read (reloads that changed something, failures, config hash).
    stats: super::metrics::RuntimeStats,
    /// The nftables filter runs in its own task: `nft` takes milliseconds, which must not
    /// delay adverts. Only a new Master's part is done by the loop itself (see
    /// [`FilterHandle::promote`]).
    filter: FilterHandle,
    /// A state changed since the filter was last synced.
    filter_dirty: bool,
    /// Masters that sent an advert since the filter was last synced: their dead-man leases
    /// are renewed once the frames are out (see [`crate::daemon::filter::lease_for`]).
    renewals: Vec<crate::daemon::filter::Renewal>,
    /// The kernel renews set-element timeouts: Masters hold dead-man leases (else
    /// permanent elements, see `host::LEASE_RENEWAL_KERNEL`).
    deadman: bool,
    vrrs: crate::vrrs::Vrrs,
    /// Shared with the VRRS executor, which hands notices over once a fan-out's kernel work
    /// is done.
    runners: Arc<Mutex<crate::vrrs::ClientRunners>>,
    /// VRRS fan-outs are carried out by their own thread, in order (see
    /// [`spawn_vrrs_executor`] and [`Runtime::carry_out`]).
    vrrs_exec: mpsc::UnboundedSender<VrrsJob>,
    /// Fan-outs handed to the executor and not finished yet.
    vrrs_pending: Arc<std::sync::atomic::AtomicUsize>,
    /// One message per finished fan-out (taken by `run`).
    fanout_done: Option<mpsc::UnboundedReceiver<()>>,
    /// Wakes the heap trimmer after a reload (see [`spawn_heap_trimmer`]).
    heap_trim: Arc<tokio::sync::Notify>,
    /// Link events arrived while a fan-out was in flight; re-read once it is done.
    links_stale: bool,
    /// The last kernel view (ifindexes and link-locals for VRRS pathways).
    snapshot: Arc<Snapshot>,
    /// `[runtime] metrics-listen` at start (a reload does not move the listener).
    metrics_listen: Option<String>,
    /// `[runtime] control-group` / `control-read-group` (follows reloads).
    access: super::access::Policy,
    /// Instances that were Master when the previous runtime died without leaving (from
    /// `<run-dir>/masters.json`): they get [`Input::Resume`] after their first Startup.
    resume: HashSet<InstanceKey>,
    /// Instances whose device answered for their VIPs when the runtime started (another
    /// daemon's Master, adopted by `apply`): kept answering until the protocol decides
    /// (see `takeover.rs`).
    holding: HashSet<InstanceKey>,
    /// Masters whose device another program holds in protodown with a reason bit (logged
    /// once, see `drift.rs`).
    foreign_protodown: HashSet<InstanceKey>,
    /// An instance entered or left Master since `masters.json` was last written.
    masters_dirty: bool,
    /// After a failed write of `masters.json`: not before this (see `sync_masters`).
    masters_retry_at: Option<std::time::Instant>,
    /// The configuration running now (the `running` control request), without its routers:
    /// those are in `routers`.
    config: Arc<config::Config>,
    /// Every router of the running file, in the file's order, shared with their instances
    /// (reloads compare against the instances' configurations).
    routers: Vec<Arc<RouterConfig>>,
    /// A reload being swapped in, a slice per loop turn (see [`reload`]).
    swap: Option<reload::Swap>,
    /// `[runtime] realtime-priority` at start (a reload keeps the policy).
    started_realtime_priority: Option<u8>,
    /// `[[track]]` objects' trackers and states (see [`crate::track`]).
    tracks: crate::track::TrackSet,
    /// Router Advertisements of the IPv6 instances that send them (see [`ra`]).
    ra: ra::RaRuntime,
    /// Instances of the configuration that could not be installed, and why (see
    /// [`waiting`]).
    not_installed: Vec<waiting::NotInstalled>,
    /// Instances whose vrrp device was changed behind our back, and how (see [`drift`]).
    drifted: HashMap<InstanceKey, drift::Drift>,
}

/// Tell systemd (when NOTIFY_SOCKET is set; a no-op otherwise).
fn notify(state: &[sd_notify::NotifyState]) {
    if let Err(e) = sd_notify::notify(state) {
        tracing::debug!(target: "netvrrp::protocol", "sd_notify: {e}");
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Our primary address for an instance: the parent's first IPv4 address, or (IPv6) the
/// parent's link-local. Both are stable for the life of the parent and unique on the link,
/// which the equal-priority tie-break needs.
fn primary_address(snapshot: &Snapshot, parent_index: u32, family: Family) -> Option<IpAddr> {
    let parent = snapshot.by_index(parent_index)?;
    parent
        .addresses
        .iter()
        .map(|a| a.addr())
        .find(|a| match (family, a) {
            (Family::Ipv4, IpAddr::V4(_)) => true,
            (Family::Ipv6, IpAddr::V6(v6)) => (v6.segments()[0] & 0xffc0) == 0xfe80,
            _ => false,
        })
}

impl Runtime {
    /// Build every instance from the loaded config, open sockets and the control socket.
    pub async fn start(run_dir: PathBuf, file: PathBuf, loaded: Loaded) -> anyhow::Result<Runtime> {
        let kernel = Kernel::connect().await?;
        let frames = FrameBatch::open().context("cannot open the send socket")?;
        let (events, _) = broadcast::channel(1024);
        let runners = Arc::new(Mutex::new(crate::vrrs::ClientRunners::spawn(
            &loaded.config,
        )));
        // Its own rtnetlink socket: a socket serves one dump at a time (EBUSY otherwise), and
        // the loop dumps (resync) while the executor may (re-creating a pathway device). The
        // name → ifindex cache is shared, kept current by the loop's snapshots.
        let vrrs_pending = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (fanout_done_send, fanout_done) = mpsc::unbounded_channel();
        // The snapshot was taken by another handle: without its names, the first fan-out
        // would look up every pathway device one RTM_GETLINK at a time (13 ms for 1,000).
        kernel.remember(&loaded.snapshot);
        // The runtime keeps the configuration and the snapshot as they are (no copies), and
        // what only `apply` needed goes now, before the instances are built.
        let Loaded {
            mut config,
            snapshot,
            desired,
            owned,
            warnings,
        } = loaded;
        drop((desired, owned, warnings));
        let vrrs = crate::vrrs::Vrrs::new(&config);
        let mut tracks = crate::track::TrackSet::new();
        tracks.reconfigure(&config);
        // One copy of each router, shared by the runtime and its instances.
        let routers = reload_plan::shared(std::mem::take(&mut config.routers));
        let (config, snapshot) = (Arc::new(config), Arc::new(snapshot));
        let vrrs_exec = spawn_vrrs_executor(
            kernel.clone(),
            frames.sibling(),
            runners.clone(),
            vrrs_pending.clone(),
            fanout_done_send,
        )?;
        let stats = super::metrics::RuntimeStats::new(&file);
        let filter = spawn_filter_task(stats.filter_failures.clone());
        let mut rt = Runtime {
            run_dir,
            file,
            kernel,
            base: Instant::now(),
            floor: Time::ZERO,
            instances: Vec::new(),
            by_vrid: HashMap::new(),
            timers: timer_set::TimerSet::default(),
            receivers: HashMap::new(),
            rx_buf: vec![0; net::RX_BUFFER_LEN],
            frames,
            events,
            scratch: Vec::with_capacity(16),
            reloads: 0,
            stats,
            filter,
            filter_dirty: true,
            renewals: Vec::new(),
            deadman: crate::host::renews_set_element_timeouts(),
            vrrs,
            runners,
            vrrs_exec,
            vrrs_pending,
            fanout_done: Some(fanout_done),
            heap_trim: Arc::new(tokio::sync::Notify::new()),
            links_stale: false,
            snapshot: snapshot.clone(),
            metrics_listen: config.runtime.metrics_listen.clone(),
            access: super::access::Policy::from_config(&config.runtime),
            resume: HashSet::new(),
            holding: HashSet::new(),
            foreign_protodown: HashSet::new(),
            masters_dirty: true,
            masters_retry_at: None,
            config: config.clone(),
            routers: Vec::new(),
            swap: None,
            started_realtime_priority: config.runtime.realtime_priority,
            tracks,
            ra: ra::RaRuntime::default(),
            not_installed: Vec::new(),
            drifted: HashMap::new(),
        };
        if !rt.deadman {
            tracing::warn!(target: "netvrrp::kernel", "this kernel does not renew nftables set-element timeouts (Linux {}.{} does): the dead-man switch is off, so a Master whose runtime is killed keeps answering for its VIPs until `netvrrp down`", crate::host::LEASE_RENEWAL_KERNEL.0, crate::host::LEASE_RENEWAL_KERNEL.1);
        }
        rt.resume = load_masters(&rt.run_dir);
        if !rt.resume.is_empty() {
            tracing::info!(target: "netvrrp::protocol", masters = rt.resume.len(), "the previous runtime died while Master: resuming");
        }
        rt.holding = takeover::live_devices(&snapshot, &routers);
        if !rt.holding.is_empty() {
            tracing::info!(target: "netvrrp::protocol", devices = rt.holding.len(), "vrrp devices answer for their VIPs at start (the previous Master's): they keep answering while their routers take over");
            rt.resume.extend(rt.holding.iter().cloned());
        }
        let fan = rt.vrrs.on_snapshot(&snapshot);
        rt.carry_out(fan);
        rt.install(&routers, &snapshot, Vec::new()).await;
        rt.routers = routers;
        // Only the first start resumes; a later reload starts routers afresh.
        rt.resume.clear();
        // A router that could not start now (see `waiting.rs`) starts later without a hold.
        let installed: HashSet<&InstanceKey> = rt.instances.iter().map(|i| &i.key).collect();
        let holding = std::mem::take(&mut rt.holding);
        rt.holding = holding
            .into_iter()
            .filter(|k| installed.contains(k))
            .collect();
        Ok(rt)
    }

    fn now(&self) -> Time {
        Time::from_duration(self.base.elapsed())
    }

    /// When a packet arrived, on the loop's clock: its kernel time stamp (wall clock) moved
    /// back from now by its age, so the time the loop took to get to it does not lengthen a
    /// backup's Master_Down_Interval. Now when there is no time stamp or it is implausible
    /// (a wall-clock step).
    fn arrival(&self, arrived: Option<std::time::SystemTime>) -> Time {
        let now = self.now();
        let age = arrived.and_then(|at| std::time::SystemTime::now().duration_since(at).ok());
        match age {
            Some(age) if age <= MAX_RX_AGE => {
                Time::from_duration(now.as_duration().saturating_sub(age))
            }
            _ => now,
        }
    }

    /// Hand a VRRS fan-out to the executor task, which carries it out after the ones before
    /// it (see [`execute_fanout`]) and then hands its notices to the client runners. This
    /// loop does not wait for it.
    fn carry_out(&self, fanout: crate::vrrs::Fanout) {
        self.vrrs_pending
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if self
            .vrrs_exec
            .send(VrrsJob::Fanout(
                fanout,
                self.snapshot.clone(),
                std::time::Instant::now(),
            ))
            .is_err()
        {
            tracing::error!(target: "netvrrp::vrrs", "the VRRS executor is gone; fan-out dropped");
        }
    }

    /// Wait until every fan-out handed over so far is carried out.
    async fn flush_vrrs(&self) {
        let (done, wait) = oneshot::channel();
        if self.vrrs_exec.send(VrrsJob::Flush(done)).is_ok() {
            let _ = wait.await;
        }
    }

    /// Give the control socket the mode the access policy needs (see [`super::access`]).
    fn set_socket_mode(&self) {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let path = control::socket_path(&self.run_dir);
        let mode = self.access.socket_mode();
        if let Err(e) = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)) {
            // Not yet bound (start) or removed by hand: nothing to open up.
            tracing::debug!(target: "netvrrp::protocol", path = %path.display(), "cannot chmod the control socket: {e}");
            return;
        }
        // Group members need to traverse the run-dir to reach the socket.
        if mode != 0o600
            && let Ok(md) = std::fs::metadata(&self.run_dir)
            && md.mode() & 0o001 == 0
        {
            tracing::warn!(target: "netvrrp::protocol", run_dir = %self.run_dir.display(), "control groups are configured but others cannot enter the run directory: `chmod o+x` it or members cannot connect");
        }
    }

    /// Every timer that is due, after what the receive sockets hold: adverts that arrived
    /// before the deadline count first, so after a stall (a slow nft, a busy machine) a
    /// backup does not declare a live master dead because its advert was still queued.
    /// They are served most urgent first, looking again for newly due ones every few (see
    /// [`timer_set`]): a burst of slow routers' adverts does not hold up a fast router's.
    async fn fire_due_timers(&mut self) {
        self.drain_receivers().await;
        let round = self.now();
        let mut now = round;
        self.timers.begin(round);
        let mut served = 0;
        while let Some((deadline, i)) = self.timers.pop_most_urgent() {
            // The timers due when the round began all get its time, as they always did:
            // routers in step stay in step (a second's 1,000 adverts in one loop turn;
            // re-armed from the time of each look, they drifted apart into one turn per look
            // and the runtime's CPU at 1,000 routers doubled). Timers found by a later look
            // get the time of that look.
            let at = if deadline <= round { round } else { now };
            self.instances[i].armed = None;
            self.feed(i, at, Input::Timer).await;
            served += 1;
            if served % timer_set::SERVED_PER_LOOK == 0 {
                self.flush_frames();
                now = self.now();
                self.timers.look(now);
            }
        }
    }

    /// When the earliest armed router timer or Router Advertisement is due, on the clock
    /// the timerfd uses.
    fn next_wakeup(&self) -> Option<std::time::Instant> {
        let router = self.timers.first();
        [router, self.ra.next_deadline()]
            .into_iter()
            .flatten()
            .min()
            .map(|t| (self.base + t.as_duration()).into_std())
    }

    /// Keep electing (timers, received adverts) until `done` resolves: the stop path waits
    /// for the filter without letting adverts lapse, or a backup could take over by
    /// Master_Down_Interval before our priority-0 advert (with 10 ms adverts, an `nft` run
    /// is several intervals).
    async fn elect_until<T>(
        &mut self,
        timer: &mut super::timer::Timer,
        done: oneshot::Receiver<T>,
    ) {
        tokio::pin!(done);
        loop {
            self.flush_frames();
            let wake = self.next_wakeup();
            tokio::select! {
                biased;
                _ = &mut done => break,
                _ = timer.sleep_until_some(wake) => {
                    self.fire_due_timers().await;
                }
                () = std::future::poll_fn(|cx| poll_receivers(&self.receivers, cx)) => {
                    self.drain_receivers().await;
                }
            }
        }
        self.flush_frames();
    }

    /// The graceful stop: block the VIPs, priority 0 from every Master, protodown on, the
    /// last VRRS notices delivered.
    async fn leave(&mut self, timer: &mut super::timer::Timer) {
        tracing::info!(target: "netvrrp::protocol", "stopping: priority 0 on every master, protodown on");
        notify(&[sd_notify::NotifyState::Stopping]);
        // The devices stay (protodown) with their VIPs, and frames for the virtual MAC keep
        // reaching them until a new master's frames move the switch's entry: block every VIP
        // *before* the priority-0 adverts (a backup takes over Skew_Time after them) and
        // leave the filter so, or the stopped router would answer for the VIPs (`down`
        // removes it).
        let (done, wait) = oneshot::channel();
        if self
            .filter
            .send(FilterJob::Leave(self.filter_state(true), done))
        {
            self.elect_until(timer, wait).await;
        }
        self.shutdown_all().await;
        self.flush_frames();
        // The last chance to record that nothing is Master: no back-off.
        self.masters_retry_at = None;
        self.sync_masters();
        // The process exits right after run(): first the executor takes every pathway down
        // and hands the last notices (to Initialize) over, then the clients get a moment to
        // deliver them (an accounting line not yet written, an exec not yet started).
        self.flush_vrrs().await;
        let runners = std::mem::take(&mut *lock(&self.runners));
        runners.finish(CLIENT_STOP_GRACE).await;
    }

    /// Leave gracefully: every Master sends priority 0; every device goes protodown.
    async fn shutdown_all(&mut self) {
        let now = self.now();
        for i in 0..self.instances.len() {
            self.feed(i, now, Input::Shutdown).await;
        }
    }

    pub async fn run(mut self) -> anyhow::Result<()> {
        use tokio::signal::unix::{SignalKind, signal};
        let sock_path = control::socket_path(&self.run_dir);
        let listener = event_loop::bind_control_socket(&sock_path)?;
        self.set_socket_mode();
        let pid_path = super::pid_path(&self.run_dir);
        self.write_pid_file(&pid_path);
        let mut kernel_events = Box::pin(crate::kernel::events().await?);
        let admission = super::admission::Admission::start();
        let mut timer = super::timer::Timer::new().context("cannot create the timer")?;
        let (ctl_send, mut ctl_recv) = mpsc::channel::<Control>(64);
        let (scrape_send, mut scrape_recv) =
            mpsc::channel::<oneshot::Sender<super::metrics::Snapshot>>(8);
        self.serve_metrics(&scrape_send).await;
        let mut fanout_done = self.fanout_done.take().context("runtime started twice")?;
        let reload_thread = reload_thread::ReloadThread::spawn(&self.kernel)?;
        let (commit_send, mut commit_recv) = mpsc::channel::<reload::Commit>(4);
        // Reloads that failed before reaching the loop (unreadable file, kernel dump).
        let (failed_send, mut failed_recv) = mpsc::unbounded_channel::<()>();
        let reloads = ReloadPaths {
            thread: reload_thread.clone(),
            commits: commit_send.clone(),
            failed: failed_send.clone(),
        };
        let mut track_reports = self
            .tracks
            .take_reports()
            .context("runtime started twice")?;
        let mut sigterm = signal(SignalKind::terminate()).context("cannot catch SIGTERM")?;
        let mut sigint = signal(SignalKind::interrupt()).context("cannot catch SIGINT")?;
        let mut sighup = signal(SignalKind::hangup()).context("cannot catch SIGHUP")?;
        tracing::info!(target: "netvrrp::protocol", instances = self.instances.len(), socket = %sock_path.display(), "runtime started");
        spawn_heap_trimmer(self.events.subscribe(), self.heap_trim.clone());
        // systemd Type=notify: the kernel is applied and the sockets are up.
        notify(&[sd_notify::NotifyState::Ready]);
        let watchdog_period = super::watchdog_period(sd_notify::watchdog_enabled());
        let mut watchdog =
            tokio::time::interval(watchdog_period.unwrap_or(Duration::from_secs(3600)));
        watchdog.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            self.sync_ras();
            self.flush_frames();
            let wake = self.next_wakeup();
            self.sync_filter();
            self.sync_masters();
            tokio::select! {
                biased;
                _ = watchdog.tick() => {
                    if watchdog_period.is_some() {
                        notify(&[sd_notify::NotifyState::Watchdog]);
                    }
                }
                _ = sigterm.recv() => break,
                _ = sigint.recv() => break,
                _ = sighup.recv() => {
                    // The same transaction as `apply`, on the reload thread; only the swap
                    // comes back here (the commit arm).
                    reload_thread.spawn_task(reload::on_sighup(
                        reload_thread.kernel(),
                        self.run_dir.clone(),
                        self.file.clone(),
                        commit_send.clone(),
                        failed_send.clone(),
                    ));
                }
                Some(()) = failed_recv.recv() => {
                    self.stats.reload_failures += 1;
                }
                _ = timer.sleep_until_some(wake) => {
                    self.fire_due_timers().await;
                }
                () = std::future::poll_fn(|cx| poll_receivers(&self.receivers, cx)) => {
                    self.drain_receivers().await;
                }
                () = std::future::poll_fn(|cx| ra::poll_solicitations(&self.ra, cx)) => {
                    self.drain_solicitations();
                }
                // A prepared reload's swap and its next slices (each holds the loop about
                // half a millisecond, see `reload::RELOAD_SLICE`): after due timers and
                // received adverts (the elections come first), before everything else (so
                // other work cannot starve them). One reload at a time: the next waits
                // until this one's last slice.
                Some(c) = commit_recv.recv(), if self.swap.is_none() => {
                    self.begin_reload(c).await;
                }
                () = std::future::ready(()), if self.swap.is_some() => {
                    self.continue_reload().await;
                }
                Some(ev) = kernel_events.next() => {
                    self.on_kernel_events(ev, &mut kernel_events).await;
                }
                Some(report) = track_reports.recv() => {
                    if self.tracks.apply(&report) {
                        self.feed_tracks(std::slice::from_ref(&report.name)).await;
                    }
                }
                Some(()) = fanout_done.recv() => {
                    if self.links_stale && self.vrrs_pending.load(std::sync::atomic::Ordering::SeqCst) == 0 {
                        self.links_stale = false;
                        self.refresh_links().await;
                    }
                }
                Ok((stream, _)) = listener.accept() => {
                    // Every connection is classified from SO_PEERCRED, whatever the socket's
                    // mode (it also covers a run-dir loosened by hand).
                    let policy = self.access.clone();
                    event_loop::admit_connection(
                        stream,
                        policy,
                        admission.clone(),
                        ctl_send.clone(),
                    );
                }
                Some(reply) = scrape_recv.recv() => {
                    let _ = reply.send(self.metrics_snapshot());
                }
                Some(msg) = ctl_recv.recv() => {
                    if let AfterControl::Stop = self.on_control(msg, &reloads) {
                        break;
                    }
                }
            }
        }
        self.leave(&mut timer).await;
        let _ = std::fs::remove_file(&sock_path);
        let _ = std::fs::remove_file(&pid_path);
        Ok(())
    }
}

/// The unicast sender of an instance in unicast mode (None otherwise, or when it cannot be
/// opened: then every advert counts as a send error; never a fallback to multicast).
fn open_unicast(
    rc: &RouterConfig,
    family: Family,
    parent_index: u32,
    primary: IpAddr,
) -> Option<UnicastSender> {
    if rc.unicast_peers.is_empty() {
        return None;
    }
    UnicastSender::open(family, parent_index, primary, &rc.unicast_peers)
        .map_err(|e| {
            tracing::error!(target: "netvrrp::packets", interface = %rc.interface, vrid = rc.vrid, %family, "cannot open the unicast send socket: {e:#}");
        })
        .ok()
}

/// One advert to every unicast peer of the instance.
fn send_unicast_advert(inst: &mut Instance, priority: u8, interval_cs: u16) {
    packet_log::sent(inst, priority, interval_cs);
    let advert = inst.advert(priority, interval_cs);
    let result = match &inst.unicast {
        Some(u) => u.send_advert(&advert, inst.config.checksum_with_ipv4_pseudoheader),
        None => Err(anyhow::anyhow!("no unicast send socket")),
    };
    if let Err(e) = result {
        inst.router.counters_mut().send_errors += 1;
        tracing::warn!(target: "netvrrp::packets", device = %inst.device, "unicast advert not sent: {e:#}");
    }
}
