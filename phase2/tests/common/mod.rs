//! What the phase-2 end-to-end tests share. The harness itself is the checker library's
//! (`xtask`), the same one `cargo xtask check-stage` uses: its grader layout, its way of starting
//! a server and knowing it listens, its fake upstream and its HTTP response reader. What is left
//! here is the tests' side of it: wrappers that panic with the reason instead of returning it,
//! and the requests the tests send.

#![allow(dead_code)]

use std::fs;
use std::io::Write;
use std::net::{Shutdown, TcpStream};
use std::path::PathBuf;
use std::time::Duration;

use xtask::checks::http::client::{decode_gzip, parse_response};
pub use xtask::checks::http::client::{Body, Closing, Connection, Response};
use xtask::checks::wire;
use xtask::ports::{free_tcp_port, Proto};
pub use xtask::process::Proc as Server;
pub use xtask::upstream::{Behaviour, FakeUpstream};

/// How long any single network wait may take before the test fails instead of hanging.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// A free port, below the ephemeral range (see `xtask::ports::free_ports`).
pub fn free_port() -> u16 {
    free_tcp_port().unwrap()
}

/// The grader's layout (`xtask::layout::Layout`: `app/` is the working directory, `public/` a
/// copy of the repository's) plus a `secret.txt` next to `public/`, for the tests that try to
/// reach outside the served folder.
pub struct Layout(xtask::layout::Layout);

impl Layout {
    pub fn new() -> Layout {
        let layout = xtask::layout::Layout::new().unwrap();
        fs::write(layout.root().join("secret.txt"), b"top secret").unwrap();
        Layout(layout)
    }

    pub fn root(&self) -> PathBuf {
        self.0.root().to_path_buf()
    }

    pub fn app(&self) -> PathBuf {
        self.0.app()
    }

    pub fn public(&self) -> PathBuf {
        self.0.public()
    }

    /// Writes a config file into the layout and returns its path.
    pub fn write_config(&self, json: &str) -> PathBuf {
        let path = self.root().join("config.json");
        fs::write(&path, json).unwrap();
        path
    }
}

/// Starts `binary` with `args` in `layout.app()` and waits until it listens on every one of
/// `ports`; killed (with anything it started) when dropped.
pub fn start_server(binary: &str, args: &[&str], layout: &Layout, ports: &[u16]) -> Server {
    let argv: Vec<String> = std::iter::once(binary)
        .chain(args.iter().copied())
        .map(str::to_string)
        .collect();
    let log = layout.root().join("server.log");
    Server::start_server(&argv, &layout.app(), &log, ports, Proto::Tcp)
        .unwrap_or_else(|e| panic!("{e:#}"))
}

/// A fake upstream that behaves as `behaviour` says (see `xtask::upstream`).
pub fn fake_upstream(behaviour: Behaviour) -> FakeUpstream {
    FakeUpstream::start(behaviour).unwrap()
}

/// A connection with read and write timeouts.
pub fn connect(port: u16) -> TcpStream {
    let stream = wire::connect(port).unwrap();
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(TIMEOUT)).unwrap();
    stream
}

/// Sends raw bytes and reads everything until the server closes.
pub fn exchange(port: u16, request: &[u8]) -> Vec<u8> {
    let mut stream = connect(port);
    stream.write_all(request).unwrap();
    read_to_close(&mut stream)
}

/// Like [`exchange`], but half-closes after sending (as `printf ... | nc -N` does).
pub fn exchange_half_closed(port: u16, request: &[u8]) -> Vec<u8> {
    let mut stream = connect(port);
    stream.write_all(request).unwrap();
    stream.shutdown(Shutdown::Write).unwrap();
    read_to_close(&mut stream)
}

/// Everything until the server closes; a reset counts as the close.
pub fn read_to_close(stream: &mut TcpStream) -> Vec<u8> {
    let (data, end) = wire::read_to_close(stream, 256 << 20, TIMEOUT);
    match end {
        wire::End::Closed => data,
        wire::End::Failed(e) if e.kind() == std::io::ErrorKind::ConnectionReset => data,
        other => panic!(
            "reading the response: {} (got {} bytes so far)",
            other.describe(),
            data.len()
        ),
    }
}

/// Parses a response read to the close, strictly: HTTP/1.1 and CRLF line endings.
pub fn parse_reply(bytes: &[u8]) -> Response {
    let reply = parse_response(bytes).unwrap_or_else(|e| panic!("{e}"));
    assert!(reply.crlf, "bare LF in head: {}", reply.status_line);
    assert!(
        reply.status_line.starts_with("HTTP/1.1 "),
        "{}",
        reply.status_line
    );
    reply
}

/// How many times header `name` appears.
pub fn count(reply: &Response, name: &str) -> usize {
    reply
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .count()
}

/// `GET path` the way the grader's raw client does for stages 14-15.
pub fn grader_get(path: &str, accept: &str) -> Vec<u8> {
    format!(
        "GET {path} HTTP/1.1\r\nHost: localhost:8001\r\nUser-Agent: TestClient/1.0\r\nAccept: {accept}\r\nConnection: close\r\n\r\n"
    )
    .into_bytes()
}

/// A plain `GET` with the headers Node's fetch sends (lower-case names, keep-alive).
pub fn fetch_get(path: &str) -> Vec<u8> {
    format!(
        "GET {path} HTTP/1.1\r\nhost: localhost\r\nconnection: keep-alive\r\naccept: */*\r\naccept-language: *\r\nsec-fetch-mode: cors\r\nuser-agent: node\r\naccept-encoding: gzip, deflate\r\n\r\n"
    )
    .into_bytes()
}

/// `GET path` read to the close.
pub fn get(port: u16, path: &str) -> Response {
    parse_reply(&exchange(port, &fetch_get(path)))
}

/// Like [`get`], but the response is framed by its `Content-Length` (or its chunks) as Node's
/// `fetch` (the grader's client from stage 16) frames it, so it works whether the server then
/// closes the connection (the course stages) or keeps it (`expserver`); and, as `fetch` does, a
/// gzip body (stage 19 on) is gunzipped.
pub fn fetch(port: u16, path: &str) -> Response {
    let mut conn = Conn::open(port);
    conn.send(&fetch_get(path));
    let mut reply = conn.reply(false);
    decode_gzip(&mut reply).unwrap_or_else(|e| panic!("{e}"));
    reply
}

/// A keep-alive connection: the checker's [`Connection`], panicking on what it reports.
pub struct Conn(pub Connection);

impl Conn {
    pub fn open(port: u16) -> Conn {
        Conn(Connection::open(port).unwrap())
    }

    pub fn stream(&self) -> &TcpStream {
        self.0.stream()
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.0.send(bytes).unwrap();
    }

    /// The next response, strictly parsed; no body when `to_head` (the answer to a HEAD).
    pub fn reply(&mut self, to_head: bool) -> Response {
        let body = if to_head { Body::None } else { Body::Read };
        let reply = self.0.response(body).unwrap_or_else(|e| panic!("{e}"));
        assert!(reply.crlf, "bare LF in head: {}", reply.status_line);
        assert!(
            to_head || reply.content_length().is_some() || reply.chunked,
            "neither Content-Length nor chunks in {}",
            reply.summary()
        );
        reply
    }

    /// The server closes the connection, with no byte after the last response.
    pub fn expect_closed(&mut self) {
        match self.0.closing() {
            Closing::Closed | Closing::Reset => {}
            other => panic!("expected the close: {}", other.describe()),
        }
    }
}
