//! Unit tests of the VRRS database: pathway state table, fan-out order, OIR, default
//! pathways, kernel corrections, reload, renderings. No sockets, no sleeping.

use super::*;
use crate::config::parse_str;
use crate::kernel::{LinkInfo, Snapshot};
use serde_json::Value;

const CONFIG: &str = r#"
[[vrrp]]
interface = "eth0"
vrid = 5
priority = 200
ipv4 = ["192.0.2.1/24"]
ipv6 = ["2001:db8::1/64"]
vrrs-leader = ["group1"]

[[vrrs.pathway]]
leader = "group1"
interface = "eth1"
mac = "fe24.fe24.fe24"
address = ["209.165.201.10/27"]

[[vrrs.pathway]]
leader = "group1"
interface = "eth2"
address = ["198.51.100.10/24"]

[[vrrs.client]]
leader = "group1"
kind = "interface-state"
interface = "eth3"

[[vrrs.client]]
leader = "group1"
kind = "accounting"
path = "/var/log/netvrrp-acct.json"

[[vrrs.client]]
leader = "group1"
kind = "exec"
command = ["/usr/local/bin/notify", "x"]
timeout = 1000
"#;

const ETH1_MAC: &str = "52:54:00:00:00:01";
const ETH2_MAC: &str = "52:54:00:00:00:02";
const PW_DEV: &str = "v03fe24fe24fe24";
/// The device group of leader `group1` (the first leader) with the default base.
const GROUP1: u32 = crate::config::DEFAULT_PATHWAY_GROUP_BASE;

fn config(text: &str) -> Config {
    match parse_str(text, "t.toml") {
        Ok(c) => c,
        Err(e) => panic!("test config invalid:\n{e}"),
    }
}

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

fn mac(s: &str) -> MacAddr {
    s.parse().unwrap()
}

fn link(index: u32, name: &str, m: &str, addrs: &[&str]) -> LinkInfo {
    LinkInfo {
        addresses: addrs.iter().map(|a| net(a)).collect(),
        dad_sysctls: Some([1, 1, 0]),
        disable_ipv6: Some(false),
        ..LinkInfo::for_test(index, name, None, None, m)
    }
}

/// eth0..eth3 (indices 2..5), the vrrp4 device of eth0/5, and the eth1 pathway macvlan as
/// apply leaves them (protodown on).
fn snapshot() -> Snapshot {
    let mut pw = link(11, PW_DEV, "fe:24:fe:24:fe:24", &["209.165.201.10/27"]);
    pw.protodown = true;
    pw.parent_index = Some(3);
    // In its leader's device group, as the runtime leaves a ready pathway.
    pw.group = GROUP1;
    let mut v4 = link(10, "vrrp4-2-5", "00:00:5e:00:01:05", &["192.0.2.1/24"]);
    v4.protodown = true;
    Snapshot {
        links: vec![
            link(2, "eth0", "52:54:00:00:00:00", &["192.0.2.2/24"]),
            link(3, "eth1", ETH1_MAC, &[]),
            link(4, "eth2", ETH2_MAC, &[]),
            link(5, "eth3", "52:54:00:00:00:03", &[]),
            v4,
            pw,
        ],
    }
}

/// The kernel as [`master`] leaves it: every pathway ACTIVE, the interface-state client up.
fn active_snapshot() -> Snapshot {
    let mut snap = snapshot();
    find(&mut snap, PW_DEV).protodown = false;
    find(&mut snap, "eth2")
        .addresses
        .push(net("198.51.100.10/24"));
    find(&mut snap, "eth3").admin_up = true;
    snap
}

fn snapshot_without(names: &[&str]) -> Snapshot {
    let mut s = snapshot();
    s.links.retain(|l| !names.contains(&l.name.as_str()));
    s
}

fn find<'a>(s: &'a mut Snapshot, name: &str) -> &'a mut LinkInfo {
    s.links.iter_mut().find(|l| l.name == name).unwrap()
}

/// The database after start-up: snapshot taken, leader not yet reported.
fn started() -> Vrrs {
    let mut v = Vrrs::new(&config(CONFIG));
    v.on_snapshot(&snapshot());
    v
}

fn state(v: &mut Vrrs, t: f64, s: State) -> Fanout {
    v.on_state(t, "eth0", 5, Family::Ipv4, s, "test")
}

/// Started and the leader Master.
fn master() -> Vrrs {
    let mut v = started();
    state(&mut v, 1.0, State::Backup);
    state(&mut v, 2.0, State::Master);
    v
}

fn update<'a>(f: &'a Fanout, interface: &str) -> &'a PathwayUpdate {
    f.pathways
        .iter()
        .find(|p| p.interface == interface)
        .unwrap_or_else(|| panic!("no update for {interface} in {f:#?}"))
}

fn pstate(v: &Vrrs, interface: &str) -> PathwayState {
    v.pathway_state_of("group1", interface).unwrap()
}

#[test]
fn vrrs_pathway_state_table() {
    use PathwayState::*;
    let leaders = [
        (None, NotReady),
        (Some(State::Initialize), NotReady),
        (Some(State::Backup), Inactive),
        (Some(State::Master), Active),
    ];
    let clears: [fn(&mut Evaluation); 7] = [
        |e| e.no_shut = false,
        |e| e.connected = false,
        |e| e.oir = false,
        |e| e.l2_ready = false,
        |e| e.l3_ready = false,
        |e| e.vmac_ready = false,
        |e| e.vip_ready = false,
    ];
    for (leader, all_set) in leaders {
        assert_eq!(
            pathway_state(leader, &Evaluation::READY),
            all_set,
            "{leader:?}"
        );
        for (i, clear) in clears.iter().enumerate() {
            let mut e = Evaluation::READY;
            clear(&mut e);
            assert!(!e.all());
            assert_eq!(pathway_state(leader, &e), NotReady, "{leader:?}, flag {i}");
        }
        assert_eq!(
            pathway_state(leader, &Evaluation::default()),
            NotReady,
            "{leader:?}"
        );
    }
}

