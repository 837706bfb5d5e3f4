//! Stage 18: IP allow and deny lists, checked from two client addresses.
//!
//! On Linux every address of 127.0.0.0/8 is this machine, so a second client needs no second
//! machine: a socket bound to 127.0.0.2 before it connects (see
//! [`crate::checks::wire::connect_from`], what `curl --interface 127.0.0.2` does) reaches the
//! server from 127.0.0.2. Each check sends the same request from 127.0.0.1 and from 127.0.0.2 and
//! requires the answer the route's lists call for: the normal answer for an allowed client, and
//! `403 Forbidden` (well formed: `Server`, `Date`, an honest `Content-Length`, CRLF) for a
//! refused one.
//!
//! The stage's config is the grader's (so the stage-17 checks still run on it) plus routes under
//! `/ip/` on port 1, one per rule: a whitelist alone, a blacklist on every kind of route (file,
//! directory listing, redirect, proxy), CIDR blocks (our extension) and both lists at once. The
//! file routes serve `<tmp>/ip-site/`, a folder beside `public/` written with the config, so
//! the directory listing of `public/` the stage-17 checks read is unchanged.
//!
//! That a refused client never reaches the upstream is checked in the upstream's own log: Python
//! logs the request line of every request it answers, and the refused request carries a marker
//! in its query that must not show up there, while the same request from an allowed client
//! must.

use std::fs;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::{json, Value};

use super::client::{decode_gzip, exchange_from, fetch_request, Body, Response};
use super::config::{graders_json, write};
use super::Problems;
use crate::checks::wire::{show, Rng};
use crate::checks::Verdict;
use crate::layout::Layout;
use crate::process::{describe_status, Proc};
use crate::runner::StageRun;
use crate::target::Ports;

/// The client the lists are written for.
pub const FIRST: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));
/// The other client, on the same machine.
pub const SECOND: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
/// A third client, in neither list of the "both lists" route.
pub const THIRD: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3));

/// How long a server given a bad IP entry may take to exit.
const BAD_CONFIG_EXIT: Duration = Duration::from_secs(5);

/// One file route of the stage's config: its prefix and its two lists.
pub struct FileRoute {
    pub req_path: &'static str,
    pub whitelist: &'static [&'static str],
    pub blacklist: &'static [&'static str],
}

/// The file routes added to port 1; each serves a copy of `sample.txt` from `<tmp>/ip-site`.
pub const FILE_ROUTES: [FileRoute; 5] = [
    FileRoute {
        req_path: "/ip/white",
        whitelist: &["127.0.0.1"],
        blacklist: &[],
    },
    FileRoute {
        req_path: "/ip/deny/files",
        whitelist: &[],
        blacklist: &["127.0.0.2"],
    },
    FileRoute {
        req_path: "/ip/cidr-white",
        whitelist: &["10.0.0.0/8", "127.0.0.0/31"],
        blacklist: &[],
    },
    FileRoute {
        req_path: "/ip/cidr-black",
        whitelist: &[],
        blacklist: &["127.0.0.0/31"],
    },
    FileRoute {
        req_path: "/ip/both",
        whitelist: &["127.0.0.1", "127.0.0.2"],
        blacklist: &["127.0.0.2"],
    },
];

/// The redirect route that refuses 127.0.0.2.
pub const DENIED_REDIRECT: &str = "/ip/deny/redirect";
/// The proxy route that refuses 127.0.0.2.
pub const DENIED_PROXY: &str = "/ip/deny/proxy";
/// The JSON path of the bad entry in the config-error check.
pub const BAD_ENTRY_PATH: &str = "servers[0].routes[0].ip_whitelist[1]";
/// The bad entry itself.
pub const BAD_ENTRY: &str = "127.0.0.300";

/// Where the redirect route sends an allowed client.
pub fn redirect_location(ports: &Ports) -> String {
    format!("http://localhost:{}/", ports.role(1))
}

