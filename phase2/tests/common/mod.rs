//! Helpers for the end-to-end tests: free ports, a grader-like folder layout, starting a server
//! binary and waiting until it listens, and a tiny HTTP client with timeouts everywhere.

#![allow(dead_code)]

use std::collections::HashMap;
use std::fs;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long any single network wait may take before the test fails instead of hanging.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// A port nothing listens on right now (bind port 0, read it, let it go).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The grader's layout in a temporary folder: `<tmp>/app` is the working directory and
/// `<tmp>/public` holds the sample files (copied from the repository's `public/`) plus a few
/// extras for the tests.
pub struct Layout {
    pub dir: tempfile::TempDir,
}

impl Layout {
    pub fn new() -> Layout {
        let dir = tempfile::tempdir().unwrap();
        let app = dir.path().join("app");
        let public = dir.path().join("public");
        fs::create_dir_all(&app).unwrap();
        copy_dir(&repo_public(), &public);
        // Something outside the served folder, to try to reach.
        fs::write(dir.path().join("secret.txt"), b"top secret").unwrap();
        Layout { dir }
    }

    pub fn app(&self) -> PathBuf {
        self.dir.path().join("app")
    }

    pub fn public(&self) -> PathBuf {
        self.dir.path().join("public")
    }

    /// Write a config file into the layout and return its path.
    pub fn write_config(&self, json: &str) -> PathBuf {
        let path = self.dir.path().join("config.json");
        fs::write(&path, json).unwrap();
        path
    }

    pub fn log(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }
}

pub fn repo_public() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../public")
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// A running server binary; killed when dropped.
pub struct Server {
    child: Child,
    log: PathBuf,
}

impl Server {
    /// Start `binary` with `args` in `layout.app()` and wait until every port in `ports` listens.
    pub fn start(binary: &str, args: &[&str], layout: &Layout, ports: &[u16]) -> Server {
        let log = layout.log();
        let out = fs::File::create(&log).unwrap();
        let child = Command::new(binary)
            .args(args)
            .current_dir(layout.app())
            .stdout(Stdio::from(out.try_clone().unwrap()))
            .stderr(Stdio::from(out))
            .spawn()
            .unwrap();
        let mut server = Server { child, log };
        let deadline = Instant::now() + TIMEOUT;
        while !ports.iter().all(|&p| is_listening(p)) {
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("{binary} exited with {status}:\n{}", server.log_text());
            }
            assert!(
                Instant::now() < deadline,
                "{binary} never listened:\n{}",
                server.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }

    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Still running? (A crash would fail the next grader check.)
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether a TCP socket listens on `port`, from `/proc/net/tcp{,6}` (no connection needed).
pub fn is_listening(port: u16) -> bool {
    let wanted = format!(":{port:04X}");
    ["/proc/net/tcp", "/proc/net/tcp6"].iter().any(|file| {
        fs::read_to_string(file)
            .unwrap_or_default()
            .lines()
            .skip(1)
            .any(|line| {
                let fields: Vec<&str> = line.split_whitespace().collect();
                fields.len() > 3 && fields[1].ends_with(&wanted) && fields[3] == "0A"
            })
    })
}

/// A connection with read and write timeouts.
pub fn connect(port: u16) -> TcpStream {
    let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(TIMEOUT)).unwrap();
    stream
}

/// Send raw bytes and read everything until the server closes.
pub fn exchange(port: u16, request: &[u8]) -> Vec<u8> {
    let mut stream = connect(port);
    stream.write_all(request).unwrap();
    read_to_close(&mut stream)
}

/// Like [`exchange`], but half-close after sending (as `printf ... | nc -N` does).
pub fn exchange_half_closed(port: u16, request: &[u8]) -> Vec<u8> {
    let mut stream = connect(port);
    stream.write_all(request).unwrap();
    stream.shutdown(Shutdown::Write).unwrap();
    read_to_close(&mut stream)
}

pub fn read_to_close(stream: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return out,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return out,
            Err(e) => panic!("reading the response: {e} (got {} bytes so far)", out.len()),
        }
    }
}

/// A parsed response.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub reason: String,
    /// Lower-cased names; the last of duplicates wins (as the grader's parser does); see
    /// `count` for duplicates.
    pub headers: HashMap<String, String>,
    pub names: Vec<String>,
    pub head: String,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }

    pub fn count(&self, name: &str) -> usize {
        self.names
            .iter()
            .filter(|n| n.eq_ignore_ascii_case(name))
            .count()
    }
}

/// Parse a response strictly: CRLF line endings everywhere in the head.
pub fn parse_reply(bytes: &[u8]) -> Reply {
    let end = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no end of head in {:?}", String::from_utf8_lossy(bytes)));
    let head = String::from_utf8(bytes[..end].to_vec()).unwrap();
    let body = bytes[end + 4..].to_vec();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    assert!(
        !head.replace("\r\n", "").contains('\n'),
        "bare LF in head: {head:?}"
    );
    let mut parts = status_line.splitn(3, ' ');
    assert_eq!(parts.next(), Some("HTTP/1.1"), "{status_line}");
    let status = parts.next().unwrap().parse().unwrap();
    let reason = parts.next().unwrap_or("").to_string();
    let mut headers = HashMap::new();
    let mut names = Vec::new();
    for line in lines {
        let (name, value) = line
            .split_once(':')
            .unwrap_or_else(|| panic!("bad header {line:?}"));
        names.push(name.to_string());
        headers.insert(name.to_ascii_lowercase(), value.trim().to_string());
    }
    Reply {
        status,
        reason,
        headers,
        names,
        head,
        body,
    }
}

