//! The event loop: one epoll instance and the list of what is registered in it.
//!
//! The C course stores a pointer to a `loop_event_t` in each epoll event and, before using it,
//! scans its list to check the event still exists (a handler earlier in the same batch may
//! have destroyed it). Here the registry is a generational slot map: epoll carries the slot's
//! key as its `u64`, and a key whose slot was freed, even if the slot was reused since, simply
//! fails to resolve. No scan, no ABA hazard.
//!
//! Each iteration of [`run`]:
//! 1. lets the nodes on the ready list make progress on remembered readiness
//!    (`handle_connections` in stage 9, [`handle_pipes`](crate::pipe::handle_pipes) from stage
//!    10), which says whether more progress is possible right away;
//! 2. waits in `epoll_wait`: not at all if so, otherwise until an event or the nearest timer
//!    (a session timer, a draining connection's deadline, or a listener waiting to retry
//!    `accept`);
//! 3. dispatches each event to the node it names;
//! 4. fires the session timers that have passed, closes the draining connections whose time is
//!    up, and retries listeners that are due.
//!
//! Nothing in a turn is proportional to the number of open connections: the ready lists hold
//! only what changed, and the timers are a heap whose top is the only entry looked at.

use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use slotmap::{Key, KeyData, SlotMap};

use crate::constants::MAX_EPOLL_EVENTS;
use crate::core::{ConnectionId, Core, EventId, ListenerId};
use crate::profile::{EventLookup, Output, Trigger};
use crate::{connection, listener, pipe, session, shutdown};

/// The node an epoll registration belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// A listening socket: readable means a client is waiting to be accepted.
    Listener(ListenerId),
    /// A client or upstream connection.
    Connection(ConnectionId),
    /// The process's signal wake-up pipe (SIGINT, SIGTERM), shared by every core.
    Signal,
    /// This core's own waker (its [`StopHandle`](crate::StopHandle)).
    Waker,
}

#[derive(Debug)]
struct LoopEvent {
    fd: RawFd,
    target: Target,
}

/// An epoll instance and its registrations.
#[derive(Debug)]
pub struct EventLoop {
    epoll: Epoll,
    events: SlotMap<EventId, LoopEvent>,
    lookup: EventLookup,
}

impl EventLoop {
    /// Create the epoll instance.
    pub fn new(lookup: EventLookup) -> std::io::Result<EventLoop> {
        Ok(EventLoop {
            epoll: Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?,
            events: SlotMap::with_key(),
            lookup,
        })
    }

    /// Register `fd` for `flags`, on behalf of `target`.
    pub fn attach(
        &mut self,
        fd: BorrowedFd<'_>,
        flags: EpollFlags,
        target: Target,
    ) -> std::io::Result<EventId> {
        let id = self.events.insert(LoopEvent {
            fd: fd.as_raw_fd(),
            target,
        });
        let data = match self.lookup {
            EventLookup::Token => id.data().as_ffi(),
            EventLookup::ScanByFd => fd.as_raw_fd() as u64,
        };
        if let Err(err) = self.epoll.add(fd, EpollEvent::new(flags, data)) {
            self.events.remove(id);
            return Err(err.into());
        }
        Ok(id)
    }

    /// Remove a registration. Events for it already returned in this batch will no longer
    /// resolve.
    pub fn detach(&mut self, id: EventId, fd: BorrowedFd<'_>) {
        if let Err(err) = self.epoll.delete(fd) {
            crate::error!("epoll_ctl(DEL) failed: {err}");
        }
        self.events.remove(id);
    }

    /// Forget a registration without telling epoll, for a descriptor that is closed right after
    /// (the kernel drops a closed socket from the epoll set itself). Saves one system call per
    /// connection. Only for descriptors that are not duplicated anywhere.
    pub fn forget(&mut self, id: EventId) {
        self.events.remove(id);
    }

    /// Number of registrations (listeners, connections and the wake-up pipe).
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// True when nothing is registered.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Find the node an event names, or `None` if it is gone.
    fn resolve(&self, data: u64) -> Option<Target> {
        match self.lookup {
            EventLookup::Token => self
                .events
                .get(EventId::from(KeyData::from_ffi(data)))
                .map(|e| e.target),
            // The stage-6 way: compare every registered descriptor with the event's.
            EventLookup::ScanByFd => self
                .events
                .values()
                .find(|e| e.fd as u64 == data)
                .map(|e| e.target),
        }
    }
}

