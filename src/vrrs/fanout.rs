//! What VRRS hands the runtime: pathway states and their evaluation flags, and the
//! [`Fanout`] each input returns (pathway kernel effects, client effects and notices), which
//! the runtime carries out in order.

use super::{ClientEffect, ClientNotice};
use crate::desired::DesiredDevice;
use crate::types::MacAddr;
use crate::vrrp::router::State;
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// State of one pathway (Cisco `show vrrs pathway`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
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
