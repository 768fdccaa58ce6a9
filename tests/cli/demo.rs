use crate::helpers::{arsight_ok, s};

#[test]
fn demo_generates_the_default_data_when_absent_and_prints_a_summary() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("default");
    let out = tmp.path().join("features");
    let first = arsight_ok(&["demo", "--data", s(&data), "--out", s(&out)]);
    assert!(first.contains("generating the default sample"), "{first}");
    assert!(first.contains("open receivables at 2024-06-30"), "{first}");
    assert!(out.join("customer_features.parquet").exists());
    let second = arsight_ok(&["demo", "--data", s(&data), "--out", s(&out)]);
    assert!(!second.contains("generating"), "existing data is reused: {second}");
}
