//! What the core gives stage 21's timeouts, through the public API: each connection's progress
//! (when it last received and sent, when an upstream connected, what still waits for the
//! client), dropping an upstream that never connects, and a finished session that lingers while
//! its send timer watches a client that stopped reading.

use std::cell::{Cell, RefCell};
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::rc::Rc;
use std::time::{Duration, Instant};

use phase1::{
    ClientInfo, Core, PortRole, SessionCtx, SessionHandler, SessionProgress, StageProfile,
    TimerKind,
};

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

/// Echoes every byte, and notes the progress it sees after each piece.
struct Echo {
    seen: Rc<RefCell<Vec<SessionProgress>>>,
}

impl SessionHandler for Echo {
    fn on_client_data(&mut self, ctx: &mut SessionCtx<'_>, data: &[u8]) -> usize {
        ctx.send(data.to_vec());
        self.seen.borrow_mut().push(ctx.progress());
        data.len()
    }
}

#[test]
fn progress_notes_when_the_client_last_sent_and_received() {
    let seen = Rc::new(RefCell::new(Vec::new()));
    let log = seen.clone();
    let (mut core, addr) = serve(move || Echo { seen: log.clone() });
    let start = Instant::now();
    let mut client = TcpStream::connect(addr).unwrap();
    client.set_nonblocking(true).unwrap();
    client.write_all(b"hello").unwrap();
    let mut got = Vec::new();
    drive(&mut core, |_| {
        let mut buf = [0u8; 64];
        if let Ok(n) = client.read(&mut buf) {
            got.extend_from_slice(&buf[..n]);
        }
        got.len() == 5
    });
    std::thread::sleep(Duration::from_millis(30));
    client.write_all(b"again").unwrap();
    drive(&mut core, |_| seen.borrow().len() == 2);
    let seen = seen.borrow();
    let (first, second) = (seen[0].client.unwrap(), seen[1].client.unwrap());
    assert!(first.connected_at.unwrap() >= start);
    assert_eq!(first.received, 5);
    assert_eq!(second.received, 10);
    let (recv1, recv2) = (first.last_recv.unwrap(), second.last_recv.unwrap());
    assert!(
        recv2 >= recv1 + Duration::from_millis(25),
        "{recv1:?} {recv2:?}"
    );
    // The echo of "hello" went out between the two pieces.
    let sent = second.last_send.expect("the first echo was sent");
    assert!(sent >= recv1 && sent <= recv2);
    assert_eq!(seen[1].upstream, None);
}

/// A listener whose accept queue is full: the kernel drops every further SYN, so a connect to
/// it neither succeeds nor fails for as long as the kernel keeps retrying (minutes).
fn blackhole() -> (socket2::Socket, TcpStream, SocketAddr) {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    socket
        .bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())
        .unwrap();
    socket.listen(0).unwrap();
    let addr = socket.local_addr().unwrap().as_socket().unwrap();
    // With a backlog of 0 one connection fits in the queue; it fills it.
    let filler = TcpStream::connect(addr).unwrap();
    (socket, filler, addr)
}

/// Proxies to `upstream` at once and gives up on it when its timer fires.
struct GiveUp {
    upstream: SocketAddr,
    connected: Rc<Cell<Option<bool>>>,
}

impl SessionHandler for GiveUp {
    fn on_start(&mut self, ctx: &mut SessionCtx<'_>) {
        ctx.proxy(
            &self.upstream.to_string(),
            b"GET / HTTP/1.0\r\n\r\n".to_vec(),
        )
        .unwrap();
        ctx.set_timer(
            TimerKind::UpstreamConnect,
            Instant::now() + Duration::from_millis(150),
        );
    }
    fn on_client_data(&mut self, _ctx: &mut SessionCtx<'_>, data: &[u8]) -> usize {
        data.len()
    }
    fn on_timer(&mut self, ctx: &mut SessionCtx<'_>, _kind: TimerKind) {
        let upstream = ctx
            .progress()
            .upstream
            .expect("the upstream is still there");
        self.connected.set(Some(upstream.connected_at.is_some()));
        ctx.abort_upstream();
        assert!(!ctx.is_proxying());
        ctx.send("gave up\n");
        ctx.close();
    }
}

#[test]
fn an_upstream_that_never_connects_can_be_dropped_at_once() {
    let (_listener, _filler, upstream) = blackhole();
    let connected = Rc::new(Cell::new(None));
    let seen = connected.clone();
    let (mut core, addr) = serve(move || GiveUp {
        upstream,
        connected: seen.clone(),
    });
    let mut client = TcpStream::connect(addr).unwrap();
    client
        .set_read_timeout(Some(Duration::from_millis(5)))
        .unwrap();
    let mut got = Vec::new();
    drive(&mut core, |_| {
        let mut buf = [0u8; 64];
        match client.read(&mut buf) {
            Ok(0) => true,
            Ok(n) => {
                got.extend_from_slice(&buf[..n]);
                false
            }
            Err(_) => false,
        }
    });
    assert_eq!(got, b"gave up\n");
    assert_eq!(connected.get(), Some(false), "the connect never completed");
    // Client and upstream are both closed: no connection is left behind in SYN-SENT.
    drive(&mut core, |core| core.counts().1 == 0);
    assert_eq!(core.counts().4, 0, "the session is gone too");
}

