//! The HTTP stages (14-17, and the phase-3 stages on the same config): the grader's checks, and
//! the ones it should have.
//!
//! From stage 14 on the server speaks HTTP, so the checks stop comparing echoed bytes and start
//! reading responses. The grader does that loosely (the first chunk of a raw socket for 14 and
//! 15, Node's `fetch` for 16 and 17) and compares a status and a few header values. The checker
//! sends the same requests with the same pass rules, through a small hand-written client that
//! shows everything a general client would hide, and adds what a real client needs (CRLF, an
//! honest `Content-Length`, a close after the response) and what a server on the internet needs
//! (HEAD, no way out of the served folder, 404 where nothing is routed).
//!
//! - [`client`]: the raw HTTP/1.1 client; [`html`]: the links of a listing;
//! - [`config`]: the grader's config moved to free ports;
//! - [`raw`] (14, 15), [`fetch`] (16), [`listing`] (17), [`strict`] (all four): the checks;
//! - [`ip_filter`] (18): the IP allow and deny lists, from two client addresses;
//! - [`gzip`] (19): compressed answers, de-chunked and gunzipped.

pub mod client;
pub mod config;
pub mod fetch;
pub mod gzip;
pub mod html;
pub mod ip_filter;
pub mod listing;
pub mod metrics;
pub mod raw;
pub mod strict;

use super::{port_name, Check, Ctx, Verdict};
use crate::target::{Ports, COURSE_PHASE1_PORTS, COURSE_UPSTREAM_PORT};
use client::Response;

/// The problems one check found; none means it passed.
#[derive(Debug, Default)]
pub struct Problems(Vec<String>);

impl Problems {
    /// Records one problem.
    pub fn push(&mut self, problem: String) {
        self.0.push(problem);
    }

    /// Requires header `name` to be exactly `want`.
    pub fn expect_header(&mut self, name: &str, got: Option<&str>, want: &str) {
        match got {
            Some(got) if got == want => {}
            Some(got) => self.push(format!("{name}: \"{got}\", expected \"{want}\"")),
            None => self.push(format!("no {name} header, expected \"{want}\"")),
        }
    }

    /// Requires the status code `want`.
    pub fn expect_status(&mut self, response: &Response, want: u16) {
        if response.status != want {
            self.push(format!(
                "status {} ({:?}), expected {want}",
                response.status, response.status_line
            ));
        }
    }

    /// Requires CRLF line endings, which Node's `fetch` (llhttp) insists on.
    pub fn expect_crlf(&mut self, response: &Response) {
        if !response.crlf {
            self.push(
                "the head has lines ending in a bare LF (fetch/llhttp rejects them; send CRLF)"
                    .into(),
            );
        }
    }

    /// Adds another list's problems, each prefixed with `what`.
    pub fn extend_prefixed(&mut self, what: &str, other: Problems) {
        self.0
            .extend(other.0.into_iter().map(|p| format!("{what}: {p}")));
    }

    /// Passes with `observed` if nothing was found, fails with the problems otherwise.
    pub fn verdict(self, observed: String) -> Verdict {
        if self.0.is_empty() {
            Ok(observed)
        } else {
            Err(format!("{}\n{observed}", self.0.join("\n")))
        }
    }
}

/// Shows a raw request with its line endings visible.
fn show_request(request: &str) -> String {
    request.replace('\r', "\\r").replace('\n', "\\n")
}

/// The name of port `role` for titles ("port 8001", or "port 41234 (course port 8001)").
fn role_name(ports: &Ports, role: usize) -> String {
    port_name(ports.role(role), COURSE_PHASE1_PORTS[role - 1])
}

/// Stages 14 and 15: the grader's nine raw requests on port 1.
fn raw_checks(ports: &Ports) -> Vec<Check> {
    let port = ports.role(1);
    raw::CASES
        .iter()
        .map(|case| {
            let case = *case;
            let input = show_request(&case.request(&format!("localhost:{port}")));
            Check::new(
                format!("{} ({})", case.title, role_name(ports, 1)),
                &input,
                raw::expected(&case),
                move |run| raw::run(&run.layout.public(), port, &case),
            )
        })
        .collect()
}

