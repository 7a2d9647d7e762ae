//! What an import produced, before it is written as TOML: netvrrp's settings with the
//! comments that explain each translation. `None` means "not set": the default applies.

use crate::types::Family;
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use std::net::IpAddr;

/// The keys `[defaults]` and `[[vrrp]]` share (netvrrp.toml(5)).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Settings {
    pub version: Option<u8>,
    pub priority: Option<u8>,
    /// ms
    pub advertisement_interval: Option<u32>,
    pub preempt: Option<bool>,
    /// ms
    pub preempt_delay: Option<u32>,
    pub accept_mode: Option<bool>,
    pub checksum_with_ipv4_pseudoheader: Option<bool>,
    pub shutdown: Option<bool>,
    pub garp_bursts: Option<u32>,
    /// ms
    pub garp_burst_interval: Option<u32>,
}

/// A value of [`Settings`] as TOML text, by key.
pub enum SettingValue {
    Int(i64),
    Bool(bool),
}

impl Settings {
    /// (key, value) for every key that is set, in the order of netvrrp.toml(5).
    pub fn entries(&self) -> Vec<(&'static str, SettingValue)> {
        use SettingValue::{Bool, Int};
        let int = |v: Option<u32>| v.map(|v| Int(i64::from(v)));
        let small = |v: Option<u8>| v.map(|v| Int(i64::from(v)));
        [
            ("version", small(self.version)),
            ("priority", small(self.priority)),
            ("advertisement-interval", int(self.advertisement_interval)),
            ("preempt", self.preempt.map(Bool)),
            ("preempt-delay", int(self.preempt_delay)),
            ("accept-mode", self.accept_mode.map(Bool)),
            (
                "checksum-with-ipv4-pseudoheader",
                self.checksum_with_ipv4_pseudoheader.map(Bool),
            ),
            ("shutdown", self.shutdown.map(Bool)),
            ("garp-bursts", int(self.garp_bursts)),
            ("garp-burst-interval", int(self.garp_burst_interval)),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect()
    }

    /// Every key of `self` that is unset takes the value of `other`.
    pub fn or(&self, other: &Settings) -> Settings {
        Settings {
            version: self.version.or(other.version),
            priority: self.priority.or(other.priority),
            advertisement_interval: self.advertisement_interval.or(other.advertisement_interval),
            preempt: self.preempt.or(other.preempt),
            preempt_delay: self.preempt_delay.or(other.preempt_delay),
            accept_mode: self.accept_mode.or(other.accept_mode),
            checksum_with_ipv4_pseudoheader: self
                .checksum_with_ipv4_pseudoheader
                .or(other.checksum_with_ipv4_pseudoheader),
            shutdown: self.shutdown.or(other.shutdown),
            garp_bursts: self.garp_bursts.or(other.garp_bursts),
            garp_burst_interval: self.garp_burst_interval.or(other.garp_burst_interval),
        }
    }

    /// netvrrp's own defaults (netvrrp.toml(5)), every key set.
    pub fn builtin() -> Settings {
        Settings {
            version: Some(3),
            priority: Some(100),
            advertisement_interval: Some(1000),
            preempt: Some(true),
            preempt_delay: Some(0),
            accept_mode: Some(true),
            checksum_with_ipv4_pseudoheader: Some(true),
            shutdown: Some(false),
            garp_bursts: Some(2),
            garp_burst_interval: Some(2000),
        }
    }
}

/// One `[[vrrp]]` to write.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Router {
    /// Where it came from, e.g. `keepalived.conf:12:1: vrrp_instance VI_1` (the comment
    /// above the table).
    pub origin: Vec<String>,
    pub interface: String,
    pub vrid: u8,
    pub settings: Settings,
    pub ipv4: Vec<Ipv4Net>,
    pub ipv6: Vec<Ipv6Net>,
    pub vrrs_leader: Vec<String>,
    pub vrrs_leader_family: Option<Family>,
    /// `track = [...]`: tracked interfaces and `[[track]]` objects.
    pub track: Vec<TrackEntry>,
    pub unicast_peers: Vec<IpAddr>,
    /// Comment lines by key: written right above that key (or at the end of the table when
    /// the key is not written). The key `""` goes above the table header.
    pub notes: Vec<(&'static str, String)>,
}

/// One entry of a router's `track` list.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackEntry {
    /// `interface = ...` when true, `object = ...` (a `[[track]]` name) when false.
    pub interface: bool,
    pub name: String,
    /// `decrement = N`; None: `fault = true`.
    pub decrement: Option<u8>,
}

impl Router {
    pub fn note(&mut self, key: &'static str, text: impl Into<String>) {
        self.notes.push((key, text.into()));
    }
}

/// One `[[vrrs.pathway]]` (no MAC: addresses on the interface itself, as keepalived does
/// with a VIP that names another `dev`).
#[derive(Debug, Clone, PartialEq)]
pub struct Pathway {
    pub leader: String,
    pub interface: String,
    pub address: Vec<IpNet>,
    pub notes: Vec<String>,
}

/// One `[[vrrs.client]]` of kind exec.
#[derive(Debug, Clone, PartialEq)]
pub struct Client {
    pub leader: String,
    pub command: Vec<String>,
    pub notes: Vec<String>,
}

/// A `[[track]]` object (netvrrp.toml(5), TRACKING).
#[derive(Debug, Clone, PartialEq)]
pub struct TrackObject {
    pub name: String,
    /// "exec", "process" or "file".
    pub kind: &'static str,
    /// (key, value already as TOML text) after `name` and `kind`.
    pub fields: Vec<(&'static str, String)>,
    pub notes: Vec<String>,
}

/// A whole translated configuration.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Imported {
    /// "keepalived" or "FRR".
    pub daemon: &'static str,
    /// The command-line flag, for the header.
    pub flag: &'static str,
    /// The input file as given.
    pub source: String,
    /// File-level comments (things not tied to one router), one a line.
    pub notes: Vec<String>,
    pub defaults: Settings,
    pub defaults_notes: Vec<(&'static str, String)>,
    pub routers: Vec<Router>,
    pub pathways: Vec<Pathway>,
    pub clients: Vec<Client>,
    pub tracks: Vec<TrackObject>,
}
