//! The rows, and the order they run in.
//!
//! Rows are run in groups: a group's rows run one after the other inside each round, so row e
//! (row a with idle connections held) runs right after row a, under the same conditions, and the
//! two can be compared. Inside a round the order of the servers flips every round (E N, N E, ...)
//! so neither server always runs on a machine warmed, or slowed, by the other.

use std::path::{Path, PathBuf};
use std::thread;
use std::time::Duration;

use anyhow::{bail, Result};

use super::idle::Idle;
use super::report::{change, figure, RowResult, Sample, SERVERS};
use super::setup::{Servers, LARGE_BYTES, LARGE_PATH, SMALL_BYTES, SMALL_PATH, UPSTREAM_BODY};
use super::{interrupted, pin, probe, wrk, BenchOptions, Tools, CLIENT_CPU, SERVER_CPU};
use crate::procstat::{cpu_time, rss_bytes};

/// How long opening the idle connections may take.
const IDLE_OPEN_LIMIT: Duration = Duration::from_secs(60);
/// How long the server may take to accept the idle connections once they are open.
const IDLE_ACCEPT_LIMIT: Duration = Duration::from_secs(20);
/// Pause after each run, so closing connections do not spill into the next run.
const SETTLE: Duration = Duration::from_millis(500);
/// How far row e may fall from row a and still count as unaffected by the idle connections.
const IDLE_TOLERANCE: f64 = 0.10;

/// One row of measurements.
#[derive(Clone, Debug)]
pub struct Row {
    pub id: char,
    pub label: String,
    pub unit: &'static str,
    pub path: &'static str,
    /// Which port of each server: (expserver, nginx).
    pub ports: [u16; 2],
    pub connections: u32,
    /// `Connection: close` on every request.
    pub close: bool,
    /// Idle connections held during the run (row e).
    pub idle: usize,
    /// The body a right answer carries.
    pub body: u64,
    /// MiB/s (true) or requests/s (false).
    pub throughput: bool,
}

/// The groups of rows `options` asks for, on `servers`' ports.
pub fn plan(options: &BenchOptions, servers: &Servers) -> Vec<Vec<Row>> {
    let ports = servers.ports;
    // Keep-alive fairness: if expserver does not keep the connection, both get Connection: close.
    let small_kept = probe::keeps_alive(ports.file[0], SMALL_PATH);
    let large_kept = probe::keeps_alive(ports.file[0], LARGE_PATH);
    let kept = |yes: bool| {
        if yes {
            "keep-alive".to_string()
        } else {
            "Connection: close to both (expserver did not keep the connection)".to_string()
        }
    };
    let a = Row {
        id: 'a',
        label: format!(
            "a. 1 KiB file, {}, {} connections",
            kept(small_kept),
            options.connections
        ),
        unit: "req/s",
        path: SMALL_PATH,
        ports: ports.file,
        connections: options.connections,
        close: !small_kept,
        idle: 0,
        body: SMALL_BYTES as u64,
        throughput: false,
    };
    let e = Row {
        id: 'e',
        label: format!("e. as a, with {} idle connections held", options.idle),
        idle: options.idle,
        ..a.clone()
    };
    let b = Row {
        id: 'b',
        label: format!(
            "b. 1 KiB file, new connection per request, {} connections",
            options.connections
        ),
        close: true,
        ..a.clone()
    };
    let c = Row {
        id: 'c',
        label: format!(
            "c. 100 MiB file, {}, {} connections",
            kept(large_kept),
            options.large_connections
        ),
        unit: "MiB/s",
        path: LARGE_PATH,
        connections: options.large_connections,
        close: !large_kept,
        body: LARGE_BYTES as u64,
        throughput: true,
        ..a.clone()
    };
    let d = Row {
        id: 'd',
        label: format!(
            "d. reverse proxy, new connection per request, {} connections",
            options.connections
        ),
        path: "/",
        ports: ports.proxy,
        close: true,
        body: UPSTREAM_BODY.len() as u64,
        ..a.clone()
    };
    [vec![a, e], vec![b], vec![c], vec![d]]
        .into_iter()
        .map(|group| {
            group
                .into_iter()
                .filter(|r| options.wants(r.id))
                .collect::<Vec<_>>()
        })
        .filter(|group| !group.is_empty())
        .collect()
}

/// What one run measured.
struct RunResult {
    /// The row's figure.
    sample: Sample,
    /// The worker's RSS right after wrk, in MiB.
    rss: Sample,
    /// How much the worker's RSS grew while the idle connections were opened, in MiB.
    idle_growth: Option<f64>,
    /// The share of the server CPU that went to something else during the run.
    others: Option<f64>,
}

/// Runs rows against the servers.
struct Runner<'a> {
    options: &'a BenchOptions,
    wrk: PathBuf,
    pin: Vec<String>,
    dir: &'a Path,
    workers: [u32; 2],
}

