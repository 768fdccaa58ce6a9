//! The customer's own payment distribution, adjusted for what differs between its
//! invoices: an empirical-Bayes model of days late.
//!
//! Days late of an invoice = the effect of its covariates (delivery channel, terms,
//! size) + a draw from its customer's residual distribution. The covariate effects are
//! estimated *within* customers (each customer's invoices against its own mean, a
//! ridge regression), so a customer that moved from paper to e-invoicing teaches the
//! channel effect without its overall speed leaking into it. A customer's residual
//! distribution is the set of residuals of its invoices settled by the date of the
//! prediction (its latest [`EmpiricalParams::max_history`]), mixed with the portfolio's
//! residual distribution at a weight of [`EmpiricalParams::prior_strength`] invoices —
//! so a customer with two settled invoices is mostly the portfolio, one with forty is
//! mostly itself, and one with none is the portfolio shifted by its invoice's
//! covariates.
//!
//! For an invoice still unpaid at the as-of date the distribution is cut at "paid
//! after the as-of date" before quantiles and probabilities are read, so a customer
//! whose invoices are usually paid by now moves the prediction out, not to yesterday.
//!
//! Trees (the payment-date and risk models) see the same history through features but
//! must learn the structure from the rows; on small ledgers this model's structure is
//! worth more than the trees' flexibility, on large ones less. The payment-date and risk
//! models blend the two by weights measured on a time-later slice.

use serde::{Deserialize, Serialize};

use crate::domain::{channel_name, NO_CHANNEL};
use crate::features::history::{History, Inv};

use super::payment::LEVELS;
use super::train::RISK_THRESHOLDS;

/// Settings of the empirical model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmpiricalParams {
    /// Weight, in invoices, of the portfolio's residual distribution in each
    /// customer's.
    pub prior_strength: f64,
    /// Ridge penalty of the covariate effects (on standardised covariates), in rows.
    pub ridge: f64,
    /// Channels with fewer settled invoices than this get no effect of their own.
    pub min_channel_rows: usize,
    /// The customer's most recently settled invoices kept in its distribution.
    pub max_history: usize,
    /// Points kept of the portfolio's distribution.
    pub population_points: usize,
    /// Probabilities read from the distribution smoothed by a triangular kernel whose
    /// half-width is this multiple of the spread of residuals within customers
    /// (0: the raw step function).
    #[serde(default = "default_smoothing")]
    pub smoothing: f64,
}

fn default_smoothing() -> f64 {
    0.5
}

impl Default for EmpiricalParams {
    fn default() -> Self {
        EmpiricalParams {
            ridge: 1.0,
            min_channel_rows: 20,
            max_history: 250,
            population_points: 100,
            prior_strength: 3.0,
            smoothing: default_smoothing(),
        }
    }
}

/// Invalid settings.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EmpiricalParamsError {
    /// A weight or penalty that is negative or not finite.
    #[error("empirical model: {name} should be a finite number >= 0, not {value}")]
    Negative {
        /// Setting.
        name: &'static str,
        /// Value.
        value: f64,
    },
    /// A count that must be positive.
    #[error("empirical model: {0} should be at least 1")]
    Zero(&'static str),
}

impl EmpiricalParams {
    /// Checks the settings.
    ///
    /// # Errors
    /// [`EmpiricalParamsError`].
    pub fn check(&self) -> Result<(), EmpiricalParamsError> {
        for (name, value) in
            [("prior_strength", self.prior_strength), ("ridge", self.ridge), ("smoothing", self.smoothing)]
        {
            if !value.is_finite() || value < 0.0 {
                return Err(EmpiricalParamsError::Negative { name, value });
            }
        }
        if self.max_history == 0 {
            return Err(EmpiricalParamsError::Zero("max_history"));
        }
        if self.population_points == 0 {
            return Err(EmpiricalParamsError::Zero("population_points"));
        }
        Ok(())
    }

