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
use crate::kernel::{Kernel, KernelEvent, Snapshot};
use crate::reconcile::kernel::Loaded;
use crate::types::{Family, MacAddr};
use crate::vrrp::net::{self, FrameBatch, Received, RxSocket};
use crate::vrrp::packet;
use crate::vrrp::router::{Action, Input, Router, RouterParams, State, Time};
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

mod reload;

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

/// (interface, vrid, family): one VRRP instance.
pub type InstanceKey = (String, u8, Family);

/// A pushed state change (VRRS fan-out and `subscribe`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct StateEvent {
    pub interface: String,
    pub vrid: u8,
    pub family: Family,
    /// The VRRS leader names that follow this instance (empty for the other family's instance
    /// of a dual-stack router).
    pub names: Vec<String>,
    pub previous: State,
    pub state: State,
    pub reason: String,
    pub vmac: MacAddr,
    pub vips: Vec<IpAddr>,
    /// Seconds since the Unix epoch.
    pub time: f64,
}

struct Instance {
    key: InstanceKey,
    config: RouterConfig,
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
    /// The deadline this instance has in the timer set, if any.
    armed: Option<Time>,
    /// Last state change, seconds since the Unix epoch.
    last_change: f64,
}

impl Instance {
    /// The advert this instance sends with `priority` and `interval_cs`.
    fn advert(&self, priority: u8, interval_cs: u16) -> packet::Advert {
        packet::Advert::new(
            self.config.version.number(),
            self.key.1,
            priority,
            interval_cs,
            &self.vips,
        )
    }
}

enum Control {
    /// A request, whether its peer is trusted (root or our own user; see
    /// [`super::access::Peer::trusted`]), and where the reply goes.
    Request(Request, bool, oneshot::Sender<Reply>),
    /// A subscriber joins: it gets the current state of every leader name and a receiver
    /// subscribed at the same instant, so it can miss nothing in between.
    Subscribe(oneshot::Sender<Subscription>),
}

/// What a subscriber gets: the current leader rows, VRRP state changes from then on, and
/// `[[track]]` state changes.
type Subscription = (
    Vec<serde_json::Value>,
    broadcast::Receiver<StateEvent>,
    broadcast::Receiver<crate::track::TrackEvent>,
);

enum FilterJob {
    Sync(super::filter::FilterState),
    /// The last job: install this state, say when it is in place, stop.
    Leave(super::filter::FilterState, oneshot::Sender<()>),
}

/// The task that owns the nftables tables; jobs run in order, off the election loop, and
/// only the newest pending state is installed.
fn spawn_filter_task(
    failures: Arc<std::sync::atomic::AtomicU64>,
) -> mpsc::UnboundedSender<FilterJob> {
    let (tx, mut rx) = mpsc::unbounded_channel::<FilterJob>();
    tokio::spawn(async move {
        let mut filter = super::filter::VipFilter::default();
        while let Some(mut job) = rx.recv().await {
            while let Ok(next) = rx.try_recv() {
                if matches!(job, FilterJob::Leave(..)) {
                    break;
                }
                job = next;
            }
            let (wanted, done) = match job {
                FilterJob::Sync(w) => (w, None),
                FilterJob::Leave(w, done) => (w, Some(done)),
            };
            let (f, result) = tokio::task::spawn_blocking(move || {
                let r = filter.sync(&wanted);
                (filter, r)
            })
            .await
            .unwrap_or_else(|_| (super::filter::VipFilter::default(), Ok(())));
            filter = f;
            if let Err(e) = result {
                failures.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tracing::error!(target: "netvrrp::kernel", "cannot update the VIP filter: {e:#}");
            }
            if let Some(done) = done {
                let _ = done.send(());
                return;
            }
        }
    });
    tx
}

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
    timers: BTreeSet<(Time, usize)>,
    receivers: HashMap<(u32, Family), RxSocket>,
    /// The receive buffer, reused for every packet.
    rx_buf: Vec<u8>,
    /// Every frame this loop sends, flushed once per loop turn and before each netlink
    /// request (so a new Master's advert never waits for a round trip).
    frames: FrameBatch,
    events: broadcast::Sender<StateEvent>,
    scratch: Vec<Action>,
    reloads: u64,
    /// What only the metrics read (reloads that changed something, failures, config hash).
    stats: super::metrics::RuntimeStats,
    /// The nftables filter runs in its own task: `nft` takes milliseconds, which must not
    /// delay adverts.
    filter: mpsc::UnboundedSender<FilterJob>,
    /// A state changed since the filter was last synced.
    filter_dirty: bool,
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
    /// An instance entered or left Master since `masters.json` was last written.
    masters_dirty: bool,
    /// The configuration running now (the `running` control request; reloads compare
    /// against the instances' own copies).
    config: Arc<config::Config>,
    /// `[runtime] realtime-priority` at start (a reload keeps the policy).
    started_realtime_priority: Option<u8>,
    /// `[[track]]` objects' trackers and states (see [`crate::track`]).
    tracks: crate::track::TrackSet,
}

/// `<run-dir>/masters.json`: the instances that are Master now, rewritten (atomically) when
/// one enters or leaves Master. A runtime that leaves normally ends with an empty list; one
/// killed with SIGKILL leaves its Masters behind, and the next runtime resumes them
/// ([`Input::Resume`]) so the backups do not take over and hand back.
pub fn masters_path(run_dir: &std::path::Path) -> PathBuf {
    run_dir.join("masters.json")
}

