//! Feature tests: known values on a hand-written contract directory, and the leakage
//! property (rows dated after as_of change nothing).

use std::path::Path;
use std::sync::Arc;

use approx::assert_abs_diff_eq;
use arrow_array::cast::AsArray;
use arrow_array::types::{Date32Type, Decimal128Type};
use arrow_array::{ArrayRef, BooleanArray, Date32Array, Decimal128Array, Float64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use chrono::NaiveDate;
use proptest::prelude::*;

use super::*;
use crate::contract::write_batch;
use crate::domain::days_from_date;
use crate::fixtures::{generated_dir_with, read_batches};
use crate::generate::GenerateParams;

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn day(s: &str) -> Option<i32> {
    Some(days_from_date(d(s)))
}

fn strs(v: &[&str]) -> ArrayRef {
    Arc::new(StringArray::from(v.to_vec()))
}

fn dates(v: &[Option<i32>]) -> ArrayRef {
    Arc::new(Date32Array::from(v.to_vec()))
}

fn table(cols: Vec<(&str, ArrayRef)>) -> RecordBatch {
    let fields: Vec<Field> = cols.iter().map(|(n, a)| Field::new(*n, a.data_type().clone(), true)).collect();
    RecordBatch::try_new(Arc::new(Schema::new(fields)), cols.into_iter().map(|c| c.1).collect()).unwrap()
}

/// A hand-written contract directory: invoices only (float64 amounts), no currency.
fn hand_written(dir: &Path) {
    // Customer A: three settled invoices (days late 0, 10, 20), one open 40 days past due.
    // Customer B: one open invoice not yet due, one settled after as_of (so open).
    let batch = table(vec![
        ("invoice_id", strs(&["a1", "a2", "a3", "a4", "b1", "b2", "fut"])),
        ("customer_id", strs(&["A", "A", "A", "A", "B", "B", "A"])),
        (
            "invoice_date",
            dates(&[
                day("2024-01-01"),
                day("2024-02-01"),
                day("2024-03-01"),
                day("2024-04-21"),
                day("2024-06-10"),
                day("2024-05-01"),
                day("2024-07-15"),
            ]),
        ),
        (
            "due_date",
            dates(&[
                day("2024-01-31"),
                day("2024-03-02"),
                day("2024-03-31"),
                day("2024-05-21"),
                day("2024-07-10"),
                day("2024-05-31"),
                day("2024-08-14"),
            ]),
        ),
        ("amount", Arc::new(Float64Array::from(vec![100.0, 200.0, 300.0, 55.94, 1000.0, 10.0, 99999.0])) as ArrayRef),
        (
            "paid_date",
            dates(&[day("2024-01-31"), day("2024-03-12"), day("2024-04-20"), None, None, day("2024-07-05"), None]),
        ),
    ]);
    write_batch(&dir.join("invoices.parquet"), &batch).unwrap();
}

#[test]
fn hand_written_contract_with_float_amounts_gives_known_values() {
    let dir = tempfile::tempdir().unwrap();
    hand_written(dir.path());
    let set = build_features(dir.path(), d("2024-06-30"), &FeatureOptions::default()).unwrap();
    assert_eq!(set.customers.ids, vec!["A", "B"]);
    assert!(set.rejects.is_empty(), "{:?}", set.rejects);
    let a = |name: &str| set.customers.column(name).unwrap()[0];
    let b = |name: &str| set.customers.column(name).unwrap()[1];
    assert_eq!(a("n_invoices"), 4.0, "the future invoice is not visible");
    assert_eq!(a("n_paid"), 3.0);
    assert_abs_diff_eq!(a("days_late_mean"), 10.0);
    assert_abs_diff_eq!(a("days_late_median"), 10.0);
    assert_abs_diff_eq!(a("days_late_std"), 10.0);
    assert_abs_diff_eq!(a("share_paid_late"), 2.0 / 3.0);
    assert_abs_diff_eq!(a("days_late_last"), 20.0);
    assert_abs_diff_eq!(a("days_late_ewma"), 0.3 * 20.0 + 0.7 * (0.3 * 10.0), epsilon = 1e-12);
    assert_abs_diff_eq!(a("open_amount_base"), 55.94, epsilon = 1e-9);
    assert_abs_diff_eq!(a("open_31_60_base"), 55.94, epsilon = 1e-9);
    assert_eq!(a("max_days_past_due"), 40.0);
    assert_eq!(a("days_since_last_payment"), 71.0);
    assert!(a("credit_utilisation").is_nan(), "no customers table, no limit");
    assert_eq!(b("n_paid"), 0.0, "b2 is settled after as_of: open at as_of");
    assert_eq!(b("n_open"), 2.0);
    assert!(b("days_late_mean").is_nan());
    assert_abs_diff_eq!(b("open_current_base"), 1000.0);
    assert_abs_diff_eq!(b("open_1_30_base"), 10.0);
    let inv = &set.invoices;
    assert_eq!(inv.invoice_id, vec!["a4", "b2", "b1"]);
    let dpd = inv.matrix.column("days_past_due").unwrap();
    assert_eq!(dpd.to_vec(), vec![40.0, 30.0, 0.0]);
    assert_eq!(inv.amount_minor[0], 5594, "float amounts become exact minor units");
}

#[test]
fn outputs_are_written_and_read_back() {
    let dir = tempfile::tempdir().unwrap();
    hand_written(dir.path());
    let set = build_features(dir.path(), d("2024-06-30"), &FeatureOptions::default()).unwrap();
    let out = dir.path().join("features");
    let m = write_feature_set(&set, dir.path(), &out, "USD").unwrap();
    assert_eq!(read_manifest(&out).unwrap(), m);
    assert_eq!(m.definition_hash, definition_hash());
    let rows: usize = read_batches(&out.join("customer_features.parquet")).iter().map(RecordBatch::num_rows).sum();
    assert_eq!(rows, 2);
}

#[test]
fn bad_rows_are_rejected_with_file_row_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let batch = table(vec![
        ("invoice_id", strs(&["x1", "x2", "x1", "x4", "x5"])),
        ("customer_id", strs(&["C", "", "C", "C", "C"])),
        (
            "invoice_date",
            dates(&[day("2024-01-01"), day("2024-01-01"), day("2024-01-02"), day("2024-02-01"), day("2024-02-01")]),
        ),
        (
            "due_date",
            dates(&[day("2024-01-31"), day("2024-01-31"), day("2024-01-31"), day("2024-01-01"), day("2024-03-01")]),
        ),
        ("amount", Arc::new(Float64Array::from(vec![1.0, 2.0, 3.0, 4.0, 5.0])) as ArrayRef),
        (
            "paid_date",
            dates(&[day("2024-01-20"), day("2024-01-20"), day("2024-01-20"), day("2024-01-20"), day("2024-01-31")]),
        ),
    ]);
    write_batch(&dir.path().join("invoices.parquet"), &batch).unwrap();
    let set = build_features(dir.path(), d("2024-06-30"), &FeatureOptions::default()).unwrap();
    let mut r: Vec<(u64, String)> = set.rejects.iter().map(|r| (r.row, r.field.clone())).collect();
    r.sort();
    assert_eq!(
        r,
        vec![(2, "customer_id".into()), (3, "invoice_id".into()), (4, "due_date".into()), (5, "paid_date".into())]
    );
    let paid_early = set.rejects.iter().find(|r| r.row == 5).unwrap();
    assert_eq!(
        (paid_early.value.as_str(), paid_early.reason.as_str()),
        ("2024-01-31", "paid_date is before invoice_date")
    );
    assert_eq!(set.n_visible_invoices, 1, "rows in = rows kept + rows rejected");
}

