//! The backtest protocol: models are retrained at a series of as-of dates from
//! what was visible then, and scored on what happened afterwards.
//!
//! - As-of dates `D_k = T80 + every·k` while `D_k ≤` the last invoice date, `T80` being
//!   the invoice date by which 80% of invoices were issued.
//! - At `D_k` the history is cut at `D_k` (the same point-in-time functions as
//!   `arsight features`); models are refitted on it.
//! - Payment date and risk: invoices issued in `(D_{k−1}, D_k]` and open at `D_k`,
//!   each scored once; error = |predicted − actual paid date| in days.
//! - Cash: every invoice open at `D_k`; weekly buckets `(D_k + 7(w−1), D_k + 7w]`,
//!   `w = 1..horizon`; forecast = amounts at the p50 date; actual = the same invoices'
//!   amounts at their real paid date; WAPE pooled over `k` and `w`. When invoices are
//!   still open at the end of the data, weeks ending after it are not scored (their
//!   actuals are unknown).
//! - Beyond the protocol, when the caller supplies the forecast (see [`CashForecaster`]):
//!   the weekly expected inflows and p10–p90 intervals that `arsight forecast` would
//!   have reported at `D_k`, scored on the same weeks: WAPE of the expectations and
//!   the share of weeks whose actual inflow fell inside the interval.
//! - With 11 or so as-of dates a figure rests on few forecasts: every method's figures
//!   come with 90% intervals from resampling the as-of dates ([`Intervals`]).

use std::collections::HashMap;

use rayon::prelude::*;
use serde::Serialize;

use super::copula::{fit_remaining_time, predict_dists, week_spread, CashDist, CashFit, WeekOutcome};
use super::dataset::{
    feature_index, known_parts, newest_snapshot_days, open_rows, open_rows_known, scoring_rows, snapshot_sample,
    training_rows, InvoiceView, Rows, SnapshotPlan,
};
use super::fitting::{fit_payment, fit_risk};
use super::gbdt::GbdtError;
use super::metrics;
use super::payment::PaymentDateModel;
use super::predict::{empirical_at, given_unpaid};
use super::train::TrainParams;
use crate::domain::{date_from_days, Holidays};
use crate::features::history::{History, OPEN};
use crate::features::stats::quantile_sorted;

/// Backtest settings; defaults are the protocol above with 14-day steps and 13 weeks.
#[derive(Debug, Clone)]
pub struct BacktestParams {
    /// First as-of date (default T80).
    pub from: Option<i32>,
    /// Last as-of date (default the last invoice date).
    pub to: Option<i32>,
    /// Days between as-of dates.
    pub every_days: i32,
    /// Weeks of cash forecast.
    pub horizon_weeks: i32,
    /// The models' settings, as `arsight train` takes them (the payment-date, risk and
    /// remaining-time models and the cash model's snapshots are read; the cash horizon
    /// is `horizon_weeks`).
    pub models: TrainParams,
    /// Keep the model's rows in the report: every open invoice's remaining-time
    /// quantiles and outcome at every as-of date ([`BacktestReport::cash_rows`]) and
    /// every scored invoice's prediction and outcome ([`BacktestReport::scored_rows`]).
    pub keep_rows: bool,
}

impl Default for BacktestParams {
    fn default() -> Self {
        BacktestParams {
            from: None,
            to: None,
            every_days: 14,
            horizon_weeks: 13,
            models: TrainParams::default(),
            keep_rows: false,
        }
    }
}

/// Metrics of one method, pooled over all as-of dates.
#[derive(Debug, Clone, Serialize)]
pub struct MethodMetrics {
    /// Method name.
    pub method: String,
    /// Mean absolute error of the predicted paid date, days.
    pub mae_days: f64,
    /// Median absolute error, days.
    pub median_ae_days: f64,
    /// Share within ±7 days.
    pub within_7d: f64,
    /// Share of actual dates inside [p10, p90] (None when the method has no interval).
    pub p10_p90_coverage: Option<f64>,
    /// Mean 80% interval score of the [p10, p90] dates ([`metrics::interval_score`]),
    /// days: their width plus ten times the days by which the actual date fell outside
    /// (None when the method has no interval). Lower is better; unlike the coverage it
    /// does not reward wide intervals.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p10_p90_interval_score_days: Option<f64>,
    /// ROC-AUC of P(paid after due date).
    pub late_roc_auc: f64,
    /// Average precision of P(paid after due date).
    pub late_pr_auc: f64,
    /// Brier score of P(paid after due date).
    pub late_brier: f64,
    /// Weekly cash WAPE over the horizon.
    pub wape: f64,
    /// Weekly cash WAPE over weeks 1–4.
    pub wape_4w: f64,
    /// WAPE of the cash forecast's weekly expected inflows (None without a forecast).
    pub forecast_wape: Option<f64>,
    /// WAPE of the cash forecast's daily expected inflows over the first
    /// [`DAILY_DAYS`] days after each as-of date (None without a forecast): whether the
    /// cash is expected on the right days, payment runs included.
    pub forecast_daily_wape: Option<f64>,
    /// Share of weeks whose actual inflow fell inside the forecast's p10–p90, among
    /// the weeks with an inflow forecast or received (a week where nothing was due and
    /// nothing came is inside any interval and says nothing of its width).
    pub forecast_interval_coverage: Option<f64>,
    /// The same weeks' p10–p90 bands scored with the 80% interval score
    /// ([`metrics::interval_score`]): summed over the weeks and divided by their actual
    /// inflow (None without a forecast or an inflow). Lower is better; unlike the share
    /// inside, it charges a band for its width.
    pub forecast_interval_score: Option<f64>,
    /// The bands' widths (p90 − p10) summed over those weeks, over their actual inflow.
    pub forecast_interval_width: Option<f64>,
    /// In hindsight, the factor on every band's distances from its expectation that
    /// would have given the scored weeks the lowest interval score (below 1: the bands
    /// were wider than the misses needed).
    pub forecast_band_scale: Option<BandScale>,
    /// The spread the scored weeks' totals needed beyond the forecast's intervals
    /// ([`super::copula::week_spread`] of the scored weeks, in hindsight: 0 when the
    /// intervals already allowed for the misses).
    pub forecast_spread_missing: Option<f64>,
    /// The cash forecast by week after the as-of date (empty without a forecast):
    /// where its bias and its misses lie.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub forecast_by_week: Vec<WeekCalibration>,
    /// The protocol's weekly WAPE (`wape`) were the method's own distributions right:
    /// outcomes drawn from them, the same placements scored against each draw (None
    /// for a method without distributions). How much of `wape` placing whole amounts
    /// on single days costs whatever the model.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wape_if_right: Option<DrawnWape>,
    /// The cash distributions scored invoice by invoice: the amount-weighted CRPS of
    /// each open invoice's days to payment (capped a day past the horizon), over the
    /// as-of dates whose horizon the data covers (None for a method without
    /// distributions, or without such dates). Lower is better; a proper score, so
    /// unlike the weekly WAPEs it cannot gain from distributions moved away from the
    /// outcomes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cash_crps_days: Option<f64>,
    /// The same invoices' placements (p50 days), amount-weighted absolute error in days
    /// (the CRPS of a point).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cash_placement_ae_days: Option<f64>,
    /// How far the figures above would move with other as-of dates: 90% intervals from
    /// resampling the dates.
    pub intervals: Intervals,
    /// The same figures for each as-of date with anything scored, in date order: where
    /// the model did well and where it did not (drift shows up here first).
    pub by_date: Vec<DateMetrics>,
    /// The scored figures by whether the customer had settled history.
    pub by_history: HistorySplit,
}

/// The protocol's WAPE over outcomes drawn from a method's own distributions
/// ([`PLACEMENT_DRAWS`] draws).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DrawnWape {
    /// Median over the draws.
    pub median: f64,
    /// 5th and 95th percentiles over the draws.
    pub p5_p95: [f64; 2],
    /// Share of the draws at or below the actual WAPE: an ordinary value when the
    /// distributions are right, near 1 when the actual outcomes miss the placements
    /// by more than the model expects, near 0 when by less.
    pub share_at_or_below_actual: f64,
}

/// Draws of outcomes behind [`MethodMetrics::wape_if_right`].
pub const PLACEMENT_DRAWS: usize = 200;

/// The protocol's week of a payment on `day` for as-of day `d`: week `w` holds the days
/// in (d + 7(w − 1), d + 7w].
fn protocol_week(d: i32, day: f64) -> i32 {
    ((day - f64::from(d)) / 7.0).ceil() as i32
}

/// Stream of the draws of [`drawn_weeks`] (per as-of date).
const PLACEMENT_STREAM: u64 = 0x706c_6163;

/// For each of `draws` draws of every open invoice's payment day from its
/// distribution `dists[i]` with horizon `cap` (a draw `x` is `⌈x⌉` days, at least 1,
/// after the distribution's origin, and `settle(i, days)` the day it would go out on;
/// beyond `cap` it lands nowhere), the sum over the weeks after as-of day `d` of
/// `placed` (amounts per week 1.. as the protocol placed them) of |placed − drawn| and
/// of the drawn amounts.
pub fn drawn_weeks(
    dists: &[CashDist],
    amount: &[f64],
    settle: impl Fn(usize, i32) -> i32,
    (d, cap): (i32, f64),
    placed: &[f64],
    draws: usize,
    seed: u64,
) -> (Vec<f64>, Vec<f64>) {
    let mut rng = crate::rng::Rng::new(seed ^ PLACEMENT_STREAM, d as u64);
    let mut aw = vec![0.0; placed.len()];
    let (mut err, mut tot) = (Vec::with_capacity(draws), Vec::with_capacity(draws));
    for _ in 0..draws {
        aw.iter_mut().for_each(|v| *v = 0.0);
        for (i, k) in dists.iter().enumerate() {
            let x = k.at_level(rng.f64(), cap);
            if x > cap {
                continue;
            }
            let day = settle(i, (x.ceil() as i32).max(1));
            let w = protocol_week(d, f64::from(day));
            if (1..=aw.len() as i32).contains(&w) {
                aw[w as usize - 1] += amount[i];
            }
        }
        err.push(placed.iter().zip(&aw).map(|(f, a)| (f - a).abs()).sum());
        tot.push(aw.iter().sum());
    }
    (err, tot)
}

/// [`DrawnWape`] of per-draw sums (None without draws or drawn amounts).
fn drawn_wape(err: &[f64], tot: &[f64], actual: f64) -> Option<DrawnWape> {
    let mut w: Vec<f64> = err.iter().zip(tot).filter(|(_, &t)| t > 0.0).map(|(e, t)| e / t).collect();
    if w.is_empty() {
        return None;
    }
    w.sort_by(f64::total_cmp);
    let at = |q: f64| quantile_sorted(&w, q);
    Some(DrawnWape {
        median: at(0.5),
        p5_p95: [at(0.05), at(0.95)],
        share_at_or_below_actual: w.iter().filter(|&&v| v <= actual).count() as f64 / w.len() as f64,
    })
}

/// A method's figures on a set of scored invoices (None where undefined: nothing
/// scored, one class only).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScoredMetrics {
    /// Invoices scored.
    pub n_scored: usize,
    /// Mean absolute error of the predicted paid date, days.
    pub mae_days: Option<f64>,
    /// Share within ±7 days.
    pub within_7d: Option<f64>,
    /// Share inside [p10, p90] (None when the method has no interval).
    pub p10_p90_coverage: Option<f64>,
    /// ROC-AUC of P(paid after due date).
    pub late_roc_auc: Option<f64>,
    /// Brier score of P(paid after due date).
    pub late_brier: Option<f64>,
}

/// The scored invoices split by whether their customer had a settled invoice at the
/// as-of date (cold starts are the second group).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistorySplit {
    /// Customers with settled history.
    pub with_history: ScoredMetrics,
    /// Customers without.
    pub without: ScoredMetrics,
}

/// A method's figures at one as-of date (None where undefined: nothing scored, one
/// class only, no inflow).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DateMetrics {
    /// The as-of date.
    pub as_of: String,
    /// The invoices scored at this date (issued since the previous one, open at it).
    #[serde(flatten)]
    pub scored: ScoredMetrics,
    /// Weekly cash WAPE over the weeks scored at this date.
    pub wape: Option<f64>,
    /// WAPE of the cash forecast's weekly expected inflows at this date.
    pub forecast_wape: Option<f64>,
    /// [`MethodMetrics::forecast_interval_score`] at this date.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forecast_interval_score: Option<f64>,
    /// The actual inflow of the weeks that score is over (pools dates' scores).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forecast_inflow: Option<f64>,
    /// [`MethodMetrics::cash_crps_days`] at this date (None where the data does not
    /// cover the horizon).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cash_crps_days: Option<f64>,
    /// The open amount (base currency) that score weighs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cash_amount_base: Option<f64>,
}

/// 5th and 95th percentiles of a method's metrics over [`RESAMPLES`] resamples of the
/// as-of dates (drawn with replacement, each taking all its rows and weeks along: the
/// rows of one date share its models and its weeks). Every method is scored on the same
/// resamples. None where a metric is undefined or fewer than two dates have rows.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Intervals {
    /// Of [`MethodMetrics::mae_days`].
    pub mae_days: Option<[f64; 2]>,
    /// Of [`MethodMetrics::p10_p90_coverage`].
    pub p10_p90_coverage: Option<[f64; 2]>,
    /// Of [`MethodMetrics::late_roc_auc`].
    pub late_roc_auc: Option<[f64; 2]>,
    /// Of [`MethodMetrics::late_brier`].
    pub late_brier: Option<[f64; 2]>,
    /// Of [`MethodMetrics::wape`].
    pub wape: Option<[f64; 2]>,
    /// Of [`MethodMetrics::forecast_wape`].
    pub forecast_wape: Option<[f64; 2]>,
    /// Of [`MethodMetrics::cash_crps_days`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cash_crps_days: Option<[f64; 2]>,
    /// Of [`MethodMetrics::forecast_interval_score`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forecast_interval_score: Option<[f64; 2]>,
}

