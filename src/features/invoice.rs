//! Feature rows for the invoices open at as_of.

use chrono::Datelike;

use super::catalogue::INVOICE_FEATURES;
use super::customer::CustomerAt;
use crate::domain::date_from_days;

/// Number of invoice features (before extras).
pub const N_INVOICE: usize = INVOICE_FEATURES.len();

/// One open invoice's identity and features.
#[derive(Debug, Clone)]
pub struct OpenInvoiceRow {
    /// Position in `History::invoices`.
    pub pos: usize,
    /// Customer index.
    pub cust: usize,
    /// Features in [`INVOICE_FEATURES`] order.
    pub values: [f64; N_INVOICE],
}

/// Invoice features of `at.invs[i]` at `at.t`, in [`INVOICE_FEATURES`] order.
pub fn invoice_values(at: &CustomerAt<'_>, i: usize) -> [f64; N_INVOICE] {
    let r = &at.invs[i];
    let s = at.sides.get(i).copied().unwrap_or_default();
    let t = at.t;
    let paid_share =
        if r.amount_minor > 0 { (s.paid_minor as f64 / r.amount_minor as f64).clamp(0.0, 1.0) } else { 0.0 };
    let month = date_from_days(r.due_date).map_or(1, |d| d.month());
    let dpd = t - r.due_date;
    let (months, overall) = &at.months;
    [
        r.amount_base,
        f64::from(r.due_date - r.invoice_date),
        f64::from(t - r.invoice_date),
        f64::from(r.due_date - t),
        f64::from(dpd.max(0)),
        if dpd > 0 { 1.0 } else { 0.0 },
        r.amount_base * (1.0 - paid_share),
        paid_share,
        if at.median_amount > 0.0 { r.amount_base / at.median_amount } else { f64::NAN },
        if s.dispute_opened && !s.dispute_resolved { 1.0 } else { 0.0 },
        f64::from(s.n_reminders),
        if s.open_promise { 1.0 } else { 0.0 },
        f64::from(month),
        months[month as usize - 1] - overall,
        at.run.map_or(f64::NAN, |run| f64::from(run.on_or_after(r.due_date, at.holidays) - r.due_date)),
        at.run.map_or(f64::NAN, |run| f64::from(run.interval_days())),
    ]
}

/// Rows for the invoices of a customer open at `at.t`, in invoice-date order.
pub fn open_invoice_rows(at: &CustomerAt<'_>, cust: usize) -> Vec<OpenInvoiceRow> {
    (0..at.invs.len())
        .filter(|&i| at.invs[i].paid_date > at.t)
        .map(|i| OpenInvoiceRow { pos: at.base + i, cust, values: invoice_values(at, i) })
        .collect()
}

/// Invoice features of an invoice the history does not hold, as on its issue date
/// (what training rows see): `at` is the customer's state on that date, or on the
/// latest known date before it.
pub fn new_invoice_values(at: &CustomerAt<'_>, new: &super::history::Inv) -> [f64; N_INVOICE] {
    let mut invs: Vec<super::history::Inv> = at.invs.to_vec();
    invs.push(*new);
    let mut amounts: Vec<f64> = invs.iter().map(|r| r.amount_base).collect();
    amounts.sort_by(f64::total_cmp);
    let mut sides = at.sides.clone();
    sides.resize(invs.len(), super::history::InvSide::default());
    let view = CustomerAt {
        invs: &invs,
        base: at.base,
        sides,
        t: new.invoice_date,
        months: at.months,
        median_amount: super::stats::quantile_sorted(&amounts, 0.5),
        vector: at.vector,
        run: at.run,
        holidays: at.holidays,
    };
    invoice_values(&view, invs.len() - 1)
}

/// What scoring a new invoice issued on or after `t` needs from a customer's state at
/// `t`, owned so it can be kept between requests.
#[derive(Debug, Clone)]
pub struct CustomerSummary {
    /// The date the state describes.
    pub t: i32,
    /// Behaviour vector.
    pub vector: [f64; super::customer::N_CUSTOMER],
    /// Mean days late per due month and overall.
    pub months: ([f64; 12], f64),
    /// Invoice amounts (base currency), sorted.
    pub amounts_sorted: Vec<f64>,
    /// The payment-run calendar its settlements follow, if any.
    pub run: Option<crate::domain::PaymentRun>,
}

