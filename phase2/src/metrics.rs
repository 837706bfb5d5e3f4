//! Stage 22: the server's counters, and the text a metrics route answers with.
//!
//! An operator asks a running server "how many requests, how fast, how many failed?" by
//! scraping a URL. Prometheus defined the format everybody reads (the text exposition format
//! 0.0.4): one `# HELP` and one `# TYPE` line per family, then one line per series,
//! `name{label="value"} number`. This module keeps the numbers and writes that text (and, for
//! `Accept: application/json`, one JSON object with the same names).
//!
//! # Cheap on the hot path, shared by every worker
//!
//! Every counter is an [`AtomicU64`] updated with `Relaxed` ordering: a request costs a few
//! uncontended atomic adds and no lock. One [`Metrics`] value, in an `Arc`, is shared by every
//! core (stage 23 runs one per worker thread), so the counts are exact across workers without
//! summing anything at scrape time. The label sets are fixed when the server starts: one series
//! per route (its `req_path`) and per status code 100-599, kept as a flat array indexed by
//! `code - 100`, so counting a request is an index and an add, never a map lookup; a scrape
//! prints only the series that are not zero.
//!
//! # What a duration is
//!
//! `expserver_request_duration_seconds` runs from the moment the request head is complete to
//! the moment the last byte of the answer is handed to the kernel (for a connection that then
//! closes, when the session ends, after its last write; on a kept connection, when the answer is
//! entirely queued and the next request may start).

use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use phase1::{ClientTraffic, TimerKind};

use crate::balancer::Balancer;
use crate::config::{Config, Route, RouteAction};

/// The upper bounds (seconds) of the duration histogram's buckets; `+Inf` follows.
pub const DURATION_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The status codes a series can have: 100 to 599.
const CODES: usize = 500;

/// The kinds of stage 21's timeouts, in the order of [`Metrics::timeouts`].
pub const TIMEOUT_KINDS: [&str; 5] = ["header", "body", "keep_alive", "send", "upstream"];

/// How one try of an upstream ended (`expserver_upstream_requests_total{outcome}`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpstreamOutcome {
    /// It answered (its answer was relayed, whatever its status).
    Ok,
    /// The connect failed: refused, unreachable.
    ConnectError,
    /// The connect or the answer took too long (stage 21).
    Timeout,
    /// It accepted the connection, then closed it without a byte of answer.
    Error,
}

impl UpstreamOutcome {
    const ALL: [UpstreamOutcome; 4] = [
        UpstreamOutcome::Ok,
        UpstreamOutcome::ConnectError,
        UpstreamOutcome::Timeout,
        UpstreamOutcome::Error,
    ];

    fn label(self) -> &'static str {
        match self {
            UpstreamOutcome::Ok => "ok",
            UpstreamOutcome::ConnectError => "connect_error",
            UpstreamOutcome::Timeout => "timeout",
            UpstreamOutcome::Error => "error",
        }
    }
}

/// Every counter of the server. Made once at start-up from the config and shared (`Arc`) by
/// every core and session.
#[derive(Debug)]
pub struct Metrics {
    /// The route labels: slot 0 is `""` (no route matched), then one per distinct `req_path`.
    route_labels: Vec<String>,
    /// For the i-th route of the config (servers in order, routes in order), its label slot.
    slot_of_route: Vec<usize>,
    /// `requests[slot * CODES + (code - 100)]`.
    requests: Box<[AtomicU64]>,
    /// Non-cumulative counts per bucket of [`DURATION_BUCKETS`], plus one for `+Inf`.
    duration_buckets: Box<[AtomicU64]>,
    duration_sum_nanos: AtomicU64,
    pub connections_accepted: AtomicU64,
    pub connections_active: AtomicI64,
    /// Accepted connections per worker: workers 1..=n (stage 23), or the one entry of worker 0
    /// for a single-threaded server.
    pub worker_accepted: Box<[AtomicU64]>,
    /// The number of the first entry of `worker_accepted`: 1 with workers, else 0.
    first_worker: usize,
    /// Bytes on client sockets, counted by the cores themselves (`Core::set_client_traffic`).
    pub traffic: Arc<ClientTraffic>,
    /// One per entry of [`TIMEOUT_KINDS`].
    pub timeouts: [AtomicU64; 5],
    pub gzip_responses: AtomicU64,
    pub denied: AtomicU64,
    /// Every upstream the config names, as written (`host:port`), once.
    upstream_labels: Vec<String>,
    /// For each upstream label: the balancer of (the first) route that names it and its index
    /// there, which say whether it is marked down now (stage 20).
    upstream_health: Vec<(Arc<Balancer>, usize)>,
    /// `upstream_counts[label * 4 + outcome]`, outcomes in [`UpstreamOutcome::ALL`] order.
    upstream_counts: Box<[AtomicU64]>,
}

