//! Events: invoices issued or changed, payments received and collection activities
//! arriving after the data was loaded. They are validated ([`parse_events`]), kept in
//! an append-only log ([`log::EventLog`]) and applied to customers' ledgers
//! ([`apply`]) so features and predictions follow them.
//!
//! Wire form (one object per event; field names as in the data contract):
//!
//! ```json
//! {"event_id": "e-1", "type": "invoice", "invoice_id": "INV-9", "customer_id": "C1",
//!  "invoice_date": "2024-07-01", "due_date": "2024-07-31", "amount": "1200.00",
//!  "currency": "EUR", "paid_date": null, "paid_amount": null}
//! {"event_id": "e-2", "type": "payment", "customer_id": "C1", "invoice_id": "INV-9",
//!  "payment_date": "2024-07-20", "amount": 1200, "currency": "EUR"}
//! {"event_id": "e-3", "type": "activity", "customer_id": "C1", "invoice_id": "INV-9",
//!  "date": "2024-07-05", "kind": "promise_to_pay", "promised_date": "2024-07-19"}
//! ```
//!
//! An invoice event with a known `invoice_id` replaces that invoice's fields. A payment
//! applied to an invoice settles it (sets its paid date) once the payments applied to
//! it cover its amount.

pub mod log;

use serde_json::{Map, Value};

use crate::domain::{days_from_date, parse_date_flexible, ActivityKind, Currency, Money};
use crate::features::history::{id_key, Inv, OPEN};
use crate::features::ledger::{Ledger, LedgerActivity, LedgerInvoice, LedgerPayment};
use crate::features::FxTable;
use crate::ingest::columns::{NULL_AMOUNT, NULL_DATE};

/// Most events in one request.
pub const MAX_EVENTS: usize = 10_000;

/// What happened.
#[derive(Debug, Clone, PartialEq)]
pub enum EventBody {
    /// An invoice issued, or changed (same `invoice_id`).
    Invoice {
        /// Invoice id.
        invoice_id: String,
        /// Issue day.
        invoice_date: i32,
        /// Due day.
        due_date: i32,
        /// Amount.
        amount: Money,
        /// Settlement day, when settled.
        paid_date: Option<i32>,
        /// Amount received at settlement.
        paid_amount: Option<Money>,
        /// Delivery channel (`paper`, `email`, `e-invoice`, ...), normalised.
        channel: Option<String>,
    },
    /// A payment received.
    Payment {
        /// Invoice it is applied to; None = unapplied cash.
        invoice_id: Option<String>,
        /// Payment day.
        payment_date: i32,
        /// Amount.
        amount: Money,
    },
    /// The customer's master data (replaces what the data or earlier events said;
    /// like the contract's `customers` table it describes today).
    Customer {
        /// Segment label.
        segment: Option<String>,
        /// Collector.
        collector: Option<String>,
        /// Credit limit.
        credit_limit: Option<Money>,
    },
    /// A collection activity.
    Activity {
        /// Invoice concerned.
        invoice_id: Option<String>,
        /// Day.
        date: i32,
        /// Kind.
        kind: ActivityKind,
        /// Promised payment day (promises to pay).
        promised_date: Option<i32>,
    },
}

/// One event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Caller's id; a repeated id is not applied twice.
    pub event_id: String,
    /// Position in the log (assigned when appended; 0 before).
    pub seq: u64,
    /// Customer.
    pub customer_id: String,
    /// What happened.
    pub body: EventBody,
}

/// What kind of refusal a [`FieldError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// An invalid value (422).
    Invalid,
    /// An unknown id (404).
    NotFound,
    /// An id already used for other content (409).
    Conflict,
}

/// A refused field of a posted request (events or predictions): JSON path, reason, kind.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    /// e.g. `events[2].payment_date`.
    pub field: String,
    /// Why.
    pub reason: String,
    /// Kind.
    pub kind: Refusal,
}

fn day_text(d: i32) -> String {
    crate::domain::date_from_days(d).map(|x| x.to_string()).unwrap_or_default()
}

