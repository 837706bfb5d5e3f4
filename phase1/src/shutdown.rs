//! Clean shutdown on SIGINT (and SIGTERM).
//!
//! A signal handler may do almost nothing safely, so ours does two async-signal-safe things:
//! it sets an atomic flag and writes one byte to a pipe (the "self-pipe trick"). The read end
//! of that pipe is registered in every core's epoll set, so a sleeping `epoll_wait` wakes up,
//! and the loop sees the flag and returns; `main` then drops the core (closing every socket)
//! and exits 0.
//!
//! Why not `signalfd`? It needs SIGINT blocked, and a blocked signal cannot interrupt a
//! blocking `send`: Ctrl-C would do nothing while stage 7 is frozen on a client that never
//! reads, which is exactly when a student presses it. The handler is installed without
//! `SA_RESTART`, so that frozen `send` returns `EINTR`, the send loop checks the flag, and the
//! server stops. The same handler serves every thread's core (stage 23): the pipe's read end
//! is registered in every core's epoll set and never drained, so one signal wakes them all
//! (see [`crate::stop`]).
//!
//! Installing is process-wide, so it happens once, in [`crate::init`], before any core runs.

use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::OnceLock;

use nix::fcntl::OFlag;
use nix::sys::signal::{self, SaFlags, SigAction, SigHandler, SigSet, Signal};

static REQUESTED: AtomicBool = AtomicBool::new(false);
/// The number of the signal that asked for the shutdown (0 until one arrives).
static RECEIVED: AtomicI32 = AtomicI32::new(0);
static WAKE_WRITE_FD: AtomicI32 = AtomicI32::new(-1);
static WAKE_READ: OnceLock<OwnedFd> = OnceLock::new();

extern "C" fn on_signal(signal: libc::c_int) {
    RECEIVED.store(signal, Ordering::SeqCst);
    REQUESTED.store(true, Ordering::SeqCst);
    let fd = WAKE_WRITE_FD.load(Ordering::SeqCst);
    if fd >= 0 {
        // SAFETY: write(2) is async-signal-safe; the buffer is a valid 1-byte static. errno is
        // saved and restored so the interrupted code sees its own value. The result is ignored:
        // a full pipe already holds a wake-up byte.
        unsafe {
            let saved = *libc::__errno_location();
            libc::write(fd, b"!".as_ptr().cast(), 1);
            *libc::__errno_location() = saved;
        }
    }
}

/// Install the handler and the wake-up pipe. Called once per process, by [`crate::init`].
pub(crate) fn install() -> std::io::Result<()> {
    if WAKE_READ.get().is_some() {
        return Ok(());
    }
    let (read, write) = nix::unistd::pipe2(OFlag::O_NONBLOCK | OFlag::O_CLOEXEC)?;
    WAKE_WRITE_FD.store(write.as_raw_fd(), Ordering::SeqCst);
    // The write end lives as long as the process: the handler may run at any time.
    std::mem::forget(write);
    let action = SigAction::new(
        SigHandler::Handler(on_signal),
        SaFlags::empty(),
        SigSet::empty(),
    );
    for sig in [Signal::SIGINT, Signal::SIGTERM] {
        // SAFETY: the handler only touches atomics and calls write(2), both async-signal-safe.
        unsafe { signal::sigaction(sig, &action) }?;
    }
    let _ = WAKE_READ.set(read);
    Ok(())
}

/// The read end of the wake-up pipe, once installed: every core registers it.
pub(crate) fn wake_fd() -> Option<BorrowedFd<'static>> {
    use std::os::fd::AsFd;
    WAKE_READ.get().map(|fd: &'static OwnedFd| fd.as_fd())
}

/// True once SIGINT or SIGTERM has arrived.
pub fn requested() -> bool {
    REQUESTED.load(Ordering::SeqCst)
}

/// The name of the signal that asked for the shutdown, for the log: "SIGINT" (Ctrl-C) or
/// "SIGTERM" (`kill`, `timeout`, a service manager).
pub fn signal_name() -> &'static str {
    match Signal::try_from(RECEIVED.load(Ordering::SeqCst)) {
        Ok(signal) => signal.as_str(),
        Err(_) => "a signal",
    }
}
