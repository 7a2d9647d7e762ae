//! The kernel edge against a real kernel, each test in its own network namespace (root).
//! Results are checked twice: through our snapshot and through iproute2's JSON output.

mod common;

use common::Netns;
use futures::StreamExt;
use netvrrp::kernel::{Kernel, KernelEvent, MacvlanMode, Outcome, events};
use netvrrp::plan::Op;
use netvrrp::types::{AddrGenMode, Family, MacAddr};
use serde_json::Value;
use std::time::{Duration, Instant};

fn create(dev: &str, parent: &str, parent_index: u32, mac: MacAddr) -> Op {
    Op::CreateMacvlan {
        device: dev.into(),
        parent: parent.into(),
        parent_index,
        mac,
    }
}

fn sysctl(dev: &str, name: &str, value: i32) -> Op {
    Op::SetSysctl {
        device: dev.into(),
        name: name.into(),
        value,
        previous: 1,
    }
}

fn add(dev: &str, a: &str) -> Op {
    Op::AddAddress {
        device: dev.into(),
        address: a.parse().unwrap(),
    }
}

fn admin(dev: &str, up: bool) -> Op {
    Op::SetAdmin {
        device: dev.into(),
        up,
        previous: !up,
    }
}

fn protodown(dev: &str, on: bool) -> Op {
    Op::SetProtodown {
        device: dev.into(),
        on,
        previous: !on,
    }
}

fn link_json(ns: &Netns, dev: &str) -> Value {
    ns.ip_json(&["-d", "link", "show", "dev", dev])[0].clone()
}

/// (family, local, prefixlen, nodad) of every address of `dev`, from `ip -j addr`.
fn addrs_json(ns: &Netns, dev: &str) -> Vec<(String, String, u64, bool)> {
    let v = ns.ip_json(&["addr", "show", "dev", dev]);
    v[0]["addr_info"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["family"].as_str().unwrap().to_string(),
                a["local"].as_str().unwrap().to_string(),
                a["prefixlen"].as_u64().unwrap(),
                a["nodad"].as_bool().unwrap_or(false),
            )
        })
        .collect()
}

fn has_flag(link: &Value, flag: &str) -> bool {
    link["flags"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f.as_str() == Some(flag))
}

