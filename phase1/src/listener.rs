//! Listeners: a listening socket and what to do with each client it accepts.
//!
//! A listener is bound with `SO_REUSEADDR` (so a restarted server can bind at once), listens
//! with a backlog of 64 and is itself non-blocking. Each accepted client gets the listener's
//! [`PortRole`]: reply to it, proxy it, send it a file, or hand it to a session. The roles are
//! what stages 10-13 teach: stage 10 joins the client to itself with one pipe (echo), stage 11
//! joins it to an upstream with two, stage 12 to a file, and stage 13 puts a session in between.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::path::PathBuf;

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

/// Create a listening socket on `addr` and register it (see [`Core::listen`]).
pub fn create(core: &mut Core, addr: SocketAddr, role: PortRole) -> std::io::Result<ListenerId> {
    let socket = Socket::new(
        Domain::for_address(addr),
        Type::STREAM.nonblocking().cloexec(),
        None,
    )?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    adopt(core, socket.into(), role)
}

/// Register an already-listening socket (see [`Core::listen_socket`]).
pub fn adopt(core: &mut Core, socket: TcpListener, role: PortRole) -> std::io::Result<ListenerId> {
    if role.needs_pipes() && core.profile.output != Output::Pipe {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "proxy, file and session roles need the pipe profile (stage 10 on)",
        ));
    }
    socket.set_nonblocking(true)?;
    let addr = socket.local_addr()?;
    let flags = match core.profile.trigger {
        Trigger::Level => EpollFlags::EPOLLIN,
        Trigger::Edge => EpollFlags::EPOLLIN | EpollFlags::EPOLLET,
    };
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
pub fn on_readable(core: &mut Core, id: ListenerId) {
    loop {
        let Some(listener) = core.listeners.get(id) else {
            return;
        };
        match listener.socket.accept() {
            Ok((stream, peer)) => accept_client(core, id, stream, peer),
            Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => return,
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(err) => {
                // EMFILE and friends: the client stays in the backlog; log and go on serving.
                crate::error!("accept failed: {err}");
                return;
            }
        }
        if core.profile.trigger == Trigger::Level {
            return;
        }
    }
}

/// What to do with one accepted client, decided while the listener is borrowed.
enum Plan {
    Reply,
    Proxy(String),
    File(PathBuf, PathBuf),
    Session(Box<dyn SessionHandler>, ClientInfo),
}

fn accept_client(core: &mut Core, id: ListenerId, stream: TcpStream, peer: SocketAddr) {
    if core.profile.accepted == SocketMode::NonBlocking {
        if let Err(err) = stream.set_nonblocking(true) {
            crate::error!("could not make the client socket non-blocking: {err}");
            return;
        }
    }
    let client = match connection::create(core, Socket::from(stream), Some(id), Some(peer)) {
        Ok(client) => client,
        Err(err) => {
            crate::error!("could not create the connection: {err}");
            return;
        }
    };
    crate::info!("new connection");
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
                let file = file::create(core, opened);
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
