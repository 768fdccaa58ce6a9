//! Behaviour segments: k-means (linfa-clustering) on standardised behaviour vectors,
//! each cluster named from its centroid in the features' own units. Customers with no
//! settled invoice yet are "new" and not clustered.

use linfa::prelude::*;
use linfa::DatasetBase;
use linfa_clustering::KMeans;
use ndarray::Array2;
use rand_xoshiro::rand_core::SeedableRng;
use rand_xoshiro::Xoshiro256Plus;
use serde::{Deserialize, Serialize};

use crate::features::catalogue::CUSTOMER_FEATURES;
use crate::features::stats::quantile_sorted;

/// Behaviour features the segments are built on (customer vector names).
pub const SEGMENT_FEATURES: [&str; 9] = [
    "days_late_mean",
    "days_late_std",
    "share_paid_late",
    "share_paid_late_30",
    "days_late_trend_last5",
    "partial_payment_share",
    "dispute_rate",
    "days_late_ewma",
    "n_paid",
];

/// Name of the segment of customers without settled invoices.
pub const NEW_SEGMENT: &str = "new";

/// Segment hyperparameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentParams {
    /// Clusters.
    pub k: usize,
    /// k-means restarts.
    pub n_runs: usize,
    /// Seed.
    pub seed: u64,
}

impl Default for SegmentParams {
    fn default() -> Self {
        SegmentParams { k: 6, n_runs: 4, seed: 42 }
    }
}

/// Invalid segment parameters or too little data.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SegmentError {
    /// `k` outside 2..=20.
    #[error("k should be between 2 and 20, but is {0}")]
    K(usize),
    /// `n_runs` zero.
    #[error("n_runs should be at least 1")]
    Runs,
    /// k-means failed.
    #[error("k-means: {0}")]
    KMeans(String),
}

/// Fitted segments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentModel {
    /// Customer-vector index of each segment feature.
    pub features: Vec<usize>,
    /// Imputation value (training median) per feature.
    pub fill: Vec<f64>,
    /// Standardisation mean per feature.
    pub mean: Vec<f64>,
    /// Standardisation scale per feature.
    pub scale: Vec<f64>,
    /// Centroids in standardised units.
    pub centroids: Vec<Vec<f64>>,
    /// Centroids in the features' own units.
    pub centroids_raw: Vec<Vec<f64>>,
    /// Human-readable name per centroid.
    pub names: Vec<String>,
    /// Customers per centroid at training.
    pub sizes: Vec<usize>,
}

fn feature_positions() -> Vec<usize> {
    SEGMENT_FEATURES
        .iter()
        .map(|n| CUSTOMER_FEATURES.iter().position(|f| f.0 == *n).expect("segment feature in catalogue"))
        .collect()
}

fn has_history(v: &[f64], n_paid: usize) -> bool {
    v[n_paid] >= 1.0
}

impl SegmentParams {
    /// Checks the parameters.
    ///
    /// # Errors
    /// [`SegmentError`].
    pub fn check(&self) -> Result<(), SegmentError> {
        if !(2..=20).contains(&self.k) {
            return Err(SegmentError::K(self.k));
        }
        if self.n_runs == 0 {
            return Err(SegmentError::Runs);
        }
        Ok(())
    }

