//! Payment runs: many customers' accounts-payable departments pay in batches on set
//! days (every Thursday, the 15th and the month's last day, the 25th), so a payment
//! goes out on the first run day on or after the day it is approved. A run that falls
//! on a weekend or a bank holiday goes out on the next business day.

use chrono::Datelike;

use super::dates::date_from_days;
use super::Currency;

/// The days a customer's payments go out on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PaymentRun {
    /// Weekly on one weekday (0 = Monday … 4 = Friday).
    Weekly(u8),
    /// On the 15th and on the last day of the month.
    SemiMonthly,
    /// Monthly on one day of the month (1–28).
    Monthly(u8),
    /// Twice a week, on two weekdays (0 = Monday … 4 = Friday, the first before the
    /// second), e.g. Tuesdays and Fridays.
    TwiceWeekly(u8, u8),
    /// Any business day, Monday to Friday: not a customer's runs but a ledger whose
    /// settlements never fall on a weekend (see [`settles_on_business_days`]). Not in
    /// [`PaymentRun::all`], never detected per customer.
    BusinessDays,
}

/// Most settlement dates [`PaymentRun::detect`] reads (the newest).
pub const RUN_WINDOW: usize = 24;
/// Fewest distinct settlement dates it needs.
pub const MIN_RUN_DATES: usize = 8;
/// Least share of those dates that must be run days of one calendar.
pub const MIN_RUN_SHARE: f64 = 0.8;
/// Fewest distinct settlement dates a twice-weekly calendar is read from.
pub const MIN_TWICE_DATES: usize = 12;
/// Least share of those dates on the calendar's two weekdays. A customer paying on
/// any business day puts 4 in 7 on the best pair (Monday takes the weekends), and
/// with a dozen dates reaches 80% by chance often enough to matter.
pub const MIN_TWICE_SHARE: f64 = 0.9;
/// Least share of the dates each of the two weekdays must hold (a weekly payer with a
/// few payments on another day is weekly, not twice-weekly).
pub const MIN_TWICE_DAY_SHARE: f64 = 0.25;
/// The weekday pairs of twice-weekly calendars, in slot order.
const PAIRS: [(u8, u8); 10] = [(0, 1), (0, 2), (0, 3), (0, 4), (1, 2), (1, 3), (1, 4), (2, 3), (2, 4), (3, 4)];
/// First slot of the twice-weekly calendars (after weekly, semi-monthly and monthly).
const TWICE_SLOT: usize = 34;
/// Longest gap between run days of any calendar (a monthly run on the 28th of
/// January to the 28th of February, moved to a Monday: 33 days; a few more when a
/// holiday follows the weekend).
const MAX_GAP: i32 = 40;

/// Weekday of an epoch day, 0 = Monday (1970-01-01 was a Thursday).
pub fn weekday(day: i32) -> i32 {
    (day + 3).rem_euclid(7)
}

/// Bank holidays: weekdays on which nothing settles, as epoch days (from the data's
/// `holidays` table; none by default). Days listed without a currency close the whole
/// ledger; days listed with one close only that currency's bank calendar, which
/// [`Holidays::of`] gives (its own days and the ledger's). Everything that does not
/// know a currency reads the ledger's days.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Holidays {
    days: Vec<i32>,
    /// Per currency with days of its own: the ledger's days and its own (sorted by
    /// currency, each with no calendars of its own).
    own: Vec<(Currency, Holidays)>,
}

/// No holidays: only weekends are closed.
pub static NO_HOLIDAYS: Holidays = Holidays { days: Vec::new(), own: Vec::new() };

fn sorted_days(days: impl IntoIterator<Item = i32>) -> Vec<i32> {
    let mut v: Vec<i32> = days.into_iter().collect();
    v.sort_unstable();
    v.dedup();
    v
}

impl Holidays {
    /// The holidays among `days` (sorted, each once), for every currency.
    pub fn new(days: impl IntoIterator<Item = i32>) -> Self {
        Holidays { days: sorted_days(days), own: Vec::new() }
    }

    /// The ledger's holidays `days` and, per currency, days of its own (`(currency,
    /// day)` pairs, in any order).
    pub fn with_currencies(
        days: impl IntoIterator<Item = i32>,
        own: impl IntoIterator<Item = (Currency, i32)>,
    ) -> Self {
        Holidays::new(days).with_currency_days(&by_currency(own))
    }

