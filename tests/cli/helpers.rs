//! Running the real binary and reading its Parquet outputs.

use std::path::Path;
use std::process::{Command, Output};

use arrow_array::cast::AsArray;
use arrow_array::{Array, RecordBatch};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

/// Runs `arsight` with arguments (and extra environment), returning its output.
pub fn arsight(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_arsight"));
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("binary runs")
}

/// Like [`arsight`] but the command must succeed; returns stdout.
pub fn arsight_ok(args: &[&str]) -> String {
    let out = arsight(args, &[]);
    assert!(out.status.success(), "arsight {args:?} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// All batches of a Parquet file.
pub fn read_parquet(path: &Path) -> Vec<RecordBatch> {
    let f = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    ParquetRecordBatchReaderBuilder::try_new(f).unwrap().build().unwrap().map(|b| b.unwrap()).collect()
}

/// The values of a text column over all batches.
pub fn strings(batches: &[RecordBatch], column: &str) -> Vec<String> {
    batches
        .iter()
        .flat_map(|b| {
            let a = b.column_by_name(column).unwrap_or_else(|| panic!("column {column}")).as_string::<i32>().clone();
            (0..a.len()).map(move |i| a.value(i).to_string()).collect::<Vec<_>>()
        })
        .collect()
}

/// The path as `&str`.
pub fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}

/// An invoice row: (invoice_id, customer_id, invoice_date, due_date, amount, paid_date),
/// dates in days since 1970-01-01.
pub type InvoiceRow = (String, String, i32, i32, f64, Option<i32>);

/// Writes `dir/invoices.parquet` with the contract's required columns and float amounts.
pub fn write_invoices(dir: &Path, rows: &[InvoiceRow]) {
    use std::sync::Arc;

    use arrow_array::{ArrayRef, Date32Array, Float64Array, StringArray};
    use arrow_schema::{DataType, Field, Schema};
    let schema = Arc::new(Schema::new(vec![
        Field::new("invoice_id", DataType::Utf8, false),
        Field::new("customer_id", DataType::Utf8, false),
        Field::new("invoice_date", DataType::Date32, false),
        Field::new("due_date", DataType::Date32, false),
        Field::new("amount", DataType::Float64, false),
        Field::new("paid_date", DataType::Date32, true),
    ]));
    let cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(rows.iter().map(|r| r.0.as_str()).collect::<Vec<_>>())),
        Arc::new(StringArray::from(rows.iter().map(|r| r.1.as_str()).collect::<Vec<_>>())),
        Arc::new(Date32Array::from(rows.iter().map(|r| r.2).collect::<Vec<_>>())),
        Arc::new(Date32Array::from(rows.iter().map(|r| r.3).collect::<Vec<_>>())),
        Arc::new(Float64Array::from(rows.iter().map(|r| r.4).collect::<Vec<_>>())),
        Arc::new(Date32Array::from(rows.iter().map(|r| r.5).collect::<Vec<_>>())),
    ];
    let batch = RecordBatch::try_new(schema.clone(), cols).unwrap();
    let file = std::fs::File::create(dir.join("invoices.parquet")).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(file, schema, None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}
