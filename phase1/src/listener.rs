//! Listeners: a listening socket and what to do with each client it accepts.
//!
//! A listener is bound with `SO_REUSEADDR` (so a restarted server can bind at once), listens
//! with a backlog of 64 and is itself non-blocking. [`bind`] can also set `SO_REUSEPORT`, so
//! several worker threads each own a listener on the same port and the kernel spreads the
//! clients (stage 23). Each accepted client gets the listener's
//! [`PortRole`]: reply to it, proxy it, send it a file, or hand it to a session. The roles are
//! what stages 10-13 teach: stage 10 joins the client to itself with one pipe (echo), stage 11
//! joins it to an upstream with two, stage 12 to a file, and stage 13 puts a session in between.

use std::net::{SocketAddr, TcpListener};
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use nix::sys::epoll::EpollFlags;
use socket2::{Domain, Socket, Type};

use crate::constants::{BACKLOG, PIPE_THRESHOLD};
use crate::core::{Core, EventId, ListenerId};
use crate::event_loop::Target;
use crate::pipe::{self, Owner};
use crate::profile::{Output, SocketMode, Trigger};
use crate::session::{self, ClientInfo, SessionFactory, SessionHandler};
use crate::{connection, file, upstream};

/// What a listener does with each client it accepts.
pub enum PortRole {
    /// Reply on the same connection: reversed in stages 6-9, echoed (one pipe from the
    /// client to itself) from stage 10.
    Reply,
    /// Stage 11-12: relay the client to this upstream (`host:port`) and back.
    Proxy {
        /// Where to connect, e.g. `127.0.0.1:3000`.
        upstream: String,
    },
    /// Stage 12: send this file, which must lie inside `public`, then close. A file outside
    /// `public` (or unreadable) closes the client without a byte.
    File {
        /// The directory files may be served from.
        public: PathBuf,
        /// The file to send.
        path: PathBuf,
    },
    /// Stage 13 on: a session, driven by a handler the factory makes for each client.
    Session(Box<dyn SessionFactory>),
}

impl PortRole {
    /// A session role from a closure that makes one handler per client.
    pub fn session<F>(factory: F) -> PortRole
    where
        F: FnMut(&ClientInfo) -> Box<dyn SessionHandler> + 'static,
    {
        PortRole::Session(Box::new(factory))
    }

    fn needs_pipes(&self) -> bool {
        !matches!(self, PortRole::Reply)
    }
}

/// A listening socket.
pub struct Listener {
    socket: TcpListener,
    pub(crate) addr: SocketAddr,
    role: PortRole,
    event: EventId,
}

/// How long a listener waits before calling `accept` again after it failed for lack of
/// descriptors (EMFILE, ENFILE) or memory. See [`on_readable`].
pub const ACCEPT_RETRY: Duration = Duration::from_millis(100);

/// Create a listening socket on `addr` and register it (see [`Core::listen`]).
pub fn create(core: &mut Core, addr: SocketAddr, role: PortRole) -> std::io::Result<ListenerId> {
    adopt(core, bind(addr, false)?, role, false)
}

/// A non-blocking listening socket on `addr` (SO_REUSEADDR, backlog 64), not yet registered in
/// any core. With `reuse_port`, `SO_REUSEPORT` too: several sockets, one per worker, may then
/// listen on the same port, and the kernel hands each new client to one of them.
pub fn bind(addr: SocketAddr, reuse_port: bool) -> std::io::Result<TcpListener> {
    let socket = Socket::new(
        Domain::for_address(addr),
        Type::STREAM.nonblocking().cloexec(),
        None,
    )?;
    socket.set_reuse_address(true)?;
    if reuse_port {
        socket.set_reuse_port(true)?;
    }
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}

/// Register an already-listening socket (see [`Core::listen_socket`]); with `exclusive`, with
/// `EPOLLEXCLUSIVE` (see [`Core::listen_shared_socket`]). The kernel allows that flag only when
/// the descriptor is added, never in a later change, and a listener's registration never changes.
pub fn adopt(
    core: &mut Core,
    socket: TcpListener,
    role: PortRole,
    exclusive: bool,
) -> std::io::Result<ListenerId> {
    if role.needs_pipes() && core.profile.output != Output::Pipe {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "proxy, file and session roles need the pipe profile (stage 10 on)",
        ));
    }
    socket.set_nonblocking(true)?;
    let addr = socket.local_addr()?;
    let mut flags = match core.profile.trigger {
        Trigger::Level => EpollFlags::EPOLLIN,
        Trigger::Edge => EpollFlags::EPOLLIN | EpollFlags::EPOLLET,
    };
    if exclusive {
        flags |= EpollFlags::EPOLLEXCLUSIVE;
    }
    let id = core.listeners.insert(Listener {
        socket,
        addr,
        role,
        event: EventId::default(),
    });
    let registered = {
        let listener = &core.listeners[id];
        core.event_loop
            .attach(listener.socket.as_fd(), flags, Target::Listener(id))
    };
    match registered {
        Ok(event) => core.listeners[id].event = event,
        Err(err) => {
            core.listeners.remove(id);
            return Err(err);
        }
    }
    crate::debug!("created listener on port {}", addr.port());
    crate::info!("Server listening on port {}", addr.port());
    Ok(id)
}

/// Close a listener.
pub fn destroy(core: &mut Core, id: ListenerId) {
    if let Some(listener) = core.listeners.remove(id) {
        core.detach(listener.event, &listener.socket);
        crate::debug!("destroyed listener");
    }
}

