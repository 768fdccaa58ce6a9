//! The command implementations.

use crate::ingest::columns::NULL_DATE;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use chrono::NaiveDate;

use super::{Cli, Command};
use crate::domain::{days_from_date, Currency};
use crate::features::history::FAR_FUTURE;
use crate::features::{load_history, FxTable};
use crate::forecast::{open_items_known, simulate_since, Forecast, ForecastParams, Granularity};
use crate::models::artifact::{data_fingerprint, ModelStore};
use crate::models::backtest::{run_backtest_with, BacktestParams};
use crate::models::predict::{predict_open, write_predictions};
use crate::models::train::{load_current, save_all, train_all_with, ModelSet, TrainParams};

/// Parses "14d", "2w" or a bare number of days.
fn parse_days(s: &str) -> Result<i32> {
    crate::domain::parse_span_days(s)
        .with_context(|| format!("should be a positive number of days or weeks like 14d or 13w, but is '{s}'"))
}
use crate::features::{self, build_features, write_feature_set, FeatureOptions};
use crate::generate::{generate, GenerateParams};
use crate::import::{import_file, Mapping};
use crate::ingest::{summarize_rejects, write_rejects, InvoiceReadOptions, RejectedRow, TableSource};

/// Runs a parsed command line.
///
/// # Errors
/// Any failure, with context naming the step and file.
pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Demo { data, as_of, out } => demo(&data, as_of, &out),
        Command::Generate { out, params } => {
            let params = GenerateParams::from(params);
            let end = params.end;
            let t = Instant::now();
            let s = generate(&out, &params).with_context(|| format!("generating into {}", out.display()))?;
            say!(
                "generated {} customers, {} invoices ({} open at {end}), {} payments, {} activities in {} part files into {} ({:.1}s)",
                s.customers,
                s.invoices,
                s.open_invoices,
                s.payments,
                s.activities,
                s.shards,
                out.display(),
                t.elapsed().as_secs_f64()
            );
            Ok(())
        }
        Command::Features { catalogue: true, .. } => {
            say_part!("{}", features::catalogue::catalogue_markdown());
            Ok(())
        }
        Command::Features { data, as_of, out, default_currency, extra_feature, catalogue: false } => {
            let (Some(data), Some(as_of), Some(out)) = (data, as_of, out) else {
                bail!("--data, --as-of and --out are required");
            };
            let currency = Currency::parse(&default_currency).context("--default-currency")?;
            let opts = FeatureOptions {
                read: InvoiceReadOptions { default_currency: currency, extra_numeric: extra_feature },
                ..Default::default()
            };
            features_cmd(&data, as_of, &out, &opts).map(|_| ())
        }
        Command::Backtest {
            data,
            from,
            to,
            every,
            horizon,
            params,
            default_currency,
            out,
            cash_rows,
            scored_rows,
            rejects,
        } => {
            let tp = train_params(params.as_deref(), 42)?;
            let params = BacktestParams {
                models: tp,
                from: from.map(days_from_date),
                to: to.map(days_from_date),
                every_days: parse_days(&every).context("--every")?,
                horizon_weeks: parse_days(&horizon).context("--horizon")?.div_euclid(7).max(1),
                keep_rows: cash_rows.is_some() || scored_rows.is_some(),
            };
            let currency = Currency::parse(&default_currency).context("--default-currency")?;
            let read = InvoiceReadOptions { default_currency: currency, extra_numeric: Vec::new() };
            let t = Instant::now();
            let h = history_for_models(&data, FAR_FUTURE, &read)?;
            RejectsOut::beside(rejects, out.as_deref()).keep(&h.rejects)?;
            // The cash forecast as `arsight forecast` makes it, scored beside the protocol.
            let report = run_backtest_with(&h, &params, Some(&case_forecast)).context("backtest")?;
            say_part!("{}", report.markdown());
            say!("\n({:.1}s)", t.elapsed().as_secs_f64());
            if let Some(out) = out {
                let json = serde_json::to_vec_pretty(&report)?;
                crate::fsutil::atomic_write(&out, |f| std::io::Write::write_all(f, &json))
                    .with_context(|| format!("writing {}", out.display()))?;
            }
            use crate::models::backtest::{CashRow, ScoredRow};
            if let Some(path) = cash_rows {
                write_csv(&path, &CashRow::CSV_HEADER, report.cash_rows.iter().map(CashRow::csv_record))?;
            }
            if let Some(path) = scored_rows {
                write_csv(&path, &ScoredRow::CSV_HEADER, report.scored_rows.iter().map(ScoredRow::csv_record))?;
            }
            Ok(())
        }
        Command::Import { input, mapping, out, rejects } => import_cmd(&input, &mapping, &out, rejects.as_deref()),
        Command::Serve { config, data, models, state, addr, as_of, insecure_no_auth } => {
            let over = crate::api::config::Overrides { addr, data, models, state, as_of, insecure_no_auth };
            let settings = crate::api::Settings::load(config.as_deref(), |k| std::env::var(k).ok(), over)?;
            serve_cmd(&settings)
        }
        Command::ApiKey { role, name } => {
            let role = crate::api::auth::Role::parse(&role)
                .with_context(|| format!("--role should be read, write or admin, not '{role}'"))?;
            let token = crate::api::auth::new_token().map_err(anyhow::Error::msg)?;
            say!("api key: {token}");
            say!("# add to the server's configuration file (only the hash is stored):");
            say!(
                "[[keys]]\nname = {name:?}\nrole = \"{}\"\nsha256 = \"{}\"",
                role.as_str(),
                crate::api::auth::hash_token(&token)
            );
            Ok(())
        }
        Command::Train { data, as_of, models, seed, params, default_currency, rejects } => {
            let params = train_params(params.as_deref(), seed)?;
            let rejects = RejectsOut::in_dir(rejects, &models);
            train_cmd(&data, as_of, &models, &params, &default_currency, &rejects).map(|_| ())
        }
        Command::Predict { data, as_of, models, out, default_currency, rejects } => {
            let rejects = RejectsOut::beside(rejects, Some(&out));
            let (h, set) = load_for_scoring(&data, as_of, &models, &default_currency, &rejects)?;
            let t = Instant::now();
            let preds = predict_open(&h, h.as_of, &set).context("scoring")?;
            write_predictions(&out, &preds).with_context(|| format!("writing {}", out.display()))?;
            let late = preds.iter().filter(|p| p.p_late >= 0.5).count();
            let flagged = preds.iter().filter(|p| !p.anomaly_flags.is_empty()).count();
            let cold = preds.iter().filter(|p| p.cold_start).count();
            say!(
                "{} open invoices at {as_of} scored in {:.2}s -> {}: {late} likely late (p_late >= 0.5), {flagged} with anomaly flags, {cold} cold-start",
                preds.len(),
                t.elapsed().as_secs_f64(),
                out.display()
            );
            Ok(())
        }
        Command::Kpis { data, as_of, window, trend, step, fx, out, default_currency, rejects } => {
            let d = match as_of {
                Some(d) => days_from_date(d),
                None => last_known_day(&data)?,
            };
            let params = crate::kpi::KpiParams {
                window_days: parse_days(&window).context("--window")?,
                trend_points: trend,
                trend_step_days: parse_days(&step).context("--step")?,
            };
            params.check().context("KPI settings")?;
            let h = load_history(&data, d, &read_options(&default_currency)?, &FxTable::default())
                .with_context(|| format!("reading {}", data.display()))?;
            RejectsOut::beside(rejects, out.as_deref()).keep(&h.rejects)?;
            let fx = base_rates(fx.as_deref(), &data, d)?;
            let report = crate::kpi::kpis(&h, d, &fx, &params).context("KPIs")?;
            say_part!("{}", report.markdown());
            if let Some(out) = out {
                let json = serde_json::to_vec_pretty(&report)?;
                crate::fsutil::atomic_write(&out, |w| std::io::Write::write_all(w, &json))
                    .with_context(|| format!("writing {}", out.display()))?;
            }
            Ok(())
        }
        Command::Forecast { data, as_of, models, horizon, granularity, sims, fx, out, default_currency, rejects } => {
            let granularity = Granularity::parse(&granularity)
                .with_context(|| format!("--granularity should be day or week, not '{granularity}'"))?;
            let rejects = RejectsOut::beside(rejects, out.as_deref());
            let (h, set) = load_for_scoring(&data, as_of, &models, &default_currency, &rejects)?;
            let fx = base_rates(fx.as_deref(), &data, h.as_of)?;
            let params = ForecastParams {
                horizon_days: parse_days(&horizon).context("--horizon")?,
                granularity,
                sims,
                holidays: set.payment.closed(&h.holidays),
                ..Default::default()
            }
            .with_copula(set.cash_copula.as_ref());
            let t = Instant::now();
            let (through, items) = open_items_known(&h, h.as_of, &set).context("scoring open invoices")?;
            let f =
                simulate_since(&items, through, h.as_of, &params, &fx, set.cash_horizon_days).context("forecast")?;
            print_forecast(&f);
            say!("({} open invoices, {} draws, {:.2}s)", f.n_invoices, params.sims, t.elapsed().as_secs_f64());
            if let Some(out) = out {
                let json = serde_json::to_vec_pretty(&f)?;
                crate::fsutil::atomic_write(&out, |w| std::io::Write::write_all(w, &json))
                    .with_context(|| format!("writing {}", out.display()))?;
            }
            Ok(())
        }
    }
}

