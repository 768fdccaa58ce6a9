//! The fields of posted invoices (`POST /v1/predictions`), read from a parsed JSON
//! document or straight from the request body.
//!
//! A small request is read into [`PostedBody`]: strings are borrowed from the body
//! (copied only when they hold escapes) and no document is built. Anything that does
//! not read that way (not an object with an `invoices` array of objects, invalid JSON)
//! goes through [`serde_json::Value`] instead, so errors read the same either way.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// One field of a posted invoice, as the checks see it.
#[derive(Debug, Clone, PartialEq)]
pub enum Field<'a> {
    /// No such key.
    Missing,
    /// JSON `null`.
    Null,
    /// A string.
    Str(&'a str),
    /// A number, as JSON parsing gives it.
    Number(serde_json::Number),
    /// A boolean, array or object.
    Other,
}

/// A posted invoice's fields.
pub trait PostedInvoice: Sync {
    /// How many distinct keys it has; None when it is not a JSON object.
    fn keys(&self) -> Option<usize>;
    /// The field under `name`.
    fn field(&self, name: &str) -> Field<'_>;
}

impl PostedInvoice for serde_json::Value {
    fn keys(&self) -> Option<usize> {
        self.as_object().map(serde_json::Map::len)
    }

    fn field(&self, name: &str) -> Field<'_> {
        match self.get(name) {
            None => Field::Missing,
            Some(serde_json::Value::Null) => Field::Null,
            Some(serde_json::Value::String(s)) => Field::Str(s),
            Some(serde_json::Value::Number(n)) => Field::Number(n.clone()),
            Some(_) => Field::Other,
        }
    }
}

/// `{"invoices": [...]}` read from the body's bytes (other keys ignored).
#[derive(Debug, serde::Deserialize)]
pub struct PostedBody<'a> {
    /// The invoices.
    #[serde(borrow)]
    pub invoices: Vec<BorrowedInvoice<'a>>,
}

/// `{"invoices": [...]}` with each invoice's text found but not read (other keys
/// ignored): a large body's invoices are then read chunk by chunk, in parallel.
#[derive(Debug, serde::Deserialize)]
pub struct RawBody<'a> {
    /// The invoices' JSON text.
    #[serde(borrow)]
    pub invoices: Vec<&'a serde_json::value::RawValue>,
}

impl<'a> BorrowedInvoice<'a> {
    /// Reads one invoice's JSON text (from a [`RawBody`]); None when it is not an
    /// object.
    pub fn read(raw: &'a serde_json::value::RawValue) -> Option<Self> {
        serde_json::from_str(raw.get()).ok()
    }
}

/// A posted invoice whose strings borrow from the body.
#[derive(Debug, Default)]
pub struct BorrowedInvoice<'a> {
    /// Distinct keys in first-seen order; a repeated key keeps its last value (as a
    /// parsed document does).
    fields: Vec<(Cow<'a, str>, Value<'a>)>,
}

#[derive(Debug)]
enum Value<'a> {
    Null,
    Str(Cow<'a, str>),
    Number(serde_json::Number),
    Other,
}

impl PostedInvoice for BorrowedInvoice<'_> {
    fn keys(&self) -> Option<usize> {
        Some(self.fields.len())
    }

    fn field(&self, name: &str) -> Field<'_> {
        match self.fields.iter().find(|(k, _)| k == name).map(|(_, v)| v) {
            None => Field::Missing,
            Some(Value::Null) => Field::Null,
            Some(Value::Str(s)) => Field::Str(s),
            Some(Value::Number(n)) => Field::Number(n.clone()),
            Some(Value::Other) => Field::Other,
        }
    }
}

