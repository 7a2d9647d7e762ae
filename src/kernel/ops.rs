//! [`Kernel`]: snapshots and plan execution over one rtnetlink connection.

use super::Op;
use super::error::{Cause, KernelError};
use super::nl::{Conn, Request};
use super::parse::{
    RTM_NEWADDR, RTM_NEWLINK, address_from_payload, addrgenmode_to_nl, is_kernel_link_local,
    link_from_payload, link_index, macvlan_mode_to_nl,
};
use super::{LinkInfo, Snapshot, schedule};
use anyhow::Context;
use ipnet::IpNet;
use netlink_packet_core::{NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REQUEST};
use netlink_packet_route::address::{
    AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage,
};
use netlink_packet_route::link::{
    AfSpecInet6, AfSpecUnspec, InfoKind, LinkAttribute, LinkExtentMask, LinkMessage, MacVlanMode,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use rtnetlink::{LinkMacVlan, LinkMessageBuilder, LinkUnspec};
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

const ENODEV: i32 = libc::ENODEV;

/// What happened to one operation of [`Kernel::execute_many`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The kernel applied it (it must be undone on rollback).
    Done,
    /// The kernel refused it (nothing to undo for this one).
    Failed(KernelError),
    /// Not attempted because an earlier operation failed.
    NotRun,
}

impl Outcome {
    pub fn is_done(&self) -> bool {
        matches!(self, Outcome::Done)
    }
}

/// The kernel of the current network namespace, through one rtnetlink socket.
///
/// Cheap to clone; clones share the socket and the name → ifindex cache.
#[derive(Clone, Debug)]
pub struct Kernel {
    conn: Conn,
    /// Device name → ifindex, filled by [`Kernel::snapshot`] and kept current by the
    /// operations this handle runs; misses are looked up (and stale hits retried once).
    index: Arc<Mutex<HashMap<String, u32>>>,
}

/// One operation turned into what must be done.
enum Action {
    Netlink(Request),
    Sysctl { path: PathBuf, value: i32 },
}

impl Kernel {
    /// Open the rtnetlink socket in the current thread's network namespace; its connection
    /// task runs on the current tokio runtime.
    pub async fn connect() -> anyhow::Result<Kernel> {
        let conn = Conn::open().context("cannot open an rtnetlink socket")?;
        Ok(Kernel {
            conn,
            index: Arc::default(),
        })
    }

    /// Another rtnetlink socket (a socket serves one dump at a time) sharing this handle's
    /// name → ifindex cache, so whatever either learns (snapshots, lookups) the other uses.
    pub async fn sibling(&self) -> anyhow::Result<Kernel> {
        self.sibling_now()
    }

    /// [`Kernel::sibling`] outside async code: the caller must be inside the tokio runtime
    /// that is to run the new socket's connection task (`Runtime::enter`).
    pub fn sibling_now(&self) -> anyhow::Result<Kernel> {
        let conn = Conn::open().context("cannot open an rtnetlink socket")?;
        Ok(Kernel {
            conn,
            index: self.index.clone(),
        })
    }

    /// Fill the name → ifindex cache from a snapshot taken elsewhere, so that the first
    /// operations by name do not each cost a lookup (a stale entry costs one retry).
    pub fn remember(&self, snapshot: &Snapshot) {
        let mut cache = self.cache();
        for l in &snapshot.links {
            cache.insert(l.name.clone(), l.index);
        }
    }

