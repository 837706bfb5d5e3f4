//! Idle connections held open during a run (rows e and f).
//!
//! A real server carries many connections that do nothing: browsers keep them for later, phones
//! go quiet mid-request. An event loop that does work per open connection on every turn (the
//! course's `handle_pipes` visits every pipe) slows down as they pile up; one that only visits
//! ready connections does not. Holding N silent connections during the 1 KiB keep-alive run
//! shows which kind a server is, and the worker's resident memory with them open shows what each
//! one costs.
//!
//! The connections send nothing, so no server owes them an answer. Opening is bounded in time; a
//! run only counts if every connection was opened and is still open when wrk is done (a server
//! that drops them to go faster is not measured with them).

use std::collections::HashSet;
use std::fs;
use std::io::{self, Read};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::checks::wire::local;

/// How long one connect may take (a full accept queue drops the SYN; the retry comes after 1 s).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// N open connections that send nothing. Dropping it closes them.
pub struct Idle {
    streams: Vec<TcpStream>,
    /// The server's port.
    port: u16,
}

impl Idle {
    /// Opens `n` connections to 127.0.0.1:`port` within `limit`. Fails with how many were opened.
    pub fn open(port: u16, n: usize, limit: Duration) -> Result<Idle, String> {
        let deadline = Instant::now() + limit;
        let mut streams = Vec::with_capacity(n);
        while streams.len() < n {
            if Instant::now() >= deadline {
                return Err(format!(
                    "only {} of {n} idle connections opened in {limit:?}",
                    streams.len()
                ));
            }
            match TcpStream::connect_timeout(&local(port), CONNECT_TIMEOUT) {
                Ok(stream) => streams.push(stream),
                Err(e) => {
                    return Err(format!(
                        "idle connection {} of {n} failed: {e}",
                        streams.len() + 1
                    ))
                }
            }
        }
        Ok(Idle { streams, port })
    }

    /// No connections, to `port`.
    pub fn empty(port: u16) -> Idle {
        Idle {
            streams: Vec::new(),
            port,
        }
    }

    /// How many of the connections the server still holds open (no close, no reset, no data).
    pub fn held(&mut self) -> usize {
        self.streams
            .iter_mut()
            .map(still_open)
            .filter(|&open| open)
            .count()
    }

    /// How many of the connections process `pid` has accepted: a client's connect succeeds as
    /// soon as the kernel completes the handshake, before the server calls accept, so a count on
    /// the client side alone would not show a server that leaves them in its accept queue. A
    /// connection counts when its server-side socket (found in `/proc/net/tcp` by its two ports)
    /// is one of `pid`'s descriptors.
    pub fn accepted_by(&self, pid: u32) -> usize {
        let ours: HashSet<u16> = self
            .streams
            .iter()
            .filter_map(|s| s.local_addr().ok().map(|a| a.port()))
            .collect();
        let held = socket_inodes(pid);
        let table = fs::read_to_string("/proc/net/tcp").unwrap_or_default();
        server_sockets(&table, self.port, &ours)
            .filter(|inode| held.contains(inode))
            .count()
    }

    pub fn len(&self) -> usize {
        self.streams.len()
    }

    /// Waits at most `limit` until `accepted` (how many of these connections the server holds,
    /// e.g. `|idle| idle.accepted_by(pid)`) counts all of them; returns the last count.
    pub fn wait_accepted(&self, limit: Duration, accepted: impl Fn(&Idle) -> usize) -> usize {
        let deadline = Instant::now() + limit;
        loop {
            let count = accepted(self);
            if count >= self.len() || Instant::now() >= deadline {
                return count;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Why a run held with these connections does not count, if the server closed any of them.
    pub fn dropped(&mut self) -> Option<String> {
        let held = self.held();
        (held < self.len()).then(|| {
            format!(
                "the server closed {} of the {} idle connections during the run",
                self.len() - held,
                self.len()
            )
        })
    }
}

/// The inodes of the server-side sockets in a `/proc/net/tcp` table whose local port is `port`
/// and whose peer port is one of `peers`.
fn server_sockets<'a>(
    table: &'a str,
    port: u16,
    peers: &'a HashSet<u16>,
) -> impl Iterator<Item = u64> + 'a {
    let port_of = |address: &str| {
        address
            .rsplit_once(':')
            .and_then(|(_, hex)| u16::from_str_radix(hex, 16).ok())
    };
    // "sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode"
    table.lines().skip(1).filter_map(move |line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < 10 || port_of(fields[1])? != port || !peers.contains(&port_of(fields[2])?)
        {
            return None;
        }
        fields[9].parse().ok()
    })
}

/// The inodes of the sockets process `pid` holds.
fn socket_inodes(pid: u32) -> HashSet<u64> {
    let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        return HashSet::new();
    };
    fds.flatten()
        .filter_map(|fd| {
            let target = fs::read_link(fd.path()).ok()?;
            target
                .to_str()?
                .strip_prefix("socket:[")?
                .strip_suffix(']')?
                .parse()
                .ok()
        })
        .collect()
}

/// True if nothing has happened on `stream`: a read would block.
fn still_open(stream: &mut TcpStream) -> bool {
    if stream.set_nonblocking(true).is_err() {
        return false;
    }
    let mut byte = [0u8; 1];
    let open = matches!(stream.read(&mut byte), Err(e) if e.kind() == io::ErrorKind::WouldBlock);
    let _ = stream.set_nonblocking(false);
    open
}

/// Raises this process's open-file limit to its hard limit (children inherit it), and returns the
/// new soft limit.
pub fn raise_nofile_limit() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return 1024;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit = raised;
            }
        }
    }
    limit.rlim_cur
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn finds_server_sockets_by_ports() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
            \x20  0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 100 1\n\
            \x20  1: 0100007F:1F90 0100007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0 201 1\n\
            \x20  2: 0100007F:9C40 0100007F:1F90 01 00000000:00000000 00:00000000 00000000     0        0 301 1\n\
            \x20  3: 0100007F:1F90 0100007F:9C41 01 00000000:00000000 00:00000000 00000000     0        0 0 1\n";
        let peers: HashSet<u16> = [0x9C40, 0x9C41].into_iter().collect();
        let found: Vec<u64> = server_sockets(table, 0x1F90, &peers).collect();
        assert_eq!(found, vec![201, 0]);
    }

    #[test]
    fn holds_and_notices_closes() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut idle = Idle::open(port, 3, Duration::from_secs(5)).unwrap();
        assert_eq!(idle.len(), 3);
        let (first, _) = listener.accept().unwrap();
        let (_second, _) = listener.accept().unwrap();
        assert_eq!(idle.held(), 3);
        // This process is the server here: it accepted two of the three.
        assert_eq!(idle.accepted_by(std::process::id()), 2);
        drop(first);
        let deadline = Instant::now() + Duration::from_secs(5);
        while idle.held() != 2 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(idle.held(), 2);
    }
}
