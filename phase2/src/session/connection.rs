//! One client's HTTP connection: when a request is complete, and what becomes of the connection
//! after its answer.
//!
//! This file is the part of the session that talks to the phase-1 core ([`SessionHandler`]). It
//! feeds client bytes to the resumable [`RequestParser`], answers a broken head with 400 (or
//! 431), passes a complete request to `route.rs` and carries out the [`Outcome`] it gets back:
//! queue a reply, stream a file after its head, or hand the client over to an upstream. What the
//! answer *is* lives in the action files; how its bytes look lives in
//! [`crate::http::response`].
//!
//! # Keep-alive (the finished server only)
//!
//! Opening a TCP connection per request costs a round trip and several system calls, which is
//! most of the work for a small file; browsers and benchmarks therefore reuse connections. With
//! [`Options::keep_alive`] set (only `expserver` sets it; the course stages must keep closing,
//! because the official grader expects it) the end of an answer differs when the client allows
//! it:
//!
//! - HTTP/1.1 keeps the connection unless the request says `Connection: close`; HTTP/1.0 only
//!   with `Connection: keep-alive`, which the answer then repeats (RFC 9112 §9.3).
//! - Only answers whose framing is certain keep it: files, HEAD, listings, redirects, 403, 404
//!   and 405, and stage 19's chunked gzip answers (an HTTP/1.0 client's gzip answer ends with
//!   the close, so it closes). A 400 or 431 (the head was not understood, so where the next request starts is
//!   unknown), a 5xx and every reverse-proxy exchange still close. The last answer on a
//!   connection says `Connection: close`.
//! - The request's body (by `Content-Length`, up to [`MAX_DROPPED_BODY`]) is read and dropped
//!   before the next head is parsed, so body bytes are never taken for a request. A bigger body,
//!   or one sent with `Transfer-Encoding`, closes the connection after the answer instead.
//! - Whenever the connection closes with a body unread, or after a head that could not be
//!   read, the session asks for a lingering close ([`SessionCtx::drain_on_close`]): the core
//!   sends the answer and FIN, then reads and drops what the client still sends for a bounded
//!   time, so the unread bytes do not make the kernel reset the connection under the answer
//!   (RFC 9112 §9.6). This holds in every stage from 14 on.
//! - Pipelined requests wait in the client pipe, unconsumed, while a file answer streams; once
//!   the file is queued the session asks the core to offer them again
//!   ([`SessionCtx::resume_input`]). Answers therefore leave in request order, never mixed.
//! - An idle connection is closed after [`KeepAlive::idle_timeout`] through the session timer
//!   (the "keep-alive timer" section below), and one connection answers at most
//!   [`KeepAlive::max_requests`] requests.
//!
//! # Timeouts (stage 21 and the finished server)
//!
//! With [`Options::timeouts`] the session also arms stage 21's timers: the request head, a
//! forwarded body, the client taking its answer, the upstream connecting and answering.
//! `timeouts.rs` arms them and decides what an expired one means; the "stage 21's timeouts"
//! section below carries that out (408, 504, close, or reset).
//! - The client socket gets `TCP_NODELAY`: with answers back to back, Nagle's algorithm would
//!   hold the tail of each one until the client acknowledged the bytes before it, and clients
//!   delay that acknowledgement (40 ms on Linux) while waiting for the tail.
//!
//! # Failover (stage 20)
//!
//! A proxied request carries its [`Attempts`]: the upstreams it may try, in the order the
//! route's balancer chose. The session connects to the first; if that connect fails (refused,
//! unreachable; the core says so through `on_upstream_connect_failed`), nothing was sent
//! there, and the client's body bytes still wait unconsumed in the client pipe. So the session
//! marks that upstream down and proxies the same head to the next one, and the body follows it
//! there. Only when every upstream has failed does the client get 502. The single entry point
//! for "this upstream could not be reached" is [`HttpSession::upstream_failed`].
//!
//! # Metrics and the access log (stage 22 and the finished server)
//!
//! With [`Options::metrics`] the session tells `telemetry.rs` when a connection opens and
//! closes, when a request's head is complete, when its status is known and when its answer is
//! done; that file turns those moments into counts, a duration and an access-log line.
//!
//! # Logging
//!
//! Everything logged per request or per connection is DEBUG (`XPS_DEBUG=1`): a busy server
//! must not write a line per request. Failures the operator must see (an upstream that does not
//! answer, a file that cannot be streamed) are WARNING or ERROR.

use std::io::Read;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use phase1::{BodySource, ClientInfo, SessionCtx, SessionHandler, TimerKind};

