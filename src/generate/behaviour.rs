//! Latent customer behaviours and the simulation of one customer's invoices,
//! payments and collection activities.

use chrono::Datelike;

use super::rng::Rng;
use crate::domain::{date_from_days, ActivityKind, Currency, Holidays, PaymentRun};

/// Latent payment behaviour of a customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Archetype {
    /// Pays around the due date.
    Punctual,
    /// Pays before the due date.
    Early,
    /// Pays consistently late.
    Slow,
    /// Starts fine, then drifts later and towards default.
    Deteriorating,
    /// Late in some months of the year.
    Seasonal,
    /// Disputes a share of invoices, which then pay late or short.
    Disputing,
    /// Pays many invoices in instalments.
    Partial,
}

impl Archetype {
    /// Name used in the generated `segment` hint and docs.
    pub fn as_str(self) -> &'static str {
        match self {
            Archetype::Punctual => "punctual",
            Archetype::Early => "early",
            Archetype::Slow => "slow",
            Archetype::Deteriorating => "deteriorating",
            Archetype::Seasonal => "seasonal",
            Archetype::Disputing => "disputing",
            Archetype::Partial => "partial",
        }
    }
}

const ARCHETYPES: [(Archetype, f64); 7] = [
    (Archetype::Punctual, 0.30),
    (Archetype::Early, 0.10),
    (Archetype::Slow, 0.20),
    (Archetype::Deteriorating, 0.08),
    (Archetype::Seasonal, 0.12),
    (Archetype::Disputing, 0.10),
    (Archetype::Partial, 0.10),
];

/// (country, currency, weight, major units per USD)
const MARKETS: [(&str, &str, f64, f64); 8] = [
    ("US", "USD", 0.42, 1.0),
    ("DE", "EUR", 0.12, 0.92),
    ("FR", "EUR", 0.08, 0.92),
    ("NL", "EUR", 0.05, 0.92),
    ("GB", "GBP", 0.12, 0.79),
    ("JP", "JPY", 0.06, 150.0),
    ("CA", "CAD", 0.10, 1.36),
    ("AU", "AUD", 0.05, 1.52),
];

/// Mean days late a customer's country adds with `--market-effects` (payment
/// cultures differ: days beyond terms run longer in some markets than others).
pub const COUNTRY_DAYS_LATE: [(&str, f64); 8] =
    [("US", 0.0), ("DE", -2.0), ("FR", 6.0), ("NL", -1.0), ("GB", 3.0), ("JP", -3.0), ("CA", 1.0), ("AU", 2.0)];

/// Mean days late a customer's segment adds with `--market-effects` (enterprise
/// invoices wait in longer approval runs, small businesses pay when cash allows).
pub const SEGMENT_DAYS_LATE: [(&str, f64); 3] = [("enterprise", 3.0), ("mid-market", 0.0), ("smb", 2.0)];

/// What [`COUNTRY_DAYS_LATE`] and [`SEGMENT_DAYS_LATE`] add to a profile's mean days
/// late.
pub fn market_days_late(p: &Profile) -> f64 {
    let find = |list: &[(&str, f64)], key: &str| list.iter().find(|e| e.0 == key).map_or(0.0, |e| e.1);
    find(&COUNTRY_DAYS_LATE, p.country) + find(&SEGMENT_DAYS_LATE, p.segment)
}

/// (segment, weight, median invoice in USD)
const SEGMENTS: [(&str, f64, f64); 3] =
    [("enterprise", 0.15, 40_000.0), ("mid-market", 0.35, 6_000.0), ("smb", 0.50, 900.0)];

const METHODS: [&str; 4] = ["ach", "wire", "check", "card"];

/// How invoices reach customers: (channel, effect on days late). Paper goes by mail
/// and is keyed in by hand; e-invoices land in the customer's AP system directly.
pub const CHANNELS: [(&str, f64); 3] = [("paper", 4.0), ("email", 0.0), ("e-invoice", -2.5)];

