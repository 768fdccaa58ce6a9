//! Cash forecast: expected inflows per period and currency with p10/p90 intervals,
//! from Monte Carlo draws of every open invoice's payment day.
//!
//! Each open invoice has a predictive distribution of the days until it is paid (the
//! cash model's p10/p50/p90 read as a piecewise-linear CDF). Draws are tied by a
//! Gaussian copula, the quantile level of an invoice being
//! `Φ(√ρc·z_customer + √ρp·z_period + √(1−ρc−ρp)·ε)`: a customer's invoices move
//! together and the whole portfolio can run early or late in a draw, so intervals are
//! not falsely narrow. `ρc` and `ρp` are learned with the cash model from the ledger's
//! own history ([`crate::models::copula`]); the defaults (0.3, 0.1) apply without enough
//! of it. A miss every invoice shares (a shape the model gets wrong) does not average
//! out over many invoices as the draws do: each week's total is also spread by how far
//! the forecast's weekly totals strayed over the newest weeks
//! ([`ForecastParams::week_spread`]). Amounts stay in integer minor units per currency; the
//! base-currency view converts with the FX table. Invoices already past due at the
//! as-of date are reported separately ("overdue and expected") from those not yet due
//! ("due and expected").

use std::sync::Arc;

use rayon::prelude::*;
use serde::Serialize;

use crate::domain::{date_from_days, Currency, Holidays, PaymentRun, N_CALENDARS};
use crate::features::history::{id_key, History};
use crate::features::FxTable;
use crate::models::backtest::{CaseForecast, CashCase, DAILY_DAYS};
use crate::models::copula::{norm_inv, predict_dists, CashDist, Copula};
use crate::models::dataset::{known_parts, open_rows, scoring_rows, InvoiceView};
use crate::models::gbdt::GbdtError;
use crate::models::train::ModelSet;
use crate::rng::splitmix64;

/// Bucket width.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Granularity {
    /// One day.
    Day,
    /// Seven days from the day after the as-of date.
    Week,
}

impl Granularity {
    /// Days per bucket.
    pub fn days(self) -> i32 {
        match self {
            Granularity::Day => 1,
            Granularity::Week => 7,
        }
    }

    /// Parses `day` or `week`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "day" | "daily" => Some(Granularity::Day),
            "week" | "weekly" => Some(Granularity::Week),
            _ => None,
        }
    }
}

/// Forecast settings.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ForecastParams {
    /// Days ahead.
    pub horizon_days: i32,
    /// Bucket width.
    pub granularity: Granularity,
    /// Monte Carlo draws.
    pub sims: usize,
    /// Share of an invoice's timing variance shared with the customer's other invoices.
    pub customer_corr: f64,
    /// Share shared with the whole portfolio in the same draw.
    pub period_corr: f64,
    /// Relative spread of each week's total beyond the draws': every draw's total of a
    /// week is multiplied by `exp(τz − τ²/2)`, `z` standard normal per draw and week
    /// (the days of a week share it). Widens the p10–p90 only; the expectations are the
    /// draws' own. Learned with the cash model from how its weekly totals missed on the
    /// newest weeks ([`crate::models::copula::week_spread`]); 0 without.
    pub week_spread: f64,
    /// What each week's expectation is multiplied by, week 1 first (every draw's total
    /// of the week, so its p10 and p90 with it; the days of a week alike; weeks past the
    /// list as they are). Learned with the cash model from how its weekly totals
    /// compared with what arrived over the newest weeks
    /// ([`crate::models::copula::week_bias`]); empty without.
    pub week_bias: Vec<f64>,
    /// Seed.
    pub seed: u64,
    /// The ledger's bank holidays, on which no calendar's payments go out (from the
    /// data's `holidays` table, not a setting).
    #[serde(skip)]
    pub holidays: Holidays,
}

impl Default for ForecastParams {
    fn default() -> Self {
        ForecastParams {
            horizon_days: 91,
            granularity: Granularity::Week,
            sims: 100,
            customer_corr: 0.3,
            period_corr: 0.1,
            week_spread: 0.0,
            week_bias: Vec::new(),
            seed: 42,
            holidays: Holidays::default(),
        }
    }
}

/// Invalid forecast settings.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ForecastError {
    /// Horizon not positive or beyond the model's.
    #[error("horizon should be between 1 and {max} days, but is {found}")]
    Horizon {
        /// Given.
        found: i32,
        /// Model horizon.
        max: i32,
    },
    /// Horizon reaching past the model's from the day the data run to.
    #[error(
        "the data tell settlements through {through}, {days} days before the as-of date, and the cash model looks {max} days ahead from there: the horizon should be at most {} days, but is {found}", max - days
    )]
    Stale {
        /// The day the data run to.
        through: String,
        /// Days from it to the as-of date.
        days: i32,
        /// Given horizon.
        found: i32,
        /// Model horizon.
        max: i32,
    },
    /// Too few draws.
    #[error("sims should be at least 20, but is {0}")]
    Sims(usize),
    /// Correlations out of range.
    #[error("customer_corr and period_corr should be >= 0 with a sum below 1, but are {0} and {1}")]
    Corr(f64, f64),
    /// Weekly spread out of range.
    #[error("week_spread should be between 0 and 1, but is {0}")]
    Spread(f64),
    /// A week's factor out of range.
    #[error("each week_bias factor should be above 0 and at most 10, but one is {0}")]
    Bias(f64),
    /// The models failed on the inputs.
    #[error(transparent)]
    Model(#[from] GbdtError),
}

/// One open invoice's payment-day distribution and amount.
#[derive(Debug, Clone, Copy)]
pub struct OpenItem {
    /// The keys its random draws are read under.
    pub keys: DrawKeys,
    /// Currency.
    pub currency: Currency,
    /// Open amount, minor units.
    pub open_minor: i64,
    /// Past due at the as-of date.
    pub overdue: bool,
    /// Days from the as-of date to payment at the quantile levels
    /// [`crate::models::copula::KNOT_LEVELS`].
    pub knots: [f32; 9],
    /// Level scale: a draw at level `u` is read at `u · scale` of the knots, and lands
    /// after the horizon at 1 or more (see [`CashDist`]).
    pub scale: f32,
    /// The calendar the customer's payments go out on (its payment runs, or business
    /// days where the ledger settles only on them): a drawn day moves where
    /// [`PaymentRun::settle`] puts it, as `predict` places its p50.
    pub calendar: Option<PaymentRun>,
    /// The currency whose bank holidays its payment keeps off ([`Holidays::of`]): the
    /// invoice's own, also where its amount is counted in another (the backtest's
    /// base-currency view).
    pub bank: Currency,
}

/// The keys an open invoice's random draws are read under: its own, and its
/// customer's, which the customer's invoices share (the per-customer shock). Taken from
/// the ids ([`draw_keys`]), they do not depend on how the history was loaded (cut at the
/// as-of date or whole, its files in any order) nor on where the invoice falls among the
/// items, so neither does the forecast.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DrawKeys {
    /// The invoice's own.
    pub own: u32,
    /// Its customer's.
    pub customer: u32,
}

/// 64 bits of a hash folded into 32. Two of a ledger's ids may then share a key (about
/// a hundred pairs among a million invoices): the pair draws alike, which moves nothing
/// measurable.
fn fold(k: u64) -> u32 {
    (k ^ (k >> 32)) as u32
}

/// The draw keys of the invoices at positions `pos` of `h`.
pub fn draw_keys(h: &History, pos: &[usize]) -> Vec<DrawKeys> {
    // Positions come grouped by customer: its id hashed once per run of them.
    let mut last: Option<(u32, u32)> = None;
    pos.iter()
        .map(|&p| {
            let inv = &h.invoices[p];
            let customer = match last {
                Some((c, k)) if c == inv.cust => k,
                _ => {
                    let k = fold(id_key(&h.customers[inv.cust as usize]));
                    last = Some((inv.cust, k));
                    k
                }
            };
            DrawKeys { own: fold(inv.key), customer }
        })
        .collect()
}

impl OpenItem {
    /// An item from p10/p50/p90 days until payment (at least one day).
    pub fn new(keys: DrawKeys, currency: Currency, open_minor: i64, overdue: bool, q: [f64; 3]) -> Self {
        OpenItem::from_dist(keys, currency, open_minor, overdue, CashDist::from_quantiles(q))
    }

    /// An item from its distribution of days until payment.
    pub fn from_dist(keys: DrawKeys, currency: Currency, open_minor: i64, overdue: bool, d: CashDist) -> Self {
        let (knots, scale) = (d.knots.map(|k| k as f32), d.scale as f32);
        OpenItem { keys, currency, open_minor, overdue, knots, scale, calendar: None, bank: currency }
    }

    /// The item paid on the days of `calendar` (None: on any day).
    pub fn on_calendar(self, calendar: Option<PaymentRun>) -> Self {
        OpenItem { calendar, ..self }
    }

    /// The item with its days counted from `days` earlier.
    pub fn later(self, days: f32) -> Self {
        OpenItem { knots: self.knots.map(|k| k + days), ..self }
    }

    /// The item settling on the bank calendar of `bank`.
    pub fn settling_in(self, bank: Currency) -> Self {
        OpenItem { bank, ..self }
    }
}

/// One bucket of one currency (minor units; expectations rounded).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Bucket {
    /// First day (inclusive).
    pub start: String,
    /// Last day (inclusive).
    pub end: String,
    /// Mean over draws.
    pub expected_minor: i64,
    /// 10th percentile over draws.
    pub p10_minor: i64,
    /// 90th percentile over draws.
    pub p90_minor: i64,
    /// Expected from invoices not yet due at the as-of date.
    pub due_expected_minor: i64,
    /// Expected from invoices already past due.
    pub overdue_expected_minor: i64,
}

/// The forecast of one currency.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct CurrencyForecast {
    /// ISO code.
    pub currency: String,
    /// Open amount at the as-of date, minor units.
    pub open_minor: i64,
    /// Buckets in time order.
    pub buckets: Vec<Bucket>,
    /// Expected to arrive after the horizon (or never within the model's view).
    pub beyond_horizon_expected_minor: i64,
    /// Expected to have been paid after `data_through` and by the as-of date: open as
    /// far as the data tell, but not to come in any bucket (0 when the data run to the
    /// as-of date).
    pub since_data_expected_minor: i64,
}

/// A whole forecast.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Forecast {
    /// As-of date: the buckets start the day after.
    pub as_of: String,
    /// The day through which the data tell which invoices are settled: the as-of
    /// date, or with open-items listings the last listing's day on or before it
    /// ([`History::known_through`]).
    pub data_through: String,
    /// [`CurrencyForecast::since_data_expected_minor`] of every currency in the base
    /// currency (minor units of the base).
    pub since_data_expected_base_minor: i64,
    /// Settings used.
    pub params: ForecastParams,
    /// Open invoices forecast.
    pub n_invoices: usize,
    /// Per currency, by code.
    pub currencies: Vec<CurrencyForecast>,
    /// Base currency of the combined view.
    pub base_currency: String,
    /// All currencies converted to the base currency (minor units of the base).
    pub base: Vec<Bucket>,
}

/// Open invoices at `d` with the cash model's remaining-time distribution (or, without
/// one, the payment-date model conditioned on "not paid yet").
///
/// # Errors
/// [`GbdtError`] on an input width mismatch.
pub fn open_items(h: &History, d: i32, m: &ModelSet) -> Result<Vec<OpenItem>, GbdtError> {
    Ok(items_at(h, d, d, m, |_| true)?.into_iter().map(|(_, item)| item).collect())
}

/// [`open_items`] where the data may tell settlements only through an earlier day than
/// `d` ([`History::known_through`], open-items listings): the invoices issued by that
/// day as they were then, and those issued after it as at `d`, all with their days
/// counted from that day, past due at `d`. Returns the day and the items, for
/// [`simulate_since`].
///
/// # Errors
/// [`GbdtError`] on an input width mismatch.
pub fn open_items_known(h: &History, d: i32, m: &ModelSet) -> Result<(i32, Vec<OpenItem>), GbdtError> {
    let (through, items) = open_items_known_where(h, d, m, |_| true)?;
    Ok((through, items.into_iter().map(|(_, item)| item).collect()))
}

