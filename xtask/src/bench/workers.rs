//! Rows g-j: the server on both cores of the machine (stage 23's `workers`).
//!
//! Rows a-f keep each server on one CPU so that wrk never competes with it. With two workers on a
//! two-CPU machine that cannot be done: each server gets both CPUs (`taskset -c 0,1`), and so does
//! wrk (two threads). The load generator then takes part of the CPU a server could have used, the
//! same part on both sides of a row, so the figures are lower than a bigger machine would show but
//! the **ratio** is fair, and the ratio is what each row is about:
//!
//! - **g.** gzip level 6 of a 1 MiB text file, keep-alive, 16 connections: expserver with 2 workers over
//!   expserver with 1. Compressing costs several milliseconds of CPU per answer and wrk's part is
//!   tiny next to it, so a server that really uses both cores comes close to 2x; one whose
//!   workers fight over a lock, or whose clients all land on one worker, stays near 1x.
//! - **h.** the 1 KiB file, keep-alive: expserver with `"workers": 2` over nginx with
//!   `worker_processes 2` (both with gzip configured as in g, answering without it since wrk does
//!   not ask for it).
//! - **i.** row h with N idle connections held open (`--worker-idle`, 10 000 by default), run right
//!   after h in the same round; the remark says how the idle connections spread over each
//!   server's workers: for expserver from two scrapes of its `/metrics` route
//!   (`expserver_worker_connections_accepted_total`), for nginx from the sockets each worker
//!   process holds.
//! - **j.** the resident memory of all of each server's workers while those connections are held
//!   (expserver is one process; nginx's two workers are summed, its master left out as in row f).
//!
//! Every run's figure is shown and the medians compared, as in rows a-f; a run with any error,
//! short answer or dropped idle connection is invalid.

use std::fs;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};

use super::idle::Idle;
use super::report::{RowResult, Sample};
use super::setup::{nginx_argv, start, SMALL_BYTES, SMALL_PATH, TEXT_BYTES, TEXT_PATH};
use super::{interrupted, nginx, pin, probe, wrk, BenchOptions, Tools};
use crate::checks::http::client::fetch;
use crate::ports::free_tcp_ports;
use crate::process::Proc;
use crate::procstat::rss_bytes;

/// The CPUs every process of rows g-j may run on: all of this 2-CPU machine.
const ALL_CPUS: &str = "0,1";
/// wrk threads for rows g-j, one per CPU.
const WRK_THREADS: u32 = 2;
/// The gzip level of row g, zlib's and nginx's default.
const GZIP_LEVEL: u32 = 6;
/// How long opening the idle connections may take.
const IDLE_OPEN_LIMIT: Duration = Duration::from_secs(90);
/// How long the server may take to accept the idle connections once they are open.
const IDLE_ACCEPT_LIMIT: Duration = Duration::from_secs(30);
/// Connections in row g. Every connection waits for the answers compressed before its own on the
/// same worker, so 50 would make each answer wait about 25 compressions (over a second here);
/// 16 keep both workers busy, and the kernel's hash sends all 16 to the same worker only once
/// in 32 768 runs.
const GZIP_CONNECTIONS: u32 = 16;
/// Pause after each run, so closing connections do not spill into the next run.
const SETTLE: Duration = Duration::from_millis(500);

/// One server of rows g-j.
struct Server {
    /// "expserver, 2 workers".
    name: String,
    proc: Proc,
    port: u16,
    /// The processes that do the work: expserver itself, or nginx's workers.
    workers: Vec<u32>,
    /// expserver: it has a `/metrics` route that counts accepts per worker.
    metrics: bool,
}

impl Server {
    /// The accepted connections of `idle` held by the workers, one count per worker process (for
    /// expserver, one process whose threads share its descriptors: one count).
    fn accepted(&self, idle: &Idle) -> usize {
        self.workers.iter().map(|&pid| idle.accepted_by(pid)).sum()
    }

    /// The resident memory of all the workers, in MiB.
    fn rss_mib(&self) -> Sample {
        let mut total = 0;
        for &pid in &self.workers {
            match rss_bytes(pid) {
                Ok(bytes) => total += bytes,
                Err(e) => {
                    return Sample::Invalid {
                        value: None,
                        reason: format!("cannot read the RSS of process {pid}: {e:#}"),
                    }
                }
            }
        }
        Sample::Valid(total as f64 / (1024.0 * 1024.0))
    }

