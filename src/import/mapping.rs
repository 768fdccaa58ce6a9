//! The TOML column mapping: which source column feeds which contract field, how
//! dates are written, value maps, derived fields and extra columns.
//!
//! ```toml
//! table = "invoices"
//! default_currency = "USD"
//! date_formats = ["%m/%d/%Y"]          # tried in order, then ISO-8601
//!
//! [fields]
//! invoice_id = "invoiceNumber"
//! disputed = { column = "Disputed", values = { Yes = true, No = false } }
//! # an id unique only with others (an ERP's company code and document number)
//! # invoice_id = { columns = ["CompanyCode", "DocNo"], separator = "-" }
//!
//! [derived]
//! due_date = "invoice_date + terms_days"    # or "invoice_date + 30"
//!
//! [extra]
//! paperless = { column = "PaperlessBill", type = "text" }
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::fields::{table_fields, FieldDef, Kind};
use super::ImportError;
use crate::domain::Currency;

/// A source column with optional value map and date formats.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum ColumnSpec {
    /// Just the column name.
    Name(String),
    /// Column with options.
    Full {
        /// Source column.
        column: String,
        /// Replace source values before parsing ("Yes" -> true).
        #[serde(default)]
        values: BTreeMap<String, toml::Value>,
        /// Date formats for this column (chrono `strftime` syntax).
        #[serde(default)]
        date_formats: Vec<String>,
        /// Type of an extra column: `text` (default), `number`, `date`.
        #[serde(default, rename = "type")]
        kind: Option<String>,
    },
    /// Several columns' values joined: an id that is unique only together with
    /// others, as an ERP's document number within its company code and fiscal year
    /// (map the payments' `invoice_id` the same way so that they still match).
    Joined {
        /// Source columns, in order.
        columns: Vec<String>,
        /// Put between the values (default `-`).
        #[serde(default = "default_separator")]
        separator: String,
    },
}

fn default_separator() -> String {
    "-".to_string()
}

impl ColumnSpec {
    /// The source columns (one unless joined).
    pub fn columns(&self) -> Vec<&str> {
        match self {
            ColumnSpec::Name(c) | ColumnSpec::Full { column: c, .. } => vec![c.as_str()],
            ColumnSpec::Joined { columns, .. } => columns.iter().map(String::as_str).collect(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMapping {
    table: String,
    #[serde(default)]
    default_currency: Option<String>,
    #[serde(default)]
    date_formats: Vec<String>,
    #[serde(default)]
    csv_delimiter: Option<String>,
    #[serde(default)]
    decimal_separator: Option<String>,
    #[serde(default)]
    thousands_separator: Option<String>,
    fields: BTreeMap<String, ColumnSpec>,
    #[serde(default)]
    derived: BTreeMap<String, String>,
    #[serde(default)]
    extra: BTreeMap<String, ColumnSpec>,
}

/// A derived field: `target = base + offset`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Derivation {
    /// `date_field + int_field`.
    DatePlusField(&'static str, &'static str),
    /// `date_field + N` days.
    DatePlusDays(&'static str, i32),
}

/// One output column and where its value comes from.
#[derive(Debug, Clone)]
pub struct OutputField {
    /// Output column name.
    pub name: String,
    /// Parsing and type.
    pub kind: Kind,
    /// Required on every row.
    pub required: bool,
    /// Source column (None for derived or defaulted fields).
    pub source: Option<ColumnSpec>,
    /// Derivation when not mapped or empty.
    pub derived: Option<Derivation>,
}

/// A validated mapping.
#[derive(Debug, Clone)]
pub struct Mapping {
    /// Contract table produced.
    pub table: &'static str,
    /// Currency for rows without one.
    pub default_currency: Currency,
    /// Date formats tried for every date field, before ISO-8601.
    pub date_formats: Vec<String>,
    /// CSV delimiter byte.
    pub delimiter: u8,
    /// How amounts and numbers are written.
    pub numbers: NumberFormat,
    /// Output columns in order: contract fields present, then extras.
    pub outputs: Vec<OutputField>,
}

/// How an export writes amounts and numbers: `1,234.56` (the default, no thousands
/// separator), `1.234,56` (`decimal_separator = ","`, `thousands_separator = "."`),
/// `1 234,56`, `1'234.56`. A trailing minus (`5,00-`, as some ERPs write credits) is
/// read as a leading one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NumberFormat {
    /// Decimal separator.
    pub decimal: char,
    /// Thousands separator, removed before parsing (None: a digit group separator is
    /// an error, as in `1,234.56` without it).
    pub thousands: Option<char>,
}

impl Default for NumberFormat {
    fn default() -> Self {
        NumberFormat { decimal: '.', thousands: None }
    }
}

impl NumberFormat {
    /// `text` as a plain decimal with `.` and a leading sign, for exact parsing; the
    /// text unchanged when it is one already.
    pub fn normalize<'a>(&self, text: &'a str) -> std::borrow::Cow<'a, str> {
        let t = text.trim();
        let trailing_minus = t.len() > 1 && t.ends_with('-') && !t.starts_with('-');
        if *self == NumberFormat::default() && !trailing_minus {
            return std::borrow::Cow::Borrowed(t);
        }
        let body = if trailing_minus { &t[..t.len() - 1] } else { t };
        let mut out = String::with_capacity(t.len());
        if trailing_minus {
            out.push('-');
        }
        for c in body.trim_end().chars() {
            if Some(c) == self.thousands {
                continue;
            }
            out.push(if c == self.decimal { '.' } else { c });
        }
        std::borrow::Cow::Owned(out)
    }

    fn parse(decimal: Option<&str>, thousands: Option<&str>) -> Result<Self, String> {
        let one = |key: &str, v: &str| -> Result<char, String> {
            let mut cs = v.chars();
            match (cs.next(), cs.next()) {
                (Some(c), None) if !c.is_ascii_digit() && c != '-' && c != '+' => Ok(c),
                _ => Err(format!("{key} should be one character other than a digit or a sign, but is '{v}'")),
            }
        };
        let decimal = decimal.map(|d| one("decimal_separator", d)).transpose()?.unwrap_or('.');
        let thousands = thousands.map(|t| one("thousands_separator", t)).transpose()?;
        if thousands == Some(decimal) {
            return Err(format!("thousands_separator and decimal_separator should differ, but both are '{decimal}'"));
        }
        Ok(NumberFormat { decimal, thousands })
    }
}

fn bad(path: &Path, reason: impl Into<String>) -> ImportError {
    ImportError::Mapping { path: path.to_path_buf(), reason: reason.into() }
}

impl Mapping {
    /// Reads and validates a mapping file.
    ///
    /// # Errors
    /// [`ImportError::Mapping`] naming the file and the problem.
    pub fn load(path: &Path) -> Result<Self, ImportError> {
        let text = std::fs::read_to_string(path).map_err(|e| bad(path, e.to_string()))?;
        Self::parse(&text, path)
    }

