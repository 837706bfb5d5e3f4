//! Stage 18 end to end: IP allow and deny lists, over real sockets from two client addresses
//! (127.0.0.1 and 127.0.0.2, both this machine), on `stage18_ip_filter` and `expserver`.
//!
//! What the checker's stage-18 checks (run in `tests/stages.rs`) do not reach: a refused request
//! that carries a body or asks with HEAD, a refused proxy request that must not even open a
//! connection to the upstream (counted by the fake upstream itself), an IPv6 listener whose IPv4
//! clients arrive as `::ffff:127.0.0.2`, stage 17 ignoring the lists (the stage's lesson is the
//! difference), and the config errors of bad entries.

mod common;

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, TcpListener, TcpStream};
use std::process::Command;
use std::time::Duration;

use common::*;
use xtask::checks::wire;

const STAGE17: &str = env!("CARGO_BIN_EXE_stage17_directory");
const STAGE18: &str = env!("CARGO_BIN_EXE_stage18_ip_filter");
const EXPSERVER: &str = env!("CARGO_BIN_EXE_expserver");

const FIRST: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));
const SECOND: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

const UPSTREAM_REPLY: &[u8] =
    b"HTTP/1.0 200 OK\r\nServer: upstream\r\nContent-Length: 9\r\n\r\nupstream\n";

/// A server whose one listener has a route of each kind, each refusing 127.0.0.2 (and the file
/// route under `/white` letting only 127.0.0.1 in).
struct Setup {
    _layout: Layout,
    port: u16,
    upstream: FakeUpstream,
    _server: Server,
}

impl Setup {
    fn start(binary: &str) -> Setup {
        let layout = Layout::new();
        let port = free_port();
        let upstream = fake_upstream(Behaviour::Respond(UPSTREAM_REPLY.to_vec()));
        let config = format!(
            r#"{{ "servers": [ {{
  "listeners": [{{ "host": "0.0.0.0", "port": {port} }}],
  "routes": [
    {{ "req_path": "/", "type": "file_serve", "dir_path": "../public",
       "ip_blacklist": ["127.0.0.2"] }},
    {{ "req_path": "/test", "type": "file_serve", "dir_path": "../public",
       "ip_whitelist": ["127.0.0.1"] }},
    {{ "req_path": "/open", "type": "redirect", "redirect_url": "/sample.txt" }},
    {{ "req_path": "/go", "type": "redirect", "redirect_url": "/sample.txt",
       "ip_blacklist": ["127.0.0.0/31", "127.0.0.2"] }},
    {{ "req_path": "/api", "type": "reverse_proxy", "upstreams": ["127.0.0.1:{up}"],
       "ip_blacklist": ["127.0.0.2"] }}
  ] }} ] }}"#,
            up = upstream.port()
        );
        let path = layout.write_config(&config);
        let server = start_server(binary, &[path.to_str().unwrap()], &layout, &[port]);
        Setup {
            _layout: layout,
            port,
            upstream,
            _server: server,
        }
    }

    /// Sends `request` from `from` and reads one response, framed by its `Content-Length`.
    fn ask(&self, from: IpAddr, request: &str) -> Response {
        let mut connection = Connection::open_from(from, self.port).unwrap();
        connection.send(request.as_bytes()).unwrap();
        let body = if request.starts_with("HEAD ") {
            Body::None
        } else {
            Body::Read
        };
        connection.response(body).unwrap_or_else(|e| panic!("{e}"))
    }

    fn get(&self, from: IpAddr, path: &str) -> Response {
        self.ask(
            from,
            &format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"),
        )
    }
}

/// A refused client's answer: 403, from the server itself, well formed.
fn assert_forbidden(response: &Response, what: &str) {
    assert_eq!(response.status, 403, "{what}: {}", response.summary());
    assert_eq!(
        response.header("server").as_deref(),
        Some("eXpServer"),
        "{what}"
    );
    assert!(response.header("date").is_some(), "{what}: no Date");
    assert!(response.crlf, "{what}: bare LF");
    assert!(response.header("location").is_none(), "{what}");
}

