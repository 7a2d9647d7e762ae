//! keepalived as a lab router.
//!
//! Runs `keepalived -n -l -D -G -P` (foreground, log to the console = our log file, no syslog,
//! VRRP only) inside the router namespace with `-f/-p/-r/-c/-b` and `TMPDIR` in the router's
//! own directory, because that is where keepalived writes its JSON dump when it gets the
//! JSON signal (`keepalived --signum=JSON`). One `vrrp_instance` per family, named `v4` and
//! `v6` so the dump can be mapped back. Start state BACKUP (the RFC's Initialize → Backup).
//!
//! Quirks met (2.2.7, Debian 12):
//! - A SIGKILLed keepalived leaves its VIPs on eth0 (and its vmac devices with `use_vmac`):
//!   [`Keepalived::kill9`] removes them.
//! - `advert_int` takes fractions for VRRPv3 (0.1 → 10 cs on the wire); VRRPv2 whole seconds.
//! - Default mode sends adverts from eth0's MAC, not the virtual MAC; with `use_vmac` the
//!   adverts and VIPs move to a macvlan with the virtual MAC.
//! - Unicast mode (`unicast_peer`) sends IPv6 adverts with hop limit 64 (IPv4: TTL 255) and
//!   accepts any TTL unless `min_ttl` is given. netvrrp (like the RFC) drops adverts whose
//!   hop limit is not 255 (counted as `ttl_errors`), so the harness sets `unicast_ttl 255`;
//!   a real deployment needs the same.
//! - It logs "the first IPv6 VIP address should be link local" for a global-only IPv6 VIP
//!   list (RFC 5798 §5.2.9); harmless.
//! - With `use_vmac`, a Master that is being preempted answers the new master's gratuitous
//!   ARP *request* (sender = target = VIP) from its vmac interface, with the virtual MAC as
//!   source, in the instant before it drops the VIP (keepalived sets `accept_local=1` on its
//!   vmac interface, so the kernel answers a request whose sender address is its own; seen
//!   entering the bridge from keepalived's port). The switch then learns the virtual MAC
//!   on the old master's port, and the VIP's traffic goes there (and is lost) until the new
//!   master's next frame, i.e. up to one advert interval (seen by the interop matrix, case
//!   7, at 1 s VRRPv2 adverts: ~1 s without replies after netvrrp preempted).

use super::{Conf, Family, Kind, Lab, Mac, Peer, Proc, State, States, wait_for};
use std::fs;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

/// The keepalived binary (`NETVRRP_KEEPALIVED` or `keepalived` on PATH).
pub fn binary() -> String {
    std::env::var("NETVRRP_KEEPALIVED").unwrap_or_else(|_| "keepalived".into())
}

/// The signal number keepalived uses for its JSON dump (build-dependent, so asked).
fn json_signal() -> i32 {
    static SIG: OnceLock<i32> = OnceLock::new();
    *SIG.get_or_init(|| {
        let out = Command::new(binary())
            .arg("--signum=JSON")
            .output()
            .expect("keepalived --signum");
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .unwrap_or_else(|_| {
                panic!("keepalived has no JSON dump signal (built without --enable-json?): {out:?}")
            })
    })
}

/// A keepalived router on one lab router.
pub struct Keepalived<'a> {
    lab: &'a Lab,
    k: usize,
    conf: Conf,
    dir: PathBuf,
    proc: Option<Proc>,
}

