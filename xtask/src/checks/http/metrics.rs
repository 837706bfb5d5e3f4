//! Stage 22: the metrics route and the access log.
//!
//! The stage's config is the grader's (so the stage-17 checks still run on it) plus a metrics
//! route `/metrics` on port 1 that admits only 127.0.0.1, and a top-level `access_log` naming a
//! file beside `public/`. The checks scrape the route, parse the text with the checker's own
//! parser of the exposition format 0.0.4 (and with the real `prometheus_client` parser when
//! Python has it), and compare two scrapes around a known set of requests: the counts must move
//! by exactly what was sent.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write as _;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde_json::{json, Value};

use super::client::{exchange_from, Body, Response};
use super::config::{graders_json, write};
use super::ip_filter::{FIRST, SECOND};
use super::Problems;
use crate::checks::wire::Rng;
use crate::checks::Verdict;
use crate::layout::Layout;
use crate::runner::StageRun;
use crate::target::Ports;

/// The metrics route's path on port 1.
pub const METRICS_PATH: &str = "/metrics";

/// The content type of the text exposition format 0.0.4, up to its parameters.
pub const TEXT_TYPE: &str = "text/plain; version=0.0.4";

/// How long a line may take to reach the access log (flushed at least once a second).
pub const LOG_WAIT: Duration = Duration::from_millis(3000);

/// The families a check may rely on, with their types.
pub const FAMILIES: [(&str, &str); 18] = [
    ("expserver_connections_accepted_total", "counter"),
    ("expserver_connections_active", "gauge"),
    ("expserver_requests_total", "counter"),
    ("expserver_request_duration_seconds", "histogram"),
    ("expserver_sent_bytes_total", "counter"),
    ("expserver_received_bytes_total", "counter"),
    ("expserver_upstream_requests_total", "counter"),
    ("expserver_upstream_up", "gauge"),
    ("expserver_timeouts_total", "counter"),
    ("expserver_gzip_responses_total", "counter"),
    ("expserver_denied_total", "counter"),
    ("expserver_workers", "gauge"),
    ("expserver_worker_connections_accepted_total", "counter"),
    ("process_cpu_seconds_total", "counter"),
    ("process_resident_memory_bytes", "gauge"),
    ("process_open_fds", "gauge"),
    ("process_max_fds", "gauge"),
    ("process_start_time_seconds", "gauge"),
];

/// The config of stage 22 (a [`crate::stages::ConfigWriter`]): the grader's, moved to `ports`,
/// plus the metrics route and the access log.
pub fn config(layout: &Layout, ports: &Ports) -> Result<PathBuf> {
    let mut config = graders_json(layout, ports)?;
    let log = access_log(layout);
    let top = config
        .as_object_mut()
        .context("the grader's config is not an object")?;
    top.insert("access_log".into(), json!(log.display().to_string()));
    let routes = config
        .get_mut("servers")
        .and_then(|s| s.get_mut(0))
        .and_then(|s| s.get_mut("routes"))
        .and_then(Value::as_array_mut)
        .context("the grader's config has no routes on its first server")?;
    routes.push(json!({
        "req_path": METRICS_PATH,
        "type": "metrics",
        "ip_whitelist": ["127.0.0.1"],
    }));
    write(layout, "stage22.json", &config)
}

/// Where the stage-22 config's access log goes.
pub fn access_log(layout: &Layout) -> PathBuf {
    layout.root().join("access.log")
}

/// One scrape, parsed: each family's `# TYPE`, and every sample by its series
/// (`name{a="x",b="y"}`, labels sorted).
#[derive(Debug, Default)]
pub struct Scrape {
    pub types: BTreeMap<String, String>,
    pub samples: BTreeMap<String, f64>,
}

impl Scrape {
    /// The value of a series, 0 if it is absent (a counter nobody has touched yet).
    pub fn value(&self, series: &str) -> f64 {
        self.samples.get(series).copied().unwrap_or(0.0)
    }
}

