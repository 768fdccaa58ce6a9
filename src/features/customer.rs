//! The customer behaviour vector, computed from one customer's history at as_of.

use chrono::Datelike;

use super::catalogue::{CUSTOMER_FEATURES, EWMA_ALPHA};
use super::history::{CustSide, History, Inv, InvSide};
use super::stats::{ewma, mean, quantile_sorted, ratio, std};
use crate::domain::{date_from_days, Holidays, PaymentRun};
use crate::ingest::columns::{NULL_AMOUNT, NULL_DATE};

/// Number of customer features.
pub const N_CUSTOMER: usize = CUSTOMER_FEATURES.len();

/// Mean days late per due month (index 0 = January) over invoices settled by `t`,
/// NaN where fewer than two; plus the overall mean.
pub fn month_profile(invs: &[Inv], t: i32) -> ([f64; 12], f64) {
    let mut sum = [0.0; 12];
    let mut cnt = [0u32; 12];
    let mut all = 0.0;
    let mut n = 0u32;
    for r in invs.iter().filter(|r| r.paid_date <= t) {
        let late = f64::from(r.paid_day() - r.due_date);
        let m = date_from_days(r.due_date).map_or(0, |d| d.month0() as usize);
        sum[m] += late;
        cnt[m] += 1;
        all += late;
        n += 1;
    }
    let mut out = [f64::NAN; 12];
    for m in 0..12 {
        if cnt[m] >= 2 {
            out[m] = sum[m] / f64::from(cnt[m]);
        }
    }
    (out, if n == 0 { f64::NAN } else { all / f64::from(n) })
}

/// A customer's state at a date `t` (≤ the history's as-of): its visible invoices,
/// what payments and activities say about them, and its behaviour vector.
pub struct CustomerAt<'h> {
    /// Invoices issued by `t`, by invoice date.
    pub invs: &'h [Inv],
    /// Position of `invs[0]` in `History::invoices`.
    pub base: usize,
    /// Payment/activity facts per invoice, aligned with `invs`.
    pub sides: Vec<InvSide>,
    /// The date.
    pub t: i32,
    /// Mean days late per due month and overall.
    pub months: ([f64; 12], f64),
    /// Median invoice amount (base currency).
    pub median_amount: f64,
    /// The vector in [`CUSTOMER_FEATURES`] order.
    pub vector: [f64; N_CUSTOMER],
    /// The payment-run calendar its settlements by `t` follow, if any.
    pub run: Option<PaymentRun>,
    /// The ledger's bank holidays (runs on them go out on the next business day).
    pub holidays: &'h Holidays,
}

/// The payment-run calendar that the settlements by `t` of `invs` (one customer's)
/// follow ([`PaymentRun::detect`] over their distinct dates, closed on `hol`).
pub fn payment_run_of(invs: &[Inv], t: i32, hol: &Holidays) -> Option<PaymentRun> {
    let settled = |r: &&Inv| r.paid_date <= t && r.invoice_date <= t;
    if invs.iter().filter(settled).count() < crate::domain::MIN_RUN_DATES {
        return None;
    }
    let mut dates: Vec<i32> = invs.iter().filter(settled).map(Inv::paid_day).collect();
    // Only the newest RUN_WINDOW distinct dates count: a long history keeps its newest
    // twice that many before sorting, all of them if those hold too few distinct days.
    let keep = 2 * crate::domain::RUN_WINDOW;
    if dates.len() > keep {
        let cut = dates.len() - keep;
        dates.select_nth_unstable(cut);
        let mut newest = dates[cut..].to_vec();
        newest.sort_unstable();
        newest.dedup();
        if newest.len() >= crate::domain::RUN_WINDOW {
            return PaymentRun::detect(&newest, hol);
        }
    }
    dates.sort_unstable();
    dates.dedup();
    PaymentRun::detect(&dates, hol)
}

/// The behaviour vector of a customer the history does not know, on the issue date of
/// its first invoice `first` (what training rows hold for a customer's first invoice).
pub fn first_invoice_vector(first: &Inv) -> [f64; N_CUSTOMER] {
    let invs = [*first];
    let t = first.invoice_date;
    let cs = CustSide { last_payment: NULL_DATE, ..Default::default() };
    let months = month_profile(&invs, t);
    vector_of(false, f64::NAN, &invs, &[InvSide::default()], &cs, t, &[first.amount_base], &months)
}

/// The state of customer `c` at the history's as-of date.
pub fn customer_at_as_of(h: &History, c: usize) -> CustomerAt<'_> {
    customer_at(h, c, h.as_of)
}

/// The state of customer `c` at `t` (≤ as_of): only invoices issued, settlements,
/// payments and activities dated on or before `t` are used.
pub fn customer_at(h: &History, c: usize, t: i32) -> CustomerAt<'_> {
    let all = h.invoices_of(c);
    let invs = &all[..all.partition_point(|r| r.invoice_date <= t)];
    let (mut sides, cs) = h.sides_at(c, t);
    sides.truncate(invs.len());
    let mut amounts: Vec<f64> = invs.iter().map(|r| r.amount_base).collect();
    amounts.sort_by(f64::total_cmp);
    let median_amount = quantile_sorted(&amounts, 0.5);
    let months = month_profile(invs, t);
    let vector = vector_of(h.has_payments, h.master[c].credit_limit_base, invs, &sides, &cs, t, &amounts, &months);
    // The bank calendar of the currency the customer last invoiced in.
    let holidays = invs.last().map_or(&h.holidays, |r| h.holidays.of(r.currency));
    let run = payment_run_of(invs, t, holidays);
    CustomerAt { invs, base: h.offsets[c], sides, t, months, median_amount, vector, run, holidays }
}

