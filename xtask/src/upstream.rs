//! The upstreams a proxy talks to in checks and tests.
//!
//! - [`Upstream`]: Python's `http.server`, as in the grader's container. It answers HTTP/1.0 and
//!   closes after every response, which is what the course's proxy is built for. The checker
//!   serves the layout's `public/` folder, like the grader serves `/usr/src/public`, and can kill
//!   it to test how the proxy copes with a dead upstream.
//! - [`FakeUpstream`]: an in-process upstream that misbehaves on purpose (closes early, resets
//!   mid-response, never answers) and records what it was sent, for the end-to-end tests. It is
//!   the one fake upstream of the project; tests describe what they need as a [`Behaviour`].

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
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
