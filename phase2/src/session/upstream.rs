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
    let mut upstream_request = exchange.request.clone();
    upstream_request.headers.set("Connection", "close");
    let attempts = if exchange.options.load_balancing {
        Attempts::balanced(balancer, upstreams, exchange.client.peer_ip())
    } else {
        Attempts::first_only(upstreams)
    };
    Outcome::Proxy {
        attempts,
        head: upstream_request.serialize_head(),
    }
}
