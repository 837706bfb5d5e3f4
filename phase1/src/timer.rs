//! Timers: per-session deadlines, keyed by what they guard, in one heap per core.
//!
//! A server that never times anything out can be held hostage: a client that sends its request
//! head one byte a minute, a client that stops reading, an upstream that accepts and never
//! answers. Each of those needs its own clock (stage 21 has six), so a session does not get one
//! timer but one per [`TimerKind`], and a handler hears *which* one fired
//! ([`SessionHandler::on_timer`](crate::SessionHandler::on_timer)).
//!
//! # Why a heap, and why it costs nothing while nothing expires
//!
//! The obvious way, walking every session on every turn of the loop to ask "has your time come?",
//! costs O(open connections) per turn even when nothing is due: with 10 000 idle keep-alive
//! clients that is most of the server's work. Instead every armed timer is an entry in one
//! binary heap per core, ordered by deadline. The loop only ever looks at the top:
//!
//! - `epoll_wait` sleeps until the earliest deadline (its timeout comes from [`Timers::next`]),
//!   so an idle server wakes up only when a timer is really due;
//! - after the events of a turn, entries are popped while their deadline has passed. Nothing
//!   else is touched.
//!
//! # Re-arming is cheap: the heap holds at most one live entry per timer
//!
//! A send timeout is pushed back every time the client takes some bytes, which may be thousands
//! of times a second. Removing an arbitrary entry from a binary heap is expensive, so entries
//! are never removed early. Each session keeps, per kind, the deadline that counts now (`at`)
//! and the deadline of the entry it has in the heap (`queued`):
//!
//! - moving a deadline *later* only changes `at`; when the old entry reaches the top of the
//!   heap it sees the later `at` and is pushed again for that time;
//! - cancelling clears `at`; the entry is dropped when it reaches the top;
//! - moving a deadline *earlier* is the only case that pushes a second entry; the older one is
//!   recognised as stale (its time is not `queued`) and dropped when it reaches the top.
//!
//! So the heap never grows with the number of re-arms, and an entry costs O(log n) once per
//! deadline that really passes or gets pushed back.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::time::Instant;

use crate::core::SessionId;

/// What a timer guards. The names are stage 21's timeouts; a handler may use any kind for any
/// purpose, each kind is simply an independent clock per session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TimerKind {
    /// The whole request head must arrive by then (slowloris).
    Header,
    /// The next piece of a request body must arrive by then.
    Body,
    /// The client must take some of what is queued for it by then.
    Send,
    /// A kept-alive connection may wait this long for its next request.
    KeepAlive,
    /// The upstream must accept the connection by then.
    UpstreamConnect,
    /// The upstream must send (the next part of) its answer by then.
    Upstream,
}

impl TimerKind {
    /// Every kind, in a fixed order (the index of each kind's slot).
    pub const ALL: [TimerKind; 6] = [
        TimerKind::Header,
        TimerKind::Body,
        TimerKind::Send,
        TimerKind::KeepAlive,
        TimerKind::UpstreamConnect,
        TimerKind::Upstream,
    ];

    fn index(self) -> usize {
        self as usize
    }
}

/// An instant in 8 bytes instead of an `Instant`'s 16: nanoseconds since a fixed point ten
/// years before the first use (so every deadline a server sets is after it), plus one, so that
/// `Option<Moment>` is 8 bytes too. Six kinds of timer, two instants each, sit in every session;
/// with thousands of idle connections the 96 bytes saved per session add up. The conversion is
/// exact both ways: Linux instants count whole nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Moment(std::num::NonZeroU64);

impl Moment {
    fn origin() -> Instant {
        static ORIGIN: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
        *ORIGIN.get_or_init(|| {
            let now = Instant::now();
            now.checked_sub(std::time::Duration::from_secs(10 * 365 * 24 * 3600))
                .unwrap_or(now)
        })
    }

    fn of(at: Instant) -> Moment {
        let nanos = at.saturating_duration_since(Moment::origin()).as_nanos();
        let nanos = u64::try_from(nanos).unwrap_or(u64::MAX - 1);
        Moment(std::num::NonZeroU64::MIN.saturating_add(nanos))
    }