#[test]
fn vrrs_start_is_not_ready_and_corrects_client_interface() {
    let mut v = Vrrs::new(&config(CONFIG));
    let f = v.on_snapshot(&snapshot());
    // Nothing reported yet: every pathway NOT READY, kernel already like that.
    for i in ["eth0", "eth1", "eth2"] {
        assert_eq!(pstate(&v, i), PathwayState::NotReady, "{i}");
    }
    assert!(f.pathways.is_empty(), "{f:#?}");
    // eth3 is up but the leader is not Master: interface-state takes it down.
    assert_eq!(
        f.clients,
        vec![ClientUpdate {
            client: 0,
            effect: Some(ClientEffect::SetAdminState {
                interface: "eth3".into(),
                up: false
            }),
            notice: None,
        }]
    );
    let row = &json(v.show_pathway())[1];
    assert_eq!(row["evaluation"]["connected"], false);
    assert_eq!(row["evaluation"]["oir"], true);
    // A second snapshot asks for nothing again.
    let mut s = snapshot();
    find(&mut s, "eth3").admin_up = false;
    assert!(v.on_snapshot(&s).is_empty());
}

#[test]
fn vrrs_backup_makes_pathways_inactive_without_kernel_work() {
    let mut v = started();
    let f = state(&mut v, 1.0, State::Backup);
    assert_eq!(f.pathway_effects().count(), 0, "{f:#?}");
    for i in ["eth0", "eth1", "eth2"] {
        assert_eq!(pstate(&v, i), PathwayState::Inactive, "{i}");
        assert_eq!(update(&f, i).previous, PathwayState::NotReady);
    }
    let notices: Vec<_> = f.notices().collect();
    assert_eq!(notices.len(), 3);
    assert!(
        notices
            .iter()
            .all(|n| n.previous == State::Initialize && n.state == State::Backup && n.seq == 1)
    );
    // eth3 was already taken down at start.
    assert_eq!(f.client_effects().count(), 0);
}

#[test]
fn vrrs_master_fanout_order_and_effects() {
    let mut v = started();
    state(&mut v, 1.0, State::Backup);
    let f = state(&mut v, 2.5, State::Master);
    // Pathways first, in order: the default pathway, then eth1, then eth2.
    let order: Vec<&str> = f.pathways.iter().map(|p| p.interface.as_str()).collect();
    assert_eq!(order, ["eth0", "eth1", "eth2"]);
    assert!(f.pathways[0].default_pathway);
    assert!(
        f.pathways[0].effects.is_empty(),
        "the router drives its own device"
    );
    assert_eq!(
        f.pathways[1].effects,
        vec![
            PathwayEffect::SetProtodown {
                device: PW_DEV.into(),
                on: false
            },
            PathwayEffect::Gratuitous {
                device: PW_DEV.into(),
                mac: mac("fe24.fe24.fe24"),
                addrs: vec!["209.165.201.10".parse().unwrap()],
            },
        ]
    );
    assert_eq!(
        f.pathways[2].effects,
        vec![
            PathwayEffect::AddAddresses {
                interface: "eth2".into(),
                addrs: vec![net("198.51.100.10/24")],
            },
            PathwayEffect::Gratuitous {
                device: "eth2".into(),
                mac: mac(ETH2_MAC),
                addrs: vec!["198.51.100.10".parse().unwrap()],
            },
        ]
    );
    for p in &f.pathways {
        assert_eq!(
            (p.previous, p.state),
            (PathwayState::Inactive, PathwayState::Active)
        );
    }
    // Then clients, in configuration order; interface-state brings eth3 up.
    let clients: Vec<usize> = f.clients.iter().map(|c| c.client).collect();
    assert_eq!(clients, [0, 1, 2]);
    assert_eq!(
        f.clients[0].effect,
        Some(ClientEffect::SetAdminState {
            interface: "eth3".into(),
            up: true
        })
    );
    assert!(f.clients[1].effect.is_none() && f.clients[2].effect.is_none());
    let n = f.clients[2].notice.as_ref().unwrap();
    assert_eq!(
        n,
        &ClientNotice {
            client: 2,
            seq: 2,
            name: "group1".into(),
            event: StateEvent {
                interface: "eth0".into(),
                vrid: 5,
                family: Family::Ipv4,
                router: None,
                previous: State::Backup,
                state: State::Master,
                reason: "test".into(),
                vmac: MacAddr::vrrp(Family::Ipv4, 5),
                vips: vec!["192.0.2.1".parse().unwrap()],
                time: 2.5,
            },
        }
    );
    let srv = &json(v.show_server())[0];
    assert_eq!(srv["state"], "master");
    assert_eq!(srv["previous_state"], "backup");
    assert_eq!(srv["pushes"], 2);
    assert_eq!(srv["last_change"], 2.5);
    assert_eq!(srv["pathways"], 3);
    assert_eq!(srv["pathways_active"], 3);
    assert_eq!(srv["clients"], 3);
}

#[test]
fn vrrs_leaving_master_takes_pathways_down() {
    let mut v = master();
    let f = state(&mut v, 3.0, State::Backup);
    assert_eq!(
        update(&f, "eth1").effects,
        vec![PathwayEffect::SetProtodown {
            device: PW_DEV.into(),
            on: true
        }]
    );
    assert_eq!(
        update(&f, "eth2").effects,
        vec![PathwayEffect::DelAddresses {
            interface: "eth2".into(),
            addrs: vec![net("198.51.100.10/24")],
        }]
    );
    assert_eq!(
        f.clients[0].effect,
        Some(ClientEffect::SetAdminState {
            interface: "eth3".into(),
            up: false
        })
    );
    // Backup → Initialize: INACTIVE → NOT READY changes nothing in the kernel.
    let f = state(&mut v, 4.0, State::Initialize);
    assert_eq!(pstate(&v, "eth1"), PathwayState::NotReady);
    assert_eq!(f.pathway_effects().count(), 0, "{f:#?}");
    assert_eq!(f.notices().count(), 3);
}

#[test]
fn vrrs_repeated_or_foreign_events_produce_nothing() {
    let mut v = master();
    assert!(state(&mut v, 5.0, State::Master).is_empty());
    // Another VRID, another interface, and the IPv6 instance (the name follows IPv4).
    assert!(
        v.on_state(5.0, "eth0", 6, Family::Ipv4, State::Backup, "x")
            .is_empty()
    );
    assert!(
        v.on_state(5.0, "eth9", 5, Family::Ipv4, State::Backup, "x")
            .is_empty()
    );
    assert!(
        v.on_state(5.0, "eth0", 5, Family::Ipv6, State::Backup, "x")
            .is_empty()
    );
    assert_eq!(v.leader_state("group1"), Some(State::Master));
}

