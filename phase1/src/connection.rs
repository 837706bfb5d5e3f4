//! Connections: one connected TCP socket, to a client or to an upstream.
//!
//! What a connection does with its bytes is the main thing that changes across stages 6-10,
//! chosen by the core's [`StageProfile`](crate::StageProfile):
//!
//! - **Blocking send** (6-7): on EPOLLIN, `recv` one chunk, reply, and `send` until every byte
//!   is written. Simple, and one client that does not read freezes everyone.
//! - **Unbounded list** (8-9): replies wait in a [`BufferList`]; EPOLLOUT sends what the kernel
//!   takes. Level-triggered (8), EPOLLOUT fires forever on an idle socket; edge-triggered (9),
//!   readiness is remembered in `read_ready`/`write_ready` until `EAGAIN` and
//!   [`handle_connections`] does the I/O. Either way the list grows without bound.
//! - **Pipes** (10 on): the receiving side is a pipe *source*, the sending side a pipe *sink*.
//!   Epoll events only set their `ready` flags; [`pipe::handle_pipes`] calls
//!   [`on_source_ready`] / [`on_sink_ready`] when the pipe allows it.
//!
//! A connection closes on a socket error, or when both its ends are inactive (nothing more can
//! come in or go out). When only its sending side is finished, it shuts the socket down for
//! writing so the peer sees end-of-stream; when the peer finishes sending (`recv` returns 0),
//! only the receiving side stops, and whatever is still owed to the peer is delivered first.
//! (The C course closes outright on `recv() == 0`; that loses the reply to a client that
//! half-closes, such as `printf 'hi\n' | nc -N host port`.)
//!
//! # Draining: the lingering close (RFC 9112 §9.6)
//!
//! A server that answers an error before reading what the client sends (a 405 before a 50 MB
//! body, a 431 on a head that never ends) must not simply close: the kernel, seeing unread
//! bytes at `close(2)`, answers with a reset (RST) instead of an orderly end, the client's next
//! write fails with ECONNRESET, and a client that writes its body before it reads, or a system
//! that drops received data on a reset, never sees the answer. So when the session closing such
//! a client asked for it (`drain_wanted`), the connection **drains** instead of closing once
//! everything queued for the client has left our pipes: it shuts its sending side down (the
//! client sees the end of the answer), then reads and drops whatever arrives, at most
//! [`DRAIN_READ_BUDGET`] per turn of the loop, until the client ends its input, an error, or a
//! deadline: [`DRAIN_IDLE`] without a byte or [`DRAIN_TOTAL`] in all. The deadlines of every
//! draining connection sit in one heap in the core, looked at only at its top, like the session
//! timers. A connection whose session closes normally, with nothing unread, closes at once as
//! before.

use std::cmp::Reverse;
use std::io::IoSlice;
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd};
use std::time::Instant;

use nix::errno::Errno;
use nix::sys::epoll::EpollFlags;
use nix::sys::socket::{self, MsgFlags, SockaddrStorage};
use socket2::Socket;

use crate::buffer::BufferList;
use crate::constants::{
    DRAIN_IDLE, DRAIN_READ_BUDGET, DRAIN_TOTAL, MAX_SEND_SLICES, READ_CHUNK_SIZE,
};
use crate::core::{ConnectionId, Core, EventId, ListenerId, SessionId};
use crate::event_loop::Target;
use crate::pipe::{self, End, Owner, Side};
use crate::profile::{Output, Reply, Trigger};