    fn instant(self) -> Instant {
        Moment::origin() + std::time::Duration::from_nanos(self.0.get() - 1)
    }
}

/// One kind's state inside a session.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Slot {
    /// The deadline that counts now (`None`: not armed).
    at: Option<Moment>,
    /// The deadline of this slot's live entry in the heap, if it has one.
    queued: Option<Moment>,
}

/// A session's timers, one slot per [`TimerKind`]. Lives inside the session.
#[derive(Clone, Copy, Debug, Default)]
pub struct SessionTimers {
    slots: [Slot; TimerKind::ALL.len()],
}

impl SessionTimers {
    /// When `kind` fires, if armed.
    pub fn get(&self, kind: TimerKind) -> Option<Instant> {
        self.slots[kind.index()].at.map(Moment::instant)
    }
}

/// One heap entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Entry {
    at: Moment,
    session: SessionId,
    kind: TimerKind,
}

impl Ord for Entry {
    /// Reversed, so that `BinaryHeap` (a max-heap) pops the earliest deadline first.
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .at
            .cmp(&self.at)
            .then_with(|| other.session.cmp(&self.session))
            .then_with(|| other.kind.index().cmp(&self.kind.index()))
    }
}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// What became of the entry at the top of the heap.
enum Top {
    /// Nothing armed at all.
    Empty,
    /// The earliest live deadline (not popped).
    Live(Instant),
}

/// Every armed timer of one core.
#[derive(Debug, Default)]
pub struct Timers {
    heap: BinaryHeap<Entry>,
    /// The heap size at which dead entries are swept out (see [`Timers::next`]).
    sweep_at: usize,
}

/// The heap is never swept below this many entries: a sweep then costs next to nothing anyway.
const MIN_SWEEP: usize = 4096;

impl Timers {
    /// An empty set of timers.
    pub fn new() -> Timers {
        Timers::default()
    }

    /// Entries in the heap (live or waiting to be dropped); for tests and the metrics.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// True when no entry is in the heap.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// Arm `kind` of `session` (whose slots are `timers`) for `at`, replacing any earlier
    /// setting of the same kind.
    pub fn set(
        &mut self,
        timers: &mut SessionTimers,
        session: SessionId,
        kind: TimerKind,
        at: Instant,
    ) {
        let slot = &mut timers.slots[kind.index()];
        let at = Moment::of(at);
        slot.at = Some(at);
        // A live entry at or before `at` will find the new time when it reaches the top.
        if slot.queued.is_some_and(|queued| queued <= at) {
            return;
        }
        slot.queued = Some(at);
        self.heap.push(Entry { at, session, kind });
    }

    /// Disarm `kind`. Its heap entry, if any, is dropped lazily.
    pub fn cancel(timers: &mut SessionTimers, kind: TimerKind) {
        timers.slots[kind.index()].at = None;
    }

    /// The earliest deadline that will really fire, dropping dead entries on the way.
    ///
    /// Dead entries (a cancelled timer, a session that ended) normally wait in the heap until
    /// their deadline comes up. A busy server arms and cancels a header timer on every
    /// connection, so that could be hundreds of thousands of entries waiting seconds for nothing.
    /// Whenever the heap has doubled since the last sweep, every dead entry is swept out in one
    /// pass: O(1) per entry pushed, on average, and the heap stays within twice the live timers.
    pub fn next(&mut self, sessions: &mut impl TimerOwners) -> Option<Instant> {
        if self.heap.len() > self.sweep_at.max(MIN_SWEEP) {
            self.sweep(sessions);
            self.sweep_at = 2 * self.heap.len();
        }
        match self.settle_top(sessions) {
            Top::Empty => None,
            Top::Live(at) => Some(at),
        }
    }

    /// Pop one timer whose deadline is at or before `now`, disarming it, and say whose it was.
    /// Call repeatedly until `None`.
    pub fn pop_expired(
        &mut self,
        now: Instant,
        sessions: &mut impl TimerOwners,
    ) -> Option<(SessionId, TimerKind)> {
        match self.settle_top(sessions) {
            Top::Live(at) if at <= now => {
                let entry = self.heap.pop()?;
                if let Some(timers) = sessions.timers_of(entry.session) {
                    timers.slots[entry.kind.index()] = Slot::default();
                }
                Some((entry.session, entry.kind))
            }
            _ => None,
        }
    }