fn load_masters(run_dir: &std::path::Path) -> HashSet<InstanceKey> {
    // Not through a symlink (see `crate::security`); unreadable means nothing to resume.
    crate::security::read_nofollow(&masters_path(run_dir))
        .ok()
        .flatten()
        .and_then(|t| serde_json::from_str::<Vec<InstanceKey>>(&t).ok())
        .map(|v| v.into_iter().collect())
        .unwrap_or_default()
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

/// Work for the VRRS executor task.
enum VrrsJob {
    /// A fan-out, with the kernel view it was computed from (NA sources).
    /// The `Instant` is when the fan-out was computed (the leader's transition), for the
    /// timing logged once its kernel work and gratuitous packets are done.
    Fanout(crate::vrrs::Fanout, Arc<Snapshot>, std::time::Instant),
    /// Answered once every job before it is done.
    Flush(oneshot::Sender<()>),
}

/// The thread that carries out VRRS fan-outs, one after the other, off the election loop.
///
/// A thread of its own, not a task: the kernel does netlink work inside the sender's
/// `sendmsg`, so a fan-out's protodown changes (~12 ms for 1,000 pathways, longer while
/// another process holds the rtnl lock) would stop the single-threaded event loop, and
/// with it the adverts of every other instance, for that long. The thread has its own
/// rtnetlink socket (sharing `parent`'s name → ifindex cache), runs at normal priority
/// (`realtime-priority` is set with SCHED_RESET_ON_FORK before it starts) and inherits
/// the runtime's network namespace.
fn spawn_vrrs_executor(
    parent: Kernel,
    mut frames: FrameBatch,
    runners: Arc<Mutex<crate::vrrs::ClientRunners>>,
    pending: Arc<std::sync::atomic::AtomicUsize>,
    done: mpsc::UnboundedSender<()>,
) -> anyhow::Result<mpsc::UnboundedSender<VrrsJob>> {
    let (tx, mut rx) = mpsc::unbounded_channel::<VrrsJob>();
    let executor = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot build the VRRS executor's event loop")?;
    // Opened here so a failure stops the start; its connection task must run on the
    // executor's own loop, hence `enter`.
    let kernel = {
        let _inside = executor.enter();
        parent.sibling_now()?
    };
    std::thread::Builder::new()
        .name("netvrrp-vrrs".into())
        .spawn(move || {
            executor.block_on(async move {
        while let Some(job) = rx.recv().await {
            match job {
                VrrsJob::Fanout(fanout, snapshot, started) => {
                    let took = execute_fanout(&kernel, &mut frames, &snapshot, &fanout).await;
                    // Pathways switched by a group change carry no effect of their own when
                    // they leave ACTIVE (no gratuitous packet): count them from the bulk.
                    let switched = fanout
                        .pathways
                        .iter()
                        .filter(|p| !p.effects.is_empty())
                        .count()
                        .max(took.protodown_on + took.protodown_off);
                    pending.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                    let _ = done.send(());
                    if switched > 0 {
                        tracing::info!(
                            target: "netvrrp::vrrs",
                            pathways = switched,
                            elapsed_us = started.elapsed().as_micros() as u64,
                            queued_us = took.queued_us(started),
                            protodown_us = took.protodown_us,
                            addresses_us = took.addresses_us,
                            gratuitous_us = took.gratuitous_us,
                            protodown_off = took.protodown_off,
                            protodown_on = took.protodown_on,
                            bulk_groups = took.bulk_groups,
                            "fan-out done (protodown/addresses changed, gratuitous ARP/NA sent)"
                        );
                    }
                    lock(&runners).dispatch(&fanout);
                }
                VrrsJob::Flush(done) => {
                    let _ = done.send(());
                }
            }
        }
    })
        })
        .context("cannot start the VRRS executor thread")?;
    Ok(tx)
}

/// How long the runtime must see no state change before the heap is trimmed.
const HEAP_TRIM_QUIET: std::time::Duration = std::time::Duration::from_secs(3);

/// Hand the heap that start-up, a reload or a burst of transitions freed back to the kernel,
/// once things are quiet again.
///
/// Reading the kernel decodes a whole link and address dump before it is consumed, and the
/// routers' first transitions (fan-outs, link events) follow: with 4,000 routers the heap
/// peaks at ~21 MB, of which ~10 MB stay in use. glibc keeps freed memory for reuse, so the
/// process kept that peak as resident memory for good (RSS 28.4 MB at 4,000 routers; 16.7
/// MB once trimmed by hand, below keepalived's 18.1). The trim runs [`HEAP_TRIM_QUIET`]
/// after the start, a reload, or the last state change, on a blocking-pool thread so the
/// event loop never waits for it; a steady runtime does not trim at all.
fn spawn_heap_trimmer(
    state_events: broadcast::Receiver<StateEvent>,
    kick: Arc<tokio::sync::Notify>,
) {
    spawn_debounced(state_events, kick, HEAP_TRIM_QUIET, trim_heap);
}

/// Run `action` on a blocking-pool thread once `quiet` has passed since the start, the last
/// state event or the last `kick`, whichever is latest; then wait for the next one.
fn spawn_debounced(
    mut state_events: broadcast::Receiver<StateEvent>,
    kick: Arc<tokio::sync::Notify>,
    quiet: std::time::Duration,
    action: fn(),
) {
    use tokio::sync::broadcast::error::RecvError;
    tokio::spawn(async move {
        let mut due = Some(tokio::time::Instant::now() + quiet);
        loop {
            let sleep = async {
                match due {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                event = state_events.recv() => match event {
                    Ok(_) | Err(RecvError::Lagged(_)) => {
                        due = Some(tokio::time::Instant::now() + quiet);
                    }
                    Err(RecvError::Closed) => return,
                },
                () = kick.notified() => {
                    due = Some(tokio::time::Instant::now() + quiet);
                }
                () = sleep => {
                    due = None;
                    let _ = tokio::task::spawn_blocking(action).await;
                }
            }
        }
    });
}

fn trim_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes glibc's own arena locks and touches no Rust object.
    unsafe {
        libc::malloc_trim(0);
    }
    tracing::debug!(target: "netvrrp::protocol", "freed heap handed back to the kernel");
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
            config,
            snapshot,
            desired,
            owned,
            warnings,
        } = loaded;
        drop((desired, owned, warnings));
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
            timers: BTreeSet::new(),
            receivers: HashMap::new(),
            rx_buf: vec![0; net::RX_BUFFER_LEN],
            frames,
            events,
            scratch: Vec::with_capacity(16),
            reloads: 0,
            stats,
            filter,
            filter_dirty: true,
            vrrs: crate::vrrs::Vrrs::new(&config),
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
            masters_dirty: true,
            config: config.clone(),
            started_realtime_priority: config.runtime.realtime_priority,
            tracks: crate::track::TrackSet::new(),
        };
        rt.tracks.reconfigure(&config);
        rt.resume = load_masters(&rt.run_dir);
        if !rt.resume.is_empty() {
            tracing::info!(target: "netvrrp::protocol", masters = rt.resume.len(), "the previous runtime died while Master: resuming");
        }
        let fan = rt.vrrs.on_snapshot(&snapshot);
        rt.carry_out(fan);
        rt.install(&config, &snapshot, Vec::new()).await;
        // Only the first start resumes; a later reload starts routers afresh.
        rt.resume.clear();
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

    /// Replace the instance list with the one `config` describes. Instances in `keep` (old
    /// ones whose config did not change) carry over with their state, timers and counters.
    #[allow(clippy::vec_box)] // see `instances`
    async fn install(
        &mut self,
        config: &config::Config,
        snapshot: &Snapshot,
        keep: Vec<Box<Instance>>,
    ) {
        let now = self.now();
        let mut keep: HashMap<InstanceKey, Box<Instance>> =
            keep.into_iter().map(|i| (i.key.clone(), i)).collect();
        let mut next: Vec<Box<Instance>> =
            Vec::with_capacity(config.routers.iter().map(|rc| rc.families().len()).sum());
        let mut started: Vec<usize> = Vec::new();
        // By name: a reload of thousands of routers must not be quadratic on the election
        // loop.
        let links: HashMap<&str, &crate::kernel::LinkInfo> = snapshot
            .links
            .iter()
            .map(|l| (l.name.as_str(), l))
            .collect();
        for rc in &config.routers {
            let Some(parent) = links.get(rc.interface.as_str()).copied() else {
                tracing::error!(target: "netvrrp::kernel", interface = %rc.interface, "parent interface missing; router not started");
                continue;
            };
            for family in rc.families() {
                let key: InstanceKey = (rc.interface.clone(), rc.vrid, family);
                if let Some(inst) = keep.remove(&key) {
                    next.push(inst);
                    continue;
                }
                let device = crate::desired::router_device_name(family, parent.index, rc.vrid);
                let device_link = links.get(device.as_str()).copied();
                let Some(primary) = primary_address(snapshot, parent.index, family) else {
                    tracing::error!(target: "netvrrp::kernel", interface = %rc.interface, %family, "parent has no usable {family} primary address; instance not started");
                    continue;
                };
                let params = RouterParams::from_config(rc, family, primary);
                let router = match Router::new(params) {
                    Ok(r) => r,
                    Err(e) => {
                        tracing::error!(target: "netvrrp::protocol", interface = %rc.interface, vrid = rc.vrid, %family, "cannot start: {e}");
                        continue;
                    }
                };
                let vips: Vec<IpAddr> = rc.addresses(family).iter().map(|n| n.addr()).collect();
                let device_index = device_link.map(|l| l.index);
                let unicast = open_unicast(rc, family, parent.index, primary);
                started.push(next.len());
                next.push(Box::new(Instance {
                    key,
                    config: rc.clone(),
                    router,
                    device,
                    device_index,
                    parent_index: parent.index,
                    vmac: MacAddr::vrrp(family, rc.vrid),
                    vips,
                    primary,
                    unicast,
                    protodown: None,
                    protodown_failed: false,
                    armed: None,
                    last_change: unix_now(),
                }));
            }
        }
        // Whatever is left in `keep` was removed or changed: leave gracefully (priority 0).
        let mut keep: Vec<Box<Instance>> = keep.into_values().collect();
        keep.sort_by(|a, b| a.key.cmp(&b.key));
        for old in keep {
            self.leave_detached(old, now).await;
        }
        self.instances = next;
        self.rebuild_indexes();
        self.open_receivers();
        for i in started {
            let link_ok = {
                let inst = &self.instances[i];
                inst.device_index.is_some()
                    && snapshot
                        .by_index(inst.parent_index)
                        .is_some_and(|p| p.carrier)
            };
            if !link_ok {
                self.feed(i, now, Input::LinkDown).await;
            }
            // Before Startup: an owner whose object is down must not start as Master.
            let track: Vec<(usize, bool)> = self.instances[i]
                .config
                .track
                .iter()
                .enumerate()
                .map(|(t, tc)| (t, crate::track::entry_up(tc, snapshot, &self.tracks)))
                .collect();
            for (index, up) in track {
                if !up {
                    self.feed(i, now, Input::TrackChanged { index, up }).await;
                }
            }
            let shutdown = self.instances[i].config.shutdown;
            if !shutdown {
                self.feed(i, now, Input::Startup).await;
                if self.resume.remove(&self.instances[i].key) {
                    self.feed(i, now, Input::Resume).await;
                }
            } else {
                // Not running, but the device must not carry traffic.
                self.feed(i, now, Input::Shutdown).await;
            }
        }
    }

    fn rebuild_indexes(&mut self) {
        self.by_vrid.clear();
        self.timers.clear();
        for (i, inst) in self.instances.iter_mut().enumerate() {
            self.by_vrid
                .insert((inst.parent_index, inst.key.2, inst.key.1), i);
            inst.armed = inst.router.next_deadline();
            if let Some(t) = inst.armed {
                self.timers.insert((t, i));
            }
        }
    }

    /// One receive socket per (parent, family) in use; close the ones no longer needed.
    fn open_receivers(&mut self) {
        let wanted: BTreeSet<(u32, Family)> = self
            .instances
            .iter()
            .map(|i| (i.parent_index, i.key.2))
            .collect();
        self.receivers.retain(|k, _| wanted.contains(k));
        for (parent, family) in wanted {
            if self.receivers.contains_key(&(parent, family)) {
                continue;
            }
            match RxSocket::open(family, parent) {
                Ok(sock) => {
                    self.receivers.insert((parent, family), sock);
                }
                Err(e) => {
                    tracing::error!(target: "netvrrp::packets", parent, %family, "cannot open receive socket: {e:#}");
                }
            }
        }
    }

    /// Hand one input to instance `i`, carry out its actions, re-arm its timer.
    async fn feed(&mut self, i: usize, now: Time, input: Input) {
        self.drive(i, now, |router, now, out| router.handle(now, input, out))
            .await;
    }

    /// Let `first` act on instance `i`'s router (an input, a reconfiguration), then carry
    /// out its actions and re-arm the timer like [`Runtime::feed`].
    async fn drive(
        &mut self,
        i: usize,
        now: Time,
        first: impl FnOnce(&mut Router, Time, &mut Vec<Action>),
    ) {
        let now = now.max(self.floor);
        self.floor = now;
        let mut first = Some(first);
        let mut next_input: Option<Input> = None;
        loop {
            let mut actions = std::mem::take(&mut self.scratch);
            actions.clear();
            if let Some(f) = first.take() {
                f(&mut self.instances[i].router, now, &mut actions);
            } else if let Some(input) = next_input.take() {
                self.instances[i].router.handle(now, input, &mut actions);
            } else {
                self.scratch = actions;
                break;
            }
            let protodown =
                Self::queue_frames(&mut self.frames, &mut self.instances[i], i, &actions);
            if protodown.is_some() {
                // A transition: its frames (a new Master's advert and gratuitous packets, a
                // leaving Master's priority 0) go before the logging, events, fan-out and
                // netlink round trip that follow. They leave through the parent and do not
                // need the device up.
                self.flush_frames();
            }
            Self::report(&self.events, &mut self.instances[i], &actions);
            let mut fanout = crate::vrrs::Fanout::default();
            for a in &actions {
                if let Action::StateChanged { from, to, reason } = *a {
                    self.filter_dirty = true;
                    self.masters_dirty |= from == State::Master || to == State::Master;
                    let key = &self.instances[i].key;
                    let f =
                        self.vrrs
                            .on_state(unix_now(), &key.0, key.1, key.2, to, reason.as_str());
                    fanout.append(f);
                }
            }
            self.scratch = actions;
            if let Some(on) = protodown {
                let refused = !Self::set_protodown(&self.kernel, &mut self.instances[i], on).await;
                if refused && !on && self.instances[i].router.state() == State::Master {
                    // Our adverts no longer depend on the device being up: a Master whose
                    // device stays down must stop advertising, as if its link were gone.
                    let inst = &mut self.instances[i];
                    inst.router.counters_mut().protodown_errors += 1;
                    inst.protodown_failed = true;
                    tracing::error!(target: "netvrrp::kernel", device = %inst.device, "protodown off refused: leaving Master for Initialize until the device's protodown reasons are clear");
                    next_input = Some(Input::LinkDown);
                }
            }
            if !fanout.is_empty() {
                self.carry_out(fanout);
            }
        }
        let inst = &mut self.instances[i];
        let next = inst.router.next_deadline();
        if next != inst.armed {
            if let Some(t) = inst.armed {
                self.timers.remove(&(t, i));
            }
            if let Some(t) = next {
                self.timers.insert((t, i));
            }
            inst.armed = next;
        }
    }

    /// Shut down an instance that is no longer in the list (removed or changed by a
    /// reload): priority 0 if it was Master, protodown on.
    async fn leave_detached(&mut self, mut inst: Box<Instance>, now: Time) {
        let mut actions = std::mem::take(&mut self.scratch);
        actions.clear();
        inst.router.handle(now, Input::Shutdown, &mut actions);
        let protodown = Self::queue_frames(&mut self.frames, &mut inst, DETACHED, &actions);
        self.flush_frames();
        Self::report(&self.events, &mut inst, &actions);
        self.scratch = actions;
        if let Some(on) = protodown {
            Self::set_protodown(&self.kernel, &mut inst, on).await;
        }
    }

    /// Send every queued frame; a refused one counts as a send error of its instance.
    fn flush_frames(&mut self) {
        if self.frames.queued() == 0 {
            return;
        }
        let instances = &mut self.instances;
        self.frames.flush(|(i, kind), e| {
            let Some(inst) = instances.get_mut(i) else {
                tracing::warn!(target: "netvrrp::packets", "frame of a removed router not sent: {e}");
                return;
            };
            let c = inst.router.counters_mut();
            c.send_errors += 1;
            if kind == net::FrameKind::Gratuitous {
                c.gratuitous_packets_sent = c.gratuitous_packets_sent.saturating_sub(1);
            }
            tracing::warn!(target: "netvrrp::packets", device = %inst.device, ?kind, "frame not sent: {e}");
        });
    }

    /// Ask for protodown `on` on the instance's device; false when the kernel refused.
    async fn set_protodown(kernel: &Kernel, inst: &mut Instance, on: bool) -> bool {
        let Some(idx) = inst.device_index else {
            return true;
        };
        match kernel.set_protodown(idx, on).await {
            Ok(()) => {
                inst.protodown = Some(on);
                true
            }
            Err(e) => {
                tracing::error!(target: "netvrrp::kernel", device = %inst.device, "cannot set protodown {}: {e:#}", if on { "on" } else { "off" });
                false
            }
        }
    }

    /// Log and publish an instance's state and priority changes.
    fn report(events: &broadcast::Sender<StateEvent>, inst: &mut Instance, actions: &[Action]) {
        for action in actions {
            match *action {
                Action::StateChanged { from, to, reason } => {
                    tracing::info!(target: "netvrrp::protocol", interface = %inst.key.0, vrid = inst.key.1, family = %inst.key.2, %from, %to, %reason, "state change");
                    inst.last_change = unix_now();
                    let _ = events.send(StateEvent {
                        interface: inst.key.0.clone(),
                        vrid: inst.key.1,
                        family: inst.key.2,
                        // A name follows one instance (`leader_family`): the other family's
                        // instance of the same router must not speak for it.
                        names: if inst.key.2 == inst.config.leader_family() {
                            inst.config.vrrs_leader.clone()
                        } else {
                            Vec::new()
                        },
                        previous: from,
                        state: to,
                        reason: reason.to_string(),
                        vmac: inst.vmac,
                        vips: inst.vips.clone(),
                        time: inst.last_change,
                    });
                }
                Action::EffectivePriorityChanged { from, to } => {
                    tracing::info!(target: "netvrrp::protocol", interface = %inst.key.0, vrid = inst.key.1, family = %inst.key.2, from, to, "effective priority changed");
                }
                Action::OwnerConflict { src, priority } => {
                    tracing::warn!(target: "netvrrp::protocol", interface = %inst.key.0, vrid = inst.key.1, family = %inst.key.2, %src, priority, "another router advertises addresses we own (priority 255 here): misconfiguration; counted in owner_conflicts, logged at most once a minute");
                }
                Action::IntervalMismatch { src, interval_cs } => {
                    tracing::warn!(target: "netvrrp::protocol", interface = %inst.key.0, vrid = inst.key.1, family = %inst.key.2, %src, advertised_ms = u32::from(interval_cs) * 10, configured_ms = inst.config.advertisement_interval_ms, "advert interval differs from ours (followed as RFC 9568 says); counted in interval_mismatches, logged at most once a minute");
                }
                _ => {}
            }
        }
    }

    /// Queue an instance's frames on `frames`, tagged with `tag` (the instance's index, or
    /// [`DETACHED`]), and return the protodown it asks for (the last one), for the caller to
    /// request once the frames are flushed.
    fn queue_frames(
        frames: &mut FrameBatch,
        inst: &mut Instance,
        tag: usize,
        actions: &[Action],
    ) -> Option<bool> {
        let mut protodown = None;
        for action in actions {
            match *action {
                Action::SetProtodown(on) => protodown = Some(on),
                Action::SendAdvert {
                    priority,
                    interval_cs,
                } if !inst.config.unicast_peers.is_empty() => {
                    send_unicast_advert(inst, priority, interval_cs)
                }
                Action::SendAdvert {
                    priority,
                    interval_cs,
                } => {
                    if inst.device_index.is_none() {
                        // No device, no router: nothing may speak for its virtual MAC.
                        inst.router.counters_mut().send_errors += 1;
                        continue;
                    }
                    let advert = packet::AdvertFields {
                        version: inst.config.version.number(),
                        vrid: inst.key.1,
                        priority,
                        interval_cs,
                        addresses: &inst.vips,
                    };
                    frames.push_advert(
                        tag,
                        inst.parent_index,
                        inst.vmac,
                        inst.primary,
                        &advert,
                        inst.config.checksum_with_ipv4_pseudoheader,
                    );
                }
                Action::SendGratuitous { .. } => {
                    if inst.device_index.is_none() {
                        continue;
                    }
                    let src6 = match inst.primary {
                        IpAddr::V6(s) => Some(s),
                        IpAddr::V4(_) => None,
                    };
                    for vip in &inst.vips {
                        match frames.push_gratuitous(tag, inst.parent_index, inst.vmac, *vip, src6)
                        {
                            Ok(()) => inst.router.counters_mut().gratuitous_packets_sent += 1,
                            Err(e) => {
                                inst.router.counters_mut().send_errors += 1;
                                tracing::warn!(target: "netvrrp::packets", device = %inst.device, %vip, "gratuitous packet not sent: {e:#}");
                            }
                        }
                    }
                }
                Action::StateChanged { .. }
                | Action::EffectivePriorityChanged { .. }
                | Action::OwnerConflict { .. }
                | Action::IntervalMismatch { .. } => {}
            }
        }
        protodown
    }

    /// A packet from a receive socket: find its router, check it (read in place, no
    /// allocation), count, dispatch.
    async fn on_packet(&mut self, pkt: Received<'_>) {
        let vrid = pkt.vrid();
        let idx = vrid.and_then(|v| {
            self.by_vrid
                .get(&(pkt.parent_index, pkt.family, v))
                .copied()
        });
        let Some(i) = idx else {
            // No instance runs this VRID on this (parent, family), or the packet is too short
            // to carry one: every instance on that parent and family counts it (each sees the
            // same link), as `vrid_errors` or `truncated_errors`.
            let mut attributed = false;
            for inst in self
                .instances
                .iter_mut()
                .filter(|inst| inst.parent_index == pkt.parent_index && inst.key.2 == pkt.family)
            {
                let c = inst.router.counters_mut();
                match vrid {
                    Some(_) => c.vrid_errors += 1,
                    None => c.truncated_errors += 1,
                }
                attributed = true;
            }
            if !attributed {
                // The last instance on that parent went away while the packet was queued:
                // nobody's counter to charge.
                tracing::debug!(target: "netvrrp::packets", parent = pkt.parent_index, "dropped: no instance on this parent any more");
            }
            return;
        };
        let now = self.arrival(pkt.arrived);
        let inst = &mut self.instances[i];
        let version = inst.config.version.number();
        let expected = crate::vrrp::unicast::expected_destination(
            pkt.family,
            !inst.config.unicast_peers.is_empty(),
            inst.primary,
        );
        match pkt.view_for(version, expected) {
            Ok(advert) => {
                let c = inst.router.counters_mut();
                match advert.checksum_form() {
                    Some(packet::ChecksumForm::WithPseudoHeader) => {
                        c.checksum_with_pseudoheader_received += 1
                    }
                    Some(packet::ChecksumForm::MessageOnly) => {
                        c.checksum_without_pseudoheader_received += 1
                    }
                    None => {}
                }
                if !inst.config.hears(pkt.src) {
                    c.peer_not_allowed += 1;
                    return;
                }
                let input = Input::Advert {
                    src: pkt.src,
                    priority: advert.priority(),
                    max_advert_interval_cs: advert.interval_cs(),
                };
                self.feed(i, now, input).await;
            }
            Err(e) => net::count_drop(inst.router.counters_mut(), &e),
        }
    }

    /// Read what every receive socket has queued (at most [`RX_BURST`] packets each, so a
    /// flood cannot hold timers back) and hand each packet over.
    async fn drain_receivers(&mut self) {
        let mut buf = std::mem::take(&mut self.rx_buf);
        let keys: Vec<(u32, Family)> = self.receivers.keys().copied().collect();
        for key in keys {
            for _ in 0..RX_BURST {
                let Some(sock) = self.receivers.get_mut(&key) else {
                    break;
                };
                match sock.try_recv(&mut buf) {
                    Ok(Some(pkt)) => self.on_packet(pkt).await,
                    Ok(None) => break,
                    Err(e) => {
                        tracing::warn!(target: "netvrrp::packets", parent = key.0, family = %key.1, "receive failed: {e}");
                        break;
                    }
                }
            }
        }
        self.rx_buf = buf;
    }

    fn is_link_event(ev: &KernelEvent) -> bool {
        matches!(
            ev,
            KernelEvent::LinkChanged(..) | KernelEvent::LinkRemoved { .. }
        )
    }

    /// Re-read the links and bring every instance's link view in line with them.
    async fn refresh_links(&mut self) {
        match self.kernel.snapshot().await {
            Ok(snap) => {
                let now = self.now();
                self.resync(Arc::new(snap), now).await;
            }
            Err(e) => {
                tracing::error!(target: "netvrrp::kernel", "cannot re-read the kernel state: {e:#}")
            }
        }
    }

    /// Bring every instance's link view in line with a snapshot: parent carrier, device
    /// presence (and index, after a re-creation), tracked interfaces.
    async fn resync(&mut self, snap: Arc<Snapshot>, now: Time) {
        self.snapshot = snap.clone();
        let snap = &*snap;
        // While the executor is still switching pathways, a snapshot shows them half done:
        // reading it would "correct" them back and forth. The link events of the executor's
        // own last changes bring a snapshot of the finished state.
        if self.vrrs_pending.load(std::sync::atomic::Ordering::SeqCst) == 0 {
            let fan = self.vrrs.on_snapshot(snap);
            if !fan.is_empty() {
                self.carry_out(fan);
            }
        }
        for i in 0..self.instances.len() {
            let (parent_ok, dev_index, dev_reason, tracks) = {
                let inst = &self.instances[i];
                let parent_ok = snap.by_index(inst.parent_index).is_some_and(|p| p.carrier);
                let dev = snap.by_name(&inst.device);
                let dev_index = dev.map(|l| l.index);
                let dev_reason = dev.map_or(0, |l| l.protodown_reason);
                let tracks: Vec<bool> = inst
                    .config
                    .track
                    .iter()
                    .map(|t| crate::track::entry_up(t, snap, &self.tracks))
                    .collect();
                (parent_ok, dev_index, dev_reason, tracks)
            };
            let inst = &mut self.instances[i];
            if dev_index != inst.device_index {
                self.filter_dirty = true;
                inst.device_index = dev_index;
                inst.protodown = None;
                inst.protodown_failed = false;
            }
            // After a refused protodown off, wait until nothing else holds the device down
            // (the operator clearing a reason bit is a link event that brings us here).
            if inst.protodown_failed && dev_reason == 0 {
                inst.protodown_failed = false;
            }
            let link_ok = parent_ok && dev_index.is_some() && !inst.protodown_failed;
            if link_ok != inst.router.link_up() {
                let input = if link_ok {
                    Input::LinkUp
                } else {
                    Input::LinkDown
                };
                self.feed(i, now, input).await;
            }
            let known: Vec<bool> = self.instances[i].router.tracked_down().to_vec();
            for (index, up) in tracks.into_iter().enumerate() {
                if known.get(index).copied() == Some(up) {
                    // tracked_down()[index] == up means the view is stale.
                    self.feed(i, now, Input::TrackChanged { index, up }).await;
                }
            }
        }
    }

    /// Feed the state of the `[[track]]` objects named in `names` to every router entry that
    /// follows one of them (the routers ignore a state they already have).
    async fn feed_tracks(&mut self, names: &[String]) {
        let now = self.now();
        for i in 0..self.instances.len() {
            let changes: Vec<(usize, bool)> = self.instances[i]
                .config
                .track
                .iter()
                .enumerate()
                .filter(|(_, t)| t.object().is_some_and(|o| names.iter().any(|n| n == o)))
                .map(|(index, t)| {
                    (
                        index,
                        crate::track::entry_up(t, &self.snapshot, &self.tracks),
                    )
                })
                .collect();
            for (index, up) in changes {
                self.feed(i, now, Input::TrackChanged { index, up }).await;
            }
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

    /// Rewrite `masters.json` if an instance entered or left Master.
    fn sync_masters(&mut self) {
        if !self.masters_dirty {
            return;
        }
        self.masters_dirty = false;
        let masters: Vec<&InstanceKey> = self
            .instances
            .iter()
            .filter(|i| i.router.state() == State::Master)
            .map(|i| &i.key)
            .collect();
        let path = masters_path(&self.run_dir);
        let text = serde_json::to_string(&masters).unwrap_or_else(|_| "[]".into());
        if let Err(e) = crate::security::replace_file(&path, text.as_bytes()) {
            tracing::warn!(target: "netvrrp::protocol", "cannot write {}: {e:#}", path.display());
        }
    }

    /// Bring the nftables filter in line with the instances' states (see [`super::filter`]).
    fn sync_filter(&mut self) {
        if !self.filter_dirty {
            return;
        }
        self.filter_dirty = false;
        let _ = self.filter.send(FilterJob::Sync(self.filter_state(false)));
    }

    /// The filter for the current states; `leaving`: as if no instance were Master (every
    /// VIP blocked), for the stop.
    fn filter_state(&self, leaving: bool) -> super::filter::FilterState {
        let mut wanted = super::filter::FilterState::default();
        for inst in &self.instances {
            wanted.add(
                &inst.vips,
                inst.device_index,
                !leaving && inst.router.state() == State::Master,
                inst.router.accept_mode(),
            );
            if let IpAddr::V4(p) = inst.primary {
                wanted.primary4.insert(inst.parent_index, p);
            }
        }
        wanted
    }

    fn metrics_text(&self) -> String {
        let rows = |v: serde_json::Value| v.as_array().cloned().unwrap_or_default();
        super::metrics::render(
            &rows(self.show_vrrp()),
            &rows(self.vrrs.show_server()),
            &rows(self.vrrs.show_pathway()),
            &rows(self.tracks.show(None)),
            &super::metrics::RuntimeInfo {
                version: env!("CARGO_PKG_VERSION"),
                stats: &self.stats,
                process: super::metrics::ProcessStats::read(),
            },
        )
    }

    fn show_vrrp(&self) -> serde_json::Value {
        let rows: Vec<serde_json::Value> = self
            .instances
            .iter()
            .map(|inst| {
                let r = &inst.router;
                json!({
                    "interface": inst.key.0,
                    "vrid": inst.key.1,
                    "family": inst.key.2,
                    "version": inst.config.version.number(),
                    "device": inst.device,
                    "device_index": inst.device_index,
                    "vmac": inst.vmac.to_string(),
                    "state": r.state().as_str(),
                    "priority": r.priority(),
                    "effective_priority": r.effective_priority(),
                    "preempt": inst.config.preempt,
                    "preempt_delay_ms": inst.config.preempt_delay_ms,
                    "accept_mode": r.accept_mode(),
                    "primary_address": inst.primary,
                    "master_address": r.master_address(),
                    "protodown": inst.protodown,
                    "advertisement_interval_ms": inst.config.advertisement_interval_ms,
                    "master_adver_interval_ms": r.master_adver_interval().as_secs_f64() * 1000.0,
                    "skew_time_ms": r.skew_time().as_secs_f64() * 1000.0,
                    "master_down_interval_ms": r.master_down_interval().as_secs_f64() * 1000.0,
                    "vips": inst.vips,
                    "vrrs_leader": inst.config.vrrs_leader,
                    "unicast_peers": crate::vrrp::unicast::peers_of(&inst.config.unicast_peers, inst.key.2),
                    "last_change": inst.last_change,
                    "track": crate::track::contributions(&inst.config.track, r.tracked_down()),
                    "faulted": r.faulted(),
                    "counters": r.counters(),
                })
            })
            .collect();
        serde_json::Value::Array(rows)
    }

    async fn reload(
        &mut self,
        file: PathBuf,
        config: config::Config,
        snapshot: Snapshot,
    ) -> Result<crate::reconcile::routers::ReloadReport, String> {
        let mut reloading = vec![sd_notify::NotifyState::Reloading];
        if let Ok(now) = sd_notify::NotifyState::monotonic_usec_now() {
            reloading.push(now);
        }
        notify(&reloading);
        let result = self.commit_reload(file, config, snapshot).await;
        if result.is_err() {
            self.stats.reload_failures += 1;
        }
        notify(&[sd_notify::NotifyState::Ready]);
        self.heap_trim.notify_one();
        result
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
    async fn fire_due_timers(&mut self) {
        self.drain_receivers().await;
        let now = self.now();
        while let Some(&(t, i)) = self.timers.first() {
            if t > now {
                break;
            }
            self.timers.pop_first();
            self.instances[i].armed = None;
            self.feed(i, now, Input::Timer).await;
        }
    }

    /// When the earliest armed router timer is due, on the clock the timerfd uses.
    fn next_wakeup(&self) -> Option<std::time::Instant> {
        self.timers
            .first()
            .map(|(t, _)| (self.base + t.as_duration()).into_std())
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
        let _ = std::fs::remove_file(&sock_path);
        let listener = UnixListener::bind(&sock_path)
            .with_context(|| format!("cannot bind {}", sock_path.display()))?;
        // Root-only until the policy is applied: nobody can connect in between.
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&sock_path, std::fs::Permissions::from_mode(0o600))
                .with_context(|| format!("cannot chmod {}", sock_path.display()))?;
        }
        self.set_socket_mode();
        let pid_path = super::pid_path(&self.run_dir);
        crate::security::replace_file(&pid_path, format!("{}\n", std::process::id()).as_bytes())?;
        let mut kernel_events = Box::pin(crate::kernel::events().await?);
        let admission = super::admission::Admission::start();
        let mut timer = super::timer::Timer::new().context("cannot create the timer")?;
        let (ctl_send, mut ctl_recv) = mpsc::channel::<Control>(64);
        let (scrape_send, mut scrape_recv) = mpsc::channel::<oneshot::Sender<String>>(8);
        if let Some(listen) = &self.metrics_listen {
            match listen.parse::<std::net::SocketAddr>() {
                // Bound here, before READY=1, so a scrape right after start finds it.
                Ok(addr) => match tokio::net::TcpListener::bind(addr).await {
                    Ok(listener) => {
                        tracing::info!(target: "netvrrp::protocol", %addr, "serving Prometheus metrics");
                        tokio::spawn(super::metrics::serve(listener, scrape_send));
                    }
                    Err(e) => {
                        tracing::error!(target: "netvrrp::protocol", %addr, "cannot listen for metrics: {e}")
                    }
                },
                Err(e) => {
                    tracing::error!(target: "netvrrp::protocol", %listen, "bad metrics-listen: {e}")
                }
            }
        }
        let mut fanout_done = self.fanout_done.take().context("runtime started twice")?;
        let reconcile_kernel: reload::ReconcileKernel =
            Arc::new(tokio::sync::Mutex::new(Kernel::connect().await?));
        let (commit_send, mut commit_recv) = mpsc::channel::<reload::Commit>(4);
        // Reloads that failed before reaching the loop (unreadable file, kernel dump).
        let (failed_send, mut failed_recv) = mpsc::unbounded_channel::<()>();
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
                    // The same transaction as `apply`, off the loop; only the swap comes back
                    // here (the commit arm).
                    tokio::spawn(reload::on_sighup(
                        reconcile_kernel.clone(),
                        self.run_dir.clone(),
                        self.file.clone(),
                        commit_send.clone(),
                        failed_send.clone(),
                    ));
                }
                Some(()) = failed_recv.recv() => {
                    self.stats.reload_failures += 1;
                }
                Some(c) = commit_recv.recv() => {
                    let result = self.reload(c.file, c.config, c.snapshot).await;
                    let _ = c.done.send(result);
                }
                _ = timer.sleep_until_some(wake) => {
                    self.fire_due_timers().await;
                }
                () = std::future::poll_fn(|cx| poll_receivers(&self.receivers, cx)) => {
                    self.drain_receivers().await;
                }
                Some(ev) = kernel_events.next() => {
                    // An event storm (hundreds of unrelated links changing) costs one
                    // re-read of the kernel, not one per event.
                    let mut relevant = Self::is_link_event(&ev);
                    let mut overrun = matches!(ev, KernelEvent::Overrun);
                    while let Some(Some(more)) = kernel_events.next().now_or_never() {
                        relevant |= Self::is_link_event(&more);
                        overrun |= matches!(more, KernelEvent::Overrun);
                    }
                    if overrun {
                        tracing::warn!(target: "netvrrp::kernel", "netlink events overrun; re-reading the kernel state");
                    }
                    if overrun || (relevant && self.vrrs_pending.load(std::sync::atomic::Ordering::SeqCst) == 0) {
                        self.refresh_links().await;
                    } else if relevant {
                        // A fan-out is switching many links: the events are mostly its own,
                        // and a full re-read per batch would slow it several-fold (RTNL and
                        // this thread). Re-read once it is done.
                        self.links_stale = true;
                    }
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
                    let admission = admission.clone();
                    let ctl_send = ctl_send.clone();
                    tokio::spawn(async move {
                        // Refusals are counted and summarised (see `super::admission`), not
                        // logged one by one: a peer must not be able to fill the log.
                        let peer = match classify(&stream, policy).await {
                            Ok(p) => p,
                            Err(why) => {
                                admission.refused_connection(&why);
                                refuse_connection(stream, &why).await;
                                return;
                            }
                        };
                        // A slot is taken only for allowed peers (refused ones cannot crowd
                        // out the operators), within the per-uid cap and the root reserve.
                        let slot = match admission.admit(peer.uid, peer.trusted()) {
                            Ok(slot) => slot,
                            Err(why) => {
                                admission.refused_connection(&why);
                                refuse_connection(stream, &why).await;
                                return;
                            }
                        };
                        serve_connection(stream, ctl_send, peer, &admission).await;
                        drop(slot);
                    });
                }
                Some(reply) = scrape_recv.recv() => {
                    let _ = reply.send(self.metrics_text());
                }
                Some(msg) = ctl_recv.recv() => {
                    let (req, trusted, reply) = match msg {
                        Control::Subscribe(reply) => {
                            let rows = self.vrrs.show_server().as_array().cloned().unwrap_or_default();
                            let _ = reply.send((rows, self.events.subscribe(), self.tracks.subscribe()));
                            continue;
                        }
                        Control::Request(req, trusted, reply) => (req, trusted, reply),
                    };
                    let answer = match req {
                        Request::Ping => Reply::ok(json!({"pid": std::process::id(), "reloads": self.reloads, "config_sha256": self.stats.config_sha256})),
                        Request::ShowVrrp => Reply::ok(self.show_vrrp()),
                        Request::ShowTrack { name } => Reply::ok(self.tracks.show(name.as_deref())),
                        Request::ShowVrrs { what } => match what.as_str() {
                            "server" => Reply::ok(self.vrrs.show_server()),
                            "pathway" => Reply::ok(self.vrrs.show_pathway()),
                            "client" => Reply::ok(self.vrrs.show_client(Some(&lock(&self.runners)))),
                            other => Reply::err(format!("unknown VRRS object {other:?} (server, pathway, client)")),
                        },
                        Request::Reload { file } => match super::access::reload_allowed(trusted, &file, &self.file) {
                            Err(why) => Reply::err(why),
                            Ok(()) => {
                                // Read and dump off the loop; the commit arm swaps.
                                let (kernel, commits, failed) = (reconcile_kernel.clone(), commit_send.clone(), failed_send.clone());
                                tokio::spawn(async move {
                                    let answer = match reload::prepare(kernel, file, commits, failed).await {
                                        Ok(report) => Reply::ok(serde_json::to_value(report).unwrap_or_default()),
                                        Err(e) => Reply::err(e),
                                    };
                                    let _ = reply.send(answer);
                                });
                                continue;
                            }
                        },
                        Request::Running => Reply::ok(serde_json::to_value(self.running_state()).unwrap_or_default()),
                        Request::Stop => {
                            let _ = reply.send(Reply::ok(json!("stopping")));
                            break;
                        }
                        Request::Subscribe { .. } => Reply::err("subscribe is handled by the connection"),
                    };
                    let _ = reply.send(answer);
                }
            }
        }
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
            .is_ok()
        {
            self.elect_until(&mut timer, wait).await;
        }
        self.shutdown_all().await;
        self.flush_frames();
        self.sync_masters();
        // The process exits right after run(): first the executor takes every pathway down
        // and hands the last notices (to Initialize) over, then the clients get a moment to
        // deliver them (an accounting line not yet written, an exec not yet started).
        self.flush_vrrs().await;
        let runners = std::mem::take(&mut *lock(&self.runners));
        runners.finish(CLIENT_STOP_GRACE).await;
        let _ = std::fs::remove_file(&sock_path);
        let _ = std::fs::remove_file(&pid_path);
        Ok(())
    }
}

