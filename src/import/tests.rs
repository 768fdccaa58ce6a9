//! Import tests: every row is written or rejected with row, field and reason.

use std::path::Path;

use arrow_array::cast::AsArray;
use arrow_array::types::{Date32Type, Decimal128Type};

use super::*;
use crate::domain::days_from_date;
use crate::fixtures::read_batches;

const MAPPING: &str = r#"
table = "invoices"
default_currency = "EUR"
date_formats = ["%d.%m.%Y"]
[fields]
invoice_id = "Belegnr"
customer_id = "Kunde"
invoice_date = "Datum"
amount = "Betrag"
currency = "Whg"
terms_days = "Ziel"
paid_date = "Bezahlt"
disputed = { column = "Strittig", values = { Ja = true, Nein = false } }
[derived]
due_date = "invoice_date + terms_days"
[extra]
region = "Region"
"#;

fn run(csv: &[u8]) -> (ImportSummary, Vec<RejectedRow>, Vec<arrow_array::RecordBatch>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("export.csv");
    std::fs::write(&input, csv).unwrap();
    let m = Mapping::parse(MAPPING, Path::new("m.toml")).unwrap();
    let out = dir.path().join("out");
    let s = import_file(&input, &m, &out, None).unwrap();
    let mut rejects = Vec::new();
    if let Some(f) = &s.rejects_file {
        let mut r = csv::Reader::from_path(f).unwrap();
        for rec in r.records() {
            let rec = rec.unwrap();
            rejects.push(RejectedRow {
                table: rec[0].into(),
                file: rec[1].into(),
                row: rec[2].parse().unwrap(),
                field: rec[3].into(),
                value: rec[4].into(),
                reason: rec[5].into(),
            });
        }
    }
    let batches = read_batches(&out.join("invoices.parquet"));
    (s, rejects, batches, dir)
}

#[test]
fn malformed_rows_are_reported_not_dropped() {
    let mut csv = b"Belegnr,Kunde,Datum,Betrag,Whg,Ziel,Bezahlt,Strittig,Region\n".to_vec();
    csv.extend_from_slice(b"R1,K1,31.01.2024,100.50,EUR,30,15.02.2024,Nein,Nord\n"); // 1 ok
    csv.extend_from_slice(b"R2,K1,31.02.2024,10,EUR,30,,Nein,Nord\n"); // 2 bad date
    csv.extend_from_slice(b"R3,K2,01.02.2024,12.345,EUR,30,,Ja,Sud\n"); // 3 too precise
    csv.extend_from_slice(b"R4,K2,01.02.2024,5,EUR\n"); // 4 short row
    csv.extend_from_slice(b"R1,K3,01.03.2024,7,EUR,30,,Nein,Ost\n"); // 5 duplicate id
    csv.extend_from_slice(b",K3,01.03.2024,7,EUR,30,,Nein,Ost\n"); // 6 no id
    csv.extend_from_slice(b"R7,K3,01.03.2024,700,JPY,,,Nein,Ost\n"); // 7 no terms: due_date not derivable
    csv.extend_from_slice(b"R8,K3,01.03.2024,700,JPY,14,,vielleicht,Ost\n"); // 8 bad bool
    csv.extend_from_slice(b"R9,K\xff,01.03.2024,1,EUR,14,,Nein,Ost\n"); // 9 not utf-8
    csv.extend_from_slice(b"R10,K4,01.03.2024,-3,EUR,14,,Nein,\n"); // 10 negative
    csv.extend_from_slice(b"R11,K4,01.03.2024,1200,JPY,14,,,\n"); // 11 ok, JPY
    csv.extend_from_slice(b"R12,K4,01.03.2024,5,EUR,14,28.02.2024,Nein,\n"); // 12 paid before issued
    let (s, rejects, batches, _dir) = run(&csv);
    assert_eq!(s.rows_read, 12);
    assert_eq!(s.rows_written, 2);
    assert_eq!(s.rows_read, s.rows_written + s.rows_rejected, "rows in = rows out + rows rejected");
    let got: Vec<(u64, &str)> = rejects.iter().map(|r| (r.row, r.field.as_str())).collect();
    assert_eq!(
        got,
        vec![
            (2, "invoice_date"),
            (3, "amount"),
            (4, "(row)"),
            (5, "invoice_id"),
            (6, "invoice_id"),
            (7, "due_date"),
            (8, "disputed"),
            (9, "(row)"),
            (10, "amount"),
            (12, "paid_date"),
        ]
    );
    assert_eq!(rejects[9].reason, "paid_date is before invoice_date");
    assert_eq!(rejects[9].value, "2024-02-28");
    assert!(rejects[2].reason.contains("row has 5 fields, the header has 9"), "{}", rejects[2].reason);
    assert!(rejects[3].reason.contains("first seen in row 1"));
    let b = &batches[0];
    assert_eq!(b.num_rows(), 2);
    let due = b.column_by_name("due_date").unwrap().as_primitive::<Date32Type>();
    assert_eq!(
        due.value(0),
        days_from_date(chrono::NaiveDate::from_ymd_opt(2024, 3, 1).unwrap()),
        "derived from terms"
    );
    let amt = b.column_by_name("amount").unwrap().as_primitive::<Decimal128Type>();
    assert_eq!(amt.value(0), 1_005_000, "100.50 at scale 4");
    assert_eq!(amt.value(1), 12_000_000, "1200 JPY at scale 4");
    assert_eq!(b.column_by_name("region").unwrap().as_string::<i32>().value(0), "Nord");
}

