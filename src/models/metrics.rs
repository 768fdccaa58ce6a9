//! Evaluation metrics: absolute errors, coverage, ROC-AUC, PR-AUC (average
//! precision), Brier score, WAPE.

/// Mean absolute error; NaN when empty.
pub fn mae(pred: &[f64], actual: &[f64]) -> f64 {
    if pred.is_empty() {
        return f64::NAN;
    }
    pred.iter().zip(actual).map(|(p, a)| (p - a).abs()).sum::<f64>() / pred.len() as f64
}

/// Median absolute error; NaN when empty.
pub fn median_ae(pred: &[f64], actual: &[f64]) -> f64 {
    let mut e: Vec<f64> = pred.iter().zip(actual).map(|(p, a)| (p - a).abs()).collect();
    e.sort_by(f64::total_cmp);
    crate::features::stats::quantile_sorted(&e, 0.5)
}

/// Share of predictions within `tol` of the actual value.
pub fn within(pred: &[f64], actual: &[f64], tol: f64) -> f64 {
    if pred.is_empty() {
        return f64::NAN;
    }
    pred.iter().zip(actual).filter(|(p, a)| (*p - *a).abs() <= tol).count() as f64 / pred.len() as f64
}

/// Share of actual values inside `[lo, hi]`.
pub fn coverage(lo: &[f64], hi: &[f64], actual: &[f64]) -> f64 {
    if actual.is_empty() {
        return f64::NAN;
    }
    actual.iter().zip(lo.iter().zip(hi)).filter(|(a, (l, h))| *a >= *l && *a <= *h).count() as f64 / actual.len() as f64
}

/// Area under the ROC curve (ties count one half); NaN without both classes.
pub fn roc_auc(score: &[f64], label: &[bool]) -> f64 {
    let mut idx: Vec<usize> = (0..score.len()).collect();
    idx.sort_by(|&a, &b| score[a].total_cmp(&score[b]));
    let n_pos = label.iter().filter(|l| **l).count() as f64;
    let n_neg = label.len() as f64 - n_pos;
    if n_pos == 0.0 || n_neg == 0.0 {
        return f64::NAN;
    }
    // Sum of (average) ranks of the positives.
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && score[idx[j + 1]] == score[idx[i]] {
            j += 1;
        }
        let avg_rank = (i + j) as f64 / 2.0 + 1.0;
        for &k in &idx[i..=j] {
            if label[k] {
                rank_sum += avg_rank;
            }
        }
        i = j + 1;
    }
    (rank_sum - n_pos * (n_pos + 1.0) / 2.0) / (n_pos * n_neg)
}

/// Average precision (area under the precision-recall curve, step-wise, as
/// scikit-learn's `average_precision_score`); NaN without positives.
pub fn pr_auc(score: &[f64], label: &[bool]) -> f64 {
    let n_pos = label.iter().filter(|l| **l).count();
    if n_pos == 0 {
        return f64::NAN;
    }
    let mut idx: Vec<usize> = (0..score.len()).collect();
    idx.sort_by(|&a, &b| score[b].total_cmp(&score[a]));
    let (mut tp, mut fp, mut ap, mut last_recall) = (0.0, 0.0, 0.0, 0.0);
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && score[idx[j + 1]] == score[idx[i]] {
            j += 1;
        }
        for &k in &idx[i..=j] {
            if label[k] {
                tp += 1.0;
            } else {
                fp += 1.0;
            }
        }
        let recall = tp / n_pos as f64;
        ap += (recall - last_recall) * tp / (tp + fp);
        last_recall = recall;
        i = j + 1;
    }
    ap
}

/// Mean squared difference between probability and outcome.
pub fn brier(p: &[f64], label: &[bool]) -> f64 {
    if p.is_empty() {
        return f64::NAN;
    }
    p.iter().zip(label).map(|(q, l)| (q - f64::from(u8::from(*l))).powi(2)).sum::<f64>() / p.len() as f64
}

/// Weighted absolute percentage error Σ|F − A| / ΣA.
pub fn wape(forecast: &[f64], actual: &[f64]) -> f64 {
    let den: f64 = actual.iter().sum();
    if den == 0.0 {
        return f64::NAN;
    }
    forecast.iter().zip(actual).map(|(f, a)| (f - a).abs()).sum::<f64>() / den
}

/// The interval score of a central `1 − alpha` interval `[lo, hi]` for outcome `y`
/// (Gneiting and Raftery, 2007): its width, plus `2 / alpha` times the distance by which
/// `y` falls outside it. A proper score: lowest in expectation when `lo` and `hi` are
/// the outcome's `alpha / 2` and `1 − alpha / 2` quantiles, so unlike the share of
/// outcomes inside it does not reward an interval for being wide.
pub fn interval_score(lo: f64, hi: f64, y: f64, alpha: f64) -> f64 {
    (hi - lo) + 2.0 / alpha * ((lo - y).max(0.0) + (y - hi).max(0.0))
}

/// Mean [`interval_score`] of the intervals `[lo[i], hi[i]]` for outcomes `actual[i]`;
/// NaN without outcomes.
pub fn mean_interval_score(lo: &[f64], hi: &[f64], actual: &[f64], alpha: f64) -> f64 {
    if actual.is_empty() {
        return f64::NAN;
    }
    actual.iter().zip(lo.iter().zip(hi)).map(|(&y, (&l, &h))| interval_score(l, h, y, alpha)).sum::<f64>()
        / actual.len() as f64
}

/// Levels [`crps`] reads a distribution at: the middles of this many equal steps.
pub const CRPS_LEVELS: usize = 20;

