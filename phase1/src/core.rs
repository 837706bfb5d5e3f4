//! The core: everything one server thread owns, and the typed ids that name it.
//!
//! In C, `xps_core_t` holds lists of pointers (listeners, connections, pipes, sessions) whose
//! slots are NULLed on destroy and compacted later, because an event or an iteration might still
//! refer to them. Here each kind of node lives in a generational slot map and is named by a typed
//! id (`ConnectionId`, `PipeId`, ...). Removing a node frees its slot at once; an id held
//! elsewhere then fails to resolve instead of pointing at garbage or at a newer node in the same
//! slot. The compiler also keeps a `PipeId` from being used where a `ConnectionId` is expected.
//!
//! Nodes never hold references to one another, only ids, and every operation takes
//! `&mut Core`. That is the whole ownership story: no `Rc<RefCell<_>>`.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::AsFd;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Instant;

use nix::sys::epoll::EpollFlags;
use slotmap::{new_key_type, SlotMap};

use crate::connection::Connection;
use crate::constants::READ_CHUNK_SIZE;
use crate::event_loop::{self, EventLoop, Target};
use crate::file::File;
use crate::listener::{self, Listener, PortRole};
use crate::pipe::{End, Owner, Pipe, Side};
use crate::profile::StageProfile;
use crate::session::Session;
use crate::stop::StopHandle;
use crate::timer::Timers;

new_key_type! {
    /// Names a listening socket.
    pub struct ListenerId;
    /// Names a client or upstream connection.
    pub struct ConnectionId;
    /// Names a pipe.
    pub struct PipeId;
    /// Names a file being streamed.
    pub struct FileId;
    /// Names a session.
    pub struct SessionId;
    /// Names an epoll registration (the token an epoll event carries).
    pub struct EventId;
}

/// Running totals of one core, for metrics (stage 22) and tests. Plain integers: a core is
/// single-threaded, and whoever exports them across threads copies them out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Clients accepted.
    pub connections_accepted: u64,
    /// Connections (clients and upstreams) closed.
    pub connections_closed: u64,
    /// `accept` calls that failed for lack of descriptors or memory (EMFILE, ENFILE, ...).
    pub accept_errors: u64,
    /// Times a listener was reported readable and its first `accept` found no client: another
    /// core sharing the socket had taken it. Only the visible part of stage 23's thundering
    /// herd: the kernel checks the socket again before it reports the event, so most workers
    /// that lose the race go back to sleep inside `epoll_wait` and are counted nowhere but in
    /// their thread's context switches.
    pub empty_accept_wakeups: u64,
    /// Bytes received on every socket.
    pub bytes_received: u64,
    /// Bytes sent on every socket (including those sent with `sendfile`).
    pub bytes_sent: u64,
}

/// Bytes moved on client sockets, counted by every core that was given it
/// ([`Core::set_client_traffic`]).
#[derive(Debug, Default)]
pub struct ClientTraffic {
    pub received: AtomicU64,
    pub sent: AtomicU64,
}

/// A periodic callback of the loop (see [`Core::set_tick`]).
pub(crate) struct Tick {
    pub(crate) period: std::time::Duration,
    pub(crate) next: Instant,
    pub(crate) call: Box<dyn FnMut()>,
}

/// One server thread's world: its event loop and every node it runs.
pub struct Core {
    pub(crate) profile: StageProfile,
    pub(crate) event_loop: EventLoop,
    pub(crate) listeners: SlotMap<ListenerId, Listener>,
    pub(crate) connections: SlotMap<ConnectionId, Connection>,
    pub(crate) pipes: SlotMap<PipeId, Pipe>,
    pub(crate) files: SlotMap<FileId, File>,
    pub(crate) sessions: SlotMap<SessionId, Session>,
    /// Every armed session timer (see [`crate::timer`]).
    pub(crate) timers: Timers,
    /// Pipes whose state changed and that `handle_pipes` must look at (see [`crate::pipe`]).
    pub(crate) ready_pipes: Vec<PipeId>,
    /// Stage 9: connections whose remembered readiness may let them make progress.
    pub(crate) ready_connections: Vec<ConnectionId>,
    /// The deadlines of draining client connections, earliest on top (see `connection.rs`,
    /// "Draining"); at most one entry per connection.
    pub(crate) drains: BinaryHeap<Reverse<(Instant, ConnectionId)>>,
    /// Draining connections that spent their read budget and read again next turn.
    pub(crate) draining_ready: Vec<ConnectionId>,
    /// Listeners whose `accept` failed for lack of descriptors, and when to try them again.
    pub(crate) accept_retry: Vec<ListenerId>,
    pub(crate) accept_retry_at: Option<Instant>,
    /// The one read buffer every `recv` and file read uses; only what was read is copied out,
    /// so a 5-byte message costs 5 bytes, not 100 KB.
    pub(crate) read_buffer: Vec<u8>,
    pub(crate) pipe_scratch: Vec<PipeId>,
    pub(crate) connection_scratch: Vec<ConnectionId>,
    pub(crate) counters: Counters,
    /// Bytes on client sockets, shared with other cores (stage 22's metrics); `None` unless
    /// [`Core::set_client_traffic`] was called.
    pub(crate) client_traffic: Option<Arc<ClientTraffic>>,
    /// A callback run every so often (stage 22 flushes its access log with it).
    pub(crate) tick: Option<Tick>,
    /// A session destroyed while its handler was out for a call, and the bytes it had queued
    /// for its client: `session::with_handler` gives them to the handler's `on_end`.
    pub(crate) ended_session: Option<(SessionId, u64)>,
    /// Upstream names already resolved, when names are resolved once (see `upstream::connect`).
    pub(crate) resolved: Option<std::collections::HashMap<String, SocketAddr>>,
    /// Read a newly accepted client at once, without waiting for its first EPOLLIN.
    pub(crate) eager_read: bool,
    /// The threshold of every pipe a session creates (the course's 1 MB unless changed).
    pub(crate) pipe_threshold: usize,
    /// Log accepts and closes at INFO (the course stages) or at DEBUG (a server under load).
    pub(crate) log_connections: bool,
    pub(crate) stop: StopHandle,
}

