//! netvrrp itself as a lab router, driven through its CLI exactly as an operator would.
//!
//! [`Netvrrp::start`] renders the [`Conf`] as netvrrp TOML into the router's `netvrrp/`
//! directory and runs `netvrrp --netns NS --run-dir DIR apply -f FILE`: apply creates the
//! macvlans (`vrrp4-<ifindex>-<vrid>` / `vrrp6-…`, virtual MAC, protodown on) and spawns the
//! runtime detached under its supervisor (their own session, log in `DIR/netvrrp.log`, pid in
//! `DIR/netvrrp.pid`).
//! The runtime is not one of the lab's process groups, but it lives in the router's
//! namespace, so the lab's teardown still kills it.
//!
//! - `state()`: `netvrrp show vrrp --json` (the runtime's own view); [`Netvrrp::instance`]
//!   gives the whole row (counters, protodown, primary address, timers).
//! - `kill9()`: SIGKILL to the pid in `DIR/netvrrp.pid` (its supervisor first, so nothing
//!   restarts it). What a killed runtime leaves in the
//!   kernel: its macvlans, with the VIPs, and protodown as it last set it (off on a Master),
//!   plus its nftables table `netvrrp` in the state of the moment. Like [`super::Frr::kill9`],
//!   the harness then puts the macvlans in protodown so the dead router stops sending; the
//!   stale table is left for the next runtime to replace (that is part of what a restart
//!   after a crash must cope with).
//! - `term()`: `netvrrp stop` (priority 0 from every Master, protodown on, runtime exits).
//! - `restart()`: stop if running, then `apply` again (devices kept, runtime spawned).
//!
//! Options peers do not have go in [`NetvrrpOptions`] ([`Netvrrp::start_with`]).

use super::{Conf, Family, Kind, Lab, Mac, Peer, ROOT_NS, State, States, text, wait_for};
use std::fs;
use std::path::PathBuf;
use std::process::Output;
use std::time::Duration;

/// netvrrp settings beyond the common [`Conf`].
#[derive(Clone, Debug, PartialEq)]
pub struct NetvrrpOptions {
    /// `checksum-with-ipv4-pseudoheader` (VRRPv3/IPv4 send form; default true like the peers).
    pub checksum_with_ipv4_pseudoheader: bool,
}

impl Default for NetvrrpOptions {
    fn default() -> Self {
        NetvrrpOptions {
            checksum_with_ipv4_pseudoheader: true,
        }
    }
}

/// A netvrrp router (configurator + runtime) on one lab router.
pub struct Netvrrp<'a> {
    lab: &'a Lab,
    k: usize,
    conf: Conf,
    opts: NetvrrpOptions,
    dir: PathBuf,
}