/// The continuous ranked probability score of outcome `y` under the distribution with
/// quantile function `q` (a proper score: lowest in expectation for the distribution the
/// outcomes come from; for a point forecast, its absolute error), with quantiles and
/// outcome capped at `cap`: twice the mean pinball loss at the middles of
/// [`CRPS_LEVELS`] equal steps of levels.
pub fn crps(q: impl Fn(f64) -> f64, y: f64, cap: f64) -> f64 {
    let y = y.min(cap);
    let n = CRPS_LEVELS as f64;
    let loss: f64 = (0..CRPS_LEVELS)
        .map(|j| {
            let u = (j as f64 + 0.5) / n;
            let v = q(u).min(cap);
            if y >= v {
                u * (y - v)
            } else {
                (1.0 - u) * (v - y)
            }
        })
        .sum();
    2.0 * loss / n
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_abs_diff_eq;

    #[test]
    fn interval_score_is_width_plus_scaled_misses_and_lowest_at_the_true_quantiles() {
        assert_abs_diff_eq!(interval_score(2.0, 5.0, 3.0, 0.2), 3.0);
        assert_abs_diff_eq!(interval_score(2.0, 5.0, 1.0, 0.2), 3.0 + 10.0);
        assert_abs_diff_eq!(interval_score(2.0, 5.0, 6.5, 0.2), 3.0 + 15.0);
        // Outcomes uniform on [0, 1]: the expected score over a fine grid of outcomes is
        // lowest for [0.1, 0.9], against narrower and wider intervals.
        let mean = |lo: f64, hi: f64| {
            (0..1000).map(|i| interval_score(lo, hi, (i as f64 + 0.5) / 1000.0, 0.2)).sum::<f64>() / 1000.0
        };
        let right = mean(0.1, 0.9);
        let y: Vec<f64> = (0..1000).map(|i| (i as f64 + 0.5) / 1000.0).collect();
        assert_abs_diff_eq!(mean_interval_score(&[0.1; 1000], &[0.9; 1000], &y, 0.2), right, epsilon = 1e-12);
        assert!(mean_interval_score(&[], &[], &[], 0.2).is_nan());
        for (lo, hi) in [(0.2, 0.8), (0.05, 0.95), (0.0, 1.0), (0.15, 0.9), (0.1, 0.85)] {
            assert!(mean(lo, hi) > right + 1e-3, "[{lo}, {hi}]: {} vs {right}", mean(lo, hi));
        }
    }

    #[test]
    fn auc_matches_hand_computed_values() {
        assert_abs_diff_eq!(roc_auc(&[0.1, 0.4, 0.35, 0.8], &[false, false, true, true]), 0.75);
        assert_abs_diff_eq!(roc_auc(&[0.5, 0.5], &[false, true]), 0.5);
        assert!(roc_auc(&[0.1], &[true]).is_nan());
    }

    #[test]
    fn average_precision_matches_scikit_learn() {
        // sklearn.metrics.average_precision_score([0,0,1,1],[0.1,0.4,0.35,0.8]) = 0.8333…
        assert_abs_diff_eq!(pr_auc(&[0.1, 0.4, 0.35, 0.8], &[false, false, true, true]), 5.0 / 6.0, epsilon = 1e-12);
    }

    #[test]
    fn brier_wape_and_errors() {
        assert_abs_diff_eq!(brier(&[1.0, 0.0, 0.5], &[true, false, true]), 0.25 / 3.0);
        assert_abs_diff_eq!(wape(&[90.0, 10.0], &[100.0, 0.0]), 0.2);
        assert_abs_diff_eq!(mae(&[1.0, 5.0], &[2.0, 2.0]), 2.0);
        assert_abs_diff_eq!(within(&[1.0, 15.0], &[2.0, 2.0], 7.0), 0.5);
        assert_abs_diff_eq!(coverage(&[0.0, 0.0], &[1.0, 1.0], &[0.5, 2.0]), 0.5);
    }

    #[test]
    fn crps_of_a_point_is_its_error_and_the_true_distribution_scores_best() {
        assert_abs_diff_eq!(crps(|_| 5.0, 8.0, 100.0), 3.0, epsilon = 1e-12);
        assert_abs_diff_eq!(crps(|_| 5.0, 2.0, 100.0), 3.0, epsilon = 1e-12);
        // Capped: both sides read at the cap.
        assert_abs_diff_eq!(crps(|_| 50.0, 200.0, 92.0), 42.0, epsilon = 1e-12);
        assert_abs_diff_eq!(crps(|_| 150.0, 200.0, 92.0), 0.0, epsilon = 1e-12);
        // Outcomes uniform on [0, 20]: the uniform quantile function beats a shifted, a
        // narrower and a wider one, and its point median.
        let ys: Vec<f64> = (0..2_000).map(|i| 20.0 * (f64::from(i) + 0.5) / 2_000.0).collect();
        let mean = |q: &dyn Fn(f64) -> f64| ys.iter().map(|&y| crps(q, y, 100.0)).sum::<f64>() / ys.len() as f64;
        let right = mean(&|u| 20.0 * u);
        assert_abs_diff_eq!(right, 20.0 / 3.0 * 0.5, epsilon = 0.02);
        for other in [mean(&|u| 20.0 * u + 3.0), mean(&|u| 5.0 + 10.0 * u), mean(&|u| -5.0 + 30.0 * u), mean(&|_| 10.0)]
        {
            assert!(other > right + 0.05, "{other} vs {right}");
        }
    }
}
