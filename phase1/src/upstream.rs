//! Upstreams: connections the server opens itself, to the server it proxies for.
//!
//! An upstream is an ordinary [`Connection`](crate::connection::Connection) with no listener.
//! The connect is non-blocking: `connect` returns `EINPROGRESS` at once, bytes for the upstream
//! wait in its pipe, and the first EPOLLOUT (connected) lets them flow. A refused or failed
//! connect shows up later as EPOLLERR/EPOLLHUP, which closes the upstream like any other
//! connection; the pipe close rules then tell whoever was waiting for it. The connection
//! remembers that it is still connecting, so a session can tell "the connect failed" (nothing
//! was sent: another upstream may be tried, stage 20) from "it closed without answering".

use std::net::{SocketAddr, ToSocketAddrs};

use socket2::{Domain, Socket, Type};

use crate::connection;
use crate::core::{ConnectionId, Core};

/// Resolve `address` (`host:port`; names such as `localhost` work, IPv4 preferred as the course
/// does) and start a non-blocking connect. Errors are a failed resolution or a connect that
/// failed at once.
///
/// The course resolves the name for every connection (`getaddrinfo`), which reads `/etc/hosts`
/// and more: eight system calls per proxied request here. A core told to
/// ([`Core::set_resolve_once`]) keeps the first successful answer for each name for its whole
/// life, as nginx does with the names in its config; a failed resolution is tried again next
/// time.
pub fn connect(core: &mut Core, address: &str) -> std::io::Result<ConnectionId> {
    let target = match core.resolved.as_mut() {
        Some(known) => match known.get(address) {
            Some(&target) => target,
            None => {
                let target = resolve(address)?;
                known.insert(address.to_string(), target);
                target
            }
        },
        None => resolve(address)?,
    };
    let socket = Socket::new(
        Domain::for_address(target),
        Type::STREAM.nonblocking().cloexec(),
        None,
    )?;
    let connecting = match socket.connect(&target.into()) {
        Ok(()) => false,
        Err(err) if err.raw_os_error() == Some(libc::EINPROGRESS) => true,
        Err(err) => return Err(err),
    };
    crate::debug!("connecting to upstream {target}");
    let id = connection::create(core, socket, None, Some(target))?;
    if let Some(conn) = core.connections.get_mut(id) {
        conn.connecting = connecting;
    }
    Ok(id)
}

/// True while the non-blocking connect of upstream `id` has not finished.
pub fn is_connecting(core: &Core, id: ConnectionId) -> bool {
    core.connections.get(id).is_some_and(|c| c.connecting)
}

/// The address to connect to: the first IPv4 one, else the first one.
pub fn resolve(address: &str) -> std::io::Result<SocketAddr> {
    let addrs: Vec<SocketAddr> = address.to_socket_addrs()?.collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .copied()
        .ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("{address} resolves to no address"),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_localhost_to_ipv4() {
        let addr = resolve("localhost:3000").unwrap();
        assert!(addr.is_ipv4());
        assert_eq!(addr.port(), 3000);
    }

    #[test]
    fn rejects_missing_port() {
        assert!(resolve("localhost").is_err());
    }
}