/// Sends `len` bytes, closes, and resets the client if it has not taken them in time.
struct Answer {
    len: usize,
    timeout: Duration,
    unsent: Rc<Cell<Option<u64>>>,
}

impl SessionHandler for Answer {
    fn on_start(&mut self, ctx: &mut SessionCtx<'_>) {
        ctx.send(vec![b'x'; self.len]);
        ctx.set_timer(TimerKind::Send, Instant::now() + self.timeout);
        ctx.close(); // the session lingers: its send timer is armed
    }
    fn on_client_data(&mut self, _ctx: &mut SessionCtx<'_>, data: &[u8]) -> usize {
        data.len()
    }
    fn on_timer(&mut self, ctx: &mut SessionCtx<'_>, _kind: TimerKind) {
        let unsent = ctx.client_unsent();
        self.unsent.set(Some(unsent));
        if unsent > 0 {
            ctx.reset();
        }
    }
}

#[test]
fn a_closed_session_lingers_to_reset_a_client_that_stopped_reading() {
    let unsent = Rc::new(Cell::new(None));
    let seen = unsent.clone();
    let (mut core, addr) = serve(move || Answer {
        len: 8_000_000,
        timeout: Duration::from_millis(200),
        unsent: seen.clone(),
    });
    let mut client = TcpStream::connect(addr).unwrap();
    drive(&mut core, |core| core.counts().4 == 1);
    assert_eq!(core.counts().1, 1, "the client connection is open");
    let lingered = Instant::now();
    drive(&mut core, |core| core.counts().1 == 0);
    assert!(lingered.elapsed() >= Duration::from_millis(150));
    assert!(unsent.get().is_some_and(|n| n > 0), "{:?}", unsent.get());
    // Everything is freed (the orphaned pipe by the next turn).
    drive(&mut core, |core| core.counts() == (1, 0, 0, 0, 0));
    // The client sees the reset once it reads what reached it.
    client
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut buf = vec![0u8; 1 << 20];
    let ended = loop {
        match client.read(&mut buf) {
            Ok(0) => break None,
            Ok(_) => {}
            Err(e) => break Some(e.kind()),
        }
    };
    assert_eq!(ended, Some(ErrorKind::ConnectionReset));
}

#[test]
fn a_lingering_session_goes_with_a_client_that_took_everything() {
    let unsent = Rc::new(Cell::new(None));
    let seen = unsent.clone();
    let (mut core, addr) = serve(move || Answer {
        len: 3_000_000,
        timeout: Duration::from_secs(60),
        unsent: seen.clone(),
    });
    let mut client = TcpStream::connect(addr).unwrap();
    client.set_nonblocking(true).unwrap();
    let mut total = 0;
    let mut closed = false;
    drive(&mut core, |core| {
        let mut buf = vec![0u8; 1 << 16];
        loop {
            match client.read(&mut buf) {
                Ok(0) => closed = true,
                Ok(n) => {
                    total += n;
                    continue;
                }
                Err(_) => {}
            }
            break;
        }
        closed && core.counts().4 == 0
    });
    assert_eq!(total, 3_000_000);
    assert_eq!(unsent.get(), None, "the timer never fired");
    drive(&mut core, |core| core.counts() == (1, 0, 0, 0, 0));
}

#[test]
fn the_unsent_count_covers_the_pipe_and_the_kernel() {
    let unsent = Rc::new(Cell::new(None));
    let seen = unsent.clone();
    let (mut core, addr) = serve(move || Answer {
        len: 4_000_000,
        timeout: Duration::from_millis(100),
        unsent: seen.clone(),
    });
    // A small receive buffer, fixed before the connect so the kernel cannot grow it: with the
    // default autotuning and a large `net.ipv4.tcp_rmem` maximum (32 MB on some machines) the
    // kernel could take all 4 MB for a client that reads nothing, and the session would end, with
    // nothing unsent, before its timer fires.
    let client = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    client.set_recv_buffer_size(4096).unwrap();
    client.connect(&addr.into()).unwrap();
    drive(&mut core, |_| unsent.get().is_some());
    // Far more than the kernel holds for a client that reads nothing, far less than sent.
    let n = unsent.get().unwrap();
    assert!(n > 1_000_000 && n <= 4_000_000, "{n}");
}
