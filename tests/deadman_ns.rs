//! The dead-man switch (issue 16 item 1): a Master whose runtime dies (SIGKILL) or hangs
//! (SIGSTOP) with its port up stops answering for its VIP, ARP/ND and IP alike, once its
//! leases run out; it answers again once a runtime is Master again (a new `apply`, SIGCONT).
//!
//! The lab (tests/common/lab.rs): one router `r1` (10.N.0.1/24, fd00:N::1/64) running
//! netvrrp through `apply` and the host `h` (10.N.0.100/24, fd00:N::100/64) on the switch's
//! bridge. One router on purpose: with no backup to take over, whatever answers for the VIP
//! is the dead box. The host asks twice: a neighbour request (ARP, or an IPv6 Neighbor
//! Solicitation: its neighbour entry deleted, then a ping; the entry resolves only if
//! somebody answered) and an echo request to the virtual MAC directly (a permanent neighbour
//! entry: no ARP/ND involved). Conditions are waited for with a bound; how long the
//! silence took is measured by bench/deadman.sh, not asserted here.

mod common;

use common::lab::{Lab, try_show, try_state};
use common::{text, wait_until};
use std::fs;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const VRID: u8 = 10;
/// Advertisement interval, ms: leases of 200 ms renewed after every advert.
const INTERVAL: u32 = 100;
/// An interval from which leases are renewed after every other advert (2.5 intervals:
/// 1,250 ms), see `filter::adverts_per_renewal`.
const SPARSE_INTERVAL: u32 = 500;
/// The virtual MACs of VRID 10 (RFC 9568 7.3): IPv4, IPv6.
const VMAC4: &str = "00:00:5e:00:01:0a";
const VMAC6: &str = "00:00:5e:00:02:0a";

/// One router's view of the lab: which family its VIP is.
#[derive(Clone, Copy, PartialEq)]
enum Family {
    V4,
    V6,
}

impl Family {
    fn name(self) -> &'static str {
        match self {
            Family::V4 => "ipv4",
            Family::V6 => "ipv6",
        }
    }

    fn vmac(self) -> &'static str {
        match self {
            Family::V4 => VMAC4,
            Family::V6 => VMAC6,
        }
    }
}

impl Lab {
    fn new(tag: &str, net: u8) -> Lab {
        let mut lab = Lab::switch(tag, net);
        let r = lab.add_router(Some(&format!("02:00:00:00:{net:02x}:01")), |_| {});
        r.ip_ok(&["addr", "add", &format!("10.{net}.0.1/24"), "dev", "eth0"]);
        r.ip_ok(&[
            "addr",
            "add",
            &format!("fd00:{net:x}::1/64"),
            "dev",
            "eth0",
            "nodad",
        ]);
        let host = lab.add_host(Some(&format!("02:00:00:00:{net:02x}:64")), |_| {});
        host.ip_ok(&["addr", "add", &format!("10.{net}.0.100/24"), "dev", "eth0"]);
        host.ip_ok(&[
            "addr",
            "add",
            &format!("fd00:{net:x}::100/64"),
            "dev",
            "eth0",
            "nodad",
        ]);
        lab
    }

    fn vip(&self, family: Family) -> IpAddr {
        match family {
            Family::V4 => Ipv4Addr::new(10, self.net, 0, 210).into(),
            Family::V6 => Ipv6Addr::new(0xfd00, self.net.into(), 0, 0, 0, 0, 0, 0x210).into(),
        }
    }

    /// r1's config: one v3 router of `family` with accept-mode, so the VIP answers pings.
    fn config(&self, family: Family, interval: u32) -> PathBuf {
        let path = self.r(1).dir().join("r1.toml");
        let body = format!(
            "[[vrrp]]\ninterface = \"eth0\"\nvrid = {VRID}\npriority = 200\nadvertisement-interval = {interval}\naccept-mode = true\n{} = [\"{}/{}\"]\n",
            family.name(),
            self.vip(family),
            if family == Family::V4 { 24 } else { 64 }
        );
        fs::write(&path, body).unwrap();
        path
    }

    fn wait_master(&self, family: Family) {
        wait_until(
            Duration::from_secs(10),
            || format!("r1 Master; now {:?}", try_show(self.r(1))),
            || {
                (try_state(self.r(1), VRID, family.name()).as_deref() == Some("master"))
                    .then_some(())
            },
        );
    }

