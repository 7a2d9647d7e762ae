//! The runtime's packet filter: how a Backup is kept from answering for a VIP, and how
//! `accept-mode = false` is enforced. One nftables table per family, named `netvrrp`, owned
//! by the runtime (created at start by `nft -f`; on a state change only set elements differ,
//! and those go to nf_tables as one netlink batch, see [`super::nft_netlink`]: microseconds
//! instead of the tens of milliseconds of an `nft` process, during which a new Master would
//! still drop traffic to its VIPs; anything else replaces both tables atomically through
//! `nft -f` again). At stop it is left in place with every VIP blocked, because the devices
//! stay (protodown) with their VIPs and would otherwise answer for them; the next runtime
//! replaces it, `down` deletes it.
//!
//! Why not protodown alone: protodown stops the vrrp macvlan from *sending*, but the VIP stays
//! a local address, so the kernel still answers traffic that reaches the Backup (flooded
//! frames to the virtual MAC, after the master's port dies) through the parent, and the
//! parent answers ARP for the VIP with its own MAC (arp_ignore=0 answers for any local
//! address). Removing the VIPs on Backup would make the configured state flap with every
//! election. So the addresses stay and the filter decides:
//!
//! * `inet netvrrp`, hook prerouting (priority raw): everything arriving on the vrrp device
//!   of an instance that is not Master is dropped (RFC 9568 6.4.2: a Backup discards frames
//!   sent to the virtual MAC; a protodown macvlan still hands them to the stack, which would
//!   answer or route them); IP traffic to the VIPs of instances that are not Master is
//!   dropped whatever interface it arrives on; so is traffic to the VIPs of a Master with
//!   accept-mode off (RFC 9568 Accept_Mode), except IPv6 Neighbor Discovery, which must keep
//!   working.
//! * `arp netvrrp`, hook input: an ARP request for a VIP is answered only by the vrrp device
//!   (with the virtual MAC; a Backup's reply dies at protodown), never by the parent; and a
//!   vrrp device answers for nothing but its VIPs. On output, an ARP request the parent sends
//!   with a VIP as sender address (the kernel picks the source of the packet that needs
//!   resolving, e.g. an echo reply from the VIP) gets the parent's primary address instead,
//!   or hosts would re-learn the VIP at the parent's MAC (what `arp_announce=2` does, limited
//!   to the VIPs and without touching the parent's sysctls).

use super::nft_netlink;
use anyhow::{Context, bail};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::process::{Command, Stdio};

/// What the filter must express, rebuilt from the instances after every state change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FilterState {
    /// Every IPv4 VIP of every instance (the ARP rules; in `inet`, the dead-man rule).
    pub vips4: BTreeSet<Ipv4Addr>,
    /// Every IPv6 VIP of every instance (the dead-man rule).
    pub vips6: BTreeSet<Ipv6Addr>,
    /// ifindexes of the vrrp4 devices.
    pub devices4: BTreeSet<u32>,
    /// ifindexes of every vrrp device (either family).
    pub devices: BTreeSet<u32>,
    /// Primary IPv4 address of each parent (ifindex) carrying IPv4 instances.
    pub primary4: BTreeMap<u32, Ipv4Addr>,
    /// ifindexes of the vrrp devices (either family) of instances that are not Master.
    pub backup_devices: BTreeSet<u32>,
    /// IPv4 destinations to drop (non-Master VIPs; Master VIPs without accept-mode).
    pub block4: BTreeSet<Ipv4Addr>,
    pub block6: BTreeSet<Ipv6Addr>,
    /// IPv6 VIPs for which Neighbor Discovery stays allowed although other traffic is dropped.
    pub nd6: BTreeSet<Ipv6Addr>,
    /// The dead-man leases, each with its lifetime in ms (see [`lease_for`]): the vrrp
    /// devices of Masters (`inet` and, for IPv4, `arp`) and the VIPs of Masters that accept
    /// traffic. Only what holds an unexpired lease is answered.
    pub live_devices: BTreeMap<u32, u32>,
    pub live_devices4: BTreeMap<u32, u32>,
    pub live4: BTreeMap<Ipv4Addr, u32>,
    pub live6: BTreeMap<Ipv6Addr, u32>,
}

/// Intervals from which a Master renews its leases after every other advert only
/// ([`adverts_per_renewal`]): half the netlink elements at 1,000 routers, and from here the
/// margins of [`lease_for`] are at least 200 ms.
pub const SPARSE_RENEWAL_FROM: std::time::Duration = std::time::Duration::from_millis(500);

/// After how many adverts a Master renews its leases: 1 below [`SPARSE_RENEWAL_FROM`],
/// else 2 (see [`lease_for`] for the bounds).
pub fn adverts_per_renewal(advert_interval: std::time::Duration) -> u8 {
    if advert_interval < SPARSE_RENEWAL_FROM {
        1
    } else {
        2
    }
}