/// The key of a series: `name{k="v",...}` with labels sorted (no braces without labels).
pub fn series(name: &str, labels: &[(&str, &str)]) -> String {
    let mut labels: Vec<_> = labels.to_vec();
    labels.sort();
    if labels.is_empty() {
        return name.to_string();
    }
    let inner: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    format!("{name}{{{}}}", inner.join(","))
}

/// Parses the text exposition format 0.0.4 strictly enough to catch a broken scrape: every
/// line a comment or `name{labels} value`, names and labels well formed, values numbers.
pub fn parse(text: &str) -> Result<Scrape, String> {
    let mut scrape = Scrape::default();
    for (n, line) in text.lines().enumerate() {
        let at = |e: String| format!("line {}: {e}: {line:?}", n + 1);
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut words = rest.split(' ');
            let (Some(name), Some(kind)) = (words.next(), words.next()) else {
                return Err(at("a TYPE line needs a name and a type".into()));
            };
            if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind) {
                return Err(at(format!("unknown type {kind:?}")));
            }
            scrape.types.insert(name.to_string(), kind.to_string());
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let name_end = line.find(['{', ' ']).ok_or_else(|| at("no value".into()))?;
        let name = &line[..name_end];
        let valid_name = name.chars().enumerate().all(|(i, c)| {
            c.is_ascii_alphabetic() || c == '_' || c == ':' || (i > 0 && c.is_ascii_digit())
        });
        if name.is_empty() || !valid_name {
            return Err(at(format!("bad metric name {name:?}")));
        }
        let mut rest = &line[name_end..];
        let mut labels: Labels = Vec::new();
        if let Some(after) = rest.strip_prefix('{') {
            let (parsed, tail) = parse_labels(after).map_err(at)?;
            labels = parsed;
            rest = tail;
        }
        let value = rest
            .strip_prefix(' ')
            .ok_or_else(|| at("no space before the value".into()))?;
        let value = value.split(' ').next().unwrap_or("");
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            "NaN" => f64::NAN,
            v => v
                .parse()
                .map_err(|_| at(format!("value {v:?} is not a number")))?,
        };
        let pairs: Vec<(&str, &str)> = labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        scrape.samples.insert(series(name, &pairs), value);
    }
    Ok(scrape)
}

/// A sample's labels, as written.
type Labels = Vec<(String, String)>;

/// `a="x",b="y"}` and what follows the brace.
fn parse_labels(mut text: &str) -> Result<(Labels, &str), String> {
    let mut labels = Vec::new();
    loop {
        if let Some(tail) = text.strip_prefix('}') {
            return Ok((labels, tail));
        }
        let eq = text.find('=').ok_or("a label without '='")?;
        let name = text[..eq].trim_start_matches(',');
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!("bad label name {name:?}"));
        }
        let mut chars = text[eq + 1..].char_indices();
        if chars.next().map(|(_, c)| c) != Some('"') {
            return Err(format!("label {name} is not quoted"));
        }
        let mut value = String::new();
        let mut escaped = false;
        let mut end = None;
        for (i, c) in chars {
            match (escaped, c) {
                (true, 'n') => {
                    value.push('\n');
                    escaped = false;
                }
                (true, c) => {
                    value.push(c);
                    escaped = false;
                }
                (false, '\\') => escaped = true,
                (false, '"') => {
                    end = Some(i);
                    break;
                }
                (false, c) => value.push(c),
            }
        }
        let end = end.ok_or(format!("label {name}'s value is not closed"))?;
        labels.push((name.to_string(), value));
        text = &text[eq + 1 + end + 1..];
        text = text.strip_prefix(',').unwrap_or(text);
    }
}

/// `GET /metrics` from `from` (one connection, closed after), with `accept` if given.
pub fn get(from: IpAddr, port: u16, accept: Option<&str>) -> Result<Response, String> {
    let accept = accept.map_or(String::new(), |a| format!("Accept: {a}\r\n"));
    let request = format!(
        "GET {METRICS_PATH} HTTP/1.1\r\nHost: localhost:{port}\r\n{accept}Connection: close\r\n\r\n"
    );
    exchange_from(from, port, request.as_bytes(), Body::Read, false).map(|e| e.response)
}

