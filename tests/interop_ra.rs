//! Router Advertisements with FRR as the other router (issue 18): netvrrp and FRR (zebra
//! sending RAs on its vrrp6 macvlan while vrrpd is Master) serve one IPv6 virtual router
//! with the same link-local VIP; a SLAAC host sees one default router that fails over both
//! ways. Needs root, FRR and tcpdump (the interop harness, tests/peers/).

mod common;
mod peers;

use peers::{
    Conf, Frr, Keepalived, Lab, Netvrrp, Peer, State, require_root_and_peers, wait_for, wait_views,
};
use std::net::Ipv6Addr;
use std::time::Duration;

const VIRTUAL_LL: &str = "fe80::a";
const SERVICE: &str = "2001:db8:ff::1";

/// The host's default routes as (gateway, device).
fn default_routes(lab: &Lab) -> Vec<(String, String)> {
    common::default_routes6(lab.host())
}

fn want() -> Vec<(String, String)> {
    vec![(VIRTUAL_LL.to_string(), "eth0".to_string())]
}

/// Wait until the host routes through the virtual router and reaches the service behind it.
fn host_follows(lab: &Lab, what: &str) {
    let routed = wait_for(Duration::from_secs(20), || {
        (default_routes(lab) == want()).then_some(())
    });
    assert!(
        routed.is_some(),
        "{what}: host routes {:?}",
        default_routes(lab)
    );
    let out = lab.exec(
        lab.host(),
        &[
            "ping", "-6", "-n", "-c", "3", "-i", "0.2", "-W", "2", SERVICE,
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(" 0% packet loss"), "{what}: {text}");
}

/// The host forgets its default router (route deleted, eth0 down and up: it solicits), so
/// only a new RA can bring the route back.
fn bounce_host(lab: &Lab) {
    lab.ip(lab.host(), &["link", "set", "eth0", "down"]);
    let _ = lab.exec(lab.host(), &["ip", "-6", "route", "del", "default"]);
    assert!(default_routes(lab).is_empty(), "{:?}", default_routes(lab));
    lab.ip(lab.host(), &["link", "set", "eth0", "up"]);
}

/// Two routers and a SLAAC host (forwarding off, accept_ra and autoconf on); the routers
/// forward and have SERVICE on lo, which the host reaches only through its default route.
fn lab_with_service() -> Lab {
    let lab = Lab::new(2);
    lab.ok(
        lab.host(),
        &[
            "sysctl",
            "-qw",
            "net.ipv6.conf.all.forwarding=0",
            "net.ipv6.conf.eth0.accept_ra=1",
            "net.ipv6.conf.eth0.autoconf=1",
        ],
    );
    for k in 1..=2 {
        let r = lab.r(k);
        lab.ok(r, &["sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"]);
        lab.ip(r, &["link", "set", "lo", "up"]);
        lab.ip(r, &["addr", "add", &format!("{SERVICE}/128"), "dev", "lo"]);
    }
    lab
}

/// VRRPv3 every 100 ms, the link-local VIP and the lab's global VIP, RAs on.
fn base_conf(lab: &Lab) -> Conf {
    Conf {
        vrid: 10,
        version: 3,
        advert_ms: 100,
        vips6: vec![format!("{VIRTUAL_LL}/64").parse().unwrap(), lab.vip6()],
        router_advertisements: true,
        ..Conf::default()
    }
}

/// netvrrp on r1 with priority 200, Master alone.
fn netvrrp_master<'a>(lab: &'a Lab, base: &Conf) -> Netvrrp<'a> {
    let nv = Netvrrp::start(
        lab,
        1,
        Conf {
            priority: 200,
            ..base.clone()
        },
    );
    wait_views(Duration::from_secs(5), &[(&nv, State::Master)]).unwrap();
    nv
}

