//! The interop harness proven on its own, without netvrrp: keepalived against FRR vrrpd in
//! namespaces, checked through both daemons' own views and the capture on the bridge; plus
//! self-tests of the lab (topology, capture, cleanup after a panic). Also netvrrp against
//! keepalived in unicast mode (FRR has none), which the interop matrix does not cover. Needs
//! root; CI runs it after `.ci/run` installed keepalived, frr and tcpdump.

mod common;
mod peers;

use peers::{
    Checksum, Conf, Family, Frame, Frr, HOST, Keepalived, Lab, Netvrrp, Payload, Peer, ROOT_NS,
    State, Vrrp, require_root_and_peers, secs_between, wait_for, wait_views,
};
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::thread::sleep;
use std::time::{Duration, Instant, SystemTime};

/// RFC 9568 §5.1.1.3 / §5.1.2.3: VRRP's IPv4 multicast group.
const VRRP_GROUP4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);

/// VRRP adverts of `vrid` with their frame, in capture order.
fn adverts(frames: &[Frame], vrid: u8) -> impl Iterator<Item = (&Frame, &Vrrp)> {
    frames
        .iter()
        .filter_map(move |f| f.vrrp().filter(|v| v.vrid == vrid).map(|v| (f, v)))
}

/// keepalived (priority 200) against FRR (priority 100), VRRPv3 over IPv4 at 100 ms:
/// keepalived is elected and FRR agrees; then keepalived's box dies (port cut + SIGKILL) and
/// FRR takes over within Master_Down_Interval + one interval, measured on the wire.
#[test]
fn keepalived_vs_frr_v3_ipv4_100ms_election_and_failover() {
    require_root_and_peers();
    let clock = Instant::now();
    let lab = Lab::new(2);
    let base = Conf {
        vrid: 10,
        version: 3,
        advert_ms: 100,
        vips4: vec![lab.vip4()],
        ..Conf::default()
    };
    let ka_conf = Conf {
        priority: 200,
        ..base.clone()
    };
    let frr_conf = Conf {
        priority: 100,
        ..base
    };
    let vip: IpAddr = lab.vip4().addr().into();

    lab.capture_start();
    let t_start = SystemTime::now();
    let mut ka = Keepalived::start(&lab, 1, ka_conf.clone());
    let frr = Frr::start(&lab, 2, frr_conf.clone());

    // Election, in each daemon's own view. Both start as Backup; keepalived's timer runs out
    // first (higher priority, smaller skew) and FRR must hear it and stay Backup.
    wait_views(
        Duration::from_secs(5),
        &[(&ka, State::Master), (&frr, State::Backup)],
    )
    .unwrap();
    let t_converged = SystemTime::now();
    eprintln!(
        "converged (both views) {:.3} s after start",
        secs_between(t_start, t_converged)
    );

    // Steady state: a second of adverts (about 10), then the views must still agree.
    sleep(Duration::from_secs(1));
    wait_views(
        Duration::from_secs(1),
        &[(&ka, State::Master), (&frr, State::Backup)],
    )
    .unwrap();
    let t_steady_end = SystemTime::now();
    let frames = lab.capture_peek();

    let startup_other: Vec<&Frame> = adverts(&frames, 10)
        .filter(|(f, v)| f.ts < t_converged && lab.router_of(v.src) != Some(1))
        .map(|(f, _)| f)
        .collect();
    if !startup_other.is_empty() {
        // Not an error by itself (a transient second master at startup is a timing matter),
        // but it must be visible in the logs.
        eprintln!(
            "note: {} adverts not from keepalived during startup, first: {}",
            startup_other.len(),
            startup_other[0]
        );
    }
    if let Some((f, _)) = adverts(&frames, 10).find(|(_, v)| lab.router_of(v.src) == Some(1)) {
        eprintln!(
            "keepalived's first advert {:.3} s after start",
            secs_between(t_start, f.ts)
        );
    }

    let steady: Vec<(&Frame, &Vrrp)> = adverts(&frames, 10)
        .filter(|(f, _)| f.ts >= t_converged && f.ts <= t_steady_end)
        .collect();
    assert!(
        steady.len() >= 7,
        "only {} adverts in 1 s at 100 ms intervals",
        steady.len()
    );
    for (f, v) in &steady {
        assert_eq!(
            lab.router_of(v.src),
            Some(1),
            "only keepalived (r1) may advertise: {f}"
        );
        assert_eq!(
            f.src_mac,
            ka.advert_source_mac(Family::V4),
            "keepalived sends from eth0's MAC: {f}"
        );
        assert_eq!(v.dst, IpAddr::from(VRRP_GROUP4), "{f}");
        assert_eq!(v.ttl, 255, "TTL must be 255: {f}");
        assert_eq!((v.version, v.kind), (3, 1), "VRRPv3 advertisement: {f}");
        assert_eq!(v.priority, 200, "{f}");
        assert_eq!(v.adver_int, 10, "100 ms = 10 cs: {f}");
        assert_eq!(v.addrs, vec![vip], "{f}");
        assert_ne!(v.checksum_form, peers::Checksum::Bad, "{f}");
    }
    eprintln!(
        "steady state: {} adverts from keepalived, checksum form {:?}",
        steady.len(),
        steady[0].1.checksum_form
    );

    // The box dies: port first (nothing more reaches the bridge), then SIGKILL (no priority 0).
    let t_cut = SystemTime::now();
    lab.cut(1);
    ka.kill9();

    wait_for(Duration::from_secs(3), || {
        adverts(&lab.capture_peek(), 10)
            .any(|(f, v)| f.ts > t_cut && lab.router_of(v.src) == Some(2))
            .then_some(())
    })
    .expect("FRR sent no advert within 3 s of the cut");
    let frr_view = peers::wait_states(&frr, Duration::from_secs(2), |s| {
        s.ipv4 == Some(State::Master)
    });
    sleep(Duration::from_millis(350)); // a few more of FRR's adverts to check
    let frames = lab.capture_stop();

    let (last_ka, _) = adverts(&frames, 10)
        .filter(|(_, v)| lab.router_of(v.src) == Some(1))
        .last()
        .expect("no keepalived advert");
    let (first_frr, _) = adverts(&frames, 10)
        .find(|(f, v)| f.ts > t_cut && lab.router_of(v.src) == Some(2))
        .expect("no FRR advert");
    let gap = secs_between(last_ka.ts, first_frr.ts);
    let from_cut = secs_between(t_cut, first_frr.ts);
    let mdi = frr_conf.master_down().as_secs_f64();
    let interval = frr_conf.interval().as_secs_f64();
    eprintln!(
        "failover: keepalived's last advert -> FRR's first advert {gap:.3} s (Master_Down_Interval {mdi:.4} s, + one interval {:.4} s); cut -> FRR's first advert {from_cut:.3} s",
        mdi + interval
    );
    let frr_view =
        frr_view.unwrap_or_else(|e| panic!("FRR advertises but does not say Master: {e}"));
    assert_eq!(frr_view.ipv4, Some(State::Master));
    assert!(
        adverts(&frames, 10)
            .all(|(f, v)| lab.router_of(v.src) != Some(1)
                || f.ts <= t_cut + Duration::from_millis(50)),
        "keepalived adverts crossed the bridge after its port was cut"
    );
    // Generous bounds (a shared 2-core CI box): not before ~2 silent intervals, and within
    // MDI + one interval with 250 ms of scheduling slack.
    assert!(
        gap >= 2.0 * interval,
        "FRR took over after only {gap:.3} s of silence"
    );
    assert!(
        gap <= mdi + interval + 0.25,
        "FRR took over after {gap:.3} s, more than MDI + interval"
    );

    let frr_adverts: Vec<(&Frame, &Vrrp)> = adverts(&frames, 10)
        .filter(|(f, v)| f.ts > t_cut && lab.router_of(v.src) == Some(2))
        .collect();
    assert!(
        frr_adverts.len() >= 2,
        "FRR stopped advertising: {}",
        frr_adverts.len()
    );
    for (f, v) in &frr_adverts {
        assert_eq!(
            f.src_mac,
            frr.advert_source_mac(Family::V4),
            "FRR sends from its macvlan (virtual MAC): {f}"
        );
        assert_eq!(
            (v.ttl, v.version, v.priority, v.adver_int),
            (255, 3, 100, 10),
            "{f}"
        );
        assert_eq!(v.addrs, vec![vip], "{f}");
    }
    if let Some(garp) = frames.iter().find(|f| {
        f.ts > t_cut
            && f.arp()
                .is_some_and(|a| a.is_gratuitous() && IpAddr::from(a.sender_ip) == vip)
    }) {
        eprintln!(
            "FRR's gratuitous ARP {:.3} s after its first advert: {garp}",
            secs_between(first_frr.ts, garp.ts)
        );
    } else {
        eprintln!("note: no gratuitous ARP for the VIP seen after the takeover");
    }
    drop(frr);
    drop(ka);
    drop(lab);
    eprintln!(
        "test took {:.1} s including teardown",
        clock.elapsed().as_secs_f64()
    );
}

