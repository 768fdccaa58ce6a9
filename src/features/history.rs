//! Point-in-time view of a data directory: everything known at the end of `as_of`,
//! grouped by customer, in compact columnar form.
//!
//! Invoices issued after `as_of` are skipped; a settlement dated after `as_of` is
//! treated as not yet happened; payments and activities dated after `as_of` are
//! skipped; promise and reminder outcomes count only once they are decidable at
//! `as_of`. The current `disputed` flag is never read (it describes today).

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::Array;
use rayon::prelude::*;

use super::fx::FxTable;
use super::FeatureError;
use crate::domain::{ActivityKind, Currency, Customer};
use crate::ingest::columns::{NULL_AMOUNT, NULL_DATE};
use crate::ingest::{
    read_activities, read_customers, read_invoices_with, read_payments, InvoiceReadOptions, RejectedRow, TableSource,
};

/// `paid_date` of an invoice not settled by `as_of`.
pub const OPEN: i32 = i32::MAX;

/// A visible invoice.
#[derive(Debug, Clone, Copy)]
pub struct Inv {
    /// Customer index.
    pub cust: u32,
    /// Issue day.
    pub invoice_date: i32,
    /// Due day.
    pub due_date: i32,
    /// Settlement day, [`OPEN`] if not settled by as_of.
    pub paid_date: i32,
    /// Amount in base currency (model input only).
    pub amount_base: f64,
    /// Amount, minor units.
    pub amount_minor: i64,
    /// Amount received at settlement ([`NULL_AMOUNT`] unknown or not settled).
    pub paid_minor: i64,
    /// Currency.
    pub currency: Currency,
    /// Slot in [`History::open`] for invoices open at as_of, else `u32::MAX`.
    pub open_slot: u32,
    /// Hash of the invoice id (joins from payments and activities).
    pub key: u64,
}

/// Identity and extras of an invoice open at as_of.
#[derive(Debug, Clone)]
pub struct OpenInfo {
    /// Invoice id.
    pub invoice_id: String,
    /// Extra numeric columns.
    pub extra: Vec<f64>,
}

/// What payments and activities say about one invoice by as_of.
#[derive(Debug, Clone, Copy, Default)]
pub struct InvSide {
    /// Minor units received by as_of.
    pub paid_minor: i64,
    /// Payments received by as_of.
    pub n_payments: u16,
    /// Reminders by as_of.
    pub n_reminders: u16,
    /// A dispute was opened by as_of.
    pub dispute_opened: bool,
    /// A dispute was resolved by as_of.
    pub dispute_resolved: bool,
    /// A promise made by as_of falls on or after as_of.
    pub open_promise: bool,
}

/// Per-customer activity outcomes by as_of.
#[derive(Debug, Clone, Copy, Default)]
pub struct CustSide {
    /// Last payment day (payments table), `NULL_DATE` when none.
    pub last_payment: i32,
    /// Reminders dated by as_of.
    pub n_reminders: u32,
    /// Reminders whose 7-day window closed by as_of.
    pub reminders_evaluated: u32,
    /// ... of which the invoice was settled within the window.
    pub reminders_answered: u32,
    /// Promises whose date passed by as_of.
    pub promises_evaluated: u32,
    /// ... of which were kept.
    pub promises_kept: u32,
    /// Disputes opened by as_of.
    pub disputes: u32,
}

/// Master data of a customer.
#[derive(Debug, Clone, Default)]
pub struct CustMaster {
    /// Segment.
    pub segment: Option<String>,
    /// Collector.
    pub collector: Option<String>,
    /// Credit limit in base currency.
    pub credit_limit_base: f64,
}

/// Everything known at as_of, grouped by customer.
#[derive(Debug)]
pub struct History {
    /// The as-of day.
    pub as_of: i32,
    /// Customer ids by index.
    pub customers: Vec<String>,
    /// Visible invoices grouped by customer (see `offsets`), by invoice date.
    pub invoices: Vec<Inv>,
    /// `invoices[offsets[c]..offsets[c+1]]` belong to customer `c`.
    pub offsets: Vec<usize>,
    /// Payment/activity facts aligned with `invoices` (empty without those tables).
    pub inv_side: Vec<InvSide>,
    /// Per customer.
    pub cust_side: Vec<CustSide>,
    /// Per customer.
    pub master: Vec<CustMaster>,
    /// Open invoices' ids and extras, by slot.
    pub open: Vec<OpenInfo>,
    /// Whether a payments table was read.
    pub has_payments: bool,
    /// Rejected rows of every table.
    pub rejects: Vec<RejectedRow>,
    /// Currencies without an FX rate (converted at 1.0).
    pub unknown_currencies: Vec<Currency>,
}