/// Where a fan-out's time went (logged with "fan-out done"; bench/vrrs_fanout.sh).
#[derive(Default)]
struct FanoutTimes {
    /// When the executor took the fan-out up.
    began: Option<std::time::Instant>,
    /// The protodown batch, sent until its last ack.
    protodown_us: u64,
    /// Addresses of no-mac pathways and re-created devices.
    addresses_us: u64,
    /// Sending the gratuitous ARP / unsolicited NA: those of `mac` pathways on their own
    /// thread, overlapping the protodown changes, plus those of the others after their
    /// addresses.
    gratuitous_us: u64,
    /// Pathway macvlans switched on (protodown off) and off.
    protodown_off: usize,
    protodown_on: usize,
    /// Device-group changes that stood for per-device protodown changes and succeeded.
    bulk_groups: usize,
}

impl FanoutTimes {
    /// From the leader's transition until the executor took the fan-out up.
    fn queued_us(&self, transition: std::time::Instant) -> u64 {
        self.began.map_or(0, |b| {
            b.saturating_duration_since(transition).as_micros() as u64
        })
    }
}

/// Run `ops` as one netlink batch, logging each failure.
async fn execute_logged(kernel: &Kernel, ops: &[crate::plan::Op]) {
    if ops.is_empty() {
        return;
    }
    for (op, outcome) in ops.iter().zip(kernel.execute_many(ops).await) {
        if let crate::kernel::Outcome::Failed(e) = outcome {
            tracing::error!(target: "netvrrp::vrrs", "{op}: {e}");
        }
    }
}