use super::route::{self, Outcome};
use super::telemetry::{self, Pending, Telemetry};
use super::timeouts::{Expiry, Watch};
use super::{KeepAlive, Options, Site, MAX_DROPPED_BODY};
use crate::balancer::{Attempt, Attempts};
use crate::config::Listener;
use crate::http::{BodyEnd, Framing, Parse, Reply, Request, RequestParser, StatusCode};
use crate::metrics::UpstreamOutcome;

/// What a session keeps about the request it hands to an upstream. Boxed, and made only when
/// a request is proxied: most connections never proxy, and an idle one should not carry these
/// 150-odd bytes (the proxied exchange is the connection's last, so it is made at most once).
struct Proxied {
    /// For the log lines if the upstream fails.
    request_line: String,
    /// What each upstream tried gets first: the request head, plus the body bytes that had to
    /// be taken out of the client pipe (after the client's end of input).
    first: Vec<u8>,
    /// The request is a HEAD: an error answer has no body.
    is_head: bool,
    /// The upstreams it may still try (stage 20's failover).
    attempts: Option<Attempts>,
    /// The upstream being connected to or relayed with (it counts as an open connection for
    /// `least_conn` while it is held).
    attempt: Option<Attempt>,
    /// With [`Options::framed_proxy`]: where the request's body ends, so that no byte after it
    /// reaches the upstream (see `upstream.rs`, "One request per hand-over").
    forwarding: Option<BodyEnd>,
}

/// `pending` in `spare`'s box if there is one, else in a new box.
fn reuse(spare: Option<Box<Pending>>, pending: Pending) -> Box<Pending> {
    match spare {
        Some(mut spare) => {
            *spare = pending;
            spare
        }
        None => Box::new(pending),
    }
}

/// One client's HTTP session.
pub struct HttpSession {
    site: Arc<Site>,
    options: Options,
    /// The config listener that accepted the client (stage 16 on).
    listener: Option<Listener>,
    parser: RequestParser,
    state: State,
    /// Requests received on this connection, the current one included.
    requests: u32,
    /// The connection stays open after the current answer.
    keep: bool,
    /// Body bytes of the last request still to be read and dropped before the next head.
    body_left: u64,
    /// Since when a kept connection has been waiting for its next request, if it is.
    idle_since: Option<Instant>,
    /// The session timer is armed (it is re-armed lazily; see `idle_timer_fired`).
    timer_armed: bool,
    /// The client has ended its input.
    client_eof: bool,
    /// After the client's end of input: the bytes it sent that are not handled yet (pipelined
    /// requests behind a streaming answer). The core no longer holds them for us.
    held: Vec<u8>,
    /// After the client's end of input: the bytes after a proxied request's head, which the
    /// core can no longer relay, so they go to the upstream with the head.
    held_body: Vec<u8>,
    /// `TCP_NODELAY` is on (set once the connection is first kept).
    nodelay: bool,
    /// Bytes that followed the current request's head in the client pipe when it was complete
    /// (the start of its body, for a proxied request).
    after_head: usize,
    /// Stage 21's timeouts (`timeouts.rs`); all off before stage 21.
    watch: Watch,
    /// The proxied request, once there is one (see [`Proxied`]).
    proxy: Option<Box<Proxied>>,
    /// Stage 22's metrics and access log (`telemetry.rs`); `None` before stage 22.
    telemetry: Option<Telemetry>,
    /// The request being answered, for `telemetry`. Boxed, so that a connection that never
    /// sends a request does not carry its 136 bytes; the box of a finished request is kept in
    /// `spare` for the next one, so a kept-alive connection allocates it once, not per request.
    pending: Option<Box<Pending>>,
    spare: Option<Box<Pending>>,
    /// The client's address, for the access log after the connection is gone.
    client_ip: Option<IpAddr>,
}

/// Why an upstream could not be reached, for [`HttpSession::upstream_failed`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpstreamFailure {
    /// The connect failed: refused, unreachable, reset. 502 if no upstream is left.
    Connect,
    /// The connect took too long (stage 21's `upstream_connect_timeout_ms`). 504 if no
    /// upstream is left.
    Timeout,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Waiting for (the rest of) a request head, or for the next request on a kept connection.
    ReadingHead,
    /// A file answer is streaming on a kept connection; the next request waits in the pipe.
    Streaming,
    /// The last answer is queued; the connection closes once it is delivered.
    Closing,
    /// Relaying to and from an upstream.
    Proxying,
}