/// Stage 16: the grader's five fetch checks.
fn config_checks(ports: &Ports) -> Vec<Check> {
    let port = ports.role(1);
    let mut list = Vec::new();
    for (n, (path, content_type)) in [
        ("/cat.jpg", "image/jpeg"),
        ("/sample.pdf", "application/pdf"),
        ("/sample.txt", "text/plain"),
    ]
    .into_iter()
    .enumerate()
    {
        list.push(Check::new(
            format!("File server ({}) ({})", n + 1, role_name(ports, 1)),
            &format!("fetch GET {path}"),
            format!("status 200; content-type: {content_type}\n(stricter) CRLF; the body is public{path} exactly"),
            move |run| fetch::file(run, port, path, content_type),
        ));
    }
    let location = config::redirect_location(ports);
    list.push(Check::new(
        format!("Redirect (1) ({})", role_name(ports, 1)),
        "fetch GET /redirect, redirect: 'manual'",
        format!("status 302; location: {location}"),
        move |_| fetch::redirect(port, "/redirect", 302, &location),
    ));
    let (proxy_port, upstream) = (ports.role(2), ports.upstream);
    list.push(Check::new(
        format!("HTTP Proxy ({})", role_name(ports, 2)),
        &format!(
            "fetch GET /cat.jpg from Python ({}), then through the proxy",
            port_name(upstream, COURSE_UPSTREAM_PORT)
        ),
        "same status; every header Python sent with the same value (Date within 1 s); same body"
            .into(),
        move |_| fetch::proxy(proxy_port, upstream, "/cat.jpg"),
    ));
    list
}

/// Stage 17: the grader's four listing checks.
fn listing_checks(ports: &Ports) -> Vec<Check> {
    let port = ports.role(1);
    vec![
        Check::new(
            format!("Verify Headers ({})", role_name(ports, 1)),
            "fetch GET // (the grader's helper doubles the slash)",
            "status 200; content-type: text/html".into(),
            move |_| listing::status_and_type(port, "//", "text/html"),
        ),
        Check::new(
            format!("Verify population of content ({})", role_name(ports, 1)),
            "fetch GET /",
            "content-type: text/html; the hrefs of `table tr td a` include one per entry of public/ \
             (/cat.jpg /sample.pdf /sample.txt /test /xps_config.json)"
                .into(),
            move |run| listing::root_listing(run, port),
        ),
        Check::new(
            format!("Verify file serving ({})", role_name(ports, 1)),
            "fetch GET //sample.pdf",
            "status 200; content-type: application/pdf".into(),
            move |_| listing::status_and_type(port, "//sample.pdf", "application/pdf"),
        ),
        Check::new(
            format!("Full Directory walk ({})", role_name(ports, 1)),
            "fetch every link from / down, following redirects",
            "folders: text/html listing every entry; files: their exact MIME type \
             (jpg image/jpeg, pdf application/pdf, txt text/plain, json application/json)\n\
             (stricter) files: status 200 and their exact bytes"
                .into(),
            move |run| listing::walk(run, port),
        ),
    ]
}