impl<'a> Keepalived<'a> {
    /// Writes the configuration and starts keepalived on router `k`; returns once the VRRP
    /// child is running (its pid file is written).
    pub fn start(lab: &'a Lab, k: usize, conf: Conf) -> Keepalived<'a> {
        conf.check();
        let dir = lab.router_dir(k, "keepalived");
        fs::write(dir.join("keepalived.conf"), render(lab, k, &conf)).unwrap();
        let mut ka = Keepalived {
            lab,
            k,
            conf,
            dir,
            proc: None,
        };
        ka.launch();
        ka
    }

    fn launch(&mut self) {
        let d = |f: &str| self.dir.join(f).to_string_lossy().into_owned();
        for f in [
            "keepalived.pid",
            "vrrp.pid",
            "checkers.pid",
            "bfd.pid",
            "keepalived.json",
        ] {
            let _ = fs::remove_file(self.dir.join(f));
        }
        let bin = binary();
        let (conf, pid, vrrp, chk, bfd) = (
            d("keepalived.conf"),
            d("keepalived.pid"),
            d("vrrp.pid"),
            d("checkers.pid"),
            d("bfd.pid"),
        );
        let args = [
            bin.as_str(),
            "-n",
            "-l",
            "-D",
            "-G",
            "-P",
            "-f",
            &conf,
            "-p",
            &pid,
            "-r",
            &vrrp,
            "-c",
            &chk,
            "-b",
            &bfd,
        ];
        let tmpdir = self.dir.to_string_lossy().into_owned();
        let p = self.lab.spawn_logged(
            self.lab.r(self.k),
            &args,
            &[("TMPDIR", &tmpdir)],
            &self.dir.join("keepalived.log"),
        );
        let started = wait_for(Duration::from_secs(5), || {
            let up =
                fs::read_to_string(self.dir.join("vrrp.pid")).is_ok_and(|s| !s.trim().is_empty());
            (up || !p.alive()).then_some(up)
        });
        if started != Some(true) {
            p.kill9();
            let log = fs::read_to_string(p.log()).unwrap_or_default();
            panic!("keepalived on r{} did not start:\n{log}", self.k);
        }
        self.proc = Some(p);
    }

    /// The raw JSON dump (an array with one `{data, stats}` object per instance).
    pub fn json(&self) -> Result<serde_json::Value, String> {
        let p = self
            .proc
            .as_ref()
            .filter(|p| p.alive())
            .ok_or("keepalived is not running")?;
        let file = self.dir.join("keepalived.json");
        // Removed first so that whatever appears is this dump, not the previous one.
        let _ = fs::remove_file(&file);
        // libc, not nix: the JSON signal is a real-time signal, which nix's Signal cannot hold.
        // SAFETY: kill(2) with a pid we spawned and a signal number keepalived told us.
        if unsafe { libc::kill(p.pid(), json_signal()) } != 0 {
            return Err(format!(
                "signal keepalived: {}",
                std::io::Error::last_os_error()
            ));
        }
        // The VRRP child writes the file; it may be seen half-written, so parse until whole.
        wait_for(Duration::from_secs(3), || {
            serde_json::from_slice::<serde_json::Value>(&fs::read(&file).ok()?).ok()
        })
        .ok_or_else(|| "keepalived wrote no JSON dump within 3 s".to_string())
    }

    /// What the dump says an instance's state is.
    fn instance_state(json: &serde_json::Value, name: &str) -> Option<State> {
        let inst = json
            .as_array()?
            .iter()
            .find(|i| i["data"]["iname"] == name)?;
        // keepalived's vrrp_t state numbers (vrrp.h): 0 INIT, 1 BACKUP, 2 MASTER, 3 FAULT.
        Some(match inst["data"]["state"].as_i64()? {
            0 => State::Init,
            1 => State::Backup,
            2 => State::Master,
            3 => State::Fault,
            n => State::Other(n.to_string()),
        })
    }

    /// Removes what a killed keepalived leaves: the VIPs on eth0, or its vmac devices.
    fn clean_leftovers(&self) {
        let ns = self.lab.r(self.k);
        if self.conf.use_vmac {
            for dev in vmac_names(&self.conf) {
                let _ = self.lab.ip_try(ns, &["link", "del", &dev]);
            }
        } else {
            for v in &self.conf.vips4 {
                let _ = self
                    .lab
                    .ip_try(ns, &["addr", "del", &v.to_string(), "dev", "eth0"]);
            }
            for v in &self.conf.vips6 {
                let _ = self
                    .lab
                    .ip_try(ns, &["addr", "del", &v.to_string(), "dev", "eth0"]);
            }
        }
    }

    /// The log file (console output of keepalived, all restarts appended).
    pub fn log(&self) -> PathBuf {
        self.dir.join("keepalived.log")
    }
}

/// keepalived's vmac device names: per family, as two instances cannot share one device.
fn vmac_names(conf: &Conf) -> Vec<String> {
    conf.families()
        .into_iter()
        .map(|f| match f {
            Family::V4 => format!("vrrp4.{}", conf.vrid),
            Family::V6 => format!("vrrp6.{}", conf.vrid),
        })
        .collect()
}

/// keepalived.conf for `conf`.
fn render(lab: &Lab, k: usize, conf: &Conf) -> String {
    let mut s = format!(
        "# written by the netvrrp interop harness for {ns}\nglobal_defs {{\n  router_id {ns}\n}}\n",
        ns = lab.r(k)
    );
    // advert_int in seconds; VRRPv3 accepts fractions down to 0.01.
    let adv = format!("{}", f64::from(conf.advert_ms) / 1000.0);
    for fam in conf.families() {
        let (name, vips, vmac): (&str, Vec<String>, String) = match fam {
            Family::V4 => (
                "v4",
                conf.vips4.iter().map(|v| v.to_string()).collect(),
                format!("vrrp4.{}", conf.vrid),
            ),
            Family::V6 => (
                "v6",
                conf.vips6.iter().map(|v| v.to_string()).collect(),
                format!("vrrp6.{}", conf.vrid),
            ),
        };
        s += &format!("vrrp_instance {name} {{\n  state BACKUP\n  interface eth0\n");
        s += &format!(
            "  virtual_router_id {}\n  priority {}\n",
            conf.vrid, conf.priority
        );
        s += &format!("  advert_int {adv}\n  version {}\n", conf.version);
        if conf.nopreempt {
            s += "  nopreempt\n";
        }
        if conf.use_vmac {
            s += &format!("  use_vmac {vmac}\n");
        }
        let peers: Vec<String> = conf
            .unicast_peers
            .iter()
            .filter(|a| a.is_ipv4() == (fam == Family::V4))
            .map(|a| format!("    {a}\n"))
            .collect();
        if !peers.is_empty() {
            // The source is eth0's primary address / link-local, like netvrrp's. Unicast
            // IPv6 adverts leave with hop limit 64 unless `unicast_ttl` says otherwise.
            s += &format!(
                "  unicast_ttl 255\n  unicast_peer {{\n{}  }}\n",
                peers.concat()
            );
        }
        // No `dev`: the VIPs go on the instance's interface (eth0, or the vmac device).
        s += "  virtual_ipaddress {\n";
        for v in vips {
            s += &format!("    {v}\n");
        }
        s += "  }\n}\n";
    }
    s
}

impl Peer for Keepalived<'_> {
    fn kind(&self) -> Kind {
        Kind::Keepalived
    }
    fn router(&self) -> usize {
        self.k
    }
    fn conf(&self) -> &Conf {
        &self.conf
    }

