//! Reading the optional `activities` table (reminders, promises, disputes).

use std::path::PathBuf;
use std::sync::Arc;

use arrow_array::{Array, StringArray};

use super::columns::{self, NULL_DATE};
use super::invoices::{id_problem, show_date};
use super::problems::{collect, Problems};
use super::read::{map_batches, BatchColumns, ColumnSpec};
use super::source::TableSource;
use super::{IngestError, RejectedRow};
use crate::domain::ActivityKind;

/// One decoded batch of activities; skip rows with `valid[i] == false`.
#[derive(Debug)]
pub struct ActivityChunk {
    /// Source file.
    pub file: Arc<PathBuf>,
    /// 1-based row (in `file`) of the chunk's first row.
    pub first_row: u64,
    /// `activity_id`, null when the file has no such column or the row none.
    pub activity_id: StringArray,
    /// `customer_id`.
    pub customer_id: StringArray,
    /// `invoice_id`, null when the activity concerns the account.
    pub invoice_id: StringArray,
    /// Activity date, days since epoch.
    pub date: Vec<i32>,
    /// Kind (`ActivityKind::Note` for rejected rows).
    pub kind: Vec<ActivityKind>,
    /// Promised date, [`NULL_DATE`] when none.
    pub promised_date: Vec<i32>,
    /// Whether each row passed validation.
    pub valid: Vec<bool>,
}

/// Reads every activity file in parallel.
///
/// # Errors
/// As [`super::read_invoices`].
pub fn read_activities<T: Send>(
    source: &TableSource,
    f: impl Fn(ActivityChunk) -> T + Sync,
) -> Result<(Vec<T>, Vec<RejectedRow>), IngestError> {
    let specs = [
        ColumnSpec { name: "activity_id", required: false },
        ColumnSpec { name: "customer_id", required: true },
        ColumnSpec { name: "invoice_id", required: false },
        ColumnSpec { name: "date", required: true },
        ColumnSpec { name: "kind", required: true },
        ColumnSpec { name: "promised_date", required: false },
    ];
    collect(map_batches(source, &specs, |b| decode(b).map(|(c, r)| (f(c), r)))?)
}

fn decode(b: &BatchColumns<'_>) -> Result<(ActivityChunk, Vec<RejectedRow>), IngestError> {
    let path = b.unit.path.as_path();
    let n = b.rows;
    let col = |name: &str| b.get(name).expect("required column projected");
    let customer_id = columns::strings(path, "customer_id", col("customer_id"))?;
    let activity_id = b.text_or_null("activity_id")?;
    let invoice_id = b.text_or_null("invoice_id")?;
    let (date, date_err) = columns::dates(path, "date", col("date"))?;
    let (promised_date, prom_err) = b.optional("promised_date", columns::dates)?;
    let promised_date = promised_date.unwrap_or_else(|| vec![NULL_DATE; n]);
    let kinds = columns::strings(path, "kind", col("kind"))?;
    let mut pr = Problems::new(n);
    pr.cells("date", date_err);
    pr.cells("promised_date", prom_err);
    let mut kind = Vec::with_capacity(n);
    for (i, &day) in date.iter().enumerate() {
        let k = (!kinds.is_null(i)).then(|| ActivityKind::parse(kinds.value(i))).flatten();
        kind.push(k.unwrap_or(ActivityKind::Note));
        if pr.has(i) {
            continue;
        }
        if let Some(reason) = id_problem(&customer_id, i, "customer_id") {
            pr.set(i, "customer_id", String::new(), reason);
        } else if day == NULL_DATE {
            pr.set(i, "date", String::new(), "date is required");
        } else if k.is_none() {
            let v = if kinds.is_null(i) { String::new() } else { kinds.value(i).to_string() };
            let names: Vec<_> = ActivityKind::ALL.iter().map(|k| k.as_str()).collect();
            pr.set(i, "kind", v, format!("kind should be one of {}", names.join(", ")));
        } else if k == Some(ActivityKind::PromiseToPay) && promised_date[i] != NULL_DATE && promised_date[i] < day {
            // Judged as kept or broken by its promised date, a promise dated before it
            // was made would be broken by payments made after it (a swapped or mistyped
            // date); a promise to pay today is fine.
            let reason = format!("promised_date is before the date the promise was made ({})", show_date(day));
            pr.set(i, "promised_date", show_date(promised_date[i]), reason);
        }
    }
    let (valid, rejects) = pr.finish("activities", b);
    Ok((
        ActivityChunk {
            file: b.unit.path.clone(),
            first_row: b.first_row,
            activity_id,
            customer_id,
            invoice_id,
            date,
            kind,
            promised_date,
            valid,
        },
        rejects,
    ))
}