#[test]
fn vrrs_leader_family_override_follows_ipv6() {
    let text = CONFIG.replace(
        "vrrs-leader = [\"group1\"]",
        "vrrs-leader = [\"group1\"]\nvrrs-leader-family = \"ipv6\"",
    );
    let mut v = Vrrs::new(&config(&text));
    v.on_snapshot(&snapshot());
    assert!(state(&mut v, 1.0, State::Backup).is_empty());
    let f = v.on_state(1.0, "eth0", 5, Family::Ipv6, State::Backup, "x");
    assert_eq!(f.notices().count(), 3);
    assert_eq!(
        f.clients[1].notice.as_ref().unwrap().vmac.to_string(),
        "00:00:5e:00:02:05"
    );
}

#[test]
fn vrrs_leader_without_pathways_has_only_its_default_pathway() {
    let text = r#"
[[vrrp]]
interface = "eth0"
vrid = 7
ipv4 = ["192.0.2.7/24"]
vrrs-leader = ["lonely", "other"]
"#;
    let mut v = Vrrs::new(&config(text));
    let mut snap = snapshot();
    snap.links.push(link(
        12,
        "vrrp4-2-7",
        "00:00:5e:00:01:07",
        &["192.0.2.7/24"],
    ));
    v.on_snapshot(&snap);
    let f = v.on_state(1.0, "eth0", 7, Family::Ipv4, State::Master, "startup owner");
    // One router, two names: each name's default pathway goes ACTIVE, no kernel work, no
    // clients.
    assert_eq!(f.pathways.len(), 2);
    assert!(
        f.pathways
            .iter()
            .all(|p| p.default_pathway && p.state == PathwayState::Active && p.effects.is_empty())
    );
    assert_eq!(
        f.pathways
            .iter()
            .map(|p| p.leader.as_str())
            .collect::<Vec<_>>(),
        ["lonely", "other"]
    );
    assert!(f.clients.is_empty());
    let servers = json(v.show_server());
    assert_eq!(servers.as_array().unwrap().len(), 2);
    assert_eq!(servers[0]["pathways"], 1);
    assert_eq!(servers[0]["clients"], 0);
    assert_eq!(servers[1]["pushes"], 1);
}

#[test]
fn vrrs_default_pathway_is_the_router_device() {
    let v = master();
    let rows = json(v.show_pathway());
    let d = &rows[0];
    assert_eq!(d["name"], "group1");
    assert_eq!(d["interface"], "eth0");
    assert_eq!(d["device"], "vrrp4-2-5");
    assert_eq!(d["vmac"], "00:00:5e:00:01:05");
    assert_eq!(d["state"], "active");
    assert_eq!(d["options"]["default_pathway"], true);
    assert_eq!(d["options"]["configured_vmac"], false);
    assert_eq!(d["options"]["accept_mode"], true);
    assert_eq!(d["options"]["owner_mode"], false);
    assert!(
        d["evaluation"]
            .as_object()
            .unwrap()
            .values()
            .all(|f| f == true)
    );
    assert_eq!(rows[1]["options"]["default_pathway"], false);
    assert_eq!(rows[1]["options"]["configured_vmac"], true);
    assert_eq!(rows[2]["vmac"], Value::Null);
    assert_eq!(rows[2]["mac_in_use"], ETH2_MAC);
}

#[test]
fn vrrs_default_pathway_follows_its_device() {
    let mut v = master();
    let f = v.on_snapshot(&snapshot_without(&["vrrp4-2-5"]));
    let d = update(&f, "eth0");
    assert_eq!(d.state, PathwayState::NotReady);
    assert!(d.effects.is_empty(), "never re-created or touched by VRRS");
    assert_eq!(json(v.show_pathway())[0]["evaluation"]["vmac_ready"], false);
}

#[test]
fn vrrs_oir_mac_pathway_recreated_after_parent_returns() {
    let mut v = master();
    // The parent goes away (its macvlan with it).
    let f = v.on_interface("eth1", false, false, false);
    let u = update(&f, "eth1");
    assert_eq!(
        (u.previous, u.state),
        (PathwayState::Active, PathwayState::NotReady)
    );
    assert!(u.effects.is_empty(), "nothing left to act on: {u:?}");
    assert_eq!(json(v.show_pathway())[1]["evaluation"]["oir"], false);
    // The kernel confirms; then the parent is re-added with another ifindex, admin down at
    // first (as a new veth or VLAN appears): nothing can be created on it yet.
    v.on_snapshot(&snapshot_without(&["eth1", PW_DEV]));
    let mut snap = snapshot_without(&[PW_DEV]);
    find(&mut snap, "eth1").index = 300;
    find(&mut snap, "eth1").admin_up = false;
    let f = v.on_snapshot(&snap);
    assert!(
        f.pathways
            .iter()
            .all(|p| p.interface != "eth1" || p.effects.is_empty()),
        "no creation on a down parent: {f:#?}"
    );
    assert_eq!(pstate(&v, "eth1"), PathwayState::NotReady);
    // Brought up: now the macvlan is asked for.
    find(&mut snap, "eth1").admin_up = true;
    let f = v.on_snapshot(&snap);
    let u = update(&f, "eth1");
    assert_eq!(u.state, PathwayState::NotReady);
    let [PathwayEffect::CreateDevice { device }] = u.effects.as_slice() else {
        panic!("expected the macvlan to be re-created: {u:?}");
    };
    let new_name = desired::pathway_device_name(300, mac("fe24.fe24.fe24"));
    assert_eq!(device.name, new_name);
    assert_eq!(device.parent, "eth1");
    assert_eq!(device.parent_index, 300);
    assert_eq!(device.addresses, vec![net("209.165.201.10/27")]);
    assert!(device.protodown);
    // Asked once, not on every snapshot.
    let f = v.on_snapshot(&snap);
    assert!(f.pathways.iter().all(|p| p.interface != "eth1"), "{f:#?}");
    // The runtime created it (protodown on, as apply does): back to the leader's state.
    let mut dev = link(301, &new_name, "fe:24:fe:24:fe:24", &["209.165.201.10/27"]);
    dev.protodown = true;
    snap.links.push(dev);
    let f = v.on_snapshot(&snap);
    let u = update(&f, "eth1");
    assert_eq!(
        (u.previous, u.state),
        (PathwayState::NotReady, PathwayState::Active)
    );
    // A new device starts in group 0: it joins its leader's group first.
    assert_eq!(
        u.effects,
        vec![
            PathwayEffect::SetGroup {
                device: new_name.clone(),
                group: GROUP1,
            },
            PathwayEffect::SetProtodown {
                device: new_name.clone(),
                on: false
            },
            PathwayEffect::Gratuitous {
                device: new_name,
                mac: mac("fe24.fe24.fe24"),
                addrs: vec!["209.165.201.10".parse().unwrap()],
            },
        ]
    );
}

