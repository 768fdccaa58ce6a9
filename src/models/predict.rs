//! Scoring open invoices with a [`ModelSet`]: payment-date quantiles conditioned on
//! "not paid yet", calibrated risk probabilities conditioned the same way, a 0–100
//! risk score, the customer's segment, anomaly flags, and the top reasons (path
//! attributions of the p50 model, in days).

use std::path::Path;
use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema};
use rayon::prelude::*;
use rustc_hash::FxHashMap;
use serde::Serialize;

use super::anomaly::Flag;
use super::dataset::{known_parts, model_feature_names, scoring_rows, Rows};
use super::empirical::{EmpOut, EmpiricalModel};
use super::gbdt::GbdtError;
use super::segments::NEW_SEGMENT;
use super::train::ModelSet;
use crate::contract::rows::{Cell, TableBuilder};
use crate::contract::write_batch;
use crate::domain::Day;
use crate::features::customer_at;
use crate::features::history::History;

/// One reason: a model input, its value and its signed contribution (days late of
/// the p50 prediction).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Reason {
    /// Model input name (`cust.*` or `inv.*`), or `empirical.channel` /
    /// `empirical.segment_country` / `empirical.customer_history`
    /// (`empirical.portfolio` for a customer without settled invoices) for the
    /// empirical model's share of the p50, `payment_run` for the move of the p50 onto
    /// the customer's payment-run day, or `business_day` for its move off a weekend or
    /// holiday.
    #[schema(value_type = String)]
    pub feature: &'static str,
    /// Its value (NaN serialises as null).
    pub value: Option<f64>,
    /// Days it adds to (or, negative, takes from) the predicted delay.
    pub contribution_days: f64,
}

impl Reason {
    /// `feature=value (+x.x d)`.
    pub fn text(&self) -> String {
        let v = self.value.map_or("missing".to_string(), |v| format!("{}", (v * 100.0).round() / 100.0));
        format!("{}={} ({:+.1} d)", self.feature, v, self.contribution_days)
    }
}

/// Reason: the invoice's delivery channel, through the empirical model.
pub const EMPIRICAL_CHANNEL: &str = "empirical.channel";

/// Reason: the customer's segment and country, through the empirical model's prior
/// (all of it for a customer without history, little for one with a long history).
pub const EMPIRICAL_PEERS: &str = "empirical.segment_country";

/// Reason: the customer's own payment history against the portfolio's, through the
/// empirical model (value: its settled invoices).
pub const EMPIRICAL_HISTORY: &str = "empirical.customer_history";

/// Reason, for a customer without settled invoices: the portfolio's distribution for
/// the invoice's terms and amount against the portfolio's median, through the
/// empirical model (there is no history of the customer's own to speak of).
pub const EMPIRICAL_PORTFOLIO: &str = "empirical.portfolio";

/// Reason: the p50 moved to the nearest day of the customer's payment runs (the
/// calendar its settlements follow: weekly, on the 15th and month end, or monthly).
pub const PAYMENT_RUN: &str = "payment_run";

/// Reason: the p50 moved off a weekend or holiday to the next business day (the
/// ledger's settlements fall on business days only).
pub const BUSINESS_DAY: &str = "business_day";

/// The reason naming the empirical model's share beyond the channel, for a customer
/// with `settled` invoices in its distribution.
fn history_reason(settled: usize) -> &'static str {
    if settled == 0 {
        EMPIRICAL_PORTFOLIO
    } else {
        EMPIRICAL_HISTORY
    }
}

/// The model input names, interned once (reasons refer to them).
pub fn feature_names_static() -> &'static [&'static str] {
    static NAMES: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
    NAMES.get_or_init(|| model_feature_names().into_iter().map(|n| &*Box::leak(n.into_boxed_str())).collect())
}

/// A segment name as a `&'static str`: names are few (one per centroid and "new"),
/// so each distinct name is stored once for the life of the process.
pub fn segment_name(name: &str) -> &'static str {
    static NAMES: std::sync::RwLock<Vec<&'static str>> = std::sync::RwLock::new(Vec::new());
    if let Some(n) = NAMES.read().ok().and_then(|v| v.iter().find(|n| **n == name).copied()) {
        return n;
    }
    let mut v = NAMES.write().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(n) = v.iter().find(|n| **n == name) {
        return n;
    }
    let n: &'static str = Box::leak(name.to_string().into_boxed_str());
    v.push(n);
    n
}