impl HttpSession {
    /// A session for a client accepted on `listener` (a config listener, from stage 16 on).
    pub fn new(site: Arc<Site>, options: Options, listener: Option<Listener>) -> HttpSession {
        let limits = options.timeouts.then(|| site.clone());
        HttpSession {
            site,
            options,
            listener,
            parser: RequestParser::new(),
            state: State::ReadingHead,
            requests: 0,
            keep: false,
            body_left: 0,
            idle_since: None,
            timer_armed: false,
            client_eof: false,
            held: Vec::new(),
            held_body: Vec::new(),
            nodelay: false,
            after_head: 0,
            watch: Watch::new(limits),
            proxy: None,
            telemetry: None,
            pending: None,
            spare: None,
            client_ip: None,
        }
    }

    /// A factory for `PortRole::session`: one fresh session per accepted client.
    pub fn factory(
        site: Arc<Site>,
        options: Options,
        listener: Option<Listener>,
    ) -> impl Fn(&ClientInfo) -> Box<dyn SessionHandler> {
        HttpSession::counted_factory(site, options, listener, None)
    }

    /// [`HttpSession::factory`] whose sessions count into `telemetry` (stage 22; with
    /// [`Options::metrics`]).
    pub fn counted_factory(
        site: Arc<Site>,
        options: Options,
        listener: Option<Listener>,
        telemetry: Option<Telemetry>,
    ) -> impl Fn(&ClientInfo) -> Box<dyn SessionHandler> {
        let telemetry = telemetry.filter(|_| options.metrics);
        move |_client: &ClientInfo| {
            let mut session = HttpSession::new(site.clone(), options, listener.clone());
            session.telemetry = telemetry.clone();
            Box::new(session) as Box<dyn SessionHandler>
        }
    }

    /// Take client bytes: first the rest of the last request's body (dropped), then a head,
    /// unless an answer is still streaming. Returns how many bytes were used.
    fn take(&mut self, ctx: &mut SessionCtx<'_>, data: &[u8]) -> usize {
        let mut used = 0;
        if self.body_left > 0 {
            let dropped = self.body_left.min(data.len() as u64);
            self.body_left -= dropped;
            used = dropped as usize;
        }
        match self.state {
            State::ReadingHead if used < data.len() => used + self.read_head(ctx, &data[used..]),
            // The next request waits, unconsumed, until the answer before it is queued.
            State::ReadingHead | State::Streaming => used,
            // Late bytes after the last answer are ignored.
            State::Closing | State::Proxying => data.len(),
        }
    }

    /// Feed the parser; dispatch a complete head.
    fn read_head(&mut self, ctx: &mut SessionCtx<'_>, data: &[u8]) -> usize {
        if self.parser.consumed() == 0 {
            // The first byte of a request: its head is due within the header timeout (the first
            // request's clock started at the accept already).
            self.watch.request_begins(ctx);
        }
        match self.parser.feed(data) {
            // The parser keeps what it needs, so every byte is consumed.
            Ok(Parse::Partial) => data.len(),
            Ok(Parse::Complete { request, used }) => {
                self.watch.head_done(ctx);
                self.after_head = data.len() - used;
                if self.client_eof {
                    self.held_body = data[used..].to_vec();
                }
                self.dispatch(ctx, request);
                self.held_body.clear();
                if self.state == State::Proxying && self.client_eof {
                    data.len() // went to the upstream with the head
                } else {
                    // Bytes after the head stay in the pipe: a body to drop, the next request,
                    // or (for a proxy) the body the core relays raw.
                    used
                }
            }
            Err(error) => {
                self.watch.head_done(ctx);
                phase1::debug!("bad request from {}: {error}", ctx.client().peer);
                // The client may still be sending the rest of what we could not read (an
                // endless head, a body): drain it after the answer, do not reset.
                ctx.drain_on_close();
                self.reject(ctx, error.status());
                data.len()
            }
        }
    }

    /// A complete request: let its route's action decide the answer, then carry it out.
    fn dispatch(&mut self, ctx: &mut SessionCtx<'_>, request: Request) {
        self.requests = self.requests.saturating_add(1);
        self.idle_since = None;
        self.keep = self.may_keep_alive(&request);
        let routed = route::answer_counted(
            &self.site,
            self.listener.as_ref(),
            &request,
            &self.options,
            *ctx.client(),
            self.telemetry.as_ref().map(|t| &*t.metrics),
        );
        if let Some(telemetry) = &self.telemetry {
            if routed.denied {
                telemetry.denied();
            }
            if matches!(routed.outcome, Outcome::Stream(..)) {
                telemetry.gzipped();
            }
            let begun = telemetry.begin(&request, routed.slot, ctx.bytes_to_client());
            self.pending = Some(reuse(self.spare.take(), begun));
        }
        self.carry_out(ctx, routed.outcome, &request);
    }

