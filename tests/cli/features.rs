use std::sync::Arc;

use arrow_array::{ArrayRef, Date32Array, Float64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};

use crate::helpers::{arsight, arsight_ok, read_parquet, s, strings};

#[test]
fn generate_then_features_writes_one_row_per_customer() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let out = tmp.path().join("features");
    arsight_ok(&["generate", "--customers", "300", "--invoices", "15000", "--seed", "7", "--out", s(&data)]);
    let stdout = arsight_ok(&["features", "--data", s(&data), "--as-of", "2024-06-30", "--out", s(&out)]);
    assert!(stdout.contains("customers"), "{stdout}");
    let customers = strings(&read_parquet(&out.join("customer_features.parquet")), "customer_id");
    let mut unique = customers.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), customers.len(), "one row per customer");
    assert!(customers.len() > 250 && customers.len() <= 300);
    let invoices = read_parquet(&out.join("invoice_features.parquet"));
    assert!(invoices.iter().map(|b| b.num_rows()).sum::<usize>() > 0);
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["as_of"], "2024-06-30");
    assert_eq!(manifest["n_customers"], customers.len());
    assert_eq!(manifest["definition_hash"].as_str().unwrap().len(), 64);
}

#[test]
fn a_hand_written_invoices_only_directory_with_float_amounts_is_accepted() {
    let tmp = tempfile::tempdir().unwrap();
    let schema = Arc::new(Schema::new(vec![
        Field::new("invoice_id", DataType::Utf8, false),
        Field::new("customer_id", DataType::Utf8, false),
        Field::new("invoice_date", DataType::Date32, false),
        Field::new("due_date", DataType::Date32, false),
        Field::new("amount", DataType::Float64, false),
        Field::new("paid_date", DataType::Date32, true),
    ]));
    let cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(vec!["1", "2", "3"])),
        Arc::new(StringArray::from(vec!["acme", "acme", "globex"])),
        Arc::new(Date32Array::from(vec![19700, 19710, 19720])),
        Arc::new(Date32Array::from(vec![19730, 19740, 19750])),
        Arc::new(Float64Array::from(vec![10.5, 20.25, 99.99])),
        Arc::new(Date32Array::from(vec![Some(19735), None, None])),
    ];
    let batch = RecordBatch::try_new(schema.clone(), cols).unwrap();
    let file = std::fs::File::create(tmp.path().join("invoices.parquet")).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(file, schema, None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    let out = tmp.path().join("f");
    arsight_ok(&["features", "--data", s(tmp.path()), "--as-of", "2024-01-20", "--out", s(&out)]);
    assert_eq!(strings(&read_parquet(&out.join("customer_features.parquet")), "customer_id"), vec!["acme", "globex"]);
    assert_eq!(strings(&read_parquet(&out.join("invoice_features.parquet")), "invoice_id"), vec!["2", "3"]);
}

#[test]
fn a_missing_table_or_column_fails_with_a_message_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let o = arsight(
        &["features", "--data", s(tmp.path()), "--as-of", "2024-01-01", "--out", s(&tmp.path().join("f"))],
        &[],
    );
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("required table 'invoices' not found"), "{err}");
}
