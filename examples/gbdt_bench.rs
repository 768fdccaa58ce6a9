//! Fits arsight's GBDT on raw little-endian f64 files and reports timings as JSON,
//! for `benches/gbdt_vs_lightgbm.py` (which runs LightGBM on the same files).
//!
//! `gbdt_bench X_TRAIN Y_TRAIN X_TEST Y_TEST N_FEATURES TREES LEAVES LEARNING_RATE`

use std::time::Instant;

use arsight::models::gbdt::{GbdtParams, Loss};
use ndarray::Array2;

fn read(path: &str) -> Vec<f64> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    bytes.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes"))).collect()
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    assert!(a.len() == 9, "usage: gbdt_bench X_TRAIN Y_TRAIN X_TEST Y_TEST N_FEATURES TREES LEAVES LEARNING_RATE");
    let p: usize = a[5].parse().expect("features");
    let (xtr, ytr, xte, yte) = (read(&a[1]), read(&a[2]), read(&a[3]), read(&a[4]));
    let x = Array2::from_shape_vec((ytr.len(), p), xtr).expect("train shape");
    let xt = Array2::from_shape_vec((yte.len(), p), xte).expect("test shape");
    let params = GbdtParams::new(Loss::Squared)
        .n_trees(a[6].parse().expect("trees"))
        .max_leaves(a[7].parse().expect("leaves"))
        .learning_rate(a[8].parse().expect("lr"))
        .min_data_in_leaf(20)
        // LightGBM's default (no L2 penalty), so both sides fit the same objective.
        .lambda_l2(0.0);
    let t = Instant::now();
    // GBDT_BENCH_MODEL=FILE keeps the fitted model between runs (prediction-only timing).
    let cached = std::env::var("GBDT_BENCH_MODEL").ok();
    let m = match cached.as_deref().and_then(|p| std::fs::read(p).ok()) {
        Some(bytes) => serde_json::from_slice(&bytes).expect("cached model"),
        None => {
            let m = params.fit(x.view(), &ytr).expect("fit");
            if let Some(p) = &cached {
                std::fs::write(p, serde_json::to_vec(&m).expect("json")).expect("write model");
            }
            m
        }
    };
    let fit_s = t.elapsed().as_secs_f64();
    // Batch prediction on one thread (rows per second per core).
    let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().expect("pool");
    let mut batch_s = f64::INFINITY;
    let mut pred = Vec::new();
    for _ in 0..7 {
        let t = Instant::now();
        pred = one.install(|| m.predict(xt.view())).expect("predict");
        batch_s = batch_s.min(t.elapsed().as_secs_f64());
    }
    let mae = pred.iter().zip(&yte).map(|(a, b)| (a - b).abs()).sum::<f64>() / yte.len() as f64;
    // Single-row latency: one row at a time, median of 20k calls.
    let rows: Vec<Vec<f64>> = (0..2000).map(|i| xt.row(i).to_vec()).collect();
    let mut lat = Vec::with_capacity(20_000);
    let mut sink = 0.0;
    for k in 0..20_000 {
        let r = &rows[k % rows.len()];
        let t = Instant::now();
        sink += m.predict_row(r);
        lat.push(t.elapsed().as_nanos() as f64);
    }
    lat.sort_by(f64::total_cmp);
    println!(
        "{{\"fit_s\": {fit_s:.4}, \"mae\": {mae:.5}, \"batch_rows_per_s\": {:.0}, \"row_p50_us\": {:.3}, \"row_p99_us\": {:.3}, \"threads\": {}, \"sink\": {}}}",
        yte.len() as f64 / batch_s,
        lat[lat.len() / 2] / 1000.0,
        lat[lat.len() * 99 / 100] / 1000.0,
        rayon::current_num_threads(),
        sink.is_finite()
    );
}