    /// How many connections each worker has taken so far: expserver's per-worker accept
    /// counters, or the sockets of `idle` each nginx worker holds.
    fn per_worker(&self, idle: &Idle) -> Result<Vec<u64>> {
        if self.metrics {
            let page = fetch(self.port, "/metrics")
                .map_err(|e| anyhow::anyhow!("cannot scrape {}'s /metrics: {e}", self.name))?;
            if page.status != 200 {
                bail!("{}'s /metrics answers {}", self.name, page.status_line);
            }
            Ok(accepted_per_worker(&String::from_utf8_lossy(&page.body)))
        } else {
            Ok(self
                .workers
                .iter()
                .map(|&pid| idle.accepted_by(pid) as u64)
                .collect())
        }
    }
}

/// The values of `expserver_worker_connections_accepted_total`, by worker, from a Prometheus text
/// page.
fn accepted_per_worker(page: &str) -> Vec<u64> {
    let mut counts: Vec<(u64, u64)> = page
        .lines()
        .filter_map(|line| {
            let rest = line.strip_prefix("expserver_worker_connections_accepted_total{")?;
            let (labels, value) = rest.split_once('}')?;
            let worker = labels
                .split(',')
                .find_map(|l| l.trim().strip_prefix("worker=\""))?
                .trim_end_matches('"')
                .parse()
                .ok()?;
            Some((worker, value.trim().parse::<f64>().ok()? as u64))
        })
        .collect();
    counts.sort_unstable();
    counts.into_iter().map(|(_, n)| n).collect()
}

/// expserver's config for rows g-j: `/metrics` and a file route with gzip at level 6.
fn expserver_config(public: &Path, port: u16, workers: usize) -> serde_json::Value {
    serde_json::json!({
        "server_name": "eXpServer",
        "workers": workers,
        // As long as the bench runs: row i's idle connections never send a request.
        "keep_alive_timeout_ms": 300_000,
        "client_header_timeout_ms": 300_000,
        "servers": [{
            "listeners": [{ "host": "127.0.0.1", "port": port }],
            "routes": [
                { "req_path": "/metrics", "type": "metrics" },
                { "req_path": "/", "type": "file_serve", "dir_path": public,
                  "index": ["index.html"], "gzip_enable": true, "gzip_level": GZIP_LEVEL }
            ]
        }]
    })
}

/// The three servers of rows g-j: expserver with 2 workers, with 1, and nginx with 2.
struct Servers {
    list: [Server; 3],
    dir: PathBuf,
}

const EXP2: usize = 0;
const EXP1: usize = 1;
const NGINX2: usize = 2;

impl Servers {
    fn start(
        tools: &Tools,
        expserver: &Path,
        dir: &Path,
        public: &Path,
        connections: usize,
    ) -> Result<Servers> {
        let ports = free_tcp_ports(3)?;
        let exp = |workers: usize, port: u16| -> Result<Server> {
            let config = dir.join(format!("expserver-{workers}w.json"));
            let json = expserver_config(public, port, workers);
            fs::write(&config, serde_json::to_string_pretty(&json)?)?;
            let mut argv = pin(&tools.taskset, ALL_CPUS);
            argv.extend([
                expserver.to_string_lossy().into_owned(),
                config.to_string_lossy().into_owned(),
            ]);
            let proc = start(&format!("expserver-{workers}w"), argv, dir, &[port])?;
            Ok(Server {
                name: format!(
                    "expserver, {workers} worker{}",
                    if workers == 1 { "" } else { "s" }
                ),
                workers: vec![proc.pid()],
                proc,
                port,
                metrics: true,
            })
        };
        let exp2 = exp(2, ports[0])?;
        let exp1 = exp(1, ports[1])?;

        let servers = format!(
            "  gzip on;\n  gzip_comp_level {GZIP_LEVEL};\n  gzip_types text/plain;\n\
             \x20 server {{ listen 127.0.0.1:{}; root {}; }}\n",
            ports[2],
            public.display()
        );
        let mut argv = pin(&tools.taskset, ALL_CPUS);
        argv.extend(nginx_argv(
            &tools.nginx,
            &dir.join("nginx-2w"),
            &servers,
            nginx::Mode::Workers(2),
            connections,
        )?);
        let proc = start("nginx-2w", argv, dir, &[ports[2]])?;
        // Both workers must be up before anything is measured.
        let deadline = Instant::now() + Duration::from_secs(10);
        let workers = loop {
            let workers = nginx::worker_pids(proc.pid());
            if workers.len() == 2 || Instant::now() >= deadline {
                break workers;
            }
            thread::sleep(Duration::from_millis(50));
        };
        if workers.len() != 2 {
            bail!(
                "nginx with worker_processes 2 has {} worker processes",
                workers.len()
            );
        }
        let nginx2 = Server {
            name: "nginx, 2 workers".into(),
            proc,
            port: ports[2],
            workers,
            metrics: false,
        };
        Ok(Servers {
            list: [exp2, exp1, nginx2],
            dir: dir.to_path_buf(),
        })
    }