/// The last issue or settlement date in the data, from the two date columns only.
fn last_known_day(data: &Path) -> Result<i32> {
    let src = TableSource::require(data, "invoices").with_context(|| format!("reading {}", data.display()))?;
    let (last, _) = crate::ingest::read_invoices_with(&src, &read_options("USD")?, |c| {
        (0..c.len())
            .filter(|&i| c.valid[i])
            .map(|i| if c.paid_date[i] == NULL_DATE { c.invoice_date[i] } else { c.paid_date[i] })
            .max()
    })
    .with_context(|| format!("reading {}", data.display()))?;
    last.into_iter().flatten().max().context("the data has no invoices")
}

/// Rates for a base-currency view at `d`: the `--fx` file, else the data's `fx_rates`
/// table as of the date, else the built-in approximate table.
fn base_rates(fx: Option<&Path>, data: &Path, d: i32) -> Result<FxTable> {
    if let Some(p) = fx {
        let text = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
        return toml::from_str::<FxTable>(&text).with_context(|| format!("{}: FX table", p.display()));
    }
    match FxTable::from_data(data, d).with_context(|| format!("reading {}", data.display()))? {
        Some(t) => {
            let date = crate::domain::date_from_days(d).map(|x| x.to_string()).unwrap_or_default();
            say!("FX rates: the fx_rates table as of {date} (base {})", t.base.as_str());
            Ok(t)
        }
        None => Ok(FxTable::default()),
    }
}