impl Event {
    /// The latest day the event speaks of (it is known from then on).
    pub fn day(&self) -> i32 {
        match &self.body {
            EventBody::Invoice { invoice_date, paid_date, .. } => (*invoice_date).max(paid_date.unwrap_or(i32::MIN)),
            EventBody::Payment { payment_date, .. } => *payment_date,
            EventBody::Activity { date, .. } => *date,
            EventBody::Customer { .. } => i32::MIN,
        }
    }

    /// The canonical JSON form (what the log stores; [`parse_event`] reads it back).
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("event_id".into(), self.event_id.clone().into());
        m.insert("customer_id".into(), self.customer_id.clone().into());
        let amount = |x: &Money| Value::String(x.to_major_string());
        match &self.body {
            EventBody::Invoice { invoice_id, invoice_date, due_date, amount: a, paid_date, paid_amount, channel } => {
                m.insert("type".into(), "invoice".into());
                m.insert("invoice_id".into(), invoice_id.clone().into());
                m.insert("invoice_date".into(), day_text(*invoice_date).into());
                m.insert("due_date".into(), day_text(*due_date).into());
                m.insert("amount".into(), amount(a));
                m.insert("currency".into(), a.currency.as_str().into());
                if let Some(p) = paid_date {
                    m.insert("paid_date".into(), day_text(*p).into());
                }
                if let Some(p) = paid_amount {
                    m.insert("paid_amount".into(), amount(p));
                }
                if let Some(c) = channel {
                    m.insert("channel".into(), c.clone().into());
                }
            }
            EventBody::Payment { invoice_id, payment_date, amount: a } => {
                m.insert("type".into(), "payment".into());
                if let Some(i) = invoice_id {
                    m.insert("invoice_id".into(), i.clone().into());
                }
                m.insert("payment_date".into(), day_text(*payment_date).into());
                m.insert("amount".into(), amount(a));
                m.insert("currency".into(), a.currency.as_str().into());
            }
            EventBody::Customer { segment, collector, credit_limit } => {
                m.insert("type".into(), "customer".into());
                if let Some(x) = segment {
                    m.insert("segment".into(), x.clone().into());
                }
                if let Some(x) = collector {
                    m.insert("collector".into(), x.clone().into());
                }
                if let Some(x) = credit_limit {
                    m.insert("credit_limit".into(), amount(x));
                    m.insert("currency".into(), x.currency.as_str().into());
                }
            }
            EventBody::Activity { invoice_id, date, kind, promised_date } => {
                m.insert("type".into(), "activity".into());
                if let Some(i) = invoice_id {
                    m.insert("invoice_id".into(), i.clone().into());
                }
                m.insert("date".into(), day_text(*date).into());
                m.insert("kind".into(), kind.as_str().into());
                if let Some(p) = promised_date {
                    m.insert("promised_date".into(), day_text(*p).into());
                }
            }
        }
        Value::Object(m)
    }

    /// A fingerprint of the content (not the seq), to tell a retry from a conflict.
    pub fn content_hash(&self) -> u64 {
        id_key(&self.to_json().to_string())
    }
}