/// [`open_items_known`] for the invoices whose position in the history `keep` selects,
/// each with its customer's index in `h`, by customer.
///
/// # Errors
/// [`GbdtError`] on an input width mismatch.
pub fn open_items_known_where(
    h: &History,
    d: i32,
    m: &ModelSet,
    keep: impl Fn(usize) -> bool + Sync + Copy,
) -> Result<(i32, Vec<(usize, OpenItem)>), GbdtError> {
    let through = h.known_through(d);
    if through == d {
        return Ok((d, items_at(h, d, d, m, keep)?));
    }
    let mut items = Vec::new();
    for (at, part) in known_parts(h, d, through) {
        let later = (at - through) as f32;
        let of = items_at(h, at, d, m, move |p| part(p) && keep(p))?;
        items.extend(of.into_iter().map(|(c, i)| (c, i.later(later))));
    }
    // The parts by customer.
    items.sort_by_key(|(c, _)| *c);
    Ok((through, items))
}

/// The open invoices at `d` whose position in the history `keep` selects, each with its
/// customer's index in `h`, as known at `d`, past due counted at `as_of` (on or after
/// `d`).
fn items_at(
    h: &History,
    d: i32,
    as_of: i32,
    m: &ModelSet,
    keep: impl Fn(usize) -> bool + Sync + Copy,
) -> Result<Vec<(usize, OpenItem)>, GbdtError> {
    let (rows, k): (_, Vec<CashDist>) = match &m.cash {
        Some(cash) => {
            let rows = open_rows(h, d, InvoiceView::AtDate, keep);
            let k = predict_dists(
                cash,
                m.cash_within.as_ref(),
                &m.cash_early,
                m.cash_levels.as_ref(),
                rows.x.view(),
                f64::from(m.cash_horizon_days),
            )?;
            (rows, k)
        }
        None => {
            let rows = scoring_rows(h, d, keep);
            let q = m.payment.predict_raw(rows.x.view())?;
            let emp = m.payment.empirical.as_ref().map(|e| crate::models::predict::empirical_at(e, h, &rows, d));
            let q = (0..rows.len())
                .map(|i| {
                    let due = rows.due_date[i];
                    let c = m.payment.finish(q[i], emp.as_ref().map(|e| &e[i]), f64::from(d - due + 1));
                    CashDist::from_whole_days(c.map(|v| f64::from(due - d) + v))
                })
                .collect();
            (rows, q)
        }
    };
    let keys = draw_keys(h, &rows.pos);
    Ok((0..rows.len())
        .map(|i| {
            let (amount, cur) = rows.amount_minor[i];
            let open = amount - rows.received_minor[i].max(0);
            let item = OpenItem::from_dist(keys[i], cur, open, as_of > rows.due_date[i], k[i])
                .on_calendar(m.payment.calendar(rows.run[i]));
            (rows.cust[i], item)
        })
        .collect())
}

/// The forecast as the backtest scores it: every open invoice of a case in the base
/// currency, on its calendar, simulated with `p` by week over the case's
/// weeks and by day over the first [`DAILY_DAYS`]; in base-currency units.
///
/// # Errors
/// [`ForecastError`] for invalid draws or correlations in `p`.
pub fn forecast_case(case: &CashCase<'_>, p: &ForecastParams) -> Result<CaseForecast, ForecastError> {
    let fx = FxTable::default();
    let base = fx.base;
    let scale = 10f64.powi(base.minor_digits() as i32);
    let items: Vec<OpenItem> = (0..case.dists.len())
        .map(|i| {
            let minor = (case.amount_base[i] * scale).round() as i64;
            let later = case.origin.get(i).map_or(0, |&o| o - case.through);
            OpenItem::from_dist(case.keys[i], base, minor, case.overdue[i], case.dists[i])
                .later(later as f32)
                .on_calendar(case.calendar.get(i).copied().flatten())
                .settling_in(case.currency.get(i).copied().unwrap_or(base))
        })
        .collect();
    let run = |horizon_days: i32, granularity: Granularity| {
        let p = ForecastParams { horizon_days, granularity, holidays: case.closed.clone(), ..p.clone() }
            .with_copula(case.copula.as_ref());
        let max = if case.cap.is_finite() { case.cap as i32 } else { horizon_days };
        simulate_since(&items, case.through, case.as_of, &p, &fx, max.max(horizon_days))
    };
    let weekly = run(7 * case.weeks, Granularity::Week)?;
    let daily = run(DAILY_DAYS.min(7 * case.weeks), Granularity::Day)?;
    Ok(CaseForecast {
        weekly: weekly
            .base
            .iter()
            .map(|b| [b.expected_minor, b.p10_minor, b.p90_minor].map(|v| v as f64 / scale))
            .collect(),
        daily: daily.base.iter().map(|b| b.expected_minor as f64 / scale).collect(),
    })
}

const TABLE: usize = 4096;

/// Stream of the weekly factors of [`ForecastParams::week_spread`].
const SPREAD_STREAM: u64 = 0x7370_7264;

/// Standard normal CDF (erfc-based, |error| < 1.5e-7).
fn norm_cdf(x: f64) -> f64 {
    let z = x.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * z);
    let y = t * (0.254_829_592 + t * (-0.284_496_736 + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let erfc = y * (-z * z).exp();
    if x >= 0.0 {
        1.0 - 0.5 * erfc
    } else {
        0.5 * erfc
    }
}

struct Tables {
    /// Normal quantiles at (k + 0.5) / TABLE.
    normal: Box<[f32; TABLE]>,
    /// Φ on a grid over [-6, 6].
    phi: Box<[f32; TABLE + 1]>,
}

const PHI_RANGE: f32 = 6.0;

impl Tables {
    /// The tables, built on first use.
    fn shared() -> &'static Tables {
        static T: std::sync::OnceLock<Tables> = std::sync::OnceLock::new();
        T.get_or_init(Tables::new)
    }

    fn new() -> Self {
        let normal = Box::new(std::array::from_fn(|k| norm_inv((k as f64 + 0.5) / TABLE as f64) as f32));
        let phi = Box::new(std::array::from_fn(|k| {
            norm_cdf(-f64::from(PHI_RANGE) + 2.0 * f64::from(PHI_RANGE) * k as f64 / TABLE as f64) as f32
        }));
        Tables { normal, phi }
    }
}

/// Simulates the open items.
///
/// # Errors
/// [`ForecastError`] for invalid settings.
pub fn simulate(
    items: &[OpenItem],
    as_of: i32,
    p: &ForecastParams,
    fx: &FxTable,
    max_horizon: i32,
) -> Result<Forecast, ForecastError> {
    simulate_since(items, as_of, as_of, p, fx, max_horizon)
}

/// Simulates open items whose days count from `data_through` (on or before `as_of`),
/// the day through which the data tell which invoices are settled
/// ([`History::known_through`]); the buckets start after `as_of`. What the draws put
/// on or before `as_of` was paid after the data's day and before the forecast's: open
/// as far as the data go, but not to come (`since_data_expected_minor`). With a later
/// `data_through` than `as_of`, `as_of` is taken for it.
///
/// # Errors
/// [`ForecastError`] for invalid settings.
pub fn simulate_since(
    items: &[OpenItem],
    data_through: i32,
    as_of: i32,
    p: &ForecastParams,
    fx: &FxTable,
    max_horizon: i32,
) -> Result<Forecast, ForecastError> {
    let (origin, skip) = frame(data_through, as_of, p, max_horizon)?;
    let currencies = currencies_in(items.iter());
    let g = p.granularity.days();
    let nb = ((p.horizon_days + g - 1) / g) as usize;
    let size = p.sims * currencies.len() * nb;
    let tables = Tables::shared();
    let zp = portfolio_shocks(p, tables);
    let nc = currencies.len();
    let days = Days::new(origin, p.horizon_days + skip, skip, g, nb, &p.holidays, items.iter());
    let sum = items
        .par_chunks(BLOCK)
        .fold(
            || BlockTotals::zero(size, nc),
            |mut acc, block| {
                simulate_block(block, &currencies, &days, &zp, tables, p, &mut acc);
                acc
            },
        )
        .reduce(
            || BlockTotals::zero(size, nc),
            |mut a, b| {
                a.add(&b, 1);
                a
            },
        );
    Ok(summarize(&sum, &currencies, nb, items.len(), (origin, as_of), p, fx))
}

/// Checks the settings, and returns the day the items' days count from (`data_through`,
/// or `as_of` when that is earlier) and the days from it to `as_of`.
///
/// # Errors
/// [`ForecastError`] for invalid settings, or [`ForecastError::Stale`] when the horizon
/// from `as_of` reaches past the model's from the data's day.
fn frame(data_through: i32, as_of: i32, p: &ForecastParams, max_horizon: i32) -> Result<(i32, i32), ForecastError> {
    check(p, max_horizon)?;
    let origin = data_through.min(as_of);
    let skip = as_of - origin;
    if p.horizon_days + skip > max_horizon {
        return Err(ForecastError::Stale {
            through: date_from_days(origin).map(|x| x.to_string()).unwrap_or_default(),
            days: skip,
            found: p.horizon_days,
            max: max_horizon,
        });
    }
    Ok((origin, skip))
}

fn portfolio_shocks(p: &ForecastParams, tables: &Tables) -> Vec<f32> {
    (0..p.sims).map(|s| tables.normal[(splitmix64(p.seed ^ (s as u64 + 1)) % TABLE as u64) as usize]).collect()
}

/// Where the streams of the items' own shocks start (one per draw).
const OWN_STREAM: u64 = 0x6f77_6e5f_7368_6f63;

/// Items per block of [`simulate`].
const BLOCK: usize = 2048;

/// Per-block Monte Carlo totals, kept so that a forecast can be updated when only some
/// blocks change (see [`simulate_blocks`]).
#[derive(Debug, Clone)]
pub struct Partials {
    currencies: Vec<Currency>,
    /// Per block (shared with the partials it was carried over from).
    blocks: Vec<Arc<BlockTotals>>,
    /// The sum over blocks.
    sum: BlockTotals,
}

/// One block's (or the sum's) Monte Carlo totals.
#[derive(Debug, Clone, PartialEq)]
struct BlockTotals {
    /// Per draw, currency and bucket: (due, overdue), minor units.
    totals: Vec<[i64; 2]>,
    /// Open amount per currency.
    open: Vec<i64>,
    /// Per currency, summed over the draws: drawn on or before the as-of day (see
    /// [`simulate_since`]).
    before: Vec<i64>,
}

impl BlockTotals {
    fn zero(size: usize, nc: usize) -> Self {
        BlockTotals { totals: vec![[0; 2]; size], open: vec![0; nc], before: vec![0; nc] }
    }

    /// Adds `b` times `sign` (1 or -1).
    fn add(&mut self, b: &BlockTotals, sign: i64) {
        for (x, y) in self.totals.iter_mut().zip(&b.totals) {
            x[0] += sign * y[0];
            x[1] += sign * y[1];
        }
        for (x, y) in self.open.iter_mut().zip(&b.open) {
            *x += sign * y;
        }
        for (x, y) in self.before.iter_mut().zip(&b.before) {
            *x += sign * y;
        }
    }
}

impl ForecastParams {
    /// These settings with the timing correlations learned with the cash model, when
    /// there are any (see [`Copula`]).
    pub fn with_copula(self, c: Option<&Copula>) -> Self {
        match c {
            Some(c) => ForecastParams {
                customer_corr: c.customer_corr,
                period_corr: c.period_corr,
                week_spread: c.week_spread,
                week_bias: if c.week_bias.iter().all(|&b| b == 1.0) { Vec::new() } else { c.week_bias.to_vec() },
                ..self
            },
            None => self,
        }
    }

    /// Checks the settings for a model horizon of `max_horizon` days.
    ///
    /// # Errors
    /// [`ForecastError`] naming the setting.
    pub fn check(&self, max_horizon: i32) -> Result<(), ForecastError> {
        check(self, max_horizon)
    }
}

fn check(p: &ForecastParams, max_horizon: i32) -> Result<(), ForecastError> {
    if p.horizon_days < 1 || p.horizon_days > max_horizon {
        return Err(ForecastError::Horizon { found: p.horizon_days, max: max_horizon });
    }
    if p.sims < 20 {
        return Err(ForecastError::Sims(p.sims));
    }
    if !(p.customer_corr >= 0.0 && p.period_corr >= 0.0 && p.customer_corr + p.period_corr < 1.0) {
        return Err(ForecastError::Corr(p.customer_corr, p.period_corr));
    }
    if let Some(&b) = p.week_bias.iter().find(|&&b| !(b.is_finite() && b > 0.0 && b <= 10.0)) {
        return Err(ForecastError::Bias(b));
    }
    if !(0.0..=1.0).contains(&p.week_spread) {
        return Err(ForecastError::Spread(p.week_spread));
    }
    Ok(())
}

/// The sorted set of currencies of `items`.
pub fn currencies_in<'a>(items: impl Iterator<Item = &'a OpenItem>) -> Vec<Currency> {
    // A handful of currencies over up to millions of items: a short list, checked only
    // when the currency changes from the item before.
    let mut c: Vec<Currency> = Vec::new();
    let mut last = None;
    for i in items {
        if last != Some(i.currency) {
            last = Some(i.currency);
            if !c.contains(&i.currency) {
                c.push(i.currency);
            }
        }
    }
    c.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    c
}

