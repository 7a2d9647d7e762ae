//! Negative tests of the RFC ledger (docs/rfc9568.md) that need the kernel: the namespace
//! is set up to provoke what a requirement forbids (kernel defaults that would give another
//! TTL, hop limit or interface identifier) and the test shows netvrrp does not do it.
//!
//! Two namespaces joined by a veth: `r` runs netvrrp (10.N.0.1, VIPs .200 and
//! 2001:db8:N::200), `w` watches the wire with tcpdump. Needs root, iproute2 and tcpdump;
//! both namespaces and every process go away when a test ends, also on failure.

mod common;

use common::lab::{Frame, Tcpdump};
use common::{Netns, wait_until};
use serde_json::Value;
use std::fs;
use std::net::Ipv6Addr;
use std::time::Duration;

const VRID: u8 = 12;
const LIMIT: Duration = Duration::from_secs(8);

/// The router and the watcher, joined by `eth0`.
struct Link {
    r: Netns,
    w: Netns,
    net: u8,
}

impl Link {
    /// `setup` runs in the router's namespace before its `eth0` exists (sysctls whose
    /// `default` must reach the devices created later).
    fn new(tag: &str, net: u8, setup: impl FnOnce(&Netns)) -> Link {
        let r = Netns::new(&format!("{tag}-r"));
        let w = Netns::new(&format!("{tag}-w"));
        for ns in [&r, &w] {
            ns.ok(&[
                "sysctl",
                "-qw",
                "net.ipv6.conf.all.accept_dad=0",
                "net.ipv6.conf.default.accept_dad=0",
            ]);
        }
        setup(&r);
        r.veth_to("eth0", &w, "eth0");
        r.ip_ok(&["addr", "add", &format!("10.{net}.0.1/24"), "dev", "eth0"]);
        w.ip_ok(&["addr", "add", &format!("10.{net}.0.2/24"), "dev", "eth0"]);
        // The IPv6 adverts leave from the parent's link-local: it must exist before apply.
        wait_until(
            LIMIT,
            || "link-local on the router's eth0".into(),
            || link_locals(&r, "eth0").into_iter().next(),
        );
        Link { r, w, net }
    }

    /// One router, priority 200: VRRPv3 dual-stack with 100 ms adverts, or VRRPv2 (IPv4
    /// only) with 1 s adverts; waits until every instance is Master.
    fn run_router(&self, version: u8) {
        let net = self.net;
        let (defaults, ipv6, rows) = match version {
            2 => (
                "version = 2\nadvertisement-interval = 1000",
                String::new(),
                1,
            ),
            _ => (
                "advertisement-interval = 100",
                format!("ipv6 = [\"2001:db8:{net:x}::200/64\"]\n"),
                2,
            ),
        };
        let text = format!(
            "[defaults]\n{defaults}\n\n[[vrrp]]\ninterface = \"eth0\"\nvrid = {VRID}\npriority = 200\nipv4 = [\"10.{net}.0.200/24\"]\n{ipv6}"
        );
        let path = self.r.dir().join("ledger.toml");
        fs::write(&path, text).expect("write config");
        let out = self
            .r
            .netvrrp(&["-v", "apply", "-f", &path.to_string_lossy()]);
        assert!(out.status.success(), "apply: {}", common::text(&out));
        wait_until(
            LIMIT,
            || format!("{rows} instance(s) Master: {:?}", show(&self.r)),
            || {
                let now = show(&self.r)?;
                (now.len() == rows && now.iter().all(|r| r["state"] == "master")).then_some(())
            },
        );
    }
}

fn show(ns: &Netns) -> Option<Vec<Value>> {
    let out = ns.netvrrp(&["show", "vrrp", "--json"]);
    serde_json::from_slice::<Value>(&out.stdout).ok()?["routers"]
        .as_array()
        .cloned()
}

