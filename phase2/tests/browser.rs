//! The stage-17 directory listing in a real browser: headless Chromium driven through
//! chromedriver's WebDriver HTTP API.
//!
//! The checker reads the listing's HTML the way the grader's `cheerio` does; a browser is the
//! client students actually use, and it is stricter in ways a parser is not: it resolves each
//! href against the page's URL, follows it on a click, and shows a text file only if the
//! response is well framed. The test opens `/`, clicks `test`, then `sample.txt`, and checks the
//! browser lands on `/test` and `/test/sample.txt` and shows the file's text.
//!
//! WebDriver is plain JSON over HTTP, so a few requests over a `TcpStream` are all it takes.
//! Every request has a timeout, and the browser and the driver are killed when the test ends,
//! whether it passes or not.

use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use xtask::ports::{free_tcp_port, wait_bound, Proto};
use xtask::process::Proc;
use xtask::start_ours;

const STAGE17: &str = env!("CARGO_BIN_EXE_stage17_directory");

/// How long one WebDriver command may take (starting the browser is the slowest).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a click may take to land on the next page.
const NAVIGATION_TIMEOUT: Duration = Duration::from_secs(15);
/// The key under which WebDriver returns an element's id.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Finds `name` on the PATH.
fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// A running chromedriver and, once a session exists, the browser it started. Dropping it ends
/// the session and kills the driver's process group, which holds the browser too.
struct Driver {
    port: u16,
    session: Option<String>,
    proc: Proc,
}

impl Driver {
    fn start(chromedriver: &Path, log_dir: &Path) -> Driver {
        let port = free_tcp_port().unwrap();
        let argv = vec![
            chromedriver.to_string_lossy().into_owned(),
            format!("--port={port}"),
        ];
        let mut proc = Proc::spawn(&argv, log_dir, &[], &log_dir.join("chromedriver.log")).unwrap();
        wait_bound(&mut proc, &[port], Proto::Tcp, Duration::from_secs(20)).unwrap();
        Driver {
            port,
            session: None,
            proc,
        }
    }

    /// Sends one WebDriver command and returns its `value`, panicking with the driver's error.
    fn command(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.port,
            body.len()
        );
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        stream.set_read_timeout(Some(COMMAND_TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(COMMAND_TIMEOUT)).unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        let json_text =
            read_response(&mut stream).unwrap_or_else(|e| panic!("WebDriver {method} {path}: {e}"));
        let reply: Value = serde_json::from_str(&json_text)
            .unwrap_or_else(|e| panic!("WebDriver {method} {path}: bad JSON ({e}): {json_text}"));
        let value = reply.get("value").cloned().unwrap_or(Value::Null);
        if let Some(error) = value.get("error") {
            panic!(
                "WebDriver {method} {path} failed: {error}: {}",
                value["message"]
            );
        }
        value
    }

