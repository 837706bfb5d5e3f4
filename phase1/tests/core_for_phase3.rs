//! What the core gives phases 3 and 4, through the public API: exact-length and zero-copy file
//! bodies (and what happens when the file changes size under them), any reader as a body, the
//! reset, the unsent-byte count, the counters, and stopping a core from another thread.

use std::fs::OpenOptions;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use phase1::{BodySource, ClientInfo, Core, PortRole, SessionCtx, SessionHandler, StageProfile};

fn serve<H: SessionHandler + 'static>(make: impl Fn() -> H + 'static) -> (Core, SocketAddr) {
    let mut core = Core::new(StageProfile::PIPES).unwrap();
    let role = PortRole::session(move |_: &ClientInfo| Box::new(make()) as Box<dyn SessionHandler>);
    let id = core.listen("127.0.0.1:0".parse().unwrap(), role).unwrap();
    let addr = core.listener_addr(id).unwrap();
    (core, addr)
}

/// Turn the core until `done` holds; fail after 10 s.
fn drive(core: &mut Core, mut done: impl FnMut(&mut Core) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done(core) {
        assert!(Instant::now() < deadline, "timed out");
        core.turn(Some(Duration::from_millis(2)));
    }
}

/// Read what is there without blocking; `true` once the peer closed (or reset).
fn poll(stream: &mut TcpStream, got: &mut Vec<u8>) -> Result<bool, ErrorKind> {
    let mut buf = vec![0u8; 1 << 16];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return Ok(true),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(false),
            Err(e) => return Err(e.kind()),
        }
    }
}

fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_nonblocking(true).unwrap();
    stream
}

/// Sends the body it was made with, then says "done" or "failed" and closes.
struct Body {
    source: std::cell::RefCell<Option<BodySource>>,
}

impl SessionHandler for Body {
    fn on_start(&mut self, ctx: &mut SessionCtx<'_>) {
        let source = self.source.borrow_mut().take().unwrap();
        ctx.send_source(source).unwrap();
    }
    fn on_client_data(&mut self, _ctx: &mut SessionCtx<'_>, data: &[u8]) -> usize {
        data.len()
    }
    fn on_file_done(&mut self, ctx: &mut SessionCtx<'_>) {
        ctx.send("|done");
        ctx.close();
    }
}

const LEN: usize = 3_000_000;

fn big_file() -> (tempfile::NamedTempFile, Vec<u8>) {
    let content: Vec<u8> = (0..LEN).map(|i| (i % 251) as u8).collect();
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(&content).unwrap();
    (file, content)
}

/// Serve `source` to one client; the client reads slowly for the first 64 KiB while `meddle`
/// changes the file; returns what it received and whether the core closed cleanly.
fn transfer(source: BodySource, meddle: impl FnOnce()) -> Result<Vec<u8>, ErrorKind> {
    let cell = std::rc::Rc::new(std::cell::RefCell::new(Some(source)));
    let (mut core, addr) = serve(move || Body {
        source: std::cell::RefCell::new(cell.borrow_mut().take()),
    });
    let mut client = connect(addr);
    let mut got = Vec::new();
    // Let the transfer start, then change the file while most of it is still unsent.
    drive(&mut core, |_| {
        poll(&mut client, &mut got).unwrap();
        !got.is_empty()
    });
    meddle();
    let mut result = Ok(());
    drive(&mut core, |_| match poll(&mut client, &mut got) {
        Ok(done) => done,
        Err(kind) => {
            result = Err(kind);
            true
        }
    });
    drive(&mut core, |core| core.counts().1 == 0);
    result.map(|()| got)
}

#[test]
fn exact_length_body_ignores_bytes_appended_meanwhile() {
    for zero_copy in [false, true] {
        let (file, content) = big_file();
        let open = file.reopen().unwrap();
        let source = if zero_copy {
            BodySource::ZeroCopy {
                file: open,
                len: LEN as u64,
            }
        } else {
            BodySource::FileExact {
                file: open,
                len: LEN as u64,
            }
        };
        let path = file.path().to_path_buf();
        let got = transfer(source, || {
            let mut append = OpenOptions::new().append(true).open(&path).unwrap();
            append.write_all(b"HTTP/1.1 200 OK\r\nforged").unwrap();
        })
        .unwrap();
        assert_eq!(got.len(), LEN + 5, "zero copy: {zero_copy}");
        assert!(got[..LEN] == content[..], "zero copy: {zero_copy}");
        assert_eq!(&got[LEN..], b"|done");
    }
}

