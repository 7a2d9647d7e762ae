//! Background tasks of the runtime: the nftables filter task and the heap trimmer.

use super::*;

pub(super) enum FilterJob {
    Sync(crate::daemon::filter::FilterState),
    /// The dead-man leases of the Masters that advertised in one loop turn.
    Renew(Vec<crate::daemon::filter::Renewal>),
    /// The last job: install this state, say when it is in place, stop.
    Leave(crate::daemon::filter::FilterState, oneshot::Sender<()>),
}

/// Renewals alone wait at most this long for more to share their netlink batch.
const RENEW_GATHER_MAX: std::time::Duration = std::time::Duration::from_millis(50);

/// The loop's side of the filter: jobs for the filter task, and the filter itself for a new
/// Master, whose part cannot wait for the task ([`FilterHandle::promote`]).
pub(super) struct FilterHandle {
    jobs: mpsc::UnboundedSender<(FilterJob, u64)>,
    filter: Arc<Mutex<crate::daemon::filter::VipFilter>>,
    /// Orders the jobs and promotions (all issued by the loop; see
    /// [`crate::daemon::filter::VipFilter::promote`]).
    stamp: std::cell::Cell<u64>,
}

impl FilterHandle {
    fn next_stamp(&self) -> u64 {
        let s = self.stamp.get();
        self.stamp.set(s + 1);
        s
    }

    /// Hand a job to the filter task; false when the task is gone.
    pub(super) fn send(&self, job: FilterJob) -> bool {
        self.jobs.send((job, self.next_stamp())).is_ok()
    }

    /// Open the filter for a router that has just become Master, here and now (before its
    /// first advert). False when it could not be done at once (the task holds the filter,
    /// or there is no fast path): the task's next sync does it.
    pub(super) fn promote(&self, p: &crate::daemon::filter::Promotion) -> bool {
        let stamp = self.next_stamp();
        let Ok(mut filter) = self.filter.try_lock() else {
            return false;
        };
        filter.promote(p, stamp).unwrap_or_else(|e| {
            tracing::debug!(target: "netvrrp::kernel", "VIP filter: promotion not applied ({e:#}), left to the filter task");
            false
        })
    }
}

/// Filter jobs merged into one transaction.
#[derive(Default)]
struct Pending {
    /// The newest state and its stamp.
    wanted: Option<(crate::daemon::filter::FilterState, u64)>,
    renewals: Vec<crate::daemon::filter::Renewal>,
    done: Option<oneshot::Sender<()>>,
}

impl Pending {
    /// Take one job in: the newest state wins, renewals add up (one is never dropped: it is
    /// what keeps a Master answering). False once the stop's job is in: nothing may follow.
    fn take(&mut self, (job, stamp): (FilterJob, u64)) -> bool {
        match job {
            FilterJob::Sync(w) => self.wanted = Some((w, stamp)),
            FilterJob::Renew(r) => self.renewals.extend(r),
            FilterJob::Leave(w, d) => {
                // The stop: no Master is left to renew anything.
                (self.wanted, self.done) = (Some((w, stamp)), Some(d));
                self.renewals.clear();
                return false;
            }
        }
        true
    }

    /// How long renewals alone may wait for more to share their batch: an eighth of the
    /// shortest lease among them (at most [`RENEW_GATHER_MAX`]). A lease renewed that much
    /// later still ends before any backup takes over (3 intervals after the advert), and
    /// before the next renewal could be due (bounds in [`crate::daemon::filter::lease_for`]).
    /// With 1,000 routers at 1 s adverts this makes ~20 batches a second instead of one per
    /// loop turn with adverts (hundreds). A state change never waits.
    fn gather_window(&self) -> Option<std::time::Duration> {
        if self.wanted.is_some() || self.done.is_some() {
            return None;
        }
        let shortest = self.renewals.iter().map(|r| r.lease_ms).min()?;
        Some(std::time::Duration::from_millis(u64::from(shortest / 8)).min(RENEW_GATHER_MAX))
    }
}

