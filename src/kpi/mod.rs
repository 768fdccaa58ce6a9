//! Collections KPIs at an as-of date, from what was known then: receivables and their
//! aging, DSO, best possible DSO, average days delinquent, the collection effectiveness
//! index, on-time payment, promises kept and disputes. Amounts stay integer minor units
//! per currency; the portfolio view converts each currency's totals to a base currency
//! (minor units of the base) as the forecast's base view does. Ratios are `f64`.
//!
//! Definitions (window `N` days, default 90; "at t" means invoices issued on or before
//! t, not settled on or before t, less partial payments dated on or before t):
//! - receivables at t: the open amounts at t; aging by days past due at t (current,
//!   1–30, 31–60, 61–90, over 90);
//! - sales: amounts of invoices issued in (t − N, t];
//! - DSO = receivables / sales × N; best possible DSO = current receivables / sales × N;
//!   average days delinquent = DSO − best possible DSO;
//! - CEI = (receivables at t − N + sales − receivables at t) / (receivables at t − N +
//!   sales − current receivables at t) × 100: the share of what could be collected in
//!   the window that was.
//!
//! A trend repeats the portfolio figures at earlier dates (`trend_points` of them,
//! `trend_step_days` apart, oldest first, the as-of date last); every point reads only
//! what was known at it.

use std::collections::BTreeMap;

use rayon::prelude::*;
use serde::Serialize;

use crate::domain::{date_from_days, ActivityKind, Currency};
use crate::features::history::OPEN;
use crate::features::{FxTable, History};

/// Why KPI settings are refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KpiError {
    /// A setting out of range.
    #[error("{field}: {reason}")]
    Invalid {
        /// The setting.
        field: &'static str,
        /// Why.
        reason: String,
    },
}

/// KPI settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct KpiParams {
    /// Days of sales and of collection behaviour behind each figure (1 to 730).
    pub window_days: i32,
    /// Points of the trend, the as-of date included (1 to 60).
    pub trend_points: usize,
    /// Days between trend points (1 to 365).
    pub trend_step_days: i32,
}

impl Default for KpiParams {
    fn default() -> Self {
        KpiParams { window_days: 90, trend_points: 6, trend_step_days: 30 }
    }
}

impl KpiParams {
    /// Checks the ranges.
    ///
    /// # Errors
    /// [`KpiError::Invalid`] naming the first setting out of range.
    pub fn check(&self) -> Result<(), KpiError> {
        let bad = |field, reason: &str| Err(KpiError::Invalid { field, reason: reason.to_string() });
        if !(1..=730).contains(&self.window_days) {
            return bad("window_days", "should be 1 to 730 days");
        }
        if !(1..=60).contains(&self.trend_points) {
            return bad("trend_points", "should be 1 to 60");
        }
        if !(1..=365).contains(&self.trend_step_days) {
            return bad("trend_step_days", "should be 1 to 365 days");
        }
        Ok(())
    }
}

/// Receivables by days past due, minor units.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Aging {
    /// Not yet past due.
    pub current_minor: i64,
    /// 1–30 days past due.
    pub days_1_30_minor: i64,
    /// 31–60 days past due.
    pub days_31_60_minor: i64,
    /// 61–90 days past due.
    pub days_61_90_minor: i64,
    /// More than 90 days past due.
    pub over_90_minor: i64,
}

/// The receivables figures at one date (None where a ratio is undefined: no sales in
/// the window, nothing collectible).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct KpiPoint {
    /// The date.
    pub as_of: String,
    /// Open receivables, minor units.
    pub receivables_minor: i64,
    /// The receivables by days past due.
    pub aging: Aging,
    /// Past-due share of the receivables.
    pub past_due_share: Option<f64>,
    /// Amounts issued in the window ending at the date, minor units.
    pub sales_minor: i64,
    /// Days sales outstanding.
    pub dso_days: Option<f64>,
    /// Best possible DSO (current receivables only).
    pub best_possible_dso_days: Option<f64>,
    /// DSO minus best possible DSO.
    pub average_days_delinquent: Option<f64>,
    /// Collection effectiveness index over the window, percent.
    pub cei_percent: Option<f64>,
}

