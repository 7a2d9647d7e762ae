//! Interop peer harness: real VRRP routers (keepalived, FRR vrrpd, netvrrp itself) in
//! network namespaces on one Linux bridge, a packet capture of that bridge, and each
//! daemon's own view of its state. Used by integration tests with `mod peers;`; needs root.
//!
//! # Topology: one [`Lab`]
//! ```text
//!   host (ns lab.host())              r1 .. rN (ns lab.r(K))
//!   eth0 10.X.0.100/24                eth0 10.X.0.K/24, 2001:db8:X::K/64, MAC 02:X:00:00:00:K
//!   2001:db8:X::100/64                  |
//!     |                                 |
//!   port-h ---------- br0 --------- port-rK          (ns lab.sw(); STP off, forward delay 0,
//!                                                     multicast snooping off)
//! ```
//! The namespaces, bridge and veths are the shared lab of `tests/common/lab.rs` (so a test
//! file using `mod peers;` also declares `mod common;`). `X` ([`Lab::x`]) differs between
//! labs of one test process, namespace names start `nvp<pid>x<counter>-{sw,h,rK}`, so tests
//! run in parallel. VIPs by convention:
//! [`Lab::vip4`] = 10.X.0.254/24, [`Lab::vip6`] = 2001:db8:X::254/64. Routers get the lab
//! sysctls (arp_ignore=1, arp_announce=2, ignore_routes_with_linkdown=1, DAD and RA off).
//!
//! Dropping the `Lab` (also while a test panics) SIGKILLs the process group of everything it
//! spawned, then every process still inside its namespaces, deletes the namespaces, and
//! removes its directory (`/tmp/nvp…`), which is kept and reported when the test failed.
//! Labs left by a test process that was itself killed are swept by the next `Lab::new`.
//!
//! # API
//! - [`Lab::new`]`(n)`; names: [`Lab::sw`], [`Lab::host`], [`Lab::r`]`(k)`; addresses:
//!   [`Lab::addr4`]/[`Lab::addr6`]/[`Lab::mac`]`(k)` (`k` = 1..=n, or [`HOST`]),
//!   [`Lab::router_of`] (which router a source address/MAC belongs to).
//! - [`Lab::exec`]/[`Lab::ok`]/[`Lab::ip`]: run a command in a namespace ([`ROOT_NS`] = the
//!   test's own); [`Lab::spawn`]/[`Lab::spawn_logged`] → [`Proc`] (own process group,
//!   output in a log file; `kill9`, `term`, `signal`, `alive`, `wait_exit`).
//! - [`Lab::cut`]/[`Lab::reconnect`]: a router's switch port down/up ("the box died");
//!   [`Lab::isolate`]: bridge port isolation (routers cannot hear each other, links stay up).
//! - [`Lab::capture_start`] (tcpdump on br0, nanosecond pcap, VRRP v4+v6, ARP, ICMP, ICMPv6),
//!   [`Lab::capture_peek`] (read while it runs), [`Lab::capture_stop`] → `Vec<`[`Frame`]`>`.
//!   [`pcap`] decodes frames: timestamps, MACs, VRRP (src/dst, TTL, version, vrid, priority,
//!   interval, addresses, which checksum form), ARP, ICMP/ICMPv6 (ND target and options).
//! - Peers, all started from one [`Conf`] (vrid, priority, version, advert_ms, vips4, vips6,
//!   nopreempt, use_vmac) and all implementing [`Peer`] (`state`, `kill9`, `term`, `restart`,
//!   `advert_source_mac`): [`Keepalived::start`], [`Frr::start`] and [`Netvrrp::start`]
//!   ([`Netvrrp::start_with`] for netvrrp-only options), or generically [`Kind::start`].
//!   `state()` is the daemon's *own* view ([`States`] with an optional [`State`] per
//!   family): keepalived's JSON dump, FRR's `show vrrp json`, `netvrrp show vrrp --json`.
//!   [`Kind::PEERS`] are the third-party implementations the matrix runs netvrrp against.
//! - [`wait_for`]: poll with a deadline; [`wait_states`]: poll one peer's state;
//!   [`wait_views`]: poll several peers until each shows the wanted state in every family.
//!
//! # Adding a router kind
//! 1. A file `peers/<kind>.rs` with `<Kind>::start(lab, router, conf)` that renders `conf`
//!    into [`Lab::router_dir`]`(k, "<kind>")` and starts the daemon in `lab.r(k)` (see
//!    `netvrrp.rs`: `netvrrp --netns NS --run-dir DIR apply -f FILE` from the test's own
//!    namespace; a runtime that daemonizes out of the process group is still killed at
//!    drop, because the lab also kills every process found in its namespaces).
//! 2. `impl Peer` for it (`state()` from the daemon's own status; `kill9` also neutralises
//!    what a killed daemon leaves in the kernel), a [`Kind`] variant and its arm in
//!    [`Kind::start`].