#[test]
fn provision_sequence_snapshot_and_iproute2_agree() {
    let ns = Netns::new("nvk-prov");
    ns.veth("veth0", "veth1");
    let pi = ns.ifindex("veth0");
    let dev = format!("vrrp6-{pi}-5");
    let mac = MacAddr::vrrp(Family::Ipv6, 5);
    let ops = vec![
        create(&dev, "veth0", pi, mac),
        Op::SetAddrGenMode {
            device: dev.clone(),
            mode: AddrGenMode::Random,
            previous: Some(AddrGenMode::Eui64),
        },
        sysctl(&dev, "accept_dad", 0),
        sysctl(&dev, "dad_transmits", 0),
        sysctl(&dev, "enhanced_dad", 0),
        add(&dev, "10.0.0.1/24"),
        add(&dev, "2001:db8::1/64"),
        admin(&dev, true),
        protodown(&dev, true),
    ];

    let snap = ns.block_on(|| async {
        let k = Kernel::connect().await.unwrap();
        k.snapshot().await.unwrap();
        for op in &ops {
            k.execute(op).await.unwrap_or_else(|e| panic!("{e}"));
        }
        k.snapshot().await.unwrap()
    });

    // Our snapshot.
    let link = snap.by_name(&dev).expect("device in snapshot");
    assert_eq!(link.kind.as_deref(), Some("macvlan"));
    assert_eq!(link.macvlan_mode, Some(MacvlanMode::Bridge));
    assert_eq!(link.parent_index, Some(pi));
    assert_eq!(link.mac, Some(mac));
    assert_eq!(link.addrgenmode, Some(AddrGenMode::Random));
    assert!(link.protodown);
    assert!(link.admin_up);
    // protodown takes the carrier away.
    assert!(!link.carrier);
    assert_eq!(link.dad_sysctls, Some([0, 0, 0]));
    assert!(link.addresses.contains(&"10.0.0.1/24".parse().unwrap()));
    assert!(link.addresses.contains(&"2001:db8::1/64".parse().unwrap()));
    let veth = snap.by_name("veth0").unwrap();
    assert_eq!(veth.kind.as_deref(), Some("veth"));
    assert!(veth.admin_up && veth.carrier);

    // iproute2's view, parsed independently.
    let j = link_json(&ns, &dev);
    assert_eq!(j["ifindex"].as_u64(), Some(link.index as u64));
    assert_eq!(j["link"], "veth0");
    assert_eq!(j["linkinfo"]["info_kind"], "macvlan");
    assert_eq!(j["linkinfo"]["info_data"]["mode"], "bridge");
    assert_eq!(j["address"], mac.to_string());
    assert_eq!(j["inet6_addr_gen_mode"], "random");
    assert_eq!(j["proto_down"], true);
    assert!(has_flag(&j, "UP"));
    assert!(has_flag(&j, "NO-CARRIER"));
    // No operstate comparison here: the kernel updates operstate asynchronously
    // (linkwatch), so two reads moments apart may differ; carrier (IFF_LOWER_UP) is not.
    let addrs = addrs_json(&ns, &dev);
    assert!(addrs.contains(&("inet".into(), "10.0.0.1".into(), 24, false)));
    assert!(
        addrs.contains(&("inet6".into(), "2001:db8::1".into(), 64, true)),
        "{addrs:?}"
    );
    for name in ["accept_dad", "dad_transmits", "enhanced_dad"] {
        let out = ns.exec(&["cat", &format!("/proc/sys/net/ipv6/conf/{dev}/{name}")]);
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "0", "{name}");
    }

    // The runtime's by-index hot path.
    let index = link.index;
    let snap = ns.block_on(|| async {
        let k = Kernel::connect().await.unwrap();
        k.set_protodown(index, false).await.unwrap();
        // Another subnet: deleting 10.0.0.1/24 (a primary) also deletes its secondaries.
        k.add_address(index, "10.0.5.2/24".parse().unwrap())
            .await
            .unwrap();
        k.del_address(index, "10.0.0.1/24".parse().unwrap())
            .await
            .unwrap();
        let err = k
            .del_address(index, "10.0.0.1/24".parse().unwrap())
            .await
            .unwrap_err();
        assert!(
            err.to_string()
                .starts_with(&format!("del address 10.0.0.1/24 dev ifindex {index}: ")),
            "{err}"
        );
        // operstate follows carrier through linkwatch, asynchronously: poll for it.
        let deadline = Instant::now() + Duration::from_secs(5);
        let s = loop {
            let s = k.snapshot().await.unwrap();
            if s.by_index(index).unwrap().operstate == "up" || Instant::now() > deadline {
                break s;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        k.set_admin(index, false).await.unwrap();
        s
    });
    let link = snap.by_name(&dev).unwrap();
    assert!(!link.protodown && link.carrier && link.admin_up);
    assert_eq!(link.operstate, "up");
    assert!(link.addresses.contains(&"10.0.5.2/24".parse().unwrap()));
    assert!(!link.addresses.contains(&"10.0.0.1/24".parse().unwrap()));
    let j = link_json(&ns, &dev);
    // iproute2 omits "proto_down" when it is off.
    assert_ne!(j["proto_down"], true);
    assert!(!has_flag(&j, "UP"));
}

#[test]
fn execute_many_pipelines_and_stops_after_a_failure() {
    let ns = Netns::new("nvk-many");
    ns.veth("veth0", "veth1");
    let pi = ns.ifindex("veth0");
    let devs: Vec<String> = (1..=3).map(|v| format!("vrrp4-{pi}-{v}")).collect();
    let mut ops = Vec::new();
    for (i, dev) in devs.iter().enumerate() {
        let vrid = i as u8 + 1;
        ops.push(create(dev, "veth0", pi, MacAddr::vrrp(Family::Ipv4, vrid)));
        ops.push(Op::SetAddrGenMode {
            device: dev.clone(),
            mode: AddrGenMode::None,
            previous: None,
        });
        ops.push(add(dev, &format!("10.0.{vrid}.1/24")));
        ops.push(protodown(dev, true));
        ops.push(admin(dev, true));
    }
    let fresh = format!("vrrp4-{pi}-9");
    let failing = vec![
        // Level 0: a duplicate address (refused) next to an independent create (done).
        add(&devs[0], "10.0.1.1/24"),
        create(&fresh, "veth0", pi, MacAddr::vrrp(Family::Ipv4, 9)),
        // Level 1: never sent.
        admin(&fresh, true),
    ];
    let (first, second) = ns.block_on(|| async {
        let k = Kernel::connect().await.unwrap();
        k.snapshot().await.unwrap();
        (k.execute_many(&ops).await, k.execute_many(&failing).await)
    });
    assert!(first.iter().all(Outcome::is_done), "{first:?}");
    for (i, dev) in devs.iter().enumerate() {
        let j = link_json(&ns, dev);
        assert_eq!(j["linkinfo"]["info_data"]["mode"], "bridge");
        assert_eq!(j["inet6_addr_gen_mode"], "none");
        assert_eq!(j["proto_down"], true);
        assert!(has_flag(&j, "UP"));
        let addrs = addrs_json(&ns, dev);
        assert_eq!(
            addrs,
            vec![("inet".into(), format!("10.0.{}.1", i + 1), 24, false)]
        );
    }
    match &second[0] {
        Outcome::Failed(e) => assert!(
            e.to_string().starts_with(&format!(
                "add address 10.0.1.1/24 dev {}: File exists (os error 17)",
                devs[0]
            )),
            "{e}"
        ),
        other => panic!("expected a failure, got {other:?}"),
    }
    assert_eq!(second[1], Outcome::Done);
    assert_eq!(second[2], Outcome::NotRun);
    assert!(!has_flag(&link_json(&ns, &fresh), "UP"));
}

#[test]
fn failures_name_the_operation_and_the_errno() {
    let ns = Netns::new("nvk-fail");
    ns.veth("veth0", "veth1");
    let pi = ns.ifindex("veth0");
    let dev = format!("vrrp4-{pi}-1");
    let errors = ns.block_on(|| async {
        let k = Kernel::connect().await.unwrap();
        k.snapshot().await.unwrap();
        k.execute(&create(&dev, "veth0", pi, MacAddr::vrrp(Family::Ipv4, 1)))
            .await
            .unwrap();
        k.execute(&create(
            "other0",
            "veth0",
            pi,
            MacAddr::vrrp(Family::Ipv4, 1),
        ))
        .await
        .unwrap();
        k.execute(&admin(&dev, true)).await.unwrap();
        let mut errors = Vec::new();
        for op in [
            add("nope0", "10.9.9.9/24"),
            add(&dev, "ff02::5/64"),
            create(&dev, "veth0", pi, MacAddr::vrrp(Family::Ipv4, 2)),
            // Same MAC as a macvlan on the same lower device: created fine, refused at up.
            admin("other0", true),
            sysctl("nope0", "accept_dad", 0),
            admin("nope0", true),
        ] {
            errors.push(k.execute(&op).await.unwrap_err());
        }
        errors
    });
    for e in &errors {
        eprintln!("{e}");
    }
    assert_eq!(
        errors[0].to_string(),
        "add address 10.9.9.9/24 dev nope0: No such device (os error 19)"
    );
    assert!(
        errors[1].to_string().starts_with(&format!(
            "add address ff02::5/64 dev {dev}: Cannot assign requested address (os error 99) (kernel: "
        )),
        "{}",
        errors[1]
    );
    assert!(
        errors[2].to_string().starts_with(&format!(
            "create macvlan {dev} link veth0 mode bridge address 00:00:5e:00:01:02: File exists (os error 17)"
        )),
        "{}",
        errors[2]
    );
    assert_eq!(
        errors[3].to_string(),
        "set other0 up: Address already in use (os error 98)"
    );
    assert_eq!(
        errors[4].to_string(),
        "sysctl net.ipv6.conf.nope0.accept_dad=0: No such file or directory (os error 2)"
    );
    assert_eq!(
        errors[5].to_string(),
        "set nope0 up: No such device (os error 19)"
    );
}

#[test]
fn rename_mac_mode_delete_and_stale_index() {
    let ns = Netns::new("nvk-chg");
    ns.veth("veth0", "veth1");
    let pi = ns.ifindex("veth0");
    let old = "vrrp4-99-1".to_string();
    let new = format!("vrrp4-{pi}-1");
    let mac1 = MacAddr::vrrp(Family::Ipv4, 1);
    let mac2 = MacAddr::vrrp(Family::Ipv4, 2);
    ns.block_on(|| async {
        let k = Kernel::connect().await.unwrap();
        k.snapshot().await.unwrap();
        k.execute(&create(&old, "veth0", pi, mac1)).await.unwrap();
        // Renamed up, as the plan does on Linux 6.2 and later (`plan::Renaming`): the
        // kernel keeps the link up through it.
        k.execute(&admin(&old, true)).await.unwrap();
        k.execute(&Op::Rename {
            device: new.clone(),
            from: old.clone(),
        })
        .await
        .unwrap();
        let renamed = k.snapshot().await.unwrap();
        assert!(renamed.by_name(&new).is_some_and(|l| l.admin_up));
        k.execute(&Op::SetMac {
            device: new.clone(),
            mac: mac2,
            previous: mac1,
        })
        .await
        .unwrap();
        k.execute(&Op::SetMacvlanMode {
            device: new.clone(),
            mode: MacvlanMode::Private,
            previous: MacvlanMode::Bridge,
        })
        .await
        .unwrap();
        k.execute(&admin(&new, true)).await.unwrap();
        let snap = k.snapshot().await.unwrap();
        let link = snap.by_name(&new).unwrap().clone();
        assert_eq!(link.mac, Some(mac2));
        assert_eq!(link.macvlan_mode, Some(MacvlanMode::Private));
        assert!(link.admin_up);
        assert!(snap.by_name(&old).is_none());
    });
    let j = link_json(&ns, &new);
    assert_eq!(j["linkinfo"]["info_data"]["mode"], "private");
    assert_eq!(j["address"], mac2.to_string());

    // A device re-created behind the cache's back: the stale index is retried by name.
    ns.block_on(|| async {
        let k = Kernel::connect().await.unwrap();
        k.snapshot().await.unwrap();
        ns.ip_ok(&["link", "del", &new]);
        ns.ip_ok(&[
            "link", "add", "link", "veth0", "name", &new, "type", "macvlan", "mode", "bridge",
        ]);
        k.execute(&admin(&new, true)).await.unwrap();
        k.execute(&Op::DeleteMacvlan {
            device: new.clone(),
            parent: "veth0".into(),
            parent_index: pi,
            mac: mac2,
        })
        .await
        .unwrap();
        let snap = k.snapshot().await.unwrap();
        assert!(snap.by_name(&new).is_none());
    });
}

#[test]
fn events_see_links_and_addresses_come_and_go() {
    let ns = Netns::new("nvk-ev");
    ns.block_on(|| async {
        let mut ev = events().await.unwrap();
        ns.ip_ok(&[
            "link", "add", "evt0", "type", "veth", "peer", "name", "evt1",
        ]);
        ns.ip_ok(&["addr", "add", "192.0.2.7/24", "dev", "evt0"]);
        ns.ip_ok(&["link", "del", "evt0"]);
        let (mut added, mut addr, mut removed) = (None, false, false);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !(added.is_some() && addr && removed) {
            let left = deadline.saturating_duration_since(Instant::now());
            let e = tokio::time::timeout(left, ev.next())
                .await
                .expect("events within 10 s")
                .expect("stream open");
            match e {
                KernelEvent::LinkChanged(l) if l.name == "evt0" => {
                    assert_eq!(l.kind.as_deref(), Some("veth"));
                    added = Some(l.index);
                }
                KernelEvent::AddressChanged { index, address }
                    if Some(index) == added && address.to_string() == "192.0.2.7/24" =>
                {
                    addr = true
                }
                KernelEvent::LinkRemoved { index, name } if name == "evt0" => {
                    assert_eq!(Some(index), added);
                    removed = true;
                }
                KernelEvent::Overrun => panic!("overrun with a handful of events"),
                _ => {}
            }
        }
    });
}

#[test]
fn snapshot_of_1000_macvlans() {
    const N: usize = 1000;
    let ns = Netns::new("nvk-snap");
    ns.veth("veth0", "veth1");
    let mut batch = String::new();
    for i in 0..N {
        let name = format!("mv{i}");
        batch += &format!(
            "link add link veth0 name {name} address 02:00:00:00:{:02x}:{:02x} type macvlan mode bridge\n",
            i / 256,
            i % 256
        );
        batch += &format!("addr add 10.{}.{}.1/24 dev {name}\n", i / 256, i % 256);
    }
    let file = ns.run_dir().join("batch");
    std::fs::write(&file, batch).unwrap();
    ns.ip_ok(&["-batch", file.to_str().unwrap()]);

    let (best, snap) = ns.block_on(|| async {
        let k = Kernel::connect().await.unwrap();
        let mut best = Duration::MAX;
        let mut snap = None;
        for _ in 0..5 {
            let t = Instant::now();
            let s = k.snapshot().await.unwrap();
            best = best.min(t.elapsed());
            snap = Some(s);
        }
        (best, snap.unwrap())
    });
    eprintln!(
        "snapshot of {} links ({N} macvlans, {N} addresses): best of 5 {:.2} ms",
        snap.links.len(),
        best.as_secs_f64() * 1e3
    );
    let macvlans: Vec<_> = snap
        .links
        .iter()
        .filter(|l| l.kind.as_deref() == Some("macvlan"))
        .collect();
    assert_eq!(macvlans.len(), N);
    assert!(macvlans.iter().all(|l| l.addresses.len() == 1
        && l.macvlan_mode == Some(MacvlanMode::Bridge)
        && l.dad_sysctls.is_some()));
}
