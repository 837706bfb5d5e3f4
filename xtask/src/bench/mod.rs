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
//! - **Disturbance shown.** Pinning keeps wrk off the server's CPU, not other people's work: each
//!   run also records how much of CPU 0's time went to anything but the measured server (from
//!   `/proc/stat` and the server's own CPU time), and the table shows the range.
//! - **Validity.** A run with any non-2xx/3xx answer, socket error or short answer is invalid:
//!   shown, but not counted (see [`wrk`]). Before any run, one request per URL and server checks
//!   the answer is a 200 with the right length (see [`probe`]).
//!
//! The rows: (a) 1 KiB file, keep-alive, 50 connections; (b) the same file with a new connection
//! per request; (c) a 100 MiB file (MiB/s); (d) the reverse proxy, a new connection per request,
//! to a shared upstream (a separate nginx on CPU 1 answering a small fixed body, so neither proxy
//! has a faster upstream); (e) row a with N idle connections held open (see [`idle`]), run
//! right after row a in the same round and compared with it; (f) each server's worker RSS while
//! those N connections are held, and how much it grew when they were first opened. Rows g-j put
//! two workers on both CPUs: gzip with 2 workers vs 1, and expserver vs nginx with 2 workers each,
//! with and without 10 000 idle connections (see [`workers`]). `--callgrind` adds a deterministic
//! figure, instructions per request (see [`callgrind`]).
//!
//! Keep-alive fairness: `expserver` keeps connections alive for files. Before the keep-alive
//! rows the bench asks expserver twice on one connection: if the connection does not survive,
//! both servers get `Connection: close` on that row, so both pay for a new connection per request
//! and the comparison stays fair; the row's label says so.
//!
//! The pieces: [`setup`] writes the files and starts the three servers, [`runs`] plans the rows
//! and runs them in alternation, [`wrk`] runs one measurement and judges it, [`idle`] holds the
//! idle connections, [`report`] turns the runs into the table, [`nginx`] knows nginx's config and
//! processes, [`callgrind`] counts instructions.
//!
//! Nothing here asserts on the figures: they are what they are on this machine.

mod callgrind;
mod idle;
mod nginx;
mod probe;
mod report;
mod runs;
mod setup;
mod workers;
mod wrk;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::cargo_build::{build, Profile};
use setup::Servers;

/// How long the servers may take to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// The CPU the measured server runs on.
const SERVER_CPU: usize = 0;
/// The CPU wrk, the upstream and this program run on.
const CLIENT_CPU: usize = 1;

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
    /// Idle connections held open during row i, spread over two workers (and measured in row j).
    #[arg(long, default_value_t = 10_000)]
    pub worker_idle: usize,
    /// wrk threads (wrk -t); wrk runs on one CPU, so more threads only add switching.
    #[arg(long, default_value_t = 1)]
    pub threads: u32,
    /// Which rows to run, e.g. `a,e` (f comes with e, j with i).
    #[arg(long, default_value = "a,b,c,d,e,g,h,i", value_delimiter = ',')]
    pub rows: Vec<char>,
    /// Count a run as invalid when more than this percentage of the server CPU's time went to
    /// other work during it (see the "CPU 0 to others" column); off by default.
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=100))]
    pub max_disturbance: Option<u8>,
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

impl BenchOptions {
    /// True if row `id` is to run (f comes with e, and e with f; j with i, and i with j).
    fn wants(&self, id: char) -> bool {
        let pair =
            |a: char, b: char| (id == a || id == b) && self.rows.iter().any(|r| *r == a || *r == b);
        self.rows.contains(&id) || pair('e', 'f') || pair('i', 'j')
    }

    /// True if any of rows a-f is to run (they share one set of servers, g-j another).
    fn wants_one_worker_rows(&self) -> bool {
        "abcdef".chars().any(|id| self.wants(id))
    }

