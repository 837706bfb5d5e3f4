//! Small helpers for talking to a server over real sockets, always with a deadline.

use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long any single reply may take before a check gives up on it.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(5);

/// What the server is expected to send back for a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reply {
    /// The bytes reversed, a trailing `\n` kept at the end (stages 1-9).
    Reverse,
    /// The same bytes (stage 10 on).
    Echo,
}

impl Reply {
    /// The reply the grader expects for `input`.
    pub fn expected(self, input: &[u8]) -> Vec<u8> {
        match self {
            Reply::Echo => input.to_vec(),
            Reply::Reverse => {
                let mut out = input.to_vec();
                let body = match out.last() {
                    Some(b'\n') => out.len() - 1,
                    _ => out.len(),
                };
                out[..body].reverse();
                out
            }
        }
    }

    /// "reversed" or "written back", for messages.
    pub fn verb(self) -> &'static str {
        match self {
            Reply::Reverse => "reversed",
            Reply::Echo => "written back",
        }
    }
}

/// A tiny xorshift generator: the checks need varied strings, not cryptography.
pub struct Rng(u64);

impl Rng {
    /// Seeded from the clock; the seed is shown in the report so a failure can be replayed.
    pub fn from_clock() -> Rng {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1);
        Rng::seeded(nanos)
    }

    /// A generator with a fixed seed.
    pub fn seeded(seed: u64) -> Rng {
        Rng(seed | 1)
    }

    /// The next pseudo-random number.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// The grader's string shape: 0..max_len-1 characters of `[A-Za-z0-9]`, then `\n`.
    pub fn line(&mut self, max_len: usize) -> Vec<u8> {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        let len = (self.next_u64() % max_len as u64) as usize;
        let mut line: Vec<u8> = (0..len)
            .map(|_| ALPHABET[(self.next_u64() % ALPHABET.len() as u64) as usize])
            .collect();
        line.push(b'\n');
        line
    }
}

/// The loopback address of `port`.
pub fn local(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// Connects to 127.0.0.1:`port` within [`REPLY_TIMEOUT`].
pub fn connect(port: u16) -> io::Result<TcpStream> {
    let stream = TcpStream::connect_timeout(&local(port), REPLY_TIMEOUT)?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Connects to 127.0.0.1:`port` from the local address `source` (any 127.x.y.z is this machine
/// on Linux), within [`REPLY_TIMEOUT`]. The socket is bound to `source` before it connects, the
/// way `curl --interface 127.0.0.2` does, so the server sees a different client address: how
/// the stage-18 checks are a second client without a second machine.
pub fn connect_from(source: IpAddr, port: u16) -> io::Result<TcpStream> {
    use socket2::{Domain, Protocol, SockAddr, Socket, Type};
    let target = local(port);
    let socket = Socket::new(
        Domain::for_address(target),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    socket.bind(&SockAddr::from(SocketAddr::new(source, 0)))?;
    socket.connect_timeout(&SockAddr::from(target), REPLY_TIMEOUT)?;
    let stream = TcpStream::from(socket);
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// How a bounded read ended.
#[derive(Debug)]
pub enum End {
    /// The wanted number of bytes arrived.
    Complete,
    /// The peer closed the connection first.
    Closed,
    /// The deadline passed first.
    TimedOut,
    /// The connection failed (for example reset by the peer).
    Failed(io::Error),
}

impl End {
    /// A short description for a report.
    pub fn describe(&self) -> String {
        match self {
            End::Complete => "complete".into(),
            End::Closed => "the server closed the connection".into(),
            End::TimedOut => "no more data before the timeout".into(),
            End::Failed(e) => format!("connection error: {e}"),
        }
    }
}

/// Reads until `want` bytes have arrived, the peer closes, an error happens or `timeout` passes.
pub fn read_upto(stream: &mut TcpStream, want: usize, timeout: Duration) -> (Vec<u8>, End) {
    let deadline = Instant::now() + timeout;
    let mut data = Vec::with_capacity(want.min(1 << 20));
    let mut chunk = vec![0u8; 64 * 1024];
    while data.len() < want {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return (data, End::TimedOut);
        }
        if let Err(e) = stream.set_read_timeout(Some(left)) {
            return (data, End::Failed(e));
        }
        let room = (want - data.len()).min(chunk.len());
        match stream.read(&mut chunk[..room]) {
            Ok(0) => return (data, End::Closed),
            Ok(n) => data.extend_from_slice(&chunk[..n]),
            Err(e) if is_timeout(&e) => return (data, End::TimedOut),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (data, End::Failed(e)),
        }
    }
    (data, End::Complete)
}

/// Reads until the peer closes (or fails, or `timeout` passes), keeping at most `limit` bytes.
pub fn read_to_close(stream: &mut TcpStream, limit: usize, timeout: Duration) -> (Vec<u8>, End) {
    let (data, end) = read_upto(stream, limit + 1, timeout);
    match end {
        End::Complete => (data, End::TimedOut),
        other => (data, other),
    }
}

/// True for the errors a read timeout produces.
pub fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// Sends all of `data`, failing after [`REPLY_TIMEOUT`] if the server stops reading.
pub fn send(stream: &mut TcpStream, data: &[u8]) -> io::Result<()> {
    stream.set_write_timeout(Some(REPLY_TIMEOUT))?;
    stream.write_all(data)
}

/// Shows bytes the way a report should: escaped, and shortened if long.
pub fn show(bytes: &[u8]) -> String {
    const MAX: usize = 120;
    let text: String = bytes
        .iter()
        .take(MAX)
        .flat_map(|&b| std::ascii::escape_default(b))
        .map(char::from)
        .collect();
    if bytes.len() > MAX {
        format!("\"{text}...\" ({} bytes)", bytes.len())
    } else {
        format!("\"{text}\"")
    }
}
