//! The redirect action (a `redirect` route, stage 16): the route's status (301, 302, 307, ...)
//! and `Location: <redirect_url>`, no body, whatever the method and path.
//!
//! The shortest action, and a model for a new one: it looks at what it needs and returns an
//! [`Outcome`]; the connection sends it and keeps or closes the connection.

use super::route::Outcome;
use crate::http::{Reply, StatusCode};

/// Send the client to `url` with `status` (a 3xx, checked when the config was read).
pub(super) fn answer(status: StatusCode, url: &str) -> Outcome {
    Outcome::Reply(Reply::redirect(status, url))
}
