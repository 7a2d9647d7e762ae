//! `show vrrp`: one row per VRRP instance (interface, vrid, family).

use super::TrackContribution;
use crate::types::{Family, MacAddr};
use crate::vrrp::ra::{RaCounters, RaState};
use crate::vrrp::router::{Counters, State};
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, Ipv6Addr};

/// One VRRP instance as `show vrrp --json` lists it under `routers`.
///
/// Read back by the CLI from the control socket: `interface`, `vrid`, `family`, `state` and
/// `vmac` are required, every other field takes its empty value when a runtime does not
/// send it (an older one), and fields this build does not know are ignored (a newer one).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VrrpRow {
    /// The router's `name` (None without one).
    #[serde(default)]
    pub name: Option<String>,
    pub interface: String,
    pub vrid: u8,
    pub family: Family,
    /// VRRP version, 2 or 3.
    #[serde(default)]
    pub version: u8,
    /// The macvlan carrying the virtual MAC and addresses.
    #[serde(default)]
    pub device: Option<String>,
    /// Its ifindex, None until the kernel has it.
    #[serde(default)]
    pub device_index: Option<u32>,
    pub vmac: MacAddr,
    pub state: State,
    #[serde(default)]
    pub priority: u8,
    /// The priority advertised now (tracking applied).
    #[serde(default)]
    pub effective_priority: u8,
    #[serde(default)]
    pub preempt: bool,
    #[serde(default)]
    pub preempt_delay_ms: u32,
    #[serde(default)]
    pub accept_mode: bool,
    #[serde(default)]
    pub primary_address: Option<IpAddr>,
    /// The current Master's address, as last heard (None: none heard).
    #[serde(default)]
    pub master_address: Option<IpAddr>,
    /// The device's protodown as last set (None: not set yet).
    #[serde(default)]
    pub protodown: Option<bool>,
    #[serde(default)]
    pub advertisement_interval_ms: u32,
    #[serde(default)]
    pub master_adver_interval_ms: f64,
    #[serde(default)]
    pub skew_time_ms: f64,
    #[serde(default)]
    pub master_down_interval_ms: f64,
    #[serde(default)]
    pub vips: Vec<IpAddr>,
    #[serde(default)]
    pub vrrs_leader: Vec<String>,
    /// Unicast peers of this family (empty: multicast).
    #[serde(default)]
    pub unicast_peers: Vec<IpAddr>,
    /// Last state change, seconds since the Unix epoch (before the first one: when the
    /// instance was created).
    #[serde(default)]
    pub last_change: f64,
    /// Why the last state change happened, as the state-change log line words it
    /// ([`crate::vrrp::router::Reason`]); None before any.
    #[serde(default)]
    pub last_reason: Option<String>,
    #[serde(default)]
    pub track: Vec<TrackContribution>,
    /// A `fault = true` track entry is down: the instance is held in Initialize.
    #[serde(default)]
    pub faulted: bool,
    /// Counters a runtime does not send read as 0 ([`super::missing_as_default`]).
    #[serde(default, deserialize_with = "super::missing_as_default")]
    pub counters: Counters,
    /// Router Advertisements (IPv6 with `router-advertisements`; None: off).
    #[serde(default)]
    pub router_advertisements: Option<RaRow>,
    /// `shutdown = true` in the file.
    #[serde(default)]
    pub shutdown: bool,
    /// Why the instance cannot run now (None: it runs).
    #[serde(default)]
    pub not_running: Option<String>,
    /// How its vrrp device was changed behind netvrrp's back (None: as applied).
    #[serde(default)]
    pub drift: Option<String>,
}

/// The Router Advertisements of one IPv6 instance (`state` and `source` required).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RaRow {
    pub state: RaState,
    /// The virtual link-local: the RAs' source.
    pub source: Ipv6Addr,
    #[serde(default)]
    pub lifetime_s: u16,
    #[serde(default)]
    pub min_interval_ms: u32,
    #[serde(default)]
    pub max_interval_ms: u32,
    #[serde(default)]
    pub prefixes: Vec<ipnet::Ipv6Net>,
    #[serde(default)]
    pub rdnss: Vec<Ipv6Addr>,
    #[serde(default)]
    pub mtu: Option<u32>,
    /// Whether the Router Solicitation socket of the parent is open.
    #[serde(default)]
    pub solicitation_socket: bool,
    #[serde(default)]
    pub counters: RaCounters,
}