/// First advert of `vrid`/`family` from router `k` after `t`.
fn first_from<'a>(
    lab: &Lab,
    frames: &'a [Frame],
    vrid: u8,
    family: Family,
    k: usize,
    t: SystemTime,
) -> Option<&'a Frame> {
    adverts(frames, vrid)
        .find(|(f, v)| f.ts > t && v.family() == family && lab.router_of(v.src) == Some(k))
        .map(|(f, _)| f)
}

/// FRR (priority 200) against keepalived (priority 100), VRRPv3 dual stack at 100 ms, through
/// the lifecycle the interop matrix needs from the harness: election in both families, a
/// graceful stop (priority 0, takeover after about Skew_Time instead of Master_Down_Interval),
/// a restart and preemption back. FRR's known IPv6 delay is measured and reported.
#[test]
fn frr_vs_keepalived_v3_dual_stack_term_and_restart() {
    require_root_and_peers();
    let lab = Lab::new(2);
    let base = Conf {
        vrid: 20,
        advert_ms: 100,
        vips4: vec![lab.vip4()],
        vips6: vec![lab.vip6()],
        ..Conf::default()
    };
    let ka_conf = Conf {
        priority: 100,
        ..base.clone()
    };
    lab.capture_start();
    // FRR first: it needs ~0.15 s for zebra then vrrpd.
    let mut frr = Frr::start(
        &lab,
        1,
        Conf {
            priority: 200,
            ..base
        },
    );
    let ka = Keepalived::start(&lab, 2, ka_conf.clone());
    wait_views(
        Duration::from_secs(5),
        &[(&frr, State::Master), (&ka, State::Backup)],
    )
    .unwrap();

    // Graceful stop: vrrpd sends priority 0 in both families, keepalived takes over.
    let t_term = SystemTime::now();
    frr.term();
    wait_views(Duration::from_secs(3), &[(&ka, State::Master)]).unwrap();
    sleep(Duration::from_millis(200));
    let frames = lab.capture_peek();
    for family in [Family::V4, Family::V6] {
        let (zero, _) = adverts(&frames, 20)
            .find(|(f, v)| f.ts > t_term && v.family() == family && v.priority == 0)
            .unwrap_or_else(|| panic!("FRR sent no priority-0 {family:?} advert on SIGTERM"));
        let next =
            first_from(&lab, &frames, 20, family, 2, zero.ts).expect("keepalived never advertised");
        let delay = secs_between(zero.ts, next.ts);
        let skew = ka_conf.skew().as_secs_f64();
        eprintln!(
            "{family:?}: priority 0 -> keepalived's first advert {delay:.3} s (Skew_Time {skew:.4} s)"
        );
        // Well below Master_Down_Interval: the backup acted on the priority 0.
        assert!(
            delay < ka_conf.master_down().as_secs_f64() - 0.05,
            "{family:?}: {delay:.3} s"
        );
    }

    // Restart: FRR comes back (its macvlans still exist) and preempts in both families.
    let t_restart = SystemTime::now();
    frr.restart();
    wait_views(
        Duration::from_secs(5),
        &[(&frr, State::Master), (&ka, State::Backup)],
    )
    .unwrap();
    sleep(Duration::from_millis(300));
    let frames = lab.capture_stop();
    let v4 = first_from(&lab, &frames, 20, Family::V4, 1, t_restart)
        .expect("FRR: no IPv4 advert after restart");
    let v6 = first_from(&lab, &frames, 20, Family::V6, 1, t_restart)
        .expect("FRR: no IPv6 advert after restart");
    let lag = secs_between(v4.ts, v6.ts);
    let ka_v6_meanwhile = adverts(&frames, 20)
        .filter(|(f, v)| {
            f.ts > v4.ts
                && f.ts < v6.ts
                && v.family() == Family::V6
                && lab.router_of(v.src) == Some(2)
        })
        .count();
    eprintln!(
        "FRR restart: first IPv4 advert {:.3} s after restart, first IPv6 advert {lag:.3} s later; \
         keepalived still sent {ka_v6_meanwhile} IPv6 adverts in between",
        secs_between(t_restart, v4.ts)
    );
    if lag > 0.05 {
        // FRR 8.4.4 quirk (peers/frr.rs): reported, not retried away.
        eprintln!("peer quirk: FRR's first IPv6 advert after becoming Master is one interval late");
    }
    let last_ka = adverts(&frames, 20)
        .filter(|(_, v)| lab.router_of(v.src) == Some(2))
        .last()
        .map(|(f, _)| f.ts);
    assert!(
        last_ka.is_some_and(|t| t < v6.ts + Duration::from_millis(150)),
        "keepalived kept advertising after FRR preempted"
    );
}

