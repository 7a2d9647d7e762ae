//! The control socket `<run-dir>/netvrrp.sock`: newline-delimited JSON, one request per line,
//! one reply line per request (a `subscribe` request instead streams event lines until the
//! client goes away). The wire protocol is documented in netvrrp(8).
//!
//! Requests: `{"cmd":"ping"}`, `{"cmd":"show-vrrp"}`, `{"cmd":"show-vrrs","what":"server"}`,
//! `{"cmd":"stop"}`, `{"cmd":"reload","file":"/etc/network/vrrp.toml"}`,
//! `{"cmd":"subscribe","names":["group1"]}`.
//! Replies: `{"ok":true,"data":...}` or `{"ok":false,"error":"..."}`.

use crate::exit;
use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Longest request line the runtime reads; longer lines are refused without buffering them.
pub const MAX_REQUEST: usize = 64 * 1024;

/// Control connections served at once (subscribers included); beyond that a new connection
/// gets an error line and is closed. With [`MAX_REQUEST`] this bounds what clients can make
/// the runtime hold to 64 MiB. How the slots are shared between users: `super::admission`.
pub const MAX_CONNECTIONS: usize = 1024;

/// Once the first byte of a request has arrived, the rest of the line must follow within this
/// time; otherwise the connection is closed (a half-sent request does not hold memory and a
/// descriptor forever). Waiting for the first byte: `super::admission::IDLE_TIMEOUT`.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

pub fn socket_path(run_dir: &Path) -> PathBuf {
    run_dir.join("netvrrp.sock")
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "kebab-case")]
pub enum Request {
    Ping,
    ShowVrrp,
    ShowVrrs {
        what: String,
    },
    /// `[[track]]` objects: all, or the one named.
    ShowTrack {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
    },
    Stop,
    Reload {
        file: PathBuf,
        /// Until when the client waits for the answer (CLOCK_MONOTONIC milliseconds, see
        /// [`monotonic_ms`]): a reload the runtime comes to after that is dropped, not
        /// carried out behind a client that gave up (and undid its kernel changes).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        answer_by: Option<u64>,
    },
    Subscribe {
        #[serde(default)]
        names: Vec<String>,
    },
    /// Who the runtime is and the configuration it runs ([`crate::reconcile::RunningState`]).
    Running,
    /// Switch a debug log category on or off (both set), or report which are on (neither;
    /// see [`super::debug`]).
    Debug {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        category: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        on: Option<bool>,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Reply {
    pub ok: bool,
    /// The answer as JSON text: serialised straight from what it describes. A row per
    /// router went through a `serde_json::Value` tree first, 2 MB for a moment at 4,000
    /// routers (a `reload` reply), several times the text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Box<RawValue>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Reply {
    pub fn ok(data: serde_json::Value) -> Reply {
        Reply::data(&data)
    }
    /// `data` serialised as the answer.
    pub fn data<T: Serialize + ?Sized>(data: &T) -> Reply {
        match serde_json::value::to_raw_value(data) {
            Ok(data) => Reply {
                ok: true,
                data: Some(data),
                error: None,
            },
            Err(e) => Reply::err(format!("cannot encode the answer: {e}")),
        }
    }
    /// The rows of a `show` request (the CLI adds the `schema` envelope).
    pub fn rows<T: Serialize>(rows: Vec<T>) -> Reply {
        Reply::data(&rows)
    }
    pub fn err(msg: impl Into<String>) -> Reply {
        Reply {
            ok: false,
            data: None,
            error: Some(msg.into()),
        }
    }
}

/// Parse one request line; the error says what is wrong for the reply.
pub fn parse_request(line: &str) -> Result<Request, String> {
    serde_json::from_str(line.trim()).map_err(|e| format!("bad request: {e}"))
}

/// The `identity` a request line carries (which namespace and run-dir its client means;
/// see [`super::identity`]), if any.
pub fn parse_identity(line: &str) -> Option<super::identity::Identity> {
    #[derive(Deserialize)]
    struct Envelope {
        identity: Option<super::identity::Identity>,
    }
    serde_json::from_str::<Envelope>(line.trim())
        .ok()
        .and_then(|e| e.identity)
}

/// One request line: the request and the identity of the runtime it is meant for.
fn request_line(run_dir: &Path, req: &Request) -> anyhow::Result<String> {
    let mut value = serde_json::to_value(req).context("cannot encode request")?;
    if let Some(obj) = value.as_object_mut() {
        obj.insert(
            "identity".into(),
            serde_json::to_value(super::identity::client_identity(run_dir))
                .context("cannot encode the identity")?,
        );
    }
    let mut line = serde_json::to_string(&value).context("cannot encode request")?;
    line.push('\n');
    Ok(line)
}

/// How long a client waits for a reply.
const REPLY_TIMEOUT: Duration = Duration::from_secs(30);

/// The deadline a reload request carries: the runtime must have begun to swap it in by then.
/// The client waits a little longer ([`REPLY_TIMEOUT`]), so a swap begun just before the
/// deadline is still answered.
pub fn reload_deadline() -> u64 {
    monotonic_ms() + REPLY_TIMEOUT.as_millis() as u64 - 5_000
}

/// CLOCK_MONOTONIC in milliseconds: the same clock in the client and the runtime (one host,
/// one time namespace), unaffected by changes of the wall clock.
pub fn monotonic_ms() -> u64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec to the pointer it is given.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut t) };
    t.tv_sec as u64 * 1000 + t.tv_nsec as u64 / 1_000_000
}