    /// Fits on customer vectors (rows in [`CUSTOMER_FEATURES`] order).
    ///
    /// # Errors
    /// [`SegmentError`].
    pub fn fit(&self, vectors: &[&[f64]]) -> Result<SegmentModel, SegmentError> {
        self.check()?;
        let features = feature_positions();
        let n_paid = CUSTOMER_FEATURES.iter().position(|f| f.0 == "n_paid").expect("n_paid");
        let rows: Vec<&[f64]> = vectors.iter().copied().filter(|v| has_history(v, n_paid)).collect();
        let nf = features.len();
        let mut fill = vec![0.0; nf];
        let mut mean = vec![0.0; nf];
        let mut scale = vec![1.0; nf];
        for (j, &f) in features.iter().enumerate() {
            let mut col: Vec<f64> = rows.iter().map(|r| transform(j, r[f])).filter(|v| v.is_finite()).collect();
            col.sort_by(f64::total_cmp);
            fill[j] = if col.is_empty() { 0.0 } else { quantile_sorted(&col, 0.5) };
            let vals: Vec<f64> = rows.iter().map(|r| clean(transform(j, r[f]), fill[j])).collect();
            let m = vals.iter().sum::<f64>() / vals.len().max(1) as f64;
            let var = vals.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / vals.len().max(1) as f64;
            mean[j] = m;
            scale[j] = if var.sqrt() > 1e-9 { var.sqrt() } else { 1.0 };
        }
        let mut model = SegmentModel {
            features,
            fill,
            mean,
            scale,
            centroids: Vec::new(),
            centroids_raw: Vec::new(),
            names: Vec::new(),
            sizes: Vec::new(),
        };
        let k = self.k.min(rows.len());
        if k < 2 {
            return Ok(model);
        }
        let z = Array2::from_shape_fn((rows.len(), nf), |(i, j)| model.standardise(j, rows[i]));
        let km = KMeans::params_with_rng(k, Xoshiro256Plus::seed_from_u64(self.seed))
            .n_runs(self.n_runs)
            .max_n_iterations(300)
            .tolerance(1e-6)
            .fit(&DatasetBase::from(z.clone()))
            .map_err(|e| SegmentError::KMeans(e.to_string()))?;
        let c = km.centroids();
        let mut clusters: Vec<(String, Vec<f64>, Vec<f64>)> = (0..c.nrows())
            .map(|i| {
                let zc = c.row(i).to_vec();
                let raw: Vec<f64> = (0..nf).map(|j| untransform(j, zc[j] * model.scale[j] + model.mean[j])).collect();
                (name_of(&raw), zc, raw)
            })
            .collect();
        qualify_history(&mut clusters);
        // Stable order and names: by name, then by mean days late; repeats get "#2".
        clusters.sort_by(|a, b| a.0.cmp(&b.0).then(a.2[0].total_cmp(&b.2[0])));
        let mut seen: Vec<String> = Vec::new();
        for (name, zc, raw) in clusters {
            let n = seen.iter().filter(|s| **s == name).count();
            seen.push(name.clone());
            model.names.push(if n == 0 { name } else { format!("{name} #{}", n + 1) });
            model.centroids.push(zc);
            model.centroids_raw.push(raw);
        }
        model.sizes = vec![0; model.centroids.len()];
        for r in &rows {
            let s = model.nearest(r);
            model.sizes[s] += 1;
        }
        Ok(model)
    }
}

/// Heavy-tailed features are clustered on a log scale.
fn transform(j: usize, v: f64) -> f64 {
    if SEGMENT_FEATURES[j] == "n_paid" {
        (1.0 + v.max(0.0)).ln()
    } else {
        v
    }
}

fn untransform(j: usize, v: f64) -> f64 {
    if SEGMENT_FEATURES[j] == "n_paid" {
        v.exp() - 1.0
    } else {
        v
    }
}

fn clean(v: f64, fill: f64) -> f64 {
    if v.is_finite() {
        v
    } else {
        fill
    }
}

/// Settled invoices (a centroid's typical count) below which a cluster's behaviour is
/// read from too few payments: "little history".
const LITTLE_HISTORY: f64 = 3.0;

/// Where clusters share a name and some of them have little history behind it and the
/// others more (occasional counterparties beside regular customers of the same pace),
/// those with little history are named so ("slow but steady, little history") instead
/// of by a number. `clusters` hold (name, standardised centroid, raw centroid).
fn qualify_history(clusters: &mut [(String, Vec<f64>, Vec<f64>)]) {
    let j = SEGMENT_FEATURES.iter().position(|f| *f == "n_paid").expect("n_paid");
    let little = |c: &(String, Vec<f64>, Vec<f64>)| c.2[j] < LITTLE_HISTORY;
    // Decided on the names as k-means gave them, then renamed.
    let rename: Vec<bool> = (0..clusters.len())
        .map(|i| little(&clusters[i]) && clusters.iter().any(|c| c.0 == clusters[i].0 && !little(c)))
        .collect();
    for (c, r) in clusters.iter_mut().zip(rename) {
        if r {
            c.0 = format!("{}, little history", c.0);
        }
    }
}

