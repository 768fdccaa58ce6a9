//! The loaded state the API serves: history known at the as-of date, the current
//! models, every open invoice scored once, and the queries over them (customer
//! views, worklist, anomalies, forecast). No HTTP here.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use rayon::prelude::*;

use serde::Serialize;

pub mod posted;

use posted::{Field, PostedInvoice};

use crate::domain::date_from_days;
use crate::events::Event;
pub use crate::events::{FieldError, Refusal};
use crate::features::history::History;
use crate::features::ledger::Ledger;
use crate::features::{customer_at, load_history, FxTable};
use crate::forecast::{
    open_items_known, open_items_known_where, Forecast, ForecastError, ForecastParams, Granularity, OpenItem,
};
use crate::ingest::InvoiceReadOptions;
use crate::kpi::{KpiParams, KpiReport};
use crate::models::anomaly::{Flag, Severity};
use crate::models::artifact::{ArtifactError, Kind, Manifest, ModelStore};
use crate::models::gbdt::GbdtError;
use crate::models::predict::{predict_open, predict_open_where, InvoicePrediction};
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
    /// The event log could not be read.
    #[error(transparent)]
    Events(#[from] crate::events::log::LogError),
    /// Invalid KPI settings.
    #[error(transparent)]
    Kpi(#[from] crate::kpi::KpiError),
    /// The loaded data's rejected rows could not be written out.
    #[error(transparent)]
    Rejects(crate::ingest::IngestError),
}

/// Writes `rejects` to `path`, or removes `path` when there are none.
fn write_or_remove_rejects(path: &Path, rejects: &[crate::ingest::RejectedRow]) -> Result<(), ServiceError> {
    if !rejects.is_empty() {
        return crate::ingest::write_rejects(path, rejects).map_err(ServiceError::Rejects);
    }
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            let reason = format!("removing: {e}");
            Err(ServiceError::Rejects(crate::ingest::IngestError::Write { path: path.to_path_buf(), reason }))
        }
        _ => Ok(()),
    }
}

/// The service currently answering, swapped whole on reload or when events move
/// the as-of date: requests in flight keep the `Arc` they started with, new ones get
/// the new one. Events dated on or before the as-of date are applied in place, to the
/// customers they concern.
pub struct Live {
    current: RwLock<Arc<Service>>,
    /// Data directory.
    pub data: PathBuf,
    /// Models directory.
    pub models: PathBuf,
    /// As-of day of the data (events may move the service's date later).
    pub as_of: i32,
    /// Event log directory, when events are on.
    pub events: Option<PathBuf>,
    /// Configured FX rates (None: the data's `fx_rates` table, else built-in).
    fx: Option<FxTable>,
    /// Held while a rebuild or an event application runs (one writer at a time).
    writer: Mutex<()>,
    /// The event writer, when events are on.
    committer: std::sync::OnceLock<crate::events::log::Committer>,
    /// Where the loaded data's rejected rows are kept, when asked: rewritten by every
    /// rebuild, removed when the data has none.
    rejects_file: std::sync::OnceLock<PathBuf>,
}

impl Live {
    /// Loads the first service: the data at `as_of`, then every event in `events`
    /// (the log's content, in order).
    ///
    /// # Errors
    /// [`ServiceError`].
    pub fn load(
        data: &Path,
        as_of: i32,
        models: &Path,
        events_dir: Option<&Path>,
        events: &[Event],
        fx: Option<FxTable>,
    ) -> Result<Live, ServiceError> {
        let s = Service::load_with(data, as_of.max(latest_day(events)), models, fx.as_ref())?;
        s.apply(events);
        Ok(Live {
            current: RwLock::new(Arc::new(s)),
            data: data.to_path_buf(),
            models: models.to_path_buf(),
            as_of,
            fx,
            events: events_dir.map(Path::to_path_buf),
            writer: Mutex::new(()),
            committer: std::sync::OnceLock::new(),
            rejects_file: std::sync::OnceLock::new(),
        })
    }

    /// Opens the event log in `events_dir` (cutting off a torn last line), loads the
    /// data at `as_of` with every logged event applied, and starts the event writer
    /// (group commit, `fsync` after each group when asked) and the thread that applies
    /// committed events.
    ///
    /// # Errors
    /// [`ServiceError`].
    pub fn open(
        data: &Path,
        as_of: i32,
        models: &Path,
        events_dir: &Path,
        fsync: bool,
        fx: Option<FxTable>,
    ) -> Result<Arc<Live>, ServiceError> {
        let (log, events) = crate::events::log::EventLog::open(events_dir, fsync)?;
        let live = Arc::new(Live::load(data, as_of, models, Some(events_dir), &events, fx)?);
        let (tx, rx) = std::sync::mpsc::channel::<Vec<Event>>();
        let committer = crate::events::log::Committer::start(log, live.get().known_refs(&events), tx);
        let _ = live.committer.set(committer);
        let applier = live.clone();
        std::thread::Builder::new()
            .name("arsight-apply".into())
            .spawn(move || {
                while let Ok(mut batch) = rx.recv() {
                    while let Ok(more) = rx.try_recv() {
                        batch.extend(more);
                    }
                    if let Err(e) = applier.apply(&batch) {
                        tracing::error!(error = %e, "applying events failed; the previous state keeps answering");
                    }
                }
            })
            .map_err(|e| ServiceError::Data { path: events_dir.display().to_string(), reason: e.to_string() })?;
        Ok(live)
    }

    /// Keeps the loaded data's rejected rows in `path` (CSV) from now on: writes them
    /// now and after every rebuild (reload, or events moving the as-of date), removes
    /// the file when the data has none. Returns the rows written.
    ///
    /// # Errors
    /// [`ServiceError::Rejects`] when the file cannot be written or removed.
    pub fn keep_rejects_in(&self, path: PathBuf) -> Result<Vec<crate::ingest::RejectedRow>, ServiceError> {
        let _w = self.writer.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let rejects = self.get().rejects();
        write_or_remove_rejects(&path, &rejects)?;
        let _ = self.rejects_file.set(path);
        Ok(rejects)
    }

    /// The event writer, None when events are off.
    pub fn committer(&self) -> Option<&crate::events::log::Committer> {
        self.committer.get()
    }

