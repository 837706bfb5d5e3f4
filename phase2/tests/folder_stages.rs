//! Stages 14 and 15 end to end: every port serves `--public`; the official grader's nine checks,
//! HEAD, path escapes, and a client that leaves in the middle of a file.

mod common;

use std::fs;
use std::io::{Read, Write};

use common::*;

const STAGES: [&str; 2] = [
    env!("CARGO_BIN_EXE_stage14_http_request"),
    env!("CARGO_BIN_EXE_stage15_http_response"),
];

fn start(binary: &str, layout: &Layout) -> (Server, Vec<u16>) {
    let ports: Vec<u16> = (0..4).map(|_| free_port()).collect();
    let list = ports
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let public = layout.public();
    let args = [
        "--ports",
        list.as_str(),
        "--public",
        public.to_str().unwrap(),
        "/usr/src/public/xps_config.json",
    ];
    (start_server(binary, &args, layout, &ports), ports)
}

/// The grader reads only the first chunk; the whole head must be in it. We read everything and
/// check the head arrived complete and with the exact header values the grader compares.
#[test]
fn the_graders_nine_checks() {
    for binary in STAGES {
        let layout = Layout::new();
        let (_server, ports) = start(binary, &layout);
        let port = ports[0];
        for (path, accept, mime) in [
            ("/cat.jpg", "image/jpeg", "image/jpeg"),
            ("/sample.pdf", "application/pdf", "application/pdf"),
            ("/sample.txt", "text/plain", "text/plain"),
        ] {
            let reply = parse_reply(&exchange(port, &grader_get(path, accept)));
            assert_eq!(reply.status, 200, "{binary} {path}");
            assert_eq!(reply.last_header("content-type"), Some(mime));
            assert_eq!(reply.last_header("server"), Some("eXpServer"));
            assert_eq!(reply.last_header("access-control-allow-origin"), Some("*"));
            let expected = fs::read(layout.public().join(&path[1..])).unwrap();
            assert_eq!(
                reply.last_header("content-length"),
                Some(expected.len().to_string().as_str())
            );
            assert_eq!(reply.body, expected, "{binary} {path}: body differs");
        }
        let reply = parse_reply(&exchange(port, &grader_get("/test.html", "text/html")));
        assert_eq!(
            (reply.status, reply.last_header("server")),
            (404, Some("eXpServer"))
        );

        let bad: [&[u8]; 5] = [
            b"GET /index.html\r\nHost: c:8001\r\n\r\n",
            b"GOT /index.html HTTP/1.1\r\nHost: c:8001\r\n\r\n",
            b"GET /index.html HTTP/1.1\r\n\r\n",
            b"GET /index.html HTTX/2.0\r\nHost: c:8001\r\n\r\n",
            b"GET /index.html HTTP/1.1\r\nHost c:8001\r\n\r\n",
        ];
        for request in bad {
            let reply = parse_reply(&exchange(port, request));
            assert_eq!(
                reply.status,
                400,
                "{binary}: {:?}",
                String::from_utf8_lossy(request)
            );
            assert_eq!(reply.last_header("server"), Some("eXpServer"));
        }
    }
}

#[test]
fn every_port_serves_files_and_stage15_adds_a_date() {
    for binary in STAGES {
        let layout = Layout::new();
        let (_server, ports) = start(binary, &layout);
        for &port in &ports {
            let reply = get(port, "/sample.txt");
            assert_eq!(reply.status, 200);
            assert_eq!(reply.last_header("connection"), Some("close"));
            let has_date = reply.last_header("date").is_some();
            assert_eq!(
                has_date,
                binary.ends_with("stage15_http_response"),
                "{binary}"
            );
        }
    }
}

#[test]
fn head_gets_the_same_head_without_a_body() {
    for binary in STAGES {
        let layout = Layout::new();
        let (_server, ports) = start(binary, &layout);
        let get_reply = get(ports[0], "/cat.jpg");
        let head_request = b"HEAD /cat.jpg HTTP/1.1\r\nHost: a\r\n\r\n";
        let head_reply = parse_reply(&exchange(ports[0], head_request));
        assert_eq!(head_reply.status, 200);
        assert!(head_reply.body.is_empty());
        assert_eq!(
            head_reply.last_header("content-length"),
            get_reply.last_header("content-length")
        );
        assert_eq!(head_reply.last_header("content-type"), Some("image/jpeg"));
    }
}

#[test]
fn paths_cannot_escape_the_public_folder() {
    let layout = Layout::new();
    std::os::unix::fs::symlink(
        layout.root().join("secret.txt"),
        layout.public().join("link.txt"),
    )
    .unwrap();
    let (_server, ports) = start(STAGES[1], &layout);
    for path in [
        "/../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E%2Fsecret.txt",
        "/test/../../secret.txt",
        "/link.txt",
    ] {
        let raw = exchange(ports[0], format!("GET {path} HTTP/1.0\r\n\r\n").as_bytes());
        let reply = parse_reply(&raw);
        assert_eq!(reply.status, 403, "{path}");
        assert!(!String::from_utf8_lossy(&raw).contains("top secret"));
    }
    // Dot segments that stay inside, doubled slashes and encoded names are served.
    for path in [
        "/test/../sample.txt",
        "//sample.txt",
        "/%73ample.txt",
        "/./sample.txt?x=1",
    ] {
        assert_eq!(get(ports[0], path).status, 200, "{path}");
    }
    assert_eq!(get(ports[0], "/a%00b").status, 400);
    // A folder is not a file before stage 17.
    assert_eq!(get(ports[0], "/test").status, 404);
}

#[test]
fn requests_in_pieces_and_half_closed_clients() {
    let layout = Layout::new();
    let (_server, ports) = start(STAGES[1], &layout);
    // One byte per write.
    let mut stream = connect(ports[1]);
    for b in b"GET /sample.txt HTTP/1.1\r\nHost: x\r\n\r\n" {
        stream.write_all(&[*b]).unwrap();
        stream.flush().unwrap();
    }
    let reply = parse_reply(&read_to_close(&mut stream));
    assert_eq!(reply.status, 200);
    // A client that half-closes after its request still gets the whole file.
    let reply = parse_reply(&exchange_half_closed(ports[2], &fetch_get("/cat.jpg")));
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.body,
        fs::read(layout.public().join("cat.jpg")).unwrap()
    );
    // A client that half-closes in the middle of a head gets 400.
    let reply = parse_reply(&exchange_half_closed(ports[3], b"GET /sample.txt HTT"));
    assert_eq!(reply.status, 400);
}

#[test]
fn a_client_leaving_mid_file_does_not_hurt_the_server() {
    let layout = Layout::new();
    // 8 MB: much more than the socket buffers and the 1 MB pipe.
    let big: Vec<u8> = (0..8_000_000u32).map(|i| (i % 251) as u8).collect();
    fs::write(layout.public().join("big.bin"), &big).unwrap();
    let (mut server, ports) = start(STAGES[1], &layout);
    for _ in 0..5 {
        let mut stream = connect(ports[0]);
        stream.write_all(&fetch_get("/big.bin")).unwrap();
        let mut first = [0u8; 4096];
        let n = stream.read(&mut first).unwrap();
        assert!(n > 0);
        drop(stream);
    }
    assert!(
        server.is_running(),
        "server died:\n{}",
        server.log_excerpt()
    );
    let reply = get(ports[0], "/big.bin");
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.last_header("content-type"),
        Some("application/octet-stream")
    );
    assert_eq!(reply.body.len(), big.len());
    assert!(reply.body == big, "the file arrived changed");
}
