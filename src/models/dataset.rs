//! Model inputs and labels, built point-in-time from a loaded [`History`].
//!
//! A training row is an invoice with the features known on its issue date (the
//! customer's history up to that day); a scoring row is an invoice open at the
//! as-of date with the features known then. Labels are only what is decidable at
//! the training date `d`: a settlement dated after `d` is unknown, but an invoice
//! still unpaid more than N days past due at `d` is known to be more than N days late.

use ndarray::Array2;
use rayon::prelude::*;

use crate::features::catalogue::{CUSTOMER_FEATURES, INVOICE_FEATURES};
use crate::features::customer_at;
use crate::features::history::History;
use crate::features::invoice_values;
use crate::rng::splitmix64;

/// Number of model inputs (customer vector + invoice features).
pub const N_MODEL_FEATURES: usize = CUSTOMER_FEATURES.len() + INVOICE_FEATURES.len();

/// Model input names: `cust.<name>` then `inv.<name>`, in column order.
pub fn model_feature_names() -> Vec<String> {
    CUSTOMER_FEATURES
        .iter()
        .map(|f| format!("cust.{}", f.0))
        .chain(INVOICE_FEATURES.iter().map(|f| format!("inv.{}", f.0)))
        .collect()
}

/// Rows of model inputs with what is known about each invoice.
#[derive(Debug, Clone)]
pub struct Rows {
    /// Inputs, one row per invoice.
    pub x: Array2<f64>,
    /// Invoice position in `History::invoices`.
    pub pos: Vec<usize>,
    /// Customer index.
    pub cust: Vec<usize>,
    /// Issue day.
    pub invoice_date: Vec<i32>,
    /// Due day.
    pub due_date: Vec<i32>,
    /// Settlement day ([`crate::features::history::Inv::paid_day`]) if known at the
    /// rows' date, else `i32::MAX`.
    pub paid_date: Vec<i32>,
    /// Amount in base currency (model input scale).
    pub amount_base: Vec<f64>,
    /// Amount in minor units and currency, for cash figures.
    pub amount_minor: Vec<(i64, crate::domain::Currency)>,
    /// Minor units received by the rows' date (payments table; 0 without one).
    pub received_minor: Vec<i64>,
    /// The payment-run calendar the customer's settlements follow at the rows' date
    /// (the issue date for training rows).
    pub run: Vec<Option<crate::domain::PaymentRun>>,
}

impl Rows {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.pos.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.pos.is_empty()
    }

    /// Days late (`paid − due`) where settled, NaN otherwise.
    pub fn late_days(&self) -> Vec<f64> {
        self.paid_date
            .iter()
            .zip(&self.due_date)
            .map(|(&p, &d)| if p == i32::MAX { f64::NAN } else { f64::from(p - d) })
            .collect()
    }

    /// "More than `days` late" where decidable at `d`: settled, or still unpaid at
    /// `d` more than `days` past due.
    pub fn late_beyond(&self, days: i32, d: i32) -> Vec<Option<bool>> {
        self.paid_date
            .iter()
            .zip(&self.due_date)
            .map(|(&p, &due)| {
                if p != i32::MAX {
                    Some(p > due + days)
                } else if d > due + days {
                    Some(true)
                } else {
                    None
                }
            })
            .collect()
    }
}

struct Part {
    x: Vec<f64>,
    pos: Vec<usize>,
    cust: Vec<usize>,
    received: Vec<i64>,
    run: Vec<Option<crate::domain::PaymentRun>>,
}

impl Part {
    fn new(rows: usize) -> Part {
        Part {
            x: Vec::with_capacity(rows * N_MODEL_FEATURES),
            pos: Vec::new(),
            cust: Vec::new(),
            received: Vec::new(),
            run: Vec::new(),
        }
    }
}