/// The lab itself: addresses, MACs, connectivity through the bridge, cut/reconnect, and a
/// capture that sees it all.
#[test]
fn lab_topology_capture_and_cut() {
    require_root_and_peers();
    let lab = Lab::new(2);
    let host = lab.host();
    lab.capture_start();
    lab.ok(
        host,
        &["ping", "-c", "1", "-W", "2", &lab.addr4(1).to_string()],
    );
    lab.ok(
        host,
        &[
            "ping",
            "-6",
            "-c",
            "1",
            "-W",
            "2",
            &lab.addr6(2).to_string(),
        ],
    );
    lab.cut(1);
    let out = lab.exec(
        host,
        &["ping", "-c", "1", "-W", "1", &lab.addr4(1).to_string()],
    );
    assert!(!out.status.success(), "ping crossed a cut port");
    lab.reconnect(1);
    lab.ok(
        host,
        &["ping", "-c", "1", "-W", "2", &lab.addr4(1).to_string()],
    );
    let frames = lab.capture_stop();

    let echo_reply = |from: IpAddr| {
        frames.iter().find(|f| matches!(&f.payload, Payload::Icmp(i) | Payload::Icmp6(i) if i.src == from && (i.kind == 0 || i.kind == 129)))
    };
    let r1 = echo_reply(lab.addr4(1).into()).expect("no echo reply from r1");
    assert_eq!(r1.src_mac, lab.mac(1));
    assert_eq!(r1.dst_mac, lab.mac(HOST));
    assert_eq!(lab.router_of(r1.src_mac), Some(1));
    let r2 = echo_reply(lab.addr6(2).into()).expect("no ICMPv6 echo reply from r2");
    assert_eq!(r2.src_mac, lab.mac(2));
    assert!(frames.iter().any(|f| f.arp().is_some()), "no ARP captured");
    // eth0 really carries the planned addresses, and router_of finds a kernel-only address.
    assert_eq!(lab.router_of(lab.link_local(2)), Some(2));
    lab.ip(lab.r(2), &["addr", "add", "198.51.100.7/32", "dev", "lo"]);
    assert_eq!(
        lab.router_of("198.51.100.7".parse::<IpAddr>().unwrap()),
        Some(2)
    );
    assert_eq!(
        lab.router_of("198.51.100.8".parse::<IpAddr>().unwrap()),
        None
    );
}