/// A string borrowed from the input when it has no escapes.
struct CowStr<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for CowStr<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = CowStr<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Borrowed(s)))
            }
            fn visit_str<E>(self, s: &str) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Owned(s.to_string())))
            }
            fn visit_string<E>(self, s: String) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Owned(s)))
            }
        }
        d.deserialize_str(V(std::marker::PhantomData))
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Value<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Value<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Self::Value, E> {
                Ok(Value::Str(Cow::Borrowed(s)))
            }
            fn visit_str<E>(self, s: &str) -> Result<Self::Value, E> {
                Ok(Value::Str(Cow::Owned(s.to_string())))
            }
            fn visit_string<E>(self, s: String) -> Result<Self::Value, E> {
                Ok(Value::Str(Cow::Owned(s)))
            }
            fn visit_u64<E>(self, n: u64) -> Result<Self::Value, E> {
                Ok(Value::Number(n.into()))
            }
            fn visit_i64<E>(self, n: i64) -> Result<Self::Value, E> {
                Ok(Value::Number(n.into()))
            }
            fn visit_f64<E>(self, n: f64) -> Result<Self::Value, E> {
                // As a parsed document keeps it (JSON has no non-finite numbers).
                Ok(serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number))
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(Value::Null)
            }
            fn visit_none<E>(self) -> Result<Self::Value, E> {
                Ok(Value::Null)
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(Value::Other)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
                while a.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Value::Other)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
                while a.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Value::Other)
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for BorrowedInvoice<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = BorrowedInvoice<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an invoice object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
                let mut inv = BorrowedInvoice { fields: Vec::with_capacity(a.size_hint().unwrap_or(8)) };
                while let Some((CowStr(k), v)) = a.next_entry::<CowStr<'a>, Value<'a>>()? {
                    match inv.fields.iter_mut().find(|(key, _)| *key == k) {
                        Some(slot) => slot.1 = v,
                        None => inv.fields.push((k, v)),
                    }
                }
                Ok(inv)
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every field reads the same from the body's bytes as from a parsed document:
    /// strings with and without escapes, numbers of each kind, null, other values,
    /// repeated and missing keys.
    #[test]
    fn borrowed_fields_read_as_the_parsed_document_does() {
        let body = r#"{"extra": [1, 2], "invoices": [
            {"invoice_id": "A-1", "customer_id": "C\"7\u00e9", "amount": 120.50, "currency": "EUR",
             "n": -3, "big": 18446744073709551615, "e": 1e3, "null": null, "flag": true,
             "list": [1, {"x": null}], "obj": {"y": [2]}, "invoice_id": "A-2"},
            {"invoice_id": "B", "amount": "99.95"}
        ]}"#;
        let doc: serde_json::Value = serde_json::from_str(body).unwrap();
        let fast: PostedBody<'_> = serde_json::from_str(body).unwrap();
        let list = doc["invoices"].as_array().unwrap();
        assert_eq!(fast.invoices.len(), list.len());
        let names = [
            "invoice_id",
            "customer_id",
            "amount",
            "currency",
            "n",
            "big",
            "e",
            "null",
            "flag",
            "list",
            "obj",
            "absent",
        ];
        for (b, v) in fast.invoices.iter().zip(list) {
            assert_eq!(b.keys(), v.keys());
            for name in names {
                assert_eq!(b.field(name), v.field(name), "{name}");
            }
        }
        assert_eq!(fast.invoices[0].field("invoice_id"), Field::Str("A-2"));
        // Found first, read one by one: the same fields.
        let raw: RawBody<'_> = serde_json::from_str(body).unwrap();
        for (r, b) in raw.invoices.iter().zip(&fast.invoices) {
            let r = BorrowedInvoice::read(r).unwrap();
            assert_eq!(r.keys(), b.keys());
            for name in names {
                assert_eq!(r.field(name), b.field(name), "{name}");
            }
        }
        assert_eq!(fast.invoices[0].field("customer_id"), Field::Str("C\"7é"));
        assert!(matches!(fast.invoices[0].field("amount"), Field::Number(n) if n.to_string() == "120.5"));
    }

    /// Bodies that are not an object with an `invoices` array of objects do not read
    /// as a [`PostedBody`] (the handler then takes the parsed document's path).
    #[test]
    fn other_shapes_are_refused() {
        for body in [
            r#"{"invoices": [1]}"#,
            r#"{"invoices": {"a": 1}}"#,
            r#"{"invoices": null}"#,
            r#"{"other": []}"#,
            r#"[{"invoice_id": "A"}]"#,
            r#"{"invoices": [{"invoice_id": "A"}]} trailing"#,
            r#"{"invoices": [{"invoice_id": "A",}]}"#,
        ] {
            assert!(serde_json::from_str::<PostedBody<'_>>(body).is_err(), "{body}");
            // Refused when found, or when read.
            if let Ok(raw) = serde_json::from_str::<RawBody<'_>>(body) {
                assert!(raw.invoices.iter().any(|r| BorrowedInvoice::read(r).is_none()), "{body}");
            }
        }
        assert_eq!(PostedInvoice::keys(&serde_json::json!([1])), None);
    }
}
