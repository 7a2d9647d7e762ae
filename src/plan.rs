//! diff(snapshot, desired) → ordered operations; text and JSON rendering (pure).

use crate::kernel::MacvlanMode;
pub use crate::kernel::Op;
use crate::types::MacAddr;
use ipnet::IpNet;
use serde::Serialize;

use crate::desired::{DesiredDevice, DesiredState};
use crate::kernel::{
    DAD_SYSCTLS, DISABLE_IPV6, IGNORE_LINKDOWN, LinkInfo, RA_HOST_SYSCTLS, Snapshot,
};
use std::collections::{BTreeSet, HashSet};

mod check;
mod render;

pub use check::{Check, check};
use render::{DeviceView, linkdown_text, mode_text, onoff, ra_quiet_text, sort_blocks};

/// A device netvrrp created or adopted, as remembered in `<run-dir>/owned.json`.
/// A record only counts when a link with the same index, parent and MAC still exists, so an
/// ifindex reused by someone else's device is never mistaken for ours.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct OwnedRecord {
    pub name: String,
    pub index: u32,
    pub parent_index: u32,
    pub mac: MacAddr,
}

/// Who decides the attributes the runtime drives (protodown).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProtodownOwner {
    /// No runtime: the configurator leaves protodown on.
    Configurator,
    /// A runtime answers on the control socket: protodown is its business, not drift.
    Runtime,
    /// No runtime yet, but one starts right after this apply: as [`Self::Configurator`],
    /// except that a device answering now (up, protodown off: the Master of the daemon
    /// netvrrp takes over from, adopted by identity) is left answering, for the runtime to
    /// take over without a gap (src/daemon/runtime/takeover.rs).
    Handover,
}

/// How the running kernel renames a link (see `host::LIVE_RENAME_KERNEL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Renaming {
    /// Linux 6.2 and later rename an up link: an adopted device keeps answering for its
    /// VIPs and keeps its IPv6 addresses through the rename.
    WhileUp,
    /// Older kernels refuse (EBUSY) unless the link is down: down, rename, up.
    WhileDown,
}

impl Renaming {
    /// How the kernel of `release` (e.g. `6.18.44-amd64`) renames; an unreadable release
    /// takes the way every kernel accepts.
    pub fn of_release(release: Option<(u32, u32)>) -> Renaming {
        match release {
            Some(v) if v >= crate::host::LIVE_RENAME_KERNEL => Renaming::WhileUp,
            _ => Renaming::WhileDown,
        }
    }
}

/// One desired device and the existing link that is (or will become) it.
#[derive(Debug, Clone)]
pub struct Matched<'a> {
    pub desired: &'a DesiredDevice,
    pub current: Option<&'a LinkInfo>,
}

/// Why no plan can be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error(
        "device name {name:?} is taken by a device netvrrp does not own ({detail}); rename or remove it first"
    )]
    NameTaken { name: String, detail: String },
    #[error("parent interface {parent:?} of {device}: {reason}")]
    BadParent {
        parent: String,
        device: String,
        reason: String,
    },
}

/// The result of comparing the kernel with the desired state.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub changes: Vec<Op>,
    pub in_sync: bool,
    /// Canonical rendering of the managed state, current and desired (for the unified diff).
    #[serde(skip)]
    pub current_text: String,
    #[serde(skip)]
    pub desired_text: String,
}

/// The VIPs of non-owner routers that are addresses of non-VRRP interfaces in `links` (the
/// kernel snapshot). VRRP interfaces are netvrrp's own devices (by name or identity) and any
/// macvlan with a VRRP virtual MAC (another VRRP daemon's): their addresses are VIPs too.
pub fn self_lockouts(
    config: &crate::config::Config,
    desired: &DesiredState,
    links: &[LinkInfo],
) -> Vec<crate::desired::SelfLockout> {
    let is_vrrp_interface = |l: &LinkInfo| {
        let vrrp_mac = l.kind.as_deref() == Some("macvlan")
            && l.mac
                .is_some_and(|m| matches!(m.octets(), [0, 0, 0x5e, 0, 1 | 2, _]));
        vrrp_mac
            || desired.devices.iter().any(|d| {
                d.name == l.name || (l.parent_index == Some(d.parent_index) && l.mac == Some(d.mac))
            })
    };
    let mut out = Vec::new();
    for (i, router) in config.routers.iter().enumerate() {
        if router.priority == 255 {
            continue;
        }
        // (key, position in that list, address): the error points at the VIP.
        let v4 = router.ipv4.iter().enumerate();
        let v4 = v4.map(|(j, n)| ("ipv4", j, std::net::IpAddr::V4(n.addr())));
        let v6 = router.ipv6.iter().enumerate();
        let v6 = v6.map(|(j, n)| ("ipv6", j, std::net::IpAddr::V6(n.addr())));
        for (key, j, vip) in v4.chain(v6) {
            let holder = links
                .iter()
                .filter(|l| !is_vrrp_interface(l))
                .find(|l| l.addresses.iter().any(|a| a.addr() == vip));
            if let Some(l) = holder {
                out.push(crate::desired::SelfLockout {
                    vip,
                    interface: l.name.clone(),
                    at: crate::config::ValueRef::router(i, key, Some(j), &router.location),
                });
            }
        }
    }
    out
}

fn is_link_local(a: &IpNet) -> bool {
    match a {
        IpNet::V6(n) => (n.addr().segments()[0] & 0xffc0) == 0xfe80,
        IpNet::V4(_) => false,
    }
}

/// Addresses netvrrp manages on a device whose desired addresses are `wanted`: every address
/// but the IPv6 link-locals the kernel made itself. A link-local VIP (the virtual router's
/// link-local, RFC 9568 5.2.9) is managed like any other VIP.
///
/// The kernel tags its own link-locals (IFA_PROTO `kernel_ll`) since Linux 5.18. When no
/// address of the device carries that tag (an older kernel, or a device that never had
/// carrier so addrconf made none) a link-local not in `wanted` is left alone, as before:
/// it may be the kernel's. On a tagging kernel an untagged, unwanted link-local is a stale
/// VIP and is removed.
pub fn managed_addresses(link: &LinkInfo, wanted: &[IpNet]) -> BTreeSet<IpNet> {
    let kernel_tags = !link.kernel_link_locals.is_empty();
    link.addresses
        .iter()
        .filter(|a| {
            !is_link_local(a)
                || (!link.kernel_link_locals.contains(a) && (kernel_tags || wanted.contains(a)))
        })
        .copied()
        .collect()
}

/// Links netvrrp owns according to its records (validated against the snapshot).
pub fn owned_links<'a>(snapshot: &'a Snapshot, owned: &[OwnedRecord]) -> Vec<&'a LinkInfo> {
    owned
        .iter()
        .filter_map(|r| {
            snapshot.by_index(r.index).filter(|l| {
                l.kind.as_deref() == Some("macvlan")
                    && l.parent_index == Some(r.parent_index)
                    && l.mac == Some(r.mac)
            })
        })
        .collect()
}