    /// The ledger's days, ascending (those of every currency).
    pub fn days(&self) -> &[i32] {
        &self.days
    }

    /// The calendar of payments in `currency`: its own days and the ledger's.
    pub fn of(&self, currency: Currency) -> &Holidays {
        self.own.iter().find(|(c, _)| *c == currency).map_or(self, |(_, h)| h)
    }

    /// The currencies with days of their own, in order; calendar `i + 1` of
    /// [`Self::calendar_index`] is the `i`-th.
    pub fn currencies(&self) -> impl Iterator<Item = Currency> + '_ {
        self.own.iter().map(|(c, _)| *c)
    }

    /// 0 for a currency without days of its own, else one more than its place in
    /// [`Self::currencies`].
    pub fn calendar_index(&self, currency: Currency) -> usize {
        self.own.iter().position(|(c, _)| *c == currency).map_or(0, |i| i + 1)
    }

    /// Calendar `i` of [`Self::calendar_index`].
    pub fn calendar(&self, i: usize) -> &Holidays {
        i.checked_sub(1).and_then(|j| self.own.get(j)).map_or(self, |(_, h)| h)
    }

    /// These holidays with `extra` days closing every currency.
    pub fn with_days(&self, extra: &[i32]) -> Holidays {
        if extra.is_empty() {
            return self.clone();
        }
        let merge = |h: &Holidays| sorted_days(h.days.iter().chain(extra).copied());
        Holidays {
            days: merge(self),
            own: self.own.iter().map(|(c, h)| (*c, Holidays { days: merge(h), own: Vec::new() })).collect(),
        }
    }

    /// These holidays with `extra` days closing one currency each (added to its own
    /// days, or to the ledger's for a currency without days of its own).
    pub fn with_currency_days(&self, extra: &[(Currency, Vec<i32>)]) -> Holidays {
        if extra.iter().all(|(_, d)| d.is_empty()) {
            return self.clone();
        }
        let mut own = self.own.clone();
        for (c, days) in extra.iter().filter(|(_, d)| !d.is_empty()) {
            match own.iter_mut().find(|(o, _)| o == c) {
                Some((_, h)) => h.days = sorted_days(h.days.iter().chain(days).copied()),
                None => own
                    .push((*c, Holidays { days: sorted_days(self.days.iter().chain(days).copied()), own: Vec::new() })),
            }
        }
        own.sort_by_key(|(c, _)| *c);
        Holidays { days: self.days.clone(), own }
    }

    /// Whether `day` is a holiday of the ledger.
    pub fn contains(&self, day: i32) -> bool {
        !self.days.is_empty() && self.days.binary_search(&day).is_ok()
    }

    /// Whether `day` is a business day: Monday to Friday and not a holiday.
    pub fn is_business_day(&self, day: i32) -> bool {
        weekday(day) < 5 && !self.contains(day)
    }

    /// `day`, or the next business day when it falls on a weekend or a holiday.
    pub fn business_day(&self, day: i32) -> i32 {
        let mut d = day;
        while !self.is_business_day(d) && d - day < MAX_GAP {
            d += 1;
        }
        d
    }
}

/// Days from `day` to the last day of its month (0 on the last day).
pub fn days_to_month_end(day: i32) -> i32 {
    date_from_days(day).map_or(0, |d| {
        let (y, m) = if d.month() == 12 { (d.year() + 1, 1) } else { (d.year(), d.month() + 1) };
        chrono::NaiveDate::from_ymd_opt(y, m, 1).map_or(0, |first| super::dates::days_from_date(first) - 1 - day)
    })
}

/// How many calendars [`PaymentRun::all`] lists.
pub const N_RUNS: usize = TWICE_SLOT + PAIRS.len();
/// How many calendars there are ([`PaymentRun::slot`] is below it).
pub const N_CALENDARS: usize = N_RUNS + 1;

/// Fewest settlements [`settles_on_business_days`] reads.
pub const MIN_SETTLEMENTS: usize = 200;
/// Largest share of them on weekends for a ledger that settles on business days.
pub const MAX_WEEKEND_SHARE: f64 = 0.02;

