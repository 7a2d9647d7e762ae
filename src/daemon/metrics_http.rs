//! The HTTP side of `[runtime] metrics-listen`: a small server for `GET`/`HEAD /metrics`
//! with a policy, because the listener may face a network the operator does not control.
//!
//! - At most [`MAX_CONNECTIONS`] connections are open at once. When a new one arrives at the
//!   cap, the oldest connection still waiting for its request head is closed to make room
//!   (or, when every one is busy replying, the new one waits for one to finish): idle
//!   connections cannot lock scrapers out (a scraper sends its head at once, so it leaves
//!   the evictable set within microseconds), and descriptors never grow past the cap + 1.
//! - The request head must arrive whole within [`HEAD_TIMEOUT`] (a deadline, not a per-read
//!   timeout: a client trickling one byte at a time is cut all the same), and the reply must
//!   be taken within [`WRITE_TIMEOUT`].
//! - The text is rendered off the election loop: the loop only copies its `show` rows into a
//!   [`Snapshot`] (what `show vrrp` costs); the 12.6 MB of text for 4,000 routers (measured) is built on a
//!   blocking thread.
//! - `Accept`: OpenMetrics 1.0.0 when the client asks for it at least as much as for the
//!   classic text format (Prometheus does; so does a missing header or `*/*`, the behaviour
//!   before negotiation existed), `text/plain; version=0.0.4` when the client prefers it,
//!   406 when it accepts neither.
//!
//! Hand-written rather than hyper: see README "Metrics" for the measurements behind it.

use super::metrics::Snapshot;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::sync::{mpsc, oneshot};

/// Open connections at most (each costs one descriptor and a task).
pub const MAX_CONNECTIONS: usize = 64;
/// The whole request head must arrive within this.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(5);
/// The whole reply must be taken within this (12.6 MB at 4,000 routers over a slow link still fits).
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// A request head longer than this is refused (ours are under 300 bytes).
pub const MAX_HEAD: usize = 8192;

/// How the loop is asked for a snapshot.
pub type ScrapeRequests = mpsc::Sender<oneshot::Sender<Snapshot>>;

/// The exposition format of a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    OpenMetrics,
    Text004,
}

impl Format {
    fn content_type(self) -> &'static str {
        match self {
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Format::Text004 => "text/plain; version=0.0.4; charset=utf-8",
        }
    }
}

/// What a request head asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Request {
    /// `GET` (body) or `HEAD` (headers only) of the metrics, in this format.
    Metrics {
        head_only: bool,
        format: Format,
    },
    NotFound,
    MethodNotAllowed,
    NotAcceptable,
    BadRequest,
}

/// Judge a request head (everything up to the empty line).
pub fn parse_head(head: &[u8]) -> Request {
    let Ok(text) = std::str::from_utf8(head) else {
        return Request::BadRequest;
    };
    let mut lines = text.split("\r\n");
    let mut first = lines.next().unwrap_or("").split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (first.next(), first.next(), first.next(), first.next())
    else {
        return Request::BadRequest;
    };
    if !version.starts_with("HTTP/1.") {
        return Request::BadRequest;
    }
    let mut accept: Option<String> = None;
    for line in lines.filter(|l| !l.is_empty()) {
        let Some((name, value)) = line.split_once(':') else {
            return Request::BadRequest;
        };
        if name.eq_ignore_ascii_case("accept") {
            // Repeated headers form one list (RFC 9110 section 5.3).
            let v = value.trim();
            accept = Some(match accept {
                Some(a) => format!("{a},{v}"),
                None => v.to_string(),
            });
        }
    }
    let head_only = match method {
        "GET" => false,
        "HEAD" => true,
        _ => return Request::MethodNotAllowed,
    };
    let path = target.split('?').next().unwrap_or("");
    if path != "/metrics" && path != "/" {
        return Request::NotFound;
    }
    match negotiate(accept.as_deref()) {
        Some(format) => Request::Metrics { head_only, format },
        None => Request::NotAcceptable,
    }
}

/// The format for an `Accept` header; None when it accepts neither.
pub fn negotiate(accept: Option<&str>) -> Option<Format> {
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
        return Some(Format::OpenMetrics);
    };
    let (mut om, mut text) = (0.0f32, 0.0f32);
    for range in accept.split(',') {
        let mut params = range.split(';');
        let media = params.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = params
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0)
            .clamp(0.0, 1.0);
        match media.as_str() {
            "application/openmetrics-text" | "application/*" => om = om.max(q),
            "text/plain" | "text/*" => text = text.max(q),
            "*/*" => {
                om = om.max(q);
                text = text.max(q);
            }
            _ => {}
        }
    }
    if om <= 0.0 && text <= 0.0 {
        None
    } else if om >= text {
        Some(Format::OpenMetrics)
    } else {
        Some(Format::Text004)
    }
}

