//! The HTTP API: a thin axum layer over [`Service`](crate::service::Service). Every error is an RFC 9457
//! problem-details body naming the field and the reason; one mapping from error to
//! status lives in [`ApiError`].

use std::collections::{BTreeMap, HashMap};
use std::io::Write as _;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

pub mod auth;
pub mod config;
pub mod doc;
mod telemetry;

pub use config::Settings;
pub use telemetry::Metrics;

use crate::forecast::Granularity;
use crate::models::anomaly::Severity;
use crate::service::{FieldError, Live, Refusal, ServiceError, WorklistQuery};

/// Shared state of the handlers.
pub type AppState = Arc<Live>;

/// A problem-details error.
#[derive(Debug, Clone, Serialize)]
pub struct ApiError {
    /// HTTP status.
    #[serde(skip)]
    pub status: StatusCode,
    /// Short title.
    pub title: String,
    /// Human-readable explanation.
    pub detail: String,
    /// The offending field (query parameter or path element), when one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl ApiError {
    fn invalid(field: &str, detail: String) -> Self {
        ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            title: "invalid value".into(),
            detail,
            field: Some(field.into()),
        }
    }

    fn internal(detail: String) -> Self {
        ApiError { status: StatusCode::INTERNAL_SERVER_ERROR, title: "internal error".into(), detail, field: None }
    }

    fn not_found(field: &str, detail: String) -> Self {
        ApiError { status: StatusCode::NOT_FOUND, title: "not found".into(), detail, field: Some(field.into()) }
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Forecast(f) => ApiError::invalid("horizon", f.to_string()),
            ServiceError::Kpi(crate::kpi::KpiError::Invalid { field, reason }) => {
                let name = match field {
                    "window_days" => "window",
                    "trend_points" => "trend",
                    _ => "step",
                };
                ApiError::invalid(name, format!("{name} {reason}"))
            }
            other => ApiError::internal(other.to_string()),
        }
    }
}

/// Refused fields of a posted body: 409 when an id is reused, 404 when every refusal
/// is an unknown id, else 422; the detail lists them all.
impl From<Vec<FieldError>> for ApiError {
    fn from(errors: Vec<FieldError>) -> Self {
        let (status, title, kind) = if errors.iter().any(|e| e.kind == Refusal::Conflict) {
            (StatusCode::CONFLICT, "conflict", Refusal::Conflict)
        } else if !errors.is_empty() && errors.iter().all(|e| e.kind == Refusal::NotFound) {
            (StatusCode::NOT_FOUND, "not found", Refusal::NotFound)
        } else {
            (StatusCode::UNPROCESSABLE_ENTITY, "invalid value", Refusal::Invalid)
        };
        let first = errors.iter().find(|e| e.kind == kind).or(errors.first());
        ApiError {
            status,
            title: title.into(),
            detail: errors.iter().map(|e| format!("{}: {}", e.field, e.reason)).collect::<Vec<_>>().join("; "),
            field: first.map(|e| e.field.clone()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        #[derive(Serialize)]
        struct Body<'a> {
            #[serde(rename = "type")]
            kind: &'a str,
            status: u16,
            #[serde(flatten)]
            e: &'a ApiError,
        }
        let body = serde_json::to_vec(&Body { kind: "about:blank", status: self.status.as_u16(), e: &self })
            .unwrap_or_default();
        let mut r = (self.status, body).into_response();
        r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        r
    }
}

/// Parses "13w", "30d" or a number of days.
fn parse_horizon(s: &str) -> Result<i32, ApiError> {
    crate::domain::parse_span_days(s).ok_or_else(|| {
        ApiError::invalid("horizon", format!("should be a number of days or weeks like 13w or 30d, not '{s}'"))
    })
}

/// A JSON request body, or the problem answer for an unreadable or malformed one.
fn json_body(
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<serde_json::Value, ApiError> {
    let body = body.map_err(|e| ApiError {
        status: e.status(),
        title: "unreadable body".into(),
        detail: e.body_text(),
        field: None,
    })?;
    serde_json::from_slice(&body).map_err(|e| ApiError {
        status: StatusCode::BAD_REQUEST,
        title: "malformed JSON".into(),
        detail: format!("line {}, column {}: {e}", e.line(), e.column()),
        field: None,
    })
}

fn known(q: &HashMap<String, String>, allowed: &[&str]) -> Result<(), ApiError> {
    match q.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => {
            Err(ApiError::invalid(k, format!("unknown query parameter; expected one of {}", allowed.join(", "))))
        }
        None => Ok(()),
    }
}

#[utoipa::path(get, path = "/healthz", tag = "probes", security(()), responses((status = 200, description = "the process is up", body = String)))]
async fn healthz() -> &'static str {
    "ok"
}

#[utoipa::path(get, path = "/readyz", tag = "probes", security(()), responses((status = 200, description = "models loaded: as-of date, open invoices, events applied, input rows the contract rejected", body = Object)))]
async fn readyz(State(live): State<AppState>) -> Json<serde_json::Value> {
    let s = live.get();
    Json(
        serde_json::json!({"ready": true, "as_of": s.as_of_date(), "open_invoices": s.open_count(), "events_applied": s.applied_seq(), "rejected_rows": s.rejected_count()}),
    )
}

