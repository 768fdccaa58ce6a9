//! Errors of the gradient-boosted trees.

/// A parameter rule was broken.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GbdtParamsError {
    /// Quantile level outside (0, 1).
    #[error("alpha should be in (0, 1), but is {0}")]
    Alpha(f64),
    /// Zero trees.
    #[error("n_trees cannot be 0")]
    NoTrees,
    /// Learning rate outside (0, 1].
    #[error("learning_rate should be in (0, 1], but is {0}")]
    LearningRate(f64),
    /// Fewer than two leaves.
    #[error("max_leaves should be at least 2, but is {0}")]
    MaxLeaves(usize),
    /// Zero rows per leaf.
    #[error("min_data_in_leaf cannot be 0")]
    MinDataInLeaf,
    /// Negative or NaN penalty.
    #[error("lambda_l2 should be >= 0, but is {0}")]
    Lambda(f64),
    /// A blend weight outside [0, 1].
    #[error("a blend weight should be in [0, 1], but is {0}")]
    Weight(f64),
    /// Bins outside 2..=255.
    #[error("max_bins should be in 2..=255, but is {0}")]
    MaxBins(usize),
    /// A share outside its range.
    #[error("{name} should be in {range}, but is {value}")]
    Share {
        /// Setting.
        name: &'static str,
        /// Allowed range.
        range: &'static str,
        /// Value given.
        value: f64,
    },
}

/// Fitting or using a model failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GbdtError {
    /// Bad parameters.
    #[error(transparent)]
    Params(#[from] GbdtParamsError),
    /// Bad parameters of the empirical model blended with the trees.
    #[error(transparent)]
    Empirical(#[from] crate::models::empirical::EmpiricalParamsError),
    /// No rows to fit.
    #[error("cannot fit on 0 rows")]
    Empty,
    /// Targets and rows disagree.
    #[error("{rows} rows but {targets} targets")]
    Shape {
        /// Rows of the matrix.
        rows: usize,
        /// Targets given.
        targets: usize,
    },
    /// A target is not finite (or not 0/1 for the logistic loss).
    #[error("target {index} is {value}, which the loss cannot use")]
    BadTarget {
        /// Row.
        index: usize,
        /// Value.
        value: f64,
    },
    /// Predicting with a different number of features than trained.
    #[error("model has {expected} features, input has {found}")]
    Features {
        /// Trained.
        expected: usize,
        /// Given.
        found: usize,
    },
}