/// The listening socket is readable: clients are waiting. Level-triggered (stages 6-8), accept
/// one per event, as the course does; edge-triggered, accept until `EAGAIN`, because a burst of
/// clients raises a single edge.
///
/// When `accept` fails for lack of descriptors (EMFILE, ENFILE) or memory, the client stays in
/// the kernel's queue. An edge-triggered listener would then never hear of it again: the queue
/// is not *becoming* readable, it already is, so no new edge comes until yet another client
/// connects, and a full queue gets none at all. The listener therefore retries on its own, every
/// [`ACCEPT_RETRY`], until `accept` works or says `EAGAIN` (nginx backs off the same way). The
/// retry costs one `accept` per 100 ms while descriptors are short, and nothing otherwise.
pub fn on_readable(core: &mut Core, id: ListenerId) {
    let mut first = true;
    loop {
        let Some(listener) = core.listeners.get(id) else {
            return;
        };
        // accept4 makes the client socket non-blocking in the same call (from stage 8), one
        // system call fewer per client than accept followed by fcntl/ioctl.
        let flags = match core.profile.accepted {
            SocketMode::NonBlocking => libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            SocketMode::Blocking => libc::SOCK_CLOEXEC,
        };
        match socket2::SockRef::from(&listener.socket).accept4(flags) {
            Ok((socket, addr)) => match addr.as_socket() {
                Some(peer) => accept_client(core, id, socket, peer),
                None => crate::debug!("accepted a client with no IP address"),
            },
            Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => {
                if first {
                    core.counters.empty_accept_wakeups += 1;
                }
                return;
            }
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(err) if is_resource_shortage(&err) => {
                core.counters.accept_errors += 1;
                crate::error!(
                    "accept failed: {err}; retrying in {} ms",
                    ACCEPT_RETRY.as_millis()
                );
                schedule_retry(core, id);
                return;
            }
            Err(err) => {
                // ECONNABORTED and the like concern one client only: go on with the next.
                crate::debug!("accept failed: {err}");
                if core.profile.trigger == Trigger::Level {
                    return;
                }
                continue;
            }
        }
        first = false;
        if core.profile.trigger == Trigger::Level {
            return;
        }
    }
}

fn is_resource_shortage(err: &std::io::Error) -> bool {
    matches!(
        err.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

fn schedule_retry(core: &mut Core, id: ListenerId) {
    if !core.accept_retry.contains(&id) {
        core.accept_retry.push(id);
    }
    if core.accept_retry_at.is_none() {
        core.accept_retry_at = Some(Instant::now() + ACCEPT_RETRY);
    }
}

/// Retry the listeners whose `accept` failed for lack of resources, once their wait is over.
pub(crate) fn retry_due(core: &mut Core) {
    let Some(at) = core.accept_retry_at else {
        return;
    };
    if at > Instant::now() {
        return;
    }
    core.accept_retry_at = None;
    for id in std::mem::take(&mut core.accept_retry) {
        on_readable(core, id);
    }
}

/// What to do with one accepted client, decided while the listener is borrowed.
enum Plan {
    Reply,
    Proxy(String),
    File(PathBuf, PathBuf),
    Session(Box<dyn SessionHandler>, ClientInfo),
}

fn accept_client(core: &mut Core, id: ListenerId, socket: Socket, peer: SocketAddr) {
    let client = match connection::create(core, socket, Some(id), Some(peer)) {
        Ok(client) => client,
        Err(err) => {
            crate::error!("could not create the connection: {err}");
            return;
        }
    };
    core.counters.connections_accepted += 1;
    if core.eager_read && core.profile.output == Output::Pipe {
        // A client usually sends its request right after connecting, so it is often waiting
        // already: read at once instead of waiting a loop turn for the EPOLLIN. If nothing is
        // there, the read says EAGAIN and the flag is cleared as usual.
        if let Some(end) = core.end_mut(Owner::Connection(client), crate::pipe::Side::Source) {
            end.ready = true;
        }
    }
    if core.log_connections {
        crate::info!("new connection");
    } else {
        crate::debug!("new connection");
    }
    let Some(listener) = core.listeners.get_mut(id) else {
        return;
    };
    let plan = match &mut listener.role {
        PortRole::Reply => Plan::Reply,
        PortRole::Proxy { upstream } => Plan::Proxy(upstream.clone()),
        PortRole::File { public, path } => Plan::File(public.clone(), path.clone()),
        PortRole::Session(factory) => {
            let info = ClientInfo {
                listener: listener.addr,
                peer,
            };
            Plan::Session(factory.create(&info), info)
        }
    };
    let client_end = Owner::Connection(client);
    match plan {
        Plan::Reply => {
            if core.profile.output == Output::Pipe {
                // Stage 10: the client's own bytes come back to it.
                pipe::create(core, client_end, client_end, PIPE_THRESHOLD);
            }
        }
        Plan::Proxy(address) => match upstream::connect(core, &address) {
            Ok(up) => {
                let up_end = Owner::Connection(up);
                pipe::create(core, client_end, up_end, PIPE_THRESHOLD);
                pipe::create(core, up_end, client_end, PIPE_THRESHOLD);
            }
            Err(err) => {
                crate::error!("upstream {address}: {err}");
                connection::close(core, client, false);
            }
        },
        Plan::File(public, path) => match file::open_in_public(&public, &path) {
            Ok(opened) => {
                let file = file::create(core, file::BodySource::File(opened));
                pipe::create(core, Owner::File(file), client_end, PIPE_THRESHOLD);
            }
            Err(err) => {
                crate::warn!("{}: {err}", path.display());
                connection::close(core, client, false);
            }
        },
        Plan::Session(handler, info) => {
            session::create(core, client, info, handler);
        }
    }
}
