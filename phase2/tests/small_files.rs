//! The finished server's quick ways for small files, end to end: a file up to the inline limit
//! leaves with its head in one write, a file past it streams through the pipe, and a file reached
//! through a symbolic link goes through the slow, canonicalising check. Whichever way a request
//! takes, the answer must be the same: the same bytes, the same length, the same refusals.

mod common;

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};

use common::*;
use phase2::session::INLINE_FILE_LIMIT;

const EXPSERVER: &str = env!("CARGO_BIN_EXE_expserver");

/// `len` bytes that differ from one position to the next, so a misplaced byte shows.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 253) as u8).collect()
}

#[test]
fn every_way_to_a_file_gives_the_same_answer() {
    let layout = Layout::new();
    let public = layout.public();
    let limit = INLINE_FILE_LIMIT as usize;
    let sizes = [
        ("empty.bin", 0),
        ("one.bin", 1),
        ("at.bin", limit),
        ("past.bin", limit + 1),
    ];
    for (name, len) in sizes {
        fs::write(public.join(name), pattern(len)).unwrap();
    }
    fs::create_dir(public.join("deep")).unwrap();
    fs::write(public.join("deep/inner.bin"), pattern(5000)).unwrap();
    symlink(public.join("at.bin"), public.join("alias.bin")).unwrap();
    symlink(public.join("deep"), public.join("linkdir")).unwrap();
    // The layout keeps a secret next to the served folder.
    symlink(layout.root().join("secret.txt"), public.join("leak.txt")).unwrap();
    fs::write(public.join("private.txt"), b"private").unwrap();
    fs::set_permissions(
        public.join("private.txt"),
        fs::Permissions::from_mode(0o600),
    )
    .unwrap();

    let port = free_port();
    let config = format!(
        r#"{{ "servers": [{{
    "listeners": [{{ "host": "127.0.0.1", "port": {port} }}],
    "routes": [{{ "req_path": "/", "type": "file_serve", "dir_path": "../public" }}]
}}] }}"#
    );
    let path = layout.write_config(&config);
    let _server = start_server(EXPSERVER, &[path.to_str().unwrap()], &layout, &[port]);

    let expected: Vec<(&str, u16, Option<Vec<u8>>)> = vec![
        ("/empty.bin", 200, Some(Vec::new())),
        ("/one.bin", 200, Some(pattern(1))),
        ("/at.bin", 200, Some(pattern(limit))),
        ("/past.bin", 200, Some(pattern(limit + 1))),
        ("/deep/inner.bin", 200, Some(pattern(5000))),
        ("/alias.bin", 200, Some(pattern(limit))),
        ("/linkdir/inner.bin", 200, Some(pattern(5000))),
        ("/leak.txt", 403, None),
        ("/private.txt", 403, None),
        ("/missing.bin", 404, None),
    ];
    // All pipelined on one connection: the answers come back in order, never mixed.
    let mut conn = Conn::open(port);
    let requests: String = expected
        .iter()
        .map(|(path, _, _)| format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n"))
        .collect();
    conn.send(requests.as_bytes());
    for (path, status, body) in &expected {
        let reply = conn.reply(false);
        assert_eq!(reply.status, *status, "{path}: {}", reply.summary());
        if let Some(body) = body {
            assert_eq!(reply.body.len(), body.len(), "{path}");
            assert!(reply.body == *body, "{path}: the body differs");
            let length = body.len().to_string();
            assert_eq!(
                reply.last_header("content-length"),
                Some(length.as_str()),
                "{path}"
            );
        }
    }
    // A HEAD gets the same length and no body, inline-sized or not.
    for (path, len) in [("/at.bin", limit), ("/past.bin", limit + 1)] {
        conn.send(format!("HEAD {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").as_bytes());
        let reply = conn.reply(true);
        assert_eq!(reply.status, 200, "{path}");
        assert!(reply.body.is_empty(), "{path}");
        let length = len.to_string();
        assert_eq!(
            reply.last_header("content-length"),
            Some(length.as_str()),
            "{path}"
        );
    }
}
