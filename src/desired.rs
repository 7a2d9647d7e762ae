//! Config → the kernel objects that should exist (pure).

use crate::config::Config;
use crate::types::{AddrGenMode, Family, IFNAME_MAX, MacAddr};
use ipnet::IpNet;
use serde::Serialize;

/// Why a device exists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "role", rename_all = "kebab-case")]
pub enum DeviceRole {
    /// The vrrp macvlan of one VRRP instance.
    Router {
        interface: String,
        vrid: u8,
        family: Family,
    },
    /// The macvlan of a VRRS pathway with a `mac`.
    Pathway { leader: String, interface: String },
}

/// One macvlan netvrrp should own, with every attribute it manages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DesiredDevice {
    pub name: String,
    pub parent: String,
    pub parent_index: u32,
    pub mac: MacAddr,
    pub addrgenmode: AddrGenMode,
    /// Addresses (VIPs), sorted.
    pub addresses: Vec<IpNet>,
    /// Protodown as the configurator leaves it: on (the runtime turns it off on Master).
    pub protodown: bool,
    pub role: DeviceRole,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct DesiredState {
    /// Sorted by name.
    pub devices: Vec<DesiredDevice>,
}

/// A reason the desired state cannot be built on this machine.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DesiredError {
    #[error("{location}: interface {interface:?} does not exist")]
    MissingParent { interface: String, location: String },
    #[error("{location}: device name {name:?} is longer than {IFNAME_MAX} bytes")]
    NameTooLong { name: String, location: String },
}

/// Name of the vrrp macvlan of an instance: `vrrp4-<parent ifindex>-<vrid>`.
pub fn router_device_name(family: Family, parent_index: u32, vrid: u8) -> String {
    format!("vrrp{}-{}-{}", family.digit(), parent_index, vrid)
}

/// Name of a pathway macvlan: `vrrs-<parent ifindex>-<last two MAC bytes hex>`.
pub fn pathway_device_name(parent_index: u32, mac: MacAddr) -> String {
    let m = mac.octets();
    format!("vrrs-{}-{:02x}{:02x}", parent_index, m[4], m[5])
}

/// Derive the desired devices. `ifindex` resolves an interface name in the namespace.
pub fn derive(
    config: &Config,
    ifindex: impl Fn(&str) -> Option<u32>,
) -> Result<DesiredState, Vec<DesiredError>> {
    let mut devices = Vec::new();
    let mut errors = Vec::new();
    for router in &config.routers {
        let Some(parent_index) = ifindex(&router.interface) else {
            errors.push(DesiredError::MissingParent {
                interface: router.interface.clone(),
                location: router.location.to_string(),
            });
            continue;
        };
        for family in router.families() {
            let name = router_device_name(family, parent_index, router.vrid);
            if name.len() > IFNAME_MAX {
                errors.push(DesiredError::NameTooLong {
                    name,
                    location: router.location.to_string(),
                });
                continue;
            }
            let mut addresses = router.addresses(family);
            addresses.sort();
            devices.push(DesiredDevice {
                name,
                parent: router.interface.clone(),
                parent_index,
                mac: MacAddr::vrrp(family, router.vrid),
                addrgenmode: match family {
                    Family::Ipv4 => AddrGenMode::None,
                    Family::Ipv6 => AddrGenMode::Random,
                },
                addresses,
                protodown: true,
                role: DeviceRole::Router {
                    interface: router.interface.clone(),
                    vrid: router.vrid,
                    family,
                },
            });
        }
    }
    for pathway in &config.pathways {
        let Some(mac) = pathway.mac else { continue };
        let Some(parent_index) = ifindex(&pathway.interface) else {
            errors.push(DesiredError::MissingParent {
                interface: pathway.interface.clone(),
                location: pathway.location.to_string(),
            });
            continue;
        };
        let name = pathway_device_name(parent_index, mac);
        if name.len() > IFNAME_MAX {
            errors.push(DesiredError::NameTooLong {
                name,
                location: pathway.location.to_string(),
            });
            continue;
        }
        let mut addresses = pathway.address.clone();
        addresses.sort();
        devices.push(DesiredDevice {
            name,
            parent: pathway.interface.clone(),
            parent_index,
            mac,
            addrgenmode: AddrGenMode::Random,
            addresses,
            protodown: true,
            role: DeviceRole::Pathway {
                leader: pathway.leader.clone(),
                interface: pathway.interface.clone(),
            },
        });
    }
    devices.sort_by(|a, b| a.name.cmp(&b.name));
    if errors.is_empty() {
        Ok(DesiredState { devices })
    } else {
        Err(errors)
    }
}
