//! Namespace tests of VRRS through the real runtime (issue 5): two routers elect on eth0
//! (vrid 5, 100 ms adverts, leader name "group1"); on each, three pathways on other veths
//! (with and without `mac`) and one client of each kind; a `netvrrp subscribe` in the
//! background. Everything `show vrrs` says is checked against the kernel (iproute2 JSON), the
//! wire (tcpdump on the switch's bridges) and the clients' own output.
//!
//! Topology (the shared lab of tests/common/lab.rs plus a pathway bridge `brp`; one namespace
//! each, deleted even when a test fails):
//!
//! ```text
//!   sw:  br0 ── port-r1, port-r2           (VRRP, eth0 of each router)
//!        brp ── pa-rK, pb-rK, pc-rK        (pathway links of both routers)
//!   rK:  eth0, pa, pb, pc (veths to sw), cs ↔ cs-peer (interface-state client)
//! ```
//!
//! Both routers carry the same pathways (same MACs and addresses on the shared `brp`), as
//! Cisco's VRRS pathways do: only the ACTIVE side's macvlan is out of protodown and only the
//! ACTIVE side holds the mac-less pathway's addresses.
//!
//! The runtimes run SCHED_FIFO (`chrt -f -R 50`, as keepalived's `vrrp_rt_priority`; `-R`
//! so their exec children do not inherit it), so that timings measure netvrrp, not the
//! build jobs sharing the machine's CPUs.

mod common;

/// Whether this machine lets us run SCHED_FIFO (a container may not): without it the tests
/// still run, with the timing noise of a shared machine.
fn realtime_allowed() -> bool {
    static ALLOWED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ALLOWED.get_or_init(|| {
        let ok = Command::new("chrt")
            .args(["-f", "50", "true"])
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("note: SCHED_FIFO not allowed here; runtimes run at normal priority");
        }
        ok
    })
}

#[allow(dead_code)]
#[path = "peers/pcap.rs"]
mod pcap;

use common::{Netns, unix_now, wait_until};
use pcap::{Frame, Mac};
use serde_json::Value;
use std::fs;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

const LEADER: &str = "group1";
const VRID: u8 = 5;
const INTERVAL_MS: f64 = 100.0;
const VIP4: &str = "10.9.0.254";
const VIP6: &str = "2001:db8:9::254";
const VMAC4: &str = "00:00:5e:00:01:05";

/// (interface, `mac` as written in the file, the MAC in colon form, addresses).
type PathwaySpec = (
    &'static str,
    Option<&'static str>,
    Option<&'static str>,
    &'static [&'static str],
);

/// The kernel device group of leader "a" (the first leader, default `pathway-group-base`),
/// as `ip -j link` shows it.
const LEADER_GROUP: &str = "1000000";

const PATHWAYS: [PathwaySpec; 3] = [
    (
        "pa",
        Some("02:00:5e:aa:00:01"),
        Some("02:00:5e:aa:00:01"),
        &["198.51.100.1/24"],
    ),
    ("pb", None, None, &["203.0.113.1/24", "2001:db8:b::1/64"]),
    (
        "pc",
        Some("fe24.fe24.fe24"),
        Some("fe:24:fe:24:fe:24"),
        &["192.0.2.1/24", "2001:db8:c::1/64"],
    ),
];

const ALL: [&str; 3] = ["pa", "pb", "pc"];

/// Records every run: argv count, the second argument (an argv element with a space: no
/// shell splits it) and the NETVRRP_* environment.
const RECORD_SCRIPT: &str = r#"#!/bin/sh
printf '%s|%s|%s|%s|%s|%s|%s|%s|%s|%s\n' "$#" "$2" "$NETVRRP_SEQ" "$NETVRRP_PREVIOUS_STATE" \
    "$NETVRRP_STATE" "$NETVRRP_NAME" "$NETVRRP_VMAC" "$NETVRRP_VIPS" "$NETVRRP_COALESCED" \
    "$NETVRRP_REASON" >> "$1"
"#;

/// Records the start of every run, then takes 10 s over becoming Master.
const SLOW_SCRIPT: &str = r#"#!/bin/sh
printf '%s %s\n' "$NETVRRP_SEQ" "$NETVRRP_STATE" >> "$1"
if [ "$NETVRRP_STATE" = master ]; then exec sleep 10; fi
"#;

// ---------------------------------------------------------------------------- helpers

/// The slow-exec test measures advert spacing to a few ms. Every namespace, link or address
/// the other tests of this file create or delete holds the kernel's RTNL lock, which the
/// runtime's own netlink requests (its protodown at a takeover, its link re-read after a
/// link event) wait for: so it runs alone (write), the others side by side (read).
static TIMING: std::sync::RwLock<()> = std::sync::RwLock::new(());

fn shared() -> std::sync::RwLockReadGuard<'static, ()> {
    TIMING.read().unwrap_or_else(|e| e.into_inner())
}

fn exclusive() -> std::sync::RwLockWriteGuard<'static, ()> {
    TIMING.write().unwrap_or_else(|e| e.into_inner())
}

/// `fe:24:fe:24:fe:24` → `fe24.fe24.fe24`.
fn dotted(mac: &str) -> String {
    let hex: String = mac.split(':').collect();
    format!("{}.{}.{}", &hex[0..4], &hex[4..8], &hex[8..12])
}

fn addr_of(net: &str) -> &str {
    net.split('/').next().unwrap()
}

fn lines(path: &Path) -> Vec<String> {
    fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

fn json_lines(path: &Path) -> Vec<Value> {
    lines(path)
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{}: {e}: {l}", path.display())))
        .collect()
}

fn is_dead(pid: u32) -> bool {
    // Gone, or a zombie waiting for the Netns guard to reap it.
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            s.rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        })
        .unwrap_or(true)
}

fn kill(signal: &str, pid: u32) {
    let st = Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .unwrap();
    assert!(st.success(), "kill {signal} {pid}");
}

/// A tcpdump on one bridge of the switch namespace, nanosecond timestamps, packet-buffered.
struct Capture(common::lab::Tcpdump);

impl Capture {
    fn start(sw: &Netns, bridge: &str, filter: &str) -> Capture {
        let nano = ["--time-stamp-precision", "nano"];
        Capture(common::lab::Tcpdump::start(sw, bridge, &nano, Some(filter)))
    }

    fn frames(&self) -> Vec<Frame> {
        pcap::read(self.0.path()).expect("capture file")
    }

    /// SIGINT (tcpdump flushes), then every frame.
    fn stop(&self) -> Vec<Frame> {
        self.0.stop();
        self.frames()
    }
}

// ---------------------------------------------------------------------------- the lab

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Role {
    Master,
    Backup,
}

impl Role {
    fn state(self) -> &'static str {
        match self {
            Role::Master => "master",
            Role::Backup => "backup",
        }
    }
}

struct Router {
    k: usize,
    ns: Netns,
    config: PathBuf,
    log: PathBuf,
    accounting: PathBuf,
    exec_out: PathBuf,
    /// The running `netvrrp run`, if any.
    pid: Option<u32>,
}

