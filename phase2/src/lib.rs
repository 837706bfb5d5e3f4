//! Phase 2 of eXpServer (stages 14-17): the server learns HTTP.
//!
//! Phase 1 moves bytes between clients, upstreams and files; phase 2 decides *which* bytes. This
//! crate holds the pieces that do that, each its own module:
//! - [`http`]: the hand-written request parser and the response builder (stages 14, 15), which
//!   writes every response the server sends, and chunked framing;
//! - [`config`]: the course's JSON config and the lookup of a request's route (stage 16);
//! - [`ip_filter`]: a route's IP allow and deny lists (stage 18);
//! - [`resolve`]: turning a URL path into a file inside the served folder, safely (with
//!   `beneath`, its one-system-call way for plain files);
//! - [`mime`]: the `Content-Type` of a file;
//! - [`directory`]: the HTML listing of a folder (stage 17);
//! - [`gzip_body`]: a body compressed while it is sent (stage 19);
//! - [`balancer`]: which upstream of a proxy route gets a request, and failover (stage 20);
//! - [`session`]: the HTTP session plugged into the phase-1 core (the connection, the dispatch to
//!   a route's action, one file per action), and [`server`] to start one;
//! - [`timeouts`]: stage 21's six timeouts as the config gives them (the session arms them);
//! - [`metrics`] and [`access_log`]: stage 22's counters, their Prometheus text, and the
//!   buffered nginx-style access log.

pub mod access_log;
pub mod balancer;
mod beneath;
pub mod config;
pub mod directory;
pub mod gzip_body;
pub mod http;
pub mod ip_filter;
pub mod metrics;
pub mod mime;
pub mod resolve;
pub mod server;
pub mod session;
pub mod timeouts;
pub mod workers;