impl Metrics {
    /// Counters for `config`'s routes, for a server of `workers` worker threads (stage 23), or
    /// `None` for one event loop on the main thread.
    pub fn new(config: &Config, workers: Option<usize>) -> Metrics {
        let mut route_labels = vec![String::new()];
        let mut slot_of_route = Vec::new();
        for route in config.servers.iter().flat_map(|s| &s.routes) {
            let slot = match route_labels.iter().position(|l| *l == route.req_path) {
                Some(slot) => slot,
                None => {
                    route_labels.push(route.req_path.clone());
                    route_labels.len() - 1
                }
            };
            slot_of_route.push(slot);
        }
        let mut upstream_labels: Vec<String> = Vec::new();
        let mut upstream_health = Vec::new();
        for route in config.servers.iter().flat_map(|s| &s.routes) {
            if let RouteAction::ReverseProxy {
                upstreams,
                balancer,
            } = &route.action
            {
                for (index, upstream) in upstreams.iter().enumerate() {
                    let label = upstream.to_string();
                    if !upstream_labels.contains(&label) {
                        upstream_labels.push(label);
                        upstream_health.push((balancer.clone(), index));
                    }
                }
            }
        }
        let zeros = |n: usize| (0..n).map(|_| AtomicU64::new(0)).collect::<Box<[_]>>();
        Metrics {
            requests: zeros(route_labels.len() * CODES),
            route_labels,
            slot_of_route,
            duration_buckets: zeros(DURATION_BUCKETS.len() + 1),
            duration_sum_nanos: AtomicU64::new(0),
            connections_accepted: AtomicU64::new(0),
            connections_active: AtomicI64::new(0),
            worker_accepted: zeros(workers.unwrap_or(1).max(1)),
            first_worker: usize::from(workers.is_some()),
            traffic: Arc::new(ClientTraffic::default()),
            timeouts: Default::default(),
            gzip_responses: AtomicU64::new(0),
            denied: AtomicU64::new(0),
            upstream_counts: zeros(upstream_labels.len() * UpstreamOutcome::ALL.len()),
            upstream_labels,
            upstream_health,
        }
    }

    /// The label slot of `route`, a route of `config` (0 for no route).
    pub fn slot(&self, config: &Config, route: Option<&Route>) -> usize {
        let Some(route) = route else { return 0 };
        config
            .servers
            .iter()
            .flat_map(|s| &s.routes)
            .position(|r| std::ptr::eq(r, route))
            .and_then(|i| self.slot_of_route.get(i).copied())
            .unwrap_or(0)
    }

    /// A connection was accepted by `worker`.
    pub fn connection_opened(&self, worker: usize) {
        self.connections_accepted.fetch_add(1, Relaxed);
        self.connections_active.fetch_add(1, Relaxed);
        let index = worker.wrapping_sub(self.first_worker);
        if let Some(count) = self.worker_accepted.get(index) {
            count.fetch_add(1, Relaxed);
        }
    }

    /// A connection's session ended.
    pub fn connection_closed(&self) {
        self.connections_active.fetch_sub(1, Relaxed);
    }