fn assemble(h: &History, parts: Vec<Part>, d: i32) -> Rows {
    let n: usize = parts.iter().map(|p| p.pos.len()).sum();
    let mut flat = Vec::with_capacity(n * N_MODEL_FEATURES);
    let (mut pos, mut cust, mut received) = (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
    let mut run = Vec::with_capacity(n);
    for p in parts {
        flat.extend(p.x);
        pos.extend(p.pos);
        cust.extend(p.cust);
        received.extend(p.received);
        run.extend(p.run);
    }
    let inv = |p: &usize| h.invoices[*p];
    Rows {
        x: Array2::from_shape_vec((n, N_MODEL_FEATURES), flat).expect("rows of equal width"),
        invoice_date: pos.iter().map(|p| inv(p).invoice_date).collect(),
        due_date: pos.iter().map(|p| inv(p).due_date).collect(),
        paid_date: pos.iter().map(|p| inv(p).paid_day_by(d)).collect(),
        amount_base: pos.iter().map(|p| inv(p).amount_base).collect(),
        amount_minor: pos.iter().map(|p| (inv(p).amount_minor, inv(p).currency)).collect(),
        received_minor: received,
        run,
        pos,
        cust,
    }
}

/// Training rows at `d`: every invoice issued on or before `d`, with the features
/// known on its issue date (so never anything after `d`). Where more than `max_rows`
/// were issued (0: no limit), a seeded sample of about `max_rows` of them over the
/// whole history, each invoice in or out by a hash of its id: the same invoice at every
/// as-of date, and the same sample from any load of the ledger that holds `d` (see
/// [`RowSample`]).
pub fn training_rows(h: &History, d: i32, max_rows: usize) -> Rows {
    let issued = if max_rows == 0 { 0 } else { h.invoices.iter().filter(|r| r.invoice_date <= d).count() };
    let sample = RowSample::new(h, issued, max_rows, TRAINING_SALT);
    let parts: Vec<Part> = (0..h.customers.len())
        .into_par_iter()
        .map(|c| {
            let invs = h.invoices_of(c);
            let k = invs.partition_point(|r| r.invoice_date <= d);
            let mut part = Part::new(k);
            let mut i = 0;
            while i < k {
                let t = invs[i].invoice_date;
                let end = i + invs[i..k].partition_point(|r| r.invoice_date == t);
                let kept = (i..end).filter(|&j| sample.keeps(h.offsets[c] + j));
                // The customer's features on `t` only where an invoice of that day is kept.
                if kept.clone().next().is_some() {
                    let at = customer_at(h, c, t);
                    for j in kept {
                        part.x.extend_from_slice(&at.vector);
                        part.x.extend_from_slice(&invoice_values(&at, j));
                        part.pos.push(h.offsets[c] + j);
                        part.cust.push(c);
                        part.received.push(at.sides[j].paid_minor);
                        part.run.push(at.run);
                    }
                }
                i = end;
            }
            part
        })
        .collect();
    assemble(h, parts, d)
}

/// Mixed into the training rows' sample keys (the snapshots mix in their day).
const TRAINING_SALT: u64 = 0x005E_ED0F_7EA1_u64;

/// Scoring rows at `d`: invoices open at `d` (issued on or before it, not settled
/// by it) that `keep` selects: the customer vector known at `d`, invoice inputs as
/// on the issue date (as in training).
pub fn scoring_rows(h: &History, d: i32, keep: impl Fn(usize) -> bool + Sync) -> Rows {
    open_rows(h, d, InvoiceView::AtIssue, keep)
}

/// Which date the invoice inputs of an open-invoice row describe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvoiceView {
    /// As on the issue date (payment-date model).
    AtIssue,
    /// As on the row's date: age, days past due, partial payments, disputes, promises
    /// (remaining-time model).
    AtDate,
}

/// Which snapshots the remaining-time model learns from: every `step` days back from
/// the newest whose outcome is known, at most `max_snapshots` of them, and no more once
/// `max_rows` rows are taken (a small ledger gets two years of weekly snapshots, a
/// large one at least `min_snapshots` of them, each a sample of its open invoices: see
/// [`snapshot_rows`] and [`snapshot_sample`]). `arsight train` and `arsight backtest` share the
/// default, so the backtest measures the model that training ships.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SnapshotPlan {
    /// Days between snapshots.
    pub step: i32,
    /// Most snapshots.
    pub max_snapshots: usize,
    /// Rows after which no older snapshot is added.
    pub max_rows: usize,
    /// Recalibrate the model's distributions by how they did on the snapshots newer
    /// than its newest (see [`super::copula::LevelMap`]; plans saved before this
    /// setting read as on).
    #[serde(default = "on_by_default")]
    pub recalibrate: bool,
    /// Widen the cash forecast's weekly intervals by how its weekly totals missed on the
    /// newest weeks (see [`super::copula::week_spread`]; plans saved before this setting
    /// read as on).
    #[serde(default = "on_by_default")]
    pub week_spread: bool,
    /// Fit the cash model on the days after the later of the snapshot date and the
    /// due date (an invoice not yet due: its days past the due date; one past due: its
    /// days until payment), not on the days after the snapshot date; the due date is
    /// added back when it predicts (see [`super::copula::remaining_quantiles`]; plans
    /// saved before this setting read as off, as they were fitted).
    #[serde(default)]
    pub from_due: bool,
    /// Snapshots the row budget should afford at least: a snapshot with more than
    /// `max_rows / min_snapshots` open invoices takes a seeded sample of that many of
    /// them (see [`snapshot_sample`]); 0 takes every open invoice (plans saved before
    /// this setting read as 0, as they were fitted).
    #[serde(default)]
    pub min_snapshots: usize,
    /// Scale each week of the cash forecast by how far its weekly totals fell short of,
    /// or ran over, what arrived on the newest weeks, week by week of the horizon (see
    /// [`super::copula::week_bias`]; plans saved before this setting read as off, as
    /// they were fitted).
    #[serde(default)]
    pub week_bias: bool,
}

