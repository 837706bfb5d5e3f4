//! A folder that has no index file: 404 in stages 14-16, stage 17's HTML listing after.
//!
//! The listing itself (the HTML, the escaping, the order of entries) is `crate::directory`; this
//! file only decides whether the stage lists folders and turns the page, or the reason it could
//! not be made, into an answer. The page is small and made in memory, so it leaves with its head
//! in one write, unless stage 19 compresses it (`gzip.rs`): a listing of a big folder is plain
//! HTML that shrinks several times.

use std::path::Path;

use super::gzip::{self, Choice};
use super::route::{Exchange, Outcome};
use super::Directories;
use crate::config::Gzip;
use crate::directory;
use crate::http::{Reply, StatusCode};

/// Answer for the folder `dir`, which the request's path named; `gzip` as in `files::serve`.
pub(super) fn answer(exchange: &Exchange<'_>, dir: &Path, gzip: Option<&Gzip>) -> Outcome {
    if exchange.options.directories == Directories::NotFound {
        return Outcome::error(StatusCode::NOT_FOUND);
    }
    match directory::listing(dir, exchange.path) {
        Ok(html) => match gzip::choose(exchange, gzip, "text/html", html.len() as u64) {
            Choice::Compress(level) => {
                let source = Box::new(std::io::Cursor::new(html.into_bytes()));
                gzip::compressed(exchange, "text/html", level, source)
            }
            choice => Outcome::Reply(gzip::mark(
                Reply::ok("text/html", html.into_bytes()),
                choice,
            )),
        },
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
