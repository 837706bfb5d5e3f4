//! The session extension point, driven through the public API the way phase 2 uses it: a core
//! in this test's thread, turned step by step, real sockets on free ports.

use std::cell::RefCell;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::rc::Rc;
use std::time::{Duration, Instant};

use phase1::{ClientInfo, Core, PortRole, SessionCtx, SessionHandler, StageProfile, TimerKind};

/// A non-blocking client that collects whatever arrives.
struct Client {
    stream: TcpStream,
    got: Vec<u8>,
    eof: bool,
}

impl Client {
    fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).unwrap();
        stream.set_nonblocking(true).unwrap();
        Client {
            stream,
            got: Vec::new(),
            eof: false,
        }
    }

    fn poll(&mut self) {
        let mut buf = [0u8; 65536];
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => {
                    self.eof = true;
                    return;
                }
                Ok(n) => self.got.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(_) => {
                    self.eof = true;
                    return;
                }
            }
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        self.stream.set_nonblocking(false).unwrap();
        self.stream.write_all(bytes).unwrap();
        self.stream.set_nonblocking(true).unwrap();
    }
}

/// Turn the core until `done` holds; fail after 5 s.
fn drive(core: &mut Core, mut done: impl FnMut(&Core) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !done(core) {
        assert!(Instant::now() < deadline, "timed out");
        core.turn(Some(Duration::from_millis(5)));
    }
}

fn serve<H: SessionHandler + 'static>(make: impl Fn() -> H + 'static) -> (Core, SocketAddr) {
    let mut core = Core::new(StageProfile::PIPES).unwrap();
    let role = PortRole::session(move |_: &ClientInfo| Box::new(make()) as Box<dyn SessionHandler>);
    let id = core.listen("127.0.0.1:0".parse().unwrap(), role).unwrap();
    let addr = core.listener_addr(id).unwrap();
    (core, addr)
}

fn head_end(data: &[u8]) -> Option<usize> {
    data.windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| i + 4)
}

/// Answers a complete head with "ok", recording the size of every slice it was offered.
struct Hello {
    seen: Rc<RefCell<Vec<usize>>>,
}

impl SessionHandler for Hello {
    fn on_client_data(&mut self, ctx: &mut SessionCtx<'_>, data: &[u8]) -> usize {
        self.seen.borrow_mut().push(data.len());
        let Some(end) = head_end(data) else {
            return 0;
        };
        ctx.send("ok");
        ctx.close();
        end
    }
}

#[test]
fn head_fed_one_byte_at_a_time_is_offered_whole() {
    let seen = Rc::new(RefCell::new(Vec::new()));
    let record = seen.clone();
    let (mut core, addr) = serve(move || Hello {
        seen: record.clone(),
    });
    let mut client = Client::connect(addr);
    let request = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    for (i, byte) in request.iter().enumerate() {
        client.send(&[*byte]);
        drive(&mut core, |_| seen.borrow().last() == Some(&(i + 1)));
    }
    drive(&mut core, |_| {
        client.poll();
        client.eof
    });
    assert_eq!(client.got, b"ok");
    let expected: Vec<usize> = (1..=request.len()).collect();
    assert_eq!(
        *seen.borrow(),
        expected,
        "each call sees every unconsumed byte"
    );
    drive(&mut core, |core| {
        core.counts().4 == 0 && core.counts().1 == 0
    });
}

/// Consumes one line per call and answers it: checks it is called again while it progresses.
struct Lines;

impl SessionHandler for Lines {
    fn on_client_data(&mut self, ctx: &mut SessionCtx<'_>, data: &[u8]) -> usize {
        match data.iter().position(|b| *b == b'\n') {
            Some(i) => {
                ctx.send(format!("{}!", String::from_utf8_lossy(&data[..i])));
                i + 1
            }
            None => 0,
        }
    }

    fn on_client_eof(&mut self, ctx: &mut SessionCtx<'_>, unconsumed: &[u8]) {
        ctx.send(format!("eof:{}", String::from_utf8_lossy(unconsumed)));
        ctx.close();
    }
}