    /// The service answering now.
    pub fn get(&self) -> Arc<Service> {
        match self.current.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    fn swap(&self, next: Service) {
        let next = Arc::new(next);
        match self.current.write() {
            Ok(mut g) => *g = next,
            Err(p) => *p.into_inner() = next,
        }
    }

    /// Reloads the data, the models `CURRENT` points at and the whole event log, and
    /// rescores; on success swaps the service in, on failure keeps the old one.
    ///
    /// # Errors
    /// [`ServiceError`] naming what could not be loaded.
    pub fn reload(&self) -> Result<(), ServiceError> {
        let _w = self.writer.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        self.rebuild()
    }

    fn rebuild(&self) -> Result<(), ServiceError> {
        let events = match &self.events {
            Some(dir) => crate::events::log::read_all(dir)?,
            None => Vec::new(),
        };
        let s = Service::load_with(&self.data, self.as_of.max(latest_day(&events)), &self.models, self.fx.as_ref())?;
        s.apply(&events);
        let n = s.rejected_count();
        match self.rejects_file.get() {
            // Written before the swap: when it fails, the previous service (whose
            // rejects the file still holds) keeps answering.
            Some(path) => {
                write_or_remove_rejects(path, &s.rejects())?;
                if n > 0 {
                    tracing::warn!(rows = n, data = %self.data.display(), file = %path.display(), "input rows rejected on reload");
                }
            }
            None if n > 0 => {
                tracing::warn!(rows = n, data = %self.data.display(), "input rows rejected on reload (`arsight features` writes them out)");
            }
            None => {}
        }
        self.swap(s);
        Ok(())
    }

    /// Applies newly committed events (in log order). Events already reflected (by a
    /// rebuild that read the log) are skipped; an event dated after the service's
    /// as-of date moves it there, which rescores every open invoice.
    ///
    /// # Errors
    /// [`ServiceError`] from a rebuild; the previous service keeps answering, with the
    /// events dated up to its as-of date applied.
    pub fn apply(&self, events: &[Event]) -> Result<(), ServiceError> {
        let _w = self.writer.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let s = self.get();
        let seen = s.applied_seq();
        let fresh: Vec<Event> = events.iter().filter(|e| e.seq > seen).cloned().collect();
        if fresh.is_empty() {
            return Ok(());
        }
        if latest_day(&fresh) > s.as_of {
            return self.rebuild().inspect_err(|_| s.apply(&fresh));
        }
        s.apply(&fresh);
        Ok(())
    }
}

fn latest_day(events: &[Event]) -> i32 {
    events.iter().map(Event::day).max().unwrap_or(i32::MIN)
}

/// Everything the API answers from.
pub struct Service {
    /// As-of day.
    pub as_of: i32,
    /// The day through which the data tell which invoices are settled: the last
    /// open-items listing's on or before the as-of day, else the as-of day
    /// ([`History::known_through`]); the open invoices' predictions and cash
    /// distributions count from it for those issued by then.
    pub data_through: i32,
    /// Current models.
    pub models: ModelSet,
    /// Their manifests.
    pub manifests: BTreeMap<Kind, Manifest>,
    state: RwLock<State>,
    forecasts: Mutex<HashMap<(i32, Granularity), CachedForecast>>,
    ranking: Mutex<Option<Arc<Ranking>>>,
    /// The last KPI report: its settings, the events applied when it was made, itself.
    kpis: Mutex<Option<(KpiParams, u64, Arc<KpiReport>)>>,
    /// Customers per forecast block ([`FORECAST_BLOCK`]; smaller in tests).
    forecast_block: usize,
    /// Rates for the forecast's and the worklist's base-currency amounts: the data's
    /// `fx_rates` table in effect at the as-of date, else the built-in approximate
    /// table. (Model inputs keep the built-in table the models were trained with.)
    fx: FxTable,
    /// The days the ledger is closed besides weekends: the data's holidays and the
    /// closing days the models read ([`crate::models::payment::PaymentDateModel::closed`]).
    closed: crate::domain::Holidays,
}

/// Customers per forecast block: an event re-simulates only its customers' block.
const FORECAST_BLOCK: usize = 4096;

/// A forecast, the per-block totals it was summed from, and the blocks events changed
/// since.
struct CachedForecast {
    forecast: Arc<Forecast>,
    partials: Arc<crate::forecast::Partials>,
    dirty: HashSet<usize>,
}

/// A customer's state at the as-of date, its customer-level anomaly flags and its
/// distribution of days late (when the payment-date model has an empirical part).
type Summary = (crate::features::invoice::CustomerSummary, Vec<Flag>, Option<crate::models::empirical::CustomerDist>);

/// Open invoices as (priority, customer, position in its predictions), best first;
/// with, once a request asks for it, whether each one's follow-up calls for an action
/// today (in the same order).
struct Ranking {
    order: Vec<(f64, u32, u32)>,
    today: std::sync::OnceLock<Vec<bool>>,
}

/// A customer rebuilt from its ledger: id, history, predictions, forecast items.
type Rebuilt = (String, History, Vec<InvoicePrediction>, Vec<OpenItem>);

/// Customer `c`'s latest history and its index there: the one events rebuilt, else
/// the loaded one.
fn customer_history<'a>(
    base: &'a History,
    changed: &'a HashMap<usize, Arc<History>>,
    c: usize,
) -> (&'a History, usize) {
    match changed.get(&c) {
        Some(h) => (h, 0),
        None => (base, c),
    }
}

/// The mutable part: the loaded history plus what events changed.
struct State {
    /// History known at the as-of date, as loaded.
    history: Arc<History>,
    /// Customer ids by service index (the history's customers, then new ones).
    ids: Vec<String>,
    /// Service index by customer id.
    index: HashMap<String, usize>,
    /// Customers changed by events: their rebuilt one-customer history (its ledger is
    /// read back from it when the next event comes).
    changed: HashMap<usize, Arc<History>>,
    /// Open-invoice predictions per customer.
    preds: Vec<Vec<InvoicePrediction>>,
    /// Forecast inputs per customer.
    items: Vec<Vec<OpenItem>>,
    /// Open invoice id → (customer, position in `preds`).
    open_at: HashMap<String, (u32, u32)>,
    /// Last event sequence number applied.
    applied_seq: u64,
    /// Events applied.
    applied: u64,
    /// When the last event was applied.
    last_applied: Option<std::time::SystemTime>,
    /// Per customer, built on first use: its state at the as-of date and its
    /// customer-level anomaly flags (for scoring posted invoices).
    summaries: Vec<std::sync::OnceLock<Arc<Summary>>>,
}

impl State {
    /// The history holding customer `c` and its index there.
    fn history_of(&self, c: usize) -> (&History, usize) {
        customer_history(&self.history, &self.changed, c)
    }

    /// The follow-up of customer `c`'s open invoice predicted by `p` at `as_of`.
    fn follow_up(&self, c: usize, p: &InvoicePrediction, as_of: i32) -> Option<crate::worklist::FollowUp> {
        self.follow_ups(c, std::slice::from_ref(p), as_of).pop().flatten()
    }

    /// [`Self::follow_up`] of each of customer `c`'s open invoices predicted by `ps`, in
    /// one pass over the customer's activities (the work grows with its invoices and
    /// activities, not with their product).
    fn follow_ups(&self, c: usize, ps: &[InvoicePrediction], as_of: i32) -> Vec<Option<crate::worklist::FollowUp>> {
        if ps.is_empty() {
            return Vec::new();
        }
        let (h, hc) = self.history_of(c);
        let key = |p: &InvoicePrediction| crate::features::history::id_key(&p.invoice_id);
        let invoices = h.offsets[hc]..h.offsets[hc + 1];
        // A few open invoices are found by scanning, many through an index (the first
        // invoice with a key, as the scan finds it).
        let at: Vec<Option<usize>> = if ps.len() <= 16 {
            ps.iter()
                .map(|p| {
                    let k = key(p);
                    invoices.clone().find(|&i| h.invoices[i].key == k)
                })
                .collect()
        } else {
            let mut pos: HashMap<u64, usize> = HashMap::with_capacity(invoices.len());
            for i in invoices.rev() {
                pos.insert(h.invoices[i].key, i);
            }
            ps.iter().map(|p| pos.get(&key(p)).copied()).collect()
        };
        let open: Vec<(usize, f64)> = ps.iter().zip(&at).filter_map(|(p, i)| Some(((*i)?, p.p_late_30))).collect();
        let mut found = crate::worklist::follow_ups(h, hc, &open, as_of).into_iter();
        at.iter().map(|i| i.and_then(|_| found.next())).collect()
    }

    /// Customer `c`'s summary at `as_of` and its customer-level flags (cached).
    fn summary(&self, c: usize, as_of: i32, m: &ModelSet) -> Arc<Summary> {
        self.summaries[c]
            .get_or_init(|| {
                let (h, hc) = self.history_of(c);
                let now = customer_at(h, hc, as_of);
                let flags = m.anomaly.flags(&now).into_iter().filter(|f| f.invoice.is_none()).collect();
                let dist = m.payment.empirical.as_ref().map(|e| e.dist(e.channel_table(), h, hc, as_of));
                Arc::new((now.summary(), flags, dist))
            })
            .clone()
    }
}