/// Match every desired device with its existing link: by identity (macvlan, parent, MAC)
/// first; else an owned macvlan of the same name (its MAC drifted).
pub fn match_devices<'a>(
    snapshot: &'a Snapshot,
    desired: &'a DesiredState,
    owned: &[OwnedRecord],
) -> Vec<Matched<'a>> {
    let owned_idx: HashSet<u32> = owned_links(snapshot, owned)
        .iter()
        .map(|l| l.index)
        .collect();
    // The macvlans by identity, in snapshot order within one identity: a sorted list, not a
    // map of lists (a list per macvlan, 0.6 MB at 4,000 routers, the peak of a SIGHUP).
    let mut identity: Vec<((u32, MacAddr), &LinkInfo)> = snapshot
        .links
        .iter()
        .filter_map(|l| match (l.kind.as_deref(), l.parent_index, l.mac) {
            (Some("macvlan"), Some(p), Some(m)) => Some(((p, m), l)),
            _ => None,
        })
        .collect();
    identity.sort_by_key(|(k, _)| *k);
    let with_identity = |key: (u32, MacAddr)| {
        let from = identity.partition_point(|(k, _)| *k < key);
        let to = from + identity[from..].partition_point(|(k, _)| *k == key);
        &identity[from..to]
    };
    let mut taken: HashSet<u32> = HashSet::new();
    let mut out = Vec::with_capacity(desired.devices.len());
    for d in &desired.devices {
        let same = with_identity((d.parent_index, d.mac));
        let free = || {
            same.iter()
                .map(|(_, l)| *l)
                .filter(|l| !taken.contains(&l.index))
        };
        // Prefer the one already carrying the right name, then one we own.
        let by_identity = free()
            .find(|l| l.name == d.name)
            .or_else(|| free().find(|l| owned_idx.contains(&l.index)))
            .or_else(|| free().next());
        let current = by_identity.or_else(|| {
            snapshot.by_name(&d.name).filter(|l| {
                owned_idx.contains(&l.index)
                    && l.kind.as_deref() == Some("macvlan")
                    && !taken.contains(&l.index)
            })
        });
        if let Some(l) = current {
            taken.insert(l.index);
        }
        out.push(Matched {
            desired: d,
            current,
        });
    }
    out
}

/// Set `ignore_routes_with_linkdown` to 1 for each family where it is 0 (a value the kernel
/// did not report is left alone: there is nothing to compare).
fn linkdown_ops(device: &str, v4: Option<bool>, v6: Option<bool>) -> Vec<Op> {
    let mut ops = Vec::new();
    if v4 == Some(false) {
        ops.push(Op::SetIpv4Sysctl {
            device: device.into(),
            name: IGNORE_LINKDOWN.into(),
            value: 1,
            previous: 0,
        });
    }
    if v6 == Some(false) {
        ops.push(Op::SetSysctl {
            device: device.into(),
            name: IGNORE_LINKDOWN.into(),
            value: 1,
            previous: 0,
        });
    }
    ops
}

/// Set [`RA_HOST_SYSCTLS`] to 0 where they are not (`None`: not reported, left alone).
fn ra_quiet_ops(device: &str, values: Option<[i32; 2]>) -> Vec<Op> {
    let Some(values) = values else {
        return Vec::new();
    };
    RA_HOST_SYSCTLS
        .iter()
        .zip(values)
        .filter(|(_, v)| *v != 0)
        .map(|(name, previous)| Op::SetSysctl {
            device: device.into(),
            name: (*name).into(),
            value: 0,
            previous,
        })
        .collect()
}

fn parent_name(snapshot: &Snapshot, index: u32) -> String {
    snapshot
        .by_index(index)
        .map(|l| l.name.clone())
        .unwrap_or_else(|| format!("if{index}"))
}

/// Compute the plan. `protodown` says whether a runtime owns protodown now.
///
/// A plan in sync carries no renderings (`current_text`/`desired_text` are empty: nothing
/// shows them); they are made only when something changes. At 4,000 devices they were
/// ~2 MB each, built for every apply, reload (SIGHUP) and verification.
pub fn plan(
    snapshot: &Snapshot,
    desired: &DesiredState,
    owned: &[OwnedRecord],
    protodown: ProtodownOwner,
    renaming: Renaming,
) -> Result<Plan, Vec<PlanError>> {
    let p = plan_inner(snapshot, desired, owned, protodown, renaming, false)?;
    if p.in_sync {
        return Ok(p);
    }
    plan_inner(snapshot, desired, owned, protodown, renaming, true)
}

/// One plan: check names and parents, then the operations per device (deletions of owned
/// devices that left the file, creations, updates), with the renderings when `render`.
fn plan_inner(
    snapshot: &Snapshot,
    desired: &DesiredState,
    owned: &[OwnedRecord],
    protodown: ProtodownOwner,
    renaming: Renaming,
    render: bool,
) -> Result<Plan, Vec<PlanError>> {
    let matched = match_devices(snapshot, desired, owned);
    let matched_idx: HashSet<u32> = matched
        .iter()
        .filter_map(|m| m.current.map(|l| l.index))
        .collect();
    let owned_now = owned_links(snapshot, owned);
    let to_delete: Vec<&LinkInfo> = owned_now
        .iter()
        .filter(|l| !matched_idx.contains(&l.index))
        .copied()
        .collect();
    let delete_idx: HashSet<u32> = to_delete.iter().map(|l| l.index).collect();
    let errors = name_and_parent_errors(snapshot, &matched, &matched_idx, &delete_idx);
    if !errors.is_empty() {
        return Err(errors);
    }

    let runtime = protodown == ProtodownOwner::Runtime;
    let desired_names: HashSet<&str> = desired.devices.iter().map(|d| d.name.as_str()).collect();
    let (mut ops, late_deletes) = deletions(snapshot, &to_delete, &desired_names);
    let mut current_text = String::new();
    let mut desired_text = String::new();
    for m in &matched {
        let d = m.desired;
        if render {
            desired_text += &DeviceView::of_desired(d, runtime).render();
        }
        let Some(l) = m.current else {
            create_ops(d, &mut ops);
            continue;
        };
        if render {
            let mut view = DeviceView::of_link(l, &d.addresses, snapshot, runtime);
            if d.ignore_linkdown {
                view.sysctls += &linkdown_text(l.ipv4_ignore_linkdown, l.ipv6_ignore_linkdown);
            }
            if d.ra_quiet {
                view.sysctls += &ra_quiet_text(l.ra_host_sysctls);
            }
            current_text += &view.render();
        }
        let keep_live = protodown == ProtodownOwner::Handover;
        update_ops(l, d, runtime, keep_live, renaming, &mut ops);
    }
    for l in &to_delete {
        if render {
            current_text += &DeviceView::of_link(l, &[], snapshot, runtime).render();
        }
    }
    ops.extend(late_deletes);
    let current_text = sort_blocks(&current_text);
    Ok(Plan {
        in_sync: ops.is_empty(),
        changes: ops,
        current_text,
        desired_text,
    })
}