/// Carry out a VRRS fan-out's kernel work: pathway group moves, then protodown (one request
/// per device group in `fanout.bulk`, the rest in one netlink batch), then addresses and
/// re-created devices, then gratuitous ARP/NA, then client kernel effects.
/// `snapshot` is the kernel view the fan-out was computed from (NA source addresses).
async fn execute_fanout(
    kernel: &Kernel,
    frames: &mut FrameBatch,
    snapshot: &Snapshot,
    fanout: &crate::vrrs::Fanout,
) -> FanoutTimes {
    use crate::plan::Op;
    use crate::vrrs::{ClientEffect, PathwayEffect};
    let mut times = FanoutTimes {
        began: Some(std::time::Instant::now()),
        ..FanoutTimes::default()
    };
    let mut lap = std::time::Instant::now();
    let mut split = || {
        let now = std::time::Instant::now();
        let us = now.duration_since(lap).as_micros() as u64;
        lap = now;
        us
    };
    let protodown_op = |device: &String, on: bool| Op::SetProtodown {
        device: device.clone(),
        on,
        previous: !on,
    };
    // Group moves first: a bulk change below must find exactly the members the core
    // counted (one joining now is among them, one leaving must be gone).
    let groups: Vec<Op> = fanout
        .pathway_effects()
        .filter_map(|e| match e {
            PathwayEffect::SetGroup { device, group } => Some(Op::SetGroup {
                device: device.clone(),
                group: *group,
                previous: 0,
            }),
            _ => None,
        })
        .collect();
    execute_logged(kernel, &groups).await;
    // Links by index, built once: a scan of the snapshot per pathway was quadratic
    // (1,000 pathways x 2,000 links).
    let links: HashMap<u32, &crate::kernel::LinkInfo> = if fanout
        .pathway_effects()
        .any(|e| matches!(e, PathwayEffect::Gratuitous { .. }))
    {
        snapshot.links.iter().map(|l| (l.index, l)).collect()
    } else {
        HashMap::new()
    };
    // The gratuitous packets of `mac` pathways go out on a blocking-pool thread while this
    // one waits for the protodown changes: sending 1,000 costs ~5 ms of kernel time (on a
    // veth most of it is the peer's receive, run inside the sender's call), which would
    // otherwise come on top of the ~10 ms group change; with two CPUs they overlap. A
    // packet may thus leave a moment before its macvlan's protodown is cleared; the
    // macvlan receives what it attracts (a protodown macvlan still takes frames, only its
    // carrier is off), and it cannot transmit before link-watch has run for it anyway,
    // which the kernel does only after the whole group change. Pathways without `mac` send
    // theirs after their addresses are in place (below), or the kernel would drop the
    // traffic they attract.
    queue_gratuitous(kernel, frames, &links, fanout, true).await;
    let early = (frames.queued() > 0).then(|| {
        let mut batch = std::mem::replace(frames, frames.sibling());
        tokio::task::spawn_blocking(move || {
            let began = std::time::Instant::now();
            batch.flush(
                |_, e| tracing::warn!(target: "netvrrp::vrrs", "gratuitous packet not sent: {e}"),
            );
            (batch, began.elapsed())
        })
    });
    let mut protodown: Vec<Op> = Vec::new();
    for bulk in &fanout.bulk {
        let done = kernel.set_group_protodown(bulk.group, bulk.on).await;
        times.bulk_groups += usize::from(done.is_ok());
        if let Err(e) = done {
            // Members before the one refused were changed, the rest not: per device, each
            // member gets its own outcome (and error) below.
            tracing::warn!(target: "netvrrp::vrrs", group = bulk.group, "{e}; changing the {} members one by one", bulk.devices.len());
            protodown.extend(bulk.devices.iter().map(|d| protodown_op(d, bulk.on)));
        }
        if bulk.on {
            times.protodown_on += bulk.devices.len();
        } else {
            times.protodown_off += bulk.devices.len();
        }
    }
    for e in fanout.pathway_effects() {
        if let PathwayEffect::SetProtodown { device, on } = e {
            protodown.push(protodown_op(device, *on));
            if *on {
                times.protodown_on += 1;
            } else {
                times.protodown_off += 1;
            }
        }
    }
    execute_logged(kernel, &protodown).await;
    times.protodown_us = split();
    for effect in fanout.pathway_effects() {
        match effect {
            PathwayEffect::AddAddresses { interface, addrs }
            | PathwayEffect::DelAddresses { interface, addrs } => {
                let add = matches!(effect, PathwayEffect::AddAddresses { .. });
                let Ok(index) = kernel.ifindex(interface).await else {
                    continue;
                };
                for a in addrs {
                    let r = if add {
                        kernel.add_address(index, *a).await
                    } else {
                        kernel.del_address(index, *a).await
                    };
                    // Already there / already gone is the state we want.
                    if let Err(e) = r
                        && !matches!(e.errno(), Some(libc::EEXIST) | Some(libc::EADDRNOTAVAIL))
                    {
                        tracing::error!(target: "netvrrp::vrrs", %interface, "{e}");
                    }
                }
            }
            PathwayEffect::CreateDevice { device } => {
                let desired = crate::desired::DesiredState {
                    devices: vec![device.clone()],
                };
                let result = match kernel.snapshot().await {
                    Ok(snap) => match crate::plan::plan(
                        &snap,
                        &desired,
                        &[],
                        crate::plan::ProtodownOwner::Configurator,
                    ) {
                        Ok(p) => crate::apply::execute(kernel, &p.changes)
                            .await
                            .map_err(|e| e.to_string()),
                        Err(e) => Err(format!("{e:?}")),
                    },
                    Err(e) => Err(format!("{e:#}")),
                };
                if let Err(e) = result {
                    tracing::error!(target: "netvrrp::vrrs", device = %device.name, "cannot re-create the pathway device: {e}");
                }
            }
            PathwayEffect::SettleCarrier { interface } => {
                // Beside the fan-outs: a later one must not wait for the grace.
                let (kernel, interface) = (kernel.clone(), interface.clone());
                tokio::spawn(async move {
                    tokio::time::sleep(SETTLE_GRACE).await;
                    if let Err(e) = kernel.settle_link(&interface).await {
                        tracing::warn!(target: "netvrrp::vrrs", %interface, "{e}");
                    }
                });
            }
            _ => {}
        }
    }
    times.addresses_us = split();
    queue_gratuitous(kernel, frames, &links, fanout, false).await;
    frames.flush(|_, e| tracing::warn!(target: "netvrrp::vrrs", "gratuitous packet not sent: {e}"));
    times.gratuitous_us = split();
    if let Some(early) = early {
        match early.await {
            Ok((batch, took)) => {
                // Its buffers are kept for the next fan-out.
                *frames = batch;
                times.gratuitous_us += took.as_micros() as u64;
            }
            Err(e) => tracing::error!(target: "netvrrp::vrrs", "gratuitous packets: {e}"),
        }
    }
    for effect in fanout.client_effects() {
        let ClientEffect::SetAdminState { interface, up } = effect;
        match kernel.ifindex(interface).await {
            Ok(index) => {
                if let Err(e) = kernel.set_admin(index, *up).await {
                    tracing::error!(target: "netvrrp::vrrs", %interface, "{e}");
                }
            }
            Err(e) => tracing::error!(target: "netvrrp::vrrs", %interface, "{e}"),
        }
    }
    times
}