/// The config of stage 18 (a [`crate::stages::ConfigWriter`]): the grader's, moved to `ports`,
/// plus the `/ip/` routes on port 1, and the folder its file routes serve.
pub fn config(layout: &Layout, ports: &Ports) -> Result<PathBuf> {
    write_site(layout)?;
    let mut config = graders_json(layout, ports)?;
    let routes = config
        .get_mut("servers")
        .and_then(|s| s.get_mut(0))
        .and_then(|s| s.get_mut("routes"))
        .and_then(Value::as_array_mut)
        .context("the grader's config has no routes on its first server")?;
    for route in &FILE_ROUTES {
        routes.push(json!({
            "req_path": route.req_path,
            "type": "file_serve",
            "dir_path": "../ip-site",
            "ip_whitelist": route.whitelist,
            "ip_blacklist": route.blacklist,
        }));
    }
    routes.push(json!({
        "req_path": DENIED_REDIRECT,
        "type": "redirect",
        "http_status_code": 302,
        "redirect_url": redirect_location(ports),
        "ip_blacklist": ["127.0.0.2"],
    }));
    routes.push(json!({
        "req_path": DENIED_PROXY,
        "type": "reverse_proxy",
        "upstreams": [format!("localhost:{}", ports.upstream)],
        "ip_blacklist": ["127.0.0.2"],
    }));
    write(layout, "stage18.json", &config)
}

/// The grader's config with a whitelist on its first route whose second entry is not an
/// address ([`BAD_ENTRY`] at [`BAD_ENTRY_PATH`]).
fn bad_config(layout: &Layout, ports: &Ports) -> Result<PathBuf> {
    let mut config = graders_json(layout, ports)?;
    let route = config
        .get_mut("servers")
        .and_then(|s| s.get_mut(0))
        .and_then(|s| s.get_mut("routes"))
        .and_then(|r| r.get_mut(0))
        .and_then(Value::as_object_mut)
        .context("the grader's config has no first route")?;
    route.insert("ip_whitelist".into(), json!(["127.0.0.1", BAD_ENTRY]));
    write(layout, "stage18-bad-entry.json", &config)
}

/// `<tmp>/ip-site/<req_path>/sample.txt` for every file route: what `dir_path: ../ip-site`
/// serves (the course's file routes add the whole request path to `dir_path`).
fn write_site(layout: &Layout) -> Result<()> {
    let sample = layout.public().join("sample.txt");
    for route in &FILE_ROUTES {
        let dir = site(layout).join(route.req_path.trim_start_matches('/'));
        fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        fs::copy(&sample, dir.join("sample.txt"))
            .with_context(|| format!("cannot copy {}", sample.display()))?;
    }
    Ok(())
}

/// The folder the `/ip/` file routes serve.
fn site(layout: &Layout) -> PathBuf {
    layout.root().join("ip-site")
}

/// What a client must get.
#[derive(Clone, Debug)]
pub enum Expect {
    /// 200 and the bytes of `sample.txt`.
    Sample,
    /// 200 and an HTML directory listing.
    Listing,
    /// A redirect to this location.
    Redirect(String),
    /// 403 Forbidden, well formed.
    Forbidden,
}

impl Expect {
    fn describe(&self) -> String {
        match self {
            Expect::Sample => "200 and sample.txt".into(),
            Expect::Listing => "200 and a text/html listing".into(),
            Expect::Redirect(location) => format!("302 to {location}"),
            Expect::Forbidden => "403 Forbidden".into(),
        }
    }
}

/// One request of a check: from where, which path, and the answer it must get.
#[derive(Clone, Debug)]
pub struct Case {
    pub from: IpAddr,
    pub path: String,
    pub expect: Expect,
}

impl Case {
    pub fn new(from: IpAddr, path: &str, expect: Expect) -> Case {
        Case {
            from,
            path: path.to_string(),
            expect,
        }
    }
}

/// The input and expected lines of a check made of `cases`, for its report.
pub fn describe(cases: &[Case]) -> (String, String) {
    let input = cases
        .iter()
        .map(|c| format!("from {}: GET {}", c.from, c.path))
        .collect::<Vec<_>>()
        .join("\n");
    let expected = cases
        .iter()
        .map(|c| format!("from {}: {}", c.from, c.expect.describe()))
        .collect::<Vec<_>>()
        .join("\n");
    (input, expected)
}

/// `GET path` from the address `from`, framed by `Content-Length` (or chunks), a gzip body undone.
fn get_from(from: IpAddr, port: u16, path: &str) -> Result<Response, String> {
    let request = fetch_request(port, "GET", path);
    let mut response = exchange_from(from, port, request.as_bytes(), Body::Read, false)?.response;
    // The request says `accept-encoding: gzip` as Node's does; from stage 19 on the answer may
    // be compressed, and is undone as Node's `fetch` undoes it.
    decode_gzip(&mut response)?;
    Ok(response)
}

