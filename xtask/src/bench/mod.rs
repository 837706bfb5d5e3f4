//! `cargo xtask bench`: the finished server next to nginx, measured so the figures can be trusted
//! on a small machine shared with other work.
//!
//! The course promises a server "fast enough to stand next to nginx"; this puts a number on it.
//! A naive "run wrk against A, then against B" on a 2-core machine measures mostly noise: the
//! server, wrk and whatever else runs fight for the same cores, and one round slowed by a
//! neighbour decides the result. So:
//!
//! - **Pinning.** Each server (one worker each: nginx `worker_processes 1`, `access_log off`) runs
//!   on CPU 0 with `taskset`; wrk, the proxy's upstream and this program run on CPU 1. The server
//!   never competes with its own load generator, and both servers get the same CPU.
//! - **Alternation.** Every row runs expserver and nginx in turns, several rounds (`--rounds`,
//!   default 3), and the order flips every round (E N, N E, E N, ...), so a slow minute on the
//!   machine hits both servers, not one.
//! - **Medians.** Every run's figure is printed; the summary is the median of the valid runs and
//!   the ratio is expserver's median over nginx's (see [`report`]).
//! - **Validity.** A run with any non-2xx/3xx answer, socket error or short answer is invalid:
//!   shown, but not counted (see [`wrk`]). Before any run, one request per URL and server checks
//!   the answer is a 200 with the right length (see [`probe`]).
//!
//! The rows: (a) 1 KiB file, keep-alive, 50 connections; (b) the same file with a new connection
//! per request; (c) a 100 MiB file (MiB/s); (d) the reverse proxy, a new connection per request,
//! to a shared upstream (a separate nginx on CPU 1 answering a small fixed body, so neither proxy
//! has a faster upstream); (e) row a with N idle connections held open (see [`idle`]), run
//! right after row a in the same round and compared with it; (f) each server's worker RSS while
//! those N connections are held. `--callgrind` adds a deterministic figure, instructions per
//! request (see [`callgrind`]).
//!
//! Keep-alive fairness: `expserver` keeps connections alive for files. Before the keep-alive
//! rows the bench asks expserver twice on one connection: if the connection does not survive,
//! both servers get `Connection: close` on that row, so both pay for a new connection per request
//! and the comparison stays fair; the row's label says so.
//!
//! Nothing here asserts on the figures: they are what they are on this machine.

mod callgrind;
mod idle;
mod nginx;
mod probe;
mod report;
mod wrk;

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::cargo_build::{build, Profile};
use crate::ports::{free_tcp_ports, wait_bound, Proto};
use crate::process::Proc;
use crate::procstat::rss_bytes;
use report::{change, figure, RowResult, Sample};

/// The size of the small file.
const SMALL_BYTES: usize = 1024;
/// The size of the large file.
const LARGE_BYTES: usize = 100 << 20;
/// The body the upstream answers every proxied request with.
const UPSTREAM_BODY: &str = "hello from the upstream: a small fixed body for the proxy benchmark\n";
/// How long the servers may take to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// The CPU the measured server runs on.
const SERVER_CPU: usize = 0;
/// The CPU wrk, the upstream and this program run on.
const CLIENT_CPU: usize = 1;
/// How long opening the idle connections may take.
const IDLE_OPEN_LIMIT: Duration = Duration::from_secs(60);
/// Pause after each run, so closing connections do not spill into the next run.
const SETTLE: Duration = Duration::from_millis(500);
/// The keep-alive row a row e is compared with, and the limit of the comparison.
const IDLE_TOLERANCE: f64 = 0.10;

