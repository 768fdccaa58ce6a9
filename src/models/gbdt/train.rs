//! Histogram-based, leaf-wise gradient boosting.
//!
//! Features are binned once; each tree grows best-first from per-leaf gradient
//! histograms (the larger child's histogram is the parent's minus the smaller
//! child's), with a learned direction for missing values. Every sum runs in a fixed
//! order, so the same data and parameters give the same model bit for bit, on any
//! number of threads.
//!
//! Where the time goes and what keeps it down: bins are stored row-major in groups
//! of four features, so one pass over a leaf's (scattered, prefetched) rows fills
//! four histograms; split search is branch-free over fixed arrays (AVX2 when
//! present); large leaves are partitioned in parallel chunks and the two children
//! search their splits side by side; the whole fit runs on a pool thread, so small
//! parallel steps do not each wake the pool from outside.

use ndarray::ArrayView2;
use rayon::prelude::*;

use super::binning::BinMapper;
use super::hyperparams::{GbdtValidParams, Loss};
use super::tree::{Forest, Node};
use super::GbdtError;
use crate::rng::Rng;

/// One bin of a histogram: gradient and hessian sums (side by side, so both take one
/// 16-byte add) and the row count.
#[derive(Debug, Clone, Copy, Default)]
#[repr(C)]
struct HBin {
    g: f64,
    h: f64,
    c: u32,
}

/// `b.g += v[0]`, `b.h += v[1]` (the same two sums, in one SSE2 add on x86-64), one
/// more row.
#[inline(always)]
fn add_gh(b: &mut HBin, v: [f64; 2]) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_add_pd, _mm_loadu_pd, _mm_storeu_pd};
        let p = std::ptr::from_mut(b).cast::<f64>();
        // SAFETY: `HBin` is `repr(C)` with `g` and `h` its first two f64 fields, so
        // `p` points at 16 valid bytes of `b`; SSE2 is part of x86-64.
        unsafe { _mm_storeu_pd(p, _mm_add_pd(_mm_loadu_pd(p), _mm_loadu_pd(v.as_ptr()))) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        b.g += v[0];
        b.h += v[1];
    }
    b.c += 1;
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

/// Features per group of the bin layout: a row's bins of one group are one 4-byte
/// load, and the group's histograms (two copies of 4 × 256 (gradient, count) pairs,
/// 32 KB) stay in L1 while its rows stream past.
const GROUP: usize = 4;

/// Most bin edges a feature can have with the missing-only split still offered.
const MAX_EDGES: usize = 253;

/// Leaves with fewer rows sum their histograms straight into the output.
const SMALL_LEAF: usize = 2_048;

/// Leaves of at least this many rows are partitioned by several threads.
const PARALLEL_PARTITION: usize = 32_768;

/// How many rows ahead the histogram and partition loops prefetch the bins of (leaf
/// rows are scattered over the table).
const PREFETCH: usize = 64;

