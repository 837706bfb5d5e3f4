//! Pipes: one-way, bounded queues of bytes between two nodes.
//!
//! From stage 10 on, no node writes straight into another. A connection's receiving side, a
//! file being read, or a session is a **source**; whatever must take those bytes (a connection's
//! sending side, a session) is a **sink**; a [`Pipe`] joins exactly one source to exactly one
//! sink and holds the bytes in between.
//!
//! Three rules make the whole server flow-controlled:
//!
//! 1. **Threshold.** A source is asked for bytes only while its pipe holds less than
//!    [`PIPE_THRESHOLD`](crate::constants::PIPE_THRESHOLD) (1 MB). A client that stops reading
//!    fills its pipe, then the server stops reading whoever feeds that pipe: memory stays bounded.
//! 2. **Readiness flags.** Each end carries `ready` ("I can produce / accept bytes now"). The
//!    owner sets it when epoll says so and clears it only on `EAGAIN`, so an edge-triggered
//!    notification is never lost. [`handle_pipes`] runs once per loop iteration and calls an
//!    end's owner whenever its flag and the pipe allow progress.
//! 3. **Close rules.** When one end goes away, the other is told through its close callback:
//!    a source at once, a sink only after the pipe is drained (so a client still receives every
//!    byte its upstream sent before closing). The told end becomes inactive; a connection closes
//!    when both of its ends are inactive. A pipe with neither end is destroyed here, lazily, so
//!    a pipe id held during a callback always stays valid.
//!
//! # Only the pipes that changed are visited
//!
//! The course's `handle_pipes` walks every pipe of the core on every turn of the loop, asking
//! each "can you make progress?". That is simple and correct, and it costs O(open connections)
//! per turn: with 5 000 idle keep-alive clients the server spends most of its time asking pipes
//! that have nothing to do (a profile of the earlier version of this file put 88 % of the time
//! there, and requests/s fell to 0.4x of the same server without the idle clients).
//!
//! A pipe can only gain work when something about it changes: an end's `ready` flag is set (an
//! epoll event, a session changing its state), bytes are written or consumed, an end is
//! attached or detached. Every place that makes such a change calls [`wake`] with the pipe, which
//! puts it on the core's **ready list** (once: a `queued` flag keeps it from being listed
//! twice). [`handle_pipes`] visits only the listed pipes, and lists again any pipe that still
//! has work after its turn. A turn therefore costs O(pipes that changed), and the loop may block
//! in `epoll_wait` exactly when the ready list is empty. This is the same idea as the ready
//! list inside the kernel's epoll itself, and as mio's. In debug builds, every turn checks that
//! no pipe with work is missing from the list, so a forgotten [`wake`] shows up in the tests.
//!
//! The course stores C function pointers in each end. Here an end is a plain [`End`] kept by
//! its owner, the pipe records *who* owns each end ([`Owner`]), and the calls go through a
//! `match` to the owning module (`connection`, `file`, `session`).

use crate::buffer::{BufferList, Chunk};
use crate::core::{ConnectionId, Core, FileId, PipeId, SessionId};
use crate::{connection, file, session};

/// Which node owns a pipe end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owner {
    /// A client or upstream connection: its receiving side is a source, its sending side a sink.
    Connection(ConnectionId),
    /// A file being streamed: a source only.
    File(FileId),
    /// One of a session's five ends, named after the peer it faces.
    Session(SessionId, Role),
}

/// The peer a session end faces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The client connection.
    Client,
    /// The upstream connection.
    Upstream,
    /// The file being served.
    File,
}

/// Whether an end writes into its pipe or reads from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// Produces bytes into the pipe.
    Source,
    /// Takes bytes out of the pipe.
    Sink,
}

/// One end of a pipe, stored in the node that owns it.
#[derive(Debug, Default, Clone, Copy)]
pub struct End {
    /// The pipe this end is attached to, if any.
    pub pipe: Option<PipeId>,
    /// The owner can produce (source) or accept (sink) bytes right now.
    pub ready: bool,
    /// A peer may still be at the other side of the pipe. Set when the pipe is created,
    /// cleared when the close callback tells the owner the other side is gone.
    pub active: bool,
}

