//! The seeded synthetic AR history generator.
//!
//! Customers get a latent behaviour ([`Archetype`]: punctual, early, slow,
//! deteriorating, seasonal, disputing, partial), a market and currency, terms, a
//! credit limit and a collector. Each customer is simulated from its own random
//! stream, so the output depends only on the parameters and the seed, never on the
//! number of threads. Customers are split into shards simulated in parallel, each
//! streaming into its own `part-NNNNN.parquet` files with bounded buffers.

mod behaviour;
mod calendars;
pub use crate::rng;

use std::path::Path;

use chrono::{Datelike, NaiveDate};
use rayon::prelude::*;

use behaviour::{draw_invoice_size, draw_profile, draw_run, draw_size_factor, simulate_sized_invoice};
pub use behaviour::{Archetype, Profile, DISPUTE_TEXTS};
use rng::Rng;

use crate::contract::rows::{Cell, TableBuilder};
use crate::contract::{self, InvoiceBatchBuilder, InvoiceRow, ParquetSink};
pub use calendars::{currency_holidays, target2_closing_days, uk_bank_holidays, us_fed_holidays};

use crate::domain::{days_from_date, ActivityKind, Currency, Holidays};
use crate::ingest::IngestError;

/// Invalid generator parameters.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GenerateParamsError {
    /// `customers` is zero.
    #[error("customers cannot be 0")]
    NoCustomers,
    /// `occasional_share` is outside [0, 1).
    #[error("occasional_share should be at least 0 and below 1, but is {0}")]
    OccasionalShare(f64),
    /// `end` is before `start`.
    #[error("end {end} should not be before start {start}")]
    EmptyPeriod {
        /// Start.
        start: NaiveDate,
        /// End.
        end: NaiveDate,
    },
}

/// Generation failed.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    /// Bad parameters.
    #[error(transparent)]
    Params(#[from] GenerateParamsError),
    /// Writing failed.
    #[error(transparent)]
    Write(#[from] IngestError),
}

/// Generator parameters; defaults: 3,000 customers, 100,000 invoices,
/// 2022-01-01..2024-12-31, seed 42.
#[derive(Debug, Clone)]
pub struct GenerateParams {
    /// Number of customers.
    pub customers: usize,
    /// Approximate number of invoices (exact before invoices that fall after `end`
    /// are dropped: none do, invoices are issued within the period).
    pub invoices: usize,
    /// First issue date.
    pub start: NaiveDate,
    /// Last day of history; later payments and activities are not written.
    pub end: NaiveDate,
    /// Seed.
    pub seed: u64,
    /// Share of the invoices that come from occasional counterparties: customers
    /// beyond `customers`, one to three invoices each within a quarter, joining at any
    /// time, so many invoices have no payment history behind them (0: none).
    pub occasional_share: f64,
    /// Whether customers' country and segment move their mean days late
    /// (`behaviour::market_days_late`); off, every other draw is the same either way.
    pub market_effects: bool,
    /// Mixed payment terms: a quarter of the customers on end-of-month terms (due
    /// their terms after the end of the issue month) and 30% of invoices on terms of
    /// their own (due on receipt to 90 days); off, every other draw is the same either way.
    pub mixed_terms: bool,
    /// Payment runs: 40% of the customers pay only on their run days (weekly
    /// or twice weekly on weekdays, on the 15th and the month's last day, or monthly on a day), so a
    /// payment waits for the next run; off, every other draw is the same either way.
    pub payment_runs: bool,
    /// Bank holidays: the TARGET2 closing days (New Year, Good Friday, Easter Monday,
    /// 1 May, 25 and 26 December) are closed like weekends, so nothing settles on them,
    /// and they are written to `holidays.parquet` up to a year past `end`; off, every
    /// other draw is the same either way.
    pub holidays: bool,
    /// Bank holidays per currency instead: the TARGET2 closing days for EUR, the
    /// Federal Reserve's holidays for USD, the bank holidays of England and Wales for
    /// GBP (the other currencies close on weekends only), written to
    /// `holidays.parquet` with their currency.
    pub currency_holidays: bool,
    /// Heavy-tailed amounts: customers' sizes multiplied by a Pareto factor (index
    /// `behaviour::SIZE_TAIL_INDEX`, so a tenth of the customers carry most of the
    /// amount) and 3% of invoices project-sized, 5–40 times the customer's usual amount
    /// (and paid later, as large invoices are); off, every other draw is the same either way.
    pub heavy_tails: bool,
}

impl Default for GenerateParams {
    fn default() -> Self {
        GenerateParams {
            customers: 3_000,
            invoices: 100_000,
            start: NaiveDate::from_ymd_opt(2022, 1, 1).expect("valid"),
            end: NaiveDate::from_ymd_opt(2024, 12, 31).expect("valid"),
            seed: 42,
            occasional_share: 0.0,
            market_effects: false,
            mixed_terms: false,
            payment_runs: false,
            holidays: false,
            currency_holidays: false,
            heavy_tails: false,
        }
    }
}

impl GenerateParams {
    /// Checks the parameters.
    ///
    /// # Errors
    /// One [`GenerateParamsError`] per rule.
    pub fn check(&self) -> Result<(), GenerateParamsError> {
        if self.customers == 0 {
            return Err(GenerateParamsError::NoCustomers);
        }
        if !(0.0..1.0).contains(&self.occasional_share) {
            return Err(GenerateParamsError::OccasionalShare(self.occasional_share));
        }
        if self.end < self.start {
            return Err(GenerateParamsError::EmptyPeriod { start: self.start, end: self.end });
        }
        Ok(())
    }
}

/// What was generated.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct GenerateSummary {
    /// Customers written.
    pub customers: usize,
    /// Invoices written.
    pub invoices: usize,
    /// Invoices open at `end`.
    pub open_invoices: usize,
    /// Payments written.
    pub payments: usize,
    /// Activities written.
    pub activities: usize,
    /// Part files per table.
    pub shards: usize,
}

