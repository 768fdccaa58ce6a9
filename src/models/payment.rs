//! The payment-date model: p10, p50 and p90 of days late (paid − due) from three
//! quantile-loss GBDTs, made monotone, and conditioned on "not paid yet" for
//! invoices already past their predicted dates.

use ndarray::ArrayView2;
use serde::{Deserialize, Serialize};

use super::empirical::{EmpOut, EmpiricalModel, EmpiricalParams};
use super::gbdt::{Gbdt, GbdtError, GbdtParams, GbdtParamsError, Loss};
use crate::features::history::History;

/// Quantile levels of the predictive distribution.
pub const LEVELS: [f64; 3] = [0.1, 0.5, 0.9];

/// Hyperparameters shared by the three quantile models.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PaymentDateParams {
    /// Trees per quantile model.
    pub n_trees: usize,
    /// Shrinkage.
    pub learning_rate: f64,
    /// Leaves per tree.
    pub max_leaves: usize,
    /// Rows per leaf.
    pub min_data_in_leaf: usize,
    /// Seed.
    pub seed: u64,
    /// Target p10–p90 coverage for the conformal widening (0 turns it off).
    pub interval_coverage: f64,
    /// Share of the latest rows held out to measure the widening.
    pub calibration_share: f64,
    /// The customer-distribution model blended with the trees (when the caller
    /// supplies the invoices, see [`EmpiricalRows`]).
    #[serde(default)]
    pub empirical: EmpiricalParams,
    /// Share of the rows each tree is grown on (1: all).
    #[serde(default = "all_rows")]
    pub bagging_fraction: f64,
    /// Read closing days from the settlements of a ledger that settles on business
    /// days ([`super::closures`]).
    #[serde(default = "yes")]
    pub learn_closures: bool,
}

fn all_rows() -> f64 {
    1.0
}

fn yes() -> bool {
    true
}

/// Where each row of a fit comes from, so the empirical model can read the
/// customers' histories: the invoice (position in `h.invoices`) and the date its
/// customer's history is taken at (the issue date for training rows).
#[derive(Debug, Clone, Copy)]
pub struct EmpiricalRows<'a> {
    /// The history.
    pub h: &'a History,
    /// Invoice per row.
    pub pos: &'a [usize],
    /// Date of the customer's history per row.
    pub t: &'a [i32],
}

impl EmpiricalRows<'_> {
    /// The empirical model fitted on rows `fit` (their days late in `late`, aligned
    /// with all rows), and its outputs for rows `eval` (not cut: as at issue).
    ///
    /// # Errors
    /// [`GbdtError::Empirical`] for invalid settings.
    pub fn fit_and_score(
        &self,
        p: &EmpiricalParams,
        late: &[f64],
        fit: &[usize],
        eval: &[usize],
    ) -> Result<Option<(EmpiricalModel, Vec<EmpOut>)>, GbdtError> {
        let pos: Vec<usize> = fit.iter().map(|&i| self.pos[i]).collect();
        let y: Vec<f64> = fit.iter().map(|&i| late[i]).collect();
        let Some(m) = p.fit(self.h, &pos, &y)? else {
            return Ok(None);
        };
        let pos: Vec<usize> = eval.iter().map(|&i| self.pos[i]).collect();
        let t: Vec<i32> = eval.iter().map(|&i| self.t[i]).collect();
        let out = m.outputs(self.h, &pos, &t, &vec![None; eval.len()]);
        Ok(Some((m, out)))
    }
}

impl Default for PaymentDateParams {
    fn default() -> Self {
        // 60 steps of 0.2, not 250 of 0.05: the same accuracy in the backtests on the
        // IBM data and two generated ledgers (BENCHMARKS.md), a quarter of the walks.
        PaymentDateParams {
            n_trees: 60,
            learning_rate: 0.2,
            max_leaves: 15,
            min_data_in_leaf: 20,
            seed: 42,
            interval_coverage: 0.8,
            calibration_share: 0.2,
            empirical: EmpiricalParams::default(),
            bagging_fraction: 1.0,
            learn_closures: true,
        }
    }
}

