//! Stage 21: timeouts. No stage before it has any, so the grader has nothing to compare; these
//! checks are ours, from the contract (`phase3-4-stages-18-23.md` §4).
//!
//! The server runs a config the checker writes ([`config`]): stage 19's (the grader's config
//! plus IP-list routes) with every timeout at [`LIMIT`] (1000 ms). The checks of stages 17 to
//! 19 run first, with the Python upstream; then these, which stop Python and put on the upstream
//! port the upstream each one needs: one that accepts and never answers, or one whose accept
//! queue is full so that a connect to it never completes. One more proxy route, `/t/failover`,
//! has two upstreams (one that never accepts, one that answers): with stage 20's balancer, the
//! connect timeout must fail over rather than answer 504. Each check prints the
//! time it measured; a timer must fire within 10 % (at least 50 ms) of its deadline.
//!
//! Where the server runs on this machine (ours, or a `--cmd` program) the checks also count its
//! open descriptors (`/proc/PID/fd`): a connection the server gives up on must give back
//! everything it held, its client socket, its upstream socket and its file.

use std::fs;
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde_json::{json, Value};

use super::http::client::{parse_response, Response};
use super::wire::{self, show};
use super::{Check, Ctx, Verdict};
use crate::layout::Layout;
use crate::runner::StageRun;
use crate::target::Ports;

/// Every timeout in the checker's config, in milliseconds.
pub const LIMIT_MS: u64 = 1000;
/// [`LIMIT_MS`] as a duration.
pub const LIMIT: Duration = Duration::from_millis(LIMIT_MS);
/// The file a non-reading client asks for: far more than the socket buffers of both ends hold.
const BIG_FILE: &str = "timeouts_big.bin";
const BIG_LEN: usize = 16_000_000;

/// How late a timer may fire: 10 % of its duration, at least 50 ms (the contract).
pub fn slack(limit: Duration) -> Duration {
    (limit / 10).max(Duration::from_millis(50))
}