/// One connected socket and its state.
pub struct Connection {
    socket: Socket,
    /// The listener that accepted it; `None` for an upstream connection.
    pub(crate) listener: Option<ListenerId>,
    /// The address of the other side.
    pub(crate) peer: Option<SocketAddr>,
    /// Receiving side: feeds a pipe (stage 10 on).
    pub(crate) source: End,
    /// Sending side: drains a pipe (stage 10 on).
    pub(crate) sink: End,
    /// Replies waiting to be sent (stages 8-9 only).
    out: BufferList,
    /// Stage 9: the socket may have bytes to read (set by EPOLLIN, cleared by `EAGAIN`).
    read_ready: bool,
    /// Stage 9: the socket may accept bytes (set by EPOLLOUT, cleared by `EAGAIN`).
    write_ready: bool,
    /// Stage 9: the connection is on the core's ready list (see [`handle_connections`]).
    queued: bool,
    /// An upstream whose non-blocking connect has not finished yet: set by
    /// [`upstream::connect`](crate::upstream::connect), cleared by the first EPOLLOUT (the
    /// connect succeeded). An error or hang-up while it is set means the connect failed, and
    /// the session hears it as such (nothing was sent to that upstream, so a load balancer may
    /// try another one).
    pub(crate) connecting: bool,
    event: EventId,
    /// How this connection is getting on, for the timeouts of stage 21 (see [`Progress`]).
    pub(crate) progress: Progress,
    /// A session that has finished with this client but still watches it until everything
    /// queued for it has left (see `session::settle`); forgotten with the connection.
    pub(crate) lingering: Option<SessionId>,
    /// The client may still be sending bytes nobody will read: once both ends are done, drain
    /// rather than close (set by the session that closes it; see the module docs).
    pub(crate) drain_wanted: bool,
    /// Set while the connection drains: its deadlines.
    draining: Option<Drain>,
    /// The peer has ended its input (`recv` returned 0): there is nothing left to drain.
    input_ended: bool,
    /// Our sending side is shut down (the peer has been sent FIN).
    write_shut: bool,
}

/// The deadlines of a draining connection (see the module docs).
#[derive(Clone, Copy, Debug)]
struct Drain {
    /// [`DRAIN_TOTAL`] after the drain began.
    until: Instant,
    /// [`DRAIN_IDLE`] after the last byte read (or the start).
    idle_until: Instant,
    /// On the core's list of draining connections that have more to read this turn.
    queued: bool,
}

impl Drain {
    /// When the drain ends if no byte comes.
    fn deadline(&self) -> Instant {
        self.until.min(self.idle_until)
    }
}

/// When a connection last moved bytes. A timeout asks "how long since this side did anything?",
/// which the core answers without any scan: each successful `recv` and `send` notes the time
/// (one cheap clock read), and a timer that fires compares.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// When the connection was established: at accept for a client, at the first sign of life
    /// (writable, or a byte received) for an upstream. `None` while an upstream still connects.
    pub connected_at: Option<Instant>,
    /// The last `recv` that returned bytes.
    pub last_recv: Option<Instant>,
    /// The last `send` (or `sendfile`) that the kernel took bytes from.
    pub last_send: Option<Instant>,
    /// Bytes received so far.
    pub received: u64,
}

impl Connection {
    /// The listener that accepted this connection (`None` for an upstream).
    pub fn listener(&self) -> Option<ListenerId> {
        self.listener
    }

    /// The other side's address.
    pub fn peer(&self) -> Option<SocketAddr> {
        self.peer
    }

    /// Send small writes at once (`TCP_NODELAY` on) or let Nagle's algorithm hold them back
    /// until earlier bytes are acknowledged (the default).
    pub(crate) fn set_nodelay(&self, on: bool) -> std::io::Result<()> {
        self.socket.set_nodelay(on)
    }
}

