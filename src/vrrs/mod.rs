//! VRRS, the Virtual Router Redundancy Service (after Cisco's): one VRRP election drives
//! many interfaces ("pathways") and consumers ("clients") under a leader name (configured
//! as in netvrrp.toml(5), VRRS; where it sits in the layering: docs/architecture.md).
//!
//! This module is sans-IO. [`Vrrs`] is the leader database; the runtime feeds it facts and
//! carries out the [`Fanout`] each call returns:
//!
//! | when | call |
//! | --- | --- |
//! | start, after building the VRRP instances | [`Vrrs::new`], then [`Vrrs::on_snapshot`] |
//! | every VRRP instance state change (`Action::StateChanged`) | [`Vrrs::on_state`] |
//! | a kernel link event, a resync | [`Vrrs::on_snapshot`] (or [`Vrrs::on_link`] / [`Vrrs::on_interface`]) |
//! | reload | [`Vrrs::reconfigure`] |
//! | `show vrrs …` | [`Vrrs::show_server`], [`Vrrs::show_pathway`], [`Vrrs::show_client`] |
//!
//! A [`Fanout`] is ordered: first every pathway's [`PathwayEffect`]s (kernel work, which the
//! runtime may batch into one netlink burst as long as each device's effects keep their
//! order), then every client's [`ClientUpdate`] (an optional [`ClientEffect`] for netlink and an
//! optional [`ClientNotice`] for [`ClientRunners::dispatch`], which never blocks).
//!
//! The kernel model is level-triggered where the facts allow: after a snapshot, a pathway
//! whose device shows the wrong protodown (or whose interface holds the wrong addresses) gets
//! a corrective effect even without a state change, so a restarted runtime or an operator's
//! manual change converges. The model is updated optimistically when an effect is emitted, so
//! an effect is asked for once, not on every call, and the next snapshot corrects the model if
//! the kernel refused.
//!
//! Link facts: a pathway macvlan is named from its parent's ifindex
//! ([`desired::pathway_device_name`]) and a gratuitous packet needs the interface MAC, so
//! the runtime should report links with [`Vrrs::on_snapshot`] or [`Vrrs::on_link`];
//! [`Vrrs::on_interface`] (presence, carrier, admin state only) is enough for OIR of pathways
//! without `mac`. Until a first snapshot, an unknown link counts as absent.
//!
//! Reload: call [`Vrrs::reconfigure`] (and [`ClientRunners::reconfigure`]) before the
//! changed routers are shut down, so their Initialize/Backup reports reach the new database;
//! leaders that keep their (interface, vrid, family) keep their state.

pub mod clients;
mod render;
pub mod show;
#[cfg(test)]
mod tests;

pub use crate::contract::{ClientNotice, StateEvent};
pub use clients::{ClientEffect, ClientRunner, ClientRunners, ClientStats};
pub use render::{render_client_text, render_pathway_text, render_server_text, render_text};
pub use show::{ClientRow, PathwayRow, ServerRow};

use crate::config::{ClientConfig, ClientKind, Config, PathwayConfig};
use crate::desired::{self, DesiredDevice};
use crate::kernel::{LinkInfo, Snapshot};
use crate::types::{Family, MacAddr};
use crate::vrrp::router::State;
use ipnet::IpNet;
use serde::Serialize;
use std::collections::HashMap;
use std::net::IpAddr;

/// Tracing target of everything VRRS logs (FRR's `debug vrrp` categories; the
/// targets are listed under `--verbose` in netvrrp(8)).
pub const TARGET: &str = "netvrrp::vrrs";

/// State of one pathway (Cisco `show vrrs pathway`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PathwayState {
    /// The leader is Master and every evaluation flag is set: the pathway carries traffic.
    Active,
    /// The leader is Backup and every evaluation flag is set.
    Inactive,
    /// The leader is Initialize or missing, or an evaluation flag is clear.
    NotReady,
}

impl PathwayState {
    /// Machine form (JSON).
    pub fn as_str(self) -> &'static str {
        match self {
            PathwayState::Active => "active",
            PathwayState::Inactive => "inactive",
            PathwayState::NotReady => "not_ready",
        }
    }

    /// Cisco's spelling, for text output.
    pub fn label(self) -> &'static str {
        match self {
            PathwayState::Active => "ACTIVE",
            PathwayState::Inactive => "INACTIVE",
            PathwayState::NotReady => "NOT READY",
        }
    }
}

/// The evaluation flags of Cisco's `show vrrs pathway`, in Linux terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Evaluation {
    /// The pathway's interface is admin up (IFF_UP).
    pub no_shut: bool,
    /// The leader name is served by a running VRRP instance (it has reported a state).
    pub connected: bool,
    /// Online insertion: the pathway's interface exists.
    pub oir: bool,
    /// The interface has carrier (IFF_LOWER_UP) and is operationally up (RFC 2863 operstate
    /// up, or unknown for drivers that do not report it). The kernel attaches a device's
    /// transmit queue only when it sets the operstate (linkwatch, a moment after the
    /// carrier): a gratuitous ARP sent before is silently dropped. In between, the pathway
    /// asks for [`PathwayEffect::SettleCarrier`] rather than wait for the linkwatch queue.
    pub l2_ready: bool,
    /// The interface can hold the pathway's addresses: admin up, and IPv6 not disabled when
    /// the pathway has IPv6 addresses.
    pub l3_ready: bool,
    /// The pathway's macvlan exists, is admin up, has the configured MAC and no protodown
    /// reason of another program (the kernel refuses to clear protodown while one is set)
    /// (always set for a pathway without `mac`).
    pub vmac_ready: bool,
    /// With `mac`: every address is on the macvlan. Without: no address is held by another
    /// interface (the kernel would deliver it there).
    pub vip_ready: bool,
}

