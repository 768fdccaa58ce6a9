//! Isotonic calibration (pool-adjacent-violators) of scores into probabilities.

use serde::{Deserialize, Serialize};

/// A monotone step function from score to probability.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Isotonic {
    /// Block upper score bounds, ascending.
    pub x: Vec<f64>,
    /// Calibrated probability of each block, non-decreasing.
    pub y: Vec<f64>,
}

impl Isotonic {
    /// Fits on (score, outcome) pairs; `None` with fewer than 2 pairs.
    pub fn fit(score: &[f64], label: &[bool]) -> Option<Self> {
        if score.len() < 2 {
            return None;
        }
        let mut idx: Vec<usize> = (0..score.len()).collect();
        idx.sort_by(|&a, &b| score[a].total_cmp(&score[b]));
        // Blocks: (max score, sum of outcomes, weight).
        let mut blocks: Vec<(f64, f64, f64)> = Vec::new();
        for &i in &idx {
            blocks.push((score[i], f64::from(u8::from(label[i])), 1.0));
            while blocks.len() >= 2 {
                let (a, b) = (blocks[blocks.len() - 2], blocks[blocks.len() - 1]);
                if a.1 / a.2 >= b.1 / b.2 || a.0 == b.0 {
                    blocks.pop();
                    let last = blocks.len() - 1;
                    blocks[last] = (b.0, a.1 + b.1, a.2 + b.2);
                } else {
                    break;
                }
            }
        }
        // Shrink extremes away from exact 0/1 (a handful of rows never proves certainty).
        let x = blocks.iter().map(|b| b.0).collect();
        let y = blocks.iter().map(|b| (b.1 + 0.5) / (b.2 + 1.0)).collect();
        Some(Isotonic { x, y })
    }

    /// Calibrated probability, interpolating linearly between block bounds.
    pub fn apply(&self, s: f64) -> f64 {
        let i = self.x.partition_point(|x| *x < s);
        if i == 0 {
            return self.y[0];
        }
        if i >= self.x.len() {
            return self.y[self.y.len() - 1];
        }
        let (x0, x1, y0, y1) = (self.x[i - 1], self.x[i], self.y[i - 1], self.y[i]);
        if x1 == x0 {
            y1
        } else {
            y0 + (y1 - y0) * (s - x0) / (x1 - x0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_is_monotone_and_tracks_frequencies() {
        let score: Vec<f64> = (0..1000).map(|i| i as f64 / 1000.0).collect();
        // True probability is score², observed deterministically by a threshold pattern.
        let label: Vec<bool> =
            score.iter().enumerate().map(|(i, s)| ((i * 7919) % 1000) as f64 / 1000.0 < s * s).collect();
        let iso = Isotonic::fit(&score, &label).unwrap();
        let mut last = 0.0;
        for k in 0..=100 {
            let p = iso.apply(k as f64 / 100.0);
            assert!(p >= last - 1e-12);
            last = p;
        }
        assert!((iso.apply(0.5) - 0.25).abs() < 0.1, "{}", iso.apply(0.5));
        assert!(iso.apply(0.05) < 0.05 && iso.apply(0.97) > 0.85);
    }
}