/// The forecast's bands scaled in hindsight ([`MethodMetrics::forecast_band_scale`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct BandScale {
    /// Factor on each band's distances from its expectation (on a grid of
    /// [`BAND_SCALE_STEP`] from [`BAND_SCALE_STEP`] to [`BAND_SCALE_MAX`]).
    pub scale: f64,
    /// The interval score the scaled bands would have had (as
    /// [`MethodMetrics::forecast_interval_score`]).
    pub interval_score: f64,
}

/// Level of the intervals the report scores, the scored invoices' paid dates and the
/// forecast's weekly bands alike: p10–p90 is the central `1 − 0.2`.
pub const INTERVAL_ALPHA: f64 = 0.2;

/// Grid of [`BandScale::scale`].
pub const BAND_SCALE_STEP: f64 = 0.05;
/// Largest [`BandScale::scale`] tried.
pub const BAND_SCALE_MAX: f64 = 3.0;

/// Over the weeks with an inflow forecast (p90 above zero) or received, with each
/// band's distances from its expectation (`forecast[i]` = expected, p10, p90) scaled by
/// `scale` (the lower end kept at or above zero): `[Σ interval score, Σ width, Σ actual]`.
fn band_sums<'a>(weeks: impl IntoIterator<Item = (&'a [f64; 3], f64)>, scale: f64) -> [f64; 3] {
    weeks.into_iter().filter(|(f, a)| f[2] > 0.0 || *a > 0.0).fold([0.0; 3], |[s, w, t], (f, a)| {
        let lo = (f[0] - scale * (f[0] - f[1])).max(0.0);
        let hi = f[0] + scale * (f[2] - f[0]);
        [s + metrics::interval_score(lo, hi, a, INTERVAL_ALPHA), w + (hi - lo), t + a]
    })
}

/// `band_sums`' score and width over the actual inflow; None without an inflow.
fn band_ratios<'a>(weeks: impl IntoIterator<Item = (&'a [f64; 3], f64)>, scale: f64) -> Option<[f64; 2]> {
    let [s, w, t] = band_sums(weeks, scale);
    (t > 0.0).then(|| [s / t, w / t])
}

/// [`BandScale`] of the weeks (None without an inflow).
fn band_scale(forecast: &[[f64; 3]], actual: &[f64]) -> Option<BandScale> {
    let steps = (BAND_SCALE_MAX / BAND_SCALE_STEP).round() as usize;
    (1..=steps)
        .filter_map(|k| {
            let scale = k as f64 * BAND_SCALE_STEP;
            band_ratios(forecast.iter().zip(actual.iter().copied()), scale)
                .map(|[interval_score, _]| BandScale { scale, interval_score })
        })
        .min_by(|a, b| a.interval_score.total_cmp(&b.interval_score))
}

/// Of per-date sums `[Σ amount × CRPS, Σ amount × |error|, Σ amount]` (`cscore` of a
/// pool), the amount-weighted CRPS (`which` 0) or placement error (1); None without
/// amount or (CRPS) without distributions.
fn cash_score<'a>(sums: impl IntoIterator<Item = &'a [f64; 3]>, which: usize) -> Option<f64> {
    let (num, den) = sums.into_iter().fold((0.0, 0.0), |(n, d), s| (n + s[which], d + s[2]));
    let v = num / den;
    v.is_finite().then_some(v)
}

/// Resamples of the as-of dates behind [`Intervals`].
pub const RESAMPLES: usize = 1000;

/// The cash forecast's weekly figures for one week after the as-of date, pooled over
/// the as-of dates, counting the weeks with an inflow forecast or received (as
/// [`MethodMetrics::forecast_interval_coverage`] does).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WeekCalibration {
    /// Week after the as-of date, from 1.
    pub week: usize,
    /// As-of dates counted.
    pub dates: usize,
    /// Sum of the expected inflows over the sum of the actual ones (1 unbiased, above
    /// 1 the forecast expected more than came); None when nothing came.
    pub expected_over_actual: Option<f64>,
    /// Share of dates whose actual inflow fell below the forecast's p10.
    pub below_p10: f64,
    /// Share of dates whose actual inflow fell above its p90.
    pub above_p90: f64,
    /// The bands' widths over the actual inflow (None when nothing came).
    pub width_over_actual: Option<f64>,
    /// Their 80% interval score over the actual inflow (as
    /// [`MethodMetrics::forecast_interval_score`]; None when nothing came).
    pub interval_score: Option<f64>,
}

/// The open invoices of one as-of date as the cash forecast sees them.
#[derive(Debug, Clone, Copy)]
pub struct CashCase<'a> {
    /// As-of day.
    pub as_of: i32,
    /// The day through which the data tell which invoices are settled
    /// ([`History::known_through`]): the days of [`Self::dists`] count from it, or
    /// from each invoice's `origin`.
    pub through: i32,
    /// Per invoice, the day its distribution's days count from, where it is not
    /// `through` (empty: all from `through`).
    pub origin: &'a [i32],
    /// Weeks forecast.
    pub weeks: i32,
    /// The keys of each invoice's random draws ([`crate::forecast::draw_keys`]).
    pub keys: &'a [crate::forecast::DrawKeys],
    /// Amount per invoice in base-currency units.
    pub amount_base: &'a [f64],
    /// Past due at the as-of date.
    pub overdue: &'a [bool],
    /// Each invoice's distribution of days from its origin to payment; days above
    /// `cap` mean "after the model's horizon".
    pub dists: &'a [CashDist],
    /// The remaining-time model's horizon in days.
    pub cap: f64,
    /// Timing correlations learned with the remaining-time model at this date.
    pub copula: Option<super::copula::Copula>,
    /// The calendar each invoice's payment goes out on at the date: its customer's
    /// payment runs, or business days (empty: any day for all).
    pub calendar: &'a [Option<crate::domain::PaymentRun>],
    /// The days the ledger is closed besides weekends, as the model trained at the
    /// date reads them (with each currency's own).
    pub closed: &'a crate::domain::Holidays,
    /// Each invoice's own currency, whose bank holidays its payment keeps off (empty:
    /// the base currency's for all).
    pub currency: &'a [crate::domain::Currency],
}

/// Days after each as-of date scored day by day ([`MethodMetrics::forecast_daily_wape`]).
pub const DAILY_DAYS: i32 = 28;

/// The cash forecast of a case, base-currency units.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CaseForecast {
    /// (expected, p10, p90) inflow per week of the case.
    pub weekly: Vec<[f64; 3]>,
    /// Expected inflow per day, days 1..=[`DAILY_DAYS`].
    pub daily: Vec<f64>,
}

/// The cash forecast of a case, supplied by the layer that owns it.
pub type CashForecaster<'a> = &'a (dyn Fn(&CashCase<'_>) -> CaseForecast + Sync);

/// How the cash forecast of the models in `fit` (with `pay`'s calendars and `closed`)
/// did on the newest weeks before `d`: at each snapshot every `plan.step` days newer than
/// the cash model's newest training snapshot (`d − cap_days`), the newest first, each
/// sampled as the training snapshots are, and no more once `plan.max_rows` rows are
/// read, its weeks whose outcome is known at `d`
/// against what arrived. The quantiles are out of sample there; the level map was
/// estimated on the same snapshots.
#[allow(clippy::too_many_arguments)]
fn newest_weeks(
    h: &History,
    d: i32,
    fit: &CashFit,
    cap_days: i32,
    plan: SnapshotPlan,
    pay: &PaymentDateModel,
    closed: &Holidays,
    forecast: CashForecaster<'_>,
) -> Result<Vec<(i32, WeekOutcome)>, GbdtError> {
    let Some(model) = &fit.model else { return Ok(Vec::new()) };
    let cap = f64::from(cap_days);
    let (mut out, mut read) = (Vec::new(), 0);
    for s in newest_snapshot_days(d, cap_days, plan) {
        if read >= plan.max_rows {
            break;
        }
        // Whole weeks known at `d` (none for a snapshot less than a week old).
        let weeks = (d - s).min(cap_days) / 7;
        if weeks < 1 {
            continue;
        }
        let sample = snapshot_sample(h, s, plan);
        let rows = open_rows(h, s, InvoiceView::AtDate, |p| sample.keeps(p));
        read += rows.len();
        if !rows.is_empty() {
            let dists = predict_dists(model, fit.within.as_ref(), &fit.early, fit.levels.as_ref(), rows.x.view(), cap)?;
            let overdue: Vec<bool> = rows.due_date.iter().map(|&due| s > due).collect();
            let calendar: Vec<_> = rows.run.iter().map(|&r| pay.calendar(r)).collect();
            let currency: Vec<_> = rows.amount_minor.iter().map(|a| a.1).collect();
            let keys = crate::forecast::draw_keys(h, &rows.pos);
            let case = CashCase {
                as_of: s,
                through: s,
                origin: &[],
                weeks,
                keys: &keys,
                amount_base: &rows.amount_base,
                overdue: &overdue,
                dists: &dists,
                cap,
                copula: fit.copula,
                calendar: &calendar,
                closed,
                currency: &currency,
            };
            let fc = forecast(&case);
            // Payments in the weeks asked for fall on or before `d`.
            let mut actual = vec![0.0; weeks as usize];
            for (i, &pos) in rows.pos.iter().enumerate() {
                let paid = h.invoices[pos].paid_day_after(s);
                let w = protocol_week(s, f64::from(paid));
                if paid != OPEN && (1..=weeks).contains(&w) {
                    actual[(w - 1) as usize] += rows.amount_base[i];
                }
            }
            out.extend(
                fc.weekly
                    .iter()
                    .zip(&actual)
                    .zip(1..)
                    .map(|((f, &a), w)| (w, WeekOutcome { expected: f[0], p10: f[1], p90: f[2], actual: a })),
            );
        }
    }
    Ok(out)
}

/// Sets the spread of the cash forecast's weekly totals in `fit`'s correlations, and the
/// factors of its weeks' expectations, from how its forecast missed on the newest weeks
/// ([`week_spread`], [`super::copula::week_bias`]; see `newest_weeks` for the
/// arguments). Nothing without correlations; each only with its setting of `plan` on.
///
/// # Errors
/// [`GbdtError`] on an input width mismatch.
#[allow(clippy::too_many_arguments)]
pub fn learn_from_newest_weeks(
    h: &History,
    d: i32,
    fit: &mut CashFit,
    cap_days: i32,
    plan: SnapshotPlan,
    pay: &PaymentDateModel,
    closed: &Holidays,
    forecast: CashForecaster<'_>,
) -> Result<(), GbdtError> {
    if fit.copula.is_none() || !(plan.week_spread || plan.week_bias) {
        return Ok(());
    }
    let weeks = newest_weeks(h, d, fit, cap_days, plan, pay, closed, forecast)?;
    if let Some(c) = fit.copula.as_mut() {
        let outcomes: Vec<WeekOutcome> = weeks.iter().map(|w| w.1).collect();
        if plan.week_spread {
            c.week_spread = week_spread(&outcomes).unwrap_or(0.0);
        }
        if plan.week_bias {
            c.week_bias = super::copula::week_bias(&weeks);
        }
    }
    Ok(())
}

/// The timing correlations of one as-of date's forecast.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Correlations {
    /// Shared by a customer's invoices.
    pub customer: f64,
    /// Shared by every invoice (the portfolio running early or late).
    pub period: f64,
}

/// The settlements the data know only to a span of days, between the last open-items
/// listing that shows an invoice and the first that no longer does: the backtest's
/// outcome for each is a day picked in its span ([`crate::features::history::Inv::paid_day`]),
/// so its payment-date errors and weekly actuals carry that spread on top of the
/// models' own.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SettlementSpans {
    /// Share of the settled invoices known to a span of more than one day.
    pub share: f64,
    /// Their spans' mean width in days.
    pub mean_days: f64,
}

impl SettlementSpans {
    /// The spans of `h`'s settled invoices; None when every settlement has its day.
    pub fn of(h: &History) -> Option<Self> {
        let (mut settled, mut spans, mut days) = (0usize, 0usize, 0u64);
        for r in h.invoices.iter().filter(|r| r.paid_date != OPEN) {
            settled += 1;
            if r.paid_window > 0 {
                spans += 1;
                days += u64::from(r.paid_window) + 1;
            }
        }
        (spans > 0)
            .then(|| SettlementSpans { share: spans as f64 / settled as f64, mean_days: days as f64 / spans as f64 })
    }
}