    /// Before anything is measured: each server answers the 1 KiB file right, the text file
    /// gzipped and whole, and expserver runs as many workers as asked. Returns the size of the
    /// gzipped text (the smallest body a right answer in row g carries).
    fn probe(&self) -> Result<u64> {
        let text = fs::read(
            self.dir
                .join("public")
                .join(TEXT_PATH.trim_start_matches('/')),
        )?;
        let mut gzipped = 0;
        for server in &self.list {
            probe::expect_ok(&server.name, server.port, SMALL_PATH, SMALL_BYTES as u64)?;
            let answer = fetch(server.port, TEXT_PATH).map_err(|e| {
                anyhow::anyhow!("{} did not answer GET {TEXT_PATH}: {e}", server.name)
            })?;
            let Some(len) = answer.gzipped_len else {
                bail!(
                    "{} answers GET {TEXT_PATH} (Accept-Encoding: gzip) with {}, not gzipped",
                    server.name,
                    answer.status_line
                );
            };
            if answer.status != 200 || answer.body != text {
                bail!(
                    "{} answers GET {TEXT_PATH} with {} and {} bytes after gunzip, not the {TEXT_BYTES}-byte file",
                    server.name,
                    answer.status_line,
                    answer.body.len()
                );
            }
            if server.metrics {
                gzipped = len as u64;
            }
        }
        for (i, want) in [(EXP2, 2), (EXP1, 1)] {
            let page = fetch(self.list[i].port, "/metrics")
                .map_err(|e| anyhow::anyhow!("cannot scrape /metrics: {e}"))?;
            let have = accepted_per_worker(&String::from_utf8_lossy(&page.body)).len();
            if have != want {
                bail!(
                    "{} reports {have} workers in /metrics, not {want}",
                    self.list[i].name
                );
            }
        }
        Ok(gzipped)
    }

    fn check_running(&mut self, during: &str) -> Result<()> {
        for server in &mut self.list {
            if !server.proc.is_running() {
                bail!(
                    "{} stopped during {during}; its output:\n{}",
                    server.name,
                    server.proc.log_tail(2000)
                );
            }
        }
        Ok(())
    }
}

/// One row of g-i.
#[derive(Clone)]
struct Row {
    id: char,
    label: String,
    path: &'static str,
    /// Which two of the servers, the first over the second in the ratio.
    servers: [usize; 2],
    /// Extra request headers wrk sends.
    headers: Vec<String>,
    /// The smallest body a right answer carries.
    body: u64,
    connections: u32,
    idle: usize,
}

/// What one run measured.
struct RunResult {
    sample: Sample,
    /// Row i: the workers' RSS with the idle connections held, and how they spread.
    rss: Option<Sample>,
    spread: Option<Vec<u64>>,
}

