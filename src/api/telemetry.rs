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

/// Upper bounds of the latency buckets, seconds.
const BUCKETS: [f64; 12] = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0];

#[derive(Default)]
struct Series {
    count: u64,
    sum: f64,
    buckets: [u64; BUCKETS.len()],
}

/// Most requests handled at once; more get 503 with Retry-After.
pub const MAX_IN_FLIGHT: usize = 1024;

/// Longest a request may take before it is answered 503.
pub const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Counters shared by the middleware and `/metrics`, and the in-flight limit.
pub struct Metrics {
    next_id: AtomicU64,
    series: Mutex<BTreeMap<(String, String, u16), Series>>,
    permits: Arc<tokio::sync::Semaphore>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            next_id: AtomicU64::new(0),
            series: Mutex::new(BTreeMap::new()),
            permits: Arc::new(tokio::sync::Semaphore::new(MAX_IN_FLIGHT)),
        }
    }
}

fn problem(status: axum::http::StatusCode, title: &str, detail: String) -> Response {
    use axum::response::IntoResponse;
    super::ApiError { status, title: title.into(), detail, field: None }.into_response()
}

/// Middleware: request id, span, metrics.
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
    let span = tracing::info_span!("request", id = %id, method = %method, route = %route);
    let start = Instant::now();
    let mut res = match m.permits.clone().try_acquire_owned() {
        Err(_) => {
            let mut r = problem(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                format!("more than {MAX_IN_FLIGHT} requests in flight"),
            );
            r.headers_mut().insert("retry-after", HeaderValue::from_static("1"));
            r
        }
        Ok(_permit) => match tokio::time::timeout(REQUEST_TIMEOUT, next.run(req).instrument(span.clone())).await {
            Ok(r) => r,
            Err(_) => problem(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "timed out",
                format!("no answer within {} s", REQUEST_TIMEOUT.as_secs()),
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
            format!("the request body is over the {} byte limit", super::BODY_LIMIT),
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