/// A scrape from 127.0.0.1: 200, the 0.0.4 content type, and text that parses.
pub fn scrape(port: u16) -> Result<(Response, Scrape), String> {
    let response = get(FIRST, port, None)?;
    if response.status != 200 {
        return Err(format!("GET {METRICS_PATH}: {}", response.summary()));
    }
    let text = String::from_utf8(response.body.clone())
        .map_err(|_| "the scrape is not UTF-8".to_string())?;
    let parsed = parse(&text)?;
    Ok((response, parsed))
}

/// The scrape is well formed, has every family a check may rely on with its type, and (when
/// Python's `prometheus_client` is installed) the real parser reads it.
pub fn families_present(port: u16) -> Verdict {
    let (response, parsed) = scrape(port)?;
    let mut problems = Problems::default();
    problems.expect_header("server", response.header("server").as_deref(), "eXpServer");
    problems.expect_crlf(&response);
    let kind = response.header("content-type").unwrap_or_default();
    if !kind.starts_with(TEXT_TYPE) {
        problems.push(format!(
            "content-type {kind:?}, expected {TEXT_TYPE}; charset=utf-8"
        ));
    }
    if response.content_length() != Some(response.body.len()) {
        problems.push(format!(
            "content-length {:?} but {} body bytes",
            response.content_length(),
            response.body.len()
        ));
    }
    let mut missing = Vec::new();
    for (name, kind) in FAMILIES {
        match parsed.types.get(name) {
            Some(found) if found == kind => {}
            Some(found) => problems.push(format!("{name} is a {found}, expected a {kind}")),
            None => missing.push(name),
        }
    }
    if !missing.is_empty() {
        problems.push(format!("families missing: {}", missing.join(", ")));
    }
    let histogram = histogram_problems(&parsed);
    for problem in histogram {
        problems.push(problem);
    }
    let text = String::from_utf8_lossy(&response.body).to_string();
    let real = prometheus_client_parse(&text);
    let observed = format!(
        "{}; {} families, {} series; {}",
        response.summary(),
        parsed.types.len(),
        parsed.samples.len(),
        match &real {
            Some(Ok(n)) => format!("prometheus_client read {n} families"),
            Some(Err(e)) => format!("prometheus_client failed: {e}"),
            None => "prometheus_client not installed (pip install prometheus_client): parsed by the checker alone".into(),
        }
    );
    if let Some(Err(e)) = real {
        problems.push(format!(
            "the prometheus_client parser refused the text: {e}"
        ));
    }
    problems.verdict(observed)
}

/// The histogram's buckets never fall as `le` grows, and `+Inf` equals `_count`.
pub fn histogram_problems(parsed: &Scrape) -> Vec<String> {
    let name = "expserver_request_duration_seconds";
    let mut buckets: Vec<(f64, f64)> = parsed
        .samples
        .iter()
        .filter_map(|(key, value)| {
            let le = key
                .strip_prefix(&format!("{name}_bucket{{le=\""))?
                .strip_suffix("\"}")?;
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().ok()?
            };
            Some((le, *value))
        })
        .collect();
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut problems = Vec::new();
    if buckets.last().map(|b| b.0) != Some(f64::INFINITY) {
        problems.push(format!("{name} has no +Inf bucket"));
        return problems;
    }
    if buckets.windows(2).any(|w| w[1].1 < w[0].1) {
        problems.push(format!("{name}'s buckets are not cumulative: {buckets:?}"));
    }
    let count = parsed.value(&format!("{name}_count"));
    let inf = buckets.last().map_or(0.0, |b| b.1);
    if count != inf {
        problems.push(format!("{name}_count {count} but the +Inf bucket {inf}"));
    }
    if !parsed.samples.contains_key(&format!("{name}_sum")) {
        problems.push(format!("no {name}_sum"));
    }
    problems
}

