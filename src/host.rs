//! The oldest kernel netvrrp supports, checked before anything changes the host.
//!
//! Linux 5.10: protodown on macvlans (5.1) is how a Backup's devices stay silent, and the
//! protodown reason bits (5.10) are how netvrrp tells that another program (FRR, a bond
//! driver, ...) holds a device down, which the kernel would not let it lift. Tested on 6.18.

/// (major, minor) of the oldest supported kernel.
pub const MIN_KERNEL: (u32, u32) = (5, 10);

/// (major, minor) of the oldest kernel that runs the dead-man switch (see
/// `daemon::filter::lease_for`): Linux 6.10 restarts a set element's timeout when the
/// element is added again (how a lease is renewed), and 6.3 brought DESTROYSETELEM (how an
/// expired lease is deleted without an error). On older kernels the leases are permanent
/// elements: the filter behaves as before the switch (a killed Master keeps answering).
pub const LEASE_RENEWAL_KERNEL: (u32, u32) = (6, 10);

/// (major, minor) of the oldest kernel that renames an up link: Linux 6.2 (commit
/// bd039b5ea2a9, "net/core: Allow live renaming when an interface is up") dropped the EBUSY
/// `dev_change_name` returned for an up device (since 5.2 only failover slaves, flagged
/// IFF_LIVE_RENAME_OK, were exempt; 6.2 removed the flag with the restriction). Older
/// kernels need the device down for a rename (see `plan::Renaming`).
pub const LIVE_RENAME_KERNEL: (u32, u32) = (6, 2);

/// (major, minor) of the running kernel; None when it cannot be read or parsed.
pub fn running_release() -> Option<(u32, u32)> {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .ok()
        .as_deref()
        .and_then(parse_release)
}

/// Whether the running kernel renews set-element timeouts ([`LEASE_RENEWAL_KERNEL`]); an
/// unreadable release says no, so a lease can never expire under a live Master.
pub fn renews_set_element_timeouts() -> bool {
    running_release().is_some_and(|v| v >= LEASE_RENEWAL_KERNEL)
}

/// (major, minor) of a release string such as `6.18.44-amd64` or `5.10.0-28-cloud`.
pub fn parse_release(release: &str) -> Option<(u32, u32)> {
    let mut parts = release.trim().split(['.', '-']);
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

/// Err(message) when the running kernel is older than [`MIN_KERNEL`]; a release that
/// cannot be read or parsed is let through (a check must not stop a working host).
pub fn check_kernel() -> Result<(), String> {
    let Ok(release) = std::fs::read_to_string("/proc/sys/kernel/osrelease") else {
        return Ok(());
    };
    check_release(&release)
}

fn check_release(release: &str) -> Result<(), String> {
    match parse_release(release) {
        Some(v) if v < MIN_KERNEL => Err(format!(
            "Linux {} is too old: netvrrp needs Linux {}.{} or newer (protodown on macvlans, protodown reasons); nothing was changed",
            release.trim(),
            MIN_KERNEL.0,
            MIN_KERNEL.1
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn releases() {
        assert_eq!(parse_release("6.18.44-amd64\n"), Some((6, 18)));
        assert_eq!(parse_release("5.10.0-28-cloud-amd64"), Some((5, 10)));
        assert_eq!(parse_release("garbage"), None);
        assert!(check_release("5.10.0").is_ok());
        assert!(check_release("6.1.0").is_ok());
        assert!(check_release("weird").is_ok());
        let e = check_release("5.4.0-150-generic").unwrap_err();
        assert!(
            e.starts_with("Linux 5.4.0-150-generic is too old: netvrrp needs Linux 5.10 or newer"),
            "{e}"
        );
        assert!(check_release("4.19.0").is_err());
    }
}
