//! Reading the optional `customers` table (master data, small).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use arrow_array::Array;

use super::columns::{self, NULL_AMOUNT};
use super::invoices::{id_problem, InvoiceReadOptions};
use super::problems::{collect, Problems};
use super::read::{map_batches, BatchColumns, ColumnSpec};
use super::source::TableSource;
use super::{IngestError, RejectedRow};
use crate::domain::{Customer, CustomerId, Money};

/// Reads all customers.
///
/// # Errors
/// As [`super::read_invoices`].
pub fn read_customers(
    source: &TableSource,
    opts: &InvoiceReadOptions,
) -> Result<(Vec<Customer>, Vec<RejectedRow>), IngestError> {
    let specs = [
        ColumnSpec { name: "customer_id", required: true },
        ColumnSpec { name: "name", required: false },
        ColumnSpec { name: "segment", required: false },
        ColumnSpec { name: "country", required: false },
        ColumnSpec { name: "credit_limit", required: false },
        ColumnSpec { name: "currency", required: false },
        ColumnSpec { name: "collector", required: false },
    ];
    let (chunks, mut rejects) = collect(map_batches(source, &specs, |b| decode(b, opts))?)?;
    // One row per customer: a later row with the same id is rejected, not merged over
    // the first (the invoices' rule for their ids).
    let mut first: HashMap<String, (Arc<PathBuf>, u64)> = HashMap::new();
    let mut out = Vec::new();
    for (c, file, row) in chunks.into_iter().flatten() {
        match first.get(c.customer_id.as_str()) {
            Some((f, r)) => {
                let seen = if *f == file { format!("row {r}") } else { format!("row {r} of {}", f.display()) };
                let value = c.customer_id.as_str().chars().take(40).collect();
                let reason = format!("duplicate customer_id (first seen in {seen})");
                rejects.push(RejectedRow::at("customers", &file, row, "customer_id", value, reason));
            }
            None => {
                first.insert(c.customer_id.as_str().to_string(), (file, row));
                out.push(c);
            }
        }
    }
    Ok((out, rejects))
}

/// A customer row with its file and 1-based row.
type Located = (Customer, Arc<PathBuf>, u64);

fn decode(b: &BatchColumns<'_>, opts: &InvoiceReadOptions) -> Result<(Vec<Located>, Vec<RejectedRow>), IngestError> {
    let path = b.unit.path.as_path();
    let n = b.rows;
    let ids = columns::strings(path, "customer_id", b.get("customer_id").expect("required column projected"))?;
    let text = |name: &str| -> Result<Option<arrow_array::StringArray>, IngestError> {
        b.get(name).map(|a| columns::strings(path, name, a)).transpose()
    };
    let (name, segment, country, collector) = (text("name")?, text("segment")?, text("country")?, text("collector")?);
    let (currency, cur_err) = columns::currencies(path, "currency", b.get("currency"), n, opts.default_currency)?;
    let (limit, lim_err) = b.optional("credit_limit", |p, c, a| columns::amounts(p, c, a, &currency))?;
    let limit = limit.unwrap_or_else(|| vec![NULL_AMOUNT; n]);
    let mut pr = Problems::new(n);
    pr.cells("currency", cur_err);
    pr.cells("credit_limit", lim_err);
    for i in 0..n {
        if let Some(reason) = id_problem(&ids, i, "customer_id") {
            pr.set(i, "customer_id", String::new(), reason);
        }
    }
    let get = |a: &Option<arrow_array::StringArray>, i: usize| {
        a.as_ref().filter(|a| !a.is_null(i)).map(|a| a.value(i).to_string())
    };
    let mut out = Vec::new();
    for i in 0..n {
        if pr.has(i) {
            continue;
        }
        let Ok(customer_id) = CustomerId::parse(ids.value(i)) else { continue };
        let c = Customer {
            customer_id,
            name: get(&name, i),
            segment: get(&segment, i),
            country: get(&country, i),
            credit_limit: (limit[i] != NULL_AMOUNT).then(|| Money::from_minor(limit[i], currency[i])),
            collector: get(&collector, i),
        };
        out.push((c, b.unit.path.clone(), b.first_row + i as u64));
    }
    let (_, rejects) = pr.finish("customers", b);
    Ok((out, rejects))
}