impl History {
    /// Invoices of customer `c`.
    pub fn invoices_of(&self, c: usize) -> &[Inv] {
        &self.invoices[self.offsets[c]..self.offsets[c + 1]]
    }
}

/// Stable 64-bit hash of an id (SipHash-2-4 with fixed keys; `DefaultHasher` makes no stability promise).
pub fn id_key(id: &str) -> u64 {
    #[allow(deprecated)]
    let mut h = std::hash::SipHasher::new_with_keys(0x6172_7369_6768_7421, 0x6b65_7973_2121_2121);
    id.trim().hash(&mut h);
    h.finish()
}

struct ChunkOut {
    file: Arc<PathBuf>,
    first_row: u64,
    customers: Vec<String>,
    rows: Vec<Inv>,
    rows_in_chunk: Vec<u32>,
    open: Vec<OpenInfo>,
}

/// Loads the point-in-time history of `dir` at `as_of` (days since epoch).
///
/// # Errors
/// [`FeatureError`] when a table cannot be read.
pub fn load_history(dir: &Path, as_of: i32, opts: &InvoiceReadOptions, fx: &FxTable) -> Result<History, FeatureError> {
    let inv_src = TableSource::require(dir, "invoices")?;
    let (chunks, mut rejects) = read_invoices_with(&inv_src, opts, |c| {
        let mut local: HashMap<&str, u32> = HashMap::new();
        let mut customers = Vec::new();
        let mut rows = Vec::new();
        let mut rows_in_chunk = Vec::new();
        let mut open = Vec::new();
        for i in 0..c.len() {
            if !c.valid[i] || c.invoice_date[i] > as_of {
                continue;
            }
            let cid = c.customer_id.value(i).trim();
            let cust = *local.entry(cid).or_insert_with(|| {
                customers.push(cid.to_string());
                (customers.len() - 1) as u32
            });
            let settled = c.paid_date[i] != NULL_DATE && c.paid_date[i] <= as_of;
            let open_slot = if settled {
                u32::MAX
            } else {
                open.push(OpenInfo {
                    invoice_id: c.invoice_id.value(i).trim().to_string(),
                    extra: c.extra.iter().map(|col| col[i]).collect(),
                });
                (open.len() - 1) as u32
            };
            rows.push(Inv {
                cust,
                invoice_date: c.invoice_date[i],
                due_date: c.due_date[i],
                paid_date: if settled { c.paid_date[i] } else { OPEN },
                amount_base: fx.to_base(c.amount_minor[i], c.currency[i]),
                amount_minor: c.amount_minor[i],
                paid_minor: if settled { c.paid_minor[i] } else { NULL_AMOUNT },
                currency: c.currency[i],
                open_slot,
                key: id_key(c.invoice_id.value(i)),
            });
            rows_in_chunk.push(i as u32);
        }
        ChunkOut { file: c.file.clone(), first_row: c.first_row, customers, rows, rows_in_chunk, open }
    })?;

    // Merge: intern customers globally, renumber open slots, concatenate.
    let mut index: HashMap<String, u32> = HashMap::new();
    let mut customers: Vec<String> = Vec::new();
    let total: usize = chunks.iter().map(|c| c.rows.len()).sum();
    let mut all: Vec<Inv> = Vec::with_capacity(total);
    let mut origin: Vec<(u32, u32)> = Vec::with_capacity(total);
    let mut open: Vec<OpenInfo> = Vec::new();
    let mut chunk_meta = Vec::with_capacity(chunks.len());
    for (ci, ch) in chunks.into_iter().enumerate() {
        let map: Vec<u32> = ch
            .customers
            .into_iter()
            .map(|id| intern(&mut index, &mut customers, id))
            .collect();
        let base = open.len() as u32;
        for (r, &row) in ch.rows.iter().zip(&ch.rows_in_chunk) {
            let mut r = *r;
            r.cust = map[r.cust as usize];
            if r.open_slot != u32::MAX {
                r.open_slot += base;
            }
            all.push(r);
            origin.push((ci as u32, row));
        }
        open.extend(ch.open);
        chunk_meta.push((ch.file, ch.first_row));
    }

    // Duplicate invoice ids: keep the first in file order, reject the others.
    let mut keys: Vec<(u64, u32)> = all.iter().enumerate().map(|(i, r)| (r.key, i as u32)).collect();
    keys.par_sort_unstable();
    let mut dup = vec![false; all.len()];
    for w in keys.windows(2) {
        if w[0].0 == w[1].0 {
            let later = w[1].1 as usize;
            dup[later] = true;
            let (ci, row) = origin[later];
            let (file, first_row) = &chunk_meta[ci as usize];
            let slot = all[later].open_slot;
            rejects.push(RejectedRow {
                table: "invoices".into(),
                file: file.display().to_string(),
                row: first_row + u64::from(row),
                field: "invoice_id".into(),
                value: if slot != u32::MAX { open[slot as usize].invoice_id.clone() } else { String::new() },
                reason: "duplicate invoice_id (an earlier row has the same id)".into(),
            });
        }
    }
    keys.dedup_by_key(|k| k.0);

    // Group by customer (counting sort, stable), then by invoice date within each.
    let n_cust = customers.len();
    let mut offsets = vec![0usize; n_cust + 1];
    for (r, d) in all.iter().zip(&dup) {
        if !d {
            offsets[r.cust as usize + 1] += 1;
        }
    }
    for c in 0..n_cust {
        offsets[c + 1] += offsets[c];
    }
    let mut cursor = offsets.clone();
    let mut new_pos = vec![u32::MAX; all.len()];
    let placeholder = all.first().copied();
    let mut invoices: Vec<Inv> = match placeholder {
        Some(p) => vec![p; offsets[n_cust]],
        None => Vec::new(),
    };
    for (i, r) in all.iter().enumerate() {
        if dup[i] {
            continue;
        }
        let c = r.cust as usize;
        invoices[cursor[c]] = *r;
        new_pos[i] = cursor[c] as u32;
        cursor[c] += 1;
    }
    drop(all);
    drop(dup);
    // Sorting inside a customer reorders positions: sort (date, key) and remap keys.
    split_by_offsets(&mut invoices, &offsets)
        .into_par_iter()
        .for_each(|s| s.sort_unstable_by_key(|r| (r.invoice_date, r.due_date, r.key)));
    let pos_by_key: HashMap<u64, u32, rustc_hash::FxBuildHasher> =
        invoices.iter().enumerate().map(|(i, r)| (r.key, i as u32)).collect();
    drop(new_pos);
    drop(keys);

    let mut h = History {
        as_of,
        customers,
        invoices,
        offsets,
        inv_side: Vec::new(),
        cust_side: Vec::new(),
        master: Vec::new(),
        open,
        has_payments: false,
        rejects: Vec::new(),
        unknown_currencies: Vec::new(),
    };
    let mut cust_side = vec![CustSide { last_payment: NULL_DATE, ..Default::default() }; n_cust];
    let mut inv_side: Vec<InvSide> = Vec::new();

    if let Some(src) = TableSource::find(dir, "payments")? {
        h.has_payments = true;
        inv_side.resize(h.invoices.len(), InvSide::default());
        let (parts, rj) = read_payments(&src, opts, |c| {
            let mut out = Vec::new();
            for i in 0..c.valid.len() {
                if c.valid[i] && c.payment_date[i] <= as_of {
                    let key = (!c.invoice_id.is_null(i) && !c.invoice_id.value(i).trim().is_empty())
                        .then(|| id_key(c.invoice_id.value(i)));
                    out.push((c.customer_id.value(i).trim().to_string(), key, c.payment_date[i], c.amount_minor[i]));
                }
            }
            out
        })?;
        rejects.extend(rj);
        for (cid, key, date, amount) in parts.into_iter().flatten() {
            let Some(&c) = index.get(&cid) else { continue };
            let cs = &mut cust_side[c as usize];
            cs.last_payment = cs.last_payment.max(date);
            if let Some(&p) = key.and_then(|k| pos_by_key.get(&k)) {
                let s = &mut inv_side[p as usize];
                s.paid_minor = s.paid_minor.saturating_add(amount);
                s.n_payments = s.n_payments.saturating_add(1);
            }
        }
    }

    if let Some(src) = TableSource::find(dir, "activities")? {
        if inv_side.is_empty() {
            inv_side.resize(h.invoices.len(), InvSide::default());
        }
        let (parts, rj) = read_activities(&src, |c| {
            let mut out = Vec::new();
            for i in 0..c.valid.len() {
                if c.valid[i] && c.date[i] <= as_of {
                    let key = (!c.invoice_id.is_null(i) && !c.invoice_id.value(i).trim().is_empty())
                        .then(|| id_key(c.invoice_id.value(i)));
                    out.push((c.customer_id.value(i).trim().to_string(), key, c.date[i], c.kind[i], c.promised_date[i]));
                }
            }
            out
        })?;
        rejects.extend(rj);
        for (cid, key, date, kind, promised) in parts.into_iter().flatten() {
            let Some(&c) = index.get(&cid) else { continue };
            let pos = key.and_then(|k| pos_by_key.get(&k)).map(|&p| p as usize);
            apply_activity(&h.invoices, &mut inv_side, &mut cust_side[c as usize], pos, date, kind, promised, as_of);
        }
    }

    let mut master = vec![CustMaster { credit_limit_base: f64::NAN, ..Default::default() }; n_cust];
    if let Some(src) = TableSource::find(dir, "customers")? {
        let (list, rj): (Vec<Customer>, _) = read_customers(&src, opts)?;
        rejects.extend(rj);
        for cu in list {
            if let Some(&c) = index.get(cu.customer_id.as_str()) {
                master[c as usize] = CustMaster {
                    segment: cu.segment,
                    collector: cu.collector,
                    credit_limit_base: cu.credit_limit.map_or(f64::NAN, |m| fx.to_base(m.minor, m.currency)),
                };
            }
        }
    }
    h.inv_side = inv_side;
    h.cust_side = cust_side;
    h.master = master;
    h.rejects = rejects;
    h.unknown_currencies = fx.unknown_seen();
    Ok(h)
}

