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
    /// Seed.
    pub seed: u64,
}

impl Default for RiskParams {
    fn default() -> Self {
        RiskParams {
            n_trees: 150,
            learning_rate: 0.05,
            max_leaves: 7,
            min_data_in_leaf: 40,
            calibration_share: 0.2,
            seed: 42,
        }
    }
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
    },
}

impl RiskParams {
    /// Fits on rows sorted or not; `order_key` (issue day) decides the time split.
    ///
    /// # Errors
    /// [`GbdtError`].
    pub fn fit(&self, x: ArrayView2<'_, f64>, label: &[bool], order_key: &[i32]) -> Result<RiskModel, GbdtError> {
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
        let iso = if late.len() >= 30 && early.len() >= 30 {
            let xe = x.select(Axis(0), early);
            let ye: Vec<f64> = early.iter().map(|&i| y[i]).collect();
            if ye.contains(&1.0) && ye.contains(&0.0) {
                let m = params(early.len()).fit(xe.view(), &ye)?;
                let s = m.predict(x.select(Axis(0), late).view())?;
                let l: Vec<bool> = late.iter().map(|&i| label[i]).collect();
                Isotonic::fit(&s, &l)
            } else {
                None
            }
        } else {
            None
        };
        let gbdt = params(n).fit(x, &y)?;
        Ok(RiskModel::Calibrated { gbdt: Box::new(gbdt), iso })
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
            RiskModel::Calibrated { gbdt, iso } => {
                let s = gbdt.predict(x)?;
                Ok(match iso {
                    Some(iso) => s.iter().map(|v| iso.apply(*v)).collect(),
                    None => s,
                })
            }
        }
    }
}