/// Queue the gratuitous ARP/NA of the fan-out's pathways with `mac` (`with_mac`) or
/// without (their packets leave from the interface itself).
async fn queue_gratuitous(
    kernel: &Kernel,
    frames: &mut FrameBatch,
    links: &HashMap<u32, &crate::kernel::LinkInfo>,
    fanout: &crate::vrrs::Fanout,
    with_mac: bool,
) {
    for update in &fanout.pathways {
        for effect in &update.effects {
            let crate::vrrs::PathwayEffect::Gratuitous { device, mac, addrs } = effect else {
                continue;
            };
            if (*device != update.interface) != with_mac {
                continue;
            }
            let Ok(index) = kernel.ifindex(device).await else {
                continue;
            };
            // Only an NA needs a source (IPv4-only pathways have IPv6 off).
            let mut link_local = None;
            let out = transmit_index(links, index);
            for a in addrs {
                // A freshly (re-)inserted interface has no link-local yet; the target
                // itself is on the device by now and is what the kernel's own NA uses.
                let src6 = match a {
                    IpAddr::V6(v) => Some(
                        link_local
                            .get_or_insert_with(|| link_local_near(links, index))
                            .unwrap_or(*v),
                    ),
                    IpAddr::V4(_) => None,
                };
                if let Err(e) = frames.push_gratuitous(DETACHED, out, *mac, *a, src6) {
                    tracing::warn!(target: "netvrrp::vrrs", %device, "{e:#}");
                }
            }
        }
    }
}