/// Whether `data` has no invoices table at all, so the default sample is generated
/// there. One that cannot be read fails here rather than have a generated sample
/// written into someone's data directory.
fn needs_sample(data: &Path) -> Result<bool> {
    Ok(TableSource::find(data, "invoices").with_context(|| format!("reading {}", data.display()))?.is_none())
}

fn serve_cmd(settings: &crate::api::Settings) -> Result<()> {
    let (data, models, as_of) = (settings.data.as_path(), settings.models.as_path(), settings.as_of);
    if needs_sample(data)? {
        let params = GenerateParams::default();
        say!("no data in {}: generating the default sample (seed {})", data.display(), params.seed);
        generate(data, &params).with_context(|| format!("generating into {}", data.display()))?;
    }
    let d = match as_of {
        Some(d) => days_from_date(d),
        None => last_known_day(data)?,
    };
    let date = crate::domain::date_from_days(d).context("as-of date")?;
    if ModelStore::new(models).current(crate::models::artifact::Kind::PaymentDate).is_err() {
        say!("no models in {}: training on data known at {date}", models.display());
        let rejects = RejectsOut::in_dir(None, models);
        train_cmd(data, date, models, &TrainParams::default().with_seed(42), "USD", &rejects)?;
    }
    let t = Instant::now();
    let events = settings.state.join("events");
    let fsync = settings.events.fsync == crate::api::config::Fsync::Always;
    let live = crate::service::Live::open(data, d, models, &events, fsync, settings.fx.clone())
        .with_context(|| format!("loading {}, {} and {}", data.display(), models.display(), events.display()))?;
    let kept = settings.state.join("rejects.csv");
    let rejects = live.keep_rejects_in(kept.clone()).context("keeping the rejected rows")?;
    say_rejects(&kept, &rejects);
    release_free_memory();
    say!(
        "as of {date}: {} open invoices scored, models loaded in {:.1}s",
        live.get().open_count(),
        t.elapsed().as_secs_f64()
    );
    let (keys, token) = crate::api::auth::Keys::load(&settings.keys, &settings.state, settings.insecure_no_auth)
        .map_err(anyhow::Error::msg)
        .context("loading API keys")?;
    if let Some(t) = token {
        say!("no API keys configured: generated an admin key (only its hash is kept in {}):", settings.state.display());
        say!("admin api key: {t}");
    }
    if settings.insecure_no_auth {
        say!("warning: serving without API keys (--insecure-no-auth)");
    }
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the runtime")?;
    rt.block_on(crate::api::serve(live, settings, keys)).with_context(|| format!("serving on {}", settings.addr))
}

