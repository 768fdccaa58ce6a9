//! Late-payment risk: calibrated probabilities from logistic GBDTs, with isotonic
//! calibration fitted on a time-later validation slice.

use ndarray::{ArrayView2, Axis};
use serde::{Deserialize, Serialize};

use super::calibration::Isotonic;
use super::gbdt::{Gbdt, GbdtError, GbdtParams, Loss};

/// Hyperparameters of one risk classifier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RiskParams {
    /// Trees.
    pub n_trees: usize,
    /// Shrinkage.
    pub learning_rate: f64,
    /// Leaves per tree.
    pub max_leaves: usize,
    /// Rows per leaf.
    pub min_data_in_leaf: usize,
    /// Share of the latest rows (by issue date) held out for calibration.
    pub calibration_share: f64,
    /// Calibration: a logistic stack of the GBDT score and the customer's own late
    /// rate (strictly monotone, so it keeps the ranking), or isotonic on the score.
    pub calibration: Calibration,
    /// Pseudo-count pulling a customer's late rate towards the portfolio's.
    pub prior_strength: f64,
    /// Seed.
    pub seed: u64,
}

impl Default for RiskParams {
    fn default() -> Self {
        RiskParams {
            n_trees: 300,
            learning_rate: 0.03,
            max_leaves: 4,
            min_data_in_leaf: 60,
            calibration_share: 0.2,
            calibration: Calibration::Stack,
            prior_strength: 2.0,
            seed: 42,
        }
    }
}

/// How the classifier's scores become probabilities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Calibration {
    /// Isotonic regression of the outcome on the score.
    Isotonic,
    /// Logistic regression of the outcome on logit(score) and logit(customer's shrunk
    /// late rate).
    Stack,
}

/// Where a row's customer late rate comes from: columns of the model inputs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Prior {
    /// Column holding the customer's share of late invoices (NaN without history).
    pub share_col: usize,
    /// Column holding the customer's settled invoice count.
    pub count_col: usize,
    /// Portfolio rate at training.
    pub base: f64,
    /// Pseudo-count.
    pub strength: f64,
}

impl Prior {
    fn rate(&self, row: ndarray::ArrayView1<'_, f64>) -> f64 {
        let (share, n) = (row[self.share_col], row[self.count_col]);
        if share.is_nan() || n.is_nan() || n <= 0.0 {
            return self.base;
        }
        (share * n + self.base * self.strength) / (n + self.strength)
    }
}

fn logit(p: f64) -> f64 {
    let p = p.clamp(1e-4, 1.0 - 1e-4);
    (p / (1.0 - p)).ln()
}

/// Logistic regression on a few inputs by Newton's method with a small ridge.
fn fit_logistic(z: &[[f64; 2]], y: &[bool]) -> [f64; 3] {
    let mut w = [0.0f64; 3]; // bias, score, prior
    for _ in 0..50 {
        let mut g = [0.0; 3];
        let mut hm = [[0.0; 3]; 3];
        for (zi, &yi) in z.iter().zip(y) {
            let x = [1.0, zi[0], zi[1]];
            let p = 1.0 / (1.0 + (-(w[0] + w[1] * x[1] + w[2] * x[2])).exp());
            let r = p - f64::from(u8::from(yi));
            let s = (p * (1.0 - p)).max(1e-9);
            for a in 0..3 {
                g[a] += r * x[a];
                for b in 0..3 {
                    hm[a][b] += s * x[a] * x[b];
                }
            }
        }
        for a in 0..3 {
            g[a] += 1e-3 * w[a];
            hm[a][a] += 1e-3;
        }
        // Solve hm · step = g (3×3, Gaussian elimination).
        let mut m = [[0.0; 4]; 3];
        for a in 0..3 {
            m[a][..3].copy_from_slice(&hm[a]);
            m[a][3] = g[a];
        }
        for c in 0..3 {
            let piv = (c..3).max_by(|&i, &j| m[i][c].abs().total_cmp(&m[j][c].abs())).unwrap_or(c);
            m.swap(c, piv);
            if m[c][c].abs() < 1e-12 {
                return w;
            }
            let pivot = m[c];
            for (r, row) in m.iter_mut().enumerate() {
                if r != c {
                    let f = row[c] / pivot[c];
                    for (v, p) in row.iter_mut().zip(pivot.iter()).skip(c) {
                        *v -= f * p;
                    }
                }
            }
        }
        let step: Vec<f64> = (0..3).map(|a| m[a][3] / m[a][a]).collect();
        for a in 0..3 {
            w[a] -= step[a];
        }
        if step.iter().all(|s| s.abs() < 1e-9) {
            break;
        }
    }
    w
}

/// The input columns (customer late share, settled count) that serve as the prior for
/// "more than `days` late": the share late for 0 days, the share over 30 days late
/// beyond that.
pub fn late_prior(days: i32) -> (usize, usize) {
    let col = if days <= 0 { "cust.share_paid_late" } else { "cust.share_paid_late_30" };
    (super::dataset::feature_index(col), super::dataset::feature_index("cust.n_paid"))
}

