//! How much invoices' payment timing moves together, learned from the ledger itself
//! for the cash forecast's intervals.
//!
//! The forecast ties its draws by a Gaussian copula: an invoice's quantile level is
//! `Φ(√ρc·z_customer + √ρp·z_period + √(1−ρc−ρp)·ε)`. Under it, the normal scores
//! `z = Φ⁻¹(F(actual days))` of two invoices open at the same date correlate by `ρp`
//! across customers and by `ρc + ρp` within a customer. [`fit_remaining_time`] fits the
//! remaining-time model on older snapshots, scores newer ones whose outcome was known
//! by the as-of date, and estimates both from those pairs ([`estimate`]). A ledger
//! whose customers pay together gets wide intervals; one whose invoices move on their
//! own gets narrow ones.

use std::collections::BTreeMap;

use ndarray::{ArrayView2, Axis};
use serde::{Deserialize, Serialize};

use super::dataset::{newest_snapshot_days, open_rows, snapshot_rows, snapshot_sample, InvoiceView, SnapshotPlan};
use super::gbdt::{Gbdt, GbdtError, GbdtParams, Loss};
use super::payment::{PaymentDateModel, PaymentDateParams};
use crate::features::history::History;

/// Correlations of payment timing for the cash forecast's draws.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Copula {
    /// Shared by a customer's invoices.
    pub customer_corr: f64,
    /// Shared by every invoice in a draw (the portfolio running early or late).
    pub period_corr: f64,
    /// Scored invoice rows the estimate rests on.
    pub rows: usize,
    /// Snapshot dates they come from.
    pub snapshots: usize,
    /// How far a week's total inflow strays from the forecast's expectation beyond what
    /// the draws give, as a share of the expectation (see [`week_spread`]; 0: none found,
    /// or models saved before it).
    #[serde(default)]
    pub week_spread: f64,
    /// What the forecast's expectation of each week of the horizon is multiplied by
    /// (week 1 first), from how the weekly totals compared with what arrived over the
    /// newest weeks (see [`week_bias`]; all 1: none found, or models saved before it).
    #[serde(default = "no_week_bias")]
    pub week_bias: [f64; BIAS_WEEKS],
}

/// Weeks of the horizon [`Copula::week_bias`] covers (later weeks are left as they are).
pub const BIAS_WEEKS: usize = 13;

fn no_week_bias() -> [f64; BIAS_WEEKS] {
    [1.0; BIAS_WEEKS]
}

/// Largest correlations the estimate may take (a little room for each invoice's own
/// timing always remains).
const MAX_PERIOD: f64 = 0.5;
const MAX_CUSTOMER: f64 = 0.8;
const MAX_TOTAL: f64 = 0.9;

/// Quantile levels clipped to this distance from 0 and 1 (a day count far outside the
/// predicted range says "far out", not how far).
const CLIP: f64 = 0.01;

/// Quantile levels of [`knots`].
pub const KNOT_LEVELS: [f64; 9] = [0.0, 0.05, 0.1, 0.3, 0.5, 0.7, 0.9, 0.95, 1.0];

/// Knots of an invoice's payment-day distribution from its p10/p50/p90 days (at least
/// one day): days at [`KNOT_LEVELS`], read as a piecewise-linear distribution
/// function. The cash forecast draws from it. Between the model's quantiles (and the
/// tails' ends) the middle knots are geometric means, so each stretch holds more of its
/// mass towards its early end, as payment delays do (right-skewed).
pub fn knots(q: [f64; 3]) -> [f64; 9] {
    let q10 = q[0].max(1.0);
    let q50 = q[1].max(q10);
    let q90 = q[2].max(q50);
    let lo = (q10 - (q50 - q10).max(1.0)).max(0.5);
    let hi = q90 + 2.0 * (q90 - q50).max(1.0);
    let g = |a: f64, b: f64| (a * b).sqrt();
    [lo, g(lo, q10), q10, g(q10, q50), q50, g(q50, q90), q90, g(q90, hi), hi]
}

/// Days standing for "beyond the cash model's horizon" (`cap`): far enough out that no
/// bucket reaches them.
pub fn beyond(cap: f64) -> f64 {
    10.0 * cap
}

/// How much earlier than a model's quantile of whole days the continuous distribution
/// the forecast draws from puts that quantile. Labels are whole days L, and a draw x
/// lands on day ⌈x⌉, so the draws stand for X = L − U (U uniform on [0, 1)). A quantile
/// model of L gives a day q with P(L < q) ≤ τ ≤ P(L ≤ q), and X's τ-quantile lies in
/// (q − 1, q]: half a day earlier on average. Read at q itself, every quantile is half
/// a day late, and the first days get too little (backtests: weeks inside the
/// forecast's p10–p90 59.8% → 64.5%, 73.7% → 78.9% and 84.0% → 88.9% on two generated
/// ledgers and IBM; BENCHMARKS.md).
pub const WHOLE_DAY_OFFSET: f64 = 0.5;

/// Share of the quantiles' distribution within the horizon below which it gives no
/// usable shape to scale to the within-horizon probability.
const MIN_SHAPE: f64 = 0.05;

/// An open invoice's remaining-time distribution as the cash forecast draws from it:
/// the cash model's quantiles read as [`knots`], and a level scale. A draw at level `u`
/// lands `at_level(knots, u · scale)` days out, beyond the horizon when `u · scale ≥ 1`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CashDist {
    /// Days at [`KNOT_LEVELS`] (a quantile beyond the horizon far out, see [`beyond`]).
    pub knots: [f64; 9],
    /// Level scale (1: the quantiles alone).
    pub scale: f64,
}

impl CashDist {
    /// The quantiles' distribution alone.
    pub fn from_quantiles(q: [f64; 3]) -> Self {
        CashDist { knots: knots(q), scale: 1.0 }
    }

    /// The distribution of quantiles that a model fitted on whole days gives
    /// ([`WHOLE_DAY_OFFSET`]).
    pub fn from_whole_days(q: [f64; 3]) -> Self {
        Self::from_quantiles(q.map(|v| v - WHOLE_DAY_OFFSET))
    }

    /// The cash model's distribution of an open invoice: its p10/p50/p90 days (a
    /// quantile above `cap` means beyond the horizon) and, when the model has its
    /// classifier, the probability `within` of payment within `cap` days.
    ///
    /// The quantiles alone say little about how much of the distribution lies beyond
    /// the horizon: the few rows labelled "beyond" rarely pull a quantile model all the
    /// way to its label, so a long-overdue invoice gets, say, p10 at 68 days and p50 at
    /// 90, and [`knots`] then put half of it within a 91-day horizon. So the part of
    /// their distribution within the horizon keeps its shape and is scaled to carry
    /// `within` exactly, the rest lies beyond: the level scale is (its share by `cap`)
    /// / `within`. Unscaled when the quantiles put less than 5% within the horizon (no
    /// shape to scale) or `cap` is not finite.
    ///
    /// With `map`, the distribution is then recalibrated ([`LevelMap`]).
    pub fn new(q: [f64; 3], cap: f64, within: Option<f64>, map: Option<&LevelMap>) -> Self {
        Self::with_early(q, cap, within, &[], map)
    }

    /// [`Self::new`], and with `early` (the early-payment classifiers' probabilities
    /// of payment within their days) the distribution within the horizon reshaped to
    /// carry them by then ([`toward_early`]), before `map`.
    pub fn with_early(
        q: [f64; 3],
        cap: f64,
        within: Option<f64>,
        early: &[(f64, f64)],
        map: Option<&LevelMap>,
    ) -> Self {
        let k = knots(q.map(|v| if v > cap { beyond(cap) } else { v - WHOLE_DAY_OFFSET }));
        let scale = match within {
            Some(pi) if cap.is_finite() && pi.is_finite() => {
                let fc = level(&k, cap);
                if fc < MIN_SHAPE {
                    1.0
                } else {
                    fc / pi.clamp(1e-6, 1.0)
                }
            }
            _ => 1.0,
        };
        let k = if cap.is_finite() && !early.is_empty() { toward_early(&k, scale, cap, early) } else { k };
        let (k, scale) = match map {
            Some(m) => m.reknot(&k, scale),
            None => (k, scale),
        };
        CashDist { knots: k, scale }
    }

    /// Probability of payment within `days` (at most the horizon).
    pub fn level(&self, days: f64) -> f64 {
        (level(&self.knots, days) / self.scale).min(1.0)
    }

    /// Level of a payment on day `days` (a whole number): the middle of the levels of
    /// day `days − 1` and day `days`, as the forecast counts payments by the day.
    pub fn level_of_day(&self, days: f64) -> f64 {
        0.5 * (self.level(days - 1.0) + self.level(days))
    }

    /// Days at quantile level `u` ([`beyond`] the horizon `cap` past its share).
    pub fn at_level(&self, u: f64, cap: f64) -> f64 {
        let v = u * self.scale;
        if v >= 1.0 {
            beyond(cap).max(self.knots[8])
        } else {
            at_level(&self.knots, v)
        }
    }
}

/// Days of the early-payment classifiers ([`CashFit::early`]): the first week, the
/// forecast's first weekly bucket. (On the shared IBM data, one at 5 or 10 days did worse,
/// and a second one at 2, 4 or 14 days worse or no clearly better; BENCHMARKS.md.)
pub const EARLY_DAYS: [i32; 1] = [7];