//! # Environment
//! `NETVRRP_KEEPALIVED` (keepalived binary, default `keepalived`), `NETVRRP_FRR_DIR`
//! (directory with zebra and vrrpd, default `/usr/lib/frr`), `NETVRRP_KEEP_LAB` (keep the
//! lab directory with configs, logs and pcaps even when the test passes).
//!
//! Peer quirks are documented where they are handled (see `frr.rs`, `keepalived.rs`); how
//! the interop matrix recognises and reports them: `tests/interop_matrix.rs`.

// Each integration test uses a different part of this support module.
#![allow(dead_code)]

pub mod frr;
pub mod keepalived;
pub mod netvrrp;
pub mod pcap;

pub use frr::Frr;
pub use keepalived::Keepalived;
#[allow(unused_imports)]
pub use netvrrp::{Netvrrp, NetvrrpOptions};
#[allow(unused_imports)]
pub use pcap::{Checksum, Family, Frame, Mac, Payload, Vrrp};

use crate::common::Netns;
use crate::common::lab::{Lab as LabNet, Tcpdump};
use ipnet::{Ipv4Net, Ipv6Net};
use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use std::collections::HashMap;
use std::fs::{self, File};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::thread::sleep;
use std::time::{Duration, Instant, SystemTime};

/// Router index of the host namespace for [`Lab::addr4`], [`Lab::addr6`], [`Lab::mac`].
pub const HOST: usize = 100;
/// Pass as `ns` to run a command in the test's own namespace.
pub const ROOT_NS: &str = "";

/// Prefix of every namespace and directory a lab makes; the sweep of stale labs keys on it.
const PREFIX: &str = "nvp";
/// ifalias on `lo` of every namespace we create, so the sweep never deletes someone else's.
const MARK: &str = "netvrrp-peers-harness";
/// Capture filter. Not libpcap's `vrrp` primitive: that one matches IPv4 only.
const CAPTURE_FILTER: &str = "ip proto 112 or ip6 proto 112 or arp or icmp or icmp6";

static COUNTER: AtomicU32 = AtomicU32::new(0);
static SWEEP: Once = Once::new();

/// Panics unless we are root and the peer daemons are installed: these tests are meant to
/// run (CI installs the peers), so a silent skip would hide a broken CI image.
pub fn require_root_and_peers() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "interop tests need root (network namespaces)"
    );
    for bin in [
        keepalived::binary(),
        frr::binary("zebra"),
        frr::binary("vrrpd"),
        "tcpdump".into(),
    ] {
        let found = if bin.contains('/') {
            Path::new(&bin).exists()
        } else {
            Command::new("sh")
                .args(["-c", &format!("command -v {bin}")])
                .output()
                .is_ok_and(|o| o.status.success())
        };
        assert!(
            found,
            "{bin} is not installed (.ci/run installs keepalived, frr and tcpdump)"
        );
    }
}

/// Polls `f` every 20 ms until it returns `Some`, or `timeout` passes.
pub fn wait_for<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let end = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= end {
            return None;
        }
        sleep(Duration::from_millis(20));
    }
}

/// Polls a peer's own state until `pred` holds; `Err` carries the last state seen (or the
/// last error) so a failing test can say what the daemon thought.
pub fn wait_states(
    peer: &dyn Peer,
    timeout: Duration,
    pred: impl Fn(&States) -> bool,
) -> Result<States, String> {
    let mut last = String::from("never answered");
    wait_for(timeout, || match peer.state() {
        Ok(s) if pred(&s) => Some(s),
        Ok(s) => {
            last = format!("{s:?}");
            None
        }
        Err(e) => {
            last = e;
            None
        }
    })
    .ok_or_else(|| format!("{} on r{}: {last}", peer.kind().name(), peer.router()))
}

/// Polls several peers until each one's own view shows its `State` for every family it runs;
/// `Err` lists what each said last. Polls all of them each round, so it checks one moment.
pub fn wait_views(timeout: Duration, want: &[(&dyn Peer, State)]) -> Result<(), String> {
    let mut last: Vec<Result<States, String>> = Vec::new();
    let done = wait_for(timeout, || {
        last = want.iter().map(|(p, _)| p.state()).collect();
        want.iter()
            .zip(&last)
            .all(|((p, w), got)| {
                got.as_ref()
                    .is_ok_and(|s| p.conf().families().iter().all(|&f| s.get(f) == Some(w)))
            })
            .then_some(())
    });
    done.ok_or_else(|| {
        let views: Vec<String> = want
            .iter()
            .zip(&last)
            .map(|((p, w), got)| {
                format!(
                    "{} r{} (want {w:?}) says {got:?}",
                    p.kind().name(),
                    p.router()
                )
            })
            .collect();
        format!("no agreement within {timeout:?}: {}", views.join("; "))
    })
}

