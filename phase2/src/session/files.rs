//! The file action: answer a request from a folder (stages 14-15's `--public`, a `file_serve`
//! route from stage 16 on).
//!
//! The path is resolved safely inside the folder (`crate::resolve`: no `..`, encoded dot or
//! symbolic link leads out of it), trying the route's index names for a folder. A file gets a
//! 200 head and then its bytes through the core's pipe; a folder without an index file goes to
//! `listing.rs`; anything else is the error `resolve` names (404, 403, ...). Only GET and HEAD
//! read files: any other method gets 405 with `Allow: GET, HEAD`, as nginx answers.
//!
//! # Small files (the finished server only)
//!
//! With [`Options::inline_small_files`](super::Options::inline_small_files) set (only
//! `expserver` sets it), a file of at most [`INLINE_FILE_LIMIT`] bytes is read at once, with a
//! single `read`, and its bytes follow the head in the same buffer, so the whole answer leaves in
//! one write. Streaming it through the core's pipe (the course stages' way, and still the way for
//! larger files) costs a file node, a pipe, a second write and a read that only finds the end of
//! the file; for a small file that is most of the work. The `Content-Length` is the number of
//! bytes actually read, so a file cut short while being served still gets a truthful answer, and
//! a read error gets a 500 before any byte is sent.
//!
//! # Compressed answers (stage 19)
//!
//! With `gzip` given (the stage compresses and the route has `gzip_enable`), `gzip.rs` decides
//! once the file's type and size are known; a compressed file streams through the compressor
//! instead of being sent as it is, inlined or cached or not.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use super::file_cache::{self, Cached};
use super::gzip::{self, Choice};
use super::listing;
use super::route::{Exchange, Outcome};
use super::INLINE_FILE_LIMIT;
use crate::config::Gzip;
use crate::http::{Method, Reply, StatusCode};
use crate::resolve::{resolve, Resolved};

/// Answer from the folder `root`, trying the `index` names (in order) for a folder. `gzip` is
/// the route's gzip settings when the stage and the route compress (stage 19), `None` otherwise.
pub(super) fn serve(
    exchange: &Exchange<'_>,
    root: &Path,
    index: &[String],
    gzip: Option<&Gzip>,
) -> Outcome {
    let request = exchange.request;
    if !matches!(request.method, Method::Get | Method::Head) {
        // Files are only read here; nginx answers the same way.
        let reply = Reply::error(StatusCode::METHOD_NOT_ALLOWED).with_header("Allow", "GET, HEAD");
        return Outcome::Reply(reply);
    }
    let options = exchange.options;
    let cache_key = (options.cache_small_files && options.inline_small_files)
        .then(|| file_cache::key(root, index, exchange.path.as_str()));
    if let Some(cached) = cache_key.as_deref().and_then(file_cache::get) {
        phase1::debug!("{} -> cached", request.request_line);
        let len = cached.body.len() as u64;
        let choice = gzip::choose(exchange, gzip, cached.mime, len);
        if let Choice::Compress(level) = choice {
            let source = Box::new(std::io::Cursor::new(cached.body.to_vec()));
            return gzip::compressed(exchange, cached.mime, level, source);
        }
        let reply = if request.is_head() {
            Reply::ok_file(cached.mime, len)
        } else {
            Reply::ok_shared(cached.mime, cached.body)
        };
        return Outcome::Reply(gzip::mark(reply, choice));
    }
    let found = match resolve(root, exchange.path, index) {
        Ok(Resolved::File(found)) => found,
        Ok(Resolved::Directory(dir)) => return listing::answer(exchange, &dir, gzip),
        Err(error) => {
            phase1::debug!("{}: {error}", request.request_line);
            return Outcome::error(error.status());
        }
    };
    phase1::debug!("{} -> {}", request.request_line, found.path.display());
    let choice = gzip::choose(exchange, gzip, found.mime, found.size);
    if let Choice::Compress(level) = choice {
        if options.gzip_static {
            if let Some(outcome) = gzip::precompressed(exchange, root, &found) {
                return outcome;
            }
        }
        return gzip::compressed(exchange, found.mime, level, Box::new(found.file));
    }
    // HEAD gets the same head and no body; an empty file has nothing to stream.
    let streams = !request.is_head() && found.size > 0;
    if !streams {
        return Outcome::Reply(gzip::mark(Reply::ok_file(found.mime, found.size), choice));
    }
    if options.inline_small_files && found.size <= INLINE_FILE_LIMIT {
        let meta = cache_key.as_ref().and_then(|_| found.file.metadata().ok());
        return match read_small_file(found.file, found.size) {
            Ok(body) => {
                let body = std::sync::Arc::new(body);
                if let (Some(key), Some(meta)) = (cache_key, meta) {
                    let cached = Cached {
                        body: body.clone(),
                        mime: found.mime,
                    };
                    // Only a file read whole as it was when opened is remembered.
                    if meta.len() == body.len() as u64 {
                        file_cache::put(key, found.path.clone(), &meta, cached);
                    }
                }
                Outcome::Reply(gzip::mark(Reply::ok_shared(found.mime, body), choice))
            }
            Err(error) => {
                phase1::error!("cannot read {}: {error}", found.path.display());
                Outcome::error(StatusCode::INTERNAL_SERVER_ERROR)
            }
        };
    }
    let reply = gzip::mark(Reply::ok_file(found.mime, found.size), choice);
    Outcome::File(reply, found.file)
}