fn on_by_default() -> bool {
    true
}

impl Default for SnapshotPlan {
    fn default() -> Self {
        SnapshotPlan {
            step: 7,
            max_snapshots: 104,
            max_rows: 150_000,
            recalibrate: true,
            week_spread: true,
            from_due: true,
            min_snapshots: 26,
            week_bias: true,
        }
    }
}

/// The snapshot days newer than the cash model's newest training snapshot (`d −
/// horizon`), every `plan.step` days, the newest first: where that model is scored out
/// of sample (the level map and the forecast's weekly spread read these).
pub fn newest_snapshot_days(d: i32, horizon: i32, plan: SnapshotPlan) -> impl Iterator<Item = i32> {
    let step = plan.step.max(1);
    (1..).map(move |k| d - k * step).take_while(move |&s| s > d - horizon)
}

/// Snapshot rows for the remaining-time model: invoices open at snapshot dates
/// `s = d − horizon − step·j` (back to the first invoice, within `plan`'s limits),
/// with inputs as known at `s` and label `min(paid − s, horizon + 1)`, always known
/// at `d` because `s + horizon ≤ d`. A snapshot with more open invoices than
/// `plan.max_rows / plan.min_snapshots` reads a sample of that many
/// ([`snapshot_sample`]), so a ledger with 60,000 open invoices gets 26 weekly
/// snapshots of about 5,800 rows, not two or three of every invoice. Where the row
/// budget still affords fewer snapshots than fit in a horizon at `plan.step` (a plan
/// without a minimum), the step is widened (in whole `plan.step`s, so the snapshots
/// keep their weekday) until they span one, not a few weeks in a row at one point of
/// the month and quarter.
pub fn snapshot_rows(h: &History, d: i32, horizon: i32, plan: SnapshotPlan) -> (Rows, Vec<f64>, Vec<i32>) {
    let first = h.invoices.iter().map(|r| r.invoice_date).min().unwrap_or(d);
    let mut parts = Vec::new();
    let mut labels = Vec::new();
    let mut days = Vec::new();
    let mut s = d - horizon;
    let mut step = plan.step.max(1);
    while s >= first && parts.len() < plan.max_snapshots && labels.len() < plan.max_rows {
        let sample = snapshot_sample(h, s, plan);
        let rows = open_rows(h, s, InvoiceView::AtDate, |p| sample.keeps(p));
        if parts.is_empty() && !rows.is_empty() {
            step = spread_step(plan, rows.len(), horizon);
        }
        labels.extend(rows.pos.iter().map(|&p| {
            let paid = h.invoices[p].paid_day_after(s);
            if paid <= s + horizon {
                f64::from(paid - s)
            } else {
                f64::from(horizon + 1)
            }
        }));
        days.extend(std::iter::repeat_n(s, rows.len()));
        parts.push(rows);
        s -= step;
    }
    (concat(parts), labels, days)
}

/// Days between training snapshots of `per_snapshot` rows: `plan.step`, or the least
/// multiple of it with which the snapshots the row budget affords span `horizon` days.
fn spread_step(plan: SnapshotPlan, per_snapshot: usize, horizon: i32) -> i32 {
    let step = plan.step.max(1);
    let afford = (plan.max_rows / per_snapshot.max(1)).max(1);
    // Days between snapshots: at most `horizon`.
    let needed = (horizon.max(1) as usize).div_ceil(afford) as i32;
    step * ((needed + step - 1) / step).max(1)
}

