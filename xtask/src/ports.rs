//! Free ports, and knowing when a server is ready without talking to it.
//!
//! Readiness is read from the kernel's socket tables (`/proc/net/tcp`, `/proc/net/tcp6`,
//! `/proc/net/udp`, `/proc/net/udp6`) instead of by connecting: the stage-1 server serves exactly
//! one client, so a "probe" connection would be the only client it ever gets.

use std::collections::HashSet;
use std::fs;
use std::net::{TcpListener, UdpSocket};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};

use crate::process::{describe_status, Proc};

/// Which socket table to look in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Proto {
    Tcp,
    Udp,
}

/// `n` distinct TCP ports that were free a moment ago (the kernel picked them for port 0).
pub fn free_tcp_ports(n: usize) -> Result<Vec<u16>> {
    // Hold every listener until all are chosen so the kernel cannot hand out one port twice.
    let mut held = Vec::new();
    for _ in 0..n {
        held.push(TcpListener::bind("127.0.0.1:0")?);
    }
    held.iter().map(|l| Ok(l.local_addr()?.port())).collect()
}

/// One TCP port that was free a moment ago.
pub fn free_tcp_port() -> Result<u16> {
    Ok(free_tcp_ports(1)?[0])
}

/// One UDP port that was free a moment ago.
pub fn free_udp_port() -> Result<u16> {
    let socket = UdpSocket::bind("127.0.0.1:0")?;
    Ok(socket.local_addr()?.port())
}

/// The local ports of every socket in the given state in one `/proc/net/...` table.
fn ports_in_table(path: &str, wanted_state: &str) -> HashSet<u16> {
    let mut ports = HashSet::new();
    let Ok(text) = fs::read_to_string(path) else {
        return ports;
    };
    // Lines look like: "0: 00000000:1F90 00000000:0000 0A ...": local address, remote, state.
    for line in text.lines().skip(1) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < 4 || fields[3] != wanted_state {
            continue;
        }
        if let Some((_, port_hex)) = fields[1].rsplit_once(':') {
            if let Ok(port) = u16::from_str_radix(port_hex, 16) {
                ports.insert(port);
            }
        }
    }
    ports
}

/// True if some socket listens on TCP `port` (or, for UDP, is bound to it).
pub fn is_bound(port: u16, proto: Proto) -> bool {
    let (tables, state) = match proto {
        // 0A is TCP_LISTEN, 07 is TCP_CLOSE, which is how an unconnected UDP socket shows.
        Proto::Tcp => (["/proc/net/tcp", "/proc/net/tcp6"], "0A"),
        Proto::Udp => (["/proc/net/udp", "/proc/net/udp6"], "07"),
    };
    tables
        .iter()
        .any(|t| ports_in_table(t, state).contains(&port))
}

/// Fails if any of `ports` is already taken by some other program: checking a server on a
/// port someone else listens on would test the wrong program.
pub fn ensure_free(ports: &[u16], proto: Proto) -> Result<()> {
    for &port in ports {
        if is_bound(port, proto) {
            bail!("port {port} is already in use by another program; stop it or use --free-ports");
        }
    }
    Ok(())
}

/// Waits until every one of `ports` is listening, or fails if `proc` exits first or `timeout`
/// passes.
pub fn wait_bound(proc: &mut Proc, ports: &[u16], proto: Proto, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        if ports.iter().all(|&p| is_bound(p, proto)) {
            return Ok(());
        }
        if let Some(status) = proc.exit_status() {
            bail!(
                "`{}` {} before listening on {:?}; its output:\n{}",
                proc.name(),
                describe_status(status),
                ports,
                proc.log_excerpt()
            );
        }
        if Instant::now() >= deadline {
            let missing: Vec<u16> = ports
                .iter()
                .copied()
                .filter(|&p| !is_bound(p, proto))
                .collect();
            bail!(
                "`{}` was not listening on {:?} after {:?}; its output:\n{}",
                proc.name(),
                missing,
                timeout,
                proc.log_excerpt()
            );
        }
        thread::sleep(Duration::from_millis(20));
    }
}
