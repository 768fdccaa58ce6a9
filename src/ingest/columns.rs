//! Converting Arrow columns of any accepted type into the contract's values.
//!
//! A column of a type that can never hold the field fails the whole file
//! ([`IngestError::ColumnType`]); a single value that cannot be converted becomes a
//! per-row problem the caller turns into a [`super::RejectedRow`].

use std::borrow::Cow;
use std::path::Path;

use arrow_array::cast::AsArray;
use arrow_array::types::{Date32Type, Decimal128Type, Float64Type, Int32Type, Int64Type};
use arrow_array::{Array, ArrayRef, StringArray};
use arrow_schema::DataType;

use super::IngestError;
use crate::domain::{days_from_date, parse_date_flexible, Currency, Money};

/// Sentinel for a null date in `i32` day columns.
pub const NULL_DATE: i32 = i32::MIN;
/// Sentinel for a null amount in `i64` minor-unit columns.
pub const NULL_AMOUNT: i64 = i64::MIN;

/// A value problem in one row: (row index in batch, offending text, reason).
pub type CellError = (usize, String, String);

fn type_error(path: &Path, column: &str, found: &DataType, expected: &'static str) -> IngestError {
    IngestError::ColumnType { path: path.to_path_buf(), column: column.to_string(), found: found.to_string(), expected }
}

/// Text, or a column of nulls only (Arrow's null type, which pandas and pyarrow write
/// for a column with no value, such as `paid_date` when nothing is settled yet): read
/// as text, every cell of it is null.
fn is_stringish(dt: &DataType) -> bool {
    match dt {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Null => true,
        DataType::Dictionary(_, v) => is_stringish(v),
        _ => false,
    }
}

/// The column as a `Utf8` array (dictionary, large and view strings are cast).
///
/// Numbers are accepted too, for numeric ids, and printed: integers as they are, and
/// whole floats and decimals without a fraction, so the `1234.0` pandas writes for an
/// integer id column with a gap (it turns such a column into floats) names the same
/// customer as another table's `1234`. NaN is null.
///
/// # Errors
/// [`IngestError::ColumnType`] unless the column holds strings or numbers.
pub fn strings(path: &Path, column: &str, arr: &ArrayRef) -> Result<StringArray, IngestError> {
    let dt = arr.data_type();
    let decimal = matches!(dt, DataType::Decimal128(..) | DataType::Decimal256(..));
    if !(is_stringish(dt) || dt.is_integer() || dt.is_floating() || decimal) {
        return Err(type_error(path, column, dt, "utf8 (or a numeric id)"));
    }
    if *dt == DataType::Utf8 {
        return Ok(arr.as_string::<i32>().clone());
    }
    if dt.is_floating() {
        let f = arrow_cast::cast(arr, &DataType::Float64).map_err(|_| type_error(path, column, dt, "utf8"))?;
        // `{}` prints a whole f64 without its ".0" (1234.0 as "1234").
        let text = f.as_primitive::<Float64Type>().iter().map(|v| v.filter(|x| !x.is_nan()).map(|x| x.to_string()));
        return Ok(text.collect());
    }
    let cast = arrow_cast::cast(arr, &DataType::Utf8).map_err(|_| type_error(path, column, dt, "utf8"))?;
    let text = cast.as_string::<i32>();
    if decimal {
        let whole = |v: &str| match v.split_once('.') {
            Some((w, f)) if f.bytes().all(|b| b == b'0') => w.to_string(),
            _ => v.to_string(),
        };
        return Ok(text.iter().map(|v| v.map(whole)).collect());
    }
    Ok(text.clone())
}

