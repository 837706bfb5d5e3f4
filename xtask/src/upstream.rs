//! The upstreams a proxy talks to in checks and tests.
//!
//! - [`Upstream`]: Python's `http.server`, as in the grader's container. It answers HTTP/1.0 and
//!   closes after every response, which is what the course's proxy is built for. The checker
//!   serves the layout's `public/` folder, like the grader serves `/usr/src/public`, and can kill
//!   it to test how the proxy copes with a dead upstream.
//! - [`FakeUpstream`]: an in-process upstream that misbehaves on purpose (closes early, resets
//!   mid-response, never answers) and records what it was sent, for the end-to-end tests. It is
//!   the one fake upstream of the project; tests describe what they need as a [`Behaviour`].
//! - [`NamedUpstream`]: an in-process upstream that says who it is, for stage 20's load
//!   balancing checks: several of them behind one route show where each request went.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use anyhow::Result;

use crate::ports::{wait_bound, Proto};
use crate::process::{Proc, START_TIMEOUT};

/// A running `python3 -m http.server`.
pub struct Upstream {
    proc: Proc,
    port: u16,
}

impl Upstream {
    /// Starts Python on 127.0.0.1:`port` serving `dir`, and waits until it listens.
    pub fn start(port: u16, dir: &Path, log_dir: &Path) -> Result<Upstream> {
        let argv: Vec<String> = [
            "python3",
            "-m",
            "http.server",
            &port.to_string(),
            "-d",
            &dir.to_string_lossy(),
            "--bind",
            "127.0.0.1",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let log = log_dir.join(format!("python-{port}.log"));
        // Unbuffered, so its log is complete when a check shows it.
        let mut proc = Proc::spawn(&argv, dir, &[("PYTHONUNBUFFERED", "1")], &log)?;
        wait_bound(&mut proc, &[port], Proto::Tcp, START_TIMEOUT)?;
        Ok(Upstream { proc, port })
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// What it has logged so far (one line per request it answered, the request line quoted).
    pub fn log(&self) -> String {
        self.proc.log_tail(1 << 20)
    }

    /// Kills it; its listening socket is gone once this returns.
    pub fn kill(&mut self) {
        self.proc.kill();
    }
}

/// How long the fake upstream waits on a peer before giving up on it.
const FAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// What a [`FakeUpstream`] does once it has read a request.
#[derive(Clone, Debug)]
pub enum Behaviour {
    /// Sends these bytes (or as many as the peer takes), then closes.
    Respond(Vec<u8>),
    /// Closes without sending a byte.
    Close,
    /// Sends these bytes, then resets the connection (RST) as a crashing upstream would.
    RespondThenReset(Vec<u8>),
    /// Never answers: the connection stays open until [`FakeUpstream::release`].
    Hold,
}

/// An upstream on a port of its own, serving each connection on a thread; it lives as long as
/// the process (tests end with it).
pub struct FakeUpstream {
    port: u16,
    requests: Arc<Mutex<Vec<Vec<u8>>>>,
    held: Arc<Mutex<Vec<TcpStream>>>,
}

/// Locks a mutex even if a thread panicked while holding it: the data is a plain list.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl FakeUpstream {
    /// Listens on a port the kernel picks and behaves as `behaviour` says on every connection.
    pub fn start(behaviour: Behaviour) -> io::Result<FakeUpstream> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let held = Arc::new(Mutex::new(Vec::new()));
        let (log, keep) = (requests.clone(), held.clone());
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let (behaviour, log, keep) = (behaviour.clone(), log.clone(), keep.clone());
                thread::spawn(move || serve(stream, &behaviour, &log, &keep));
            }
        });
        Ok(FakeUpstream {
            port,
            requests,
            held,
        })
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Every request read so far, in the order they were complete.
    pub fn requests(&self) -> Vec<Vec<u8>> {
        lock(&self.requests).clone()
    }

    /// How many connections a [`Behaviour::Hold`] upstream holds now.
    pub fn held(&self) -> usize {
        lock(&self.held).len()
    }

    /// Closes every connection a [`Behaviour::Hold`] upstream holds; returns how many.
    pub fn release(&self) -> usize {
        let mut held = lock(&self.held);
        let n = held.len();
        held.clear();
        n
    }
}

