//! Records of the data contract (see `docs/DATA.md`).

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::{CustomerId, InvoiceId, Money};

/// An invoice as issued, with its settlement if known.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invoice {
    /// Unique invoice id.
    pub invoice_id: InvoiceId,
    /// Bill-to customer.
    pub customer_id: CustomerId,
    /// Issue date.
    pub invoice_date: NaiveDate,
    /// Due date (never before the issue date).
    pub due_date: NaiveDate,
    /// Invoice amount.
    pub amount: Money,
    /// Date the invoice was settled in full, `None` while open.
    pub paid_date: Option<NaiveDate>,
    /// Amount received by `paid_date` when known (less than `amount` for short payments).
    pub paid_amount: Option<Money>,
}

impl Invoice {
    /// Whether the invoice was open at the end of `as_of`: issued on or before it and
    /// not settled on or before it.
    pub fn is_open_at(&self, as_of: NaiveDate) -> bool {
        self.invoice_date <= as_of && self.paid_date.is_none_or(|p| p > as_of)
    }
}

/// A payment received, applied to an invoice or unapplied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payment {
    /// Payment id.
    pub payment_id: String,
    /// Paying customer.
    pub customer_id: CustomerId,
    /// Invoice the payment is applied to, `None` while unapplied.
    pub invoice_id: Option<InvoiceId>,
    /// Value date.
    pub payment_date: NaiveDate,
    /// Amount received.
    pub amount: Money,
}

/// A bill-to customer (master data; describes today, not the past).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Customer {
    /// Customer id.
    pub customer_id: CustomerId,
    /// Display name.
    pub name: Option<String>,
    /// Business segment.
    pub segment: Option<String>,
    /// Country code.
    pub country: Option<String>,
    /// Credit limit.
    pub credit_limit: Option<Money>,
    /// Assigned collector.
    pub collector: Option<String>,
}

/// Kinds of collection activity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActivityKind {
    /// Dunning e-mail.
    ReminderEmail,
    /// Dunning text message.
    ReminderSms,
    /// Collector call.
    Call,
    /// Dunning letter.
    Letter,
    /// Customer promised to pay by `promised_date`.
    PromiseToPay,
    /// Customer disputed an invoice.
    DisputeOpened,
    /// Dispute closed.
    DisputeResolved,
    /// Free-text note.
    Note,
}

impl ActivityKind {
    /// All kinds, in contract order.
    pub const ALL: [ActivityKind; 8] = [
        ActivityKind::ReminderEmail,
        ActivityKind::ReminderSms,
        ActivityKind::Call,
        ActivityKind::Letter,
        ActivityKind::PromiseToPay,
        ActivityKind::DisputeOpened,
        ActivityKind::DisputeResolved,
        ActivityKind::Note,
    ];

    /// The contract name (`reminder_email`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            ActivityKind::ReminderEmail => "reminder_email",
            ActivityKind::ReminderSms => "reminder_sms",
            ActivityKind::Call => "call",
            ActivityKind::Letter => "letter",
            ActivityKind::PromiseToPay => "promise_to_pay",
            ActivityKind::DisputeOpened => "dispute_opened",
            ActivityKind::DisputeResolved => "dispute_resolved",
            ActivityKind::Note => "note",
        }
    }

    /// Parses a contract name, case-insensitively.
    pub fn parse(s: &str) -> Option<Self> {
        let t = s.trim();
        Self::ALL.into_iter().find(|k| k.as_str().eq_ignore_ascii_case(t))
    }

    /// Reminders of any channel (e-mail, SMS, call, letter).
    pub fn is_reminder(self) -> bool {
        matches!(
            self,
            ActivityKind::ReminderEmail | ActivityKind::ReminderSms | ActivityKind::Call | ActivityKind::Letter
        )
    }
}

/// A dated collection activity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Activity {
    /// Activity id.
    pub activity_id: String,
    /// Customer.
    pub customer_id: CustomerId,
    /// Invoice concerned, if any.
    pub invoice_id: Option<InvoiceId>,
    /// Date of the activity.
    pub date: NaiveDate,
    /// Kind.
    pub kind: ActivityKind,
    /// Promised payment date (promises to pay).
    pub promised_date: Option<NaiveDate>,
    /// Promised amount (promises to pay).
    pub promised_amount: Option<Money>,
    /// Free text (dispute reason, note).
    pub text: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Currency;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn invoice_paid_on_as_of_is_closed_and_after_is_open() {
        let mut inv = Invoice {
            invoice_id: InvoiceId::parse("I1").unwrap(),
            customer_id: CustomerId::parse("C1").unwrap(),
            invoice_date: d("2024-01-01"),
            due_date: d("2024-01-31"),
            amount: Money::from_minor(100, Currency::USD),
            paid_date: Some(d("2024-02-10")),
            paid_amount: None,
        };
        assert!(!inv.is_open_at(d("2023-12-31")), "not issued yet");
        assert!(inv.is_open_at(d("2024-02-09")));
        assert!(!inv.is_open_at(d("2024-02-10")));
        inv.paid_date = None;
        assert!(inv.is_open_at(d("2030-01-01")));
    }

    #[test]
    fn activity_kinds_round_trip() {
        for k in ActivityKind::ALL {
            assert_eq!(ActivityKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(ActivityKind::parse("Promise_To_Pay"), Some(ActivityKind::PromiseToPay));
        assert_eq!(ActivityKind::parse("fax"), None);
    }
}
