//! Stage 22: the metrics action. A route of `"type": "metrics"` answers `GET` with every
//! counter of the server ([`crate::metrics::Metrics`]) in Prometheus's text format 0.0.4, or as
//! one JSON object when the request's `Accept` asks for `application/json`. The route's IP lists
//! (stage 18) are checked before this runs, as for every route: a metrics route is usually
//! restricted to the machines that scrape it.
//!
//! The stages before 22 read a metrics route and answer 404 on it: they have nothing to count.

use super::route::{Exchange, Outcome};
use crate::http::{Method, Reply, StatusCode};
use crate::metrics::Metrics;

/// The content type of the text exposition format 0.0.4.
pub const PROMETHEUS_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Answer a request on a metrics route.
pub(super) fn answer(exchange: &Exchange<'_>, metrics: Option<&Metrics>) -> Outcome {
    let (true, Some(metrics)) = (exchange.options.metrics, metrics) else {
        return Outcome::error(StatusCode::NOT_FOUND);
    };
    let request = exchange.request;
    if !matches!(request.method, Method::Get | Method::Head) {
        let reply = Reply::error(StatusCode::METHOD_NOT_ALLOWED).with_header("Allow", "GET, HEAD");
        return Outcome::Reply(reply);
    }
    let reply = if wants_json(exchange) {
        Reply::ok("application/json", metrics.json().into_bytes())
    } else {
        Reply::ok(PROMETHEUS_TYPE, metrics.prometheus_text().into_bytes())
    };
    // A scrape must never be cached on the way.
    Outcome::Reply(reply.with_header("Cache-Control", "no-store"))
}

/// Does `Accept` name `application/json` (with a q-value above zero)? Prometheus itself sends
/// `Accept: application/openmetrics-text;...,text/plain;...`, which gets the text.
fn wants_json(exchange: &Exchange<'_>) -> bool {
    exchange
        .request
        .headers
        .get_all("Accept")
        .flat_map(|value| value.split(','))
        .any(|item| {
            let mut parts = item.split(';');
            let media = parts.next().unwrap_or("").trim();
            let refused = parts.any(|p| {
                let p = p.trim();
                p.strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            media.eq_ignore_ascii_case("application/json") && !refused
        })
}
