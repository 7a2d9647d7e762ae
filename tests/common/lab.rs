//! The namespaced lab every network test builds on: a switch namespace whose bridge `br0`
//! joins router namespaces `r1`, `r2`, … and optionally a host `h`, each by a veth whose
//! `eth0` end is in the member and whose `port-…` end is a bridge port:
//!
//! ```text
//!   sw:  br0 ── port-r1, port-r2, …, port-h     (STP off, forward delay 0, snooping off)
//!   rK:  eth0                                    h: eth0
//! ```
//!
//! Namespaces are [`Netns`] values named `<prefix>-sw`, `<prefix>-rK`, `<prefix>-h` (plus
//! [`Netns::new`]'s unique suffix), so dropping the lab deletes them, routers and host first
//! (their runtimes die before the switch goes away). What a test file adds (addresses,
//! configs, extra bridges and links) it does through [`Lab::plug`] and the members' own
//! [`Netns`] methods. Also here: [`Tcpdump`] (a capture on a lab interface) and the
//! `show vrrp --json` readers the runtime tests share.

use super::{Netns, wait_until};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

/// A switch with routers and an optional host. See the module docs. Test files add their
/// own constructors and helpers in `impl Lab` blocks of their own (the type is part of
/// each test crate).
pub struct Lab {
    // Members first: they are dropped before the switch.
    pub routers: Vec<Netns>,
    pub host: Option<Netns>,
    pub sw: Netns,
    /// The number that keeps this lab's addresses apart from other labs' (by convention
    /// 10.N.0.0/24 and 2001:db8:N::/64).
    pub net: u8,
    prefix: String,
}

impl Lab {
    /// The switch `<prefix>-sw` with its bridge `br0`; no members yet.
    pub fn switch(prefix: &str, net: u8) -> Lab {
        let sw = Netns::new(&format!("{prefix}-sw"));
        let lab = Lab {
            routers: Vec::new(),
            host: None,
            sw,
            net,
            prefix: prefix.to_string(),
        };
        lab.add_bridge("br0");
        lab
    }

    /// A bridge on the switch, up. STP off and forward delay 0 so a port forwards as soon as
    /// it is up; multicast snooping off so every port sees every VRRP advert.
    pub fn add_bridge(&self, name: &str) {
        self.sw.ip_ok(&[
            "link",
            "add",
            name,
            "type",
            "bridge",
            "stp_state",
            "0",
            "forward_delay",
            "0",
            "mcast_snooping",
            "0",
        ]);
        self.sw.ip_ok(&["link", "set", name, "up"]);
    }

    /// A namespace `<prefix>-<role>` with IPv6 DAD off for every interface created in it
    /// from now on (addresses usable at once), not yet connected.
    pub fn namespace(&self, role: &str) -> Netns {
        let ns = Netns::new(&format!("{}-{role}", self.prefix));
        ns.ok(&[
            "sysctl",
            "-qw",
            "net.ipv6.conf.all.accept_dad=0",
            "net.ipv6.conf.default.accept_dad=0",
        ]);
        ns
    }

    /// A veth `iface` in `ns` whose peer `port` is a port of the switch's `bridge`. The port
    /// joins the bridge and comes up first, so nothing `iface` sends is lost; `mac` is set
    /// before `iface` comes up, so its link-local derives from it.
    pub fn plug(&self, ns: &Netns, iface: &str, bridge: &str, port: &str, mac: Option<&str>) {
        self.sw.ip_ok(&[
            "link",
            "add",
            port,
            "type",
            "veth",
            "peer",
            "name",
            iface,
            "netns",
            ns.name(),
        ]);
        self.sw.ip_ok(&["link", "set", port, "master", bridge]);
        self.sw.ip_ok(&["link", "set", port, "up"]);
        if let Some(mac) = mac {
            ns.ip_ok(&["link", "set", iface, "address", mac]);
        }
        ns.ok(&[
            "sysctl",
            "-qw",
            &format!("net.ipv6.conf.{iface}.accept_dad=0"),
        ]);
        ns.ip_ok(&["link", "set", iface, "up"]);
    }

    /// Router K+1 (K routers so far): namespace `rK`, prepared by `setup` (sysctls that must
    /// be in place before its interfaces exist), then `eth0` on `br0` through `port-rK`.
    pub fn add_router(&mut self, mac: Option<&str>, setup: impl FnOnce(&Netns)) -> &Netns {
        let k = self.routers.len() + 1;
        let ns = self.namespace(&format!("r{k}"));
        setup(&ns);
        self.plug(&ns, "eth0", "br0", &Lab::router_port(k), mac);
        self.routers.push(ns);
        &self.routers[k - 1]
    }