/// Dates as days since 1970-01-01 ([`NULL_DATE`] for null) plus unparseable cells.
///
/// # Errors
/// [`IngestError::ColumnType`] unless the column is date32, date64, timestamp or text.
pub fn dates(path: &Path, column: &str, arr: &ArrayRef) -> Result<(Vec<i32>, Vec<CellError>), IngestError> {
    let dt = arr.data_type();
    let mut errors = Vec::new();
    let out = match dt {
        DataType::Date32 => {
            let a = arr.as_primitive::<Date32Type>();
            (0..a.len()).map(|i| if a.is_null(i) { NULL_DATE } else { a.value(i) }).collect()
        }
        // A timestamp with a timezone is the calendar day in that zone (23:30 in New
        // York on 31 January is 31 January, whatever the UTC date).
        DataType::Date64 | DataType::Timestamp(_, _) => {
            let expected = match dt {
                DataType::Timestamp(_, Some(_)) => {
                    "a timestamp whose timezone is an IANA name (Europe/Berlin) or an offset (+02:00)"
                }
                _ => "date32",
            };
            let cast = arrow_cast::cast(arr, &DataType::Date32).map_err(|_| type_error(path, column, dt, expected))?;
            let a = cast.as_primitive::<Date32Type>();
            (0..a.len()).map(|i| if a.is_null(i) { NULL_DATE } else { a.value(i) }).collect()
        }
        dt if is_stringish(dt) => {
            let parse = |v: &str| parse_date_flexible(v).map(days_from_date);
            text_cells(
                &strings(path, column, arr)?,
                NULL_DATE,
                "date should be ISO-8601 (YYYY-MM-DD)",
                &mut errors,
                parse,
            )
        }
        _ => return Err(type_error(path, column, dt, "date32, date64, timestamp or ISO-8601 text")),
    };
    Ok((out, errors))
}

/// Sentinel for a null instant in [`instants`]: older than any real one.
pub const NULL_INSTANT: i64 = i64::MIN;

/// Instants as microseconds since 1970-01-01 00:00 ([`NULL_INSTANT`] for null), for
/// ordering versions of a row: a date is its midnight, a timestamp its own instant
/// (whatever its zone), text ISO-8601 with or without a time of day or an offset.
///
/// # Errors
/// [`IngestError::ColumnType`] unless the column is a date, timestamp or text.
pub fn instants(path: &Path, column: &str, arr: &ArrayRef) -> Result<(Vec<i64>, Vec<CellError>), IngestError> {
    use arrow_array::types::{
        Date64Type, TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType,
    };
    use arrow_schema::TimeUnit;
    const DAY: i64 = 86_400_000_000;
    let dt = arr.data_type();
    let each =
        |f: &dyn Fn(usize) -> i64| (0..arr.len()).map(|i| if arr.is_null(i) { NULL_INSTANT } else { f(i) }).collect();
    let mut errors = Vec::new();
    let out = match dt {
        DataType::Date32 => {
            let a = arr.as_primitive::<Date32Type>();
            each(&|i| i64::from(a.value(i)) * DAY)
        }
        DataType::Date64 => {
            let a = arr.as_primitive::<Date64Type>();
            each(&|i| a.value(i).saturating_mul(1000))
        }
        DataType::Timestamp(TimeUnit::Second, _) => {
            let a = arr.as_primitive::<TimestampSecondType>();
            each(&|i| a.value(i).saturating_mul(1_000_000))
        }
        DataType::Timestamp(TimeUnit::Millisecond, _) => {
            let a = arr.as_primitive::<TimestampMillisecondType>();
            each(&|i| a.value(i).saturating_mul(1000))
        }
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            let a = arr.as_primitive::<TimestampMicrosecondType>();
            each(&|i| a.value(i))
        }
        DataType::Timestamp(TimeUnit::Nanosecond, _) => {
            let a = arr.as_primitive::<TimestampNanosecondType>();
            each(&|i| a.value(i).div_euclid(1000))
        }
        dt if is_stringish(dt) => {
            let reason = "should be an ISO-8601 date or date and time (2024-01-31, 2024-01-31T17:05:00Z)";
            text_cells(&strings(path, column, arr)?, NULL_INSTANT, reason, &mut errors, parse_instant)
        }
        _ => return Err(type_error(path, column, dt, "date32, date64, timestamp or ISO-8601 text")),
    };
    Ok((out, errors))
}

/// Parses each cell of a text column: `null` for a null or blank cell, and for one
/// `parse` refuses, which is also recorded with `reason`.
fn text_cells<T: Copy>(
    s: &StringArray,
    null: T,
    reason: &str,
    errors: &mut Vec<CellError>,
    parse: impl Fn(&str) -> Option<T>,
) -> Vec<T> {
    (0..s.len())
        .map(|i| {
            if s.is_null(i) || s.value(i).trim().is_empty() {
                return null;
            }
            parse(s.value(i)).unwrap_or_else(|| {
                errors.push((i, s.value(i).to_string(), reason.to_string()));
                null
            })
        })
        .collect()
}

