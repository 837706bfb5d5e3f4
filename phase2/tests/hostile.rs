//! Hostile clients against `expserver` (issue 11): what an attacker on the same network can try,
//! on loopback, each scenario bounded in count and time. The scenarios other suites already
//! cover are not repeated here: the accept back-off after EMFILE (`churn.rs`), files that grow
//! or shrink mid-transfer (`small_files.rs`), a slow reader of a huge file (`gzip.rs`).

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::*;

const EXPSERVER: &str = env!("CARGO_BIN_EXE_expserver");

/// An upstream that records every byte each connection sends it (until the peer ends its input
/// or is quiet for 300 ms), then answers `200 ok` and closes.
struct Recorder {
    port: u16,
    seen: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl Recorder {
    fn start() -> Recorder {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let log = log.clone();
                thread::spawn(move || record(stream, &log));
            }
        });
        Recorder { port, seen }
    }

    /// Everything each connection sent, in the order the connections ended.
    fn seen(&self) -> Vec<String> {
        let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.iter()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .collect()
    }
}

fn record(mut stream: TcpStream, log: &Mutex<Vec<Vec<u8>>>) {
    let _ = stream.set_read_timeout(Some(Duration::from_millis(300)));
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    log.lock().unwrap_or_else(|p| p.into_inner()).push(got);
    let _ =
        stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
}

/// `expserver` on a fresh port: `/api` proxies to `upstream`, `/private` too but only for
/// 10.0.0.0/8 (stage 18's list), so a loopback client asking for it directly gets 403.
fn proxy_server(upstream: u16) -> (Server, u16, Layout) {
    let layout = Layout::new();
    let port = free_port();
    let json = format!(
        r#"{{"servers": [{{"listeners": [{{"host": "127.0.0.1", "port": {port}}}],
            "routes": [
              {{"req_path": "/api", "type": "reverse_proxy", "upstreams": ["127.0.0.1:{upstream}"]}},
              {{"req_path": "/private", "type": "reverse_proxy", "upstreams": ["127.0.0.1:{upstream}"],
                "ip_whitelist": ["10.0.0.0/8"]}}]}}]}}"#
    );
    let config = layout.write_config(&json);
    let server = start_server(EXPSERVER, &[config.to_str().unwrap()], &layout, &[port]);
    (server, port, layout)
}

/// Issue 11, item 4: a request pipelined behind a proxied one never reaches the upstream raw,
/// whether the first has no body, a `Content-Length` body or a chunked one, and whether the
/// pipelined bytes come with the head or later.
#[test]
fn a_request_pipelined_behind_a_proxied_one_is_never_forwarded_raw() {
    let upstream = Recorder::start();
    let (_server, port, _layout) = proxy_server(upstream.port);
    let smuggled = "GET /private/admin HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\
                    Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
    let firsts = [
        "GET /api/ok HTTP/1.1\r\nHost: x\r\n\r\n".to_string(),
        "POST /api/ok HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello".to_string(),
        "POST /api/ok HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
         5\r\nhello\r\n0\r\nX-T: 1\r\n\r\n"
            .to_string(),
    ];
    for (i, first) in firsts.iter().enumerate() {
        for later in [false, true] {
            let mut stream = connect(port);
            if later {
                stream.write_all(first.as_bytes()).unwrap();
                thread::sleep(Duration::from_millis(50));
                stream.write_all(smuggled.as_bytes()).unwrap();
            } else {
                stream
                    .write_all(format!("{first}{smuggled}").as_bytes())
                    .unwrap();
            }
            let reply = String::from_utf8_lossy(&read_to_close(&mut stream)).into_owned();
            assert!(reply.starts_with("HTTP/1.1 200 OK"), "request {i}: {reply}");
            assert_eq!(reply.matches("HTTP/1.1").count(), 1, "one answer: {reply}");
        }
    }
    let seen = upstream.seen();
    assert_eq!(seen.len(), 6, "{seen:?}");
    for got in &seen {
        assert!(
            !got.contains("/private"),
            "smuggled to the upstream: {got:?}"
        );
        assert!(got.starts_with("GET /api/ok ") || got.starts_with("POST /api/ok "));
    }
    // The bodies arrived whole, framing and all.
    assert!(
        seen.iter().any(|g| g.ends_with("\r\n\r\nhello")),
        "{seen:?}"
    );
    assert!(
        seen.iter()
            .any(|g| g.ends_with("5\r\nhello\r\n0\r\nX-T: 1\r\n\r\n")),
        "{seen:?}"
    );
    // Asked on its own, the private route refuses a loopback client (the route list works).
    let direct = fetch(port, "/private/admin");
    assert_eq!(direct.status, 403, "{}", direct.summary());
}
