//! Currency conversion for model inputs only: amounts of several currencies become
//! comparable `f64` values in a base currency. Never used for money in the domain.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::FeatureError;
use crate::domain::Currency;
use crate::ingest::{read_fx_rates, FxRate, TableSource};

/// Units of each currency per one unit of the base currency.
#[derive(Debug, Serialize, Deserialize)]
pub struct FxTable {
    /// The base currency.
    pub base: Currency,
    /// Units of currency per one base unit.
    pub per_base: BTreeMap<Currency, f64>,
    #[serde(skip)]
    unknown: Mutex<Vec<Currency>>,
}

impl Clone for FxTable {
    fn clone(&self) -> Self {
        FxTable { base: self.base, per_base: self.per_base.clone(), unknown: Mutex::new(Vec::new()) }
    }
}

/// The built-in rates: units per US dollar, approximate, for the most traded
/// currencies. They put model inputs of several currencies on one scale (training and
/// serving read the same table, and it is part of the feature definitions' hash), and
/// they are the forecast's base view when no rates are given. A currency missing here
/// converts at 1.0 and is reported.
pub const BUILT_IN_RATES: [(&str, f64); 36] = [
    ("USD", 1.0),
    ("EUR", 0.92),
    ("GBP", 0.79),
    ("JPY", 150.0),
    ("CAD", 1.36),
    ("AUD", 1.52),
    ("CHF", 0.88),
    ("CNY", 7.2),
    ("HKD", 7.8),
    ("SGD", 1.35),
    ("NZD", 1.65),
    ("INR", 83.0),
    ("KRW", 1350.0),
    ("TWD", 32.0),
    ("THB", 36.0),
    ("MYR", 4.7),
    ("IDR", 15800.0),
    ("PHP", 56.0),
    ("SEK", 10.5),
    ("NOK", 10.7),
    ("DKK", 6.9),
    ("PLN", 4.0),
    ("CZK", 23.0),
    ("HUF", 360.0),
    ("RON", 4.6),
    ("TRY", 32.0),
    ("ILS", 3.7),
    ("AED", 3.67),
    ("SAR", 3.75),
    ("ZAR", 18.5),
    ("BRL", 5.0),
    ("MXN", 17.5),
    ("CLP", 930.0),
    ("COP", 3950.0),
    ("PEN", 3.75),
    ("ARS", 870.0),
];

impl Default for FxTable {
    /// USD base with [`BUILT_IN_RATES`]; real deployments pass their own table for
    /// the forecast's base view.
    fn default() -> Self {
        let per_base = BUILT_IN_RATES.iter().map(|(c, r)| (Currency::parse(c).expect("valid code"), *r)).collect();
        FxTable { base: Currency::USD, per_base, unknown: Mutex::new(Vec::new()) }
    }
}

impl FxTable {
    /// The rates of an `fx_rates` table in effect at `as_of`: for each currency the
    /// row with the latest date on or before `as_of` (an undated row applies from the
    /// start); rows dated later are not read, so a forecast at `as_of` converts with
    /// what was known then. None when no row applies.
    ///
    /// # Errors
    /// [`FeatureError::FxRates`] when the rows in effect quote against more than one
    /// base currency, or give one currency two rates from the same date.
    pub fn from_rates(rates: &[FxRate], as_of: i32) -> Result<Option<FxTable>, FeatureError> {
        let applying: Vec<&FxRate> = rates.iter().filter(|r| r.from.is_none_or(|d| d <= as_of)).collect();
        let Some(first) = applying.first() else { return Ok(None) };
        let base = first.base;
        if let Some(other) = applying.iter().find(|r| r.base != base) {
            return Err(FeatureError::FxRates(format!(
                "rates quote against both {} and {}: one base currency per table",
                base.as_str(),
                other.base.as_str()
            )));
        }
        let mut latest: BTreeMap<Currency, (Option<i32>, f64)> = BTreeMap::new();
        for r in applying {
            match latest.get(&r.currency) {
                Some((d, v)) if *d == r.from && *v != r.per_base => {
                    let when =
                        r.from.and_then(crate::domain::date_from_days).map_or("undated".to_string(), |d| d.to_string());
                    return Err(FeatureError::FxRates(format!(
                        "{} has two rates ({v} and {}) from the same date ({when})",
                        r.currency.as_str(),
                        r.per_base
                    )));
                }
                Some((d, _)) if *d > r.from => {}
                _ => {
                    latest.insert(r.currency, (r.from, r.per_base));
                }
            }
        }
        let per_base = latest.into_iter().map(|(c, (_, v))| (c, v)).collect();
        Ok(Some(FxTable { base, per_base, unknown: Mutex::new(Vec::new()) }))
    }