/// A name for a centroid given in the features' own units.
pub fn name_of(raw: &[f64]) -> String {
    let get = |n: &str| raw[SEGMENT_FEATURES.iter().position(|f| *f == n).expect("segment feature")];
    let (mean, std, late, late30, trend, partial, dispute) = (
        get("days_late_mean"),
        get("days_late_std"),
        get("share_paid_late"),
        get("share_paid_late_30"),
        get("days_late_trend_last5"),
        get("partial_payment_share"),
        get("dispute_rate"),
    );
    let name = if late30 >= 0.3 || mean >= 30.0 {
        "high-risk"
    } else if trend >= 7.0_f64.max(0.5 * std) {
        "deteriorating"
    } else if dispute >= 0.08 {
        "disputing"
    } else if partial >= 0.15 {
        "partial payer"
    } else if mean <= 3.0 && late <= 0.6 {
        "prompt"
    } else if std <= 10.0 {
        "slow but steady"
    } else {
        "erratic"
    };
    name.to_string()
}

impl SegmentModel {
    fn standardise(&self, j: usize, v: &[f64]) -> f64 {
        (clean(transform(j, v[self.features[j]]), self.fill[j]) - self.mean[j]) / self.scale[j]
    }

    fn nearest(&self, v: &[f64]) -> usize {
        let z: Vec<f64> = (0..self.features.len()).map(|j| self.standardise(j, v)).collect();
        let d = |c: &Vec<f64>| c.iter().zip(&z).map(|(a, b)| (a - b) * (a - b)).sum::<f64>();
        (0..self.centroids.len()).min_by(|&a, &b| d(&self.centroids[a]).total_cmp(&d(&self.centroids[b]))).unwrap_or(0)
    }