/// One currency's figures at the as-of date.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct CurrencyKpis {
    /// ISO code.
    pub currency: String,
    /// Its figures, in its minor units.
    pub kpis: KpiPoint,
}

/// How customers paid and kept their word in the window ending at the as-of date.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Collections {
    /// Invoices settled in the window.
    pub settled_invoices: usize,
    /// Share of them settled on or before the due date.
    pub on_time_share: Option<f64>,
    /// Their mean days late (settlement minus due date; negative is early).
    pub mean_days_late: Option<f64>,
    /// Promises to pay whose promised date fell in the window.
    pub promises_due: usize,
    /// Of which the invoice was settled by the promised date.
    pub promises_kept: usize,
    /// `promises_kept / promises_due`.
    pub promise_kept_rate: Option<f64>,
    /// Disputes opened in the window.
    pub disputes_opened: usize,
    /// Invoices open at the as-of date.
    pub open_invoices: usize,
    /// Of which under a dispute opened and not resolved.
    pub open_disputed_invoices: usize,
    /// Customers with a past-due balance at the as-of date.
    pub customers_past_due: usize,
}

/// One collector's book at the as-of date (customers by the `collector` of the
/// customers table; those without one under `None`).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct CollectorKpis {
    /// The collector.
    pub collector: Option<String>,
    /// Customers with invoices.
    pub customers: usize,
    /// Open receivables in the base currency, minor units.
    pub receivables_minor: i64,
    /// Of which past due.
    pub past_due_minor: i64,
    /// `past_due_minor / receivables_minor`.
    pub past_due_share: Option<f64>,
    /// Their collection behaviour in the window, as for the portfolio.
    pub collections: Collections,
}

/// Collections KPIs at an as-of date.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct KpiReport {
    /// The as-of date.
    pub as_of: String,
    /// Settings used.
    pub params: KpiParams,
    /// Currency of the portfolio view and the trend.
    pub base_currency: String,
    /// All currencies converted to the base currency (minor units of the base).
    pub portfolio: KpiPoint,
    /// Per currency, by code.
    pub currencies: Vec<CurrencyKpis>,
    /// Collection behaviour in the window.
    pub collections: Collections,
    /// Per collector, largest past-due amount first.
    pub by_collector: Vec<CollectorKpis>,
    /// The portfolio figures at earlier dates, oldest first, the as-of date last.
    pub trend: Vec<KpiPoint>,
}

/// Balances at one date, minor units: [current, 1–30, 31–60, 61–90, over 90].
type Buckets = [i128; 5];

/// One currency's sums: balances at each evaluation date, sales per trend point.
#[derive(Clone)]
struct Sums {
    at: Vec<Buckets>,
    sales: Vec<i128>,
}

/// Counts and sums of collection behaviour (the ratios are set at the end).
#[derive(Clone, Default)]
struct Counts {
    c: Collections,
    days_late_sum: i64,
    on_time: usize,
}

impl Counts {
    fn add(&mut self, o: &Counts) {
        let (a, b) = (&mut self.c, &o.c);
        a.settled_invoices += b.settled_invoices;
        a.promises_due += b.promises_due;
        a.promises_kept += b.promises_kept;
        a.disputes_opened += b.disputes_opened;
        a.open_invoices += b.open_invoices;
        a.open_disputed_invoices += b.open_disputed_invoices;
        a.customers_past_due += b.customers_past_due;
        self.days_late_sum += o.days_late_sum;
        self.on_time += o.on_time;
    }

    fn finish(&self) -> Collections {
        let mut c = self.c.clone();
        let settled = c.settled_invoices as f64;
        c.on_time_share = ratio(self.on_time as f64, settled);
        c.mean_days_late = ratio(self.days_late_sum as f64, settled);
        c.promise_kept_rate = ratio(c.promises_kept as f64, c.promises_due as f64);
        c
    }
}