/// Dispute reasons by category, as a customer would write them.
pub const DISPUTE_TEXTS: [(&str, &[&str]); 6] = [
    (
        "pricing",
        &["price does not match purchase order", "unit price higher than agreed contract rate", "discount not applied"],
    ),
    (
        "quantity",
        &[
            "short shipment: fewer units received than billed",
            "quantity billed exceeds delivery note",
            "partial delivery billed in full",
        ],
    ),
    (
        "damaged",
        &[
            "goods arrived damaged",
            "items defective on arrival, return requested",
            "packaging damaged, product unusable",
        ],
    ),
    ("not_received", &["goods not received", "service not rendered yet", "no proof of delivery"]),
    (
        "duplicate",
        &["duplicate billing: invoice already paid", "same order invoiced twice", "duplicate of earlier invoice"],
    ),
    (
        "tax",
        &[
            "wrong VAT rate applied",
            "tax exemption certificate on file, tax charged",
            "sales tax calculated incorrectly",
        ],
    ),
];

/// A customer's fixed traits.
#[derive(Debug, Clone)]
pub struct Profile {
    /// Index (the id is derived from it).
    pub index: usize,
    /// Behaviour.
    pub archetype: Archetype,
    /// Country code.
    pub country: &'static str,
    /// Billing currency.
    pub currency: Currency,
    /// Major units per USD.
    pub fx: f64,
    /// Segment name.
    pub segment: &'static str,
    /// Median invoice in major units of `currency`.
    pub scale: f64,
    /// Payment terms in days.
    pub terms: i32,
    /// Mean days late (before archetype effects).
    pub mean_late: f64,
    /// Spread of days late.
    pub sd_late: f64,
    /// Share of remaining delay removed by a reminder.
    pub reminder_effect: f64,
    /// Probability a promise to pay is kept.
    pub promise_keep: f64,
    /// Day (epoch) the customer's first invoice can be issued.
    pub start_day: i32,
    /// Last day (epoch) it can be issued an invoice.
    pub last_issue_day: i32,
    /// Day behaviour starts to deteriorate (deteriorating customers).
    pub onset_day: i32,
    /// Months (1–12) in which a seasonal customer pays late.
    pub slow_months: [u32; 2],
    /// Assigned collector number.
    pub collector: u32,
    /// Usual payment method.
    pub method: &'static str,
    /// Credit limit in minor units.
    pub credit_limit_minor: i64,
    /// Delivery channel (index into `CHANNELS`) before `channel_switch_day`.
    pub channel: usize,
    /// Day the customer moves to `channel_after` (i32::MAX: never).
    pub channel_switch_day: i32,
    /// Channel from the switch on.
    pub channel_after: usize,
    /// The days the customer's payments go out on (None: any business day).
    pub run: Option<PaymentRun>,
}

/// Draws a customer's payment runs from its own stream: 40% of customers pay in runs,
/// weekly on a weekday (45% of those), twice weekly on two weekdays a day or more
/// apart (15%), on the
/// 15th and the month's last day (20%) or monthly on a day (20%).
pub fn draw_run(rng: &mut Rng) -> Option<PaymentRun> {
    if !rng.chance(0.4) {
        return None;
    }
    Some(match rng.weighted(&[0.45, 0.15, 0.2, 0.2]) {
        0 => PaymentRun::Weekly(rng.int(0, 4) as u8),
        1 => {
            let (a, b) = [(0, 2), (0, 3), (0, 4), (1, 3), (1, 4), (2, 4)][rng.int(0, 5) as usize];
            PaymentRun::TwiceWeekly(a, b)
        }
        2 => PaymentRun::SemiMonthly,
        _ => PaymentRun::Monthly([1, 5, 10, 15, 20, 25, 28][rng.int(0, 6) as usize]),
    })
}

impl Profile {
    /// The channel of an invoice issued on `day` (index into `CHANNELS`).
    pub fn channel_on(&self, day: i32) -> usize {
        if day >= self.channel_switch_day {
            self.channel_after
        } else {
            self.channel
        }
    }
}

/// Draws a customer's delivery channels from its own stream `rng` (so the other traits
/// are drawn as they were before channels existed): half start on paper, a third of
/// those move to e-invoicing or email during the period.
fn draw_channels(rng: &mut Rng, start_day: i32, end: i32) -> (usize, i32, usize) {
    let first = rng.weighted(&[0.5, 0.3, 0.2]);
    let moves = first != 2 && rng.chance(if first == 0 { 0.5 } else { 0.25 });
    if !moves {
        return (first, i32::MAX, first);
    }
    let day = start_day + ((end - start_day).max(1) as f64 * rng.uniform(0.1, 0.9)) as i32;
    let to = if first == 0 && rng.chance(0.4) { 1 } else { 2 };
    (first, day, to)
}