#[test]
fn a_missing_mapped_column_fails_naming_file_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("export.csv");
    std::fs::write(&input, "Belegnr,Kunde\nR1,K1\n").unwrap();
    let m = Mapping::parse(MAPPING, Path::new("m.toml")).unwrap();
    let err = import_file(&input, &m, &dir.path().join("out"), None).unwrap_err().to_string();
    assert!(err.contains("export.csv") && err.contains("'Datum'") && err.contains("invoice_date"), "{err}");
}

#[test]
fn an_unreadable_file_fails_naming_it() {
    let m = Mapping::parse(MAPPING, Path::new("m.toml")).unwrap();
    let err = import_file(Path::new("no/such/export.csv"), &m, Path::new("unused"), None).unwrap_err().to_string();
    assert!(err.contains("no/such/export.csv"), "{err}");
}

#[test]
fn parquet_exports_import_like_csv() {
    let dir = tempfile::tempdir().unwrap();
    let (_, _, _, csv_dir) = run(
        b"Belegnr,Kunde,Datum,Betrag,Whg,Ziel,Bezahlt,Strittig,Region\nR1,K1,31.01.2024,100.50,EUR,30,,Nein,Nord\n",
    );
    // The written contract file, re-imported with a mapping onto its own names.
    let input = csv_dir.path().join("out/invoices.parquet");
    let mapping = r#"
table = "invoices"
[fields]
invoice_id = "invoice_id"
customer_id = "customer_id"
invoice_date = "invoice_date"
due_date = "due_date"
amount = "amount"
currency = "currency"
"#;
    let m = Mapping::parse(mapping, Path::new("m.toml")).unwrap();
    let s = import_file(&input, &m, dir.path(), None).unwrap();
    assert_eq!((s.rows_read, s.rows_written, s.rows_rejected), (1, 1, 0));
    let b = &read_batches(&dir.path().join("invoices.parquet"))[0];
    assert_eq!(b.column_by_name("amount").unwrap().as_primitive::<Decimal128Type>().value(0), 1_005_000);
}

