//! Parameters of the gradient-boosted trees, validated before any work.

use serde::{Deserialize, Serialize};

use super::GbdtParamsError;

/// What the trees minimise.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Loss {
    /// Squared error (mean).
    Squared,
    /// Pinball loss for the `alpha` quantile (0.5 = absolute error / median). Leaf
    /// values are refit to the quantile of the residuals in the leaf.
    Quantile {
        /// Quantile level in (0, 1).
        alpha: f64,
    },
    /// Binary log loss; predictions are log-odds.
    Logistic,
}

/// Checked parameters; build with [`GbdtParams`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GbdtValidParams {
    /// Loss.
    pub loss: Loss,
    /// Boosting rounds (trees).
    pub n_trees: usize,
    /// Shrinkage applied to every leaf value.
    pub learning_rate: f64,
    /// Leaves per tree (grown best-first).
    pub max_leaves: usize,
    /// Fewest training rows in a leaf.
    pub min_data_in_leaf: usize,
    /// L2 penalty on leaf values.
    pub lambda_l2: f64,
    /// Histogram bins per feature (missing values get one more).
    pub max_bins: usize,
    /// Smallest gain that makes a split.
    pub min_gain: f64,
    /// Seed of the row samples (training is deterministic for a seed).
    pub seed: u64,
    /// Share of the rows each tree is grown on, drawn afresh per tree (1: all rows,
    /// no sampling). The rows left out still move with every tree's prediction.
    #[serde(default = "all_rows")]
    pub bagging_fraction: f64,
}

fn all_rows() -> f64 {
    1.0
}

/// Builder of [`GbdtValidParams`]; defaults: 300 trees, learning rate 0.05, 31 leaves,
/// 20 rows per leaf, λ = 1, 255 bins, min gain 0, seed 42, every row in every tree.
#[derive(Debug, Clone, PartialEq)]
pub struct GbdtParams(GbdtValidParams);

impl GbdtParams {
    /// Defaults for a loss.
    pub fn new(loss: Loss) -> Self {
        GbdtParams(GbdtValidParams {
            loss,
            n_trees: 300,
            learning_rate: 0.05,
            max_leaves: 31,
            min_data_in_leaf: 20,
            lambda_l2: 1.0,
            max_bins: 255,
            min_gain: 0.0,
            seed: 42,
            bagging_fraction: 1.0,
        })
    }

    /// Boosting rounds.
    pub fn n_trees(mut self, v: usize) -> Self {
        self.0.n_trees = v;
        self
    }

    /// Shrinkage.
    pub fn learning_rate(mut self, v: f64) -> Self {
        self.0.learning_rate = v;
        self
    }

    /// Leaves per tree.
    pub fn max_leaves(mut self, v: usize) -> Self {
        self.0.max_leaves = v;
        self
    }

    /// Rows per leaf.
    pub fn min_data_in_leaf(mut self, v: usize) -> Self {
        self.0.min_data_in_leaf = v;
        self
    }

    /// L2 penalty.
    pub fn lambda_l2(mut self, v: f64) -> Self {
        self.0.lambda_l2 = v;
        self
    }

    /// Bins per feature.
    pub fn max_bins(mut self, v: usize) -> Self {
        self.0.max_bins = v;
        self
    }

    /// Seed.
    pub fn seed(mut self, v: u64) -> Self {
        self.0.seed = v;
        self
    }

    /// Share of the rows each tree is grown on.
    pub fn bagging_fraction(mut self, v: f64) -> Self {
        self.0.bagging_fraction = v;
        self
    }

    /// Validates the parameters.
    ///
    /// # Errors
    /// One [`GbdtParamsError`] per rule.
    pub fn check(&self) -> Result<GbdtValidParams, GbdtParamsError> {
        let p = &self.0;
        if let Loss::Quantile { alpha } = p.loss {
            if !(alpha > 0.0 && alpha < 1.0) {
                return Err(GbdtParamsError::Alpha(alpha));
            }
        }
        if p.n_trees == 0 {
            return Err(GbdtParamsError::NoTrees);
        }
        if !(p.learning_rate > 0.0 && p.learning_rate <= 1.0) {
            return Err(GbdtParamsError::LearningRate(p.learning_rate));
        }
        if p.max_leaves < 2 {
            return Err(GbdtParamsError::MaxLeaves(p.max_leaves));
        }
        if p.min_data_in_leaf == 0 {
            return Err(GbdtParamsError::MinDataInLeaf);
        }
        if p.lambda_l2.is_nan() || p.lambda_l2 < 0.0 {
            return Err(GbdtParamsError::Lambda(p.lambda_l2));
        }
        if !(2..=255).contains(&p.max_bins) {
            return Err(GbdtParamsError::MaxBins(p.max_bins));
        }
        if !(p.bagging_fraction > 0.0 && p.bagging_fraction <= 1.0) {
            let value = p.bagging_fraction;
            return Err(GbdtParamsError::Share { name: "bagging_fraction", range: "(0, 1]", value });
        }
        Ok(p.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        assert!(GbdtParams::new(Loss::Squared).check().is_ok());
    }

    #[test]
    fn alpha_must_be_inside_zero_one() {
        assert_eq!(GbdtParams::new(Loss::Quantile { alpha: 1.0 }).check(), Err(GbdtParamsError::Alpha(1.0)));
    }

    #[test]
    fn n_trees_cannot_be_zero() {
        assert_eq!(GbdtParams::new(Loss::Squared).n_trees(0).check(), Err(GbdtParamsError::NoTrees));
    }

    #[test]
    fn learning_rate_must_be_positive() {
        assert_eq!(GbdtParams::new(Loss::Squared).learning_rate(0.0).check(), Err(GbdtParamsError::LearningRate(0.0)));
    }

    #[test]
    fn max_leaves_must_allow_a_split() {
        assert_eq!(GbdtParams::new(Loss::Squared).max_leaves(1).check(), Err(GbdtParamsError::MaxLeaves(1)));
    }

    #[test]
    fn min_data_in_leaf_cannot_be_zero() {
        assert_eq!(GbdtParams::new(Loss::Squared).min_data_in_leaf(0).check(), Err(GbdtParamsError::MinDataInLeaf));
    }

    #[test]
    fn lambda_cannot_be_negative() {
        assert_eq!(GbdtParams::new(Loss::Squared).lambda_l2(-1.0).check(), Err(GbdtParamsError::Lambda(-1.0)));
    }

    #[test]
    fn max_bins_is_bounded() {
        assert_eq!(GbdtParams::new(Loss::Squared).max_bins(300).check(), Err(GbdtParamsError::MaxBins(300)));
    }
}