#[test]
fn netvrrp_and_frr_advertise_one_router_that_fails_over_both_ways() {
    require_root_and_peers();
    let lab = lab_with_service();
    let base = base_conf(&lab);
    let mut nv = netvrrp_master(&lab, &base);
    let frr = Frr::start(
        &lab,
        2,
        Conf {
            priority: 100,
            ..base
        },
    );
    wait_views(
        Duration::from_secs(10),
        &[(&nv, State::Master), (&frr, State::Backup)],
    )
    .unwrap();
    host_follows(&lab, "netvrrp Master");
    let prefix = format!("{}", lab.vip6().trunc().addr());
    let slaac = lab.ok(lab.host(), &["ip", "-6", "addr", "show", "dev", "eth0"]);
    let stem = prefix.trim_end_matches(':');
    assert!(
        slaac
            .lines()
            .any(|l| l.contains(stem) && l.contains("dynamic")),
        "no SLAAC address in {prefix}: {slaac}"
    );

    // netvrrp's box dies: FRR takes over and zebra advertises the same router.
    lab.cut(1);
    nv.kill9();
    wait_views(Duration::from_secs(10), &[(&frr, State::Master)]).unwrap();
    // The route learnt from netvrrp's RAs would outlive the takeover (lifetime 60 s): the
    // host forgets it, and only FRR's RAs (netvrrp is dead and cut off) can bring it back.
    assert_eq!(
        default_routes(&lab),
        want(),
        "the host's router changed at the takeover"
    );
    bounce_host(&lab);
    host_follows(&lab, "FRR Master");
    let ll: Ipv6Addr = VIRTUAL_LL.parse().unwrap();
    let neigh = lab.ok(
        lab.host(),
        &[
            "ip",
            "-6",
            "neigh",
            "show",
            "to",
            &ll.to_string(),
            "dev",
            "eth0",
        ],
    );
    assert!(neigh.contains("00:00:5e:00:02:0a"), "{neigh}");

    // netvrrp comes back and preempts: the host still sees the same router.
    lab.reconnect(1);
    nv.restart();
    wait_views(
        Duration::from_secs(10),
        &[(&nv, State::Master), (&frr, State::Backup)],
    )
    .unwrap();
    bounce_host(&lab);
    host_follows(&lab, "netvrrp Master again");
    let row = nv.instance(peers::Family::V6).unwrap();
    let ra = &row["router_advertisements"];
    assert_eq!(ra["state"], "advertising", "{row}");
    assert!(ra["counters"]["sent"].as_u64() >= Some(1), "{row}");
    let c = &row["counters"];
    for bad in ["address_list_errors", "checksum_errors", "ttl_errors"] {
        assert_eq!(c[bad], 0, "{bad}: {row}");
    }
    drop(frr);
}

/// keepalived as the other router (netvrrp.toml(5), ROUTER ADVERTISEMENTS): it sends no RAs,
/// so when it takes over a netvrrp Master (kill -9) the hosts keep the route netvrrp's RAs
/// gave them, and their traffic reaches keepalived with the link-local VIP in its list: on
/// the virtual MAC with `use_vmac`, else at its own MAC, where its unsolicited NAs move the
/// hosts' neighbour entry. When netvrrp is back and preempts, the hosts follow it again.
/// Without the link-local VIP the lists differ, and keepalived discards netvrrp's adverts
/// (their address count is not its own): both are Master.
#[test]
fn keepalived_sends_no_ras_and_serves_the_hosts_only_with_the_link_local_vip() {
    require_root_and_peers();
    for (use_vmac, link_local) in [(true, true), (false, true), (false, false)] {
        let what = format!("keepalived with use_vmac {use_vmac}, link-local VIP {link_local}");
        let lab = lab_with_service();
        let base = base_conf(&lab);
        let mut nv = netvrrp_master(&lab, &base);
        let vips6 = if link_local {
            base.vips6.clone()
        } else {
            vec![lab.vip6()]
        };
        let ka = Keepalived::start(
            &lab,
            2,
            Conf {
                priority: 100,
                use_vmac,
                vips6,
                router_advertisements: false,
                ..base
            },
        );
        if !link_local {
            wait_views(
                Duration::from_secs(10),
                &[(&nv, State::Master), (&ka, State::Master)],
            )
            .unwrap();
            continue;
        }
        wait_views(
            Duration::from_secs(10),
            &[(&nv, State::Master), (&ka, State::Backup)],
        )
        .unwrap();
        host_follows(&lab, &format!("netvrrp Master ({what})"));

        lab.cut(1);
        nv.kill9();
        wait_views(Duration::from_secs(10), &[(&ka, State::Master)]).unwrap();
        assert_eq!(
            default_routes(&lab),
            want(),
            "{what}: the host's router changed"
        );
        host_follows(&lab, &format!("keepalived Master ({what})"));

        lab.reconnect(1);
        nv.restart();
        wait_views(
            Duration::from_secs(10),
            &[(&nv, State::Master), (&ka, State::Backup)],
        )
        .unwrap();
        host_follows(&lab, &format!("netvrrp Master again ({what})"));
        drop(ka);
    }
}