/// Wrap a connected socket (its blocking mode already set) and register it with epoll.
pub fn create(
    core: &mut Core,
    socket: Socket,
    listener: Option<ListenerId>,
    peer: Option<SocketAddr>,
) -> std::io::Result<ConnectionId> {
    let profile = core.profile;
    let mut flags = match profile.output {
        Output::BlockingSend => EpollFlags::EPOLLIN,
        Output::UnboundedList | Output::Pipe => EpollFlags::EPOLLIN | EpollFlags::EPOLLOUT,
    };
    if profile.trigger == Trigger::Edge {
        flags |= EpollFlags::EPOLLET;
    }
    let id = core.connections.insert(Connection {
        socket,
        listener,
        peer,
        source: End::default(),
        sink: End::default(),
        out: BufferList::new(),
        read_ready: false,
        write_ready: false,
        queued: false,
        connecting: false,
        event: EventId::default(),
        progress: Progress {
            // An accepted client is connected already; an upstream is only connecting.
            connected_at: listener.map(|_| Instant::now()),
            ..Progress::default()
        },
        lingering: None,
        drain_wanted: false,
        draining: None,
        input_ended: false,
        write_shut: false,
    });
    let registered = {
        let conn = &core.connections[id];
        core.event_loop
            .attach(conn.socket.as_fd(), flags, Target::Connection(id))
    };
    match registered {
        Ok(event) => {
            core.connections[id].event = event;
            crate::debug!("created connection");
            Ok(id)
        }
        Err(err) => {
            core.connections.remove(id);
            Err(err)
        }
    }
}

/// Close a connection: log why, detach its pipe ends (their peers are told by `handle_pipes`),
/// leave epoll and close the socket.
pub fn close(core: &mut Core, id: ConnectionId, peer_closed: bool) {
    if !core.connections.contains_key(id) {
        return;
    }
    match (peer_closed, core.log_connections) {
        (true, true) => crate::info!("peer closed connection"),
        (false, true) => crate::info!("closing connection"),
        (true, false) => crate::debug!("peer closed connection"),
        (false, false) => crate::debug!("closing connection"),
    }
    destroy(core, id);
}

/// Close a connection abortively: the peer gets a reset (RST) instead of an orderly end of
/// stream, and whatever is still queued for it, in our pipes or in the kernel, is dropped. For
/// a peer that must not keep anything of ours (a client that stopped reading past its send
/// timeout). Plain [`close`] is unchanged: stage 12 relies on its orderly end of stream.
pub fn reset(core: &mut Core, id: ConnectionId) {
    let Some(conn) = core.connections.get(id) else {
        return;
    };
    // SO_LINGER with a zero timeout makes close(2) send RST and free the socket at once.
    if let Err(err) = conn.socket.set_linger(Some(std::time::Duration::ZERO)) {
        crate::debug!("SO_LINGER failed: {err}");
    }
    crate::debug!("resetting connection");
    destroy(core, id);
}

fn destroy(core: &mut Core, id: ConnectionId) {
    pipe::detach(core, Owner::Connection(id), Side::Source);
    pipe::detach(core, Owner::Connection(id), Side::Sink);
    if let Some(conn) = core.connections.remove(id) {
        // The socket is closed when `conn` drops at the end of this block, which also removes it
        // from epoll.
        core.forget(conn.event);
        if let Some(session) = conn.lingering {
            crate::session::forget_lingering(core, session);
        }
        core.counters.connections_closed += 1;
        crate::debug!("destroyed connection");
    }
}

/// Bytes written to this connection's socket that the peer has not acknowledged yet (the
/// kernel's send queue, `SIOCOUTQ`). 0 if it cannot be read.
pub fn kernel_unsent(core: &Core, id: ConnectionId) -> usize {
    let Some(conn) = core.connections.get(id) else {
        return 0;
    };
    let mut queued: libc::c_int = 0;
    // SAFETY: SIOCOUTQ (TIOCOUTQ) on a socket writes one c_int through the pointer, which
    // points at a live local of exactly that type; the descriptor is owned by `conn`.
    let rc = unsafe { libc::ioctl(conn.socket.as_raw_fd(), libc::TIOCOUTQ, &mut queued) };
    if rc < 0 {
        return 0;
    }
    usize::try_from(queued).unwrap_or(0)
}

/// Bytes queued for this connection that its peer has not received: those still in the pipe
/// towards it plus the kernel's send queue ([`kernel_unsent`]).
pub fn unsent(core: &Core, id: ConnectionId) -> usize {
    let Some(conn) = core.connections.get(id) else {
        return 0;
    };
    let in_pipe = conn
        .sink
        .pipe
        .and_then(|p| core.pipes.get(p))
        .map_or(0, |p| p.len());
    in_pipe + kernel_unsent(core, id)
}

