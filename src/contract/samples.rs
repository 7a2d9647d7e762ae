//! Realistic `show` rows for the tests of the contract and of its renderers: every branch a
//! renderer has (a named and an unnamed router, RAs, tracking, a router that is not running,
//! exec output) appears in at least one row, with counters that differ from each other so a
//! counter printed under the wrong name shows.

use super::{RaRow, TrackContribution, TrackRow, TrackState, VrrpRow};
use crate::config::{FileUpWhen, RunAs, TrackConfig, TrackKind, TrackTarget};
use crate::types::{Family, MacAddr};
use crate::vrrp::ra::{RaCounters, RaState};
use crate::vrrp::router::{Counters, State};

/// Counters `start`, `start + 7`, … in name order (all different, none zero).
pub fn counters(start: u64) -> Counters {
    let mut c = serde_json::to_value(Counters::default()).unwrap();
    let map = c.as_object_mut().unwrap();
    for (i, v) in map.values_mut().enumerate() {
        *v = serde_json::json!(start + i as u64 * 7);
    }
    serde_json::from_value(c).unwrap()
}

/// A named IPv4 Master with tracking, an unnamed IPv6 Backup with Router Advertisements and
/// device drift, a VRRPv2 Backup, and a shut-down router that is not running.
pub fn vrrp_rows() -> Vec<VrrpRow> {
    let master = master();
    let others = [backup6(&master), v2(&master), stopped(&master)];
    std::iter::once(master).chain(others).collect()
}

fn v4(s: &str) -> std::net::IpAddr {
    s.parse().unwrap()
}

fn v6(s: &str) -> std::net::Ipv6Addr {
    s.parse().unwrap()
}

fn master() -> VrrpRow {
    VrrpRow {
        name: Some("edge-web".into()),
        interface: "bond0.100".into(),
        vrid: 5,
        family: Family::Ipv4,
        version: 3,
        device: Some("vrrp4-12-5".into()),
        device_index: Some(31),
        vmac: MacAddr::vrrp(Family::Ipv4, 5),
        state: State::Master,
        priority: 200,
        effective_priority: 150,
        preempt: true,
        preempt_delay_ms: 0,
        accept_mode: false,
        primary_address: Some(v4("192.0.2.2")),
        master_address: Some(v4("192.0.2.2")),
        protodown: Some(false),
        advertisement_interval_ms: 1000,
        master_adver_interval_ms: 1000.0,
        skew_time_ms: 218.75,
        master_down_interval_ms: 3218.75,
        vips: vec![v4("192.0.2.1"), v4("198.51.100.7")],
        vrrs_leader: vec!["group1".into()],
        unicast_peers: vec![v4("192.0.2.3")],
        last_change: 1_765_090_800.123_456,
        last_reason: Some("master down timer".into()),
        track: TrackContribution::of(
            &[
                TrackConfig {
                    target: TrackTarget::Interface("eth9".into()),
                    decrement: 50,
                    fault: false,
                },
                TrackConfig {
                    target: TrackTarget::Object("haproxy".into()),
                    decrement: 0,
                    fault: true,
                },
                TrackConfig {
                    target: TrackTarget::Object("uplink".into()),
                    decrement: 20,
                    fault: false,
                },
            ],
            &[true, false, false],
        ),
        faulted: false,
        counters: counters(1),
        router_advertisements: None,
        shutdown: false,
        not_running: None,
        drift: None,
    }
}

