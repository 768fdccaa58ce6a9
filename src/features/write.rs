//! Writing a [`FeatureSet`] to a feature directory: `customer_features.parquet`,
//! `invoice_features.parquet`, `manifest.json` and, when any, `rejects.csv`. Each file
//! is written to a temp file and renamed, so a crash leaves the previous set intact.

use std::path::Path;
use std::sync::Arc;

use arrow_array::builder::{Date32Builder, Decimal128Builder, Float64Builder, StringBuilder};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{catalogue, FeatureError, FeatureMatrix, FeatureSet};
use crate::contract::{self, minor_to_decimal, AMOUNT_TYPE};
use crate::ingest::{write_rejects, TableSource};

/// `manifest.json` of a feature directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureManifest {
    /// Layout version of the feature directory.
    pub format_version: u32,
    /// [`catalogue::FEATURE_VERSION`].
    pub feature_version: u32,
    /// [`catalogue::definition_hash`].
    pub definition_hash: String,
    /// As-of date.
    pub as_of: String,
    /// SHA-256 over the input tables' file names and sizes.
    pub data_fingerprint: String,
    /// Base currency of `*_base` features.
    pub base_currency: String,
    /// Currencies converted at 1.0 for lack of a rate.
    pub unknown_currencies: Vec<String>,
    /// Rows in `customer_features.parquet`.
    pub n_customers: usize,
    /// Rows in `invoice_features.parquet`.
    pub n_open_invoices: usize,
    /// Invoices visible at as_of.
    pub n_visible_invoices: usize,
    /// Rows in `rejects.csv`.
    pub n_rejects: usize,
    /// Customer feature columns, in order.
    pub customer_features: Vec<String>,
    /// Invoice feature columns, in order.
    pub invoice_features: Vec<String>,
    /// arsight version that wrote it.
    pub arsight_version: String,
}

/// Current feature-directory layout version.
pub const FORMAT_VERSION: u32 = 1;