/// The classic text format (0.0.4) from our OpenMetrics text: no `# UNIT` or `# EOF`, and a
/// counter's `# TYPE`/`# HELP` name its `_total` series (the classic format has no families).
pub fn to_text004(openmetrics: &str) -> String {
    let mut out = String::with_capacity(openmetrics.len());
    let mut counter = false;
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            counter = rest.ends_with(" counter");
            if let Some(name) = rest.strip_suffix(" counter") {
                out.push_str("# TYPE ");
                out.push_str(name);
                out.push_str("_total counter\n");
                continue;
            }
        } else if let Some(rest) = line.strip_prefix("# HELP ")
            && counter
            && let Some((name, help)) = rest.split_once(' ')
        {
            out.push_str("# HELP ");
            out.push_str(name);
            out.push_str("_total ");
            out.push_str(help);
            out.push('\n');
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// Connections waiting for their request head, oldest first, each with the sender that
/// closes it.
#[derive(Default)]
struct Waiting {
    next_id: AtomicU64,
    queue: Mutex<VecDeque<(u64, oneshot::Sender<()>)>>,
}

impl Waiting {
    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<(u64, oneshot::Sender<()>)>> {
        self.queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn enter(&self) -> (u64, oneshot::Receiver<()>) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.lock().push_back((id, tx));
        (id, rx)
    }

    fn leave(&self, id: u64) {
        self.lock().retain(|(i, _)| *i != id);
    }

    /// Close the oldest waiting connection; false when none waits.
    fn evict_oldest(&self) -> bool {
        match self.lock().pop_front() {
            Some((_, close)) => {
                let _ = close.send(());
                true
            }
            None => false,
        }
    }
}

/// Open connections, and a wake-up for the accept loop when one closes.
#[derive(Default)]
struct Open {
    count: AtomicUsize,
    freed: tokio::sync::Notify,
}

/// Counts a connection as open until dropped.
struct Slot(Arc<Open>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.count.fetch_sub(1, Ordering::AcqRel);
        // Stored as a permit when the accept loop is not waiting yet.
        self.0.freed.notify_one();
    }
}

/// Serve the metrics on a bound listener (bound before the runtime reports ready, so a
/// scrape right after READY=1 finds it). Each scrape asks the loop for a [`Snapshot`]
/// through `scrape` (numbers of one instant of the loop) and renders it here.
pub async fn serve(listener: tokio::net::TcpListener, scrape: ScrapeRequests) {
    let open = Arc::new(Open::default());
    let waiting = Arc::new(Waiting::default());
    loop {
        let Ok((conn, _)) = listener.accept().await else {
            // EMFILE and the like: let descriptors free up instead of spinning.
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        // At the cap: close the oldest idle connection, or wait for a busy one to finish,
        // and only then take this one (descriptors never exceed the cap by more than it).
        while open.count.load(Ordering::Acquire) >= MAX_CONNECTIONS {
            waiting.evict_oldest();
            open.freed.notified().await;
        }
        open.count.fetch_add(1, Ordering::AcqRel);
        let slot = Slot(open.clone());
        let (scrape, waiting) = (scrape.clone(), waiting.clone());
        tokio::spawn(async move {
            let _slot = slot;
            let (id, evicted) = waiting.enter();
            let head = tokio::select! {
                h = tokio::time::timeout(HEAD_TIMEOUT, read_head(&conn)) => h,
                _ = evicted => return,
            };
            waiting.leave(id);
            let Ok(head) = head else { return };
            let request = match head {
                Some(h) => parse_head(&h),
                None => Request::BadRequest,
            };
            let reply = reply(request, &scrape).await;
            let mut conn = conn;
            let _ = tokio::time::timeout(WRITE_TIMEOUT, conn.write_all(&reply)).await;
        });
    }
}

/// The bytes up to and including the empty line; None when the client closed first or sent
/// more than [`MAX_HEAD`].
async fn read_head(conn: &tokio::net::TcpStream) -> Option<Vec<u8>> {
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    loop {
        conn.readable().await.ok()?;
        let n = match conn.try_read(&mut chunk) {
            Ok(0) => return None,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(_) => return None,
        };
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            buf.truncate(end);
            return Some(buf);
        }
        if buf.len() > MAX_HEAD {
            return None;
        }
    }
}