/// ISO-8601 text as microseconds since the epoch: with an offset it is that instant,
/// without one the wall-clock time as if UTC, a bare date its midnight.
fn parse_instant(text: &str) -> Option<i64> {
    let t = text.trim();
    if let Ok(d) = chrono::DateTime::parse_from_rfc3339(t) {
        return Some(d.timestamp_micros());
    }
    for f in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"] {
        if let Ok(d) = chrono::NaiveDateTime::parse_from_str(t, f) {
            return Some(d.and_utc().timestamp_micros());
        }
    }
    if t.len() > 10 {
        return None;
    }
    parse_date_flexible(t).map(|d| i64::from(days_from_date(d)) * 86_400_000_000)
}

/// Currency codes per row, `default` where the column is absent or null.
///
/// # Errors
/// [`IngestError::ColumnType`] unless the column holds strings.
pub fn currencies(
    path: &Path,
    column: &str,
    arr: Option<&ArrayRef>,
    rows: usize,
    default: Currency,
) -> Result<(Vec<Currency>, Vec<CellError>), IngestError> {
    let (v, _, errors) = currencies_given(path, column, arr, rows, default)?;
    Ok((v, errors))
}

/// Per row, the currency and whether the row names one; and the cells naming none known.
pub type CurrencyCells = (Vec<Currency>, Vec<bool>, Vec<CellError>);

/// [`currencies`], with whether each row names one (not absent, null or empty).
///
/// # Errors
/// [`IngestError::ColumnType`] unless the column holds strings.
pub fn currencies_given(
    path: &Path,
    column: &str,
    arr: Option<&ArrayRef>,
    rows: usize,
    default: Currency,
) -> Result<CurrencyCells, IngestError> {
    let Some(arr) = arr else { return Ok((vec![default; rows], vec![false; rows], Vec::new())) };
    let s = strings(path, column, arr)?;
    let mut errors = Vec::new();
    let mut given = vec![false; s.len()];
    let mut last: Option<(&str, Currency)> = None;
    let v = (0..s.len())
        .map(|i| {
            if s.is_null(i) || s.value(i).is_empty() {
                return default;
            }
            given[i] = true;
            let text = s.value(i);
            if let Some((t, c)) = last {
                if t == text {
                    return c;
                }
            }
            match Currency::parse(text) {
                Ok(c) => {
                    last = Some((text, c));
                    c
                }
                Err(e) => {
                    errors.push((i, text.to_string(), e.to_string()));
                    default
                }
            }
        })
        .collect();
    Ok((v, given, errors))
}

/// Amounts in minor units of each row's currency ([`NULL_AMOUNT`] for null) plus
/// cells that cannot be converted exactly.
///
/// # Errors
/// [`IngestError::ColumnType`] unless the column is decimal, float, integer or text.
pub fn amounts(
    path: &Path,
    column: &str,
    arr: &ArrayRef,
    currency: &[Currency],
) -> Result<(Vec<i64>, Vec<CellError>), IngestError> {
    let dt = arr.data_type();
    let mut errors = Vec::new();
    let n = arr.len();
    let mut push = |i: usize, r: Result<Money, crate::domain::MoneyError>, text: &dyn Fn() -> String| match r {
        Ok(m) => m.minor,
        Err(e) => {
            errors.push((i, text(), e.to_string()));
            NULL_AMOUNT
        }
    };
    let out: Vec<i64> = match dt {
        DataType::Decimal128(_, scale) => {
            let a = arr.as_primitive::<Decimal128Type>();
            (0..n)
                .map(|i| {
                    if a.is_null(i) {
                        return NULL_AMOUNT;
                    }
                    let v = a.value(i);
                    push(i, Money::from_decimal(v, *scale, currency[i]), &|| v.to_string())
                })
                .collect()
        }
        DataType::Float64 | DataType::Float32 => {
            let cast: Cow<'_, ArrayRef> = if *dt == DataType::Float32 {
                Cow::Owned(
                    arrow_cast::cast(arr, &DataType::Float64).map_err(|_| type_error(path, column, dt, "float64"))?,
                )
            } else {
                Cow::Borrowed(arr)
            };
            let a = cast.as_primitive::<Float64Type>();
            (0..n)
                .map(|i| {
                    if a.is_null(i) {
                        return NULL_AMOUNT;
                    }
                    let v = a.value(i);
                    push(i, Money::from_major_f64(v, currency[i]), &|| v.to_string())
                })
                .collect()
        }
        DataType::Int64 | DataType::Int32 => {
            let cast: Cow<'_, ArrayRef> = if *dt == DataType::Int32 {
                Cow::Owned(arrow_cast::cast(arr, &DataType::Int64).map_err(|_| type_error(path, column, dt, "int64"))?)
            } else {
                Cow::Borrowed(arr)
            };
            let a = cast.as_primitive::<Int64Type>();
            (0..n)
                .map(|i| {
                    if a.is_null(i) {
                        return NULL_AMOUNT;
                    }
                    let v = a.value(i);
                    push(i, Money::from_decimal(i128::from(v), 0, currency[i]), &|| v.to_string())
                })
                .collect()
        }
        dt if is_stringish(dt) => {
            let s = strings(path, column, arr)?;
            (0..n)
                .map(|i| {
                    if s.is_null(i) || s.value(i).trim().is_empty() {
                        return NULL_AMOUNT;
                    }
                    let t = s.value(i);
                    push(i, Money::parse_major(t, currency[i]), &|| t.to_string())
                })
                .collect()
        }
        _ => return Err(type_error(path, column, dt, "decimal128, float64, int64 or decimal text")),
    };
    Ok((out, errors))
}

