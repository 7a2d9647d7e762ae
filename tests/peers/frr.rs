//! FRR (zebra + vrrpd) as a lab router.
//!
//! vrrpd does not create devices: it needs, per family, a macvlan named
//! `vrrp4-<parent ifindex>-<vrid>` / `vrrp6-…` in bridge mode with the virtual MAC and the
//! VIPs, and toggles its protodown flag (FRR's VRRP documentation). The harness makes them
//! with iproute2: the MAC in the `ip link add` itself (a macvlan whose MAC changes after
//! creation can be missed by the daemons, FRR PR #4777), then `addrgenmode random` in a
//! second request (inline `addrgenmode` in `ip link add` fails with EAFNOSUPPORT on this
//! kernel), the VIPs, link up.
//!
//! zebra and vrrpd run in the foreground in the router namespace with `-f -i -z
//! --vty_socket DIR -P 0` (no TCP vty), logs in the router's `frr/` directory. They drop to
//! user `frr` (FRR refuses to run as root unless root is in group frrvty), so that directory
//! belongs to `frr`. `/var/tmp` is bind-mounted to `frr/vartmp` inside the private mount
//! namespace `ip netns exec` makes, so FRR's crash-log directories stay in the lab.
//! State comes from `vtysh --vty_socket DIR -d vrrpd -c 'show vrrp json'`.
//!
//! Quirks of FRR 8.4.4 (Debian 12) the tests must recognise rather than retry away:
//! - A SIGKILLed FRR leaves its macvlans up (protodown off) with the VIPs; [`Frr::kill9`]
//!   puts them in protodown, as `lab.sh revive` does, and a restart reuses them.
//! - A Backup's protodown macvlan still answers for the VIP when the bridge floods frames
//!   for the virtual MAC to it (the VIP's local route stays), so "the host can ping the VIP"
//!   right after a failover is not proof of a new master.
//! - On Backup → Master its first IPv6 advert comes one interval late ("Failed to find
//!   address to bind on vrrp6-…"), so an IPv6 peer may briefly be a second master.
//! - Started while its link is down, it reports IPv6 Master but never sends IPv6 adverts;
//!   restart it with the port up.
//! - Skew_Time is computed in whole centiseconds, rounded down (prio 200 at 1 s: 210 ms).

use super::{Conf, Family, Kind, Lab, Mac, Peer, Proc, State, States, wait_for};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Path of an FRR daemon (`NETVRRP_FRR_DIR`, default /usr/lib/frr).
pub fn binary(daemon: &str) -> String {
    let dir = std::env::var("NETVRRP_FRR_DIR").unwrap_or_else(|_| "/usr/lib/frr".into());
    format!("{dir}/{daemon}")
}

/// An FRR router (zebra + vrrpd) on one lab router.
pub struct Frr<'a> {
    lab: &'a Lab,
    k: usize,
    conf: Conf,
    dir: PathBuf,
    zebra: Option<Proc>,
    vrrpd: Option<Proc>,
}

