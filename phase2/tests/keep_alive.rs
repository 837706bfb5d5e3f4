//! Persistent connections in the finished server, end to end over real sockets: several requests
//! on one connection, pipelining (answers in order, a streamed file never mixed with the next
//! answer), request bodies skipped rather than parsed, HTTP/1.0, `Connection: close`, the idle
//! timeout and the per-connection limit. And the other side of it: the course stages 14-17 still
//! answer once with `Connection: close` and close.

mod common;

use std::fs;
use std::net::Shutdown;

use common::*;

const EXPSERVER: &str = env!("CARGO_BIN_EXE_expserver");
const STAGE14: &str = env!("CARGO_BIN_EXE_stage14_http_request");
const STAGE15: &str = env!("CARGO_BIN_EXE_stage15_http_response");
const STAGE16: &str = env!("CARGO_BIN_EXE_stage16_config");
const STAGE17: &str = env!("CARGO_BIN_EXE_stage17_directory");

/// A file of several read chunks (100 000 bytes each), so it is still streaming when the
/// requests pipelined behind it are looked at.
const BIG_LEN: usize = 2_500_000;

struct Setup {
    layout: Layout,
    port: u16,
    _server: Server,
}

impl Setup {
    /// `binary` on a free port with a config serving `public/` (plus `big.bin`) and a redirect
    /// at `/go`; `extra` is put at the config's top level (e.g. `"keep_alive_timeout_ms": 300,`).
    fn start(binary: &str, extra: &str) -> Setup {
        let layout = Layout::new();
        fs::write(layout.public().join("big.bin"), big()).unwrap();
        let port = free_port();
        let config = format!(
            r#"{{ {extra}
  "servers": [{{
    "listeners": [{{ "host": "127.0.0.1", "port": {port} }}],
    "routes": [
      {{ "req_path": "/", "type": "file_serve", "dir_path": "../public", "index": ["index.html"] }},
      {{ "req_path": "/go", "type": "redirect", "http_status_code": 302, "redirect_url": "/sample.txt" }}
    ]
  }}]
}}"#
        );
        let path = layout.write_config(&config);
        let server = start_server(binary, &[path.to_str().unwrap()], &layout, &[port]);
        Setup {
            layout,
            port,
            _server: server,
        }
    }

    fn file(&self, name: &str) -> Vec<u8> {
        fs::read(self.layout.public().join(name)).unwrap()
    }
}

fn big() -> Vec<u8> {
    (0..BIG_LEN).map(|i| (i % 251) as u8).collect()
}

fn get_request(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n")
}

