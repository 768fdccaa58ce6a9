//! Feature rows for the invoices open at as_of.

use chrono::Datelike;

use super::catalogue::INVOICE_FEATURES;
use super::customer::month_profile;
use super::history::{History, OPEN};
use super::stats::quantile_sorted;
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

/// Rows for the open invoices of customer `c`, in invoice-date order.
pub fn open_invoice_rows(h: &History, c: usize) -> Vec<OpenInvoiceRow> {
    let invs = h.invoices_of(c);
    if invs.iter().all(|r| r.paid_date != OPEN) {
        return Vec::new();
    }
    let mut amounts: Vec<f64> = invs.iter().map(|r| r.amount_base).collect();
    amounts.sort_by(f64::total_cmp);
    let median = quantile_sorted(&amounts, 0.5);
    let (months, overall) = month_profile(invs);
    let as_of = h.as_of;
    let mut out = Vec::new();
    for (i, r) in invs.iter().enumerate().filter(|(_, r)| r.paid_date == OPEN) {
        let pos = h.offsets[c] + i;
        let s = h.inv_side.get(pos).copied().unwrap_or_default();
        let paid_share =
            if r.amount_minor > 0 { (s.paid_minor as f64 / r.amount_minor as f64).clamp(0.0, 1.0) } else { 0.0 };
        let month = date_from_days(r.due_date).map_or(1, |d| d.month());
        let dpd = as_of - r.due_date;
        out.push(OpenInvoiceRow {
            pos,
            cust: c,
            values: [
                r.amount_base,
                f64::from(r.due_date - r.invoice_date),
                f64::from(as_of - r.invoice_date),
                f64::from(r.due_date - as_of),
                f64::from(dpd.max(0)),
                if dpd > 0 { 1.0 } else { 0.0 },
                r.amount_base * (1.0 - paid_share),
                paid_share,
                if median > 0.0 { r.amount_base / median } else { f64::NAN },
                if s.dispute_opened && !s.dispute_resolved { 1.0 } else { 0.0 },
                f64::from(s.n_reminders),
                if s.open_promise { 1.0 } else { 0.0 },
                f64::from(month),
                months[month as usize - 1] - overall,
            ],
        });
    }
    out
}