/// The config of the stage-21 checks (a [`crate::stages::ConfigWriter`]): stage 19's (the
/// grader's config plus the IP-list routes and the files the gzip checks ask for, so the checks
/// of the stages before still run), with all six timeouts at [`LIMIT_MS`]. Port 1 serves files,
/// port 2 proxies to the upstream port.
pub fn config(layout: &Layout, ports: &Ports) -> Result<PathBuf> {
    let before = super::http::gzip::config(layout, ports)?;
    let text =
        fs::read_to_string(&before).with_context(|| format!("cannot read {}", before.display()))?;
    let mut config: Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not valid JSON", before.display()))?;
    let top = config
        .as_object_mut()
        .context("stage 19's config is not a JSON object")?;
    for key in TIMEOUT_KEYS {
        top.insert(key.to_string(), json!(LIMIT_MS));
    }
    // Stage 20's failover meets the connect timeout: a route whose first upstream never
    // accepts and whose second answers.
    let (never, live) = failover_ports(ports)?;
    let proxy_port = u64::from(ports.role(2));
    let server = config["servers"]
        .as_array_mut()
        .and_then(|servers| {
            servers.iter_mut().find(|s| {
                s["listeners"]
                    .as_array()
                    .is_some_and(|l| l.iter().any(|l| l["port"].as_u64() == Some(proxy_port)))
            })
        })
        .context("no server listens on the proxy port")?;
    let routes = server["routes"]
        .as_array_mut()
        .context("the proxy server has no routes")?;
    routes.push(json!({
        "req_path": FAILOVER,
        "type": "reverse_proxy",
        "upstreams": [format!("127.0.0.1:{never}"), format!("127.0.0.1:{live}")],
        "lb_strategy": "round_robin",
    }));
    let path = layout.root().join("config").join("timeouts.json");
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    fs::write(&path, serde_json::to_string_pretty(&config)?)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

/// The route whose first upstream never accepts and whose second answers.
const FAILOVER: &str = "/t/failover";

/// The ports of [`FAILOVER`]'s upstreams: 3006 and 3007 on the course's ports (beside stage 20's
/// 3001-3005), free ports otherwise.
fn failover_ports(ports: &Ports) -> Result<(u16, u16)> {
    if super::http::config::is_course(ports) {
        return Ok((3006, 3007));
    }
    let taken = |p: &u16| ports.listen.contains(p) || ports.upstream == *p;
    let free: Vec<u16> = crate::ports::free_tcp_ports(6)?
        .into_iter()
        .filter(|p| !taken(p))
        .collect();
    anyhow::ensure!(free.len() >= 2, "not enough free ports for the upstreams");
    Ok((free[0], free[1]))
}

/// The upstream ports of [`FAILOVER`] in the config the server was given.
fn failover_upstreams(run: &StageRun) -> Result<(u16, u16), String> {
    let text = fs::read_to_string(&run.config)
        .map_err(|e| format!("cannot read {}: {e}", run.config.display()))?;
    let config: Value = serde_json::from_str(&text)
        .map_err(|e| format!("{} is not valid JSON: {e}", run.config.display()))?;
    let ports: Vec<u16> = config["servers"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|s| s["routes"].as_array().into_iter().flatten())
        .find(|r| r["req_path"].as_str() == Some(FAILOVER))
        .and_then(|r| r["upstreams"].as_array())
        .into_iter()
        .flatten()
        .filter_map(|u| u.as_str()?.rsplit_once(':')?.1.parse().ok())
        .collect();
    match ports[..] {
        [never, live] => Ok((never, live)),
        _ => Err(format!(
            "the config has no route {FAILOVER} with two upstreams"
        )),
    }
}

/// The six keys of stage 21.
pub const TIMEOUT_KEYS: [&str; 6] = [
    "client_header_timeout_ms",
    "client_body_timeout_ms",
    "keep_alive_timeout_ms",
    "send_timeout_ms",
    "upstream_connect_timeout_ms",
    "upstream_timeout_ms",
];

// ---- measuring ---------------------------------------------------------------------------

/// How an exchange with the server ended, and when.
struct Ending {
    got: Vec<u8>,
    /// When the first response byte arrived, from the start.
    first_byte: Option<Duration>,
    /// When the connection ended (closed or reset), from the start.
    ended: Option<Duration>,
    reset: bool,
}

impl Ending {
    fn describe(&self) -> String {
        let at =
            |d: Option<Duration>| d.map_or("never".into(), |d| format!("{} ms", d.as_millis()));
        format!(
            "received {} after {}; connection {} after {}",
            show(&self.got),
            at(self.first_byte),
            if self.reset { "reset" } else { "closed" },
            at(self.ended),
        )
    }
}

/// Reads from `stream` until it ends or `give_up` passes; every `tick` without data, `nudge`
/// may send something (the slowloris client's next byte). Times are counted from `start`.
fn watch(
    stream: &mut TcpStream,
    start: Instant,
    give_up: Duration,
    tick: Duration,
    mut nudge: impl FnMut(&mut TcpStream, bool),
) -> Ending {
    let mut ending = Ending {
        got: Vec::new(),
        first_byte: None,
        ended: None,
        reset: false,
    };
    let mut buf = vec![0u8; 64 * 1024];
    while start.elapsed() < give_up {
        let _ = stream.set_read_timeout(Some(tick));
        match stream.read(&mut buf) {
            Ok(0) => {
                ending.ended = Some(start.elapsed());
                break;
            }
            Ok(n) => {
                ending.first_byte.get_or_insert(start.elapsed());
                ending.got.extend_from_slice(&buf[..n]);
            }
            Err(e) if wire::is_timeout(&e) => nudge(stream, !ending.got.is_empty()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => {
                ending.ended = Some(start.elapsed());
                ending.reset = true;
                break;
            }
        }
    }
    ending
}

/// Requires `at` to be within the contract's accuracy of `limit`; `what` names the moment.
fn on_time(problems: &mut Vec<String>, what: &str, at: Option<Duration>, limit: Duration) {
    let Some(at) = at else {
        problems.push(format!(
            "{what}: never (waited {} ms)",
            (limit * 4).as_millis()
        ));
        return;
    };
    // The server's clock starts a little after the client's, never before: allow no earlier
    // than 2 ms short (the client's own clock reads).
    let (early, late) = (
        limit.saturating_sub(Duration::from_millis(2)),
        limit + slack(limit),
    );
    if at < early || at > late {
        problems.push(format!(
            "{what} after {} ms, expected between {} and {} ms",
            at.as_millis(),
            limit.as_millis(),
            late.as_millis()
        ));
    }
}

/// Checks a generated error response: its status, `Server`, and `Connection: close`.
fn error_response(problems: &mut Vec<String>, got: &[u8], status: u16) -> Option<Response> {
    let response = match parse_response(got) {
        Ok(response) => response,
        Err(e) => {
            problems.push(format!("expected a {status} response: {e}"));
            return None;
        }
    };
    if response.status != status {
        problems.push(format!(
            "status {} ({:?}), expected {status}",
            response.status, response.status_line
        ));
    }
    if response.header("server").as_deref() != Some("eXpServer") {
        problems.push(format!(
            "server: {:?}, expected eXpServer",
            response.header("server")
        ));
    }
    if !response
        .header("connection")
        .is_some_and(|c| c.eq_ignore_ascii_case("close"))
    {
        problems.push(format!(
            "connection: {:?}, expected close",
            response.header("connection")
        ));
    }
    if response.content_length() != Some(response.body.len()) {
        problems.push(format!(
            "content-length {:?} but {} body bytes",
            response.content_length(),
            response.body.len()
        ));
    }
    Some(response)
}

fn verdict(problems: Vec<String>, observed: String) -> Verdict {
    if problems.is_empty() {
        Ok(observed)
    } else {
        Err(format!("{}\n{observed}", problems.join("\n")))
    }
}

/// The server's open descriptors, when it runs on this machine.
fn fd_count(run: &StageRun) -> Option<usize> {
    let pid = run.server_pid()?;
    fs::read_dir(format!("/proc/{pid}/fd"))
        .ok()
        .map(|d| d.count())
}

/// Waits until the server holds no more descriptors than `baseline`; the time it took, or the
/// count when `within` ran out. `None` when the server is not local.
fn fds_back(
    run: &StageRun,
    baseline: Option<usize>,
    within: Duration,
) -> Option<Result<Duration, usize>> {
    let baseline = baseline?;
    let start = Instant::now();
    loop {
        let now = fd_count(run)?;
        if now <= baseline {
            return Some(Ok(start.elapsed()));
        }
        if start.elapsed() > within {
            return Some(Err(now));
        }
        thread::sleep(Duration::from_millis(5));
    }
}

/// One complete request first, so that whatever the server opens once and keeps (a folder's
/// descriptor, a cache) is open before its descriptors are counted.
fn warm_up(run: &StageRun, port: u16) -> Option<usize> {
    let _ = request(port, b"GET /sample.txt HTTP/1.1\r\nHost: localhost\r\n\r\n");
    thread::sleep(Duration::from_millis(50));
    fd_count(run)
}

fn request(port: u16, bytes: &[u8]) -> Result<Ending, String> {
    let mut stream = wire::connect(port).map_err(|e| format!("cannot connect: {e}"))?;
    let start = Instant::now();
    wire::send(&mut stream, bytes).map_err(|e| format!("cannot send: {e}"))?;
    Ok(watch(
        &mut stream,
        start,
        LIMIT * 4,
        Duration::from_millis(50),
        |_, _| {},
    ))
}

fn fds_problem(
    problems: &mut Vec<String>,
    observed: &mut String,
    back: Option<Result<Duration, usize>>,
    baseline: Option<usize>,
) {
    match back {
        None => observed.push_str("\n(the server is not local: descriptors not counted)"),
        Some(Ok(after)) => observed.push_str(&format!(
            "\nthe server's descriptors were back to {} (the count before) {} ms later",
            baseline.unwrap_or(0),
            after.as_millis()
        )),
        Some(Err(now)) => problems.push(format!(
            "the server still holds {now} descriptors, {} before",
            baseline.unwrap_or(0)
        )),
    }
}

// ---- upstreams ---------------------------------------------------------------------------

/// An upstream on `port` that accepts every connection, reads what comes, and never answers.
/// Dropped: it stops accepting and closes what it holds.
struct Silent {
    held: Arc<Mutex<Vec<TcpStream>>>,
    stop: Arc<Mutex<bool>>,
    port: u16,
}

impl Silent {
    fn start(port: u16) -> Result<Silent, String> {
        let listener = TcpListener::bind(("127.0.0.1", port))
            .map_err(|e| format!("cannot listen on the upstream port {port}: {e}"))?;
        let held = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(Mutex::new(false));
        let (keep, stopped) = (held.clone(), stop.clone());
        thread::spawn(move || {
            for stream in listener.incoming() {
                if *stopped.lock().unwrap_or_else(|p| p.into_inner()) {
                    break;
                }
                let Ok(mut stream) = stream else { continue };
                let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                if let Ok(copy) = stream.try_clone() {
                    keep.lock().unwrap_or_else(|p| p.into_inner()).push(copy);
                }
                // Read (and drop) the request, so the server's writes never block.
                thread::spawn(move || {
                    let mut buf = [0u8; 4096];
                    while matches!(stream.read(&mut buf), Ok(n) if n > 0) {}
                });
            }
        });
        Ok(Silent { held, stop, port })
    }
}

impl Drop for Silent {
    fn drop(&mut self) {
        *self.stop.lock().unwrap_or_else(|p| p.into_inner()) = true;
        for stream in self
            .held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
        {
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
        // Wake the accept loop so it sees the stop flag and drops the listener.
        let _ = TcpStream::connect_timeout(&wire::local(self.port), Duration::from_millis(200));
    }
}

/// A listener on `port` whose accept queue is full: the kernel drops every further SYN, so a
/// connect to it neither succeeds nor fails for minutes (a "blackholed" upstream). Also used by
/// the end-to-end tests of stage 20's failover after a connect timeout.
pub struct Blackhole {
    _listener: socket2::Socket,
    _filler: TcpStream,
}

impl Blackhole {
    /// Fills the accept queue of a listener on 127.0.0.1:`port`.
    pub fn start(port: u16) -> Result<Blackhole, String> {
        use socket2::{Domain, Socket, Type};
        let fail = |e: io::Error| format!("cannot set up a full listener on port {port}: {e}");
        let socket = Socket::new(Domain::IPV4, Type::STREAM, None).map_err(fail)?;
        socket.set_reuse_address(true).map_err(fail)?;
        socket.bind(&wire::local(port).into()).map_err(fail)?;
        // A backlog of 0 holds one connection; the filler takes it and is never accepted.
        socket.listen(0).map_err(fail)?;
        let filler =
            TcpStream::connect_timeout(&wire::local(port), Duration::from_secs(2)).map_err(fail)?;
        Ok(Blackhole {
            _listener: socket,
            _filler: filler,
        })
    }
}

// ---- the checks --------------------------------------------------------------------------

/// A complete request, sent slowly but well within the header timeout, still gets its answer.
fn slow_but_in_time(port: u16) -> Verdict {
    let request = b"GET /sample.txt HTTP/1.1\r\nHost: localhost\r\n\r\n";
    let mut stream = wire::connect(port).map_err(|e| format!("cannot connect: {e}"))?;
    let start = Instant::now();
    // Spread over about half the limit.
    let pause = LIMIT / 2 / request.len() as u32;
    for byte in request.iter() {
        wire::send(&mut stream, &[*byte]).map_err(|e| format!("cannot send: {e}"))?;
        thread::sleep(pause);
    }
    let ending = watch(
        &mut stream,
        start,
        LIMIT * 4,
        Duration::from_millis(50),
        |_, _| {},
    );
    let mut problems = Vec::new();
    match parse_response(&ending.got) {
        Ok(r) if r.status == 200 => {}
        Ok(r) => problems.push(format!("status {}, expected 200", r.status)),
        Err(e) => problems.push(e),
    }
    verdict(problems, ending.describe())
}

/// A client connects and sends nothing, or sends a request head byte by byte for ever.
fn no_head(run: &mut StageRun, port: u16, trickle: bool) -> Verdict {
    let baseline = warm_up(run, port);
    let mut stream = wire::connect(port).map_err(|e| format!("cannot connect: {e}"))?;
    let start = Instant::now();
    let mut sent = 0;
    if trickle {
        wire::send(&mut stream, b"GET /sample.txt HTTP/1.1\r\n")
            .map_err(|e| format!("cannot send: {e}"))?;
    }
    let ending = watch(
        &mut stream,
        start,
        LIMIT * 4,
        Duration::from_millis(100),
        |stream, answered| {
            // One more byte of an endless header line every 100 ms, until the server answers.
            if trickle && !answered && stream.write_all(b"X").is_ok() {
                sent += 1;
            }
        },
    );
    let mut problems = Vec::new();
    error_response(&mut problems, &ending.got, 408);
    on_time(&mut problems, "the 408 came", ending.first_byte, LIMIT);
    if ending.ended.is_none() {
        problems.push("the connection was not closed after the 408".into());
    }
    let mut observed = ending.describe();
    if trickle {
        observed.push_str(&format!(
            "\n(the client sent one byte every 100 ms: {sent} in all)"
        ));
    }
    drop(stream);
    fds_problem(
        &mut problems,
        &mut observed,
        fds_back(run, baseline, LIMIT),
        baseline,
    );
    verdict(problems, observed)
}

/// A client asks for a big file and never reads: once the buffers are full and a whole send
/// timeout has passed without progress, the server resets it and frees everything.
fn non_reading(run: &mut StageRun, port: u16) -> Verdict {
    let big = run.layout.public().join(BIG_FILE);
    if !big.exists() {
        let content: Vec<u8> = (0..BIG_LEN).map(|i| (i % 251) as u8).collect();
        fs::write(&big, content).map_err(|e| format!("cannot write {}: {e}", big.display()))?;
    }
    let baseline = warm_up(run, port);
    let mut stream = wire::connect(port).map_err(|e| format!("cannot connect: {e}"))?;
    let start = Instant::now();
    let request = format!("GET /{BIG_FILE} HTTP/1.1\r\nHost: localhost\r\n\r\n");
    wire::send(&mut stream, request.as_bytes()).map_err(|e| format!("cannot send: {e}"))?;
    let mut problems = Vec::new();
    let mut observed = String::new();
    thread::sleep(LIMIT / 2);
    let during = fd_count(run);
    // The client reads nothing. The last write the kernel takes comes within a few ms (the
    // buffers fill at once on loopback); the reset must follow one limit later.
    let freed = match fds_back(run, baseline, LIMIT * 3) {
        Some(Ok(_)) => Some(start.elapsed()),
        Some(Err(now)) => {
            problems.push(format!(
                "3 s after the request the server still holds {now} descriptors ({} before)",
                baseline.unwrap_or(0)
            ));
            None
        }
        None => None,
    };
    if let Some(at) = freed {
        observed.push_str(&format!(
            "the server held {} descriptors while the client did not read, {} before; back {} ms after the request\n",
            during.unwrap_or(0),
            baseline.unwrap_or(0),
            at.as_millis()
        ));
        if at < LIMIT.saturating_sub(Duration::from_millis(2)) {
            problems.push(format!(
                "the connection was dropped {} ms after the request, before the send timeout",
                at.as_millis()
            ));
        }
    } else if baseline.is_none() {
        thread::sleep(LIMIT * 2);
    }
    // Now read: what reached the client, then the reset.
    let ending = watch(
        &mut stream,
        start,
        LIMIT * 6,
        Duration::from_millis(100),
        |_, _| {},
    );
    observed.push_str(&format!(
        "the client then read {} bytes of {BIG_LEN} and saw the connection {}",
        ending.got.len(),
        match (ending.ended, ending.reset) {
            (None, _) => "still open",
            (Some(_), true) => "reset (RST)",
            (Some(_), false) => "closed (FIN)",
        }
    ));
    if ending.got.len() >= BIG_LEN {
        problems.push("the whole file arrived: the client was never cut off".into());
    }
    if !ending.reset {
        problems
            .push("expected a reset (RST), the abortive close that drops what was queued".into());
    }
    verdict(problems, observed)
}

/// GET through the proxy to an upstream set up by `upstream`; the answer must be a 504 one
/// limit after the request, and everything freed.
fn gateway_timeout(run: &mut StageRun, port: u16, blackhole: bool) -> Verdict {
    run.kill_upstream();
    let upstream_port = run.ports.upstream;
    let baseline = warm_up(run, run.ports.role(1));
    let (silent, hole) = if blackhole {
        (None, Some(Blackhole::start(upstream_port)?))
    } else {
        (Some(Silent::start(upstream_port)?), None)
    };
    let ending = request(port, b"GET /slow HTTP/1.1\r\nHost: localhost\r\n\r\n")?;
    let mut problems = Vec::new();
    error_response(&mut problems, &ending.got, 504);
    on_time(&mut problems, "the 504 came", ending.first_byte, LIMIT);
    if ending.ended.is_none() {
        problems.push("the connection was not closed after the 504".into());
    }
    let mut observed = ending.describe();
    fds_problem(
        &mut problems,
        &mut observed,
        fds_back(run, baseline, LIMIT),
        baseline,
    );
    drop((silent, hole));
    verdict(problems, observed)
}

/// POST through the proxy with a body that stops: the client is closed, without a response,
/// one limit after the last body byte. With `keeps_coming`, the body arrives in pieces slower
/// than nothing but faster than the limit, so it must get through (and then the silent upstream
/// earns a 504).
fn body(run: &mut StageRun, port: u16, keeps_coming: bool) -> Verdict {
    run.kill_upstream();
    let silent = Silent::start(run.ports.upstream)?;
    let pieces = 8;
    let pause = LIMIT * 3 / 10;
    let head = format!(
        "POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\n\r\n",
        if keeps_coming { pieces } else { 1000 }
    );
    let mut stream = wire::connect(port).map_err(|e| format!("cannot connect: {e}"))?;
    wire::send(&mut stream, head.as_bytes()).map_err(|e| format!("cannot send: {e}"))?;
    wire::send(&mut stream, b"x").map_err(|e| format!("cannot send: {e}"))?;
    let mut start = Instant::now();
    if keeps_coming {
        for _ in 1..pieces {
            thread::sleep(pause);
            if let Err(e) = stream.write_all(b"x") {
                return Err(format!(
                    "the server closed the connection while the body was still coming, every {} ms: {e}",
                    pause.as_millis()
                ));
            }
        }
        start = Instant::now();
    }
    let ending = watch(
        &mut stream,
        start,
        LIMIT * 4,
        Duration::from_millis(50),
        |_, _| {},
    );
    let mut problems = Vec::new();
    let mut observed = ending.describe();
    if keeps_coming {
        observed = format!(
            "{pieces} body bytes, one every {} ms ({} ms in all); then {observed}",
            pause.as_millis(),
            (pause * (pieces - 1) as u32).as_millis()
        );
        error_response(&mut problems, &ending.got, 504);
        on_time(&mut problems, "the 504 came", ending.first_byte, LIMIT);
    } else {
        if !ending.got.is_empty() {
            problems.push(format!("expected no response, got {}", show(&ending.got)));
        }
        on_time(&mut problems, "the close came", ending.ended, LIMIT);
    }
    drop(silent);
    verdict(problems, observed)
}

/// Two requests to [`FAILOVER`]: round robin sends one of them to the upstream that never
/// accepts first; after the connect timeout it must go to the live one, never become a 504.
fn connect_timeout_fails_over(run: &mut StageRun, port: u16) -> Verdict {
    let (never, live) = failover_upstreams(run)?;
    let _hole = Blackhole::start(never)?;
    let _live = crate::upstream::NamedUpstream::start("B", live, Duration::ZERO)
        .map_err(|e| format!("cannot start the upstream on port {live}: {e}"))?;
    let mut problems = Vec::new();
    let mut observed = Vec::new();
    let mut failed_over = false;
    for n in 1..=2 {
        let asked =
            format!("GET {FAILOVER}/{n} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        let ending = request(port, asked.as_bytes())?;
        let took = ending.ended.unwrap_or(LIMIT * 4);
        match parse_response(&ending.got) {
            Ok(r) if r.status == 200 && r.body.starts_with(b"B ") => {}
            Ok(r) => problems.push(format!(
                "request {n}: status {} with {}, expected 200 from upstream B",
                r.status,
                show(&r.body)
            )),
            Err(e) => problems.push(format!("request {n}: {e}")),
        }
        // The one that met the dead upstream first waited one connect timeout for it.
        let late = LIMIT + slack(LIMIT) + Duration::from_millis(100);
        if took >= LIMIT.saturating_sub(Duration::from_millis(2)) && took <= late {
            failed_over = true;
        }
        observed.push(format!("request {n}: {}", ending.describe()));
    }
    if !failed_over {
        problems.push(format!(
            "neither request waited one connect timeout ({} ms) for the upstream that never accepts",
            LIMIT.as_millis()
        ));
    }
    verdict(problems, observed.join("\n"))
}

/// Stage 21's checks: stage 19's (which include stage 18's and 17's), then the timeouts.
pub fn stage21(cx: &Ctx) -> Vec<Check> {
    let mut list = super::http::stage19(cx);
    list.extend(timeout_checks(cx));
    list
}

/// The timeout checks alone.
fn timeout_checks(cx: &Ctx) -> Vec<Check> {
    let (files, proxy) = (cx.ports.role(1), cx.ports.role(2));
    let upstream = cx.ports.upstream;
    let ms = LIMIT_MS;
    let late = (LIMIT + slack(LIMIT)).as_millis();
    vec![
        Check::new(
            format!("a slow client in time still gets its answer (port {files})"),
            &format!("GET /sample.txt, one byte at a time over {} ms", ms / 2),
            "status 200".into(),
            move |_| slow_but_in_time(files),
        ),
        Check::new(
            format!("an idle connection gets 408 (port {files})"),
            "connect and send nothing (nc localhost PORT)",
            format!("408 Request Timeout with server: eXpServer and connection: close, {ms}-{late} ms after the connect, then the close; every descriptor freed"),
            move |run| no_head(run, files, false),
        ),
        Check::new(
            format!("slowloris: trickling does not extend the header deadline (port {files})"),
            "\"GET /sample.txt HTTP/1.1\\r\\n\", then one more header byte every 100 ms, never the end of the head",
            format!("408 {ms}-{late} ms after the connect (a total deadline), then the close; every descriptor freed"),
            move |run| no_head(run, files, true),
        ),
        Check::new(
            format!("a client that stops reading is reset (port {files})"),
            &format!("GET /{BIG_FILE} ({} MB), never read", BIG_LEN / 1_000_000),
            format!("no sooner than {ms} ms after the request, an RST; the server's descriptors back to what they were within 3 s"),
            move |run| non_reading(run, files),
        ),
        Check::new(
            format!("an upstream that never answers: 504 (port {proxy})"),
            &format!("GET /slow through the proxy; the upstream on port {upstream} (Python stopped) accepts and reads, never answers"),
            format!("504 Gateway Timeout with server: eXpServer, {ms}-{late} ms after the request, then the close; every descriptor freed"),
            move |run| gateway_timeout(run, proxy, false),
        ),
        Check::new(
            format!("an upstream that never accepts: 504 (port {proxy})"),
            &format!("GET /slow through the proxy; the upstream on port {upstream} has a full accept queue, so the connect hangs"),
            format!("504 {ms}-{late} ms after the request; no socket left connecting"),
            move |run| gateway_timeout(run, proxy, true),
        ),
        Check::new(
            format!("with stage 20's upstreams, a connect timeout fails over (port {proxy})"),
            &format!("two GETs to {FAILOVER}, round robin over an upstream that never accepts and one that answers \"B\""),
            format!("both 200 from B; the one sent to the dead upstream first answered {ms}-{} ms after the request (its connect timeout), never 504", late + 100),
            move |run| connect_timeout_fails_over(run, proxy),
        ),
        Check::new(
            format!("a request body that stops is dropped (port {proxy})"),
            "POST through the proxy with Content-Length: 1000, then 1 body byte, then nothing",
            format!("the connection closed without a response {ms}-{late} ms after that byte"),
            move |run| body(run, proxy, false),
        ),
        Check::new(
            format!("a body timeout is a gap, not a total (port {proxy})"),
            &format!("POST through the proxy with Content-Length: 8, one byte every {} ms (longer in all than the limit); the upstream never answers", ms * 3 / 10),
            format!("the body gets through; then 504, {ms}-{late} ms after its last byte"),
            move |run| body(run, proxy, true),
        ),
    ]
}
