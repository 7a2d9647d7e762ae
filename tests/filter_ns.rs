//! Namespace tests of the VIP filter's fast path (src/daemon/nft_netlink.rs): element-only
//! changes go to nf_tables as one netlink batch, and the tables then hold exactly what a full
//! `nft -f` install of the same state holds; anything the batch cannot vouch for (first
//! install, our tables edited or deleted by someone else) takes the full path.
//!
//! The kernel's view comes from `nft -j list ruleset`, independently of netvrrp's encoder.

mod common;

use common::Netns;
use netvrrp::daemon::filter::{FilterState, Promotion, SyncPath, VipFilter, render};
use serde_json::Value;
use std::io::Write;
use std::net::IpAddr;
use std::process::{Command, Stdio};
use std::time::Instant;

/// Runs in the thread that entered the namespace, so `nft` does too.
fn nft(args: &[&str]) -> String {
    let out = Command::new("nft").args(args).output().expect("run nft");
    assert!(
        out.status.success(),
        "nft {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn nft_script(script: &str) {
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("run nft");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(script.as_bytes())
        .expect("write script");
    assert!(child.wait().expect("nft").success(), "{script}");
}

/// The ruleset without handles (a full install renumbers them), without the time left on
/// lease elements (it runs down) and with set elements in a fixed order (a hash set lists
/// them in bucket order).
fn normalize(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.remove("handle");
            m.remove("expires");
            for (k, x) in m.iter_mut() {
                normalize(x);
                if k == "elem"
                    && let Value::Array(a) = x
                {
                    a.sort_by_key(|e| e.to_string());
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(normalize),
        _ => {}
    }
}

fn ruleset() -> Value {
    let mut v: Value = serde_json::from_str(&nft(&["-j", "list", "ruleset"])).expect("nft json");
    normalize(&mut v);
    v
}

/// The tables must hold exactly what a full install of `s` gives: read them back, replace
/// them with `render(s)` (the full path's script) and read again.
fn assert_same_as_full(s: &FilterState, step: &str) {
    let fast = ruleset();
    nft_script(&render(s));
    let full = ruleset();
    assert_eq!(
        fast, full,
        "step {step}: element batch result differs from nft -f"
    );
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("address")
}

/// States of two instances (ifindexes 7 and 8) on a parent 2 through a failover and a
/// reconfiguration of accept-mode and of the parent's primary address.
fn states() -> Vec<(&'static str, FilterState)> {
    let a = [ip("192.0.2.10"), ip("192.0.2.11"), ip("2001:db8::10")];
    let b = [ip("198.51.100.10"), ip("2001:db8:1::10")];
    let mk = |am: bool, aacc: bool, bm: bool, primary: &str, extra: Option<(u32, &str)>| {
        let mut s = FilterState::default();
        s.add(&a, Some(7), am, aacc, 3000);
        s.add(&b, Some(8), bm, true, 60_000);
        s.primary4.insert(2, primary.parse().expect("v4"));
        if let Some((i, p)) = extra {
            s.primary4.insert(i, p.parse().expect("v4"));
        }
        s
    };
    vec![
        ("both backup", mk(false, true, false, "192.0.2.2", None)),
        ("a master", mk(true, true, false, "192.0.2.2", None)),
        (
            "a master, accept off",
            mk(true, false, false, "192.0.2.2", None),
        ),
        (
            "primary changes, parent added",
            mk(true, false, true, "192.0.2.3", Some((3, "203.0.113.3"))),
        ),
        ("everything empty", FilterState::default()),
        (
            "back to both backup",
            mk(false, true, false, "192.0.2.2", None),
        ),
    ]
}

#[test]
fn element_changes_take_the_batch_and_match_a_full_install() {
    let ns = Netns::new("nvflt");
    ns.block_on(|| async {
        let mut f = VipFilter::default();
        let states = states();
        assert_eq!(f.sync_path(&states[0].1).expect("install"), SyncPath::Full);
        for (name, s) in &states[1..] {
            assert_eq!(
                f.sync_path(s).expect("sync"),
                SyncPath::Elements,
                "step {name}"
            );
            assert_same_as_full(s, name);
            // The comparison replaced the tables behind the filter's back (a foreign commit):
            // a new filter installs them again, and the next step's batch starts from there.
            f = VipFilter::default();
            assert_eq!(f.sync_path(s).expect("reinstall"), SyncPath::Full);
        }
        // Several batches in a row (the generation the filter predicts must hold).
        for (name, s) in states.iter().chain(states.iter()) {
            let p = f.sync_path(s).expect("sync");
            assert!(
                p == SyncPath::Elements || p == SyncPath::Unchanged,
                "step {name}: {p:?}"
            );
        }
        assert_eq!(
            f.sync_path(&states[5].1).expect("same"),
            SyncPath::Unchanged
        );
        assert_same_as_full(&states[5].1, "after consecutive batches");
    });
}

/// 4,000 Masters: their lease renewals (16,000 elements) are one element batch, larger than
/// a netlink socket's default send buffer and than one message's 16-bit element list. They
/// took the full `nft -f` path every advert interval before (EMSGSIZE).
#[test]
fn thousands_of_renewals_take_the_batch() {
    use netvrrp::daemon::filter::Renewal;
    let ns = Netns::new("nvflt");
    ns.block_on(|| async {
        let mut s = FilterState::default();
        let mut renewals = Vec::new();
        for i in 0..4000u32 {
            let vips = [
                IpAddr::from([10, 100 + (i / 250) as u8, 1, (i % 250) as u8 + 1]),
                IpAddr::from([
                    0x2001,
                    0xdb8,
                    0,
                    0,
                    0,
                    0,
                    (i / 250) as u16,
                    (i % 250) as u16 + 1,
                ]),
            ];
            s.add(&vips, Some(100 + i), true, true, 3000);
            renewals.push(Renewal {
                device: Some(100 + i),
                vips: vips.to_vec(),
                lease_ms: 3000,
            });
        }
        let mut f = VipFilter::default();
        assert_eq!(f.sync_path(&s).expect("install"), SyncPath::Full);
        assert_eq!(
            f.update(None, &renewals).expect("renew"),
            SyncPath::Elements
        );
        assert_same_as_full(&s, "after 4,000 renewals");
    });
}

#[test]
fn foreign_changes_fall_back_to_a_full_install() {
    let ns = Netns::new("nvflt");
    ns.block_on(|| async {
        let states = states();
        let mut f = VipFilter::default();
        f.sync_path(&states[0].1).expect("install");
        // Somebody adds an element to our set: the batch would leave it there.
        nft(&[
            "add",
            "element",
            "inet",
            "netvrrp",
            "block4",
            "{ 203.0.113.99 }",
        ]);
        assert_eq!(f.sync_path(&states[1].1).expect("sync"), SyncPath::Full);
        assert!(!nft(&["list", "table", "inet", "netvrrp"]).contains("203.0.113.99"));
        assert_same_as_full(&states[1].1, "after foreign element");
        // Somebody deletes one of our tables.
        let mut f = VipFilter::default();
        f.sync_path(&states[1].1).expect("install");
        nft(&["delete", "table", "arp", "netvrrp"]);
        assert_eq!(f.sync_path(&states[2].1).expect("sync"), SyncPath::Full);
        assert_same_as_full(&states[2].1, "after foreign delete");
        // An unrelated table changes: still a foreign commit, still the safe path.
        let mut f = VipFilter::default();
        f.sync_path(&states[2].1).expect("install");
        nft(&["add", "table", "ip", "other"]);
        assert_eq!(f.sync_path(&states[3].1).expect("sync"), SyncPath::Full);
        // And the batch works again afterwards.
        assert_eq!(f.sync_path(&states[4].1).expect("sync"), SyncPath::Elements);
    });
}

/// A new Master's promotion (what the election loop does before the router's first
/// advert): the tables afterwards are exactly a full install of the state with that router
/// Master, the loop's next state finds nothing left to do, and states stamped before the
/// promotion are stale (the filter task skips them). Without anything installed there is
/// no fast path: the task's sync does it.
#[test]
fn a_promotion_opens_one_router_as_a_full_install_would() {
    let ns = Netns::new("nvflt");
    ns.block_on(|| async {
        let a = [ip("192.0.2.10"), ip("192.0.2.11"), ip("2001:db8::10")];
        let b = [ip("198.51.100.10"), ip("2001:db8:1::10")];
        let state = |a_master: bool, accept: bool| {
            let mut s = FilterState::default();
            s.add(&a, Some(7), a_master, accept, 3000);
            s.add(&b, Some(8), false, true, 3000);
            s.primary4.insert(2, ip4("192.0.2.2"));
            s
        };
        for accept in [true, false] {
            let p = Promotion {
                device: Some(7),
                vips: &a,
                accept,
                lease_ms: 3000,
            };
            let mut f = VipFilter::default();
            assert!(!f.promote(&p, 0).expect("nothing installed"));
            f.sync_path(&state(false, accept)).expect("install");
            assert!(f.promote(&p, 5).expect("promote"), "accept {accept}");
            assert!(f.is_stale(4) && !f.is_stale(5) && !f.is_stale(6));
            assert_eq!(
                f.sync_path(&state(true, accept)).expect("sync"),
                SyncPath::Unchanged,
                "accept {accept}: the promotion left something to do"
            );
            assert_same_as_full(&state(true, accept), &format!("promotion, accept {accept}"));
        }
    });
}

fn ip4(s: &str) -> std::net::Ipv4Addr {
    s.parse().expect("v4")
}

#[test]
fn measure_batch_vs_nft() {
    let ns = Netns::new("nvflt");
    ns.block_on(|| async {
        let states = states();
        let (a, b) = (&states[0].1, &states[1].1);
        let rounds = 20u32;
        let mut f = VipFilter::default();
        f.sync_path(a).expect("install");
        let t = Instant::now();
        for i in 0..rounds {
            let s = if i % 2 == 0 { b } else { a };
            assert_eq!(f.sync_path(s).expect("sync"), SyncPath::Elements);
        }
        let batch = t.elapsed() / rounds;
        // Fresh filters know nothing installed: the full path. They are dropped after the
        // clock stops (closing their netlink sockets waits for an RCU grace period).
        let mut fresh: Vec<VipFilter> = (0..rounds).map(|_| VipFilter::default()).collect();
        let t = Instant::now();
        for (i, f) in fresh.iter_mut().enumerate() {
            let s = if i % 2 == 0 { b } else { a };
            assert_eq!(f.sync_path(s).expect("sync"), SyncPath::Full);
        }
        let full = t.elapsed() / rounds;
        drop(fresh);
        println!(
            "[measure] filter sync, failover-sized change: batch {:?}, nft -f {:?} (ratio {:.1}x, {rounds} rounds each)",
            batch,
            full,
            full.as_secs_f64() / batch.as_secs_f64()
        );
    });
}
