//! The reverse-proxy action (a `reverse_proxy` route, stage 16): hand the client over to an
//! upstream server.
//!
//! The request head the client sent is parsed already, so it is written again for the upstream,
//! with `Connection: close`: the core relays the upstream's answer until the upstream closes, so
//! a keep-alive upstream must also end its answer by closing. Every further client byte (the
//! body) then goes to the upstream raw and every upstream byte comes back raw; the core's pipes
//! do that. The connection opens the upstream connection and answers 502 if it cannot
//! (`HttpSession::proxy` and `on_upstream_failed`), and the client connection closes when the
//! upstream does, keep-alive or not.
//!
//! # One request per hand-over (`expserver`)
//!
//! Relaying every further client byte raw has a hole: a client that pipelines a second request
//! behind the first (`GET /api/ok` then `GET /private/admin`) gets that second request to the
//! upstream unparsed, so it escapes routing, stage 18's IP lists and the parser's checks
//! (request smuggling). With [`Options::framed_proxy`](super::Options::framed_proxy) the
//! session forwards exactly one framed request: the head, then the body as its
//! `Content-Length` or chunked framing delimits it ([`crate::http::BodyEnd`], followed byte by
//! byte as the relay streams, through the core's `on_relay`). Every client byte after that is
//! read and dropped, and the client connection closes after the upstream's answer, as it
//! already did. A pipelined request therefore is never forwarded; the client, told
//! `Connection: close` by the close, sends it again on a new connection, where it is parsed and
//! routed like any other.
//!
//! Why close rather than parse the next request once the upstream has answered: the answer is
//! relayed raw and its end is known only when the upstream closes (we ask it to with
//! `Connection: close`), so the client connection is at that point already the one to end; and
//! relaying one request and stopping needs no buffering of bodies, so a large upload still
//! streams through bounded pipes. The course stages keep the raw relay the course teaches.
//!
//! Which upstream: before stage 20 the route's first. From stage 20 on
//! ([`Options::load_balancing`](super::Options::load_balancing)) the route's balancer plans the
//! order in which to try them for this client ([`crate::balancer`]); the connection walks that
//! order when a connect fails.

use std::sync::Arc;

use super::route::{Exchange, Outcome};
use crate::balancer::{Attempts, Balancer};
use crate::config::Upstream;

/// Forward the request to one of `upstreams`.
pub(super) fn forward(
    exchange: &Exchange<'_>,
    upstreams: &[Upstream],
    balancer: &Arc<Balancer>,
) -> Outcome {
    let attempts = if exchange.options.load_balancing {
        Attempts::balanced(balancer, upstreams, exchange.client.peer_ip())
    } else {
        Attempts::first_only(upstreams)
    };
    Outcome::Proxy {
        attempts,
        head: exchange.request.serialize_head_with("Connection", "close"),
    }
}