/// The link-local addresses of `dev` in `ns`.
fn link_locals(ns: &Netns, dev: &str) -> Vec<Ipv6Addr> {
    let v = ns.ip_json(&["-6", "addr", "show", "dev", dev, "scope", "link"]);
    v[0]["addr_info"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|i| i["local"].as_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

fn mac(ns: &Netns, dev: &str) -> [u8; 6] {
    let v = ns.ip_json(&["link", "show", "dev", dev]);
    let text = v[0]["address"].as_str().expect("a MAC address");
    let bytes: Vec<u8> = text
        .split(':')
        .map(|b| u8::from_str_radix(b, 16).expect("hex"))
        .collect();
    bytes.try_into().expect("six bytes")
}

/// (family, TTL or hop limit, Ethernet source) of a VRRP advert; None for other frames.
/// Decoded here, independently of netvrrp's codec.
fn advert(f: &Frame) -> Option<(&'static str, u8, [u8; 6])> {
    let p = &f.payload;
    match f.ethertype {
        0x0800 if p.len() >= 20 && p[9] == 112 => Some(("ipv4", p[8], f.src)),
        0x86dd if p.len() >= 40 && p[6] == 112 => Some(("ipv6", p[7], f.src)),
        _ => None,
    }
}

// ledger: R9568-5.1.1.3-a R9568-5.1.2.3-a R9568-7.2-a
/// The router's kernel is told to send everything with TTL 1 and hop limit 1 (the values
/// that would keep an advert from being accepted anywhere); every advert still leaves with
/// 255, and from the virtual MAC, never from the parent's own MAC.
#[test]
fn adverts_keep_ttl_255_and_the_virtual_mac_against_kernel_defaults() {
    adverts_against_kernel_defaults("nvlg-ttl", 61, 3, &["ipv4", "ipv6"], 20);
}

// ledger: R3768-7.2-a
/// The same for VRRPv2 (IPv4, 1 s adverts).
#[test]
fn v2_adverts_keep_ttl_255_and_the_virtual_mac_against_kernel_defaults() {
    adverts_against_kernel_defaults("nvlg-ttl2", 63, 2, &["ipv4"], 3);
}

/// TTL / hop limit 1 as the namespace's defaults, then `count` adverts per family of a
/// VRRPv`version` router, each checked for 255 and the virtual MAC.
fn adverts_against_kernel_defaults(
    tag: &str,
    net: u8,
    version: u8,
    families: &[&str],
    count: usize,
) {
    let link = Link::new(tag, net, |r| {
        r.ok(&[
            "sysctl",
            "-qw",
            "net.ipv4.ip_default_ttl=1",
            "net.ipv6.conf.all.hop_limit=1",
            "net.ipv6.conf.default.hop_limit=1",
        ]);
    });
    // The provocation took: a packet the kernel builds itself leaves with TTL / hop limit 1.
    let probe = Tcpdump::start(&link.w, "eth0", &[], Some("icmp or icmp6"));
    link.r.exec(&[
        "ping",
        "-c",
        "1",
        "-W",
        "1",
        &format!("10.{}.0.2", link.net),
    ]);
    wait_until(
        LIMIT,
        || "the kernel's own echo request".into(),
        || {
            probe
                .frames()
                .iter()
                .find(|f| f.ethertype == 0x0800 && f.payload.get(9) == Some(&1))
                .map(|f| assert_eq!(f.payload[8], 1, "ip_default_ttl not in effect"))
        },
    );
    let parent = mac(&link.r, "eth0");
    let cap = Tcpdump::start(&link.w, "eth0", &[], Some("ip proto 112 or ip6 proto 112"));
    link.run_router(version);
    let adverts = wait_until(
        LIMIT,
        || format!("{count} adverts per family; {} frames", cap.frames().len()),
        || {
            let all: Vec<_> = cap.frames().iter().filter_map(advert).collect();
            families
                .iter()
                .all(|fam| all.iter().filter(|a| a.0 == *fam).count() >= count)
                .then_some(all)
        },
    );
    for (family, ttl, src) in adverts {
        let vmac = [0, 0, 0x5e, 0, if family == "ipv4" { 1 } else { 2 }, VRID];
        assert_eq!(ttl, 255, "{family} advert with TTL/hop limit {ttl}");
        assert_ne!(src, parent, "{family} advert from the parent's MAC");
        assert_eq!(src, vmac, "{family} advert not from the virtual MAC");
    }
}

// ledger: R9568-7.4-a
/// With the kernel's default interface-identifier generation set to EUI-64 (the mode that
/// would derive it from the device's MAC), the vrrp6 device of an Active Router, whose MAC is
/// the virtual MAC, still gets a link-local address that is not derived from it.
#[test]
fn vrrp6_link_local_is_not_derived_from_the_virtual_mac() {
    let link = Link::new("nvlg-iid", 62, |r| {
        r.ok(&[
            "sysctl",
            "-qw",
            "net.ipv6.conf.all.addr_gen_mode=0",
            "net.ipv6.conf.default.addr_gen_mode=0",
        ]);
    });
    // The provocation took: the parent's own link-local is its EUI-64 one.
    let parent = mac(&link.r, "eth0");
    assert_eq!(link_locals(&link.r, "eth0"), [eui64_link_local(parent)]);
    link.run_router(3);
    let vmac = [0, 0, 0x5e, 0, 2, VRID];
    let vmac_text = vmac.map(|b| format!("{b:02x}")).join(":");
    let links = link.r.ip_json(&["-d", "link", "show", "type", "macvlan"]);
    let dev = links
        .as_array()
        .into_iter()
        .flatten()
        .find(|l| l["address"] == vmac_text.as_str())
        .and_then(|l| l["ifname"].as_str())
        .unwrap_or_else(|| panic!("no macvlan with the IPv6 virtual MAC: {links}"))
        .to_string();
    assert_eq!(mac(&link.r, &dev), vmac);
    // Active: carrier on, so the kernel has made its link-local by now or soon.
    let lls = wait_until(
        LIMIT,
        || format!("a link-local on {dev}"),
        || Some(link_locals(&link.r, &dev)).filter(|l| !l.is_empty()),
    );
    assert!(
        !lls.contains(&eui64_link_local(vmac)),
        "{dev}: link-local derived from the virtual MAC: {lls:?}"
    );
}

/// fe80::/64 with the modified EUI-64 identifier of `mac` (RFC 4291 appendix A).
fn eui64_link_local(mac: [u8; 6]) -> Ipv6Addr {
    let m = mac;
    let iid = u64::from_be_bytes([m[0] ^ 0x02, m[1], m[2], 0xff, 0xfe, m[3], m[4], m[5]]);
    Ipv6Addr::from((0xfe80u128 << 112) | u128::from(iid))
}