/// Seconds from `a` to `b` (negative when `b` is earlier), for timing logs.
pub fn secs_between(a: SystemTime, b: SystemTime) -> f64 {
    match b.duration_since(a) {
        Ok(d) => d.as_secs_f64(),
        Err(e) => -e.duration().as_secs_f64(),
    }
}

// ------------------------------------------------------------------------------------ Lab

/// A VRRP lab: switch, routers and a host in network namespaces (the shared lab of
/// tests/common/lab.rs, with the peers' sysctls, addresses and process bookkeeping). See
/// the module docs.
pub struct Lab {
    /// `nvp<pid>x<counter>`: prefix of the namespace names and the directory name.
    pub id: String,
    /// The third octet of 10.X.0.0/24 (and group of 2001:db8:X::/64) used by this lab.
    pub x: u8,
    n: usize,
    dir: PathBuf,
    procs: Mutex<Vec<Proc>>,
    /// Addresses and MACs found on exactly one router (see `router_of`).
    owners: Mutex<HashMap<Who, usize>>,
    capture: Mutex<Option<(Tcpdump, PathBuf)>>,
    /// The namespaces. Declared last: dropped (deleted) after [`Drop`] has killed what
    /// runs in them; a half-built lab is deleted too.
    net: LabNet,
}

impl Lab {
    /// Builds a lab with `routers` routers (1..=99) and one host.
    pub fn new(routers: usize) -> Lab {
        assert!((1..=99).contains(&routers), "1..=99 routers");
        SWEEP.call_once(sweep_stale_labs);
        let pid = std::process::id();
        let counter = COUNTER.fetch_add(1, Ordering::SeqCst);
        let id = format!("{PREFIX}{pid}x{counter}");
        // Unique among the labs of this process (the ones that can share a test binary's
        // output); labs of other processes live in other namespaces anyway.
        let x = ((u64::from(pid) * 7 + u64::from(counter)) % 250 + 1) as u8;
        // Fixed /tmp, not $TMPDIR: FRR's user must traverse the path and unix socket paths
        // (zserv.api, *.vty) must stay under 108 bytes.
        let dir = PathBuf::from(format!("/tmp/{id}"));
        // The namespaces first: if building them fails, they delete themselves and there is
        // no directory to leave behind yet.
        let net = build(&id, x, routers);
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("lab dir");
        Lab {
            id,
            x,
            n: routers,
            dir,
            procs: Mutex::new(Vec::new()),
            owners: Mutex::new(HashMap::new()),
            capture: Mutex::new(None),
            net,
        }
    }

    // ------------------------------------------------------------------ names, addresses

    /// Number of routers.
    pub fn routers(&self) -> usize {
        self.n
    }
    /// The switch namespace (bridge `br0`, ports `port-rK`, `port-h`).
    pub fn sw(&self) -> &str {
        self.net.sw.name()
    }
    /// The host namespace.
    pub fn host(&self) -> &str {
        self.net.host().name()
    }
    /// Router `k`'s namespace (k = 1..=n).
    pub fn r(&self, k: usize) -> &str {
        self.net.r(k).name()
    }

    /// IPv4 address of router `k` (or [`HOST`]) on eth0.
    pub fn addr4(&self, k: usize) -> Ipv4Addr {
        Ipv4Addr::new(10, self.x, 0, k as u8)
    }
    /// IPv6 global address of router `k` (or [`HOST`]) on eth0.
    pub fn addr6(&self, k: usize) -> Ipv6Addr {
        format!("2001:db8:{}::{}", self.x, k).parse().unwrap()
    }
    /// eth0's MAC of router `k` (or [`HOST`]).
    pub fn mac(&self, k: usize) -> Mac {
        plan_mac(self.x, k)
    }
    /// eth0's EUI-64 link-local of router `k` (what keepalived sends IPv6 adverts from).
    pub fn link_local(&self, k: usize) -> Ipv6Addr {
        let m = self.mac(k).0;
        Ipv6Addr::from([
            0xfe,
            0x80,
            0,
            0,
            0,
            0,
            0,
            0,
            m[0] ^ 2,
            m[1],
            m[2],
            0xff,
            0xfe,
            m[3],
            m[4],
            m[5],
        ])
    }
    /// The conventional IPv4 VIP of this lab, 10.X.0.254/24.
    pub fn vip4(&self) -> Ipv4Net {
        Ipv4Net::new(self.addr4(254), 24).unwrap()
    }
    /// The conventional IPv6 VIP of this lab, 2001:db8:X::254/64.
    pub fn vip6(&self) -> Ipv6Net {
        Ipv6Net::new(self.addr6(254), 64).unwrap()
    }

