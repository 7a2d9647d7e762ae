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
//! contents are fine and `validate` accepts them; the fix is a `chmod` or `chown`, which the
//! message names.
//!
//! The checks are made once, before the files are written, and then only the effective user
//! can change the run-dir; even so every state file is opened without following a symlink
//! at its name (O_NOFOLLOW) and temporary files are created exclusively (O_EXCL), so that a
//! check that raced with a change, or a run-dir loosened by hand later, still cannot make
//! root write through a planted link.

use anyhow::{Context, bail};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

const WORLD_WRITABLE: u32 = 0o002;
const GROUP_OR_WORLD_WRITABLE: u32 = 0o022;
const STICKY: u32 = 0o1000;
/// Largest configuration file acted on: far above 4,000 routers (about 0.5 MB).
pub const MAX_CONFIG_BYTES: u64 = 64 << 20;

fn euid() -> u32 {
    nix::unistd::geteuid().as_raw()
}

/// The configuration file may be acted on as root: it must be writable by nobody but root
/// or the user netvrrp runs as (not group- or world-writable, owned by one of them), and
/// its directory must not be world-writable (a directory with the sticky bit, like /tmp,
/// is fine: only the owner of a file may replace it there).
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
    // A FIFO or device would block or never end the read (on the runtime's event loop, for
    // a reload), and a huge file would be read whole into memory.
    if !md.is_file() {
        bail!(
            "refusing the configuration file {}: it is not a regular file",
            real.display()
        );
    }
    if md.len() > MAX_CONFIG_BYTES {
        bail!(
            "refusing the configuration file {}: it has {} bytes, more than the {} a \
             configuration may have",
            real.display(),
            md.len(),
            MAX_CONFIG_BYTES
        );
    }
    if md.mode() & WORLD_WRITABLE != 0 {
        bail!(
            "refusing the configuration file {}: it is world-writable, so any local user could \
             change what netvrrp does as root; fix it with `chmod o-w {}`",
            real.display(),
            real.display()
        );
    }
    if md.mode() & GROUP_OR_WORLD_WRITABLE != 0 {
        bail!(
            "refusing the configuration file {}: it is group-writable, so every member of \
             group {} could change what netvrrp does as root; fix it with `chmod g-w {}`",
            real.display(),
            md.gid(),
            real.display()
        );
    }
    if md.uid() != 0 && md.uid() != euid() {
        bail!(
            "refusing the configuration file {}: it is owned by uid {}, who could change what \
             netvrrp does as uid {}; fix it with `chown {} {}`",
            real.display(),
            md.uid(),
            euid(),
            euid(),
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
/// reach the socket inside) and refuse it unless only the user netvrrp runs as can change
/// what is in it (see [`check_run_dir`]).
pub fn prepare_run_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(dir)
        .with_context(|| format!("cannot create run directory {}", dir.display()))?;
    check_run_dir(dir)
}

/// The run-dir must be owned by the effective uid with no group or other write: anybody
/// else who may create files in it could plant `netvrrp.log` or `owned.json.tmp` as a
/// symlink before us and make root write through it (even the sticky bit does not stop
/// that). Every directory above it must be one nobody else can rename it out of: see
/// [`ancestor_refusal`].
pub fn check_run_dir(dir: &Path) -> anyhow::Result<()> {
    let real = std::fs::canonicalize(dir)
        .with_context(|| format!("cannot resolve run directory {}", dir.display()))?;
    let md = std::fs::metadata(&real).with_context(|| format!("cannot stat {}", dir.display()))?;
    let mode = md.permissions().mode() & 0o7777;
    if !md.is_dir() {
        bail!(
            "refusing the run directory {}: it is not a directory",
            dir.display()
        );
    }
    if mode & WORLD_WRITABLE != 0 && mode & STICKY != 0 {
        // A shared directory such as /tmp: making it private would break the host.
        bail!(
            "refusing the run directory {}: it is world-writable (mode {mode:o}), a shared \
             directory like /tmp, so any local user could plant files netvrrp writes as root; \
             give netvrrp a directory of its own as --run-dir (e.g. one made by `mktemp -d`)",
            dir.display()
        );
    }
    if mode & WORLD_WRITABLE != 0 {
        bail!(
            "refusing the run directory {}: it is world-writable (mode {mode:o}), so any local \
             user could plant files netvrrp writes as root; fix it with `chmod 755 {}` or use \
             another --run-dir",
            dir.display(),
            dir.display()
        );
    }
    if mode & GROUP_OR_WORLD_WRITABLE != 0 {
        bail!(
            "refusing the run directory {}: it is group-writable (mode {mode:o}), so members of \
             group {} could plant files netvrrp writes; fix it with `chmod 755 {}` or use \
             another --run-dir",
            dir.display(),
            md.gid(),
            dir.display()
        );
    }
    if md.uid() != euid() {
        bail!(
            "refusing the run directory {}: it is owned by uid {}, not by uid {} that netvrrp \
             runs as, so that user could plant files netvrrp writes; fix it with \
             `chown {} {}` or use another --run-dir",
            dir.display(),
            md.uid(),
            euid(),
            euid(),
            dir.display()
        );
    }
    check_symlinks_towards(dir)?;
    for parent in real.ancestors().skip(1) {
        let pmd = std::fs::metadata(parent)
            .with_context(|| format!("cannot stat {}", parent.display()))?;
        if let Some(why) = ancestor_refusal(pmd.uid(), pmd.mode(), euid()) {
            bail!(
                "refusing the run directory {}: its parent {} {why}, so someone else could \
                 replace the run directory; use a --run-dir whose parents only root can change \
                 (a `mktemp -d` under /tmp is fine)",
                dir.display(),
                parent.display()
            );
        }
    }
    Ok(())
}

/// netvrrp keeps using the path it was given, not the resolved one: a symlink on the way
/// could be pointed elsewhere later by whoever may replace it. That is anyone who may write
/// the directory holding it (see [`ancestor_refusal`]) and, in a sticky directory such as
/// /tmp, the symlink's owner.
fn check_symlinks_towards(dir: &Path) -> anyhow::Result<()> {
    let absolute = std::path::absolute(dir)
        .with_context(|| format!("cannot resolve run directory {}", dir.display()))?;
    for p in absolute.ancestors() {
        let Ok(link) = std::fs::symlink_metadata(p) else {
            continue;
        };
        if !link.file_type().is_symlink() {
            continue;
        }
        let Some(holder) = p.parent() else { continue };
        let hmd = std::fs::metadata(holder)
            .with_context(|| format!("cannot stat {}", holder.display()))?;
        let why = ancestor_refusal(hmd.uid(), hmd.mode(), euid()).or_else(|| {
            (hmd.mode() & STICKY != 0 && link.uid() != 0 && link.uid() != euid())
                .then(|| format!("is a symbolic link owned by uid {}", link.uid()))
        });
        if let Some(why) = why {
            bail!(
                "refusing the run directory {}: the symbolic link {} on its path {why} (in {}), \
                 so someone else could point it elsewhere; give the resolved path instead",
                dir.display(),
                p.display(),
                holder.display()
            );
        }
    }
    Ok(())
}

/// Why a directory above the run-dir lets someone else than root or `euid` rename what is
/// in it (None: it does not). A root-owned directory with the sticky bit (/tmp) is fine:
/// there only the owner of an entry may rename or remove it.
pub fn ancestor_refusal(uid: u32, mode: u32, euid: u32) -> Option<String> {
    if uid == 0 && mode & STICKY != 0 {
        return None;
    }
    if uid != 0 && uid != euid {
        return Some(format!("is owned by uid {uid}"));
    }
    if mode & GROUP_OR_WORLD_WRITABLE != 0 {
        return Some(format!(
            "is writable by group or others without being root-owned and sticky (mode {:o})",
            mode & 0o7777
        ));
    }
    None
}

/// Accounting files are appended to as root: refused when their directory is
/// world-writable (even sticky: another user could create the file first and own what
/// root writes) or a directory above it is world-writable without the sticky bit (its
/// entries could be replaced). Group-writable log directories (Debian's /var/log) are fine.
pub fn check_accounting_path(path: &Path) -> anyhow::Result<()> {
    let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) else {
        return Ok(());
    };
    // A directory that does not exist (yet) is reported by the open that needs it.
    let real = match std::fs::canonicalize(dir) {
        Ok(real) => real,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(e).with_context(|| {
                format!(
                    "cannot resolve the directory of accounting file {}",
                    path.display()
                )
            });
        }
    };
    for (i, d) in real.ancestors().enumerate() {
        let mode = std::fs::metadata(d)
            .with_context(|| format!("cannot stat {}", d.display()))?
            .mode();
        if mode & WORLD_WRITABLE != 0 && (i == 0 || mode & STICKY == 0) {
            bail!(
                "refusing the accounting file {}: it is under the world-writable directory {}, \
                 where another user could create or replace it; use a directory only root can \
                 write (e.g. /var/log)",
                path.display(),
                d.display()
            );
        }
    }
    Ok(())
}

