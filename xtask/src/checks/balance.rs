//! Stage 20: load balancing. The grader has no checks for it; these follow the contract
//! (`phase3-4-stages-18-23.md` §3).
//!
//! The checker writes stage 19's config (the grader's, plus stage 18's IP-list routes) with six
//! more routes on the proxy server (course port 8002), one per behaviour, each over upstreams the checker starts itself: three
//! [`NamedUpstream`]s, A, B and C, that answer every request with their own name and the number
//! of body bytes they received. So a check sees where each request went, and whether its body
//! arrived whole. A route whose upstreams are ports nobody listens on gives the all-dead case.
//!
//! On the course's ports (`--cmd`) the upstreams are 127.0.0.1:3001-3003 and the dead ports
//! 3004-3005; with `--free-ports` they are free ports. Either way the checks read the ports from
//! the config the server was given, so the two always agree.

use std::collections::BTreeMap;
use std::fs;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde_json::{json, Value};

use super::http::client::{parse_response, Response};
use super::http::config as http_config;
use super::http::gzip;
use super::wire::{connect_from, read_to_close, send, show, End};
use super::{Check, Ctx, Verdict};
use crate::layout::Layout;
use crate::ports::free_tcp_ports;
use crate::runner::StageRun;
use crate::target::Ports;
use crate::upstream::{NamedUpstream, SLOW_PATH_MARK};

/// The routes the checker adds, one per behaviour (each has its own balancer state).
pub const ROUND_ROBIN: &str = "/lb/round_robin";
pub const LEAST_CONN: &str = "/lb/least_conn";
pub const IP_HASH: &str = "/lb/ip_hash";
pub const FAILOVER: &str = "/lb/failover";
pub const FAIL_TIMEOUT: &str = "/lb/fail_timeout";
pub const ALL_DEAD: &str = "/lb/all_dead";

/// The `upstream_fail_timeout_ms` of the fail-timeout route: short, so the check can see an
/// upstream come back.
pub const FAIL_TIMEOUT_MS: u64 = 1500;

/// How long a slow request holds its upstream (least_conn).
const SLOW: Duration = Duration::from_millis(1500);

/// The names of the three live upstreams.
const NAMES: [&str; 3] = ["A", "B", "C"];

/// Course ports of the live upstreams and of the dead ones, next to the course's 3000.
const COURSE_LIVE: [u16; 3] = [3001, 3002, 3003];
const COURSE_DEAD: [u16; 2] = [3004, 3005];

/// How long one request may take, end to end.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// The config of stage 20 (a [`crate::stages::ConfigWriter`]): stage 19's (the grader's config
/// plus stage 18's IP-list routes, and stage 19's files) with the load-balancing routes added to
/// the proxy server. Returns its path.
pub fn config(layout: &Layout, ports: &Ports) -> Result<PathBuf> {
    let base = gzip::config(layout, ports)?;
    let text =
        fs::read_to_string(&base).with_context(|| format!("cannot read {}", base.display()))?;
    let mut config: Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not valid JSON", base.display()))?;
    let (live, dead) = upstream_ports(ports)?;
    let names =
        |list: &[u16]| -> Vec<String> { list.iter().map(|p| format!("localhost:{p}")).collect() };
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
        .with_context(|| format!("{}: no server listens on port {proxy_port}", base.display()))?;
    let route = |path: &str, upstreams: Vec<String>, extra: Value| {
        let mut route =
            json!({ "req_path": path, "type": "reverse_proxy", "upstreams": upstreams });
        if let (Some(route), Some(extra)) = (route.as_object_mut(), extra.as_object()) {
            route.extend(extra.clone());
        }
        route
    };
    let routes = [
        route(
            ROUND_ROBIN,
            names(&live),
            json!({ "lb_strategy": "round_robin" }),
        ),
        route(
            LEAST_CONN,
            names(&live),
            json!({ "lb_strategy": "least_conn" }),
        ),
        route(IP_HASH, names(&live), json!({ "lb_strategy": "ip_hash" })),
        route(FAILOVER, names(&live), json!({})),
        route(
            FAIL_TIMEOUT,
            names(&live),
            json!({ "upstream_fail_timeout_ms": FAIL_TIMEOUT_MS }),
        ),
        route(ALL_DEAD, names(&dead), json!({})),
    ];
    match server["routes"].as_array_mut() {
        Some(list) => list.extend(routes),
        None => server["routes"] = Value::from(routes.to_vec()),
    }
    http_config::write(layout, "stage20.json", &config)
}

