//! Anomaly flags, each with a reason a collector can read:
//! - per-customer drift against the customer's own history: a jump in days late
//!   (robust z-score of the recent invoices against the earlier median and MAD), a
//!   first partial payment after a long clean run, an invoice amount far above the
//!   customer's median;
//! - a global outlier score over behaviour vectors (isolation forest), flagged above
//!   a quantile of the training scores, with the most unusual features named.

use serde::{Deserialize, Serialize};

use crate::features::catalogue::CUSTOMER_FEATURES;
use crate::features::stats::quantile_sorted;
use crate::features::CustomerAt;
use crate::rng::Rng;

/// How urgent a flag is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Worth a look.
    Low,
    /// Act this week.
    Medium,
    /// Act now.
    High,
}

impl Severity {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
        }
    }
}

/// One anomaly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Flag {
    /// Stable code: `days_late_jump`, `first_partial_payment`, `amount_spike`, `outlier`.
    pub code: String,
    /// Severity.
    pub severity: Severity,
    /// Human-readable reason.
    pub reason: String,
    /// Invoice position in the history when the flag is about one invoice.
    #[serde(skip)]
    pub invoice: Option<usize>,
    /// Day of the evidence (days since 1970-01-01).
    pub day: i32,
}

/// Thresholds and the outlier forest's settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnomalyParams {
    /// Recent settled invoices compared with the earlier ones.
    pub recent: usize,
    /// Earlier settled invoices needed for a baseline.
    pub min_baseline: usize,
    /// Smallest jump in days late worth a flag.
    pub min_jump_days: f64,
    /// Robust z-score above which a jump is flagged.
    pub z: f64,
    /// Earlier settled invoices without a partial payment before a first one is news.
    pub clean_run: usize,
    /// Amount over the customer's median that makes an invoice a spike.
    pub amount_ratio: f64,
    /// Evidence older than this (days before the as-of) is not flagged.
    pub lookback_days: i32,
    /// Isolation trees.
    pub n_trees: usize,
    /// Subsample per tree.
    pub sample: usize,
    /// Share of training customers above the outlier threshold.
    pub outlier_share: f64,
    /// Seed.
    pub seed: u64,
}

impl Default for AnomalyParams {
    fn default() -> Self {
        AnomalyParams {
            recent: 5,
            min_baseline: 8,
            min_jump_days: 10.0,
            z: 3.5,
            clean_run: 10,
            amount_ratio: 10.0,
            lookback_days: 90,
            n_trees: 100,
            sample: 256,
            outlier_share: 0.02,
            seed: 42,
        }
    }
}

