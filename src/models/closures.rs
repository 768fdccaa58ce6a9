//! Bank holidays read from the ledger itself, for data without a `holidays` table: on a
//! ledger that settles on business days only, a weekday on which nothing settled while
//! the business days around it were busy was likely a closing day. A yearly rule that
//! such days followed in at least [`MIN_YEARS`] years and never broke (a fixed date,
//! also as observed off a weekend, a day relative to Easter, the n-th or the last
//! weekday of a month), on days that would have seen at least [`MIN_EVIDENCE`]
//! settlements had they been open, not counting the busiest (so no one day decides
//! it), is projected ahead, unless a rule that shares its closed days puts that year's
//! day elsewhere and the first has too little evidence of its own (two years of a
//! Monday holiday fit an n-th Monday and a date moved off weekends alike). A one-off closing day is not: nothing says it comes back.
//! The same reading of each currency's settlements alone finds the days its banks close
//! while the others settle.

use std::collections::HashMap;

use chrono::{Datelike, NaiveDate};

use crate::domain::{by_currency, date_from_days, days_from_date, easter_sunday, weekday, Currency, NO_HOLIDAYS};

/// Least mean number of settlements per business day around a weekday for the day to
/// be read at all (a Poisson day with that mean is empty 5 times in 100: alone, no
/// evidence; see [`MIN_EVIDENCE`]).
pub const MIN_BUSY: f64 = 3.0;
/// Least sum of the expected settlements of the empty days a rule explains, its
/// busiest day left out: an open ledger leaves those days empty with probability
/// `e^−8`, 3 in 10,000, and the rule does not rest on one day, which may have closed
/// for a reason of its own (two days at 8 settlements a day or more, three at 4).
pub const MIN_EVIDENCE: f64 = 8.0;
/// Least number of years a rule must have closed the ledger.
pub const MIN_YEARS: usize = 2;
/// Least settlements on the quietest weekday against the busiest: below it the ledger
/// settles on some weekdays only (a ledger-wide payment run, or settlement dates read
/// from weekly open-items snapshots), and a weekday that never settles would read as
/// a closing day in every year.
pub const MIN_WEEKDAY_SHARE: f64 = 0.25;
/// Business days on each side that give a day's expected number of settlements.
const AROUND: i32 = 15;
/// Furthest a rule relative to Easter is read (Ascension is 39 days after, Corpus
/// Christi 60).
const MAX_EASTER_OFFSET: i32 = 70;

/// Where a holiday on a weekend is observed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Observed {
    /// Saturday's on the Friday before, Sunday's on the Monday after (US federal).
    NearestWeekday,
    /// Saturday's and Sunday's on the Monday after (UK substitute days).
    MondayAfter,
}

/// A yearly rule a closing day can follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Rule {
    /// The same month and day every year.
    Fixed(u32, u32),
    /// The same month and day, moved off a weekend as given.
    FixedObserved(u32, u32, Observed),
    /// Days after Easter Sunday (negative before).
    Easter(i32),
    /// The n-th (1–4) weekday (0 = Monday) of a month.
    Nth(u32, u32, u32),
    /// The last weekday of a month.
    Last(u32, u32),
}

impl Rule {
    /// The rules `day` follows.
    fn of(day: i32) -> Vec<Rule> {
        let Some(d) = date_from_days(day) else { return Vec::new() };
        let wd = d.weekday().num_days_from_monday();
        let mut out = vec![Rule::Fixed(d.month(), d.day()), Rule::Nth(d.month(), wd, (d.day() - 1) / 7 + 1)];
        // A holiday observed here: on this day, or on the weekend day next to it.
        let on = |k: i32, how| date_from_days(day + k).map(|h| Rule::FixedObserved(h.month(), h.day(), how));
        let observed = match wd {
            4 => vec![on(0, Observed::NearestWeekday), on(0, Observed::MondayAfter), on(1, Observed::NearestWeekday)],
            0 => vec![
                on(0, Observed::NearestWeekday),
                on(0, Observed::MondayAfter),
                on(-1, Observed::NearestWeekday),
                on(-1, Observed::MondayAfter),
                on(-2, Observed::MondayAfter),
            ],
            _ => vec![on(0, Observed::NearestWeekday), on(0, Observed::MondayAfter)],
        };
        out.extend(observed.into_iter().flatten());
        if d.day() + 7 > days_in_month(d.year(), d.month()) {
            out.push(Rule::Last(d.month(), wd));
        }
        if let Some(e) = easter_sunday(d.year()) {
            if (day - e).abs() <= MAX_EASTER_OFFSET {
                out.push(Rule::Easter(day - e));
            }
        }
        out
    }