#[test]
fn vrrs_oir_pathway_without_mac() {
    let mut v = master();
    let f = v.on_snapshot(&snapshot_without(&["eth2"]));
    let u = update(&f, "eth2");
    assert_eq!(u.state, PathwayState::NotReady);
    assert!(
        u.effects.is_empty(),
        "the addresses went with the interface"
    );
    // Re-created with another index and no addresses: ACTIVE again, addresses put back.
    let mut snap = snapshot();
    find(&mut snap, "eth2").index = 77;
    let f = v.on_snapshot(&snap);
    let u = update(&f, "eth2");
    assert_eq!(u.state, PathwayState::Active);
    assert_eq!(
        u.effects,
        vec![
            PathwayEffect::AddAddresses {
                interface: "eth2".into(),
                addrs: vec![net("198.51.100.10/24")],
            },
            PathwayEffect::Gratuitous {
                device: "eth2".into(),
                mac: mac(ETH2_MAC),
                addrs: vec!["198.51.100.10".parse().unwrap()],
            },
        ]
    );
}

#[test]
fn vrrs_oir_through_on_interface_only() {
    let mut v = master();
    v.on_interface("eth2", false, false, false);
    assert_eq!(pstate(&v, "eth2"), PathwayState::NotReady);
    // Back, without address facts: the change itself decides.
    let f = v.on_interface("eth2", true, true, true);
    let u = update(&f, "eth2");
    assert_eq!(u.state, PathwayState::Active);
    assert_eq!(
        u.effects[0],
        PathwayEffect::AddAddresses {
            interface: "eth2".into(),
            addrs: vec![net("198.51.100.10/24")],
        }
    );
}

#[test]
fn vrrs_evaluation_flags_drive_the_state() {
    // Each broken fact clears its flag and makes the pathway NOT READY (with the kernel
    // effect of leaving ACTIVE); repairing it makes it ACTIVE again.
    type Break = fn(&mut Snapshot);
    let cases: [(&str, &str, Break); 8] = [
        ("l2_ready", "eth1", |s| find(s, "eth1").carrier = false),
        // Carrier, but linkwatch has not made it operational (no transmit queue yet).
        ("l2_ready", "eth2", |s| {
            find(s, "eth2").operstate = "down".into()
        }),
        ("no_shut", "eth1", |s| find(s, "eth1").admin_up = false),
        ("vmac_ready", "eth1", |s| find(s, PW_DEV).admin_up = false),
        // Another program holds it down: protodown off would be refused (EBUSY).
        ("vmac_ready", "eth1", |s| {
            find(s, PW_DEV).protodown_reason = 1
        }),
        ("vip_ready", "eth1", |s| find(s, PW_DEV).addresses.clear()),
        ("vip_ready", "eth2", |s| {
            find(s, "eth3").addresses.push(net("198.51.100.10/24"))
        }),
        ("oir", "eth2", |s| s.links.retain(|l| l.name != "eth2")),
    ];
    for (flag, interface, brk) in cases {
        let mut v = master();
        let snap = active_snapshot();
        assert!(v.on_snapshot(&snap).is_empty(), "{flag}: model in sync");
        let mut broken = snap.clone();
        brk(&mut broken);
        let f = v.on_snapshot(&broken);
        let u = update(&f, interface);
        assert_eq!(u.state, PathwayState::NotReady, "{flag}");
        let row = json(v.show_pathway())
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["interface"] == interface)
            .cloned()
            .unwrap();
        assert_eq!(row["evaluation"][flag], false, "{flag}: {row:#}");
        let f = v.on_snapshot(&snap);
        assert_eq!(update(&f, interface).state, PathwayState::Active, "{flag}");
    }
}

#[test]
fn vrrs_carrier_the_kernel_has_not_applied_is_settled_once_per_link() {
    let settled = active_snapshot;
    let settle = |interface: &str| PathwayEffect::SettleCarrier {
        interface: interface.into(),
    };
    let settles = |f: &Fanout| -> Vec<String> {
        f.pathway_effects()
            .filter_map(|e| match e {
                PathwayEffect::SettleCarrier { interface } => Some(interface.clone()),
                _ => None,
            })
            .collect()
    };
    let mut v = master();
    assert!(v.on_snapshot(&settled()).is_empty(), "model in sync");

    // eth1 re-inserted: carrier (IFF_LOWER_UP), but the kernel's linkwatch queue has not
    // reached it (operstate still lowerlayerdown). Not ready, and the kernel is asked, first.
    let mut pending = settled();
    find(&mut pending, "eth1").operstate = "lowerlayerdown".into();
    let f = v.on_snapshot(&pending);
    let u = update(&f, "eth1");
    assert_eq!(u.state, PathwayState::NotReady);
    assert_eq!(u.effects.first(), Some(&settle("eth1")), "{u:#?}");
    assert_eq!(settles(&f), ["eth1"]);
    // Once per link: the same facts again ask nothing.
    assert!(settles(&v.on_snapshot(&pending)).is_empty());
    // Applied: ACTIVE, nothing more to ask.
    let f = v.on_snapshot(&settled());
    assert_eq!(update(&f, "eth1").state, PathwayState::Active);
    assert!(settles(&f).is_empty());
    // A later carrier change is asked for again; so is a new link under the same name.
    assert_eq!(settles(&v.on_snapshot(&pending)), ["eth1"]);
    let mut again = pending.clone();
    find(&mut again, "eth1").index = 30;
    assert_eq!(settles(&v.on_snapshot(&again)), ["eth1"]);

    // Without carrier there is nothing for the kernel to apply.
    let mut down = settled();
    find(&mut down, "eth1").carrier = false;
    find(&mut down, "eth1").operstate = "lowerlayerdown".into();
    assert!(settles(&v.on_snapshot(&down)).is_empty());
    // The default pathway's interface belongs to the VRRP router.
    let mut eth0 = settled();
    find(&mut eth0, "eth0").operstate = "down".into();
    assert!(settles(&v.on_snapshot(&eth0)).is_empty());
}