impl PaymentDateParams {
    /// Checks the settings (those of the trees, the interval widening and the
    /// empirical model).
    ///
    /// # Errors
    /// [`GbdtError`] naming the setting.
    pub fn check(&self) -> Result<(), GbdtError> {
        self.tree_params(0.5, self.min_data_in_leaf).check()?;
        if !(0.0..1.0).contains(&self.interval_coverage) {
            let value = self.interval_coverage;
            return Err(GbdtParamsError::Share { name: "interval_coverage", range: "[0, 1)", value }.into());
        }
        if !(self.calibration_share > 0.0 && self.calibration_share < 1.0) {
            let value = self.calibration_share;
            return Err(GbdtParamsError::Share { name: "calibration_share", range: "(0, 1)", value }.into());
        }
        self.empirical.check()?;
        Ok(())
    }

    /// The trees' settings for quantile `alpha` with `min_leaf` rows per leaf.
    fn tree_params(&self, alpha: f64, min_leaf: usize) -> GbdtParams {
        self.trees(Loss::Quantile { alpha }, min_leaf)
    }

    /// These settings' trees for `loss`, with `min_leaf` rows per leaf.
    pub(crate) fn trees(&self, loss: Loss, min_leaf: usize) -> GbdtParams {
        GbdtParams::new(loss)
            .n_trees(self.n_trees)
            .learning_rate(self.learning_rate)
            .max_leaves(self.max_leaves)
            .min_data_in_leaf(min_leaf)
            .seed(self.seed)
            .bagging_fraction(self.bagging_fraction)
    }

    /// Settings of the remaining-time (cash) model: more, smaller boosting steps than
    /// the payment-date model's (the cash model is not on the prediction path, and
    /// with the payment-date model's 80 steps of 0.15 its protocol WAPE on the IBM
    /// data went from 0.325 to 0.338), without the conformal widening of p10 and p90.
    /// Every tree sees every snapshot row: half the rows per tree ran the backtests
    /// 12–15% faster with mixed accuracy (BENCHMARKS.md, "Half the snapshot rows per
    /// tree"), so `bagging_fraction` is left to a settings file.
    pub fn cash_default() -> Self {
        PaymentDateParams { n_trees: 250, learning_rate: 0.05, interval_coverage: 0.0, ..PaymentDateParams::default() }
    }
}

/// Fitted quantile models.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PaymentDateModel {
    /// One model per level in [`LEVELS`].
    pub quantiles: Vec<Gbdt>,
    /// Days subtracted from p10 and added to p90 (split-conformal, measured on the
    /// time-later slice; negative narrows).
    #[serde(default)]
    pub widen: f64,
    /// The customer-distribution model (None: the trees alone).
    #[serde(default)]
    pub empirical: Option<EmpiricalModel>,
    /// Weight of the empirical model's p10, p50, p90 in the blend, for invoices of
    /// customers with settled history (`[0]`) and without (`[1]`), chosen on the
    /// time-later slice.
    #[serde(default)]
    pub empirical_weight: [[f64; 3]; 2],
    /// The ledger's settlements known at training fell on business days only
    /// ([`crate::domain::settles_on_business_days`]): predicted dates and the cash
    /// forecast's draws on a weekend or a holiday (the data's `holidays` table) move to
    /// the next business day.
    #[serde(default)]
    pub settles_on_business_days: bool,
    /// Closing days read from the ledger's settlements known at training, past and up
    /// to a year ahead ([`super::closures::learn_closures`]; only where it settles on
    /// business days): they close it like the `holidays` table's days.
    #[serde(default)]
    pub closed_days: Vec<i32>,
    /// Closing days read the same way from each currency's settlements, beyond
    /// `closed_days` ([`super::closures::learn_currency_closures`]): they close that
    /// currency alone.
    #[serde(default)]
    pub closed_by_currency: Vec<(crate::domain::Currency, Vec<i32>)>,
    /// Cash (remaining-time) model only: its quantiles are days after the later of the
    /// as-of date and the due date, not after the as-of date (see
    /// [`super::copula::remaining_quantiles`]; models saved before this setting read
    /// false, as they were fitted).
    #[serde(default)]
    pub from_due: bool,
}