/// How the connection is getting on (`None` once it is gone).
pub fn progress(core: &Core, id: ConnectionId) -> Option<Progress> {
    core.connections.get(id).map(|c| c.progress)
}

/// An epoll event for this connection.
pub fn on_event(core: &mut Core, id: ConnectionId, flags: EpollFlags) {
    let profile = core.profile;
    let input = flags.contains(EpollFlags::EPOLLIN);
    let hangup = flags.contains(EpollFlags::EPOLLHUP);
    // An error, or a hang-up with nothing left to read, ends the connection. A hang-up that
    // comes with EPOLLIN still has bytes to read first; `recv` will then return 0. So does an
    // error on an established upstream in the pipe stages: an upstream that sends its last
    // bytes and then resets (RST) leaves those bytes readable before `recv` reports
    // ECONNRESET, and the proxy must pass them on rather than drop them (a partial answer is
    // better than a 502). Its source always feeds the client's pipe, so the read happens.
    // A client that resets is closed at once, as before: nobody waits for its bytes.
    let established_upstream = core
        .connections
        .get(id)
        .is_some_and(|c| c.listener.is_none() && !c.connecting && c.source.pipe.is_some());
    let read_first = input && established_upstream && profile.output == Output::Pipe;
    if (flags.contains(EpollFlags::EPOLLERR) && !read_first) || (hangup && !input) {
        crate::debug!("EVENT / close");
        if let Some(conn) = core.connections.get(id).filter(|c| c.connecting) {
            // The connect itself failed: say why (ECONNREFUSED, EHOSTUNREACH, ...) to the
            // session waiting for this upstream before the close tells it that it is gone.
            let error = match conn.socket.take_error() {
                Ok(Some(error)) => error,
                _ => std::io::Error::new(
                    std::io::ErrorKind::ConnectionAborted,
                    "the connection ended before it was established",
                ),
            };
            crate::session::upstream_connect_failed(core, id, error);
        }
        close(core, id, true);
        return;
    }
    if core
        .connections
        .get(id)
        .is_some_and(|c| c.draining.is_some())
    {
        // Nothing goes out any more; whatever comes in is dropped.
        if input || hangup {
            drain_input(core, id);
        }
        return;
    }
    let output = flags.contains(EpollFlags::EPOLLOUT);
    match (profile.output, profile.trigger) {
        // Stages 6-8: do the I/O right here, as the event says.
        (Output::BlockingSend, _) | (Output::UnboundedList, Trigger::Level) => {
            if input || hangup {
                crate::debug!("EVENT / read");
                read_and_reply(core, id);
            }
            if output && core.connections.contains_key(id) {
                send_queued(core, id);
            }
        }
        // Stage 9: only remember; handle_connections does the I/O.
        (Output::UnboundedList, Trigger::Edge) => {
            if let Some(conn) = core.connections.get_mut(id) {
                conn.read_ready |= input || hangup;
                conn.write_ready |= output;
            }
            wake(core, id);
        }
        // Stage 10 on: only remember, on the pipe ends; handle_pipes does the I/O.
        (Output::Pipe, _) => {
            let me = Owner::Connection(id);
            if input || hangup {
                if let Some(end) = core.end_mut(me, Side::Source) {
                    end.ready = true;
                }
                pipe::wake_end(core, me, Side::Source);
            }
            if output {
                if let Some(conn) = core.connections.get_mut(id) {
                    // The first EPOLLOUT of an upstream says its connect completed.
                    conn.progress.connected_at.get_or_insert_with(Instant::now);
                }
                if let Some(end) = core.end_mut(me, Side::Sink) {
                    end.ready = true;
                }
                pipe::wake_end(core, me, Side::Sink);
                let connected = core
                    .connections
                    .get_mut(id)
                    .is_some_and(|c| std::mem::take(&mut c.connecting));
                if connected {
                    crate::session::upstream_connected(core, id);
                }
            }
        }
    }
}