    /// True if any of rows g-j is to run.
    fn wants_worker_rows(&self) -> bool {
        "ghij".chars().any(|id| self.wants(id))
    }
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

/// `taskset -c CPUS`, to put before a command line: one CPU (`0`) or a list (`"0,1"`).
fn pin(taskset: &Path, cpu: impl std::fmt::Display) -> Vec<String> {
    vec![
        taskset.to_string_lossy().into_owned(),
        "-c".into(),
        cpu.to_string(),
    ]
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

/// The programs the bench drives.
pub struct Tools {
    wrk: PathBuf,
    nginx: PathBuf,
    taskset: PathBuf,
}

impl Tools {
    /// Finds them all, or says which are missing and which Debian packages bring them.
    fn find() -> Result<Tools> {
        let found = ["wrk", "nginx", "taskset"].map(|t| (t, find_tool(t)));
        let missing: Vec<&str> = found
            .iter()
            .filter(|(_, path)| path.is_none())
            .map(|(t, _)| *t)
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
        let [wrk, nginx, taskset] = found.map(|(_, path)| path.unwrap_or_default());
        Ok(Tools {
            wrk,
            nginx,
            taskset,
        })
    }
}

/// Builds and starts everything, runs the rows, prints the report (and writes it with `--out`).
pub fn run(options: &BenchOptions) -> Result<()> {
    let tools = Tools::find()?;
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cpus < 2 {
        bail!("the bench pins the server and wrk to two different CPUs; this machine lets it use {cpus}");
    }
    if let Some(row) = options.rows.iter().find(|r| !"abcdefghij".contains(**r)) {
        bail!("unknown row {row:?}: rows are a, b, c, d, e, g, h, i (f comes with e, j with i)");
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
    let idle_count = if options.wants('e') { options.idle } else { 0 };
    if idle_count as u64 + 512 > nofile {
        bail!(
            "--idle {idle_count} needs more open files than this process may have ({nofile}); lower --idle"
        );
    }
    let worker_idle = if options.wants('i') {
        options.worker_idle
    } else {
        0
    };
    if worker_idle as u64 + 512 > nofile {
        bail!(
            "--worker-idle {worker_idle} needs more open files than this process may have ({nofile}); lower --worker-idle"
        );
    }

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
    setup::write_files(&public)?;

    let (rows, log_size) = if options.wants_one_worker_rows() {
        // Room in nginx's worker for the idle connections, wrk's and the proxied ones.
        let nginx_connections = idle_count + options.connections as usize * 2 + 1024;
        let mut servers = Servers::start(&tools, &expserver, &dir, &public, nginx_connections)?;
        servers.probe()?;
        let groups = runs::plan(options, &servers);
        let rows = runs::measure(options, &tools, &mut servers, &groups)?;
        (rows, Some(servers.expserver_log_size()))
    } else {
        (Vec::new(), None)
    };
    // Rows a-f's servers are gone by now: rows g-j have both CPUs to themselves.
    let worker_rows = if options.wants_worker_rows() {
        workers::measure(options, &tools, &expserver, &dir)?
    } else {
        Vec::new()
    };

    let mut out = String::new();
    if !rows.is_empty() {
        out.push_str(&format!(
        "## expserver vs nginx\n\nexpserver ({}) vs {}: one worker each, access log off, server on CPU {SERVER_CPU}, \
         wrk -t{} and the upstream on CPU {CLIENT_CPU} (taskset), {} s per run, {} round(s) alternating \
         (E N, N E, ...), {} CPUs visible, shared with whatever else runs.\n\n",
        if options.debug { "debug build" } else { "release build" },
        nginx::version(&tools.nginx),
        options.threads,
        options.duration,
        options.rounds,
        cpus,
    ));
    }
    if !rows.is_empty() {
        out.push_str(&report::markdown(&rows));
        out.push_str(
            "\nmedian = median of the valid runs; expserver/nginx = ratio of the medians (above 1: expserver \
             is faster, or for RSS, bigger). A run is invalid (struck out, not counted) when wrk reports \
             any non-2xx/3xx answer or socket error, or the answers are smaller than the file; in rows e/f \
             also when the server closed any idle connection. RSS is VmRSS of the worker process, read \
             right after the wrk run while the idle connections are still open; its growth while they \
             were first opened is in the remark (memory freed by earlier runs is reused, so that can \
             understate the cost per connection). Both proxies open a new \
             upstream connection per request to one nginx upstream returning a fixed body. nginx serves \
             files with sendfile on and keepalive_requests 1000 (expserver's fixed limit). CPU 0 to \
             others = the share of the server CPU's time during a run that went to anything but the \
             measured server (other programs, interrupts), lowest-highest over the runs: pinning keeps \
             wrk off CPU 0 but not the rest of a shared machine, and a run with a high share was \
             disturbed.\n",
        );
        if let Some(log_size) = log_size {
            out.push_str(&format!(
                "expserver wrote {:.1} MB of log during the runs (its per-connection INFO lines).\n",
                log_size as f64 / 1e6
            ));
        }
    }
    if !worker_rows.is_empty() {
        out.push_str("\n## Two workers on two CPUs\n\n");
        out.push_str(&report::markdown_with(&worker_rows, "first/second", None));
        out.push_str(&workers::explanation(options));
    }
    if options.callgrind {
        out.push_str("\n## Instructions per request (callgrind)\n\n");
        match find_tool("valgrind") {
            None => out.push_str(
                "skipped: valgrind is not installed (Debian: apt-get install valgrind); nothing was counted.\n",
            ),
            Some(valgrind) => out.push_str(&callgrind::section(
                options.callgrind_requests as usize,
                &valgrind,
                &tools,
                &expserver,
                &dir,
                &public,
            )?),
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
