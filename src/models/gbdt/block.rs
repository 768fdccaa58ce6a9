//! Batch prediction by node masks.
//!
//! A block of [`R`] rows is first *binned*: each value becomes its rank among the
//! forest's distinct thresholds for that feature (a byte: our trees split on at most
//! 254 distinct thresholds per feature), so that `x <= t_k` holds
//! exactly when `rank(x) <= k`. Then every node of a tree tests all rows of the block
//! at once (one 64-lane byte compare, a 64-bit mask of the rows going left), masks
//! flow from parents to children, and each row takes the value of the leaf whose mask
//! holds it. Nothing waits on a pointer chase and there are no data-dependent
//! branches, so the work runs at the CPU's vector width. The result equals a plain
//! walk of the trees up to the order of the sum.
//!
//! Missing values: NaN ranks as `u8::MAX` (never `<= k`, so it goes right). For a
//! node that sends NaN left, the compare uses a second copy of the column holding
//! `rank + 1` with NaN wrapped to 0, against `k + 1`: the same order for numbers,
//! always left for NaN.

use super::tree::Forest;

/// Whether block prediction pays: with AVX-512 it is 6–10× faster than walking the
/// trees row by row; the portable block code is 2–3× slower than the walk (measured
/// with `ARSIGHT_SIMD=off`), so other CPUs keep walking.
pub(super) fn worth_it() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        avx512()
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Whether the AVX-512 kernels run: the CPU has AVX-512 (F, BW, VL) and
/// `ARSIGHT_SIMD=off` is not set (for comparing with the portable code).
#[cfg(target_arch = "x86_64")]
fn avx512() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| {
        std::env::var("ARSIGHT_SIMD").map_or(true, |v| v != "off")
            && std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("avx512vl")
    })
}

/// Rows per block (one bit each in a `u64` mask).
pub(super) const R: usize = 64;

/// Distinct thresholds per feature must leave room for NaN in a byte.
const MAX_CUTS: usize = u8::MAX as usize - 1;

/// One column of ranks for a block of rows.
#[derive(Debug, Clone, Copy)]
#[repr(C, align(64))]
struct Col([u8; R]);

/// One feature's attributions for a block of rows.
#[derive(Debug, Clone, Copy)]
#[repr(C, align(64))]
struct Acc([f64; R]);

/// An internal node: rows whose rank in column `col` is `<= thr` go left (to node
/// `node + 1`), the others to `right`. Node ids count within the tree in pre-order.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Inner {
    col: u32,
    thr: u8,
    node: u16,
    right: u16,
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Leaf {
    value: f64,
    node: u16,
}

/// Leaf values of one tree, padded.
#[derive(Debug, Clone, Copy, PartialEq)]
#[repr(C, align(64))]
struct Table([f64; 32]);

#[derive(Debug, Clone, Copy, PartialEq)]
struct Tree {
    inner: (u32, u32),
    leaves: (u32, u32),
    /// Start of the tree's leaf values in [`BlockLayout::table`] (in leaf order, padded
    /// to 32), or `u32::MAX` when it has more than 32 leaves.
    table: u32,
}

/// The ensemble prepared for block prediction.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct BlockLayout {
    /// Sorted distinct thresholds of each feature.
    cuts: Vec<Vec<f64>>,
    /// Features that some node tests.
    used: Vec<usize>,
    inner: Vec<Inner>,
    /// Forest node id of each inner node (for attributions).
    orig: Vec<u32>,
    leaves: Vec<Leaf>,
    trees: Vec<Tree>,
    /// Leaf values of trees with up to 32 leaves, 32 per tree, 64-byte aligned.
    table: Vec<Table>,
    max_nodes: usize,
    n_features: usize,
    init: f64,
}