/// `(currency, day)` pairs grouped by currency, in currency order (days as given).
pub fn by_currency(pairs: impl IntoIterator<Item = (Currency, i32)>) -> Vec<(Currency, Vec<i32>)> {
    let mut out: std::collections::BTreeMap<Currency, Vec<i32>> = std::collections::BTreeMap::new();
    for (c, d) in pairs {
        out.entry(c).or_default().push(d);
    }
    out.into_iter().collect()
}

/// Whether a ledger's settlement days (its settled invoices' paid days) fall on
/// business days only: at least `MIN_SETTLEMENTS` of them and at most
/// `MAX_WEEKEND_SHARE` on a Saturday or Sunday (a ledger settling on any day puts 2
/// in 7 there).
pub fn settles_on_business_days(days: impl Iterator<Item = i32>) -> bool {
    let (mut n, mut weekend) = (0usize, 0usize);
    for d in days {
        n += 1;
        weekend += usize::from(weekday(d) >= 5);
    }
    n >= MIN_SETTLEMENTS && weekend as f64 <= MAX_WEEKEND_SHARE * n as f64
}

impl PaymentRun {
    /// This calendar's place in [`Self::all`] (0..[`N_RUNS`]).
    pub fn slot(self) -> usize {
        match self {
            PaymentRun::Weekly(w) => usize::from(w.min(4)),
            PaymentRun::SemiMonthly => 5,
            PaymentRun::Monthly(m) => 5 + usize::from(m.clamp(1, 28)),
            PaymentRun::TwiceWeekly(a, b) => TWICE_SLOT + PAIRS.iter().position(|&p| p == (a, b)).unwrap_or(0),
            PaymentRun::BusinessDays => N_RUNS,
        }
    }

    /// Every calendar [`Self::detect`] considers: weekly, semi-monthly and monthly
    /// ones, then twice-weekly ones (the densest last).
    pub fn all() -> impl Iterator<Item = PaymentRun> {
        (0..5)
            .map(PaymentRun::Weekly)
            .chain(std::iter::once(PaymentRun::SemiMonthly))
            .chain((1..=28).map(PaymentRun::Monthly))
            .chain(PAIRS.iter().map(|&(a, b)| PaymentRun::TwiceWeekly(a, b)))
    }

    /// A twice-weekly calendar on weekdays `a` and `b` (either order; None when they
    /// are equal or not Monday to Friday).
    pub fn twice_weekly(a: u8, b: u8) -> Option<PaymentRun> {
        let (a, b) = (a.min(b), a.max(b));
        (a < b && b <= 4).then_some(PaymentRun::TwiceWeekly(a, b))
    }

    /// Whether the run is scheduled on `day` (before moving off a weekend).
    fn scheduled(self, day: i32) -> bool {
        match self {
            PaymentRun::Weekly(w) => weekday(day) == i32::from(w),
            PaymentRun::SemiMonthly => {
                date_from_days(day).is_some_and(|d| d.day() == 15) || days_to_month_end(day) == 0
            }
            PaymentRun::Monthly(m) => date_from_days(day).is_some_and(|d| d.day() == u32::from(m)),
            PaymentRun::TwiceWeekly(a, b) => weekday(day) == i32::from(a) || weekday(day) == i32::from(b),
            PaymentRun::BusinessDays => weekday(day) < 5,
        }
    }

    /// Whether a payment of this calendar can go out on `day`: a business day on which
    /// a run is scheduled, or on a day of the weekend or holidays just before it.
    pub fn is_run_day(self, day: i32, hol: &Holidays) -> bool {
        if !hol.is_business_day(day) {
            return false;
        }
        let mut r = day;
        loop {
            if self.scheduled(r) {
                return true;
            }
            r -= 1;
            if hol.is_business_day(r) || day - r >= MAX_GAP {
                return false;
            }
        }
    }

    /// The first run day on or after `day`.
    pub fn on_or_after(self, day: i32, hol: &Holidays) -> i32 {
        (day..day + MAX_GAP).find(|&d| self.is_run_day(d, hol)).unwrap_or(day)
    }