/// Invalid anomaly parameters.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum AnomalyParamsError {
    /// A count that must be positive is zero.
    #[error("{0} should be at least 1")]
    Zero(&'static str),
    /// `outlier_share` outside (0, 0.5).
    #[error("outlier_share should be in (0, 0.5), but is {0}")]
    Share(f64),
    /// A threshold that must be positive is not.
    #[error("{0} should be positive")]
    NotPositive(&'static str),
}

/// Behaviour features the outlier forest looks at (log scale for amounts).
pub const OUTLIER_FEATURES: [&str; 12] = [
    "days_late_mean",
    "days_late_std",
    "share_paid_late_30",
    "days_late_trend_last5",
    "partial_payment_share",
    "short_payment_share",
    "dispute_rate",
    "promise_kept_rate",
    "invoice_amount_median_base",
    "open_amount_base",
    "credit_utilisation",
    "max_days_past_due",
];

fn is_log(name: &str) -> bool {
    name.ends_with("_base")
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
struct INode {
    /// Feature, or `u32::MAX` for a leaf.
    feature: u32,
    threshold: f64,
    left: u32,
    right: u32,
    /// Rows that reached a leaf.
    size: u32,
}

/// A fitted anomaly model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnomalyModel {
    /// Settings and thresholds.
    pub params: AnomalyParams,
    features: Vec<usize>,
    fill: Vec<f64>,
    median: Vec<f64>,
    mad: Vec<f64>,
    trees: Vec<Vec<INode>>,
    /// Score above which a customer is an outlier.
    pub threshold: f64,
}

/// Average path length of an unsuccessful search in a binary tree of `n` points.
fn c_factor(n: f64) -> f64 {
    if n <= 1.0 {
        0.0
    } else {
        2.0 * ((n - 1.0).ln() + 0.577_215_664_9) - 2.0 * (n - 1.0) / n
    }
}

impl AnomalyParams {
    /// Checks the parameters.
    ///
    /// # Errors
    /// [`AnomalyParamsError`].
    pub fn check(&self) -> Result<(), AnomalyParamsError> {
        for (n, v) in [
            ("recent", self.recent),
            ("min_baseline", self.min_baseline),
            ("clean_run", self.clean_run),
            ("n_trees", self.n_trees),
            ("sample", self.sample),
        ] {
            if v == 0 {
                return Err(AnomalyParamsError::Zero(n));
            }
        }
        if !(self.outlier_share > 0.0 && self.outlier_share < 0.5) {
            return Err(AnomalyParamsError::Share(self.outlier_share));
        }
        for (n, v) in [("min_jump_days", self.min_jump_days), ("z", self.z), ("amount_ratio", self.amount_ratio)] {
            if v.is_nan() || v <= 0.0 {
                return Err(AnomalyParamsError::NotPositive(n));
            }
        }
        if self.lookback_days <= 0 {
            return Err(AnomalyParamsError::NotPositive("lookback_days"));
        }
        Ok(())
    }

    /// Fits the outlier forest on customer vectors (rows in catalogue order).
    ///
    /// # Errors
    /// [`AnomalyParamsError`].
    pub fn fit(&self, vectors: &[&[f64]]) -> Result<AnomalyModel, AnomalyParamsError> {
        self.check()?;
        let features: Vec<usize> = OUTLIER_FEATURES
            .iter()
            .map(|n| CUSTOMER_FEATURES.iter().position(|f| f.0 == *n).expect("outlier feature in catalogue"))
            .collect();
        let nf = features.len();
        let raw = |j: usize, v: &[f64]| {
            let x = v[features[j]];
            if is_log(OUTLIER_FEATURES[j]) {
                (1.0 + x.max(0.0)).ln()
            } else {
                x
            }
        };
        let (mut fill, mut median, mut mad) = (vec![0.0; nf], vec![0.0; nf], vec![1.0; nf]);
        for j in 0..nf {
            let mut col: Vec<f64> = vectors.iter().map(|v| raw(j, v)).filter(|x| x.is_finite()).collect();
            col.sort_by(f64::total_cmp);
            if col.is_empty() {
                continue;
            }
            fill[j] = quantile_sorted(&col, 0.5);
            median[j] = fill[j];
            let mut dev: Vec<f64> = col.iter().map(|x| (x - median[j]).abs()).collect();
            dev.sort_by(f64::total_cmp);
            let m = 1.4826 * quantile_sorted(&dev, 0.5);
            let sd = (col.iter().map(|x| (x - median[j]).powi(2)).sum::<f64>() / col.len() as f64).sqrt();
            mad[j] = if m > 1e-9 {
                m
            } else if sd > 1e-9 {
                sd
            } else {
                1.0
            };
        }
        let mut model =
            AnomalyModel { params: self.clone(), features, fill, median, mad, trees: Vec::new(), threshold: f64::MAX };
        let z: Vec<Vec<f64>> = vectors.iter().map(|v| model.robust_z(v)).collect();
        if z.len() < 8 {
            return Ok(model);
        }
        let mut rng = Rng::new(self.seed, 7);
        let psi = self.sample.min(z.len());
        let depth_limit = (psi as f64).log2().ceil() as usize;
        for _ in 0..self.n_trees {
            // Sample without replacement (partial Fisher–Yates).
            let mut idx: Vec<usize> = (0..z.len()).collect();
            for i in 0..psi {
                let j = i + rng.int(0, (z.len() - i - 1) as i64) as usize;
                idx.swap(i, j);
            }
            let mut tree = Vec::new();
            build(&z, &mut idx[..psi].to_vec(), 0, depth_limit, &mut rng, &mut tree);
            model.trees.push(tree);
        }
        let mut scores: Vec<f64> = z.iter().map(|r| model.score_z(r)).collect();
        scores.sort_by(f64::total_cmp);
        model.threshold = quantile_sorted(&scores, 1.0 - self.outlier_share);
        Ok(model)
    }
}

fn build(z: &[Vec<f64>], rows: &mut [usize], depth: usize, limit: usize, rng: &mut Rng, out: &mut Vec<INode>) -> u32 {
    let id = out.len() as u32;
    out.push(INode { feature: u32::MAX, threshold: 0.0, left: 0, right: 0, size: rows.len() as u32 });
    if rows.len() <= 1 || depth >= limit {
        return id;
    }
    let nf = z[0].len();
    // Try features in random order until one has a spread.
    for _ in 0..nf {
        let f = rng.int(0, nf as i64 - 1) as usize;
        let (lo, hi) =
            rows.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &r| (a.min(z[r][f]), b.max(z[r][f])));
        if hi - lo <= 1e-12 {
            continue;
        }
        let t = rng.uniform(lo, hi);
        let mut k = 0;
        for i in 0..rows.len() {
            if z[rows[i]][f] <= t {
                rows.swap(i, k);
                k += 1;
            }
        }
        let (l, r) = rows.split_at_mut(k);
        let left = build(z, l, depth + 1, limit, rng, out);
        let right = build(z, r, depth + 1, limit, rng, out);
        out[id as usize] = INode { feature: f as u32, threshold: t, left, right, size: 0 };
        return id;
    }
    id
}

