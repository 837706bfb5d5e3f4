//! `--callgrind`: instructions per request, a figure the machine's load cannot move.
//!
//! wrk's rates on a 2-core machine shared with other people move by ten percent from one minute
//! to the next. Counting the instructions the server executes per request does not: valgrind's
//! callgrind runs the program on a simulated CPU and counts every user-space instruction (`Ir`),
//! the same count whatever else the machine does. It misses what the kernel does for the server
//! (a `sendfile` of the whole file is one syscall, a read+write loop is many) and what the cache
//! misses cost, so it complements the wrk rows, it does not replace them.
//!
//! For each server: one run with no request (start and stop only, the baseline), one with K
//! keep-alive requests for the 1 KiB file (100 per connection, under both servers' limit of 1000
//! per connection), one with K requests on a new connection each. Each run starts the server
//! under `valgrind --tool=callgrind`, sends exactly those requests (each answer checked: 200 and
//! 1024 body bytes), stops it with SIGINT and reads the total `Ir` from the output file.
//! Instructions per request = (total − baseline) / K, so start-up and shutdown cancel out.

use std::fs;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};

use super::report::figure;
use super::setup::{expserver_config, nginx_argv, SMALL_BYTES, SMALL_PATH};
use super::{interrupted, nginx, pin, Tools, SERVER_CPU};
use crate::checks::http::client::{head_end, parse_head};
use crate::checks::wire::{connect, read_upto, send};
use crate::ports::{free_tcp_ports, wait_bound, Proto};
use crate::process::{describe_status, Proc};

/// Keep-alive requests sent on one connection before opening the next.
const PER_CONNECTION: usize = 100;
/// How long a server under valgrind may take to start listening (it runs ~50 times slower).
const START_TIMEOUT: Duration = Duration::from_secs(120);
/// How long one answer may take under valgrind.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a server may take to exit after SIGINT (callgrind writes its file then).
const STOP_TIMEOUT: Duration = Duration::from_secs(60);
/// How often SIGINT is repeated while the server has not exited.
const SIGNAL_INTERVAL: Duration = Duration::from_secs(2);

/// Reads the total instruction count from a callgrind output file: the `totals:` line, or the
/// `summary:` line of older files. With several events the first (`Ir`) is taken.
pub fn parse_total_ir(text: &str) -> Option<u64> {
    let find = |key: &str| {
        text.lines()
            .rev()
            .find_map(|line| line.strip_prefix(key))
            .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
    };
    find("totals:").or_else(|| find("summary:"))
}

/// Which requests a run sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mix {
    /// None: start and stop only.
    Baseline,
    /// K requests, [`PER_CONNECTION`] per connection.
    KeepAlive,
    /// K requests, one connection each (`Connection: close`).
    NewConnection,
}

impl Mix {
    fn tag(self) -> &'static str {
        match self {
            Mix::Baseline => "baseline",
            Mix::KeepAlive => "keep-alive",
            Mix::NewConnection => "new-connection",
        }
    }
}

/// A server to run under valgrind: its command line, working folder and port.
pub struct Target {
    pub name: &'static str,
    /// Put before valgrind: `taskset -c 0`.
    pub pin: Vec<String>,
    pub argv: Vec<String>,
    pub cwd: PathBuf,
    pub port: u16,
}

/// The three totals of one server.
#[derive(Clone, Copy, Debug)]
pub struct Totals {
    pub baseline: u64,
    pub keep_alive: u64,
    pub new_connection: u64,
}

impl Totals {
    /// Instructions per request of a run with `k` requests over the baseline.
    pub fn per_request(&self, total: u64, k: usize) -> f64 {
        (total as f64 - self.baseline as f64) / k.max(1) as f64
    }
}