fn assert_each_kind_of_route_refuses_the_second_client(binary: &str) {
    let setup = Setup::start(binary);
    for path in [
        "/sample.txt",
        "/",
        "/test/",
        "/test/sample.txt",
        "/go",
        "/api/x",
    ] {
        assert_forbidden(&setup.get(SECOND, path), &format!("{binary}: GET {path}"));
    }
    // The route that names nobody lets the second client in.
    assert_eq!(setup.get(SECOND, "/open").status, 302);
    // The first client: files, a listing, the whitelisted folder; the CIDR block of /go
    // (127.0.0.0/31) refuses it too.
    assert_eq!(setup.get(FIRST, "/sample.txt").status, 200);
    assert_eq!(setup.get(FIRST, "/").status, 200);
    assert_eq!(setup.get(FIRST, "/test/sample.txt").status, 200);
    assert_forbidden(&setup.get(FIRST, "/go"), "127.0.0.1 inside 127.0.0.0/31");
    assert!(
        setup.upstream.requests().is_empty(),
        "a refused client reached the upstream"
    );
    let relayed = setup.get(FIRST, "/api/x");
    assert_eq!(relayed.body, b"upstream\n", "{}", relayed.summary());
    assert_eq!(setup.upstream.requests().len(), 1);
}

#[test]
fn stage18_refuses_on_file_listing_redirect_and_proxy_routes() {
    assert_each_kind_of_route_refuses_the_second_client(STAGE18);
}

#[test]
fn expserver_refuses_on_file_listing_redirect_and_proxy_routes() {
    assert_each_kind_of_route_refuses_the_second_client(EXPSERVER);
}

#[test]
fn a_refused_proxy_request_never_opens_a_connection_to_the_upstream() {
    // The upstream is a bare listener that is never accepted from: a connection the server
    // opened to it would wait in its backlog, where the kernel counts it even though no
    // request was read. (The fake upstream only records requests it has read.)
    let upstream = TcpListener::bind("127.0.0.1:0").unwrap();
    upstream.set_nonblocking(true).unwrap();
    let layout = Layout::new();
    let port = free_port();
    let config = format!(
        r#"{{ "servers": [ {{ "listeners": [{{ "host": "0.0.0.0", "port": {port} }}],
  "routes": [ {{ "req_path": "/", "type": "reverse_proxy", "upstreams": ["127.0.0.1:{up}"],
                 "ip_whitelist": ["127.0.0.1"] }} ] }} ] }}"#,
        up = upstream.local_addr().unwrap().port()
    );
    let path = layout.write_config(&config);
    let _server = start_server(STAGE18, &[path.to_str().unwrap()], &layout, &[port]);
    let body = "x".repeat(1000);
    for request in [
        "GET /a HTTP/1.1\r\nHost: h\r\n\r\n".to_string(),
        "HEAD /a HTTP/1.1\r\nHost: h\r\n\r\n".to_string(),
        format!("POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 1000\r\n\r\n{body}"),
        "GET /a HTTP/1.0\r\n\r\n".to_string(),
    ] {
        let mut connection = Connection::open_from(SECOND, port).unwrap();
        connection.send(request.as_bytes()).unwrap();
        let to_head = request.starts_with("HEAD");
        let response = connection
            .response(if to_head { Body::None } else { Body::Read })
            .unwrap_or_else(|e| panic!("{request:?}: {e}"));
        assert_forbidden(&response, &request);
        if to_head {
            assert!(response.body.is_empty());
        }
        assert!(
            connection.closing().is_closed(),
            "{request:?}: the course stages close after every answer"
        );
    }
    std::thread::sleep(Duration::from_millis(100));
    match upstream.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        Ok((_, from)) => panic!("the server connected to the upstream (from {from})"),
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn an_ipv6_listener_compares_its_ipv4_clients_as_ipv4() {
    if TcpListener::bind("[::1]:0").is_err() {
        eprintln!("no IPv6 loopback on this machine: nothing to test");
        return;
    }
    let layout = Layout::new();
    let port = free_port();
    let config = format!(
        r#"{{ "servers": [ {{ "listeners": [{{ "host": "::", "port": {port} }}],
  "routes": [ {{ "req_path": "/", "type": "file_serve", "dir_path": "../public",
                 "ip_whitelist": ["::1", "127.0.0.2"] }} ] }} ] }}"#
    );
    let path = layout.write_config(&config);
    let _server = start_server(STAGE18, &[path.to_str().unwrap()], &layout, &[port]);
    let get = "GET /sample.txt HTTP/1.1\r\nHost: h\r\n\r\n";
    let status = |from: IpAddr| {
        let mut connection = Connection::open_from(from, port).unwrap();
        connection.send(get.as_bytes()).unwrap();
        connection.response(Body::Read).unwrap().status
    };
    // The peer of 127.0.0.2 on a `::` socket is ::ffff:127.0.0.2, listed as 127.0.0.2.
    assert_eq!(status(SECOND), 200);
    assert_eq!(status(FIRST), 403);
    let mut stream = TcpStream::connect(("::1", port)).unwrap();
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    stream.write_all(get.as_bytes()).unwrap();
    let (reply, _) = wire::read_to_close(&mut stream, 1 << 20, TIMEOUT);
    assert!(
        reply.starts_with(b"HTTP/1.1 200 "),
        "{}",
        wire::show(&reply)
    );
}

