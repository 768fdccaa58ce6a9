//! Histogram-based, leaf-wise gradient boosting.
//!
//! Features are binned once; each tree grows best-first from per-leaf gradient
//! histograms (the larger child's histogram is the parent's minus the smaller
//! child's), with a learned direction for missing values. Every sum runs in a fixed
//! order, so the same data and parameters give the same model bit for bit.

use ndarray::ArrayView2;
use rayon::prelude::*;

use super::binning::BinMapper;
use super::hyperparams::{GbdtValidParams, Loss};
use super::tree::{Forest, Node};
use super::GbdtError;

#[derive(Debug, Clone, Copy, Default)]
struct HBin {
    g: f64,
    h: f64,
    c: u32,
}

#[derive(Debug, Clone, Copy)]
struct Split {
    gain: f64,
    feature: usize,
    bin: usize,
    missing_left: bool,
}

struct Leaf {
    /// The leaf's rows are `idx[start..end]` of the tree's row buffer.
    start: usize,
    end: usize,
    hist: Vec<HBin>,
    g: f64,
    h: f64,
    /// (parent node, is left child) or None for the root.
    slot: Option<(usize, bool)>,
    best: Option<Split>,
}

struct Ctx<'a> {
    p: &'a GbdtValidParams,
    bins: &'a [u8],
    n: usize,
    offsets: Vec<usize>,
    n_bins: Vec<usize>,
    total_bins: usize,
    /// Every hessian is 1 (squared and quantile losses).
    const_hess: bool,
}

fn score(g: f64, h: f64, lambda: f64) -> f64 {
    g * g / (h + lambda)
}

impl Ctx<'_> {
    /// Gradient histogram of `rows`, feature by feature (each feature's bins stay in
    /// L1), from gradients gathered once into row order. Sums run in row order, so
    /// the result does not depend on the number of threads.
    fn histogram(&self, rows: &[u32], grad: &[f64], hess: &[f64]) -> Vec<HBin> {
        let mut hist = vec![HBin::default(); self.total_bins];
        let mut slices: Vec<(usize, &mut [HBin])> = Vec::with_capacity(self.n_bins.len());
        let mut rest: &mut [HBin] = &mut hist;
        for (j, &nb) in self.n_bins.iter().enumerate() {
            let (head, tail) = rest.split_at_mut(nb);
            slices.push((j, head));
            rest = tail;
        }
        let og: Vec<f64> = rows.iter().map(|&r| grad[r as usize]).collect();
        let oh: Vec<f64> = if self.const_hess { Vec::new() } else { rows.iter().map(|&r| hess[r as usize]).collect() };
        let fill = |(j, h): (usize, &mut [HBin])| {
            let col = &self.bins[j * self.n..(j + 1) * self.n];
            if self.const_hess {
                // Unit hessians: (gradient, count) pairs, one 16-byte add per row; the
                // hessian sum is the count.
                let mut pairs = [[0.0f64; 2]; 256];
                let pairs = &mut pairs[..h.len()];
                add_pairs(pairs, col, rows, &og);
                for (b, p) in h.iter_mut().zip(pairs.iter()) {
                    *b = HBin { g: p[0], h: p[1], c: p[1] as u32 };
                }
            } else {
                for (k, &r) in rows.iter().enumerate() {
                    let b = &mut h[col[r as usize] as usize];
                    b.g += og[k];
                    b.h += oh[k];
                    b.c += 1;
                }
            }
        };
        // Thread hand-off costs more than it saves on small leaves.
        if rows.len() * self.n_bins.len() < 100_000 {
            slices.into_iter().for_each(fill);
        } else {
            slices.into_par_iter().for_each(fill);
        }
        hist
    }

    fn best_split(&self, hist: &[HBin], g: f64, h: f64, count: usize) -> Option<Split> {
        let p = self.p;
        let min = p.min_data_in_leaf as u32;
        if count < 2 * p.min_data_in_leaf {
            return None;
        }
        let parent = score(g, h, p.lambda_l2);
        let per_feature = |j: usize| -> Option<Split> {
            let fh = &hist[self.offsets[j]..self.offsets[j] + self.n_bins[j]];
            let miss = fh[0];
            let mut best: Option<Split> = None;
            let (mut lg, mut lh, mut lc) = (0.0, 0.0, 0u32);
            // Threshold after bin b: bins 1..=b left; the last bin cannot be a threshold.
            for (b, hb) in fh.iter().enumerate().take(fh.len() - 1).skip(1) {
                lg += hb.g;
                lh += hb.h;
                lc += hb.c;
                for missing_left in [false, true] {
                    let (gl, hl, cl) =
                        if missing_left { (lg + miss.g, lh + miss.h, lc + miss.c) } else { (lg, lh, lc) };
                    let cr = count as u32 - cl;
                    if cl < min || cr < min || hl < 1e-3 || h - hl < 1e-3 {
                        continue;
                    }
                    let gain = score(gl, hl, p.lambda_l2) + score(g - gl, h - hl, p.lambda_l2) - parent;
                    if gain > p.min_gain && best.is_none_or(|s| gain > s.gain) {
                        best = Some(Split { gain, feature: j, bin: b, missing_left });
                    }
                    if miss.c == 0 {
                        break;
                    }
                }
            }
            best
        };
        let best: Vec<Split> = if count * self.n_bins.len() < 200_000 {
            (0..self.n_bins.len()).filter_map(per_feature).collect()
        } else {
            (0..self.n_bins.len()).into_par_iter().filter_map(per_feature).collect()
        };
        // Highest gain; ties go to the lower feature index (deterministic).
        best.into_iter().fold(None, |acc: Option<Split>, s| match acc {
            Some(a) if a.gain > s.gain || (a.gain == s.gain && a.feature < s.feature) => Some(a),
            _ => Some(s),
        })
    }

    fn leaf(&self, range: (usize, usize), hist: Vec<HBin>, slot: Option<(usize, bool)>) -> Leaf {
        let (g, h) = hist[..self.n_bins[0]].iter().fold((0.0, 0.0), |a, b| (a.0 + b.g, a.1 + b.h));
        let best = self.best_split(&hist, g, h, range.1 - range.0);
        Leaf { start: range.0, end: range.1, hist, g, h, slot, best }
    }
}

