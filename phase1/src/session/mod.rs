//! Sessions: the node between a client and whatever serves it.
//!
//! Up to stage 12 the listener joins a client straight to its peer: to itself (echo), to an
//! upstream, to a file. Stage 13 puts a **session** in the middle of every client, and from then
//! on everything the server does with a client is the session's business:
//!
//! ```text
//!                client_sink          upstream_source
//!   client ──pipe──▶ ┌─────────┐ ──pipe──▶ upstream
//!          ◀──pipe── │ session │ ◀──pipe──
//!                client_source  ▲     upstream_sink
//!                               └──pipe── file   (file_sink)
//! ```
//!
//! Each of the five ends is named after the peer it faces, as in the course. The session
//! *moves* whole chunks between pipes (no copies), and its ready flags form the course's little
//! state machine: when the pipe towards the client is full, the ends that feed it stop being
//! ready and `client_source` becomes ready, to be called back once the client has drained some.
//!
//! # The extension point
//!
//! What the session does is decided by a [`SessionHandler`], one per client, made by the
//! listener's [`SessionFactory`]. The handler sees the client's bytes
//! ([`SessionHandler::on_client_data`], returning how many it consumed) and acts through a
//! [`SessionCtx`]: [`send`](SessionCtx::send) a few bytes, [`send_file`](SessionCtx::send_file)
//! an open file, [`proxy`](SessionCtx::proxy) to an upstream, [`close`](SessionCtx::close)
//! after flushing, [`abort`](SessionCtx::abort), [`reset`](SessionCtx::reset),
//! [`set_timer`](SessionCtx::set_timer) (one independent timer per [`TimerKind`]),
//! [`send_source`](SessionCtx::send_source) for a body that is not a plain file,
//! [`resume_input`](SessionCtx::resume_input) to be offered bytes it left waiting (the next
//! pipelined request, once a response has finished), and
//! [`set_nodelay`](SessionCtx::set_nodelay) for a connection that carries answer after answer,
//! and [`drain_on_close`](SessionCtx::drain_on_close) when the client may still be sending what
//! will never be read (its connection then ends with a lingering close).
//! Stage 13's own handlers are in [`builtin`]; phase 2's HTTP session is another handler.
//!
//! ```no_run
//! use phase1::{ClientInfo, Core, PortRole, SessionCtx, SessionHandler, StageProfile};
//!
//! /// Answers the first request head with a fixed response, then closes.
//! struct Hello;
//!
//! impl SessionHandler for Hello {
//!     fn on_client_data(&mut self, ctx: &mut SessionCtx<'_>, data: &[u8]) -> usize {
//!         let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") else {
//!             return 0; // incomplete: keep the bytes, call again when more arrive
//!         };
//!         ctx.send("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nhi\n");
//!         ctx.close(); // after the response has been flushed
//!         end + 4
//!     }
//! }
//!
//! let mut core = Core::new(StageProfile::PIPES)?;
//! core.listen(
//!     "0.0.0.0:8001".parse().unwrap(),
//!     PortRole::session(|_: &ClientInfo| Box::new(Hello) as Box<dyn SessionHandler>),
//! )?;
//! core.run()?;
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # When a session ends
//!
//! A session is destroyed when it is closing and nothing more will be queued (no file left to
//! read), or at once when the client can no longer receive. It never destroys the client, the
//! upstream or the file itself: it detaches its ends, and each of them learns through the pipe
//! close rules, the client only after every queued byte has been sent.

pub mod builtin;
mod handler;

use std::time::Instant;

pub use handler::{
    ClientInfo, SessionCtx, SessionError, SessionFactory, SessionHandler, SessionProgress,
};

use crate::connection;
use crate::core::{ConnectionId, Core, FileId, PipeId, SessionId};
use crate::pipe::{self, End, Owner, Role, Side};
use crate::timer::{SessionTimers, TimerOwners};

