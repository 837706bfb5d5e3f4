//! Stages 14 and 15: the grader's nine raw-socket requests on port 1.
//!
//! The grader writes each request on a fresh TCP connection, parses only the first chunk that
//! comes back and compares the status code and a few header values. The checker sends the same
//! bytes and applies the same rule, then holds the server to what a real client needs: CRLF line
//! endings, a `Content-Length` that matches the body for the files, the file's exact bytes, and a
//! close once the response is complete (the course has no keep-alive).

use std::fs;
use std::path::Path;

use super::client::{exchange, head_end, parse_head, Body};
use super::Problems;
use crate::checks::wire::show;
use crate::checks::Verdict;

/// One of the grader's requests and what it must produce.
#[derive(Clone, Copy, Debug)]
pub struct Case {
    pub title: &'static str,
    /// The request with `{host}` where the grader puts `<container>:8001`.
    pub template: &'static str,
    pub status: u16,
    /// The exact `Content-Type`, for the files.
    pub content_type: Option<&'static str>,
    /// The file in `public/` whose bytes the body must be, for the files.
    pub file: Option<&'static str>,
}

impl Case {
    /// The raw request for a server reached as `host`.
    pub fn request(&self, host: &str) -> String {
        self.template.replace("{host}", host)
    }
}

const fn case(
    title: &'static str,
    template: &'static str,
    status: u16,
    content_type: Option<&'static str>,
    file: Option<&'static str>,
) -> Case {
    Case {
        title,
        template,
        status,
        content_type,
        file,
    }
}

/// The grader's table (stage14.ts and stage15.ts are the same nine tests).
pub const CASES: [Case; 9] = [
    case(
        "Valid request - jpg",
        "GET /cat.jpg HTTP/1.1\r\nHost: {host}\r\nUser-Agent: TestClient/1.0\r\nAccept: image/jpeg\r\nConnection: close\r\n\r\n",
        200,
        Some("image/jpeg"),
        Some("cat.jpg"),
    ),
    case(
        "Valid request - pdf",
        "GET /sample.pdf HTTP/1.1\r\nHost: {host}\r\nUser-Agent: TestClient/1.0\r\nAccept: application/pdf\r\nConnection: close\r\n\r\n",
        200,
        Some("application/pdf"),
        Some("sample.pdf"),
    ),
    case(
        "Valid request - plain",
        "GET /sample.txt HTTP/1.1\r\nHost: {host}\r\nUser-Agent: TestClient/1.0\r\nAccept: text/plain\r\nConnection: close\r\n\r\n",
        200,
        Some("text/plain"),
        Some("sample.txt"),
    ),
    case(
        "File not found",
        "GET /test.html HTTP/1.1\r\nHost: {host}\r\nUser-Agent: TestClient/1.0\r\nAccept: text/html\r\nConnection: close\r\n\r\n",
        404,
        None,
        None,
    ),
    case("Missing HTTP Version", "GET /index.html\r\nHost: {host}\r\n\r\n", 400, None, None),
    case("Invalid HTTP method", "GOT /index.html HTTP/1.1\r\nHost: {host}\r\n\r\n", 400, None, None),
    case("Missing host header", "GET /index.html HTTP/1.1\r\n\r\n", 400, None, None),
    case("Invalid HTTP Version", "GET /index.html HTTX/2.0\r\nHost: {host}\r\n\r\n", 400, None, None),
    case("Improperly formatted request (headers)", "GET /index.html HTTP/1.1\r\nHost {host}\r\n\r\n", 400, None, None),
];

/// What the report says is expected for `case`.
pub fn expected(case: &Case) -> String {
    let mut parts = vec![format!(
        "the first chunk holds the whole head; status {}",
        case.status
    )];
    if let Some(content_type) = case.content_type {
        parts.push(format!("content-type: {content_type}"));
    }
    parts.push("server: eXpServer".into());
    let mut text = parts.join("; ");
    text.push_str("\n(stricter) CRLF line endings; ");
    if let Some(file) = case.file {
        text.push_str(&format!(
            "Content-Length equal to the body, which is public/{file} exactly; "
        ));
    }
    text.push_str("the server closes the connection after the response");
    text
}

/// Sends `case` to `port` and judges the answer like the grader, then the stricter rules.
pub fn run(public: &Path, port: u16, case: &Case) -> Verdict {
    let request = case.request(&format!("localhost:{port}"));
    let exchange = exchange(port, request.as_bytes(), Body::Read, true)?;
    let mut problems = Problems::default();

    // The grader's rule: the head must be complete in the first chunk.
    let Some(end) = head_end(&exchange.first_chunk) else {
        return Err(format!(
            "the first chunk ({} bytes) does not hold the whole head, so the grader sees status -1: {}",
            exchange.first_chunk.len(),
            show(&exchange.first_chunk)
        ));
    };
    let head = parse_head(&exchange.first_chunk[..end])?;
    if head.status != case.status {
        problems.push(format!(
            "status {} ({:?}), expected {}",
            head.status, head.status_line, case.status
        ));
    }
    if let Some(content_type) = case.content_type {
        problems.expect_header(
            "content-type",
            head.last_header("content-type"),
            content_type,
        );
    }
    problems.expect_header("server", head.last_header("server"), "eXpServer");

    // Stricter: what real clients need.
    let response = &exchange.response;
    if !response.crlf {
        problems.push(
            "the head has lines ending in a bare LF (fetch/llhttp rejects them; send CRLF)".into(),
        );
    }
    if case.status == 200 {
        match response.content_length() {
            None => problems.push("no valid Content-Length".into()),
            Some(length) if length != response.body.len() => problems.push(format!(
                "Content-Length {length}, but {} body bytes arrived",
                response.body.len()
            )),
            Some(_) => {}
        }
    }
    if let Some(file) = case.file {
        let path = public.join(file);
        let want = fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        if response.body != want {
            problems.push(format!(
                "the body ({} bytes) is not public/{file} ({} bytes)",
                response.body.len(),
                want.len()
            ));
        }
    }
    match &exchange.closing {
        Some(closing) if closing.is_closed() => {}
        Some(closing) => problems.push(closing.describe()),
        None => problems.push("the end of the connection was not observed".into()),
    }
    let closing = exchange
        .closing
        .as_ref()
        .map(|c| c.describe())
        .unwrap_or_default();
    problems.verdict(format!("{}; {closing}", response.summary()))
}
