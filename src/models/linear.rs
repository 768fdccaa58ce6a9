//! Ridge-penalised logistic regression on robustly standardised inputs: the linear
//! partner of the risk GBDT.
//!
//! Inputs are prepared the same way at fit and predict time: a missing value takes the
//! column's training median and gets a 0/1 missing indicator (for columns that had
//! missing values in training); every value is clipped to the column's training
//! 1st–99th percentiles (heavy-tailed amounts cannot dominate the score) and
//! standardised. Columns constant in training are left out. Weights are fitted by
//! Newton's method with an L2 penalty on everything but the bias, and step halving
//! when a step would increase the penalised loss.

use ndarray::{Array2, ArrayView2};
use serde::{Deserialize, Serialize};

use super::gbdt::{GbdtError, GbdtParamsError};
use crate::features::stats::quantile_sorted;

/// Settings of [`LogisticModel`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LogisticParams {
    /// L2 penalty on the standardised weights (the bias is not penalised).
    pub l2: f64,
    /// Newton iterations at most.
    pub max_iter: usize,
    /// Rows used at most (an evenly spaced subset of larger inputs).
    pub max_rows: usize,
}

impl Default for LogisticParams {
    fn default() -> Self {
        LogisticParams { l2: 10.0, max_iter: 30, max_rows: 50_000 }
    }
}

/// One input column's preparation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
struct Column {
    /// Input column.
    col: usize,
    /// Missing indicator (1 when the value is NaN) instead of the value itself.
    indicator: bool,
    /// Value standing in for NaN.
    fill: f64,
    /// Clipping range.
    lo: f64,
    hi: f64,
    /// Standardisation.
    mean: f64,
    inv_std: f64,
}

impl Column {
    #[inline]
    fn value(&self, v: f64) -> f64 {
        let raw = if self.indicator {
            f64::from(u8::from(v.is_nan()))
        } else if v.is_nan() {
            self.fill
        } else {
            v.clamp(self.lo, self.hi)
        };
        (raw - self.mean) * self.inv_std
    }
}

/// A fitted model: P(y) = sigmoid(bias + Σ w·prepared input).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogisticModel {
    n_features: usize,
    columns: Vec<Column>,
    weights: Vec<f64>,
    bias: f64,
    /// The folded weights, built on first use.
    #[serde(skip)]
    folded: FoldedOnce,
}

/// Lazily folded weights (equal to any other: derived data).
#[derive(Debug, Clone, Default)]
struct FoldedOnce(std::sync::OnceLock<Box<Folded>>);