/// A payment or activity whose customer has no invoice anywhere in the data is
/// rejected (there is nothing to apply it to), whatever its date; one whose customer's
/// first invoice comes after the as-of date is kept out at that date, not rejected.
#[test]
fn payments_and_activities_of_customers_without_invoices_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    hand_written(dir.path());
    let extra = table(vec![
        ("invoice_id", strs(&["l1"])),
        ("customer_id", strs(&["L"])),
        ("invoice_date", dates(&[day("2024-07-20")])),
        ("due_date", dates(&[day("2024-08-19")])),
        ("amount", Arc::new(Float64Array::from(vec![70.0])) as ArrayRef),
        ("paid_date", dates(&[None])),
    ]);
    std::fs::create_dir(dir.path().join("invoices")).unwrap();
    std::fs::rename(dir.path().join("invoices.parquet"), dir.path().join("invoices/a.parquet")).unwrap();
    write_batch(&dir.path().join("invoices/b.parquet"), &extra).unwrap();
    let payments = table(vec![
        ("payment_id", strs(&["p1", "p2", "p3", "p4"])),
        ("customer_id", strs(&["A", "Z", " Z ", "L"])),
        ("invoice_id", strs(&["a4", "", "a1", ""])),
        ("payment_date", dates(&[day("2024-05-01"), day("2024-05-01"), day("2024-08-01"), day("2024-06-01")])),
        ("amount", Arc::new(Float64Array::from(vec![10.0, 5.0, 5.0, 70.0])) as ArrayRef),
    ]);
    write_batch(&dir.path().join("payments.parquet"), &payments).unwrap();
    let activities = table(vec![
        ("activity_id", strs(&["x1", "x2"])),
        ("customer_id", strs(&["Y", "A"])),
        ("date", dates(&[day("2024-05-01"), day("2024-05-01")])),
        ("kind", strs(&["call", "call"])),
    ]);
    write_batch(&dir.path().join("activities.parquet"), &activities).unwrap();
    let opts = FeatureOptions::default();
    let h = load_history(dir.path(), day("2024-06-30").unwrap(), &opts.read, &opts.fx).unwrap();
    let r: Vec<(&str, u64, &str, &str)> =
        h.rejects.iter().map(|r| (r.table.as_str(), r.row, r.field.as_str(), r.value.as_str())).collect();
    assert_eq!(
        r,
        vec![
            ("payments", 2, "customer_id", "Z"),
            ("payments", 3, "customer_id", "Z"),
            ("activities", 1, "customer_id", "Y")
        ]
    );
    assert_eq!(h.rejects[0].reason, "customer_id has no invoice in the data");
    assert_eq!(h.customers, vec!["A", "B"], "L has no invoice by the as-of date");
    assert_eq!(h.payments.len(), 1, "A's payment is kept, L's waits for its first invoice");
    assert_eq!(h.activities.len(), 1);
}

/// A promise to pay whose promised date comes before the day it was made is rejected
/// naming both dates; one for the same day or later is kept, and other kinds do not
/// look at the promised date.
#[test]
fn promises_dated_before_they_were_made_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    hand_written(dir.path());
    let promised = dates(&[day("2024-04-20"), day("2024-05-01"), day("2024-05-15"), day("2024-04-01")]);
    let activities = table(vec![
        ("activity_id", strs(&["x1", "x2", "x3", "x4"])),
        ("customer_id", strs(&["A", "A", "A", "A"])),
        ("date", dates(&[day("2024-05-01"); 4])),
        ("kind", strs(&["promise_to_pay", "promise_to_pay", "promise_to_pay", "call"])),
        ("promised_date", promised),
    ]);
    write_batch(&dir.path().join("activities.parquet"), &activities).unwrap();
    let opts = FeatureOptions::default();
    let h = load_history(dir.path(), day("2024-06-30").unwrap(), &opts.read, &opts.fx).unwrap();
    let r: Vec<(&str, u64, &str, &str, &str)> = h
        .rejects
        .iter()
        .map(|r| (r.table.as_str(), r.row, r.field.as_str(), r.value.as_str(), r.reason.as_str()))
        .collect();
    assert_eq!(
        r,
        vec![(
            "activities",
            1,
            "promised_date",
            "2024-04-20",
            "promised_date is before the date the promise was made (2024-05-01)"
        )]
    );
    assert_eq!(h.activities.len(), 3);
}

/// pandas writes an integer id column with a gap as floats (`7.0`, NaN): its ids name
/// the same customers as another table's integers, and the gap is a rejected row.
#[test]
fn float_customer_ids_join_integer_ids_of_other_tables() {
    let dir = tempfile::tempdir().unwrap();
    let ids: ArrayRef = Arc::new(Float64Array::from(vec![7.0, 7.0, f64::NAN]));
    let invoices = table(vec![
        ("invoice_id", strs(&["i1", "i2", "i3"])),
        ("customer_id", ids),
        ("invoice_date", dates(&[day("2024-01-01"), day("2024-05-01"), day("2024-05-01")])),
        ("due_date", dates(&[day("2024-01-31"), day("2024-05-31"), day("2024-05-31")])),
        ("amount", Arc::new(Float64Array::from(vec![10.0, 20.0, 30.0])) as ArrayRef),
    ]);
    write_batch(&dir.path().join("invoices.parquet"), &invoices).unwrap();
    let payments = table(vec![
        ("payment_id", strs(&["p1"])),
        ("customer_id", Arc::new(arrow_array::Int64Array::from(vec![7_i64])) as ArrayRef),
        ("invoice_id", strs(&["i1"])),
        ("payment_date", dates(&[day("2024-02-05")])),
        ("amount", Arc::new(Float64Array::from(vec![10.0])) as ArrayRef),
    ]);
    write_batch(&dir.path().join("payments.parquet"), &payments).unwrap();
    let opts = FeatureOptions::default();
    let h = load_history(dir.path(), day("2024-06-30").unwrap(), &opts.read, &opts.fx).unwrap();
    assert_eq!(h.customers, vec!["7"]);
    let r: Vec<(&str, u64, &str)> = h.rejects.iter().map(|r| (r.table.as_str(), r.row, r.field.as_str())).collect();
    assert_eq!(r, vec![("invoices", 3, "customer_id")], "{:?}", h.rejects);
    assert_eq!(h.payments.len(), 1, "the payment names customer 7");
}