/// Every accounting file the configuration names (see [`check_accounting_path`]), checked
/// where the configuration is acted on so that `apply` fails before changing anything.
pub fn check_accounting_paths(config: &crate::config::Config) -> anyhow::Result<()> {
    for client in &config.clients {
        if let crate::config::ClientKind::Accounting { path } = &client.kind {
            check_accounting_path(path)?;
        }
    }
    Ok(())
}

fn symlink_refused(path: &Path, what: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "refusing {what} {}: it is a symbolic link, which netvrrp does not follow; remove it",
        path.display()
    )
}

/// Turn "a symlink was refused" (ELOOP from O_NOFOLLOW) into an error that says so.
fn open_error(e: std::io::Error, path: &Path, what: &str) -> anyhow::Error {
    if e.raw_os_error() == Some(nix::libc::ELOOP) {
        symlink_refused(path, what)
    } else {
        anyhow::Error::new(e).context(format!("cannot open {what} {}", path.display()))
    }
}

/// Err when what is at `path` could not be opened as a state file is: a symbolic link
/// (refused by O_NOFOLLOW, as [`open_append_nofollow`] and the lock opens do) or anything
/// but a regular file. Ok when nothing is there (it will be created). For checks made
/// before the kernel changes, of files a runtime about to start will open.
pub fn check_state_file(path: &Path, what: &str) -> anyhow::Result<()> {
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("cannot inspect {what} {}", path.display())),
        Ok(m) if m.file_type().is_symlink() => Err(symlink_refused(path, what)),
        Ok(m) if !m.is_file() => bail!(
            "refusing {what} {}: it is not a regular file; remove it",
            path.display()
        ),
        Ok(_) => Ok(()),
    }
}