/// The live and the dead upstream ports for a run on `ports`.
fn upstream_ports(ports: &Ports) -> Result<(Vec<u16>, Vec<u16>)> {
    if http_config::is_course(ports) {
        return Ok((COURSE_LIVE.to_vec(), COURSE_DEAD.to_vec()));
    }
    let taken = |p: &u16| ports.listen.contains(p) || ports.upstream == *p;
    let mut free: Vec<u16> = free_tcp_ports(10)?
        .into_iter()
        .filter(|p| !taken(p))
        .collect();
    anyhow::ensure!(free.len() >= 5, "not enough free ports for the upstreams");
    let dead = free.split_off(3);
    Ok((free, dead[..2].to_vec()))
}

/// The upstream ports of the route `req_path` in the config the server runs.
fn route_ports(run: &StageRun, req_path: &str) -> Result<Vec<u16>, String> {
    let text = fs::read_to_string(&run.config)
        .map_err(|e| format!("cannot read {}: {e}", run.config.display()))?;
    let config: Value = serde_json::from_str(&text)
        .map_err(|e| format!("{} is not valid JSON: {e}", run.config.display()))?;
    let route = config["servers"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|s| s["routes"].as_array().into_iter().flatten())
        .find(|r| r["req_path"].as_str() == Some(req_path))
        .ok_or_else(|| format!("the config has no route {req_path}"))?;
    route["upstreams"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|u| {
            u.as_str()
                .and_then(|s| s.rsplit_once(':'))
                .and_then(|(_, port)| port.parse().ok())
                .ok_or_else(|| format!("{req_path}: upstream {u} is not host:port"))
        })
        .collect()
}

/// Starts A, B and C on the ports of `req_path`.
fn start_upstreams(run: &StageRun, req_path: &str) -> Result<Vec<NamedUpstream>, String> {
    let ports = route_ports(run, req_path)?;
    NAMES
        .iter()
        .zip(ports)
        .map(|(name, port)| {
            NamedUpstream::start(name, port, SLOW)
                .map_err(|e| format!("cannot start upstream {name} on 127.0.0.1:{port}: {e}"))
        })
        .collect()
}

/// One request through the proxy on `port`, from 127.0.0.1 or from `from` (another loopback
/// address), with `Connection: close`; the response is read to the close.
fn ask(
    port: u16,
    from: Option<Ipv4Addr>,
    method: &str,
    path: &str,
    body: &str,
) -> Result<Response, String> {
    let from = IpAddr::V4(from.unwrap_or(Ipv4Addr::LOCALHOST));
    let mut stream = connect_from(from, port)
        .map_err(|e| format!("cannot connect from {from} to port {port}: {e}"))?;
    let length = if body.is_empty() {
        String::new()
    } else {
        format!("Content-Length: {}\r\n", body.len())
    };
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost:{port}\r\nUser-Agent: xtask\r\n\
         Connection: close\r\n{length}\r\n{body}"
    );
    send(&mut stream, request.as_bytes()).map_err(|e| format!("sending failed: {e}"))?;
    let (raw, end) = read_to_close(&mut stream, 1 << 20, REQUEST_TIMEOUT);
    match end {
        End::Closed => {}
        End::TimedOut => {
            return Err(format!(
                "{method} {path}: no complete response within {} s (got {})",
                REQUEST_TIMEOUT.as_secs(),
                show(&raw)
            ))
        }
        other if raw.is_empty() => return Err(format!("{method} {path}: {}", other.describe())),
        _ => {}
    }
    parse_response(&raw).map_err(|e| format!("{method} {path}: {e}"))
}

