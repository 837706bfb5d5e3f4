//! Load balancing (stage 20): which upstream of a `reverse_proxy` route gets the next request.
//!
//! A route may name several upstreams (`"upstreams": ["a:3001", "b:3002", "c:3003"]`). Up to
//! stage 19 only the first one is used; from stage 20 on every request asks the route's
//! [`Balancer`] for a **plan**: the order in which to try the upstreams for this request. The
//! first entry is the strategy's choice; the rest are the fallbacks, so a request whose
//! upstream refuses the connection goes to the next one instead of failing (the failover in
//! `session/connection.rs`).
//!
//! Three strategies (the route key `lb_strategy`, an extension of ours):
//!
//! - `round_robin` (the default): the i-th request goes to healthy upstream i mod k. Cheap and
//!   fair when requests cost about the same.
//! - `least_conn`: the healthy upstream with the fewest proxied connections open right now,
//!   ties broken round robin. Better when some requests are slow: a busy upstream stops
//!   getting new work until it catches up.
//! - `ip_hash`: a hash of the client's IP address picks the upstream, so one client keeps
//!   talking to the same one (useful when upstreams keep per-client state in memory).
//!
//! **Health.** An upstream whose connect fails is marked down for `upstream_fail_timeout_ms`
//! (10 s by default, like nginx's `fail_timeout`): plans put it after every healthy upstream,
//! so no request waits on it while another one is up. When the time is over it is healthy
//! again and simply tried; there is no separate probe. If every upstream is down, the plan
//! still tries them all (the one that comes back soonest first) rather than refusing at once.
//!
//! **Shared state.** The round-robin position, the open-connection counts and the down-until
//! times belong to the route, not to a connection, so they sit behind an `Arc<Mutex<..>>` that
//! every session of the route (and, from stage 23, every worker thread) shares. The lock is
//! held for a few comparisons per request. An open connection is counted by a [`Lease`] that
//! the session holds while it proxies; dropping the lease (the session ends, or the connect
//! failed) gives the count back, so no path can forget to.

use std::fmt;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::config::Upstream;

/// How long an upstream whose connect failed is skipped when absent from the config: 10 s.
pub const DEFAULT_FAIL_TIMEOUT: Duration = Duration::from_secs(10);

/// How a route chooses among its upstreams (`lb_strategy`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Strategy {
    #[default]
    RoundRobin,
    LeastConn,
    IpHash,
}

impl Strategy {
    /// Every strategy, for messages.
    pub const ALL: [Strategy; 3] = [Strategy::RoundRobin, Strategy::LeastConn, Strategy::IpHash];

    /// The strategy named `name` in the config, if there is one.
    pub fn parse(name: &str) -> Option<Strategy> {
        Strategy::ALL.into_iter().find(|s| s.name() == name)
    }

    /// The config's name for it.
    pub fn name(self) -> &'static str {
        match self {
            Strategy::RoundRobin => "round_robin",
            Strategy::LeastConn => "least_conn",
            Strategy::IpHash => "ip_hash",
        }
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One route's balancing state, shared by every session of the route.
#[derive(Debug)]
pub struct Balancer {
    strategy: Strategy,
    /// `Duration::ZERO`: never mark an upstream down.
    fail_timeout: Duration,
    /// How many upstreams the route has.
    count: usize,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    /// Requests planned so far: the round-robin position.
    turn: usize,
    /// Proxied connections open now, per upstream.
    open: Vec<u32>,
    /// Until when each upstream is skipped, if it is.
    down_until: Vec<Option<Instant>>,
}

impl PartialEq for Balancer {
    /// Two balancers are equal when they are configured alike (the config's equality); their
    /// running state does not count.
    fn eq(&self, other: &Balancer) -> bool {
        self.strategy == other.strategy
            && self.fail_timeout == other.fail_timeout
            && self.count == other.count
    }
}

impl Eq for Balancer {}

impl Balancer {
    /// A balancer over `count` upstreams.
    pub fn new(count: usize, strategy: Strategy, fail_timeout: Duration) -> Balancer {
        Balancer {
            strategy,
            fail_timeout,
            count,
            state: Mutex::new(State {
                turn: 0,
                open: vec![0; count],
                down_until: vec![None; count],
            }),
        }
    }

    pub fn strategy(&self) -> Strategy {
        self.strategy
    }

    pub fn fail_timeout(&self) -> Duration {
        self.fail_timeout
    }