    fn state(&self) -> Result<States, String> {
        let json = self.json()?;
        let get = |name: &str| {
            Self::instance_state(&json, name)
                .ok_or_else(|| format!("instance {name} not in the JSON dump: {json}"))
        };
        Ok(States {
            ipv4: if self.conf.vips4.is_empty() {
                None
            } else {
                Some(get("v4")?)
            },
            ipv6: if self.conf.vips6.is_empty() {
                None
            } else {
                Some(get("v6")?)
            },
        })
    }

    fn running(&self) -> bool {
        self.proc.as_ref().is_some_and(|p| p.alive())
    }

    fn kill9(&mut self) {
        if let Some(p) = self.proc.take() {
            p.kill9();
        }
        self.clean_leftovers();
    }

    fn term(&mut self) {
        if let Some(p) = self.proc.take() {
            // keepalived's parent forwards SIGTERM to its VRRP child, which sends priority-0
            // adverts and removes the VIPs.
            if !p.term(Duration::from_secs(5)) {
                eprintln!(
                    "peers: keepalived on r{} ignored SIGTERM for 5 s; killed",
                    self.k
                );
                self.clean_leftovers();
            }
        }
    }

    fn restart(&mut self) {
        self.term();
        self.clean_leftovers();
        self.launch();
    }

    fn advert_source_mac(&self, family: Family) -> Mac {
        if self.conf.use_vmac {
            Mac::vrrp(family, self.conf.vrid)
        } else {
            self.lab.mac(self.k)
        }
    }
}