fn backup6(master: &VrrpRow) -> VrrpRow {
    VrrpRow {
        name: None,
        interface: "eth0".into(),
        vrid: 17,
        family: Family::Ipv6,
        device: Some("vrrp6-2-17".into()),
        device_index: Some(40),
        vmac: MacAddr::vrrp(Family::Ipv6, 17),
        state: State::Backup,
        priority: 100,
        effective_priority: 100,
        preempt_delay_ms: 5000,
        accept_mode: true,
        primary_address: Some("fe80::1".parse().unwrap()),
        master_address: Some("fe80::2".parse().unwrap()),
        advertisement_interval_ms: 100,
        master_adver_interval_ms: 120.0,
        skew_time_ms: 73.4375,
        master_down_interval_ms: 433.4375,
        vips: vec!["2001:db8:5::1".parse().unwrap()],
        vrrs_leader: vec![],
        unicast_peers: vec![],
        track: vec![],
        router_advertisements: Some(RaRow {
            state: RaState::Silent,
            source: v6("fe80::200:5eff:fe00:211"),
            lifetime_s: 1800,
            min_interval_ms: 198_000,
            max_interval_ms: 600_000,
            prefixes: vec![
                "2001:db8:5::/64".parse().unwrap(),
                "2001:db8:6::/64".parse().unwrap(),
            ],
            rdnss: vec![v6("2001:db8::53")],
            mtu: Some(1500),
            solicitation_socket: true,
            counters: RaCounters {
                sent: 41,
                rs_answered: 3,
                rs_ignored: 12,
                rs_invalid: 1,
            },
        }),
        drift: Some("macvlan mode private, want bridge".into()),
        last_reason: Some("startup".into()),
        counters: counters(1000),
        ..master.clone()
    }
}

fn v2(master: &VrrpRow) -> VrrpRow {
    VrrpRow {
        name: Some("legacy".into()),
        interface: "eth1".into(),
        vrid: 200,
        version: 2,
        vmac: MacAddr::vrrp(Family::Ipv4, 200),
        state: State::Backup,
        priority: 254,
        effective_priority: 254,
        preempt: false,
        master_address: None,
        protodown: Some(true),
        advertisement_interval_ms: 3000,
        master_adver_interval_ms: 3000.0,
        skew_time_ms: 7.8125,
        master_down_interval_ms: 9007.8125,
        vips: vec![v4("203.0.113.9")],
        track: vec![],
        last_change: 1_765_000_000.0,
        last_reason: Some("higher priority advert".into()),
        counters: Counters::default(),
        ..master.clone()
    }
}

fn stopped(master: &VrrpRow) -> VrrpRow {
    VrrpRow {
        name: Some(String::new()),
        interface: "eth2".into(),
        vrid: 9,
        device: None,
        device_index: None,
        vmac: MacAddr::vrrp(Family::Ipv4, 9),
        state: State::Initialize,
        primary_address: None,
        master_address: None,
        protodown: None,
        vips: vec![],
        vrrs_leader: vec![],
        unicast_peers: vec![],
        last_change: 0.0,
        last_reason: None,
        track: TrackContribution::of(
            &[TrackConfig {
                target: TrackTarget::Object("haproxy".into()),
                decrement: 0,
                fault: true,
            }],
            &[true],
        ),
        faulted: true,
        counters: Counters::default(),
        shutdown: true,
        not_running: Some("parent interface eth2 has no IPv4 address".into()),
        ..master.clone()
    }
}

/// An exec object that is down with output, a route that is up, a file that never ran.
pub fn track_rows() -> Vec<TrackRow> {
    vec![
        TrackRow {
            name: "haproxy".into(),
            kind: "exec".into(),
            state: TrackState::Down,
            since: 1_765_090_000.5,
            last_result: "exit status 1".into(),
            last_checked: 1_765_090_801.25,
            exit_status: Some("exit status 1".into()),
            output: ["curl: (7) refused", "retrying"].map(String::from).into(),
            changes: 3,
            config: TrackKind::Exec {
                command: vec!["/usr/bin/curl".into(), "-f".into(), "http://[::1]/".into()],
                interval_ms: 2000,
                timeout_ms: 1000,
                rise: 2,
                fall: 3,
                initial_up: false,
                run_as: RunAs::default(),
            },
        },
        TrackRow {
            name: "uplink".into(),
            kind: "route".into(),
            state: TrackState::Up,
            since: 1_765_000_000.0,
            last_result: "route present".into(),
            last_checked: 1_765_090_801.0,
            exit_status: None,
            output: Default::default(),
            changes: 0,
            config: TrackKind::Route {
                prefix: "0.0.0.0/0".parse().unwrap(),
                table: 254,
            },
        },
        TrackRow {
            name: "maint".into(),
            kind: "file".into(),
            state: TrackState::Up,
            since: 0.0,
            last_result: String::new(),
            last_checked: 0.0,
            exit_status: Some(String::new()),
            output: Default::default(),
            changes: 0,
            config: TrackKind::File {
                path: "/run/maint".into(),
                up_when: FileUpWhen::Missing,
            },
        },
    ]
}