/// `(busy, total)` time of CPU `cpu` in clock ticks, from a `/proc/stat` text. Busy is everything
/// but idle and iowait.
fn cpu_ticks(stat: &str, cpu: usize) -> Option<(u64, u64)> {
    let name = format!("cpu{cpu}");
    let line = stat
        .lines()
        .find(|l| l.split_whitespace().next() == Some(name.as_str()))?;
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|f| f.parse().ok())
        .collect::<Option<_>>()?;
    // user nice system idle iowait irq softirq steal [guest guest_nice, already in user/nice]
    let total: u64 = fields.iter().take(8).sum();
    let idle = fields.get(3)? + fields.get(4)?;
    Some((total - idle, total))
}

/// A snapshot to tell how much of the server's CPU went to something else during a run.
struct CpuShare {
    ticks: Option<(u64, u64)>,
    server: Option<Duration>,
}

impl CpuShare {
    fn now(pid: u32) -> CpuShare {
        CpuShare {
            ticks: std::fs::read_to_string("/proc/stat")
                .ok()
                .and_then(|stat| cpu_ticks(&stat, SERVER_CPU)),
            server: cpu_time(pid).ok(),
        }
    }

    /// The share of the server CPU's time since `self` that was busy with something other than
    /// the server process: other programs, and interrupts not charged to any process.
    fn others_since(&self, pid: u32) -> Option<f64> {
        let later = CpuShare::now(pid);
        let ((busy0, total0), (busy1, total1)) = (self.ticks?, later.ticks?);
        let server = later.server?.checked_sub(self.server?)?;
        // SAFETY: sysconf only reads a system constant.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
        let (busy, total) = ((busy1 - busy0) as f64 / hz, (total1 - total0) as f64 / hz);
        (total > 0.0).then(|| ((busy - server.as_secs_f64()) / total).clamp(0.0, 1.0))
    }
}

/// The worker's RSS in MiB.
fn rss_mib(pid: u32) -> Sample {
    match rss_bytes(pid) {
        Ok(bytes) => Sample::Valid(bytes as f64 / (1024.0 * 1024.0)),
        Err(e) => Sample::Invalid {
            value: None,
            reason: format!("cannot read the worker's RSS: {e:#}"),
        },
    }
}

impl Runner<'_> {
    /// One wrk run of `row` against server `s` (0 expserver, 1 nginx), with the idle connections
    /// of the row held open around it.
    fn run(&self, row: &Row, s: usize, round: u64) -> RunResult {
        let port = row.ports[s];
        let mut idle = None;
        let mut idle_growth = None;
        if row.idle > 0 {
            eprintln!("  opening {} idle connections ...", row.idle);
            let pid = self.workers[s];
            let rss_before = rss_mib(pid).valid();
            let invalid = |reason: String| {
                let invalid = Sample::Invalid {
                    value: None,
                    reason,
                };
                RunResult {
                    sample: invalid.clone(),
                    rss: invalid,
                    idle_growth: None,
                    others: None,
                }
            };
            let opened = match Idle::open(port, row.idle, IDLE_OPEN_LIMIT) {
                Ok(opened) => opened,
                Err(reason) => return invalid(reason),
            };
            let accepted = opened.wait_accepted(IDLE_ACCEPT_LIMIT, |idle| idle.accepted_by(pid));
            idle = Some(opened);
            if accepted < row.idle {
                return invalid(format!(
                    "the server accepted only {accepted} of {} idle connections in {IDLE_ACCEPT_LIMIT:?}",
                    row.idle
                ));
            }
            thread::sleep(SETTLE);
            if let (Some(before), Some(after)) = (rss_before, rss_mib(pid).valid()) {
                idle_growth = Some(after - before);
            }
        }
        let log = self
            .dir
            .join(format!("wrk-{}-{}-{round}.log", row.id, SERVERS[s]));
        let spec = wrk::WrkRun {
            pin: &self.pin,
            wrk: &self.wrk,
            threads: self.options.threads,
            connections: row.connections,
            seconds: self.options.duration,
            close: row.close,
            headers: &[],
            url: format!("http://127.0.0.1:{port}{}", row.path),
            min_body: row.body,
            log: &log,
        };
        let throughput = row.throughput;
        let share = CpuShare::now(self.workers[s]);
        let mut sample = wrk::run(&spec, |r| {
            if throughput {
                r.bytes_per_sec / (1024.0 * 1024.0)
            } else {
                r.requests_per_sec
            }
        });
        let others = share.others_since(self.workers[s]);
        if let (Some(limit), Some(share)) = (self.options.max_disturbance, others) {
            if share * 100.0 > f64::from(limit) && sample.valid().is_some() {
                sample = Sample::Invalid {
                    value: sample.valid(),
                    reason: format!(
                        "disturbed: {:.0} % of CPU {SERVER_CPU}'s time went to other work (--max-disturbance {limit})",
                        share * 100.0
                    ),
                };
            }
        }
        let mut rss = rss_mib(self.workers[s]);
        if let Some(reason) = idle.as_mut().and_then(Idle::dropped) {
            sample.invalidate(&reason);
            rss.invalidate(&reason);
        }
        thread::sleep(SETTLE);
        RunResult {
            sample,
            rss,
            idle_growth,
            others,
        }
    }
}

