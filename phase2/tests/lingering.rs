//! A lingering close after an early error (RFC 9112 §9.6; issue 11, item 5).
//!
//! A client that sends a large body (or an endless head) gets its error answer before the server
//! has read what it sends. If the server then simply closed, the kernel would see unread bytes
//! and answer with a reset (RST) instead of an orderly end of stream: the client's next write
//! fails, its read after the answer fails with ECONNRESET, and on many systems the reset also
//! throws away the answer the client had not read yet. `expserver` instead ends its side with
//! a FIN once the answer is out, reads and drops what the client still sends, and closes when
//! the client finishes or has been quiet for phase 1's drain limit (5 s).
//!
//! Each test keeps writing in a thread while it reads, as a real uploader does, and checks that
//! the client reads the whole error head, can go on writing without a reset after it, sees an
//! orderly end of stream (not a reset), and that the server gives back every descriptor.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::*;

const EXPSERVER: &str = env!("CARGO_BIN_EXE_expserver");

/// How long the server keeps draining a client that has gone quiet (phase 1's `DRAIN_IDLE`).
const DRAIN_IDLE: Duration = Duration::from_secs(5);

/// Descriptors the server may hold above its baseline once clients have left (as in
/// `hostile.rs`: the baseline itself varies by one between runs).
const FD_SLACK: usize = 2;

/// How long the client goes on writing after it has read the error head.
const WRITE_AFTER_HEAD: Duration = Duration::from_millis(500);

/// `expserver` serving `public/` with its file route on a fresh port (keep-alive on).
fn file_server(layout: &Layout) -> (Server, u16) {
    let port = free_port();
    let json = format!(
        r#"{{"servers": [{{"listeners": [{{"host": "127.0.0.1", "port": {port}}}],
            "routes": [{{"req_path": "/", "type": "file_serve", "dir_path": "../public"}}]}}]}}"#
    );
    let config = layout.write_config(&json);
    let server = start_server(EXPSERVER, &[config.to_str().unwrap()], layout, &[port]);
    (server, port)
}

/// The server's open descriptors.
fn fds(server: &Server) -> usize {
    std::fs::read_dir(format!("/proc/{}/fd", server.pid()))
        .map(|dir| dir.count())
        .unwrap_or(0)
}

/// Polls the descriptors until they are back near `baseline` (or `limit` passes).
fn settle(server: &Server, baseline: usize, limit: Duration) -> usize {
    let deadline = Instant::now() + limit;
    loop {
        let now = fds(server);
        if now <= baseline + FD_SLACK || Instant::now() >= deadline {
            return now;
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// Polls until the server holds no more than `baseline` descriptors; how long that took, or
/// `None` if it still holds more after `limit`.
fn wait_back(server: &Server, baseline: usize, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < limit {
        if fds(server) <= baseline {
            return Some(started.elapsed());
        }
        thread::sleep(Duration::from_millis(20));
    }
    None
}

/// What the writing thread saw.
#[derive(Debug, Default)]
struct Written {
    bytes: u64,
    /// The first write error, if any (a reset shows up here as EPIPE or ECONNRESET).
    error: Option<ErrorKind>,
}

/// Writes `head`, then filler bytes (at most `limit` in all) until `stop` is set or a write
/// fails.
fn uploader(
    mut stream: TcpStream,
    head: Vec<u8>,
    limit: u64,
    stop: Arc<AtomicBool>,
) -> thread::JoinHandle<Written> {
    thread::spawn(move || {
        let mut written = Written::default();
        let chunk = vec![b'a'; 64 * 1024];
        if let Err(e) = stream.write_all(&head) {
            written.error = Some(e.kind());
            return written;
        }
        while !stop.load(Ordering::Relaxed) && written.bytes < limit {
            let n = chunk.len().min((limit - written.bytes) as usize);
            match stream.write(&chunk[..n]) {
                Ok(n) => written.bytes += n as u64,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    written.error = Some(e.kind());
                    break;
                }
            }
        }
        written
    })
}

/// Reads until the end of a response head; the head, or why it could not be read.
fn read_head(stream: &mut TcpStream) -> Result<Vec<u8>, String> {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) => return Err(format!("end of stream after {} bytes", head.len())),
            Ok(n) => head.extend_from_slice(&buf[..n]),
            Err(e) => return Err(format!("{e} after {} bytes", head.len())),
        }
    }
    Ok(head)
}