/// Sends every case to port `port` and requires its answer.
pub fn run_cases(run: &StageRun, port: u16, cases: &[Case]) -> Verdict {
    let sample = fs::read(run.sample_file()).map_err(|e| format!("cannot read sample.txt: {e}"))?;
    let mut problems = Problems::default();
    let mut seen = Vec::new();
    for case in cases {
        let what = format!("from {}: GET {}", case.from, case.path);
        let response = match get_from(case.from, port, &case.path) {
            Ok(response) => response,
            Err(e) => {
                problems.push(format!("{what}: {e}"));
                continue;
            }
        };
        seen.push(format!("{what} -> {}", response.summary()));
        let mut found = Problems::default();
        match &case.expect {
            Expect::Sample => {
                found.expect_status(&response, 200);
                if response.status == 200 && response.body != sample {
                    found.push(format!(
                        "the body is not sample.txt: {}",
                        show(&response.body)
                    ));
                }
            }
            Expect::Listing => {
                found.expect_status(&response, 200);
                let kind = response.header("content-type").unwrap_or_default();
                if !kind.starts_with("text/html") {
                    found.push(format!("content-type {kind:?}, expected text/html"));
                }
            }
            Expect::Redirect(location) => {
                found.expect_status(&response, 302);
                found.expect_header("location", response.header("location").as_deref(), location);
            }
            Expect::Forbidden => expect_forbidden(&mut found, &response),
        }
        problems.extend_prefixed(&what, found);
    }
    problems.verdict(seen.join("\n"))
}

/// A refused client's answer: 403 with `Server: eXpServer`, a `Date`, a `Content-Length` equal
/// to the body and CRLF line ends, and nothing of what the route would have given.
fn expect_forbidden(problems: &mut Problems, response: &Response) {
    problems.expect_status(response, 403);
    problems.expect_header("server", response.header("server").as_deref(), "eXpServer");
    problems.expect_crlf(response);
    if response.header("date").is_none() {
        problems.push("no Date header".into());
    }
    match response.content_length() {
        Some(length) if length == response.body.len() => {}
        Some(length) => problems.push(format!(
            "content-length {length} but {} body bytes",
            response.body.len()
        )),
        None => problems.push("no content-length".into()),
    }
    if response.header("location").is_some() {
        problems.push("a refused client was told where to go (a Location header)".into());
    }
}

/// The proxy route refuses 127.0.0.2 without contacting the upstream, and forwards 127.0.0.1.
///
/// Both requests carry a fresh marker in their query; Python logs every request line it
/// answers, so the refused one's marker must be absent from its log once the allowed one's is
/// there.
pub fn proxy_never_contacted(run: &StageRun, port: u16) -> Verdict {
    let nonce = Rng::from_clock().next_u64();
    let refused = format!("{DENIED_PROXY}/sample.txt?refused-{nonce}");
    let allowed = format!("{DENIED_PROXY}/sample.txt?allowed-{nonce}");
    let mut problems = Problems::default();
    let mut seen = Vec::new();
    match get_from(SECOND, port, &refused) {
        Ok(response) => {
            seen.push(format!(
                "from {SECOND}: GET {refused} -> {}",
                response.summary()
            ));
            let mut found = Problems::default();
            expect_forbidden(&mut found, &response);
            problems.extend_prefixed(&format!("from {SECOND}"), found);
        }
        Err(e) => problems.push(format!("from {SECOND}: GET {refused}: {e}")),
    }
    match get_from(FIRST, port, &allowed) {
        Ok(response) => {
            seen.push(format!(
                "from {FIRST}: GET {allowed} -> {}",
                response.summary()
            ));
            let server = response.header("server").unwrap_or_default();
            if server == "eXpServer" {
                problems.push(format!(
                    "from {FIRST}: the answer came from the server itself ({}), not from the upstream",
                    response.status_line
                ));
            }
        }
        Err(e) => problems.push(format!("from {FIRST}: GET {allowed}: {e}")),
    }
    let log = run.upstream_log();
    let heard: Vec<&str> = log.lines().filter(|l| l.contains("GET ")).collect();
    seen.push(format!(
        "the upstream's log: {}",
        if heard.is_empty() {
            "no request".to_string()
        } else {
            heard.join(" | ")
        }
    ));
    if !log.contains(&format!("allowed-{nonce}")) {
        problems.push(format!(
            "the upstream never received the allowed request (from {FIRST})"
        ));
    }
    if log.contains(&format!("refused-{nonce}")) {
        problems.push(format!(
            "the upstream received the refused request (from {SECOND}): the check must come before the proxy connects"
        ));
    }
    problems.verdict(seen.join("\n"))
}

