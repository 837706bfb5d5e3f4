//! Stage 21's timeouts end to end, beyond what `cargo xtask check-stage 21` checks: many
//! slowloris clients at once (descriptors and memory come back), an upstream that stalls after
//! it started answering, the header deadline of a later request on a kept connection
//! (`expserver`), a bad timeout in the config, and the contrast: stage 17 has no timeouts.

mod common;

use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use common::*;

const STAGE17: &str = env!("CARGO_BIN_EXE_stage17_directory");
const STAGE21: &str = env!("CARGO_BIN_EXE_stage21_timeouts");
const EXPSERVER: &str = env!("CARGO_BIN_EXE_expserver");

/// Every timeout in these tests' configs unless a test says otherwise.
const LIMIT: Duration = Duration::from_millis(1000);

/// `binary` on a free port serving `public/`, with a proxy route at `/up` to `upstream` (if
/// any) and `timeouts` (JSON members, e.g. `"send_timeout_ms": 500,`) at the top level.
fn start(binary: &str, timeouts: &str, upstream: Option<u16>) -> (Layout, u16, Server) {
    let layout = Layout::new();
    let port = free_port();
    let proxy = upstream.map_or(String::new(), |up| {
        format!(
            r#"{{ "req_path": "/up", "type": "reverse_proxy", "upstreams": ["127.0.0.1:{up}"] }},"#
        )
    });
    let config = format!(
        r#"{{ {timeouts}
  "servers": [{{
    "listeners": [{{ "host": "127.0.0.1", "port": {port} }}],
    "routes": [ {proxy}
      {{ "req_path": "/", "type": "file_serve", "dir_path": "../public", "index": ["index.html"] }}
    ]
  }}]
}}"#
    );
    let path = layout.write_config(&config);
    let server = start_server(binary, &[path.to_str().unwrap()], &layout, &[port]);
    (layout, port, server)
}

const SHORT: &str = r#""client_header_timeout_ms": 1000, "client_body_timeout_ms": 1000,
    "keep_alive_timeout_ms": 1000, "send_timeout_ms": 1000,
    "upstream_connect_timeout_ms": 1000, "upstream_timeout_ms": 1000,"#;

fn fd_count(server: &Server) -> usize {
    fs::read_dir(format!("/proc/{}/fd", server.pid()))
        .unwrap()
        .count()
}

fn rss_kb(server: &Server) -> u64 {
    let status = fs::read_to_string(format!("/proc/{}/status", server.pid())).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Waits until `done` holds, for at most `within`.
fn wait_for(within: Duration, mut done: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < within {
        if done() {
            return true;
        }
        thread::sleep(Duration::from_millis(10));
    }
    done()
}

/// One request to open whatever the server keeps open for good (the served folder).
fn warm_up(port: u16) {
    let reply = get(port, "/sample.txt");
    assert_eq!(reply.status, 200);
}

#[test]
fn five_hundred_slowloris_clients_get_408_and_leave_nothing_behind() {
    let (_layout, port, server) = start(STAGE21, SHORT, None);
    warm_up(port);
    thread::sleep(Duration::from_millis(50));
    let (fds_before, rss_before) = (fd_count(&server), rss_kb(&server));
    let started = Instant::now();
    // In batches that the server's accept queue (the course's backlog of 64) holds: a full
    // queue drops the SYN and the kernel retries it a second later.
    let mut clients: Vec<TcpStream> = Vec::new();
    for _ in 0..10 {
        for _ in 0..50 {
            let mut stream = connect(port);
            stream
                .write_all(b"GET /sample.txt HTTP/1.1\r\nHost: x\r\nX-")
                .unwrap();
            clients.push(stream);
        }
        let want = fds_before + clients.len();
        wait_for(LIMIT / 4, || fd_count(&server) >= want);
    }
    let opened = started.elapsed();
    if opened < LIMIT / 2 {
        let fds_during = fd_count(&server);
        assert!(
            fds_during >= fds_before + 500,
            "{fds_during} descriptors while they wait"
        );
    }
    // Every client gets its 408 and the close.
    for (i, client) in clients.iter_mut().enumerate() {
        let got = read_to_close(client);
        let reply = parse_reply(&got);
        assert_eq!(reply.status, 408, "client {i}: {}", reply.summary());
        assert_eq!(reply.last_header("connection"), Some("close"));
    }
    let all_answered = started.elapsed();
    assert!(
        all_answered < opened + LIMIT * 2,
        "the last 408 came {all_answered:?} after the first connect ({opened:?} to open them all)"
    );
    drop(clients);
    assert!(
        wait_for(LIMIT, || fd_count(&server) <= fds_before),
        "{} descriptors, {fds_before} before",
        fd_count(&server)
    );
    let grown = rss_kb(&server).saturating_sub(rss_before);
    assert!(grown < 16 * 1024, "RSS grew by {grown} kB");
    // And the server still answers.
    warm_up(port);
}

/// An upstream that sends `head` and then nothing more, holding the connection.
fn stalling_upstream(head: &'static [u8]) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
                let _ = stream.read(&mut buf);
                let _ = stream.write_all(head);
                thread::sleep(Duration::from_secs(10));
            });
        }
    });
    port
}