/// Simulates items given in blocks: each item draws under its own keys
/// ([`DrawKeys`]), so a block's totals depend on its items only. `blocks[k]` is None for a block whose totals can be
/// taken from `previous` (the partials of an earlier run with the same settings,
/// currencies and block count); the result equals a full run over the same items.
/// `currencies` must list every currency of the items (see [`currencies_in`]).
/// `(data_through, as_of)` are as for [`simulate_since`]: the items' days count from
/// `data_through`. Returns the forecast and the partials for the next update.
///
/// # Errors
/// [`ForecastError`] for invalid settings.
#[allow(clippy::too_many_arguments)]
pub fn simulate_blocks(
    blocks: &[Option<Vec<OpenItem>>],
    currencies: &[Currency],
    n_invoices: usize,
    previous: Option<&Partials>,
    (data_through, as_of): (i32, i32),
    p: &ForecastParams,
    fx: &FxTable,
    max_horizon: i32,
) -> Result<(Forecast, Partials), ForecastError> {
    let (origin, skip) = frame(data_through, as_of, p, max_horizon)?;
    let g = p.granularity.days();
    let nb = ((p.horizon_days + g - 1) / g) as usize;
    let nc = currencies.len();
    let reuse = previous.filter(|prev| prev.fits(currencies, blocks.len()));
    let tables = Tables::shared();
    let zp = portfolio_shocks(p, tables);
    let size = p.sims * nc * nb;
    let days = Days::new(origin, p.horizon_days + skip, skip, g, nb, &p.holidays, blocks.iter().flatten().flatten());
    // The blocks to simulate (all of them without usable partials).
    let fresh: Vec<Option<BlockTotals>> = (0..blocks.len())
        .into_par_iter()
        .map(|k| match (&blocks[k], reuse) {
            (None, Some(_)) => None,
            (items, _) => {
                let mut b = BlockTotals::zero(size, nc);
                let items = items.as_deref().unwrap_or(&[]);
                simulate_block(items, currencies, &days, &zp, tables, p, &mut b);
                Some(b)
            }
        })
        .collect();
    // The sum: the previous one with the changed blocks swapped (integer sums, so the
    // same as adding every block again), or every block's.
    let mut sum = reuse.map_or_else(|| BlockTotals::zero(size, nc), |prev| prev.sum.clone());
    let mut kept = Vec::with_capacity(blocks.len());
    for (k, b) in fresh.into_iter().enumerate() {
        match (b, reuse) {
            (Some(b), prev) => {
                if let Some(prev) = prev {
                    sum.add(&prev.blocks[k], -1);
                }
                sum.add(&b, 1);
                kept.push(Arc::new(b));
            }
            (None, Some(prev)) => kept.push(prev.blocks[k].clone()),
            (None, None) => unreachable!("every block is simulated without partials"),
        }
    }
    let forecast = summarize(&sum, currencies, nb, n_invoices, (origin, as_of), p, fx);
    Ok((forecast, Partials { currencies: currencies.to_vec(), blocks: kept, sum }))
}

impl Partials {
    /// Whether these partials can be reused for `currencies` over `n_blocks` blocks.
    pub fn fits(&self, currencies: &[Currency], n_blocks: usize) -> bool {
        self.currencies == currencies && self.blocks.len() == n_blocks
    }
}

/// Adds one block's totals per draw, currency and bucket, its open amount per
/// currency and what it drew on or before the as-of day to `acc`.
fn simulate_block(
    block: &[OpenItem],
    currencies: &[Currency],
    days: &Days,
    zp: &[f32],
    tables: &Tables,
    p: &ForecastParams,
    acc: &mut BlockTotals,
) {
    let nc = currencies.len();
    let nb = days.nb as usize;
    let stride = nc * nb;
    // Slots run (currency, overdue, bucket) with nb + 2 buckets each: after the
    // horizon's, then "on or before the as-of day".
    let per = nb + 2;
    let cols = Columns::new(block, currencies, days);
    for (&slot, &amount) in cols.slot.iter().zip(&cols.amount) {
        acc.open[slot as usize / (2 * per)] += amount;
    }
    let w = Weights {
        c: p.customer_corr.sqrt() as f32,
        p: p.period_corr.sqrt() as f32,
        e: (1.0 - p.customer_corr - p.period_corr).sqrt() as f32,
    };
    let mut slots = vec![0u32; block.len()];
    // Four copies of the slots, items taking turns: consecutive items often fall in
    // the same slot, and one copy would chain their additions through memory.
    let width = nc * 2 * per;
    let mut local = vec![0i64; 4 * width];
    // Every draw over the block: the items are read column by column, once per draw.
    // A draw's random keys depend on the draw only, and each item reads them with its
    // own keys ([`DrawKeys`]), so a customer's invoices in different blocks share their
    // shock; sums are integers, so the result depends neither on threads nor on how
    // the items are ordered or split into blocks.
    for (s, &zp) in zp.iter().enumerate() {
        let ke = splitmix64(p.seed ^ splitmix64(OWN_STREAM + s as u64));
        let kc = splitmix64(p.seed ^ ((s as u64) << 32));
        let keys = Keys { e: ke as u32, c: kc as u32 };
        draw(&cols, &keys, w.p * zp, &w, tables, days, &mut slots);
        local.fill(0);
        let (l01, l23) = local.split_at_mut(2 * width);
        let ((l0, l1), (l2, l3)) = (l01.split_at_mut(width), l23.split_at_mut(width));
        let (s4, a4) = (slots.chunks_exact(4), cols.amount.chunks_exact(4));
        for (&slot, &amount) in s4.remainder().iter().zip(a4.remainder()) {
            l0[slot as usize] += amount;
        }
        for (s, a) in s4.zip(a4) {
            l0[s[0] as usize] += a[0];
            l1[s[1] as usize] += a[1];
            l2[s[2] as usize] += a[2];
            l3[s[3] as usize] += a[3];
        }
        for k in 0..width {
            l0[k] += l1[k] + l2[k] + l3[k];
        }
        let draw_acc = &mut acc.totals[s * stride..(s + 1) * stride];
        for c in 0..nc {
            for o in 0..2 {
                let from = &l0[(c * 2 + o) * per..][..per];
                for (a, &v) in draw_acc[c * nb..(c + 1) * nb].iter_mut().zip(&from[..nb]) {
                    a[o] += v;
                }
                acc.before[c] += from[nb + 1];
            }
        }
    }
}

/// Drawn days after the items' origin (the as-of date, or the day the data run to, see
/// [`simulate_since`]) into buckets, one row per calendar of the items: row 0 for items
/// paid on any day, where day d in 1..=skip (on or before the as-of date) is in bucket
/// nb + 1, day d in skip + 1..=horizon in bucket (d - skip - 1) / width and day
/// horizon + 1 (after the horizon) in bucket nb; and a row per
/// calendar and bank calendar of the items' currencies, where a drawn day first moves
/// where [`PaymentRun::settle`] puts it (a run's nearest run day, the next business
/// day after a weekend or holiday), never before the day after the origin.
struct Days {
    /// Days from the origin to the horizon's end.
    horizon: u32,
    /// Days from the origin to the as-of date.
    skip: u32,
    width: u32,
    nb: u32,
    /// Rows of days 0..=horizon + 1 (day 0 is never drawn): the bucket of day d in the
    /// row starting at r is at r + d.
    map: Vec<u32>,
    /// The first entry of each calendar's row, at [`Holidays::calendar_index`] ×
    /// [`N_CALENDARS`] + [`PaymentRun::slot`]; 0 for one no item follows.
    row_at: Vec<u32>,
    /// The currencies with bank holidays of their own ([`Holidays::currencies`]): row
    /// block `i + 1` is the `i`-th's, block 0 every other currency's.
    banks: Vec<Currency>,
}

impl Days {
    #[allow(clippy::too_many_arguments)]
    fn new<'a>(
        as_of: i32,
        horizon: i32,
        skip: i32,
        width: i32,
        nb: usize,
        hol: &Holidays,
        items: impl Iterator<Item = &'a OpenItem>,
    ) -> Self {
        let banks = hol.currencies().count() + 1;
        let mut present = vec![false; banks * N_CALENDARS];
        for i in items {
            if let Some(r) = i.calendar {
                present[hol.calendar_index(i.bank) * N_CALENDARS + r.slot()] = true;
            }
        }
        let bucket = |d: i32| match d {
            _ if d > horizon => nb as u32,
            _ if d <= skip => nb as u32 + 1,
            _ => ((d - skip - 1) / width) as u32,
        };
        let mut map: Vec<u32> = (0..=horizon + 1).map(|d| bucket(d.max(1))).collect();
        let mut row_at = vec![0u32; banks * N_CALENDARS];
        for b in 0..banks {
            for r in PaymentRun::all().chain([PaymentRun::BusinessDays]) {
                let at = b * N_CALENDARS + r.slot();
                if !present[at] {
                    continue;
                }
                row_at[at] = map.len() as u32;
                map.push(0);
                map.extend(run_days_placed(r, as_of, horizon, hol.calendar(b)).into_iter().map(bucket));
                map.push(nb as u32);
            }
        }
        Days {
            horizon: horizon as u32,
            skip: skip as u32,
            width: width as u32,
            nb: nb as u32,
            map,
            row_at,
            banks: hol.currencies().collect(),
        }
    }

    /// First entry of the row for an item paid on `run`, on the bank calendar of `bank`.
    fn row(&self, run: Option<PaymentRun>, bank: Currency) -> u32 {
        let b = self.banks.iter().position(|c| *c == bank).map_or(0, |i| i + 1);
        run.map_or(0, |r| self.row_at[b * N_CALENDARS + r.slot()])
    }
}

/// For days 1..=horizon after `as_of`, the day (after `as_of`) a payment drawn on it
/// goes out on under `run`: [`PaymentRun::settle`] from the day after `as_of`, from one
/// sweep over the run days around the horizon (the ledger closed on `hol`).
fn run_days_placed(run: PaymentRun, as_of: i32, horizon: i32, hol: &Holidays) -> Vec<i32> {
    // Every run day in reach: no calendar has a gap of more than 40 days.
    const REACH: i32 = 45;
    let runs: Vec<i32> = (as_of + 1 - REACH..=as_of + horizon + REACH).filter(|&d| run.is_run_day(d, hol)).collect();
    let first = runs.iter().copied().find(|&d| d > as_of).unwrap_or(as_of + 1);
    let mut k = 0; // runs[k] is the first run day on or after the day
    (as_of + 1..=as_of + horizon)
        .map(|day| {
            while k < runs.len() && runs[k] < day {
                k += 1;
            }
            let hi = runs.get(k).copied();
            let lo = if runs.get(k) == Some(&day) { Some(day) } else { k.checked_sub(1).map(|j| runs[j]) };
            let near = match (lo, hi) {
                (_, Some(hi)) if run == PaymentRun::BusinessDays => hi,
                (Some(lo), Some(hi)) => {
                    if hi - day <= day - lo {
                        hi
                    } else {
                        lo
                    }
                }
                (Some(d), None) | (None, Some(d)) => d,
                (None, None) => day,
            };
            near.max(first) - as_of
        })
        .collect()
}

/// Copula weights: customer, period and own shocks.
struct Weights {
    c: f32,
    p: f32,
    e: f32,
}

/// One draw's random keys: the items' own shocks and the customers' shocks.
struct Keys {
    e: u32,
    c: u32,
}

/// One block's items column by column, for the draw loop.
struct Columns {
    /// Item k's days at level `KNOT_LEVELS[j]` at `knots[9 * k + j]`.
    knots: Vec<f32>,
    scale: Vec<f32>,
    /// Each item's own draw key and its customer's ([`DrawKeys`]).
    own: Vec<u32>,
    cust: Vec<u32>,
    /// First slot of the item's (currency, overdue) group.
    slot: Vec<u32>,
    /// First entry of the item's calendar row in [`Days::map`].
    row: Vec<u32>,
    /// Whether any item has a calendar (a row other than the first).
    any_calendar: bool,
    amount: Vec<i64>,
}