/// Blend weights tried for the empirical model.
const WEIGHT_GRID: usize = 10;

/// Rows of the time-later slice needed to choose a blend weight.
const MIN_BLEND_ROWS: usize = 30;

/// Pinball loss of predicting `q` at level `a` for outcome `y`.
fn pinball(q: f64, y: f64, a: f64) -> f64 {
    if y >= q {
        a * (y - q)
    } else {
        (1.0 - a) * (q - y)
    }
}

impl PaymentDateParams {
    /// Fits on rows with known days late. With `order` (issue days), the p10–p90
    /// interval is widened by split-conformal calibration: models fitted on the
    /// earlier rows are scored on the latest `calibration_share`, and the interval is
    /// moved out (or in) by the conformity quantile that gives `interval_coverage`.
    ///
    /// # Errors
    /// [`GbdtError`].
    pub fn fit(
        &self,
        x: ArrayView2<'_, f64>,
        late_days: &[f64],
        order: Option<&[i32]>,
        emp: Option<EmpiricalRows<'_>>,
    ) -> Result<PaymentDateModel, GbdtError> {
        let mut model = self.fit_quantiles(x, late_days)?;
        let n = late_days.len();
        let all: Vec<usize> = (0..n).collect();
        if let Some(e) = emp {
            model.empirical = e.fit_and_score(&self.empirical, late_days, &all, &[])?.map(|(m, _)| m);
        }
        if let Some(order) = order.filter(|_| self.interval_coverage > 0.0 && n >= 200) {
            let mut idx: Vec<usize> = (0..n).collect();
            idx.sort_by_key(|&i| (order[i], i));
            let cut = ((1.0 - self.calibration_share) * n as f64) as usize;
            let (early, late) = idx.split_at(cut);
            if late.len() >= 40 {
                let xe = x.select(ndarray::Axis(0), early);
                let ye: Vec<f64> = early.iter().map(|&i| late_days[i]).collect();
                let m = self.fit_quantiles(xe.view(), &ye)?;
                let mut q = m.predict_raw(x.select(ndarray::Axis(0), late).view())?;
                let y: Vec<f64> = late.iter().map(|&i| late_days[i]).collect();
                if let (Some(e), Some(_)) = (emp, &model.empirical) {
                    if let Some((_, out)) = e.fit_and_score(&self.empirical, late_days, early, late)? {
                        model.empirical_weight = blend_weights(&q, &out, &y);
                        for (q, o) in q.iter_mut().zip(&out) {
                            *q = blend(*q, o, &model.empirical_weight);
                        }
                    }
                }
                let mut e: Vec<f64> = y.iter().zip(&q).map(|(&y, q)| (q[0] - y).max(y - q[2])).collect();
                e.sort_by(f64::total_cmp);
                let level = (self.interval_coverage * (1.0 + 1.0 / e.len() as f64)).min(1.0);
                model.widen = crate::features::stats::quantile_sorted(&e, level);
            }
        }
        Ok(model)
    }

    fn fit_quantiles(&self, x: ArrayView2<'_, f64>, late_days: &[f64]) -> Result<PaymentDateModel, GbdtError> {
        let min_leaf = self.min_data_in_leaf.min((x.nrows() / 4).max(1));
        let quantiles = LEVELS
            .iter()
            .map(|&alpha| self.tree_params(alpha, min_leaf).fit(x, late_days))
            .collect::<Result<_, _>>()?;
        Ok(PaymentDateModel {
            quantiles,
            widen: 0.0,
            empirical: None,
            empirical_weight: [[0.0; 3]; 2],
            settles_on_business_days: false,
            closed_days: Vec::new(),
            closed_by_currency: Vec::new(),
            from_due: false,
        })
    }
}