/// Stage 18's checks: each rule of the `/ip/` routes of [`ip_filter::config`] from 127.0.0.1
/// and 127.0.0.2, then a config with a bad entry.
fn ip_filter_checks(ports: &Ports) -> Vec<Check> {
    use ip_filter::{Case, Expect, FIRST, SECOND, THIRD};
    let port = ports.role(1);
    let at = role_name(ports, 1);
    let mut list = Vec::new();
    let mut add = |title: &str, cases: Vec<Case>| {
        let (input, expected) = ip_filter::describe(&cases);
        list.push(Check::new(
            format!("{title} ({at})"),
            &input,
            expected,
            move |run| ip_filter::run_cases(run, port, &cases),
        ));
    };
    add(
        "a route without lists serves every client",
        vec![
            Case::new(FIRST, "/sample.txt", Expect::Sample),
            Case::new(SECOND, "/sample.txt", Expect::Sample),
        ],
    );
    add(
        "ip_whitelist [127.0.0.1] lets only 127.0.0.1 in",
        vec![
            Case::new(FIRST, "/ip/white/sample.txt", Expect::Sample),
            Case::new(SECOND, "/ip/white/sample.txt", Expect::Forbidden),
        ],
    );
    add(
        "ip_blacklist [127.0.0.2] on a file route",
        vec![
            Case::new(SECOND, "/ip/deny/files/sample.txt", Expect::Forbidden),
            Case::new(FIRST, "/ip/deny/files/sample.txt", Expect::Sample),
        ],
    );
    add(
        "ip_blacklist [127.0.0.2] on a folder (no listing for a refused client)",
        vec![
            Case::new(SECOND, "/ip/deny/files/", Expect::Forbidden),
            Case::new(FIRST, "/ip/deny/files/", Expect::Listing),
        ],
    );
    let location = ip_filter::redirect_location(ports);
    add(
        "ip_blacklist [127.0.0.2] on a redirect route",
        vec![
            Case::new(SECOND, ip_filter::DENIED_REDIRECT, Expect::Forbidden),
            Case::new(
                FIRST,
                ip_filter::DENIED_REDIRECT,
                Expect::Redirect(location),
            ),
        ],
    );
    add(
        "(extension) CIDR blocks: whitelist [10.0.0.0/8, 127.0.0.0/31], blacklist [127.0.0.0/31]",
        vec![
            Case::new(FIRST, "/ip/cidr-white/sample.txt", Expect::Sample),
            Case::new(SECOND, "/ip/cidr-white/sample.txt", Expect::Forbidden),
            Case::new(FIRST, "/ip/cidr-black/sample.txt", Expect::Forbidden),
            Case::new(SECOND, "/ip/cidr-black/sample.txt", Expect::Sample),
        ],
    );
    add(
        "both lists: whitelist [127.0.0.1, 127.0.0.2] minus blacklist [127.0.0.2]",
        vec![
            Case::new(FIRST, "/ip/both/sample.txt", Expect::Sample),
            Case::new(SECOND, "/ip/both/sample.txt", Expect::Forbidden),
            Case::new(THIRD, "/ip/both/sample.txt", Expect::Forbidden),
        ],
    );
    list.push(Check::new(
        format!("ip_blacklist [127.0.0.2] on a proxy route: the upstream never hears of a refused client ({at})"),
        &format!(
            "from {SECOND}: GET {0}/sample.txt?refused-N, then from {FIRST}: GET {0}/sample.txt?allowed-N",
            ip_filter::DENIED_PROXY
        ),
        format!(
            "from {SECOND}: 403 Forbidden; from {FIRST}: the upstream's answer (port {}); the upstream's log has allowed-N and not refused-N",
            ports.upstream
        ),
        move |run| ip_filter::proxy_never_contacted(run, port),
    ));
    list.push(Check::new(
        "a bad IP entry is a config error".into(),
        &format!(
            "the stage's config with {:?} as {}",
            ip_filter::BAD_ENTRY,
            ip_filter::BAD_ENTRY_PATH
        ),
        format!(
            "the server exits with a non-zero status within 5 s, its message names {}, no panic",
            ip_filter::BAD_ENTRY_PATH
        ),
        ip_filter::bad_entry,
    ));
    list
}

/// The checks the grader lacks, for every HTTP stage.
fn strict_checks(ports: &Ports) -> Vec<Check> {
    let port = ports.role(1);
    vec![
        Check::new(
            format!("(stricter) HEAD request ({})", role_name(ports, 1)),
            "HEAD /sample.txt HTTP/1.1",
            "status 200; content-type: text/plain; the file's real Content-Length; no body; then the close".into(),
            move |run| strict::head(run, port),
        ),
        Check::new(
            format!("(stricter) paths outside the served folder ({})", role_name(ports, 1)),
            &strict::ESCAPES.iter().map(|(path, _)| format!("GET {path}")).collect::<Vec<_>>().join("\n"),
            "403 or 404 with server: eXpServer, never the file (../temp/file.txt exists next to public/)".into(),
            move |_| strict::escapes(port),
        ),
    ]
}

/// The checks the grader lacks for the servers the grader's config sets up (16 on): ports 3
/// and 4 of that config.
fn strict_config_checks(ports: &Ports) -> Vec<Check> {
    let (redirect_port, empty_port) = (ports.role(3), ports.role(4));
    vec![
        Check::new(
            format!("(stricter) redirect server ({})", role_name(ports, 3)),
            "fetch GET /, redirect: 'manual'",
            "status 302; location: https://expserver.github.io".into(),
            move |_| fetch::redirect(redirect_port, "/", 302, "https://expserver.github.io"),
        ),
        Check::new(
            format!(
                "(stricter) server block without routes ({})",
                role_name(ports, 4)
            ),
            "fetch GET /",
            "status 404; server: eXpServer".into(),
            move |_| strict::no_routes(empty_port),
        ),
    ]
}

