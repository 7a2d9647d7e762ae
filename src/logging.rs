//! tracing setup: `-v`/`-q` pick the level; RUST_LOG overrides with its own filters; the
//! runtime switches debug categories live ([`crate::log_filter`]).
//! Targets: netvrrp::protocol, netvrrp::packets, netvrrp::kernel, netvrrp::vrrs.
//!
//! The default level is info: state changes (with their reason), reloads and tracking
//! changes are logged at info and are what an operator looks for first (keepalived logs
//! "Entering MASTER STATE" by default too); nothing logs at info per packet.
//!
//! Three outputs:
//! - text (default): one line per event with its level, on stderr;
//! - JSON (`--log-format json`): one object per line, the event's fields at the top level
//!   next to timestamp, level, target and message;
//! - journald: when stderr is the journal stream systemd gave us (`JOURNAL_STREAM`), events
//!   go to journald's native socket instead, with their level as PRIORITY and their fields
//!   (INTERFACE, VRID, FAMILY, ...) as journal fields, so `journalctl -p warning` and
//!   `journalctl VRID=7` work.
//!
//! Command errors ([`report`]) follow the same choice: `netvrrp: ...` lines in text, an
//! ERROR event in JSON or journald.

use crate::cli::LogFormat;
use std::io::IsTerminal;
use std::sync::OnceLock;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Where events go, once [`init`] chose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    Text,
    Json,
    Journald,
}

static OUTPUT: OnceLock<Output> = OnceLock::new();

/// The output [`init`] chose (text before it ran).
pub fn output() -> Output {
    OUTPUT.get().copied().unwrap_or(Output::Text)
}

fn default_level(verbose: u8, quiet: bool) -> &'static str {
    match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "info",
        (false, 1) => "debug",
        _ => "trace",
    }
}

/// Is our stderr the journal stream systemd set up? `JOURNAL_STREAM` is `DEV:INODE` of that
/// stream; a process that inherited the variable but writes its stderr elsewhere (a runtime
/// spawned by `apply` logs to a file) must not take it as an invitation (sd_journal docs).
fn stderr_is_journal() -> bool {
    let Some(var) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let Some((dev, ino)) = var.to_str().and_then(|v| v.split_once(':')) else {
        return false;
    };
    let (Ok(dev), Ok(ino)) = (dev.parse::<libc::dev_t>(), ino.parse::<libc::ino_t>()) else {
        return false;
    };
    match nix::sys::stat::fstat(std::io::stderr()) {
        Ok(st) => st.st_dev == dev && st.st_ino == ino,
        Err(_) => false,
    }
}

/// The journald layer: fields without a prefix (INTERFACE=, VRID=, ...), the identifier
/// `netvrrp`, and levels mapped to syslog priorities as journalctl's `-p` reads them (info is
/// 6 "info", not tracing-journald's default 5 "notice").
fn journald_layer() -> std::io::Result<tracing_journald::Layer> {
    use tracing_journald::{Priority, PriorityMappings};
    Ok(tracing_journald::layer()?
        .with_field_prefix(None)
        .with_syslog_identifier("netvrrp".into())
        .with_priority_mappings(PriorityMappings {
            error: Priority::Error,
            warn: Priority::Warning,
            info: Priority::Informational,
            debug: Priority::Debug,
            trace: Priority::Debug,
        }))
}

pub fn init(verbose: u8, quiet: bool, format: LogFormat) {
    let level = default_level(verbose, quiet);
    // RUST_LOG overrides the level; the runtime can change the filter later (`netvrrp debug`,
    // see [`crate::log_filter`]).
    let base = std::env::var("RUST_LOG")
        .ok()
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| level.to_string());
    let filter = crate::log_filter::layer(&base, level);
    if stderr_is_journal() {
        // No journald socket (a container without one): fall back to text on stderr, which
        // the journal still records.
        if let Ok(layer) = journald_layer() {
            let _ = OUTPUT.set(Output::Journald);
            let _ = tracing_subscriber::registry()
                .with(filter)
                .with(layer)
                .try_init();
            return;
        }
    }
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(|| CountedStderr)
        .with_level(true);
    let registry = tracing_subscriber::registry().with(filter);
    let _ = match format {
        LogFormat::Json => {
            let _ = OUTPUT.set(Output::Json);
            registry
                .with(
                    fmt.json()
                        .flatten_event(true)
                        .with_current_span(false)
                        .with_span_list(false),
                )
                .try_init()
        }
        LogFormat::Text => {
            let _ = OUTPUT.set(Output::Text);
            registry
                .with(fmt.compact().with_ansi(
                    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
                ))
                .try_init()
        }
    };
}

/// stderr, with every byte written counted for the rotation of a spawned runtime's log
/// file ([`crate::daemon::log_file`]; nothing is counted elsewhere).
struct CountedStderr;

impl std::io::Write for CountedStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = std::io::stderr().write(buf)?;
        crate::daemon::log_file::wrote(n);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// A command's error message: `netvrrp: MSG` on stderr in text, an ERROR event of target
/// `netvrrp::command` in JSON or journald (so a log shipper or `journalctl -p err` sees it).
pub fn report(msg: std::fmt::Arguments) {
    emit(msg, "netvrrp: ");
}

/// Like [`report`], without the `netvrrp: ` prefix in text (messages that carry their own,
/// such as `file:line:col: ...` configuration errors).
pub fn report_plain(msg: std::fmt::Arguments) {
    emit(msg, "");
}

fn emit(msg: std::fmt::Arguments, text_prefix: &str) {
    let structured = output() != Output::Text
        && tracing::enabled!(target: "netvrrp::command", tracing::Level::ERROR);
    if structured {
        tracing::error!(target: "netvrrp::command", "{msg}");
    } else {
        eprintln!("{text_prefix}{msg}");
    }
}

/// `report!("...", args)`: see [`report`].
#[macro_export]
macro_rules! report {
    ($($arg:tt)*) => { $crate::logging::report(format_args!($($arg)*)) };
}

/// `report_plain!("...", args)`: see [`report_plain`].
#[macro_export]
macro_rules! report_plain {
    ($($arg:tt)*) => { $crate::logging::report_plain(format_args!($($arg)*)) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_by_default() {
        assert_eq!(default_level(0, false), "info");
        assert_eq!(default_level(1, false), "debug");
        assert_eq!(default_level(3, false), "trace");
        assert_eq!(default_level(2, true), "error");
    }

    #[test]
    fn journal_stream_must_be_our_stderr() {
        // SAFETY (set_var): this test binary's tests do not read JOURNAL_STREAM elsewhere.
        unsafe { std::env::set_var("JOURNAL_STREAM", "1:2") };
        assert!(!stderr_is_journal());
        let st = nix::sys::stat::fstat(std::io::stderr()).expect("fstat stderr");
        unsafe { std::env::set_var("JOURNAL_STREAM", format!("{}:{}", st.st_dev, st.st_ino)) };
        assert!(stderr_is_journal());
        unsafe { std::env::set_var("JOURNAL_STREAM", "garbage") };
        assert!(!stderr_is_journal());
        unsafe { std::env::remove_var("JOURNAL_STREAM") };
        assert!(!stderr_is_journal());
    }
}
