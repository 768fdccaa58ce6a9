//! Point-in-time features: per-customer payment-behaviour vectors and per-invoice
//! rows for the invoices open at an as-of date.
//!
//! Only what was known at the end of `as_of` is used (see [`history`]); the property
//! test in this module's tests checks that rows dated after `as_of` change nothing.
//! Uses `domain` and `ingest`.

pub mod catalogue;
pub mod customer;
pub mod fx;
pub mod history;
pub mod invoice;
pub mod ledger;
mod matrix;
pub mod stats;
mod write;

#[cfg(test)]
mod tests;

use std::path::Path;

use chrono::NaiveDate;
use ndarray::Array2;
use rayon::prelude::*;

pub use catalogue::{customer_feature_names, definition_hash, invoice_feature_names, FEATURE_VERSION};
pub use customer::{customer_at, CustomerAt};
pub use fx::FxTable;
pub use history::{load_history, History};
pub use invoice::invoice_values;
pub use matrix::FeatureMatrix;
pub use write::{read_manifest, write_feature_set, FeatureManifest};

use crate::domain::{days_from_date, Currency};
use crate::ingest::{IngestError, InvoiceReadOptions, RejectedRow};

/// Errors of the feature layer.
#[derive(Debug, thiserror::Error)]
pub enum FeatureError {
    /// Reading the data failed.
    #[error(transparent)]
    Ingest(#[from] IngestError),
    /// Writing the outputs failed.
    #[error("cannot write {path}: {reason}")]
    Write {
        /// File.
        path: String,
        /// Cause.
        reason: String,
    },
    /// The `fx_rates` table cannot give one rate per currency.
    #[error("fx_rates: {0}")]
    FxRates(String),
}

/// Options of [`build_features`].
#[derive(Debug, Clone, Default)]
pub struct FeatureOptions {
    /// How to read invoices (default currency, extra numeric columns).
    pub read: InvoiceReadOptions,
    /// FX rates to a base currency, for model inputs.
    pub fx: FxTable,
}

/// Open-invoice features with their identity columns.
#[derive(Debug, Clone)]
pub struct InvoiceFeatures {
    /// Invoice ids.
    pub invoice_id: Vec<String>,
    /// Customer ids.
    pub customer_id: Vec<String>,
    /// Currency.
    pub currency: Vec<Currency>,
    /// Issue day (days since epoch).
    pub invoice_date: Vec<i32>,
    /// Due day.
    pub due_date: Vec<i32>,
    /// Amount, minor units.
    pub amount_minor: Vec<i64>,
    /// Features (invoice catalogue, then extras), one row per invoice.
    pub matrix: FeatureMatrix,
}

/// Everything [`build_features`] computes.
#[derive(Debug, Clone)]
pub struct FeatureSet {
    /// As-of date.
    pub as_of: NaiveDate,
    /// One row per customer known at as_of, sorted by id.
    pub customers: FeatureMatrix,
    /// Segment per customer row.
    pub segment: Vec<Option<String>>,
    /// Collector per customer row.
    pub collector: Vec<Option<String>>,
    /// The payment-run calendar each customer's settlements by as_of follow, if any
    /// (e.g. "weekly on Thursday").
    pub payment_runs: Vec<Option<String>>,
    /// Invoices open at as_of, by customer id then invoice date.
    pub invoices: InvoiceFeatures,
    /// Rows rejected while reading.
    pub rejects: Vec<RejectedRow>,
    /// Invoices visible at as_of (issued on or before it, valid, unique).
    pub n_visible_invoices: usize,
    /// Currencies converted without a rate.
    pub unknown_currencies: Vec<Currency>,
}

/// Builds the feature set of the data directory `dir` as of the end of `as_of`.
///
/// # Errors
/// [`FeatureError`] when a table cannot be read.
///
/// # Example
/// ```no_run
/// # use arsight::features::{build_features, FeatureOptions};
/// let as_of = chrono::NaiveDate::from_ymd_opt(2024, 6, 30).unwrap();
/// let set = build_features(std::path::Path::new("data/default"), as_of, &FeatureOptions::default())?;
/// println!("{} customers, {} open invoices", set.customers.ids.len(), set.invoices.invoice_id.len());
/// # Ok::<(), arsight::features::FeatureError>(())
/// ```
#[tracing::instrument(skip(opts), fields(dir = %dir.display()))]
pub fn build_features(dir: &Path, as_of: NaiveDate, opts: &FeatureOptions) -> Result<FeatureSet, FeatureError> {
    let h = load_history(dir, days_from_date(as_of), &opts.read, &opts.fx)?;
    Ok(features_from_history(&h, as_of, &opts.read.extra_numeric))
}

/// Computes the feature set from an already loaded history.
pub fn features_from_history(h: &History, as_of: NaiveDate, extra_names: &[String]) -> FeatureSet {
    let mut order: Vec<usize> = (0..h.customers.len()).collect();
    order.sort_by(|&a, &b| h.customers[a].cmp(&h.customers[b]));
    let per: Vec<([f64; customer::N_CUSTOMER], Vec<invoice::OpenInvoiceRow>, Option<crate::domain::PaymentRun>)> =
        order
            .par_iter()
            .map(|&c| {
                let at = customer::customer_at_as_of(h, c);
                (at.vector, invoice::open_invoice_rows(&at, c), at.run)
            })
            .collect();

    let names: Vec<String> = customer_feature_names().into_iter().map(String::from).collect();
    let mut cust_values = Array2::<f64>::zeros((order.len(), names.len()));
    let n_open: usize = per.iter().map(|p| p.1.len()).sum();
    let n_extra = extra_names.len();
    let mut inv_names: Vec<String> = invoice_feature_names().into_iter().map(String::from).collect();
    inv_names.extend(extra_names.iter().cloned());
    let mut inv_values = Array2::<f64>::zeros((n_open, inv_names.len()));
    let mut inv = InvoiceFeatures {
        invoice_id: Vec::with_capacity(n_open),
        customer_id: Vec::with_capacity(n_open),
        currency: Vec::with_capacity(n_open),
        invoice_date: Vec::with_capacity(n_open),
        due_date: Vec::with_capacity(n_open),
        amount_minor: Vec::with_capacity(n_open),
        matrix: FeatureMatrix::default(),
    };
    let mut row = 0;
    let payment_runs = per.iter().map(|p| p.2.map(crate::domain::PaymentRun::describe)).collect();
    for (k, (vec, rows, _)) in per.into_iter().enumerate() {
        cust_values.row_mut(k).assign(&ndarray::ArrayView1::from(&vec[..]));
        for r in rows {
            let src = &h.invoices[r.pos];
            let info = &h.open[src.open_slot as usize];
            inv.invoice_id.push(info.invoice_id.clone());
            inv.customer_id.push(h.customers[r.cust].clone());
            inv.currency.push(src.currency);
            inv.invoice_date.push(src.invoice_date);
            inv.due_date.push(src.due_date);
            inv.amount_minor.push(src.amount_minor);
            let mut out = inv_values.row_mut(row);
            for (j, v) in r.values.iter().enumerate() {
                out[j] = *v;
            }
            for j in 0..n_extra {
                out[invoice::N_INVOICE + j] = info.extra.get(j).copied().unwrap_or(f64::NAN);
            }
            row += 1;
        }
    }
    inv.matrix = FeatureMatrix { ids: inv.invoice_id.clone(), names: inv_names, values: inv_values };
    FeatureSet {
        as_of,
        customers: FeatureMatrix {
            ids: order.iter().map(|&c| h.customers[c].clone()).collect(),
            names,
            values: cust_values,
        },
        segment: order.iter().map(|&c| h.master[c].segment.clone()).collect(),
        collector: order.iter().map(|&c| h.master[c].collector.clone()).collect(),
        payment_runs,
        invoices: inv,
        rejects: h.rejects.clone(),
        n_visible_invoices: h.invoices.len(),
        unknown_currencies: h.unknown_currencies.clone(),
    }
}
