//! The course's JSON config (stage 16) and the lookup of a request's route.
//!
//! One file describes every virtual server: where it listens, which host names it answers to, and
//! its routes (serve files from a folder, proxy to an upstream, or redirect). The file is read with
//! `serde_json` into plain "raw" structs that mirror the JSON, then checked and turned into typed
//! ones ([`Config`], [`Server`], [`Route`] with a [`RouteAction`]), so the rest of the server never
//! meets a route of type "file_serve" without a folder. Like the course's parson code, unknown keys
//! (`workers`, `gzip_level`, ...) are ignored and missing lists are empty; unlike it, a config that
//! cannot work is refused at start-up with a message naming the file and the place.
//!
//! Some keys are ours, not the course's (extension keys): the six top-level timeouts of stage 21
//! (`client_header_timeout_ms`, ..., `keep_alive_timeout_ms`; see [`crate::timeouts`]), read by
//! `stage21_timeouts` and `expserver` and ignored by the stages before; and a `reverse_proxy`
//! route's `lb_strategy` and `upstream_fail_timeout_ms` (stage 20, see [`crate::balancer`]).
//! Stage 19 reads the course's `gzip_enable` and `gzip_level` on a file route and adds two
//! extension keys beside them, `gzip_min_length` and `gzip_types` (see [`Gzip`]).

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use crate::balancer::{Balancer, Strategy, DEFAULT_FAIL_TIMEOUT};
use crate::http::StatusCode;
use crate::ip_filter::{IpLists, IpRange};
use crate::timeouts::{Timeouts, MAX_TIMEOUT_MS};

/// The config `expserver` runs when it is given none: the course's four servers, with the file
/// server on the repository's `public/` folder (relative to the working directory), directory
/// listing and gzip for clients that accept it, and (stage 22) the metrics on
/// `http://localhost:8001/metrics` for this machine only.
pub const DEFAULT_CONFIG_JSON: &str = r#"{
  "server_name": "eXpServer",
  "workers": "auto",
  "servers": [
    {
      "listeners": [{ "host": "0.0.0.0", "port": 8001 }],
      "routes": [
        { "req_path": "/", "type": "file_serve", "dir_path": "public", "index": ["index.html"],
          "gzip_enable": true, "gzip_level": 6 },
        { "req_path": "/redirect", "type": "redirect", "http_status_code": 302,
          "redirect_url": "http://localhost:8002/" },
        { "req_path": "/metrics", "type": "metrics", "ip_whitelist": ["127.0.0.1", "::1"] }
      ]
    },
    {
      "listeners": [{ "host": "0.0.0.0", "port": 8002 }],
      "routes": [{ "req_path": "/", "type": "reverse_proxy", "upstreams": ["localhost:3000"] }]
    },
    {
      "listeners": [{ "host": "0.0.0.0", "port": 8003 }],
      "routes": [{ "req_path": "/", "type": "redirect", "http_status_code": 302,
                   "redirect_url": "https://expserver.github.io" }]
    }
  ]
}
"#;

/// A config that could not be loaded: where, and what is wrong, in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file (or `<embedded>`).
    pub file: String,
    /// Position in the file, when the JSON reader knows it (1-based).
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (Some(line), Some(column)) => {
                write!(f, "{}:{line}:{column}: {}", self.file, self.message)
            }
            _ => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

impl std::error::Error for ConfigError {}

/// The whole config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Where it was read from (`None` for the embedded default).
    pub path: Option<PathBuf>,
    pub server_name: String,
    /// Worker threads (stage 23); 1 when absent.
    pub workers: usize,
    /// The six timeouts of stage 21 (**extension keys**, not in the course's schema), defaults
    /// for those absent. Only `stage21_timeouts` and `expserver` use them;
    /// `keep_alive_timeout_ms` only `expserver`, the one server that keeps connections alive
    /// (`0` there turns keep-alive off).
    pub timeouts: Timeouts,
    /// Stage 22 (**extension key**): where the access log goes; `None` (absent or `null`) is
    /// off. Only `stage22_metrics` on and `expserver` write it.
    pub access_log: Option<crate::access_log::Target>,
    pub servers: Vec<Server>,
}

/// One virtual server block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    pub listeners: Vec<Listener>,
    /// Lower-cased host names; empty means "any host".
    pub hostnames: Vec<String>,
    pub routes: Vec<Route>,
}

/// A bind address, e.g. `0.0.0.0:8001`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Listener {
    pub host: String,
    pub port: u16,
}

impl fmt::Display for Listener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

/// One route: a URL prefix and what to do with requests under it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The prefix, always starting with `/`.
    pub req_path: String,
    pub action: RouteAction,
    /// Stage 18: who may use the route (`ip_whitelist`, `ip_blacklist`), parsed; both empty
    /// when absent. Only stage 18 on and `expserver` enforce them (`Options::ip_lists`).
    pub ip_lists: IpLists,
}

/// What a route does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteAction {
    FileServe(FileServe),
    /// Proxy to one of `upstreams` (at least one). The `balancer` holds the route's strategy
    /// and its shared state (stage 20); the stages before use the first upstream only.
    ReverseProxy {
        upstreams: Vec<Upstream>,
        balancer: Arc<Balancer>,
    },
    Redirect {
        status: StatusCode,
        url: String,
    },
    /// Stage 22: the server's counters, for Prometheus (or as JSON).
    Metrics,
}

/// A `file_serve` route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileServe {
    /// The folder served, absolute (a relative `dir_path` is taken from the working directory).
    pub dir_path: PathBuf,
    /// File names tried, in order, when a folder is asked for.
    pub index: Vec<String>,
    /// Stage 19: when and how its answers are compressed.
    pub gzip: Gzip,
}

/// A file route's gzip settings (stage 19; see `session/gzip.rs` for when they apply).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gzip {
    /// `gzip_enable`: compress answers for clients that accept gzip. False when absent.
    pub enable: bool,
    /// `gzip_level`: 1 (fastest) to 9 (smallest), 6 when absent, as zlib and nginx default.
    pub level: u32,
    /// `gzip_min_length`, an **extension key**: smaller bodies are sent as they are, since
    /// gzip's 18 bytes of header and trailer and the chunk framing can make them bigger.
    /// 256 bytes when absent.
    pub min_length: u64,
    /// `gzip_types`, an **extension key**: the MIME types worth compressing, lower-case
    /// (`"*"` for every type). Images, video and archives are compressed already.
    /// [`Gzip::DEFAULT_TYPES`] when absent.
    pub types: Vec<String>,
}