    /// Fits on settled invoices: `pos` into `h.invoices`, `late` their days late.
    /// None without any row.
    ///
    /// # Errors
    /// [`EmpiricalParamsError`] for invalid settings.
    pub fn fit(
        &self,
        h: &History,
        pos: &[usize],
        late: &[f64],
    ) -> Result<Option<EmpiricalModel>, EmpiricalParamsError> {
        self.check()?;
        let rows: Vec<(usize, f64)> =
            pos.iter().zip(late).filter(|(_, y)| y.is_finite()).map(|(&p, &y)| (p, y)).collect();
        if rows.is_empty() {
            return Ok(None);
        }
        // Channels with enough rows, by name (codes are per process).
        let mut counts = [0usize; 256];
        for &(p, _) in &rows {
            counts[usize::from(h.invoices[p].channel)] += 1;
        }
        let mut channels: Vec<(String, u8)> = (0..256)
            .filter(|&c| counts[c] >= self.min_channel_rows.max(1))
            .map(|c| (channel_label(c as u8), c as u8))
            .collect();
        channels.sort();
        if channels.len() < 2 {
            channels.clear();
        }
        let k = channels.len() + 2;
        let z = |r: &Inv| -> Vec<f64> {
            let mut v: Vec<f64> = channels.iter().map(|(_, c)| f64::from(u8::from(r.channel == *c))).collect();
            v.push(f64::from(r.due_date - r.invoice_date));
            v.push(r.amount_base.max(0.0).ln_1p());
            v
        };
        // Days late winsorised at the 1st and 99th percentiles for the regression.
        let mut ys: Vec<f64> = rows.iter().map(|r| r.1).collect();
        ys.sort_by(f64::total_cmp);
        let (lo, hi) =
            (crate::features::stats::quantile_sorted(&ys, 0.01), crate::features::stats::quantile_sorted(&ys, 0.99));
        // Within-customer deviations (customers in id order, so the sums do not depend
        // on how a load numbered them).
        let mut by_cust: std::collections::BTreeMap<&str, Vec<(Vec<f64>, f64)>> = std::collections::BTreeMap::new();
        for &(p, y) in &rows {
            let r = &h.invoices[p];
            by_cust.entry(h.customers[r.cust as usize].as_str()).or_default().push((z(r), y.clamp(lo, hi)));
        }
        let mut zz = vec![vec![0.0; k]; k];
        let mut zy = vec![0.0; k];
        for group in by_cust.values().filter(|g| g.len() >= 2) {
            let n = group.len() as f64;
            let mut mz = vec![0.0; k];
            let mut my = 0.0;
            for (v, y) in group {
                mz.iter_mut().zip(v).for_each(|(m, x)| *m += x / n);
                my += y / n;
            }
            for (v, y) in group {
                let d: Vec<f64> = v.iter().zip(&mz).map(|(x, m)| x - m).collect();
                for a in 0..k {
                    zy[a] += d[a] * (y - my);
                    for b in 0..k {
                        zz[a][b] += d[a] * d[b];
                    }
                }
            }
        }
        // Ridge on the standardised scale: lambda * variance on the diagonal.
        let n = rows.len() as f64;
        for (a, row) in zz.iter_mut().enumerate() {
            let var = row[a] / n;
            row[a] += self.ridge * var.max(1e-9) + 1e-9;
        }
        let a = ndarray::Array2::from_shape_fn((k, k), |(i, j)| zz[i][j]);
        let beta = super::linear::cholesky_solve(&a, &zy).unwrap_or_else(|| vec![0.0; k]);
        // Centre the channel effects on their row-weighted mean, so a channel never
        // seen in training (effect 0) reads as a typical one.
        let mut effects: Vec<f64> = beta[..channels.len()].to_vec();
        let total: usize = channels.iter().map(|(_, c)| counts[usize::from(*c)]).sum();
        if total > 0 {
            let mean = channels.iter().zip(&effects).map(|((_, c), e)| e * counts[usize::from(*c)] as f64).sum::<f64>()
                / total as f64;
            effects.iter_mut().for_each(|e| *e -= mean);
        }
        let mut model = EmpiricalModel {
            channels: channels.iter().map(|(name, _)| name.clone()).zip(effects).collect(),
            terms: beta[k - 2],
            log_amount: beta[k - 1],
            population: Vec::new(),
            prior_strength: self.prior_strength,
            max_history: self.max_history,
            kernel_days: 0.0,
            groups: Vec::new(),
            table: Derived::default(),
            group_index: Derived::default(),
        };
        let table = *model.channel_table();
        model.groups = group_effects(
            h,
            rows.iter().map(|&(p, y)| {
                (h.invoices[p].cust as usize, y.clamp(lo, hi) - model.shift_with(&table, &h.invoices[p]))
            }),
            self.prior_strength,
        );
        // Spread within customers: residuals against their customer's median.
        let mut within: std::collections::BTreeMap<&str, Vec<f64>> = std::collections::BTreeMap::new();
        for &(p, y) in &rows {
            let r = &h.invoices[p];
            within.entry(h.customers[r.cust as usize].as_str()).or_default().push(y - model.shift_with(&table, r));
        }
        let mut dev: Vec<f64> = Vec::new();
        for v in within.values_mut().filter(|v| v.len() >= 3) {
            v.sort_by(f64::total_cmp);
            let m = crate::features::stats::quantile_sorted(v, 0.5);
            dev.extend(v.iter().map(|x| x - m));
        }
        dev.sort_by(f64::total_cmp);
        let spread = (crate::features::stats::quantile_sorted(&dev, 0.75)
            - crate::features::stats::quantile_sorted(&dev, 0.25))
            / 1.349;
        model.kernel_days = if spread.is_finite() { self.smoothing * spread } else { 0.0 };
        let mut res: Vec<f64> = rows
            .iter()
            .map(|&(p, y)| {
                let r = &h.invoices[p];
                y - model.shift_with(&table, r) - model.customer_offset(h, r.cust as usize)
            })
            .collect();
        res.sort_by(f64::total_cmp);
        let m = self.population_points.min(res.len());
        model.population =
            (0..m).map(|i| crate::features::stats::quantile_sorted(&res, (i as f64 + 0.5) / m as f64)).collect();
        Ok(Some(model))
    }
}

/// Customers a segment's or country's effect is shrunk towards none by: a group of
/// five customers with long histories gets half its mean.
const GROUP_PRIOR_CUSTOMERS: f64 = 5.0;

/// The customers-table fields whose values group customers.
const GROUP_FIELDS: [&str; 2] = ["segment", "country"];

/// The `country` group of a customer or newcomer: its country (trimmed; None when
/// unknown or empty), else the currency of its latest invoice (a flat invoice export
/// often has no country, and the currency tells the market apart: USD from CAD, EUR
/// from GBP; the three-letter codes never meet the two-letter countries). Training
/// and the service's newcomers both read it here.
pub fn market<'a>(country: Option<&'a str>, currency: Option<&'a str>) -> Option<&'a str> {
    country.map(str::trim).filter(|v| !v.is_empty()).or(currency)
}

/// The value of customers-table field `GROUP_FIELDS[f]` of customer `c` (None when
/// unknown or empty; the country as [`market`] reads it).
fn group_value(h: &History, c: usize, f: usize) -> Option<&str> {
    let m = h.master.get(c)?;
    if f == 0 {
        m.segment.as_deref().map(str::trim).filter(|v| !v.is_empty())
    } else {
        market(m.country.as_deref(), h.invoices_of(c).last().map(|r| r.currency.as_str()))
    }
}

/// Segment and country effects on days late from `(customer, residual)` rows: each
/// customer's mean residual, weighted by how much it rests on (`n / (n + prior)`),
/// explained by one additive effect per segment and per country (backfitted), each
/// shrunk by [`GROUP_PRIOR_CUSTOMERS`]. A field with fewer than two values gets none.
fn group_effects(h: &History, rows: impl Iterator<Item = (usize, f64)>, prior: f64) -> Vec<(String, String, f64)> {
    use std::collections::BTreeMap;
    // Customers in id order, so the sums do not depend on how a load numbered them.
    let mut sums: BTreeMap<&str, (usize, f64, f64)> = BTreeMap::new();
    for (c, r) in rows {
        let e = sums.entry(h.customers[c].as_str()).or_insert((c, 0.0, 0.0));
        e.1 += r;
        e.2 += 1.0;
    }
    // (weight, mean residual, group index per field)
    let mut keys: [Vec<String>; 2] = Default::default();
    let mut seen: [std::collections::HashMap<&str, usize>; 2] = Default::default();
    let mut custs: Vec<(f64, f64, [Option<usize>; 2])> = Vec::with_capacity(sums.len());
    for &(c, sum, n) in sums.values() {
        let mut g = [None; 2];
        for (f, slot) in g.iter_mut().enumerate() {
            *slot = group_value(h, c, f).map(|v| {
                *seen[f].entry(v).or_insert_with(|| {
                    keys[f].push(v.to_string());
                    keys[f].len() - 1
                })
            });
        }
        custs.push((n / (n + prior.max(1e-9)), sum / n, g));
    }
    let wsum: f64 = custs.iter().map(|c| c.0).sum();
    if wsum <= 0.0 {
        return Vec::new();
    }
    let mu = custs.iter().map(|c| c.0 * c.1).sum::<f64>() / wsum;
    let mut effects: [Vec<f64>; 2] = [vec![0.0; keys[0].len()], vec![0.0; keys[1].len()]];
    let used: Vec<usize> = (0..2).filter(|&f| keys[f].len() >= 2).collect();
    for _ in 0..20 {
        for &f in &used {
            let mut num = vec![0.0; keys[f].len()];
            let mut den = vec![GROUP_PRIOR_CUSTOMERS; keys[f].len()];
            for (w, m, g) in &custs {
                if let Some(k) = g[f] {
                    let other: f64 =
                        used.iter().filter(|&&o| o != f).map(|&o| g[o].map_or(0.0, |j| effects[o][j])).sum();
                    num[k] += w * (m - mu - other);
                    den[k] += w;
                }
            }
            effects[f] = num.iter().zip(&den).map(|(a, b)| a / b).collect();
        }
    }
    let mut out: Vec<(String, String, f64)> = used
        .iter()
        .flat_map(|&f| keys[f].iter().zip(&effects[f]).map(move |(k, e)| (GROUP_FIELDS[f].to_string(), k.clone(), *e)))
        .collect();
    out.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    out
}