/// Furthest an early-payment classifier moves the probability of payment by its day
/// from what the quantiles give, as a factor either way.
const MAX_EARLY_FACTOR: f64 = 3.0;

/// Knots `k` (read with level scale `scale`) reshaped so that the probability of
/// payment within `days` is `p`, for each `(days, p)` of `early` (ascending days):
/// with `F` the knots' distribution, `G = h(F)` where `h` is piecewise linear from 0
/// through each `F(days)` → `p` to the last knot level within the horizon `cap`, and
/// the identity past it (so the knots from there on, and the share by `cap`, stay).
/// The new knots sit at the fixed levels, so each point's target is solved for so that
/// the knots carry `p` by `days` (bisection, `SOLVE_STEPS`).
///
/// Three quantiles say little about how much of an invoice's distribution lies in the
/// next few days (remaining times mix invoices about to be paid with slow ones), and
/// the knots between them leave the first week short (in sample on a generated ledger:
/// 14.1% of the snapshot rows' probability against 15.9% paid); a classifier of "paid
/// within the week" learns it directly. A point is skipped where the knots put (almost)
/// nothing by its day or nothing after it within the horizon; each move is bounded by
/// `MAX_EARLY_FACTOR` and the points kept in order.
pub fn toward_early(k: &[f64; 9], scale: f64, cap: f64, early: &[(f64, f64)]) -> [f64; 9] {
    // Knots from the last one within the horizon on stay: so does the share by `cap`.
    let vw = KNOT_LEVELS.iter().copied().filter(|&l| l <= level(k, cap)).fold(0.0, f64::max);
    // (from, to) level pairs of h, ascending in both: the origin, a point per early
    // day, the end (no allocation: this runs for every open invoice).
    let mut pts = [(0.0, 0.0); EARLY_DAYS.len() + 2];
    let mut n = 1;
    for &(days, p) in early.iter().take(EARLY_DAYS.len()) {
        let v = level(k, days);
        let (lv, lt) = pts[n - 1];
        if !p.is_finite() || days >= cap || v < 1e-3 || v <= lv + 1e-3 || vw - v < 1e-3 {
            continue;
        }
        let hi = (v * MAX_EARLY_FACTOR).min(vw - 0.02 * (vw - v));
        let lo = (v / MAX_EARLY_FACTOR).max(lt + 1e-4);
        if hi <= lo {
            continue;
        }
        let want = (p * scale).clamp(lo, hi);
        // The new knots sit at the fixed levels, so the level they give by `days`
        // misses the one `h` puts there when `days` falls between two distant knots.
        // It rises with the point's target: bisect for the target that gives `want`.
        let (mut a, mut b, mut t) = (lo, hi, want);
        for _ in 0..SOLVE_STEPS {
            pts[n] = (v, t);
            pts[n + 1] = (vw, vw);
            let got = level(&reshape(k, &pts[..n + 2], vw), days);
            if (got - want).abs() < 1e-4 {
                break;
            }
            if got < want {
                a = t;
            } else {
                b = t;
            }
            t = 0.5 * (a + b);
        }
        pts[n] = (v, t);
        n += 1;
    }
    if n == 1 {
        return *k;
    }
    pts[n] = (vw, vw);
    reshape(k, &pts[..n + 1], vw)
}

/// Most bisection steps [`toward_early`] takes per point (the target's range over
/// 2¹² leaves the level by the day within about 1e-4 of the classifier's).
const SOLVE_STEPS: usize = 12;

/// Knots `k` read through `G = h(F)`, `h` through `pts` up to level `vw` and the
/// identity past it: each new knot is the old knots' day at `h⁻¹` of its level.
fn reshape(k: &[f64; 9], pts: &[(f64, f64)], vw: f64) -> [f64; 9] {
    let back = |l: f64| {
        if l >= vw {
            return l;
        }
        let j = pts.iter().position(|&(_, t)| t >= l).unwrap_or(pts.len() - 1).max(1);
        let ((v0, t0), (v1, t1)) = (pts[j - 1], pts[j]);
        if t1 > t0 {
            v0 + (l - t0) * (v1 - v0) / (t1 - t0)
        } else {
            v1
        }
    };
    let mut out = *k;
    for (o, &l) in out.iter_mut().zip(&KNOT_LEVELS).skip(1).take(7) {
        *o = at_level(k, back(l));
    }
    out
}

/// Grid of a [`LevelMap`]: levels `k / (MAP_POINTS − 1)`.
const MAP_POINTS: usize = 21;

/// Fewest scored rows a [`LevelMap`] is estimated from.
const MIN_MAP_ROWS: usize = 200;

/// Rows' worth of "calibrated as it is" each step of a [`LevelMap`] is shrunk towards.
const MAP_PRIOR: f64 = 100.0;

/// How the cash model's distributions should be read at the as-of date, learned from
/// how the model's own distributions did on the newest weeks: `g[k]` is the share of
/// the open invoices' amount (base currency) paid by the time each invoice's
/// distribution reached level `k/20` (by amount, as the forecast adds amounts: on
/// ledgers where large invoices pay later than the model expects, a count would move
/// the forecast too far). A calibrated model
/// has `g[k] = k/20`; one whose early tail is too thin (or a ledger paying faster than
/// the snapshots it learned from) has `g` above it. Reading each distribution through
/// `g` is quantile recalibration.
///
/// The newest weeks' outcomes are known only up to the as-of date, so the shares are a
/// Kaplan–Meier estimate over levels: an invoice still unpaid at the as-of date counts
/// as "past the level it had reached". Each grid step's hazard is shrunk towards the
/// calibrated one by `MAP_PRIOR` rows, so levels few invoices reached stay close to
/// nominal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LevelMap {
    /// Calibrated level at each grid level, 0 first, 1 last, increasing.
    pub g: Vec<f64>,
    /// Scored rows it rests on.
    pub rows: usize,
    /// The map of invoices past due at the time (None: this one for them too). Past
    /// due, the classifier's share within the horizon does much of the placing, and
    /// the model can be off there in its own way (maps saved before it read None).
    #[serde(default)]
    pub overdue: Option<Box<LevelMap>>,
}

/// A scored outcome for [`LevelMap::estimate`]: the level of the invoice's distribution
/// at its payment day, or, when it was still unpaid, the level reached by then.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LevelObs {
    /// Level in [0, 1].
    pub level: f64,
    /// Paid at `level` (false: unpaid through it).
    pub paid: bool,
    /// Weight (the invoice's amount in the base currency: the forecast adds amounts, not
    /// invoices).
    pub weight: f64,
}

impl LevelMap {
    /// The map from scored outcomes; None with fewer than `MIN_MAP_ROWS` or no
    /// positive weight.
    pub fn estimate(obs: &[LevelObs]) -> Option<Self> {
        let total: f64 = obs.iter().map(|o| o.weight.max(0.0)).sum();
        if obs.len() < MIN_MAP_ROWS || total <= 0.0 || !total.is_finite() {
            return None;
        }
        // The prior in weight: MAP_PRIOR rows of the mean weight.
        let prior = MAP_PRIOR * total / obs.len() as f64;
        let last = MAP_POINTS - 1;
        let step = |v: f64| ((v.clamp(0.0, 1.0) * last as f64).floor() as usize).min(last - 1);
        // Per grid step: weight paid in it, and weight whose observation ends in it (at
        // risk through it; unpaid, at risk for half of it).
        let mut paid = vec![0.0; last];
        let mut ends = vec![0.0; last];
        let mut censored = vec![0.0; last];
        for o in obs {
            let (k, w) = (step(o.level), o.weight.max(0.0));
            ends[k] += w;
            if o.paid {
                paid[k] += w;
            } else {
                censored[k] += w;
            }
        }
        let mut at_risk = total;
        let mut survive = 1.0;
        let mut g = Vec::with_capacity(MAP_POINTS);
        for k in 0..last {
            g.push(1.0 - survive);
            let nominal = 1.0 / (last - k) as f64;
            let exposed = (at_risk - 0.5 * censored[k]).max(0.0);
            let hazard = ((paid[k] + prior * nominal) / (exposed + prior)).clamp(0.0, 1.0);
            survive *= 1.0 - hazard;
            at_risk -= ends[k];
        }
        g.push(1.0);
        Some(LevelMap { g, rows: obs.len(), overdue: None })
    }

    /// The map for an invoice past due or not.
    pub fn for_row(&self, past_due: bool) -> &LevelMap {
        match (&self.overdue, past_due) {
            (Some(o), true) => o,
            _ => self,
        }
    }

    /// Calibrated level of nominal level `p`.
    pub fn apply(&self, p: f64) -> f64 {
        let last = (self.g.len() - 1) as f64;
        let t = (p.clamp(0.0, 1.0) * last).min(last - 1e-12);
        let k = t as usize;
        self.g[k] + (t - k as f64) * (self.g[k + 1] - self.g[k])
    }