/// Draws a customer's profile.
pub fn draw_profile(index: usize, seed: u64, rng: &mut Rng, start: i32, end: i32, invoices: usize) -> Profile {
    let weights: Vec<f64> = ARCHETYPES.iter().map(|a| a.1).collect();
    let archetype = ARCHETYPES[rng.weighted(&weights)].0;
    let m = MARKETS[rng.weighted(&MARKETS.map(|m| m.2))];
    let currency = Currency::parse(m.1).expect("valid code");
    let s = SEGMENTS[rng.weighted(&SEGMENTS.map(|s| s.1))];
    let scale = s.2 * m.3 * (0.5 * rng.normal()).exp();
    let terms = [30, 30, 30, 30, 30, 30, 15, 45, 45, 60, 60][rng.int(0, 10) as usize];
    let (mean_late, sd_late) = match archetype {
        Archetype::Punctual => (rng.uniform(-1.0, 2.5), rng.uniform(1.5, 3.0)),
        Archetype::Early => (-rng.uniform(4.0, (terms as f64 * 0.5).min(12.0)), rng.uniform(1.5, 3.0)),
        Archetype::Slow => (rng.uniform(10.0, 35.0), rng.uniform(4.0, 9.0)),
        Archetype::Deteriorating => (rng.uniform(0.0, 5.0), rng.uniform(2.0, 4.0)),
        Archetype::Seasonal => (rng.uniform(0.0, 6.0), rng.uniform(2.0, 4.0)),
        Archetype::Disputing => (rng.uniform(2.0, 10.0), rng.uniform(3.0, 6.0)),
        Archetype::Partial => (rng.uniform(3.0, 12.0), rng.uniform(3.0, 7.0)),
    };
    let span = (end - start).max(1);
    // A third of customers join during the period, so cold starts exist at any as-of.
    let start_day = if rng.chance(0.33) { start + (rng.f64() * 0.85 * span as f64) as i32 } else { start };
    let onset_day = start_day + ((end - start_day) as f64 * rng.uniform(0.3, 0.8)) as i32;
    let first = rng.int(1, 12) as u32;
    let slow_months = [first, first % 12 + 1];
    let promise_keep = match archetype {
        Archetype::Punctual | Archetype::Early => 0.9,
        Archetype::Deteriorating => 0.35,
        Archetype::Slow => 0.6,
        _ => 0.75,
    };
    let (channel, channel_switch_day, channel_after) =
        draw_channels(&mut Rng::new(seed ^ 0x0C4A_77E1, index as u64), start_day, end);
    let monthly = (invoices as f64 / (span as f64 / 30.0)).max(1.0);
    let limit_major = (scale * monthly * (terms as f64 / 30.0 + 1.0) * rng.uniform(0.8, 2.0)).max(100.0);
    let credit_limit_minor = credit_limit_minor(limit_major, currency);
    Profile {
        index,
        archetype,
        country: m.0,
        currency,
        fx: m.3,
        segment: s.0,
        scale,
        terms,
        mean_late,
        sd_late,
        reminder_effect: rng.uniform(0.05, 0.3),
        promise_keep,
        start_day,
        last_issue_day: end,
        onset_day,
        slow_months,
        collector: rng.int(1, 12) as u32,
        method: METHODS[rng.int(0, 3) as usize],
        credit_limit_minor,
        channel,
        channel_switch_day,
        channel_after,
        run: None,
    }
}

/// A credit limit of `limit_major` units of `currency`, rounded to 100, in minor units.
pub fn credit_limit_minor(limit_major: f64, currency: Currency) -> i64 {
    ((limit_major / 100.0).round() * 100.0) as i64 * currency.minor_per_major()
}

/// Pareto index of customer sizes with heavy-tailed amounts.
pub const SIZE_TAIL_INDEX: f64 = 1.5;
/// Largest customer size factor (keeps amounts far inside `i64` minor units).
pub const MAX_SIZE_FACTOR: f64 = 300.0;
/// Share of a customer's invoices that are project-sized with heavy-tailed amounts.
pub const PROJECT_SHARE: f64 = 0.03;

