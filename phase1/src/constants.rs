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
