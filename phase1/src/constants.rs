//! The course's numbers, in one place.
//!
//! Every size and count the C course hard-codes in `xps.h` lives here under a name, so a
//! student who wants to see what changes when, say, the pipe threshold is 10 KB instead of 1 MB
//! edits exactly one line.

/// Length of the queue of not-yet-accepted connections passed to `listen()`.
pub const BACKLOG: i32 = 64;

/// How many events one `epoll_wait` call may return.
pub const MAX_EPOLL_EVENTS: usize = 32;

/// Size of every `recv` and file read: the most a single read may bring in.
pub const READ_CHUNK_SIZE: usize = 100_000;

/// A pipe stops asking its source for more bytes once it holds this many (1 MB).
/// This is the backpressure that keeps memory bounded from stage 10 on.
pub const PIPE_THRESHOLD: usize = 1_000_000;

/// Most buffers handed to one `sendmsg` call (the course sends one contiguous copy; gathering
/// the pipe's chunks with one vectored write avoids that copy).
pub const MAX_SEND_SLICES: usize = 64;

/// Lingering close (RFC 9112 §9.6, see `connection.rs`): a client we stopped reading early (an
/// error answered before its body was read) is drained for at most this long without a byte
/// from it. nginx's `lingering_timeout` is 5 s too: long enough for a client that is still
/// pushing its body across a slow link, short enough that a silent one soon lets go.
pub const DRAIN_IDLE: std::time::Duration = std::time::Duration::from_secs(5);

/// ... and for at most this long in all, however steadily it sends (nginx's `lingering_time`):
/// a client uploading gigabytes must not hold its descriptor for as long as it likes once its
/// answer has been given.
pub const DRAIN_TOTAL: std::time::Duration = std::time::Duration::from_secs(30);

/// The most a draining connection reads (and drops) per turn of the loop, so that one fast
/// uploader cannot keep the loop from everyone else; the rest waits for the next turn.
pub const DRAIN_READ_BUDGET: usize = 64 * 1024;
