//! Stage 19: gzip, checked the way a client that undoes it sees it.
//!
//! The grader has no stage-19 checks; these follow the contract (`phase3-4-stages-18-23.md` §2).
//! The server runs stage 18's config (the grader's, whose file route already says
//! `"gzip_enable": true, "gzip_level": 8`, plus the `/ip/` routes, since stage 19 keeps stage
//! 18's features), with two files added to `public/` by [`config`]: `large.txt` (1 MiB of
//! varied text, many chunks once compressed) and `small.txt` (100 bytes, under the default
//! `gzip_min_length` of 256). Every request is sent raw, so the checker sees the framing itself:
//! the client decodes `Transfer-Encoding: chunked` strictly, and [`gunzip`] requires one whole
//! gzip stream with a correct CRC and nothing after it. The decompressed body must equal the
//! file byte for byte.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Result;

use super::client::{exchange, gunzip, Body, Exchange, Response};
use super::html::table_links;
use super::listing::expected_links;
use super::{ip_filter, Problems};
use crate::checks::Verdict;
use crate::layout::Layout;
use crate::target::Ports;

/// The big text file the checks compress.
pub const LARGE: &str = "large.txt";
/// Its size: 1 MiB, the size of the course's stage-18 experiment file.
pub const LARGE_LEN: usize = 1 << 20;
/// A text file under the default `gzip_min_length`.
pub const SMALL: &str = "small.txt";
/// Its size.
pub const SMALL_LEN: usize = 100;

/// The config of stage 19 (a [`crate::stages::ConfigWriter`]): stage 18's (the grader's moved
/// to `ports`, plus the `/ip/` routes), with [`LARGE`] and [`SMALL`] written into `public/`.
pub fn config(layout: &Layout, ports: &Ports) -> Result<PathBuf> {
    fs::write(layout.public().join(LARGE), large_text())?;
    fs::write(layout.public().join(SMALL), &large_text()[..SMALL_LEN])?;
    ip_filter::config(layout, ports)
}

/// [`LARGE_LEN`] bytes of text that compresses as real text does (about 10 to 1), not to
/// nothing: numbered lines with a changing number in each.
pub fn large_text() -> Vec<u8> {
    let mut text = Vec::with_capacity(LARGE_LEN + 100);
    let mut n: u64 = 0;
    while text.len() < LARGE_LEN {
        n += 1;
        let line = format!(
            "{n:06} the server compresses this line with gzip, checksum {:08x}\n",
            n.wrapping_mul(2_654_435_761) % 1_000_003
        );
        text.extend_from_slice(line.as_bytes());
    }
    text.truncate(LARGE_LEN);
    text
}

/// A raw request for `path` with these extra header lines (each ending in CRLF).
fn request(method: &str, path: &str, version: &str, port: u16, headers: &str) -> String {
    format!(
        "{method} {path} HTTP/{version}\r\nHost: localhost:{port}\r\nUser-Agent: xtask\r\n\
         Connection: close\r\n{headers}\r\n"
    )
}

/// Sends `request` and reads the response (its body to the close when it has no length).
fn send(port: u16, request: &str, body: Body) -> Result<Exchange, String> {
    exchange(port, request.as_bytes(), body, true)
}

