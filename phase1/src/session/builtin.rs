//! Stage 13's session handlers: the course's fixed roles, written against the same extension
//! point phase 2 uses.
//!
//! - [`ProxyHandler`] (port 1): relay to the upstream from the first moment; if it fails
//!   before sending a byte, close the client without a byte (the grader requires silence).
//! - [`FileHandler`] (port 2): send one file, then close.
//! - [`IdleHandler`] (ports 3 and 4): client pipes and nothing beyond them.

use std::path::PathBuf;

use super::{SessionCtx, SessionHandler};
use crate::file;

/// Relays the client to an upstream and back.
pub struct ProxyHandler {
    upstream: String,
}

impl ProxyHandler {
    /// Relay to `upstream` (`host:port`).
    pub fn new(upstream: impl Into<String>) -> ProxyHandler {
        ProxyHandler {
            upstream: upstream.into(),
        }
    }
}

impl SessionHandler for ProxyHandler {
    fn on_start(&mut self, ctx: &mut SessionCtx<'_>) {
        if let Err(err) = ctx.proxy(&self.upstream, Vec::new()) {
            crate::error!("upstream {}: {err}", self.upstream);
            ctx.abort();
        }
    }

    /// Not called while relaying; if the relay has ended, late client bytes are dropped.
    fn on_client_data(&mut self, _ctx: &mut SessionCtx<'_>, data: &[u8]) -> usize {
        data.len()
    }
}

/// Sends one file from the public directory, then closes.
pub struct FileHandler {
    public: PathBuf,
    path: PathBuf,
}

impl FileHandler {
    /// Send `path`, which must lie inside `public`.
    pub fn new(public: impl Into<PathBuf>, path: impl Into<PathBuf>) -> FileHandler {
        FileHandler {
            public: public.into(),
            path: path.into(),
        }
    }
}

impl SessionHandler for FileHandler {
    fn on_start(&mut self, ctx: &mut SessionCtx<'_>) {
        match file::open_in_public(&self.public, &self.path) {
            Ok(opened) => {
                if let Err(err) = ctx.send_file(opened) {
                    crate::error!("{}: {err}", self.path.display());
                    ctx.abort();
                }
            }
            Err(err) => {
                crate::warn!("{}: {err}", self.path.display());
                ctx.abort();
            }
        }
    }

    /// The client's bytes are ignored, as in the course.
    fn on_client_data(&mut self, _ctx: &mut SessionCtx<'_>, data: &[u8]) -> usize {
        data.len()
    }
}

/// Holds the client's bytes and does nothing with them: the session exists, with its two
/// client pipes, and "no functionality" beyond, as the course's ports 3 and 4 in stage 13.
/// The bytes stay in the client pipe, so a client that keeps sending is held back at 1 MB.
pub struct IdleHandler;

impl SessionHandler for IdleHandler {
    fn on_client_data(&mut self, _ctx: &mut SessionCtx<'_>, _data: &[u8]) -> usize {
        0
    }
}
