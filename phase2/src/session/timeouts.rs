//! Stage 21: arming the session's timers, and deciding what an expired one means.
//!
//! The durations come from the config ([`crate::timeouts::Timeouts`]); the clocks are the phase-1
//! core's keyed session timers ([`SessionCtx::set_timer`] with a [`TimerKind`]): one heap per
//! core, nothing scans the connections, and a loop turn costs nothing while no deadline passes.
//! The connection (`connection.rs`) tells this file what happens (a request begins, an answer is
//! queued, a request goes upstream) and asks it, when a timer fires, what to do; carrying that
//! out stays in `connection.rs`.
//!
//! # Two kinds of clock
//!
//! - A **total deadline** is set once and never moved: the request head
//!   ([`TimerKind::Header`]) must be complete by then, however the bytes trickle in. A slowloris
//!   client that sends one byte a second gains nothing from it.
//! - A **gap** bounds the time between two signs of progress: two reads of a forwarded body
//!   ([`TimerKind::Body`]), two writes the client takes ([`TimerKind::Send`]), two reads from the
//!   upstream ([`TimerKind::Upstream`]). Moving a timer on every byte would cost a heap operation
//!   per read, so the timer is armed once for "the start + the limit" and, when it fires, the
//!   session asks the core when that peer last moved bytes ([`SessionCtx::progress`]). If it moved
//!   since, the timer is armed again for "that moment + the limit"; otherwise it really expired.
//!   A busy connection therefore costs one timer event per limit, not one per read.
//!
//! # What expiry does
//!
//! | timer | expiry |
//! |---|---|
//! | header | `408 Request Timeout`, `Connection: close`, then close |
//! | body | drop the upstream and close the client |
//! | send | reset the client (RST): whatever is queued for it is dropped, everything is freed |
//! | upstream connect | drop the upstream; the next upstream (stage 20's failover), else `504 Gateway Timeout` |
//! | upstream | drop the upstream; 504 if the client has had nothing yet, otherwise close |
//!
//! The keep-alive timer is the connection's own (`connection.rs`, "the keep-alive timer").
//!
//! A send timer that is armed when the session closes keeps the session *lingering* in the core
//! (see phase 1's `session::settle`): the last answer of a connection is watched until the
//! client has taken it, so a client that stops reading cannot hold its descriptor for ever.

use std::sync::Arc;
use std::time::{Duration, Instant};

use phase1::{SessionCtx, TimerKind};

use super::Site;
use crate::timeouts::{enabled, Timeouts};

/// What an expired timer asks the connection to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Expiry {
    /// Nothing: the peer made progress (the timer is armed again), or the timer no longer
    /// concerns anything.
    Nothing,
    /// The request head did not arrive in time: 408 and close.
    RequestTimeout,
    /// Drop the upstream, then close the client (after what is already queued for it).
    Close,
    /// The client stopped taking its answer: reset it.
    Reset,
    /// The upstream did not connect or answer in time, and the client has had nothing: drop the
    /// upstream, answer 504.
    GatewayTimeout,
}

/// A request body on its way to the upstream.
#[derive(Clone, Copy, Debug)]
struct Body {
    /// Body bytes still to come from the client when the request went upstream; `None` for a
    /// body whose length is not announced (chunked).
    remaining: Option<u64>,
    /// The client's byte count at that moment.
    received_then: u64,
}

/// One session's timeouts.
#[derive(Debug)]
pub(super) struct Watch {
    /// The site whose config holds the limits (a share of the session's own `Arc`, so each
    /// session does not carry a copy of the six durations); `None`: this stage has no timeouts
    /// (every stage before 21).
    site: Option<Arc<Site>>,
    /// Since when bytes may have waited for the client (the last answer queued).
    answer_since: Instant,
    /// The client's unsent byte count when the send timer last looked.
    unsent_then: u64,
    /// When the current request went upstream.
    proxied_at: Option<Instant>,
    body: Option<Body>,
}

impl Watch {
    /// A session's timeouts, from `site`'s config (the defaults for a folder site); `None` turns
    /// them all off.
    pub(super) fn new(site: Option<Arc<Site>>) -> Watch {
        Watch {
            site,
            answer_since: Instant::now(),
            unsent_then: 0,
            proxied_at: None,
            body: None,
        }
    }