/// Who answered: the first word of a [`NamedUpstream`]'s body, after checking it is a 200.
fn who(path: &str, response: &Response) -> Result<String, String> {
    if response.status != 200 {
        return Err(format!(
            "{path}: {} (expected 200 from an upstream)",
            response.summary()
        ));
    }
    let body = String::from_utf8_lossy(&response.body);
    body.split_whitespace()
        .next()
        .map(str::to_string)
        .ok_or_else(|| format!("{path}: an empty body, expected an upstream's name"))
}

/// `n` GETs to `route`, in turn, from `from`: who answered each.
fn answers(
    port: u16,
    from: Option<Ipv4Addr>,
    route: &str,
    n: usize,
) -> Result<Vec<String>, String> {
    (0..n)
        .map(|i| {
            let path = format!("{route}/{i}");
            who(&path, &ask(port, from, "GET", &path, "")?)
        })
        .collect()
}

/// "A B C A" and "A: 2, B: 1, C: 1".
fn describe(names: &[String]) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for name in names {
        *counts.entry(name.as_str()).or_default() += 1;
    }
    let counts: Vec<String> = counts.iter().map(|(n, c)| format!("{n}: {c}")).collect();
    format!("answered by {} ({})", names.join(" "), counts.join(", "))
}

/// Each of `among` answered `names.len() / among.len()` requests, ±1.
fn fair_share(names: &[String], among: &[&str]) -> Result<(), String> {
    let share = names.len() as f64 / among.len() as f64;
    for upstream in among {
        let got = names.iter().filter(|n| n == upstream).count() as f64;
        if (got - share).abs() > 1.0 {
            return Err(format!(
                "{upstream} answered {got} of {}, expected {share} ± 1",
                names.len()
            ));
        }
    }
    Ok(())
}

fn round_robin(run: &mut StageRun, port: u16) -> Verdict {
    let _upstreams = start_upstreams(run, ROUND_ROBIN)?;
    let names = answers(port, None, ROUND_ROBIN, 9)?;
    let seen = describe(&names);
    fair_share(&names, &NAMES).map_err(|e| format!("{e}; {seen}"))?;
    Ok(seen)
}

fn least_conn(run: &mut StageRun, port: u16) -> Verdict {
    let upstreams = start_upstreams(run, LEAST_CONN)?;
    let slow_path = format!("{LEAST_CONN}{SLOW_PATH_MARK}");
    let slow = {
        let path = slow_path.clone();
        thread::spawn(move || ask(port, None, "GET", &path, ""))
    };
    let deadline = Instant::now() + Duration::from_secs(3);
    let busy = loop {
        if let Some(busy) = upstreams.iter().find(|u| u.busy() > 0) {
            break busy.name().to_string();
        }
        if Instant::now() > deadline {
            return Err(format!("{slow_path} reached no upstream within 3 s"));
        }
        thread::sleep(Duration::from_millis(5));
    };
    let names = answers(port, None, LEAST_CONN, 6);
    let slow = slow
        .join()
        .map_err(|_| "the slow request's thread panicked".to_string())?;
    let names = names?;
    let slow_by = who(&slow_path, &slow?)?;
    let seen = format!(
        "{slow_path} held by {busy} for {} ms; meanwhile 6 requests {}",
        SLOW.as_millis(),
        describe(&names)
    );
    if slow_by != busy {
        return Err(format!(
            "{slow_path} was answered by {slow_by}, not {busy}; {seen}"
        ));
    }
    if names.contains(&busy) {
        return Err(format!(
            "{busy} got a new request while it had the only open connection; {seen}"
        ));
    }
    let others: Vec<&str> = NAMES.iter().copied().filter(|n| *n != busy).collect();
    fair_share(&names, &others).map_err(|e| format!("{e}; {seen}"))?;
    Ok(seen)
}