/// Reads one event object; `at` is its JSON path (`events[3]`) for errors.
/// Dates after `latest` are refused (events describe the past).
///
/// # Errors
/// Every invalid field of the event.
pub fn parse_event(v: &Value, at: &str, latest: i32) -> Result<Event, Vec<FieldError>> {
    let mut errors = Vec::new();
    let bad = |errors: &mut Vec<FieldError>, f: &str, reason: String| {
        errors.push(FieldError { field: format!("{at}.{f}"), reason, kind: Refusal::Invalid })
    };
    let Some(obj) = v.as_object() else {
        return Err(vec![FieldError {
            field: at.into(),
            reason: "should be an object".into(),
            kind: Refusal::Invalid,
        }]);
    };
    const KNOWN: [&str; 17] = [
        "event_id",
        "type",
        "customer_id",
        "invoice_id",
        "invoice_date",
        "due_date",
        "amount",
        "currency",
        "paid_date",
        "paid_amount",
        "payment_date",
        "date",
        "kind",
        "promised_date",
        "segment",
        "collector",
        "credit_limit",
    ];
    for k in obj.keys().filter(|k| !KNOWN.contains(&k.as_str())) {
        bad(&mut errors, k, format!("unknown field; expected some of {}", KNOWN.join(", ")));
    }
    let text = |errors: &mut Vec<FieldError>, f: &str, required: bool| -> Option<String> {
        match obj.get(f) {
            None | Some(Value::Null) if !required => None,
            Some(Value::String(s)) if !s.trim().is_empty() && s.len() <= 256 => Some(s.trim().to_string()),
            _ => {
                let what = if required { "is required (a non-empty string" } else { "should be a non-empty string" };
                bad(errors, f, format!("{what} of at most 256 bytes)").replace("string of", "string, of"));
                None
            }
        }
    };
    // Dates of what happened may not lie ahead; a due date (and a promised date) may.
    let date = |errors: &mut Vec<FieldError>, f: &str, required: bool| -> Option<i32> {
        let s = text(errors, f, required)?;
        match parse_date_flexible(&s).map(days_from_date) {
            Some(d) if d <= latest || f == "due_date" => Some(d),
            Some(_) => {
                bad(errors, f, format!("{s} is in the future (latest accepted {})", day_text(latest)));
                None
            }
            None => {
                bad(errors, f, format!("should be a date like 2024-06-30, not '{s}'"));
                None
            }
        }
    };
    let currency = |errors: &mut Vec<FieldError>| -> Option<Currency> {
        let s = text(errors, "currency", true)?;
        match Currency::parse(&s) {
            Ok(c) => Some(c),
            Err(e) => {
                bad(errors, "currency", e.to_string());
                None
            }
        }
    };
    let money = |errors: &mut Vec<FieldError>, f: &str, cur: Option<Currency>, required: bool| -> Option<Money> {
        let t = match obj.get(f) {
            None | Some(Value::Null) if !required => return None,
            Some(Value::Number(n)) => n.to_string(),
            Some(Value::String(s)) => s.clone(),
            _ => {
                bad(errors, f, "is required (a number or decimal string in major units)".into());
                return None;
            }
        };
        match Money::parse_major(&t, cur?) {
            Ok(m) if m.minor >= 0 => Some(m),
            Ok(_) => {
                bad(errors, f, "should not be negative".into());
                None
            }
            Err(e) => {
                bad(errors, f, e.to_string());
                None
            }
        }
    };
    let event_id = text(&mut errors, "event_id", true);
    let customer_id = text(&mut errors, "customer_id", true);
    let kind = text(&mut errors, "type", true);
    let body = match kind.as_deref() {
        Some("invoice") => {
            let invoice_id = text(&mut errors, "invoice_id", true);
            let issue = date(&mut errors, "invoice_date", true);
            let due = date(&mut errors, "due_date", true);
            let cur = currency(&mut errors);
            let amount = money(&mut errors, "amount", cur, true);
            let paid_date = date(&mut errors, "paid_date", false);
            let paid_amount = money(&mut errors, "paid_amount", cur, false);
            let channel = text(&mut errors, "channel", false).map(|c| crate::domain::normalise_channel(&c));
            if let (Some(i), Some(d)) = (issue, due) {
                if d < i {
                    bad(&mut errors, "due_date", "is before invoice_date".into());
                }
            }
            if let (Some(i), Some(p)) = (issue, paid_date) {
                if p < i {
                    bad(&mut errors, "paid_date", "is before invoice_date".into());
                }
            }
            if paid_amount.is_some() && paid_date.is_none() {
                bad(&mut errors, "paid_amount", "needs paid_date".into());
            }
            match (invoice_id, issue, due, amount) {
                (Some(invoice_id), Some(invoice_date), Some(due_date), Some(amount)) => Some(EventBody::Invoice {
                    invoice_id,
                    invoice_date,
                    due_date,
                    amount,
                    paid_date,
                    paid_amount,
                    channel,
                }),
                _ => None,
            }
        }
        Some("payment") => {
            let invoice_id = text(&mut errors, "invoice_id", false);
            let d = date(&mut errors, "payment_date", true);
            let cur = currency(&mut errors);
            let amount = money(&mut errors, "amount", cur, true);
            match (d, amount) {
                (Some(payment_date), Some(amount)) => Some(EventBody::Payment { invoice_id, payment_date, amount }),
                _ => None,
            }
        }
        Some("customer") => {
            let segment = text(&mut errors, "segment", false);
            let collector = text(&mut errors, "collector", false);
            let cur = match obj.get("credit_limit") {
                None | Some(Value::Null) => None,
                Some(_) => currency(&mut errors),
            };
            let credit_limit = money(&mut errors, "credit_limit", cur, false);
            Some(EventBody::Customer { segment, collector, credit_limit })
        }
        Some("activity") => {
            let invoice_id = text(&mut errors, "invoice_id", false);
            let d = date(&mut errors, "date", true);
            let k = text(&mut errors, "kind", true).and_then(|k| {
                let parsed = ActivityKind::parse(&k);
                if parsed.is_none() {
                    let all: Vec<&str> = ActivityKind::ALL.iter().map(|k| k.as_str()).collect();
                    bad(&mut errors, "kind", format!("should be one of {}, not '{k}'", all.join(", ")));
                }
                parsed
            });
            // A promised date may lie ahead: it is a promise about the future.
            let promised_date = match text(&mut errors, "promised_date", false) {
                None => None,
                Some(s) => match parse_date_flexible(&s) {
                    Some(p) => Some(days_from_date(p)),
                    None => {
                        bad(&mut errors, "promised_date", format!("should be a date like 2024-06-30, not '{s}'"));
                        None
                    }
                },
            };
            if let (Some(day), Some(ActivityKind::PromiseToPay), Some(p)) = (d, k, promised_date) {
                if p < day {
                    let made = day_text(day);
                    bad(&mut errors, "promised_date", format!("is before the date the promise was made ({made})"));
                }
            }
            match (d, k) {
                (Some(date), Some(kind)) => Some(EventBody::Activity { invoice_id, date, kind, promised_date }),
                _ => None,
            }
        }
        Some(other) => {
            bad(&mut errors, "type", format!("should be invoice, payment, activity or customer, not '{other}'"));
            None
        }
        None => None,
    };
    match (errors.is_empty(), event_id, customer_id, body) {
        (true, Some(event_id), Some(customer_id), Some(body)) => Ok(Event { event_id, seq: 0, customer_id, body }),
        _ => Err(errors),
    }
}