impl Columns {
    fn new(block: &[OpenItem], currencies: &[Currency], days: &Days) -> Self {
        let nb = days.nb as usize;
        Columns {
            knots: block.iter().flat_map(|i| i.knots).collect(),
            scale: block.iter().map(|i| i.scale).collect(),
            own: block.iter().map(|i| i.keys.own).collect(),
            cust: block.iter().map(|i| i.keys.customer).collect(),
            slot: block
                .iter()
                .map(|i| {
                    let c = currencies.iter().position(|x| *x == i.currency).unwrap_or(0);
                    ((c * 2 + usize::from(i.overdue)) * (nb + 2)) as u32
                })
                .collect(),
            row: block.iter().map(|i| days.row(i.calendar, i.bank)).collect(),
            any_calendar: block.iter().any(|i| i.calendar.is_some()),
            amount: block.iter().map(|i| i.open_minor).collect(),
        }
    }
}

/// 32 random bits for `x` under `key`: a 32-bit integer hash (a bijection with low
/// bias, "lowbias32" by C. Wellons).
#[inline(always)]
fn hash32(x: u32, key: u32) -> u32 {
    let mut x = x ^ key;
    x ^= x >> 16;
    x = x.wrapping_mul(0x7feb_352d);
    x ^= x >> 15;
    x = x.wrapping_mul(0x846c_a68b);
    x ^ (x >> 16)
}

/// The knots' levels and the inverse widths of the stretches between them (the last
/// level, 1, starts no stretch).
const P: [f32; 8] = {
    let mut p = [0.0f32; 8];
    let mut i = 0;
    while i < 8 {
        p[i] = crate::models::copula::KNOT_LEVELS[i] as f32;
        i += 1;
    }
    p
};
const INV: [f32; 8] = {
    let mut w = [0.0f32; 8];
    let mut i = 0;
    while i < 8 {
        w[i] = 1.0 / (crate::models::copula::KNOT_LEVELS[i + 1] as f32 - P[i]);
        i += 1;
    }
    w
};
const JITTER_UNIT: f32 = 1.0 / (1u32 << 20) as f32;

/// One draw over a block: the slot each item's amount falls into. Where the CPU has
/// AVX2, eight items go at a time (the table lookups as gathers); elsewhere one at a
/// time. Both give the same slots, bit for bit: the same operations in the same order,
/// no fused multiply-adds (a test checks it).
fn draw(cols: &Columns, keys: &Keys, zp: f32, w: &Weights, t: &Tables, days: &Days, slots: &mut [u32]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, checked just above.
        unsafe { draw_avx2(cols, keys, zp, w, t, days, slots) };
        return;
    }
    draw_scalar(cols, keys, zp, w, t, days, slots, 0);
}

/// [`draw`] one item at a time, from item `from` on.
#[allow(clippy::too_many_arguments)]
fn draw_scalar(
    cols: &Columns,
    keys: &Keys,
    zp: f32,
    w: &Weights,
    t: &Tables,
    days: &Days,
    slots: &mut [u32],
    from: usize,
) {
    let n = slots.len();
    let (knots, cust, first) = (&cols.knots[..9 * n], &cols.cust[..n], &cols.slot[..n]);
    let (level_scale, row, own) = (&cols.scale[..n], &cols.row[..n], &cols.own[..n]);
    let (normal, phi) = (&*t.normal, &*t.phi);
    let scale = TABLE as f32 / (2.0 * PHI_RANGE);
    for k in from..n {
        let h = hash32(own[k], keys.e);
        let e = normal[(h >> 20) as usize];
        let zc = normal[(hash32(cust[k], keys.c) >> 20) as usize];
        // Spread within the table cell to avoid a lattice of 4096 levels.
        let jitter = ((h & 0xf_ffff) as f32 * JITTER_UNIT - 0.5) * 0.0005;
        let x = w.c * zc + zp + w.e * e;
        let i = ((x + PHI_RANGE) * scale).clamp(0.0, TABLE as f32) as usize;
        let u = (phi[i.min(TABLE)] + jitter).clamp(0.0, 0.999_999) * level_scale[k];
        // Past its share within the horizon: after it.
        let after = u >= 1.0;
        let u = u.min(0.999_999);
        // The stretch between knots that holds u.
        let seg = P[1..].iter().map(|&p| usize::from(u >= p)).sum::<usize>();
        let (lo, hi) = (knots[9 * k + seg], knots[9 * k + seg + 1]);
        let x = (lo + (hi - lo) * (u - P[seg]) * INV[seg]).max(1.0);
        // ceil without a libm call (the baseline x86-64 target has no roundss); days past
        // i32::MAX land after the horizon, as in the AVX2 path.
        let d = x as i32;
        let day = (d as u32).wrapping_add(u32::from((d as f32) < x));
        let day = if after { days.horizon + 1 } else { day.min(days.horizon + 1) };
        slots[k] = first[k] + days.map[(row[k] + day) as usize];
    }
}

/// [`draw`] eight items at a time with AVX2 (the rest one at a time).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn draw_avx2(cols: &Columns, keys: &Keys, zp: f32, w: &Weights, t: &Tables, days: &Days, slots: &mut [u32]) {
    use std::arch::x86_64::*;
    #[target_feature(enable = "avx2")]
    #[inline]
    fn hash(x: __m256i, key: u32) -> __m256i {
        let mut x = _mm256_xor_si256(x, _mm256_set1_epi32(key as i32));
        x = _mm256_xor_si256(x, _mm256_srli_epi32::<16>(x));
        x = _mm256_mullo_epi32(x, _mm256_set1_epi32(0x7feb_352d));
        x = _mm256_xor_si256(x, _mm256_srli_epi32::<15>(x));
        x = _mm256_mullo_epi32(x, _mm256_set1_epi32(0x846c_a68b_u32 as i32));
        _mm256_xor_si256(x, _mm256_srli_epi32::<16>(x))
    }
    let n = slots.len();
    let whole = n - n % 8;
    let (knots, cust, first) = (&cols.knots[..9 * n], &cols.cust[..n], &cols.slot[..n]);
    let (level_scale, row, own) = (&cols.scale[..n], &cols.row[..n], &cols.own[..n]);
    let f = _mm256_set1_ps;
    let i32s = _mm256_set1_epi32;
    let (wc, we, zpv) = (f(w.c), f(w.e), f(zp));
    let scale = f(TABLE as f32 / (2.0 * PHI_RANGE));
    let nine_lanes = _mm256_setr_epi32(0, 9, 18, 27, 36, 45, 54, 63);
    // SAFETY: reads 8 elements from arrays of 8.
    let (levels, inv) = unsafe { (_mm256_loadu_ps(P.as_ptr()), _mm256_loadu_ps(INV.as_ptr())) };
    let (horizon, after_slot) = (i32s(days.horizon as i32), i32s(days.nb as i32));
    let last_day = i32s(days.horizon as i32 + 1);
    let inv_width = f(1.0 / days.width as f32);
    let map = days.map.as_ptr().cast::<i32>();
    for b in (0..whole).step_by(8) {
        // SAFETY: loads and stores touch 8 elements at b < whole <= n of slices of length
        // n; gather indices are < TABLE (h >> 20) and <= TABLE (clamped) in the tables,
        // 9 k + seg (+ 1) with seg <= 7 for the 8 items' k < n in `knots`, and a row's
        // start plus a day in 1..=horizon + 1 in `days.map`.
        unsafe {
            let h = hash(_mm256_loadu_si256(own.as_ptr().add(b).cast()), keys.e);
            let hc = hash(_mm256_loadu_si256(cust.as_ptr().add(b).cast()), keys.c);
            let e = _mm256_i32gather_ps::<4>(t.normal.as_ptr(), _mm256_srli_epi32::<20>(h));
            let zc = _mm256_i32gather_ps::<4>(t.normal.as_ptr(), _mm256_srli_epi32::<20>(hc));
            let hl = _mm256_cvtepi32_ps(_mm256_and_si256(h, i32s(0xf_ffff)));
            let jitter = _mm256_mul_ps(_mm256_sub_ps(_mm256_mul_ps(hl, f(JITTER_UNIT)), f(0.5)), f(0.0005));
            let x = _mm256_add_ps(_mm256_add_ps(_mm256_mul_ps(wc, zc), zpv), _mm256_mul_ps(we, e));
            let i = _mm256_mul_ps(_mm256_add_ps(x, f(PHI_RANGE)), scale);
            let i = _mm256_cvttps_epi32(_mm256_max_ps(_mm256_min_ps(i, f(TABLE as f32)), f(0.0)));
            let ph = _mm256_i32gather_ps::<4>(t.phi.as_ptr(), i);
            let u = _mm256_max_ps(_mm256_min_ps(_mm256_add_ps(ph, jitter), f(0.999_999)), f(0.0));
            let u = _mm256_mul_ps(u, _mm256_loadu_ps(level_scale.as_ptr().add(b)));
            // Past its share within the horizon: after it (all ones where true).
            let after = _mm256_castps_si256(_mm256_cmp_ps::<_CMP_GE_OQ>(u, f(1.0)));
            let u = _mm256_min_ps(u, f(0.999_999));
            // seg = how many of the levels 1..8 u has reached (a true compare is -1).
            let mut seg = _mm256_setzero_si256();
            for &pj in &P[1..] {
                seg = _mm256_sub_epi32(seg, _mm256_castps_si256(_mm256_cmp_ps::<_CMP_GE_OQ>(u, f(pj))));
            }
            let at = _mm256_add_epi32(_mm256_add_epi32(i32s(9 * b as i32), nine_lanes), seg);
            let lo = _mm256_i32gather_ps::<4>(knots.as_ptr(), at);
            let hi = _mm256_i32gather_ps::<4>(knots.as_ptr().add(1), at);
            let pl = _mm256_permutevar8x32_ps(levels, seg);
            let iv = _mm256_permutevar8x32_ps(inv, seg);
            let d = _mm256_mul_ps(_mm256_mul_ps(_mm256_sub_ps(hi, lo), _mm256_sub_ps(u, pl)), iv);
            let x = _mm256_max_ps(_mm256_add_ps(lo, d), f(1.0));
            let d = _mm256_cvttps_epi32(x);
            let up = _mm256_castps_si256(_mm256_cmp_ps::<_CMP_LT_OQ>(_mm256_cvtepi32_ps(d), x));
            let day = _mm256_min_epu32(_mm256_sub_epi32(d, up), last_day);
            let day = _mm256_blendv_epi8(day, last_day, after);
            // (day - 1) / width, exact in f32 for these small days; nb after the horizon
            // (the first row of the map, computed: a gather costs more).
            let q = _mm256_cvtepi32_ps(_mm256_sub_epi32(day, i32s(1)));
            let q = _mm256_cvttps_epi32(_mm256_mul_ps(_mm256_add_ps(q, f(0.5)), inv_width));
            let mut bucket = _mm256_blendv_epi8(q, after_slot, _mm256_cmpgt_epi32(day, horizon));
            // Items with a calendar: its row; every item where the days before the
            // as-of date have a bucket of their own (the computed one assumes none).
            if cols.any_calendar || days.skip > 0 {
                let r = _mm256_loadu_si256(row.as_ptr().add(b).cast());
                let on_runs =
                    if days.skip > 0 { i32s(-1) } else { _mm256_xor_si256(_mm256_cmpeq_epi32(r, i32s(0)), i32s(-1)) };
                bucket = _mm256_mask_i32gather_epi32::<4>(bucket, map, _mm256_add_epi32(r, day), on_runs);
            }
            let slot = _mm256_add_epi32(_mm256_loadu_si256(first.as_ptr().add(b).cast()), bucket);
            _mm256_storeu_si256(slots.as_mut_ptr().add(b).cast(), slot);
        }
    }
    draw_scalar(cols, keys, zp, w, t, days, slots, whole);
}

