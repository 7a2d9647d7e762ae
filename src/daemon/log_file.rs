//! The log file of a runtime spawned by `apply`: `<run-dir>/netvrrp.log`, on tmpfs under the
//! default run-dir, so it must not grow without bound, and one format per file (a text
//! runtime followed by a JSON one used to append to the same file).
//!
//! - [`prepare`] (before spawning): the file is rotated when it holds the other format or is
//!   over [`CAP`].
//! - [`watch_stderr`] (in the spawned runtime, whose stdout and stderr are that file): once
//!   [`CAP`] bytes were written, the file is rotated and a fresh one put in place of both
//!   descriptors (`dup2`), so log lines, and a panic message too, go to the new file.
//!
//! Rotation keeps [`KEEP`] old files: `netvrrp.log.1` (newest) … `netvrrp.log.KEEP`; at most
//! (KEEP + 1) × CAP bytes in all. Under systemd the runtime logs to the journal instead.

use std::os::fd::{AsRawFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

/// Size at which the log is rotated.
pub const CAP: u64 = 4 << 20;
/// Rotated files kept.
pub const KEEP: usize = 2;

/// The `n`th rotated file of `path` (`netvrrp.log.1`, …).
pub fn rotated(path: &Path, n: usize) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(format!(".{n}"));
    PathBuf::from(s)
}

/// Shift the rotated files up by one (the oldest goes) and move `path` to `.1`.
fn rotate(path: &Path) -> std::io::Result<()> {
    for n in (1..KEEP).rev() {
        match std::fs::rename(rotated(path, n), rotated(path, n + 1)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    std::fs::rename(path, rotated(path, 1))
}

/// Whether the last line of `path` is a JSON object (None: empty or unreadable).
fn holds_json(path: &Path) -> Option<bool> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(path).ok()?;
    let len = f.metadata().ok()?.len();
    f.seek(SeekFrom::Start(len.saturating_sub(4096))).ok()?;
    let mut tail = Vec::new();
    f.read_to_end(&mut tail).ok()?;
    let text = String::from_utf8_lossy(&tail);
    let last = text.lines().rev().find(|l| !l.trim().is_empty())?;
    Some(last.trim_start().starts_with('{'))
}

/// Before a runtime is spawned to log to `path` (`json`: in JSON): rotate the file when it
/// holds the other format or is over [`CAP`].
pub fn prepare(path: &Path, json: bool) -> std::io::Result<()> {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return Ok(());
    };
    let other_format = holds_json(path).is_some_and(|j| j != json);
    if other_format || meta.len() >= CAP {
        rotate(path)?;
    }
    Ok(())
}

/// A log file written through descriptors `fds`, rotated at `cap`.
struct Rotating {
    path: PathBuf,
    cap: u64,
    written: u64,
    fds: Vec<RawFd>,
}

impl Rotating {
    /// Count `n` bytes written; rotate once over the cap. An error leaves the file as it is
    /// (logging must never stop the runtime) and is retried at the next cap's worth.
    fn wrote(&mut self, n: usize) {
        self.written += n as u64;
        if self.written < self.cap {
            return;
        }
        self.written = 0;
        if rotate(&self.path).is_err() {
            return;
        }
        let Ok(file) = crate::security::open_append_nofollow(&self.path) else {
            return;
        };
        for &fd in &self.fds {
            // SAFETY: dup2 onto descriptors this process owns for its whole life (its
            // stdout and stderr); the new file stays open through them after `file` drops.
            unsafe { libc::dup2(file.as_raw_fd(), fd) };
        }
    }
}

static STDERR_LOG: OnceLock<Mutex<Rotating>> = OnceLock::new();

/// In a spawned runtime: stdout and stderr are `path`; rotate it every [`CAP`] bytes the
/// log writer reports through [`wrote`].
pub fn watch_stderr(path: PathBuf) {
    let written = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let _ = STDERR_LOG.set(Mutex::new(Rotating {
        path,
        cap: CAP,
        written,
        fds: vec![1, 2],
    }));
}

/// The log writer wrote `n` bytes to stderr (a no-op unless [`watch_stderr`] was called).
pub fn wrote(n: usize) {
    if let Some(m) = STDERR_LOG.get() {
        m.lock().unwrap_or_else(|e| e.into_inner()).wrote(n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("netvrrp-logfile-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn another_format_or_an_oversized_file_is_rotated_before_a_spawn() {
        let d = dir("prepare");
        let log = d.join("netvrrp.log");
        prepare(&log, false).unwrap(); // nothing there: nothing to do
        std::fs::write(
            &log,
            "2026-12-07T06:00:00Z INFO netvrrp::protocol: state change\n",
        )
        .unwrap();
        prepare(&log, false).unwrap();
        assert!(log.exists() && !rotated(&log, 1).exists());
        prepare(&log, true).unwrap();
        assert!(!log.exists());
        assert!(
            std::fs::read_to_string(rotated(&log, 1))
                .unwrap()
                .contains("INFO")
        );
        std::fs::write(&log, "{\"level\":\"INFO\"}\n").unwrap();
        prepare(&log, false).unwrap();
        assert!(
            std::fs::read_to_string(rotated(&log, 1))
                .unwrap()
                .starts_with('{')
        );
        assert!(
            std::fs::read_to_string(rotated(&log, 2))
                .unwrap()
                .contains("INFO netvrrp")
        );
        std::fs::write(&log, vec![b'x'; CAP as usize]).unwrap();
        prepare(&log, false).unwrap();
        assert!(!log.exists(), "an oversized log is rotated");
        assert!(!rotated(&log, 3).exists(), "only {KEEP} old files are kept");
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_full_log_is_swapped_under_its_descriptor() {
        let d = dir("swap");
        let log = d.join("netvrrp.log");
        let mut first = crate::security::open_append_nofollow(&log).unwrap();
        let mut r = Rotating {
            path: log.clone(),
            cap: 100,
            written: 0,
            fds: vec![first.as_raw_fd()],
        };
        first.write_all(&[b'a'; 60]).unwrap();
        r.wrote(60);
        assert!(!rotated(&log, 1).exists());
        first.write_all(&[b'b'; 60]).unwrap();
        r.wrote(60);
        // Over the cap: the full file moved aside, the descriptor now writes a fresh one.
        assert_eq!(std::fs::metadata(rotated(&log, 1)).unwrap().len(), 120);
        first.write_all(b"after\n").unwrap();
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "after\n");
        let _ = std::fs::remove_dir_all(&d);
    }
}
