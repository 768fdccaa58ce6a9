//! Bank calendars for generated ledgers: the days each currency's payments do not
//! settle on besides weekends.

use chrono::{NaiveDate, Weekday};

use crate::domain::{days_from_date, easter_sunday, weekday, Currency};

/// Epoch day of `y-m-d` (None for a date that does not exist).
fn on(y: i32, m: u32, d: u32) -> Option<i32> {
    NaiveDate::from_ymd_opt(y, m, d).map(days_from_date)
}

/// The `n`-th (1-based) `weekday` of month `m` of `y`.
fn nth(y: i32, m: u32, weekday: Weekday, n: u8) -> Option<i32> {
    NaiveDate::from_weekday_of_month_opt(y, m, weekday, n).map(days_from_date)
}

/// The last `weekday` of month `m` of `y`.
fn last(y: i32, m: u32, weekday: Weekday) -> Option<i32> {
    nth(y, m, weekday, 5).or_else(|| nth(y, m, weekday, 4))
}

/// The TARGET2 closing days of `years` on weekdays, with their names: New Year's Day,
/// Good Friday, Easter Monday, Labour Day, Christmas Day and 26 December.
pub fn target2_closing_days(years: std::ops::RangeInclusive<i32>) -> Vec<(i32, &'static str)> {
    let mut out = Vec::new();
    for y in years {
        let easter = easter_sunday(y);
        let days = [
            (on(y, 1, 1), "New Year's Day"),
            (easter.map(|e| e - 2), "Good Friday"),
            (easter.map(|e| e + 1), "Easter Monday"),
            (on(y, 5, 1), "Labour Day"),
            (on(y, 12, 25), "Christmas Day"),
            (on(y, 12, 26), "Christmas Holiday"),
        ];
        out.extend(days.into_iter().filter_map(|(d, n)| d.map(|d| (d, n))).filter(|(d, _)| weekday(*d) < 5));
    }
    out
}

/// The Federal Reserve's holidays of `years` (Fedwire closed): fixed dates falling on a
/// Sunday are observed on the Monday after, on a Saturday not at all; Juneteenth from
/// 2022.
pub fn us_fed_holidays(years: std::ops::RangeInclusive<i32>) -> Vec<(i32, &'static str)> {
    let mut out = Vec::new();
    for y in years {
        let fixed = |m: u32, d: u32| on(y, m, d).map(|d| if weekday(d) == 6 { d + 1 } else { d });
        let days = [
            (fixed(1, 1), "New Year's Day"),
            (nth(y, 1, Weekday::Mon, 3), "Birthday of Martin Luther King, Jr."),
            (nth(y, 2, Weekday::Mon, 3), "Washington's Birthday"),
            (last(y, 5, Weekday::Mon), "Memorial Day"),
            (if y >= 2022 { fixed(6, 19) } else { None }, "Juneteenth National Independence Day"),
            (fixed(7, 4), "Independence Day"),
            (nth(y, 9, Weekday::Mon, 1), "Labor Day"),
            (nth(y, 10, Weekday::Mon, 2), "Columbus Day"),
            (fixed(11, 11), "Veterans Day"),
            (nth(y, 11, Weekday::Thu, 4), "Thanksgiving Day"),
            (fixed(12, 25), "Christmas Day"),
        ];
        out.extend(days.into_iter().filter_map(|(d, n)| d.map(|d| (d, n))).filter(|(d, _)| weekday(*d) < 5));
    }
    out
}