    /// An answer with status `code` was sent on the route of label slot `slot`.
    pub fn count_request(&self, slot: usize, code: u16) {
        let code = usize::from(code.clamp(100, 599)) - 100;
        if let Some(count) = self.requests.get(slot * CODES + code) {
            count.fetch_add(1, Relaxed);
        }
    }

    /// One request's duration (see the module docs).
    pub fn observe_duration(&self, took: Duration) {
        let seconds = took.as_secs_f64();
        let bucket = DURATION_BUCKETS
            .iter()
            .position(|&le| seconds <= le)
            .unwrap_or(DURATION_BUCKETS.len());
        self.duration_buckets[bucket].fetch_add(1, Relaxed);
        let nanos = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        self.duration_sum_nanos.fetch_add(nanos, Relaxed);
    }

    /// A stage-21 timer of `kind` expired and was acted on.
    pub fn count_timeout(&self, kind: TimerKind) {
        let index = match kind {
            TimerKind::Header => 0,
            TimerKind::Body => 1,
            TimerKind::KeepAlive => 2,
            TimerKind::Send => 3,
            TimerKind::UpstreamConnect | TimerKind::Upstream => 4,
        };
        self.timeouts[index].fetch_add(1, Relaxed);
    }

    /// One try of the upstream `upstream` (`host:port` as configured) ended with `outcome`.
    pub fn count_upstream(&self, upstream: &str, outcome: UpstreamOutcome) {
        let Some(label) = self.upstream_labels.iter().position(|l| l == upstream) else {
            return;
        };
        let outcome = UpstreamOutcome::ALL
            .iter()
            .position(|o| *o == outcome)
            .unwrap_or(0);
        if let Some(count) = self
            .upstream_counts
            .get(label * UpstreamOutcome::ALL.len() + outcome)
        {
            count.fetch_add(1, Relaxed);
        }
    }

    /// Every family, read now.
    fn families(&self) -> Vec<Family> {
        let counter = |name, help, value: u64| Family {
            name,
            help,
            kind: Kind::Counter,
            samples: vec![Sample::plain(value as f64)],
        };
        let gauge = |name, help, value: f64| Family {
            name,
            help,
            kind: Kind::Gauge,
            samples: vec![Sample::plain(value)],
        };
        let mut families = vec![
            counter(
                "expserver_connections_accepted_total",
                "Client connections accepted.",
                self.connections_accepted.load(Relaxed),
            ),
            gauge(
                "expserver_connections_active",
                "Client connections open now.",
                self.connections_active.load(Relaxed).max(0) as f64,
            ),
        ];
        let mut requests = Vec::new();
        for (slot, route) in self.route_labels.iter().enumerate() {
            for code in 0..CODES {
                let n = self.requests[slot * CODES + code].load(Relaxed);
                if n > 0 {
                    requests.push(Sample {
                        suffix: "",
                        labels: vec![("route", route.clone()), ("code", (code + 100).to_string())],
                        value: n as f64,
                    });
                }
            }
        }
        families.push(Family {
            name: "expserver_requests_total",
            help: "Requests answered, by route (its req_path) and status code.",
            kind: Kind::Counter,
            samples: requests,
        });
        families.push(self.duration_family());
        families.push(counter(
            "expserver_sent_bytes_total",
            "Bytes sent to clients.",
            self.traffic.sent.load(Relaxed),
        ));
        families.push(counter(
            "expserver_received_bytes_total",
            "Bytes received from clients.",
            self.traffic.received.load(Relaxed),
        ));
        let mut upstream_requests = Vec::new();
        for (label, upstream) in self.upstream_labels.iter().enumerate() {
            for (i, outcome) in UpstreamOutcome::ALL.iter().enumerate() {
                let n = self.upstream_counts[label * UpstreamOutcome::ALL.len() + i].load(Relaxed);
                upstream_requests.push(Sample {
                    suffix: "",
                    labels: vec![
                        ("upstream", upstream.clone()),
                        ("outcome", outcome.label().to_string()),
                    ],
                    value: n as f64,
                });
            }
        }
        families.push(Family {
            name: "expserver_upstream_requests_total",
            help: "Tries of each upstream, by how they ended.",
            kind: Kind::Counter,
            samples: upstream_requests,
        });
        families.push(Family {
            name: "expserver_upstream_up",
            help: "1 while the upstream is used, 0 while it is marked down after a failure.",
            kind: Kind::Gauge,
            samples: self
                .upstream_labels
                .iter()
                .zip(&self.upstream_health)
                .map(|(upstream, (balancer, index))| Sample {
                    suffix: "",
                    labels: vec![("upstream", upstream.clone())],
                    value: if balancer.is_down(*index) { 0.0 } else { 1.0 },
                })
                .collect(),
        });
        families.push(Family {
            name: "expserver_timeouts_total",
            help: "Stage 21's timeouts that expired, by kind.",
            kind: Kind::Counter,
            samples: TIMEOUT_KINDS
                .iter()
                .zip(&self.timeouts)
                .map(|(kind, n)| Sample {
                    suffix: "",
                    labels: vec![("kind", kind.to_string())],
                    value: n.load(Relaxed) as f64,
                })
                .collect(),
        });
        families.push(counter(
            "expserver_gzip_responses_total",
            "Responses sent gzip-compressed.",
            self.gzip_responses.load(Relaxed),
        ));
        families.push(counter(
            "expserver_denied_total",
            "Requests refused with 403 by a route's IP lists.",
            self.denied.load(Relaxed),
        ));
        families.push(gauge(
            "expserver_workers",
            "Worker threads, each with its own event loop.",
            self.worker_accepted.len() as f64,
        ));
        families.push(Family {
            name: "expserver_worker_connections_accepted_total",
            help: "Client connections accepted, by worker.",
            kind: Kind::Counter,
            samples: self
                .worker_accepted
                .iter()
                .enumerate()
                .map(|(worker, n)| Sample {
                    suffix: "",
                    labels: vec![("worker", (worker + self.first_worker).to_string())],
                    value: n.load(Relaxed) as f64,
                })
                .collect(),
        });
        families.extend(process_families());
        families
    }