impl Evaluation {
    /// Every flag set.
    pub const READY: Evaluation = Evaluation {
        no_shut: true,
        connected: true,
        oir: true,
        l2_ready: true,
        l3_ready: true,
        vmac_ready: true,
        vip_ready: true,
    };

    pub fn all(&self) -> bool {
        *self == Evaluation::READY
    }
}

/// The options of Cisco's `show vrrs pathway`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Options {
    /// The leader's own vrrp device.
    pub default_pathway: bool,
    /// The leader owns its addresses (priority 255).
    pub owner_mode: bool,
    /// The leader accepts traffic for its addresses (accept-mode, or owner).
    pub accept_mode: bool,
    /// The pathway has its own `mac` (a macvlan) rather than the interface's MAC.
    pub configured_vmac: bool,
}

/// Pathway state from the leader's state (None: no VRRP instance serves the name) and the
/// evaluation flags: Active only while the leader is Master and every flag is set (the
/// `show vrrs pathway` states of netvrrp.toml(5), VRRS).
pub fn pathway_state(leader: Option<State>, eval: &Evaluation) -> PathwayState {
    match leader {
        None | Some(State::Initialize) => PathwayState::NotReady,
        Some(_) if !eval.all() => PathwayState::NotReady,
        Some(State::Backup) => PathwayState::Inactive,
        Some(State::Master) => PathwayState::Active,
    }
}

/// Kernel work for one pathway. Carry them out in order per device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum PathwayEffect {
    /// Protodown of a pathway macvlan: off while ACTIVE, on otherwise.
    SetProtodown { device: String, on: bool },
    /// Add addresses to the interface of a pathway without `mac` (it became ACTIVE). An
    /// address that is already there (EEXIST) is not an error.
    AddAddresses {
        interface: String,
        addrs: Vec<IpNet>,
    },
    /// Remove them (it left ACTIVE). An address already gone (EADDRNOTAVAIL) is not an error.
    DelAddresses {
        interface: String,
        addrs: Vec<IpNet>,
    },
    /// Gratuitous ARP (IPv4) / unsolicited NA (IPv6) for `addrs` from `mac`, sent on `device`
    /// (the pathway macvlan, or the interface itself for a pathway without `mac`). Emitted
    /// once, on becoming ACTIVE, after that pathway's protodown/address effects. The runtime
    /// sends those of macvlans while the protodown changes are in flight (the packets do
    /// not depend on the macvlan's carrier), those of interfaces after the addresses.
    Gratuitous {
        device: String,
        mac: MacAddr,
        addrs: Vec<IpAddr>,
    },
    /// Move a pathway macvlan into kernel device group `group`: its leader's group while
    /// every evaluation flag but Connected is set (so it follows the leader through
    /// [`Fanout::bulk`]), 0 otherwise. Carried out before any bulk change of the fan-out.
    SetGroup { device: String, group: u32 },
    /// The pathway macvlan is missing while its parent exists and is admin up (the parent was
    /// removed and re-added, or someone deleted the device): create it exactly as apply would,
    /// including the protodown-on step after creation. Asked for once per disappearance.
    CreateDevice { device: DesiredDevice },
    /// The interface shows carrier but not yet the operstate that goes with it: the kernel
    /// applies a carrier change in its linkwatch work, one queue for every namespace that
    /// drains 100-200 links a run with up to a second between runs, so behind a burst of link
    /// changes (failovers switching hundreds of macvlans) a re-inserted interface waits
    /// seconds. Ask the kernel for the link (RTM_GETLINK) if it has not applied it after a
    /// short grace: since Linux 6.7 that applies its queued change at once, and the link event
    /// that announces it re-evaluates the pathway. Asked for once per link (ifindex).
    SettleCarrier { interface: String },
}

/// One pathway's change in a [`Fanout`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PathwayUpdate {
    pub leader: String,
    pub interface: String,
    /// The leader's own vrrp device: its kernel state belongs to the VRRP router, so a
    /// default pathway never has effects.
    pub default_pathway: bool,
    pub previous: PathwayState,
    pub state: PathwayState,
    /// Removed by a reload (`effects` leave the kernel as an inactive pathway would).
    pub removed: bool,
    pub effects: Vec<PathwayEffect>,
}

/// One client's part of a [`Fanout`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClientUpdate {
    /// Index of the client in `Config::clients`.
    pub client: usize,
    /// Kernel work (only `interface-state` clients have any).
    pub effect: Option<ClientEffect>,
    /// The notice to hand to the client's runner (None for a pure kernel correction).
    pub notice: Option<ClientNotice>,
}

