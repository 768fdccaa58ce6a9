//! Per-request telemetry: a request id (taken from `x-request-id` or generated, and
//! echoed), one tracing span per request, and Prometheus counters and latency
//! histograms by route and status at `/metrics`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

use super::auth::{required_role, Denied, Keys};

/// Upper bounds of the latency buckets, seconds.
const BUCKETS: [f64; 12] = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0];

#[derive(Default)]
struct Series {
    count: u64,
    sum: f64,
    buckets: [u64; BUCKETS.len()],
}

/// Counters shared by the middleware and `/metrics`, the in-flight limit, the
/// request timeout and the API keys.
pub struct Metrics {
    next_id: AtomicU64,
    series: Mutex<BTreeMap<(String, String, u16), Series>>,
    permits: Arc<tokio::sync::Semaphore>,
    max_in_flight: usize,
    timeout: std::time::Duration,
    body_limit: usize,
    keys: Keys,
}

impl Metrics {
    /// Telemetry and limits for one server.
    pub fn new(max_in_flight: usize, timeout: std::time::Duration, body_limit: usize, keys: Keys) -> Metrics {
        Metrics {
            next_id: AtomicU64::new(0),
            series: Mutex::new(BTreeMap::new()),
            permits: Arc::new(tokio::sync::Semaphore::new(max_in_flight)),
            max_in_flight,
            timeout,
            body_limit,
            keys,
        }
    }
}

fn problem(status: axum::http::StatusCode, title: &str, detail: String) -> Response {
    use axum::response::IntoResponse;
    super::ApiError { status, title: title.into(), detail, field: None }.into_response()
}

/// Middleware: request id, span, API key check, limits, metrics.
pub async fn track(State(m): State<Arc<Metrics>>, mut req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().map_or("unmatched", |p| p.as_str()).to_string();
    let method = req.method().to_string();
    let id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_string)
        .unwrap_or_else(|| format!("req-{:016x}", m.next_id.fetch_add(1, Ordering::Relaxed)));
    if let Ok(v) = HeaderValue::from_str(&id) {
        req.headers_mut().insert("x-request-id", v);
    }
    let span = tracing::info_span!("request", id = %id, method = %method, route = %route, key = tracing::field::Empty);
    let start = Instant::now();
    let denied = match required_role(req.method(), &route) {
        None => None,
        Some(needs) => match m.keys.check(req.headers(), needs) {
            Ok(who) => {
                span.record("key", who.as_str());
                None
            }
            Err(d) => Some(d),
        },
    };
    let mut res = match (denied, m.permits.clone().try_acquire_owned()) {
        (Some(Denied::Unauthenticated(why)), _) => {
            let mut r = problem(axum::http::StatusCode::UNAUTHORIZED, "unauthorized", why.into());
            r.headers_mut().insert("www-authenticate", HeaderValue::from_static("Bearer"));
            r
        }
        (Some(Denied::Forbidden { has, needs }), _) => problem(
            axum::http::StatusCode::FORBIDDEN,
            "forbidden",
            format!("this key has role {}; {method} {route} needs {}", has.as_str(), needs.as_str()),
        ),
        (None, Err(_)) => {
            let mut r = problem(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                format!("more than {} requests in flight", m.max_in_flight),
            );
            r.headers_mut().insert("retry-after", HeaderValue::from_static("1"));
            r
        }
        (None, Ok(_permit)) => match tokio::time::timeout(m.timeout, next.run(req).instrument(span.clone())).await {
            Ok(r) => r,
            Err(_) => problem(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "timed out",
                format!("no answer within {} ms", m.timeout.as_millis()),
            ),
        },
    };
    // Body-limit rejections come from axum with a text body: answer problem+json too.
    if res.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE
        && res.headers().get("content-type").is_none_or(|v| v != "application/problem+json")
    {
        res = problem(
            axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            "body too large",
            format!("the request body is over the {} byte limit", m.body_limit),
        );
    }
    let secs = start.elapsed().as_secs_f64();
    let status = res.status().as_u16();
    span.in_scope(|| tracing::info!(status, ms = secs * 1e3, "done"));
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut().insert("x-request-id", v);
    }
    if let Ok(mut s) = m.series.lock() {
        let e = s.entry((method, route, status)).or_default();
        e.count += 1;
        e.sum += secs;
        for (b, le) in e.buckets.iter_mut().zip(BUCKETS) {
            if secs <= le {
                *b += 1;
            }
        }
    }
    res
}

/// Prometheus text exposition of the counters.
pub async fn render(m: Arc<Metrics>) -> String {
    let mut out = String::from(
        "# HELP arsight_http_requests_total Requests by method, route and status.\n# TYPE arsight_http_requests_total counter\n",
    );
    let s = m.series.lock().map(|s| s.iter().map(|(k, v)| (k.clone(), v.count, v.sum, v.buckets)).collect::<Vec<_>>());
    let s = s.unwrap_or_default();
    for ((method, route, status), count, _, _) in &s {
        out.push_str(&format!(
            "arsight_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {count}\n"
        ));
    }
    out.push_str("# HELP arsight_http_request_duration_seconds Request latency.\n# TYPE arsight_http_request_duration_seconds histogram\n");
    for ((method, route, status), count, sum, buckets) in &s {
        let labels = format!("method=\"{method}\",route=\"{route}\",status=\"{status}\"");
        for (b, le) in buckets.iter().zip(BUCKETS) {
            out.push_str(&format!("arsight_http_request_duration_seconds_bucket{{{labels},le=\"{le}\"}} {b}\n"));
        }
        out.push_str(&format!("arsight_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {count}\n"));
        out.push_str(&format!("arsight_http_request_duration_seconds_sum{{{labels}}} {sum}\n"));
        out.push_str(&format!("arsight_http_request_duration_seconds_count{{{labels}}} {count}\n"));
    }
    out
}
