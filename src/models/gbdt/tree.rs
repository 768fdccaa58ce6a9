//! Flattened trees: one contiguous node array for the whole ensemble, so a
//! prediction walks small, cache-friendly structs.

use serde::{Deserialize, Serialize};

/// An internal node; children `>= 0` are nodes, `< 0` are leaves `!child`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Node {
    /// Feature index.
    pub feature: u32,
    /// Go left when `x[feature] <= threshold`.
    pub threshold: f64,
    /// Left child.
    pub left: i32,
    /// Right child.
    pub right: i32,
    /// Where NaN goes.
    pub missing_left: bool,
}

/// A trained ensemble.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Forest {
    /// Number of input features.
    pub n_features: usize,
    /// Starting score.
    pub init: f64,
    /// All nodes; tree `t`'s root is `roots[t]` (or its only leaf when negative).
    pub nodes: Vec<Node>,
    /// Leaf values (learning rate applied).
    pub leaves: Vec<f64>,
    /// Root of each tree.
    pub roots: Vec<i32>,
    /// Total split gain per feature (for importance).
    pub gain: Vec<f64>,
}

impl Forest {
    /// Raw score (log-odds for the logistic loss) of one row.
    #[inline]
    pub fn predict_row(&self, x: &[f64]) -> f64 {
        let mut s = self.init;
        for &root in &self.roots {
            s += self.leaves[self.leaf_of(root, x)];
        }
        s
    }

    /// Leaf index reached by `x` from `root`.
    #[inline]
    pub fn leaf_of(&self, root: i32, x: &[f64]) -> usize {
        let mut n = root;
        while n >= 0 {
            let node = &self.nodes[n as usize];
            let v = x[node.feature as usize];
            let left = if v.is_nan() { node.missing_left } else { v <= node.threshold };
            n = if left { node.left } else { node.right };
        }
        (!n) as usize
    }
}