#[utoipa::path(get, path = "/v1/models", tag = "models", responses((status = 200, description = "per kind: the active version and every stored version with its validation metrics", body = Object), (status = 401, description = "no or unknown API key", body = doc::Problem, content_type = "application/problem+json"), (status = 403, description = "role too low", body = doc::Problem, content_type = "application/problem+json"), (status = 503, description = "busy (Retry-After) or timed out", body = doc::Problem, content_type = "application/problem+json")))]
async fn models(State(live): State<AppState>) -> Result<Response, ApiError> {
    let s = live.get();
    let store = crate::models::artifact::ModelStore::new(&live.models);
    let mut kinds = serde_json::Map::new();
    for (k, m) in &s.manifests {
        let versions = store.versions(*k).map_err(|e| ApiError::internal(e.to_string()))?;
        let list: Vec<serde_json::Value> = versions
            .iter()
            .map(|v| serde_json::json!({"version": v.version, "as_of": v.as_of, "n_training_rows": v.n_training_rows, "validation": v.validation}))
            .collect();
        kinds.insert(k.as_str().to_string(), serde_json::json!({"active": m.version, "versions": list}));
    }
    Ok(Json(serde_json::Value::Object(kinds)).into_response())
}

#[utoipa::path(post, path = "/v1/models/reload", tag = "models", responses((status = 200, description = "active versions after the reload", body = Object), (status = 409, description = "the models could not be loaded; the previous ones keep serving", body = doc::Problem, content_type = "application/problem+json"), (status = 401, description = "no or unknown API key", body = doc::Problem, content_type = "application/problem+json"), (status = 403, description = "role too low", body = doc::Problem, content_type = "application/problem+json"), (status = 503, description = "busy (Retry-After) or timed out", body = doc::Problem, content_type = "application/problem+json")))]
async fn reload_models(State(live): State<AppState>) -> Result<Response, ApiError> {
    let l = live.clone();
    tokio::task::spawn_blocking(move || l.reload()).await.map_err(|e| ApiError::internal(e.to_string()))?.map_err(
        |e| ApiError {
            status: StatusCode::CONFLICT,
            title: "models not loaded".into(),
            detail: e.to_string(),
            field: None,
        },
    )?;
    let s = live.get();
    let active: BTreeMap<&str, &str> = s.manifests.iter().map(|(k, m)| (k.as_str(), m.version.as_str())).collect();
    Ok(Json(serde_json::json!({ "active": active })).into_response())
}