/// A customer's size factor for heavy-tailed amounts: Pareto with index
/// [`SIZE_TAIL_INDEX`] and minimum 1, capped at [`MAX_SIZE_FACTOR`].
pub fn draw_size_factor(rng: &mut Rng) -> f64 {
    (1.0 - rng.f64()).powf(-1.0 / SIZE_TAIL_INDEX).min(MAX_SIZE_FACTOR)
}

/// An invoice's size for heavy-tailed amounts: 5–40 times the usual (log-uniform) for
/// [`PROJECT_SHARE`] of invoices, else 1.
pub fn draw_invoice_size(rng: &mut Rng) -> f64 {
    if rng.chance(PROJECT_SHARE) {
        rng.uniform(5f64.ln(), 40f64.ln()).exp()
    } else {
        1.0
    }
}

/// A simulated invoice.
#[derive(Debug, Clone)]
pub struct SimInvoice {
    /// Issue day.
    pub invoice_date: i32,
    /// Due day.
    pub due_date: i32,
    /// Amount, minor units.
    pub amount_minor: i64,
    /// Settlement day (None: never paid).
    pub paid_date: Option<i32>,
    /// Amount received in total.
    pub paid_minor: i64,
    /// Instalments (day, minor units), the last one on `paid_date`.
    pub payments: Vec<(i32, i64)>,
    /// Activities: (day, kind, promised day, text).
    pub activities: Vec<(i32, ActivityKind, Option<i32>, Option<String>)>,
    /// Whether the invoice was ever disputed.
    pub disputed: bool,
}

/// `day`, or the next business day after a weekend or holiday, or the customer's first
/// payment run on or after it.
fn settle_on(p: &Profile, day: i32, hol: &Holidays) -> i32 {
    p.run.map_or_else(|| hol.business_day(day), |r| r.on_or_after(day, hol))
}

/// Simulates one invoice issued on `invoice_date`, on a ledger closed on `hol`.
#[cfg(test)]
pub fn simulate_invoice(p: &Profile, invoice_date: i32, hol: &Holidays, rng: &mut Rng) -> SimInvoice {
    simulate_sized_invoice(p, invoice_date, hol, rng, 1.0)
}