    /// Do what the action decided. A new kind of [`Outcome`] is one arm here.
    fn carry_out(&mut self, ctx: &mut SessionCtx<'_>, outcome: Outcome, request: &Request) {
        match outcome {
            Outcome::Reply(reply) => self.respond(ctx, reply, request, None),
            Outcome::File(reply, file) => {
                self.respond(ctx, reply, request, Some(After::File(file)))
            }
            Outcome::Stream(reply, body) => {
                self.respond(ctx, reply, request, Some(After::Stream(body)))
            }
            Outcome::Listing(reply, body) => {
                self.respond(ctx, reply, request, Some(After::Stream(body)))
            }
            Outcome::Proxy { attempts, head } => self.proxy(ctx, request, attempts, head),
        }
    }

    /// May the connection stay open after this request's answer (if the answer allows it)?
    fn may_keep_alive(&self, request: &Request) -> bool {
        let Some(keep_alive) = self.options.keep_alive else {
            return false;
        };
        self.requests < keep_alive.max_requests
            && client_wants_keep_alive(request)
            // A chunked body's end can only be found by decoding it; we do not read it.
            && !request.headers.contains("Transfer-Encoding")
            && request.body_len <= MAX_DROPPED_BODY
    }

    /// Hand the client over to the first of `attempts` that connects: `head` (and, after the
    /// client's end of input, the body bytes held for it) goes first, then the core relays both
    /// ways. A 502 if no upstream can even start.
    fn proxy(
        &mut self,
        ctx: &mut SessionCtx<'_>,
        request: &Request,
        attempts: Attempts,
        head: Vec<u8>,
    ) {
        let mut first = head;
        let mut forwarding = None;
        if self.options.framed_proxy {
            // Only the request's own body goes with it; what follows is another request.
            let mut end = BodyEnd::of(request);
            let body = end.feed(&self.held_body);
            self.held_body.truncate(body);
            forwarding = Some(end);
        }
        first.append(&mut self.held_body);
        self.proxy = Some(Box::new(Proxied {
            request_line: request.request_line.clone(),
            first,
            is_head: request.is_head(),
            attempts: Some(attempts),
            attempt: None,
            forwarding,
        }));
        self.state = State::Proxying;
        let body_left = if self.client_eof {
            Some(0) // the client sent all it will send
        } else if request.headers.contains("Transfer-Encoding") {
            None
        } else {
            Some(request.body_len.saturating_sub(self.after_head as u64))
        };
        self.watch.proxied(ctx, body_left);
        self.connect_next(ctx, None);
    }

    /// Start connecting to the next upstream of the request that has not been tried; when none
    /// is left, answer 502 (504 if the `last` failure was a timeout).
    fn connect_next(&mut self, ctx: &mut SessionCtx<'_>, mut last: Option<UpstreamFailure>) {
        while let Some(proxied) = self.proxy.as_deref_mut() {
            let Some(attempt) = proxied.attempts.as_mut().and_then(Attempts::next) else {
                break;
            };
            match ctx.proxy(&attempt.upstream, proxied.first.clone()) {
                Ok(()) => {
                    if proxied.forwarding.is_some() {
                        ctx.frame_relay(); // `on_relay` says where the request ends
                    }
                    phase1::debug!("{} -> upstream {}", proxied.request_line, attempt.upstream);
                    proxied.attempt = Some(attempt);
                    return;
                }
                Err(error) => {
                    phase1::warn!("upstream {} unreachable: {error}", attempt.upstream);
                    self.count_upstream(&attempt.upstream, UpstreamOutcome::ConnectError);
                    if let Some(attempts) = self.proxy.as_ref().and_then(|p| p.attempts.as_ref()) {
                        attempts.failed(&attempt);
                    }
                    last = Some(UpstreamFailure::Connect);
                }
            }
        }
        if let Some(proxied) = self.proxy.as_deref_mut() {
            proxied.attempts = None;
        }
        let status = match last {
            Some(UpstreamFailure::Timeout) => StatusCode::GATEWAY_TIMEOUT,
            _ => StatusCode::BAD_GATEWAY,
        };
        phase1::warn!(
            "no upstream could be reached for {}: answering {}",
            self.request_line(),
            status.as_u16()
        );
        self.gateway_error(ctx, status);
    }