/// The prediction for one open invoice (compact: dates as days, shared names; about
/// 300 bytes with its id).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct InvoicePrediction {
    /// Invoice id.
    pub invoice_id: String,
    /// Customer id.
    pub customer_id: String,
    /// ISO currency.
    #[schema(value_type = String)]
    pub currency: crate::domain::Currency,
    /// Invoice amount, minor units.
    pub amount_minor: i64,
    /// Amount still open at the as-of date, minor units.
    pub open_minor: i64,
    /// Due date.
    #[schema(value_type = String, format = Date)]
    pub due_date: Day,
    /// p50 paid date.
    #[schema(value_type = String, format = Date)]
    pub predicted_paid_date: Day,
    /// p10 paid date.
    #[schema(value_type = String, format = Date)]
    pub p10_paid_date: Day,
    /// p90 paid date.
    #[schema(value_type = String, format = Date)]
    pub p90_paid_date: Day,
    /// P(paid after the due date); 1 when already past due.
    pub p_late: f64,
    /// P(paid more than 30 days late).
    pub p_late_30: f64,
    /// P(still unpaid 90 days past due).
    pub p_unpaid_90: f64,
    /// 0–100: `100·(0.2·p_late + 0.3·p_late_30 + 0.5·p_unpaid_90)`.
    pub risk_score: u8,
    /// The customer's segment.
    #[schema(value_type = String)]
    pub segment: &'static str,
    /// No settled invoice of the customer yet: predictions come from invoice inputs
    /// and what the portfolio does.
    pub cold_start: bool,
    /// Flags on the customer or this invoice.
    pub anomaly_flags: Vec<Flag>,
    /// Top three reasons by absolute contribution.
    pub reasons: Vec<Reason>,
}

impl InvoicePrediction {
    /// Appends this prediction's JSON to `out`: the same bytes as its `Serialize`
    /// (serde_json), with the keys written as they are rather than escaped one by one
    /// (a 1,000-invoice reply is ~630 KiB).
    pub fn write_json(&self, out: &mut Vec<u8>) {
        use serde::Serializer as _;
        // serde_json's own writing of each value (escapes, number formats, NaN as
        // null); writing to a Vec cannot fail.
        fn ser(out: &mut Vec<u8>) -> serde_json::Serializer<&mut Vec<u8>> {
            serde_json::Serializer::new(out)
        }
        fn text(out: &mut Vec<u8>, v: &str) {
            let _ = ser(out).serialize_str(v);
        }
        fn number(out: &mut Vec<u8>, v: f64) {
            let _ = ser(out).serialize_f64(v);
        }
        fn int(out: &mut Vec<u8>, v: i64) {
            let _ = ser(out).serialize_i64(v);
        }
        fn day(out: &mut Vec<u8>, d: Day) {
            match d.ymd_text() {
                Some(t) => {
                    out.push(b'"');
                    out.extend_from_slice(&t);
                    out.push(b'"');
                }
                None => {
                    let _ = serde::Serialize::serialize(&d, &mut ser(out));
                }
            }
        }
        out.extend_from_slice(b"{\"invoice_id\":");
        text(out, &self.invoice_id);
        out.extend_from_slice(b",\"customer_id\":");
        text(out, &self.customer_id);
        out.extend_from_slice(b",\"currency\":");
        text(out, self.currency.as_str());
        out.extend_from_slice(b",\"amount_minor\":");
        int(out, self.amount_minor);
        out.extend_from_slice(b",\"open_minor\":");
        int(out, self.open_minor);
        out.extend_from_slice(b",\"due_date\":");
        day(out, self.due_date);
        out.extend_from_slice(b",\"predicted_paid_date\":");
        day(out, self.predicted_paid_date);
        out.extend_from_slice(b",\"p10_paid_date\":");
        day(out, self.p10_paid_date);
        out.extend_from_slice(b",\"p90_paid_date\":");
        day(out, self.p90_paid_date);
        out.extend_from_slice(b",\"p_late\":");
        number(out, self.p_late);
        out.extend_from_slice(b",\"p_late_30\":");
        number(out, self.p_late_30);
        out.extend_from_slice(b",\"p_unpaid_90\":");
        number(out, self.p_unpaid_90);
        out.extend_from_slice(b",\"risk_score\":");
        int(out, i64::from(self.risk_score));
        out.extend_from_slice(b",\"segment\":");
        text(out, self.segment);
        out.extend_from_slice(if self.cold_start { b",\"cold_start\":true" } else { b",\"cold_start\":false" });
        out.extend_from_slice(b",\"anomaly_flags\":");
        if self.anomaly_flags.is_empty() {
            out.extend_from_slice(b"[]");
        } else {
            let _ = serde::Serialize::serialize(&self.anomaly_flags, &mut ser(out));
        }
        out.extend_from_slice(b",\"reasons\":[");
        for (k, r) in self.reasons.iter().enumerate() {
            out.extend_from_slice(if k == 0 { b"{\"feature\":" } else { b",{\"feature\":" });
            text(out, r.feature);
            out.extend_from_slice(b",\"value\":");
            match r.value {
                Some(v) => number(out, v),
                None => out.extend_from_slice(b"null"),
            }
            out.extend_from_slice(b",\"contribution_days\":");
            number(out, r.contribution_days);
            out.push(b'}');
        }
        out.extend_from_slice(b"]}");
    }
}

