//! Stage 22: what one connection and its requests add to the metrics and the access log.
//!
//! The connection (`connection.rs`) tells this file four moments of a request's life, and
//! nothing else about metrics is spread through the session:
//!
//! 1. [`Telemetry::opened`] / `Drop`: a connection starts and ends (`connections_accepted`,
//!    `connections_active`, the worker's accept count).
//! 2. [`Telemetry::begin`]: a request head is complete; its clock starts.
//! 3. [`Telemetry::status`]: the status is known. It is counted in `requests_total` at once,
//!    so a client that has read its answer and then scrapes sees it counted. For our own
//!    answers that is when the head is queued; for a proxied one, when the upstream's status
//!    line has come back (or the upstream failed, 502, or timed out, 504).
//! 4. [`Telemetry::finish`]: the answer's last byte is handed on; the duration goes into the
//!    histogram and the access-log line into the log's buffer. On a kept connection that is when
//!    the answer is entirely queued; on a closing one, when the session ends (`on_end`), after
//!    its last byte was queued for the kernel.

use std::net::IpAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use crate::access_log::{AccessLog, Entry};
use crate::http::Request;
use crate::metrics::{Metrics, UpstreamOutcome};

/// What a stage-22 session counts into, shared by every session of every worker.
#[derive(Debug, Clone)]
pub struct Telemetry {
    pub metrics: Arc<Metrics>,
    pub access_log: Option<Arc<AccessLog>>,
    /// The worker (stage 23, numbered from 1 as the log's `[wN]`) whose core runs the session;
    /// 0 for a single-threaded server.
    pub worker: usize,
}

/// One request between its head and its answer's last byte.
#[derive(Debug)]
pub(super) struct Pending {
    started: Instant,
    at: SystemTime,
    slot: usize,
    /// 0 until the status is known (a proxied request before its upstream answers).
    status: u16,
    /// Bytes queued for the client before this answer, and the length of its head.
    sent_before: u64,
    head_len: u64,
    /// For the access log only (left empty without one).
    request_line: String,
    referer: Option<String>,
    user_agent: Option<String>,
}

impl Telemetry {
    /// Hook a core to the shared counters: it counts its client bytes into them, and (with an
    /// access log) its tick writes the log out every `flush_every` and when its loop stops.
    pub fn attach(&self, core: &mut phase1::Core, flush_every: std::time::Duration) {
        core.set_client_traffic(self.metrics.traffic.clone());
        if let Some(log) = &self.access_log {
            let log = log.clone();
            core.set_tick(flush_every, Box::new(move || log.flush()));
        }
    }

    /// A connection was accepted.
    pub(super) fn opened(&self) {
        self.metrics.connection_opened(self.worker);
    }

    /// A connection's session ended.
    pub(super) fn closed(&self) {
        self.metrics.connection_closed();
    }

    /// A request head is complete; `sent_before` is what was queued for the client before.
    pub(super) fn begin(&self, request: &Request, slot: usize, sent_before: u64) -> Pending {
        let logged = self.access_log.is_some();
        let header = |name: &str| {
            logged
                .then(|| request.headers.get(name).map(str::to_string))
                .flatten()
        };
        Pending {
            started: Instant::now(),
            at: SystemTime::now(),
            slot,
            status: 0,
            sent_before,
            head_len: 0,
            request_line: if logged {
                request.request_line.clone()
            } else {
                String::new()
            },
            referer: header("Referer"),
            user_agent: header("User-Agent"),
        }
    }

    /// An answer to bytes that never made a request (a 400, a 408): no route, and `-` for the
    /// request line in the access log.
    pub(super) fn begin_unparsed(&self, sent_before: u64) -> Pending {
        Pending {
            started: Instant::now(),
            at: SystemTime::now(),
            slot: 0,
            status: 0,
            sent_before,
            head_len: 0,
            request_line: "-".to_string(),
            referer: None,
            user_agent: None,
        }
    }

    /// The answer's status is known: count it (once per request).
    pub(super) fn status(&self, pending: &mut Pending, status: u16, head_len: u64) {
        if pending.status != 0 {
            return;
        }
        pending.status = status;
        pending.head_len = head_len;
        self.metrics.count_request(pending.slot, status);
    }

    /// The answer is done: `sent_total` is everything queued for the client so far.
    pub(super) fn finish(&self, pending: &Pending, client: IpAddr, sent_total: u64) {
        if pending.status == 0 {
            // No answer was ever sent (the client went away first): not a request answered.
            return;
        }
        self.metrics.observe_duration(pending.started.elapsed());
        if let Some(log) = &self.access_log {
            let body = sent_total.saturating_sub(pending.sent_before + pending.head_len);
            log.record(&Entry {
                client,
                at: pending.at,
                request_line: &pending.request_line,
                status: pending.status,
                body_bytes: body,
                referer: pending.referer.as_deref(),
                user_agent: pending.user_agent.as_deref(),
            });
        }
    }

    /// A response was compressed (stage 19).
    pub(super) fn gzipped(&self) {
        self.metrics.gzip_responses.fetch_add(1, Relaxed);
    }

    /// A try of `upstream` ended with `outcome` (stage 20's upstreams).
    pub(super) fn upstream(&self, upstream: &str, outcome: UpstreamOutcome) {
        self.metrics.count_upstream(upstream, outcome);
    }

    /// A route's IP lists refused a client (stage 18).
    pub(super) fn denied(&self) {
        self.metrics.denied.fetch_add(1, Relaxed);
    }
}

/// The status of a relayed answer from the upstream's first bytes (`HTTP/1.1 200 OK`); 502
/// when they are not a status line.
pub(super) fn upstream_status(head: &[u8]) -> u16 {
    let text = std::str::from_utf8(head).unwrap_or("");
    let mut words = text.split(' ');
    match (words.next(), words.next()) {
        (Some(version), Some(code)) if version.starts_with("HTTP/") => code
            .get(..3)
            .and_then(|c| c.parse().ok())
            .filter(|c| (100..600).contains(c))
            .unwrap_or(502),
        _ => 502,
    }
}

#[cfg(test)]
mod tests {
    use super::upstream_status;

    #[test]
    fn the_status_of_a_relayed_answer() {
        assert_eq!(upstream_status(b"HTTP/1.1 200 OK\r\n"), 200);
        assert_eq!(upstream_status(b"HTTP/1.0 404 Not"), 404);
        assert_eq!(upstream_status(b"garbage"), 502);
        assert_eq!(upstream_status(b""), 502);
    }
}