/// How long a Master's lease lives after its last renewal: two advertisement intervals
/// when it renews after every advert, two and a half when after every other one
/// ([`adverts_per_renewal`]).
///
/// A renewal is held back at most min(an eighth of the lease, 50 ms) to share a batch (see
/// `runtime::background`): at most a quarter of an interval below 500 ms, at most a tenth
/// from there. A backup takes over Master_Down_Interval = 3 × Master_Adver_Interval +
/// Skew_Time after the last advert it received, and Master_Adver_Interval is this interval
/// (RFC 9568 6.4.2: learned from our adverts; VRRPv2 requires it to be equal), Skew_Time ≥ 0,
/// whatever the peers' priorities. The worst case is a runtime that stops (SIGKILL,
/// SIGSTOP, a deadlock) right after an advert that renewed:
///
/// * every advert: silent at most 2.25 × interval after its last advert (margin 0.75
///   interval for the renewal's own latency); a live Master's renewals are at most 1.25
///   intervals apart, so its loop may be late by 0.75 interval before it stops answering.
/// * every other advert (≥ 500 ms): silent at most 2.5 × interval + 50 ms ≤ 2.6 intervals
///   after its last advert (margin ≥ 0.4 interval, 200 ms); a live Master's renewals are at
///   most 2 intervals + 50 ms apart, so its loop may be late by 0.5 interval − 50 ms
///   (≥ 200 ms) before it stops answering.
///
/// Either way a Master whose loop is that late has adverts late by as much: a backup is on
/// its way to taking over anyway.
pub fn lease_for(advert_interval: std::time::Duration) -> u32 {
    let ms = advert_interval.as_millis();
    let lease = match adverts_per_renewal(advert_interval) {
        1 => ms.saturating_mul(2),
        _ => ms.saturating_mul(5) / 2,
    };
    u32::try_from(lease).unwrap_or(u32::MAX)
}

/// What a Master renews after an advert: its device and VIPs, where they hold leases.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Renewal {
    pub device: Option<u32>,
    pub vips: Vec<IpAddr>,
    /// Its lease in ms ([`lease_for`] its interval): how long the renewal may be held back
    /// to share a batch depends on it.
    pub lease_ms: u32,
}

/// One instance becoming Master: what [`VipFilter::promote`] opens for it.
#[derive(Debug, Clone, Copy)]
pub struct Promotion<'a> {
    pub device: Option<u32>,
    pub vips: &'a [IpAddr],
    /// It accepts traffic to its VIPs as Master (see [`FilterState::add`]).
    pub accept: bool,
    /// Its leases ([`lease_for`]; 0 without lease renewal).
    pub lease_ms: u32,
}

impl FilterState {
    /// Turn one instance added as non-Master into the same instance as Master: afterwards
    /// the state is what [`Self::add`] with `master` would have made of it.
    fn promote(&mut self, p: &Promotion) {
        if let Some(d) = p.device {
            self.backup_devices.remove(&d);
        }
        if p.accept {
            for vip in p.vips {
                match vip {
                    IpAddr::V4(a) => self.block4.remove(a),
                    IpAddr::V6(a) => self.block6.remove(a),
                };
            }
        }
        self.add(p.vips, p.device, true, p.accept, p.lease_ms);
    }

    /// Only the elements keyed by `device` and `vips` (the maps' too): what one instance
    /// contributes, diffed without walking every other router's elements.
    fn only(&self, device: Option<u32>, vips: &[IpAddr]) -> FilterState {
        fn pick<K: Ord + Copy>(set: &BTreeSet<K>, keys: &[K]) -> BTreeSet<K> {
            keys.iter().filter(|k| set.contains(k)).copied().collect()
        }
        fn pick_map<K: Ord + Copy, V: Copy>(map: &BTreeMap<K, V>, keys: &[K]) -> BTreeMap<K, V> {
            keys.iter()
                .filter_map(|k| map.get(k).map(|v| (*k, *v)))
                .collect()
        }
        let dev: Vec<u32> = device.into_iter().collect();
        let v4: Vec<Ipv4Addr> = vips
            .iter()
            .filter_map(|v| match v {
                IpAddr::V4(a) => Some(*a),
                IpAddr::V6(_) => None,
            })
            .collect();
        let v6: Vec<Ipv6Addr> = vips
            .iter()
            .filter_map(|v| match v {
                IpAddr::V6(a) => Some(*a),
                IpAddr::V4(_) => None,
            })
            .collect();
        FilterState {
            vips4: pick(&self.vips4, &v4),
            vips6: pick(&self.vips6, &v6),
            devices4: pick(&self.devices4, &dev),
            devices: pick(&self.devices, &dev),
            primary4: BTreeMap::new(),
            backup_devices: pick(&self.backup_devices, &dev),
            block4: pick(&self.block4, &v4),
            block6: pick(&self.block6, &v6),
            nd6: pick(&self.nd6, &v6),
            live_devices: pick_map(&self.live_devices, &dev),
            live_devices4: pick_map(&self.live_devices4, &dev),
            live4: pick_map(&self.live4, &v4),
            live6: pick_map(&self.live6, &v6),
        }
    }