#[test]
fn vrrs_l3_not_ready_without_ipv6() {
    let text = CONFIG.replace("198.51.100.10/24", "2001:db8:2::10/64");
    let mut v = Vrrs::new(&config(&text));
    let mut snap = snapshot();
    find(&mut snap, "eth2").dad_sysctls = None;
    v.on_snapshot(&snap);
    state(&mut v, 1.0, State::Master);
    assert_eq!(pstate(&v, "eth2"), PathwayState::NotReady);
    assert_eq!(json(v.show_pathway())[2]["evaluation"]["l3_ready"], false);
    assert_eq!(pstate(&v, "eth1"), PathwayState::Active);
}

#[test]
fn vrrs_kernel_drift_is_corrected_once() {
    let mut v = master();
    // Someone turned protodown back on and removed the eth2 address behind our back.
    let f = v.on_snapshot(&snapshot());
    assert_eq!(
        update(&f, "eth1").effects,
        vec![PathwayEffect::SetProtodown {
            device: PW_DEV.into(),
            on: false
        }]
    );
    assert_eq!(
        update(&f, "eth2").effects,
        vec![PathwayEffect::AddAddresses {
            interface: "eth2".into(),
            addrs: vec![net("198.51.100.10/24")],
        }]
    );
    assert!(f.pathways.iter().all(|p| p.previous == p.state));
    assert!(
        f.pathway_effects()
            .all(|e| !matches!(e, PathwayEffect::Gratuitous { .. })),
        "no GARP without a transition"
    );
    // The model assumes they were done: other inputs do not repeat them.
    assert!(v.on_interface("eth0", true, true, true).is_empty());
    assert!(state(&mut v, 9.0, State::Master).is_empty());
}

#[test]
fn vrrs_not_active_pathway_addresses_are_removed_at_start() {
    // A runtime restarted while the interface still holds a pathway address.
    let mut v = Vrrs::new(&config(CONFIG));
    let mut snap = snapshot();
    find(&mut snap, "eth2")
        .addresses
        .push(net("198.51.100.10/24"));
    find(&mut snap, PW_DEV).protodown = false;
    let f = v.on_snapshot(&snap);
    assert_eq!(
        update(&f, "eth1").effects,
        vec![PathwayEffect::SetProtodown {
            device: PW_DEV.into(),
            on: true
        }]
    );
    assert_eq!(
        update(&f, "eth2").effects,
        vec![PathwayEffect::DelAddresses {
            interface: "eth2".into(),
            addrs: vec![net("198.51.100.10/24")],
        }]
    );
}

#[test]
fn vrrs_reconfigure_keeps_state_and_handles_added_and_removed() {
    let mut v = master();
    // eth2's pathway goes away, a new one on eth4 arrives, the exec client is unchanged.
    let text = CONFIG.replace(
        "interface = \"eth2\"\naddress = [\"198.51.100.10/24\"]",
        "interface = \"eth4\"\naddress = [\"203.0.113.4/24\"]",
    );
    let mut snap = active_snapshot();
    snap.links.push(link(6, "eth4", "52:54:00:00:00:04", &[]));
    v.on_snapshot(&snap);
    let f = v.reconfigure(&config(&text));
    assert_eq!(v.leader_state("group1"), Some(State::Master));
    let gone = update(&f, "eth2");
    assert!(gone.removed);
    assert_eq!(
        gone.effects,
        vec![PathwayEffect::DelAddresses {
            interface: "eth2".into(),
            addrs: vec![net("198.51.100.10/24")],
        }]
    );
    let new = update(&f, "eth4");
    assert_eq!(
        (new.previous, new.state),
        (PathwayState::NotReady, PathwayState::Active)
    );
    assert_eq!(new.effects.len(), 2);
    assert!(
        f.pathways.iter().all(|p| p.interface != "eth1"),
        "unchanged"
    );
    assert!(f.notices().next().is_none(), "a reload is not a transition");
    // Client counters carried over: the next notice continues the sequence.
    let f = state(&mut v, 10.0, State::Backup);
    assert_eq!(f.clients[2].notice.as_ref().unwrap().seq, 3);
}

/// The clients of [`master`] as the runtime shows them, with runner counters that reach
/// every branch of the rendering (an exec run in progress with an error, written and
/// dropped accounting lines).
fn clients_with_runners(v: &Vrrs) -> Vec<ClientRow> {
    let mut rows = v.show_client(None);
    let runner = |i: u64| ClientStats {
        notices: 2 + i,
        runs: 5 + i,
        failures: 1,
        timeouts: 1,
        coalesced: 2,
        running: i == 1,
        last_exit: Some("killed after 1000 ms".into()),
        lines_written: 7 + i,
        lines_dropped: i,
        last_error: (i == 1).then(|| "No space left on device".into()),
    };
    for (i, r) in rows.iter_mut().enumerate().skip(1) {
        r.runner = Some(runner(i as u64 - 1));
    }
    rows
}

/// A row of an older runtime, with only the fields that identify it, reads with the rest
/// empty (netvrrp(8), JSON FIELDS).
#[test]
fn vrrs_rows_of_an_older_runtime_read_with_defaults() {
    let server: ServerRow = serde_json::from_value(serde_json::json!({"name": "g",
        "interface": "eth0", "vrid": 5, "family": "ipv6", "state": "master",
        "vmac": "00:00:5e:00:02:05"}))
    .unwrap();
    assert_eq!((server.pushes, server.last_change), (0, None));
    let pathway: PathwayRow = serde_json::from_value(serde_json::json!({"name": "g",
        "interface": "eth1", "state": "not_ready"}))
    .unwrap();
    assert!(!pathway.evaluation.connected && pathway.addresses.is_empty());
    let client: ClientRow = serde_json::from_value(serde_json::json!({"client": 1,
        "name": "g", "kind": "accounting", "path": "/var/log/a.json"}))
    .unwrap();
    assert_eq!((client.notices, client.runner), (0, None));
    let runner: ClientStats = serde_json::from_value(serde_json::json!({"runs": 2})).unwrap();
    assert_eq!((runner.runs, runner.failures), (2, 0));
}