/// The knobs of `cargo xtask bench`.
#[derive(clap::Args, Clone, Debug)]
pub struct BenchOptions {
    /// Seconds each wrk run lasts.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub duration: u64,
    /// Rounds per row; each round runs both servers, in alternating order.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=20))]
    pub rounds: u64,
    /// Open connections for the 1 KiB and proxy rows (wrk -c).
    #[arg(long, default_value_t = 50)]
    pub connections: u32,
    /// Open connections for the 100 MiB file (each one holds a long transfer).
    #[arg(long, default_value_t = 4)]
    pub large_connections: u32,
    /// Idle connections held open during row e (and measured in row f).
    #[arg(long, default_value_t = 5000)]
    pub idle: usize,
    /// wrk threads (wrk -t); wrk runs on one CPU, so more threads only add switching.
    #[arg(long, default_value_t = 1)]
    pub threads: u32,
    /// Which rows to run, e.g. `a,e` (f comes with e).
    #[arg(long, default_value = "a,b,c,d,e", value_delimiter = ',')]
    pub rows: Vec<char>,
    /// Also count instructions per request under valgrind's callgrind (skipped with a note
    /// when valgrind is missing).
    #[arg(long)]
    pub callgrind: bool,
    /// Requests per callgrind run (K).
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub callgrind_requests: u64,
    /// Also write the Markdown report to this file.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Build expserver in debug mode (much slower; for trying the bench out only).
    #[arg(long)]
    pub debug: bool,
    /// Keep the working folder (configs, server and wrk logs, callgrind files) instead of
    /// removing it at the end.
    #[arg(long)]
    pub keep: bool,
}

/// Set by SIGINT/SIGTERM: the bench stops between runs and every child is killed on the way out.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// Lets Ctrl-C stop the bench through the normal error path, so the servers (each in its own
/// process group, out of the terminal's reach) are killed by their `Drop`.
fn catch_signals() {
    for signal in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        unsafe {
            libc::signal(signal, on_signal as *const () as libc::sighandler_t);
        }
    }
}

/// Pins this process (and so whatever it starts later) to `cpu`.
fn pin_self(cpu: usize) -> Result<()> {
    // SAFETY: cpu_set_t is plain data; CPU_SET writes inside it; sched_setaffinity reads it.
    let result = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set)
    };
    if result != 0 {
        bail!(
            "cannot pin the bench to CPU {cpu}: {}",
            std::io::Error::last_os_error()
        );
    }
    Ok(())
}

/// Finds a program on the PATH, or in the sbin folders a non-root PATH often lacks.
fn find_tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(
            [
                "/usr/sbin",
                "/usr/local/sbin",
                "/sbin",
                "/usr/local/nginx/sbin",
            ]
            .map(PathBuf::from),
        )
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// Generates the served files, a 1 KiB text file and a 100 MiB binary file, readable by everyone.
fn write_files(public: &Path) -> Result<()> {
    fs::create_dir_all(public)?;
    let small: Vec<u8> = (0..SMALL_BYTES)
        .map(|i| b"abcdefghijklmnopqrstuvwxyz0123456789\n"[i % 37])
        .collect();
    fs::write(public.join("small.txt"), small)?;
    let block: Vec<u8> = (0..1 << 20)
        .map(|i: usize| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let mut large = fs::File::create(public.join("large.bin"))?;
    for _ in 0..LARGE_BYTES / block.len() {
        large.write_all(&block)?;
    }
    make_world_readable(public)
}

/// nginx's worker runs as `nobody`: it needs every file readable by others and every folder on
/// the way to them searchable (o+x). Sets the bits in `public` and checks its ancestors.
fn make_world_readable(public: &Path) -> Result<()> {
    fs::set_permissions(public, fs::Permissions::from_mode(0o755))?;
    for entry in fs::read_dir(public)? {
        let path = entry?.path();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644))?;
    }
    for dir in public.ancestors().skip(1) {
        let mode = fs::metadata(dir)?.permissions().mode();
        if mode & 0o001 == 0 {
            fs::set_permissions(dir, fs::Permissions::from_mode(mode | 0o005))
                .with_context(|| format!("cannot open {} to nginx's worker", dir.display()))?;
        }
    }
    Ok(())
}

/// `taskset -c CPU`, to put before a command line.
fn pin(taskset: &Path, cpu: usize) -> Vec<String> {
    vec![
        taskset.to_string_lossy().into_owned(),
        "-c".into(),
        cpu.to_string(),
    ]
}

/// Starts `argv` in `dir` with its output in `dir/<name>.log`, and waits until it listens on
/// `ports`.
fn start(name: &str, argv: Vec<String>, dir: &Path, ports: &[u16]) -> Result<Proc> {
    let mut proc = Proc::spawn(&argv, dir, &[], &dir.join(format!("{name}.log")))?;
    wait_bound(&mut proc, ports, Proto::Tcp, START_TIMEOUT)
        .with_context(|| format!("{name} did not start"))?;
    Ok(proc)
}