    /// Add one instance: its VIPs and its vrrp device. `master`: the instance is Master;
    /// `accept`: it accepts traffic to its VIPs when Master (accept-mode or address owner);
    /// `lease_ms`: the lifetime of a Master's leases (see [`lease_for`]).
    pub fn add(
        &mut self,
        vips: &[IpAddr],
        device: Option<u32>,
        master: bool,
        accept: bool,
        lease_ms: u32,
    ) {
        if let Some(d) = device {
            self.devices.insert(d);
            if master {
                self.live_devices.insert(d, lease_ms);
            } else {
                self.backup_devices.insert(d);
            }
        }
        for vip in vips {
            match vip {
                IpAddr::V4(a) => {
                    self.vips4.insert(*a);
                    if let Some(d) = device {
                        self.devices4.insert(d);
                        if master {
                            self.live_devices4.insert(d, lease_ms);
                        }
                    }
                    if !master || !accept {
                        self.block4.insert(*a);
                    } else {
                        self.live4.insert(*a, lease_ms);
                    }
                }
                IpAddr::V6(a) => {
                    self.vips6.insert(*a);
                    if !master || !accept {
                        self.block6.insert(*a);
                    } else {
                        self.live6.insert(*a, lease_ms);
                    }
                    if master && !accept {
                        self.nd6.insert(*a);
                    }
                }
            }
        }
    }
}

fn elements<T: std::fmt::Display>(set: &BTreeSet<T>) -> String {
    if set.is_empty() {
        return String::new();
    }
    let items: Vec<String> = set.iter().map(|e| e.to_string()).collect();
    format!(" elements = {{ {} }};", items.join(", "))
}

fn leases<T: std::fmt::Display>(map: &BTreeMap<T, u32>) -> String {
    if map.is_empty() {
        return String::new();
    }
    let items: Vec<String> = map
        .iter()
        .map(|(e, ms)| match ms {
            // Permanent: a kernel without lease renewal (see `host::LEASE_RENEWAL_KERNEL`).
            0 => e.to_string(),
            ms => format!("{e} timeout {ms}ms"),
        })
        .collect();
    format!(" elements = {{ {} }};", items.join(", "))
}

/// The nft script that replaces both tables atomically (one transaction).
pub fn render(s: &FilterState) -> String {
    let mut t = String::new();
    // "table X" first creates the table if missing, so the delete never fails.
    let _ = writeln!(t, "table inet netvrrp\ndelete table inet netvrrp");
    let _ = writeln!(t, "table arp netvrrp\ndelete table arp netvrrp");
    let _ = writeln!(
        t,
        "table inet netvrrp {{\n  set backupdev {{ type iface_index;{} }}\n  set block4 {{ type ipv4_addr;{} }}\n  set block6 {{ type ipv6_addr;{} }}\n  set nd6 {{ type ipv6_addr;{} }}",
        elements(&s.backup_devices),
        elements(&s.block4),
        elements(&s.block6),
        elements(&s.nd6)
    );
    let _ = writeln!(
        t,
        "  set vrrpdev {{ type iface_index;{} }}\n  set livedev {{ type iface_index; flags timeout;{} }}\n  set vips4 {{ type ipv4_addr;{} }}\n  set live4 {{ type ipv4_addr; flags timeout;{} }}\n  set vips6 {{ type ipv6_addr;{} }}\n  set live6 {{ type ipv6_addr; flags timeout;{} }}",
        elements(&s.devices),
        leases(&s.live_devices),
        elements(&s.vips4),
        leases(&s.live4),
        elements(&s.vips6),
        leases(&s.live6)
    );
    t += "  chain prerouting {\n    type filter hook prerouting priority raw; policy accept;\n";
    t += "    iif @backupdev counter drop\n";
    // The dead-man rules: a Master answers only while the runtime renews its leases.
    t += "    iif @vrrpdev iif != @livedev counter drop\n";
    t += "    ip daddr @block4 counter drop\n";
    t += "    ip daddr @vips4 ip daddr != @live4 counter drop\n";
    t += "    ip6 daddr @nd6 icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } accept\n";
    t += "    ip6 daddr @block6 counter drop\n";
    t += "    ip6 daddr @vips6 ip6 daddr != @live6 counter drop\n  }\n}\n";
    let _ = writeln!(
        t,
        "table arp netvrrp {{\n  set vip4 {{ type ipv4_addr;{} }}\n  set ourdev {{ type iface_index;{} }}\n  set livedev {{ type iface_index; flags timeout;{} }}",
        elements(&s.vips4),
        elements(&s.devices4),
        leases(&s.live_devices4)
    );
    let map: Vec<String> = s
        .primary4
        .iter()
        .map(|(i, a)| format!("{i} : {a}"))
        .collect();
    let map = if map.is_empty() {
        String::new()
    } else {
        format!(" elements = {{ {} }};", map.join(", "))
    };
    let _ = writeln!(t, "  map primary4 {{ type iface_index : ipv4_addr;{map} }}");
    t += "  chain output {\n    type filter hook output priority filter; policy accept;\n";
    t += "    arp operation request arp saddr ip @vip4 oif != @ourdev arp saddr ip set oif map @primary4\n  }\n";
    t += "  chain input {\n    type filter hook input priority filter; policy accept;\n";
    t += "    iif @ourdev iif != @livedev counter drop\n";
    t += "    arp operation request arp daddr ip @vip4 iif != @ourdev counter drop\n";
    t += "    arp operation request iif @ourdev arp daddr ip != @vip4 counter drop\n  }\n}\n";
    t
}