/// Where a pathway's frames leave: a macvlan's lower device (as the routers' frames do; see
/// [`net`]), any other device itself.
fn transmit_index(links: &HashMap<u32, &crate::kernel::LinkInfo>, index: u32) -> u32 {
    links
        .get(&index)
        .filter(|l| l.kind.as_deref() == Some("macvlan"))
        .and_then(|l| l.parent_index)
        .unwrap_or(index)
}

/// An IPv6 link-local on the link of `index`: its own, else its parent's.
fn link_local_near(
    links: &HashMap<u32, &crate::kernel::LinkInfo>,
    index: u32,
) -> Option<std::net::Ipv6Addr> {
    let ll = |i: u32| {
        links.get(&i).and_then(|l| {
            l.addresses.iter().find_map(|a| match a.addr() {
                IpAddr::V6(v) if (v.segments()[0] & 0xffc0) == 0xfe80 => Some(v),
                _ => None,
            })
        })
    };
    ll(index).or_else(|| links.get(&index).and_then(|l| l.parent_index).and_then(ll))
}

/// Who is on the other end of a control connection (see [`super::access`]).
async fn classify(
    stream: &tokio::net::UnixStream,
    policy: super::access::Policy,
) -> Result<super::access::Peer, String> {
    let cred = stream
        .peer_cred()
        .map_err(|e| format!("cannot identify the peer: {e}"))?;
    let (uid, gid) = (cred.uid(), cred.gid());
    let own = nix::unistd::geteuid().as_raw();
    if uid == 0 || uid == own {
        return policy.classify(uid, gid, own, Vec::new);
    }
    // The group database may be remote (NSS): look it up off the event loop.
    tokio::task::spawn_blocking(move || {
        policy.classify(uid, gid, own, || super::access::database_groups(uid, gid))
    })
    .await
    .map_err(|e| format!("group lookup failed: {e}"))?
}

