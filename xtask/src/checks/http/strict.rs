//! Checks the grader lacks, for every HTTP stage: a HEAD request, a path that tries to climb out
//! of the served folder, and (from stage 16) a listener with no routes.
//!
//! The escape requests are sent raw, exactly as written: a browser or curl would remove the dot
//! segments before sending, which is why a server cannot count on clients to do it. Two targets
//! are tried: the checker's own `temp/file.txt`, which exists right next to `public/` (so a
//! server that naively joins paths really would find it), and `/etc/passwd` far above.

use std::fs;

use super::client::{exchange, fetch, Body};
use super::Problems;
use crate::checks::wire::show;
use crate::checks::Verdict;
use crate::layout::REFUSED_FILE_TEXT;
use crate::runner::StageRun;

/// Request paths that try to leave the served folder, and a marker of the file each would reveal.
pub const ESCAPES: [(&str, &str); 4] = [
    ("/../temp/file.txt", REFUSED_FILE_TEXT),
    ("/%2e%2e/temp/file.txt", REFUSED_FILE_TEXT),
    ("/../../../../../../../../../../etc/passwd", "root:"),
    (
        "/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "root:",
    ),
];

/// A plain GET with the headers stage 14 requires.
fn get_request(path: &str, port: u16) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: localhost:{port}\r\nUser-Agent: xtask\r\nConnection: close\r\n\r\n")
}

/// HEAD /sample.txt: the same head as GET (status 200, the file's real `Content-Length`,
/// `text/plain`), no body, then the close.
pub fn head(run: &StageRun, port: u16) -> Verdict {
    let size = fs::metadata(run.sample_file())
        .map_err(|e| format!("cannot stat sample.txt: {e}"))?
        .len();
    let request =
        format!("HEAD /sample.txt HTTP/1.1\r\nHost: localhost:{port}\r\nUser-Agent: xtask\r\nConnection: close\r\n\r\n");
    let exchange = exchange(port, request.as_bytes(), Body::None, true)?;
    let response = &exchange.response;
    let mut problems = Problems::default();
    problems.expect_status(response, 200);
    problems.expect_header(
        "content-type",
        response.header("content-type").as_deref(),
        "text/plain",
    );
    problems.expect_header(
        "content-length",
        response.header("content-length").as_deref(),
        &size.to_string(),
    );
    problems.expect_header("server", response.header("server").as_deref(), "eXpServer");
    problems.expect_crlf(response);
    let closing = exchange
        .closing
        .as_ref()
        .map(|c| c.describe())
        .unwrap_or_default();
    if !exchange.closing.as_ref().is_some_and(|c| c.is_closed()) {
        problems.push(format!("a HEAD response has no body: {closing}"));
    }
    problems.verdict(format!("{}; {closing}", response.summary()))
}

/// Every path in [`ESCAPES`] gets 403 or 404 and never the file.
pub fn escapes(port: u16) -> Verdict {
    let mut problems = Problems::default();
    let mut seen = Vec::new();
    for (path, marker) in ESCAPES {
        let exchange = match exchange(port, get_request(path, port).as_bytes(), Body::Read, false) {
            Ok(e) => e,
            Err(e) => {
                problems.push(format!("GET {path}: {e}"));
                continue;
            }
        };
        let response = exchange.response;
        seen.push(format!("GET {path} -> {}", response.status_line));
        if String::from_utf8_lossy(&response.body).contains(marker.trim_end()) {
            problems.push(format!(
                "GET {path} returned the file outside the root: {}",
                show(&response.body)
            ));
        } else if !matches!(response.status, 403 | 404) {
            problems.push(format!(
                "GET {path}: status {}, expected 403 or 404",
                response.status
            ));
        }
        problems.expect_header("server", response.header("server").as_deref(), "eXpServer");
    }
    problems.verdict(seen.join("\n"))
}

/// A listener whose server block has no routes answers every request with 404.
pub fn no_routes(port: u16) -> Verdict {
    let response = fetch(port, "/")?;
    let mut problems = Problems::default();
    problems.expect_status(&response, 404);
    problems.expect_header("server", response.header("server").as_deref(), "eXpServer");
    problems.expect_crlf(&response);
    problems.verdict(response.summary())
}