/// One collector's sums: customers, behaviour, and per currency the open and the
/// past-due amounts at the as-of date.
#[derive(Clone, Default)]
struct CollectorAcc {
    customers: usize,
    counts: Counts,
    open: BTreeMap<Currency, [i128; 2]>,
}

/// Sums over a set of customers, merged across threads.
#[derive(Clone, Default)]
struct Acc {
    by_currency: BTreeMap<Currency, Sums>,
    counts: Counts,
    by_collector: BTreeMap<Option<String>, CollectorAcc>,
}

/// The evaluation dates: each trend point and the start of its window.
struct Plan {
    points: Vec<i32>,
    dates: Vec<i32>,
    window: i32,
}

impl Plan {
    fn new(d: i32, p: &KpiParams) -> Plan {
        let points: Vec<i32> = (0..p.trend_points).rev().map(|k| d - k as i32 * p.trend_step_days).collect();
        let mut dates: Vec<i32> = points.iter().flat_map(|&t| [t, t - p.window_days]).collect();
        dates.sort_unstable();
        dates.dedup();
        Plan { points, dates, window: p.window_days }
    }

    fn date_index(&self, t: i32) -> usize {
        self.dates.binary_search(&t).expect("every point and window start is an evaluation date")
    }
}

fn bucket(days_past_due: i32) -> usize {
    match days_past_due {
        i32::MIN..=0 => 0,
        1..=30 => 1,
        31..=60 => 2,
        61..=90 => 3,
        _ => 4,
    }
}

impl Acc {
    /// Adds customer `c` of `h`, at the plan's dates (all on or before `h.as_of`).
    fn add(&mut self, h: &History, c: usize, plan: &Plan) {
        let d = *plan.points.last().expect("at least one point");
        let invs = h.invoices_of(c);
        if invs.is_empty() {
            return;
        }
        let mut n = Counts::default();
        let mut open_at_d: BTreeMap<Currency, [i128; 2]> = BTreeMap::new();
        // Partial payments applied to this customer's invoices: (invoice, date, amount).
        let mut pays: Vec<(usize, i32, i64)> = h.payments[h.pay_offsets[c]..h.pay_offsets[c + 1]]
            .iter()
            .filter_map(|e| Some((h.local_pos(c, e.pos)?, e.date, e.amount_minor)))
            .collect();
        pays.sort_unstable_by_key(|p| (p.0, p.1));
        // Disputes opened and resolved, per invoice, by the as-of date.
        let mut disputed = vec![(false, false); invs.len()];
        for e in &h.activities[h.act_offsets[c]..h.act_offsets[c + 1]] {
            if e.date > d {
                continue;
            }
            let local = h.local_pos(c, e.pos);
            let in_window = |t: i32| t > d - plan.window && t <= d;
            match e.kind {
                ActivityKind::PromiseToPay => {
                    if let Some(i) = local.filter(|_| in_window(e.promised)) {
                        n.c.promises_due += 1;
                        if invs[i].paid_date <= e.promised {
                            n.c.promises_kept += 1;
                        }
                    }
                }
                ActivityKind::DisputeOpened => {
                    if in_window(e.date) {
                        n.c.disputes_opened += 1;
                    }
                    if let Some(i) = local {
                        disputed[i].0 = true;
                    }
                }
                ActivityKind::DisputeResolved => {
                    if let Some(i) = local {
                        disputed[i].1 = true;
                    }
                }
                _ => {}
            }
        }
        let mut past_due = false;
        let mut p = 0;
        for (i, inv) in invs.iter().enumerate() {
            while p < pays.len() && pays[p].0 < i {
                p += 1;
            }
            let first = p;
            while p < pays.len() && pays[p].0 == i {
                p += 1;
            }
            let mine = &pays[first..p];
            let sums = self
                .by_currency
                .entry(inv.currency)
                .or_insert_with(|| Sums { at: vec![[0; 5]; plan.dates.len()], sales: vec![0; plan.points.len()] });
            for (k, &t) in plan.dates.iter().enumerate() {
                if inv.invoice_date > t || inv.paid_date <= t {
                    continue;
                }
                let received: i64 = mine.iter().filter(|q| q.1 <= t).map(|q| q.2).sum();
                let open = (inv.amount_minor - received).max(0);
                if open > 0 {
                    let b = bucket(t - inv.due_date);
                    sums.at[k][b] += i128::from(open);
                    if t == d {
                        let o = open_at_d.entry(inv.currency).or_default();
                        o[0] += i128::from(open);
                        if b > 0 {
                            o[1] += i128::from(open);
                            past_due = true;
                        }
                    }
                }
            }
            for (k, &t) in plan.points.iter().enumerate() {
                if inv.invoice_date > t - plan.window && inv.invoice_date <= t {
                    sums.sales[k] += i128::from(inv.amount_minor);
                }
            }
            if inv.paid_date != OPEN && inv.paid_date > d - plan.window && inv.paid_date <= d {
                n.c.settled_invoices += 1;
                n.days_late_sum += i64::from(inv.paid_day() - inv.due_date);
                n.on_time += usize::from(inv.paid_day() <= inv.due_date);
            }
            if inv.invoice_date <= d && inv.paid_date > d {
                n.c.open_invoices += 1;
                if disputed[i].0 && !disputed[i].1 {
                    n.c.open_disputed_invoices += 1;
                }
            }
        }
        n.c.customers_past_due += usize::from(past_due);
        self.counts.add(&n);
        let col = self.by_collector.entry(h.master.get(c).and_then(|m| m.collector.clone())).or_default();
        col.customers += 1;
        col.counts.add(&n);
        for (cur, v) in open_at_d {
            let o = col.open.entry(cur).or_default();
            o[0] += v[0];
            o[1] += v[1];
        }
    }