fn read_options(default_currency: &str) -> Result<InvoiceReadOptions> {
    let currency = Currency::parse(default_currency).context("--default-currency")?;
    Ok(InvoiceReadOptions { default_currency: currency, extra_numeric: Vec::new() })
}

/// The default model settings with `seed`, and those of a `--params` file laid over them.
/// The history as of `d` with amounts in the built-in rates (the models' inputs),
/// warning on stderr about currencies those rates do not cover.
fn history_for_models(data: &Path, d: i32, read: &InvoiceReadOptions) -> Result<crate::features::History> {
    let h = load_history(data, d, read, &FxTable::default()).with_context(|| format!("reading {}", data.display()))?;
    if !h.unknown_currencies.is_empty() {
        let codes: Vec<&str> = h.unknown_currencies.iter().map(|c| c.as_str()).collect();
        eprintln!("warning: no built-in FX rate for {}; their amounts enter the model inputs at 1.0", codes.join(", "));
    }
    Ok(h)
}

/// The cash forecast of a case as `arsight forecast` makes it (default settings), for
/// the models layer's backtest and weekly spread.
fn case_forecast(case: &crate::models::backtest::CashCase<'_>) -> crate::models::backtest::CaseForecast {
    crate::forecast::forecast_case(case, &ForecastParams::default()).expect("the default settings are valid")
}

fn train_params(file: Option<&Path>, seed: u64) -> Result<TrainParams> {
    let p = TrainParams::default().with_seed(seed);
    let Some(file) = file else { return Ok(p) };
    let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    p.with_overrides(&text).with_context(|| format!("{}: model settings", file.display()))
}

