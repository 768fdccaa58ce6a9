//! Test fixtures shared by unit tests: small generated histories.

use chrono::NaiveDate;

use crate::features::history::{History, FAR_FUTURE};
use crate::features::{load_history, FxTable};
use crate::generate::{generate, GenerateParams};
use crate::ingest::InvoiceReadOptions;

/// Generates `customers`/`invoices` between `start` and `end` (ISO dates) with `seed`
/// into a fresh temp directory.
pub fn generated_dir(customers: usize, invoices: usize, start: &str, end: &str, seed: u64) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let date = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("ISO date");
    let params = GenerateParams { customers, invoices, start: date(start), end: date(end), seed, ..Default::default() };
    generate(dir.path(), &params).expect("generate");
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
