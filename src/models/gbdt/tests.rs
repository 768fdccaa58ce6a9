//! GBDT tests on synthetic problems with known answers.

use ndarray::Array2;

use super::*;
use crate::rng::Rng;

fn problem(n: usize, seed: u64) -> (Array2<f64>, Vec<f64>) {
    let mut r = Rng::new(seed, 0);
    let x = Array2::from_shape_fn((n, 3), |_| r.uniform(-1.0, 1.0));
    let y = (0..n).map(|i| 3.0 * x[[i, 0]] + if x[[i, 1]] > 0.0 { 2.0 } else { -2.0 } + r.gauss(0.0, 0.1)).collect();
    (x, y)
}

/// [`problem`] with every `every`-th row missing one of the first three features.
fn problem_with_missing(n: usize, seed: u64, every: usize) -> (Array2<f64>, Vec<f64>) {
    let (mut x, y) = problem(n, seed);
    for i in (0..n).step_by(every) {
        x[[i, i % 3]] = f64::NAN;
    }
    (x, y)
}

fn mae(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum::<f64>() / a.len() as f64
}

#[test]
fn squared_loss_learns_a_held_out_function() {
    let (x, y) = problem(4000, 1);
    let (xt, yt) = problem(1000, 2);
    let m = GbdtParams::new(Loss::Squared).n_trees(200).learning_rate(0.1).fit(x.view(), &y).unwrap();
    let p = m.predict(xt.view()).unwrap();
    let baseline = mae(&yt, &vec![y.iter().sum::<f64>() / y.len() as f64; yt.len()]);
    assert!(mae(&p, &yt) < 0.15 * baseline, "mae {} vs baseline {baseline}", mae(&p, &yt));
    let imp = m.feature_importance();
    assert!(imp[2] < 0.02, "noise feature unused: {imp:?}");
}

#[test]
fn quantile_losses_cover_the_right_share() {
    let mut r = Rng::new(3, 0);
    let n = 6000;
    let x = Array2::from_shape_fn((n, 1), |_| r.uniform(0.0, 1.0));
    let y: Vec<f64> = (0..n).map(|i| 10.0 * x[[i, 0]] + r.gauss(0.0, 2.0)).collect();
    let xt = Array2::from_shape_fn((n, 1), |_| r.uniform(0.0, 1.0));
    let yt: Vec<f64> = (0..n).map(|i| 10.0 * xt[[i, 0]] + r.gauss(0.0, 2.0)).collect();
    for alpha in [0.1, 0.5, 0.9] {
        let m = GbdtParams::new(Loss::Quantile { alpha }).n_trees(150).learning_rate(0.1).fit(x.view(), &y).unwrap();
        let p = m.predict(xt.view()).unwrap();
        let below = p.iter().zip(&yt).filter(|(q, t)| t <= q).count() as f64 / n as f64;
        assert!((below - alpha).abs() < 0.04, "alpha {alpha}: share below {below}");
    }
}

#[test]
fn logistic_loss_gives_probabilities_that_rank() {
    let mut r = Rng::new(4, 0);
    let n = 5000;
    let x = Array2::from_shape_fn((n, 2), |_| r.uniform(-2.0, 2.0));
    let y: Vec<f64> = (0..n).map(|i| f64::from(r.f64() < 1.0 / (1.0 + (-2.0 * x[[i, 0]]).exp()))).collect();
    let m = GbdtParams::new(Loss::Logistic).n_trees(100).learning_rate(0.1).fit(x.view(), &y).unwrap();
    let lo = m.predict_row(&[-1.5, 0.0]);
    let hi = m.predict_row(&[1.5, 0.0]);
    assert!(lo < 0.15 && hi > 0.85, "lo {lo} hi {hi}");
}