    /// The day the rule falls on in `year`, if any.
    fn in_year(self, year: i32) -> Option<i32> {
        match self {
            Rule::Fixed(m, d) => NaiveDate::from_ymd_opt(year, m, d).map(days_from_date),
            Rule::FixedObserved(m, d, how) => {
                let day = days_from_date(NaiveDate::from_ymd_opt(year, m, d)?);
                Some(match ((day + 3).rem_euclid(7), how) {
                    (5, Observed::NearestWeekday) => day - 1,
                    (5, Observed::MondayAfter) => day + 2,
                    (6, _) => day + 1,
                    _ => day,
                })
            }
            Rule::Easter(k) => easter_sunday(year).map(|e| e + k),
            Rule::Nth(m, wd, n) => {
                let first = NaiveDate::from_ymd_opt(year, m, 1)?;
                let shift = (wd + 7 - first.weekday().num_days_from_monday()) % 7;
                let day = 1 + shift + 7 * (n - 1);
                (day <= days_in_month(year, m)).then(|| days_from_date(first) + day as i32 - 1)
            }
            Rule::Last(m, wd) => {
                let last = NaiveDate::from_ymd_opt(year, m, days_in_month(year, m))?;
                let back = (last.weekday().num_days_from_monday() + 7 - wd) % 7;
                Some(days_from_date(last) - back as i32)
            }
        }
    }
}

fn days_in_month(y: i32, m: u32) -> u32 {
    let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    NaiveDate::from_ymd_opt(ny, nm, 1).and_then(|d| d.pred_opt()).map_or(28, |d| d.day())
}

fn is_weekday(day: i32) -> bool {
    NO_HOLIDAYS.is_business_day(day)
}

/// What the settlements say of a weekday.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Seen {
    /// Busy around it (this many settlements expected) and nothing settled.
    Closed(f64),
    /// Busy around it and something settled.
    Open,
    /// Too quiet around it, or outside the data.
    Unknown,
}

/// A rule that held: the closed days it explains (with the settlements each would
/// have seen), and its (year, day) pairs.
type Held = (Vec<(i32, f64)>, Vec<(i32, i32)>);