#[test]
fn the_shared_ibm_dataset_imports_every_row() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let input = root.join("../shared/data/ibm-ar/WA_Fn-UseC_-Accounts-Receivable.csv");
    if !input.exists() {
        eprintln!("skipping: {} is absent (the shared dataset is not part of a fresh clone)", input.display());
        return;
    }
    let m = Mapping::load(&root.join("examples/mappings/ibm-ar-invoices.toml")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let s = import_file(&input, &m, dir.path(), None).unwrap();
    assert_eq!(s.rows_read, 2466);
    assert_eq!(s.rows_written + s.rows_rejected, s.rows_read);
    assert_eq!(s.rows_rejected, 0, "{:?}", s.rejected_by_reason);
    let batches = read_batches(&dir.path().join("invoices.parquet"));
    let b = &batches[0];
    assert_eq!(b.column_by_name("invoice_id").unwrap().as_string::<i32>().value(0), "0000611365", "leading zeros kept");
    assert_eq!(b.column_by_name("amount").unwrap().as_primitive::<Decimal128Type>().value(0), 559_400);
    let disputed = b.column_by_name("disputed").unwrap().as_boolean();
    assert!(!disputed.value(0) && disputed.value(1));
    // And the features accept it: 100 customers, every invoice settled by the end.
    let set = crate::features::build_features(
        dir.path(),
        chrono::NaiveDate::from_ymd_opt(2014, 12, 31).unwrap(),
        &crate::features::FeatureOptions::default(),
    )
    .unwrap();
    assert_eq!(set.customers.ids.len(), 100);
    assert_eq!(set.invoices.invoice_id.len(), 0);
    assert_eq!(set.n_visible_invoices, 2466);
}

#[test]
fn the_erp_open_items_example_reads_spreadsheet_dates_and_rejects_duplicates() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let m = Mapping::load(&root.join("examples/mappings/erp-open-items.toml")).unwrap();
    let csv = "business_code,cust_number,clear_date,doc_id,due_in_date,invoice_currency,total_open_amount,baseline_create_date,cust_payment_terms,invoice_id,isOpen\n\
U001,0200769623,2020-02-11 00:00:00,1930438491.0,20200210.0,USD,54273.28,20200126.0,NAH4,1930438491.0,0\n\
CA02,0140105686,,2960623488.0,20200410.0,CAD,1200.5,20200331.0,CA10,2960623488.0,1\n\
U001,0200769623,2020-02-11 00:00:00,1930438491.0,20200210.0,USD,54273.28,20200126.0,NAH4,1930438491.0,0\n\
U001,0200980828,2019-08-08,1929646410.0,20190824,USD,79.0,20190809,NAA8,1929646410.0,0\n\
U001,0200980828,2019-08-30,1929646411.0,20190824,USD,-79.0,20190809,NAA8,1929646411.0,0\n";
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("open_items.csv");
    std::fs::write(&input, csv).unwrap();
    let s = import_file(&input, &m, dir.path(), None).unwrap();
    assert_eq!((s.rows_read, s.rows_written, s.rows_rejected), (5, 2, 3), "{:?}", s.rejected_by_reason);
    let b = &read_batches(&dir.path().join("invoices.parquet"))[0];
    let day = |y, m, d| days_from_date(chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap());
    let dates = |c: &str| b.column_by_name(c).unwrap().as_primitive::<Date32Type>().clone();
    assert_eq!(dates("invoice_date").value(0), day(2020, 1, 26));
    assert_eq!(dates("due_date").value(0), day(2020, 2, 10));
    assert_eq!(dates("paid_date").value(0), day(2020, 2, 11));
    assert!(arrow_array::Array::is_null(&dates("paid_date"), 1), "an empty clearing date is an open invoice");
    assert_eq!(b.column_by_name("currency").unwrap().as_string::<i32>().value(1), "CAD");
    assert_eq!(b.column_by_name("invoice_id").unwrap().as_string::<i32>().value(0), "1930438491.0");
    let reasons: Vec<&str> = s.rejected_by_reason.iter().map(|(r, _)| r.as_str()).collect();
    assert!(reasons.iter().any(|r| r.contains("duplicate invoice_id")), "{reasons:?}");
    assert!(reasons.iter().any(|r| r.contains("credit notes")), "{reasons:?}");
    assert!(reasons.iter().any(|r| r.contains("paid_date is before invoice_date")), "{reasons:?}");
}