#[test]
fn missing_values_learn_their_own_direction() {
    let n = 2000;
    let x = Array2::from_shape_fn((n, 1), |(i, _)| if i % 4 == 0 { f64::NAN } else { (i % 100) as f64 });
    let y: Vec<f64> = (0..n)
        .map(|i| {
            if i % 4 == 0 {
                50.0
            } else if i % 100 < 50 {
                0.0
            } else {
                10.0
            }
        })
        .collect();
    let m = GbdtParams::new(Loss::Squared).n_trees(100).learning_rate(0.3).fit(x.view(), &y).unwrap();
    assert!((m.predict_row(&[f64::NAN]) - 50.0).abs() < 1.0);
    assert!((m.predict_row(&[10.0]) - 0.0).abs() < 1.0);
    assert!((m.predict_row(&[90.0]) - 10.0).abs() < 1.0);
}

#[test]
fn a_split_can_set_missing_values_apart_from_every_value() {
    // Missing values pay 8, present ones nothing whatever the value. The first split should put every value left and only missing values
    // right (threshold f64::MAX), and the block scorer, the walk and a JSON round
    // trip agree on it.
    let n = 4000;
    let x = Array2::from_shape_fn((n, 2), |(i, j)| {
        // 200 distinct values (the split is offered below 254 edges).
        if j == 0 && i % 5 == 0 {
            f64::NAN
        } else {
            ((i * 37 + j * 11) % 200) as f64 / 2.0
        }
    });
    let y: Vec<f64> = (0..n).map(|i| if i % 5 == 0 { 8.0 } else { 0.0 }).collect();
    let m = GbdtParams::new(Loss::Squared).n_trees(30).learning_rate(0.3).fit(x.view(), &y).unwrap();
    let root = m.forest.nodes[m.forest.roots[0] as usize];
    assert_eq!((root.feature, root.threshold, root.missing_left), (0, f64::MAX, false), "{root:?}");
    assert!((m.predict_row(&[f64::NAN, 50.0]) - 8.0).abs() < 0.5);
    assert!(m.predict_row(&[99.9, 50.0]) < 1.0 && m.predict_row(&[0.0, 50.0]) < 1.0);
    let rows = Array2::from_shape_fn((200, 2), |(i, j)| match (i % 4, j) {
        (0, 0) => f64::NAN,
        (1, 0) => f64::INFINITY,
        _ => (i * 7 % 100) as f64,
    });
    let batch = m.predict(rows.view()).unwrap();
    for (i, row) in rows.rows().into_iter().enumerate() {
        assert!((batch[i] - m.forest.predict_row(&row.to_vec())).abs() < 1e-9, "row {i}");
    }
    let back: Gbdt = serde_json::from_str(&serde_json::to_string(&m).unwrap()).unwrap();
    assert_eq!(back.predict(rows.view()).unwrap(), batch);
}

#[test]
fn training_is_reproducible_bit_for_bit() {
    let (x, y) = problem(3000, 5);
    let a = GbdtParams::new(Loss::Quantile { alpha: 0.5 }).n_trees(30).fit(x.view(), &y).unwrap();
    let b = GbdtParams::new(Loss::Quantile { alpha: 0.5 }).n_trees(30).fit(x.view(), &y).unwrap();
    assert_eq!(serde_json::to_string(&a).unwrap(), serde_json::to_string(&b).unwrap());
}

#[test]
fn bad_inputs_are_errors() {
    let x = Array2::<f64>::zeros((3, 1));
    assert_eq!(
        GbdtParams::new(Loss::Squared).fit(x.view(), &[1.0]).unwrap_err(),
        GbdtError::Shape { rows: 3, targets: 1 }
    );
    assert!(matches!(
        GbdtParams::new(Loss::Logistic).fit(x.view(), &[0.0, 1.0, 0.5]),
        Err(GbdtError::BadTarget { index: 2, .. })
    ));
    let m = GbdtParams::new(Loss::Squared).n_trees(1).min_data_in_leaf(1).fit(x.view(), &[1.0, 2.0, 3.0]).unwrap();
    assert!(matches!(m.predict(Array2::zeros((1, 2)).view()), Err(GbdtError::Features { expected: 1, found: 2 })));
}

