//! Running wrk, reading its report, and deciding whether a run counts.
//!
//! wrk prints a rate even when every answer was a 404 or half the connections failed, and a fast
//! error is faster than a real answer: a benchmark that takes the rate at face value rewards the
//! broken server. So a run is **invalid** when wrk reports any non-2xx/3xx answer or any socket
//! error (connect, read, write, timeout), when it made no request, or when the answers were on
//! average smaller than the body they should carry (which also catches 3xx answers, which wrk does
//! not count as errors, and a server answering a 200 with an empty body).
//!
//! wrk runs pinned to the client CPU (see the module docs of [`super`]), for a bounded time: it is
//! killed if it outlives its duration by [`WRK_GRACE`].

use std::fs;
use std::path::Path;
use std::time::Duration;

use super::report::Sample;
use crate::process::{describe_status, Proc};

/// How long wrk may run past its `-d` before it is killed.
pub const WRK_GRACE: Duration = Duration::from_secs(40);

/// What wrk reported.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WrkReport {
    pub requests: u64,
    pub bytes_read: f64,
    pub requests_per_sec: f64,
    pub bytes_per_sec: f64,
    /// The "Socket errors: ..." line, if any counter in it is not zero.
    pub socket_errors: Option<String>,
    /// How many answers were 4xx or 5xx ("Non-2xx or 3xx responses: N").
    pub non_2xx_3xx: u64,
}

/// What one wrk run is asked to do.
#[derive(Clone, Debug)]
pub struct WrkRun<'a> {
    /// `taskset -c CPU` (or empty), put before wrk.
    pub pin: &'a [String],
    pub wrk: &'a Path,
    pub threads: u32,
    pub connections: u32,
    pub seconds: u64,
    /// Send `Connection: close` on every request (a new connection per request).
    pub close: bool,
    /// More request headers, `Name: value` (e.g. `Accept-Encoding: gzip`).
    pub headers: &'a [String],
    pub url: String,
    /// The smallest body a correct answer carries, for the size check.
    pub min_body: u64,
    /// Where wrk's output goes.
    pub log: &'a Path,
}

/// Parses a wrk size such as `1.23GB` or `512.00B` (wrk's units are powers of 1024).
pub fn parse_size(text: &str) -> Option<f64> {
    let text = text.trim();
    let split = text
        .find(|c: char| c.is_ascii_alphabetic())
        .unwrap_or(text.len());
    let number: f64 = text[..split].trim().parse().ok()?;
    let scale = match &text[split..] {
        "" | "B" => 1.0,
        "KB" => 1024.0,
        "MB" => 1024.0 * 1024.0,
        "GB" => 1024.0 * 1024.0 * 1024.0,
        "TB" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    };
    Some(number * scale)
}

/// Reads wrk's report; `None` if the lines every report has are missing.
pub fn parse_report(output: &str) -> Option<WrkReport> {
    let mut report = WrkReport::default();
    let (mut rate, mut transfer, mut totals) = (false, false, false);
    for line in output.lines().map(str::trim) {
        if let Some(value) = line.strip_prefix("Requests/sec:") {
            report.requests_per_sec = value.trim().parse().ok()?;
            rate = true;
        } else if let Some(value) = line.strip_prefix("Transfer/sec:") {
            report.bytes_per_sec = parse_size(value)?;
            transfer = true;
        } else if let Some(value) = line.strip_prefix("Socket errors:") {
            // "connect 0, read 3, write 0, timeout 0"
            let any = value.split(',').any(|part| {
                part.split_whitespace()
                    .nth(1)
                    .and_then(|n| n.parse::<u64>().ok())
                    .is_none_or(|n| n > 0)
            });
            if any {
                report.socket_errors = Some(line.to_string());
            }
        } else if let Some(value) = line.strip_prefix("Non-2xx or 3xx responses:") {
            report.non_2xx_3xx = value.trim().parse().ok()?;
        } else if let Some((count, rest)) = line.split_once(" requests in ") {
            // "61200 requests in 5.00s, 70.10MB read"
            report.requests = count.trim().parse().ok()?;
            let read = rest.split_once(", ")?.1.strip_suffix(" read")?;
            report.bytes_read = parse_size(read)?;
            totals = true;
        }
    }
    (rate && transfer && totals).then_some(report)
}