/// One protodown change for every member of a kernel device group (one request, see
/// [`crate::kernel::Kernel::set_group_protodown`]), standing for the `SetProtodown` effects
/// of `devices`, which were taken out of their pathways' updates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BulkProtodown {
    pub group: u32,
    pub on: bool,
    /// The members, in pathway order: if the kernel refuses the group change, the runtime
    /// makes it device by device.
    pub devices: Vec<String>,
}

/// Everything one input requires, in order: pathways first, then clients. Pathway kernel
/// work runs as: every `SetGroup`, then `bulk`, then the other effects in order.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Fanout {
    pub pathways: Vec<PathwayUpdate>,
    /// Protodown changes made per device group instead of per device.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub bulk: Vec<BulkProtodown>,
    pub clients: Vec<ClientUpdate>,
}

impl Fanout {
    pub fn is_empty(&self) -> bool {
        self.pathways.is_empty() && self.bulk.is_empty() && self.clients.is_empty()
    }

    /// Every pathway effect, in order.
    pub fn pathway_effects(&self) -> impl Iterator<Item = &PathwayEffect> {
        self.pathways.iter().flat_map(|p| p.effects.iter())
    }

    /// Every client effect, in order.
    pub fn client_effects(&self) -> impl Iterator<Item = &ClientEffect> {
        self.clients.iter().filter_map(|c| c.effect.as_ref())
    }

    /// Every client notice, in order.
    pub fn notices(&self) -> impl Iterator<Item = &ClientNotice> {
        self.clients.iter().filter_map(|c| c.notice.as_ref())
    }

    /// Add `other`'s work after this one's.
    pub fn append(&mut self, mut other: Fanout) {
        self.pathways.append(&mut other.pathways);
        self.bulk.append(&mut other.bulk);
        self.clients.append(&mut other.clients);
    }
}

/// A leader name and the VRRP instance it follows.
#[derive(Debug, Clone)]
struct Server {
    name: String,
    interface: String,
    vrid: u8,
    family: Family,
    vmac: MacAddr,
    vips: Vec<IpAddr>,
    owner: bool,
    accept_mode: bool,
    /// The kernel device group of this leader's pathway macvlans (None: bulk changes off).
    group: Option<u32>,
    /// The instance has reported a state since this database was built.
    connected: bool,
    state: State,
    previous: Option<State>,
    reason: Option<String>,
    last_change: Option<f64>,
    pushes: u64,
    pathways: Vec<usize>,
    clients: Vec<usize>,
}

impl Server {
    fn same_instance(&self, other: &Server) -> bool {
        self.name == other.name
            && self.interface == other.interface
            && self.vrid == other.vrid
            && self.family == other.family
    }

    /// The leader state pathways follow: None while no instance serves the name.
    fn leader(&self) -> Option<State> {
        self.connected.then_some(self.state)
    }
}

#[derive(Debug, Clone)]
struct Pathway {
    leader: String,
    server: Option<usize>,
    interface: String,
    mac: Option<MacAddr>,
    addresses: Vec<IpNet>,
    /// Some((family, vrid)) for the leader's own vrrp device.
    default: Option<(Family, u8)>,
    /// The configuration, for re-creating its macvlan (configured pathways only).
    config: Option<PathwayConfig>,
    /// The device carrying the pathway (its macvlan, or the router's vrrp device for a default
    /// pathway), named once the parent's ifindex is known.
    device: Option<String>,
    eval: Evaluation,
    state: PathwayState,
    transitions: u64,
    /// A CreateDevice was emitted and the device has not been seen since.
    create_requested: bool,
    /// The ifindex of the interface a SettleCarrier was emitted for, while its carrier is
    /// still pending.
    settle_requested: Option<u32>,
}

impl Pathway {
    fn same(&self, other: &Pathway) -> bool {
        self.leader == other.leader
            && self.interface == other.interface
            && self.mac == other.mac
            && self.addresses == other.addresses
            && self.default == other.default
    }

    fn options(&self, server: Option<&Server>) -> Options {
        Options {
            default_pathway: self.default.is_some(),
            owner_mode: server.is_some_and(|s| s.owner),
            accept_mode: server.is_some_and(|s| s.accept_mode),
            configured_vmac: self.default.is_none() && self.mac.is_some(),
        }
    }
}

#[derive(Debug, Clone)]
struct Client {
    config: ClientConfig,
    server: Option<usize>,
    /// Notices sent so far (the last notice's `seq`).
    seq: u64,
    last: Option<ClientNotice>,
}

fn same_client(a: &ClientConfig, b: &ClientConfig) -> bool {
    a.leader == b.leader && a.kind == b.kind
}

/// What VRRS knows about one link.
#[derive(Debug, Clone, Default, PartialEq)]
struct Link {
    index: Option<u32>,
    admin_up: bool,
    /// Carrier and operationally up (see [`Evaluation::l2_ready`]).
    carrier: bool,
    /// Carrier (IFF_LOWER_UP) without the operstate: the kernel has not applied the carrier
    /// change yet (see [`PathwayEffect::SettleCarrier`]).
    carrier_pending: bool,
    mac: Option<MacAddr>,
    /// None: not known (the link was reported through [`Vrrs::on_interface`]).
    protodown: Option<bool>,
    addresses: Option<Vec<IpNet>>,
    /// The link has an IPv6 configuration (None: not known).
    ipv6: Option<bool>,
    /// Kernel device group (None: not known).
    group: Option<u32>,
    /// IFLA_PROTO_DOWN_REASON bits (another program holding the device down).
    protodown_reason: u32,
}