/// Reads one answer on `stream`: fails unless it is a 200 with `length` body bytes. Returns true
/// if the server said it will close the connection.
fn read_answer(stream: &mut TcpStream, length: usize) -> Result<bool> {
    let mut raw = Vec::new();
    let end = loop {
        if let Some(end) = head_end(&raw) {
            break end;
        }
        if raw.len() > 64 * 1024 {
            bail!("no end of head in 64 KiB");
        }
        let (more, how) = read_upto(stream, 1, ANSWER_TIMEOUT);
        if more.is_empty() {
            bail!("no answer: {}", how.describe());
        }
        raw.extend_from_slice(&more);
    };
    let head = parse_head(&raw[..end]).map_err(|e| anyhow!(e))?;
    if head.status != 200 || head.content_length() != Some(length) {
        bail!("unexpected answer: {}", head.summary());
    }
    let have = raw.len() - end;
    if have < length {
        let (more, how) = read_upto(stream, length - have, ANSWER_TIMEOUT);
        if have + more.len() < length {
            bail!("the body stopped short: {}", how.describe());
        }
    }
    Ok(head
        .last_header("connection")
        .is_some_and(|v| v.eq_ignore_ascii_case("close")))
}

/// Sends `k` requests for `path` the way `mix` says, checking every answer; stops early with an
/// error once `interrupted` says so.
fn send_requests(
    port: u16,
    (path, length, k): (&str, usize, usize),
    mix: Mix,
    interrupted: &dyn Fn() -> bool,
) -> Result<()> {
    let keep = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n");
    let close = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    match mix {
        Mix::Baseline => Ok(()),
        Mix::KeepAlive => {
            let mut sent = 0;
            while sent < k {
                if interrupted() {
                    bail!("interrupted");
                }
                let mut stream = connect(port).context("connect")?;
                let here = PER_CONNECTION.min(k - sent);
                for i in 0..here {
                    send(&mut stream, keep.as_bytes()).context("send")?;
                    let closing = read_answer(&mut stream, length)
                        .with_context(|| format!("keep-alive request {}", sent + 1))?;
                    sent += 1;
                    if closing && i + 1 < here {
                        bail!("the server closed a kept connection after request {sent}");
                    }
                }
            }
            Ok(())
        }
        Mix::NewConnection => {
            for i in 0..k {
                if interrupted() {
                    bail!("interrupted");
                }
                let mut stream = connect(port).context("connect")?;
                send(&mut stream, close.as_bytes()).context("send")?;
                read_answer(&mut stream, length)
                    .with_context(|| format!("new-connection request {}", i + 1))?;
            }
            Ok(())
        }
    }
}

/// Stops `proc` with SIGINT and waits for it to exit (callgrind writes its file then).
///
/// The signal is repeated every [`SIGNAL_INTERVAL`]: nginx with `master_process off` checks its
/// "terminate" flag before it blocks in `epoll_wait` with no timer, so a SIGINT that lands between
/// the check and the wait (a window valgrind's slowness widens) is noticed only at the next event.
/// A second signal interrupts the wait.
fn interrupt(proc: &mut Proc) -> Option<std::process::ExitStatus> {
    // Let the server finish with the last connection first.
    std::thread::sleep(SIGNAL_INTERVAL);
    let deadline = std::time::Instant::now() + STOP_TIMEOUT;
    while std::time::Instant::now() < deadline {
        // SAFETY: kill(2) only sends a signal, to the child we started (valgrind runs the server
        // in the same process).
        unsafe {
            libc::kill(proc.pid() as libc::pid_t, libc::SIGINT);
        }
        if let Some(status) = proc.wait_timeout(SIGNAL_INTERVAL) {
            return Some(status);
        }
    }
    None
}