    /// The last run day on or before `day`.
    pub fn on_or_before(self, day: i32, hol: &Holidays) -> i32 {
        (day - MAX_GAP..=day).rev().find(|&d| self.is_run_day(d, hol)).unwrap_or(day)
    }

    /// The run day nearest to `day` (the later one on a tie).
    pub fn nearest(self, day: i32, hol: &Holidays) -> i32 {
        let (lo, hi) = (self.on_or_before(day, hol), self.on_or_after(day, hol));
        if hi - day <= day - lo {
            hi
        } else {
            lo
        }
    }

    /// The calendar that the newest [`RUN_WINDOW`] of `dates` (distinct settlement days,
    /// ascending) follow: the one whose run days hold the largest share of them, if at
    /// least [`MIN_RUN_SHARE`] of at least [`MIN_RUN_DATES`] dates. A customer paying on
    /// any business day puts about 40% of its payments on Mondays (weekends move
    /// there), so a run calendar needs far more than that. Twice-weekly calendars are
    /// read only when no single-day calendar is, from [`MIN_TWICE_DATES`] dates, with
    /// `MIN_TWICE_SHARE` of them on the pair and `MIN_TWICE_DAY_SHARE` on each of its
    /// days (a weekly payer's stray payments do not make it twice-weekly).
    pub fn detect(dates: &[i32], hol: &Holidays) -> Option<PaymentRun> {
        let recent = &dates[dates.len().saturating_sub(RUN_WINDOW)..];
        if recent.len() < MIN_RUN_DATES {
            return None;
        }
        // Per calendar (slots as in [`Self::all`]), the dates that are its run days.
        let mut count = [0usize; N_RUNS];
        for &p in recent {
            let mut hit = [false; N_RUNS];
            if !hol.is_business_day(p) {
                continue;
            }
            // The days whose runs go out on p: p, and the weekend and holidays before it.
            let mut from = p;
            while !hol.is_business_day(from - 1) && p - from < MAX_GAP {
                from -= 1;
            }
            for r in from..=p {
                if weekday(r) < 5 {
                    hit[weekday(r) as usize] = true;
                }
                let Some(d) = date_from_days(r) else { continue };
                if d.day() == 15 || d.succ_opt().is_some_and(|n| n.day() == 1) {
                    hit[5] = true;
                }
                if d.day() <= 28 {
                    hit[5 + d.day() as usize] = true;
                }
            }
            for (i, &(a, b)) in PAIRS.iter().enumerate() {
                hit[TWICE_SLOT + i] = hit[usize::from(a)] || hit[usize::from(b)];
            }
            for (c, h) in count.iter_mut().zip(hit) {
                *c += usize::from(h);
            }
        }
        let enough = |n: usize, share: f64| n as f64 >= share * recent.len() as f64;
        // The first single-day calendar with the most (weekly before semi-monthly
        // before monthly).
        let (best, n) =
            count[..TWICE_SLOT].iter().enumerate().fold((0, 0), |b, (i, &n)| if n > b.1 { (i, n) } else { b });
        if enough(n, MIN_RUN_SHARE) {
            return Some(match best {
                w @ 0..=4 => PaymentRun::Weekly(w as u8),
                5 => PaymentRun::SemiMonthly,
                m => PaymentRun::Monthly((m - 5) as u8),
            });
        }
        if recent.len() < MIN_TWICE_DATES {
            return None;
        }
        let (best, n) = PAIRS
            .iter()
            .enumerate()
            .filter(|(_, &(a, b))| {
                enough(count[usize::from(a)], MIN_TWICE_DAY_SHARE) && enough(count[usize::from(b)], MIN_TWICE_DAY_SHARE)
            })
            .fold((0, 0), |b, (i, _)| if count[TWICE_SLOT + i] > b.1 { (i, count[TWICE_SLOT + i]) } else { b });
        enough(n, MIN_TWICE_SHARE).then(|| PaymentRun::TwiceWeekly(PAIRS[best].0, PAIRS[best].1))
    }

    /// The run day nearest to `day`, or the first on or after `first` when that is
    /// earlier (a median placed on the calendar).
    pub fn nearest_from(self, day: i32, first: i32, hol: &Holidays) -> i32 {
        let d = self.nearest(day, hol);
        if d < first {
            self.on_or_after(first, hol)
        } else {
            d
        }
    }