#[test]
fn an_upstream_that_stalls_after_answering_gets_the_client_closed_not_a_504() {
    let upstream = stalling_upstream(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nfirst part");
    let (_layout, port, _server) = start(STAGE21, SHORT, Some(upstream));
    let mut stream = connect(port);
    let start = Instant::now();
    stream
        .write_all(b"GET /up/x HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let got = read_to_close(&mut stream);
    let took = start.elapsed();
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(text.ends_with("first part"), "{text}");
    assert!(!text.contains("504"), "{text}");
    assert!(
        took >= LIMIT && took < LIMIT * 2,
        "closed {took:?} after the request"
    );
}

#[test]
fn a_later_request_on_a_kept_connection_has_its_own_header_deadline() {
    let timeouts = r#""client_header_timeout_ms": 1000, "keep_alive_timeout_ms": 5000,"#;
    let (_layout, port, _server) = start(EXPSERVER, timeouts, None);
    let mut conn = Conn::open(port);
    conn.send(b"GET /sample.txt HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(conn.reply(false).status, 200);
    // Idle for longer than the header timeout: that is the keep-alive timer's business.
    thread::sleep(LIMIT + LIMIT / 2);
    let started = Instant::now();
    conn.send(b"GET /sample.txt HTTP/1.1\r\n");
    let mut stream = conn.stream().try_clone().unwrap();
    let got = read_to_close(&mut stream);
    let took = started.elapsed();
    let reply = parse_reply(&got);
    assert_eq!(reply.status, 408, "{}", reply.summary());
    assert!(
        took >= LIMIT - Duration::from_millis(5) && took < LIMIT + LIMIT / 2,
        "408 {took:?} after the first byte of the second request"
    );
}

#[test]
fn an_idle_kept_connection_closes_silently_after_the_keep_alive_timeout() {
    let (_layout, port, _server) = start(EXPSERVER, SHORT, None);
    let mut conn = Conn::open(port);
    conn.send(b"GET /sample.txt HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(conn.reply(false).status, 200);
    let idle = Instant::now();
    conn.expect_closed();
    let took = idle.elapsed();
    assert!(
        took >= LIMIT - Duration::from_millis(5) && took < LIMIT * 2,
        "closed after {took:?}"
    );
}

#[test]
fn the_course_stages_have_no_timeouts() {
    // The same short timeouts in the config mean nothing to stage 17.
    let (_layout, port, _server) = start(STAGE17, SHORT, None);
    let mut stream = connect(port);
    stream.write_all(b"GET /sample.txt HTTP/1.1\r\n").unwrap();
    stream.set_read_timeout(Some(LIMIT * 2)).unwrap();
    let mut buf = [0u8; 64];
    match stream.read(&mut buf) {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("stage 17 answered or closed an unfinished request: {other:?}"),
    }
    // It is still waiting for the rest of the head, and answers it.
    stream.write_all(b"Host: x\r\n\r\n").unwrap();
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    let reply = parse_reply(&read_to_close(&mut stream));
    assert_eq!(reply.status, 200);
}

#[test]
fn a_bad_timeout_is_a_config_error_naming_its_key() {
    let dir = tempfile::tempdir().unwrap();
    for (value, says) in [
        ("-5", "send_timeout_ms: -5 is negative"),
        ("2.5", "send_timeout_ms: 2.5 is not a whole number"),
        ("3600001", "send_timeout_ms: 3600001 is more than one hour"),
    ] {
        let path = dir.path().join("bad.json");
        let config = format!(
            r#"{{"send_timeout_ms": {value}, "servers": [{{"listeners": [{{"host": "127.0.0.1", "port": 1}}]}}]}}"#
        );
        fs::write(&path, config).unwrap();
        for binary in [STAGE21, EXPSERVER] {
            let output = Command::new(binary).arg(&path).output().unwrap();
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert_eq!(output.status.code(), Some(1), "{binary}: {stderr}");
            assert!(stderr.contains("bad.json"), "{binary}: {stderr}");
            assert!(stderr.contains(says), "{binary}: {stderr}");
        }
    }
}
