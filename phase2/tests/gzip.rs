//! Stage 19 (gzip) end to end, beyond the checker's checks (`tests/stages.rs` runs those): memory
//! stays bounded while a huge file is compressed for a client that reads slowly, `expserver` keeps
//! the connection alive across chunked gzip answers (pipelined too), `gzip_level` and the extension
//! keys are obeyed, a bad gzip key is a config error naming its place, the stages before 19 ignore
//! the gzip keys, and `expserver` serves a precompressed `NAME.gz` only when it is current (an
//! extension).

mod common;

use std::fs;
use std::io::{Read, Write};
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use xtask::checks::http::client::gunzip;
use xtask::procstat::rss_bytes;

const STAGE17: &str = env!("CARGO_BIN_EXE_stage17_directory");
const STAGE19: &str = env!("CARGO_BIN_EXE_stage19_gzip");
const EXPSERVER: &str = env!("CARGO_BIN_EXE_expserver");

struct Setup {
    layout: Layout,
    port: u16,
    server: Server,
}

impl Setup {
    /// `binary` on a free port serving `public/`: with gzip at `level`, but at level 1 under
    /// `/fast`, and under `/all` with every type compressed from 0 bytes on (the extension keys).
    fn start(binary: &str, level: u32) -> Setup {
        let layout = Layout::new();
        let public = layout.public();
        fs::create_dir(public.join("fast")).unwrap();
        fs::create_dir(public.join("all")).unwrap();
        fs::write(public.join("text.txt"), text(300_000)).unwrap();
        fs::write(public.join("fast/text.txt"), text(300_000)).unwrap();
        fs::copy(public.join("cat.jpg"), public.join("all/cat.jpg")).unwrap();
        let port = free_port();
        let config = format!(
            r#"{{ "servers": [{{
    "listeners": [{{ "host": "127.0.0.1", "port": {port} }}],
    "routes": [
      {{ "req_path": "/", "type": "file_serve", "dir_path": "../public",
         "gzip_enable": true, "gzip_level": {level} }},
      {{ "req_path": "/fast", "type": "file_serve", "dir_path": "../public",
         "gzip_enable": true, "gzip_level": 1 }},
      {{ "req_path": "/all", "type": "file_serve", "dir_path": "../public",
         "gzip_enable": true, "gzip_min_length": 0, "gzip_types": ["*"] }}
    ]
  }}]
}}"#
        );
        let path = layout.write_config(&config);
        let server = start_server(binary, &[path.to_str().unwrap()], &layout, &[port]);
        Setup {
            layout,
            port,
            server,
        }
    }

    fn file(&self, name: &str) -> Vec<u8> {
        fs::read(self.layout.public().join(name)).unwrap()
    }
}

/// `len` bytes of numbered lines: compresses like text, not to nothing.
fn text(len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 80);
    let mut n: u64 = 7;
    while out.len() < len {
        n = n.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        out.extend_from_slice(format!("{} {:016x} gzip me\n", out.len(), n).as_bytes());
    }
    out.truncate(len);
    out
}

fn gzip_get(path: &str, version: &str) -> String {
    format!("GET {path} HTTP/{version}\r\nHost: localhost\r\nAccept-Encoding: gzip\r\n\r\n")
}

#[test]
fn a_huge_file_to_a_slow_reader_keeps_memory_bounded() {
    let s = Setup::start(STAGE19, 1);
    // 200 MB: 24 MB of text that compresses only about 2 to 1 (so the compressed stream fills
    // the pipe and the socket buffers quickly), the rest a hole in the file (zeros, read for
    // nothing). The client only ever reads the start of it.
    let path = s.layout.public().join("huge.txt");
    let mut huge = fs::File::create(&path).unwrap();
    huge.write_all(&text(24 << 20)).unwrap();
    huge.set_len(200 << 20).unwrap();
    drop(huge);
    let pid = s.server.pid();
    let before = rss_bytes(pid).unwrap();

    let mut stream = connect(s.port);
    stream
        .write_all(gzip_get("/huge.txt", "1.1").as_bytes())
        .unwrap();
    // Read slowly: 64 KiB every 50 ms for 1.5 s, while the server would race ahead if it
    // could.
    let mut buf = vec![0; 64 << 10];
    let mut received = 0;
    let mut peak = before;
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(1500) {
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0, "the server closed early");
        received += n;
        std::thread::sleep(Duration::from_millis(50));
        peak = peak.max(rss_bytes(pid).unwrap());
    }
    let growth = peak.saturating_sub(before);
    eprintln!(
        "RSS {} MB before, peak {} MB; {received} compressed bytes read",
        before >> 20,
        peak >> 20
    );
    assert!(received > 100_000, "only {received} bytes arrived");
    assert!(
        growth < 32 << 20,
        "RSS grew by {} MB while a 200 MB file was compressed for a slow reader",
        growth >> 20
    );
    // The server is fine afterwards: the client leaves, the next one is served.
    drop(stream);
    let reply = get(s.port, "/sample.txt");
    assert_eq!(reply.status, 200);
}

