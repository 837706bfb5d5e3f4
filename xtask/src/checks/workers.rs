//! Stage 23: worker threads. No stage before it has threads, so the grader has nothing to
//! compare; these checks are ours, from the contract (`phase3-4-stages-18-23.md` §6).
//!
//! The server runs the grader's config with `"workers": 4` ([`config`]). What the checks look at
//! works for any implementation running on this machine, whatever its logs say:
//!
//! - the threads in `/proc/PID/task`: at least one per worker;
//! - which threads *woke up* while many clients connected at once: every thread's
//!   `voluntary_ctxt_switches` (`/proc/PID/task/TID/status`) grows each time it sleeps in
//!   `epoll_wait` and is woken. A worker that accepts clients wakes for them; a worker that never
//!   gets one sleeps through the load. (A server whose every worker wakes for every client, the
//!   thundering herd, also passes: the check sees wake-ups, not accepts. Stage 22's
//!   `expserver_worker_connections_accepted_total` counts the accepts themselves.)
//! - SIGINT while transfers are in flight: the port refuses at once and the process exits 0
//!   within 2 s.

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::Result;

use super::http::client::{exchange, Body};
use super::http::config::{graders_json, write};
use super::wire::connect;
use super::{Check, Ctx, Verdict};
use crate::layout::Layout;
use crate::runner::StageRun;
use crate::target::Ports;

/// The workers in the checker's config (the grader's config says 4 too).
pub const WORKERS: usize = 4;
/// Client threads and connections per client thread of the accept-spread check.
const CLIENTS: usize = 8;
const CONNECTIONS_PER_CLIENT: usize = 40;
/// How many wake-ups during the load make a thread count as a working worker.
const MIN_WAKEUPS: u64 = 5;
/// How long the server has to close its ports and exit after SIGINT.
const EXIT_LIMIT: Duration = Duration::from_secs(2);
/// The file the in-flight transfers ask for: more than the socket buffers of both ends hold.
const BIG_FILE: &str = "workers_big.bin";
const BIG_LEN: usize = 16_000_000;

/// The config of the stage-23 checks (a [`crate::stages::ConfigWriter`]): the grader's config
/// with `"workers": 4`, and a 16 MB file in `public/` for the transfers in flight.
pub fn config(layout: &Layout, ports: &Ports) -> Result<PathBuf> {
    let mut config = graders_json(layout, ports)?;
    config["workers"] = WORKERS.into();
    fs::write(layout.public().join(BIG_FILE), vec![b'w'; BIG_LEN])?;
    write(layout, "workers.json", &config)
}

/// The threads of process `pid`: their ids and names.
fn threads(pid: u32) -> Result<Vec<(u32, String)>, String> {
    let dir = format!("/proc/{pid}/task");
    let entries = fs::read_dir(&dir).map_err(|e| format!("cannot read {dir}: {e}"))?;
    let mut list: Vec<(u32, String)> = entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .map(|tid: u32| {
            let name = fs::read_to_string(format!("{dir}/{tid}/comm")).unwrap_or_default();
            (tid, name.trim().to_string())
        })
        .collect();
    list.sort();
    Ok(list)
}

/// Every thread's count of voluntary context switches (its wake-ups from sleep).
fn wakeups(pid: u32) -> BTreeMap<u32, (String, u64)> {
    let Ok(list) = threads(pid) else {
        return BTreeMap::new();
    };
    list.into_iter()
        .filter_map(|(tid, name)| {
            let status = fs::read_to_string(format!("/proc/{pid}/task/{tid}/status")).ok()?;
            let count = status
                .lines()
                .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))?
                .trim()
                .parse()
                .ok()?;
            Some((tid, (name, count)))
        })
        .collect()
}

/// At least [`WORKERS`] threads.
fn thread_count(run: &mut StageRun) -> Verdict {
    let pid = run.server_pid().ok_or("the server is not running")?;
    let list = threads(pid)?;
    let names: Vec<String> = list
        .iter()
        .map(|(tid, name)| format!("{tid} {name}"))
        .collect();
    let observed = format!("{} threads: {}", list.len(), names.join(", "));
    if list.len() >= WORKERS {
        Ok(observed)
    } else {
        Err(observed)
    }
}

/// [`CLIENTS`] threads each open [`CONNECTIONS_PER_CLIENT`] connections one after another, each
/// a GET; at least [`WORKERS`] server threads must wake up [`MIN_WAKEUPS`] times or more.
fn accept_spread(run: &mut StageRun, port: u16) -> Verdict {
    let pid = run.server_pid().ok_or("the server is not running")?;
    let before = wakeups(pid);
    let ok = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(std::sync::Mutex::new(Vec::new()));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (ok, failures) = (ok.clone(), failures.clone());
            thread::spawn(move || {
                for _ in 0..CONNECTIONS_PER_CLIENT {
                    let request = b"GET /sample.txt HTTP/1.1\r\nHost: localhost\r\n\r\n";
                    match exchange(port, request, Body::Read, false) {
                        Ok(x) if x.response.status == 200 => {
                            ok.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(x) => failures
                            .lock()
                            .map(|mut f| f.push(x.response.summary()))
                            .unwrap_or(()),
                        Err(e) => failures.lock().map(|mut f| f.push(e)).unwrap_or(()),
                    }
                }
            })
        })
        .collect();
    for client in clients {
        let _ = client.join();
    }
    let after = wakeups(pid);
    let mut woke = Vec::new();
    let mut busy = 0;
    for (tid, (name, count)) in &after {
        let grew = count.saturating_sub(before.get(tid).map_or(0, |(_, c)| *c));
        if grew >= MIN_WAKEUPS {
            busy += 1;
        }
        woke.push(format!("{name} ({tid}) woke {grew} times"));
    }
    let total = CLIENTS * CONNECTIONS_PER_CLIENT;
    let answered = ok.load(Ordering::Relaxed);
    let failures = failures.lock().map(|f| f.clone()).unwrap_or_default();
    let observed = format!(
        "{answered} of {total} answered 200; {busy} threads woke {MIN_WAKEUPS} times or more: {}{}",
        woke.join(", "),
        failures
            .first()
            .map(|f| format!("; first failure: {f}"))
            .unwrap_or_default()
    );
    if answered == total && busy >= WORKERS {
        Ok(observed)
    } else {
        Err(observed)
    }
}