    /// Every link with its addresses: one link dump and one address dump (each retried if
    /// the kernel flags it as interrupted by a concurrent change). The DAD sysctls come from
    /// the link dump's inet6 config, so no file is read. Refreshes the name → ifindex cache.
    pub async fn snapshot(&self) -> anyhow::Result<Snapshot> {
        let mut get_links = LinkMessage::default();
        // Counters are a large part of each link message and nobody here reads them.
        get_links
            .attributes
            .push(LinkAttribute::ExtMask(vec![LinkExtentMask::SkipStats]));
        // Both dumps are streamed: each message becomes its compact form as it arrives and
        // its bytes are gone with the next datagram, so the dump never sits in memory (at
        // 4,000 routers it was the runtime's start-up peak). One socket runs one dump at a
        // time (the kernel answers EBUSY to a second), so the two dumps are sequential.
        let mut links: Vec<LinkInfo> = Vec::new();
        self.conn
            .dump(RouteNetlinkMessage::GetLink(get_links), |m| match m {
                None => links.clear(),
                Some((kind, payload)) => {
                    if kind == RTM_NEWLINK
                        && let Some(link) = link_from_payload(payload)
                    {
                        links.push(link);
                    }
                }
            })
            .await
            .map_err(|c| anyhow::anyhow!("link dump: {c}"))?;
        links.sort_by_key(|l| l.index);
        links.shrink_to_fit();
        self.conn
            .dump(
                RouteNetlinkMessage::GetAddress(AddressMessage::default()),
                |m| match m {
                    None => links.iter_mut().for_each(|l| l.addresses.clear()),
                    Some((kind, payload)) => {
                        if kind == RTM_NEWADDR
                            && let Some((index, net)) = address_from_payload(payload)
                            && let Ok(at) = links.binary_search_by_key(&index, |l| l.index)
                        {
                            links[at].addresses.push(net);
                            if is_kernel_link_local(payload) {
                                links[at].kernel_link_locals.push(net);
                            }
                        }
                    }
                },
            )
            .await
            .map_err(|c| anyhow::anyhow!("address dump: {c}"))?;
        for link in &mut links {
            link.addresses.shrink_to_fit();
        }
        *self.cache() = links.iter().map(|l| (l.name.clone(), l.index)).collect();
        Ok(Snapshot { links })
    }

    /// Run one operation.
    pub async fn execute(&self, op: &Op) -> Result<(), KernelError> {
        match self.execute_many(std::slice::from_ref(op)).await.pop() {
            Some(Outcome::Done) => Ok(()),
            Some(Outcome::Failed(err)) => Err(err),
            _ => Err(KernelError::new(
                op.to_string(),
                Cause::Other("not run".into()),
            )),
        }
    }

    /// Run a plan's operations, pipelined: operations on different devices go to the kernel
    /// together (batched into datagrams, in plan order), operations on one device (or one
    /// MAC, or one address) keep their order, and nothing is sent before what it depends on
    /// is acknowledged. After a failure no further level starts; operations already sent with
    /// it complete. Returns one [`Outcome`] per operation, in plan order: undo the `Done`
    /// ones in reverse plan order to roll back.
    pub async fn execute_many(&self, ops: &[Op]) -> Vec<Outcome> {
        let mut out = vec![Outcome::NotRun; ops.len()];
        for wave in schedule::waves(ops) {
            self.run_wave(ops, &wave, &mut out).await;
            if wave.iter().any(|&i| matches!(out[i], Outcome::Failed(_))) {
                break;
            }
        }
        out
    }

    /// Set protodown by ifindex (runtime hot path).
    ///
    /// Clearing protodown turns the carrier on, but the device transmits only after the
    /// kernel's link-watch work has re-activated its queueing discipline, which runs later on
    /// a kworker; frames sent through the device before that are dropped without an error.
    /// A non-dump RTM_GETLINK of the device runs that pending work synchronously
    /// (`rtnl_getlink` calls `linkwatch_sync_dev`), so it goes in the same datagram, right
    /// after the change; its answer is not needed. The runtime's own frames no longer go
    /// through the device (see `vrrp::net`), but the kernel's answers for the VIPs (ARP
    /// replies, ND, ICMP) do: with the sync they leave as soon as protodown is off. (Before
    /// the runtime sent through the parent, bench/failover.sh measured one takeover in five
    /// losing its first advert without it.)
    pub async fn set_protodown(&self, index: u32, on: bool) -> Result<(), KernelError> {
        let what = format!("set ifindex {index} protodown {}", on_off(on));
        if on {
            return self.one(what, protodown_request(index, on)).await;
        }
        let mut replies = self
            .conn
            .batch(vec![protodown_request(index, false), sync_request(index)])
            .await
            .into_iter();
        match replies.next() {
            Some(Ok(_)) => Ok(()),
            Some(Err(cause)) => Err(KernelError::new(what, cause)),
            None => Err(KernelError::new(
                what,
                Cause::Other("no reply from the kernel".into()),
            )),
        }
    }

    /// Set protodown on every device of kernel device group `group` in one request
    /// (RTM_NEWLINK with ifindex 0 and IFLA_GROUP, `ip link set group G protodown on|off`).
    ///
    /// The kernel changes the members one after the other under ONE hold of the rtnl lock,
    /// so the link-watch work their carrier changes queue cannot interleave: 1,000 devices
    /// took ~12 ms here against ~45 ms as 1,000 requests in one datagram. It stops at the
    /// first member that refuses (e.g. EBUSY for a foreign protodown reason): members before
    /// it are changed, the rest are not, so on an error the caller repeats the change per
    /// device. A group without members is not an error.
    pub async fn set_group_protodown(&self, group: u32, on: bool) -> Result<(), KernelError> {
        let what = format!("set group {group} protodown {}", on_off(on));
        let msg = LinkUnspec::new_with_index(0)
            .append_extra_attribute(LinkAttribute::Group(group))
            .protodown(on)
            .build();
        self.one(what, link_change(msg)).await
    }