/// A re-exported, overlapping activities file repeats activity ids: the first row in
/// file order is kept and each later one is rejected naming it, in the same file or
/// another, once it is dated by the as-of date (like any row, a copy after it is not
/// yet seen); rows without an id cannot be told apart and are kept.
#[test]
fn repeated_activity_ids_are_counted_once() {
    let dir = tempfile::tempdir().unwrap();
    hand_written(dir.path());
    let acts = dir.path().join("activities");
    std::fs::create_dir(&acts).unwrap();
    let first = table(vec![
        ("activity_id", strs(&["x1", "x2", "x3"])),
        ("customer_id", strs(&["A", "A", "A"])),
        ("invoice_id", strs(&["a4", "a4", "a4"])),
        ("date", dates(&[day("2024-05-25"), day("2024-05-26"), day("2024-08-01")])),
        ("kind", strs(&["reminder_email", "call", "call"])),
    ]);
    write_batch(&acts.join("a.parquet"), &first).unwrap();
    let ids: ArrayRef = Arc::new(StringArray::from(vec![Some("x2"), Some(" x3"), Some("x4"), Some("x4"), None, None]));
    let second = table(vec![
        ("activity_id", ids),
        ("customer_id", strs(&["A"; 6])),
        ("invoice_id", strs(&["a4"; 6])),
        (
            "date",
            dates(&[
                day("2024-05-26"),
                day("2024-08-01"),
                day("2024-06-01"),
                day("2024-06-01"),
                day("2024-06-02"),
                day("2024-06-02"),
            ]),
        ),
        ("kind", strs(&["call", "call", "reminder_email", "reminder_email", "note", "note"])),
    ]);
    write_batch(&acts.join("b.parquet"), &second).unwrap();
    let opts = FeatureOptions::default();
    let a_file = acts.join("a.parquet").display().to_string();
    let want = [
        (1, "x2".to_string(), format!("duplicate activity_id (first seen in row 2 of {a_file})")),
        (2, "x3".to_string(), format!("duplicate activity_id (first seen in row 3 of {a_file})")),
        (4, "x4".to_string(), "duplicate activity_id (first seen in row 3)".to_string()),
    ];
    // x3 and its copy are dated 2024-08-01.
    for (as_of, kept, rejected) in [("2024-06-30", 5, vec![0, 2]), ("2024-09-30", 6, vec![0, 1, 2])] {
        let h = load_history(dir.path(), day(as_of).unwrap(), &opts.read, &opts.fx).unwrap();
        let r: Vec<(u64, String, String)> =
            h.rejects.iter().map(|r| (r.row, r.value.clone(), r.reason.clone())).collect();
        let want: Vec<_> = rejected.iter().map(|&k| want[k].clone()).collect();
        assert_eq!(r, want, "as of {as_of}");
        assert!(h.rejects.iter().all(|r| r.table == "activities" && r.field == "activity_id"));
        assert!(h.rejects.iter().all(|r| r.file.ends_with("b.parquet")));
        assert_eq!(h.activities.len(), kept, "as of {as_of}");
    }
    // Reminders (calls count) by the as-of date: x1, x2 and x4 once each, not five.
    let set = build_features(dir.path(), d("2024-06-30"), &opts).unwrap();
    let reminders = set.customers.column("n_reminders").map(|c| c[0]);
    assert_eq!(reminders, Some(3.0));
}

/// An overlapping re-export repeats payment rows. A remittance applied to several
/// invoices legitimately repeats its payment id, so only a row repeating the id,
/// invoice, date and amount of an earlier one is a copy: it is rejected naming the
/// first, and the cash is counted once.
#[test]
fn repeated_payment_rows_are_counted_once() {
    let dir = tempfile::tempdir().unwrap();
    hand_written(dir.path());
    let pays = dir.path().join("payments");
    std::fs::create_dir(&pays).unwrap();
    let batch = |ids: Vec<Option<&str>>, invoices: &[&str], amounts: Vec<f64>| {
        let n = ids.len();
        table(vec![
            ("payment_id", Arc::new(StringArray::from(ids)) as ArrayRef),
            ("customer_id", strs(&vec!["A"; n])),
            ("invoice_id", strs(invoices)),
            ("payment_date", dates(&vec![day("2024-05-02"); n])),
            ("amount", Arc::new(Float64Array::from(amounts)) as ArrayRef),
        ])
    };
    write_batch(&pays.join("a.parquet"), &batch(vec![Some("p1"), Some("p2")], &["a4", "a4"], vec![20.0, 10.0]))
        .unwrap();
    let ids = vec![Some("p1"), Some("p2"), Some("p3"), Some("p3"), None, None];
    let second = batch(ids, &["a4", "a4", "a1", "a2", "a4", "a4"], vec![20.0, 15.0, 1.0, 2.0, 1.0, 1.0]);
    write_batch(&pays.join("b.parquet"), &second).unwrap();
    let opts = FeatureOptions::default();
    let h = load_history(dir.path(), day("2024-06-30").unwrap(), &opts.read, &opts.fx).unwrap();
    let a_file = pays.join("a.parquet").display().to_string();
    let r: Vec<(&str, u64, &str, &str, String)> = h
        .rejects
        .iter()
        .map(|r| (r.table.as_str(), r.row, r.field.as_str(), r.value.as_str(), r.reason.clone()))
        .collect();
    let reason = format!(
        "duplicate payment_id with the same invoice_id, payment_date and amount (first seen in row 1 of {a_file})"
    );
    assert_eq!(r, vec![("payments", 1, "payment_id", "p1", reason)]);
    assert_eq!(h.payments.len(), 7);
    let cash: i64 = h.payments.iter().map(|p| p.amount_minor).sum();
    assert_eq!(cash, 2000 + 1000 + 1500 + 100 + 200 + 100 + 100);
}