/// Stages 6-9: receive one chunk and reply to it, by blocking send (6-7) or by queueing it.
/// Returns false once the connection is gone or has nothing more to read right now.
fn read_and_reply(core: &mut Core, id: ConnectionId) -> bool {
    let Some(conn) = core.connections.get(id) else {
        return false;
    };
    let fd = conn.socket.as_raw_fd();
    let received = socket::recv(
        fd,
        &mut core.read_buffer[..READ_CHUNK_SIZE],
        MsgFlags::empty(),
    );
    let n = match received {
        Ok(0) => {
            close(core, id, true);
            return false;
        }
        Ok(n) => n,
        Err(Errno::EAGAIN) => {
            if let Some(conn) = core.connections.get_mut(id) {
                conn.read_ready = false;
            }
            return false;
        }
        Err(Errno::EINTR) => return true,
        Err(err) => {
            crate::error!("recv failed: {err}");
            close(core, id, false);
            return false;
        }
    };
    core.counters.bytes_received += n as u64;
    let mut reply = core.read_buffer[..n].to_vec();
    if core.profile.reply == Reply::Reverse {
        phase0::reverse(&mut reply);
    }
    if core.profile.output == Output::BlockingSend {
        // The course prints each message in stages 6-7 (and only there: it is a hot path).
        crate::info!("client: {}", preview(&core.read_buffer[..n]));
        if let Err(err) = send_all(fd, &reply) {
            crate::error!("send failed: {err}");
            close(core, id, false);
            return false;
        }
    } else if let Some(conn) = core.connections.get_mut(id) {
        conn.out.push(reply);
    }
    true
}

/// Stages 6-7: send every byte, waiting as long as the kernel makes us. This is the freeze:
/// a peer that never reads blocks the whole server here. SIGINT still gets through (EINTR).
fn send_all(fd: i32, mut bytes: &[u8]) -> Result<(), Errno> {
    while !bytes.is_empty() {
        match socket::send(fd, bytes, MsgFlags::MSG_NOSIGNAL) {
            Ok(n) => bytes = &bytes[n..],
            Err(Errno::EINTR) if crate::shutdown::requested() => return Err(Errno::EINTR),
            Err(Errno::EINTR) => {}
            Err(err) => return Err(err),
        }
    }
    Ok(())
}

/// Stages 8-9: send as much of the queued replies as the kernel takes now.
fn send_queued(core: &mut Core, id: ConnectionId) {
    let Some(conn) = core.connections.get(id) else {
        return;
    };
    if conn.out.is_empty() {
        // Level-triggered EPOLLOUT lands here on every loop iteration of an idle connection.
        return;
    }
    match send_list(conn.socket.as_raw_fd(), &conn.out) {
        Ok(n) => {
            if let Some(conn) = core.connections.get_mut(id) {
                conn.out.consume(n);
            }
        }
        Err(Errno::EAGAIN) => {
            if let Some(conn) = core.connections.get_mut(id) {
                conn.write_ready = false;
            }
        }
        Err(Errno::EINTR) => {}
        Err(err) => {
            crate::debug!("send failed: {err}");
            close(core, id, true);
        }
    }
}

/// One vectored, non-signalling send of the front of `list`.
fn send_list(fd: i32, list: &BufferList) -> Result<usize, Errno> {
    let mut slices = [IoSlice::new(&[]); MAX_SEND_SLICES];
    let count = list.io_slices(&mut slices);
    socket::sendmsg::<SockaddrStorage>(fd, &slices[..count], &[], MsgFlags::MSG_NOSIGNAL, None)
}

/// Stage 9: put a connection on the core's ready list (once), because its remembered readiness
/// may let it make progress.
fn wake(core: &mut Core, id: ConnectionId) {
    if let Some(conn) = core.connections.get_mut(id) {
        if !conn.queued {
            conn.queued = true;
            core.ready_connections.push(id);
        }
    }
}