/// Risk probabilities at issue `[P(late>0), P(late>30), P(late>90)]` conditioned on
/// the invoice being unpaid `dpd` days past due, through a survival curve that is
/// log-linear between 0, 30 and 90 days late.
pub fn condition_risk(p: [f64; 3], dpd: i32) -> [f64; 3] {
    let p0 = p[0].clamp(1e-6, 1.0);
    let p30 = p[1].clamp(1e-6, p0);
    let p90 = p[2].clamp(1e-6, p30);
    if dpd <= 0 {
        return [p0, p30, p90];
    }
    let t = f64::from(dpd);
    let s = if t <= 30.0 {
        p0 * (p30 / p0).powf(t / 30.0)
    } else if t <= 90.0 {
        p30 * (p90 / p30).powf((t - 30.0) / 60.0)
    } else {
        p90
    };
    let late30 = if dpd > 30 { 1.0 } else { (p30 / s).min(1.0) };
    let unpaid90 = if dpd > 90 { 1.0 } else { (p90 / s).min(1.0) };
    [1.0, late30, unpaid90]
}

/// P(paid more than `t` days late | unpaid `dpd` days past due), from the
/// probability `p` as at issue and `unpaid`, the chance (as at issue) of being unpaid
/// then: an event that implies "unpaid then" keeps its mass and loses the rest
/// (`p / unpaid`); one already certain at `dpd` is 1.
pub fn given_unpaid(p: f64, t: i32, dpd: i32, unpaid: f64) -> f64 {
    if dpd > t {
        1.0
    } else {
        (p / unpaid.max(1e-9)).clamp(0.0, 1.0)
    }
}

/// Risk probabilities at issue of an invoice unpaid `dpd` days past due, conditioned
/// through the empirical model's chance of being unpaid then (or, without one, the
/// log-linear survival curve of [`condition_risk`]); never increasing with the
/// threshold.
pub fn condition_open(p: [f64; 3], dpd: i32, unpaid: Option<f64>) -> [f64; 3] {
    let Some(u) = unpaid else { return condition_risk(p, dpd) };
    let mut out = [0.0; 3];
    for (k, t) in super::train::RISK_THRESHOLDS.into_iter().enumerate() {
        out[k] = given_unpaid(p[k], t, dpd, u);
    }
    out[1] = out[1].min(out[0]);
    out[2] = out[2].min(out[1]);
    out
}

/// The 0–100 risk score.
pub fn risk_score(p: [f64; 3]) -> u8 {
    (100.0 * (0.2 * p[0] + 0.3 * p[1] + 0.5 * p[2])).round().clamp(0.0, 100.0) as u8
}

/// Identity of a scored row.
#[derive(Debug, Clone)]
pub struct RowMeta {
    /// Invoice id.
    pub invoice_id: String,
    /// Customer id.
    pub customer_id: String,
    /// Currency.
    pub currency: crate::domain::Currency,
    /// Amount, minor units.
    pub amount_minor: i64,
    /// Open amount, minor units.
    pub open_minor: i64,
    /// Due day.
    pub due: i32,
    /// What the empirical model says of it (customer's history at the scoring date, cut
    /// at "unpaid then"), when the payment-date model has one.
    pub emp: Option<crate::models::empirical::EmpOut>,
    /// The customer's payment-run calendar at the scoring date, if its settlements
    /// follow one: the predicted dates are placed on its run days.
    pub run: Option<crate::domain::PaymentRun>,
}

/// Indices of the `K` largest non-zero `|v|`, largest first (ties: lower index first).
fn top_by_magnitude<const K: usize>(v: &[f64]) -> [Option<usize>; K] {
    let mut top: [Option<usize>; K] = [None; K];
    // The magnitudes kept, largest first (0 for empty places: zeros are never kept).
    let mut kept = [0.0f64; K];
    for (j, x) in v.iter().enumerate() {
        let m = x.abs();
        // Zero, NaN, or no larger than the smallest kept: most entries stop here.
        if K == 0 || m.is_nan() || m <= kept[K - 1] {
            continue;
        }
        // Insert j after every kept entry at least as large.
        let at = kept.iter().position(|&k| k < m).unwrap_or(K);
        if at < K {
            top[at..].rotate_right(1);
            kept[at..].rotate_right(1);
            top[at] = Some(j);
            kept[at] = m;
        }
    }
    top
}