/// Reads `{"events": [...]}` (1 to [`MAX_EVENTS`]).
///
/// # Errors
/// Every invalid field, with its path.
pub fn parse_events(body: &Value, latest: i32) -> Result<Vec<Event>, Vec<FieldError>> {
    let Some(list) = body.get("events").and_then(Value::as_array) else {
        return Err(vec![FieldError {
            field: "events".into(),
            reason: "should be an array of events".into(),
            kind: Refusal::Invalid,
        }]);
    };
    if list.is_empty() || list.len() > MAX_EVENTS {
        return Err(vec![FieldError {
            field: "events".into(),
            reason: format!("should hold 1 to {MAX_EVENTS} events, not {}", list.len()),
            kind: Refusal::Invalid,
        }]);
    }
    let mut out = Vec::with_capacity(list.len());
    let mut errors = Vec::new();
    for (i, v) in list.iter().enumerate() {
        match parse_event(v, &format!("events[{i}]"), latest) {
            Ok(e) => out.push(e),
            Err(mut e) => errors.append(&mut e),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// Applies an event to its customer's ledger.
pub fn apply(ledger: &mut Ledger, e: &Event, fx: &FxTable) {
    match &e.body {
        EventBody::Invoice { invoice_id, invoice_date, due_date, amount, paid_date, paid_amount, channel } => {
            let key = id_key(invoice_id);
            let mut inv = Inv {
                cust: 0,
                invoice_date: *invoice_date,
                due_date: *due_date,
                paid_date: paid_date.unwrap_or(OPEN),
                paid_window: 0,
                amount_base: fx.to_base(amount.minor, amount.currency),
                amount_minor: amount.minor,
                paid_minor: match (paid_date, paid_amount) {
                    (Some(_), Some(p)) => p.minor,
                    _ => NULL_AMOUNT,
                },
                currency: amount.currency,
                channel: channel.as_deref().map_or(crate::domain::NO_CHANNEL, crate::domain::channel_code),
                open_slot: u32::MAX,
                key,
                chunk: 0,
                row: 0,
            };
            if paid_date.is_none() {
                // A change that does not mention settlement keeps one made by payments.
                if let Some(old) = ledger.invoices.iter().find(|r| r.inv.key == key) {
                    inv.paid_date = old.inv.paid_date;
                    inv.paid_window = old.inv.paid_window;
                    inv.paid_minor = old.inv.paid_minor;
                }
            }
            match ledger.invoice_mut(key) {
                Some(r) => {
                    r.inv = inv;
                    r.id = Some(invoice_id.clone());
                }
                None => ledger.invoices.push(LedgerInvoice { inv, id: Some(invoice_id.clone()), extra: Vec::new() }),
            }
            settle_if_covered(ledger, key);
        }
        EventBody::Payment { invoice_id, payment_date, amount } => {
            let key = invoice_id.as_deref().map(id_key);
            ledger.payments.push(LedgerPayment { invoice: key, date: *payment_date, amount_minor: amount.minor });
            if let Some(k) = key {
                settle_if_covered(ledger, k);
            }
        }
        EventBody::Customer { segment, collector, credit_limit } => {
            ledger.master = crate::features::history::CustMaster {
                segment: segment.clone(),
                // Customer events carry no country: the one known stays.
                country: ledger.master.country.take(),
                collector: collector.clone(),
                credit_limit_base: credit_limit.map_or(f64::NAN, |m| fx.to_base(m.minor, m.currency)),
            };
        }
        EventBody::Activity { invoice_id, date, kind, promised_date } => {
            ledger.activities.push(LedgerActivity {
                invoice: invoice_id.as_deref().map(id_key),
                date: *date,
                promised: promised_date.unwrap_or(NULL_DATE),
                kind: *kind,
            });
        }
    }
}

/// Settles an open invoice on the day its applied payments first cover its amount.
fn settle_if_covered(ledger: &mut Ledger, key: u64) {
    let mut pays: Vec<(i32, i64)> =
        ledger.payments.iter().filter(|p| p.invoice == Some(key)).map(|p| (p.date, p.amount_minor)).collect();
    pays.sort_unstable();
    let Some(r) = ledger.invoice_mut(key) else { return };
    if r.inv.paid_date != OPEN {
        return;
    }
    let mut sum = 0i64;
    for (d, a) in pays {
        sum = sum.saturating_add(a);
        if sum >= r.inv.amount_minor {
            r.inv.paid_date = d.max(r.inv.invoice_date);
            r.inv.paid_minor = sum;
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const LATEST: i32 = 20_000; // 2024-10-04

    #[test]
    fn events_round_trip_through_their_canonical_form() {
        let v = json!({"events": [
            {"event_id": "a", "type": "invoice", "invoice_id": "I1", "customer_id": "C", "invoice_date": "2024-07-01",
             "due_date": "2024-12-31", "amount": "1200.5", "currency": "EUR"},
            {"event_id": "b", "type": "payment", "customer_id": "C", "invoice_id": "I1", "payment_date": "2024-07-20",
             "amount": 700, "currency": "EUR"},
            {"event_id": "c", "type": "activity", "customer_id": "C", "date": "2024-07-02", "kind": "promise_to_pay",
             "invoice_id": "I1", "promised_date": "2024-12-01"},
            {"event_id": "d", "type": "customer", "customer_id": "C", "collector": "ann", "credit_limit": "5000", "currency": "EUR"}
        ]});
        let events = parse_events(&v, LATEST).unwrap();
        for e in &events {
            assert_eq!(&parse_event(&e.to_json(), "x", LATEST).unwrap(), e);
        }
        assert_eq!(events[0].to_json()["amount"], "1200.50");
    }

    #[test]
    fn invalid_events_name_each_field() {
        let v = json!({"events": [
            {"event_id": "a", "type": "invoice", "invoice_id": "I1", "customer_id": "C", "invoice_date": "2024-07-01",
             "due_date": "2024-06-01", "amount": "12.345", "currency": "EUR"},
            {"event_id": "b", "type": "refund", "customer_id": "C"},
            {"type": "payment", "customer_id": "C", "payment_date": "2031-01-01", "amount": 5, "currency": "EUR", "colour": 1},
            {"event_id": "d", "type": "activity", "customer_id": "C", "date": "2024-07-02", "kind": "shout"},
            {"event_id": "e", "type": "activity", "customer_id": "C", "date": "2024-07-02", "kind": "promise_to_pay",
             "promised_date": "2024-07-01"}
        ]});
        let errors = parse_events(&v, LATEST).unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        for f in [
            "events[0].due_date",
            "events[0].amount",
            "events[1].type",
            "events[2].event_id",
            "events[2].payment_date",
            "events[2].colour",
            "events[3].kind",
            "events[4].promised_date",
        ] {
            assert!(fields.contains(&f), "{f} missing from {fields:?}");
        }
        let promise = errors.iter().find(|e| e.field == "events[4].promised_date").unwrap();
        assert_eq!(promise.reason, "is before the date the promise was made (2024-07-02)");
        // A promise to pay on the day it is made is one.
        let today = json!({"event_id": "f", "type": "activity", "customer_id": "C", "date": "2024-07-02",
                           "kind": "promise_to_pay", "promised_date": "2024-07-02"});
        assert!(parse_event(&today, "e", LATEST).is_ok());
        assert!(parse_events(&json!({"events": []}), LATEST).is_err());
    }

    #[test]
    fn payments_that_cover_an_invoice_settle_it() {
        let fx = FxTable::default();
        let mut l = Ledger::new("C", true);
        let ev = |v: Value| parse_event(&v, "e", LATEST).unwrap();
        apply(
            &mut l,
            &ev(json!({"event_id": "1", "type": "invoice", "invoice_id": "I", "customer_id": "C",
            "invoice_date": "2024-07-01", "due_date": "2024-07-31", "amount": 100, "currency": "USD"})),
            &fx,
        );
        apply(
            &mut l,
            &ev(json!({"event_id": "2", "type": "payment", "invoice_id": "I", "customer_id": "C",
            "payment_date": "2024-07-10", "amount": 40, "currency": "USD"})),
            &fx,
        );
        assert_eq!(l.invoices[0].inv.paid_date, OPEN, "partial payment leaves it open");
        apply(
            &mut l,
            &ev(json!({"event_id": "3", "type": "payment", "invoice_id": "I", "customer_id": "C",
            "payment_date": "2024-08-03", "amount": "60.00", "currency": "USD"})),
            &fx,
        );
        let settled = days_from_date(chrono::NaiveDate::from_ymd_opt(2024, 8, 3).unwrap());
        assert_eq!((l.invoices[0].inv.paid_date, l.invoices[0].inv.paid_minor), (settled, 10_000));
        // Seen before the settlement date it is still open.
        let h = l.history(settled - 1, &crate::domain::NO_HOLIDAYS);
        assert_eq!(h.open.len(), 1);
        assert_eq!(l.history(settled, &crate::domain::NO_HOLIDAYS).open.len(), 0);
    }
}
