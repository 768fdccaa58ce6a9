//! Times single-invoice scoring in process (no HTTP): each model's single-row walk on
//! real scoring rows, and one posted invoice through `Service::predict_posted` (a new
//! invoice of a known customer, as the load bench sends; JSON parsing excluded), and
//! the same from request body bytes to reply bytes; and a batch of 1,000.
//! Prints medians of 5 rounds.
//!
//! `single_bench DATA MODELS AS_OF`, e.g.
//! `cargo run --release --example single_bench -- data/default models 2024-12-31`

use std::path::Path;
use std::time::Instant;

use arsight::domain::{days_from_date, parse_date_flexible};
use arsight::models::gbdt::Forest;
use arsight::models::risk::RiskModel;

// The server's allocator, so allocation costs match, counting allocations.
#[global_allocator]
static ALLOC: Counting = Counting;

static ALLOCATIONS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

struct Counting;

// SAFETY: forwards to mimalloc unchanged; only counts calls.
unsafe impl std::alloc::GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: std::alloc::Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        unsafe { mimalloc::MiMalloc.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: std::alloc::Layout) {
        unsafe { mimalloc::MiMalloc.dealloc(p, l) }
    }
    unsafe fn alloc_zeroed(&self, l: std::alloc::Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        unsafe { mimalloc::MiMalloc.alloc_zeroed(l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: std::alloc::Layout, n: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        unsafe { mimalloc::MiMalloc.realloc(p, l, n) }
    }
}

/// Allocations (and reallocations) made by `f`.
fn allocations<R>(f: impl FnOnce() -> R) -> (R, usize) {
    let before = ALLOCATIONS.load(std::sync::atomic::Ordering::Relaxed);
    let r = f();
    (r, ALLOCATIONS.load(std::sync::atomic::Ordering::Relaxed) - before)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    assert!(a.len() == 4, "usage: single_bench DATA MODELS AS_OF");
    let as_of = days_from_date(parse_date_flexible(&a[3]).expect("AS_OF is a date"));
    let (data, models) = (Path::new(&a[1]), Path::new(&a[2]));

    let store = arsight::models::artifact::ModelStore::new(models);
    let (m, _) = arsight::models::train::load_current(&store).expect("models");
    let h = arsight::features::load_history(data, as_of, &Default::default(), &Default::default()).expect("data");
    let x = arsight::models::dataset::scoring_rows(&h, as_of, |_| true).x;
    let rows: Vec<Vec<f64>> = (0..x.nrows().min(2000)).map(|i| x.row(i).to_vec()).collect();
    let mut forests: Vec<(&str, &Forest)> = Vec::new();
    for (name, g) in ["p10", "p50", "p90"].into_iter().zip(&m.payment.quantiles) {
        forests.push((name, &g.forest));
    }
    for (name, r) in [("late", &m.risk.late), ("late_30", &m.risk.late_30), ("unpaid_90", &m.risk.unpaid_90)] {
        if let RiskModel::Calibrated { gbdt, .. } = r {
            forests.push((name, &gbdt.forest));
        }
    }
    println!("{} scoring rows, {} inputs", rows.len(), x.ncols());
    let time_rows = |f: &dyn Fn(&[f64]) -> f64| {
        median(
            (0..5)
                .map(|_| {
                    let t = Instant::now();
                    let s: f64 = rows.iter().map(|r| f(r)).sum();
                    std::hint::black_box(s);
                    t.elapsed().as_secs_f64() * 1e6 / rows.len() as f64
                })
                .collect(),
        )
    };
    let mut total = 0.0;
    // Risk forests that take the empirical model's log-odds as a last input get one
    // (its value does not change the walk's cost).
    let wide: Vec<Vec<f64>> = rows.iter().map(|r| r.iter().copied().chain([0.0]).collect()).collect();
    for (name, f) in &forests {
        let us = if f.n_features > x.ncols() {
            median(
                (0..5)
                    .map(|_| {
                        let t = Instant::now();
                        let s: f64 = wide.iter().map(|r| f.predict_row(r)).sum();
                        std::hint::black_box(s);
                        t.elapsed().as_secs_f64() * 1e6 / wide.len() as f64
                    })
                    .collect(),
            )
        } else {
            time_rows(&|r| f.predict_row(r))
        };
        total += us;
        println!("{name:>10}: {} trees, {us:.2} us per row", f.roots.len());
    }
    let p50 = forests[1].1;
    let c = std::cell::RefCell::new(vec![0.0; x.ncols()]);
    let attributed = time_rows(&|r| p50.predict_row_attributed(p50.explainer(), r, &mut c.borrow_mut()));
    println!("all walks: {total:.2} us per row; p50 with attributions: {attributed:.2} us");
    if let Some(e) = &m.payment.empirical {
        // The empirical model's distribution of each row's customer (built once), then
        // one prediction per row, as a posted invoice makes it.
        let sr = arsight::models::dataset::scoring_rows(&h, as_of, |_| true);
        let n = sr.len().min(2000);
        let dists: Vec<_> = (0..n).map(|i| e.dist(e.channel_table(), &h, sr.cust[i], as_of)).collect();
        let us = median(
            (0..5)
                .map(|_| {
                    let t = Instant::now();
                    let s: f64 = (0..n)
                        .map(|i| {
                            let r = &h.invoices[sr.pos[i]];
                            let cut = f64::from(as_of - r.due_date + 1);
                            e.predict(&dists[i], e.shift_with(e.channel_table(), r), Some(cut)).q[1]
                        })
                        .sum();
                    std::hint::black_box(s);
                    t.elapsed().as_secs_f64() * 1e6 / n as f64
                })
                .collect(),
        );
        let steps = dists.iter().map(|d| d.steps.len()).sum::<usize>() as f64 / n as f64;
        let pts = dists.iter().map(|d| d.values.len()).sum::<usize>() as f64 / n as f64;
        println!("empirical model: {us:.2} us per row ({pts:.0} points, {steps:.1} open-invoice steps per customer)");
    }

    let s = arsight::service::Service::load(data, as_of, models).expect("service");
    let customers: Vec<String> = s
        .predictions()
        .iter()
        .map(|p| p.customer_id.clone())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let bodies: Vec<serde_json::Value> = (0..1000)
        .map(|i| {
            serde_json::json!({"invoices": [{
                "invoice_id": format!("load-{i}"),
                "customer_id": customers[i % customers.len()],
                "invoice_date": a[3], "due_date": a[3],
                "amount": format!("{}.{:02}", 100 + i % 5000, i % 100), "currency": "USD",
            }]})
        })
        .collect();
    // Passes over the 1,000 bodies per timed round (more for profiling).
    let rounds: usize = std::env::var("SINGLE_BENCH_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(10);
    let per = median(
        (0..5)
            .map(|_| {
                let t = Instant::now();
                let n: usize =
                    (0..rounds).flat_map(|_| &bodies).map(|b| s.predict_posted(b).expect("scored").len()).sum();
                t.elapsed().as_secs_f64() * 1e6 / n as f64
            })
            .collect(),
    );
    println!("posted invoice (predict_posted): {per:.2} us");
    // The handler's whole path: body bytes read, scored, reply serialised.
    let raw: Vec<Vec<u8>> = bodies.iter().map(|b| serde_json::to_vec(b).expect("json")).collect();
    let per = median(
        (0..5)
            .map(|_| {
                let t = Instant::now();
                let n: usize = (0..rounds)
                    .flat_map(|_| &raw)
                    .map(|b| {
                        let v: arsight::service::posted::PostedBody<'_> = serde_json::from_slice(b).expect("read");
                        let predictions = s.predict_body(&v).expect("scored");
                        arsight::api::prediction_reply_bytes(&predictions).len()
                    })
                    .count();
                t.elapsed().as_secs_f64() * 1e6 / n as f64
            })
            .collect(),
    );
    println!("body to reply bytes: {per:.2} us");
    // Allocations of one request, by step (the customer's distribution already cached).
    let (v, parse) =
        allocations(|| serde_json::from_slice::<arsight::service::posted::PostedBody<'_>>(&raw[1]).expect("read"));
    let (p, score) = allocations(|| s.predict_body(&v).expect("scored"));
    let (reply, write) = allocations(|| arsight::api::prediction_reply_bytes(&p));
    let ((), free) = allocations(|| drop((v, reply)));
    println!("allocations per request: parse {parse}, score {score}, reply {write}, drop {free}");
    // A batch of 1,000 new invoices (parsed outside the timing), as the load bench posts.
    let items: Vec<serde_json::Value> = bodies.iter().map(|b| b["invoices"][0].clone()).collect();
    let batch = serde_json::json!({ "invoices": items });
    let n: usize = std::env::var("SINGLE_BENCH_BATCHES").ok().and_then(|v| v.parse().ok()).unwrap_or(20);
    let ms = median(
        (0..n)
            .map(|_| {
                let t = Instant::now();
                let p = s.predict_posted(&batch).expect("scored");
                std::hint::black_box(p);
                t.elapsed().as_secs_f64() * 1e3
            })
            .collect(),
    );
    println!("batch of 1,000 (predict_posted): {ms:.2} ms");
    // The same batch from body bytes to reply bytes, by step.
    let raw = serde_json::to_vec(&batch).expect("json");
    let (mut read, mut score, mut reply, mut reply_len) = (Vec::new(), Vec::new(), Vec::new(), 0);
    let mut chunked = Vec::new();
    let faults0 = minor_faults();
    let pause: u64 = std::env::var("SINGLE_BENCH_PAUSE_MS").ok().and_then(|v| v.parse().ok()).unwrap_or(0);
    for _ in 0..n {
        std::thread::sleep(std::time::Duration::from_millis(pause));
        let t = Instant::now();
        let v: arsight::service::posted::PostedBody<'_> = serde_json::from_slice(&raw).expect("read");
        read.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        let predictions = s.predict_body(&v).expect("scored");
        score.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        let b = arsight::api::prediction_reply_bytes(&predictions);
        reply.push(t.elapsed().as_secs_f64() * 1e3);
        reply_len = b.len();
        // As the server answers large bodies: invoices found, then each chunk read,
        // scored and serialised on one thread.
        let t = Instant::now();
        let raw: arsight::service::posted::RawBody<'_> = serde_json::from_slice(&raw).expect("read");
        let parts =
            s.predict_raw_chunks(&raw, |p| arsight::api::prediction_reply_bytes(&p)).expect("read").expect("scored");
        chunked.push(t.elapsed().as_secs_f64() * 1e3);
        std::hint::black_box(parts);
    }
    let faults = (minor_faults() - faults0) / n as u64;
    println!(
        "batch of 1,000 from bytes ({faults} page faults per batch): read {:.2} ms, score {:.2} ms, reply {:.2} ms; by chunks, read, score and reply {:.2} ms ({} KiB body, {} KiB reply)",
        median(read),
        median(score),
        median(reply),
        median(chunked),
        raw.len() / 1024,
        reply_len / 1024
    );
}

/// Minor page faults of this process so far (from /proc/self/stat).
fn minor_faults() -> u64 {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = s.rsplit_once(')').map_or("", |(_, r)| r);
    after.split_whitespace().nth(7).and_then(|v| v.parse().ok()).unwrap_or(0)
}
