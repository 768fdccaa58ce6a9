//! Reading the optional `fx_rates` table: conversion rates into one base currency,
//! optionally dated (a rate applies from its date on).

use arrow_array::cast::AsArray;
use arrow_array::types::Float64Type;
use arrow_array::Array;
use arrow_schema::DataType;

use super::columns::{self, NULL_DATE};
use super::problems::{collect, Problems};
use super::read::{map_batches, BatchColumns, ColumnSpec};
use super::source::TableSource;
use super::{IngestError, RejectedRow};
use crate::domain::Currency;

/// One row of the `fx_rates` table.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FxRate {
    /// The currency converted.
    pub currency: Currency,
    /// The base currency the rate is quoted against.
    pub base: Currency,
    /// Units of `currency` per one unit of `base` (a conversion factor, not money).
    pub per_base: f64,
    /// The day the rate applies from (None: always).
    pub from: Option<i32>,
}

/// Reads every rate, with the rows that fail validation (unknown currency, a rate
/// that is not a positive number).
///
/// # Errors
/// A file that cannot be read, lacks `currency` or `rate`, or has a column of a type
/// that cannot hold its field.
pub fn read_fx_rates(source: &TableSource) -> Result<(Vec<FxRate>, Vec<RejectedRow>), IngestError> {
    let specs = [
        ColumnSpec { name: "currency", required: true },
        ColumnSpec { name: "rate", required: true },
        ColumnSpec { name: "base", required: false },
        ColumnSpec { name: "date", required: false },
    ];
    let (chunks, rejects) = collect(map_batches(source, &specs, decode)?)?;
    Ok((chunks.into_iter().flatten().collect(), rejects))
}

fn decode(b: &BatchColumns<'_>) -> Result<(Vec<FxRate>, Vec<RejectedRow>), IngestError> {
    let path = b.unit.path.as_path();
    let n = b.rows;
    let cur_col = b.get("currency").expect("required column projected");
    let cur_text = columns::strings(path, "currency", cur_col)?;
    let (currency, cur_err) = columns::currencies(path, "currency", Some(cur_col), n, Currency::USD)?;
    let (base, base_err) = columns::currencies(path, "base", b.get("base"), n, Currency::USD)?;
    let (date, date_err) = b.optional("date", columns::dates)?;
    let date = date.unwrap_or_else(|| vec![NULL_DATE; n]);
    let rate_col = b.get("rate").expect("required column projected");
    let numeric = matches!(
        rate_col.data_type(),
        DataType::Float64
            | DataType::Float32
            | DataType::Int64
            | DataType::Int32
            | DataType::Decimal128(..)
            | DataType::Utf8
            | DataType::LargeUtf8
    );
    if !numeric {
        return Err(IngestError::ColumnType {
            path: path.to_path_buf(),
            column: "rate".into(),
            found: rate_col.data_type().to_string(),
            expected: "a number (float, integer or decimal) or decimal text",
        });
    }
    let raw = columns::strings(
        path,
        "rate",
        &arrow_cast::cast(rate_col, &DataType::Utf8)
            .map_err(|e| IngestError::Arrow { path: path.to_path_buf(), source: e })?,
    )?;
    let rates = arrow_cast::cast(rate_col, &DataType::Float64)
        .map_err(|e| IngestError::Arrow { path: path.to_path_buf(), source: e })?;
    let rates = rates.as_primitive::<Float64Type>();
    let mut pr = Problems::new(n);
    for i in 0..n {
        if cur_text.is_null(i) || cur_text.value(i).trim().is_empty() {
            pr.set(i, "currency", String::new(), "currency is required");
        }
    }
    pr.cells("currency", cur_err);
    pr.cells("base", base_err);
    pr.cells("date", date_err);
    for i in 0..n {
        let text = if raw.is_null(i) { String::new() } else { raw.value(i).to_string() };
        if rates.is_null(i) {
            let reason = if text.is_empty() {
                "rate is required".to_string()
            } else {
                format!("rate should be a number, but is '{text}'")
            };
            pr.set(i, "rate", text, reason);
        } else if !(rates.value(i).is_finite() && rates.value(i) > 0.0) {
            pr.set(
                i,
                "rate",
                text,
                "rate should be a positive number of units of the currency per one unit of the base",
            );
        } else if currency[i] == base[i] && (rates.value(i) - 1.0).abs() > 1e-12 {
            pr.set(i, "rate", text, "a currency's rate against itself is 1");
        }
    }
    let mut out = Vec::new();
    for i in 0..n {
        if !pr.has(i) {
            out.push(FxRate {
                currency: currency[i],
                base: base[i],
                per_base: rates.value(i),
                from: (date[i] != NULL_DATE).then_some(date[i]),
            });
        }
    }
    let (_, rejects) = pr.finish("fx_rates", b);
    Ok((out, rejects))
}