    /// The segment name of a customer vector ([`NEW_SEGMENT`] without settled invoices).
    pub fn assign(&self, vector: &[f64]) -> &str {
        let n_paid = CUSTOMER_FEATURES.iter().position(|f| f.0 == "n_paid").expect("n_paid");
        if !has_history(vector, n_paid) || self.centroids.is_empty() {
            return NEW_SEGMENT;
        }
        &self.names[self.nearest(vector)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::customer_at;
    use crate::fixtures::{full_history, generated_dir, generated_dir_with};
    use crate::generate::GenerateParams;

    #[test]
    fn params_are_checked() {
        assert_eq!(SegmentParams { k: 1, ..Default::default() }.check(), Err(SegmentError::K(1)));
        assert_eq!(SegmentParams { n_runs: 0, ..Default::default() }.check(), Err(SegmentError::Runs));
    }

    #[test]
    fn names_follow_the_centroid() {
        //                       mean  std  late late30 trend partial disp ewma n_paid
        assert_eq!(name_of(&[0.5, 2.0, 0.1, 0.0, 0.0, 0.0, 0.0, 0.5, 20.0]), "prompt");
        assert_eq!(name_of(&[12.0, 5.0, 0.8, 0.05, 0.0, 0.0, 0.0, 12.0, 20.0]), "slow but steady");
        assert_eq!(name_of(&[45.0, 20.0, 0.9, 0.6, 0.0, 0.0, 0.0, 45.0, 20.0]), "high-risk");
        assert_eq!(name_of(&[8.0, 6.0, 0.6, 0.1, 15.0, 0.0, 0.0, 20.0, 20.0]), "deteriorating");
    }

    #[test]
    fn a_name_shared_with_longer_histories_says_little_history() {
        //                   mean  std  late late30 trend partial disp ewma n_paid
        let raw = |mean: f64, n_paid: f64| vec![mean, 4.0, 0.9, 0.0, 0.0, 0.0, 0.0, mean, n_paid];
        let named = |cs: &[(f64, f64)]| {
            let mut c: Vec<_> = cs.iter().map(|&(m, n)| (name_of(&raw(m, n)), Vec::new(), raw(m, n))).collect();
            qualify_history(&mut c);
            c.into_iter().map(|c| c.0).collect::<Vec<_>>()
        };
        assert_eq!(
            named(&[(8.0, 22.0), (10.0, 2.0), (25.0, 1.5)]),
            ["slow but steady", "slow but steady, little history", "slow but steady, little history"]
        );
        // Alone, or beside clusters as short of history, a name stays as it is.
        assert_eq!(named(&[(10.0, 2.0)]), ["slow but steady"]);
        assert_eq!(named(&[(8.0, 22.0), (10.0, 30.0)]), ["slow but steady", "slow but steady"]);
    }

    #[test]
    fn occasional_counterparties_beside_regular_payers_of_their_pace_are_named_apart() {
        // A quarter of the invoices from counterparties with one to three invoices each.
        let dir = generated_dir_with(400, 12_000, "2023-01-01", "2024-09-30", 11, |p| GenerateParams {
            occasional_share: 0.25,
            ..p
        });
        let h = full_history(dir.path());
        let vecs: Vec<[f64; 43]> = (0..h.customers.len()).map(|c| customer_at(&h, c, h.as_of).vector).collect();
        let refs: Vec<&[f64]> = vecs.iter().map(|v| &v[..]).collect();
        let m = SegmentParams::default().fit(&refs).unwrap();
        let n_paid = CUSTOMER_FEATURES.iter().position(|f| f.0 == "n_paid").unwrap();
        let median_paid = |pick: &dyn Fn(&str) -> bool| {
            let mut v: Vec<f64> =
                vecs.iter().filter(|v| v[n_paid] >= 1.0 && pick(m.assign(&v[..]))).map(|v| v[n_paid]).collect();
            v.sort_by(f64::total_cmp);
            (v.len(), if v.is_empty() { f64::NAN } else { quantile_sorted(&v, 0.5) })
        };
        let named: Vec<&String> = m.names.iter().filter(|n| n.ends_with(", little history")).collect();
        assert!(!named.is_empty(), "{:?} {:?}", m.names, m.sizes);
        for name in named {
            let base = name.trim_end_matches(", little history");
            let (n_little, little) = median_paid(&|s| s == name.as_str());
            let (n_base, more) = median_paid(&|s| s == base);
            assert!(n_little > 100 && little <= 2.0, "{name}: {n_little} {little} {:?} {:?}", m.names, m.sizes);
            assert!(n_base > 20 && more >= 4.0 * little, "{base}: {n_base} {more} against {little}");
        }
    }

    #[test]
    fn segments_separate_prompt_from_late_payers_and_are_reproducible() {
        let dir = generated_dir(300, 12_000, "2023-01-01", "2024-06-30", 21);
        let h = full_history(dir.path());
        let vecs: Vec<[f64; 43]> = (0..h.customers.len()).map(|c| customer_at(&h, c, h.as_of).vector).collect();
        let refs: Vec<&[f64]> = vecs.iter().map(|v| &v[..]).collect();
        let m = SegmentParams::default().fit(&refs).unwrap();
        assert_eq!(m, SegmentParams::default().fit(&refs).unwrap(), "same data and seed, same model");
        assert_eq!(m.names.len(), 6);
        let mean_late = |name: &str| {
            let v: Vec<f64> = vecs.iter().filter(|v| m.assign(&v[..]) == name).map(|v| v[8]).collect();
            (v.len(), v.iter().sum::<f64>() / v.len().max(1) as f64)
        };
        let names: Vec<&str> = m.names.iter().map(String::as_str).collect();
        assert!(names.iter().any(|n| n.starts_with("prompt")), "{names:?} {:?}", m.centroids_raw);
        let (n_prompt, prompt) = mean_late("prompt");
        let worst = names.iter().map(|n| mean_late(n).1).fold(f64::MIN, f64::max);
        assert!(n_prompt > 10 && prompt < 3.0 && worst > prompt + 10.0, "{n_prompt} {prompt} {worst} {names:?}");
        assert_eq!(m.sizes.iter().sum::<usize>(), vecs.iter().filter(|v| v[1] >= 1.0).count());
    }
}