/// Runs `target` once under callgrind with `mix` and returns the total `Ir`.
fn one_run(
    valgrind: &Path,
    target: &Target,
    dir: &Path,
    mix: Mix,
    request: (&str, usize, usize),
    interrupted: &dyn Fn() -> bool,
) -> Result<u64> {
    let out = dir.join(format!("callgrind.{}.{}.out", target.name, mix.tag()));
    let _ = fs::remove_file(&out);
    let mut argv = target.pin.clone();
    argv.extend([
        valgrind.to_string_lossy().into_owned(),
        "--tool=callgrind".into(),
        format!("--callgrind-out-file={}", out.display()),
    ]);
    argv.extend(target.argv.iter().cloned());
    let log = dir.join(format!("callgrind.{}.{}.log", target.name, mix.tag()));
    let mut proc = Proc::spawn(&argv, &target.cwd, &[], &log)?;
    wait_bound(&mut proc, &[target.port], Proto::Tcp, START_TIMEOUT)
        .with_context(|| format!("{} under valgrind did not start", target.name))?;
    send_requests(target.port, request, mix, interrupted)
        .with_context(|| format!("{} under valgrind ({})", target.name, mix.tag()))?;
    let Some(status) = interrupt(&mut proc) else {
        proc.kill();
        bail!(
            "{} under valgrind did not stop within {STOP_TIMEOUT:?} of SIGINT",
            target.name
        );
    };
    let text = fs::read_to_string(&out).with_context(|| {
        format!(
            "{} under valgrind {} and left no output ({}); its log:\n{}",
            target.name,
            describe_status(status),
            out.display(),
            proc.log_excerpt()
        )
    })?;
    parse_total_ir(&text).with_context(|| format!("no totals in {}", out.display()))
}

/// The baseline, keep-alive and new-connection totals of `target`.
pub fn measure(
    valgrind: &Path,
    target: &Target,
    dir: &Path,
    request: (&str, usize, usize),
    interrupted: &dyn Fn() -> bool,
) -> Result<Totals> {
    let mut totals = [0u64; 3];
    for (slot, mix) in [Mix::Baseline, Mix::KeepAlive, Mix::NewConnection]
        .into_iter()
        .enumerate()
    {
        if interrupted() {
            bail!("interrupted");
        }
        eprintln!("callgrind: {} ({}) ...", target.name, mix.tag());
        totals[slot] = one_run(valgrind, target, dir, mix, request, interrupted)?;
    }
    Ok(Totals {
        baseline: totals[0],
        keep_alive: totals[1],
        new_connection: totals[2],
    })
}

/// Runs both servers under callgrind and returns the section of the report.
pub fn section(
    k: usize,
    valgrind: &Path,
    tools: &Tools,
    expserver: &Path,
    dir: &Path,
    public: &Path,
) -> Result<String> {
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
        Target {
            name: "expserver",
            pin: pin(&tools.taskset, SERVER_CPU),
            argv: vec![
                expserver.to_string_lossy().into_owned(),
                config_path.to_string_lossy().into_owned(),
            ],
            cwd: cg_dir.clone(),
            port: ports[0],
        },
        Target {
            name: "nginx",
            pin: pin(&tools.taskset, SERVER_CPU),
            argv: nginx_argv(
                &tools.nginx,
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
        totals.push(measure(
            valgrind,
            target,
            &cg_dir,
            (SMALL_PATH, SMALL_BYTES, k),
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
    let per = |t: &Totals, total: u64| t.per_request(total, k);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_totals() {
        let text = "version: 1\ncreator: callgrind-3.19.0\npid: 881\ncmd:  /bin/true\n\
            events: Ir\nsummary: 126545\n\nfn=(1) main\n3 5\n\ntotals: 126545\n";
        assert_eq!(parse_total_ir(text), Some(126_545));
        // Older files have only the summary; with several events the first one is Ir.
        let summary = "events: Ir Dr Dw\nsummary: 1000 200 30\n";
        assert_eq!(parse_total_ir(summary), Some(1000));
        assert_eq!(parse_total_ir("events: Ir\n"), None);
        assert_eq!(parse_total_ir("totals: lots\n"), None);
    }

    #[test]
    fn per_request_subtracts_the_baseline() {
        let totals = Totals {
            baseline: 1_000_000,
            keep_alive: 41_000_000,
            new_connection: 0,
        };
        assert_eq!(totals.per_request(totals.keep_alive, 2000), 20_000.0);
    }
}