/// The rows round-trip, and render byte for byte as the renderer over `serde_json::Value`
/// that this one replaced printed them (src/contract/golden/ was written by that one).
#[test]
fn vrrs_rows_round_trip_and_render_the_golden_text() {
    use crate::contract::{Listing, over_the_wire};
    for v in [master(), started()] {
        let rows = v.show_server();
        assert_eq!(over_the_wire(&rows, Listing::Servers).1, rows);
        let rows = v.show_pathway();
        assert_eq!(over_the_wire(&rows, Listing::Pathways).1, rows);
        for rows in [v.show_client(None), clients_with_runners(&v)] {
            assert_eq!(over_the_wire(&rows, Listing::Clients).1, rows);
        }
    }
    let v = master();
    let (_, servers) = over_the_wire(&v.show_server(), Listing::Servers);
    assert_eq!(
        render_server_text(&servers),
        include_str!("../contract/golden/show_vrrs_server.txt")
    );
    let mut pathways = v.show_pathway();
    pathways.extend(started().show_pathway());
    let (_, pathways) = over_the_wire(&pathways, Listing::Pathways);
    assert_eq!(
        render_pathway_text(&pathways),
        include_str!("../contract/golden/show_vrrs_pathway.txt")
    );
    let (_, clients) = over_the_wire(&clients_with_runners(&v), Listing::Clients);
    assert_eq!(
        render_client_text(&clients),
        include_str!("../contract/golden/show_vrrs_client.txt")
    );
    let text = render_client_text(&clients_with_runners(&master()));
    for needle in [
        "Runs: 6, failures 1, timeouts 1, coalesced 2, running now",
        "Last run: killed after 1000 ms",
        "Lines written: 7, dropped 0",
        "Last error: No space left on device",
    ] {
        assert!(text.contains(needle), "{needle:?} missing from:\n{text}");
    }
    assert_eq!(render_pathway_text(&[]), "no VRRS pathways");
    assert_eq!(render_client_text(&[]), "no VRRS clients");
}

#[test]
fn vrrs_renderings() {
    let v = master();
    let rows = v.show_pathway();
    let text = render_pathway_text(&rows);
    for needle in [
        "Pathway [\"group1\"@eth0]",
        "Pathway [\"group1\"@eth1]",
        "State is ACTIVE [VRRS push \"MASTER\"]",
        "Virtual MAC is fe24.fe24.fe24 [Active]",
        "Virtual MAC is 0000.5e00.0105 [Active]",
        "Virtual MAC is 5254.0000.0002 (interface MAC) [Active]",
        "Address-family is IPv4",
        "Options: Default Pathway=1, Owner Mode=0, Accept-Mode=1, Configured vMAC=0",
        "Options: Default Pathway=0, Owner Mode=0, Accept-Mode=1, Configured vMAC=1",
        "Evaluation: No Shut=1, Connected=1, OIR=1",
        "L2 Ready=1, L3 Ready=1, vMAC Ready=1, vIP Ready=1",
        "Virtual Address List: 209.165.201.10",
        "Device is v03fe24fe24fe24",
    ] {
        assert!(text.contains(needle), "{needle:?} missing from:\n{text}");
    }
    let text = render_server_text(&v.show_server());
    for needle in [
        "VRRS server \"group1\"",
        "Protocol VRRP, interface eth0, group 5, address-family IPv4",
        "State is MASTER (previous BACKUP) [test]",
        "Virtual MAC is 0000.5e00.0105",
        "Virtual Address List: 192.0.2.1",
        "Pathways: 3 (3 active), Clients: 3, Pushes: 2",
        "Last change 1970-01-01 00:00:02 UTC",
    ] {
        assert!(text.contains(needle), "{needle:?} missing from:\n{text}");
    }
    let clients = json(v.show_client(None));
    assert_eq!(clients[0]["kind"], "interface-state");
    assert_eq!(clients[0]["interface"], "eth3");
    assert_eq!(clients[1]["path"], "/var/log/netvrrp-acct.json");
    assert_eq!(clients[2]["timeout_ms"], 1000);
    assert_eq!(clients[2]["notices"], 2);
    let text = render_client_text(&v.show_client(None));
    for needle in [
        "Client 1 [interface-state] of \"group1\"",
        "Interface eth3",
        "Client 2 [accounting] of \"group1\"",
        "Path /var/log/netvrrp-acct.json",
        "Client 3 [exec] of \"group1\"",
        "Command [\"/usr/local/bin/notify\",\"x\"], timeout 1000 ms",
        "Notices: 2, last MASTER (previous BACKUP)",
    ] {
        assert!(text.contains(needle), "{needle:?} missing from:\n{text}");
    }
    // Not connected yet.
    let fresh = started();
    let text = render_pathway_text(&fresh.show_pathway());
    assert!(
        text.contains("State is NOT READY [no VRRS push: leader not connected]"),
        "{text}"
    );
    assert!(text.contains("Connected=0"), "{text}");
    assert_eq!(render_server_text(&[]), "no VRRS servers");
}

#[test]
fn vrrs_fanout_of_a_thousand_pathways_is_fast() {
    // Not a benchmark (debug build, shared machine): a guard against quadratic work on the
    // push path, which must stay far below an advert interval.
    let mut text = String::from(
        "[[vrrp]]\ninterface = \"eth0\"\nvrid = 5\nipv4 = [\"192.0.2.1/24\"]\nvrrs-leader = [\"g\"]\n",
    );
    let mut snap = Snapshot {
        links: vec![link(2, "eth0", "52:54:00:00:00:00", &[])],
    };
    for i in 0..1000u32 {
        let m = MacAddr([0x02, 0, 0, 0, (i >> 8) as u8, i as u8]);
        text += &format!(
            "[[vrrs.pathway]]\nleader = \"g\"\ninterface = \"p{i}\"\nmac = \"{m}\"\naddress = [\"10.{}.{}.1/24\"]\n",
            i / 256,
            i % 256
        );
        snap.links
            .push(link(100 + i, &format!("p{i}"), "52:54:00:00:00:09", &[]));
        let mut dev = link(
            5000 + i,
            &desired::pathway_device_name(100 + i, m),
            &m.to_string(),
            &[&format!("10.{}.{}.1/24", i / 256, i % 256)],
        );
        dev.protodown = true;
        snap.links.push(dev);
    }
    let mut v = Vrrs::new(&config(&text));
    v.on_snapshot(&snap);
    v.on_state(1.0, "eth0", 5, Family::Ipv4, State::Backup, "x");
    let t = std::time::Instant::now();
    let f = v.on_state(2.0, "eth0", 5, Family::Ipv4, State::Master, "x");
    let elapsed = t.elapsed();
    // The devices joined the leader's group at start (group 0 in the snapshot): the 1,000
    // protodown changes are one group change; the 1,000 gratuitous packets remain.
    assert_eq!(f.pathway_effects().count(), 1000);
    assert_eq!(f.bulk.len(), 1);
    assert_eq!(
        (f.bulk[0].group, f.bulk[0].on, f.bulk[0].devices.len()),
        (crate::config::DEFAULT_PATHWAY_GROUP_BASE, false, 1000)
    );
    assert!(elapsed.as_millis() < 200, "fan-out took {elapsed:?}");
}