#[test]
fn partly_consumed_input_is_offered_again_and_eof_gets_the_rest() {
    let (mut core, addr) = serve(|| Lines);
    let mut client = Client::connect(addr);
    client.send(b"a\nbb\ncc");
    client.stream.shutdown(std::net::Shutdown::Write).unwrap();
    drive(&mut core, |_| {
        client.poll();
        client.eof
    });
    assert_eq!(client.got, b"a!bb!eof:cc");
}

/// Proxies once the head is complete, rewriting it; answers 502 if the upstream fails.
struct Proxy {
    upstream: String,
}

impl SessionHandler for Proxy {
    fn on_client_data(&mut self, ctx: &mut SessionCtx<'_>, data: &[u8]) -> usize {
        let Some(end) = head_end(data) else {
            return 0;
        };
        if ctx.proxy(&self.upstream, "REWRITTEN\r\n\r\n").is_err() {
            ctx.send("HTTP/1.1 502 Bad Gateway\r\n\r\n");
            ctx.close();
        }
        end // body bytes after the head stay in the pipe and are relayed raw
    }

    fn on_upstream_failed(&mut self, ctx: &mut SessionCtx<'_>) {
        ctx.send("HTTP/1.1 502 Bad Gateway\r\n\r\n");
        ctx.close();
    }
}

#[test]
fn proxy_sends_first_bytes_then_relays_raw_both_ways() {
    let upstream = TcpListener::bind("127.0.0.1:0").unwrap();
    upstream.set_nonblocking(true).unwrap();
    let name = format!("localhost:{}", upstream.local_addr().unwrap().port());
    let (mut core, addr) = serve(move || Proxy {
        upstream: name.clone(),
    });
    let mut client = Client::connect(addr);
    client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\nbody1");

    let mut accepted = None;
    drive(&mut core, |_| {
        accepted = upstream.accept().ok().map(|(s, _)| s);
        accepted.is_some()
    });
    let mut up = Client {
        stream: accepted.unwrap(),
        got: Vec::new(),
        eof: false,
    };
    up.stream.set_nonblocking(true).unwrap();
    drive(&mut core, |_| {
        up.poll();
        up.got.len() >= 18
    });
    assert_eq!(up.got, b"REWRITTEN\r\n\r\nbody1");
    client.send(b"+more");
    drive(&mut core, |_| {
        up.poll();
        up.got.ends_with(b"+more")
    });
    up.send(b"RESPONSE");
    drop(up);
    drive(&mut core, |_| {
        client.poll();
        client.eof
    });
    assert_eq!(client.got, b"RESPONSE");
}

#[test]
fn upstream_failing_before_a_byte_lets_the_handler_answer() {
    let closed_port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (mut core, addr) = serve(move || Proxy {
        upstream: format!("127.0.0.1:{closed_port}"),
    });
    let mut client = Client::connect(addr);
    client.send(b"GET / HTTP/1.1\r\n\r\n");
    drive(&mut core, |_| {
        client.poll();
        client.eof
    });
    assert_eq!(client.got, b"HTTP/1.1 502 Bad Gateway\r\n\r\n");
}

/// Tries each upstream in turn, as stage 20's failover does: a failed connect leads to the
/// next one with the same first bytes; the client's body waits for whichever connects.
struct Failover {
    upstreams: Vec<String>,
    next: usize,
    errors: Rc<RefCell<Vec<std::io::ErrorKind>>>,
}

impl Failover {
    fn try_next(&mut self, ctx: &mut SessionCtx<'_>) {
        while let Some(upstream) = self.upstreams.get(self.next) {
            self.next += 1;
            if ctx.proxy(upstream, "HEAD-AGAIN\r\n\r\n").is_ok() {
                assert!(ctx.is_proxying());
                return;
            }
        }
        ctx.send("HTTP/1.1 502 Bad Gateway\r\n\r\n");
        ctx.close();
    }
}