#[test]
fn amounts_written_the_continental_way_import_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("export.csv");
    let mut csv = b"\xef\xbb\xbfBelegnr;Kunde;Datum;Betrag;Whg;Ziel;Bezahlt;Strittig;Region\n".to_vec();
    csv.extend_from_slice(b"R1;K1;31.01.2024;1.234,56;EUR;30;;Nein;1.000,5\n"); // 1 ok
    csv.extend_from_slice(b"R2;K1;31.01.2024;99,9;EUR;30;;Nein;\n"); // 2 ok
    csv.extend_from_slice(b"R3;K1;31.01.2024;5,00-;EUR;30;;Nein;\n"); // 3 a credit, minus behind
    csv.extend_from_slice(b"R4;K1;31.01.2024;1,234.56;EUR;30;;Nein;\n"); // 4 the other convention
    csv.extend_from_slice(b"R5;K1;31.01.2024;12,345;EUR;30;;Nein;\n"); // 5 three decimals in EUR
    std::fs::write(&input, &csv).unwrap();
    let text = MAPPING.replace(
        "date_formats",
        "csv_delimiter = \";\"\ndecimal_separator = \",\"\nthousands_separator = \".\"\ndate_formats",
    );
    let text = text.replace("region = \"Region\"", "region = { column = \"Region\", type = \"number\" }");
    let m = Mapping::parse(&text, Path::new("m.toml")).unwrap();
    let out = dir.path().join("out");
    let s = import_file(&input, &m, &out, None).unwrap();
    assert_eq!((s.rows_read, s.rows_written, s.rows_rejected), (5, 2, 3));
    let b = &read_batches(&out.join("invoices.parquet"))[0];
    let amt = b.column_by_name("amount").unwrap().as_primitive::<Decimal128Type>();
    assert_eq!((amt.value(0), amt.value(1)), (12_345_600, 999_000), "1.234,56 and 99,9 at scale 4");
    let region = b.column_by_name("region").unwrap().as_primitive::<arrow_array::types::Float64Type>();
    assert_eq!(region.value(0), 1000.5);
    let rejects = std::fs::read_to_string(s.rejects_file.unwrap()).unwrap();
    let reasons: Vec<&str> = rejects.lines().skip(1).collect();
    assert!(reasons[0].contains(",3,amount,-5.00,") && reasons[0].contains("credit notes"), "{rejects}");
    assert!(reasons[1].contains(",4,amount,\"1,234.56\","), "{rejects}");
    assert!(reasons[2].contains(",5,amount,") && reasons[2].contains("decimals"), "{rejects}");

    let same = "decimal_separator = \",\"\nthousands_separator = \",\"\n".to_string() + MAPPING;
    let err = Mapping::parse(&same, Path::new("m.toml")).unwrap_err().to_string();
    assert!(err.contains("m.toml") && err.contains("should differ"), "{err}");
    let digit = "decimal_separator = \"0\"\n".to_string() + MAPPING;
    let err = Mapping::parse(&digit, Path::new("m.toml")).unwrap_err().to_string();
    assert!(err.contains("decimal_separator should be one character other than a digit"), "{err}");
}

