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

use super::route::{Exchange, Outcome};
use crate::config::Upstream;

/// Forward the request to `upstream`.
pub(super) fn forward(exchange: &Exchange<'_>, upstream: &Upstream) -> Outcome {
    let mut upstream_request = exchange.request.clone();
    upstream_request.headers.set("Connection", "close");
    Outcome::Proxy {
        upstream: upstream.to_string(),
        head: upstream_request.serialize_head(),
    }
}
