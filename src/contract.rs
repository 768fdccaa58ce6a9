//! The contract tables as arsight writes them (`docs/DATA.md`): Arrow schemas, batch
//! builders, and a Parquet sink that only appears under its final name once complete.
//!
//! Amounts are written as `decimal128(20, 4)` in major units (exact for every ISO
//! currency), dates as `date32`.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::builder::{BooleanBuilder, Date32Builder, Decimal128Builder, Int32Builder, StringBuilder};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use crate::domain::Currency;
use crate::ingest::IngestError;

/// Scale of written decimal amounts.
pub const AMOUNT_SCALE: i8 = 4;
/// Type of written amounts.
pub const AMOUNT_TYPE: DataType = DataType::Decimal128(20, AMOUNT_SCALE);
/// Rows per written row group (the unit of parallel reading).
pub const ROW_GROUP_ROWS: usize = 128 * 1024;

fn f(name: &str, dt: DataType, nullable: bool) -> Field {
    Field::new(name, dt, nullable)
}

/// Schema of `invoices` as written.
pub fn invoice_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        f("invoice_id", DataType::Utf8, false),
        f("customer_id", DataType::Utf8, false),
        f("invoice_date", DataType::Date32, false),
        f("due_date", DataType::Date32, false),
        f("amount", AMOUNT_TYPE, false),
        f("currency", DataType::Utf8, false),
        f("paid_date", DataType::Date32, true),
        f("paid_amount", AMOUNT_TYPE, true),
        f("disputed", DataType::Boolean, true),
        f("terms_days", DataType::Int32, true),
        f("channel", DataType::Utf8, true),
    ]))
}

/// Schema of `payments` as written.
pub fn payment_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        f("payment_id", DataType::Utf8, false),
        f("customer_id", DataType::Utf8, false),
        f("invoice_id", DataType::Utf8, true),
        f("payment_date", DataType::Date32, false),
        f("amount", AMOUNT_TYPE, false),
        f("currency", DataType::Utf8, false),
        f("method", DataType::Utf8, true),
        f("reference", DataType::Utf8, true),
    ]))
}

/// Schema of `customers` as written.
pub fn customer_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        f("customer_id", DataType::Utf8, false),
        f("name", DataType::Utf8, true),
        f("segment", DataType::Utf8, true),
        f("country", DataType::Utf8, true),
        f("credit_limit", AMOUNT_TYPE, true),
        f("currency", DataType::Utf8, true),
        f("collector", DataType::Utf8, true),
    ]))
}

/// Schema of `holidays` as written.
pub fn holiday_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        f("date", DataType::Date32, false),
        f("name", DataType::Utf8, true),
        f("currency", DataType::Utf8, true),
    ]))
}

/// Schema of `activities` as written.
pub fn activity_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        f("activity_id", DataType::Utf8, false),
        f("customer_id", DataType::Utf8, false),
        f("invoice_id", DataType::Utf8, true),
        f("date", DataType::Date32, false),
        f("kind", DataType::Utf8, false),
        f("promised_date", DataType::Date32, true),
        f("promised_amount", AMOUNT_TYPE, true),
        f("text", DataType::Utf8, true),
    ]))
}

/// Unscaled decimal at [`AMOUNT_SCALE`] for minor units of `currency`.
pub fn minor_to_decimal(minor: i64, currency: Currency) -> i128 {
    i128::from(minor) * 10_i128.pow((AMOUNT_SCALE as u32).saturating_sub(currency.minor_digits()))
}

fn amount_builder(cap: usize) -> Decimal128Builder {
    Decimal128Builder::with_capacity(cap).with_data_type(AMOUNT_TYPE)
}

/// An invoice row to write (dates as days since epoch).
#[derive(Debug, Clone)]
pub struct InvoiceRow<'a> {
    /// `invoice_id`.
    pub invoice_id: &'a str,
    /// `customer_id`.
    pub customer_id: &'a str,
    /// Issue date.
    pub invoice_date: i32,
    /// Due date.
    pub due_date: i32,
    /// Amount, minor units.
    pub amount_minor: i64,
    /// Currency.
    pub currency: Currency,
    /// Settlement date.
    pub paid_date: Option<i32>,
    /// Amount received at settlement.
    pub paid_minor: Option<i64>,
    /// Current dispute flag.
    pub disputed: Option<bool>,
    /// Payment terms.
    pub terms_days: Option<i32>,
    /// Delivery channel.
    pub channel: Option<&'a str>,
}