/// A seeded sample of a ledger's invoices: each in or out by a hash of its id
/// ([`crate::features::history::Inv::key`]) and a salt, so the same invoices from any
/// load of the ledger that holds them (see [`training_rows`], [`snapshot_sample`]).
pub struct RowSample<'a> {
    h: &'a History,
    /// Invoices whose key is below this are read (`u64::MAX`: every one).
    below: u64,
    /// Mixed into every key.
    salt: u64,
}

impl<'a> RowSample<'a> {
    /// About `cap` of `n` invoices (every one where `n ≤ cap` or `cap` is 0).
    fn new(h: &'a History, n: usize, cap: usize, salt: u64) -> Self {
        let below = if cap > 0 && n > cap { (cap as f64 / n as f64 * u64::MAX as f64) as u64 } else { u64::MAX };
        RowSample { h, below, salt: splitmix64(salt) }
    }

    /// Whether the invoice at position `p` of `History::invoices` is read.
    pub fn keeps(&self, p: usize) -> bool {
        self.below == u64::MAX || splitmix64(self.h.invoices[p].key ^ self.salt) < self.below
    }
}

/// The open invoices at snapshot `s` the cash model reads: every one, or, where there
/// are more than `plan.max_rows / plan.min_snapshots`, a sample of about that many
/// ([`RowSample`], salted with `s`: a different sample at each snapshot).
pub fn snapshot_sample(h: &History, s: i32, plan: SnapshotPlan) -> RowSample<'_> {
    if plan.min_snapshots == 0 {
        return RowSample::new(h, 0, 0, 0);
    }
    let cap = (plan.max_rows / plan.min_snapshots).max(1);
    let open = h.invoices.iter().filter(|r| r.invoice_date <= s && r.paid_date > s).count();
    RowSample::new(h, open, cap, u64::from(s as u32) << 32)
}

fn concat(parts: Vec<Rows>) -> Rows {
    let n: usize = parts.iter().map(Rows::len).sum();
    let mut flat = Vec::with_capacity(n * N_MODEL_FEATURES);
    let mut out = Rows {
        x: Array2::zeros((0, N_MODEL_FEATURES)),
        pos: Vec::new(),
        cust: Vec::new(),
        invoice_date: Vec::new(),
        due_date: Vec::new(),
        paid_date: Vec::new(),
        amount_base: Vec::new(),
        amount_minor: Vec::new(),
        received_minor: Vec::new(),
        run: Vec::new(),
    };
    for p in parts {
        flat.extend(p.x.iter());
        out.pos.extend(p.pos);
        out.cust.extend(p.cust);
        out.invoice_date.extend(p.invoice_date);
        out.due_date.extend(p.due_date);
        out.paid_date.extend(p.paid_date);
        out.amount_base.extend(p.amount_base);
        out.amount_minor.extend(p.amount_minor);
        out.received_minor.extend(p.received_minor);
        out.run.extend(p.run);
    }
    out.x = Array2::from_shape_vec((n, N_MODEL_FEATURES), flat).expect("rows of equal width");
    out
}

/// How the invoices open at `d` are read where the data tell settlements only through
/// `through ≤ d` ([`History::known_through`], open-items listings): in parts, in this
/// order, each the day it is read at (its origin, from which its remaining days count)
/// and which invoices it takes (by position in `h`): those issued by `through`, as they
/// were then, and those issued after it, as at `d`; neither takes an invoice known
/// settled by `d` (an event posted since the listing can tell one). One part, at `d`,
/// where `through` is `d`.
pub fn known_parts(h: &History, d: i32, through: i32) -> Vec<(i32, impl Fn(usize) -> bool + Sync + Copy + '_)> {
    let part = move |at: i32, issued_by: bool| {
        (at, move |p: usize| {
            let r = &h.invoices[p];
            (r.invoice_date <= through) == issued_by && r.paid_date > d
        })
    };
    if through < d {
        vec![part(through, true), part(d, false)]
    } else {
        vec![part(d, true)]
    }
}

/// The invoices open at `d` as the cash forecast reads them ([`known_parts`], inputs
/// as [`InvoiceView::AtDate`]), with each row's origin. Where `through` is `d`:
/// [`open_rows`] at `d`.
pub fn open_rows_known(h: &History, d: i32, through: i32) -> (Rows, Vec<i32>) {
    let (mut parts, mut origin) = (Vec::new(), Vec::new());
    for (at, keep) in known_parts(h, d, through) {
        let rows = open_rows(h, at, InvoiceView::AtDate, keep);
        origin.extend(std::iter::repeat_n(at, rows.len()));
        parts.push(rows);
    }
    let rows = if parts.len() == 1 { parts.pop().expect("one part") } else { concat(parts) };
    (rows, origin)
}