    fn merge(mut self, other: Acc) -> Acc {
        for (cur, s) in other.by_currency {
            match self.by_currency.get_mut(&cur) {
                Some(mine) => {
                    for (a, b) in mine.at.iter_mut().zip(&s.at) {
                        for (x, y) in a.iter_mut().zip(b) {
                            *x += y;
                        }
                    }
                    for (a, b) in mine.sales.iter_mut().zip(&s.sales) {
                        *a += b;
                    }
                }
                None => {
                    self.by_currency.insert(cur, s);
                }
            }
        }
        self.counts.add(&other.counts);
        for (name, o) in other.by_collector {
            let mine = self.by_collector.entry(name).or_default();
            mine.customers += o.customers;
            mine.counts.add(&o.counts);
            for (cur, v) in o.open {
                let m = mine.open.entry(cur).or_default();
                m[0] += v[0];
                m[1] += v[1];
            }
        }
        self
    }
}

fn ratio(a: f64, b: f64) -> Option<f64> {
    (b > 0.0).then(|| a / b)
}

/// The figures at point `k` of the plan from balances and sales in one unit.
fn point(plan: &Plan, k: usize, at: &[[f64; 5]], sales: f64) -> KpiPoint {
    let t = plan.points[k];
    let now = at[plan.date_index(t)];
    let before: f64 = at[plan.date_index(t - plan.window)].iter().sum();
    let total: f64 = now.iter().sum();
    let current = now[0];
    let n = f64::from(plan.window);
    let dso = ratio(total * n, sales);
    let best = ratio(current * n, sales);
    let round = |v: f64| v.round() as i64;
    KpiPoint {
        as_of: date_from_days(t).map(|x| x.to_string()).unwrap_or_default(),
        receivables_minor: round(total),
        aging: Aging {
            current_minor: round(now[0]),
            days_1_30_minor: round(now[1]),
            days_31_60_minor: round(now[2]),
            days_61_90_minor: round(now[3]),
            over_90_minor: round(now[4]),
        },
        past_due_share: ratio(total - current, total),
        sales_minor: round(sales),
        dso_days: dso,
        best_possible_dso_days: best,
        average_days_delinquent: dso.zip(best).map(|(a, b)| a - b),
        cei_percent: ratio(before + sales - total, before + sales - current).map(|v| v * 100.0),
    }
}

