//! Stage 23: worker threads. One process, `workers` threads, each running a whole server: its own
//! [`Core`] with its own epoll loop, listeners, connections, pipes and timers. A core stays
//! single-threaded inside; what the workers share is read-only (the config, behind an `Arc`) or
//! made for sharing (the load balancer's state and the metrics, atomics and mutexes in an `Arc`).
//!
//! # Who accepts a new client?
//!
//! Every worker must be able to accept on every port. There are two ways:
//!
//! 1. **One listening socket, `dup`ed into every worker** (the course's way). All the workers wait
//!    on the same accept queue. Registered plainly, one new client wakes *every* worker's
//!    `epoll_wait`; one wins the `accept`, the others find `EAGAIN` and go back to sleep: the
//!    *thundering herd*, N wake-ups for one client. `EPOLLEXCLUSIVE` (Linux 4.5) wakes one
//!    waiter instead, but which one is up to the kernel's wait queue: an idle worker near the
//!    head of it takes nearly every client while the others idle.
//! 2. **One listening socket per worker, all bound to the same port with `SO_REUSEPORT`**
//!    (Linux 3.9; nginx's `listen ... reuseport`). The kernel keeps one accept queue per socket
//!    and hashes each new connection (addresses and ports) to one of them. Nobody is woken for
//!    nothing, and the spread is even whatever the timing.
//!
//! We use 2 ([`AcceptMode::ReusePort`]). Its price: a client hashed to a busy worker waits for
//! that worker, even if another is idle; and a second server started on the same port by mistake
//! would silently share it, so [`run`] first binds each port once *without* `SO_REUSEPORT`, which
//! fails as usual when the port is taken.
//!
//! Way 1 is here too, for the chapter's experiment (`--accept shared` and `--accept exclusive`
//! on stage 23 and `expserver`): each worker counts the wake-ups whose first `accept` found no
//! client (`Counters::empty_accept_wakeups`) and logs them when it stops, so the herd can be
//! seen and counted.
//!
//! # Stopping
//!
//! SIGINT or SIGTERM wakes every core at once (phase 1's `stop` module): each returns from
//! `run`, its thread drops the core, which closes its listeners and connections, and the main
//! thread, waiting in `join`, returns. If one worker fails to start, the main thread stops the
//! others through their [`StopHandle`]s and reports the failure.

use std::net::SocketAddr;
use std::sync::mpsc;
use std::thread;

use anyhow::{anyhow, Context as _};
use phase1::{Core, PortRole, StopHandle};

/// How the workers share a port (see the module docs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum AcceptMode {
    /// One `SO_REUSEPORT` socket per worker: the kernel picks the worker for each client.
    #[default]
    #[value(name = "reuseport")]
    ReusePort,
    /// One socket, `dup`ed into every worker: every worker wakes for every client.
    Shared,
    /// One socket, `dup`ed into every worker with `EPOLLEXCLUSIVE`: one worker wakes per client.
    Exclusive,
}

impl AcceptMode {
    fn describe(self) -> &'static str {
        match self {
            AcceptMode::ReusePort => "its own SO_REUSEPORT listener on every port",
            AcceptMode::Shared => {
                "a dup of one shared listener on every port (every worker wakes for each client)"
            }
            AcceptMode::Exclusive => {
                "a dup of one shared listener on every port, with EPOLLEXCLUSIVE"
            }
        }
    }
}

/// What a worker needs to build its server: for each listening address, the role its port
/// plays (a fresh session factory per worker).
pub type Ports = Vec<(SocketAddr, PortRole)>;