impl From<&LinkInfo> for Link {
    fn from(l: &LinkInfo) -> Link {
        let operational = matches!(l.operstate.as_str(), "up" | "unknown");
        Link {
            index: Some(l.index),
            admin_up: l.admin_up,
            carrier: l.carrier && operational,
            carrier_pending: l.carrier && !operational,
            mac: l.mac,
            protodown: Some(l.protodown),
            addresses: Some(l.addresses.clone()),
            ipv6: Some(l.dad_sysctls.is_some()),
            group: Some(l.group),
            protodown_reason: l.protodown_reason,
        }
    }
}

/// Which links hold which address (to find a no-mac pathway's address on a foreign link).
type Owners = HashMap<IpAddr, Vec<String>>;

/// The VRRS database: leader names, pathways, clients, and the link facts they depend on.
#[derive(Debug, Clone, Default)]
pub struct Vrrs {
    servers: Vec<Server>,
    pathways: Vec<Pathway>,
    clients: Vec<Client>,
    links: HashMap<String, Link>,
    /// The link table came from a full snapshot: a name missing from it is absent, not
    /// merely unknown.
    complete: bool,
}

impl Vrrs {
    /// Build the database from a (validated) configuration. Every leader starts not
    /// connected (state Initialize) and every pathway NOT READY; feed
    /// [`Vrrs::on_snapshot`] next so the link facts are known.
    pub fn new(config: &Config) -> Vrrs {
        let mut servers: Vec<Server> = Vec::new();
        // Default pathways need the router: (server index, interface, family, vrid, VIPs).
        let mut defaults: Vec<(usize, String, Family, u8, Vec<IpNet>)> = Vec::new();
        for r in &config.routers {
            let family = r.leader_family();
            for name in &r.vrrs_leader {
                // Validation rejects a name claimed twice; if it slips through, the first
                // router keeps it rather than two instances fighting over one name.
                if servers.iter().any(|s| s.name == *name) {
                    tracing::warn!(target: TARGET, name = %name, interface = %r.interface, vrid = r.vrid, "leader name already served by another router; ignored");
                    continue;
                }
                defaults.push((
                    servers.len(),
                    r.interface.clone(),
                    family,
                    r.vrid,
                    r.addresses(family),
                ));
                servers.push(Server {
                    name: name.clone(),
                    interface: r.interface.clone(),
                    vrid: r.vrid,
                    family,
                    vmac: MacAddr::vrrp(family, r.vrid),
                    vips: r.addresses(family).iter().map(|n| n.addr()).collect(),
                    owner: r.priority == 255,
                    accept_mode: r.accept_mode || r.priority == 255,
                    group: config.runtime.pathway_group(servers.len()),
                    connected: false,
                    state: State::Initialize,
                    previous: None,
                    reason: None,
                    last_change: None,
                    pushes: 0,
                    pathways: Vec::new(),
                    clients: Vec::new(),
                });
            }
        }
        let server_of =
            |servers: &[Server], name: &str| servers.iter().position(|s| s.name == name);

        // Per leader: its default pathway first, then its configured ones in file order, so
        // `show` lists them grouped; pathways of an unserved leader (rejected by validation)
        // come last and stay NOT READY.
        let mut pathways: Vec<Pathway> = Vec::new();
        for (s, interface, family, vrid, addresses) in defaults {
            pathways.push(Pathway {
                leader: servers[s].name.clone(),
                server: Some(s),
                interface,
                mac: Some(MacAddr::vrrp(family, vrid)),
                addresses,
                default: Some((family, vrid)),
                config: None,
                device: None,
                eval: Evaluation::default(),
                state: PathwayState::NotReady,
                transitions: 0,
                create_requested: false,
                settle_requested: None,
            });
            for pc in config
                .pathways
                .iter()
                .filter(|p| p.leader == servers[s].name)
            {
                pathways.push(configured_pathway(pc, Some(s)));
            }
        }
        for pc in &config.pathways {
            if server_of(&servers, &pc.leader).is_none() {
                pathways.push(configured_pathway(pc, None));
            }
        }
        for (i, p) in pathways.iter().enumerate() {
            if let Some(s) = p.server {
                servers[s].pathways.push(i);
            }
        }

        let mut clients = Vec::new();
        for (i, cc) in config.clients.iter().enumerate() {
            let server = server_of(&servers, &cc.leader);
            if let Some(s) = server {
                servers[s].clients.push(i);
            }
            clients.push(Client {
                config: cc.clone(),
                server,
                seq: 0,
                last: None,
            });
        }
        Vrrs {
            servers,
            pathways,
            clients,
            links: HashMap::new(),
            complete: false,
        }
    }

