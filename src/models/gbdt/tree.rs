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

/// A node of the prediction layout. Values are compared as ordered keys (see
/// [`key`]) read from a row's key array, whose second half holds every key plus one
/// (NaN wrapping to 0): a node whose missing values go left reads that half against
/// its threshold's key plus one, so NaN needs no test of its own. Children sit side by
/// side: a row goes to `left + (key > threshold)`. A leaf reads the key array's last
/// slot, which is always 0 (so no threshold is exceeded), points at itself, so a walk
/// can take a fixed number of steps, and keeps its value's bits as its threshold: the
/// walk ends on the cache line that holds the value.
#[derive(Debug, Clone, Copy, PartialEq)]
#[repr(C)]
struct FNode {
    threshold: u64,
    key: u32,
    left: u32,
}

#[derive(Debug, Clone, PartialEq)]
struct Layout {
    nodes: Vec<FNode>,
    roots: Vec<u32>,
    /// Deepest path of each group of [`LANES`] trees.
    group_depth: Vec<u8>,
    /// Every id and key index in range (checked once; the walk then skips the checks).
    in_range: bool,
    /// Per node: its forest node for internal nodes, `u32::MAX` for leaves.
    origin: Vec<u32>,
}

/// `v` as an unsigned key in the order of `<=` (-0.0 as 0.0; NaN, which no `<=`
/// holds for, as `u64::MAX`, above +∞).
#[inline(always)]
fn key(v: f64) -> u64 {
    let v = if v == 0.0 { 0.0 } else { v };
    let b = v.to_bits();
    if v.is_nan() {
        u64::MAX
    } else if b >> 63 == 1 {
        !b
    } else {
        b | 1 << 63
    }
}

/// Key arrays up to this many features live on the stack.
const STACK_FEATURES: usize = 128;

/// Fewer rows than this are walked one by one rather than as a block.
pub(crate) const SMALL: usize = 8;

/// Trees walked together: independent walks overlap in the CPU pipeline.
const LANES: usize = 16;

/// Lazily built derived data (equal to any other): the single-row layout, the
/// path-attribution values, the block layout, and each leaf's path attributions by
/// layout node.
#[derive(Debug, Clone, Default)]
pub struct Compiled(
    OnceLock<Layout>,
    OnceLock<Explainer>,
    OnceLock<Option<super::block::BlockLayout>>,
    OnceLock<LeafPaths>,
);