    /// The current upstream could not be reached (`kind` says how): skip it for the route's
    /// `upstream_fail_timeout_ms`, and send the same request to the next upstream in the
    /// strategy's order, each tried at most once per request. When none is left, the client
    /// gets `502 Bad Gateway`, or `504 Gateway Timeout` if this last failure was a timeout.
    ///
    /// The one entry point for failover: a failed connect arrives here through
    /// `on_upstream_connect_failed`. Stage 21's upstream connect timeout calls it too, with
    /// [`UpstreamFailure::Timeout`], after `ctx.abort_upstream()` has abandoned the connect
    /// (only while `!ctx.upstream_connected()`: once connected, the request may have reached
    /// the upstream, and sending it again elsewhere could run it twice).
    pub fn upstream_failed(&mut self, ctx: &mut SessionCtx<'_>, kind: UpstreamFailure) {
        if self.state != State::Proxying {
            return;
        }
        if let Some(attempt) = self.proxy.as_deref_mut().and_then(|p| p.attempt.take()) {
            let outcome = match kind {
                UpstreamFailure::Connect => UpstreamOutcome::ConnectError,
                UpstreamFailure::Timeout => UpstreamOutcome::Timeout,
            };
            self.count_upstream(&attempt.upstream, outcome);
            if let Some(attempts) = self.proxy.as_ref().and_then(|p| p.attempts.as_ref()) {
                attempts.failed(&attempt);
            }
            // Dropping it gives its open-connection count back.
        }
        self.watch.retrying(ctx);
        self.connect_next(ctx, Some(kind));
    }

    /// The upstream the proxied request is with, if it is with one.
    fn attempt(&self) -> Option<&Attempt> {
        self.proxy.as_ref()?.attempt.as_ref()
    }

    /// The proxied request's line, for log lines ("" before there is one).
    fn request_line(&self) -> &str {
        self.proxy.as_ref().map_or("", |p| p.request_line.as_str())
    }

    /// Answer a proxied request with a gateway error (502, 504) and close.
    fn gateway_error(&mut self, ctx: &mut SessionCtx<'_>, status: StatusCode) {
        let is_head = match self.proxy.as_deref_mut() {
            Some(proxied) => {
                proxied.attempt = None;
                proxied.is_head
            }
            None => false,
        };
        let reply = Reply::error(status);
        let framing = reply.framing();
        let bytes = reply.render(self.options.responses, !is_head, Some("close"));
        if self.telemetry.is_some() {
            let body = match (framing, is_head) {
                (Framing::Length(len), false) => len,
                _ => 0,
            };
            self.count_status(
                ctx,
                status.as_u16(),
                (bytes.len() as u64).saturating_sub(body),
            );
        }
        ctx.send(bytes);
        self.watch.answer_queued(ctx);
        ctx.close();
        self.state = State::Closing;
    }

    /// Queue a reply, and the body `after` it if given; then close, or (keep-alive) get ready for
    /// the next request once the answer is queued.
    fn respond(
        &mut self,
        ctx: &mut SessionCtx<'_>,
        reply: Reply,
        request: &Request,
        after: Option<After>,
    ) {
        // A body that ends with the close (HTTP/1.0 gzip) cannot be followed by another answer.
        self.keep =
            self.keep && keeps_connection(reply.status()) && reply.framing() != Framing::Close;
        if !self.keep && (request.body_len > 0 || request.headers.contains("Transfer-Encoding")) {
            // The body is not read before the close: drain it after the answer (RFC 9112 §9.6).
            ctx.drain_on_close();
        }
        let announced = reply.framing();
        let status = reply.status();
        let connection = match (self.keep, request.http_version.as_str()) {
            (false, _) => Some("close"),
            (true, "1.0") => Some("keep-alive"),
            // HTTP/1.1 is persistent by default: nothing to say.
            (true, _) => None,
        };
        let bytes = reply.render(self.options.responses, !request.is_head(), connection);
        if self.telemetry.is_some() {
            // The head's length, without a small body sent with it.
            let inline_body = match (&after, announced, request.is_head()) {
                (None, Framing::Length(len), false) => len,
                _ => 0,
            };
            let head_len = (bytes.len() as u64).saturating_sub(inline_body);
            self.count_status(ctx, status.as_u16(), head_len);
        }
        ctx.send(bytes);
        self.watch.answer_queued(ctx);
        if self.keep {
            self.body_left = request.body_len;
        }
        let body = match after {
            None => return self.answered(ctx),
            // Already framed by the compressor; read to its end.
            Some(After::Stream(body)) => BodySource::Stream(body),
            Some(After::File(file)) => {
                // Exactly the announced length, never more: bytes appended to the file meanwhile
                // would otherwise be taken by the client for its next answer. A file that
                // shrinks ends the connection (`on_file_failed`).
                let len = match announced {
                    Framing::Length(len) => len,
                    Framing::Chunked | Framing::Close => file.metadata().map_or(0, |m| m.len()),
                };
                if self.options.zero_copy_files {
                    BodySource::ZeroCopy { file, len }
                } else {
                    BodySource::FileExact { file, len }
                }
            }
        };
        if let Err(error) = ctx.send_source(body) {
            phase1::error!("cannot stream {}: {error:?}", request.request_line);
            ctx.abort();
            self.state = State::Closing;
        } else if self.keep {
            self.state = State::Streaming; // `on_file_done` carries on
        } else {
            // Close once the file has been delivered; later client bytes are dropped.
            ctx.close();
            self.state = State::Closing;
        }
    }

