//! `apply` hands off to the systemd unit (issue 20, item 5; src/daemon/service.rs), against a
//! real systemd: /lib/systemd/systemd as PID 1 of new PID, mount, network, UTS and cgroup
//! namespaces (`container=` set), in a cgroup of its own, with private tmpfs on /run, on
//! the unit directories (the only units are a test target and examples/netvrrp.service,
//! ExecStart pointing at /usr/local/sbin/netvrrp) and on /usr/local/sbin (the built binary
//! bind-mounted there, so the unit's ProtectHome= cannot hide a target dir under /home). Nothing of the host's services, units, /run or network is visible to it; dropping
//! the guard SIGKILLs that PID 1 (its namespace dies with it) and removes its cgroup.
//!
//! Checked: with the unit installed and stopped, `apply` starts it (systemd's MainPID is the
//! runtime, no supervisor of ours), a second `apply` of an edited file reloads that runtime
//! in place and prints the per-router result, `apply` of another file is refused with the
//! unit's file named and nothing changed, the unit's own `systemctl reload` (validate,
//! SIGHUP) works in the hardened sandbox, and `apply` for another run-dir starts a supervised
//! runtime of its own and leaves the unit alone.

mod common;

use common::{text, wait_until};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

const SYSTEMD: &str = "/lib/systemd/systemd";
const LIMIT: Duration = Duration::from_secs(30);

/// Runs on the host: a cgroup of its own (the cgroup namespace's root), then the namespaces.
const BOOT: &str = r#"
set -eu
dir=$1 cgroup=$2 bin=$3
mkdir "$cgroup"
echo $$ > "$cgroup/cgroup.procs"
exec unshare --pid --fork --mount --net --uts --cgroup --propagation private sh "$dir/inner.sh" "$dir" "$3"
"#;

/// PID 1 of the new namespaces, before it becomes systemd.
const INNER: &str = r#"
set -eu
dir=$1 bin=$2
mount -t proc proc /proc
mount -t tmpfs -o mode=755 tmpfs /run
mount -t tmpfs -o mode=755 tmpfs /usr/lib/systemd/system
mount -t tmpfs -o mode=755 tmpfs /etc/systemd/system
mount -t tmpfs -o mode=755 tmpfs /usr/local/sbin
# Only the cgroup2 view of our own cgroup (systemd runs in unified mode).
mount -t cgroup2 cgroup2 /sys/fs/cgroup
touch /usr/local/sbin/netvrrp
mount --bind "$bin" /usr/local/sbin/netvrrp
# The boot target, and the targets a service's default dependencies and the unit name.
for t in nvtest sysinit basic shutdown network-online multi-user; do
    printf '[Unit]\nDescription=%s (test stub)\n' "$t" > "/usr/lib/systemd/system/$t.target"
done
cp "$dir/netvrrp.service" /etc/systemd/system/netvrrp.service
mkdir -p /etc/systemd/system/netvrrp.service.d /run/nvtest
cp "$dir/output.conf" /etc/systemd/system/netvrrp.service.d/
cp "$dir/vrrp.toml" "$dir/other.toml" /run/nvtest/
ip link set lo up
ip link add eth0 type veth peer name peer0
ip link set eth0 up
ip link set peer0 up
ip addr add 192.0.2.2/24 dev eth0
export container=netvrrp-test
exec /lib/systemd/systemd --unit=nvtest.target --log-target=console
"#;

fn config(vrid: u8, priority: u8) -> String {
    format!(
        "[defaults]\nadvertisement-interval = 100\n\n[[vrrp]]\nname = \"unit\"\ninterface = \"eth0\"\nvrid = {vrid}\npriority = {priority}\nipv4 = [\"192.0.2.{vrid}/24\"]\n"
    )
}

/// The v2 cgroup hierarchy: /sys/fs/cgroup (unified) or /sys/fs/cgroup/unified (hybrid).
fn cgroup2_root() -> Option<PathBuf> {
    ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.join("cgroup.procs").exists() && p.join("cgroup.subtree_control").exists())
}

/// A systemd booted in its own namespaces; see the module documentation.
struct Systemd {
    boot: Child,
    /// systemd's pid as the host sees it.
    pid: u32,
    cgroup: PathBuf,
    dir: PathBuf,
}

