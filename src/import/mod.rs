//! Import of ERP/billing exports: a CSV or Parquet file plus a TOML column mapping
//! ([`Mapping`]) become one contract table in Parquet.
//!
//! Every source row is either written or rejected with its row number, field and
//! reason: rows read = rows written + rows rejected. A missing mapped column or an
//! unreadable file fails at once, naming the file and column. Uses `domain`,
//! `ingest` (rejects) and `contract` (writer).

mod fields;
mod mapping;
mod source;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

pub use fields::{table_fields, FieldDef, Kind};
pub use mapping::{ColumnSpec, Derivation, Mapping, OutputField};

use crate::contract::rows::{Cell, TableBuilder};
use crate::contract::ParquetSink;
use crate::domain::{days_from_date, parse_date_flexible, ActivityKind, Currency, Money};
use crate::ingest::columns::parse_bool;
use crate::ingest::{summarize_rejects, write_rejects, IngestError, RejectedRow};

/// Import failed as a whole.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The mapping file is invalid.
    #[error("mapping {path}: {reason}")]
    Mapping {
        /// Mapping file.
        path: PathBuf,
        /// Problem.
        reason: String,
    },
    /// The input cannot be read.
    #[error("cannot read {path}: {reason}")]
    Read {
        /// Input file.
        path: PathBuf,
        /// Cause.
        reason: String,
    },
    /// A mapped column is not in the input.
    #[error("{path}: column '{column}' (mapped to {field}) is not in the file (columns: {present})")]
    MissingColumn {
        /// Input file.
        path: PathBuf,
        /// Source column.
        column: String,
        /// Contract field.
        field: String,
        /// Columns present.
        present: String,
    },
    /// Writing failed.
    #[error(transparent)]
    Write(#[from] IngestError),
}

/// What an import did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ImportSummary {
    /// Contract table written.
    pub table: String,
    /// Data rows read from the input.
    pub rows_read: u64,
    /// Rows written.
    pub rows_written: u64,
    /// Rows rejected.
    pub rows_rejected: u64,
    /// Rejections grouped by field and reason, most frequent first.
    pub rejected_by_reason: Vec<(String, usize)>,
    /// Output file.
    pub output: String,
    /// Rejects file, when any row was rejected.
    pub rejects_file: Option<String>,
}

#[derive(Debug, Clone)]
enum Value {
    Null,
    Str(String),
    Date(i32),
    Amount(i64),
    Bool(bool),
    Int(i32),
    Float(f64),
}