/// Runs rows g-j (those of them `options` asks for) and returns their table rows.
pub fn measure(
    options: &BenchOptions,
    tools: &Tools,
    expserver: &Path,
    dir: &Path,
) -> Result<Vec<RowResult>> {
    let idle = if options.wants('i') {
        options.worker_idle
    } else {
        0
    };
    let public = dir.join("public");
    let connections = idle + options.connections as usize * 2 + 1024;
    let mut servers = Servers::start(tools, expserver, dir, &public, connections)?;
    let gzipped = servers.probe()?;
    eprintln!(
        "rows g-j: {TEXT_PATH} is {TEXT_BYTES} bytes, {gzipped} gzipped at level {GZIP_LEVEL}"
    );

    let g = Row {
        id: 'g',
        label: format!(
            "g. gzip level {GZIP_LEVEL} of a 1 MiB text file, keep-alive, {GZIP_CONNECTIONS} connections: 2 workers vs 1"
        ),
        path: TEXT_PATH,
        servers: [EXP2, EXP1],
        headers: vec!["Accept-Encoding: gzip".into()],
        body: gzipped,
        connections: GZIP_CONNECTIONS,
        idle: 0,
    };
    let h = Row {
        id: 'h',
        label: format!(
            "h. 1 KiB file, keep-alive, {} connections: 2 workers each",
            options.connections
        ),
        path: SMALL_PATH,
        servers: [EXP2, NGINX2],
        headers: Vec::new(),
        body: SMALL_BYTES as u64,
        connections: options.connections,
        idle: 0,
    };
    let i = Row {
        id: 'i',
        label: format!("i. as h, with {idle} idle connections held"),
        idle,
        ..h.clone()
    };
    // h and i first: row j's RSS is read before row g has grown the heaps with gzip's buffers.
    let groups: Vec<Vec<Row>> = [vec![h, i], vec![g]]
        .into_iter()
        .map(|group| {
            group
                .into_iter()
                .filter(|r| options.wants(r.id))
                .collect::<Vec<_>>()
        })
        .filter(|group| !group.is_empty())
        .collect();

    let wrk_pin = pin(&tools.taskset, ALL_CPUS);
    let mut results: Vec<(char, RowResult)> = Vec::new();
    let mut rss = RowResult::new(
        format!("j. RSS of all workers with {idle} idle connections held"),
        "MiB",
    );
    rss.names = [EXP2, NGINX2].map(|s| servers.list[s].name.clone());
    let mut spreads: [Option<Vec<u64>>; 2] = [None, None];
    for group in &groups {
        let mut rows: Vec<RowResult> = group
            .iter()
            .map(|r| {
                let mut result = RowResult::new(r.label.clone(), "req/s");
                result.names = r.servers.map(|s| servers.list[s].name.clone());
                result
            })
            .collect();
        for round in 1..=options.rounds {
            let order: [usize; 2] = if round % 2 == 1 { [0, 1] } else { [1, 0] };
            for side in order {
                for (row, result) in group.iter().zip(rows.iter_mut()) {
                    if interrupted() {
                        bail!("interrupted");
                    }
                    let server = &servers.list[row.servers[side]];
                    eprintln!(
                        "round {round}/{}: {} on {} ({} s) ...",
                        options.rounds, row.label, server.name, options.duration
                    );
                    let log = dir.join(format!("wrk-{}-{}-{round}.log", row.id, side));
                    let run = run_one(options, tools, &wrk_pin, server, row, &log);
                    result.runs[side].push(run.sample);
                    if let Some(sample) = run.rss {
                        rss.runs[side].push(sample);
                    }
                    if spreads[side].is_none() {
                        spreads[side] = run.spread;
                    }
                    servers.check_running(&format!("row {}", row.id))?;
                }
            }
        }
        results.extend(group.iter().map(|r| r.id).zip(rows));
    }
    if options.wants('i') {
        let parts: Vec<String> = (0..2)
            .filter_map(|side| {
                let spread = spreads[side].as_ref()?;
                let counts: Vec<String> = spread.iter().map(u64::to_string).collect();
                Some(format!("{}: {}", rss.names[side], counts.join(" / ")))
            })
            .collect();
        if let Some((_, row)) = results.iter_mut().find(|(id, _)| *id == 'i') {
            row.remark = format!(
                "idle connections taken per worker (first round): {}",
                parts.join("; ")
            );
        }
        results.push(('j', rss));
    }
    Ok(results.into_iter().map(|(_, r)| r).collect())
}