/// Backtest results.
#[derive(Debug, Clone, Serialize)]
pub struct BacktestReport {
    /// As-of dates used.
    pub as_of_dates: Vec<String>,
    /// Invoices scored for payment date and risk (settled by the end of the data).
    pub n_scored: usize,
    /// Open-invoice rows used for the cash forecast, summed over dates.
    pub n_cash_rows: usize,
    /// One entry per method (model first, then baselines).
    pub methods: Vec<MethodMetrics>,
    /// The spread of the forecast's weekly totals learned at each as-of date with the
    /// cash model ([`super::copula::week_spread`]; empty without a forecast, 0 at a date
    /// without learned correlations).
    pub week_spread: Vec<f64>,
    /// The timing correlations the forecast drew with at each as-of date, learned with
    /// the cash model ([`super::copula::estimate`]; empty without a forecast, null at a
    /// date with too few snapshots, where the forecast's defaults apply).
    pub correlations: Vec<Option<Correlations>>,
    /// Where the data tell settlements only to a span of days (open-items listings):
    /// how many, and how wide. Absent from the JSON otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub settlement_spans: Option<SettlementSpans>,
    /// With [`BacktestParams::keep_rows`]: every invoice open at every as-of date
    /// with the remaining-time model's quantiles and what happened (for analysis; not
    /// in the JSON report).
    #[serde(skip)]
    pub cash_rows: Vec<CashRow>,
    /// With [`BacktestParams::keep_rows`]: every invoice the model scored, with its
    /// prediction and outcome (for analysis and paired comparisons; not in the JSON
    /// report).
    #[serde(skip)]
    pub scored_rows: Vec<ScoredRow>,
}

/// An invoice scored at an as-of date (issued since the previous one, open then,
/// settled by the end of the data): the model's prediction and what happened.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoredRow {
    /// As-of day.
    pub as_of: i32,
    /// Customer id.
    pub customer_id: String,
    /// Issue day.
    pub invoice_date: i32,
    /// Due day.
    pub due_date: i32,
    /// Predicted paid day at p10, p50 and p90 (rounded, as scored).
    pub paid: [i32; 3],
    /// P(paid after the due date).
    pub p_late: f64,
    /// Actual paid day (on open-items listings, the day picked in the settlement's
    /// span: for an invoice issued by the last listing before the as-of date, scored
    /// as open at that listing's day, it can be before the as-of date, and so can
    /// `paid`).
    pub paid_date: i32,
}

impl ScoredRow {
    /// CSV header of [`Self::csv_record`].
    pub const CSV_HEADER: [&'static str; 9] = [
        "as_of",
        "customer_id",
        "invoice_date",
        "due_date",
        "p10_paid_date",
        "p50_paid_date",
        "p90_paid_date",
        "p_late",
        "paid_date",
    ];

    /// The row's CSV fields (dates as YYYY-MM-DD).
    pub fn csv_record(&self) -> [String; 9] {
        [
            date(self.as_of),
            self.customer_id.clone(),
            date(self.invoice_date),
            date(self.due_date),
            date(self.paid[0]),
            date(self.paid[1]),
            date(self.paid[2]),
            format!("{:.6}", self.p_late),
            date(self.paid_date),
        ]
    }
}

/// A day as YYYY-MM-DD (empty when out of range), for the row files.
fn date(d: i32) -> String {
    date_from_days(d).map(|x| x.to_string()).unwrap_or_default()
}

/// An invoice open at an as-of date, as the cash forecast saw it, and its outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct CashRow {
    /// As-of day.
    pub as_of: i32,
    /// Customer id.
    pub customer_id: String,
    /// Issue day.
    pub invoice_date: i32,
    /// Due day.
    pub due_date: i32,
    /// Open amount in base-currency units.
    pub amount_base: f64,
    /// Days from the as-of date to payment at p10, p50 and p90 of the distribution the
    /// forecast draws from (above `cap_days`: "after the model's horizon"; on listings
    /// older than the as-of date the distribution starts at the last listing's day, and
    /// its days here can be 0 or less: paid already).
    pub days: [f64; 3],
    /// Days from the as-of date to the protocol's placement: the p50 rounded to a day,
    /// on the customer's nearest payment-run day if its settlements follow a calendar.
    pub placed_days: i32,
    /// Its probability of payment within `cap_days`.
    pub within: f64,
    /// The remaining-time model's horizon in days from the distribution's start
    /// (infinite without one).
    pub cap_days: f64,
    /// Days from the as-of date to the payment (0 or less for one paid after the last
    /// listing before the as-of date), None when unpaid at the end of the data.
    pub paid_after_days: Option<i32>,
    /// The distribution's level at the payment day (the middle of its levels at the
    /// day's start and end: uniform over the rows when the distributions are right),
    /// None when unpaid at the end of the data or paid after `cap_days`.
    pub paid_level: Option<f64>,
    /// Probability of payment in each of weeks 1 to [`ROW_WEEKS`] after the as-of date
    /// (days `7(w − 1) + 1` to `7w`), counted as the forecast counts a draw: on its day,
    /// moved to the customer's run day or the next business day. The amount times it,
    /// summed over invoices, is the week's expected inflow before the forecast's
    /// weekly factors, so a group of invoices can be compared with what it received.
    pub week_share: [f64; ROW_WEEKS],
}

/// Weeks after the as-of date whose probability a [`CashRow`] carries.
pub const ROW_WEEKS: usize = 4;

/// [`CashRow::week_share`] of `dist`, whose days count from `gap` days before the
/// as-of date, with `settle` the day (from the as-of date) a payment drawn for a day
/// (from the distribution's origin) goes out on.
fn week_shares(dist: &CashDist, gap: i32, settle: impl Fn(i32) -> i32) -> [f64; ROW_WEEKS] {
    // P(settled by day 7w): a draw's day moves to its run's nearest run day or the next
    // business day, never past a later day's, so it is the level of the last day that
    // settles by then.
    let by = |w: i32| {
        let mut t = 7 * w + gap;
        while t > 0 && settle(t) > 7 * w {
            t -= 1;
        }
        dist.level(f64::from(t))
    };
    let c: [f64; ROW_WEEKS + 1] = std::array::from_fn(|w| by(w as i32));
    std::array::from_fn(|w| (c[w + 1] - c[w]).max(0.0))
}

impl CashRow {
    /// CSV header of [`Self::csv_record`].
    pub const CSV_HEADER: [&'static str; 14 + ROW_WEEKS] = [
        "as_of",
        "customer_id",
        "invoice_date",
        "due_date",
        "days_past_due",
        "amount_base",
        "p10_days",
        "p50_days",
        "p90_days",
        "placed_days",
        "p_within_cap",
        "cap_days",
        "paid_after_days",
        "paid_level",
        "p_week_1",
        "p_week_2",
        "p_week_3",
        "p_week_4",
    ];

    /// The row's CSV fields (dates as YYYY-MM-DD; the outcome's fields empty when unpaid).
    /// Days carry six decimals: the protocol places an invoice at its p50 rounded to
    /// a day, and two decimals could round a day apart from the report (6.497 → 6.50).
    pub fn csv_record(&self) -> [String; 14 + ROW_WEEKS] {
        let [w1, w2, w3, w4] = self.week_share.map(|v| format!("{v:.6}"));
        [
            date(self.as_of),
            self.customer_id.clone(),
            date(self.invoice_date),
            date(self.due_date),
            (self.as_of - self.due_date).to_string(),
            format!("{:.6}", self.amount_base),
            format!("{:.6}", self.days[0]),
            format!("{:.6}", self.days[1]),
            format!("{:.6}", self.days[2]),
            self.placed_days.to_string(),
            format!("{:.4}", self.within),
            self.cap_days.to_string(),
            self.paid_after_days.map_or(String::new(), |d| d.to_string()),
            self.paid_level.map_or(String::new(), |v| format!("{v:.6}")),
            w1,
            w2,
            w3,
            w4,
        ]
    }
}

impl BacktestReport {
    /// The report as a Markdown table.
    pub fn markdown(&self) -> String {
        let mut s = format!(
            "{} as-of dates ({} .. {}), {} invoices scored, {} open-invoice rows forecast\n\n",
            self.as_of_dates.len(),
            self.as_of_dates.first().map_or("-", String::as_str),
            self.as_of_dates.last().map_or("-", String::as_str),
            self.n_scored,
            self.n_cash_rows
        );
        if let Some(sp) = self.settlement_spans {
            s.push_str(&format!(
                "{:.0}% of the settlements are known only to a span between open-items listings ({:.1} days wide on \
                 average): the outcome for each is a day picked in it, so the payment-date errors and weekly \
                 actuals below carry that spread too (docs/DATA.md)\n\n",
                100.0 * sp.share,
                sp.mean_days
            ));
        }
        let with_forecast = self.methods.iter().any(|m| m.forecast_wape.is_some());
        s.push_str("| method | MAE d | median AE d | ±7 d | p10–p90 cov. | late ROC-AUC | late PR-AUC | Brier | WAPE 13 wk | WAPE 4 wk |");
        s.push_str(if with_forecast {
            " forecast WAPE | forecast weeks in p10–p90 | forecast daily WAPE 4 wk |\n"
        } else {
            "\n"
        });
        s.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        s.push_str(if with_forecast { "---:|---:|---:|\n" } else { "\n" });
        for m in &self.methods {
            s.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                m.method,
                fixed(m.mae_days, 2),
                fixed(m.median_ae_days, 1),
                opt(Some(m.within_7d), true),
                opt(m.p10_p90_coverage, true),
                fixed(m.late_roc_auc, 3),
                fixed(m.late_pr_auc, 3),
                fixed(m.late_brier, 3),
                fixed(m.wape, 3),
                fixed(m.wape_4w, 3),
            ));
            if with_forecast {
                s.push_str(&format!(
                    " {} | {} | {} |",
                    opt(m.forecast_wape, false),
                    opt(m.forecast_interval_coverage, true),
                    opt(m.forecast_daily_wape, false)
                ));
            }
            s.push('\n');
        }
        // "method figure d" for each method with the figure.
        let days_by_method = |f: fn(&MethodMetrics) -> Option<f64>| -> Vec<String> {
            self.methods.iter().filter_map(|m| f(m).map(|v| format!("{} {v:.2} d", m.method))).collect()
        };
        let scores = days_by_method(|m| m.p10_p90_interval_score_days);
        if !scores.is_empty() {
            s.push_str(&format!(
                "\nThe scored invoices' p10–p90 paid dates, 80% interval score (width plus ten times the days \
                 outside; lower is better): {}\n",
                scores.join(", ")
            ));
        }
        for m in &self.methods {
            if let Some(dw) = &m.wape_if_right {
                s.push_str(&format!(
                    "\n{}: WAPE 13 wk {:.3}; were its distributions right ({PLACEMENT_DRAWS} draws of the outcomes from them, \
                     same placements) {:.3} ({:.3}–{:.3} in 90% of draws), {:.0}% of draws at or below the actual\n",
                    m.method,
                    m.wape,
                    dw.median,
                    dw.p5_p95[0],
                    dw.p5_p95[1],
                    100.0 * dw.share_at_or_below_actual
                ));
            }
        }
        let crps: Vec<String> = self
            .methods
            .iter()
            .filter_map(|m| {
                m.cash_crps_days.map(|v| match m.intervals.cash_crps_days {
                    Some([lo, hi]) => format!("{} {v:.2} d ({lo:.2}–{hi:.2} over date resamples)", m.method),
                    None => format!("{} {v:.2} d", m.method),
                })
            })
            .collect();
        let ae = days_by_method(|m| m.cash_placement_ae_days);
        if !crps.is_empty() {
            s.push_str(&format!(
                "\nCash distributions invoice by invoice (the open invoices of the as-of dates whose horizon the data \
                 covers, amount-weighted, days to payment capped a day past the horizon): CRPS {}; placements' \
                 absolute error (a point's CRPS) {}\n",
                crps.join(", "),
                ae.join(", ")
            ));
        }
        // One as-of date (the validation slice of `arsight train`) has no intervals.
        let with_intervals = self.methods.iter().any(|m| m.intervals != Intervals::default());
        if with_intervals {
            s.push_str(&format!(
                "\n90% intervals from {RESAMPLES} resamples of the as-of dates (the same resamples for every method)\n\n"
            ));
            s.push_str("| method | MAE d | p10–p90 cov. | late ROC-AUC | Brier | WAPE 13 wk | forecast WAPE |\n");
            s.push_str("|---|---:|---:|---:|---:|---:|---:|\n");
            let range = |v: Option<[f64; 2]>, digits: usize, pct: bool| match v {
                Some([lo, hi]) if pct => format!("{:.1}–{:.1}%", 100.0 * lo, 100.0 * hi),
                Some([lo, hi]) => format!("{lo:.digits$}–{hi:.digits$}"),
                None => "—".to_string(),
            };
            for m in &self.methods {
                let i = &m.intervals;
                s.push_str(&format!(
                    "| {} | {} | {} | {} | {} | {} | {} |\n",
                    m.method,
                    range(i.mae_days, 2, false),
                    range(i.p10_p90_coverage, 1, true),
                    range(i.late_roc_auc, 3, false),
                    range(i.late_brier, 3, false),
                    range(i.wape, 3, false),
                    range(i.forecast_wape, 3, false),
                ));
            }
        }
        // Cold starts apart, when there are any.
        if self.methods.iter().any(|m| m.by_history.without.n_scored > 0) {
            s.push_str("\nBy the customer's history at the as-of date\n\n");
            s.push_str("| method | customers | scored | MAE d | ±7 d | p10–p90 cov. | late ROC-AUC | Brier |\n");
            s.push_str("|---|---|---:|---:|---:|---:|---:|---:|\n");
            for m in &self.methods {
                for (group, g) in
                    [("with settled invoices", &m.by_history.with_history), ("without", &m.by_history.without)]
                {
                    s.push_str(&format!("| {} | {} | {} |\n", m.method, group, scored_cells(g)));
                }
            }
        }
        // The model date by date (the JSON report has every method's).
        if let Some(m) = self.methods.first().filter(|m| m.by_date.len() > 1) {
            s.push_str(&format!("\n{}: by as-of date\n\n", m.method));
            s.push_str("| as-of | scored | MAE d | ±7 d | p10–p90 cov. | late ROC-AUC | Brier | WAPE 13 wk | forecast WAPE |\n");
            s.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
            for r in &m.by_date {
                s.push_str(&format!(
                    "| {} | {} | {} | {} |\n",
                    r.as_of,
                    scored_cells(&r.scored),
                    opt(r.wape, false),
                    opt(r.forecast_wape, false),
                ));
            }
        }
        for m in self.methods.iter().filter(|m| !m.forecast_by_week.is_empty()) {
            s.push_str(&format!(
                "\n{}: cash forecast by week after the as-of date (weeks with an inflow forecast or received)\n\n",
                m.method
            ));
            s.push_str(
                "| week | dates | expected / actual | below p10 | inside p10–p90 | above p90 | width / actual | interval score |\n\
                 |---:|---:|---:|---:|---:|---:|---:|---:|\n",
            );
            for w in &m.forecast_by_week {
                s.push_str(&format!(
                    "| {} | {} | {} | {:.0}% | {:.0}% | {:.0}% | {} | {} |\n",
                    w.week,
                    w.dates,
                    w.expected_over_actual.map_or("—".to_string(), |r| format!("{r:.2}")),
                    100.0 * w.below_p10,
                    100.0 * (1.0 - w.below_p10 - w.above_p90),
                    100.0 * w.above_p90,
                    opt(w.width_over_actual, false),
                    opt(w.interval_score, false),
                ));
            }
            if let (Some(score), Some(width)) = (m.forecast_interval_score, m.forecast_interval_width) {
                s.push_str(&format!(
                    "\nThe weekly p10–p90 bands (amounts over the weeks' actual inflow): width {width:.3}, \
                     80% interval score {score:.3}{}",
                    m.intervals
                        .forecast_interval_score
                        .map_or(String::new(), |[lo, hi]| format!(" ({lo:.3}–{hi:.3} over date resamples)")),
                ));
                if let Some(b) = m.forecast_band_scale {
                    s.push_str(&format!(
                        "; in hindsight the lowest score, {:.3}, had the bands' distances from the expectation \
                         times {:.2}",
                        b.interval_score, b.scale
                    ));
                }
                s.push('\n');
            }
            if !self.week_spread.is_empty() {
                let mut v = self.week_spread.clone();
                v.sort_by(f64::total_cmp);
                s.push_str(&format!(
                    "\nSpread of the weekly totals learned on the newest weeks before each date: {:.3} to {:.3} (median {:.3}); the scored weeks needed {} more\n",
                    v[0],
                    v[v.len() - 1],
                    quantile_sorted(&v, 0.5),
                    opt(m.forecast_spread_missing, false),
                ));
            }
            let learned: Vec<Correlations> = self.correlations.iter().flatten().copied().collect();
            if !learned.is_empty() {
                let range = |f: fn(&Correlations) -> f64| {
                    let mut v: Vec<f64> = learned.iter().map(f).collect();
                    v.sort_by(f64::total_cmp);
                    format!("{:.3} to {:.3} (median {:.3})", v[0], v[v.len() - 1], quantile_sorted(&v, 0.5))
                };
                s.push_str(&format!(
                    "\nTiming correlations learned at {} of {} dates: within a customer {}, across the portfolio {}\n",
                    learned.len(),
                    self.correlations.len(),
                    range(|c| c.customer),
                    range(|c| c.period),
                ));
            }
        }
        s
    }
}