/// Optional booleans: `None` for null; text accepts true/false/yes/no/1/0/y/n.
///
/// # Errors
/// [`IngestError::ColumnType`] unless the column is boolean, integer or text.
pub fn bools(path: &Path, column: &str, arr: &ArrayRef) -> Result<(Vec<Option<bool>>, Vec<CellError>), IngestError> {
    let dt = arr.data_type();
    let mut errors = Vec::new();
    let out = match dt {
        DataType::Boolean => {
            let a = arr.as_boolean();
            (0..a.len()).map(|i| (!a.is_null(i)).then(|| a.value(i))).collect()
        }
        DataType::Int32 | DataType::Int64 | DataType::Int8 | DataType::Int16 => {
            let c = arrow_cast::cast(arr, &DataType::Int64).map_err(|_| type_error(path, column, dt, "bool"))?;
            let a = c.as_primitive::<Int64Type>();
            (0..a.len()).map(|i| (!a.is_null(i)).then(|| a.value(i) != 0)).collect()
        }
        dt if is_stringish(dt) => {
            let s = strings(path, column, arr)?;
            (0..s.len())
                .map(|i| {
                    if s.is_null(i) || s.value(i).trim().is_empty() {
                        return None;
                    }
                    let v = parse_bool(s.value(i));
                    if v.is_none() {
                        errors.push((i, s.value(i).to_string(), "should be true/false, yes/no or 1/0".to_string()));
                    }
                    v
                })
                .collect()
        }
        _ => return Err(type_error(path, column, dt, "bool")),
    };
    Ok((out, errors))
}

/// Parses common boolean spellings.
pub fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "t" | "yes" | "y" | "1" => Some(true),
        "false" | "f" | "no" | "n" | "0" => Some(false),
        _ => None,
    }
}