impl PartialEq for FoldedOnce {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// Penalised negative log-likelihood of `w` (bias first) on the design `z`.
fn loss(z: &Array2<f64>, y: &[f64], w: &[f64], l2: f64) -> f64 {
    let mut s = 0.0;
    for (row, &yi) in z.rows().into_iter().zip(y) {
        let eta = w[0] + row.iter().zip(&w[1..]).map(|(a, b)| a * b).sum::<f64>();
        // log(1 + e^eta) − y·eta, computed stably.
        s += eta.max(0.0) + (-eta.abs()).exp().ln_1p() - yi * eta;
    }
    s + 0.5 * l2 * w[1..].iter().map(|v| v * v).sum::<f64>()
}

/// Solves `a · x = b` for a symmetric positive definite `a` (Cholesky); None when it
/// is not positive definite.
pub(crate) fn cholesky_solve(a: &Array2<f64>, b: &[f64]) -> Option<Vec<f64>> {
    let n = b.len();
    let mut l = Array2::<f64>::zeros((n, n));
    for i in 0..n {
        for j in 0..=i {
            let s: f64 = (0..j).map(|k| l[[i, k]] * l[[j, k]]).sum();
            if i == j {
                let d = a[[i, i]] - s;
                if d <= 0.0 || !d.is_finite() {
                    return None;
                }
                l[[i, i]] = d.sqrt();
            } else {
                l[[i, j]] = (a[[i, j]] - s) / l[[j, j]];
            }
        }
    }
    let mut y = vec![0.0; n];
    for i in 0..n {
        y[i] = (b[i] - (0..i).map(|k| l[[i, k]] * y[k]).sum::<f64>()) / l[[i, i]];
    }
    let mut x = vec![0.0; n];
    for i in (0..n).rev() {
        x[i] = (y[i] - (i + 1..n).map(|k| l[[k, i]] * x[k]).sum::<f64>()) / l[[i, i]];
    }
    Some(x)
}

/// Penalised logistic regression by Newton's method on a prepared design (bias added
/// here), the penalty pulling the weights towards `prior` (same length as the
/// columns). Returns bias and weights.
pub(crate) fn newton(z: &Array2<f64>, y: &[f64], l2: f64, prior: &[f64], max_iter: usize) -> Vec<f64> {
    let p = z.ncols() + 1;
    let mut w = vec![0.0; p];
    w[1..].copy_from_slice(prior);
    // The penalty pulls towards `prior`: shift so that it is a plain ridge on w − prior.
    let pen = |w: &[f64]| -> f64 { 0.5 * l2 * w[1..].iter().zip(prior).map(|(a, b)| (a - b) * (a - b)).sum::<f64>() };
    let objective = |w: &[f64]| loss(z, y, w, 0.0) + pen(w);
    let mut current = objective(&w);
    for _ in 0..max_iter {
        let mut g = vec![0.0; p];
        // Rows scaled by sqrt(p(1−p)) so that the Hessian is one matrix product.
        let mut zs = Array2::<f64>::zeros((z.nrows(), p));
        for (i, (row, &yi)) in z.rows().into_iter().zip(y).enumerate() {
            let eta = w[0] + row.iter().zip(&w[1..]).map(|(a, b)| a * b).sum::<f64>();
            let pr = sigmoid(eta);
            let r = pr - yi;
            let s = (pr * (1.0 - pr)).max(1e-12).sqrt();
            g[0] += r;
            zs[[i, 0]] = s;
            for (k, v) in row.iter().enumerate() {
                g[k + 1] += r * v;
                zs[[i, k + 1]] = s * v;
            }
        }
        let mut h = zs.t().dot(&zs);
        for k in 1..p {
            g[k] += l2 * (w[k] - prior[k - 1]);
            h[[k, k]] += l2;
        }
        h[[0, 0]] += 1e-9;
        let Some(step) = cholesky_solve(&h, &g) else { break };
        // Step halving keeps every accepted step downhill.
        let mut t = 1.0;
        let mut accepted = false;
        for _ in 0..20 {
            let cand: Vec<f64> = w.iter().zip(&step).map(|(a, s)| a - t * s).collect();
            let next = objective(&cand);
            if next <= current {
                let gain = current - next;
                w = cand;
                current = next;
                accepted = gain > 1e-10 * current.abs().max(1.0);
                break;
            }
            t *= 0.5;
        }
        if !accepted {
            break;
        }
    }
    w
}

impl LogisticParams {
    /// Checks the settings.
    ///
    /// # Errors
    /// [`GbdtParamsError::Lambda`] for a negative or NaN penalty.
    pub fn check(&self) -> Result<(), GbdtParamsError> {
        if self.l2.is_nan() || self.l2 < 0.0 {
            return Err(GbdtParamsError::Lambda(self.l2));
        }
        Ok(())
    }