    /// Which router a source address or MAC belongs to: eth0's planned addresses and MAC,
    /// then whatever the kernel shows on the routers' interfaces (macvlan link-locals, which
    /// are random). Virtual MACs and addresses held by several routers (VIPs) have no owner.
    pub fn router_of(&self, who: impl Into<Who>) -> Option<usize> {
        let who = who.into();
        for k in 1..=self.n {
            let planned = match who {
                Who::Ip(IpAddr::V4(a)) => a == self.addr4(k),
                Who::Ip(IpAddr::V6(a)) => a == self.addr6(k) || a == self.link_local(k),
                Who::Mac(m) => m == self.mac(k),
            };
            if planned {
                return Some(k);
            }
        }
        if matches!(who, Who::Mac(m) if m.is_vrrp()) {
            return None;
        }
        if let Some(&k) = self.owners.lock().unwrap().get(&who) {
            return Some(k);
        }
        // Not cached: one `ip -j addr` per router (it lists MACs too) refreshes everything,
        // so a capture full of one daemon's random link-local costs one scan, not one per
        // frame. Misses are not cached: the address may appear later (a macvlan going up).
        let mut seen: HashMap<Who, Vec<usize>> = HashMap::new();
        for k in 1..=self.n {
            let v: serde_json::Value =
                serde_json::from_str(&self.ip(self.r(k), &["-j", "addr", "show"]))
                    .unwrap_or_default();
            for link in v.as_array().into_iter().flatten() {
                if let Some(m) = link["address"].as_str().and_then(Mac::parse) {
                    seen.entry(Who::Mac(m)).or_default().push(k);
                }
                for a in link["addr_info"].as_array().into_iter().flatten() {
                    if let Some(ip) = a["local"].as_str().and_then(|s| s.parse::<IpAddr>().ok()) {
                        seen.entry(Who::Ip(ip)).or_default().push(k);
                    }
                }
            }
        }
        let mut owners = self.owners.lock().unwrap();
        for (w, mut ks) in seen {
            ks.dedup();
            // Shared addresses (VIPs, virtual MACs) identify no single router.
            if ks.len() == 1 && !matches!(w, Who::Mac(m) if m.is_vrrp()) {
                owners.insert(w, ks[0]);
            }
        }
        owners.get(&who).copied()
    }

    /// The lab's directory (`/tmp/nvp…`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A per-router, per-daemon directory, created on first use (e.g. `r2/frr`).
    pub fn router_dir(&self, k: usize, what: &str) -> PathBuf {
        let d = self.dir.join(format!("r{k}")).join(what);
        fs::create_dir_all(&d).unwrap();
        d
    }

    // ------------------------------------------------------------------ commands

    /// Runs a command in `ns` (`ROOT_NS`: here) to completion; never panics on failure.
    pub fn exec(&self, ns: &str, args: &[&str]) -> Output {
        run(&mut command(ns, args))
    }