#[test]
fn exact_length_body_from_a_file_that_shrank_ends_the_connection_early() {
    for zero_copy in [false, true] {
        let (file, _) = big_file();
        let open = file.reopen().unwrap();
        let source = if zero_copy {
            BodySource::ZeroCopy {
                file: open,
                len: LEN as u64,
            }
        } else {
            BodySource::FileExact {
                file: open,
                len: LEN as u64,
            }
        };
        let path = file.path().to_path_buf();
        let got = transfer(source, || {
            OpenOptions::new()
                .write(true)
                .open(&path)
                .unwrap()
                .set_len(1000)
                .unwrap();
        });
        // Less than announced, never the "|done" a finished body would be followed by.
        match got {
            Ok(bytes) => {
                assert!(bytes.len() < LEN, "zero copy: {zero_copy}");
                assert!(!bytes.ends_with(b"|done"), "zero copy: {zero_copy}");
            }
            Err(kind) => assert_eq!(kind, ErrorKind::ConnectionReset),
        }
    }
}

#[test]
fn any_reader_is_a_body() {
    let reader = std::io::Cursor::new(vec![b'z'; 250_000]);
    let got = transfer(BodySource::Stream(Box::new(reader)), || {}).unwrap();
    assert_eq!(got.len(), 250_005);
    assert!(got.ends_with(b"z|done"));
}

/// Queues a lot for a client that never reads, reports what is unsent, then resets.
struct Stalled {
    report: std::rc::Rc<std::cell::Cell<u64>>,
}

impl SessionHandler for Stalled {
    fn on_start(&mut self, ctx: &mut SessionCtx<'_>) {
        ctx.send(vec![b'x'; 8_000_000]);
        ctx.set_timer(
            phase1::TimerKind::Send,
            Instant::now() + Duration::from_millis(200),
        );
    }
    fn on_client_data(&mut self, _ctx: &mut SessionCtx<'_>, data: &[u8]) -> usize {
        data.len()
    }
    fn on_timer(&mut self, ctx: &mut SessionCtx<'_>, _kind: phase1::TimerKind) {
        self.report.set(ctx.client_unsent());
        ctx.reset();
    }
}

#[test]
fn a_client_that_stops_reading_can_be_reset_and_everything_is_freed() {
    let report = std::rc::Rc::new(std::cell::Cell::new(0));
    let seen = report.clone();
    let (mut core, addr) = serve(move || Stalled {
        report: seen.clone(),
    });
    let mut client = connect(addr);
    drive(&mut core, |_| report.get() > 0);
    // 8 MB queued, a few MB at most taken by the two kernels' buffers.
    assert!(report.get() > 1_000_000, "unsent: {}", report.get());
    drive(&mut core, |core| core.counts() == (1, 0, 0, 0, 0));
    let mut got = Vec::new();
    let outcome = loop {
        match poll(&mut client, &mut got) {
            Ok(true) => break Ok(()),
            Ok(false) => std::thread::sleep(Duration::from_millis(5)),
            Err(kind) => break Err(kind),
        }
    };
    assert_eq!(
        outcome,
        Err(ErrorKind::ConnectionReset),
        "an RST, not an end of stream"
    );
    let counters = core.counters();
    assert_eq!(counters.connections_accepted, 1);
    assert_eq!(counters.connections_closed, 1);
    assert!(counters.bytes_sent > 0);
}

#[test]
fn a_stop_handle_stops_a_core_running_in_another_thread() {
    let (tx, rx) = std::sync::mpsc::channel();
    let worker = std::thread::spawn(move || {
        let (mut core, addr) = serve(|| Body {
            source: std::cell::RefCell::new(None),
        });
        tx.send((core.stop_handle(), addr)).unwrap();
        core.run()
    });
    let (stop, _addr) = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    let asked = Instant::now();
    stop.stop();
    worker.join().unwrap().unwrap();
    assert!(asked.elapsed() < Duration::from_secs(1));
    assert!(stop.is_requested());
}