/// A fitted, calibrated classifier (or a constant rate when a class is too rare).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum RiskModel {
    /// Too few of one class: the smoothed base rate.
    Constant(f64),
    /// GBDT scores mapped through an isotonic calibration.
    Calibrated {
        /// Classifier trained on all rows.
        gbdt: Box<Gbdt>,
        /// Calibration from the time-later slice (None when too small).
        iso: Option<Isotonic>,
        /// Logistic stack weights (bias, logit score, logit prior) and the prior.
        #[serde(default)]
        stack: Option<([f64; 3], Prior)>,
    },
}

impl RiskParams {
    /// Fits on rows sorted or not; `order_key` (issue day) decides the time split.
    ///
    /// # Errors
    /// [`GbdtError`].
    /// `prior`: the input columns of the customer's late share and settled count, used
    /// by [`Calibration::Stack`] (isotonic without them).
    pub fn fit(
        &self,
        x: ArrayView2<'_, f64>,
        label: &[bool],
        order_key: &[i32],
        prior: Option<(usize, usize)>,
    ) -> Result<RiskModel, GbdtError> {
        let n = label.len();
        let pos = label.iter().filter(|l| **l).count();
        if pos < 5 || n - pos < 5 {
            return Ok(RiskModel::Constant((pos as f64 + 0.5) / (n as f64 + 1.0)));
        }
        let y: Vec<f64> = label.iter().map(|l| f64::from(u8::from(*l))).collect();
        let params = |rows: usize| {
            GbdtParams::new(Loss::Logistic)
                .n_trees(self.n_trees)
                .learning_rate(self.learning_rate)
                .max_leaves(self.max_leaves)
                .min_data_in_leaf(self.min_data_in_leaf.min((rows / 4).max(1)))
                .seed(self.seed)
        };
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by_key(|&i| (order_key[i], i));
        let cut = ((1.0 - self.calibration_share) * n as f64) as usize;
        let (early, late) = order.split_at(cut);
        let base = pos as f64 / n as f64;
        let mut iso = None;
        let mut stack = None;
        if late.len() >= 30 && early.len() >= 30 {
            let xe = x.select(Axis(0), early);
            let ye: Vec<f64> = early.iter().map(|&i| y[i]).collect();
            if ye.contains(&1.0) && ye.contains(&0.0) {
                let m = params(early.len()).fit(xe.view(), &ye)?;
                let xl = x.select(Axis(0), late);
                let s = m.predict(xl.view())?;
                let l: Vec<bool> = late.iter().map(|&i| label[i]).collect();
                match (self.calibration, prior) {
                    (Calibration::Stack, Some((share_col, count_col))) => {
                        let pr = Prior { share_col, count_col, base, strength: self.prior_strength };
                        let z: Vec<[f64; 2]> = (0..l.len()).map(|k| [logit(s[k]), logit(pr.rate(xl.row(k)))]).collect();
                        stack = Some((fit_logistic(&z, &l), pr));
                    }
                    _ => iso = Isotonic::fit(&s, &l),
                }
            }
        }
        let gbdt = params(n).fit(x, &y)?;
        Ok(RiskModel::Calibrated { gbdt: Box::new(gbdt), iso, stack })
    }
}

impl RiskModel {
    /// Calibrated probability per row.
    ///
    /// # Errors
    /// [`GbdtError::Features`] on a width mismatch.
    pub fn predict(&self, x: ArrayView2<'_, f64>) -> Result<Vec<f64>, GbdtError> {
        match self {
            RiskModel::Constant(p) => Ok(vec![*p; x.nrows()]),
            RiskModel::Calibrated { gbdt, iso, stack } => {
                let s = gbdt.predict(x)?;
                Ok(match (stack, iso) {
                    (Some((w, pr)), _) => (0..s.len())
                        .map(|i| {
                            let z = w[0] + w[1] * logit(s[i]) + w[2] * logit(pr.rate(x.row(i)));
                            1.0 / (1.0 + (-z).exp())
                        })
                        .collect(),
                    (None, Some(iso)) => s.iter().map(|v| iso.apply(*v)).collect(),
                    (None, None) => s,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    #[test]
    fn the_logistic_stack_recovers_known_weights() {
        let mut r = Rng::new(3, 0);
        let (mut z, mut y) = (Vec::new(), Vec::new());
        for _ in 0..20_000 {
            let (a, b) = (r.gauss(0.0, 1.0), r.gauss(0.0, 1.0));
            let p = 1.0 / (1.0 + (-(-0.5 + 1.5 * a + 0.7 * b)).exp());
            z.push([a, b]);
            y.push(r.chance(p));
        }
        let w = fit_logistic(&z, &y);
        assert!((w[0] + 0.5).abs() < 0.08 && (w[1] - 1.5).abs() < 0.08 && (w[2] - 0.7).abs() < 0.08, "{w:?}");
    }

    #[test]
    fn the_customer_prior_shrinks_small_histories_towards_the_portfolio_rate() {
        let pr = Prior { share_col: 0, count_col: 1, base: 0.4, strength: 2.0 };
        let row = |s: f64, n: f64| ndarray::arr1(&[s, n]);
        assert_eq!(pr.rate(row(f64::NAN, 0.0).view()), 0.4);
        assert!((pr.rate(row(1.0, 2.0).view()) - 0.7).abs() < 1e-12);
        assert!((pr.rate(row(0.0, 98.0).view()) - 0.008).abs() < 1e-12);
    }
}
