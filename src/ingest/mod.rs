//! Parquet → validated columnar chunks of the data contract (`docs/DATA.md`).
//!
//! Tables are read row group by row group in parallel, with only the columns used and
//! in batches, so memory stays bounded by what the caller keeps. Every row that fails
//! validation comes back as a [`RejectedRow`] naming file, row, field and reason.
//! Uses only `domain`.

mod activities;
pub mod columns;
mod customers;
mod error;
mod fx_rates;
mod holidays;
mod invoices;
mod payments;
mod problems;
pub mod read;
mod reject;
mod source;

pub use activities::{read_activities, ActivityChunk};
pub use customers::read_customers;
pub use error::IngestError;
pub use fx_rates::{read_fx_rates, FxRate};
pub use holidays::read_holidays;
pub use invoices::{read_invoices, read_invoices_with, InvoiceChunk, InvoiceReadOptions};
pub use payments::{read_payments, PaymentChunk};
pub use reject::{summarize_rejects, write_rejects, RejectedRow};
pub use source::{TableSource, Unit};