/// SHA-256 over `table/file:size` lines of the tables present in `dir`.
pub fn data_fingerprint(dir: &Path) -> String {
    let mut h = Sha256::new();
    for table in ["invoices", "payments", "customers", "activities", "holidays"] {
        if let Ok(Some(src)) = TableSource::find(dir, table) {
            for f in &src.files {
                let size = std::fs::metadata(f).map(|m| m.len()).unwrap_or(0);
                // Relative to the table's folder: a partitioned dataset's files may share
                // names across partitions; a flat folder's stay their names.
                let name =
                    f.strip_prefix(dir.join(table)).unwrap_or_else(|_| f.file_name().map_or(f.as_path(), Path::new));
                let name = name.to_string_lossy();
                h.update(format!("{table}/{name}:{size}\n"));
            }
        }
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

fn werr(path: &Path, e: impl std::fmt::Display) -> FeatureError {
    FeatureError::Write { path: path.display().to_string(), reason: e.to_string() }
}

fn float_columns(m: &FeatureMatrix) -> Vec<(Field, ArrayRef)> {
    m.names
        .iter()
        .enumerate()
        .map(|(j, name)| {
            let mut b = Float64Builder::with_capacity(m.ids.len());
            for v in m.values.column(j) {
                b.append_value(*v);
            }
            (Field::new(name, DataType::Float64, false), Arc::new(b.finish()) as ArrayRef)
        })
        .collect()
}

fn string_column(name: &str, values: impl Iterator<Item = Option<String>>, nullable: bool) -> (Field, ArrayRef) {
    let mut b = StringBuilder::new();
    for v in values {
        b.append_option(v);
    }
    (Field::new(name, DataType::Utf8, nullable), Arc::new(b.finish()))
}

fn batch(cols: Vec<(Field, ArrayRef)>) -> RecordBatch {
    let (fields, arrays): (Vec<Field>, Vec<ArrayRef>) = cols.into_iter().unzip();
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).expect("columns have equal length")
}

/// Writes `set` into `out` (created if needed); `data_dir` is fingerprinted into the
/// manifest.
///
/// # Errors
/// [`FeatureError::Write`].
pub fn write_feature_set(
    set: &FeatureSet,
    data_dir: &Path,
    out: &Path,
    base_currency: &str,
) -> Result<FeatureManifest, FeatureError> {
    std::fs::create_dir_all(out).map_err(|e| werr(out, e))?;
    let mut cols = vec![
        string_column("customer_id", set.customers.ids.iter().cloned().map(Some), false),
        string_column("segment", set.segment.iter().cloned(), true),
        string_column("collector", set.collector.iter().cloned(), true),
        string_column("payment_runs", set.payment_runs.iter().cloned(), true),
    ];
    cols.extend(float_columns(&set.customers));
    let path = out.join("customer_features.parquet");
    contract::write_batch(&path, &batch(cols)).map_err(|e| werr(&path, e))?;

    let inv = &set.invoices;
    let dates = |v: &[i32]| {
        let mut b = Date32Builder::with_capacity(v.len());
        b.append_slice(v);
        Arc::new(b.finish()) as ArrayRef
    };
    let (idate, ddate) = (dates(&inv.invoice_date), dates(&inv.due_date));
    let mut amount = Decimal128Builder::with_capacity(inv.amount_minor.len()).with_data_type(AMOUNT_TYPE);
    for (m, c) in inv.amount_minor.iter().zip(&inv.currency) {
        amount.append_value(minor_to_decimal(*m, *c));
    }
    let mut cols = vec![
        string_column("invoice_id", inv.invoice_id.iter().cloned().map(Some), false),
        string_column("customer_id", inv.customer_id.iter().cloned().map(Some), false),
        string_column("currency", inv.currency.iter().map(|c| Some(c.to_string())), false),
        (Field::new("invoice_date", DataType::Date32, false), idate),
        (Field::new("due_date", DataType::Date32, false), ddate),
        (Field::new("amount", AMOUNT_TYPE, false), Arc::new(amount.finish()) as ArrayRef),
    ];
    cols.extend(float_columns(&inv.matrix));
    let path = out.join("invoice_features.parquet");
    contract::write_batch(&path, &batch(cols)).map_err(|e| werr(&path, e))?;

    let rejects_path = out.join("rejects.csv");
    if set.rejects.is_empty() {
        let _ = std::fs::remove_file(&rejects_path);
    } else {
        write_rejects(&rejects_path, &set.rejects).map_err(|e| werr(&rejects_path, e))?;
    }
    let manifest = FeatureManifest {
        format_version: FORMAT_VERSION,
        feature_version: catalogue::FEATURE_VERSION,
        definition_hash: catalogue::definition_hash(),
        as_of: set.as_of.to_string(),
        data_fingerprint: data_fingerprint(data_dir),
        base_currency: base_currency.to_string(),
        unknown_currencies: set.unknown_currencies.iter().map(|c| c.to_string()).collect(),
        n_customers: set.customers.ids.len(),
        n_open_invoices: inv.invoice_id.len(),
        n_visible_invoices: set.n_visible_invoices,
        n_rejects: set.rejects.len(),
        customer_features: set.customers.names.clone(),
        invoice_features: inv.matrix.names.clone(),
        arsight_version: env!("CARGO_PKG_VERSION").to_string(),
    };
    let path = out.join("manifest.json");
    let json = serde_json::to_vec_pretty(&manifest).map_err(|e| werr(&path, e))?;
    crate::fsutil::atomic_write(&path, |f| std::io::Write::write_all(f, &json)).map_err(|e| werr(&path, e))?;
    Ok(manifest)
}

/// Reads a feature directory's manifest.
///
/// # Errors
/// [`FeatureError::Write`] (named for the file) when it is missing or malformed.
pub fn read_manifest(dir: &Path) -> Result<FeatureManifest, FeatureError> {
    let path = dir.join("manifest.json");
    let text = std::fs::read_to_string(&path).map_err(|e| werr(&path, e))?;
    serde_json::from_str(&text).map_err(|e| werr(&path, e))
}
