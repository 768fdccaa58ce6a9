//! Reading the `invoices` table of the data contract into validated columnar chunks.

use std::path::PathBuf;
use std::sync::Arc;

use arrow_array::{Array, StringArray};

use super::columns::{self, NULL_AMOUNT, NULL_DATE};
use super::problems::{collect, Problems};
use super::read::{map_batches, BatchColumns, ColumnSpec};
use super::source::TableSource;
use super::{IngestError, RejectedRow};
use crate::domain::date_from_days;
use crate::domain::{Currency, MAX_ID_LEN};

/// How to read invoices.
#[derive(Debug, Clone)]
pub struct InvoiceReadOptions {
    /// Currency for rows without one (or files without a `currency` column).
    pub default_currency: Currency,
    /// Extra numeric columns to carry along as model inputs (`f64`, NaN when null).
    pub extra_numeric: Vec<String>,
}

impl Default for InvoiceReadOptions {
    fn default() -> Self {
        InvoiceReadOptions { default_currency: Currency::USD, extra_numeric: Vec::new() }
    }
}

/// One decoded batch of invoices. Rows with `valid[i] == false` were rejected (their
/// reasons are in the rejects returned alongside) and must be skipped.
#[derive(Debug)]
pub struct InvoiceChunk {
    /// Source file.
    pub file: Arc<PathBuf>,
    /// 1-based row (in `file`) of the chunk's first row.
    pub first_row: u64,
    /// `invoice_id`.
    pub invoice_id: StringArray,
    /// `customer_id`.
    pub customer_id: StringArray,
    /// Issue date, days since epoch.
    pub invoice_date: Vec<i32>,
    /// Due date, days since epoch.
    pub due_date: Vec<i32>,
    /// Amount in minor units of `currency`.
    pub amount_minor: Vec<i64>,
    /// Currency per row.
    pub currency: Vec<Currency>,
    /// Settlement date, [`NULL_DATE`] while open.
    pub paid_date: Vec<i32>,
    /// Amount received at settlement, [`NULL_AMOUNT`] when the file does not say.
    pub paid_minor: Vec<i64>,
    /// Delivery channel code per row ([`crate::domain::channel_code`]; 0 without one).
    pub channel: Vec<u8>,
    /// The customer's country as the invoice gives it (when the file has the column).
    pub country: Option<StringArray>,
    /// Extra numeric columns in the order asked for.
    pub extra: Vec<Vec<f64>>,
    /// When each row's version of its invoice was exported, as microseconds since the
    /// epoch ([`columns::NULL_INSTANT`] for none), when the file has `updated_at`.
    pub updated_at: Option<Vec<i64>>,
    /// The day of the open-items snapshot each row comes from ([`NULL_DATE`] for
    /// none), when the file has `snapshot_date`: every snapshot lists all the
    /// invoices open on its day, so an invoice missing from a later one was settled.
    pub snapshot_date: Option<Vec<i32>>,
    /// Whether each row passed validation.
    pub valid: Vec<bool>,
}

impl InvoiceChunk {
    /// Rows in the chunk, valid or not.
    pub fn len(&self) -> usize {
        self.valid.len()
    }

    /// Whether the chunk has no rows.
    pub fn is_empty(&self) -> bool {
        self.valid.is_empty()
    }
}

const REQUIRED: [&str; 5] = ["invoice_id", "customer_id", "invoice_date", "due_date", "amount"];
const OPTIONAL: [&str; 8] =
    ["currency", "paid_date", "paid_amount", "terms_days", "channel", "country", "updated_at", "snapshot_date"];

/// Reads every invoice file of `source` in parallel; returns chunks in file order and
/// all rejected rows.
///
/// # Errors
/// A file that cannot be read, lacks a required column, or has a column of a type that
/// cannot hold its field.
pub fn read_invoices(
    source: &TableSource,
    opts: &InvoiceReadOptions,
) -> Result<(Vec<InvoiceChunk>, Vec<RejectedRow>), IngestError> {
    read_invoices_with(source, opts, |c| c)
}