/// `pairs[col[r]] += (g[k], 1)` for the k-th row `r` of `rows`.
#[inline]
fn add_pairs(pairs: &mut [[f64; 2]], col: &[u8], rows: &[u32], g: &[f64]) {
    assert!(g.len() >= rows.len() && pairs.len() <= 256);
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::*;
        // SAFETY: SSE2 is part of x86-64; `col` values index `pairs` (bins of this
        // feature, checked below), rows index `col`.
        unsafe {
            let one = _mm_set_pd(1.0, 0.0);
            // Two interleaved histograms: rows that fall in the same bin one after the
            // other (low-cardinality features) do not wait on each other's store.
            let mut other = [[0.0f64; 2]; 256];
            let other = &mut other[..pairs.len()];
            let mut it = rows.chunks_exact(2);
            for (k2, rr) in (&mut it).enumerate() {
                let k = 2 * k2;
                let b0 = *col.get(rr[0] as usize).expect("row in range") as usize;
                let b1 = *col.get(rr[1] as usize).expect("row in range") as usize;
                let p0 = pairs.get_mut(b0).expect("bin in range").as_mut_ptr();
                _mm_storeu_pd(p0, _mm_add_pd(_mm_loadu_pd(p0), _mm_add_pd(_mm_set_sd(*g.get_unchecked(k)), one)));
                let p1 = other.get_mut(b1).expect("bin in range").as_mut_ptr();
                _mm_storeu_pd(p1, _mm_add_pd(_mm_loadu_pd(p1), _mm_add_pd(_mm_set_sd(*g.get_unchecked(k + 1)), one)));
            }
            if let [r] = it.remainder() {
                let b = *col.get(*r as usize).expect("row in range") as usize;
                let p = pairs.get_mut(b).expect("bin in range").as_mut_ptr();
                _mm_storeu_pd(
                    p,
                    _mm_add_pd(_mm_loadu_pd(p), _mm_add_pd(_mm_set_sd(*g.get_unchecked(rows.len() - 1)), one)),
                );
            }
            for (p, o) in pairs.iter_mut().zip(other.iter()) {
                p[0] += o[0];
                p[1] += o[1];
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    for (k, &r) in rows.iter().enumerate() {
        let p = &mut pairs[col[r as usize] as usize];
        p[0] += g[k];
        p[1] += 1.0;
    }
}

fn quantile_in_place(v: &mut [f64], alpha: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let k = ((v.len() - 1) as f64 * alpha).round() as usize;
    let (_, m, _) = v.select_nth_unstable_by(k, f64::total_cmp);
    *m
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// Fits a forest.
///
/// # Errors
/// [`GbdtError`] for empty input, mismatched shapes or unusable targets.
pub fn fit(p: &GbdtValidParams, x: ArrayView2<'_, f64>, y: &[f64]) -> Result<Forest, GbdtError> {
    let n = x.nrows();
    if n == 0 {
        return Err(GbdtError::Empty);
    }
    if y.len() != n {
        return Err(GbdtError::Shape { rows: n, targets: y.len() });
    }
    for (i, &v) in y.iter().enumerate() {
        let ok = match p.loss {
            Loss::Logistic => v == 0.0 || v == 1.0,
            _ => v.is_finite(),
        };
        if !ok {
            return Err(GbdtError::BadTarget { index: i, value: v });
        }
    }
    let nf = x.ncols();
    let mapper = BinMapper::fit(x, p.max_bins);
    let bins = mapper.transform(x);
    let n_bins: Vec<usize> = (0..nf).map(|j| mapper.n_bins(j)).collect();
    let mut offsets = vec![0; nf];
    for j in 1..nf {
        offsets[j] = offsets[j - 1] + n_bins[j - 1];
    }
    let total_bins = n_bins.iter().sum();
    let const_hess = !matches!(p.loss, Loss::Logistic);
    let ctx = Ctx { p, bins: &bins, n, offsets, n_bins, total_bins, const_hess };

    let init = match p.loss {
        Loss::Squared => y.iter().sum::<f64>() / n as f64,
        Loss::Quantile { alpha } => quantile_in_place(&mut y.to_vec(), alpha),
        Loss::Logistic => {
            let m = (y.iter().sum::<f64>() / n as f64).clamp(1e-6, 1.0 - 1e-6);
            (m / (1.0 - m)).ln()
        }
    };
    let mut forest = Forest {
        n_features: nf,
        init,
        nodes: Vec::new(),
        leaves: Vec::new(),
        roots: Vec::new(),
        gain: vec![0.0; nf],
        leaf_cover: Vec::new(),
        compiled: Default::default(),
    };
    let mut pred = vec![init; n];
    let mut grad = vec![0.0; n];
    let mut hess = vec![1.0; n];
    let mut idx: Vec<u32> = vec![0; n];
    let mut scratch: Vec<u32> = vec![0; n];

    for _ in 0..p.n_trees {
        // Gradients in parallel blocks on large inputs; small ones stay on this thread
        // (a hand-off costs more than the loop).
        let loss = p.loss;
        let update = |off: usize, g: &mut [f64], h: &mut [f64]| {
            for k in 0..g.len() {
                let i = off + k;
                match loss {
                    Loss::Squared => g[k] = pred[i] - y[i],
                    Loss::Quantile { alpha } => g[k] = if y[i] > pred[i] { -alpha } else { 1.0 - alpha },
                    Loss::Logistic => {
                        let q = sigmoid(pred[i]);
                        g[k] = q - y[i];
                        h[k] = (q * (1.0 - q)).max(1e-16);
                    }
                }
            }
        };
        const BLOCK: usize = 16_384;
        if n <= BLOCK {
            update(0, &mut grad, &mut hess);
        } else {
            grad.par_chunks_mut(BLOCK)
                .zip(hess.par_chunks_mut(BLOCK))
                .enumerate()
                .for_each(|(b, (g, h))| update(b * BLOCK, g, h));
        }
        idx.iter_mut().enumerate().for_each(|(i, v)| *v = i as u32);
        let leaves = grow_tree(&ctx, &mapper, &mut forest, &mut idx, &mut scratch, &grad, &hess);
        for leaf in leaves {
            let rows = &idx[leaf.start..leaf.end];
            let value = match p.loss {
                Loss::Quantile { alpha } => {
                    let mut r: Vec<f64> = rows.iter().map(|&i| y[i as usize] - pred[i as usize]).collect();
                    quantile_in_place(&mut r, alpha)
                }
                _ => -leaf.g / (leaf.h + p.lambda_l2),
            } * p.learning_rate;
            let id = forest.leaves.len();
            forest.leaves.push(value);
            forest.leaf_cover.push(rows.len() as u32);
            match leaf.slot {
                Some((node, true)) => forest.nodes[node].left = !(id as i32),
                Some((node, false)) => forest.nodes[node].right = !(id as i32),
                None => forest.roots.push(!(id as i32)),
            }
            for &i in rows {
                pred[i as usize] += value;
            }
        }
    }
    Ok(forest)
}

/// Grows one tree over the rows in `idx` (partitioned in place, each leaf a range);
/// internal nodes go into `forest`, the final leaves come back.
fn grow_tree(
    ctx: &Ctx<'_>,
    mapper: &BinMapper,
    forest: &mut Forest,
    idx: &mut [u32],
    scratch: &mut [u32],
    grad: &[f64],
    hess: &[f64],
) -> Vec<Leaf> {
    let hist = ctx.histogram(idx, grad, hess);
    let mut leaves = vec![ctx.leaf((0, idx.len()), hist, None)];
    while leaves.len() < ctx.p.max_leaves {
        let Some(k) = leaves
            .iter()
            .enumerate()
            .filter_map(|(k, l)| l.best.map(|s| (k, s.gain)))
            .fold(None, |acc: Option<(usize, f64)>, (k, g)| match acc {
                Some((_, ag)) if ag >= g => acc,
                _ => Some((k, g)),
            })
            .map(|(k, _)| k)
        else {
            break;
        };
        let leaf = leaves.swap_remove(k);
        let s = leaf.best.expect("chosen leaf has a split");
        let col = &ctx.bins[s.feature * ctx.n..(s.feature + 1) * ctx.n];
        // Stable in-place partition: lefts compacted forward, rights via scratch.
        let (start, end) = (leaf.start, leaf.end);
        let (mut l, mut r) = (start, 0usize);
        for k in start..end {
            let row = idx[k];
            let b = col[row as usize] as usize;
            let go_left = if b == 0 { s.missing_left } else { b <= s.bin };
            idx[l] = row;
            scratch[r] = row;
            l += usize::from(go_left);
            r += usize::from(!go_left);
        }
        idx[l..end].copy_from_slice(&scratch[..r]);
        let mid = l;
        let node_id = forest.nodes.len();
        forest.nodes.push(Node {
            feature: s.feature as u32,
            threshold: mapper.edges[s.feature][s.bin - 1],
            left: 0,
            right: 0,
            missing_left: s.missing_left,
        });
        forest.gain[s.feature] += s.gain;
        match leaf.slot {
            Some((parent, true)) => forest.nodes[parent].left = node_id as i32,
            Some((parent, false)) => forest.nodes[parent].right = node_id as i32,
            None => forest.roots.push(node_id as i32),
        }
        let small_is_left = mid - start <= end - mid;
        let small = if small_is_left { &idx[start..mid] } else { &idx[mid..end] };
        let small_hist = ctx.histogram(small, grad, hess);
        let mut big_hist = leaf.hist;
        for (p, s) in big_hist.iter_mut().zip(&small_hist) {
            *p = HBin { g: p.g - s.g, h: p.h - s.h, c: p.c - s.c };
        }
        let (lh, rh) = if small_is_left { (small_hist, big_hist) } else { (big_hist, small_hist) };
        leaves.push(ctx.leaf((start, mid), lh, Some((node_id, true))));
        leaves.push(ctx.leaf((mid, end), rh, Some((node_id, false))));
    }
    // Stable leaf order for reproducible leaf ids: by first row.
    leaves.sort_by_key(|l| if l.start < l.end { idx[l.start] } else { u32::MAX });
    leaves
}
