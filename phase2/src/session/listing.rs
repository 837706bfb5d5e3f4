//! A folder that has no index file: 404 in stages 14-16, stage 17's HTML listing after.
//!
//! The listing itself (the HTML, the escaping, the order of entries) is `crate::directory`; this
//! file only decides whether the stage lists folders and turns the page, or the reason it could
//! not be made, into an answer. The page is small and made in memory, so it leaves with its head
//! in one write.

use std::path::Path;

use super::route::{Exchange, Outcome};
use super::Directories;
use crate::directory;
use crate::http::{Reply, StatusCode};

/// Answer for the folder `dir`, which the request's path named.
pub(super) fn answer(exchange: &Exchange<'_>, dir: &Path) -> Outcome {
    if exchange.options.directories == Directories::NotFound {
        return Outcome::error(StatusCode::NOT_FOUND);
    }
    match directory::listing(dir, exchange.path) {
        Ok(html) => Outcome::Reply(Reply::ok("text/html", html.into_bytes())),
        Err(error) => {
            phase1::error!("cannot list {}: {error}", dir.display());
            let status = if error.kind() == std::io::ErrorKind::PermissionDenied {
                StatusCode::FORBIDDEN
            } else {
                StatusCode::INTERNAL_SERVER_ERROR
            };
            Outcome::error(status)
        }
    }
}
