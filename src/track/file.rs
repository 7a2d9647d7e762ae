//! file objects: a file's existence or integer content, re-read on inotify events.
//!
//! The file's directory is watched (not the file: a file replaced by rename, deleted or
//! created would escape a watch on the file itself). A directory that does not exist yet
//! is looked for again every [`DIR_RETRY`]; until then the file counts as missing.

use super::Reporter;
use crate::config::FileUpWhen;
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify, InotifyEvent};
use std::ffi::{OsStr, OsString};
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

/// What a wake-up of [`DirWatch::changed`] saw of the watched file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// The file was created, closed after writing, deleted, renamed or its attributes
    /// changed, or the directory itself went away or events were lost: look again.
    Settled,
    /// Only writes to a file still open for writing: `printf 1 >FILE` truncates it first
    /// (an empty file, for a moment) and writes after. Look, but take an empty file as a
    /// rewrite in progress, not as the new content.
    Writing,
}

/// Changes to one file, from a watch on its directory, as wake-ups.
pub struct DirWatch {
    fd: Option<AsyncFd<InotifyFd>>,
    dir: PathBuf,
    /// The file's name in `dir`: events about other files in the directory do not wake.
    name: Option<OsString>,
}

impl DirWatch {
    /// Watch the directory of `file`.
    pub fn new(file: &Path) -> DirWatch {
        let dir = file.parent().unwrap_or(Path::new("/")).to_path_buf();
        let name = file.file_name().map(OsStr::to_os_string);
        let mut w = DirWatch {
            fd: None,
            dir,
            name,
        };
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

    /// Wait until something happens to the file (or, while the directory is missing, for
    /// the next retry).
    pub async fn changed(&mut self) -> Change {
        let Some(fd) = &self.fd else {
            tokio::time::sleep(DIR_RETRY).await;
            self.arm();
            return Change::Settled;
        };
        let (gone, change) = loop {
            let Ok(mut guard) = fd.readable().await else {
                break (true, Change::Settled);
            };
            match guard.get_inner().0.read_events() {
                Ok(events) => {
                    if let Some(seen) = sort_events(&events, self.name.as_deref()) {
                        break seen;
                    }
                }
                // Nothing after all (readiness is edge-triggered): wait for a real event.
                Err(nix::errno::Errno::EAGAIN) => guard.clear_ready(),
                Err(_) => break (true, Change::Settled),
            }
        };
        if gone {
            // The directory went away or moved: watch the path again (or wait for it).
            self.arm();
        }
        change
    }
}

/// What a batch of events means for the file `name`: None when nothing concerns it;
/// otherwise whether the directory itself went away, and the [`Change`].
fn sort_events(events: &[InotifyEvent], name: Option<&OsStr>) -> Option<(bool, Change)> {
    let gone_mask =
        AddWatchFlags::IN_IGNORED | AddWatchFlags::IN_DELETE_SELF | AddWatchFlags::IN_MOVE_SELF;
    let gone = events.iter().any(|e| e.mask.intersects(gone_mask));
    // Lost events may have been about the file.
    let lost = events
        .iter()
        .any(|e| e.mask.contains(AddWatchFlags::IN_Q_OVERFLOW));
    let ours: Vec<AddWatchFlags> = events
        .iter()
        .filter(|e| name.is_none() || e.name.as_deref() == name)
        .filter(|e| e.name.is_some())
        .map(|e| e.mask)
        .collect();
    if !gone && !lost && ours.is_empty() {
        return None;
    }
    let writing_only = ours.iter().all(|m| *m == AddWatchFlags::IN_MODIFY);
    let change = if !gone && !lost && writing_only {
        Change::Writing
    } else {
        Change::Settled
    };
    Some((gone, change))
}

/// An empty file seen while it is [`Change::Writing`]: a rewrite between its truncation
/// and its write, whose content is not there yet.
pub fn mid_rewrite(path: &Path, change: Change) -> bool {
    change == Change::Writing && std::fs::metadata(path).is_ok_and(|m| m.len() == 0)
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
        let mut change = Change::Settled;
        loop {
            let content = matches!(up_when, FileUpWhen::Zero | FileUpWhen::Nonzero);
            if content && mid_rewrite(&path, change) {
                // `printf 0 >FILE` on a healthy object must not take it down for the moment
                // between the truncation and the write: the write (or the close) wakes again.
                reporter.record("file being rewritten");
            } else {
                let now = evaluate(&path, up_when);
                if last.as_ref() != Some(&now) {
                    reporter.report(now.0, now.1.clone());
                    last = Some(now);
                } else {
                    reporter.record(now.1.clone());
                }
            }
            change = watch.changed().await;
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

    /// Waits (up to 10 s) until the tracker records `said` as its last observation.
    async fn until_recorded(status: &std::sync::Mutex<super::super::Status>, said: &str) {
        for _ in 0..1000 {
            if super::super::lock(status).last_result == said {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the tracker never recorded {said:?}");
    }

    #[tokio::test]
    async fn track_file_rewritten_in_place_does_not_flap() {
        use std::io::Write;
        let dir =
            std::env::temp_dir().join(format!("netvrrp-track-rewrite-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("health");
        std::fs::write(&f, "0\n").unwrap();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let status = std::sync::Arc::new(std::sync::Mutex::new(super::super::Status::default()));
        let reporter = Reporter {
            name: "f".into(),
            generation: 1,
            tx,
            status: status.clone(),
        };
        let tracker = spawn(f.clone(), FileUpWhen::Zero, reporter);
        let first = rx.recv().await.unwrap();
        assert!(first.up);
        // `printf 0 >FILE`, held open between the truncation and the write: the empty file
        // is a rewrite in progress, not a file that holds no integer.
        let mut w = std::fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(&f)
            .unwrap();
        until_recorded(&status, "file being rewritten").await;
        assert!(
            rx.try_recv().is_err(),
            "no report while the file is rewritten"
        );
        w.write_all(b"0\n").unwrap();
        drop(w);
        until_recorded(&status, "file holds 0").await;
        // The next report is the real change.
        std::fs::write(&f, "1\n").unwrap();
        let r = rx.recv().await.unwrap();
        assert!(!r.up);
        assert_eq!(super::super::lock(&status).last_result, "file holds 1");
        // A file emptied for good (`: >FILE`: truncated and closed) counts as it is.
        drop(std::fs::File::create(&f).unwrap());
        let r = rx.recv().await.unwrap();
        assert!(!r.up);
        until_recorded(&status, "file holds no integer").await;
        std::fs::write(&f, "0\n").unwrap();
        assert!(rx.recv().await.unwrap().up);
        tracker.abort();
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