    /// Starts headless Chromium with a fresh profile in `profile`.
    fn new_session(&mut self, chromium: &Path, profile: &Path) {
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ]
        .iter()
        .map(|a| a.to_string())
        .chain([format!("--user-data-dir={}", profile.display())])
        .collect::<Vec<_>>();
        let capabilities = json!({
            "capabilities": { "alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": { "binary": chromium, "args": args },
                "timeouts": { "pageLoad": 15000, "script": 15000, "implicit": 0 }
            }}
        });
        let value = self.command("POST", "/session", Some(capabilities));
        let id = value["sessionId"]
            .as_str()
            .expect("no sessionId in the new session")
            .to_string();
        self.session = Some(id);
    }

    fn session_path(&self, rest: &str) -> String {
        format!(
            "/session/{}{rest}",
            self.session.as_deref().expect("no session")
        )
    }

    fn go(&self, url: &str) {
        self.command(
            "POST",
            &self.session_path("/url"),
            Some(json!({ "url": url })),
        );
    }

    fn current_url(&self) -> String {
        self.command("GET", &self.session_path("/url"), None)
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// The ids of every element matching a CSS selector.
    fn find_all(&self, selector: &str) -> Vec<String> {
        let value = self.command(
            "POST",
            &self.session_path("/elements"),
            Some(json!({ "using": "css selector", "value": selector })),
        );
        value
            .as_array()
            .map(|list| {
                list.iter()
                    .filter_map(|e| e[ELEMENT_KEY].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// An element's attribute as written in the page (not resolved against the URL).
    fn attribute(&self, element: &str, name: &str) -> String {
        let path = self.session_path(&format!("/element/{element}/attribute/{name}"));
        self.command("GET", &path, None)
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    fn text(&self, element: &str) -> String {
        let path = self.session_path(&format!("/element/{element}/text"));
        self.command("GET", &path, None)
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    fn click(&self, element: &str) {
        self.command(
            "POST",
            &self.session_path(&format!("/element/{element}/click")),
            Some(json!({})),
        );
    }

    /// The listing's links as (href attribute, element id).
    fn listing_links(&self) -> Vec<(String, String)> {
        self.find_all("table tr td a")
            .into_iter()
            .map(|id| (self.attribute(&id, "href"), id))
            .collect()
    }

    /// Clicks the link whose href is `href` and waits until the browser shows `want_url`.
    fn click_link(&self, href: &str, want_url: &str) {
        let links = self.listing_links();
        let Some((_, id)) = links.iter().find(|(h, _)| h == href) else {
            let hrefs: Vec<&String> = links.iter().map(|(h, _)| h).collect();
            panic!(
                "no link with href {href:?} on {}: found {hrefs:?}",
                self.current_url()
            );
        };
        self.click(id);
        let deadline = Instant::now() + NAVIGATION_TIMEOUT;
        loop {
            let url = self.current_url();
            if url == want_url {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "after clicking {href:?} the browser is on {url}, expected {want_url}"
            );
            thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Reads one HTTP response framed by `Content-Length` (chromedriver keeps the connection open
/// whatever the request says) and returns its body.
fn read_response(stream: &mut TcpStream) -> Result<String, String> {
    let mut raw = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|line| line.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .ok_or_else(|| format!("no Content-Length in {head:?}"))?;
            if raw.len() >= end + 4 + length {
                return Ok(String::from_utf8_lossy(&raw[end + 4..end + 4 + length]).into_owned());
            }
        }
        match stream.read(&mut chunk) {
            Ok(0) => return Err(format!("the driver closed after {} bytes", raw.len())),
            Ok(n) => raw.extend_from_slice(&chunk[..n]),
            Err(e) => return Err(format!("no answer within {COMMAND_TIMEOUT:?}: {e}")),
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        if self.session.is_some() {
            // Ask politely first so Chromium can exit cleanly; the kill below is the guarantee.
            let path = self.session_path("");
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                self.command("DELETE", &path, None)
            }));
        }
        self.proc.kill();
    }
}

#[test]
fn the_listing_works_in_a_real_browser() {
    let (Some(chromium), Some(chromedriver)) =
        (find_program("chromium"), find_program("chromedriver"))
    else {
        // In CI (`.ci/run` installs the browser) a missing browser is a failure; on a student's
        // machine it is a skip with a clear note.
        let message = "this test needs a headless browser: install `chromium chromium-driver` \
                       (Debian: apt-get install -y chromium chromium-driver; .ci/run does it)";
        if std::env::var_os("CI").is_some() {
            panic!("{message}");
        }
        eprintln!("SKIPPED the_listing_works_in_a_real_browser: {message}");
        return;
    };
    let run = start_ours("17", STAGE17);
    let base = format!("http://127.0.0.1:{}", run.ports.role(1));
    let work = tempfile::tempdir().unwrap();
    let profile = work.path().join("profile");
    fs::create_dir(&profile).unwrap();

    let mut driver = Driver::start(&chromedriver, work.path());
    driver.new_session(&chromium, &profile);

    driver.go(&format!("{base}/"));
    let hrefs: Vec<String> = driver.listing_links().into_iter().map(|(h, _)| h).collect();
    for want in [
        "/cat.jpg",
        "/sample.pdf",
        "/sample.txt",
        "/test",
        "/xps_config.json",
    ] {
        assert!(
            hrefs.iter().any(|h| h == want),
            "the listing of / lacks {want}: {hrefs:?}"
        );
    }

    driver.click_link("/test", &format!("{base}/test"));
    let hrefs: Vec<String> = driver.listing_links().into_iter().map(|(h, _)| h).collect();
    for want in ["/test/cat.jpg", "/test/sample.pdf", "/test/sample.txt"] {
        assert!(
            hrefs.iter().any(|h| h == want),
            "the listing of /test lacks {want}: {hrefs:?}"
        );
    }

    driver.click_link("/test/sample.txt", &format!("{base}/test/sample.txt"));
    let body = driver.find_all("body");
    let shown = driver.text(body.first().expect("the text page has no body"));
    let file = fs::read_to_string(run.layout.public().join("test").join("sample.txt")).unwrap();
    let normalise = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    assert_eq!(
        normalise(&shown),
        normalise(&file),
        "the browser does not show test/sample.txt"
    );
}
