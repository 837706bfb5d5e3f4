//! The eXpServer core (phase 1 of the course): a single-threaded, epoll-driven server built from
//! small nodes joined by pipes.
//!
//! | module | course module | what it is |
//! |---|---|---|
//! | [`listener`] | `xps_listener` | a listening socket and the role of its port |
//! | [`connection`] | `xps_connection` | one connected socket (client or upstream) |
//! | [`core`] | `xps_core` | everything one server thread owns, named by typed ids |
//! | [`event_loop`] | `xps_loop` | epoll, its registrations, and the loop itself |
//! | [`pipe`] | `xps_pipe` | bounded one-way queues with source/sink ends |
//! | [`upstream`] | `xps_upstream` | non-blocking outgoing connections |
//! | [`file`](mod@file) | `xps_file` | a file streamed into a pipe, and the public-directory guard |
//! | [`session`] | `xps_session` | the node between a client and what serves it: **the extension point** |
//! | [`buffer`] | `xps_buffer` | a list of byte chunks with an exact length |
//! | [`logger`] | `xps_logger` | the course's log format over the `log` crate |
//! | [`timer`] | — | per-session timers, keyed by kind, in one heap per core |
//! | [`stop`] | — | stopping a core: signals for all, a [`StopHandle`] for one |
//! | [`profile`] | — | what differs between stages 6-13, as named options |
//! | [`constants`] | `xps.h` | the course's numbers |
//! | [`cli`] | — | the command line shared by the stage binaries |
//!
//! Phase 2 extends this crate through [`SessionHandler`]; see `EXTENDING.md`.

pub mod buffer;
pub mod cli;
pub mod connection;
pub mod constants;
pub mod core;
pub mod event_loop;
pub mod file;
pub mod listener;
pub mod logger;
pub mod pipe;
pub mod profile;
pub mod session;
mod shutdown;
pub mod stop;
pub mod timer;
pub mod upstream;

pub use crate::connection::Progress;
pub use crate::core::{
    ClientTraffic, ConnectionId, Core, Counters, EventId, FileId, ListenerId, PipeId, SessionId,
};
pub use crate::file::BodySource;
pub use crate::listener::PortRole;
pub use crate::profile::{EventLookup, Output, Reply, SocketMode, StageProfile, Trigger};
pub use crate::session::{
    ClientInfo, SessionCtx, SessionError, SessionFactory, SessionHandler, SessionProgress,
};
pub use crate::stop::StopHandle;
pub use crate::timer::TimerKind;

/// Process-wide setup, once, before any core runs: raise the open-file limit to the hard limit
/// and install the SIGINT/SIGTERM handler that stops every core. Call it at the top of `main`
/// (a later call, and [`Core::new`]'s own call, do nothing more). Doing it here rather than in
/// each core means N cores on N threads (stage 23) never race to install it.
pub fn init() -> std::io::Result<()> {
    static DONE: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    DONE.get_or_init(|| {
        crate::core::raise_open_file_limit();
        shutdown::install().map_err(|err| err.to_string())
    })
    .clone()
    .map_err(|err| std::io::Error::other(format!("cannot install the signal handler: {err}")))
}
