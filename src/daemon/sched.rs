//! `[runtime] realtime-priority`: the event loop under SCHED_FIFO.
//!
//! The runtime is one current-thread tokio loop on the main thread, so putting that thread
//! under a real-time policy keeps advert timers punctual when the machine's CPUs are busy
//! with ordinary (SCHED_OTHER) work. SCHED_RESET_ON_FORK keeps the privilege from spreading:
//! processes it runs (VRRS client hooks, track checks) and threads started later go back to
//! SCHED_OTHER instead of inheriting a policy that could starve the machine; the runtime's
//! own helper threads join one step below the loop explicitly ([`join_realtime_helpers`]).

use std::sync::atomic::{AtomicI32, Ordering};

/// The SCHED_FIFO priority of the runtime's helper threads (0: normal scheduling).
static HELPER_PRIORITY: AtomicI32 = AtomicI32::new(0);

/// Put the calling thread under SCHED_FIFO at `priority` (1..=99, checked by the config
/// parser). The runtime's own helper threads (reload thread, VRRS executor, blocking pool)
/// follow one step below it: they share glibc's heap lock (and tokio's queues) with the
/// loop, and a normal-priority helper preempted by an ordinary process while holding that
/// lock stalls the loop (perf sched_switch during a reload of 1,000 routers: the loop
/// waiting on the futex in malloc while the reload thread parsed and dumped). Below the
/// loop they never delay it; above ordinary processes they are not preempted by them while
/// holding a lock it needs. Processes the runtime starts stay under the normal scheduler. Failing (EPERM without CAP_SYS_NICE, an RLIMIT_RTPRIO too low, a cgroup without
/// real-time budget) is logged and the runtime continues with normal scheduling: elections
/// still work, only with the ordinary scheduler's latency.
pub fn apply_realtime_priority(priority: Option<u8>) {
    let Some(priority) = priority else {
        return;
    };
    match set_fifo(0, i32::from(priority)) {
        Ok(()) => {
            let helpers = (i32::from(priority) - 1).max(1);
            HELPER_PRIORITY.store(helpers, Ordering::SeqCst);
            // The helpers already running (tokio's blocking pool, the identity thread).
            // SAFETY: plain syscall without arguments.
            let me = unsafe { libc::gettid() };
            if let Ok(tasks) = std::fs::read_dir("/proc/self/task") {
                for tid in tasks
                    .flatten()
                    .filter_map(|t| t.file_name().to_str()?.parse().ok())
                {
                    if tid != me {
                        let _ = set_fifo(tid, helpers);
                    }
                }
            }
            tracing::info!(
                target: "netvrrp::protocol",
                priority,
                helpers,
                "event loop runs under SCHED_FIFO"
            );
        }
        Err(err) => tracing::warn!(
            target: "netvrrp::protocol",
            priority,
            "cannot set SCHED_FIFO for the event loop, continuing with normal scheduling: {err}"
        ),
    }
}

/// Give a helper thread of the runtime the helpers' real-time priority, if the loop has one
/// (the thread-start hook of every tokio runtime, and the first thing the runtime's own
/// threads do).
pub fn join_realtime_helpers() {
    let priority = HELPER_PRIORITY.load(Ordering::SeqCst);
    if priority > 0 {
        let _ = set_fifo(0, priority);
    }
}

/// SCHED_FIFO at `priority` for thread `tid` (0: the calling thread), reset on fork.
fn set_fifo(tid: libc::pid_t, priority: i32) -> std::io::Result<()> {
    let param = libc::sched_param {
        sched_priority: priority,
    };
    // SAFETY: `param` is a valid sched_param that outlives the call, which only reads it.
    let rc = unsafe {
        libc::sched_setscheduler(tid, libc::SCHED_FIFO | libc::SCHED_RESET_ON_FORK, &param)
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}
