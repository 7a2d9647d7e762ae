//! file objects: a file's existence or integer content, re-read on inotify events.
//!
//! The file's directory is watched (not the file: a file replaced by rename, deleted or
//! created would escape a watch on the file itself). A directory that does not exist yet
//! is looked for again every [`DIR_RETRY`]; until then the file counts as missing.

use super::Reporter;
use crate::config::FileUpWhen;
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::unix::AsyncFd;
use tokio::task::JoinHandle;

/// How often a missing directory is looked for.
pub const DIR_RETRY: Duration = Duration::from_secs(1);
/// Bytes of a file read for its integer.
const CONTENT_MAX: u64 = 64;

/// An inotify instance as tokio needs it (nix's type has no AsRawFd).
struct InotifyFd(Inotify);

impl AsRawFd for InotifyFd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_fd().as_raw_fd()
    }
}

/// Changes in one directory, as a wake-up.
pub struct DirWatch {
    fd: Option<AsyncFd<InotifyFd>>,
    dir: PathBuf,
}

impl DirWatch {
    /// Watch the directory of `file`.
    pub fn new(file: &Path) -> DirWatch {
        let dir = file.parent().unwrap_or(Path::new("/")).to_path_buf();
        let mut w = DirWatch { fd: None, dir };
        w.arm();
        w
    }

    fn arm(&mut self) {
        let flags = AddWatchFlags::IN_CREATE
            | AddWatchFlags::IN_DELETE
            | AddWatchFlags::IN_MOVED_TO
            | AddWatchFlags::IN_MOVED_FROM
            | AddWatchFlags::IN_CLOSE_WRITE
            | AddWatchFlags::IN_MODIFY
            | AddWatchFlags::IN_ATTRIB
            | AddWatchFlags::IN_DELETE_SELF
            | AddWatchFlags::IN_MOVE_SELF;
        self.fd = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC)
            .ok()
            .and_then(|i| i.add_watch(&self.dir, flags).ok().map(|_| i))
            // SAFETY: the AsyncFd owns the inotify instance, so its descriptor stays open and
            // the same while registered.
            .and_then(|i| unsafe { AsyncFd::register(InotifyFd(i)) }.ok());
    }

    /// Wait for something to happen in the directory (or, while it is missing, for the
    /// next retry).
    pub async fn changed(&mut self) {
        let Some(fd) = &self.fd else {
            tokio::time::sleep(DIR_RETRY).await;
            self.arm();
            return;
        };
        let gone = loop {
            let Ok(mut guard) = fd.readable().await else {
                break true;
            };
            match guard.get_inner().0.read_events() {
                Ok(events) => {
                    break events.iter().any(|e| {
                        e.mask.intersects(
                            AddWatchFlags::IN_IGNORED
                                | AddWatchFlags::IN_DELETE_SELF
                                | AddWatchFlags::IN_MOVE_SELF,
                        )
                    });
                }
                // Nothing after all (readiness is edge-triggered): wait for a real event.
                Err(nix::errno::Errno::EAGAIN) => guard.clear_ready(),
                Err(_) => break true,
            }
        };
        if gone {
            // The directory went away or moved: watch the path again (or wait for it).
            self.arm();
        }
    }
}

/// Is the object up, and why (for `show track`).
pub fn evaluate(path: &Path, up_when: FileUpWhen) -> (bool, String) {
    use std::io::Read;
    match up_when {
        FileUpWhen::Exists | FileUpWhen::Missing => {
            let exists = path.exists();
            let said = if exists {
                "file exists"
            } else {
                "file missing"
            };
            (exists == (up_when == FileUpWhen::Exists), said.into())
        }
        FileUpWhen::Zero | FileUpWhen::Nonzero => {
            let mut text = String::new();
            let read = std::fs::File::open(path)
                .and_then(|f| f.take(CONTENT_MAX).read_to_string(&mut text));
            if let Err(e) = read {
                return (false, format!("cannot read the file: {e}"));
            }
            match text.trim().parse::<i64>() {
                Ok(n) => (
                    (n == 0) == (up_when == FileUpWhen::Zero),
                    format!("file holds {n}"),
                ),
                Err(_) => (false, "file holds no integer".into()),
            }
        }
    }
}

pub fn spawn(path: PathBuf, up_when: FileUpWhen, reporter: Reporter) -> JoinHandle<()> {
    tokio::spawn(async move {
        // Watch first, then look: a change in between is an event, not lost.
        let mut watch = DirWatch::new(&path);
        let mut last: Option<(bool, String)> = None;
        loop {
            let now = evaluate(&path, up_when);
            if last.as_ref() != Some(&now) {
                reporter.report(now.0, now.1.clone());
                last = Some(now);
            }
            watch.changed().await;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn track_file_evaluate() {
        let dir = std::env::temp_dir().join(format!("netvrrp-track-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("flag");
        let _ = std::fs::remove_file(&f);
        assert!(!evaluate(&f, FileUpWhen::Exists).0);
        assert!(evaluate(&f, FileUpWhen::Missing).0);
        assert!(!evaluate(&f, FileUpWhen::Zero).0, "unreadable is down");
        std::fs::write(&f, "0\n").unwrap();
        assert!(evaluate(&f, FileUpWhen::Exists).0);
        assert!(evaluate(&f, FileUpWhen::Zero).0);
        assert!(!evaluate(&f, FileUpWhen::Nonzero).0);
        std::fs::write(&f, " -5 ").unwrap();
        assert_eq!(
            evaluate(&f, FileUpWhen::Nonzero),
            (true, "file holds -5".into())
        );
        std::fs::write(&f, "x").unwrap();
        assert!(!evaluate(&f, FileUpWhen::Zero).0);
        assert!(!evaluate(&f, FileUpWhen::Nonzero).0);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn track_dir_watch_wakes_on_create() {
        let dir = std::env::temp_dir().join(format!("netvrrp-track-watch-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("flag");
        let mut w = DirWatch::new(&f);
        let writer = {
            let f = f.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(50)).await;
                std::fs::write(&f, "1").unwrap();
            })
        };
        tokio::time::timeout(Duration::from_secs(5), w.changed())
            .await
            .expect("an inotify wake-up");
        writer.await.unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }
}
