//! The payment-date model: p10, p50 and p90 of days late (paid − due) from three
//! quantile-loss GBDTs, made monotone, and conditioned on "not paid yet" for
//! invoices already past their predicted dates.

use ndarray::ArrayView2;
use serde::{Deserialize, Serialize};

use super::gbdt::{Gbdt, GbdtError, GbdtParams, Loss};

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
}

impl Default for PaymentDateParams {
    fn default() -> Self {
        PaymentDateParams {
            n_trees: 250,
            learning_rate: 0.05,
            max_leaves: 15,
            min_data_in_leaf: 20,
            seed: 42,
            interval_coverage: 0.8,
            calibration_share: 0.2,
        }
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
    ) -> Result<PaymentDateModel, GbdtError> {
        let mut model = self.fit_quantiles(x, late_days)?;
        let n = late_days.len();
        if let Some(order) = order.filter(|_| self.interval_coverage > 0.0 && n >= 200) {
            let mut idx: Vec<usize> = (0..n).collect();
            idx.sort_by_key(|&i| (order[i], i));
            let cut = ((1.0 - self.calibration_share) * n as f64) as usize;
            let (early, late) = idx.split_at(cut);
            if late.len() >= 40 {
                let xe = x.select(ndarray::Axis(0), early);
                let ye: Vec<f64> = early.iter().map(|&i| late_days[i]).collect();
                let m = self.fit_quantiles(xe.view(), &ye)?;
                let q = m.predict(x.select(ndarray::Axis(0), late).view())?;
                let mut e: Vec<f64> =
                    late.iter().zip(&q).map(|(&i, q)| (q[0] - late_days[i]).max(late_days[i] - q[2])).collect();
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
            .map(|&alpha| {
                GbdtParams::new(Loss::Quantile { alpha })
                    .n_trees(self.n_trees)
                    .learning_rate(self.learning_rate)
                    .max_leaves(self.max_leaves)
                    .min_data_in_leaf(min_leaf)
                    .seed(self.seed)
                    .fit(x, late_days)
            })
            .collect::<Result<_, _>>()?;
        Ok(PaymentDateModel { quantiles, widen: 0.0 })
    }
}

impl PaymentDateModel {
    /// `[p10, p50, p90]` of days late for each row, non-decreasing.
    ///
    /// # Errors
    /// [`GbdtError::Features`] on a width mismatch.
    pub fn predict(&self, x: ArrayView2<'_, f64>) -> Result<Vec<[f64; 3]>, GbdtError> {
        let cols: Vec<Vec<f64>> = self.quantiles.iter().map(|m| m.predict(x)).collect::<Result<_, _>>()?;
        Ok((0..x.nrows()).map(|i| self.ordered([cols[0][i], cols[1][i], cols[2][i]])).collect())
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
        Ok(self.ordered([lo.predict_row(x), p50, hi.predict_row(x)]))
    }

    /// Sorted quantiles with the conformal widening.
    fn ordered(&self, mut q: [f64; 3]) -> [f64; 3] {
        q.sort_by(f64::total_cmp);
        [(q[0] - self.widen).min(q[1]), q[1], (q[2] + self.widen).max(q[1])]
    }
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