/// A Hive-style partitioned table (as Spark, pyarrow and DuckDB write one): the files
/// of every partition folder are read, a column the files lack comes from the folder
/// name, markers and hidden files are skipped, and Hive's extensionless files count.
/// A table folder with no Parquet file at all is an error, not an empty table.
#[test]
fn partitioned_tables_are_read_whole_with_their_folder_values() {
    let dir = tempfile::tempdir().unwrap();
    let inv = dir.path().join("invoices");
    let part = |ids: &[&str], cust: &str| {
        let n = ids.len();
        table(vec![
            ("invoice_id", strs(ids)),
            ("customer_id", strs(&vec![cust; n])),
            ("invoice_date", dates(&vec![day("2024-01-01"); n])),
            ("due_date", dates(&vec![day("2024-01-31"); n])),
            ("amount", Arc::new(Float64Array::from(vec![10.0; n])) as ArrayRef),
        ])
    };
    for (folder, file, ids) in [
        ("currency=EUR/year=2024", "part-0.parquet", &["e1", "e2"][..]),
        ("currency=JPY", "000000_0", &["j1"][..]),
        ("currency=__HIVE_DEFAULT_PARTITION__", "p.parquet", &["d1"][..]),
        ("_temporary/0", "part-9.parquet", &["tmp"][..]),
    ] {
        std::fs::create_dir_all(inv.join(folder)).unwrap();
        write_batch(&inv.join(folder).join(file), &part(ids, "A")).unwrap();
    }
    std::fs::write(inv.join("_SUCCESS"), "").unwrap();
    std::fs::write(inv.join("currency=JPY/.000000_0.crc"), "x").unwrap();
    let opts = FeatureOptions::default();
    let h = load_history(dir.path(), day("2024-06-30").unwrap(), &opts.read, &opts.fx).unwrap();
    assert!(h.rejects.is_empty(), "{:?}", h.rejects);
    let mut got: Vec<(String, i64)> =
        h.invoices.iter().map(|i| (i.currency.as_str().to_string(), i.amount_minor)).collect();
    got.sort();
    // JPY has no minor unit: 10 yen. The default-partition invoice takes the default currency.
    assert_eq!(got, vec![("EUR".into(), 1000), ("EUR".into(), 1000), ("JPY".into(), 10), ("USD".into(), 1000)]);

    let empty = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(empty.path().join("invoices/year=2024")).unwrap();
    std::fs::write(empty.path().join("invoices/_SUCCESS"), "").unwrap();
    let err = load_history(empty.path(), day("2024-06-30").unwrap(), &opts.read, &opts.fx).unwrap_err().to_string();
    assert!(err.contains("holds no Parquet file"), "{err}");
}

/// Monthly exports of the whole invoice table, one folder per export named by its
/// `updated_at`: the rows of one invoice are its versions, not duplicates. It keeps
/// the terms of its first version (a due date moved later does not reach back) and
/// the settlement of its newest; nothing is rejected. Without `updated_at` the same
/// files are duplicates, rejected as before.
#[test]
fn monthly_exports_with_updated_at_are_versions_of_each_invoice() {
    let snapshot = |ids: &[&str], due: &[Option<i32>], paid: &[Option<i32>]| {
        let n = ids.len();
        let issued = |id: &&str| if *id == "i3" { day("2024-02-15") } else { day("2024-01-05") };
        table(vec![
            ("invoice_id", strs(ids)),
            ("customer_id", strs(&vec!["A"; n])),
            ("invoice_date", dates(&ids.iter().map(issued).collect::<Vec<_>>())),
            ("due_date", dates(due)),
            ("amount", Arc::new(Float64Array::from(vec![100.0; n])) as ArrayRef),
            ("paid_date", dates(paid)),
        ])
    };
    let (feb4, mar5, mar16) = (day("2024-02-04"), day("2024-03-05"), day("2024-03-16"));
    let exports = [
        ("2024-01-31", snapshot(&["i1", "i2"], &[feb4, feb4], &[None, None])),
        // i1's due date was moved (after it was issued) and it was paid.
        ("2024-02-29", snapshot(&["i1", "i2", "i3"], &[mar5, feb4, mar16], &[day("2024-02-20"), None, None])),
        ("2024-03-31", snapshot(&["i2", "i3"], &[feb4, mar16], &[day("2024-03-10"), None])),
    ];
    let versioned = tempfile::tempdir().unwrap();
    let plain = tempfile::tempdir().unwrap();
    for (at, batch) in &exports {
        let folder = versioned.path().join(format!("invoices/updated_at={at}"));
        std::fs::create_dir_all(&folder).unwrap();
        write_batch(&folder.join("part-0.parquet"), batch).unwrap();
        let flat = plain.path().join("invoices");
        std::fs::create_dir_all(&flat).unwrap();
        write_batch(&flat.join(format!("{at}.parquet")), batch).unwrap();
    }
    let opts = FeatureOptions::default();
    let seen = |dir: &Path, as_of: &str| {
        let h = load_history(dir, day(as_of).unwrap(), &opts.read, &opts.fx).unwrap();
        let mut v: Vec<(u64, i32, i32)> = h.invoices.iter().map(|i| (i.key, i.due_date, i.paid_date)).collect();
        v.sort_unstable();
        (v, h.rejects.len())
    };
    let key = history::id_key;
    let want = |rows: &[(&str, Option<i32>, Option<i32>)]| {
        let mut v: Vec<(u64, i32, i32)> =
            rows.iter().map(|(id, due, paid)| (key(id), due.unwrap(), paid.unwrap_or(history::OPEN))).collect();
        v.sort_unstable();
        v
    };
    assert_eq!(
        seen(versioned.path(), "2024-03-31"),
        (want(&[("i1", feb4, day("2024-02-20")), ("i2", feb4, day("2024-03-10")), ("i3", mar16, None)]), 0)
    );
    // At an earlier date the newest version's later settlement is not yet known.
    assert_eq!(
        seen(versioned.path(), "2024-02-25"),
        (want(&[("i1", feb4, day("2024-02-20")), ("i2", feb4, None), ("i3", mar16, None)]), 0)
    );
    // The same files without updated_at: the first row wins and the others are rejected.
    let (rows, rejected) = seen(plain.path(), "2024-03-31");
    assert_eq!(rows, want(&[("i1", feb4, None), ("i2", feb4, None), ("i3", mar16, None)]));
    assert_eq!(rejected, 4, "i1 and i3 once, i2 twice");
}