impl Gzip {
    /// The level when `gzip_level` is absent.
    pub const DEFAULT_LEVEL: u32 = 6;
    /// The smallest body compressed when `gzip_min_length` is absent.
    pub const DEFAULT_MIN_LENGTH: u64 = 256;
    /// The types compressed when `gzip_types` is absent: text and the text-based formats.
    pub const DEFAULT_TYPES: &'static [&'static str] = &[
        "text/html",
        "text/plain",
        "text/css",
        "text/csv",
        "text/xml",
        "application/javascript",
        "application/json",
        "application/xml",
        "image/svg+xml",
    ];

    /// Is a body of type `mime` (parameters such as `; charset=` ignored) and `len` bytes worth
    /// compressing on this route?
    pub fn worth_compressing(&self, mime: &str, len: u64) -> bool {
        let bare = mime.split(';').next().unwrap_or("").trim();
        len >= self.min_length
            && self
                .types
                .iter()
                .any(|t| t == "*" || t.eq_ignore_ascii_case(bare))
    }
}

impl Default for Gzip {
    fn default() -> Gzip {
        Gzip {
            enable: false,
            level: Gzip::DEFAULT_LEVEL,
            min_length: Gzip::DEFAULT_MIN_LENGTH,
            types: Gzip::DEFAULT_TYPES.iter().map(|t| t.to_string()).collect(),
        }
    }
}

/// An upstream of a reverse proxy, `host:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    pub host: String,
    pub port: u16,
}

impl fmt::Display for Upstream {
    /// `host:port`, with an IPv6 address in brackets (`[::1]:3000`) so the port stays separate.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// The result of a lookup: which server and route a request goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lookup<'a> {
    pub server: &'a Server,
    pub route: &'a Route,
}

/// Why a lookup found nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LookupError {
    /// No server listens where the client connected (a server bug; 500).
    NoServer,
    /// The server has no route for the path (404).
    NoRoute,
}

impl LookupError {
    pub fn status(self) -> StatusCode {
        match self {
            LookupError::NoServer => StatusCode::INTERNAL_SERVER_ERROR,
            LookupError::NoRoute => StatusCode::NOT_FOUND,
        }
    }
}

// ---- the JSON as written -------------------------------------------------------------------

#[derive(Deserialize)]
struct RawConfig {
    #[serde(default)]
    server_name: Option<String>,
    #[serde(default)]
    workers: Option<serde_json::Value>,
    #[serde(default)]
    access_log: Option<String>,
    servers: Option<Vec<RawServer>>,
}

#[derive(Deserialize)]
struct RawServer {
    #[serde(default)]
    listeners: Option<Vec<RawListener>>,
    #[serde(default)]
    hostnames: Option<Vec<String>>,
    #[serde(default)]
    routes: Option<Vec<RawRoute>>,
}

#[derive(Deserialize)]
struct RawListener {
    #[serde(default)]
    host: Option<String>,
    #[serde(default)]
    port: Option<i64>,
}

#[derive(Deserialize)]
struct RawRoute {
    #[serde(default)]
    req_path: Option<String>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    dir_path: Option<String>,
    #[serde(default)]
    index: Option<Vec<String>>,
    #[serde(default)]
    upstreams: Option<Vec<String>>,
    #[serde(default)]
    http_status_code: Option<i64>,
    #[serde(default)]
    redirect_url: Option<String>,
    #[serde(default)]
    gzip_enable: Option<bool>,
    #[serde(default)]
    gzip_level: Option<i64>,
    #[serde(default)]
    gzip_min_length: Option<i64>,
    #[serde(default)]
    gzip_types: Option<Vec<String>>,
    #[serde(default)]
    ip_whitelist: Option<Vec<String>>,
    #[serde(default)]
    ip_blacklist: Option<Vec<String>>,
    #[serde(default)]
    lb_strategy: Option<String>,
    #[serde(default)]
    upstream_fail_timeout_ms: Option<i64>,
}

impl Config {
    /// Read and check a config file. Relative `dir_path`s are taken from the working directory.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: name.clone(),
            line: None,
            column: None,
            message: format!("cannot read the config file: {e}"),
        })?;
        let mut config = Config::from_json(&text, &name)?;
        config.path = Some(path.to_path_buf());
        Ok(config)
    }

    /// The embedded default config (see [`DEFAULT_CONFIG_JSON`]).
    pub fn embedded_default() -> Result<Config, ConfigError> {
        Config::from_json(DEFAULT_CONFIG_JSON, "<embedded default config>")
    }

    /// Parse and check config text; `file` names it in errors.
    pub fn from_json(text: &str, file: &str) -> Result<Config, ConfigError> {
        let raw: RawConfig = serde_json::from_str(text).map_err(|e| json_error(file, &e))?;
        // The timeouts are read from the plain JSON, to tell "1.5" from "-1" from "1e9".
        let top: serde_json::Value =
            serde_json::from_str(text).map_err(|e| json_error(file, &e))?;
        let cwd = std::env::current_dir().map_err(|e| ConfigError {
            file: file.to_string(),
            line: None,
            column: None,
            message: format!("cannot find the working directory to resolve dir_path: {e}"),
        })?;
        let check = Checker { file, cwd: &cwd };
        check.config(raw, &top)
    }

    /// Every distinct listener of every server, in order of first appearance
    /// (the course's `_all_listeners`): the server binds each one once.
    pub fn all_listeners(&self) -> Vec<Listener> {
        let mut seen = HashSet::new();
        self.servers
            .iter()
            .flat_map(|s| s.listeners.iter())
            .filter(|l| seen.insert((*l).clone()))
            .cloned()
            .collect()
    }

    /// Find the server and route for a request (spec §4.5).
    ///
    /// `listener` is where the client connected, `host` the requested host lower-cased and
    /// without its port (see [`crate::http::Request::authority_host`]), `path` the cleaned path.
    /// The server is the first one on that listener whose `hostnames` contain `host` (or that has
    /// none); if none matches, the first server on the listener answers, as nginx's default server
    /// does, rather than failing. The route is the one with the longest matching `req_path`.
    pub fn lookup(
        &self,
        listener: &Listener,
        host: Option<&str>,
        path: &str,
    ) -> Result<Lookup<'_>, LookupError> {
        let mut on_listener = self
            .servers
            .iter()
            .filter(|s| s.listeners.contains(listener))
            .peekable();
        let default = *on_listener.peek().ok_or(LookupError::NoServer)?;
        let server = on_listener
            .find(|s| {
                s.hostnames.is_empty() || host.is_some_and(|h| s.hostnames.iter().any(|n| n == h))
            })
            .unwrap_or(default);
        let route = server
            .routes
            .iter()
            .filter(|r| prefix_matches(path, &r.req_path))
            // `max_by_key` keeps the last of equal maxima; reverse so the first route wins ties.
            .rev()
            .max_by_key(|r| r.req_path.len())
            .ok_or(LookupError::NoRoute)?;
        Ok(Lookup { server, route })
    }
}