fn ip_hash(run: &mut StageRun, port: u16) -> Verdict {
    let _upstreams = start_upstreams(run, IP_HASH)?;
    let mut seen = Vec::new();
    for client in [Ipv4Addr::new(127, 0, 0, 1), Ipv4Addr::new(127, 0, 0, 2)] {
        let names = answers(port, Some(client), IP_HASH, 6)?;
        let text = format!("from {client}: {}", describe(&names));
        if names.iter().any(|n| *n != names[0]) {
            return Err(format!(
                "the same client went to different upstreams; {text}"
            ));
        }
        seen.push(text);
    }
    // A hash, not a pin: six clients do not all land on one upstream of three.
    let mut homes = Vec::new();
    for last in 1..=6 {
        let client = Ipv4Addr::new(127, 0, 0, last);
        homes.push(answers(port, Some(client), IP_HASH, 1)?.remove(0));
    }
    let spread = format!("clients 127.0.0.1-6 {}", describe(&homes));
    if homes.iter().all(|h| *h == homes[0]) {
        return Err(format!("every client went to the same upstream; {spread}"));
    }
    seen.push(spread);
    Ok(seen.join("; "))
}

fn failover(run: &mut StageRun, port: u16) -> Verdict {
    let mut upstreams = start_upstreams(run, FAILOVER)?;
    upstreams[1].stop();
    let mut names = answers(port, None, FAILOVER, 9)?;
    let body = "0123456789";
    for i in 0..3 {
        let path = format!("{FAILOVER}/post{i}");
        let response = ask(port, None, "POST", &path, body)?;
        let name = who(&path, &response)?;
        let text = String::from_utf8_lossy(&response.body).trim().to_string();
        if text != format!("{name} {}", body.len()) {
            return Err(format!(
                "POST {path} with a {}-byte body: the upstream said {text:?} (it got the wrong \
                 number of body bytes)",
                body.len()
            ));
        }
        names.push(name);
    }
    let seen = describe(&names);
    if names.iter().any(|n| n == "B") {
        return Err(format!("B is stopped, yet answered; {seen}"));
    }
    if !names.iter().any(|n| n == "A") || !names.iter().any(|n| n == "C") {
        return Err(format!("A and C should share the requests; {seen}"));
    }
    Ok(format!(
        "B refused; every request got 200, {seen}; each POST body arrived whole"
    ))
}

fn fail_timeout(run: &mut StageRun, port: u16) -> Verdict {
    let mut upstreams = start_upstreams(run, FAIL_TIMEOUT)?;
    let b_port = upstreams[1].port();
    upstreams[1].stop();
    let first = answers(port, None, FAIL_TIMEOUT, 3)?;
    let marked = Instant::now();
    upstreams[1] = NamedUpstream::start("B", b_port, SLOW)
        .map_err(|e| format!("cannot restart B on port {b_port}: {e}"))?;
    let during = answers(port, None, FAIL_TIMEOUT, 6)?;
    let took = marked.elapsed();
    let window = Duration::from_millis(FAIL_TIMEOUT_MS);
    if took > window * 2 / 3 {
        return Err(format!(
            "6 requests took {} ms, too slow to test a {} ms window",
            took.as_millis(),
            window.as_millis()
        ));
    }
    thread::sleep((window + Duration::from_millis(500)).saturating_sub(marked.elapsed()));
    let after = answers(port, None, FAIL_TIMEOUT, 6)?;
    let seen = format!(
        "with B stopped: {}; B restarted, within {} ms: {}; after the timeout: {}",
        describe(&first),
        window.as_millis(),
        describe(&during),
        describe(&after)
    );
    if during.iter().any(|n| n == "B") {
        return Err(format!("B got requests during its fail timeout; {seen}"));
    }
    if !after.iter().any(|n| n == "B") {
        return Err(format!("B got no request after its fail timeout; {seen}"));
    }
    Ok(seen)
}