    /// Like [`Lab::exec`], but panics with the output when the command fails; returns stdout.
    pub fn ok(&self, ns: &str, args: &[&str]) -> String {
        let out = self.exec(ns, args);
        assert!(
            out.status.success(),
            "[{ns}] {}: {}",
            args.join(" "),
            text(&out)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `ip -n ns ARGS` (cheaper than `ip netns exec`); panics on failure, returns stdout.
    pub fn ip(&self, ns: &str, args: &[&str]) -> String {
        let out = self.ip_try(ns, args);
        assert!(
            out.status.success(),
            "[{ns}] ip {}: {}",
            args.join(" "),
            text(&out)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `ip -n ns ARGS`, whatever the outcome.
    pub fn ip_try(&self, ns: &str, args: &[&str]) -> Output {
        let mut c = Command::new("ip");
        if !ns.is_empty() {
            c.args(["-n", ns]);
        }
        run(c.args(args))
    }

    /// ifindex of `dev` in `ns`.
    pub fn ifindex(&self, ns: &str, dev: &str) -> u32 {
        let v: serde_json::Value =
            serde_json::from_str(&self.ip(ns, &["-j", "link", "show", "dev", dev])).unwrap();
        v[0]["ifindex"].as_u64().expect("ifindex") as u32
    }

    /// Starts a long-running command in `ns` in its own process group; output goes to
    /// `<lab dir>/<ns>-<program>-<n>.log`. The lab kills it at drop.
    pub fn spawn(&self, ns: &str, args: &[&str]) -> Proc {
        let n = self.procs.lock().unwrap().len();
        let prog = Path::new(args[0])
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let log = self.dir.join(format!(
            "{}-{prog}-{n}.log",
            if ns.is_empty() { "root" } else { ns }
        ));
        self.spawn_logged(ns, args, &[], &log)
    }

    /// [`Lab::spawn`] with extra environment variables and a chosen log file (appended to,
    /// so a restarted daemon keeps one log).
    pub fn spawn_logged(&self, ns: &str, args: &[&str], env: &[(&str, &str)], log: &Path) -> Proc {
        use std::os::unix::process::CommandExt;
        let file = File::options()
            .create(true)
            .append(true)
            .open(log)
            .expect("log file");
        let mut c = command(ns, args);
        c.envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            // Own process group: one killpg reaches the daemon and the children it forks
            // (keepalived's VRRP child), and a Ctrl-C of the test leaves them to the drop.
            .process_group(0);
        let child = c
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {args:?} in {ns}: {e}"));
        let p = Proc(Arc::new(ProcInner {
            pid: child.id() as i32,
            name: args.join(" "),
            log: log.to_path_buf(),
            child: Mutex::new(child),
        }));
        self.procs.lock().unwrap().push(p.clone());
        p
    }

    // ------------------------------------------------------------------ switch ports

    /// Takes router `k`'s switch port down: its eth0 loses carrier, nothing crosses.
    pub fn cut(&self, k: usize) {
        self.net.set_router_port(k, false);
    }

    /// Brings router `k`'s switch port back up (forwarding at once: STP off, delay 0).
    pub fn reconnect(&self, k: usize) {
        self.net.set_router_port(k, true);
    }

    /// Bridge port isolation of router `k` (`bridge link set … isolated on|off`): isolated
    /// ports cannot reach each other, but still reach the host, and the capture sees all.
    /// Isolating every router port partitions the routers while their links stay up.
    pub fn isolate(&self, k: usize, on: bool) {
        let out = run(Command::new("bridge").args([
            "-n",
            self.sw(),
            "link",
            "set",
            "dev",
            &LabNet::router_port(k),
            "isolated",
            if on { "on" } else { "off" },
        ]));
        assert!(out.status.success(), "bridge isolated: {}", text(&out));
    }

    // ------------------------------------------------------------------ capture

    /// Starts tcpdump on br0 (switch namespace), VRRP v4/v6, ARP, ICMP, ICMPv6, nanosecond
    /// timestamps, packet-buffered; returns once tcpdump is listening.
    pub fn capture_start(&self) {
        self.capture_start_on("br0");
    }

    /// Capture on one switch interface: a port ([`Lab::router_port`]) sees the unicast
    /// frames to and from its router, which the bridge device itself never sees once it has
    /// learned MACs.
    pub fn capture_start_on(&self, iface: &str) {
        let mut cap = self.capture.lock().unwrap();
        assert!(cap.is_none(), "a capture is already running");
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let file = self.dir.join(format!("capture-{n}.pcap"));
        let nano = ["--time-stamp-precision", "nano"];
        let dump = Tcpdump::start_to(
            &self.net.sw,
            iface,
            file.clone(),
            &nano,
            Some(CAPTURE_FILTER),
        );
        *cap = Some((dump, file));
    }

    /// The switch port of router `k`.
    pub fn router_port(k: usize) -> String {
        LabNet::router_port(k)
    }

    /// The frames captured so far, without stopping the capture.
    pub fn capture_peek(&self) -> Vec<Frame> {
        let cap = self.capture.lock().unwrap();
        let (_, file) = cap.as_ref().expect("no capture running");
        pcap::read(file).expect("capture file")
    }

    /// Stops tcpdump (SIGINT, so it flushes) and returns every captured frame.
    pub fn capture_stop(&self) -> Vec<Frame> {
        let (dump, file) = self
            .capture
            .lock()
            .unwrap()
            .take()
            .expect("no capture running");
        dump.stop();
        pcap::read(&file).expect("capture file")
    }

    // ------------------------------------------------------------------ teardown

    fn teardown(&mut self) {
        if let Some((dump, _)) = self.capture.lock().unwrap().take() {
            dump.stop();
        }
        for p in self.procs.lock().unwrap().iter() {
            p.kill9();
        }
        // Daemons that left our process groups: gone before the namespaces are deleted
        // (when `net` is dropped), so nothing outlives the lab.
        for ns in self
            .net
            .routers
            .iter()
            .chain(&self.net.host)
            .chain([&self.net.sw])
        {
            kill_ns_processes(ns.name());
        }
    }
}

/// The namespaces of a lab: the shared switch, routers and host, with the peers' marks and
/// sysctls, eth0 MACs 02:X:00:00:00:K and addresses 10.X.0.K/24, 2001:db8:X::K/64.
fn build(id: &str, x: u8, routers: usize) -> LabNet {
    let mut net = LabNet::switch(id, x);
    mark(&net.sw);
    // The switch has no business speaking IPv6 (RS/MLD noise in captures).
    sysctl(
        &net.sw,
        &[
            "net.ipv6.conf.all.disable_ipv6=1",
            "net.ipv6.conf.default.disable_ipv6=1",
        ],
    );
    for k in 1..=routers {
        let mac = plan_mac(x, k).to_string();
        let r = net.add_router(Some(&mac), |ns| {
            mark(ns);
            // arp_ignore=1: answer ARP only for addresses on the receiving interface, so a
            // parent never answers for a VIP that lives on a macvlan; arp_announce=2: the
            // same for our own requests; linkdown routes ignored (FRR's advice for
            // protodown macvlans).
            sysctl(
                ns,
                &[
                    "net.ipv4.conf.all.arp_ignore=1",
                    "net.ipv4.conf.default.arp_ignore=1",
                    "net.ipv4.conf.all.arp_announce=2",
                    "net.ipv4.conf.default.arp_announce=2",
                    "net.ipv4.conf.all.ignore_routes_with_linkdown=1",
                    "net.ipv4.conf.default.ignore_routes_with_linkdown=1",
                    "net.ipv6.conf.all.ignore_routes_with_linkdown=1",
                    "net.ipv6.conf.default.ignore_routes_with_linkdown=1",
                ],
            );
        });
        add_plan_addresses(r, x, k);
    }
    let host = net.add_host(Some(&plan_mac(x, HOST).to_string()), mark);
    add_plan_addresses(host, x, HOST);
    net
}

/// Marks a namespace as ours for [`sweep_stale_labs`] and turns router advertisements off
/// (set on `default` before its interfaces exist, so every later device inherits it).
fn mark(ns: &Netns) {
    ns.ip_ok(&["link", "set", "lo", "alias", MARK]);
    sysctl(
        ns,
        &[
            "net.ipv6.conf.all.accept_ra=0",
            "net.ipv6.conf.default.accept_ra=0",
        ],
    );
}

fn sysctl(ns: &Netns, settings: &[&str]) {
    let mut args = vec!["sysctl", "-qw"];
    args.extend_from_slice(settings);
    ns.ok(&args);
}

/// eth0's MAC of router `k` (or [`HOST`]) in lab `x`.
fn plan_mac(x: u8, k: usize) -> Mac {
    Mac([0x02, x, 0, 0, 0, k as u8])
}

/// eth0's planned addresses of router `k` (or [`HOST`]) in lab `x`.
fn add_plan_addresses(ns: &Netns, x: u8, k: usize) {
    ns.ip_ok(&["addr", "add", &format!("10.{x}.0.{k}/24"), "dev", "eth0"]);
    ns.ip_ok(&[
        "addr",
        "add",
        &format!("2001:db8:{x}::{k}/64"),
        "dev",
        "eth0",
        "nodad",
    ]);
}

impl Drop for Lab {
    fn drop(&mut self) {
        let failed = std::thread::panicking();
        self.teardown();
        if failed {
            // Daemon logs are what explains an interop failure; CI only keeps stderr.
            eprintln!(
                "peers: lab dropped while panicking; files kept in {}",
                self.dir.display()
            );
            print_log_tails(&self.dir, 25);
        } else if std::env::var_os("NETVRRP_KEEP_LAB").is_some() {
            eprintln!(
                "peers: NETVRRP_KEEP_LAB: files kept in {}",
                self.dir.display()
            );
        } else {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// Either kind of source identity a capture shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Who {
    Ip(IpAddr),
    Mac(Mac),
}
impl From<IpAddr> for Who {
    fn from(ip: IpAddr) -> Who {
        Who::Ip(ip)
    }
}
impl From<Ipv4Addr> for Who {
    fn from(ip: Ipv4Addr) -> Who {
        Who::Ip(ip.into())
    }
}
impl From<Ipv6Addr> for Who {
    fn from(ip: Ipv6Addr) -> Who {
        Who::Ip(ip.into())
    }
}
impl From<Mac> for Who {
    fn from(m: Mac) -> Who {
        Who::Mac(m)
    }
}

fn command(ns: &str, args: &[&str]) -> Command {
    let mut c;
    if ns.is_empty() {
        c = Command::new(args[0]);
        c.args(&args[1..]);
    } else {
        // `ip netns exec` execs the command (no fork), so the pid we get is the program's.
        c = Command::new("ip");
        c.args(["netns", "exec", ns]).args(args);
    }
    c
}

fn run(c: &mut Command) -> Output {
    c.stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{c:?}: {e}"))
}

/// stdout + stderr of a finished command, for messages.
pub fn text(out: &Output) -> String {
    format!(
        "{}{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// SIGKILLs every process in `ns` (daemons that left our process groups, helpers) and waits
/// until they are gone, so the namespace can really go away.
fn kill_ns_processes(ns: &str) {
    let pids = |ns: &str| -> Vec<i32> {
        let out = run(Command::new("ip").args(["netns", "pids", ns]));
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect()
    };
    for pid in pids(ns) {
        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
    }
    wait_for(Duration::from_secs(3), || pids(ns).is_empty().then_some(()));
}

fn print_log_tails(dir: &Path, lines: usize) {
    let mut logs = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "log" || x == "out") {
                logs.push(p);
            }
        }
    }
    logs.sort();
    for p in logs {
        let text = fs::read_to_string(&p).unwrap_or_default();
        // Per-packet debug lines (FRR's `debug vrrp protocol` logs every advert received)
        // would push the transitions and errors out of the tail.
        let (noise, all): (Vec<&str>, Vec<&str>) = text
            .lines()
            .partition(|l| PER_PACKET_LOG.iter().any(|n| l.contains(n)));
        if all.is_empty() {
            continue;
        }
        eprintln!(
            "---- {} (last {} lines, {} per-packet lines left out)",
            p.display(),
            lines.min(all.len()),
            noise.len()
        );
        for l in &all[all.len().saturating_sub(lines)..] {
            eprintln!("  {l}");
        }
    }
}

/// Log lines that say "one more advert" and nothing else.
const PER_PACKET_LOG: &[&str] = &["Received VRRP Advertisement"];

/// Removes labs whose test process is gone (killed by a CI timeout, say): their namespaces
/// (only if marked by us) with whatever still runs inside, and their directories.
fn sweep_stale_labs() {
    let out = run(Command::new("ip").args(["netns", "list"]));
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Some(ns) = line.split_whitespace().next() else {
            continue;
        };
        let Some(pid) = ns
            .strip_prefix(PREFIX)
            .and_then(|r| r.split('x').next())
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        let marked = run(Command::new("ip").args(["-n", ns, "link", "show", "lo"]));
        if !String::from_utf8_lossy(&marked.stdout).contains(MARK) {
            continue;
        }
        eprintln!("peers: removing stale lab namespace {ns} (process {pid} is gone)");
        kill_ns_processes(ns);
        let _ = run(Command::new("ip").args(["netns", "del", ns]));
        // The namespace's own run directory (see `Netns::new`).
        let _ = fs::remove_dir_all(std::env::temp_dir().join(format!("netvrrp-test-{ns}")));
        if let Some(id) = ns.split('-').next() {
            let _ = fs::remove_dir_all(format!("/tmp/{id}"));
        }
    }
}

// ------------------------------------------------------------------------------------ Proc

/// A process started by [`Lab::spawn`]. Clones share the process.
#[derive(Clone)]
pub struct Proc(Arc<ProcInner>);

struct ProcInner {
    pid: i32,
    name: String,
    log: PathBuf,
    child: Mutex<Child>,
}

impl Proc {
    pub fn pid(&self) -> i32 {
        self.0.pid
    }
    pub fn log(&self) -> &Path {
        &self.0.log
    }
    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// Still running (not exited, not a zombie: we reap it here).
    pub fn alive(&self) -> bool {
        matches!(self.0.child.lock().unwrap().try_wait(), Ok(None))
    }

    /// Sends `sig` to the process itself (not its group).
    pub fn signal(&self, sig: Signal) {
        if self.alive() {
            let _ = kill(Pid::from_raw(self.0.pid), sig);
        }
    }

    /// Waits up to `timeout` for the process to exit; true if it did.
    pub fn wait_exit(&self, timeout: Duration) -> bool {
        wait_for(timeout, || (!self.alive()).then_some(())).is_some()
    }

    /// SIGKILL to the whole process group, then reap. Idempotent.
    pub fn kill9(&self) {
        // The group outlives its leader while children remain, so signal it even when the
        // leader already exited.
        let _ = killpg(Pid::from_raw(self.0.pid), Signal::SIGKILL);
        let _ = self.0.child.lock().unwrap().wait();
    }

    /// SIGTERM to the process; after `grace` the group gets SIGKILL. True if it exited on
    /// its own within `grace`.
    pub fn term(&self, grace: Duration) -> bool {
        self.signal(Signal::SIGTERM);
        let clean = self.wait_exit(grace);
        self.kill9();
        clean
    }
}

impl std::fmt::Debug for Proc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Proc({} {:?})", self.0.pid, self.0.name)
    }
}

// ------------------------------------------------------------------------------------ peers

/// What every peer kind is started from. `Default` is VRID 10, priority 100, VRRPv3, 1 s,
/// no VIPs (set at least one), preempt on, no vmac.
#[derive(Clone, Debug, PartialEq)]
pub struct Conf {
    pub vrid: u8,
    pub priority: u8,
    /// 2 or 3.
    pub version: u8,
    /// Advertisement interval in ms (v3: multiple of 10; v2: multiple of 1000).
    pub advert_ms: u32,
    pub vips4: Vec<Ipv4Net>,
    /// VRRPv3 only.
    pub vips6: Vec<Ipv6Net>,
    pub nopreempt: bool,
    /// keepalived: `use_vmac` (adverts and VIPs on a macvlan with the virtual MAC). FRR
    /// always works this way and ignores it.
    pub use_vmac: bool,
    /// Unicast mode: send adverts to these addresses (IPv6: link-locals) instead of the
    /// group, and hear only them (netvrrp `unicast-peers`, keepalived `unicast_peer`). FRR
    /// has no unicast mode.
    pub unicast_peers: Vec<IpAddr>,
    /// IPv6 Router Advertisements from the Master (netvrrp `router-advertisements`; FRR:
    /// zebra on the vrrp6 macvlan, whose only link-local is then the link-local VIP;
    /// keepalived has none). Every 3-4 s, router lifetime 60 s.
    pub router_advertisements: bool,
}

impl Default for Conf {
    fn default() -> Conf {
        Conf {
            vrid: 10,
            priority: 100,
            version: 3,
            advert_ms: 1000,
            vips4: Vec::new(),
            vips6: Vec::new(),
            nopreempt: false,
            use_vmac: false,
            unicast_peers: Vec::new(),
            router_advertisements: false,
        }
    }
}

impl Conf {
    /// Panics on combinations no peer can run, so a test fails at its line, not in a log.
    pub fn check(&self) {
        assert!(self.vrid >= 1, "vrid 1..=255");
        assert!(self.priority >= 1, "priority 1..=255");
        assert!(self.version == 2 || self.version == 3, "version 2 or 3");
        assert!(!self.vips4.is_empty() || !self.vips6.is_empty(), "no VIPs");
        if self.version == 2 {
            assert!(self.vips6.is_empty(), "VRRPv2 is IPv4 only");
            assert!(
                self.advert_ms.is_multiple_of(1000) && self.advert_ms > 0,
                "VRRPv2 intervals are whole seconds"
            );
        } else {
            assert!(
                self.advert_ms.is_multiple_of(10) && (10..=40950).contains(&self.advert_ms),
                "v3 interval 10..=40950 ms, multiple of 10"
            );
        }
    }

    pub fn interval(&self) -> Duration {
        Duration::from_millis(self.advert_ms.into())
    }

    /// RFC 9568 Skew_Time for this priority: (256 − prio) × interval / 256 (v2: seconds).
    pub fn skew(&self) -> Duration {
        self.interval() * (256 - u32::from(self.priority)) / 256
    }

    /// RFC 9568 Master_Down_Interval: 3 × interval + Skew_Time. (FRR rounds the skew down to
    /// whole centiseconds; keepalived is exact; the difference is < 10 ms.)
    pub fn master_down(&self) -> Duration {
        self.interval() * 3 + self.skew()
    }

    pub fn families(&self) -> Vec<Family> {
        let mut f = Vec::new();
        if !self.vips4.is_empty() {
            f.push(Family::V4);
        }
        if !self.vips6.is_empty() {
            f.push(Family::V6);
        }
        f
    }
}

/// A VRRP instance state as the daemon itself reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum State {
    Init,
    Backup,
    Master,
    /// keepalived only (interface down, tracking failed).
    Fault,
    /// Anything else the daemon printed.
    Other(String),
}

/// One peer's own view: a state per configured family (None: that family is not configured).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct States {
    pub ipv4: Option<State>,
    pub ipv6: Option<State>,
}