/// A hint to fetch `data[at]` into the cache (nothing when out of range or on other
/// CPUs).
#[inline(always)]
fn prefetch(data: &[u8], at: usize) {
    #[cfg(target_arch = "x86_64")]
    if let Some(p) = data.get(at) {
        // SAFETY: a prefetch of a valid address has no effect on the program's state.
        unsafe { std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(std::ptr::from_ref(p).cast()) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (data, at);
}

struct Ctx<'a> {
    p: &'a GbdtValidParams,
    /// Grouped bins ([`BinMapper::transform_grouped`]): feature `j` of row `r` at
    /// `bins[(j / GROUP) * n * GROUP + r * GROUP + j % GROUP]`.
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
    /// The group of rows' bins holding feature `j`.
    fn group(&self, j: usize) -> &[u8] {
        &self.bins[(j / GROUP) * self.n * GROUP..(j / GROUP + 1) * self.n * GROUP]
    }

    /// Bins of feature `j` for every row, as a strided view into the grouped layout.
    fn column(&self, j: usize) -> impl Fn(u32) -> u8 + '_ {
        let grp = self.group(j);
        let off = j % GROUP;
        move |r| grp[r as usize * GROUP + off]
    }

    /// Gradient histogram of `rows`, a group of [`GROUP`] features at a time (one
    /// pass over the rows per group), from gradients gathered once into row order.
    /// Every bin's sum runs in a fixed row order, so the result does not depend on
    /// the number of threads.
    fn histogram(&self, rows: &[u32], grad: &[f64], hess: &[f64]) -> Vec<HBin> {
        self.histogram_of(rows, grad, hess, self.n_bins.len().div_ceil(GROUP))
    }

    /// The first `n_groups` groups of [`Self::histogram`] (the same sums), and no more.
    fn histogram_of(&self, rows: &[u32], grad: &[f64], hess: &[f64], n_groups: usize) -> Vec<HBin> {
        let nf = self.n_bins.len();
        let n_groups = n_groups.min(nf.div_ceil(GROUP));
        let total: usize = self.n_bins[..(n_groups * GROUP).min(nf)].iter().sum();
        let mut hist = vec![HBin::default(); total];
        // One mutable slice of `hist` per group, holding its features' bins.
        let mut groups: Vec<(usize, &mut [HBin])> = Vec::with_capacity(n_groups);
        let mut rest: &mut [HBin] = &mut hist;
        for q in 0..n_groups {
            let width: usize = self.n_bins[q * GROUP..((q + 1) * GROUP).min(nf)].iter().sum();
            let (head, tail) = rest.split_at_mut(width);
            groups.push((q, head));
            rest = tail;
        }
        // The rows' gradients in row order, gathered once: alone with unit hessians, in
        // (gradient, hessian) pairs otherwise (added to a bin in one step).
        let (og, ogh): (Vec<f64>, Vec<[f64; 2]>) = if self.const_hess {
            (rows.iter().map(|&r| grad[r as usize]).collect(), Vec::new())
        } else {
            (Vec::new(), rows.iter().map(|&r| [grad[r as usize], hess[r as usize]]).collect())
        };
        let fill = |(q, out): (usize, &mut [HBin])| {
            let grp = &self.bins[q * self.n * GROUP..(q + 1) * self.n * GROUP];
            let features = q * GROUP..((q + 1) * GROUP).min(nf);
            // Where each of the group's features starts in `out`.
            let starts: [usize; GROUP] =
                std::array::from_fn(|f| self.offsets.get(q * GROUP + f).map_or(0, |o| o - self.offsets[q * GROUP]));
            let width = features.len();
            if self.const_hess && rows.len() >= SMALL_LEAF {
                // Unit hessians: (gradient, count) pairs, one 16-byte add per row and
                // feature; the hessian sum is the count.
                let mut pairs = Box::new([[[0.0f64; 2]; 256]; GROUP]);
                add_pairs(&mut pairs, grp, rows, &og);
                for (f, j) in features.enumerate() {
                    for (b, p) in out[starts[f]..starts[f] + self.n_bins[j]].iter_mut().zip(pairs[f].iter()) {
                        *b = HBin { g: p[0], h: p[1], c: p[1] as u32 };
                    }
                }
            } else if self.const_hess {
                // Few rows: clearing the pair tables would cost more than the sums.
                // Straight into the output, even and odd rows apart as in the pair
                // tables (the same sums in the same order).
                let mut odd = vec![HBin::default(); out.len()];
                for (k, &r) in rows.iter().enumerate() {
                    let row: [u8; GROUP] = grp[r as usize * GROUP..][..GROUP].try_into().expect("group width");
                    let dst = if k % 2 == 0 { &mut *out } else { &mut odd[..] };
                    for f in 0..width {
                        let b = &mut dst[starts[f] + row[f] as usize];
                        b.g += og[k];
                        b.h += 1.0;
                    }
                }
                for (b, o) in out.iter_mut().zip(&odd) {
                    b.g += o.g;
                    b.h += o.h;
                    b.c = b.h as u32;
                }
            } else {
                // General hessians: straight into the output, in row order, the rows'
                // bins prefetched ahead as in the pair tables.
                for ((k, &r), &v) in rows.iter().enumerate().zip(&ogh) {
                    if let Some(&ahead) = rows.get(k + PREFETCH) {
                        prefetch(grp, ahead as usize * GROUP);
                    }
                    let row: [u8; GROUP] = grp[r as usize * GROUP..][..GROUP].try_into().expect("group width");
                    for f in 0..width {
                        add_gh(&mut out[starts[f] + row[f] as usize], v);
                    }
                }
            }
        };
        // Thread hand-off costs more than it saves on small leaves.
        if rows.len() * nf < 8_192 {
            groups.into_iter().for_each(fill);
        } else {
            groups.into_par_iter().for_each(fill);
        }
        hist
    }

    fn best_split(&self, hist: &[HBin], g: f64, h: f64, count: usize) -> Option<Split> {
        let p = self.p;
        let min = p.min_data_in_leaf as u32;
        if count < 2 * p.min_data_in_leaf {
            return None;
        }
        let node = NodeStats { g, h, count: count as u32, parent: score(g, h, p.lambda_l2), min, lambda: p.lambda_l2 };
        let per_feature = |j: usize| -> Option<Split> {
            let fh = &hist[self.offsets[j]..self.offsets[j] + self.n_bins[j]];
            best_threshold(fh, &node).and_then(|(gain, bin, missing_left)| {
                (gain > p.min_gain).then_some(Split { gain, feature: j, bin, missing_left })
            })
        };
        let best: Vec<Split> = if self.total_bins < 1_024 {
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

    /// A new leaf over rows `range` with histogram `hist`; its best split only when
    /// `search` (a leaf that will not be split needs its sums alone, which come from
    /// the first feature's bins).
    fn leaf(&self, range: (usize, usize), hist: Vec<HBin>, slot: Option<(usize, bool)>, search: bool) -> Leaf {
        let (g, h) = hist[..self.n_bins[0]].iter().fold((0.0, 0.0), |a, b| (a.0 + b.g, a.1 + b.h));
        let best = if search { self.best_split(&hist, g, h, range.1 - range.0) } else { None };
        Leaf { start: range.0, end: range.1, hist, g, h, slot, best }
    }
}

/// What the split search of one node needs besides a feature's histogram.
#[derive(Debug, Clone, Copy)]
struct NodeStats {
    /// Gradient, hessian and row sums of the node.
    g: f64,
    h: f64,
    count: u32,
    /// The node's own score (what a split's children must beat).
    parent: f64,
    /// Fewest rows per child.
    min: u32,
    lambda: f64,
}

/// The best threshold of one feature's histogram `fh` (bin 0 = missing values):
/// `(gain over the parent's score, bin, missing_left)`, where the split puts bins
/// `1..=bin` left. Candidates are scored in the order (bin ascending, missing right
/// before left) and the first of the highest gains wins. Branch-free passes over
/// fixed-size arrays (prefix sums of the distinct candidates, their gains with invalid
/// ones −∞, the maximum), compiled twice: for AVX2 when the CPU has it (detected at run time)
/// and for baseline x86-64. Without fused multiply-adds both give the same bits.
fn best_threshold(fh: &[HBin], node: &NodeStats) -> Option<(f64, usize, bool)> {
    // Scratch sized to the feature's bins (few-valued features are common).
    match fh.len() {
        0..=16 => best_threshold_sized::<16>(fh, node),
        17..=64 => best_threshold_sized::<64>(fh, node),
        _ => best_threshold_sized::<256>(fh, node),
    }
}

fn best_threshold_sized<const N: usize>(fh: &[HBin], node: &NodeStats) -> Option<(f64, usize, bool)> {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2 (checked above).
        return unsafe { best_threshold_avx2::<N>(fh, node) };
    }
    best_threshold_impl::<N>(fh, node)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn best_threshold_avx2<const N: usize>(fh: &[HBin], node: &NodeStats) -> Option<(f64, usize, bool)> {
    best_threshold_impl::<N>(fh, node)
}

#[inline(always)]
fn best_threshold_impl<const N: usize>(fh: &[HBin], node: &NodeStats) -> Option<(f64, usize, bool)> {
    let NodeStats { g, h, count, parent, min, lambda } = *node;
    let nb = fh.len();
    assert!(nb <= N && N.is_multiple_of(8));
    // Thresholds after bins 1..nb-1: m of them, and after bin nb-1, which puts every
    // value left and only the missing values right (with missing values left it would
    // leave the right side empty). That last one has the threshold `f64::MAX`, one
    // more distinct threshold: offered only while the feature stays within the 254
    // that block prediction ranks in a byte.
    let m = nb.checked_sub(2)?;
    let last = if m <= MAX_EDGES { m } else { m - 1 };
    let miss = fh[0];
    // Prefix sums of the distinct candidates only: a threshold after an empty bin
    // splits the rows as the one before it does, and comes later in candidate order,
    // so it can never be the first of the highest gains. Kept: the threshold after
    // bin 1 (which may put no value left) and every threshold after a non-empty bin;
    // `at[j]` is the j-th kept candidate's place in the full order. Small nodes leave
    // most of a feature's bins empty.
    let (mut lg, mut lh, mut lc, mut at) = ([0.0f64; N], [0.0f64; N], [0.0f64; N], [0u16; N]);
    let (mut ag, mut ah, mut ac) = (0.0, 0.0, 0u32);
    let mut n = 0;
    for (k, b) in fh[1..=last + 1].iter().enumerate() {
        ag += b.g;
        ah += b.h;
        ac += b.c;
        // Written in every step, kept (n moves on) only for a kept candidate.
        lg[n] = ag;
        lh[n] = ah;
        lc[n] = f64::from(ac);
        at[n] = k as u16;
        n += usize::from(k == 0 || b.c > 0);
    }
    let (count, min) = (f64::from(count), f64::from(min));
    // gains[d][j]: the j-th kept threshold, missing values right (d = 0) or left (1).
    let mut gains = [[f64::NEG_INFINITY; N]; 2];
    let ways: &[(f64, f64, f64)] =
        if miss.c > 0 { &[(0.0, 0.0, 0.0), (miss.g, miss.h, miss.c as f64)] } else { &[(0.0, 0.0, 0.0)] };
    for (out, &(mg, mh, mc)) in gains.iter_mut().zip(ways) {
        for j in 0..n {
            let (gl, hl, cl) = (lg[j] + mg, lh[j] + mh, lc[j] + mc);
            let (gr, hr, cr) = (g - gl, h - hl, count - cl);
            let gain = gl * gl / (hl + lambda) + gr * gr / (hr + lambda) - parent;
            let ok = cl >= min && cr >= min && hl >= 1e-3 && hr >= 1e-3;
            out[j] = if ok { gain } else { f64::NEG_INFINITY };
        }
    }
    // The maximum in eight independent lanes, then its first position in candidate order.
    let mut lanes = [f64::NEG_INFINITY; 8];
    for row in &gains {
        for c in row[..n.next_multiple_of(8)].chunks_exact(8) {
            for (l, &v) in lanes.iter_mut().zip(c) {
                *l = if v > *l { v } else { *l };
            }
        }
    }
    let best = lanes.iter().fold(f64::NEG_INFINITY, |a, &v| if v > a { v } else { a });
    if best == f64::NEG_INFINITY {
        return None;
    }
    let j = (0..n).find(|&j| gains[0][j] == best || gains[1][j] == best)?;
    // A node without missing values in training sends later ones to its larger side
    // (the likelier guess; always right would put them with the upper tail).
    let missing_left = if miss.c > 0 { gains[0][j] != best } else { 2.0 * lc[j] >= count };
    Some((best, usize::from(at[j]) + 1, missing_left))
}

/// `pairs[f][grp[r * GROUP + f]] += (g[k], 1)` for the k-th row `r` of `rows` and
/// every feature `f` of the group.
#[inline]
fn add_pairs(pairs: &mut [[[f64; 2]; 256]; GROUP], grp: &[u8], rows: &[u32], g: &[f64]) {
    assert!(g.len() >= rows.len());
    let bins_of = |r: u32| -> [u8; GROUP] { grp[r as usize * GROUP..][..GROUP].try_into().expect("group width") };
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::*;
        // SAFETY: SSE2 is part of x86-64; every pointer is to an element of `pairs`
        // or `other` (a byte indexes 256 bins).
        unsafe {
            let one = _mm_set_pd(1.0, 0.0);
            // Two interleaved copies (even and odd rows): rows that fall in the same
            // bin one after the other (low-cardinality features) do not wait on each
            // other's store.
            let mut other = Box::new([[[0.0f64; 2]; 256]; GROUP]);
            let mut it = rows.chunks_exact(2);
            for (k2, rr) in (&mut it).enumerate() {
                // Leaf rows are scattered over the table: fetch the bins of the rows a
                // few iterations ahead while these are summed.
                if let Some(&ahead) = rows.get(2 * k2 + PREFETCH) {
                    prefetch(grp, ahead as usize * GROUP);
                }
                let (b0, b1) = (bins_of(rr[0]), bins_of(rr[1]));
                let v0 = _mm_add_pd(_mm_set_sd(g[2 * k2]), one);
                let v1 = _mm_add_pd(_mm_set_sd(g[2 * k2 + 1]), one);
                for f in 0..GROUP {
                    let p0 = pairs[f][b0[f] as usize].as_mut_ptr();
                    _mm_storeu_pd(p0, _mm_add_pd(_mm_loadu_pd(p0), v0));
                    let p1 = other[f][b1[f] as usize].as_mut_ptr();
                    _mm_storeu_pd(p1, _mm_add_pd(_mm_loadu_pd(p1), v1));
                }
            }
            if let [r] = it.remainder() {
                let b = bins_of(*r);
                let v = _mm_add_pd(_mm_set_sd(g[rows.len() - 1]), one);
                for f in 0..GROUP {
                    let p = pairs[f][b[f] as usize].as_mut_ptr();
                    _mm_storeu_pd(p, _mm_add_pd(_mm_loadu_pd(p), v));
                }
            }
            merge_pairs(pairs, &other);
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let mut other = Box::new([[[0.0f64; 2]; 256]; GROUP]);
        for (k, &r) in rows.iter().enumerate() {
            let b = bins_of(r);
            let dst = if k % 2 == 0 { &mut *pairs } else { &mut *other };
            for f in 0..GROUP {
                dst[f][b[f] as usize][0] += g[k];
                dst[f][b[f] as usize][1] += 1.0;
            }
        }
        merge_pairs(pairs, &other);
    }
}

/// Adds the odd rows' table into the even rows' one.
fn merge_pairs(pairs: &mut [[[f64; 2]; 256]; GROUP], other: &[[[f64; 2]; 256]; GROUP]) {
    for (pf, of) in pairs.iter_mut().zip(other) {
        for (p, o) in pf.iter_mut().zip(of) {
            p[0] += o[0];
            p[1] += o[1];
        }
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

/// Stream of [`Rng`] the row samples are drawn from.
const BAGGING_STREAM: u64 = 0x6261_6767;

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// Fits a forest.
///
/// # Errors
/// [`GbdtError`] for empty input, mismatched shapes or unusable targets.
pub fn fit(p: &GbdtValidParams, x: ArrayView2<'_, f64>, y: &[f64]) -> Result<Forest, GbdtError> {
    // On a pool thread, so that the many small parallel steps inside do not each hand
    // work over from an outside thread and wait for it.
    rayon::scope(|_| fit_on_pool(p, x, y)).map(|(forest, _)| forest)
}

/// The forest and its raw scores of the training rows as boosting left them.
fn fit_on_pool(p: &GbdtValidParams, x: ArrayView2<'_, f64>, y: &[f64]) -> Result<(Forest, Vec<f64>), GbdtError> {
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
    let bins = mapper.transform_grouped(x, GROUP);
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
    // Row sampling: one stream per fit, drawn in tree order.
    let mut bags = (p.bagging_fraction < 1.0).then(|| (Rng::new(p.seed, BAGGING_STREAM), vec![false; n]));

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
        let m = match bags.as_mut() {
            Some((rng, in_bag)) => sample_rows(rng, p.bagging_fraction, in_bag, &mut idx),
            None => {
                idx.iter_mut().enumerate().for_each(|(i, v)| *v = i as u32);
                n
            }
        };
        let first_node = forest.nodes.len();
        let leaves = grow_tree(&ctx, &mapper, &mut forest, &mut idx[..m], &mut scratch, &grad, &hess);
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
        if let Some((_, in_bag)) = &bags {
            add_out_of_bag(&ctx, &mapper, &forest, first_node, in_bag, &mut pred);
        }
    }
    Ok((forest, pred))
}

/// Draws the rows of the next tree: each row with probability `fraction`, into the
/// front of `idx` in row order, marked in `in_bag`; returns how many. A draw that
/// leaves fewer than two rows takes every row.
fn sample_rows(rng: &mut Rng, fraction: f64, in_bag: &mut [bool], idx: &mut [u32]) -> usize {
    let mut m = 0;
    for (i, b) in in_bag.iter_mut().enumerate() {
        *b = rng.f64() < fraction;
        if *b {
            idx[m] = i as u32;
            m += 1;
        }
    }
    if m < 2 {
        in_bag.iter_mut().for_each(|b| *b = true);
        idx.iter_mut().enumerate().for_each(|(i, v)| *v = i as u32);
        m = in_bag.len();
    }
    m
}

/// Adds the newest tree (its nodes from `first_node` on) to the predictions of the
/// rows it was not grown on, routing them by their bins as the growth partitioned
/// the others.
fn add_out_of_bag(
    ctx: &Ctx<'_>,
    mapper: &BinMapper,
    forest: &Forest,
    first_node: usize,
    in_bag: &[bool],
    pred: &mut [f64],
) {
    let Some(&root) = forest.roots.last() else {
        return;
    };
    // Each new node's threshold as its last bin going left (the threshold is that
    // bin's upper edge, or past every edge).
    let split_bin: Vec<usize> = forest.nodes[first_node..]
        .iter()
        .map(|nd| {
            let e = &mapper.edges[nd.feature as usize];
            1 + e.partition_point(|v| *v < nd.threshold)
        })
        .collect();
    let route = |off: usize, out: &mut [f64]| {
        for (k, p) in out.iter_mut().enumerate() {
            let row = off + k;
            if in_bag[row] {
                continue;
            }
            let mut at = root;
            while at >= 0 {
                let nd = &forest.nodes[at as usize];
                let b = ctx.column(nd.feature as usize)(row as u32);
                let left = if b == 0 { nd.missing_left } else { usize::from(b) <= split_bin[at as usize - first_node] };
                at = if left { nd.left } else { nd.right };
            }
            *p += forest.leaves[(!at) as usize];
        }
    };
    const BLOCK: usize = 16_384;
    if pred.len() <= BLOCK {
        route(0, pred);
    } else {
        pred.par_chunks_mut(BLOCK).enumerate().for_each(|(b, out)| route(b * BLOCK, out));
    }
}

/// Stable partition of `rows` by `go_left`: lefts first, each side in its original
/// order; returns the number of lefts. Chunks of `chunk` rows are partitioned in
/// place in parallel (lefts compacted to the chunk's front, rights to its part of
/// `scratch`), then put together: every chunk's lefts, then every chunk's rights.
/// `grp` is the bin table `go_left` reads (prefetched ahead).
fn partition(
    rows: &mut [u32],
    scratch: &mut [u32],
    chunk: usize,
    grp: &[u8],
    go_left: impl Fn(u32) -> bool + Sync,
) -> usize {
    let n = rows.len();
    if n == 0 {
        return 0;
    }
    let chunk = chunk.max(1);
    let split = |(rows, rights): (&mut [u32], &mut [u32])| {
        let (mut l, mut r) = (0usize, 0usize);
        for k in 0..rows.len() {
            if let Some(&ahead) = rows.get(k + PREFETCH) {
                prefetch(grp, ahead as usize * GROUP);
            }
            let row = rows[k];
            let left = go_left(row);
            rows[l] = row;
            rights[r] = row;
            l += usize::from(left);
            r += usize::from(!left);
        }
        l
    };
    let lefts: Vec<usize> = if n <= chunk {
        vec![split((&mut *rows, &mut scratch[..n]))]
    } else {
        rows.par_chunks_mut(chunk).zip(scratch[..n].par_chunks_mut(chunk)).map(split).collect()
    };
    let mut at = 0;
    for (c, &l) in lefts.iter().enumerate() {
        rows.copy_within(c * chunk..c * chunk + l, at);
        at += l;
    }
    let mid = at;
    for (c, &l) in lefts.iter().enumerate() {
        let len = chunk.min(n - c * chunk);
        rows[at..at + len - l].copy_from_slice(&scratch[c * chunk..c * chunk + len - l]);
        at += len - l;
    }
    mid
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
    let mut leaves = vec![ctx.leaf((0, idx.len()), hist, None, true)];
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
        let (start, end) = (leaf.start, leaf.end);
        let (col, grp) = (ctx.column(s.feature), ctx.group(s.feature));
        let go_left = |row: u32| {
            let b = col(row);
            if b == 0 {
                s.missing_left
            } else {
                b as usize <= s.bin
            }
        };
        let chunk = if end - start < PARALLEL_PARTITION { end - start } else { PARALLEL_PARTITION / 2 };
        let mid = start + partition(&mut idx[start..end], scratch, chunk, grp, go_left);
        let node_id = forest.nodes.len();
        forest.nodes.push(Node {
            feature: s.feature as u32,
            // Past the last edge: every value left, only missing values right.
            threshold: mapper.edges[s.feature].get(s.bin - 1).copied().unwrap_or(f64::MAX),
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
        // The split that makes the last leaf: its children are not split, and need only
        // their gradient sums, which come from the first group's bins (the same sums as
        // from the whole histogram).
        let last = leaves.len() + 2 >= ctx.p.max_leaves;
        let small_hist = if last { ctx.histogram_of(small, grad, hess, 1) } else { ctx.histogram(small, grad, hess) };
        let mut big_hist = leaf.hist;
        big_hist.truncate(small_hist.len());
        for (p, s) in big_hist.iter_mut().zip(&small_hist) {
            *p = HBin { g: p.g - s.g, h: p.h - s.h, c: p.c - s.c };
        }
        let (lh, rh) = if small_is_left { (small_hist, big_hist) } else { (big_hist, small_hist) };
        // The two children's split searches side by side when there are enough bins to
        // pay for waking another thread.
        let left = || ctx.leaf((start, mid), lh, Some((node_id, true)), !last);
        let right = || ctx.leaf((mid, end), rh, Some((node_id, false)), !last);
        let (left, right) = if ctx.total_bins >= 2_048 { rayon::join(left, right) } else { (left(), right()) };
        leaves.push(left);
        leaves.push(right);
    }
    // Stable leaf order for reproducible leaf ids: by first row.
    leaves.sort_by_key(|l| if l.start < l.end { idx[l.start] } else { u32::MAX });
    leaves
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::gbdt::{GbdtParams, GbdtParamsError};
    use crate::rng::Rng;

    /// Rows of a noisy step-and-slope function with some missing values.
    fn bagging_data(n: usize, seed: u64) -> (ndarray::Array2<f64>, Vec<f64>) {
        let mut r = Rng::new(seed, 1);
        let mut x = ndarray::Array2::zeros((n, 4));
        let mut y = Vec::with_capacity(n);
        for i in 0..n {
            for j in 0..4 {
                x[[i, j]] = if r.chance(0.05) { f64::NAN } else { r.uniform(-2.0, 2.0) };
            }
            let a = if x[[i, 0]].is_nan() { 1.0 } else { x[[i, 0]] };
            y.push(3.0 * f64::from(u8::from(a > 0.3)) + x[[i, 1]].max(0.0) * 2.0 + r.normal());
        }
        (x, y)
    }

    #[test]
    fn rows_left_out_of_a_tree_move_with_it_as_the_forest_predicts_them() {
        let (x, y) = bagging_data(3_000, 5);
        for loss in [Loss::Squared, Loss::Quantile { alpha: 0.9 }, Loss::Logistic] {
            let y: Vec<f64> = if loss == Loss::Logistic {
                y.iter().map(|v| f64::from(u8::from(*v > 2.0))).collect()
            } else {
                y.clone()
            };
            let p = GbdtParams::new(loss).n_trees(40).bagging_fraction(0.5).check().unwrap();
            let (forest, pred) = fit_on_pool(&p, x.view(), &y).unwrap();
            let flat: Vec<f64> = x.iter().copied().collect();
            let mut direct = vec![0.0; y.len()];
            forest.predict_rows(&flat, &mut direct);
            let worst = pred.iter().zip(&direct).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
            assert!(worst < 1e-9, "{loss:?}: training scores and the forest differ by {worst}");
        }
    }

    #[test]
    fn bagged_trees_are_seeded_and_fit_as_well_on_new_rows() {
        let (x, y) = bagging_data(4_000, 6);
        let (xt, yt) = bagging_data(2_000, 7);
        let mae = |g: &crate::models::gbdt::Gbdt| {
            let p = g.predict(xt.view()).unwrap();
            p.iter().zip(&yt).map(|(a, b)| (a - b).abs()).sum::<f64>() / yt.len() as f64
        };
        let base = GbdtParams::new(Loss::Squared).n_trees(100);
        let all = base.clone().fit(x.view(), &y).unwrap();
        let half = base.clone().bagging_fraction(0.5).fit(x.view(), &y).unwrap();
        assert_eq!(half, base.clone().bagging_fraction(0.5).fit(x.view(), &y).unwrap(), "same seed, same trees");
        assert_ne!(half.forest, base.clone().bagging_fraction(0.5).seed(43).fit(x.view(), &y).unwrap().forest);
        assert_ne!(half.forest, all.forest, "sampling changes the trees");
        // Noise has mean absolute value 0.80: both should be close to it.
        let (a, h) = (mae(&all), mae(&half));
        assert!(h < 0.9 && h < a * 1.05, "held-out MAE: all rows {a:.3}, half the rows per tree {h:.3}");
        // Models saved before the setting existed grew every tree on every row.
        let mut old = serde_json::to_value(&half.params).unwrap();
        old.as_object_mut().unwrap().remove("bagging_fraction");
        let old: GbdtValidParams = serde_json::from_value(old).unwrap();
        assert_eq!(old.bagging_fraction, 1.0);
        let bad = GbdtParams::new(Loss::Squared).bagging_fraction(0.0).check();
        assert!(matches!(bad, Err(GbdtParamsError::Share { name: "bagging_fraction", .. })), "{bad:?}");
    }

    /// The split search as first written (one candidate at a time, branching), the
    /// reference for the branch-free one.
    fn best_threshold_reference(
        fh: &[HBin],
        g: f64,
        h: f64,
        count: usize,
        min: u32,
        lambda: f64,
    ) -> Option<(f64, usize, bool)> {
        let parent = score(g, h, lambda);
        let miss = fh[0];
        let mut best: Option<(f64, usize, bool)> = None;
        let (mut lg, mut lh, mut lc) = (0.0, 0.0, 0u32);
        let last = if fh.len() - 2 <= MAX_EDGES { fh.len() - 1 } else { fh.len() - 2 };
        for (b, hb) in fh.iter().enumerate().take(last + 1).skip(1) {
            lg += hb.g;
            lh += hb.h;
            lc += hb.c;
            for missing_left in [false, true] {
                let (gl, hl, cl) = if missing_left { (lg + miss.g, lh + miss.h, lc + miss.c) } else { (lg, lh, lc) };
                let cr = count as u32 - cl;
                if cl < min || cr < min || hl < 1e-3 || h - hl < 1e-3 {
                    continue;
                }
                let gain = score(gl, hl, lambda) + score(g - gl, h - hl, lambda) - parent;
                if best.is_none_or(|s| gain > s.0) {
                    best = Some((gain, b, if miss.c > 0 { missing_left } else { 2 * cl >= count as u32 }));
                }
                if miss.c == 0 {
                    break;
                }
            }
        }
        best
    }

    #[test]
    fn branch_free_split_search_picks_what_the_reference_picks() {
        let mut r = Rng::new(7, 0);
        for case in 0..400 {
            let nb = 3 + (r.uniform(0.0, 254.0) as usize);
            // Integer gradients in some cases make exact ties between candidates.
            let ties = case % 3 == 0;
            let fh: Vec<HBin> = (0..nb)
                .map(|b| {
                    // Every fifth case sparse, as a small node's histogram is: most bins empty.
                    let empty = (b == 0 && case % 4 == 0) || (case % 5 == 1 && r.uniform(0.0, 1.0) < 0.85);
                    let c = if empty { 0 } else { r.uniform(0.0, 30.0) as u32 };
                    let g = if ties { (r.uniform(-3.0, 3.0) as i64) as f64 } else { r.gauss(0.0, 1.0) * f64::from(c) };
                    let h = if case % 2 == 0 { f64::from(c) } else { f64::from(c) * r.uniform(0.01, 0.25) };
                    // An empty bin holds no gradient.
                    if c == 0 {
                        HBin::default()
                    } else {
                        HBin { g, h, c }
                    }
                })
                .collect();
            let (g, h, count) = fh.iter().fold((0.0, 0.0, 0u32), |a, b| (a.0 + b.g, a.1 + b.h, a.2 + b.c));
            let (min, lambda) = ([1, 20, 200][case % 3], [0.0, 1.0][case % 2]);
            let want = best_threshold_reference(&fh, g, h, count as usize, min, lambda);
            let node = NodeStats { g, h, count, parent: score(g, h, lambda), min, lambda };
            let got = best_threshold(&fh, &node);
            assert_eq!(got, want, "case {case}: {nb} bins, min {min}");
            assert_eq!(best_threshold_impl::<256>(&fh, &node), want, "case {case}");
        }
    }

    #[test]
    fn chunked_partition_is_the_stable_partition() {
        let mut r = Rng::new(3, 0);
        let bins: Vec<u8> = (0..5_000).map(|_| r.uniform(0.0, 256.0) as u8).collect();
        let go_left = |row: u32| bins[row as usize] < 100;
        let rows: Vec<u32> = (0..5_000u32).filter(|_| r.uniform(0.0, 1.0) < 0.6).collect();
        let want: Vec<u32> =
            rows.iter().copied().filter(|&x| go_left(x)).chain(rows.iter().copied().filter(|&x| !go_left(x))).collect();
        let lefts = rows.iter().filter(|&&x| go_left(x)).count();
        for chunk in [1, 7, 64, 1_000, rows.len(), 10 * rows.len()] {
            let (mut got, mut scratch) = (rows.clone(), vec![0; rows.len()]);
            assert_eq!(partition(&mut got, &mut scratch, chunk, &bins, go_left), lefts, "chunk {chunk}");
            assert_eq!(got, want, "chunk {chunk}");
        }
        assert_eq!(partition(&mut [], &mut [], 8, &bins, go_left), 0);
    }

    #[test]
    fn grouped_histograms_equal_plain_sums_for_every_feature_and_row_subset() {
        let (n, nf) = (3_000, 6);
        let mut r = Rng::new(11, 0);
        let x = ndarray::Array2::from_shape_fn((n, nf), |(_, j)| {
            if r.uniform(0.0, 1.0) < 0.05 {
                f64::NAN
            } else {
                (r.uniform(0.0, 1.0) * [3.0, 300.0][j % 2]).floor()
            }
        });
        let grad: Vec<f64> = (0..n).map(|_| r.gauss(0.0, 1.0)).collect();
        let hess: Vec<f64> = (0..n).map(|_| r.uniform(0.05, 0.25)).collect();
        let mapper = BinMapper::fit(x.view(), 255);
        let bins = mapper.transform_grouped(x.view(), GROUP);
        let n_bins: Vec<usize> = (0..nf).map(|j| mapper.n_bins(j)).collect();
        let offsets: Vec<usize> = n_bins.iter().scan(0, |a, &b| Some(std::mem::replace(a, *a + b))).collect();
        let rows: Vec<u32> = (0..n as u32).filter(|_| r.uniform(0.0, 1.0) < 0.7).collect();
        for const_hess in [true, false] {
            let p = GbdtParams::new(Loss::Squared).check().expect("params");
            let total_bins = n_bins.iter().sum();
            let ctx =
                Ctx { p: &p, bins: &bins, n, offsets: offsets.clone(), n_bins: n_bins.clone(), total_bins, const_hess };
            let hist = ctx.histogram(&rows, &grad, &hess);
            // The first group alone (what the last split's children get): the same bins.
            let first = ctx.histogram_of(&rows, &grad, &hess, 1);
            assert_eq!(first.len(), n_bins[..GROUP].iter().sum::<usize>());
            for (a, b) in first.iter().zip(&hist) {
                assert_eq!((a.g.to_bits(), a.h.to_bits(), a.c), (b.g.to_bits(), b.h.to_bits(), b.c));
            }
            for j in 0..nf {
                let mut want = vec![(0.0, 0.0, 0u32); n_bins[j]];
                for &row in &rows {
                    let b = mapper.bin(j, x[[row as usize, j]]) as usize;
                    want[b].0 += grad[row as usize];
                    want[b].1 += if const_hess { 1.0 } else { hess[row as usize] };
                    want[b].2 += 1;
                }
                for (b, w) in want.iter().enumerate() {
                    let got = hist[offsets[j] + b];
                    assert_eq!(got.c, w.2, "feature {j} bin {b}");
                    assert!((got.g - w.0).abs() < 1e-9 && (got.h - w.1).abs() < 1e-9, "feature {j} bin {b}");
                    if !const_hess {
                        // General hessians are summed in row order: the very same sums.
                        assert_eq!((got.g.to_bits(), got.h.to_bits()), (w.0.to_bits(), w.1.to_bits()), "{j} {b}");
                    }
                }
            }
        }
    }
}