    /// Remove every entry that can no longer fire: its session is gone, a newer entry replaced
    /// it, or its timer was cancelled (whose slot then forgets it had an entry).
    fn sweep(&mut self, sessions: &mut impl TimerOwners) {
        self.heap.retain(|entry| {
            let Some(timers) = sessions.timers_of(entry.session) else {
                return false;
            };
            let slot = &mut timers.slots[entry.kind.index()];
            if slot.queued != Some(entry.at) {
                return false;
            }
            if slot.at.is_none() {
                slot.queued = None;
                return false;
            }
            true
        });
    }

    /// Drop or re-queue entries at the top until the top is a live deadline (or none is left).
    fn settle_top(&mut self, sessions: &mut impl TimerOwners) -> Top {
        while let Some(&top) = self.heap.peek() {
            let Some(timers) = sessions.timers_of(top.session) else {
                self.heap.pop(); // the session is gone
                continue;
            };
            let slot = &mut timers.slots[top.kind.index()];
            if slot.queued != Some(top.at) {
                self.heap.pop(); // stale: the deadline was moved earlier since
                continue;
            }
            match slot.at {
                None => {
                    self.heap.pop(); // cancelled
                    slot.queued = None;
                }
                Some(at) if at > top.at => {
                    // pushed back: re-queue for the new time
                    self.heap.pop();
                    slot.queued = Some(at);
                    self.heap.push(Entry { at, ..top });
                }
                Some(at) => return Top::Live(at.instant()),
            }
        }
        Top::Empty
    }
}

/// Whatever holds the sessions' timer slots (the core's session map).
pub trait TimerOwners {
    /// The timers of `session`, or `None` if it is gone.
    fn timers_of(&mut self, session: SessionId) -> Option<&mut SessionTimers>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_moment_is_its_instant_exactly() {
        let now = Instant::now();
        for later in [0, 1, 999, 1_000_000_007, 86_400_000_000_000] {
            let at = now + std::time::Duration::from_nanos(later);
            assert_eq!(Moment::of(at).instant(), at);
        }
        assert!(Moment::of(now) < Moment::of(now + std::time::Duration::from_nanos(1)));
        assert_eq!(std::mem::size_of::<Option<Moment>>(), 8);
    }

    use slotmap::SlotMap;
    use std::time::Duration;

    type Map = SlotMap<SessionId, SessionTimers>;

    impl TimerOwners for Map {
        fn timers_of(&mut self, session: SessionId) -> Option<&mut SessionTimers> {
            self.get_mut(session)
        }
    }

    fn expired(timers: &mut Timers, map: &mut Map, now: Instant) -> Vec<(SessionId, TimerKind)> {
        std::iter::from_fn(|| timers.pop_expired(now, map)).collect()
    }

    #[test]
    fn fires_in_deadline_order_and_only_when_due() {
        let mut map = Map::with_key();
        let (a, b) = (
            map.insert(Default::default()),
            map.insert(Default::default()),
        );
        let mut timers = Timers::new();
        let t0 = Instant::now();
        timers.set(
            &mut map[a],
            a,
            TimerKind::Send,
            t0 + Duration::from_millis(20),
        );
        timers.set(
            &mut map[b],
            b,
            TimerKind::Header,
            t0 + Duration::from_millis(10),
        );
        timers.set(
            &mut map[a],
            a,
            TimerKind::KeepAlive,
            t0 + Duration::from_millis(30),
        );
        assert_eq!(timers.next(&mut map), Some(t0 + Duration::from_millis(10)));
        assert!(expired(&mut timers, &mut map, t0).is_empty());
        assert_eq!(
            expired(&mut timers, &mut map, t0 + Duration::from_millis(25)),
            vec![(b, TimerKind::Header), (a, TimerKind::Send)]
        );
        assert_eq!(
            map[a].get(TimerKind::Send),
            None,
            "a fired timer is disarmed"
        );
        assert_eq!(
            map[a].get(TimerKind::KeepAlive),
            Some(t0 + Duration::from_millis(30))
        );
    }