/// Open-invoice rows at `d` with the invoice inputs of `view`.
pub fn open_rows(h: &History, d: i32, view: InvoiceView, keep: impl Fn(usize) -> bool + Sync) -> Rows {
    let parts: Vec<Part> = (0..h.customers.len())
        .into_par_iter()
        .map(|c| {
            let mut part = Part::new(0);
            let all = h.invoices_of(c);
            let any =
                all.iter().enumerate().any(|(i, r)| r.invoice_date <= d && r.paid_date > d && keep(h.offsets[c] + i));
            if !any {
                return part;
            }
            let at = customer_at(h, c, d);
            // Invoice inputs are taken as on the issue date, as in training: the model
            // never saw "already overdue" rows; elapsed time is handled by conditioning
            // the predicted distribution on "not paid by d".
            let mut issue_state: Option<(i32, crate::features::CustomerAt<'_>)> = None;
            for i in 0..at.invs.len() {
                let pos = h.offsets[c] + i;
                if at.invs[i].paid_date > d && keep(pos) {
                    let t = at.invs[i].invoice_date;
                    part.x.extend_from_slice(&at.vector);
                    if view == InvoiceView::AtDate {
                        part.x.extend_from_slice(&invoice_values(&at, i));
                    } else {
                        if issue_state.as_ref().is_none_or(|(u, _)| *u != t) {
                            issue_state = Some((t, customer_at(h, c, t)));
                        }
                        let (_, at_issue) = issue_state.as_ref().expect("set above");
                        part.x.extend_from_slice(&invoice_values(at_issue, i));
                    }
                    part.pos.push(pos);
                    part.cust.push(c);
                    part.received.push(at.sides[i].paid_minor);
                    part.run.push(at.run);
                }
            }
            part
        })
        .collect();
    assemble(h, parts, d)
}

/// Index of a model input by name.
///
/// # Panics
/// When the name is not a model input (a programming error).
pub fn feature_index(name: &str) -> usize {
    model_feature_names().iter().position(|n| n == name).unwrap_or_else(|| panic!("no model feature {name}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::days_from_date;
    use crate::features::{load_history, FxTable};
    use crate::fixtures::{full_history, generated_dir};
    use crate::ingest::InvoiceReadOptions;

    fn same(a: &Array2<f64>, b: &Array2<f64>) -> bool {
        a.shape() == b.shape()
            && a.iter().zip(b.iter()).all(|(x, y)| x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()))
    }

    /// On weekly open-items listings the data tell settlements through the last
    /// listing's day: a date between listings reads the invoices issued by then as
    /// they were then, the ones issued since as at the date, and no others.
    #[test]
    fn between_listings_open_invoices_are_read_as_of_the_last_listing() {
        let src = generated_dir(40, 1_500, "2024-01-01", "2024-06-30", 3);
        let dst = tempfile::tempdir().unwrap();
        crate::fixtures::open_items_listings(src.path(), dst.path(), 7);
        let (h, plain) = (full_history(dst.path()), full_history(src.path()));
        let days = &h.listing_days;
        assert!(days.len() > 20 && days.windows(2).all(|w| w[1] - w[0] == 7), "{days:?}");
        assert_eq!((h.listing_reach(), plain.listing_reach()), (6, 0));
        let l = days[12];
        for (d, through) in [(l, l), (l + 3, l), (l + 6, l), (l + 7, l + 7), (days[0] - 1, days[0] - 1)] {
            assert_eq!(h.known_through(d), through, "{d}");
            assert_eq!(plain.known_through(d), d);
        }
        let d = l + 3;
        let (rows, origin) = open_rows_known(&h, d, l);
        let then = open_rows(&h, l, InvoiceView::AtDate, |_| true);
        let n = then.len();
        assert!(n > 100 && rows.len() > n, "{n} then, {} now", rows.len());
        assert_eq!(&rows.pos[..n], &then.pos[..]);
        assert!(same(&rows.x.slice(ndarray::s![..n, ..]).to_owned(), &then.x));
        assert!(origin[..n].iter().all(|&o| o == l) && origin[n..].iter().all(|&o| o == d));
        assert!(rows.invoice_date[n..].iter().all(|&t| t > l && t <= d));
        // The same invoices as open at the date by what is known then.
        let mut known: Vec<usize> = open_rows(&h, d, InvoiceView::AtDate, |_| true).pos;
        let mut read = rows.pos.clone();
        known.sort_unstable();
        read.sort_unstable();
        assert_eq!(read, known);
        // Data that run to the date: the rows at the date.
        let (rows, origin) = open_rows_known(&plain, d, d);
        assert_eq!(rows.pos, open_rows(&plain, d, InvoiceView::AtDate, |_| true).pos);
        assert!(origin.iter().all(|&o| o == d));
    }

    /// A row budget keeps the newest snapshots: it stops after the snapshot that
    /// reaches it, and those snapshots are the newest of the unlimited plan. Where it
    /// affords fewer than a horizon holds at the plan's step (a plan without a minimum
    /// of snapshots), they are spread over one
    /// (here one snapshot's rows and one more: the second a horizon, 13 weeks, back).
    #[test]
    fn the_row_budget_keeps_the_newest_snapshots() {
        let dir = generated_dir(40, 3_000, "2023-01-01", "2024-12-31", 11);
        let d = days_from_date(chrono::NaiveDate::from_ymd_opt(2024, 9, 30).unwrap());
        let h = full_history(dir.path());
        // Without a minimum of snapshots (no sampling), as a plan of `min_snapshots = 0`.
        let plan = SnapshotPlan {
            step: 7,
            max_snapshots: 20,
            max_rows: usize::MAX,
            min_snapshots: 0,
            ..SnapshotPlan::default()
        };
        let (all, _, days) = snapshot_rows(&h, d, 91, plan);
        let newest = days[0];
        let first = days.iter().filter(|&&s| s == newest).count();
        assert!(first > 0 && all.len() > 3 * first);
        // A budget of 30 snapshots' rows keeps the step: 13 fit in the horizon.
        let (some, labels, some_days) = snapshot_rows(&h, d, 91, SnapshotPlan { max_rows: 30 * first, ..plan });
        assert_eq!(labels.len(), some.len());
        assert_eq!(some_days[..], days[..some.len()]);
        assert!(some_days.iter().any(|&s| s == newest - 7));
        // One snapshot's worth: the next is a horizon back, a whole number of weeks.
        let (some, _, some_days) = snapshot_rows(&h, d, 91, SnapshotPlan { max_rows: first + 1, ..plan });
        let (_, _, wide) = snapshot_rows(&h, d, 91, SnapshotPlan { step: 91, ..plan });
        let second = wide.iter().filter(|&&s| s == newest - 91).count();
        assert!(second > 0);
        assert_eq!(some.len(), first + second);
        assert_eq!(some_days[..], wide[..first + second]);
        assert_eq!(spread_step(plan, 62_000, 91), 7, "no budget: the plan's step");
        let budget = SnapshotPlan { max_rows: 150_000, ..plan };
        assert_eq!(spread_step(budget, 6_300, 91), 7);
        assert_eq!(spread_step(budget, 62_000, 91), 49, "two afford 46 days each: seven weeks");
    }

    /// A snapshot with more open invoices than the budget's share takes a sample of
    /// about that share, a different one at each snapshot, so the budget affords
    /// `min_snapshots` snapshots at the plan's step; a smaller one is read whole.
    #[test]
    fn a_large_snapshot_is_sampled_so_the_budget_affords_enough_of_them() {
        let dir = generated_dir(40, 3_000, "2023-01-01", "2024-12-31", 11);
        let d = days_from_date(chrono::NaiveDate::from_ymd_opt(2024, 9, 30).unwrap());
        let h = full_history(dir.path());
        let s = d - 91;
        let open: Vec<usize> =
            (0..h.invoices.len()).filter(|&p| h.invoices[p].invoice_date <= s && h.invoices[p].paid_date > s).collect();
        assert!(open.len() > 200, "{}", open.len());
        let plan = SnapshotPlan {
            step: 7,
            max_snapshots: 104,
            max_rows: 26 * 100,
            min_snapshots: 26,
            ..SnapshotPlan::default()
        };
        let sample = snapshot_sample(&h, s, plan);
        let kept: Vec<usize> = open.iter().copied().filter(|&p| sample.keeps(p)).collect();
        // About 100 of them (binomial: 3 standard deviations).
        let sd = (100.0 * (1.0 - 100.0 / open.len() as f64)).sqrt();
        assert!((kept.len() as f64 - 100.0).abs() < 3.0 * sd, "{} of {}", kept.len(), open.len());
        let next = snapshot_sample(&h, s - 7, plan);
        let both: Vec<usize> = open
            .iter()
            .copied()
            .filter(|&p| h.invoices[p].invoice_date <= s - 7 && h.invoices[p].paid_date > s - 7)
            .collect();
        assert!(both.len() > 100);
        assert!(both.iter().any(|&p| sample.keeps(p) != next.keeps(p)), "the same sample at two snapshots");
        // A budget that holds the whole snapshot reads every invoice; so does a plan
        // without a minimum.
        let whole = snapshot_sample(&h, s, SnapshotPlan { max_rows: 26 * open.len(), ..plan });
        assert!(open.iter().all(|&p| whole.keeps(p)));
        let unset = snapshot_sample(&h, s, SnapshotPlan { min_snapshots: 0, ..plan });
        assert!(open.iter().all(|&p| unset.keeps(p)));
        // The snapshot rows: weekly snapshots (the budget affords 26), each sampled.
        let (rows, labels, days) = snapshot_rows(&h, d, 91, plan);
        assert_eq!(rows.len(), labels.len());
        let mut distinct = days.clone();
        distinct.dedup();
        assert!(distinct.len() >= 20, "{} snapshots", distinct.len());
        assert!(distinct.windows(2).all(|w| w[0] - w[1] == 7), "{distinct:?}");
        let first = days.iter().filter(|&&t| t == s).count();
        assert_eq!(first, kept.len());
    }

    /// Beyond the budget the training rows are a sample of about that many, spread over
    /// the whole history, the same invoices at a later as-of date and from a load of
    /// the ledger cut at `d`; each kept row is the row of the full set.
    #[test]
    fn training_rows_beyond_the_budget_are_a_sample_over_the_whole_history() {
        let dir = generated_dir(40, 3_000, "2023-01-01", "2024-12-31", 11);
        let d = days_from_date(chrono::NaiveDate::from_ymd_opt(2024, 6, 30).unwrap());
        let full = full_history(dir.path());
        let all = training_rows(&full, d, 0);
        assert!(all.len() > 1_500, "{}", all.len());
        let some = training_rows(&full, d, 500);
        let sd = (500.0 * (1.0 - 500.0 / all.len() as f64)).sqrt();
        assert!((some.len() as f64 - 500.0).abs() < 3.0 * sd, "{} of {}", some.len(), all.len());
        // Spread over the history: each half of it keeps about its share.
        let mid = (all.invoice_date.iter().min().unwrap() + d) / 2;
        let share = |r: &Rows| r.invoice_date.iter().filter(|&&t| t < mid).count() as f64 / r.len() as f64;
        assert!((share(&some) - share(&all)).abs() < 0.1, "{} against {}", share(&some), share(&all));
        // A kept row is the full set's row for that invoice.
        let at: std::collections::HashMap<usize, usize> = all.pos.iter().enumerate().map(|(i, &p)| (p, i)).collect();
        for (i, p) in some.pos.iter().enumerate() {
            assert!(same(
                &some.x.row(i).to_owned().insert_axis(ndarray::Axis(0)),
                &all.x.row(at[p]).to_owned().insert_axis(ndarray::Axis(0))
            ));
        }
        // At a later as-of date the same budget keeps a smaller share, by the same keys:
        // of the invoices issued by `d`, only some of those kept at `d`.
        let later = training_rows(&full, d + 91, 500);
        let kept: std::collections::HashSet<usize> = some.pos.iter().copied().collect();
        let earlier: Vec<usize> =
            later.pos.iter().zip(&later.invoice_date).filter(|(_, &t)| t <= d).map(|(&p, _)| p).collect();
        assert!(!earlier.is_empty() && earlier.len() < kept.len());
        assert!(earlier.iter().all(|p| kept.contains(p)));
        // The same sample from a load cut at `d`.
        let cut = load_history(dir.path(), d, &InvoiceReadOptions::default(), &FxTable::default()).unwrap();
        let from_cut = training_rows(&cut, d, 500);
        let key = |h: &History, r: &Rows| -> Vec<(String, i32, i64)> {
            let mut k: Vec<_> = (0..r.len())
                .map(|i| (h.customers[r.cust[i]].clone(), r.invoice_date[i], r.amount_minor[i].0))
                .collect();
            k.sort();
            k
        };
        assert_eq!(key(&full, &some), key(&cut, &from_cut));
    }

    /// Training, scoring and snapshot rows at `d` built from the full history equal
    /// those built from a history loaded with as-of `d` (nothing after `d` used).
    #[test]
    fn rows_at_a_date_do_not_depend_on_later_data() {
        let dir = generated_dir(40, 3_000, "2023-01-01", "2024-12-31", 11);
        let d = days_from_date(chrono::NaiveDate::from_ymd_opt(2024, 5, 15).unwrap());
        let full = full_history(dir.path());
        let cut = load_history(dir.path(), d, &InvoiceReadOptions::default(), &FxTable::default()).unwrap();
        // Customer indices differ between the two loads: compare by customer id.
        let key = |h: &History, r: &Rows| -> Vec<(String, i32, i32)> {
            (0..r.len()).map(|i| (h.customers[r.cust[i]].clone(), r.invoice_date[i], r.due_date[i])).collect()
        };
        let (a, b) = (training_rows(&full, d, 0), training_rows(&cut, d, 0));
        assert!(a.len() > 1000);
        let order = |h: &History, r: &Rows| {
            let k = key(h, r);
            let mut idx: Vec<usize> = (0..r.len()).collect();
            idx.sort_by(|&i, &j| k[i].cmp(&k[j]).then(r.amount_minor[i].0.cmp(&r.amount_minor[j].0)));
            idx
        };
        let (oa, ob) = (order(&full, &a), order(&cut, &b));
        let xa = a.x.select(ndarray::Axis(0), &oa);
        let xb = b.x.select(ndarray::Axis(0), &ob);
        assert!(same(&xa, &xb), "training inputs differ");
        let la: Vec<Option<bool>> = oa.iter().map(|&i| a.late_beyond(30, d)[i]).collect();
        let lb: Vec<Option<bool>> = ob.iter().map(|&i| b.late_beyond(30, d)[i]).collect();
        assert_eq!(la, lb, "labels differ");
        // Sampled snapshots (about 60 of each one's open invoices): the same sample
        // from either load.
        let plan =
            SnapshotPlan { step: 7, max_snapshots: 20, max_rows: 1_200, min_snapshots: 20, ..SnapshotPlan::default() };
        let (sa, ya, da) = snapshot_rows(&full, d, 91, plan);
        let (sb, yb, db) = snapshot_rows(&cut, d, 91, plan);
        assert!(sa.len() < 1_600, "{} rows: not sampled", sa.len());
        assert_eq!(da, db);
        assert_eq!(sa.len(), sb.len());
        let (oa, ob) = (order(&full, &sa), order(&cut, &sb));
        assert!(same(&sa.x.select(ndarray::Axis(0), &oa), &sb.x.select(ndarray::Axis(0), &ob)));
        let ya: Vec<f64> = oa.iter().map(|&i| ya[i]).collect();
        let yb: Vec<f64> = ob.iter().map(|&i| yb[i]).collect();
        assert_eq!(ya, yb);

        // The empirical model fitted on the settled training rows, and what it says of
        // the invoices open at d (histories at d, cut at "unpaid at d"), are the same.
        let emp = |h: &History, r: &Rows| {
            let late = r.late_days();
            let settled: Vec<usize> = (0..r.len()).filter(|&i| !late[i].is_nan()).collect();
            let pos: Vec<usize> = settled.iter().map(|&i| r.pos[i]).collect();
            let y: Vec<f64> = settled.iter().map(|&i| late[i]).collect();
            crate::models::empirical::EmpiricalParams::default().fit(h, &pos, &y).unwrap().unwrap()
        };
        let (ma, mb) = (emp(&full, &a), emp(&cut, &b));
        assert!(ma.channels.len() >= 2, "the generated data has delivery channels: {:?}", ma.channels);
        assert_eq!(ma.channels, mb.channels);
        assert_eq!((ma.terms, ma.log_amount, ma.kernel_days), (mb.terms, mb.log_amount, mb.kernel_days));
        assert_eq!(ma.population, mb.population);
        let (sa, sb) = (scoring_rows(&full, d, |_| true), scoring_rows(&cut, d, |_| true));
        let (oa, ob) = (order(&full, &sa), order(&cut, &sb));
        let (ea, eb) = (
            crate::models::predict::empirical_at(&ma, &full, &sa, d),
            crate::models::predict::empirical_at(&mb, &cut, &sb, d),
        );
        assert!(ea.iter().any(|o| o.n > 0 && o.unpaid < 1.0));
        let ea: Vec<_> = oa.iter().map(|&i| ea[i]).collect();
        let eb: Vec<_> = ob.iter().map(|&i| eb[i]).collect();
        assert_eq!(ea, eb, "empirical outputs differ");
    }
}