/// Scores rows of model inputs (customer vector at `d`, invoice inputs as on the
/// issue date) with their identities and anomaly flags (one per row; moved into the
/// predictions), placing dates off weekends and the `closed` days (the data's
/// holidays with the closing days the models read at training,
/// [`super::payment::PaymentDateModel::closed`]).
///
/// # Errors
/// [`GbdtError::Features`] when the models were trained on another input width.
///
/// # Panics
/// When `meta` and `flags` do not hold one entry per row.
pub fn score_matrix(
    x: ndarray::ArrayView2<'_, f64>,
    meta: Vec<RowMeta>,
    d: i32,
    m: &ModelSet,
    flags: Vec<Vec<Flag>>,
    closed: &crate::domain::Holidays,
) -> Result<Vec<InvoicePrediction>, GbdtError> {
    assert!(meta.len() == x.nrows() && flags.len() == x.nrows(), "one identity and one flag list per row");
    let nf = x.ncols();
    let flat: &[f64] = &crate::models::gbdt::row_major(&x);
    let p50 = &m.payment.quantiles[1].forest;
    let explainer = p50.explainer();
    // The empirical model's probability as at issue of row `i` for threshold `k` (the
    // risk models take it as an input; NaN unless every row has one).
    let emp_all = meta.iter().all(|r| r.emp.is_some());
    let emp_p = |k: usize, i: usize| if emp_all { meta[i].emp.map_or(f64::NAN, |e| e.p_issue[k]) } else { f64::NAN };
    let models = [&m.risk.late, &m.risk.late_30, &m.risk.unpaid_90];
    let risk = |x: ndarray::ArrayView2<'_, f64>, from: usize| -> Result<_, GbdtError> {
        if !models.iter().any(|r| r.takes_empirical()) {
            return Ok((models[0].predict(x)?, models[1].predict(x)?, models[2].predict(x)?));
        }
        // One wide copy of the rows; its last column holds each model's empirical input
        // in turn.
        let nf = x.ncols();
        let mut wide = ndarray::Array2::<f64>::zeros((x.nrows(), nf + 1));
        wide.slice_mut(ndarray::s![.., ..nf]).assign(&x);
        let mut out: [Vec<f64>; 3] = Default::default();
        for (k, r) in models.into_iter().enumerate() {
            out[k] = if r.takes_empirical() {
                for i in 0..x.nrows() {
                    wide[[i, nf]] = crate::models::risk::empirical_log_odds(emp_p(k, from + i));
                }
                r.predict_wide(wide.view())?
            } else {
                r.predict(x)?
            };
        }
        let [a, b, c] = out;
        Ok((a, b, c))
    };
    let (q, p0, p30, p90, contribs) = if x.nrows() < crate::models::gbdt::FEW_ROWS {
        // As few rows as the models walk one by one anyway: row by row, one walk of the
        // median model giving its prediction and attributions, the risk models over
        // one wide row whose last value is each model's empirical input in turn.
        let n = x.nrows();
        let mut contribs = vec![0.0; n * nf];
        let mut wide = vec![0.0; nf + 1];
        let mut q = Vec::with_capacity(n);
        let mut p: [Vec<f64>; 3] = [(); 3].map(|_| Vec::with_capacity(n));
        for (i, (row, c)) in flat.chunks_exact(nf.max(1)).zip(contribs.chunks_exact_mut(nf.max(1))).enumerate() {
            q.push(m.payment.predict_row_attributed(row, c)?);
            wide[..nf].copy_from_slice(row);
            for (k, r) in models.iter().enumerate() {
                p[k].push(if r.takes_empirical() {
                    wide[nf] = crate::models::risk::empirical_log_odds(emp_p(k, i));
                    r.predict_wide_row(&wide)?
                } else {
                    r.predict_wide_row(row)?
                });
            }
        }
        let [p0, p30, p90] = p;
        (q, p0, p30, p90, contribs)
    } else {
        // Mid-sized batches: every model over row blocks in parallel (each model alone
        // keeps up to 2,048 rows on one thread).
        let run = |x: ndarray::ArrayView2<'_, f64>, from: usize| -> Result<_, GbdtError> {
            let (a, b, c) = risk(x, from)?;
            Ok((m.payment.predict_raw(x)?, a, b, c))
        };
        let (q, p0, p30, p90) = if x.nrows() >= 256 && x.nrows() <= 2048 {
            let blocks: Vec<_> = (0..x.nrows())
                .step_by(128)
                .collect::<Vec<_>>()
                .into_par_iter()
                .map(|s| run(x.slice(ndarray::s![s..(s + 128).min(x.nrows()), ..]), s))
                .collect::<Result<Vec<_>, _>>()?;
            let mut all = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            for b in blocks {
                all.0.extend(b.0);
                all.1.extend(b.1);
                all.2.extend(b.2);
                all.3.extend(b.3);
            }
            all
        } else {
            run(x, 0)?
        };
        // Attributions of the p50 model for all rows at once (blocks of rows by node
        // masks).
        let contribs: Vec<f64> = if meta.len() >= 256 {
            // Row blocks in parallel.
            let per = 256;
            (0..meta.len())
                .step_by(per)
                .collect::<Vec<_>>()
                .into_par_iter()
                .flat_map_iter(|s| {
                    let n = per.min(meta.len() - s);
                    p50.contributions_rows(explainer, &flat[s * nf..(s + n) * nf], n).1
                })
                .collect()
        } else {
            p50.contributions_rows(explainer, flat, meta.len()).1
        };
        (q, p0, p30, p90, contribs)
    };
    let names = feature_names_static();
    let i_paid = names.iter().position(|n| *n == "cust.n_paid").expect("n_paid");
    let one = |(i, (r, anomaly_flags)): (usize, (RowMeta, Vec<Flag>))| {
        let due = r.due;
        let c = m.payment.finish(q[i], r.emp.as_ref(), f64::from(d - due + 1));
        let days = c.map(|v| (f64::from(due) + v).round().max(f64::from(d + 1)) as i32);
        let calendar = m.payment.calendar(r.run);
        let placed = calendar.map_or(days, |run| run.place(days, d + 1, closed.of(r.currency)));
        let probs = condition_open([p0[i], p30[i], p90[i]], d - due, r.emp.map(|e| e.unpaid));
        let xs = &flat[i * nf..(i + 1) * nf];
        let contrib = &contribs[i * nf..(i + 1) * nf];
        // The trees' attributions carry their share of the blended p50; the empirical
        // model's share is split into the invoice's channel and the customer's own history.
        let w = match (&m.payment.empirical, &r.emp) {
            (Some(_), Some(e)) => m.payment.empirical_weight[usize::from(e.n == 0)][1],
            _ => 0.0,
        };
        // Room for the empirical model's three reasons too.
        let mut reasons: Vec<Reason> = Vec::with_capacity(6);
        reasons.extend(top_by_magnitude::<3>(contrib).into_iter().flatten().map(|j| Reason {
            feature: names[j],
            value: xs[j].is_finite().then_some(xs[j]),
            contribution_days: (contrib[j] * (1.0 - w) * 10.0).round() / 10.0,
        }));
        if let (Some(model), Some(e), true) = (&m.payment.empirical, &r.emp, w > 0.0) {
            let (channel, peers, history) = model.explain(e);
            reasons.push(Reason {
                feature: EMPIRICAL_CHANNEL,
                value: None,
                contribution_days: (w * channel * 10.0).round() / 10.0,
            });
            reasons.push(Reason {
                feature: EMPIRICAL_PEERS,
                value: None,
                contribution_days: (w * peers * 10.0).round() / 10.0,
            });
            reasons.push(Reason {
                feature: history_reason(e.n),
                value: Some(e.n as f64),
                contribution_days: (w * history * 10.0).round() / 10.0,
            });
        }
        if placed[1] != days[1] {
            reasons.push(Reason {
                feature: if calendar == Some(crate::domain::PaymentRun::BusinessDays) {
                    BUSINESS_DAY
                } else {
                    PAYMENT_RUN
                },
                value: None,
                contribution_days: f64::from(placed[1] - days[1]),
            });
        }
        if reasons.len() > 3 {
            reasons.retain(|r| r.contribution_days != 0.0);
            reasons.sort_by(|a, b| b.contribution_days.abs().total_cmp(&a.contribution_days.abs()));
            reasons.truncate(3);
        }
        let cold_start = xs[i_paid].is_nan() || xs[i_paid] < 1.0;
        InvoicePrediction {
            invoice_id: r.invoice_id,
            customer_id: r.customer_id,
            currency: r.currency,
            amount_minor: r.amount_minor,
            open_minor: r.open_minor,
            due_date: Day(due),
            predicted_paid_date: Day(placed[1]),
            p10_paid_date: Day(placed[0]),
            p90_paid_date: Day(placed[2]),
            p_late: probs[0],
            p_late_30: probs[1],
            p_unpaid_90: probs[2],
            risk_score: risk_score(probs),
            segment: segment_name(if cold_start { NEW_SEGMENT } else { m.segments.assign(&xs[..43]) }),
            cold_start,
            anomaly_flags,
            reasons,
        }
    };
    // Small requests stay on the calling thread: handing a few rows to the pool costs
    // more than scoring them.
    Ok(if meta.len() < 64 {
        meta.into_iter().zip(flags).enumerate().map(one).collect()
    } else {
        meta.into_par_iter().zip(flags).enumerate().map(one).collect()
    })
}