impl SessionHandler for Failover {
    fn on_client_data(&mut self, ctx: &mut SessionCtx<'_>, data: &[u8]) -> usize {
        let Some(end) = head_end(data) else {
            return 0;
        };
        self.try_next(ctx);
        end
    }

    fn on_upstream_connect_failed(&mut self, ctx: &mut SessionCtx<'_>, error: &std::io::Error) {
        assert!(!ctx.upstream_connected());
        self.errors.borrow_mut().push(error.kind());
        self.try_next(ctx);
    }

    fn on_upstream_failed(&mut self, ctx: &mut SessionCtx<'_>) {
        ctx.send("HTTP/1.1 502 Bad Gateway\r\n\r\n");
        ctx.close();
    }
}

#[test]
fn a_failed_connect_lets_the_handler_try_another_upstream_with_the_body_intact() {
    let closed_port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let live = TcpListener::bind("127.0.0.1:0").unwrap();
    live.set_nonblocking(true).unwrap();
    let live_name = format!("127.0.0.1:{}", live.local_addr().unwrap().port());
    let errors = Rc::new(RefCell::new(Vec::new()));
    let seen = errors.clone();
    let (mut core, addr) = serve(move || Failover {
        upstreams: vec![
            format!("127.0.0.1:{closed_port}"),
            format!("127.0.0.1:{closed_port}"),
            live_name.clone(),
        ],
        next: 0,
        errors: seen.clone(),
    });
    let mut client = Client::connect(addr);
    // The body comes with the head, so it is in the client pipe while the dead upstreams fail;
    // the client's end of input comes right after it and must not overtake it.
    client.send(b"POST / HTTP/1.1\r\nContent-Length: 9\r\n\r\nthe-body!");
    client.stream.shutdown(std::net::Shutdown::Write).unwrap();
    let mut accepted = None;
    drive(&mut core, |_| {
        accepted = live.accept().ok().map(|(s, _)| s);
        accepted.is_some()
    });
    let mut up = Client {
        stream: accepted.unwrap(),
        got: Vec::new(),
        eof: false,
    };
    up.stream.set_nonblocking(true).unwrap();
    drive(&mut core, |_| {
        up.poll();
        up.eof
    });
    assert_eq!(
        up.got, b"HEAD-AGAIN\r\n\r\nthe-body!",
        "the body, then the end"
    );
    // On Linux a non-blocking connect to a closed loopback port reports EINPROGRESS, and the
    // refusal comes a moment later through the callback, once per dead upstream.
    assert_eq!(
        *errors.borrow(),
        [ErrorKind::ConnectionRefused, ErrorKind::ConnectionRefused]
    );
    up.send(b"OK");
    drop(up);
    drive(&mut core, |_| {
        client.poll();
        client.eof
    });
    assert_eq!(client.got, b"OK");
}

#[test]
fn every_connect_failing_reaches_the_handler_once_each() {
    let closed_port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let errors = Rc::new(RefCell::new(Vec::new()));
    let seen = errors.clone();
    let (mut core, addr) = serve(move || Failover {
        upstreams: vec![format!("127.0.0.1:{closed_port}"); 2],
        next: 0,
        errors: seen.clone(),
    });
    let mut client = Client::connect(addr);
    client.send(b"GET / HTTP/1.1\r\n\r\n");
    drive(&mut core, |_| {
        client.poll();
        client.eof
    });
    assert_eq!(client.got, b"HTTP/1.1 502 Bad Gateway\r\n\r\n");
    assert!(errors.borrow().len() <= 2, "{:?}", errors.borrow());
    drive(&mut core, |core| core.counts().1 == 0);
}

#[test]
fn unresolvable_upstream_is_an_error_at_once() {
    let (mut core, addr) = serve(|| Proxy {
        upstream: "no-such-host.invalid:80".into(),
    });
    let mut client = Client::connect(addr);
    client.send(b"GET / HTTP/1.1\r\n\r\n");
    drive(&mut core, |_| {
        client.poll();
        client.eof
    });
    assert_eq!(client.got, b"HTTP/1.1 502 Bad Gateway\r\n\r\n");
}

