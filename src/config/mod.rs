//! Configuration: the TOML schema of netvrrp.toml(5), parsed with spans (toml_edit) and
//! validated as a whole so every error is reported at once.
//!
//! `[defaults]` are merged into every `[[vrrp]]` at parse time: the rest of the program
//! only sees fully resolved [`RouterConfig`] values.

mod parse;
pub mod ra;
mod render;
pub mod router_name;
mod spans;

pub use parse::{load, parse_str};
// The importers check addresses exactly as the file parser does.
pub(crate) use parse::{parse_v4, parse_v6};
pub use render::{DiscoveredRouter, render_autoconfig};
pub use spans::{FileSpans, ValueRef};

use crate::types::{Family, MacAddr};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::PathBuf;

pub use crate::types::Version;

/// A whole configuration file, defaults already merged.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Config {
    /// The file it came from (for messages).
    pub source: Option<PathBuf>,
    pub runtime: RuntimeConfig,
    pub routers: Vec<RouterConfig>,
    pub pathways: Vec<PathwayConfig>,
    pub clients: Vec<ClientConfig>,
    /// `[[track]]` objects, in file order (names are unique).
    pub tracks: Vec<TrackObject>,
    /// Valid but risky settings, each at its position (`validate` and `apply` print them).
    pub warnings: Vec<ConfigError>,
}

/// `user`/`group` of an exec hook: whom it runs as (None: the runtime's own, root).
/// Resolved to ids when the file is read, so a run never looks a name up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RunAs {
    pub uid: Option<u32>,
    /// `group`, or the primary group of `user` when only that is given.
    pub gid: Option<u32>,
}

/// Why a metrics listener on `addr` is exposed beyond this host (None for loopback): the
/// endpoint has no authentication, and what it shows (states, priorities, addresses,
/// configuration hash) helps an attacker time a takeover.
pub fn exposed_listen_address(addr: &std::net::SocketAddr) -> Option<String> {
    if addr.ip().is_loopback() {
        return None;
    }
    Some(format!(
        "{addr} is not a loopback address: the metrics endpoint has no authentication and \
         anyone who can reach it learns every router's state and priority; bind 127.0.0.1 or \
         [::1] and let a local scraper or a reverse proxy with TLS expose it"
    ))
}

/// `[runtime]`: settings of the runtime process itself.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RuntimeConfig {
    /// `metrics-listen`: address:port of the Prometheus endpoint (off when None).
    pub metrics_listen: Option<String>,
    /// `realtime-priority`: run the event-loop thread under SCHED_FIFO at this priority
    /// (1..=99; off when None).
    pub realtime_priority: Option<u8>,
    /// `control-group`: members may send every control request (like root).
    pub control_group: Option<GroupRef>,
    /// `control-read-group`: members may only `show` and `subscribe`.
    pub control_read_group: Option<GroupRef>,
    /// `pathway-group-base`: the kernel device group of the first VRRS leader's pathway
    /// macvlans (the next leader gets the next group); 0 turns bulk changes off. None: the
    /// default, [`DEFAULT_PATHWAY_GROUP_BASE`].
    pub pathway_group_base: Option<u32>,
}

/// Default of `[runtime] pathway-group-base`: far from the small numbers operators give
/// groups by hand, and below 2^31 so every iproute2 version parses it.
pub const DEFAULT_PATHWAY_GROUP_BASE: u32 = 1_000_000;

/// Largest `pathway-group-base`: base + leader index must stay below 2^31.
pub const MAX_PATHWAY_GROUP_BASE: u32 = 2_000_000_000;

impl RuntimeConfig {
    /// The device group of leader number `leader` (0-based, configuration order), or None
    /// when bulk changes are off.
    pub fn pathway_group(&self, leader: usize) -> Option<u32> {
        let base = self
            .pathway_group_base
            .unwrap_or(DEFAULT_PATHWAY_GROUP_BASE);
        if base == 0 {
            return None;
        }
        u32::try_from(leader).ok()?.checked_add(base)
    }
}

/// A group named in the file, resolved when the file was read (an unknown group is an error).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRef {
    pub name: String,
    pub gid: u32,
}

