//! Traps of a migration onto a real host, in namespaces (issue 19): risky configurations
//! judged against the host's interfaces.

mod common;

use common::migration::*;
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

/// One router of a keepalived pair converted with `--from-keepalived` runs against the
/// keepalived peer, which keeps its original file: the same Master is elected, and the
/// Master moves both ways (keepalived stops: netvrrp takes over; keepalived returns with
/// the higher priority: it preempts and netvrrp is Backup again).
#[test]
fn keepalived_pair_with_one_router_converted() {
    if !keepalived_installed() {
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
    add_ipv6(r, "2001:db8:6::2/64");
    add_ipv6(h, "2001:db8:6::100/64");
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
