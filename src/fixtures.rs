//! Test fixtures shared by unit tests: small generated histories.

use arrow_array::RecordBatch;
use chrono::NaiveDate;

use crate::contract::rows::{Cell, TableBuilder};
use crate::contract::{self, InvoiceBatchBuilder, InvoiceRow};
use crate::domain::{ActivityKind, Currency};
use crate::features::history::{History, FAR_FUTURE};
use crate::features::{load_history, FxTable};
use crate::generate::{generate, GenerateParams};
use crate::ingest::InvoiceReadOptions;

/// Generates `customers`/`invoices` between `start` and `end` (ISO dates) with `seed`
/// into a fresh temp directory.
pub fn generated_dir(customers: usize, invoices: usize, start: &str, end: &str, seed: u64) -> tempfile::TempDir {
    generated_dir_with(customers, invoices, start, end, seed, |p| p)
}

/// [`generated_dir`] with the parameters changed by `tweak` (a generator flag).
pub fn generated_dir_with(
    customers: usize,
    invoices: usize,
    start: &str,
    end: &str,
    seed: u64,
    tweak: impl FnOnce(GenerateParams) -> GenerateParams,
) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let date = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("ISO date");
    let params = GenerateParams { customers, invoices, start: date(start), end: date(end), seed, ..Default::default() };
    generate(dir.path(), &tweak(params)).expect("generate");
    dir
}

/// The history of `dir` with everything in its files known.
pub fn full_history(dir: &std::path::Path) -> History {
    load_history(dir, FAR_FUTURE, &InvoiceReadOptions::default(), &FxTable::default()).expect("history")
}

/// The history of `dir` as known at the end of `as_of` (ISO date), and that day.
pub fn history_at(dir: &std::path::Path, as_of: &str) -> (History, i32) {
    let d = crate::domain::days_from_date(NaiveDate::parse_from_str(as_of, "%Y-%m-%d").expect("ISO date"));
    (load_history(dir, d, &InvoiceReadOptions::default(), &FxTable::default()).expect("history"), d)
}

/// Small, fast training settings for tests (few large boosting steps).
pub fn quick_train_params() -> crate::models::train::TrainParams {
    let mut p = crate::models::train::TrainParams::default();
    few_trees(&mut p, 30, 0.2, 0.2);
    p.anomaly.n_trees = 20;
    p
}

/// `n` trees for the payment-date, cash and risk models, at learning rate `lr` (`risk_lr`
/// for the risk model).
fn few_trees(m: &mut crate::models::train::TrainParams, n: usize, lr: f64, risk_lr: f64) {
    m.payment.n_trees = n;
    m.payment.learning_rate = lr;
    m.cash.n_trees = n;
    m.cash.learning_rate = lr;
    m.risk.n_trees = n;
    m.risk.learning_rate = risk_lr;
}

/// Small, fast backtest settings for tests (fewer, larger boosting steps).
pub fn quick_backtest_params() -> crate::models::backtest::BacktestParams {
    let mut p = crate::models::backtest::BacktestParams::default();
    few_trees(&mut p.models, 40, 0.25, 0.2);
    p
}

/// Models trained with [`quick_train_params`] on `dir` as known at `as_of`, saved into a
/// fresh temp directory; with the as-of day.
pub fn trained_models(dir: &std::path::Path, as_of: &str) -> (i32, tempfile::TempDir) {
    let (h, d) = history_at(dir, as_of);
    let p = quick_train_params();
    let trained = crate::models::train::train_all(&h, d, &p).expect("train");
    let models = tempfile::tempdir().expect("temp dir");
    crate::models::train::save_all(&crate::models::artifact::ModelStore::new(models.path()), &trained, &p, "test")
        .expect("save");
    (d, models)
}

/// The as-of day of [`hand_ledger`]: 2024-03-31.
pub fn hand_ledger_day() -> i32 {
    crate::domain::days_from_date(chrono::NaiveDate::from_ymd_opt(2024, 3, 31).unwrap())
}

