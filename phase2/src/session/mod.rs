//! What an HTTP session does with its client (stages 14-17), plugged into the phase-1 core.
//!
//! Phase 1 moves bytes: it accepts the client, buffers what it sends, streams files and relays
//! upstream bytes through bounded pipes. Phase 2 only decides *what* to send, through the
//! [`SessionHandler`](phase1::SessionHandler) extension point. One [`HttpSession`] lives per
//! client:
//!
//! 1. Client bytes go into the resumable request parser as they arrive, in whatever pieces.
//! 2. A broken head is answered with 400 (or 431) at once, before any file is looked at.
//! 3. A complete head is dispatched to an action: the folder of stages 14-15, or the config's
//!    route from stage 16 on (files, a redirect or a reverse proxy).
//! 4. The answer is queued as one head (plus a small body), a file follows through the core's
//!    pipe, and the connection closes once everything is delivered: one request per connection,
//!    as in the course.
//!
//! # The files of this module
//!
//! | file | what it holds |
//! |---|---|
//! | `connection.rs` | [`HttpSession`]: request framing, keep-alive, pipelining, dropped bodies, the client's end of input, the keep-alive timer. It knows *when* to answer, not *what*. |
//! | `route.rs` | the dispatch: which action answers a request, and what an action gives back (an [`Outcome`](route::Outcome)). **Adding a route action starts there.** |
//! | `access.rs` | stage 18: may this client use the route at all? (403 before any action runs) |
//! | `files.rs` | the file action: a static file, an index file, a small file inlined with its head |
//! | `listing.rs` | a folder without an index file: 404, or stage 17's HTML listing |
//! | `gzip.rs` | stage 19: whether a file or listing is compressed, and the compressed answer |
//! | `upstream.rs` | the reverse-proxy action: the request head for the upstream, and which upstreams to try ([`crate::balancer`]) |
//! | `redirect.rs` | the redirect action |
//! | `timeouts.rs` | stage 21: arming the timers, and what an expired one means |
//! | `metrics.rs` | stage 22: the metrics route's answer |
//! | `telemetry.rs` | stage 22: what one request adds to the metrics and the access log |
//!
//! The bytes of every response come from [`crate::http::response`]; this module only says which
//! response to send.
//!
//! What changes from stage to stage is an explicit [`Options`] value, so the stage binaries
//! differ in a line or two.

mod access;
mod connection;
mod file_cache;
mod files;
mod gzip;
mod listing;
mod metrics;
mod redirect;
pub mod route;
mod telemetry;
mod timeouts;
mod upstream;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::config::Config;

pub use crate::http::ResponseStyle;
pub use connection::{HttpSession, UpstreamFailure};
pub use telemetry::Telemetry;

/// The largest request body a kept connection reads and drops to reach the next request (the
/// file routes answer a body-carrying POST with 405). Beyond this, closing the connection is
/// cheaper than reading on.
pub const MAX_DROPPED_BODY: u64 = 1 << 20;

/// The largest file [`Options::inline_small_files`] reads into the response itself. Below it, one
/// `read` and one write beat the pipe's machinery (a file node, a pipe, a read that meets the end
/// of the file, a second write); the memory held is no more than one pipe chunk would hold.
pub const INLINE_FILE_LIMIT: u64 = 64 * 1024;

/// Where requests are answered from.
#[derive(Debug)]
pub enum Site {
    /// Stages 14-15: every port serves files from this folder (`../public` by default).
    Folder(PathBuf),
    /// Stage 16 on: the config decides, per listener, host and path.
    Config(Arc<Config>),
}

/// What a file route does with a folder that has no index file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Directories {
    /// Stages 14-16: 404.
    NotFound,
    /// Stage 17 on: an HTML listing.
    List,
}

/// Persistent connections (see `connection.rs`, "Keep-alive").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeepAlive {
    /// How long a kept connection may wait for its next request (counted from the moment the
    /// previous answer was queued) before the server closes it.
    pub idle_timeout: Duration,
    /// The most requests answered on one connection; the last answer says `Connection: close`.
    pub max_requests: u32,
}

impl KeepAlive {
    /// 15 s. A browser reuses a connection for the burst of requests a page makes and for the
    /// next click soon after; past that an idle connection only holds a descriptor and two pipes
    /// on a single-threaded server. nginx waits 75 s, which suits a fleet of worker processes
    /// behind a load balancer more than one event loop; Apache httpd waits 5 s.
    pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(15);
    /// 1000, nginx's `keepalive_requests`: a bound on what one client holds, high enough that a
    /// new connection every thousand requests costs nothing measurable.
    pub const DEFAULT_MAX_REQUESTS: u32 = 1000;
}

impl Default for KeepAlive {
    fn default() -> KeepAlive {
        KeepAlive {
            idle_timeout: KeepAlive::DEFAULT_IDLE_TIMEOUT,
            max_requests: KeepAlive::DEFAULT_MAX_REQUESTS,
        }
    }
}

