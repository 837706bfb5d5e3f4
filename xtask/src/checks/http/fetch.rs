//! Stage 16: the grader's five `fetch` checks against the grader's config.
//!
//! The grader uses Node's `fetch`, which keeps connections alive, rejects bare-LF header lines,
//! joins duplicate headers with ", " and, with `redirect: 'manual'`, hands back a 302 as it is.
//! The checker sends the request head `fetch` sends and reads the answer the same way. The proxy
//! check compares the proxied answer with Python's own, allowing the `Date` values to differ by
//! up to one second (the grader compares them exactly and so fails at random).

use std::fs;
use std::time::{Duration, SystemTime};

use super::client::fetch;
use super::Problems;
use crate::checks::wire::show;
use crate::checks::Verdict;
use crate::runner::StageRun;

/// File server (1)-(3): status 200 and the exact `Content-Type`; stricter, CRLF and the file's
/// exact bytes.
pub fn file(run: &StageRun, port: u16, path: &str, content_type: &str) -> Verdict {
    let response = fetch(port, path)?;
    let mut problems = Problems::default();
    problems.expect_status(&response, 200);
    problems.expect_header(
        "content-type",
        response.header("content-type").as_deref(),
        content_type,
    );
    problems.expect_crlf(&response);
    let file = run.layout.public().join(path.trim_start_matches('/'));
    let want = fs::read(&file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    if response.body != want {
        problems.push(format!(
            "the body ({} bytes) is not {} ({} bytes)",
            response.body.len(),
            file.display(),
            want.len()
        ));
    }
    problems.verdict(response.summary())
}

/// Redirect: the exact status and `Location`, not followed.
pub fn redirect(port: u16, path: &str, status: u16, location: &str) -> Verdict {
    let response = fetch(port, path)?;
    let mut problems = Problems::default();
    problems.expect_status(&response, status);
    problems.expect_header("location", response.header("location").as_deref(), location);
    problems.expect_header("server", response.header("server").as_deref(), "eXpServer");
    problems.expect_crlf(&response);
    problems.verdict(response.summary())
}

/// HTTP Proxy: `path` from Python on `upstream`, then through the proxy on `port`. Statuses
/// equal, every header Python sent present with the same value (Date within 1 s), bodies equal.
pub fn proxy(port: u16, upstream: u16, path: &str) -> Verdict {
    let direct = fetch(upstream, path)
        .map_err(|e| format!("straight from Python on port {upstream}: {e}"))?;
    let proxied =
        fetch(port, path).map_err(|e| format!("through the proxy on port {port}: {e}"))?;
    let mut problems = Problems::default();
    if proxied.status != direct.status {
        problems.push(format!(
            "status {} through the proxy, {} from Python",
            proxied.status, direct.status
        ));
    }
    for (name, _) in &direct.headers {
        let want = direct.header(name).unwrap_or_default();
        let Some(got) = proxied.header(name) else {
            problems.push(format!("header {name} (\"{want}\" from Python) is missing"));
            continue;
        };
        if name.eq_ignore_ascii_case("date") {
            if let Err(e) = dates_close(&got, &want) {
                problems.push(e);
            }
        } else if got != want {
            problems.push(format!(
                "header {name}: \"{got}\" through the proxy, \"{want}\" from Python"
            ));
        }
    }
    if proxied.body != direct.body {
        problems.push(format!(
            "body differs: proxy {} ({} bytes), Python {} ({} bytes)",
            show(&proxied.body),
            proxied.body.len(),
            show(&direct.body),
            direct.body.len()
        ));
    }
    problems.verdict(format!(
        "Python: {}\nproxy:  {}",
        direct.summary(),
        proxied.summary()
    ))
}

/// Two HTTP dates at most one second apart.
fn dates_close(a: &str, b: &str) -> Result<(), String> {
    let parse =
        |s: &str| httpdate::parse_http_date(s).map_err(|_| format!("unreadable Date \"{s}\""));
    let (a, b): (SystemTime, SystemTime) = (parse(a)?, parse(b)?);
    let gap = a
        .duration_since(b)
        .or_else(|_| b.duration_since(a))
        .unwrap_or_default();
    if gap > Duration::from_secs(1) {
        return Err(format!("the Date headers are {} s apart", gap.as_secs()));
    }
    Ok(())
}