/// A channel's name as the model stores it ("" for none).
fn channel_label(code: u8) -> String {
    if code == NO_CHANNEL {
        String::new()
    } else {
        channel_name(code).unwrap_or_default().to_string()
    }
}

/// A fitted empirical model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmpiricalModel {
    /// Effect of each delivery channel on days late, by normalised name ("" for
    /// invoices without one), centred on the training rows.
    pub channels: Vec<(String, f64)>,
    /// Effect per day of payment terms.
    pub terms: f64,
    /// Effect per unit of ln(1 + amount in base currency).
    pub log_amount: f64,
    /// The portfolio's residual distribution: evenly spaced quantiles, ascending.
    pub population: Vec<f64>,
    /// Weight of the portfolio distribution, in invoices.
    pub prior_strength: f64,
    /// Settled invoices kept per customer.
    pub max_history: usize,
    /// Half-width of the triangular kernel smoothing the probabilities, days.
    #[serde(default)]
    pub kernel_days: f64,
    /// Effects of the customer's segment and country (customers table) on days late:
    /// (field, value, days), estimated between customers and shrunk towards none.
    #[serde(default)]
    pub groups: Vec<(String, String, f64)>,
    /// [`EmpiricalModel::channel_table`], built on first use.
    #[serde(skip)]
    table: Derived<Box<ChannelTable>>,
    /// `groups` by value, per field of [`GROUP_FIELDS`], built on first use.
    #[serde(skip)]
    group_index: Derived<[std::collections::HashMap<String, f64>; 2]>,
}

/// A lookup built on first use from the model's own fields; two are equal whatever
/// they hold (they are derived from what is compared).
#[derive(Debug, Clone)]
struct Derived<T>(std::sync::OnceLock<T>);

impl<T> Default for Derived<T> {
    fn default() -> Self {
        Derived(std::sync::OnceLock::new())
    }
}

impl<T> PartialEq for Derived<T> {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

/// A customer's distribution of residual days late: the residuals of its settled
/// invoices (weight one each) and the portfolio's points (weight
/// `prior_strength / points` each), every point's weight multiplied by the factor of
/// the last step at or below it (Kaplan–Meier's redistribution of open invoices).
#[derive(Debug, Clone, PartialEq)]
pub struct CustomerDist {
    /// Residuals, ascending.
    pub values: Vec<f64>,
    /// (bound, factor from the bound on), bounds ascending.
    pub steps: Vec<(f64, f64)>,
    /// Settled invoices among the values.
    pub settled: usize,
    /// The customer's segment and country effect, days: the values are residuals
    /// net of it, and predictions add it back with the invoice's covariate effect.
    pub offset: f64,
    /// One entry per step: where its segment starts in both lists and the weight below
    /// it, so a weight below any value takes three binary searches (empty: no steps).
    segs: Vec<Seg>,
    /// The customer's and the portfolio's points in one ascending order (the
    /// customer's first among equals), as three columns (binary searches touch only
    /// the column they compare): quantiles take one search, kernel masses a few
    /// prefix differences. Built by [`EmpiricalModel::dist`] and
    /// [`EmpiricalModel::no_history`], the only ways to make a distribution.
    merged: Merged,
}

/// The points of a [`CustomerDist`] in the merged order; points of zero weight are
/// left out.
#[derive(Debug, Clone, Default, PartialEq)]
struct Merged {
    /// Residual days late, ascending.
    v: Vec<f64>,
    /// Weight of the points before each plus half its own.
    mid: Vec<f64>,
    /// Σ w, Σ w·v and Σ w·v² over the points before the `k`-th (`v.len() + 1`
    /// entries).
    prefix: Vec<[f64; 3]>,
}

/// The segment of a [`CustomerDist`] from a step's bound on.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Seg {
    /// Bound.
    start: f64,
    /// Factor of the points in it.
    factor: f64,
    /// Weight of every point below `start`.
    below: f64,
    /// First customer point at or above `start`.
    vi: usize,
    /// First portfolio point at or above `start`.
    pi: usize,
}

/// The segment before the first step.
const FIRST_SEG: Seg = Seg { start: f64::NEG_INFINITY, factor: 1.0, below: 0.0, vi: 0, pi: 0 };

impl CustomerDist {
    /// No points and no steps (before [`EmpiricalModel::merge`]).
    fn empty(values: Vec<f64>, settled: usize) -> Self {
        CustomerDist { values, steps: Vec::new(), settled, offset: 0.0, segs: Vec::new(), merged: Merged::default() }
    }

    /// Weight of the merged points before the `k`-th (all of them from `len` on).
    fn weight_before(&self, k: usize) -> f64 {
        let p = &self.merged.prefix;
        p.get(k).or(p.last()).map_or(0.0, |e| e[0])
    }

    /// The segment holding `v`.
    fn seg_of(&self, v: f64) -> Seg {
        match self.segs.partition_point(|s| s.start <= v) {
            0 => FIRST_SEG,
            k => self.segs[k - 1],
        }
    }

    /// The factor at `v`.
    fn factor(&self, v: f64) -> f64 {
        self.seg_of(v).factor
    }
}

/// What the model says of one invoice: days-late quantiles and probabilities of being
/// late by more than [`RISK_THRESHOLDS`], and how many of the customer's invoices they rest on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EmpOut {
    /// p10, p50, p90 of days late.
    pub q: [f64; 3],
    /// P(days late > 0), P(> 30), P(> 90).
    pub p: [f64; 3],
    /// The same probabilities before the cut (as at issue).
    pub p_issue: [f64; 3],
    /// P(days late ≥ the cut) before the cut: the chance, seen at issue, of being
    /// still unpaid then (1 without a cut).
    pub unpaid: f64,
    /// The customer's settled invoices in its distribution.
    pub n: usize,
    /// The invoice's covariate effect (channel, terms, amount), days.
    pub shift: f64,
    /// Of which its channel's.
    pub channel: f64,
    /// What the customer's segment and country add through its prior: their effect
    /// times the prior's share of the distribution (all of it without history), days.
    pub peers: f64,
}

/// Per channel code, the model's effect (0 for channels it does not know).
pub type ChannelTable = [f64; 256];

