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
    // The owner: the address is the parent's own.
    ns.ip_ok(&["addr", "add", "192.0.2.9/24", "dev", "eth0"]);
    let out = ns.netvrrp(&["apply", "--no-runtime", "-f", file]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}