/// One control connection: read request lines, forward them to the loop, write replies. A
/// subscribe request turns the connection into an event stream.
async fn serve_connection(
    stream: tokio::net::UnixStream,
    ctl: mpsc::Sender<Control>,
    peer: super::access::Peer,
    admission: &super::admission::Admission,
) {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read).take(control::MAX_REQUEST as u64);
    let mut line = String::new();
    loop {
        line.clear();
        // Idle between requests for at most IDLE_TIMEOUT (an idle connection holds a slot);
        // once a request starts, it must end within REQUEST_TIMEOUT.
        match tokio::time::timeout(super::admission::IDLE_TIMEOUT, reader.fill_buf()).await {
            // Err(_): idle too long.
            Err(_) | Ok(Ok([]) | Err(_)) => return,
            Ok(Ok(_)) => {}
        }
        match tokio::time::timeout(control::REQUEST_TIMEOUT, reader.read_line(&mut line)).await {
            Err(_elapsed) => {
                let msg = serde_json::to_string(&Reply::err("request not completed in time"))
                    .unwrap_or_default();
                let _ = write.write_all(format!("{msg}\n").as_bytes()).await;
                return;
            }
            Ok(Ok(0) | Err(_)) => return,
            Ok(Ok(_)) => {}
        }
        if !line.ends_with('\n') {
            let msg =
                serde_json::to_string(&Reply::err("request too long or not newline-terminated"))
                    .unwrap_or_default();
            let _ = write.write_all(format!("{msg}\n").as_bytes()).await;
            return;
        }
        reader.set_limit(control::MAX_REQUEST as u64);
        let reply = match control::parse_request(&line) {
            Err(e) => Reply::err(e),
            Ok(_)
                if let Some(Err(why)) = control::parse_identity(&line)
                    .map(|asked| super::identity::check_request(&asked)) =>
            {
                Reply::err(why)
            }
            Ok(req) if let Err(why) = peer.permits(&req) => {
                admission.refused_request(peer.uid, &why);
                Reply::err(why)
            }
            Ok(Request::Subscribe { names }) => {
                stream_events(&mut write, &ctl, &names).await;
                return;
            }
            Ok(req) => {
                let (tx, rx) = oneshot::channel();
                if ctl
                    .send(Control::Request(req, peer.trusted(), tx))
                    .await
                    .is_err()
                {
                    return;
                }
                match rx.await {
                    Ok(r) => r,
                    Err(_) => return,
                }
            }
        };
        let Ok(text) = serde_json::to_string(&reply) else {
            return;
        };
        if write
            .write_all(format!("{text}\n").as_bytes())
            .await
            .is_err()
        {
            return;
        }
    }
}

