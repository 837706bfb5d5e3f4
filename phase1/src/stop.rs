//! Stopping a core: its own stop flag and waker, and the one path every signal takes.
//!
//! A core may be asked to stop for two reasons:
//!
//! 1. **A signal** (Ctrl-C, `kill`): [`crate::init`] installs one handler for the process
//!    (see the `shutdown` module). It writes a byte into one process-wide pipe whose read end is
//!    registered in *every* core's epoll set and never drained, so every core wakes up, however
//!    many threads run one, and sees the flag. That is the fan-out: one signal, every core.
//! 2. **Its [`StopHandle`]**: another thread (stage 23's main thread, a test) calls
//!    [`StopHandle::stop`], which sets this core's flag and writes to this core's `eventfd`, so
//!    only this core wakes.
//!
//! Either way the core finishes the turn it is in and [`Core::run`](crate::Core::run) returns.
//! The handle is `Send + Clone`; the core itself stays single-threaded inside.

use std::os::fd::{AsFd, BorrowedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use nix::sys::eventfd::{EfdFlags, EventFd};

/// A core's stop flag and waker.
#[derive(Debug)]
struct Inner {
    requested: AtomicBool,
    waker: EventFd,
}

/// Asks one core to stop, from any thread.
#[derive(Debug, Clone)]
pub struct StopHandle {
    inner: Arc<Inner>,
}

impl StopHandle {
    /// A new, unrequested stop flag with its waker.
    pub(crate) fn new() -> std::io::Result<StopHandle> {
        let waker =
            EventFd::from_value_and_flags(0, EfdFlags::EFD_CLOEXEC | EfdFlags::EFD_NONBLOCK)?;
        Ok(StopHandle {
            inner: Arc::new(Inner {
                requested: AtomicBool::new(false),
                waker,
            }),
        })
    }

    /// Ask the core to stop: it returns from `run` after the turn it is in.
    pub fn stop(&self) {
        self.inner.requested.store(true, Ordering::SeqCst);
        // A full counter (after 2^64-2 writes) would refuse; the core is awake by then anyway.
        let _ = self.inner.waker.write(1);
    }

    /// True once [`StopHandle::stop`] was called.
    pub fn is_requested(&self) -> bool {
        self.inner.requested.load(Ordering::SeqCst)
    }

    /// The waker's descriptor, registered in the core's epoll set.
    pub(crate) fn waker_fd(&self) -> BorrowedFd<'_> {
        self.inner.waker.as_fd()
    }

    /// Empty the waker after it woke the loop, so a level-triggered registration goes quiet.
    pub(crate) fn drain(&self) {
        let _ = self.inner.waker.read();
    }
}
