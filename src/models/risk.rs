//! Late-payment risk: calibrated probabilities from a logistic GBDT and a ridge
//! logistic regression, stacked on a time-later validation slice with the customer's
//! own late rate (the stack's weights start from an even blend of the two models'
//! log-odds and move only as far as the slice shows).
//!
//! The linear partner: on small ledgers a regularised linear model over the customer's
//! history ranks late payers as well as or better than trees (on the shared IBM data
//! alone it does better), on large ones the trees win; the blend holds up on both.

use ndarray::{ArrayView2, Axis};
use serde::{Deserialize, Serialize};

use super::calibration::Isotonic;
use super::gbdt::{Gbdt, GbdtError, GbdtParams, GbdtParamsError, Loss};
use super::linear::{newton, LogisticModel, LogisticParams};

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
    /// Calibration: a logistic stack of the GBDT score, the linear model's log-odds
    /// and the customer's own late rate, or isotonic on the blended score.
    pub calibration: Calibration,
    /// Pseudo-count pulling a customer's late rate towards the portfolio's.
    pub prior_strength: f64,
    /// Weight of the linear model's log-odds in the blend (0 turns it off, 1 leaves
    /// only the linear model).
    #[serde(default = "default_linear_weight")]
    pub linear_weight: f64,
    /// The linear model.
    #[serde(default)]
    pub linear: LogisticParams,
    /// Pull of the stack weights towards the fixed blend (GBDT and linear log-odds at
    /// `1 − linear_weight` and `linear_weight`, nothing on the customer prior), in rows
    /// of evidence: a small calibration slice moves them little, a large one as far
    /// as it shows.
    #[serde(default = "default_stack_shrinkage")]
    pub stack_shrinkage: f64,
    /// Seed.
    pub seed: u64,
}

fn default_linear_weight() -> f64 {
    0.5
}

fn default_stack_shrinkage() -> f64 {
    50.0
}