impl States {
    pub fn get(&self, f: Family) -> Option<&State> {
        match f {
            Family::V4 => self.ipv4.as_ref(),
            Family::V6 => self.ipv6.as_ref(),
        }
    }
}

/// The peer implementations the harness can run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Keepalived,
    Frr,
    Netvrrp,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Keepalived, Kind::Frr, Kind::Netvrrp];
    /// The third-party implementations netvrrp is tested against.
    pub const PEERS: [Kind; 2] = [Kind::Keepalived, Kind::Frr];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Keepalived => "keepalived",
            Kind::Frr => "frr",
            Kind::Netvrrp => "netvrrp",
        }
    }

    /// Starts this kind of router on router `k` of `lab`.
    pub fn start(self, lab: &Lab, k: usize, conf: Conf) -> Box<dyn Peer + '_> {
        match self {
            Kind::Keepalived => Box::new(Keepalived::start(lab, k, conf)),
            Kind::Frr => Box::new(Frr::start(lab, k, conf)),
            Kind::Netvrrp => Box::new(Netvrrp::start(lab, k, conf)),
        }
    }
}

/// What tests can do with any running router, whatever its implementation.
pub trait Peer {
    fn kind(&self) -> Kind;
    /// Router index in the lab.
    fn router(&self) -> usize;
    fn conf(&self) -> &Conf;
    /// The daemon's own view of its instances; Err when it is not running or not answering.
    fn state(&self) -> Result<States, String>;
    /// Are its processes running?
    fn running(&self) -> bool;
    /// SIGKILL (no priority-0 advert), then neutralise what the dead daemon left in the kernel
    /// (VIPs, macvlans) so a later restart starts clean, as `lab.sh revive` does.
    fn kill9(&mut self);
    /// Orderly stop (SIGTERM: priority-0 advert, VIPs removed); escalates to SIGKILL.
    fn term(&mut self);
    /// Stop if running, clean up, start again with the same configuration.
    fn restart(&mut self);
    /// The source MAC its adverts of `family` carry (eth0's MAC, or the virtual MAC).
    fn advert_source_mac(&self, family: Family) -> Mac;
}