/// A cell of the report's tables: a share as a percentage, another figure to three
/// decimals, "—" when undefined.
/// A figure, or "—" when there is none: absent, or undefined (nothing scored, no
/// amount to weigh by).
fn opt(v: Option<f64>, pct: bool) -> String {
    match v.filter(|v| v.is_finite()) {
        Some(v) if pct => format!("{:.1}%", 100.0 * v),
        Some(v) => format!("{v:.3}"),
        None => "—".to_string(),
    }
}

/// `v` to `digits` decimals, or "—" when it is undefined.
fn fixed(v: f64, digits: usize) -> String {
    if v.is_finite() {
        format!("{v:.digits$}")
    } else {
        "—".to_string()
    }
}

/// The markdown cells of [`ScoredMetrics`]: scored | MAE | ±7 d | p10–p90 | ROC-AUC | Brier.
fn scored_cells(g: &ScoredMetrics) -> String {
    format!(
        "{} | {} | {} | {} | {} | {}",
        g.n_scored,
        g.mae_days.map_or("—".to_string(), |v| format!("{v:.2}")),
        opt(g.within_7d, true),
        opt(g.p10_p90_coverage, true),
        opt(g.late_roc_auc, false),
        opt(g.late_brier, false),
    )
}

/// [`WeekCalibration`] per week after the as-of date; `week[i]` is the week (from 0)
/// of `forecast[i]` and `actual[i]`.
fn by_week(forecast: &[[f64; 3]], actual: &[f64], week: &[usize]) -> Vec<WeekCalibration> {
    let n = week.iter().max().map_or(0, |w| w + 1);
    (0..n)
        .filter_map(|w| {
            let rows: Vec<(&[f64; 3], f64)> = (0..week.len())
                .filter(|&i| week[i] == w && (forecast[i][2] > 0.0 || actual[i] > 0.0))
                .map(|i| (&forecast[i], actual[i]))
                .collect();
            let share = |f: &dyn Fn(&[f64; 3], f64) -> bool| {
                rows.iter().filter(|(q, a)| f(q, *a)).count() as f64 / rows.len() as f64
            };
            let bands = band_ratios(rows.iter().copied(), 1.0);
            (!rows.is_empty()).then(|| WeekCalibration {
                week: w + 1,
                dates: rows.len(),
                expected_over_actual: Some(rows.iter().map(|(_, a)| a).sum::<f64>())
                    .filter(|a| *a > 0.0)
                    .map(|a| rows.iter().map(|(q, _)| q[0]).sum::<f64>() / a),
                below_p10: share(&|q, a| a < q[1]),
                above_p90: share(&|q, a| a > q[2]),
                width_over_actual: bands.map(|r| r[1]),
                interval_score: bands.map(|r| r[0]),
            })
        })
        .collect()
}

/// Share of weeks with `actual` inside the forecast's `[p10, p90]`, over the weeks with
/// an inflow forecast (p90 above zero) or received; None without such weeks.
fn interval_coverage(forecast: &[[f64; 3]], actual: &[f64]) -> Option<f64> {
    let weeks: Vec<(&[f64; 3], f64)> =
        forecast.iter().zip(actual).filter(|(f, a)| f[2] > 0.0 || **a > 0.0).map(|(f, a)| (f, *a)).collect();
    let inside = weeks.iter().filter(|(f, a)| f[1] <= *a && *a <= f[2]).count();
    (!weeks.is_empty()).then(|| inside as f64 / weeks.len() as f64)
}

/// The protocol's as-of dates for a history.
pub fn as_of_dates(h: &History, p: &BacktestParams) -> Vec<i32> {
    let mut dates: Vec<i32> = h.invoices.iter().map(|r| r.invoice_date).collect();
    if dates.is_empty() {
        return Vec::new();
    }
    dates.sort_unstable();
    let t80 = dates[((dates.len() as f64 * 0.8).ceil() as usize).saturating_sub(1)];
    let last = p.to.unwrap_or(dates[dates.len() - 1]);
    let mut out = Vec::new();
    let mut d = p.from.unwrap_or(t80);
    while d <= last {
        out.push(d);
        d += p.every_days.max(1);
    }
    out
}

#[derive(Default)]
struct Pool {
    pred: Vec<f64>,
    lo: Vec<f64>,
    hi: Vec<f64>,
    actual: Vec<f64>,
    p_late: Vec<f64>,
    late: Vec<bool>,
    f: Vec<f64>,
    a: Vec<f64>,
    f4: Vec<f64>,
    a4: Vec<f64>,
    /// Forecast (expected, p10, p90) and actual per scored week.
    fc: Vec<[f64; 3]>,
    fa: Vec<f64>,
    /// Forecast expected and actual inflow per scored day.
    fd: Vec<f64>,
    ad: Vec<f64>,
    /// Week after the as-of date (from 0) of each of them.
    fweek: Vec<usize>,
    /// As-of date (index) of each scored invoice, of each protocol week (`f`, `a`) and
    /// of each forecast week (`fc`, `fa`).
    date: Vec<usize>,
    wdate: Vec<usize>,
    fdate: Vec<usize>,
    /// Whether each scored invoice's customer had a settled invoice at the as-of date.
    history: Vec<bool>,
    /// Per draw of outcomes from the method's own distributions ([`drawn_weeks`]):
    /// Σ|placed − drawn| and Σ drawn over the protocol's weeks, summed over dates
    /// (empty for a method without distributions).
    drawn_err: Vec<f64>,
    drawn_tot: Vec<f64>,
    /// Per as-of date (index `cdate`) whose horizon the data covers, over its open
    /// invoices: Σ amount × CRPS of the method's distribution (NaN without one),
    /// Σ amount × |placed − paid| (days, both capped past the horizon), Σ amount.
    cdate: Vec<usize>,
    cscore: Vec<[f64; 3]>,
}

/// What one as-of date adds to the report.
struct DateOut {
    pools: Vec<Pool>,
    week_spread: Option<f64>,
    correlations: Option<Option<Correlations>>,
    cash_rows: Vec<CashRow>,
    scored_rows: Vec<ScoredRow>,
    n_scored: usize,
    n_cash: usize,
}

impl Pool {
    /// [`ScoredMetrics`] of the scored rows `ix`.
    fn scored(&self, ix: &[usize], with_interval: bool) -> ScoredMetrics {
        let finite = |v: f64| v.is_finite().then_some(v);
        let pick = |v: &[f64]| -> Vec<f64> { ix.iter().map(|&i| v[i]).collect() };
        let (pred, actual, p_late) = (pick(&self.pred), pick(&self.actual), pick(&self.p_late));
        let late: Vec<bool> = ix.iter().map(|&i| self.late[i]).collect();
        ScoredMetrics {
            n_scored: ix.len(),
            mae_days: finite(metrics::mae(&pred, &actual)),
            within_7d: finite(metrics::within(&pred, &actual, 7.0)),
            p10_p90_coverage: if with_interval {
                finite(metrics::coverage(&pick(&self.lo), &pick(&self.hi), &actual))
            } else {
                None
            },
            late_roc_auc: if late.iter().any(|&l| l) && late.iter().any(|&l| !l) {
                finite(metrics::roc_auc(&p_late, &late))
            } else {
                None
            },
            late_brier: finite(metrics::brier(&p_late, &late)),
        }
    }

    /// [`ScoredMetrics`] of the invoices whose customer had settled history at the
    /// as-of date, and of those whose customer had none.
    fn by_history(&self, with_interval: bool) -> HistorySplit {
        let of = |h: bool| -> Vec<usize> { (0..self.history.len()).filter(|&i| self.history[i] == h).collect() };
        HistorySplit {
            with_history: self.scored(&of(true), with_interval),
            without: self.scored(&of(false), with_interval),
        }
    }

    /// [`DateMetrics`] for each date index with scored rows or weeks; `dates[k]` is the
    /// day of index `k`.
    fn by_date(&self, dates: &[i32], with_interval: bool) -> Vec<DateMetrics> {
        let finite = |v: f64| v.is_finite().then_some(v);
        let rows_of = |of: &[usize], k: usize| -> Vec<usize> { (0..of.len()).filter(|&i| of[i] == k).collect() };
        let pick = |v: &[f64], ix: &[usize]| -> Vec<f64> { ix.iter().map(|&i| v[i]).collect() };
        let mut used: Vec<usize> = self.date.iter().chain(&self.wdate).chain(&self.fdate).copied().collect();
        used.sort_unstable();
        used.dedup();
        used.into_iter()
            .map(|k| {
                // The date's cash score sums, where the data covers its horizon.
                let cash = self.cdate.iter().position(|&c| c == k).map(|i| &self.cscore[i]);
                let ix = rows_of(&self.date, k);
                let wk = rows_of(&self.wdate, k);
                let fk = rows_of(&self.fdate, k);
                let expected: Vec<f64> = fk.iter().map(|&i| self.fc[i][0]).collect();
                let [score, _, inflow] = band_sums(fk.iter().map(|&i| (&self.fc[i], self.fa[i])), 1.0);
                DateMetrics {
                    as_of: date_from_days(dates[k]).map(|x| x.to_string()).unwrap_or_default(),
                    scored: self.scored(&ix, with_interval),
                    wape: finite(metrics::wape(&pick(&self.f, &wk), &pick(&self.a, &wk))),
                    forecast_wape: finite(metrics::wape(&expected, &pick(&self.fa, &fk))),
                    forecast_interval_score: finite(score / inflow),
                    forecast_inflow: (inflow > 0.0).then_some(inflow),
                    cash_crps_days: cash.and_then(|c| cash_score([c], 0)),
                    cash_amount_base: cash.map(|c| c[2]),
                }
            })
            .collect()
    }

