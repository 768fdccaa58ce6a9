//! One customer's records in raw form, so that changes arriving one by one (new or
//! changed invoices, payments, activities) can be applied and the customer's
//! point-in-time [`History`] rebuilt with exactly the rules [`load_history`] uses.
//!
//! [`load_history`]: super::history::load_history

use super::history::{ActEvent, CustMaster, History, Inv, OpenInfo, PayEvent, OPEN};
use crate::domain::ActivityKind;
use crate::ingest::columns::NULL_AMOUNT;

/// An invoice of a ledger.
#[derive(Debug, Clone)]
pub struct LedgerInvoice {
    /// The invoice (its `paid_date` is the settlement date or [`OPEN`]; `cust`,
    /// `open_slot`, `chunk` and `row` are set when a history is built).
    pub inv: Inv,
    /// The id, when known (open invoices and invoices that arrived as events).
    pub id: Option<String>,
    /// Extra numeric columns (NaN when the invoice arrived as an event).
    pub extra: Vec<f64>,
}

/// A payment of a ledger: the invoice key it is applied to, its day and amount.
#[derive(Debug, Clone, Copy)]
pub struct LedgerPayment {
    /// Key of the invoice it pays ([`super::history::id_key`]), None when unapplied.
    pub invoice: Option<u64>,
    /// Payment day.
    pub date: i32,
    /// Minor units.
    pub amount_minor: i64,
}

/// An activity of a ledger.
#[derive(Debug, Clone, Copy)]
pub struct LedgerActivity {
    /// Key of the invoice concerned, None for the customer as a whole.
    pub invoice: Option<u64>,
    /// Activity day.
    pub date: i32,
    /// Promised day ([`crate::ingest::columns::NULL_DATE`] when none).
    pub promised: i32,
    /// Kind.
    pub kind: ActivityKind,
}

/// Everything known about one customer.
#[derive(Debug, Clone)]
pub struct Ledger {
    /// Customer id.
    pub customer_id: String,
    /// Master data.
    pub master: CustMaster,
    /// Whether the data has a payments table (a model input flag).
    pub has_payments: bool,
    /// Invoices in arrival order.
    pub invoices: Vec<LedgerInvoice>,
    /// Payments in arrival order.
    pub payments: Vec<LedgerPayment>,
    /// Activities in arrival order.
    pub activities: Vec<LedgerActivity>,
}

impl Ledger {
    /// An empty ledger of a customer the data does not know.
    pub fn new(customer_id: &str, has_payments: bool) -> Ledger {
        Ledger {
            customer_id: customer_id.to_string(),
            master: CustMaster { credit_limit_base: f64::NAN, ..Default::default() },
            has_payments,
            invoices: Vec::new(),
            payments: Vec::new(),
            activities: Vec::new(),
        }
    }

    /// The invoice with key `key`.
    pub fn invoice_mut(&mut self, key: u64) -> Option<&mut LedgerInvoice> {
        self.invoices.iter_mut().find(|r| r.inv.key == key)
    }

    /// Minor units applied to invoice `key` by payments dated on or before `t`.
    pub fn paid_towards(&self, key: u64, t: i32) -> i64 {
        self.payments.iter().filter(|p| p.invoice == Some(key) && p.date <= t).map(|p| p.amount_minor).sum()
    }