    /// Fits on rows of inputs (NaN = missing) and their labels.
    ///
    /// # Errors
    /// [`GbdtError`]: bad settings, no rows, or labels and rows disagreeing.
    pub fn fit(&self, x: ArrayView2<'_, f64>, y: &[bool]) -> Result<LogisticModel, GbdtError> {
        self.check()?;
        if x.nrows() != y.len() {
            return Err(GbdtError::Shape { rows: x.nrows(), targets: y.len() });
        }
        if y.is_empty() {
            return Err(GbdtError::Empty);
        }
        // An evenly spaced subset of large inputs: a linear model of ~100 weights
        // learns nothing more from further rows.
        let stride = y.len().div_ceil(self.max_rows.max(1));
        let rows: Vec<usize> = (0..y.len()).step_by(stride).collect();
        let mut columns = Vec::new();
        for j in 0..x.ncols() {
            let mut vals: Vec<f64> = rows.iter().map(|&i| x[[i, j]]).filter(|v| v.is_finite()).collect();
            let n_missing = rows.iter().filter(|&&i| x[[i, j]].is_nan()).count();
            if !vals.is_empty() {
                vals.sort_by(f64::total_cmp);
                let (lo, hi) = (quantile_sorted(&vals, 0.01), quantile_sorted(&vals, 0.99));
                let fill = quantile_sorted(&vals, 0.5);
                let mut c = Column { col: j, indicator: false, fill, lo, hi, mean: 0.0, inv_std: 1.0 };
                if let Some(s) = standardise(&rows, |i| c.value(x[[i, j]])) {
                    (c.mean, c.inv_std) = s;
                    columns.push(c);
                }
            }
            if n_missing > 0 && n_missing < rows.len() {
                let mut c = Column { col: j, indicator: true, fill: 0.0, lo: 0.0, hi: 1.0, mean: 0.0, inv_std: 1.0 };
                if let Some(s) = standardise(&rows, |i| c.value(x[[i, j]])) {
                    (c.mean, c.inv_std) = s;
                    columns.push(c);
                }
            }
        }
        let mut z = Array2::<f64>::zeros((rows.len(), columns.len()));
        for (r, &i) in rows.iter().enumerate() {
            for (k, c) in columns.iter().enumerate() {
                z[[r, k]] = c.value(x[[i, c.col]]);
            }
        }
        let t: Vec<f64> = rows.iter().map(|&i| f64::from(u8::from(y[i]))).collect();
        let w = newton(&z, &t, self.l2, &vec![0.0; columns.len()], self.max_iter);
        Ok(LogisticModel {
            n_features: x.ncols(),
            columns,
            bias: w[0],
            weights: w[1..].to_vec(),
            folded: FoldedOnce::default(),
        })
    }
}

/// Mean and inverse standard deviation of a prepared column; None when constant.
fn standardise(rows: &[usize], value: impl Fn(usize) -> f64) -> Option<(f64, f64)> {
    let n = rows.len() as f64;
    let mean = rows.iter().map(|&i| value(i)).sum::<f64>() / n;
    let var = rows.iter().map(|&i| (value(i) - mean).powi(2)).sum::<f64>() / n;
    (var > 1e-12 && var.is_finite()).then(|| (mean, 1.0 / var.sqrt()))
}

/// The weights folded into the raw (filled, clipped) inputs for fast scoring:
/// log-odds = bias + Σ a·clip(x) + Σ b·[x is NaN].
#[derive(Debug, Clone)]
struct Folded {
    bias: f64,
    /// (column, fill, lo, hi, weight) of value terms.
    values: Vec<(usize, f64, f64, f64, f64)>,
    /// (column, weight) of missing-indicator terms.
    indicators: Vec<(usize, f64)>,
}

impl Folded {
    #[inline]
    fn log_odds(&self, row: &[f64]) -> f64 {
        let mut z = self.bias;
        for &(j, fill, lo, hi, a) in &self.values {
            let v = row[j];
            z += a * if v.is_nan() { fill } else { v.clamp(lo, hi) };
        }
        for &(j, b) in &self.indicators {
            z += b * f64::from(u8::from(row[j].is_nan()));
        }
        z
    }
}

impl LogisticModel {
    /// Number of inputs.
    pub fn n_features(&self) -> usize {
        self.n_features
    }

    /// Log-odds of one row of inputs (as many as in training; not checked).
    pub fn log_odds(&self, row: &[f64]) -> f64 {
        self.folded().log_odds(row)
    }

    fn folded(&self) -> &Folded {
        self.folded.0.get_or_init(|| Box::new(self.fold()))
    }

    fn fold(&self) -> Folded {
        let mut f = Folded { bias: self.bias, values: Vec::new(), indicators: Vec::new() };
        for (c, w) in self.columns.iter().zip(&self.weights) {
            let a = w * c.inv_std;
            f.bias -= a * c.mean;
            if c.indicator {
                f.indicators.push((c.col, a));
            } else {
                f.values.push((c.col, c.fill, c.lo, c.hi, a));
            }
        }
        f
    }

    /// Log-odds per row.
    ///
    /// # Errors
    /// [`GbdtError::Features`] when the input width differs from training.
    pub fn predict_log_odds(&self, x: ArrayView2<'_, f64>) -> Result<Vec<f64>, GbdtError> {
        if x.ncols() != self.n_features {
            return Err(GbdtError::Features { expected: self.n_features, found: x.ncols() });
        }
        let flat = super::gbdt::row_major(&x);
        let f = self.folded();
        Ok(flat.chunks_exact(self.n_features.max(1)).take(x.nrows()).map(|r| f.log_odds(r)).collect())
    }