/// `GET path` the way the grader's raw client does for stages 14-15.
pub fn grader_get(path: &str, accept: &str) -> Vec<u8> {
    format!(
        "GET {path} HTTP/1.1\r\nHost: localhost:8001\r\nUser-Agent: TestClient/1.0\r\nAccept: {accept}\r\nConnection: close\r\n\r\n"
    )
    .into_bytes()
}

/// A plain `GET` with the headers Node's fetch sends (lower-case names).
pub fn fetch_get(path: &str) -> Vec<u8> {
    format!(
        "GET {path} HTTP/1.1\r\nhost: localhost\r\nconnection: keep-alive\r\naccept: */*\r\naccept-language: *\r\nsec-fetch-mode: cors\r\nuser-agent: node\r\naccept-encoding: gzip, deflate\r\n\r\n"
    )
    .into_bytes()
}

pub fn get(port: u16, path: &str) -> Reply {
    parse_reply(&exchange(port, &fetch_get(path)))
}

/// Like [`get`], but the response is framed by its `Content-Length` as Node's `fetch` (the
/// grader's client from stage 16) frames it, so it works whether the server then closes the
/// connection (the course stages) or keeps it (`expserver`).
pub fn fetch(port: u16, path: &str) -> Reply {
    let mut conn = Conn::open(port);
    conn.send(&fetch_get(path));
    conn.reply(false)
}

/// A client connection that reads one response at a time, framed by `Content-Length`, keeping
/// whatever arrives beyond it for the next response (pipelining).
pub struct Conn {
    pub stream: TcpStream,
    pending: Vec<u8>,
}

impl Conn {
    pub fn open(port: u16) -> Conn {
        Conn {
            stream: connect(port),
            pending: Vec::new(),
        }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    /// Read more bytes into `pending`; false on the close.
    fn fill(&mut self) -> bool {
        let mut buf = [0u8; 65536];
        match self.stream.read(&mut buf) {
            Ok(0) => false,
            Ok(n) => {
                self.pending.extend_from_slice(&buf[..n]);
                true
            }
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => false,
            Err(e) => panic!(
                "reading a response: {e} (have {:?})",
                String::from_utf8_lossy(&self.pending)
            ),
        }
    }

    /// The next response: its head, then `Content-Length` body bytes (none when `to_head`, the
    /// answer to a HEAD request).
    pub fn reply(&mut self, to_head: bool) -> Reply {
        let end = loop {
            if let Some(i) = self.pending.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            assert!(
                self.fill(),
                "closed before a complete head: {:?}",
                String::from_utf8_lossy(&self.pending)
            );
        };
        let head = parse_reply(&self.pending[..end]);
        let length: usize = match (to_head, head.header("content-length")) {
            (true, _) => 0,
            (false, Some(length)) => length.parse().unwrap(),
            (false, None) => panic!("no Content-Length in {:?}", head.head),
        };
        while self.pending.len() < end + length {
            assert!(
                self.fill(),
                "closed after {} of {length} body bytes",
                self.pending.len() - end
            );
        }
        let rest = self.pending.split_off(end + length);
        let reply = parse_reply(&self.pending);
        self.pending = rest;
        reply
    }

    /// The server closes the connection, with no byte after the last response.
    pub fn expect_closed(&mut self) {
        while self.fill() {}
        assert!(
            self.pending.is_empty(),
            "unexpected bytes before the close: {:?}",
            String::from_utf8_lossy(&self.pending)
        );
    }
}

/// What a fake upstream does with each connection.
#[derive(Clone)]
pub enum UpstreamMode {
    /// Read the request, send these bytes, close.
    Respond(Vec<u8>),
    /// Read the request and close without a byte.
    CloseSilently,
}

/// A fake upstream server on a free port, recording every request it reads.
pub struct FakeUpstream {
    pub port: u16,
    pub received: std::sync::Arc<std::sync::Mutex<Vec<Vec<u8>>>>,
}

impl FakeUpstream {
    pub fn start(mode: UpstreamMode) -> FakeUpstream {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let received = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = received.clone();
        // The thread ends with the test process.
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let _ = stream.set_read_timeout(Some(TIMEOUT));
                let request = read_request(&mut stream);
                log.lock().unwrap().push(request);
                if let UpstreamMode::Respond(bytes) = &mode {
                    let _ = stream.write_all(bytes);
                }
                let _ = stream.shutdown(Shutdown::Both);
            }
        });
        FakeUpstream { port, received }
    }

    pub fn requests(&self) -> Vec<Vec<u8>> {
        self.received.lock().unwrap().clone()
    }
}

/// Read one request head and as many body bytes as its Content-Length says.
fn read_request(stream: &mut TcpStream) -> Vec<u8> {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&data[..end]).to_ascii_lowercase();
            let body_len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if data.len() >= end + 4 + body_len {
                return data;
            }
        }
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return data,
            Ok(n) => data.extend_from_slice(&buf[..n]),
        }
    }
}
