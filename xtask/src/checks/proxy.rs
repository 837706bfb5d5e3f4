//! The grader's proxy checks: the same answer through the proxy as straight from Python, and a
//! silent close when the upstream is dead.
//!
//! The grader renders both responses with Node's `fetch` and compares the strings, `Date`
//! included, so a second boundary between the two requests fails it for no fault of the proxy.
//! The checker compares the raw bytes instead (status line, every header in order, body) and
//! allows the two `Date` values to differ by at most one second.

use std::io::ErrorKind;
use std::thread;
use std::time::{Duration, SystemTime};

use super::http::client::{exchange, Body, Response};
use super::wire::{connect, read_to_close, send, show, End};
use super::Verdict;
use crate::runner::StageRun;

/// Sends `GET path` to `port` the way a browser's fetch does (HTTP/1.1, keep-alive) and reads
/// one response, framed by `Content-Length` or by the close.
pub fn get(port: u16, path: &str) -> Result<Response, String> {
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: keep-alive\r\nAccept: */*\r\nUser-Agent: xtask\r\n\r\n"
    );
    exchange(port, request.as_bytes(), Body::Read, false).map(|e| e.response)
}

/// Parses an HTTP date such as `Tue, 25 Nov 2025 06:58:00 GMT`.
fn date(response: &Response) -> Option<SystemTime> {
    let (_, value) = response
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("date"))?;
    httpdate::parse_http_date(value).ok()
}

/// Compares a proxied response with the direct one; `Err` says the first difference.
pub fn compare(proxied: &Response, direct: &Response) -> Result<(), String> {
    if proxied.status_line != direct.status_line {
        return Err(format!(
            "status line differs: proxy {:?}, direct {:?}",
            proxied.status_line, direct.status_line
        ));
    }
    if proxied.headers.len() != direct.headers.len() {
        return Err(format!(
            "header count differs: proxy {:?}, direct {:?}",
            proxied.headers, direct.headers
        ));
    }
    for (p, d) in proxied.headers.iter().zip(&direct.headers) {
        let both_dates = p.0.eq_ignore_ascii_case("date") && d.0.eq_ignore_ascii_case("date");
        if p != d && !both_dates {
            return Err(format!(
                "header differs: proxy {}: {}, direct {}: {}",
                p.0, p.1, d.0, d.1
            ));
        }
    }
    match (date(proxied), date(direct)) {
        (Some(a), Some(b)) => {
            let gap = a
                .duration_since(b)
                .or_else(|_| b.duration_since(a))
                .unwrap_or_default();
            if gap > Duration::from_secs(1) {
                return Err(format!("Date headers are {} s apart", gap.as_secs()));
            }
        }
        _ => return Err("a Date header is missing or unreadable".into()),
    }
    if proxied.body != direct.body {
        return Err(format!(
            "body differs: proxy {}, direct {}",
            show(&proxied.body),
            show(&direct.body)
        ));
    }
    Ok(())
}

/// proxyMultipleConnections: GET /0, /1, /2 at once through the proxy, each compared with the
/// same request sent straight to the upstream.
pub fn three_gets(port: u16, upstream: u16) -> Verdict {
    let handles: Vec<_> = (0..3)
        .map(|i| {
            thread::spawn(move || -> Result<String, String> {
                let path = format!("/{i}");
                let proxied =
                    get(port, &path).map_err(|e| format!("GET {path} via the proxy: {e}"))?;
                let direct = get(upstream, &path)
                    .map_err(|e| format!("GET {path} from the upstream: {e}"))?;
                compare(&proxied, &direct).map_err(|e| format!("GET {path}: {e}"))?;
                Ok(format!(
                    "GET {path}: {} ({} body bytes) identical",
                    proxied.status_line,
                    proxied.body.len()
                ))
            })
        })
        .collect();
    let mut seen = Vec::new();
    let mut failures = Vec::new();
    for handle in handles {
        match handle.join() {
            Ok(Ok(line)) => seen.push(line),
            Ok(Err(e)) => failures.push(e),
            Err(_) => failures.push("a client thread panicked".into()),
        }
    }
    if failures.is_empty() {
        Ok(seen.join("\n"))
    } else {
        Err(failures.join("\n"))
    }
}

/// proxyServerCrashHandling: the upstream is killed, then a client must be accepted and closed
/// without a single byte.
pub fn upstream_down(run: &mut StageRun, port: u16) -> Verdict {
    run.kill_upstream();
    let mut stream =
        connect(port).map_err(|e| format!("cannot connect to the proxy on port {port}: {e}"))?;
    // The request may be refused by a reset if the server closed first; that is fine.
    let _ = send(
        &mut stream,
        format!("GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n").as_bytes(),
    );
    let (got, end) = read_to_close(&mut stream, 1 << 20, Duration::from_secs(5));
    let closed = match &end {
        End::Closed => true,
        End::Failed(e) => matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe),
        _ => false,
    };
    if got.is_empty() && closed {
        Ok(format!(
            "accepted, then closed with 0 bytes ({})",
            end.describe()
        ))
    } else if !got.is_empty() {
        Err(format!(
            "the proxy sent {} (a fetch would resolve and the grader would hang)",
            show(&got)
        ))
    } else {
        Err(format!("the connection was not closed: {}", end.describe()))
    }
}