async fn reply(request: Request, scrape: &ScrapeRequests) -> Vec<u8> {
    let (status, extra, ctype, body, head_only) = match request {
        Request::Metrics { head_only, format } => {
            let (tx, rx) = oneshot::channel();
            let text = match scrape.send(tx).await {
                Ok(()) => match rx.await {
                    Ok(snapshot) => tokio::task::spawn_blocking(move || {
                        let text = snapshot.render();
                        match format {
                            Format::OpenMetrics => text,
                            Format::Text004 => to_text004(&text),
                        }
                    })
                    .await
                    .ok(),
                    Err(_) => None,
                },
                Err(_) => None,
            };
            match text {
                Some(t) => ("200 OK", "", format.content_type(), t, head_only),
                None => (
                    "503 Service Unavailable",
                    "",
                    "text/plain",
                    "the runtime is stopping\n".into(),
                    head_only,
                ),
            }
        }
        Request::NotFound => (
            "404 Not Found",
            "",
            "text/plain",
            "only GET or HEAD /metrics here\n".into(),
            false,
        ),
        Request::MethodNotAllowed => (
            "405 Method Not Allowed",
            "Allow: GET, HEAD\r\n",
            "text/plain",
            "only GET or HEAD /metrics here\n".into(),
            false,
        ),
        Request::NotAcceptable => (
            "406 Not Acceptable",
            "",
            "text/plain",
            "available: application/openmetrics-text; version=1.0.0, text/plain; version=0.0.4\n"
                .into(),
            false,
        ),
        Request::BadRequest => (
            "400 Bad Request",
            "",
            "text/plain",
            "bad request head\n".into(),
            false,
        ),
    };
    let mut out = format!(
        "HTTP/1.1 {status}\r\n{extra}Content-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if !head_only {
        out.extend_from_slice(body.as_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROMETHEUS: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

    #[test]
    fn accept_picks_the_preferred_format() {
        assert_eq!(negotiate(None), Some(Format::OpenMetrics));
        assert_eq!(negotiate(Some("*/*")), Some(Format::OpenMetrics));
        assert_eq!(negotiate(Some(PROMETHEUS)), Some(Format::OpenMetrics));
        assert_eq!(negotiate(Some("text/plain")), Some(Format::Text004));
        assert_eq!(
            negotiate(Some("text/plain;version=0.0.4, */*;q=0.1")),
            Some(Format::Text004)
        );
        assert_eq!(
            negotiate(Some("application/openmetrics-text;q=0, text/*")),
            Some(Format::Text004)
        );
        assert_eq!(negotiate(Some("application/json")), None);
        assert_eq!(negotiate(Some("text/plain;q=0")), None);
    }

    #[test]
    fn request_heads_are_judged() {
        let m = |head_only, format| Request::Metrics { head_only, format };
        assert_eq!(
            parse_head(b"GET /metrics HTTP/1.1\r\nHost: x"),
            m(false, Format::OpenMetrics)
        );
        assert_eq!(
            parse_head(b"HEAD / HTTP/1.0\r\nACCEPT: text/plain"),
            m(true, Format::Text004)
        );
        assert_eq!(
            parse_head(b"GET /metrics?x=1 HTTP/1.1\r\nAccept: application/json\r\naccept: text/plain;q=0.5"),
            m(false, Format::Text004)
        );
        assert_eq!(
            parse_head(b"GET /metrics HTTP/1.1\r\nAccept: application/json"),
            Request::NotAcceptable
        );
        assert_eq!(parse_head(b"GET /x HTTP/1.1"), Request::NotFound);
        assert_eq!(
            parse_head(b"POST /metrics HTTP/1.1"),
            Request::MethodNotAllowed
        );
        for bad in [
            &b"GET /metrics"[..],
            b"GET /metrics HTTP/1.1 x",
            b"GET /metrics SPDY/3",
            b"GET /metrics HTTP/1.1\r\nno colon",
            b"GET /metrics HTTP/1.1\r\nHost: \xff",
            b"",
        ] {
            assert_eq!(parse_head(bad), Request::BadRequest, "{bad:?}");
        }
    }

    #[test]
    fn classic_text_names_counter_series_and_drops_openmetrics_lines() {
        let om = "# TYPE a_seconds gauge\n# UNIT a_seconds seconds\n# HELP a_seconds how long\na_seconds 1\n\
                  # TYPE b counter\n# HELP b how many\nb_total{x=\"1\"} 2\n# EOF\n";
        assert_eq!(
            to_text004(om),
            "# TYPE a_seconds gauge\n# HELP a_seconds how long\na_seconds 1\n\
             # TYPE b_total counter\n# HELP b_total how many\nb_total{x=\"1\"} 2\n"
        );
    }

    #[test]
    fn eviction_closes_the_oldest_waiting_connection() {
        let w = Waiting::default();
        let (a, mut ra) = w.enter();
        let (_b, mut rb) = w.enter();
        w.leave(a);
        assert!(ra.try_recv().is_err());
        assert!(w.evict_oldest());
        assert_eq!(rb.try_recv(), Ok(()));
        assert!(!w.evict_oldest());
    }
}
