//! The kernel edge: snapshots through rtnetlink, plan execution, sysctls, netns entry.
//!
//! Everything here talks to the kernel; everything above it is pure.
//!
//! - [`enter_netns`]: move the current thread into a named namespace (before the runtime).
//! - [`Kernel`]: one rtnetlink socket; [`Kernel::snapshot`] (one link dump + one address
//!   dump), [`Kernel::execute`] / [`Kernel::execute_many`] (plan operations, pipelined) and
//!   by-ifindex writes for the runtime's hot path.
//! - [`events`]: link/address notifications.

mod error;
mod events;
mod netns;
mod nl;
mod op;
mod ops;
mod parse;
mod schedule;

pub use error::{Cause, KernelError};
pub use events::{EventStream, KernelEvent, events};
pub use netns::{NETNS_RUN_DIR, enter_netns};
pub use op::Op;
pub use ops::{Kernel, Outcome};

use crate::types::{AddrGenMode, MacAddr};
use ipnet::IpNet;
use serde::Serialize;
use std::borrow::Cow;

/// The IPv6 DAD sysctls netvrrp turns off on its devices
/// (`/proc/sys/net/ipv6/conf/<dev>/{accept_dad,dad_transmits,enhanced_dad}`).
pub const DAD_SYSCTLS: [&str; 3] = ["accept_dad", "dad_transmits", "enhanced_dad"];

/// The IPv6 sysctls netvrrp sets to 0 on the vrrp6 device of a router that sends Router
/// Advertisements, so that device learns no route or address from its own RAs or another
/// router's (`/proc/sys/net/ipv6/conf/<dev>/{accept_ra,autoconf}`).
pub const RA_HOST_SYSCTLS: [&str; 2] = ["accept_ra", "autoconf"];

/// The per-device sysctl that turns IPv6 off on pathway macvlans without IPv6 addresses
/// (see [`crate::desired::DesiredDevice::ipv6`]).
pub const DISABLE_IPV6: &str = "disable_ipv6";

/// Set to 1 on every VRRP device, IPv4 and IPv6: while a Backup's device is protodown (no
/// carrier) the subnet routes through it are ignored. Otherwise, once the parent's own
/// address is re-added (a DHCP renew, ifreload), the older route via the vrrp device wins and
/// the Backup cannot reach its own subnet (FRR's VRRP guide sets it too).
pub const IGNORE_LINKDOWN: &str = "ignore_routes_with_linkdown";

/// macvlan mode of a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MacvlanMode {
    Private,
    Vepa,
    Bridge,
    Passthru,
    Source,
    Other,
}

fn is_zero(v: &u32) -> bool {
    *v == 0
}

/// The rtnetlink payload parsers by themselves (ifinfomsg/ifaddrmsg with attributes), for
/// the fuzz targets in fuzz/: whatever the bytes, they return a value or None.
pub mod wire {
    pub fn link(payload: &[u8]) -> Option<super::LinkInfo> {
        super::parse::link_from_payload(payload)
    }

    pub fn address(payload: &[u8]) -> Option<(u32, ipnet::IpNet)> {
        super::parse::address_from_payload(payload)
    }
}

/// One link as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LinkInfo {
    pub index: u32,
    pub name: String,
    /// IFLA_INFO_KIND (`macvlan`, `veth`, `bridge`, ...); None for plain devices. The usual
    /// kinds are static text, like `operstate`: no allocation per link of a dump (a runtime
    /// keeps one dump and a reload makes another, 4,000 links each at 4,000 routers).
    pub kind: Option<Cow<'static, str>>,
    pub macvlan_mode: Option<MacvlanMode>,
    /// IFLA_LINK (the lower device of a macvlan).
    pub parent_index: Option<u32>,
    pub mac: Option<MacAddr>,
    pub addrgenmode: Option<AddrGenMode>,
    pub protodown: bool,
    /// IFLA_PROTO_DOWN_REASON value: bits other programs set to hold the device protodown
    /// (the kernel refuses protodown off while any is set). netvrrp sets none.
    #[serde(skip_serializing_if = "is_zero")]
    pub protodown_reason: u32,
    /// IFF_UP.
    pub admin_up: bool,
    /// IFF_LOWER_UP (carrier).
    pub carrier: bool,
    /// IFLA_OPERSTATE as lower-case text (`up`, `down`, `lowerlayerdown`, ...).
    pub operstate: Cow<'static, str>,
    /// Addresses with their prefix length; IPv6 link-locals included.
    pub addresses: Vec<IpNet>,
    /// The IPv6 link-locals among `addresses` that the kernel made itself (addrconf's, tagged
    /// IFA_PROTO `kernel_ll`, Linux 5.18+): never managed, unlike a link-local VIP.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub kernel_link_locals: Vec<IpNet>,
    /// Values of [`DAD_SYSCTLS`], in that order; None when the device has no IPv6 conf.
    /// Read from the inet6 devconf of the link dump (the same values /proc shows).
    pub dad_sysctls: Option<[i32; 3]>,
    /// Values of [`RA_HOST_SYSCTLS`], in that order; None when the device has no IPv6 conf.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ra_host_sysctls: Option<[i32; 2]>,
    /// The `disable_ipv6` sysctl from the same devconf; None when the device has no IPv6 conf.
    pub disable_ipv6: Option<bool>,
    /// [`IGNORE_LINKDOWN`] of the IPv4 conf (IFLA_INET_CONF); None when not reported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipv4_ignore_linkdown: Option<bool>,
    /// [`IGNORE_LINKDOWN`] of the IPv6 conf (IFLA_INET6_CONF); None when not reported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipv6_ignore_linkdown: Option<bool>,
    /// IFLA_GROUP, the kernel device group (0 = default). The runtime puts the pathway
    /// macvlans of each VRRS leader in a group of their own for bulk protodown changes.
    #[serde(skip_serializing_if = "is_zero")]
    pub group: u32,
}

#[cfg(test)]
impl LinkInfo {
    /// A link for unit tests: up with carrier, no protodown, no addresses, nothing of the
    /// optional kernel state reported.
    pub fn for_test(
        index: u32,
        name: &str,
        kind: Option<&str>,
        parent: Option<u32>,
        mac: &str,
    ) -> LinkInfo {
        LinkInfo {
            index,
            name: name.into(),
            kind: kind.map(|k| Cow::Owned(k.to_string())),
            parent_index: parent,
            macvlan_mode: None,
            mac: mac.parse().ok(),
            addrgenmode: None,
            protodown: false,
            protodown_reason: 0,
            admin_up: true,
            carrier: true,
            operstate: "up".into(),
            addresses: Vec::new(),
            dad_sysctls: None,
            kernel_link_locals: Vec::new(),
            ra_host_sysctls: None,
            disable_ipv6: None,
            ipv4_ignore_linkdown: None,
            ipv6_ignore_linkdown: None,
            group: 0,
        }
    }
}

/// All links of the namespace.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Snapshot {
    pub links: Vec<LinkInfo>,
}

impl Snapshot {
    pub fn by_name(&self, name: &str) -> Option<&LinkInfo> {
        self.links.iter().find(|l| l.name == name)
    }
    /// A dump's links come sorted by index (see [`Kernel::snapshot`]): a binary search, and
    /// a scan for a hand-made snapshot that is not sorted.
    pub fn by_index(&self, index: u32) -> Option<&LinkInfo> {
        match self.links.binary_search_by_key(&index, |l| l.index) {
            Ok(at) => Some(&self.links[at]),
            Err(_) => self.links.iter().find(|l| l.index == index),
        }
    }
}