impl AnomalyModel {
    fn robust_z(&self, v: &[f64]) -> Vec<f64> {
        (0..self.features.len())
            .map(|j| {
                let mut x = v[self.features[j]];
                if is_log(OUTLIER_FEATURES[j]) {
                    x = (1.0 + x.max(0.0)).ln();
                }
                if !x.is_finite() {
                    x = self.fill[j];
                }
                ((x - self.median[j]) / self.mad[j]).clamp(-50.0, 50.0)
            })
            .collect()
    }

    fn score_z(&self, z: &[f64]) -> f64 {
        if self.trees.is_empty() {
            return 0.0;
        }
        let psi = self.params.sample as f64;
        let mut total = 0.0;
        for t in &self.trees {
            let (mut n, mut depth) = (0usize, 0.0);
            loop {
                let node = t[n];
                if node.feature == u32::MAX {
                    total += depth + c_factor(f64::from(node.size));
                    break;
                }
                n = if z[node.feature as usize] <= node.threshold { node.left } else { node.right } as usize;
                depth += 1.0;
            }
        }
        let mean = total / self.trees.len() as f64;
        2f64.powf(-mean / c_factor(psi.max(2.0)))
    }

    /// Isolation score in (0, 1) of a customer vector; higher is more unusual.
    pub fn outlier_score(&self, vector: &[f64]) -> f64 {
        self.score_z(&self.robust_z(vector))
    }

