//! Reading the optional `holidays` table: the days on which the ledger's bank account
//! does not settle besides weekends (bank holidays), one row each, for every currency
//! or for one (`currency`).

use arrow_array::Array;

use super::columns::{self, NULL_DATE};
use super::problems::{collect, Problems};
use super::read::{map_batches, BatchColumns, ColumnSpec};
use super::source::TableSource;
use super::{IngestError, RejectedRow};
use crate::domain::{Currency, Holidays};

/// Reads every holiday (`date`, required; `currency`, optional: a day of that
/// currency's bank calendar only, every currency's when empty; `name`, optional and
/// only for people), with the rows whose date is missing or unparseable or whose
/// currency is not an ISO 4217 code.
///
/// # Errors
/// A file that cannot be read, lacks `date`, or has a `date` column of a type that
/// cannot hold a date.
pub fn read_holidays(source: &TableSource) -> Result<(Holidays, Vec<RejectedRow>), IngestError> {
    let specs = [
        ColumnSpec { name: "date", required: true },
        ColumnSpec { name: "currency", required: false },
        ColumnSpec { name: "name", required: false },
    ];
    let (chunks, rejects) = collect(map_batches(source, &specs, decode)?)?;
    let rows: Vec<(i32, Option<Currency>)> = chunks.into_iter().flatten().collect();
    let every = rows.iter().filter(|r| r.1.is_none()).map(|r| r.0);
    let own = rows.iter().filter_map(|&(d, c)| c.map(|c| (c, d)));
    Ok((Holidays::with_currencies(every, own), rejects))
}

type Chunk = Vec<(i32, Option<Currency>)>;

fn decode(b: &BatchColumns<'_>) -> Result<(Chunk, Vec<RejectedRow>), IngestError> {
    let path = b.unit.path.as_path();
    let (date, date_err) = columns::dates(path, "date", b.get("date").expect("required column projected"))?;
    let mut pr = Problems::new(b.rows);
    pr.cells("date", date_err);
    for (i, &d) in date.iter().enumerate() {
        if d == NULL_DATE && !pr.has(i) {
            pr.set(i, "date", String::new(), "date is required");
        }
    }
    let mut currency: Vec<Option<Currency>> = vec![None; b.rows];
    if let Some(arr) = b.get("currency") {
        let s = columns::strings(path, "currency", arr)?;
        for (i, c) in currency.iter_mut().enumerate() {
            let text = if s.is_null(i) { "" } else { s.value(i).trim() };
            if text.is_empty() || pr.has(i) {
                continue;
            }
            match Currency::parse(text) {
                Ok(v) => *c = Some(v),
                Err(e) => pr.set(i, "currency", text.to_string(), e.to_string()),
            }
        }
    }
    let out = (0..b.rows).filter(|&i| !pr.has(i)).map(|i| (date[i], currency[i])).collect();
    let (_, rejects) = pr.finish("holidays", b);
    Ok((out, rejects))
}