// The lists of the HTTP stages, named by their entries in `stages::STAGES`: the grader's checks
// first, then the stricter ones.

/// Stage 14: the grader's nine raw requests.
pub fn stage14(cx: &Ctx) -> Vec<Check> {
    let mut list = raw_checks(cx.ports);
    list.extend(strict_checks(cx.ports));
    list
}

/// Stage 15: the same nine requests; the responses now have to be right.
pub fn stage15(cx: &Ctx) -> Vec<Check> {
    stage14(cx)
}

/// Stage 16: files, a redirect and the proxy, from the grader's config.
pub fn stage16(cx: &Ctx) -> Vec<Check> {
    let mut list = config_checks(cx.ports);
    list.extend(strict_checks(cx.ports));
    list.extend(strict_config_checks(cx.ports));
    list
}

/// Stage 17: directory listings.
pub fn stage17(cx: &Ctx) -> Vec<Check> {
    let mut list = listing_checks(cx.ports);
    list.extend(strict_checks(cx.ports));
    list.extend(strict_config_checks(cx.ports));
    list
}

/// Stage 18: IP allow and deny lists, after stage 17's checks on the same config (the grader's,
/// plus the `/ip/` routes).
pub fn stage18(cx: &Ctx) -> Vec<Check> {
    let mut list = stage17(cx);
    list.extend(ip_filter_checks(cx.ports));
    list
}

/// Stage 19's own checks (see [`gzip`]): port 1 serves the grader's gzip route, port 2 proxies.
fn gzip_checks(ports: &Ports) -> Vec<Check> {
    let (port, proxy_port) = (ports.role(1), ports.role(2));
    let large = format!("/{}", gzip::LARGE);
    let accepting = gzip::ACCEPTING
        .map(|v| format!("Accept-Encoding: {v}"))
        .join("\n");
    let refusing = gzip::REFUSING
        .map(|v| {
            v.map_or("(no Accept-Encoding)".to_string(), |v| {
                format!("Accept-Encoding: {v}")
            })
        })
        .join("\n");
    vec![
        Check::new(
            format!("gzip: a text file ({})", role_name(ports, 1)),
            &format!(
                "GET {large} HTTP/1.1, Accept-Encoding: gzip ({} bytes of text)",
                gzip::LARGE_LEN
            ),
            "200; content-encoding: gzip; vary: Accept-Encoding; transfer-encoding: chunked; no \
             content-length; the chunks gunzip to the file byte for byte; under half its size"
                .into(),
            move |run| gzip::compressed_file(&run.layout.public(), port),
        ),
        Check::new(
            format!("gzip: clients that accept it ({})", role_name(ports, 1)),
            &format!("GET /sample.txt HTTP/1.1 with each of\n{accepting}"),
            "each: chunked gzip that gunzips to public/sample.txt".into(),
            move |run| gzip::accepting(&run.layout.public(), port),
        ),
        Check::new(
            format!("gzip: clients that refuse it ({})", role_name(ports, 1)),
            &format!("GET /sample.txt HTTP/1.1 with each of\n{refusing}"),
            "each: the file as it is (no content-encoding, its content-length) with vary: \
             Accept-Encoding"
                .into(),
            move |run| gzip::refusing(&run.layout.public(), port),
        ),
        Check::new(
            format!("gzip: files it would not help ({})", role_name(ports, 1)),
            &format!(
                "GET /{} ({} bytes) and GET /cat.jpg, Accept-Encoding: gzip, deflate",
                gzip::SMALL,
                gzip::SMALL_LEN
            ),
            "both as they are: no content-encoding, their content-length and bytes".into(),
            move |run| gzip::not_worth_it(&run.layout.public(), port),
        ),
        Check::new(
            format!("gzip: an HTTP/1.0 client ({})", role_name(ports, 1)),
            &format!("GET {large} HTTP/1.0, Accept-Encoding: gzip"),
            "content-encoding: gzip; neither content-length nor transfer-encoding; the body runs \
             to the close and gunzips to the file"
                .into(),
            move |run| gzip::http10(&run.layout.public(), port),
        ),
        Check::new(
            format!("gzip: HEAD ({})", role_name(ports, 1)),
            &format!("HEAD {large} HTTP/1.1, Accept-Encoding: gzip"),
            "the compressed answer's head (content-encoding: gzip, chunked, no length), no body, \
             then the close"
                .into(),
            move |_| gzip::head(port),
        ),
        Check::new(
            format!("gzip: a directory listing ({})", role_name(ports, 1)),
            "GET / HTTP/1.1, Accept-Encoding: gzip",
            "chunked gzip, content-type: text/html; gunzipped, a link per entry of public/".into(),
            move |run| gzip::listing(&run.layout.public(), port),
        ),
        Check::new(
            format!(
                "gzip: the reverse proxy relays untouched ({})",
                role_name(ports, 2)
            ),
            &format!("GET {large} HTTP/1.1, Accept-Encoding: gzip, through the proxy to Python"),
            "Python's answer as it is: no content-encoding, the file's content-length and bytes"
                .into(),
            move |run| gzip::proxied(&run.layout.public(), proxy_port),
        ),
    ]
}

