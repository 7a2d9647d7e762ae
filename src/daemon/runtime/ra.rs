//! Router Advertisements of the IPv6 instances with `router-advertisements`: one
//! [`RaScheduler`] per instance (sans-IO, [`crate::vrrp::ra`]) driven by the event loop, the
//! RAs queued on the loop's frame batch with the adverts and NAs, and one Router
//! Solicitation socket per parent.
//!
//! A scheduler advertises exactly while its router is Master: [`Runtime::sync_ras`], called
//! at the top of every loop turn before the frames are flushed, starts it on the turn the
//! router became Master (so the first RA leaves with the takeover's adverts and NAs) and
//! stops it on the turn it left, before anything else could be sent. Solicitations are
//! heard by every router of the parent; the scheduler of one that is not Master ignores
//! them. A graceful stop sends no RA with lifetime 0 (a Backup goes on advertising the
//! same router; see netvrrp.toml(5), ROUTER ADVERTISEMENTS).

use super::*;
use crate::contract::RaRow;
use crate::vrrp::ra::{RaParams, RaScheduler, check_solicitation};
use crate::vrrp::ra_net::RsSocket;
use std::hash::{BuildHasher, Hasher};

/// Solicitations read from one socket per loop turn at most.
const RS_BURST: usize = 64;

/// One instance that advertises while Master.
struct RaRouter {
    key: InstanceKey,
    /// Position in the runtime's instance list (rebuilt with it).
    index: usize,
    parent_index: u32,
    scheduler: RaScheduler,
}

/// Every RA scheduler and solicitation socket of the runtime.
#[derive(Default)]
pub(super) struct RaRuntime {
    routers: Vec<RaRouter>,
    sockets: HashMap<u32, RsSocket>,
    /// `Runtime::reloads` when the list was built (None: never built).
    built_at: Option<(u64, usize)>,
    buf: Vec<u8>,
    /// xorshift64 state: the random intervals and delays of RFC 4861.
    rng: u64,
}

/// The RA parameters of an IPv6 instance's configuration, None without RAs or a link-local.
fn ra_params(rc: &RouterConfig, vmac: MacAddr) -> Option<RaParams> {
    Some(RaParams {
        source: rc.virtual_link_local()?,
        mac: vmac,
        settings: rc.router_advertisements.as_deref()?.clone(),
    })
}

impl RaRuntime {
    fn random(&mut self) -> u64 {
        if self.rng == 0 {
            // Seeded by the standard library's per-process random keys.
            self.rng = std::collections::hash_map::RandomState::new()
                .build_hasher()
                .finish()
                | 1;
        }
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        x
    }

    /// The earliest RA due, if any.
    pub(super) fn next_deadline(&self) -> Option<Time> {
        self.routers
            .iter()
            .filter_map(|r| r.scheduler.next_deadline())
            .min()
    }

    /// The `router_advertisements` object of an instance's `show vrrp` row (null without).
    pub(super) fn row(&self, index: usize) -> Option<RaRow> {
        let r = self.routers.iter().find(|r| r.index == index)?;
        let p = r.scheduler.params();
        Some(RaRow {
            state: r.scheduler.state(),
            source: p.source,
            lifetime_s: p.settings.lifetime_s,
            min_interval_ms: p.settings.min_interval_ms,
            max_interval_ms: p.settings.max_interval_ms,
            prefixes: p.settings.prefixes.clone(),
            rdnss: p.settings.rdnss.clone(),
            mtu: p.settings.mtu,
            solicitation_socket: self.sockets.contains_key(&r.parent_index),
            counters: r.scheduler.counters(),
        })
    }
}

/// Ready when any solicitation socket is readable.
pub(super) fn poll_solicitations(
    ra: &RaRuntime,
    cx: &mut std::task::Context<'_>,
) -> std::task::Poll<()> {
    let mut ready = false;
    for sock in ra.sockets.values() {
        ready |= sock.poll_ready(cx).is_ready();
    }
    if ready {
        std::task::Poll::Ready(())
    } else {
        std::task::Poll::Pending
    }
}