#[test]
fn path_contributions_add_up_to_the_prediction_and_credit_the_used_features() {
    let (x, y) = problem(3000, 5);
    let m = GbdtParams::new(Loss::Squared).n_trees(60).learning_rate(0.2).fit(x.view(), &y).unwrap();
    let e = m.forest.explainer();
    let mut noise = 0.0;
    let mut signal = 0.0;
    for i in 0..200 {
        let row = x.row(i).to_vec();
        let (bias, c) = m.forest.contributions(e, &row);
        let total = bias + c.iter().sum::<f64>();
        assert!((total - m.forest.predict_row(&row)).abs() < 1e-9, "{total} vs {}", m.forest.predict_row(&row));
        noise += c[2].abs();
        signal += c[0].abs() + c[1].abs();
    }
    assert!(noise < 0.05 * signal, "noise feature credited {noise} vs {signal}");
}

#[test]
fn the_interleaved_walk_equals_the_plain_walk_including_missing_values() {
    let (x, y) = problem_with_missing(3000, 9, 7);
    let m = GbdtParams::new(Loss::Squared).n_trees(37).max_leaves(11).fit(x.view(), &y).unwrap();
    for i in 0..3000 {
        let row = x.row(i).to_vec();
        let (a, b) = (m.forest.predict_row(&row), m.forest.predict_row_simple(&row));
        assert!((a - b).abs() < 1e-9, "{a} vs {b}");
    }
    let batch = m.predict(x.view()).unwrap();
    let t = x.t().to_owned();
    let fortran = m.predict(t.t()).unwrap();
    assert_eq!(batch, fortran, "any memory layout");
}

/// Rows that hit every threshold exactly, just below and above it, NaN, ±∞ and -0.0.
fn edge_rows(m: &Gbdt, x: &Array2<f64>) -> Vec<f64> {
    let nf = x.ncols();
    let mut rows: Vec<f64> = x.iter().copied().collect();
    for (k, n) in m.forest.nodes.iter().enumerate() {
        let t = n.threshold;
        for v in [t, t.next_down(), t.next_up()] {
            let mut row: Vec<f64> = x.row(k % x.nrows()).to_vec();
            row[n.feature as usize] = v;
            rows.extend(row);
        }
    }
    for (k, v) in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -0.0, 0.0].into_iter().enumerate() {
        for j in 0..nf {
            let mut row: Vec<f64> = x.row(k).to_vec();
            row[j] = v;
            rows.extend(row);
        }
    }
    rows
}

#[test]
fn block_prediction_equals_the_plain_walk_on_edges_missing_values_and_partial_blocks() {
    let (x, y) = problem_with_missing(3000, 11, 5);
    // Small and large trees (more than 32 leaves take the other leaf path), and a
    // one-leaf tree (a constant target after the first rounds).
    for (trees, leaves) in [(40, 7), (25, 48), (3, 2)] {
        let m = GbdtParams::new(Loss::Squared).n_trees(trees).max_leaves(leaves).fit(x.view(), &y).unwrap();
        assert!(m.forest.nodes.iter().any(|n| n.missing_left), "some node sends NaN left");
        let rows = edge_rows(&m, &x);
        let nf = x.ncols();
        let n_rows = rows.len() / nf;
        let want: Vec<f64> = rows.chunks_exact(nf).map(|r| m.forest.predict_row_simple(r)).collect();
        for n in [1, 63, 64, 65, 130, n_rows] {
            let mut fast = vec![0.0; n];
            m.forest.predict_rows(&rows[..n * nf], &mut fast);
            let mut portable = vec![0.0; n];
            m.forest.predict_rows_portable(&rows[..n * nf], &mut portable);
            for i in 0..n {
                assert!((fast[i] - want[i]).abs() < 1e-9, "{trees}×{leaves} row {i}: {} vs {}", fast[i], want[i]);
                assert!(
                    (portable[i] - want[i]).abs() < 1e-9,
                    "{trees}×{leaves} row {i}: {} vs {}",
                    portable[i],
                    want[i]
                );
            }
        }
    }
    let constant = GbdtParams::new(Loss::Squared).n_trees(5).fit(x.view(), &vec![2.5; 3000]).unwrap();
    let mut out = vec![0.0; 70];
    constant.forest.predict_rows(&x.as_slice().unwrap()[..70 * 3], &mut out);
    assert!(out.iter().all(|v| (v - 2.5).abs() < 1e-9), "{out:?}");
}