/// Names and parents: a desired name held by a link we neither match nor delete is a
/// conflict, and a parent must exist, be up, and be neither loopback nor our own device.
fn name_and_parent_errors(
    snapshot: &Snapshot,
    matched: &[Matched<'_>],
    matched_idx: &HashSet<u32>,
    delete_idx: &HashSet<u32>,
) -> Vec<PlanError> {
    let mut errors = Vec::new();
    let our_indexes: HashSet<u32> = matched_idx.union(delete_idx).copied().collect();
    for m in matched {
        let d = m.desired;
        if let Some(holder) = snapshot.by_name(&d.name)
            && Some(holder.index) != m.current.map(|l| l.index)
            && !delete_idx.contains(&holder.index)
            && !matched_idx.contains(&holder.index)
        {
            errors.push(PlanError::NameTaken {
                name: d.name.clone(),
                detail: format!(
                    "{} ifindex {}{}",
                    holder.kind.as_deref().unwrap_or("device"),
                    holder.index,
                    holder
                        .mac
                        .map(|m| format!(" address {m}"))
                        .unwrap_or_default()
                ),
            });
        }
        match snapshot.by_index(d.parent_index) {
            None => errors.push(PlanError::BadParent {
                parent: d.parent.clone(),
                device: d.name.clone(),
                reason: "does not exist".into(),
            }),
            Some(p) if p.name == "lo" => errors.push(PlanError::BadParent {
                parent: d.parent.clone(),
                device: d.name.clone(),
                reason: "loopback cannot carry a macvlan".into(),
            }),
            Some(p) if our_indexes.contains(&p.index) => errors.push(PlanError::BadParent {
                parent: d.parent.clone(),
                device: d.name.clone(),
                reason: "is itself a netvrrp device".into(),
            }),
            Some(p) if !p.admin_up => errors.push(PlanError::BadParent {
                parent: d.parent.clone(),
                device: d.name.clone(),
                reason: "is administratively down; bring it up first".into(),
            }),
            Some(_) => {}
        }
    }
    errors
}

/// Owned devices no longer desired: `(now, last)`. Deleted last (so a failure earlier rolls
/// back without having to recreate them), unless one holds a name a desired device needs.
fn deletions(
    snapshot: &Snapshot,
    to_delete: &[&LinkInfo],
    desired_names: &HashSet<&str>,
) -> (Vec<Op>, Vec<Op>) {
    let mut now = Vec::new();
    let mut last = Vec::new();
    for l in to_delete {
        let op = Op::DeleteMacvlan {
            device: l.name.clone(),
            parent: parent_name(snapshot, l.parent_index.unwrap_or(0)),
            parent_index: l.parent_index.unwrap_or(0),
            mac: l.mac.unwrap_or(MacAddr([0; 6])),
        };
        if desired_names.contains(l.name.as_str()) {
            now.push(op);
        } else {
            last.push(op);
        }
    }
    (now, last)
}

/// A desired device that does not exist yet: created down, configured, protodown on, then up.
fn create_ops(d: &DesiredDevice, ops: &mut Vec<Op>) {
    ops.push(Op::CreateMacvlan {
        device: d.name.clone(),
        parent: d.parent.clone(),
        parent_index: d.parent_index,
        mac: d.mac,
    });
    ops.push(Op::SetAddrGenMode {
        device: d.name.clone(),
        mode: d.addrgenmode,
        previous: Some(crate::types::AddrGenMode::Eui64),
    });
    for name in DAD_SYSCTLS {
        ops.push(Op::SetSysctl {
            device: d.name.clone(),
            name: name.into(),
            value: 0,
            previous: 1,
        });
    }
    // Before the first link-up, so addrconf never sets the device up for IPv6 when
    // it must not have it. Set either way: a new device takes the namespace's
    // `default.disable_ipv6`, which hardened hosts set to 1.
    ops.push(Op::SetSysctl {
        device: d.name.clone(),
        name: DISABLE_IPV6.into(),
        value: i32::from(!d.ipv6),
        previous: i32::from(d.ipv6),
    });
    if d.ignore_linkdown {
        ops.extend(linkdown_ops(&d.name, Some(false), Some(false)));
    }
    if d.ra_quiet {
        ops.extend(ra_quiet_ops(&d.name, Some([1, 1])));
    }
    // Protodown goes on before the link is up so the device never transmits as a
    // second master before the runtime has decided.
    ops.push(Op::SetProtodown {
        device: d.name.clone(),
        on: true,
        previous: false,
    });
    for a in &d.addresses {
        ops.push(Op::AddAddress {
            device: d.name.clone(),
            address: *a,
        });
    }
    ops.push(Op::SetAdmin {
        device: d.name.clone(),
        up: true,
        previous: false,
    });
}

/// An existing device `l` brought in line with `d`, changing only what differs. An up
/// device stays up where the kernel allows it (a live Master's device adopted from FRR or
/// keepalived keeps answering): renamed live on kernels that can ([`Renaming`]), and a new
/// addrgenmode without a flap (see [`addrgenmode_ops`]). `keep_live`: a device answering
/// now keeps protodown off ([`ProtodownOwner::Handover`]).
fn update_ops(
    l: &LinkInfo,
    d: &DesiredDevice,
    runtime: bool,
    keep_live: bool,
    renaming: Renaming,
    ops: &mut Vec<Op>,
) {
    let wanted: BTreeSet<IpNet> = d.addresses.iter().copied().collect();
    let mut have = managed_addresses(l, &d.addresses);
    let mut up = l.admin_up;
    let renamed = l.name != d.name;
    if up && ((renamed && renaming == Renaming::WhileDown) || needs_flap(l, d)) {
        take_down(l, &mut have, ops);
        up = false;
    }
    if renamed {
        ops.push(Op::Rename {
            device: d.name.clone(),
            from: l.name.clone(),
        });
    }
    let dev = || d.name.clone();
    if let Some(mac) = l.mac
        && mac != d.mac
    {
        ops.push(Op::SetMac {
            device: dev(),
            mac: d.mac,
            previous: mac,
        });
    }
    if let Some(mode) = l.macvlan_mode
        && mode != MacvlanMode::Bridge
    {
        ops.push(Op::SetMacvlanMode {
            device: dev(),
            mode: MacvlanMode::Bridge,
            previous: mode,
        });
    }
    addrgenmode_ops(l, d, up, ops);
    if let Some(values) = l.dad_sysctls {
        for (name, value) in DAD_SYSCTLS.iter().zip(values) {
            if value != 0 {
                ops.push(Op::SetSysctl {
                    device: dev(),
                    name: (*name).into(),
                    value: 0,
                    previous: value,
                });
            }
        }
    }
    if d.ignore_linkdown {
        ops.extend(linkdown_ops(
            &d.name,
            l.ipv4_ignore_linkdown,
            l.ipv6_ignore_linkdown,
        ));
    }
    if d.ra_quiet {
        ops.extend(ra_quiet_ops(&d.name, l.ra_host_sysctls));
    }
    let answering = l.admin_up && !l.protodown && l.protodown_reason == 0;
    if !runtime && l.protodown != d.protodown && !(keep_live && answering) {
        ops.push(Op::SetProtodown {
            device: dev(),
            on: d.protodown,
            previous: l.protodown,
        });
    }
    for a in have.difference(&wanted) {
        ops.push(Op::DelAddress {
            device: dev(),
            address: *a,
        });
    }
    // Between the deletes and the adds: an IPv6 address cannot be added while IPv6 is
    // disabled, and disabling it removes the device's IPv6 addresses (a delete after it
    // would fail).
    if let Some(disabled) = l.disable_ipv6
        && disabled == d.ipv6
    {
        ops.push(Op::SetSysctl {
            device: dev(),
            name: DISABLE_IPV6.into(),
            value: i32::from(!d.ipv6),
            previous: i32::from(disabled),
        });
    }
    for a in wanted.difference(&have) {
        ops.push(Op::AddAddress {
            device: dev(),
            address: *a,
        });
    }
    if !up {
        ops.push(Op::SetAdmin {
            device: dev(),
            up: true,
            previous: false,
        });
    }
}

/// Take the up device `l` down (its old name: before any rename). The kernel flushes a down
/// link's IPv6 addresses (unless `keep_addr_on_down`), so the managed ones are removed
/// first and taken out of `have`: the plan adds them back after the link-up whatever that
/// sysctl says, and the journal undoes both.
fn take_down(l: &LinkInfo, have: &mut BTreeSet<IpNet>, ops: &mut Vec<Op>) {
    let v6: Vec<IpNet> = have
        .iter()
        .filter(|a| matches!(a, IpNet::V6(_)))
        .copied()
        .collect();
    for address in v6 {
        have.remove(&address);
        ops.push(Op::DelAddress {
            device: l.name.clone(),
            address,
        });
    }
    ops.push(Op::SetAdmin {
        device: l.name.clone(),
        up: false,
        previous: true,
    });
}

/// Whether a new addrgenmode of `l` needs a flap after all: only for an unwanted
/// link-local the kernel did not tag (older than 5.18) on a device keeping IPv6, which
/// [`addrgenmode_ops`] cannot tell from a VIP.
fn needs_flap(l: &LinkInfo, d: &DesiredDevice) -> bool {
    l.addrgenmode != Some(d.addrgenmode)
        && d.ipv6
        && l.kernel_link_locals.is_empty()
        && l.addresses
            .iter()
            .any(|a| is_link_local(a) && !d.addresses.contains(a))
}

/// A new addrgenmode for `l` (`up`: it stays up through the plan).
///
/// The kernel generates link-locals with the new mode only at the next link-up; what it
/// made under the old one (an adopted FRR device: `random`, or EUI-64 from the virtual
/// MAC) stays until then. A flap would flush the IPv6 VIPs and stop the device answering,
/// so instead: a device whose IPv6 goes off loses them with it (`disable_ipv6`), and the
/// kernel's own link-locals, which it tags (Linux 5.18), are removed; the device works
/// without one (adverts leave from the parent's link-local) and gets one of the new mode at
/// its next link-up. An untagged one is left to a flap ([`needs_flap`]).
fn addrgenmode_ops(l: &LinkInfo, d: &DesiredDevice, up: bool, ops: &mut Vec<Op>) {
    if l.addrgenmode == Some(d.addrgenmode) {
        return;
    }
    ops.push(Op::SetAddrGenMode {
        device: d.name.clone(),
        mode: d.addrgenmode,
        previous: l.addrgenmode,
    });
    if !up || !d.ipv6 {
        return;
    }
    for a in l
        .kernel_link_locals
        .iter()
        .filter(|a| !d.addresses.contains(a))
    {
        ops.push(Op::DelAddress {
            device: d.name.clone(),
            address: *a,
        });
    }
}

impl Plan {
    /// Unified diff of the canonical renderings, then the numbered operations.
    pub fn render_text(&self, color: bool) -> String {
        let mut out = String::new();
        if self.in_sync {
            out += "in sync: nothing to change\n";
            return out;
        }
        let diff = similar::TextDiff::from_lines(&self.current_text, &self.desired_text);
        for line in diff
            .unified_diff()
            .context_radius(3)
            .header("current", "desired")
            .to_string()
            .lines()
        {
            let painted = if !color {
                line.to_string()
            } else if line.starts_with('+') && !line.starts_with("+++") {
                format!("\x1b[32m{line}\x1b[0m")
            } else if line.starts_with('-') && !line.starts_with("---") {
                format!("\x1b[31m{line}\x1b[0m")
            } else if line.starts_with("@@") {
                format!("\x1b[36m{line}\x1b[0m")
            } else {
                line.to_string()
            };
            out += &painted;
            out.push('\n');
        }
        out += &format!("\n{} operation(s):\n", self.changes.len());
        for (i, op) in self.changes.iter().enumerate() {
            out += &format!("{:4}. {op}\n", i + 1);
        }
        out
    }

    pub fn render_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desired::{DeviceRole, router_device_name};
    use crate::types::{AddrGenMode, Family};

    fn parent(index: u32, name: &str) -> LinkInfo {
        LinkInfo {
            index,
            name: name.into(),
            kind: Some("veth".into()),
            macvlan_mode: None,
            parent_index: None,
            mac: Some(MacAddr([2, 0, 0, 0, 0, index as u8])),
            addrgenmode: Some(AddrGenMode::Eui64),
            protodown: false,
            protodown_reason: 0,
            admin_up: true,
            carrier: true,
            operstate: "up".into(),
            addresses: vec!["192.0.2.2/24".parse().unwrap()],
            kernel_link_locals: Vec::new(),
            ra_host_sysctls: None,
            dad_sysctls: None,
            disable_ipv6: None,
            ipv4_ignore_linkdown: None,
            ipv6_ignore_linkdown: None,
            group: 0,
        }
    }

    fn desired_dev(parent_index: u32, vrid: u8, family: Family, vips: &[&str]) -> DesiredDevice {
        DesiredDevice {
            name: router_device_name(family, parent_index, vrid),
            parent: "eth0".into(),
            parent_index,
            mac: MacAddr::vrrp(family, vrid),
            addrgenmode: match family {
                Family::Ipv4 => AddrGenMode::None,
                Family::Ipv6 => AddrGenMode::Random,
            },
            ipv6: true,
            ignore_linkdown: true,
            ra_quiet: false,
            addresses: vips.iter().map(|a| a.parse().unwrap()).collect(),
            protodown: true,
            role: DeviceRole::Router {
                interface: "eth0".into(),
                vrid,
                family,
            },
        }
    }

    /// The link a successful apply of `d` leaves behind.
    fn link_of(d: &DesiredDevice, index: u32) -> LinkInfo {
        LinkInfo {
            index,
            name: d.name.clone(),
            kind: Some("macvlan".into()),
            macvlan_mode: Some(MacvlanMode::Bridge),
            parent_index: Some(d.parent_index),
            mac: Some(d.mac),
            addrgenmode: Some(d.addrgenmode),
            protodown: true,
            protodown_reason: 0,
            admin_up: true,
            carrier: false,
            operstate: "lowerlayerdown".into(),
            addresses: d.addresses.clone(),
            kernel_link_locals: Vec::new(),
            ra_host_sysctls: Some(if d.ra_quiet { [0, 0] } else { [1, 1] }),
            dad_sysctls: Some([0, 0, 0]),
            disable_ipv6: Some(!d.ipv6),
            ipv4_ignore_linkdown: Some(d.ignore_linkdown),
            ipv6_ignore_linkdown: Some(d.ignore_linkdown),
            group: 0,
        }
    }

    fn record(l: &LinkInfo) -> OwnedRecord {
        OwnedRecord {
            name: l.name.clone(),
            index: l.index,
            parent_index: l.parent_index.unwrap(),
            mac: l.mac.unwrap(),
        }
    }

    fn state(devices: Vec<DesiredDevice>) -> DesiredState {
        DesiredState { devices }
    }

    /// The plan's operations on a kernel that renames only a down link (the stricter).
    fn run(snap: &Snapshot, d: &DesiredState, owned: &[OwnedRecord]) -> Vec<Op> {
        run_on(Renaming::WhileDown, snap, d, owned)
    }

    /// The plan for `owner` on a kernel that renames only a down link.
    fn plan_by(
        snap: &Snapshot,
        d: &DesiredState,
        owner: ProtodownOwner,
    ) -> Result<Plan, Vec<PlanError>> {
        plan(snap, d, &[], owner, Renaming::WhileDown)
    }

    fn run_on(
        renaming: Renaming,
        snap: &Snapshot,
        d: &DesiredState,
        owned: &[OwnedRecord],
    ) -> Vec<Op> {
        plan(snap, d, owned, ProtodownOwner::Configurator, renaming)
            .unwrap()
            .changes
    }

    /// ignore_routes_with_linkdown: set where 0, left alone where 1 or not reported, and
    /// reported by check (IPv4 and IPv6 separately).
    #[test]
    fn ignore_linkdown_is_managed_on_router_devices() {
        let d = desired_dev(2, 5, Family::Ipv4, &["192.0.2.1/24"]);
        let mut l = link_of(&d, 10);
        let rec = [record(&l)];
        let snap = |l: &LinkInfo| Snapshot {
            links: vec![parent(2, "eth0"), l.clone()],
        };
        assert!(run(&snap(&l), &state(vec![d.clone()]), &rec).is_empty());
        l.ipv4_ignore_linkdown = Some(false);
        let ops: Vec<String> = run(&snap(&l), &state(vec![d.clone()]), &rec)
            .iter()
            .map(|o| o.to_string())
            .collect();
        assert_eq!(
            ops,
            ["sysctl net.ipv4.conf.vrrp4-2-5.ignore_routes_with_linkdown=1"]
        );
        l.ipv6_ignore_linkdown = None;
        let checks = check(
            &snap(&l),
            &state(vec![d]),
            &rec,
            ProtodownOwner::Configurator,
        );
        let failed: Vec<(&str, &str)> = checks
            .iter()
            .filter(|c| !c.pass)
            .map(|c| (c.attribute.as_str(), c.actual.as_str()))
            .collect();
        assert_eq!(
            failed,
            [
                ("ipv4.ignore_routes_with_linkdown", "0"),
                ("ipv6.ignore_routes_with_linkdown", "absent")
            ]
        );
    }

    #[test]
    fn create_from_scratch_in_order() {
        let d = desired_dev(2, 5, Family::Ipv4, &["192.0.2.1/24"]);
        let snap = Snapshot {
            links: vec![parent(2, "eth0")],
        };
        let ops = run(&snap, &state(vec![d.clone()]), &[]);
        let text: Vec<String> = ops.iter().map(|o| o.to_string()).collect();
        assert_eq!(
            text,
            vec![
                "create macvlan vrrp4-2-5 link eth0 mode bridge address 00:00:5e:00:01:05",
                "set vrrp4-2-5 addrgenmode none",
                "sysctl net.ipv6.conf.vrrp4-2-5.accept_dad=0",
                "sysctl net.ipv6.conf.vrrp4-2-5.dad_transmits=0",
                "sysctl net.ipv6.conf.vrrp4-2-5.enhanced_dad=0",
                // Explicit: the namespace's default may have IPv6 off.
                "sysctl net.ipv6.conf.vrrp4-2-5.disable_ipv6=0",
                "sysctl net.ipv4.conf.vrrp4-2-5.ignore_routes_with_linkdown=1",
                "sysctl net.ipv6.conf.vrrp4-2-5.ignore_routes_with_linkdown=1",
                "set vrrp4-2-5 protodown on",
                "add address 192.0.2.1/24 dev vrrp4-2-5",
                "set vrrp4-2-5 up",
            ]
        );
    }

    /// A pathway macvlan without IPv6 addresses gets IPv6 off before its first link-up
    /// (fan-out cost, see `DesiredDevice::ipv6`); gaining an IPv6 address turns it back on
    /// before the address is added, losing it turns it off after the address is deleted.
    #[test]
    fn pathway_ipv6_off_unless_it_has_ipv6_addresses() {
        let pathway = |addrs: &[&str]| DesiredDevice {
            name: "v02020000000001".into(),
            parent: "eth0".into(),
            parent_index: 2,
            mac: MacAddr([2, 2, 0, 0, 0, 1]),
            addrgenmode: AddrGenMode::Random,
            ipv6: addrs.iter().any(|a| a.contains(':')),
            ignore_linkdown: false,
            ra_quiet: false,
            addresses: addrs.iter().map(|a| a.parse().unwrap()).collect(),
            protodown: true,
            role: DeviceRole::Pathway {
                leader: "l".into(),
                interface: "eth0".into(),
            },
        };
        // The plan as text for `want` over `have` (a link made from that desired device).
        let plan_text = |have: Option<&DesiredDevice>, want: &DesiredDevice| -> Vec<String> {
            let mut links = vec![parent(2, "eth0")];
            let owned: Vec<OwnedRecord> =
                have.map(|h| record(&link_of(h, 10))).into_iter().collect();
            links.extend(have.map(|h| link_of(h, 10)));
            run(&Snapshot { links }, &state(vec![want.clone()]), &owned)
                .iter()
                .map(|o| o.to_string())
                .collect()
        };
        let before = |text: &[String], a: &str, b: &str| {
            let at = |t: &str| text.iter().position(|x| x == t);
            assert!(at(a).is_some() && at(a) < at(b), "{a} before {b}: {text:?}");
        };
        let dev = "v02020000000001";
        let v4 = pathway(&["192.0.2.1/24"]);
        let v6 = pathway(&["2001:db8::1/64"]);
        let text = plan_text(None, &v4);
        before(
            &text,
            &format!("sysctl net.ipv6.conf.{dev}.disable_ipv6=1"),
            &format!("set {dev} up"),
        );
        let text = plan_text(Some(&v4), &v6);
        let enable = format!("sysctl net.ipv6.conf.{dev}.disable_ipv6=0");
        before(
            &text,
            &enable,
            &format!("add address 2001:db8::1/64 dev {dev}"),
        );
        before(
            &text,
            &format!("del address 192.0.2.1/24 dev {dev}"),
            &enable,
        );
        let text = plan_text(Some(&v6), &v4);
        before(
            &text,
            &format!("del address 2001:db8::1/64 dev {dev}"),
            &format!("sysctl net.ipv6.conf.{dev}.disable_ipv6=1"),
        );
        assert!(plan_text(Some(&v4), &v4).is_empty());
        // In sync, and check() agrees.
        let l = link_of(&v4, 10);
        let snap = Snapshot {
            links: vec![parent(2, "eth0"), l.clone()],
        };
        let checks = check(
            &snap,
            &state(vec![v4]),
            &[record(&l)],
            ProtodownOwner::Configurator,
        );
        assert!(
            checks
                .iter()
                .any(|c| c.attribute == "disable_ipv6" && c.pass)
        );
        assert!(checks.iter().all(|c| c.pass), "{checks:?}");
    }

    #[test]
    fn no_op_when_in_sync() {
        let d = desired_dev(2, 5, Family::Ipv6, &["2001:db8::1/64"]);
        let mut l = link_of(&d, 10);
        // Kernel-made link-locals are not managed.
        l.addresses.push("fe80::1234/64".parse().unwrap());
        let snap = Snapshot {
            links: vec![parent(2, "eth0"), l],
        };
        let p = plan_by(&snap, &state(vec![d]), ProtodownOwner::Configurator).unwrap();
        assert!(p.in_sync, "{:?}", p.changes);
        assert_eq!(p.current_text, p.desired_text);
    }

    #[test]
    fn link_local_vip_is_managed_and_the_kernels_is_not() {
        let d = desired_dev(2, 5, Family::Ipv6, &["fe80::5/64", "2001:db8::1/64"]);
        // Absent: added like any VIP (the kernel's own link-local, tagged, stays alone).
        let mut l = link_of(&d, 10);
        l.addresses.retain(|a| a.to_string() != "fe80::5/64");
        let kernel_ll: IpNet = "fe80::1234/64".parse().unwrap();
        l.addresses.push(kernel_ll);
        l.kernel_link_locals.push(kernel_ll);
        let snap = Snapshot {
            links: vec![parent(2, "eth0"), l.clone()],
        };
        let ops = run(&snap, &state(vec![d.clone()]), &[]);
        assert_eq!(
            ops.iter().map(|o| o.to_string()).collect::<Vec<_>>(),
            [format!("add address fe80::5/64 dev {}", d.name)]
        );
        let checks = check(
            &snap,
            &state(vec![d.clone()]),
            &[],
            ProtodownOwner::Configurator,
        );
        assert!(
            checks
                .iter()
                .any(|c| c.attribute == "address fe80::5/64" && !c.pass),
            "{checks:?}"
        );
        // Present: in sync, and check agrees.
        l.addresses.push("fe80::5/64".parse().unwrap());
        let snap = Snapshot {
            links: vec![parent(2, "eth0"), l.clone()],
        };
        assert!(run(&snap, &state(vec![d.clone()]), &[]).is_empty());
        let checks = check(
            &snap,
            &state(vec![d.clone()]),
            &[],
            ProtodownOwner::Configurator,
        );
        assert!(checks.iter().all(|c| c.pass), "{checks:?}");
        // Left the file: on a kernel that tags its link-locals, the stale VIP is removed and
        // the kernel's stays.
        let without = desired_dev(2, 5, Family::Ipv6, &["2001:db8::1/64"]);
        let ops = run(&snap, &state(vec![without.clone()]), &[]);
        assert_eq!(
            ops.iter().map(|o| o.to_string()).collect::<Vec<_>>(),
            [format!("del address fe80::5/64 dev {}", d.name)]
        );
        // No tag anywhere on the device (an older kernel): an unwanted link-local may be the
        // kernel's, so it is left alone.
        l.kernel_link_locals.clear();
        let snap = Snapshot {
            links: vec![parent(2, "eth0"), l],
        };
        assert!(run(&snap, &state(vec![without]), &[]).is_empty());
        assert!(run(&snap, &state(vec![d]), &[]).is_empty());
    }

    /// accept_ra / autoconf: set to 0 on the vrrp6 device of a router that sends RAs (at
    /// creation and on drift), shown by check, and left alone elsewhere.
    #[test]
    fn ra_host_sysctls_are_managed_on_advertising_devices() {
        let mut d = desired_dev(2, 5, Family::Ipv6, &["fe80::5/64", "2001:db8::1/64"]);
        d.ra_quiet = true;
        let snap = Snapshot {
            links: vec![parent(2, "eth0")],
        };
        let text: Vec<String> = run(&snap, &state(vec![d.clone()]), &[])
            .iter()
            .map(|o| o.to_string())
            .collect();
        for name in ["accept_ra", "autoconf"] {
            let op = format!("sysctl net.ipv6.conf.{}.{name}=0", d.name);
            assert!(text.contains(&op), "{op} missing from {text:?}");
        }
        let mut l = link_of(&d, 10);
        let snap = Snapshot {
            links: vec![parent(2, "eth0"), l.clone()],
        };
        assert!(run(&snap, &state(vec![d.clone()]), &[]).is_empty());
        l.ra_host_sysctls = Some([1, 0]);
        let snap = Snapshot {
            links: vec![parent(2, "eth0"), l.clone()],
        };
        let ops: Vec<String> = run(&snap, &state(vec![d.clone()]), &[])
            .iter()
            .map(|o| o.to_string())
            .collect();
        assert_eq!(
            ops,
            [format!("sysctl net.ipv6.conf.{}.accept_ra=0", d.name)]
        );
        let checks = check(
            &snap,
            &state(vec![d.clone()]),
            &[],
            ProtodownOwner::Configurator,
        );
        assert!(checks.iter().any(|c| c.attribute == "accept_ra" && !c.pass));
        assert!(checks.iter().any(|c| c.attribute == "autoconf" && c.pass));
        // Without RAs the host side is left as it is.
        d.ra_quiet = false;
        assert!(run(&snap, &state(vec![d.clone()]), &[]).is_empty());
        let checks = check(&snap, &state(vec![d]), &[], ProtodownOwner::Configurator);
        assert!(!checks.iter().any(|c| c.attribute == "accept_ra"));
    }

    #[test]
    fn adopt_and_rename_after_renumbering() {
        // The parent was ifindex 2 when the device was made; now it is 3.
        let old = desired_dev(2, 5, Family::Ipv4, &["192.0.2.1/24"]);
        let mut l = link_of(&old, 10);
        l.parent_index = Some(3);
        let d = desired_dev(3, 5, Family::Ipv4, &["192.0.2.1/24"]);
        let snap = Snapshot {
            links: vec![parent(3, "eth0"), l],
        };
        let ops = run(&snap, &state(vec![d]), &[]);
        assert_eq!(
            ops,
            vec![
                Op::SetAdmin {
                    device: "vrrp4-2-5".into(),
                    up: false,
                    previous: true
                },
                Op::Rename {
                    device: "vrrp4-3-5".into(),
                    from: "vrrp4-2-5".into()
                },
                Op::SetAdmin {
                    device: "vrrp4-3-5".into(),
                    up: true,
                    previous: false
                },
            ]
        );
    }

    #[test]
    fn update_mac_of_owned_device() {
        let d = desired_dev(2, 5, Family::Ipv4, &["192.0.2.1/24"]);
        let mut l = link_of(&d, 10);
        l.mac = Some(MacAddr([2, 1, 1, 1, 1, 1]));
        let owned = vec![record(&l)];
        let snap = Snapshot {
            links: vec![parent(2, "eth0"), l],
        };
        let ops = run(&snap, &state(vec![d.clone()]), &owned);
        assert_eq!(
            ops,
            vec![Op::SetMac {
                device: d.name.clone(),
                mac: d.mac,
                previous: MacAddr([2, 1, 1, 1, 1, 1])
            }]
        );
    }

    #[test]
    fn foreign_device_with_our_name_is_a_conflict() {
        let d = desired_dev(2, 5, Family::Ipv4, &["192.0.2.1/24"]);
        let mut l = link_of(&d, 10);
        l.mac = Some(MacAddr([2, 1, 1, 1, 1, 1]));
        let snap = Snapshot {
            links: vec![parent(2, "eth0"), l],
        };
        let err = plan_by(&snap, &state(vec![d]), ProtodownOwner::Configurator).unwrap_err();
        assert!(matches!(err[0], PlanError::NameTaken { .. }), "{err:?}");
    }

    #[test]
    fn add_and_remove_vips() {
        let d = desired_dev(2, 5, Family::Ipv4, &["192.0.2.1/24", "192.0.2.3/24"]);
        let mut l = link_of(&d, 10);
        l.addresses = vec![
            "192.0.2.1/24".parse().unwrap(),
            "192.0.2.9/24".parse().unwrap(),
        ];
        let snap = Snapshot {
            links: vec![parent(2, "eth0"), l],
        };
        let ops = run(&snap, &state(vec![d]), &[]);
        assert_eq!(
            ops,
            vec![
                Op::DelAddress {
                    device: "vrrp4-2-5".into(),
                    address: "192.0.2.9/24".parse().unwrap()
                },
                Op::AddAddress {
                    device: "vrrp4-2-5".into(),
                    address: "192.0.2.3/24".parse().unwrap()
                },
            ]
        );
    }

    #[test]
    fn remove_owned_ignore_foreign() {
        let gone = desired_dev(2, 7, Family::Ipv4, &["192.0.2.7/24"]);
        let owned_link = link_of(&gone, 11);
        // Looks exactly like a VRRP device, but nobody created or adopted it.
        let foreign = link_of(&desired_dev(2, 8, Family::Ipv4, &["192.0.2.8/24"]), 12);
        let owned = vec![record(&owned_link)];
        let snap = Snapshot {
            links: vec![parent(2, "eth0"), owned_link, foreign],
        };
        let ops = run(&snap, &state(vec![]), &owned);
        assert_eq!(
            ops,
            vec![Op::DeleteMacvlan {
                device: "vrrp4-2-7".into(),
                parent: "eth0".into(),
                parent_index: 2,
                mac: MacAddr::vrrp(Family::Ipv4, 7)
            }]
        );
    }

    #[test]
    fn stale_owned_record_is_not_trusted() {
        // ifindex 11 was ours once; now another device with another MAC has it.
        let gone = desired_dev(2, 7, Family::Ipv4, &[]);
        let mut other = link_of(&gone, 11);
        other.mac = Some(MacAddr([2, 9, 9, 9, 9, 9]));
        let stale = OwnedRecord {
            name: gone.name.clone(),
            index: 11,
            parent_index: 2,
            mac: gone.mac,
        };
        let snap = Snapshot {
            links: vec![parent(2, "eth0"), other],
        };
        assert!(run(&snap, &state(vec![]), &[stale]).is_empty());
    }

    #[test]
    fn drift_repair_and_runtime_owned_protodown() {
        let d = desired_dev(2, 5, Family::Ipv6, &["2001:db8::1/64"]);
        let mut l = link_of(&d, 10);
        l.protodown = false;
        l.addrgenmode = Some(AddrGenMode::Eui64);
        l.dad_sysctls = Some([1, 0, 1]);
        l.macvlan_mode = Some(MacvlanMode::Private);
        // The EUI-64 link-local of the old mode, untagged (a kernel older than 5.18): only
        // a flap replaces it, and the VIP the link-down flushes is removed first and added
        // back after it.
        l.addresses
            .push("fe80::200:5eff:fe00:205/64".parse().unwrap());
        let snap = Snapshot {
            links: vec![parent(2, "eth0"), l],
        };
        let ops = run(&snap, &state(vec![d.clone()]), &[]);
        let text: Vec<String> = ops.iter().map(|o| o.to_string()).collect();
        assert_eq!(
            text,
            vec![
                "del address 2001:db8::1/64 dev vrrp6-2-5",
                "set vrrp6-2-5 down",
                "set vrrp6-2-5 macvlan mode Bridge",
                "set vrrp6-2-5 addrgenmode random",
                "sysctl net.ipv6.conf.vrrp6-2-5.accept_dad=0",
                "sysctl net.ipv6.conf.vrrp6-2-5.enhanced_dad=0",
                "set vrrp6-2-5 protodown on",
                "add address 2001:db8::1/64 dev vrrp6-2-5",
                "set vrrp6-2-5 up",
            ]
        );
        // With a runtime, protodown is not drift.
        let ops = plan_by(&snap, &state(vec![d]), ProtodownOwner::Runtime)
            .unwrap()
            .changes;
        assert!(!ops.iter().any(|o| matches!(o, Op::SetProtodown { .. })));
    }

    /// An apply that starts the runtime (Handover) leaves an answering device (another
    /// daemon's Master, adopted) out of protodown for the runtime to take over; one in
    /// protodown, or down, gets protodown on as without a runtime.
    #[test]
    fn handover_leaves_an_answering_device_answering() {
        let d = desired_dev(2, 5, Family::Ipv4, &["192.0.2.1/24"]);
        let protodown_ops = |l: LinkInfo, owner| {
            let snap = Snapshot {
                links: vec![parent(2, "eth0"), l],
            };
            plan_by(&snap, &state(vec![d.clone()]), owner)
                .unwrap()
                .changes
                .iter()
                .filter(|o| matches!(o, Op::SetProtodown { .. }))
                .map(|o| o.to_string())
                .collect::<Vec<_>>()
        };
        let mut live = link_of(&d, 10);
        live.protodown = false;
        assert!(protodown_ops(live.clone(), ProtodownOwner::Handover).is_empty());
        assert_eq!(
            protodown_ops(live.clone(), ProtodownOwner::Configurator),
            vec!["set vrrp4-2-5 protodown on"]
        );
        let mut down = live.clone();
        down.admin_up = false;
        assert_eq!(
            protodown_ops(down, ProtodownOwner::Handover),
            vec!["set vrrp4-2-5 protodown on"]
        );
        let mut held = live;
        held.protodown_reason = 0x80;
        assert_eq!(
            protodown_ops(held, ProtodownOwner::Handover),
            vec!["set vrrp4-2-5 protodown on"]
        );
    }

    #[test]
    fn parent_down_or_missing_is_refused() {
        let d = desired_dev(2, 5, Family::Ipv4, &["192.0.2.1/24"]);
        let mut p = parent(2, "eth0");
        p.admin_up = false;
        let err = plan_by(
            &Snapshot { links: vec![p] },
            &state(vec![d.clone()]),
            ProtodownOwner::Configurator,
        )
        .unwrap_err();
        assert!(
            err[0].to_string().contains("administratively down"),
            "{err:?}"
        );
        let err = plan_by(
            &Snapshot { links: vec![] },
            &state(vec![d]),
            ProtodownOwner::Configurator,
        )
        .unwrap_err();
        assert!(err[0].to_string().contains("does not exist"));
    }

    #[test]
    fn inverse_round_trips() {
        let op = Op::SetSysctl {
            device: "x".into(),
            name: "accept_dad".into(),
            value: 0,
            previous: 2,
        };
        assert_eq!(op.inverse().unwrap().inverse().unwrap(), op);
    }

    #[test]
    fn check_reports_each_attribute() {
        let d = desired_dev(2, 5, Family::Ipv4, &["192.0.2.1/24"]);
        let mut l = link_of(&d, 10);
        l.addresses.clear();
        let snap = Snapshot {
            links: vec![parent(2, "eth0"), l],
        };
        let checks = check(&snap, &state(vec![d]), &[], ProtodownOwner::Configurator);
        let failed: Vec<&str> = checks
            .iter()
            .filter(|c| !c.pass)
            .map(|c| c.attribute.as_str())
            .collect();
        assert_eq!(failed, vec!["address 192.0.2.1/24"]);
        assert!(
            checks
                .iter()
                .any(|c| c.attribute == "addrgenmode" && c.pass)
        );
    }

    #[test]
    fn vip_on_a_non_vrrp_interface_is_a_self_lockout_unless_owner() {
        let text = |priority: u8, vip: &str| {
            format!(
                "[[vrrp]]\ninterface = \"eth0\"\nvrid = 5\npriority = {priority}\nipv4 = [\"{vip}\"]\n"
            )
        };
        let eth0 = parent(2, "eth0");
        let check = |priority: u8, vip: &str, links: &[LinkInfo]| {
            let config = crate::config::parse_str(&text(priority, vip), "t.toml").unwrap();
            let desired = crate::desired::derive(&config, |_| Some(2)).unwrap();
            self_lockouts(&config, &desired, links)
        };
        // The parent's own address as a VIP: refused, naming the interface.
        let found = check(100, "192.0.2.2/24", std::slice::from_ref(&eth0));
        assert_eq!(found.len(), 1);
        let e = found[0].to_string();
        assert!(
            e.contains("192.0.2.2") && e.contains("\"eth0\"") && e.contains("255"),
            "{e}"
        );
        // At the router's table until placed, then at the VIP itself (the second one here).
        assert!(e.starts_with("t.toml:1:1: vrrp[1].ipv4[1]: VIP "), "{e}");
        let two = text(100, "192.0.2.7/24\", \"192.0.2.2/24");
        let config = crate::config::parse_str(&two, "t.toml").unwrap();
        let desired = crate::desired::derive(&config, |_| Some(2)).unwrap();
        let mut found = self_lockouts(&config, &desired, std::slice::from_ref(&eth0));
        let spans = crate::config::FileSpans::parse(&two).unwrap();
        found[0].at.place(&spans);
        let e = found[0].to_string();
        assert!(
            e.starts_with("t.toml:5:25: vrrp[1].ipv4[2]: VIP 192.0.2.2 "),
            "{e}"
        );
        // The owner (priority 255) may use it; another address is fine.
        assert!(check(255, "192.0.2.2/24", std::slice::from_ref(&eth0)).is_empty());
        assert!(check(100, "192.0.2.7/24", std::slice::from_ref(&eth0)).is_empty());
        // The VIP on our own vrrp macvlan (after an apply) is no lockout.
        let config = crate::config::parse_str(&text(100, "192.0.2.7/24"), "t.toml").unwrap();
        let desired = crate::desired::derive(&config, |_| Some(2)).unwrap();
        let mine = link_of(&desired.devices[0], 9);
        assert!(self_lockouts(&config, &desired, &[eth0, mine]).is_empty());
    }

    /// A live Master's devices as FRR's guide makes them (FRR's names, addrgenmode random,
    /// up, protodown off, VIPs; the kernel's random link-local tagged).
    fn frr_made(d: &DesiredDevice, index: u32, name: &str, kernel_ll: &str) -> LinkInfo {
        let mut l = link_of(d, index);
        l.name = name.into();
        l.protodown = false;
        l.addrgenmode = Some(AddrGenMode::Random);
        let ll: IpNet = kernel_ll.parse().unwrap();
        l.addresses.push(ll);
        l.kernel_link_locals = vec![ll];
        l
    }

    /// VRID 5 (VIPs 192.0.2.1/24, 2001:db8::1/64) on a host where FRR's guide made its
    /// devices under FRR's names.
    fn frr_host() -> (Snapshot, DesiredState) {
        let v4 = desired_dev(2, 5, Family::Ipv4, &["192.0.2.1/24"]);
        let v6 = desired_dev(2, 5, Family::Ipv6, &["2001:db8::1/64"]);
        let snap = Snapshot {
            links: vec![
                parent(2, "eth0"),
                frr_made(&v4, 10, "vrrp4-2-1", "fe80::1c8f:2dff:fe11:2233/64"),
                frr_made(&v6, 11, "vrrp6-2-1", "fe80::a0b1:c2ff:fed3:e4f5/64"),
            ],
        };
        (snap, state(vec![v4, v6]))
    }

    /// What the journal runs to undo `ops`: their inverses, last first.
    fn undo(ops: &[Op]) -> Vec<String> {
        ops.iter()
            .rev()
            .map(|o| o.inverse().expect("every op has an inverse").to_string())
            .collect()
    }

    /// The plan adopting [`frr_host`]'s devices, and its operations as text.
    fn frr_adoption(renaming: Renaming) -> (Vec<Op>, Vec<String>) {
        let (snap, desired) = frr_host();
        let ops = run_on(renaming, &snap, &desired, &[]);
        let text = ops.iter().map(|o| o.to_string()).collect();
        (ops, text)
    }

    /// On a kernel that renames live (6.2+), adopting FRR's devices never takes them down:
    /// renamed up, and the new addrgenmode of the vrrp4 device replaces no flap but the
    /// removal of the kernel's link-local; the vrrp6 device (already random) keeps its own.
    /// Every operation has its inverse, so an undo renames back, live too.
    #[test]
    fn adopted_frr_devices_are_renamed_live_on_kernels_that_can() {
        let (ops, text) = frr_adoption(Renaming::WhileUp);
        assert_eq!(
            text,
            vec![
                "rename vrrp4-2-1 to vrrp4-2-5",
                "set vrrp4-2-5 addrgenmode none",
                "del address fe80::1c8f:2dff:fe11:2233/64 dev vrrp4-2-5",
                "set vrrp4-2-5 protodown on",
                "rename vrrp6-2-1 to vrrp6-2-5",
                "set vrrp6-2-5 protodown on",
            ]
        );
        assert!(!ops.iter().any(|o| matches!(o, Op::SetAdmin { .. })));
        // The journal's undo, in reverse: every inverse is the exact way back.
        assert_eq!(
            undo(&ops),
            vec![
                "set vrrp6-2-5 protodown off",
                "rename vrrp6-2-5 to vrrp6-2-1",
                "set vrrp4-2-5 protodown off",
                "add address fe80::1c8f:2dff:fe11:2233/64 dev vrrp4-2-5",
                "set vrrp4-2-5 addrgenmode random",
                "rename vrrp4-2-5 to vrrp4-2-1",
            ]
        );
        // With a runtime owning protodown, nothing of the plan interrupts the VIPs.
        let (snap, desired) = frr_host();
        let p = plan(
            &snap,
            &desired,
            &[],
            ProtodownOwner::Runtime,
            Renaming::WhileUp,
        )
        .unwrap();
        let runtime_owned: Vec<String> = p.changes.iter().map(|o| o.to_string()).collect();
        let without_protodown: Vec<String> = text
            .into_iter()
            .filter(|t| !t.contains("protodown"))
            .collect();
        assert_eq!(runtime_owned, without_protodown);
    }

    /// On an older kernel the same adoption takes each device down for its rename and up
    /// at the end (the kernel refuses to rename an up link). The IPv6 VIPs the link-down
    /// flushes are removed before it and added back after the rename (so one apply
    /// converges whatever `keep_addr_on_down` says); the link-up brings the new addrgenmode.
    #[test]
    fn adopted_frr_devices_are_renamed_down_on_older_kernels() {
        let (ops, text) = frr_adoption(Renaming::WhileDown);
        assert_eq!(
            text,
            vec![
                "set vrrp4-2-1 down",
                "rename vrrp4-2-1 to vrrp4-2-5",
                "set vrrp4-2-5 addrgenmode none",
                "set vrrp4-2-5 protodown on",
                "set vrrp4-2-5 up",
                "del address 2001:db8::1/64 dev vrrp6-2-1",
                "set vrrp6-2-1 down",
                "rename vrrp6-2-1 to vrrp6-2-5",
                "set vrrp6-2-5 protodown on",
                "add address 2001:db8::1/64 dev vrrp6-2-5",
                "set vrrp6-2-5 up",
            ]
        );
        // Undone in reverse, the journal renames back and restores the VIP on the old name.
        assert_eq!(
            undo(&ops[5..]),
            vec![
                "set vrrp6-2-5 down",
                "del address 2001:db8::1/64 dev vrrp6-2-5",
                "set vrrp6-2-5 protodown off",
                "rename vrrp6-2-5 to vrrp6-2-1",
                "set vrrp6-2-1 up",
                "add address 2001:db8::1/64 dev vrrp6-2-1",
            ]
        );
    }

    /// The kernel generation that renames live: 6.2 on, by the release string.
    #[test]
    fn renaming_follows_the_kernel_release() {
        let of = |r: &str| Renaming::of_release(crate::host::parse_release(r));
        assert_eq!(of("6.18.44-amd64"), Renaming::WhileUp);
        assert_eq!(of("6.2.0"), Renaming::WhileUp);
        assert_eq!(of("6.1.0-28-amd64"), Renaming::WhileDown);
        assert_eq!(of("5.10.0"), Renaming::WhileDown);
        assert_eq!(of("garbage"), Renaming::WhileDown);
    }
}