#[test]
fn stage17_reads_the_lists_and_ignores_them() {
    let setup = Setup::start(STAGE17);
    assert_eq!(setup.get(SECOND, "/sample.txt").status, 200);
    assert_eq!(setup.get(SECOND, "/go").status, 302);
}

#[test]
fn a_bad_entry_is_a_config_error_naming_its_place() {
    let dir = tempfile::tempdir().unwrap();
    let route = r#"{ "req_path": "/", "type": "redirect", "redirect_url": "/x" }"#;
    let cases = [
        (
            r#""ip_whitelist": ["127.0.0.1", "localhost"]"#,
            "servers[1].routes[1].ip_whitelist[1]: \"localhost\" is not an IP address",
        ),
        (
            r#""ip_blacklist": ["10.0.0.0/33"]"#,
            "servers[1].routes[1].ip_blacklist[0]: \"10.0.0.0/33\": the prefix length",
        ),
        (
            r#""ip_blacklist": [""]"#,
            "servers[1].routes[1].ip_blacklist[0]",
        ),
        (r#""ip_whitelist": [127]"#, "a value has the wrong type"),
        (
            r#""ip_whitelist": "127.0.0.1""#,
            "a value has the wrong type",
        ),
    ];
    for (lists, says) in cases {
        let config = format!(
            r#"{{ "servers": [
  {{ "listeners": [{{ "host": "127.0.0.1", "port": 1 }}], "routes": [{route}] }},
  {{ "listeners": [{{ "host": "127.0.0.1", "port": 2 }}], "routes": [{route},
    {{ "req_path": "/b", "type": "redirect", "redirect_url": "/x", {lists} }}] }} ] }}"#
        );
        let path = dir.path().join("bad.json");
        std::fs::write(&path, config).unwrap();
        for binary in [STAGE18, EXPSERVER] {
            let output = Command::new(binary)
                .arg(&path)
                .env("RUST_BACKTRACE", "1")
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert_eq!(output.status.code(), Some(1), "{binary} {lists}: {stderr}");
            assert!(stderr.contains(says), "{binary} {lists}: {stderr}");
            assert!(stderr.contains("bad.json"), "{binary}: {stderr}");
            assert!(!stderr.contains("panicked"), "{binary}: {stderr}");
        }
    }
}