/// Two customers, USD and EUR, with payments, activities and collectors, as of
/// [`hand_ledger_day`] `D` (the KPI tests work its figures by hand):
/// - A1 1,000 USD issued D−100, due D−70, settled D−60; a promise for D−60 (kept);
/// - A2 500 USD issued D−50, due D−20, open, 200 received at D−10;
/// - A3 400 USD issued D−10, due D+20, open;
/// - B1 920 EUR issued D−120, due D−90, open, disputed at D−30;
/// - B2 460 EUR issued D−40, due D−10, settled D+5 (after D: open at D); a promise
///   for D−5 (broken); its payment row is dated D+5;
/// - a reminder e-mail on A2 at D−3.
pub fn hand_ledger(dir: &std::path::Path) {
    let d = hand_ledger_day();
    let usd = Currency::USD;
    let eur = Currency::EUR;
    let inv = [
        ("A1", "A", -100, -70, 100_000, usd, Some(-60)),
        ("A2", "A", -50, -20, 50_000, usd, None),
        ("A3", "A", -10, 20, 40_000, usd, None),
        ("B1", "B", -120, -90, 92_000, eur, None),
        ("B2", "B", -40, -10, 46_000, eur, Some(5)),
    ];
    let mut b = InvoiceBatchBuilder::with_capacity(inv.len());
    for (id, cust, issued, due, minor, cur, paid) in inv {
        b.push(&InvoiceRow {
            invoice_id: id,
            customer_id: cust,
            invoice_date: d + issued,
            due_date: d + due,
            amount_minor: minor,
            currency: cur,
            paid_date: paid.map(|p| d + p),
            paid_minor: paid.map(|_| minor),
            disputed: None,
            terms_days: Some(30),
            channel: None,
        });
    }
    contract::write_batch(&dir.join("invoices.parquet"), &b.finish()).unwrap();

    let mut pay = TableBuilder::new(contract::payment_schema());
    for (id, cust, inv, day, minor, cur) in
        [("P1", "A", "A1", -60, 100_000, usd), ("P2", "A", "A2", -10, 20_000, usd), ("P3", "B", "B2", 5, 46_000, eur)]
    {
        pay.push(&[
            Cell::Str(Some(id)),
            Cell::Str(Some(cust)),
            Cell::Str(Some(inv)),
            Cell::Date(Some(d + day)),
            Cell::Amount(Some((minor, cur))),
            Cell::Str(Some(cur.as_str())),
            Cell::Str(None),
            Cell::Str(None),
        ]);
    }
    contract::write_batch(&dir.join("payments.parquet"), &pay.finish()).unwrap();

    let mut act = TableBuilder::new(contract::activity_schema());
    for (id, cust, inv, day, kind, promised) in [
        ("X1", "A", "A1", -70, ActivityKind::PromiseToPay, Some(-60)),
        ("X2", "B", "B1", -30, ActivityKind::DisputeOpened, None),
        ("X3", "B", "B2", -12, ActivityKind::PromiseToPay, Some(-5)),
        ("X4", "A", "A2", -3, ActivityKind::ReminderEmail, None),
    ] {
        act.push(&[
            Cell::Str(Some(id)),
            Cell::Str(Some(cust)),
            Cell::Str(Some(inv)),
            Cell::Date(Some(d + day)),
            Cell::Str(Some(kind.as_str())),
            Cell::Date(promised.map(|p| d + p)),
            Cell::Amount(None),
            Cell::Str(None),
        ]);
    }
    contract::write_batch(&dir.join("activities.parquet"), &act.finish()).unwrap();

    let mut cust = TableBuilder::new(contract::customer_schema());
    for (id, collector) in [("A", "ann"), ("B", "bob")] {
        cust.push(&[
            Cell::Str(Some(id)),
            Cell::Str(None),
            Cell::Str(None),
            Cell::Str(None),
            Cell::Amount(None),
            Cell::Str(None),
            Cell::Str(Some(collector)),
        ]);
    }
    contract::write_batch(&dir.join("customers.parquet"), &cust.finish()).unwrap();
}

/// Every record batch of one Parquet file.
pub fn read_batches(path: &std::path::Path) -> Vec<RecordBatch> {
    let file = std::fs::File::open(path).expect("parquet file");
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).expect("parquet");
    reader.build().expect("reader").map(|b| b.expect("batch")).collect()
}

/// All rows of one contract table of `dir` in one batch (None when the table is absent).
pub fn read_table(dir: &std::path::Path, table: &'static str) -> Option<RecordBatch> {
    let source = crate::ingest::TableSource::find(dir, table).expect("table")?;
    let batches: Vec<RecordBatch> = source.files.iter().flat_map(|f| read_batches(f)).collect();
    Some(arrow_select::concat::concat_batches(&batches[0].schema(), &batches).expect("concat"))
}

/// Copies the contract tables of `src` into `dst` with each table's rows in a seeded
/// random order, split over three files: the same data in another file order.
pub fn shuffled_copy(src: &std::path::Path, dst: &std::path::Path, seed: u64) {
    let mut rng = crate::rng::Rng::new(seed, 0);
    for table in ["customers", "invoices", "payments", "activities", "holidays"] {
        let Some(all) = read_table(src, table) else { continue };
        let n = all.num_rows();
        let mut order: Vec<u32> = (0..n as u32).collect();
        for i in (1..n).rev() {
            order.swap(i, rng.int(0, i as i64) as usize);
        }
        let rows = arrow_select::take::take_record_batch(&all, &arrow_array::UInt32Array::from(order)).expect("take");
        std::fs::create_dir_all(dst.join(table)).expect("table folder");
        for k in 0..3 {
            let (a, b) = (n * k / 3, n * (k + 1) / 3);
            contract::write_batch(&dst.join(table).join(format!("part-{k:05}.parquet")), &rows.slice(a, b - a))
                .expect("write");
        }
    }
}