#[test]
fn expserver_keeps_the_connection_across_gzip_answers() {
    let s = Setup::start(EXPSERVER, 6);
    let want = s.file("text.txt");
    let mut conn = Conn::open(s.port);
    // Pipelined: two compressed answers, a HEAD of one, and a plain one, in one write.
    conn.send(
        format!(
            "{}{}HEAD /text.txt HTTP/1.1\r\nHost: a\r\nAccept-Encoding: gzip\r\n\r\n\
             GET /sample.txt HTTP/1.1\r\nHost: a\r\n\r\n",
            gzip_get("/text.txt", "1.1"),
            gzip_get("/", "1.1"),
        )
        .as_bytes(),
    );
    let first = conn.reply(false);
    assert!(first.chunked, "{}", first.summary());
    assert_eq!(first.last_header("content-encoding"), Some("gzip"));
    assert_eq!(first.last_header("connection"), None, "{}", first.summary());
    assert!(gunzip(&first.body).unwrap() == want, "the text is damaged");
    let listing = conn.reply(false);
    assert_eq!(listing.last_header("content-type"), Some("text/html"));
    let html = String::from_utf8(gunzip(&listing.body).unwrap()).unwrap();
    assert!(html.contains("text.txt"), "{html}");
    let head = conn.reply(true);
    assert_eq!(head.last_header("content-encoding"), Some("gzip"));
    assert_eq!(head.last_header("transfer-encoding"), Some("chunked"));
    let plain = conn.reply(false);
    assert_eq!(plain.last_header("content-encoding"), None);
    assert_eq!(plain.last_header("vary"), Some("Accept-Encoding"));
    assert_eq!(plain.body, s.file("sample.txt"));
    // An HTTP/1.0 client that asks to keep the connection still gets the close: its gzip body
    // has no other end.
    conn.send(b"GET /text.txt HTTP/1.0\r\nConnection: keep-alive\r\nAccept-Encoding: gzip\r\n\r\n");
    let old = conn.0.response(Body::Read).unwrap(); // to the close: no length, no chunks
    assert!(!old.chunked);
    assert_eq!(old.last_header("connection"), Some("close"));
    assert!(gunzip(&old.body).unwrap() == want);
    conn.expect_closed();
}

#[test]
fn the_level_and_the_extension_keys_are_obeyed() {
    let s = Setup::start(STAGE19, 9);
    let size = |path: &str| {
        let reply = fetch(s.port, path);
        assert_eq!(reply.status, 200, "{path}");
        assert!(reply.body == s.file(path.trim_start_matches('/')), "{path}");
        reply.gzipped_len
    };
    let best = size("/text.txt").expect("compressed");
    let fast = size("/fast/text.txt").expect("compressed");
    assert!(best < fast, "level 9: {best} bytes, level 1: {fast} bytes");
    // Default types and minimum: a JPEG is not compressed; `/all` compresses every type.
    assert_eq!(size("/cat.jpg"), None);
    assert!(size("/all/cat.jpg").is_some());
    fs::write(s.layout.public().join("tiny.txt"), b"tiny").unwrap();
    fs::write(s.layout.public().join("all/tiny.txt"), b"tiny").unwrap();
    assert_eq!(size("/tiny.txt"), None);
    assert!(size("/all/tiny.txt").is_some());
}