    /// Appends `other`'s rows (a later as-of date's) to this pool's.
    fn append(&mut self, other: Pool) {
        let Pool {
            pred,
            lo,
            hi,
            actual,
            p_late,
            late,
            f,
            a,
            f4,
            a4,
            fc,
            fa,
            fd,
            ad,
            fweek,
            date,
            wdate,
            fdate,
            history,
            drawn_err,
            drawn_tot,
            cdate,
            cscore,
        } = other;
        self.cdate.extend(cdate);
        self.cscore.extend(cscore);
        for (mine, theirs) in [(&mut self.drawn_err, drawn_err), (&mut self.drawn_tot, drawn_tot)] {
            if mine.is_empty() {
                *mine = theirs;
            } else if !theirs.is_empty() {
                mine.iter_mut().zip(theirs).for_each(|(a, b)| *a += b);
            }
        }
        self.pred.extend(pred);
        self.lo.extend(lo);
        self.hi.extend(hi);
        self.actual.extend(actual);
        self.p_late.extend(p_late);
        self.late.extend(late);
        self.f.extend(f);
        self.a.extend(a);
        self.f4.extend(f4);
        self.a4.extend(a4);
        self.fc.extend(fc);
        self.fa.extend(fa);
        self.fd.extend(fd);
        self.ad.extend(ad);
        self.fweek.extend(fweek);
        self.date.extend(date);
        self.wdate.extend(wdate);
        self.fdate.extend(fdate);
        self.history.extend(history);
    }

    /// [`Intervals`] over `draws`, each a resample of as-of date indices.
    fn intervals(&self, draws: &[Vec<usize>], with_interval: bool) -> Intervals {
        let rows = |of: &[usize]| Resampler::new(of, draws);
        let (scored, weeks, fweeks) = (rows(&self.date), rows(&self.wdate), rows(&self.fdate));
        let pick = |v: &[f64], ix: &[usize]| -> Vec<f64> { ix.iter().map(|&i| v[i]).collect() };
        let late = |ix: &[usize]| -> Vec<bool> { ix.iter().map(|&i| self.late[i]).collect() };
        Intervals {
            mae_days: scored.interval(|ix| metrics::mae(&pick(&self.pred, ix), &pick(&self.actual, ix))),
            p10_p90_coverage: if with_interval {
                scored
                    .interval(|ix| metrics::coverage(&pick(&self.lo, ix), &pick(&self.hi, ix), &pick(&self.actual, ix)))
            } else {
                None
            },
            late_roc_auc: scored.interval(|ix| metrics::roc_auc(&pick(&self.p_late, ix), &late(ix))),
            late_brier: scored.interval(|ix| metrics::brier(&pick(&self.p_late, ix), &late(ix))),
            wape: weeks.interval(|ix| metrics::wape(&pick(&self.f, ix), &pick(&self.a, ix))),
            forecast_wape: fweeks.interval(|ix| {
                let expected: Vec<f64> = ix.iter().map(|&i| self.fc[i][0]).collect();
                metrics::wape(&expected, &pick(&self.fa, ix))
            }),
            cash_crps_days: rows(&self.cdate)
                .interval(|ix| cash_score(ix.iter().map(|&i| &self.cscore[i]), 0).unwrap_or(f64::NAN)),
            forecast_interval_score: fweeks.interval(|ix| {
                band_ratios(ix.iter().map(|&i| (&self.fc[i], self.fa[i])), 1.0).map_or(f64::NAN, |r| r[0])
            }),
        }
    }
}

/// The rows of each resample of the as-of dates (rows of a date drawn twice appear
/// twice), built once and read by every metric.
struct Resampler {
    /// Distinct dates with rows.
    n_dates: usize,
    samples: Vec<Vec<usize>>,
}

impl Resampler {
    /// `date[i]`: the as-of date index of row `i`.
    fn new(date: &[usize], draws: &[Vec<usize>]) -> Self {
        let mut by_date: HashMap<usize, Vec<usize>> = HashMap::new();
        for (i, &k) in date.iter().enumerate() {
            by_date.entry(k).or_default().push(i);
        }
        let samples = if by_date.len() < 2 {
            Vec::new()
        } else {
            draws.iter().map(|draw| draw.iter().filter_map(|k| by_date.get(k)).flatten().copied().collect()).collect()
        };
        Resampler { n_dates: by_date.len(), samples }
    }

    /// 5th and 95th percentiles of `stat` over the resamples; None with fewer than two
    /// dates or no finite value.
    fn interval(&self, stat: impl Fn(&[usize]) -> f64) -> Option<[f64; 2]> {
        if self.n_dates < 2 {
            return None;
        }
        let mut v: Vec<f64> = self.samples.iter().map(|ix| stat(ix)).filter(|x| x.is_finite()).collect();
        v.sort_by(f64::total_cmp);
        (!v.is_empty()).then(|| [quantile_sorted(&v, 0.05), quantile_sorted(&v, 0.95)])
    }
}

/// `n` resamples, with replacement, of the date indices in `dates`.
fn date_draws(dates: &[usize], n: usize, seed: u64) -> Vec<Vec<usize>> {
    let mut r = crate::rng::Rng::new(seed, 0);
    let hi = dates.len() as i64 - 1;
    (0..n).map(|_| (0..dates.len()).map(|_| dates[r.int(0, hi) as usize]).collect()).collect()
}

/// Per-method predictions for a set of rows: paid day (p10, p50, p90) and P(late).
type Predict<'a> = Box<dyn Fn(&Rows, i32) -> Result<(Vec<[f64; 3]>, Vec<f64>), GbdtError> + 'a>;

/// Runs the backtest on a history loaded with an as-of at or after the data's end.
///
/// # Errors
/// [`GbdtError`] when a model cannot be fitted.
pub fn run_backtest(h: &History, p: &BacktestParams) -> Result<BacktestReport, GbdtError> {
    run_backtest_with(h, p, None)
}

