//! Times the Monte Carlo cash forecast over N open invoices (default 1,000,000 from
//! 200,000 customers in 6 currencies, the default 100 draws, 13 weekly buckets); prints the median
//! of 5 runs as JSON. `forecast_bench [N]`; threads from RAYON_NUM_THREADS.

use std::time::Instant;

use arsight::domain::Currency;
use arsight::features::FxTable;
use arsight::forecast::{simulate, ForecastParams, OpenItem};
use arsight::rng::Rng;

fn main() {
    let n: usize = std::env::args().nth(1).map_or(1_000_000, |s| s.parse().expect("N"));
    let codes = ["USD", "EUR", "GBP", "JPY", "CAD", "AUD"];
    let cur: Vec<Currency> = codes.iter().map(|c| Currency::parse(c).expect("code")).collect();
    let mut r = Rng::new(7, 0);
    let items: Vec<OpenItem> = (0..n)
        .map(|i| {
            let p50 = r.uniform(1.0, 80.0);
            let w = r.uniform(2.0, 30.0);
            OpenItem::new(
                (i / 5) as u32,
                cur[i % 6],
                r.int(1_000, 10_000_000),
                i % 3 == 0,
                [p50 - w / 2.0, p50, p50 + w],
            )
        })
        .collect();
    let fx = FxTable::default();
    let p = ForecastParams::default();
    let mut times = Vec::new();
    let mut check = 0;
    for _ in 0..5 {
        let t = Instant::now();
        let f = simulate(&items, 19_900, &p, &fx, 91).expect("forecast");
        times.push(t.elapsed().as_secs_f64());
        check = f.base.iter().map(|b| b.expected_minor).sum::<i64>();
    }
    times.sort_by(f64::total_cmp);
    println!(
        "{{\"invoices\": {n}, \"sims\": {}, \"median_s\": {:.3}, \"min_s\": {:.3}, \"threads\": {}, \"expected_total\": {check}}}",
        p.sims,
        times[2],
        times[0],
        rayon::current_num_threads()
    );
}