impl Router {
    /// Router K in `ns` with its files: the client script, and the config of the module
    /// documentation (vrid 5, leader "group1", the pathways and a client of each kind).
    fn with_files(k: usize, ns: Netns, script: &str, exec_timeout_ms: u32) -> Router {
        let dir = ns.dir().to_path_buf();
        let exec = dir.join("client.sh");
        fs::write(&exec, script).unwrap();
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&exec, fs::Permissions::from_mode(0o755)).unwrap();
        }
        let accounting = dir.join("accounting.jsonl");
        let exec_out = dir.join("exec.log");
        let config = dir.join("vrrp.toml");
        let mut text = format!(
            r#"[defaults]
advertisement-interval = 100

[[vrrp]]
interface = "eth0"
vrid = {VRID}
priority = {prio}
ipv4 = ["{VIP4}/24"]
ipv6 = ["{VIP6}/64"]
vrrs-leader = ["{LEADER}"]
"#,
            prio = if k == 1 { 200 } else { 100 },
        );
        for (interface, mac, _, addrs) in PATHWAYS {
            text += &format!(
                "\n[[vrrs.pathway]]\nleader = \"{LEADER}\"\ninterface = \"{interface}\"\n"
            );
            if let Some(m) = mac {
                text += &format!("mac = \"{m}\"\n");
            }
            text += &format!("address = {addrs:?}\n");
        }
        text += &format!(
            r#"
[[vrrs.client]]
leader = "{LEADER}"
kind = "interface-state"
interface = "cs"

[[vrrs.client]]
leader = "{LEADER}"
kind = "accounting"
path = "{accounting}"

[[vrrs.client]]
leader = "{LEADER}"
kind = "exec"
command = ["{exec}", "{exec_out}", "two words"]
timeout = {exec_timeout_ms}
"#,
            accounting = accounting.display(),
            exec = exec.display(),
            exec_out = exec_out.display(),
        );
        fs::write(&config, text).unwrap();
        Router {
            k,
            log: dir.join("runtime.log"),
            ns,
            config,
            accounting,
            exec_out,
            pid: None,
        }
    }

    /// The advert sources: eth0's IPv4 address and IPv6 link-local.
    fn primaries(&self) -> [IpAddr; 2] {
        let v = self.ns.ip_json(&["addr", "show", "dev", "eth0"]);
        let ll = v[0]["addr_info"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["family"] == "inet6" && a["scope"] == "link")
            .expect("eth0 link-local")["local"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        [format!("10.9.0.{}", self.k).parse().unwrap(), ll]
    }

    fn nv(&self, args: &[&str]) -> std::process::Output {
        self.ns.netvrrp(args)
    }

    /// The rows of `netvrrp show vrrs WHAT --json` (under `servers`, `pathways`, `clients`).
    fn show(&self, what: &str) -> Value {
        let out = self.nv(&["show", "vrrs", what, "--json"]);
        assert!(out.status.success(), "r{}: {}", self.k, common::text(&out));
        let mut doc: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(doc["schema"], 1, "r{}: {doc}", self.k);
        doc[format!("{what}s").as_str()].take()
    }

    fn show_text(&self, what: &str) -> String {
        let out = self.nv(&["show", "vrrs", what]);
        assert!(out.status.success(), "r{}: {}", self.k, common::text(&out));
        String::from_utf8(out.stdout).unwrap()
    }

    /// The leader state as `show vrrs server` reports it (None: no runtime answers).
    fn leader(&self) -> Option<String> {
        let out = self.nv(&["show", "vrrs", "server", "--json"]);
        if !out.status.success() {
            return None;
        }
        let v: Value = serde_json::from_slice(&out.stdout).ok()?;
        v["servers"][0]["state"].as_str().map(str::to_string)
    }

    /// `netvrrp run` (SCHED_FIFO, see the module documentation), until the runtime answers.
    fn start(&mut self) {
        assert!(self.pid.is_none(), "r{} already running", self.k);
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let mut cmd = if realtime_allowed() {
            let mut c = Command::new("chrt");
            c.args(["-f", "-R", "50", env!("CARGO_BIN_EXE_netvrrp")]);
            c
        } else {
            Command::new(env!("CARGO_BIN_EXE_netvrrp"))
        };
        cmd.arg("--netns")
            .arg(self.ns.name())
            .arg("--run-dir")
            .arg(self.ns.run_dir())
            .args(["-v", "run", "-f"])
            .arg(&self.config)
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        let pid = self.ns.spawn(cmd);
        self.pid = Some(pid);
        wait_until(
            Duration::from_secs(10),
            || format!("r{}'s runtime to answer", self.k),
            || {
                assert!(!is_dead(pid), "r{}'s runtime died at start", self.k);
                self.leader().map(|_| ())
            },
        );
    }

    /// The box dies: SIGKILL, nothing cleaned up.
    fn kill9(&mut self) {
        let pid = self.pid.take().expect("running");
        kill("-9", pid);
        wait_until(
            Duration::from_secs(3),
            || "the runtime to die".into(),
            || is_dead(pid).then_some(()),
        );
    }

    /// `netvrrp stop`, then the process is gone.
    fn stop(&mut self) {
        let pid = self.pid.take().expect("running");
        let out = self.nv(&["stop"]);
        assert!(out.status.success(), "{}", common::text(&out));
        wait_until(
            Duration::from_secs(5),
            || "the runtime to exit".into(),
            || is_dead(pid).then_some(()),
        );
    }

    /// `netvrrp subscribe group1` in the background; returns its output file once the first
    /// line (the current state) is there.
    fn subscribe(&self, tag: &str) -> PathBuf {
        let out = self.ns.dir().join(format!("subscribe-{tag}.jsonl"));
        let mut cmd = self.ns.netvrrp_command(&["subscribe", LEADER]);
        cmd.stdout(fs::File::create(&out).unwrap())
            .stderr(Stdio::null());
        self.ns.spawn(cmd);
        wait_until(
            Duration::from_secs(5),
            || format!("r{}'s subscriber to print the current state", self.k),
            || (!lines(&out).is_empty()).then_some(()),
        );
        out
    }

    /// `ip -j -d link show dev DEV`, or None.
    fn link(&self, dev: &str) -> Option<Value> {
        let out = self.ns.ip(&["-j", "-d", "link", "show", "dev", dev]);
        if !out.status.success() {
            return None;
        }
        let v: Value = serde_json::from_slice(&out.stdout).ok()?;
        Some(v[0].clone())
    }

    fn mac_of(&self, dev: &str) -> String {
        self.link(dev).unwrap()["address"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// The macvlans on `parent` with `mac` (found by identity, not by name).
    fn macvlans(&self, parent: &str, mac: &str) -> Vec<Value> {
        let all = self.ns.ip_json(&["-d", "link", "show"]);
        all.as_array()
            .unwrap()
            .iter()
            .filter(|l| {
                l["linkinfo"]["info_kind"] == "macvlan"
                    && l["link"] == parent
                    && l["address"] == mac
            })
            .cloned()
            .collect()
    }

    /// Global (non link-local) addresses of `dev`, as `addr/len`.
    fn addrs(&self, dev: &str) -> Vec<String> {
        let v = self.ns.ip_json(&["addr", "show", "dev", dev]);
        let mut out: Vec<String> = v[0]["addr_info"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["scope"] != "link" && a["scope"] != "host")
            .map(|a| format!("{}/{}", a["local"].as_str().unwrap(), a["prefixlen"]))
            .collect();
        out.sort();
        out
    }

    fn ifindex(&self, dev: &str) -> u32 {
        self.ns.ifindex(dev)
    }
}

fn proto_down(link: &Value) -> bool {
    // iproute2 prints the key only when protodown is on.
    link["proto_down"].as_bool().unwrap_or(false)
}

fn admin_up(link: &Value) -> bool {
    link["flags"].as_array().unwrap().iter().any(|f| f == "UP")
}

/// The shared lab (tests/common/lab.rs) with a second bridge for the pathways, and the
/// routers with their files. The routers' namespaces are theirs (a [`Router`] owns its
/// [`Netns`]); they are dropped before the switch.
struct Lab {
    r: Vec<Router>,
    lab: common::lab::Lab,
}

impl Lab {
    /// The topology of the module documentation; `script` is the exec client's program.
    fn new(prefix: &str, script: &str, exec_timeout_ms: u32) -> Lab {
        let lab = common::lab::Lab::switch(prefix, 9);
        lab.add_bridge("brp");
        let mut routers = Vec::new();
        for k in 1..=2usize {
            let ns = lab.namespace(&format!("r{k}"));
            lab.plug(&ns, "eth0", "br0", &common::lab::Lab::router_port(k), None);
            ns.ip_ok(&["addr", "add", &format!("10.9.0.{k}/24"), "dev", "eth0"]);
            let r = Router::with_files(k, ns, script, exec_timeout_ms);
            for (interface, ..) in PATHWAYS {
                lab.plug(&r.ns, interface, "brp", &pathway_port(&r, interface), None);
            }
            r.ns.veth("cs", "cs-peer");
            r.ns.ip_ok(&["link", "set", "cs", "down"]);
            routers.push(r);
        }
        Lab { r: routers, lab }
    }

    /// The switch namespace.
    fn sw(&self) -> &Netns {
        &self.lab.sw
    }

    /// Pathway interface `name` of router `r` back on the pathway bridge (after OIR).
    fn plug(&self, r: &Router, name: &str) {
        self.lab
            .plug(&r.ns, name, "brp", &pathway_port(r, name), None);
    }

    fn r(&self, k: usize) -> &Router {
        &self.r[k - 1]
    }

    fn r_mut(&mut self, k: usize) -> &mut Router {
        &mut self.r[k - 1]
    }

    fn cut(&self, k: usize) {
        self.lab.set_router_port(k, false);
    }

    fn reconnect(&self, k: usize) {
        self.lab.set_router_port(k, true);
    }

    /// Wait until both routers' leaders are in these states (None: no runtime).
    fn wait_leaders(&self, r1: Option<Role>, r2: Option<Role>) {
        self.wait_states([r1.map(Role::state), r2.map(Role::state)]);
    }

    /// Like [`Lab::wait_leaders`], with any state (`initialize` too).
    fn wait_states(&self, want: [Option<&str>; 2]) {
        wait_until(
            Duration::from_secs(5),
            || {
                format!(
                    "leaders {want:?}, have {:?}",
                    [self.r(1).leader(), self.r(2).leader()]
                )
            },
            || {
                (0..2)
                    .all(|i| self.r[i].leader().as_deref() == want[i])
                    .then_some(())
            },
        );
    }

    /// Start r1, wait until it is Master, then r2, until it is Backup (r1 is Master before
    /// r2 exists, so the roles never depend on who started faster).
    fn start_r1_then_r2(&mut self) {
        self.r_mut(1).start();
        self.wait_leaders(Some(Role::Master), None);
        self.r_mut(2).start();
        self.wait_leaders(Some(Role::Master), Some(Role::Backup));
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        // What explains a failure; the files go with the namespaces right after.
        for r in &self.r {
            let log = lines(&r.log);
            eprintln!("---- r{} runtime log (last 60 lines)", r.k);
            for l in log.iter().skip(log.len().saturating_sub(60)) {
                eprintln!("{l}");
            }
            eprintln!(
                "---- r{} accounting\n{}",
                r.k,
                lines(&r.accounting).join("\n")
            );
            eprintln!("---- r{} exec\n{}", r.k, lines(&r.exec_out).join("\n"));
        }
    }
}

/// The switch port of pathway interface `name` of router `r`: `name-rK` on `brp`.
fn pathway_port(r: &Router, name: &str) -> String {
    format!("{name}-r{}", r.k)
}

// ---------------------------------------------------------------------------- checks

/// `show vrrs server|pathway|client`, JSON and text, for a router whose leader is `role`
/// with every pathway ready.
fn expect_vrrs(r: &Router, role: Role) {
    let master = role == Role::Master;
    let who = format!("r{}", r.k);
    let (label, push, status) = if master {
        ("ACTIVE", "MASTER", "Active")
    } else {
        ("INACTIVE", "BACKUP", "Inactive")
    };
    let pstate = if master { "active" } else { "inactive" };

    let servers = r.show("server");
    assert_eq!(servers.as_array().unwrap().len(), 1, "{who}: {servers:#}");
    let s = &servers[0];
    assert_eq!(s["name"], LEADER);
    assert_eq!(
        (&s["interface"], &s["vrid"], &s["family"]),
        (
            &Value::from("eth0"),
            &Value::from(VRID),
            &Value::from("ipv4")
        ),
        "{who}: {s:#}"
    );
    assert_eq!(s["connected"], true, "{who}: {s:#}");
    assert_eq!(s["state"], role.state(), "{who}: {s:#}");
    assert_eq!(s["vmac"], VMAC4);
    assert_eq!(s["vips"], serde_json::json!([VIP4]));
    assert_eq!(s["pathways"], 4, "{who}: {s:#}");
    assert_eq!(
        s["pathways_active"],
        if master { 4 } else { 0 },
        "{who}: {s:#}"
    );
    assert_eq!(s["clients"], 3, "{who}: {s:#}");
    let text = r.show_text("server");
    for line in [
        format!("VRRS server \"{LEADER}\""),
        format!("  Protocol VRRP, interface eth0, group {VRID}, address-family IPv4"),
        format!("  State is {push}"),
        format!("  Virtual MAC is {}", dotted(VMAC4)),
        format!("  Virtual Address List: {VIP4}"),
        format!(
            "  Pathways: 4 ({} active), Clients: 3, Pushes: ",
            if master { 4 } else { 0 }
        ),
    ] {
        assert!(
            text.lines().any(|l| l.starts_with(&line)),
            "{who}: no line {line:?} in\n{text}"
        );
    }

    let pathways = r.show("pathway");
    let rows = pathways.as_array().unwrap();
    let names: Vec<&str> = rows
        .iter()
        .map(|p| p["interface"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["eth0", "pa", "pb", "pc"],
        "{who}: default pathway first"
    );
    let text = r.show_text("pathway");
    let blocks: Vec<&str> = text.split("\n\n").collect();
    assert_eq!(blocks.len(), 4, "{who}:\n{text}");
    let all_ready = serde_json::json!({
        "no_shut": true, "connected": true, "oir": true, "l2_ready": true,
        "l3_ready": true, "vmac_ready": true, "vip_ready": true,
    });
    let eth0_index = r.ifindex("eth0");
    for (p, block) in rows.iter().zip(&blocks) {
        let interface = p["interface"].as_str().unwrap();
        let ctx = format!("{who} pathway {interface}: {p:#}");
        assert_eq!(p["name"], LEADER, "{ctx}");
        assert_eq!(p["state"], pstate, "{ctx}");
        assert_eq!(p["leader_state"], role.state(), "{ctx}");
        assert_eq!(p["family"], "ipv4", "{ctx}");
        assert_eq!(p["evaluation"], all_ready, "{ctx}");
        let (device, vmac_line, addresses, default, configured): (
            String,
            String,
            Vec<&str>,
            bool,
            bool,
        ) = if interface == "eth0" {
            (
                format!("vrrp4-{eth0_index}-{VRID}"),
                format!("  Virtual MAC is {} [{status}]", dotted(VMAC4)),
                vec![VIP4],
                true,
                false,
            )
        } else {
            let (_, _, mac, addrs) = PATHWAYS.iter().find(|p| p.0 == interface).unwrap();
            match mac {
                Some(mac) => {
                    let devs = r.macvlans(interface, mac);
                    assert_eq!(devs.len(), 1, "{ctx}: macvlans {devs:#?}");
                    assert_eq!(p["vmac"], *mac, "{ctx}");
                    assert_eq!(p["mac_in_use"], *mac, "{ctx}");
                    (
                        devs[0]["ifname"].as_str().unwrap().to_string(),
                        format!("  Virtual MAC is {} [{status}]", dotted(mac)),
                        addrs.iter().map(|a| addr_of(a)).collect(),
                        false,
                        true,
                    )
                }
                None => {
                    let own = r.mac_of(interface);
                    assert_eq!(p["vmac"], Value::Null, "{ctx}");
                    assert_eq!(p["mac_in_use"], own, "{ctx}");
                    (
                        interface.to_string(),
                        format!(
                            "  Virtual MAC is {} (interface MAC) [{status}]",
                            dotted(&own)
                        ),
                        addrs.iter().map(|a| addr_of(a)).collect(),
                        false,
                        false,
                    )
                }
            }
        };
        assert_eq!(p["device"], device.as_str(), "{ctx}");
        assert_eq!(p["options"]["default_pathway"], default, "{ctx}");
        assert_eq!(p["options"]["configured_vmac"], configured, "{ctx}");
        assert_eq!(p["options"]["owner_mode"], false, "{ctx}");
        assert_eq!(p["options"]["accept_mode"], true, "{ctx}");
        let flag = |b: bool| u8::from(b);
        for line in [
            format!("Pathway [\"{LEADER}\"@{interface}]"),
            format!("  State is {label} [VRRS push \"{push}\"]"),
            vmac_line,
            "  Address-family is IPv4".to_string(),
            format!("  Device is {device}"),
            format!(
                "  Options: Default Pathway={}, Owner Mode=0, Accept-Mode=1, Configured vMAC={}",
                flag(default),
                flag(configured)
            ),
            "  Evaluation: No Shut=1, Connected=1, OIR=1".to_string(),
            "              L2 Ready=1, L3 Ready=1, vMAC Ready=1, vIP Ready=1".to_string(),
            format!("  Virtual Address List: {}", addresses.join(", ")),
        ] {
            assert!(
                block.lines().any(|l| l == line),
                "{who}: no line {line:?} in\n{block}"
            );
        }
    }

    let clients = r.show("client");
    let rows = clients.as_array().unwrap();
    let kinds: Vec<&str> = rows.iter().map(|c| c["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["interface-state", "accounting", "exec"], "{who}");
    for c in rows {
        assert_eq!(c["name"], LEADER, "{who}: {c:#}");
        assert_eq!(c["connected"], true, "{who}: {c:#}");
        assert_eq!(c["last"]["state"], role.state(), "{who}: {c:#}");
    }
    assert_eq!(rows[0]["interface"], "cs");
    assert_eq!(rows[1]["path"], r.accounting.to_str().unwrap());
    let text = r.show_text("client");
    for line in [
        format!("Client 1 [interface-state] of \"{LEADER}\""),
        "  Interface cs (admin up only while the leader is MASTER)".to_string(),
        format!("Client 2 [accounting] of \"{LEADER}\""),
        format!("  Path {}", r.accounting.display()),
        format!("Client 3 [exec] of \"{LEADER}\""),
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "{who}: no line {line:?} in\n{text}"
        );
    }
}

/// The kernel, read with iproute2: pathway macvlans out of protodown, mac-less pathway
/// addresses present and the interface-state client's interface admin up only when
/// `active`; the router's own vrrp4 device likewise.
fn expect_kernel(r: &Router, active: bool) {
    // `show vrrs` reports the decision; the runtime's VRRS executor carries it out beside the
    // election loop, a few ms later at most.
    wait_until(
        Duration::from_secs(2),
        || {
            format!(
                "r{}'s kernel state: {}",
                r.k,
                kernel_mismatch(r, active).unwrap_or_default()
            )
        },
        || kernel_mismatch(r, active).is_none().then_some(()),
    );
}

/// The first way the kernel differs from [`expect_kernel`]'s expectation.
fn kernel_mismatch(r: &Router, active: bool) -> Option<String> {
    for (interface, _, mac, addrs) in PATHWAYS {
        let mut want: Vec<String> = addrs.iter().map(|a| a.to_string()).collect();
        want.sort();
        match mac {
            Some(mac) => {
                let devs = r.macvlans(interface, mac);
                let [d] = devs.as_slice() else {
                    return Some(format!("macvlans on {interface}: {devs:#?}"));
                };
                // The macvlan always carries the addresses; protodown hides them. A ready
                // pathway's macvlan is in its leader's device group (bulk protodown).
                if proto_down(d) == active
                    || d["group"] != LEADER_GROUP
                    || !admin_up(d)
                    || r.addrs(d["ifname"].as_str().unwrap()) != want
                    || !r.addrs(interface).is_empty()
                {
                    return Some(format!("{interface} ({:?}): {d:#}", r.addrs(interface)));
                }
            }
            None => {
                let have = r.addrs(interface);
                if have != if active { want } else { Vec::new() } {
                    return Some(format!("{interface} holds {have:?}"));
                }
            }
        }
    }
    let cs = r.link("cs").unwrap();
    if admin_up(&cs) != active {
        return Some(format!("cs {cs:#}"));
    }
    let v4 = r
        .link(&format!("vrrp4-{}-{VRID}", r.ifindex("eth0")))
        .unwrap();
    if proto_down(&v4) == active {
        return Some(format!("{v4:#}"));
    }
    None
}

/// Gratuitous ARP / unsolicited NA for every address of the pathways on `interfaces`, from
/// the pathway's MAC (its macvlan's, or the interface's own), on the pathway link, at or
/// after `since`. Returns the time of the last one.
fn expect_announcements(r: &Router, cap: &Capture, since: f64, interfaces: &[&str]) -> f64 {
    let who = format!("r{}", r.k);
    let mut wanted: Vec<(Mac, IpAddr)> = Vec::new();
    for (interface, _, mac, addrs) in PATHWAYS {
        if !interfaces.contains(&interface) {
            continue;
        }
        let mac = Mac::parse(
            mac.map(str::to_string)
                .unwrap_or_else(|| r.mac_of(interface))
                .as_str(),
        )
        .unwrap();
        for a in addrs {
            wanted.push((mac, addr_of(a).parse().unwrap()));
        }
    }
    wait_until(
        Duration::from_secs(3),
        || {
            let seen: Vec<String> = cap
                .frames()
                .iter()
                .filter(|f| f.secs() >= since)
                .map(|f| f.to_string())
                .collect();
            format!(
                "{who}: announcements {wanted:?} after {since:.6}; captured since:\n{}",
                seen.join("\n")
            )
        },
        || {
            let frames = cap.frames();
            let mut last: f64 = 0.0;
            for (mac, ip) in &wanted {
                let t = frames
                    .iter()
                    .filter(|f| f.secs() >= since && f.src_mac == *mac)
                    .find(|f| match ip {
                        IpAddr::V4(v4) => f.arp().is_some_and(|a| {
                            a.is_gratuitous() && a.sender_ip == *v4 && a.sender_mac == *mac
                        }),
                        IpAddr::V6(v6) => f.icmp().is_some_and(|i| {
                            i.kind == 136
                                && i.nd_target() == Some(*v6)
                                && i.nd_lladdr(2) == Some(*mac)
                        }),
                    })?
                    .secs();
                last = last.max(t);
            }
            Some(last)
        },
    )
}

/// Wait for the accounting file and the exec log to hold `n` lines each.
fn wait_clients(r: &Router, n: usize) {
    wait_until(
        Duration::from_secs(5),
        || {
            format!(
                "r{}: {n} accounting lines and exec runs, have {:?} / {:?}",
                r.k,
                lines(&r.accounting),
                lines(&r.exec_out)
            )
        },
        || (lines(&r.accounting).len() == n && lines(&r.exec_out).len() == n).then_some(()),
    );
}

/// (seq, previous, state) of every accounting line, after checking the other fields.
fn accounting(r: &Router) -> Vec<(u64, String, String)> {
    use std::os::unix::fs::PermissionsExt;
    let mode = fs::metadata(&r.accounting).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o640, "r{}: accounting file mode {mode:o}", r.k);
    let mut time = 0.0;
    json_lines(&r.accounting)
        .iter()
        .map(|l| {
            assert_eq!(l["name"], LEADER, "{l}");
            assert_eq!(l["vmac"], VMAC4, "{l}");
            assert_eq!(l["vips"], serde_json::json!([VIP4]), "{l}");
            assert!(!l["reason"].as_str().unwrap().is_empty(), "{l}");
            let t = l["time"].as_f64().unwrap();
            assert!(t >= time, "time goes back: {l}");
            time = t;
            (
                l["seq"].as_u64().unwrap(),
                l["previous"].as_str().unwrap().to_string(),
                l["state"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// (seq, previous, state) of every exec run, after checking argv and environment.
fn exec_runs(r: &Router) -> Vec<(u64, String, String)> {
    lines(&r.exec_out)
        .iter()
        .map(|l| {
            let f: Vec<&str> = l.split('|').collect();
            assert_eq!(f.len(), 10, "{l}");
            assert_eq!((f[0], f[1]), ("2", "two words"), "argv: {l}");
            assert_eq!((f[5], f[6], f[7]), (LEADER, VMAC4, VIP4), "env: {l}");
            assert_eq!(f[8], "0", "nothing coalesced: {l}");
            assert!(!f[9].is_empty(), "NETVRRP_REASON: {l}");
            (f[2].parse().unwrap(), f[3].to_string(), f[4].to_string())
        })
        .collect()
}

fn transitions(list: &[(u64, &str, &str)]) -> Vec<(u64, String, String)> {
    list.iter()
        .map(|(s, a, b)| (*s, a.to_string(), b.to_string()))
        .collect()
}

/// A subscriber's lines: the current state first, then each change (IPv4 instance only,
/// the one the name follows) chaining from it.
fn expect_stream(path: &Path, current: &str, changes: &[&str]) -> Vec<Value> {
    let got = json_lines(path);
    let ctx = format!("{}: {got:#?}", path.display());
    assert!(!got.is_empty(), "{ctx}");
    assert_eq!(got[0]["event"], "current", "{ctx}");
    assert_eq!(got[0]["name"], LEADER, "{ctx}");
    assert_eq!(got[0]["state"], current, "{ctx}");
    assert_eq!(got[0]["vmac"], VMAC4, "{ctx}");
    let mut previous = current;
    for (line, state) in got[1..].iter().zip(changes) {
        assert_eq!(line["event"], "change", "{ctx}");
        assert_eq!(line["name"], LEADER, "{ctx}");
        assert_eq!(
            (&line["family"], &line["interface"], &line["vrid"]),
            (
                &Value::from("ipv4"),
                &Value::from("eth0"),
                &Value::from(VRID)
            ),
            "{ctx}"
        );
        assert_eq!(
            (line["previous"].as_str(), line["state"].as_str()),
            (Some(previous), Some(*state)),
            "{ctx}"
        );
        previous = state;
    }
    assert_eq!(got.len(), 1 + changes.len(), "{ctx}");
    got
}

// ---------------------------------------------------------------------------- tests

/// Start, fail the master over (the box dies: SIGKILL + switch port cut), bring it back (it
/// preempts), fail it over gracefully (`netvrrp stop`), bring it back again. After every
/// step both routers' `show vrrs`, kernel state and pathway announcements are checked; at
/// the end every accounting line, exec run and subscriber line, in order. Then two kernel
/// situations the runtime must respect: someone else's device in the leader's group, and a
/// protodown reason another program holds on a pathway.
#[test]
fn vrrs_failover_and_back_on_both_routers() {
    let _timing = shared();
    let clock = Instant::now();
    let mut lab = Lab::new("nvrs", RECORD_SCRIPT, 5000);
    let cap = Capture::start(lab.sw(), "brp", "arp or icmp6");

    lab.start_r1_then_r2();
    expect_r1_master_r2_backup(&lab, &cap, 2);
    let sub1a = lab.r(1).subscribe("a");
    let sub2 = lab.r(2).subscribe("a");
    master_box_dies_and_r2_takes_over(&mut lab, &cap, &sub2);
    r1_returns_and_preempts(&mut lab, &cap);
    let sub1b = lab.r(1).subscribe("b");
    r1_stops_and_r2_takes_over(&mut lab, &cap);
    lab.r_mut(1).start();
    lab.wait_leaders(Some(Role::Master), Some(Role::Backup));
    expect_r1_master_r2_backup(&lab, &cap, 7);
    let sub1c = lab.r(1).subscribe("c");
    wait_clients(lab.r(2), 5);
    cap.stop();

    expect_bulk_fanouts(&lab);
    expect_clients_saw_every_transition(&lab);
    // Subscribers: the state they joined in, then every change; the stopped runtime's last
    // words reach its subscriber before the connection closes.
    expect_stream(&sub1a, "master", &[]);
    expect_stream(&sub1b, "master", &["initialize"]);
    expect_stream(&sub1c, "master", &[]);
    expect_stream(&sub2, "backup", &["master", "backup", "master", "backup"]);

    foreign_device_in_the_leader_group_is_left_alone(&mut lab);
    protodown_reason_holds_one_pathway_not_ready(&lab);
    eprintln!("[measure] test took {:.1} s", clock.elapsed().as_secs_f64());
}

/// r1 Master and r2 Backup everywhere (`show vrrs`, kernel), r1's clients have seen
/// `transitions` transitions, and every pathway was announced after r1's last one.
fn expect_r1_master_r2_backup(lab: &Lab, cap: &Capture, transitions: usize) -> f64 {
    expect_vrrs(lab.r(1), Role::Master);
    expect_vrrs(lab.r(2), Role::Backup);
    expect_kernel(lab.r(1), true);
    expect_kernel(lab.r(2), false);
    wait_clients(lab.r(1), transitions);
    let t = json_lines(&lab.r(1).accounting)[transitions - 1]["time"]
        .as_f64()
        .unwrap();
    let last = expect_announcements(lab.r(1), cap, t, &ALL);
    (last - t) * 1000.0
}

/// The master's box dies (SIGKILL, port cut): r2 takes over and announces every pathway
/// within 20 ms of its state change.
fn master_box_dies_and_r2_takes_over(lab: &mut Lab, cap: &Capture, sub2: &Path) {
    lab.r_mut(1).kill9();
    lab.cut(1);
    lab.wait_leaders(None, Some(Role::Master));
    expect_vrrs(lab.r(2), Role::Master);
    expect_kernel(lab.r(2), true);
    let out = lab.r(1).nv(&["show", "vrrs", "server"]);
    assert_eq!(out.status.code(), Some(1), "{}", common::text(&out));
    let took_over = wait_until(
        Duration::from_secs(3),
        || "r2's subscriber to see Master".into(),
        || json_lines(sub2).get(1).and_then(|l| l["time"].as_f64()),
    );
    let last = expect_announcements(lab.r(2), cap, took_over, &ALL);
    eprintln!(
        "[measure] r2 takeover: last pathway announced {:.2} ms after the state change",
        (last - took_over) * 1000.0
    );
    assert!(
        last - took_over < 0.020,
        "{} ms",
        (last - took_over) * 1000.0
    );
}

/// r1 comes back and preempts; its new runtime corrects what the dead one left.
fn r1_returns_and_preempts(lab: &mut Lab, cap: &Capture) {
    lab.reconnect(1);
    lab.r_mut(1).start();
    lab.wait_leaders(Some(Role::Master), Some(Role::Backup));
    let ms = expect_r1_master_r2_backup(lab, cap, 4);
    eprintln!("[measure] r1 preempts: last pathway announced {ms:.2} ms after the state change");
}

/// Graceful failover: r1 stops (priority 0, everything down, clients told).
fn r1_stops_and_r2_takes_over(lab: &mut Lab, cap: &Capture) {
    let before = unix_now();
    lab.r_mut(1).stop();
    lab.wait_leaders(None, Some(Role::Master));
    expect_vrrs(lab.r(2), Role::Master);
    expect_kernel(lab.r(2), true);
    expect_kernel(lab.r(1), false);
    expect_announcements(lab.r(2), cap, before, &ALL);
}

/// Both runtimes switched their two macvlan pathways with one group change each time.
fn expect_bulk_fanouts(lab: &Lab) {
    for r in [lab.r(1), lab.r(2)] {
        let log = fs::read_to_string(&r.log).unwrap();
        let bulk = log
            .lines()
            .filter(|l| l.contains("fan-out done") && l.contains("bulk_groups=1"))
            .count();
        assert!(bulk >= 2, "r{}: {bulk} bulk fan-outs in\n{log}", r.k);
    }
}

/// Every transition, in order, once per runtime (seq restarts with a new runtime; the
/// SIGKILLed one could not report its end, the stopped one did).
fn expect_clients_saw_every_transition(lab: &Lab) {
    let r1 = transitions(&[
        (1, "initialize", "backup"),
        (2, "backup", "master"),
        (1, "initialize", "backup"),
        (2, "backup", "master"),
        (3, "master", "initialize"),
        (1, "initialize", "backup"),
        (2, "backup", "master"),
    ]);
    let r2 = transitions(&[
        (1, "initialize", "backup"),
        (2, "backup", "master"),
        (3, "master", "backup"),
        (4, "backup", "master"),
        (5, "master", "backup"),
    ]);
    assert_eq!(accounting(lab.r(1)), r1);
    assert_eq!(exec_runs(lab.r(1)), r1);
    assert_eq!(accounting(lab.r(2)), r2);
    assert_eq!(exec_runs(lab.r(2)), r2);
    let stop_line = &json_lines(&lab.r(1).accounting)[4];
    assert_eq!(stop_line["reason"], "shutdown", "{stop_line}");
}

/// Someone else's device in the leader's group: the runtime must not change it, so it
/// falls back to per-device changes (r2 takes over once more).
fn foreign_device_in_the_leader_group_is_left_alone(lab: &mut Lab) {
    lab.r(2).ns.ip_ok(&[
        "link",
        "add",
        "fx0",
        "link",
        PATHWAYS[0].0,
        "address",
        "02:99:00:00:00:01",
        "group",
        LEADER_GROUP,
        "type",
        "macvlan",
        "mode",
        "bridge",
    ]);
    lab.r(2)
        .ns
        .ip_ok(&["link", "set", "fx0", "protodown", "on", "up"]);
    // The runtime learns of it from the link event before r1 leaves.
    std::thread::sleep(Duration::from_millis(200));
    lab.r_mut(1).stop();
    lab.wait_leaders(None, Some(Role::Master));
    expect_kernel(lab.r(2), true);
    let fx0 = lab.r(2).link("fx0").unwrap();
    assert!(proto_down(&fx0), "foreign device touched: {fx0:#}");
    let log = fs::read_to_string(&lab.r(2).log).unwrap();
    let last = log.lines().rfind(|l| l.contains("fan-out done")).unwrap();
    assert!(last.contains("bulk_groups=0"), "{last}");
    lab.r(2).ns.ip_ok(&["link", "del", "fx0"]);
}

/// Another program holds a pathway macvlan down (a protodown reason bit: the kernel would
/// refuse protodown off): that pathway is NOT READY (vMAC Ready=0), the others stay
/// ACTIVE; once the reason is cleared it follows the leader again.
fn protodown_reason_holds_one_pathway_not_ready(lab: &Lab) {
    let pc_dev = lab.r(2).macvlans(PATHWAYS[2].0, PATHWAYS[2].2.unwrap())[0]["ifname"]
        .as_str()
        .unwrap()
        .to_string();
    lab.r(2)
        .ns
        .ip_ok(&["link", "set", &pc_dev, "protodown_reason", "1", "on"]);
    let row = wait_pathway(lab.r(2), PATHWAYS[2].0, "not_ready");
    assert_eq!(row["evaluation"]["vmac_ready"], false, "{row:#}");
    wait_until(
        Duration::from_secs(2),
        || format!("{pc_dev} protodown on"),
        || proto_down(&lab.r(2).link(&pc_dev).unwrap()).then_some(()),
    );
    wait_pathway(lab.r(2), PATHWAYS[0].0, "active");
    lab.r(2)
        .ns
        .ip_ok(&["link", "set", &pc_dev, "protodown_reason", "1", "off"]);
    wait_pathway(lab.r(2), PATHWAYS[2].0, "active");
    expect_kernel(lab.r(2), true);
}

/// The pathway rows of `show vrrs pathway --json` by interface.
fn pathway_row(r: &Router, interface: &str) -> Value {
    r.show("pathway")
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["interface"] == interface)
        .unwrap_or_else(|| panic!("r{}: no pathway on {interface}", r.k))
        .clone()
}

/// Wait until pathway `interface` of `r` is in `state`; its row then.
fn wait_pathway(r: &Router, interface: &str, state: &str) -> Value {
    wait_until(
        Duration::from_secs(5),
        || {
            format!(
                "r{} pathway {interface} {state}: {:#}",
                r.k,
                pathway_row(r, interface)
            )
        },
        || {
            let row = pathway_row(r, interface);
            (row["state"] == state).then_some(row)
        },
    )
}

/// OIR: the pathway interfaces (one with `mac`, one without) are deleted and re-created
/// with the same names (new ifindexes, created admin down then brought up, as `ip link add`
/// does): NOT READY with OIR=0 meanwhile, then back to the leader's state on both routers,
/// the macvlan re-created on the new parent, announcements sent, and no runtime restarted.
/// Then the parent of the third pathway loses carrier (L2 Ready=0) and gets it back.
#[test]
fn vrrs_pathway_oir_and_carrier_without_restart() {
    let _timing = shared();
    let mut lab = Lab::new("nvoi", RECORD_SCRIPT, 5000);
    let cap = Capture::start(lab.sw(), "brp", "arp or icmp6");
    lab.start_r1_then_r2();
    let pids: Vec<u32> = lab.r.iter().map(|r| r.pid.unwrap()).collect();
    let pushes: Vec<Value> = lab
        .r
        .iter()
        .map(|r| r.show("server")[0]["pushes"].clone())
        .collect();
    let old_pa: Vec<String> = lab
        .r
        .iter()
        .map(|r| {
            r.macvlans("pa", PATHWAYS[0].2.unwrap())[0]["ifname"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();

    pathways_removed_are_not_ready(&lab, &old_pa);
    pathways_reinserted_follow_the_leader(&lab, &cap, &old_pa);
    pathway_carrier_lost_and_back(&lab, &cap);

    // Same runtimes, and the leaders never moved.
    for (r, (pid, pushes)) in lab.r.iter().zip(pids.iter().zip(&pushes)) {
        assert_eq!(r.pid, Some(*pid));
        assert!(!is_dead(*pid), "r{} restarted", r.k);
        assert_eq!(&r.show("server")[0]["pushes"], pushes, "r{}", r.k);
    }
    cap.stop();
}

/// `pa` and `pb` deleted on both routers: NOT READY with OIR=0 (JSON and text), pa's
/// macvlan gone with its parent, the other pathways untouched.
fn pathways_removed_are_not_ready(lab: &Lab, old_pa: &[String]) {
    for r in &lab.r {
        r.ns.ip_ok(&["link", "del", "pa"]);
        r.ns.ip_ok(&["link", "del", "pb"]);
    }
    for r in &lab.r {
        for interface in ["pa", "pb"] {
            let row = wait_pathway(r, interface, "not_ready");
            let e = &row["evaluation"];
            assert_eq!(
                (&e["oir"], &e["no_shut"], &e["l2_ready"], &e["connected"]),
                (
                    &Value::from(false),
                    &Value::from(false),
                    &Value::from(false),
                    &Value::from(true)
                ),
                "r{}: {row:#}",
                r.k
            );
        }
        assert!(
            r.link(&old_pa[r.k - 1]).is_none(),
            "the macvlan went with its parent"
        );
        let text = r.show_text("pathway");
        let block = text
            .split("\n\n")
            .find(|b| b.starts_with(&format!("Pathway [\"{LEADER}\"@pa]")))
            .unwrap();
        let push = if r.k == 1 { "MASTER" } else { "BACKUP" };
        for line in [
            format!("  State is NOT READY [VRRS push \"{push}\"]"),
            "  Evaluation: No Shut=0, Connected=1, OIR=0".to_string(),
        ] {
            assert!(
                block.lines().any(|l| l == line),
                "r{}: no {line:?} in\n{block}",
                r.k
            );
        }
        // The others are untouched.
        let want = if r.k == 1 { "active" } else { "inactive" };
        assert_eq!(pathway_row(r, "pc")["state"], want);
        assert_eq!(pathway_row(r, "eth0")["state"], want);
    }
}

/// Re-inserted under the same names: back to the leader's state, pa's macvlan re-created
/// (named after the new ifindex) and both announced by the Master.
fn pathways_reinserted_follow_the_leader(lab: &Lab, cap: &Capture, old_pa: &[String]) {
    let back = unix_now();
    for r in &lab.r {
        lab.plug(r, "pa");
        lab.plug(r, "pb");
    }
    for r in &lab.r {
        let want = if r.k == 1 { "active" } else { "inactive" };
        wait_pathway(r, "pa", want);
        wait_pathway(r, "pb", want);
    }
    expect_vrrs(lab.r(1), Role::Master);
    expect_vrrs(lab.r(2), Role::Backup);
    expect_kernel(lab.r(1), true);
    expect_kernel(lab.r(2), false);
    for r in &lab.r {
        let new_pa = r.macvlans("pa", PATHWAYS[0].2.unwrap());
        assert_ne!(
            new_pa[0]["ifname"],
            old_pa[r.k - 1].as_str(),
            "named after the new ifindex"
        );
    }
    let last = expect_announcements(lab.r(1), cap, back, &["pa", "pb"]);
    assert!(last > back);
}

/// L2: pc's link loses carrier (its switch port goes down): NOT READY with L2 Ready=0 and
/// its macvlan protodown; carrier back: ACTIVE and announced again.
fn pathway_carrier_lost_and_back(lab: &Lab, cap: &Capture) {
    let t = unix_now();
    lab.sw().ip_ok(&["link", "set", "pc-r1", "down"]);
    let row = wait_pathway(lab.r(1), "pc", "not_ready");
    let e = &row["evaluation"];
    assert_eq!(
        (&e["oir"], &e["no_shut"], &e["l2_ready"]),
        (&Value::from(true), &Value::from(true), &Value::from(false)),
        "{row:#}"
    );
    let pc_mac = PATHWAYS[2].2.unwrap();
    wait_until(
        Duration::from_secs(2),
        || "pc's macvlan to go protodown".into(),
        || proto_down(&lab.r(1).macvlans("pc", pc_mac)[0]).then_some(()),
    );
    lab.sw().ip_ok(&["link", "set", "pc-r1", "up"]);
    wait_pathway(lab.r(1), "pc", "active");
    expect_kernel(lab.r(1), true);
    let frames = cap.frames();
    assert!(
        frames.iter().any(|f| f.secs() > t
            && f.arp()
                .is_some_and(|a| a.is_gratuitous() && a.sender_mac == Mac::parse(pc_mac).unwrap())),
        "pc announced again"
    );
}

/// Macvlans of `ns` whose carrier change the kernel has not applied yet: IFF_LOWER_UP is
/// already clear but the operstate is still "UP" (their linkwatch work is queued). A link
/// dump, unlike `ip link show dev X`, does not apply it.
fn linkwatch_queued(ns: &Netns) -> usize {
    ns.ip_json(&["link", "show", "type", "macvlan"])
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| {
            l["operstate"] == "UP"
                && !l["flags"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|f| f == "LOWER_UP")
        })
        .count()
}

/// OIR while the kernel's linkwatch queue is long. The kernel sets a link's operstate (and
/// attaches its transmit queue, see [`Evaluation::l2_ready`]) in its linkwatch work, one
/// queue for every namespace, drained 100-200 links a run with up to a second between runs:
/// behind a carrier storm (here a lower device losing carrier under 1,000 macvlans in a
/// namespace of its own; in the soak, failovers switching hundreds of macvlans on the other
/// nodes) a re-inserted pathway interface shows carrier but no operstate for seconds. The
/// runtime must not wait its turn: an RTM_GETLINK of the interface makes the kernel apply it
/// at once, so the pathway is ACTIVE while the storm is still queued (without that, it can
/// only become ACTIVE after every link queued before it).
#[test]
fn vrrs_pathway_oir_does_not_wait_for_the_linkwatch_queue() {
    // The storm delays every namespace's link changes: nothing else of this file runs meanwhile.
    let _timing = exclusive();
    let mut lab = Lab::new("nvlw", RECORD_SCRIPT, 5000);
    lab.r_mut(1).start();
    lab.wait_leaders(Some(Role::Master), None);
    let r = lab.r(1);
    wait_pathway(r, "pa", "active");
    r.ns.ip_ok(&["link", "del", "pa"]);
    wait_pathway(r, "pa", "not_ready");

    let (storm, queued) = linkwatch_storm();
    // Re-inserted: carrier at once (the switch port is up first), operstate behind the storm.
    lab.plug(r, "pa");
    // Longer than the storm takes to drain, so that a runtime waiting for it fails below.
    wait_until(
        Duration::from_secs(30),
        || format!("pa active: {:#}", pathway_row(r, "pa")),
        || (pathway_row(r, "pa")["state"] == "active").then_some(()),
    );
    let still = linkwatch_queued(&storm);
    assert!(
        still > 0,
        "pa became ACTIVE only once the kernel had worked through the {queued} queued links \
         before it"
    );
    let links = r.ns.ip_json(&["link", "show"]);
    let pa = links
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["ifname"] == "pa");
    assert_eq!(
        pa.map(|l| &l["operstate"]),
        Some(&Value::from("UP")),
        "the kernel applied pa's carrier: {pa:#?}"
    );
    expect_vrrs(r, Role::Master);
    expect_kernel(r, true);
    // Deleting the storm's links takes them off the queue.
    drop(storm);
}

/// A namespace of its own where a lower device loses carrier under 1,000 macvlans: their
/// carrier changes queue up in the kernel's linkwatch work. Returns it and how many were
/// queued (at least 500).
fn linkwatch_storm() -> (Netns, usize) {
    let storm = Netns::new("nvlws");
    storm.veth("lw0", "lw0p");
    let macvlans: String = (0..1000)
        .map(|i| format!("link add m{i} link lw0 type macvlan mode bridge\nlink set m{i} up\n"))
        .collect();
    let mut batch = Command::new("ip")
        .args(["-n", storm.name(), "-batch", "-"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        batch
            .stdin
            .take()
            .unwrap()
            .write_all(macvlans.as_bytes())
            .unwrap();
    }
    assert!(batch.wait().unwrap().success(), "macvlans created");
    // lw0 loses carrier; its own linkwatch run hands it to every macvlan, whose 1,000
    // changes are queued behind it.
    storm.ip_ok(&["link", "set", "lw0p", "down"]);
    let queued = wait_until(
        Duration::from_secs(5),
        || "the storm to be queued".into(),
        || Some(linkwatch_queued(&storm)).filter(|&n| n >= 500),
    );
    (storm, queued)
}

/// Capture times of the adverts (vrid 5) sent from `src`.
fn adverts_from(frames: &[Frame], src: IpAddr) -> Vec<f64> {
    frames
        .iter()
        .filter(|f| f.vrrp().is_some_and(|v| v.vrid == VRID && v.src == src))
        .map(Frame::secs)
        .collect()
}

/// Every advert of one Master period `interval ± SPACING_SLACK` after the previous one.
/// Returns the largest deviation (ms).
fn expect_spacing(what: &str, times: &[f64]) -> f64 {
    assert!(times.len() >= 10, "{what}: only {} adverts", times.len());
    let gaps: Vec<f64> = times.windows(2).map(|w| (w[1] - w[0]) * 1000.0).collect();
    let worst = gaps
        .iter()
        .map(|g| (g - INTERVAL_MS).abs())
        .fold(0.0, f64::max);
    assert!(
        worst <= SPACING_SLACK_MS,
        "{what}: advert spacing off by {worst:.2} ms; gaps (ms) {gaps:.1?}"
    );
    worst
}

/// Half an interval. What this test guards against is the election waiting for a client:
/// a 10 s exec would show as a gap of seconds. Timer and capture noise stays well under 2 ms
/// on a quiet machine (the largest deviation is printed), but on a shared 2-core machine with
/// load ~5 single adverts were seen 25-30 ms late, and a timing bound that tight belongs in a
/// benchmark (bench/run.sh timing), not in a test.
const SPACING_SLACK_MS: f64 = 50.0;

/// A client that takes 10 s (exec sleeping on every transition to Master) never delays the
/// election: both routers fail over back and forth while their exec clients are running,
/// and every Master period's adverts, captured on the switch, stay one interval apart, from
/// the transition (when the slow command is started, or a notice for it is queued) on.
#[test]
fn vrrs_slow_exec_client_does_not_delay_adverts() {
    let _timing = exclusive();
    let mut lab = Lab::new("nvsl", SLOW_SCRIPT, 15_000);
    let cap = Capture::start(lab.sw(), "br0", "ip proto 112 or ip6 proto 112");
    lab.start_r1_then_r2();
    let sources = [lab.r(1).primaries(), lab.r(2).primaries()];
    let (periods, answered) = fail_over_back_and_forth_with_busy_clients(&lab);
    let frames = cap.stop();

    // Both runtimes still hold their transitions for the busy commands, and answered at once.
    for (r, notices) in [(lab.r(1), 6), (lab.r(2), 4)] {
        let exec = &r.show("client")[2];
        assert_eq!(exec["notices"], notices, "r{}: {exec:#}", r.k);
        assert_eq!(
            (&exec["runner"]["runs"], &exec["runner"]["running"]),
            (&Value::from(2), &Value::from(true)),
            "r{}: {exec:#}",
            r.k
        );
    }
    assert!(
        answered < Duration::from_millis(500),
        "show took {answered:?}"
    );
    for (f, family) in ["ipv4", "ipv6"].iter().enumerate() {
        expect_master_periods_evenly_spaced(
            family,
            &frames,
            [sources[0][f], sources[1][f]],
            periods,
        );
    }
}

/// When the Master periods of [`fail_over_back_and_forth_with_busy_clients`] changed hands
/// (Unix seconds): r1's port cut, r1 back, r1's port cut again.
#[derive(Clone, Copy)]
struct Handovers {
    cut1: f64,
    back: f64,
    cut2: f64,
}

/// r1 Master with its 10 s exec running; r1's port is cut (r2 takes over and starts its own
/// 10 s run), r1 comes back and preempts (r2 turns Backup while its command still sleeps),
/// r1's port is cut again (r2 Master with a transition queued behind its running command).
/// Returns when each happened, and how long `show vrrs client` took on r2 meanwhile.
fn fail_over_back_and_forth_with_busy_clients(lab: &Lab) -> (Handovers, Duration) {
    // r1's exec is in its 10 s run for Master; r2's ran (quickly) for Backup.
    wait_until(
        Duration::from_secs(3),
        || "the exec runs to start".into(),
        || {
            (lines(&lab.r(1).exec_out) == ["1 backup", "2 master"]
                && lines(&lab.r(2).exec_out) == ["1 backup"])
            .then_some(())
        },
    );
    sleep(Duration::from_millis(1000));

    lab.cut(1);
    // Taken once the port is down: every r1 advert captured is older.
    let cut1 = unix_now();
    lab.wait_states([Some("initialize"), Some("master")]);
    sleep(Duration::from_millis(1200));
    let t = Instant::now();
    let clients = lab.r(2).show("client");
    let answered = t.elapsed();
    let exec = &clients[2]["runner"];
    assert_eq!(exec["running"], true, "{exec:#}");
    assert_eq!(lines(&lab.r(2).exec_out), ["1 backup", "2 master"]);

    let back = unix_now();
    lab.reconnect(1);
    lab.wait_leaders(Some(Role::Master), Some(Role::Backup));
    sleep(Duration::from_millis(1200));

    lab.cut(1);
    let cut2 = unix_now();
    lab.wait_states([Some("initialize"), Some("master")]);
    sleep(Duration::from_millis(1200));
    (Handovers { cut1, back, cut2 }, answered)
}

/// Every advert of `family` captured belongs to one of the four Master periods, and each
/// period's adverts are one interval apart ([`expect_spacing`]); the takeovers are measured.
fn expect_master_periods_evenly_spaced(
    family: &str,
    frames: &[Frame],
    [src1, src2]: [IpAddr; 2],
    h: Handovers,
) {
    let mdi2 = 3.0 * INTERVAL_MS + (256.0 - 100.0) * INTERVAL_MS / 256.0;
    let r1 = adverts_from(frames, src1);
    let r2 = adverts_from(frames, src2);
    let within = |v: &[f64], a: f64, b: f64| -> Vec<f64> {
        v.iter().copied().filter(|t| *t > a && *t < b).collect()
    };
    let periods = [
        ("r1 Master from start", within(&r1, 0.0, h.cut1)),
        ("r2 Master after the first cut", within(&r2, h.cut1, h.cut2)),
        ("r1 Master after preempting", within(&r1, h.back, h.cut2)),
        (
            "r2 Master after the second cut",
            within(&r2, h.cut2, f64::MAX),
        ),
    ];
    assert_eq!(
        periods.iter().map(|p| p.1.len()).sum::<usize>(),
        r1.len() + r2.len(),
        "{family}: adverts outside the expected Master periods"
    );
    let mut worst: f64 = 0.0;
    for (what, times) in &periods {
        worst = worst.max(expect_spacing(&format!("{family} {what}"), times));
    }
    // The takeovers, on the wire: Master_Down_Interval after the last advert heard.
    let takeovers: Vec<f64> = [
        (&periods[0].1, &periods[1].1),
        (&periods[2].1, &periods[3].1),
    ]
    .iter()
    .map(|(old, new)| (new[0] - old.last().unwrap()) * 1000.0)
    .collect();
    eprintln!(
        "[measure] {family}: {} adverts in 4 Master periods, spacing within ±{worst:.2} ms \
         of {INTERVAL_MS} ms; takeovers {takeovers:.2?} ms after the last advert \
         (Master_Down_Interval {mdi2:.2} ms)",
        r1.len() + r2.len()
    );
    // The takeover delay is measured, not asserted here: it includes the router's own
    // protodown round trip (RTNL, shared with every process on the machine), and IPv4
    // adverts still leave through a raw socket and the device's queue, so the first one
    // after protodown is lifted often hits the `noop` qdisc (see vrrp::net) and the first
    // IPv4 advert seen comes one interval later. Neither is VRRS's doing.
}

// ------------------------------------------------- a leader given to a running router

/// One router on eth0 (a veth to a namespace running nothing, so it becomes Master alone),
/// its file written by [`LiveLeader::write`]: the plain router, optionally with leader
/// `grp` and an accounting client, and a second, shut-down router.
struct LiveLeader {
    r: Netns,
    file: PathBuf,
    accounting: PathBuf,
    _peer: Netns,
}

impl LiveLeader {
    fn new() -> LiveLeader {
        let r = Netns::new("nvlive");
        let peer = Netns::new("nvlivep");
        r.veth_to("eth0", &peer, "eth0");
        r.ip_ok(&["addr", "add", "10.9.0.1/24", "dev", "eth0"]);
        LiveLeader {
            file: r.dir().join("vrrp.toml"),
            accounting: r.dir().join("accounting.jsonl"),
            r,
            _peer: peer,
        }
    }

    /// The file: vrid 5; `leader_on` names the router serving leader `grp` (5, or 6: a
    /// second router with `shutdown = true`; None: no leader, no client, no vrid 6).
    fn write(&self, leader_on: Option<u8>) {
        let leader = |vrid| {
            if leader_on == Some(vrid) {
                "vrrs-leader = [\"grp\"]\n"
            } else {
                ""
            }
        };
        let mut text = format!(
            "[[vrrp]]\ninterface = \"eth0\"\nvrid = 5\npriority = 100\nadvertisement-interval = 100\nipv4 = [\"10.9.0.254/24\"]\n{}",
            leader(5)
        );
        if leader_on.is_some() {
            text += &format!(
                "\n[[vrrp]]\ninterface = \"eth0\"\nvrid = 6\nshutdown = true\nipv4 = [\"10.9.0.253/24\"]\n{}\n[[vrrs.client]]\nleader = \"grp\"\nkind = \"accounting\"\npath = \"{}\"\n",
                leader(6),
                self.accounting.display()
            );
        }
        fs::write(&self.file, text).unwrap();
    }

    /// [`LiveLeader::write`], then `apply --json`; the runtime section's action of vrid 5.
    fn reload(&self, leader_on: Option<u8>) -> String {
        self.write(leader_on);
        let out = self
            .r
            .netvrrp(&["apply", "--json", "-f", self.file.to_str().unwrap()]);
        assert!(out.status.success(), "apply: {}", common::text(&out));
        let v: Value = serde_json::from_slice(&out.stdout).expect("apply --json");
        let routers = v["runtime"]["routers"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let five = routers.iter().find(|r| r["vrid"] == 5);
        five.map_or_else(String::new, |r| {
            format!("{} {}", r["action"].as_str().unwrap_or(""), r["attributes"])
        })
    }

    /// `show vrrp --json`'s row of vrid 5.
    fn router(&self) -> Value {
        let out = self.r.netvrrp(&["show", "vrrp", "--json"]);
        assert!(out.status.success(), "show vrrp: {}", common::text(&out));
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        v["routers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["vrid"] == 5)
            .cloned()
            .expect("vrid 5 runs")
    }

    fn show(&self, what: &str) -> Vec<Value> {
        let out = self.r.netvrrp(&["show", "vrrs", what, "--json"]);
        assert!(out.status.success(), "show vrrs: {}", common::text(&out));
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        v[format!("{what}s").as_str()]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// The only row of `show vrrs server --json`.
    fn the_server(&self) -> Value {
        let servers = self.show("server");
        assert_eq!(servers.len(), 1, "{servers:#?}");
        servers[0].clone()
    }

    /// `diff --exit-code` of the file: in sync.
    fn expect_in_sync(&self) {
        let out = self
            .r
            .netvrrp(&["diff", "--exit-code", "-f", self.file.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(0), "diff: {}", common::text(&out));
    }
}

/// `keys` of `row`, as a JSON array.
fn fields(row: &Value, keys: &[&str]) -> Value {
    keys.iter().map(|k| row[*k].clone()).collect()
}

/// A reload that adds a leader name to a running router connects the VRRS server to the
/// router's state as a start would (clients told, an accounting line written) without a
/// transition of the router; one that takes the name away disconnects it.
#[test]
fn vrrs_leader_added_and_removed_live_follows_the_running_router() {
    let _timing = shared();
    let lab = LiveLeader::new();
    lab.reload(None);
    wait_until(
        Duration::from_secs(10),
        || format!("vrid 5 Master: {}", lab.router()),
        || (lab.router()["state"] == "master").then_some(()),
    );
    let transitions = lab.router()["counters"]["transitions"].clone();
    assert!(lab.show("server").is_empty());

    // Added: the server follows the running Master at once.
    assert_eq!(lab.reload(Some(5)), "reconfigure [\"vrrs-leader\"]");
    let s = lab.the_server();
    assert_eq!(
        fields(
            &s,
            &["name", "vrid", "connected", "state", "previous_state"]
        ),
        serde_json::json!(["grp", 5, true, "master", "initialize"]),
        "{s:#}"
    );
    // The reason the router is Master.
    assert_eq!(s["reason"], "master down timer", "{s:#}");
    let line = wait_until(
        Duration::from_secs(5),
        || format!("an accounting line: {:?}", lines(&lab.accounting)),
        || json_lines(&lab.accounting).into_iter().next(),
    );
    assert_eq!(
        fields(&line, &["name", "previous", "state", "seq"]),
        serde_json::json!(["grp", "initialize", "master", 1]),
        "{line}"
    );
    let clients = lab.show("client");
    assert_eq!(clients[0]["notices"], 1, "{clients:#?}");
    assert_eq!(clients[0]["connected"], true, "{clients:#?}");
    lab.expect_in_sync();

    // Moved to a router that does not run: disconnected, as a start with this file leaves it.
    assert_eq!(lab.reload(Some(6)), "reconfigure [\"vrrs-leader\"]");
    let s = lab.the_server();
    assert_eq!(
        fields(&s, &["vrid", "connected", "state"]),
        serde_json::json!([6, false, "initialize"]),
        "{s:#}"
    );
    lab.expect_in_sync();

    // Removed: no server at all.
    lab.reload(None);
    assert!(lab.show("server").is_empty());
    lab.expect_in_sync();

    let r = lab.router();
    assert_eq!(r["state"], "master", "{r:#}");
    assert_eq!(
        r["counters"]["transitions"], transitions,
        "no transition: {r:#}"
    );
    assert_eq!(json_lines(&lab.accounting).len(), 1, "one transition told");
    assert!(lab.r.netvrrp(&["stop"]).status.success());
}