    /// The knots and level scale of `k` read with `scale`, recalibrated: the whole
    /// distribution function `F` becomes `g(F)`. The knots end where `F` reaches `W`
    /// (`1/scale`, at most 1); they now end where `g(F)` reaches `g(W)`, and the knot
    /// at level `p` of them moves to `k`'s day where `g(F) = p·g(W)`.
    fn reknot(&self, k: &[f64; 9], scale: f64) -> ([f64; 9], f64) {
        let whole = (1.0 / scale).min(1.0);
        let top = self.apply(whole);
        if top <= 0.0 {
            return (*k, scale);
        }
        // `at_level(k, scale · g⁻¹(p · top))` for the increasing knot levels `p`,
        // walking the map and the knots once each (this runs for every open invoice).
        let (g, last) = (&self.g, self.g.len() - 1);
        let (mut j, mut seg) = (1, 0);
        let mut out = *k;
        for (o, &p) in out.iter_mut().zip(&KNOT_LEVELS).skip(1) {
            let q = (p * top).clamp(0.0, 1.0);
            while j < last && g[j] < q {
                j += 1;
            }
            let (a, b) = (g[j - 1], g[j]);
            let t = if b > a { (q - a) / (b - a) } else { 1.0 };
            let u = (scale * ((j - 1) as f64 + t) / last as f64).min(1.0);
            while seg < 7 && u > KNOT_LEVELS[seg + 1] {
                seg += 1;
            }
            let (p0, p1) = (KNOT_LEVELS[seg], KNOT_LEVELS[seg + 1]);
            *o = k[seg] + (u - p0) / (p1 - p0) * (k[seg + 1] - k[seg]);
        }
        (out, 1.0 / top)
    }
}

/// Days from the as-of date to the due date of each row of `x`, 0 for rows past due:
/// what a cash model fitted `from_due` adds to its quantiles.
fn days_to_due<'a>(x: ArrayView2<'a, f64>) -> impl Iterator<Item = f64> + 'a {
    let j = super::dataset::feature_index("inv.days_to_due");
    x.index_axis_move(Axis(1), j).into_iter().map(|&v| v.max(0.0))
}

/// The cash model's targets for snapshot rows `x` with days until payment `remaining`:
/// those days, or with `from_due` the days after the later of the snapshot date and
/// the due date.
pub fn remaining_targets(x: ArrayView2<'_, f64>, remaining: &[f64], from_due: bool) -> Vec<f64> {
    if from_due {
        remaining.iter().zip(days_to_due(x)).map(|(r, o)| r - o).collect()
    } else {
        remaining.to_vec()
    }
}

/// The cash model's p10/p50/p90 days until payment of each row of `x` (for a model
/// fitted [`PaymentDateModel::from_due`], its quantiles plus the days to the due date).
///
/// # Errors
/// [`GbdtError::Features`] on an input width mismatch.
pub fn remaining_quantiles(model: &PaymentDateModel, x: ArrayView2<'_, f64>) -> Result<Vec<[f64; 3]>, GbdtError> {
    let q = model.predict(x)?;
    if !model.from_due {
        return Ok(q);
    }
    Ok(q.into_iter().zip(days_to_due(x)).map(|(q, o)| q.map(|v| v + o)).collect())
}

/// Every row's [`CashDist`]: the remaining-time quantiles of `model`, with the
/// classifier its probability of payment within `cap` days, with `map` recalibrated
/// (its overdue map for rows past due).
///
/// # Errors
/// [`GbdtError::Features`] on an input width mismatch.
pub fn predict_dists(
    model: &PaymentDateModel,
    within: Option<&Gbdt>,
    early: &[(i32, Gbdt)],
    map: Option<&LevelMap>,
    x: ArrayView2<'_, f64>,
    cap: f64,
) -> Result<Vec<CashDist>, GbdtError> {
    let q = remaining_quantiles(model, x)?;
    let pi = within.map(|w| w.predict(x)).transpose()?;
    let pe = early.iter().map(|(t, m)| Ok((f64::from(*t), m.predict(x)?))).collect::<Result<Vec<_>, GbdtError>>()?;
    let past_due = super::dataset::feature_index("inv.is_past_due");
    Ok((0..q.len())
        .map(|i| {
            let m = map.map(|m| m.for_row(x[[i, past_due]] > 0.5));
            // No allocation per row (this runs for every open invoice).
            let mut e = [(0.0, 0.0); EARLY_DAYS.len()];
            let n = pe.len().min(e.len());
            for (o, (t, p)) in e.iter_mut().zip(&pe) {
                *o = (*t, p[i]);
            }
            CashDist::with_early(q[i], cap, pi.as_ref().map(|p| p[i]), &e[..n], m)
        })
        .collect())
}

/// Days at quantile level `u` under [`knots`] `k` (the inverse of [`level`]).
pub fn at_level(k: &[f64; 9], u: f64) -> f64 {
    let p = KNOT_LEVELS;
    if u <= 0.0 {
        return k[0];
    }
    for s in 0..8 {
        if u <= p[s + 1] {
            return k[s] + (u - p[s]) / (p[s + 1] - p[s]) * (k[s + 1] - k[s]);
        }
    }
    k[8]
}

/// Quantile level of `days` under [`knots`] `k`.
pub fn level(k: &[f64; 9], days: f64) -> f64 {
    const P: [f64; 9] = KNOT_LEVELS;
    if days <= k[0] {
        return 0.0;
    }
    for s in 0..8 {
        if days <= k[s + 1] {
            let w = k[s + 1] - k[s];
            let t = if w > 0.0 { (days - k[s]) / w } else { 1.0 };
            return P[s] + (P[s + 1] - P[s]) * t;
        }
    }
    1.0
}