/// The empirical model's output for rows open at `d`: each customer's history at
/// `d`, cut at "unpaid at `d`".
pub fn empirical_at(m: &EmpiricalModel, h: &History, rows: &Rows, d: i32) -> Vec<EmpOut> {
    let min_late: Vec<Option<f64>> = rows.due_date.iter().map(|&due| Some(f64::from(d - due + 1))).collect();
    m.outputs(h, &rows.pos, &vec![d; rows.len()], &min_late)
}

/// Scores rows built by [`scoring_rows`] at `d` (issue-date invoice inputs, customer
/// vector at `d`). `flags` maps a customer index to its flags.
///
/// # Errors
/// [`GbdtError::Features`] when the models were trained on another input width.
pub fn score_rows(
    h: &History,
    rows: &Rows,
    d: i32,
    m: &ModelSet,
    flags: &FxHashMap<usize, Vec<Flag>>,
) -> Result<Vec<InvoicePrediction>, GbdtError> {
    let emp = m.payment.empirical.as_ref().map(|e| empirical_at(e, h, rows, d));
    let meta: Vec<RowMeta> = (0..rows.len())
        .map(|i| {
            let inv = &h.invoices[rows.pos[i]];
            RowMeta {
                invoice_id: h.open.get(inv.open_slot as usize).map(|o| o.invoice_id.clone()).unwrap_or_default(),
                customer_id: h.customers[rows.cust[i]].clone(),
                currency: inv.currency,
                amount_minor: inv.amount_minor,
                open_minor: inv.amount_minor - rows.received_minor[i].max(0),
                due: rows.due_date[i],
                emp: emp.as_ref().map(|e| e[i]),
                run: rows.run[i],
            }
        })
        .collect();
    let flags = (0..rows.len())
        .map(|i| {
            flags
                .get(&rows.cust[i])
                .map(|f| f.iter().filter(|f| f.invoice.is_none_or(|p| p == rows.pos[i])).cloned().collect())
                .unwrap_or_default()
        })
        .collect();
    score_matrix(rows.x.view(), meta, d, m, flags, &m.payment.closed(&h.holidays))
}