impl EmpiricalModel {
    /// The effect of every channel code (the model's channels are interned, so codes
    /// handed out later find their effect too), built once.
    pub fn channel_table(&self) -> &ChannelTable {
        self.table.0.get_or_init(|| {
            let mut t = Box::new([0.0; 256]);
            for (name, e) in &self.channels {
                let code = if name.is_empty() { NO_CHANNEL } else { crate::domain::channel_code(name) };
                if code != crate::domain::OTHER_CHANNEL {
                    t[usize::from(code)] = *e;
                }
            }
            t
        })
    }

    /// The effect of customer `c`'s segment and country, days (0 for values the model
    /// does not know).
    pub fn customer_offset(&self, h: &History, c: usize) -> f64 {
        self.group_offset([group_value(h, c, 0), group_value(h, c, 1)])
    }

    /// The effect of a segment and a country (in [`GROUP_FIELDS`] order), days.
    fn group_offset(&self, values: [Option<&str>; 2]) -> f64 {
        if self.groups.is_empty() {
            return 0.0;
        }
        let index = self.group_index.0.get_or_init(|| {
            let mut index: [std::collections::HashMap<String, f64>; 2] = Default::default();
            for (field, value, effect) in &self.groups {
                if let Some(f) = GROUP_FIELDS.iter().position(|g| g == field) {
                    index[f].insert(value.clone(), *effect);
                }
            }
            index
        });
        (0..GROUP_FIELDS.len()).filter_map(|f| index[f].get(values[f]?.trim()).copied()).sum()
    }

    /// The covariate effect of an invoice, days.
    pub fn shift_with(&self, table: &ChannelTable, r: &Inv) -> f64 {
        table[usize::from(r.channel)]
            + self.terms * f64::from(r.due_date - r.invoice_date)
            + self.log_amount * r.amount_base.max(0.0).ln_1p()
    }

    /// Customer `c`'s distribution at `t`: the residuals of its invoices settled on or
    /// before `t` (its latest [`EmpiricalModel::max_history`] by settlement date), and
    /// what its invoices open at `t` say: each is known to be paid after `t`, so its
    /// weight goes to everything above that (Kaplan–Meier's redistribution to the
    /// right, over the customer's points and the portfolio's alike).
    pub fn dist(&self, table: &ChannelTable, h: &History, c: usize, t: i32) -> CustomerDist {
        let invs = h.invoices_of(c);
        let issued = &invs[..invs.partition_point(|r| r.invoice_date <= t)];
        let mut paid: Vec<&Inv> = issued.iter().filter(|r| r.paid_date <= t).collect();
        if paid.len() > self.max_history {
            paid.sort_by_key(|r| (std::cmp::Reverse(r.paid_day()), r.invoice_date, r.key));
            paid.truncate(self.max_history);
        }
        let offset = self.customer_offset(h, c);
        let mut values: Vec<f64> =
            paid.iter().map(|r| f64::from(r.paid_day() - r.due_date) - self.shift_with(table, r) - offset).collect();
        values.sort_by(f64::total_cmp);
        // Open invoices, latest issued first, as many as settled ones are kept.
        let mut bounds: Vec<f64> = issued
            .iter()
            .rev()
            .filter(|r| r.paid_date > t)
            .take(self.max_history)
            .map(|r| f64::from(t + 1 - r.due_date) - self.shift_with(table, r) - offset)
            .collect();
        bounds.sort_by(f64::total_cmp);
        let mut d = CustomerDist::empty(values, paid.len());
        d.offset = offset;
        d.steps.reserve(bounds.len());
        let mut beyond = Vec::new();
        for lb in bounds {
            let above = self.mass_ge(&d, lb);
            if above <= 1e-12 {
                // Nothing known lies that far out: the invoice stands at its bound.
                beyond.push(lb);
                continue;
            }
            // Bounds come in ascending order: the new segment is the last one.
            let f = d.factor(lb) * (1.0 + 1.0 / above);
            d.steps.push((lb, f));
            self.push_seg(&mut d, lb, f);
        }
        if !beyond.is_empty() {
            for lb in beyond {
                let at = d.values.partition_point(|v| *v < lb);
                d.values.insert(at, lb);
            }
            self.index(&mut d);
        }
        self.merge(&mut d);
        d
    }

    /// The distribution of a customer without history: the portfolio's.
    pub fn no_history(&self) -> CustomerDist {
        let mut d = CustomerDist::empty(Vec::new(), 0);
        self.merge(&mut d);
        d
    }

    /// The distribution of a customer without history whose segment and country are
    /// given (either may be unknown): the portfolio's, shifted by their effects.
    pub fn no_history_in(&self, segment: Option<&str>, country: Option<&str>) -> CustomerDist {
        let mut d = self.no_history();
        d.offset = self.group_offset([segment, country]);
        d
    }

    /// Builds the merged order of `d`'s points and the portfolio's (see
    /// [`CustomerDist`]); points of zero weight are left out.
    fn merge(&self, d: &mut CustomerDist) {
        let (s, p) = (&d.values, &self.population);
        let wp = self.population_weight();
        let n = s.len() + p.len();
        let mut out =
            Merged { v: Vec::with_capacity(n), mid: Vec::with_capacity(n), prefix: Vec::with_capacity(n + 1) };
        let (mut i, mut j, mut step) = (0, 0, 0);
        let mut acc = [0.0; 3];
        out.prefix.push(acc);
        while i < s.len() || j < p.len() {
            let (v, base) = if j >= p.len() || (i < s.len() && s[i] <= p[j]) {
                i += 1;
                (s[i - 1], 1.0)
            } else {
                j += 1;
                (p[j - 1], wp)
            };
            while step < d.steps.len() && d.steps[step].0 <= v {
                step += 1;
            }
            let w = base * if step == 0 { 1.0 } else { d.steps[step - 1].1 };
            if w > 0.0 {
                out.v.push(v);
                out.mid.push(acc[0] + 0.5 * w);
                acc = [acc[0] + w, acc[1] + w * v, acc[2] + w * v * v];
                out.prefix.push(acc);
            }
        }
        d.merged = out;
    }

    /// Rebuilds the segment index of `d` from its steps.
    fn index(&self, d: &mut CustomerDist) {
        d.segs.clear();
        for k in 0..d.steps.len() {
            let (start, factor) = d.steps[k];
            self.push_seg(d, start, factor);
        }
    }

    /// Appends to the index of `d` the segment of a step at `start` (at or above every
    /// indexed one) with `factor`.
    fn push_seg(&self, d: &mut CustomerDist, start: f64, factor: f64) {
        let prev = d.segs.last().copied().unwrap_or(FIRST_SEG);
        let vi = d.values.partition_point(|v| *v < start);
        let pi = self.population.partition_point(|v| *v < start);
        let below =
            prev.below + prev.factor * ((vi - prev.vi) as f64 + self.population_weight() * (pi - prev.pi) as f64);
        d.segs.push(Seg { start, factor, below, vi, pi });
    }