fn train_cmd(
    data: &Path,
    as_of: NaiveDate,
    models: &Path,
    params: &TrainParams,
    default_currency: &str,
    rejects: &RejectsOut,
) -> Result<()> {
    let t = Instant::now();
    let d = days_from_date(as_of);
    let h = history_for_models(data, d, &read_options(default_currency)?)?;
    rejects.keep(&h.rejects)?;
    // With the cash forecast, for the spread of its weekly totals.
    let trained = train_all_with(&h, d, params, Some(&case_forecast)).context("training")?;
    let fingerprint = data_fingerprint(data)?;
    let store = ModelStore::new(models);
    let versions = save_all(&store, &trained, params, &fingerprint)
        .with_context(|| format!("saving models to {}", models.display()))?;
    say!(
        "trained on data known at {as_of} in {:.1}s; current versions in {}:",
        t.elapsed().as_secs_f64(),
        models.display()
    );
    for (k, v) in &versions {
        say!("  {:<13} {v}  ({} rows)", k.as_str(), trained.rows.get(k).copied().unwrap_or(0));
    }
    say!(
        "segments: {}",
        trained
            .models
            .segments
            .names
            .iter()
            .zip(&trained.models.segments.sizes)
            .map(|(n, s)| format!("{n} ({s})"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    match &trained.validation {
        Some(r) => say!("\nvalidation (time-later slice, see models/README.md):\n{}", r.markdown()),
        None => say!("\nvalidation: history too short for a time-later slice"),
    }
    Ok(())
}

fn load_for_scoring(
    data: &Path,
    as_of: NaiveDate,
    models: &Path,
    default_currency: &str,
    rejects: &RejectsOut,
) -> Result<(crate::features::History, ModelSet)> {
    let store = ModelStore::new(models);
    let (set, _) = load_current(&store).with_context(|| format!("loading models from {}", models.display()))?;
    let h = history_for_models(data, days_from_date(as_of), &read_options(default_currency)?)?;
    rejects.keep(&h.rejects)?;
    Ok((h, set))
}

/// Where a command writes the input rows the contract rejected: none is dropped
/// unseen, whichever command reads the data.
struct RejectsOut {
    path: PathBuf,
    /// The path is derived from the command's own output, so a file left there by an
    /// earlier run with rejects is removed when this one has none.
    derived: bool,
}

impl RejectsOut {
    /// `--rejects`, else `rejects.csv` in the command's own output directory (the
    /// models or the server's state).
    fn in_dir(explicit: Option<PathBuf>, dir: &Path) -> Self {
        match explicit {
            Some(path) => RejectsOut { path, derived: false },
            None => RejectsOut { path: dir.join("rejects.csv"), derived: true },
        }
    }

    /// `--rejects`, else beside the output as `<stem>.rejects.csv`, else `rejects.csv`
    /// in the working directory.
    fn beside(explicit: Option<PathBuf>, out: Option<&Path>) -> Self {
        match (explicit, out) {
            (Some(path), _) => RejectsOut { path, derived: false },
            (None, Some(out)) => RejectsOut { path: out.with_extension("rejects.csv"), derived: true },
            (None, None) => RejectsOut { path: PathBuf::from("rejects.csv"), derived: false },
        }
    }

    /// Writes `rejects` (when any) and says how many and why.
    fn keep(&self, rejects: &[RejectedRow]) -> Result<()> {
        if rejects.is_empty() {
            if self.derived && self.path.exists() {
                std::fs::remove_file(&self.path).with_context(|| format!("removing {}", self.path.display()))?;
            }
            return Ok(());
        }
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        write_rejects(&self.path, rejects).with_context(|| format!("writing {}", self.path.display()))?;
        say_rejects(&self.path, rejects);
        Ok(())
    }
}

/// Says how many rows were rejected, why, and where they were written (nothing when
/// none were).
fn say_rejects(path: &Path, rejects: &[RejectedRow]) {
    if rejects.is_empty() {
        return;
    }
    say!("{} input rows rejected, written to {}:", rejects.len(), path.display());
    for (reason, n) in summarize_rejects(rejects).into_iter().take(10) {
        say!("  {n:>8}  {reason}");
    }
}

fn print_forecast(f: &Forecast) {
    let major = |minor: i64, digits: u32| minor as f64 / 10f64.powi(digits as i32);
    let digits = |c: &str| Currency::parse(c).map(|c| c.minor_digits()).unwrap_or(2);
    let bd = digits(&f.base_currency);
    say!("cash forecast as of {} in {} (all currencies converted):", f.as_of, f.base_currency);
    if f.data_through != f.as_of {
        say!(
            "  the data's open-items listings run to {}: expected paid since then, by {} and so not to come: {:.0}",
            f.data_through,
            f.as_of,
            major(f.since_data_expected_base_minor, bd)
        );
    }
    say!("  {:<23} {:>14} {:>14} {:>14} {:>14} {:>14}", "period", "expected", "p10", "p90", "due", "overdue");
    for b in &f.base {
        say!(
            "  {} .. {} {:>14.0} {:>14.0} {:>14.0} {:>14.0} {:>14.0}",
            b.start,
            b.end,
            major(b.expected_minor, bd),
            major(b.p10_minor, bd),
            major(b.p90_minor, bd),
            major(b.due_expected_minor, bd),
            major(b.overdue_expected_minor, bd)
        );
    }
    say!("  by currency (expected over the horizon / open / beyond the horizon):");
    for c in &f.currencies {
        let d = digits(&c.currency);
        let total: i64 = c.buckets.iter().map(|b| b.expected_minor).sum();
        say!(
            "  {:<4} {:>16.0} {:>16.0} {:>16.0}",
            c.currency,
            major(total, d),
            major(c.open_minor, d),
            major(c.beyond_horizon_expected_minor, d)
        );
    }
}

fn features_cmd(data: &Path, as_of: NaiveDate, out: &Path, opts: &FeatureOptions) -> Result<features::FeatureSet> {
    let t = Instant::now();
    let set =
        build_features(data, as_of, opts).with_context(|| format!("building features from {}", data.display()))?;
    let built = t.elapsed().as_secs_f64();
    let m = write_feature_set(&set, data, out, opts.fx.base.as_str())
        .with_context(|| format!("writing features to {}", out.display()))?;
    say!(
        "features as of {as_of}: {} customers, {} open invoices (of {} visible) -> {} (built in {built:.2}s, total {:.2}s)",
        m.n_customers,
        m.n_open_invoices,
        m.n_visible_invoices,
        out.display(),
        t.elapsed().as_secs_f64()
    );
    if m.n_rejects > 0 {
        say!("{} rows rejected, written to {}:", m.n_rejects, out.join("rejects.csv").display());
        for (reason, n) in summarize_rejects(&set.rejects).into_iter().take(10) {
            say!("  {n:>8}  {reason}");
        }
    }
    if !m.unknown_currencies.is_empty() {
        say!("warning: no FX rate for {}; converted at 1.0 for model inputs", m.unknown_currencies.join(", "));
    }
    Ok(set)
}

fn demo(data: &Path, as_of: NaiveDate, out: &Path) -> Result<()> {
    if needs_sample(data)? {
        let params = GenerateParams::default();
        say!(
            "no data in {}: generating the default sample ({} customers, {} invoices, seed {})",
            data.display(),
            params.customers,
            params.invoices,
            params.seed
        );
        let s = generate(data, &params).with_context(|| format!("generating into {}", data.display()))?;
        say!("generated {} invoices, {} payments, {} activities", s.invoices, s.payments, s.activities);
    }
    let set = features_cmd(data, as_of, out, &FeatureOptions::default())?;
    print_summary(&set);
    Ok(())
}

/// A short portfolio summary from the features: aging and the riskiest customers.
fn print_summary(set: &features::FeatureSet) {
    let c = &set.customers;
    let col = |n: &str| c.column(n).map(|v| v.to_vec()).unwrap_or_default();
    let buckets = [
        "open_current_base",
        "open_1_30_base",
        "open_31_60_base",
        "open_61_90_base",
        "open_91_120_base",
        "open_over_120_base",
    ];
    let total: f64 = col("open_amount_base").iter().sum();
    say!("\nopen receivables at {} (USD equivalent): {:.0}", set.as_of, total);
    for b in buckets {
        let v: f64 = col(b).iter().sum();
        say!(
            "  {:<20} {:>16.0}  {:>5.1}%",
            b.trim_end_matches("_base").trim_start_matches("open_"),
            v,
            100.0 * v / total.max(1.0)
        );
    }
    let late = col("days_late_mean");
    let open = col("open_amount_base");
    let current = col("open_current_base");
    let past_due: Vec<f64> = open.iter().zip(&current).map(|(o, c)| o - c).collect();
    let mut idx: Vec<usize> = (0..c.ids.len()).filter(|&i| past_due[i] > 0.0).collect();
    idx.sort_by(|&a, &b| past_due[b].total_cmp(&past_due[a]));
    say!("\nlargest past-due balances:");
    say!("  {:<10} {:>14} {:>14} {:>16}", "customer", "past due", "open", "mean days late");
    for &i in idx.iter().take(10) {
        say!("  {:<10} {:>14.0} {:>14.0} {:>16.1}", c.ids[i], past_due[i], open[i], late[i]);
    }
}

fn import_cmd(input: &Path, mapping: &Path, out: &Path, rejects: Option<&Path>) -> Result<()> {
    let m = Mapping::load(mapping)?;
    let s = import_file(input, &m, out, rejects).with_context(|| format!("importing {}", input.display()))?;
    say!(
        "{}: read {} rows, wrote {} to {}, rejected {}",
        s.table,
        s.rows_read,
        s.rows_written,
        s.output,
        s.rows_rejected
    );
    for (reason, n) in &s.rejected_by_reason {
        say!("  {n:>8}  {reason}");
    }
    if let Some(f) = &s.rejects_file {
        say!("rejected rows written to {f}");
    }
    Ok(())
}

/// Hands memory freed after loading (transient feature matrices) back to the OS, so
/// the resident size reflects what the service keeps (glibc keeps freed pages of its
/// arenas otherwise).
fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        extern "C" {
            fn malloc_trim(pad: usize) -> i32;
        }
        // SAFETY: glibc's malloc_trim only releases free heap pages; no pointer is
        // invalidated and it may be called at any time from any thread.
        unsafe {
            malloc_trim(0);
        }
    }
}

/// Writes `header` and `records` as CSV to `path` (temp file, then rename).
fn write_csv<R: AsRef<[String]>>(path: &Path, header: &[&str], records: impl Iterator<Item = R>) -> anyhow::Result<()> {
    crate::fsutil::atomic_write(path, |f| {
        let mut w = csv::Writer::from_writer(f);
        w.write_record(header)?;
        for r in records {
            w.write_record(r.as_ref())?;
        }
        w.flush()
    })
    .with_context(|| format!("writing {}", path.display()))
}
