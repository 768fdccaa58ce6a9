//! Training every model kind at an as-of date from what was known then, and the
//! loaded set of models that `predict`, `forecast` and the API use.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::anomaly::{AnomalyModel, AnomalyParams, AnomalyParamsError};
use super::artifact::{manifest, ArtifactError, Kind, Manifest, ModelStore};
use super::backtest::{learn_from_newest_weeks, run_backtest, BacktestParams, BacktestReport, CashForecaster};
use super::copula::{fit_remaining_time, Copula, LevelMap};
use super::dataset::{training_rows, SnapshotPlan};
use super::fitting::{fit_payment, fit_risk};
use super::gbdt::{Gbdt, GbdtError};
use super::payment::{PaymentDateModel, PaymentDateParams};
use super::risk::{RiskModel, RiskParams};
use super::segments::{SegmentError, SegmentModel, SegmentParams};
use crate::domain::date_from_days;
use crate::features::customer_at;
use crate::features::history::History;

/// Days a "late by more than" risk label looks beyond the due date.
pub const RISK_THRESHOLDS: [i32; 3] = [0, 30, 90];

/// Settings of every model kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainParams {
    /// Payment-date quantile models.
    pub payment: PaymentDateParams,
    /// Risk classifiers.
    pub risk: RiskParams,
    /// Remaining-time (cash) model; same shape as the payment-date model.
    pub cash: PaymentDateParams,
    /// Segments.
    pub segments: SegmentParams,
    /// Anomalies.
    pub anomaly: AnomalyParams,
    /// Cash model horizon in days (remaining time is capped one day beyond it).
    pub cash_horizon_days: i32,
    /// The cash model's training snapshots.
    pub cash_snapshots: SnapshotPlan,
    /// Validation: days before the as-of date where the validation models are cut.
    pub validation_days: i32,
    /// Most training rows of the payment-date and risk models: a ledger with more
    /// invoices issued by the as-of date trains on a seeded sample of about this many
    /// over its whole history ([`super::dataset::training_rows`]); 0 reads every one
    /// (settings saved before this one read as 0, as they were fitted).
    #[serde(default)]
    pub max_training_rows: usize,
}

impl Default for TrainParams {
    fn default() -> Self {
        TrainParams {
            payment: PaymentDateParams::default(),
            risk: RiskParams::default(),
            cash: PaymentDateParams::cash_default(),
            segments: SegmentParams::default(),
            anomaly: AnomalyParams::default(),
            cash_horizon_days: 91,
            cash_snapshots: SnapshotPlan::default(),
            validation_days: 91,
            max_training_rows: 2_000_000,
        }
    }
}

impl TrainParams {
    /// One seed for every model.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.payment.seed = seed;
        self.risk.seed = seed;
        self.cash.seed = seed;
        self.segments.seed = seed;
        self.anomaly.seed = seed;
        self
    }
}

/// Why a settings file could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum ParamsError {
    /// Not TOML.
    #[error("not valid TOML: {0}")]
    Syntax(String),
    /// A key that no setting has.
    #[error("`{0}` is not a setting (see `arsight train --help` for the settings file)")]
    Unknown(String),
    /// A value of the wrong type.
    #[error("`{path}` should be {expected}, not {found}")]
    Type {
        /// Dotted path of the setting.
        path: String,
        /// Type of the default.
        expected: &'static str,
        /// Type given.
        found: &'static str,
    },
    /// A value outside its range.
    #[error("`{path}`: {reason}")]
    Invalid {
        /// Dotted path of the setting (section).
        path: String,
        /// The rule broken.
        reason: String,
    },
}

/// Lays `over` onto `base` key by key; every key of `over` must exist in `base`
/// with a value of the same type (an integer where a float is expected is taken).
fn overlay(base: &mut toml::Table, over: toml::Table, prefix: &str) -> Result<(), ParamsError> {
    for (k, v) in over {
        let path = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
        let Some(slot) = base.get_mut(&k) else {
            return Err(ParamsError::Unknown(path));
        };
        match (slot, v) {
            (toml::Value::Table(b), toml::Value::Table(o)) => overlay(b, o, &path)?,
            (slot @ toml::Value::Float(_), toml::Value::Integer(i)) => *slot = toml::Value::Float(i as f64),
            (slot, v) if slot.same_type(&v) => *slot = v,
            (slot, v) => {
                return Err(ParamsError::Type { path, expected: slot.type_str(), found: v.type_str() });
            }
        }
    }
    Ok(())
}

impl TrainParams {
    /// These settings with those of a TOML text laid over them: top-level keys
    /// (`cash_horizon_days`, `validation_days`) and sections `payment`, `risk`, `cash`,
    /// `segments`, `anomaly`, `cash_snapshots`, whose keys are named as in the
    /// manifests' hyperparameters; keys not given keep their value.
    ///
    /// # Errors
    /// [`ParamsError`] naming the key: bad TOML, an unknown key, a wrong type, or a
    /// value out of range.
    pub fn with_overrides(self, text: &str) -> Result<Self, ParamsError> {
        let over: toml::Table = text.parse().map_err(|e: toml::de::Error| ParamsError::Syntax(e.to_string()))?;
        let mut base = toml::Table::try_from(&self).map_err(|e| ParamsError::Syntax(e.to_string()))?;
        overlay(&mut base, over, "")?;
        let p: TrainParams =
            toml::Value::Table(base).try_into().map_err(|e: toml::de::Error| ParamsError::Syntax(e.to_string()))?;
        p.check()?;
        Ok(p)
    }