/// The forecast from summed totals.
#[allow(clippy::too_many_arguments)]
fn summarize(
    sum: &BlockTotals,
    currencies: &[Currency],
    nb: usize,
    n_invoices: usize,
    (data_through, as_of): (i32, i32),
    p: &ForecastParams,
    fx: &FxTable,
) -> Forecast {
    let (totals, open) = (&sum.totals, &sum.open);
    let nc = currencies.len();
    let stride = nc * nb;
    let g = p.granularity.days();
    // Base-currency minor units per minor unit of each currency.
    let base_scale: Vec<f64> = currencies
        .iter()
        .map(|&c| {
            let major = fx.to_base(10_i64.pow(c.minor_digits()), c);
            major * 10f64.powi(fx.base.minor_digits() as i32) / 10f64.powi(c.minor_digits() as i32)
        })
        .collect();
    let draws: Vec<&[[i64; 2]]> = if stride == 0 { Vec::new() } else { totals.chunks(stride).collect() };
    let sims = p.sims as f64;
    // Each draw's factor per bucket (see `ForecastParams::week_spread`): the days of a
    // week share their week's.
    let tau = p.week_spread;
    // The week of the horizon (0 first) a bucket falls in.
    let week_of = |b: usize| (b as i32 * g / 7) as usize;
    // Each bucket's factor of its week's expectation (see `ForecastParams::week_bias`).
    let bias_of = |b: usize| p.week_bias.get(week_of(b)).copied().unwrap_or(1.0);
    let normal = &Tables::shared().normal;
    let factors: Vec<Vec<f64>> = (0..nb)
        .map(|b| {
            let week = week_of(b) as u64;
            let bias = bias_of(b);
            (0..draws.len())
                .map(|s| {
                    if tau == 0.0 {
                        return bias;
                    }
                    let key = splitmix64(p.seed ^ SPREAD_STREAM ^ ((s as u64) << 32) ^ week);
                    let z = f64::from(normal[(key % TABLE as u64) as usize]);
                    bias * (tau * z - 0.5 * tau * tau).exp()
                })
                .collect()
        })
        .collect();
    let bucket_dates = |b: usize| {
        let start = as_of + 1 + b as i32 * g;
        let end = (start + g - 1).min(as_of + p.horizon_days);
        (
            date_from_days(start).map(|x| x.to_string()).unwrap_or_default(),
            date_from_days(end).map(|x| x.to_string()).unwrap_or_default(),
        )
    };
    let summarise = |vals: &mut Vec<f64>, due: f64, over: f64, b: usize| {
        vals.sort_by(f64::total_cmp);
        let (start, end) = bucket_dates(b);
        Bucket {
            start,
            end,
            expected_minor: ((due + over) / sims).round() as i64,
            p10_minor: crate::features::stats::quantile_sorted(vals, 0.1).round() as i64,
            p90_minor: crate::features::stats::quantile_sorted(vals, 0.9).round() as i64,
            due_expected_minor: (due / sims).round() as i64,
            overdue_expected_minor: (over / sims).round() as i64,
        }
    };
    let mut out_cur = Vec::new();
    for (ci, c) in currencies.iter().enumerate() {
        let open = open[ci];
        let since_data = (sum.before[ci] as f64 / sims).round() as i64;
        let mut buckets = Vec::with_capacity(nb);
        let mut expected_total = 0i64;
        for b in 0..nb {
            let mut vals: Vec<f64> = draws
                .iter()
                .zip(&factors[b])
                .map(|(d, f)| (d[ci * nb + b][0] + d[ci * nb + b][1]) as f64 * f)
                .collect();
            let due: f64 = draws.iter().map(|d| d[ci * nb + b][0] as f64).sum::<f64>() * bias_of(b);
            let over: f64 = draws.iter().map(|d| d[ci * nb + b][1] as f64).sum::<f64>() * bias_of(b);
            let bk = summarise(&mut vals, due, over, b);
            expected_total += bk.expected_minor;
            buckets.push(bk);
        }
        out_cur.push(CurrencyForecast {
            currency: c.as_str().to_string(),
            open_minor: open,
            buckets,
            // Weeks scaled up may expect more than is open: nothing beyond then.
            beyond_horizon_expected_minor: (open - since_data - expected_total).max(0),
            since_data_expected_minor: since_data,
        });
    }
    let mut base = Vec::with_capacity(nb);
    for b in 0..nb {
        let conv = |d: &&[[i64; 2]], k: usize| (0..nc).map(|ci| d[ci * nb + b][k] as f64 * base_scale[ci]).sum::<f64>();
        let mut vals: Vec<f64> = draws.iter().zip(&factors[b]).map(|(d, f)| (conv(d, 0) + conv(d, 1)) * f).collect();
        let due: f64 = draws.iter().map(|d| conv(d, 0)).sum::<f64>() * bias_of(b);
        let over: f64 = draws.iter().map(|d| conv(d, 1)).sum::<f64>() * bias_of(b);
        base.push(summarise(&mut vals, due, over, b));
    }
    let since_data_base = (0..nc).map(|ci| sum.before[ci] as f64 * base_scale[ci]).sum::<f64>() / sims;
    Forecast {
        as_of: date_from_days(as_of).map(|x| x.to_string()).unwrap_or_default(),
        data_through: date_from_days(data_through).map(|x| x.to_string()).unwrap_or_default(),
        since_data_expected_base_minor: since_data_base.round() as i64,
        params: p.clone(),
        n_invoices,
        currencies: out_cur,
        base_currency: fx.base.as_str().to_string(),
        base,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usd() -> Currency {
        Currency::parse("USD").unwrap()
    }

    /// Item `k`'s draw keys, of customer `c`.
    pub(super) fn keys(k: u32, c: u32) -> DrawKeys {
        DrawKeys { own: k, customer: c }
    }

    /// A weekly spread widens every bucket's p10–p90 (the days of a week by one factor
    /// per draw) and leaves the expectations as the draws give them.
    #[test]
    fn a_week_spread_widens_the_intervals_and_keeps_the_expectations() {
        let items: Vec<OpenItem> = (0..2_000)
            .map(|k| {
                OpenItem::new(keys(k, k / 3), usd(), 10_000 + i64::from(k % 17) * 100, k % 5 == 0, [3.0, 12.0, 30.0])
            })
            .collect();
        let fx = FxTable::default();
        for g in [Granularity::Week, Granularity::Day] {
            // Independent draws, whose own spread is small beside the weekly one.
            let p = ForecastParams {
                horizon_days: 28,
                granularity: g,
                customer_corr: 0.0,
                period_corr: 0.0,
                ..Default::default()
            };
            let plain = simulate(&items, 0, &p, &fx, 91).unwrap();
            let wide = simulate(&items, 0, &ForecastParams { week_spread: 0.3, ..p.clone() }, &fx, 91).unwrap();
            for (a, b) in plain
                .base
                .iter()
                .zip(&wide.base)
                .chain(plain.currencies[0].buckets.iter().zip(&wide.currencies[0].buckets))
            {
                assert_eq!(a.expected_minor, b.expected_minor);
                assert_eq!(
                    (a.due_expected_minor, a.overdue_expected_minor),
                    (b.due_expected_minor, b.overdue_expected_minor)
                );
                let (wa, wb) = (a.p90_minor - a.p10_minor, b.p90_minor - b.p10_minor);
                if a.expected_minor > 0 {
                    assert!(wb > wa && wb as f64 > 0.4 * a.expected_minor as f64, "{g:?}: {a:?} vs {b:?}");
                }
            }
        }
        let bad = ForecastParams { week_spread: 1.5, ..Default::default() };
        assert_eq!(simulate(&items, 0, &bad, &fx, 91).unwrap_err(), ForecastError::Spread(1.5));
    }

    #[test]
    fn updating_the_changed_blocks_gives_the_full_run() {
        let eur = Currency::parse("EUR").unwrap();
        let mk = |k: u32, shift: f64| {
            let cur = if k.is_multiple_of(3) { eur } else { usd() };
            OpenItem::new(
                keys(k, k / 4),
                cur,
                1_000 + i64::from(k),
                k.is_multiple_of(5),
                [2.0 + shift, 9.0 + shift, 20.0 + shift],
            )
        };
        let items: Vec<OpenItem> = (0..3000).map(|k| mk(k, 0.0)).collect();
        let blocks = |items: &[OpenItem]| -> Vec<Option<Vec<OpenItem>>> {
            items.chunks(700).map(|b| Some(b.to_vec())).collect()
        };
        let fx = FxTable::default();
        let p = ForecastParams { horizon_days: 42, ..Default::default() };
        let cur = currencies_in(items.iter());
        let (full, partials) =
            simulate_blocks(&blocks(&items), &cur, items.len(), None, (19_000, 19_000), &p, &fx, 91).unwrap();
        assert_eq!(full.currencies.len(), 2);
        // Change block 2 only.
        let mut changed = items.clone();
        for (k, it) in changed.iter_mut().enumerate().skip(1400).take(700) {
            *it = mk(k as u32, 10.0);
        }
        let (expected, _) =
            simulate_blocks(&blocks(&changed), &cur, changed.len(), None, (19_000, 19_000), &p, &fx, 91).unwrap();
        let mut only: Vec<Option<Vec<OpenItem>>> = vec![None; 5];
        only[2] = Some(changed[1400..2100].to_vec());
        let (updated, partials) =
            simulate_blocks(&only, &cur, changed.len(), Some(&partials), (19_000, 19_000), &p, &fx, 91).unwrap();
        assert_eq!(updated, expected);
        assert_ne!(updated, full, "the change moved payments later");
        // A second update on top of the first: block 2 back as it was, block 4 emptied.
        let mut back: Vec<Option<Vec<OpenItem>>> = vec![None; 5];
        back[2] = Some(items[1400..2100].to_vec());
        back[4] = Some(Vec::new());
        let mut last = items.clone();
        last.truncate(2800);
        let (twice, _) =
            simulate_blocks(&back, &cur, last.len(), Some(&partials), (19_000, 19_000), &p, &fx, 91).unwrap();
        let (fresh, _) =
            simulate_blocks(&blocks(&last), &cur, last.len(), None, (19_000, 19_000), &p, &fx, 91).unwrap();
        assert_eq!(twice, fresh);
    }

    /// Each item draws under its own keys: the same items in another order, or split
    /// into other blocks, give the same forecast to the unit; other keys give another.
    #[test]
    fn the_forecast_depends_on_the_items_not_on_their_order() {
        let items: Vec<OpenItem> = (0..5_000)
            .map(|k| {
                OpenItem::new(keys(k * 7 + 1, k / 4), usd(), 1_000 + i64::from(k % 13), k % 3 == 0, [2.0, 9.0, 25.0])
            })
            .collect();
        let fx = FxTable::default();
        let p = ForecastParams { horizon_days: 42, ..Default::default() };
        let base = simulate(&items, 19_000, &p, &fx, 91).unwrap();
        let mut shuffled = items.clone();
        shuffled.reverse();
        shuffled.rotate_left(1_234);
        assert_eq!(simulate(&shuffled, 19_000, &p, &fx, 91).unwrap(), base);
        let blocks: Vec<Option<Vec<OpenItem>>> = shuffled.chunks(333).map(|b| Some(b.to_vec())).collect();
        let cur = currencies_in(items.iter());
        let (split, _) = simulate_blocks(&blocks, &cur, items.len(), None, (19_000, 19_000), &p, &fx, 91).unwrap();
        assert_eq!(split, base);
        let rekeyed: Vec<OpenItem> =
            items.iter().map(|i| OpenItem { keys: keys(i.keys.own ^ 0x5555, i.keys.customer), ..*i }).collect();
        assert_ne!(simulate(&rekeyed, 19_000, &p, &fx, 91).unwrap(), base);
    }

    #[test]
    fn normal_helpers_are_accurate() {
        assert!((norm_cdf(1.959_964) - 0.975).abs() < 1e-6);
        assert!((norm_inv(0.975) - 1.959_964).abs() < 1e-5);
        assert!((norm_inv(0.001) + 3.090_232).abs() < 1e-5);
    }

    #[test]
    fn expected_amounts_follow_the_distributions_and_intervals_widen_with_correlation() {
        // 400 customers × 5 invoices of 100.00, paid in 3..=17 days (p50 10).
        let items: Vec<OpenItem> =
            (0..2000).map(|k| OpenItem::new(keys(k, k / 5), usd(), 10_000, k % 4 == 0, [4.0, 10.0, 16.0])).collect();
        let fx = FxTable::default();
        let p = ForecastParams { horizon_days: 28, ..Default::default() };
        let f = simulate(&items, 19_000, &p, &fx, 91).unwrap();
        let c = &f.currencies[0];
        assert_eq!(c.open_minor, 20_000_000);
        let total: i64 = c.buckets.iter().map(|b| b.expected_minor).sum();
        assert!((total - 20_000_000).abs() < 20_000, "all paid within 28 days: {total}");
        // Week 2 (days 8-14) holds the median: about 45% of the amount.
        let w2 = c.buckets[1].expected_minor as f64 / 20_000_000.0;
        assert!(w2 > 0.38 && w2 < 0.55, "{w2}");
        for b in &c.buckets {
            assert!(b.p10_minor <= b.expected_minor + 1 && b.expected_minor <= b.p90_minor + 1, "{b:?}");
            assert_eq!(b.due_expected_minor + b.overdue_expected_minor - b.expected_minor, 0, "{b:?}");
        }
        assert!(c.buckets[1].overdue_expected_minor * 3 < c.buckets[1].due_expected_minor * 2);
        assert_eq!(f.base[1].expected_minor, c.buckets[1].expected_minor, "USD base");
        let width = |f: &Forecast| f.currencies[0].buckets[1].p90_minor - f.currencies[0].buckets[1].p10_minor;
        let indep =
            simulate(&items, 19_000, &ForecastParams { customer_corr: 0.0, period_corr: 0.0, ..p.clone() }, &fx, 91)
                .unwrap();
        assert!(width(&f) > 2 * width(&indep), "{} vs {}", width(&f), width(&indep));
        assert_eq!(f, simulate(&items, 19_000, &p, &fx, 91).unwrap(), "seeded");
    }

    #[test]
    fn settings_are_checked() {
        let fx = FxTable::default();
        let e = simulate(&[], 0, &ForecastParams { horizon_days: 200, ..Default::default() }, &fx, 91).unwrap_err();
        assert_eq!(e, ForecastError::Horizon { found: 200, max: 91 });
        let e = simulate(&[], 0, &ForecastParams { sims: 5, ..Default::default() }, &fx, 91).unwrap_err();
        assert_eq!(e, ForecastError::Sims(5));
        // Data that run to 10 days before the as-of date leave 81 of a 91-day model.
        let p = |h: i32| ForecastParams { horizon_days: h, ..Default::default() };
        let e = simulate_since(&[], 20_000, 20_010, &p(84), &fx, 91).unwrap_err();
        assert_eq!(e, ForecastError::Stale { through: "2024-10-04".into(), days: 10, found: 84, max: 91 });
        assert!(e.to_string().contains("at most 81 days"), "{e}");
        assert!(simulate_since(&[], 20_000, 20_010, &p(81), &fx, 91).is_ok());
    }

    #[test]
    fn learned_correlations_replace_the_defaults_and_set_the_width() {
        let c = Copula {
            customer_corr: 0.0,
            period_corr: 0.0,
            rows: 500,
            snapshots: 4,
            week_spread: 0.0,
            week_bias: [1.0; crate::models::copula::BIAS_WEEKS],
        };
        let p = ForecastParams::default().with_copula(Some(&c));
        assert_eq!((p.customer_corr, p.period_corr, p.sims), (0.0, 0.0, 100));
        assert_eq!(ForecastParams::default().with_copula(None), ForecastParams::default());
        // Two customers with 40 invoices each: the week's interval is wider when they
        // move together.
        let days: Vec<CashDist> = (0..80).map(|_| CashDist::from_quantiles([3.0, 7.0, 12.0])).collect();
        let cust: Vec<DrawKeys> = (0..80).map(|i| keys(i, i % 2)).collect();
        let (amounts, overdue) = (vec![100.0; 80], vec![false; 80]);
        let width = |copula| {
            let case = CashCase {
                as_of: 0,
                through: 0,
                origin: &[],
                weeks: 2,
                keys: &cust,
                amount_base: &amounts,
                overdue: &overdue,
                dists: &days,
                cap: 91.0,
                copula,
                calendar: &[],
                closed: &crate::domain::NO_HOLIDAYS,
                currency: &[],
            };
            let w = forecast_case(&case, &ForecastParams::default()).unwrap().weekly;
            w[0][2] - w[0][1]
        };
        let tied = Copula { customer_corr: 0.6, period_corr: 0.2, ..c };
        assert!(width(Some(tied)) > 2.0 * width(Some(c)), "{} vs {}", width(Some(tied)), width(Some(c)));
    }

    #[test]
    fn the_within_horizon_probability_sets_how_much_is_forecast_and_not_when() {
        // 400 invoices of 100 due in about ten days; the classifier says a quarter of
        // them will be paid within the cash model's horizon.
        let n = 400;
        let cust: Vec<DrawKeys> = (0..n as u32).map(|i| keys(i, i)).collect();
        let (amounts, overdue) = (vec![100.0; n], vec![true; n]);
        let run = |within| {
            let k = vec![CashDist::new([9.0, 10.0, 12.0], 91.0, within, None); n];
            let case = CashCase {
                as_of: 0,
                through: 0,
                origin: &[],
                weeks: 13,
                keys: &cust,
                amount_base: &amounts,
                overdue: &overdue,
                dists: &k,
                cap: 91.0,
                copula: None,
                calendar: &[],
                closed: &crate::domain::NO_HOLIDAYS,
                currency: &[],
            };
            forecast_case(&case, &ForecastParams::default()).unwrap().weekly
        };
        let (all, quarter) = (run(None), run(Some(0.25)));
        let total = |w: &[[f64; 3]]| w.iter().map(|b| b[0]).sum::<f64>();
        assert!((total(&all) - 40_000.0).abs() < 1.0, "{all:?}");
        assert!((total(&quarter) - 10_000.0).abs() < 800.0, "{quarter:?}");
        // The same weeks, a quarter of the amount in each.
        for (a, q) in all.iter().zip(&quarter) {
            assert!((q[0] - a[0] / 4.0).abs() <= 0.05 * a[0] + 200.0, "{all:?} {quarter:?}");
        }
    }

    #[test]
    fn a_backtest_case_is_forecast_in_the_base_currency_and_beyond_the_cap_is_left_out() {
        let days =
            [[2.0, 3.0, 4.0], [10.0, 11.0, 13.0], [200.0, 300.0, 400.0]].map(|q| CashDist::new(q, 91.0, None, None));
        let case = CashCase {
            as_of: 0,
            through: 0,
            origin: &[],
            weeks: 4,
            keys: &[keys(0, 0), keys(1, 1), keys(2, 2)],
            amount_base: &[100.0, 250.5, 1_000.0],
            overdue: &[false, true, false],
            dists: &days,
            cap: 91.0,
            copula: None,
            calendar: &[None, Some(PaymentRun::Weekly(2)), None],
            closed: &crate::domain::NO_HOLIDAYS,
            currency: &[],
        };
        let CaseForecast { weekly: weeks, daily } = forecast_case(&case, &ForecastParams::default()).unwrap();
        assert_eq!((weeks.len(), daily.len()), (4, DAILY_DAYS as usize));
        // The first two land in weeks 1 and 2 (narrow distributions: the second's upper
        // tail runs from 12.5 days at p90 to 16.5, so a little of it reaches week 3); the third
        // is beyond the cash model's horizon and in no week.
        let total: f64 = weeks.iter().map(|w| w[0]).sum();
        assert!((total - 350.5).abs() < 0.02, "{weeks:?}");
        assert!(weeks[0][0] > 90.0 && weeks[1][0] > 215.0 && weeks[2][0] < 35.0, "{weeks:?}");
        // (A mean can lie above the p90 when few draws land in a week.)
        assert!(weeks.iter().all(|w| w[1] <= w[2]), "{weeks:?}");
        // Day by day, the same amounts; the second is paid on Wednesdays only (day 0 was
        // a Thursday, so days 6, 13, 20, 27), mostly on the 13th.
        assert!((daily.iter().sum::<f64>() - total).abs() < 0.02, "{daily:?}");
        let off_run: f64 = (0..DAILY_DAYS as usize).filter(|d| d > &4 && (d + 1) % 7 != 6).map(|d| daily[d]).sum();
        assert!(off_run < 0.02 && daily[5] + daily[12] + daily[19] > 249.0 && daily[12] > 200.0, "{daily:?}");
        let bad = ForecastParams { sims: 3, ..ForecastParams::default() };
        assert_eq!(forecast_case(&case, &bad), Err(ForecastError::Sims(3)));
    }

    /// The backtest's base-currency forecast keeps each invoice off its own currency's
    /// holidays: on a day closed for EUR only, the USD invoice's cash arrives (most of
    /// it, as its distribution centres there) and none of the EUR invoice's.
    #[test]
    fn a_backtest_case_keeps_each_invoice_off_its_own_currencys_holidays() {
        let eur = Currency::parse("EUR").unwrap();
        // Day 0 a Monday; day 3 (Thursday, daily[2]) closed for EUR.
        let as_of = crate::domain::days_from_date(chrono::NaiveDate::from_ymd_opt(2024, 6, 3).unwrap());
        let closed = Holidays::with_currencies([], [(eur, as_of + 3)]);
        let days = [[2.6, 2.8, 3.0], [2.6, 2.8, 3.0]].map(|q| CashDist::new(q, 91.0, None, None));
        let case = CashCase {
            as_of,
            through: as_of,
            origin: &[],
            weeks: 1,
            keys: &[keys(0, 0), keys(1, 1)],
            amount_base: &[100.0, 300.0],
            overdue: &[false, false],
            dists: &days,
            cap: 91.0,
            copula: None,
            calendar: &[Some(PaymentRun::BusinessDays); 2],
            closed: &closed,
            currency: &[Currency::USD, eur],
        };
        let daily = forecast_case(&case, &ForecastParams::default()).unwrap().daily;
        assert!(daily[2] > 50.0 && daily[2] <= 100.5, "{daily:?}");
        // Read as one currency (the base's calendar, open that day), the EUR invoice's
        // cash arrives on it too.
        let blind = forecast_case(&CashCase { currency: &[], ..case }, &ForecastParams::default()).unwrap().daily;
        assert!(blind[2] > 200.0, "{blind:?}");
    }

    /// The AVX2 draw and the one-item-at-a-time draw put every item in the same slot,
    /// over knots from a day to past i32::MAX, day and week buckets and a horizon that
    /// ends inside a week; and the slots follow the knots.
    #[test]
    fn both_draw_paths_give_the_same_slots() {
        let mut r = crate::rng::Rng::new(3, 0);
        let eur = Currency::parse("EUR").unwrap();
        let items: Vec<OpenItem> = (0..2045u32)
            .map(|k| {
                let p50 = match k % 5 {
                    0 => r.uniform(0.0, 3.0),
                    4 => r.uniform(50.0, 5e9),
                    _ => r.uniform(1.0, 60.0),
                };
                let cur = if k % 3 == 0 { eur } else { usd() };
                let mut item = OpenItem::new(keys(k, k / 3), cur, 100, k % 7 == 0, [p50 * 0.8, p50, p50 * 1.8]);
                // Some with less (scale above 1) or more (below) within the horizon.
                item.scale = [1.0, 2.5, 0.7, 1.0][k as usize % 4];
                // Some paid in runs.
                let runs = [PaymentRun::Weekly((k % 5) as u8), PaymentRun::SemiMonthly, PaymentRun::Monthly(28)];
                item.on_calendar(match k % 4 {
                    1 => Some(runs[k as usize % 3]),
                    3 => Some(PaymentRun::BusinessDays),
                    _ => None,
                })
            })
            .collect();
        let currencies = currencies_in(items.iter());
        let t = Tables::new();
        let w = Weights { c: 0.5, p: 0.3, e: 0.8 };
        // A Friday two days before a month's end.
        let as_of = crate::domain::days_from_date(chrono::NaiveDate::from_ymd_opt(2024, 6, 28).unwrap());
        // Thursday 4 July closed for every currency, Monday 15 July for EUR only.
        let hol = Holidays::with_currencies([as_of + 6], [(eur, as_of + 17)]);
        let (mut on_run_days, mut usd_on_15th) = (0, 0);
        // The last two with the data's day `skip` days before the as-of date.
        for (horizon, width, skip) in [(30usize, 7usize, 0u32), (91, 7, 0), (40, 1, 0), (35, 7, 4), (40, 1, 3)] {
            let nb = horizon.div_ceil(width);
            let days =
                Days::new(as_of, (horizon as u32 + skip) as i32, skip as i32, width as i32, nb, &hol, items.iter());
            let mut before = 0;
            let cols = Columns::new(&items, &currencies, &days);
            let (mut placed, mut after, mut scaled_after) = ([0usize; 3], 0, 0);
            for s in 0..20u32 {
                let keys = Keys { e: hash32(s, 1), c: hash32(s, 2) };
                let zp = 0.1 * f32::from(s as u8) - 1.0;
                let (mut a, mut b) = (vec![0u32; items.len()], vec![0u32; items.len()]);
                draw(&cols, &keys, zp, &w, &t, &days, &mut a);
                draw_scalar(&cols, &keys, zp, &w, &t, &days, &mut b, 0);
                assert_eq!(a, b, "horizon {horizon}, width {width}, skip {skip}, draw {s}");
                for (k, &slot) in a.iter().enumerate() {
                    let bucket = slot % (nb as u32 + 2);
                    assert_eq!(slot - bucket, cols.slot[k]);
                    before += usize::from(bucket == nb as u32 + 1);
                    if k % 5 == 4 && items[k].knots[0] > (horizon as u32 + skip) as f32 {
                        assert_eq!(bucket, nb as u32, "item {k} is paid after the horizon");
                        after += 1;
                    }
                    if bucket < nb as u32 {
                        placed[k % 5 / 2] += 1;
                    }
                    // Day by day, an item paid in runs lands on a run day of its
                    // currency's calendar only.
                    if let (Some(run), 1, true) = (items[k].calendar, width, bucket < nb as u32) {
                        assert!(
                            run.is_run_day(as_of + (skip + bucket) as i32 + 1, hol.of(items[k].currency)),
                            "item {k}, {run:?}, day {}",
                            bucket + 1
                        );
                        on_run_days += 1;
                        usd_on_15th += usize::from(skip + bucket == 16 && items[k].currency != eur);
                    }
                    // All of the knots within the horizon, yet drawn after it at the
                    // level scale's share (60%).
                    if items[k].scale > 2.0 && items[k].knots[8] < horizon as f32 && bucket == nb as u32 {
                        scaled_after += 1;
                    }
                }
            }
            assert!(placed[0] > 0 && placed[1] > 0 && after > 5_000, "{placed:?} {after}");
            // Items paid within days: some drawn on or before the as-of date.
            assert_eq!(before > 1_000, skip > 0, "skip {skip}: {before} before");
            assert!(scaled_after > 500, "{scaled_after}");
        }
        assert!(on_run_days > 1_000, "{on_run_days}");
        assert!(usd_on_15th > 0, "15 July is closed for EUR only");
    }

    /// A forecast from data that run to an earlier day draws as one made then, and
    /// counts what it draws on or before the as-of date apart: open in the data, but
    /// paid already.
    #[test]
    fn a_forecast_from_older_data_leaves_out_what_was_paid_before_the_as_of_date() {
        let items: Vec<OpenItem> = (0..3_000u32)
            .map(|k| {
                let p50 = 1.0 + f64::from(k % 37);
                OpenItem::new(
                    keys(k, k / 5),
                    usd(),
                    1_000 + i64::from(k % 13) * 77,
                    k % 4 == 0,
                    [(p50 * 0.5).max(1.0), p50, p50 * 2.0],
                )
                .on_calendar([None, Some(PaymentRun::BusinessDays), Some(PaymentRun::Weekly(2))][k as usize % 3])
            })
            .collect();
        let fx = FxTable::default();
        let through = crate::domain::days_from_date(chrono::NaiveDate::from_ymd_opt(2024, 5, 3).unwrap());
        let gap = 5;
        let day = |h: i32| ForecastParams { horizon_days: h, granularity: Granularity::Day, ..Default::default() };
        let then = simulate(&items, through, &day(40 + gap), &fx, 91).unwrap();
        let now = simulate_since(&items, through, through + gap, &day(40), &fx, 91).unwrap();
        assert_eq!(now.as_of, date_from_days(through + gap).unwrap().to_string());
        assert_eq!(now.data_through, date_from_days(through).unwrap().to_string());
        assert_eq!(now.base[0].start, date_from_days(through + gap + 1).unwrap().to_string());
        assert_eq!(now.base.len(), 40);
        for (b, x) in now.base.iter().enumerate() {
            let y = &then.base[b + gap as usize];
            assert_eq!((x.expected_minor, x.p10_minor, x.p90_minor), (y.expected_minor, y.p10_minor, y.p90_minor));
        }
        let (c_now, c_then) = (&now.currencies[0], &then.currencies[0]);
        let early: i64 = c_then.buckets[..gap as usize].iter().map(|b| b.expected_minor).sum();
        assert!(early > c_now.open_minor / 20, "{early}");
        assert!((c_now.since_data_expected_minor - early).abs() <= i64::from(gap), "{c_now:?}");
        assert_eq!(now.since_data_expected_base_minor, c_now.since_data_expected_minor);
        assert!((c_now.beyond_horizon_expected_minor - c_then.beyond_horizon_expected_minor).abs() <= 40);
        // Data that run to the as-of date: the plain forecast.
        let plain = simulate(&items, through, &day(40), &fx, 91).unwrap();
        assert_eq!(simulate_since(&items, through, through, &day(40), &fx, 91).unwrap(), plain);
        assert_eq!(plain.currencies[0].since_data_expected_minor, 0);
        assert_eq!(plain.data_through, plain.as_of);
    }

    #[test]
    fn a_drawn_day_moves_to_the_nearest_run_day_from_tomorrow() {
        let start = crate::domain::days_from_date(chrono::NaiveDate::from_ymd_opt(2024, 1, 1).unwrap());
        // None, and a weekday in eleven closed (runs of two closed days among them).
        let some = Holidays::new((0..500).filter(|d| d % 11 == 3 || d % 37 == 4).map(|d| start + d));
        for hol in [Holidays::default(), some] {
            for run in PaymentRun::all().chain([PaymentRun::BusinessDays]) {
                for as_of in (start..start + 400).step_by(13) {
                    let placed = run_days_placed(run, as_of, 100, &hol);
                    assert_eq!(placed.len(), 100);
                    for (d, &p) in (1..=100).zip(&placed) {
                        let want = run.settle(as_of + d, as_of + 1, &hol);
                        assert_eq!(as_of + p, want, "{run:?} as of {as_of}, day {d}");
                        assert!(hol.is_business_day(want));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod model_tests {
    use super::*;
    use crate::domain::days_from_date;
    use crate::features::load_history;
    use crate::fixtures::{full_history, generated_dir, quick_train_params};
    use crate::ingest::InvoiceReadOptions;
    use crate::models::backtest::run_backtest_with;
    use crate::models::train::train_all;
    use tests::keys;

    /// Between weekly open-items listings the backtest's cash forecast counts from the
    /// last listing's day: invoices paid since (open as far as the listings tell) are
    /// expected paid already, and the first weeks' expected inflow comes closer to what
    /// arrived by the true paid dates than when every listed invoice is taken as unpaid
    /// at the as-of date.
    #[test]
    fn between_listings_the_cash_forecast_counts_from_the_last_listing() {
        let crate::fixtures::ListingsWithTruth { listed, blind, true_paid, .. } =
            crate::fixtures::weekly_listings_with_truth();
        let l = listed.listing_days[listed.listing_days.len() - 16];
        let mut p = crate::fixtures::quick_backtest_params();
        (p.keep_rows, p.from, p.to, p.horizon_weeks) = (true, Some(l + 3), Some(l + 3 + 42), 4);
        let fp = ForecastParams::default();
        let f = |c: &CashCase<'_>| forecast_case(c, &fp).unwrap();
        // The expected inflow of weeks 1-4 (amounts times the rows' week shares) against
        // the true days: WAPE, and week 1's absolute error; and how many rows were
        // placed, and paid by the listings' days, on or before the as-of date.
        let score = |h: &History| {
            let r = run_backtest_with(h, &p, Some(&f)).unwrap();
            assert_eq!(r.as_of_dates.len(), 4);
            let mut by: std::collections::HashMap<(i32, usize), [f64; 2]> = Default::default();
            let (mut placed_before, mut paid_before) = (0, 0);
            for c in &r.cash_rows {
                placed_before += usize::from(c.placed_days <= 0);
                paid_before += usize::from(c.paid_after_days.is_some_and(|a| a <= 0));
                let Some(Some(t)) = true_paid.get(&(c.customer_id.clone(), c.invoice_date, c.due_date)) else {
                    continue;
                };
                for w in 0..4 {
                    let e = by.entry((c.as_of, w)).or_default();
                    e[0] += c.amount_base * c.week_share[w];
                    if (t - c.as_of - 1).div_euclid(7) == w as i32 && *t > c.as_of {
                        e[1] += c.amount_base;
                    }
                }
            }
            let err = |first: bool| -> f64 {
                by.iter().filter(|((_, w), _)| !first || *w == 0).map(|(_, [f, a])| (f - a).abs()).sum()
            };
            let total: f64 = by.values().map(|[_, a]| a).sum();
            (err(false) / total, err(true), placed_before, paid_before)
        };
        let dates = crate::models::backtest::as_of_dates(&listed, &p);
        assert!(dates.iter().all(|&d| listed.known_through(d) == d - 3), "between listings: {dates:?}");
        let (now, week_1, placed, paid) = score(&listed);
        let (then, week_1_then, placed_then, paid_then) = score(&blind);
        assert!(placed > 0 && paid > 0, "{placed} placed, {paid} paid before the as-of date");
        assert_eq!((placed_then, paid_then), (0, 0));
        // Week 1, where the invoices paid since the listing would otherwise land.
        assert!(week_1 < 0.6 * week_1_then, "week 1's absolute error {week_1:.0} against {week_1_then:.0}");
        assert!(now < then, "expected inflow WAPE {now:.3} from the listing's day, {then:.3} from the as-of date");
    }

    /// The backtest scores the forecast it would have made at each as-of date: its
    /// expectations beat placing every invoice on its due date, and its intervals hold
    /// most weeks' actual inflows.
    #[test]
    fn the_backtest_scores_the_forecast_made_at_each_date() {
        let dir = generated_dir(60, 4_000, "2023-01-01", "2024-06-30", 3);
        let h = full_history(dir.path());
        let fp = ForecastParams::default();
        let f = |c: &CashCase<'_>| forecast_case(c, &fp).unwrap();
        let r = run_backtest_with(&h, &crate::fixtures::quick_backtest_params(), Some(&f)).unwrap();
        let (model, due) = (&r.methods[0], &r.methods[1]);
        let (w, cov) = (model.forecast_wape.unwrap(), model.forecast_interval_coverage.unwrap());
        assert!(w < due.wape, "{w} vs {}", due.wape);
        assert!(cov > 0.5, "{cov}");
        assert!(due.forecast_wape.is_none() && r.methods[2].forecast_interval_coverage.is_none());
        assert!(r.markdown().contains("forecast weeks in p10–p90"));
        // By week after the as-of date: the same weeks, split.
        let weeks = &model.forecast_by_week;
        assert!(weeks.len() >= 4 && weeks[0].week == 1, "{weeks:?}");
        let n: usize = weeks.iter().map(|w| w.dates).sum();
        let inside: f64 = weeks.iter().map(|w| w.dates as f64 * (1.0 - w.below_p10 - w.above_p90)).sum();
        assert!((inside / n as f64 - cov).abs() < 1e-9, "{inside} of {n} vs {cov}");
        assert!(due.forecast_by_week.is_empty() && r.markdown().contains("cash forecast by week"));
        // The bands' interval score: at least their width, the dates' own scores
        // weighted by their inflows make it up, and no scale does better than the best.
        let (score, width) = (model.forecast_interval_score.unwrap(), model.forecast_interval_width.unwrap());
        assert!(width > 0.0 && score >= width, "{score} {width}");
        let (num, den) =
            model.by_date.iter().fold((0.0, 0.0), |(n, d), b| match (b.forecast_interval_score, b.forecast_inflow) {
                (Some(s), Some(a)) => (n + s * a, d + a),
                _ => (n, d),
            });
        assert!((num / den - score).abs() < 1e-9, "{} vs {score}", num / den);
        let best = model.forecast_band_scale.unwrap();
        assert!(best.interval_score <= score && best.scale > 0.0, "{best:?} vs {score}");
        let [lo, hi] = model.intervals.forecast_interval_score.unwrap();
        assert!(lo.is_finite() && lo <= hi, "{lo} {hi}");
        assert!(due.forecast_interval_score.is_none() && r.markdown().contains("80% interval score"));
        // The correlations each date's forecast drew with: one entry per date, learned
        // where the snapshots allow, in range, and in the markdown.
        assert_eq!(r.correlations.len(), r.as_of_dates.len());
        let learned: Vec<_> = r.correlations.iter().flatten().collect();
        assert!(!learned.is_empty(), "{:?}", r.correlations);
        for c in learned {
            assert!((0.0..=0.5).contains(&c.period) && (0.0..=0.9 - c.period).contains(&c.customer), "{c:?}");
        }
        assert!(r.markdown().contains("Timing correlations learned at"));
    }

    /// Trained and forecast at a date between weekly listings, as `arsight train` and
    /// `arsight forecast` load it: the cash model looks the gap between listings
    /// further, every invoice listed open draws from the last listing's day (past due
    /// as at the date), and what it expects paid since is reported apart.
    #[test]
    fn a_forecast_between_listings_starts_from_the_last_listing() {
        let (dst, l, d) = crate::fixtures::weekly_listings_between();
        let h = load_history(dst.path(), d, &InvoiceReadOptions::default(), &FxTable::default()).unwrap();
        assert_eq!((h.known_through(d), h.listing_reach()), (l, 6));
        let mut tp = quick_train_params();
        tp.validation_days = 100_000; // no validation step: not needed here
        let m = train_all(&h, d, &tp).unwrap().models;
        assert_eq!(m.cash_horizon_days, tp.cash_horizon_days + 6);
        let (through, items) = open_items_known(&h, d, &m).unwrap();
        let open = crate::models::dataset::open_rows(&h, d, InvoiceView::AtDate, |_| true);
        assert_eq!((through, items.len()), (l, open.len()));
        let overdue = open.due_date.iter().filter(|&&due| d > due).count();
        assert_eq!(items.iter().filter(|i| i.overdue).count(), overdue);
        let fx = FxTable::default();
        let f = simulate_since(&items, through, d, &ForecastParams::default(), &fx, m.cash_horizon_days).unwrap();
        assert_eq!((f.as_of.clone(), f.data_through.clone()), (date(d), date(l)));
        let c = &f.currencies[0];
        let ahead: i64 = c.buckets.iter().map(|b| b.expected_minor).sum();
        assert!(c.since_data_expected_minor > c.open_minor / 50, "{c:?}");
        assert!(c.since_data_expected_minor < ahead / 2, "{c:?}");
        // What is open is expected paid since, in the buckets, or beyond them.
        let parts = c.since_data_expected_minor + ahead + c.beyond_horizon_expected_minor;
        assert!((parts - c.open_minor).abs() <= c.open_minor / 10, "{parts} of {}", c.open_minor);
        // The full horizon from the date is within the model's reach; a longer one is not.
        let long = ForecastParams { horizon_days: 91 + 3, ..Default::default() };
        let e = simulate_since(&items, through, d, &long, &fx, m.cash_horizon_days).unwrap_err();
        assert!(matches!(e, ForecastError::Stale { days: 4, .. }), "{e}");
    }

    fn date(d: i32) -> String {
        date_from_days(d).unwrap().to_string()
    }

    /// The forecast made at D from models trained at D against what the full history
    /// says arrived afterwards: weekly actuals mostly inside [p10, p90], totals close.
    #[test]
    fn weekly_intervals_cover_what_actually_arrived() {
        let dir = generated_dir(120, 8_000, "2023-01-01", "2024-12-31", 23);
        let d = days_from_date(chrono::NaiveDate::from_ymd_opt(2024, 6, 30).unwrap());
        let h = load_history(dir.path(), d, &InvoiceReadOptions::default(), &FxTable::default()).unwrap();
        let mut tp = quick_train_params();
        tp.validation_days = 100_000; // no validation step: not needed here
        let m = train_all(&h, d, &tp).unwrap().models;
        let items = open_items(&h, d, &m).unwrap();
        let fx = FxTable::default();
        let f = simulate(&items, d, &ForecastParams::default(), &fx, m.cash_horizon_days).unwrap();
        // Actual inflows of the same invoices, base currency minor units, by week.
        let full = full_history(dir.path());
        let mut actual = vec![0.0; 13];
        for r in &full.invoices {
            if r.invoice_date <= d && r.paid_date > d && r.paid_date <= d + 91 {
                actual[((r.paid_date - d - 1) / 7) as usize] += fx.to_base(r.amount_minor, r.currency) * 100.0;
            }
        }
        let covered = (0..13)
            .filter(|&w| (f.base[w].p10_minor as f64) <= actual[w] && actual[w] <= f.base[w].p90_minor as f64)
            .count();
        let expected: f64 = f.base.iter().map(|b| b.expected_minor as f64).sum();
        let arrived: f64 = actual.iter().sum();
        assert!(covered >= 7, "{covered}/13 weeks covered: {:?} vs {actual:?}", f.base);
        assert!((expected - arrived).abs() < 0.25 * arrived, "expected {expected} vs arrived {arrived}");
    }

    /// The spread of the weekly totals is learned from the newest weeks' outcomes known
    /// at D (the same from the history cut at D as from the whole one), and measures
    /// misses: a forecast that expects twice what its draws give, with no spread of its
    /// own, gets a spread of about a half (what arrived is about half the expectation).
    #[test]
    fn the_week_spread_reads_nothing_after_the_as_of_date_and_measures_misses() {
        use crate::models::train::train_all_with;
        let dir = generated_dir(60, 4_000, "2023-01-01", "2024-12-31", 5);
        let d = days_from_date(chrono::NaiveDate::from_ymd_opt(2024, 6, 30).unwrap());
        let cut = load_history(dir.path(), d, &InvoiceReadOptions::default(), &FxTable::default()).unwrap();
        let full = full_history(dir.path());
        let mut tp = quick_train_params();
        tp.validation_days = 100_000;
        let fp = ForecastParams::default();
        let f = |c: &CashCase<'_>| forecast_case(c, &fp).unwrap();
        let a = train_all_with(&cut, d, &tp, Some(&f)).unwrap().models.cash_copula.expect("enough history");
        // On one thread, from the whole history: the same (the draws' blocks and sums do
        // not depend on the thread count).
        let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
        let b = one.install(|| train_all_with(&full, d, &tp, Some(&f))).unwrap().models.cash_copula.unwrap();
        // The weekly factors rest on the draws' expectations, whose keys come from the
        // ids: the same however the history numbers its customers and invoices.
        assert_eq!(a, b);
        assert!((0.0..0.3).contains(&a.week_spread), "{a:?}");
        let doubled = |c: &CashCase<'_>| {
            let mut out = forecast_case(c, &fp).unwrap();
            for w in &mut out.weekly {
                *w = [2.0 * w[0]; 3];
            }
            out
        };
        let t = train_all_with(&cut, d, &tp, Some(&doubled)).unwrap().models.cash_copula.expect("enough history");
        assert!((0.35..0.65).contains(&t.week_spread), "{t:?}");
        // Twice what arrived in every week: the near weeks' factors go to their floor,
        // 1 / 1.25, and the others of weeks 1–10 (each at least three times in the
        // newest 13 weeks) near it.
        assert!(t.week_bias[..4].iter().all(|&b| (b - 0.8).abs() < 1e-9), "{t:?}");
        assert!(t.week_bias[..10].iter().all(|&b| b < 0.85), "{t:?}");
        let off = crate::models::train::TrainParams {
            cash_snapshots: crate::models::dataset::SnapshotPlan {
                week_spread: false,
                week_bias: false,
                ..tp.cash_snapshots
            },
            ..tp.clone()
        };
        let o = train_all_with(&cut, d, &off, Some(&doubled)).unwrap().models.cash_copula.expect("enough history");
        assert_eq!((o.week_spread, o.week_bias), (0.0, [1.0; crate::models::copula::BIAS_WEEKS]));
    }

    /// A week's factor scales its expectation (due and overdue alike) and its p10–p90
    /// by itself, day by day within the week, and leaves the other weeks as they were.
    #[test]
    fn a_week_bias_scales_its_week_and_no_other() {
        let items: Vec<OpenItem> = (0..2_000)
            .map(|k| {
                OpenItem::new(
                    keys(k, k / 3),
                    Currency::USD,
                    10_000 + i64::from(k % 17) * 100,
                    k % 5 == 0,
                    [3.0, 12.0, 30.0],
                )
            })
            .collect();
        let fx = FxTable::default();
        for g in [Granularity::Week, Granularity::Day] {
            let p = ForecastParams { horizon_days: 28, granularity: g, ..Default::default() };
            let plain = simulate(&items, 0, &p, &fx, 91).unwrap();
            let biased =
                simulate(&items, 0, &ForecastParams { week_bias: vec![1.0, 1.2], ..p.clone() }, &fx, 91).unwrap();
            for (b, (x, y)) in plain.base.iter().zip(&biased.base).enumerate() {
                let week = b as i32 * g.days() / 7;
                let f = if week == 1 { 1.2 } else { 1.0 };
                let near = |a: i64, b: i64| (a as f64 * f - b as f64).abs() <= 1.0 + 1e-9 * a as f64;
                assert!(near(x.expected_minor, y.expected_minor), "{g:?} {b}: {x:?} vs {y:?}");
                assert!(near(x.due_expected_minor, y.due_expected_minor) && near(x.p90_minor, y.p90_minor));
                assert!(near(x.overdue_expected_minor, y.overdue_expected_minor) && near(x.p10_minor, y.p10_minor));
            }
            assert!(
                biased.base.iter().map(|b| b.expected_minor).sum::<i64>()
                    > plain.base.iter().map(|b| b.expected_minor).sum::<i64>()
            );
        }
        let bad = ForecastParams { week_bias: vec![1.0, 0.0], ..Default::default() };
        assert_eq!(simulate(&items, 0, &bad, &fx, 91).unwrap_err(), ForecastError::Bias(0.0));
    }

    /// What the invoices open at `d` brought in on each of the `days` days after it, in
    /// base-currency minor units.
    fn actual_daily(dir: &std::path::Path, d: i32, days: i32, fx: &FxTable) -> Vec<f64> {
        let mut actual = vec![0.0; days as usize];
        for r in &full_history(dir).invoices {
            if r.invoice_date <= d && r.paid_date > d && r.paid_date <= d + days {
                actual[(r.paid_date - d - 1) as usize] += fx.to_base(r.amount_minor, r.currency) * 100.0;
            }
        }
        actual
    }

    /// On a ledger where many customers pay in runs, the daily forecast made at D puts
    /// their cash on their run days: day by day it errs less than the same draws left
    /// on any day.
    #[test]
    fn a_daily_forecast_puts_run_payers_cash_on_their_run_days() {
        let dir = crate::fixtures::generated_dir_with(120, 8_000, "2023-01-01", "2024-12-31", 5, |p| {
            crate::generate::GenerateParams { payment_runs: true, ..p }
        });
        let d = days_from_date(chrono::NaiveDate::from_ymd_opt(2024, 6, 30).unwrap());
        let h = load_history(dir.path(), d, &InvoiceReadOptions::default(), &FxTable::default()).unwrap();
        let mut tp = quick_train_params();
        tp.validation_days = 100_000;
        let m = train_all(&h, d, &tp).unwrap().models;
        let items = open_items(&h, d, &m).unwrap();
        let on_runs = items.iter().filter(|i| i.calendar.is_some_and(|r| r != PaymentRun::BusinessDays)).count();
        assert!(on_runs * 5 > items.len(), "{on_runs} of {} open invoices on runs", items.len());
        let anyday: Vec<OpenItem> = items.iter().map(|i| i.on_calendar(None)).collect();
        let (fx, days) = (FxTable::default(), 28);
        let p = ForecastParams { horizon_days: days, granularity: Granularity::Day, ..Default::default() };
        let actual = actual_daily(dir.path(), d, days, &fx);
        let wape = |items: &[OpenItem]| {
            let f = simulate(items, d, &p, &fx, m.cash_horizon_days).unwrap();
            let expected: Vec<f64> = f.base.iter().map(|b| b.expected_minor as f64).collect();
            crate::models::metrics::wape(&expected, &actual)
        };
        let (runs, plain) = (wape(&items), wape(&anyday));
        assert!(runs < plain - 0.05, "daily WAPE {runs:.3} on runs vs {plain:.3} on any day");
    }

    /// Over Christmas on a ledger closed on holidays, the daily forecast puts nothing
    /// on them, and errs less than the same draws made without knowing them.
    #[test]
    fn a_daily_forecast_puts_no_cash_on_holidays() {
        let dir = crate::fixtures::generated_dir_with(120, 8_000, "2023-01-01", "2025-01-31", 5, |p| {
            crate::generate::GenerateParams { payment_runs: true, holidays: true, ..p }
        });
        let d = days_from_date(chrono::NaiveDate::from_ymd_opt(2024, 12, 13).unwrap());
        let h = load_history(dir.path(), d, &InvoiceReadOptions::default(), &FxTable::default()).unwrap();
        let mut tp = quick_train_params();
        tp.validation_days = 100_000;
        let m = train_all(&h, d, &tp).unwrap().models;
        assert!(m.payment.settles_on_business_days);
        let items = open_items(&h, d, &m).unwrap();
        let (fx, days) = (FxTable::default(), 28);
        let p = ForecastParams { horizon_days: days, granularity: Granularity::Day, ..Default::default() };
        let actual = actual_daily(dir.path(), d, days, &fx);
        let expected = |p: &ForecastParams| -> Vec<f64> {
            let f = simulate(&items, d, p, &fx, m.cash_horizon_days).unwrap();
            f.base.iter().map(|b| b.expected_minor as f64).collect()
        };
        let closed = expected(&ForecastParams { holidays: h.holidays.clone(), ..p.clone() });
        let blind = expected(&p);
        // 25 and 26 December and 1 January are days 12, 13 and 19.
        for day in [12usize, 13, 19] {
            assert!(h.holidays.contains(d + day as i32));
            assert_eq!((closed[day - 1], actual[day - 1]), (0.0, 0.0), "day {day}");
            assert!(blind[day - 1] > 0.0, "day {day}");
        }
        let (w_closed, w_blind) =
            (crate::models::metrics::wape(&closed, &actual), crate::models::metrics::wape(&blind, &actual));
        assert!(w_closed < w_blind - 0.05, "daily WAPE {w_closed:.3} with holidays vs {w_blind:.3} without");
    }
}