/// One `[[vrrp]]`: a virtual router (interface, vrid) with up to two instances (IPv4, IPv6).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RouterConfig {
    /// `name`: the same virtual router's name on every host (see [`router_name`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub interface: String,
    pub vrid: u8,
    pub version: Version,
    pub priority: u8,
    /// Advertisement interval in milliseconds.
    pub advertisement_interval_ms: u32,
    pub preempt: bool,
    pub preempt_delay_ms: u32,
    pub accept_mode: bool,
    pub checksum_with_ipv4_pseudoheader: bool,
    pub shutdown: bool,
    /// Number of gratuitous ARP / unsolicited NA bursts on becoming Master (>= 1).
    pub garp_bursts: u32,
    /// Delay between two bursts, ms.
    pub garp_burst_interval_ms: u32,
    pub ipv4: Vec<Ipv4Net>,
    pub ipv6: Vec<Ipv6Net>,
    pub vrrs_leader: Vec<String>,
    pub vrrs_leader_family: Option<Family>,
    pub track: Vec<TrackConfig>,
    /// Optional allowlist of advert sources; empty = anyone.
    pub peers: Vec<std::net::IpAddr>,
    /// `unicast-peers`: unicast mode when not empty (adverts go to each; only they are heard).
    pub unicast_peers: Vec<std::net::IpAddr>,
    /// `router-advertisements`: sent by the Master of the IPv6 instance when set. Boxed:
    /// few routers have it, and inline it was a quarter of every router's configuration
    /// (which the runtime keeps, and a reload holds twice).
    #[serde(default)]
    pub router_advertisements: Option<Box<ra::RaConfig>>,
    /// Where this `[[vrrp]]` table starts in the file (for messages).
    #[serde(skip)]
    pub location: Location,
}

impl RouterConfig {
    /// The families that have an instance (a family with no VIP has none).
    pub fn families(&self) -> Vec<Family> {
        let mut f = Vec::new();
        if !self.ipv4.is_empty() {
            f.push(Family::Ipv4);
        }
        if !self.ipv6.is_empty() {
            f.push(Family::Ipv6);
        }
        f
    }

    /// May an advert from `src` be heard? In unicast mode only from a unicast peer; else
    /// from anyone, or only from `peers` when that allowlist is set.
    pub fn hears(&self, src: std::net::IpAddr) -> bool {
        if !self.unicast_peers.is_empty() {
            self.unicast_peers.contains(&src)
        } else {
            self.peers.is_empty() || self.peers.contains(&src)
        }
    }

    /// The VIPs of one family as generic prefixes, in advert order: file order, except that
    /// an IPv6 link-local (the virtual router's link-local) comes first, as RFC 9568 5.2.9
    /// requires of the advert's address list.
    pub fn addresses(&self, family: Family) -> Vec<IpNet> {
        match family {
            Family::Ipv4 => self.ipv4.iter().map(|n| IpNet::V4(*n)).collect(),
            Family::Ipv6 => {
                let (link_local, other): (Vec<_>, Vec<_>) =
                    self.ipv6.iter().map(|n| IpNet::V6(*n)).partition(
                        |n| matches!(n, IpNet::V6(v) if v.addr().is_unicast_link_local()),
                    );
                link_local.into_iter().chain(other).collect()
            }
        }
    }

    /// The virtual router's IPv6 link-local: the first link-local of `ipv6`, if any.
    pub fn virtual_link_local(&self) -> Option<std::net::Ipv6Addr> {
        self.ipv6
            .iter()
            .map(|n| n.addr())
            .find(|a| a.is_unicast_link_local())
    }

    /// The family a VRRS leader name of this router follows.
    pub fn leader_family(&self) -> Family {
        self.vrrs_leader_family.unwrap_or(if self.ipv4.is_empty() {
            Family::Ipv6
        } else {
            Family::Ipv4
        })
    }
}

/// One entry of a router's `track` list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrackConfig {
    pub target: TrackTarget,
    /// Lowered from the priority while the target is down (0 with `fault`).
    pub decrement: u8,
    /// While the target is down the router is held in Initialize (protodown, no adverts).
    pub fault: bool,
}

impl TrackConfig {
    /// The tracked interface, for the interface form.
    pub fn interface(&self) -> Option<&str> {
        match &self.target {
            TrackTarget::Interface(i) => Some(i),
            TrackTarget::Object(_) => None,
        }
    }