/// Stage 9: whether remembered readiness lets the connection make progress now.
fn has_work(conn: &Connection) -> bool {
    conn.read_ready || (conn.write_ready && !conn.out.is_empty())
}

/// Stage 9: give every connection on the ready list one read and one write, from its
/// remembered readiness; a connection that can still make progress stays listed. Returns true
/// when the list is not empty (so epoll must not block). Like the pipes from stage 10, only the
/// connections an event touched are visited, never every open one.
pub fn handle_connections(core: &mut Core) -> bool {
    let mut ids = std::mem::take(&mut core.connection_scratch);
    ids.clear();
    std::mem::swap(&mut ids, &mut core.ready_connections);
    for &id in &ids {
        if let Some(conn) = core.connections.get_mut(id) {
            conn.queued = false;
        }
    }
    for &id in &ids {
        if core.connections.get(id).is_some_and(|c| c.read_ready) {
            read_and_reply(core, id);
        }
        if core
            .connections
            .get(id)
            .is_some_and(|c| c.write_ready && !c.out.is_empty())
        {
            send_queued(core, id);
        }
        if core.connections.get(id).is_some_and(has_work) {
            wake(core, id);
        }
    }
    core.connection_scratch = ids;
    !core.ready_connections.is_empty()
}

/// Stage 10 on: the pipe has room and the socket may have bytes: receive one chunk, no more
/// than the room left below the pipe's threshold.
pub fn on_source_ready(core: &mut Core, id: ConnectionId) {
    let Some(conn) = core.connections.get(id) else {
        return;
    };
    let Some(pipe_id) = conn.source.pipe else {
        return;
    };
    let room = core.pipes.get(pipe_id).map_or(0, |p| p.room());
    let want = room.min(READ_CHUNK_SIZE);
    if want == 0 {
        return;
    }
    let fd = conn.socket.as_raw_fd();
    match socket::recv(fd, &mut core.read_buffer[..want], MsgFlags::empty()) {
        Ok(0) => {
            // The peer will send nothing more. Stop receiving; keep sending what it is owed.
            crate::debug!("peer finished sending");
            pipe::detach(core, Owner::Connection(id), Side::Source);
            let both_done = core.connections.get_mut(id).is_some_and(|c| {
                c.input_ended = true;
                c.source.active = false;
                !c.sink.active
            });
            if both_done {
                close(core, id, true);
            }
        }
        Ok(n) => {
            core.counters.bytes_received += n as u64;
            count_client_traffic(core, id, n, 0);
            if let Some(conn) = core.connections.get_mut(id) {
                let now = Instant::now();
                conn.progress.last_recv = Some(now);
                conn.progress.received += n as u64;
                conn.progress.connected_at.get_or_insert(now);
            }
            let bytes = core.read_buffer[..n].to_vec();
            pipe::write(core, pipe_id, bytes);
        }
        Err(Errno::EAGAIN) => {
            if let Some(conn) = core.connections.get_mut(id) {
                conn.source.ready = false;
            }
        }
        Err(Errno::EINTR) => {}
        Err(err) => {
            crate::debug!("recv failed: {err}");
            close(core, id, true);
        }
    }
}

/// Stage 10 on: the pipe has bytes and the socket may take some: send as many as it takes,
/// straight from the pipe's chunks (a file region at the front goes out with `sendfile`).
pub fn on_sink_ready(core: &mut Core, id: ConnectionId) {
    let Some(conn) = core.connections.get(id) else {
        return;
    };
    let Some(pipe_id) = conn.sink.pipe else {
        return;
    };
    let Some(pipe) = core.pipes.get(pipe_id) else {
        return;
    };
    let sent = match pipe.buffer().front_region() {
        Some(region) => send_region(conn.socket.as_fd(), region),
        None => send_list(conn.socket.as_raw_fd(), pipe.buffer()),
    };
    match sent {
        Ok(0) if pipe.buffer().front_region().is_some() => {
            // sendfile found the file shorter than the region: the file shrank after its
            // length was announced. The peer can no longer get what it was promised, and
            // anything sent after would be taken for part of this body: end the connection.
            crate::warn!("file shrank while being sent; closing the connection");
            reset(core, id);
        }
        Ok(n) => {
            core.counters.bytes_sent += n as u64;
            count_client_traffic(core, id, 0, n);
            if n > 0 {
                if let Some(conn) = core.connections.get_mut(id) {
                    conn.progress.last_send = Some(Instant::now());
                }
            }
            pipe::consume(core, pipe_id, n);
        }
        Err(Errno::EAGAIN) => {
            if let Some(conn) = core.connections.get_mut(id) {
                conn.sink.ready = false;
            }
        }
        Err(Errno::EINTR) => {}
        Err(err) => {
            // EPIPE or ECONNRESET: the peer is gone (or the file cannot be read).
            crate::debug!("send failed: {err}");
            close(core, id, true);
        }
    }
}