/// Where the client's bytes go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Input {
    /// To the handler's `on_client_data`.
    Handler,
    /// Raw to the upstream.
    Relay,
    /// Nowhere: read and dropped (closing, or the upstream is gone).
    Ignore,
}

/// How many of the upstream's first bytes a session keeps: enough for `HTTP/1.1 200`.
pub const UPSTREAM_HEAD_KEPT: usize = 16;

/// One client's session.
pub struct Session {
    pub(crate) client: ConnectionId,
    info: ClientInfo,
    handler: Option<Box<dyn SessionHandler>>,
    pub(crate) input: Input,
    pub(crate) upstream: Option<ConnectionId>,
    /// Bytes received from the current upstream: zero when it closes means it failed.
    pub(crate) upstream_bytes: u64,
    /// The current upstream's connect has succeeded (its first EPOLLOUT). Until then the
    /// client's bytes wait in the client pipe, so that if the connect fails they are still
    /// there for the next upstream the handler picks.
    pub(crate) upstream_connected: bool,
    /// Why the current upstream's connect failed, kept for `on_upstream_connect_failed`.
    pub(crate) upstream_error: Option<std::io::Error>,
    /// The first bytes the upstream sent (at most [`UPSTREAM_HEAD_KEPT`]), so the HTTP session
    /// can read the status it relayed (stage 22's metrics and access log).
    pub(crate) upstream_head: Vec<u8>,
    pub(crate) file: Option<FileId>,
    /// Relayed client bytes pass through the handler's `on_relay` ([`SessionCtx::frame_relay`]).
    pub(crate) framed_relay: bool,
    pub(crate) closing: bool,
    /// Finished, detached from every pipe, but kept while its send timer watches the client
    /// take what is still queued for it (see [`settle`]).
    pub(crate) lingering: bool,
    pub(crate) aborting: bool,
    /// When it closes, the client may still be sending what nobody will read (a body answered
    /// before it was read): its connection drains instead of closing at once
    /// ([`SessionCtx::drain_on_close`]).
    pub(crate) drain_client: bool,
    /// Close with a reset (RST) rather than an orderly end of stream.
    pub(crate) resetting: bool,
    /// The file being streamed could not deliver what was announced.
    pub(crate) file_failed: bool,
    pub(crate) bytes_to_client: u64,
    pub(crate) timers: SessionTimers,
    /// Writes to the client.
    pub(crate) client_source: End,
    /// Reads from the client.
    pub(crate) client_sink: End,
    /// Writes to the upstream.
    pub(crate) upstream_source: End,
    /// Reads from the upstream.
    pub(crate) upstream_sink: End,
    /// Reads from the file.
    pub(crate) file_sink: End,
}

impl Session {
    pub(crate) fn end_mut(&mut self, role: Role, side: Side) -> Option<&mut End> {
        match (role, side) {
            (Role::Client, Side::Source) => Some(&mut self.client_source),
            (Role::Client, Side::Sink) => Some(&mut self.client_sink),
            (Role::Upstream, Side::Source) => Some(&mut self.upstream_source),
            (Role::Upstream, Side::Sink) => Some(&mut self.upstream_sink),
            (Role::File, Side::Sink) => Some(&mut self.file_sink),
            (Role::File, Side::Source) => None,
        }
    }

    /// Who the client is.
    pub fn client_info(&self) -> &ClientInfo {
        &self.info
    }
}

impl TimerOwners for slotmap::SlotMap<SessionId, Session> {
    fn timers_of(&mut self, session: SessionId) -> Option<&mut SessionTimers> {
        self.get_mut(session).map(|s| &mut s.timers)
    }
}