/// A generated ledger (150 customers, 5,000 invoices over 2023-01-01..2024-06-30, seed
/// 5) as weekly open-items listings, and what the listings hide.
pub struct ListingsWithTruth {
    /// The ledger with its true paid dates.
    pub truth: History,
    /// The listings' history.
    pub listed: History,
    /// The same without its listing days: every invoice listed open read as unpaid at
    /// the as-of date, not only at the last listing's day.
    pub blind: History,
    /// True paid day per (customer, issue day, due day) where that key is unique (None
    /// where it is not, or the invoice is open).
    pub true_paid: std::collections::HashMap<(String, i32, i32), Option<i32>>,
}

/// [`ListingsWithTruth`].
pub fn weekly_listings_with_truth() -> ListingsWithTruth {
    let src = generated_dir(150, 5_000, "2023-01-01", "2024-06-30", 5);
    let dst = tempfile::tempdir().expect("temp dir");
    open_items_listings(src.path(), dst.path(), 7);
    let truth = full_history(src.path());
    let listed = full_history(dst.path());
    let mut blind = full_history(dst.path());
    blind.listing_days.clear();
    let mut true_paid: std::collections::HashMap<(String, i32, i32), Option<i32>> = Default::default();
    for r in &truth.invoices {
        let k = (truth.customers[r.cust as usize].clone(), r.invoice_date, r.due_date);
        let paid = (r.paid_date != crate::features::history::OPEN).then_some(r.paid_date);
        true_paid.entry(k).and_modify(|v| *v = None).or_insert(paid);
    }
    ListingsWithTruth { truth, listed, blind, true_paid }
}

/// A generated ledger (80 customers, 4,000 invoices over 2023-01-01..2024-06-30, seed 4)
/// as weekly open-items listings in a fresh temp directory, with the tenth listing day
/// from the end `l` and a date four days after it, between listings.
pub fn weekly_listings_between() -> (tempfile::TempDir, i32, i32) {
    let src = generated_dir(80, 4_000, "2023-01-01", "2024-06-30", 4);
    let dst = tempfile::tempdir().expect("temp dir");
    open_items_listings(src.path(), dst.path(), 7);
    let days = full_history(dst.path()).listing_days;
    let l = days[days.len() - 10];
    (dst, l, l + 4)
}

/// Writes the invoices of `src` into `dst` as open-items listings every `every` days
/// from the first issue day: each `invoices/snapshot_date=YYYY-MM-DD/` folder lists
/// the invoices issued by its day and not settled by then, without their settlement
/// columns, as an aging report would. Customers and activities (reminders, promises:
/// a collections tool's notes) are copied; payments are left out.
pub fn open_items_listings(src: &std::path::Path, dst: &std::path::Path, every: i32) {
    use arrow_array::cast::AsArray;
    use arrow_array::types::Date32Type;
    use arrow_array::Array;
    let all = read_table(src, "invoices").expect("invoices");
    let keep: Vec<usize> = (0..all.num_columns())
        .filter(|&i| !["paid_date", "paid_amount", "disputed"].contains(&all.schema().field(i).name().as_str()))
        .collect();
    let listed = all.project(&keep).expect("project");
    let column = |name: &str| all.column_by_name(name).expect(name).as_primitive::<Date32Type>().clone();
    let (issued, paid) = (column("invoice_date"), column("paid_date"));
    let first = issued.iter().flatten().min().expect("invoices");
    let last = issued.iter().chain(paid.iter()).flatten().max().expect("invoices");
    let mut day = first + every - 1;
    while day <= last + every {
        let open: arrow_array::BooleanArray = (0..all.num_rows())
            .map(|i| Some(issued.value(i) <= day && (paid.is_null(i) || paid.value(i) > day)))
            .collect();
        let rows = arrow_select::filter::filter_record_batch(&listed, &open).expect("filter");
        let folder = dst.join(format!("invoices/snapshot_date={}", crate::domain::Day(day)));
        std::fs::create_dir_all(&folder).expect("listing folder");
        contract::write_batch(&folder.join("part-0.parquet"), &rows).expect("write");
        day += every;
    }
    std::fs::copy(src.join("customers.parquet"), dst.join("customers.parquet")).expect("customers");
    let activities = crate::ingest::TableSource::find(src, "activities").expect("table").expect("activities");
    std::fs::create_dir_all(dst.join("activities")).expect("activities folder");
    for (k, f) in activities.files.iter().enumerate() {
        std::fs::copy(f, dst.join(format!("activities/part-{k:05}.parquet"))).expect("activities");
    }
}
