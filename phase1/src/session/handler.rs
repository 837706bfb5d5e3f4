//! The extension point: what a session does with its client.
//!
//! See the [module docs](super) for the picture and an example.

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use super::{Input, Session};
use crate::connection::Progress;
use crate::core::{Core, Counters, SessionId};
use crate::file::{self, BodySource};
use crate::pipe::{self, Owner, Role};
use crate::timer::{TimerKind, Timers};
use crate::{connection, upstream};

/// Who the client is and where it came in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientInfo {
    /// The address the accepting listener is bound to, e.g. `0.0.0.0:8001`.
    pub listener: SocketAddr,
    /// The client's address.
    pub peer: SocketAddr,
}

impl ClientInfo {
    /// The client's IP, with an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) given as IPv4.
    pub fn peer_ip(&self) -> IpAddr {
        match self.peer.ip() {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
            ip => ip,
        }
    }

    /// The listener's port.
    pub fn listener_port(&self) -> u16 {
        self.listener.port()
    }
}

/// What a session does with its client. One value per client, made by the listener's
/// [`SessionFactory`]; the core calls it with a [`SessionCtx`] through which it acts.
pub trait SessionHandler {
    /// Called once, right after the client is accepted.
    fn on_start(&mut self, _ctx: &mut SessionCtx<'_>) {}

    /// `data` is every client byte received and not yet consumed. Return how many bytes from
    /// the front were consumed; the rest stays buffered in the client pipe. If you consumed
    /// some, you are called again right away with the rest; if none, only once more bytes
    /// arrive or you call [`SessionCtx::resume_input`]. Unconsumed bytes fill the pipe, and at
    /// 1 MB the client is no longer read.
    fn on_client_data(&mut self, ctx: &mut SessionCtx<'_>, data: &[u8]) -> usize;

    /// The client will send nothing more; `unconsumed` is what was left. Default: close.
    fn on_client_eof(&mut self, ctx: &mut SessionCtx<'_>, _unconsumed: &[u8]) {
        ctx.close();
    }

    /// The upstream opened by [`SessionCtx::proxy`] closed or failed before sending a byte.
    /// Default: close (nothing is sent).
    fn on_upstream_failed(&mut self, ctx: &mut SessionCtx<'_>) {
        ctx.close();
    }

    /// The connect to the upstream opened by [`SessionCtx::proxy`] failed (`error`: refused,
    /// unreachable, ...): no byte was sent to it, and the client's bytes that were to follow
    /// the first ones still wait in the client pipe. A handler may call
    /// [`SessionCtx::proxy`] again with another upstream (stage 20's failover), and those bytes
    /// go there; or answer and close. Default: [`SessionHandler::on_upstream_failed`], as for
    /// any upstream that failed before answering.
    fn on_upstream_connect_failed(&mut self, ctx: &mut SessionCtx<'_>, _error: &std::io::Error) {
        self.on_upstream_failed(ctx);
    }

    /// The upstream closed after sending; all its bytes are queued for the client.
    /// Default: close once they are delivered.
    fn on_upstream_done(&mut self, ctx: &mut SessionCtx<'_>) {
        ctx.close();
    }

    /// The file given to [`SessionCtx::send_file`] (or the source given to
    /// [`SessionCtx::send_source`]) has been read to its end. Default: close once it is
    /// delivered.
    fn on_file_done(&mut self, ctx: &mut SessionCtx<'_>) {
        ctx.close();
    }

    /// The source given to [`SessionCtx::send_source`] could not deliver the length it was
    /// given (the file shrank, or a read failed). What it did deliver has been queued; the
    /// client was promised more, so the response cannot be completed. Default: abort (close the
    /// connection at once, so the client cannot take later bytes for this body).
    fn on_file_failed(&mut self, ctx: &mut SessionCtx<'_>) {
        ctx.abort();
    }

    /// While relaying to an upstream, after [`SessionCtx::frame_relay`]: `data` is the next
    /// client bytes; return how many of them, from the front, still belong to the request being
    /// forwarded. Those go to the upstream; the rest, and every client byte after them, are
    /// read and dropped, so the upstream never sees a byte the handler did not let through (a
    /// pipelined request behind the forwarded one). Each byte is offered once. Default: all.
    fn on_relay(&mut self, data: &[u8]) -> usize {
        data.len()
    }

    /// The session is being destroyed; `bytes_to_client` is everything it queued for the
    /// client (heads, bodies, files, upstream bytes). Nothing can be sent any more. Stage 22
    /// finishes its metrics and access-log line here. Default: nothing.
    fn on_end(&mut self, _bytes_to_client: u64) {}

    /// The timer `kind` set with [`SessionCtx::set_timer`] passed. Default: abort.
    fn on_timer(&mut self, ctx: &mut SessionCtx<'_>, _kind: TimerKind) {
        ctx.abort();
    }
}

/// Makes one handler per accepted client. Closures `FnMut(&ClientInfo) -> Box<dyn
/// SessionHandler>` are factories.
pub trait SessionFactory {
    /// A handler for a newly accepted client.
    fn create(&mut self, client: &ClientInfo) -> Box<dyn SessionHandler>;
}

impl<F> SessionFactory for F
where
    F: FnMut(&ClientInfo) -> Box<dyn SessionHandler>,
{
    fn create(&mut self, client: &ClientInfo) -> Box<dyn SessionHandler> {
        self(client)
    }
}

/// Why a session request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionError {
    /// A file or upstream is already in progress.
    Busy,
    /// The session is closing.
    Closing,
    /// The session no longer exists.
    Gone,
}

impl std::fmt::Display for SessionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SessionError::Busy => "a file or upstream is already in progress",
            SessionError::Closing => "the session is closing",
            SessionError::Gone => "the session is gone",
        })
    }
}