#[test]
fn an_id_unique_only_with_other_columns_is_joined_from_them() {
    // Document numbers repeat across company codes; together they are unique.
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("items.csv");
    let mut csv = b"BUKRS,BELNR,KUNNR,BLDAT,NETDT,WRBTR,AUGDT\n".to_vec();
    csv.extend_from_slice(b"1000,42,K1,2024-01-02,2024-02-01,10.00,2024-02-03\n"); // 1
    csv.extend_from_slice(b"2000,42,K2,2024-01-02,2024-02-01,20.00,\n"); // 2 same number, other company
    csv.extend_from_slice(b"1000,42,K1,2024-01-05,2024-02-04,30.00,\n"); // 3 a true duplicate
    csv.extend_from_slice(b",43,K1,2024-01-05,2024-02-04,30.00,\n"); // 4 company code missing
    std::fs::write(&input, &csv).unwrap();
    let m = Mapping::parse(
        r#"
table = "invoices"
[fields]
invoice_id = { columns = ["BUKRS", "BELNR"] }
customer_id = "KUNNR"
invoice_date = "BLDAT"
due_date = "NETDT"
amount = "WRBTR"
paid_date = "AUGDT"
"#,
        Path::new("m.toml"),
    )
    .unwrap();
    let out = dir.path().join("out");
    let s = import_file(&input, &m, &out, None).unwrap();
    assert_eq!((s.rows_read, s.rows_written, s.rows_rejected), (4, 2, 2), "{s:?}");
    let b = &read_batches(&out.join("invoices.parquet"))[0];
    let ids = b.column_by_name("invoice_id").unwrap().as_string::<i32>();
    assert_eq!((ids.value(0), ids.value(1)), ("1000-42", "2000-42"), "the same number in two companies");
    let rejects = std::fs::read_to_string(s.rejects_file.unwrap()).unwrap();
    let lines: Vec<&str> = rejects.lines().skip(1).collect();
    assert!(lines[0].contains(",3,invoice_id,1000-42,duplicate invoice_id (first seen in row 1)"), "{rejects}");
    assert!(
        lines[1].ends_with(
            ",4,invoice_id,-43,\"invoice_id joins columns [\"\"BUKRS\"\", \"\"BELNR\"\"], but 'BUKRS' is empty\""
        ),
        "{rejects}"
    );

    let missing = Mapping::parse(
        "table = \"invoices\"\n[fields]\ninvoice_id = { columns = [\"BUKRS\", \"NOPE\"] }\ncustomer_id = \"KUNNR\"\ninvoice_date = \"BLDAT\"\ndue_date = \"NETDT\"\namount = \"WRBTR\"\n",
        Path::new("m.toml"),
    )
    .unwrap();
    let err = import_file(&input, &missing, &dir.path().join("o2"), None).unwrap_err().to_string();
    assert!(err.contains("NOPE") && err.contains("invoice_id"), "{err}");
    let empty = "table = \"invoices\"\n[fields]\ninvoice_id = { columns = [] }\ncustomer_id = \"KUNNR\"\ninvoice_date = \"BLDAT\"\ndue_date = \"NETDT\"\namount = \"WRBTR\"\n";
    let err = Mapping::parse(empty, Path::new("m.toml")).unwrap_err().to_string();
    assert!(err.contains("fields.invoice_id: columns should name at least one column"), "{err}");
}