/// Writes an nginx config under `prefix` and returns the command line that runs it.
fn nginx_argv(
    nginx: &Path,
    prefix: &Path,
    servers: &str,
    mode: nginx::Mode,
    connections: usize,
) -> Result<Vec<String>> {
    fs::create_dir_all(prefix)?;
    let conf = prefix.join("nginx.conf");
    fs::write(&conf, nginx::config(prefix, servers, mode, connections))?;
    Ok(nginx::argv(nginx, prefix, &conf))
}

/// expserver's config: a file server on `public` and, given `(port, upstream)`, a reverse proxy.
fn expserver_config(public: &Path, file: u16, proxy: Option<(u16, u16)>) -> serde_json::Value {
    let mut servers = vec![serde_json::json!({
        "listeners": [{ "host": "127.0.0.1", "port": file }],
        "routes": [{ "req_path": "/", "type": "file_serve", "dir_path": public, "index": ["index.html"] }]
    })];
    if let Some((port, upstream)) = proxy {
        servers.push(serde_json::json!({
            "listeners": [{ "host": "127.0.0.1", "port": port }],
            "routes": [{ "req_path": "/", "type": "reverse_proxy", "upstreams": [format!("127.0.0.1:{upstream}")] }]
        }));
    }
    serde_json::json!({
        "server_name": "eXpServer",
        "workers": 1,
        // As long as the bench runs, like nginx's keepalive_timeout: the idle connections of
        // row e must stay open.
        "keep_alive_timeout_ms": 300_000,
        "servers": servers
    })
}

/// One row of measurements.
#[derive(Clone, Debug)]
struct Row {
    id: char,
    label: String,
    unit: &'static str,
    path: &'static str,
    /// Which port of each server: (expserver, nginx).
    ports: [u16; 2],
    connections: u32,
    /// `Connection: close` on every request.
    close: bool,
    /// Idle connections held during the run (row e).
    idle: usize,
    /// The body a right answer carries.
    body: u64,
    /// MiB/s (true) or requests/s (false).
    throughput: bool,
}

/// Everything a run needs.
struct Bench<'a> {
    options: &'a BenchOptions,
    wrk: PathBuf,
    taskset: PathBuf,
    dir: PathBuf,
    /// The worker pids of expserver and nginx, for RSS.
    workers: [u32; 2],
}

/// What one run measured: the row's figure and, for rows that ask, the worker's RSS in MiB.
struct RunResult {
    sample: Sample,
    rss: Sample,
}

impl Bench<'_> {
    /// One wrk run of `row` against server `s` (0 expserver, 1 nginx), with the idle connections
    /// of the row held open around it.
    fn run(&self, row: &Row, s: usize, round: u64) -> RunResult {
        let invalid = |reason: String| RunResult {
            sample: Sample::Invalid {
                value: None,
                reason: reason.clone(),
            },
            rss: Sample::Invalid {
                value: None,
                reason,
            },
        };
        let port = row.ports[s];
        let mut idle = None;
        if row.idle > 0 {
            eprintln!("  opening {} idle connections ...", row.idle);
            match idle::Idle::open(port, row.idle, IDLE_OPEN_LIMIT) {
                Ok(held) => idle = Some(held),
                Err(reason) => return invalid(reason),
            }
            thread::sleep(SETTLE);
        }
        let log = self
            .dir
            .join(format!("wrk-{}-{}-{round}.log", row.id, report::SERVERS[s]));
        let pin = pin(&self.taskset, CLIENT_CPU);
        let spec = wrk::WrkRun {
            pin: &pin,
            wrk: &self.wrk,
            threads: self.options.threads,
            connections: row.connections,
            seconds: self.options.duration,
            close: row.close,
            url: format!("http://127.0.0.1:{port}{}", row.path),
            min_body: row.body,
            log: &log,
        };
        let throughput = row.throughput;
        let mut sample = wrk::run(&spec, |r| {
            if throughput {
                r.bytes_per_sec / (1024.0 * 1024.0)
            } else {
                r.requests_per_sec
            }
        });
        let rss = rss_bytes(self.workers[s]).map(|b| b as f64 / (1024.0 * 1024.0));
        let mut rss = match rss {
            Ok(mib) => Sample::Valid(mib),
            Err(e) => Sample::Invalid {
                value: None,
                reason: format!("cannot read the worker's RSS: {e:#}"),
            },
        };
        if let Some(mut idle) = idle {
            let held = idle.held();
            if held < idle.len() {
                let reason = format!(
                    "the server closed {} of the {} idle connections during the run",
                    idle.len() - held,
                    idle.len()
                );
                for slot in [&mut sample, &mut rss] {
                    *slot = Sample::Invalid {
                        value: slot.valid(),
                        reason: reason.clone(),
                    };
                }
            }
        }
        thread::sleep(SETTLE);
        RunResult { sample, rss }
    }
}