impl Runtime {
    /// Rebuild the RA list after the instance list changed (start, reload): schedulers of
    /// instances that stay keep their state and counters; settings that changed are
    /// advertised at once by a Master.
    fn rebuild_ras(&mut self) {
        let now = self.now();
        // By key: a reload rebuilds the instance list, so positions move.
        let mut old: HashMap<InstanceKey, RaRouter> = std::mem::take(&mut self.ra.routers)
            .into_iter()
            .map(|r| (r.key.clone(), r))
            .collect();
        let mut routers = Vec::new();
        for (index, inst) in self.instances.iter().enumerate() {
            if inst.key.family != Family::Ipv6 {
                continue;
            }
            let Some(params) = ra_params(&inst.config, inst.vmac) else {
                continue;
            };
            let scheduler = match old.remove(&inst.key) {
                Some(mut r) => {
                    r.scheduler.reconfigure(params, now);
                    r.scheduler
                }
                None => RaScheduler::new(params),
            };
            routers.push(RaRouter {
                key: inst.key.clone(),
                index,
                parent_index: inst.parent_index,
                scheduler,
            });
        }
        self.ra.routers = routers;
        let parents: HashSet<u32> = self.ra.routers.iter().map(|r| r.parent_index).collect();
        self.ra.sockets.retain(|p, _| parents.contains(p));
        for p in parents {
            if self.ra.sockets.contains_key(&p) {
                continue;
            }
            match RsSocket::open(p) {
                Ok(s) => {
                    self.ra.sockets.insert(p, s);
                }
                Err(e) => {
                    tracing::error!(target: "netvrrp::packets", parent_index = p, "cannot open the Router Solicitation socket (unsolicited RAs still go): {e:#}");
                }
            }
        }
        if self.ra.buf.is_empty() && !self.ra.routers.is_empty() {
            self.ra.buf = vec![0; net::RX_BUFFER_LEN];
        }
    }

    /// Start and stop the schedulers with their routers' mastership and queue the RAs that
    /// are due (see the module docs). Called at the top of every loop turn.
    pub(super) fn sync_ras(&mut self) {
        let built = (self.reloads, self.instances.len());
        if self.ra.built_at != Some(built) {
            self.rebuild_ras();
            self.ra.built_at = Some(built);
        }
        if self.ra.routers.is_empty() {
            return;
        }
        let now = self.now();
        let Runtime {
            ra,
            instances,
            frames,
            ..
        } = self;
        for i in 0..ra.routers.len() {
            let random = ra.random();
            let r = &mut ra.routers[i];
            let Some(inst) = instances.get(r.index) else {
                r.scheduler.stop();
                continue;
            };
            let master = inst.router.state() == State::Master;
            match (master, r.scheduler.state()) {
                (true, crate::vrrp::ra::RaState::Silent) => r.scheduler.start(now),
                (false, crate::vrrp::ra::RaState::Advertising) => r.scheduler.stop(),
                _ => {}
            }
            if master && r.scheduler.poll(now, random) {
                frames.push_router_advert(r.index, inst.parent_index, r.scheduler.params());
            }
        }
    }

    /// Read the queued solicitations and hand each to the schedulers of its parent.
    pub(super) fn drain_solicitations(&mut self) {
        let now = self.now();
        let parents: Vec<u32> = self.ra.sockets.keys().copied().collect();
        for parent in parents {
            for _ in 0..RS_BURST {
                let ra = &mut self.ra;
                let Some(sock) = ra.sockets.get_mut(&parent) else {
                    break;
                };
                let got = match sock.try_recv(&mut ra.buf) {
                    Ok(Some(s)) => s,
                    Ok(None) => break,
                    Err(e) => {
                        tracing::warn!(target: "netvrrp::packets", parent_index = parent, "Router Solicitation socket: {e}");
                        break;
                    }
                };
                let len = got.len.min(ra.buf.len());
                let check = check_solicitation(got.source, got.hop_limit, &ra.buf[..len]);
                if let Err(e) = &check {
                    tracing::debug!(target: "netvrrp::packets", source = %got.source, "Router Solicitation discarded: {e}");
                }
                for i in 0..ra.routers.len() {
                    let random = ra.random();
                    let r = &mut ra.routers[i];
                    if r.parent_index == parent {
                        r.scheduler.solicited(now, check, random);
                    }
                }
            }
        }
    }
}