/// Customer id for an index.
pub fn customer_id(index: usize) -> String {
    format!("C{index:06}")
}

/// Invoices per customer: log-normal weights scaled to the total, exact in sum.
fn invoice_counts(p: &GenerateParams) -> Vec<usize> {
    let mut rng = Rng::new(p.seed, u64::MAX);
    let w: Vec<f64> = (0..p.customers).map(|_| (1.1 * rng.normal()).exp()).collect();
    let total: f64 = w.iter().sum();
    let exact: Vec<f64> = w.iter().map(|x| x / total * p.invoices as f64).collect();
    let mut counts: Vec<usize> = exact.iter().map(|x| x.floor() as usize).collect();
    let assigned: usize = counts.iter().sum();
    let mut order: Vec<usize> = (0..p.customers).collect();
    order.sort_by(|&a, &b| (exact[b] - exact[b].floor()).total_cmp(&(exact[a] - exact[a].floor())).then(a.cmp(&b)));
    for &i in order.iter().take(p.invoices.saturating_sub(assigned)) {
        counts[i] += 1;
    }
    counts
}

/// Invoices per customer: the regular customers' ([`invoice_counts`] of what the
/// occasional counterparties leave), then one to three per occasional counterparty.
fn all_invoice_counts(p: &GenerateParams) -> Vec<usize> {
    let occasional = (p.occasional_share * p.invoices as f64).round() as usize;
    let mut counts = invoice_counts(&GenerateParams { invoices: p.invoices - occasional, ..p.clone() });
    let mut rng = Rng::new(p.seed, u64::MAX - 1);
    let mut left = occasional;
    while left > 0 {
        let n = (rng.int(1, 3) as usize).min(left);
        counts.push(n);
        left -= n;
    }
    counts
}

/// Generates a data directory under `out`: `customers.parquet` and
/// `invoices/`, `payments/`, `activities/` folders of part files.
///
/// # Errors
/// [`GenerateError`] for bad parameters or a failed write.
pub fn generate(out: &Path, p: &GenerateParams) -> Result<GenerateSummary, GenerateError> {
    p.check()?;
    let start = days_from_date(p.start);
    let end = days_from_date(p.end);
    let counts = all_invoice_counts(p);
    let n_customers = counts.len();
    let profiles: Vec<Profile> = (0..n_customers)
        .map(|i| {
            let mut prof = draw_profile(i, p.seed, &mut Rng::new(p.seed, i as u64), start, end, counts[i]);
            if i >= p.customers {
                // Occasional: joins any day, issues its invoices within a quarter.
                let mut r = Rng::new(p.seed ^ 0x0CCA_5107, i as u64);
                prof.start_day = r.int(i64::from(start), i64::from(end)) as i32;
                prof.last_issue_day = (prof.start_day + 90).min(end);
            }
            if p.market_effects {
                prof.mean_late += behaviour::market_days_late(&prof);
            }
            if p.heavy_tails {
                let f = draw_size_factor(&mut Rng::new(p.seed ^ 0x5A1E_0000, i as u64));
                prof.scale *= f;
                let major = prof.credit_limit_minor as f64 / prof.currency.minor_per_major() as f64;
                prof.credit_limit_minor = behaviour::credit_limit_minor(major * f, prof.currency);
            }
            prof
        })
        .collect();
    write_customers(&out.join("customers.parquet"), &profiles)?;
    let years = p.start.year()..=p.end.year() + 1;
    let holidays = if p.currency_holidays {
        let named = currency_holidays(years);
        write_holidays(
            &out.join("holidays.parquet"),
            &named.iter().map(|h| (h.0, h.1, Some(h.2))).collect::<Vec<_>>(),
        )?;
        Holidays::with_currencies([], named.iter().map(|h| (h.2, h.0)))
    } else if p.holidays {
        let named = target2_closing_days(years);
        write_holidays(&out.join("holidays.parquet"), &named.iter().map(|h| (h.0, h.1, None)).collect::<Vec<_>>())?;
        Holidays::new(named.iter().map(|h| h.0))
    } else {
        Holidays::default()
    };
    let shards = p.invoices.div_ceil(250_000).max(4).min(n_customers);
    let per = n_customers.div_ceil(shards);
    let results: Vec<Result<GenerateSummary, GenerateError>> = (0..shards)
        .into_par_iter()
        .map(|s| {
            let lo = s * per;
            let hi = ((s + 1) * per).min(n_customers);
            write_shard(out, s, &profiles[lo.min(hi)..hi], &counts[lo.min(hi)..hi], p, (start, end), &holidays)
        })
        .collect();
    let mut total = GenerateSummary { customers: n_customers, shards, ..Default::default() };
    for r in results {
        let s = r?;
        total.invoices += s.invoices;
        total.open_invoices += s.open_invoices;
        total.payments += s.payments;
        total.activities += s.activities;
    }
    Ok(total)
}

