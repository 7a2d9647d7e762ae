//! What [`Runtime::run`] does around its one `select!`: the set-up before the loop (the
//! control socket, the metrics listener) and the bodies of the arms too long to sit inline
//! (a batch of kernel events, a new control connection). The select itself stays in `run`,
//! with the comments on why each arm sits where it does: its order is the priority.

use super::*;
use std::path::Path;
use std::pin::Pin;

/// The control socket at `sock_path` (a stale one removed first), root-only until
/// [`Runtime::set_socket_mode`] applies the access policy.
pub(super) fn bind_control_socket(sock_path: &Path) -> anyhow::Result<UnixListener> {
    let _ = std::fs::remove_file(sock_path);
    let listener = UnixListener::bind(sock_path)
        .with_context(|| format!("cannot bind {}", sock_path.display()))?;
    // Root-only until the policy is applied: nobody can connect in between.
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(sock_path, std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("cannot chmod {}", sock_path.display()))?;
    }
    Ok(listener)
}

/// A new control connection, served in a task of its own so the loop never waits for a
/// peer: classified, admitted within the caps, then its requests forwarded to `ctl_send`.
pub(super) fn admit_connection(
    stream: tokio::net::UnixStream,
    policy: crate::daemon::access::Policy,
    admission: Arc<crate::daemon::admission::Admission>,
    ctl_send: mpsc::Sender<Control>,
) {
    tokio::spawn(async move {
        // Refusals are counted and summarised (see `crate::daemon::admission`), not
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

impl Runtime {
    /// The Prometheus listener of `metrics-listen`, if set: scrapes reach the loop through
    /// `scrape_send`. A bad address or a failed bind is logged and the runtime runs without.
    /// `run` keeps its sender either way, so the scrape channel never closes under the loop.
    pub(super) async fn serve_metrics(
        &self,
        scrape_send: &mpsc::Sender<oneshot::Sender<crate::daemon::metrics::Snapshot>>,
    ) {
        if let Some(listen) = &self.metrics_listen {
            match listen.parse::<std::net::SocketAddr>() {
                // Bound here, before READY=1, so a scrape right after start finds it.
                Ok(addr) => match tokio::net::TcpListener::bind(addr).await {
                    Ok(listener) => {
                        tracing::info!(target: "netvrrp::protocol", %addr, "serving Prometheus metrics");
                        if let Some(why) = crate::config::exposed_listen_address(&addr) {
                            tracing::warn!(target: "netvrrp::protocol", %addr, "{why}");
                        }
                        tokio::spawn(crate::daemon::metrics_http::serve(
                            listener,
                            scrape_send.clone(),
                        ));
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
    }

    /// The kernel event `ev` and every other one already queued behind it.
    pub(super) async fn on_kernel_events(
        &mut self,
        ev: KernelEvent,
        kernel_events: &mut Pin<Box<crate::kernel::EventStream>>,
    ) {
        // An event storm (hundreds of unrelated links changing) costs one
        // re-read of the kernel, not one per event.
        let mut relevant = self.wants_event(&ev);
        let mut overrun = matches!(ev, KernelEvent::Overrun);
        while let Some(Some(more)) = kernel_events.next().now_or_never() {
            relevant |= self.wants_event(&more);
            overrun |= matches!(more, KernelEvent::Overrun);
        }
        if overrun {
            tracing::warn!(target: "netvrrp::kernel", "netlink events overrun; re-reading the kernel state");
        }
        if overrun || (relevant && self.vrrs_pending.load(std::sync::atomic::Ordering::SeqCst) == 0)
        {
            self.refresh_links().await;
        } else if relevant {
            // A fan-out is switching many links: the events are mostly its own,
            // and a full re-read per batch would slow it several-fold (RTNL and
            // this thread). Re-read once it is done.
            self.links_stale = true;
        }
    }
}
