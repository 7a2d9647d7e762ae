//! Namespace tests of the declarative core: apply, diff, check, down, autoconfigure against
//! the real kernel. Each test makes its own namespace and removes it even on failure.
//! Kernel state is read back with iproute2's JSON output, independently of netvrrp's code.

mod common;

use common::Netns;
use serde_json::Value;
use std::fs;

/// A namespace with a veth pair (veth0 <-> veth1, both up) to carry macvlans.
fn lab(prefix: &str) -> Netns {
    let ns = Netns::new(prefix);
    ns.ok(&[
        "ip", "link", "add", "veth0", "type", "veth", "peer", "name", "veth1",
    ]);
    ns.ok(&["ip", "link", "set", "veth0", "up"]);
    ns.ok(&["ip", "link", "set", "veth1", "up"]);
    ns.ok(&["ip", "addr", "add", "192.0.2.2/24", "dev", "veth0"]);
    ns
}

fn ifindex(ns: &Netns, dev: &str) -> u64 {
    let v: Value = serde_json::from_slice(&ns.ok(&["ip", "-j", "link", "show", dev])).unwrap();
    v[0]["ifindex"].as_u64().unwrap()
}

/// `ip -d -j link show` of one device, or None.
fn link(ns: &Netns, dev: &str) -> Option<Value> {
    let out = ns.exec(&["ip", "-d", "-j", "link", "show", dev]);
    if !out.status.success() {
        return None;
    }
    let v: Value = serde_json::from_slice(&out.stdout).ok()?;
    Some(v[0].clone())
}

fn addrs(ns: &Netns, dev: &str) -> Vec<String> {
    addrs_in_scope(ns, dev, false)
}

/// The addresses of `dev` (`ip -j addr`), sorted: its link-scope ones, or all the others.
fn addrs_in_scope(ns: &Netns, dev: &str, link_scope: bool) -> Vec<String> {
    let v: Value =
        serde_json::from_slice(&ns.ok(&["ip", "-j", "addr", "show", "dev", dev])).unwrap();
    let mut out: Vec<String> = v[0]["addr_info"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| (a["scope"] == "link") == link_scope)
        .map(|a| format!("{}/{}", a["local"].as_str().unwrap(), a["prefixlen"]))
        .collect();
    out.sort();
    out
}

