//! Money as integer minor units with an ISO 4217 currency.
//!
//! Parsing from decimal strings is exact; conversion from `f64` (accepted in input
//! files) rounds to the currency's minor unit and refuses values that are not finite
//! or do not fit.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Why an amount or currency is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    /// The currency code is not three ASCII letters.
    #[error("currency should be a 3-letter ISO 4217 code, but is '{0}'")]
    BadCurrency(String),
    /// The amount text is not a decimal number.
    #[error("amount should be a decimal number, but is '{0}'")]
    BadAmount(String),
    /// The amount has more decimals than the currency's minor unit.
    #[error("amount '{value}' has more than {digits} decimals for {currency}")]
    TooPrecise {
        /// The text.
        value: String,
        /// Minor-unit digits of the currency.
        digits: u32,
        /// The currency.
        currency: Currency,
    },
    /// The amount does not fit in 64-bit minor units or is not finite.
    #[error("amount '{0}' is out of range")]
    OutOfRange(String),
    /// Two amounts in different currencies were combined.
    #[error("cannot combine {0} with {1}")]
    CurrencyMismatch(Currency, Currency),
}

/// An ISO 4217 currency code (three upper-case ASCII letters).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency([u8; 3]);

impl Currency {
    /// US dollar.
    pub const USD: Currency = Currency(*b"USD");
    /// Euro.
    pub const EUR: Currency = Currency(*b"EUR");

    /// Parses a code, case-insensitively.
    ///
    /// # Errors
    /// [`MoneyError::BadCurrency`] unless the text is three ASCII letters.
    pub fn parse(s: &str) -> Result<Self, MoneyError> {
        let t = s.trim().as_bytes();
        if t.len() != 3 || !t.iter().all(u8::is_ascii_alphabetic) {
            return Err(MoneyError::BadCurrency(s.to_string()));
        }
        Ok(Currency([t[0].to_ascii_uppercase(), t[1].to_ascii_uppercase(), t[2].to_ascii_uppercase()]))
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        // Invariant: constructed only from ASCII letters.
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }

    /// Decimal digits of the minor unit (2 for USD, 0 for JPY, 3 for KWD).
    pub fn minor_digits(&self) -> u32 {
        match &self.0 {
            b"JPY" | b"KRW" | b"CLP" | b"ISK" | b"VND" | b"XOF" | b"XAF" | b"UGX" | b"PYG" => 0,
            b"BHD" | b"KWD" | b"OMR" | b"JOD" | b"TND" | b"LYD" | b"IQD" => 3,
            _ => 2,
        }
    }

    /// 10 to the power of [`Self::minor_digits`].
    pub fn minor_per_major(&self) -> i64 {
        10_i64.pow(self.minor_digits())
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Currency({})", self.as_str())
    }
}

impl FromStr for Currency {
    type Err = MoneyError;
    fn from_str(s: &str) -> Result<Self, MoneyError> {
        Currency::parse(s)
    }
}

impl Serialize for Currency {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Currency::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// An amount in integer minor units of one currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    /// Minor units (cents for USD, yen for JPY).
    pub minor: i64,
    /// The currency.
    pub currency: Currency,
}

impl Money {
    /// An amount from minor units.
    pub fn from_minor(minor: i64, currency: Currency) -> Self {
        Money { minor, currency }
    }