    /// The state, even if a thread panicked while holding the lock: it is a few counters that
    /// stay meaningful.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The order in which to try the upstreams (their indexes) for one request from `client`:
    /// the healthy ones in the strategy's order, then those marked down, soonest back first.
    /// Every upstream appears once.
    pub fn plan(&self, client: IpAddr) -> Vec<usize> {
        self.plan_at(client, Instant::now())
    }

    /// [`Balancer::plan`] as seen at `now` (the unit tests move the clock).
    pub fn plan_at(&self, client: IpAddr, now: Instant) -> Vec<usize> {
        let mut state = self.lock();
        let mut healthy = Vec::with_capacity(state.open.len());
        let mut down = Vec::new();
        for index in 0..state.open.len() {
            match state.down_until[index] {
                Some(until) if until > now => down.push((until, index)),
                Some(_) => {
                    state.down_until[index] = None;
                    healthy.push(index);
                }
                None => healthy.push(index),
            }
        }
        if !healthy.is_empty() {
            let k = healthy.len();
            match self.strategy {
                Strategy::RoundRobin => {
                    let turn = state.turn;
                    state.turn = turn.wrapping_add(1);
                    healthy.rotate_left(turn % k);
                }
                Strategy::LeastConn => {
                    // The least busy first; among equally busy ones, the next in turn. The
                    // others follow, least busy first, as fallbacks.
                    let turn = state.turn;
                    state.turn = turn.wrapping_add(1);
                    let fewest = healthy.iter().map(|&i| state.open[i]).min().unwrap_or(0);
                    let tied: Vec<usize> = healthy
                        .iter()
                        .copied()
                        .filter(|&i| state.open[i] == fewest)
                        .collect();
                    let chosen = tied[turn % tied.len()];
                    let at = healthy.iter().position(|&i| i == chosen).unwrap_or(0);
                    healthy.rotate_left(at);
                    // Stable: the rotation stays the order among equals.
                    healthy.sort_by_key(|&index| state.open[index]);
                }
                Strategy::IpHash => {
                    // The client's upstream, then the one the hash picks among the others, and so
                    // on: if its upstream fails, the client goes where it will keep going while
                    // that one is marked down.
                    let hash = ip_hash(client);
                    let mut rest = std::mem::take(&mut healthy);
                    while !rest.is_empty() {
                        healthy.push(rest.remove((hash % rest.len() as u64) as usize));
                    }
                }
            }
        }
        down.sort();
        healthy.extend(down.into_iter().map(|(_, index)| index));
        healthy
    }

    /// Count a proxied connection to upstream `index` as open until the lease is dropped.
    pub fn lease(self: &Arc<Balancer>, index: usize) -> Lease {
        if let Some(open) = self.lock().open.get_mut(index) {
            *open += 1;
        }
        Lease {
            balancer: self.clone(),
            index,
        }
    }

    /// Connecting to upstream `index` failed: skip it for the fail timeout.
    pub fn mark_down(&self, index: usize) {
        self.mark_down_at(index, Instant::now());
    }

    /// [`Balancer::mark_down`] as seen at `now`.
    pub fn mark_down_at(&self, index: usize, now: Instant) {
        if self.fail_timeout.is_zero() {
            return;
        }
        if let Some(until) = self.lock().down_until.get_mut(index) {
            *until = Some(now + self.fail_timeout);
        }
    }

    /// Proxied connections open to upstream `index` now.
    pub fn open(&self, index: usize) -> u32 {
        self.lock().open.get(index).copied().unwrap_or(0)
    }

    /// True while upstream `index` is skipped.
    pub fn is_down(&self, index: usize) -> bool {
        let now = Instant::now();
        self.lock()
            .down_until
            .get(index)
            .is_some_and(|until| until.is_some_and(|t| t > now))
    }
}

/// A stable hash of a client address: the same address gives the same number in every run and
/// on every worker, unlike std's randomly seeded hasher. FNV-1a over the address's bytes, then
/// MurmurHash3's final mix, so that neighbours (127.0.0.1 and 127.0.0.2) land far apart.
fn ip_hash(ip: IpAddr) -> u64 {
    let bytes: Vec<u8> = match ip {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => v6.octets().to_vec(),
    };
    let mut hash = bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    });
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xff51_afd7_ed55_8ccd);
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    hash ^ (hash >> 33)
}