/// Decides whether a report counts, given the smallest body a right answer carries.
/// `Ok` holds nothing: the caller picks the figure.
pub fn verdict(report: &WrkReport, min_body: u64) -> Result<(), String> {
    let mut problems = Vec::new();
    if report.non_2xx_3xx > 0 {
        problems.push(format!("{} answers were not 2xx/3xx", report.non_2xx_3xx));
    }
    if let Some(line) = &report.socket_errors {
        problems.push(line.clone());
    }
    if report.requests == 0 {
        problems.push("no request completed".to_string());
    } else {
        // wrk rounds the bytes to two decimals of its unit: allow that much.
        let per_answer = report.bytes_read / report.requests as f64;
        if per_answer + 0.01 * per_answer < min_body as f64 {
            problems.push(format!(
                "answers averaged {per_answer:.0} bytes, less than the {min_body}-byte body"
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

/// Runs wrk once and turns its report into a sample with `figure` (req/s or MiB/s).
pub fn run(spec: &WrkRun, figure: impl Fn(&WrkReport) -> f64) -> Sample {
    let mut argv: Vec<String> = spec.pin.to_vec();
    argv.push(spec.wrk.to_string_lossy().into_owned());
    argv.extend([
        format!("-t{}", spec.threads.clamp(1, spec.connections.max(1))),
        format!("-c{}", spec.connections),
        format!("-d{}s", spec.seconds),
        "--timeout".into(),
        "10s".into(),
    ]);
    if spec.close {
        argv.extend(["-H".to_string(), "Connection: close".to_string()]);
    }
    for header in spec.headers {
        argv.extend(["-H".to_string(), header.clone()]);
    }
    argv.push(spec.url.clone());
    let invalid = |reason: String| Sample::Invalid {
        value: None,
        reason,
    };
    let cwd = spec.log.parent().unwrap_or(Path::new("/"));
    let mut proc = match Proc::spawn(&argv, cwd, &[], spec.log) {
        Ok(proc) => proc,
        Err(e) => return invalid(format!("cannot start wrk: {e:#}")),
    };
    let Some(status) = proc.wait_timeout(Duration::from_secs(spec.seconds) + WRK_GRACE) else {
        proc.kill();
        return invalid("wrk did not finish in time and was killed".to_string());
    };
    let output = fs::read_to_string(spec.log).unwrap_or_default();
    if !status.success() {
        return invalid(format!(
            "wrk {}: {}",
            describe_status(status),
            output.trim()
        ));
    }
    let Some(report) = parse_report(&output) else {
        return invalid(format!("cannot read wrk's report: {}", output.trim()));
    };
    let value = figure(&report);
    match verdict(&report, spec.min_body) {
        Ok(()) => Sample::Valid(value),
        Err(reason) => Sample::Invalid {
            value: Some(value),
            reason,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLEAN: &str = "Running 3s test @ http://127.0.0.1:4000/small.txt\n\
        \x20 1 threads and 50 connections\n\
        \x20 Thread Stats   Avg      Stdev     Max   +/- Stdev\n\
        \x20   Latency     1.20ms  300.00us   5.00ms   90.00%\n\
        \x20   Req/Sec    40.00k     2.00k   45.00k    70.00%\n\
        \x20 120000 requests in 3.00s, 150.00MB read\n\
        Requests/sec:  40000.00\n\
        Transfer/sec:     50.00MB\n";

    #[test]
    fn reads_a_clean_report() {
        let report = parse_report(CLEAN).unwrap();
        assert_eq!(report.requests, 120_000);
        assert_eq!(report.requests_per_sec, 40_000.0);
        assert_eq!(report.bytes_per_sec, 50.0 * 1024.0 * 1024.0);
        assert_eq!(report.bytes_read, 150.0 * 1024.0 * 1024.0);
        assert_eq!(report.socket_errors, None);
        assert_eq!(report.non_2xx_3xx, 0);
        assert_eq!(verdict(&report, 1024), Ok(()));
    }

    #[test]
    fn errors_make_a_run_invalid() {
        let text = CLEAN.replace(
            "Requests/sec",
            "  Socket errors: connect 0, read 3, write 0, timeout 0\n  Non-2xx or 3xx responses: 7\nRequests/sec",
        );
        let report = parse_report(&text).unwrap();
        assert_eq!(report.non_2xx_3xx, 7);
        let reason = verdict(&report, 1024).unwrap_err();
        assert!(reason.contains("7 answers"), "{reason}");
        assert!(reason.contains("read 3"), "{reason}");
    }

    #[test]
    fn zero_socket_errors_are_no_error() {
        let text = CLEAN.replace(
            "Requests/sec",
            "  Socket errors: connect 0, read 0, write 0, timeout 0\nRequests/sec",
        );
        assert_eq!(verdict(&parse_report(&text).unwrap(), 1024), Ok(()));
    }

    #[test]
    fn small_answers_make_a_run_invalid() {
        // 120000 answers in 15 MB is about 131 bytes each: not a 1 KiB file (a 304 or a redirect).
        let text = CLEAN.replace("150.00MB read", "15.00MB read");
        let reason = verdict(&parse_report(&text).unwrap(), 1024).unwrap_err();
        assert!(reason.contains("less than the 1024-byte body"), "{reason}");
        let none = CLEAN.replace("120000 requests", "0 requests");
        assert!(verdict(&parse_report(&none).unwrap(), 1).is_err());
    }

    #[test]
    fn garbage_is_no_report() {
        assert_eq!(parse_report("garbage"), None);
        assert_eq!(
            parse_report(&CLEAN.replace("Transfer/sec", "Transfer")),
            None
        );
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("512.00B"), Some(512.0));
        assert_eq!(parse_size("1.50KB"), Some(1536.0));
        assert_eq!(parse_size("2GB"), Some(2.0 * 1024.0 * 1024.0 * 1024.0));
        assert_eq!(parse_size("1.0XB"), None);
    }
}