/// Standard normal quantile (Acklam's rational approximation, |error| < 1.2e-9).
pub fn norm_inv(p: f64) -> f64 {
    const A: [f64; 6] = [
        -39.696_830_286_653_76,
        220.946_098_424_520_5,
        -275.928_510_446_968_7,
        138.357_751_867_269,
        -30.664_798_066_147_16,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -54.476_098_798_224_06,
        161.585_836_858_040_9,
        -155.698_979_859_886_6,
        66.801_311_887_719_72,
        -13.280_681_552_885_72,
    ];
    const C: [f64; 6] = [
        -0.007_784_894_002_430_293,
        -0.322_396_458_041_136_5,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] =
        [0.007_784_695_709_041_462, 0.322_467_129_070_039_8, 2.445_134_137_142_996, 3.754_408_661_907_416];
    let p = p.clamp(1e-12, 1.0 - 1e-12);
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < 0.02425 {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - 0.02425 {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

/// One scored invoice: the snapshot date it was open at, its customer, and the normal
/// score of its actual payment day under its predicted distribution.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Score {
    /// Snapshot day.
    pub day: i32,
    /// Customer index.
    pub cust: usize,
    /// `Φ⁻¹(F(actual))`.
    pub z: f64,
}

/// Moment estimate of the correlations from scores: pairs of invoices of different
/// customers open at the same date give `ρp`, pairs of one customer's invoices
/// `ρc + ρp`, each relative to the scores' variance. `None` with fewer than two dates
/// (or one date holding nearly all scores), 100 scores or 30 pairs of either kind.
///
/// The scores are centred on their mean first. The model that scores them is fitted on
/// older snapshots and read without the newest weeks' recalibration, so its scores may
/// all lean one way, at every date alike; uncentred, such a lean would read as a shock
/// the portfolio shares date by date, and widen every forecast's intervals, though the
/// shipped model is recalibrated on those weeks, [`week_bias`] scales each week of the
/// horizon by how it ran there, and a miss left after that is what [`week_spread`]
/// measures. The mean also takes in part of the dates' own shocks
/// (all of them with one date): the pairs are scaled back by how much, `1 − 2w + Σw²`
/// for a date holding the share `w` of the scores.
pub fn estimate(scores: &[Score]) -> Option<Copula> {
    if scores.len() < 100 {
        return None;
    }
    let total = scores.len() as f64;
    let mean = scores.iter().map(|s| s.z).sum::<f64>() / total;
    let mut by_day: BTreeMap<i32, BTreeMap<usize, (f64, f64, f64)>> = BTreeMap::new();
    for s in scores {
        let z = s.z - mean;
        let e = by_day.entry(s.day).or_default().entry(s.cust).or_default();
        *e = (e.0 + 1.0, e.1 + z, e.2 + z * z);
    }
    if by_day.len() < 2 {
        return None;
    }
    // Each date's number of scores, and the sum of the squares of the dates' shares.
    let size = |custs: &BTreeMap<usize, (f64, f64, f64)>| custs.values().map(|c| c.0).sum::<f64>();
    let shares_sq: f64 = by_day.values().map(|c| (size(c) / total).powi(2)).sum();
    let (mut cross, mut n_cross, mut within, mut n_within) = (0.0, 0.0, 0.0, 0.0);
    // How much of a date's shock its pairs keep once centred, weighted by pairs.
    let (mut kept_cross, mut kept_within) = (0.0, 0.0);
    for custs in by_day.values() {
        let (n, sum): (f64, f64) = custs.values().fold((0.0, 0.0), |a, c| (a.0 + c.0, a.1 + c.1));
        let (sq_n, sq_sum) = custs.values().fold((0.0, 0.0), |a, c| (a.0 + c.0 * c.0, a.1 + c.1 * c.1));
        let kept = 1.0 - 2.0 * n / total + shares_sq;
        // Ordered pairs: all products minus those within a customer.
        cross += sum * sum - sq_sum;
        n_cross += n * n - sq_n;
        kept_cross += kept * (n * n - sq_n);
        let mut pairs = 0.0;
        for c in custs.values() {
            within += c.1 * c.1 - c.2;
            pairs += c.0 * c.0 - c.0;
        }
        n_within += pairs;
        kept_within += kept * pairs;
    }
    if n_cross < 30.0 || n_within < 30.0 {
        return None;
    }
    let (kept_cross, kept_within) = (kept_cross / n_cross, kept_within / n_within);
    if kept_cross < MIN_KEPT {
        return None;
    }
    let var = scores.iter().map(|s| (s.z - mean).powi(2)).sum::<f64>() / total;
    if var <= 0.0 {
        return None;
    }
    let period = (cross / n_cross / var / kept_cross).clamp(0.0, MAX_PERIOD);
    let customer = (within / n_within / var - period * kept_within).clamp(0.0, MAX_CUSTOMER).min(MAX_TOTAL - period);
    Some(Copula {
        customer_corr: customer,
        period_corr: period,
        rows: scores.len(),
        snapshots: by_day.len(),
        week_spread: 0.0,
        week_bias: no_week_bias(),
    })
}

/// Least share of the dates' shocks the centred pairs must keep for [`estimate`] to
/// read them (two dates of equal size keep half).
const MIN_KEPT: f64 = 0.25;

/// One week of a forecast made at an earlier date, and what arrived in it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WeekOutcome {
    /// Expected inflow.
    pub expected: f64,
    /// 10th percentile of the draws.
    pub p10: f64,
    /// 90th percentile of the draws.
    pub p90: f64,
    /// What arrived.
    pub actual: f64,
}

/// Fewest weeks [`week_spread`] is estimated from.
const MIN_SPREAD_WEEKS: usize = 8;

/// Largest [`week_spread`].
const MAX_SPREAD: f64 = 1.0;

/// Normal quantile at 0.9: a p10–p90 interval is ±`Z90` standard deviations wide.
const Z90: f64 = 1.281_551_6;

/// The spread `τ` of a factor `exp(τz − τ²/2)` (z standard normal, one per week and
/// draw) that the forecast's weekly draws need for their intervals to hold the weeks'
/// totals as they strayed from their expectations over `weeks`: the larger of
///
/// - the spread that matches the misses' variance, `τ² = Σ((A − E)² − σ²) / Σ(E² + σ²)`,
///   with `σ` the draws' own standard deviation read from their p10–p90 (a normal's
///   2·1.2816σ) and the factor adding about `τ²(E² + σ²)` to their variance; and
/// - the spread that puts 80% of the weeks inside their intervals: a week outside needs
///   `τ² = ((A − E)² − h²) / (1.2816²(E² + σ²))`, `h` the interval's half on the side
///   of `A` (the interval widened by the factor's p10–p90 on top of its own), and the
///   80th percentile of the weeks' needs is taken. A miss the same way at every date
///   (a bias) is covered less well by a spread matched on the variance alone.
///
/// 0 when the draws already allow for the misses; None with fewer than
/// `MIN_SPREAD_WEEKS` weeks or no expectation.
///
/// The draws tie invoices by customer and by date, but each invoice still draws from its
/// own distribution: where the distributions are off in the same way for many invoices
/// (a shape the model misses, a market paying faster this season), the weekly totals
/// miss by more than the draws allow, the more invoices a week holds (the draws' relative
/// spread shrinks with their number, a shared miss does not).
pub fn week_spread(weeks: &[WeekOutcome]) -> Option<f64> {
    if weeks.len() < MIN_SPREAD_WEEKS {
        return None;
    }
    let sd = |w: &WeekOutcome| ((w.p90 - w.p10) / (2.0 * Z90)).max(0.0);
    let (mut excess, mut scale) = (0.0, 0.0);
    for w in weeks {
        let s = sd(w);
        excess += (w.actual - w.expected).powi(2) - s * s;
        scale += w.expected * w.expected + s * s;
    }
    if !(scale > 0.0 && excess.is_finite()) {
        return None;
    }
    let by_variance = (excess.max(0.0) / scale).sqrt();
    // Weeks with nothing expected and nothing arrived are inside any interval and say
    // nothing of its width (as the backtest counts them).
    let mut need: Vec<f64> = weeks
        .iter()
        .filter(|w| w.expected > 0.0 || w.actual > 0.0)
        .map(|w| {
            let half = if w.actual >= w.expected { w.p90 - w.expected } else { w.expected - w.p10 }.max(0.0);
            let over = (w.actual - w.expected).powi(2) - half * half;
            let t2 = over / (Z90 * Z90 * (w.expected.powi(2) + sd(w).powi(2)));
            if over <= 0.0 {
                0.0
            } else if t2.is_finite() {
                t2.sqrt()
            } else {
                // Nothing expected or drawn, yet something arrived: no spread of the
                // expectation reaches it.
                MAX_SPREAD
            }
        })
        .collect();
    if need.is_empty() {
        return Some(by_variance.min(MAX_SPREAD));
    }
    need.sort_by(f64::total_cmp);
    let by_coverage = crate::features::stats::quantile_sorted(&need, 0.8);
    Some(by_variance.max(by_coverage).min(MAX_SPREAD))
}

/// Fewest weeks of one week of the horizon [`week_bias`] reads.
const MIN_BIAS_WEEKS: usize = 3;

/// Spread of the weekly biases [`week_bias`] expects before it reads any (the prior's
/// standard deviation: a forecast off by more than 5% in a week of the horizon is
/// unusual, and a few noisy weeks should not move it far).
const BIAS_PRIOR_SD: f64 = 0.05;

/// Furthest [`week_bias`] scales a week, either way.
const MAX_BIAS: f64 = 1.25;

/// Factors for the forecast's expectation of each week of the horizon, from `weeks`,
/// each with its week of the horizon (1 first), as forecast at the newest snapshots and
/// known by the as-of date. For week `w` the ratio of what arrived to what was expected,
/// `r = ΣA / ΣE`, is shrunk towards 1 by how sure it is: `1 + k(r − 1)` with
/// `k = s0² / (s0² + v/n)`, `v` the amount-weighted variance of the weeks' own ratios
/// around `r`, `n` their number and `s0` 0.05; within 0.8 and 1.25. 1 for a week with
/// fewer than three weeks or nothing expected.
///
/// The distributions are calibrated invoice by invoice (the level map), but a shape they
/// share can still put a week's cash a little late or early for most of them: on
/// generated ledgers of 100,000 invoices and more week 2 ran at 0.91 of what arrived at
/// every backtest date, a miss the draws do not allow for and the weekly spread covers
/// only by widening every week.
pub fn week_bias(weeks: &[(i32, WeekOutcome)]) -> [f64; BIAS_WEEKS] {
    let mut out = no_week_bias();
    for (w, f) in out.iter_mut().enumerate() {
        let obs: Vec<&WeekOutcome> = weeks.iter().filter(|(i, _)| *i == w as i32 + 1).map(|(_, o)| o).collect();
        let expected: f64 = obs.iter().map(|o| o.expected).sum();
        if obs.len() < MIN_BIAS_WEEKS || expected <= 0.0 {
            continue;
        }
        let r = obs.iter().map(|o| o.actual).sum::<f64>() / expected;
        let v = obs
            .iter()
            .filter(|o| o.expected > 0.0)
            .map(|o| o.expected * (o.actual / o.expected - r).powi(2))
            .sum::<f64>()
            / expected;
        let prior = BIAS_PRIOR_SD * BIAS_PRIOR_SD;
        let k = prior / (prior + v / obs.len() as f64);
        *f = (1.0 + k * (r - 1.0)).clamp(1.0 / MAX_BIAS, MAX_BIAS);
    }
    out
}

/// What [`fit_remaining_time`] learns.
#[derive(Debug, Clone, Default)]
pub struct CashFit {
    /// The remaining-time quantiles (None with fewer than 50 snapshot rows).
    pub model: Option<PaymentDateModel>,
    /// P(paid within the horizon) (None without the quantiles or with one class only).
    pub within: Option<Gbdt>,
    /// The timing correlations (None: too few snapshots to score out of sample).
    pub copula: Option<Copula>,
    /// The recalibration of the distributions within the horizon (None: too few
    /// snapshots to score out of sample).
    pub levels: Option<LevelMap>,
    /// P(paid within so many days) for the days of [`EARLY_DAYS`] (ascending; a day
    /// whose rows are all on one side has none).
    pub early: Vec<(i32, Gbdt)>,
    /// Snapshot rows.
    pub rows: usize,
}

/// The [`LevelMap`]s of the cash model at `d` (not yet due, and past due) from the open
/// invoices of the snapshots
/// every `plan.step` days newer than its newest training snapshot (`d − horizon`), the
/// newest first, each sampled as the training snapshots are ([`snapshot_sample`]), and
/// no more once `plan.max_rows` rows are read. They are out of sample
/// for the model, and their outcomes are read as known at `d`: an invoice paid after
/// `d` counts as unpaid through the level it had reached at `d`.
fn recent_levels(
    h: &History,
    d: i32,
    horizon: i32,
    plan: SnapshotPlan,
    model: &PaymentDateModel,
    within: Option<&Gbdt>,
    early: &[(i32, Gbdt)],
) -> Result<Option<LevelMap>, GbdtError> {
    let cap = f64::from(horizon);
    let past_due = super::dataset::feature_index("inv.is_past_due");
    let (mut obs, mut due, mut over) = (Vec::new(), Vec::new(), Vec::new());
    for s in newest_snapshot_days(d, horizon, plan) {
        if obs.len() >= plan.max_rows {
            break;
        }
        let sample = snapshot_sample(h, s, plan);
        let rows = open_rows(h, s, InvoiceView::AtDate, |p| sample.keeps(p));
        if !rows.is_empty() {
            let dists = predict_dists(model, within, early, None, rows.x.view(), cap)?;
            for (i, (k, &p)) in dists.iter().zip(&rows.pos).enumerate() {
                let inv = h.invoices[p];
                let weight = rows.amount_base[i];
                let o = if inv.paid_date <= d {
                    LevelObs { level: k.level_of_day(f64::from(inv.paid_day_after(s) - s)), paid: true, weight }
                } else {
                    LevelObs { level: k.level(f64::from(d - s)), paid: false, weight }
                };
                obs.push(o);
                if rows.x[[i, past_due]] > 0.5 {
                    over.push(o);
                } else {
                    due.push(o);
                }
            }
        }
    }
    // Invoices not yet due get their own map, those past due theirs; a group with too
    // few rows takes the map of all.
    let all = LevelMap::estimate(&obs);
    let overdue = LevelMap::estimate(&over).or_else(|| all.clone());
    Ok(LevelMap::estimate(&due).or(all).map(|mut m| {
        m.overdue = overdue.map(Box::new);
        m
    }))
}

/// The within-horizon classifier's settings, from the cash model's: half the trees at
/// twice the rate (one binary split of the outcome, not three quantiles to place).
fn within_params(p: &PaymentDateParams) -> GbdtParams {
    p.trees(Loss::Logistic, p.min_data_in_leaf)
        .n_trees((p.n_trees / 2).max(1))
        .learning_rate((p.learning_rate * 2.0).min(1.0))
}

/// P(paid within `horizon` days) fitted on snapshot rows `x` with remaining times `y`
/// (capped at `horizon + 1`); None when every row is on one side.
fn fit_within(
    p: &PaymentDateParams,
    x: ArrayView2<'_, f64>,
    y: &[f64],
    horizon: i32,
) -> Result<Option<Gbdt>, GbdtError> {
    let label: Vec<f64> = y.iter().map(|&v| f64::from(u8::from(v <= f64::from(horizon)))).collect();
    let ones = label.iter().filter(|&&v| v > 0.0).count();
    if ones == 0 || ones == label.len() {
        return Ok(None);
    }
    within_params(p).fit(x, &label).map(Some)
}

/// The remaining-time (cash) model at `d` on snapshots every `step` days (at most
/// `max_snapshots`, the newest `horizon` days before `d`), its probability of payment
/// within the horizon, and the timing correlations its forecast should draw with.
///
/// The correlations come from a second fit: the newest quarter of the snapshots is
/// scored by a model fitted only on snapshots whose outcomes were all known by the
/// first of them, so the scores are out of sample and nothing after `d` is read.
/// `None` (the forecast's defaults apply) when there are too few snapshots for both.
///
/// # Errors
/// [`GbdtError`] from fitting.
pub fn fit_remaining_time(
    h: &History,
    d: i32,
    horizon: i32,
    plan: SnapshotPlan,
    params: &PaymentDateParams,
) -> Result<CashFit, GbdtError> {
    let (snap, remaining, day) = snapshot_rows(h, d, horizon, plan);
    let n = snap.len();
    let mut out = CashFit { rows: n, ..CashFit::default() };
    if n < 50 {
        return Ok(out);
    }
    // The quantiles' target (the classifiers keep the days after the snapshot date:
    // "within so many days" is about the horizon).
    let target = remaining_targets(snap.x.view(), &remaining, plan.from_due);
    out.model = Some(PaymentDateModel { from_due: plan.from_due, ..params.fit(snap.x.view(), &target, None, None)? });
    out.within = fit_within(params, snap.x.view(), &remaining, horizon)?;
    for t in EARLY_DAYS.into_iter().filter(|&t| t < horizon) {
        if let Some(m) = fit_within(params, snap.x.view(), &remaining, t)? {
            out.early.push((t, m));
        }
    }
    let cap = f64::from(horizon);
    if let (Some(model), true) = (&out.model, plan.recalibrate) {
        out.levels = recent_levels(h, d, horizon, plan, model, out.within.as_ref(), &out.early)?;
    }
    let mut days: Vec<i32> = day.clone();
    days.sort_unstable();
    days.dedup();
    let n_cal = (days.len() / 4).max(2);
    if days.len() < n_cal + 2 {
        return Ok(out);
    }
    let first_cal = days[days.len() - n_cal];
    // Outcomes of the fitting snapshots are known by `first_cal` (labels look `horizon`
    // days ahead, one more for "beyond").
    let fit_rows: Vec<usize> = (0..snap.len()).filter(|&i| day[i] + horizon < first_cal).collect();
    let cal_rows: Vec<usize> = (0..snap.len()).filter(|&i| day[i] >= first_cal).collect();
    if fit_rows.len() < 50 || cal_rows.len() < 100 {
        return Ok(out);
    }
    let y: Vec<f64> = fit_rows.iter().map(|&i| remaining[i]).collect();
    let yq: Vec<f64> = fit_rows.iter().map(|&i| target[i]).collect();
    // The early model only places the calibration snapshots' outcomes for the
    // correlations: half the trees at twice the rate do that as well (BENCHMARKS.md,
    // "Cash forecast speed") and take half the time.
    let quick = PaymentDateParams {
        n_trees: (params.n_trees / 2).max(1),
        learning_rate: (params.learning_rate * 2.0).min(1.0),
        ..params.clone()
    };
    let xf = snap.x.select(Axis(0), &fit_rows);
    let early = PaymentDateModel { from_due: plan.from_due, ..quick.fit(xf.view(), &yq, None, None)? };
    let early_within = fit_within(&quick, xf.view(), &y, horizon)?;
    let xc = snap.x.select(Axis(0), &cal_rows);
    let dists = predict_dists(&early, early_within.as_ref(), &[], None, xc.view(), cap)?;
    let scores: Vec<Score> = cal_rows
        .iter()
        .zip(&dists)
        .map(|(&i, k)| {
            let u = if remaining[i] > cap {
                // Not paid within the horizon: somewhere past it.
                0.5 * (k.level(cap) + 1.0)
            } else {
                k.level(remaining[i])
            };
            Score { day: day[i], cust: snap.cust[i], z: norm_inv(u.clamp(CLIP, 1.0 - CLIP)) }
        })
        .collect();
    out.copula = estimate(&scores);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::dataset::feature_index;
    use crate::rng::Rng;

    /// Scores drawn from the copula itself: `days` dates, `custs` customers with
    /// `per` invoices each.
    fn draws(rho_c: f64, rho_p: f64, days: usize, custs: usize, per: usize, seed: u64) -> Vec<Score> {
        let mut r = Rng::new(seed, 0);
        let mut out = Vec::new();
        for day in 0..days {
            let zp = r.normal();
            for cust in 0..custs {
                let zc = r.normal();
                for _ in 0..per {
                    let z = rho_c.sqrt() * zc + rho_p.sqrt() * zp + (1.0 - rho_c - rho_p).sqrt() * r.normal();
                    out.push(Score { day: day as i32, cust, z });
                }
            }
        }
        out
    }

    /// Weeks whose misses the draws' p10–p90 already allow need no spread; weeks that
    /// all miss by a fifth with tight draws need about a fifth; few weeks say nothing.
    #[test]
    fn the_week_spread_is_the_miss_beyond_the_draws() {
        let mut r = Rng::new(3, 0);
        // Draws' standard deviation 10% of the expectation, misses drawn with it.
        let within: Vec<WeekOutcome> = (0..200)
            .map(|k| {
                let e = 1_000.0 + 50.0 * f64::from(k % 7);
                let sd = 0.1 * e;
                WeekOutcome { expected: e, p10: e - 1.2816 * sd, p90: e + 1.2816 * sd, actual: e + sd * r.normal() }
            })
            .collect();
        let t = week_spread(&within).expect("enough weeks");
        assert!(t < 0.04, "{t}");
        // The same expectations, p10–p90 a tenth as wide, every actual a fifth off
        // either way.
        let missed: Vec<WeekOutcome> = within
            .iter()
            .enumerate()
            .map(|(k, w)| {
                let sd = 0.01 * w.expected;
                let sign = if k % 2 == 0 { 1.0 } else { -1.0 };
                WeekOutcome {
                    p10: w.expected - 1.2816 * sd,
                    p90: w.expected + 1.2816 * sd,
                    actual: w.expected * (1.0 + 0.2 * sign),
                    ..*w
                }
            })
            .collect();
        let t = week_spread(&missed).expect("enough weeks");
        assert!((t - 0.2).abs() < 0.01, "{t}");
        // Most weeks right on, a quarter far off: the variance is matched by a small
        // spread, which would leave those weeks outside; 80% inside needs more.
        let biased: Vec<WeekOutcome> = within
            .iter()
            .enumerate()
            .map(|(k, w)| {
                let sd = 0.01 * w.expected;
                let miss = if k % 4 == 0 { 0.1 } else { 0.0 };
                WeekOutcome {
                    p10: w.expected - 1.2816 * sd,
                    p90: w.expected + 1.2816 * sd,
                    actual: w.expected * (1.0 + miss),
                    ..*w
                }
            })
            .collect();
        let t = week_spread(&biased).expect("enough weeks");
        // Variance alone: sqrt(0.25 · 0.1²) = 0.05; inside: 0.1 / 1.2816 = 0.078.
        assert!(t > 0.07 && t < 0.08, "{t}");
        assert!(week_spread(&missed[..MIN_SPREAD_WEEKS - 1]).is_none());
        let nothing: Vec<WeekOutcome> =
            missed.iter().map(|w| WeekOutcome { expected: 0.0, p10: 0.0, p90: 0.0, ..*w }).collect();
        assert!(week_spread(&nothing).is_none(), "no expectation to scale");
    }

    /// Weeks that all ran 10% over what arrived give a factor near 0.9 when the weeks
    /// agree, one pulled towards 1 when they scatter, and 1 with fewer than three weeks
    /// or nothing expected; a miss beyond the bounds stops at them.
    #[test]
    fn the_week_bias_reads_a_shared_miss_and_shrinks_a_noisy_one() {
        let mut r = Rng::new(5, 0);
        let week = |w: i32, expected: f64, actual: f64| {
            (w, WeekOutcome { expected, p10: 0.9 * expected, p90: 1.1 * expected, actual })
        };
        let mut weeks = Vec::new();
        for _ in 0..12 {
            // Week 1: 10% over, each week within 1% of it; week 2: 10% over on average,
            // each week 40% either way; week 3: twice what arrived; week 4: two weeks.
            weeks.push(week(1, 1_000.0, 1_000.0 / 1.1 * (1.0 + 0.01 * r.normal())));
            weeks.push(week(2, 1_000.0, 1_000.0 / 1.1 * (1.0 + 0.4 * r.normal())));
            weeks.push(week(3, 1_000.0, 500.0));
        }
        weeks.push(week(4, 1_000.0, 500.0));
        weeks.push(week(4, 1_000.0, 500.0));
        weeks.push(week(5, 0.0, 500.0));
        weeks.push(week(5, 0.0, 500.0));
        weeks.push(week(5, 0.0, 500.0));
        let b = week_bias(&weeks);
        assert!((b[0] - 1.0 / 1.1).abs() < 0.01, "{b:?}");
        assert!(b[1] > b[0] + 0.03 && b[1] < 1.0, "{b:?}");
        assert!((b[2] - 1.0 / MAX_BIAS).abs() < 1e-9, "{b:?}");
        assert_eq!(&b[3..], &[1.0; BIAS_WEEKS - 3], "{b:?}");
    }

    #[test]
    fn the_estimate_recovers_the_correlations_it_was_drawn_with() {
        for (rc, rp) in [(0.0, 0.0), (0.4, 0.1), (0.2, 0.3)] {
            // The period correlation rests on one shock per date: 150 dates leave its
            // estimate a standard error of about ρp·√(2/150) ≈ 0.035 at ρp = 0.3.
            let c = estimate(&draws(rc, rp, 150, 30, 3, 7)).expect("enough scores");
            assert!((c.customer_corr - rc).abs() < 0.06, "customer {} vs {rc}", c.customer_corr);
            assert!((c.period_corr - rp).abs() < 0.1, "period {} vs {rp}", c.period_corr);
            assert_eq!((c.rows, c.snapshots), (150 * 30 * 3, 150));
        }
    }

    /// Scores that all lean one way at every date (a model biased alike throughout)
    /// give the same correlations as without the lean: it is no shock the dates differ
    /// by. Over few dates the estimate of the period correlation is still right on
    /// average, the share of the dates' shocks the mean takes in given back.
    #[test]
    fn a_lean_shared_by_every_date_is_no_period_shock() {
        for (rc, rp) in [(0.1, 0.0), (0.2, 0.05)] {
            let scores = draws(rc, rp, 6, 300, 3, 11);
            let shifted: Vec<Score> = scores.iter().map(|s| Score { z: s.z + 0.9, ..*s }).collect();
            let (a, b) = (estimate(&scores).unwrap(), estimate(&shifted).unwrap());
            assert!((a.period_corr - b.period_corr).abs() < 1e-9, "{a:?} vs {b:?}");
            assert!((a.customer_corr - b.customer_corr).abs() < 1e-9, "{a:?} vs {b:?}");
            // Uncentred, the lean alone would read as 0.9² / (1 + 0.9²) = 0.45.
            assert!(b.period_corr < rp + 0.1, "{b:?}");
        }
        // Six dates, ρp = 0.2: the centred shocks keep 5/6 of their variance, so an
        // estimate not scaled back would average about 0.167.
        let n = 400;
        let mean = (0..n).map(|seed| estimate(&draws(0.1, 0.2, 6, 80, 3, seed)).unwrap().period_corr).sum::<f64>()
            / f64::from(n as u32);
        assert!((mean - 0.2).abs() < 0.02, "{mean}");
    }

    #[test]
    fn independent_invoices_get_no_correlation_and_little_data_none() {
        let c = estimate(&draws(0.0, 0.0, 30, 50, 3, 3)).expect("enough scores");
        assert!(c.customer_corr < 0.05 && c.period_corr < 0.05, "{c:?}");
        assert!(estimate(&draws(0.3, 0.1, 1, 60, 4, 1)).is_none(), "one date");
        assert!(estimate(&draws(0.3, 0.1, 5, 3, 2, 1)).is_none(), "30 scores");
    }

    /// The correlations learned at `d` from the whole history equal those learned from
    /// the history loaded as of `d`, and lie in range.
    #[test]
    fn learned_correlations_do_not_depend_on_later_data() {
        use crate::domain::days_from_date;
        use crate::features::{load_history, FxTable};
        use crate::fixtures::{full_history, generated_dir, quick_train_params};
        use crate::ingest::InvoiceReadOptions;
        let dir = generated_dir(60, 4_000, "2023-01-01", "2024-12-31", 5);
        let d = days_from_date(chrono::NaiveDate::from_ymd_opt(2024, 6, 30).unwrap());
        let p = quick_train_params().cash;
        let plan = SnapshotPlan { step: 14, max_snapshots: 26, max_rows: usize::MAX, ..SnapshotPlan::default() };
        let full = full_history(dir.path());
        let cut = load_history(dir.path(), d, &InvoiceReadOptions::default(), &FxTable::default()).unwrap();
        let a = fit_remaining_time(&full, d, 91, plan, &p).unwrap();
        let b = fit_remaining_time(&cut, d, 91, plan, &p).unwrap();
        assert!(a.model.is_some() && b.model.is_some());
        assert_eq!(a.rows, b.rows);
        assert_eq!(a.model, b.model);
        let (wa, wb) = (a.within.expect("both classes"), b.within.expect("both classes"));
        assert_eq!(wa, wb, "the within-horizon classifier reads nothing after d");
        assert!(!a.early.is_empty(), "the snapshots hold invoices paid within the first week and after it");
        assert_eq!(a.early, b.early, "the first-week classifier reads nothing after d");
        assert!(a.levels.is_some(), "the newest weeks hold enough open invoices");
        assert_eq!(a.levels, b.levels, "the recalibration reads no payment after d");
        let (ca, cb) = (a.copula, b.copula);
        let (ca, cb) = (ca.expect("enough history"), cb.expect("enough history"));
        assert_eq!((ca.rows, ca.snapshots), (cb.rows, cb.snapshots));
        assert!((ca.customer_corr - cb.customer_corr).abs() < 1e-9, "{ca:?} vs {cb:?}");
        assert!((ca.period_corr - cb.period_corr).abs() < 1e-9, "{ca:?} vs {cb:?}");
        assert!(ca.customer_corr + ca.period_corr <= MAX_TOTAL && ca.period_corr <= MAX_PERIOD, "{ca:?}");
        // Scored snapshots are the newest quarter (26 snapshots: 6).
        assert_eq!(ca.snapshots, 6);
        // A budget of about 40 rows a snapshot: each snapshot is a sample, the same
        // from either load, and the 26 of them still give the correlations; without a
        // minimum of snapshots the same budget reads a few whole ones, and scores fewer.
        let small = SnapshotPlan { max_rows: 26 * 40, ..plan };
        let a = fit_remaining_time(&full, d, 91, small, &p).unwrap();
        let b = fit_remaining_time(&cut, d, 91, small, &p).unwrap();
        assert!(a.rows < 26 * 55, "{} rows", a.rows);
        assert_eq!(a.model, b.model, "the same samples from either load");
        let (ca, cb) = (a.copula.expect("26 sampled snapshots"), b.copula.expect("26 sampled snapshots"));
        assert_eq!(ca.snapshots, 6);
        assert!((ca.customer_corr - cb.customer_corr).abs() < 1e-9, "{ca:?} vs {cb:?}");
        let whole = fit_remaining_time(&full, d, 91, SnapshotPlan { min_snapshots: 0, ..small }, &p).unwrap();
        assert!(whole.copula.map_or(0, |c| c.snapshots) < ca.snapshots, "{:?}", whole.copula);
    }

    /// Quantiles of whole days (the smallest day whose distribution function reaches
    /// the level, as a quantile model of day counts gives) read half a day earlier
    /// give each day's probability of payment by it closer to the truth than read as
    /// they are, most over the first week. One delay can go either way (where its
    /// quantile falls inside the day decides it), so the errors are summed over a grid
    /// of right-skewed delays.
    #[test]
    fn quantiles_of_whole_days_are_read_half_a_day_earlier() {
        let (mut whole, mut as_is, mut whole_week, mut as_is_week) = (0.0, 0.0, 0.0, 0.0);
        for median in [2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 12.0, 15.0, 20.0, 25.0, 30.0, 40.0] {
            for spread in [0.2, 0.3, 0.4, 0.5, 0.7, 0.9] {
                // Payment days: a log-normal delay rounded up to a whole day.
                let cdf = |k: f64| 0.5 * (1.0 + erf((k / median).ln() / (spread * std::f64::consts::SQRT_2)));
                let quantile = |tau: f64| (1..2000).map(f64::from).find(|&k| cdf(k) >= tau).unwrap();
                let q = [quantile(0.1), quantile(0.5), quantile(0.9)];
                let (a, b) = (CashDist::from_whole_days(q), CashDist::from_quantiles(q));
                for k in 1..=(4.0 * median) as i32 + 2 {
                    let (ea, eb) = (
                        (a.level(f64::from(k)) - cdf(f64::from(k))).abs(),
                        (b.level(f64::from(k)) - cdf(f64::from(k))).abs(),
                    );
                    whole += ea;
                    as_is += eb;
                    if k <= 7 && median <= 7.0 {
                        whole_week += ea;
                        as_is_week += eb;
                    }
                }
                // By the p50's day the truth has at least half, and read earlier the
                // distribution has more there than read as it is.
                assert!(cdf(q[1]) >= 0.5 && a.level(q[1]) > b.level(q[1]), "{q:?}");
            }
        }
        assert!(whole < 0.95 * as_is, "{whole:.2} vs {as_is:.2} read as they are");
        assert!(whole_week < 0.8 * as_is_week, "first week {whole_week:.2} vs {as_is_week:.2}");
    }

    /// The first-week reshaping carries the classifier's probability by day 7 (all of
    /// the move for most cases; where a bound stops it, part), keeps the share within
    /// the horizon and everything past it, keeps the knots in order, changes nothing
    /// when the probability is what the knots already give, and stays within its bound.
    #[test]
    fn the_first_week_probability_reshapes_the_distribution_within_the_horizon() {
        let cap = 91.0;
        let mut moves = Vec::new();
        for q in [[2.0, 8.0, 30.0], [5.0, 12.0, 40.0], [1.0, 20.0, 92.0], [3.0, 6.0, 9.0], [6.0, 30.0, 80.0]] {
            for within in [None, Some(0.7)] {
                let plain = CashDist::with_early(q, cap, within, &[], None);
                let f7 = plain.level(7.0);
                let same = CashDist::with_early(q, cap, within, &[(7.0, f7)], None);
                for (a, b) in same.knots.iter().zip(&plain.knots) {
                    assert!((a - b).abs() < 1e-9, "{q:?}: {same:?} vs {plain:?}");
                }
                for p in [0.5 * f7, 1.3 * f7, 2.0 * f7] {
                    let p = p.min(0.9 * plain.level(cap));
                    let m = CashDist::with_early(q, cap, within, &[(7.0, p)], None);
                    assert!(m.knots.windows(2).all(|w| w[0] <= w[1]), "{q:?} {p}: {m:?}");
                    // Towards p and not past it.
                    let moved = (m.level(7.0) - f7) / (p - f7);
                    assert!((0.03..=1.05).contains(&moved), "{q:?} {p}: {} from {f7}", m.level(7.0));
                    moves.push(moved);
                    assert!(
                        (m.level(cap) - plain.level(cap)).abs() < 1e-9,
                        "{q:?} {p}: {} vs {}",
                        m.level(cap),
                        plain.level(cap)
                    );
                    assert_eq!(m.knots[8], plain.knots[8]);
                }
                // Bounded: a factor of 3 at most.
                let far = CashDist::with_early(q, cap, within, &[(7.0, 1e-6)], None);
                assert!(far.level(7.0) > f7 / MAX_EARLY_FACTOR - 0.05, "{q:?}: {far:?}");
            }
        }
        moves.sort_by(f64::total_cmp);
        assert!(moves[moves.len() / 2] > 0.99, "median share of the move {moves:?}");
    }

    /// Error function (Abramowitz–Stegun 7.1.26, |error| < 1.5e-7).
    fn erf(x: f64) -> f64 {
        let t = 1.0 / (1.0 + 0.327_591_1 * x.abs());
        let y = 1.0
            - (((((1.061_405_429 * t - 1.453_152_027) * t) + 1.421_413_741) * t - 0.284_496_736) * t + 0.254_829_592)
                * t
                * (-x * x).exp();
        y.copysign(x)
    }

    #[test]
    fn the_within_horizon_probability_sets_the_mass_by_the_cap_and_keeps_the_shape() {
        let cap = 91.0;
        // Without a probability (or an infinite cap): the quantiles' knots, "beyond" far out.
        assert_eq!(CashDist::new([5.0, 12.0, 30.0], cap, None, None), CashDist::from_whole_days([5.0, 12.0, 30.0]));
        let inf = CashDist::new([5.0, 12.0, 30.0], f64::INFINITY, Some(0.3), None);
        assert_eq!(inf, CashDist::from_whole_days([5.0, 12.0, 30.0]));
        assert_eq!(CashDist::new([20.0, 60.0, 92.0], cap, None, None).knots[6], beyond(cap));
        for q in [[5.0, 12.0, 30.0], [20.0, 60.0, 92.0], [40.0, 92.0, 92.0], [2.0, 85.0, 92.0], [1.0, 1.0, 1.0]] {
            let plain = CashDist::new(q, cap, None, None);
            let fc = plain.level(cap);
            for pi in [0.02, 0.1, 0.3, 0.5, 0.71, 0.95, 0.999, 1.0] {
                let m = CashDist::new(q, cap, Some(pi), None);
                // Exactly `pi` by the cap, and the quantiles' shape below it.
                assert!((m.level(cap) - pi).abs() < 1e-9, "{q:?} {pi}: {m:?}");
                for t in [1.0, 3.0, 10.0, 25.0, 50.0, 80.0] {
                    assert!((m.level(t) - (plain.level(t) * pi / fc).min(1.0)).abs() < 1e-9, "{q:?} {pi} {t}");
                }
                // Levels read back: below `pi` within the cap, at or above it beyond.
                for u in [0.05, 0.1, 0.3, 0.5, 0.7, 0.9, 0.95] {
                    let t = m.at_level(u, cap);
                    let distinct = plain.knots.windows(2).all(|w| w[0] < w[1]);
                    if u < pi - 1e-9 {
                        assert!(t <= cap, "{q:?} {pi} {u}: {t}");
                        assert!(!distinct || (m.level(t) - u).abs() < 1e-6, "{q:?} {pi} {u}: {t}");
                    } else if u > pi + 1e-9 {
                        assert!(t > cap, "{q:?} {pi} {u}: {t}");
                    }
                }
            }
        }
        // Under 5% within the horizon by the quantiles: no shape to scale, unchanged.
        let k = CashDist::new([92.0, 92.0, 92.0], cap, None, None);
        assert!(k.level(cap) < 0.05);
        assert_eq!(CashDist::new([92.0, 92.0, 92.0], cap, Some(0.6), None), k);
    }

    /// Outcomes at levels drawn from `law` (applied to a uniform draw), each observed
    /// only up to an independent uniform censoring level below `reach`.
    fn censored(law: impl Fn(f64) -> f64, n: usize, reach: f64, seed: u64) -> Vec<LevelObs> {
        let mut r = Rng::new(seed, 0);
        (0..n)
            .map(|_| {
                let u = law(r.f64());
                let c = r.f64() * reach;
                if u <= c {
                    LevelObs { level: u, paid: true, weight: 1.0 }
                } else {
                    LevelObs { level: c, paid: false, weight: 1.0 }
                }
            })
            .collect()
    }

    #[test]
    fn the_level_map_reads_how_outcomes_fall_through_censoring() {
        // Calibrated outcomes: the map stays at the diagonal.
        let m = LevelMap::estimate(&censored(|v| v, 40_000, 1.0, 1)).expect("enough rows");
        assert_eq!((m.g.len(), m.g[0], m.g[20], m.rows), (21, 0.0, 1.0, 40_000));
        for (k, g) in m.g.iter().enumerate().take(15) {
            assert!((g - k as f64 / 20.0).abs() < 0.02, "{k}: {:?}", m.g);
        }
        // Outcomes early in their distributions (level V²: P(level ≤ p) = √p), most of
        // them unpaid when observed: the estimate follows √p where the outcomes reach,
        // which counting only the payments seen would not.
        let obs = censored(|v| v * v, 40_000, 0.8, 2);
        let m = LevelMap::estimate(&obs).expect("enough rows");
        for k in 1..12 {
            let p = k as f64 / 20.0;
            assert!((m.g[k] - p.sqrt()).abs() < 0.03, "{k}: {:?}", m.g);
        }
        let seen: Vec<f64> = obs.iter().filter(|o| o.paid).map(|o| o.level).collect();
        let naive = seen.iter().filter(|&&l| l <= 0.25).count() as f64 / seen.len() as f64;
        assert!((naive - 0.5).abs() > 0.1, "censoring matters here: {naive}");
        assert!(m.g.windows(2).all(|w| w[0] <= w[1]), "{:?}", m.g);
        // Past the levels any outcome reached, the hazard is the calibrated one: the
        // remaining share spreads evenly over the remaining levels.
        let m = LevelMap::estimate(&censored(|v| v * v, 5_000, 0.3, 4)).expect("enough rows");
        for k in 6..=20 {
            let rest = (1.0 - m.g[6]) * (20 - k) as f64 / 14.0;
            assert!((1.0 - m.g[k] - rest).abs() < 1e-9, "{k}: {:?}", m.g);
        }
        assert!(m.g[6] > 0.4, "{:?}", m.g);
        // Weighted: heavy invoices (weight 10) at V², as many light ones calibrated; the
        // map follows the weight, (10·√p + p) / 11, not the count, (√p + p) / 2.
        let mut mixed = censored(|v| v * v, 20_000, 1.0, 6);
        mixed.iter_mut().for_each(|o| o.weight = 10.0);
        mixed.extend(censored(|v| v, 20_000, 1.0, 7));
        let m = LevelMap::estimate(&mixed).expect("enough rows");
        for k in [2usize, 5, 10] {
            let p = k as f64 / 20.0;
            assert!((m.g[k] - (10.0 * p.sqrt() + p) / 11.0).abs() < 0.03, "{k}: {:?}", m.g);
        }
        assert!(LevelMap::estimate(&mixed.iter().map(|o| LevelObs { weight: 0.0, ..*o }).collect::<Vec<_>>()).is_none());
        let early = censored(|v| v, 300, 1.0, 5);
        assert!(LevelMap::estimate(&early[..199]).is_none());
    }

    #[test]
    fn a_recalibrated_distribution_reads_its_levels_through_the_map() {
        let cap = 91.0;
        // Outcomes at level V^1.5: g(p) = p^(2/3).
        let m = LevelMap::estimate(&censored(|v| v.powf(1.5), 40_000, 1.0, 3)).expect("enough rows");
        let identity = LevelMap { g: (0..21).map(|k| f64::from(k) / 20.0).collect(), rows: 1, overdue: None };
        for (q, within) in [([5.0, 12.0, 30.0], None), ([5.0, 12.0, 30.0], Some(0.97)), ([20.0, 60.0, 92.0], Some(0.4))]
        {
            let plain = CashDist::new(q, cap, within, None);
            let same = CashDist::new(q, cap, within, Some(&identity));
            assert!(same.knots.iter().zip(&plain.knots).all(|(a, b)| (a - b).abs() < 1e-9), "{same:?}");
            let cal = CashDist::new(q, cap, within, Some(&m));
            // By the horizon too, up to the nine knots' straight stretches.
            // At its knots the recalibrated distribution is the map of the plain one;
            // between them, close to it up to the median (where the knots are dense),
            // and by the horizon within the nine knots' straight stretches.
            for &t in cal.knots.iter().filter(|&&t| t < cap) {
                assert!((cal.level(t) - m.apply(plain.level(t))).abs() < 1e-6, "{q:?} {t}");
            }
            assert!((cal.level(cap) - m.apply(plain.level(cap))).abs() < 0.05, "{q:?}");
            for t in [2.0, 6.0, 9.0, 15.0, 25.0, 40.0, 70.0].into_iter().filter(|&t| t <= q[1]) {
                assert!((cal.level(t) - m.apply(plain.level(t))).abs() < 0.05, "{q:?} {t}");
                assert!(cal.level(t) >= plain.level(t) - 1e-9, "outcomes fell early: earlier payment {q:?} {t}");
            }
            assert!(cal.at_level(0.3, cap) < plain.at_level(0.3, cap), "{q:?}");
        }
    }

    #[test]
    fn invoices_past_due_are_read_through_their_own_map() {
        let plain = LevelMap::estimate(&censored(|v| v, 1_000, 1.0, 11)).expect("enough rows");
        let early = LevelMap::estimate(&censored(|v| v * v, 1_000, 1.0, 12)).expect("enough rows");
        assert!(plain.for_row(true) == &plain && plain.for_row(false) == &plain, "no overdue map: one for all");
        let m = LevelMap { overdue: Some(Box::new(early.clone())), ..plain.clone() };
        assert!(m.for_row(true) == &early && m.for_row(false).g == plain.g);
        let q = [5.0, 12.0, 30.0];
        let (due, past) =
            (CashDist::new(q, 91.0, None, Some(m.for_row(false))), CashDist::new(q, 91.0, None, Some(m.for_row(true))));
        assert!(past.at_level(0.5, 91.0) < due.at_level(0.5, 91.0) - 1.0, "{due:?} {past:?}");
    }

    /// Nominal level whose calibrated level is `q` under `m` (the inverse of
    /// [`LevelMap::apply`]) by a search of its grid: what re-knotting walks to.
    fn invert(m: &LevelMap, q: f64) -> f64 {
        let q = q.clamp(0.0, 1.0);
        let last = m.g.len() - 1;
        let k = m.g.partition_point(|&v| v < q).clamp(1, last);
        let (a, b) = (m.g[k - 1], m.g[k]);
        let t = if b > a { (q - a) / (b - a) } else { 1.0 };
        ((k - 1) as f64 + t) / last as f64
    }

    #[test]
    fn re_knotting_walks_to_the_same_days_as_inverting_each_level() {
        let mut r = Rng::new(9, 0);
        for _ in 0..2_000 {
            // A random increasing map (flat stretches included) and random knots.
            let mut g: Vec<f64> = (0..21).map(|_| if r.f64() < 0.2 { 0.0 } else { r.f64() }).collect();
            g.sort_by(f64::total_cmp);
            let m = LevelMap { g: [vec![0.0], g[1..20].to_vec(), vec![1.0]].concat(), rows: 1, overdue: None };
            let a = r.uniform(1.0, 20.0);
            let k = knots([a, a + r.uniform(0.0, 30.0), a + r.uniform(30.0, 120.0)]);
            let scale = r.uniform(0.5, 4.0);
            let (fast, s) = m.reknot(&k, scale);
            let top = m.apply((1.0 / scale).min(1.0));
            if top <= 0.0 {
                // No calibrated mass within the knots: left as they are.
                assert_eq!((fast, s), (k, scale));
                continue;
            }
            assert!((s - 1.0 / top).abs() < 1e-12);
            for (i, &p) in KNOT_LEVELS.iter().enumerate().skip(1) {
                let slow = at_level(&k, (scale * invert(&m, p * top)).min(1.0));
                assert!((fast[i] - slow).abs() < 1e-9 * (1.0 + slow.abs()), "{i}: {} vs {slow} ({:?})", fast[i], m.g);
            }
        }
    }

    #[test]
    fn a_cash_model_fitted_from_the_due_date_adds_it_back_when_it_predicts() {
        // Every invoice pays 3 days after its due date, due 0..60 days after the
        // snapshot (a third already past due pay 1..5 days after it); 30 small trees.
        let n = 3_000;
        let (dtd, pdd) = (feature_index("inv.days_to_due"), feature_index("inv.is_past_due"));
        let mut x = ndarray::Array2::<f64>::zeros((n, crate::models::dataset::N_MODEL_FEATURES));
        let mut remaining = Vec::with_capacity(n);
        for i in 0..n {
            if i % 3 == 0 {
                x[[i, dtd]] = -((i % 40) as f64);
                x[[i, pdd]] = 1.0;
                remaining.push((1 + i % 5) as f64);
            } else {
                x[[i, dtd]] = (i % 61) as f64;
                remaining.push((i % 61) as f64 + 3.0);
            }
        }
        let p = PaymentDateParams { n_trees: 30, learning_rate: 0.2, ..PaymentDateParams::cash_default() };
        let fit = |from_due: bool| {
            let y = remaining_targets(x.view(), &remaining, from_due);
            let m = PaymentDateModel { from_due, ..p.fit(x.view(), &y, None, None).unwrap() };
            let q = remaining_quantiles(&m, x.view()).unwrap();
            q.iter().zip(&remaining).map(|(q, r)| (q[1] - r).abs()).sum::<f64>() / n as f64
        };
        let targets = remaining_targets(x.view(), &remaining, true);
        assert_eq!((targets[1], targets[0]), (3.0, 1.0), "days past the due date; past due, days until payment");
        let (plain, from_due) = (fit(false), fit(true));
        assert!(from_due < 0.5, "median error {from_due} days");
        assert!(from_due < plain / 2.0, "from the due date {from_due}, from the snapshot {plain}");
        // Models saved before the setting read as fitted from the snapshot date.
        let m = p.fit(x.view(), &remaining, None, None).unwrap();
        let mut v = serde_json::to_value(&m).unwrap();
        v.as_object_mut().unwrap().remove("from_due");
        assert!(!serde_json::from_value::<PaymentDateModel>(v).unwrap().from_due);
    }

    #[test]
    fn levels_invert_the_knots() {
        let k = knots([5.0, 12.0, 30.0]);
        for (u, d) in [(0.1, 5.0), (0.5, 12.0), (0.9, 30.0)] {
            assert!((level(&k, d) - u).abs() < 1e-12, "{d}: {}", level(&k, d));
        }
        assert_eq!(level(&k, 0.0), 0.0);
        assert_eq!(level(&k, 1e6), 1.0);
        assert!(level(&k, 20.0) > 0.5 && level(&k, 20.0) < 0.9);
        // Between quantiles, more mass towards the early end than a straight line
        // would put there: the knot at 0.7 is the geometric mean of 12 and 30.
        assert!((k[5] - (12.0f64 * 30.0).sqrt()).abs() < 1e-12 && level(&k, 21.0) > 0.7);
        assert!(k.windows(2).all(|w| w[0] <= w[1]), "{k:?}");
        // Degenerate quantiles (all at one day) still give ordered knots.
        let k = knots([0.2, 0.5, 1.0]);
        assert!(k.windows(2).all(|w| w[0] <= w[1]) && k[0] > 0.0, "{k:?}");
        assert!((norm_inv(0.975) - 1.959_964).abs() < 1e-5 && norm_inv(0.5).abs() < 1e-12);
    }
}
