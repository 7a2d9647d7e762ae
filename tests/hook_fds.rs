//! 1,000 hook runs leave nothing behind: the descriptor count of the process (read from
//! /proc/self/fd) and tokio's live tasks are where they were before, whether the runs
//! succeed, write output, time out, or leave a setsid() descendant holding the output pipe.
//! One test in its own binary, so no other test opens descriptors meanwhile.

use netvrrp::config::RunAs;
use netvrrp::hook::{Hook, run::run};
use std::time::Duration;

fn fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .count()
}

fn hook(script: &str) -> Hook {
    Hook::new(
        vec!["/bin/sh".into(), "-c".into(), script.into()],
        RunAs::default(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_hook_runs_leave_descriptors_and_tasks_flat() {
    let metrics = tokio::runtime::Handle::current().metrics();
    // One run first: lazily opened descriptors (/dev/null, the signal pipe) are not leaks.
    run(&hook("true"), Duration::from_secs(5)).await;
    let (fds_before, tasks_before) = (fds(), metrics.num_alive_tasks());
    let token = format!("91.{}", std::process::id());
    let kinds = [
        (hook("exit 0"), Duration::from_secs(5)),
        (
            hook("echo out; echo err >&2; exit 3"),
            Duration::from_secs(5),
        ),
        // A descendant that escapes the group and keeps stdout open: killed by the
        // subreaper when the hook ends.
        (
            hook(&format!("setsid /bin/sleep {token} & exit 0")),
            Duration::from_secs(5),
        ),
        // Killed at the timeout with a setsid() child.
        (
            hook(&format!("setsid /bin/sleep {token} & /bin/sleep {token}")),
            Duration::from_millis(20),
        ),
    ];
    for i in 0..1000 {
        let (h, timeout) = &kinds[i % kinds.len()];
        let o = run(h, *timeout).await;
        match i % kinds.len() {
            0 | 2 => assert!(o.success, "{o:?}"),
            1 => assert_eq!((o.code, o.output.len()), (Some(3), 2), "{o:?}"),
            _ => assert!(o.timed_out, "{o:?}"),
        }
    }
    let (fds_after, tasks_after) = (fds(), metrics.num_alive_tasks());
    assert_eq!(fds_after, fds_before, "descriptors leaked");
    assert_eq!(tasks_after, tasks_before, "tasks leaked");
    let left = std::fs::read_dir("/proc")
        .expect("/proc")
        .filter_map(|e| std::fs::read(e.ok()?.path().join("cmdline")).ok())
        .filter(|c| String::from_utf8_lossy(c).contains(&token))
        .count();
    assert_eq!(left, 0, "a hook's descendant survived");
}