impl<'a> Netvrrp<'a> {
    /// Writes the configuration and applies it on router `k` (devices + runtime); returns
    /// once the runtime answers on its control socket.
    pub fn start(lab: &'a Lab, k: usize, conf: Conf) -> Netvrrp<'a> {
        Self::start_with(lab, k, conf, NetvrrpOptions::default())
    }

    pub fn start_with(lab: &'a Lab, k: usize, conf: Conf, opts: NetvrrpOptions) -> Netvrrp<'a> {
        conf.check();
        let dir = lab.router_dir(k, "netvrrp");
        let nv = Netvrrp {
            lab,
            k,
            conf,
            opts,
            dir,
        };
        nv.write_config();
        nv.apply();
        nv
    }

    /// The configuration file.
    pub fn file(&self) -> PathBuf {
        self.dir.join("netvrrp.toml")
    }

    /// The run directory (socket, pid, log, owned.json).
    pub fn run_dir(&self) -> PathBuf {
        self.dir.join("run")
    }

    /// The runtime's log (all restarts appended).
    pub fn log(&self) -> PathBuf {
        self.run_dir().join("netvrrp.log")
    }

    fn write_config(&self) {
        fs::write(self.file(), render(&self.conf, &self.opts)).unwrap();
    }

    /// Changes the configuration and applies it to the running runtime (a reload: changed
    /// instances restart, with a priority-0 advert from a Master).
    pub fn reconfigure(&mut self, conf: Conf, opts: NetvrrpOptions) {
        conf.check();
        self.conf = conf;
        self.opts = opts;
        self.write_config();
        self.apply();
    }

    /// `netvrrp --netns NS --run-dir DIR ARGS...`, whatever the outcome.
    pub fn cli(&self, args: &[&str]) -> Output {
        let run = self.run_dir().to_string_lossy().into_owned();
        let mut all = vec![
            env!("CARGO_BIN_EXE_netvrrp"),
            "--netns",
            self.lab.r(self.k),
            "--run-dir",
            &run,
        ];
        all.extend_from_slice(args);
        self.lab.exec(ROOT_NS, &all)
    }

    fn apply(&self) {
        let file = self.file().to_string_lossy().into_owned();
        let out = self.cli(&["apply", "-f", &file]);
        assert!(
            out.status.success(),
            "netvrrp apply on r{} failed: {}\n{}",
            self.k,
            text(&out),
            fs::read_to_string(self.log()).unwrap_or_default()
        );
    }

    /// The `routers` of `show vrrp --json`: one object per (interface, vrid, family).
    pub fn json(&self) -> Result<serde_json::Value, String> {
        let out = self.cli(&["show", "vrrp", "--json"]);
        if !out.status.success() {
            return Err(text(&out));
        }
        let mut doc: serde_json::Value =
            serde_json::from_slice(&out.stdout).map_err(|e| format!("show vrrp --json: {e}"))?;
        Ok(doc["routers"].take())
    }

    /// The `show vrrp --json` row of this router's instance of `family`.
    pub fn instance(&self, family: Family) -> Result<serde_json::Value, String> {
        let fam = match family {
            Family::V4 => "ipv4",
            Family::V6 => "ipv6",
        };
        let json = self.json()?;
        json.as_array()
            .into_iter()
            .flatten()
            .find(|r| r["vrid"] == self.conf.vrid && r["family"] == fam)
            .cloned()
            .ok_or_else(|| format!("no {fam} instance of vrid {} in {json}", self.conf.vrid))
    }

    /// One counter of the `family` instance (0 when it cannot be read).
    pub fn counter(&self, family: Family, name: &str) -> u64 {
        self.instance(family)
            .ok()
            .and_then(|r| r["counters"][name].as_u64())
            .unwrap_or(0)
    }

    /// The runtime's pid from its pid file.
    pub fn pid(&self) -> Option<i32> {
        fs::read_to_string(self.run_dir().join("netvrrp.pid"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// The vrrp macvlan this router uses for `family` (`vrrpF-<eth0 ifindex>-<vrid>`).
    pub fn device(&self, family: Family) -> String {
        let idx = self.lab.ifindex(self.lab.r(self.k), "eth0");
        let f = if family == Family::V4 { 4 } else { 6 };
        format!("vrrp{f}-{idx}-{}", self.conf.vrid)
    }

    /// The kernel's protodown flag on the `family` macvlan (None: no such device).
    pub fn kernel_protodown(&self, family: Family) -> Option<bool> {
        let out = self.lab.ip_try(
            self.lab.r(self.k),
            &["-j", "-d", "link", "show", "dev", &self.device(family)],
        );
        if !out.status.success() {
            return None;
        }
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        Some(v[0]["proto_down"].as_bool().unwrap_or(false))
    }

    fn protodown_devices(&self) {
        let ns = self.lab.r(self.k);
        for fam in self.conf.families() {
            let _ = self
                .lab
                .ip_try(ns, &["link", "set", &self.device(fam), "protodown", "on"]);
        }
    }

    fn stop_runtime(&self) {
        let out = self.cli(&["stop"]);
        let gone = wait_for(Duration::from_secs(5), || {
            (!self.pid().is_some_and(alive)).then_some(())
        });
        if !out.status.success() || gone.is_none() {
            eprintln!(
                "peers: netvrrp stop on r{}: {}; runtime still alive: {}",
                self.k,
                text(&out),
                gone.is_none()
            );
            if let Some(pid) = self.pid().filter(|&p| alive(p)) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            self.protodown_devices();
        }
    }
}

/// Alive and not a zombie (the detached runtime's parent is not us, so nobody may reap it).
fn alive(pid: i32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rsplit(')')
            .next()
            .and_then(|r| r.split_whitespace().next())
            != Some("Z")
    })
}

/// netvrrp.toml for `conf`.
pub fn render(conf: &Conf, opts: &NetvrrpOptions) -> String {
    let list = |v: Vec<String>| {
        v.iter()
            .map(|a| format!("\"{a}\""))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut s = String::from("# written by the netvrrp interop harness\n[defaults]\n");
    s += &format!("version = {}\n", conf.version);
    s += &format!("advertisement-interval = {}\n", conf.advert_ms);
    s += &format!("preempt = {}\n", !conf.nopreempt);
    s += &format!(
        "checksum-with-ipv4-pseudoheader = {}\n",
        opts.checksum_with_ipv4_pseudoheader
    );
    s += "\n[[vrrp]]\ninterface = \"eth0\"\n";
    s += &format!("vrid = {}\npriority = {}\n", conf.vrid, conf.priority);
    if !conf.vips4.is_empty() {
        s += &format!(
            "ipv4 = [{}]\n",
            list(conf.vips4.iter().map(|v| v.to_string()).collect())
        );
    }
    if !conf.vips6.is_empty() {
        s += &format!(
            "ipv6 = [{}]\n",
            list(conf.vips6.iter().map(|v| v.to_string()).collect())
        );
    }
    if conf.router_advertisements {
        s += "router-advertisements = { max-interval-ms = 4000, lifetime-s = 60 }\n";
    }
    if !conf.unicast_peers.is_empty() {
        s += &format!(
            "unicast-peers = [{}]\n",
            list(conf.unicast_peers.iter().map(|a| a.to_string()).collect())
        );
    }
    s
}

fn parse_state(s: &str) -> State {
    match s {
        "initialize" => State::Init,
        "backup" => State::Backup,
        "master" => State::Master,
        other => State::Other(other.to_string()),
    }
}

impl Peer for Netvrrp<'_> {
    fn kind(&self) -> Kind {
        Kind::Netvrrp
    }
    fn router(&self) -> usize {
        self.k
    }
    fn conf(&self) -> &Conf {
        &self.conf
    }

    fn state(&self) -> Result<States, String> {
        let json = self.json()?;
        let get = |fam: &str| -> Result<State, String> {
            json.as_array()
                .into_iter()
                .flatten()
                .find(|r| r["vrid"] == self.conf.vrid && r["family"] == fam)
                .and_then(|r| r["state"].as_str())
                .map(parse_state)
                .ok_or_else(|| format!("no {fam} instance in {json}"))
        };
        Ok(States {
            ipv4: if self.conf.vips4.is_empty() {
                None
            } else {
                Some(get("ipv4")?)
            },
            ipv6: if self.conf.vips6.is_empty() {
                None
            } else {
                Some(get("ipv6")?)
            },
        })
    }

    fn running(&self) -> bool {
        self.pid().is_some_and(alive)
    }

    fn kill9(&mut self) {
        if let Some(pid) = self.pid().filter(|&p| alive(p)) {
            // Its supervisor first: the box dies, nothing restarts the runtime.
            crate::common::kill9_runtime(pid as u32);
            let dead = wait_for(Duration::from_secs(3), || (!alive(pid)).then_some(()));
            assert!(dead.is_some(), "netvrrp runtime {pid} survived SIGKILL");
        }
        self.protodown_devices();
    }

    fn term(&mut self) {
        if self.running() {
            self.stop_runtime();
        }
    }

    fn restart(&mut self) {
        self.term();
        self.apply();
    }

    fn advert_source_mac(&self, family: Family) -> Mac {
        Mac::vrrp(family, self.conf.vrid)
    }
}