/// Accumulates invoice rows into a [`RecordBatch`] of [`invoice_schema`].
pub struct InvoiceBatchBuilder {
    invoice_id: StringBuilder,
    customer_id: StringBuilder,
    invoice_date: Date32Builder,
    due_date: Date32Builder,
    amount: Decimal128Builder,
    currency: StringBuilder,
    paid_date: Date32Builder,
    paid_amount: Decimal128Builder,
    disputed: BooleanBuilder,
    terms_days: Int32Builder,
    channel: StringBuilder,
    rows: usize,
}

impl InvoiceBatchBuilder {
    /// An empty builder sized for `cap` rows.
    pub fn with_capacity(cap: usize) -> Self {
        InvoiceBatchBuilder {
            invoice_id: StringBuilder::with_capacity(cap, cap * 12),
            customer_id: StringBuilder::with_capacity(cap, cap * 8),
            invoice_date: Date32Builder::with_capacity(cap),
            due_date: Date32Builder::with_capacity(cap),
            amount: amount_builder(cap),
            currency: StringBuilder::with_capacity(cap, cap * 3),
            paid_date: Date32Builder::with_capacity(cap),
            paid_amount: amount_builder(cap),
            disputed: BooleanBuilder::with_capacity(cap),
            terms_days: Int32Builder::with_capacity(cap),
            channel: StringBuilder::with_capacity(cap, cap * 6),
            rows: 0,
        }
    }

    /// Appends a row.
    pub fn push(&mut self, r: &InvoiceRow<'_>) {
        self.invoice_id.append_value(r.invoice_id);
        self.customer_id.append_value(r.customer_id);
        self.invoice_date.append_value(r.invoice_date);
        self.due_date.append_value(r.due_date);
        self.amount.append_value(minor_to_decimal(r.amount_minor, r.currency));
        self.currency.append_value(r.currency.as_str());
        self.paid_date.append_option(r.paid_date);
        self.paid_amount.append_option(r.paid_minor.map(|m| minor_to_decimal(m, r.currency)));
        self.disputed.append_option(r.disputed);
        self.terms_days.append_option(r.terms_days);
        self.channel.append_option(r.channel);
        self.rows += 1;
    }

    /// Rows pushed since the last [`Self::finish`].
    pub fn len(&self) -> usize {
        self.rows
    }

    /// Whether no rows are pending.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// The pending rows as a batch; the builder is left empty.
    pub fn finish(&mut self) -> RecordBatch {
        self.rows = 0;
        let cols: Vec<ArrayRef> = vec![
            Arc::new(self.invoice_id.finish()),
            Arc::new(self.customer_id.finish()),
            Arc::new(self.invoice_date.finish()),
            Arc::new(self.due_date.finish()),
            Arc::new(self.amount.finish()),
            Arc::new(self.currency.finish()),
            Arc::new(self.paid_date.finish()),
            Arc::new(self.paid_amount.finish()),
            Arc::new(self.disputed.finish()),
            Arc::new(self.terms_days.finish()),
            Arc::new(self.channel.finish()),
        ];
        RecordBatch::try_new(invoice_schema(), cols).expect("columns match invoice_schema")
    }
}

/// Writes record batches to a Parquet file that appears under its final name only
/// when [`ParquetSink::finish`] succeeds (temp file, sync, rename).
pub struct ParquetSink {
    path: PathBuf,
    tmp: PathBuf,
    writer: ArrowWriter<File>,
}

impl ParquetSink {
    /// Creates the temp file beside `path`.
    ///
    /// # Errors
    /// [`IngestError::Write`] when the file cannot be created.
    pub fn create(path: &Path, schema: SchemaRef) -> Result<Self, IngestError> {
        let werr = |e: &dyn std::fmt::Display| IngestError::Write { path: path.to_path_buf(), reason: e.to_string() };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| werr(&e))?;
        }
        let tmp = crate::fsutil::temp_path(path);
        let file = File::create(&tmp).map_err(|e| werr(&e))?;
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
            .build();
        let writer = ArrowWriter::try_new(file, schema, Some(props)).map_err(|e| werr(&e))?;
        Ok(ParquetSink { path: path.to_path_buf(), tmp, writer })
    }

    /// Appends a batch.
    ///
    /// # Errors
    /// [`IngestError::Write`] on I/O or encoding failure.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), IngestError> {
        self.writer.write(batch).map_err(|e| IngestError::Write { path: self.path.clone(), reason: e.to_string() })
    }

    /// Closes, syncs and renames into place.
    ///
    /// # Errors
    /// [`IngestError::Write`]; the temp file is removed.
    pub fn finish(self) -> Result<(), IngestError> {
        let werr = |e: &dyn std::fmt::Display| IngestError::Write { path: self.path.clone(), reason: e.to_string() };
        let result = (|| {
            let file = self.writer.into_inner().map_err(|e| werr(&e))?;
            file.sync_data().map_err(|e| werr(&e))?;
            std::fs::rename(&self.tmp, &self.path).map_err(|e| werr(&e))
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&self.tmp);
        }
        result
    }
}