/// A panicking test still leaves nothing behind: processes (even one that left our process
/// group) are killed and the namespaces deleted.
#[test]
fn lab_cleans_up_after_a_panic() {
    require_root_and_peers();
    let mut seen = (Vec::new(), Vec::new(), String::new());
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let lab = Lab::new(1);
        let p = lab.spawn(lab.r(1), &["sleep", "600"]);
        let q = lab.spawn(ROOT_NS, &["sleep", "600"]);
        // A daemon-like process in its own session, outside every group we started.
        let out = lab.ok(
            lab.host(),
            &["sh", "-c", "setsid sleep 600 >/dev/null 2>&1 & echo $!"],
        );
        let detached: i32 = out.trim().parse().unwrap();
        seen = (
            vec![
                lab.sw().to_string(),
                lab.r(1).to_string(),
                lab.host().to_string(),
            ],
            vec![p.pid(), q.pid(), detached],
            lab.dir().to_string_lossy().into_owned(),
        );
        panic!("deliberate panic with a lab up");
    }));
    assert!(result.is_err());
    let (names, pids, dir) = seen;
    let list = String::from_utf8_lossy(
        &std::process::Command::new("ip")
            .args(["netns", "list"])
            .output()
            .unwrap()
            .stdout,
    )
    .into_owned();
    for ns in &names {
        assert!(
            !list.split_whitespace().any(|w| w == ns),
            "namespace {ns} survived"
        );
    }
    for pid in pids {
        let alive = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            // A zombie waiting for a non-reaping pid 1 (containers) is dead for our purpose.
            .is_ok_and(|s| {
                s.rsplit(')')
                    .next()
                    .and_then(|r| r.split_whitespace().next())
                    != Some("Z")
            });
        assert!(!alive, "process {pid} survived the lab");
    }
    // A failed lab keeps its files for the post-mortem; this one failed on purpose.
    assert!(Path::new(&dir).exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// netvrrp (r1, priority 100) and keepalived (r2, priority 200) in unicast mode
/// (`unicast-peers` / `unicast_peer`), dual stack, VRRPv3 at 100 ms, on a switch that drops
/// VRRP multicast. netvrrp stays Backup only by hearing keepalived's unicast adverts; when
/// keepalived stops (priority 0, unicast) netvrrp takes over and keepalived, restarted, hears
/// netvrrp's and preempts it. The wire is read on r1's switch port: every advert goes to the
/// other router's own address and MAC with TTL / hop limit 255 and a valid checksum.
#[test]
fn netvrrp_vs_keepalived_unicast_dual_stack() {
    require_root_and_peers();
    let lab = Lab::new(2);
    lab.ok(
        lab.sw(),
        &[
            "nft",
            "add table bridge nomc; \
             add chain bridge nomc mc { type filter hook forward priority 0; policy accept; }; \
             add rule bridge nomc mc ip daddr 224.0.0.18 counter drop; \
             add rule bridge nomc mc ip6 daddr ff02::12 counter drop",
        ],
    );
    let base = Conf {
        vrid: 10,
        version: 3,
        advert_ms: 100,
        vips4: vec![lab.vip4()],
        vips6: vec![lab.vip6()],
        ..Conf::default()
    };
    let peers_of =
        |k: usize| -> Vec<IpAddr> { vec![lab.addr4(k).into(), lab.link_local(k).into()] };
    let nv_conf = Conf {
        priority: 100,
        unicast_peers: peers_of(2),
        ..base.clone()
    };
    let ka_conf = Conf {
        priority: 200,
        unicast_peers: peers_of(1),
        ..base
    };
    lab.capture_start_on(&Lab::router_port(1));
    let mut ka = Keepalived::start(&lab, 2, ka_conf);
    wait_views(Duration::from_secs(5), &[(&ka, State::Master)]).unwrap();
    let mut nv = Netvrrp::start(&lab, 1, nv_conf);
    // Longer than Master_Down_Interval: a netvrrp that heard nothing would be Master by now.
    sleep(Duration::from_secs(1));
    wait_views(
        Duration::from_secs(2),
        &[(&ka, State::Master), (&nv, State::Backup)],
    )
    .unwrap();
    for fam in [Family::V4, Family::V6] {
        let row = nv.instance(fam).unwrap();
        let c = &row["counters"];
        assert!(c["adverts_received"].as_u64() >= Some(5), "{fam:?}: {row}");
        for bad in [
            "address_list_errors",
            "peer_not_allowed",
            "checksum_errors",
            "ttl_errors",
        ] {
            assert_eq!(c[bad], 0, "{fam:?} {bad}: {row}");
        }
    }

    // keepalived leaves: priority 0 to netvrrp's address; netvrrp takes over.
    let t_stop = SystemTime::now();
    ka.term();
    wait_views(Duration::from_secs(3), &[(&nv, State::Master)]).unwrap();
    sleep(Duration::from_millis(500));
    let t_nv_master = SystemTime::now();
    ka.restart();
    wait_views(
        Duration::from_secs(5),
        &[(&ka, State::Master), (&nv, State::Backup)],
    )
    .unwrap();
    let frames = lab.capture_stop();

    let check = |from: usize, to: usize, v: &Vrrp, f: &Frame| {
        let want: IpAddr = match v.family() {
            Family::V4 => lab.addr4(to).into(),
            Family::V6 => lab.link_local(to).into(),
        };
        assert_eq!(v.dst, want, "r{from} advert not to r{to}'s address: {f}");
        assert_eq!(v.ttl, 255, "{f}");
        assert_eq!(f.dst_mac, lab.mac(to), "{f}");
        assert_eq!(f.src_mac, lab.mac(from), "{f}");
        assert_ne!(v.checksum_form, Checksum::Bad, "{f}");
    };
    let mut seen = [[0usize; 2]; 2];
    for (f, v) in adverts(&frames, 10) {
        let from = lab.router_of(v.src).expect("advert from a lab router");
        let to = 3 - from;
        check(from, to, v, f);
        seen[from - 1][usize::from(v.family() == Family::V6)] += 1;
        if from == 2 && v.priority == 0 {
            assert!(f.ts >= t_stop, "{f}");
        }
    }
    // netvrrp sent while Master (t_stop .. t_nv_master), keepalived before and after.
    let nv_master: Vec<&Vrrp> = adverts(&frames, 10)
        .filter(|(f, v)| lab.router_of(v.src) == Some(1) && f.ts > t_stop && f.ts < t_nv_master)
        .map(|(_, v)| v)
        .collect();
    assert!(
        nv_master
            .iter()
            .filter(|v| v.family() == Family::V4)
            .count()
            >= 3
            && nv_master
                .iter()
                .filter(|v| v.family() == Family::V6)
                .count()
                >= 3,
        "netvrrp's adverts as Master: {seen:?}"
    );
    assert!(
        seen[1].iter().all(|n| *n >= 5),
        "keepalived's adverts: {seen:?}"
    );
    nv.term();
}
