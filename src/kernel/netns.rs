//! Entering a named network namespace (`ip netns` layout).

use anyhow::{Context, bail};
use nix::sched::CloneFlags;
use std::fs::File;
use std::path::Path;

/// Where `ip netns add` bind-mounts named namespaces.
pub const NETNS_RUN_DIR: &str = "/run/netns";

/// Move the CURRENT thread into the network namespace `/run/netns/<name>`.
///
/// Only the calling thread changes namespace, so this must run before the tokio runtime (or
/// any other thread) is created: threads inherit the namespace of the thread that spawns
/// them, and netlink sockets and `/proc/sys/net` belong to the namespace of the thread that
/// opens them.
pub fn enter_netns(name: &str) -> anyhow::Result<()> {
    // The name becomes a path component: refuse anything that could leave /run/netns.
    if name.is_empty() || name == "." || name == ".." || name.contains('/') || name.contains('\0') {
        bail!("invalid network namespace name {name:?}");
    }
    let path = Path::new(NETNS_RUN_DIR).join(name);
    let file = File::open(&path).with_context(|| {
        format!(
            "network namespace {name:?} not found (cannot open {})",
            path.display()
        )
    })?;
    nix::sched::setns(&file, CloneFlags::CLONE_NEWNET)
        .with_context(|| format!("cannot enter network namespace {name:?}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_namespace_is_named() {
        let err = enter_netns("netvrrp-no-such-ns").unwrap_err();
        assert!(
            format!("{err:#}").contains("\"netvrrp-no-such-ns\""),
            "{err:#}"
        );
    }

    #[test]
    fn path_escapes_are_refused() {
        for bad in ["", "..", "a/b", "."] {
            let err = enter_netns(bad).unwrap_err();
            assert!(
                err.to_string().contains("invalid network namespace"),
                "{err}"
            );
        }
    }
}
