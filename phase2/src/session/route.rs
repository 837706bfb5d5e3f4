//! Which action answers a request: the dispatch of the HTTP session.
//!
//! The connection (`connection.rs`) knows *when* a request is complete and how to send an
//! answer; the actions know *what* the answer is. This file sits between them. It finds the
//! route of a request (the stage-14/15 folder, or the config's lookup from stage 16 on), runs
//! that route's action, and hands the action's [`Outcome`] back to the connection, which carries
//! it out. An action never touches the connection or the core: it looks at an [`Exchange`] (the
//! request and what the stage allows) and returns a value, so each action can be read, and
//! tested, on its own.
//!
//! | action | file | outcome |
//! |---|---|---|
//! | `file_serve` (and the stage-14/15 folder) | `files.rs`, `listing.rs` (and `gzip.rs` from stage 19) | a reply, a reply followed by a file, a big folder's listing made while it is sent, or a compressed stream |
//! | `redirect` | `redirect.rs` | a reply with `Location` |
//! | `reverse_proxy` | `upstream.rs` | the client handed over to an upstream |
//! | `metrics` | `metrics.rs` | a reply with the server's counters (stage 22) |
//!
//! # Adding a route action
//!
//! Stage 22's `"type": "metrics"` is the example to follow:
//!
//! 1. In `config.rs`, the variant (`RouteAction::Metrics`) and its `type` string.
//! 2. `session/metrics.rs`, with a module doc and one function,
//!    `pub(super) fn answer(exchange: &Exchange<'_>, ...) -> Outcome`, built from a
//!    [`Reply`] (`Reply::ok("text/plain; version=0.0.4; charset=utf-8", text)`), declared
//!    with `mod metrics;` in `session/mod.rs`.
//! 3. Its arm in the `match` of `run_route`:
//!    `RouteAction::Metrics => metrics::answer(exchange, metrics)`.
//!
//! Nothing else changes: the connection already knows how to send every kind of [`Outcome`],
//! keep the connection alive or close it, and the response module writes the bytes. If a new
//! action needs something the connection does not do yet, that is a new [`Outcome`] variant and
//! one arm in `HttpSession::carry_out`, as stage 19's compressed stream ([`Outcome::Stream`]) is.
//!
//! A check that runs before *every* action of a route is one file too, called just before
//! `run_route`: stage 18's IP allow and deny lists are `access.rs`,
//! `if let Some(denied) = access::check(route, exchange) { ... }`, which gives
//! `Some(Outcome::error(StatusCode::FORBIDDEN))` for a client that may not pass (and stage 22
//! counts it as denied). Because it comes first, a refused client never reaches an action: no
//! file is opened and no upstream is contacted for it.

use std::fs::File;

use phase1::ClientInfo;

use super::{access, files, metrics, redirect, upstream, Options, Site};
use crate::balancer::Attempts;
use crate::config::{Listener, Route, RouteAction};
use crate::directory::ListingBody;
use crate::gzip_body::GzipBody;
use crate::http::{Reply, Request, StatusCode};
use crate::metrics::Metrics;
use crate::resolve::CleanPath;

/// One request, and what an action may look at to answer it.
#[derive(Clone, Copy, Debug)]
pub struct Exchange<'a> {
    pub request: &'a Request,
    /// The request's path, decoded and checked (no `..` can leave the served folder).
    pub path: &'a CleanPath,
    /// What the stage turns on (directory listings, inlined small files, ...).
    pub options: &'a Options,
    /// Who asked (the peer address for stage 18's IP lists) and on which listener.
    pub client: ClientInfo,
}

/// What an action decided; the connection carries it out.
#[derive(Debug)]
pub enum Outcome {
    /// Send this reply: a head and, at most, a small body.
    Reply(Reply),
    /// Send this head, then stream the file through the core's pipe.
    File(Reply, File),
    /// Send this head, then the body as the reader makes it, through the core's pipe (stage
    /// 19's compressed answers, already framed for the wire).
    Stream(Reply, Box<GzipBody>),
    /// Send this head, then the listing of a big folder, rendered a slice of rows per loop turn
    /// and framed for the wire (stage 17, `listing.rs`).
    Listing(Reply, Box<ListingBody>),
    /// Hand the client over to an upstream: the first of `attempts` that connects (stage 20
    /// tries the others in turn when one fails). `head` goes first, then every further client
    /// byte; the upstream's bytes come back to the client untouched.
    Proxy { attempts: Attempts, head: Vec<u8> },
}