    /// Set the administrative state by ifindex (runtime hot path).
    pub async fn set_admin(&self, index: u32, up: bool) -> Result<(), KernelError> {
        let req = admin_request(index, up);
        let what = format!("set ifindex {index} {}", if up { "up" } else { "down" });
        self.one(what, req).await
    }

    /// Add an address by ifindex (IPv6 without DAD; runtime hot path).
    pub async fn add_address(&self, index: u32, address: IpNet) -> Result<(), KernelError> {
        let what = format!("add address {address} dev ifindex {index}");
        self.one(what, address_request(index, address, true)).await
    }

    /// Delete an address by ifindex (runtime hot path).
    pub async fn del_address(&self, index: u32, address: IpNet) -> Result<(), KernelError> {
        let what = format!("del address {address} dev ifindex {index}");
        self.one(what, address_request(index, address, false)).await
    }

    /// The ifindex of a device: from the cache, else asked from the kernel.
    pub async fn ifindex(&self, name: &str) -> Result<u32, KernelError> {
        if let Some(&i) = self.cache().get(name) {
            return Ok(i);
        }
        let failures = self.resolve(&[name.to_string()]).await;
        match (self.cache().get(name), failures.get(name)) {
            (Some(&i), _) => Ok(i),
            (None, Some(cause)) => Err(KernelError::new(format!("look up {name}"), cause.clone())),
            (None, None) => Err(KernelError::new(
                format!("look up {name}"),
                Cause::errno(ENODEV),
            )),
        }
    }

    /// Ask the kernel for one link (RTM_GETLINK), for what that does besides answering:
    /// since Linux 6.7 `rtnl_getlink` first applies a carrier change still waiting in the
    /// kernel's linkwatch queue (operstate, transmit queue; a link dump does not), and
    /// announces it with a link event. Older kernels only answer.
    pub async fn settle_link(&self, name: &str) -> Result<(), KernelError> {
        match self.resolve(&[name.to_string()]).await.remove(name) {
            None => Ok(()),
            Some(cause) => Err(KernelError::new(format!("get link {name}"), cause)),
        }
    }