/// Put a session between `client` and whatever `handler` decides. Both client pipes are
/// created here; then the handler's `on_start` runs.
pub fn create(
    core: &mut Core,
    client: ConnectionId,
    info: ClientInfo,
    handler: Box<dyn SessionHandler>,
) -> Option<SessionId> {
    let ready = End {
        ready: true,
        ..End::default()
    };
    let id = core.sessions.insert(Session {
        client,
        info,
        handler: Some(handler),
        input: Input::Handler,
        upstream: None,
        upstream_bytes: 0,
        upstream_connected: false,
        upstream_error: None,
        upstream_head: Vec::new(),
        file: None,
        framed_relay: false,
        closing: false,
        lingering: false,
        aborting: false,
        drain_client: false,
        resetting: false,
        file_failed: false,
        bytes_to_client: 0,
        timers: SessionTimers::default(),
        client_source: End::default(),
        client_sink: ready,
        upstream_source: End::default(),
        upstream_sink: ready,
        file_sink: ready,
    });
    let (ours, theirs) = (Owner::Session(id, Role::Client), Owner::Connection(client));
    let from_client = pipe::create(core, theirs, ours, core.pipe_threshold);
    let to_client = pipe::create(core, ours, theirs, core.pipe_threshold);
    if from_client.is_none() || to_client.is_none() {
        crate::error!("could not connect the session to its client");
        destroy(core, id);
        connection::close(core, client, false);
        return None;
    }
    crate::debug!("created session");
    with_handler(core, id, |handler, ctx| handler.on_start(ctx));
    Some(id)
}

/// Detach all five ends and forget the session. The client, upstream and file find out
/// through their pipes.
fn destroy(core: &mut Core, id: SessionId) {
    for role in [Role::Client, Role::Upstream, Role::File] {
        for side in [Side::Source, Side::Sink] {
            pipe::detach(core, Owner::Session(id, role), side);
        }
    }
    if let Some(session) = core.sessions.remove(id) {
        crate::debug!("destroyed session");
        match session.handler {
            Some(mut handler) => handler.on_end(session.bytes_to_client),
            // The handler is out for a call (`with_handler`), which tells it once it returns.
            None => core.ended_session = Some((id, session.bytes_to_client)),
        }
    }
}