/// One open proxied connection, counted for `least_conn` while this value lives.
#[derive(Debug)]
pub struct Lease {
    balancer: Arc<Balancer>,
    index: usize,
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(open) = self.balancer.lock().open.get_mut(self.index) {
            *open = open.saturating_sub(1);
        }
    }
}

/// The upstreams one request may try, in order, and what to do when one fails.
#[derive(Debug)]
pub struct Attempts {
    /// `None` in the stages before 20: the first upstream only, nobody marked down.
    balancer: Option<Arc<Balancer>>,
    /// (index in the route's list, `host:port`) in the order to try.
    order: Vec<(usize, String)>,
    tried: usize,
}

/// One upstream being tried for a request. Holding it counts the connection as open.
#[derive(Debug)]
pub struct Attempt {
    pub index: usize,
    /// `host:port`, as the config wrote it.
    pub upstream: String,
    _lease: Option<Lease>,
}

impl Attempts {
    /// Stages 16-19: the first upstream, no failover.
    pub fn first_only(upstreams: &[Upstream]) -> Attempts {
        Attempts {
            balancer: None,
            order: upstreams
                .first()
                .map(|u| (0, u.to_string()))
                .into_iter()
                .collect(),
            tried: 0,
        }
    }

    /// Stage 20: the balancer's plan for a request from `client`.
    pub fn balanced(balancer: &Arc<Balancer>, upstreams: &[Upstream], client: IpAddr) -> Attempts {
        let order = balancer
            .plan(client)
            .into_iter()
            .filter_map(|index| upstreams.get(index).map(|u| (index, u.to_string())))
            .collect();
        Attempts {
            balancer: Some(balancer.clone()),
            order,
            tried: 0,
        }
    }