#[test]
fn stages_before_19_ignore_the_gzip_keys() {
    let s = Setup::start(STAGE17, 6);
    let reply = fetch(s.port, "/text.txt");
    assert_eq!(reply.status, 200);
    assert_eq!(reply.last_header("content-encoding"), None);
    assert_eq!(reply.last_header("vary"), None);
    assert!(reply.content_length().is_some());
}

#[test]
fn a_bad_gzip_key_is_a_config_error_naming_its_place() {
    let layout = Layout::new();
    for (route, expected) in [
        (
            r#""gzip_level": 10"#,
            "servers[0].routes[1].gzip_level: 10 is not between 1",
        ),
        (
            r#""gzip_min_length": -5"#,
            "servers[0].routes[1].gzip_min_length: -5",
        ),
        (r#""gzip_types": ["text/plain", 3]"#, "wrong type"),
        (
            r#""gzip_types": ["text"]"#,
            "servers[0].routes[1].gzip_types[0]",
        ),
    ] {
        let config = layout.write_config(&format!(
            r#"{{"servers": [{{"listeners": [{{"host": "127.0.0.1", "port": {}}}], "routes": [
                {{"req_path": "/go", "type": "redirect", "redirect_url": "/"}},
                {{"req_path": "/", "type": "file_serve", "dir_path": "../public", {route}}}]}}]}}"#,
            free_port()
        ));
        let output = Command::new(STAGE19)
            .arg(&config)
            .current_dir(layout.app())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{route}: {stderr}");
        assert!(stderr.contains(expected), "{route}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[test]
fn expserver_serves_a_current_precompressed_sibling_and_stage19_does_not() {
    use std::time::SystemTime;
    for binary in [EXPSERVER, STAGE19] {
        let s = Setup::start(binary, 6);
        let public = s.layout.public();
        // The sibling holds other text than the file, so the answer shows which one was sent.
        let marker = b"from the precompressed sibling\n".repeat(20);
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(9));
        encoder.write_all(&marker).unwrap();
        let gz = encoder.finish().unwrap();
        fs::write(public.join("text.txt.gz"), &gz).unwrap();
        let set_time = |name: &str, time: SystemTime| {
            let file = fs::File::options()
                .write(true)
                .open(public.join(name))
                .unwrap();
            file.set_modified(time).unwrap();
        };
        let now = SystemTime::now();
        set_time("text.txt", now - Duration::from_secs(60));
        set_time("text.txt.gz", now);

        let mut conn = Conn::open(s.port);
        conn.send(gzip_get("/text.txt", "1.1").as_bytes());
        let reply = conn.reply(false);
        assert_eq!(reply.last_header("content-encoding"), Some("gzip"));
        assert_eq!(reply.last_header("content-type"), Some("text/plain"));
        assert_eq!(reply.last_header("vary"), Some("Accept-Encoding"));
        let plain = gunzip(&reply.body).unwrap();
        if binary == EXPSERVER {
            assert!(!reply.chunked, "{}", reply.summary());
            assert_eq!(reply.content_length(), Some(gz.len()));
            assert_eq!(plain, marker);
        } else {
            assert!(reply.chunked, "{}", reply.summary());
            assert!(
                plain == s.file("text.txt"),
                "stage 19 compresses the file itself"
            );
        }

        // A sibling older than the file is stale: the file is compressed on the fly instead.
        set_time("text.txt.gz", now - Duration::from_secs(120));
        let reply = fetch(s.port, "/text.txt");
        assert!(reply.chunked, "{}", reply.summary());
        assert!(reply.body == s.file("text.txt"));
        // A sibling that is a symbolic link out of the served folder is never followed there.
        let outside = s.layout.root().join("secret.txt.gz");
        fs::write(&outside, &gz).unwrap();
        fs::remove_file(public.join("text.txt.gz")).unwrap();
        std::os::unix::fs::symlink(&outside, public.join("text.txt.gz")).unwrap();
        let reply = fetch(s.port, "/text.txt");
        assert!(reply.chunked, "{}", reply.summary());
        assert!(reply.body == s.file("text.txt"));
        // A client that refuses gzip never gets the sibling.
        let mut conn = Conn::open(s.port);
        conn.send(b"GET /text.txt HTTP/1.1\r\nHost: a\r\n\r\n");
        let reply = conn.reply(false);
        assert_eq!(reply.last_header("content-encoding"), None);
        assert!(reply.body == s.file("text.txt"));
    }
}