    /// The day a payment predicted (or drawn) for `day` goes out on, none before
    /// `first`: a payment run's nearest run day ([`Self::nearest_from`]); for
    /// [`PaymentRun::BusinessDays`], the next business day after a weekend or holiday
    /// (a closed day's payments post then).
    pub fn settle(self, day: i32, first: i32, hol: &Holidays) -> i32 {
        match self {
            PaymentRun::BusinessDays => self.on_or_after(day.max(first), hol),
            _ => self.nearest_from(day, first, hol),
        }
    }

    /// Predicted paid days `[p10, p50, p90]` placed on the calendar, none before
    /// `first`: the median where [`Self::settle`] puts it, the interval's ends inward on the
    /// run days within it (payments fall only on run days, so a run day just outside
    /// the quantiles is as likely as the run day inside), kept in order.
    pub fn place(self, q: [i32; 3], first: i32, hol: &Holidays) -> [i32; 3] {
        let at_least = |d: i32| if d < first { self.on_or_after(first, hol) } else { d };
        let mid = self.settle(q[1], first, hol);
        let lo = at_least(self.on_or_after(q[0], hol)).min(mid);
        let hi = at_least(self.on_or_before(q[2], hol)).max(mid);
        [lo, mid, hi]
    }

    /// Days between runs: 7, 15 (the 15th and month end) or 30; for twice-weekly
    /// runs the longer of the two gaps (Tuesdays and Fridays: 4).
    pub fn interval_days(self) -> i32 {
        match self {
            PaymentRun::Weekly(_) => 7,
            PaymentRun::TwiceWeekly(a, b) => {
                let gap = i32::from(b) - i32::from(a);
                gap.max(7 - gap)
            }
            PaymentRun::SemiMonthly => 15,
            PaymentRun::Monthly(_) => 30,
            PaymentRun::BusinessDays => 1,
        }
    }