/// Starts [`BIG_FILE`] transfers that read slowly, sends SIGINT, and times the port's close and
/// the exit.
fn sigint_in_flight(run: &mut StageRun, port: u16) -> Verdict {
    let pid = run.server_pid().ok_or("the server is not running")?;
    let mut transfers = Vec::new();
    for _ in 0..4 {
        let mut stream =
            connect(port).map_err(|e| format!("cannot connect to port {port}: {e}"))?;
        let request = format!("GET /{BIG_FILE} HTTP/1.1\r\nHost: localhost\r\n\r\n");
        stream
            .write_all(request.as_bytes())
            .map_err(|e| format!("cannot send the request: {e}"))?;
        transfers.push(stream);
    }
    // Let the transfers start: the first bytes of each arrive, the rest waits for the reader.
    let mut started = 0;
    for stream in &mut transfers {
        let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
        let mut buf = [0u8; 4096];
        if matches!(stream.read(&mut buf), Ok(n) if n > 0) {
            started += 1;
        }
    }
    if started < transfers.len() {
        return Err(format!(
            "only {started} of {} transfers of /{BIG_FILE} started within 5 s",
            transfers.len()
        ));
    }
    let start = Instant::now();
    // SAFETY: kill(2) only sends a signal, to the server this checker started.
    let sent = unsafe { libc::kill(pid as libc::pid_t, libc::SIGINT) };
    if sent != 0 {
        return Err(format!(
            "cannot send SIGINT to {pid}: {}",
            std::io::Error::last_os_error()
        ));
    }
    let mut refused_at = None;
    let mut exit = None;
    while start.elapsed() < EXIT_LIMIT * 2 && (refused_at.is_none() || exit.is_none()) {
        if refused_at.is_none()
            && TcpStream::connect_timeout(&super::wire::local(port), Duration::from_millis(200))
                .is_err()
        {
            refused_at = Some(start.elapsed());
        }
        if exit.is_none() {
            exit = run.server_exit().map(|status| (status, start.elapsed()));
        }
        thread::sleep(Duration::from_millis(10));
    }
    drop(transfers);
    let at = |d: Option<Duration>| {
        d.map_or("not within 4 s".into(), |d| {
            format!("after {} ms", d.as_millis())
        })
    };
    let observed = format!(
        "4 transfers of {} MB in flight, SIGINT; the port refused {}; the process {} {}",
        BIG_LEN / 1_000_000,
        at(refused_at),
        exit.map_or("still ran".into(), |(status, _)| {
            crate::process::describe_status(status)
        }),
        at(exit.map(|(_, d)| d)),
    );
    let in_time = |d: Option<Duration>| d.is_some_and(|d| d <= EXIT_LIMIT);
    let clean = exit.is_some_and(|(status, _)| status.success());
    if in_time(refused_at) && in_time(exit.map(|(_, d)| d)) && clean {
        Ok(observed)
    } else {
        Err(observed)
    }
}

/// Stage 23's own checks, after stage 17's on the same config.
pub fn worker_checks(ports: &Ports) -> Vec<Check> {
    let port = ports.role(1);
    vec![
        Check::new(
            format!("one thread per worker ({WORKERS} workers)"),
            "the grader's config with \"workers\": 4; list /proc/PID/task",
            format!("at least {WORKERS} threads"),
            thread_count,
        )
        .restart(),
        Check::new(
            format!("every worker accepts under concurrent load (port {port})"),
            &format!("{CLIENTS} clients at once, each opening {CONNECTIONS_PER_CLIENT} connections one after another, GET /sample.txt on each"),
            format!("every request answered 200; at least {WORKERS} server threads woke up {MIN_WAKEUPS} times or more (voluntary context switches in /proc/PID/task/TID/status)"),
            move |run| accept_spread(run, port),
        ),
        Check::new(
            format!("SIGINT stops every worker, transfers in flight (port {port})"),
            &format!("4 clients GET /{BIG_FILE} ({} MB) and read nothing after the first bytes; then SIGINT", BIG_LEN / 1_000_000),
            format!("the port refuses connections and the process exits with status 0, both within {} s", EXIT_LIMIT.as_secs()),
            move |run| sigint_in_flight(run, port),
        )
        .may_exit(),
    ]
}

/// Stage 23: stage 17's checks (the course's server still works with threads), then the
/// workers' own.
pub fn stage23(cx: &Ctx) -> Vec<Check> {
    let mut list = super::http::stage17(cx);
    list.extend(worker_checks(cx.ports));
    list
}