/// Started with a config whose whitelist has an entry that is not an address, the server
/// exits with a non-zero status within [`BAD_CONFIG_EXIT`], naming the entry's JSON path, and
/// without panicking.
pub fn bad_entry(run: &mut StageRun) -> Verdict {
    // The server of the previous checks holds the ports the bad config names.
    run.stop_server();
    let config = bad_config(&run.layout, &run.ports).map_err(|e| format!("{e:#}"))?;
    let argv = run.target.argv(run.stage, &run.ports, &config);
    let log = run.layout.root().join("server-bad-entry.log");
    let mut server = Proc::spawn(&argv, &run.layout.app(), &[], &log)
        .map_err(|e| format!("cannot start {}: {e:#}", argv.join(" ")))?;
    let status = server.wait_timeout(BAD_CONFIG_EXIT);
    let output = server.log_tail(4000);
    let observed = format!(
        "{}; output: {}",
        status.map_or_else(
            || format!("still running after {} s", BAD_CONFIG_EXIT.as_secs()),
            describe_status
        ),
        output.trim()
    );
    let mut problems = Problems::default();
    match status {
        None => problems.push("the server started with a bad IP entry".into()),
        Some(status) if status.code().is_some_and(|c| c != 0) => {}
        Some(status) => problems.push(format!(
            "the server {}, expected a non-zero exit status",
            describe_status(status)
        )),
    }
    if !output.contains(BAD_ENTRY_PATH) {
        problems.push(format!("the message does not name {BAD_ENTRY_PATH}"));
    }
    if output.contains("panicked") {
        problems.push("the server panicked".into());
    }
    problems.verdict(observed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::http::client::parse_response;

    fn ports() -> Ports {
        Ports {
            listen: vec![41001, 41002, 41003, 41004],
            upstream: 43000,
        }
    }

    #[test]
    fn the_config_adds_the_ip_routes_to_the_graders_and_writes_their_files() {
        let layout = Layout::new().unwrap();
        let path = config(&layout, &ports()).unwrap();
        assert!(
            !path.starts_with(layout.public()),
            "outside the listed folder"
        );
        let config: Value = serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
        let routes = config["servers"][0]["routes"].as_array().unwrap();
        assert_eq!(routes[0]["req_path"], "/", "the grader's routes come first");
        assert_eq!(routes[1]["req_path"], "/redirect");
        let proxy = routes
            .iter()
            .find(|r| r["req_path"] == DENIED_PROXY)
            .unwrap();
        assert_eq!(proxy["upstreams"][0], "localhost:43000");
        assert_eq!(proxy["ip_blacklist"][0], "127.0.0.2");
        assert_eq!(config["servers"][1]["listeners"][0]["port"], 41002);
        for route in &FILE_ROUTES {
            let file = site(&layout)
                .join(route.req_path.trim_start_matches('/'))
                .join("sample.txt");
            assert!(file.is_file(), "{}", file.display());
        }
        let bad = bad_config(&layout, &ports()).unwrap();
        let bad: Value = serde_json::from_str(&fs::read_to_string(bad).unwrap()).unwrap();
        assert_eq!(bad["servers"][0]["routes"][0]["ip_whitelist"][1], BAD_ENTRY);
    }

    fn problems_of(raw: &[u8]) -> String {
        let response = parse_response(raw).unwrap();
        let mut problems = Problems::default();
        expect_forbidden(&mut problems, &response);
        problems.verdict(String::new()).err().unwrap_or_default()
    }

    #[test]
    fn a_sloppy_403_fails() {
        let good = b"HTTP/1.1 403 Forbidden\r\nServer: eXpServer\r\nDate: Tue, 01 Dec 2026 00:00:00 GMT\r\nContent-Length: 2\r\n\r\nno";
        assert_eq!(problems_of(good), "");
        let text = problems_of(b"HTTP/1.1 403 Forbidden\nServer: x\n\nno");
        for wanted in ["server: \"x\"", "bare LF", "no Date", "no content-length"] {
            assert!(text.contains(wanted), "{wanted}: {text}");
        }
        let text = problems_of(
            b"HTTP/1.1 302 Found\r\nServer: eXpServer\r\nDate: x\r\nLocation: /\r\nContent-Length: 5\r\n\r\nab",
        );
        for wanted in ["status 302", "content-length 5 but 2", "Location"] {
            assert!(text.contains(wanted), "{wanted}: {text}");
        }
    }
}