    /// Checks every model's settings.
    ///
    /// # Errors
    /// [`ParamsError::Invalid`] naming the section.
    pub fn check(&self) -> Result<(), ParamsError> {
        let bad = |path: &str, reason: String| ParamsError::Invalid { path: path.to_string(), reason };
        for (name, q) in [("payment", &self.payment), ("cash", &self.cash)] {
            q.check().map_err(|e| bad(name, e.to_string()))?;
        }
        self.risk.check().map_err(|e| bad("risk", e.to_string()))?;
        self.segments.check().map_err(|e| bad("segments", e.to_string()))?;
        self.anomaly.check().map_err(|e| bad("anomaly", e.to_string()))?;
        if self.cash_horizon_days < 7 {
            return Err(bad("cash_horizon_days", format!("should be at least 7, but is {}", self.cash_horizon_days)));
        }
        if self.validation_days < 7 {
            return Err(bad("validation_days", format!("should be at least 7, but is {}", self.validation_days)));
        }
        let s = self.cash_snapshots;
        if s.step < 1 || s.max_snapshots == 0 || s.max_rows == 0 {
            return Err(bad("cash_snapshots", "step, max_snapshots and max_rows should be at least 1".to_string()));
        }
        Ok(())
    }
}

/// Training failures.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// Too little history to learn from.
    #[error("only {found} invoices settled by the as-of date; at least {needed} are needed to train")]
    TooFewRows {
        /// Settled invoices found.
        found: usize,
        /// Needed.
        needed: usize,
    },
    /// A tree model failed.
    #[error(transparent)]
    Gbdt(#[from] GbdtError),
    /// Segments failed.
    #[error(transparent)]
    Segments(#[from] SegmentError),
    /// Anomaly parameters invalid.
    #[error(transparent)]
    Anomaly(#[from] AnomalyParamsError),
    /// Saving or loading failed.
    #[error(transparent)]
    Artifact(#[from] ArtifactError),
}

/// The three calibrated risk classifiers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RiskSet {
    /// P(paid after the due date).
    pub late: RiskModel,
    /// P(paid more than 30 days late).
    pub late_30: RiskModel,
    /// P(still unpaid 90 days past due).
    pub unpaid_90: RiskModel,
}

/// Every model, as used for scoring.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelSet {
    /// Days-late quantiles from issue-date inputs.
    pub payment: PaymentDateModel,
    /// Risk classifiers.
    pub risk: RiskSet,
    /// Remaining-days quantiles from today's inputs (None with too few snapshots).
    pub cash: Option<PaymentDateModel>,
    /// Cash model horizon (remaining time above it means "beyond the horizon"): the
    /// training setting, on open-items listings plus
    /// [`crate::features::history::History::listing_reach`].
    pub cash_horizon_days: i32,
    /// P(paid within the cash model's horizon) from today's inputs, which sets how much
    /// of each open invoice's distribution lies within it (see
    /// [`super::copula::CashDist`]; None: the quantiles alone).
    #[serde(default)]
    pub cash_within: Option<Gbdt>,
    /// Recalibration of the cash model's distributions within the horizon (see
    /// [`super::copula::LevelMap`]; None: read as they are).
    #[serde(default)]
    pub cash_levels: Option<LevelMap>,
    /// P(paid within so many days) from today's inputs, which reshapes the first days of
    /// each open invoice's distribution (see [`super::copula::toward_early`]; empty:
    /// the quantiles alone).
    #[serde(default)]
    pub cash_early: Vec<(i32, Gbdt)>,
    /// Timing correlations for the cash forecast's draws, learned with the cash model
    /// (None: too little history; the forecast's defaults apply).
    #[serde(default)]
    pub cash_copula: Option<Copula>,
    /// Segments.
    pub segments: SegmentModel,
    /// Anomalies.
    pub anomaly: AnomalyModel,
}

/// Trained models with the facts their manifests record.
#[derive(Debug, Clone)]
pub struct Trained {
    /// The models.
    pub models: ModelSet,
    /// As-of day.
    pub as_of: i32,
    /// First and last issue day of the training rows.
    pub window: (i32, i32),
    /// Rows per kind.
    pub rows: BTreeMap<Kind, usize>,
    /// Time-later validation (a backtest step cut `validation_days` before as-of),
    /// None when the history is too short.
    pub validation: Option<BacktestReport>,
}

/// Trains every kind at `d` on a history (loaded with as-of `d` or later; nothing
/// after `d` is used).
///
/// # Errors
/// [`TrainError`].
pub fn train_all(h: &History, d: i32, p: &TrainParams) -> Result<Trained, TrainError> {
    train_all_with(h, d, p, None)
}

/// [`train_all`], and with `forecast` (the cash forecast, supplied by the layer that
/// owns it) the spread of the forecast's weekly totals and the factors of its weeks,
/// learned from how it missed on the newest weeks ([`learn_from_newest_weeks`]; without,
/// none).
///
/// # Errors
/// [`TrainError`].
pub fn train_all_with(
    h: &History,
    d: i32,
    p: &TrainParams,
    forecast: Option<CashForecaster<'_>>,
) -> Result<Trained, TrainError> {
    let clock = std::time::Instant::now();
    let lap = |what: &str| tracing::info!(seconds = clock.elapsed().as_secs_f64(), "train: {what}");
    let train = training_rows(h, d, p.max_training_rows);
    lap("training rows");
    // The payment-date and risk models, the cash model and the validation step read
    // the history and nothing of each other: with more than one thread they are fitted
    // side by side (each fit's result does not depend on the thread count).
    let payment_and_risk = || -> Result<_, TrainError> {
        let Some((payment, n_pay)) = fit_payment(h, &train, d, &p.payment, 30)? else {
            let settled = train.late_days().iter().filter(|v| !v.is_nan()).count();
            return Err(TrainError::TooFewRows { found: settled, needed: 30 });
        };
        lap("payment-date model");
        let mut risks = Vec::new();
        let mut n_risk = 0;
        for days in RISK_THRESHOLDS {
            let (m, n) = fit_risk(h, &train, d, days, &p.risk, &p.payment)?;
            if days == 0 {
                n_risk = n;
            }
            risks.push(m);
        }
        lap("risk models");
        Ok((payment, n_pay, risks, n_risk))
    };
    // The cash model from the day through which the data tell settlements (on
    // open-items listings the last listing's), looking as much further ahead as a
    // forecast between listings needs.
    let (through, cash_days) = (h.known_through(d), p.cash_horizon_days + h.listing_reach());
    let cash = || {
        let fit = fit_remaining_time(h, through, cash_days, p.cash_snapshots, &p.cash);
        lap("cash model and timing correlations");
        fit
    };
    let validation = || {
        let v = validate(h, d, p);
        lap("validation");
        v
    };
    let ((payment_and_risk, fit), validation) = rayon::join(|| rayon::join(payment_and_risk, cash), validation);
    let (payment, n_pay, mut risks, n_risk) = payment_and_risk?;
    let mut fit = fit?;
    let validation = validation?;
    if let Some(fc) = forecast {
        let closed = payment.closed(&h.holidays);
        learn_from_newest_weeks(h, through, &mut fit, cash_days, p.cash_snapshots, &payment, &closed, fc)?;
        lap("weekly spread and bias of the cash forecast");
    }

    let mut rows = BTreeMap::new();
    rows.insert(Kind::PaymentDate, n_pay);
    rows.insert(Kind::Risk, n_risk);
    let unpaid_90 = risks.pop().expect("three");
    let late_30 = risks.pop().expect("three");
    let late = risks.pop().expect("three");
    rows.insert(Kind::Cash, fit.rows);

    let vectors: Vec<[f64; 43]> = (0..h.customers.len())
        .filter(|&c| h.invoices_of(c).first().is_some_and(|r| r.invoice_date <= d))
        .map(|c| customer_at(h, c, d).vector)
        .collect();
    let refs: Vec<&[f64]> = vectors.iter().map(|v| &v[..]).collect();
    let segments = p.segments.fit(&refs)?;
    let anomaly = p.anomaly.fit(&refs)?;
    rows.insert(Kind::Segments, refs.len());
    rows.insert(Kind::Anomaly, refs.len());
    lap("segments and anomaly");

    let first = train.invoice_date.iter().copied().min().unwrap_or(d);
    Ok(Trained {
        models: ModelSet {
            payment,
            risk: RiskSet { late, late_30, unpaid_90 },
            cash: fit.model,
            cash_horizon_days: cash_days,
            cash_within: fit.within,
            cash_levels: fit.levels,
            cash_early: fit.early,
            cash_copula: fit.copula,
            segments,
            anomaly,
        },
        as_of: d,
        window: (first, d),
        rows,
        validation,
    })
}

/// One backtest step at `d − validation_days`: models fitted on what was known then,
/// scored on invoices issued in the 28 days before it, with the outcomes the history
/// knows (load it with as-of `d`, as `arsight train` does, so they are those known at `d`).
fn validate(h: &History, d: i32, p: &TrainParams) -> Result<Option<BacktestReport>, TrainError> {
    let c = d - p.validation_days;
    let enough = h.invoices.iter().filter(|r| r.paid_date <= c).count() >= 30;
    if !enough {
        return Ok(None);
    }
    let bp = BacktestParams {
        from: Some(c),
        to: Some(c),
        every_days: 28,
        horizon_weeks: (p.validation_days / 7).max(1),
        models: p.clone(),
        keep_rows: false,
    };
    let r = run_backtest(h, &bp)?;
    Ok((r.n_scored > 0).then_some(r))
}

fn day(d: i32) -> String {
    date_from_days(d).map(|x| x.to_string()).unwrap_or_default()
}

/// Writes every kind as a new version and points `CURRENT` at it. Returns the
/// versions by kind.
///
/// # Errors
/// [`ArtifactError`].
pub fn save_all(
    store: &ModelStore,
    t: &Trained,
    p: &TrainParams,
    fingerprint: &str,
) -> Result<BTreeMap<Kind, String>, ArtifactError> {
    let window = [day(t.window.0), day(t.window.1)];
    let as_of = day(t.as_of);
    let metric = |i: usize| -> serde_json::Value {
        match &t.validation {
            Some(r) => serde_json::json!({
                "protocol": "one backtest step cut validation_days before as_of; invoices issued in the 28 days before the cut; outcomes as known at as_of",
                "as_of": r.as_of_dates,
                "n_scored": r.n_scored,
                "model": r.methods.first(),
                "baselines": r.methods.get(1..).unwrap_or(&[]),
                "focus": i,
            }),
            None => serde_json::Value::Null,
        }
    };
    let mut out = BTreeMap::new();
    let mk = |kind: Kind, hyper: serde_json::Value, seed: u64, validation: serde_json::Value| -> Manifest {
        let mut m = manifest(kind, &as_of, window.clone(), t.rows.get(&kind).copied().unwrap_or(0), fingerprint);
        m.hyperparameters = hyper;
        m.seed = seed;
        m.validation = validation;
        m
    };
    let m = &t.models;
    // The payment-date and risk models are fitted on at most `max_training_rows` rows
    // (a sample beyond it): a setting of their fit, recorded with theirs.
    let with_rows = |mut v: serde_json::Value| {
        if let Some(o) = v.as_object_mut() {
            o.insert("max_training_rows".into(), serde_json::json!(p.max_training_rows));
        }
        v
    };
    let hyper = with_rows(serde_json::json!(p.payment));
    let v = store.save(mk(Kind::PaymentDate, hyper, p.payment.seed, metric(0)), &m.payment)?;
    out.insert(Kind::PaymentDate, v);
    let v = store.save(mk(Kind::Risk, with_rows(serde_json::json!(p.risk)), p.risk.seed, metric(1)), &m.risk)?;
    out.insert(Kind::Risk, v);
    let cash = serde_json::json!({"model": p.cash, "horizon_days": p.cash_horizon_days, "snapshots": p.cash_snapshots});
    // How the model's own distributions did on the newest weeks, out of sample (the
    // recalibration's map): the share of the open invoices' amount paid by levels 0.1, 0.5, 0.9.
    let mut cash_validation = metric(2);
    if let (Some(l), Some(obj)) = (&m.cash_levels, cash_validation.as_object_mut()) {
        let shares = |l: &LevelMap| {
            let at = |p: f64| (l.apply(p) * 1e4).round() / 1e4;
            serde_json::json!({"rows": l.rows, "paid_by_level": {"0.1": at(0.1), "0.5": at(0.5), "0.9": at(0.9)}})
        };
        let mut newest = shares(l);
        newest["past_due"] = shares(l.for_row(true));
        obj.insert("newest_weeks".into(), newest);
    }
    // How far the forecast's weekly totals strayed there beyond its draws.
    if let (Some(c), Some(obj)) = (&m.cash_copula, cash_validation.as_object_mut()) {
        obj.insert("week_spread".into(), serde_json::json!((c.week_spread * 1e4).round() / 1e4));
        // And what each week's expectation is multiplied by for it.
        let bias: Vec<f64> = c.week_bias.iter().map(|b| (b * 1e4).round() / 1e4).collect();
        obj.insert("week_bias".into(), serde_json::json!(bias));
    }
    let v = store.save(
        mk(Kind::Cash, cash, p.cash.seed, cash_validation),
        &(&m.cash, m.cash_horizon_days, &m.cash_copula, &m.cash_within, &m.cash_levels, &m.cash_early),
    )?;
    out.insert(Kind::Cash, v);
    let v = store.save(
        mk(
            Kind::Segments,
            serde_json::json!(p.segments),
            p.segments.seed,
            serde_json::json!({"sizes": m.segments.sizes, "names": m.segments.names}),
        ),
        &m.segments,
    )?;
    out.insert(Kind::Segments, v);
    let v = store.save(
        mk(
            Kind::Anomaly,
            serde_json::json!(p.anomaly),
            p.anomaly.seed,
            serde_json::json!({"outlier_threshold": m.anomaly.threshold}),
        ),
        &m.anomaly,
    )?;
    out.insert(Kind::Anomaly, v);
    for (k, v) in &out {
        store.activate(*k, v)?;
    }
    Ok(out)
}

/// The `CURRENT` version of every kind.
///
/// # Errors
/// [`ArtifactError`] naming the kind and file.
pub fn load_current(store: &ModelStore) -> Result<(ModelSet, BTreeMap<Kind, Manifest>), ArtifactError> {
    let mut manifests = BTreeMap::new();
    let (m, payment) = store.load::<PaymentDateModel>(Kind::PaymentDate, None)?;
    manifests.insert(Kind::PaymentDate, m);
    let (m, risk) = store.load::<RiskSet>(Kind::Risk, None)?;
    manifests.insert(Kind::Risk, m);
    let (m, cash) = store.load::<CashPayload>(Kind::Cash, None)?;
    let (cash, cash_horizon_days, cash_copula, cash_within, cash_levels, cash_early) = match cash {
        CashPayload::WithEarly(m, h, c, w, l, e) => (m, h, c, w.map(|w| *w), l, e),
        CashPayload::WithLevels(m, h, c, w, l) => (m, h, c, w.map(|w| *w), l, Vec::new()),
        CashPayload::WithWithin(m, h, c, w) => (m, h, c, w.map(|w| *w), None, Vec::new()),
        CashPayload::WithCopula(m, h, c) => (m, h, c, None, None, Vec::new()),
        CashPayload::Plain(m, h) => (m, h, None, None, None, Vec::new()),
    };
    manifests.insert(Kind::Cash, m);
    let (m, segments) = store.load::<SegmentModel>(Kind::Segments, None)?;
    manifests.insert(Kind::Segments, m);
    let (m, anomaly) = store.load::<AnomalyModel>(Kind::Anomaly, None)?;
    manifests.insert(Kind::Anomaly, m);
    Ok((
        ModelSet {
            payment,
            risk,
            cash,
            cash_horizon_days,
            cash_within,
            cash_levels,
            cash_early,
            cash_copula,
            segments,
            anomaly,
        },
        manifests,
    ))
}

/// The cash kind's payload: the model, its horizon, its timing correlations, its
/// within-horizon classifier, its recalibration and its early-payment classifiers
/// (cash models saved before the early classifiers have the first five, before the
/// recalibration the first four, before the within-horizon classifier the first
/// three, before the correlations the first two).
#[derive(Deserialize)]
#[serde(untagged)]
enum CashPayload {
    WithEarly(Option<PaymentDateModel>, i32, Option<Copula>, Option<Box<Gbdt>>, Option<LevelMap>, Vec<(i32, Gbdt)>),
    WithLevels(Option<PaymentDateModel>, i32, Option<Copula>, Option<Box<Gbdt>>, Option<LevelMap>),
    WithWithin(Option<PaymentDateModel>, i32, Option<Copula>, Option<Box<Gbdt>>),
    WithCopula(Option<PaymentDateModel>, i32, Option<Copula>),
    Plain(Option<PaymentDateModel>, i32),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::days_from_date;
    use crate::features::{load_history, FxTable};
    use crate::fixtures::generated_dir;
    use crate::ingest::InvoiceReadOptions;
    use crate::models::predict::{predict_open, InvoicePrediction};

    use crate::fixtures::quick_train_params as quick;

    #[test]
    fn a_settings_file_overrides_only_what_it_names() {
        let p = TrainParams::default()
            .with_overrides(
                "validation_days = 63\nmax_training_rows = 0\n[payment]\nn_trees = 120\nlearning_rate = 1\n[cash_snapshots]\nstep = 14\nrecalibrate = false\nfrom_due = false\nmin_snapshots = 0\nweek_bias = false\n",
            )
            .unwrap();
        let d = TrainParams::default();
        assert_eq!(p.payment.n_trees, 120);
        assert!((p.payment.learning_rate - 1.0).abs() < 1e-12, "an integer is taken where a float is expected");
        assert_eq!(p.cash_snapshots.step, 14);
        assert!(d.cash_snapshots.recalibrate && !p.cash_snapshots.recalibrate);
        assert!(d.cash_snapshots.from_due && !p.cash_snapshots.from_due);
        assert!(d.cash_snapshots.week_bias && !p.cash_snapshots.week_bias);
        let e = TrainParams::default().with_overrides("[cash_snapshots]\nrecalibrate = 1\n").unwrap_err().to_string();
        assert!(e.contains("`cash_snapshots.recalibrate` should be boolean"), "{e}");
        assert_eq!(p.validation_days, 63);
        assert_eq!((d.max_training_rows, p.max_training_rows), (2_000_000, 0));
        assert_eq!((d.cash_snapshots.min_snapshots, p.cash_snapshots.min_snapshots), (26, 0));
        assert_eq!(p.payment.max_leaves, d.payment.max_leaves);
        assert_eq!(p.cash, d.cash, "the cash model keeps its own defaults");
        assert_eq!(p.risk, d.risk);
        assert_eq!(TrainParams::default().with_overrides("").unwrap(), d);
    }

    #[test]
    fn a_settings_file_with_a_mistake_names_the_key() {
        let err = |t: &str| TrainParams::default().with_overrides(t).unwrap_err().to_string();
        let e = err("[payment]\nn_tree = 10\n");
        assert!(e.contains("`payment.n_tree` is not a setting"), "{e}");
        let e = err("[risk]\nn_trees = \"many\"\n");
        assert!(e.contains("`risk.n_trees` should be integer, not string"), "{e}");
        let e = err("[cash]\nlearning_rate = 0\n");
        assert!(e.contains("`cash`") && e.contains("learning_rate"), "{e}");
        let e = err("[cash]\nbagging_fraction = 1.5\n");
        assert!(e.contains("`cash`") && e.contains("bagging_fraction should be in (0, 1]"), "{e}");
        let e = err("payment = 3\n");
        assert!(e.contains("`payment` should be table"), "{e}");
        assert!(err("[payment\n").contains("not valid TOML"));
    }

    #[test]
    fn cash_models_saved_before_the_correlations_the_classifiers_or_the_recalibration_still_load() {
        let old: CashPayload = serde_json::from_str("[null, 91]").unwrap();
        assert!(matches!(old, CashPayload::Plain(None, 91)));
        let new: CashPayload = serde_json::from_str(
            r#"[null, 91, {"customer_corr": 0.2, "period_corr": 0.05, "rows": 300, "snapshots": 6}]"#,
        )
        .unwrap();
        assert!(matches!(new, CashPayload::WithCopula(None, 91, Some(c)) if c.customer_corr == 0.2));
        let within: CashPayload = serde_json::from_str("[null, 91, null, null]").unwrap();
        assert!(matches!(within, CashPayload::WithWithin(None, 91, None, None)));
        let newest: CashPayload =
            serde_json::from_str(r#"[null, 91, null, null, {"g": [0.0, 1.0], "rows": 300}]"#).unwrap();
        assert!(matches!(newest, CashPayload::WithLevels(None, 91, None, None, Some(m)) if m.rows == 300));
        let early: CashPayload = serde_json::from_str("[null, 91, null, null, null, []]").unwrap();
        assert!(matches!(early, CashPayload::WithEarly(None, 91, None, None, None, e) if e.is_empty()));
    }

    #[test]
    fn trained_models_round_trip_reproducibly_and_score_every_open_invoice() {
        let dir = generated_dir(80, 5_000, "2023-01-01", "2024-06-30", 17);
        let d = days_from_date(chrono::NaiveDate::from_ymd_opt(2024, 3, 31).unwrap());
        let h = load_history(dir.path(), d, &InvoiceReadOptions::default(), &FxTable::default()).unwrap();
        let p = quick();
        let threads = |n: usize| rayon::ThreadPoolBuilder::new().num_threads(n).build().unwrap();
        let t = threads(3).install(|| train_all(&h, d, &p)).unwrap();
        let v = t.validation.as_ref().expect("a year of history gives a validation slice");
        // One as-of date: no date-resampled intervals, and no empty table of them.
        assert_eq!(v.methods[0].intervals, crate::models::backtest::Intervals::default());
        assert!(v.markdown().contains("| arsight GBDT |") && !v.markdown().contains("90% intervals"));
        let models = tempfile::tempdir().unwrap();
        let store = ModelStore::new(models.path());
        let v1 = save_all(&store, &t, &p, "fp").unwrap();
        let (loaded, manifests) = load_current(&store).unwrap();
        assert!(loaded == t.models, "what is loaded is what was trained");
        assert!(t.models.cash_copula.is_some_and(|c| c.rows >= 100), "{:?}", t.models.cash_copula);
        assert!(t.models.cash_within.is_some(), "generated ledgers hold invoices not paid within the horizon");
        assert!(t.models.cash.as_ref().is_some_and(|c| c.from_due), "the cash model counts from the due date");
        assert!(t.models.cash_levels.as_ref().is_some_and(|m| m.rows >= 200), "{:?}", t.models.cash_levels);
        assert_eq!(manifests[&Kind::PaymentDate].feature_names.len(), crate::models::dataset::N_MODEL_FEATURES);
        assert!(manifests[&Kind::Risk].validation["model"]["late_roc_auc"].as_f64().is_some());
        let newest = &manifests[&Kind::Cash].validation["newest_weeks"];
        let share = |p: &str| newest["paid_by_level"][p].as_f64().expect("a share");
        assert!(share("0.1") < share("0.5") && share("0.5") < share("0.9") && share("0.9") < 1.0, "{newest}");
        let levels = t.models.cash_levels.as_ref().expect("a map");
        assert!(
            levels.overdue.as_ref().is_some_and(|o| o.rows >= 200 && o.g != levels.g),
            "past due: a map of their own"
        );
        assert!(newest["past_due"]["paid_by_level"]["0.5"].as_f64().is_some(), "{newest}");
        let bias = manifests[&Kind::Cash].validation["week_bias"].as_array().expect("the weeks' factors").clone();
        assert_eq!(bias.len(), crate::models::copula::BIAS_WEEKS);
        assert!(bias.iter().all(|b| b.as_f64().is_some_and(|b| (0.8..=1.25).contains(&b))), "{bias:?}");

        // Same data and seed: the same versions (payload hashes), byte for byte, whether
        // the models are fitted side by side or one after another, and whatever the
        // order of the rows in the files.
        let shuffled = tempfile::tempdir().unwrap();
        crate::fixtures::shuffled_copy(dir.path(), shuffled.path(), 3);
        let hs = load_history(shuffled.path(), d, &InvoiceReadOptions::default(), &FxTable::default()).unwrap();
        let again = threads(1).install(|| train_all(&hs, d, &p)).unwrap();
        let other = tempfile::tempdir().unwrap();
        let v2 = save_all(&ModelStore::new(other.path()), &again, &p, "fp").unwrap();
        assert_eq!(v1, v2);
        for (k, v) in &v1 {
            let a = std::fs::read(models.path().join(k.as_str()).join(v).join("model.json")).unwrap();
            let b = std::fs::read(other.path().join(k.as_str()).join(v).join("model.json")).unwrap();
            assert_eq!(a, b, "{k:?}");
        }
        // Another seed changes the seeded models.
        let v3 = save_all(&store, &train_all(&h, d, &p.clone().with_seed(7)).unwrap(), &p, "fp").unwrap();
        assert_ne!(v3[&Kind::Segments], v1[&Kind::Segments]);

        let preds = predict_open(&h, d, &loaded).unwrap();
        let open: Vec<&str> = h.open.iter().map(|o| o.invoice_id.as_str()).collect();
        let mut ids: Vec<&str> = preds.iter().map(|p| p.invoice_id.as_str()).collect();
        ids.sort_unstable();
        let mut want = open.clone();
        want.sort_unstable();
        assert_eq!(ids, want, "every open invoice exactly once");
        let names = &loaded.segments.names;
        for p in &preds {
            let [a, b, c] = [p.p10_paid_date.0, p.predicted_paid_date.0, p.p90_paid_date.0];
            assert!(a <= b && b <= c && a > d, "{p:?}");
            assert_eq!(p.p_late == 1.0, d > p.due_date.0 || p.p_late == 1.0);
            if d > p.due_date.0 {
                assert_eq!(p.p_late, 1.0);
            }
            assert!(p.p_late >= p.p_late_30 && p.p_late_30 >= p.p_unpaid_90, "{p:?}");
            assert!(p.risk_score <= 100);
            assert!(p.reasons.len() <= 3 && !p.reasons.is_empty());
            assert!(p.reasons.windows(2).all(|w| w[0].contribution_days.abs() >= w[1].contribution_days.abs()));
            assert!(
                p.cold_start == (p.segment == "new") && (p.cold_start || names.iter().any(|n| n == p.segment)),
                "{p:?}"
            );
            assert!(p.open_minor > 0 && p.open_minor <= p.amount_minor);
        }
        // Risk ranks: invoices of customers that paid late before are riskier.
        let mean = |f: &dyn Fn(&crate::models::predict::InvoicePrediction) -> bool| {
            let v: Vec<f64> = preds.iter().filter(|p| f(p) && d <= p.due_date.0).map(|p| p.p_late).collect();
            v.iter().sum::<f64>() / v.len().max(1) as f64
        };
        assert!(
            mean(&|p| p.segment.starts_with("prompt")) < mean(&|p| !p.segment.starts_with("prompt") && !p.cold_start)
        );
    }

    #[test]
    fn too_little_history_is_a_clear_error() {
        let dir = generated_dir(5, 40, "2024-01-01", "2024-02-01", 1);
        let d = days_from_date(chrono::NaiveDate::from_ymd_opt(2024, 1, 10).unwrap());
        let h = load_history(dir.path(), d, &InvoiceReadOptions::default(), &FxTable::default()).unwrap();
        let e = train_all(&h, d, &quick()).unwrap_err();
        assert!(matches!(e, TrainError::TooFewRows { needed: 30, .. }), "{e}");
    }

    /// A customer whose settlements follow a payment-run calendar gets its predicted
    /// dates on its run days; the calendar is read from what was settled by the date.
    /// A ledger closed on holidays but without a `holidays` table: the closing days
    /// that recur (Easter, 1 May, 26 December) are read from its settlements and
    /// projected, and predicted dates keep off them.
    #[test]
    fn closing_days_are_read_from_the_settlements_when_no_table_lists_them() {
        let dir = tempfile::tempdir().unwrap();
        let date = |y, m, d| days_from_date(chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap());
        let params = crate::generate::GenerateParams {
            customers: 150,
            invoices: 12_000,
            start: chrono::NaiveDate::from_ymd_opt(2022, 7, 1).unwrap(),
            end: chrono::NaiveDate::from_ymd_opt(2025, 4, 4).unwrap(),
            seed: 9,
            holidays: true,
            ..Default::default()
        };
        crate::generate::generate(dir.path(), &params).unwrap();
        std::fs::remove_file(dir.path().join("holidays.parquet")).unwrap();
        let d = date(2025, 4, 4);
        let h = load_history(dir.path(), d, &InvoiceReadOptions::default(), &FxTable::default()).unwrap();
        assert!(h.holidays.days().is_empty());
        let t = train_all(&h, d, &quick()).unwrap();
        let closed = crate::domain::Holidays::new(t.models.payment.closed_days.iter().copied());
        for (y, m, dd) in
            [(2023, 4, 7), (2024, 4, 1), (2024, 12, 26), (2025, 4, 18), (2025, 4, 21), (2025, 5, 1), (2025, 12, 26)]
        {
            assert!(closed.contains(date(y, m, dd)), "{y}-{m}-{dd} not read: {:?}", closed.days());
        }
        // Christmas Day fell on a weekday in 2023 and 2024 only, so it is read too; a
        // day of the week that was never closed is not.
        assert!(closed.contains(date(2025, 12, 25)) && !closed.contains(date(2025, 4, 22)));
        let preds = predict_open(&h, d, &t.models).unwrap();
        let across =
            preds.iter().filter(|p| p.p10_paid_date.0 < date(2025, 4, 18) && date(2025, 4, 21) < p.p90_paid_date.0);
        assert!(across.count() >= 20);
        for p in &preds {
            for x in [p.p10_paid_date.0, p.predicted_paid_date.0, p.p90_paid_date.0] {
                assert!(closed.is_business_day(x), "{p:?}");
            }
        }
        // Turned off, nothing is read.
        let off = TrainParams { payment: PaymentDateParams { learn_closures: false, ..quick().payment }, ..quick() };
        assert!(train_all(&h, d, &off).unwrap().models.payment.closed_days.is_empty());
    }

    /// A small generated ledger (60 customers, 2,500 invoices from 2023 to `end`, seed
    /// 5, with `flags`) trained on and predicted at `end`: the directory, the history,
    /// the models and the open invoices' predictions.
    fn predicted_at(
        end: chrono::NaiveDate,
        flags: impl Fn(crate::generate::GenerateParams) -> crate::generate::GenerateParams,
    ) -> (tempfile::TempDir, crate::features::History, Trained, Vec<crate::models::predict::InvoicePrediction>) {
        let dir = tempfile::tempdir().unwrap();
        let params = crate::generate::GenerateParams {
            customers: 60,
            invoices: 2_500,
            start: chrono::NaiveDate::from_ymd_opt(2023, 1, 1).unwrap(),
            end,
            seed: 5,
            ..Default::default()
        };
        crate::generate::generate(dir.path(), &flags(params)).unwrap();
        let d = days_from_date(end);
        let h = load_history(dir.path(), d, &InvoiceReadOptions::default(), &FxTable::default()).unwrap();
        let t = train_all(&h, d, &quick()).unwrap();
        let preds = predict_open(&h, d, &t.models).unwrap();
        (dir, h, t, preds)
    }

    /// On a ledger with bank holidays too: no predicted date falls on one.
    #[test]
    fn predictions_fall_on_the_customers_payment_run_days() {
        let date = |y, m, d| chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap();
        let (dir, h, t, preds) = predicted_at(date(2024, 12, 13), |p| crate::generate::GenerateParams {
            payment_runs: true,
            holidays: true,
            ..p
        });
        let d = days_from_date(date(2024, 12, 13));
        let full = crate::fixtures::full_history(dir.path());
        let hol = &h.holidays;
        let christmas = days_from_date(date(2024, 12, 25));
        assert!(hol.contains(christmas) && hol.contains(christmas + 7), "{hol:?}");
        let (mut on_runs, mut moved, mut off_weekends, mut across) = (0, 0, 0, 0);
        for p in &preds {
            let c = h.customers.iter().position(|x| *x == p.customer_id).unwrap();
            // What was settled by d, whether or not the history knows later settlements.
            let run = crate::features::customer::payment_run_of(h.invoices_of(c), d, hol);
            let fc = full.customers.iter().position(|x| *x == p.customer_id).unwrap();
            assert_eq!(run, crate::features::customer::payment_run_of(full.invoices_of(fc), d, hol));
            let days = [p.p10_paid_date.0, p.predicted_paid_date.0, p.p90_paid_date.0];
            assert!(days[0] <= days[1] && days[1] <= days[2] && days[0] > d, "{p:?}");
            across += usize::from(days[0] < christmas && christmas < days[2]);
            let reason = p.reasons.iter().any(|r| r.feature == crate::models::predict::PAYMENT_RUN);
            let weekend = p.reasons.iter().any(|r| r.feature == crate::models::predict::BUSINESS_DAY);
            match run {
                Some(r) => {
                    assert!(days.iter().all(|&x| r.is_run_day(x, hol)), "{p:?} off {r:?}");
                    on_runs += 1;
                    moved += usize::from(reason);
                    assert!(!weekend, "{p:?}");
                }
                // The generated ledger settles on business days only: the others' dates
                // are business days.
                None => {
                    assert!(!reason, "{p:?}");
                    assert!(days.iter().all(|&x| hol.is_business_day(x)), "{p:?} on a weekend or holiday");
                    off_weekends += usize::from(weekend);
                }
            }
        }
        assert!(t.models.payment.settles_on_business_days);
        assert!(on_runs >= 20, "{on_runs} open invoices of customers paying in runs");
        assert!(across >= 20, "{across} open invoices with Christmas inside p10-p90");
        assert!(moved > 0 && off_weekends > 0, "p50s moved: {moved} onto run days, {off_weekends} off weekends");
    }

    /// With holidays per currency, every predicted date is a business day of its own
    /// currency's calendar: no USD invoice's on Thanksgiving, while other currencies'
    /// dates can fall on it.
    #[test]
    fn predicted_dates_keep_off_their_own_currencys_holidays() {
        let date = |y, m, d| chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap();
        let (_dir, h, _, preds) =
            predicted_at(date(2024, 11, 15), |p| crate::generate::GenerateParams { currency_holidays: true, ..p });
        let thanksgiving = days_from_date(date(2024, 11, 28));
        assert!(
            h.holidays.of(crate::domain::Currency::USD).contains(thanksgiving) && !h.holidays.contains(thanksgiving)
        );
        let (mut usd_across, mut others_on_it) = (0, 0);
        for p in &preds {
            let own = h.holidays.of(p.currency);
            let days = [p.p10_paid_date.0, p.predicted_paid_date.0, p.p90_paid_date.0];
            assert!(days.iter().all(|&x| own.is_business_day(x)), "{p:?} on a weekend or one of its holidays");
            if p.currency == crate::domain::Currency::USD {
                usd_across += usize::from(days[0] < thanksgiving && thanksgiving < days[2]);
            } else {
                others_on_it += days.iter().filter(|&&x| x == thanksgiving).count();
            }
        }
        assert!(usd_across >= 5, "{usd_across} USD invoices with Thanksgiving inside p10-p90");
        assert!(others_on_it > 0, "no other currency's date on Thanksgiving");
    }

    /// Between open-items listings, the invoices the last listing shows open are
    /// predicted as open at its day, all that is known of them: the predictions made at
    /// that day, some of them before the as-of date, and not yet past due where their due
    /// date came after it. Those issued since are predicted as at the date.
    #[test]
    fn between_listings_predictions_count_from_the_last_listing() {
        let (dst, l, d) = crate::fixtures::weekly_listings_between();
        let load = || load_history(dst.path(), d, &InvoiceReadOptions::default(), &FxTable::default()).unwrap();
        let (h, mut blind) = (load(), load());
        blind.listing_days.clear();
        assert_eq!((h.known_through(d), blind.known_through(d)), (l, d));
        let mut tp = quick();
        tp.validation_days = 100_000; // no validation step: not needed here
        let m = train_all(&h, d, &tp).unwrap().models;
        let now = predict_open(&h, d, &m).unwrap();
        let then = predict_open(&blind, d, &m).unwrap();
        let at_l: std::collections::HashMap<String, InvoicePrediction> =
            predict_open(&h, l, &m).unwrap().into_iter().map(|p| (p.invoice_id.clone(), p)).collect();
        // The same invoices, in the same order (by customer, then invoice date).
        let ids = |v: &[InvoicePrediction]| v.iter().map(|p| p.invoice_id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&now), ids(&then));
        let key = |p: &InvoicePrediction| {
            (p.predicted_paid_date, p.p10_paid_date, p.p90_paid_date, p.p_late, p.p_late_30, p.p_unpaid_90)
        };
        let (mut listed, mut since, mut early, mut due_since) = (0, 0, 0, 0);
        for (p, q) in now.iter().zip(&then) {
            match at_l.get(&p.invoice_id) {
                Some(a) => {
                    listed += 1;
                    assert_eq!(key(p), key(a), "{}", p.invoice_id);
                    early += usize::from(p.p10_paid_date.0 <= d);
                    if p.due_date.0 > l && p.due_date.0 < d {
                        // Past due at the date, not at the listing's day.
                        assert_eq!(q.p_late, 1.0, "{q:?}");
                        due_since += usize::from(p.p_late < 1.0);
                    }
                }
                None => {
                    since += 1;
                    assert_eq!(key(p), key(q), "{}", p.invoice_id);
                }
            }
        }
        assert!(listed > 100 && since > 0, "{listed} listed open, {since} issued since");
        assert!(
            early > 0 && due_since > 0,
            "{early} with p10 by the date, {due_since} due since the listing and not sure to be late"
        );
    }
}