/// Does `req_path` cover `path`? A byte-wise prefix that ends on a segment boundary: `/api`
/// covers `/api` and `/api/x` but not `/api2`; `/` and `/api/` cover everything below them.
pub fn prefix_matches(path: &str, req_path: &str) -> bool {
    match path.strip_prefix(req_path) {
        Some(rest) => req_path.ends_with('/') || rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}

/// Turn a serde_json error into our message: its position, and its text without the
/// "at line X column Y" suffix that we already show in front.
fn json_error(file: &str, error: &serde_json::Error) -> ConfigError {
    let text = error.to_string();
    let text = match text.rfind(" at line ") {
        Some(at) => &text[..at],
        None => &text,
    };
    let what = match error.classify() {
        serde_json::error::Category::Syntax => "this is not valid JSON",
        serde_json::error::Category::Eof => "the file ends in the middle of the JSON",
        serde_json::error::Category::Data => "a value has the wrong type",
        serde_json::error::Category::Io => "the file could not be read",
    };
    ConfigError {
        file: file.to_string(),
        line: Some(error.line()).filter(|&l| l > 0),
        column: Some(error.column()).filter(|&c| c > 0),
        message: format!("{what} ({text})"),
    }
}

/// The most worker threads a config may ask for (stage 23): far more than any machine has cores;
/// a larger number is a typo, not a plan.
pub const MAX_WORKERS: usize = 1024;

/// Top-level `workers` (stage 23): an integer from 1 to [`MAX_WORKERS`], or **(ext)** `"auto"`,
/// one worker per CPU this process may run on.
fn workers(value: &serde_json::Value) -> Result<usize, String> {
    if value.as_str() == Some("auto") {
        return Ok(std::thread::available_parallelism().map_or(1, |n| n.get()));
    }
    match value.as_i64() {
        Some(n) if (1..=MAX_WORKERS as i64).contains(&n) => Ok(n as usize),
        Some(n) => Err(format!(
            "{n} is not between 1 and {MAX_WORKERS} (or \"auto\", one per CPU)"
        )),
        None => Err(format!(
            "{value} is not a number of workers: write an integer from 1 to {MAX_WORKERS}, or \"auto\" (one per CPU)"
        )),
    }
}

/// Checks the raw structs and builds the typed ones; errors name the JSON path of the problem.
struct Checker<'a> {
    file: &'a str,
    cwd: &'a Path,
}