    /// Probability per row.
    ///
    /// # Errors
    /// [`GbdtError::Features`] when the input width differs from training.
    pub fn predict(&self, x: ArrayView2<'_, f64>) -> Result<Vec<f64>, GbdtError> {
        Ok(self.predict_log_odds(x)?.into_iter().map(sigmoid).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    fn data(n: usize, seed: u64) -> (Array2<f64>, Vec<bool>) {
        let mut r = Rng::new(seed, 0);
        let mut x = Array2::zeros((n, 4));
        let mut y = Vec::with_capacity(n);
        for i in 0..n {
            let (a, b) = (r.gauss(0.0, 1.0), r.gauss(0.0, 1.0));
            // Column 2 is noise on another scale, column 3 is constant.
            x[[i, 0]] = a;
            x[[i, 1]] = 100.0 + 50.0 * b;
            x[[i, 2]] = r.gauss(5.0, 1000.0);
            x[[i, 3]] = 7.0;
            y.push(r.chance(sigmoid(-0.5 + 1.5 * a + 0.7 * b)));
        }
        (x, y)
    }

    #[test]
    fn recovers_known_weights_on_the_standardised_scale() {
        let (x, y) = data(40_000, 3);
        let m = LogisticParams { l2: 0.0, ..LogisticParams::default() }.fit(x.view(), &y).unwrap();
        // Column 3 is constant and left out; the weights are per standard deviation.
        assert_eq!(m.columns.len(), 3);
        let w: Vec<f64> = m.columns.iter().zip(&m.weights).map(|(c, w)| w * c.inv_std).collect();
        assert!((w[0] - 1.5).abs() < 0.1 && (w[1] * 50.0 - 0.7).abs() < 0.1 && w[2].abs() * 1000.0 < 0.1, "{w:?}");
        // Held-out rows: the fitted probabilities rank about as well as the true ones.
        let (xt, yt) = data(10_000, 4);
        let p = m.predict(xt.view()).unwrap();
        let truth: Vec<f64> =
            (0..yt.len()).map(|i| sigmoid(-0.5 + 1.5 * xt[[i, 0]] + 0.7 * (xt[[i, 1]] - 100.0) / 50.0)).collect();
        let (a, b) = (crate::models::metrics::roc_auc(&p, &yt), crate::models::metrics::roc_auc(&truth, &yt));
        assert!(a > b - 0.01, "{a} vs {b}");
    }

    #[test]
    fn the_penalty_shrinks_and_missing_values_get_an_indicator() {
        let (mut x, y) = data(5_000, 5);
        // Missing whenever the label is true on one in three rows: the indicator is informative.
        for i in (0..y.len()).step_by(3) {
            if y[i] {
                x[[i, 2]] = f64::NAN;
            }
        }
        let loose = LogisticParams { l2: 0.0, ..LogisticParams::default() }.fit(x.view(), &y).unwrap();
        let tight = LogisticParams { l2: 5_000.0, ..LogisticParams::default() }.fit(x.view(), &y).unwrap();
        let norm = |m: &LogisticModel| m.weights.iter().map(|w| w * w).sum::<f64>();
        assert!(norm(&tight) < 0.2 * norm(&loose), "{} vs {}", norm(&tight), norm(&loose));
        let ind = loose.columns.iter().position(|c| c.indicator).expect("an indicator column");
        assert_eq!(loose.columns[ind].col, 2);
        assert!(loose.weights[ind] > 0.3, "{}", loose.weights[ind]);
        // A NaN row predicts a finite probability, the same by row and in a batch.
        let row = [0.0, 100.0, f64::NAN, 7.0];
        assert!(loose.log_odds(&row).is_finite());
        let batch = loose.predict_log_odds(x.view()).unwrap();
        for (i, z) in batch.iter().enumerate().step_by(97) {
            let by_row = loose.log_odds(x.row(i).as_slice().unwrap());
            assert!((z - by_row).abs() < 1e-9, "{z} vs {by_row}");
        }
    }

    #[test]
    fn extreme_values_are_clipped_to_the_training_range() {
        let (x, y) = data(5_000, 6);
        let m = LogisticParams::default().fit(x.view(), &y).unwrap();
        let big = m.log_odds(&[1e12, 100.0, 0.0, 7.0]);
        let p99 = m.log_odds(&[3.0, 100.0, 0.0, 7.0]);
        assert!((big - p99).abs() < 1e-9, "{big} vs {p99}");
    }

    #[test]
    fn bad_settings_and_shapes_are_refused() {
        let (x, y) = data(100, 7);
        assert!(matches!(
            LogisticParams { l2: -1.0, ..LogisticParams::default() }.fit(x.view(), &y),
            Err(GbdtError::Params(GbdtParamsError::Lambda(_)))
        ));
        assert!(matches!(LogisticParams::default().fit(x.view(), &y[..5]), Err(GbdtError::Shape { .. })));
        let m = LogisticParams::default().fit(x.view(), &y).unwrap();
        assert!(matches!(m.predict(x.slice(ndarray::s![.., ..3])), Err(GbdtError::Features { expected: 4, found: 3 })));
    }
}