/// Where nft may be: root runs it by absolute path from the system directories only, never
/// through a PATH someone else may have set.
const NFT_PATHS: &[&str] = &["/usr/sbin/nft", "/sbin/nft", "/usr/bin/nft", "/bin/nft"];

/// The nft program, or an error naming nftables: the filter that keeps Backups from
/// answering for their VIPs cannot be installed without it.
pub fn nft_program() -> anyhow::Result<&'static str> {
    use std::os::unix::fs::PermissionsExt;
    NFT_PATHS
        .iter()
        .copied()
        .find(|p| {
            std::fs::metadata(p)
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
        .with_context(|| {
            format!(
                "nftables is not installed (no nft in {}): the filter that keeps a Backup from answering for its VIPs needs it; install the nftables package",
                NFT_PATHS.join(", ")
            )
        })
}

fn nft(script: &str) -> anyhow::Result<()> {
    let mut child = Command::new(nft_program()?)
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot run nft (is the nftables package installed?)")?;
    child
        .stdin
        .take()
        .context("nft has no stdin")?
        .write_all(script.as_bytes())
        .context("cannot write to nft")?;
    let out = child.wait_with_output().context("nft did not finish")?;
    if !out.status.success() {
        bail!(
            "nft refused the netvrrp tables: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// Which way [`VipFilter::sync`] brought the tables in line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncPath {
    /// Already as wanted: nothing written.
    Unchanged,
    /// Element deltas in one nf_tables netlink batch (see [`super::nft_netlink`]).
    Elements,
    /// Both tables replaced by `nft -f` (first install, or the fast path did not apply).
    Full,
}

/// A plain set: the elements that left `old` deleted, the new ones added.
fn set<T: Ord>(
    family: nft_netlink::Family,
    name: &'static str,
    old: &BTreeSet<T>,
    new: &BTreeSet<T>,
    key: impl Fn(&T) -> nft_netlink::ElemBytes,
) -> nft_netlink::SetDelta {
    let elem = |e: &T| nft_netlink::Elem {
        key: key(e),
        data: None,
        timeout_ms: None,
    };
    nft_netlink::SetDelta {
        family,
        table: "netvrrp",
        set: name,
        delete: old.difference(new).map(elem).collect(),
        add: new.difference(old).map(elem).collect(),
        timed: false,
    }
}
/// A lease set: added when new or its lifetime changed, renewed when named (an add of
/// an existing element with an expiration restarts its clock), destroyed when gone.
/// `same`: old and new are one state (a renewal only): just the named leases, no diff.
fn timed<T: Ord + Copy>(
    family: nft_netlink::Family,
    name: &'static str,
    (old, new, same): (&BTreeMap<T, u32>, &BTreeMap<T, u32>, bool),
    renew: &BTreeSet<T>,
    key: impl Fn(&T) -> nft_netlink::ElemBytes,
) -> nft_netlink::SetDelta {
    let elem = |e: &T, ms: u32| nft_netlink::Elem {
        key: key(e),
        data: None,
        // 0: a permanent element (no dead-man switch on this kernel).
        timeout_ms: (ms > 0).then_some(ms),
    };
    let (delete, add) = if same {
        let add = renew
            .iter()
            .filter_map(|k| new.get(k).map(|ms| elem(k, *ms)))
            .collect();
        (Vec::new(), add)
    } else {
        let delete = old
            .keys()
            .filter(|k| !new.contains_key(k))
            .map(|k| elem(k, 0))
            .collect();
        let add = new
            .iter()
            .filter(|(k, ms)| old.get(k) != Some(ms) || renew.contains(k))
            .map(|(k, ms)| elem(k, *ms))
            .collect();
        (delete, add)
    };
    nft_netlink::SetDelta {
        family,
        table: "netvrrp",
        set: name,
        delete,
        add,
        // Permanent elements never expire, so a plain delete finds them (and
        // DESTROYSETELEM needs Linux 6.3).
        timed: old.values().chain(new.values()).any(|&ms| ms > 0),
    }
}

/// The element deltas from `old` to `new` of every set and map (the only part of the tables
/// that depends on the state: their structure is fixed by [`render`]), plus the renewal of
/// every lease `renewals` name that `new` holds.
fn deltas(
    old: &FilterState,
    new: &FilterState,
    renewals: &[Renewal],
) -> Vec<nft_netlink::SetDelta> {
    use nft_netlink::{Elem, Family, SetDelta};
    let mut renew_dev = BTreeSet::new();
    let (mut renew4, mut renew6) = (BTreeSet::new(), BTreeSet::new());
    for r in renewals {
        renew_dev.extend(r.device);
        for vip in &r.vips {
            match vip {
                IpAddr::V4(a) => renew4.insert(*a),
                IpAddr::V6(a) => renew6.insert(*a),
            };
        }
    }
    // iface_index is the kernel's host-order u32; addresses are in network order.
    let ifindex = |i: &u32| nft_netlink::ElemBytes::from(i.to_ne_bytes());
    let v4 = |a: &Ipv4Addr| nft_netlink::ElemBytes::from(a.octets());
    let v6 = |a: &Ipv6Addr| nft_netlink::ElemBytes::from(a.octets());
    let (inet, arp) = (Family::Inet, Family::Arp);
    let mut primary4 = SetDelta {
        family: arp,
        table: "netvrrp",
        set: "primary4",
        delete: Vec::new(),
        add: Vec::new(),
        timed: false,
    };
    let pair = |i: &u32, a: &Ipv4Addr| Elem {
        key: ifindex(i),
        data: Some(v4(a)),
        timeout_ms: None,
    };
    for (i, a) in &old.primary4 {
        if new.primary4.get(i) != Some(a) {
            primary4.delete.push(pair(i, a));
        }
    }
    for (i, a) in &new.primary4 {
        if old.primary4.get(i) != Some(a) {
            primary4.add.push(pair(i, a));
        }
    }
    let (o, n) = (old, new);
    // A renewal alone (the same state): nothing but the leases can differ, and diffing every
    // set on every loop turn with adverts would cost O(routers) each time.
    let same = std::ptr::eq(old, new);
    let mut all = Vec::new();
    if !same {
        all.extend([
            set(
                inet,
                "backupdev",
                &o.backup_devices,
                &n.backup_devices,
                ifindex,
            ),
            set(inet, "block4", &o.block4, &n.block4, v4),
            set(inet, "block6", &o.block6, &n.block6, v6),
            set(inet, "nd6", &o.nd6, &n.nd6, v6),
            set(inet, "vrrpdev", &o.devices, &n.devices, ifindex),
            set(inet, "vips4", &o.vips4, &n.vips4, v4),
            set(inet, "vips6", &o.vips6, &n.vips6, v6),
            set(arp, "vip4", &o.vips4, &n.vips4, v4),
            set(arp, "ourdev", &o.devices4, &n.devices4, ifindex),
            primary4,
        ]);
    }
    all.extend([
        timed(
            inet,
            "livedev",
            (&o.live_devices, &n.live_devices, same),
            &renew_dev,
            ifindex,
        ),
        timed(inet, "live4", (&o.live4, &n.live4, same), &renew4, v4),
        timed(inet, "live6", (&o.live6, &n.live6, same), &renew6, v6),
        timed(
            arp,
            "livedev",
            (&o.live_devices4, &n.live_devices4, same),
            &renew_dev,
            ifindex,
        ),
    ]);
    all.into_iter()
        .filter(|d| !d.delete.is_empty() || !d.add.is_empty())
        .collect()
}

/// The installed filter; only writes when the wanted state differs from the installed one.
#[derive(Debug, Default)]
pub struct VipFilter {
    installed: Option<FilterState>,
    /// nf_tables generation right after our last write: the fast path is only taken while
    /// nobody else committed since (else our tables may be gone or edited).
    generation: Option<u32>,
    /// Opened at the first full install, in the namespace `nft` runs in.
    sock: Option<nft_netlink::Sock>,
    /// The stamp of the last promotion ([`Self::promote`]): a state stamped before it was
    /// computed before that router became Master, so it is older than what is installed.
    promoted_at: Option<u64>,
}

impl VipFilter {
    pub fn sync(&mut self, wanted: &FilterState) -> anyhow::Result<()> {
        self.sync_path(wanted).map(|_| ())
    }

    /// [`Self::sync`], saying which path ran.
    pub fn sync_path(&mut self, wanted: &FilterState) -> anyhow::Result<SyncPath> {
        self.update(Some(wanted.clone()), &[])
    }

    /// Open the filter for one router that has just become Master, from the election loop
    /// before its first advert leaves: a host that hears the advert may send at once, and
    /// the Backup block would drop that (measured: 1 to 10 ms on a busy machine when the
    /// filter task did it after the advert, and hosts lost their first packets to the new
    /// Master in 3 of 10 runs). Only the router's own elements, as one element batch (tens
    /// of microseconds). `stamp` orders it among the states the loop hands the filter task:
    /// states stamped before it are skipped ([`Self::is_stale`]); the state change that
    /// caused the promotion makes the loop send a newer one.
    ///
    /// Ok(false) when there is no fast path (nothing installed, a foreign commit): the
    /// filter task's next sync opens it. An error changed nothing.
    pub fn promote(&mut self, p: &Promotion, stamp: u64) -> anyhow::Result<bool> {
        let (Some(installed), Some(genid), Some(sock)) =
            (self.installed.as_mut(), self.generation, self.sock.as_mut())
        else {
            return Ok(false);
        };
        let before = installed.only(p.device, p.vips);
        let mut after = before.clone();
        after.promote(p);
        let deltas = deltas(&before, &after, &[]);
        if !deltas.is_empty() {
            self.generation = Some(nft_netlink::apply(sock, genid, &deltas)?);
        }
        installed.promote(p);
        self.promoted_at = Some(stamp);
        Ok(true)
    }

    /// Was a state stamped `stamp` computed before the last promotion (see
    /// [`Self::promote`])?
    pub fn is_stale(&self, stamp: u64) -> bool {
        self.promoted_at.is_some_and(|p| stamp < p)
    }

    /// Bring the tables to `wanted` (None: keep the installed state) and renew the leases
    /// `renewals` name, all in one transaction. Renewals of leases the state does not hold
    /// (a router that left Master since) are ignored; with nothing installed there is
    /// nothing to renew (the next state change installs the tables again).
    pub fn update(
        &mut self,
        wanted: Option<FilterState>,
        renewals: &[Renewal],
    ) -> anyhow::Result<SyncPath> {
        let (wanted, unchanged) = match wanted {
            Some(w) => {
                let same = self.installed.as_ref() == Some(&w);
                (w, same)
            }
            None => match self.installed.take() {
                Some(i) => (i, true),
                None => return Ok(SyncPath::Unchanged),
            },
        };
        if unchanged && renewals.is_empty() {
            self.installed = Some(wanted);
            return Ok(SyncPath::Unchanged);
        }
        let old = if unchanged {
            Some(&wanted)
        } else {
            self.installed.as_ref()
        };
        if let (Some(old), Some(genid), Some(sock)) = (old, self.generation, self.sock.as_mut()) {
            let started = std::time::Instant::now();
            let deltas = deltas(old, &wanted, renewals);
            if deltas.is_empty() {
                self.installed = Some(wanted);
                return Ok(SyncPath::Unchanged);
            }
            match nft_netlink::apply(sock, genid, &deltas) {
                Ok(next) => {
                    tracing::debug!(target: "netvrrp::kernel", elapsed_us = started.elapsed().as_micros() as u64, renewals = renewals.len(), "VIP filter: element batch");
                    self.installed = Some(wanted);
                    self.generation = Some(next);
                    return Ok(SyncPath::Elements);
                }
                Err(e) => {
                    tracing::debug!(target: "netvrrp::kernel", "VIP filter: element batch not applied ({e:#}), replacing the tables");
                    // The socket stays: answers left unread carry old sequence numbers,
                    // which later requests skip (closing it would cost an RCU grace period).
                }
            }
        }
        // Forget the old state first: should nft fail, the next sync must not trust the
        // kernel to hold it.
        self.installed = None;
        self.generation = None;
        if self.sock.is_none() {
            self.sock = nft_netlink::Sock::open()
                .inspect_err(|e| tracing::debug!(target: "netvrrp::kernel", "no netfilter socket ({e:#}): element batches disabled"))
                .ok();
        }
        // The generation before and after: `nft -f` commits once, so anything but one step
        // means somebody else committed in between, and what they did is not known.
        let before = self.generation_now();
        let started = std::time::Instant::now();
        nft(&render(&wanted))?;
        tracing::debug!(target: "netvrrp::kernel", elapsed_us = started.elapsed().as_micros() as u64, "VIP filter: tables replaced by nft -f");
        self.installed = Some(wanted);
        // Without a generation the next change simply takes the full path again.
        self.generation = match (before, self.generation_now()) {
            (Some(b), Some(a)) if a == nft_netlink::next_generation(b) => Some(a),
            _ => None,
        };
        Ok(SyncPath::Full)
    }

    /// The current nf_tables generation, if the netfilter socket answers.
    fn generation_now(&mut self) -> Option<u32> {
        match nft_netlink::generation(self.sock.as_mut()?) {
            Ok(g) => Some(g),
            Err(e) => {
                tracing::debug!(target: "netvrrp::kernel", "no nf_tables generation ({e:#}): element batches disabled until the next install");
                self.sock = None;
                None
            }
        }
    }

    /// Delete both tables (runtime stop).
    pub fn remove(&mut self) -> anyhow::Result<()> {
        self.installed = None;
        self.generation = None;
        nft(
            "table inet netvrrp\ndelete table inet netvrrp\ntable arp netvrrp\ndelete table arp netvrrp\n",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // ledger: R9568-6.1-d R9568-6.4.2-d R9568-6.4.3-c R9568-8.3.1-a R3768-6.4.3-a
    // ledger: R9568-6.4.2-c R9568-6.1-f
    #[test]
    fn backup_blocks_master_accepts_unless_accept_mode_off() {
        let mut s = FilterState::default();
        let v4: IpAddr = "192.0.2.1".parse().unwrap();
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        s.add(&[v4, v6], Some(7), false, true, 2000);
        assert_eq!(
            s.backup_devices.iter().copied().collect::<Vec<_>>(),
            vec![7]
        );
        assert!(render(&s).contains("set backupdev { type iface_index; elements = { 7 }; }"));
        assert!(render(&s).contains("iif @backupdev counter drop"));
        assert!(s.block4.contains(&"192.0.2.1".parse().unwrap()));
        assert!(s.block6.contains(&"2001:db8::1".parse().unwrap()));
        assert!(s.nd6.is_empty());

        let mut m = FilterState::default();
        m.add(&[v4, v6], Some(7), true, true, 2000);
        assert!(m.block4.is_empty() && m.block6.is_empty());
        assert!(
            m.backup_devices.is_empty(),
            "a Master's device takes traffic"
        );
        assert_eq!(m.devices4.iter().copied().collect::<Vec<_>>(), vec![7]);

        let mut strict = FilterState::default();
        strict.add(&[v4, v6], Some(7), true, false, 2000);
        strict.primary4.insert(2, "192.0.2.2".parse().unwrap());
        assert!(!strict.block4.is_empty() && !strict.block6.is_empty());
        assert!(!strict.nd6.is_empty());
        let text = render(&strict);
        assert!(text.contains("elements = { 192.0.2.1 }"), "{text}");
        // Accept_Mode False still lets Neighbor Discovery for the VIPs through: the ND accept
        // rule comes before the drop of traffic to the VIPs (rules match in order).
        let nd = text.find("ip6 daddr @nd6 icmpv6 type").unwrap();
        let drop6 = text.find("ip6 daddr @block6 counter drop").unwrap();
        assert!(nd < drop6, "{text}");
        assert!(
            text.contains("set ourdev { type iface_index; elements = { 7 }; }"),
            "{text}"
        );
        assert!(text.contains("elements = { 2 : 192.0.2.2 }"), "{text}");
    }

    /// A Master holds leases on its device (both tables for IPv4) and, when it accepts
    /// traffic, on its VIPs; a Backup holds none, and every device and VIP is under the
    /// dead-man rules whatever its state.
    #[test]
    fn masters_hold_leases_backups_none() {
        let v4: IpAddr = "192.0.2.1".parse().unwrap();
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        let mut b = FilterState::default();
        b.add(&[v4], Some(7), false, true, 2000);
        b.add(&[v6], Some(8), false, true, 2000);
        assert!(b.live_devices.is_empty() && b.live_devices4.is_empty());
        assert!(b.live4.is_empty() && b.live6.is_empty());
        assert_eq!(b.devices.iter().copied().collect::<Vec<_>>(), vec![7, 8]);
        let mut m = FilterState::default();
        m.add(&[v4], Some(7), true, true, 2000);
        m.add(&[v6], Some(8), true, false, 60);
        assert_eq!(m.live_devices.get(&7), Some(&2000));
        assert_eq!(m.live_devices.get(&8), Some(&60));
        assert_eq!(m.live_devices4.keys().copied().collect::<Vec<_>>(), vec![7]);
        assert_eq!(m.live4.get(&"192.0.2.1".parse().unwrap()), Some(&2000));
        assert!(m.live6.is_empty(), "accept-mode off: no lease on the VIP");
        let text = render(&m);
        for line in [
            "set livedev { type iface_index; flags timeout; elements = { 7 timeout 2000ms, 8 timeout 60ms }; }",
            "set live4 { type ipv4_addr; flags timeout; elements = { 192.0.2.1 timeout 2000ms }; }",
            "iif @vrrpdev iif != @livedev counter drop",
            "ip daddr @vips4 ip daddr != @live4 counter drop",
            "ip6 daddr @vips6 ip6 daddr != @live6 counter drop",
            "iif @ourdev iif != @livedev counter drop",
        ] {
            assert!(text.contains(line), "{line} missing from {text}");
        }
    }

    /// Below 500 ms: renewed after every advert, two intervals. From 500 ms: after every
    /// other advert, two and a half intervals, which still ends before Master_Down_Interval
    /// (3 intervals) with the 50 ms a renewal may wait for its batch.
    #[test]
    fn lease_is_two_intervals_or_two_and_a_half_when_renewed_every_other_advert() {
        use std::time::Duration;
        assert_eq!(lease_for(Duration::from_millis(10)), 20);
        assert_eq!(adverts_per_renewal(Duration::from_millis(10)), 1);
        assert_eq!(lease_for(Duration::from_millis(499)), 998);
        assert_eq!(adverts_per_renewal(Duration::from_millis(499)), 1);
        assert_eq!(lease_for(Duration::from_millis(500)), 1250);
        assert_eq!(adverts_per_renewal(Duration::from_millis(500)), 2);
        assert_eq!(lease_for(Duration::from_secs(1)), 2500);
        assert_eq!(adverts_per_renewal(Duration::from_secs(1)), 2);
        assert_eq!(lease_for(Duration::from_secs(40)), 100_000);
        for ms in [10u64, 100, 499, 500, 1000, 40_000] {
            let i = Duration::from_millis(ms);
            let every = u64::from(adverts_per_renewal(i));
            let lease = u64::from(lease_for(i));
            // Dead: a lease renewed (up to 50 ms late) after the last advert ends before a
            // backup takes over.
            let held = (lease / 8).min(50);
            assert!(lease + held < 3 * ms, "{ms} ms: dead box answers too long");
            // Live: the next renewal comes `every` intervals later (held back as much).
            assert!(
                every * ms + held < lease,
                "{ms} ms: live Master's lease lapses"
            );
        }
    }

    /// Deltas: entering Master adds the leases, a renewal re-adds only leases the state
    /// holds, leaving Master destroys them (DESTROY: no error if already expired).
    #[test]
    fn lease_deltas_add_renew_and_destroy() {
        let v4: IpAddr = "192.0.2.1".parse().unwrap();
        let mut backup = FilterState::default();
        backup.add(&[v4], Some(7), false, true, 2000);
        let mut master = FilterState::default();
        master.add(&[v4], Some(7), true, true, 2000);
        let names = |d: &[nft_netlink::SetDelta], f: fn(&nft_netlink::SetDelta) -> bool| {
            let mut v: Vec<String> = d
                .iter()
                .filter(|x| f(x))
                .map(|x| format!("{:?}/{}", x.family, x.set))
                .collect();
            v.sort();
            v
        };
        let enter = deltas(&backup, &master, &[]);
        assert_eq!(
            names(&enter, |d| d.timed && !d.add.is_empty()),
            vec!["Arp/livedev", "Inet/live4", "Inet/livedev"]
        );
        assert!(
            enter
                .iter()
                .filter(|d| d.timed)
                .all(|d| d.add.iter().all(|e| e.timeout_ms == Some(2000)))
        );
        let renewal = Renewal {
            device: Some(7),
            vips: vec![v4],
            lease_ms: 2000,
        };
        let renew = deltas(&master, &master, std::slice::from_ref(&renewal));
        assert_eq!(
            names(&renew, |d| d.timed
                && d.add.len() == 1
                && d.delete.is_empty()),
            vec!["Arp/livedev", "Inet/live4", "Inet/livedev"]
        );
        assert_eq!(renew.len(), 3, "a renewal touches the leases only");
        assert!(
            deltas(&backup, &backup, &[renewal]).is_empty(),
            "a Backup renews nothing"
        );
        let leave = deltas(&master, &backup, &[]);
        assert_eq!(
            names(&leave, |d| d.timed && !d.delete.is_empty()),
            vec!["Arp/livedev", "Inet/live4", "Inet/livedev"]
        );
    }

    /// A promotion makes of one non-Master instance exactly what adding it as Master makes,
    /// leaves the other instances alone, and its batch holds that instance's elements only.
    #[test]
    fn promotion_is_the_instance_added_as_master_and_touches_only_it() {
        let a: Vec<IpAddr> = vec!["192.0.2.1".parse().unwrap(), "2001:db8::1".parse().unwrap()];
        let b: Vec<IpAddr> = vec!["198.51.100.1".parse().unwrap()];
        for accept in [true, false] {
            let state = |a_master: bool| {
                let mut s = FilterState::default();
                s.add(&a, Some(7), a_master, accept, 200);
                s.add(&b, Some(8), false, true, 200);
                s.primary4.insert(2, "192.0.2.2".parse().unwrap());
                s
            };
            let p = Promotion {
                device: Some(7),
                vips: &a,
                accept,
                lease_ms: 200,
            };
            let mut promoted = state(false);
            promoted.promote(&p);
            assert_eq!(promoted, state(true), "accept {accept}");

            let (before, after) = (
                state(false).only(Some(7), &a),
                state(true).only(Some(7), &a),
            );
            assert!(before.backup_devices.contains(&7) && !before.devices.contains(&8));
            assert!(after.live_devices.contains_key(&7) && after.primary4.is_empty());
            let touched = deltas(&before, &after, &[]);
            let keys: Vec<&[u8]> = touched
                .iter()
                .flat_map(|d| d.add.iter().chain(&d.delete))
                .map(|e| e.key.as_slice())
                .collect();
            assert!(!keys.is_empty());
            let ours = [
                7u32.to_ne_bytes().to_vec(),
                vec![192, 0, 2, 1],
                "2001:db8::1".parse::<Ipv6Addr>().unwrap().octets().to_vec(),
            ];
            for k in keys {
                assert!(ours.iter().any(|o| o == k), "{k:?} is not instance a's");
            }
        }
    }

    /// A kernel without lease renewal (`host::LEASE_RENEWAL_KERNEL`): lease 0 makes the
    /// leases permanent elements (no timeout in the ruleset or on the wire) deleted with a
    /// plain DELSETELEM, so a live Master never loses its answers and nothing needs 6.3.
    #[test]
    fn lease_zero_is_a_permanent_element_for_old_kernels() {
        let v4: IpAddr = "192.0.2.1".parse().unwrap();
        let mut backup = FilterState::default();
        backup.add(&[v4], Some(7), false, true, 0);
        let mut master = FilterState::default();
        master.add(&[v4], Some(7), true, true, 0);
        let text = render(&master);
        assert!(
            text.contains("set live4 { type ipv4_addr; flags timeout; elements = { 192.0.2.1 }; }"),
            "{text}"
        );
        assert!(!text.contains("timeout 0ms"), "{text}");
        for (from, to) in [(&backup, &master), (&master, &backup)] {
            let changed = deltas(from, to, &[]);
            let leases: Vec<_> = changed
                .iter()
                .filter(|d| d.set.starts_with("live"))
                .collect();
            assert_eq!(leases.len(), 3, "{changed:?}");
            for d in leases {
                assert!(!d.timed, "{d:?}: DESTROYSETELEM needs Linux 6.3");
                assert!(d.add.iter().all(|e| e.timeout_ms.is_none()), "{d:?}");
            }
        }
    }
}