/// The task that owns the nftables tables; jobs run in order, off the election loop, and
/// what piled up while the last one ran goes in one transaction (see [`Pending`]).
pub(super) fn spawn_filter_task(failures: Arc<std::sync::atomic::AtomicU64>) -> FilterHandle {
    let (tx, mut rx) = mpsc::unbounded_channel::<(FilterJob, u64)>();
    let shared = Arc::new(Mutex::new(crate::daemon::filter::VipFilter::default()));
    let handle = FilterHandle {
        jobs: tx,
        filter: shared.clone(),
        stamp: std::cell::Cell::new(0),
    };
    tokio::spawn(async move {
        while let Some(first) = rx.recv().await {
            let mut p = Pending::default();
            let mut open = p.take(first);
            while open && let Ok(j) = rx.try_recv() {
                open = p.take(j);
            }
            if let (true, Some(window)) = (open, p.gather_window()) {
                let until = tokio::time::Instant::now() + window;
                while open && p.wanted.is_none() {
                    tokio::select! {
                        j = rx.recv() => match j {
                            Some(j) => open = p.take(j),
                            None => break,
                        },
                        () = tokio::time::sleep_until(until) => break,
                    }
                }
            }
            let Pending {
                wanted,
                renewals,
                done,
            } = p;
            let shared = shared.clone();
            let result = tokio::task::spawn_blocking(move || {
                let mut filter = shared.lock().unwrap_or_else(|poisoned| {
                    // An update panicked: what it left installed is not known.
                    let mut f = poisoned.into_inner();
                    *f = crate::daemon::filter::VipFilter::default();
                    f
                });
                shared.clear_poison();
                // A state computed before a promotion is older than what is installed; the
                // loop sends a newer one after every promotion.
                let wanted = wanted
                    .filter(|(_, stamp)| !filter.is_stale(*stamp))
                    .map(|(w, _)| w);
                filter.update(wanted, &renewals)
            })
            .await
            .unwrap_or(Ok(crate::daemon::filter::SyncPath::Unchanged));
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
    handle
}

/// How long the runtime must see no state change before the heap is trimmed.
pub(super) const HEAP_TRIM_QUIET: std::time::Duration = std::time::Duration::from_secs(3);

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
pub(super) fn spawn_heap_trimmer(
    state_events: broadcast::Receiver<Published>,
    kick: Arc<tokio::sync::Notify>,
) {
    spawn_debounced(state_events, kick, HEAP_TRIM_QUIET, trim_heap);
}

/// Run `action` on a blocking-pool thread once `quiet` has passed since the start, the last
/// state event or the last `kick`, whichever is latest; then wait for the next one.
pub(super) fn spawn_debounced(
    mut state_events: broadcast::Receiver<Published>,
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

/// Make every thread of the runtime allocate from glibc's main heap arena.
///
/// glibc gives each thread that allocates its own arena (up to 8 per core), and memory freed
/// in one arena serves only that arena. The runtime's blocking threads (the configuration is
/// parsed there at every reload) and its VRRS executor then keep megabytes of their own
/// that the event loop cannot reuse for the kernel dump or the instances that follow: at
/// 4,000 routers, start-up and 10 reloads peaked at 35.9 MB resident with the default
/// arenas and 28.5 MB with one (measured with `MALLOC_ARENA_MAX=1`, the same setting). The
/// threads allocate little and rarely at the same moment, so the shared arena's lock costs
/// nothing measurable. Called first thing in the runtime process, before any other thread
/// exists (an arena, once made, stays).
pub(in crate::daemon) fn share_one_heap_arena() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets a glibc tunable; no Rust object is involved.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

pub(super) fn trim_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes glibc's own arena locks and touches no Rust object.
    unsafe {
        libc::malloc_trim(0);
    }
    tracing::debug!(target: "netvrrp::protocol", "freed heap handed back to the kernel");
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    static RUNS: AtomicUsize = AtomicUsize::new(0);

    fn renewal(lease_ms: u32) -> (FilterJob, u64) {
        let job = FilterJob::Renew(vec![crate::daemon::filter::Renewal {
            device: Some(7),
            vips: Vec::new(),
            lease_ms,
        }]);
        (job, 0)
    }

    /// Renewals alone wait an eighth of their shortest lease (at most 50 ms) for company;
    /// a state change or the stop never waits, and the stop ends the intake.
    #[test]
    fn renewals_gather_briefly_state_changes_never_wait() {
        let mut p = Pending::default();
        assert!(p.take(renewal(2000)) && p.take(renewal(200)));
        assert_eq!(p.gather_window(), Some(Duration::from_millis(25)));
        assert_eq!(p.renewals.len(), 2);
        let mut slow = Pending::default();
        slow.take(renewal(80_000));
        assert_eq!(slow.gather_window(), Some(RENEW_GATHER_MAX));
        assert!(p.take((FilterJob::Sync(Default::default()), 1)));
        assert_eq!(p.gather_window(), None, "a state change waited");
        let (done, _wait) = oneshot::channel();
        assert!(!p.take((FilterJob::Leave(Default::default(), done), 2)));
        assert!(p.renewals.is_empty(), "renewed after the stop");
        assert_eq!(Pending::default().gather_window(), None);
    }

    fn count() {
        RUNS.fetch_add(1, Ordering::SeqCst);
    }

    fn event() -> Published {
        Published {
            names: Vec::new(),
            event: StateEvent {
                interface: "eth0".into(),
                vrid: 1,
                family: Family::Ipv4,
                router: None,
                previous: State::Backup,
                state: State::Master,
                reason: "test".into(),
                vmac: MacAddr::vrrp(Family::Ipv4, 1),
                vips: Vec::new(),
                time: 0.0,
            },
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
