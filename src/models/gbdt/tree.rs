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
    /// Training rows that reached each leaf (for attributions).
    #[serde(default)]
    pub leaf_cover: Vec<u32>,
}

/// Expected value of every node under the training distribution, for path
/// attributions.
#[derive(Debug, Clone, PartialEq)]
pub struct Explainer {
    node_value: Vec<f64>,
    root_value: Vec<f64>,
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

    /// Node expectations (cover-weighted means of the leaves below each node).
    pub fn explainer(&self) -> Explainer {
        let mut node_value = vec![f64::NAN; self.nodes.len()];
        let mut node_cover = vec![0.0; self.nodes.len()];
        // Children always have larger ids than their parent within a tree, so a
        // reverse sweep sees children first.
        let leaf = |id: i32| -> (f64, f64) {
            let l = (!id) as usize;
            (self.leaves[l], self.leaf_cover.get(l).map_or(1.0, |c| f64::from(*c).max(1e-9)))
        };
        for n in (0..self.nodes.len()).rev() {
            let node = self.nodes[n];
            let side = |c: i32, v: &[f64], w: &[f64]| if c < 0 { leaf(c) } else { (v[c as usize], w[c as usize]) };
            let (lv, lw) = side(node.left, &node_value, &node_cover);
            let (rv, rw) = side(node.right, &node_value, &node_cover);
            node_cover[n] = lw + rw;
            node_value[n] = (lv * lw + rv * rw) / (lw + rw);
        }
        let root_value =
            self.roots.iter().map(|&r| if r < 0 { leaf(r).0 } else { node_value[r as usize] }).collect();
        Explainer { node_value, root_value }
    }

    /// Path attribution of the raw score of `x` to features (Saabas): at every split
    /// on the path, the change in the expected value is credited to the split's
    /// feature. `bias + Σ contributions` equals [`Forest::predict_row`].
    pub fn contributions(&self, e: &Explainer, x: &[f64]) -> (f64, Vec<f64>) {
        let mut contrib = vec![0.0; self.n_features];
        let mut bias = self.init;
        for (t, &root) in self.roots.iter().enumerate() {
            bias += e.root_value[t];
            let mut n = root;
            let mut cur = e.root_value[t];
            while n >= 0 {
                let node = &self.nodes[n as usize];
                let v = x[node.feature as usize];
                let left = if v.is_nan() { node.missing_left } else { v <= node.threshold };
                let next = if left { node.left } else { node.right };
                let val = if next < 0 { self.leaves[(!next) as usize] } else { e.node_value[next as usize] };
                contrib[node.feature as usize] += val - cur;
                cur = val;
                n = next;
            }
        }
        (bias, contrib)
    }
}