/// Sends a head, then a file.
struct FileServer {
    path: std::path::PathBuf,
}

impl SessionHandler for FileServer {
    fn on_client_data(&mut self, ctx: &mut SessionCtx<'_>, data: &[u8]) -> usize {
        let Some(end) = head_end(data) else {
            return 0;
        };
        ctx.send("HEAD\n");
        ctx.send_file(std::fs::File::open(&self.path).unwrap())
            .unwrap();
        end
    }
}

#[test]
fn a_file_follows_the_head_in_full() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.bin");
    let content: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&path, &content).unwrap();
    let (mut core, addr) = serve(move || FileServer { path: path.clone() });
    let mut client = Client::connect(addr);
    client.send(b"GET /big.bin HTTP/1.1\r\n\r\n");
    drive(&mut core, |_| {
        client.poll();
        client.eof
    });
    assert_eq!(&client.got[..5], b"HEAD\n");
    assert!(client.got[5..] == content[..], "file bytes differ");
}

/// Tells the client who it is, then which of its timers fired, in order.
struct Timed;

impl SessionHandler for Timed {
    fn on_start(&mut self, ctx: &mut SessionCtx<'_>) {
        let info = *ctx.client();
        ctx.send(format!("{} {};", info.listener_port(), info.peer_ip()));
        let now = Instant::now();
        ctx.set_timer(TimerKind::Header, now + Duration::from_millis(60));
        // Cancelled: never fires.
        ctx.set_timer(TimerKind::KeepAlive, now + Duration::from_millis(5));
        ctx.cancel_timer(TimerKind::KeepAlive);
        // Pushed back: fires once, at the later time.
        ctx.set_timer(TimerKind::Send, now + Duration::from_millis(5));
        ctx.set_timer(TimerKind::Send, now + Duration::from_millis(30));
        ctx.set_timer(TimerKind::Body, now + Duration::from_millis(10));
    }

    fn on_client_data(&mut self, _ctx: &mut SessionCtx<'_>, _data: &[u8]) -> usize {
        0
    }

    fn on_timer(&mut self, ctx: &mut SessionCtx<'_>, kind: TimerKind) {
        assert_eq!(ctx.timer(kind), None, "a fired timer is disarmed");
        ctx.send(format!("{kind:?};"));
        if kind == TimerKind::Header {
            ctx.close();
        }
    }
}

#[test]
fn client_info_and_deadline() {
    let (mut core, addr) = serve(|| Timed);
    let mut client = Client::connect(addr);
    drive(&mut core, |_| {
        client.poll();
        client.eof
    });
    let expected = format!("{} 127.0.0.1;Body;Send;Header;", addr.port());
    assert_eq!(String::from_utf8_lossy(&client.got), expected);
}

#[test]
fn a_vanished_client_ends_its_session() {
    let (mut core, addr) = serve(|| Timed);
    let client = Client::connect(addr);
    drive(&mut core, |core| core.counts().4 == 1);
    drop(client);
    // The deadline handler's send hits a closed socket; everything is torn down.
    drive(&mut core, |core| core.counts() == (1, 0, 0, 0, 0));
}

/// Answers each line with a file, holding the next line back while the file streams; with
/// `resume` false it forgets to call `resume_input`.
struct FilePerLine {
    path: std::path::PathBuf,
    streaming: bool,
    resume: bool,
}

impl SessionHandler for FilePerLine {
    fn on_client_data(&mut self, ctx: &mut SessionCtx<'_>, data: &[u8]) -> usize {
        if self.streaming {
            return 0; // the next line waits in the pipe
        }
        let Some(i) = data.iter().position(|b| *b == b'\n') else {
            return 0;
        };
        ctx.send(format!("[{}]", String::from_utf8_lossy(&data[..i])));
        ctx.send_file(std::fs::File::open(&self.path).unwrap())
            .unwrap();
        self.streaming = true;
        i + 1
    }

