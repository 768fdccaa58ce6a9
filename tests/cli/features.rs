use crate::helpers::{arsight, arsight_ok, read_parquet, s, strings, write_invoices};

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
    let row = |id: &str, c: &str, issue, due, amount, paid| (id.to_string(), c.to_string(), issue, due, amount, paid);
    write_invoices(
        tmp.path(),
        &[
            row("1", "acme", 19700, 19730, 10.5, Some(19735)),
            row("2", "acme", 19710, 19740, 20.25, None),
            row("3", "globex", 19720, 19750, 99.99, None),
        ],
    );
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