impl BlockLayout {
    /// The layout, or `None` when the forest does not fit it (a tree of more than
    /// 65,534 nodes, more than 254 distinct thresholds on a feature, a NaN
    /// threshold); such forests are scored by plain walks.
    pub(super) fn new(f: &Forest) -> Option<BlockLayout> {
        let nf = f.n_features;
        let mut cuts: Vec<Vec<f64>> = vec![Vec::new(); nf];
        for n in &f.nodes {
            if n.threshold.is_nan() || n.feature as usize >= nf {
                return None;
            }
            cuts[n.feature as usize].push(n.threshold);
        }
        for c in &mut cuts {
            c.sort_by(f64::total_cmp);
            c.dedup_by(|a, b| a == b);
            if c.len() > MAX_CUTS {
                return None;
            }
        }
        let used = (0..nf).filter(|&j| !cuts[j].is_empty()).collect();
        let mut inner = Vec::with_capacity(f.nodes.len());
        let mut orig = Vec::with_capacity(f.nodes.len());
        let mut leaves = Vec::with_capacity(f.leaves.len());
        let mut trees = Vec::with_capacity(f.roots.len());
        let mut table = Vec::new();
        let mut max_nodes = 1;
        struct Walk<'a> {
            f: &'a Forest,
            cuts: &'a [Vec<f64>],
            inner: &'a mut Vec<Inner>,
            orig: &'a mut Vec<u32>,
            leaves: &'a mut Vec<Leaf>,
            next: usize,
        }
        impl Walk<'_> {
            fn emit(&mut self, n: i32) -> usize {
                let id = self.next;
                self.next += 1;
                if n < 0 {
                    self.leaves.push(Leaf { value: self.f.leaves[(!n) as usize], node: id as u16 });
                    return id;
                }
                let node = self.f.nodes[n as usize];
                let j = node.feature as usize;
                let k = self.cuts[j].partition_point(|&c| c < node.threshold);
                let (col, thr) = if node.missing_left { (self.f.n_features + j, k + 1) } else { (j, k) };
                let at = self.inner.len();
                self.orig.push(n as u32);
                self.inner.push(Inner { col: col as u32, thr: thr as u8, node: id as u16, right: 0 });
                self.emit(node.left);
                let r = self.emit(node.right);
                self.inner[at].right = r as u16;
                id
            }
        }
        for &r in &f.roots {
            let (i0, l0) = (inner.len(), leaves.len());
            let mut w = Walk { f, cuts: &cuts, inner: &mut inner, orig: &mut orig, leaves: &mut leaves, next: 0 };
            w.emit(r);
            if w.next >= usize::from(u16::MAX) {
                return None;
            }
            max_nodes = max_nodes.max(w.next);
            let tree_leaves = &leaves[l0..];
            let at = if tree_leaves.len() <= 32 {
                let mut t = Table([0.0; 32]);
                for (slot, l) in t.0.iter_mut().zip(tree_leaves) {
                    *slot = l.value;
                }
                table.push(t);
                (table.len() - 1) as u32
            } else {
                u32::MAX
            };
            trees.push(Tree {
                inner: (i0 as u32, inner.len() as u32),
                leaves: (l0 as u32, leaves.len() as u32),
                table: at,
            });
        }
        Some(BlockLayout { cuts, used, inner, orig, leaves, trees, table, max_nodes, n_features: nf, init: f.init })
    }

    /// Raw scores of `out.len()` rows stored row after row in `x`.
    pub(super) fn predict_rows(&self, x: &[f64], out: &mut [f64]) {
        #[cfg(target_arch = "x86_64")]
        {
            if avx512() {
                // SAFETY: the CPU has the features the function is compiled for.
                return unsafe { self.predict_rows_avx512(x, out) };
            }
        }
        self.predict_rows_portable(x, out);
    }

    /// Ranks of a block of rows, column by column (`2 × n_features` columns: ranks,
    /// then ranks + 1 with NaN first).
    #[inline(always)]
    fn bin(&self, xb: &[f64], n: usize, cols: &mut [Col]) {
        let nf = self.n_features;
        let mut v = [0.0f64; R];
        let mut base = [0usize; R];
        for &j in &self.used {
            let cuts = &self.cuts[j][..];
            for (r, o) in v.iter_mut().enumerate() {
                // Rows past the end rank like -inf (their results are dropped).
                *o = if r < n { xb[r * nf + j] } else { f64::NEG_INFINITY };
            }
            // The rows' binary searches in lockstep: the steps depend only on the
            // number of cuts, and the rows' loads overlap.
            base.fill(0);
            let mut size = cuts.len();
            while size > 1 {
                let half = size / 2;
                for (b, &x) in base.iter_mut().zip(&v) {
                    let mid = *b + half;
                    // SAFETY: mid < b + size <= cuts.len().
                    let below = unsafe { *cuts.get_unchecked(mid) } < x;
                    *b = std::hint::select_unpredictable(below, mid, *b);
                }
                size -= half;
            }
            let (plain, plus) = cols.split_at_mut(nf);
            let (p, q) = (&mut plain[j].0, &mut plus[j].0);
            for r in 0..R {
                let x = v[r];
                // SAFETY: `used` features have at least one cut; base < cuts.len().
                let rank = base[r] + usize::from(unsafe { *cuts.get_unchecked(base[r]) } < x);
                let rank = if x.is_nan() { u8::MAX } else { rank as u8 };
                p[r] = rank;
                q[r] = rank.wrapping_add(1);
            }
        }
    }

    /// Portable version (any CPU); the reference for the vector one.
    pub(super) fn predict_rows_portable(&self, x: &[f64], out: &mut [f64]) {
        let nf = self.n_features;
        assert!(x.len() >= out.len() * nf, "{} values for {} rows of {nf}", x.len(), out.len());
        let mut cols = vec![Col([0; R]); 2 * nf];
        let mut reach = vec![0u64; self.max_nodes];
        for (b, ob) in out.chunks_mut(R).enumerate() {
            let n = ob.len();
            self.bin(&x[b * R * nf..(b * R + n) * nf], n, &mut cols);
            let mut acc = [self.init; R];
            for t in &self.trees {
                reach[0] = u64::MAX;
                for node in &self.inner[t.inner.0 as usize..t.inner.1 as usize] {
                    let c = &cols[node.col as usize].0;
                    let mut left = 0u64;
                    for (r, &v) in c.iter().enumerate() {
                        left |= u64::from(v <= node.thr) << r;
                    }
                    let m = reach[usize::from(node.node)];
                    reach[usize::from(node.node) + 1] = m & left;
                    reach[usize::from(node.right)] = m & !left;
                }
                for leaf in &self.leaves[t.leaves.0 as usize..t.leaves.1 as usize] {
                    let m = reach[usize::from(leaf.node)];
                    for (r, a) in acc.iter_mut().enumerate() {
                        if (m >> r) & 1 != 0 {
                            *a += leaf.value;
                        }
                    }
                }
            }
            ob.copy_from_slice(&acc[..n]);
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,bmi1,bmi2,popcnt")]
    unsafe fn predict_rows_avx512(&self, x: &[f64], out: &mut [f64]) {
        use std::arch::x86_64::*;
        let nf = self.n_features;
        assert!(x.len() >= out.len() * nf, "{} values for {} rows of {nf}", x.len(), out.len());
        let mut cols = vec![Col([0; R]); 2 * nf];
        let mut reach = vec![0u64; self.max_nodes];
        let mut acc = [0.0f64; R];
        for (b, ob) in out.chunks_mut(R).enumerate() {
            let n = ob.len();
            self.bin(&x[b * R * nf..(b * R + n) * nf], n, &mut cols);
            let mut sum = [_mm512_set1_pd(self.init); R / 8];
            for t in &self.trees {
                // SAFETY: node ids and columns were checked when the layout was built
                // (ids < max_nodes = reach.len(), col < 2 × n_features = cols.len()).
                unsafe {
                    *reach.get_unchecked_mut(0) = u64::MAX;
                    for node in self.inner.get_unchecked(t.inner.0 as usize..t.inner.1 as usize) {
                        let c = cols.get_unchecked(node.col as usize).0.as_ptr();
                        let k = _mm512_cmple_epu8_mask(_mm512_load_si512(c.cast()), _mm512_set1_epi8(node.thr as i8));
                        let left: u64;
                        // The mask goes to a general register at once: mask-register
                        // loads and stores of the propagated masks are slow to forward.
                        std::arch::asm!("kmovq {0}, {1}", out(reg) left, in(kreg) k, options(pure, nomem, nostack));
                        let m = *reach.get_unchecked(usize::from(node.node));
                        *reach.get_unchecked_mut(usize::from(node.node) + 1) = m & left;
                        *reach.get_unchecked_mut(usize::from(node.right)) = m & !left;
                    }
                    let leaves = self.leaves.get_unchecked(t.leaves.0 as usize..t.leaves.1 as usize);
                    if t.table != u32::MAX {
                        // Each row's leaf number (one byte per row), then its value
                        // looked up in the tree's 32-entry table.
                        let mut idx = _mm512_setzero_si512();
                        for (j, leaf) in leaves.iter().enumerate() {
                            let m = *reach.get_unchecked(usize::from(leaf.node));
                            idx = _mm512_mask_blend_epi8(m, idx, _mm512_set1_epi8(j as i8));
                        }
                        let tab = self.table.get_unchecked(t.table as usize).0.as_ptr();
                        let (t0, t1, t2, t3) = (
                            _mm512_load_pd(tab),
                            _mm512_load_pd(tab.add(8)),
                            _mm512_load_pd(tab.add(16)),
                            _mm512_load_pd(tab.add(24)),
                        );
                        let high = _mm512_set1_epi64(16);
                        let bytes: [u64; 8] = std::mem::transmute(idx);
                        for (j, s) in sum.iter_mut().enumerate() {
                            let i = _mm512_cvtepu8_epi64(_mm_cvtsi64_si128(bytes[j] as i64));
                            let lo = _mm512_permutex2var_pd(t0, i, t1);
                            let hi = _mm512_permutex2var_pd(t2, i, t3);
                            let v = _mm512_mask_blend_pd(_mm512_test_epi64_mask(i, high), lo, hi);
                            *s = _mm512_add_pd(*s, v);
                        }
                    } else {
                        let mut val = [_mm512_setzero_pd(); R / 8];
                        for leaf in leaves {
                            let m = *reach.get_unchecked(usize::from(leaf.node));
                            let v = _mm512_set1_pd(leaf.value);
                            for (j, o) in val.iter_mut().enumerate() {
                                *o = _mm512_mask_mov_pd(*o, (m >> (8 * j)) as u8, v);
                            }
                        }
                        for (s, v) in sum.iter_mut().zip(val) {
                            *s = _mm512_add_pd(*s, v);
                        }
                    }
                }
            }
            for (j, s) in sum.iter().enumerate() {
                // SAFETY: `acc` holds R = 8 × 8 values.
                unsafe { _mm512_storeu_pd(acc.as_mut_ptr().add(8 * j), *s) };
            }
            ob.copy_from_slice(&acc[..n]);
        }
    }

    /// Path attributions (see [`Forest::contributions`]) of `n` rows, row after row
    /// into `out` (`n × n_features`), given each forest node's `[left, right]` change
    /// of expected value.
    pub(super) fn contributions_rows(&self, delta: &[[f64; 2]], x: &[f64], n: usize, out: &mut [f64]) {
        #[cfg(target_arch = "x86_64")]
        {
            if avx512() {
                // SAFETY: the CPU has the features the function is compiled for.
                return unsafe { self.contributions_avx512(delta, x, n, out) };
            }
        }
        self.contributions_portable(delta, x, n, out);
    }

    /// Portable version: each row on a node's left (right) mask gets the node's left
    /// (right) change credited to the node's feature.
    pub(super) fn contributions_portable(&self, delta: &[[f64; 2]], x: &[f64], n: usize, out: &mut [f64]) {
        let nf = self.n_features;
        assert!(x.len() >= n * nf && out.len() >= n * nf, "rows of {nf} values");
        let mut cols = vec![Col([0; R]); 2 * nf];
        let mut reach = vec![0u64; self.max_nodes];
        for b in 0..n.div_ceil(R) {
            let rows = (n - b * R).min(R);
            self.bin(&x[b * R * nf..(b * R + rows) * nf], rows, &mut cols);
            let ob = &mut out[b * R * nf..(b * R + rows) * nf];
            for t in &self.trees {
                reach[0] = u64::MAX;
                for k in t.inner.0 as usize..t.inner.1 as usize {
                    let node = self.inner[k];
                    let c = &cols[node.col as usize].0;
                    let mut left = 0u64;
                    for (r, &v) in c.iter().enumerate() {
                        left |= u64::from(v <= node.thr) << r;
                    }
                    let m = reach[usize::from(node.node)];
                    let (ml, mr) = (m & left, m & !left);
                    reach[usize::from(node.node) + 1] = ml;
                    reach[usize::from(node.right)] = mr;
                    let o = self.orig[k] as usize;
                    let f = self.f_of(node);
                    for (mask, d) in [(ml, delta[o][0]), (mr, delta[o][1])] {
                        let mut bits = mask;
                        while bits != 0 {
                            let r = bits.trailing_zeros() as usize;
                            bits &= bits - 1;
                            if r < rows {
                                ob[r * nf + f] += d;
                            }
                        }
                    }
                }
            }
        }
    }

    /// The forest feature an inner node tests.
    #[inline(always)]
    fn f_of(&self, node: Inner) -> usize {
        let c = node.col as usize;
        if c >= self.n_features {
            c - self.n_features
        } else {
            c
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,bmi1,bmi2,popcnt")]
    unsafe fn contributions_avx512(&self, delta: &[[f64; 2]], x: &[f64], n: usize, out: &mut [f64]) {
        use std::arch::x86_64::*;
        let nf = self.n_features;
        assert!(x.len() >= n * nf && out.len() >= n * nf, "rows of {nf} values");
        assert!(self.orig.iter().all(|&o| (o as usize) < delta.len()), "one change per forest node");
        let mut cols = vec![Col([0; R]); 2 * nf];
        let mut acc = vec![Acc([0.0; R]); nf];
        let mut reach = vec![0u64; self.max_nodes];
        for b in 0..n.div_ceil(R) {
            let rows = (n - b * R).min(R);
            self.bin(&x[b * R * nf..(b * R + rows) * nf], rows, &mut cols);
            for a in acc.iter_mut() {
                a.0 = [0.0; R];
            }
            for t in &self.trees {
                // SAFETY: ids, columns and features were checked when the layout was
                // built, forest node ids against `delta` above.
                unsafe {
                    *reach.get_unchecked_mut(0) = u64::MAX;
                    for k in t.inner.0 as usize..t.inner.1 as usize {
                        let node = *self.inner.get_unchecked(k);
                        let m = *reach.get_unchecked(usize::from(node.node));
                        if m == 0 {
                            *reach.get_unchecked_mut(usize::from(node.node) + 1) = 0;
                            *reach.get_unchecked_mut(usize::from(node.right)) = 0;
                            continue;
                        }
                        let c = cols.get_unchecked(node.col as usize).0.as_ptr();
                        let k64 = _mm512_cmple_epu8_mask(_mm512_load_si512(c.cast()), _mm512_set1_epi8(node.thr as i8));
                        let left: u64;
                        std::arch::asm!("kmovq {0}, {1}", out(reg) left, in(kreg) k64, options(pure, nomem, nostack));
                        let (ml, mr) = (m & left, m & !left);
                        *reach.get_unchecked_mut(usize::from(node.node) + 1) = ml;
                        *reach.get_unchecked_mut(usize::from(node.right)) = mr;
                        let d = delta.get_unchecked(*self.orig.get_unchecked(k) as usize);
                        let (dl, dr) = (_mm512_set1_pd(d[0]), _mm512_set1_pd(d[1]));
                        let a = acc.get_unchecked_mut(self.f_of(node)).0.as_mut_ptr();
                        for j in 0..R / 8 {
                            let (bl, br) = ((ml >> (8 * j)) as u8, (mr >> (8 * j)) as u8);
                            if bl | br == 0 {
                                continue;
                            }
                            let p = a.add(8 * j);
                            let v = _mm512_load_pd(p);
                            let v = _mm512_mask_add_pd(v, bl, v, dl);
                            _mm512_store_pd(p, _mm512_mask_add_pd(v, br, v, dr));
                        }
                    }
                }
            }
            let ob = &mut out[b * R * nf..(b * R + rows) * nf];
            for (f, a) in acc.iter().enumerate() {
                for r in 0..rows {
                    ob[r * nf + f] = a.0[r];
                }
            }
        }
    }
}