/// A leader with three `mac` pathways (eth1..eth3 -> devices at index 11..13), all ready,
/// their macvlans protodown on and in the leader's device group unless `in_group` is false.
fn three_pathways(base: Option<u32>, in_group: bool) -> (Vrrs, Snapshot, Vec<String>) {
    let mut text = String::new();
    if let Some(b) = base {
        text += &format!("[runtime]\npathway-group-base = {b}\n");
    }
    text += "[[vrrp]]\ninterface = \"eth0\"\nvrid = 5\nipv4 = [\"192.0.2.1/24\"]\nvrrs-leader = [\"g\"]\n";
    let mut snap = Snapshot {
        links: vec![link(2, "eth0", "52:54:00:00:00:00", &[])],
    };
    let mut devices = Vec::new();
    for i in 1..=3u32 {
        let m = MacAddr([0x02, 0, 0, 0, 0, i as u8]);
        text += &format!(
            "[[vrrs.pathway]]\nleader = \"g\"\ninterface = \"eth{i}\"\nmac = \"{m}\"\naddress = [\"10.0.{i}.1/24\"]\n"
        );
        snap.links
            .push(link(2 + i, &format!("eth{i}"), "52:54:00:00:00:09", &[]));
        let name = desired::pathway_device_name(2 + i, m);
        let mut dev = link(10 + i, &name, &m.to_string(), &[&format!("10.0.{i}.1/24")]);
        dev.protodown = true;
        if in_group {
            dev.group = base.unwrap_or(GROUP1);
        }
        snap.links.push(dev);
        devices.push(name);
    }
    let mut v = Vrrs::new(&config(&text));
    v.on_snapshot(&snap);
    (v, snap, devices)
}

/// The fan-out's one group change (leader `g`'s group, default base).
fn expect_bulk(f: &Fanout, on: bool, devices: &[String]) {
    assert_eq!(
        f.bulk,
        vec![BulkProtodown {
            group: GROUP1,
            on,
            devices: devices.to_vec()
        }],
        "{f:#?}"
    );
}

fn protodown_effects(f: &Fanout) -> Vec<(String, bool)> {
    f.pathway_effects()
        .filter_map(|e| match e {
            PathwayEffect::SetProtodown { device, on } => Some((device.clone(), *on)),
            _ => None,
        })
        .collect()
}

#[test]
fn vrrs_bulk_protodown_changes_the_leader_group_at_once() {
    let (mut v, _, devices) = three_pathways(None, true);
    assert_eq!(json(v.show_pathway())[1]["device_group"], GROUP1);
    let f = state(&mut v, 1.0, State::Backup);
    assert!(
        f.bulk.is_empty() && protodown_effects(&f).is_empty(),
        "{f:#?}"
    );
    let f = state(&mut v, 2.0, State::Master);
    expect_bulk(&f, false, &devices);
    // What is left per pathway: its gratuitous packet, after the group change.
    assert!(protodown_effects(&f).is_empty(), "{f:#?}");
    assert_eq!(
        f.pathway_effects()
            .filter(|e| matches!(e, PathwayEffect::Gratuitous { .. }))
            .count(),
        3
    );
    assert!(f.pathways.iter().all(|p| p.state == PathwayState::Active));
    let f = state(&mut v, 3.0, State::Backup);
    expect_bulk(&f, true, &devices);
    assert_eq!(f.pathway_effects().count(), 0, "{f:#?}");
}

#[test]
fn vrrs_pathways_join_the_group_at_start_and_a_not_ready_one_leaves_it() {
    let (mut v, mut snap, devices) = three_pathways(None, false);
    // on_snapshot in three_pathways asked for the moves; a second snapshot (still group 0 in
    // the kernel) repeats them, as the model trusts the snapshot.
    let f = v.on_snapshot(&snap);
    let moves: Vec<_> = f
        .pathway_effects()
        .filter_map(|e| match e {
            PathwayEffect::SetGroup { device, group } => Some((device.clone(), *group)),
            _ => None,
        })
        .collect();
    assert_eq!(
        moves,
        devices
            .iter()
            .map(|d| (d.clone(), GROUP1))
            .collect::<Vec<_>>()
    );
    for d in &devices {
        find(&mut snap, d).group = GROUP1;
    }
    assert!(v.on_snapshot(&snap).is_empty());
    // eth2 loses carrier: NOT READY, out of the group.
    find(&mut snap, "eth2").carrier = false;
    let f = v.on_snapshot(&snap);
    assert_eq!(
        update(&f, "eth2").effects,
        vec![PathwayEffect::SetGroup {
            device: devices[1].clone(),
            group: 0
        }]
    );
    find(&mut snap, &devices[1]).group = 0;
    state(&mut v, 1.0, State::Backup);
    // Master: the group change covers the two ready pathways only; eth2's stays on.
    let f = state(&mut v, 2.0, State::Master);
    expect_bulk(&f, false, &[devices[0].clone(), devices[2].clone()]);
    assert!(protodown_effects(&f).is_empty(), "{f:#?}");
    assert_eq!(
        v.pathway_state_of("g", "eth2"),
        Some(PathwayState::NotReady)
    );
    // Carrier back: it rejoins and follows the leader on its own.
    find(&mut snap, "eth2").carrier = true;
    let f = v.on_snapshot(&snap);
    assert_eq!(
        update(&f, "eth2").effects[..2],
        [
            PathwayEffect::SetGroup {
                device: devices[1].clone(),
                group: GROUP1
            },
            PathwayEffect::SetProtodown {
                device: devices[1].clone(),
                on: false
            }
        ]
    );
}

