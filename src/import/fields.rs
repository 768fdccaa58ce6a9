//! The contract fields of each table an import can produce.

use arrow_schema::DataType;

use crate::contract::AMOUNT_TYPE;

/// How a field's text is parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Non-empty id.
    Id,
    /// Free text.
    Text,
    /// Date.
    Date,
    /// Money amount in the row's currency.
    Amount,
    /// ISO 4217 code.
    Currency,
    /// Boolean.
    Bool,
    /// Whole number.
    Int,
    /// Activity kind.
    ActivityKind,
    /// Floating-point number (extra columns only).
    Number,
}

impl Kind {
    /// The Arrow type written.
    pub fn data_type(self) -> DataType {
        match self {
            Kind::Id | Kind::Text | Kind::Currency | Kind::ActivityKind => DataType::Utf8,
            Kind::Date => DataType::Date32,
            Kind::Amount => AMOUNT_TYPE,
            Kind::Bool => DataType::Boolean,
            Kind::Int => DataType::Int32,
            Kind::Number => DataType::Float64,
        }
    }
}

/// A contract field.
#[derive(Debug, Clone, Copy)]
pub struct FieldDef {
    /// Name in the contract.
    pub name: &'static str,
    /// Parsing.
    pub kind: Kind,
    /// Whether every row must have it.
    pub required: bool,
}

const fn f(name: &'static str, kind: Kind, required: bool) -> FieldDef {
    FieldDef { name, kind, required }
}

/// Fields of `invoices`.
pub const INVOICES: &[FieldDef] = &[
    f("invoice_id", Kind::Id, true),
    f("customer_id", Kind::Id, true),
    f("invoice_date", Kind::Date, true),
    f("due_date", Kind::Date, true),
    f("amount", Kind::Amount, true),
    f("currency", Kind::Currency, false),
    f("paid_date", Kind::Date, false),
    f("paid_amount", Kind::Amount, false),
    f("disputed", Kind::Bool, false),
    f("terms_days", Kind::Int, false),
    f("business_unit", Kind::Text, false),
    f("country", Kind::Text, false),
    f("channel", Kind::Text, false),
    f("updated_at", Kind::Date, false),
    f("snapshot_date", Kind::Date, false),
];

/// Fields of `payments`.
pub const PAYMENTS: &[FieldDef] = &[
    f("payment_id", Kind::Id, true),
    f("customer_id", Kind::Id, true),
    f("invoice_id", Kind::Text, false),
    f("payment_date", Kind::Date, true),
    f("amount", Kind::Amount, true),
    f("currency", Kind::Currency, false),
    f("method", Kind::Text, false),
    f("reference", Kind::Text, false),
];

/// Fields of `customers`.
pub const CUSTOMERS: &[FieldDef] = &[
    f("customer_id", Kind::Id, true),
    f("name", Kind::Text, false),
    f("segment", Kind::Text, false),
    f("country", Kind::Text, false),
    f("credit_limit", Kind::Amount, false),
    f("currency", Kind::Currency, false),
    f("collector", Kind::Text, false),
];

/// Fields of `activities`.
pub const ACTIVITIES: &[FieldDef] = &[
    f("activity_id", Kind::Id, true),
    f("customer_id", Kind::Id, true),
    f("invoice_id", Kind::Text, false),
    f("date", Kind::Date, true),
    f("kind", Kind::ActivityKind, true),
    f("promised_date", Kind::Date, false),
    f("promised_amount", Kind::Amount, false),
    f("currency", Kind::Currency, false),
    f("text", Kind::Text, false),
];

/// The fields of a table, by name.
pub fn table_fields(table: &str) -> Option<&'static [FieldDef]> {
    match table {
        "invoices" => Some(INVOICES),
        "payments" => Some(PAYMENTS),
        "customers" => Some(CUSTOMERS),
        "activities" => Some(ACTIVITIES),
        _ => None,
    }
}

/// The field that must be unique within the table. Not `payment_id`: a remittance
/// applied to several invoices repeats it (the reader rejects a row that repeats its
/// id, invoice, date and amount).
pub fn unique_field(table: &str) -> Option<&'static str> {
    match table {
        "invoices" => Some("invoice_id"),
        "customers" => Some("customer_id"),
        "activities" => Some("activity_id"),
        _ => None,
    }
}