#[utoipa::path(post, path = "/v1/models/{kind}/activate", tag = "models", params(("kind" = String, Path, description = "payment_date, risk, cash, segments or anomaly")), request_body = doc::ActivateRequest, responses((status = 200, description = "active versions after the switch", body = Object), (status = 404, description = "unknown kind or version", body = doc::Problem, content_type = "application/problem+json"), (status = 422, description = "no version given", body = doc::Problem, content_type = "application/problem+json"), (status = 401, description = "no or unknown API key", body = doc::Problem, content_type = "application/problem+json"), (status = 403, description = "role too low", body = doc::Problem, content_type = "application/problem+json"), (status = 503, description = "busy (Retry-After) or timed out", body = doc::Problem, content_type = "application/problem+json")))]
async fn activate(
    State(live): State<AppState>,
    Path(kind): Path<String>,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Response, ApiError> {
    let Some(k) = crate::models::artifact::Kind::parse(&kind) else {
        return Err(ApiError::not_found("kind", format!("no model kind '{kind}'")));
    };
    let v = json_body(body)?;
    let Some(version) = v.get("version").and_then(|x| x.as_str()) else {
        return Err(ApiError::invalid("version", "is required (a string)".into()));
    };
    let store = crate::models::artifact::ModelStore::new(&live.models);
    let previous = store.current(k).ok();
    store.activate(k, version).map_err(|e| ApiError::not_found("version", e.to_string()))?;
    match reload_models(State(live.clone())).await {
        Ok(r) => Ok(r),
        Err(e) => {
            // Put the pointer back: the running service still uses the old version.
            if let Some(prev) = previous {
                let _ = store.activate(k, &prev);
            }
            Err(e)
        }
    }
}

#[utoipa::path(get, path = "/v1/customers/{id}", tag = "customers", params(("id" = String, Path, description = "customer id")), responses((status = 200, body = crate::service::CustomerView), (status = 404, description = "unknown customer", body = doc::Problem, content_type = "application/problem+json"), (status = 401, description = "no or unknown API key", body = doc::Problem, content_type = "application/problem+json"), (status = 403, description = "role too low", body = doc::Problem, content_type = "application/problem+json"), (status = 503, description = "busy (Retry-After) or timed out", body = doc::Problem, content_type = "application/problem+json")))]
async fn customer(State(live): State<AppState>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let s = live.get();
    match s.customer(&id) {
        Some(v) => Ok(Json(v).into_response()),
        None => Err(ApiError::not_found("id", format!("no customer '{id}' in the data"))),
    }
}

#[utoipa::path(get, path = "/v1/worklist", tag = "worklist", params(("collector" = Option<String>, Query), ("segment" = Option<String>, Query), ("currency" = Option<String>, Query), ("limit" = Option<u32>, Query, description = "1 to 1000, default 50"), ("cursor" = Option<String>, Query, description = "next_cursor of the previous page"), ("actionable" = Option<bool>, Query, description = "true: only the items whose follow-up calls for an action today")), responses((status = 200, body = crate::service::WorklistPage), (status = 422, description = "invalid or unknown query parameter", body = doc::Problem, content_type = "application/problem+json"), (status = 401, description = "no or unknown API key", body = doc::Problem, content_type = "application/problem+json"), (status = 403, description = "role too low", body = doc::Problem, content_type = "application/problem+json"), (status = 503, description = "busy (Retry-After) or timed out", body = doc::Problem, content_type = "application/problem+json")))]
async fn worklist(
    State(live): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let s = live.get();
    known(&q, &["collector", "segment", "currency", "limit", "cursor", "actionable"])?;
    let num = |k: &str, default: usize, max: usize| -> Result<usize, ApiError> {
        match q.get(k) {
            None => Ok(default),
            Some(v) => v
                .parse::<usize>()
                .ok()
                .filter(|n| *n <= max)
                .ok_or_else(|| ApiError::invalid(k, format!("should be a whole number up to {max}, not '{v}'"))),
        }
    };
    let query = WorklistQuery {
        collector: q.get("collector").cloned(),
        segment: q.get("segment").cloned(),
        currency: q.get("currency").cloned(),
        limit: num("limit", 50, 1000)?.max(1),
        cursor: num("cursor", 0, usize::MAX)?,
        actionable: match q.get("actionable").map(String::as_str) {
            None | Some("false") => false,
            Some("true") => true,
            Some(v) => return Err(ApiError::invalid("actionable", format!("should be true or false, not '{v}'"))),
        },
    };
    Ok(Json(s.worklist(&query)).into_response())
}

#[utoipa::path(get, path = "/v1/anomalies", tag = "anomalies", params(("since" = Option<String>, Query, description = "YYYY-MM-DD"), ("severity" = Option<String>, Query, description = "low, medium or high (at least)")), responses((status = 200, body = Vec<crate::service::AnomalyView>), (status = 422, description = "invalid or unknown query parameter", body = doc::Problem, content_type = "application/problem+json"), (status = 401, description = "no or unknown API key", body = doc::Problem, content_type = "application/problem+json"), (status = 403, description = "role too low", body = doc::Problem, content_type = "application/problem+json"), (status = 503, description = "busy (Retry-After) or timed out", body = doc::Problem, content_type = "application/problem+json")))]
async fn anomalies(
    State(live): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let s = live.get();
    known(&q, &["since", "severity"])?;
    let since = match q.get("since") {
        None => None,
        Some(v) => Some(
            chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d")
                .map(crate::domain::days_from_date)
                .map_err(|_| ApiError::invalid("since", format!("should be a date like 2024-06-30, not '{v}'")))?,
        ),
    };
    let severity = match q.get("severity").map(String::as_str) {
        None | Some("low") => Severity::Low,
        Some("medium") => Severity::Medium,
        Some("high") => Severity::High,
        Some(v) => return Err(ApiError::invalid("severity", format!("should be low, medium or high, not '{v}'"))),
    };
    Ok(Json(s.anomalies(since, severity)).into_response())
}

#[utoipa::path(get, path = "/v1/forecast", tag = "forecast", params(("horizon" = Option<String>, Query, description = "e.g. 13w or 30d (default 13w)"), ("granularity" = Option<String>, Query, description = "day or week"), ("currency" = Option<String>, Query, description = "one currency only")), responses((status = 200, body = crate::forecast::Forecast), (status = 404, description = "no open invoices in that currency", body = doc::Problem, content_type = "application/problem+json"), (status = 422, description = "invalid or unknown query parameter", body = doc::Problem, content_type = "application/problem+json"), (status = 401, description = "no or unknown API key", body = doc::Problem, content_type = "application/problem+json"), (status = 403, description = "role too low", body = doc::Problem, content_type = "application/problem+json"), (status = 503, description = "busy (Retry-After) or timed out", body = doc::Problem, content_type = "application/problem+json")))]
async fn forecast(
    State(live): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let s = live.get();
    known(&q, &["horizon", "granularity", "currency"])?;
    let horizon = parse_horizon(q.get("horizon").map_or("13w", String::as_str))?;
    let g = match q.get("granularity").map(String::as_str) {
        None => Granularity::Week,
        Some(v) => Granularity::parse(v)
            .ok_or_else(|| ApiError::invalid("granularity", format!("should be day or week, not '{v}'")))?,
    };
    let f = s.forecast(horizon, g)?;
    match q.get("currency") {
        None => Ok(Json(f.as_ref()).into_response()),
        Some(c) => match f.currencies.iter().find(|x| &x.currency == c) {
            Some(one) => {
                Ok(Json(serde_json::json!({"as_of": f.as_of, "params": f.params, "currency": one})).into_response())
            }
            None => Err(ApiError::not_found("currency", format!("no open invoices in '{c}'"))),
        },
    }
}

#[utoipa::path(get, path = "/v1/kpis", tag = "kpis", params(("window" = Option<String>, Query, description = "days of sales and collection behaviour behind each figure, e.g. 90d (default) or 13w"), ("trend" = Option<u32>, Query, description = "points of the trend, the as-of date included (1 to 60, default 6)"), ("step" = Option<String>, Query, description = "days between trend points, e.g. 30d (default)")), responses((status = 200, body = crate::kpi::KpiReport), (status = 422, description = "invalid or unknown query parameter", body = doc::Problem, content_type = "application/problem+json"), (status = 401, description = "no or unknown API key", body = doc::Problem, content_type = "application/problem+json"), (status = 403, description = "role too low", body = doc::Problem, content_type = "application/problem+json"), (status = 503, description = "busy (Retry-After) or timed out", body = doc::Problem, content_type = "application/problem+json")))]
async fn kpis(State(live): State<AppState>, Query(q): Query<HashMap<String, String>>) -> Result<Response, ApiError> {
    let s = live.get();
    known(&q, &["window", "trend", "step"])?;
    let span = |k: &str, default: &str| -> Result<i32, ApiError> {
        let v = q.get(k).map_or(default, String::as_str);
        crate::domain::parse_span_days(v).ok_or_else(|| {
            ApiError::invalid(k, format!("should be a number of days or weeks like 90d or 13w, not '{v}'"))
        })
    };
    let trend = match q.get("trend") {
        None => 6,
        Some(v) => v
            .parse::<usize>()
            .map_err(|_| ApiError::invalid("trend", format!("should be a whole number from 1 to 60, not '{v}'")))?,
    };
    let p = crate::kpi::KpiParams {
        window_days: span("window", "90d")?,
        trend_points: trend,
        trend_step_days: span("step", "30d")?,
    };
    Ok(Json(s.kpis(&p)?.as_ref()).into_response())
}

#[utoipa::path(post, path = "/v1/predictions", tag = "predictions", request_body = doc::PredictionRequest, responses((status = 200, body = doc::PredictionReply), (status = 400, description = "malformed JSON", body = doc::Problem, content_type = "application/problem+json"), (status = 404, description = "unknown open invoice id", body = doc::Problem, content_type = "application/problem+json"), (status = 413, description = "body over the limit", body = doc::Problem, content_type = "application/problem+json"), (status = 422, description = "invalid field", body = doc::Problem, content_type = "application/problem+json"), (status = 401, description = "no or unknown API key", body = doc::Problem, content_type = "application/problem+json"), (status = 403, description = "role too low", body = doc::Problem, content_type = "application/problem+json"), (status = 503, description = "busy (Retry-After) or timed out", body = doc::Problem, content_type = "application/problem+json")))]
async fn predictions(
    State(live): State<AppState>,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Response, ApiError> {
    let s = live.get();
    // A few invoices are parsed and scored on the request's thread; larger batches on
    // the blocking pool so they do not hold up other requests.
    let large = body.as_ref().is_ok_and(|b| b.len() >= LARGE_BODY);
    if !large {
        // Read without building a document when the body has the expected shape;
        // otherwise parsed, so that errors name what is wrong.
        let read = read_posted(&body);
        let scored = match read {
            Some(b) => s.predict_body(&b),
            None => s.predict_posted(&json_body(body)?),
        };
        return match scored {
            Ok(predictions) => Ok((
                [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))],
                prediction_reply_bytes(&predictions),
            )
                .into_response()),
            Err(errors) => Err(errors.into()),
        };
    }
    let body = tokio::task::spawn_blocking(move || {
        let answer = |p: Vec<crate::models::predict::InvoicePrediction>| {
            let body = prediction_reply_json(&p);
            // Freeing a large batch's many small strings takes a while: off the
            // answer's path.
            rayon::spawn(move || drop(p));
            body
        };
        // Invoices found, then read, scored and serialised chunk by chunk in parallel.
        let raw =
            body.as_ref().ok().and_then(|b| serde_json::from_slice::<crate::service::posted::RawBody<'_>>(b).ok());
        let reply = match raw.and_then(|b| s.predict_raw_chunks(&b, |p| reply_part(&p))) {
            Some(parts) => parts.map(|parts| prediction_reply(&parts)),
            None => {
                let v = large_prediction_body(body)?;
                let reply = s.predict_posted(&v).map(answer);
                rayon::spawn(move || drop(v));
                reply
            }
        };
        reply.map_err(ApiError::from)
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))??;
    Ok(([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body).into_response())
}

/// A prediction body read without building a document (see [`crate::service::posted`]);
/// None when it is not of the expected shape (the parsed path then names the error).
fn read_posted(
    body: &Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Option<crate::service::posted::PostedBody<'_>> {
    serde_json::from_slice(body.as_ref().ok()?).ok()
}

/// Prediction bodies from this size on are parsed and scored on the blocking pool.
const LARGE_BODY: usize = 16 * 1024;

/// A large prediction body: the outer document is checked and split into its invoices'
/// raw JSON, which are then parsed in parallel. Anything unexpected (not an object with
/// an `invoices` array) takes the plain parser, so errors read the same either way.
fn large_prediction_body(
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<serde_json::Value, ApiError> {
    use rayon::prelude::*;
    #[derive(serde::Deserialize)]
    struct Batch<'a> {
        #[serde(borrow)]
        invoices: Vec<&'a serde_json::value::RawValue>,
    }
    if let Ok(bytes) = &body {
        if let Ok(batch) = serde_json::from_slice::<Batch<'_>>(bytes) {
            let items: Result<Vec<serde_json::Value>, _> =
                batch.invoices.par_iter().with_min_len(64).map(|r| serde_json::from_str(r.get())).collect();
            if let Ok(items) = items {
                let mut m = serde_json::Map::new();
                m.insert("invoices".into(), serde_json::Value::Array(items));
                return Ok(serde_json::Value::Object(m));
            }
        }
    }
    json_body(body)
}

/// The reply to a large prediction request: chunks serialised in parallel.
fn prediction_reply_json(p: &[crate::models::predict::InvoicePrediction]) -> Vec<u8> {
    use rayon::prelude::*;
    let parts: Vec<Vec<u8>> = p.par_chunks(128).map(reply_part).collect();
    prediction_reply(&parts)
}

/// Predictions as JSON objects separated by commas (part of the `predictions` array).
fn reply_part(p: &[crate::models::predict::InvoicePrediction]) -> Vec<u8> {
    let mut b = Vec::with_capacity(p.len() * 800);
    write_predictions(p, &mut b);
    b
}

/// Predictions as JSON objects separated by commas, appended to `out`.
fn write_predictions(p: &[crate::models::predict::InvoicePrediction], out: &mut Vec<u8>) {
    for (k, x) in p.iter().enumerate() {
        if k > 0 {
            out.push(b',');
        }
        x.write_json(out);
    }
}

/// `{"predictions": [...]}` from parts made by [`reply_part`], in order.
fn prediction_reply(parts: &[Vec<u8>]) -> Vec<u8> {
    reply_with(parts.iter().map(|b| b.len() + 1).sum(), |out| {
        for (k, b) in parts.iter().filter(|b| !b.is_empty()).enumerate() {
            if k > 0 {
                out.push(b',');
            }
            out.extend_from_slice(b);
        }
    })
}

/// The [`doc::PredictionReply`] JSON of a few predictions, written on the calling
/// thread (the bytes `serde_json` would write).
pub fn prediction_reply_bytes(p: &[crate::models::predict::InvoicePrediction]) -> Vec<u8> {
    reply_with(p.len() * 800, |out| write_predictions(p, out))
}

/// `{"predictions": [` and `]}` around what `array` writes; `len` its expected size.
fn reply_with(len: usize, array: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 20);
    out.extend_from_slice(b"{\"predictions\":[");
    array(&mut out);
    out.extend_from_slice(b"]}");
    out
}

