//! What changes from one stage to the next, as named options.
//!
//! Stages 6 to 13 are one server growing up. Instead of eight copies of it, every stage binary
//! passes a [`StageProfile`] to the shared core, so `diff stage08_nonblocking.rs
//! stage09_edge_triggered.rs` shows the lesson of stage 9 in one line:
//! `trigger: Trigger::Level` became `trigger: Trigger::Edge`.
//!
//! The earlier settings are kept on purpose, flaws included: the course has students observe
//! them. See each variant for the flaw it brings.

/// How the loop finds the node an epoll event belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventLookup {
    /// Stage 6: the event carries the file descriptor; search the listeners, then the
    /// connections, for it. O(n) per event.
    ScanByFd,
    /// Stage 7 on: the event carries a generational token naming the node directly; a token
    /// whose node was destroyed earlier in the same batch simply fails to resolve.
    Token,
}

/// Blocking mode of accepted client sockets (listening sockets are always non-blocking).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SocketMode {
    /// Stages 6-7: `send` waits until the kernel takes every byte. One client that never
    /// reads fills its socket buffer and freezes the whole single-threaded server.
    Blocking,
    /// Stage 8 on: `send` and `recv` return `EAGAIN` instead of waiting.
    NonBlocking,
}

/// How epoll reports readiness.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// Stages 6-8: reported on every `epoll_wait` while it holds. With `EPOLLOUT` registered,
    /// an idle connection is always writable, so the loop never sleeps: 100 % of a core.
    Level,
    /// Stage 9 on: reported once per change. The server remembers readiness in flags until an
    /// I/O call returns `EAGAIN`, and sleeps when no flag allows progress.
    Edge,
}

/// Where bytes on their way to a socket wait.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    /// Stages 6-7: no waiting room; `send` in a loop until all is written.
    BlockingSend,
    /// Stages 8-9: an unbounded list per connection. The server never blocks, but it keeps
    /// reading a client that never reads its replies, and memory grows without limit.
    UnboundedList,
    /// Stage 10 on: bounded [pipes](crate::pipe) with backpressure. Memory stays flat.
    Pipe,
}

/// What a plain connection sends back ([`PortRole::Reply`](crate::PortRole::Reply)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reply {
    /// Stages 6-9: each received chunk reversed, except a trailing `\n`.
    Reverse,
    /// Stage 10 on: the bytes unchanged (the pipe joins the connection's two ends).
    Echo,
}

/// The settings that distinguish one stage's server from another's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StageProfile {
    /// How an event finds its node.
    pub lookup: EventLookup,
    /// Blocking or non-blocking accepted sockets.
    pub accepted: SocketMode,
    /// Level- or edge-triggered epoll.
    pub trigger: Trigger,
    /// Blocking send, unbounded list or bounded pipe.
    pub output: Output,
    /// Reverse or echo.
    pub reply: Reply,
}

impl StageProfile {
    /// The finished phase-1 core (stages 10-13), and what phase 2 builds on.
    pub const PIPES: StageProfile = StageProfile {
        lookup: EventLookup::Token,
        accepted: SocketMode::NonBlocking,
        trigger: Trigger::Edge,
        output: Output::Pipe,
        reply: Reply::Echo,
    };

    /// Explain why a combination cannot work, or `None` if it can.
    pub fn problem(&self) -> Option<&'static str> {
        match (self.accepted, self.trigger, self.output, self.reply) {
            (SocketMode::Blocking, _, Output::UnboundedList | Output::Pipe, _) => {
                Some("queued output needs non-blocking sockets")
            }
            (_, Trigger::Edge, Output::BlockingSend, _) => {
                Some("edge-triggered epoll needs readiness flags (an unbounded list or pipes)")
            }
            (_, Trigger::Level, Output::Pipe, _) => {
                Some("pipes remember readiness in flags and need edge-triggered epoll")
            }
            (_, _, Output::Pipe, Reply::Reverse) => {
                Some("a pipe carries bytes unchanged; reversal ends with stage 9")
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn final_profile_is_consistent() {
        assert_eq!(StageProfile::PIPES.problem(), None);
    }

    #[test]
    fn rejects_level_triggered_pipes() {
        let profile = StageProfile {
            trigger: Trigger::Level,
            ..StageProfile::PIPES
        };
        assert!(profile.problem().is_some());
    }
}
