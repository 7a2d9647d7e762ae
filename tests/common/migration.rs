//! Support for the migration tests (issue 19): segments of namespaces on a bridge, the
//! keepalived and FRR daemons netvrrp takes over from, and a host pinging the VIPs every
//! 10 ms whose lost replies are counted from ping's sequence numbers.

use super::{Netns, text, wait_until};

pub fn state(ns: &Netns) -> Option<String> {
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
pub fn segment(prefix: &str, addrs: &[&str]) -> (Vec<Netns>, Netns) {
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
pub fn wait_state(ns: &Netns, want: &str) {
    wait_until(
        std::time::Duration::from_secs(20),
        || format!("{} is {:?}, not {want}", ns.name(), state(ns)),
        || (state(ns).as_deref() == Some(want)).then_some(()),
    );
}

/// keepalived in `ns` with `conf` (foreground, VRRP only, pid files in the namespace's
/// directory); killed with the namespace.
pub fn start_keepalived(ns: &Netns, conf: &std::path::Path) {
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
pub fn stop_keepalived(ns: &Netns) {
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
    wait_until(
        std::time::Duration::from_secs(10),
        || format!("keepalived {pid} still running"),
        || (!file.exists()).then_some(()),
    );
}

pub fn has_vip(ns: &Netns, dev: &str, vip: &str) -> bool {
    ns.ip_ok(&["-o", "addr", "show", "dev", dev])
        .contains(&format!("inet {vip}/"))
}

/// FRR (zebra + vrrpd) in `ns` with `vrrpd_conf`, its files under `<dir>/frr` (owned by
/// FRR's user, which its daemons drop to). Killed with the namespace.
pub fn start_frr(ns: &Netns, vrrpd_conf: &str) {
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
        wait_until(
            std::time::Duration::from_secs(10),
            || format!("{daemon} did not start"),
            || (pid.exists() && (daemon != "zebra" || d.join("zserv.api").exists())).then_some(()),
        );
    }
}

pub fn stop_vrrpd(ns: &Netns) {
    let pid = std::fs::read_to_string(ns.dir().join("frr/vrrpd.pid")).unwrap_or_default();
    let pid = pid.trim().to_string();
    assert!(!pid.is_empty(), "vrrpd is not running in {}", ns.name());
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status();
    wait_until(
        std::time::Duration::from_secs(10),
        || format!("vrrpd {pid} still running"),
        || (!std::path::Path::new(&format!("/proc/{pid}")).exists()).then_some(()),
    );
}

/// Is the FRR router's macvlan up for business (protodown off: FRR's Master)?
pub fn frr_master(ns: &Netns, dev: &str) -> bool {
    let v = ns.ip_json(&["-d", "link", "show", "dev", dev]);
    // iproute2 writes the key only while protodown is on.
    v[0]["proto_down"].as_bool() != Some(true)
}

/// A `ping` from `ns` to `target` every 10 ms (`-6` for IPv6), its output in `out`;
/// killed with the namespace.
pub fn start_ping(ns: &Netns, target: &str, out: &std::path::Path) {
    let file = std::fs::File::create(out).unwrap();
    let mut cmd = std::process::Command::new("ip");
    cmd.args([
        "netns",
        "exec",
        ns.name(),
        "ping",
        "-n",
        "-D",
        "-i",
        "0.01",
        target,
    ])
    .stdout(file)
    .stderr(std::process::Stdio::null());
    ns.spawn(cmd);
}

/// The sequence numbers `ping` got a reply for (its output so far).
pub fn replied(out: &std::path::Path) -> std::collections::BTreeSet<u32> {
    std::fs::read_to_string(out)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("bytes from") && !l.contains("DUP!"))
        .filter_map(|l| l.split("icmp_seq=").nth(1)?.split(' ').next()?.parse().ok())
        .collect()
}

/// Wait until `ping`'s replies reach past sequence `after` by `more`; the highest replied.
pub fn wait_replies(out: &std::path::Path, after: u32, more: u32) -> u32 {
    wait_until(
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
pub fn ping_vips<'a>(
    h: &Netns,
    vips: [&'a str; 2],
) -> ([(&'a str, std::path::PathBuf); 2], Vec<u32>) {
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

/// The sequence numbers `ping` (output in `out`) got no reply for, from `first` to `last`.
pub fn lost_replies(out: &std::path::Path, first: u32, last: u32) -> Vec<u32> {
    let got = replied(out);
    (first..=last).filter(|s| !got.contains(s)).collect()
}

/// `addr` (IPv6, no DAD) on `ns`'s eth0.
pub fn add_ipv6(ns: &Netns, addr: &str) {
    ns.ip_ok(&["-6", "addr", "add", addr, "dev", "eth0", "nodad"]);
}

/// `autoconfigure FLAG SOURCE -o <dir>/vrrp.toml` in `ns` (FLAG: `--from-frr` or
/// `--from-keepalived`), which must succeed; the file written.
pub fn autoconfigure_into(ns: &Netns, flag: &str, source: &std::path::Path) -> std::path::PathBuf {
    let toml = ns.dir().join("vrrp.toml");
    let out = ns.netvrrp(&[
        "autoconfigure",
        flag,
        &source.to_string_lossy(),
        "-o",
        &toml.to_string_lossy(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    toml
}

/// Let the `ping` of `vip` (output in `out`, first reply `first`) get 20 more replies, then
/// assert that at most `bound` sequence numbers between went without one (`context` in the
/// failure message); the count is printed for the record.
pub fn assert_lost_at_most(
    vip: &str,
    out: &std::path::Path,
    first: u32,
    bound: usize,
    context: &str,
) {
    let now = replied(out).last().copied().unwrap_or(0);
    let last = wait_replies(out, now, 20);
    let lost = lost_replies(out, first, last);
    // Replies held back (a neighbour being resolved) are not lost but show here.
    let slowest = std::fs::read_to_string(out)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            l.split("time=")
                .nth(1)?
                .split(' ')
                .next()?
                .parse::<f64>()
                .ok()
        })
        .fold(0.0, f64::max);
    eprintln!(
        "{vip}: {} of icmp_seq {first}..={last} without a reply: {lost:?}; slowest reply {slowest} ms",
        lost.len()
    );
    if lost.len() > bound {
        // The replies around the first and the last loss, with ping's time stamps.
        let text = std::fs::read_to_string(out).unwrap_or_default();
        let edges: Vec<&str> = [lost[0].saturating_sub(1), lost[lost.len() - 1] + 1]
            .iter()
            .filter_map(|s| {
                let key = format!("icmp_seq={s} ");
                text.lines().find(|l| l.contains(&key))
            })
            .collect();
        panic!(
            "{vip}: {} replies lost (more than {bound}): {lost:?}\naround: {edges:#?}\n{context}",
            lost.len()
        );
    }
}

/// Whether keepalived is installed (tests that need it are skipped without).
pub fn keepalived_installed() -> bool {
    std::process::Command::new("keepalived")
        .arg("--version")
        .output()
        .is_ok()
}

/// The first `apply -f file` on `r`, which must succeed and converge at once (`diff
/// --exit-code` clean) with the IPv4 router Master; what it printed.
pub fn apply_converges_to_master(r: &Netns, file: &str) -> String {
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
    applied
}