/// [`run_backtest`], also scoring the cash forecast that `forecast` makes from the
/// cash model's distributions.
///
/// # Errors
/// [`GbdtError`] when a model cannot be fitted.
pub fn run_backtest_with(
    h: &History,
    p: &BacktestParams,
    forecast: Option<CashForecaster<'_>>,
) -> Result<BacktestReport, GbdtError> {
    let dates = as_of_dates(h, p);
    let names = ["arsight GBDT", "pays on due date", "customer median delay"];
    // Actuals are complete up to the last date the data knows of; when some invoices
    // are still open at the end of the data, weeks after it cannot be scored.
    let data_end =
        h.invoices.iter().map(|r| if r.paid_date == OPEN { r.invoice_date } else { r.paid_date }).max().unwrap_or(0);
    let i_share = feature_index("cust.share_paid_late");
    // One as-of date: every model refitted on what was visible then, its rows scored.
    let one_date = |k: usize| -> Result<Option<DateOut>, GbdtError> {
        let d = dates[k];
        let mut pools: Vec<Pool> = names.iter().map(|_| Pool::default()).collect();
        let (mut n_scored, mut n_cash) = (0, 0);
        let mut cash_rows = Vec::new();
        let mut scored_rows = Vec::new();
        let prev = if k == 0 { d - p.every_days } else { dates[k - 1] };
        let train = training_rows(h, d, p.models.max_training_rows);
        let late_days = train.late_days();
        let Some((pay, _)) = fit_payment(h, &train, d, &p.models.payment, 10)? else {
            return Ok(None);
        };
        let closed = pay.closed(&h.holidays);
        let reg: Vec<usize> = (0..train.len()).filter(|&i| !late_days[i].is_nan()).collect();
        let yr: Vec<f64> = reg.iter().map(|&i| late_days[i]).collect();
        let (risk, _) = fit_risk(h, &train, d, 0, &p.models.risk, &p.models.payment)?;
        let labels = train.late_beyond(0, d);
        let yc: Vec<bool> = labels.iter().flatten().copied().collect();

        // Remaining-time model for the cash forecast of everything open at d, as of the
        // day through which the data tell settlements (the last open-items listing's
        // day; d itself for other data).
        let through = h.known_through(d);
        let horizon_days = 7 * p.horizon_weeks.max(1);
        // The model looks as far from `through` as the horizon reaches from d.
        let reach = horizon_days + (d - through);
        let mut remain = fit_remaining_time(h, through, reach, p.models.cash_snapshots, &p.models.cash)?;
        if let Some(fc) = forecast {
            learn_from_newest_weeks(h, through, &mut remain, reach, p.models.cash_snapshots, &pay, &closed, fc)?;
        }
        let copula = remain.copula;

        // Baseline statistics known at d: each customer's settled delays.
        let mut by_cust: HashMap<usize, Vec<f64>> = HashMap::new();
        for &i in &reg {
            by_cust.entry(train.cust[i]).or_default().push(late_days[i]);
        }
        by_cust.values_mut().for_each(|v| v.sort_by(f64::total_cmp));
        let mut all = yr.clone();
        all.sort_by(f64::total_cmp);
        let global_median = quantile_sorted(&all, 0.5);
        let global_rate = yc.iter().filter(|l| **l).count() as f64 / yc.len().max(1) as f64;

        let model: Predict<'_> = Box::new(|rows: &Rows, d: i32| {
            let q = pay.predict_raw(rows.x.view())?;
            let emp = pay.empirical.as_ref().map(|m| empirical_at(m, h, rows, d));
            let p_emp: Option<Vec<f64>> = emp.as_ref().map(|e| e.iter().map(|o| o.p_issue[0]).collect());
            let pl = risk.predict_with(rows.x.view(), p_emp.as_deref())?;
            let dates = (0..rows.len())
                .map(|i| {
                    let due = f64::from(rows.due_date[i]);
                    let c = pay.finish(q[i], emp.as_ref().map(|e| &e[i]), f64::from(d) - due + 1.0);
                    let days = [due + c[0], due + c[1], due + c[2]];
                    // On the customer's run days (or business days), as `predict` places them.
                    pay.calendar(rows.run[i]).map_or(days, |run| {
                        run.place(days.map(|v| v.round() as i32), d + 1, closed.of(rows.amount_minor[i].1))
                            .map(f64::from)
                    })
                })
                .collect();
            let probs = (0..rows.len())
                .map(|i| match &emp {
                    Some(e) => given_unpaid(pl[i], 0, d - rows.due_date[i], e[i].unpaid),
                    None if d > rows.due_date[i] => 1.0,
                    None => pl[i],
                })
                .collect();
            Ok((dates, probs))
        });
        let due_date: Predict<'_> = Box::new(|rows: &Rows, d: i32| {
            Ok((
                (0..rows.len()).map(|i| [f64::from(rows.due_date[i].max(d + 1)); 3]).collect(),
                (0..rows.len()).map(|i| if d > rows.due_date[i] { 1.0 } else { 0.0 }).collect(),
            ))
        });
        let median: Predict<'_> = Box::new(|rows: &Rows, d: i32| {
            Ok((
                (0..rows.len())
                    .map(|i| {
                        let due = f64::from(rows.due_date[i]);
                        let floor = f64::from(d + 1);
                        match by_cust.get(&rows.cust[i]) {
                            Some(v) => [
                                (due + quantile_sorted(v, 0.1)).max(floor),
                                (due + quantile_sorted(v, 0.5)).max(floor),
                                (due + quantile_sorted(v, 0.9)).max(floor),
                            ],
                            None => [(due + global_median).max(floor); 3],
                        }
                    })
                    .collect(),
                (0..rows.len())
                    .map(|i| {
                        if d > rows.due_date[i] {
                            1.0
                        } else {
                            let s = rows.x[[i, i_share]];
                            if s.is_nan() {
                                global_rate
                            } else {
                                s
                            }
                        }
                    })
                    .collect(),
            ))
        });
        let methods = [model, due_date, median];

        // Scoring set: issued in (prev, d] and open at d. Where the data tell
        // settlements only through `through`, those issued by then are scored as open at
        // `through`, all that is known of them, and their outcome may fall before d; the
        // parts are scored each at its own day. With each part, its rows settled by the
        // end of the data (those with an outcome).
        let scored: Vec<(i32, Rows, Vec<usize>)> = known_parts(h, d, through)
            .into_iter()
            .map(|(at, keep)| {
                let rows = scoring_rows(h, at, |pos| {
                    let r = &h.invoices[pos];
                    keep(pos) && r.invoice_date > prev && r.invoice_date <= d
                });
                let settled = (0..rows.len()).filter(|&i| h.invoices[rows.pos[i]].paid_date != OPEN).collect();
                (at, rows, settled)
            })
            .collect();
        // Cash: everything open at d, inputs as known at d, or where the data run only
        // to `through`, as known then, each invoice's days counted from its `origin` (the
        // baselines only read due dates and customers from these rows).
        let (cash, origin) = open_rows_known(h, d, through);
        n_cash += cash.len();
        n_scored += scored.iter().map(|(_, _, settled)| settled.len()).sum::<usize>();
        let horizon = p.horizon_weeks.max(1);
        for (m, f) in methods.iter().enumerate() {
            let pool = &mut pools[m];
            for (at, scored, settled) in &scored {
                let (q, pl) = f(scored, *at)?;
                for &i in settled {
                    let inv = &h.invoices[scored.pos[i]];
                    let actual = f64::from(inv.paid_day_after(*at));
                    pool.pred.push(q[i][1].round());
                    pool.lo.push(q[i][0].round());
                    pool.hi.push(q[i][2].round());
                    pool.actual.push(actual);
                    pool.p_late.push(pl[i]);
                    pool.late.push(actual > f64::from(scored.due_date[i]));
                    pool.date.push(k);
                    pool.history.push(by_cust.contains_key(&scored.cust[i]));
                    if m == 0 && p.keep_rows {
                        scored_rows.push(ScoredRow {
                            as_of: d,
                            customer_id: h.customers[scored.cust[i]].clone(),
                            invoice_date: inv.invoice_date,
                            due_date: scored.due_date[i],
                            paid: q[i].map(|v| v.round() as i32),
                            p_late: pl[i],
                            paid_date: inv.paid_day_after(*at),
                        });
                    }
                }
            }
            // The distribution of days until payment from the cash model (model only),
            // and the placed (p50) dates.
            let (dists, cap) = match (&remain.model, m) {
                (Some(r), 0) => {
                    let cap = f64::from(reach);
                    (
                        Some(predict_dists(
                            r,
                            remain.within.as_ref(),
                            &remain.early,
                            remain.levels.as_ref(),
                            cash.x.view(),
                            cap,
                        )?),
                        cap,
                    )
                }
                // Without enough snapshots the payment-date model scores the open
                // invoices on their issue-date inputs, as it was trained.
                (None, 0) => {
                    let mut q = Vec::with_capacity(cash.len());
                    // In the order of `cash` (`open_rows_known`).
                    for (at, keep) in known_parts(h, d, through) {
                        let rows = scoring_rows(h, at, keep);
                        q.extend(
                            f(&rows, at)?
                                .0
                                .into_iter()
                                .map(|q| CashDist::from_whole_days(q.map(|v| v - f64::from(at)))),
                        );
                    }
                    (Some(q), f64::INFINITY)
                }
                _ => (None, f64::INFINITY),
            };
            // The calendar each open invoice's payment goes out on, and the day a payment
            // due on `day` goes out (on the customer's run day or business day, as
            // `predict` places its p50).
            let calendars: Vec<_> = cash.run.iter().map(|&r| pay.calendar(r)).collect();
            let settle = |i: usize, day: i32| match calendars[i] {
                Some(r) => r.settle(day, origin[i] + 1, closed.of(cash.amount_minor[i].1)),
                None => day,
            };
            // Days from an invoice's origin: when its payment goes out.
            let settle_after = |i: usize, t: i32| settle(i, origin[i] + t);
            // When each open invoice's payment came, as known at the end of the data.
            let paid_of = |i: usize| h.invoices[cash.pos[i]].paid_day_after(origin[i]);
            let placed: Vec<f64> = match &dists {
                Some(k) => k
                    .iter()
                    .enumerate()
                    .map(|(i, k)| {
                        let day = f64::from(origin[i]) + k.at_level(0.5, cap);
                        if day <= f64::from(origin[i]) + cap {
                            f64::from(settle(i, day.round() as i32))
                        } else {
                            day
                        }
                    })
                    .collect(),
                None => f(&cash, d)?.0.iter().map(|q| q[1]).collect(),
            };
            if let (Some(k), true) = (&dists, p.keep_rows) {
                cash_rows.extend((0..cash.len()).map(|i| {
                    let inv = &h.invoices[cash.pos[i]];
                    let (o, paid) = (origin[i], paid_of(i));
                    CashRow {
                        as_of: d,
                        customer_id: h.customers[cash.cust[i]].clone(),
                        invoice_date: inv.invoice_date,
                        due_date: cash.due_date[i],
                        amount_base: cash.amount_base[i],
                        days: [0.1, 0.5, 0.9].map(|u| k[i].at_level(u, cap) - f64::from(d - o)),
                        placed_days: placed[i].round() as i32 - d,
                        within: k[i].level(cap),
                        cap_days: cap,
                        paid_after_days: (inv.paid_date != OPEN).then(|| paid - d),
                        paid_level: (inv.paid_date != OPEN && f64::from(paid - o) <= cap)
                            .then(|| k[i].level_of_day(f64::from(paid - o))),
                        week_share: week_shares(&k[i], d - o, |t| settle_after(i, t) - d),
                    }
                }));
            }
            let complete = cash.pos.iter().all(|&p| h.invoices[p].paid_date != OPEN);
            if complete || d + horizon_days <= data_end {
                // Every outcome through the horizon is known: score each invoice's
                // distribution and placement, days capped a day past the horizon.
                let top = f64::from(reach + 1);
                let mut sums = [if dists.is_some() { 0.0 } else { f64::NAN }, 0.0, 0.0];
                for i in 0..cash.len() {
                    let (o, paid) = (origin[i], paid_of(i));
                    let y = if paid == OPEN { top } else { f64::from(paid - o).min(top) };
                    let w = cash.amount_base[i];
                    if let Some(k) = &dists {
                        sums[0] += w * metrics::crps(|u| k[i].at_level(u, cap), y, top);
                    }
                    sums[1] += w * ((placed[i] - f64::from(o)).min(top) - y).abs();
                    sums[2] += w;
                }
                pool.cdate.push(k);
                pool.cscore.push(sums);
            }
            let mut fw = vec![0.0; horizon as usize];
            let mut aw = vec![0.0; horizon as usize];
            let bucket = |day: f64| -> Option<usize> {
                let w = protocol_week(d, day);
                (1..=horizon).contains(&w).then(|| (w - 1) as usize)
            };
            for (i, q) in placed.iter().enumerate() {
                if let Some(w) = bucket(q.round()) {
                    fw[w] += cash.amount_base[i];
                }
                let paid = paid_of(i);
                if paid != OPEN {
                    if let Some(w) = bucket(f64::from(paid)) {
                        aw[w] += cash.amount_base[i];
                    }
                }
            }
            let fc = match (forecast, &dists) {
                (Some(fc), Some(dists)) => {
                    let overdue: Vec<bool> = cash.due_date.iter().map(|&due| d > due).collect();
                    let currencies: Vec<_> = cash.amount_minor.iter().map(|a| a.1).collect();
                    let keys = crate::forecast::draw_keys(h, &cash.pos);
                    let case = CashCase {
                        as_of: d,
                        through,
                        origin: &origin,
                        weeks: horizon,
                        keys: &keys,
                        amount_base: &cash.amount_base,
                        overdue: &overdue,
                        dists,
                        cap,
                        copula,
                        calendar: &calendars,
                        closed: &closed,
                        currency: &currencies,
                    };
                    Some(fc(&case))
                }
                _ => None,
            };
            // The weeks the protocol scores: those the data covers (all when every open
            // invoice's outcome is known).
            let weeks = (0..horizon).take_while(|&w| complete || d + 7 * (w + 1) <= data_end).count();
            for w in 0..weeks {
                if let Some(fc) = fc.as_ref().and_then(|fc| fc.weekly.get(w)) {
                    pool.fc.push(*fc);
                    pool.fa.push(aw[w]);
                    pool.fweek.push(w);
                    pool.fdate.push(k);
                }
                pool.f.push(fw[w]);
                pool.a.push(aw[w]);
                pool.wdate.push(k);
                if w < 4 {
                    pool.f4.push(fw[w]);
                    pool.a4.push(aw[w]);
                }
            }
            if let Some(k) = &dists {
                // The same weeks against outcomes drawn from the distributions, each
                // drawn day moved as the placed one was.
                (pool.drawn_err, pool.drawn_tot) = drawn_weeks(
                    k,
                    &cash.amount_base,
                    settle_after,
                    (d, cap),
                    &fw[..weeks],
                    PLACEMENT_DRAWS,
                    p.models.cash.seed,
                );
            }
            if let Some(fc) = &fc {
                let mut ad = vec![0.0; fc.daily.len()];
                for (i, &p) in cash.pos.iter().enumerate() {
                    let after = paid_of(i) - d;
                    if h.invoices[p].paid_date != OPEN && (1..=ad.len() as i32).contains(&after) {
                        ad[after as usize - 1] += cash.amount_base[i];
                    }
                }
                let known = if complete { ad.len() } else { (data_end - d).clamp(0, ad.len() as i32) as usize };
                pool.fd.extend(&fc.daily[..known]);
                pool.ad.extend(&ad[..known]);
            }
        }
        let week_spread = forecast.map(|_| copula.map_or(0.0, |c| c.week_spread));
        let correlations =
            forecast.map(|_| copula.map(|c| Correlations { customer: c.customer_corr, period: c.period_corr }));
        Ok(Some(DateOut { pools, week_spread, correlations, cash_rows, scored_rows, n_scored, n_cash }))
    };
    // The dates are independent: with more than one thread they run side by side (each
    // date's figures do not depend on the thread count), and are pooled in date order.
    let outs: Vec<Result<Option<DateOut>, GbdtError>> = if rayon::current_num_threads() > 1 {
        (0..dates.len()).into_par_iter().map(one_date).collect()
    } else {
        (0..dates.len()).map(one_date).collect()
    };
    let mut pools: Vec<Pool> = names.iter().map(|_| Pool::default()).collect();
    let (mut n_scored, mut n_cash) = (0, 0);
    let mut cash_rows = Vec::new();
    let mut scored_rows = Vec::new();
    let mut spreads = Vec::new();
    let mut correlations = Vec::new();
    for out in outs {
        let Some(o) = out? else { continue };
        spreads.extend(o.week_spread);
        correlations.extend(o.correlations);
        for (pool, part) in pools.iter_mut().zip(o.pools) {
            pool.append(part);
        }
        cash_rows.extend(o.cash_rows);
        scored_rows.extend(o.scored_rows);
        n_scored += o.n_scored;
        n_cash += o.n_cash;
    }
    // The dates with anything scored, resampled once for every method.
    let mut used: Vec<usize> = pools.iter().flat_map(|p| p.date.iter().chain(&p.wdate)).copied().collect();
    used.sort_unstable();
    used.dedup();
    let draws = date_draws(&used, RESAMPLES, 1);
    let methods = names
        .iter()
        .zip(&pools)
        .enumerate()
        .map(|(m, (name, p))| {
            let wape = metrics::wape(&p.f, &p.a);
            let bands = band_ratios(p.fc.iter().zip(p.fa.iter().copied()), 1.0);
            MethodMetrics {
                method: name.to_string(),
                mae_days: metrics::mae(&p.pred, &p.actual),
                median_ae_days: metrics::median_ae(&p.pred, &p.actual),
                within_7d: metrics::within(&p.pred, &p.actual, 7.0),
                p10_p90_coverage: (m != 1).then(|| metrics::coverage(&p.lo, &p.hi, &p.actual)),
                p10_p90_interval_score_days: (m != 1 && !p.actual.is_empty())
                    .then(|| metrics::mean_interval_score(&p.lo, &p.hi, &p.actual, INTERVAL_ALPHA)),
                late_roc_auc: metrics::roc_auc(&p.p_late, &p.late),
                late_pr_auc: metrics::pr_auc(&p.p_late, &p.late),
                late_brier: metrics::brier(&p.p_late, &p.late),
                wape,
                wape_4w: metrics::wape(&p.f4, &p.a4),
                forecast_wape: (!p.fc.is_empty()).then(|| {
                    let expected: Vec<f64> = p.fc.iter().map(|f| f[0]).collect();
                    metrics::wape(&expected, &p.fa)
                }),
                forecast_daily_wape: (!p.fd.is_empty()).then(|| metrics::wape(&p.fd, &p.ad)),
                forecast_interval_coverage: interval_coverage(&p.fc, &p.fa),
                forecast_interval_score: bands.map(|r| r[0]),
                forecast_interval_width: bands.map(|r| r[1]),
                forecast_band_scale: band_scale(&p.fc, &p.fa),
                forecast_spread_missing: week_spread(
                    &p.fc
                        .iter()
                        .zip(&p.fa)
                        .map(|(f, &a)| WeekOutcome { expected: f[0], p10: f[1], p90: f[2], actual: a })
                        .collect::<Vec<_>>(),
                ),
                forecast_by_week: by_week(&p.fc, &p.fa, &p.fweek),
                wape_if_right: drawn_wape(&p.drawn_err, &p.drawn_tot, wape),
                cash_crps_days: cash_score(&p.cscore, 0),
                cash_placement_ae_days: cash_score(&p.cscore, 1),
                intervals: p.intervals(&draws, m != 1),
                by_date: p.by_date(&dates, m != 1),
                by_history: p.by_history(m != 1),
            }
        })
        .collect();
    Ok(BacktestReport {
        as_of_dates: dates.iter().map(|d| date_from_days(*d).map(|x| x.to_string()).unwrap_or_default()).collect(),
        n_scored,
        n_cash_rows: n_cash,
        methods,
        week_spread: spreads,
        correlations,
        settlement_spans: SettlementSpans::of(h),
        cash_rows,
        scored_rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{full_history, generated_dir, quick_backtest_params as quick};

    #[test]
    fn undefined_figures_print_as_a_dash() {
        assert_eq!((fixed(f64::NAN, 2), fixed(1.234, 2)), ("—".to_string(), "1.23".to_string()));
        assert_eq!((opt(Some(f64::NAN), true), opt(Some(0.5), true)), ("—".to_string(), "50.0%".to_string()));
        assert_eq!(opt(None, false), "—");
    }

    /// On open-items listings, an invoice issued by the last listing before the as-of
    /// date is scored as open at the listing's day, all that is known of it: its outcome
    /// can fall before the date, and so can its prediction. Against the true paid days
    /// (which the listings hide), the p50 dates and P(late) come closer than when every
    /// listed invoice is taken as unpaid at the date.
    #[test]
    fn between_listings_invoices_are_scored_from_the_last_listing() {
        let crate::fixtures::ListingsWithTruth { truth, listed, blind, true_paid } =
            crate::fixtures::weekly_listings_with_truth();
        let l = listed.listing_days[listed.listing_days.len() - 16];
        let mut p = quick();
        (p.keep_rows, p.from, p.to, p.horizon_weeks) = (true, Some(l + 4), Some(l + 4 + 42), 4);
        // Rows with an outcome or p10 by the as-of date; against the true days, the
        // mean absolute p50 error and the Brier score of P(late).
        let score = |h: &History| {
            let r = run_backtest(h, &p).unwrap();
            assert_eq!(r.as_of_dates.len(), 4);
            let (mut early, mut sums) = ([0, 0], [0.0; 3]);
            for s in &r.scored_rows {
                early[0] += usize::from(s.paid_date <= s.as_of);
                early[1] += usize::from(s.paid[0] <= s.as_of);
                let Some(Some(t)) = true_paid.get(&(s.customer_id.clone(), s.invoice_date, s.due_date)) else {
                    continue;
                };
                let late = if *t > s.due_date { 1.0 } else { 0.0 };
                sums[0] += f64::from((s.paid[1] - t).abs());
                sums[1] += (s.p_late - late).powi(2);
                sums[2] += 1.0;
            }
            (early, sums[0] / sums[2], sums[1] / sums[2])
        };
        let spans = run_backtest(&listed, &BacktestParams { keep_rows: false, ..p.clone() }).unwrap();
        let sp = spans.settlement_spans.expect("spans on listings");
        assert!(sp.share > 0.9 && (6.0..=7.0).contains(&sp.mean_days), "{sp:?}");
        assert!(spans.markdown().contains("known only to a span between open-items listings (7.0 days wide"));
        assert!(SettlementSpans::of(&truth).is_none());
        let (early, mae, brier) = score(&listed);
        let (early_then, mae_then, brier_then) = score(&blind);
        assert!(early[0] > 0 && early[1] > 0, "{early:?} outcomes and p10s by the as-of date");
        assert_eq!(early_then, [0, 0]);
        assert!(mae < mae_then, "MAE against the true days {mae:.3}, {mae_then:.3} from the date");
        assert!(brier < brier_then, "Brier against the true days {brier:.4}, {brier_then:.4} from the date");
    }

    #[test]
    fn the_backtest_fits_the_models_train_ships() {
        assert_eq!(BacktestParams::default().models, TrainParams::default());
    }

    #[test]
    fn the_protocol_wape_if_right_brackets_outcomes_from_the_distributions_and_not_others() {
        // 400 open invoices over the first seven weeks, placed at their medians.
        let (d, cap) = (1_000, 91.0);
        let mut rng = crate::rng::Rng::new(3, 0);
        let dists: Vec<CashDist> = (0..400)
            .map(|_| {
                let p50 = rng.uniform(2.0, 45.0);
                CashDist::from_quantiles([p50 * 0.5, p50, p50 * 1.6])
            })
            .collect();
        let amount: Vec<f64> = (0..400).map(|_| rng.uniform(10.0, 1_000.0)).collect();
        let week = |day: i32| protocol_week(d, f64::from(day));
        let mut placed = vec![0.0; 13];
        for (k, a) in dists.iter().zip(&amount) {
            placed[week(d + k.at_level(0.5, cap).round() as i32) as usize - 1] += a;
        }
        let (err, tot) = drawn_weeks(&dists, &amount, |_, t| d + t, (d, cap), &placed, PLACEMENT_DRAWS, 7);
        assert_eq!((err.len(), tot.len()), (PLACEMENT_DRAWS, PLACEMENT_DRAWS));
        let (err_right, tot_right) = (err.clone(), tot.clone());
        // Actual outcomes from the same distributions (another stream), and three weeks
        // later (one week later can match the weekly sums as well as the right ones:
        // medians bunch where outcomes spread).
        let actual_wape = |shift: i32, seed: u64| {
            let mut r = crate::rng::Rng::new(seed, 1);
            let mut a = vec![0.0; 13];
            for (k, x) in dists.iter().zip(&amount) {
                let w = week(d + (k.at_level(r.f64(), cap).ceil() as i32).max(1) + shift);
                if (1..=13).contains(&w) {
                    a[w as usize - 1] += x;
                }
            }
            placed.iter().zip(&a).map(|(f, v)| (f - v).abs()).sum::<f64>() / a.iter().sum::<f64>()
        };
        let mut inside = 0;
        for seed in 0..20 {
            let right = drawn_wape(&err, &tot, actual_wape(0, seed)).unwrap();
            inside += usize::from((0.025..=0.975).contains(&right.share_at_or_below_actual));
            let late = drawn_wape(&err, &tot, actual_wape(21, seed)).unwrap();
            assert_eq!(late.share_at_or_below_actual, 1.0, "three weeks late is worse than every draw");
            assert!(right.p5_p95[0] <= right.median && right.median <= right.p5_p95[1]);
        }
        assert!(inside >= 17, "{inside} of 20 right outcomes inside the draws' 95% band");
        // Placed nowhere near the draws: every week is off by both sums.
        let mut far = vec![0.0; 13];
        far[12] = amount.iter().sum();
        let (err, tot) = drawn_weeks(&dists, &amount, |_, t| d + t, (d, cap), &far, 20, 7);
        let w = drawn_wape(&err, &tot, 0.0).unwrap();
        assert!(w.median > 1.9 && w.share_at_or_below_actual == 0.0, "{w:?}");
        // Each drawn day goes through `settle`: three weeks later everywhere misses more
        // than nearly every draw on the right days.
        let plain = drawn_wape(&err_right, &tot_right, 0.0).unwrap();
        let (err, tot) = drawn_weeks(&dists, &amount, |_, t| d + t + 21, (d, cap), &placed, 50, 7);
        assert!(drawn_wape(&err, &tot, 0.0).unwrap().median > plain.p5_p95[1]);
    }

    #[test]
    fn interval_coverage_counts_only_weeks_with_an_inflow() {
        let f = [[10.0, 5.0, 15.0], [10.0, 5.0, 15.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]];
        // Inside, outside, an empty week (left out), a week with an unforecast inflow.
        let a = [12.0, 20.0, 0.0, 3.0];
        assert_eq!(interval_coverage(&f, &a), Some(1.0 / 3.0));
        assert_eq!(interval_coverage(&f[2..3], &a[2..3]), None);
    }

    #[test]
    fn band_scores_charge_width_and_misses_over_the_weeks_with_an_inflow() {
        let f = [[10.0, 5.0, 15.0], [10.0, 5.0, 15.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]];
        // Inside (width 10), above p90 by 5 (10 + 5 · 2 / 0.2), an empty week (left
        // out), an unforecast inflow of 3 (0 + 3 · 10); actual 12 + 20 + 3 = 35.
        let a = [12.0, 20.0, 0.0, 3.0];
        let weeks = || f.iter().zip(a.iter().copied());
        let [score, width] = band_ratios(weeks(), 1.0).unwrap();
        assert!((score - (10.0 + 60.0 + 30.0) / 35.0).abs() < 1e-12, "{score}");
        assert!((width - 20.0 / 35.0).abs() < 1e-12, "{width}");
        // Halved distances from the expectation: [7.5, 12.5] twice, the lower end of a
        // band at zero stays there.
        let [half, _] = band_ratios(weeks(), 0.5).unwrap();
        assert!((half - (5.0 + 5.0 + 75.0 + 30.0) / 35.0).abs() < 1e-12, "{half}");
        assert_eq!(band_ratios(f[2..3].iter().zip([0.0]), 1.0), None);
    }

    #[test]
    fn the_band_scale_in_hindsight_narrows_bands_wider_than_the_misses_and_widens_narrow_ones() {
        // Actual inflows spread ±10% around an expectation of 100, uniformly: the
        // right p10-p90 band is 92-108.
        let a: Vec<f64> = (0..200).map(|i| 90.0 + 20.0 * (i as f64 + 0.5) / 200.0).collect();
        for (half_width, right_scale) in [(16.0, 0.5), (8.0, 1.0), (4.0, 2.0)] {
            let f = vec![[100.0, 100.0 - half_width, 100.0 + half_width]; a.len()];
            let b = band_scale(&f, &a).unwrap();
            assert!((b.scale - right_scale).abs() <= 0.051, "{half_width}: {b:?}");
            let [at_one, _] = band_ratios(f.iter().zip(a.iter().copied()), 1.0).unwrap();
            assert!(b.interval_score <= at_one + 1e-12);
        }
        assert_eq!(band_scale(&[], &[]), None);
    }

    #[test]
    fn weeks_after_the_as_of_date_are_reported_apart() {
        // Two dates; week 1 short once and inside once, week 2 above p90 once and an
        // empty week (left out), week 3 with nothing forecast but an inflow.
        let f = [[10.0, 8.0, 12.0], [10.0, 8.0, 12.0], [4.0, 2.0, 6.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]];
        let a = [6.0, 10.0, 9.0, 0.0, 5.0];
        let w = by_week(&f, &a, &[0, 0, 1, 1, 2]);
        assert_eq!(w.len(), 3);
        assert_eq!((w[0].week, w[0].dates, w[0].below_p10, w[0].above_p90), (1, 2, 0.5, 0.0));
        assert!((w[0].expected_over_actual.unwrap() - 20.0 / 16.0).abs() < 1e-12);
        assert_eq!((w[1].week, w[1].dates, w[1].below_p10, w[1].above_p90), (2, 1, 0.0, 1.0));
        assert_eq!((w[2].dates, w[2].expected_over_actual, w[2].above_p90), (1, Some(0.0), 1.0));
        // A week where something was forecast and nothing came has no ratio.
        let none = by_week(&[[3.0, 1.0, 5.0]], &[0.0], &[0]);
        assert_eq!((none[0].expected_over_actual, none[0].below_p10), (None, 1.0));
        assert!(by_week(&[], &[], &[]).is_empty());
        // Week 1: widths 4 + 4, misses below p10 by 2 (2 · 2 / 0.2 = 20), actual 16.
        assert!((w[0].width_over_actual.unwrap() - 8.0 / 16.0).abs() < 1e-12);
        assert!((w[0].interval_score.unwrap() - 28.0 / 16.0).abs() < 1e-12);
        assert_eq!(none[0].interval_score, None);
    }

    /// A pool with one scored invoice per (date, error) and one protocol week per date.
    fn pool_of(errors: &[(usize, f64)], weeks: &[(usize, f64, f64)]) -> Pool {
        let mut p = Pool::default();
        for (i, &(k, e)) in errors.iter().enumerate() {
            p.pred.push(100.0 + e);
            p.actual.push(100.0);
            p.lo.push(95.0 + e);
            p.hi.push(105.0 + e);
            p.p_late.push(if i % 2 == 0 { 0.8 } else { 0.3 });
            p.late.push(i % 3 == 0);
            p.date.push(k);
        }
        for &(k, f, a) in weeks {
            p.f.push(f);
            p.a.push(a);
            p.wdate.push(k);
        }
        p
    }

    #[test]
    fn figures_by_date_are_each_dates_own() {
        // Date 0: errors 2 and 4 days, a week forecast 8 against 10; date 1: nothing
        // scored, a week 15 against 10; date 2: error 10, no week.
        let p = pool_of(&[(0, 2.0), (0, 4.0), (2, 10.0)], &[(0, 8.0, 10.0), (1, 15.0, 10.0)]);
        let days = [19_000, 19_014, 19_028];
        let r = p.by_date(&days, true);
        assert_eq!(r.iter().map(|d| d.as_of.as_str()).collect::<Vec<_>>(), ["2022-01-08", "2022-01-22", "2022-02-05"]);
        assert_eq!(r.iter().map(|d| d.scored.n_scored).collect::<Vec<_>>(), [2, 0, 1]);
        assert_eq!(r.iter().map(|d| d.scored.mae_days).collect::<Vec<_>>(), [Some(3.0), None, Some(10.0)]);
        assert_eq!(r.iter().map(|d| d.scored.within_7d).collect::<Vec<_>>(), [Some(1.0), None, Some(0.0)]);
        // The intervals (±5 days around the prediction) hold the actual date only
        // within 5 days.
        assert_eq!(r[0].scored.p10_p90_coverage, Some(1.0));
        assert_eq!(r[2].scored.p10_p90_coverage, Some(0.0));
        assert_eq!(p.by_date(&days, false)[0].scored.p10_p90_coverage, None);
        assert_eq!(r.iter().map(|d| d.wape).collect::<Vec<_>>(), [Some(0.2), Some(0.5), None]);
        // Date 0's labels are late and on time (ROC-AUC defined); date 2 has one label.
        assert!(r[0].scored.late_roc_auc.is_some() && r[2].scored.late_roc_auc.is_none());
        assert!(r.iter().all(|d| d.forecast_wape.is_none()));
        // By history: the first two invoices' customers had settled invoices.
        let mut p = p;
        p.history = vec![true, true, false];
        let h = p.by_history(true);
        assert_eq!((h.with_history.n_scored, h.with_history.mae_days), (2, Some(3.0)));
        assert_eq!((h.without.n_scored, h.without.mae_days, h.without.late_roc_auc), (1, Some(10.0), None));
    }

    #[test]
    fn date_resamples_draw_only_the_given_dates_and_repeat_with_the_seed() {
        let d = date_draws(&[2, 5, 9], 200, 1);
        assert_eq!(d.len(), 200);
        assert!(d.iter().all(|x| x.len() == 3 && x.iter().all(|k| [2, 5, 9].contains(k))));
        // Every date turns up, and resamples differ from one another.
        assert!([2, 5, 9].iter().all(|k| d.iter().any(|x| x.contains(k))));
        assert!(d.iter().any(|x| x != &d[0]));
        assert_eq!(d, date_draws(&[2, 5, 9], 200, 1));
        assert_ne!(d, date_draws(&[2, 5, 9], 200, 2));
    }

    #[test]
    fn date_intervals_lie_between_the_dates_own_figures() {
        // Date 0 errs by 2 days on each invoice, date 1 by 6, date 2 by 10: any resample's
        // MAE is a mix of the three, so the interval lies within [2, 10] and is wide; a
        // resample of date 0 alone (or date 2 alone) is 1 in 27, inside the 5% tails.
        let errors: Vec<(usize, f64)> = (0..3).flat_map(|k| (0..4).map(move |_| (k, 2.0 + 4.0 * k as f64))).collect();
        let weeks = [(0, 10.0, 10.0), (1, 5.0, 10.0), (2, 20.0, 10.0)];
        let p = pool_of(&errors, &weeks);
        let draws = date_draws(&[0, 1, 2], RESAMPLES, 1);
        let i = p.intervals(&draws, true);
        let [lo, hi] = i.mae_days.unwrap();
        assert!(lo > 2.0 && lo < 4.0 && hi > 8.0 && hi < 10.0, "{lo} {hi}");
        // WAPE per date 0, 0.5 and 1: every resample's pooled WAPE is within [0, 1].
        let [wl, wh] = i.wape.unwrap();
        assert!((0.0..0.3).contains(&wl) && wh > 0.6 && wh <= 1.0, "{wl} {wh}");
        // Coverage: only date 0's intervals (2 days off) hold the actual date.
        let [cl, ch] = i.p10_p90_coverage.unwrap();
        assert!((0.0..0.2).contains(&cl) && ch > 0.5 && ch <= 1.0, "{cl} {ch}");
        assert_eq!(p.intervals(&draws, false).p10_p90_coverage, None);
        // No forecast weeks: no interval for them.
        assert_eq!(i.forecast_wape, None);

        // Dates alike: the interval closes on the figure itself.
        let same: Vec<(usize, f64)> = (0..3).flat_map(|k| [(k, 3.0), (k, 5.0)]).collect();
        let i = pool_of(&same, &[(0, 8.0, 10.0), (1, 8.0, 10.0), (2, 8.0, 10.0)]).intervals(&draws, true);
        assert_eq!(i.mae_days, Some([4.0, 4.0]));
        let [wl, wh] = i.wape.unwrap();
        assert!((wl - 0.2).abs() < 1e-12 && (wh - 0.2).abs() < 1e-12, "{wl} {wh}");

        // One date says nothing of how the figures vary between dates.
        let one = pool_of(&[(0, 3.0), (0, 5.0)], &[(0, 1.0, 2.0)]);
        assert_eq!(one.intervals(&date_draws(&[0], 50, 1), true), Intervals::default());
    }

    #[test]
    fn the_model_beats_pays_on_due_date_on_generated_history() {
        let dir = generated_dir(60, 4_000, "2023-01-01", "2024-06-30", 3);
        let h = full_history(dir.path());
        // A horizon of eight weeks: the data covers the horizon of the first dates.
        let r = run_backtest(&h, &BacktestParams { keep_rows: true, horizon_weeks: 8, ..quick() }).unwrap();
        assert!(r.as_of_dates.len() >= 5, "{:?}", r.as_of_dates);
        // The kept cash rows: every open invoice at every date, outcomes as the history has them.
        assert_eq!(r.cash_rows.len(), r.n_cash_rows);
        let header = CashRow::CSV_HEADER.len();
        for c in &r.cash_rows {
            assert!(c.invoice_date <= c.as_of && c.cap_days > 0.0 && c.days[0] <= c.days[2], "{c:?}");
            let same = |i: &&crate::features::history::Inv| {
                h.customers[i.cust as usize] == c.customer_id
                    && (i.invoice_date, i.due_date) == (c.invoice_date, c.due_date)
            };
            let outcome = |i: &crate::features::history::Inv| (i.paid_date != OPEN).then(|| i.paid_date - c.as_of);
            assert!(h.invoices.iter().filter(same).any(|i| outcome(i) == c.paid_after_days), "{c:?}");
            assert!(c.paid_after_days.is_none_or(|p| p > 0), "paid after the as-of date: {c:?}");
            assert_eq!(c.csv_record().len(), header, "{:?}", c.csv_record());
            let within = c.paid_after_days.is_some_and(|p| f64::from(p) <= c.cap_days);
            assert_eq!(c.paid_level.is_some(), within, "{c:?}");
            assert!(c.paid_level.is_none_or(|v| (0.0..=1.0).contains(&v)), "{c:?}");
            let weeks: f64 = c.week_share.iter().sum();
            assert!(c.week_share.iter().all(|&p| p >= 0.0) && weeks <= c.within + 1e-9, "{c:?}");
        }
        // The weeks' shares add up to about what arrived in those weeks (pooled over the
        // dates whose four weeks the data covers and their invoices; the distributions
        // are calibrated, not exact).
        let end = r.cash_rows.iter().filter_map(|c| c.paid_after_days.map(|p| c.as_of + p)).max().expect("payments");
        let known: Vec<&CashRow> = r.cash_rows.iter().filter(|c| c.as_of + 7 * ROW_WEEKS as i32 <= end).collect();
        for w in 0..ROW_WEEKS {
            let expected: f64 = known.iter().map(|c| c.amount_base * c.week_share[w]).sum();
            let week = (7 * w as i32 + 1)..=(7 * w as i32 + 7);
            let arrived: f64 = known
                .iter()
                .filter(|c| c.paid_after_days.is_some_and(|p| week.contains(&p)))
                .map(|c| c.amount_base)
                .sum();
            assert!((expected / arrived - 1.0).abs() < 0.25, "week {}: {expected} against {arrived}", w + 1);
        }
        assert!(r.cash_rows.iter().any(|c| c.paid_after_days.is_some()));
        // Levels at payment spread over the distributions: among payments within the
        // horizon about as many below each level as the level says.
        let levels: Vec<f64> = r.cash_rows.iter().filter_map(|c| c.paid_level).collect();
        let below = |l: f64| levels.iter().filter(|&&v| v < l).count() as f64 / levels.len() as f64;
        assert!(levels.len() > 200 && (0.3..0.7).contains(&below(0.5)), "{} of {}", below(0.5), levels.len());
        assert!(below(0.1) < 0.25 && below(0.9) > 0.75, "{} {}", below(0.1), below(0.9));
        // The kept scored rows: the model's pooled figures recomputed from them.
        assert_eq!(r.scored_rows.len(), r.n_scored);
        let (pred, actual): (Vec<f64>, Vec<f64>) =
            r.scored_rows.iter().map(|s| (f64::from(s.paid[1]), f64::from(s.paid_date))).unzip();
        assert!((metrics::mae(&pred, &actual) - r.methods[0].mae_days).abs() < 1e-9);
        let (pl, late): (Vec<f64>, Vec<bool>) =
            r.scored_rows.iter().map(|s| (s.p_late, s.paid_date > s.due_date)).unzip();
        assert!((metrics::brier(&pl, &late) - r.methods[0].late_brier).abs() < 1e-9);
        for s in &r.scored_rows {
            assert!(s.invoice_date <= s.as_of && s.paid_date > s.as_of && s.paid[0] <= s.paid[2], "{s:?}");
            assert_eq!(s.csv_record().len(), ScoredRow::CSV_HEADER.len());
        }
        assert!(r.n_scored > 100);
        let (model, due) = (&r.methods[0], &r.methods[1]);
        assert!(model.mae_days < due.mae_days, "{} vs {}", model.mae_days, due.mae_days);
        assert!(model.late_roc_auc > 0.7, "{}", model.late_roc_auc);
        let cov = model.p10_p90_coverage.unwrap();
        assert!(cov > 0.4 && cov < 0.99, "{cov}");
        // The intervals' score: at least their mean width, and the scored rows give it.
        let score = model.p10_p90_interval_score_days.unwrap();
        let width = r.scored_rows.iter().map(|s| f64::from(s.paid[2] - s.paid[0])).sum::<f64>() / r.n_scored as f64;
        let again = r
            .scored_rows
            .iter()
            .map(|s| {
                let [lo, _, hi] = s.paid.map(f64::from);
                metrics::interval_score(lo, hi, f64::from(s.paid_date), INTERVAL_ALPHA)
            })
            .sum::<f64>()
            / r.n_scored as f64;
        assert!(score >= width && (score - again).abs() < 1e-9, "{score} {width} {again}");
        assert!(due.p10_p90_interval_score_days.is_none() && r.methods[2].p10_p90_interval_score_days.is_some());
        assert!(model.wape.is_finite() && model.wape < due.wape, "{} vs {}", model.wape, due.wape);
        // The cash distributions scored invoice by invoice: better than their own
        // medians as points, and than placing each invoice on its due date.
        let crps = model.cash_crps_days.expect("a distribution's score");
        let own = model.cash_placement_ae_days.expect("the placements' error");
        let on_due = due.cash_placement_ae_days.expect("the baseline's error");
        assert!(crps > 0.0 && crps < own && own < on_due, "{crps} {own} {on_due}");
        assert!(due.cash_crps_days.is_none() && r.markdown().contains("CRPS"));
        let [lo, hi] = model.intervals.cash_crps_days.expect("an interval");
        assert!(lo.is_finite() && lo <= hi, "{lo} {hi}");
        // The dates' own scores, weighted by their amounts, make up the pooled one.
        let (num, den) =
            model.by_date.iter().fold((0.0, 0.0), |(n, d), b| match (b.cash_crps_days, b.cash_amount_base) {
                (Some(c), Some(a)) => (n + c * a, d + a),
                _ => (n, d),
            });
        assert!(den > 0.0 && (num / den - crps).abs() < 1e-9, "{} vs {crps}", num / den);
        // Intervals from resampling the dates, on every figure the model has.
        let i = &model.intervals;
        for (name, v) in [("mae", i.mae_days), ("cov", i.p10_p90_coverage), ("auc", i.late_roc_auc), ("wape", i.wape)] {
            let [lo, hi] = v.unwrap_or_else(|| panic!("{name}: {i:?}"));
            assert!(lo.is_finite() && lo <= hi, "{name}: {lo} {hi}");
        }
        assert_eq!(due.intervals.p10_p90_coverage, None);
        assert!(r.markdown().contains("90% intervals"));
        // By date: the dates' own figures add up to the pooled ones.
        let by = &model.by_date;
        assert!(by.len() >= 5 && by.iter().all(|b| r.as_of_dates.contains(&b.as_of)), "{by:?}");
        assert_eq!(by.iter().map(|b| b.scored.n_scored).sum::<usize>(), r.n_scored);
        let weighted: f64 = by.iter().filter_map(|b| b.scored.mae_days.map(|m| m * b.scored.n_scored as f64)).sum();
        assert!((weighted / r.n_scored as f64 - model.mae_days).abs() < 1e-9);
        assert!(by.iter().any(|b| b.wape.is_some()) && r.markdown().contains("by as-of date"));
        // By the customer's history: the two groups make up the scored invoices.
        let split = &model.by_history;
        assert_eq!(split.with_history.n_scored + split.without.n_scored, r.n_scored);
        assert!(split.with_history.n_scored > 0, "{split:?}");
    }

    #[test]
    fn dates_run_side_by_side_give_the_report_of_one_thread() {
        let dir = generated_dir(40, 2_000, "2023-01-01", "2024-03-31", 5);
        let h = full_history(dir.path());
        let p = BacktestParams { keep_rows: true, ..quick() };
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            let r = pool.install(|| run_backtest(&h, &p)).unwrap();
            (serde_json::to_string(&r).unwrap(), r)
        };
        let (one, r) = run(1);
        assert!(r.as_of_dates.len() >= 3 && r.n_scored > 0 && !r.cash_rows.is_empty(), "{:?}", r.as_of_dates);
        // Rows stay in date order.
        assert!(r.cash_rows.windows(2).all(|w| w[0].as_of <= w[1].as_of));
        assert!(r.scored_rows.windows(2).all(|w| w[0].as_of <= w[1].as_of));
        let (three, r3) = run(3);
        assert_eq!(three, one);
        assert!(r3.cash_rows == r.cash_rows && r3.scored_rows == r.scored_rows);
    }

    #[test]
    fn the_protocol_reproduces_the_reference_baselines_on_the_shared_data() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let input = root.join("../shared/data/ibm-ar/WA_Fn-UseC_-Accounts-Receivable.csv");
        if !input.exists() {
            eprintln!("skipping: {} is absent (the shared dataset is not part of a fresh clone)", input.display());
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let m = crate::import::Mapping::load(&root.join("examples/mappings/ibm-ar-invoices.toml")).unwrap();
        crate::import::import_file(&input, &m, dir.path(), None).unwrap();
        let h = full_history(dir.path());
        let r = run_backtest(&h, &quick()).unwrap();
        // The reference (Python) protocol: 11 as-of dates, 477 invoices scored.
        assert_eq!(r.as_of_dates.len(), 11);
        assert_eq!(r.as_of_dates[0], "2013-07-12");
        assert_eq!(r.n_scored, 477);
        let due = &r.methods[1];
        let median = &r.methods[2];
        assert!((due.mae_days - 9.75).abs() < 0.01 && (due.wape - 0.424).abs() < 0.001, "{due:?}");
        assert!((median.mae_days - 6.25).abs() < 0.01 && (median.late_roc_auc - 0.834).abs() < 0.001, "{median:?}");
    }
}