/// A customer as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
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
    /// The payment-run calendar its settlements follow ("weekly on Thursday", "on the
    /// 15th and the last day of the month", "monthly on day 25"), null when none.
    pub payment_runs: Option<String>,
    /// Anomaly flags on the customer or its invoices.
    pub anomaly_flags: Vec<Flag>,
    /// Open invoices with predictions.
    pub open_items: Vec<InvoicePrediction>,
    /// The latest payments, settlements and collection activities (newest first, at
    /// most 20).
    pub recent_activity: Vec<ActivityView>,
}

/// One dated thing that happened with a customer.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ActivityView {
    /// Date.
    #[schema(value_type = String, format = Date)]
    pub date: crate::domain::Day,
    /// `payment`, `invoice_issued`, `invoice_settled`, or an activity kind
    /// (`reminder_email`, `promise_to_pay`, `dispute_opened`, ...).
    pub kind: &'static str,
    /// The invoice, when the data links one and its id is known (open invoices).
    pub invoice_id: Option<String>,
    /// Amount in minor units (payments, invoices).
    pub amount_minor: Option<i64>,
    /// Currency of the amount.
    #[schema(value_type = Option<String>)]
    pub currency: Option<crate::domain::Currency>,
    /// Promised payment date (promises to pay).
    #[schema(value_type = Option<String>, format = Date)]
    pub promised_date: Option<crate::domain::Day>,
}

/// The latest `n` events of customer `c` in `h` (dated by `h.as_of`), newest first.
fn recent_activity(h: &History, c: usize, n: usize) -> Vec<ActivityView> {
    use crate::domain::Day;
    let base = h.offsets[c];
    let invs = h.invoices_of(c);
    let inv = |pos: u32| {
        let p = pos as usize;
        (pos != u32::MAX && p >= base && p < base + invs.len()).then(|| &invs[p - base])
    };
    let id_of = |r: &crate::features::history::Inv| {
        (r.open_slot != u32::MAX).then(|| h.open[r.open_slot as usize].invoice_id.clone())
    };
    let mut out: Vec<ActivityView> = Vec::new();
    for r in invs {
        out.push(ActivityView {
            date: Day(r.invoice_date),
            kind: "invoice_issued",
            invoice_id: id_of(r),
            amount_minor: Some(r.amount_minor),
            currency: Some(r.currency),
            promised_date: None,
        });
        if r.paid_date != crate::features::history::OPEN {
            out.push(ActivityView {
                date: Day(r.paid_date),
                kind: "invoice_settled",
                invoice_id: None,
                amount_minor: (r.paid_minor != crate::ingest::columns::NULL_AMOUNT).then_some(r.paid_minor),
                currency: Some(r.currency),
                promised_date: None,
            });
        }
    }
    for e in &h.payments[h.pay_offsets[c]..h.pay_offsets[c + 1]] {
        let r = inv(e.pos);
        out.push(ActivityView {
            date: Day(e.date),
            kind: "payment",
            invoice_id: r.and_then(id_of),
            amount_minor: Some(e.amount_minor),
            currency: r.map(|r| r.currency),
            promised_date: None,
        });
    }
    for e in &h.activities[h.act_offsets[c]..h.act_offsets[c + 1]] {
        out.push(ActivityView {
            date: Day(e.date),
            kind: e.kind.as_str(),
            invoice_id: inv(e.pos).and_then(id_of),
            amount_minor: None,
            currency: None,
            promised_date: (e.promised != crate::ingest::columns::NULL_DATE).then_some(Day(e.promised)),
        });
    }
    out.sort_by_key(|a| std::cmp::Reverse(a.date));
    out.truncate(n);
    out
}

/// One worklist line: an open invoice and why it is ranked there.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
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
    /// Contact, promise and dispute so far, and the next action.
    pub follow_up: Option<crate::worklist::FollowUp>,
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
    /// Only the items whose follow-up calls for an action today (not those awaiting a
    /// promise or the effect of a recent reminder, nor those not yet due and unlikely
    /// to run late).
    pub actionable: bool,
}

/// One page of the worklist.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct WorklistPage {
    /// Items in rank order.
    pub items: Vec<WorkItem>,
    /// Cursor of the next page, None at the end.
    pub next_cursor: Option<String>,
    /// Items matching the filters.
    pub total: usize,
}