/// Open-items snapshots (`snapshot_date`): each lists the invoices open on its day, so
/// an invoice missing from a later snapshot was settled, on the first snapshot day
/// that no longer lists it, and not before that day is reached.
#[test]
fn an_invoice_missing_from_a_later_open_items_snapshot_was_settled_that_day() {
    let open_items = |ids: &[&str]| {
        let n = ids.len();
        let issued = |id: &&str| if *id == "i4" { day("2024-03-10") } else { day("2024-01-05") };
        table(vec![
            ("invoice_id", strs(ids)),
            ("customer_id", strs(&vec!["A"; n])),
            ("invoice_date", dates(&ids.iter().map(issued).collect::<Vec<_>>())),
            ("due_date", dates(&ids.iter().map(|id| issued(id).map(|d| d + 30)).collect::<Vec<_>>())),
            ("amount", Arc::new(Float64Array::from(vec![100.0; n])) as ArrayRef),
        ])
    };
    let exports = [
        ("2024-01-31", open_items(&["i1", "i2", "i3"])),
        ("2024-02-29", open_items(&["i2", "i3"])),
        ("2024-03-31", open_items(&["i3", "i4"])),
    ];
    let snapshots = tempfile::tempdir().unwrap();
    let plain = tempfile::tempdir().unwrap();
    for (at, batch) in &exports {
        let folder = snapshots.path().join(format!("invoices/snapshot_date={at}"));
        std::fs::create_dir_all(&folder).unwrap();
        write_batch(&folder.join("part-0.parquet"), batch).unwrap();
        std::fs::create_dir_all(plain.path().join("invoices")).unwrap();
        write_batch(&plain.path().join(format!("invoices/{at}.parquet")), batch).unwrap();
    }
    let opts = FeatureOptions::default();
    let seen = |dir: &Path, as_of: &str| {
        let h = load_history(dir, day(as_of).unwrap(), &opts.read, &opts.fx).unwrap();
        let mut v: Vec<(u64, i32)> = h.invoices.iter().map(|i| (i.key, i.paid_date)).collect();
        v.sort_unstable();
        let open = h.invoices.iter().filter(|i| i.open_slot != u32::MAX).count();
        (v, open, h.rejects.len())
    };
    let want = |rows: &[(&str, Option<i32>)]| {
        let mut v: Vec<(u64, i32)> =
            rows.iter().map(|(id, paid)| (history::id_key(id), paid.unwrap_or(history::OPEN))).collect();
        v.sort_unstable();
        let open = rows.iter().filter(|r| r.1.is_none()).count();
        (v, open, 0)
    };
    let (feb29, mar31) = (day("2024-02-29"), day("2024-03-31"));
    assert_eq!(seen(snapshots.path(), "2024-04-30"), want(&[("i1", feb29), ("i2", mar31), ("i3", None), ("i4", None)]));
    // Before the snapshot that no longer lists an invoice, it is open.
    assert_eq!(seen(snapshots.path(), "2024-03-30"), want(&[("i1", feb29), ("i2", None), ("i3", None), ("i4", None)]));
    assert_eq!(seen(snapshots.path(), "2024-02-28"), want(&[("i1", None), ("i2", None), ("i3", None)]));
    // Snapshots after the as-of date change nothing there.
    std::fs::remove_dir_all(snapshots.path().join("invoices/snapshot_date=2024-03-31")).unwrap();
    assert_eq!(seen(snapshots.path(), "2024-03-30"), want(&[("i1", feb29), ("i2", None), ("i3", None)]));
    // The same files without `snapshot_date` say nothing about settlement: all open,
    // the repeated rows rejected.
    let (rows, open, rejected) = seen(plain.path(), "2024-04-30");
    assert_eq!((rows, open), (want(&[("i1", None), ("i2", None), ("i3", None), ("i4", None)]).0, 4));
    assert_eq!(rejected, 3, "i2 once, i3 twice");
}

/// Weekly open-items listings tell a settlement only to its week. Read on the listing
/// that no longer shows it, every invoice looks paid about three days later than it
/// was; [`history::Inv::paid_day`] places it inside its week, on the truth's side of it
/// and without that lag, while whether it is settled at a date still waits for that
/// listing. Customer vectors read days late from it.
#[test]
fn settlements_read_from_weekly_listings_keep_their_days_late() {
    let src = crate::fixtures::generated_dir(150, 5_000, "2023-01-01", "2024-06-30", 5);
    let dst = tempfile::tempdir().unwrap();
    crate::fixtures::open_items_listings(src.path(), dst.path(), 7);
    let truth = crate::fixtures::full_history(src.path());
    let listed = crate::fixtures::full_history(dst.path());
    let true_day: std::collections::HashMap<u64, i32> = truth.invoices.iter().map(|r| (r.key, r.paid_date)).collect();
    let (mut n, mut lag, mut off) = (0usize, 0i64, 0i64);
    for r in listed.invoices.iter().filter(|r| r.paid_date != history::OPEN) {
        let t = true_day[&r.key];
        let day = r.paid_day();
        assert_eq!(r.paid_window, 6, "a week between listings");
        assert!(t <= r.paid_date && t >= r.paid_date - 6, "the truth is inside the span");
        assert!(day <= r.paid_date && day >= r.paid_date - 6);
        n += 1;
        lag += i64::from(r.paid_date - t);
        off += i64::from(day - t);
    }
    assert!(n > 3_000, "{n} settled");
    let (lag, off) = (lag as f64 / n as f64, off as f64 / n as f64);
    assert!(lag > 2.0, "the listing day lags by {lag:.2} days");
    assert!(off.abs() < 1.0, "the picked day is off by {off:.2} days on average");
    // Settled at a date only once the listing that no longer shows it is known.
    let some = listed.invoices.iter().find(|r| r.paid_date != history::OPEN && r.paid_day() < r.paid_date).unwrap();
    let before =
        load_history(dst.path(), some.paid_date - 1, &FeatureOptions::default().read, &FxTable::default()).unwrap();
    let at = before.invoices.iter().find(|r| r.key == some.key).unwrap();
    assert_eq!((at.paid_date, at.paid_day()), (history::OPEN, history::OPEN));
    // The customers' mean days late follow the picked days, not the listings'.
    let mean_late = |h: &History| {
        let late = catalogue::CUSTOMER_FEATURES.iter().position(|f| f.0 == "days_late_mean").unwrap();
        let v: Vec<f64> = (0..h.customers.len())
            .map(|c| customer::customer_at_as_of(h, c).vector[late])
            .filter(|v| v.is_finite())
            .collect();
        v.iter().sum::<f64>() / v.len() as f64
    };
    let (t, l) = (mean_late(&truth), mean_late(&listed));
    assert!((l - t).abs() < 1.0, "mean days late {l:.2} from listings, {t:.2} true");
}

/// With listings a settlement becomes known after it happened: a customer's state at
/// an earlier day, read from a history loaded later (as training rows are), is the
/// state read from a history loaded on that day, reminders answered and promises kept
/// included, which must not count a payment the listings had not yet shown.
#[test]
fn listings_keep_earlier_views_point_in_time() {
    let src = crate::fixtures::generated_dir(80, 3_000, "2023-01-01", "2024-06-30", 8);
    let dst = tempfile::tempdir().unwrap();
    crate::fixtures::open_items_listings(src.path(), dst.path(), 7);
    let opts = FeatureOptions::default();
    let later = load_history(dst.path(), day("2024-06-30").unwrap(), &opts.read, &opts.fx).unwrap();
    let mut compared = 0;
    // Days between the weekly listings.
    for at in ["2023-09-13", "2023-12-02", "2024-03-20"] {
        let t = day(at).unwrap();
        let then = load_history(dst.path(), t, &opts.read, &opts.fx).unwrap();
        for (c, id) in then.customers.iter().enumerate() {
            let l = later.customers.iter().position(|x| x == id).unwrap();
            let (a, b) = (customer::customer_at(&then, c, t).vector, customer::customer_at(&later, l, t).vector);
            let same = a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()));
            assert!(same, "customer {id} at {at}: {a:?} loaded then, {b:?} loaded later");
            compared += 1;
        }
    }
    assert!(compared > 150, "{compared}");
    let reminders = catalogue::CUSTOMER_FEATURES.iter().position(|f| f.0 == "reminder_response_rate").unwrap();
    assert!((0..later.customers.len()).any(|c| customer::customer_at_as_of(&later, c).vector[reminders] > 0.0));
}