/// `POST /v1/events`: validated, written to the event log (group commit) before the
/// answer, then applied to the customers they concern in the background.
#[utoipa::path(post, path = "/v1/events", tag = "events", request_body = doc::EventsRequest, responses((status = 200, description = "written to the event log (durable) and queued for application", body = doc::EventsReply), (status = 400, description = "malformed JSON", body = doc::Problem, content_type = "application/problem+json"), (status = 404, description = "unknown customer", body = doc::Problem, content_type = "application/problem+json"), (status = 409, description = "event id reused with other content, or an invoice id of another customer", body = doc::Problem, content_type = "application/problem+json"), (status = 413, description = "body over the limit", body = doc::Problem, content_type = "application/problem+json"), (status = 422, description = "invalid field", body = doc::Problem, content_type = "application/problem+json"), (status = 401, description = "no or unknown API key", body = doc::Problem, content_type = "application/problem+json"), (status = 403, description = "role too low", body = doc::Problem, content_type = "application/problem+json"), (status = 503, description = "busy (Retry-After) or timed out", body = doc::Problem, content_type = "application/problem+json")))]
async fn events(
    State(live): State<AppState>,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Response, ApiError> {
    use crate::events::log::{CommitError, Outcome};
    let Some(committer) = live.committer() else {
        return Err(ApiError {
            status: StatusCode::NOT_FOUND,
            title: "events are off".into(),
            detail: "this server was started without an event store".into(),
            field: None,
        });
    };
    let v = json_body(body)?;
    // Events describe the past: a day of tolerance for callers in other time zones.
    let latest = crate::domain::days_from_date(chrono::Utc::now().date_naive()) + 1;
    let list = crate::events::parse_events(&v, latest).map_err(ApiError::from)?;
    let ids: Vec<String> = list.iter().map(|e| e.event_id.clone()).collect();
    let outcomes = committer.submit(list).await.map_err(|e| match e {
        CommitError::Refused(errors) => errors.into(),
        CommitError::Io(reason) => ApiError::internal(format!("the event log could not be written: {reason}")),
    })?;
    let (mut accepted, mut duplicates) = (0, 0);
    let results: Vec<serde_json::Value> = ids
        .iter()
        .zip(&outcomes)
        .map(|(id, o)| match o {
            Outcome::Accepted(seq) => {
                accepted += 1;
                serde_json::json!({"event_id": id, "seq": seq, "status": "accepted"})
            }
            Outcome::Duplicate(seq) => {
                duplicates += 1;
                serde_json::json!({"event_id": id, "seq": seq, "status": "duplicate"})
            }
        })
        .collect();
    Ok(Json(serde_json::json!({"accepted": accepted, "duplicates": duplicates, "events": results})).into_response())
}

#[utoipa::path(get, path = "/metrics", tag = "probes", responses((status = 200, description = "Prometheus text exposition: requests and latency by route and status, model versions, events applied", body = String, content_type = "text/plain"), (status = 401, description = "no or unknown API key", body = doc::Problem, content_type = "application/problem+json"), (status = 403, description = "role too low", body = doc::Problem, content_type = "application/problem+json"), (status = 503, description = "busy (Retry-After) or timed out", body = doc::Problem, content_type = "application/problem+json")))]
async fn metrics_route(State(live): State<AppState>, axum::Extension(m): axum::Extension<Arc<Metrics>>) -> String {
    let mut out = telemetry::render(m).await;
    let s = live.get();
    out.push_str("# HELP arsight_model_info Active model version by kind.\n# TYPE arsight_model_info gauge\n");
    for (k, man) in &s.manifests {
        out.push_str(&format!("arsight_model_info{{kind=\"{}\",version=\"{}\"}} 1\n", k.as_str(), man.version));
    }
    let secs = |d: i32| i64::from(d) * 86_400;
    let (applied, last) = s.event_stats();
    let last = last.and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).map_or(0.0, |d| d.as_secs_f64());
    out.push_str(&format!(
        "# HELP arsight_features_as_of_timestamp_seconds Date the features and predictions describe (feature freshness).\n# TYPE arsight_features_as_of_timestamp_seconds gauge\narsight_features_as_of_timestamp_seconds {}\n\
         # HELP arsight_open_invoices Open invoices scored.\n# TYPE arsight_open_invoices gauge\narsight_open_invoices {}\n\
         # HELP arsight_events_applied_total Events applied since the service was built.\n# TYPE arsight_events_applied_total counter\narsight_events_applied_total {applied}\n\
         # HELP arsight_events_last_applied_timestamp_seconds When events last changed features (0 = never).\n# TYPE arsight_events_last_applied_timestamp_seconds gauge\narsight_events_last_applied_timestamp_seconds {last:.3}\n",
        secs(s.as_of),
        s.open_count()
    ));
    out
}