/// Reads (and drops) until the server's end of stream (its FIN): how long that took, or the
/// error (a reset) that came instead.
fn read_to_end(stream: &mut TcpStream, limit: Duration) -> Result<Duration, String> {
    let started = Instant::now();
    stream.set_read_timeout(Some(limit)).unwrap();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return Ok(started.elapsed()),
            Ok(_) => {}
            Err(e) => return Err(format!("{e} after {:?}", started.elapsed())),
        }
    }
}

/// How the client ends after its error answer.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Ending {
    /// It ends its own input (shutdown): the server closes at once.
    HalfClose,
    /// It stops writing but keeps the connection: the server closes after `DRAIN_IDLE`.
    FallSilent,
}

/// One uploader against one early error: the figures the tests assert on and print.
fn upload_against_error(head: &[u8], body_limit: u64, status: &str, ending: Ending) {
    let layout = Layout::new();
    let (server, port) = file_server(&layout);
    let baseline = fds(&server);
    let mut stream = connect(port);
    let stop = Arc::new(AtomicBool::new(false));
    let writer = uploader(
        stream.try_clone().unwrap(),
        head.to_vec(),
        body_limit,
        stop.clone(),
    );
    let started = Instant::now();
    let got = read_head(&mut stream);
    let head_after = started.elapsed();
    // The body keeps coming for a while after the answer, as from a client that reads and
    // writes on different threads; a server that drains takes it without complaint.
    if got.is_ok() {
        thread::sleep(WRITE_AFTER_HEAD);
    }
    stop.store(true, Ordering::Relaxed);
    let written = writer.join().unwrap();
    let stopped = Instant::now();
    let during = fds(&server);
    if ending == Ending::HalfClose {
        let _ = stream.shutdown(Shutdown::Write);
    }
    // Our side ends with an orderly end of stream right after the answer (not a reset).
    let ended = read_to_end(&mut stream, TIMEOUT);
    // The client has not closed its socket: the server lets go of the connection by itself, at
    // once after a half-close, or after the quiet spell.
    let released = wait_back(&server, baseline, DRAIN_IDLE + TIMEOUT).map(|_| stopped.elapsed());
    drop(stream);
    let after = settle(&server, baseline, Duration::from_secs(5));
    eprintln!(
        "{status} ({ending:?}): head {:?} after {head_after:?}; client wrote {} bytes, error \
         {:?}; end of stream {ended:?}; server closed {released:?} after the client stopped; \
         fds {baseline} -> {during} -> {after}",
        got.as_ref()
            .map(|h| String::from_utf8_lossy(&h[..h.len().min(40)]).into_owned()),
        written.bytes,
        written.error,
    );
    let head = got.unwrap_or_else(|e| panic!("no {status} head: {e}"));
    assert!(
        head.starts_with(format!("HTTP/1.1 {status}").as_bytes()),
        "{}",
        String::from_utf8_lossy(&head)
    );
    assert_eq!(
        written.error, None,
        "the client's writes after the answer failed (the server reset the connection)"
    );
    ended.unwrap_or_else(|e| panic!("no orderly end of stream: {e}"));
    assert!(
        during > baseline,
        "the connection was gone before its client stopped sending ({during} descriptors)"
    );
    let took = released.unwrap_or_else(|| panic!("the server still holds the connection"));
    match ending {
        Ending::HalfClose => assert!(
            took < Duration::from_secs(2),
            "the server closed {took:?} after the client ended its input"
        ),
        // The quiet spell counts from the last byte the server read, a little before `stopped`.
        Ending::FallSilent => assert!(
            took >= DRAIN_IDLE - Duration::from_secs(1)
                && took < DRAIN_IDLE + Duration::from_secs(3),
            "the server closed {took:?} after the client fell silent (limit {DRAIN_IDLE:?})"
        ),
    }
    assert!(
        after <= baseline + FD_SLACK,
        "{after} descriptors stay, baseline {baseline}"
    );
}

/// A `POST` of a declared 1 GB body to a file route: 405 before a byte of the body is read. The
/// client is still sending when it stops (it cannot write 1 GB in the time it is given).
#[test]
fn a_405_before_a_large_body_is_read_is_followed_by_a_lingering_close() {
    let limit = 1_000_000_000;
    let head = format!("POST /sample.txt HTTP/1.1\r\nHost: x\r\nContent-Length: {limit}\r\n\r\n");
    upload_against_error(head.as_bytes(), limit, "405", Ending::HalfClose);
}