    /// Weight of the points below `x` (or at most `x` with `inclusive`).
    fn below(&self, d: &CustomerDist, x: f64, inclusive: bool) -> f64 {
        let s = d.seg_of(x);
        let count = |list: &[f64]| {
            if inclusive {
                list.partition_point(|v| *v <= x)
            } else {
                list.partition_point(|v| *v < x)
            }
        };
        let (cv, cp) = (count(&d.values), count(&self.population));
        s.below + s.factor * ((cv - s.vi.min(cv)) as f64 + self.population_weight() * (cp - s.pi.min(cp)) as f64)
    }

    /// Total weight of `d`.
    fn total(&self, d: &CustomerDist) -> f64 {
        let s = d.segs.last().copied().unwrap_or(FIRST_SEG);
        s.below
            + s.factor
                * ((d.values.len() - s.vi) as f64 + self.population_weight() * (self.population.len() - s.pi) as f64)
    }

    /// Weight of one portfolio point.
    fn population_weight(&self) -> f64 {
        if self.population.is_empty() {
            0.0
        } else {
            self.prior_strength / self.population.len() as f64
        }
    }

    /// Weight of the points at or above `lo` (customer and portfolio).
    fn mass_ge(&self, d: &CustomerDist, lo: f64) -> f64 {
        if lo == f64::NEG_INFINITY {
            return self.total(d);
        }
        self.total(d) - self.below(d, lo, false)
    }

    /// Weight above `x`, each point spread as a triangular kernel of half-width
    /// [`EmpiricalModel::kernel_days`] (a step at the point without one).
    fn mass_above(&self, d: &CustomerDist, x: f64) -> f64 {
        let a = self.kernel_days;
        if a <= 0.0 {
            return self.total(d) - self.below(d, x, true);
        }
        // Points at or above x + a lie wholly above x; those within a of x in part:
        // with u = (x − v)/a, a point below x keeps w·(1 − u)²/2 = w·(a − x + v)²/(2a²),
        // one at or above x keeps w·(1 − (1 + u)²/2) = w − w·(a + x − v)²/(2a²). Both
        // are quadratics in v, summed over a run from prefix sums of w, w·v and w·v².
        let (m, p) = (&d.merged.v, &d.merged.prefix);
        let from = m.partition_point(|v| *v <= x - a);
        let to = from.max(m.partition_point(|v| *v < x + a));
        let mid = from + m[from..to].partition_point(|v| *v < x);
        let run = |i: usize, j: usize| (p[j][0] - p[i][0], p[j][1] - p[i][1], p[j][2] - p[i][2]);
        let square = |c: f64, (w, wv, wv2): (f64, f64, f64)| c * c * w + 2.0 * c * wv + wv2;
        let below = run(from, mid);
        let above = run(mid, to);
        d.weight_before(m.len()) - d.weight_before(to)
            + (square(a - x, below) + 2.0 * a * a * above.0 - square(-(a + x), above)) / (2.0 * a * a)
    }

    /// The distribution of an invoice with covariate effect `shift` of a customer whose
    /// distribution is `d`; with `min_late`, cut at "days late ≥ min_late" (unpaid
    /// until then).
    pub fn predict(&self, d: &CustomerDist, shift: f64, min_late: Option<f64>) -> EmpOut {
        let lo = min_late.map_or(f64::NEG_INFINITY, |m| m - shift);
        let all = self.total(d);
        // The points at or above `lo` from `k0` on.
        let (m, mids) = (&d.merged.v, &d.merged.mid);
        let k0 = if lo == f64::NEG_INFINITY { 0 } else { m.partition_point(|v| *v < lo) };
        let below_lo = if k0 == 0 { 0.0 } else { d.weight_before(k0) };
        let total = all - below_lo;
        if total <= 1e-9 {
            return self.beyond(min_late.unwrap_or(0.0), d.settled);
        }
        // Weighted quantiles over the points at or above `lo`, each point at the middle
        // of its weight, interpolated between neighbours.
        let mid = |k: usize| (mids[k] - below_lo) / total;
        let last = m.last().filter(|_| k0 < m.len()).copied().unwrap_or(0.0);
        let mut q = [0.0; 3];
        for (level, &a) in LEVELS.iter().enumerate() {
            let k = k0 + mids[k0..].partition_point(|c| (c - below_lo) / total < a);
            q[level] = if k >= m.len() {
                last
            } else if k == k0 {
                m[k]
            } else {
                let (pv, pm, v, vm) = (m[k - 1], mid(k - 1), m[k], mid(k));
                if vm > pm {
                    pv + (v - pv) * (a - pm) / (vm - pm)
                } else {
                    v
                }
            };
        }
        // P(days late > t | days late >= min_late) from the smoothed distribution.
        let base = if lo.is_finite() { self.mass_above(d, lo) } else { all };
        let mut probs = [0.0; 3];
        let mut p_issue = [0.0; 3];
        for (k, t) in RISK_THRESHOLDS.into_iter().enumerate() {
            let cut = f64::from(t) - shift;
            let above = self.mass_above(d, cut);
            p_issue[k] = (above / all).clamp(0.0, 1.0);
            probs[k] = if cut < lo || base <= 1e-12 { 1.0 } else { (above / base).clamp(0.0, 1.0) };
        }
        let unpaid = (base / all).clamp(0.0, 1.0);
        EmpOut { q: q.map(|v| v + shift), p: probs, p_issue, unpaid, n: d.settled, shift, channel: 0.0, peers: 0.0 }
    }

    /// [`Self::predict`] for invoice `r` (its covariate effect and channel filled in).
    pub fn predict_invoice(&self, d: &CustomerDist, r: &Inv, min_late: Option<f64>) -> EmpOut {
        let table = self.channel_table();
        let prior_share = self.prior_strength / (d.settled as f64 + self.prior_strength).max(1e-9);
        EmpOut {
            channel: table[usize::from(r.channel)],
            peers: d.offset * prior_share,
            ..self.predict(d, self.shift_with(table, r) + d.offset, min_late)
        }
    }

    /// What moved an invoice's p50 away from the portfolio's median, in days: its
    /// channel's effect, its customer's segment and country (through the prior), and
    /// the rest (the customer's own history, cut at "unpaid now", with the invoice's
    /// terms and amount).
    pub fn explain(&self, o: &EmpOut) -> (f64, f64, f64) {
        let median = self.population.get(self.population.len() / 2).copied().unwrap_or(0.0);
        (o.channel, o.peers, o.q[1] - median - o.channel - o.peers)
    }

    /// An invoice unpaid beyond everything the distribution holds: from `min_late` on,
    /// spread by the portfolio's width.
    fn beyond(&self, min_late: f64, settled: usize) -> EmpOut {
        let pop = &self.population;
        let width = match (pop.first(), pop.last()) {
            (Some(a), Some(b)) => ((b - a) / 4.0).max(2.0),
            _ => 7.0,
        };
        let p =
            RISK_THRESHOLDS
                .map(f64::from)
                .map(|t| if min_late > t { 1.0 } else { (-(t - min_late + 1.0) / width).exp() });
        EmpOut {
            q: [min_late, min_late + 0.5 * width, min_late + 1.5 * width],
            p,
            p_issue: p,
            unpaid: 0.0,
            n: settled,
            shift: 0.0,
            channel: 0.0,
            peers: 0.0,
        }
    }

