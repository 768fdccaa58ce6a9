//! Command-line interface: clap commands that call the same library functions the
//! tests and (later) the HTTP API use. `anyhow` lives here only.

/// Prints a line of a command's report on stdout, as `println!` does, except that a
/// reader that has gone away (`arsight forecast … | head -3`) is not an error: the
/// command still finishes its work (models, output files, rejects) and exits as it
/// would have; only the rest of the report is dropped. `println!` panics there.
macro_rules! say {
    () => {
        $crate::cli::say_fmt(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::cli::say_fmt(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// [`say!`] without the newline.
macro_rules! say_part {
    ($($arg:tt)*) => {
        $crate::cli::say_fmt(format_args!($($arg)*))
    };
}

mod commands;

use std::path::PathBuf;

use chrono::NaiveDate;
use clap::{Parser, Subcommand};

pub use commands::run;

/// Writes to stdout; a closed reader (broken pipe) drops the text, any other failure
/// panics as `print!` would.
pub(crate) fn say_fmt(args: std::fmt::Arguments<'_>) {
    use std::io::Write;
    match std::io::stdout().lock().write_fmt(args) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => panic!("failed printing to stdout: {e}"),
        _ => {}
    }
}

/// arsight — accounts-receivable intelligence.
#[derive(Debug, Parser)]
#[command(name = "arsight", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the main job on the embedded default data: generate it when absent, build
    /// features as of a date, print a summary.
    Demo {
        /// Data directory (generated here when it has no invoices).
        #[arg(long, env = "ARSIGHT_DATA", default_value = "data/default")]
        data: PathBuf,
        /// As-of date for the features.
        #[arg(long, default_value = "2024-06-30")]
        as_of: NaiveDate,
        /// Where to write the features.
        #[arg(long, default_value = "data/default-features")]
        out: PathBuf,
    },
    /// Generate a seeded synthetic AR history as contract Parquet.
    Generate {
        /// Output data directory.
        #[arg(long)]
        out: PathBuf,
        /// What to generate.
        #[command(flatten)]
        params: GenerateArgs,
    },
    /// Build point-in-time customer vectors and open-invoice feature rows.
    Features {
        /// Data directory (contract Parquet).
        #[arg(long, required_unless_present = "catalogue")]
        data: Option<PathBuf>,
        /// As-of date: only what was known at its end is used.
        #[arg(long, required_unless_present = "catalogue")]
        as_of: Option<NaiveDate>,
        /// Output feature directory.
        #[arg(long, required_unless_present = "catalogue")]
        out: Option<PathBuf>,
        /// Currency for invoices without one.
        #[arg(long, default_value = "USD")]
        default_currency: String,
        /// Extra numeric invoice column to carry into the invoice features (repeatable).
        #[arg(long = "extra-feature")]
        extra_feature: Vec<String>,
        /// Print the feature catalogue (Markdown) and exit.
        #[arg(long)]
        catalogue: bool,
    },
    /// Backtest the payment-date and risk models and the cash forecast against
    /// baselines: retrain at each as-of date on what was visible then.
    ///
    /// The as-of dates run side by side on the available threads, with the same
    /// figures as on one; RAYON_NUM_THREADS=1 runs one at a time (less memory).
    Backtest {
        /// Data directory (contract Parquet).
        #[arg(long)]
        data: PathBuf,
        /// First as-of date (default: the date by which 80% of invoices were issued).
        #[arg(long)]
        from: Option<NaiveDate>,
        /// Last as-of date (default: the last invoice date).
        #[arg(long)]
        to: Option<NaiveDate>,
        /// Step between as-of dates, e.g. 14d or 2w.
        #[arg(long, default_value = "14d")]
        every: String,
        /// Cash forecast horizon, e.g. 13w or 91d.
        #[arg(long, default_value = "13w")]
        horizon: String,
        /// Model settings (TOML) as for `train --params`; the payment, risk, cash and
        /// cash_snapshots sections apply.
        #[arg(long)]
        params: Option<PathBuf>,
        /// Currency for invoices without one.
        #[arg(long, default_value = "USD")]
        default_currency: String,
        /// Write the report as JSON here (Markdown goes to stdout).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Write every invoice open at every as-of date here (CSV): the remaining-time
        /// model's p10/p50/p90 days and the days until it was actually paid.
        #[arg(long)]
        cash_rows: Option<PathBuf>,
        /// Write every invoice the model scored here (CSV): its predicted p10/p50/p90
        /// paid dates, P(late) and the actual paid date, per as-of date.
        #[arg(long)]
        scored_rows: Option<PathBuf>,
        /// Where to write input rows the contract rejects, when any (CSV: table, file,
        /// row, field, value, reason); default: beside `--out` as `<stem>.rejects.csv`, else `rejects.csv`.
        #[arg(long)]
        rejects: Option<PathBuf>,
    },
    /// Train the payment-date, risk, cash, segment and anomaly models on what was
    /// known at an as-of date; write them as new versions and make them current.
    Train {
        /// Data directory (contract Parquet).
        #[arg(long)]
        data: PathBuf,
        /// As-of date: invoices issued, payments and activities dated after it are ignored.
        #[arg(long)]
        as_of: NaiveDate,
        /// Models directory.
        #[arg(long, default_value = "models")]
        models: PathBuf,
        /// Seed of every model.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Model settings (TOML) laid over the defaults, e.g. `[payment]` `n_trees = 150`;
        /// sections payment, risk, cash, segments, anomaly, cash_snapshots, named as in
        /// the manifests' hyperparameters.
        #[arg(long)]
        params: Option<PathBuf>,
        /// Currency for invoices without one.
        #[arg(long, default_value = "USD")]
        default_currency: String,
        /// Where to write input rows the contract rejects, when any (CSV: table, file,
        /// row, field, value, reason); default: `<models>/rejects.csv`.
        #[arg(long)]
        rejects: Option<PathBuf>,
    },
    /// Score every invoice open at an as-of date with the current models.
    ///
    /// On open-items listings older than the date, the invoices the last listing shows
    /// open are scored as open at its day, all that is known of them: their dates can
    /// fall before the as-of date.
    Predict {
        /// Data directory (contract Parquet).
        #[arg(long)]
        data: PathBuf,
        /// As-of date.
        #[arg(long)]
        as_of: NaiveDate,
        /// Models directory.
        #[arg(long, default_value = "models")]
        models: PathBuf,
        /// Output file: .parquet, .csv or .json.
        #[arg(long)]
        out: PathBuf,
        /// Currency for invoices without one.
        #[arg(long, default_value = "USD")]
        default_currency: String,
        /// Where to write input rows the contract rejects, when any (CSV: table, file,
        /// row, field, value, reason); default: beside `--out` as `<stem>.rejects.csv`.
        #[arg(long)]
        rejects: Option<PathBuf>,
    },
    /// Cash forecast of the invoices open at an as-of date, per currency and in a base
    /// currency, with p10/p90 intervals.
    Forecast {
        /// Data directory (contract Parquet).
        #[arg(long)]
        data: PathBuf,
        /// As-of date.
        #[arg(long)]
        as_of: NaiveDate,
        /// Models directory.
        #[arg(long, default_value = "models")]
        models: PathBuf,
        /// Horizon, e.g. 13w or 30d (at most the cash model's horizon).
        #[arg(long, default_value = "13w")]
        horizon: String,
        /// Bucket width: day or week.
        #[arg(long, default_value = "week")]
        granularity: String,
        /// Monte Carlo draws.
        #[arg(long, default_value_t = 100)]
        sims: usize,
        /// FX table for the base-currency view (TOML: `base = "EUR"` and a
        /// `[per_base]` table of units per base unit); default USD with built-in rates.
        #[arg(long)]
        fx: Option<PathBuf>,
        /// Write the forecast as JSON here.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Currency for invoices without one.
        #[arg(long, default_value = "USD")]
        default_currency: String,
        /// Where to write input rows the contract rejects, when any (CSV: table, file,
        /// row, field, value, reason); default: beside `--out` as `<stem>.rejects.csv`, else `rejects.csv`.
        #[arg(long)]
        rejects: Option<PathBuf>,
    },
    /// Collections KPIs at an as-of date from what was known then: receivables and
    /// aging, DSO, best possible DSO, average days delinquent, CEI, on-time payment,
    /// promises kept, disputes; per currency and in a base currency, with a trend.
    Kpis {
        /// Data directory (contract Parquet).
        #[arg(long)]
        data: PathBuf,
        /// As-of date (default: the last issue or settlement date in the data).
        #[arg(long)]
        as_of: Option<NaiveDate>,
        /// Window of sales and collection behaviour behind each figure, e.g. 90d or 13w.
        #[arg(long, default_value = "90d")]
        window: String,
        /// Points of the trend, the as-of date included.
        #[arg(long, default_value_t = 6)]
        trend: usize,
        /// Days between trend points, e.g. 30d or 4w.
        #[arg(long, default_value = "30d")]
        step: String,
        /// FX table for the portfolio view (as for `forecast`); default: the data's
        /// fx_rates table as of the date, else USD with built-in rates.
        #[arg(long)]
        fx: Option<PathBuf>,
        /// Write the report as JSON here.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Currency for invoices without one.
        #[arg(long, default_value = "USD")]
        default_currency: String,
        /// Where to write input rows the contract rejects, when any (CSV: table, file,
        /// row, field, value, reason); default: beside `--out` as `<stem>.rejects.csv`, else `rejects.csv`.
        #[arg(long)]
        rejects: Option<PathBuf>,
    },
    /// Serve the HTTP API. With no arguments: the embedded default data (generated
    /// when absent) and models (trained when none exist). Settings: defaults, then
    /// `--config` (TOML), then `ARSIGHT_*` variables and these flags.
    Serve {
        /// Configuration file (TOML; see `arsight::api::config`).
        #[arg(long, env = "ARSIGHT_CONFIG")]
        config: Option<PathBuf>,
        /// Data directory (generated here when it has no invoices) [default: data/default].
        #[arg(long, env = "ARSIGHT_DATA")]
        data: Option<PathBuf>,
        /// Models directory (trained here when it has none) [default: models].
        #[arg(long, env = "ARSIGHT_MODELS")]
        models: Option<PathBuf>,
        /// Server state: API key hashes and the event log [default: state].
        #[arg(long, env = "ARSIGHT_STATE")]
        state: Option<PathBuf>,
        /// Address to listen on; port 0 picks a free port [default: 127.0.0.1:8080].
        #[arg(long, env = "ARSIGHT_ADDR")]
        addr: Option<String>,
        /// As-of date (default: the last date in the data).
        #[arg(long, env = "ARSIGHT_AS_OF")]
        as_of: Option<NaiveDate>,
        /// No API keys: for local exploration, accepted on a loopback address only.
        #[arg(long)]
        insecure_no_auth: bool,
    },
    /// Create an API key: prints the token once and the `[[keys]]` entry (hash only)
    /// for the server's configuration file.
    ApiKey {
        /// Role: read, write or admin.
        #[arg(long, default_value = "read")]
        role: String,
        /// Name of the key's holder.
        #[arg(long, default_value = "client")]
        name: String,
    },
    /// Import a CSV or Parquet export with a TOML column mapping into contract Parquet.
    Import {
        /// Input file (.csv or .parquet).
        #[arg(long)]
        input: PathBuf,
        /// Mapping file (TOML); see examples/mappings/.
        #[arg(long)]
        mapping: PathBuf,
        /// Output data directory; the table file is written inside it.
        #[arg(long)]
        out: PathBuf,
        /// Where to write rejected rows (default: `<out>/<table>.rejects.csv`).
        #[arg(long)]
        rejects: Option<PathBuf>,
    },
}

/// Installs the `tracing` subscriber (`RUST_LOG`, default `arsight=info`) on stderr.
pub fn init_telemetry() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("arsight=warn"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}

/// The generator's settings as command-line flags.
#[derive(Debug, Clone, clap::Args)]
pub struct GenerateArgs {
    /// Number of customers.
    #[arg(long, default_value_t = 3_000)]
    pub customers: usize,
    /// Number of invoices.
    #[arg(long, default_value_t = 100_000)]
    pub invoices: usize,
    /// First issue date.
    #[arg(long, default_value = "2022-01-01")]
    pub start: NaiveDate,
    /// Last day of history.
    #[arg(long, default_value = "2024-12-31")]
    pub end: NaiveDate,
    /// Random seed.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Share of the invoices from occasional counterparties (one to three invoices
    /// each, within a quarter), added to the customers above.
    #[arg(long, default_value_t = 0.0)]
    pub occasional_share: f64,
    /// Let customers' country and segment move their mean days late (payment
    /// cultures, approval cycles); off by default.
    #[arg(long)]
    pub market_effects: bool,
    /// Mixed payment terms: a quarter of the customers on end-of-month terms and
    /// 30% of invoices on terms of their own (due on receipt to 90 days); off by default.
    #[arg(long)]
    pub mixed_terms: bool,
    /// Payment runs: 40% of the customers pay only on their run days (weekly or twice
    /// weekly on weekdays, the 15th and the month's last day, or monthly on a day); off by default.
    #[arg(long)]
    pub payment_runs: bool,
    /// Bank holidays: nothing settles on the TARGET2 closing days (New Year, Good
    /// Friday, Easter Monday, 1 May, 25 and 26 December), written to
    /// `holidays.parquet`; off by default.
    #[arg(long)]
    pub holidays: bool,
    /// Bank holidays per currency instead: TARGET2 for EUR, the Federal Reserve's for
    /// USD, England and Wales for GBP (other currencies: weekends only), written to
    /// `holidays.parquet` with a `currency` column; off by default.
    #[arg(long)]
    pub currency_holidays: bool,
    /// Heavy-tailed amounts: customer sizes from a Pareto tail (a tenth of the
    /// customers carry most of the amount) and 3% of invoices project-sized, 5–40 times
    /// the customer's usual amount; off by default.
    #[arg(long)]
    pub heavy_tails: bool,
}

impl From<GenerateArgs> for crate::generate::GenerateParams {
    fn from(a: GenerateArgs) -> Self {
        crate::generate::GenerateParams {
            customers: a.customers,
            invoices: a.invoices,
            start: a.start,
            end: a.end,
            seed: a.seed,
            occasional_share: a.occasional_share,
            market_effects: a.market_effects,
            mixed_terms: a.mixed_terms,
            payment_runs: a.payment_runs,
            holidays: a.holidays,
            currency_holidays: a.currency_holidays,
            heavy_tails: a.heavy_tails,
        }
    }
}