/// Builds and starts everything, runs the rows, prints the table (and writes it with `--out`).
pub fn run(options: &BenchOptions) -> Result<()> {
    let missing: Vec<&str> = ["wrk", "nginx", "taskset"]
        .into_iter()
        .filter(|t| find_tool(t).is_none())
        .collect();
    if !missing.is_empty() {
        bail!(
            "cargo xtask bench needs {} installed (Debian: apt-get install {}); nothing was measured",
            missing.join(", "),
            missing
                .iter()
                .map(|t| if *t == "taskset" { "util-linux" } else { t })
                .collect::<Vec<_>>()
                .join(" ")
        );
    }
    let wrk_path = find_tool("wrk").unwrap_or_default();
    let nginx_path = find_tool("nginx").unwrap_or_default();
    let taskset = find_tool("taskset").unwrap_or_default();
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cpus < 2 {
        bail!("the bench pins the server and wrk to two different CPUs; this machine lets it use {cpus}");
    }
    for row in &options.rows {
        if !"abcdef".contains(*row) {
            bail!("unknown row {row:?}: rows are a, b, c, d, e (f comes with e)");
        }
    }
    let profile = if options.debug {
        Profile::Debug
    } else {
        Profile::Release
    };
    let expserver = build("expserver", profile)?;

    catch_signals();
    pin_self(CLIENT_CPU)?;
    let nofile = idle::raise_nofile_limit();
    let wants_idle = options.rows.contains(&'e') || options.rows.contains(&'f');
    let idle_count = if wants_idle { options.idle } else { 0 };
    if idle_count as u64 + 512 > nofile {
        bail!(
            "--idle {idle_count} needs more open files than this process may have ({nofile}); lower --idle"
        );
    }
    // Room in nginx's worker for the idle connections, wrk's and the proxied ones.
    let nginx_connections = idle_count + options.connections as usize * 2 + 1024;

    let temp = tempfile::Builder::new().prefix("xps-bench-").tempdir()?;
    let dir = temp.path().to_path_buf();
    let _temp = if options.keep {
        eprintln!("keeping the working folder {}", dir.display());
        let _ = temp.keep();
        None
    } else {
        Some(temp)
    };
    let public = dir.join("public");
    eprintln!("generating the files in {} ...", public.display());
    write_files(&public)?;

    let ports = free_tcp_ports(5)?;
    let (exp_file, exp_proxy, nginx_file, nginx_proxy, upstream) =
        (ports[0], ports[1], ports[2], ports[3], ports[4]);

    // The upstream: its own nginx, on the client CPU, shared by both proxies.
    let upstream_servers = format!(
        "  server {{ listen 127.0.0.1:{upstream}; location / {{ default_type text/plain; return 200 \"{}\"; }} }}\n",
        UPSTREAM_BODY.escape_default()
    );
    let mut argv = pin(&taskset, CLIENT_CPU);
    argv.extend(nginx_argv(
        &nginx_path,
        &dir.join("upstream"),
        &upstream_servers,
        nginx::Mode::Worker,
        4096,
    )?);
    let _upstream = start("upstream", argv, &dir, &[upstream])?;

    let nginx_servers = format!(
        "  server {{ listen 127.0.0.1:{nginx_file}; root {}; }}\n  server {{ listen 127.0.0.1:{nginx_proxy}; \
         location / {{ proxy_pass http://127.0.0.1:{upstream}; }} }}\n",
        public.display()
    );
    let mut argv = pin(&taskset, SERVER_CPU);
    argv.extend(nginx_argv(
        &nginx_path,
        &dir.join("nginx"),
        &nginx_servers,
        nginx::Mode::Worker,
        nginx_connections,
    )?);
    let mut nginx_proc = start("nginx", argv, &dir, &[nginx_file, nginx_proxy])?;

    let config_path = dir.join("expserver.json");
    fs::write(
        &config_path,
        serde_json::to_string_pretty(&expserver_config(
            &public,
            exp_file,
            Some((exp_proxy, upstream)),
        ))?,
    )?;
    let mut argv = pin(&taskset, SERVER_CPU);
    argv.extend([
        expserver.to_string_lossy().into_owned(),
        config_path.to_string_lossy().into_owned(),
    ]);
    let mut exp_proc = start("expserver", argv, &dir, &[exp_file, exp_proxy])?;

    let nginx_worker =
        nginx::worker_pid(nginx_proc.pid()).context("cannot find nginx's worker process")?;
    let workers = [exp_proc.pid(), nginx_worker];
    // taskset runs the server in its own process (exec); make sure the RSS read is the server's.
    for (pid, name) in workers.iter().zip(report::SERVERS) {
        let comm = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if comm.trim() != name {
            bail!(
                "process {pid} should be {name}'s worker but is {:?}",
                comm.trim()
            );
        }
    }

    // Right answers first: a 200 with the right length from every server on every URL.
    for (server, file_port, proxy_port) in [
        ("expserver", exp_file, exp_proxy),
        ("nginx", nginx_file, nginx_proxy),
    ] {
        probe::expect_ok(server, file_port, "/small.txt", SMALL_BYTES as u64)?;
        probe::expect_ok(server, file_port, "/large.bin", LARGE_BYTES as u64)?;
        probe::expect_ok(server, proxy_port, "/", UPSTREAM_BODY.len() as u64)?;
    }
    let small_kept = probe::keeps_alive(exp_file, "/small.txt");
    let large_kept = probe::keeps_alive(exp_file, "/large.bin");
    let kept = |yes: bool| {
        if yes {
            "keep-alive".to_string()
        } else {
            "Connection: close to both (expserver did not keep the connection)".to_string()
        }
    };

    let file_ports = [exp_file, nginx_file];
    let row_a = Row {
        id: 'a',
        label: format!(
            "a. 1 KiB file, {}, {} connections",
            kept(small_kept),
            options.connections
        ),
        unit: "req/s",
        path: "/small.txt",
        ports: file_ports,
        connections: options.connections,
        close: !small_kept,
        idle: 0,
        body: SMALL_BYTES as u64,
        throughput: false,
    };
    let row_e = Row {
        id: 'e',
        label: format!("e. as a, with {} idle connections held", options.idle),
        idle: options.idle,
        ..row_a.clone()
    };
    let row_b = Row {
        id: 'b',
        label: format!(
            "b. 1 KiB file, new connection per request, {} connections",
            options.connections
        ),
        close: true,
        ..row_a.clone()
    };
    let row_c = Row {
        id: 'c',
        label: format!(
            "c. 100 MiB file, {}, {} connections",
            kept(large_kept),
            options.large_connections
        ),
        unit: "MiB/s",
        path: "/large.bin",
        connections: options.large_connections,
        close: !large_kept,
        body: LARGE_BYTES as u64,
        throughput: true,
        ..row_a.clone()
    };
    let row_d = Row {
        id: 'd',
        label: format!(
            "d. reverse proxy, new connection per request, {} connections",
            options.connections
        ),
        path: "/",
        ports: [exp_proxy, nginx_proxy],
        close: true,
        body: UPSTREAM_BODY.len() as u64,
        ..row_a.clone()
    };
    let wanted = |id: char| options.rows.contains(&id) || (id == 'e' && wants_idle);
    // Rows of a group run one after the other inside each round: e right after a, so the two
    // are compared under the same conditions.
    let groups: Vec<Vec<Row>> = [vec![row_a, row_e], vec![row_b], vec![row_c], vec![row_d]]
        .into_iter()
        .map(|group| {
            group
                .into_iter()
                .filter(|r| wanted(r.id))
                .collect::<Vec<_>>()
        })
        .filter(|group| !group.is_empty())
        .collect();

    let bench = Bench {
        options,
        wrk: wrk_path,
        taskset: taskset.clone(),
        dir: dir.clone(),
        workers,
    };
    let mut results: Vec<(char, RowResult)> = Vec::new();
    let mut rss_f = RowResult::new(
        format!("f. worker RSS with {} idle connections held", options.idle),
        "MiB",
    );
    let mut rss_a = [Vec::new(), Vec::new()];
    for group in &groups {
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
                        options.rounds,
                        row.label,
                        report::SERVERS[s],
                        options.duration
                    );
                    let run = bench.run(row, s, round);
                    result.runs[s].push(run.sample);
                    match row.id {
                        'e' => rss_f.runs[s].push(run.rss),
                        'a' => rss_a[s].push(run.rss),
                        _ => {}
                    }
                    for (name, proc) in [("expserver", &mut exp_proc), ("nginx", &mut nginx_proc)] {
                        if !proc.is_running() {
                            bail!(
                                "{name} stopped during row {}; its output:\n{}",
                                row.id,
                                proc.log_tail(2000)
                            );
                        }
                    }
                }
            }
        }
        results.extend(group.iter().map(|r| r.id).zip(rows));
    }

    // Row e next to row a: the change of each server's median.
    let median_of = |id: char| {
        results
            .iter()
            .find(|(r, _)| *r == id)
            .map(|(_, row)| row.medians())
    };
    if let (Some(a), Some(e)) = (median_of('a'), median_of('e')) {
        let mut parts = Vec::new();
        for s in 0..2 {
            if let (Some(a), Some(e)) = (a[s], e[s]) {
                let within = (e / a - 1.0).abs() <= IDLE_TOLERANCE;
                parts.push(format!(
                    "{} {} ({} 10 %)",
                    report::SERVERS[s],
                    change(e, a),
                    if within { "within" } else { "NOT within" }
                ));
            }
        }
        if let Some((_, row)) = results.iter_mut().find(|(r, _)| *r == 'e') {
            row.remark = format!("vs row a: {}", parts.join(", "));
        }
    }
    if wants_idle {
        let without = [report::median_of(&rss_a[0]), report::median_of(&rss_a[1])];
        let medians = rss_f.medians();
        let mut parts = Vec::new();
        for s in 0..2 {
            if let (Some(with), Some(without)) = (medians[s], without[s]) {
                parts.push(format!(
                    "{} {} MiB after row a, {:.1} KiB per idle connection",
                    report::SERVERS[s],
                    figure(without),
                    (with - without) * 1024.0 / options.idle.max(1) as f64
                ));
            }
        }
        if !parts.is_empty() {
            rss_f.remark = parts.join("; ");
        }
        results.push(('f', rss_f));
    }
    // Keep the table in the rows' order.
    results.sort_by_key(|(id, _)| match id {
        'a' => 0,
        'e' => 1,
        'f' => 2,
        'b' => 3,
        'c' => 4,
        _ => 5,
    });
    let rows: Vec<RowResult> = results.into_iter().map(|(_, r)| r).collect();
    let exp_log_size = fs::metadata(dir.join("expserver.log")).map_or(0, |m| m.len());
    drop(exp_proc);
    drop(nginx_proc);

    let mut out = String::new();
    out.push_str(&format!(
        "## expserver vs nginx\n\nexpserver ({}) vs {}: one worker each, access log off, server on CPU {SERVER_CPU}, \
         wrk -t{} and the upstream on CPU {CLIENT_CPU} (taskset), {} s per run, {} round(s) alternating \
         (E N, N E, ...), {} CPUs visible, shared with whatever else runs.\n\n",
        if options.debug { "debug build" } else { "release build" },
        nginx::version(&nginx_path),
        options.threads,
        options.duration,
        options.rounds,
        cpus,
    ));
    if !rows.is_empty() {
        out.push_str(&report::markdown(&rows));
        out.push_str(
            "\nmedian = median of the valid runs; expserver/nginx = ratio of the medians (above 1: expserver \
             is faster, or for RSS, bigger). A run is invalid (struck out, not counted) when wrk reports \
             any non-2xx/3xx answer or socket error, or the answers are smaller than the file; in rows e/f \
             also when the server closed any idle connection. RSS is VmRSS of the worker process, read \
             right after the wrk run while the idle connections are still open. Both proxies open a new \
             upstream connection per request to one nginx upstream returning a fixed body. nginx serves \
             files with sendfile on and keepalive_requests 1000 (expserver's fixed limit).\n",
        );
        out.push_str(&format!(
            "expserver wrote {:.1} MB of log during the runs (its per-connection INFO lines).\n",
            exp_log_size as f64 / 1e6
        ));
    }

    if options.callgrind {
        out.push_str("\n## Instructions per request (callgrind)\n\n");
        match find_tool("valgrind") {
            None => out.push_str(
                "skipped: valgrind is not installed (Debian: apt-get install valgrind); nothing was counted.\n",
            ),
            Some(valgrind) => {
                out.push_str(&callgrind_section(
                    options,
                    &valgrind,
                    &taskset,
                    &nginx_path,
                    &expserver,
                    &dir,
                    &public,
                )?);
            }
        }
    }

    println!();
    print!("{out}");
    if let Some(path) = &options.out {
        fs::write(path, &out).with_context(|| format!("cannot write {}", path.display()))?;
        eprintln!("report written to {}", path.display());
    }
    Ok(())
}