/// Each leaf's path attributions (see [`Forest::contributions`]) summed by feature,
/// by layout node: the leaf at layout node `i` credits `delta[k]` to feature
/// `feature[k]` for `k` in `span[i]` (empty for internal nodes and padding).
#[derive(Debug, Clone, PartialEq)]
struct LeafPaths {
    span: Vec<[u32; 2]>,
    feature: Vec<u32>,
    delta: Vec<f64>,
}

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
    /// `LANES` at a time over a compact node array.
    ///
    /// # Panics
    /// When `x` is shorter than the number of features.
    #[inline]
    pub fn predict_row(&self, x: &[f64]) -> f64 {
        assert!(x.len() >= self.n_features, "row has {} values, the model {} features", x.len(), self.n_features);
        self.with_keys(&x[..self.n_features], |k| self.walk(k, |_| {}))
    }

    /// Calls `f` with the key array of row `x` (see [`FNode`]; one more slot, read by
    /// leaves).
    #[inline(always)]
    fn with_keys<R>(&self, x: &[f64], f: impl FnOnce(&[u64]) -> R) -> R {
        let nf = x.len();
        let fill = |k: &mut [u64]| {
            let (lo, hi) = k.split_at_mut(nf);
            for ((a, b), v) in lo.iter_mut().zip(hi.iter_mut()).zip(x) {
                *a = key(*v);
                *b = a.wrapping_add(1);
            }
        };
        if nf <= STACK_FEATURES {
            let mut k = [0u64; 2 * STACK_FEATURES + 1];
            fill(&mut k[..2 * nf + 1]);
            f(&k[..2 * nf + 1])
        } else {
            let mut k = vec![0u64; 2 * nf + 1];
            fill(&mut k);
            f(&k)
        }
    }

    /// Walks the trees [`LANES`] at a time over a row's keys; `leaf(node)` sees the
    /// leaf each tree ends on (the zero-valued padding leaf too).
    #[inline(always)]
    fn walk(&self, k: &[u64], mut leaf: impl FnMut(u32)) -> f64 {
        let l = self.layout_ref();
        let mut s = self.init;
        let nodes = &l.nodes[..];
        let fast = l.in_range && k.len() == 2 * self.n_features + 1;
        for (g, roots) in l.roots.chunks_exact(LANES).enumerate() {
            let mut idx = [0u32; LANES];
            idx.copy_from_slice(roots);
            for _ in 0..l.group_depth[g] {
                for i in &mut idx {
                    // SAFETY: when `in_range`, every child id (and the one after it)
                    // indexes `nodes` and every key index a row's key array (checked
                    // when the layout was built; the key array's length just above).
                    let (n, v) = if fast {
                        unsafe {
                            let n = *nodes.get_unchecked(*i as usize);
                            (n, *k.get_unchecked(n.key as usize))
                        }
                    } else {
                        let n = nodes[*i as usize];
                        (n, k[n.key as usize])
                    };
                    *i = n.left + u32::from(v > n.threshold);
                }
            }
            for &i in &idx {
                // A leaf's value (see `FNode`).
                let t = if fast {
                    // SAFETY: `i` was reached by the steps above, whose ids `in_range`
                    // keeps inside `nodes`.
                    unsafe { nodes.get_unchecked(i as usize).threshold }
                } else {
                    nodes[i as usize].threshold
                };
                s += f64::from_bits(t);
                leaf(i);
            }
        }
        s
    }

    fn layout_ref(&self) -> &Layout {
        self.compiled.0.get_or_init(|| self.layout())
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
        let nf = self.n_features as u32;
        let mut l = Layout {
            nodes: Vec::with_capacity(self.nodes.len() + self.leaves.len() + 1),
            roots: Vec::with_capacity(self.roots.len()),
            group_depth: Vec::new(),
            in_range: false,
            origin: Vec::with_capacity(self.nodes.len() + self.leaves.len() + 1),
        };
        // A leaf of value 0 (until filled otherwise): reads the key array's last slot.
        fn slot(l: &mut Layout, nf: u32) -> u32 {
            l.nodes.push(FNode { threshold: 0f64.to_bits(), key: 2 * nf, left: l.nodes.len() as u32 });
            l.origin.push(u32::MAX);
            (l.nodes.len() - 1) as u32
        }
        // Fills slot `at` with node `n` of the forest; a node's two children take two
        // fresh slots side by side, so a tree's nodes are contiguous.
        fn fill(f: &Forest, n: i32, at: u32, depth: u8, l: &mut Layout, max_depth: &mut u8) {
            let nf = f.n_features as u32;
            if n < 0 {
                l.nodes[at as usize].threshold = f.leaves[(!n) as usize].to_bits();
                *max_depth = (*max_depth).max(depth);
                return;
            }
            let node = f.nodes[n as usize];
            let (key_index, threshold) = match (node.threshold.is_nan(), node.missing_left) {
                // No value is <= NaN: every row goes right, NaN too unless it goes left.
                (true, false) => (node.feature, 0),
                (true, true) => (nf + node.feature, 0),
                (false, false) => (node.feature, key(node.threshold)),
                (false, true) => (nf + node.feature, key(node.threshold) + 1),
            };
            let c = slot(l, nf);
            slot(l, nf);
            l.nodes[at as usize] = FNode { threshold, key: key_index, left: c };
            l.origin[at as usize] = n as u32;
            fill(f, node.left, c, depth + 1, l, max_depth);
            fill(f, node.right, c + 1, depth + 1, l, max_depth);
        }
        let mut depths = Vec::with_capacity(self.roots.len());
        let mut roots = Vec::with_capacity(self.roots.len());
        for &r in &self.roots {
            let mut d = 0u8;
            let at = slot(&mut l, nf);
            fill(self, r, at, 0, &mut l, &mut d);
            roots.push(at);
            depths.push(d);
        }
        // Groups of similar depth waste fewer steps; pad with a zero-valued leaf so
        // every group is full.
        let mut order: Vec<usize> = (0..roots.len()).collect();
        order.sort_by_key(|&t| (depths[t], t));
        let zero = slot(&mut l, nf);
        let mut sorted: Vec<u32> = order.iter().map(|&t| roots[t]).collect();
        let mut sorted_depth: Vec<u8> = order.iter().map(|&t| depths[t]).collect();
        while !sorted.len().is_multiple_of(LANES) {
            sorted.push(zero);
            sorted_depth.push(0);
        }
        l.group_depth = sorted_depth.chunks(LANES).map(|c| c.iter().copied().max().unwrap_or(0)).collect();
        l.roots = sorted;
        let len = l.nodes.len();
        // A leaf (key index 2 nf, whose key is 0 and exceeds no threshold) only ever
        // goes to `left`.
        l.in_range = l.nodes.iter().all(|n| n.key <= 2 * nf && (n.left as usize) + usize::from(n.key != 2 * nf) < len)
            && l.roots.iter().all(|&r| (r as usize) < len);
        l
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
                    self.predict_row_attributed(e, &x[r * nf..(r + 1) * nf], o);
                }
            }
        }
        (e.bias, out)
    }

    /// Raw score of one row (as [`Self::predict_row`]) with its path attributions
    /// (as [`Self::contributions`]) added to `contrib`: the lane walk, where each leaf
    /// reached adds its precomputed path.
    ///
    /// `e` is this forest's [`Self::explainer`].
    ///
    /// # Panics
    /// When `x` or `contrib` is shorter than the number of features.
    pub fn predict_row_attributed(&self, e: &Explainer, x: &[f64], contrib: &mut [f64]) -> f64 {
        let nf = self.n_features;
        assert!(x.len() >= nf && contrib.len() >= nf, "rows of {nf} values");
        let paths = self.compiled.3.get_or_init(|| self.leaf_paths(e));
        let contrib = &mut contrib[..nf];
        self.with_keys(&x[..nf], |k| {
            self.walk(k, |i| {
                let [a, b] = paths.span[i as usize];
                let (a, b) = (a as usize, b as usize);
                for (&f, &d) in paths.feature[a..b].iter().zip(&paths.delta[a..b]) {
                    contrib[f as usize] += d;
                }
            })
        })
    }

    /// Every leaf's path attributions by feature (see [`LeafPaths`]), from the
    /// explainer's changes of expected value along the path.
    fn leaf_paths(&self, e: &Explainer) -> LeafPaths {
        let l = self.layout_ref();
        let nf = self.n_features as u32;
        let mut p = LeafPaths { span: vec![[0, 0]; l.nodes.len()], feature: Vec::new(), delta: Vec::new() };
        // Depth first from each root, with the path's sums by feature so far.
        let mut stack: Vec<(u32, Vec<(u32, f64)>)> = l.roots.iter().map(|&r| (r, Vec::new())).collect();
        while let Some((i, sums)) = stack.pop() {
            let n = l.nodes[i as usize];
            let o = l.origin[i as usize];
            if o == u32::MAX {
                let from = p.feature.len() as u32;
                for (f, d) in sums {
                    p.feature.push(f);
                    p.delta.push(d);
                }
                p.span[i as usize] = [from, p.feature.len() as u32];
                continue;
            }
            let feature = if n.key >= nf { n.key - nf } else { n.key };
            for (side, d) in e.delta[o as usize].into_iter().enumerate() {
                let mut s = sums.clone();
                match s.iter_mut().find(|(f, _)| *f == feature) {
                    Some((_, v)) => *v += d,
                    None => s.push((feature, d)),
                }
                stack.push((n.left + side as u32, s));
            }
        }
        p
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