    /// Replace the configuration (reload). Leaders still following the same instance keep
    /// their state, unchanged pathways and clients keep theirs; new pathways are evaluated at
    /// once, and removed ones that were ACTIVE are taken down (their effects are in the
    /// returned fan-out, flagged `removed`).
    pub fn reconfigure(&mut self, config: &Config) -> Fanout {
        let mut next = Vrrs::new(config);
        next.links = std::mem::take(&mut self.links);
        next.complete = self.complete;
        for s in next.servers.iter_mut() {
            if let Some(old) = self.servers.iter().find(|o| o.same_instance(s)) {
                s.connected = old.connected;
                s.state = old.state;
                s.previous = old.previous;
                s.reason = old.reason.clone();
                s.last_change = old.last_change;
                s.pushes = old.pushes;
            }
        }
        let mut fan = Fanout::default();
        for old in &self.pathways {
            if let Some(p) = next.pathways.iter_mut().find(|p| p.same(old)) {
                p.state = old.state;
                p.eval = old.eval;
                p.transitions = old.transitions;
                p.create_requested = old.create_requested;
                p.settle_requested = old.settle_requested;
                continue;
            }
            // Removed: leave the kernel as an inactive pathway would (apply deletes removed
            // macvlans, but a SIGHUP reload does not run apply).
            if old.state == PathwayState::Active && old.default.is_none() {
                let mut gone = old.clone();
                gone.state = PathwayState::NotReady;
                // Out of the leader's group, or the next bulk change would find a member
                // that no pathway accounts for and fall back to per-device changes.
                let bulk_on = next.servers.iter().any(|s| s.group.is_some());
                let effects = kernel_effects(
                    &mut next.links,
                    next.complete,
                    &mut gone,
                    PathwayState::Active,
                    bulk_on.then_some(0),
                );
                fan.pathways.push(PathwayUpdate {
                    leader: old.leader.clone(),
                    interface: old.interface.clone(),
                    default_pathway: false,
                    previous: PathwayState::Active,
                    state: PathwayState::NotReady,
                    removed: true,
                    effects,
                });
            }
        }
        for c in next.clients.iter_mut() {
            if let Some(old) = self
                .clients
                .iter()
                .find(|o| same_client(&o.config, &c.config))
            {
                c.seq = old.seq;
                c.last = old.last.clone();
            }
        }
        *self = next;
        let all: Vec<usize> = (0..self.pathways.len()).collect();
        fan.append(self.refresh(&all));
        fan.clients.extend(self.reconcile_clients(None));
        fan
    }

    /// A VRRP instance changed state. Every leader name following (interface, vrid, family)
    /// pushes the change to its pathways and clients; other instances produce nothing. A
    /// report of the state already known only marks the leader connected.
    pub fn on_state(
        &mut self,
        now_unix: f64,
        interface: &str,
        vrid: u8,
        family: Family,
        new: State,
        reason: &str,
    ) -> Fanout {
        let mut fan = Fanout::default();
        let matching: Vec<usize> = (0..self.servers.len())
            .filter(|&s| {
                let srv = &self.servers[s];
                srv.interface == interface && srv.vrid == vrid && srv.family == family
            })
            .collect();
        for s in matching {
            let srv = &mut self.servers[s];
            if srv.connected && srv.state == new {
                continue;
            }
            let old = srv.state;
            let pushed = old != new;
            if !srv.connected {
                srv.connected = true;
                srv.last_change = Some(now_unix);
            }
            if pushed {
                srv.previous = Some(old);
                srv.state = new;
                srv.reason = Some(reason.to_string());
                srv.last_change = Some(now_unix);
                srv.pushes += 1;
            }
            let pathways = srv.pathways.clone();
            let mut part = self.refresh(&pathways);
            self.bulk_protodown(s, &mut part);
            if pushed {
                part.clients = self.push_clients(s, now_unix, old, new, reason);
            }
            let srv = &self.servers[s];
            tracing::info!(
                target: TARGET,
                name = %srv.name,
                previous = %old,
                state = %new,
                reason,
                pathways_changed = part.pathways.len(),
                clients = part.clients.len(),
                "push"
            );
            fan.append(part);
        }
        fan
    }

    /// One link's presence, carrier and admin state (OIR). This carries no ifindex, MAC or
    /// addresses: a link first seen this way cannot name its pathway macvlan until
    /// [`Vrrs::on_snapshot`] or [`Vrrs::on_link`] reports it, so prefer those.
    pub fn on_interface(
        &mut self,
        name: &str,
        present: bool,
        carrier: bool,
        admin_up: bool,
    ) -> Fanout {
        if present {
            let link = self.links.entry(name.to_string()).or_default();
            link.carrier = carrier;
            link.admin_up = admin_up;
        } else {
            self.links.remove(name);
        }
        self.link_changed(name)
    }

    /// One link as the kernel reports it (RTM_NEWLINK with its addresses).
    pub fn on_link(&mut self, link: &LinkInfo) -> Fanout {
        self.links.insert(link.name.clone(), Link::from(link));
        self.link_changed(&link.name)
    }

    /// A link went away (RTM_DELLINK).
    pub fn on_link_removed(&mut self, name: &str) -> Fanout {
        self.on_interface(name, false, false, false)
    }

    /// The whole link table (start, resync after an overrun, or after any link event when
    /// that is simpler): every pathway and client is re-evaluated and corrected.
    pub fn on_snapshot(&mut self, snapshot: &Snapshot) -> Fanout {
        self.links = snapshot
            .links
            .iter()
            .map(|l| (l.name.clone(), Link::from(l)))
            .collect();
        self.complete = true;
        let all: Vec<usize> = (0..self.pathways.len()).collect();
        let mut fan = self.refresh(&all);
        fan.clients = self.reconcile_clients(None);
        fan
    }

