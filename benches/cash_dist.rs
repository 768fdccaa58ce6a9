//! Criterion benchmark of reading an open invoice's cash distribution: the cash model's
//! quantiles and within-horizon probability as knots, without and with the first-week
//! reshaping (`arsight::models::copula::toward_early`), over 10,000 seeded invoices; and
//! the backtest's drawn protocol WAPE (`arsight::models::backtest::drawn_weeks`): 200 draws
//! of 1,000 of those invoices' payment days.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

use arsight::models::backtest::{drawn_weeks, PLACEMENT_DRAWS};
use arsight::models::copula::CashDist;

fn bench_cash_dist(c: &mut Criterion) {
    // Seeded quantiles over the spread the cash model gives (p10 1–20 days, medians up to
    // 50, some p90s beyond the 91-day horizon) and first-week probabilities up to 0.6.
    let mut s: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 11) as f64 / (1u64 << 53) as f64
    };
    let rows: Vec<([f64; 3], f64)> = (0..10_000)
        .map(|_| {
            let a = 1.0 + 19.0 * next();
            ([a, a + 30.0 * next(), a + 30.0 + 90.0 * next()], 0.6 * next())
        })
        .collect();
    let mut group = c.benchmark_group("cash_dist");
    group.throughput(Throughput::Elements(rows.len() as u64));
    for early in [false, true] {
        let name = if early { "first_week" } else { "quantiles_only" };
        group.bench_with_input(BenchmarkId::new(name, rows.len()), &rows, |b, rows| {
            b.iter(|| {
                rows.iter()
                    .map(|(q, p)| {
                        let e = [(7.0, *p)];
                        let e: &[(f64, f64)] = if early { &e } else { &[] };
                        CashDist::with_early(*q, 91.0, Some(0.8), e, None).knots[4]
                    })
                    .sum::<f64>()
            })
        });
    }
    group.finish();

    // The protocol's WAPE were the distributions right: every draw of every invoice.
    let dists: Vec<CashDist> =
        rows.iter().take(1_000).map(|(q, p)| CashDist::with_early(*q, 91.0, Some(0.8), &[(7.0, *p)], None)).collect();
    let amount = vec![100.0; dists.len()];
    let placed = vec![dists.len() as f64 * 100.0 / 13.0; 13];
    let mut group = c.benchmark_group("drawn_wape");
    group.throughput(Throughput::Elements((dists.len() * PLACEMENT_DRAWS) as u64));
    group.bench_function(BenchmarkId::new("invoice_draws", dists.len() * PLACEMENT_DRAWS), |b| {
        b.iter(|| drawn_weeks(&dists, &amount, |_, t| t, (0, 91.0), &placed, PLACEMENT_DRAWS, 42).0[0])
    });
    group.finish();
}

criterion_group!(benches, bench_cash_dist);
criterion_main!(benches);