/// One anomaly as the API lists it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
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
        Self::load_with(data, as_of, models, None)
    }

    /// [`Self::load`] with configured FX rates for the forecast's and the worklist's
    /// base-currency amounts (None: the data's `fx_rates` table in effect at
    /// `as_of`, else the built-in rates).
    ///
    /// # Errors
    /// [`ServiceError`].
    pub fn load_with(data: &Path, as_of: i32, models: &Path, fx: Option<&FxTable>) -> Result<Service, ServiceError> {
        let store = ModelStore::new(models);
        let (models, manifests) = load_current(&store)?;
        let history = load_history(data, as_of, &InvoiceReadOptions::default(), &FxTable::default())
            .map_err(|e| ServiceError::Data { path: data.display().to_string(), reason: e.to_string() })?;
        let fx = match fx {
            Some(t) => t.clone(),
            None => FxTable::from_data(data, as_of)
                .map_err(|e| ServiceError::Data { path: data.display().to_string(), reason: e.to_string() })?
                .unwrap_or_default(),
        };
        let n = history.customers.len();
        let ids = history.customers.clone();
        let index: HashMap<String, usize> = ids.iter().enumerate().map(|(c, id)| (id.clone(), c)).collect();
        let mut preds: Vec<Vec<InvoicePrediction>> = vec![Vec::new(); n];
        let mut open_at = HashMap::new();
        let mut items: Vec<Vec<OpenItem>> = vec![Vec::new(); n];
        // Scored a range of customers at a time: the feature matrices of all open
        // invoices at once would double the memory the service needs.
        let step = (n / 8).max(20_000);
        for c0 in (0..n).step_by(step) {
            let (lo, hi) = (history.offsets[c0], history.offsets[(c0 + step).min(n)]);
            let keep = move |pos: usize| pos >= lo && pos < hi;
            for p in predict_open_where(&history, as_of, &models, keep)? {
                if let Some(&c) = index.get(&p.customer_id) {
                    open_at.insert(p.invoice_id.clone(), (c as u32, preds[c].len() as u32));
                    preds[c].push(p);
                }
            }
            for (c, it) in open_items_known_where(&history, as_of, &models, keep)?.1 {
                items[c].push(it);
            }
        }
        let closed = models.payment.closed(&history.holidays);
        let data_through = history.known_through(as_of);
        let state = State {
            history: Arc::new(history),
            ids,
            index,
            changed: HashMap::new(),
            preds,
            items,
            open_at,
            applied_seq: 0,
            applied: 0,
            last_applied: None,
            summaries: (0..n).map(|_| std::sync::OnceLock::new()).collect(),
        };
        Ok(Service {
            as_of,
            data_through,
            models,
            manifests,
            state: RwLock::new(state),
            forecasts: Mutex::new(HashMap::new()),
            ranking: Mutex::new(None),
            kpis: Mutex::new(None),
            forecast_block: FORECAST_BLOCK,
            fx,
            closed,
        })
    }

    /// Collections KPIs at the as-of date over every customer's latest ledger (events
    /// applied so far included), the portfolio in the service's base currency; kept
    /// until events change the data or other settings are asked for.
    ///
    /// # Errors
    /// [`ServiceError::Kpi`] for settings out of range.
    pub fn kpis(&self, p: &KpiParams) -> Result<Arc<KpiReport>, ServiceError> {
        // Under the read lock only long enough to take the histories (shared, not
        // copied): events are not held up while the figures are worked out.
        let (base, changed, n, applied) = {
            let st = self.read();
            if let Some((q, applied, r)) = self.kpis.lock().ok().and_then(|c| c.clone()) {
                if q == *p && applied == st.applied {
                    return Ok(r);
                }
            }
            (st.history.clone(), st.changed.clone(), st.ids.len(), st.applied)
        };
        let customers = (0..n).into_par_iter().map(|i| customer_history(&base, &changed, i));
        let report = Arc::new(crate::kpi::kpis_over(customers, self.as_of, &self.fx, p)?);
        if let Ok(mut c) = self.kpis.lock() {
            *c = Some((*p, applied, report.clone()));
        }
        Ok(report)
    }

    /// The input rows the contract rejected when the data was loaded (events are
    /// checked when they are posted, not here).
    pub fn rejects(&self) -> Vec<crate::ingest::RejectedRow> {
        self.read().history.rejects.clone()
    }

    /// How many input rows the contract rejected when the data was loaded.
    pub fn rejected_count(&self) -> usize {
        self.read().history.rejects.len()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Applies events dated on or before the as-of date to the customers they
    /// concern: each customer's ledger takes its events in order, its history is
    /// rebuilt, and its open invoices are rescored. Cached forecasts and the worklist
    /// ranking are dropped. Events dated later are left out (the caller rebuilds at
    /// their date instead, see [`Live::apply`]).
    pub fn apply(&self, events: &[Event]) {
        if events.is_empty() {
            return;
        }
        let fx = FxTable::default();
        let mut by_customer: Vec<(String, Vec<&Event>)> = Vec::new();
        let mut slot: HashMap<&str, usize> = HashMap::new();
        for e in events.iter().filter(|e| e.day() <= self.as_of) {
            let k = *slot.entry(e.customer_id.as_str()).or_insert_with(|| {
                by_customer.push((e.customer_id.clone(), Vec::new()));
                by_customer.len() - 1
            });
            by_customer[k].1.push(e);
        }
        // Rebuild and rescore outside the write lock (this is the only writer).
        let rebuilt: Vec<Rebuilt> = {
            let st = self.read();
            by_customer
                .into_par_iter()
                .filter_map(|(id, evs)| {
                    let mut ledger = match st.index.get(&id) {
                        Some(&c) => match st.changed.get(&c) {
                            Some(h) => h.ledger_of(0),
                            None => st.history.ledger_of(c),
                        },
                        None => Ledger::new(&id, st.history.has_payments),
                    };
                    for e in evs {
                        crate::events::apply(&mut ledger, e, &fx);
                    }
                    let mut h = ledger.history(self.as_of, &st.history.holidays);
                    // What the data's listings tell of the customer is still known only
                    // through their last day; the events tell what they post.
                    h.listing_days.clone_from(&st.history.listing_days);
                    let scored = predict_open(&h, self.as_of, &self.models)
                        .and_then(|p| Ok((p, open_items_known(&h, self.as_of, &self.models)?.1)));
                    match scored {
                        Ok((preds, items)) => Some((id, h, preds, items)),
                        Err(e) => {
                            // Cannot happen with models loaded for these features; keep the
                            // customer's previous state rather than a partial one.
                            tracing::error!(customer = %id, error = %e, "rescoring after events failed");
                            None
                        }
                    }
                })
                .collect()
        };
        let mut st = self.state.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut touched = Vec::with_capacity(rebuilt.len());
        for (id, h, preds, items) in rebuilt {
            let c = match st.index.get(&id) {
                Some(&c) => c,
                None => {
                    let c = st.ids.len();
                    st.ids.push(id.clone());
                    st.index.insert(id, c);
                    st.preds.push(Vec::new());
                    st.items.push(Vec::new());
                    st.summaries.push(std::sync::OnceLock::new());
                    c
                }
            };
            st.summaries[c] = std::sync::OnceLock::new();
            for p in std::mem::take(&mut st.preds[c]) {
                st.open_at.remove(&p.invoice_id);
            }
            for (k, p) in preds.iter().enumerate() {
                st.open_at.insert(p.invoice_id.clone(), (c as u32, k as u32));
            }
            st.preds[c] = preds;
            st.items[c] = items;
            st.changed.insert(c, Arc::new(h));
            touched.push(c);
        }
        st.applied_seq = st.applied_seq.max(events.iter().map(|e| e.seq).max().unwrap_or(0));
        st.applied += events.len() as u64;
        st.last_applied = Some(std::time::SystemTime::now());
        // Caches are marked under the write lock: a reader holding the read lock sees
        // items and marks that agree.
        if let Ok(mut f) = self.forecasts.lock() {
            for c in f.values_mut() {
                c.dirty.extend(touched.iter().map(|c| c / self.forecast_block));
            }
        }
        if let Ok(mut r) = self.ranking.lock() {
            *r = None;
        }
        drop(st);
    }

    /// Last event sequence number applied.
    pub fn applied_seq(&self) -> u64 {
        self.read().applied_seq
    }

    /// Events applied, and when the last one was.
    pub fn event_stats(&self) -> (u64, Option<std::time::SystemTime>) {
        let st = self.read();
        (st.applied, st.last_applied)
    }

    /// What the event writer checks references against: the known customers, the
    /// owners of the open invoices' ids, and of every invoice the replayed log issued
    /// (closed ones included).
    pub fn known_refs(&self, replayed: &[Event]) -> crate::events::log::Known {
        let st = self.read();
        let mut k = crate::events::log::Known {
            customers: st.ids.iter().cloned().collect(),
            invoice_owner: HashMap::with_capacity(st.open_at.len()),
        };
        for (id, &(c, slot)) in &st.open_at {
            k.add_invoice(id, &st.ids[c as usize], st.preds[c as usize][slot as usize].currency);
        }
        for e in replayed {
            if let crate::events::EventBody::Invoice { invoice_id, amount, .. } = &e.body {
                k.add_invoice(invoice_id, &e.customer_id, amount.currency);
            }
        }
        k
    }

    /// Number of open invoices.
    pub fn open_count(&self) -> usize {
        self.read().open_at.len()
    }

    /// Every open-invoice prediction, by customer.
    pub fn predictions(&self) -> Vec<InvoicePrediction> {
        self.read().preds.iter().flatten().cloned().collect()
    }

    /// The as-of date.
    pub fn as_of_date(&self) -> String {
        day(self.as_of)
    }

    /// A customer's view, None when unknown.
    pub fn customer(&self, id: &str) -> Option<CustomerView> {
        let st = self.read();
        let c = *st.index.get(id)?;
        let (h, hc) = st.history_of(c);
        let at = customer_at(h, hc, self.as_of);
        let names = crate::features::customer_feature_names();
        let behaviour =
            names.iter().zip(at.vector.iter()).map(|(n, v)| (n.to_string(), v.is_finite().then_some(*v))).collect();
        let open_items: Vec<InvoicePrediction> = st.preds[c].clone();
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
            payment_runs: at.run.map(crate::domain::PaymentRun::describe),
            anomaly_flags,
            open_items,
            recent_activity: recent_activity(h, hc, 20),
        })
    }

    /// Every open invoice ranked by open amount (base currency) × P(> 30 days late),
    /// computed once and kept until events change it.
    fn ranking(&self) -> Arc<Ranking> {
        if let Some(r) = self.ranking.lock().ok().and_then(|r| r.clone()) {
            return r;
        }
        let fx = &self.fx;
        let st = self.read();
        let mut ranked: Vec<(f64, u32, u32)> = st
            .preds
            .iter()
            .enumerate()
            .flat_map(|(c, ps)| {
                ps.iter()
                    .enumerate()
                    .map(move |(k, p)| (fx.to_base(p.open_minor, p.currency) * p.p_late_30, c as u32, k as u32))
            })
            .collect();
        ranked.par_sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then((a.1, a.2).cmp(&(b.1, b.2))));
        let r = Arc::new(Ranking { order: ranked, today: std::sync::OnceLock::new() });
        if let Ok(mut slot) = self.ranking.lock() {
            *slot = Some(r.clone());
        }
        r
    }

    /// The worklist: open invoices by open amount (base currency) × P(> 30 days late).
    pub fn worklist(&self, q: &WorklistQuery) -> WorklistPage {
        let ranked = self.ranking();
        let st = self.read();
        let collector = |c: u32| -> Option<String> {
            let (h, hc) = st.history_of(c as usize);
            h.master.get(hc)?.collector.clone()
        };
        // Whether each item calls for an action today: worked out for all of them on the
        // first request that asks, and kept with the ranking.
        let today = q.actionable.then(|| {
            let st: &State = &st;
            ranked.today.get_or_init(|| {
                // Customer by customer (each one's invoices and activities read together),
                // then in the ranking's order.
                let flags: Vec<Vec<bool>> = st
                    .preds
                    .par_iter()
                    .enumerate()
                    .map(|(c, ps)| {
                        st.follow_ups(c, ps, self.as_of)
                            .into_iter()
                            .map(|f| f.is_none_or(|f| f.needs_action_today()))
                            .collect()
                    })
                    .collect();
                ranked.order.iter().map(|&(_, c, k)| flags[c as usize][k as usize]).collect()
            })
        });
        let matching = ranked.order.iter().enumerate().filter(|&(pos, &(_, c, k))| {
            let Some(p) = st.preds.get(c as usize).and_then(|v| v.get(k as usize)) else { return false };
            today.is_none_or(|t| t[pos])
                && q.segment.as_ref().is_none_or(|s| p.segment == s)
                && q.currency.as_ref().is_none_or(|x| p.currency.as_str() == x)
                && (q.collector.is_none() || collector(c) == q.collector)
        });
        let mut items = Vec::with_capacity(q.limit);
        let mut total = 0;
        for (rank, (_, &(priority, c, k))) in matching.enumerate() {
            total += 1;
            if rank >= q.cursor && items.len() < q.limit {
                let prediction = st.preds[c as usize][k as usize].clone();
                let follow_up = st.follow_up(c as usize, &prediction, self.as_of);
                items.push(WorkItem {
                    rank: rank + 1,
                    priority: (priority * 100.0).round() / 100.0,
                    collector: collector(c),
                    prediction,
                    follow_up,
                });
            }
        }
        let end = q.cursor + items.len();
        WorklistPage { items, next_cursor: (end < total).then(|| end.to_string()), total }
    }

    /// Anomaly flags at or above `min_severity` with evidence dated on or after `since`.
    pub fn anomalies(&self, since: Option<i32>, min_severity: Severity) -> Vec<AnomalyView> {
        let mut out = Vec::new();
        // Customer-level flags repeat on each open invoice: list them once.
        let mut seen = std::collections::HashSet::new();
        let st = self.read();
        for p in st.preds.iter().flatten() {
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
        let Some(list) = body.get("invoices").and_then(|v| v.as_array()) else {
            return Err(vec![FieldError {
                field: "invoices".into(),
                reason: "should be an array of invoices".into(),
                kind: Refusal::Invalid,
            }]);
        };
        self.predict_invoices(list)
    }

    /// [`Self::predict_posted`] of a body read without building a document (see
    /// [`posted`]).
    ///
    /// # Errors
    /// As [`Self::predict_posted`].
    pub fn predict_body(&self, body: &posted::PostedBody<'_>) -> Result<Vec<InvoicePrediction>, Vec<FieldError>> {
        self.predict_invoices(&body.invoices)
    }

    /// [`Self::predict_body`] for large bodies, in chunks of consecutive invoices read
    /// and scored in parallel: `emit` turns each chunk's predictions into what the
    /// caller keeps (the HTTP layer's reply bytes), on the thread that scored them.
    /// Chunks come back in the order of the invoices. None when an invoice is not an
    /// object (the parsed document's path then names it).
    ///
    /// # Errors
    /// As [`Self::predict_posted`].
    pub fn predict_raw_chunks<T: Send>(
        &self,
        body: &posted::RawBody<'_>,
        emit: impl Fn(Vec<InvoicePrediction>) -> T + Sync,
    ) -> Option<Result<Vec<T>, Vec<FieldError>>> {
        let each = self.chunked(&body.invoices, |st, fx, from, c| {
            match c.iter().map(|r| posted::BorrowedInvoice::read(r)).collect::<Option<Vec<_>>>() {
                Some(list) => self.predict_chunk(st, fx, from, &list).map(|p| Some(emit(p))),
                None => Ok(None),
            }
        });
        let each = match each {
            Ok(each) if each.iter().any(|r| matches!(r, Ok(None))) => return None,
            Ok(each) => each.into_iter().map(|r| r.map(|t| t.expect("every chunk read"))).collect(),
            Err(e) => return Some(Err(e)),
        };
        Some(in_order(each))
    }

    /// Predictions for a list of posted invoices.
    fn predict_invoices<P: PostedInvoice>(&self, list: &[P]) -> Result<Vec<InvoicePrediction>, Vec<FieldError>> {
        if list.len() == 1 {
            // One invoice (another system's request path): no chunk bookkeeping.
            return self.predict_chunk(&self.read(), &FxTable::default(), 0, list);
        }
        let mut chunks = in_order(self.chunked(list, |st, fx, from, c| self.predict_chunk(st, fx, from, c))?)?;
        Ok(if chunks.len() == 1 { chunks.pop().unwrap_or_default() } else { chunks.into_iter().flatten().collect() })
    }

    /// `chunk(state, fx, from, items)` over chunks of consecutive items of a request
    /// (`from` the first one's position), in parallel: a batch forks once, and each
    /// chunk is read, scored and emitted on one thread.
    ///
    /// # Errors
    /// A request of no items or more than [`MAX_BATCH`].
    fn chunked<I: Sync, T: Send>(
        &self,
        list: &[I],
        chunk: impl Fn(&State, &FxTable, usize, &[I]) -> Result<T, Vec<FieldError>> + Sync,
    ) -> Result<Vec<Result<T, Vec<FieldError>>>, Vec<FieldError>> {
        if list.is_empty() || list.len() > MAX_BATCH {
            return Err(vec![FieldError {
                field: "invoices".into(),
                reason: format!("should hold 1 to {MAX_BATCH} invoices, not {}", list.len()),
                kind: Refusal::Invalid,
            }]);
        }
        let fx = FxTable::default();
        let st = self.read();
        // Two chunks per thread at least, of 32 to 128 invoices.
        let size = list.len().div_ceil(2 * rayon::current_num_threads()).clamp(32, 128);
        let run = |(k, c): (usize, &[I])| chunk(&st, &fx, k * size, c);
        Ok(if list.len() <= size { vec![run((0, list))] } else { list.par_chunks(size).enumerate().map(run).collect() })
    }

    /// Predictions for consecutive posted invoices, the first at position `from` of
    /// the request, on the calling thread.
    fn predict_chunk<P: PostedInvoice>(
        &self,
        st: &State,
        fx: &FxTable,
        from: usize,
        list: &[P],
    ) -> Result<Vec<InvoicePrediction>, Vec<FieldError>> {
        let score = |x: ndarray::ArrayView2<'_, f64>, meta, flags| {
            crate::models::predict::score_matrix(x, meta, self.as_of, &self.models, flags, &self.closed).map_err(|e| {
                vec![FieldError { field: "invoices".into(), reason: e.to_string(), kind: Refusal::Invalid }]
            })
        };
        let mut rows: Vec<f64> = Vec::new();
        let mut errors = Vec::new();
        // Open invoices asked for by id, by position in the chunk.
        let mut known = Vec::new();
        let (mut meta, mut flags) = (Vec::with_capacity(list.len()), Vec::with_capacity(list.len()));
        for (i, v) in list.iter().enumerate() {
            match self.posted_one(st, fx, from + i, v, &mut rows) {
                Ok(Posted::Known(p)) => known.push((i, p)),
                Ok(Posted::New { meta: m, flags: f }) => {
                    meta.push(m);
                    flags.push(f);
                }
                Err(e) => errors.extend(e),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let scored = match meta.len() {
            0 => Vec::new(),
            n => {
                let x = ndarray::Array2::from_shape_vec((n, rows.len() / n), rows).expect("rows of equal width");
                score(x.view(), meta, flags)?
            }
        };
        if known.is_empty() {
            return Ok(scored);
        }
        let (mut scored, mut known) = (scored.into_iter(), known.into_iter().peekable());
        Ok((0..list.len())
            .map(|i| match known.next_if(|(k, _)| *k == i) {
                Some((_, p)) => p,
                None => scored.next().expect("one prediction per new invoice"),
            })
            .collect())
    }

    /// One posted invoice, at position `i` of the request: an open invoice by id, or a
    /// new invoice's identity and flags, its model inputs appended to `rows`.
    fn posted_one<P: PostedInvoice>(
        &self,
        st: &State,
        fx: &FxTable,
        i: usize,
        v: &P,
        rows: &mut Vec<f64>,
    ) -> Result<Posted, Vec<FieldError>> {
        use crate::domain::{Currency, Money};
        use crate::features::history::{id_key, Inv, OPEN};
        use crate::ingest::columns::NULL_AMOUNT;
        let bad = |field: String, reason: String| FieldError { field, reason, kind: Refusal::Invalid };
        let mut errors = Vec::new();
        let path = |f: &str| format!("invoices[{i}].{f}");
        let Some(keys) = v.keys() else {
            errors.push(bad(format!("invoices[{i}]"), "should be an object".into()));
            return Err(errors);
        };
        let text = |f: &str| match v.field(f) {
            Field::Str(s) => Some(s),
            _ => None,
        };
        let Some(invoice_id) = text("invoice_id").filter(|s| !s.is_empty()) else {
            errors.push(bad(path("invoice_id"), "is required (a non-empty string)".into()));
            return Err(errors);
        };
        if keys == 1 {
            return match st.open_at.get(invoice_id) {
                Some(&(c, k)) => Ok(Posted::Known(st.preds[c as usize][k as usize].clone())),
                None => Err(vec![FieldError {
                    field: path("invoice_id"),
                    reason: format!("no open invoice '{invoice_id}'; send the invoice's fields to score it as new"),
                    kind: Refusal::NotFound,
                }]),
            };
        }
        let mut field_ok = true;
        let mut need = |f: &str| -> Option<&str> {
            let v = text(f);
            if v.is_none() {
                errors.push(bad(path(f), "is required (a string)".into()));
                field_ok = false;
            }
            v
        };
        let (cust, issue, due, cur) = (need("customer_id"), need("invoice_date"), need("due_date"), need("currency"));
        let date = |f: &str, s: Option<&str>, errors: &mut Vec<FieldError>| -> Option<i32> {
            let s = s?;
            match crate::domain::parse_date_flexible(s) {
                Some(d) => Some(crate::domain::days_from_date(d)),
                None => {
                    errors.push(bad(path(f), format!("should be a date like 2024-06-30, not '{s}'")));
                    None
                }
            }
        };
        let issue_d = date("invoice_date", issue, &mut errors);
        let due_d = date("due_date", due, &mut errors);
        let currency = match cur.map(Currency::parse) {
            Some(Ok(c)) => Some(c),
            Some(Err(e)) => {
                errors.push(bad(path("currency"), e.to_string()));
                None
            }
            None => None,
        };
        let amount = match (v.field("amount"), currency) {
            (Field::Missing, _) => {
                errors.push(bad(path("amount"), "is required (a number or decimal string)".into()));
                None
            }
            (a, Some(c)) => {
                let t = match a {
                    Field::Number(n) => Some(std::borrow::Cow::Owned(n.to_string())),
                    Field::Str(s) => Some(std::borrow::Cow::Borrowed(s)),
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
            (_, None) => None,
        };
        if let (Some(a), Some(b)) = (issue_d, due_d) {
            if b < a {
                errors.push(bad(path("due_date"), "is before invoice_date".into()));
                return Err(errors);
            }
        }
        // Optional short texts: the channel, and the segment and country a counterparty
        // without history starts from.
        let [channel, segment, country] = ["channel", "segment", "country"].map(|name| match v.field(name) {
            Field::Missing | Field::Null => None,
            Field::Str(c) if c.len() <= 256 => Some(c),
            _ => {
                errors.push(bad(path(name), "should be a string of at most 256 bytes".into()));
                None
            }
        });
        let channel = channel.map_or(crate::domain::NO_CHANNEL, crate::domain::channel_code);
        let (Some(cust), Some(issue_d), Some(due_d), Some(m), true) = (cust, issue_d, due_d, amount, field_ok) else {
            return Err(errors);
        };
        let inv = Inv {
            cust: 0,
            invoice_date: issue_d,
            due_date: due_d,
            paid_date: OPEN,
            paid_window: 0,
            amount_base: fx.to_base(m.minor, m.currency),
            amount_minor: m.minor,
            paid_minor: NULL_AMOUNT,
            currency: m.currency,
            channel,
            open_slot: u32::MAX,
            key: id_key(invoice_id),
            chunk: 0,
            row: 0,
        };
        let known = st.index.get(cust).map(|&c| (c, st.summary(c, self.as_of, &self.models)));
        // The customer's distribution (none for a customer without history).
        let emp = self.models.payment.empirical.as_ref().map(|e| {
            let none;
            let dist = match known.as_ref().and_then(|(_, sum)| sum.2.as_ref()) {
                Some(d) => d,
                None => {
                    // As in training: without a country, the invoice's currency groups it.
                    let market = crate::models::empirical::market(country, Some(m.currency.as_str()));
                    none = e.no_history_in(segment, market);
                    &none
                }
            };
            e.predict_invoice(dist, &inv, Some(f64::from(self.as_of - due_d + 1)))
        });
        let run = known.as_ref().and_then(|(_, sum)| sum.0.run);
        let (vector, values, flags) = match known {
            Some((c, sum)) => {
                let values = match crate::features::invoice::new_invoice_values_from(&sum.0, &inv, &st.history.holidays)
                {
                    Some(v) => v,
                    None => {
                        // Issued before the as-of date: its inputs as on the issue date.
                        let (h, hc) = st.history_of(c);
                        crate::features::invoice::new_invoice_values(&customer_at(h, hc, issue_d), &inv)
                    }
                };
                (sum.0.vector, values, sum.1.clone())
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
                    run: None,
                    holidays: st.history.holidays.of(inv.currency),
                };
                (vector, crate::features::invoice::new_invoice_values(&empty, &inv), Vec::new())
            }
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        rows.reserve(vector.len() + values.len());
        rows.extend_from_slice(&vector);
        rows.extend_from_slice(&values);
        let meta = crate::models::predict::RowMeta {
            invoice_id: invoice_id.to_string(),
            customer_id: cust.to_string(),
            currency: m.currency,
            amount_minor: m.minor,
            open_minor: m.minor,
            due: due_d,
            emp,
            run,
        };
        Ok(Posted::New { meta, flags })
    }

    /// The forecast (cached per horizon and granularity; after events only the blocks
    /// of the customers they changed are simulated again).
    ///
    /// # Errors
    /// [`ServiceError::Forecast`] for an invalid horizon.
    pub fn forecast(&self, horizon_days: i32, g: Granularity) -> Result<Arc<Forecast>, ServiceError> {
        let key = (horizon_days, g);
        let cached = |m: &HashMap<(i32, Granularity), CachedForecast>| {
            m.get(&key).map(|c| (c.forecast.clone(), c.partials.clone(), c.dirty.clone()))
        };
        if let Some((f, _, dirty)) = self.forecasts.lock().ok().and_then(|m| cached(&m)) {
            if dirty.is_empty() {
                return Ok(f);
            }
        }
        // Under the read lock (events mark blocks dirty under the write lock): read the
        // cache entry and copy the items of the blocks to simulate (all of them without
        // usable partials); then simulate without holding it.
        let (blocks, currencies, n_invoices, previous, applied) = {
            let st = self.read();
            let previous = self.forecasts.lock().ok().and_then(|m| cached(&m));
            let fb = self.forecast_block;
            let n_blocks = st.items.len().div_ceil(fb).max(1);
            let currencies = crate::forecast::currencies_in(st.items.iter().flatten());
            let n_invoices = st.items.iter().map(Vec::len).sum::<usize>();
            let reuse = previous.as_ref().filter(|(_, p, _)| p.fits(&currencies, n_blocks));
            let blocks: Vec<Option<Vec<OpenItem>>> = (0..n_blocks)
                .map(|k| {
                    let wanted = reuse.is_none_or(|(_, _, dirty)| dirty.contains(&k));
                    let range = (k * fb).min(st.items.len())..((k + 1) * fb).min(st.items.len());
                    wanted.then(|| st.items[range].iter().flatten().copied().collect())
                })
                .collect();
            (blocks, currencies, n_invoices, previous, st.applied)
        };
        let p = ForecastParams { horizon_days, granularity: g, holidays: self.closed.clone(), ..Default::default() }
            .with_copula(self.models.cash_copula.as_ref());
        let prev = previous.as_ref().map(|(_, p, _)| p.as_ref());
        let (f, partials) = crate::forecast::simulate_blocks(
            &blocks,
            &currencies,
            n_invoices,
            prev,
            (self.data_through, self.as_of),
            &p,
            &self.fx,
            self.models.cash_horizon_days,
        )?;
        let f = Arc::new(f);
        // Locks in the order events take them (state, then cache).
        let st = self.read();
        let unchanged = st.applied == applied;
        if let Ok(mut m) = self.forecasts.lock() {
            // Events applied while this ran keep every block they marked dirty.
            let simulated: HashSet<usize> =
                blocks.iter().enumerate().filter(|(_, b)| b.is_some()).map(|(k, _)| k).collect();
            let marked = m.get(&key).map(|c| c.dirty.clone()).unwrap_or_default();
            let still = if unchanged { marked.difference(&simulated).copied().collect() } else { marked };
            m.insert(key, CachedForecast { forecast: f.clone(), partials: Arc::new(partials), dirty: still });
        }
        drop(st);
        Ok(f)
    }
}

/// Chunks' results in order, or the errors of every chunk in order.
fn in_order<T>(each: Vec<Result<T, Vec<FieldError>>>) -> Result<Vec<T>, Vec<FieldError>> {
    if each.iter().any(Result::is_err) {
        return Err(each.into_iter().filter_map(Result::err).flatten().collect());
    }
    Ok(each.into_iter().filter_map(Result::ok).collect())
}

/// A posted invoice after checking: an open invoice's prediction, or a new invoice's
/// identity and flags (its model inputs appended to the chunk's rows).
enum Posted {
    Known(InvoicePrediction),
    New { meta: crate::models::predict::RowMeta, flags: Vec<Flag> },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::parse_event;
    use crate::fixtures::{generated_dir, trained_models};

    /// A forecast updated block by block after events equals one computed from scratch
    /// on a service that took the same events, and differs from the one before them.
    #[test]
    fn forecasts_updated_after_events_equal_fresh_ones() {
        let dir = generated_dir(120, 4000, "2023-01-01", "2024-06-30", 11);
        let (d, models) = trained_models(dir.path(), "2024-06-30");
        let load = || {
            let mut s = Service::load(dir.path(), d, models.path()).unwrap();
            s.forecast_block = 8;
            s
        };
        // Events: every open invoice of two customers paid, and a new invoice.
        let st_preds = load().predictions();
        let mut events = Vec::new();
        let payers: Vec<String> = {
            let mut c: Vec<String> = st_preds.iter().map(|p| p.customer_id.clone()).collect();
            c.dedup();
            c.into_iter().take(2).collect()
        };
        for (k, pr) in st_preds.iter().filter(|p| payers.contains(&p.customer_id)).enumerate() {
            let v = serde_json::json!({"event_id": format!("p{k}"), "type": "payment", "customer_id": pr.customer_id,
                "invoice_id": pr.invoice_id, "payment_date": "2024-06-30",
                "amount": crate::domain::Money { minor: pr.open_minor, currency: pr.currency }.to_major_string(),
                "currency": pr.currency.as_str()});
            events.push(parse_event(&v, "e", d).unwrap());
        }
        let v = serde_json::json!({"event_id": "n1", "type": "invoice", "invoice_id": "NEW-1", "customer_id": payers[0],
            "invoice_date": "2024-06-29", "due_date": "2024-07-29", "amount": "98765.43", "currency": "USD"});
        events.push(parse_event(&v, "e", d).unwrap());
        for (k, e) in events.iter_mut().enumerate() {
            e.seq = k as u64 + 1;
        }

        let live = load();
        let before = live.forecast(91, Granularity::Week).unwrap();
        live.apply(&events);
        let updated = live.forecast(91, Granularity::Week).unwrap();
        let fresh = load();
        fresh.apply(&events);
        let expected = fresh.forecast(91, Granularity::Week).unwrap();
        assert_eq!(updated, expected);
        assert_ne!(updated, before);
        assert!(live.predictions().iter().all(|p| !payers.contains(&p.customer_id) || p.invoice_id == "NEW-1"));
    }

    /// At an as-of date between two open-items listings the service reads the data as
    /// `predict` and `forecast` do: the invoices the last listing shows open count from
    /// its day, and the forecast reports what it expects paid since apart. A payment
    /// posted since the listing is known: its invoice leaves the open items, the
    /// customer's other listed invoices still count from the listing's day, and the
    /// updated forecast equals that of a fresh service that took the same event.
    #[test]
    fn between_listings_the_service_counts_from_the_last_listing() {
        let (dst, l, d) = crate::fixtures::weekly_listings_between();
        let as_of = date_from_days(d).unwrap().to_string();
        let (_, models) = trained_models(dst.path(), &as_of);
        let load = || {
            let mut s = Service::load(dst.path(), d, models.path()).unwrap();
            s.forecast_block = 8;
            s
        };
        let live = load();
        assert_eq!(live.data_through, l);
        // What `predict` and `forecast` give.
        let (h, _) = crate::fixtures::history_at(dst.path(), &as_of);
        let set = load_current(&ModelStore::new(models.path())).unwrap().0;
        let by_id = |mut v: Vec<InvoicePrediction>| {
            v.sort_by(|a, b| a.invoice_id.cmp(&b.invoice_id));
            v
        };
        let preds = by_id(live.predictions());
        assert_eq!(preds, by_id(predict_open(&h, d, &set).unwrap()));
        let p = ForecastParams {
            horizon_days: 91,
            granularity: Granularity::Week,
            holidays: set.payment.closed(&h.holidays),
            ..Default::default()
        }
        .with_copula(set.cash_copula.as_ref());
        let (through, items) = open_items_known(&h, d, &set).unwrap();
        let expected =
            crate::forecast::simulate_since(&items, through, d, &p, &live.fx, set.cash_horizon_days).unwrap();
        let before = live.forecast(91, Granularity::Week).unwrap();
        assert_eq!(*before, expected);
        assert!(before.since_data_expected_base_minor > 0, "{before:?}");
        // A payment at the date on one invoice of a customer with another listed open
        // whose p10 falls by the date (a prediction only the listing's day gives).
        let early = |p: &InvoicePrediction| p.p10_paid_date.0 <= d;
        let (kept, paid) = preds
            .iter()
            .filter(|a| early(a))
            .find_map(|a| {
                preds.iter().find(|b| b.customer_id == a.customer_id && b.invoice_id != a.invoice_id).map(|b| (a, b))
            })
            .expect("a customer with two open invoices, one predicted by the date");
        let v = serde_json::json!({"event_id": "p1", "type": "payment", "customer_id": paid.customer_id,
            "invoice_id": paid.invoice_id, "payment_date": as_of,
            "amount": crate::domain::Money { minor: paid.open_minor, currency: paid.currency }.to_major_string(),
            "currency": paid.currency.as_str()});
        let mut e = parse_event(&v, "e", d).unwrap();
        e.seq = 1;
        live.apply(std::slice::from_ref(&e));
        let after = live.predictions();
        assert!(after.iter().all(|p| p.invoice_id != paid.invoice_id));
        let now = after.iter().find(|p| p.invoice_id == kept.invoice_id).expect("still open");
        let key = |p: &InvoicePrediction| (p.p10_paid_date, p.predicted_paid_date, p.p90_paid_date, p.p_late);
        assert_eq!(key(now), key(kept), "rescored from the listing's day");
        let updated = live.forecast(91, Granularity::Week).unwrap();
        let fresh = load();
        fresh.apply(&[e]);
        assert_eq!(updated, fresh.forecast(91, Granularity::Week).unwrap());
        assert_eq!(updated.data_through, before.data_through);
        assert!(updated.n_invoices + 1 == before.n_invoices, "{} then {}", updated.n_invoices, before.n_invoices);
    }

    /// On a ledger closed on holidays, the service's predictions (loaded, and rescored
    /// after an event) and its daily forecast keep off them.
    #[test]
    fn the_service_keeps_dates_and_daily_cash_off_holidays() {
        let dir = crate::fixtures::generated_dir_with(60, 3000, "2023-01-01", "2024-12-13", 5, |p| {
            crate::generate::GenerateParams { holidays: true, ..p }
        });
        let (d, models) = trained_models(dir.path(), "2024-12-13");
        let s = Service::load(dir.path(), d, models.path()).unwrap();
        let closed = [12, 13, 19].map(|k| d + k); // 25 and 26 December, 1 January
        let off = |preds: &[InvoicePrediction]| {
            let hol = &s.read().history.holidays;
            preds.iter().all(|p| {
                [p.p10_paid_date.0, p.predicted_paid_date.0, p.p90_paid_date.0].iter().all(|&x| hol.is_business_day(x))
            })
        };
        let preds = s.predictions();
        assert!(off(&preds));
        let across = preds.iter().filter(|p| p.p10_paid_date.0 < closed[0] && closed[2] < p.p90_paid_date.0).count();
        assert!(across >= 10, "{across} open invoices with the holidays inside p10-p90");
        let f = s.forecast(28, Granularity::Day).unwrap();
        for day in closed {
            assert_eq!(f.base[(day - d - 1) as usize].expected_minor, 0, "day {day}");
        }
        assert!(f.base.iter().filter(|b| b.expected_minor > 0).count() >= 15);
        // A new invoice for a known customer: its customer is rescored on the ledger
        // built from the events, with the same holidays.
        let who = preds[0].customer_id.clone();
        let v = serde_json::json!({"event_id": "n1", "type": "invoice", "invoice_id": "NEW-1", "customer_id": who,
            "invoice_date": "2024-12-13", "due_date": "2024-12-24", "amount": "1234.56", "currency": "EUR"});
        let mut e = parse_event(&v, "e", d).unwrap();
        e.seq = 1;
        s.apply(&[e]);
        let after = s.predictions();
        assert!(after.iter().any(|p| p.invoice_id == "NEW-1"));
        assert!(off(&after));
    }

    /// With an `fx_rates` table in the data, the forecast's base view and the worklist
    /// convert with it; model inputs (and so the predictions) do not change.
    #[test]
    fn an_fx_rates_table_sets_the_forecasts_base_currency() {
        use arrow_array::{ArrayRef, Float64Array, RecordBatch, StringArray};
        use arrow_schema::{DataType, Field, Schema};
        let dir = generated_dir(60, 2000, "2023-01-01", "2024-06-30", 5);
        let (d, models) = trained_models(dir.path(), "2024-06-30");
        let usd = Service::load(dir.path(), d, models.path()).unwrap();
        let f_usd = usd.forecast(28, Granularity::Week).unwrap();
        assert_eq!(f_usd.base_currency, "USD");
        // The built-in rates restated against EUR.
        let table = FxTable::default();
        let eur_per_usd = table.per_base[&crate::domain::Currency::parse("EUR").unwrap()];
        let (codes, rates): (Vec<&str>, Vec<f64>) = std::iter::once(("USD", 1.0 / eur_per_usd))
            .chain(table.per_base.iter().map(|(c, r)| (c.as_str(), r / eur_per_usd)))
            .unzip();
        let schema = std::sync::Arc::new(Schema::new(vec![
            Field::new("currency", DataType::Utf8, false),
            Field::new("base", DataType::Utf8, false),
            Field::new("rate", DataType::Float64, false),
        ]));
        let cols: Vec<ArrayRef> = vec![
            std::sync::Arc::new(StringArray::from(codes.clone())),
            std::sync::Arc::new(StringArray::from(vec!["EUR"; codes.len()])),
            std::sync::Arc::new(Float64Array::from(rates)),
        ];
        let batch = RecordBatch::try_new(schema.clone(), cols).unwrap();
        let file = std::fs::File::create(dir.path().join("fx_rates.parquet")).unwrap();
        let mut w = parquet::arrow::ArrowWriter::try_new(file, schema, None).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        let eur = Service::load(dir.path(), d, models.path()).unwrap();
        let f_eur = eur.forecast(28, Granularity::Week).unwrap();
        assert_eq!(f_eur.base_currency, "EUR");
        assert_eq!(f_eur.currencies, f_usd.currencies, "per-currency figures do not depend on the rates");
        let total = |f: &Forecast| f.base.iter().map(|b| b.expected_minor as f64).sum::<f64>();
        let ratio = total(&f_eur) / total(&f_usd);
        assert!((ratio - eur_per_usd).abs() < 1e-3, "{ratio}");
        assert_eq!(eur.predictions(), usd.predictions());
        // Configured rates take precedence over the table.
        let configured = Service::load_with(dir.path(), d, models.path(), Some(&FxTable::default())).unwrap();
        assert_eq!(*configured.forecast(28, Granularity::Week).unwrap(), *f_usd);
    }
}