#[test]
fn two_requests_one_after_the_other_on_one_connection() {
    let s = Setup::start(EXPSERVER, "");
    let mut conn = Conn::open(s.port);
    conn.send(get_request("/sample.txt").as_bytes());
    let first = conn.reply(false);
    assert_eq!(first.status, 200);
    assert_eq!(first.body, s.file("sample.txt"));
    assert_eq!(first.last_header("connection"), None, "{}", first.summary());
    // A listing, a redirect, a 404 and a second file, all on the same connection.
    for (path, status) in [("/test/", 200), ("/go", 302), ("/nope.txt", 404)] {
        conn.send(get_request(path).as_bytes());
        let reply = conn.reply(false);
        assert_eq!(reply.status, status, "{path}");
        assert_eq!(reply.last_header("connection"), None, "{path}");
    }
    conn.send(get_request("/cat.jpg").as_bytes());
    let last = conn.reply(false);
    assert_eq!(last.body, s.file("cat.jpg"));
    // The client says it is done: the answer says so too, and the server closes.
    conn.send(b"GET /sample.txt HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    let closing = conn.reply(false);
    assert_eq!(closing.status, 200);
    assert_eq!(closing.last_header("connection"), Some("close"));
    conn.expect_closed();
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let s = Setup::start(EXPSERVER, "");
    let mut conn = Conn::open(s.port);
    // Three requests in one write: a file that takes a while to stream, a HEAD, a 404.
    conn.send(
        format!(
            "{}HEAD /sample.txt HTTP/1.1\r\nHost: a\r\n\r\n{}",
            get_request("/big.bin"),
            get_request("/missing.txt")
        )
        .as_bytes(),
    );
    let file = conn.reply(false);
    assert_eq!(file.status, 200);
    assert!(file.body == big(), "the streamed file is damaged or mixed");
    let head = conn.reply(true);
    assert_eq!(head.status, 200);
    assert_eq!(
        head.last_header("content-length"),
        Some(s.file("sample.txt").len().to_string().as_str())
    );
    let missing = conn.reply(false);
    assert_eq!(missing.status, 404);
    assert_eq!(missing.last_header("connection"), None);
    // Still open afterwards.
    conn.send(get_request("/sample.txt").as_bytes());
    assert_eq!(conn.reply(false).body, s.file("sample.txt"));

    // Requests followed by the end of input (`printf ... | nc -N`): all answered, then closed.
    let mut conn = Conn::open(s.port);
    conn.send(format!("{}{}", get_request("/big.bin"), get_request("/cat.jpg")).as_bytes());
    conn.stream().shutdown(Shutdown::Write).unwrap();
    assert!(conn.reply(false).body == big());
    assert_eq!(conn.reply(false).body, s.file("cat.jpg"));
    conn.expect_closed();
}

#[test]
fn a_request_body_is_skipped_not_parsed() {
    let s = Setup::start(EXPSERVER, "");
    // The body looks like a request for a missing file; were it parsed, a 404 would follow.
    let body = get_request("/nope.txt");
    let post = format!(
        "POST /sample.txt HTTP/1.1\r\nHost: a\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let mut conn = Conn::open(s.port);
    conn.send(format!("{post}{body}{}", get_request("/sample.txt")).as_bytes());
    let refused = conn.reply(false);
    assert_eq!(refused.status, 405);
    assert_eq!(refused.last_header("connection"), None);
    let next = conn.reply(false);
    assert_eq!(next.status, 200, "the body was taken for a request");
    assert_eq!(next.body, s.file("sample.txt"));

    // The same with the body arriving after the answer, in two pieces.
    conn.send(post.as_bytes());
    assert_eq!(conn.reply(false).status, 405);
    let (a, b) = body.split_at(7);
    conn.send(a.as_bytes());
    conn.send(format!("{b}{}", get_request("/cat.jpg")).as_bytes());
    let next = conn.reply(false);
    assert_eq!(next.status, 200, "the body was taken for a request");
    assert_eq!(next.body, s.file("cat.jpg"));

    // A chunked body is not decoded: the answer closes the connection instead.
    conn.send(
        b"POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    );
    let chunked = conn.reply(false);
    assert_eq!(
        (chunked.status, chunked.last_header("connection")),
        (405, Some("close"))
    );
    conn.expect_closed();
}

#[test]
fn http10_keeps_the_connection_only_when_asked() {
    let s = Setup::start(EXPSERVER, "");
    let mut conn = Conn::open(s.port);
    conn.send(b"GET /sample.txt HTTP/1.0\r\n\r\n");
    let reply = conn.reply(false);
    assert_eq!(reply.status, 200);
    assert_eq!(reply.last_header("connection"), Some("close"));
    conn.expect_closed();

    let mut conn = Conn::open(s.port);
    for _ in 0..2 {
        conn.send(b"GET /sample.txt HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
        let reply = conn.reply(false);
        assert_eq!(reply.last_header("connection"), Some("keep-alive"));
        assert_eq!(reply.body, s.file("sample.txt"));
    }
    conn.send(b"GET /sample.txt HTTP/1.0\r\n\r\n");
    assert_eq!(conn.reply(false).last_header("connection"), Some("close"));
    conn.expect_closed();
}

#[test]
fn connection_close_and_bad_requests_close() {
    let s = Setup::start(EXPSERVER, "");
    // `close` among other tokens, in any case.
    let mut conn = Conn::open(s.port);
    conn.send(b"HEAD /cat.jpg HTTP/1.1\r\nHost: a\r\nConnection: TE, Close\r\n\r\n");
    let reply = conn.reply(true);
    assert_eq!(
        (reply.status, reply.last_header("connection")),
        (200, Some("close"))
    );
    conn.expect_closed();
    // A 400 ends the connection: the server cannot know where a next request would start.
    let mut conn = Conn::open(s.port);
    conn.send(get_request("/sample.txt").as_bytes());
    assert_eq!(conn.reply(false).status, 200);
    conn.send(b"GET /sample.txt HTTP/1.1\r\n\r\n");
    let bad = conn.reply(false);
    assert_eq!(
        (bad.status, bad.last_header("connection")),
        (400, Some("close"))
    );
    conn.expect_closed();
}

#[test]
fn an_idle_connection_is_closed_after_the_timeout() {
    let s = Setup::start(EXPSERVER, r#""keep_alive_timeout_ms": 300,"#);
    let mut conn = Conn::open(s.port);
    conn.send(get_request("/sample.txt").as_bytes());
    let reply = conn.reply(false);
    assert_eq!(
        reply.last_header("connection"),
        None,
        "the connection was kept"
    );
    // Nothing more is sent: the server closes it (well within the client's 10 s timeout).
    conn.expect_closed();

    // `0` turns keep-alive off.
    let s = Setup::start(EXPSERVER, r#""keep_alive_timeout_ms": 0,"#);
    let mut conn = Conn::open(s.port);
    conn.send(get_request("/sample.txt").as_bytes());
    assert_eq!(conn.reply(false).last_header("connection"), Some("close"));
    conn.expect_closed();
}

#[test]
fn a_connection_answers_at_most_1000_requests() {
    let s = Setup::start(EXPSERVER, "");
    let mut conn = Conn::open(s.port);
    let request = "HEAD /sample.txt HTTP/1.1\r\nHost: a\r\n\r\n";
    conn.send(request.repeat(1000).as_bytes());
    for i in 1..=1000 {
        let reply = conn.reply(true);
        assert_eq!(reply.status, 200, "request {i}");
        let expected = if i == 1000 { Some("close") } else { None };
        assert_eq!(reply.last_header("connection"), expected, "request {i}");
    }
    conn.expect_closed();
}

/// The course stages answer one request per connection, keep-alive asked or not.
#[test]
fn stages_14_to_17_still_close_after_one_response() {
    let two = format!(
        "{}{}",
        String::from_utf8(fetch_get("/sample.txt")).unwrap(),
        get_request("/cat.jpg")
    );
    for binary in [STAGE14, STAGE15] {
        let layout = Layout::new();
        let port = free_port();
        let ports = format!("{port},{},{},{}", free_port(), free_port(), free_port());
        let _server = start_server(
            binary,
            &["--ports", &ports, "--public", "../public"],
            &layout,
            &[port],
        );
        let mut conn = Conn::open(port);
        conn.send(two.as_bytes());
        let reply = conn.reply(false);
        assert_eq!(reply.status, 200, "{binary}");
        assert_eq!(reply.last_header("connection"), Some("close"), "{binary}");
        conn.expect_closed();
    }
    for binary in [STAGE16, STAGE17] {
        let s = Setup::start(binary, r#""keep_alive_timeout_ms": 300,"#);
        let mut conn = Conn::open(s.port);
        conn.send(two.as_bytes());
        let reply = conn.reply(false);
        assert_eq!(reply.status, 200, "{binary}");
        assert_eq!(reply.last_header("connection"), Some("close"), "{binary}");
        conn.expect_closed();
    }
}