impl Core {
    /// Create a core for `profile`: do the process-wide setup if `main` has not
    /// ([`crate::init`]), create the epoll instance and this core's waker. Fails if the
    /// profile's options cannot work together.
    pub fn new(profile: StageProfile) -> std::io::Result<Core> {
        if let Some(problem) = profile.problem() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                problem,
            ));
        }
        crate::init()?;
        let stop = StopHandle::new()?;
        let mut event_loop = EventLoop::new(profile.lookup)?;
        if let Some(signals) = crate::shutdown::wake_fd() {
            event_loop.attach(signals, EpollFlags::EPOLLIN, Target::Signal)?;
        }
        event_loop.attach(stop.waker_fd(), EpollFlags::EPOLLIN, Target::Waker)?;
        crate::debug!("created core");
        Ok(Core {
            profile,
            event_loop,
            listeners: SlotMap::with_key(),
            connections: SlotMap::with_key(),
            pipes: SlotMap::with_key(),
            files: SlotMap::with_key(),
            sessions: SlotMap::with_key(),
            timers: Timers::new(),
            ready_pipes: Vec::new(),
            ready_connections: Vec::new(),
            drains: BinaryHeap::new(),
            draining_ready: Vec::new(),
            accept_retry: Vec::new(),
            accept_retry_at: None,
            read_buffer: vec![0; READ_CHUNK_SIZE],
            pipe_scratch: Vec::new(),
            connection_scratch: Vec::new(),
            counters: Counters::default(),
            client_traffic: None,
            tick: None,
            ended_session: None,
            pipe_threshold: crate::constants::PIPE_THRESHOLD,
            eager_read: false,
            resolved: None,
            log_connections: true,
            stop,
        })
    }

    /// A handle that stops this core from any thread (see [`crate::stop`]).
    pub fn stop_handle(&self) -> StopHandle {
        self.stop.clone()
    }

    /// Log every accepted and closed connection at INFO (`true`, the default: the course's
    /// stages show those lines) or only at DEBUG (`false`: a server under load writes no line
    /// per connection).
    pub fn set_connection_logging(&mut self, at_info: bool) {
        self.log_connections = at_info;
    }

    /// The threshold of the pipes sessions create from now on (the course's 1 MB by default).
    /// It bounds what one client can make the server hold: a client that stops reading holds
    /// one full pipe towards it, plus one from its upstream when proxied. The course stages keep
    /// 1 MB; a server facing thousands of clients uses far less (file bodies sent with
    /// `sendfile` hold no memory at all, whatever the threshold).
    pub fn set_pipe_threshold(&mut self, bytes: usize) {
        self.pipe_threshold = bytes.max(1);
    }

    /// Try to read every newly accepted client at once (`true`) instead of waiting for epoll to
    /// say it is readable (`false`, the course's way). A client of an HTTP server sends its
    /// request right after connecting, so the read usually finds it and a whole loop turn (one
    /// `epoll_wait`) per connection is saved; when it does not, one `recv` says `EAGAIN`.
    pub fn set_eager_read(&mut self, on: bool) {
        self.eager_read = on;
    }

    /// Resolve each upstream name once and keep the address (`true`), or for every connection
    /// as the course does (`false`, the default). See [`crate::upstream::connect`].
    pub fn set_resolve_once(&mut self, on: bool) {
        self.resolved = on.then(Default::default);
    }

    /// This core's running totals.
    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// The profile this core runs with.
    pub fn profile(&self) -> StageProfile {
        self.profile
    }

    /// Bind and listen on `addr` (SO_REUSEADDR, backlog 64, non-blocking), giving each
    /// accepted client `role`. Logs "Server listening on port N".
    pub fn listen(&mut self, addr: SocketAddr, role: PortRole) -> std::io::Result<ListenerId> {
        listener::create(self, addr, role)
    }

    /// Stop accepting on a listener and close it.
    pub fn close_listener(&mut self, id: ListenerId) {
        listener::destroy(self, id);
    }

    /// Use an already-bound listening socket (e.g. one of stage 23's per-worker `SO_REUSEPORT`
    /// sockets).
    pub fn listen_socket(
        &mut self,
        socket: TcpListener,
        role: PortRole,
    ) -> std::io::Result<ListenerId> {
        listener::adopt(self, socket, role, false)
    }

    /// Use a listening socket that other cores wait on too (a `dup` of one socket, stage 23's
    /// course way). With `exclusive`, it is registered with `EPOLLEXCLUSIVE`: a new client wakes
    /// one of the waiting cores instead of every one (see [`Counters::empty_accept_wakeups`]).
    pub fn listen_shared_socket(
        &mut self,
        socket: TcpListener,
        role: PortRole,
        exclusive: bool,
    ) -> std::io::Result<ListenerId> {
        listener::adopt(self, socket, role, exclusive)
    }

    /// The address a listener is bound to.
    pub fn listener_addr(&self, id: ListenerId) -> Option<SocketAddr> {
        self.listeners.get(id).map(|l| l.addr)
    }

    /// Count the bytes received from and sent to clients (not upstreams) in `traffic` as well,
    /// with relaxed atomic adds. Several cores may share one `ClientTraffic` (stage 22's
    /// metrics across stage 23's workers). Off by default: the course stages count nothing
    /// more.
    pub fn set_client_traffic(&mut self, traffic: Arc<ClientTraffic>) {
        self.client_traffic = Some(traffic);
    }

    /// Call `every_tick` about every `period` while the loop runs (never much later: the loop's
    /// wait is cut short for it), and once more when [`Core::run`] returns. Stage 22 flushes
    /// its access log with it. One tick per core; a second call replaces the first.
    pub fn set_tick(&mut self, period: std::time::Duration, every_tick: Box<dyn FnMut()>) {
        self.tick = Some(Tick {
            period,
            next: Instant::now() + period,
            call: every_tick,
        });
    }

    /// Run the event loop until SIGINT or SIGTERM (or this core's [`StopHandle`]), then
    /// return `Ok(())`.
    pub fn run(&mut self) -> std::io::Result<()> {
        event_loop::run(self)
    }

    /// Run one iteration of the event loop, waiting at most `limit` for events (`None`: as
    /// long as nothing can happen). For tests and for embedding a core in another loop.
    pub fn turn(&mut self, limit: Option<std::time::Duration>) {
        event_loop::turn(self, limit);
    }

    /// Live node counts: (listeners, connections, pipes, files, sessions).
    pub fn counts(&self) -> (usize, usize, usize, usize, usize) {
        (
            self.listeners.len(),
            self.connections.len(),
            self.pipes.len(),
            self.files.len(),
            self.sessions.len(),
        )
    }

    /// The pipe end `owner` holds on `side`, if that node still exists and has such an end.
    pub(crate) fn end_mut(&mut self, owner: Owner, side: Side) -> Option<&mut End> {
        match (owner, side) {
            (Owner::Connection(id), Side::Source) => {
                self.connections.get_mut(id).map(|c| &mut c.source)
            }
            (Owner::Connection(id), Side::Sink) => {
                self.connections.get_mut(id).map(|c| &mut c.sink)
            }
            (Owner::File(id), Side::Source) => self.files.get_mut(id).map(|f| &mut f.source),
            (Owner::File(_), Side::Sink) => None,
            (Owner::Session(id, role), side) => self
                .sessions
                .get_mut(id)
                .and_then(|s| s.end_mut(role, side)),
        }
    }

    /// A pipe, by id.
    pub fn pipe(&self, id: PipeId) -> Option<&Pipe> {
        self.pipes.get(id)
    }

    /// Remove a socket from this core's epoll instance.
    pub(crate) fn detach(&mut self, id: EventId, fd: impl AsFd) {
        self.event_loop.detach(id, fd.as_fd());
    }

    /// Forget a registration whose socket is about to be closed: closing the last descriptor of a
    /// socket removes it from epoll by itself, so no `epoll_ctl(DEL)` is needed.
    pub(crate) fn forget(&mut self, id: EventId) {
        self.event_loop.forget(id);
    }
}

impl Drop for Core {
    fn drop(&mut self) {
        // Dropping the slot maps closes every socket and file; the log line mirrors the
        // course's xps_core_destroy.
        crate::debug!(
            "destroying core: {} connections, {} listeners",
            self.connections.len(),
            self.listeners.len()
        );
    }
}

/// Raise the soft limit on open files to the hard limit, so the server can hold as many
/// connections as the operator allows (the default soft limit, 1024, is a few hundred clients
/// with upstreams). Failure is logged, not fatal.
pub(crate) fn raise_open_file_limit() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) if soft < hard => {
            if let Err(err) = setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
                crate::warn!("could not raise the open-file limit from {soft}: {err}");
            } else {
                crate::debug!("open-file limit raised from {soft} to {hard}");
            }
        }
        Ok(_) => {}
        Err(err) => crate::warn!("getrlimit failed: {err}"),
    }
}