fn all_dead(run: &mut StageRun, port: u16) -> Verdict {
    for dead in route_ports(run, ALL_DEAD)? {
        if TcpStream::connect_timeout(&SocketAddr::from(([127, 0, 0, 1], dead)), REQUEST_TIMEOUT)
            .is_ok()
        {
            return Err(format!(
                "port {dead} should be dead for this check, but something listens there"
            ));
        }
    }
    let path = format!("{ALL_DEAD}/x");
    let response = ask(port, None, "GET", &path, "")?;
    let mut problems = Vec::new();
    if response.status != 502 {
        problems.push(format!("status {}, expected 502", response.status));
    }
    if response.header("server").as_deref() != Some("eXpServer") {
        problems.push("no \"Server: eXpServer\"".to_string());
    }
    if response.content_length() != Some(response.body.len()) {
        problems.push(format!(
            "Content-Length {:?} for a {}-byte body",
            response.content_length(),
            response.body.len()
        ));
    }
    if problems.is_empty() {
        Ok(response.summary())
    } else {
        Err(format!("{}; {}", problems.join("; "), response.summary()))
    }
}

/// The load-balancing checks, on the proxy port.
pub fn checks(ports: &Ports) -> Vec<Check> {
    let port = ports.role(2);
    let on = |path: &str| format!("{path} on port {port}");
    vec![
        Check::new(
            format!("round_robin: requests take turns ({})", on(ROUND_ROBIN)),
            "upstreams A, B, C answer with their name; 9 GETs one after another",
            "every answer 200; A, B and C each answer 3 ± 1".into(),
            move |run| round_robin(run, port),
        ),
        Check::new(
            format!(
                "least_conn: a busy upstream is passed over ({})",
                on(LEAST_CONN)
            ),
            &format!(
                "a GET .../slow that its upstream holds for {} ms; meanwhile 6 quick GETs",
                SLOW.as_millis()
            ),
            "none of the 6 goes to the busy upstream; the other two share them 3 ± 1".into(),
            move |run| least_conn(run, port),
        ),
        Check::new(
            format!("ip_hash: a client keeps its upstream ({})", on(IP_HASH)),
            "6 GETs from 127.0.0.1, then 6 from 127.0.0.2 (the client socket bound to it); one GET from \
             each of 127.0.0.1-6",
            "each client's 6 answers all come from one upstream; the six clients do not all \
             share one"
                .into(),
            move |run| ip_hash(run, port),
        ),
        Check::new(
            format!(
                "failover: a dead upstream loses no request ({})",
                on(FAILOVER)
            ),
            "B stopped (its port refuses); 9 GETs and 3 POSTs with a 10-byte body",
            "every request 200, answered by A or C; each POST's body arrives whole".into(),
            move |run| failover(run, port),
        ),
        Check::new(
            format!(
                "upstream_fail_timeout_ms: a failed upstream is skipped, then back ({})",
                on(FAIL_TIMEOUT)
            ),
            &format!(
                "fail timeout {FAIL_TIMEOUT_MS} ms; B stopped, 3 GETs; B restarted, 6 GETs right \
                 away, 6 more after the timeout"
            ),
            "no request reaches B during its fail timeout; B answers again after it".into(),
            move |run| fail_timeout(run, port),
        ),
        Check::new(
            format!("every upstream dead: 502 ({})", on(ALL_DEAD)),
            "GET to a route whose two upstreams are ports nobody listens on",
            "502 Bad Gateway with Server: eXpServer and a correct Content-Length, within 5 s"
                .into(),
            move |run| all_dead(run, port),
        ),
    ]
}

/// Stage 20: everything stage 19 does (the grader's stage-17 checks, the IP lists, gzip), then
/// the load balancing.
pub fn stage20(cx: &Ctx) -> Vec<Check> {
    let mut list = super::http::stage19(cx);
    list.extend(checks(cx.ports));
    list
}