/// KPIs at `d` over every customer of `h` (`d` on or before `h.as_of`).
///
/// # Errors
/// [`KpiError::Invalid`] for settings out of range.
pub fn kpis(h: &History, d: i32, fx: &FxTable, p: &KpiParams) -> Result<KpiReport, KpiError> {
    kpis_over((0..h.customers.len()).into_par_iter().map(|c| (h, c)), d, fx, p)
}

/// KPIs at `d` over the given (history, customer) pairs: the service passes each
/// customer's latest ledger (the loaded history, or the one events rebuilt).
///
/// # Errors
/// [`KpiError::Invalid`] for settings out of range.
pub fn kpis_over<'a>(
    customers: impl ParallelIterator<Item = (&'a History, usize)>,
    d: i32,
    fx: &FxTable,
    p: &KpiParams,
) -> Result<KpiReport, KpiError> {
    p.check()?;
    let plan = Plan::new(d, p);
    let acc = customers
        .fold(Acc::default, |mut acc, (h, c)| {
            acc.add(h, c, &plan);
            acc
        })
        .reduce(Acc::default, Acc::merge);
    // Base-currency minor units per minor unit of a currency.
    let scale = |cur: Currency| {
        fx.to_base(cur.minor_per_major(), cur) * fx.base.minor_per_major() as f64 / cur.minor_per_major() as f64
    };
    let mut base_at = vec![[0.0; 5]; plan.dates.len()];
    let mut base_sales = vec![0.0; plan.points.len()];
    let last = plan.points.len() - 1;
    let mut currencies = Vec::new();
    for (&cur, s) in &acc.by_currency {
        let scale = scale(cur);
        let at: Vec<[f64; 5]> = s.at.iter().map(|b| b.map(|v| v as f64)).collect();
        currencies.push(CurrencyKpis {
            currency: cur.as_str().to_string(),
            kpis: point(&plan, last, &at, s.sales[last] as f64),
        });
        for (a, b) in base_at.iter_mut().zip(&at) {
            for (x, y) in a.iter_mut().zip(b) {
                *x += y * scale;
            }
        }
        for (a, b) in base_sales.iter_mut().zip(&s.sales) {
            *a += *b as f64 * scale;
        }
    }
    let trend: Vec<KpiPoint> = (0..plan.points.len()).map(|k| point(&plan, k, &base_at, base_sales[k])).collect();
    let mut by_collector: Vec<CollectorKpis> = acc
        .by_collector
        .into_iter()
        .map(|(collector, a)| {
            let (open, due) = a
                .open
                .iter()
                .fold((0.0, 0.0), |(o, p), (&cur, v)| (o + v[0] as f64 * scale(cur), p + v[1] as f64 * scale(cur)));
            CollectorKpis {
                collector,
                customers: a.customers,
                receivables_minor: open.round() as i64,
                past_due_minor: due.round() as i64,
                past_due_share: ratio(due, open),
                collections: a.counts.finish(),
            }
        })
        .collect();
    by_collector.sort_by(|a, b| b.past_due_minor.cmp(&a.past_due_minor).then_with(|| a.collector.cmp(&b.collector)));
    Ok(KpiReport {
        as_of: date_from_days(d).map(|x| x.to_string()).unwrap_or_default(),
        params: *p,
        base_currency: fx.base.as_str().to_string(),
        portfolio: trend[last].clone(),
        currencies,
        collections: acc.counts.finish(),
        by_collector,
        trend,
    })
}