/// Run the loop until SIGINT/SIGTERM or the core's stop handle. Returns `Ok(())` then; the
/// caller drops the core.
pub fn run(core: &mut Core) -> std::io::Result<()> {
    loop {
        if shutdown::requested() {
            crate::warn!("{} received", shutdown::signal_name());
            run_tick(core);
            return Ok(());
        }
        if core.stop.is_requested() {
            crate::info!("stop requested");
            run_tick(core);
            return Ok(());
        }
        turn(core, None);
        if core.tick.as_ref().is_some_and(|t| Instant::now() >= t.next) {
            run_tick(core);
        }
    }
}

/// Call the core's tick (see [`Core::set_tick`]) and schedule the next one.
fn run_tick(core: &mut Core) {
    if let Some(tick) = &mut core.tick {
        (tick.call)();
        tick.next = Instant::now() + tick.period;
    }
}

/// One iteration of the loop. `limit` caps the time spent waiting in `epoll_wait` (`None`: wait
/// as long as nothing can happen). Tests and embedders drive a core with this.
pub fn turn(core: &mut Core, limit: Option<Duration>) {
    let busy = match (core.profile.output, core.profile.trigger) {
        // `|`, not `||`: both run every turn.
        (Output::Pipe, _) => pipe::handle_pipes(core) | connection::handle_draining(core),
        (Output::UnboundedList, Trigger::Edge) => connection::handle_connections(core),
        _ => false,
    };
    let mut wake_at = session::next_timer(core);
    if let Some(drain) = connection::next_drain_deadline(core) {
        wake_at = Some(wake_at.map_or(drain, |at| at.min(drain)));
    }
    if let Some(retry) = core.accept_retry_at {
        wake_at = Some(wake_at.map_or(retry, |at| at.min(retry)));
    }
    if let Some(tick) = &core.tick {
        wake_at = Some(wake_at.map_or(tick.next, |at| at.min(tick.next)));
    }
    if let Some(limit) = limit {
        let cap = Instant::now() + limit;
        wake_at = Some(wake_at.map_or(cap, |at| at.min(cap)));
    }
    let timeout = if busy {
        EpollTimeout::ZERO
    } else {
        timeout_until(wake_at)
    };
    crate::debug!("epoll wait");
    let mut events = [EpollEvent::empty(); MAX_EPOLL_EVENTS];
    let n = match core.event_loop.epoll.wait(&mut events, timeout) {
        Ok(n) => n,
        Err(Errno::EINTR) => return,
        Err(err) => {
            crate::error!("epoll_wait failed: {err}");
            return;
        }
    };
    if n > 0 {
        crate::debug!("handling {n} events");
    }
    for event in &events[..n] {
        dispatch(core, event.data(), event.events());
    }
    session::fire_timers(core);
    connection::close_expired_drains(core);
    listener::retry_due(core);
}

fn dispatch(core: &mut Core, data: u64, flags: EpollFlags) {
    match core.event_loop.resolve(data) {
        None => crate::debug!("event for a node destroyed earlier in this batch"),
        Some(Target::Listener(id)) => listener::on_readable(core, id),
        Some(Target::Connection(id)) => connection::on_event(core, id, flags),
        // The flags are checked at the top of the loop. The signal pipe is never drained, so
        // every core sees it; the waker is this core's own.
        Some(Target::Signal) => {}
        Some(Target::Waker) => core.stop.drain(),
    }
}

/// Milliseconds until `deadline`, rounded up so the loop does not wake just before it.
fn timeout_until(deadline: Option<Instant>) -> EpollTimeout {
    let Some(deadline) = deadline else {
        return EpollTimeout::NONE;
    };
    let wait = deadline.saturating_duration_since(Instant::now());
    let millis = wait.as_micros().div_ceil(1000).min(i32::MAX as u128);
    EpollTimeout::try_from(millis).unwrap_or(EpollTimeout::MAX)
}
