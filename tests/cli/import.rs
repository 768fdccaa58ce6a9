use crate::helpers::{arsight_ok, read_parquet, s, strings};

#[test]
fn import_reports_and_writes_out_a_malformed_csv_row() {
    let tmp = tempfile::tempdir().unwrap();
    let csv = tmp.path().join("ar.csv");
    std::fs::write(&csv, "doc;cust;date;due;amt\nD1;C1;2024-01-05;2024-02-04;12.50\nD2;C1;2024-01-06;2024-02-05;twelve\nD3;C2;2024-01-07\n").unwrap();
    let mapping = tmp.path().join("m.toml");
    std::fs::write(
        &mapping,
        "table = \"invoices\"\ncsv_delimiter = \";\"\n[fields]\ninvoice_id = \"doc\"\ncustomer_id = \"cust\"\ninvoice_date = \"date\"\ndue_date = \"due\"\namount = \"amt\"\n",
    )
    .unwrap();
    let out = tmp.path().join("data");
    let stdout = arsight_ok(&["import", "--input", s(&csv), "--mapping", s(&mapping), "--out", s(&out)]);
    assert!(stdout.contains("read 3 rows, wrote 1"), "{stdout}");
    assert!(stdout.contains("rejected 2"), "{stdout}");
    let rejects = std::fs::read_to_string(out.join("invoices.rejects.csv")).unwrap();
    assert!(rejects.contains(",2,amount,twelve,"), "{rejects}");
    assert!(rejects.contains(",3,(row),,\"row has 3 fields, the header has 5\""), "{rejects}");
    assert_eq!(strings(&read_parquet(&out.join("invoices.parquet")), "invoice_id"), vec!["D1"]);
    // The imported directory feeds the feature pipeline.
    let f = tmp.path().join("f");
    arsight_ok(&["features", "--data", s(&out), "--as-of", "2024-03-01", "--out", s(&f)]);
    assert_eq!(strings(&read_parquet(&f.join("invoice_features.parquet")), "invoice_id"), vec!["D1"]);
}