    async fn one(&self, what: String, req: Request) -> Result<(), KernelError> {
        match self.conn.batch(vec![req]).await.pop() {
            Some(Ok(_)) => Ok(()),
            Some(Err(cause)) => Err(KernelError::new(what, cause)),
            None => Err(KernelError::new(
                what,
                Cause::Other("no reply from the kernel".into()),
            )),
        }
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<String, u32>> {
        // The map is always consistent between statements; a panic elsewhere while
        // holding it does not make it unusable.
        self.index.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Look names up (one datagram of RTM_GETLINK per chunk), filling the cache. Returns
    /// the kernel's refusal for each name that could not be found.
    async fn resolve(&self, names: &[String]) -> HashMap<String, Cause> {
        let mut failures = HashMap::new();
        if names.is_empty() {
            return failures;
        }
        let requests = names
            .iter()
            .map(|name| {
                let mut msg = LinkMessage::default();
                msg.attributes.push(LinkAttribute::IfName(name.clone()));
                msg.attributes
                    .push(LinkAttribute::ExtMask(vec![LinkExtentMask::SkipStats]));
                Request {
                    payload: RouteNetlinkMessage::GetLink(msg),
                    flags: NLM_F_REQUEST,
                }
            })
            .collect();
        let replies = self.conn.batch(requests).await;
        let mut cache = self.cache();
        for (name, reply) in names.iter().zip(replies) {
            match reply {
                Ok(Some((RTM_NEWLINK, payload))) if link_index(&payload).is_some() => {
                    if let Some(index) = link_index(&payload) {
                        cache.insert(name.clone(), index);
                    }
                }
                Ok(other) => {
                    failures.insert(
                        name.clone(),
                        Cause::Other(format!(
                            "unexpected reply to a link lookup (type {:?})",
                            other.map(|(kind, _)| kind)
                        )),
                    );
                }
                Err(cause) => {
                    failures.insert(name.clone(), cause);
                }
            }
        }
        failures
    }

    /// Run the operations `wave` (independent of each other) and record their outcomes.
    async fn run_wave(&self, ops: &[Op], wave: &[usize], out: &mut [Outcome]) {
        let mut pending = wave.to_vec();
        // Attempt 0 uses cached indexes; an ENODEV on a cached index means the device was
        // re-created behind our back, so those operations get one more attempt after a
        // fresh lookup (attempt 1).
        for attempt in 0..2 {
            let missing: Vec<String> = {
                let cache = self.cache();
                let mut seen = HashSet::new();
                pending
                    .iter()
                    .filter_map(|&i| index_name(&ops[i]))
                    .filter(|name| !cache.contains_key(*name) && seen.insert(*name))
                    .map(str::to_string)
                    .collect()
            };
            let failures = self.resolve(&missing).await;
            let fresh: HashSet<&str> = missing.iter().map(String::as_str).collect();

            let mut requests = Vec::new();
            // The operation each request answers; None for a link-watch settle (see below),
            // whose answer is not needed.
            let mut sent: Vec<Option<usize>> = Vec::new();
            for &i in &pending {
                let op = &ops[i];
                match self.prepare(op, &failures) {
                    Ok(Action::Netlink(req)) => {
                        // Before a link goes up, settle the link-watch work it has pending
                        // (a new macvlan queues a carrier event at creation, and protodown
                        // another) while it is still down, where the kernel does almost
                        // nothing for it. Left queued, the kernel's link-watch worker would
                        // run it later, at 100 devices a second, on a device that is then up
                        // without carrier: a queue deactivation with an RCU grace period
                        // (~140 us each, under the rtnl lock). 1,000 new pathways kept it
                        // busy for 10 s, and the leader's first transition to Master, whose
                        // carrier event makes the worker take 200 of them at once, waited
                        // ~28 ms for the lock (bench/vrrs_fanout.sh, qdisc:qdisc_reset
                        // tracepoint).
                        if let Op::SetAdmin {
                            device, up: true, ..
                        } = op
                            && let Some(&index) = self.cache().get(device.as_str())
                        {
                            requests.push(sync_request(index));
                            sent.push(None);
                        }
                        requests.push(req);
                        sent.push(Some(i));
                    }
                    Ok(Action::Sysctl { path, value }) => {
                        out[i] = match std::fs::write(&path, value.to_string()) {
                            Ok(()) => Outcome::Done,
                            Err(e) => Outcome::Failed(KernelError::new(
                                op.to_string(),
                                Cause::from_io(&e),
                            )),
                        };
                    }
                    Err(cause) => out[i] = Outcome::Failed(KernelError::new(op.to_string(), cause)),
                }
            }

            let replies = self.conn.batch(requests).await;
            let mut retry = Vec::new();
            for (i, reply) in sent.into_iter().zip(replies) {
                // A settle that failed leaves the work to the kernel's worker: no harm.
                let Some(i) = i else { continue };
                let op = &ops[i];
                match reply {
                    Ok(_) => {
                        self.note_success(op);
                        out[i] = Outcome::Done;
                    }
                    Err(cause) => {
                        let stale = attempt == 0
                            && matches!(cause, Cause::Errno { errno, .. } if errno == ENODEV)
                            && index_name(op).is_some_and(|n| !fresh.contains(n));
                        if stale {
                            if let Some(name) = index_name(op) {
                                self.cache().remove(name);
                            }
                            retry.push(i);
                        } else {
                            out[i] = Outcome::Failed(KernelError::new(op.to_string(), cause));
                        }
                    }
                }
            }
            if retry.is_empty() {
                break;
            }
            pending = retry;
        }
    }

    /// Keep the name cache true after a successful operation.
    fn note_success(&self, op: &Op) {
        let mut cache = self.cache();
        match op {
            // The new device's index is learnt on first use; drop any stale entry.
            Op::CreateMacvlan { device, .. } | Op::DeleteMacvlan { device, .. } => {
                cache.remove(device);
            }
            Op::Rename { device, from } => {
                if let Some(i) = cache.remove(from) {
                    cache.insert(device.clone(), i);
                }
            }
            _ => {}
        }
    }

    fn prepare(&self, op: &Op, failures: &HashMap<String, Cause>) -> Result<Action, Cause> {
        let index = |name: &str| -> Result<u32, Cause> {
            if let Some(&i) = self.cache().get(name) {
                return Ok(i);
            }
            Err(failures
                .get(name)
                .cloned()
                .unwrap_or_else(|| Cause::errno(ENODEV)))
        };
        let req = match op {
            Op::CreateMacvlan {
                device,
                parent_index,
                mac,
                ..
            } => {
                // The MAC goes in the creating RTM_NEWLINK (peers must never see another
                // MAC); no IFF_UP: the link stays down until addrgenmode/sysctls are set.
                let msg = LinkMacVlan::new(device, *parent_index, MacVlanMode::Bridge)
                    .address(mac.octets().to_vec())
                    .build();
                Request {
                    payload: RouteNetlinkMessage::NewLink(msg),
                    flags: NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
                }
            }
            Op::DeleteMacvlan { device, .. } => {
                let mut msg = LinkMessage::default();
                msg.header.index = index(device)?;
                Request {
                    payload: RouteNetlinkMessage::DelLink(msg),
                    flags: NLM_F_REQUEST | NLM_F_ACK,
                }
            }
            Op::Rename { device, from } => link_change(
                LinkUnspec::new_with_index(index(from)?)
                    .name(device.clone())
                    .build(),
            ),
            Op::SetMac { device, mac, .. } => link_change(
                LinkUnspec::new_with_index(index(device)?)
                    .address(mac.octets().to_vec())
                    .build(),
            ),
            Op::SetMacvlanMode { device, mode, .. } => {
                let mode = macvlan_mode_to_nl(*mode)
                    .ok_or_else(|| Cause::Other("unknown macvlan mode".into()))?;
                // IFLA_INFO_KIND macvlan on an existing macvlan is a changelink, like
                // `ip link set DEV type macvlan mode MODE`.
                link_change(
                    LinkMessageBuilder::<LinkMacVlan>::new_with_info_kind(InfoKind::MacVlan)
                        .index(index(device)?)
                        .mode(mode)
                        .build(),
                )
            }
            Op::SetAddrGenMode { device, mode, .. } => link_change(
                LinkUnspec::new_with_index(index(device)?)
                    .append_extra_attribute(LinkAttribute::AfSpecUnspec(vec![AfSpecUnspec::Inet6(
                        vec![AfSpecInet6::AddrGenMode(addrgenmode_to_nl(*mode))],
                    )]))
                    .build(),
            ),
            Op::SetSysctl {
                device,
                name,
                value,
                ..
            } => {
                return Ok(Action::Sysctl {
                    path: sysctl_path("ipv6", device, name)?,
                    value: *value,
                });
            }
            Op::SetIpv4Sysctl {
                device,
                name,
                value,
                ..
            } => {
                return Ok(Action::Sysctl {
                    path: sysctl_path("ipv4", device, name)?,
                    value: *value,
                });
            }
            Op::AddAddress { device, address } => address_request(index(device)?, *address, true),
            Op::DelAddress { device, address } => address_request(index(device)?, *address, false),
            Op::SetAdmin { device, up, .. } => admin_request(index(device)?, *up),
            Op::SetProtodown { device, on, .. } => protodown_request(index(device)?, *on),
            Op::SetGroup { device, group, .. } => link_change(
                LinkUnspec::new_with_index(index(device)?)
                    .append_extra_attribute(LinkAttribute::Group(*group))
                    .build(),
            ),
        };
        Ok(Action::Netlink(req))
    }
}

/// The device whose ifindex an operation needs (None: it works by name).
fn index_name(op: &Op) -> Option<&str> {
    match op {
        Op::CreateMacvlan { .. } | Op::SetSysctl { .. } | Op::SetIpv4Sysctl { .. } => None,
        Op::Rename { from, .. } => Some(from),
        other => Some(other.device()),
    }
}

/// `/proc/sys/net/<family>/conf/<device>/<name>` (family `ipv4` or `ipv6`), refusing names
/// that would leave that directory.
fn sysctl_path(family: &str, device: &str, name: &str) -> Result<PathBuf, Cause> {
    let bad = |s: &str| s.is_empty() || s == "." || s == ".." || s.contains('/');
    if bad(device) || bad(name) {
        return Err(Cause::Other(format!(
            "invalid sysctl net.{family}.conf.{device}.{name}"
        )));
    }
    Ok(["/proc/sys/net", family, "conf", device, name]
        .iter()
        .collect())
}

fn on_off(on: bool) -> &'static str {
    if on { "on" } else { "off" }
}

/// RTM_NEWLINK without NLM_F_CREATE: change an existing link (`ip link set`).
fn link_change(msg: LinkMessage) -> Request {
    Request {
        payload: RouteNetlinkMessage::NewLink(msg),
        flags: NLM_F_REQUEST | NLM_F_ACK,
    }
}

fn admin_request(index: u32, up: bool) -> Request {
    let builder = LinkUnspec::new_with_index(index);
    link_change(if up { builder.up() } else { builder.down() }.build())
}

fn protodown_request(index: u32, on: bool) -> Request {
    link_change(LinkUnspec::new_with_index(index).protodown(on).build())
}

/// RTM_GETLINK of one link by index (answered with one message, no ack): makes the kernel
/// finish pending link-watch work for the link (see [`Kernel::set_protodown`]).
fn sync_request(index: u32) -> Request {
    let mut msg = LinkMessage::default();
    msg.header.index = index;
    msg.attributes
        .push(LinkAttribute::ExtMask(vec![LinkExtentMask::SkipStats]));
    Request {
        payload: RouteNetlinkMessage::GetLink(msg),
        flags: NLM_F_REQUEST,
    }
}

/// RTM_NEWADDR (`add`) or RTM_DELADDR.
///
/// Built by hand like `ip addr` does (IFA_LOCAL and IFA_ADDRESS both the address):
/// rtnetlink's builder silently drops IPv4 multicast addresses and turns IPv6 multicast
/// ones into IFA_MULTICAST, so the kernel would judge a different request than the plan's.
fn address_request(index: u32, address: IpNet, add: bool) -> Request {
    let mut msg = AddressMessage::default();
    msg.header.index = index;
    msg.header.prefix_len = address.prefix_len();
    let ip = address.addr();
    msg.header.family = match ip {
        IpAddr::V4(_) => AddressFamily::Inet,
        IpAddr::V6(_) => AddressFamily::Inet6,
    };
    msg.attributes.push(AddressAttribute::Local(ip));
    msg.attributes.push(AddressAttribute::Address(ip));
    match address {
        IpNet::V4(net) if add && net.prefix_len() < 31 => {
            // `ip addr add ... brd +`: the subnet broadcast, as hosts expect.
            msg.attributes
                .push(AddressAttribute::Broadcast(net.broadcast()));
        }
        IpNet::V6(_) if add => {
            // A VIP is shared by design: duplicate address detection would mark it
            // dadfailed on the next owner, and it delays the master's first use.
            msg.header.flags = AddressHeaderFlags::Nodad;
            msg.attributes
                .push(AddressAttribute::Flags(AddressFlags::Nodad));
        }
        _ => {}
    }
    if add {
        Request {
            payload: RouteNetlinkMessage::NewAddress(msg),
            flags: NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
        }
    } else {
        Request {
            payload: RouteNetlinkMessage::DelAddress(msg),
            flags: NLM_F_REQUEST | NLM_F_ACK,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sysctl_paths() {
        assert_eq!(
            sysctl_path("ipv6", "vrrp6-2-5", "accept_dad").unwrap(),
            PathBuf::from("/proc/sys/net/ipv6/conf/vrrp6-2-5/accept_dad")
        );
        assert_eq!(
            sysctl_path("ipv4", "vrrp4-2-5", "ignore_routes_with_linkdown").unwrap(),
            PathBuf::from("/proc/sys/net/ipv4/conf/vrrp4-2-5/ignore_routes_with_linkdown")
        );
        assert!(sysctl_path("ipv6", "..", "x").is_err());
        assert!(sysctl_path("ipv4", "eth0", "../../x").is_err());
    }

    #[test]
    fn v6_add_has_nodad() {
        let req = address_request(3, "2001:db8::1/64".parse().unwrap(), true);
        let RouteNetlinkMessage::NewAddress(msg) = req.payload else {
            panic!("not NewAddress")
        };
        assert!(
            msg.attributes
                .contains(&AddressAttribute::Flags(AddressFlags::Nodad))
        );
        assert_eq!(msg.header.index, 3);
        assert_eq!(msg.header.prefix_len, 64);
    }

    #[test]
    fn v4_multicast_reaches_the_kernel_as_is() {
        let req = address_request(3, "224.0.0.18/24".parse().unwrap(), true);
        let RouteNetlinkMessage::NewAddress(msg) = req.payload else {
            panic!("not NewAddress")
        };
        let ip: IpAddr = "224.0.0.18".parse().unwrap();
        assert!(msg.attributes.contains(&AddressAttribute::Local(ip)));
        assert!(
            msg.attributes
                .contains(&AddressAttribute::Broadcast("224.0.0.255".parse().unwrap()))
        );
    }
}