impl Default for RiskParams {
    fn default() -> Self {
        // 60 steps of 0.15, not 300 of 0.03: the same accuracy in the backtests on
        // the IBM data and two generated ledgers (BENCHMARKS.md), a fifth of the walks.
        RiskParams {
            n_trees: 60,
            learning_rate: 0.15,
            max_leaves: 4,
            min_data_in_leaf: 60,
            calibration_share: 0.2,
            calibration: Calibration::Stack,
            prior_strength: 2.0,
            linear_weight: default_linear_weight(),
            linear: LogisticParams::default(),
            stack_shrinkage: default_stack_shrinkage(),
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
    /// Logistic regression of the outcome on logit(GBDT score), logit(customer's shrunk
    /// late rate) and the linear model's log-odds.
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
    fn rate(&self, row: &[f64]) -> f64 {
        self.rate_of(row[self.share_col], row[self.count_col])
    }

    /// The rate of a customer with late share `share` over `n` settled invoices.
    fn rate_of(&self, share: f64, n: f64) -> f64 {
        if share.is_nan() || n.is_nan() || n <= 0.0 {
            return self.base;
        }
        (share * n + self.base * self.strength) / (n + self.strength)
    }
}

/// Probabilities whose log-odds are `(1 − weight)·logit(p) + weight·log_odds`.
fn blend(p: &[f64], log_odds: &[f64], weight: f64) -> Vec<f64> {
    p.iter().zip(log_odds).map(|(&p, &z)| blend_one(p, z, weight)).collect()
}

/// [`blend`] of one probability.
fn blend_one(p: f64, log_odds: f64, weight: f64) -> f64 {
    1.0 / (1.0 + (-((1.0 - weight) * logit(p) + weight * log_odds)).exp())
}

/// The input a risk model takes for an empirical probability (NaN stays NaN).
pub fn empirical_log_odds(p: f64) -> f64 {
    if p.is_nan() {
        f64::NAN
    } else {
        logit(p)
    }
}

fn logit(p: f64) -> f64 {
    let p = p.clamp(1e-4, 1.0 - 1e-4);
    (p / (1.0 - p)).ln()
}

/// Logistic regression of `y` on a few inputs, the weights pulled towards `prior`
/// with strength `l2`: bias, then one weight per input.
fn fit_logistic(z: &[Vec<f64>], y: &[bool], prior: &[f64], l2: f64) -> Vec<f64> {
    let design = ndarray::Array2::from_shape_fn((z.len(), prior.len()), |(i, k)| z[i][k]);
    let t: Vec<f64> = y.iter().map(|&v| f64::from(u8::from(v))).collect();
    newton(&design, &t, l2.max(1e-3), prior, 50)
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
    /// GBDT scores (blended with the linear model's) mapped through a calibration.
    Calibrated {
        /// Classifier trained on all rows.
        gbdt: Box<Gbdt>,
        /// The linear partner and its weight in the blend of log-odds.
        #[serde(default)]
        linear: Option<(LogisticModel, f64)>,
        /// Calibration from the time-later slice (None when too small).
        iso: Option<Isotonic>,
        /// Logistic stack weights (bias, logit GBDT score, logit prior[, linear
        /// log-odds][, logit of the empirical model's probability]) and the prior.
        #[serde(default)]
        stack: Option<(Vec<f64>, Prior)>,
        /// Whether the empirical model's probability (as at issue) is the last input of
        /// the trees, of the linear model and of the stack.
        #[serde(default)]
        empirical_input: bool,
    },
}

impl RiskParams {
    /// Checks the settings (the trees', the blend weight, the stack's pull and the
    /// linear model's).
    ///
    /// # Errors
    /// [`GbdtError`] naming the setting.
    pub fn check(&self) -> Result<(), GbdtError> {
        self.tree_params(self.min_data_in_leaf).check()?;
        if !(0.0..=1.0).contains(&self.linear_weight) {
            return Err(GbdtParamsError::Weight(self.linear_weight).into());
        }
        if self.stack_shrinkage.is_nan() || self.stack_shrinkage < 0.0 {
            return Err(GbdtParamsError::Lambda(self.stack_shrinkage).into());
        }
        self.linear.check()?;
        Ok(())
    }

    /// The trees' settings with `min_leaf` rows per leaf.
    fn tree_params(&self, min_leaf: usize) -> GbdtParams {
        GbdtParams::new(Loss::Logistic)
            .n_trees(self.n_trees)
            .learning_rate(self.learning_rate)
            .max_leaves(self.max_leaves)
            .min_data_in_leaf(min_leaf)
            .seed(self.seed)
    }

    /// Fits on rows sorted or not; `order_key` (issue day) decides the time split.
    ///
    /// # Errors
    /// [`GbdtError`].
    /// `prior`: the input columns of the customer's late share and settled count, used
    /// by [`Calibration::Stack`] (isotonic without them). `empirical`: the empirical
    /// model's probability of each row, which the trees, the linear model and the
    /// stack then take as one more input (the models fitted on the early rows see it
    /// from an empirical model fitted on those rows only).
    pub fn fit(
        &self,
        x: ArrayView2<'_, f64>,
        label: &[bool],
        order_key: &[i32],
        prior: Option<(usize, usize)>,
        empirical: Option<EmpiricalInputs<'_>>,
    ) -> Result<RiskModel, GbdtError> {
        self.check()?;
        let n = label.len();
        let pos = label.iter().filter(|l| **l).count();
        if pos < 5 || n - pos < 5 {
            return Ok(RiskModel::Constant((pos as f64 + 0.5) / (n as f64 + 1.0)));
        }
        let y: Vec<f64> = label.iter().map(|l| f64::from(u8::from(*l))).collect();
        let params = |rows: usize| self.tree_params(self.min_data_in_leaf.min((rows / 4).max(1)));
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by_key(|&i| (order_key[i], i));
        let cut = ((1.0 - self.calibration_share) * n as f64) as usize;
        let (early, late) = order.split_at(cut);
        let base = pos as f64 / n as f64;
        let mut iso = None;
        let mut stack = None;
        let empirical_input = empirical.is_some();
        if late.len() >= 30 && early.len() >= 30 {
            // The empirical model of the early rows, for every row.
            let emp_early = match &empirical {
                Some(e) => Some((e.refit)(early)?.unwrap_or_else(|| vec![f64::NAN; n])),
                None => None,
            };
            let pick = |rows: &[usize]| emp_early.as_ref().map(|e| rows.iter().map(|&i| e[i]).collect::<Vec<f64>>());
            // The rows' inputs, with the empirical column when there is one.
            let inputs = |rows: &[usize]| {
                let sel = x.select(Axis(0), rows);
                match pick(rows) {
                    Some(p) => with_empirical(sel.view(), &p),
                    None => sel,
                }
            };
            let xe = inputs(early);
            let ye: Vec<f64> = early.iter().map(|&i| y[i]).collect();
            if ye.contains(&1.0) && ye.contains(&0.0) {
                let m = params(early.len()).fit(xe.view(), &ye)?;
                let xl = inputs(late);
                let g = m.predict(xl.view())?;
                let lin = if self.linear_weight > 0.0 {
                    let le: Vec<bool> = early.iter().map(|&i| label[i]).collect();
                    Some(self.linear.fit(xe.view(), &le)?.predict_log_odds(xl.view())?)
                } else {
                    None
                };
                let l: Vec<bool> = late.iter().map(|&i| label[i]).collect();
                match (self.calibration, prior) {
                    (Calibration::Stack, Some((share_col, count_col))) => {
                        let pr = Prior { share_col, count_col, base, strength: self.prior_strength };
                        let emp = pick(late);
                        // Inputs: logit(GBDT), logit(customer prior)[, linear log-odds]
                        // [, logit(empirical)], pulled towards the fixed blend with no
                        // prior (the empirical model, when there, as much as the other two).
                        let w = self.linear_weight;
                        let z: Vec<Vec<f64>> = (0..l.len())
                            .map(|k| {
                                let mut v =
                                    vec![logit(g[k]), logit(pr.rate_of(xl[[k, pr.share_col]], xl[[k, pr.count_col]]))];
                                v.extend(lin.as_ref().map(|lin| lin[k]));
                                v.extend(emp.as_ref().map(|e| logit(e[k])));
                                v
                            })
                            .collect();
                        let mut target = if lin.is_some() { vec![1.0 - w, 0.0, w] } else { vec![1.0, 0.0] };
                        if emp.is_some() {
                            target[0] *= 0.5;
                            if lin.is_some() {
                                target[2] *= 0.5;
                            }
                            target.push(0.5);
                        }
                        stack = Some((fit_logistic(&z, &l, &target, self.stack_shrinkage), pr));
                    }
                    _ => {
                        let s = match &lin {
                            Some(lin) => blend(&g, lin, self.linear_weight),
                            None => g,
                        };
                        iso = Isotonic::fit(&s, &l);
                    }
                }
            }
        }
        let wide = empirical.as_ref().map(|e| with_empirical(x, &e.all));
        let xa = match &wide {
            Some(w) => w.view(),
            None => x.reborrow(),
        };
        let gbdt = params(n).fit(xa.view(), &y)?;
        let linear = if self.linear_weight > 0.0 {
            Some((self.linear.fit(xa.view(), label)?, self.linear_weight))
        } else {
            None
        };
        Ok(RiskModel::Calibrated { gbdt: Box::new(gbdt), linear, iso, stack, empirical_input })
    }
}

/// What the empirical model says of each row of a risk fit: its probability of the
/// fit's outcome, as seen at the row's issue date.
pub struct EmpiricalInputs<'a> {
    /// From the model fitted on every row with a known outcome.
    pub all: Vec<f64>,
    /// Given the early rows, the probability of every row from a model fitted on
    /// those (None: too few to fit one).
    pub refit: Refit<'a>,
}

/// Given some rows, the empirical probability of every row from a model fitted on
/// those (None: too few to fit one).
pub type Refit<'a> = &'a (dyn Fn(&[usize]) -> Result<Option<Vec<f64>>, GbdtError> + Sync);

/// `x` with the logit of the empirical probability `p` as one more column.
pub fn with_empirical(x: ArrayView2<'_, f64>, p: &[f64]) -> ndarray::Array2<f64> {
    let col = ndarray::Array1::from_iter(p.iter().map(|&v| empirical_log_odds(v))).insert_axis(Axis(1));
    ndarray::concatenate(Axis(1), &[x.view(), col.view()]).expect("rows of equal count")
}

impl RiskModel {
    /// Calibrated probability per row.
    ///
    /// # Errors
    /// [`GbdtError::Features`] on a width mismatch.
    pub fn predict(&self, x: ArrayView2<'_, f64>) -> Result<Vec<f64>, GbdtError> {
        self.predict_with(x, None)
    }