impl PaymentDateModel {
    /// The calendar an invoice's payment goes out on: its customer's payment runs, else
    /// business days where the ledger settles only on them, else any day (None).
    pub fn calendar(&self, run: Option<crate::domain::PaymentRun>) -> Option<crate::domain::PaymentRun> {
        run.or(self.settles_on_business_days.then_some(crate::domain::PaymentRun::BusinessDays))
    }

    /// The days the ledger is closed besides weekends: the `holidays` table's (with each
    /// currency's own), the closing days read at training from every settlement, which
    /// close every currency, and those read from each currency's, which close it alone.
    pub fn closed(&self, table: &crate::domain::Holidays) -> crate::domain::Holidays {
        table.with_days(&self.closed_days).with_currency_days(&self.closed_by_currency)
    }

    /// `[p10, p50, p90]` of days late for each row from the trees, non-decreasing,
    /// widened by the conformal margin.
    ///
    /// # Errors
    /// [`GbdtError::Features`] on a width mismatch.
    pub fn predict(&self, x: ArrayView2<'_, f64>) -> Result<Vec<[f64; 3]>, GbdtError> {
        Ok(self.predict_raw(x)?.into_iter().map(|q| self.widened(q)).collect())
    }

    /// The trees' `[p10, p50, p90]`, sorted, before blending and widening (see
    /// [`Self::finish`]).
    ///
    /// # Errors
    /// [`GbdtError::Features`] on a width mismatch.
    pub fn predict_raw(&self, x: ArrayView2<'_, f64>) -> Result<Vec<[f64; 3]>, GbdtError> {
        let cols: Vec<Vec<f64>> = self.quantiles.iter().map(|m| m.predict(x)).collect::<Result<_, _>>()?;
        Ok((0..x.nrows()).map(|i| sorted([cols[0][i], cols[1][i], cols[2][i]])).collect())
    }

    /// The predicted days late of an invoice unpaid until `min_late` days past due:
    /// the trees' quantiles `raw` conditioned on that, blended with the empirical
    /// model's (already conditioned) output, widened, and never below `min_late`.
    pub fn finish(&self, raw: [f64; 3], emp: Option<&EmpOut>, min_late: f64) -> [f64; 3] {
        let c = condition_on_unpaid(raw, min_late);
        let b = match emp {
            Some(o) if self.empirical.is_some() => blend(c, o, &self.empirical_weight),
            _ => c,
        };
        self.widened(b).map(|v| v.max(min_late))
    }

    /// [`Self::predict`] of one row, with the median model's path attributions added
    /// to `contrib` (one walk gives both).
    ///
    /// # Errors
    /// [`GbdtError::Features`] on a width mismatch.
    pub fn predict_row_attributed(&self, x: &[f64], contrib: &mut [f64]) -> Result<[f64; 3], GbdtError> {
        let [lo, mid, hi] = [&self.quantiles[0].forest, &self.quantiles[1].forest, &self.quantiles[2].forest];
        for f in [lo, mid, hi] {
            if x.len() != f.n_features || contrib.len() != f.n_features {
                return Err(GbdtError::Features { expected: f.n_features, found: x.len().min(contrib.len()) });
            }
        }
        let p50 = mid.predict_row_attributed(mid.explainer(), x, contrib);
        Ok(sorted([lo.predict_row(x), p50, hi.predict_row(x)]))
    }

    /// Sorted quantiles with the conformal widening.
    fn widened(&self, q: [f64; 3]) -> [f64; 3] {
        let q = sorted(q);
        [(q[0] - self.widen).min(q[1]), q[1], (q[2] + self.widen).max(q[1])]
    }
}

fn sorted(mut q: [f64; 3]) -> [f64; 3] {
    q.sort_by(f64::total_cmp);
    q
}