/// The dashboard page for people: static, no data in it; its script asks for an API
/// key and reads the KPI, forecast, worklist and anomaly routes with it.
async fn dashboard() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self'"),
        ],
        include_str!("dashboard.html"),
    )
        .into_response()
}

async fn fallback() -> ApiError {
    ApiError { status: StatusCode::NOT_FOUND, title: "not found".into(), detail: "no such route".into(), field: None }
}

/// The router over a loaded service, with the limits of `settings` and `keys`.
pub fn router(state: AppState, settings: &Settings, keys: auth::Keys) -> Router {
    let metrics = Arc::new(Metrics::new(
        settings.max_in_flight,
        std::time::Duration::from_millis(settings.request_timeout_ms),
        settings.body_limit_bytes,
        keys,
    ));
    let (api, mut openapi) =
        utoipa_axum::router::OpenApiRouter::with_openapi(<doc::ApiDoc as utoipa::OpenApi>::openapi())
            .routes(utoipa_axum::routes!(healthz))
            .routes(utoipa_axum::routes!(readyz))
            .routes(utoipa_axum::routes!(metrics_route))
            .routes(utoipa_axum::routes!(models))
            .routes(utoipa_axum::routes!(reload_models))
            .routes(utoipa_axum::routes!(activate))
            .routes(utoipa_axum::routes!(customer))
            .routes(utoipa_axum::routes!(worklist))
            .routes(utoipa_axum::routes!(anomalies))
            .routes(utoipa_axum::routes!(forecast))
            .routes(utoipa_axum::routes!(kpis))
            .routes(utoipa_axum::routes!(predictions))
            .routes(utoipa_axum::routes!(events))
            .split_for_parts();
    openapi.info.version = env!("CARGO_PKG_VERSION").to_string();
    let document = Arc::new(openapi.to_json().unwrap_or_default());
    api.route("/", get(|| async { axum::response::Redirect::to("/dashboard") }))
        .route("/dashboard", get(dashboard))
        .route(
            "/openapi.json",
            get(move || {
                let d = document.clone();
                async move { ([(header::CONTENT_TYPE, "application/json")], d.as_ref().clone()) }
            }),
        )
        .layer(axum::extract::DefaultBodyLimit::max(settings.body_limit_bytes))
        .fallback(fallback)
        .layer(axum::Extension(metrics.clone()))
        .layer(axum::middleware::from_fn_with_state(metrics, telemetry::track))
        .with_state(state)
}

