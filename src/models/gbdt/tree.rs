//! Flattened trees: one contiguous node array for the whole ensemble, so a
//! prediction walks small, cache-friendly structs.

use std::sync::OnceLock;

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
    /// The prediction layout, built on first use.
    #[serde(skip)]
    pub compiled: Compiled,
}

/// A node of the prediction layout: internal nodes send a row to `left` or `right`;
/// a leaf points at itself and keeps its value in `threshold`, so a walk can take a
/// fixed number of steps without branching on "is this a leaf".
#[derive(Debug, Clone, Copy, PartialEq)]
#[repr(C)]
struct FNode {
    threshold: f64,
    feature: u32,
    left: u32,
    right: u32,
    missing_left: u32,
}

#[derive(Debug, Clone, PartialEq)]
struct Layout {
    nodes: Vec<FNode>,
    roots: Vec<u32>,
    /// Deepest path of each group of [`LANES`] trees.
    group_depth: Vec<u8>,
    /// Every id and feature in range (checked once; the walk then skips the checks).
    in_range: bool,
}

/// Fewer rows than this are walked one by one rather than as a block.
const SMALL: usize = 8;

/// Trees walked together: independent walks overlap in the CPU pipeline.
const LANES: usize = 8;

/// Lazily built prediction layout and path-attribution values (equal to any other:
/// derived data).
#[derive(Debug, Clone, Default)]
pub struct Compiled(OnceLock<Layout>, OnceLock<Explainer>, OnceLock<Option<super::block::BlockLayout>>);

impl PartialEq for Compiled {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

/// Expected value of every node under the training distribution, for path
/// attributions.
#[derive(Debug, Clone, PartialEq)]
pub struct Explainer {
    node_value: Vec<f64>,
    root_value: Vec<f64>,
    /// Per internal node: change of the expected value when going left, right.
    pub(super) delta: Vec<[f64; 2]>,
    /// `init` plus the expected value of every tree.
    pub(super) bias: f64,
}

impl Forest {
    /// Raw score (log-odds for the logistic loss) of one row: trees are walked
    /// [`LANES`] at a time over a compact node array.
    ///
    /// # Panics
    /// When `x` is shorter than the number of features.
    #[inline]
    pub fn predict_row(&self, x: &[f64]) -> f64 {
        assert!(x.len() >= self.n_features, "row has {} values, the model {} features", x.len(), self.n_features);
        let x = &x[..self.n_features];
        // Rows without missing values (most) skip the NaN test at every step.
        if x.iter().any(|v| v.is_nan()) {
            self.walk::<true>(x)
        } else {
            self.walk::<false>(x)
        }
    }

    #[inline(always)]
    fn walk<const NAN: bool>(&self, x: &[f64]) -> f64 {
        let l = self.compiled.0.get_or_init(|| self.layout());
        let mut s = self.init;
        let nodes = &l.nodes[..];
        for (g, roots) in l.roots.chunks_exact(LANES).enumerate() {
            let mut idx = [0u32; LANES];
            idx.copy_from_slice(roots);
            for _ in 0..l.group_depth[g] {
                for i in &mut idx {
                    // SAFETY: the layout's child and root ids index `nodes` and, when
                    // `in_range`, every feature indexes a row of `n_features` values
                    // (both checked when the layout was built).
                    let (n, v) = if l.in_range {
                        unsafe {
                            let n = *nodes.get_unchecked(*i as usize);
                            (n, *x.get_unchecked(n.feature as usize))
                        }
                    } else {
                        let n = nodes[*i as usize];
                        (n, x[n.feature as usize])
                    };
                    let left = v <= n.threshold || (NAN && v.is_nan() && n.missing_left != 0);
                    *i = if left { n.left } else { n.right };
                }
            }
            for &i in &idx {
                s += nodes[i as usize].threshold;
            }
        }
        s
    }

    /// Raw scores of `out.len()` rows stored row after row in `x` (`n_features`
    /// values each), by node masks over blocks of rows (see `block`).
    ///
    /// # Panics
    /// When `x` holds fewer than `out.len() * n_features` values.
    pub fn predict_rows(&self, x: &[f64], out: &mut [f64]) {
        let nf = self.n_features;
        assert!(x.len() >= out.len() * nf, "{} values for {} rows of {nf}", x.len(), out.len());
        // A block costs about as much as walking 8–16 rows one by one (with AVX-512).
        let block = if out.len() >= SMALL && super::block::worth_it() {
            self.compiled.2.get_or_init(|| super::block::BlockLayout::new(self)).as_ref()
        } else {
            None
        };
        match block {
            Some(b) => b.predict_rows(x, out),
            None => {
                for (r, o) in out.iter_mut().enumerate() {
                    *o = self.predict_row(&x[r * nf..(r + 1) * nf]);
                }
            }
        }
    }

    /// [`Self::predict_rows`] without CPU-specific code (for tests).
    #[cfg(test)]
    pub(crate) fn predict_rows_portable(&self, x: &[f64], out: &mut [f64]) {
        super::block::BlockLayout::new(self).expect("block layout").predict_rows_portable(x, out);
    }

