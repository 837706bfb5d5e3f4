//! Stage 19: whether an answer is compressed, and the compressed answer itself.
//!
//! The file action (`files.rs`) and the listing (`listing.rs`) ask [`choose`] once they know a
//! 200 body's type and size. A body is compressed when all of these hold:
//!
//! - the stage compresses ([`Options::gzip`](super::Options::gzip)) and the route has
//!   `gzip_enable` (both folded into the `Option<&Gzip>` the actions are given);
//! - the type is in the route's `gzip_types` and the size is at least `gzip_min_length`
//!   ([`Gzip::worth_compressing`]): a JPEG is compressed already, and a 100-byte file would
//!   grow;
//! - the client accepts gzip ([`accepts_gzip`]).
//!
//! The compressed answer ([`compressed`]) has `Content-Encoding: gzip` and no `Content-Length`
//! (the size is known only at the end): HTTP/1.1 gets `Transfer-Encoding: chunked`, HTTP/1.0 a
//! body ended by closing the connection. HEAD gets the same head and no body.
//!
//! `Vary: Accept-Encoding` goes on every answer whose bytes depend on the request's
//! `Accept-Encoding`: the compressed ones, and the ones that would have been compressed had the
//! client accepted gzip. It tells a cache between the server and its clients (a proxy, a CDN,
//! the browser's own) to keep the two versions apart, so a client that cannot undo gzip is never
//! handed a copy stored for one that can. A body that is never compressed (a JPEG) does not vary.
//!
//! Only these two actions call this file: a proxied answer is relayed untouched, whatever the
//! route says, and errors and redirects have tiny bodies of their own.
//!
//! # Precompressed files (`expserver` only, an extension)
//!
//! A site can compress its big, rarely changing files once, at the best level, ahead of time:
//! `gzip -k -9 app.js` leaves `app.js.gz` beside `app.js`. With
//! [`Options::gzip_static`](super::Options::gzip_static) ([`precompressed`]) a request that would
//! be compressed is answered with that file instead, as nginx's `gzip_static on` does: no CPU
//! spent per request, and a `Content-Length`, so it can go out with `sendfile`. The sibling is used
//! only if it is a regular file inside the served folder that others may read (the stage-12
//! guard), and only if it was modified no earlier than the file itself: a `.gz` left over from an
//! older version is ignored, and the file is compressed on the fly instead. (A small file served
//! from the small-file cache is compressed from its cached bytes, whatever lies beside it.)

use std::io::Read;
use std::path::Path;

use super::route::{Exchange, Outcome};
use crate::config::Gzip;
use crate::gzip_body::{GzipBody, GzipFraming};
use crate::http::accept_encoding::accepts_gzip;
use crate::http::Reply;
use crate::resolve::FoundFile;

/// What to do with a 200 body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Choice {
    /// Compress it at this level.
    Compress(u32),
    /// Send it as it is; with `Vary: Accept-Encoding` when the client's refusal decided it.
    AsIs { vary: bool },
}

/// Decide for a body of type `mime` and `len` bytes; `gzip` is `None` when the stage or the
/// route does not compress.
pub(super) fn choose(exchange: &Exchange<'_>, gzip: Option<&Gzip>, mime: &str, len: u64) -> Choice {
    let Some(gzip) = gzip else {
        return Choice::AsIs { vary: false };
    };
    if !gzip.worth_compressing(mime, len) {
        return Choice::AsIs { vary: false };
    }
    if accepts_gzip(exchange.request.headers.get_all("Accept-Encoding")) {
        Choice::Compress(gzip.level)
    } else {
        Choice::AsIs { vary: true }
    }
}

/// Add `Vary: Accept-Encoding` to a plain reply if `choice` says so.
pub(super) fn mark(reply: Reply, choice: Choice) -> Reply {
    match choice {
        Choice::AsIs { vary: true } => reply.with_header("Vary", "Accept-Encoding"),
        _ => reply,
    }
}

/// The compressed answer: its head, and `source` compressed at `level` after it (not for HEAD).
pub(super) fn compressed(
    exchange: &Exchange<'_>,
    mime: &'static str,
    level: u32,
    source: Box<dyn Read>,
) -> Outcome {
    let request = exchange.request;
    let (reply, framing) = if request.http_version == "1.0" {
        (Reply::ok_until_close(mime), GzipFraming::UntilClose)
    } else {
        (Reply::ok_chunked(mime), GzipFraming::Chunked)
    };
    let reply = reply
        .with_header("Content-Encoding", "gzip")
        .with_header("Vary", "Accept-Encoding");
    phase1::debug!("{} -> gzip level {level}", request.request_line);
    if request.is_head() {
        return Outcome::Reply(reply);
    }
    Outcome::Stream(reply, Box::new(GzipBody::new(source, level, framing)))
}

/// The answer from `found`'s precompressed sibling `NAME.gz`, if there is a usable one (see the
/// module docs): its bytes as they are, with their length, `Content-Encoding: gzip` and `Vary`.
pub(super) fn precompressed(
    exchange: &Exchange<'_>,
    root: &Path,
    found: &FoundFile,
) -> Option<Outcome> {
    let mut name = found.path.file_name()?.to_os_string();
    name.push(".gz");
    let sibling = found.path.with_file_name(name);
    // Canonical path inside the root, a regular file, readable by others.
    let file = phase1::file::open_in_public(root, &sibling).ok()?;
    let meta = file.metadata().ok()?;
    let original = found.file.metadata().ok()?.modified().ok()?;
    if meta.modified().ok()? < original {
        phase1::debug!(
            "{} is older than the file: compressing instead",
            sibling.display()
        );
        return None;
    }
    let request = exchange.request;
    phase1::debug!("{} -> {}", request.request_line, sibling.display());
    let reply = Reply::ok_file(found.mime, meta.len())
        .with_header("Content-Encoding", "gzip")
        .with_header("Vary", "Accept-Encoding");
    if request.is_head() || meta.len() == 0 {
        return Some(Outcome::Reply(reply));
    }
    Some(Outcome::File(reply, file))
}