    /// The customer's point-in-time history at `as_of` (customer index 0), built with
    /// the rules of [`super::load_history`]: invoices issued after `as_of` left out,
    /// settlements after it treated as open, payments and activities after it left
    /// out, links resolved by invoice id; the ledger closed on `holidays`.
    pub fn history(&self, as_of: i32, holidays: &crate::domain::Holidays) -> History {
        let mut invs: Vec<(Inv, usize)> = self
            .invoices
            .iter()
            .enumerate()
            .filter(|(_, r)| r.inv.invoice_date <= as_of)
            .map(|(i, r)| {
                let mut inv = r.inv;
                inv.cust = 0;
                (inv.chunk, inv.row) = ((i >> 16) as u32, (i & 0xFFFF) as u16);
                if inv.paid_date > as_of {
                    inv.paid_date = OPEN;
                    inv.paid_minor = NULL_AMOUNT;
                }
                (inv, i)
            })
            .collect();
        invs.sort_by_key(|(r, _)| (r.invoice_date, r.due_date, r.key, r.origin()));
        let mut open = Vec::new();
        let mut invoices = Vec::with_capacity(invs.len());
        for (mut inv, i) in invs {
            inv.open_slot = if inv.paid_date == OPEN {
                let src = &self.invoices[i];
                open.push(OpenInfo { invoice_id: src.id.clone().unwrap_or_default(), extra: src.extra.clone() });
                (open.len() - 1) as u32
            } else {
                u32::MAX
            };
            invoices.push(inv);
        }
        let pos = |key: Option<u64>| {
            key.and_then(|k| invoices.iter().position(|r| r.key == k)).map_or(u32::MAX, |p| p as u32)
        };
        let payments: Vec<PayEvent> = self
            .payments
            .iter()
            .filter(|p| p.date <= as_of)
            .map(|p| PayEvent { pos: pos(p.invoice), date: p.date, amount_minor: p.amount_minor })
            .collect();
        let activities: Vec<ActEvent> = self
            .activities
            .iter()
            .filter(|a| a.date <= as_of)
            .map(|a| ActEvent { pos: pos(a.invoice), date: a.date, promised: a.promised, kind: a.kind })
            .collect();
        let n = invoices.len();
        History {
            as_of,
            customers: vec![self.customer_id.clone()],
            offsets: vec![0, n],
            invoices,
            pay_offsets: vec![0, payments.len()],
            payments,
            act_offsets: vec![0, activities.len()],
            activities,
            master: vec![self.master.clone()],
            open,
            has_payments: self.has_payments,
            rejects: Vec::new(),
            unknown_currencies: Vec::new(),
            holidays: holidays.clone(),
            listing_days: Vec::new(),
        }
    }
}

impl History {
    /// The ledger of customer `c`. Invoice ids of invoices settled by as-of are not
    /// kept by a history; their keys are.
    pub fn ledger_of(&self, c: usize) -> Ledger {
        let base = self.offsets[c];
        let invs = self.invoices_of(c);
        let key_at = |pos: u32| {
            let p = pos as usize;
            (pos != u32::MAX && p >= base && p < base + invs.len()).then(|| invs[p - base].key)
        };
        Ledger {
            customer_id: self.customers[c].clone(),
            master: self.master[c].clone(),
            has_payments: self.has_payments,
            invoices: invs
                .iter()
                .map(|r| {
                    let info = (r.open_slot != u32::MAX).then(|| &self.open[r.open_slot as usize]);
                    LedgerInvoice {
                        inv: *r,
                        id: info.map(|i| i.invoice_id.clone()),
                        extra: info.map(|i| i.extra.clone()).unwrap_or_default(),
                    }
                })
                .collect(),
            payments: self.payments[self.pay_offsets[c]..self.pay_offsets[c + 1]]
                .iter()
                .map(|p| LedgerPayment { invoice: key_at(p.pos), date: p.date, amount_minor: p.amount_minor })
                .collect(),
            activities: self.activities[self.act_offsets[c]..self.act_offsets[c + 1]]
                .iter()
                .map(|a| LedgerActivity { invoice: key_at(a.pos), date: a.date, promised: a.promised, kind: a.kind })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::features::customer_at;
    use crate::fixtures::{generated_dir, history_at};

    #[test]
    fn a_customer_rebuilt_from_its_ledger_has_the_same_vector_and_open_invoices() {
        let dir = generated_dir(60, 3000, "2023-01-01", "2024-06-30", 5);
        let (h, d) = history_at(dir.path(), "2024-03-15");
        assert!(!h.open.is_empty() && !h.activities.is_empty() && !h.payments.is_empty());
        for c in (0..h.customers.len()).step_by(7) {
            let one = h.ledger_of(c).history(d, &h.holidays);
            let (a, b) = (customer_at(&h, c, d), customer_at(&one, 0, d));
            let same = a.vector.iter().zip(&b.vector).all(|(x, y)| x == y || (x.is_nan() && y.is_nan()));
            assert!(same, "customer {c}: {:?} vs {:?}", a.vector, b.vector);
            let open = |h: &crate::features::History, c: usize| -> Vec<String> {
                h.invoices_of(c)
                    .iter()
                    .filter(|r| r.open_slot != u32::MAX)
                    .map(|r| h.open[r.open_slot as usize].invoice_id.clone())
                    .collect()
            };
            assert_eq!(open(&h, c), open(&one, 0));
        }
    }
}