/// A one-way queue of bytes from one source to one sink.
#[derive(Debug)]
pub struct Pipe {
    source: Option<Owner>,
    sink: Option<Owner>,
    buffer: BufferList,
    threshold: usize,
    /// The sink is called only once the pipe holds at least this many bytes. Normally 1; a
    /// session handler that left `n` bytes unconsumed raises it to `n + 1` ("call me when
    /// something new arrived"), which keeps it from being called again for the same bytes.
    sink_wants: usize,
    /// The pipe is on the core's ready list (see [`wake`]).
    queued: bool,
}

impl Pipe {
    /// Bytes held.
    pub fn len(&self) -> usize {
        self.buffer.len()
    }

    /// True when no byte is held.
    pub fn is_empty(&self) -> bool {
        self.buffer.is_empty()
    }

    /// The sink has something (new) to take.
    pub fn is_readable(&self) -> bool {
        self.buffer.len() >= self.sink_wants.max(1)
    }

    /// The source may add more: the pipe is below its threshold.
    pub fn is_writable(&self) -> bool {
        self.buffer.len() < self.threshold
    }

    /// Room left below the threshold.
    pub fn room(&self) -> usize {
        self.threshold.saturating_sub(self.buffer.len())
    }

    /// The held bytes (the sink's view).
    pub fn buffer(&self) -> &BufferList {
        &self.buffer
    }

    /// Take the bytes out, leaving the pipe empty (used to lend them to a session handler).
    pub(crate) fn take_buffer(&mut self) -> BufferList {
        std::mem::take(&mut self.buffer)
    }

    /// Put bytes back in front of anything that arrived meanwhile.
    pub(crate) fn restore_buffer(&mut self, mut held: BufferList) {
        while let Some(chunk) = self.buffer.pop_chunk() {
            held.push_chunk(chunk);
        }
        self.buffer = held;
    }

    /// See [`Pipe::sink_wants`](Pipe#structfield.sink_wants).
    pub(crate) fn set_sink_wants(&mut self, n: usize) {
        self.sink_wants = n.max(1);
    }

    /// The owner of the source end, if attached.
    pub fn source(&self) -> Option<Owner> {
        self.source
    }

    /// The owner of the sink end, if attached.
    pub fn sink(&self) -> Option<Owner> {
        self.sink
    }
}

/// Create a pipe from `source` to `sink` holding up to `threshold` bytes, and mark both ends
/// attached and active. Returns `None` if either owner no longer exists or its end is taken.
pub fn create(core: &mut Core, source: Owner, sink: Owner, threshold: usize) -> Option<PipeId> {
    let free = |end: Option<&mut End>| end.is_some_and(|e| e.pipe.is_none());
    if !free(core.end_mut(source, Side::Source)) || !free(core.end_mut(sink, Side::Sink)) {
        crate::error!("pipe end missing or already attached");
        return None;
    }
    let id = core.pipes.insert(Pipe {
        source: Some(source),
        sink: Some(sink),
        buffer: BufferList::new(),
        threshold,
        sink_wants: 1,
        queued: false,
    });
    for (owner, side) in [(source, Side::Source), (sink, Side::Sink)] {
        if let Some(end) = core.end_mut(owner, side) {
            end.pipe = Some(id);
            end.active = true;
        }
    }
    wake(core, id);
    crate::debug!("created pipe");
    Some(id)
}

/// Something about pipe `id` changed (a readiness flag, its bytes, its ends): put it on the
/// ready list so [`handle_pipes`] looks at it. Listing a pipe with nothing to do is harmless.
pub fn wake(core: &mut Core, id: PipeId) {
    if let Some(pipe) = core.pipes.get_mut(id) {
        if !pipe.queued {
            pipe.queued = true;
            core.ready_pipes.push(id);
        }
    }
}

/// Wake the pipe `owner`'s end on `side` is attached to, if any.
pub fn wake_end(core: &mut Core, owner: Owner, side: Side) {
    if let Some(id) = core.end_mut(owner, side).and_then(|end| end.pipe) {
        wake(core, id);
    }
}

/// Wake every pipe `owner` has an end in (a session changed several of its flags at once).
pub fn wake_owner(core: &mut Core, owner: Owner) {
    match owner {
        Owner::Connection(_) | Owner::File(_) => {
            wake_end(core, owner, Side::Source);
            wake_end(core, owner, Side::Sink);
        }
        Owner::Session(id, _) => {
            for role in [Role::Client, Role::Upstream, Role::File] {
                for side in [Side::Source, Side::Sink] {
                    wake_end(core, Owner::Session(id, role), side);
                }
            }
        }
    }
}