impl CustomerAt<'_> {
    /// The owned summary of this state.
    pub fn summary(&self) -> CustomerSummary {
        let mut amounts_sorted: Vec<f64> = self.invs.iter().map(|r| r.amount_base).collect();
        amounts_sorted.sort_by(f64::total_cmp);
        CustomerSummary { t: self.t, vector: self.vector, months: self.months, amounts_sorted, run: self.run }
    }
}

/// [`new_invoice_values`] from a summary, for an invoice issued on or after `s.t`
/// (None for an earlier one: its state on the issue date is needed), on a ledger closed
/// on `holidays` (the invoice currency's calendar of them).
pub fn new_invoice_values_from(
    s: &CustomerSummary,
    new: &super::history::Inv,
    holidays: &crate::domain::Holidays,
) -> Option<[f64; N_INVOICE]> {
    if new.invoice_date < s.t {
        return None;
    }
    let mut amounts = Vec::with_capacity(s.amounts_sorted.len() + 1);
    let at = s.amounts_sorted.partition_point(|a| a.total_cmp(&new.amount_base).is_lt());
    amounts.extend_from_slice(&s.amounts_sorted[..at]);
    amounts.push(new.amount_base);
    amounts.extend_from_slice(&s.amounts_sorted[at..]);
    let view = CustomerAt {
        invs: std::slice::from_ref(new),
        base: 0,
        sides: vec![super::history::InvSide::default()],
        t: new.invoice_date,
        months: s.months,
        median_amount: super::stats::quantile_sorted(&amounts, 0.5),
        vector: s.vector,
        run: s.run,
        holidays: holidays.of(new.currency),
    };
    Some(invoice_values(&view, 0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::customer_at;
    use crate::features::history::{History, Inv, OPEN};

    fn inv(k: u64, issue: i32, paid: i32, amount: f64) -> Inv {
        Inv {
            cust: 0,
            invoice_date: issue,
            due_date: issue + 30,
            paid_date: paid,
            paid_window: 0,
            amount_base: amount,
            amount_minor: (amount * 100.0) as i64,
            paid_minor: 0,
            currency: crate::domain::Currency::USD,
            channel: crate::domain::NO_CHANNEL,
            open_slot: 0,
            key: k,
            chunk: 0,
            row: k as u16,
        }
    }

    /// A posted invoice gets the inputs the same invoice would have had in the data.
    #[test]
    fn a_new_invoice_gets_the_inputs_it_would_have_had_in_the_history() {
        let base: Vec<Inv> =
            (0..8).map(|k| inv(k, 1000 + 20 * k as i32, 1040 + 20 * k as i32, 100.0 + k as f64)).collect();
        let new = inv(99, 1200, OPEN, 450.0);
        let mut with = base.clone();
        with.push(new);
        let h_with = History::from_invoices_for_test(vec!["c".into()], with, 1200);
        let h_without = History::from_invoices_for_test(vec!["c".into()], base, 1200);
        let expected = invoice_values(&customer_at(&h_with, 0, 1200), 8);
        let now = customer_at(&h_without, 0, 1200);
        let got = new_invoice_values(&now, &new);
        let from_summary =
            new_invoice_values_from(&now.summary(), &new, &h_without.holidays).expect("issued on the as-of date");
        for (j, ((a, b), c)) in expected.iter().zip(&got).zip(&from_summary).enumerate() {
            assert!(a == b || (a.is_nan() && b.is_nan()), "{}: {a} vs {b}", INVOICE_FEATURES[j].0);
            assert!(a == c || (a.is_nan() && c.is_nan()), "{}: {a} vs {c} (summary)", INVOICE_FEATURES[j].0);
        }
        assert!(new_invoice_values_from(&now.summary(), &inv(98, 1100, OPEN, 1.0), &h_without.holidays).is_none());
    }
}