    /// The leader names served, in configuration order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.servers.iter().map(|s| s.name.as_str())
    }

    /// The state a leader name follows: None when unknown or not connected.
    pub fn leader_state(&self, name: &str) -> Option<State> {
        self.servers
            .iter()
            .find(|s| s.name == name)
            .and_then(|s| s.leader())
    }

    /// The state of one pathway (leader name, interface).
    pub fn pathway_state_of(&self, leader: &str, interface: &str) -> Option<PathwayState> {
        self.pathways
            .iter()
            .find(|p| p.leader == leader && p.interface == interface)
            .map(|p| p.state)
    }

    /// Re-evaluate after one link changed: pathways on it or carried by it, and clients
    /// that act on it.
    fn link_changed(&mut self, name: &str) -> Fanout {
        let affected: Vec<usize> = (0..self.pathways.len())
            .filter(|&i| {
                let p = &self.pathways[i];
                p.interface == name
                    || p.device.as_deref() == Some(name)
                    // A no-mac pathway's address may have moved to or from this link.
                    || (p.mac.is_none() && !p.addresses.is_empty())
            })
            .collect();
        let mut fan = self.refresh(&affected);
        fan.clients = self.reconcile_clients(Some(name));
        fan
    }

    /// Re-evaluate pathways `which` (in that order) and collect their changes and effects.
    fn refresh(&mut self, which: &[usize]) -> Fanout {
        let mut fan = Fanout::default();
        // Only pathways without `mac` look for their addresses on other links; skip building
        // the index on the (hot) push path of leaders that have none.
        let needs_owners = which.iter().any(|&i| {
            let p = &self.pathways[i];
            p.mac.is_none() && !p.addresses.is_empty()
        });
        let owners = (self.complete && needs_owners).then(|| self.owners());
        for &i in which {
            if let Some(u) = self.refresh_one(i, owners.as_ref()) {
                fan.pathways.push(u);
            }
        }
        fan
    }

    fn owners(&self) -> Owners {
        let mut owners: Owners = HashMap::new();
        for (name, link) in &self.links {
            for a in link.addresses.iter().flatten() {
                owners.entry(a.addr()).or_default().push(name.clone());
            }
        }
        owners
    }

    fn refresh_one(&mut self, i: usize, owners: Option<&Owners>) -> Option<PathwayUpdate> {
        let (eval, device) = self.evaluate(&self.pathways[i], owners);
        let leader = self.pathways[i]
            .server
            .and_then(|s| self.servers[s].leader());
        let state = pathway_state(leader, &eval);
        let device_present = device.as_ref().is_some_and(|d| self.links.contains_key(d));
        let p = &mut self.pathways[i];
        let previous = p.state;
        p.eval = eval;
        p.device = device;
        p.state = state;
        if device_present {
            p.create_requested = false;
        }
        if previous != state {
            p.transitions += 1;
            tracing::debug!(target: TARGET, leader = %p.leader, interface = %p.interface, previous = previous.as_str(), state = state.as_str(), ?eval, "pathway state");
        }
        // Members follow the leader in bulk; Connected is the leader's own flag, the same for
        // all of its pathways, so it does not decide membership.
        let group = p.server.and_then(|s| self.servers[s].group).map(|g| {
            let ready = Evaluation {
                connected: true,
                ..p.eval
            };
            if ready.all() { g } else { 0 }
        });
        let mut effects = kernel_effects(&mut self.links, self.complete, p, previous, group);
        if let Some(settle) = settle_carrier(&self.links, p) {
            effects.insert(0, settle);
        }
        (previous != state || !effects.is_empty()).then(|| PathwayUpdate {
            leader: p.leader.clone(),
            interface: p.interface.clone(),
            default_pathway: p.default.is_some(),
            previous,
            state,
            removed: false,
            effects,
        })
    }

    /// Replace the `SetProtodown` effects in `fan` (a push of leader `s`) by one change of
    /// the leader's device group when that is exactly the same change: every device the
    /// model places in the group has a `SetProtodown` in `fan`, all to the same value. A
    /// member without one (a foreign device someone put in the group, or a pathway already
    /// in that state) keeps the per-device effects, so the group change never touches a
    /// device that should not change. Only with a complete link table, where an absent
    /// member is truly absent.
    fn bulk_protodown(&self, s: usize, fan: &mut Fanout) {
        let Some(group) = self.servers[s].group else {
            return;
        };
        if !self.complete {
            return;
        }
        let members: std::collections::HashSet<&str> = self
            .links
            .iter()
            .filter(|(_, l)| l.group == Some(group))
            .map(|(name, _)| name.as_str())
            .collect();
        // One device: a per-device request costs the same.
        if members.len() < 2 {
            return;
        }
        let mut on = None;
        let mut covered = 0;
        for effect in fan.pathway_effects() {
            if let PathwayEffect::SetProtodown { device, on: o } = effect
                && members.contains(device.as_str())
            {
                if *on.get_or_insert(*o) != *o {
                    return;
                }
                covered += 1;
            }
        }
        let Some(on) = on.filter(|_| covered == members.len()) else {
            return;
        };
        let mut devices = Vec::with_capacity(covered);
        for u in &mut fan.pathways {
            u.effects.retain(|e| match e {
                PathwayEffect::SetProtodown { device, .. } if members.contains(device.as_str()) => {
                    devices.push(device.clone());
                    false
                }
                _ => true,
            });
        }
        fan.bulk.push(BulkProtodown { group, on, devices });
    }

    /// The evaluation flags of a pathway and the name of its device.
    fn evaluate(&self, p: &Pathway, owners: Option<&Owners>) -> (Evaluation, Option<String>) {
        let parent = self.links.get(&p.interface);
        let connected = p.server.is_some_and(|s| self.servers[s].connected);
        let needs_v6 = p.addresses.iter().any(|a| matches!(a, IpNet::V6(_)));
        let device = match (p.default, p.mac) {
            (Some((family, vrid)), _) => parent
                .and_then(|l| l.index)
                .map(|idx| desired::router_device_name(family, idx, vrid)),
            (None, Some(mac)) => parent
                .and_then(|l| l.index)
                .map(|idx| desired::pathway_device_name(idx, mac)),
            (None, None) => None,
        };
        let (vmac_ready, vip_ready) = match p.mac {
            Some(mac) => {
                let dev = device.as_ref().and_then(|d| self.links.get(d));
                // A device by that name with another MAC is not ours.
                let vmac = dev.is_some_and(|d| {
                    d.admin_up && d.mac.is_none_or(|m| m == mac) && d.protodown_reason == 0
                });
                let vip = dev.is_some_and(|d| {
                    d.addresses
                        .as_ref()
                        .is_none_or(|have| p.addresses.iter().all(|a| have.contains(a)))
                });
                (vmac, vip)
            }
            None => {
                let foreign = owners.is_some_and(|o| {
                    p.addresses.iter().any(|a| {
                        o.get(&a.addr())
                            .is_some_and(|links| links.iter().any(|l| *l != p.interface))
                    })
                });
                (true, !foreign)
            }
        };
        let eval = Evaluation {
            no_shut: parent.is_some_and(|l| l.admin_up),
            connected,
            oir: parent.is_some(),
            l2_ready: parent.is_some_and(|l| l.carrier),
            l3_ready: parent.is_some_and(|l| l.admin_up && !(needs_v6 && l.ipv6 == Some(false))),
            vmac_ready,
            vip_ready,
        };
        (eval, device)
    }

    /// Notices (and interface-state effects) for every client of server `s`.
    fn push_clients(
        &mut self,
        s: usize,
        now_unix: f64,
        previous: State,
        state: State,
        reason: &str,
    ) -> Vec<ClientUpdate> {
        let srv = &self.servers[s];
        let (name, vmac, vips) = (srv.name.clone(), srv.vmac, srv.vips.clone());
        let (interface, vrid, family) = (srv.interface.clone(), srv.vrid, srv.family);
        let mut out = Vec::new();
        for c in srv.clients.clone() {
            let client = &mut self.clients[c];
            client.seq += 1;
            let notice = ClientNotice {
                client: c,
                seq: client.seq,
                name: name.clone(),
                event: StateEvent {
                    interface: interface.clone(),
                    vrid,
                    family,
                    router: None,
                    previous,
                    state,
                    reason: reason.to_string(),
                    vmac,
                    vips: vips.clone(),
                    time: now_unix,
                },
            };
            client.last = Some(notice.clone());
            let effect = self.admin_effect(c, true);
            out.push(ClientUpdate {
                client: c,
                effect,
                notice: Some(notice),
            });
        }
        out
    }

    /// Corrections for interface-state clients (all of them, or those acting on `only`).
    fn reconcile_clients(&mut self, only: Option<&str>) -> Vec<ClientUpdate> {
        let mut out = Vec::new();
        for c in 0..self.clients.len() {
            if let ClientKind::InterfaceState { interface } = &self.clients[c].config.kind
                && only.is_none_or(|n| n == interface)
                && let Some(effect) = self.admin_effect(c, false)
            {
                out.push(ClientUpdate {
                    client: c,
                    effect: Some(effect),
                    notice: None,
                });
            }
        }
        out
    }

    /// The admin state an interface-state client needs, if the model says it is not there
    /// yet. `edge`: a state change, which acts even when the link is not known at all.
    fn admin_effect(&mut self, c: usize, edge: bool) -> Option<ClientEffect> {
        let ClientKind::InterfaceState { interface } = &self.clients[c].config.kind else {
            return None;
        };
        let up = self.clients[c]
            .server
            .and_then(|s| self.servers[s].leader())
            == Some(State::Master);
        match self.links.get_mut(interface) {
            Some(link) if link.admin_up == up => None,
            Some(link) => {
                link.admin_up = up;
                Some(ClientEffect::SetAdminState {
                    interface: interface.clone(),
                    up,
                })
            }
            // Absent (a full snapshot lacks it): nothing to act on.
            None if self.complete || !edge => None,
            None => Some(ClientEffect::SetAdminState {
                interface: interface.clone(),
                up,
            }),
        }
    }
}