/// Imports `input` with `mapping` into `out/<table>.parquet`; rejects go to
/// `rejects` (default `out/<table>.rejects.csv`).
///
/// # Errors
/// [`ImportError`] for an invalid mapping, an unreadable input, a missing mapped
/// column or a failed write. Bad rows are not errors.
pub fn import_file(
    input: &Path,
    mapping: &Mapping,
    out: &Path,
    rejects: Option<&Path>,
) -> Result<ImportSummary, ImportError> {
    let mut rows = source::open(input, mapping.delimiter)?;
    let header = rows.header().to_vec();
    let mut col_index = Vec::with_capacity(mapping.outputs.len());
    for o in &mapping.outputs {
        col_index.push(match &o.source {
            Some(spec) => Some(
                spec.columns()
                    .into_iter()
                    .map(|c| {
                        header.iter().position(|h| h.trim() == c.trim()).ok_or_else(|| ImportError::MissingColumn {
                            path: input.to_path_buf(),
                            column: c.to_string(),
                            field: o.name.clone(),
                            present: header.join(", "),
                        })
                    })
                    .collect::<Result<Vec<usize>, _>>()?,
            ),
            None => None,
        });
    }
    let schema = std::sync::Arc::new(arrow_schema::Schema::new(
        mapping
            .outputs
            .iter()
            .map(|o| arrow_schema::Field::new(&o.name, o.kind.data_type(), !o.required))
            .collect::<Vec<_>>(),
    ));
    let out_path = out.join(format!("{}.parquet", mapping.table));
    let mut sink = ParquetSink::create(&out_path, schema.clone())?;
    let mut builder = TableBuilder::new(schema);
    // Rows of one invoice with `updated_at` or `snapshot_date` are its versions, not
    // duplicates.
    let versions = mapping.table == "invoices"
        && mapping.outputs.iter().any(|o| o.name == "updated_at" || o.name == "snapshot_date");
    let unique = fields::unique_field(mapping.table)
        .filter(|_| !versions)
        .and_then(|u| mapping.outputs.iter().position(|o| o.name == u));
    let mut seen: HashMap<String, u64> = HashMap::new();
    let file = input.display().to_string();
    let mut summary = ImportSummary { table: mapping.table.into(), ..Default::default() };
    let mut rejected: Vec<RejectedRow> = Vec::new();
    let mut reject = |row: u64, field: &str, value: &str, reason: String| {
        rejected.push(RejectedRow {
            table: mapping.table.into(),
            file: file.clone(),
            row,
            field: field.into(),
            value: value.chars().take(80).collect(),
            reason,
        });
    };
    while let Some(next) = rows.next_row() {
        summary.rows_read += 1;
        let row_no = summary.rows_read;
        let cells = match next {
            Ok(cells) => cells,
            Err(reason) => {
                reject(row_no, "(row)", "", reason);
                continue;
            }
        };
        if cells.len() != header.len() {
            reject(row_no, "(row)", "", format!("row has {} fields, the header has {}", cells.len(), header.len()));
            continue;
        }
        match convert_row(mapping, &col_index, &cells) {
            Err((field, value, reason)) => reject(row_no, &field, &value, reason),
            Ok(values) => {
                if let Some(u) = unique {
                    if let Value::Str(id) = &values[u] {
                        if let Some(first) = seen.get(id) {
                            let name = &mapping.outputs[u].name;
                            reject(row_no, name, id, format!("duplicate {name} (first seen in row {first})"));
                            continue;
                        }
                        seen.insert(id.clone(), row_no);
                    }
                }
                let currency = currency_of(mapping, &values);
                let cells: Vec<Cell<'_>> = values
                    .iter()
                    .zip(&mapping.outputs)
                    .map(|(v, o)| match v {
                        Value::Null => typed_null(o.kind),
                        Value::Str(s) => Cell::Str(Some(s)),
                        Value::Date(d) => Cell::Date(Some(*d)),
                        Value::Amount(m) => Cell::Amount(Some((*m, currency))),
                        Value::Bool(b) => Cell::Bool(Some(*b)),
                        Value::Int(i) => Cell::Int(Some(*i)),
                        Value::Float(x) => Cell::Float(Some(*x)),
                    })
                    .collect();
                builder.push(&cells);
                summary.rows_written += 1;
                if builder.len() >= 64 * 1024 {
                    sink.write(&builder.finish())?;
                }
            }
        }
    }
    sink.write(&builder.finish())?;
    sink.finish()?;
    summary.rows_rejected = rejected.len() as u64;
    summary.rejected_by_reason = summarize_rejects(&rejected);
    summary.output = out_path.display().to_string();
    let rejects_path =
        rejects.map(Path::to_path_buf).unwrap_or_else(|| out.join(format!("{}.rejects.csv", mapping.table)));
    if rejected.is_empty() {
        let _ = std::fs::remove_file(&rejects_path);
    } else {
        write_rejects(&rejects_path, &rejected)?;
        summary.rejects_file = Some(rejects_path.display().to_string());
    }
    Ok(summary)
}

fn typed_null(kind: Kind) -> Cell<'static> {
    match kind {
        Kind::Date => Cell::Date(None),
        Kind::Amount => Cell::Amount(None),
        Kind::Bool => Cell::Bool(None),
        Kind::Int => Cell::Int(None),
        Kind::Number => Cell::Float(None),
        _ => Cell::Str(None),
    }
}

fn currency_of(mapping: &Mapping, values: &[Value]) -> Currency {
    mapping
        .outputs
        .iter()
        .position(|o| o.kind == Kind::Currency)
        .and_then(|i| match &values[i] {
            Value::Str(s) => Currency::parse(s).ok(),
            _ => None,
        })
        .unwrap_or(mapping.default_currency)
}

type RowProblem = (String, String, String);