/// Open (creating it 0640 if needed) a state file in the run-dir for appending, without
/// following a symlink at its name: the log.
pub fn open_append_nofollow(path: &Path) -> anyhow::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o640)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| open_error(e, path, "the file"))
}

/// Open (creating it if needed) the lock file without following a symlink and without
/// truncating it.
pub fn open_lock_nofollow(path: &Path) -> anyhow::Result<File> {
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o644)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| open_error(e, path, "the lock file"))
}

/// Read a state file without following a symlink; Ok(None) when it does not exist.
pub fn read_nofollow(path: &Path) -> anyhow::Result<Option<String>> {
    use std::io::Read;
    let mut f = match OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(open_error(e, path, "the state file")),
    };
    let mut text = String::new();
    f.read_to_string(&mut text)
        .with_context(|| format!("cannot read {}", path.display()))?;
    Ok(Some(text))
}

/// The temporary file [`replace_file`] writes before renaming it over `path`.
pub fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".tmp");
    PathBuf::from(name)
}

/// Replace `path` atomically: write `path.tmp`, created exclusively (O_EXCL: whatever is
/// at that name, a symlink included, is removed first and never written through), fsync
/// it, rename it over `path` (rename replaces a symlink at `path` instead of following it).
pub fn replace_file(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    let tmp = temp_path(path);
    match std::fs::remove_file(&tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("cannot remove {}", tmp.display())),
    }
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(&tmp)
        .map_err(|e| open_error(e, &tmp, "the temporary file"))?;
    f.write_all(contents)
        .and_then(|()| f.sync_all())
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot replace {}", path.display()))
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
        // Not a regular file: refused (a FIFO would block the read forever).
        let fifo = d.join("fifo.toml");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let e = format!("{:#}", check_config_file(&fifo).unwrap_err());
        assert!(e.contains("not a regular file"), "{e}");
        // Larger than MAX_CONFIG_BYTES (sparse, so nothing is written).
        let big = d.join("big.toml");
        std::fs::File::create(&big)
            .unwrap()
            .set_len(MAX_CONFIG_BYTES + 1)
            .unwrap();
        std::fs::set_permissions(&big, Permissions::from_mode(0o644)).unwrap();
        assert!(format!("{:#}", check_config_file(&big).unwrap_err()).contains("bytes"));
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
        std::fs::set_permissions(&run, Permissions::from_mode(0o777)).unwrap();
        let e = format!("{:#}", prepare_run_dir(&run).unwrap_err());
        assert!(
            e.contains("world-writable") && e.contains("chmod 755"),
            "{e}"
        );
        // A shared (sticky) one like /tmp is not to be made private: use another.
        std::fs::set_permissions(&run, Permissions::from_mode(0o1777)).unwrap();
        let e = format!("{:#}", prepare_run_dir(&run).unwrap_err());
        assert!(
            e.contains("shared directory like /tmp")
                && e.contains("mktemp -d")
                && !e.contains("chmod"),
            "{e}"
        );
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn config_file_group_writable_or_foreign_owner_refused() {
        let d = tmp("cfg-owner");
        let f = d.join("vrrp.toml");
        std::fs::write(&f, "").unwrap();
        std::fs::set_permissions(&f, Permissions::from_mode(0o664)).unwrap();
        let e = format!("{:#}", check_config_file(&f).unwrap_err());
        assert!(
            e.contains("group-writable") && e.contains("chmod g-w"),
            "{e}"
        );
        std::fs::set_permissions(&f, Permissions::from_mode(0o644)).unwrap();
        // Owned by someone else (needs root to give the file away).
        if euid() == 0 {
            std::os::unix::fs::chown(&f, Some(65534), None).unwrap();
            let e = format!("{:#}", check_config_file(&f).unwrap_err());
            assert!(
                e.contains("owned by uid 65534") && e.contains("chown"),
                "{e}"
            );
        }
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn run_dir_owner_group_write_and_parents() {
        let d = tmp("run-owner");
        let run = d.join("run");
        prepare_run_dir(&run).unwrap();
        std::fs::set_permissions(&run, Permissions::from_mode(0o775)).unwrap();
        let e = format!("{:#}", check_run_dir(&run).unwrap_err());
        assert!(
            e.contains("group-writable") && e.contains("chmod 755"),
            "{e}"
        );
        std::fs::set_permissions(&run, Permissions::from_mode(0o755)).unwrap();
        if euid() == 0 {
            std::os::unix::fs::chown(&run, Some(65534), None).unwrap();
            let e = format!("{:#}", check_run_dir(&run).unwrap_err());
            assert!(e.contains("owned by uid 65534"), "{e}");
            std::os::unix::fs::chown(&run, Some(0), None).unwrap();
            // A parent another user owns could rename the run-dir away.
            std::os::unix::fs::chown(&d, Some(65534), None).unwrap();
            let e = format!("{:#}", check_run_dir(&run).unwrap_err());
            assert!(
                e.contains("parent") && e.contains(&d.display().to_string()),
                "{e}"
            );
            std::os::unix::fs::chown(&d, Some(0), None).unwrap();
        }
        if euid() == 0 {
            // A symlink in /tmp owned by another user could be retargeted later.
            let link = PathBuf::from(format!("/tmp/netvrrp-sec-link-{}", std::process::id()));
            let _ = std::fs::remove_file(&link);
            std::os::unix::fs::symlink(&run, &link).unwrap();
            check_run_dir(&link).unwrap();
            nix::unistd::fchownat(
                nix::fcntl::AT_FDCWD,
                &link,
                Some(nix::unistd::Uid::from_raw(65534)),
                None,
                nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
            )
            .unwrap();
            let e = format!("{:#}", check_run_dir(&link).unwrap_err());
            assert!(
                e.contains("symbolic link") && e.contains("uid 65534"),
                "{e}"
            );
            std::fs::remove_file(&link).unwrap();
        }
        // /tmp itself is refused as a run-dir; a private directory under it is fine.
        let e = format!("{:#}", check_run_dir(Path::new("/tmp")).unwrap_err());
        assert!(e.contains("world-writable"), "{e}");
        check_run_dir(&run).unwrap();
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn ancestor_rules() {
        // Root-owned sticky (/tmp) is fine, writable or not.
        assert_eq!(ancestor_refusal(0, 0o41777, 0), None);
        assert_eq!(ancestor_refusal(0, 0o40755, 0), None);
        // Owned by the effective user and not writable by others: fine.
        assert_eq!(ancestor_refusal(1000, 0o40755, 1000), None);
        assert!(
            ancestor_refusal(1000, 0o40755, 0)
                .unwrap()
                .contains("uid 1000")
        );
        assert!(
            ancestor_refusal(0, 0o40777, 0)
                .unwrap()
                .contains("mode 777")
        );
        assert!(ancestor_refusal(0, 0o40775, 0).is_some());
        // Sticky but owned by an ordinary user: that user may rename anything in it.
        assert!(ancestor_refusal(1000, 0o41777, 0).is_some());
    }

    #[test]
    fn state_files_do_not_follow_symlinks() {
        let d = tmp("nofollow");
        let victim = d.join("victim");
        std::fs::write(&victim, "precious").unwrap();
        // A symlink planted at the temporary name is removed, not written through.
        let owned = d.join("owned.json");
        std::os::unix::fs::symlink(&victim, temp_path(&owned)).unwrap();
        replace_file(&owned, b"[]").unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        assert_eq!(std::fs::read_to_string(&owned).unwrap(), "[]");
        assert!(!temp_path(&owned).exists());
        // A symlink at the final name is replaced by the rename, not followed.
        let masters = d.join("masters.json");
        std::os::unix::fs::symlink(&victim, &masters).unwrap();
        replace_file(&masters, b"[]").unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        assert!(!std::fs::symlink_metadata(&masters).unwrap().is_symlink());
        // Lock, log and reads refuse a symlink with a message naming the path.
        let lock = d.join("netvrrp.lock");
        std::os::unix::fs::symlink(d.join("elsewhere"), &lock).unwrap();
        let e = format!("{:#}", open_lock_nofollow(&lock).unwrap_err());
        assert!(
            e.contains("symbolic link") && e.contains(&lock.display().to_string()),
            "{e}"
        );
        assert!(!d.join("elsewhere").exists());
        let log = d.join("netvrrp.log");
        std::os::unix::fs::symlink(&victim, &log).unwrap();
        assert!(open_append_nofollow(&log).is_err());
        assert!(read_nofollow(&log).is_err());
        assert_eq!(read_nofollow(&d.join("missing")).unwrap(), None);
        assert_eq!(read_nofollow(&owned).unwrap().as_deref(), Some("[]"));
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn accounting_under_world_writable_directories_refused() {
        let d = tmp("acct");
        check_accounting_path(&d.join("acct.jsonl")).unwrap();
        // Directly in a world-writable directory, sticky or not.
        let e = format!(
            "{:#}",
            check_accounting_path(Path::new("/tmp/acct.jsonl")).unwrap_err()
        );
        assert!(
            e.contains("/tmp/acct.jsonl") && e.contains("world-writable directory /tmp"),
            "{e}"
        );
        // Below a world-writable directory without the sticky bit.
        let open = d.join("open");
        std::fs::create_dir(open.clone()).unwrap();
        std::fs::create_dir(open.join("sub")).unwrap();
        std::fs::set_permissions(&open, Permissions::from_mode(0o777)).unwrap();
        assert!(check_accounting_path(&open.join("sub/acct.jsonl")).is_err());
        std::fs::set_permissions(&open, Permissions::from_mode(0o1777)).unwrap();
        check_accounting_path(&open.join("sub/acct.jsonl")).unwrap();
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