fn connect(run_dir: &Path) -> anyhow::Result<UnixStream> {
    let path = socket_path(run_dir);
    let s = match UnixStream::connect(&path) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => bail!(
            "permission denied on {}: the control socket is root-only unless [runtime] \
             control-group or control-read-group names a group you are in",
            path.display()
        ),
        Err(e) => {
            return Err(e).with_context(|| format!("no runtime answers on {}", path.display()));
        }
    };
    s.set_read_timeout(Some(REPLY_TIMEOUT))
        .context("cannot set a timeout on the control socket")?;
    Ok(s)
}

/// The error for a reply with `ok: false`.
fn refusal(reply: Reply) -> anyhow::Error {
    anyhow::anyhow!(
        "the runtime refused: {}",
        reply.error.unwrap_or_else(|| "no reason given".into())
    )
}

/// Write one request line. The runtime answers a peer it refuses (permission, connection
/// limit) with one error line and closes at once, possibly before the request is written:
/// then the write fails (EPIPE) and that error line, still readable, is the real answer.
fn write_request(s: &mut UnixStream, line: &str) -> anyhow::Result<()> {
    let Err(write_err) = s.write_all(line.as_bytes()) else {
        return Ok(());
    };
    let mut answer = String::new();
    if BufReader::new(&*s).read_line(&mut answer).is_ok()
        && let Ok(reply) = serde_json::from_str::<Reply>(&answer)
        && !reply.ok
    {
        return Err(refusal(reply));
    }
    Err(write_err).context("cannot write to the control socket")
}

/// Send one request and read one reply.
pub fn request(run_dir: &Path, req: &Request) -> anyhow::Result<serde_json::Value> {
    let mut s = connect(run_dir)?;
    let line = request_line(run_dir, req)?;
    write_request(&mut s, &line)?;
    let mut reader = BufReader::new(s);
    let mut answer = String::new();
    if let Err(e) = reader.read_line(&mut answer) {
        if matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ) {
            bail!(
                "the runtime did not answer within {} s (it holds the run-dir but is busy or \
                 stopped); a reload it had not begun to swap in by then is dropped",
                REPLY_TIMEOUT.as_secs()
            );
        }
        return Err(e).context("cannot read the runtime's reply");
    }
    if answer.is_empty() {
        bail!("the runtime closed the control socket without answering");
    }
    let reply: Reply = serde_json::from_str(&answer)
        .with_context(|| format!("unreadable reply from the runtime: {answer:?}"))?;
    if reply.ok {
        match reply.data {
            Some(data) => serde_json::from_str(data.get())
                .with_context(|| format!("unreadable answer from the runtime: {}", data.get())),
            None => Ok(serde_json::Value::Null),
        }
    } else {
        Err(refusal(reply))
    }
}