impl std::error::Error for SessionError {}

/// How a session's peers are getting on (see [`SessionCtx::progress`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SessionProgress {
    /// The client connection's progress; `None` once it is gone.
    pub client: Option<Progress>,
    /// Bytes queued for the client that it has not received (see
    /// [`SessionCtx::client_unsent`]).
    pub client_unsent: u64,
    /// The upstream connection's progress, while the session has one.
    pub upstream: Option<Progress>,
}

/// What a handler can do, during one call.
pub struct SessionCtx<'a> {
    pub(super) core: &'a mut Core,
    pub(super) id: SessionId,
    pub(super) info: ClientInfo,
}

impl SessionCtx<'_> {
    fn session(&mut self) -> Option<&mut Session> {
        self.core.sessions.get_mut(self.id)
    }

    /// This session's id.
    pub fn id(&self) -> SessionId {
        self.id
    }

    /// The listener's and the client's addresses.
    pub fn client(&self) -> &ClientInfo {
        &self.info
    }

    /// Bytes that have left the session towards the client so far.
    pub fn bytes_to_client(&self) -> u64 {
        self.core
            .sessions
            .get(self.id)
            .map_or(0, |s| s.bytes_to_client)
    }

    /// True while bytes are relayed to and from an upstream.
    pub fn is_proxying(&self) -> bool {
        self.core
            .sessions
            .get(self.id)
            .is_some_and(|s| s.upstream.is_some())
    }

    /// True once the connect to the upstream opened by [`SessionCtx::proxy`] has succeeded.
    /// Until then nothing has been sent to it, so another upstream can still be tried
    /// (a stage-21 connect timeout calls [`SessionCtx::abort_upstream`] and picks the next).
    pub fn upstream_connected(&self) -> bool {
        self.core
            .sessions
            .get(self.id)
            .is_some_and(|s| s.upstream.is_some() && s.upstream_connected)
    }

    /// True once the upstream opened by [`SessionCtx::proxy`] has sent at least one byte (it has
    /// started answering). A stage-21 upstream timeout may answer 504 only before that.
    pub fn upstream_started(&self) -> bool {
        self.core
            .sessions
            .get(self.id)
            .is_some_and(|s| s.upstream_bytes > 0)
    }

    /// The first bytes the upstream sent for the current proxied exchange (up to
    /// [`super::UPSTREAM_HEAD_KEPT`]), e.g. `HTTP/1.1 200 OK`; empty before it answers.
    pub fn upstream_head(&self) -> &[u8] {
        self.core
            .sessions
            .get(self.id)
            .map_or(&[], |s| s.upstream_head.as_slice())
    }

    /// Bytes queued for the client that it has not received yet: those still in the pipe
    /// towards it, plus those in the kernel's send queue of its socket (sent but not
    /// acknowledged). A send timeout watches this number: a client that reads keeps it falling.
    pub fn client_unsent(&self) -> u64 {
        let Some(session) = self.core.sessions.get(self.id) else {
            return 0;
        };
        connection::unsent(self.core, session.client) as u64
    }

    /// How the client (and the upstream, while there is one) are getting on: when each last
    /// received or sent bytes, when the upstream connected, and what still waits for the
    /// client. The timeouts of stage 21 read it when their timer fires, to tell a peer that
    /// stalled from one that made progress since the timer was armed. `client` is `None` once
    /// the client connection is gone.
    pub fn progress(&self) -> SessionProgress {
        let Some(session) = self.core.sessions.get(self.id) else {
            return SessionProgress::default();
        };
        SessionProgress {
            client: connection::progress(self.core, session.client),
            client_unsent: connection::unsent(self.core, session.client) as u64,
            upstream: session
                .upstream
                .and_then(|up| connection::progress(self.core, up)),
        }
    }

    /// The core's running totals (connections, bytes), for metrics.
    pub fn counters(&self) -> &Counters {
        &self.core.counters
    }

    /// Queue bytes for the client, after everything queued before. Meant for a response head
    /// or a small body: it is queued even above the pipe threshold.
    pub fn send(&mut self, bytes: impl Into<Vec<u8>>) {
        let bytes = bytes.into();
        let Some(session) = self.session() else {
            return;
        };
        let Some(pipe_id) = session.client_source.pipe else {
            return;
        };
        session.bytes_to_client += bytes.len() as u64;
        pipe::write(self.core, pipe_id, bytes);
    }

    /// Stream `file` to the client after everything queued so far, through a bounded pipe,
    /// to its end. [`SessionHandler::on_file_done`] is called once it has all been read.
    pub fn send_file(&mut self, opened: std::fs::File) -> Result<(), SessionError> {
        self.send_source(BodySource::File(opened))
    }

    /// Stream `body` to the client after everything queued so far: a file to its end, exactly
    /// the length a response announced (through memory or with `sendfile`), or any reader such
    /// as a compressor over a file, chunk by chunk through a bounded pipe.
    /// [`SessionHandler::on_file_done`] is called once it has all been read, or
    /// [`SessionHandler::on_file_failed`] if it could not deliver its announced length.
    pub fn send_source(&mut self, body: BodySource) -> Result<(), SessionError> {
        let id = self.id;
        let session = self.session().ok_or(SessionError::Gone)?;
        if session.closing {
            return Err(SessionError::Closing);
        }
        if session.file.is_some() || session.file_sink.pipe.is_some() {
            return Err(SessionError::Busy);
        }
        let file = file::create(self.core, body);
        let sink = Owner::Session(id, Role::File);
        if pipe::create(self.core, Owner::File(file), sink, self.core.pipe_threshold).is_none() {
            file::destroy(self.core, file);
            return Err(SessionError::Gone);
        }
        if let Some(session) = self.session() {
            session.file = Some(file);
            session.file_sink.ready = true;
        }
        Ok(())
    }

    /// Connect to `upstream` (`host:port`, resolved like the course's `getaddrinfo`, IPv4
    /// preferred) without blocking, queue `first` for it, then relay: every further client
    /// byte (including any left unconsumed by this call) raw to the upstream, every upstream
    /// byte raw to the client. [`SessionHandler::on_client_data`] is no longer called.
    /// An error means the name did not resolve or the connect failed at once.
    pub fn proxy(&mut self, upstream: &str, first: impl Into<Vec<u8>>) -> std::io::Result<()> {
        let id = self.id;
        let refuse = |e: SessionError| std::io::Error::other(e);
        let session = self.session().ok_or_else(|| refuse(SessionError::Gone))?;
        if session.closing {
            return Err(refuse(SessionError::Closing));
        }
        if session.upstream.is_some()
            || session.upstream_source.pipe.is_some()
            || session.upstream_sink.pipe.is_some()
        {
            return Err(refuse(SessionError::Busy));
        }
        let up = upstream::connect(self.core, upstream)?;
        let (ours, theirs) = (Owner::Session(id, Role::Upstream), Owner::Connection(up));
        let to_upstream = pipe::create(self.core, ours, theirs, self.core.pipe_threshold);
        let from_upstream = pipe::create(self.core, theirs, ours, self.core.pipe_threshold);
        let (Some(to_upstream), Some(_)) = (to_upstream, from_upstream) else {
            crate::connection::close(self.core, up, false);
            return Err(refuse(SessionError::Gone));
        };
        pipe::write(self.core, to_upstream, first.into());
        let connected = !crate::upstream::is_connecting(self.core, up);
        let Some(session) = self.session() else {
            return Err(refuse(SessionError::Gone));
        };
        session.upstream = Some(up);
        session.upstream_bytes = 0;
        session.upstream_connected = connected;
        session.upstream_error = None;
        session.upstream_head.clear();
        session.input = Input::Relay;
        // The client's bytes flow once the connect has succeeded (`upstream_connected`).
        session.client_sink.ready = connected;
        session.upstream_sink.ready = true;
        session.upstream_source.ready = false;
        let client_pipe = session.client_sink.pipe;
        if let Some(pipe) = client_pipe.and_then(|p| self.core.pipes.get_mut(p)) {
            pipe.set_sink_wants(1);
        }
        Ok(())
    }

    /// From now on (for the rest of the session) client bytes relayed to an upstream pass
    /// through [`SessionHandler::on_relay`] first, which decides where the forwarded request
    /// ends. Without it the relay is raw: every client byte goes to the upstream.
    pub fn frame_relay(&mut self) {
        if let Some(session) = self.session() {
            session.framed_relay = true;
        }
    }

    /// Offer the client bytes left unconsumed again, at the next turn of the loop, even if no
    /// new byte arrives. [`SessionHandler::on_client_data`] normally hears about bytes it left
    /// unconsumed only once more arrive; a handler that left them on purpose (an HTTP session
    /// holding a pipelined request while a file response streams) calls this when it is ready
    /// for them, typically in [`SessionHandler::on_file_done`]. Nothing happens if no bytes are
    /// waiting, while proxying or closing, or after the client's end of input (the handler was
    /// given the rest in [`SessionHandler::on_client_eof`]). Inside `on_client_data` the return
    /// value decides instead: consuming some bytes already gets the rest offered again.
    pub fn resume_input(&mut self) {
        let Some(session) = self.session() else {
            return;
        };
        if session.input != Input::Handler {
            return;
        }
        let from_client = session.client_sink.pipe;
        if let Some(pipe) = from_client.and_then(|p| self.core.pipes.get_mut(p)) {
            pipe.set_sink_wants(1);
        }
        if let Some(id) = from_client {
            pipe::wake(self.core, id);
        }
    }

    /// Turn Nagle's algorithm off for the client (`TCP_NODELAY`), so a small write leaves at
    /// once instead of waiting for the client to acknowledge earlier bytes. One request per
    /// connection never needs it; a connection that carries answer after answer does: the tail
    /// of one answer would otherwise wait for the client's delayed acknowledgement (up to 40 ms
    /// on Linux) while the client waits for that tail.
    pub fn set_nodelay(&mut self, on: bool) -> std::io::Result<()> {
        let id = self.id;
        let client = self
            .core
            .sessions
            .get(id)
            .map(|s| s.client)
            .ok_or_else(|| std::io::Error::other(SessionError::Gone))?;
        match self.core.connections.get(client) {
            Some(connection) => connection.set_nodelay(on),
            None => Err(std::io::Error::other(SessionError::Gone)),
        }
    }

    /// Stop reading the client and close it once everything queued, and the file being
    /// streamed if any, has been delivered. Drops a running upstream relay.
    pub fn close(&mut self) {
        let id = self.id;
        let Some(session) = self.session() else {
            return;
        };
        session.closing = true;
        session.input = Input::Ignore;
        session.client_sink.ready = true;
        if session.upstream.take().is_some() {
            pipe::detach(
                self.core,
                Owner::Session(id, Role::Upstream),
                pipe::Side::Source,
            );
            pipe::detach(
                self.core,
                Owner::Session(id, Role::Upstream),
                pipe::Side::Sink,
            );
        }
    }

    /// Say that the client may still be sending bytes this session will not read, such as the
    /// body of a request answered with an error before it was read. When the session then
    /// closes ([`SessionCtx::close`], not [`SessionCtx::abort`]), the client connection ends
    /// with a lingering close (RFC 9112 §9.6): once the answer is out it sends FIN, reads and
    /// drops what the client still sends for a bounded time, and only then closes, so the
    /// unread bytes do not make the kernel reset the connection under the answer. A session
    /// that closes with client bytes it never consumed drains anyway.
    pub fn drain_on_close(&mut self) {
        if let Some(session) = self.session() {
            session.drain_client = true;
        }
    }

    /// Drop the upstream opened by [`SessionCtx::proxy`] now: its connection is closed at once,
    /// whatever it still had to send or receive (a connect that never completes, an upstream
    /// that stopped answering), and none of its handler callbacks will come. The client is not
    /// touched: what was already queued for it stays queued, and the handler decides what comes
    /// next (a 504, a close, or another upstream with a new [`SessionCtx::proxy`]). Client bytes
    /// that arrive afterwards are dropped, as after [`SessionCtx::close`] — unless the upstream
    /// had not connected yet: then none of them reached it, and they wait in the client pipe
    /// for the next [`SessionCtx::proxy`] (stage 20 sends the request on to the next upstream
    /// after a connect timeout), or for [`SessionCtx::close`], which drops them.
    pub fn abort_upstream(&mut self) {
        let id = self.id;
        let Some(session) = self.session() else {
            return;
        };
        let upstream = session.upstream.take();
        let connected = std::mem::take(&mut session.upstream_connected);
        session.upstream_error = None;
        session.upstream_bytes = 0;
        session.upstream_head.clear();
        if session.input == Input::Relay && connected {
            session.input = Input::Ignore;
            session.client_sink.ready = true;
        }
        pipe::detach(
            self.core,
            Owner::Session(id, Role::Upstream),
            pipe::Side::Source,
        );
        pipe::detach(
            self.core,
            Owner::Session(id, Role::Upstream),
            pipe::Side::Sink,
        );
        if let Some(up) = upstream {
            crate::debug!("dropping the upstream");
            connection::close(self.core, up, false);
        }
    }

    /// Close the client now, dropping whatever is still queued for it.
    pub fn abort(&mut self) {
        if let Some(session) = self.session() {
            session.closing = true;
            session.aborting = true;
        }
    }

    /// Close the client now with a reset (RST): like [`SessionCtx::abort`], and the kernel also
    /// drops what it still holds for the client and frees the socket at once instead of
    /// lingering. For a client that stopped reading: nothing of ours stays behind for it.
    pub fn reset(&mut self) {
        if let Some(session) = self.session() {
            session.closing = true;
            session.aborting = true;
            session.resetting = true;
        }
    }

    /// Arm this session's `kind` timer for `at`, replacing an earlier setting of the same
    /// kind. [`SessionHandler::on_timer`] runs once with `kind` when it passes. Each kind is an
    /// independent clock; re-arming costs no more than a comparison in most cases.
    pub fn set_timer(&mut self, kind: TimerKind, at: Instant) {
        let id = self.id;
        let Some(session) = self.core.sessions.get_mut(id) else {
            return;
        };
        self.core.timers.set(&mut session.timers, id, kind, at);
    }

    /// Disarm this session's `kind` timer (nothing happens if it is not armed).
    pub fn cancel_timer(&mut self, kind: TimerKind) {
        if let Some(session) = self.session() {
            Timers::cancel(&mut session.timers, kind);
        }
    }

    /// When this session's `kind` timer fires, if it is armed.
    pub fn timer(&self, kind: TimerKind) -> Option<Instant> {
        self.core
            .sessions
            .get(self.id)
            .and_then(|s| s.timers.get(kind))
    }
}
