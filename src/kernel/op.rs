//! The kernel's write vocabulary: one operation per kernel change, each with its inverse, so
//! a journal can undo any prefix of a plan. The planner produces them; this module and its
//! executor carry them out.

use crate::kernel::MacvlanMode;
use crate::types::{AddrGenMode, MacAddr};
use ipnet::IpNet;
use serde::Serialize;
use std::fmt;

/// One kernel write. Every operation carries what is needed to undo it ([`Op::inverse`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Op {
    /// RTM_NEWLINK macvlan (mode bridge) with the MAC in the same request, admin down.
    CreateMacvlan {
        device: String,
        parent: String,
        parent_index: u32,
        mac: MacAddr,
    },
    /// RTM_DELLINK of an owned macvlan.
    DeleteMacvlan {
        device: String,
        parent: String,
        parent_index: u32,
        mac: MacAddr,
    },
    /// Rename (the link must be down before Linux 6.2, see `plan::Renaming`).
    Rename {
        device: String,
        from: String,
    },
    SetMac {
        device: String,
        mac: MacAddr,
        previous: MacAddr,
    },
    SetMacvlanMode {
        device: String,
        mode: MacvlanMode,
        previous: MacvlanMode,
    },
    SetAddrGenMode {
        device: String,
        mode: AddrGenMode,
        previous: Option<AddrGenMode>,
    },
    /// `/proc/sys/net/ipv6/conf/<device>/<name>`.
    SetSysctl {
        device: String,
        name: String,
        value: i32,
        previous: i32,
    },
    /// `/proc/sys/net/ipv4/conf/<device>/<name>`.
    SetIpv4Sysctl {
        device: String,
        name: String,
        value: i32,
        previous: i32,
    },
    AddAddress {
        device: String,
        address: IpNet,
    },
    DelAddress {
        device: String,
        address: IpNet,
    },
    SetAdmin {
        device: String,
        up: bool,
        previous: bool,
    },
    SetProtodown {
        device: String,
        on: bool,
        previous: bool,
    },
    /// IFLA_GROUP. Never planned by apply: the runtime moves pathway macvlans into their
    /// leader's device group (see `vrrs`), and apply leaves groups as they are.
    SetGroup {
        device: String,
        group: u32,
        previous: u32,
    },
}

impl Op {
    /// The device the operation acts on (its name at the time the operation runs).
    pub fn device(&self) -> &str {
        match self {
            Op::CreateMacvlan { device, .. }
            | Op::DeleteMacvlan { device, .. }
            | Op::Rename { device, .. }
            | Op::SetMac { device, .. }
            | Op::SetMacvlanMode { device, .. }
            | Op::SetAddrGenMode { device, .. }
            | Op::SetSysctl { device, .. }
            | Op::SetIpv4Sysctl { device, .. }
            | Op::AddAddress { device, .. }
            | Op::DelAddress { device, .. }
            | Op::SetAdmin { device, .. }
            | Op::SetProtodown { device, .. }
            | Op::SetGroup { device, .. } => device,
        }
    }

    /// The operation that undoes this one; None when nothing can undo it.
    pub fn inverse(&self) -> Option<Op> {
        Some(match self.clone() {
            Op::CreateMacvlan {
                device,
                parent,
                parent_index,
                mac,
            } => Op::DeleteMacvlan {
                device,
                parent,
                parent_index,
                mac,
            },
            Op::DeleteMacvlan {
                device,
                parent,
                parent_index,
                mac,
            } => Op::CreateMacvlan {
                device,
                parent,
                parent_index,
                mac,
            },
            Op::Rename { device, from } => Op::Rename {
                device: from,
                from: device,
            },
            Op::SetMac {
                device,
                mac,
                previous,
            } => Op::SetMac {
                device,
                mac: previous,
                previous: mac,
            },
            Op::SetMacvlanMode {
                device,
                mode,
                previous,
            } => Op::SetMacvlanMode {
                device,
                mode: previous,
                previous: mode,
            },
            Op::SetAddrGenMode {
                device,
                mode,
                previous,
            } => Op::SetAddrGenMode {
                device,
                mode: previous?,
                previous: Some(mode),
            },
            Op::SetSysctl {
                device,
                name,
                value,
                previous,
            } => Op::SetSysctl {
                device,
                name,
                value: previous,
                previous: value,
            },
            Op::SetIpv4Sysctl {
                device,
                name,
                value,
                previous,
            } => Op::SetIpv4Sysctl {
                device,
                name,
                value: previous,
                previous: value,
            },
            Op::AddAddress { device, address } => Op::DelAddress { device, address },
            Op::DelAddress { device, address } => Op::AddAddress { device, address },
            Op::SetAdmin {
                device,
                up,
                previous,
            } => Op::SetAdmin {
                device,
                up: previous,
                previous: up,
            },
            Op::SetProtodown {
                device,
                on,
                previous,
            } => Op::SetProtodown {
                device,
                on: previous,
                previous: on,
            },
            Op::SetGroup {
                device,
                group,
                previous,
            } => Op::SetGroup {
                device,
                group: previous,
                previous: group,
            },
        })
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::CreateMacvlan {
                device,
                parent,
                mac,
                ..
            } => write!(
                f,
                "create macvlan {device} link {parent} mode bridge address {mac}"
            ),
            Op::DeleteMacvlan { device, .. } => write!(f, "delete {device}"),
            Op::Rename { device, from } => write!(f, "rename {from} to {device}"),
            Op::SetMac { device, mac, .. } => write!(f, "set {device} address {mac}"),
            Op::SetMacvlanMode { device, mode, .. } => {
                write!(f, "set {device} macvlan mode {mode:?}")
            }
            Op::SetAddrGenMode { device, mode, .. } => {
                write!(f, "set {device} addrgenmode {mode}")
            }
            Op::SetSysctl {
                device,
                name,
                value,
                ..
            } => write!(f, "sysctl net.ipv6.conf.{device}.{name}={value}"),
            Op::SetIpv4Sysctl {
                device,
                name,
                value,
                ..
            } => write!(f, "sysctl net.ipv4.conf.{device}.{name}={value}"),
            Op::AddAddress { device, address } => write!(f, "add address {address} dev {device}"),
            Op::DelAddress { device, address } => write!(f, "del address {address} dev {device}"),
            Op::SetAdmin { device, up, .. } => {
                write!(f, "set {device} {}", if *up { "up" } else { "down" })
            }
            Op::SetProtodown { device, on, .. } => {
                write!(
                    f,
                    "set {device} protodown {}",
                    if *on { "on" } else { "off" }
                )
            }
            Op::SetGroup { device, group, .. } => write!(f, "set {device} group {group}"),
        }
    }
}