    /// The current answer is entirely queued: close, or wait for the next request.
    fn answered(&mut self, ctx: &mut SessionCtx<'_>) {
        let keep_alive = match self.options.keep_alive {
            Some(keep_alive) if self.keep => keep_alive,
            _ => {
                ctx.close();
                self.state = State::Closing;
                return;
            }
        };
        self.state = State::ReadingHead;
        self.finish_request(ctx.bytes_to_client());
        if !self.nodelay {
            // A kept connection carries answer after answer; without this the last small segment
            // of each would wait for the client's delayed acknowledgement (nginx's
            // `tcp_nodelay`). Set only once a connection is kept: the first answer on a fresh
            // connection leaves at once anyway, so a one-request connection saves the call.
            if let Err(error) = ctx.set_nodelay(true) {
                phase1::debug!("cannot set TCP_NODELAY: {error}");
            }
            self.nodelay = true;
        }
        self.start_idle_timer(ctx, keep_alive);
    }

    /// The client has ended its input: answer what it sent before (unless an answer is still
    /// streaming, after which this runs again), then close.
    fn answer_held(&mut self, ctx: &mut SessionCtx<'_>) {
        let held = std::mem::take(&mut self.held);
        let mut at = 0;
        while at < held.len() && self.state == State::ReadingHead {
            let used = self.take(ctx, &held[at..]);
            if used == 0 {
                break;
            }
            at += used;
        }
        match self.state {
            State::Streaming => self.held = held[at..].to_vec(),
            // A head cut short by the end of input gets 400, as without keep-alive.
            State::ReadingHead if self.parser.consumed() > 0 => {
                self.reject(ctx, StatusCode::BAD_REQUEST)
            }
            State::ReadingHead => {
                ctx.close();
                self.state = State::Closing;
            }
            State::Closing | State::Proxying => {}
        }
    }

    /// Answer with an error and close, whatever keep-alive allows: a head that could not be
    /// read (where the next request would start is unknown), or an upstream that failed.
    fn reject(&mut self, ctx: &mut SessionCtx<'_>, status: StatusCode) {
        let bytes = Reply::error(status).render(self.options.responses, true, Some("close"));
        if self.telemetry.is_some() {
            let inline_body = match Reply::error(status).framing() {
                Framing::Length(len) => len,
                _ => 0,
            };
            let head_len = (bytes.len() as u64).saturating_sub(inline_body);
            self.count_status(ctx, status.as_u16(), head_len);
        }
        ctx.send(bytes);
        self.watch.answer_queued(ctx);
        ctx.close();
        self.state = State::Closing;
    }

    // ---- Stage 22's metrics (`telemetry.rs`) ------------------------------------------------

    /// The current answer's status is known: count it. An answer to no complete request (a
    /// 400, a 408) counts under no route.
    fn count_status(&mut self, ctx: &mut SessionCtx<'_>, status: u16, head_len: u64) {
        let Some(telemetry) = &self.telemetry else {
            return;
        };
        let sent_before = ctx.bytes_to_client();
        let pending = self
            .pending
            .get_or_insert_with(|| reuse(self.spare.take(), telemetry.begin_unparsed(sent_before)));
        telemetry.status(pending, status, head_len);
    }

    /// A try of an upstream ended (stage 20's upstream families).
    fn count_upstream(&self, upstream: &str, outcome: UpstreamOutcome) {
        if let Some(telemetry) = &self.telemetry {
            telemetry.upstream(upstream, outcome);
        }
    }

    /// The current answer is done (see `telemetry.rs`).
    fn finish_request(&mut self, bytes_to_client: u64) {
        if let (Some(telemetry), Some(pending)) = (&self.telemetry, self.pending.take()) {
            let client = self
                .client_ip
                .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
            telemetry.finish(&pending, client, bytes_to_client);
            self.spare = Some(pending);
        }
    }