#[allow(clippy::too_many_arguments)]
fn apply_activity(
    invoices: &[Inv],
    inv_side: &mut [InvSide],
    cs: &mut CustSide,
    pos: Option<usize>,
    date: i32,
    kind: ActivityKind,
    promised: i32,
    as_of: i32,
) {
    let inv = pos.map(|p| invoices[p]);
    match kind {
        k if k.is_reminder() => {
            cs.n_reminders += 1;
            if let (Some(p), Some(inv)) = (pos, inv) {
                inv_side[p].n_reminders = inv_side[p].n_reminders.saturating_add(1);
                // Decidable once the 7-day window has closed; only reminders sent
                // while the invoice was still open count.
                if date + 7 <= as_of && inv.paid_date >= date {
                    cs.reminders_evaluated += 1;
                    if inv.paid_date <= date + 7 {
                        cs.reminders_answered += 1;
                    }
                }
            }
        }
        ActivityKind::PromiseToPay => {
            if let (Some(p), Some(inv)) = (pos, inv) {
                if promised != NULL_DATE && promised <= as_of {
                    cs.promises_evaluated += 1;
                    if inv.paid_date <= promised {
                        cs.promises_kept += 1;
                    }
                } else if promised != NULL_DATE {
                    inv_side[p].open_promise = true;
                }
            }
        }
        ActivityKind::DisputeOpened => {
            cs.disputes += 1;
            if let Some(p) = pos {
                inv_side[p].dispute_opened = true;
            }
        }
        ActivityKind::DisputeResolved => {
            if let Some(p) = pos {
                inv_side[p].dispute_resolved = true;
            }
        }
        _ => {}
    }
}

fn intern(index: &mut HashMap<String, u32>, customers: &mut Vec<String>, id: String) -> u32 {
    if let Some(&i) = index.get(&id) {
        return i;
    }
    let i = customers.len() as u32;
    customers.push(id.clone());
    index.insert(id, i);
    i
}

/// Splits `v` into the mutable sub-slices delimited by `offsets`.
fn split_by_offsets<'a, T>(mut v: &'a mut [T], offsets: &[usize]) -> Vec<&'a mut [T]> {
    let mut out = Vec::with_capacity(offsets.len().saturating_sub(1));
    for w in offsets.windows(2) {
        let (head, tail) = v.split_at_mut(w[1] - w[0]);
        out.push(head);
        v = tail;
    }
    out
}