/// Kernel effects that bring pathway `p` (already holding its new state) in line, given
/// the state it had before, and its macvlan into device group `group` (None: groups are not
/// managed). Updates the link model as if they succeeded.
fn kernel_effects(
    links: &mut HashMap<String, Link>,
    complete: bool,
    p: &mut Pathway,
    previous: PathwayState,
    group: Option<u32>,
) -> Vec<PathwayEffect> {
    let mut out = Vec::new();
    if p.default.is_some() {
        // The VRRP router owns its device: protodown and GARP come from the state machine.
        return out;
    }
    let active = p.state == PathwayState::Active;
    let became_active = active && previous != PathwayState::Active;
    // A change the kernel must see (INACTIVE ↔ NOT READY looks the same there).
    let edge = (previous == PathwayState::Active) != active;
    let vips: Vec<IpAddr> = p.addresses.iter().map(|a| a.addr()).collect();
    match p.mac {
        Some(mac) => {
            let Some(device) = p.device.clone() else {
                // Parent absent or its index unknown: nothing to act on.
                return out;
            };
            let Some(link) = links.get_mut(&device) else {
                // Only once the parent is admin up: creation would be refused before (apply's
                // rule), and a re-inserted interface usually appears down and is brought up a
                // moment later (that link event brings us back here).
                if complete
                    && !p.create_requested
                    && let Some(cfg) = &p.config
                    && let Some(idx) = links
                        .get(&p.interface)
                        .filter(|l| l.admin_up)
                        .and_then(|l| l.index)
                {
                    p.create_requested = true;
                    tracing::info!(target: TARGET, leader = %p.leader, interface = %p.interface, %device, "pathway macvlan missing; asking for it to be re-created");
                    out.push(PathwayEffect::CreateDevice {
                        device: desired::pathway_device(cfg, mac, idx),
                    });
                }
                return out;
            };
            if let Some(group) = group
                && link.group != Some(group)
            {
                link.group = Some(group);
                out.push(PathwayEffect::SetGroup {
                    device: device.clone(),
                    group,
                });
            }
            let want_down = !active;
            let differs = match link.protodown {
                Some(on) => on != want_down,
                None => edge,
            };
            if differs {
                link.protodown = Some(want_down);
                out.push(PathwayEffect::SetProtodown {
                    device: device.clone(),
                    on: want_down,
                });
            }
            if became_active && !vips.is_empty() {
                out.push(PathwayEffect::Gratuitous {
                    device,
                    mac,
                    addrs: vips,
                });
            }
        }
        None => {
            if p.addresses.is_empty() {
                // A state-only pathway: shown, not acted on.
                return out;
            }
            let Some(link) = links.get_mut(&p.interface) else {
                return out;
            };
            match &mut link.addresses {
                Some(have) => {
                    let (present, missing): (Vec<IpNet>, Vec<IpNet>) =
                        p.addresses.iter().partition(|a| have.contains(a));
                    if active && !missing.is_empty() {
                        have.extend(missing.iter().copied());
                        out.push(PathwayEffect::AddAddresses {
                            interface: p.interface.clone(),
                            addrs: missing,
                        });
                    } else if !active && !present.is_empty() {
                        have.retain(|a| !present.contains(a));
                        out.push(PathwayEffect::DelAddresses {
                            interface: p.interface.clone(),
                            addrs: present,
                        });
                    }
                }
                None if edge => out.push(if active {
                    PathwayEffect::AddAddresses {
                        interface: p.interface.clone(),
                        addrs: p.addresses.clone(),
                    }
                } else {
                    PathwayEffect::DelAddresses {
                        interface: p.interface.clone(),
                        addrs: p.addresses.clone(),
                    }
                }),
                None => {}
            }
            if became_active {
                match link.mac {
                    Some(mac) => out.push(PathwayEffect::Gratuitous {
                        device: p.interface.clone(),
                        mac,
                        addrs: vips,
                    }),
                    None => {
                        tracing::warn!(target: TARGET, interface = %p.interface, "interface MAC not known yet; no gratuitous ARP/NA for this pathway")
                    }
                }
            }
        }
    }
    out
}