impl Outcome {
    /// An error reply (the builder style adds its small page).
    pub fn error(status: StatusCode) -> Outcome {
        Outcome::Reply(Reply::error(status))
    }
}

/// What [`answer_counted`] found out besides the outcome, for stage 22's metrics.
#[derive(Debug)]
pub struct Routed {
    pub outcome: Outcome,
    /// The label slot of the route that answered (see [`Metrics::slot`]); 0 for none.
    pub slot: usize,
    /// The route's IP lists refused the client (stage 18's 403).
    pub denied: bool,
}

/// Answer a complete request that arrived on `listener` (a config listener, from stage 16 on).
pub fn answer(
    site: &Site,
    listener: Option<&Listener>,
    request: &Request,
    options: &Options,
    client: ClientInfo,
) -> Outcome {
    answer_counted(site, listener, request, options, client, None).outcome
}

/// [`answer`], also saying which route answered and whether the client was refused, for
/// stage 22's `metrics` (which the metrics route also answers from).
pub fn answer_counted(
    site: &Site,
    listener: Option<&Listener>,
    request: &Request,
    options: &Options,
    client: ClientInfo,
    metrics: Option<&Metrics>,
) -> Routed {
    let unrouted = |outcome| Routed {
        outcome,
        slot: 0,
        denied: false,
    };
    let path = match CleanPath::parse(&request.pathname) {
        Ok(path) => path,
        Err(error) => {
            phase1::debug!("{}: path refused: {error}", request.request_line);
            return unrouted(Outcome::error(error.status()));
        }
    };
    let exchange = Exchange {
        request,
        path: &path,
        options,
        client,
    };
    match site {
        Site::Folder(root) => unrouted(files::serve(&exchange, root, &[], None)),
        Site::Config(config) => {
            let Some(listener) = listener else {
                phase1::error!("a config session without its listener");
                return unrouted(Outcome::error(StatusCode::INTERNAL_SERVER_ERROR));
            };
            let host = request.authority_host();
            match config.lookup(listener, host.as_deref(), path.as_str()) {
                Ok(found) => {
                    let slot = metrics.map_or(0, |m| m.slot(config, Some(found.route)));
                    if let Some(denied) = access::check(found.route, &exchange) {
                        return Routed {
                            outcome: denied,
                            slot,
                            denied: true,
                        };
                    }
                    Routed {
                        outcome: run_route(found.route, &exchange, metrics),
                        slot,
                        denied: false,
                    }
                }
                Err(error) => unrouted(Outcome::error(error.status())),
            }
        }
    }
}

/// Run the action of the route a request matched, once the client may use it (stage 18). A new
/// kind of route is one arm here.
/// The IP lists (`access.rs`) have let the client in before this runs.
fn run_route(route: &Route, exchange: &Exchange<'_>, metrics: Option<&Metrics>) -> Outcome {
    match &route.action {
        RouteAction::FileServe(files) => {
            // Stage 19: compress if both the stage and the route say so.
            let gzip = (exchange.options.gzip && files.gzip.enable).then_some(&files.gzip);
            files::serve(exchange, &files.dir_path, &files.index, gzip)
        }
        RouteAction::Redirect { status, url } => redirect::answer(*status, url),
        RouteAction::ReverseProxy {
            upstreams,
            balancer,
        } => upstream::forward(exchange, upstreams, balancer),
        RouteAction::Metrics => metrics::answer(exchange, metrics),
    }
}