/// The stage's choices.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    pub responses: ResponseStyle,
    pub directories: Directories,
    /// `None` in the course stages: one request per connection, every answer `Connection:
    /// close`. `Some` in `expserver`.
    pub keep_alive: Option<KeepAlive>,
    /// Send a file of at most [`INLINE_FILE_LIMIT`] bytes with its head, in one write (see
    /// `files.rs`, "Small files"). `false` in the course stages, which stream every file
    /// through the core's pipe as the course teaches.
    pub inline_small_files: bool,
    /// Log every connection the core opens and closes (`new connection`, `closing connection`)
    /// at INFO, as the course's log does: `true` in the course stages. `false` in `expserver`,
    /// which must not write two lines per connection: there they are DEBUG lines
    /// (`XPS_DEBUG=1`). Given to the core with `Core::set_connection_logging`.
    pub log_connections: bool,
    /// Send file bodies with `sendfile(2)`, from the page cache straight to the socket, instead of
    /// reading them through the core's pipes. `false` in the course stages, which teach the
    /// pipes; `true` in `expserver`. Either way exactly the announced length is sent.
    pub zero_copy_files: bool,
    /// Keep the bytes of small files in memory for a short while (see `file_cache.rs`), so a
    /// popular small file costs no system call at all. Only with `inline_small_files`.
    pub cache_small_files: bool,
    /// Read a new client at once instead of waiting for epoll to report its request
    /// (`Core::set_eager_read`): saves a loop turn per connection. `false` in the course stages.
    pub eager_read: bool,
    /// The threshold of every pipe the sessions use: the course's 1 MB in the stages,
    /// [`EXPSERVER_PIPE_THRESHOLD`] in `expserver`.
    pub pipe_threshold: usize,
    /// Enforce each route's `ip_whitelist` and `ip_blacklist` (stage 18, see `access.rs`):
    /// a client the lists refuse gets 403 before the route does anything. `false` in stages
    /// 16-17, which read the lists and ignore them, as the course's stage 16 does.
    pub ip_lists: bool,
    /// Stage 21's timeouts (header, body, send, upstream connect, upstream; see
    /// `timeouts.rs`), with the durations the config gives ([`crate::timeouts::Timeouts`]).
    /// `false` before stage 21: those stages wait for ever, as the course's do.
    pub timeouts: bool,
    /// Stage 19: compress file and listing answers on routes with `gzip_enable`, for clients
    /// that accept gzip (see `gzip.rs`). `false` before stage 19, which ignore the gzip keys.
    pub gzip: bool,
    /// With `gzip`: serve a precompressed sibling `NAME.gz` instead of compressing `NAME`, when
    /// it is at least as new (nginx's `gzip_static`; see `gzip.rs`). `false` in the course
    /// stages, `true` in `expserver`: an extension.
    pub gzip_static: bool,
    /// Stage 20: a proxy route spreads its requests over all its upstreams with the route's
    /// `lb_strategy`, and a request whose upstream refuses the connection goes to the next one
    /// (see [`crate::balancer`]). `false` before stage 20: the first upstream only, and 502 if
    /// it is down.
    pub load_balancing: bool,
    /// A proxy route forwards exactly one request per client connection: the head and the
    /// body its framing delimits, never the bytes after it (a pipelined request, which could
    /// otherwise reach the upstream unparsed and unrouted); the connection closes after the
    /// upstream's answer (see `upstream.rs`). `false` in the course stages, which relay the
    /// client's bytes raw as the course does; `true` in `expserver`.
    pub framed_proxy: bool,
    /// Stage 23: run the config's `workers` threads, each with its own core and a
    /// `SO_REUSEPORT` listener on every port (see [`crate::workers`]). `false` before stage 23,
    /// which read `workers` and run one event loop.
    pub workers: bool,
    /// Stage 23: how the workers share each port (`--accept`; `SO_REUSEPORT` by default).
    pub accept: crate::workers::AcceptMode,
    /// Stage 22: count every connection and request in the shared
    /// [`Metrics`](crate::metrics::Metrics), answer `metrics` routes, and write the access log
    /// if the config asks for one (see `telemetry.rs`). `false` before stage 22, which answer
    /// 404 on a metrics route and write no log.
    pub metrics: bool,
}

impl Options {
    /// What the course stages 16-17 do: the response builder, one request per connection, every
    /// file through the core's pipes with the course's threshold, connections logged at INFO.
    /// A stage binary starts from this and changes the field or two its chapter is about
    /// (`Options { directories: Directories::List, ..Options::course() }`), so a new option
    /// touches this function and the binaries that turn it on, never every binary.
    pub fn course() -> Options {
        Options {
            responses: ResponseStyle::Builder,
            directories: Directories::NotFound,
            keep_alive: None,
            inline_small_files: false,
            log_connections: true,
            zero_copy_files: false,
            cache_small_files: false,
            eager_read: false,
            pipe_threshold: phase1::constants::PIPE_THRESHOLD,
            ip_lists: false,
            timeouts: false,
            gzip: false,
            gzip_static: false,
            load_balancing: false,
            framed_proxy: false,
            workers: false,
            accept: crate::workers::AcceptMode::ReusePort,
            metrics: false,
        }
    }

    /// What `expserver` does: every stage's feature (timeouts included) plus the speed-ups the
    /// course stages leave out (keep-alive, small files inlined and cached, `sendfile`, eager
    /// reads, small pipes).
    pub fn expserver(keep_alive: Option<KeepAlive>) -> Options {
        Options {
            directories: Directories::List,
            keep_alive,
            inline_small_files: true,
            log_connections: false,
            zero_copy_files: true,
            cache_small_files: true,
            eager_read: true,
            pipe_threshold: EXPSERVER_PIPE_THRESHOLD,
            ip_lists: true,
            timeouts: true,
            gzip: true,
            gzip_static: true,
            load_balancing: true,
            framed_proxy: true,
            workers: true,
            metrics: true,
            ..Options::course()
        }
    }
}

/// `expserver`'s pipe threshold: 32 KiB. A client that stops reading then holds at most one such
/// pipe towards it (and, when proxied, one from its upstream), about 64 KiB in all beyond the
/// kernel's socket buffers, instead of 2 MB with the course's threshold. File bodies go out with
/// `sendfile` and hold no memory whatever the threshold.
pub const EXPSERVER_PIPE_THRESHOLD: usize = 32 * 1024;
