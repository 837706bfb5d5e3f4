//! Stage 20 end to end, beyond the checker's checks (`tests/stages.rs` runs those): the lesson's
//! difference from stage 17, failover with bodies that must not be lost, and config errors.

mod common;

use std::io::Write;
use std::net::Shutdown;
use std::time::Duration;

use common::*;
use xtask::checks::timeouts::Blackhole;
use xtask::upstream::NamedUpstream;

const STAGE17: &str = env!("CARGO_BIN_EXE_stage17_directory");
const STAGE20: &str = env!("CARGO_BIN_EXE_stage20_load_balancing");
const STAGE21: &str = env!("CARGO_BIN_EXE_stage21_timeouts");

/// A config with one proxy route on `port` over `upstreams` (`host:port` strings).
fn proxy_config(layout: &Layout, port: u16, upstreams: &[String], extra: &str) -> String {
    let list: Vec<String> = upstreams.iter().map(|u| format!("\"{u}\"")).collect();
    let json = format!(
        r#"{{"servers": [{{"listeners": [{{"host": "0.0.0.0", "port": {port}}}],
            "routes": [{{"req_path": "/", "type": "reverse_proxy",
                         "upstreams": [{}]{extra}}}]}}]}}"#,
        list.join(", ")
    );
    layout.write_config(&json).to_string_lossy().into_owned()
}