/// For the actions' unit tests: run `answer` on a folder site.
#[cfg(test)]
pub(super) fn answer_from_folder(
    root: &std::path::Path,
    request: &Request,
    options: &Options,
) -> Outcome {
    let client = ClientInfo {
        listener: "127.0.0.1:8001".parse().expect("a literal address"),
        peer: "127.0.0.1:50000".parse().expect("a literal address"),
    };
    answer(
        &Site::Folder(root.to_path_buf()),
        None,
        request,
        options,
        client,
    )
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::config::Config;
    use crate::http::{Parse, RequestParser};
    use crate::session::{Directories, ResponseStyle};

    const CONFIG: &str = r#"{ "servers": [ { "listeners": [ { "host": "0.0.0.0", "port": 8001 } ],
        "routes": [
            { "req_path": "/old", "type": "redirect", "http_status_code": 301, "redirect_url": "http://new/" },
            { "req_path": "/api", "type": "reverse_proxy", "upstreams": [ "localhost:3000" ] } ] } ] }"#;

    fn ask(text: &str) -> Outcome {
        let options = Options {
            directories: Directories::List,
            ..Options::course()
        };
        ask_as(CONFIG, text, &options, "127.0.0.1:50000")
    }

    /// `text` asked of `config` by the client at `peer`, with `options`.
    fn ask_as(config: &str, text: &str, options: &Options, peer: &str) -> Outcome {
        let config = Config::from_json(config, "test").expect("the test config is valid");
        let listener = config.all_listeners()[0].clone();
        let request = match RequestParser::new().feed(text.as_bytes()) {
            Ok(Parse::Complete { request, .. }) => request,
            other => panic!("{text:?} did not parse: {other:?}"),
        };
        let client = ClientInfo {
            listener: "0.0.0.0:8001".parse().expect("a literal address"),
            peer: peer.parse().expect("a literal address"),
        };
        let site = Site::Config(Arc::new(config));
        answer(&site, Some(&listener), &request, options, client)
    }

    #[test]
    fn a_redirect_route_answers_with_its_status_and_location() {
        match ask("POST /old/page HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n") {
            Outcome::Reply(reply) => {
                assert_eq!(reply.status(), StatusCode::MOVED_PERMANENTLY);
                let head = reply.render(ResponseStyle::Handwritten, true, Some("close"));
                let head = String::from_utf8(head).expect("ASCII head");
                assert!(head.contains("\r\nLocation: http://new/\r\n"), "{head}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_proxy_route_forwards_the_head_with_connection_close() {
        let asked = "GET /api/x HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n";
        match ask(asked) {
            Outcome::Proxy { mut attempts, head } => {
                let first = attempts.next().expect("one upstream");
                assert_eq!(first.upstream, "localhost:3000");
                assert!(attempts.next().is_none());
                let head = String::from_utf8(head).expect("ASCII head");
                assert!(head.starts_with("GET /api/x HTTP/1.1\r\n"), "{head}");
                assert!(head.contains("\r\nConnection: close\r\n"), "{head}");
                assert!(!head.contains("keep-alive"), "{head}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn no_route_is_404_and_a_bad_path_is_refused_before_the_lookup() {
        let missing = ask("GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(matches!(missing, Outcome::Reply(r) if r.status() == StatusCode::NOT_FOUND));
        let escaping = ask("GET /old/../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(matches!(escaping, Outcome::Reply(r) if r.status().as_u16() >= 400));
    }

    #[test]
    fn a_refused_client_gets_403_before_any_action_runs() {
        const LISTED: &str = r#"{ "servers": [ { "listeners": [ { "host": "0.0.0.0", "port": 8001 } ],
            "routes": [
                { "req_path": "/api", "type": "reverse_proxy", "upstreams": [ "localhost:3000" ],
                  "ip_blacklist": [ "127.0.0.2" ] },
                { "req_path": "/old", "type": "redirect", "redirect_url": "http://new/",
                  "ip_whitelist": [ "10.0.0.0/8" ] } ] } ] }"#;
        let stage18 = Options {
            ip_lists: true,
            ..Options::course()
        };
        let get = |path: &str| format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
        let status = |outcome: Outcome| match outcome {
            Outcome::Reply(reply) => reply.status().as_u16(),
            Outcome::Proxy { .. } => 0,
            other => panic!("{other:?}"),
        };
        let denied = ask_as(LISTED, &get("/api/x"), &stage18, "127.0.0.2:4000");
        assert_eq!(status(denied), 403, "no hand-over to the upstream");
        let mapped = ask_as(LISTED, &get("/api/x"), &stage18, "[::ffff:127.0.0.2]:4000");
        assert_eq!(
            status(mapped),
            403,
            "an IPv4-mapped peer is its IPv4 address"
        );
        let allowed = ask_as(LISTED, &get("/api/x"), &stage18, "127.0.0.1:4000");
        assert_eq!(status(allowed), 0, "forwarded");
        let outside = ask_as(LISTED, &get("/old"), &stage18, "127.0.0.1:4000");
        assert_eq!(status(outside), 403);
        let inside = ask_as(LISTED, &get("/old"), &stage18, "10.1.2.3:4000");
        assert_eq!(status(inside), 302);
        // Stage 17 reads the lists and ignores them.
        let course = ask_as(LISTED, &get("/api/x"), &Options::course(), "127.0.0.2:4000");
        assert_eq!(status(course), 0);
        // A path that matches no route is 404 whoever asks.
        let nothing = ask_as(LISTED, &get("/none"), &stage18, "127.0.0.2:4000");
        assert_eq!(status(nothing), 404);
    }
}