/// Runs both servers under callgrind and returns the section of the report.
fn callgrind_section(
    options: &BenchOptions,
    valgrind: &Path,
    taskset: &Path,
    nginx_path: &Path,
    expserver: &Path,
    dir: &Path,
    public: &Path,
) -> Result<String> {
    let k = options.callgrind_requests as usize;
    let ports = free_tcp_ports(2)?;
    let cg_dir = dir.join("callgrind");
    fs::create_dir_all(&cg_dir)?;
    let config_path = cg_dir.join("expserver.json");
    fs::write(
        &config_path,
        serde_json::to_string_pretty(&expserver_config(public, ports[0], None))?,
    )?;
    let nginx_servers = format!(
        "  server {{ listen 127.0.0.1:{}; root {}; }}\n",
        ports[1],
        public.display()
    );
    let targets = [
        callgrind::Target {
            name: "expserver",
            pin: pin(taskset, SERVER_CPU),
            argv: vec![
                expserver.to_string_lossy().into_owned(),
                config_path.to_string_lossy().into_owned(),
            ],
            cwd: cg_dir.clone(),
            port: ports[0],
        },
        callgrind::Target {
            name: "nginx",
            pin: pin(taskset, SERVER_CPU),
            argv: nginx_argv(
                nginx_path,
                &cg_dir.join("nginx"),
                &nginx_servers,
                nginx::Mode::Single,
                1024,
            )?,
            cwd: cg_dir.clone(),
            port: ports[1],
        },
    ];
    let mut totals = Vec::new();
    for target in &targets {
        totals.push(callgrind::measure(
            valgrind,
            target,
            &cg_dir,
            ("/small.txt", SMALL_BYTES, k),
            &interrupted,
        )?);
    }
    let mut out = format!(
        "Each server runs alone under `valgrind --tool=callgrind` on CPU {SERVER_CPU} (nginx with \
         `master_process off`); K = {k} GET /small.txt (1 KiB) per run, every answer checked (200, 1024 \
         bytes); Ir/request = (total Ir - Ir of a start-and-stop run with no request) / K. User-space \
         instructions only: what the kernel does for a syscall is not counted.\n\n\
         | request mix | expserver Ir/request | nginx Ir/request | expserver/nginx |\n|---|---:|---:|---:|\n"
    );
    let per = |t: &callgrind::Totals, total: u64| t.per_request(total, k);
    let mixes: [(&str, [f64; 2]); 3] = [
        (
            "keep-alive (100 requests per connection)",
            [
                per(&totals[0], totals[0].keep_alive),
                per(&totals[1], totals[1].keep_alive),
            ],
        ),
        (
            "new connection per request",
            [
                per(&totals[0], totals[0].new_connection),
                per(&totals[1], totals[1].new_connection),
            ],
        ),
        (
            "both, averaged",
            [
                (per(&totals[0], totals[0].keep_alive) + per(&totals[0], totals[0].new_connection))
                    / 2.0,
                (per(&totals[1], totals[1].keep_alive) + per(&totals[1], totals[1].new_connection))
                    / 2.0,
            ],
        ),
    ];
    for (name, [e, n]) in mixes {
        out.push_str(&format!(
            "| {name} | {} | {} | {} |\n",
            figure(e),
            figure(n),
            if n > 0.0 {
                format!("{:.2}", e / n)
            } else {
                "—".into()
            }
        ));
    }
    out.push('\n');
    for (target, t) in targets.iter().zip(&totals) {
        out.push_str(&format!(
            "{}: total Ir baseline {}, keep-alive run {}, new-connection run {}\n",
            target.name, t.baseline, t.keep_alive, t.new_connection
        ));
    }
    Ok(out)
}
