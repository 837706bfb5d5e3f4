//! Free ports, and knowing when a server is ready without talking to it.
//!
//! Readiness is read from the kernel's socket tables (`/proc/net/tcp`, `/proc/net/tcp6`,
//! `/proc/net/udp`, `/proc/net/udp6`) instead of by connecting: the stage-1 server serves exactly
//! one client, so a "probe" connection would be the only client it ever gets. The listening
//! socket must also belong to the program under test (its inode is among the program's open
//! files), so a server that failed to bind is never mistaken for whoever else holds the port.

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

/// The kernel's range of ephemeral ports, which it hands to outgoing connections.
fn ephemeral_range() -> (u16, u16) {
    let text = fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").unwrap_or_default();
    let mut numbers = text
        .split_whitespace()
        .filter_map(|n| n.parse::<u16>().ok());
    match (numbers.next(), numbers.next()) {
        (Some(low), Some(high)) => (low, high),
        _ => (32768, 60999),
    }
}

/// `n` distinct ports that are free for both TCP and UDP right now.
///
/// They are picked below the kernel's ephemeral range: a port the kernel chose for a
/// throw-away listener can be handed to anybody's outgoing connection the moment it is released,
/// which would make a server that restarts on it fail with "address in use". Ports outside the
/// range are only ever taken by an explicit bind.
pub fn free_ports(n: usize) -> Result<Vec<u16>> {
    let (low, _) = ephemeral_range();
    let (first, last) = if low > 12_000 {
        (10_000u16, low - 1)
    } else {
        (1_024, low.max(1_100) - 1)
    };
    let span = u64::from(last - first) + 1;
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1)
        ^ u64::from(std::process::id()) << 20;
    // Hold each chosen port until all are chosen so one port is never picked twice.
    let mut held = Vec::new();
    let mut chosen = Vec::new();
    for _ in 0..2_000 {
        if chosen.len() == n {
            return Ok(chosen);
        }
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let port = first + (seed % span) as u16;
        let course = port == 3000 || (8000..=8100).contains(&port);
        if course || chosen.contains(&port) {
            continue;
        }
        let (Ok(tcp), Ok(udp)) = (
            TcpListener::bind(("0.0.0.0", port)),
            UdpSocket::bind(("0.0.0.0", port)),
        ) else {
            continue;
        };
        held.push((tcp, udp));
        chosen.push(port);
    }
    if chosen.len() == n {
        return Ok(chosen);
    }
    bail!("could not find {n} free ports between {first} and {last}")
}

/// `n` distinct TCP ports that are free right now (see [`free_ports`]).
pub fn free_tcp_ports(n: usize) -> Result<Vec<u16>> {
    free_ports(n)
}

/// One TCP port that is free right now.
pub fn free_tcp_port() -> Result<u16> {
    Ok(free_ports(1)?[0])
}

/// One UDP port that is free right now.
pub fn free_udp_port() -> Result<u16> {
    Ok(free_ports(1)?[0])
}

/// `(port, inode)` of every socket in the given state in one `/proc/net/...` table.
fn sockets_in_table(path: &str, wanted_state: &str) -> Vec<(u16, u64)> {
    let Ok(text) = fs::read_to_string(path) else {
        return Vec::new();
    };
    // Lines look like "0: 00000000:1F90 00000000:0000 0A ... uid timeout inode ...":
    // local address, remote address, state, and the socket's inode in field 10.
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() < 10 || fields[3] != wanted_state {
                return None;
            }
            let (_, port_hex) = fields[1].rsplit_once(':')?;
            let port = u16::from_str_radix(port_hex, 16).ok()?;
            let inode = fields[9].parse().ok()?;
            Some((port, inode))
        })
        .collect()
}

/// Inodes of the sockets listening on TCP `port` (or, for UDP, bound to it).
fn sockets_on(port: u16, proto: Proto) -> Vec<u64> {
    let (tables, state) = match proto {
        // 0A is TCP_LISTEN, 07 is TCP_CLOSE, which is how an unconnected UDP socket shows.
        Proto::Tcp => (["/proc/net/tcp", "/proc/net/tcp6"], "0A"),
        Proto::Udp => (["/proc/net/udp", "/proc/net/udp6"], "07"),
    };
    tables
        .iter()
        .flat_map(|t| sockets_in_table(t, state))
        .filter(|&(p, _)| p == port)
        .map(|(_, inode)| inode)
        .collect()
}

/// True if some socket listens on TCP `port` (or, for UDP, is bound to it).
pub fn is_bound(port: u16, proto: Proto) -> bool {
    !sockets_on(port, proto).is_empty()
}

/// Inodes of every socket held open by a process of process group `pgid` (the program under
/// test and anything it started).
fn group_sockets(pgid: u32) -> HashSet<u64> {
    let mut inodes = HashSet::new();
    let Ok(entries) = fs::read_dir("/proc") else {
        return inodes;
    };
    for entry in entries.flatten() {
        let stat = fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        // Field 5 is the process group; count after the ')' that ends the command name.
        let in_group = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(2))
            .is_some_and(|group| group == pgid.to_string());
        if !in_group {
            continue;
        }
        let Ok(fds) = fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            let target = fs::read_link(fd.path()).unwrap_or_default();
            let target = target.to_string_lossy();
            if let Some(inode) = target
                .strip_prefix("socket:[")
                .and_then(|t| t.strip_suffix(']'))
            {
                if let Ok(inode) = inode.parse() {
                    inodes.insert(inode);
                }
            }
        }
    }
    inodes
}

/// True if `proc` (or a process it started) is the one listening on `port`; a server that
/// failed to bind must not pass because somebody else happens to listen there.
fn bound_by(proc: &Proc, port: u16, proto: Proto) -> bool {
    let on_port = sockets_on(port, proto);
    if on_port.is_empty() {
        return false;
    }
    let ours = group_sockets(proc.pid());
    on_port.iter().any(|inode| ours.contains(inode))
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

/// Waits until `proc` listens on every one of `ports`, or fails if `proc` exits first or `timeout`
/// passes.
pub fn wait_bound(proc: &mut Proc, ports: &[u16], proto: Proto, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        if ports.iter().all(|&p| bound_by(proc, p, proto)) {
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
                .filter(|&p| !bound_by(proc, p, proto))
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
