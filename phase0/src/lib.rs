//! The few pieces that the phase-0 programs share.
//!
//! Phase 0 is a set of small standalone programs (one per stage, in `src/bin/`), and each one is
//! meant to be read top to bottom as the whole program of its stage. So only things that are
//! *not* the lesson of any one stage live here:
//!
//! - the course's numbers ([`BUFF_SIZE`], [`BACKLOG`], [`MAX_EPOLL_EVENTS`], default ports),
//! - the string-reversal rule the grader checks ([`reverse`]),
//! - creating a listening TCP socket ([`create_server`]); stage 1 spells the same steps out,
//!   later stages call this function instead of repeating them,
//! - parsing `HOST:PORT` from the command line ([`parse_addr`]),
//! - printing log lines without ever panicking ([`log`], [`log_payload`]),
//! - the ignored `[CONFIG]` argument every binary accepts ([`IgnoredConfig`]).

use std::io::{self, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, ToSocketAddrs};
use std::path::PathBuf;

use socket2::{Domain, Socket, Type};

/// Bytes read by one `recv`/`recvfrom` (the C course's `BUFF_SIZE`).
pub const BUFF_SIZE: usize = 10_000;

/// Length of the kernel's queue of connections waiting for `accept` (`MAX_ACCEPT_BACKLOG`).
pub const BACKLOG: i32 = 5;

/// Most events one `epoll_wait` hands back in stages 4 and 5 (`MAX_EPOLL_EVENTS`).
pub const MAX_EPOLL_EVENTS: usize = 10;

/// The port every phase-0 server listens on unless `--port` says otherwise.
pub const DEFAULT_PORT: u16 = 8080;

/// Where the phase-0 clients connect unless `--server` says otherwise.
pub const DEFAULT_SERVER: &str = "127.0.0.1:8080";

/// The Python file server the stage-5 proxy forwards to unless `--upstream` says otherwise.
pub const DEFAULT_UPSTREAM: &str = "127.0.0.1:3000";

/// Reverses one received chunk in place, the way the grader expects.
///
/// Every byte is reversed except a trailing `\n`, which stays at the end: `abcd\n` becomes
/// `dcba\n`, `\n` stays `\n`, and `abc` (no newline) becomes `cba`. The rule works on bytes,
/// not on characters, so any payload works and the reply has exactly as many bytes as the
/// request.
///
/// The unit is one chunk, not one line: TCP keeps no message boundaries, so if one `recv` returns
/// `ab\ncd\n` the reply is `dc\nba\n`.
pub fn reverse(chunk: &mut [u8]) {
    let body = match chunk.split_last_mut() {
        Some((b'\n', body)) => body,
        _ => chunk,
    };
    body.reverse();
}

/// Creates a TCP socket listening on `0.0.0.0:port`, exactly as stage 1 does step by step:
/// `socket`, `SO_REUSEADDR`, `bind` to every IPv4 address, `listen` with a backlog of
/// [`BACKLOG`].
///
/// `SO_REUSEADDR` lets the server restart right away even when old connections of the previous
/// run still sit in `TIME_WAIT` on the port. Binding to `0.0.0.0` (not `127.0.0.1`) lets clients
/// on other machines, or other containers, connect.
pub fn create_server(port: u16) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.bind(&SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port).into())?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}

/// The port a listener really got. It differs from the requested one only when the request was
/// port 0 ("any free port"), which tests use.
pub fn bound_port(listener: &TcpListener, requested: u16) -> u16 {
    listener
        .local_addr()
        .map(|addr| addr.port())
        .unwrap_or(requested)
}

/// Parses a `HOST:PORT` argument such as `127.0.0.1:8080`, `localhost:3000` or `[::1]:8080`.
///
/// A host name is looked up, and an IPv4 answer is preferred because the phase-0 servers listen on
/// IPv4 only (`localhost` may resolve to `::1` first). Used by clap as a `value_parser`.
pub fn parse_addr(text: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let (host, port) = text
        .rsplit_once(':')
        .ok_or_else(|| format!("expected HOST:PORT (for example 127.0.0.1:8080), got `{text}`"))?;
    if host.is_empty() {
        return Err(format!("missing host in `{text}`"));
    }
    port.parse::<u16>()
        .map_err(|_| format!("`{port}` is not a port number (0-65535)"))?;
    let addrs: Vec<SocketAddr> = text
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve `{host}`: {e}"))?
        .collect();
    addrs
        .iter()
        .find(|addr| addr.is_ipv4())
        .or_else(|| addrs.first())
        .copied()
        .ok_or_else(|| format!("`{host}` has no address"))
}