/// Runs every group of rows, round after round, and returns the table's rows (a, e, f, b, c, d).
pub fn measure(
    options: &BenchOptions,
    tools: &Tools,
    servers: &mut Servers,
    groups: &[Vec<Row>],
) -> Result<Vec<RowResult>> {
    let runner = Runner {
        options,
        wrk: tools.wrk.clone(),
        pin: pin(&tools.taskset, CLIENT_CPU),
        dir: &servers.dir.clone(),
        workers: servers.workers,
    };
    let mut results: Vec<(char, RowResult)> = Vec::new();
    let mut rss = RowResult::new(
        format!("f. worker RSS with {} idle connections held", options.idle),
        "MiB",
    );
    // The first growth measured per server: later rounds reuse memory the allocator kept.
    let mut first_growth: [Option<f64>; 2] = [None, None];
    for group in groups {
        let mut rows: Vec<RowResult> = group
            .iter()
            .map(|r| RowResult::new(r.label.clone(), r.unit))
            .collect();
        for round in 1..=options.rounds {
            let order: [usize; 2] = if round % 2 == 1 { [0, 1] } else { [1, 0] };
            for s in order {
                for (row, result) in group.iter().zip(rows.iter_mut()) {
                    if interrupted() {
                        bail!("interrupted");
                    }
                    eprintln!(
                        "round {round}/{}: {} on {} ({} s) ...",
                        options.rounds, row.label, SERVERS[s], options.duration
                    );
                    let run = runner.run(row, s, round);
                    result.runs[s].push(run.sample);
                    result.others[s].extend(run.others);
                    if row.id == 'e' {
                        rss.runs[s].push(run.rss);
                        if first_growth[s].is_none() {
                            first_growth[s] = run.idle_growth;
                        }
                    }
                    servers.check_running(&format!("row {}", row.id))?;
                }
            }
        }
        results.extend(group.iter().map(|r| r.id).zip(rows));
    }
    if options.wants('e') {
        let parts: Vec<String> = (0..2)
            .filter_map(|s| {
                first_growth[s].map(|g| {
                    format!(
                        "{} +{} MiB when first opened ({:.2} KiB each)",
                        SERVERS[s],
                        figure(g),
                        g * 1024.0 / options.idle.max(1) as f64
                    )
                })
            })
            .collect();
        rss.remark = parts.join("; ");
        results.push(('f', rss));
    }
    compare_e_with_a(&mut results);
    results.sort_by_key(|(id, _)| "aefbcd".find(*id));
    Ok(results.into_iter().map(|(_, r)| r).collect())
}

/// Puts, next to row e, how far each server's median moved from row a's.
fn compare_e_with_a(results: &mut [(char, RowResult)]) {
    let medians = |id: char| {
        results
            .iter()
            .find(|(r, _)| *r == id)
            .map(|(_, row)| row.medians())
    };
    let (Some(a), Some(e)) = (medians('a'), medians('e')) else {
        return;
    };
    let parts: Vec<String> = (0..2)
        .filter_map(|s| {
            let (a, e) = (a[s]?, e[s]?);
            let within = (e / a - 1.0).abs() <= IDLE_TOLERANCE;
            Some(format!(
                "{} {} ({} 10 %)",
                SERVERS[s],
                change(e, a),
                if within { "within" } else { "NOT within" }
            ))
        })
        .collect();
    if let Some((_, row)) = results.iter_mut().find(|(r, _)| *r == 'e') {
        row.remark = format!("vs row a: {}", parts.join(", "));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cpu_ticks() {
        let stat = "cpu  190599 135 62527 543510 1844 0 4724 255 0 0\n\
                    cpu0 100 0 50 800 50 0 0 0 0 0\n\
                    cpu1 1 2 3 4 5 6 7 8 0 0\n";
        assert_eq!(cpu_ticks(stat, 0), Some((150, 1000)));
        assert_eq!(cpu_ticks(stat, 1), Some((27, 36)));
        assert_eq!(cpu_ticks(stat, 2), None);
    }

    #[test]
    fn row_e_is_compared_with_row_a() {
        let mut a = RowResult::new("a".into(), "req/s");
        a.runs = [vec![Sample::Valid(100.0)], vec![Sample::Valid(200.0)]];
        let mut e = RowResult::new("e".into(), "req/s");
        e.runs = [vec![Sample::Valid(50.0)], vec![Sample::Valid(190.0)]];
        let mut results = vec![('a', a), ('e', e)];
        compare_e_with_a(&mut results);
        assert_eq!(
            results[1].1.remark,
            "vs row a: expserver -50.0 % (NOT within 10 %), nginx -5.0 % (within 10 %)"
        );
    }
}