    /// [`Self::predict`] with the empirical model's probability per row, for a model
    /// whose stack takes it (without it, the customer's prior rate stands in).
    ///
    /// # Errors
    /// [`GbdtError::Features`] on a width mismatch.
    pub fn predict_with(&self, x: ArrayView2<'_, f64>, empirical: Option<&[f64]>) -> Result<Vec<f64>, GbdtError> {
        if !self.takes_empirical() {
            return self.predict_wide(x);
        }
        let missing = vec![f64::NAN; x.nrows()];
        self.predict_wide(with_empirical(x, empirical.unwrap_or(&missing)).view())
    }

    /// Whether the model takes the empirical model's log-odds as its last input.
    pub fn takes_empirical(&self) -> bool {
        matches!(self, RiskModel::Calibrated { empirical_input: true, .. })
    }

    /// Probabilities from rows that already end with the empirical model's log-odds
    /// (NaN when unknown) if the model takes them ([`Self::takes_empirical`]), or are
    /// the plain inputs otherwise.
    ///
    /// # Errors
    /// [`GbdtError::Features`] on a width mismatch.
    pub fn predict_wide(&self, x: ArrayView2<'_, f64>) -> Result<Vec<f64>, GbdtError> {
        match self {
            RiskModel::Constant(p) => Ok(vec![*p; x.nrows()]),
            RiskModel::Calibrated { gbdt, linear, .. } => {
                let g = gbdt.predict(x)?;
                let lin = linear.as_ref().map(|(m, _)| m.predict_log_odds(x)).transpose()?;
                let flat = crate::models::gbdt::row_major(&x);
                Ok(flat
                    .chunks_exact(x.ncols().max(1))
                    .take(x.nrows())
                    .enumerate()
                    .map(|(i, row)| self.finish(g[i], lin.as_ref().map(|l| l[i]), row))
                    .collect())
            }
        }
    }

