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
//! | reload | [`Vrrs::reconfigure`], then (every instance switched) [`Vrrs::follow_running`] |
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
//! leaders that keep their (interface, vrid, family) keep their state. A leader the reload
//! gives to a router that keeps running (a name added, moved to it, or its family changed)
//! has no transition to hear of: once every instance has switched, [`Vrrs::follow_running`]
//! connects it to its instance's state as a start would.

mod client_updates;
pub mod clients;
mod fanout;
mod pathways;
mod render;
pub mod show;
#[cfg(test)]
mod tests;

pub use crate::contract::{ClientNotice, StateEvent};
pub use clients::{ClientEffect, ClientRunner, ClientRunners, ClientStats};
pub use fanout::{
    BulkProtodown, ClientUpdate, Evaluation, Fanout, Options, PathwayEffect, PathwayState,
    PathwayUpdate, pathway_state,
};
pub use render::{render_client_text, render_pathway_text, render_server_text};
pub use show::{ClientRow, PathwayRow, ServerRow};

use crate::config::{ClientConfig, ClientKind, Config, PathwayConfig};
use crate::desired;
use crate::kernel::{LinkInfo, Snapshot};
use crate::types::{Family, MacAddr};
use crate::vrrp::router::{Reason, State};
use ipnet::IpNet;
use std::collections::HashMap;
use std::net::IpAddr;

use pathways::kernel_effects;

/// Tracing target of everything VRRS logs (FRR's `debug vrrp` categories; the
/// targets are listed under `--verbose` in netvrrp(8)).
pub const TARGET: &str = "netvrrp::vrrs";

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

    /// Does this leader fail to follow its instance, running in `instance` (None: not
    /// running)? An instance in Initialize is not expected to be followed: a start reports
    /// nothing for one that stays there.
    fn lags(&self, instance: Option<State>) -> bool {
        instance.is_some_and(|state| state != State::Initialize && self.leader() != Some(state))
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
        let operational = matches!(l.operstate.as_ref(), "up" | "unknown");
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
        self.adopt(Vrrs::new(config))
    }

    /// [`Vrrs::reconfigure`] with the new file's database already built ([`Vrrs::new`], e.g.
    /// on another thread while the file still holds its routers).
    pub fn adopt(&mut self, mut next: Vrrs) -> Fanout {
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
        if !self.reads_links() {
            // The last reader left (its effects above read the table): let it go.
            self.links = HashMap::new();
            self.complete = false;
        }
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

    /// The leaders whose VRRP instance runs in Backup or Master but which do not follow that
    /// state (`instance` gives a running instance's state by interface, VRID and family; None:
    /// not running). After [`Vrrs::follow_running`] there are none: a runtime that reports
    /// one has drifted.
    pub fn unfollowed(&self, instance: impl Fn(&str, u8, Family) -> Option<State>) -> Vec<&str> {
        self.servers
            .iter()
            .filter(|s| s.lags(instance(&s.interface, s.vrid, s.family)))
            .map(|s| s.name.as_str())
            .collect()
    }

    /// Connect every leader that does not follow its running instance (in Backup or Master:
    /// [`Vrrs::unfollowed`]) to that instance's state, as the instance's first transition
    /// does at start: the state is pushed to the leader's pathways and clients (from
    /// Initialize, with the reason of the instance's last transition). For a reload, which replaces the database but does not
    /// restart a router that only gains a leader name: that router has no transition to
    /// report. `instance` gives a running instance's state and that reason.
    pub fn follow_running(
        &mut self,
        now_unix: f64,
        instance: impl Fn(&str, u8, Family) -> Option<(State, Reason)>,
    ) -> Fanout {
        let mut lagging: Vec<(String, u8, Family, State, Reason)> = Vec::new();
        for s in &self.servers {
            let Some((state, reason)) = instance(&s.interface, s.vrid, s.family) else {
                continue;
            };
            let known = lagging
                .iter()
                .any(|l| l.0 == s.interface && l.1 == s.vrid && l.2 == s.family);
            if !known && s.lags(Some(state)) {
                lagging.push((s.interface.clone(), s.vrid, s.family, state, reason));
            }
        }
        let mut fan = Fanout::default();
        // on_state moves every leader of the instance; the ones already following it stay.
        for (interface, vrid, family, state, reason) in lagging {
            fan.append(self.on_state(now_unix, &interface, vrid, family, state, reason.as_str()));
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
        // Without a reader the table is not kept (0.7 MB at 4,000 routers); a reload that
        // brings the first reader asks for a snapshot (`needs_snapshot`).
        let reads = self.reads_links();
        self.links = if reads {
            snapshot
                .links
                .iter()
                .map(|l| (l.name.clone(), Link::from(l)))
                .collect()
        } else {
            HashMap::new()
        };
        self.complete = reads;
        let all: Vec<usize> = (0..self.pathways.len()).collect();
        let mut fan = self.refresh(&all);
        fan.clients = self.reconcile_clients(None);
        fan
    }

    /// Only pathways and interface-state clients read the link table.
    fn reads_links(&self) -> bool {
        !self.pathways.is_empty()
            || self
                .clients
                .iter()
                .any(|c| matches!(c.config.kind, ClientKind::InterfaceState { .. }))
    }

    /// The database reads links it has not been given in full (a reload brought the first
    /// pathway or interface-state client): feed it [`Vrrs::on_snapshot`].
    pub fn needs_snapshot(&self) -> bool {
        self.reads_links() && !self.complete
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
