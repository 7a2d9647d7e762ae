//! Which operations of a plan may run together (pure).
//!
//! Operations that touch the same device name, the same MAC or the same IP address keep
//! their plan order; everything else is independent. Each operation gets a level: one more
//! than the latest earlier operation it shares a key with. All operations of a level go to
//! the kernel together (one datagram per chunk) once every lower level succeeded, so an
//! operation is only sent after everything it depends on is acknowledged.

use super::Op;
use crate::types::MacAddr;
use std::collections::HashMap;
use std::net::IpAddr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Key<'a> {
    /// A device name: the device itself and, for renames, the name it leaves.
    Name(&'a str),
    /// Two macvlans on one lower device cannot share a MAC (EADDRINUSE): a delete and a
    /// create (or a MAC change) involving the same MAC stay ordered.
    Mac(MacAddr),
    /// Moving an address between devices stays ordered.
    Ip(IpAddr),
}

fn keys(op: &Op) -> Vec<Key<'_>> {
    let mut keys = vec![Key::Name(op.device())];
    match op {
        Op::CreateMacvlan { mac, .. } | Op::DeleteMacvlan { mac, .. } => keys.push(Key::Mac(*mac)),
        Op::Rename { from, .. } => keys.push(Key::Name(from)),
        Op::SetMac { mac, previous, .. } => {
            keys.push(Key::Mac(*mac));
            keys.push(Key::Mac(*previous));
        }
        Op::AddAddress { address, .. } | Op::DelAddress { address, .. } => {
            keys.push(Key::Ip(address.addr()))
        }
        Op::SetMacvlanMode { .. }
        | Op::SetAddrGenMode { .. }
        | Op::SetSysctl { .. }
        | Op::SetIpv4Sysctl { .. }
        | Op::SetAdmin { .. }
        | Op::SetProtodown { .. }
        | Op::SetGroup { .. } => {}
    }
    keys
}

/// The operations grouped by level: `waves[l]` lists the indexes (into `ops`, ascending) of
/// the operations of level `l`.
pub(crate) fn waves(ops: &[Op]) -> Vec<Vec<usize>> {
    let mut last: HashMap<Key<'_>, usize> = HashMap::new();
    let mut waves: Vec<Vec<usize>> = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        let keys = keys(op);
        let level = keys
            .iter()
            .filter_map(|k| last.get(k))
            .map(|l| l + 1)
            .max()
            .unwrap_or(0);
        for k in keys {
            last.insert(k, level);
        }
        if waves.len() <= level {
            waves.resize_with(level + 1, Vec::new);
        }
        waves[level].push(i);
    }
    waves
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{AddrGenMode, Family};

    fn create(device: &str, vrid: u8) -> Op {
        Op::CreateMacvlan {
            device: device.into(),
            parent: "eth0".into(),
            parent_index: 2,
            mac: MacAddr::vrrp(Family::Ipv4, vrid),
        }
    }
    fn addr(device: &str, a: &str) -> Op {
        Op::AddAddress {
            device: device.into(),
            address: a.parse().unwrap(),
        }
    }
    fn up(device: &str) -> Op {
        Op::SetAdmin {
            device: device.into(),
            up: true,
            previous: false,
        }
    }

    #[test]
    fn independent_devices_share_levels() {
        let ops = vec![
            create("a", 1),
            Op::SetAddrGenMode {
                device: "a".into(),
                mode: AddrGenMode::None,
                previous: None,
            },
            addr("a", "10.0.0.1/24"),
            up("a"),
            create("b", 2),
            addr("b", "10.0.1.1/24"),
            up("b"),
        ];
        assert_eq!(
            waves(&ops),
            vec![vec![0, 4], vec![1, 5], vec![2, 6], vec![3]]
        );
    }

    #[test]
    fn rename_orders_both_names_and_mac_orders_delete_create() {
        let ops = vec![
            Op::DeleteMacvlan {
                device: "old".into(),
                parent: "eth0".into(),
                parent_index: 2,
                mac: MacAddr::vrrp(Family::Ipv4, 1),
            },
            create("new", 1),
            Op::Rename {
                device: "x".into(),
                from: "y".into(),
            },
            up("x"),
            create("y", 3),
            addr("x", "10.0.0.1/24"),
            Op::DelAddress {
                device: "z".into(),
                address: "10.0.0.1/24".parse().unwrap(),
            },
        ];
        // delete(old)=0, create(new)=1 (same MAC), rename=0, up(x)=1, create(y)=1 (after
        // the rename freed "y"), addr(x)=2, del addr(z)=3 (same IP as addr(x)).
        assert_eq!(
            waves(&ops),
            vec![vec![0, 2], vec![1, 3, 4], vec![5], vec![6]]
        );
    }
}