/// Like [`read_invoices`] but hands each chunk to `f` on the reading thread as soon as
/// it is decoded, so only `f`'s results are kept: memory stays bounded by what `f`
/// returns.
///
/// # Errors
/// As [`read_invoices`].
pub fn read_invoices_with<T: Send>(
    source: &TableSource,
    opts: &InvoiceReadOptions,
    f: impl Fn(InvoiceChunk) -> T + Sync,
) -> Result<(Vec<T>, Vec<RejectedRow>), IngestError> {
    let mut specs: Vec<ColumnSpec<'_>> = REQUIRED.iter().map(|n| ColumnSpec { name: n, required: true }).collect();
    specs.extend(OPTIONAL.iter().map(|n| ColumnSpec { name: n, required: false }));
    specs.extend(opts.extra_numeric.iter().map(|n| ColumnSpec { name: n, required: true }));
    collect(map_batches(source, &specs, |b| decode(b, opts).map(|(c, r)| (f(c), r)))?)
}

fn decode(b: &BatchColumns<'_>, opts: &InvoiceReadOptions) -> Result<(InvoiceChunk, Vec<RejectedRow>), IngestError> {
    let path = b.unit.path.as_path();
    let n = b.rows;
    let col = |name: &str| b.get(name).expect("required column projected");
    let invoice_id = columns::strings(path, "invoice_id", col("invoice_id"))?;
    let customer_id = columns::strings(path, "customer_id", col("customer_id"))?;
    let (currency, cur_err) = columns::currencies(path, "currency", b.get("currency"), n, opts.default_currency)?;
    let (invoice_date, idate_err) = columns::dates(path, "invoice_date", col("invoice_date"))?;
    let (mut due_date, due_err) = columns::dates(path, "due_date", col("due_date"))?;
    let (amount_minor, amt_err) = columns::amounts(path, "amount", col("amount"), &currency)?;
    let (paid_date, paid_err) = b.optional("paid_date", columns::dates)?;
    let paid_date = paid_date.unwrap_or_else(|| vec![NULL_DATE; n]);
    let (paid_minor, pamt_err) = b.optional("paid_amount", |p, c, a| columns::amounts(p, c, a, &currency))?;
    let paid_minor = paid_minor.unwrap_or_else(|| vec![NULL_AMOUNT; n]);
    let (terms, terms_err) = b.optional("terms_days", columns::ints)?;
    let terms = terms.unwrap_or_else(|| vec![None; n]);
    let channel = match b.get("channel") {
        Some(a) => {
            let text = columns::strings(path, "channel", a)?;
            // Channels are few: remember the codes of the names seen in this batch.
            let mut seen: Vec<(&str, u8)> = Vec::new();
            (0..n)
                .map(|i| {
                    if text.is_null(i) {
                        return crate::domain::NO_CHANNEL;
                    }
                    let v = text.value(i);
                    match seen.iter().find(|(s, _)| *s == v) {
                        Some(&(_, c)) => c,
                        None => {
                            let c = crate::domain::channel_code(v);
                            seen.push((v, c));
                            c
                        }
                    }
                })
                .collect()
        }
        None => vec![crate::domain::NO_CHANNEL; n],
    };
    let country = b.get("country").map(|a| columns::strings(path, "country", a)).transpose()?;
    let (updated_at, upd_err) = b.optional("updated_at", columns::instants)?;
    let (snapshot_date, snap_err) = b.optional("snapshot_date", columns::dates)?;
    let mut extra = Vec::with_capacity(opts.extra_numeric.len());
    for name in &opts.extra_numeric {
        let a = col(name);
        let cast = arrow_cast::cast(a, &arrow_schema::DataType::Float64).map_err(|_| IngestError::ColumnType {
            path: path.to_path_buf(),
            column: name.clone(),
            found: a.data_type().to_string(),
            expected: "a numeric type (extra feature column)",
        })?;
        let f = arrow_array::cast::AsArray::as_primitive::<arrow_array::types::Float64Type>(&cast);
        extra.push((0..n).map(|i| if f.is_null(i) { f64::NAN } else { f.value(i) }).collect());
    }

    // First problem per row wins; cell errors first, in field order.
    let mut pr = Problems::new(n);
    pr.cells("currency", cur_err);
    pr.cells("invoice_date", idate_err);
    pr.cells("due_date", due_err);
    pr.cells("amount", amt_err);
    pr.cells("paid_date", paid_err);
    pr.cells("paid_amount", pamt_err);
    pr.cells("terms_days", terms_err);
    pr.cells("updated_at", upd_err);
    pr.cells("snapshot_date", snap_err);
    for i in 0..n {
        if pr.has(i) {
            continue;
        }
        if let Some(reason) = id_problem(&invoice_id, i, "invoice_id") {
            pr.set(i, "invoice_id", invoice_id.value(i).chars().take(40).collect(), reason);
        } else if let Some(reason) = id_problem(&customer_id, i, "customer_id") {
            pr.set(i, "customer_id", customer_id.value(i).chars().take(40).collect(), reason);
        } else if invoice_date[i] == NULL_DATE {
            pr.set(i, "invoice_date", String::new(), "invoice_date is required");
        } else if amount_minor[i] == NULL_AMOUNT {
            pr.set(i, "amount", String::new(), "amount is required");
        } else if amount_minor[i] < 0 {
            let value = crate::domain::Money::from_minor(amount_minor[i], currency[i]).to_major_string();
            pr.set(i, "amount", value, "amount should be >= 0 (credit notes are not invoices)");
        } else {
            if due_date[i] == NULL_DATE {
                if let Some(t) = terms[i] {
                    due_date[i] = invoice_date[i] + t;
                }
            }
            if due_date[i] == NULL_DATE {
                pr.set(i, "due_date", String::new(), "due_date is required (or terms_days to derive it)");
            } else if due_date[i] < invoice_date[i] {
                pr.set(i, "due_date", show_date(due_date[i]), "due_date is before invoice_date");
            } else if paid_date[i] != NULL_DATE && paid_date[i] < invoice_date[i] {
                pr.set(i, "paid_date", show_date(paid_date[i]), "paid_date is before invoice_date");
            } else if paid_minor[i] != NULL_AMOUNT && paid_minor[i] < 0 {
                let value = crate::domain::Money::from_minor(paid_minor[i], currency[i]).to_major_string();
                pr.set(i, "paid_amount", value, "paid_amount should be >= 0");
            }
        }
    }
    let (valid, rejects) = pr.finish("invoices", b);
    let chunk = InvoiceChunk {
        file: b.unit.path.clone(),
        first_row: b.first_row,
        invoice_id,
        customer_id,
        invoice_date,
        due_date,
        amount_minor,
        currency,
        paid_date,
        paid_minor,
        channel,
        country,
        extra,
        updated_at,
        snapshot_date,
        valid,
    };
    Ok((chunk, rejects))
}

/// Why the id in row `i` is unusable, if it is.
pub(crate) fn id_problem(ids: &StringArray, i: usize, field: &str) -> Option<String> {
    if ids.is_null(i) || ids.value(i).trim().is_empty() {
        Some(format!("{field} is required"))
    } else if ids.value(i).len() > MAX_ID_LEN {
        Some(format!("{field} is longer than {MAX_ID_LEN} bytes"))
    } else {
        None
    }
}

/// A day number as ISO text for messages.
pub(crate) fn show_date(days: i32) -> String {
    date_from_days(days).map(|d| d.to_string()).unwrap_or_else(|| days.to_string())
}
