//! The loaded state the API serves: history known at the as-of date, the current
//! models, every open invoice scored once, and the queries over them (customer
//! views, worklist, anomalies, forecast). No HTTP here.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Mutex;

use serde::Serialize;

use crate::domain::date_from_days;
use crate::features::history::History;
use crate::features::{customer_at, load_history, FxTable};
use crate::forecast::{open_items, simulate, Forecast, ForecastError, ForecastParams, Granularity, OpenItem};
use crate::ingest::InvoiceReadOptions;
use crate::models::anomaly::{Flag, Severity};
use crate::models::artifact::{ArtifactError, Kind, Manifest, ModelStore};
use crate::models::gbdt::GbdtError;
use crate::models::predict::{predict_open, InvoicePrediction};
use crate::models::train::{load_current, ModelSet};

/// Service failures.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// Reading the data failed.
    #[error("reading {path}: {reason}")]
    Data {
        /// Data directory.
        path: String,
        /// Cause.
        reason: String,
    },
    /// Models missing or unreadable.
    #[error(transparent)]
    Artifact(#[from] ArtifactError),
    /// Models do not fit the inputs.
    #[error(transparent)]
    Model(#[from] GbdtError),
    /// Invalid forecast request.
    #[error(transparent)]
    Forecast(#[from] ForecastError),
}

/// The service currently answering, swapped whole on reload: requests in flight keep
/// the `Arc` they started with, new ones get the new one.
pub struct Live {
    current: std::sync::RwLock<std::sync::Arc<Service>>,
    /// Data directory.
    pub data: std::path::PathBuf,
    /// Models directory.
    pub models: std::path::PathBuf,
    /// As-of day.
    pub as_of: i32,
}

impl Live {
    /// Loads the first service.
    ///
    /// # Errors
    /// [`ServiceError`].
    pub fn load(data: &Path, as_of: i32, models: &Path) -> Result<Live, ServiceError> {
        let s = Service::load(data, as_of, models)?;
        Ok(Live {
            current: std::sync::RwLock::new(std::sync::Arc::new(s)),
            data: data.to_path_buf(),
            models: models.to_path_buf(),
            as_of,
        })
    }

    /// The service answering now.
    pub fn get(&self) -> std::sync::Arc<Service> {
        match self.current.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Loads the models `CURRENT` points at and rescores; on success swaps the
    /// service in, on failure keeps the old one.
    ///
    /// # Errors
    /// [`ServiceError`] naming what could not be loaded.
    pub fn reload(&self) -> Result<(), ServiceError> {
        let next = std::sync::Arc::new(Service::load(&self.data, self.as_of, &self.models)?);
        match self.current.write() {
            Ok(mut g) => *g = next,
            Err(p) => *p.into_inner() = next,
        }
        Ok(())
    }
}

/// Everything the API answers from.
pub struct Service {
    /// History known at the as-of date.
    pub history: History,
    /// As-of day.
    pub as_of: i32,
    /// Current models.
    pub models: ModelSet,
    /// Their manifests.
    pub manifests: BTreeMap<Kind, Manifest>,
    /// Every open invoice, scored.
    pub predictions: Vec<InvoicePrediction>,
    by_customer: HashMap<String, (usize, Vec<usize>)>,
    items: Vec<OpenItem>,
    forecasts: Mutex<HashMap<(i32, Granularity), std::sync::Arc<Forecast>>>,
}

/// A customer as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct CustomerView {
    /// Customer id.
    pub customer_id: String,
    /// As-of date.
    pub as_of: String,
    /// Segment.
    pub segment: String,
    /// Highest risk score among open invoices (0 without any).
    pub risk_score: u8,
    /// Behaviour vector summary.
    pub behaviour: BTreeMap<String, Option<f64>>,
    /// Anomaly flags on the customer or its invoices.
    pub anomaly_flags: Vec<Flag>,
    /// Open invoices with predictions.
    pub open_items: Vec<InvoicePrediction>,
}

/// One worklist line: an open invoice and why it is ranked there.
#[derive(Debug, Clone, Serialize)]
pub struct WorkItem {
    /// Rank (1 = act first).
    pub rank: usize,
    /// Expected benefit of acting now: open amount (base currency) × P(> 30 days late).
    pub priority: f64,
    /// Collector from the customers table.
    pub collector: Option<String>,
    /// The prediction.
    #[serde(flatten)]
    pub prediction: InvoicePrediction,
}

/// Worklist filters.
#[derive(Debug, Clone, Default)]
pub struct WorklistQuery {
    /// Collector.
    pub collector: Option<String>,
    /// Segment name.
    pub segment: Option<String>,
    /// ISO currency.
    pub currency: Option<String>,
    /// Page size.
    pub limit: usize,
    /// Position to continue from.
    pub cursor: usize,
}

/// One page of the worklist.
#[derive(Debug, Clone, Serialize)]
pub struct WorklistPage {
    /// Items in rank order.
    pub items: Vec<WorkItem>,
    /// Cursor of the next page, None at the end.
    pub next_cursor: Option<String>,
    /// Items matching the filters.
    pub total: usize,
}

/// One anomaly as the API lists it.
#[derive(Debug, Clone, Serialize)]
pub struct AnomalyView {
    /// Customer id.
    pub customer_id: String,
    /// Invoice id when the flag is about one invoice.
    pub invoice_id: Option<String>,
    /// Date of the evidence.
    pub date: String,
    /// The flag.
    #[serde(flatten)]
    pub flag: Flag,
}

/// A field-level problem in a posted request.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    /// JSON path of the field, e.g. `invoices[3].due_date`.
    pub field: String,
    /// Why it is refused.
    pub reason: String,
    /// 404 (unknown id) rather than 422 (invalid value).
    pub not_found: bool,
}

/// Most invoices in one prediction request.
pub const MAX_BATCH: usize = 10_000;

fn day(d: i32) -> String {
    date_from_days(d).map(|x| x.to_string()).unwrap_or_default()
}

impl Service {
    /// Loads the history at `as_of` and the current models, and scores every open
    /// invoice.
    ///
    /// # Errors
    /// [`ServiceError`].
    pub fn load(data: &Path, as_of: i32, models: &Path) -> Result<Service, ServiceError> {
        let store = ModelStore::new(models);
        let (models, manifests) = load_current(&store)?;
        let history = load_history(data, as_of, &InvoiceReadOptions::default(), &FxTable::default())
            .map_err(|e| ServiceError::Data { path: data.display().to_string(), reason: e.to_string() })?;
        let predictions = predict_open(&history, as_of, &models)?;
        let items = open_items(&history, as_of, &models)?;
        let mut by_customer: HashMap<String, (usize, Vec<usize>)> = HashMap::new();
        for (c, id) in history.customers.iter().enumerate() {
            by_customer.insert(id.clone(), (c, Vec::new()));
        }
        for (i, p) in predictions.iter().enumerate() {
            if let Some(e) = by_customer.get_mut(&p.customer_id) {
                e.1.push(i);
            }
        }
        Ok(Service {
            history,
            as_of,
            models,
            manifests,
            predictions,
            by_customer,
            items,
            forecasts: Mutex::new(HashMap::new()),
        })
    }

    /// The as-of date.
    pub fn as_of_date(&self) -> String {
        day(self.as_of)
    }

    /// A customer's view, None when unknown.
    pub fn customer(&self, id: &str) -> Option<CustomerView> {
        let (c, idx) = self.by_customer.get(id)?;
        let at = customer_at(&self.history, *c, self.as_of);
        let names = crate::features::customer_feature_names();
        let behaviour =
            names.iter().zip(at.vector.iter()).map(|(n, v)| (n.to_string(), v.is_finite().then_some(*v))).collect();
        let open_items: Vec<InvoicePrediction> = idx.iter().map(|&i| self.predictions[i].clone()).collect();
        let mut anomaly_flags = self.models.anomaly.flags(&at);
        anomaly_flags.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.code.cmp(&b.code)));
        let segment = if at.vector[1] < 1.0 {
            crate::models::segments::NEW_SEGMENT.to_string()
        } else {
            self.models.segments.assign(&at.vector).to_string()
        };
        Some(CustomerView {
            customer_id: id.to_string(),
            as_of: self.as_of_date(),
            segment,
            risk_score: open_items.iter().map(|p| p.risk_score).max().unwrap_or(0),
            behaviour,
            anomaly_flags,
            open_items,
        })
    }

    /// The worklist: open invoices by open amount (base currency) × P(> 30 days late).
    pub fn worklist(&self, q: &WorklistQuery) -> WorklistPage {
        let fx = FxTable::default();
        let collector = |p: &InvoicePrediction| {
            self.by_customer.get(&p.customer_id).and_then(|(c, _)| self.history.master.get(*c)?.collector.clone())
        };
        let mut ranked: Vec<(f64, usize)> = self
            .predictions
            .iter()
            .enumerate()
            .filter(|(_, p)| q.segment.as_ref().is_none_or(|s| &p.segment == s))
            .filter(|(_, p)| q.currency.as_ref().is_none_or(|c| &p.currency == c))
            .filter(|(_, p)| q.collector.is_none() || collector(p) == q.collector)
            .map(|(i, p)| {
                let cur = crate::domain::Currency::parse(&p.currency).unwrap_or(crate::domain::Currency::USD);
                (fx.to_base(p.open_minor, cur) * p.p_late_30, i)
            })
            .collect();
        ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        let total = ranked.len();
        let items: Vec<WorkItem> = ranked
            .iter()
            .enumerate()
            .skip(q.cursor)
            .take(q.limit)
            .map(|(k, &(priority, i))| WorkItem {
                rank: k + 1,
                priority: (priority * 100.0).round() / 100.0,
                collector: collector(&self.predictions[i]),
                prediction: self.predictions[i].clone(),
            })
            .collect();
        let end = q.cursor + items.len();
        WorklistPage { items, next_cursor: (end < total).then(|| end.to_string()), total }
    }

    /// Anomaly flags at or above `min_severity` with evidence dated on or after `since`.
    pub fn anomalies(&self, since: Option<i32>, min_severity: Severity) -> Vec<AnomalyView> {
        let mut out = Vec::new();
        // Customer-level flags repeat on each open invoice: list them once.
        let mut seen = std::collections::HashSet::new();
        for p in &self.predictions {
            for f in &p.anomaly_flags {
                if f.severity < min_severity || since.is_some_and(|s| f.day < s) {
                    continue;
                }
                let invoice_id = f.invoice.map(|_| p.invoice_id.clone());
                if seen.insert((p.customer_id.clone(), invoice_id.clone(), f.code.clone())) {
                    out.push(AnomalyView {
                        customer_id: p.customer_id.clone(),
                        invoice_id,
                        date: day(f.day),
                        flag: f.clone(),
                    });
                }
            }
        }
        out.sort_by(|a, b| b.flag.severity.cmp(&a.flag.severity).then(b.date.cmp(&a.date)));
        out
    }

    /// Predictions for posted invoices (`{"invoices": [...]}`): an `invoice_id` alone
    /// returns the stored prediction of that open invoice; with `customer_id`,
    /// `invoice_date`, `due_date`, `amount` (JSON number or decimal string in major
    /// units, parsed exactly) and `currency` the invoice is scored as new, for a known
    /// customer from its history or, for an unknown one, as a cold start.
    ///
    /// # Errors
    /// Every invalid field (path and reason), or a model failure.
    pub fn predict_posted(&self, body: &serde_json::Value) -> Result<Vec<InvoicePrediction>, Vec<FieldError>> {
        use crate::domain::{Currency, Money};
        use crate::features::history::{id_key, Inv, OPEN};
        use crate::ingest::columns::NULL_AMOUNT;
        let bad = |field: String, reason: String| FieldError { field, reason, not_found: false };
        let Some(list) = body.get("invoices").and_then(|v| v.as_array()) else {
            return Err(vec![bad("invoices".into(), "should be an array of invoices".into())]);
        };
        if list.is_empty() || list.len() > MAX_BATCH {
            return Err(vec![bad(
                "invoices".into(),
                format!("should hold 1 to {MAX_BATCH} invoices, not {}", list.len()),
            )]);
        }
        let fx = FxTable::default();
        let mut errors = Vec::new();
        let mut out: Vec<Option<InvoicePrediction>> = vec![None; list.len()];
        let mut rows: Vec<f64> = Vec::new();
        let mut meta = Vec::new();
        let mut at_index = Vec::new();
        let mut flags_of: Vec<Vec<Flag>> = Vec::new();
        for (i, v) in list.iter().enumerate() {
            let path = |f: &str| format!("invoices[{i}].{f}");
            let Some(obj) = v.as_object() else {
                errors.push(bad(format!("invoices[{i}]"), "should be an object".into()));
                continue;
            };
            let text = |f: &str| obj.get(f).and_then(|x| x.as_str()).map(str::to_string);
            let Some(invoice_id) = text("invoice_id").filter(|s| !s.is_empty()) else {
                errors.push(bad(path("invoice_id"), "is required (a non-empty string)".into()));
                continue;
            };
            if obj.len() == 1 {
                match self.predictions.iter().find(|p| p.invoice_id == invoice_id) {
                    Some(p) => out[i] = Some(p.clone()),
                    None => errors.push(FieldError {
                        field: path("invoice_id"),
                        reason: format!("no open invoice '{invoice_id}'; send the invoice's fields to score it as new"),
                        not_found: true,
                    }),
                }
                continue;
            }
            let mut field_ok = true;
            let mut need = |f: &str| -> Option<String> {
                let v = text(f);
                if v.is_none() {
                    errors.push(bad(path(f), "is required (a string)".into()));
                    field_ok = false;
                }
                v
            };
            let (cust, issue, due, cur) =
                (need("customer_id"), need("invoice_date"), need("due_date"), need("currency"));
            let date = |f: &str, s: &Option<String>, errors: &mut Vec<FieldError>| -> Option<i32> {
                let s = s.as_ref()?;
                match crate::domain::parse_date_flexible(s) {
                    Some(d) => Some(crate::domain::days_from_date(d)),
                    None => {
                        errors.push(bad(path(f), format!("should be a date like 2024-06-30, not '{s}'")));
                        None
                    }
                }
            };
            let issue_d = date("invoice_date", &issue, &mut errors);
            let due_d = date("due_date", &due, &mut errors);
            let currency = match cur.as_deref().map(Currency::parse) {
                Some(Ok(c)) => Some(c),
                Some(Err(e)) => {
                    errors.push(bad(path("currency"), e.to_string()));
                    None
                }
                None => None,
            };
            let amount = match (obj.get("amount"), currency) {
                (None, _) => {
                    errors.push(bad(path("amount"), "is required (a number or decimal string)".into()));
                    None
                }
                (Some(a), Some(c)) => {
                    let t = match a {
                        serde_json::Value::Number(n) => Some(n.to_string()),
                        serde_json::Value::String(s) => Some(s.clone()),
                        _ => None,
                    };
                    match t.map(|t| Money::parse_major(&t, c)) {
                        Some(Ok(m)) if m.minor > 0 => Some(m),
                        Some(Ok(_)) => {
                            errors.push(bad(path("amount"), "should be positive".into()));
                            None
                        }
                        Some(Err(e)) => {
                            errors.push(bad(path("amount"), e.to_string()));
                            None
                        }
                        None => {
                            errors.push(bad(path("amount"), "should be a number or a decimal string".into()));
                            None
                        }
                    }
                }
                (Some(_), None) => None,
            };
            if let (Some(a), Some(b)) = (issue_d, due_d) {
                if b < a {
                    errors.push(bad(path("due_date"), "is before invoice_date".into()));
                    continue;
                }
            }
            let (Some(cust), Some(issue_d), Some(due_d), Some(m), true) = (cust, issue_d, due_d, amount, field_ok)
            else {
                continue;
            };
            let inv = Inv {
                cust: 0,
                invoice_date: issue_d,
                due_date: due_d,
                paid_date: OPEN,
                amount_base: fx.to_base(m.minor, m.currency),
                amount_minor: m.minor,
                paid_minor: NULL_AMOUNT,
                currency: m.currency,
                open_slot: u32::MAX,
                key: id_key(&invoice_id),
                origin: (0, 0),
            };
            let (vector, values, flags) = match self.by_customer.get(&cust) {
                Some((c, _)) => {
                    let now = customer_at(&self.history, *c, self.as_of);
                    let then = customer_at(&self.history, *c, issue_d.min(self.as_of));
                    let flags = self.models.anomaly.flags(&now).into_iter().filter(|f| f.invoice.is_none()).collect();
                    (now.vector, crate::features::invoice::new_invoice_values(&then, &inv), flags)
                }
                None => {
                    let vector = crate::features::customer::first_invoice_vector(&inv);
                    let empty = crate::features::CustomerAt {
                        invs: &[],
                        base: 0,
                        sides: Vec::new(),
                        t: issue_d,
                        months: ([f64::NAN; 12], f64::NAN),
                        median_amount: f64::NAN,
                        vector,
                    };
                    (vector, crate::features::invoice::new_invoice_values(&empty, &inv), Vec::new())
                }
            };
            rows.extend_from_slice(&vector);
            rows.extend_from_slice(&values);
            meta.push(crate::models::predict::RowMeta {
                invoice_id,
                customer_id: cust,
                currency: m.currency,
                amount_minor: m.minor,
                open_minor: m.minor,
                due: due_d,
            });
            at_index.push(i);
            flags_of.push(flags);
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        if !meta.is_empty() {
            let n = meta.len();
            let x = ndarray::Array2::from_shape_vec((n, rows.len() / n), rows).expect("rows of equal width");
            let scored = crate::models::predict::score_matrix(x.view(), &meta, self.as_of, &self.models, |k| {
                flags_of[k].clone()
            })
            .map_err(|e| vec![bad("invoices".into(), e.to_string())])?;
            for (k, p) in scored.into_iter().enumerate() {
                out[at_index[k]] = Some(p);
            }
        }
        Ok(out.into_iter().map(|p| p.expect("every invoice answered")).collect())
    }

    /// The forecast (cached per horizon and granularity).
    ///
    /// # Errors
    /// [`ServiceError::Forecast`] for an invalid horizon.
    pub fn forecast(&self, horizon_days: i32, g: Granularity) -> Result<std::sync::Arc<Forecast>, ServiceError> {
        if let Some(f) = self.forecasts.lock().ok().and_then(|m| m.get(&(horizon_days, g)).cloned()) {
            return Ok(f);
        }
        let p = ForecastParams { horizon_days, granularity: g, ..Default::default() };
        let f = std::sync::Arc::new(simulate(
            &self.items,
            self.as_of,
            &p,
            &FxTable::default(),
            self.models.cash_horizon_days,
        )?);
        if let Ok(mut m) = self.forecasts.lock() {
            m.insert((horizon_days, g), f.clone());
        }
        Ok(f)
    }
}
