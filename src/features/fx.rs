//! Currency conversion for model inputs only: amounts of several currencies become
//! comparable `f64` values in a base currency. Never used for money in the domain.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::domain::Currency;

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

impl Default for FxTable {
    /// USD base with approximate rates for the currencies the generator uses; real
    /// deployments pass their own table.
    fn default() -> Self {
        let rates =
            [("USD", 1.0), ("EUR", 0.92), ("GBP", 0.79), ("JPY", 150.0), ("CAD", 1.36), ("AUD", 1.52), ("CHF", 0.88)];
        let per_base = rates.iter().map(|(c, r)| (Currency::parse(c).expect("valid code"), *r)).collect();
        FxTable { base: Currency::USD, per_base, unknown: Mutex::new(Vec::new()) }
    }
}

impl FxTable {
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

    #[test]
    fn converts_with_minor_digits_and_records_unknowns() {
        let fx = FxTable::default();
        assert_eq!(fx.to_base(15_000, Currency::parse("JPY").unwrap()), 100.0);
        assert_eq!(fx.to_base(12_345, Currency::USD), 123.45);
        let sek = Currency::parse("SEK").unwrap();
        assert_eq!(fx.to_base(100, sek), 1.0);
        assert_eq!(fx.unknown_seen(), vec![sek]);
    }
}
