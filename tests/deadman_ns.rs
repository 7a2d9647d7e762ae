//! The dead-man switch (issue 16 item 1): a Master whose runtime dies (SIGKILL) or hangs
//! (SIGSTOP) with its port up stops answering for its VIP, ARP and IP alike, once its
//! leases run out; it answers again once a runtime is Master again (a new `apply`, SIGCONT).
//!
//! The lab (tests/common/lab.rs): one router `r1` (10.N.0.1/24) running netvrrp through
//! `apply` and the host `h` (10.N.0.100/24) on the switch's bridge. One router on purpose:
//! with no backup to take over, whatever answers for the VIP is the dead box. The host asks
//! twice: an ARP request (its neighbour entry deleted, then a ping: the entry resolves only
//! if somebody answered ARP) and an echo request to the virtual MAC directly (a permanent
//! neighbour entry: no ARP involved). Conditions are waited for with a bound; how long the
//! silence took is measured by bench/deadman.sh, not asserted here.

mod common;

use common::lab::{Lab, try_show, try_state};
use common::{text, wait_until};
use std::fs;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

const VRID: u8 = 10;
/// Advertisement interval, ms: leases of 200 ms.
const INTERVAL: u32 = 100;
const VMAC: &str = "00:00:5e:00:01:0a";

impl Lab {
    fn new(tag: &str, net: u8) -> Lab {
        let mut lab = Lab::switch(tag, net);
        let r = lab.add_router(Some(&format!("02:00:00:00:{net:02x}:01")), |_| {});
        r.ip_ok(&["addr", "add", &format!("10.{net}.0.1/24"), "dev", "eth0"]);
        let host = lab.add_host(Some(&format!("02:00:00:00:{net:02x}:64")), |_| {});
        host.ip_ok(&["addr", "add", &format!("10.{net}.0.100/24"), "dev", "eth0"]);
        lab
    }

    fn vip(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, self.net, 0, 210)
    }

    /// r1's config: one v3 IPv4 router with accept-mode, so the VIP answers pings.
    fn config(&self) -> PathBuf {
        let path = self.r(1).dir().join("r1.toml");
        let body = format!(
            "[[vrrp]]\ninterface = \"eth0\"\nvrid = {VRID}\npriority = 200\nadvertisement-interval = {INTERVAL}\naccept-mode = true\nipv4 = [\"{}/24\"]\n",
            self.vip()
        );
        fs::write(&path, body).unwrap();
        path
    }

    fn wait_master(&self) {
        wait_until(
            Duration::from_secs(10),
            || format!("r1 Master; now {:?}", try_show(self.r(1))),
            || (try_state(self.r(1), VRID, "ipv4").as_deref() == Some("master")).then_some(()),
        );
    }

    fn signal(&self, sig: &str) {
        let pid = fs::read_to_string(self.r(1).run_dir().join("netvrrp.pid")).expect("pid file");
        let ok = Command::new("kill")
            .args([sig, pid.trim()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill {sig}");
    }

    /// One echo request from the host to the VIP; true if a reply came back.
    fn ping(&self) -> bool {
        let out = self.host().exec(&[
            "ping",
            "-n",
            "-q",
            "-c",
            "1",
            "-W",
            "1",
            &self.vip().to_string(),
        ]);
        out.status.success()
    }

    /// Does anybody answer the host's ARP request for the VIP (with the virtual MAC)?
    fn answers_arp(&self) -> bool {
        let vip = self.vip().to_string();
        let _ = self.host().ip(&["neigh", "del", &vip, "dev", "eth0"]);
        self.ping();
        let v = self
            .host()
            .ip_json(&["neigh", "show", "to", &vip, "dev", "eth0"]);
        v[0]["lladdr"].as_str() == Some(VMAC)
    }

    /// Does anybody answer an echo request sent straight to the virtual MAC?
    fn answers_ip(&self) -> bool {
        let vip = self.vip().to_string();
        self.host().ip_ok(&[
            "neigh",
            "replace",
            &vip,
            "lladdr",
            VMAC,
            "dev",
            "eth0",
            "nud",
            "permanent",
        ]);
        let answered = self.ping();
        let _ = self.host().ip(&["neigh", "del", &vip, "dev", "eth0"]);
        answered
    }

    /// Wait until the VIP answers (`on`) or is silent, for ARP and IP both.
    fn wait_answering(&self, on: bool, why: &str) {
        wait_until(
            Duration::from_secs(10),
            || {
                format!(
                    "{why}: the VIP should {}answer; nft: {}",
                    if on { "" } else { "not " },
                    text(&self.r(1).exec(&["nft", "list", "ruleset"]))
                )
            },
            || (self.answers_arp() == on && self.answers_ip() == on).then_some(()),
        );
    }
}

/// Before: the live Master answers. SIGKILL (port up, devices left up): silence once the
/// leases run out, and it stays so. A new `apply` starts a runtime that becomes Master: the
/// VIP answers again.
#[test]
fn killed_master_stops_answering_and_answers_after_restart() {
    let lab = Lab::new("dmk", 81);
    let cfg = lab.config();
    lab.apply_file(1, &cfg);
    lab.wait_master();
    lab.wait_answering(true, "live Master");
    lab.signal("-KILL");
    lab.wait_answering(false, "after kill -9");
    // The vrrp device is still there and up (nothing but the filter keeps it quiet).
    let dev = lab.r(1).ip_json(&["-d", "link", "show", "type", "macvlan"]);
    assert!(
        dev.as_array().is_some_and(|a| a
            .iter()
            .any(|l| l["operstate"] != "DOWN" && l["protodown"] != true)),
        "the test needs the dead box's vrrp device up: {dev}"
    );
    assert!(!lab.answers_arp() && !lab.answers_ip(), "answered again");
    lab.apply_file(1, &cfg);
    lab.wait_master();
    lab.wait_answering(true, "restarted Master");
}

/// SIGSTOP (a hung runtime): silence once the leases run out; SIGCONT: the loop renews the
/// leases again and the VIP answers.
#[test]
fn stopped_master_stops_answering_and_answers_after_sigcont() {
    let lab = Lab::new("dms", 82);
    lab.apply_file(1, &lab.config());
    lab.wait_master();
    lab.wait_answering(true, "live Master");
    lab.signal("-STOP");
    lab.wait_answering(false, "after SIGSTOP");
    lab.signal("-CONT");
    lab.wait_master();
    lab.wait_answering(true, "after SIGCONT");
}