impl<'a> Frr<'a> {
    /// Creates the macvlans, writes the configuration, starts zebra then vrrpd on router `k`,
    /// and returns once vrrpd's vty socket exists.
    pub fn start(lab: &'a Lab, k: usize, conf: Conf) -> Frr<'a> {
        conf.check();
        assert!(
            conf.unicast_peers.is_empty(),
            "FRR vrrpd has no unicast mode"
        );
        let dir = lab.router_dir(k, "frr");
        fs::create_dir_all(dir.join("vartmp")).unwrap();
        let ns = lab.r(k);
        let mut zebra = format!("hostname {ns}\nlog timestamp precision 6\n!\n");
        if conf.router_advertisements {
            // vrrpd turns RAs on and off on the vrrp6 macvlan with mastership; these are
            // their contents (the same as netvrrp's `router-advertisements` in the harness).
            let idx = lab.ifindex(lab.r(k), "eth0");
            zebra += &format!(
                "interface vrrp6-{idx}-{}\n ipv6 nd ra-interval 4\n ipv6 nd ra-lifetime 60\n",
                conf.vrid
            );
            for v in conf
                .vips6
                .iter()
                .filter(|v| !v.addr().is_unicast_link_local())
            {
                zebra += &format!(" ipv6 nd prefix {}\n", v.trunc());
            }
            zebra += "!\n";
        }
        fs::write(dir.join("zebra.conf"), zebra).unwrap();
        fs::write(dir.join("vrrpd.conf"), render(ns, &conf)).unwrap();
        let mut frr = Frr {
            lab,
            k,
            conf,
            dir,
            zebra: None,
            vrrpd: None,
        };
        frr.launch();
        frr
    }

    /// The macvlan names vrrpd expects on eth0 for this VRID.
    pub fn macvlan(&self, family: Family) -> String {
        let idx = self.lab.ifindex(self.lab.r(self.k), "eth0");
        let f = if family == Family::V4 { 4 } else { 6 };
        format!("vrrp{f}-{idx}-{}", self.conf.vrid)
    }

    /// Creates the missing macvlans (idempotent: a restart reuses the old ones) and makes
    /// sure they carry the VIPs.
    fn ensure_macvlans(&self) {
        let ns = self.lab.r(self.k);
        for fam in self.conf.families() {
            let dev = self.macvlan(fam);
            if !self
                .lab
                .ip_try(ns, &["link", "show", "dev", &dev])
                .status
                .success()
            {
                let mac = Mac::vrrp(fam, self.conf.vrid).to_string();
                self.lab.ip(
                    ns,
                    &[
                        "link", "add", &dev, "link", "eth0", "address", &mac, "type", "macvlan",
                        "mode", "bridge",
                    ],
                );
                // With RAs the link-local VIP is the macvlan's only link-local: zebra sends
                // the RAs from it.
                let mode = if fam == Family::V6 && self.conf.router_advertisements {
                    "none"
                } else {
                    "random"
                };
                self.lab.ip(ns, &["link", "set", &dev, "addrgenmode", mode]);
            }
            let vips: Vec<String> = match fam {
                Family::V4 => self.conf.vips4.iter().map(|v| v.to_string()).collect(),
                Family::V6 => self.conf.vips6.iter().map(|v| v.to_string()).collect(),
            };
            for v in &vips {
                let mut args = vec!["addr", "replace", v.as_str(), "dev", &dev];
                if fam == Family::V6 {
                    args.push("nodad");
                }
                self.lab.ip(ns, &args);
            }
            self.lab.ip(ns, &["link", "set", &dev, "up"]);
        }
    }

    fn launch(&mut self) {
        self.ensure_macvlans();
        let d = |f: &str| self.dir.join(f).to_string_lossy().into_owned();
        for f in [
            "zebra.pid",
            "vrrpd.pid",
            "zserv.api",
            "zebra.vty",
            "vrrpd.vty",
        ] {
            let _ = fs::remove_file(self.dir.join(f));
        }
        // The daemons run as user frr and write their logs, pid files and sockets here.
        let out = Command::new("chown")
            .args(["-R", "frr:frr"])
            .arg(&self.dir)
            .output()
            .unwrap();
        assert!(out.status.success(), "chown frr: {out:?}");

        let zebra = self.daemon("zebra", &["-f", &d("zebra.conf"), "--log-level", "info"]);
        let up = wait_for(Duration::from_secs(5), || {
            (is_socket(&self.dir.join("zserv.api")) || !zebra.alive()).then(|| zebra.alive())
        });
        if up != Some(true) {
            self.fail("zebra", &zebra);
        }
        self.zebra = Some(zebra);

        let vrrpd = self.daemon("vrrpd", &["-f", &d("vrrpd.conf"), "--log-level", "debug"]);
        let up = wait_for(Duration::from_secs(5), || {
            (is_socket(&self.dir.join("vrrpd.vty")) || !vrrpd.alive()).then(|| vrrpd.alive())
        });
        if up != Some(true) {
            self.fail("vrrpd", &vrrpd);
        }
        self.vrrpd = Some(vrrpd);
    }

    fn daemon(&self, name: &str, extra: &[&str]) -> Proc {
        let d = |f: &str| self.dir.join(f).to_string_lossy().into_owned();
        let (vartmp, zserv, pid) = (d("vartmp"), d("zserv.api"), d(&format!("{name}.pid")));
        let (vty, log) = (
            self.dir.to_string_lossy().into_owned(),
            format!("file:{}", d(&format!("{name}.log"))),
        );
        let bin = binary(name);
        // `sh` only to bind-mount /var/tmp in the namespace's private mount namespace, then
        // exec: the pid stays the daemon's.
        let mut args = vec![
            "sh",
            "-c",
            r#"mount --bind "$1" /var/tmp && shift && exec "$@""#,
            "sh",
            &vartmp,
            &bin,
            "-z",
            &zserv,
            "--vty_socket",
            &vty,
            "-P",
            "0",
            "-i",
            &pid,
            "--log",
            &log,
        ];
        args.extend_from_slice(extra);
        self.lab.spawn_logged(
            self.lab.r(self.k),
            &args,
            &[],
            &self.dir.join(format!("{name}.out")),
        )
    }

    fn fail(&self, name: &str, p: &Proc) -> ! {
        p.kill9();
        let read = |f: &str| fs::read_to_string(self.dir.join(f)).unwrap_or_default();
        panic!(
            "FRR {name} on r{} did not start:\n{}\n{}",
            self.k,
            read(&format!("{name}.out")),
            read(&format!("{name}.log"))
        );
    }

    /// `vtysh -d vrrpd -c CMD` against this router's vrrpd; stdout, or Err with the output.
    pub fn vtysh(&self, cmd: &str) -> Result<String, String> {
        let vty = self.dir.to_string_lossy().into_owned();
        // `timeout`: a wedged daemon must fail the poll, not hang the test.
        let out = Command::new("timeout")
            .args(["5", "vtysh", "--vty_socket", &vty, "-d", "vrrpd", "-c", cmd])
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(super::text(&out))
        }
    }