    /// Parses mapping text (`path` only names it in errors).
    ///
    /// # Errors
    /// [`ImportError::Mapping`].
    pub fn parse(text: &str, path: &Path) -> Result<Self, ImportError> {
        let raw: RawMapping = toml::from_str(text).map_err(|e| bad(path, e.to_string()))?;
        let defs: &'static [FieldDef] = table_fields(&raw.table).ok_or_else(|| {
            bad(path, format!("table should be invoices, payments, customers or activities, but is '{}'", raw.table))
        })?;
        let table = match raw.table.as_str() {
            "invoices" => "invoices",
            "payments" => "payments",
            "customers" => "customers",
            _ => "activities",
        };
        for k in raw.fields.keys().chain(raw.derived.keys()) {
            if !defs.iter().any(|d| d.name == k) {
                let names: Vec<_> = defs.iter().map(|d| d.name).collect();
                return Err(bad(path, format!("'{k}' is not a field of {table} (fields: {})", names.join(", "))));
            }
        }
        let default_currency = Currency::parse(raw.default_currency.as_deref().unwrap_or("USD"))
            .map_err(|e| bad(path, format!("default_currency: {e}")))?;
        let delimiter = match raw.csv_delimiter.as_deref() {
            None => b',',
            Some(d) if d.len() == 1 => d.as_bytes()[0],
            Some("\\t") | Some("tab") => b'\t',
            Some(d) => return Err(bad(path, format!("csv_delimiter should be one character, but is '{d}'"))),
        };
        let numbers = NumberFormat::parse(raw.decimal_separator.as_deref(), raw.thousands_separator.as_deref())
            .map_err(|r| bad(path, r))?;
        let specs = raw.fields.iter().map(|f| ("fields", f)).chain(raw.extra.iter().map(|f| ("extra", f)));
        for (section, (name, spec)) in specs {
            if matches!(spec, ColumnSpec::Joined { columns, .. } if columns.is_empty()) {
                return Err(bad(path, format!("{section}.{name}: columns should name at least one column")));
            }
        }
        let has_amount = defs.iter().any(|d| d.kind == Kind::Amount);
        let mut outputs = Vec::new();
        for def in defs {
            let source = raw.fields.get(def.name).cloned();
            let derived = match raw.derived.get(def.name) {
                Some(expr) => {
                    Some(parse_derivation(expr, defs).map_err(|r| bad(path, format!("derived.{}: {r}", def.name)))?)
                }
                None => None,
            };
            if def.required && source.is_none() && derived.is_none() {
                return Err(bad(path, format!("required field '{}' is not mapped", def.name)));
            }
            let always = def.kind == Kind::Currency && has_amount;
            if source.is_some() || derived.is_some() || always {
                outputs.push(OutputField {
                    name: def.name.into(),
                    kind: def.kind,
                    required: def.required,
                    source,
                    derived,
                });
            }
        }
        for (name, spec) in raw.extra {
            if defs.iter().any(|d| d.name == name) {
                return Err(bad(
                    path,
                    format!("extra column '{name}' has the name of a contract field; map it under [fields]"),
                ));
            }
            let kind = match spec {
                ColumnSpec::Full { kind: Some(ref k), .. } => match k.as_str() {
                    "text" => Kind::Text,
                    "number" => Kind::Number,
                    "date" => Kind::Date,
                    other => {
                        return Err(bad(
                            path,
                            format!("extra.{name}: type should be text, number or date, but is '{other}'"),
                        ))
                    }
                },
                _ => Kind::Text,
            };
            outputs.push(OutputField { name, kind, required: false, source: Some(spec), derived: None });
        }
        Ok(Mapping { table, default_currency, date_formats: raw.date_formats, delimiter, numbers, outputs })
    }
}