    /// The host: namespace `h`, prepared by `setup`, `eth0` on `br0` through `port-h`.
    pub fn add_host(&mut self, mac: Option<&str>, setup: impl FnOnce(&Netns)) -> &Netns {
        let ns = self.namespace("h");
        setup(&ns);
        self.plug(&ns, "eth0", "br0", "port-h", mac);
        self.host.insert(ns)
    }

    /// Router K's namespace (K from 1).
    pub fn r(&self, k: usize) -> &Netns {
        assert!(
            (1..=self.routers.len()).contains(&k),
            "router r{k} does not exist (the lab has {})",
            self.routers.len()
        );
        &self.routers[k - 1]
    }

    pub fn host(&self) -> &Netns {
        self.host.as_ref().expect("this lab has no host")
    }

    /// The switch port of router K.
    pub fn router_port(k: usize) -> String {
        format!("port-r{k}")
    }

    /// Router K's switch port up or down: down, its eth0 loses carrier and nothing crosses
    /// ("the box died"); up, it forwards at once (STP off, delay 0).
    pub fn set_router_port(&self, k: usize, up: bool) {
        self.sw.ip_ok(&[
            "link",
            "set",
            &Lab::router_port(k),
            if up { "up" } else { "down" },
        ]);
    }

    /// `netvrrp -v apply -f FILE` on router K (devices, then a runtime detached into the
    /// namespace), which must succeed.
    pub fn apply_file(&self, k: usize, file: &Path) {
        let out = self
            .r(k)
            .netvrrp(&["-v", "apply", "-f", &file.to_string_lossy()]);
        assert!(out.status.success(), "apply on r{k}: {}", super::text(&out));
    }

    /// Print the last `lines` lines of `file` in every router's run directory (on a failure:
    /// the run directories go away with the namespaces).
    pub fn print_router_logs(&self, file: &str, lines: usize) {
        for (i, r) in self.routers.iter().enumerate() {
            if let Some(tail) = log_tail(&r.run_dir().join(file), lines) {
                eprintln!("--- r{} {file} (tail)\n{tail}", i + 1);
            }
        }
    }
}

impl Drop for Lab {
    /// On failure, show what the runtimes logged in their run directories (which go away
    /// with the namespaces right after).
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.print_router_logs("netvrrp.log", 40);
        }
    }
}

/// The last `lines` lines of a log file, ANSI colours removed; None when it cannot be read.
pub fn log_tail(path: &Path, lines: usize) -> Option<String> {
    let text = strip_ansi(&std::fs::read_to_string(path).ok()?);
    let all: Vec<&str> = text.lines().collect();
    Some(all[all.len().saturating_sub(lines)..].join("\n"))
}

/// `text` without ANSI colour sequences (the runtime's log file has them).
pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// tcpdump writing what one interface of a namespace sees to a pcap file, packet-buffered
/// (`-U --immediate-mode`, so a read while it runs sees every frame so far). Killed on drop.
pub struct Tcpdump {
    child: Mutex<Child>,
    path: PathBuf,
}

impl Tcpdump {
    /// [`Tcpdump::start_to`] a file of its own in `ns`'s run directory.
    pub fn start(ns: &Netns, iface: &str, options: &[&str], filter: Option<&str>) -> Tcpdump {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let file = ns.dir().join(format!("{iface}-{n}.pcap"));
        Tcpdump::start_to(ns, iface, file, options, filter)
    }