/// Serves until SIGINT/SIGTERM; prints `listening on http://ADDR` once bound.
///
/// # Errors
/// Binding or serving failures.
pub async fn serve(state: AppState, settings: &Settings, keys: auth::Keys) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(&settings.addr).await?;
    // Like "stopped" below: a reader that has gone away is not a reason to stop serving.
    let _ = writeln!(std::io::stdout(), "listening on http://{}", listener.local_addr()?);
    let live = state.clone();
    let served = axum::serve(listener, router(state, settings, keys)).with_graceful_shutdown(shutdown()).await;
    // In-flight requests are done: make the event log durable before exiting.
    if let Some(c) = live.committer() {
        let c = c.clone();
        let _ = tokio::task::spawn_blocking(move || c.flush()).await;
    }
    // Whoever started us may have stopped reading our output: never fail on it.
    let _ = std::io::stdout().write_all(b"stopped\n");
    served
}

async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

#[cfg(test)]
mod tests {
    use crate::fixtures::{generated_dir, trained_models};
    use crate::service::Service;

    /// Large bodies split into invoices parsed in parallel give the same document as
    /// the plain parser, and the same errors for bodies that are not a batch.
    #[test]
    fn large_bodies_parse_as_the_plain_parser_does() {
        let one = |i: usize| {
            format!(
                r#"{{"invoice_id":"N{i}","customer_id":"C{}","invoice_date":"2024-06-0{}","amount":"{i}.25","currency":"EUR","note":[1,{{"x":null}}]}}"#,
                i % 7,
                1 + i % 9
            )
        };
        let list: Vec<String> = (0..300).map(one).collect();
        let good = format!(r#"{{"extra": true, "invoices": [{}]}}"#, list.join(",\n "));
        assert!(good.len() >= super::LARGE_BODY);
        let bytes = |s: &str| Ok(axum::body::Bytes::from(s.to_string()));
        let fast = super::large_prediction_body(bytes(&good)).unwrap();
        let plain: serde_json::Value = serde_json::from_str(&good).unwrap();
        assert_eq!(fast["invoices"], plain["invoices"]);
        for bad in [
            format!(r#"{{"invoices": [{}, {{"invoice_id": ]}}"#, list.join(",")),
            format!(r#"{{"invoices": {{"a": {}}}}}"#, list[0]),
            format!(r#"[{}]"#, list.join(",")),
        ] {
            let fast = super::large_prediction_body(bytes(&bad));
            let plain = super::json_body(bytes(&bad));
            match (fast, plain) {
                (Err(a), Err(b)) => assert_eq!((a.status, a.detail), (b.status, b.detail)),
                (Ok(a), Ok(b)) => assert_eq!(a, b),
                (a, b) => panic!("{a:?} vs {b:?}"),
            }
        }
    }

    /// A posted invoice of a counterparty without history reads its segment and
    /// country: a value the model learned an effect for moves the prediction, an
    /// unknown one leaves it where no value leaves it, and a value that is not a
    /// string is refused naming the field.
    #[test]
    fn a_cold_start_starts_from_its_segment_and_country() {
        let dir = generated_dir(60, 2000, "2023-01-01", "2024-06-30", 5);
        let (d, models) = trained_models(dir.path(), "2024-06-30");
        let s = Service::load(dir.path(), d, models.path()).unwrap();
        let groups = &s.models.payment.empirical.as_ref().unwrap().groups;
        let (field, value, effect) = groups.iter().max_by(|a, b| a.2.abs().total_cmp(&b.2.abs())).unwrap().clone();
        assert!(effect.abs() > 1e-6, "{groups:?}");
        let post = |extra: Option<(&str, serde_json::Value)>| {
            let mut v = serde_json::json!({"invoice_id": "U1", "customer_id": "NOBODY", "invoice_date": "2024-06-30",
                "due_date": "2024-07-30", "amount": 1234.5, "currency": "EUR"});
            if let Some((k, x)) = extra {
                v[k] = x;
            }
            s.predict_posted(&serde_json::json!({ "invoices": [v] }))
        };
        let plain = post(None).unwrap().remove(0);
        let peer = post(Some((&field, serde_json::json!(value)))).unwrap().remove(0);
        let unknown = post(Some((&field, serde_json::json!("no such value")))).unwrap().remove(0);
        assert_ne!(plain.p_late, peer.p_late, "{field} {value}: {effect}");
        assert_eq!(plain, unknown);
        let err = post(Some(("country", serde_json::json!(7)))).unwrap_err();
        assert_eq!(err[0].field, "invoices[0].country");
    }

    /// A large batch (checked, scored and written in parallel) answers what each
    /// invoice posted alone answers (probabilities up to the order of a sum), its JSON equals the plain serialisation,
    /// and errors come in the order of the invoices.
    #[test]
    fn batches_answer_as_single_invoices_do() {
        let dir = generated_dir(60, 2000, "2023-01-01", "2024-06-30", 5);
        let (d, models) = trained_models(dir.path(), "2024-06-30");
        let s = Service::load(dir.path(), d, models.path()).unwrap();
        let open = s.predictions();
        let customers: Vec<String> = open.iter().map(|p| p.customer_id.clone()).collect();
        let mut list = Vec::new();
        for k in 0..150 {
            let item = match k % 5 {
                0 => serde_json::json!({"invoice_id": open[k % open.len()].invoice_id}),
                1 => {
                    serde_json::json!({"invoice_id": format!("U{k}"), "customer_id": "NOBODY", "invoice_date": "2024-06-30",
                    "due_date": "2024-07-30", "amount": 1234.5, "currency": "EUR"})
                }
                _ => serde_json::json!({"invoice_id": format!("N{k}"), "customer_id": customers[k % customers.len()],
                    "invoice_date": "2024-06-30", "due_date": "2024-07-30", "amount": format!("{}.25", 100 + k), "currency": "USD"}),
            };
            list.push(item);
        }
        let batch = s.predict_posted(&serde_json::json!({ "invoices": list })).unwrap();
        assert_eq!(batch.len(), 150);
        for (k, item) in list.iter().enumerate() {
            let mut one = s.predict_posted(&serde_json::json!({ "invoices": [item] })).unwrap().remove(0);
            // A single invoice walks the trees one by one, a batch in blocks: the
            // sums differ in order only (last bits of the probabilities).
            let b = &batch[k];
            for (a, w) in
                [(&mut one.p_late, b.p_late), (&mut one.p_late_30, b.p_late_30), (&mut one.p_unpaid_90, b.p_unpaid_90)]
            {
                assert!((*a - w).abs() < 1e-12, "invoice {k}: {a} vs {w}");
                *a = w;
            }
            assert_eq!(&one, b, "invoice {k}");
        }
        let want = serde_json::to_vec(&super::doc::PredictionReply { predictions: batch.clone() }).unwrap();
        assert_eq!(super::prediction_reply_json(&batch), want);
        // Read from the body's bytes without a document: the same answers.
        let bytes =
            |list: &[serde_json::Value]| serde_json::to_string(&serde_json::json!({ "invoices": list })).unwrap();
        fn read(text: &str) -> crate::service::posted::PostedBody<'_> {
            serde_json::from_str(text).unwrap()
        }
        assert_eq!(s.predict_body(&read(&bytes(&list))).unwrap(), batch);
        // As large bodies are answered: chunks scored and serialised apart, then joined.
        let text = bytes(&list);
        let raw: crate::service::posted::RawBody<'_> = serde_json::from_str(&text).unwrap();
        let parts = s.predict_raw_chunks(&raw, |p| super::reply_part(&p)).unwrap().unwrap();
        assert!(parts.len() > 1, "{} chunk", parts.len());
        assert_eq!(super::prediction_reply(&parts), want);
        let text = bytes(&list[..1]);
        assert_eq!(
            s.predict_body(&read(&text)).unwrap(),
            s.predict_posted(&serde_json::from_str(&text).unwrap()).unwrap()
        );

        list[92]["currency"] = serde_json::json!("XX");
        list[3]["due_date"] = serde_json::json!("not a date");
        let errors = s.predict_posted(&serde_json::json!({ "invoices": list })).unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["invoices[3].due_date", "invoices[92].currency"]);
        // The same errors from the body's bytes, for the batch and for invoices alone.
        let reasons =
            |e: Vec<crate::service::FieldError>| e.into_iter().map(|e| (e.field, e.reason)).collect::<Vec<_>>();
        let mut bad = vec![list.clone(), vec![list[3].clone()], vec![list[92].clone()]];
        for (k, (field, value)) in [
            ("amount", serde_json::json!(-5)),
            ("amount", serde_json::json!(true)),
            ("amount", serde_json::Value::Null),
            ("channel", serde_json::json!(7)),
            ("customer_id", serde_json::json!(["C"])),
            ("invoice_date", serde_json::json!({"d": 1})),
        ]
        .into_iter()
        .enumerate()
        {
            let mut one = list[2 + k].clone();
            one[field] = value;
            bad.push(vec![one]);
        }
        bad.push(vec![serde_json::json!({"invoice_id": "no such open invoice"})]);
        for b in bad {
            let text = bytes(&b);
            let want = reasons(s.predict_posted(&serde_json::from_str(&text).unwrap()).unwrap_err());
            assert_eq!(reasons(s.predict_body(&read(&text)).unwrap_err()), want, "{text}");
        }
    }
}