impl Systemd {
    fn boot(tag: &str) -> Option<Systemd> {
        let cgroup_root = cgroup2_root();
        if !Path::new(SYSTEMD).exists() || cgroup_root.is_none() {
            assert!(
                std::env::var_os("NETVRRP_REQUIRE_JOURNALD").is_none(),
                "NETVRRP_REQUIRE_JOURNALD is set but {SYSTEMD} or a cgroup2 hierarchy is missing"
            );
            eprintln!("{SYSTEMD} or cgroup2 missing: skipping");
            return None;
        }
        let name = format!("netvrrp-test-{tag}-{}", std::process::id());
        let dir = std::env::temp_dir().join(&name);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let cgroup = cgroup_root.unwrap().join(&name);
        std::fs::write(dir.join("inner.sh"), INNER).unwrap();
        // The packaged unit, pointed at the test's binary and file.
        let unit = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/examples/netvrrp.service"
        ))
        .unwrap()
        .replace("/usr/sbin/netvrrp", "/usr/local/sbin/netvrrp")
        .replace("/etc/network/vrrp.toml", "/run/nvtest/vrrp.toml");
        std::fs::write(dir.join("netvrrp.service"), unit).unwrap();
        // No journald in there: the runtime's output in a file the test can show.
        std::fs::write(
            dir.join("output.conf"),
            "[Service]\nStandardOutput=append:/run/nvtest/unit.log\nStandardError=inherit\n",
        )
        .unwrap();
        std::fs::write(dir.join("vrrp.toml"), config(9, 200)).unwrap();
        std::fs::write(dir.join("other.toml"), config(10, 50)).unwrap();
        std::fs::write(dir.join("edited.toml"), config(9, 150)).unwrap();
        let log = std::fs::File::create(dir.join("systemd.log")).unwrap();
        let boot = Command::new("sh")
            .args(["-c", BOOT, "sh"])
            .arg(&dir)
            .arg(&cgroup)
            .arg(env!("CARGO_BIN_EXE_netvrrp"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start the namespaces");
        let mut s = Systemd {
            boot,
            pid: 0,
            cgroup,
            dir,
        };
        // PID 1 of the namespace: the child of `unshare --fork`, running systemd.
        s.pid = wait_until(LIMIT, || s.log(), || s.find_systemd());
        wait_until(
            LIMIT,
            || s.log(),
            || {
                let out = s.exec(&["systemctl", "is-system-running"]);
                let state = String::from_utf8_lossy(&out.stdout).trim().to_string();
                matches!(state.as_str(), "running" | "degraded").then_some(())
            },
        );
        Some(s)
    }

    fn find_systemd(&self) -> Option<u32> {
        let procs = std::fs::read_to_string(self.cgroup.join("cgroup.procs")).ok()?;
        let mut all: Vec<u32> = procs.lines().filter_map(|l| l.parse().ok()).collect();
        // systemd moves itself into init.scope below.
        if let Ok(p) = std::fs::read_to_string(self.cgroup.join("init.scope/cgroup.procs")) {
            all.extend(p.lines().filter_map(|l| l.parse::<u32>().ok()));
        }
        all.into_iter().find(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| c.starts_with(SYSTEMD.as_bytes()))
        })
    }

    fn log(&self) -> String {
        let read = |p: &str| std::fs::read_to_string(self.dir.join(p)).unwrap_or_default();
        format!("systemd:\n{}", read("systemd.log"))
    }

    /// `args` inside systemd's namespaces.
    fn exec(&self, args: &[&str]) -> Output {
        Command::new("nsenter")
            .args([
                "-t",
                &self.pid.to_string(),
                "-m",
                "-p",
                "-n",
                "-u",
                "--wd=/",
            ])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run nsenter")
    }

    fn netvrrp(&self, args: &[&str]) -> Output {
        let mut all = vec!["/usr/local/sbin/netvrrp"];
        all.extend_from_slice(args);
        self.exec(&all)
    }

    fn unit_log(&self) -> String {
        String::from_utf8_lossy(&self.exec(&["cat", "/run/nvtest/unit.log"]).stdout).into_owned()
    }

    /// `systemctl show -p PROP --value netvrrp.service`.
    fn unit(&self, prop: &str) -> String {
        let out = self.exec(&[
            "systemctl",
            "show",
            "-p",
            prop,
            "--value",
            "netvrrp.service",
        ]);
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn file(&self, path: &str) -> String {
        String::from_utf8_lossy(&self.exec(&["cat", path]).stdout)
            .trim()
            .to_string()
    }

    /// (state, priority) of the router, when a runtime answers.
    fn router(&self) -> Option<(String, u64)> {
        self.router_of("/run/netvrrp")
    }

    fn router_of(&self, run_dir: &str) -> Option<(String, u64)> {
        let out = self.netvrrp(&["--run-dir", run_dir, "show", "vrrp", "--json"]);
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        let r = doc["routers"].as_array()?.first()?.clone();
        Some((r["state"].as_str()?.to_string(), r["priority"].as_u64()?))
    }
}