/// A payment applied to its customer's invoice counts in the invoice's currency: one
/// naming another currency is rejected, one naming none takes the invoice's (10000.0
/// read as USD cents becomes 10,000 yen), unless its amount does not fit that currency.
#[test]
fn payments_count_in_their_invoices_currency() {
    let dir = tempfile::tempdir().unwrap();
    let inv = table(vec![
        ("invoice_id", strs(&["u1", "j1", "j2"])),
        ("customer_id", strs(&["A", "A", "A"])),
        ("invoice_date", dates(&[day("2024-01-01"); 3])),
        ("due_date", dates(&[day("2024-01-31"); 3])),
        ("amount", Arc::new(Float64Array::from(vec![100.0, 20000.0, 20000.0])) as ArrayRef),
        ("currency", strs(&["USD", "JPY", "JPY"])),
    ]);
    write_batch(&dir.path().join("invoices.parquet"), &inv).unwrap();
    let pay = table(vec![
        ("payment_id", strs(&["p1", "p2", "p3", "p4", "p5"])),
        ("customer_id", strs(&["A"; 5])),
        ("invoice_id", strs(&["u1", "u1", "j1", "j2", "j2"])),
        ("payment_date", dates(&[day("2024-02-01"); 5])),
        ("amount", Arc::new(Float64Array::from(vec![40.0, 30.0, 10000.0, 0.5, 5000.0])) as ArrayRef),
        (
            "currency",
            Arc::new(StringArray::from(vec![Some("EUR"), Some("USD"), None, Some(""), Some("JPY")])) as ArrayRef,
        ),
    ]);
    write_batch(&dir.path().join("payments.parquet"), &pay).unwrap();
    let opts = FeatureOptions::default();
    let h = load_history(dir.path(), day("2024-06-30").unwrap(), &opts.read, &opts.fx).unwrap();
    let r: Vec<(u64, &str, &str, &str)> =
        h.rejects.iter().map(|r| (r.row, r.field.as_str(), r.value.as_str(), r.reason.as_str())).collect();
    assert_eq!(
        r,
        vec![
            (1, "currency", "EUR", "currency EUR differs from invoice 'u1' (USD)"),
            (4, "amount", "0.50", "amount has more decimals than JPY has (invoice 'j2', no currency given)"),
        ]
    );
    let (sides, _) = h.sides_at(0, h.as_of);
    let mut paid: Vec<(u64, i64, u16)> =
        h.invoices_of(0).iter().zip(&sides).map(|(v, s)| (v.key, s.paid_minor, s.n_payments)).collect();
    paid.sort_unstable();
    // u1: 30.00 USD; j1: 10,000 yen; j2: 5,000 yen.
    let mut want =
        vec![(history::id_key("u1"), 3000, 1), (history::id_key("j1"), 10_000, 1), (history::id_key("j2"), 5_000, 1)];
    want.sort_unstable();
    assert_eq!(paid, want);
}

/// A customer listed twice in the master data keeps its first row; the second is
/// rejected naming the first, not merged over it unseen.
#[test]
fn a_customer_listed_twice_keeps_its_first_row() {
    let dir = tempfile::tempdir().unwrap();
    hand_written(dir.path());
    let customers = table(vec![("customer_id", strs(&["A", "B", "A"])), ("collector", strs(&["ann", "bob", "carl"]))]);
    write_batch(&dir.path().join("customers.parquet"), &customers).unwrap();
    let opts = FeatureOptions::default();
    let h = load_history(dir.path(), day("2024-06-30").unwrap(), &opts.read, &opts.fx).unwrap();
    let r: Vec<(&str, u64, &str, &str)> =
        h.rejects.iter().map(|r| (r.table.as_str(), r.row, r.value.as_str(), r.reason.as_str())).collect();
    assert_eq!(r, vec![("customers", 3, "A", "duplicate customer_id (first seen in row 1)")]);
    let a = h.customers.iter().position(|c| c == "A").unwrap();
    assert_eq!(h.master[a].collector.as_deref(), Some("ann"));
}

/// The `holidays` table: dates as text or date32, a row without a readable date
/// rejected with its row and field, every other row kept whatever its date (the
/// calendar is published ahead, so later holidays are known at as_of).
#[test]
fn holidays_are_read_with_bad_rows_rejected() {
    let dir = tempfile::tempdir().unwrap();
    hand_written(dir.path());
    let holidays = table(vec![
        ("date", strs(&["2024-12-25", "25/12/2024x", "", "2025-01-01", "2024-12-25"])),
        ("name", strs(&["Christmas Day", "typo", "missing", "New Year", "again"])),
    ]);
    write_batch(&dir.path().join("holidays.parquet"), &holidays).unwrap();
    let opts = FeatureOptions::default();
    let h = load_history(dir.path(), day("2024-06-30").unwrap(), &opts.read, &opts.fx).unwrap();
    assert_eq!(h.holidays.days(), &[day("2024-12-25").unwrap(), day("2025-01-01").unwrap()]);
    let mut r: Vec<(u64, &str, &str)> = h
        .rejects
        .iter()
        .filter(|r| r.table == "holidays" && r.file.ends_with("holidays.parquet"))
        .map(|r| (r.row, r.field.as_str(), r.reason.as_str()))
        .collect();
    r.sort();
    assert_eq!(r, vec![(2, "date", "date should be ISO-8601 (YYYY-MM-DD)"), (3, "date", "date is required")]);
    // Without a date column the table cannot be read: an error naming it.
    write_batch(&dir.path().join("holidays.parquet"), &table(vec![("name", strs(&["x"]))])).unwrap();
    let err = load_history(dir.path(), day("2024-06-30").unwrap(), &opts.read, &opts.fx).unwrap_err().to_string();
    assert!(err.contains("holidays.parquet") && err.contains("date"), "{err}");
}

