//! Recovery from a run-dir that cannot be written (ENOSPC): the run-dir is a small tmpfs,
//! filled up, in a private mount namespace (`unshare -m`), so nothing outside the test sees
//! it.
//!
//! - `apply` that changed the kernel and then cannot record owned.json undoes the changes
//!   (no device is left behind that the next apply would take for a foreign one).
//! - the runtime keeps running when masters.json cannot be written: the write stays pending,
//!   is counted in the metrics, and lands once there is space again.

mod common;

use common::{Netns, text, wait_until};
use std::process::Command;
use std::time::Duration;

fn config(extra: &str) -> String {
    format!(
        r#"{extra}
[defaults]
advertisement-interval = 100

[[vrrp]]
interface = "veth0"
vrid = 9
priority = 200
ipv4 = ["192.0.2.9/24"]
"#
    )
}

/// `netvrrp ARGS` in a private mount namespace whose run-dir is a 256 KiB tmpfs filled to
/// the last block (`fill` left in it), with `seed` (a file to copy in) before the fill.
fn in_full_run_dir(ns: &Netns, args: &[&str], seed: Option<&std::path::Path>) -> Command {
    let run = ns.run_dir().display().to_string();
    let nv = ns.netvrrp_command(args);
    let mut line: Vec<String> = vec![nv.get_program().to_string_lossy().into_owned()];
    line.extend(nv.get_args().map(|a| a.to_string_lossy().into_owned()));
    let quoted: Vec<String> = line.iter().map(|a| format!("'{a}'")).collect();
    let copy = seed.map_or(String::new(), |f| {
        let name = f.file_name().unwrap_or_default().to_string_lossy();
        format!("cp '{}' '{run}/{name}' && ", f.display())
    });
    let script = format!(
        "mount -t tmpfs -o size=256k,mode=0700 netvrrp-full '{run}' && {copy}\
         (dd if=/dev/zero of='{run}/fill' bs=4k 2>/dev/null; true) && exec {}",
        quoted.join(" ")
    );
    let mut cmd = Command::new("unshare");
    cmd.args(["-m", "--propagation", "private", "sh", "-c", &script]);
    cmd
}

/// A directory outside the run-dir (which the tmpfs hides), removed on drop.
struct Outside(std::path::PathBuf);

impl Outside {
    fn new(ns: &Netns) -> Outside {
        let d = std::env::temp_dir().join(format!("netvrrp-test-{}-outside", ns.name()));
        std::fs::create_dir_all(&d).expect("create the outside dir");
        Outside(d)
    }
}

impl Drop for Outside {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn vrrp_devices(ns: &Netns) -> Vec<String> {
    ns.ip_json(&["link", "show"])
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| l["ifname"].as_str())
        .filter(|n| n.starts_with("vrrp"))
        .map(String::from)
        .collect()
}

#[test]
fn apply_that_cannot_record_owned_devices_rolls_the_kernel_back() {
    let ns = Netns::new("nvrfull");
    ns.veth("veth0", "veth1");
    ns.ip_ok(&["addr", "add", "192.0.2.2/24", "dev", "veth0"]);
    let outside = Outside::new(&ns);
    let cfg = outside.0.join("vrrp.toml");
    std::fs::write(&cfg, config("")).expect("write config");
    let cfg_s = cfg.to_string_lossy().into_owned();

    let out = in_full_run_dir(&ns, &["apply", "--no-runtime", "-f", &cfg_s], None)
        .output()
        .expect("run unshare");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let said = text(&out);
    assert!(
        said.contains("cannot record the devices netvrrp owns"),
        "{said}"
    );
    assert!(said.contains("No space left on device"), "{said}");
    // The device was made, then undone.
    assert!(
        said.contains("rolled back") && !said.contains("rolled back 0 "),
        "{said}"
    );
    assert_eq!(vrrp_devices(&ns), Vec::<String>::new(), "{said}");

    // With room again, the same apply succeeds and records its device.
    let out = ns.netvrrp(&["apply", "--no-runtime", "-f", &cfg_s]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(vrrp_devices(&ns).len(), 1);
    let out = ns.netvrrp(&["down", "-f", &cfg_s]);
    assert!(out.status.success(), "{}", text(&out));
}

/// The runtime's metrics (it serves them on loopback of its namespace).
fn scrape(ns: &Netns) -> Option<String> {
    ns.block_on(|| async {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect("127.0.0.1:10112")
            .await
            .ok()?;
        s.write_all(b"GET /metrics HTTP/1.1\r\n\r\n").await.ok()?;
        let mut out = String::new();
        s.read_to_string(&mut out).await.ok()?;
        Some(out)
    })
}

fn sample(body: &str, name: &str) -> Option<f64> {
    body.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn runtime_retries_masters_json_until_there_is_room() {
    let ns = Netns::new("nvrmast");
    ns.veth("veth0", "veth1");
    ns.ip_ok(&["addr", "add", "192.0.2.2/24", "dev", "veth0"]);
    let outside = Outside::new(&ns);
    let cfg = outside.0.join("vrrp.toml");
    std::fs::write(
        &cfg,
        config("[runtime]\nmetrics-listen = \"127.0.0.1:10112\"\n"),
    )
    .expect("write config");
    let cfg_s = cfg.to_string_lossy().into_owned();
    // Devices first (on the real run-dir), then the runtime in the full one: its pid file
    // and masters.json cannot be written, and neither stops it.
    let out = ns.netvrrp(&["apply", "--no-runtime", "-f", &cfg_s]);
    assert!(out.status.success(), "{}", text(&out));
    // The runtime needs the record of its devices: owned.json goes in before the fill.
    let saved = outside.0.join("owned.json");
    std::fs::copy(ns.run_dir().join("owned.json"), &saved).expect("copy owned.json");
    let run = ns.run_dir().display().to_string();
    let cmd = in_full_run_dir(&ns, &["run", "-f", &cfg_s], Some(&saved));
    let pid = ns.spawn(cmd);
    let failures = wait_until(
        Duration::from_secs(15),
        || "a Master with masters.json failing to be written".into(),
        || {
            let body = scrape(&ns)?;
            let master = body.contains(r#"state="master"} 1"#);
            let n = sample(&body, "netvrrp_runtime_state_write_failures_total")?;
            // The pid file, then masters.json at least twice: a failed write stays pending
            // and is tried again.
            (master && n >= 3.0).then_some(n)
        },
    );
    assert!(failures >= 3.0);
    // Room again (the runtime's view of its run-dir, through /proc): masters.json appears.
    let full = format!("/proc/{pid}/root{run}");
    std::fs::remove_file(format!("{full}/fill")).expect("remove the filler");
    wait_until(
        Duration::from_secs(10),
        || "masters.json written once there is room".into(),
        || {
            let t = std::fs::read_to_string(format!("{full}/masters.json")).ok()?;
            t.contains("veth0").then_some(())
        },
    );
    let body = scrape(&ns).expect("metrics");
    assert!(body.contains(r#"state="master"} 1"#), "{body}");
}
