//! A folder that has no index file: 404 in stages 14-16, stage 17's HTML listing after.
//!
//! The listing itself (the HTML, the escaping, the order of entries) is `crate::directory`; this
//! file only decides whether the stage lists folders and turns the page, or the reason it could
//! not be made, into an answer. A small folder's page is made in memory and leaves with its head
//! in one write, unless stage 19 compresses it (`gzip.rs`): a listing of a big folder is plain
//! HTML that shrinks several times.
//!
//! A folder of more than [`WHOLE_PAGE_ENTRIES`](crate::directory::WHOLE_PAGE_ENTRIES) entries is not made at once, because building
//! its page (a `stat` per entry) would hold the event loop, and every other client, for a large
//! fraction of a second. Its page is a [`ListingBody`] that reads a slice of names, or renders a
//! slice of rows, each loop turn ([`Outcome::Listing`]); as its size is not known in advance, it goes out like a
//! compressed answer: `Transfer-Encoding: chunked` on HTTP/1.1, ended by the close on HTTP/1.0.

use std::path::Path;

use super::gzip::{self, Choice};
use super::route::{Exchange, Outcome};
use super::Directories;
use crate::config::Gzip;
use crate::directory::{Listing, ListingBody};
use crate::http::{Reply, StatusCode};

/// Answer for the folder `dir`, which the request's path named; `gzip` as in `files::serve`.
pub(super) fn answer(exchange: &Exchange<'_>, dir: &Path, gzip: Option<&Gzip>) -> Outcome {
    if exchange.options.directories == Directories::NotFound {
        return Outcome::error(StatusCode::NOT_FOUND);
    }
    let listing = match Listing::read(dir, exchange.path) {
        Ok(listing) => listing,
        Err(error) => {
            phase1::error!("cannot list {}: {error}", dir.display());
            let status = if error.kind() == std::io::ErrorKind::PermissionDenied {
                StatusCode::FORBIDDEN
            } else {
                StatusCode::INTERNAL_SERVER_ERROR
            };
            return Outcome::error(status);
        }
    };
    if listing.is_small() {
        let html = listing.into_page();
        return match gzip::choose(exchange, gzip, "text/html", html.len() as u64) {
            Choice::Compress(level) => {
                let source = Box::new(std::io::Cursor::new(html.into_bytes()));
                gzip::compressed(exchange, "text/html", level, source)
            }
            choice => Outcome::Reply(gzip::mark(
                Reply::ok("text/html", html.into_bytes()),
                choice,
            )),
        };
    }
    let request = exchange.request;
    phase1::debug!(
        "{} -> listing of more than {} entries, streamed",
        request.request_line,
        listing.len() - 1
    );
    let choice = gzip::choose(exchange, gzip, "text/html", listing.min_page_len());
    if let Choice::Compress(level) = choice {
        // The compressor frames its output: it takes the rows as they are.
        let source = Box::new(ListingBody::new(listing, false));
        return gzip::compressed(exchange, "text/html", level, source);
    }
    let chunked = request.http_version != "1.0";
    let reply = if chunked {
        Reply::ok_chunked("text/html")
    } else {
        Reply::ok_until_close("text/html")
    };
    let reply = gzip::mark(reply, choice);
    if request.is_head() {
        return Outcome::Reply(reply);
    }
    Outcome::Listing(reply, Box::new(ListingBody::new(listing, chunked)))
}