impl Checker<'_> {
    fn error(&self, at: &str, message: impl fmt::Display) -> ConfigError {
        ConfigError {
            file: self.file.to_string(),
            line: None,
            column: None,
            message: format!("{at}: {message}"),
        }
    }

    fn config(&self, raw: RawConfig, top: &serde_json::Value) -> Result<Config, ConfigError> {
        let servers = raw
            .servers
            .ok_or_else(|| self.error("top level", "\"servers\" is missing"))?;
        if servers.is_empty() {
            return Err(self.error("servers", "at least one server is needed"));
        }
        let workers = match raw.workers {
            None | Some(serde_json::Value::Null) => 1,
            Some(value) => workers(&value).map_err(|message| self.error("workers", message))?,
        };
        let timeouts = match top.as_object() {
            Some(top) => {
                Timeouts::from_json(top).map_err(|(key, message)| self.error(&key, message))?
            }
            None => Timeouts::default(),
        };
        let access_log = self.access_log(raw.access_log)?;
        let servers = servers
            .into_iter()
            .enumerate()
            .map(|(i, s)| self.server(&format!("servers[{i}]"), s))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Config {
            path: None,
            server_name: raw.server_name.unwrap_or_else(|| "eXpServer".to_string()),
            workers,
            timeouts,
            access_log,
            servers,
        })
    }

    /// Stage 22's `access_log`: `"stdout"` or a file path (relative to the working directory)
    /// whose folder exists; absent, `null` or `""` is off.
    fn access_log(
        &self,
        raw: Option<String>,
    ) -> Result<Option<crate::access_log::Target>, ConfigError> {
        use crate::access_log::Target;
        let Some(raw) = raw.filter(|r| !r.is_empty()) else {
            return Ok(None);
        };
        if raw == "stdout" {
            return Ok(Some(Target::Stdout));
        }
        let path = self.cwd.join(&raw);
        let folder = path.parent().unwrap_or(self.cwd);
        if !folder.is_dir() {
            return Err(self.error(
                "access_log",
                format!(
                    "the folder of {raw:?} ({}) does not exist",
                    folder.display()
                ),
            ));
        }
        if path.is_dir() {
            return Err(self.error("access_log", format!("{raw:?} is a folder, not a file")));
        }
        Ok(Some(Target::File(path)))
    }

    fn server(&self, at: &str, raw: RawServer) -> Result<Server, ConfigError> {
        let listeners = raw.listeners.unwrap_or_default();
        if listeners.is_empty() {
            return Err(self.error(at, "a server needs at least one entry in \"listeners\""));
        }
        let listeners = listeners
            .into_iter()
            .enumerate()
            .map(|(i, l)| self.listener(&format!("{at}.listeners[{i}]"), l))
            .collect::<Result<Vec<_>, _>>()?;
        let hostnames = raw
            .hostnames
            .unwrap_or_default()
            .into_iter()
            .map(|h| h.trim().to_ascii_lowercase())
            .collect();
        let routes = raw
            .routes
            .unwrap_or_default()
            .into_iter()
            .enumerate()
            .map(|(i, r)| self.route(&format!("{at}.routes[{i}]"), r))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Server {
            listeners,
            hostnames,
            routes,
        })
    }

    fn listener(&self, at: &str, raw: RawListener) -> Result<Listener, ConfigError> {
        let host = raw.host.unwrap_or_default();
        if host.trim().is_empty() {
            return Err(self.error(at, "\"host\" is missing (e.g. \"0.0.0.0\")"));
        }
        let port = raw
            .port
            .ok_or_else(|| self.error(at, "\"port\" is missing"))?;
        let port = u16::try_from(port)
            .ok()
            .filter(|&p| p != 0)
            .ok_or_else(|| self.error(at, format!("port {port} is not between 1 and 65535")))?;
        Ok(Listener {
            host: host.trim().to_string(),
            port,
        })
    }

    fn route(&self, at: &str, raw: RawRoute) -> Result<Route, ConfigError> {
        let req_path = raw
            .req_path
            .ok_or_else(|| self.error(at, "\"req_path\" is missing"))?;
        if !req_path.starts_with('/') {
            return Err(self.error(at, format!("req_path {req_path:?} must start with '/'")));
        }
        let kind = raw
            .kind
            .ok_or_else(|| self.error(at, "\"type\" is missing"))?;
        let action = match kind.as_str() {
            "file_serve" => {
                let dir = raw
                    .dir_path
                    .filter(|d| !d.is_empty())
                    .ok_or_else(|| self.error(at, "a file_serve route needs \"dir_path\""))?;
                let index = raw.index.unwrap_or_default();
                if let Some(bad) = index.iter().find(|n| n.is_empty() || n.contains('/')) {
                    return Err(
                        self.error(at, format!("index entry {bad:?} must be a plain file name"))
                    );
                }
                let gzip = self.gzip(
                    at,
                    raw.gzip_enable,
                    raw.gzip_level,
                    raw.gzip_min_length,
                    raw.gzip_types,
                )?;
                RouteAction::FileServe(FileServe {
                    dir_path: self.cwd.join(dir),
                    index,
                    gzip,
                })
            }
            "reverse_proxy" => {
                let upstreams = raw.upstreams.unwrap_or_default();
                if upstreams.is_empty() {
                    return Err(self.error(
                        at,
                        "a reverse_proxy route needs at least one \"upstreams\" entry",
                    ));
                }
                let upstreams = upstreams
                    .iter()
                    .enumerate()
                    .map(|(i, u)| self.upstream(&format!("{at}.upstreams[{i}]"), u))
                    .collect::<Result<Vec<_>, _>>()?;
                let strategy = match raw.lb_strategy.as_deref() {
                    None => Strategy::default(),
                    Some(name) => Strategy::parse(name).ok_or_else(|| {
                        self.error(
                            &format!("{at}.lb_strategy"),
                            format!(
                                "unknown strategy {name:?} (expected round_robin, least_conn \
                                 or ip_hash)"
                            ),
                        )
                    })?,
                };
                let fail_timeout = match raw.upstream_fail_timeout_ms {
                    None => DEFAULT_FAIL_TIMEOUT,
                    Some(ms) if u64::try_from(ms).is_ok_and(|ms| ms <= MAX_TIMEOUT_MS) => {
                        Duration::from_millis(ms as u64)
                    }
                    Some(ms) => {
                        return Err(self.error(
                            &format!("{at}.upstream_fail_timeout_ms"),
                            format!("{ms} is not between 0 and {MAX_TIMEOUT_MS}"),
                        ))
                    }
                };
                let balancer = Arc::new(Balancer::new(upstreams.len(), strategy, fail_timeout));
                RouteAction::ReverseProxy {
                    upstreams,
                    balancer,
                }
            }
            "redirect" => {
                let url = raw
                    .redirect_url
                    .filter(|u| !u.is_empty())
                    .ok_or_else(|| self.error(at, "a redirect route needs \"redirect_url\""))?;
                if url.chars().any(|c| c.is_control()) {
                    return Err(self.error(at, "redirect_url contains a control character"));
                }
                let code = raw.http_status_code.unwrap_or(0);
                let status = match code {
                    // Parson reads a missing number as 0; 302 is the usual redirect.
                    0 => StatusCode::FOUND,
                    _ => u16::try_from(code)
                        .ok()
                        .and_then(StatusCode::new)
                        .filter(|s| s.is_redirection())
                        .ok_or_else(|| {
                            self.error(at, format!("http_status_code {code} is not a 3xx redirect"))
                        })?,
                };
                RouteAction::Redirect { status, url }
            }
            "metrics" => RouteAction::Metrics,
            other => {
                return Err(self.error(
                    at,
                    format!(
                    "unknown route type {other:?} (expected file_serve, reverse_proxy, redirect or metrics)"
                ),
                ))
            }
        };
        let ip_lists = IpLists {
            whitelist: self.ip_list(&format!("{at}.ip_whitelist"), raw.ip_whitelist)?,
            blacklist: self.ip_list(&format!("{at}.ip_blacklist"), raw.ip_blacklist)?,
        };
        Ok(Route {
            req_path,
            action,
            ip_lists,
        })
    }

    /// One of a route's IP lists (stage 18): every entry an address or a CIDR block; a bad one
    /// is an error naming its place (`servers[0].routes[1].ip_whitelist[2]`).
    fn ip_list(&self, at: &str, raw: Option<Vec<String>>) -> Result<Vec<IpRange>, ConfigError> {
        raw.unwrap_or_default()
            .iter()
            .enumerate()
            .map(|(i, entry)| {
                entry
                    .parse()
                    .map_err(|error| self.error(&format!("{at}[{i}]"), error))
            })
            .collect()
    }

    /// A file route's gzip keys (stage 19); each bad value is named by its JSON path.
    fn gzip(
        &self,
        at: &str,
        enable: Option<bool>,
        level: Option<i64>,
        min_length: Option<i64>,
        types: Option<Vec<String>>,
    ) -> Result<Gzip, ConfigError> {
        let mut gzip = Gzip {
            enable: enable.unwrap_or(false),
            ..Gzip::default()
        };
        if let Some(level) = level {
            gzip.level = u32::try_from(level)
                .ok()
                .filter(|l| (1..=9).contains(l))
                .ok_or_else(|| {
                    self.error(
                        &format!("{at}.gzip_level"),
                        format!("{level} is not between 1 (fastest) and 9 (smallest)"),
                    )
                })?;
        }
        if let Some(min_length) = min_length {
            gzip.min_length = u64::try_from(min_length).map_err(|_| {
                self.error(
                    &format!("{at}.gzip_min_length"),
                    format!("{min_length} is negative (a size in bytes)"),
                )
            })?;
        }
        if let Some(types) = types {
            gzip.types = types
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    let t = t.trim().to_ascii_lowercase();
                    let well_formed = t == "*"
                        || t.split_once('/').is_some_and(|(a, b)| {
                            !a.is_empty()
                                && !b.is_empty()
                                && !t.contains(|c: char| c.is_whitespace() || c == ';')
                        });
                    if well_formed {
                        Ok(t)
                    } else {
                        Err(self.error(
                            &format!("{at}.gzip_types[{i}]"),
                            format!("{t:?} is not a MIME type such as \"text/html\" (or \"*\")"),
                        ))
                    }
                })
                .collect::<Result<Vec<_>, _>>()?;
        }
        Ok(gzip)
    }

    fn upstream(&self, at: &str, text: &str) -> Result<Upstream, ConfigError> {
        let bad = || self.error(at, format!("upstream {text:?} is not \"host:port\""));
        let (host, port) = text.rsplit_once(':').ok_or_else(bad)?;
        let port: u16 = port.parse().ok().filter(|&p| p != 0).ok_or_else(bad)?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(bad());
        }
        Ok(Upstream {
            host: host.to_string(),
            port,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// The grader's config, byte for byte in content (spec §0).
    const GRADER: &str = include_str!("../../public/xps_config.json");

    fn load(text: &str) -> Config {
        Config::from_json(text, "test.json").unwrap()
    }

    fn load_err(text: &str) -> ConfigError {
        Config::from_json(text, "test.json").unwrap_err()
    }

    fn listener(port: u16) -> Listener {
        Listener {
            host: "0.0.0.0".to_string(),
            port,
        }
    }

    #[test]
    fn grader_config() {
        let config = load(GRADER);
        assert_eq!(config.server_name, "eXpServer");
        assert_eq!(config.workers, 4);
        assert_eq!(config.servers.len(), 4);
        assert!(config.servers[3].routes.is_empty());
        let ports: Vec<u16> = config.all_listeners().iter().map(|l| l.port).collect();
        assert_eq!(ports, [8001, 8002, 8003, 8004]);

        let cwd = std::env::current_dir().unwrap();
        let found = config
            .lookup(&listener(8001), Some("localhost"), "/cat.jpg")
            .unwrap();
        match &found.route.action {
            RouteAction::FileServe(f) => {
                assert_eq!(f.dir_path, cwd.join("../public"));
                assert_eq!(f.index, ["index.html"]);
                assert!(f.gzip.enable);
                assert_eq!(f.gzip.level, 8);
                assert_eq!(f.gzip.min_length, 256);
                assert!(f.gzip.types.iter().any(|t| t == "text/plain"));
            }
            other => panic!("{other:?}"),
        }
        let found = config.lookup(&listener(8001), None, "/redirect").unwrap();
        assert_eq!(
            found.route.action,
            RouteAction::Redirect {
                status: StatusCode::FOUND,
                url: "http://localhost:8002/".to_string()
            }
        );
        let found = config.lookup(&listener(8002), None, "/cat.jpg").unwrap();
        assert_eq!(
            found.route.action,
            RouteAction::ReverseProxy {
                upstreams: vec![Upstream {
                    host: "localhost".to_string(),
                    port: 3000
                }],
                balancer: Arc::new(Balancer::new(1, Strategy::RoundRobin, DEFAULT_FAIL_TIMEOUT)),
            }
        );
        assert_eq!(
            config.lookup(&listener(8004), None, "/"),
            Err(LookupError::NoRoute)
        );
        assert_eq!(
            config.lookup(&listener(9999), None, "/"),
            Err(LookupError::NoServer)
        );
        assert_eq!(LookupError::NoRoute.status().as_u16(), 404);
        assert_eq!(LookupError::NoServer.status().as_u16(), 500);
    }

    #[test]
    fn embedded_default_config() {
        let config = Config::embedded_default().unwrap();
        assert_eq!(config.all_listeners().len(), 3);
        let found = config.lookup(&listener(8003), None, "/anything").unwrap();
        assert!(matches!(found.route.action, RouteAction::Redirect { .. }));
        let found = config.lookup(&listener(8001), None, "/").unwrap();
        match &found.route.action {
            RouteAction::FileServe(f) => {
                assert_eq!(f.dir_path, std::env::current_dir().unwrap().join("public"))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn prefix_matching_on_segment_boundaries() {
        assert!(prefix_matches("/api", "/api"));
        assert!(prefix_matches("/api/x", "/api"));
        assert!(!prefix_matches("/api2", "/api"));
        assert!(!prefix_matches("/ap", "/api"));
        assert!(prefix_matches("/anything", "/"));
        assert!(prefix_matches("/", "/"));
        assert!(prefix_matches("/api/x", "/api/"));
        assert!(!prefix_matches("/api", "/api/"));
        assert!(!prefix_matches("/API", "/api"));
    }

    #[test]
    fn longest_route_wins_and_first_wins_ties() {
        let config = load(
            r#"{"servers": [{"listeners": [{"host": "0.0.0.0", "port": 8001}], "routes": [
                {"req_path": "/", "type": "file_serve", "dir_path": "/srv"},
                {"req_path": "/api", "type": "redirect", "redirect_url": "http://a/"},
                {"req_path": "/api/v1", "type": "redirect", "http_status_code": 301, "redirect_url": "http://b/"},
                {"req_path": "/api", "type": "redirect", "redirect_url": "http://c/"}
            ]}]}"#,
        );
        let url = |path: &str| match &config
            .lookup(&listener(8001), None, path)
            .unwrap()
            .route
            .action
        {
            RouteAction::Redirect { url, .. } => url.clone(),
            RouteAction::FileServe(_) => "file".to_string(),
            RouteAction::ReverseProxy { .. } => "proxy".to_string(),
            RouteAction::Metrics => "metrics".to_string(),
        };
        assert_eq!(url("/api/data"), "http://a/");
        assert_eq!(url("/api"), "http://a/");
        assert_eq!(url("/api/v1/x"), "http://b/");
        assert_eq!(url("/api/v10"), "http://a/");
        assert_eq!(url("/ap"), "file");
        assert_eq!(url("/api2"), "file");
    }

    #[test]
    fn hostnames_choose_the_server_with_a_default_fallback() {
        let config = load(
            r#"{"servers": [
                {"listeners": [{"host": "0.0.0.0", "port": 8001}], "hostnames": ["a.example"],
                 "routes": [{"req_path": "/", "type": "redirect", "redirect_url": "http://a/"}]},
                {"listeners": [{"host": "0.0.0.0", "port": 8001}, {"host": "0.0.0.0", "port": 8002}],
                 "hostnames": ["B.Example"],
                 "routes": [{"req_path": "/", "type": "redirect", "redirect_url": "http://b/"}]},
                {"listeners": [{"host": "0.0.0.0", "port": 8002}],
                 "routes": [{"req_path": "/", "type": "redirect", "redirect_url": "http://any/"}]}
            ]}"#,
        );
        let url = |port: u16, host: Option<&str>| match &config
            .lookup(&listener(port), host, "/")
            .unwrap()
            .route
            .action
        {
            RouteAction::Redirect { url, .. } => url.clone(),
            _ => unreachable!(),
        };
        assert_eq!(url(8001, Some("a.example")), "http://a/");
        assert_eq!(url(8001, Some("b.example")), "http://b/");
        // Unknown or missing host: the listener's first server, like nginx's default server.
        assert_eq!(url(8001, Some("c.example")), "http://a/");
        assert_eq!(url(8001, None), "http://a/");
        assert_eq!(url(8002, Some("b.example")), "http://b/");
        assert_eq!(url(8002, Some("zzz")), "http://any/");
        // Two servers share 8001 and 8002: each listener appears once.
        assert_eq!(config.all_listeners(), [listener(8001), listener(8002)]);
    }

    #[test]
    fn timeout_extension_keys() {
        let servers = r#""servers": [{"listeners": [{"host": "127.0.0.1", "port": 1}]}]"#;
        assert_eq!(load(&format!("{{{servers}}}")).timeouts, Timeouts::DEFAULT);
        let config = load(&format!("{{\"keep_alive_timeout_ms\": 300, {servers}}}"));
        assert_eq!(config.timeouts.keep_alive, Duration::from_millis(300));
        let config = load(&format!("{{\"send_timeout_ms\": 0, {servers}}}"));
        assert_eq!(config.timeouts.send, Duration::ZERO);
        for key in Timeouts::KEYS {
            for bad in ["-1", "3600001", "2.5"] {
                let error = load_err(&format!("{{\"{key}\": {bad}, {servers}}}"));
                assert!(error.message.starts_with(&format!("{key}: ")), "{error}");
                assert_eq!(error.file, "test.json");
            }
        }
    }

    #[test]
    fn defaults_and_tolerated_keys() {
        let config = load(
            r#"{"servers": [{"listeners": [{"host": "127.0.0.1", "port": 1}],
                "future_key": {"nested": true},
                "routes": [
                  {"req_path": "/r", "type": "redirect", "redirect_url": "/x", "whatever": 1},
                  {"req_path": "/f", "type": "file_serve", "dir_path": "/abs", "index": null,
                   "ip_whitelist": ["127.0.0.1"], "ip_blacklist": ["10.0.0.1"]}
                ]}]}"#,
        );
        assert_eq!(config.server_name, "eXpServer");
        assert_eq!(config.workers, 1);
        let auto = Config::from_json(
            r#"{"workers": "auto", "servers": [{"listeners": [{"host": "h", "port": 1}]}]}"#,
            "auto.json",
        )
        .unwrap();
        assert_eq!(
            auto.workers,
            std::thread::available_parallelism().map_or(1, |n| n.get())
        );
        let routes = &config.servers[0].routes;
        assert_eq!(
            routes[0].action,
            RouteAction::Redirect {
                status: StatusCode::FOUND,
                url: "/x".to_string()
            }
        );
        match &routes[1].action {
            RouteAction::FileServe(f) => {
                assert_eq!(f.dir_path, PathBuf::from("/abs"));
                assert!(f.index.is_empty());
                assert_eq!(f.gzip, Gzip::default());
                assert!(!f.gzip.enable);
                assert_eq!(f.gzip.level, 6);
            }
            other => panic!("{other:?}"),
        }
        let lists = &routes[1].ip_lists;
        assert_eq!(lists.whitelist, ["127.0.0.1".parse().unwrap()]);
        assert_eq!(lists.blacklist, ["10.0.0.1".parse().unwrap()]);
        assert!(routes[0].ip_lists.is_empty());
    }

    #[test]
    fn gzip_keys() {
        let config = load(
            r#"{"servers": [{"listeners": [{"host": "h", "port": 1}], "routes": [
                {"req_path": "/", "type": "file_serve", "dir_path": "/srv", "gzip_enable": true,
                 "gzip_level": 1, "gzip_min_length": 0, "gzip_types": [" Text/HTML ", "*"]}]}]}"#,
        );
        let RouteAction::FileServe(f) = &config.servers[0].routes[0].action else {
            panic!("a file route");
        };
        assert_eq!(
            f.gzip,
            Gzip {
                enable: true,
                level: 1,
                min_length: 0,
                types: vec!["text/html".to_string(), "*".to_string()],
            }
        );
        let gzip = Gzip::default();
        assert!(gzip.worth_compressing("text/plain", 256));
        assert!(gzip.worth_compressing("text/html; charset=utf-8", 1000));
        assert!(!gzip.worth_compressing("text/plain", 255));
        assert!(!gzip.worth_compressing("image/jpeg", 1 << 20));
        assert!(f.gzip.worth_compressing("image/jpeg", 0));
        let err = load_err(
            r#"{"servers": [{"listeners": [{"host": "h", "port": 1}], "routes": [
                {"req_path": "/", "type": "file_serve", "dir_path": "/srv", "gzip_enable": "yes"}]}]}"#,
        );
        assert!(err.message.contains("wrong type"), "{err}");
    }

    #[test]
    fn json_errors_name_file_line_and_column() {
        let err = load_err("{\n  \"servers\": [\n    {\"listeners\": [}\n  ]\n}");
        assert_eq!(err.file, "test.json");
        assert_eq!(err.line, Some(3));
        assert!(err.column.is_some());
        let text = err.to_string();
        assert!(text.starts_with("test.json:3:"), "{text}");
        assert!(text.contains("not valid JSON"), "{text}");

        let err = load_err(
            "{\"servers\": [{\"listeners\": [{\"host\": \"0.0.0.0\", \"port\": \"80\"}]}]}",
        );
        assert!(err.message.contains("wrong type"), "{err}");
        assert_eq!(err.line, Some(1));

        let err = load_err("{\"servers\": [");
        assert!(err.message.contains("ends in the middle"), "{err}");
    }

    #[test]
    fn semantic_errors_say_what_and_where() {
        let cases = [
            (r#"{}"#, "\"servers\" is missing"),
            (r#"{"servers": []}"#, "at least one server"),
            (
                r#"{"servers": [{}]}"#,
                "servers[0]: a server needs at least one entry in \"listeners\"",
            ),
            (
                r#"{"servers": [{"listeners": [{"port": 80}]}]}"#,
                "\"host\" is missing",
            ),
            (
                r#"{"servers": [{"listeners": [{"host": "h"}]}]}"#,
                "\"port\" is missing",
            ),
            (
                r#"{"servers": [{"listeners": [{"host": "h", "port": 0}]}]}"#,
                "port 0 is not between 1 and 65535",
            ),
            (
                r#"{"servers": [{"listeners": [{"host": "h", "port": 70000}]}]}"#,
                "port 70000",
            ),
            (
                r#"{"servers": [{"listeners": [{"host": "h", "port": -1}]}]}"#,
                "port -1",
            ),
            (
                r#"{"servers": [{"listeners": [{"host": "h", "port": 1}], "routes": [{"type": "redirect"}]}]}"#,
                "servers[0].routes[0]: \"req_path\" is missing",
            ),
            (
                r#"{"servers": [{"listeners": [{"host": "h", "port": 1}], "routes": [{"req_path": "x", "type": "redirect"}]}]}"#,
                "must start with '/'",
            ),
            (
                r#"{"servers": [{"listeners": [{"host": "h", "port": 1}], "routes": [{"req_path": "/"}]}]}"#,
                "\"type\" is missing",
            ),
            (
                r#"{"servers": [{"listeners": [{"host": "h", "port": 1}], "routes": [{"req_path": "/", "type": "cgi"}]}]}"#,
                "unknown route type \"cgi\"",
            ),
            (
                r#"{"servers": [{"listeners": [{"host": "h", "port": 1}], "routes": [{"req_path": "/", "type": "file_serve"}]}]}"#,
                "file_serve route needs \"dir_path\"",
            ),
            (
                r#"{"servers": [{"listeners": [{"host": "h", "port": 1}], "routes": [{"req_path": "/", "type": "file_serve", "dir_path": "x", "index": ["../a"]}]}]}"#,
                "plain file name",
            ),
            (
                r#"{"servers": [{"listeners": [{"host": "h", "port": 1}], "routes": [{"req_path": "/", "type": "file_serve", "dir_path": "x", "gzip_level": 12}]}]}"#,
                "servers[0].routes[0].gzip_level: 12 is not between 1",
            ),
            (
                r#"{"servers": [{"listeners": [{"host": "h", "port": 1}], "routes": [{"req_path": "/", "type": "file_serve", "dir_path": "x", "gzip_level": 0}]}]}"#,
                "servers[0].routes[0].gzip_level: 0 is not",
            ),
            (
                r#"{"servers": [{"listeners": [{"host": "h", "port": 1}], "routes": [{"req_path": "/", "type": "file_serve", "dir_path": "x", "gzip_min_length": -1}]}]}"#,
                "servers[0].routes[0].gzip_min_length: -1 is negative",
            ),
            (
                r#"{"servers": [{"listeners": [{"host": "h", "port": 1}], "routes": [{"req_path": "/a", "type": "redirect", "redirect_url": "/"}, {"req_path": "/", "type": "file_serve", "dir_path": "x", "gzip_types": ["text/html", "text/plain", "html"]}]}]}"#,
                "servers[0].routes[1].gzip_types[2]: \"html\" is not a MIME type",
            ),
            (
                r#"{"servers": [{"listeners": [{"host": "h", "port": 1}], "routes": [{"req_path": "/", "type": "reverse_proxy"}]}]}"#,
                "at least one \"upstreams\"",
            ),
            (
                r#"{"servers": [{"listeners": [{"host": "h", "port": 1}], "routes": [{"req_path": "/", "type": "reverse_proxy", "upstreams": ["localhost"]}]}]}"#,
                "upstream \"localhost\" is not \"host:port\"",
            ),
            (
                r#"{"servers": [{"listeners": [{"host": "h", "port": 1}], "routes": [{"req_path": "/", "type": "reverse_proxy", "upstreams": [":80"]}]}]}"#,
                "is not \"host:port\"",
            ),
            (
                r#"{"servers": [{"listeners": [{"host": "h", "port": 1}], "routes": [{"req_path": "/", "type": "redirect"}]}]}"#,
                "needs \"redirect_url\"",
            ),
            (
                r#"{"servers": [{"listeners": [{"host": "h", "port": 1}], "routes": [{"req_path": "/", "type": "redirect", "redirect_url": "/x", "http_status_code": 200}]}]}"#,
                "200 is not a 3xx",
            ),
            (
                r#"{"servers": [{"listeners": [{"host": "h", "port": 1}], "routes": [{"req_path": "/", "type": "redirect", "redirect_url": "/x\r\nSet-Cookie: a"}]}]}"#,
                "control character",
            ),
            (
                r#"{"workers": -3, "servers": [{"listeners": [{"host": "h", "port": 1}]}]}"#,
                "workers",
            ),
            (
                r#"{"workers": 0, "servers": [{"listeners": [{"host": "h", "port": 1}]}]}"#,
                "workers: 0 is not between 1 and 1024",
            ),
            (
                r#"{"workers": 2000, "servers": [{"listeners": [{"host": "h", "port": 1}]}]}"#,
                "workers: 2000 is not between 1 and 1024",
            ),
            (
                r#"{"workers": "x", "servers": [{"listeners": [{"host": "h", "port": 1}]}]}"#,
                "workers: \"x\" is not a number of workers",
            ),
            (
                r#"{"workers": 2.5, "servers": [{"listeners": [{"host": "h", "port": 1}]}]}"#,
                "workers: 2.5 is not a number of workers",
            ),
            (
                r#"{"servers": [{"listeners": [{"host": "h", "port": 1}], "routes": [{"req_path": "/", "type": "redirect", "redirect_url": "/x"}, {"req_path": "/a", "type": "redirect", "redirect_url": "/x", "ip_whitelist": ["10.0.0.0/8", "::1", "127.0.0.l"]}]}]}"#,
                "servers[0].routes[1].ip_whitelist[2]: \"127.0.0.l\" is not an IP address",
            ),
            (
                r#"{"servers": [{"listeners": [{"host": "h", "port": 1}], "routes": [{"req_path": "/", "type": "redirect", "redirect_url": "/x", "ip_blacklist": ["10.0.0.0/40"]}]}]}"#,
                "servers[0].routes[0].ip_blacklist[0]: \"10.0.0.0/40\": the prefix length",
            ),
        ];
        for (json, expected) in cases {
            let err = load_err(json);
            assert!(
                err.to_string().contains(expected),
                "{json}\n  gave: {err}\n  wanted: {expected}"
            );
            assert!(err.to_string().starts_with("test.json: "), "{err}");
        }
    }

    #[test]
    fn ipv6_upstream_and_redirect_codes() {
        let config = load(
            r#"{"servers": [{"listeners": [{"host": "::", "port": 1}], "routes": [
                {"req_path": "/", "type": "reverse_proxy", "upstreams": ["[::1]:3000", "b:1"]},
                {"req_path": "/m", "type": "redirect", "redirect_url": "/x", "http_status_code": 308}
            ]}]}"#,
        );
        match &config.servers[0].routes[0].action {
            RouteAction::ReverseProxy { upstreams, .. } => {
                assert_eq!(upstreams[0].host, "::1");
                assert_eq!(upstreams[0].to_string(), "[::1]:3000");
                assert_eq!(upstreams[1].to_string(), "b:1");
                assert_eq!(upstreams.len(), 2);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            config.servers[0].routes[1].action,
            RouteAction::Redirect { status, .. } if status.as_u16() == 308
        ));
    }

    #[test]
    fn load_balancing_keys_of_a_proxy_route() {
        let route = |extra: &str| {
            format!(
                r#"{{"servers": [{{"listeners": [{{"host": "h", "port": 1}}], "routes": [
                    {{"req_path": "/", "type": "reverse_proxy",
                      "upstreams": ["a:1", "localhost:2", "[::1]:3"]{extra}}}]}}]}}"#
            )
        };
        let balancer = |config: &Config| match &config.servers[0].routes[0].action {
            RouteAction::ReverseProxy {
                upstreams,
                balancer,
            } => {
                assert_eq!(upstreams.len(), 3);
                (balancer.strategy(), balancer.fail_timeout())
            }
            other => panic!("{other:?}"),
        };
        assert_eq!(
            balancer(&load(&route(""))),
            (Strategy::RoundRobin, Duration::from_secs(10))
        );
        for strategy in Strategy::ALL {
            let config = load(&route(&format!(r#", "lb_strategy": "{strategy}""#)));
            assert_eq!(balancer(&config).0, strategy);
        }
        let config = load(&route(r#", "upstream_fail_timeout_ms": 0"#));
        assert_eq!(balancer(&config).1, Duration::ZERO);

        let cases = [
            (
                r#", "lb_strategy": "random""#,
                "servers[0].routes[0].lb_strategy: unknown strategy \"random\"",
            ),
            (
                r#", "upstream_fail_timeout_ms": -5"#,
                "servers[0].routes[0].upstream_fail_timeout_ms: -5 is not between 0",
            ),
            (
                r#", "upstream_fail_timeout_ms": 3600001"#,
                "upstream_fail_timeout_ms: 3600001",
            ),
        ];
        for (extra, expected) in cases {
            let err = load_err(&route(extra));
            assert!(err.to_string().contains(expected), "{err}");
        }
        let err = load_err(&route(r#", "lb_strategy": 3"#));
        assert!(err.message.contains("wrong type"), "{err}");
        let err = load_err(
            r#"{"servers": [{"listeners": [{"host": "h", "port": 1}], "routes": [
                {"req_path": "/", "type": "reverse_proxy", "upstreams": ["a:1", "b"]}]}]}"#,
        );
        assert!(
            err.to_string()
                .contains("servers[0].routes[0].upstreams[1]: upstream \"b\""),
            "{err}"
        );
        // The keys mean nothing on other routes, and are tolerated there like any unknown key.
        load(
            r#"{"servers": [{"listeners": [{"host": "h", "port": 1}], "routes": [
                {"req_path": "/", "type": "redirect", "redirect_url": "/x", "lb_strategy": "?"}]}]}"#,
        );
    }

    #[test]
    fn load_reads_files_and_reports_missing_ones() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.json");
        std::fs::write(&path, GRADER).unwrap();
        let config = Config::load(&path).unwrap();
        assert_eq!(config.path.as_deref(), Some(path.as_path()));
        let err = Config::load(&dir.path().join("missing.json")).unwrap_err();
        assert!(
            err.to_string()
                .contains("missing.json: cannot read the config file"),
            "{err}"
        );
    }
}
