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
    /// Every IPv4 VIP of every instance (the ARP rules).
    pub vips4: BTreeSet<Ipv4Addr>,
    /// ifindexes of the vrrp4 devices.
    pub devices4: BTreeSet<u32>,
    /// Primary IPv4 address of each parent (ifindex) carrying IPv4 instances.
    pub primary4: BTreeMap<u32, Ipv4Addr>,
    /// ifindexes of the vrrp devices (either family) of instances that are not Master.
    pub backup_devices: BTreeSet<u32>,
    /// IPv4 destinations to drop (non-Master VIPs; Master VIPs without accept-mode).
    pub block4: BTreeSet<Ipv4Addr>,
    pub block6: BTreeSet<Ipv6Addr>,
    /// IPv6 VIPs for which Neighbor Discovery stays allowed although other traffic is dropped.
    pub nd6: BTreeSet<Ipv6Addr>,
}

impl FilterState {
    /// Add one instance: its VIPs and its vrrp device. `master`: the instance is Master;
    /// `accept`: it accepts traffic to its VIPs when Master (accept-mode or address owner).
    pub fn add(&mut self, vips: &[IpAddr], device: Option<u32>, master: bool, accept: bool) {
        if let (Some(d), false) = (device, master) {
            self.backup_devices.insert(d);
        }
        for vip in vips {
            match vip {
                IpAddr::V4(a) => {
                    self.vips4.insert(*a);
                    if let Some(d) = device {
                        self.devices4.insert(d);
                    }
                    if !master || !accept {
                        self.block4.insert(*a);
                    }
                }
                IpAddr::V6(a) => {
                    if !master || !accept {
                        self.block6.insert(*a);
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
    t += "  chain prerouting {\n    type filter hook prerouting priority raw; policy accept;\n";
    t += "    iif @backupdev counter drop\n";
    t += "    ip daddr @block4 counter drop\n";
    t += "    ip6 daddr @nd6 icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } accept\n";
    t += "    ip6 daddr @block6 counter drop\n  }\n}\n";
    let _ = writeln!(
        t,
        "table arp netvrrp {{\n  set vip4 {{ type ipv4_addr;{} }}\n  set ourdev {{ type iface_index;{} }}",
        elements(&s.vips4),
        elements(&s.devices4)
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

/// The element deltas from `old` to `new` of every set and map: the only part of the tables
/// that depends on the state (their structure is fixed by [`render`]).
fn deltas(old: &FilterState, new: &FilterState) -> Vec<nft_netlink::SetDelta> {
    use nft_netlink::{Elem, Family, SetDelta};
    fn set<T: Ord>(
        family: Family,
        table: &'static str,
        name: &'static str,
        old: &BTreeSet<T>,
        new: &BTreeSet<T>,
        key: impl Fn(&T) -> Vec<u8>,
    ) -> SetDelta {
        let elem = |e: &T| Elem {
            key: key(e),
            data: None,
        };
        SetDelta {
            family,
            table,
            set: name,
            delete: old.difference(new).map(elem).collect(),
            add: new.difference(old).map(elem).collect(),
        }
    }
    // iface_index is the kernel's host-order u32; addresses are in network order.
    let ifindex = |i: &u32| i.to_ne_bytes().to_vec();
    let v4 = |a: &Ipv4Addr| a.octets().to_vec();
    let v6 = |a: &Ipv6Addr| a.octets().to_vec();
    let (inet, arp) = (Family::Inet, Family::Arp);
    let mut primary4 = SetDelta {
        family: arp,
        table: "netvrrp",
        set: "primary4",
        delete: Vec::new(),
        add: Vec::new(),
    };
    for (i, a) in &old.primary4 {
        if new.primary4.get(i) != Some(a) {
            primary4.delete.push(Elem {
                key: ifindex(i),
                data: Some(v4(a)),
            });
        }
    }
    for (i, a) in &new.primary4 {
        if old.primary4.get(i) != Some(a) {
            primary4.add.push(Elem {
                key: ifindex(i),
                data: Some(v4(a)),
            });
        }
    }
    let all = [
        set(
            inet,
            "netvrrp",
            "backupdev",
            &old.backup_devices,
            &new.backup_devices,
            ifindex,
        ),
        set(inet, "netvrrp", "block4", &old.block4, &new.block4, v4),
        set(inet, "netvrrp", "block6", &old.block6, &new.block6, v6),
        set(inet, "netvrrp", "nd6", &old.nd6, &new.nd6, v6),
        set(arp, "netvrrp", "vip4", &old.vips4, &new.vips4, v4),
        set(
            arp,
            "netvrrp",
            "ourdev",
            &old.devices4,
            &new.devices4,
            ifindex,
        ),
        primary4,
    ];
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
}

impl VipFilter {
    pub fn sync(&mut self, wanted: &FilterState) -> anyhow::Result<()> {
        self.sync_path(wanted).map(|_| ())
    }

    /// [`Self::sync`], saying which path ran.
    pub fn sync_path(&mut self, wanted: &FilterState) -> anyhow::Result<SyncPath> {
        if self.installed.as_ref() == Some(wanted) {
            return Ok(SyncPath::Unchanged);
        }
        if let (Some(old), Some(genid), Some(sock)) =
            (&self.installed, self.generation, self.sock.as_mut())
        {
            let started = std::time::Instant::now();
            match nft_netlink::apply(sock, genid, &deltas(old, wanted)) {
                Ok(next) => {
                    tracing::debug!(target: "netvrrp::kernel", elapsed_us = started.elapsed().as_micros() as u64, "VIP filter: element batch");
                    self.installed = Some(wanted.clone());
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
        nft(&render(wanted))?;
        tracing::debug!(target: "netvrrp::kernel", elapsed_us = started.elapsed().as_micros() as u64, "VIP filter: tables replaced by nft -f");
        self.installed = Some(wanted.clone());
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
        s.add(&[v4, v6], Some(7), false, true);
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
        m.add(&[v4, v6], Some(7), true, true);
        assert!(m.block4.is_empty() && m.block6.is_empty());
        assert!(
            m.backup_devices.is_empty(),
            "a Master's device takes traffic"
        );
        assert_eq!(m.devices4.iter().copied().collect::<Vec<_>>(), vec![7]);

        let mut strict = FilterState::default();
        strict.add(&[v4, v6], Some(7), true, false);
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
}
