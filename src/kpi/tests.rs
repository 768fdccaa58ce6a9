use std::path::Path;

use chrono::NaiveDate;

use super::*;
use crate::domain::days_from_date;
use crate::features::history::FAR_FUTURE;
use crate::features::load_history;
use crate::fixtures::{hand_ledger, hand_ledger_day as as_of};
use crate::ingest::InvoiceReadOptions;

fn history(dir: &Path, d: i32) -> History {
    load_history(dir, d, &InvoiceReadOptions::default(), &FxTable::default()).unwrap()
}

fn close(a: Option<f64>, b: f64) -> bool {
    a.is_some_and(|a| (a - b).abs() < 1e-9)
}

#[test]
fn the_figures_of_a_hand_worked_ledger() {
    let dir = tempfile::tempdir().unwrap();
    hand_ledger(dir.path());
    let d = as_of();
    let r = kpis(&history(dir.path(), d), d, &FxTable::default(), &KpiParams::default()).unwrap();
    assert_eq!(r.as_of, "2024-03-31");

    let usd = &r.currencies.iter().find(|c| c.currency == "USD").unwrap().kpis;
    // Open at D: A2 less its partial payment (300, 20 days past due) and A3 (400, current).
    assert_eq!(usd.receivables_minor, 70_000);
    assert_eq!(usd.aging, Aging { current_minor: 40_000, days_1_30_minor: 30_000, ..Aging::default() });
    assert_eq!(usd.sales_minor, 90_000);
    assert!(close(usd.dso_days, 70.0) && close(usd.best_possible_dso_days, 40.0), "{usd:?}");
    assert!(close(usd.average_days_delinquent, 30.0));
    // Receivables at D−90: A1 (1,000). Collectible: 1,000 + 900 − 400; collected 1,000 + 900 − 700.
    assert!(close(usd.cei_percent, 80.0), "{usd:?}");

    let eur = &r.currencies.iter().find(|c| c.currency == "EUR").unwrap().kpis;
    assert_eq!(eur.aging, Aging { days_1_30_minor: 46_000, days_61_90_minor: 92_000, ..Aging::default() });
    assert!(close(eur.dso_days, 270.0) && close(eur.best_possible_dso_days, 0.0));
    assert!(close(eur.cei_percent, 0.0), "nothing collectible was collected: {eur:?}");

    // The portfolio in USD at 0.92 EUR per USD: 920 EUR is 1,000 USD.
    let p = &r.portfolio;
    assert_eq!((r.base_currency.as_str(), p.receivables_minor, p.sales_minor), ("USD", 220_000, 140_000));
    assert_eq!(
        p.aging,
        Aging { current_minor: 40_000, days_1_30_minor: 80_000, days_61_90_minor: 100_000, ..Aging::default() }
    );
    assert!(close(p.past_due_share, 180.0 / 220.0));
    assert!(close(p.dso_days, 2200.0 / 1400.0 * 90.0) && close(p.best_possible_dso_days, 400.0 / 1400.0 * 90.0));
    assert!(close(p.cei_percent, 40.0), "{p:?}");

    let c = &r.collections;
    assert_eq!((c.settled_invoices, c.on_time_share, c.mean_days_late), (1, Some(0.0), Some(10.0)));
    assert_eq!((c.promises_due, c.promises_kept, c.promise_kept_rate), (2, 1, Some(0.5)));
    assert_eq!((c.disputes_opened, c.open_invoices, c.open_disputed_invoices, c.customers_past_due), (1, 4, 1, 2));
    // Per collector, in USD, largest past due first: bob has B (1,500 USD, all past
    // due, one open dispute, one broken promise), ann has A.
    let names: Vec<Option<&str>> = r.by_collector.iter().map(|k| k.collector.as_deref()).collect();
    assert_eq!(names, [Some("bob"), Some("ann")]);
    let (bob, ann) = (&r.by_collector[0], &r.by_collector[1]);
    assert_eq!((bob.customers, bob.receivables_minor, bob.past_due_minor), (1, 150_000, 150_000));
    assert_eq!(
        (bob.collections.promises_due, bob.collections.promises_kept, bob.collections.open_disputed_invoices),
        (1, 0, 1)
    );
    assert_eq!(
        (ann.receivables_minor, ann.past_due_minor, ann.collections.promise_kept_rate),
        (70_000, 30_000, Some(1.0))
    );
    assert_eq!((ann.collections.settled_invoices, ann.collections.mean_days_late), (1, Some(10.0)));
    assert_eq!(r.trend.len(), 6);
    assert_eq!(r.trend.last(), Some(&r.portfolio));
    assert!(r.markdown().contains("| portfolio (USD) | 2,200 | 81.8% | 141.4 |"), "{}", r.markdown());
}

/// KPIs at D read only what was known at D: the same from a history loaded at D as
/// from one that knows the later settlement and payment; and every trend point is the
/// report one would have run at its date.
#[test]
fn kpis_at_a_date_see_only_what_was_known_then() {
    let dir = crate::fixtures::generated_dir(80, 3000, "2023-01-01", "2024-06-30", 3);
    let d = days_from_date(NaiveDate::from_ymd_opt(2024, 3, 15).unwrap());
    let fx = FxTable::default();
    let p = KpiParams::default();
    let at_d = kpis(&history(dir.path(), d), d, &fx, &p).unwrap();
    let later = history(dir.path(), FAR_FUTURE);
    assert_eq!(kpis(&later, d, &fx, &p).unwrap(), at_d);
    assert!(at_d.collections.settled_invoices > 100 && at_d.portfolio.dso_days.is_some(), "{at_d:?}");
    let one = KpiParams { trend_points: 1, ..p };
    for point in &at_d.trend {
        let t = days_from_date(NaiveDate::parse_from_str(&point.as_of, "%Y-%m-%d").unwrap());
        assert_eq!(&kpis(&later, t, &fx, &one).unwrap().portfolio, point);
    }
    // Later history does move the figures of a later date.
    assert_ne!(kpis(&later, d + 60, &fx, &p).unwrap().portfolio, at_d.portfolio);
}

#[test]
fn settings_out_of_range_are_named() {
    assert_eq!(KpiParams::default().check(), Ok(()));
    for (p, field) in [
        (KpiParams { window_days: 0, ..Default::default() }, "window_days"),
        (KpiParams { trend_points: 0, ..Default::default() }, "trend_points"),
        (KpiParams { trend_step_days: 400, ..Default::default() }, "trend_step_days"),
    ] {
        match p.check() {
            Err(KpiError::Invalid { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{other:?}"),
        }
    }
}
