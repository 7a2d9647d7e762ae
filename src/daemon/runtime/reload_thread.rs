//! The thread reloads are prepared on: its own event loop and its own rtnetlink socket.
//!
//! The loop's tokio runtime has one thread, and a task spawned on it runs on that thread
//! between the loop's turns. A reload's kernel dump is mostly the kernel filling the link
//! and address messages inside `recvmsg`, on the thread that reads them: at 1,100 routers
//! that was 20 ms in one go (perf, release build, a reload of all 1,000 priorities), during
//! which no timer fired, so every 10 ms router missed an advert. Here the whole preparation
//! (reading and checking the file, the dump, the kernel changes of a SIGHUP, the
//! comparison, the reply's serialisation) runs on a thread of its own; only the prepared
//! swap reaches the loop, through its commit channel. The thread runs at normal priority
//! (`realtime-priority` is set with SCHED_RESET_ON_FORK) in the runtime's network namespace.

use super::reload::ReconcileKernel;
use crate::kernel::Kernel;
use anyhow::Context;
use std::sync::Arc;
use tokio::sync::mpsc;

/// Where reloads are prepared. Clones share the thread; it ends when the last is dropped
/// (tasks still running there are dropped with it: the loop that would take their swap is
/// gone).
#[derive(Clone)]
pub(in crate::daemon) struct ReloadThread {
    handle: tokio::runtime::Handle,
    kernel: ReconcileKernel,
    _alive: Arc<mpsc::Sender<()>>,
}

impl ReloadThread {
    /// Start the thread with a netlink socket of its own (sharing `parent`'s name → ifindex
    /// cache).
    pub fn spawn(parent: &Kernel) -> anyhow::Result<ReloadThread> {
        let (executor, kernel) = super::side_loop::own_loop(parent, "the reload thread")?;
        let handle = executor.handle().clone();
        let (alive, mut gone) = mpsc::channel::<()>(1);
        std::thread::Builder::new()
            .name("netvrrp-reload".into())
            .spawn(move || {
                // Nothing is ever sent: `recv` returns when every clone is dropped.
                executor.block_on(async move { while gone.recv().await.is_some() {} });
            })
            .context("cannot start the reload thread")?;
        Ok(ReloadThread {
            handle,
            kernel: Arc::new(tokio::sync::Mutex::new(kernel)),
            _alive: Arc::new(alive),
        })
    }

    /// The netlink connection reloads read and change the kernel through.
    pub fn kernel(&self) -> ReconcileKernel {
        self.kernel.clone()
    }

    /// Run `work` on the reload thread, without waiting for it.
    pub fn spawn_task<F>(&self, work: F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        drop(self.handle.spawn(work));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn work_runs_on_the_reload_thread_not_the_callers() {
        let kernel = Kernel::connect().await.expect("rtnetlink");
        let thread = ReloadThread::spawn(&kernel).expect("reload thread");
        let (tx, rx) = tokio::sync::oneshot::channel();
        thread.spawn_task(async move {
            let name = std::thread::current().name().map(str::to_string);
            let _ = tx.send(name);
        });
        assert_eq!(rx.await.expect("ran").as_deref(), Some("netvrrp-reload"));
        // Its own netlink socket answers a dump while the caller's loop is free.
        let k = thread.kernel();
        let (tx, rx) = tokio::sync::oneshot::channel();
        thread.spawn_task(async move {
            let dumped = k.lock().await.snapshot().await.map(|s| s.links.len());
            let _ = tx.send(dumped.ok());
        });
        assert!(rx.await.expect("ran").is_some_and(|n| n >= 1));
    }
}