fn write_config(ns: &Netns, name: &str, text: &str) -> String {
    let path = ns.dir().join(name);
    fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

const TWO_FAMILY: &str = r#"
[[vrrp]]
interface = "veth0"
vrid = 5
priority = 150
ipv4 = ["192.0.2.1/24"]
ipv6 = ["2001:db8::1/64"]
"#;

// ledger: R9568-7.3-a R9568-7.4-a R9568-8.1.2-d R9568-8.2.2-c
#[test]
fn apply_from_scratch_is_idempotent_and_repairs_drift() {
    let ns = lab("nvapply");
    let cfg = write_config(&ns, "vrrp.toml", TWO_FAMILY);
    let idx = ifindex(&ns, "veth0");
    let v4 = format!("vrrp4-{idx}-5");
    let v6 = format!("vrrp6-{idx}-5");

    let out = ns.netvrrp(&["apply", "--no-runtime", "-f", &cfg]);
    assert!(out.status.success(), "{}", common::text(&out));

    for (dev, mac, genmode) in [
        (&v4, "00:00:5e:00:01:05", "none"),
        (&v6, "00:00:5e:00:02:05", "random"),
    ] {
        let l = link(&ns, dev).unwrap_or_else(|| panic!("{dev} missing"));
        assert_eq!(l["linkinfo"]["info_kind"], "macvlan", "{l}");
        assert_eq!(l["linkinfo"]["info_data"]["mode"], "bridge", "{l}");
        assert_eq!(l["address"], mac);
        assert_eq!(l["link"], "veth0");
        assert_eq!(l["proto_down"], true, "{l}");
        assert!(
            l["flags"].as_array().unwrap().iter().any(|f| f == "UP"),
            "{l}"
        );
        let gen_seen = l["inet6_addr_gen_mode"].as_str().unwrap_or("");
        assert_eq!(gen_seen, genmode, "{l}");
        for key in ["accept_dad", "dad_transmits", "enhanced_dad"] {
            let v = ns.ok(&["sysctl", "-n", &format!("net.ipv6.conf.{dev}.{key}")]);
            assert_eq!(String::from_utf8_lossy(&v).trim(), "0", "{dev} {key}");
        }
    }
    assert_eq!(addrs(&ns, &v4), vec!["192.0.2.1/24"]);
    assert_eq!(addrs(&ns, &v6), vec!["2001:db8::1/64"]);

    // A second apply makes no change at all.
    let out = ns.netvrrp(&["apply", "--no-runtime", "--json", "-f", &cfg]);
    assert!(out.status.success(), "{}", common::text(&out));
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["changes"], Value::Array(vec![]), "{plan}");
    assert_eq!(plan["in_sync"], true);
    assert_eq!(
        ns.netvrrp(&["diff", "--no-runtime", "--exit-code", "-f", &cfg])
            .status
            .code(),
        Some(0)
    );
    assert_eq!(
        ns.netvrrp(&["check", "--no-runtime", "-f", &cfg])
            .status
            .code(),
        Some(0)
    );

    // Drift: a VIP deleted by hand is reported, then repaired.
    ns.ok(&["ip", "addr", "del", "192.0.2.1/24", "dev", &v4]);
    let out = ns.netvrrp(&["diff", "--no-runtime", "--exit-code", "-f", &cfg]);
    assert_eq!(out.status.code(), Some(3), "{}", common::text(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("+{v4}: address 192.0.2.1/24")),
        "{text}"
    );
    assert!(
        text.contains(&format!("add address 192.0.2.1/24 dev {v4}")),
        "{text}"
    );
    let out = ns.netvrrp(&["check", "--no-runtime", "--json", "-f", &cfg]);
    assert_eq!(out.status.code(), Some(3));
    let checks: Value = serde_json::from_slice(&out.stdout).unwrap();
    let failed: Vec<&Value> = checks["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["pass"] == false)
        .collect();
    assert_eq!(failed.len(), 1, "{checks}");
    assert_eq!(failed[0]["attribute"], "address 192.0.2.1/24");
    // --dry-run changes nothing.
    assert!(
        ns.netvrrp(&["apply", "--dry-run", "-f", &cfg])
            .status
            .success()
    );
    assert!(addrs(&ns, &v4).is_empty());
    assert!(
        ns.netvrrp(&["apply", "--no-runtime", "-f", &cfg])
            .status
            .success()
    );
    assert_eq!(addrs(&ns, &v4), vec!["192.0.2.1/24"]);

    // down removes what netvrrp owns, nothing else.
    assert!(ns.netvrrp(&["down", "-f", &cfg]).status.success());
    assert!(link(&ns, &v4).is_none() && link(&ns, &v6).is_none());
    assert!(link(&ns, "veth0").is_some());
    assert_eq!(addrs(&ns, "veth0"), vec!["192.0.2.2/24"]);
}

#[test]
fn failed_apply_rolls_back_everything() {
    let ns = lab("nvroll");
    let idx = ifindex(&ns, "veth0");
    let first = write_config(
        &ns,
        "first.toml",
        r#"
[[vrrp]]
interface = "veth0"
vrid = 1
ipv4 = ["192.0.2.10/24"]
"#,
    );
    assert!(
        ns.netvrrp(&["apply", "--no-runtime", "-f", &first])
            .status
            .success()
    );
    // A second parent whose MTU is below IPv6's minimum: a macvlan on it gets no IPv6 at
    // all, so the kernel refuses the addrgenmode of vrid 2's new device, after vrid 1's VIP
    // has been changed and vrid 2's device created.
    ns.ok(&[
        "ip", "link", "add", "veth2", "mtu", "1200", "type", "veth", "peer", "name", "veth3",
    ]);
    ns.ok(&["ip", "link", "set", "veth2", "up"]);
    ns.ok(&["ip", "link", "set", "veth3", "up"]);
    ns.ok(&["ip", "addr", "add", "198.51.100.2/24", "dev", "veth2"]);
    let idx2 = ifindex(&ns, "veth2");
    let before_links = ns.ok(&["ip", "-d", "-j", "link", "show"]);
    let second = write_config(
        &ns,
        "second.toml",
        r#"
[[vrrp]]
interface = "veth0"
vrid = 1
ipv4 = ["192.0.2.11/24"]

[[vrrp]]
interface = "veth2"
vrid = 2
ipv4 = ["198.51.100.20/24"]
"#,
    );
    let out = ns.netvrrp(&["apply", "--no-runtime", "-f", &second]);
    assert_eq!(out.status.code(), Some(1), "{}", common::text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("set vrrp4-{idx2}-2 addrgenmode")),
        "{err}"
    );
    assert!(err.contains("rolled back"), "{err}");
    // The kernel is as it was.
    assert_eq!(addrs(&ns, &format!("vrrp4-{idx}-1")), vec!["192.0.2.10/24"]);
    assert!(link(&ns, &format!("vrrp4-{idx2}-2")).is_none());
    let after_links = ns.ok(&["ip", "-d", "-j", "link", "show"]);
    let names = |raw: &[u8]| -> Vec<String> {
        let v: Value = serde_json::from_slice(raw).unwrap();
        v.as_array()
            .unwrap()
            .iter()
            .map(|l| l["ifname"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(names(&before_links), names(&after_links));
}

/// Hardened hosts turn IPv6 off for new devices (`default.disable_ipv6 = 1`); the devices
/// netvrrp makes still get the IPv6 setting the plan wants (on for router devices), so the
/// apply converges in one go instead of ending in "the kernel still differs".
#[test]
fn apply_converges_when_new_devices_default_to_no_ipv6() {
    let ns = lab("nvnov6");
    ns.ok(&["sysctl", "-w", "net.ipv6.conf.default.disable_ipv6=1"]);
    let cfg = write_config(&ns, "vrrp.toml", TWO_FAMILY);
    let out = ns.netvrrp(&["apply", "--no-runtime", "-f", &cfg]);
    assert!(out.status.success(), "{}", common::text(&out));
    let idx = ifindex(&ns, "veth0");
    for family in ["4", "6"] {
        let dev = format!("vrrp{family}-{idx}-5");
        let path = format!("/proc/sys/net/ipv6/conf/{dev}/disable_ipv6");
        let v = String::from_utf8(ns.ok(&["cat", &path])).unwrap();
        assert_eq!(v.trim(), "0", "{dev}");
    }
    assert_eq!(
        addrs(&ns, &format!("vrrp6-{idx}-5")),
        vec!["2001:db8::1/64"]
    );
    let out = ns.netvrrp(&["diff", "--no-runtime", "--exit-code", "-f", &cfg]);
    assert!(out.status.success(), "{}", common::text(&out));
}

#[test]
fn foreign_devices_and_addresses_are_untouched() {
    let ns = lab("nvforeign");
    let idx = ifindex(&ns, "veth0");
    // Looks exactly like a VRRP device of vrid 9, but netvrrp never created or adopted it.
    let foreign = format!("vrrp4-{idx}-9");
    ns.ok(&[
        "ip",
        "link",
        "add",
        "link",
        "veth0",
        "name",
        &foreign,
        "address",
        "00:00:5e:00:01:09",
        "type",
        "macvlan",
        "mode",
        "bridge",
    ]);
    ns.ok(&["ip", "addr", "add", "192.0.2.99/24", "dev", &foreign]);
    ns.ok(&[
        "ip", "link", "add", "link", "veth0", "name", "mine-not", "type", "macvlan", "mode",
        "private",
    ]);
    let cfg = write_config(&ns, "vrrp.toml", TWO_FAMILY);
    assert!(
        ns.netvrrp(&["apply", "--no-runtime", "-f", &cfg])
            .status
            .success()
    );
    // Now drop router 5 from the config: its devices go, the foreign ones stay.
    let empty = write_config(&ns, "empty.toml", "# nothing\n");
    let out = ns.netvrrp(&["apply", "--no-runtime", "-f", &empty]);
    assert!(out.status.success(), "{}", common::text(&out));
    assert!(link(&ns, &format!("vrrp4-{idx}-5")).is_none());
    let l = link(&ns, &foreign).unwrap();
    assert_eq!(l["address"], "00:00:5e:00:01:09");
    assert_eq!(addrs(&ns, &foreign), vec!["192.0.2.99/24"]);
    assert!(link(&ns, "mine-not").is_some());
    assert_eq!(addrs(&ns, "veth0"), vec!["192.0.2.2/24"]);
}

/// Make a VRRP macvlan by hand with iproute2, the way FRR's documentation does (name
/// vrrp<4|6>-<ifindex>-<vrid>, bridge mode, virtual MAC at creation, addrgenmode random set
/// afterwards because this kernel refuses it inline), with a VIP.
fn frr_style_device(ns: &Netns, dev: &str, mac: &str, vip: &str) {
    ns.ok(&[
        "ip", "link", "add", "link", "veth0", "name", dev, "address", mac, "type", "macvlan",
        "mode", "bridge",
    ]);
    ns.ok(&["ip", "link", "set", dev, "addrgenmode", "random"]);
    ns.ok(&["ip", "addr", "add", vip, "dev", dev]);
    ns.ok(&["ip", "link", "set", dev, "up"]);
}

#[test]
fn autoconfigure_round_trip_on_frr_style_devices() {
    let ns = lab("nvauto");
    let idx = ifindex(&ns, "veth0");
    let v4 = format!("vrrp4-{idx}-10");
    let v6 = format!("vrrp6-{idx}-10");
    frr_style_device(&ns, &v4, "00:00:5e:00:01:0a", "192.0.2.254/24");
    frr_style_device(&ns, &v6, "00:00:5e:00:02:0a", "2001:db8::254/64");
    // Not a VRRP MAC: not discovered, whatever its name.
    ns.ok(&[
        "ip",
        "link",
        "add",
        "link",
        "veth0",
        "name",
        "vrrp4-99-99",
        "type",
        "macvlan",
    ]);
    // An ifupdown2-style name with a VRRP MAC: discovered by MAC.
    ns.ok(&[
        "ip",
        "link",
        "add",
        "link",
        "veth0",
        "name",
        "veth0-v1",
        "address",
        "00:00:5e:00:01:07",
        "type",
        "macvlan",
        "mode",
        "bridge",
    ]);
    ns.ok(&["ip", "addr", "add", "192.0.2.77/24", "dev", "veth0-v1"]);

    let out_path = ns.dir().join("auto.toml");
    let existing = "# operator's notes stay\n[defaults]\npriority = 120\n";
    fs::write(&out_path, existing).unwrap();
    let out_s = out_path.to_string_lossy().into_owned();
    let out = ns.netvrrp(&["autoconfigure", "-o", &out_s]);
    assert!(out.status.success(), "{}", common::text(&out));
    let toml = fs::read_to_string(&out_path).unwrap();
    assert!(toml.contains("# operator's notes stay"), "{toml}");
    assert!(toml.contains("priority = 120"), "{toml}");
    assert!(
        toml.contains("vrid = 10") && toml.contains("vrid = 7"),
        "{toml}"
    );
    assert!(
        toml.contains("192.0.2.254/24") && toml.contains("2001:db8::254/64"),
        "{toml}"
    );
    assert!(
        !toml.contains("fe80"),
        "link-locals must not be VIPs: {toml}"
    );
    assert!(!toml.contains("vrid = 99"), "{toml}");
    let out = ns.netvrrp(&["validate", "-f", &out_s]);
    assert!(out.status.success(), "{}\n{toml}", common::text(&out));

    // Applying it adopts the devices: nothing is created, deleted or renamed and no address
    // changes; only the attributes FRR's recipe leaves out are set (addrgenmode none on vrrp4,
    // DAD off, protodown on). The one address removed is the vrrp4 devices' own link-local,
    // which the kernel made under the old addrgenmode (removed instead of a flap that would
    // flush the VIPs; netvrrp's vrrp4 devices have none).
    let out = ns.netvrrp(&["apply", "--no-runtime", "--json", "-f", &out_s]);
    assert!(out.status.success(), "{}", common::text(&out));
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    for op in plan["changes"].as_array().unwrap() {
        let kind = op["op"].as_str().unwrap();
        let own_link_local = kind == "del-address"
            && op["device"].as_str().unwrap().starts_with("vrrp4-")
            && op["address"].as_str().unwrap().starts_with("fe80:");
        assert!(
            own_link_local
                || ![
                    "create-macvlan",
                    "delete-macvlan",
                    "add-address",
                    "del-address"
                ]
                .contains(&kind),
            "unexpected {op}"
        );
    }
    // The ifupdown2-named device keeps its name? No: identity wins and it is renamed to the
    // convention, not duplicated.
    assert!(link(&ns, &format!("vrrp4-{idx}-7")).is_some());
    assert!(link(&ns, "veth0-v1").is_none());
    // From now on the round trip is exact: a fresh autoconfigure of the adopted devices
    // applies as a no-op.
    let out = ns.netvrrp(&["autoconfigure"]);
    assert!(out.status.success());
    let again = write_config(&ns, "again.toml", &String::from_utf8_lossy(&out.stdout));
    let out = ns.netvrrp(&["apply", "--no-runtime", "--json", "-f", &again]);
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["in_sync"], true, "{plan}");
}

#[test]
fn bad_input_changes_nothing() {
    let ns = lab("nvbad");
    let before = ns.ok(&["ip", "-j", "link", "show"]);
    let bad = write_config(
        &ns,
        "bad.toml",
        "[[vrrp]]\ninterface = \"veth0\"\nvrid = 300\nipv4 = [\"192.0.2.1/24\"]\n",
    );
    let out = ns.netvrrp(&["apply", "--no-runtime", "-f", &bad]);
    assert_eq!(out.status.code(), Some(65), "{}", common::text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.toml:3:"), "{err}");
    // A missing parent interface.
    let missing = write_config(
        &ns,
        "missing.toml",
        "[[vrrp]]\ninterface = \"nope0\"\nvrid = 3\nipv4 = [\"192.0.2.1/24\"]\n",
    );
    let out = ns.netvrrp(&["apply", "--no-runtime", "-f", &missing]);
    assert_eq!(out.status.code(), Some(1), "{}", common::text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope0"));
    // A parent that is down.
    ns.ok(&["ip", "link", "set", "veth1", "down"]);
    ns.ok(&["ip", "link", "set", "veth0", "down"]);
    let down = write_config(
        &ns,
        "down.toml",
        "[[vrrp]]\ninterface = \"veth0\"\nvrid = 3\nipv4 = [\"192.0.2.1/24\"]\n",
    );
    let out = ns.netvrrp(&["apply", "--no-runtime", "-f", &down]);
    assert_eq!(out.status.code(), Some(1), "{}", common::text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("administratively down"));
    ns.ok(&["ip", "link", "set", "veth0", "up"]);
    ns.ok(&["ip", "link", "set", "veth1", "up"]);
    let after = ns.ok(&["ip", "-j", "link", "show"]);
    let names = |raw: &[u8]| -> Vec<String> {
        let v: Value = serde_json::from_slice(raw).unwrap();
        v.as_array()
            .unwrap()
            .iter()
            .map(|l| l["ifname"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(names(&before), names(&after));
}

#[test]
fn concurrent_apply_is_refused_cleanly() {
    let ns = lab("nvlock");
    let cfg = write_config(&ns, "vrrp.toml", TWO_FAMILY);
    // Hold the run-dir lock the way a running apply does.
    let lock = ns.run_dir().join("netvrrp.lock");
    fs::create_dir_all(ns.run_dir()).unwrap();
    use std::os::unix::process::CommandExt;
    // Its own process group, so killing the group also kills the `sleep` holding the lock.
    let mut holder = std::process::Command::new("flock")
        .arg(&lock)
        .args(["sleep", "30"])
        .process_group(0)
        .spawn()
        .unwrap();
    // Wait until the holder has the lock (a non-blocking `flock` then fails), not a fixed
    // time: under load the holder may take longer than any sleep to start.
    common::wait_until(
        std::time::Duration::from_secs(10),
        || "flock holder never took the lock".to_string(),
        || {
            let free = std::process::Command::new("flock")
                .args(["-n"])
                .arg(&lock)
                .arg("true")
                .status()
                .map(|s| s.success())
                .unwrap_or(true);
            (!free).then_some(())
        },
    );
    let out = ns.netvrrp(&["apply", "--no-runtime", "-f", &cfg]);
    let _ = std::process::Command::new("kill")
        .args(["-9", "--", &format!("-{}", holder.id())])
        .status();
    let _ = holder.wait();
    assert_eq!(out.status.code(), Some(1), "{}", common::text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("another netvrrp"));
    // Once the lock is free, apply works. The holder's `sleep` child keeps the lock until the
    // kernel has torn it down, a moment after the kill: wait for that, as for the taking.
    common::wait_until(
        std::time::Duration::from_secs(10),
        || "the killed holder never released the lock".to_string(),
        || {
            std::process::Command::new("flock")
                .args(["-n"])
                .arg(&lock)
                .arg("true")
                .status()
                .ok()
                .filter(|s| s.success())
                .map(|_| ())
        },
    );
    assert!(
        ns.netvrrp(&["apply", "--no-runtime", "-f", &cfg])
            .status
            .success()
    );
}

/// A device netvrrp creates queues link-watch work in the kernel (its carrier events); apply
/// settles it before the device goes up, while it costs nothing. Left queued, the kernel's
/// worker ran it later on the device that is then up without carrier (protodown): a queue
/// deactivation with an RCU grace period each, under the rtnl lock, at 100 devices a second,
/// and the first transition to Master waited for it (bench/vrrs_fanout.sh). That late work
/// announces itself with one RTM_NEWLINK per device; after apply returns there must be none.
#[test]
fn created_devices_leave_no_link_watch_work_behind() {
    let ns = lab("nvlwatch");
    let mut text = String::new();
    for vrid in 1..=40 {
        text += &format!(
            "[[vrrp]]\ninterface = \"veth0\"\nvrid = {vrid}\nipv4 = [\"198.51.100.{vrid}/24\"]\n\n"
        );
    }
    let cfg = write_config(&ns, "many.toml", &text);
    let log = ns.dir().join("monitor.txt");
    let file = fs::File::create(&log).unwrap();
    // Line-buffered, so what has been announced is in the file.
    let mut monitor = std::process::Command::new("stdbuf");
    monitor
        .args(["-oL", "ip", "-n", ns.name(), "monitor", "link"])
        .stdout(file);
    ns.spawn(monitor);
    // Markers in the notification stream (MTU changes of veth1): the monitor is listening,
    // apply has returned, the wait is over.
    let mark = |mtu: &str| ns.ok(&["ip", "link", "set", "veth1", "mtu", mtu]);
    let seen = |mtu: &str| {
        fs::read_to_string(&log)
            .unwrap_or_default()
            .contains(&format!("mtu {mtu} "))
    };
    let mut tries = 0;
    common::wait_until(
        std::time::Duration::from_secs(5),
        || "ip monitor link is not listening".into(),
        || {
            // A new value each time: setting the same MTU again announces nothing.
            tries += 1;
            let mtu = (1300 + tries).to_string();
            mark(&mtu);
            seen(&mtu).then_some(())
        },
    );
    let out = ns.netvrrp(&["apply", "--no-runtime", "-f", &cfg]);
    assert!(out.status.success(), "{}", common::text(&out));
    mark("1492");
    // The kernel's worker takes queued non-urgent link events once a second, 100 at a time.
    std::thread::sleep(std::time::Duration::from_millis(2500));
    mark("1493");
    common::wait_until(
        std::time::Duration::from_secs(5),
        || "the last marker never arrived".into(),
        || seen("1493").then_some(()),
    );
    let all = fs::read_to_string(&log).unwrap();
    let after: Vec<&str> = all
        .split_once("mtu 1492 ")
        .map(|(_, rest)| rest)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("vrrp4-"))
        .collect();
    let created = all.lines().filter(|l| l.contains("vrrp4-")).count();
    assert!(
        created >= 40,
        "apply's own notifications are missing:\n{all}"
    );
    assert!(
        after.is_empty(),
        "{} link notifications of created devices after apply returned:\n{}",
        after.len(),
        after.join("\n")
    );
}

/// A verify that cannot pass rolls the whole transaction back and exits 1. The trigger:
/// another program adds an address to the device netvrrp creates as soon as it appears, so
/// the changes all succeed but the kernel never matches the file within that apply. Whether
/// it gets in before the verification is a race (the kernel offers no change it accepts and
/// silently ignores), so the apply is repeated until it does; every apply it lost must have
/// succeeded and is undone with `down` before the next.
#[test]
fn a_verify_that_cannot_pass_rolls_everything_back() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let ns = lab("nvverify");
    let cfg = write_config(
        &ns,
        "fight.toml",
        "[[vrrp]]\ninterface = \"veth0\"\nvrid = 5\nipv4 = [\"192.0.2.1/24\"]\nipv6 = [\"2001:db8::1/64\"]\n",
    );
    let idx = ifindex(&ns, "veth0");
    let dev = format!("vrrp4-{idx}-5");
    let mut lost = 0;
    let out = loop {
        let stop = Arc::new(AtomicBool::new(false));
        let fighter = {
            let (ns_name, dev, stop) = (ns.name().to_string(), dev.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let _ = std::process::Command::new("ip")
                        .args([
                            "-n",
                            &ns_name,
                            "addr",
                            "add",
                            "198.51.100.9/24",
                            "dev",
                            &dev,
                        ])
                        .stderr(std::process::Stdio::null())
                        .status();
                }
            })
        };
        let out = ns.netvrrp(&["apply", "--no-runtime", "-f", &cfg]);
        stop.store(true, Ordering::SeqCst);
        fighter.join().unwrap();
        if out.status.code() != Some(0) {
            break out;
        }
        lost += 1;
        assert!(
            lost < 50,
            "the other program never got in before the verification"
        );
        let down = ns.netvrrp(&["down", "-f", &cfg]);
        assert!(down.status.success(), "{}", common::text(&down));
    };
    assert_eq!(out.status.code(), Some(1), "{}", common::text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("still differs"), "{err}");
    assert!(err.contains("198.51.100.9/24"), "{err}");
    assert!(
        err.contains("rolled back") && err.contains("the kernel is as it was"),
        "{err}"
    );
    for family in ["4", "6"] {
        let dev = format!("vrrp{family}-{idx}-5");
        assert!(link(&ns, &dev).is_none(), "{dev} left behind");
    }
    let owned = fs::read_to_string(ns.run_dir().join("owned.json")).unwrap_or_default();
    assert!(!owned.contains("vrrp"), "ownership recorded: {owned}");
}

/// A link-local VIP (the virtual router's link-local, RFC 9568 5.2.9) applies, verifies,
/// diffs and checks like any other VIP; the link-local the kernel makes on the device when it
/// gets carrier is left alone; a link-local VIP that leaves the file is removed.
#[test]
fn a_link_local_vip_applies_diffs_and_checks() {
    let ns = lab("nvllvip");
    let idx = ifindex(&ns, "veth0");
    let v6 = format!("vrrp6-{idx}-5");
    let with = write_config(
        &ns,
        "ll.toml",
        "[[vrrp]]\ninterface = \"veth0\"\nvrid = 5\nipv6 = [\"2001:db8::1/64\", \"fe80::77/64\"]\n",
    );
    let out = ns.netvrrp(&["apply", "--no-runtime", "-f", &with]);
    assert!(out.status.success(), "{}", common::text(&out));
    assert!(addrs_in_scope(&ns, &v6, true).contains(&"fe80::77/64".to_string()));
    let diff = ns.netvrrp(&["diff", "--no-runtime", "--exit-code", "-f", &with]);
    assert!(diff.status.success(), "{}", common::text(&diff));
    let check = ns.netvrrp(&["check", "--no-runtime", "-f", &with]);
    assert!(check.status.success(), "{}", common::text(&check));
    assert!(String::from_utf8_lossy(&check.stdout).contains("fe80::77/64"));

    // Carrier (as a Master has): addrconf adds the kernel's own link-local, which is not a
    // difference.
    ns.ok(&["ip", "link", "set", &v6, "protodown", "off"]);
    common::wait_until(
        std::time::Duration::from_secs(10),
        || {
            format!(
                "the kernel's link-local on {v6}: {:?}",
                addrs_in_scope(&ns, &v6, true)
            )
        },
        || (addrs_in_scope(&ns, &v6, true).len() == 2).then_some(()),
    );
    ns.ok(&["ip", "link", "set", &v6, "protodown", "on"]);
    let diff = ns.netvrrp(&["diff", "--no-runtime", "--exit-code", "-f", &with]);
    assert!(diff.status.success(), "{}", common::text(&diff));

    // Drift: the VIP removed by hand is a difference, and apply puts it back.
    ns.ok(&["ip", "addr", "del", "fe80::77/64", "dev", &v6]);
    let check = ns.netvrrp(&["check", "--no-runtime", "-f", &with]);
    assert_eq!(check.status.code(), Some(3), "{}", common::text(&check));
    let diff = ns.netvrrp(&["diff", "--no-runtime", "--exit-code", "-f", &with]);
    assert_eq!(diff.status.code(), Some(3), "{}", common::text(&diff));
    assert!(String::from_utf8_lossy(&diff.stdout).contains("add address fe80::77/64"));
    let out = ns.netvrrp(&["apply", "--no-runtime", "-f", &with]);
    assert!(out.status.success(), "{}", common::text(&out));
    assert!(addrs_in_scope(&ns, &v6, true).contains(&"fe80::77/64".to_string()));

    // Out of the file: removed; the kernel's link-local stays.
    let without = write_config(
        &ns,
        "global.toml",
        "[[vrrp]]\ninterface = \"veth0\"\nvrid = 5\nipv6 = [\"2001:db8::1/64\"]\n",
    );
    let out = ns.netvrrp(&["apply", "--no-runtime", "-f", &without]);
    assert!(out.status.success(), "{}", common::text(&out));
    let left = addrs_in_scope(&ns, &v6, true);
    assert_eq!(left.len(), 1, "{left:?}");
    assert_ne!(left[0], "fe80::77/64");
}