/// The name a [`NamedUpstream`] put in its answer.
fn answered_by(port: u16, path: &str) -> String {
    let reply = get(port, path);
    assert_eq!(reply.status, 200, "{}", reply.summary());
    String::from_utf8_lossy(&reply.body)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

fn named(name: &str) -> NamedUpstream {
    NamedUpstream::start(name, free_port(), Duration::ZERO).unwrap()
}

#[test]
fn stage17_uses_the_first_upstream_and_stage20_spreads_over_all() {
    let (a, b) = (named("A"), named("B"));
    let upstreams = [
        format!("localhost:{}", a.port()),
        format!("localhost:{}", b.port()),
    ];
    let layout = Layout::new();
    let port = free_port();
    let config = proxy_config(&layout, port, &upstreams, "");

    let server = start_server(STAGE17, &[&config], &layout, &[port]);
    let before: Vec<String> = (0..4)
        .map(|i| answered_by(port, &format!("/{i}")))
        .collect();
    assert_eq!(before, ["A", "A", "A", "A"], "stage 17 knows one upstream");
    drop(server);

    let _server = start_server(STAGE20, &[&config], &layout, &[port]);
    let after: Vec<String> = (0..4)
        .map(|i| answered_by(port, &format!("/{i}")))
        .collect();
    assert_eq!(after, ["A", "B", "A", "B"], "stage 20 takes turns");
}

#[test]
fn a_large_body_waits_in_the_client_pipe_for_the_upstream_that_connects() {
    let dead = free_port(); // nobody listens there
    let live = fake_upstream(Behaviour::Respond(
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".to_vec(),
    ));
    let upstreams = [
        format!("127.0.0.1:{dead}"),
        format!("127.0.0.1:{}", live.port()),
    ];
    let layout = Layout::new();
    let port = free_port();
    let config = proxy_config(&layout, port, &upstreams, "");
    let _server = start_server(STAGE20, &[&config], &layout, &[port]);

    // Three times the pipe threshold: the client is held back while the dead upstream fails,
    // and every byte must still reach the live one, once.
    let body = vec![b'x'; 3_000_000];
    let mut stream = connect(port);
    let head = format!(
        "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(&body).unwrap();
    let reply = parse_reply(&read_to_close(&mut stream));
    assert_eq!(reply.status, 200, "{}", reply.summary());
    let requests = live.requests();
    assert_eq!(requests.len(), 1);
    let got = &requests[0];
    let end = got.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert!(got.starts_with(b"POST /upload HTTP/1.1\r\n"));
    assert_eq!(got.len() - end, body.len(), "the body arrived whole");
    assert!(got[end..].iter().all(|&b| b == b'x'));
}

#[test]
fn a_client_that_half_closes_still_fails_over() {
    let dead = free_port();
    let live = fake_upstream(Behaviour::Respond(
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".to_vec(),
    ));
    let upstreams = [
        format!("127.0.0.1:{dead}"),
        format!("127.0.0.1:{}", live.port()),
    ];
    let layout = Layout::new();
    let port = free_port();
    let config = proxy_config(
        &layout,
        port,
        &upstreams,
        r#", "upstream_fail_timeout_ms": 0"#,
    );
    let _server = start_server(STAGE20, &[&config], &layout, &[port]);
    // With the fail timeout off, every request tries the dead upstream first in its turn.
    for _ in 0..4 {
        let reply = parse_reply(&exchange_half_closed(
            port,
            b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
        ));
        assert_eq!(reply.status, 200, "{}", reply.summary());
        let mut stream = connect(port);
        stream
            .write_all(b"GET /y HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        stream.shutdown(Shutdown::Write).unwrap();
        let reply = parse_reply(&read_to_close(&mut stream));
        assert_eq!(reply.status, 200, "{}", reply.summary());
    }
    let requests = live.requests();
    assert_eq!(
        requests.len(),
        8,
        "every request reached the live upstream once"
    );
    for request in requests.iter().filter(|r| r.starts_with(b"POST")) {
        assert!(request.ends_with(b"\r\n\r\nhello"), "{request:?}");
    }
}

#[test]
fn every_upstream_dead_is_502_and_head_gets_no_body() {
    let upstreams = [
        format!("127.0.0.1:{}", free_port()),
        format!("localhost:{}", free_port()),
    ];
    let layout = Layout::new();
    let port = free_port();
    let config = proxy_config(
        &layout,
        port,
        &upstreams,
        r#", "lb_strategy": "least_conn""#,
    );
    let _server = start_server(STAGE20, &[&config], &layout, &[port]);
    let reply = get(port, "/");
    assert_eq!(reply.status, 502, "{}", reply.summary());
    assert_eq!(reply.header("server").as_deref(), Some("eXpServer"));
    assert_eq!(reply.content_length(), Some(reply.body.len()));
    let raw = exchange(port, b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n");
    let reply = parse_reply(&raw);
    assert_eq!(reply.status, 502);
    assert!(
        reply.body.is_empty(),
        "HEAD got a body: {}",
        reply.summary()
    );
}

#[test]
fn a_bad_load_balancing_key_is_a_config_error_naming_its_place() {
    let layout = Layout::new();
    for (extra, says) in [
        (
            r#", "lb_strategy": "fastest""#,
            "servers[0].routes[0].lb_strategy: unknown strategy \"fastest\"",
        ),
        (
            r#", "upstream_fail_timeout_ms": -1"#,
            "servers[0].routes[0].upstream_fail_timeout_ms: -1",
        ),
    ] {
        let config = proxy_config(&layout, 1, &["localhost:3000".to_string()], extra);
        let output = std::process::Command::new(STAGE20)
            .arg(&config)
            .env("RUST_BACKTRACE", "1")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains(says), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[test]
fn a_connect_timeout_fails_over_and_is_504_only_when_no_upstream_is_left() {
    // Upstreams whose accept queue is full: a connect to them neither succeeds nor fails.
    let (hole, other_hole) = (free_port(), free_port());
    let _holes = (
        Blackhole::start(hole).unwrap(),
        Blackhole::start(other_hole).unwrap(),
    );
    let live = named("A");
    let layout = Layout::new();
    let port = free_port();
    let json = format!(
        r#"{{"upstream_connect_timeout_ms": 300,
            "servers": [{{"listeners": [{{"host": "0.0.0.0", "port": {port}}}],
            "routes": [
              {{"req_path": "/", "type": "reverse_proxy",
                "upstreams": ["127.0.0.1:{hole}", "localhost:{}"]}},
              {{"req_path": "/holes", "type": "reverse_proxy",
                "upstreams": ["127.0.0.1:{hole}", "127.0.0.1:{other_hole}"]}}]}}]}}"#,
        live.port()
    );
    let config = layout.write_config(&json).to_string_lossy().into_owned();
    let _server = start_server(STAGE21, &[&config], &layout, &[port]);

    // The first request is planned for the blackhole, waits out its connect timeout, then
    // goes to A; the blackhole is then passed over.
    let started = std::time::Instant::now();
    assert_eq!(answered_by(port, "/first"), "A");
    assert!(started.elapsed() >= Duration::from_millis(300));
    for i in 0..3 {
        assert_eq!(answered_by(port, &format!("/next{i}")), "A");
    }
    assert_eq!(live.hits(), 4, "every request reached A once");

    let reply = get(port, "/holes/x");
    assert_eq!(reply.status, 504, "{}", reply.summary());
    assert_eq!(reply.header("server").as_deref(), Some("eXpServer"));
}
