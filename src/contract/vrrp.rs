//! `show vrrp`: one row per VRRP instance (interface, vrid, family).

use super::TrackContribution;
use crate::types::{Family, MacAddr};
use crate::vrrp::ra::{RaCounters, RaState};
use crate::vrrp::router::{Counters, State};
use serde::Serialize;
use std::net::{IpAddr, Ipv6Addr};

/// One VRRP instance as `show vrrp --json` lists it under `routers`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VrrpRow {
    /// The router's `name` (None without one).
    pub name: Option<String>,
    pub interface: String,
    pub vrid: u8,
    pub family: Family,
    /// VRRP version, 2 or 3.
    pub version: u8,
    /// The macvlan carrying the virtual MAC and addresses.
    pub device: Option<String>,
    /// Its ifindex, None until the kernel has it.
    pub device_index: Option<u32>,
    pub vmac: MacAddr,
    pub state: State,
    pub priority: u8,
    /// The priority advertised now (tracking applied).
    pub effective_priority: u8,
    pub preempt: bool,
    pub preempt_delay_ms: u32,
    pub accept_mode: bool,
    pub primary_address: Option<IpAddr>,
    /// The current Master's address, as last heard (None: none heard).
    pub master_address: Option<IpAddr>,
    /// The device's protodown as last set (None: not set yet).
    pub protodown: Option<bool>,
    pub advertisement_interval_ms: u32,
    pub master_adver_interval_ms: f64,
    pub skew_time_ms: f64,
    pub master_down_interval_ms: f64,
    pub vips: Vec<IpAddr>,
    pub vrrs_leader: Vec<String>,
    /// Unicast peers of this family (empty: multicast).
    pub unicast_peers: Vec<IpAddr>,
    /// Last state change, seconds since the Unix epoch.
    pub last_change: f64,
    pub track: Vec<TrackContribution>,
    /// A `fault = true` track entry is down: the instance is held in Initialize.
    pub faulted: bool,
    pub counters: Counters,
    /// Router Advertisements (IPv6 with `router-advertisements`; None: off).
    pub router_advertisements: Option<RaRow>,
    /// `shutdown = true` in the file.
    pub shutdown: bool,
    /// Why the instance cannot run now (None: it runs).
    pub not_running: Option<String>,
    /// How its vrrp device was changed behind netvrrp's back (None: as applied).
    pub drift: Option<String>,
}

/// The Router Advertisements of one IPv6 instance.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RaRow {
    pub state: RaState,
    /// The virtual link-local: the RAs' source.
    pub source: Ipv6Addr,
    pub lifetime_s: u16,
    pub min_interval_ms: u32,
    pub max_interval_ms: u32,
    pub prefixes: Vec<ipnet::Ipv6Net>,
    pub rdnss: Vec<Ipv6Addr>,
    pub mtu: Option<u32>,
    /// Whether the Router Solicitation socket of the parent is open.
    pub solicitation_socket: bool,
    pub counters: RaCounters,
}