/// Optional `i32` values (terms in days).
///
/// # Errors
/// [`IngestError::ColumnType`] unless the column is integer or text.
pub fn ints(path: &Path, column: &str, arr: &ArrayRef) -> Result<(Vec<Option<i32>>, Vec<CellError>), IngestError> {
    let dt = arr.data_type();
    let mut errors = Vec::new();
    let out = match dt {
        DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32 => {
            let c = arrow_cast::cast(arr, &DataType::Int32).map_err(|_| type_error(path, column, dt, "int32"))?;
            let a = c.as_primitive::<Int32Type>();
            (0..a.len()).map(|i| (!a.is_null(i)).then(|| a.value(i))).collect()
        }
        DataType::Float64 | DataType::Float32 => {
            let c = arrow_cast::cast(arr, &DataType::Float64).map_err(|_| type_error(path, column, dt, "int32"))?;
            let a = c.as_primitive::<Float64Type>();
            (0..a.len())
                .map(|i| {
                    if a.is_null(i) {
                        return None;
                    }
                    let v = a.value(i);
                    if v.fract() == 0.0 && v.abs() < 1e9 {
                        Some(v as i32)
                    } else {
                        errors.push((i, v.to_string(), "should be a whole number".to_string()));
                        None
                    }
                })
                .collect()
        }
        dt if is_stringish(dt) => {
            let s = strings(path, column, arr)?;
            (0..s.len())
                .map(|i| {
                    if s.is_null(i) || s.value(i).trim().is_empty() {
                        return None;
                    }
                    let v = s.value(i).trim().parse::<i32>().ok();
                    if v.is_none() {
                        errors.push((i, s.value(i).to_string(), "should be a whole number".to_string()));
                    }
                    v
                })
                .collect()
        }
        _ => return Err(type_error(path, column, dt, "int32")),
    };
    Ok((out, errors))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Decimal128Array, Float64Array, TimestampSecondArray};
    use std::sync::Arc;

    fn p() -> &'static Path {
        Path::new("t.parquet")
    }

    /// Dictionary-encoded (as Parquet writers store a currency column) or plain: the
    /// same codes, the default for null and empty cells, which alone count as not given,
    /// and an unknown code named with its row.
    #[test]
    fn currency_codes_say_which_rows_name_one() {
        use arrow_array::{DictionaryArray, StringArray};
        let cells = vec![Some("EUR"), None, Some(""), Some("JPY"), Some("XX1"), Some("EUR")];
        let plain: ArrayRef = Arc::new(StringArray::from(cells.clone()));
        let dict: ArrayRef = Arc::new(cells.into_iter().collect::<DictionaryArray<arrow_array::types::Int32Type>>());
        let eur = Currency::parse("EUR").unwrap();
        for arr in [&plain, &dict] {
            let (v, given, errs) = currencies_given(p(), "currency", Some(arr), 6, Currency::USD).unwrap();
            assert_eq!(v, [eur, Currency::USD, Currency::USD, Currency::parse("JPY").unwrap(), Currency::USD, eur]);
            assert_eq!(given, [true, false, false, true, true, true]);
            assert_eq!(errs.len(), 1);
            assert_eq!((errs[0].0, errs[0].1.as_str()), (4, "XX1"));
            assert_eq!(currencies(p(), "currency", Some(arr), 6, Currency::USD).unwrap(), (v, errs));
        }
        let (v, given, errs) = currencies_given(p(), "currency", None, 2, eur).unwrap();
        assert_eq!((v, given, errs.len()), (vec![eur; 2], vec![false; 2], 0));
    }

    #[test]
    fn float_and_decimal_amounts_become_minor_units() {
        let f: ArrayRef = Arc::new(Float64Array::from(vec![Some(55.94), None, Some(f64::INFINITY)]));
        let (v, errs) = amounts(p(), "amount", &f, &[Currency::USD; 3]).unwrap();
        assert_eq!(v[0], 5594);
        assert_eq!(v[1], NULL_AMOUNT);
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].0, 2);
        let d: ArrayRef = Arc::new(Decimal128Array::from(vec![123456_i128]).with_precision_and_scale(20, 4).unwrap());
        assert_eq!(amounts(p(), "amount", &d, &[Currency::USD]).unwrap().0, vec![1235]);
    }

    #[test]
    fn numeric_id_columns_print_whole_numbers_as_integers() {
        let f: ArrayRef =
            Arc::new(Float64Array::from(vec![Some(1234.0), None, Some(f64::NAN), Some(12.5), Some(-0.0)]));
        let s = strings(p(), "customer_id", &f).unwrap();
        let got: Vec<Option<&str>> = s.iter().collect();
        assert_eq!(got, vec![Some("1234"), None, None, Some("12.5"), Some("-0")]);
        let d: ArrayRef = Arc::new(
            Decimal128Array::from(vec![Some(123_400_i128), Some(123_450), None])
                .with_precision_and_scale(20, 2)
                .unwrap(),
        );
        let got: Vec<Option<String>> =
            strings(p(), "customer_id", &d).unwrap().iter().map(|v| v.map(String::from)).collect();
        assert_eq!(got, vec![Some("1234".into()), Some("1234.50".into()), None]);
        let i: ArrayRef = Arc::new(arrow_array::Int16Array::from(vec![7_i16]));
        assert_eq!(strings(p(), "customer_id", &i).unwrap().value(0), "7");
        let b: ArrayRef = Arc::new(arrow_array::BooleanArray::from(vec![true]));
        let e = strings(p(), "customer_id", &b).unwrap_err().to_string();
        assert!(e.contains("customer_id") && e.contains("numeric id"), "{e}");
    }

    #[test]
    fn instants_order_dates_timestamps_and_text_alike() {
        let day = 86_400_000_000_i64 * i64::from(days_from_date(chrono::NaiveDate::from_ymd_opt(2024, 1, 31).unwrap()));
        let text: ArrayRef = Arc::new(StringArray::from(vec![
            Some("2024-01-31"),
            Some("2024-01-31 17:05:00"),
            Some("2024-01-31T17:05:00+01:00"),
            None,
            Some("31/01/2024"),
        ]));
        let (v, errs) = instants(p(), "updated_at", &text).unwrap();
        let hour = 3_600_000_000_i64;
        assert_eq!(&v[..4], &[day, day + 17 * hour + 300_000_000, day + 16 * hour + 300_000_000, NULL_INSTANT]);
        assert_eq!(errs.len(), 1);
        assert_eq!((errs[0].0, errs[0].1.as_str()), (4, "31/01/2024"));
        let ts: ArrayRef = Arc::new(TimestampSecondArray::from(vec![day / 1_000_000 + 60]).with_timezone("+05:00"));
        assert_eq!(instants(p(), "updated_at", &ts).unwrap().0, vec![day + 60_000_000]);
        let b: ArrayRef = Arc::new(arrow_array::BooleanArray::from(vec![true]));
        assert!(instants(p(), "updated_at", &b).unwrap_err().to_string().contains("updated_at"));
    }

    #[test]
    fn a_column_of_the_null_type_reads_as_all_null() {
        let a: ArrayRef = Arc::new(arrow_array::NullArray::new(2));
        assert_eq!(dates(p(), "paid_date", &a).unwrap(), (vec![NULL_DATE; 2], Vec::new()));
        assert_eq!(amounts(p(), "paid_amount", &a, &[Currency::USD; 2]).unwrap(), (vec![NULL_AMOUNT; 2], Vec::new()));
        assert_eq!(bools(p(), "disputed", &a).unwrap(), (vec![None; 2], Vec::new()));
        assert_eq!(ints(p(), "terms_days", &a).unwrap(), (vec![None; 2], Vec::new()));
        assert_eq!(strings(p(), "country", &a).unwrap().null_count(), 2);
        let (cur, errs) = currencies(p(), "currency", Some(&a), 2, Currency::EUR).unwrap();
        assert_eq!((cur, errs.len()), (vec![Currency::EUR; 2], 0));
    }

    #[test]
    fn timestamps_become_dates() {
        let t: ArrayRef = Arc::new(TimestampSecondArray::from(vec![86_400 * 3 + 5]));
        assert_eq!(dates(p(), "paid_date", &t).unwrap().0, vec![3]);
    }

    /// A timestamp with a timezone is the day in that zone, as pandas writes a
    /// tz-aware column: 23:30 on 31 January in New York is 04:30 UTC on 1 February.
    #[test]
    fn timestamps_with_a_timezone_are_the_day_in_that_zone() {
        let jan31 = days_from_date(chrono::NaiveDate::from_ymd_opt(2024, 1, 31).unwrap());
        let utc = i64::from(jan31 + 1) * 86_400 + 4 * 3_600 + 1_800; // 2024-02-01T04:30Z
        for (tz, day) in [("America/New_York", jan31), ("-05:00", jan31), ("UTC", jan31 + 1), ("+00:00", jan31 + 1)] {
            let t: ArrayRef = Arc::new(TimestampSecondArray::from(vec![utc]).with_timezone(tz));
            assert_eq!(dates(p(), "invoice_date", &t).unwrap().0, vec![day], "{tz}");
        }
        let t: ArrayRef = Arc::new(TimestampSecondArray::from(vec![utc]).with_timezone("Mars/Olympus"));
        let err = dates(p(), "invoice_date", &t).unwrap_err().to_string();
        assert!(err.contains("invoice_date") && err.contains("Mars/Olympus") && err.contains("IANA"), "{err}");
    }

    #[test]
    fn a_float_date_column_fails_naming_the_column() {
        let f: ArrayRef = Arc::new(Float64Array::from(vec![1.0]));
        let err = dates(p(), "due_date", &f).unwrap_err().to_string();
        assert!(err.contains("due_date") && err.contains("Float64"), "{err}");
    }
}