/// Send (part of) a file region with `sendfile(2)`: the kernel copies from the page cache to
/// the socket, the bytes never enter our memory. Returns 0 if the file ends before the region.
fn send_region(
    socket: std::os::fd::BorrowedFd<'_>,
    region: &crate::buffer::FileRegion,
) -> Result<usize, Errno> {
    let mut offset = libc::off_t::try_from(region.offset).map_err(|_| Errno::EOVERFLOW)?;
    // One call sends at most the pipe threshold's worth, like one turn of the byte path.
    let count = region.len.min(crate::constants::PIPE_THRESHOLD);
    nix::sys::sendfile::sendfile(socket, region.file.as_fd(), Some(&mut offset), count)
}

/// Nobody takes what this connection receives any more.
pub fn on_source_closed(core: &mut Core, id: ConnectionId) {
    pipe::detach(core, Owner::Connection(id), Side::Source);
    if core.connections.get(id).is_some_and(|c| !c.sink.active) {
        finish(core, id);
    }
}

/// Nothing more will ever be sent on this connection: every byte has gone out.
pub fn on_sink_closed(core: &mut Core, id: ConnectionId) {
    pipe::detach(core, Owner::Connection(id), Side::Sink);
    let Some(conn) = core.connections.get(id) else {
        return;
    };
    if conn.source.active {
        // Tell the peer we are done, and keep receiving until it is done too.
        shut_write(core, id);
    } else {
        finish(core, id);
    }
}

/// Both ends are done: close, or drain first if the client may still be sending.
fn finish(core: &mut Core, id: ConnectionId) {
    let drain = core
        .connections
        .get(id)
        .is_some_and(|c| c.drain_wanted && !c.input_ended);
    if drain {
        start_drain(core, id);
    } else {
        close(core, id, false);
    }
}

/// Shut our sending side down (once): the peer reads to the end of what we sent, then sees
/// end-of-stream.
fn shut_write(core: &mut Core, id: ConnectionId) {
    let Some(conn) = core.connections.get_mut(id) else {
        return;
    };
    if std::mem::replace(&mut conn.write_shut, true) {
        return;
    }
    if let Err(err) = socket::shutdown(conn.socket.as_raw_fd(), socket::Shutdown::Write) {
        crate::debug!("shutdown failed: {err}");
    }
}

/// Begin the lingering close (see the module docs): FIN to the client, then read and drop.
fn start_drain(core: &mut Core, id: ConnectionId) {
    shut_write(core, id);
    let now = Instant::now();
    let drain = Drain {
        until: now + DRAIN_TOTAL,
        idle_until: now + DRAIN_IDLE,
        queued: false,
    };
    let Some(conn) = core.connections.get_mut(id) else {
        return;
    };
    conn.draining = Some(drain);
    core.drains.push(Reverse((drain.deadline(), id)));
    crate::debug!("draining the client's input before closing");
    // Bytes may be waiting already, and an edge-triggered epoll will not announce them again.
    drain_input(core, id);
}