/// Parses `text` with Python's `prometheus_client` (the reference parser): `None` when it is
/// not installed, else the number of families it read or its error.
pub fn prometheus_client_parse(text: &str) -> Option<Result<usize, String>> {
    const SCRIPT: &str = "import sys\n\
        from prometheus_client.parser import text_string_to_metric_families\n\
        print(len(list(text_string_to_metric_families(sys.stdin.read()))))\n";
    let installed = Command::new("python3")
        .args(["-c", "import prometheus_client"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !installed {
        return None;
    }
    let run = || -> Result<usize, String> {
        let mut child = Command::new("python3")
            .args(["-c", SCRIPT])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start python3: {e}"))?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(text.as_bytes())
                .map_err(|e| format!("cannot write to python3: {e}"))?;
        }
        let output = child
            .wait_with_output()
            .map_err(|e| format!("python3 failed: {e}"))?;
        if !output.status.success() {
            let error = String::from_utf8_lossy(&output.stderr);
            return Err(error.lines().last().unwrap_or("").to_string());
        }
        String::from_utf8_lossy(&output.stdout)
            .trim()
            .parse()
            .map_err(|e| format!("unexpected output: {e}"))
    };
    Some(run())
}

/// How many requests of each kind [`exact_counts`] sends between its scrapes.
pub const FOUND: usize = 7;
pub const NOT_FOUND: usize = 3;

/// Between two scrapes, [`FOUND`] requests for `/sample.txt` and [`NOT_FOUND`] for a missing
/// file move `expserver_requests_total{route="/"}` by exactly those numbers, the metrics route
/// by exactly one (a scrape), and the accepted connections by exactly their number.
pub fn exact_counts(run: &StageRun, port: u16) -> Verdict {
    let sample = fs::read(run.sample_file()).map_err(|e| format!("cannot read sample.txt: {e}"))?;
    let (_, before) = scrape(port)?;
    let mut problems = Problems::default();
    let mut sent_request_bytes = 0;
    for i in 0..FOUND + NOT_FOUND {
        let path = if i < FOUND {
            "/sample.txt".to_string()
        } else {
            format!("/missing-{i}.txt")
        };
        let request = format!("GET {path} HTTP/1.1\r\nHost: localhost:{port}\r\n\r\n");
        sent_request_bytes += request.len();
        match exchange_from(FIRST, port, request.as_bytes(), Body::Read, false) {
            Ok(e) if i < FOUND && (e.response.status != 200 || e.response.body != sample) => {
                problems.push(format!("GET {path}: {}", e.response.summary()))
            }
            Ok(e) if i >= FOUND && e.response.status != 404 => {
                problems.push(format!("GET {path}: {}", e.response.summary()))
            }
            Ok(_) => {}
            Err(e) => problems.push(format!("GET {path}: {e}")),
        }
    }
    let (_, after) = scrape(port)?;
    let delta = |key: &str| after.value(key) - before.value(key);
    let requests = |route: &str, code: &str| {
        series(
            "expserver_requests_total",
            &[("route", route), ("code", code)],
        )
    };
    let wanted = [
        (requests("/", "200"), FOUND as f64),
        (requests("/", "404"), NOT_FOUND as f64),
        (requests(METRICS_PATH, "200"), 1.0),
        (
            "expserver_connections_accepted_total".to_string(),
            (FOUND + NOT_FOUND + 1) as f64,
        ),
    ];
    let mut seen = Vec::new();
    for (key, want) in &wanted {
        let got = delta(key);
        seen.push(format!("{key} +{got}"));
        if got != *want {
            problems.push(format!("{key} moved by {got}, expected exactly {want}"));
        }
    }
    // Summed over the workers, whatever they are called ("0" for one event loop).
    let per_worker = |scrape: &Scrape| -> f64 {
        scrape
            .samples
            .iter()
            .filter(|(key, _)| key.starts_with("expserver_worker_connections_accepted_total{"))
            .map(|(_, value)| value)
            .sum()
    };
    let workers = per_worker(&after) - per_worker(&before);
    seen.push(format!(
        "expserver_worker_connections_accepted_total (all workers) +{workers}"
    ));
    if workers != (FOUND + NOT_FOUND + 1) as f64 {
        problems.push(format!(
            "expserver_worker_connections_accepted_total summed over the workers moved by {workers}, expected exactly {}",
            FOUND + NOT_FOUND + 1
        ));
    }
    let received = delta("expserver_received_bytes_total");
    seen.push(format!("expserver_received_bytes_total +{received}"));
    if received < sent_request_bytes as f64 {
        problems.push(format!(
            "expserver_received_bytes_total moved by {received}, less than the {sent_request_bytes} bytes of the requests"
        ));
    }
    let sent = delta("expserver_sent_bytes_total");
    seen.push(format!("expserver_sent_bytes_total +{sent}"));
    if sent < (FOUND * sample.len()) as f64 {
        problems.push(format!(
            "expserver_sent_bytes_total moved by {sent}, less than the {} body bytes sent",
            FOUND * sample.len()
        ));
    }
    let count = delta("expserver_request_duration_seconds_count");
    seen.push(format!("expserver_request_duration_seconds_count +{count}"));
    let answered = (FOUND + NOT_FOUND) as f64;
    if !(answered..=answered + 1.0).contains(&count) {
        problems.push(format!(
            "expserver_request_duration_seconds_count moved by {count}, expected {answered} (or one more: the first scrape)"
        ));
    }
    for problem in histogram_problems(&after) {
        problems.push(problem);
    }
    problems.verdict(seen.join("\n"))
}

/// `Accept: application/json` gets one JSON object with the same family names.
pub fn json_form(port: u16) -> Verdict {
    let response = get(FIRST, port, Some("application/json"))?;
    let mut problems = Problems::default();
    problems.expect_status(&response, 200);
    let kind = response.header("content-type").unwrap_or_default();
    if !kind.starts_with("application/json") {
        problems.push(format!("content-type {kind:?}, expected application/json"));
    }
    match serde_json::from_slice::<Value>(&response.body) {
        Ok(Value::Object(object)) => {
            let missing: Vec<&str> = FAMILIES
                .iter()
                .map(|(name, _)| *name)
                .filter(|name| !object.contains_key(*name))
                .collect();
            if !missing.is_empty() {
                problems.push(format!("keys missing: {}", missing.join(", ")));
            }
        }
        Ok(other) => problems.push(format!("not a JSON object: {:.80}", other.to_string())),
        Err(e) => problems.push(format!("not JSON: {e}")),
    }
    problems.verdict(format!(
        "{} ({} bytes of JSON)",
        response.summary(),
        response.body.len()
    ))
}

/// The route admits only 127.0.0.1: 127.0.0.2 gets a well-formed 403 and no counters, and
/// `expserver_denied_total` counts it.
pub fn refused_elsewhere(port: u16) -> Verdict {
    let (_, before) = scrape(port)?;
    let refused = get(SECOND, port, None)?;
    let (_, after) = scrape(port)?;
    let mut problems = Problems::default();
    problems.expect_status(&refused, 403);
    problems.expect_header("server", refused.header("server").as_deref(), "eXpServer");
    if String::from_utf8_lossy(&refused.body).contains("expserver_") {
        problems.push("the refused client was shown the counters".into());
    }
    let denied = after.value("expserver_denied_total") - before.value("expserver_denied_total");
    if denied != 1.0 {
        problems.push(format!(
            "expserver_denied_total moved by {denied}, expected 1"
        ));
    }
    let counted = series(
        "expserver_requests_total",
        &[("route", METRICS_PATH), ("code", "403")],
    );
    let moved = after.value(&counted) - before.value(&counted);
    if moved != 1.0 {
        problems.push(format!("{counted} moved by {moved}, expected 1"));
    }
    problems.verdict(format!(
        "from {SECOND}: {}; expserver_denied_total +{denied}; {counted} +{moved}",
        refused.summary()
    ))
}

/// A request with a marker, a `Referer` and a `User-Agent` shows up in the access log within
/// [`LOG_WAIT`] as one line of nginx's `combined` format.
pub fn access_log_line(run: &StageRun, port: u16) -> Verdict {
    let sample = fs::read(run.sample_file()).map_err(|e| format!("cannot read sample.txt: {e}"))?;
    let nonce = Rng::from_clock().next_u64();
    let path = format!("/sample.txt?log-{nonce}");
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: localhost:{port}\r\nReferer: http://example.com/from\r\nUser-Agent: checker/{nonce}\r\n\r\n"
    );
    let response = exchange_from(FIRST, port, request.as_bytes(), Body::Read, false)?.response;
    let log = access_log(&run.layout);
    let start = Instant::now();
    let line = loop {
        let text = fs::read_to_string(&log).unwrap_or_default();
        if let Some(line) = text.lines().find(|l| l.contains(&format!("log-{nonce}"))) {
            break Some(line.to_string());
        }
        if start.elapsed() > LOG_WAIT {
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let Some(line) = line else {
        return Err(format!(
            "{}; no line with log-{nonce} in {} after {} ms",
            response.summary(),
            log.display(),
            LOG_WAIT.as_millis()
        ));
    };
    let took = start.elapsed();
    let mut problems = Problems::default();
    let want_end = format!(
        "] \"GET {path} HTTP/1.1\" 200 {} \"http://example.com/from\" \"checker/{nonce}\"",
        sample.len()
    );
    if !line.starts_with("127.0.0.1 - - [") {
        problems.push("the line does not start with `127.0.0.1 - - [`".into());
    }
    if !line.ends_with(&want_end) {
        problems.push(format!("the line does not end with {want_end:?}"));
    }
    let time = line
        .split_once('[')
        .and_then(|(_, rest)| rest.split_once(']'))
        .map(|(time, _)| time)
        .unwrap_or("");
    if !is_log_time(time) {
        problems.push(format!(
            "time {time:?} is not like 02/Dec/2026:01:42:22 +0000"
        ));
    }
    problems.verdict(format!("after {} ms: {line}", took.as_millis()))
}

/// `dd/Mon/yyyy:hh:mm:ss +zzzz`.
fn is_log_time(time: &str) -> bool {
    let b = time.as_bytes();
    let digits = |range: std::ops::Range<usize>| {
        b.get(range)
            .is_some_and(|d| d.iter().all(u8::is_ascii_digit))
    };
    b.len() == 26
        && digits(0..2)
        && b[2] == b'/'
        && b[3..6].iter().all(u8::is_ascii_alphabetic)
        && b[6] == b'/'
        && digits(7..11)
        && b[11] == b':'
        && digits(12..14)
        && digits(15..17)
        && digits(18..20)
        && b[20] == b' '
        && (b[21] == b'+' || b[21] == b'-')
        && digits(22..26)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_parser_reads_the_format_and_refuses_broken_lines() {
        let text =
            "# HELP a_total A.\n# TYPE a_total counter\na_total{code=\"200\",route=\"/\"} 3\n\
                    b 1.5\nc{le=\"+Inf\",x=\"q\\\"u\"} 2\n";
        let parsed = parse(text).unwrap();
        assert_eq!(parsed.types["a_total"], "counter");
        assert_eq!(
            parsed.value(&series("a_total", &[("route", "/"), ("code", "200")])),
            3.0
        );
        assert_eq!(parsed.value("b"), 1.5);
        assert_eq!(
            parsed.value(&series("c", &[("x", "q\"u"), ("le", "+Inf")])),
            2.0
        );
        for broken in [
            "a_total{code=200} 1",
            "a_total{code=\"2\" 1",
            "9a 1",
            "a x",
            "a",
        ] {
            assert!(parse(broken).is_err(), "{broken}");
        }
    }

    #[test]
    fn a_histogram_that_is_not_cumulative_fails() {
        let good = "h_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 0.1\nh_count 2\n"
            .replace("h_", "expserver_request_duration_seconds_");
        assert!(histogram_problems(&parse(&good).unwrap()).is_empty());
        let bad = good.replace("{le=\"1\"} 1", "{le=\"1\"} 3");
        assert!(!histogram_problems(&parse(&bad).unwrap()).is_empty());
        let bad = good.replace("_count 2", "_count 5");
        assert!(!histogram_problems(&parse(&bad).unwrap()).is_empty());
    }

    #[test]
    fn log_times() {
        assert!(is_log_time("02/Dec/2026:01:42:22 +0000"));
        assert!(!is_log_time("2026-12-02T01:42:22Z"));
    }
}
