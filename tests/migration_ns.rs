//! Traps of a migration onto a real host, in namespaces (issue 19): risky configurations
//! judged against the host's interfaces.

mod common;

use common::{Netns, text};

fn host(prefix: &str) -> Netns {
    let ns = Netns::new(prefix);
    ns.ip_ok(&[
        "link", "add", "eth0", "type", "veth", "peer", "name", "eth0p",
    ]);
    ns.ip_ok(&["link", "set", "eth0", "up"]);
    ns.ip_ok(&["link", "set", "eth0p", "up"]);
    ns.ip_ok(&["addr", "add", "192.0.2.2/24", "dev", "eth0"]);
    ns
}

/// A VIP outside every subnet of the parent: a warning at its file:line:column, the apply
/// goes on. Priority 255 without the addresses on the parent: refused, exit 65, nothing
/// applied; with them: accepted.
#[test]
fn risky_configs_are_reported_against_the_host() {
    let ns = host("nvmig");
    let cfg = ns.dir().join("vrrp.toml");
    let file = cfg.to_str().unwrap();
    std::fs::write(
        &cfg,
        "[[vrrp]]\ninterface = \"eth0\"\nvrid = 5\nipv4 = [\"192.0.2.1/24\", \"198.51.100.1/24\"]\n",
    )
    .unwrap();
    let out = ns.netvrrp(&["apply", "--no-runtime", "-f", file]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "{file}:4:25: vrrp[1].ipv4[2]: warning: 198.51.100.1/24 is outside every subnet of eth0 (192.0.2.2/24)"
        )),
        "{}",
        text(&out)
    );
    // validate reads no host: the same file is simply valid.
    let out = ns.netvrrp(&["validate", "-f", file]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(out.stderr.is_empty(), "{}", text(&out));

    std::fs::write(
        &cfg,
        "[[vrrp]]\ninterface = \"eth0\"\nvrid = 6\npriority = 255\nipv4 = [\"192.0.2.9/24\"]\n",
    )
    .unwrap();
    for cmd in [&["apply", "--no-runtime"][..], &["diff"], &["check"]] {
        let mut args = cmd.to_vec();
        args.extend(["-f", file]);
        let out = ns.netvrrp(&args);
        assert_eq!(out.status.code(), Some(65), "{cmd:?}: {}", text(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(&format!(
                "{file}:4:12: vrrp[1].priority: priority 255 means this router owns its addresses, but eth0 does not have 192.0.2.9"
            )),
            "{}",
            text(&out)
        );
    }
    let links = ns.ip_ok(&["-o", "link", "show"]);
    assert!(
        !links.contains("-6@eth0"),
        "vrid 6: nothing applied: {links}"
    );
    // `down` still works with such a file: it removes what the first apply made (vrid 5
    // is gone from the file, so only the owned-devices record names it).
    let out = ns.netvrrp(&["down", "-f", file]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // The owner: the address is the parent's own.
    ns.ip_ok(&["addr", "add", "192.0.2.9/24", "dev", "eth0"]);
    let out = ns.netvrrp(&["apply", "--no-runtime", "-f", file]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

fn sysctl(ns: &Netns, family: &str, dev: &str) -> String {
    let out = ns.exec(&[
        "cat",
        &format!("/proc/sys/net/{family}/conf/{dev}/ignore_routes_with_linkdown"),
    ]);
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// apply sets ignore_routes_with_linkdown (IPv4 and IPv6) on the vrrp devices; diff and
/// check see it changed by hand; the next apply repairs it.
#[test]
fn ignore_routes_with_linkdown_is_applied_and_checked() {
    let ns = host("nvmigld");
    let cfg = ns.dir().join("vrrp.toml");
    let file = cfg.to_str().unwrap();
    std::fs::write(
        &cfg,
        "[[vrrp]]\ninterface = \"eth0\"\nvrid = 5\nipv4 = [\"192.0.2.1/24\"]\nipv6 = [\"2001:db8::1/64\"]\n",
    )
    .unwrap();
    let out = ns.netvrrp(&["apply", "--no-runtime", "-f", file]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let idx = ns.ifindex("eth0");
    let devs = [format!("vrrp4-{idx}-5"), format!("vrrp6-{idx}-5")];
    for dev in &devs {
        for family in ["ipv4", "ipv6"] {
            assert_eq!(sysctl(&ns, family, dev), "1", "{family} {dev}");
        }
    }
    let out = ns.netvrrp(&["diff", "--exit-code", "--no-runtime", "-f", file]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    ns.ok(&[
        "sysctl",
        "-qw",
        &format!("net.ipv4.conf.{}.ignore_routes_with_linkdown=0", devs[0]),
    ]);
    let out = ns.netvrrp(&["diff", "--exit-code", "--no-runtime", "-f", file]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&format!(
            "sysctl net.ipv4.conf.{}.ignore_routes_with_linkdown=1",
            devs[0]
        )),
        "{}",
        text(&out)
    );
    let out = ns.netvrrp(&["check", "--no-runtime", "-f", file]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("ipv4.ignore_routes_with_linkdown"),
        "{}",
        text(&out)
    );
    let out = ns.netvrrp(&["apply", "--no-runtime", "-f", file]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(sysctl(&ns, "ipv4", &devs[0]), "1");
    let out = ns.netvrrp(&["check", "--no-runtime", "-f", file]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

fn state(ns: &Netns) -> Option<String> {
    let out = ns.netvrrp(&["show", "vrrp", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    v["routers"]
        .as_array()?
        .iter()
        .find(|r| r["family"] == "ipv4")?["state"]
        .as_str()
        .map(str::to_string)
}

/// Namespaces on one bridge (in a switch namespace, returned last): each gets `eth0` with
/// `addrs[i]`/24.
fn segment(prefix: &str, addrs: &[&str]) -> (Vec<Netns>, Netns) {
    let sw = Netns::new(&format!("{prefix}sw"));
    sw.bridge("br0");
    let mut out = Vec::new();
    for (i, a) in addrs.iter().enumerate() {
        let ns = Netns::new(&format!("{prefix}{i}"));
        let port = format!("sw{i}");
        sw.veth_to(&port, &ns, "eth0");
        sw.enslave(&port, "br0");
        ns.ip_ok(&["addr", "add", &format!("{a}/24"), "dev", "eth0"]);
        out.push(ns);
    }
    (out, sw)
}

/// Wait until the IPv4 instance of `ns` is in state `want`.
fn wait_state(ns: &Netns, want: &str) {
    common::wait_until(
        std::time::Duration::from_secs(20),
        || format!("{} is {:?}, not {want}", ns.name(), state(ns)),
        || (state(ns).as_deref() == Some(want)).then_some(()),
    );
}

/// The trap of issue 19: on a Backup, the parent's address removed and re-added (a DHCP
/// renew, ifreload). The subnet route through the Backup's protodown vrrp device is older
/// and would win; with ignore_routes_with_linkdown it is skipped, and the Backup still
/// reaches the Master's own address and a host on the link.
#[test]
fn backup_reaches_its_subnet_after_the_parent_address_comes_back() {
    let (nss, _sw) = segment("nvmigr", &["10.9.0.2", "10.9.0.3", "10.9.0.100"]);
    let (m, b) = (&nss[0], &nss[1]);
    for (ns, prio) in [(m, 200), (b, 100)] {
        let cfg = ns.dir().join("vrrp.toml");
        std::fs::write(
            &cfg,
            format!(
                "[defaults]\nadvertisement-interval = 100\n\n[[vrrp]]\ninterface = \"eth0\"\nvrid = 7\npriority = {prio}\nipv4 = [\"10.9.0.1/24\"]\n"
            ),
        )
        .unwrap();
        let out = ns.netvrrp(&["apply", "-f", cfg.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    }
    wait_state(m, "master");
    wait_state(b, "backup");
    b.ip_ok(&["addr", "del", "10.9.0.3/24", "dev", "eth0"]);
    b.ip_ok(&["addr", "add", "10.9.0.3/24", "dev", "eth0"]);
    for target in ["10.9.0.2", "10.9.0.100"] {
        let out = b.exec(&["ping", "-c", "3", "-i", "0.2", "-W", "1", target]);
        assert!(
            out.status.success(),
            "backup cannot reach {target}: {}\nroutes: {}",
            text(&out),
            b.ip_ok(&["route", "show"])
        );
    }
    assert_eq!(state(b).as_deref(), Some("backup"));
}

/// keepalived in `ns` with `conf` (foreground, VRRP only, pid files in the namespace's
/// directory); killed with the namespace.
fn start_keepalived(ns: &Netns, conf: &std::path::Path) {
    let d = ns.dir();
    let _ = std::fs::remove_file(d.join("vrrp.pid"));
    let mut cmd = std::process::Command::new("ip");
    cmd.args([
        "netns",
        "exec",
        ns.name(),
        "keepalived",
        "-n",
        "-l",
        "-D",
        "-P",
        "-G",
        "-f",
    ])
    .arg(conf)
    .arg("-p")
    .arg(d.join("keepalived.pid"))
    .arg("-r")
    .arg(d.join("vrrp.pid"))
    .arg("-c")
    .arg(d.join("checkers.pid"))
    .arg("-b")
    .arg(d.join("bfd.pid"))
    .env("TMPDIR", d)
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::null());
    ns.spawn(cmd);
}

/// SIGTERM to keepalived (it sends priority 0 and removes its VIPs), waiting for its exit.
fn stop_keepalived(ns: &Netns) {
    let pid = std::fs::read_to_string(ns.dir().join("keepalived.pid")).unwrap_or_default();
    let pid = pid.trim();
    assert!(
        !pid.is_empty(),
        "keepalived is not running in {}",
        ns.name()
    );
    let _ = std::process::Command::new("kill")
        .args(["-TERM", pid])
        .status();
    // keepalived removes its pid file when it has stopped (the process itself stays a
    // zombie of this test until the namespace is dropped).
    let file = ns.dir().join("keepalived.pid");
    common::wait_until(
        std::time::Duration::from_secs(10),
        || format!("keepalived {pid} still running"),
        || (!file.exists()).then_some(()),
    );
}

fn has_vip(ns: &Netns, dev: &str, vip: &str) -> bool {
    ns.ip_ok(&["-o", "addr", "show", "dev", dev])
        .contains(&format!("inet {vip}/"))
}

/// One router of a keepalived pair converted with `--from-keepalived` runs against the
/// keepalived peer, which keeps its original file: the same Master is elected, and the
/// Master moves both ways (keepalived stops: netvrrp takes over; keepalived returns with
/// the higher priority: it preempts and netvrrp is Backup again).
#[test]
fn keepalived_pair_with_one_router_converted() {
    if std::process::Command::new("keepalived")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("keepalived not installed: skipped");
        return;
    }
    let (nss, _sw) = segment("nvmigk", &["10.8.0.2", "10.8.0.3"]);
    let (r1, r2) = (&nss[0], &nss[1]);
    let conf = |prio: u8| {
        format!(
            "global_defs {{\n  script_user root\n  vrrp_version 3\n}}\nvrrp_instance VI_1 {{\n  state BACKUP\n  interface eth0\n  virtual_router_id 51\n  priority {prio}\n  advert_int 0.1\n  virtual_ipaddress {{\n    10.8.0.1/24\n  }}\n}}\n"
        )
    };
    let k1 = r1.dir().join("keepalived.conf");
    std::fs::write(&k1, conf(200)).unwrap();
    let k2 = r2.dir().join("keepalived.conf");
    std::fs::write(&k2, conf(100)).unwrap();
    let toml = r2.dir().join("vrrp.toml");
    let out = r2.netvrrp(&[
        "autoconfigure",
        "--from-keepalived",
        k2.to_str().unwrap(),
        "-o",
        toml.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    start_keepalived(r1, &k1);
    let limit = std::time::Duration::from_secs(15);
    common::wait_until(
        limit,
        || "keepalived r1 never took the VIP".into(),
        || has_vip(r1, "eth0", "10.8.0.1").then_some(()),
    );
    let out = r2.netvrrp(&["apply", "-f", toml.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    wait_state(r2, "backup");
    // Several intervals later nothing moved: keepalived is still Master.
    std::thread::sleep(std::time::Duration::from_millis(800));
    assert_eq!(state(r2).as_deref(), Some("backup"));
    assert!(has_vip(r1, "eth0", "10.8.0.1"));

    // keepalived goes: netvrrp takes over.
    stop_keepalived(r1);
    wait_state(r2, "master");
    assert!(!has_vip(r1, "eth0", "10.8.0.1"));

    // keepalived comes back with the higher priority: it preempts, netvrrp steps down.
    start_keepalived(r1, &k1);
    wait_state(r2, "backup");
    common::wait_until(
        limit,
        || "keepalived r1 did not take the VIP back".into(),
        || has_vip(r1, "eth0", "10.8.0.1").then_some(()),
    );
}

/// FRR (zebra + vrrpd) in `ns` with `vrrpd_conf`, its files under `<dir>/frr` (owned by
/// FRR's user, which its daemons drop to). Killed with the namespace.
fn start_frr(ns: &Netns, vrrpd_conf: &str) {
    let d = ns.dir().join("frr");
    std::fs::create_dir_all(d.join("vartmp")).unwrap();
    std::fs::write(d.join("zebra.conf"), "hostname r\n!\n").unwrap();
    std::fs::write(d.join("vrrpd.conf"), vrrpd_conf).unwrap();
    for f in ["zebra.pid", "vrrpd.pid", "zserv.api"] {
        let _ = std::fs::remove_file(d.join(f));
    }
    let ok = std::process::Command::new("chown")
        .args(["-R", "frr:frr"])
        .arg(&d)
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "chown {}", d.display());
    let dir = d.display().to_string();
    let common = format!("-d -z {dir}/zserv.api --vty_socket {dir} -P 0");
    for daemon in ["zebra", "vrrpd"] {
        // /var/tmp is bind-mounted so FRR's crash logs stay in the test's directory.
        let script = format!(
            "mount --bind {dir}/vartmp /var/tmp && exec /usr/lib/frr/{daemon} {common} -f {dir}/{daemon}.conf -i {dir}/{daemon}.pid --log file:{dir}/{daemon}.log"
        );
        let out = ns.exec(&["sh", "-c", &script]);
        assert!(out.status.success(), "{daemon}: {}", text(&out));
        let pid = d.join(format!("{daemon}.pid"));
        common::wait_until(
            std::time::Duration::from_secs(10),
            || format!("{daemon} did not start"),
            || (pid.exists() && (daemon != "zebra" || d.join("zserv.api").exists())).then_some(()),
        );
    }
}

fn stop_vrrpd(ns: &Netns) {
    let pid = std::fs::read_to_string(ns.dir().join("frr/vrrpd.pid")).unwrap_or_default();
    let pid = pid.trim().to_string();
    assert!(!pid.is_empty(), "vrrpd is not running in {}", ns.name());
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status();
    common::wait_until(
        std::time::Duration::from_secs(10),
        || format!("vrrpd {pid} still running"),
        || (!std::path::Path::new(&format!("/proc/{pid}")).exists()).then_some(()),
    );
}

/// Is the FRR router's macvlan up for business (protodown off: FRR's Master)?
fn frr_master(ns: &Netns, dev: &str) -> bool {
    let v = ns.ip_json(&["-d", "link", "show", "dev", dev]);
    // iproute2 writes the key only while protodown is on.
    v[0]["proto_down"].as_bool() != Some(true)
}

/// The same with FRR: r2's frr.conf converted with `--from-frr`, r1 keeps FRR with the
/// higher priority. The same Master is elected, and the Master moves both ways.
#[test]
fn frr_pair_with_one_router_converted() {
    if !std::path::Path::new("/usr/lib/frr/vrrpd").exists() {
        eprintln!("FRR not installed: skipped");
        return;
    }
    let (nss, _sw) = segment("nvmigf", &["10.7.0.2", "10.7.0.3"]);
    let (r1, r2) = (&nss[0], &nss[1]);
    // FRR's recipe: the macvlan with the virtual MAC and the VIP, made by the system.
    let idx = r1.ifindex("eth0");
    let dev = format!("vrrp4-{idx}-9");
    r1.ip_ok(&[
        "link", "add", &dev, "link", "eth0", "type", "macvlan", "mode", "bridge",
    ]);
    r1.ip_ok(&["link", "set", &dev, "address", "00:00:5e:00:01:09"]);
    r1.ip_ok(&["addr", "add", "10.7.0.1/24", "dev", &dev]);
    // Protodown until vrrpd makes it Master (so "off" below is FRR's doing).
    r1.ip_ok(&["link", "set", &dev, "protodown", "on"]);
    r1.ip_ok(&["link", "set", &dev, "up"]);
    let conf = |prio: u8, own: &str| {
        format!(
            "frr version 8.4.4\n!\ninterface eth0\n ip address {own}/24\n vrrp 9 version 3\n vrrp 9 priority {prio}\n vrrp 9 advertisement-interval 100\n vrrp 9 ip 10.7.0.1\nexit\n!\n"
        )
    };
    start_frr(r1, &conf(200, "10.7.0.2"));
    let limit = std::time::Duration::from_secs(20);
    common::wait_until(
        limit,
        || "FRR r1 never became Master".into(),
        || frr_master(r1, &dev).then_some(()),
    );

    let f2 = r2.dir().join("frr.conf");
    std::fs::write(&f2, conf(100, "10.7.0.3")).unwrap();
    let toml = r2.dir().join("vrrp.toml");
    let out = r2.netvrrp(&[
        "autoconfigure",
        "--from-frr",
        f2.to_str().unwrap(),
        "-o",
        toml.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let written = std::fs::read_to_string(&toml).unwrap();
    assert!(written.contains("ipv4 = [\"10.7.0.1/24\"]"), "{written}");
    let out = r2.netvrrp(&["apply", "-f", toml.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    wait_state(r2, "backup");
    std::thread::sleep(std::time::Duration::from_millis(800));
    assert_eq!(state(r2).as_deref(), Some("backup"));
    assert!(frr_master(r1, &dev));

    // FRR's vrrpd goes (priority 0): netvrrp takes over.
    stop_vrrpd(r1);
    wait_state(r2, "master");
    // FRR comes back with the higher priority: it preempts, netvrrp is Backup again.
    start_frr(r1, &conf(200, "10.7.0.2"));
    wait_state(r2, "backup");
    common::wait_until(
        limit,
        || "FRR r1 did not take over again".into(),
        || frr_master(r1, &dev).then_some(()),
    );
}

/// A `ping` from `ns` to `target` every 10 ms (`-6` for IPv6), its output in `out`;
/// killed with the namespace.
fn start_ping(ns: &Netns, target: &str, out: &std::path::Path) {
    let file = std::fs::File::create(out).unwrap();
    let mut cmd = std::process::Command::new("ip");
    cmd.args([
        "netns",
        "exec",
        ns.name(),
        "ping",
        "-n",
        "-i",
        "0.01",
        target,
    ])
    .stdout(file)
    .stderr(std::process::Stdio::null());
    ns.spawn(cmd);
}

/// The sequence numbers `ping` got a reply for (its output so far).
fn replied(out: &std::path::Path) -> std::collections::BTreeSet<u32> {
    std::fs::read_to_string(out)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("bytes from") && !l.contains("DUP!"))
        .filter_map(|l| l.split("icmp_seq=").nth(1)?.split(' ').next()?.parse().ok())
        .collect()
}

/// Wait until `ping`'s replies reach past sequence `after` by `more`; the highest replied.
fn wait_replies(out: &std::path::Path, after: u32, more: u32) -> u32 {
    common::wait_until(
        std::time::Duration::from_secs(20),
        || {
            format!(
                "ping {} stopped getting replies after {after}",
                out.display()
            )
        },
        || {
            let last = replied(out).last().copied()?;
            (last >= after + more).then_some(last)
        },
    )
}

/// `h` pings each of `vips` every 10 ms once it answers: the output files, and the first
/// replies' sequence numbers.
fn ping_vips<'a>(h: &Netns, vips: [&'a str; 2]) -> ([(&'a str, std::path::PathBuf); 2], Vec<u32>) {
    let pings = vips.map(|vip| {
        let out = h.dir().join(format!("ping-{}.txt", vip.replace(':', "_")));
        start_ping(h, vip, &out);
        (vip, out)
    });
    let before = pings
        .iter()
        .map(|(_, out)| wait_replies(out, 0, 5))
        .collect();
    (pings, before)
}

/// Issue 19, the live takeover: a Master's devices as FRR's guide makes them (FRR's names
/// `vrrp4-2-1`/`vrrp6-2-1` for VRID 5, the virtual MACs, the VIPs, up; addrgenmode random on
/// vrrp4, EUI-64 on vrrp6) are adopted by one `apply` while a host pings both VIPs every
/// 10 ms. The runtime owns protodown (it runs, for another router), so the plan is what is
/// measured: on this kernel (6.2+) the devices are renamed up, and a new addrgenmode needs
/// no flap: the kernel's link-locals of the old mode are removed (the vrrp6 one derived
/// from the virtual MAC, RFC 9568 7.4). No reply is missing, the devices were never down nor recreated (`ip monitor`
/// from before the apply to after it), no VIP was removed, and the apply converged.
#[test]
fn frr_named_devices_are_taken_over_without_losing_a_reply() {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    if netvrrp::host::parse_release(&release).is_none_or(|v| v < netvrrp::host::LIVE_RENAME_KERNEL)
    {
        eprintln!("Linux {} renames only down links: skipped", release.trim());
        return;
    }
    let (nss, _sw) = segment("nvmigt", &["10.6.0.2", "10.6.0.100"]);
    let (r, h) = (&nss[0], &nss[1]);
    r.ip_ok(&[
        "-6",
        "addr",
        "add",
        "2001:db8:6::2/64",
        "dev",
        "eth0",
        "nodad",
    ]);
    h.ip_ok(&[
        "-6",
        "addr",
        "add",
        "2001:db8:6::100/64",
        "dev",
        "eth0",
        "nodad",
    ]);
    // A runtime for another router: `apply` finds it answering, so protodown is its.
    let other = "[defaults]\nadvertisement-interval = 100\n\n[[vrrp]]\ninterface = \"eth0\"\nvrid = 7\nipv4 = [\"10.6.0.50/24\"]\n";
    let a = r.dir().join("a.toml");
    std::fs::write(&a, other).unwrap();
    let out = r.netvrrp(&["apply", "-f", a.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    wait_state(r, "master");

    // FRR's recipe (its guide's names, whatever the ifindex and VRID), the vrrp6 device
    // without its `addrgenmode random` (a hand-made one: EUI-64 from the virtual MAC).
    let frr = [
        ("vrrp4-2-1", "00:00:5e:00:01:05", "10.6.0.1/24", "random"),
        (
            "vrrp6-2-1",
            "00:00:5e:00:02:05",
            "2001:db8:6::1/64",
            "eui64",
        ),
    ];
    for (dev, mac, vip, addrgenmode) in frr {
        r.ip_ok(&[
            "link", "add", dev, "link", "eth0", "type", "macvlan", "mode", "bridge",
        ]);
        r.ip_ok(&["link", "set", "dev", dev, "addrgenmode", addrgenmode]);
        r.ip_ok(&["link", "set", "dev", dev, "address", mac]);
        r.ip_ok(&["addr", "add", vip, "dev", dev, "nodad"]);
        r.ip_ok(&["link", "set", "dev", dev, "up"]);
    }
    let indexes: Vec<u32> = frr.iter().map(|(dev, ..)| r.ifindex(dev)).collect();
    let eui64 = "fe80::200:5eff:fe00:205";
    common::wait_until(
        std::time::Duration::from_secs(10),
        || "vrrp6-2-1 never got its EUI-64 link-local".into(),
        || {
            r.ip_ok(&["-o", "addr", "show", "dev", "vrrp6-2-1"])
                .contains(eui64)
                .then_some(())
        },
    );
    let (pings, before) = ping_vips(h, ["10.6.0.1", "2001:db8:6::1"]);

    // Every link and address event of the router from here on; subscribed once an address
    // added for the purpose shows.
    let events = r.dir().join("monitor.txt");
    let mut cmd = std::process::Command::new("ip");
    cmd.args([
        "netns",
        "exec",
        r.name(),
        "ip",
        "-o",
        "monitor",
        "link",
        "address",
    ])
    .stdout(std::fs::File::create(&events).unwrap())
    .stderr(std::process::Stdio::null());
    r.spawn(cmd);
    common::wait_until(
        std::time::Duration::from_secs(10),
        || "ip monitor never reported the probe address".into(),
        || {
            r.ip(&["addr", "replace", "198.51.100.9/32", "dev", "eth0"]);
            std::fs::read_to_string(&events)
                .ok()?
                .contains("198.51.100.9")
                .then_some(())
        },
    );

    let idx = r.ifindex("eth0");
    let b = r.dir().join("b.toml");
    std::fs::write(
        &b,
        format!("{other}\n[[vrrp]]\ninterface = \"eth0\"\nvrid = 5\nipv4 = [\"10.6.0.1/24\"]\nipv6 = [\"2001:db8:6::1/64\"]\n"),
    )
    .unwrap();
    let out = r.netvrrp(&["apply", "--no-runtime", "-f", b.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let applied = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        applied.contains(&format!("rename vrrp4-2-1 to vrrp4-{idx}-5")),
        "{applied}"
    );
    assert!(
        !applied.contains(" down\n"),
        "a device was taken down:\n{applied}"
    );
    // Replies well past the end of the apply, then the holes among them.
    for ((vip, out), first) in pings.iter().zip(&before) {
        let now = replied(out).last().copied().unwrap_or(0);
        let last = wait_replies(out, now, 20);
        let got = replied(out);
        let lost: Vec<u32> = (*first..=last).filter(|s| !got.contains(s)).collect();
        assert!(
            lost.is_empty(),
            "{vip}: no reply to icmp_seq {lost:?} (of {first}..={last}) during the takeover\n{applied}"
        );
        eprintln!("{vip}: every reply of icmp_seq {first}..={last} arrived");
    }

    let names = [format!("vrrp4-{idx}-5"), format!("vrrp6-{idx}-5")];
    for (name, index) in names.iter().zip(&indexes) {
        assert_eq!(r.ifindex(name), *index, "{name} was recreated");
    }
    let log = std::fs::read_to_string(&events).unwrap();
    for line in log.lines() {
        let ours = indexes.iter().any(|i| {
            line.starts_with(&format!("{i}: ")) || line.starts_with(&format!("Deleted {i}: "))
        });
        if !ours {
            continue;
        }
        let is_link = line.contains("link/ether");
        let flags = line.split(['<', '>']).nth(1).unwrap_or("");
        assert!(
            !is_link || (!line.starts_with("Deleted") && flags.split(',').any(|f| f == "UP")),
            "a device went down or away: {line}\n{log}"
        );
        assert!(
            !(line.starts_with("Deleted")
                && (line.contains("10.6.0.1/") || line.contains("2001:db8:6::1/"))),
            "a VIP was removed: {line}\n{log}"
        );
    }
    // One apply converged; the vrrp4 device has the mode of a device netvrrp makes and no
    // link-local left from FRR's.
    let out = r.netvrrp(&[
        "diff",
        "--exit-code",
        "--no-runtime",
        "-f",
        b.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let v4 = r.ip_json(&["-d", "link", "show", "dev", &names[0]]);
    assert_eq!(v4[0]["inet6_addr_gen_mode"], "none", "{v4}");
    assert!(
        !r.ip_ok(&["-o", "addr", "show", "dev", &names[0]])
            .contains("inet6 fe80::"),
        "{v4}"
    );
    let v6 = r.ip_ok(&["-d", "link", "show", "dev", &names[1]]);
    assert!(v6.contains("addrgenmode random"), "{v6}");
    let v6 = r.ip_ok(&["-o", "addr", "show", "dev", &names[1]]);
    assert!(!v6.contains(eui64), "{v6}");
}

/// The sequence numbers `ping` (output in `out`) got no reply for, from `first` to `last`.
fn lost_replies(out: &std::path::Path, first: u32, last: u32) -> Vec<u32> {
    let got = replied(out);
    (first..=last).filter(|s| !got.contains(s)).collect()
}

/// Issue 19, item 2, the whole live takeover: FRR (zebra + vrrpd) is the Master of VRID 5
/// with an IPv4 and an IPv6 VIP on the devices its guide makes, on a router host
/// (forwarding on), while a host pings both VIPs every 10 ms. Then the README's steps:
/// `autoconfigure --from-frr` the running configuration, the first `apply` (no runtime
/// yet: it starts one), FRR's vrrpd stopped (zebra stays, as for a host that still
/// routes with FRR), and the protodown reason zebra leaves on the devices cleared. One
/// apply converges, the runtime ends Master with its devices out of protodown, and each
/// ping misses at most one advertisement interval of replies (100 ms: 10 replies) over
/// the whole sequence.
#[test]
fn frr_master_is_taken_over_live_within_one_advert_interval() {
    if !std::path::Path::new("/usr/lib/frr/vrrpd").exists() {
        eprintln!("FRR not installed: skipped");
        return;
    }
    let (nss, _sw) = segment("nvmiglv", &["10.5.0.2", "10.5.0.100"]);
    let (r, h) = (&nss[0], &nss[1]);
    // A router: forwarding on (so its devices learn nothing from the RAs vrrpd makes
    // zebra send for an IPv6 Master).
    r.ok(&[
        "sysctl",
        "-qw",
        "net.ipv6.conf.all.forwarding=1",
        "net.ipv4.ip_forward=1",
    ]);
    r.ip_ok(&[
        "-6",
        "addr",
        "add",
        "2001:db8:5::2/64",
        "dev",
        "eth0",
        "nodad",
    ]);
    h.ip_ok(&[
        "-6",
        "addr",
        "add",
        "2001:db8:5::100/64",
        "dev",
        "eth0",
        "nodad",
    ]);
    let frr = [
        ("vrrp4-2-1", "00:00:5e:00:01:05", "10.5.0.1/24"),
        ("vrrp6-2-1", "00:00:5e:00:02:05", "2001:db8:5::1/64"),
    ];
    for (dev, mac, vip) in frr {
        r.ip_ok(&[
            "link", "add", dev, "link", "eth0", "type", "macvlan", "mode", "bridge",
        ]);
        r.ip_ok(&["link", "set", "dev", dev, "addrgenmode", "random"]);
        r.ip_ok(&["link", "set", "dev", dev, "address", mac]);
        r.ip_ok(&["addr", "add", vip, "dev", dev, "nodad"]);
        r.ip_ok(&["link", "set", "dev", dev, "protodown", "on"]);
        r.ip_ok(&["link", "set", "dev", dev, "up"]);
    }
    let conf = "frr version 8.4.4\n!\ninterface eth0\n ip address 10.5.0.2/24\n ipv6 address 2001:db8:5::2/64\n vrrp 5 version 3\n vrrp 5 advertisement-interval 100\n vrrp 5 ip 10.5.0.1\n vrrp 5 ipv6 2001:db8:5::1\nexit\n!\n";
    start_frr(r, conf);
    common::wait_until(
        std::time::Duration::from_secs(20),
        || "FRR never became Master".into(),
        || frr.iter().all(|(dev, ..)| frr_master(r, dev)).then_some(()),
    );
    let (pings, before) = ping_vips(h, ["10.5.0.1", "2001:db8:5::1"]);

    let running = r.dir().join("frr-running.conf");
    std::fs::write(&running, conf).unwrap();
    let toml = r.dir().join("vrrp.toml");
    let file = toml.to_str().unwrap();
    let out = r.netvrrp(&[
        "autoconfigure",
        "--from-frr",
        running.to_str().unwrap(),
        "-o",
        file,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = r.netvrrp(&["apply", "-f", file]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let applied = text(&out);
    wait_state(r, "master");
    let out = r.netvrrp(&["diff", "--exit-code", "-f", file]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "one apply converges: {}",
        text(&out)
    );

    // FRR's vrrpd goes; zebra, which stays, leaves its protodown reason on the devices.
    stop_vrrpd(r);
    let idx = r.ifindex("eth0");
    let names = [format!("vrrp4-{idx}-5"), format!("vrrp6-{idx}-5")];
    for dev in &names {
        common::wait_until(
            std::time::Duration::from_secs(10),
            || format!("zebra never set its protodown reason on {dev}"),
            || {
                let v = r.ip_json(&["-d", "link", "show", "dev", dev]);
                v[0]["proto_down_reason"].is_array().then_some(())
            },
        );
        r.ip_ok(&["link", "set", "dev", dev, "protodown_reason", "7", "off"]);
    }
    // The runtime turns protodown off again on its Masters' devices.
    for dev in &names {
        common::wait_until(
            std::time::Duration::from_secs(10),
            || format!("{dev} stays in protodown"),
            || frr_master(r, dev).then_some(()),
        );
    }
    for ((vip, out), first) in pings.iter().zip(&before) {
        let now = replied(out).last().copied().unwrap_or(0);
        let last = wait_replies(out, now, 20);
        let lost = lost_replies(out, *first, last);
        eprintln!(
            "{vip}: {} of icmp_seq {first}..={last} without a reply: {lost:?}",
            lost.len()
        );
        assert!(
            lost.len() <= 10,
            "{vip}: {} replies lost (more than one advert interval): {lost:?}\n{applied}",
            lost.len()
        );
    }
    assert_eq!(state(r).as_deref(), Some("master"));
    let out = r.netvrrp(&["diff", "--exit-code", "-f", file]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

/// The same with keepalived (`use_vmac`: its macvlan `vrrp.5`, private mode, the VIP on
/// it). keepalived reacts to a rename of its device by removing the VIP and making its
/// device again, and on SIGTERM it removes the VIPs: so the README's order is the other
/// way round, keepalived killed (SIGKILL: it releases nothing) and `apply` at once. The
/// device keeps answering throughout; one apply converges (renamed live, bridge mode) and
/// the runtime takes over without losing more than one advert interval of replies.
#[test]
fn keepalived_master_is_taken_over_live_within_one_advert_interval() {
    if std::process::Command::new("keepalived")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("keepalived not installed: skipped");
        return;
    }
    let (nss, _sw) = segment("nvmiglk", &["10.4.0.2", "10.4.0.100"]);
    let (r, h) = (&nss[0], &nss[1]);
    let conf = r.dir().join("keepalived.conf");
    std::fs::write(
        &conf,
        "global_defs {\n  vrrp_version 3\n}\nvrrp_instance VI_1 {\n  interface eth0\n  use_vmac\n  virtual_router_id 5\n  priority 100\n  advert_int 0.1\n  virtual_ipaddress {\n    10.4.0.1/24\n  }\n}\n",
    )
    .unwrap();
    start_keepalived(r, &conf);
    common::wait_until(
        std::time::Duration::from_secs(15),
        || "keepalived never took the VIP".into(),
        || {
            // Not there at all until keepalived has made it.
            let out = r.ip(&["-o", "addr", "show", "dev", "vrrp.5"]);
            String::from_utf8_lossy(&out.stdout)
                .contains("inet 10.4.0.1/")
                .then_some(())
        },
    );
    let ping = h.dir().join("ping4.txt");
    start_ping(h, "10.4.0.1", &ping);
    let first = wait_replies(&ping, 0, 5);

    let toml = r.dir().join("vrrp.toml");
    let file = toml.to_str().unwrap();
    let out = r.netvrrp(&[
        "autoconfigure",
        "--from-keepalived",
        conf.to_str().unwrap(),
        "-o",
        file,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    for pid in ["keepalived.pid", "vrrp.pid"] {
        let pid = std::fs::read_to_string(r.dir().join(pid)).unwrap_or_default();
        let ok = std::process::Command::new("kill")
            .args(["-KILL", pid.trim()])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill -KILL {pid}");
    }
    let out = r.netvrrp(&["apply", "-f", file]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let applied = text(&out);
    assert!(applied.contains("rename vrrp.5 to vrrp4-"), "{applied}");
    wait_state(r, "master");
    let out = r.netvrrp(&["diff", "--exit-code", "-f", file]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "one apply converges: {}",
        text(&out)
    );

    let now = replied(&ping).last().copied().unwrap_or(0);
    let last = wait_replies(&ping, now, 20);
    let lost = lost_replies(&ping, first, last);
    eprintln!(
        "10.4.0.1: {} of icmp_seq {first}..={last} without a reply: {lost:?}",
        lost.len()
    );
    assert!(
        lost.len() <= 10,
        "{} replies lost (more than one advert interval): {lost:?}\n{applied}",
        lost.len()
    );
}