fn parse_derivation(expr: &str, defs: &'static [FieldDef]) -> Result<Derivation, String> {
    let (l, r) =
        expr.split_once('+').ok_or_else(|| format!("should be '<date field> + <field or days>', but is '{expr}'"))?;
    let (l, r) = (l.trim(), r.trim());
    let base = defs
        .iter()
        .find(|d| d.name == l && d.kind == Kind::Date)
        .ok_or_else(|| format!("'{l}' is not a date field"))?
        .name;
    if let Ok(n) = r.parse::<i32>() {
        return Ok(Derivation::DatePlusDays(base, n));
    }
    let add = defs
        .iter()
        .find(|d| d.name == r && d.kind == Kind::Int)
        .ok_or_else(|| format!("'{r}' is neither a whole number nor an integer field"))?
        .name;
    Ok(Derivation::DatePlusField(base, add))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> &'static Path {
        Path::new("m.toml")
    }

    const OK: &str = r#"
table = "invoices"
default_currency = "EUR"
date_formats = ["%d.%m.%Y"]
[fields]
invoice_id = "No"
customer_id = "Cust"
invoice_date = "Date"
amount = "Amt"
terms_days = "Terms"
disputed = { column = "Disp", values = { Yes = true, No = false } }
[derived]
due_date = "invoice_date + terms_days"
[extra]
region = "Region"
score = { column = "Score", type = "number" }
"#;

    #[test]
    fn a_full_mapping_parses() {
        let m = Mapping::parse(OK, p()).unwrap();
        assert_eq!(m.table, "invoices");
        assert_eq!(m.default_currency.as_str(), "EUR");
        let names: Vec<_> = m.outputs.iter().map(|o| o.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "invoice_id",
                "customer_id",
                "invoice_date",
                "due_date",
                "amount",
                "currency",
                "disputed",
                "terms_days",
                "region",
                "score"
            ]
        );
        assert_eq!(m.outputs[3].derived, Some(Derivation::DatePlusField("invoice_date", "terms_days")));
    }

    #[test]
    fn an_unmapped_required_field_is_an_error() {
        let text = OK.replace("due_date = \"invoice_date + terms_days\"", "");
        let err = Mapping::parse(&text, p()).unwrap_err().to_string();
        assert!(err.contains("due_date") && err.contains("m.toml"), "{err}");
    }

    #[test]
    fn an_unknown_field_is_an_error() {
        let text = OK.replace("amount = \"Amt\"", "amount = \"Amt\"\namout = \"X\"");
        assert!(Mapping::parse(&text, p()).unwrap_err().to_string().contains("'amout' is not a field"));
    }

    #[test]
    fn a_bad_derivation_is_an_error() {
        let text = OK.replace("invoice_date + terms_days", "amount + 3");
        assert!(Mapping::parse(&text, p()).unwrap_err().to_string().contains("not a date field"));
    }
}