/// One connection: read the request, record it, then behave.
fn serve(
    mut stream: TcpStream,
    behaviour: &Behaviour,
    requests: &Mutex<Vec<Vec<u8>>>,
    held: &Mutex<Vec<TcpStream>>,
) {
    let _ = stream.set_read_timeout(Some(FAKE_TIMEOUT));
    let _ = stream.set_write_timeout(Some(FAKE_TIMEOUT));
    let request = read_request(&mut stream);
    lock(requests).push(request);
    match behaviour {
        Behaviour::Respond(bytes) => {
            let _ = stream.write_all(bytes);
            let _ = stream.shutdown(Shutdown::Both);
        }
        Behaviour::Close => {
            let _ = stream.shutdown(Shutdown::Both);
        }
        Behaviour::RespondThenReset(bytes) => {
            let _ = stream.write_all(bytes);
            thread::sleep(Duration::from_millis(5));
            reset(stream);
        }
        Behaviour::Hold => lock(held).push(stream),
    }
}

/// Closes with SO_LINGER 0, so the kernel sends RST instead of FIN.
pub fn reset(stream: TcpStream) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: setsockopt on a socket we own, with a pointer to a local `linger` of the size
    // passed.
    unsafe {
        libc::setsockopt(
            std::os::fd::AsRawFd::as_raw_fd(&stream),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
    drop(stream);
}

/// Reads one request head and as many body bytes as its `Content-Length` says (or what arrives
/// before the peer closes or goes quiet).
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

/// The part of a request path that makes a [`NamedUpstream`] answer slowly.
pub const SLOW_PATH_MARK: &str = "/slow";

/// An upstream that says who it is (stage 20): every request gets `200 OK`, an `X-Upstream`
/// header and the body `"<name> <body bytes received>\n"`, so a check sees which upstream
/// answered and whether the request's body arrived whole. A path containing [`SLOW_PATH_MARK`]
/// is answered only after the upstream's delay, which holds its connection open meanwhile (for
/// least_conn). It listens on 127.0.0.1 until [`NamedUpstream::stop`] (or drop), after which
/// its port refuses connections, like a crashed upstream.
pub struct NamedUpstream {
    name: String,
    port: u16,
    hits: Arc<AtomicUsize>,
    busy: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl NamedUpstream {
    /// Listens on 127.0.0.1:`port` as `name`; slow requests wait `delay`.
    pub fn start(name: &str, port: u16, delay: Duration) -> io::Result<NamedUpstream> {
        let listener = TcpListener::bind(("127.0.0.1", port))?;
        listener.set_nonblocking(true)?;
        let hits = Arc::new(AtomicUsize::new(0));
        let busy = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (who, counted, in_flight, stopping) =
            (name.to_string(), hits.clone(), busy.clone(), stop.clone());
        let thread = thread::spawn(move || {
            while !stopping.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let (who, counted, in_flight) =
                            (who.clone(), counted.clone(), in_flight.clone());
                        thread::spawn(move || {
                            answer_named(stream, &who, delay, &counted, &in_flight)
                        });
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        thread::sleep(Duration::from_millis(2))
                    }
                    Err(_) => thread::sleep(Duration::from_millis(2)),
                }
            }
            // The listener drops here: the port refuses connections from now on.
        });
        Ok(NamedUpstream {
            name: name.to_string(),
            port,
            hits,
            busy,
            stop,
            thread: Some(thread),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Requests answered (or being answered) so far.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    /// Requests read and not answered yet (slow ones being held).
    pub fn busy(&self) -> usize {
        self.busy.load(Ordering::SeqCst)
    }

    /// Stops listening; once this returns, connections to the port are refused. Requests
    /// already accepted are still answered.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for NamedUpstream {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One connection of a [`NamedUpstream`]: read the request, count it, answer with the name.
fn answer_named(
    mut stream: TcpStream,
    name: &str,
    delay: Duration,
    hits: &AtomicUsize,
    busy: &AtomicUsize,
) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(FAKE_TIMEOUT));
    let _ = stream.set_write_timeout(Some(FAKE_TIMEOUT));
    let request = read_request(&mut stream);
    let Some(end) = request.windows(4).position(|w| w == b"\r\n\r\n") else {
        return; // not a request (a probe that connected and left)
    };
    hits.fetch_add(1, Ordering::SeqCst);
    let head = String::from_utf8_lossy(&request[..end]);
    let slow = head
        .lines()
        .next()
        .is_some_and(|line| line.contains(SLOW_PATH_MARK));
    if slow {
        busy.fetch_add(1, Ordering::SeqCst);
        thread::sleep(delay);
        busy.fetch_sub(1, Ordering::SeqCst);
    }
    let body = format!("{name} {}\n", request.len() - end - 4);
    let response = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nX-Upstream: {name}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes());
    let _ = stream.shutdown(Shutdown::Both);
}
