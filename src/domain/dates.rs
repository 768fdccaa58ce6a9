//! Business dates are `chrono::NaiveDate`; columnar code stores them as days since
//! 1970-01-01 (Arrow's `date32`), converted here.

use chrono::NaiveDate;

/// 1970-01-01, day zero of Arrow's `date32`.
pub const EPOCH: NaiveDate = match NaiveDate::from_ymd_opt(1970, 1, 1) {
    Some(d) => d,
    None => panic!("valid epoch"),
};

/// Days since 1970-01-01 for a date (Arrow `date32` value).
pub fn days_from_date(d: NaiveDate) -> i32 {
    (d - EPOCH).num_days() as i32
}

/// A calendar day kept as days since 1970-01-01 (4 bytes), written as `YYYY-MM-DD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Day(pub i32);

impl std::fmt::Display for Day {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match date_from_days(self.0) {
            Some(d) => write!(f, "{d}"),
            None => write!(f, "{}", self.0),
        }
    }
}

impl serde::Serialize for Day {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.ymd_text() {
            Some(buf) => s.serialize_str(std::str::from_utf8(&buf).expect("ASCII digits")),
            None => s.collect_str(self),
        }
    }
}

impl Day {
    /// `YYYY-MM-DD` without going through a formatter (years 0 to 9999), by the
    /// civil-from-days algorithm (H. Hinnant).
    pub fn ymd_text(self) -> Option<[u8; 10]> {
        let z = i64::from(self.0) + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = doy - (153 * mp + 2) / 5 + 1;
        let m = if mp < 10 { mp + 3 } else { mp - 9 };
        let y = yoe + era * 400 + i64::from(m <= 2);
        if !(0..=9999).contains(&y) {
            return None;
        }
        let digit = |v: i64| b'0' + (v % 10) as u8;
        Some([
            digit(y / 1000),
            digit(y / 100),
            digit(y / 10),
            digit(y),
            b'-',
            digit(m / 10),
            digit(m),
            b'-',
            digit(d / 10),
            digit(d),
        ])
    }
}

/// The date `days` days after 1970-01-01, or `None` outside chrono's range.
pub fn date_from_days(days: i32) -> Option<NaiveDate> {
    EPOCH.checked_add_signed(chrono::Duration::days(i64::from(days)))
}

/// Parses an ISO-8601 date (`2024-06-30`) or the date part of an ISO-8601
/// timestamp (`2024-06-30T12:00:00Z`, `2024-06-30 12:00:00`).
pub fn parse_date_flexible(s: &str) -> Option<NaiveDate> {
    let s = s.trim();
    let head = s.get(..10).unwrap_or(s);
    if s.len() > 10 {
        let sep = s.as_bytes()[10];
        if sep != b'T' && sep != b' ' {
            return None;
        }
    }
    // The common exact form without the format parser.
    let b = head.as_bytes();
    if b.len() == 10 && b[4] == b'-' && b[7] == b'-' {
        let num = |r: std::ops::Range<usize>| -> Option<u32> {
            b[r].iter().try_fold(0u32, |acc, &c| c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0')))
        };
        if let (Some(y), Some(m), Some(d)) = (num(0..4), num(5..7), num(8..10)) {
            return NaiveDate::from_ymd_opt(y as i32, m, d);
        }
    }
    NaiveDate::parse_from_str(head, "%Y-%m-%d").ok()
}

/// Parses a span like "14d", "13w" or a bare number of days into a positive number
/// of days (None when malformed, not positive or too large for an `i32`).
pub fn parse_span_days(s: &str) -> Option<i32> {
    let t = s.trim();
    let (num, mult) = match t.strip_suffix('w') {
        Some(n) => (n, 7),
        None => (t.strip_suffix('d').unwrap_or(t), 1),
    };
    num.parse::<i32>().ok().filter(|n| *n > 0).and_then(|n| n.checked_mul(mult))
}

/// Easter Sunday of year `y` (Gregorian; the anonymous algorithm), as an epoch day.
pub fn easter_sunday(y: i32) -> Option<i32> {
    let (a, b, c) = (y % 19, y / 100, y % 100);
    let (d, e) = (b / 4, b % 4);
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let (i, k) = (c / 4, c % 4);
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    NaiveDate::from_ymd_opt(y, month as u32, day as u32).map(days_from_date)
}

#[cfg(test)]
mod tests {

    #[test]
    fn the_quick_date_path_agrees_with_the_format_parser() {
        for t in [
            "2024-06-30",
            "2024-02-29",
            "2023-02-29",
            "2024-13-01",
            "2024-00-10",
            "2024-04-31",
            "0000-01-01",
            "9999-12-31",
            "2024-6-30x",
            "20x4-06-30",
            "2024/06/30",
            "2024-06-3a",
            "１２３４-06-30",
        ] {
            assert_eq!(parse_date_flexible(t), NaiveDate::parse_from_str(t, "%Y-%m-%d").ok(), "{t}");
        }
    }

    #[test]
    fn day_text_equals_chrono_formatting_over_the_whole_range() {
        for days in (-719_528..2_932_897).step_by(7).chain([-719_529, 0, 2_932_896, 2_932_897, 11_016, 11_017]) {
            let d = super::Day(days);
            let want = serde_json::to_string(&d.to_string()).unwrap();
            assert_eq!(serde_json::to_string(&d).unwrap(), want, "day {days}");
        }
    }
    use super::*;

    #[test]
    fn days_round_trip() {
        let d = NaiveDate::from_ymd_opt(2024, 2, 29).unwrap();
        assert_eq!(date_from_days(days_from_date(d)), Some(d));
        assert_eq!(days_from_date(EPOCH), 0);
    }

    #[test]
    fn timestamps_and_dates_are_accepted_garbage_is_not() {
        let d = NaiveDate::from_ymd_opt(2024, 6, 30).unwrap();
        assert_eq!(parse_date_flexible("2024-06-30"), Some(d));
        assert_eq!(parse_date_flexible("2024-06-30T23:59:59Z"), Some(d));
        assert_eq!(parse_date_flexible("2024-06-30 01:00"), Some(d));
        assert_eq!(parse_date_flexible("2024-06-30X"), None);
        assert_eq!(parse_date_flexible("30/06/2024"), None);
    }
}