/// [`simulate_invoice`] with the amount multiplied by `size` (a project or annual
/// invoice many times the customer's usual one); it goes through the same approvals
/// as any large invoice, and draws nothing more from `rng`.
pub fn simulate_sized_invoice(p: &Profile, invoice_date: i32, hol: &Holidays, rng: &mut Rng, size: f64) -> SimInvoice {
    let minor = p.currency.minor_per_major() as f64;
    let mult = (0.7 * rng.normal()).exp() * size;
    let amount_minor = ((p.scale * mult * minor).round() as i64).max(p.currency.minor_per_major());
    let due_date = invoice_date + p.terms;
    let month = date_from_days(due_date).map_or(1, |d| d.month());
    let mut late = rng.gauss(p.mean_late, p.sd_late) + CHANNELS[p.channel_on(invoice_date)].1;
    // Large invoices go through more approvals.
    late += 1.5 * mult.ln().clamp(-1.0, 2.0);
    let mut never_paid = false;
    match p.archetype {
        Archetype::Seasonal if p.slow_months.contains(&month) => late += rng.uniform(10.0, 25.0),
        Archetype::Deteriorating if invoice_date > p.onset_day => {
            let t = f64::from(invoice_date - p.onset_day);
            late += t / 8.0 + rng.gauss(0.0, t / 40.0);
            never_paid = rng.chance((t / 600.0).min(0.5));
        }
        _ => {}
    }
    let mut activities = Vec::new();
    let mut disputed = false;
    let mut paid_fraction = 1.0;
    let dispute_p = match p.archetype {
        Archetype::Disputing => 0.25,
        _ => 0.02,
    };
    if rng.chance(dispute_p) {
        disputed = true;
        let (cat, texts) = DISPUTE_TEXTS[rng.int(0, DISPUTE_TEXTS.len() as i64 - 1) as usize];
        let text = texts[rng.int(0, texts.len() as i64 - 1) as usize];
        let opened = invoice_date + rng.int(3, (p.terms - 2).max(4) as i64) as i32;
        let resolution = rng.int(10, 60) as i32;
        late = late.max(f64::from(opened + resolution - due_date)) + rng.uniform(0.0, 5.0);
        activities.push((opened, ActivityKind::DisputeOpened, None, Some(format!("{cat}: {text}"))));
        if rng.chance(0.35) {
            paid_fraction = 1.0 - rng.uniform(0.05, 0.3);
        }
    }
    // Dunning: a reminder three days after due, sent for 70% of overdue invoices
    // (collector capacity), shortens the remaining delay by the customer's response.
    let reminder_day = due_date + 3;
    if !never_paid && late > 3.0 && rng.chance(0.7) {
        let channel = if rng.chance(0.8) { ActivityKind::ReminderEmail } else { ActivityKind::ReminderSms };
        activities.push((reminder_day, channel, None, None));
        late = 3.0 + (late - 3.0) * (1.0 - p.reminder_effect);
    } else if never_paid && rng.chance(0.7) {
        activities.push((reminder_day, ActivityKind::ReminderEmail, None, None));
    }
    let call_day = due_date + 20;
    if late > 20.0 || never_paid {
        activities.push((call_day, ActivityKind::Call, None, None));
        if rng.chance(0.6) {
            let promised = call_day + rng.int(3, 10) as i32;
            activities.push((call_day, ActivityKind::PromiseToPay, Some(promised), None));
            if !never_paid && rng.chance(p.promise_keep) {
                late = late.min(f64::from(promised - due_date) - rng.uniform(0.0, 2.0));
            }
        }
    }
    if late > 45.0 || never_paid {
        activities.push((due_date + 45, ActivityKind::Letter, None, None));
    }
    let mut payments = Vec::new();
    let paid_minor = (amount_minor as f64 * paid_fraction).round() as i64;
    let paid_date = if never_paid {
        None
    } else {
        let day = settle_on(p, (due_date + late.round() as i32).max(invoice_date + 1), hol);
        let instalments = p.archetype == Archetype::Partial && rng.chance(0.4) && paid_minor >= 2;
        if instalments {
            let first_share = rng.uniform(0.3, 0.6);
            let first_amt = ((paid_minor as f64 * first_share) as i64).max(1);
            let gap = rng.int(7, 35) as i32;
            let first_day = settle_on(p, (day - gap).max(invoice_date + 1), hol);
            payments.push((first_day, first_amt));
            payments.push((day.max(first_day), paid_minor - first_amt));
        } else {
            payments.push((day, paid_minor));
        }
        if disputed {
            activities.push((day, ActivityKind::DisputeResolved, None, None));
        }
        payments.last().map(|x| x.0)
    };
    activities.sort_by_key(|a| a.0);
    SimInvoice { invoice_date, due_date, amount_minor, paid_date, paid_minor, payments, activities, disputed }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::days_from_date;

    fn day(y: i32, m: u32, d: u32) -> i32 {
        days_from_date(chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap())
    }

    fn profile_of(kind: Archetype, seed: u64) -> Profile {
        let mut rng = Rng::new(seed, 0);
        loop {
            let mut p = draw_profile(0, seed, &mut rng, day(2022, 1, 1), day(2024, 12, 31), 200);
            if p.archetype == kind {
                // Email throughout: the archetype's own behaviour, no channel effect.
                (p.channel, p.channel_after, p.channel_switch_day) = (1, 1, i32::MAX);
                return p;
            }
        }
    }

    fn mean_late(p: &Profile, from: i32, to: i32, filter: impl Fn(&SimInvoice) -> bool) -> (f64, usize) {
        let mut rng = Rng::new(9, 9);
        let (mut s, mut n) = (0.0, 0);
        for k in 0..4000 {
            let d = from + (k % (to - from).max(1));
            let inv = simulate_invoice(p, d, &Holidays::default(), &mut rng);
            if let Some(paid) = inv.paid_date {
                if filter(&inv) {
                    s += f64::from(paid - inv.due_date);
                    n += 1;
                }
            }
        }
        (s / n.max(1) as f64, n)
    }

    #[test]
    fn slow_payers_pay_later_than_punctual_ones_and_early_payers_before_due() {
        let (punctual, _) = mean_late(&profile_of(Archetype::Punctual, 1), day(2023, 1, 1), day(2023, 12, 1), |_| true);
        let (slow, _) = mean_late(&profile_of(Archetype::Slow, 2), day(2023, 1, 1), day(2023, 12, 1), |_| true);
        let (early, _) = mean_late(&profile_of(Archetype::Early, 3), day(2023, 1, 1), day(2023, 12, 1), |_| true);
        assert!(slow > punctual + 7.0, "slow {slow} punctual {punctual}");
        assert!(early < 0.0, "early {early}");
    }

    #[test]
    fn paper_invoices_are_paid_later_than_e_invoices_of_the_same_customer() {
        let mut p = profile_of(Archetype::Punctual, 6);
        (p.channel, p.channel_after, p.channel_switch_day) = (0, 2, day(2023, 7, 1));
        let (paper, _) = mean_late(&p, day(2023, 1, 1), day(2023, 6, 1), |_| true);
        let (e, _) = mean_late(&p, day(2023, 8, 1), day(2024, 1, 1), |_| true);
        assert!((paper - e - 6.5).abs() < 1.5, "paper {paper} e-invoice {e}");
        assert_eq!(CHANNELS[p.channel_on(day(2023, 6, 30))].0, "paper");
        assert_eq!(CHANNELS[p.channel_on(day(2023, 7, 1))].0, "e-invoice");
    }

    #[test]
    fn deteriorating_customers_drift_later_and_default() {
        let p = profile_of(Archetype::Deteriorating, 4);
        let (before, _) = mean_late(&p, p.onset_day - 200, p.onset_day, |_| true);
        let (after, _) = mean_late(&p, p.onset_day + 200, p.onset_day + 300, |_| true);
        assert!(after > before + 15.0, "before {before} after {after}");
        let mut rng = Rng::new(5, 5);
        let unpaid = (0..2000)
            .filter(|_| simulate_invoice(&p, p.onset_day + 400, &Holidays::default(), &mut rng).paid_date.is_none())
            .count();
        assert!(unpaid > 200, "defaults appear: {unpaid}");
    }

    #[test]
    fn seasonal_customers_are_late_in_their_slow_months() {
        let p = profile_of(Archetype::Seasonal, 6);
        let slow = |inv: &SimInvoice| date_from_days(inv.due_date).is_some_and(|d| p.slow_months.contains(&d.month()));
        let (in_season, n1) = mean_late(&p, day(2023, 1, 1), day(2024, 1, 1), slow);
        let (off_season, n2) = mean_late(&p, day(2023, 1, 1), day(2024, 1, 1), |i| !slow(i));
        assert!(n1 > 100 && n2 > 100);
        assert!(in_season > off_season + 8.0, "in {in_season} off {off_season}");
    }

    #[test]
    fn disputes_and_instalments_and_reminders_happen() {
        let mut rng = Rng::new(7, 7);
        let d = profile_of(Archetype::Disputing, 7);
        let disputed = (0..1000)
            .filter(|_| simulate_invoice(&d, day(2023, 3, 1), &Holidays::default(), &mut rng).disputed)
            .count();
        assert!((150..350).contains(&disputed), "{disputed}");
        let p = profile_of(Archetype::Partial, 8);
        let split = (0..1000)
            .filter(|_| simulate_invoice(&p, day(2023, 3, 1), &Holidays::default(), &mut rng).payments.len() == 2)
            .count();
        assert!(split > 250, "{split}");
        let s = profile_of(Archetype::Slow, 9);
        let reminded = (0..1000)
            .filter(|_| {
                simulate_invoice(&s, day(2023, 3, 1), &Holidays::default(), &mut rng)
                    .activities
                    .iter()
                    .any(|a| a.1.is_reminder())
            })
            .count();
        assert!(reminded > 500, "{reminded}");
    }

    #[test]
    fn reminders_shorten_the_delay() {
        // Same customer, same random draws: with the reminder effect zeroed the
        // invoices that got a reminder pay later.
        let mut p = profile_of(Archetype::Slow, 10);
        p.reminder_effect = 0.3;
        let (with, _) = mean_late(&p, day(2023, 1, 1), day(2023, 6, 1), |i| {
            i.activities.iter().any(|a| a.1 == ActivityKind::ReminderEmail)
        });
        p.reminder_effect = 0.0;
        let (without, _) = mean_late(&p, day(2023, 1, 1), day(2023, 6, 1), |i| {
            i.activities.iter().any(|a| a.1 == ActivityKind::ReminderEmail)
        });
        assert!(without > with + 2.0, "with {with} without {without}");
    }
}