pub fn ping(run_dir: &Path) -> anyhow::Result<()> {
    request(run_dir, &Request::Ping).map(|_| ())
}

/// The pid of the runtime answering on `run_dir` (a `ping`: none of `running`'s rows).
pub fn pid(run_dir: &Path) -> anyhow::Result<u32> {
    let answer = request(run_dir, &Request::Ping)?;
    answer["pid"]
        .as_u64()
        .and_then(|p| u32::try_from(p).ok())
        .with_context(|| format!("no pid in the runtime's ping answer: {answer}"))
}

/// Ask the runtime to stop and wait until it has exited (its lock is free).
pub fn stop(run_dir: &Path) -> anyhow::Result<()> {
    request(run_dir, &Request::Stop)?;
    for _ in 0..400 {
        if !super::identity::is_running(run_dir) && ping(run_dir).is_err() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    bail!("the runtime acknowledged stop but is still running after 10 s")
}

/// Stream pushed state changes to stdout as JSON lines until the runtime or the reader goes.
pub fn subscribe(run_dir: &Path, names: &[String]) -> i32 {
    let run = || -> anyhow::Result<()> {
        let mut s = connect(run_dir)?;
        s.set_read_timeout(None)
            .context("cannot clear the socket timeout")?;
        let line = request_line(
            run_dir,
            &Request::Subscribe {
                names: names.to_vec(),
            },
        )?;
        write_request(&mut s, &line)?;
        let reader = BufReader::new(s);
        let stdout = std::io::stdout();
        for line in reader.lines() {
            let line = line.context("control socket read failed")?;
            // Events carry "event"; a reply line in their place is a refusal (permission,
            // connection limit) and must not look like a stream that ended normally.
            if let Ok(reply) = serde_json::from_str::<Reply>(&line)
                && !reply.ok
            {
                return Err(refusal(reply));
            }
            let mut out = stdout.lock();
            if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
                return Ok(()); // the reader went away (e.g. `| head`)
            }
        }
        Ok(())
    };
    match run() {
        Ok(()) => exit::OK,
        Err(e) => {
            crate::report!("{e:#}");
            exit::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The answer is written inline, as if it had been a value, and read back as one.
    #[test]
    fn reply_wire_format() {
        #[derive(Serialize)]
        struct Row {
            interface: &'static str,
            vrid: u8,
        }
        let reply = Reply::rows(vec![Row {
            interface: "eth0",
            vrid: 7,
        }]);
        let text = serde_json::to_string(&reply).unwrap();
        assert_eq!(
            text,
            r#"{"ok":true,"data":[{"interface":"eth0","vrid":7}]}"#
        );
        let back: Reply = serde_json::from_str(&text).unwrap();
        let data: serde_json::Value = serde_json::from_str(back.data.unwrap().get()).unwrap();
        assert_eq!(data, serde_json::json!([{"interface": "eth0", "vrid": 7}]));
        assert_eq!(
            serde_json::to_string(&Reply::ok(serde_json::json!("stopping"))).unwrap(),
            r#"{"ok":true,"data":"stopping"}"#
        );
        let refused = serde_json::to_string(&Reply::err("no")).unwrap();
        assert_eq!(refused, r#"{"ok":false,"error":"no"}"#);
    }

    #[test]
    fn request_wire_format() {
        assert_eq!(parse_request(r#"{"cmd":"ping"}"#), Ok(Request::Ping));
        assert_eq!(
            parse_request(r#"{"cmd":"subscribe"}"#),
            Ok(Request::Subscribe { names: vec![] })
        );
        assert_eq!(
            serde_json::to_string(&Request::Reload {
                file: "/x.toml".into(),
                answer_by: None,
            })
            .unwrap(),
            r#"{"cmd":"reload","file":"/x.toml"}"#
        );
        assert!(parse_request("garbage").is_err());
        assert!(parse_request(r#"{"cmd":"launch-missiles"}"#).is_err());
    }
}