    #[test]
    fn pushing_back_does_not_grow_the_heap() {
        let mut map = Map::with_key();
        let a = map.insert(Default::default());
        let mut timers = Timers::new();
        let t0 = Instant::now();
        for i in 1..=10_000u64 {
            timers.set(
                &mut map[a],
                a,
                TimerKind::Send,
                t0 + Duration::from_micros(i),
            );
        }
        assert_eq!(timers.len(), 1);
        // The old entry is due first, finds the later time and moves there.
        assert!(expired(&mut timers, &mut map, t0 + Duration::from_micros(5)).is_empty());
        assert_eq!(
            timers.next(&mut map),
            Some(t0 + Duration::from_micros(10_000))
        );
        assert_eq!(
            expired(&mut timers, &mut map, t0 + Duration::from_millis(10)),
            vec![(a, TimerKind::Send)]
        );
        assert!(timers.is_empty());
    }

    #[test]
    fn cancelled_moved_earlier_and_orphaned_timers_never_fire() {
        let mut map = Map::with_key();
        let (a, b, c) = (
            map.insert(Default::default()),
            map.insert(Default::default()),
            map.insert(Default::default()),
        );
        let mut timers = Timers::new();
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        timers.set(&mut map[a], a, TimerKind::Body, ms(5));
        Timers::cancel(&mut map[a], TimerKind::Body);
        timers.set(&mut map[b], b, TimerKind::Upstream, ms(50));
        timers.set(&mut map[b], b, TimerKind::Upstream, ms(7)); // earlier: a second entry
        timers.set(&mut map[c], c, TimerKind::Header, ms(6));
        map.remove(c);
        assert_eq!(timers.next(&mut map), Some(ms(7)));
        assert_eq!(
            expired(&mut timers, &mut map, ms(100)),
            vec![(b, TimerKind::Upstream)],
            "fires once, at the earlier time"
        );
        assert!(timers.is_empty(), "every dead entry was dropped");
    }

    #[test]
    fn dead_entries_are_swept_once_the_heap_doubles() {
        let mut map = Map::with_key();
        let mut timers = Timers::new();
        let t0 = Instant::now();
        let keep = map.insert(Default::default());
        timers.set(
            &mut map[keep],
            keep,
            TimerKind::Send,
            t0 + Duration::from_secs(60),
        );
        // Sessions that armed a header timer and ended, or cancelled it: all dead.
        for i in 0..3 * MIN_SWEEP as u64 {
            let s = map.insert(Default::default());
            timers.set(
                &mut map[s],
                s,
                TimerKind::Header,
                t0 + Duration::from_secs(10 + i),
            );
            if i % 2 == 0 {
                map.remove(s);
            } else {
                Timers::cancel(&mut map[s], TimerKind::Header);
            }
        }
        assert_eq!(timers.next(&mut map), Some(t0 + Duration::from_secs(60)));
        assert_eq!(timers.len(), 1, "only the live entry is left");
        // A cancelled slot forgot its swept entry: arming it again fires.
        let s = map.keys().find(|&k| k != keep).unwrap();
        timers.set(
            &mut map[s],
            s,
            TimerKind::Header,
            t0 + Duration::from_millis(1),
        );
        assert_eq!(
            expired(&mut timers, &mut map, t0 + Duration::from_millis(5)),
            vec![(s, TimerKind::Header)]
        );
    }

    #[test]
    fn re_arming_after_cancel_fires_at_the_new_time() {
        let mut map = Map::with_key();
        let a = map.insert(Default::default());
        let mut timers = Timers::new();
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        timers.set(&mut map[a], a, TimerKind::KeepAlive, ms(10));
        Timers::cancel(&mut map[a], TimerKind::KeepAlive);
        timers.set(&mut map[a], a, TimerKind::KeepAlive, ms(20));
        assert!(expired(&mut timers, &mut map, ms(15)).is_empty());
        assert_eq!(
            expired(&mut timers, &mut map, ms(20)),
            vec![(a, TimerKind::KeepAlive)]
        );
    }
}
