//! Quantile binning of features into at most 255 bins plus a missing-value bin.

use ndarray::ArrayView2;
use rayon::prelude::*;

/// Bin edges per feature: value `v` falls in bin `1 + #(edges < v)`; NaN in bin 0.
#[derive(Debug, Clone)]
pub struct BinMapper {
    /// Upper edges (inclusive) per feature, ascending.
    pub edges: Vec<Vec<f64>>,
}

impl BinMapper {
    /// Edges from the distinct values of each column (midpoints when few, quantiles
    /// when many).
    pub fn fit(x: ArrayView2<'_, f64>, max_bins: usize) -> Self {
        let edges = (0..x.ncols())
            .into_par_iter()
            .map(|j| {
                // One sort serves both cases: few distinct values get midpoints, many
                // get quantiles of all values (quantiles of the distinct values would
                // ignore frequency).
                let mut all: Vec<f64> = x.column(j).iter().copied().filter(|a| !a.is_nan()).collect();
                all.sort_unstable_by(f64::total_cmp);
                let distinct = all.windows(2).filter(|w| w[0] != w[1]).count() + usize::from(!all.is_empty());
                if distinct <= 1 {
                    return Vec::new();
                }
                if distinct <= max_bins {
                    all.dedup();
                    return all.windows(2).map(|w| w[0] + (w[1] - w[0]) / 2.0).collect();
                }
                let mut e: Vec<f64> = (1..max_bins)
                    .map(|k| {
                        let i = k * all.len() / max_bins;
                        let (a, b) = (all[i - 1], all[i]);
                        if a == b {
                            a
                        } else {
                            a + (b - a) / 2.0
                        }
                    })
                    .collect();
                e.dedup();
                // An edge equal to the column maximum would leave an empty last bin.
                if e.last() == all.last() {
                    e.pop();
                }
                e
            })
            .collect();
        BinMapper { edges }
    }

    /// Number of bins of feature `j`, the missing bin included.
    pub fn n_bins(&self, j: usize) -> usize {
        self.edges[j].len() + 2
    }

    /// Bin of a value.
    #[inline]
    pub fn bin(&self, j: usize, v: f64) -> u8 {
        if v.is_nan() {
            0
        } else {
            (1 + self.edges[j].partition_point(|e| *e < v)) as u8
        }
    }

    /// Bins of a matrix in groups of `width` features, row-major within a group:
    /// feature `j` of row `i` at `bins[(j / width) * n * width + i * width + j % width]`.
    /// The last group is padded with bin 0.
    pub fn transform_grouped(&self, x: ArrayView2<'_, f64>, width: usize) -> Vec<u8> {
        let (n, nf) = x.dim();
        let mut out = vec![0u8; nf.div_ceil(width) * n * width];
        out.par_chunks_mut(n * width).enumerate().for_each(|(q, grp)| {
            for j in q * width..((q + 1) * width).min(nf) {
                for (i, &v) in x.column(j).iter().enumerate() {
                    grp[i * width + j % width] = self.bin(j, v);
                }
            }
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn few_distinct_values_get_one_bin_each_and_nan_bin_zero() {
        let x = array![[1.0], [2.0], [2.0], [f64::NAN], [5.0]];
        let m = BinMapper::fit(x.view(), 255);
        assert_eq!(m.edges[0], vec![1.5, 3.5]);
        assert_eq!(m.transform_grouped(x.view(), 1), vec![1, 2, 2, 0, 3]);
        assert_eq!(m.n_bins(0), 4);
    }

    #[test]
    fn many_values_are_binned_by_quantile() {
        let x = ndarray::Array2::from_shape_fn((10_000, 1), |(i, _)| i as f64);
        let m = BinMapper::fit(x.view(), 16);
        assert_eq!(m.edges[0].len(), 15);
        let bins = m.transform_grouped(x.view(), 1);
        let mut counts = [0usize; 17];
        for b in bins {
            counts[b as usize] += 1;
        }
        assert!(counts[1..].iter().all(|&c| (600..=650).contains(&c)), "{counts:?}");
    }

    #[test]
    fn grouped_layout_puts_a_rows_group_bins_together_and_pads_the_last_group() {
        let x = array![[1.0, 10.0, 100.0, 1000.0, 5.0], [2.0, 20.0, 200.0, 2000.0, f64::NAN]];
        let m = BinMapper::fit(x.view(), 255);
        let g = m.transform_grouped(x.view(), 4);
        // Group 0 (features 0..4): row 0 then row 1; group 1: feature 4 and 3 pads.
        assert_eq!(g, vec![1, 1, 1, 1, 2, 2, 2, 2, 1, 0, 0, 0, 0, 0, 0, 0]);
    }
}