    /// [`Self::predict_wide`] of one row.
    ///
    /// # Errors
    /// [`GbdtError::Features`] on a width mismatch.
    pub fn predict_wide_row(&self, row: &[f64]) -> Result<f64, GbdtError> {
        match self {
            RiskModel::Constant(p) => Ok(*p),
            RiskModel::Calibrated { gbdt, linear, .. } => {
                if row.len() != gbdt.forest.n_features {
                    return Err(GbdtError::Features { expected: gbdt.forest.n_features, found: row.len() });
                }
                let lin = match linear {
                    Some((m, _)) if m.n_features() != row.len() => {
                        return Err(GbdtError::Features { expected: m.n_features(), found: row.len() })
                    }
                    Some((m, _)) => Some(m.log_odds(row)),
                    None => None,
                };
                Ok(self.finish(gbdt.predict_row(row), lin, row))
            }
        }
    }

    /// The probability of a row from the trees' probability `g` and the linear
    /// model's log-odds `lin`: through the stack, or blended and calibrated.
    fn finish(&self, g: f64, lin: Option<f64>, row: &[f64]) -> f64 {
        let RiskModel::Calibrated { linear, iso, stack, empirical_input, .. } = self else {
            return g;
        };
        match (stack, iso) {
            (Some((w, pr)), _) => {
                let prior = logit(pr.rate(row));
                let mut z = w[0] + w[1] * logit(g) + w[2] * prior;
                let mut k = 3;
                if let Some(lin) = lin {
                    if let Some(wl) = w.get(k) {
                        z += wl * lin;
                    }
                    k += 1;
                }
                if *empirical_input {
                    let e = row[row.len() - 1];
                    z += w.get(k).copied().unwrap_or(0.0) * if e.is_nan() { prior } else { e };
                }
                1.0 / (1.0 + (-z).exp())
            }
            (None, calibration) => {
                let s = match (lin, linear) {
                    (Some(lin), Some((_, weight))) => blend_one(g, lin, *weight),
                    _ => g,
                };
                match calibration {
                    Some(iso) => iso.apply(s),
                    None => s,
                }
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
            z.push(vec![a, b]);
            y.push(r.chance(p));
        }
        let w = fit_logistic(&z, &y, &[0.0, 0.0], 0.0);
        assert!((w[0] + 0.5).abs() < 0.08 && (w[1] - 1.5).abs() < 0.08 && (w[2] - 0.7).abs() < 0.08, "{w:?}");
    }

    #[test]
    fn the_customer_prior_shrinks_small_histories_towards_the_portfolio_rate() {
        let pr = Prior { share_col: 0, count_col: 1, base: 0.4, strength: 2.0 };
        assert_eq!(pr.rate(&[f64::NAN, 0.0]), 0.4);
        assert!((pr.rate(&[1.0, 2.0]) - 0.7).abs() < 1e-12);
        assert!((pr.rate(&[0.0, 98.0]) - 0.008).abs() < 1e-12);
    }

    /// Rows whose late odds are linear in column 0 and step-shaped in column 1, with
    /// the customer prior columns (share late, settled count) in 2 and 3.
    fn rows(n: usize, seed: u64) -> (ndarray::Array2<f64>, Vec<bool>, Vec<i32>) {
        let mut r = Rng::new(seed, 0);
        let mut x = ndarray::Array2::zeros((n, 4));
        let mut y = Vec::with_capacity(n);
        for i in 0..n {
            let (a, b) = (r.gauss(0.0, 1.0), r.gauss(0.0, 1.0));
            let z = -0.3 + 1.2 * a + if b > 0.5 { 1.5 } else { -0.5 };
            x[[i, 0]] = a;
            x[[i, 1]] = b;
            x[[i, 2]] = if i % 5 == 0 { f64::NAN } else { (r.gauss(0.0, 1.0) + z).clamp(-3.0, 3.0) / 6.0 + 0.5 };
            x[[i, 3]] = if i % 5 == 0 { 0.0 } else { 10.0 };
            y.push(r.chance(1.0 / (1.0 + (-z).exp())));
        }
        (x, y, (0..n as i32).collect())
    }

    #[test]
    fn the_blend_with_the_linear_model_ranks_held_out_rows_and_round_trips() {
        let (x, y, order) = rows(4_000, 8);
        let (xt, yt, _) = rows(2_000, 9);
        let p = RiskParams { n_trees: 60, learning_rate: 0.1, ..RiskParams::default() };
        let m = p.fit(x.view(), &y, &order, Some((2, 3)), None).unwrap();
        let RiskModel::Calibrated { linear: Some(_), stack: Some((w, _)), .. } = &m else {
            panic!("expected a blended, stacked model: {m:?}")
        };
        assert_eq!(w.len(), 4, "{w:?}");
        let probs = m.predict(xt.view()).unwrap();
        assert!(probs.iter().all(|p| *p > 0.0 && *p < 1.0));
        let auc = crate::models::metrics::roc_auc(&probs, &yt);
        assert!(auc > 0.75, "{auc}");
        // Calibrated on held-out rows: mean probability close to the observed rate.
        let rate = yt.iter().filter(|v| **v).count() as f64 / yt.len() as f64;
        let mean = probs.iter().sum::<f64>() / probs.len() as f64;
        assert!((mean - rate).abs() < 0.04, "{mean} vs {rate}");
        let back: RiskModel = serde_json::from_str(&serde_json::to_string(&m).unwrap()).unwrap();
        assert_eq!(back.predict(xt.view()).unwrap(), probs);
    }

    #[test]
    fn models_saved_before_the_linear_partner_still_load_and_predict_the_same() {
        let (x, y, order) = rows(2_000, 10);
        let p = RiskParams { n_trees: 30, linear_weight: 0.0, ..RiskParams::default() };
        let m = p.fit(x.view(), &y, &order, Some((2, 3)), None).unwrap();
        let mut json: serde_json::Value = serde_json::to_value(&m).unwrap();
        // The earlier layout: no `linear` key, three stack weights.
        let inner = json.get_mut("Calibrated").unwrap().as_object_mut().unwrap();
        assert!(inner.remove("linear").unwrap().is_null());
        assert_eq!(inner["stack"][0].as_array().unwrap().len(), 3);
        let old: RiskModel = serde_json::from_value(json).unwrap();
        assert_eq!(old.predict(x.view()).unwrap(), m.predict(x.view()).unwrap());
    }

    #[test]
    fn blend_settings_are_checked() {
        let (x, y, order) = rows(200, 11);
        for bad in [
            RiskParams { linear_weight: 1.5, ..RiskParams::default() },
            RiskParams { stack_shrinkage: -1.0, ..RiskParams::default() },
        ] {
            assert!(matches!(bad.fit(x.view(), &y, &order, None, None), Err(GbdtError::Params(_))), "{bad:?}");
        }
    }
}
