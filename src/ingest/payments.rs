//! Reading the optional `payments` table.

use std::path::PathBuf;
use std::sync::Arc;

use arrow_array::StringArray;

use super::columns::{self, NULL_AMOUNT, NULL_DATE};
use super::invoices::{id_problem, InvoiceReadOptions};
use super::problems::{collect, Problems};
use super::read::{map_batches, BatchColumns, ColumnSpec};
use super::source::TableSource;
use super::{IngestError, RejectedRow};
use crate::domain::Currency;

/// One decoded batch of payments; skip rows with `valid[i] == false`.
#[derive(Debug)]
pub struct PaymentChunk {
    /// Source file.
    pub file: Arc<PathBuf>,
    /// 1-based row (in `file`) of the chunk's first row.
    pub first_row: u64,
    /// `payment_id`, null when the file has no such column or the row none.
    pub payment_id: StringArray,
    /// `customer_id`.
    pub customer_id: StringArray,
    /// `invoice_id`, null when unapplied.
    pub invoice_id: StringArray,
    /// Value date, days since epoch.
    pub payment_date: Vec<i32>,
    /// Amount in minor units of `currency`.
    pub amount_minor: Vec<i64>,
    /// Currency per row (the default currency where the row names none).
    pub currency: Vec<Currency>,
    /// Whether the row names its currency (else an applied payment is in its
    /// invoice's currency, see `features::history`).
    pub currency_given: Vec<bool>,
    /// Whether each row passed validation.
    pub valid: Vec<bool>,
}

/// Reads every payment file in parallel.
///
/// # Errors
/// As [`super::read_invoices`].
pub fn read_payments<T: Send>(
    source: &TableSource,
    opts: &InvoiceReadOptions,
    f: impl Fn(PaymentChunk) -> T + Sync,
) -> Result<(Vec<T>, Vec<RejectedRow>), IngestError> {
    let specs = [
        ColumnSpec { name: "payment_id", required: false },
        ColumnSpec { name: "customer_id", required: true },
        ColumnSpec { name: "invoice_id", required: false },
        ColumnSpec { name: "payment_date", required: true },
        ColumnSpec { name: "amount", required: true },
        ColumnSpec { name: "currency", required: false },
    ];
    collect(map_batches(source, &specs, |b| decode(b, opts.default_currency).map(|(c, r)| (f(c), r)))?)
}

fn decode(b: &BatchColumns<'_>, default_currency: Currency) -> Result<(PaymentChunk, Vec<RejectedRow>), IngestError> {
    let path = b.unit.path.as_path();
    let n = b.rows;
    let col = |name: &str| b.get(name).expect("required column projected");
    let customer_id = columns::strings(path, "customer_id", col("customer_id"))?;
    let payment_id = b.text_or_null("payment_id")?;
    let invoice_id = b.text_or_null("invoice_id")?;
    let (currency, currency_given, cur_err) =
        columns::currencies_given(path, "currency", b.get("currency"), n, default_currency)?;
    let (payment_date, date_err) = columns::dates(path, "payment_date", col("payment_date"))?;
    let (amount_minor, amt_err) = columns::amounts(path, "amount", col("amount"), &currency)?;
    let mut pr = Problems::new(n);
    pr.cells("currency", cur_err);
    pr.cells("payment_date", date_err);
    pr.cells("amount", amt_err);
    for i in 0..n {
        if pr.has(i) {
            continue;
        }
        if let Some(reason) = id_problem(&customer_id, i, "customer_id") {
            pr.set(i, "customer_id", String::new(), reason);
        } else if payment_date[i] == NULL_DATE {
            pr.set(i, "payment_date", String::new(), "payment_date is required");
        } else if amount_minor[i] == NULL_AMOUNT {
            pr.set(i, "amount", String::new(), "amount is required");
        }
    }
    let (valid, rejects) = pr.finish("payments", b);
    Ok((
        PaymentChunk {
            file: b.unit.path.clone(),
            first_row: b.first_row,
            payment_id,
            customer_id,
            invoice_id,
            payment_date,
            amount_minor,
            currency,
            currency_given,
            valid,
        },
        rejects,
    ))
}