    /// The `fx_rates` table of a data directory in effect at `as_of` (see
    /// [`Self::from_rates`]); None when the directory has no such table or no row
    /// applies.
    ///
    /// # Errors
    /// [`FeatureError::Ingest`] when the table cannot be read, and
    /// [`FeatureError::FxRates`] for a row that fails validation (named by file, row,
    /// field and reason: a wrong or missing rate would misstate every base-currency
    /// total, so nothing is converted) or rates that conflict.
    pub fn from_data(dir: &Path, as_of: i32) -> Result<Option<FxTable>, FeatureError> {
        let Some(source) = TableSource::find(dir, "fx_rates")? else { return Ok(None) };
        let (rates, rejects) = read_fx_rates(&source)?;
        if let Some(r) = rejects.first() {
            return Err(FeatureError::FxRates(format!(
                "{} row {}: {}: {} ('{}'){}",
                r.file,
                r.row,
                r.field,
                r.reason,
                r.value,
                if rejects.len() > 1 { format!(", and {} more rows", rejects.len() - 1) } else { String::new() }
            )));
        }
        Self::from_rates(&rates, as_of)
    }

    /// Converts minor units to base-currency major units. A currency without a rate
    /// converts at 1.0 and is remembered (see [`Self::unknown_seen`]).
    pub fn to_base(&self, minor: i64, currency: Currency) -> f64 {
        let major = minor as f64 / currency.minor_per_major() as f64;
        if currency == self.base {
            return major;
        }
        match self.per_base.get(&currency) {
            Some(r) if *r > 0.0 => major / r,
            _ => {
                if let Ok(mut u) = self.unknown.lock() {
                    if !u.contains(&currency) {
                        u.push(currency);
                    }
                }
                major
            }
        }
    }

    /// Currencies converted without a rate so far, sorted.
    pub fn unknown_seen(&self) -> Vec<Currency> {
        let mut v = self.unknown.lock().map(|u| u.clone()).unwrap_or_default();
        v.sort();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(c: &str, base: &str, per_base: f64, from: Option<i32>) -> FxRate {
        FxRate { currency: Currency::parse(c).unwrap(), base: Currency::parse(base).unwrap(), per_base, from }
    }

    #[test]
    fn a_rates_table_gives_the_rates_in_effect_at_the_date() {
        let eur = Currency::parse("EUR").unwrap();
        let gbp = Currency::parse("GBP").unwrap();
        let rows = [
            rate("EUR", "USD", 0.90, None),
            rate("EUR", "USD", 0.95, Some(100)),
            rate("EUR", "USD", 0.80, Some(200)),
            rate("GBP", "USD", 0.75, Some(150)),
        ];
        // Before any dated row: the undated one; GBP not yet known.
        let t = FxTable::from_rates(&rows, 50).unwrap().unwrap();
        assert_eq!((t.base, t.per_base.get(&eur), t.per_base.get(&gbp)), (Currency::USD, Some(&0.90), None));
        // The latest row on or before the date, never a later one.
        let t = FxTable::from_rates(&rows, 199).unwrap().unwrap();
        assert_eq!((t.per_base[&eur], t.per_base[&gbp]), (0.95, 0.75));
        assert_eq!(FxTable::from_rates(&rows, 200).unwrap().unwrap().per_base[&eur], 0.80);
        assert_eq!(t.to_base(9_500, eur), 100.0);
        // Order in the file does not matter.
        let mut rev = rows;
        rev.reverse();
        assert_eq!(FxTable::from_rates(&rev, 199).unwrap().unwrap().per_base, t.per_base);
        // Nothing in effect yet.
        assert!(FxTable::from_rates(&rows[3..], 100).unwrap().is_none());
    }

    #[test]
    fn conflicting_rates_are_named() {
        let two_bases = [rate("EUR", "USD", 0.9, None), rate("GBP", "EUR", 0.85, None)];
        let e = FxTable::from_rates(&two_bases, 0).unwrap_err().to_string();
        assert!(e.contains("both USD and EUR"), "{e}");
        let twice = [rate("EUR", "USD", 0.9, Some(10)), rate("EUR", "USD", 0.91, Some(10))];
        let e = FxTable::from_rates(&twice, 20).unwrap_err().to_string();
        assert!(e.contains("EUR has two rates (0.9 and 0.91) from the same date (1970-01-11)"), "{e}");
        // A repeated identical row is no conflict; the conflict after the date is not read.
        assert!(FxTable::from_rates(&[twice[0], twice[0]], 20).unwrap().is_some());
        assert!(FxTable::from_rates(&twice, 5).unwrap().is_none());
    }

    #[test]
    fn converts_with_minor_digits_and_records_unknowns() {
        let fx = FxTable::default();
        assert_eq!(fx.to_base(15_000, Currency::parse("JPY").unwrap()), 100.0);
        assert_eq!(fx.to_base(12_345, Currency::USD), 123.45);
        // 1,050 SEK (105,000 minor units) is 100 USD.
        assert_eq!(fx.to_base(105_000, Currency::parse("SEK").unwrap()), 100.0);
        assert!(fx.unknown_seen().is_empty());
        // A currency without a rate converts at 1.0 and is remembered.
        let xts = Currency::parse("XTS").unwrap();
        assert_eq!(fx.to_base(100, xts), 1.0);
        assert_eq!(fx.unknown_seen(), vec![xts]);
        let mut codes: Vec<&str> = BUILT_IN_RATES.iter().map(|(c, _)| *c).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), BUILT_IN_RATES.len(), "a currency listed twice");
    }
}