/// Anomaly flags at `d` of every customer in `customers`.
pub fn customer_flags(h: &History, d: i32, m: &ModelSet, customers: &[usize]) -> FxHashMap<usize, Vec<Flag>> {
    customers.par_iter().map(|&c| (c, m.anomaly.flags(&customer_at(h, c, d)))).filter(|(_, f)| !f.is_empty()).collect()
}

/// Predictions for every invoice open at `d` (issued on or before it, not settled by
/// it), ordered by customer then invoice date. Where the data tell settlements only
/// through an earlier day ([`History::known_through`], the last open-items listing's),
/// the invoices issued by then are predicted as open at that day, all that is known of
/// them ([`known_parts`]): their dates and probabilities count from it, and their
/// predicted dates can fall before `d`.
///
/// # Errors
/// [`GbdtError::Features`] on a model/input width mismatch.
pub fn predict_open(h: &History, d: i32, m: &ModelSet) -> Result<Vec<InvoicePrediction>, GbdtError> {
    predict_open_where(h, d, m, |_| true)
}

/// [`predict_open`] for the invoices whose position in the history `keep` selects
/// (e.g. one range of customers at a time, to bound memory).
///
/// # Errors
/// [`GbdtError::Features`] on a model/input width mismatch.
pub fn predict_open_where(
    h: &History,
    d: i32,
    m: &ModelSet,
    keep: impl Fn(usize) -> bool + Sync,
) -> Result<Vec<InvoicePrediction>, GbdtError> {
    let through = h.known_through(d);
    let parts: Vec<(i32, Rows)> = known_parts(h, d, through)
        .into_iter()
        .map(|(at, part)| (at, scoring_rows(h, at, |p| part(p) && keep(p))))
        .collect();
    // Flags at `d`, once per customer of any part.
    let mut custs: Vec<usize> = parts.iter().flat_map(|(_, rows)| rows.cust.iter().copied()).collect();
    custs.sort_unstable();
    custs.dedup();
    let flags = customer_flags(h, d, m, &custs);
    let mut out: Vec<(usize, InvoicePrediction)> = Vec::new();
    for (at, rows) in &parts {
        let preds = score_rows(h, rows, *at, m, &flags)?;
        if through == d {
            return Ok(preds);
        }
        out.extend(rows.pos.iter().copied().zip(preds));
    }
    // The parts in history order: by customer, then invoice date.
    out.sort_by_key(|(pos, _)| *pos);
    Ok(out.into_iter().map(|(_, p)| p).collect())
}