/// Writes one batch as a whole Parquet file.
///
/// # Errors
/// [`IngestError::Write`].
pub fn write_batch(path: &Path, batch: &RecordBatch) -> Result<(), IngestError> {
    let mut sink = ParquetSink::create(path, batch.schema())?;
    sink.write(batch)?;
    sink.finish()
}

/// Builders for the small tables, one row at a time.
pub mod rows {
    use super::*;

    /// A typed column builder for the optional tables.
    pub enum Col {
        /// Text.
        Str(StringBuilder),
        /// Date (days since epoch).
        Date(Date32Builder),
        /// Amount.
        Amount(Decimal128Builder),
        /// Boolean.
        Bool(BooleanBuilder),
        /// 32-bit integer.
        Int(Int32Builder),
        /// Float (extra numeric columns).
        Float(arrow_array::builder::Float64Builder),
    }

    /// A row-at-a-time builder over a schema of text, date and amount columns.
    pub struct TableBuilder {
        schema: SchemaRef,
        cols: Vec<Col>,
        rows: usize,
    }

    /// A cell value.
    pub enum Cell<'a> {
        /// Text or null.
        Str(Option<&'a str>),
        /// Date or null.
        Date(Option<i32>),
        /// Amount (minor units, currency) or null.
        Amount(Option<(i64, Currency)>),
        /// Boolean or null.
        Bool(Option<bool>),
        /// Integer or null.
        Int(Option<i32>),
        /// Float or null.
        Float(Option<f64>),
    }

    impl TableBuilder {
        /// A builder for `schema` (columns Utf8, Date32, the amount decimal, Boolean, Int32 or Float64).
        pub fn new(schema: SchemaRef) -> Self {
            let cols = schema
                .fields()
                .iter()
                .map(|f| match f.data_type() {
                    DataType::Date32 => Col::Date(Date32Builder::new()),
                    DataType::Decimal128(_, _) => Col::Amount(amount_builder(0)),
                    DataType::Boolean => Col::Bool(BooleanBuilder::new()),
                    DataType::Int32 => Col::Int(Int32Builder::new()),
                    DataType::Float64 => Col::Float(arrow_array::builder::Float64Builder::new()),
                    _ => Col::Str(StringBuilder::new()),
                })
                .collect();
            TableBuilder { schema, cols, rows: 0 }
        }

        /// Appends a row; cells in schema order.
        ///
        /// # Panics
        /// When a cell's kind does not match its column (a programming error).
        pub fn push(&mut self, cells: &[Cell<'_>]) {
            assert_eq!(cells.len(), self.cols.len(), "one cell per column");
            for (c, v) in self.cols.iter_mut().zip(cells) {
                match (c, v) {
                    (Col::Str(b), Cell::Str(s)) => b.append_option(*s),
                    (Col::Date(b), Cell::Date(d)) => b.append_option(*d),
                    (Col::Amount(b), Cell::Amount(a)) => b.append_option(a.map(|(m, c)| minor_to_decimal(m, c))),
                    (Col::Bool(b), Cell::Bool(v)) => b.append_option(*v),
                    (Col::Int(b), Cell::Int(v)) => b.append_option(*v),
                    (Col::Float(b), Cell::Float(v)) => b.append_option(*v),
                    _ => panic!("cell kind does not match column"),
                }
            }
            self.rows += 1;
        }

        /// Rows pending.
        pub fn len(&self) -> usize {
            self.rows
        }

        /// Whether no rows are pending.
        pub fn is_empty(&self) -> bool {
            self.rows == 0
        }

        /// The pending rows as a batch.
        pub fn finish(&mut self) -> RecordBatch {
            self.rows = 0;
            let arrays: Vec<ArrayRef> = self
                .cols
                .iter_mut()
                .map(|c| -> ArrayRef {
                    match c {
                        Col::Str(b) => Arc::new(b.finish()),
                        Col::Date(b) => Arc::new(b.finish()),
                        Col::Amount(b) => Arc::new(b.finish()),
                        Col::Bool(b) => Arc::new(b.finish()),
                        Col::Int(b) => Arc::new(b.finish()),
                        Col::Float(b) => Arc::new(b.finish()),
                    }
                })
                .collect();
            RecordBatch::try_new(self.schema.clone(), arrays).expect("columns match schema")
        }
    }
}
