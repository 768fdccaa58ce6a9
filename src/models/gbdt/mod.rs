//! Gradient-boosted decision trees of our own: histogram-based, leaf-wise, with
//! squared, quantile (pinball) and logistic losses, missing-value handling and a
//! flattened ensemble for fast prediction.
//!
//! ```
//! use arsight::models::gbdt::{GbdtParams, Loss};
//! let x = ndarray::Array2::from_shape_fn((200, 1), |(i, _)| i as f64);
//! let y: Vec<f64> = (0..200).map(|i| if i < 100 { 1.0 } else { 5.0 }).collect();
//! let model = GbdtParams::new(Loss::Squared).n_trees(50).learning_rate(0.3).fit(x.view(), &y)?;
//! assert!((model.predict_row(&[10.0]) - 1.0).abs() < 0.1);
//! # Ok::<(), arsight::models::gbdt::GbdtError>(())
//! ```

mod binning;
mod block;
mod errors;
mod hyperparams;
mod train;
mod tree;

#[cfg(test)]
mod tests;

use ndarray::ArrayView2;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

pub use errors::{GbdtError, GbdtParamsError};
pub use hyperparams::{GbdtParams, GbdtValidParams, Loss};
pub(crate) use tree::SMALL as FEW_ROWS;
pub use tree::{Explainer, Forest, Node};

/// The values of `x` row after row: borrowed when `x` is already laid out so, copied
/// otherwise.
pub fn row_major<'a>(x: &'a ArrayView2<'_, f64>) -> std::borrow::Cow<'a, [f64]> {
    match x.as_slice() {
        Some(s) => std::borrow::Cow::Borrowed(s),
        None => std::borrow::Cow::Owned(x.as_standard_layout().iter().copied().collect()),
    }
}

/// A fitted model: parameters and the forest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gbdt {
    /// Parameters it was trained with.
    pub params: GbdtValidParams,
    /// The ensemble.
    pub forest: Forest,
}

impl GbdtParams {
    /// Validates the parameters and fits.
    ///
    /// # Errors
    /// [`GbdtError`].
    pub fn fit(&self, x: ArrayView2<'_, f64>, y: &[f64]) -> Result<Gbdt, GbdtError> {
        let p = self.check()?;
        let clock = std::time::Instant::now();
        let forest = train::fit(&p, x, y)?;
        tracing::debug!(
            rows = x.nrows(),
            features = x.ncols(),
            trees = p.n_trees,
            loss = ?p.loss,
            seconds = clock.elapsed().as_secs_f64(),
            "gbdt fit"
        );
        Ok(Gbdt { params: p, forest })
    }
}

impl Gbdt {
    /// Prediction for one row: the value for squared and quantile losses, the
    /// probability for the logistic loss.
    #[inline]
    pub fn predict_row(&self, x: &[f64]) -> f64 {
        let s = self.forest.predict_row(x);
        match self.params.loss {
            Loss::Logistic => 1.0 / (1.0 + (-s).exp()),
            _ => s,
        }
    }

    /// Predictions for every row, in parallel.
    ///
    /// # Errors
    /// [`GbdtError::Features`] when the column count differs from training.
    pub fn predict(&self, x: ArrayView2<'_, f64>) -> Result<Vec<f64>, GbdtError> {
        if x.ncols() != self.forest.n_features {
            return Err(GbdtError::Features { expected: self.forest.n_features, found: x.ncols() });
        }
        let nf = x.ncols();
        let flat: &[f64] = &row_major(&x);
        let mut out = vec![0.0; x.nrows()];
        let run = |c: usize, chunk: &mut [f64]| {
            let r = c * 512;
            self.forest.predict_rows(&flat[r * nf..(r + chunk.len()) * nf], chunk);
            if self.params.loss == Loss::Logistic {
                for o in chunk {
                    *o = 1.0 / (1.0 + (-*o).exp());
                }
            }
        };
        if out.len() <= 2048 {
            out.chunks_mut(512).enumerate().for_each(|(c, chunk)| run(c, chunk));
        } else {
            out.par_chunks_mut(512).enumerate().for_each(|(c, chunk)| run(c, chunk));
        }
        Ok(out)
    }

    /// Total split gain per feature, normalised to sum to 1.
    pub fn feature_importance(&self) -> Vec<f64> {
        let total: f64 = self.forest.gain.iter().sum();
        self.forest.gain.iter().map(|g| if total > 0.0 { g / total } else { 0.0 }).collect()
    }
}
