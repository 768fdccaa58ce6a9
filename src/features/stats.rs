//! Small descriptive statistics over `f64` slices (NaN when undefined).

/// Arithmetic mean; NaN for an empty slice.
pub fn mean(xs: &[f64]) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    xs.iter().sum::<f64>() / xs.len() as f64
}

/// Sample standard deviation; NaN below two values.
pub fn std(xs: &[f64]) -> f64 {
    if xs.len() < 2 {
        return f64::NAN;
    }
    let m = mean(xs);
    (xs.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (xs.len() - 1) as f64).sqrt()
}

/// Quantile with linear interpolation between closest ranks (the definition of
/// numpy's default and DuckDB's `quantile_cont`) of an ascending-sorted slice.
pub fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    match sorted.len() {
        0 => f64::NAN,
        1 => sorted[0],
        n => {
            let pos = q.clamp(0.0, 1.0) * (n - 1) as f64;
            let lo = pos.floor() as usize;
            let hi = pos.ceil() as usize;
            sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
        }
    }
}

/// Exponentially weighted mean in the given order (latest last), weight `alpha` on
/// each new value; NaN for an empty slice.
pub fn ewma(xs: &[f64], alpha: f64) -> f64 {
    let mut it = xs.iter();
    let Some(first) = it.next() else { return f64::NAN };
    it.fold(*first, |acc, x| alpha * x + (1.0 - alpha) * acc)
}

/// `num / den`, NaN when `den` is zero.
pub fn ratio(num: f64, den: f64) -> f64 {
    if den == 0.0 {
        f64::NAN
    } else {
        num / den
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_abs_diff_eq;

    #[test]
    fn quantiles_interpolate_like_numpy() {
        let v = [1.0, 2.0, 3.0, 4.0];
        assert_abs_diff_eq!(quantile_sorted(&v, 0.5), 2.5);
        assert_abs_diff_eq!(quantile_sorted(&v, 0.9), 3.7, epsilon = 1e-12);
        assert_abs_diff_eq!(quantile_sorted(&v, 0.0), 1.0);
        assert!(quantile_sorted(&[], 0.5).is_nan());
    }

    #[test]
    fn std_and_ewma() {
        assert_abs_diff_eq!(std(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]), 2.138089935, epsilon = 1e-8);
        assert!(std(&[1.0]).is_nan());
        assert_abs_diff_eq!(ewma(&[0.0, 10.0], 0.3), 3.0);
    }
}
