//! One request before the runs: is the answer right, and does the connection stay open?
//!
//! A benchmark of a misconfigured server measures its error page: nginx's worker without read
//! access to the files answers a fast 403, a wrong root a fast 404. So every URL is asked once per
//! server before wrk starts, and the bench stops unless the answer is a 200 with the expected
//! `Content-Length` and that many body bytes.
//!
//! [`keeps_alive`] decides whether a keep-alive row can be one: if expserver does not keep the
//! connection, both servers are measured with `Connection: close`, so neither gets the other's
//! handicap.

use std::time::Duration;

use anyhow::{bail, Result};

use crate::checks::http::client::{exchange, head_end, parse_head, Body};
use crate::checks::wire::{connect, read_upto, send};

/// Asks `GET path` once and checks for a 200 with `length` bytes.
pub fn expect_ok(server: &str, port: u16, path: &str, length: u64) -> Result<()> {
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    let answer = match exchange(port, request.as_bytes(), Body::Read, false) {
        Ok(exchange) => exchange.response,
        Err(e) => bail!("{server} on port {port} did not answer GET {path}: {e}"),
    };
    if answer.status != 200 {
        bail!(
            "{server} answers GET {path} with `{}`, not 200: benchmarking that would measure an error page",
            answer.status_line
        );
    }
    if answer.content_length() != Some(length as usize) || answer.body.len() as u64 != length {
        bail!(
            "{server} answers GET {path} with Content-Length {:?} and {} body bytes, not {length}",
            answer.content_length(),
            answer.body.len()
        );
    }
    Ok(())
}

/// True if the server answers a second request on the same connection.
pub fn keeps_alive(port: u16, path: &str) -> bool {
    let Ok(mut stream) = connect(port) else {
        return false;
    };
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: keep-alive\r\n\r\n");
    for _ in 0..2 {
        if send(&mut stream, request.as_bytes()).is_err() {
            return false;
        }
        let mut raw = Vec::new();
        let end = loop {
            if let Some(end) = head_end(&raw) {
                break end;
            }
            if raw.len() > 64 * 1024 {
                return false;
            }
            let (more, _) = read_upto(&mut stream, 1, Duration::from_secs(2));
            if more.is_empty() {
                return false;
            }
            raw.extend_from_slice(&more);
        };
        let Ok(head) = parse_head(&raw[..end]) else {
            return false;
        };
        let Some(length) = head.content_length() else {
            return false;
        };
        let have = raw.len() - end;
        if have < length {
            let (more, _) = read_upto(&mut stream, length - have, Duration::from_secs(10));
            if more.len() < length - have {
                return false;
            }
        }
    }
    true
}
