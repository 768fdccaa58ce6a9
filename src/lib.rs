//! arsight: accounts-receivable intelligence.
//!
//! Modules in dependency order; each uses only those above it:
//!
//! | module | owns |
//! |---|---|
//! | [`domain`] | ids, [`domain::Money`], dates, contract records; no I/O |
//! | [`fsutil`] | crash-safe writes (temp file + rename) |
//! | [`rng`] | the seeded pseudo-random generator (generator, models, forecast) |
//! | [`ingest`] | Parquet → validated columnar chunks, rejected rows with reasons |
//! | [`contract`] | Arrow schemas of the contract tables and a Parquet table writer |
//! | [`features`] | point-in-time customer behaviour vectors and invoice feature rows; per-customer ledgers |
//! | [`events`] | invoices, payments and activities arriving live: validation, the append-only log, application to ledgers |
//! | [`models`] | gradient-boosted trees, payment-date, risk, segment and anomaly models, calibration, metrics, artifacts, training, scoring, backtest |
//! | [`forecast`] | Monte Carlo cash forecast with shared shocks, per currency and in a base currency |
//! | [`worklist`] | a collector's follow-up of an open invoice: contact, promise, dispute, next action |
//! | [`kpi`] | collections KPIs at a date: receivables aging, DSO, best possible DSO, CEI, promises kept, disputes, with a trend |
//! | [`generate`] | the seeded synthetic AR history generator |
//! | [`import`] | CSV/Parquet exports + TOML column mapping → contract Parquet |
//! | [`service`] | the loaded state the API answers from: scored open invoices, customer views, worklist, anomalies, cached forecasts |
//! | [`api`] | the HTTP layer (axum): routes, problem-details errors |
//! | [`cli`] | clap commands over the same functions |
//!
//! On disk: a *data directory* holds `invoices.parquet` (or `invoices/*.parquet`) and
//! optional `payments`, `customers`, `activities` tables (`docs/DATA.md`); a *feature
//! directory* holds `customer_features.parquet`, `invoice_features.parquet`,
//! `manifest.json` and `rejects.csv` (`features/README.md`).
#![warn(missing_docs)]

pub mod api;
pub mod cli;
pub mod contract;
pub mod domain;
pub mod events;
pub mod features;
#[cfg(test)]
mod fixtures;
pub mod forecast;
pub mod fsutil;
pub mod generate;
pub mod import;
pub mod ingest;
pub mod kpi;
pub mod models;
pub mod rng;
pub mod service;
pub mod worklist;