    /// Every flag for one customer at the date of `at`.
    pub fn flags(&self, at: &CustomerAt<'_>) -> Vec<Flag> {
        let p = &self.params;
        let t = at.t;
        let mut out = Vec::new();
        // Days-late jump: recent settled invoices against the earlier ones.
        let mut settled: Vec<(i32, f64)> = at
            .invs
            .iter()
            .filter(|r| r.paid_date <= t)
            .map(|r| (r.paid_day(), f64::from(r.paid_day() - r.due_date)))
            .collect();
        settled.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
        if settled.len() >= p.recent + p.min_baseline && settled[settled.len() - 1].0 > t - p.lookback_days {
            let (base, recent) = settled.split_at(settled.len() - p.recent);
            let mut b: Vec<f64> = base.iter().map(|x| x.1).collect();
            b.sort_by(f64::total_cmp);
            let med = quantile_sorted(&b, 0.5);
            let mut dev: Vec<f64> = b.iter().map(|x| (x - med).abs()).collect();
            dev.sort_by(f64::total_cmp);
            let sd = (1.4826 * quantile_sorted(&dev, 0.5)).max(2.0);
            let r = recent.iter().map(|x| x.1).sum::<f64>() / recent.len() as f64;
            let z = (r - med) / (sd / (recent.len() as f64).sqrt());
            if r - med >= p.min_jump_days && z >= p.z {
                out.push(Flag {
                    code: "days_late_jump".into(),
                    severity: if r - med >= 30.0 { Severity::High } else { Severity::Medium },
                    reason: format!("days late jumped from {med:.0} to {r:.0} over the last {} invoices", recent.len()),
                    invoice: None,
                    day: recent[recent.len() - 1].0,
                });
            }
        }
        // First partial payment after a clean run (needs the payments table).
        let partial = |i: usize| {
            let (r, s) = (&at.invs[i], &at.sides[i]);
            s.n_payments >= 2 || (r.paid_date > t && s.paid_minor > 0)
        };
        let recent_partial: Vec<usize> =
            (0..at.invs.len()).filter(|&i| at.invs[i].invoice_date > t - p.lookback_days && partial(i)).collect();
        if let Some(&first) = recent_partial.first() {
            let earlier: Vec<usize> = (0..first).filter(|&i| at.invs[i].paid_date <= t).collect();
            if earlier.len() >= p.clean_run && !earlier.iter().any(|&i| partial(i)) {
                out.push(Flag {
                    code: "first_partial_payment".into(),
                    severity: Severity::Medium,
                    reason: format!("first partial payment in {} invoices", earlier.len() + 1),
                    invoice: Some(at.base + first),
                    day: at.invs[first].invoice_date,
                });
            }
        }
        // Amount spikes on open invoices against the median of the earlier ones.
        for i in 0..at.invs.len() {
            let r = &at.invs[i];
            if r.paid_date <= t || i < 5 {
                continue;
            }
            let mut prior: Vec<f64> = at.invs[..i].iter().map(|x| x.amount_base).collect();
            prior.sort_by(f64::total_cmp);
            let med = quantile_sorted(&prior, 0.5);
            if med > 0.0 && r.amount_base >= p.amount_ratio * med {
                let ratio = r.amount_base / med;
                out.push(Flag {
                    code: "amount_spike".into(),
                    severity: if ratio >= 5.0 * p.amount_ratio { Severity::High } else { Severity::Medium },
                    reason: format!("invoice amount {ratio:.0}× the customer's median"),
                    invoice: Some(at.base + i),
                    day: r.invoice_date,
                });
            }
        }
        // Global outlier.
        let z = self.robust_z(&at.vector);
        let s = self.score_z(&z);
        if s > self.threshold && at.vector[1] >= 1.0 {
            let mut idx: Vec<usize> = (0..z.len()).collect();
            idx.sort_by(|&a, &b| z[b].abs().total_cmp(&z[a].abs()));
            let parts: Vec<String> = idx
                .iter()
                .take(2)
                .map(|&j| {
                    format!("{} {:.2} (typical {:.2})", OUTLIER_FEATURES[j], at.vector[self.features[j]], {
                        let m = self.median[j];
                        if is_log(OUTLIER_FEATURES[j]) {
                            m.exp() - 1.0
                        } else {
                            m
                        }
                    })
                })
                .collect();
            out.push(Flag {
                code: "outlier".into(),
                severity: if s > self.threshold + 0.1 { Severity::Medium } else { Severity::Low },
                reason: format!("behaviour unlike the portfolio (score {s:.2}): {}", parts.join(", ")),
                invoice: None,
                day: t,
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::customer_at;
    use crate::fixtures::{full_history, generated_dir};

    #[test]
    fn params_are_checked() {
        assert_eq!(
            AnomalyParams { n_trees: 0, ..Default::default() }.check(),
            Err(AnomalyParamsError::Zero("n_trees"))
        );
        assert_eq!(
            AnomalyParams { outlier_share: 0.7, ..Default::default() }.check(),
            Err(AnomalyParamsError::Share(0.7))
        );
        assert_eq!(AnomalyParams { z: -1.0, ..Default::default() }.check(), Err(AnomalyParamsError::NotPositive("z")));
    }

    #[test]
    fn an_extreme_vector_scores_above_the_threshold_and_typical_ones_below() {
        let dir = generated_dir(300, 12_000, "2023-01-01", "2024-06-30", 5);
        let h = full_history(dir.path());
        let vecs: Vec<[f64; 43]> = (0..h.customers.len()).map(|c| customer_at(&h, c, h.as_of).vector).collect();
        let refs: Vec<&[f64]> = vecs.iter().map(|v| &v[..]).collect();
        let m = AnomalyParams::default().fit(&refs).unwrap();
        assert_eq!(m, AnomalyParams::default().fit(&refs).unwrap());
        let above = refs.iter().filter(|v| m.outlier_score(v) > m.threshold).count();
        assert!(above <= refs.len() / 20, "{above}");
        let mut odd = vecs[0];
        let idx = |n: &str| CUSTOMER_FEATURES.iter().position(|f| f.0 == n).unwrap();
        for (n, v) in [
            ("days_late_mean", 400.0),
            ("days_late_std", 200.0),
            ("share_paid_late_30", 1.0),
            ("dispute_rate", 3.0),
            ("max_days_past_due", 900.0),
            ("short_payment_share", 1.0),
        ] {
            odd[idx(n)] = v;
        }
        assert!(m.outlier_score(&odd) > m.threshold, "{} vs {}", m.outlier_score(&odd), m.threshold);
    }

    #[test]
    fn drift_and_spike_flags_carry_readable_reasons() {
        use crate::features::history::{History, Inv};
        // One customer: 12 invoices paid 2 days late, then 5 paid 40 days late, and an
        // open invoice 20× the usual amount.
        let mut invs = Vec::new();
        for k in 0..18 {
            let issue = 1000 + 10 * k;
            let late = if k < 12 { 2 } else { 40 };
            let open = k == 17;
            invs.push(Inv {
                cust: 0,
                invoice_date: issue,
                due_date: issue + 30,
                paid_date: if open { crate::features::history::OPEN } else { issue + 30 + late },
                paid_window: 0,
                amount_base: if open { 2000.0 } else { 100.0 },
                amount_minor: if open { 200_000 } else { 10_000 },
                paid_minor: 0,
                currency: crate::domain::Currency::parse("USD").unwrap(),
                channel: crate::domain::NO_CHANNEL,
                open_slot: 0,
                key: k as u64,
                chunk: 0,
                row: k as u16,
            });
        }
        let h = History::from_invoices_for_test(vec!["C1".into()], invs, 1300);
        let at = customer_at(&h, 0, h.as_of);
        let m = AnomalyParams::default().fit(&[&at.vector[..]]).unwrap();
        let flags = m.flags(&at);
        let codes: Vec<&str> = flags.iter().map(|f| f.code.as_str()).collect();
        assert!(codes.contains(&"days_late_jump"), "{flags:?}");
        assert!(codes.contains(&"amount_spike"), "{flags:?}");
        let jump = flags.iter().find(|f| f.code == "days_late_jump").unwrap();
        assert_eq!(jump.reason, "days late jumped from 2 to 40 over the last 5 invoices");
        assert_eq!(jump.severity, Severity::High);
        let spike = flags.iter().find(|f| f.code == "amount_spike").unwrap();
        assert_eq!(spike.reason, "invoice amount 20× the customer's median");
    }
}