/// Detach `owner`'s end on `side` from its pipe. The pipe survives; [`handle_pipes`] tells the
/// other end and later destroys the pipe once both ends are gone.
pub fn detach(core: &mut Core, owner: Owner, side: Side) {
    let Some(end) = core.end_mut(owner, side) else {
        return;
    };
    let Some(pipe_id) = end.pipe.take() else {
        return;
    };
    if let Some(pipe) = core.pipes.get_mut(pipe_id) {
        match side {
            Side::Source => pipe.source = None,
            Side::Sink => pipe.sink = None,
        }
    }
    wake(core, pipe_id);
}

/// Append `bytes` to a pipe (the source's write). The threshold is the caller's business:
/// sources check [`Pipe::room`] before reading, so this never refuses.
pub fn write(core: &mut Core, pipe: PipeId, bytes: Vec<u8>) {
    write_chunk(core, pipe, Chunk::Bytes(bytes));
}

/// Append a chunk (bytes, or a region of a file to be sent without copying).
pub fn write_chunk(core: &mut Core, id: PipeId, chunk: Chunk) {
    if let Some(pipe) = core.pipes.get_mut(id) {
        pipe.buffer.push_chunk(chunk);
        wake(core, id);
    }
}

/// The sink took `n` bytes from the front of pipe `id`.
pub fn consume(core: &mut Core, id: PipeId, n: usize) {
    if let Some(pipe) = core.pipes.get_mut(id) {
        pipe.buffer.consume(n);
        wake(core, id);
    }
}

/// Move whole chunks from one pipe to another while the second is below its threshold (it may
/// go over by at most one chunk). No byte is copied. Returns the bytes moved and whether `to`
/// is now full.
pub fn transfer(core: &mut Core, from: PipeId, to: PipeId) -> (usize, bool) {
    let mut moved = 0;
    let full = loop {
        let Some(dest) = core.pipes.get(to) else {
            break false;
        };
        if !dest.is_writable() {
            break true;
        }
        let Some(chunk) = core.pipes.get_mut(from).and_then(|p| p.buffer.pop_chunk()) else {
            break false;
        };
        moved += chunk.len();
        write_chunk(core, to, chunk);
    };
    if moved > 0 {
        wake(core, from); // room again for its source
    }
    (moved, full)
}

/// What [`handle_pipes`] may do with one pipe right now.
struct Work {
    call_source: Option<Owner>,
    call_sink: Option<Owner>,
    source_lost_sink: Option<Owner>,
    sink_lost_source: Option<Owner>,
}

fn work_for(core: &mut Core, pipe_id: PipeId) -> Option<Work> {
    let pipe = core.pipes.get(pipe_id)?;
    let (source, sink) = (pipe.source, pipe.sink);
    let (readable, writable) = (pipe.is_readable(), pipe.is_writable());
    let end = |core: &mut Core, owner: Option<Owner>, side| -> Option<(Owner, End)> {
        let owner = owner?;
        core.end_mut(owner, side).map(|e| (owner, *e))
    };
    let src = end(core, source, Side::Source);
    let snk = end(core, sink, Side::Sink);
    Some(Work {
        // A source is asked for bytes only while someone can take them and there is room.
        call_source: src
            .filter(|(_, e)| e.ready && writable && snk.is_some())
            .map(|(o, _)| o),
        call_sink: snk.filter(|(_, e)| e.ready && readable).map(|(o, _)| o),
        source_lost_sink: src
            .filter(|(_, e)| e.active && sink.is_none())
            .map(|(o, _)| o),
        // A sink hears its source is gone only once it has taken every byte it will take.
        sink_lost_source: snk
            .filter(|(_, e)| e.active && source.is_none() && !readable)
            .map(|(o, _)| o),
    })
}

fn has_work(work: &Work) -> bool {
    work.call_source.is_some()
        || work.call_sink.is_some()
        || work.source_lost_sink.is_some()
        || work.sink_lost_source.is_some()
}

