//! `show vrrs server|pathway|client`: the rows VRRS shows outward (part of the typed
//! contract, [`crate::contract`]; these live here because they carry VRRS's own
//! [`Evaluation`] and [`Options`]).

use super::{ClientRunners, ClientStats, Evaluation, Options, PathwayState, Server, Vrrs};
use crate::config::ClientKind;
use crate::types::{Family, MacAddr};
use crate::vrrp::router::State;
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::net::IpAddr;

/// One leader name, as `show vrrs server --json` lists it under `servers`. Read back by the
/// CLI: `name`, `interface`, `vrid`, `family`, `state` and
/// `vmac` are required, the rest read as empty when a runtime does not send them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerRow {
    pub name: String,
    /// Always "vrrp".
    #[serde(default)]
    pub protocol: Cow<'static, str>,
    pub interface: String,
    pub vrid: u8,
    pub family: Family,
    /// The instance has reported a state since the database was built.
    #[serde(default)]
    pub connected: bool,
    pub state: State,
    #[serde(default)]
    pub previous_state: Option<State>,
    #[serde(default)]
    pub reason: Option<String>,
    pub vmac: MacAddr,
    #[serde(default)]
    pub vips: Vec<IpAddr>,
    #[serde(default)]
    pub last_change: Option<f64>,
    #[serde(default)]
    pub owner: bool,
    #[serde(default)]
    pub accept_mode: bool,
    /// How many pathways follow the name, and how many are active.
    #[serde(default)]
    pub pathways: usize,
    #[serde(default)]
    pub pathways_active: usize,
    #[serde(default)]
    pub clients: usize,
    /// State changes pushed to pathways and clients.
    #[serde(default)]
    pub pushes: u64,
}

/// One pathway, as `show vrrs pathway --json` lists it under `pathways` (`name`,
/// `interface` and `state` required when read back).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PathwayRow {
    /// The leader name.
    pub name: String,
    pub interface: String,
    #[serde(default)]
    pub device: Option<String>,
    /// active, inactive or not_ready.
    pub state: PathwayState,
    #[serde(default)]
    pub leader_state: Option<State>,
    #[serde(default)]
    pub family: Option<Family>,
    /// The configured virtual MAC (None: the pathway uses the interface's own).
    #[serde(default)]
    pub vmac: Option<MacAddr>,
    #[serde(default)]
    pub mac_in_use: Option<MacAddr>,
    #[serde(default)]
    pub addresses: Vec<IpNet>,
    #[serde(default)]
    pub options: Options,
    #[serde(default)]
    pub evaluation: Evaluation,
    /// The kernel device group of the pathway macvlan (bulk changes); None for a pathway
    /// without `mac` or a device not seen.
    #[serde(default)]
    pub device_group: Option<u32>,
    #[serde(default)]
    pub transitions: u64,
}

/// One client, as `show vrrs client --json` lists it under `clients` (`client`, `name` and
/// `kind` required when read back).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientRow {
    /// 1, 2, 3… in configuration order.
    pub client: usize,
    /// The leader name.
    pub name: String,
    #[serde(default)]
    pub connected: bool,
    /// Notices sent so far.
    #[serde(default)]
    pub notices: u64,
    #[serde(default)]
    pub last: Option<LastNotice>,
    /// `kind` and the kind's settings.
    #[serde(flatten)]
    pub kind: ClientKind,
    /// The runner's counters, when the runners were asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runner: Option<ClientStats>,
}

impl ClientRow {
    /// The row a `control-read-group` member gets: an exec client's argv and an accounting
    /// client's path are what the root-only `running` request guards, and the runner's
    /// last exit and error may name them, so all are replaced by
    /// [`crate::contract::HIDDEN`]; counters and state stay.
    pub fn redacted(mut self) -> ClientRow {
        use crate::contract::HIDDEN;
        match &mut self.kind {
            ClientKind::Exec { command, .. } => *command = vec![HIDDEN.to_string()],
            ClientKind::Accounting { path } => *path = crate::contract::hidden_path(),
            ClientKind::InterfaceState { .. } => {}
        }
        if let Some(runner) = &mut self.runner {
            for text in [&mut runner.last_exit, &mut runner.last_error]
                .into_iter()
                .flatten()
            {
                *text = HIDDEN.to_string();
            }
        }
        self
    }
}

/// The last notice a client was sent.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LastNotice {
    pub previous: State,
    pub state: State,
    pub time: f64,
}

impl Vrrs {
    /// `show vrrs server --json`: one row per leader name.
    pub fn show_server(&self) -> Vec<ServerRow> {
        self.servers
            .iter()
            .map(|s| ServerRow {
                name: s.name.clone(),
                protocol: "vrrp".into(),
                interface: s.interface.clone(),
                vrid: s.vrid,
                family: s.family,
                connected: s.connected,
                state: s.state,
                previous_state: s.previous,
                reason: s.reason.clone(),
                vmac: s.vmac,
                vips: s.vips.clone(),
                last_change: s.last_change,
                owner: s.owner,
                accept_mode: s.accept_mode,
                pathways: s.pathways.len(),
                pathways_active: s
                    .pathways
                    .iter()
                    .filter(|&&p| self.pathways[p].state == super::PathwayState::Active)
                    .count(),
                clients: s.clients.len(),
                pushes: s.pushes,
            })
            .collect()
    }

    /// `show vrrs pathway --json`: one row per pathway, each leader's default pathway first.
    pub fn show_pathway(&self) -> Vec<PathwayRow> {
        self.pathways
            .iter()
            .map(|p| {
                let server = p.server.map(|s| &self.servers[s]);
                let mac_in_use = p
                    .mac
                    .or_else(|| self.links.get(&p.interface).and_then(|l| l.mac));
                PathwayRow {
                    name: p.leader.clone(),
                    interface: p.interface.clone(),
                    device: p
                        .device
                        .clone()
                        .or_else(|| p.mac.is_none().then(|| p.interface.clone())),
                    state: p.state,
                    leader_state: server.and_then(Server::leader),
                    family: server.map(|s| s.family),
                    vmac: p.mac,
                    mac_in_use,
                    addresses: p.addresses.clone(),
                    options: p.options(server),
                    evaluation: p.eval,
                    device_group: p
                        .mac
                        .and(p.device.as_ref())
                        .and_then(|d| self.links.get(d))
                        .and_then(|l| l.group),
                    transitions: p.transitions,
                }
            })
            .collect()
    }

    /// `show vrrs client --json`: one row per client, with its runner's counters when given.
    pub fn show_client(&self, runners: Option<&ClientRunners>) -> Vec<ClientRow> {
        let stats = runners.map(|r| r.stats()).unwrap_or_default();
        self.clients
            .iter()
            .enumerate()
            .map(|(i, c)| ClientRow {
                client: i + 1,
                name: c.config.leader.clone(),
                connected: c.server.is_some_and(|s| self.servers[s].connected),
                notices: c.seq,
                last: c.last.as_ref().map(|n| LastNotice {
                    previous: n.previous,
                    state: n.state,
                    time: n.time,
                }),
                kind: c.config.kind.clone(),
                runner: stats.get(i).cloned(),
            })
            .collect()
    }
}