    fn duration_family(&self) -> Family {
        let mut samples = Vec::new();
        let mut cumulative = 0;
        for (i, count) in self.duration_buckets.iter().enumerate() {
            cumulative += count.load(Relaxed);
            let le = DURATION_BUCKETS
                .get(i)
                .map_or_else(|| "+Inf".to_string(), |le| le.to_string());
            samples.push(Sample {
                suffix: "_bucket",
                labels: vec![("le", le)],
                value: cumulative as f64,
            });
        }
        let sum = self.duration_sum_nanos.load(Relaxed) as f64 / 1e9;
        samples.push(Sample {
            suffix: "_sum",
            labels: Vec::new(),
            value: sum,
        });
        // `_count` is the `+Inf` bucket as read above, so the two always agree.
        samples.push(Sample {
            suffix: "_count",
            labels: Vec::new(),
            value: cumulative as f64,
        });
        Family {
            name: "expserver_request_duration_seconds",
            help: "From a request head's last byte to its answer's last byte handed to the kernel.",
            kind: Kind::Histogram,
            samples,
        }
    }

    /// The Prometheus text exposition format 0.0.4.
    pub fn prometheus_text(&self) -> String {
        let mut out = String::with_capacity(4096);
        for family in self.families() {
            let _ = writeln!(out, "# HELP {} {}", family.name, family.help);
            let _ = writeln!(out, "# TYPE {} {}", family.name, family.kind.as_str());
            for sample in &family.samples {
                out.push_str(family.name);
                out.push_str(sample.suffix);
                if !sample.labels.is_empty() {
                    out.push('{');
                    for (i, (name, value)) in sample.labels.iter().enumerate() {
                        if i > 0 {
                            out.push(',');
                        }
                        let _ = write!(out, "{name}=\"{}\"", escape_label(value));
                    }
                    out.push('}');
                }
                let _ = writeln!(out, " {}", number(sample.value));
            }
        }
        out
    }