/// A [`PathwayEffect::SettleCarrier`] for pathway `p` if its interface has carrier the kernel
/// has not applied yet and none was asked for that link.
fn settle_carrier(links: &HashMap<String, Link>, p: &mut Pathway) -> Option<PathwayEffect> {
    let Some(index) = links
        .get(&p.interface)
        .filter(|l| l.carrier_pending)
        .and_then(|l| l.index)
    else {
        p.settle_requested = None;
        return None;
    };
    // The VRRP router owns a default pathway's interface, and a kernel without the sync
    // answers without applying anything: asking again would not help.
    if p.default.is_some() || p.settle_requested == Some(index) {
        return None;
    }
    p.settle_requested = Some(index);
    tracing::debug!(target: TARGET, leader = %p.leader, interface = %p.interface, "carrier not applied by the kernel yet; asking it to");
    Some(PathwayEffect::SettleCarrier {
        interface: p.interface.clone(),
    })
}

fn configured_pathway(pc: &PathwayConfig, server: Option<usize>) -> Pathway {
    Pathway {
        leader: pc.leader.clone(),
        server,
        interface: pc.interface.clone(),
        mac: pc.mac,
        addresses: pc.address.clone(),
        default: None,
        config: Some(pc.clone()),
        device: None,
        eval: Evaluation::default(),
        state: PathwayState::NotReady,
        transitions: 0,
        create_requested: false,
        settle_requested: None,
    }
}