/// The same, from a client that stops sending but does not close: the server lets go of it
/// once it has been quiet for the drain limit.
#[test]
fn a_client_that_falls_silent_after_its_405_is_closed_after_the_drain_limit() {
    let limit = 1_000_000_000;
    let head = format!("POST /sample.txt HTTP/1.1\r\nHost: x\r\nContent-Length: {limit}\r\n\r\n");
    upload_against_error(head.as_bytes(), limit, "405", Ending::FallSilent);
}

/// A head that never ends (one header line growing past the 100 000-byte limit): 431 while the
/// client is still sending it.
#[test]
fn a_431_on_an_endless_head_is_followed_by_a_lingering_close() {
    let head = b"GET /sample.txt HTTP/1.1\r\nHost: x\r\nX-Filler: ".to_vec();
    upload_against_error(&head, 1_000_000_000, "431", Ending::HalfClose);
}

/// Several uploaders at once, each against a 405: every one reads its answer, and the server
/// gives back every descriptor.
#[test]
fn many_uploaders_all_get_their_answer() {
    let layout = Layout::new();
    let (server, port) = file_server(&layout);
    let baseline = fds(&server);
    let limit: u64 = 20_000_000;
    let head = format!("POST /cat.jpg HTTP/1.1\r\nHost: x\r\nContent-Length: {limit}\r\n\r\n");
    let failures = Arc::new(Mutex::new(Vec::new()));
    let clients: Vec<_> = (0..8)
        .map(|_| {
            let head = head.clone();
            let failures = failures.clone();
            thread::spawn(move || {
                let mut stream = connect(port);
                let stop = Arc::new(AtomicBool::new(false));
                let writer = uploader(
                    stream.try_clone().unwrap(),
                    head.into_bytes(),
                    limit,
                    stop.clone(),
                );
                let got = read_head(&mut stream);
                stop.store(true, Ordering::Relaxed);
                let written = writer.join().unwrap();
                let _ = stream.shutdown(Shutdown::Write);
                let ended = read_to_end(&mut stream, TIMEOUT);
                let ok = got.as_ref().is_ok_and(|h| h.starts_with(b"HTTP/1.1 405"))
                    && written.error.is_none()
                    && ended.is_ok();
                if !ok {
                    failures.lock().unwrap().push(format!(
                        "head {:?}, write error {:?}, end {ended:?}",
                        got.map(|h| String::from_utf8_lossy(&h[..h.len().min(20)]).into_owned()),
                        written.error
                    ));
                }
            })
        })
        .collect();
    for client in clients {
        client.join().unwrap();
    }
    let after = settle(&server, baseline, Duration::from_secs(5));
    let failures = failures.lock().unwrap();
    eprintln!(
        "8 uploaders against 405: {} failed; fds {baseline} -> {after}",
        failures.len()
    );
    assert!(failures.is_empty(), "{failures:#?}");
    assert!(
        after <= baseline + FD_SLACK,
        "{after} descriptors stay, baseline {baseline}"
    );
}

/// A client that writes its whole body before it reads (as a simple uploader does): without the
/// lingering close its writes meet a reset and it never reads the answer at all.
#[test]
fn a_client_that_writes_its_whole_body_before_reading_still_gets_its_answer() {
    let layout = Layout::new();
    let (server, port) = file_server(&layout);
    let baseline = fds(&server);
    let limit: usize = 50_000_000;
    let mut stream = connect(port);
    let head = format!("POST /sample.txt HTTP/1.1\r\nHost: x\r\nContent-Length: {limit}\r\n\r\n");
    let sent = stream.write_all(head.as_bytes()).and_then(|()| {
        let chunk = vec![b'a'; 64 * 1024];
        let mut left = limit;
        while left > 0 {
            let n = left.min(chunk.len());
            stream.write_all(&chunk[..n])?;
            left -= n;
        }
        Ok(())
    });
    let got = sent.is_ok().then(|| read_head(&mut stream));
    drop(stream);
    let after = settle(&server, baseline, Duration::from_secs(5));
    let status = got.as_ref().map(|h| {
        h.as_ref()
            .map(|h| String::from_utf8_lossy(&h[..h.len().min(30)]).into_owned())
    });
    eprintln!("write-then-read client: sent {sent:?}, head {status:?}; fds {baseline} -> {after}");
    sent.unwrap_or_else(|e| panic!("the body could not be sent: {e}"));
    let head = got
        .unwrap_or_else(|| unreachable!())
        .unwrap_or_else(|e| panic!("no answer: {e}"));
    assert!(
        head.starts_with(b"HTTP/1.1 405"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    assert!(
        after <= baseline + FD_SLACK,
        "{after} descriptors stay, baseline {baseline}"
    );
}