/// Let every pipe on the ready list make progress once: destroy pipes with no ends, call
/// sources that may write, sinks that may read, and the close callbacks of ends whose peer is
/// gone.
///
/// Returns true when some pipe can still make progress, so the loop must not block in
/// `epoll_wait`.
///
/// Unlike the C course, a close callback runs once per end (the end is marked inactive first)
/// rather than on every iteration while the pipe stays one-sided: that would spin the loop until
/// the owner reacts.
pub fn handle_pipes(core: &mut Core) -> bool {
    // This turn handles what is listed now; whatever gets listed meanwhile waits for the next
    // turn (which then does not block in epoll_wait).
    let mut ids = std::mem::take(&mut core.pipe_scratch);
    ids.clear();
    std::mem::swap(&mut ids, &mut core.ready_pipes);
    for &id in &ids {
        if let Some(pipe) = core.pipes.get_mut(id) {
            pipe.queued = false;
        }
    }

    for &id in &ids {
        let Some(pipe) = core.pipes.get(id) else {
            continue;
        };
        if pipe.source.is_none() && pipe.sink.is_none() {
            core.pipes.remove(id);
            crate::debug!("destroyed pipe");
            continue;
        }
        // Each step looks at the pipe as the step before left it; the work is computed again
        // only after a callback has run.
        let Some(mut work) = work_for(core, id) else {
            continue;
        };
        if let Some(owner) = work.call_source {
            call_source(core, owner);
            let Some(now) = work_for(core, id) else {
                continue;
            };
            work = now;
        }
        if let Some(owner) = work.call_sink {
            call_sink(core, owner);
            let Some(now) = work_for(core, id) else {
                continue;
            };
            work = now;
        }
        if let Some(owner) = work.source_lost_sink {
            if let Some(end) = core.end_mut(owner, Side::Source) {
                end.active = false;
            }
            source_closed(core, owner);
            let Some(now) = work_for(core, id) else {
                continue;
            };
            work = now;
        }
        if let Some(owner) = work.sink_lost_source {
            if let Some(end) = core.end_mut(owner, Side::Sink) {
                end.active = false;
            }
            sink_closed(core, owner);
            let Some(now) = work_for(core, id) else {
                continue;
            };
            work = now;
        }
        // A pipe that can still make progress on its own (a source that has not met EAGAIN
        // yet) stays listed. Changes made to it by later callbacks list it through `wake`.
        let orphan = core
            .pipes
            .get(id)
            .is_some_and(|p| p.source.is_none() && p.sink.is_none());
        if orphan || has_work(&work) {
            wake(core, id);
        }
    }

    core.pipe_scratch = ids;
    // Pipes left with no end at all (a connection closed during this turn) need no further
    // turn: destroy them now, so that finishing a connection does not cost one more
    // `epoll_wait`.
    let mut listed = std::mem::take(&mut core.ready_pipes);
    listed.retain(|&id| {
        let orphan = core
            .pipes
            .get(id)
            .is_some_and(|p| p.source.is_none() && p.sink.is_none());
        if orphan {
            core.pipes.remove(id);
            crate::debug!("destroyed pipe");
        }
        !orphan
    });
    core.ready_pipes = listed;
    #[cfg(debug_assertions)]
    check_ready_list(core);
    !core.ready_pipes.is_empty()
}

/// Debug builds: every pipe that has work must be on the ready list, or it would wait for an
/// unrelated event (a lost wake-up). O(pipes), so never in release builds.
#[cfg(debug_assertions)]
fn check_ready_list(core: &mut Core) {
    // With many pipes, check one turn in 64 only, so that tests with thousands of clients do
    // not spend their time here (a lost wake-up leaves a pipe stuck, so it is still caught).
    thread_local! {
        static TURN: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
    }
    let turn = TURN.with(|t| {
        t.set(t.get() + 1);
        t.get()
    });
    if core.pipes.len() > 256 && !turn.is_multiple_of(64) {
        return;
    }
    let ids: Vec<PipeId> = core.pipes.keys().collect();
    for id in ids {
        let queued = core.pipes.get(id).is_some_and(|p| p.queued);
        if !queued && work_for(core, id).is_some_and(|w| has_work(&w)) {
            panic!("pipe with work is not on the ready list (a missing pipe::wake)");
        }
    }
}