    /// The next upstream to try, each at most once per request; `None` once all were tried.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Option<Attempt> {
        let (index, upstream) = self.order.get(self.tried)?.clone();
        self.tried += 1;
        Some(Attempt {
            index,
            upstream,
            _lease: self.balancer.as_ref().map(|b| b.lease(index)),
        })
    }

    /// `attempt` could not connect: every request skips it for the route's fail timeout.
    pub fn failed(&self, attempt: &Attempt) {
        if let Some(balancer) = &self.balancer {
            balancer.mark_down(attempt.index);
        }
    }

    /// How many upstreams this request may still try.
    pub fn left(&self) -> usize {
        self.order.len() - self.tried
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALICE: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 1));
    const BOB: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 2));

    fn firsts(balancer: &Balancer, client: IpAddr, n: usize) -> Vec<usize> {
        (0..n).map(|_| balancer.plan(client)[0]).collect()
    }

    #[test]
    fn round_robin_takes_turns_and_plans_the_others_as_fallbacks() {
        let balancer = Balancer::new(3, Strategy::RoundRobin, DEFAULT_FAIL_TIMEOUT);
        assert_eq!(firsts(&balancer, ALICE, 7), [0, 1, 2, 0, 1, 2, 0]);
        assert_eq!(balancer.plan(BOB), [1, 2, 0]);
    }

    #[test]
    fn least_conn_prefers_the_idlest_and_breaks_ties_round_robin() {
        let balancer = Arc::new(Balancer::new(3, Strategy::LeastConn, DEFAULT_FAIL_TIMEOUT));
        let busy = balancer.lease(1);
        let plans: Vec<Vec<usize>> = (0..4).map(|_| balancer.plan(ALICE)).collect();
        // The busy one last; the idle ones take turns.
        assert_eq!(plans, [[0, 2, 1], [2, 0, 1], [0, 2, 1], [2, 0, 1]]);
        let also_busy = balancer.lease(0);
        assert_eq!(balancer.plan(ALICE)[0], 2);
        assert_eq!(balancer.open(0), 1);
        drop(busy);
        drop(also_busy);
        assert_eq!(balancer.open(0), 0);
        assert_eq!(balancer.open(1), 0);
        let spread = firsts(&balancer, ALICE, 3);
        let mut sorted = spread.clone();
        sorted.sort();
        assert_eq!(sorted, [0, 1, 2], "{spread:?}");
    }

    #[test]
    fn ip_hash_is_stable_per_client_and_covers_every_upstream() {
        let balancer = Balancer::new(3, Strategy::IpHash, DEFAULT_FAIL_TIMEOUT);
        let alice = balancer.plan(ALICE)[0];
        assert!(firsts(&balancer, ALICE, 5).iter().all(|&i| i == alice));
        let bob = balancer.plan(BOB)[0];
        assert!(firsts(&balancer, BOB, 5).iter().all(|&i| i == bob));
        let mut used = [false; 3];
        for last in 1..=50u8 {
            used[balancer.plan(IpAddr::from([10, 0, 0, last]))[0]] = true;
        }
        assert_eq!(used, [true; 3], "50 clients spread over all three");
        // The same address hashes the same in every run (no random seed), and the two loopback
        // clients of the chapter's experiment land on different upstreams of three.
        assert_eq!(ip_hash(ALICE), ip_hash(IpAddr::from([127, 0, 0, 1])));
        assert_ne!(alice, bob);
    }

    #[test]
    fn a_failed_upstream_is_skipped_until_its_fail_timeout_passes() {
        let balancer = Balancer::new(3, Strategy::RoundRobin, Duration::from_secs(10));
        let t0 = Instant::now();
        balancer.mark_down_at(1, t0);
        let during: Vec<usize> = (0..4).map(|_| balancer.plan_at(ALICE, t0)[0]).collect();
        assert_eq!(during, [0, 2, 0, 2]);
        // Down ones stay in the plan, last, as the final resort.
        assert_eq!(balancer.plan_at(ALICE, t0), [0, 2, 1]);
        let later = t0 + Duration::from_secs(11);
        let after: Vec<usize> = (0..3).map(|_| balancer.plan_at(ALICE, later)[0]).collect();
        let mut sorted = after.clone();
        sorted.sort();
        assert_eq!(sorted, [0, 1, 2], "{after:?}");
    }

    #[test]
    fn ip_hash_moves_a_client_only_while_its_upstream_is_down() {
        let balancer = Balancer::new(3, Strategy::IpHash, Duration::from_secs(10));
        let t0 = Instant::now();
        let plan = balancer.plan_at(ALICE, t0);
        let home = plan[0];
        balancer.mark_down_at(home, t0);
        let away = balancer.plan_at(ALICE, t0)[0];
        assert_ne!(away, home);
        assert_eq!(
            away, plan[1],
            "the failover goes where the client will stay"
        );
        assert_eq!(balancer.plan_at(ALICE, t0)[0], away, "stable while down");
        assert_eq!(
            balancer.plan_at(ALICE, t0 + Duration::from_secs(11))[0],
            home
        );
    }

    #[test]
    fn when_every_upstream_is_down_all_are_still_tried_soonest_back_first() {
        let balancer = Balancer::new(3, Strategy::RoundRobin, Duration::from_secs(10));
        let t0 = Instant::now();
        balancer.mark_down_at(2, t0);
        balancer.mark_down_at(0, t0 + Duration::from_secs(1));
        balancer.mark_down_at(1, t0 + Duration::from_secs(2));
        assert_eq!(
            balancer.plan_at(ALICE, t0 + Duration::from_secs(3)),
            [2, 0, 1]
        );
    }

    #[test]
    fn a_zero_fail_timeout_never_marks_down() {
        let balancer = Balancer::new(2, Strategy::RoundRobin, Duration::ZERO);
        balancer.mark_down(0);
        assert!(!balancer.is_down(0));
        assert_eq!(firsts(&balancer, ALICE, 2), [0, 1]);
    }

    #[test]
    fn attempts_try_each_upstream_once_and_hold_a_lease_while_alive() {
        let upstreams: Vec<Upstream> = ["a:1", "b:2", "c:3"]
            .iter()
            .map(|s| {
                let (host, port) = s.split_once(':').unwrap();
                Upstream {
                    host: host.into(),
                    port: port.parse().unwrap(),
                }
            })
            .collect();
        let balancer = Arc::new(Balancer::new(3, Strategy::RoundRobin, DEFAULT_FAIL_TIMEOUT));
        let mut attempts = Attempts::balanced(&balancer, &upstreams, ALICE);
        let first = attempts.next().unwrap();
        assert_eq!(first.upstream, "a:1");
        assert_eq!(balancer.open(0), 1);
        attempts.failed(&first);
        drop(first);
        assert_eq!(balancer.open(0), 0);
        assert!(balancer.is_down(0));
        let names: Vec<String> =
            std::iter::from_fn(|| attempts.next().map(|a| a.upstream)).collect();
        assert_eq!(names, ["b:2", "c:3"]);
        assert_eq!(attempts.left(), 0);

        let mut course = Attempts::first_only(&upstreams);
        assert_eq!(course.next().map(|a| a.upstream).as_deref(), Some("a:1"));
        assert!(course.next().is_none());
    }
}