/// Answer one error line and close (the connection limit is reached).
async fn refuse_connection(mut stream: tokio::net::UnixStream, why: &str) {
    use tokio::io::AsyncWriteExt;
    let msg = serde_json::to_string(&Reply::err(why)).unwrap_or_default();
    let _ = tokio::time::timeout(
        Duration::from_secs(1),
        stream.write_all(format!("{msg}\n").as_bytes()),
    )
    .await;
}

/// A subscriber connection: the state each wanted name is in now, then every change, in
/// order, one JSON object per line, until either side goes away.
async fn stream_events(
    write: &mut tokio::net::unix::OwnedWriteHalf,
    ctl: &mpsc::Sender<Control>,
    names: &[String],
) {
    use tokio::io::AsyncWriteExt;
    let (tx, rx) = oneshot::channel();
    if ctl.send(Control::Subscribe(tx)).await.is_err() {
        return;
    }
    let Ok((current, mut events, mut tracks)) = rx.await else {
        return;
    };
    // A name nobody serves would wait silently forever: say so and which names exist.
    let known: Vec<&str> = current.iter().filter_map(|r| r["name"].as_str()).collect();
    let unknown: Vec<&str> = names
        .iter()
        .map(String::as_str)
        .filter(|n| !known.contains(n))
        .collect();
    if !unknown.is_empty() {
        let why = format!(
            "unknown VRRS leader name(s) {}; known: {}",
            unknown.join(", "),
            if known.is_empty() {
                "none (subscribe without names streams every VRRP state change)".to_string()
            } else {
                known.join(", ")
            }
        );
        let msg = serde_json::to_string(&Reply::err(why)).unwrap_or_default();
        let _ = write.write_all(format!("{msg}\n").as_bytes()).await;
        return;
    }
    let wanted = |n: &str| names.is_empty() || names.iter().any(|w| w == n);
    let mut lines = Vec::new();
    for row in current {
        if row["name"].as_str().is_some_and(wanted) {
            lines.push(json!({
                "event": "current",
                "name": row["name"],
                "state": row["state"],
                "previous": row["previous_state"],
                "vmac": row["vmac"],
                "vips": row["vips"],
            }));
        }
    }
    loop {
        for line in lines.drain(..) {
            if write
                .write_all(format!("{line}\n").as_bytes())
                .await
                .is_err()
            {
                return;
            }
        }
        let received = tokio::select! {
            ev = events.recv() => ev,
            t = tracks.recv() => {
                match t {
                    Ok(t) if wanted(&t.name) => lines.push(json!({
                        "event": "track",
                        "name": t.name,
                        "kind": t.kind,
                        "state": if t.up { "up" } else { "down" },
                        "result": t.result,
                        "time": t.time,
                    })),
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        lines.push(json!({ "event": "lagged", "missed": n }))
                    }
                    // The set lives as long as the runtime: only state events end a stream.
                    Err(broadcast::error::RecvError::Closed) => {}
                }
                continue;
            }
        };
        match received {
            Ok(ev) => {
                if names.is_empty() && ev.names.is_empty() {
                    // Without names every state change is wanted, those of instances no
                    // VRRS name follows (a plain VRRP configuration) included.
                    lines.push(change_line(None, &ev));
                }
                for name in ev.names.iter().filter(|n| wanted(n)) {
                    lines.push(change_line(Some(name), &ev));
                }
            }
            // A subscriber that cannot keep up is told how much it missed, never waited for.
            Err(broadcast::error::RecvError::Lagged(n)) => {
                lines.push(json!({ "event": "lagged", "missed": n }))
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// One `"event":"change"` subscribe line: a state change, for the leader `name` that
/// follows it (None: an instance no name follows).
fn change_line(name: Option<&str>, ev: &StateEvent) -> serde_json::Value {
    json!({
        "event": "change",
        "name": name,
        "previous": ev.previous,
        "state": ev.state,
        "reason": ev.reason,
        "interface": ev.interface,
        "vrid": ev.vrid,
        "family": ev.family,
        "vmac": ev.vmac,
        "vips": ev.vips,
        "time": ev.time,
    })
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    static RUNS: AtomicUsize = AtomicUsize::new(0);

    fn count() {
        RUNS.fetch_add(1, Ordering::SeqCst);
    }

    fn event() -> StateEvent {
        StateEvent {
            interface: "eth0".into(),
            vrid: 1,
            family: Family::Ipv4,
            names: Vec::new(),
            previous: State::Backup,
            state: State::Master,
            reason: "test".into(),
            vmac: MacAddr::vrrp(Family::Ipv4, 1),
            vips: Vec::new(),
            time: 0.0,
        }
    }

    /// Advance paused time by `d` and let the spawned tasks (and the blocking action) run.
    async fn pass(d: Duration) {
        tokio::time::sleep(d).await;
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }

    /// The heap trim waits until the runtime has been quiet for the whole interval: after
    /// start, after a burst of transitions (each one pushes it back), after a reload's
    /// kick; and a steady runtime does not trim again.
    #[tokio::test(start_paused = true)]
    async fn heap_trim_runs_once_things_are_quiet() {
        let (events, rx) = broadcast::channel(16);
        let kick = Arc::new(tokio::sync::Notify::new());
        let quiet = Duration::from_secs(3);
        spawn_debounced(rx, kick.clone(), quiet, count);
        pass(Duration::from_secs(2)).await;
        assert_eq!(
            RUNS.load(Ordering::SeqCst),
            0,
            "trimmed before start-up was quiet"
        );
        // Transitions every second keep pushing it back.
        for _ in 0..4 {
            events.send(event()).unwrap();
            pass(Duration::from_secs(1)).await;
        }
        assert_eq!(RUNS.load(Ordering::SeqCst), 0, "trimmed during a burst");
        pass(Duration::from_secs(2)).await;
        assert_eq!(RUNS.load(Ordering::SeqCst), 1, "not trimmed once quiet");
        pass(Duration::from_secs(60)).await;
        assert_eq!(
            RUNS.load(Ordering::SeqCst),
            1,
            "a steady runtime trimmed again"
        );
        kick.notify_one();
        pass(Duration::from_secs(4)).await;
        assert_eq!(RUNS.load(Ordering::SeqCst), 2, "not trimmed after a reload");
        // More events than the channel holds (lagged) still count as activity.
        for _ in 0..40 {
            let _ = events.send(event());
        }
        pass(Duration::from_secs(4)).await;
        assert_eq!(RUNS.load(Ordering::SeqCst), 3);
        drop(events);
        pass(Duration::from_secs(10)).await;
        assert_eq!(
            RUNS.load(Ordering::SeqCst),
            3,
            "ran after the runtime was gone"
        );
    }
}