    /// The sum over trees by plain pointer walks (reference for [`Self::predict_row`]).
    pub fn predict_row_simple(&self, x: &[f64]) -> f64 {
        let mut s = self.init;
        for &root in &self.roots {
            s += self.leaves[self.leaf_of(root, x)];
        }
        s
    }

    fn layout(&self) -> Layout {
        let mut nodes = Vec::with_capacity(self.nodes.len() + self.leaves.len());
        let mut roots: Vec<u32> = Vec::with_capacity(self.roots.len());
        let mut depths = Vec::with_capacity(self.roots.len());
        // Depth-first per tree, so a tree's nodes are contiguous.
        fn emit(f: &Forest, n: i32, depth: u8, out: &mut Vec<FNode>, max_depth: &mut u8) -> u32 {
            let id = out.len() as u32;
            if n < 0 {
                let value = f.leaves[(!n) as usize];
                out.push(FNode { threshold: value, feature: 0, left: id, right: id, missing_left: 0 });
                *max_depth = (*max_depth).max(depth);
                return id;
            }
            let node = f.nodes[n as usize];
            out.push(FNode {
                threshold: node.threshold,
                feature: node.feature,
                left: 0,
                right: 0,
                missing_left: u32::from(node.missing_left),
            });
            let l = emit(f, node.left, depth + 1, out, max_depth);
            let r = emit(f, node.right, depth + 1, out, max_depth);
            out[id as usize].left = l;
            out[id as usize].right = r;
            id
        }
        for &r in &self.roots {
            let mut d = 0u8;
            roots.push(emit(self, r, 0, &mut nodes, &mut d));
            depths.push(d);
        }
        // Groups of similar depth waste fewer steps; pad with a zero-valued leaf so
        // every group is full.
        let mut order: Vec<usize> = (0..roots.len()).collect();
        order.sort_by_key(|&t| (depths[t], t));
        let zero = nodes.len() as u32;
        nodes.push(FNode { threshold: 0.0, feature: 0, left: zero, right: zero, missing_left: 0 });
        let mut sorted: Vec<u32> = order.iter().map(|&t| roots[t]).collect();
        let mut sorted_depth: Vec<u8> = order.iter().map(|&t| depths[t]).collect();
        while !sorted.len().is_multiple_of(LANES) {
            sorted.push(zero);
            sorted_depth.push(0);
        }
        let roots = sorted;
        let group_depth = sorted_depth.chunks(LANES).map(|c| c.iter().copied().max().unwrap_or(0)).collect();
        let in_range = nodes.iter().all(|n| {
            (n.feature as usize) < self.n_features
                && (n.left as usize) < nodes.len()
                && (n.right as usize) < nodes.len()
        }) && roots.iter().all(|&r| (r as usize) < nodes.len());
        Layout { nodes, roots, group_depth, in_range }
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
    pub fn explainer(&self) -> &Explainer {
        self.compiled.1.get_or_init(|| self.build_explainer())
    }

    fn build_explainer(&self) -> Explainer {
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
        let root_value: Vec<f64> =
            self.roots.iter().map(|&r| if r < 0 { leaf(r).0 } else { node_value[r as usize] }).collect();
        let value = |c: i32| if c < 0 { leaf(c).0 } else { node_value[c as usize] };
        let delta = self
            .nodes
            .iter()
            .enumerate()
            .map(|(n, nd)| [value(nd.left) - node_value[n], value(nd.right) - node_value[n]])
            .collect();
        let bias = self.init + root_value.iter().sum::<f64>();
        Explainer { node_value, root_value, delta, bias }
    }

    /// [`Self::contributions`] of `n` rows stored row after row in `x`: the bias and
    /// `n × n_features` contributions, row after row. Blocks of rows go through the
    /// trees by node masks (see `block`).
    pub fn contributions_rows(&self, e: &Explainer, x: &[f64], n: usize) -> (f64, Vec<f64>) {
        let nf = self.n_features;
        assert!(x.len() >= n * nf, "{} values for {n} rows of {nf}", x.len());
        let mut out = vec![0.0; n * nf];
        let block = if n >= SMALL && super::block::worth_it() {
            self.compiled.2.get_or_init(|| super::block::BlockLayout::new(self)).as_ref()
        } else {
            None
        };
        match block {
            Some(b) => b.contributions_rows(&e.delta, &x[..n * nf], n, &mut out),
            None => {
                for (r, o) in out.chunks_mut(nf.max(1)).enumerate().take(n) {
                    o.copy_from_slice(&self.contributions(e, &x[r * nf..(r + 1) * nf]).1);
                }
            }
        }
        (e.bias, out)
    }

    /// [`Self::contributions_rows`] without CPU-specific code (for tests).
    #[cfg(test)]
    pub(crate) fn contributions_rows_portable(&self, e: &Explainer, x: &[f64], n: usize) -> Vec<f64> {
        let mut out = vec![0.0; n * self.n_features];
        super::block::BlockLayout::new(self).expect("block layout").contributions_portable(&e.delta, x, n, &mut out);
        out
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
