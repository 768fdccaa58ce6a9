//! The OpenAPI 3.1 description: request and reply shapes the handlers read or write
//! by hand (so that bad input gets field-level errors), the problem-details body, and
//! the API key scheme. Paths come from the handlers' `#[utoipa::path]` attributes,
//! registered together with the routes (see `router`).

use serde::Serialize;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

/// An RFC 9457 problem-details body (`application/problem+json`).
#[derive(Serialize, ToSchema)]
pub struct Problem {
    /// Always `about:blank`.
    #[serde(rename = "type")]
    pub kind: String,
    /// HTTP status.
    pub status: u16,
    /// Short title.
    pub title: String,
    /// What is wrong, naming every refused field.
    pub detail: String,
    /// Path of the (first) offending field, e.g. `invoices[3].due_date`.
    pub field: Option<String>,
}

/// An invoice to score: `invoice_id` alone for an open invoice the server knows, or all
/// fields for a new one.
#[derive(Serialize, ToSchema)]
pub struct PostedInvoice {
    /// Invoice id.
    pub invoice_id: String,
    /// Customer (unknown customers get cold-start predictions).
    pub customer_id: Option<String>,
    /// Issue date, `YYYY-MM-DD`.
    pub invoice_date: Option<String>,
    /// Due date, not before the issue date.
    pub due_date: Option<String>,
    /// Amount in major units: a JSON number or a decimal string, read exactly.
    #[schema(value_type = Option<String>, example = "1234.56")]
    pub amount: Option<serde_json::Value>,
    /// ISO 4217 code.
    pub currency: Option<String>,
    /// Delivery channel (`paper`, `email`, `e-invoice`, ...).
    pub channel: Option<String>,
    /// The customer's segment, read for a customer without history: it starts from
    /// its segment's peers.
    pub segment: Option<String>,
    /// The customer's country, read for a customer without history: it starts from
    /// its country's peers.
    pub country: Option<String>,
}

/// `POST /v1/predictions` body.
#[derive(Serialize, ToSchema)]
pub struct PredictionRequest {
    /// 1 to 10,000 invoices.
    pub invoices: Vec<PostedInvoice>,
}

/// `POST /v1/predictions` reply, in request order.
#[derive(Serialize, ToSchema)]
pub struct PredictionReply {
    /// One per posted invoice.
    pub predictions: Vec<crate::models::predict::InvoicePrediction>,
}

/// One event (`type` selects the fields that apply).
#[derive(Serialize, ToSchema)]
pub struct EventIn {
    /// Caller's id; repeating it does not apply the event twice.
    pub event_id: String,
    /// `invoice` (issued or changed), `payment`, `activity` or `customer` (master data).
    #[serde(rename = "type")]
    #[schema(example = "payment")]
    pub event_type: String,
    /// Customer.
    pub customer_id: String,
    /// Invoice concerned (required for `invoice`).
    pub invoice_id: Option<String>,
    /// `invoice`: issue date.
    pub invoice_date: Option<String>,
    /// `invoice`: due date.
    pub due_date: Option<String>,
    /// `invoice`, `payment`: amount in major units (number or decimal string).
    #[schema(value_type = Option<String>)]
    pub amount: Option<serde_json::Value>,
    /// `invoice`, `payment`: ISO 4217 code.
    pub currency: Option<String>,
    /// `invoice`: settlement date.
    pub paid_date: Option<String>,
    /// `invoice`: amount received at settlement.
    #[schema(value_type = Option<String>)]
    pub paid_amount: Option<serde_json::Value>,
    /// `payment`: payment date.
    pub payment_date: Option<String>,
    /// `activity`: date.
    pub date: Option<String>,
    /// `activity`: reminder_email, reminder_sms, call, letter, promise_to_pay,
    /// dispute_opened, dispute_resolved or note.
    pub kind: Option<String>,
    /// `activity`: promised payment date.
    pub promised_date: Option<String>,
    /// `customer`: segment label.
    pub segment: Option<String>,
    /// `customer`: collector.
    pub collector: Option<String>,
    /// `customer`: credit limit in major units (with `currency`).
    #[schema(value_type = Option<String>)]
    pub credit_limit: Option<serde_json::Value>,
}

/// `POST /v1/events` body.
#[derive(Serialize, ToSchema)]
pub struct EventsRequest {
    /// 1 to 10,000 events, applied in order.
    pub events: Vec<EventIn>,
}

/// What became of one event.
#[derive(Serialize, ToSchema)]
pub struct EventStatus {
    /// The event's id.
    pub event_id: String,
    /// Its position in the log.
    pub seq: u64,
    /// `accepted` or `duplicate` (written before).
    pub status: String,
}

/// `POST /v1/events` reply: every event is durable when this is sent.
#[derive(Serialize, ToSchema)]
pub struct EventsReply {
    /// Newly written.
    pub accepted: usize,
    /// Written before under the same id and content.
    pub duplicates: usize,
    /// Per event, in request order.
    pub events: Vec<EventStatus>,
}

/// `POST /v1/models/{kind}/activate` body.
#[derive(Serialize, ToSchema)]
pub struct ActivateRequest {
    /// A stored version of that kind (see `GET /v1/models`).
    pub version: String,
}

struct Security;

impl Modify for Security {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let c = api.components.get_or_insert_with(Default::default);
        c.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        c.add_security_scheme("api_key", SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("x-api-key"))));
    }
}

/// The document's fixed parts.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "arsight",
        description = "Accounts-receivable intelligence: payment-date and risk predictions, collector worklists, anomaly flags, cash forecasts, collections KPIs and live events. Every route but the probes and the dashboard page needs an API key (`Authorization: Bearer <token>` or `x-api-key`); roles: read < write (events) < admin (models). Errors are RFC 9457 problem details naming the field."
    ),
    modifiers(&Security),
    security(("bearer" = []), ("api_key" = [])),
    components(schemas(Problem, PostedInvoice, EventIn))
)]
pub struct ApiDoc;
