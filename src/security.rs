//! Refuse files and directories that someone other than root could change under us.
//!
//! netvrrp acts on its configuration as root (it creates devices, and `exec` clients run the
//! commands the file names), and it writes its pid, log, lock and ownership files into the
//! run-dir as root. A file anybody may write, or a directory where anybody may replace it,
//! would let any local user take those over. These checks run where the file is acted upon
//! (`apply` without `--dry-run`, `run`, `down`, reloads), not where it is only read
//! (`validate`, `diff`, `check`, `apply --dry-run`): checking a draft in /tmp stays possible.
//!
//! A refusal is an operational failure (exit 1), not an invalid configuration (65): the
//! contents are fine and `validate` accepts them; the fix is a `chmod`, which the message
//! names.

use anyhow::{Context, bail};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::Path;

const WORLD_WRITABLE: u32 = 0o002;
const STICKY: u32 = 0o1000;

/// The configuration file may be acted on as root: it and its directory must not be
/// world-writable (a directory with the sticky bit, like /tmp, is fine: only the owner of a
/// file may replace it there).
pub fn check_config_file(file: &Path) -> anyhow::Result<()> {
    // The file the path finally names (a symlink's target is what gets read). A file that
    // cannot be found or read is left to the loader, which reports it as an invalid
    // configuration (65) like any other unreadable file.
    let Ok(real) = std::fs::canonicalize(file) else {
        return Ok(());
    };
    let Ok(md) = std::fs::metadata(&real) else {
        return Ok(());
    };
    if md.mode() & WORLD_WRITABLE != 0 {
        bail!(
            "refusing the configuration file {}: it is world-writable, so any local user could \
             change what netvrrp does as root; fix it with `chmod o-w {}`",
            real.display(),
            real.display()
        );
    }
    if let Some(dir) = real.parent() {
        let dmd =
            std::fs::metadata(dir).with_context(|| format!("cannot stat {}", dir.display()))?;
        if dmd.mode() & WORLD_WRITABLE != 0 && dmd.mode() & STICKY == 0 {
            bail!(
                "refusing the configuration file {}: its directory {} is world-writable without \
                 the sticky bit, so any local user could replace the file; fix it with \
                 `chmod o-w {}` (or `chmod +t`), or move the file",
                real.display(),
                dir.display(),
                dir.display()
            );
        }
    }
    Ok(())
}

/// Create the run-dir if needed (0755: group members of `control-group` must be able to
/// reach the socket inside) and refuse it when it is world-writable. Even with the sticky bit
/// a world-writable run-dir is refused: another user could create `netvrrp.log` or
/// `owned.json.tmp` as a symlink before us and make root write through it.
pub fn prepare_run_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(dir)
        .with_context(|| format!("cannot create run directory {}", dir.display()))?;
    check_run_dir(dir)
}

pub fn check_run_dir(dir: &Path) -> anyhow::Result<()> {
    let md = std::fs::metadata(dir).with_context(|| format!("cannot stat {}", dir.display()))?;
    if md.mode() & WORLD_WRITABLE != 0 {
        bail!(
            "refusing the run directory {}: it is world-writable (mode {:o}), so any local user \
             could plant files netvrrp writes as root; fix it with `chmod 755 {}` or use \
             another --run-dir",
            dir.display(),
            md.permissions().mode() & 0o7777,
            dir.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::Permissions;

    fn tmp(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("netvrrp-sec-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::set_permissions(&d, Permissions::from_mode(0o755)).unwrap();
        d
    }

    #[test]
    fn config_file_permissions() {
        let d = tmp("cfg");
        let f = d.join("vrrp.toml");
        std::fs::write(&f, "").unwrap();
        std::fs::set_permissions(&f, Permissions::from_mode(0o644)).unwrap();
        check_config_file(&f).unwrap();
        std::fs::set_permissions(&f, Permissions::from_mode(0o666)).unwrap();
        let e = format!("{:#}", check_config_file(&f).unwrap_err());
        assert!(
            e.contains("world-writable") && e.contains("chmod o-w"),
            "{e}"
        );
        assert!(e.contains(&f.display().to_string()), "{e}");
        std::fs::set_permissions(&f, Permissions::from_mode(0o644)).unwrap();
        // The directory: world-writable without sticky is refused, with sticky accepted.
        std::fs::set_permissions(&d, Permissions::from_mode(0o777)).unwrap();
        let e = format!("{:#}", check_config_file(&f).unwrap_err());
        assert!(
            e.contains("sticky") && e.contains(&d.display().to_string()),
            "{e}"
        );
        std::fs::set_permissions(&d, Permissions::from_mode(0o1777)).unwrap();
        check_config_file(&f).unwrap();
        // A symlink is judged by its target.
        std::fs::set_permissions(&d, Permissions::from_mode(0o755)).unwrap();
        let l = d.join("link.toml");
        std::os::unix::fs::symlink(&f, &l).unwrap();
        check_config_file(&l).unwrap();
        std::fs::set_permissions(&f, Permissions::from_mode(0o646)).unwrap();
        assert!(check_config_file(&l).is_err());
        // Missing: the loader reports it (exit 65), not this check.
        check_config_file(&d.join("missing.toml")).unwrap();
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn run_dir_permissions() {
        let d = tmp("run");
        let run = d.join("a/b");
        prepare_run_dir(&run).unwrap();
        assert_eq!(
            std::fs::metadata(&run).unwrap().permissions().mode() & 0o777,
            0o755 & !current_umask()
        );
        std::fs::set_permissions(&run, Permissions::from_mode(0o1777)).unwrap();
        let e = format!("{:#}", prepare_run_dir(&run).unwrap_err());
        assert!(
            e.contains("world-writable") && e.contains("chmod 755"),
            "{e}"
        );
        std::fs::remove_dir_all(&d).unwrap();
    }

    fn current_umask() -> u32 {
        // Read without changing it for other threads: /proc/self/status has `Umask:`.
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("Umask:"))
                    .and_then(|v| u32::from_str_radix(v.trim(), 8).ok())
            })
            .unwrap_or(0o022)
    }
}