/// Read up to `size` bytes (the size the file had when opened) from the start of `file`: one
/// `read` for a regular file, unless the file shrank meanwhile.
fn read_small_file(mut file: File, size: u64) -> io::Result<Vec<u8>> {
    let mut body = vec![0; usize::try_from(size).unwrap_or(0)];
    let mut filled = 0;
    while filled < body.len() {
        match file.read(&mut body[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    body.truncate(filled);
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::super::route::answer_from_folder;
    use super::super::{Options, ResponseStyle};
    use super::*;
    use crate::http::{Framing, Parse, Request, RequestParser};

    fn request(text: &str) -> Request {
        match RequestParser::new().feed(text.as_bytes()) {
            Ok(Parse::Complete { request, .. }) => request,
            other => panic!("{text:?} did not parse: {other:?}"),
        }
    }

    fn options(inline: bool) -> Options {
        Options {
            inline_small_files: inline,
            ..Options::course()
        }
    }

    fn folder() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("a temporary folder");
        std::fs::write(dir.path().join("a.txt"), b"hello").expect("write a.txt");
        std::fs::write(dir.path().join("empty.txt"), b"").expect("write empty.txt");
        dir
    }

    #[test]
    fn a_file_streams_after_its_head() {
        let dir = folder();
        let get = request("GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n");
        match answer_from_folder(dir.path(), &get, &options(false)) {
            Outcome::File(reply, _) => {
                assert_eq!(reply.status(), StatusCode::OK);
                assert_eq!(reply.framing(), Framing::Length(5));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn head_and_empty_files_send_only_a_head() {
        let dir = folder();
        let head = request("HEAD /a.txt HTTP/1.1\r\nHost: x\r\n\r\n");
        let empty = request("GET /empty.txt HTTP/1.1\r\nHost: x\r\n\r\n");
        for (req, length) in [(head, 5), (empty, 0)] {
            match answer_from_folder(dir.path(), &req, &options(false)) {
                Outcome::Reply(reply) => assert_eq!(reply.framing(), Framing::Length(length)),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn a_small_file_is_inlined_when_the_stage_allows_it() {
        let dir = folder();
        let get = request("GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n");
        match answer_from_folder(dir.path(), &get, &options(true)) {
            Outcome::Reply(reply) => {
                let bytes = reply.render(ResponseStyle::Builder, true, Some("close"));
                assert!(bytes.ends_with(b"\r\n\r\nhello"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn other_methods_get_405_with_allow() {
        let dir = folder();
        let post = request("POST /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
        match answer_from_folder(dir.path(), &post, &options(false)) {
            Outcome::Reply(reply) => {
                assert_eq!(reply.status(), StatusCode::METHOD_NOT_ALLOWED);
                let bytes = reply.render(ResponseStyle::Handwritten, true, Some("close"));
                let text = String::from_utf8(bytes).expect("ASCII head");
                assert!(text.ends_with("Content-Length: 0\r\nAllow: GET, HEAD\r\n\r\n"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn missing_files_and_folders_are_404_before_stage_17() {
        let dir = folder();
        std::fs::create_dir(dir.path().join("sub")).expect("create sub");
        for path in ["/nothing.txt", "/sub/"] {
            let get = request(&format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n"));
            match answer_from_folder(dir.path(), &get, &options(false)) {
                Outcome::Reply(reply) => assert_eq!(reply.status(), StatusCode::NOT_FOUND),
                other => panic!("{path}: {other:?}"),
            }
        }
    }
}