/// Stage 19: stage 18's checks (stage 17's on the grader's config, which has gzip on, with the
/// fetch client undoing it as Node's does, then the IP lists), then gzip's own.
pub fn stage19(cx: &Ctx) -> Vec<Check> {
    let mut list = stage18(cx);
    list.extend(gzip_checks(cx.ports));
    list
}

/// Stage 22's own checks (see [`metrics`]): the metrics route on port 1 and the access log.
fn metrics_checks(ports: &Ports) -> Vec<Check> {
    let port = ports.role(1);
    let at = role_name(ports, 1);
    let path = metrics::METRICS_PATH;
    vec![
        Check::new(
            format!("metrics: the text format, every family ({at})"),
            &format!("GET {path} from 127.0.0.1"),
            format!(
                "200, content-type {}; charset=utf-8, server: eXpServer, CRLF, an honest content-length; \
                 every line parses (and prometheus_client reads it when installed); the families \
                 {} with their types; the histogram cumulative with +Inf = _count",
                metrics::TEXT_TYPE,
                metrics::FAMILIES.map(|(n, _)| n).join(", ")
            ),
            move |_| metrics::families_present(port),
        ),
        Check::new(
            format!("metrics: exact counts between two scrapes ({at})"),
            &format!(
                "scrape; {} x GET /sample.txt and {} x GET /missing-N.txt, one connection each; scrape",
                metrics::FOUND,
                metrics::NOT_FOUND
            ),
            format!(
                "expserver_requests_total{{route=\"/\",code=\"200\"}} +{}, {{route=\"/\",code=\"404\"}} +{}, \
                 {{route=\"{path}\",code=\"200\"}} +1; connections accepted (and summed over the workers) +{}; bytes \
                 received and sent at least what went over the wire; duration _count +{} (or one more)",
                metrics::FOUND,
                metrics::NOT_FOUND,
                metrics::FOUND + metrics::NOT_FOUND + 1,
                metrics::FOUND + metrics::NOT_FOUND
            ),
            move |run| metrics::exact_counts(run, port),
        ),
        Check::new(
            format!("metrics: JSON on Accept: application/json ({at})"),
            &format!("GET {path}, Accept: application/json"),
            "200, content-type application/json, one object with every family's name as a key".into(),
            move |_| metrics::json_form(port),
        ),
        Check::new(
            format!("metrics: the route's whitelist refuses 127.0.0.2 ({at})"),
            &format!("GET {path} from 127.0.0.2 (the route has ip_whitelist [\"127.0.0.1\"])"),
            "403 with server: eXpServer and no counters; expserver_denied_total +1 and \
                 expserver_requests_total{route=\"/metrics\",code=\"403\"} +1"
                .into(),
            move |_| metrics::refused_elsewhere(port),
        ),
        Check::new(
            format!("access log: one combined line per request ({at})"),
            "GET /sample.txt?log-NONCE with Referer: http://example.com/from and User-Agent: checker/NONCE; \
                 read the config's access_log file",
            format!(
                "within {} ms a line `127.0.0.1 - - [dd/Mon/yyyy:hh:mm:ss +zzzz] \"GET /sample.txt?log-NONCE \
                 HTTP/1.1\" 200 <size of sample.txt> \"http://example.com/from\" \"checker/NONCE\"`",
                metrics::LOG_WAIT.as_millis()
            ),
            move |run| metrics::access_log_line(run, port),
        ),
    ]
}