    /// Start `tcpdump -i IFACE … OPTIONS -w FILE [FILTER]` in `ns` and return once it is
    /// listening; its stderr goes to FILE with the extension `log`. `-Z root`: tcpdump
    /// would otherwise drop to a user that cannot write the file.
    pub fn start_to(
        ns: &Netns,
        iface: &str,
        file: PathBuf,
        options: &[&str],
        filter: Option<&str>,
    ) -> Tcpdump {
        let log = file.with_extension("log");
        let stderr = std::fs::File::create(&log).expect("tcpdump log file");
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", ns.name(), "tcpdump", "-i", iface, "-nn"])
            .args(["-U", "--immediate-mode", "-Z", "root"])
            .args(options)
            .arg("-w")
            .arg(&file)
            .args(filter)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr);
        let child = cmd.spawn().expect("run tcpdump");
        let dump = Tcpdump {
            child: Mutex::new(child),
            path: file,
        };
        wait_until(
            Duration::from_secs(10),
            || format!("tcpdump on {iface}: {:?}", std::fs::read_to_string(&log)),
            || {
                std::fs::read_to_string(&log)
                    .ok()
                    .filter(|t| t.contains("listening on"))
            },
        );
        dump
    }

    /// The pcap file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The frames written so far (see [`read_pcap`]).
    pub fn frames(&self) -> Vec<Frame> {
        read_pcap(&std::fs::read(&self.path).unwrap_or_default())
    }

    /// SIGINT, so tcpdump flushes and exits; killed if it has not after 3 s.
    pub fn stop(&self) {
        let mut child = self.child.lock().unwrap_or_else(|e| e.into_inner());
        if let Ok(pid) = i32::try_from(child.id()) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGINT,
            );
        }
        let end = std::time::Instant::now() + Duration::from_secs(3);
        while std::time::Instant::now() < end {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Tcpdump {
    fn drop(&mut self) {
        let child = self.child.get_mut().unwrap_or_else(|e| e.into_inner());
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// One Ethernet frame of a capture, as the tests decode it themselves (independently of
/// netvrrp's codec).
#[derive(Debug, Clone)]
pub struct Frame {
    /// Capture time, Unix seconds.
    pub t: f64,
    pub dst: [u8; 6],
    pub src: [u8; 6],
    pub ethertype: u16,
    pub payload: Vec<u8>,
}

/// Ethernet frames of a pcap file written on this host (little-endian, micro- or
/// nanosecond timestamps); a record cut short at the end (the capture is still running) is
/// left out.
pub fn read_pcap(data: &[u8]) -> Vec<Frame> {
    if data.len() < 24 {
        return Vec::new();
    }
    let le32 = |b: &[u8]| u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    let frac = match le32(&data[0..4]) {
        0xa1b2_c3d4 => 1e-6,
        0xa1b2_3c4d => 1e-9,
        m => panic!("not a little-endian pcap file (magic {m:#x})"),
    };
    assert_eq!(le32(&data[20..24]), 1, "link type is not Ethernet");
    let mut out = Vec::new();
    let mut off = 24;
    while off + 16 <= data.len() {
        let h = &data[off..off + 16];
        let len = le32(&h[8..12]) as usize;
        if off + 16 + len > data.len() {
            break;
        }
        let p = &data[off + 16..off + 16 + len];
        off += 16 + len;
        if p.len() < 14 {
            continue;
        }
        out.push(Frame {
            t: f64::from(le32(&h[0..4])) + f64::from(le32(&h[4..8])) * frac,
            dst: p[0..6].try_into().unwrap(),
            src: p[6..12].try_into().unwrap(),
            ethertype: u16::from_be_bytes([p[12], p[13]]),
            payload: p[14..].to_vec(),
        });
    }
    out
}

/// Every instance row of `netvrrp show vrrp --json` in `ns` (None: no runtime answered).
pub fn try_show(ns: &Netns) -> Option<Vec<Value>> {
    let out = ns.netvrrp(&["show", "vrrp", "--json"]);
    if !out.status.success() {
        return None;
    }
    let doc = serde_json::from_slice::<Value>(&out.stdout).ok()?;
    assert_eq!(doc["schema"], 1, "show vrrp --json: {doc}");
    doc["routers"].as_array().cloned()
}

/// The row of (`vrid`, `family`).
pub fn try_inst(ns: &Netns, vrid: u8, family: &str) -> Option<Value> {
    try_show(ns)?
        .into_iter()
        .find(|r| r["vrid"] == u64::from(vrid) && r["family"] == family)
}

/// The row of (`vrid`, `family`), which must exist.
pub fn inst(ns: &Netns, vrid: u8, family: &str) -> Value {
    try_inst(ns, vrid, family).unwrap_or_else(|| {
        panic!(
            "no {family} VRID {vrid} in {}: {:?}",
            ns.name(),
            try_show(ns)
        )
    })
}

/// The state of (`vrid`, `family`), if the runtime answers and runs it.
pub fn try_state(ns: &Netns, vrid: u8, family: &str) -> Option<String> {
    try_inst(ns, vrid, family)?["state"]
        .as_str()
        .map(str::to_string)
}

/// One counter of an instance row.
pub fn counter(v: &Value, name: &str) -> u64 {
    v["counters"][name]
        .as_u64()
        .unwrap_or_else(|| panic!("no counter {name} in {v}"))
}