    // ---- Stage 21's timeouts ---------------------------------------------------------------
    //
    // `timeouts.rs` decides what an expired timer means; this carries it out.

    /// A stage-21 timer expired.
    fn timed_out(&mut self, ctx: &mut SessionCtx<'_>, kind: TimerKind) {
        let busy = self.state != State::ReadingHead;
        let expiry = self.watch.expired(ctx, kind, busy);
        if let (Some(telemetry), false) = (&self.telemetry, matches!(expiry, Expiry::Nothing)) {
            telemetry.metrics.count_timeout(kind);
        }
        match expiry {
            Expiry::Nothing => {}
            Expiry::RequestTimeout => {
                if self.state == State::ReadingHead {
                    phase1::debug!("request head from {} timed out", ctx.client().peer);
                    self.reject(ctx, StatusCode::REQUEST_TIMEOUT);
                }
            }
            Expiry::Close => {
                if let (TimerKind::Upstream, Some(attempt)) = (kind, self.attempt()) {
                    self.count_upstream(&attempt.upstream, UpstreamOutcome::Timeout);
                }
                ctx.abort_upstream();
                ctx.close();
                self.state = State::Closing;
            }
            Expiry::Reset => {
                ctx.abort_upstream();
                ctx.reset();
                self.state = State::Closing;
            }
            Expiry::GatewayTimeout if kind == TimerKind::UpstreamConnect => {
                // Nothing reached that upstream: the next one may take the request (stage 20).
                ctx.abort_upstream();
                self.upstream_failed(ctx, UpstreamFailure::Timeout);
            }
            Expiry::GatewayTimeout => {
                phase1::warn!("upstream timed out: {}", self.request_line());
                if let Some(attempt) = self.attempt() {
                    self.count_upstream(&attempt.upstream, UpstreamOutcome::Timeout);
                }
                ctx.abort_upstream();
                self.gateway_error(ctx, StatusCode::GATEWAY_TIMEOUT);
            }
        }
    }

    // ---- The keep-alive timer --------------------------------------------------------------
    //
    // Uses phase 1's session timers (`SessionCtx::set_timer` with `TimerKind::KeepAlive`, and
    // `SessionHandler::on_timer`), as stage 21's timeouts do (`timeouts.rs`). It is armed when a
    // connection goes idle and not moved while requests come and go (that would queue a timer
    // per request); when it fires on a busy connection, or on one idle for less than the
    // timeout, it is re-armed or left for the next idle spell.

    /// A kept connection has just become idle: note since when, and arm the timer if it is not.
    fn start_idle_timer(&mut self, ctx: &mut SessionCtx<'_>, keep_alive: KeepAlive) {
        let now = Instant::now();
        self.idle_since = Some(now);
        if !self.timer_armed {
            ctx.set_timer(TimerKind::KeepAlive, now + keep_alive.idle_timeout);
            self.timer_armed = true;
        }
    }

    /// The timer passed: close the connection if it has been idle long enough, otherwise arm
    /// the timer again for the end of the current idle spell.
    fn idle_timer_fired(&mut self, ctx: &mut SessionCtx<'_>) {
        self.timer_armed = false;
        let (Some(keep_alive), Some(since)) = (self.options.keep_alive, self.idle_since) else {
            return;
        };
        if self.state != State::ReadingHead {
            return;
        }
        let end = since + keep_alive.idle_timeout;
        if Instant::now() >= end {
            if let Some(telemetry) = &self.telemetry {
                telemetry.metrics.count_timeout(TimerKind::KeepAlive);
            }
            phase1::debug!(
                "closing a keep-alive connection idle for {:?}",
                keep_alive.idle_timeout
            );
            ctx.close();
            self.state = State::Closing;
        } else {
            ctx.set_timer(TimerKind::KeepAlive, end);
            self.timer_armed = true;
        }
    }
}

impl SessionHandler for HttpSession {
    /// A new client: with timeouts, its first request head is due from now.
    fn on_start(&mut self, ctx: &mut SessionCtx<'_>) {
        if let Some(telemetry) = &self.telemetry {
            telemetry.opened();
            self.client_ip = Some(ctx.client().peer_ip());
        }
        self.watch.request_begins(ctx);
    }

    /// The session is gone: the answer of a closing connection is done (stage 22).
    fn on_end(&mut self, bytes_to_client: u64) {
        self.finish_request(bytes_to_client);
    }