/// One wrk run of `row` against `server`, with the row's idle connections held around it.
fn run_one(
    options: &BenchOptions,
    tools: &Tools,
    pin: &[String],
    server: &Server,
    row: &Row,
    log: &Path,
) -> RunResult {
    let invalid = |reason: String| RunResult {
        sample: Sample::Invalid {
            value: None,
            reason: reason.clone(),
        },
        rss: (row.idle > 0).then_some(Sample::Invalid {
            value: None,
            reason,
        }),
        spread: None,
    };
    let mut idle = None;
    let mut spread = None;
    if row.idle > 0 {
        eprintln!("  opening {} idle connections ...", row.idle);
        let before = match server.per_worker(&Idle::empty(server.port)) {
            Ok(counts) => counts,
            Err(e) => return invalid(format!("{e:#}")),
        };
        let opened = match Idle::open(server.port, row.idle, IDLE_OPEN_LIMIT) {
            Ok(opened) => opened,
            Err(reason) => return invalid(reason),
        };
        let accepted = opened.wait_accepted(IDLE_ACCEPT_LIMIT, |idle| server.accepted(idle));
        if accepted < row.idle {
            return invalid(format!(
                "the server accepted only {accepted} of {} idle connections in {IDLE_ACCEPT_LIMIT:?}",
                row.idle
            ));
        }
        match server.per_worker(&opened) {
            Ok(after) if server.metrics => {
                spread = Some(
                    after
                        .iter()
                        .zip(before.iter().chain(std::iter::repeat(&0)))
                        .map(|(a, b)| a.saturating_sub(*b))
                        .collect(),
                );
            }
            Ok(after) => spread = Some(after),
            Err(e) => return invalid(format!("{e:#}")),
        }
        idle = Some(opened);
        thread::sleep(SETTLE);
    }
    let spec = wrk::WrkRun {
        pin,
        wrk: &tools.wrk,
        threads: WRK_THREADS,
        connections: row.connections,
        seconds: options.duration,
        close: false,
        headers: &row.headers,
        url: format!("http://127.0.0.1:{}{}", server.port, row.path),
        min_body: row.body,
        log,
    };
    let mut sample = wrk::run(&spec, |r| r.requests_per_sec);
    let mut rss = None;
    if let Some(mut idle) = idle {
        let mut held_rss = server.rss_mib();
        if let Some(reason) = idle.dropped() {
            sample.invalidate(&reason);
            held_rss.invalidate(&reason);
        }
        rss = Some(held_rss);
    }
    thread::sleep(SETTLE);
    RunResult {
        sample,
        rss,
        spread,
    }
}

/// What the report says under the table of rows g-j.
pub fn explanation(options: &BenchOptions) -> String {
    format!(
        "\nRows g-j: every server on both CPUs (taskset -c {ALL_CPUS}), wrk -t{WRK_THREADS} on both \
         CPUs too (on 2 CPUs the load generator cannot have its own), {} s per run, {} round(s) \
         alternating. The ratio is the first server's median over the second's: in g, 2 workers \
         over 1 (goal >= 1.6); in h and i, expserver with \"workers\": 2 over nginx with \
         worker_processes 2 (goal >= 1.2); in j, the RSS of expserver's process over the sum of \
         nginx's two workers. A run is invalid on any error or short answer, and in i and j when \
         the server closed an idle connection. expserver's spread over workers comes from its \
         /metrics counters (`expserver_worker_connections_accepted_total`, before and after \
         opening; the second scrape is itself one connection), nginx's from the sockets each \
         worker process holds.\n",
        options.duration, options.rounds
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_accepts_per_worker() {
        let page = "# HELP expserver_worker_connections_accepted_total Client connections accepted, by worker.\n\
            # TYPE expserver_worker_connections_accepted_total counter\n\
            expserver_worker_connections_accepted_total{worker=\"2\"} 4990\n\
            expserver_worker_connections_accepted_total{worker=\"1\"} 5011\n\
            expserver_workers 2\n";
        assert_eq!(accepted_per_worker(page), vec![5011, 4990]);
        assert_eq!(
            accepted_per_worker("expserver_workers 1\n"),
            Vec::<u64>::new()
        );
    }

    #[test]
    fn config_has_the_workers_gzip_and_metrics() {
        let json = expserver_config(Path::new("/srv"), 8080, 2);
        assert_eq!(json["workers"], 2);
        let routes = &json["servers"][0]["routes"];
        assert_eq!(routes[0]["type"], "metrics");
        assert_eq!(routes[1]["gzip_enable"], true);
        assert_eq!(routes[1]["gzip_level"], 6);
    }
}
