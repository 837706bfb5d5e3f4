//! Fuzz target `parser`: the request parser must never panic, never stall, and give the same
//! answer however the bytes are split.
//!
//! The server feeds the parser whatever `read` returned, so a request can arrive in any pieces.
//! The input is a small header and a byte stream:
//!
//! - byte 0 picks the head limit: below 0x80 the course's `MAX_HEAD_LEN`, otherwise a small limit
//!   (0..=1016 bytes) so that `HeadTooLarge` is reached quickly;
//! - bytes 1..=3 are the sizes of the pieces the stream is cut into, used in turn (0: the rest);
//! - the rest is the stream, which may hold several pipelined requests.
//!
//! The stream is parsed twice: whole (each complete head's leftover fed again, as the session
//! does) and in the pieces. Both runs must see the same requests end at the same offsets and end
//! in the same state. Each complete request must be consistent with the bytes it came from, and
//! its re-serialised head (what a proxy sends upstream) must parse back to the same request.

#![no_main]

use libfuzzer_sys::fuzz_target;
use phase2::http::{Method, Parse, ParseError, Request, RequestParser, MAX_HEAD_LEN};

/// What one run saw: each complete request with the stream offset where its head ended, then
/// how the stream ended.
#[derive(Debug, PartialEq)]
struct Run {
    requests: Vec<(Request, usize)>,
    end: End,
}

#[derive(Debug, PartialEq)]
enum End {
    /// Out of bytes in the middle of a head, holding this many bytes of it.
    Partial(usize),
    /// Rejected; the error sticks.
    Failed(ParseError),
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let limit = match data[0] {
        selector @ 0x80.. => usize::from(selector - 0x80) * 8,
        _ => MAX_HEAD_LEN,
    };
    let pieces = [data[1], data[2], data[3]];
    let stream = &data[4..];

    let whole = run(stream, limit, &[0]);
    let split = run(stream, limit, &pieces);
    assert_eq!(
        whole, split,
        "splitting the input at {pieces:?} changed the result"
    );

    let mut start = 0;
    for (request, end) in &whole.requests {
        check_request(request, &stream[start..*end], limit);
        start = *end;
    }
    match whole.end {
        End::Partial(held) => assert_eq!(held, stream.len() - start, "held bytes"),
        End::Failed(_) => {}
    }
});

/// Parse `stream` with one parser, cut into pieces of the given sizes (in turn, 0 = the rest).
fn run(stream: &[u8], limit: usize, pieces: &[u8]) -> Run {
    let mut parser = RequestParser::with_limit(limit);
    let mut requests = Vec::new();
    let mut offset = 0;
    let mut sizes = pieces.iter().cycle();
    while offset < stream.len() {
        let size = match sizes.next().copied().unwrap_or(0) {
            0 => stream.len() - offset,
            n => usize::from(n).min(stream.len() - offset),
        };
        let mut piece = &stream[offset..offset + size];
        // A piece may end several heads: feed its leftover again, as the session does.
        loop {
            match parser.feed(piece) {
                Ok(Parse::Partial) => break,
                Ok(Parse::Complete { request, used }) => {
                    assert!(
                        used >= 1 && used <= piece.len(),
                        "used {used} of {}",
                        piece.len()
                    );
                    assert_eq!(parser.consumed(), 0, "the parser starts over");
                    let end = offset + (size - piece.len()) + used;
                    requests.push((request, end));
                    piece = &piece[used..];
                    if piece.is_empty() {
                        break;
                    }
                }
                Err(error) => {
                    // The error sticks, whatever comes next.
                    assert_eq!(parser.feed(b"GET / HTTP/1.0\r\n\r\n"), Err(error));
                    assert_eq!(parser.feed(b""), Err(error));
                    return Run {
                        requests,
                        end: End::Failed(error),
                    };
                }
            }
        }
        offset += size;
    }
    Run {
        requests,
        end: End::Partial(parser.consumed()),
    }
}

/// A complete request must agree with the bytes of its head.
fn check_request(request: &Request, head: &[u8], limit: usize) {
    assert_eq!(request.header_len, head.len(), "header_len");
    assert!(request.header_len <= limit, "head longer than the limit");
    assert_eq!(head.last(), Some(&b'\n'), "a head ends with LF");

    // Leading blank lines are skipped; the request line comes first after them.
    let first = head
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .expect("a head has a request line");
    let line = request.request_line.as_bytes();
    assert!(
        head[first..].starts_with(line),
        "request line not at the start"
    );
    assert!(matches!(head.get(first + line.len()), Some(b'\r' | b'\n')));
    assert!(Method::from_bytes(request.method.as_str().as_bytes()) == Some(request.method));
    assert!(request.request_line.starts_with(request.method.as_str()));
    assert!(
        request.http_version == "1.0" || request.http_version == "1.1",
        "version {:?}",
        request.http_version
    );
    assert!(request
        .request_line
        .ends_with(&format!("HTTP/{}", request.http_version)));

    // The target: visible ASCII, inside the request line; path and pathname taken from it.
    assert!(!request.uri.is_empty());
    assert!(request.uri.bytes().all(|b| (0x21..=0x7e).contains(&b)));
    assert!(request.request_line.contains(&format!(" {} ", request.uri)));
    assert!(request.path.starts_with('/'), "path {:?}", request.path);
    assert!(request.path.starts_with(&request.pathname));
    assert!(request.uri.ends_with(&request.path) || request.path == "/");
    match &request.host {
        Some(host) => {
            assert!(request.schema.is_some() && !host.is_empty());
            assert!(host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-'));
        }
        None => assert!(request.uri.starts_with('/')),
    }

    // What the grammar cannot check, `finish` must have.
    let hosts = request.headers.get_all("Host").count();
    assert!(hosts <= 1);
    if request.http_version == "1.1" {
        assert_eq!(hosts, 1);
        assert!(!request.header("Host").unwrap_or("").trim().is_empty());
    }
    let lengths = request.headers.get_all("Content-Length").count();
    if lengths > 0 {
        assert!(!request.headers.contains("Transfer-Encoding"));
        let first = request.header("Content-Length").unwrap_or("");
        let n: u64 = first
            .split(',')
            .next()
            .unwrap_or("")
            .trim()
            .parse()
            .expect("digits");
        assert_eq!(request.body_len, n);
    } else {
        assert_eq!(request.body_len, 0);
    }
    for header in request.headers.iter() {
        assert!(!header.name.is_empty());
        assert!(!header.value.starts_with([' ', '\t']) && !header.value.ends_with([' ', '\t']));
        assert!(!header.value.contains(['\r', '\n', '\0']));
    }

    // The head a proxy would send upstream parses back to the same request.
    let serialized = request.serialize_head();
    if serialized.len() <= MAX_HEAD_LEN {
        match RequestParser::new().feed(&serialized) {
            Ok(Parse::Complete {
                request: again,
                used,
            }) => {
                assert_eq!(used, serialized.len());
                assert_eq!(again.method, request.method);
                assert_eq!(again.uri, request.uri);
                assert_eq!(again.path, request.path);
                assert_eq!(again.pathname, request.pathname);
                assert_eq!(again.schema, request.schema);
                assert_eq!(again.host, request.host);
                assert_eq!(again.port, request.port);
                assert_eq!(again.http_version, request.http_version);
                assert_eq!(again.headers, request.headers);
                assert_eq!(again.body_len, request.body_len);
            }
            other => panic!("the serialised head {serialized:?} does not parse back: {other:?}"),
        }
    }
}