/// Writes predictions as Parquet, CSV or JSON (by extension), atomically.
///
/// # Errors
/// Unknown extension or I/O.
pub fn write_predictions(path: &Path, preds: &[InvoicePrediction]) -> std::io::Result<()> {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    let flags = |p: &InvoicePrediction| {
        p.anomaly_flags
            .iter()
            .map(|f| format!("{}[{}]: {}", f.code, f.severity.as_str(), f.reason))
            .collect::<Vec<_>>()
            .join("; ")
    };
    let reason = |p: &InvoicePrediction, k: usize| p.reasons.get(k).map(Reason::text);
    match ext.as_str() {
        "json" => {
            let bytes = serde_json::to_vec_pretty(preds).map_err(std::io::Error::other)?;
            crate::fsutil::atomic_write(path, |f| std::io::Write::write_all(f, &bytes))
        }
        "csv" => crate::fsutil::atomic_write(path, |f| {
            let mut w = csv::Writer::from_writer(f);
            w.write_record([
                "invoice_id",
                "customer_id",
                "currency",
                "open_amount",
                "due_date",
                "predicted_paid_date",
                "p10_paid_date",
                "p90_paid_date",
                "p_late",
                "p_late_30",
                "p_unpaid_90",
                "risk_score",
                "segment",
                "cold_start",
                "anomaly_flags",
                "reason_1",
                "reason_2",
                "reason_3",
            ])?;
            for p in preds {
                w.write_record([
                    p.invoice_id.clone(),
                    p.customer_id.clone(),
                    p.currency.to_string(),
                    crate::domain::Money { minor: p.open_minor, currency: p.currency }.to_string(),
                    p.due_date.to_string(),
                    p.predicted_paid_date.to_string(),
                    p.p10_paid_date.to_string(),
                    p.p90_paid_date.to_string(),
                    format!("{:.4}", p.p_late),
                    format!("{:.4}", p.p_late_30),
                    format!("{:.4}", p.p_unpaid_90),
                    p.risk_score.to_string(),
                    p.segment.to_string(),
                    p.cold_start.to_string(),
                    flags(p),
                    reason(p, 0).unwrap_or_default(),
                    reason(p, 1).unwrap_or_default(),
                    reason(p, 2).unwrap_or_default(),
                ])?;
            }
            w.flush()
        }),
        "parquet" => {
            let amount =
                crate::contract::invoice_schema().field_with_name("amount").expect("amount").data_type().clone();
            let f = |n: &str, t: DataType, null: bool| Field::new(n, t, null);
            let schema = Arc::new(Schema::new(vec![
                f("invoice_id", DataType::Utf8, false),
                f("customer_id", DataType::Utf8, false),
                f("currency", DataType::Utf8, false),
                f("open_amount", amount, false),
                f("due_date", DataType::Date32, false),
                f("predicted_paid_date", DataType::Date32, false),
                f("p10_paid_date", DataType::Date32, false),
                f("p90_paid_date", DataType::Date32, false),
                f("p_late", DataType::Float64, false),
                f("p_late_30", DataType::Float64, false),
                f("p_unpaid_90", DataType::Float64, false),
                f("risk_score", DataType::Int32, false),
                f("segment", DataType::Utf8, false),
                f("cold_start", DataType::Boolean, false),
                f("anomaly_flags", DataType::Utf8, false),
                f("reason_1", DataType::Utf8, true),
                f("reason_2", DataType::Utf8, true),
                f("reason_3", DataType::Utf8, true),
            ]));
            let mut b = TableBuilder::new(schema);
            for p in preds {
                let (fl, r1, r2, r3) = (flags(p), reason(p, 0), reason(p, 1), reason(p, 2));
                b.push(&[
                    Cell::Str(Some(&p.invoice_id)),
                    Cell::Str(Some(&p.customer_id)),
                    Cell::Str(Some(p.currency.as_str())),
                    Cell::Amount(Some((p.open_minor, p.currency))),
                    Cell::Date(Some(p.due_date.0)),
                    Cell::Date(Some(p.predicted_paid_date.0)),
                    Cell::Date(Some(p.p10_paid_date.0)),
                    Cell::Date(Some(p.p90_paid_date.0)),
                    Cell::Float(Some(p.p_late)),
                    Cell::Float(Some(p.p_late_30)),
                    Cell::Float(Some(p.p_unpaid_90)),
                    Cell::Int(Some(i32::from(p.risk_score))),
                    Cell::Str(Some(p.segment)),
                    Cell::Bool(Some(p.cold_start)),
                    Cell::Str(Some(&fl)),
                    Cell::Str(r1.as_deref()),
                    Cell::Str(r2.as_deref()),
                    Cell::Str(r3.as_deref()),
                ]);
            }
            write_batch(path, &b.finish()).map_err(std::io::Error::other)
        }
        other => Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{}: output should end in .parquet, .csv or .json, not '.{other}'", path.display()),
        )),
    }
}