    /// `show vrrp json`: an array with one object per virtual router (`v4`, `v6` inside).
    pub fn json(&self) -> Result<serde_json::Value, String> {
        let out = self.vtysh("show vrrp json")?;
        serde_json::from_str(&out).map_err(|e| format!("show vrrp json: {e}: {out}"))
    }

    /// Puts every vrrp4-/vrrp6- macvlan in protodown: a dead vrrpd left them up with the VIPs.
    fn neutralise_macvlans(&self) {
        let ns = self.lab.r(self.k);
        let links: serde_json::Value =
            serde_json::from_str(&self.lab.ip(ns, &["-j", "link", "show"])).unwrap_or_default();
        for l in links.as_array().into_iter().flatten() {
            let Some(name) = l["ifname"].as_str() else {
                continue;
            };
            if name.starts_with("vrrp4-") || name.starts_with("vrrp6-") {
                let _ = self
                    .lab
                    .ip_try(ns, &["link", "set", name, "protodown", "on"]);
            }
        }
    }

    /// vrrpd's log (all restarts appended).
    pub fn log(&self) -> PathBuf {
        self.dir.join("vrrpd.log")
    }
}

fn is_socket(p: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    fs::metadata(p).is_ok_and(|m| m.file_type().is_socket())
}

/// vrrpd.conf for `conf`.
fn render(ns: &str, conf: &Conf) -> String {
    let v = conf.vrid;
    let mut s = format!(
        "hostname {ns}\nlog timestamp precision 6\ndebug vrrp protocol\ndebug vrrp zebra\n!\ninterface eth0\n"
    );
    // version first: changing it later resets the instance.
    s += &format!(" vrrp {v} version {}\n", conf.version);
    s += &format!(" vrrp {v} priority {}\n", conf.priority);
    s += &format!(" vrrp {v} advertisement-interval {}\n", conf.advert_ms);
    if conf.nopreempt {
        s += &format!(" no vrrp {v} preempt\n");
    }
    for a in &conf.vips4 {
        s += &format!(" vrrp {v} ip {}\n", a.addr());
    }
    for a in &conf.vips6 {
        s += &format!(" vrrp {v} ipv6 {}\n", a.addr());
    }
    s += "!\n";
    s
}

fn parse_status(s: &str) -> State {
    match s {
        "Initialize" => State::Init,
        "Backup" => State::Backup,
        "Master" => State::Master,
        other => State::Other(other.to_string()),
    }
}

impl Peer for Frr<'_> {
    fn kind(&self) -> Kind {
        Kind::Frr
    }
    fn router(&self) -> usize {
        self.k
    }
    fn conf(&self) -> &Conf {
        &self.conf
    }

    fn state(&self) -> Result<States, String> {
        if !self.running() {
            return Err("FRR is not running".into());
        }
        let json = self.json()?;
        let vr = json
            .as_array()
            .into_iter()
            .flatten()
            .find(|r| r["vrid"] == self.conf.vrid && r["interface"] == "eth0")
            .ok_or_else(|| {
                format!(
                    "vrid {} on eth0 not in show vrrp json: {json}",
                    self.conf.vrid
                )
            })?;
        let status = |fam: &str| {
            vr[fam]["status"]
                .as_str()
                .map(parse_status)
                .ok_or_else(|| format!("no {fam}.status in {vr}"))
        };
        Ok(States {
            ipv4: if self.conf.vips4.is_empty() {
                None
            } else {
                Some(status("v4")?)
            },
            ipv6: if self.conf.vips6.is_empty() {
                None
            } else {
                Some(status("v6")?)
            },
        })
    }

    fn running(&self) -> bool {
        self.vrrpd.as_ref().is_some_and(|p| p.alive())
            && self.zebra.as_ref().is_some_and(|p| p.alive())
    }

    fn kill9(&mut self) {
        for p in [self.vrrpd.take(), self.zebra.take()].into_iter().flatten() {
            p.kill9();
        }
        self.neutralise_macvlans();
    }

    fn term(&mut self) {
        // vrrpd first (it sends priority 0 and puts its macvlans in protodown), then zebra.
        for (name, p) in [("vrrpd", self.vrrpd.take()), ("zebra", self.zebra.take())] {
            if let Some(p) = p
                && !p.term(Duration::from_secs(5))
            {
                eprintln!(
                    "peers: FRR {name} on r{} ignored SIGTERM for 5 s; killed",
                    self.k
                );
                self.neutralise_macvlans();
            }
        }
    }

    fn restart(&mut self) {
        self.term();
        self.launch();
    }

    fn advert_source_mac(&self, family: Family) -> Mac {
        Mac::vrrp(family, self.conf.vrid)
    }
}