    /// Parses a decimal in major units ("1234.5", "-0.01", "1e3" is refused) exactly.
    ///
    /// # Errors
    /// [`MoneyError`] when the text is not a plain decimal, has more decimals than the
    /// currency allows, or overflows.
    pub fn parse_major(text: &str, currency: Currency) -> Result<Self, MoneyError> {
        let t = text.trim();
        let (neg, body) = match t.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, t.strip_prefix('+').unwrap_or(t)),
        };
        let (int_part, frac_part) = body.split_once('.').unwrap_or((body, ""));
        let digits_ok = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if (int_part.is_empty() && frac_part.is_empty()) || !digits_ok(int_part) || !digits_ok(frac_part) {
            return Err(MoneyError::BadAmount(text.to_string()));
        }
        let digits = currency.minor_digits();
        let frac_trimmed = frac_part.trim_end_matches('0');
        if frac_trimmed.len() as u32 > digits {
            return Err(MoneyError::TooPrecise { value: text.to_string(), digits, currency });
        }
        let overflow = || MoneyError::OutOfRange(text.to_string());
        let int_val: i64 = if int_part.is_empty() { 0 } else { int_part.parse().map_err(|_| overflow())? };
        let mut frac_val: i64 = 0;
        for i in 0..digits as usize {
            let d = frac_trimmed.as_bytes().get(i).map_or(0, |b| i64::from(b - b'0'));
            frac_val = frac_val * 10 + d;
        }
        let minor = int_val
            .checked_mul(currency.minor_per_major())
            .and_then(|v| v.checked_add(frac_val))
            .ok_or_else(overflow)?;
        Ok(Money { minor: if neg { -minor } else { minor }, currency })
    }

    /// Converts a float in major units, rounding half away from zero to the minor unit.
    ///
    /// # Errors
    /// [`MoneyError::OutOfRange`] when the value is not finite or does not fit.
    pub fn from_major_f64(value: f64, currency: Currency) -> Result<Self, MoneyError> {
        let scaled = (value * currency.minor_per_major() as f64).round();
        if !scaled.is_finite() || scaled.abs() >= 9.0e18 {
            return Err(MoneyError::OutOfRange(value.to_string()));
        }
        Ok(Money { minor: scaled as i64, currency })
    }

    /// Converts an unscaled decimal (`value × 10^-scale`) exactly, rounding half away
    /// from zero when `scale` exceeds the currency's minor digits.
    ///
    /// # Errors
    /// [`MoneyError::OutOfRange`] when the result does not fit in `i64`.
    pub fn from_decimal(unscaled: i128, scale: i8, currency: Currency) -> Result<Self, MoneyError> {
        let shift = i32::from(scale) - currency.minor_digits() as i32;
        let minor: i128 = if shift <= 0 {
            10_i128
                .checked_pow((-shift) as u32)
                .and_then(|p| unscaled.checked_mul(p))
                .ok_or_else(|| MoneyError::OutOfRange(unscaled.to_string()))?
        } else {
            let p = 10_i128.pow(shift as u32);
            let q = unscaled / p;
            let r = unscaled % p;
            if 2 * r.abs() >= p {
                q + unscaled.signum()
            } else {
                q
            }
        };
        i64::try_from(minor)
            .map(|m| Money { minor: m, currency })
            .map_err(|_| MoneyError::OutOfRange(unscaled.to_string()))
    }

    /// Sum of two amounts of the same currency.
    ///
    /// # Errors
    /// [`MoneyError::CurrencyMismatch`] for different currencies, `OutOfRange` on overflow.
    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        if self.currency != other.currency {
            return Err(MoneyError::CurrencyMismatch(self.currency, other.currency));
        }
        self.minor
            .checked_add(other.minor)
            .map(|m| Money { minor: m, currency: self.currency })
            .ok_or_else(|| MoneyError::OutOfRange(format!("{} + {}", self, other)))
    }

    /// The amount in major units as exact decimal text (`1200.50`, `-3`, `0.125`).
    pub fn to_major_string(self) -> String {
        let s = self.to_string();
        s.rsplit_once(' ').map_or(s.clone(), |(n, _)| n.to_string())
    }

    /// The amount in major units as `f64`, for model features only.
    pub fn to_major_f64(self) -> f64 {
        self.minor as f64 / self.currency.minor_per_major() as f64
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let digits = self.currency.minor_digits() as usize;
        let p = self.currency.minor_per_major();
        let sign = if self.minor < 0 { "-" } else { "" };
        let abs = self.minor.unsigned_abs();
        let (i, r) = (abs / p as u64, abs % p as u64);
        if digits == 0 {
            write!(f, "{sign}{i} {}", self.currency)
        } else {
            write!(f, "{sign}{i}.{r:0digits$} {}", self.currency)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn jpy() -> Currency {
        Currency::parse("jpy").unwrap()
    }

    #[test]
    fn decimal_text_parses_exactly() {
        assert_eq!(Money::parse_major("55.94", Currency::USD).unwrap().minor, 5594);
        assert_eq!(Money::parse_major("-0.5", Currency::USD).unwrap().minor, -50);
        assert_eq!(Money::parse_major("1200", jpy()).unwrap().minor, 1200);
        assert_eq!(Money::parse_major(".10", Currency::USD).unwrap().minor, 10);
    }

    #[test]
    fn too_many_decimals_is_an_error_not_a_rounding() {
        assert!(matches!(Money::parse_major("1.005", Currency::USD), Err(MoneyError::TooPrecise { .. })));
        assert!(matches!(Money::parse_major("1.5", jpy()), Err(MoneyError::TooPrecise { .. })));
    }

    #[test]
    fn garbage_amounts_are_rejected() {
        for bad in ["", "abc", "1e3", "1.2.3", "-", "12,50"] {
            assert!(Money::parse_major(bad, Currency::USD).is_err(), "{bad}");
        }
    }

    #[test]
    fn adding_two_currencies_is_an_error() {
        let a = Money::from_minor(1, Currency::USD);
        let b = Money::from_minor(1, Currency::EUR);
        assert_eq!(a.checked_add(b), Err(MoneyError::CurrencyMismatch(Currency::USD, Currency::EUR)));
    }

    #[test]
    fn floats_round_to_minor_units() {
        assert_eq!(Money::from_major_f64(55.94, Currency::USD).unwrap().minor, 5594);
        assert_eq!(Money::from_major_f64(0.125, Currency::USD).unwrap().minor, 13);
        assert!(Money::from_major_f64(f64::NAN, Currency::USD).is_err());
    }

    #[test]
    fn decimals_rescale() {
        assert_eq!(Money::from_decimal(559400, 4, Currency::USD).unwrap().minor, 5594);
        assert_eq!(Money::from_decimal(5, 0, Currency::USD).unwrap().minor, 500);
        assert_eq!(Money::from_decimal(-12345, 3, Currency::USD).unwrap().minor, -1235);
    }

    #[test]
    fn display_uses_minor_digits() {
        assert_eq!(Money::from_minor(-5, Currency::USD).to_string(), "-0.05 USD");
        assert_eq!(Money::from_minor(1200, jpy()).to_string(), "1200 JPY");
    }

    proptest! {
        #[test]
        fn display_then_parse_round_trips(minor in -1_000_000_000_000i64..1_000_000_000_000i64) {
            let m = Money::from_minor(minor, Currency::USD);
            let text = m.to_string();
            let number = text.split(' ').next().unwrap();
            prop_assert_eq!(Money::parse_major(number, Currency::USD).unwrap(), m);
        }

        #[test]
        fn addition_is_commutative_within_a_currency(a in -1_000_000_000i64..1_000_000_000, b in -1_000_000_000i64..1_000_000_000) {
            let x = Money::from_minor(a, Currency::EUR);
            let y = Money::from_minor(b, Currency::EUR);
            prop_assert_eq!(x.checked_add(y).unwrap(), y.checked_add(x).unwrap());
            prop_assert_eq!(x.checked_add(y).unwrap().minor, a + b);
        }
    }
}