fn write_customers(path: &Path, profiles: &[Profile]) -> Result<(), IngestError> {
    let mut b = TableBuilder::new(contract::customer_schema());
    for p in profiles {
        let id = customer_id(p.index);
        let name = format!("{} {} {:06}", p.country, p.segment, p.index);
        let collector = format!("collector-{:02}", p.collector);
        b.push(&[
            Cell::Str(Some(&id)),
            Cell::Str(Some(&name)),
            Cell::Str(Some(p.segment)),
            Cell::Str(Some(p.country)),
            Cell::Amount(Some((p.credit_limit_minor, p.currency))),
            Cell::Str(Some(p.currency.as_str())),
            Cell::Str(Some(&collector)),
        ]);
    }
    contract::write_batch(path, &b.finish())
}

fn write_holidays(path: &Path, days: &[(i32, &str, Option<Currency>)]) -> Result<(), IngestError> {
    let mut b = TableBuilder::new(contract::holiday_schema());
    for &(d, name, c) in days {
        b.push(&[Cell::Date(Some(d)), Cell::Str(Some(name)), Cell::Str(c.as_ref().map(Currency::as_str))]);
    }
    contract::write_batch(path, &b.finish())
}

const FLUSH_ROWS: usize = 64 * 1024;

fn write_shard(
    out: &Path,
    shard: usize,
    profiles: &[Profile],
    counts: &[usize],
    p: &GenerateParams,
    (start, end): (i32, i32),
    hol: &Holidays,
) -> Result<GenerateSummary, GenerateError> {
    let name = format!("part-{shard:05}.parquet");
    let mut inv_sink = ParquetSink::create(&out.join("invoices").join(&name), contract::invoice_schema())?;
    let mut pay_sink = ParquetSink::create(&out.join("payments").join(&name), contract::payment_schema())?;
    let mut act_sink = ParquetSink::create(&out.join("activities").join(&name), contract::activity_schema())?;
    let mut inv = InvoiceBatchBuilder::with_capacity(FLUSH_ROWS);
    let mut pay = TableBuilder::new(contract::payment_schema());
    let mut act = TableBuilder::new(contract::activity_schema());
    let mut sum = GenerateSummary::default();
    for (prof, &n) in profiles.iter().zip(counts) {
        // A stream per customer distinct from the profile's, so profiles and
        // histories can be re-drawn independently.
        let mut rng = Rng::new(p.seed ^ 0xA5A5_A5A5, prof.index as u64);
        let first = prof.start_day.max(start);
        let last = prof.last_issue_day.min(end);
        let mut days: Vec<i32> = (0..n).map(|_| rng.int(i64::from(first), i64::from(last)) as i32).collect();
        days.sort_unstable();
        let cid = customer_id(prof.index);
        // Payment runs come from a stream of their own and draw nothing while simulating.
        let with_run;
        let prof = match p.payment_runs.then(|| draw_run(&mut Rng::new(p.seed ^ 0x2B4E_0000, prof.index as u64))) {
            Some(Some(run)) => {
                with_run = Profile { run: Some(run), ..prof.clone() };
                &with_run
            }
            _ => prof,
        };
        // Mixed terms come from a stream of their own, and each invoice is drawn from
        // the state its plain twin starts at, so every other draw is as without them.
        let mut terms_rng = p.mixed_terms.then(|| Rng::new(p.seed ^ 0x7E45_0000, prof.index as u64));
        let end_of_month = terms_rng.as_mut().is_some_and(|r| r.chance(0.25));
        // Project-sized invoices too.
        let mut size_rng = p.heavy_tails.then(|| Rng::new(p.seed ^ 0x9B0C_0000, prof.index as u64));
        for (seq, &day) in days.iter().enumerate() {
            let hol = hol.of(prof.currency);
            let size = size_rng.as_mut().map_or(1.0, draw_invoice_size);
            // Mixed terms and project sizes: the invoice is drawn from the state its
            // plain twin starts at (same amount, same draw of days late), and the stream
            // then moves on as it would without them.
            let (terms, own) = match terms_rng.as_mut() {
                None => (prof.terms, None),
                Some(r) => {
                    let terms =
                        if r.chance(0.3) { [0, 10, 15, 30, 45, 60, 90][r.int(0, 6) as usize] } else { prof.terms };
                    let until_due = if end_of_month { crate::domain::days_to_month_end(day) + terms } else { terms };
                    (terms, Some(Profile { terms: until_due, ..prof.clone() }))
                }
            };
            let sim = if own.is_none() && size == 1.0 {
                simulate_sized_invoice(prof, day, hol, &mut rng, 1.0)
            } else {
                let sim = simulate_sized_invoice(own.as_ref().unwrap_or(prof), day, hol, &mut rng.clone(), size);
                simulate_sized_invoice(prof, day, hol, &mut rng, 1.0);
                sim
            };
            let iid = format!("I{:06}-{seq:05}", prof.index);
            let paid = sim.paid_date.filter(|&d| d <= end);
            inv.push(&InvoiceRow {
                invoice_id: &iid,
                customer_id: &cid,
                invoice_date: sim.invoice_date,
                due_date: sim.due_date,
                amount_minor: sim.amount_minor,
                currency: prof.currency,
                paid_date: paid,
                paid_minor: paid.map(|_| sim.paid_minor),
                disputed: Some(
                    sim.disputed && sim.activities.iter().any(|a| a.1 == ActivityKind::DisputeOpened && a.0 <= end),
                ),
                terms_days: Some(terms),
                channel: Some(behaviour::CHANNELS[prof.channel_on(sim.invoice_date)].0),
            });
            sum.invoices += 1;
            sum.open_invoices += usize::from(paid.is_none());
            for (k, &(d, amt)) in sim.payments.iter().enumerate().filter(|(_, x)| x.0 <= end) {
                let pid = format!("P{:06}-{seq:05}-{k}", prof.index);
                pay.push(&[
                    Cell::Str(Some(&pid)),
                    Cell::Str(Some(&cid)),
                    Cell::Str(Some(&iid)),
                    Cell::Date(Some(d)),
                    Cell::Amount(Some((amt, prof.currency))),
                    Cell::Str(Some(prof.currency.as_str())),
                    Cell::Str(Some(prof.method)),
                    Cell::Str(Some(&iid)),
                ]);
                sum.payments += 1;
            }
            for (k, (d, kind, promised, text)) in sim.activities.iter().enumerate().filter(|(_, a)| a.0 <= end) {
                let aid = format!("A{:06}-{seq:05}-{k}", prof.index);
                let promised_amount = promised.map(|_| (sim.amount_minor, prof.currency));
                act.push(&[
                    Cell::Str(Some(&aid)),
                    Cell::Str(Some(&cid)),
                    Cell::Str(Some(&iid)),
                    Cell::Date(Some(*d)),
                    Cell::Str(Some(kind.as_str())),
                    Cell::Date(*promised),
                    Cell::Amount(promised_amount),
                    Cell::Str(text.as_deref()),
                ]);
                sum.activities += 1;
            }
            if inv.len() >= FLUSH_ROWS {
                inv_sink.write(&inv.finish())?;
            }
            if pay.len() >= FLUSH_ROWS {
                pay_sink.write(&pay.finish())?;
            }
            if act.len() >= FLUSH_ROWS {
                act_sink.write(&act.finish())?;
            }
        }
    }
    inv_sink.write(&inv.finish())?;
    pay_sink.write(&pay.finish())?;
    act_sink.write(&act.finish())?;
    inv_sink.finish()?;
    pay_sink.finish()?;
    act_sink.finish()?;
    Ok(sum)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{easter_sunday, PaymentRun};
    use crate::features::history::Inv;

    #[test]
    fn occasional_counterparties_carry_their_share_of_invoices_within_a_quarter() {
        let p =
            GenerateParams { customers: 50, invoices: 2_000, seed: 3, occasional_share: 0.25, ..Default::default() };
        let counts = all_invoice_counts(&p);
        assert_eq!(counts.iter().sum::<usize>(), 2_000);
        let (regular, occasional) = counts.split_at(50);
        assert_eq!(occasional.iter().sum::<usize>(), 500);
        assert!(occasional.iter().all(|n| (1..=3).contains(n)), "{occasional:?}");
        assert!(occasional.len() >= 500 / 3 && occasional.contains(&1) && occasional.contains(&3));
        // The regular customers share what is left as they would without occasional ones.
        assert_eq!(regular, &invoice_counts(&GenerateParams { invoices: 1_500, ..p.clone() })[..]);
        assert_eq!(all_invoice_counts(&GenerateParams { occasional_share: 0.0, ..p.clone() }), invoice_counts(&p));

        let dir = tempfile::tempdir().unwrap();
        let s = generate(dir.path(), &p).unwrap();
        assert_eq!((s.customers, s.invoices), (counts.len(), 2_000));
        let h = crate::fixtures::full_history(dir.path());
        let mut spans: Vec<(i32, i32)> = Vec::new();
        let mut join_days = Vec::new();
        for c in 0..h.customers.len() {
            let index: usize = h.customers[c][1..].parse().unwrap();
            let invs = h.invoices_of(c);
            if index >= 50 {
                let (lo, hi) = (invs[0].invoice_date, invs[invs.len() - 1].invoice_date);
                spans.push((lo, hi));
                join_days.push(lo);
                assert!(hi - lo <= 90 && invs.len() <= 3, "{}: {lo}..{hi}, {} invoices", h.customers[c], invs.len());
            }
        }
        assert_eq!(spans.len(), occasional.len());
        // They join throughout the period, not only at its start.
        join_days.sort_unstable();
        let (first, last) = (days_from_date(p.start), days_from_date(p.end));
        let q = |f: f64| join_days[((join_days.len() - 1) as f64 * f) as usize];
        assert!(q(0.25) > first + 100 && q(0.75) < last - 100 && q(0.75) - q(0.25) > 300, "{:?}", (q(0.25), q(0.75)));

        let bad = GenerateParams { occasional_share: 1.0, ..p };
        assert_eq!(bad.check(), Err(GenerateParamsError::OccasionalShare(1.0)));
    }

    /// The histories of a small ledger generated plain and with `flag` set, with the
    /// same customers.
    fn plain_and(
        flag: impl Fn(GenerateParams) -> GenerateParams,
    ) -> (crate::features::History, crate::features::History) {
        let p = GenerateParams { customers: 120, invoices: 5_000, seed: 5, ..Default::default() };
        let (plain, flagged) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        generate(plain.path(), &p).unwrap();
        generate(flagged.path(), &flag(p)).unwrap();
        let (a, b) = (crate::fixtures::full_history(plain.path()), crate::fixtures::full_history(flagged.path()));
        assert_eq!(a.customers, b.customers);
        (a, b)
    }

    #[test]
    fn mixed_terms_vary_due_dates_and_leave_days_late_as_they_were() {
        let (a, b) = plain_and(|p| GenerateParams { mixed_terms: true, ..p });
        let (mut own_terms, mut n, mut month_end_customers, mut late_a, mut late_b) = (0, 0, 0, Vec::new(), Vec::new());
        for c in 0..a.customers.len() {
            let (x, y) = (a.invoices_of(c), b.invoices_of(c));
            assert_eq!(x.len(), y.len());
            let terms = x[0].due_date - x[0].invoice_date;
            assert!(x.iter().all(|r| r.due_date - r.invoice_date == terms), "plain: one term per customer");
            // Same issue dates and amounts; other due dates.
            let issued = |v: &[crate::features::history::Inv]| {
                let mut k: Vec<(i32, i64)> = v.iter().map(|r| (r.invoice_date, r.amount_minor)).collect();
                k.sort_unstable();
                k
            };
            assert_eq!(issued(x), issued(y));
            own_terms += y.iter().filter(|q| q.due_date - q.invoice_date != terms).count();
            n += y.len();
            // End-of-month customers: due a fixed number of days after a month end, for
            // the invoices on the customer's own terms.
            let after_month_end = |r: &crate::features::history::Inv| {
                r.due_date - r.invoice_date - crate::domain::days_to_month_end(r.invoice_date) == terms
            };
            month_end_customers +=
                usize::from(y.len() >= 10 && y.iter().filter(|r| after_month_end(r)).count() * 2 > y.len());
            let settled = |v: &[crate::features::history::Inv], out: &mut Vec<i32>| {
                out.extend(
                    v.iter()
                        .filter(|r| r.paid_date != crate::features::history::OPEN)
                        .map(|r| r.paid_date - r.due_date),
                );
            };
            settled(x, &mut late_a);
            settled(y, &mut late_b);
        }
        let share = own_terms as f64 / n as f64;
        assert!((0.35..0.65).contains(&share), "{share}: invoices off their customer's plain terms");
        assert!((15..=45).contains(&month_end_customers), "{month_end_customers} of 120 on end-of-month terms");
        // Days late are drawn against whichever due date: their spread stays.
        let mean = |v: &[i32]| v.iter().map(|&d| f64::from(d)).sum::<f64>() / v.len() as f64;
        assert!((mean(&late_a) - mean(&late_b)).abs() < 1.5, "{} vs {}", mean(&late_a), mean(&late_b));
    }

    #[test]
    fn heavy_tails_scale_customers_and_some_invoices_and_large_ones_pay_later() {
        let (a, b) = plain_and(|p| GenerateParams { heavy_tails: true, ..p });
        let (mut n, mut projects, mut same_paid, mut plain_paid) = (0, 0, 0, 0);
        let (mut late_plain, mut late_project) = (Vec::new(), Vec::new());
        let (mut amounts_a, mut amounts_b) = (Vec::new(), Vec::new());
        let mut factors = Vec::new();
        for c in 0..a.customers.len() {
            let (x, y) = (a.invoices_of(c), b.invoices_of(c));
            assert_eq!(x.len(), y.len());
            // Invoices pair up by issue date; the order of two issued on one day is not kept.
            let single = |d: i32| x.iter().filter(|r| r.invoice_date == d).count() == 1;
            let (x, y): (Vec<&Inv>, Vec<&Inv>) = x.iter().zip(y).filter(|(p, _)| single(p.invoice_date)).unzip();
            if x.is_empty() {
                continue;
            }
            // The customer's factor: its most common ratio (most invoices are not projects).
            let ratios: Vec<f64> =
                x.iter().zip(&y).map(|(p, q)| q.amount_minor as f64 / p.amount_minor as f64).collect();
            let mut sorted = ratios.clone();
            sorted.sort_by(f64::total_cmp);
            let factor = sorted[sorted.len() / 2];
            factors.push(factor);
            assert!(factor >= 0.99, "customer {c}: factor {factor}");
            for ((p, q), r) in x.iter().zip(&y).zip(&ratios) {
                assert_eq!((p.invoice_date, p.due_date, p.currency), (q.invoice_date, q.due_date, q.currency));
                n += 1;
                // Amounts are rounded to minor units: small ones move by more than a hair.
                let project = *r > factor * 4.0;
                assert!(project || (r / factor - 1.0).abs() < 0.05 || p.amount_minor < 1_000, "{r} against {factor}");
                let settled =
                    p.paid_date != crate::features::history::OPEN && q.paid_date != crate::features::history::OPEN;
                if project {
                    projects += 1;
                    assert!(*r < factor * 41.0, "{r} against {factor}");
                    if settled {
                        late_plain.push(f64::from(p.paid_date - p.invoice_date));
                        late_project.push(f64::from(q.paid_date - q.invoice_date));
                    }
                } else if settled {
                    plain_paid += 1;
                    same_paid += usize::from(p.paid_date == q.paid_date);
                }
            }
            amounts_a.extend(x.iter().map(|r| r.amount_base));
            amounts_b.extend(y.iter().map(|r| r.amount_base));
        }
        // 3% of invoices are projects.
        let share = projects as f64 / n as f64;
        assert!((0.015..0.05).contains(&share), "{share}: project-sized");
        // Other invoices settle as they did; projects go through more approvals.
        assert_eq!(same_paid, plain_paid);
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        assert!(late_project.len() > 40 && mean(&late_project) > mean(&late_plain) + 1.0, "{late_project:?}");
        // Pareto factors: at least 1, a tenth above 4.6 (index 1.5), none beyond the cap.
        factors.sort_by(f64::total_cmp);
        let top_tenth = factors[factors.len() * 9 / 10];
        assert!((2.5..9.0).contains(&top_tenth) && factors[factors.len() - 1] <= behaviour::MAX_SIZE_FACTOR * 1.05);
        // The largest hundredth of the invoices carries much more of the amount than without.
        let top_share = |t: &mut Vec<f64>| {
            t.sort_by(|p, q| q.total_cmp(p));
            t[..t.len() / 100].iter().sum::<f64>() / t.iter().sum::<f64>()
        };
        let (sa, sb) = (top_share(&mut amounts_a), top_share(&mut amounts_b));
        assert!(sb > sa + 0.1, "largest 1% of invoices: {sa} of the amount plain, {sb} heavy-tailed");
    }

    #[test]
    fn market_effects_move_each_customer_by_its_country_and_segment_and_nothing_else() {
        let (a, b) = plain_and(|p| GenerateParams { market_effects: true, ..p });
        let median_late = |h: &crate::features::History, c: usize| {
            let mut v: Vec<f64> = h
                .invoices_of(c)
                .iter()
                .filter(|r| r.paid_date != crate::features::history::OPEN)
                .map(|r| f64::from(r.paid_date - r.due_date))
                .collect();
            v.sort_by(f64::total_cmp);
            (v.len() >= 10).then(|| crate::features::stats::quantile_sorted(&v, 0.5))
        };
        let find = |list: &[(&str, f64)], key: &str| list.iter().find(|e| e.0 == key).unwrap().1;
        let mut errors = Vec::new();
        for c in 0..a.customers.len() {
            // Same invoices, amounts and countries either way.
            assert_eq!(a.invoices_of(c).len(), b.invoices_of(c).len());
            assert_eq!(a.master[c].country, b.master[c].country);
            let (Some(x), Some(y)) = (median_late(&a, c), median_late(&b, c)) else { continue };
            let expected = find(&behaviour::COUNTRY_DAYS_LATE, a.master[c].country.as_deref().unwrap())
                + find(&behaviour::SEGMENT_DAYS_LATE, a.master[c].segment.as_deref().unwrap());
            errors.push((y - x - expected).abs());
        }
        errors.sort_by(f64::total_cmp);
        assert!(errors.len() > 60, "{} customers with 10 settled invoices", errors.len());
        // Weekends and reminders move a few payments by a day or two.
        assert!(errors[errors.len() / 2] <= 1.0, "median error {}", errors[errors.len() / 2]);
    }

    #[test]
    fn payment_runs_move_payments_to_run_days_and_detection_finds_the_calendar() {
        let (a, b) = plain_and(|p| GenerateParams { payment_runs: true, ..p });
        let (mut with_runs, mut found, mut wrong) = (0, 0, 0);
        for c in 0..a.customers.len() {
            let index: usize = a.customers[c][1..].parse().unwrap();
            let run = draw_run(&mut Rng::new(5 ^ 0x2B4E_0000, index as u64));
            let (x, y) = (a.invoices_of(c), b.invoices_of(c));
            assert_eq!(x.len(), y.len());
            for (p, q) in x.iter().zip(y) {
                // Same invoices; a payment waits for the next run, never more than a month.
                assert_eq!((p.invoice_date, p.due_date, p.amount_minor), (q.invoice_date, q.due_date, q.amount_minor));
                if q.paid_date == crate::features::history::OPEN {
                    continue;
                }
                match run {
                    None => assert_eq!(p.paid_date, q.paid_date),
                    Some(r) => {
                        assert!(
                            r.is_run_day(q.paid_date, &crate::domain::NO_HOLIDAYS),
                            "{} paid off its runs ({r:?})",
                            a.customers[c]
                        );
                        assert!((0..35).contains(&(q.paid_date - p.paid_date)), "{} -> {}", p.paid_date, q.paid_date);
                    }
                }
            }
            // The calendar read back from the settlements, at the end of the data.
            let detected = crate::features::customer::payment_run_of(y, i32::MAX - 1, &crate::domain::NO_HOLIDAYS);
            let mut dates: Vec<i32> =
                y.iter().filter(|q| q.paid_date != crate::features::history::OPEN).map(|q| q.paid_date).collect();
            dates.sort_unstable();
            dates.dedup();
            // Only customers with enough distinct settlement dates can be read.
            let is_twice = matches!(run, Some(PaymentRun::TwiceWeekly(..)));
            let least = if is_twice { crate::domain::MIN_TWICE_DATES } else { crate::domain::MIN_RUN_DATES };
            let readable = run.is_some() && dates.len() >= least;
            with_runs += usize::from(readable);
            match (run, detected) {
                (Some(r), Some(d)) if r == d => found += 1,
                // One of a twice-weekly payer's days, when few payments went out on the
                // other: a narrower reading, not a wrong one.
                (Some(PaymentRun::TwiceWeekly(a, b)), Some(PaymentRun::Weekly(w))) if w == a || w == b => {}
                (_, Some(_)) => wrong += 1,
                _ => {}
            }
        }
        assert!((25..=60).contains(&with_runs), "{with_runs} of 120 customers pay in runs, with 8 settlement dates");
        assert!(found * 10 >= with_runs * 9, "{found} of {with_runs} calendars found");
        assert!(wrong <= 2, "{wrong} customers given a calendar they do not follow");
    }

    /// Twice-weekly payers on a larger ledger: most are read as such, a few with
    /// little on one day as weekly on the other, and payers without runs are not read
    /// as twice-weekly.
    #[test]
    fn twice_weekly_payers_are_read_from_their_settlements() {
        let p = GenerateParams { customers: 400, invoices: 12_000, seed: 11, payment_runs: true, ..Default::default() };
        let dir = tempfile::tempdir().unwrap();
        generate(dir.path(), &p).unwrap();
        let h = crate::fixtures::full_history(dir.path());
        let (mut twice, mut found, mut narrower, mut plain, mut misread) = (0, 0, 0, 0, 0);
        for c in 0..h.customers.len() {
            let index: usize = h.customers[c][1..].parse().unwrap();
            let run = draw_run(&mut Rng::new(11 ^ 0x2B4E_0000, index as u64));
            let y = h.invoices_of(c);
            let mut dates: Vec<i32> =
                y.iter().filter(|q| q.paid_date != crate::features::history::OPEN).map(|q| q.paid_date).collect();
            dates.sort_unstable();
            dates.dedup();
            if dates.len() < crate::domain::MIN_TWICE_DATES {
                continue;
            }
            let detected = crate::features::customer::payment_run_of(y, i32::MAX - 1, &crate::domain::NO_HOLIDAYS);
            match run {
                Some(PaymentRun::TwiceWeekly(a, b)) => {
                    twice += 1;
                    found += usize::from(detected == run);
                    narrower += usize::from(matches!(detected, Some(PaymentRun::Weekly(w)) if w == a || w == b));
                }
                None => {
                    plain += 1;
                    misread += usize::from(matches!(detected, Some(PaymentRun::TwiceWeekly(..))));
                }
                _ => {}
            }
        }
        assert!(twice >= 10, "{twice} twice-weekly payers with {} dates", crate::domain::MIN_TWICE_DATES);
        assert!(found * 10 >= twice * 8, "{found} of {twice} read as twice-weekly");
        assert_eq!(found + narrower, twice, "the rest read as weekly on one of their days");
        assert!(
            plain >= 100 && misread * 100 <= plain * 2,
            "{misread} of {plain} payers without runs read as twice-weekly"
        );
    }

    #[test]
    fn easter_and_the_target2_closing_days() {
        let day = |y, m, d| days_from_date(NaiveDate::from_ymd_opt(y, m, d).unwrap());
        for (y, m, d) in [(2000, 4, 23), (2019, 4, 21), (2024, 3, 31), (2025, 4, 20), (2038, 4, 25)] {
            assert_eq!(easter_sunday(y), Some(day(y, m, d)), "{y}");
        }
        let days: Vec<i32> = target2_closing_days(2024..=2024).into_iter().map(|h| h.0).collect();
        // 2024: all six fall on weekdays.
        assert_eq!(
            days,
            [day(2024, 1, 1), day(2024, 3, 29), day(2024, 4, 1), day(2024, 5, 1), day(2024, 12, 25), day(2024, 12, 26)]
        );
        // 2022: New Year on a Saturday, 1 May and Christmas on a Sunday: not listed.
        assert_eq!(target2_closing_days(2022..=2022).len(), 3);
    }

    /// With holidays, a payment that would settle on one settles on the next business
    /// day (a run payer's on its next run day), everything else as without; the
    /// holidays are written out and read back.
    #[test]
    fn holidays_close_the_ledger_and_are_written_to_the_contract() {
        let (a, b) = plain_and(|p| GenerateParams { holidays: true, payment_runs: true, ..p });
        let (_, c) = plain_and(|p| GenerateParams { payment_runs: true, ..p });
        let hol = &b.holidays;
        let want: Vec<i32> = target2_closing_days(2022..=2025).into_iter().map(|h| h.0).collect();
        assert_eq!(hol.days(), &want[..]);
        assert!(a.holidays.days().is_empty());
        let (mut on_holidays_before, mut moved) = (0, 0);
        for k in 0..a.customers.len() {
            let index: usize = a.customers[k][1..].parse().unwrap();
            let run = draw_run(&mut Rng::new(5 ^ 0x2B4E_0000, index as u64));
            for (p, q) in c.invoices_of(k).iter().zip(b.invoices_of(k)) {
                assert_eq!((p.invoice_date, p.due_date, p.amount_minor), (q.invoice_date, q.due_date, q.amount_minor));
                if q.paid_date == crate::features::history::OPEN || p.paid_date == crate::features::history::OPEN {
                    continue;
                }
                assert!(hol.is_business_day(q.paid_date), "{} settles on a holiday", a.customers[k]);
                on_holidays_before += usize::from(hol.contains(p.paid_date));
                moved += usize::from(q.paid_date != p.paid_date);
                match run {
                    None => assert_eq!(q.paid_date, hol.business_day(p.paid_date)),
                    // A run moved off a holiday can come earlier than the next regular
                    // one (the 1 January run on the 2nd takes what the 1 February run
                    // would), so only the calendar is checked.
                    Some(r) => assert!(r.is_run_day(q.paid_date, hol), "{} off {r:?}", a.customers[k]),
                }
            }
        }
        assert!(on_holidays_before > 20, "{on_holidays_before} settlements on holidays without them");
        assert!(moved >= on_holidays_before, "{moved}");
    }

    /// With holidays per currency, each invoice settles off its own currency's days
    /// only: USD invoices never on Thanksgiving, while other currencies' do; the table
    /// is written with its currencies and read back.
    #[test]
    fn currency_holidays_close_each_currency_on_its_own_days() {
        let (a, b) = plain_and(|p| GenerateParams { currency_holidays: true, ..p });
        let hol = &b.holidays;
        assert!(hol.days().is_empty(), "no day closes every currency");
        let want = currency_holidays(2022..=2025);
        assert_eq!(hol.currencies().count(), 3);
        for (d, _, c) in &want {
            assert!(hol.of(*c).contains(*d));
        }
        let usd_only: Vec<i32> = us_fed_holidays(2022..=2025)
            .into_iter()
            .map(|h| h.0)
            .filter(|&d| !hol.of(Currency::parse("EUR").unwrap()).contains(d))
            .collect();
        let (mut moved, mut others_on_us_days) = (0, 0);
        for k in 0..a.customers.len() {
            for (p, q) in a.invoices_of(k).iter().zip(b.invoices_of(k)) {
                if q.paid_date == crate::features::history::OPEN || p.paid_date == crate::features::history::OPEN {
                    continue;
                }
                let own = hol.of(q.currency);
                assert!(
                    own.is_business_day(q.paid_date),
                    "{} settles on a {} holiday",
                    a.customers[k],
                    q.currency.as_str()
                );
                assert_eq!(q.paid_date, own.business_day(p.paid_date));
                moved += usize::from(q.paid_date != p.paid_date);
                others_on_us_days += usize::from(q.currency != Currency::USD && usd_only.contains(&q.paid_date));
            }
        }
        assert!(moved > 20 && others_on_us_days > 5, "{moved} moved, {others_on_us_days} settled on US-only days");
    }
}