    /// `kill SIG` to r1's runtime; -KILL kills its supervisor first (the box dies, nothing
    /// restarts it).
    fn signal(&self, sig: &str) {
        let pid = fs::read_to_string(self.r(1).run_dir().join("netvrrp.pid")).expect("pid file");
        if sig == "-KILL" {
            common::kill9_runtime(pid.trim().parse().expect("pid"));
            return;
        }
        let ok = Command::new("kill")
            .args([sig, pid.trim()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill {sig}");
    }

    /// One echo request from the host to the VIP; true if a reply came back.
    fn ping(&self, family: Family) -> bool {
        let out = self.host().exec(&[
            "ping",
            "-n",
            "-q",
            "-c",
            "1",
            "-W",
            "1",
            &self.vip(family).to_string(),
        ]);
        out.status.success()
    }

    /// Does anybody answer the host's ARP request or Neighbor Solicitation for the VIP
    /// (with the virtual MAC)?
    fn answers_neighbour(&self, family: Family) -> bool {
        let vip = self.vip(family).to_string();
        let _ = self.host().ip(&["neigh", "del", &vip, "dev", "eth0"]);
        self.ping(family);
        let v = self
            .host()
            .ip_json(&["neigh", "show", "to", &vip, "dev", "eth0"]);
        v[0]["lladdr"].as_str() == Some(family.vmac())
    }

    /// Does anybody answer an echo request sent straight to the virtual MAC?
    fn answers_ip(&self, family: Family) -> bool {
        let vip = self.vip(family).to_string();
        self.host().ip_ok(&[
            "neigh",
            "replace",
            &vip,
            "lladdr",
            family.vmac(),
            "dev",
            "eth0",
            "nud",
            "permanent",
        ]);
        let answered = self.ping(family);
        let _ = self.host().ip(&["neigh", "del", &vip, "dev", "eth0"]);
        answered
    }

    /// Packets the dead-man rules dropped so far (the `!= @live…` rules' counters).
    fn dead_man_drops(&self) -> u64 {
        let rules = text(&self.r(1).exec(&["nft", "list", "ruleset"]));
        rules
            .lines()
            .filter(|l| l.contains("!= @live"))
            .map(|l| {
                let n = l.split_whitespace().skip_while(|w| *w != "packets").nth(1);
                n.and_then(|n| n.parse::<u64>().ok())
                    .unwrap_or_else(|| panic!("no counter in {l}"))
            })
            .sum()
    }

    /// Wait until the VIP answers (`on`) or is silent, for ARP/ND and IP both.
    fn wait_answering(&self, family: Family, on: bool, why: &str) {
        wait_until(
            Duration::from_secs(10),
            || {
                format!(
                    "{why}: the VIP should {}answer; nft: {}",
                    if on { "" } else { "not " },
                    text(&self.r(1).exec(&["nft", "list", "ruleset"]))
                )
            },
            || {
                (self.answers_neighbour(family) == on && self.answers_ip(family) == on)
                    .then_some(())
            },
        );
    }
}

/// Before: the live Master answers. SIGKILL (port up, devices left up): silence once the
/// leases run out, and it stays so. A new `apply` starts a runtime that becomes Master: the
/// VIP answers again.
fn killed_master(family: Family, tag: &str, net: u8) {
    let lab = Lab::new(tag, net);
    let cfg = lab.config(family, INTERVAL);
    lab.apply_file(1, &cfg);
    lab.wait_master(family);
    lab.wait_answering(family, true, "live Master");
    killed_and_restarted(&lab, family, &cfg);
}

fn killed_and_restarted(lab: &Lab, family: Family, cfg: &Path) {
    lab.signal("-KILL");
    lab.wait_answering(family, false, "after kill -9");
    // The vrrp device is still there and up (nothing but the filter keeps it quiet).
    let dev = lab.r(1).ip_json(&["-d", "link", "show", "type", "macvlan"]);
    assert!(
        dev.as_array().is_some_and(|a| a
            .iter()
            .any(|l| l["operstate"] != "DOWN" && l["protodown"] != true)),
        "the test needs the dead box's vrrp device up: {dev}"
    );
    assert!(
        !lab.answers_neighbour(family) && !lab.answers_ip(family),
        "answered again"
    );
    lab.apply_file(1, cfg);
    lab.wait_master(family);
    lab.wait_answering(family, true, "restarted Master");
}

/// SIGSTOP (a hung runtime): silence once the leases run out; SIGCONT: the loop renews the
/// leases again and the VIP answers.
fn stopped_master(family: Family, tag: &str, net: u8) {
    let lab = Lab::new(tag, net);
    lab.apply_file(1, &lab.config(family, INTERVAL));
    lab.wait_master(family);
    lab.wait_answering(family, true, "live Master");
    lab.signal("-STOP");
    lab.wait_answering(family, false, "after SIGSTOP");
    lab.signal("-CONT");
    lab.wait_master(family);
    lab.wait_answering(family, true, "after SIGCONT");
}

#[test]
fn killed_master_stops_answering_and_answers_after_restart() {
    killed_master(Family::V4, "dmk", 81);
}

#[test]
fn stopped_master_stops_answering_and_answers_after_sigcont() {
    stopped_master(Family::V4, "dms", 82);
}

/// IPv6: the dead box stops answering Neighbor Solicitations and echo requests for the VIP.
#[test]
fn killed_ipv6_master_stops_answering_nd_and_answers_after_restart() {
    killed_master(Family::V6, "dmk6", 83);
}

#[test]
fn stopped_ipv6_master_stops_answering_nd_and_answers_after_sigcont() {
    stopped_master(Family::V6, "dms6", 84);
}

/// From 500 ms the leases are renewed after every other advert only, with a longer lease: a
/// live Master never loses them between renewals (400 echo requests 10 ms apart over 8
/// adverts, every one answered, and the dead-man rules dropped nothing), and a killed one
/// still falls silent.
#[test]
fn sparse_renewals_keep_a_live_master_answering_and_a_killed_one_silent() {
    let family = Family::V4;
    let lab = Lab::new("dmsp", 85);
    let cfg = lab.config(family, SPARSE_INTERVAL);
    lab.apply_file(1, &cfg);
    lab.wait_master(family);
    lab.wait_answering(family, true, "live Master");
    let before = lab.dead_man_drops();
    let vip = lab.vip(family).to_string();
    let out = lab.host().exec(&[
        "ping", "-n", "-q", "-i", "0.01", "-c", "400", "-W", "1", &vip,
    ]);
    let summary = text(&out);
    assert!(
        summary.contains("400 packets transmitted, 400 received"),
        "a live Master stopped answering between renewals: {summary}"
    );
    assert_eq!(
        lab.dead_man_drops(),
        before,
        "the dead-man rules dropped traffic to a live Master: {}",
        text(&lab.r(1).exec(&["nft", "list", "ruleset"]))
    );
    killed_and_restarted(&lab, family, &cfg);
}
