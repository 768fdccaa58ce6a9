//! Criterion benchmark of the in-process feature build (load history + vectors) on a
//! generated sample. The large side-by-side comparison with DuckDB is
//! `benches/features_vs_duckdb.py` (see BENCHMARKS.md).

use std::path::Path;

use chrono::NaiveDate;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

use arsight::features::{build_features, FeatureOptions};
use arsight::generate::{generate, GenerateParams};

fn bench_features(c: &mut Criterion) {
    let mut group = c.benchmark_group("build_features");
    group.sample_size(10);
    for invoices in [100_000usize, 1_000_000] {
        let dir = tempfile::tempdir().expect("temp dir");
        let params = GenerateParams { customers: invoices / 50, invoices, seed: 7, ..Default::default() };
        generate(dir.path(), &params).expect("generate");
        let as_of = NaiveDate::from_ymd_opt(2024, 6, 30).expect("date");
        group.throughput(Throughput::Elements(invoices as u64));
        group.bench_with_input(BenchmarkId::new("invoices", invoices), dir.path(), |b, p: &Path| {
            b.iter(|| build_features(p, as_of, &FeatureOptions::default()).expect("features"))
        });
    }
    group.finish();
}

criterion_group!(benches, bench_features);
criterion_main!(benches);