#[test]
fn block_attributions_equal_the_per_row_walk() {
    let (x, y) = problem_with_missing(2000, 12, 6);
    for (trees, leaves) in [(30, 9), (10, 40)] {
        let m = GbdtParams::new(Loss::Squared).n_trees(trees).max_leaves(leaves).fit(x.view(), &y).unwrap();
        let e = m.forest.explainer();
        let rows = edge_rows(&m, &x);
        let nf = x.ncols();
        for n in [1, 64, 100, rows.len() / nf] {
            let (bias, fast) = m.forest.contributions_rows(e, &rows, n);
            let portable = m.forest.contributions_rows_portable(e, &rows, n);
            for r in 0..n {
                let row = &rows[r * nf..(r + 1) * nf];
                let (b, want) = m.forest.contributions(e, row);
                assert!((bias - b).abs() < 1e-9);
                for j in 0..nf {
                    assert!(
                        (fast[r * nf + j] - want[j]).abs() < 1e-9,
                        "row {r} feature {j}: {} vs {}",
                        fast[r * nf + j],
                        want[j]
                    );
                    assert!((portable[r * nf + j] - want[j]).abs() < 1e-9, "row {r} feature {j}");
                }
            }
        }
    }
}

#[test]
fn the_keyed_walk_equals_the_plain_walk_and_attributes_every_edge_row() {
    let (x, y) = problem_with_missing(3000, 13, 5);
    for (trees, leaves) in [(40, 7), (25, 48), (3, 2)] {
        let m = GbdtParams::new(Loss::Squared).n_trees(trees).max_leaves(leaves).fit(x.view(), &y).unwrap();
        let e = m.forest.explainer();
        let rows = edge_rows(&m, &x);
        for row in rows.chunks_exact(x.ncols()) {
            let want = m.forest.predict_row_simple(row);
            assert!((m.forest.predict_row(row) - want).abs() < 1e-9, "{trees}×{leaves} {row:?}");
            let (b, reference) = m.forest.contributions(e, row);
            let mut c = vec![0.0; x.ncols()];
            let s = m.forest.predict_row_attributed(e, row, &mut c);
            assert_eq!(s, m.forest.predict_row(row), "the same walk");
            for j in 0..c.len() {
                assert!((c[j] - reference[j]).abs() < 1e-9, "{row:?} feature {j}: {} vs {}", c[j], reference[j]);
            }
            assert!((b + c.iter().sum::<f64>() - s).abs() < 1e-9);
        }
    }
}

/// Thresholds training does not produce (-0.0, NaN, ±∞, the largest value) with
/// missing values sent either way: the keyed walk follows `<=` and the NaN rule.
#[test]
fn the_keyed_walk_follows_the_comparison_at_unusual_thresholds() {
    let values = [f64::NEG_INFINITY, -1.0, -0.0, 0.0, f64::MIN_POSITIVE, 1.0, f64::MAX, f64::INFINITY, f64::NAN];
    for &t in &values {
        for missing_left in [false, true] {
            let f = Forest {
                n_features: 2,
                init: 0.5,
                nodes: vec![
                    Node { feature: 1, threshold: t, left: !0, right: 1, missing_left },
                    Node { feature: 0, threshold: -t, left: !1, right: !2, missing_left: !missing_left },
                ],
                leaves: vec![1.0, 10.0, 100.0],
                roots: vec![0, !0],
                gain: vec![0.0; 2],
                leaf_cover: vec![1, 1, 1],
                compiled: Default::default(),
            };
            for &a in &values {
                for &b in &values {
                    let row = [a, b];
                    let (got, want) = (f.predict_row(&row), f.predict_row_simple(&row));
                    assert_eq!(got, want, "threshold {t}, missing left {missing_left}, row {row:?}");
                }
            }
        }
    }
}