impl KpiReport {
    /// The report as Markdown tables (the CLI prints this).
    pub fn markdown(&self) -> String {
        let opt = |v: Option<f64>, digits: usize| v.map_or("—".to_string(), |x| format!("{x:.digits$}"));
        let pct = |v: Option<f64>| v.map_or("—".to_string(), |x| format!("{:.1}%", x * 100.0));
        let mut s = format!(
            "Collections KPIs at {} ({}-day window; portfolio in {})\n\n\
             | view | receivables | past due | DSO d | best possible DSO d | avg days delinquent | CEI % |\n\
             |---|---:|---:|---:|---:|---:|---:|\n",
            self.as_of, self.params.window_days, self.base_currency
        );
        let row = |name: &str, p: &KpiPoint, digits: u32| {
            format!(
                "| {name} | {} | {} | {} | {} | {} | {} |\n",
                major(p.receivables_minor, digits),
                pct(p.past_due_share),
                opt(p.dso_days, 1),
                opt(p.best_possible_dso_days, 1),
                opt(p.average_days_delinquent, 1),
                opt(p.cei_percent, 1)
            )
        };
        let base_digits = Currency::parse(&self.base_currency).map_or(2, |c| c.minor_digits());
        s.push_str(&row(&format!("portfolio ({})", self.base_currency), &self.portfolio, base_digits));
        for c in &self.currencies {
            let digits = Currency::parse(&c.currency).map_or(2, |c| c.minor_digits());
            s.push_str(&row(&c.currency, &c.kpis, digits));
        }
        s.push_str(&format!(
            "\nTrend, portfolio ({}):\n\n| date | current | 1–30 | 31–60 | 61–90 | over 90 | DSO d | CEI % |\n|---|---:|---:|---:|---:|---:|---:|---:|\n",
            self.base_currency
        ));
        for p in &self.trend {
            let a = &p.aging;
            s.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {} | {} |\n",
                p.as_of,
                major(a.current_minor, base_digits),
                major(a.days_1_30_minor, base_digits),
                major(a.days_31_60_minor, base_digits),
                major(a.days_61_90_minor, base_digits),
                major(a.over_90_minor, base_digits),
                opt(p.dso_days, 1),
                opt(p.cei_percent, 1)
            ));
        }
        s.push_str(&format!(
            "\nBy collector ({}):\n\n| collector | customers | receivables | past due | past due % | customers past due | promises kept | open disputes |\n|---|---:|---:|---:|---:|---:|---:|---:|\n",
            self.base_currency
        ));
        for k in &self.by_collector {
            s.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {} of {} | {} |\n",
                k.collector.as_deref().unwrap_or("(none)"),
                k.customers,
                major(k.receivables_minor, base_digits),
                major(k.past_due_minor, base_digits),
                pct(k.past_due_share),
                k.collections.customers_past_due,
                k.collections.promises_kept,
                k.collections.promises_due,
                k.collections.open_disputed_invoices
            ));
        }
        let c = &self.collections;
        s.push_str(&format!(
            "\nIn the window: {} invoices settled, {} on time, mean days late {}; promises kept {} of {} ({}); \
             {} disputes opened. At the date: {} open invoices, {} under an open dispute, {} customers past due.\n",
            c.settled_invoices,
            pct(c.on_time_share),
            opt(c.mean_days_late, 1),
            c.promises_kept,
            c.promises_due,
            pct(c.promise_kept_rate),
            c.disputes_opened,
            c.open_invoices,
            c.open_disputed_invoices,
            c.customers_past_due
        ));
        s
    }
}

/// Minor units as major units with thousands separators, no decimals.
fn major(minor: i64, digits: u32) -> String {
    let v = (minor as f64 / 10f64.powi(digits as i32)).round() as i64;
    let text = v.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, ch) in text.chars().enumerate() {
        if i > 0 && (text.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    if v < 0 {
        format!("-{out}")
    } else {
        out
    }
}

#[cfg(test)]
mod tests;