    /// Outputs for invoices of `h`: row `i` is the invoice at `pos[i]`, its customer's
    /// distribution taken at `t[i]`, cut at `min_late[i]` when given. Rows of one
    /// customer at one date share their distribution.
    pub fn outputs(&self, h: &History, pos: &[usize], t: &[i32], min_late: &[Option<f64>]) -> Vec<EmpOut> {
        use rayon::prelude::*;
        let table = self.channel_table();
        let mut order: Vec<usize> = (0..pos.len()).collect();
        order.sort_by_key(|&i| (h.invoices[pos[i]].cust, t[i], i));
        // Runs of one customer, scored in parallel.
        let mut runs: Vec<&[usize]> = Vec::new();
        let mut rest = &order[..];
        while let Some(&first) = rest.first() {
            let c = h.invoices[pos[first]].cust;
            let end = rest.partition_point(|&i| h.invoices[pos[i]].cust == c);
            runs.push(&rest[..end]);
            rest = &rest[end..];
        }
        let scored: Vec<Vec<(usize, EmpOut)>> = runs
            .par_iter()
            .map(|run| {
                let mut out = Vec::with_capacity(run.len());
                let mut cached: Option<(i32, CustomerDist)> = None;
                for &i in *run {
                    let r = &h.invoices[pos[i]];
                    if cached.as_ref().is_none_or(|(at, _)| *at != t[i]) {
                        cached = Some((t[i], self.dist(table, h, r.cust as usize, t[i])));
                    }
                    let (_, dist) = cached.as_ref().expect("set above");
                    out.push((i, self.predict_invoice(dist, r, min_late[i])));
                }
                out
            })
            .collect();
        let mut res = vec![
            EmpOut {
                q: [0.0; 3],
                p: [0.0; 3],
                p_issue: [0.0; 3],
                unpaid: 1.0,
                n: 0,
                shift: 0.0,
                channel: 0.0,
                peers: 0.0
            };
            pos.len()
        ];
        for (i, o) in scored.into_iter().flatten() {
            res[i] = o;
        }
        res
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::channel_code;

    fn inv(cust: u32, issue: i32, late: i32, channel: &str, key: u64) -> Inv {
        let mut r = crate::features::history::Inv::placeholder_for_test();
        r.cust = cust;
        r.invoice_date = issue;
        r.due_date = issue + 30;
        r.paid_date = issue + 30 + late;
        r.amount_base = 100.0;
        r.amount_minor = 10_000;
        r.channel = channel_code(channel);
        r.key = key;
        r
    }

    /// Customers pay at their own speed; e-invoices arrive 6 days sooner than paper
    /// for every customer, and customers move to e-invoicing at different dates.
    fn ledger() -> History {
        let mut rng = crate::rng::Rng::new(5, 0);
        let mut invs = Vec::new();
        let mut key = 0;
        for c in 0..40u32 {
            let speed = f64::from(c % 8) * 3.0 - 6.0;
            let switch = 100 + 10 * (c as i32);
            for k in 0..40 {
                let issue = 10 * k;
                let e = issue >= switch;
                let noise = rng.normal() * 3.0;
                let late = (speed + noise - if e { 6.0 } else { 0.0 }).round() as i32;
                key += 1;
                invs.push(inv(c, issue, late, if e { "E-Invoice" } else { "paper" }, key));
            }
        }
        let names = (0..40).map(|c| format!("C{c}")).collect();
        History::from_invoices_for_test(names, invs, 10_000)
    }

    /// The ledger and the model fitted on all of it.
    fn fitted() -> (History, EmpiricalModel) {
        let h = ledger();
        let pos: Vec<usize> = (0..h.invoices.len()).collect();
        let late: Vec<f64> = h.invoices.iter().map(|r| f64::from(r.paid_date - r.due_date)).collect();
        let m = EmpiricalParams::default().fit(&h, &pos, &late).unwrap().unwrap();
        (h, m)
    }

    #[test]
    fn segment_effects_are_learned_between_customers_and_place_customers_without_history() {
        // Even customers are in a segment paying 10 days later; countries alternate
        // in threes and mean nothing. Customers 40 and 41 have no invoices.
        let mut rng = crate::rng::Rng::new(9, 0);
        let mut invs = Vec::new();
        for c in 0..40u32 {
            let speed = if c % 2 == 0 { 10.0 } else { 0.0 } + rng.normal() * 2.0;
            for k in 0..30 {
                let late = (speed + rng.normal() * 3.0).round() as i32;
                invs.push(inv(c, 10 * k, late, "", u64::from(c) * 100 + k as u64));
            }
        }
        let names = (0..42).map(|c| format!("C{c}")).collect();
        let mut h = History::from_invoices_for_test(names, invs, 10_000);
        for c in 0..42 {
            h.master[c].segment = Some(if c % 2 == 0 { "slow" } else { "fast" }.to_string());
            h.master[c].country = Some(["DE", "FR", "US"][c % 3].to_string());
        }
        let pos: Vec<usize> = (0..h.invoices.len()).collect();
        let late: Vec<f64> = h.invoices.iter().map(|r| f64::from(r.paid_date - r.due_date)).collect();
        let m = EmpiricalParams::default().fit(&h, &pos, &late).unwrap().unwrap();
        let effect = |f: &str, v: &str| m.groups.iter().find(|g| g.0 == f && g.1 == v).unwrap().2;
        let gap = effect("segment", "slow") - effect("segment", "fast");
        // 20 customers a side, shrunk by 5: about 0.8 of the 10 days.
        assert!((6.5..10.0).contains(&gap), "{:?}", m.groups);
        assert!(["DE", "FR", "US"].iter().all(|v| effect("country", v).abs() < 1.5), "{:?}", m.groups);
        let table = m.channel_table();
        let new = inv(40, 500, 0, "", 1);
        let p50 =
            |c: usize| m.predict_invoice(&m.dist(table, &h, c, 10_000), &Inv { cust: c as u32, ..new }, None).q[1];
        assert!(p50(40) - p50(41) > 5.0, "slow {} fast {}", p50(40), p50(41));
        // A customer with history stays itself: its own median, not its segment's.
        let own = |c: usize| {
            let mut v: Vec<f64> = h.invoices_of(c).iter().map(|r| f64::from(r.paid_date - r.due_date)).collect();
            v.sort_by(f64::total_cmp);
            crate::features::stats::quantile_sorted(&v, 0.5)
        };
        for c in [0, 1, 2, 3] {
            assert!((p50(c) - own(c)).abs() < 1.5, "customer {c}: {} against its own {}", p50(c), own(c));
        }
        // Reasons: without history the whole effect is the peers'; with thirty settled
        // invoices the prior holds 3 / 33 of the distribution.
        let out = |c: usize| m.predict_invoice(&m.dist(table, &h, c, 10_000), &Inv { cust: c as u32, ..new }, None);
        let cold = m.explain(&out(40)).1;
        assert!((cold - m.customer_offset(&h, 40)).abs() < 1e-9 && cold > 3.0, "{cold}");
        let warm = m.explain(&out(0)).1;
        assert!((warm - m.customer_offset(&h, 0) * 3.0 / 33.0).abs() < 1e-9 && warm.abs() < 0.15 * cold, "{warm}");
        // Without segments or countries there is nothing to learn.
        let (_, plain) = fitted();
        assert!(plain.groups.is_empty());
    }

    #[test]
    fn without_a_country_the_currency_groups_customers() {
        // No customers table: CAD customers pay 8 days later than USD ones. Customers
        // 40 (a CAD invoice) and 41 (a USD one) have no settled history.
        let mut rng = crate::rng::Rng::new(4, 0);
        let cad = crate::domain::Currency::parse("CAD").unwrap();
        let mut invs = Vec::new();
        for c in 0..42u32 {
            let speed = if c % 2 == 0 { 8.0 } else { 0.0 } + rng.normal() * 2.0;
            let n = if c < 40 { 30 } else { 1 };
            for k in 0..n {
                let late = (speed + rng.normal() * 3.0).round() as i32;
                // The newcomers' invoices are issued after the as-of date's settlements.
                let issue = if c < 40 { 10 * k } else { 9_990 };
                let mut r = inv(c, issue, late, "", u64::from(c) * 100 + k as u64);
                if c % 2 == 0 {
                    r.currency = cad;
                }
                invs.push(r);
            }
        }
        let names = (0..42).map(|c| format!("C{c}")).collect();
        let h = History::from_invoices_for_test(names, invs, 10_000);
        assert!(h.master.iter().all(|m| m.country.is_none()));
        let settled: Vec<usize> =
            (0..h.invoices.len()).filter(|&i| h.invoices[i].paid_date != crate::features::history::OPEN).collect();
        let late: Vec<f64> =
            settled.iter().map(|&i| f64::from(h.invoices[i].paid_date - h.invoices[i].due_date)).collect();
        let m = EmpiricalParams::default().fit(&h, &settled, &late).unwrap().unwrap();
        let effect = |v: &str| m.groups.iter().find(|g| g.0 == "country" && g.1 == v).unwrap().2;
        assert!((5.0..8.5).contains(&(effect("CAD") - effect("USD"))), "{:?}", m.groups);
        assert!(m.customer_offset(&h, 40) - m.customer_offset(&h, 41) > 5.0);
        // A newcomer met online, without a country, starts from its invoice's currency.
        let (a, b) = (m.no_history_in(None, Some("CAD")), m.no_history_in(None, Some("USD")));
        assert!(a.offset - b.offset > 5.0, "{} {}", a.offset, b.offset);
        // Values as a client may send them (padded, or blank for unknown) are looked up
        // trimmed, as training keys them.
        assert_eq!(m.no_history_in(Some("  "), Some(" CAD ")).offset, a.offset);
    }

    #[test]
    fn the_channel_effect_is_learned_within_customers() {
        let (_, m) = fitted();
        let effect = |n: &str| m.channels.iter().find(|c| c.0 == n).unwrap().1;
        let diff = effect("e-invoice") - effect("paper");
        assert!((diff + 6.0).abs() < 0.5, "{:?}", m.channels);
        assert!(m.terms.abs() < 1e-6, "terms never vary: {}", m.terms);
        assert_eq!(m.population.len(), EmpiricalParams::default().population_points);
        assert!(m.population.windows(2).all(|w| w[0] <= w[1]));
    }

    #[test]
    fn a_customer_with_history_is_mostly_itself_and_the_cut_moves_the_distribution_out() {
        let (h, m) = fitted();
        let table = m.channel_table();
        // Customer 7 (speed +15) and customer 0 (speed -6), at the end of the data.
        let slow = m.dist(table, &h, 7, 10_000);
        let fast = m.dist(table, &h, 0, 10_000);
        assert_eq!((slow.values.len(), slow.settled, slow.steps.len()), (40, 40, 0));
        let paper = inv(0, 500, 0, "paper", 0);
        let shift = m.shift_with(table, &paper);
        let (a, b) = (m.predict(&slow, shift, None), m.predict(&fast, shift, None));
        assert!(a.q[1] > b.q[1] + 15.0, "{a:?} {b:?}");
        assert!(a.q[0] <= a.q[1] && a.q[1] <= a.q[2]);
        assert!(a.p[0] > 0.9 && b.p[0] < 0.2, "{a:?} {b:?}");
        assert!(a.p[0] >= a.p[1] && a.p[1] >= a.p[2]);
        // Unpaid 5 days past due: nothing earlier remains.
        let cut = m.predict(&fast, shift, Some(5.0));
        assert!(cut.q[0] >= 5.0 && cut.p[0] == 1.0, "{cut:?}");
        // Without history: the portfolio, shifted by the invoice's channel.
        let e = m.shift_with(table, &inv(0, 500, 0, "e-invoice", 0));
        let none = m.no_history();
        let (cp, ce) = (m.predict(&none, shift, None), m.predict(&none, e, None));
        assert!((cp.q[1] - ce.q[1] - 6.0).abs() < 0.5, "{cp:?} {ce:?}");
        assert_eq!(cp.n, 0);
        // Far beyond anything seen: quantiles start at the cut, every probability below it is 1.
        let far = m.predict(&fast, shift, Some(400.0));
        assert_eq!(far.q[0], 400.0);
        assert_eq!(far.p, [1.0, 1.0, 1.0]);
    }

    #[test]
    fn samples_see_only_invoices_settled_by_their_date() {
        let (h, m) = fitted();
        let table = m.channel_table();
        let t = 200;
        let want = h.invoices_of(3).iter().filter(|r| r.paid_date <= t).count();
        let open = h.invoices_of(3).iter().filter(|r| r.invoice_date <= t && r.paid_date > t).count();
        let d3 = m.dist(table, &h, 3, t);
        assert_eq!((d3.settled, d3.steps.len()), (want, open));
        assert!(want > 0 && want < 40 && open > 0);
        // outputs() groups rows by customer and date and answers each in its place.
        let rows = [h.offsets[3] + 5, h.offsets[1] + 2, h.offsets[3] + 6];
        let out = m.outputs(&h, &rows, &[t, t, t], &[None, None, Some(3.0)]);
        assert_eq!(out[0], m.predict_invoice(&d3, &h.invoices[rows[0]], None));
        assert_eq!(out[2], m.predict_invoice(&d3, &h.invoices[rows[2]], Some(3.0)));
        assert_eq!(out[0].q, m.predict(&d3, m.shift_with(table, &h.invoices[rows[0]]), None).q);
        let paper = m.channels.iter().find(|c| c.0 == "paper").unwrap().1;
        assert_eq!(out[0].channel, paper, "invoice 5 of customer 3 went on paper");
        assert_eq!(out[1].n, m.dist(table, &h, 1, t).settled);
    }

    /// Open invoices count as "paid no earlier than tomorrow": three unpaid 10 days
    /// past due move the customer's distribution out, the total weight is kept, and
    /// the weight moves only to points above their bounds.
    #[test]
    fn open_invoices_move_weight_above_their_bounds() {
        let (h, m) = fitted();
        let table = m.channel_table();
        // Customer 0 at day 420 (all 40 settled by then), then with three more invoices
        // issued on day 380, due on day 410, still open on day 420.
        let t = 420;
        let mut invs: Vec<Inv> = h.invoices_of(0).to_vec();
        assert!(invs.iter().all(|r| r.paid_date <= t));
        for k in 0..3 {
            let mut r = inv(0, 380, 0, "paper", 1_000 + k);
            r.paid_date = 10_000;
            invs.push(r);
        }
        invs.sort_by_key(|r| (r.invoice_date, r.key));
        let with_open = History::from_invoices_for_test(vec!["C0".into()], invs, 10_000);
        let before = m.dist(table, &h, 0, t);
        let after = m.dist(table, &with_open, 0, t);
        assert_eq!((after.settled, after.values.len(), after.steps.len()), (40, 40, 3));
        let total = |d: &CustomerDist| m.mass_ge(d, f64::NEG_INFINITY);
        assert!((total(&after) - total(&before) - 3.0).abs() < 1e-9, "{} {}", total(&after), total(&before));
        let shift = m.shift_with(table, &inv(0, 500, 0, "paper", 0));
        let bound = f64::from(t + 1 - 410) - shift;
        assert!((m.mass_ge(&after, bound) - m.mass_ge(&before, bound) - 3.0).abs() < 1e-9);
        let (b, a) = (m.predict(&before, shift, None), m.predict(&after, shift, None));
        assert!(a.q[2] > b.q[2] && a.p[0] > b.p[0], "{b:?} {a:?}");
        let below = |d: &CustomerDist| total(d) - m.mass_ge(d, bound);
        assert!((below(&after) - below(&before)).abs() < 1e-9, "nothing is added below the bound");
    }

    /// The indexed weights equal the sums over every point.
    #[test]
    fn indexed_weights_equal_point_by_point_sums() {
        let (h, m) = fitted();
        let wp = m.population_weight();
        for (c, t) in [(3, 200), (5, 250), (7, 150), (0, 10_000)] {
            let d = m.dist(m.channel_table(), &h, c, t);
            let brute = |x: f64, inclusive: bool| -> f64 {
                let keep = |v: f64| if inclusive { v <= x } else { v < x };
                d.values.iter().filter(|v| keep(**v)).map(|&v| d.factor(v)).sum::<f64>()
                    + m.population.iter().filter(|v| keep(**v)).map(|&v| wp * d.factor(v)).sum::<f64>()
            };
            let mut xs: Vec<f64> = d.values.iter().chain(&m.population).copied().collect();
            xs.extend(d.steps.iter().map(|s| s.0));
            xs.extend([-100.0, 0.0, 0.5, 100.0, f64::INFINITY]);
            for x in xs {
                for inclusive in [false, true] {
                    let (fast, slow) = (m.below(&d, x, inclusive), brute(x, inclusive));
                    assert!(
                        (fast - slow).abs() < 1e-9,
                        "customer {c} at {t}: below({x}, {inclusive}) {fast} vs {slow}"
                    );
                }
            }
        }
    }

    #[test]
    fn merged_quantiles_and_kernel_masses_equal_point_by_point_ones() {
        let (h, mut m) = fitted();
        m.kernel_days = 3.0;
        let wp = m.population_weight();
        let mut dists: Vec<CustomerDist> = [(3, 200), (5, 250), (7, 150), (0, 10_000)]
            .iter()
            .map(|&(c, t)| m.dist(m.channel_table(), &h, c, t))
            .collect();
        dists.push(m.no_history());
        for d in &dists {
            // Every point with its weight, in merged order (customer points first among equals).
            let mut pts: Vec<(f64, u8, f64)> = d.values.iter().map(|&v| (v, 0, d.factor(v))).collect();
            pts.extend(m.population.iter().map(|&v| (v, 1, wp * d.factor(v))));
            pts.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            let a = m.kernel_days;
            let kernel = |x: f64| -> f64 {
                pts.iter()
                    .map(|&(v, _, w)| {
                        let u = (x - v) / a;
                        w * if u <= -1.0 {
                            1.0
                        } else if u <= 0.0 {
                            1.0 - 0.5 * (1.0 + u) * (1.0 + u)
                        } else if u < 1.0 {
                            0.5 * (1.0 - u) * (1.0 - u)
                        } else {
                            0.0
                        }
                    })
                    .sum()
            };
            for x in [-40.0, -3.5, 0.0, 1.25, 7.0, 30.0, 90.0, 400.0] {
                let (fast, slow) = (m.mass_above(d, x), kernel(x));
                assert!((fast - slow).abs() < 1e-9, "mass above {x}: {fast} vs {slow}");
            }
            // Quantiles: the first point whose middle reaches each level, interpolated.
            let total: f64 = pts.iter().map(|p| p.2).sum();
            for lo in [f64::NEG_INFINITY, -5.0, 10.0] {
                let kept: Vec<&(f64, u8, f64)> = pts.iter().filter(|p| p.0 >= lo).collect();
                let t: f64 = kept.iter().map(|p| p.2).sum();
                if t <= 1e-9 {
                    continue;
                }
                let (mut cum, mut mids) = (0.0, Vec::new());
                for p in &kept {
                    mids.push((p.0, (cum + 0.5 * p.2) / t));
                    cum += p.2;
                }
                let o = m.predict(d, 0.0, lo.is_finite().then_some(lo));
                for (level, &l) in LEVELS.iter().enumerate() {
                    let want = match mids.iter().position(|p| p.1 >= l) {
                        None => mids.last().unwrap().0,
                        Some(0) => mids[0].0,
                        Some(k) => {
                            let ((pv, pm), (v, vm)) = (mids[k - 1], mids[k]);
                            pv + (v - pv) * (l - pm) / (vm - pm)
                        }
                    };
                    assert!((o.q[level] - want).abs() < 1e-9, "level {l} from {lo}: {} vs {want}", o.q[level]);
                }
            }
            assert!((total - m.total(d)).abs() < 1e-9);
        }
    }

    #[test]
    fn invalid_settings_are_refused() {
        let p = EmpiricalParams { prior_strength: -1.0, ..EmpiricalParams::default() };
        assert!(matches!(p.check(), Err(EmpiricalParamsError::Negative { name: "prior_strength", .. })));
        let p = EmpiricalParams { max_history: 0, ..EmpiricalParams::default() };
        assert!(p.check().is_err());
    }
}