#[cfg(test)]
mod tests {
    /// `write_json` writes the bytes serde_json writes: ids needing escapes, NaN and
    /// infinite probabilities (null), missing and NaN reason values, flags or none,
    /// dates outside years 0-9999, cold start or not, no reasons.
    #[test]
    fn predictions_write_the_json_serde_writes() {
        use super::{InvoicePrediction, Reason};
        use crate::domain::{Currency, Day};
        use crate::models::anomaly::{Flag, Severity};
        let mut r = crate::rng::Rng::new(5, 0);
        let ids = ["I-1", "q\"uote", "back\\slash", "tab\tnew\nline", "\u{1}ctl", "héllo ☃", ""];
        for case in 0..200 {
            let pick = |r: &mut crate::rng::Rng, v: &[f64]| v[r.int(0, v.len() as i64 - 1) as usize];
            let odd = [0.5, 0.0, 1.0, f64::NAN, f64::INFINITY, 1e-300, 0.123_456_789_012_345_68, -2.5];
            let p = InvoicePrediction {
                invoice_id: ids[case % ids.len()].to_string(),
                customer_id: ids[(case / 7) % ids.len()].to_string(),
                currency: Currency::parse(["USD", "EUR", "JPY"][case % 3]).unwrap(),
                amount_minor: r.int(-(1 << 39), 1 << 39),
                open_minor: r.int(0, 1000),
                due_date: Day([19_000, -800_000, 3_000_000, 0][case % 4]),
                predicted_paid_date: Day(19_000 + case as i32),
                p10_paid_date: Day(18_000),
                p90_paid_date: Day(-1),
                p_late: pick(&mut r, &odd),
                p_late_30: r.f64(),
                p_unpaid_90: pick(&mut r, &odd),
                risk_score: (case % 101) as u8,
                segment: ["prompt", "slow but steady #2", "new"][case % 3],
                cold_start: case % 2 == 0,
                anomaly_flags: (0..case % 3)
                    .map(|k| Flag {
                        code: "days_late_jump".into(),
                        severity: [Severity::Low, Severity::High][k % 2],
                        reason: ids[(case + k) % ids.len()].into(),
                        invoice: Some(k),
                        day: 20_000 - k as i32,
                    })
                    .collect(),
                reasons: (0..case % 4)
                    .map(|k| Reason {
                        feature: ["cust.n_paid", "inv.amount", "empirical.channel"][k % 3],
                        value: [None, Some(f64::NAN), Some(43_401.35), Some(-1.0)][(case + k) % 4],
                        contribution_days: pick(&mut r, &odd),
                    })
                    .collect(),
            };
            let mut out = Vec::new();
            p.write_json(&mut out);
            assert_eq!(String::from_utf8(out).unwrap(), serde_json::to_string(&p).unwrap(), "case {case}");
        }
    }

    #[test]
    fn the_top_three_are_the_largest_in_magnitude_as_a_full_sort_orders_them() {
        let mut r = crate::rng::Rng::new(21, 0);
        for case in 0..300 {
            let n = 1 + case % 12;
            // Few distinct values, zeros and sign changes, so ties happen.
            let mut v: Vec<f64> = (0..n).map(|_| ((r.f64() * 7.0).floor() - 3.0) / 2.0).collect();
            // Missing attributions are never reasons.
            if case % 7 == 0 {
                v[case % n] = f64::NAN;
            }
            let mut order: Vec<usize> = (0..n).filter(|&j| v[j] != 0.0 && !v[j].is_nan()).collect();
            order.sort_by(|&a, &b| v[b].abs().total_cmp(&v[a].abs()).then(a.cmp(&b)));
            let want: Vec<usize> = order.into_iter().take(3).collect();
            let got: Vec<usize> = super::top_by_magnitude::<3>(&v).into_iter().flatten().collect();
            assert_eq!(got, want, "{v:?}");
        }
    }
    use super::*;

    #[test]
    fn a_customer_without_settled_invoices_is_explained_by_the_portfolio() {
        assert_eq!(history_reason(0), EMPIRICAL_PORTFOLIO);
        assert_eq!(history_reason(1), EMPIRICAL_HISTORY);
        assert_eq!(history_reason(40), EMPIRICAL_HISTORY);
    }

    #[test]
    fn risk_conditioning_is_monotone_and_certain_beyond_the_thresholds() {
        let p = [0.4, 0.1, 0.02];
        assert_eq!(condition_risk(p, 0), p);
        assert_eq!(condition_risk(p, -5), p);
        let a = condition_risk(p, 10);
        let b = condition_risk(p, 25);
        assert_eq!(a[0], 1.0);
        assert!(a[1] > p[1] && b[1] > a[1] && b[1] <= 1.0, "{a:?} {b:?}");
        assert_eq!(condition_risk(p, 31)[1], 1.0);
        assert!(condition_risk(p, 60)[2] > b[2]);
        assert_eq!(condition_risk(p, 91), [1.0, 1.0, 1.0]);
        // Inconsistent inputs are made monotone first.
        let c = condition_risk([0.1, 0.3, 0.5], 0);
        assert!(c[0] >= c[1] && c[1] >= c[2]);
        assert_eq!(risk_score([1.0, 1.0, 1.0]), 100);
        assert_eq!(risk_score([0.0, 0.0, 0.0]), 0);
    }
}