/// Read and drop what a draining client sent, at most [`DRAIN_READ_BUDGET`] this turn; close
/// it once it has ended its input (or on an error).
fn drain_input(core: &mut Core, id: ConnectionId) {
    let mut budget = DRAIN_READ_BUDGET;
    while budget > 0 {
        let Some(conn) = core.connections.get(id) else {
            return;
        };
        let fd = conn.socket.as_raw_fd();
        let want = budget.min(core.read_buffer.len());
        match socket::recv(fd, &mut core.read_buffer[..want], MsgFlags::empty()) {
            Ok(0) => {
                close(core, id, true);
                return;
            }
            Ok(n) => {
                budget -= n;
                core.counters.bytes_received += n as u64;
                count_client_traffic(core, id, n, 0);
                if let Some(drain) = core
                    .connections
                    .get_mut(id)
                    .and_then(|c| c.draining.as_mut())
                {
                    drain.idle_until = Instant::now() + DRAIN_IDLE;
                }
            }
            Err(Errno::EAGAIN) => return,
            Err(Errno::EINTR) => {}
            Err(err) => {
                crate::debug!("recv failed while draining: {err}");
                close(core, id, true);
                return;
            }
        }
    }
    // The budget is spent and more may be waiting: come back next turn.
    if let Some(drain) = core
        .connections
        .get_mut(id)
        .and_then(|c| c.draining.as_mut())
    {
        if !std::mem::replace(&mut drain.queued, true) {
            core.draining_ready.push(id);
        }
    }
}

/// Give every draining connection that spent its budget last turn another turn of reading.
/// Returns true when some still have more (so the loop must not block).
pub fn handle_draining(core: &mut Core) -> bool {
    if core.draining_ready.is_empty() {
        return false;
    }
    let ids = std::mem::take(&mut core.draining_ready);
    for &id in &ids {
        if let Some(drain) = core
            .connections
            .get_mut(id)
            .and_then(|c| c.draining.as_mut())
        {
            drain.queued = false;
            drain_input(core, id);
        }
    }
    !core.draining_ready.is_empty()
}

/// The earliest drain deadline, if a connection drains (it may be one that has been pushed
/// back since: waking for it early only costs a look).
pub(crate) fn next_drain_deadline(core: &Core) -> Option<Instant> {
    core.drains.peek().map(|Reverse((at, _))| *at)
}

/// Close every draining connection whose time is up. An entry whose connection read a byte
/// since goes back into the heap for its new deadline; one whose connection is gone is dropped.
pub(crate) fn close_expired_drains(core: &mut Core) {
    if core.drains.is_empty() {
        return; // the usual case: no clock read on every loop turn for nothing
    }
    let now = Instant::now();
    while let Some(&Reverse((at, id))) = core.drains.peek() {
        if at > now {
            break;
        }
        core.drains.pop();
        let Some(drain) = core.connections.get(id).and_then(|c| c.draining) else {
            continue;
        };
        let due = drain.deadline();
        if due > now {
            core.drains.push(Reverse((due, id)));
        } else {
            crate::debug!("drain time is up");
            close(core, id, false);
        }
    }
}

/// At most 80 characters of a message, printable, for the stage 6-7 log line.
fn preview(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out: String = text
        .trim_end_matches('\n')
        .chars()
        .take(80)
        .map(|c| if c.is_control() { '.' } else { c })
        .collect();
    if text.chars().count() > 81 {
        out.push_str("...");
    }
    out
}

/// Stage 22: add a client connection's bytes to the shared [`crate::core::ClientTraffic`], if
/// the core has one (upstream connections are not counted there).
fn count_client_traffic(core: &Core, id: ConnectionId, received: usize, sent: usize) {
    let Some(traffic) = &core.client_traffic else {
        return;
    };
    if core
        .connections
        .get(id)
        .is_some_and(|c| c.listener.is_some())
    {
        use std::sync::atomic::Ordering::Relaxed;
        if received > 0 {
            traffic.received.fetch_add(received as u64, Relaxed);
        }
        if sent > 0 {
            traffic.sent.fetch_add(sent as u64, Relaxed);
        }
    }
}