    /// The limit for `kind`, if this stage has timeouts and that one is on.
    fn limit(&self, kind: TimerKind) -> Option<Duration> {
        let limits = match &**self.site.as_ref()? {
            Site::Config(config) => &config.timeouts,
            Site::Folder(_) => &Timeouts::DEFAULT,
        };
        enabled(match kind {
            TimerKind::Header => limits.client_header,
            TimerKind::Body => limits.client_body,
            TimerKind::Send => limits.send,
            TimerKind::KeepAlive => limits.keep_alive,
            TimerKind::UpstreamConnect => limits.upstream_connect,
            TimerKind::Upstream => limits.upstream,
        })
    }

    /// Arm `kind` for `from + limit`, if it is on.
    fn arm(&self, ctx: &mut SessionCtx<'_>, kind: TimerKind, from: Instant) {
        if let Some(limit) = self.limit(kind) {
            ctx.set_timer(kind, from + limit);
        }
    }

    /// A request begins: at the accept for the first one, at its first byte for a later one on
    /// a kept connection. The head must be complete within the header timeout from now.
    pub(super) fn request_begins(&mut self, ctx: &mut SessionCtx<'_>) {
        if ctx.timer(TimerKind::Header).is_none() {
            self.arm(ctx, TimerKind::Header, Instant::now());
        }
    }

    /// The request head is complete (or was rejected): its deadline no longer matters.
    pub(super) fn head_done(&mut self, ctx: &mut SessionCtx<'_>) {
        if self.site.is_some() {
            ctx.cancel_timer(TimerKind::Header);
        }
    }

    /// An answer was queued for the client (a reply, a file, or a proxied exchange begins): from
    /// now on the client must keep taking it.
    pub(super) fn answer_queued(&mut self, ctx: &mut SessionCtx<'_>) {
        if self.site.is_none() {
            return;
        }
        let now = Instant::now();
        self.answer_since = now;
        if ctx.timer(TimerKind::Send).is_none() {
            self.unsent_then = 0;
            self.arm(ctx, TimerKind::Send, now);
        }
    }

    /// The request went upstream. `body_left` is how much of its body the client has still to
    /// send (`None`: unknown, a chunked body).
    pub(super) fn proxied(&mut self, ctx: &mut SessionCtx<'_>, body_left: Option<u64>) {
        if self.site.is_none() {
            return;
        }
        let now = Instant::now();
        self.proxied_at = Some(now);
        self.body = None;
        if body_left != Some(0) {
            let received_then = ctx.progress().client.map_or(0, |c| c.received);
            self.body = Some(Body {
                remaining: body_left,
                received_then,
            });
            self.arm(ctx, TimerKind::Body, now);
        }
        self.arm(ctx, TimerKind::UpstreamConnect, now);
        self.arm(ctx, TimerKind::Upstream, now);
        self.answer_queued(ctx);
    }

    /// The request goes to another upstream because the last one could not be reached (stage
    /// 20's failover): the connect timeout, and the wait for an answer, start again for the new
    /// one (the time spent on the dead one is not the new one's fault).
    pub(super) fn retrying(&mut self, ctx: &mut SessionCtx<'_>) {
        if self.site.is_none() {
            return;
        }
        let now = Instant::now();
        self.proxied_at = Some(now);
        self.arm(ctx, TimerKind::UpstreamConnect, now);
        self.arm(ctx, TimerKind::Upstream, now);
    }

    /// True while a forwarded body is still expected from the client.
    fn body_coming(&self, ctx: &SessionCtx<'_>) -> bool {
        let Some(body) = self.body else {
            return false;
        };
        let Some(client) = ctx.progress().client else {
            return false;
        };
        match body.remaining {
            Some(left) => client.received - body.received_then < left,
            // A chunked body's end is not decoded here: it counts as coming until the
            // upstream starts to answer.
            None => !ctx.upstream_started(),
        }
    }