#[test]
fn vrrs_bulk_never_covers_a_device_it_should_not_change() {
    // A foreign device someone put in the leader's group: per-device changes only.
    let (mut v, mut snap, devices) = three_pathways(None, true);
    let mut foreign = link(50, "other0", "02:99:00:00:00:01", &[]);
    foreign.group = GROUP1;
    snap.links.push(foreign);
    v.on_snapshot(&snap);
    state(&mut v, 1.0, State::Backup);
    let f = state(&mut v, 2.0, State::Master);
    assert!(f.bulk.is_empty(), "{f:#?}");
    assert_eq!(
        protodown_effects(&f),
        devices
            .iter()
            .map(|d| (d.clone(), false))
            .collect::<Vec<_>>()
    );

    // Bulk changes turned off: no group moves, per-device protodown.
    let (mut v, snap, devices) = three_pathways(Some(0), false);
    assert!(v.on_snapshot(&snap).is_empty());
    state(&mut v, 1.0, State::Backup);
    let f = state(&mut v, 2.0, State::Master);
    assert!(f.bulk.is_empty());
    assert_eq!(protodown_effects(&f).len(), devices.len());
    assert!(
        !f.pathway_effects()
            .any(|e| matches!(e, PathwayEffect::SetGroup { .. }))
    );
}

/// A show listing as the control socket carries it.
fn json<T: serde::Serialize>(rows: Vec<T>) -> Value {
    serde_json::to_value(rows).unwrap()
}

#[test]
fn the_link_table_is_kept_only_while_something_reads_it() {
    let plain = config("[[vrrp]]\ninterface = \"eth0\"\nvrid = 5\nipv4 = [\"192.0.2.1/24\"]\n");
    let mut db = Vrrs::new(&plain);
    db.on_snapshot(&snapshot());
    assert!(db.links.is_empty());
    assert!(!db.needs_snapshot());
    // A reload brings pathways and clients: the table is asked for, then kept.
    db.reconfigure(&config(CONFIG));
    assert!(db.needs_snapshot());
    db.on_snapshot(&snapshot());
    assert!(!db.needs_snapshot());
    assert_eq!(db.links.len(), snapshot().links.len());
    // It goes again with them.
    db.reconfigure(&plain);
    assert!(db.links.is_empty());
    assert!(!db.needs_snapshot());
}

/// A reload that gives a running router a leader name: the router makes no transition, so
/// the new leader is connected to its state by `follow_running`, as its first transition
/// connects it at start (clients told from Initialize, pathways following).
#[test]
fn a_leader_added_by_a_reload_follows_its_running_instance() {
    let plain = config("[[vrrp]]\ninterface = \"eth0\"\nvrid = 5\nipv4 = [\"192.0.2.1/24\"]\n");
    let mut v = Vrrs::new(&plain);
    v.on_snapshot(&snapshot());
    v.reconfigure(&config(CONFIG));
    v.on_snapshot(&active_snapshot());
    assert_eq!(v.leader_state("group1"), None, "no transition reported yet");
    let backup = |i: &str, vrid, family| {
        (i == "eth0" && vrid == 5 && family == Family::Ipv4)
            .then_some((State::Backup, Reason::Startup))
    };
    let state_of = |i: &str, vrid, family| backup(i, vrid, family).map(|(s, _)| s);
    assert_eq!(v.unfollowed(state_of), vec!["group1"]);

    let f = v.follow_running(3.0, backup);
    assert_eq!(v.leader_state("group1"), Some(State::Backup));
    let notices: Vec<_> = f.notices().collect();
    assert_eq!(notices.len(), 3, "every client is told: {f:#?}");
    for n in notices {
        assert_eq!(n.seq, 1);
        assert_eq!(
            (n.event.previous, n.event.state, n.event.reason.as_str()),
            (State::Initialize, State::Backup, "startup")
        );
    }
    assert_eq!(pstate(&v, "eth1"), PathwayState::Inactive);
    assert!(v.unfollowed(state_of).is_empty());
    assert!(
        v.follow_running(4.0, backup).is_empty(),
        "a leader that follows is left alone"
    );

    // An instance in Initialize is not followed (a start reports nothing for it), one that
    // does not run neither.
    let mut v = Vrrs::new(&config(CONFIG));
    let initialize = |_: &str, _, _| Some((State::Initialize, Reason::LinkDown));
    assert!(v.unfollowed(|_, _, _| Some(State::Initialize)).is_empty());
    assert!(v.follow_running(5.0, initialize).is_empty());
    assert!(v.follow_running(5.0, |_, _, _| None).is_empty());
    assert_eq!(v.leader_state("group1"), None);
}

/// A `control-read-group` member's client rows name no program or path, and no runner text
/// that could (netvrrp(8), CONTROL SOCKET ACCESS); counters stay.
#[test]
fn redacted_client_rows_hide_argv_paths_and_runner_texts() {
    let rows = clients_with_runners(&master());
    let full = serde_json::to_string(&rows).unwrap();
    let redacted: Vec<ClientRow> = rows.iter().cloned().map(ClientRow::redacted).collect();
    let text = serde_json::to_string(&redacted).unwrap();
    let mut hidden = 0;
    for (row, was) in redacted.iter().zip(&rows) {
        match (&row.kind, &was.kind) {
            (ClientKind::Exec { command, .. }, ClientKind::Exec { command: argv, .. }) => {
                assert_eq!(command, &vec![crate::contract::HIDDEN.to_string()]);
                assert!(
                    full.contains(&argv[0]) && !text.contains(&argv[0]),
                    "{text}"
                );
                hidden += 1;
            }
            (ClientKind::Accounting { path }, ClientKind::Accounting { path: was }) => {
                assert_eq!(path, &crate::contract::hidden_path());
                assert!(full.contains(&*was.to_string_lossy()));
                assert!(!text.contains(&*was.to_string_lossy()), "{text}");
                hidden += 1;
            }
            _ => assert_eq!(row.kind, was.kind),
        }
        assert_eq!(row.notices, was.notices);
    }
    assert!(
        hidden >= 2,
        "the sample has an exec and an accounting client: {full}"
    );
    assert!(
        !text.contains("No space left") && !text.contains("killed after"),
        "{text}"
    );
    assert!(text.contains(r#""runs":6"#), "{text}");
}