    /// The `[[track]]` object named, for the object form.
    pub fn object(&self) -> Option<&str> {
        match &self.target {
            TrackTarget::Object(o) => Some(o),
            TrackTarget::Interface(_) => None,
        }
    }
}

/// What a router's track entry follows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TrackTarget {
    /// `interface = "eth1"`: up while the link is admin up with carrier.
    Interface(String),
    /// `object = "web"`: a `[[track]]` object's state.
    Object(String),
}

/// One `[[track]]`: a health object routers can follow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrackObject {
    pub name: String,
    pub kind: TrackKind,
    #[serde(skip)]
    pub location: Location,
}

impl TrackObject {
    /// The kind's name as written in the file.
    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            TrackKind::Exec { .. } => "exec",
            TrackKind::Process { .. } => "process",
            TrackKind::File { .. } => "file",
            TrackKind::Route { .. } => "route",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum TrackKind {
    /// Run `command` (argv, absolute program path) every `interval_ms`; exit 0 is success.
    Exec {
        command: Vec<String>,
        interval_ms: u32,
        timeout_ms: u32,
        /// Consecutive successes that bring a down object up.
        rise: u32,
        /// Consecutive failures that take an up object down.
        fall: u32,
        /// State before the first result (`initial = "up" | "down"`).
        initial_up: bool,
        #[serde(default)]
        run_as: RunAs,
    },
    /// Up while a process runs.
    Process { target: ProcessTarget },
    /// Up while a file satisfies `up_when`.
    File { path: PathBuf, up_when: FileUpWhen },
    /// Up while a route to exactly `prefix` exists in routing table `table`.
    Route { prefix: IpNet, table: u32 },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProcessTarget {
    /// `process = "haproxy"`: any process whose name (comm) is exactly this.
    Name(String),
    /// `pidfile = "/run/haproxy.pid"`: the process whose pid the file holds.
    Pidfile(PathBuf),
}

/// `up-when` of a file object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FileUpWhen {
    /// The file exists (whatever it holds).
    Exists,
    /// The file does not exist (a maintenance flag).
    Missing,
    /// The file holds the integer 0 (keepalived's track_file: 0 is healthy).
    Zero,
    /// The file holds a non-zero integer.
    Nonzero,
}

impl FileUpWhen {
    pub const NAMES: &[(&str, FileUpWhen)] = &[
        ("exists", FileUpWhen::Exists),
        ("missing", FileUpWhen::Missing),
        ("zero", FileUpWhen::Zero),
        ("nonzero", FileUpWhen::Nonzero),
    ];
}

/// One `[[vrrs.pathway]]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PathwayConfig {
    pub leader: String,
    pub interface: String,
    pub mac: Option<MacAddr>,
    pub address: Vec<IpNet>,
    #[serde(skip)]
    pub location: Location,
}

/// One `[[vrrs.client]]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientConfig {
    pub leader: String,
    pub kind: ClientKind,
    #[serde(skip)]
    pub location: Location,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum ClientKind {
    /// Admin-up `interface` only while the leader is Master.
    InterfaceState { interface: String },
    /// Append one JSON line per transition to `path`.
    Accounting { path: PathBuf },
    /// Run `command` (argv, no shell) on every transition; killed after `timeout_ms`.
    Exec {
        command: Vec<String>,
        timeout_ms: u32,
        run_as: RunAs,
    },
}

/// A position in a configuration file: 1-based line and column, the column counted in
/// characters; 0:0 when there is no position (the file could not be read), displayed as the
/// file's name alone.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Location {
    pub file: String,
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            return write!(f, "{}", self.file);
        }
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// One problem in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub location: Location,
    /// The offending key as a dotted path with 1-based indices, e.g. `vrrp[1].priority` for
    /// the first `[[vrrp]]` of the file; empty for syntax and I/O errors.
    pub key: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Syntax and I/O errors have no key path.
        if self.key.is_empty() {
            write!(f, "{}: {}", self.location, self.message)
        } else {
            write!(f, "{}: {}: {}", self.location, self.key, self.message)
        }
    }
}

/// Every problem found in a file (never empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}