fn call_source(core: &mut Core, owner: Owner) {
    match owner {
        Owner::Connection(id) => connection::on_source_ready(core, id),
        Owner::File(id) => file::on_source_ready(core, id),
        Owner::Session(id, role) => session::on_source_ready(core, id, role),
    }
}

fn call_sink(core: &mut Core, owner: Owner) {
    match owner {
        Owner::Connection(id) => connection::on_sink_ready(core, id),
        Owner::File(_) => {} // a file is never a sink
        Owner::Session(id, role) => session::on_sink_ready(core, id, role),
    }
}

fn source_closed(core: &mut Core, owner: Owner) {
    match owner {
        Owner::Connection(id) => connection::on_source_closed(core, id),
        Owner::File(id) => file::on_source_closed(core, id),
        Owner::Session(id, role) => session::on_source_closed(core, id, role),
    }
}

fn sink_closed(core: &mut Core, owner: Owner) {
    match owner {
        Owner::Connection(id) => connection::on_sink_closed(core, id),
        Owner::File(_) => {}
        Owner::Session(id, role) => session::on_sink_closed(core, id, role),
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::os::unix::net::UnixStream;

    use super::*;
    use crate::constants::PIPE_THRESHOLD;
    use crate::profile::StageProfile;

    /// A connection in `core` over one end of a socket pair; the other end is the test's peer.
    fn connection(core: &mut Core) -> (ConnectionId, UnixStream) {
        let (ours, peer) = UnixStream::pair().unwrap();
        ours.set_nonblocking(true).unwrap();
        peer.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let id = connection::create(core, socket2::Socket::from(ours), None, None).unwrap();
        (id, peer)
    }

    fn end(core: &mut Core, owner: Owner, side: Side) -> End {
        *core.end_mut(owner, side).unwrap()
    }

    /// As an epoll event does: set the flag and list the pipe.
    fn set_ready(core: &mut Core, owner: Owner, side: Side) {
        core.end_mut(owner, side).unwrap().ready = true;
        wake_end(core, owner, side);
    }

    #[test]
    fn source_stops_at_the_threshold_and_loop_may_sleep() {
        let mut core = Core::new(StageProfile::PIPES).unwrap();
        let (a, mut a_peer) = connection(&mut core);
        let (b, _b_peer) = connection(&mut core);
        let (src, snk) = (Owner::Connection(a), Owner::Connection(b));
        let pipe = create(&mut core, src, snk, PIPE_THRESHOLD).unwrap();
        // 1.5 MB waiting in the socket; the sink (b) is never ready, so nothing drains.
        let writer = std::thread::spawn(move || {
            let _ = a_peer.write_all(&vec![7u8; 1_500_000]);
            a_peer
        });
        set_ready(&mut core, src, Side::Source);
        for _ in 0..200 {
            handle_pipes(&mut core);
            if core.pipes[pipe].len() >= PIPE_THRESHOLD {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
            set_ready(&mut core, src, Side::Source); // as an EPOLLIN edge would
        }
        assert_eq!(
            core.pipes[pipe].len(),
            PIPE_THRESHOLD,
            "never above the threshold"
        );
        assert!(!core.pipes[pipe].is_writable());
        assert!(
            !handle_pipes(&mut core),
            "a full pipe with an unready sink leaves nothing to do"
        );
        assert_eq!(core.pipes[pipe].len(), PIPE_THRESHOLD);
        drop(core);
        drop(writer.join().unwrap());
    }

    #[test]
    fn readiness_stays_set_until_eagain() {
        let mut core = Core::new(StageProfile::PIPES).unwrap();
        let (a, mut a_peer) = connection(&mut core);
        let (b, _b_peer) = connection(&mut core);
        let (src, snk) = (Owner::Connection(a), Owner::Connection(b));
        let pipe = create(&mut core, src, snk, PIPE_THRESHOLD).unwrap();
        a_peer.write_all(b"hello").unwrap();
        set_ready(&mut core, src, Side::Source);
        assert!(handle_pipes(&mut core), "still ready: more may be waiting");
        assert_eq!(core.pipes[pipe].len(), 5);
        assert!(end(&mut core, src, Side::Source).ready);
        handle_pipes(&mut core); // this recv hits EAGAIN
        assert!(!end(&mut core, src, Side::Source).ready);
        assert!(
            !handle_pipes(&mut core),
            "nothing left to do: the loop may block"
        );
    }

    #[test]
    fn sink_drains_before_it_hears_the_source_is_gone() {
        let mut core = Core::new(StageProfile::PIPES).unwrap();
        let (a, mut a_peer) = connection(&mut core);
        let (b, mut b_peer) = connection(&mut core);
        let (src, snk) = (Owner::Connection(a), Owner::Connection(b));
        create(&mut core, src, snk, PIPE_THRESHOLD).unwrap();
        a_peer.write_all(b"last words").unwrap();
        set_ready(&mut core, src, Side::Source);
        handle_pipes(&mut core);
        // The source goes away with bytes still in the pipe.
        connection::close(&mut core, a, true);
        handle_pipes(&mut core);
        assert!(
            end(&mut core, snk, Side::Sink).active,
            "the sink is not told while bytes remain"
        );
        set_ready(&mut core, snk, Side::Sink);
        for _ in 0..3 {
            handle_pipes(&mut core);
        }
        // b's source was never attached, so with its sink finished it closes.
        assert!(!core.connections.contains_key(b));
        let mut got = Vec::new();
        b_peer.read_to_end(&mut got).unwrap();
        assert_eq!(got, b"last words");
    }

    #[test]
    fn connection_closes_only_when_both_ends_are_inactive() {
        let mut core = Core::new(StageProfile::PIPES).unwrap();
        let (a, mut peer) = connection(&mut core);
        let me = Owner::Connection(a);
        create(&mut core, me, me, PIPE_THRESHOLD).unwrap();
        peer.write_all(b"echo me").unwrap();
        peer.shutdown(std::net::Shutdown::Write).unwrap();
        set_ready(&mut core, me, Side::Source);
        handle_pipes(&mut core); // reads "echo me"
        handle_pipes(&mut core); // recv() == 0: the source stops, the sink still owes bytes
        assert!(core.connections.contains_key(a));
        assert!(!end(&mut core, me, Side::Source).active);
        assert!(end(&mut core, me, Side::Sink).active);
        set_ready(&mut core, me, Side::Sink);
        for _ in 0..3 {
            handle_pipes(&mut core);
        }
        assert!(!core.connections.contains_key(a));
        let mut got = Vec::new();
        peer.read_to_end(&mut got).unwrap();
        assert_eq!(got, b"echo me");
    }

    #[test]
    fn pipes_with_no_ends_are_destroyed_lazily() {
        let mut core = Core::new(StageProfile::PIPES).unwrap();
        let (a, _peer) = connection(&mut core);
        let me = Owner::Connection(a);
        let pipe = create(&mut core, me, me, PIPE_THRESHOLD).unwrap();
        connection::close(&mut core, a, false);
        assert!(core.pipes.contains_key(pipe), "kept until handle_pipes");
        handle_pipes(&mut core);
        assert!(!core.pipes.contains_key(pipe));
        assert!(!handle_pipes(&mut core));
    }

    #[test]
    fn an_end_attaches_to_one_pipe_only() {
        let mut core = Core::new(StageProfile::PIPES).unwrap();
        let (a, _pa) = connection(&mut core);
        let (b, _pb) = connection(&mut core);
        let (src, snk) = (Owner::Connection(a), Owner::Connection(b));
        assert!(create(&mut core, src, snk, 10).is_some());
        assert!(create(&mut core, src, Owner::Connection(a), 10).is_none());
    }

    #[test]
    fn transfer_moves_chunks_up_to_the_threshold() {
        let mut core = Core::new(StageProfile::PIPES).unwrap();
        let (a, _pa) = connection(&mut core);
        let (b, _pb) = connection(&mut core);
        let one = create(&mut core, Owner::Connection(a), Owner::Connection(b), 100).unwrap();
        let two = create(&mut core, Owner::Connection(b), Owner::Connection(a), 10).unwrap();
        for _ in 0..4 {
            write(&mut core, one, vec![1; 6]);
        }
        let (moved, full) = transfer(&mut core, one, two);
        assert_eq!(
            (moved, full),
            (12, true),
            "whole chunks, over by at most one"
        );
        assert_eq!(core.pipes[one].len(), 12);
        assert_eq!(core.pipes[two].len(), 12);
    }
}
