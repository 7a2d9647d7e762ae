//! `[runtime] realtime-priority`: the event loop under SCHED_FIFO.
//!
//! The runtime is one current-thread tokio loop on the main thread, so putting that thread
//! under a real-time policy keeps advert timers punctual when the machine's CPUs are busy
//! with ordinary (SCHED_OTHER) work. SCHED_RESET_ON_FORK keeps the privilege from spreading:
//! processes it runs (VRRS client hooks, track checks) and threads started later go back to
//! SCHED_OTHER instead of inheriting a policy that could starve the machine.

/// Put the calling thread under SCHED_FIFO at `priority` (1..=99, checked by the config
/// parser). Failing (EPERM without CAP_SYS_NICE, an RLIMIT_RTPRIO too low, a cgroup without
/// real-time budget) is logged and the runtime continues with normal scheduling: elections
/// still work, only with the ordinary scheduler's latency.
pub fn apply_realtime_priority(priority: Option<u8>) {
    let Some(priority) = priority else {
        return;
    };
    let param = libc::sched_param {
        sched_priority: i32::from(priority),
    };
    // SAFETY: pid 0 is the calling thread; `param` is a valid sched_param that outlives the
    // call, which only reads it.
    let rc = unsafe {
        libc::sched_setscheduler(0, libc::SCHED_FIFO | libc::SCHED_RESET_ON_FORK, &param)
    };
    if rc == 0 {
        tracing::info!(
            target: "netvrrp::protocol",
            priority,
            "event loop runs under SCHED_FIFO"
        );
    } else {
        let err = std::io::Error::last_os_error();
        tracing::warn!(
            target: "netvrrp::protocol",
            priority,
            "cannot set SCHED_FIFO for the event loop, continuing with normal scheduling: {err}"
        );
    }
}