/// Prints one log line on stdout and flushes it.
///
/// Unlike `println!`, this never panics: if stdout is gone (a closed pipe), the line is dropped
/// and the server keeps serving.
pub fn log(line: &str) {
    let mut out = io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Prints `prefix` followed by the payload bytes exactly as received, with no newline added (the
/// payload normally ends in `\n` already), and flushes so a payload without `\n` shows at once.
pub fn log_payload(prefix: &str, payload: &[u8]) {
    let mut out = io::stdout().lock();
    let _ = out.write_all(prefix.as_bytes());
    let _ = out.write_all(payload);
    let _ = out.flush();
}

/// The optional positional argument every binary accepts and ignores.
///
/// The official grader starts every stage as `./binary /usr/src/public/xps_config.json`; the
/// config file only means something from stage 16 on.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct IgnoredConfig {
    /// Config file path; accepted for the grader's command line and ignored in phase 0
    #[arg(value_name = "CONFIG")]
    pub config: Option<PathBuf>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reversed(input: &[u8]) -> Vec<u8> {
        let mut chunk = input.to_vec();
        reverse(&mut chunk);
        chunk
    }

    #[test]
    fn reverse_keeps_trailing_newline_at_end() {
        assert_eq!(reversed(b"hello\n"), b"olleh\n");
        assert_eq!(reversed(b"string-7\n"), b"7-gnirts\n");
    }

    #[test]
    fn reverse_without_newline_reverses_everything() {
        assert_eq!(reversed(b"abc"), b"cba");
        assert_eq!(reversed(b"x"), b"x");
    }

    #[test]
    fn reverse_empty_and_lone_newline() {
        assert_eq!(reversed(b""), b"");
        assert_eq!(reversed(b"\n"), b"\n");
        assert_eq!(reversed(b"\n\n"), b"\n\n");
    }

    #[test]
    fn reverse_only_last_newline_is_kept_in_place() {
        // One chunk holding two lines is reversed as one unit.
        assert_eq!(reversed(b"ab\ncd\n"), b"dc\nba\n");
        // A newline at the front moves to the back of the body.
        assert_eq!(reversed(b"\nab"), b"ba\n");
    }

    #[test]
    fn reverse_works_on_bytes_not_characters() {
        assert_eq!(
            reversed(&[0x00, 0xff, 0x80, b'\n']),
            [0x80, 0xff, 0x00, b'\n']
        );
        // "é" is two bytes in UTF-8; a byte reversal swaps them (the result is not UTF-8).
        assert_eq!(reversed("é\n".as_bytes()), [0xa9, 0xc3, b'\n']);
        assert_eq!(reversed(b"\r\n"), b"\r\n");
    }

    #[test]
    fn reverse_keeps_length() {
        let input: Vec<u8> = (0..=255u8).cycle().take(BUFF_SIZE).collect();
        let output = reversed(&input);
        assert_eq!(output.len(), input.len());
        assert_eq!(reversed(&output), input);
    }

    #[test]
    fn parse_addr_accepts_ip_and_port() {
        assert_eq!(
            parse_addr("127.0.0.1:8080").unwrap(),
            "127.0.0.1:8080".parse::<SocketAddr>().unwrap()
        );
        assert_eq!(
            parse_addr("[::1]:3000").unwrap(),
            "[::1]:3000".parse::<SocketAddr>().unwrap()
        );
    }

    #[test]
    fn parse_addr_resolves_localhost_to_ipv4_first() {
        let addr = parse_addr("localhost:3000").unwrap();
        assert_eq!(addr.port(), 3000);
        assert!(addr.ip().is_loopback());
        assert!(addr.is_ipv4());
    }

    #[test]
    fn parse_addr_rejects_bad_input() {
        assert!(parse_addr("").is_err());
        assert!(parse_addr("127.0.0.1").is_err());
        assert!(parse_addr("127.0.0.1:").is_err());
        assert!(parse_addr(":8080").is_err());
        assert!(parse_addr("127.0.0.1:65536").is_err());
        assert!(parse_addr("127.0.0.1:http").is_err());
    }

    #[test]
    fn create_server_listens_on_all_ipv4_addresses() {
        let listener = create_server(0).unwrap();
        let addr = listener.local_addr().unwrap();
        assert_eq!(addr.ip(), std::net::IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        assert_ne!(bound_port(&listener, 0), 0);
    }

    #[test]
    fn create_server_reports_a_port_in_use() {
        let first = create_server(0).unwrap();
        let port = bound_port(&first, 0);
        // SO_REUSEADDR does not allow two listeners on one port.
        assert!(create_server(port).is_err());
    }
}