    /// A short description, e.g. "weekly on Thursday".
    pub fn describe(self) -> String {
        const DAYS: [&str; 5] = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"];
        match self {
            PaymentRun::Weekly(w) => format!("weekly on {}", DAYS[usize::from(w.min(4))]),
            PaymentRun::SemiMonthly => "on the 15th and the last day of the month".to_string(),
            PaymentRun::Monthly(m) => format!("monthly on day {m}"),
            PaymentRun::TwiceWeekly(a, b) => {
                format!("twice weekly on {} and {}", DAYS[usize::from(a.min(4))], DAYS[usize::from(b.min(4))])
            }
            PaymentRun::BusinessDays => "on business days".to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::days_from_date;

    const H: &Holidays = &NO_HOLIDAYS;

    fn day(y: i32, m: u32, d: u32) -> i32 {
        days_from_date(chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap())
    }

    #[test]
    fn run_days_move_off_weekends_and_the_next_one_is_found() {
        // 2024-06-15 is a Saturday: the mid-month run goes out on Monday the 17th.
        let semi = PaymentRun::SemiMonthly;
        assert!(!semi.is_run_day(day(2024, 6, 15), H) && semi.is_run_day(day(2024, 6, 17), H));
        assert!(!semi.is_run_day(day(2024, 6, 28), H) && semi.is_run_day(day(2024, 7, 1), H));
        assert_eq!(semi.on_or_after(day(2024, 6, 18), H), day(2024, 7, 1), "June 30 is a Sunday");
        assert_eq!(semi.on_or_before(day(2024, 6, 30), H), day(2024, 6, 17));
        let thu = PaymentRun::Weekly(3);
        assert_eq!(thu.on_or_after(day(2024, 6, 14), H), day(2024, 6, 20));
        assert_eq!(thu.on_or_after(day(2024, 6, 20), H), day(2024, 6, 20));
        assert_eq!(thu.nearest(day(2024, 6, 16), H), day(2024, 6, 13), "Sunday: three days after Thursday");
        assert_eq!(thu.nearest(day(2024, 6, 17), H), day(2024, 6, 20));
        let m28 = PaymentRun::Monthly(28);
        assert_eq!(m28.on_or_after(day(2024, 1, 29), H), day(2024, 1, 29), "the 28th of January 2024 is a Sunday");
        assert_eq!(m28.on_or_after(day(2024, 1, 30), H), day(2024, 2, 28));
        assert_eq!(m28.on_or_after(day(2024, 9, 27), H), day(2024, 9, 30), "the 28th of September 2024 is a Saturday");
    }

    #[test]
    fn each_calendar_has_its_own_slot_in_listing_order() {
        let all: Vec<PaymentRun> = PaymentRun::all().collect();
        assert_eq!(all.len(), N_RUNS);
        for (i, r) in all.into_iter().enumerate() {
            assert_eq!(r.slot(), i, "{r:?}");
        }
    }

    #[test]
    fn a_calendar_is_found_only_where_most_settlements_follow_it() {
        let start = day(2024, 1, 1);
        let thursdays: Vec<i32> = (0..20).map(|k| start + 3 + 7 * k).collect();
        assert_eq!(PaymentRun::detect(&thursdays, H), Some(PaymentRun::Weekly(3)));
        // Too few dates, or too many off the calendar.
        assert_eq!(PaymentRun::detect(&thursdays[..MIN_RUN_DATES - 1], H), None);
        let mut mixed = thursdays.clone();
        for k in 0..6 {
            mixed.push(start + 1 + 7 * k);
        }
        mixed.sort_unstable();
        assert_eq!(PaymentRun::detect(&mixed, H), None, "6 of 26 on Tuesdays");
        // Only the newest RUN_WINDOW dates count: a customer that moved to runs.
        let mut moved: Vec<i32> = (0..40).map(|k| start - 400 + 9 * k).collect();
        moved.extend(&thursdays);
        assert_eq!(PaymentRun::detect(&moved, H), Some(PaymentRun::Weekly(3)));
        // The 15th and month ends, weekends moved to Monday.
        let semi: Vec<i32> = (0..24)
            .map(|k| {
                let m = 1 + (k / 2) as u32;
                let d =
                    if k % 2 == 0 { day(2024, m, 15) } else { day(2024, m, 1) + days_to_month_end(day(2024, m, 1)) };
                H.business_day(d)
            })
            .collect();
        assert_eq!(PaymentRun::detect(&semi, H), Some(PaymentRun::SemiMonthly));
        // Every business day in turn: no calendar.
        let daily: Vec<i32> =
            (0..40).map(|k| H.business_day(start + k)).collect::<std::collections::BTreeSet<_>>().into_iter().collect();
        assert_eq!(PaymentRun::detect(&daily, H), None);
    }

    /// Tuesdays and Fridays are read as one twice-weekly calendar; a weekly payer with
    /// a few stray payments stays weekly, and a business-day payer gets none.
    #[test]
    fn twice_weekly_runs_are_read_only_where_one_day_does_not_fit() {
        let monday = day(2024, 1, 1);
        let tue_fri: Vec<i32> = (0..12).flat_map(|k| [monday + 1 + 7 * k, monday + 4 + 7 * k]).collect();
        let tf = PaymentRun::TwiceWeekly(1, 4);
        assert_eq!(PaymentRun::detect(&tue_fri, H), Some(tf));
        assert_eq!(PaymentRun::twice_weekly(4, 1), Some(tf));
        assert_eq!((PaymentRun::twice_weekly(2, 2), PaymentRun::twice_weekly(1, 5)), (None, None));
        assert_eq!((tf.interval_days(), tf.describe().as_str()), (4, "twice weekly on Tuesday and Friday"));
        assert_eq!(PaymentRun::TwiceWeekly(1, 3).interval_days(), 5);
        // Next run days: from Saturday to Tuesday, from Tuesday to Tuesday, from
        // Wednesday to Friday; the nearest to Sunday is the Tuesday after.
        assert_eq!(tf.on_or_after(monday + 5, H), monday + 8);
        assert_eq!(tf.on_or_after(monday + 1, H), monday + 1);
        assert_eq!(tf.on_or_after(monday + 2, H), monday + 4);
        assert_eq!(tf.nearest(monday + 6, H), monday + 8);
        // 20 Thursdays and 3 Mondays: weekly (Thursday holds 87%).
        let mut weekly: Vec<i32> = (0..20).map(|k| monday + 3 + 7 * k).collect();
        weekly.extend([monday + 7, monday + 35, monday + 70]);
        weekly.sort_unstable();
        assert_eq!(PaymentRun::detect(&weekly, H), Some(PaymentRun::Weekly(3)));
        // 17 Thursdays and 7 Mondays: no one day holds 80%, both hold a quarter.
        let mut mixed: Vec<i32> = (0..17).map(|k| monday + 3 + 7 * k).collect();
        mixed.extend((0..7).map(|k| monday + 7 * k));
        mixed.sort_unstable();
        assert_eq!(PaymentRun::detect(&mixed, H), Some(PaymentRun::TwiceWeekly(0, 3)));
        // 19 Thursdays, 3 Mondays and 2 Wednesdays: Thursday holds 79%, and Thursday
        // with Monday 92%, but Monday holds an eighth: neither. Nor from 11 dates.
        let mut stray: Vec<i32> = (0..19).map(|k| monday + 3 + 7 * k).collect();
        stray.extend([monday + 7, monday + 35, monday + 70, monday + 2, monday + 30]);
        stray.sort_unstable();
        assert_eq!(PaymentRun::detect(&stray, H), None);
        assert_eq!(PaymentRun::detect(&tue_fri[..MIN_TWICE_DATES - 1], H), None);
        assert_eq!(PaymentRun::detect(&tue_fri[..MIN_TWICE_DATES], H), Some(tf));
        // Any business day: the best pair holds 4 in 7 (Monday takes the weekends).
        let daily: Vec<i32> = (0..40)
            .map(|k| H.business_day(monday + k))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        assert_eq!(PaymentRun::detect(&daily, H), None);
        // A holiday on Friday: that run goes out on Monday, and still counts.
        let good_friday = day(2024, 3, 29);
        let hol = Holidays::new([good_friday]);
        assert!(tf.is_run_day(good_friday + 3, &hol) && !tf.is_run_day(good_friday + 3, H));
        let around: Vec<i32> = tue_fri.iter().map(|&d| d + 7 * 12).map(|d| hol.business_day(d)).collect();
        assert_eq!(PaymentRun::detect(&around, &hol), Some(tf));
    }

    /// The TARGET2 closing days of 2023 and 2024 on weekdays: New Year, Good Friday,
    /// Easter Monday, 1 May, 25 and 26 December.
    fn target2() -> Holidays {
        Holidays::new([
            day(2023, 4, 7),
            day(2023, 4, 10),
            day(2023, 5, 1),
            day(2023, 12, 25),
            day(2023, 12, 26),
            day(2024, 1, 1),
            day(2024, 3, 29),
            day(2024, 4, 1),
            day(2024, 5, 1),
            day(2024, 12, 25),
            day(2024, 12, 26),
        ])
    }

    /// The counting in `detect` agrees with `is_run_day` for every calendar, with and
    /// without holidays.
    #[test]
    fn detection_counts_the_run_days_is_run_day_names() {
        let start = day(2023, 1, 1);
        for hol in [NO_HOLIDAYS.clone(), target2()] {
            for cal in PaymentRun::all() {
                // Eight months of a calendar's run days are found as that calendar...
                let runs: Vec<i32> = (start..start + 240).filter(|&d| cal.is_run_day(d, &hol)).collect();
                let dates = &runs[runs.len().saturating_sub(RUN_WINDOW)..];
                let found = PaymentRun::detect(dates, &hol);
                // ...unless an earlier calendar covers them as well (a Monday-heavy month).
                let covers = |c: PaymentRun| dates.iter().all(|&d| c.is_run_day(d, &hol));
                let first = PaymentRun::all().find(|&c| covers(c));
                assert_eq!(found, first, "{cal:?} {hol:?}");
                assert!(found.is_some_and(covers));
            }
        }
    }

    /// A run or a payment falling on a holiday goes out on the next business day.
    #[test]
    fn holidays_move_runs_and_settlements_to_the_next_business_day() {
        let hol = target2();
        assert!(hol.contains(day(2024, 12, 25)) && !hol.is_business_day(day(2024, 12, 26)));
        assert_eq!(hol.business_day(day(2024, 3, 29)), day(2024, 4, 2), "Good Friday to the Tuesday after Easter");
        assert_eq!(H.business_day(day(2024, 3, 29)), day(2024, 3, 29));
        // Thursday 26 December: that week's Thursday run goes out on Friday the 27th.
        let thu = PaymentRun::Weekly(3);
        assert!(!thu.is_run_day(day(2024, 12, 26), &hol) && thu.is_run_day(day(2024, 12, 27), &hol));
        assert!(!thu.is_run_day(day(2024, 12, 27), H));
        // Friday's run on Good Friday and the month-end run on Sunday 31 March both go
        // out on Tuesday 2 April.
        assert!(PaymentRun::Weekly(4).is_run_day(day(2024, 4, 2), &hol));
        assert_eq!(PaymentRun::SemiMonthly.on_or_after(day(2024, 3, 20), &hol), day(2024, 4, 2));
        assert_eq!(PaymentRun::SemiMonthly.on_or_after(day(2024, 3, 20), H), day(2024, 4, 1));
        // A business-day ledger: Saturday's payment posts on the Tuesday, none before
        // the first day, and a p90 on Easter Monday comes inward to the Thursday before.
        let bd = PaymentRun::BusinessDays;
        assert_eq!(bd.settle(day(2024, 3, 30), day(2024, 3, 25), &hol), day(2024, 4, 2));
        assert_eq!(
            bd.place([day(2024, 3, 26), day(2024, 3, 29), day(2024, 4, 1)], day(2024, 3, 26), &hol),
            [day(2024, 3, 26), day(2024, 4, 2), day(2024, 4, 2)]
        );
        assert_eq!(bd.on_or_before(day(2024, 4, 1), &hol), day(2024, 3, 28));
    }

    /// A ledger settling on business days moves a weekend to the Monday after; one
    /// with weekend settlements, or too few, is not read as one.
    #[test]
    fn business_days_are_read_from_the_ledger_and_weekends_settle_on_monday() {
        let monday = day(2024, 6, 10);
        let weekdays: Vec<i32> = (0..280).map(|k| monday + 7 * (k / 5) + k % 5).collect();
        assert!(settles_on_business_days(weekdays.iter().copied()));
        assert!(!settles_on_business_days(weekdays[..150].iter().copied()), "too few");
        // Three in a hundred on Saturdays: not business days only.
        let mut some_saturdays = weekdays.clone();
        some_saturdays.extend((0..9).map(|k| monday + 5 + 7 * k));
        assert!(!settles_on_business_days(some_saturdays.iter().copied()));
        let bd = PaymentRun::BusinessDays;
        assert_eq!((bd.settle(monday + 5, monday, H), bd.settle(monday + 6, monday, H)), (monday + 7, monday + 7));
        assert_eq!(bd.settle(monday + 3, monday + 4, H), monday + 4, "never before the first day");
        // The interval inward: p10 on a Saturday to the Monday, p90 on a Sunday to the Friday.
        assert_eq!(
            bd.place([monday + 5, monday + 8, monday + 13], monday + 1, H),
            [monday + 7, monday + 8, monday + 11]
        );
        assert_eq!((bd.slot(), bd.describe().as_str()), (N_RUNS, "on business days"));
        assert!(PaymentRun::all().all(|r| r != bd), "never read per customer");
    }

    #[test]
    fn placed_quantiles_are_run_days_in_order_and_not_before_the_first_day() {
        let thu = PaymentRun::Weekly(3);
        let d = day(2024, 6, 10); // a Monday
        let [lo, mid, hi] = thu.place([d + 1, d + 5, d + 20], d + 1, H);
        assert!(thu.is_run_day(lo, H) && thu.is_run_day(mid, H) && thu.is_run_day(hi, H));
        assert_eq!([lo, mid, hi], [d + 3, d + 3, d + 17]);
        // A median nearest a run day before the first possible day moves to the next.
        let [_, mid, _] = thu.place([d + 1, d + 2, d + 4], d + 5, H);
        assert_eq!(mid, d + 10);
        // No run day inside the interval: both ends on the median's (Sunday's nearest
        // run day is the Thursday before).
        let [lo, mid, hi] = thu.place([d + 4, d + 6, d + 8], d + 1, H);
        assert_eq!([lo, mid, hi], [d + 3, d + 3, d + 3]);
    }
}