/// Call the handler with a context. The handler is taken out of the session for the call (so
/// the context may borrow the whole core), put back afterwards, and then whatever the handler
/// asked for (close, abort) is carried out.
fn with_handler(
    core: &mut Core,
    id: SessionId,
    call: impl FnOnce(&mut dyn SessionHandler, &mut SessionCtx<'_>),
) {
    let Some(session) = core.sessions.get_mut(id) else {
        return;
    };
    let Some(mut handler) = session.handler.take() else {
        return;
    };
    let info = session.info;
    call(handler.as_mut(), &mut SessionCtx { core, id, info });
    if let Some(session) = core.sessions.get_mut(id) {
        session.handler = Some(handler);
    } else if let Some((ended, bytes)) = core.ended_session.take() {
        if ended == id {
            handler.on_end(bytes);
        }
    }
    // Whatever the handler did may have changed any of the session's pipes.
    pipe::wake_owner(core, Owner::Session(id, Role::Client));
    settle(core, id);
}

/// Carry out an abort, or finish a close once nothing more will be queued for the client.
///
/// # Lingering
///
/// A session that has queued its last byte normally goes at once: its pipes close behind the
/// bytes and the client connection closes when they have left. But a client that stopped reading
/// would then hold its connection, and what is queued for it, for ever, with nobody left to time
/// it out. So a session whose handler armed a [`TimerKind::Send`](crate::TimerKind::Send) timer
/// *lingers* instead: it lets go of every pipe (so the close proceeds exactly as before) but
/// stays in the core's map with its timers, its handler and the id of its client. Its timer can
/// then still reset the client; once no timer is armed it goes, and if the client connection
/// closes first (everything delivered) it goes with it.
fn settle(core: &mut Core, id: SessionId) {
    let Some(session) = core.sessions.get(id) else {
        return;
    };
    if session.aborting {
        let (client, reset) = (session.client, session.resetting);
        forget_lingering_of(core, client);
        destroy(core, id);
        if reset {
            connection::reset(core, client);
        } else {
            connection::close(core, client, false);
        }
    } else if session.closing && session.file.is_none() {
        let watched = session.timers.get(crate::TimerKind::Send).is_some();
        let client = session.client;
        if session.lingering && !watched {
            destroy(core, id);
        } else if !session.lingering {
            want_drain(core, id, client);
            if watched && core.connections.contains_key(client) {
                linger(core, id, client);
            } else {
                destroy(core, id);
            }
        }
    }
}

/// A closing session lets go of its client: if the handler said the client may still be sending
/// ([`SessionCtx::drain_on_close`]), or the client sent bytes the handler never consumed (a
/// body, requests pipelined behind the last answer), its connection drains before it closes,
/// so that the unread bytes do not turn the close into a reset (see `connection.rs`).
fn want_drain(core: &mut Core, id: SessionId, client: ConnectionId) {
    let Some(session) = core.sessions.get(id) else {
        return;
    };
    let unread = session
        .client_sink
        .pipe
        .and_then(|p| core.pipes.get(p))
        .is_some_and(|p| !p.is_empty());
    if session.drain_client || unread {
        if let Some(conn) = core.connections.get_mut(client) {
            conn.drain_wanted = true;
        }
    }
}

/// Let go of every pipe but stay, watching the client (see [`settle`]).
fn linger(core: &mut Core, id: SessionId, client: ConnectionId) {
    for role in [Role::Client, Role::Upstream, Role::File] {
        for side in [Side::Source, Side::Sink] {
            pipe::detach(core, Owner::Session(id, role), side);
        }
    }
    if let Some(session) = core.sessions.get_mut(id) {
        session.lingering = true;
        session.input = Input::Ignore;
        session.upstream = None;
    }
    if let Some(conn) = core.connections.get_mut(client) {
        conn.lingering = Some(id);
    }
    crate::debug!("session lingers until its client has taken everything");
}

/// The client of a lingering session closed: the session has nothing left to watch.
pub(crate) fn forget_lingering(core: &mut Core, id: SessionId) {
    if core.sessions.get(id).is_some_and(|s| s.lingering) {
        if let Some(session) = core.sessions.remove(id) {
            if let Some(mut handler) = session.handler {
                handler.on_end(session.bytes_to_client);
            }
        }
        crate::debug!("destroyed lingering session");
    }
}

/// The client is about to be closed by its session: it no longer points at it.
fn forget_lingering_of(core: &mut Core, client: ConnectionId) {
    if let Some(conn) = core.connections.get_mut(client) {
        conn.lingering = None;
    }
}

fn pipe_of(core: &Core, id: SessionId, pick: fn(&Session) -> &End) -> Option<PipeId> {
    core.sessions.get(id).and_then(|s| pick(s).pipe)
}

/// A session sink's pipe has bytes and the session can take them.
pub(crate) fn on_sink_ready(core: &mut Core, id: SessionId, role: Role) {
    match role {
        Role::Client => client_input(core, id),
        Role::Upstream => toward_client(core, id, Role::Upstream),
        Role::File => toward_client(core, id, Role::File),
    }
}

/// A session source's pipe has room again: let the ends that feed it run.
pub(crate) fn on_source_ready(core: &mut Core, id: SessionId, role: Role) {
    let Some(session) = core.sessions.get_mut(id) else {
        return;
    };
    match role {
        Role::Client => {
            session.client_source.ready = false;
            session.upstream_sink.ready = true;
            session.file_sink.ready = true;
        }
        Role::Upstream => {
            session.upstream_source.ready = false;
            session.client_sink.ready = true;
        }
        Role::File => {}
    }
    pipe::wake_owner(core, Owner::Session(id, role));
}

/// Client bytes: to the handler, to the upstream, or nowhere.
fn client_input(core: &mut Core, id: SessionId) {
    let Some(session) = core.sessions.get(id) else {
        return;
    };
    let input = session.input;
    let Some(from) = session.client_sink.pipe else {
        return;
    };
    match input {
        Input::Handler => {
            let Some(pipe) = core.pipes.get_mut(from) else {
                return;
            };
            let mut held = pipe.take_buffer();
            let len = held.len();
            let mut consumed = 0;
            with_handler(core, id, |handler, ctx| {
                consumed = handler.on_client_data(ctx, held.make_contiguous()).min(len);
            });
            held.consume(consumed);
            let left = held.len();
            let still_handler = core
                .sessions
                .get(id)
                .is_some_and(|s| s.input == Input::Handler);
            if let Some(pipe) = core.pipes.get_mut(from) {
                pipe.restore_buffer(held);
                // Consumed nothing: wait for new bytes rather than being asked again.
                let wants = if still_handler && consumed == 0 {
                    left + 1
                } else {
                    1
                };
                pipe.set_sink_wants(wants);
            }
            pipe::wake(core, from);
        }
        Input::Relay => {
            let to = pipe_of(core, id, |s| &s.upstream_source);
            let connected = core.sessions.get(id).is_some_and(|s| s.upstream_connected);
            let Some(to) = to.filter(|_| connected) else {
                // The upstream is still connecting (or its connect failed and the handler has
                // not decided yet): hold the bytes. Not being ready (rather than leaving them
                // unconsumed) also keeps a client's end of input from being passed on before
                // them; `upstream_connected` makes the end ready again.
                if let Some(session) = core.sessions.get_mut(id) {
                    session.client_sink.ready = false;
                }
                return;
            };
            if core.sessions.get(id).is_some_and(|s| s.framed_relay) {
                return framed_relay(core, id, from, to);
            }
            let (_, full) = pipe::transfer(core, from, to);
            if full {
                if let Some(session) = core.sessions.get_mut(id) {
                    session.client_sink.ready = false;
                    session.upstream_source.ready = true;
                }
                pipe::wake_owner(core, Owner::Session(id, Role::Client));
            }
        }
        Input::Ignore => {
            let held = core.pipes.get(from).map_or(0, |p| p.len());
            pipe::consume(core, from, held);
        }
    }
}

/// The relay of [`SessionCtx::frame_relay`]: while the upstream pipe has room, offer every held
/// client byte to the handler's `on_relay` and move what it lets through (all of it, so no byte
/// is offered twice); once it lets through less than it was offered, the forwarded request has
/// ended: drop the rest and ignore the client's input from then on.
fn framed_relay(core: &mut Core, id: SessionId, from: PipeId, to: PipeId) {
    if !core.pipes.get(to).is_some_and(|p| p.is_writable()) {
        if let Some(session) = core.sessions.get_mut(id) {
            session.client_sink.ready = false;
            session.upstream_source.ready = true;
        }
        pipe::wake_owner(core, Owner::Session(id, Role::Client));
        return;
    }
    let Some(mut held) = core.pipes.get_mut(from).map(|p| p.take_buffer()) else {
        return;
    };
    let Some(mut handler) = core.sessions.get_mut(id).and_then(|s| s.handler.take()) else {
        if let Some(pipe) = core.pipes.get_mut(from) {
            pipe.restore_buffer(held);
        }
        return;
    };
    let len = held.len();
    let allowed = handler.on_relay(held.make_contiguous()).min(len);
    if let Some(session) = core.sessions.get_mut(id) {
        session.handler = Some(handler);
    }
    if allowed == len {
        while let Some(chunk) = held.pop_chunk() {
            pipe::write_chunk(core, to, chunk);
        }
    } else {
        if let Some(front) = held.copy_front(allowed).filter(|f| !f.is_empty()) {
            pipe::write(core, to, front);
        }
        held.clear();
        if let Some(session) = core.sessions.get_mut(id) {
            session.input = Input::Ignore;
            session.client_sink.ready = true;
        }
    }
    if let Some(pipe) = core.pipes.get_mut(from) {
        pipe.restore_buffer(held);
        pipe.set_sink_wants(1);
    }
    pipe::wake(core, from);
}

/// Upstream or file bytes: move them to the client pipe while it has room.
fn toward_client(core: &mut Core, id: SessionId, role: Role) {
    let pick: fn(&Session) -> &End = match role {
        Role::Upstream => |s| &s.upstream_sink,
        _ => |s| &s.file_sink,
    };
    let (Some(from), Some(to)) = (
        pipe_of(core, id, pick),
        pipe_of(core, id, |s| &s.client_source),
    ) else {
        return;
    };
    let keep_head = role == Role::Upstream
        && core
            .sessions
            .get(id)
            .is_some_and(|s| s.upstream_head.len() < UPSTREAM_HEAD_KEPT);
    let head = if keep_head {
        core.pipes.get(from).and_then(|p| {
            let buffer = p.buffer();
            buffer.copy_front(buffer.len().min(UPSTREAM_HEAD_KEPT))
        })
    } else {
        None
    };
    let (moved, full) = pipe::transfer(core, from, to);
    let Some(session) = core.sessions.get_mut(id) else {
        return;
    };
    if let Some(head) = head {
        let room = UPSTREAM_HEAD_KEPT - session.upstream_head.len();
        session
            .upstream_head
            .extend_from_slice(&head[..head.len().min(room).min(moved)]);
    }
    session.bytes_to_client += moved as u64;
    if role == Role::Upstream {
        session.upstream_bytes += moved as u64;
    }
    if full {
        if let Some(end) = session.end_mut(role, Side::Sink) {
            end.ready = false;
        }
        session.client_source.ready = true;
        pipe::wake_owner(core, Owner::Session(id, role));
    }
}

/// A pipe this session writes into lost its sink.
pub(crate) fn on_source_closed(core: &mut Core, id: SessionId, role: Role) {
    match role {
        Role::Client => {
            // The client connection is gone: nothing can reach it any more.
            crate::debug!("client gone; ending session");
            destroy(core, id);
        }
        Role::Upstream => {
            pipe::detach(core, Owner::Session(id, Role::Upstream), Side::Source);
            if let Some(session) = core.sessions.get_mut(id) {
                // An upstream that never connected took none of the client's bytes: they stay
                // for the handler's next upstream (`on_upstream_connect_failed`).
                if session.input == Input::Relay && session.upstream_connected {
                    session.input = Input::Ignore;
                    session.client_sink.ready = true;
                }
            }
            pipe::wake_owner(core, Owner::Session(id, Role::Client));
        }
        Role::File => {}
    }
}

/// A pipe this session reads from lost its source and has been drained.
pub(crate) fn on_sink_closed(core: &mut Core, id: SessionId, role: Role) {
    let Some(session) = core.sessions.get(id) else {
        return;
    };
    match role {
        Role::Client => {
            let input = session.input;
            let from = session.client_sink.pipe;
            match input {
                Input::Handler => {
                    let mut held = from
                        .and_then(|p| core.pipes.get_mut(p))
                        .map(|p| p.take_buffer())
                        .unwrap_or_default();
                    with_handler(core, id, |handler, ctx| {
                        handler.on_client_eof(ctx, held.make_contiguous());
                    });
                }
                // Pass the end of the request on: the upstream sees EOF after the last byte.
                Input::Relay => {
                    pipe::detach(core, Owner::Session(id, Role::Upstream), Side::Source)
                }
                Input::Ignore => {}
            }
            pipe::detach(core, Owner::Session(id, Role::Client), Side::Sink);
        }
        Role::Upstream => {
            let failed = session.upstream_bytes == 0;
            let connected = session.upstream_connected;
            pipe::detach(core, Owner::Session(id, Role::Upstream), Side::Source);
            pipe::detach(core, Owner::Session(id, Role::Upstream), Side::Sink);
            let mut error = None;
            if let Some(session) = core.sessions.get_mut(id) {
                session.upstream = None;
                session.upstream_connected = false;
                error = session.upstream_error.take();
                if session.input == Input::Relay && connected {
                    session.input = Input::Ignore;
                    session.client_sink.ready = true;
                }
            }
            pipe::wake_owner(core, Owner::Session(id, Role::Client));
            if !connected {
                let error = error.unwrap_or_else(|| {
                    std::io::Error::new(
                        std::io::ErrorKind::ConnectionAborted,
                        "the upstream closed before the connect finished",
                    )
                });
                crate::debug!("upstream connect failed: {error}");
                with_handler(core, id, |handler, ctx| {
                    handler.on_upstream_connect_failed(ctx, &error)
                });
            } else if failed {
                crate::debug!("upstream closed without a byte");
                with_handler(core, id, |handler, ctx| handler.on_upstream_failed(ctx));
            } else {
                with_handler(core, id, |handler, ctx| handler.on_upstream_done(ctx));
            }
        }
        Role::File => {
            pipe::detach(core, Owner::Session(id, Role::File), Side::Sink);
            let (closing, failed) = core.sessions.get_mut(id).map_or((false, false), |s| {
                s.file = None;
                (s.closing, std::mem::take(&mut s.file_failed))
            });
            if closing {
                settle(core, id);
            } else if failed {
                with_handler(core, id, |handler, ctx| handler.on_file_failed(ctx));
            } else {
                with_handler(core, id, |handler, ctx| handler.on_file_done(ctx));
            }
        }
    }
}

/// The session whose upstream is connection `upstream`, found through the pipes that join them.
fn session_of_upstream(core: &Core, upstream: ConnectionId) -> Option<SessionId> {
    let conn = core.connections.get(upstream)?;
    let from = conn.source.pipe.and_then(|p| core.pipes.get(p)?.sink());
    let to = conn.sink.pipe.and_then(|p| core.pipes.get(p)?.source());
    [from, to]
        .into_iter()
        .flatten()
        .find_map(|owner| match owner {
            Owner::Session(id, Role::Upstream) => Some(id),
            _ => None,
        })
}

/// The connect of upstream `upstream` succeeded (its first EPOLLOUT): the client's bytes held
/// until now may flow to it.
pub(crate) fn upstream_connected(core: &mut Core, upstream: ConnectionId) {
    let Some(id) = session_of_upstream(core, upstream) else {
        return;
    };
    let Some(session) = core.sessions.get_mut(id) else {
        return;
    };
    if session.upstream != Some(upstream) {
        return;
    }
    session.upstream_connected = true;
    session.client_sink.ready = true;
    let from_client = session.client_sink.pipe;
    if let Some(pipe) = from_client.and_then(|p| core.pipes.get_mut(p)) {
        pipe.set_sink_wants(1);
    }
    if let Some(pipe) = from_client {
        pipe::wake(core, pipe);
    }
}

/// The connect of upstream `upstream` failed with `error`: keep the reason for the session's
/// `on_upstream_connect_failed`, which runs once the close has reached it through the pipes.
pub(crate) fn upstream_connect_failed(
    core: &mut Core,
    upstream: ConnectionId,
    error: std::io::Error,
) {
    let Some(id) = session_of_upstream(core, upstream) else {
        return;
    };
    if let Some(session) = core.sessions.get_mut(id) {
        if session.upstream == Some(upstream) {
            session.upstream_error = Some(error);
        }
    }
}

/// The file a session is streaming could not deliver what was announced; the handler hears
/// so (instead of `on_file_done`) once the bytes before the failure have been passed on.
pub(crate) fn file_failed(core: &mut Core, id: SessionId) {
    if let Some(session) = core.sessions.get_mut(id) {
        session.file_failed = true;
    }
}

/// The earliest deadline among all armed session timers.
pub(crate) fn next_timer(core: &mut Core) -> Option<Instant> {
    core.timers.next(&mut core.sessions)
}

/// Run `on_timer` for every session timer whose deadline has passed, earliest first.
pub(crate) fn fire_timers(core: &mut Core) {
    let now = Instant::now();
    while let Some((id, kind)) = core.timers.pop_expired(now, &mut core.sessions) {
        crate::debug!("{kind:?} timer fired");
        with_handler(core, id, |handler, ctx| handler.on_timer(ctx, kind));
    }
}