impl Drop for Systemd {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}\nunit log:\n{}", self.log(), self.unit_log());
        }
        // PID 1 of the namespace: every process in it dies with it.
        if self.pid != 0 {
            let _ = Command::new("kill")
                .args(["-9", &self.pid.to_string()])
                .status();
        }
        let _ = self.boot.kill();
        let _ = self.boot.wait();
        // The cgroups systemd made, deepest first, once their processes are gone.
        for _ in 0..250 {
            let mut dirs: Vec<PathBuf> = Vec::new();
            let mut stack = vec![self.cgroup.clone()];
            while let Some(d) = stack.pop() {
                for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                    if e.file_type().is_ok_and(|t| t.is_dir()) {
                        stack.push(e.path());
                    }
                }
                dirs.push(d);
            }
            for d in dirs.iter().rev() {
                let _ = std::fs::remove_dir(d);
            }
            if !self.cgroup.exists() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn apply_starts_and_reloads_the_installed_unit() {
    let Some(sd) = Systemd::boot("sdunit") else {
        return;
    };
    assert_eq!(sd.unit("LoadState"), "loaded");
    assert_eq!(sd.unit("ActiveState"), "inactive");

    // Stopped unit: apply starts it instead of a runtime of its own.
    let out = sd.netvrrp(&["apply", "-f", "/run/nvtest/vrrp.toml"]);
    assert!(out.status.success(), "{}\n{}", text(&out), sd.unit_log());
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("started netvrrp.service"),
        "{}",
        text(&out)
    );
    assert_eq!(sd.unit("ActiveState"), "active");
    let main_pid = sd.unit("MainPID");
    assert_eq!(sd.file("/run/netvrrp/netvrrp.pid"), main_pid);
    assert_eq!(sd.file("/run/netvrrp/netvrrp-supervisor.pid"), "");
    // The unit is not enabled in this test: apply says it will not start at boot.
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("systemctl enable netvrrp"),
        "{}",
        text(&out)
    );
    wait_until(
        LIMIT,
        || format!("{:?}\n{}", sd.router(), sd.unit_log()),
        || (sd.router() == Some(("master".into(), 200))).then_some(()),
    );

    // Running unit, edited file: reloaded in place, the result printed.
    let edited = sd.dir.join("edited.toml");
    let out = sd.exec(&["cp", &edited.to_string_lossy(), "/run/nvtest/vrrp.toml"]);
    assert!(out.status.success(), "{}", text(&out));
    let out = sd.netvrrp(&["apply", "-f", "/run/nvtest/vrrp.toml"]);
    assert!(out.status.success(), "{}\n{}", text(&out), sd.unit_log());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        !stdout.contains("started netvrrp.service"),
        "{}",
        text(&out)
    );
    assert!(
        stdout.contains("runtime: eth0 vrid 9 ipv4"),
        "no per-router result: {}",
        text(&out)
    );
    assert_eq!(
        sd.unit("MainPID"),
        main_pid,
        "the unit's runtime was replaced"
    );
    assert_eq!(sd.router(), Some(("master".into(), 150)));

    // Another file for the unit's run-dir: refused, nothing changed.
    let out = sd.netvrrp(&["apply", "-f", "/run/nvtest/other.toml"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("netvrrp.service runs /run/nvtest/vrrp.toml"),
        "{}",
        text(&out)
    );
    assert_eq!(sd.router(), Some(("master".into(), 150)));

    // The unit's own reload (validate, then SIGHUP) in its sandbox.
    let out = sd.exec(&["systemctl", "reload", "netvrrp.service"]);
    assert!(out.status.success(), "{}\n{}", text(&out), sd.unit_log());
    assert_eq!(sd.unit("MainPID"), main_pid);

    let out = sd.exec(&["systemctl", "stop", "netvrrp.service"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(sd.unit("ActiveState"), "inactive");
    assert!(sd.router().is_none());

    // Another run-dir is not the unit's: a supervised runtime of apply's own, the unit left
    // alone.
    let rd = "/run/nvtest/rd2";
    let out = sd.netvrrp(&["--run-dir", rd, "apply", "-f", "/run/nvtest/other.toml"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("started netvrrp.service"),
        "{}",
        text(&out)
    );
    assert_eq!(sd.unit("ActiveState"), "inactive");
    let supervisor = sd.file(&format!("{rd}/netvrrp-supervisor.pid"));
    assert!(
        supervisor.parse::<u32>().is_ok(),
        "no supervisor: {supervisor:?}"
    );
    wait_until(
        LIMIT,
        || format!("{:?}", sd.router_of(rd)),
        || (sd.router_of(rd) == Some(("master".into(), 50))).then_some(()),
    );
    let out = sd.netvrrp(&["--run-dir", rd, "stop"]);
    assert!(out.status.success(), "{}", text(&out));
}
