//! The VRRS fan-out executor: the thread that carries out VRRS fan-outs (pathway protodown
//! in device-group batches, addresses, gratuitous packets), in order, off the election loop.

use super::*;

/// Work for the VRRS executor task.
pub(super) enum VrrsJob {
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
pub(super) fn spawn_vrrs_executor(
    parent: Kernel,
    mut frames: FrameBatch,
    runners: Arc<Mutex<crate::vrrs::ClientRunners>>,
    pending: Arc<std::sync::atomic::AtomicUsize>,
    done: mpsc::UnboundedSender<()>,
) -> anyhow::Result<mpsc::UnboundedSender<VrrsJob>> {
    let (tx, mut rx) = mpsc::unbounded_channel::<VrrsJob>();
    // Opened here so a failure stops the start.
    let (executor, kernel) = super::side_loop::own_loop(&parent, "the VRRS executor")?;
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
                    // Counted until its notices are with the runners: a reload that sees
                    // none pending need not wait for the executor (see `begin_reload`).
                    pending.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                    let _ = done.send(());
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

/// Where a fan-out's time went (logged with "fan-out done"; bench/vrrs_fanout.sh).
#[derive(Default)]
pub(super) struct FanoutTimes {
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
pub(super) async fn execute_logged(kernel: &Kernel, ops: &[crate::plan::Op]) {
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
pub(super) async fn execute_fanout(
    kernel: &Kernel,
    frames: &mut FrameBatch,
    snapshot: &Snapshot,
    fanout: &crate::vrrs::Fanout,
) -> FanoutTimes {
    use crate::vrrs::PathwayEffect;
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
    // Group moves first: a bulk change below must find exactly the members the core
    // counted (one joining now is among them, one leaving must be gone).
    execute_logged(kernel, &group_ops(fanout)).await;
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
    set_protodown(kernel, fanout, &mut times).await;
    times.protodown_us = split();
    pathway_kernel_effects(kernel, fanout).await;
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
    client_kernel_effects(kernel, fanout).await;
    times
}

/// The pathway group moves of a fan-out, as operations.
fn group_ops(fanout: &crate::vrrs::Fanout) -> Vec<crate::plan::Op> {
    use crate::vrrs::PathwayEffect;
    fanout
        .pathway_effects()
        .filter_map(|e| match e {
            PathwayEffect::SetGroup { device, group } => Some(crate::plan::Op::SetGroup {
                device: device.clone(),
                group: *group,
                previous: 0,
            }),
            _ => None,
        })
        .collect()
}

fn protodown_op(device: &str, on: bool) -> crate::plan::Op {
    crate::plan::Op::SetProtodown {
        device: device.to_string(),
        on,
        previous: !on,
    }
}

/// Protodown: one request per device group in `fanout.bulk` (a refused one member by
/// member), the other devices in one netlink batch; counted in `times`.
async fn set_protodown(kernel: &Kernel, fanout: &crate::vrrs::Fanout, times: &mut FanoutTimes) {
    use crate::vrrs::PathwayEffect;
    let mut protodown: Vec<crate::plan::Op> = Vec::new();
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
}

/// Addresses, re-created devices and carrier settling of a fan-out's pathways.
async fn pathway_kernel_effects(kernel: &Kernel, fanout: &crate::vrrs::Fanout) {
    use crate::vrrs::PathwayEffect;
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
                        crate::plan::Renaming::of_release(crate::host::running_release()),
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
}

/// The clients' kernel effects (interface admin state).
async fn client_kernel_effects(kernel: &Kernel, fanout: &crate::vrrs::Fanout) {
    use crate::vrrs::ClientEffect;
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
}

/// Queue the gratuitous ARP/NA of the fan-out's pathways with `mac` (`with_mac`) or
/// without (their packets leave from the interface itself).
pub(super) async fn queue_gratuitous(
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
pub(super) fn transmit_index(links: &HashMap<u32, &crate::kernel::LinkInfo>, index: u32) -> u32 {
    links
        .get(&index)
        .filter(|l| l.kind.as_deref() == Some("macvlan"))
        .and_then(|l| l.parent_index)
        .unwrap_or(index)
}

/// An IPv6 link-local on the link of `index`: its own, else its parent's.
pub(super) fn link_local_near(
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