    /// The timer `kind` fired. `busy` says the session still has an answer in progress (a file
    /// streaming, a proxied exchange, or the last answer of a closing connection), so a send
    /// timer that finds nothing waiting must keep watching.
    pub(super) fn expired(
        &mut self,
        ctx: &mut SessionCtx<'_>,
        kind: TimerKind,
        busy: bool,
    ) -> Expiry {
        let Some(limit) = self.limit(kind) else {
            return Expiry::Nothing;
        };
        let now = Instant::now();
        match kind {
            TimerKind::Header => Expiry::RequestTimeout,
            TimerKind::Body => self.body_expired(ctx, limit, now),
            TimerKind::Send => self.send_expired(ctx, limit, now, busy),
            TimerKind::UpstreamConnect => match ctx.progress().upstream {
                Some(upstream) if upstream.connected_at.is_none() => {
                    phase1::warn!("the upstream did not accept the connection within {limit:?}");
                    Expiry::GatewayTimeout
                }
                _ => Expiry::Nothing,
            },
            TimerKind::Upstream => self.upstream_expired(ctx, limit, now),
            TimerKind::KeepAlive => Expiry::Nothing,
        }
    }

    /// Re-arm `kind` for `since + limit` if that is still ahead; say whether it was.
    fn still_ahead(
        ctx: &mut SessionCtx<'_>,
        kind: TimerKind,
        since: Instant,
        limit: Duration,
        now: Instant,
    ) -> bool {
        let deadline = since + limit;
        if deadline > now {
            ctx.set_timer(kind, deadline);
            true
        } else {
            false
        }
    }

    fn body_expired(&mut self, ctx: &mut SessionCtx<'_>, limit: Duration, now: Instant) -> Expiry {
        if !ctx.is_proxying() || !self.body_coming(ctx) {
            return Expiry::Nothing;
        }
        let last_read = ctx.progress().client.and_then(|c| c.last_recv);
        let since = latest(self.proxied_at, last_read).unwrap_or(now);
        if Watch::still_ahead(ctx, TimerKind::Body, since, limit, now) {
            return Expiry::Nothing;
        }
        phase1::debug!("the request body stalled for {limit:?}");
        Expiry::Close
    }

    fn send_expired(
        &mut self,
        ctx: &mut SessionCtx<'_>,
        limit: Duration,
        now: Instant,
        busy: bool,
    ) -> Expiry {
        let progress = ctx.progress();
        let Some(client) = progress.client else {
            return Expiry::Nothing; // gone: nothing to watch
        };
        let unsent = progress.client_unsent;
        if unsent == 0 {
            // Nothing waits now. Keep watching while more is coming; otherwise the next answer
            // arms the timer again.
            self.unsent_then = 0;
            if busy {
                ctx.set_timer(TimerKind::Send, now + limit);
            }
            return Expiry::Nothing;
        }
        // The client made progress when the kernel last took bytes for it, or, if nothing new
        // was written, when its queue in the kernel got shorter.
        let mut moved = latest(Some(self.answer_since), client.last_send).unwrap_or(now);
        if unsent < self.unsent_then {
            moved = now;
        }
        self.unsent_then = unsent;
        if Watch::still_ahead(ctx, TimerKind::Send, moved, limit, now) {
            return Expiry::Nothing;
        }
        phase1::debug!("the client took nothing for {limit:?} with {unsent} bytes waiting");
        Expiry::Reset
    }

    fn upstream_expired(
        &mut self,
        ctx: &mut SessionCtx<'_>,
        limit: Duration,
        now: Instant,
    ) -> Expiry {
        let progress = ctx.progress();
        let Some(upstream) = progress.upstream else {
            return Expiry::Nothing; // the exchange is over
        };
        // While the client holds things up (it has not taken what the upstream sent, or is
        // still sending its body) the upstream is not late: look again later.
        if progress.client_unsent > 0 || self.body_coming(ctx) {
            ctx.set_timer(TimerKind::Upstream, now + limit);
            return Expiry::Nothing;
        }
        let mut since = latest(self.proxied_at, upstream.connected_at);
        since = latest(since, upstream.last_recv);
        if self.body.is_some() {
            // The answer is due from the end of the body.
            since = latest(since, progress.client.and_then(|c| c.last_recv));
        }
        if Watch::still_ahead(ctx, TimerKind::Upstream, since.unwrap_or(now), limit, now) {
            return Expiry::Nothing;
        }
        phase1::warn!("the upstream sent nothing for {limit:?}");
        if ctx.upstream_started() {
            Expiry::Close
        } else {
            Expiry::GatewayTimeout
        }
    }
}

/// The later of two optional instants.
fn latest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}