#[allow(clippy::too_many_arguments)]
fn vector_of(
    has_payments: bool,
    credit: f64,
    invs: &[Inv],
    sides: &[InvSide],
    cs: &CustSide,
    as_of: i32,
    amounts: &[f64],
    months: &([f64; 12], f64),
) -> [f64; N_CUSTOMER] {
    let side = |i: usize| sides.get(i).copied();
    let mut paid: Vec<&Inv> = invs.iter().filter(|r| r.paid_date <= as_of).collect();
    paid.sort_by_key(|r| (r.paid_day(), r.invoice_date, r.key));
    let late: Vec<f64> = paid.iter().map(|r| f64::from(r.paid_day() - r.due_date)).collect();
    let mut late_sorted = late.clone();
    late_sorted.sort_by(f64::total_cmp);
    let mut to_pay: Vec<f64> = paid.iter().map(|r| f64::from(r.paid_day() - r.invoice_date)).collect();
    to_pay.sort_by(f64::total_cmp);
    let n = invs.len() as f64;
    let n_paid = paid.len() as f64;
    let late_mean = mean(&late);
    let recent: Vec<f64> =
        paid.iter().filter(|r| r.paid_date > as_of - 90).map(|r| f64::from(r.paid_day() - r.due_date)).collect();
    let last5 = &late[late.len().saturating_sub(5)..];
    let paid_amount: f64 = paid.iter().map(|r| r.amount_base).sum();
    let weighted_late =
        ratio(paid.iter().map(|r| r.amount_base * f64::from(r.paid_day() - r.due_date)).sum(), paid_amount);

    let mut with_payment = 0.0;
    let mut partial = 0.0;
    let mut short = 0.0;
    let mut disputes_open = 0.0;
    let mut aging = [0.0; 6];
    let mut max_dpd = 0.0_f64;
    let mut last_paid_date = NULL_DATE;
    for (i, r) in invs.iter().enumerate() {
        let s = side(i).unwrap_or_default();
        let settled = r.paid_date <= as_of;
        if settled {
            last_paid_date = last_paid_date.max(r.paid_day());
            if r.paid_minor != NULL_AMOUNT && r.paid_minor < r.amount_minor {
                short += 1.0;
            }
        }
        let has_payment = s.n_payments > 0 || (!has_payments && settled);
        if has_payment {
            with_payment += 1.0;
            if s.n_payments >= 2 || (!settled && s.paid_minor > 0) {
                partial += 1.0;
            }
        }
        if s.dispute_opened && !s.dispute_resolved {
            disputes_open += 1.0;
        }
        if !settled {
            let open_share = if r.amount_minor > 0 {
                (1.0 - s.paid_minor as f64 / r.amount_minor as f64).clamp(0.0, 1.0)
            } else {
                0.0
            };
            let open_base = r.amount_base * open_share;
            let dpd = as_of - r.due_date;
            let bucket = match dpd {
                i32::MIN..=0 => 0,
                1..=30 => 1,
                31..=60 => 2,
                61..=90 => 3,
                91..=120 => 4,
                _ => 5,
            };
            aging[bucket] += open_base;
            max_dpd = max_dpd.max(f64::from(dpd));
        }
    }
    let open_amount: f64 = aging.iter().sum();
    let last_payment = if has_payments { cs.last_payment } else { last_paid_date };
    let present: Vec<f64> = months.0.iter().copied().filter(|m| !m.is_nan()).collect();
    let amplitude = if present.len() >= 3 {
        present.iter().copied().fold(f64::MIN, f64::max) - present.iter().copied().fold(f64::MAX, f64::min)
    } else {
        f64::NAN
    };
    let first_date = invs.first().map_or(as_of, |r| r.invoice_date);

    [
        n,
        n_paid,
        invs.iter().filter(|r| r.paid_date > as_of).count() as f64,
        invs.iter().filter(|r| r.invoice_date > as_of - 90).count() as f64,
        f64::from(as_of - first_date),
        amounts.iter().sum(),
        paid_amount,
        quantile_sorted(amounts, 0.5),
        late_mean,
        quantile_sorted(&late_sorted, 0.5),
        std(&late),
        quantile_sorted(&late_sorted, 0.25),
        quantile_sorted(&late_sorted, 0.75),
        quantile_sorted(&late_sorted, 0.9),
        weighted_late,
        mean(&to_pay),
        quantile_sorted(&to_pay, 0.5),
        ratio(late.iter().filter(|d| **d > 0.0).count() as f64, n_paid),
        ratio(late.iter().filter(|d| **d > 30.0).count() as f64, n_paid),
        ewma(&late, EWMA_ALPHA),
        late.last().copied().unwrap_or(f64::NAN),
        mean(last5) - late_mean,
        mean(&recent) - late_mean,
        if last_payment == NULL_DATE { f64::NAN } else { f64::from(as_of - last_payment) },
        ratio(partial, with_payment),
        ratio(short, n_paid),
        ratio(f64::from(cs.disputes), n),
        disputes_open,
        ratio(f64::from(cs.promises_kept), f64::from(cs.promises_evaluated)),
        f64::from(cs.promises_evaluated),
        ratio(f64::from(cs.reminders_answered), f64::from(cs.reminders_evaluated)),
        f64::from(cs.n_reminders),
        open_amount,
        aging[0],
        aging[1],
        aging[2],
        aging[3],
        aging[4],
        aging[5],
        max_dpd,
        credit,
        if credit > 0.0 { open_amount / credit } else { f64::NAN },
        amplitude,
    ]
}