    /// The upstream answered and closed: its status is the one the client got (stage 22).
    fn on_upstream_done(&mut self, ctx: &mut SessionCtx<'_>) {
        if self.telemetry.is_some() {
            let status = telemetry::upstream_status(ctx.upstream_head());
            self.count_status(ctx, status, 0);
            if let Some(attempt) = self.attempt() {
                self.count_upstream(&attempt.upstream, UpstreamOutcome::Ok);
            }
        }
        ctx.close();
    }

    fn on_client_data(&mut self, ctx: &mut SessionCtx<'_>, data: &[u8]) -> usize {
        self.take(ctx, data)
    }

    fn on_client_eof(&mut self, ctx: &mut SessionCtx<'_>, unconsumed: &[u8]) {
        match self.state {
            // A half-closed client still gets the upstream's answer, or the last one queued.
            State::Proxying | State::Closing => {}
            // Requests sent before the end are answered once the file ahead of them is queued.
            State::Streaming => {
                self.client_eof = true;
                self.held = unconsumed.to_vec();
            }
            State::ReadingHead => {
                self.client_eof = true;
                self.held = unconsumed.to_vec();
                self.answer_held(ctx);
            }
        }
    }

    /// Only reached on a kept connection (the last answer's file closes instead).
    fn on_file_done(&mut self, ctx: &mut SessionCtx<'_>) {
        self.answered(ctx);
        if self.state == State::ReadingHead {
            if self.client_eof {
                self.answer_held(ctx);
            } else {
                // The next request, if it already came, waits in the pipe: ask for it again.
                ctx.resume_input();
            }
        }
    }

    /// The keep-alive timer (see `idle_timer_fired`), or one of stage 21's (`timed_out`).
    fn on_timer(&mut self, ctx: &mut SessionCtx<'_>, kind: TimerKind) {
        if kind == TimerKind::KeepAlive {
            self.idle_timer_fired(ctx);
        } else {
            self.timed_out(ctx, kind);
        }
    }

    /// The upstream connected, then closed without a byte. The request may have reached it, so
    /// it is not sent anywhere else: 502.
    fn on_upstream_failed(&mut self, ctx: &mut SessionCtx<'_>) {
        phase1::warn!("upstream failed before answering: {}", self.request_line());
        if let Some(attempt) = self.attempt() {
            self.count_upstream(&attempt.upstream, UpstreamOutcome::Error);
        }
        self.gateway_error(ctx, StatusCode::BAD_GATEWAY);
    }

    /// With [`Options::framed_proxy`]: the client's bytes after the proxied head reach the
    /// upstream only up to the end of the request's body.
    fn on_relay(&mut self, data: &[u8]) -> usize {
        match self
            .proxy
            .as_deref_mut()
            .and_then(|p| p.forwarding.as_mut())
        {
            Some(end) => end.feed(data),
            None => data.len(),
        }
    }

    /// The connect failed: nothing reached that upstream; try the next one (stage 20).
    fn on_upstream_connect_failed(&mut self, ctx: &mut SessionCtx<'_>, error: &std::io::Error) {
        let upstream = self.attempt().map_or("?", |a| a.upstream.as_str());
        phase1::warn!("upstream {upstream} unreachable: {error}");
        self.upstream_failed(ctx, UpstreamFailure::Connect);
    }
}

impl Drop for HttpSession {
    fn drop(&mut self) {
        if let Some(telemetry) = &self.telemetry {
            if self.client_ip.is_some() {
                telemetry.closed();
            }
        }
    }
}

/// What follows a reply's head through the core's pipe.
enum After {
    /// A file, sent as it is (exactly the announced length).
    File(std::fs::File),
    /// A body the reader makes and frames itself (stage 19's gzip, a big folder's listing).
    Stream(Box<dyn Read>),
}

/// What the client asked for: HTTP/1.1 keeps the connection unless a `Connection` header says
/// `close`; HTTP/1.0 closes unless it says `keep-alive` (RFC 9112 §9.3). The header is a
/// comma-separated list of tokens, in any case, possibly repeated.
fn client_wants_keep_alive(request: &Request) -> bool {
    let says = |token: &str| {
        request
            .headers
            .get_all("Connection")
            .flat_map(|value| value.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    };
    if says("close") {
        return false;
    }
    request.http_version == "1.1" || says("keep-alive")
}

/// Answers after which the connection may stay open: successes, redirects, and the client
/// errors that come from a request understood in full. A 400 (and 431, and every 5xx) closes.
fn keeps_connection(status: StatusCode) -> bool {
    status.as_u16() < 400
        || [
            StatusCode::FORBIDDEN,
            StatusCode::NOT_FOUND,
            StatusCode::METHOD_NOT_ALLOWED,
        ]
        .contains(&status)
}
