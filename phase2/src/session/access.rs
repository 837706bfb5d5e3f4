//! Stage 18: may this client use the route at all?
//!
//! The check runs once the route is known and before its action does anything: before a file is
//! opened, a folder listed, a redirect answered or an upstream contacted. A client the route's
//! lists refuse gets `403 Forbidden` from the one response builder, like every other error, and
//! nothing else happens for it. Running the check here, in the dispatch, rather than in each
//! action is what makes it hold for every kind of route, the ones added later included.
//!
//! The client is the peer address of the connection (never a header such as `X-Forwarded-For`,
//! which a client can write as it likes), with an IPv4-mapped IPv6 address compared as IPv4.
//! The rule itself is [`crate::ip_filter::IpLists::allows`].

use super::route::{Exchange, Outcome};
use crate::config::Route;
use crate::http::StatusCode;

/// `Some(403)` if the stage enforces IP lists and `route`'s lists refuse the client of
/// `exchange`; `None` if the request may go on to the route's action.
pub(super) fn check(route: &Route, exchange: &Exchange<'_>) -> Option<Outcome> {
    if !exchange.options.ip_lists || route.ip_lists.is_empty() {
        return None;
    }
    let client = exchange.client.peer_ip();
    if route.ip_lists.allows(client) {
        return None;
    }
    phase1::debug!(
        "{}: client {client} is not allowed on route {} (403)",
        exchange.request.request_line,
        route.req_path
    );
    Some(Outcome::error(StatusCode::FORBIDDEN))
}