/// Run `count` workers, each with its own core from `make_core` and its own listener on every
/// address of the ports `make_ports` gives it, until a signal stops them all.
pub fn run<C, P>(
    count: usize,
    accept: AcceptMode,
    addresses: &[SocketAddr],
    make_core: C,
    make_ports: P,
) -> anyhow::Result<()>
where
    C: Fn() -> anyhow::Result<Core> + Sync,
    P: Fn() -> Ports + Sync,
{
    // A port another program holds must be an error, as in the stages before: with SO_REUSEPORT
    // on both sides the kernel would share it silently. A plain bind sees the conflict. In the
    // shared modes that plain socket is the one every worker gets a dup of.
    let mut shared = Vec::with_capacity(addresses.len());
    for &addr in addresses {
        let socket = phase1::listener::bind(addr, false)
            .with_context(|| format!("cannot listen on {addr}"))?;
        if accept != AcceptMode::ReusePort {
            shared.push((addr, socket));
        }
    }
    phase1::info!(
        "starting {count} worker{}, each with its own event loop and {}",
        if count == 1 { "" } else { "s" },
        accept.describe()
    );
    let (ready_tx, ready_rx) = mpsc::channel::<anyhow::Result<StopHandle>>();
    thread::scope(|scope| {
        let mut threads = Vec::with_capacity(count);
        for number in 1..=count {
            let ready = ready_tx.clone();
            let (make_core, make_ports, shared) = (&make_core, &make_ports, &shared);
            let spawned = thread::Builder::new()
                .name(format!("w{number}"))
                .spawn_scoped(scope, move || {
                    worker(number, accept, shared, make_core, make_ports, ready)
                });
            match spawned {
                Ok(handle) => threads.push(handle),
                Err(err) => {
                    let _ = ready_tx.send(Err(anyhow!("cannot start worker {number}: {err}")));
                    break;
                }
            }
        }
        drop(ready_tx);
        // Every worker reports once: started (its stop handle) or failed.
        let mut stops = Vec::new();
        let mut failure = None;
        for report in ready_rx.iter() {
            match report {
                Ok(stop) => stops.push(stop),
                Err(err) => {
                    failure.get_or_insert(err);
                }
            }
        }
        if failure.is_some() {
            stops.iter().for_each(StopHandle::stop);
        }
        let mut result = failure.map_or(Ok(()), Err);
        for handle in threads {
            match handle.join() {
                Ok(Ok(())) => {}
                Ok(Err(err)) => {
                    if result.is_ok() {
                        result = Err(err);
                    }
                }
                Err(_) => {
                    if result.is_ok() {
                        result = Err(anyhow!("a worker thread panicked"));
                    }
                }
            }
        }
        result
    })
}

/// One worker thread: build the core and its listeners, say so, run until stopped.
fn worker<C, P>(
    number: usize,
    accept: AcceptMode,
    shared: &[(SocketAddr, std::net::TcpListener)],
    make_core: &C,
    make_ports: &P,
    ready: mpsc::Sender<anyhow::Result<StopHandle>>,
) -> anyhow::Result<()>
where
    C: Fn() -> anyhow::Result<Core>,
    P: Fn() -> Ports,
{
    phase1::logger::set_worker(number);
    let core = make_core().and_then(|mut core| {
        for (addr, role) in make_ports() {
            let cannot = || format!("worker {number} cannot listen on {addr}");
            if accept == AcceptMode::ReusePort {
                let socket = phase1::listener::bind(addr, true).with_context(cannot)?;
                core.listen_socket(socket, role).with_context(cannot)?;
            } else {
                // dup: a second descriptor for the same socket, so all workers share one
                // accept queue.
                let socket = shared
                    .iter()
                    .find(|(a, _)| *a == addr)
                    .map(|(_, s)| s.try_clone())
                    .with_context(|| format!("no shared listener on {addr}"))?
                    .with_context(cannot)?;
                let exclusive = accept == AcceptMode::Exclusive;
                core.listen_shared_socket(socket, role, exclusive)
                    .with_context(cannot)?;
            }
        }
        Ok(core)
    });
    let mut core = match core {
        Ok(core) => {
            let _ = ready.send(Ok(core.stop_handle()));
            core
        }
        Err(err) => {
            // The main thread reports it; this thread only ends.
            let _ = ready.send(Err(err));
            return Ok(());
        }
    };
    drop(ready);
    let outcome = core.run().context("the event loop failed");
    let counters = core.counters();
    phase1::info!(
        "worker {number} stops: it accepted {} connections; {} wake-ups of its listeners found no client",
        counters.connections_accepted,
        counters.empty_accept_wakeups
    );
    outcome
}