/// The bank holidays of England and Wales in `years` (the regular ones: no one-off
/// days): New Year's Day, Christmas and Boxing Day moved to the next weekdays free of
/// them when they fall on a weekend, Good Friday, Easter Monday, and the early May,
/// spring and summer Mondays.
pub fn uk_bank_holidays(years: std::ops::RangeInclusive<i32>) -> Vec<(i32, &'static str)> {
    let mut out = Vec::new();
    for y in years {
        let easter = easter_sunday(y);
        let next_weekday = |d: i32, taken: &[i32]| {
            let mut x = d;
            while weekday(x) >= 5 || taken.contains(&x) {
                x += 1;
            }
            x
        };
        let mut days: Vec<(Option<i32>, &'static str)> = vec![
            (on(y, 1, 1).map(|d| next_weekday(d, &[])), "New Year's Day"),
            (easter.map(|e| e - 2), "Good Friday"),
            (easter.map(|e| e + 1), "Easter Monday"),
            (nth(y, 5, Weekday::Mon, 1), "Early May bank holiday"),
            (last(y, 5, Weekday::Mon), "Spring bank holiday"),
            (last(y, 8, Weekday::Mon), "Summer bank holiday"),
        ];
        if let (Some(xmas), Some(boxing)) = (on(y, 12, 25), on(y, 12, 26)) {
            // Boxing Day keeps a weekday 26th; Christmas takes the next free weekday.
            let kept = (weekday(boxing) < 5).then_some(boxing);
            let c = next_weekday(xmas, &kept.into_iter().collect::<Vec<_>>());
            let b = kept.unwrap_or_else(|| next_weekday(boxing, &[c]));
            days.push((Some(c), "Christmas Day"));
            days.push((Some(b), "Boxing Day"));
        }
        out.extend(days.into_iter().filter_map(|(d, n)| d.map(|d| (d, n))));
    }
    out
}

/// Each currency's bank holidays in `years` as `(day, name, currency)`: TARGET2 for
/// EUR, the Federal Reserve's for USD, England and Wales for GBP; the generator's other
/// currencies close on weekends only.
pub fn currency_holidays(years: std::ops::RangeInclusive<i32>) -> Vec<(i32, &'static str, Currency)> {
    let eur = Currency::parse("EUR").expect("valid code");
    let gbp = Currency::parse("GBP").expect("valid code");
    let tag = |v: Vec<(i32, &'static str)>, c: Currency| v.into_iter().map(move |(d, n)| (d, n, c));
    tag(target2_closing_days(years.clone()), eur)
        .chain(tag(us_fed_holidays(years.clone()), Currency::USD))
        .chain(tag(uk_bank_holidays(years), gbp))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> i32 {
        on(y, m, d).unwrap()
    }

    #[test]
    fn us_and_uk_holidays_of_known_years() {
        let in_2022 = |days: &[(u32, u32)]| -> Vec<i32> { days.iter().map(|&(m, d)| day(2022, m, d)).collect() };
        let us: Vec<i32> = us_fed_holidays(2022..=2022).into_iter().map(|h| h.0).collect();
        // 2022: New Year on a Saturday (not observed), Juneteenth on a Sunday (Monday
        // 20 June), Christmas on a Sunday (Monday 26 December).
        assert_eq!(
            us,
            in_2022(&[(1, 17), (2, 21), (5, 30), (6, 20), (7, 4), (9, 5), (10, 10), (11, 11), (11, 24), (12, 26)])
        );
        // 2021: no Juneteenth yet, and Christmas on a Saturday (not observed).
        assert_eq!(us_fed_holidays(2021..=2021).len(), 9);
        let uk: Vec<i32> = uk_bank_holidays(2022..=2022).into_iter().map(|h| h.0).collect();
        // 2022: New Year (Saturday) on Monday 3 January; Christmas (Sunday) on Tuesday
        // 27 December after Boxing Day on Monday 26th.
        assert_eq!(uk, in_2022(&[(1, 3), (4, 15), (4, 18), (5, 2), (5, 30), (8, 29), (12, 27), (12, 26)]));
        // 2021: Christmas on a Saturday and Boxing Day on a Sunday: Monday 27 and Tuesday 28.
        let uk21: Vec<i32> = uk_bank_holidays(2021..=2021).into_iter().map(|h| h.0).collect();
        assert!(uk21.ends_with(&[day(2021, 12, 27), day(2021, 12, 28)]));
        let all = currency_holidays(2024..=2024);
        assert!(all.iter().any(|h| h.0 == day(2024, 11, 28) && h.2 == Currency::USD), "Thanksgiving");
        assert!(!all.iter().any(|h| h.0 == day(2024, 11, 28) && h.2 != Currency::USD));
    }
}