/// Monthly exports concatenated into one file: with `updated_at` mapped the rows of an
/// invoice are its versions, all written, and the reader merges them (the newest
/// settlement). A payments export repeats a remittance's id across invoices.
#[test]
fn versions_of_invoices_and_split_remittances_import_whole() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("aging.csv");
    let mut csv = b"Doc,Cust,Issued,Due,Amt,Cleared,Export\n".to_vec();
    csv.extend_from_slice(b"D1,K1,2024-01-05,2024-02-04,10.00,,2024-01-31\n");
    csv.extend_from_slice(b"D1,K1,2024-01-05,2024-02-04,10.00,2024-02-10,2024-02-29\n");
    csv.extend_from_slice(b"D2,K1,2024-02-05,2024-03-06,20.00,,2024-02-29\n");
    std::fs::write(&input, &csv).unwrap();
    let m = Mapping::parse(
        "table = \"invoices\"\n[fields]\ninvoice_id = \"Doc\"\ncustomer_id = \"Cust\"\ninvoice_date = \"Issued\"\ndue_date = \"Due\"\namount = \"Amt\"\npaid_date = \"Cleared\"\nupdated_at = \"Export\"\n",
        Path::new("m.toml"),
    )
    .unwrap();
    let out = dir.path().join("out");
    let s = import_file(&input, &m, &out, None).unwrap();
    assert_eq!((s.rows_read, s.rows_written, s.rows_rejected), (3, 3, 0), "{s:?}");
    let pay_input = dir.path().join("remit.csv");
    std::fs::write(&pay_input, b"Id,Cust,Doc,Date,Amt\nR1,K1,D1,2024-02-10,10.00\nR1,K1,D2,2024-02-10,5.00\n").unwrap();
    let pm = Mapping::parse(
        "table = \"payments\"\n[fields]\npayment_id = \"Id\"\ncustomer_id = \"Cust\"\ninvoice_id = \"Doc\"\npayment_date = \"Date\"\namount = \"Amt\"\n",
        Path::new("p.toml"),
    )
    .unwrap();
    let s = import_file(&pay_input, &pm, &out, None).unwrap();
    assert_eq!((s.rows_written, s.rows_rejected), (2, 0), "{s:?}");

    let opts = crate::features::FeatureOptions::default();
    let as_of = crate::domain::days_from_date(chrono::NaiveDate::from_ymd_opt(2024, 3, 31).unwrap());
    let h = crate::features::history::load_history(&out, as_of, &opts.read, &opts.fx).unwrap();
    assert!(h.rejects.is_empty(), "{:?}", h.rejects);
    let mut paid: Vec<(u64, i32)> = h.invoices.iter().map(|i| (i.key, i.paid_date)).collect();
    paid.sort_unstable();
    let feb10 = crate::domain::days_from_date(chrono::NaiveDate::from_ymd_opt(2024, 2, 10).unwrap());
    let mut want = vec![
        (crate::features::history::id_key("D1"), feb10),
        (crate::features::history::id_key("D2"), crate::features::history::OPEN),
    ];
    want.sort_unstable();
    assert_eq!(paid, want);
    assert_eq!(h.payments.len(), 2);
}

/// Daily aging reports concatenated into one file, each listing only the open items:
/// with `snapshot_date` mapped every row is written, and the reader settles an invoice
/// on the first report that no longer lists it.
#[test]
fn open_items_reports_import_whole_and_settle_what_drops_out() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("aging.csv");
    let mut csv = b"Doc,Cust,Issued,Due,Amt,Report\n".to_vec();
    csv.extend_from_slice(b"D1,K1,2024-01-05,2024-02-04,10.00,2024-02-01\n");
    csv.extend_from_slice(b"D2,K1,2024-01-20,2024-02-19,20.00,2024-02-01\n");
    csv.extend_from_slice(b"D2,K1,2024-01-20,2024-02-19,20.00,2024-02-02\n");
    std::fs::write(&input, &csv).unwrap();
    let m = Mapping::parse(
        "table = \"invoices\"\n[fields]\ninvoice_id = \"Doc\"\ncustomer_id = \"Cust\"\ninvoice_date = \"Issued\"\ndue_date = \"Due\"\namount = \"Amt\"\nsnapshot_date = \"Report\"\n",
        Path::new("m.toml"),
    )
    .unwrap();
    let out = dir.path().join("out");
    let s = import_file(&input, &m, &out, None).unwrap();
    assert_eq!((s.rows_read, s.rows_written, s.rows_rejected), (3, 3, 0), "{s:?}");
    let opts = crate::features::FeatureOptions::default();
    let as_of = crate::domain::days_from_date(chrono::NaiveDate::from_ymd_opt(2024, 2, 29).unwrap());
    let h = crate::features::history::load_history(&out, as_of, &opts.read, &opts.fx).unwrap();
    assert!(h.rejects.is_empty(), "{:?}", h.rejects);
    let mut paid: Vec<(u64, i32)> = h.invoices.iter().map(|i| (i.key, i.paid_date)).collect();
    paid.sort_unstable();
    let feb2 = crate::domain::days_from_date(chrono::NaiveDate::from_ymd_opt(2024, 2, 2).unwrap());
    let mut want = vec![
        (crate::features::history::id_key("D1"), feb2),
        (crate::features::history::id_key("D2"), crate::features::history::OPEN),
    ];
    want.sort_unstable();
    assert_eq!(paid, want);
}