    fn on_file_done(&mut self, ctx: &mut SessionCtx<'_>) {
        self.streaming = false;
        if self.resume {
            ctx.resume_input();
        }
    }
}

#[test]
fn resume_input_offers_held_bytes_again_after_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f.bin");
    // Several chunks, so the file is still streaming when the later lines are offered.
    let content: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&path, &content).unwrap();
    let expected = [&b"[a]"[..], &content, b"[b]", &content, b"[c]", &content].concat();

    let file = path.clone();
    let (mut core, addr) = serve(move || FilePerLine {
        path: file.clone(),
        streaming: false,
        resume: true,
    });
    let mut client = Client::connect(addr);
    client.send(b"a\nb\nc\n"); // all three in one write: b and c wait for the file before them
    drive(&mut core, |_| {
        client.poll();
        client.got.len() >= expected.len()
    });
    assert!(
        client.got == expected,
        "responses out of order or incomplete"
    );

    // Without resume_input the held lines are not offered again until new bytes arrive.
    let (mut core, addr) = serve(move || FilePerLine {
        path: path.clone(),
        streaming: false,
        resume: false,
    });
    let mut client = Client::connect(addr);
    client.send(b"a\nb\n");
    drive(&mut core, |_| {
        client.poll();
        client.got.len() >= 3 + content.len()
    });
    for _ in 0..20 {
        core.turn(Some(Duration::from_millis(5)));
    }
    client.poll();
    assert_eq!(
        client.got.len(),
        3 + content.len(),
        "b was answered unasked"
    );
    client.send(b"x");
    drive(&mut core, |_| {
        client.poll();
        client.got.len() >= 2 * (3 + content.len())
    });
    assert_eq!(&client.got[3 + content.len()..][..3], b"[b]");
}

/// Turns `TCP_NODELAY` on (or leaves it) and says whether that worked.
struct NoDelay {
    on: bool,
}

impl SessionHandler for NoDelay {
    fn on_start(&mut self, ctx: &mut SessionCtx<'_>) {
        let result = if self.on {
            ctx.set_nodelay(true)
        } else {
            Ok(())
        };
        ctx.send(if result.is_ok() { "ok" } else { "err" });
    }

    fn on_client_data(&mut self, _ctx: &mut SessionCtx<'_>, _data: &[u8]) -> usize {
        0
    }
}

/// `TCP_NODELAY` of the server-side socket of `client` (the core runs in this process, so its
/// socket is one of this process's descriptors).
fn server_side_nodelay(client: &TcpStream) -> bool {
    use std::os::fd::BorrowedFd;
    let (ours, theirs) = (client.local_addr().unwrap(), client.peer_addr().unwrap());
    for entry in std::fs::read_dir("/proc/self/fd").unwrap() {
        let Ok(fd) = entry.unwrap().file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        // SAFETY: `SockRef` only queries the descriptor and never closes it. If another test
        // thread closes or reuses the number meanwhile, the queries fail or describe another
        // socket, which cannot have both addresses; a non-socket makes them fail.
        let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
        let socket = socket2::SockRef::from(&borrowed);
        let peer = socket.peer_addr().ok().and_then(|a| a.as_socket());
        let local = socket.local_addr().ok().and_then(|a| a.as_socket());
        if peer == Some(ours) && local == Some(theirs) {
            return socket.nodelay().unwrap();
        }
    }
    panic!("no server-side socket for {ours}");
}

#[test]
fn set_nodelay_reaches_the_client_socket() {
    for on in [false, true] {
        let (mut core, addr) = serve(move || NoDelay { on });
        let mut client = Client::connect(addr);
        drive(&mut core, |_| {
            client.poll();
            client.got.len() >= 2
        });
        assert_eq!(client.got, b"ok");
        assert_eq!(server_side_nodelay(&client.stream), on);
    }
}