/// Stage 22: stage 17's checks on the grader's config (which the stage's config extends), then
/// the metrics and access-log checks.
pub fn stage22(cx: &Ctx) -> Vec<Check> {
    let mut list = stage17(cx);
    list.extend(metrics_checks(cx.ports));
    list
}

#[cfg(test)]
mod tests {
    //! The checks must fail on the mistakes they exist to catch: canned servers make each one.

    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::thread;
    use std::time::Duration;

    use super::*;

    /// A one-connection server that reads the request head, then writes `parts` with a pause
    /// between them, then closes (or holds the connection for `hold` first).
    fn canned(parts: &'static [&'static [u8]], hold: Duration) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut request = Vec::new();
            let mut byte = [0u8; 1];
            while !request.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap_or(0) == 1 {
                request.push(byte[0]);
            }
            for part in parts {
                stream.write_all(part).unwrap();
                thread::sleep(Duration::from_millis(300));
            }
            thread::sleep(hold);
        });
        port
    }

    fn public() -> std::path::PathBuf {
        crate::layout::repo_root().join("public")
    }

    #[test]
    fn bare_lf_and_a_wrong_body_fail() {
        let port = canned(
            &[b"HTTP/1.1 200 OK\nContent-Type: text/plain\nServer: eXpServer\nContent-Length: 3\n\nabc"],
            Duration::ZERO,
        );
        let error = raw::run(&public(), port, &raw::CASES[2]).unwrap_err();
        assert!(error.contains("bare LF"), "{error}");
        assert!(error.contains("is not public/sample.txt"), "{error}");
    }

    #[test]
    fn a_head_split_over_two_chunks_fails() {
        let port = canned(
            &[
                b"HTTP/1.1 404 Not Found\r\n",
                b"Server: eXpServer\r\nContent-Length: 0\r\n\r\n",
            ],
            Duration::ZERO,
        );
        let error = raw::run(&public(), port, &raw::CASES[3]).unwrap_err();
        assert!(error.contains("first chunk"), "{error}");
    }

    #[test]
    fn a_connection_left_open_fails() {
        let port = canned(
            &[b"HTTP/1.1 400 Bad Request\r\nServer: eXpServer\r\nContent-Length: 0\r\n\r\n"],
            client::CLOSE_TIMEOUT + Duration::from_secs(2),
        );
        let error = raw::run(&public(), port, &raw::CASES[4]).unwrap_err();
        assert!(error.contains("still open"), "{error}");
    }

    #[test]
    fn a_wrong_content_type_or_server_fails() {
        let port = canned(
            &[b"HTTP/1.1 404 Not Found\r\nServer: nginx\r\nContent-Length: 0\r\n\r\n"],
            Duration::ZERO,
        );
        let error = raw::run(&public(), port, &raw::CASES[3]).unwrap_err();
        assert!(error.contains("server: \"nginx\""), "{error}");
        let port = canned(
            &[b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 0\r\n\r\n"],
            Duration::ZERO,
        );
        let error = fetch::redirect(port, "/", 302, "/x").unwrap_err();
        assert!(error.contains("status 200"), "{error}");
        assert!(error.contains("no location header"), "{error}");
    }

    #[test]
    fn an_escape_that_returns_the_file_fails() {
        let port = canned(
            &[b"HTTP/1.1 200 OK\r\nServer: eXpServer\r\nContent-Length: 17\r\n\r\nSome sample data\n"],
            Duration::ZERO,
        );
        let error = strict::escapes(port).unwrap_err();
        assert!(
            error.contains("returned the file outside the root"),
            "{error}"
        );
    }

    #[test]
    fn a_head_response_with_a_body_fails() {
        let port = canned(
            &[b"HTTP/1.1 200 OK\r\nServer: eXpServer\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nabc"],
            Duration::ZERO,
        );
        let exchange = client::fetch_method(port, "HEAD", "/sample.txt").unwrap();
        assert!(matches!(exchange.closing, Some(client::Closing::Extra(ref b)) if b == b"abc"));
    }
}