/// The trees' quantiles `q` blended with the empirical model's, by the weights for
/// customers with history or without.
fn blend(q: [f64; 3], o: &EmpOut, w: &[[f64; 3]; 2]) -> [f64; 3] {
    let w = &w[usize::from(o.n == 0)];
    sorted([0, 1, 2].map(|k| (1.0 - w[k]) * q[k] + w[k] * o.q[k]))
}

/// Per level, the weight of the empirical quantile (a tenth at a time) with the least
/// pinball loss on held-out rows, separately for customers with settled history and
/// without; without enough rows of a kind, the trees alone.
fn blend_weights(q: &[[f64; 3]], out: &[EmpOut], y: &[f64]) -> [[f64; 3]; 2] {
    let mut w = [[0.0; 3]; 2];
    for (cold, wk) in w.iter_mut().enumerate() {
        let rows: Vec<usize> = (0..y.len()).filter(|&i| usize::from(out[i].n == 0) == cold).collect();
        if rows.len() < MIN_BLEND_ROWS {
            continue;
        }
        for (k, slot) in wk.iter_mut().enumerate() {
            let a = LEVELS[k];
            let loss = |g: usize| -> f64 {
                let w = g as f64 / WEIGHT_GRID as f64;
                rows.iter().map(|&i| pinball((1.0 - w) * q[i][k] + w * out[i].q[k], y[i], a)).sum()
            };
            let best = (0..=WEIGHT_GRID).min_by(|&a, &b| loss(a).total_cmp(&loss(b))).unwrap_or(0);
            *slot = best as f64 / WEIGHT_GRID as f64;
        }
    }
    w
}

/// Conditions predicted quantiles of days late on the invoice still being unpaid
/// `min_late` days after its due date (the as-of date minus due date, plus one):
/// the quantiles are read as a piecewise-linear CDF through (p10, 0.1), (p50, 0.5),
/// (p90, 0.9) with linear tails, and re-cut above `min_late`.
pub fn condition_on_unpaid(q: [f64; 3], min_late: f64) -> [f64; 3] {
    if min_late <= q[0] {
        return q;
    }
    let lo_tail = q[0] - (q[1] - q[0]).max(1.0);
    let hi_tail = q[2] + 2.0 * (q[2] - q[1]).max(1.0);
    let pts = [(lo_tail, 0.0), (q[0], 0.1), (q[1], 0.5), (q[2], 0.9), (hi_tail, 1.0)];
    let cdf = |v: f64| -> f64 {
        if v <= pts[0].0 {
            return 0.0;
        }
        for w in pts.windows(2) {
            if v <= w[1].0 {
                let span = (w[1].0 - w[0].0).max(1e-9);
                return w[0].1 + (w[1].1 - w[0].1) * (v - w[0].0) / span;
            }
        }
        1.0
    };
    let inv = |p: f64| -> f64 {
        for w in pts.windows(2) {
            if p <= w[1].1 {
                let span = (w[1].1 - w[0].1).max(1e-12);
                return w[0].0 + (w[1].0 - w[0].0) * (p - w[0].1) / span;
            }
        }
        pts[4].0
    };
    let f = cdf(min_late);
    if f >= 0.999 {
        // Beyond the modelled range: spread from the floor by the model's width.
        let w = (q[2] - q[0]).max(2.0);
        return [min_late, min_late + 0.5 * w, min_late + 1.5 * w];
    }
    let mut out = LEVELS.map(|a| inv(f + a * (1.0 - f)).max(min_late));
    out.sort_by(f64::total_cmp);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditioning_leaves_future_quantiles_alone_and_moves_past_ones_above_the_floor() {
        let q = [-2.0, 3.0, 15.0];
        assert_eq!(condition_on_unpaid(q, -5.0), q);
        let c = condition_on_unpaid(q, 5.0);
        assert!(c[0] >= 5.0 && c[0] <= c[1] && c[1] <= c[2], "{c:?}");
        assert!(c[2] > 15.0);
        let far = condition_on_unpaid(q, 200.0);
        assert_eq!(far[0], 200.0);
    }
}
