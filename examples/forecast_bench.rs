//! Times the Monte Carlo cash forecast over N open invoices (default 1,000,000 from
//! 200,000 customers in 6 currencies, the default 100 draws, 13 weekly buckets); prints the median
//! of 5 runs as JSON. `forecast_bench [N] [runs]`; with `runs`, 40% of the customers pay
//! in payment runs (their draws move to run days) and the others on business days (a
//! weekend draw moves to Monday), as on a ledger that settles on business days only;
//! with a third argument `stale` (and `plain` or `runs` second), from data that run to
//! that many days before the as-of date, as between open-items listings;
//! threads from RAYON_NUM_THREADS.

use std::time::Instant;

use arsight::domain::{Currency, PaymentRun};
use arsight::features::FxTable;
use arsight::forecast::{simulate_since, DrawKeys, ForecastParams, OpenItem};
use arsight::rng::Rng;

fn main() {
    let n: usize = std::env::args().nth(1).map_or(1_000_000, |s| s.parse().expect("N"));
    let runs = std::env::args().nth(2).is_some_and(|s| s == "runs");
    let stale: i32 = std::env::args().nth(3).map_or(0, |s| s.parse().expect("stale days"));
    let calendars: Vec<PaymentRun> = PaymentRun::all().collect();
    let codes = ["USD", "EUR", "GBP", "JPY", "CAD", "AUD"];
    let cur: Vec<Currency> = codes.iter().map(|c| Currency::parse(c).expect("code")).collect();
    let mut r = Rng::new(7, 0);
    let items: Vec<OpenItem> = (0..n)
        .map(|i| {
            let p50 = r.uniform(1.0, 80.0);
            let w = r.uniform(2.0, 30.0);
            let cust = i / 5;
            let run =
                runs.then(|| if cust % 5 < 2 { calendars[cust % calendars.len()] } else { PaymentRun::BusinessDays });
            let keys = DrawKeys { own: (i as u32).wrapping_mul(0x9e37_79b9), customer: cust as u32 };
            OpenItem::new(keys, cur[i % 6], r.int(1_000, 10_000_000), i % 3 == 0, [p50 - w / 2.0, p50, p50 + w])
                .on_calendar(run)
        })
        .collect();
    let fx = FxTable::default();
    let p = ForecastParams::default();
    let mut times = Vec::new();
    let mut check = 0;
    for _ in 0..5 {
        let t = Instant::now();
        let f = simulate_since(&items, 19_900 - stale, 19_900, &p, &fx, 91 + stale).expect("forecast");
        times.push(t.elapsed().as_secs_f64());
        check = f.base.iter().map(|b| b.expected_minor).sum::<i64>();
    }
    times.sort_by(f64::total_cmp);
    println!(
        "{{\"invoices\": {n}, \"runs\": {runs}, \"stale_days\": {stale}, \"sims\": {}, \"median_s\": {:.3}, \"min_s\": {:.3}, \"threads\": {}, \"expected_total\": {check}}}",
        p.sims,
        times[2],
        times[0],
        rayon::current_num_threads()
    );
}
