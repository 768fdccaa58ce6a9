//! Reading the optional `holidays` table: the days on which the ledger's bank account
//! does not settle besides weekends (bank holidays), one row each.

use super::columns::{self, NULL_DATE};
use super::problems::{collect, Problems};
use super::read::{map_batches, BatchColumns, ColumnSpec};
use super::source::TableSource;
use super::{IngestError, RejectedRow};
use crate::domain::Holidays;

/// Reads every holiday (`date`, required; `name`, optional and only for people), with
/// the rows whose date is missing or unparseable.
///
/// # Errors
/// A file that cannot be read, lacks `date`, or has a `date` column of a type that
/// cannot hold a date.
pub fn read_holidays(source: &TableSource) -> Result<(Holidays, Vec<RejectedRow>), IngestError> {
    let specs = [ColumnSpec { name: "date", required: true }, ColumnSpec { name: "name", required: false }];
    let (chunks, rejects) = collect(map_batches(source, &specs, decode)?)?;
    Ok((Holidays::new(chunks.into_iter().flatten()), rejects))
}

fn decode(b: &BatchColumns<'_>) -> Result<(Vec<i32>, Vec<RejectedRow>), IngestError> {
    let path = b.unit.path.as_path();
    let (date, date_err) = columns::dates(path, "date", b.get("date").expect("required column projected"))?;
    let mut pr = Problems::new(b.rows);
    pr.cells("date", date_err);
    for (i, &d) in date.iter().enumerate() {
        if d == NULL_DATE && !pr.has(i) {
            pr.set(i, "date", String::new(), "date is required");
        }
    }
    let out = (0..b.rows).filter(|&i| !pr.has(i)).map(|i| date[i]).collect();
    let (_, rejects) = pr.finish("holidays", b);
    Ok((out, rejects))
}