/// The closing days of a ledger whose settlement days (one entry per settlement, known
/// by `until`) fall on business days: for every yearly rule that closed it in at least
/// [`MIN_YEARS`] years, on days worth [`MIN_EVIDENCE`], and never broke, the rule's
/// weekdays from the first settlement's year to `ahead` days past `until`, ascending; a
/// day past `until` is left out where a rule sharing closed days with this one puts that
/// year's day elsewhere and this one's own closed days are worth less than
/// [`MIN_EVIDENCE`]. None where the quietest weekday has fewer than
/// [`MIN_WEEKDAY_SHARE`] of the busiest one's settlements.
pub fn learn_closures(settled: impl Iterator<Item = i32> + Clone, until: i32, ahead: i32) -> Vec<i32> {
    let Some(lo) = settled.clone().filter(|&d| d <= until).min() else { return Vec::new() };
    let n = (until - lo + 1) as usize;
    let mut count = vec![0u32; n];
    let mut by_weekday = [0u64; 7];
    for d in settled.filter(|&d| d <= until) {
        count[(d - lo) as usize] += 1;
        by_weekday[weekday(d) as usize] += 1;
    }
    let (quietest, busiest) = (by_weekday[..5].iter().min(), by_weekday[..5].iter().max());
    if let (Some(&q), Some(&b)) = (quietest, busiest) {
        if (q as f64) < MIN_WEEKDAY_SHARE * b as f64 {
            return Vec::new();
        }
    }
    // The weekdays of the data, and prefix sums of their settlements.
    let weekdays: Vec<i32> = (lo..=until).filter(|&d| is_weekday(d)).collect();
    let mut prefix = vec![0u64; weekdays.len() + 1];
    for (k, &d) in weekdays.iter().enumerate() {
        prefix[k + 1] = prefix[k] + u64::from(count[(d - lo) as usize]);
    }
    let seen_at = |k: usize| -> Seen {
        let a = k.saturating_sub(AROUND as usize);
        let b = (k + AROUND as usize + 1).min(weekdays.len());
        let others = (b - a - 1) as f64;
        let total = (prefix[b] - prefix[a]) as f64;
        let here = count[(weekdays[k] - lo) as usize];
        let expected = (total - f64::from(here)) / others;
        if others < AROUND as f64 || expected < MIN_BUSY {
            Seen::Unknown
        } else if here == 0 {
            Seen::Closed(expected)
        } else {
            Seen::Open
        }
    };
    let seen: HashMap<i32, Seen> = (0..weekdays.len()).map(|k| (weekdays[k], seen_at(k))).collect();
    let look = |d: i32| seen.get(&d).copied().unwrap_or(Seen::Unknown);
    let year = |d: i32| date_from_days(d).map_or(1970, |x| x.year());
    let (first_year, last_year) = (year(lo), year(until + ahead));
    let mut rules: Vec<Rule> =
        seen.iter().filter(|(_, s)| matches!(s, Seen::Closed(_))).flat_map(|(&d, _)| Rule::of(d)).collect();
    rules.sort_unstable();
    rules.dedup();
    // Each rule that holds: the closed days it explains, and its days (with the years).
    let mut held: Vec<Held> = Vec::new();
    for r in rules {
        // Each year's day, with the weekend day it was moved off (5 Saturday, 6 Sunday).
        let on: Vec<(i32, Option<i32>)> = (first_year..=last_year)
            .filter_map(|y| {
                let x = r.in_year(y)?;
                let moved_off = match r {
                    Rule::FixedObserved(m, dd, _) => NaiveDate::from_ymd_opt(y, m, dd)
                        .map(|p| (days_from_date(p) + 3).rem_euclid(7))
                        .filter(|&w| w >= 5),
                    _ => None,
                };
                is_weekday(x).then_some((x, moved_off))
            })
            .collect();
        let expected = |d: i32| match look(d) {
            Seen::Closed(e) => Some(e),
            _ => None,
        };
        let closed = on.iter().filter(|&&(d, _)| expected(d).is_some()).count();
        let weights = on.iter().filter_map(|&(d, _)| expected(d));
        let weight = weights.clone().sum::<f64>() - weights.fold(0.0, f64::max);
        let open = on.iter().any(|&(d, _)| look(d) == Seen::Open);
        // A move off a Saturday (or a Sunday) is projected only once seen closing.
        let seen_moving = |w: i32| on.iter().any(|&(d, m)| m == Some(w) && expected(d).is_some());
        let (sat, sun) = (seen_moving(5), seen_moving(6));
        let shown = !matches!(r, Rule::FixedObserved(..)) || sat || sun;
        if closed >= MIN_YEARS && weight >= MIN_EVIDENCE && !open && shown {
            let evidence: Vec<(i32, f64)> = on.iter().filter_map(|&(d, _)| Some((d, expected(d)?))).collect();
            let days: Vec<(i32, i32)> = on
                .into_iter()
                .filter(|&(d, m)| d <= until + ahead && m.is_none_or(|w| if w == 5 { sat } else { sun }))
                .map(|(d, _)| (year(d), d))
                .collect();
            held.push((evidence, days));
        }
    }
    // A day ahead is projected only if no rule that shares closed days with this one
    // and puts that year's day elsewhere leaves it without [`MIN_EVIDENCE`] of its
    // own: two years of a Monday holiday fit "the 3rd Monday of January" and "the
    // 15th, moved off a weekend to the Monday after" alike, and the data cannot say
    // which comes next (nor, where each rule has one more day of its own, which of the
    // two days was a chance empty day).
    let own_beyond = |a: &[(i32, f64)], b: &[(i32, f64)]| -> Option<f64> {
        let shares = a.iter().any(|x| b.iter().any(|y| y.0 == x.0));
        shares.then(|| a.iter().filter(|x| !b.iter().any(|y| y.0 == x.0)).map(|x| x.1).sum())
    };
    let mut out = Vec::new();
    for (k, (evidence, days)) in held.iter().enumerate() {
        for &(y, d) in days {
            let contested = d > until
                && held.iter().enumerate().any(|(j, (e, o))| {
                    j != k
                        && own_beyond(evidence, e).is_some_and(|w| w < MIN_EVIDENCE)
                        && o.iter().any(|&(oy, od)| oy == y && od != d)
                });
            if !contested {
                out.push(d);
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// Closing days of each currency beyond the ledger's `common` ones, from `(currency,
/// settlement day)` pairs: [`learn_closures`] on each currency's settlements alone
/// (a currency's bank holidays leave the others busy, so the ledger's totals do not
/// show them). Only currencies busy enough for [`MIN_EVIDENCE`] yield days, and only a
/// ledger in more than one currency has any to add. Sorted by currency, none empty.
pub fn learn_currency_closures(
    settled: &[(Currency, i32)],
    until: i32,
    ahead: i32,
    common: &[i32],
) -> Vec<(Currency, Vec<i32>)> {
    let grouped = by_currency(settled.iter().copied());
    if grouped.len() < 2 {
        return Vec::new();
    }
    grouped
        .into_iter()
        .filter_map(|(c, days)| {
            let own: Vec<i32> =
                learn_closures(days.into_iter(), until, ahead).into_iter().filter(|d| !common.contains(d)).collect();
            (!own.is_empty()).then_some((c, own))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> i32 {
        days_from_date(NaiveDate::from_ymd_opt(y, m, d).unwrap())
    }

    /// Ten settlements every weekday of 2022–2024 but on `closed`.
    fn ledger(closed: &[i32]) -> Vec<i32> {
        ledger_to(closed, day(2022, 1, 3), day(2024, 12, 31))
    }

    /// Ten settlements every weekday from `start` to `end` but on `closed`.
    fn ledger_to(closed: &[i32], start: i32, end: i32) -> Vec<i32> {
        (start..=end)
            .filter(|&d| is_weekday(d) && !closed.contains(&d))
            .flat_map(|d| std::iter::repeat_n(d, 10))
            .collect()
    }

    /// US federal practice: a holiday on a Saturday is observed on the Friday before,
    /// on a Sunday on the Monday after. Over 2020–2025 the 4th of July fell on a
    /// Saturday in 2020 (observed on the 3rd), so in 2026, a Saturday again, it is
    /// projected onto Friday the 3rd. With the data from 2021 on, it fell on a weekend
    /// only on a Sunday (observed on Monday the 5th), so how a Saturday moves is
    /// unknown and nothing is projected for it.
    #[test]
    fn holidays_observed_off_weekends_are_learned() {
        let us = |y: i32, m: u32, d: u32| {
            let x = day(y, m, d);
            match (x + 3).rem_euclid(7) {
                5 => x - 1,
                6 => x + 1,
                _ => x,
            }
        };
        let closed: Vec<i32> = (2020..=2025)
            .flat_map(|y| [us(y, 1, 1), us(y, 7, 4), Rule::Nth(11, 3, 4).in_year(y).unwrap(), us(y, 12, 25)])
            .collect();
        let until = day(2025, 12, 31);
        let start = day(2020, 1, 2);
        let learned = learn_closures(ledger_to(&closed, start, until).into_iter(), until, 365);
        let got: Vec<i32> = learned.iter().copied().filter(|&d| d > until).collect();
        assert_eq!(got, [day(2026, 1, 1), day(2026, 7, 3), day(2026, 11, 26), day(2026, 12, 25)]);
        assert!(closed.iter().filter(|&&d| d >= start).all(|d| learned.contains(d)));
        let from_2021 = learn_closures(ledger_to(&closed, day(2021, 1, 4), until).into_iter(), until, 365);
        assert!(!from_2021.contains(&day(2026, 7, 3)) && !from_2021.contains(&day(2026, 7, 6)));
        assert!(from_2021.contains(&day(2026, 11, 26)));
    }

    #[test]
    fn rules_find_their_days() {
        assert_eq!(easter_sunday(2025), Some(day(2025, 4, 20)));
        assert_eq!(Rule::Nth(11, 3, 4).in_year(2025), Some(day(2025, 11, 27)), "Thanksgiving");
        assert_eq!(Rule::Last(5, 0).in_year(2025), Some(day(2025, 5, 26)), "Memorial Day");
        assert_eq!(Rule::Nth(2, 0, 5).in_year(2025), None);
        let rules = Rule::of(day(2024, 5, 27));
        assert!(rules.contains(&Rule::Last(5, 0)) && rules.contains(&Rule::Nth(5, 0, 4)), "{rules:?}");
    }

    /// US and TARGET2 closing days of three years are found and projected into the
    /// next; a one-off closing day and one rule broken in a year are not.
    #[test]
    fn yearly_closing_days_are_learned_and_projected() {
        let mut closed = Vec::new();
        for y in 2022..=2024 {
            let e = easter_sunday(y).unwrap();
            closed.extend([
                day(y, 1, 1),
                e - 2,
                e + 1,
                day(y, 12, 25),
                day(y, 12, 26),
                Rule::Nth(11, 3, 4).in_year(y).unwrap(),
                Rule::Last(5, 0).in_year(y).unwrap(),
            ]);
        }
        closed.push(day(2023, 6, 14)); // an outage
        closed.extend([day(2022, 8, 15), day(2023, 8, 15)]); // 15 August, but open in 2024
        let until = day(2024, 12, 31);
        let learned = learn_closures(ledger(&closed).into_iter(), until, 365);
        // New Year fell on a weekday only in 2024 (2022 on a Saturday, 2023 on a
        // Sunday): one year, not projected.
        let want_2025 = [
            day(2025, 4, 18),
            day(2025, 4, 21),
            day(2025, 5, 26),
            day(2025, 11, 27),
            day(2025, 12, 25),
            day(2025, 12, 26),
        ];
        let got_2025: Vec<i32> = learned.iter().copied().filter(|&d| d > until).collect();
        assert_eq!(got_2025, want_2025);
        assert!(!learned.contains(&day(2023, 6, 14)) && !learned.contains(&day(2025, 8, 15)));
        let not_rules = [day(2023, 6, 14), day(2022, 8, 15), day(2023, 8, 15), day(2024, 1, 1)];
        assert!(closed.iter().filter(|&&d| is_weekday(d) && !not_rules.contains(&d)).all(|d| learned.contains(d)));
    }

    /// Two currencies closing on their own banks' days: the ledger's totals show only
    /// the days both close, each currency's settlements its own.
    #[test]
    fn each_currency_closes_on_its_own_days() {
        let (usd, eur) = (Currency::parse("USD").unwrap(), Currency::parse("EUR").unwrap());
        let mut us = Vec::new();
        let mut target = Vec::new();
        for y in 2022..=2024 {
            let e = easter_sunday(y).unwrap();
            us.extend([day(y, 12, 25), Rule::Nth(11, 3, 4).in_year(y).unwrap(), Rule::Last(5, 0).in_year(y).unwrap()]);
            target.extend([day(y, 12, 25), e - 2, e + 1, day(y, 12, 26)]);
        }
        let until = day(2024, 12, 31);
        let settled: Vec<(Currency, i32)> =
            ledger(&us).into_iter().map(|d| (usd, d)).chain(ledger(&target).into_iter().map(|d| (eur, d))).collect();
        let common = learn_closures(settled.iter().map(|(_, d)| *d), until, 365);
        let christmas: Vec<i32> = (2022..=2025).map(|y| day(y, 12, 25)).filter(|&d| is_weekday(d)).collect();
        assert_eq!(common.iter().filter(|&&d| is_weekday(d) && d <= until).count(), 2, "{common:?}");
        assert!(christmas.iter().all(|d| common.contains(d)), "{common:?}");
        let own = learn_currency_closures(&settled, until, 365, &common);
        assert_eq!(own.iter().map(|(c, _)| *c).collect::<Vec<_>>(), [eur, usd], "sorted by currency");
        let of = |c: Currency| &own.iter().find(|(k, _)| *k == c).unwrap().1;
        // Thanksgiving 2025 closes USD only; Good Friday 2025 EUR only.
        assert!(of(usd).contains(&day(2025, 11, 27)) && !of(eur).contains(&day(2025, 11, 27)));
        assert!(of(eur).contains(&day(2025, 4, 18)) && !of(usd).contains(&day(2025, 4, 18)));
        assert!(own.iter().all(|(_, d)| d.iter().all(|x| !common.contains(x))));
        // One currency: nothing beyond the ledger's days.
        let one: Vec<(Currency, i32)> = ledger(&us).into_iter().map(|d| (usd, d)).collect();
        assert!(learn_currency_closures(&one, until, 365, &[]).is_empty());
        // And the calendars they make: each currency closed on its days, the ledger's on none of them.
        let h = crate::domain::Holidays::new(common.iter().copied()).with_currency_days(&own);
        assert!(h.of(usd).contains(day(2025, 11, 27)) && !h.of(eur).contains(day(2025, 11, 27)));
        assert!(h.of(eur).contains(day(2025, 4, 18)) && !h.contains(day(2025, 4, 18)));
        assert!(h.of(usd).contains(day(2025, 12, 25)) && h.of(eur).contains(day(2025, 12, 25)));
    }

    /// Two and three-quarter years of US federal holidays: "the 2nd Monday of October"
    /// and "the 9th, moved off a weekend" fit Columbus Day 2022 and 2023 alike, and
    /// Christmas on a Monday twice fits "the 4th Monday" and "the last Monday of
    /// December". Where rules that fit the same days part, nothing is projected; every
    /// day that is projected is a holiday.
    #[test]
    fn rules_the_data_cannot_tell_apart_project_nothing() {
        let closed: Vec<i32> = crate::generate::us_fed_holidays(2022..=2025).into_iter().map(|x| x.0).collect();
        let until = day(2024, 9, 30);
        let learned = learn_closures(ledger_to(&closed, day(2022, 1, 3), until).into_iter(), until, 400);
        let ahead: Vec<i32> = learned.iter().copied().filter(|&d| d > until).collect();
        let wrong: Vec<String> =
            ahead.iter().filter(|d| !closed.contains(d)).map(|&d| date_from_days(d).unwrap().to_string()).collect();
        assert!(wrong.is_empty(), "projected on open days: {wrong:?}");
        for want in [day(2024, 11, 28), day(2025, 5, 26), day(2025, 7, 4), day(2025, 9, 1)] {
            assert!(ahead.contains(&want), "{} {ahead:?}", date_from_days(want).unwrap());
        }
    }

    /// Settlements on every weekday from `start` to `end` but on `closed`: `per_day` of
    /// them, or with `rng` a Poisson number of that mean (three times it on Mondays,
    /// which collect the weekend's payments).
    fn ledger_of(closed: &[i32], start: i32, end: i32, per_day: f64, mut rng: Option<crate::rng::Rng>) -> Vec<i32> {
        let mut out = Vec::new();
        for d in (start..=end).filter(|&d| is_weekday(d) && !closed.contains(&d)) {
            let n = match rng.as_mut() {
                None => per_day as usize,
                Some(r) => {
                    let mean = if (d + 3).rem_euclid(7) == 0 { 3.0 * per_day } else { per_day };
                    let (limit, mut p, mut k) = ((-mean).exp(), r.f64(), 0);
                    while p > limit {
                        p *= r.f64();
                        k += 1;
                    }
                    k
                }
            };
            out.extend(std::iter::repeat_n(d, n));
        }
        out
    }

    /// Five settlements a weekday: two years are not enough to read a closing day
    /// (each day would show 5 settlements, and no one day decides), five are, and
    /// what they project is right.
    #[test]
    fn a_quieter_ledger_reads_its_closing_days_over_more_years() {
        let closed: Vec<i32> = crate::generate::us_fed_holidays(2020..=2025).into_iter().map(|x| x.0).collect();
        let (start, until) = (day(2020, 1, 2), day(2024, 12, 31));
        let two = learn_closures(ledger_of(&closed, day(2023, 1, 2), until, 5.0, None).into_iter(), until, 365);
        assert!(two.is_empty(), "{two:?}");
        let five = learn_closures(ledger_of(&closed, start, until, 5.0, None).into_iter(), until, 365);
        let ahead: Vec<i32> = five.iter().copied().filter(|&d| d > until).collect();
        assert!(ahead.iter().all(|d| closed.contains(d)), "{ahead:?}");
        for want in [day(2025, 5, 26), day(2025, 7, 4), day(2025, 9, 1), day(2025, 11, 27), day(2025, 12, 25)] {
            assert!(ahead.contains(&want), "{} {ahead:?}", date_from_days(want).unwrap());
        }
    }

    /// An empty Friday by chance two days before Labor Day 2022 fits "the 2nd of
    /// September, Sunday's moved to the Monday" with Labor Day 2023 and 2024; that
    /// rule and "the 1st Monday of September" each have one day of their own at six
    /// settlements, too little to say which comes in 2025: neither is projected.
    #[test]
    fn a_chance_empty_day_beside_a_holiday_projects_no_open_day() {
        let mut closed: Vec<i32> = crate::generate::us_fed_holidays(2022..=2025).into_iter().map(|x| x.0).collect();
        closed.push(day(2022, 9, 2));
        let until = day(2024, 12, 31);
        let learned = learn_closures(ledger_of(&closed, day(2022, 1, 3), until, 6.0, None).into_iter(), until, 365);
        let ahead: Vec<i32> = learned.iter().copied().filter(|&d| d > until).collect();
        assert!(!ahead.contains(&day(2025, 9, 2)) && !ahead.contains(&day(2025, 9, 1)), "{ahead:?}");
        assert!(ahead.iter().all(|d| closed.contains(d)) && ahead.contains(&day(2025, 11, 27)), "{ahead:?}");
    }

    /// Two years of Poisson settlements (three a weekday, nine on Mondays: one weekday
    /// in twenty empty) on a ledger that never closes: the chance empty days that
    /// fit a yearly rule twice are too few settlements' worth to make it one.
    #[test]
    fn chance_empty_days_make_no_closing_days() {
        for seed in 1..=5 {
            let (start, until) = (day(2023, 1, 2), day(2024, 12, 31));
            let rng = crate::rng::Rng::new(seed, 7);
            let settled = ledger_of(&[], start, until, 3.0, Some(rng));
            let empty = (start..=until).filter(|&d| is_weekday(d) && !settled.contains(&d)).count();
            assert!(empty > 0, "the draws leave some weekdays empty");
            assert!(learn_closures(settled.into_iter(), until, 365).is_empty(), "seed {seed}");
        }
    }

    /// A quiet ledger (three settlements a weekday) tells nothing, and a busy one
    /// without closing days gives none.
    #[test]
    fn quiet_or_always_open_ledgers_give_no_closing_days() {
        let until = day(2024, 12, 31);
        let holidays: Vec<i32> = (2022..=2024).flat_map(|y| [day(y, 12, 25), day(y, 12, 26)]).collect();
        let quiet: Vec<i32> = (day(2022, 1, 3)..=until)
            .filter(|&d| is_weekday(d) && !holidays.contains(&d))
            .flat_map(|d| std::iter::repeat_n(d, 3))
            .collect();
        assert!(learn_closures(quiet.into_iter(), until, 365).is_empty());
        assert!(learn_closures(ledger(&[]).into_iter(), until, 365).is_empty());
        assert!(learn_closures(std::iter::empty(), until, 365).is_empty());
        // Settlements on Fridays only (a weekly run, or weekly open-items snapshots): the
        // other weekdays are not closing days, though none of them ever settles.
        let fridays: Vec<i32> = ledger(&holidays)
            .into_iter()
            .filter(|&d| weekday(d) == 4)
            .flat_map(|d| std::iter::repeat_n(d, 5))
            .collect();
        assert!(!fridays.is_empty());
        assert!(learn_closures(fridays.into_iter(), until, 365).is_empty());
        // Nothing after `until` is read.
        assert!(learn_closures(ledger(&holidays).into_iter(), day(2023, 12, 1), 365)
            .iter()
            .all(|&d| d != day(2024, 12, 25)));
    }
}