    /// The same families as one JSON object: a number for a family of one unlabelled series,
    /// otherwise a list of `{"labels": {...}, "value": n}` (a histogram's series keep their
    /// `_bucket`, `_sum`, `_count` names as keys).
    pub fn json(&self) -> String {
        let mut top = serde_json::Map::new();
        for family in self.families() {
            if family.kind == Kind::Histogram {
                let mut series = serde_json::Map::new();
                let buckets: Vec<_> = family
                    .samples
                    .iter()
                    .filter(|s| s.suffix == "_bucket")
                    .map(|s| serde_json::json!({ "le": s.labels[0].1, "count": json_number(s.value) }))
                    .collect();
                series.insert("buckets".into(), buckets.into());
                for s in family.samples.iter().filter(|s| s.suffix != "_bucket") {
                    series.insert(
                        s.suffix.trim_start_matches('_').into(),
                        json_number(s.value),
                    );
                }
                top.insert(family.name.into(), series.into());
                continue;
            }
            let value = match family.samples.as_slice() {
                [only] if only.labels.is_empty() => json_number(only.value),
                samples => samples
                    .iter()
                    .map(|s| {
                        let labels: serde_json::Map<_, _> = s
                            .labels
                            .iter()
                            .map(|(k, v)| (k.to_string(), serde_json::Value::from(v.clone())))
                            .collect();
                        serde_json::json!({ "labels": labels, "value": json_number(s.value) })
                    })
                    .collect::<Vec<_>>()
                    .into(),
            };
            top.insert(family.name.into(), value);
        }
        serde_json::Value::Object(top).to_string()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// One metric family as read at scrape time.
struct Family {
    name: &'static str,
    help: &'static str,
    kind: Kind,
    samples: Vec<Sample>,
}

struct Sample {
    /// `_bucket`, `_sum`, `_count` for a histogram; empty otherwise.
    suffix: &'static str,
    labels: Vec<(&'static str, String)>,
    value: f64,
}

impl Sample {
    fn plain(value: f64) -> Sample {
        Sample {
            suffix: "",
            labels: Vec::new(),
            value,
        }
    }
}

/// A label value as the format wants it: `\`, `"` and newlines escaped.
fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// A JSON number: an integer when the value is whole (counts), a float otherwise.
fn json_number(value: f64) -> serde_json::Value {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        serde_json::Value::from(value as i64)
    } else {
        serde_json::Value::from(value)
    }
}

/// Whole numbers without a fraction (`12`, not `12.0`); others as Rust prints them.
fn number(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{}", value as i64)
    } else {
        format!("{value}")
    }
}

/// The clock ticks `/proc/self/stat` counts in (`USER_HZ`): 100 on every Linux architecture's
/// user-space ABI, which is what Prometheus's own clients assume too.
const USER_HZ: f64 = 100.0;

/// The standard `process_*` families every Prometheus client library exports, from `/proc`.
/// A value that cannot be read is left out rather than reported as a false zero.
fn process_families() -> Vec<Family> {
    let mut families = Vec::new();
    let mut add = |name, help, kind, value: Option<f64>| {
        if let Some(value) = value {
            families.push(Family {
                name,
                help,
                kind,
                samples: vec![Sample::plain(value)],
            });
        }
    };
    let stat = std::fs::read_to_string("/proc/self/stat").ok();
    // After the command name in parentheses: field 3 (state) onwards.
    let fields: Vec<&str> = stat
        .as_deref()
        .and_then(|s| s.rsplit_once(')'))
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<f64>().ok());
    let cpu = field(14).zip(field(15)).map(|(u, s)| (u + s) / USER_HZ);
    add(
        "process_cpu_seconds_total",
        "Total user and system CPU time spent in seconds.",
        Kind::Counter,
        cpu,
    );
    let rss = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
            line.split_whitespace().nth(1)?.parse::<f64>().ok()
        })
        .map(|kb| kb * 1024.0);
    add(
        "process_resident_memory_bytes",
        "Resident memory size in bytes.",
        Kind::Gauge,
        rss,
    );
    let fds = std::fs::read_dir("/proc/self/fd")
        .ok()
        .map(|dir| dir.count() as f64);
    add(
        "process_open_fds",
        "Number of open file descriptors.",
        Kind::Gauge,
        fds,
    );
    let max_fds = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .ok()
        .map(|(soft, _)| soft as f64);
    add(
        "process_max_fds",
        "Maximum number of open file descriptors.",
        Kind::Gauge,
        max_fds,
    );
    // Field 22 is the start time in ticks after boot; `btime` in /proc/stat is the boot time.
    let boot = std::fs::read_to_string("/proc/stat").ok().and_then(|s| {
        let line = s.lines().find(|l| l.starts_with("btime "))?;
        line[6..].trim().parse::<f64>().ok()
    });
    let start = field(22)
        .zip(boot)
        .map(|(ticks, boot)| boot + ticks / USER_HZ);
    let start = start.or_else(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .ok()
            .map(|d| d.as_secs_f64())
    });
    add(
        "process_start_time_seconds",
        "Start time of the process since unix epoch in seconds.",
        Kind::Gauge,
        start,
    );
    families
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metrics() -> (Config, Metrics) {
        let config = Config::from_json(
            r#"{"servers": [{"listeners": [{"host": "0.0.0.0", "port": 8001}], "routes": [
                {"req_path": "/", "type": "redirect", "redirect_url": "http://a/"},
                {"req_path": "/metrics", "type": "metrics"}]}]}"#,
            "test",
        )
        .expect("valid");
        let metrics = Metrics::new(&config, None);
        (config, metrics)
    }

    #[test]
    fn counts_show_per_route_and_code_and_zero_series_are_left_out() {
        let (config, metrics) = metrics();
        let metrics_route = &config.servers[0].routes[1];
        let slot = metrics.slot(&config, Some(metrics_route));
        metrics.count_request(slot, 200);
        metrics.count_request(slot, 200);
        metrics.count_request(0, 404);
        let text = metrics.prometheus_text();
        assert!(
            text.contains("expserver_requests_total{route=\"/metrics\",code=\"200\"} 2\n"),
            "{text}"
        );
        assert!(text.contains("expserver_requests_total{route=\"\",code=\"404\"} 1\n"));
        assert!(!text.contains("route=\"/\""), "{text}");
        assert!(text.contains("# TYPE expserver_request_duration_seconds histogram\n"));
    }

    #[test]
    fn histogram_buckets_are_cumulative_and_count_matches_inf() {
        let (_, metrics) = metrics();
        metrics.observe_duration(Duration::from_micros(100));
        metrics.observe_duration(Duration::from_millis(30));
        metrics.observe_duration(Duration::from_secs(20));
        let text = metrics.prometheus_text();
        let line = |prefix: &str| {
            text.lines()
                .find(|l| l.starts_with(prefix))
                .unwrap_or_else(|| panic!("no {prefix} in {text}"))
                .rsplit(' ')
                .next()
                .map(str::to_string)
        };
        assert_eq!(
            line("expserver_request_duration_seconds_bucket{le=\"0.0005\"}"),
            Some("1".into())
        );
        assert_eq!(
            line("expserver_request_duration_seconds_bucket{le=\"0.05\"}"),
            Some("2".into())
        );
        assert_eq!(
            line("expserver_request_duration_seconds_bucket{le=\"+Inf\"}"),
            Some("3".into())
        );
        assert_eq!(
            line("expserver_request_duration_seconds_count"),
            Some("3".into())
        );
    }

    #[test]
    fn json_has_the_same_names() {
        let (_, metrics) = metrics();
        metrics.count_request(0, 404);
        let json: serde_json::Value = serde_json::from_str(&metrics.json()).expect("JSON");
        assert!(json["expserver_connections_accepted_total"].is_number());
        assert_eq!(json["expserver_requests_total"][0]["labels"]["code"], "404");
        assert!(json["expserver_request_duration_seconds"]["count"].is_number());
        assert!(json["process_open_fds"].as_f64().is_some_and(|n| n > 0.0));
    }
}