/// Holidays with a currency close only that currency's bank calendar; those without
/// close every currency. A currency that is not an ISO code is rejected with its row.
#[test]
fn holidays_of_one_currency_close_only_its_calendar() {
    let dir = tempfile::tempdir().unwrap();
    hand_written(dir.path());
    let holidays = table(vec![
        ("date", strs(&["2024-12-25", "2024-11-28", "2024-04-01", "2024-04-01", "2024-07-04"])),
        ("name", strs(&["Christmas Day", "Thanksgiving", "Easter Monday", "Easter Monday", "bad"])),
        ("currency", strs(&["", "USD", "EUR", "GBP", "US Dollar"])),
    ]);
    write_batch(&dir.path().join("holidays.parquet"), &holidays).unwrap();
    let opts = FeatureOptions::default();
    let h = load_history(dir.path(), day("2024-06-30").unwrap(), &opts.read, &opts.fx).unwrap();
    let (xmas, thanks, easter) = (day("2024-12-25").unwrap(), day("2024-11-28").unwrap(), day("2024-04-01").unwrap());
    let cur = |c: &str| crate::domain::Currency::parse(c).unwrap();
    assert_eq!(h.holidays.days(), &[xmas], "the ledger's own days");
    assert_eq!(h.holidays.of(cur("USD")).days(), &[thanks, xmas]);
    assert_eq!(h.holidays.of(cur("EUR")).days(), &[easter, xmas]);
    assert_eq!(h.holidays.of(cur("JPY")).days(), &[xmas], "a currency without days of its own");
    assert!(!h.holidays.of(cur("EUR")).is_business_day(easter) && h.holidays.of(cur("USD")).is_business_day(easter));
    let r: Vec<(u64, &str)> =
        h.rejects.iter().filter(|r| r.table == "holidays").map(|r| (r.row, r.field.as_str())).collect();
    assert_eq!(r, vec![(5, "currency")]);
    // The learned closing days close every currency.
    let merged = h.holidays.with_days(&[day("2024-12-31").unwrap()]);
    assert_eq!(merged.of(cur("USD")).days(), &[thanks, xmas, day("2024-12-31").unwrap()]);
    assert_eq!(merged.calendar_index(cur("EUR")), 1 + merged.currencies().position(|c| c == cur("EUR")).unwrap());
}

#[test]
fn a_missing_required_column_fails_naming_file_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let batch = table(vec![("invoice_id", strs(&["x"])), ("customer_id", strs(&["C"]))]);
    write_batch(&dir.path().join("invoices.parquet"), &batch).unwrap();
    let err = build_features(dir.path(), d("2024-06-30"), &FeatureOptions::default()).unwrap_err().to_string();
    assert!(err.contains("invoices.parquet") && err.contains("invoice_date"), "{err}");
}

// ---- leakage property -------------------------------------------------------------

fn files(dir: &Path, table: &'static str) -> Vec<std::path::PathBuf> {
    crate::ingest::TableSource::find(dir, table).unwrap().map(|s| s.files).unwrap_or_default()
}

fn date_col(b: &RecordBatch, name: &str) -> Vec<Option<i32>> {
    b.column_by_name(name).unwrap().as_primitive::<Date32Type>().iter().collect()
}

fn replace(b: &RecordBatch, name: &str, col: ArrayRef) -> RecordBatch {
    let idx = b.schema().index_of(name).unwrap();
    let mut cols = b.columns().to_vec();
    cols[idx] = col;
    let fields: Vec<Field> =
        b.schema().fields().iter().map(|f| Field::new(f.name(), f.data_type().clone(), true)).collect();
    RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).unwrap()
}

/// Rewrites `src` into `dst` with what happened after `as_of` removed (`mode` 0) or
/// rewritten to other future values (`mode` 1).
fn rewrite_future(src: &Path, dst: &Path, as_of: i32, mode: u8) {
    std::fs::copy(src.join("customers.parquet"), dst.join("customers.parquet")).unwrap();
    let shift = |v: i32| v + 17; // stays after as_of
    for (table, date_field) in [("invoices", "invoice_date"), ("payments", "payment_date"), ("activities", "date")] {
        for (k, f) in files(src, table).iter().enumerate() {
            let mut out = Vec::new();
            for b in read_batches(f) {
                let keyed = date_col(&b, date_field);
                let keep: BooleanArray = keyed.iter().map(|d| Some(mode == 1 || d.unwrap() <= as_of)).collect();
                let mut b = arrow_select::filter::filter_record_batch(&b, &keep).unwrap();
                if mode == 1 {
                    let moved: Vec<Option<i32>> = date_col(&b, date_field)
                        .iter()
                        .map(|d| d.map(|v| if v > as_of { shift(v) } else { v }))
                        .collect();
                    b = replace(&b, date_field, dates(&moved));
                }
                if table == "invoices" {
                    let paid = date_col(&b, "paid_date");
                    let new_paid: Vec<Option<i32>> = paid
                        .iter()
                        .map(|p| match (p, mode) {
                            (Some(v), 0) if *v > as_of => None,
                            (Some(v), 1) if *v > as_of => Some(shift(*v)),
                            (None, 1) => Some(as_of + 3), // settles later after all
                            _ => *p,
                        })
                        .collect();
                    let amt = b.column_by_name("paid_amount").unwrap().as_primitive::<Decimal128Type>().clone();
                    let new_amt: Decimal128Array = amt
                        .iter()
                        .zip(&paid)
                        .map(|(a, p)| {
                            if p.is_some_and(|v| v > as_of) {
                                if mode == 0 {
                                    None
                                } else {
                                    a.map(|x| x / 2)
                                }
                            } else {
                                a
                            }
                        })
                        .collect::<Decimal128Array>()
                        .with_data_type(DataType::Decimal128(20, 4));
                    b = replace(&b, "paid_date", dates(&new_paid));
                    b = replace(&b, "paid_amount", Arc::new(new_amt));
                    // The current dispute flag describes today: scramble it.
                    let n = b.num_rows();
                    b = replace(&b, "disputed", Arc::new(BooleanArray::from(vec![mode == 1; n])));
                }
                out.push(b);
            }
            let path = dst.join(table).join(format!("part-{k:05}.parquet"));
            let schema = out[0].schema();
            let mut sink = crate::contract::ParquetSink::create(&path, schema).unwrap();
            for b in &out {
                sink.write(b).unwrap();
            }
            sink.finish().unwrap();
        }
    }
}

fn assert_same(a: &FeatureSet, b: &FeatureSet) {
    assert_eq!(a.customers.ids, b.customers.ids);
    for (j, name) in a.customers.names.iter().enumerate() {
        for i in 0..a.customers.ids.len() {
            let (x, y) = (a.customers.values[[i, j]], b.customers.values[[i, j]]);
            assert!(
                x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()),
                "{name} of {}: {x} vs {y}",
                a.customers.ids[i]
            );
        }
    }
    assert_eq!(a.invoices.invoice_id, b.invoices.invoice_id);
    assert!(a.invoices.matrix.same_as(&b.invoices.matrix), "invoice features differ");
    assert_eq!(a.segment, b.segment);
    assert_eq!(a.payment_runs, b.payment_runs);
}