fn convert_row(
    mapping: &Mapping,
    col_index: &[Option<Vec<usize>>],
    cells: &[Option<String>],
) -> Result<Vec<Value>, RowProblem> {
    let n = mapping.outputs.len();
    let mut raw: Vec<Option<String>> = vec![None; n];
    let cell = |ci: usize| cells[ci].as_deref().map(str::trim).filter(|s| !s.is_empty());
    for (i, o) in mapping.outputs.iter().enumerate() {
        raw[i] = match (&col_index[i], &o.source) {
            (Some(cis), Some(ColumnSpec::Joined { columns, separator })) => {
                // Every part, or none (then the field is missing): a key with a part
                // left out would be another key.
                let parts: Vec<Option<&str>> = cis.iter().map(|&ci| cell(ci)).collect();
                if let Some(k) = parts.iter().position(Option::is_none).filter(|_| parts.iter().any(Option::is_some)) {
                    let given: Vec<&str> = parts.iter().map(|p| p.unwrap_or("")).collect();
                    let reason = format!("{} joins columns {columns:?}, but '{}' is empty", o.name, columns[k]);
                    return Err((o.name.clone(), given.join(separator), reason));
                }
                parts.into_iter().collect::<Option<Vec<&str>>>().map(|p| p.join(separator))
            }
            (Some(cis), Some(spec)) => cell(cis[0]).map(|s| apply_values(spec, s)),
            _ => None,
        };
    }
    // Currency first: amounts need it.
    let mut currency = mapping.default_currency;
    let mut values = vec![Value::Null; n];
    for (i, o) in mapping.outputs.iter().enumerate() {
        if o.kind == Kind::Currency {
            currency = match &raw[i] {
                Some(t) => Currency::parse(t).map_err(|e| (o.name.clone(), t.clone(), e.to_string()))?,
                None => mapping.default_currency,
            };
            values[i] = Value::Str(currency.to_string());
        }
    }
    for (i, o) in mapping.outputs.iter().enumerate() {
        if o.kind == Kind::Currency {
            continue;
        }
        let Some(text) = &raw[i] else { continue };
        let problem = |reason: String| (o.name.clone(), text.clone(), reason);
        values[i] = match o.kind {
            Kind::Id | Kind::Text => Value::Str(text.clone()),
            Kind::Date => Value::Date(parse_date(text, o, mapping).ok_or_else(|| {
                let fmts = formats(o, mapping).join(", ");
                problem(format!("not a date in formats [{fmts}] or ISO-8601"))
            })?),
            Kind::Amount => Value::Amount(
                Money::parse_major(&mapping.numbers.normalize(text), currency)
                    .map_err(|e| problem(e.to_string()))?
                    .minor,
            ),
            Kind::Bool => Value::Bool(
                parse_bool(text)
                    .ok_or_else(|| problem("should be true/false, yes/no or 1/0 (or add a value map)".into()))?,
            ),
            Kind::Int => Value::Int(text.parse().map_err(|_| problem("should be a whole number".into()))?),
            Kind::Number => {
                Value::Float(mapping.numbers.normalize(text).parse().map_err(|_| problem("should be a number".into()))?)
            }
            Kind::ActivityKind => {
                let k = ActivityKind::parse(text).ok_or_else(|| problem("not an activity kind".into()))?;
                Value::Str(k.as_str().to_string())
            }
            Kind::Currency => unreachable!("handled above"),
        };
    }
    // Derived fields fill gaps.
    for (i, o) in mapping.outputs.iter().enumerate() {
        if !matches!(values[i], Value::Null) {
            continue;
        }
        let find = |name: &str| mapping.outputs.iter().position(|x| x.name == name).map(|j| &values[j]);
        values[i] = match &o.derived {
            Some(Derivation::DatePlusDays(base, days)) => match find(base) {
                Some(Value::Date(d)) => Value::Date(d + days),
                _ => Value::Null,
            },
            Some(Derivation::DatePlusField(base, add)) => match (find(base), find(add)) {
                (Some(Value::Date(d)), Some(Value::Int(k))) => Value::Date(d + k),
                _ => Value::Null,
            },
            None => Value::Null,
        };
    }
    for (i, o) in mapping.outputs.iter().enumerate() {
        if o.required && matches!(values[i], Value::Null) {
            let how = if o.derived.is_some() { " (and could not be derived)" } else { "" };
            return Err((o.name.clone(), String::new(), format!("{} is required{how}", o.name)));
        }
    }
    check_row(mapping, &values)?;
    Ok(values)
}

/// Cross-field rules of the contract.
fn check_row(mapping: &Mapping, values: &[Value]) -> Result<(), RowProblem> {
    let get = |name: &str| mapping.outputs.iter().position(|o| o.name == name).map(|i| &values[i]);
    if mapping.table == "invoices" {
        // Neither falls due nor is paid before it is issued.
        for field in ["due_date", "paid_date"] {
            if let (Some(Value::Date(i)), Some(Value::Date(d))) = (get("invoice_date"), get(field)) {
                if d < i {
                    return Err((
                        field.into(),
                        crate::domain::date_from_days(*d).map(|x| x.to_string()).unwrap_or_default(),
                        format!("{field} is before invoice_date"),
                    ));
                }
            }
        }
        if let Some(Value::Amount(a)) = get("amount") {
            if *a < 0 {
                return Err((
                    "amount".into(),
                    Money::from_minor(*a, currency_of(mapping, values)).to_major_string(),
                    "amount should be >= 0 (credit notes are not invoices)".into(),
                ));
            }
        }
    }
    Ok(())
}

fn apply_values(spec: &ColumnSpec, text: &str) -> String {
    if let ColumnSpec::Full { values, .. } = spec {
        if let Some(v) = values.get(text) {
            return match v {
                toml::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
        }
    }
    text.to_string()
}

fn formats<'a>(o: &'a OutputField, mapping: &'a Mapping) -> Vec<&'a str> {
    let own: &[String] = match &o.source {
        Some(ColumnSpec::Full { date_formats, .. }) => date_formats,
        _ => &[],
    };
    own.iter().chain(&mapping.date_formats).map(String::as_str).collect()
}

fn parse_date(text: &str, o: &OutputField, mapping: &Mapping) -> Option<i32> {
    for f in formats(o, mapping) {
        if let Ok(d) = chrono::NaiveDate::parse_from_str(text, f) {
            return Some(days_from_date(d));
        }
    }
    parse_date_flexible(text).map(days_from_date)
}

#[cfg(test)]
mod tests;