/// The bytes of a file in the run's `public/`.
fn public_file(public: &Path, name: &str) -> Result<Vec<u8>, String> {
    let path = public.join(name);
    fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

/// True if the `Vary` header lists `Accept-Encoding`.
fn varies(response: &Response) -> bool {
    response.header("vary").is_some_and(|v| {
        v.split(',')
            .any(|t| t.trim().eq_ignore_ascii_case("accept-encoding"))
    })
}

/// The head of a compressed answer: 200, `Content-Encoding: gzip`, `Vary: Accept-Encoding`, no
/// `Content-Length`, and `Transfer-Encoding: chunked` exactly when `chunked`.
fn expect_compressed_head(
    problems: &mut Problems,
    response: &Response,
    content_type: &str,
    chunked: bool,
) {
    problems.expect_status(response, 200);
    problems.expect_crlf(response);
    problems.expect_header(
        "content-type",
        response.header("content-type").as_deref(),
        content_type,
    );
    problems.expect_header(
        "content-encoding",
        response.header("content-encoding").as_deref(),
        "gzip",
    );
    if !varies(response) {
        problems.push(format!(
            "vary: {:?}, expected one that lists Accept-Encoding",
            response.header("vary")
        ));
    }
    if let Some(length) = response.header("content-length") {
        problems.push(format!(
            "content-length: {length}; a compressed stream has no length in its head"
        ));
    }
    match (chunked, response.header("transfer-encoding")) {
        (true, Some(te)) if te.eq_ignore_ascii_case("chunked") => {}
        (true, other) => problems.push(format!(
            "transfer-encoding: {other:?}, expected \"chunked\" (HTTP/1.1, no length)"
        )),
        (false, None) => {}
        (false, Some(te)) => problems.push(format!(
            "transfer-encoding: {te}; an HTTP/1.0 client knows no chunks (end the body by closing)"
        )),
    }
}

/// The body gunzips to `want`.
fn expect_gunzips_to(problems: &mut Problems, response: &Response, want: &[u8], what: &str) {
    match gunzip(&response.body) {
        Ok(plain) if plain == want => {}
        Ok(plain) => problems.push(format!(
            "the body gunzips to {} bytes that are not {what} ({} bytes){}",
            plain.len(),
            want.len(),
            first_difference(&plain, want)
        )),
        Err(e) => problems.push(format!(
            "the body ({} bytes) does not gunzip: {e}",
            response.body.len()
        )),
    }
}

/// Where two byte strings first differ, for reports.
fn first_difference(got: &[u8], want: &[u8]) -> String {
    match got.iter().zip(want).position(|(a, b)| a != b) {
        Some(at) => format!("; they first differ at byte {at}"),
        None => String::new(),
    }
}

/// The connection closed after the response.
fn expect_closed(problems: &mut Problems, exchange: &Exchange) -> String {
    let closing = exchange
        .closing
        .as_ref()
        .map(|c| c.describe())
        .unwrap_or_default();
    if !exchange.closing.as_ref().is_some_and(|c| c.is_closed()) {
        problems.push(format!("expected the close after the response: {closing}"));
    }
    closing
}

/// GET /large.txt over HTTP/1.1 with `Accept-Encoding: gzip`: chunked gzip that gunzips to the
/// file, and smaller than it.
pub fn compressed_file(public: &Path, port: u16) -> Verdict {
    let want = public_file(public, LARGE)?;
    let request = request(
        "GET",
        &format!("/{LARGE}"),
        "1.1",
        port,
        "Accept-Encoding: gzip\r\n",
    );
    let exchange = send(port, &request, Body::Read)?;
    let response = &exchange.response;
    let mut problems = Problems::default();
    expect_compressed_head(&mut problems, response, "text/plain", true);
    expect_gunzips_to(&mut problems, response, &want, LARGE);
    if response.body.len() >= want.len() / 2 {
        problems.push(format!(
            "{} compressed bytes for {} bytes of text: not compressed much",
            response.body.len(),
            want.len()
        ));
    }
    expect_closed(&mut problems, &exchange);
    problems.verdict(format!(
        "{}; {} bytes of text sent as {} bytes of gzip",
        response.summary(),
        want.len(),
        response.body.len()
    ))
}

/// `Accept-Encoding` values that accept gzip: the wildcard, other case, weights, lists.
pub const ACCEPTING: [&str; 4] = [
    "*",
    "GZIP;q=0.5",
    "deflate, gzip;q=1.0, br",
    "br;q=1, *;q=0.1",
];

/// `Accept-Encoding` values that refuse it (and no header at all).
pub const REFUSING: [Option<&str>; 5] = [
    None,
    Some("gzip;q=0"),
    Some("identity"),
    Some("deflate, br"),
    Some("gzip;q=0, *"),
];

/// Each of [`ACCEPTING`] gets the compressed file.
pub fn accepting(public: &Path, port: u16) -> Verdict {
    let want = public_file(public, "sample.txt")?;
    let mut problems = Problems::default();
    let mut seen = Vec::new();
    for value in ACCEPTING {
        let headers = format!("Accept-Encoding: {value}\r\n");
        let request = request("GET", "/sample.txt", "1.1", port, &headers);
        let exchange = match send(port, &request, Body::Read) {
            Ok(exchange) => exchange,
            Err(e) => {
                problems.push(format!("Accept-Encoding: {value}: {e}"));
                continue;
            }
        };
        let response = &exchange.response;
        let mut these = Problems::default();
        expect_compressed_head(&mut these, response, "text/plain", true);
        expect_gunzips_to(&mut these, response, &want, "sample.txt");
        problems.extend_prefixed(&format!("Accept-Encoding: {value}"), these);
        seen.push(format!(
            "Accept-Encoding: {value} -> {}",
            response.summary()
        ));
    }
    problems.verdict(seen.join("\n"))
}

/// Each of [`REFUSING`] gets the file as it is, with its length and `Vary: Accept-Encoding`.
pub fn refusing(public: &Path, port: u16) -> Verdict {
    let want = public_file(public, "sample.txt")?;
    let mut problems = Problems::default();
    let mut seen = Vec::new();
    for value in REFUSING {
        let headers = value
            .map(|v| format!("Accept-Encoding: {v}\r\n"))
            .unwrap_or_default();
        let shown = value.map_or("(no Accept-Encoding)".to_string(), |v| {
            format!("Accept-Encoding: {v}")
        });
        let request = request("GET", "/sample.txt", "1.1", port, &headers);
        let exchange = match send(port, &request, Body::Read) {
            Ok(exchange) => exchange,
            Err(e) => {
                problems.push(format!("{shown}: {e}"));
                continue;
            }
        };
        let response = &exchange.response;
        let mut these = Problems::default();
        expect_plain(&mut these, response, &want, "sample.txt");
        if !varies(response) {
            these.push(format!(
                "vary: {:?}; the answer depends on Accept-Encoding, so it must list it",
                response.header("vary")
            ));
        }
        problems.extend_prefixed(&shown, these);
        seen.push(format!("{shown} -> {}", response.summary()));
    }
    problems.verdict(seen.join("\n"))
}

/// The file as it is: 200, no `Content-Encoding`, its exact `Content-Length` and bytes.
fn expect_plain(problems: &mut Problems, response: &Response, want: &[u8], what: &str) {
    problems.expect_status(response, 200);
    problems.expect_crlf(response);
    if let Some(coding) = response.header("content-encoding") {
        problems.push(format!("content-encoding: {coding}, expected none"));
    }
    problems.expect_header(
        "content-length",
        response.header("content-length").as_deref(),
        &want.len().to_string(),
    );
    if response.body != want {
        problems.push(format!(
            "the body ({} bytes) is not {what} ({} bytes){}",
            response.body.len(),
            want.len(),
            first_difference(&response.body, want)
        ));
    }
}

/// Files gzip would not help are sent as they are, even to a client that accepts gzip: one
/// under `gzip_min_length` and one whose type is not in `gzip_types` (a JPEG).
pub fn not_worth_it(public: &Path, port: u16) -> Verdict {
    let mut problems = Problems::default();
    let mut seen = Vec::new();
    for (name, why) in [
        (SMALL, "under gzip_min_length (256)"),
        ("cat.jpg", "image/jpeg"),
    ] {
        let want = public_file(public, name)?;
        let path = format!("/{name}");
        let request = request(
            "GET",
            &path,
            "1.1",
            port,
            "Accept-Encoding: gzip, deflate\r\n",
        );
        let exchange = match send(port, &request, Body::Read) {
            Ok(exchange) => exchange,
            Err(e) => {
                problems.push(format!("GET {path}: {e}"));
                continue;
            }
        };
        let mut these = Problems::default();
        expect_plain(&mut these, &exchange.response, &want, name);
        problems.extend_prefixed(&format!("GET {path} ({why})"), these);
        seen.push(format!("GET {path} -> {}", exchange.response.summary()));
    }
    problems.verdict(seen.join("\n"))
}

/// GET /large.txt over HTTP/1.0: gzip with neither length nor chunks, ended by the close.
pub fn http10(public: &Path, port: u16) -> Verdict {
    let want = public_file(public, LARGE)?;
    let request = request(
        "GET",
        &format!("/{LARGE}"),
        "1.0",
        port,
        "Accept-Encoding: gzip\r\n",
    );
    let exchange = send(port, &request, Body::Read)?;
    let response = &exchange.response;
    let mut problems = Problems::default();
    expect_compressed_head(&mut problems, response, "text/plain", false);
    expect_gunzips_to(&mut problems, response, &want, LARGE);
    let closing = expect_closed(&mut problems, &exchange);
    problems.verdict(format!("{}; {closing}", response.summary()))
}

/// HEAD /large.txt with `Accept-Encoding: gzip`: the compressed answer's head, no body.
pub fn head(port: u16) -> Verdict {
    let request = request(
        "HEAD",
        &format!("/{LARGE}"),
        "1.1",
        port,
        "Accept-Encoding: gzip\r\n",
    );
    let exchange = send(port, &request, Body::None)?;
    let response = &exchange.response;
    let mut problems = Problems::default();
    expect_compressed_head(&mut problems, response, "text/plain", true);
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

/// GET / with `Accept-Encoding: gzip`: the listing, compressed, with a link per entry.
pub fn listing(public: &Path, port: u16) -> Verdict {
    let want = expected_links(public, "/")?;
    let request = request("GET", "/", "1.1", port, "Accept-Encoding: gzip\r\n");
    let exchange = send(port, &request, Body::Read)?;
    let response = &exchange.response;
    let mut problems = Problems::default();
    expect_compressed_head(&mut problems, response, "text/html", true);
    let mut links = Vec::new();
    match gunzip(&response.body) {
        Ok(html) => {
            links = table_links(&String::from_utf8_lossy(&html));
            for link in &want {
                if !links.contains(link) {
                    problems.push(format!("the listing has no link {link}"));
                }
            }
        }
        Err(e) => problems.push(format!("the body does not gunzip: {e}")),
    }
    problems.verdict(format!("{}; links {links:?}", response.summary()))
}

/// GET /large.txt through the reverse proxy with `Accept-Encoding: gzip`: relayed untouched
/// (Python's http.server does not compress, so neither may the proxy).
pub fn proxied(public: &Path, port: u16) -> Verdict {
    let want = public_file(public, LARGE)?;
    let request = request(
        "GET",
        &format!("/{LARGE}"),
        "1.1",
        port,
        "Accept-Encoding: gzip\r\n",
    );
    let exchange = send(port, &request, Body::Read)?;
    let response = &exchange.response;
    let mut problems = Problems::default();
    expect_plain(&mut problems, response, &want, LARGE);
    problems.verdict(response.summary())
}

#[cfg(test)]
mod tests {
    //! The checks must fail on the mistakes they exist to catch: canned servers make each one.

    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::thread;

    use super::*;

    /// A one-connection server that reads the request head, writes `bytes` and closes.
    fn canned(bytes: Vec<u8>) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut request = Vec::new();
            let mut byte = [0u8; 1];
            while !request.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap_or(0) == 1 {
                request.push(byte[0]);
            }
            let _ = stream.write_all(&bytes);
        });
        port
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    fn chunked(head: &str, body: &[u8]) -> Vec<u8> {
        let mut out = head.as_bytes().to_vec();
        for piece in body.chunks(1000) {
            out.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
            out.extend_from_slice(piece);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"0\r\n\r\n");
        out
    }

    const GZIP_HEAD: &str =
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Encoding: gzip\r\n\
                             Vary: Accept-Encoding\r\nTransfer-Encoding: chunked\r\n\r\n";

    fn public() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(LARGE), large_text()).unwrap();
        dir
    }

    #[test]
    fn a_right_answer_passes() {
        let dir = public();
        let port = canned(chunked(GZIP_HEAD, &gzip(&large_text())));
        compressed_file(dir.path(), port).unwrap();
    }

    #[test]
    fn an_uncompressed_answer_fails() {
        let dir = public();
        let mut plain = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {LARGE_LEN}\r\n\r\n"
        )
        .into_bytes();
        plain.extend_from_slice(&large_text());
        let error = compressed_file(dir.path(), canned(plain)).unwrap_err();
        assert!(error.contains("no content-encoding header"), "{error}");
        assert!(error.contains("does not gunzip"), "{error}");
    }

    #[test]
    fn a_wrong_body_fails() {
        let dir = public();
        let mut other = large_text();
        other[500_000] = b'#';
        let error =
            compressed_file(dir.path(), canned(chunked(GZIP_HEAD, &gzip(&other)))).unwrap_err();
        assert!(error.contains("first differ at byte 500000"), "{error}");
    }

    #[test]
    fn a_length_on_a_stream_and_chunks_for_http10_fail() {
        let dir = public();
        let head = GZIP_HEAD.replace("Vary: Accept-Encoding\r\n", "Content-Length: 5\r\n");
        let error =
            compressed_file(dir.path(), canned(chunked(&head, &gzip(&large_text())))).unwrap_err();
        assert!(error.contains("content-length: 5"), "{error}");
        assert!(error.contains("lists Accept-Encoding"), "{error}");
        let error =
            http10(dir.path(), canned(chunked(GZIP_HEAD, &gzip(&large_text())))).unwrap_err();
        assert!(error.contains("knows no chunks"), "{error}");
    }
}