/// Builds features at `2023-01-01 + offset` on a generated run ledger, checks that
/// rows dated after that day change nothing, and returns how many customers show a
/// calendar and how many open invoices are measured against one.
fn check_future_rows_change_nothing(seed: u64, offset: i64) -> (usize, usize) {
    let full =
        generated_dir_with(40, 2_000, "2023-01-01", "2024-12-31", seed, |p| GenerateParams { payment_runs: true, ..p });
    let as_of = d("2023-01-01") + chrono::Duration::days(offset);
    let asd = days_from_date(as_of);
    let opts = FeatureOptions::default();
    let reference = build_features(full.path(), as_of, &opts).unwrap();
    assert!(reference.customers.ids.len() > 5);
    // An open invoice is measured against its customer's run day exactly when the
    // customer has shown a calendar by as_of.
    let j = reference.invoices.matrix.names.iter().position(|n| n == "due_to_run_days").unwrap();
    let mut on_calendar = 0;
    for (i, cust) in reference.invoices.customer_id.iter().enumerate() {
        let k = reference.customers.ids.binary_search(cust).unwrap();
        let finite = reference.invoices.matrix.values[[i, j]].is_finite();
        assert_eq!(finite, reference.payment_runs[k].is_some(), "invoice {i} of {cust}");
        on_calendar += usize::from(finite);
    }
    for mode in [0u8, 1] {
        let other = tempfile::tempdir().unwrap();
        rewrite_future(full.path(), other.path(), asd, mode);
        let got = build_features(other.path(), as_of, &opts).unwrap();
        assert_same(&reference, &got);
    }
    (reference.payment_runs.iter().filter(|r| r.is_some()).count(), on_calendar)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, .. ProptestConfig::default() })]

    /// Features at D are identical whether rows dated after D are absent, present,
    /// or present with different values (customers paying in runs among them, so the
    /// calendar read from settlements is held to D too).
    #[test]
    fn rows_dated_after_as_of_leave_features_unchanged(seed in 0u64..1_000_000, offset in 30i64..500) {
        check_future_rows_change_nothing(seed, offset);
    }
}

/// The property above with calendars in play for certain: whether a random case
/// has run payers with open invoices at its as-of date is chance (a case with one
/// calendar customer and nothing open at day 202 happens).
#[test]
fn future_rows_change_nothing_for_customers_on_calendars() {
    let (runs, on_calendar) = check_future_rows_change_nothing(11, 400);
    assert!(runs >= 3, "{runs} customers on calendars");
    assert!(on_calendar >= 10, "{on_calendar} open invoices on calendars");
}

/// The same rows in another file order give the same customers, in the same order,
/// and the same features, bit for bit.
#[test]
fn file_order_changes_nothing() {
    let dir = generated_dir_with(60, 3_000, "2023-01-01", "2024-12-31", 23, |p| GenerateParams {
        payment_runs: true,
        mixed_terms: true,
        ..p
    });
    let other = tempfile::tempdir().unwrap();
    crate::fixtures::shuffled_copy(dir.path(), other.path(), 9);
    let as_of = d("2024-03-31");
    let opts = FeatureOptions::default();
    let (a, b) =
        (build_features(dir.path(), as_of, &opts).unwrap(), build_features(other.path(), as_of, &opts).unwrap());
    assert!(a.invoices.invoice_id.len() > 100, "{} open invoices", a.invoices.invoice_id.len());
    assert_same(&a, &b);
    let (ha, _) = crate::fixtures::history_at(dir.path(), "2024-03-31");
    let (hb, _) = crate::fixtures::history_at(other.path(), "2024-03-31");
    assert_eq!(ha.customers, hb.customers);
    assert!(ha.customers.windows(2).all(|w| w[0] < w[1]), "customers are numbered in id order");
}

#[test]
fn a_customer_country_comes_from_the_customers_table_else_its_latest_invoice_known_at_as_of() {
    let dir = tempfile::tempdir().unwrap();
    hand_written(dir.path());
    // The same invoices with the country each gives: A moved from DE to FR, and its
    // invoice issued after the as-of date says NL; B's second invoice says nothing.
    let path = dir.path().join("invoices.parquet");
    let b = read_batches(&path).remove(0);
    let country: ArrayRef =
        Arc::new(StringArray::from(vec![Some("DE"), Some("DE"), Some("FR"), Some("FR"), Some("US"), None, Some("NL")]));
    let schema = b.schema();
    let mut cols: Vec<(&str, ArrayRef)> =
        schema.fields().iter().map(|f| f.name().as_str()).zip(b.columns().iter().cloned()).collect();
    cols.push(("country", country));
    write_batch(&path, &table(cols)).unwrap();
    let opts = FeatureOptions::default();
    let load = || load_history(dir.path(), day("2024-06-30").unwrap(), &opts.read, &opts.fx).unwrap();
    let country_of = |h: &History, id: &str| {
        let c = h.customers.iter().position(|c| c == id).unwrap();
        h.master[c].country.clone()
    };
    let h = load();
    assert_eq!(country_of(&h, "A").as_deref(), Some("FR"));
    assert_eq!(country_of(&h, "B").as_deref(), Some("US"));
    // The customers table wins where it gives a country.
    let customers = table(vec![("customer_id", strs(&["A", "B"])), ("country", strs(&["", "GB"]))]);
    write_batch(&dir.path().join("customers.parquet"), &customers).unwrap();
    let h = load();
    assert_eq!(country_of(&h, "A").as_deref(), Some("FR"));
    assert_eq!(country_of(&h, "B").as_deref(), Some("GB"));
}

/// The calendar read from a long history (the newest dates kept before sorting) is the
/// one read from all of them, also when the newest hold many payments on one day.
#[test]
fn a_long_history_reads_the_same_calendar_as_a_full_sort() {
    use crate::domain::PaymentRun;
    use crate::features::customer::payment_run_of;
    use crate::features::history::Inv;
    let inv = |k: u64, paid: i32| Inv {
        cust: 0,
        invoice_date: paid - 40,
        due_date: paid - 10,
        paid_date: paid,
        paid_window: 0,
        amount_base: 1.0,
        amount_minor: 100,
        paid_minor: 100,
        currency: crate::domain::Currency::USD,
        channel: crate::domain::NO_CHANNEL,
        open_slot: 0,
        key: k,
        chunk: 0,
        row: k as u16,
    };
    let thursday = 19_726; // 2024-01-04
    let full = |invs: &[Inv], t: i32| {
        let mut d: Vec<i32> = invs.iter().filter(|r| r.paid_date <= t).map(|r| r.paid_date).collect();
        d.sort_unstable();
        d.dedup();
        PaymentRun::detect(&d, &crate::domain::NO_HOLIDAYS)
    };
    // Weekly on Thursdays for a year, then many invoices each paid on few Tuesdays.
    let mut invs: Vec<Inv> = (0..52).map(|k| inv(k, thursday + 7 * k as i32)).collect();
    for k in 0..60u64 {
        invs.push(inv(100 + k, thursday + 7 * 52 - 2 + 7 * (k as i32 % 3)));
    }
    for t in [thursday + 200, thursday + 7 * 52, thursday + 7 * 56] {
        assert_eq!(payment_run_of(&invs, t, &crate::domain::NO_HOLIDAYS), full(&invs, t), "at {t}");
    }
    assert_eq!(payment_run_of(&invs, thursday + 200, &crate::domain::NO_HOLIDAYS), Some(PaymentRun::Weekly(3)));
}
