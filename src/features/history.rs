//! Point-in-time view of a data directory: everything known at the end of `as_of`,
//! grouped by customer, in compact columnar form.
//!
//! Invoices issued after `as_of` are skipped; a settlement dated after `as_of` is
//! treated as not yet happened; payments and activities dated after `as_of` are
//! skipped; promise and reminder outcomes count only once they are decidable at
//! `as_of`. The current `disputed` flag is never read (it describes today).

use std::collections::HashMap;

use rustc_hash::{FxHashMap, FxHashSet};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::Array;
use rayon::prelude::*;

use super::fx::FxTable;
use super::FeatureError;
use crate::domain::{ActivityKind, Currency, Customer, Holidays};
use crate::ingest::columns::{NULL_AMOUNT, NULL_DATE};
use crate::ingest::read::BATCH_ROWS;
use crate::ingest::{
    read_activities, read_customers, read_holidays, read_invoices_with, read_payments, InvoiceReadOptions, RejectedRow,
    TableSource,
};

/// `paid_date` of an invoice not settled by `as_of`.
pub const OPEN: i32 = i32::MAX;

/// An as-of day after any real data (9999-12-31): loading with it makes everything
/// in the files known, and point-in-time views are then taken with `customer_at`.
pub const FAR_FUTURE: i32 = 2_932_896;

/// A visible invoice.
#[derive(Debug, Clone, Copy)]
pub struct Inv {
    /// Customer index.
    pub cust: u32,
    /// Issue day.
    pub invoice_date: i32,
    /// Due day.
    pub due_date: i32,
    /// Settlement day, [`OPEN`] if not settled by as_of. For an invoice settled by an
    /// open-items listing that no longer shows it, the listing's day: when the
    /// settlement became known (see [`Inv::paid_day`] for when it happened).
    pub paid_date: i32,
    /// Days before `paid_date` the settlement may have happened: 0 when the data gives
    /// its day, else the days since the listing before the one that no longer showed it.
    pub paid_window: u16,
    /// Amount in base currency (model input only).
    pub amount_base: f64,
    /// Amount, minor units.
    pub amount_minor: i64,
    /// Amount received at settlement ([`NULL_AMOUNT`] unknown or not settled).
    pub paid_minor: i64,
    /// Currency.
    pub currency: Currency,
    /// Delivery channel code ([`crate::domain::channel_code`]; 0 without one).
    pub channel: u8,
    /// Slot in [`History::open`] for invoices open at as_of, else `u32::MAX`.
    pub open_slot: u32,
    /// Hash of the invoice id (joins from payments and activities).
    pub key: u64,
    /// The chunk it was read in: with `row`, its place in file order, for duplicates.
    pub chunk: u32,
    /// Its row in that chunk (chunks hold at most [`BATCH_ROWS`] rows). Two fields
    /// rather than a pair, so that `row` and `paid_window` share the pair's padding and
    /// an invoice stays 64 bytes.
    pub row: u16,
}

const _: () = assert!(BATCH_ROWS <= 1 << 16, "a chunk's rows are numbered in a u16");

impl Inv {
    /// The settlement day as far as the data tells it, for outcomes (days late, days
    /// to pay, remaining days): `paid_date`, or for an invoice settled by an open-items
    /// listing one of the days between the listing that last showed it and the one that
    /// no longer did (`paid_date`), those days included, picked from a hash of the
    /// invoice id: a day of the span, a weekend's moved to the Monday after, as bank
    /// settlements post on business days (to the Friday before when the span ends
    /// first). The picks spread over each span as the settlements would, so
    /// distributions fitted to them keep their width, and the same invoice gets the same
    /// day whatever the file order. Whether it is settled at a date is still
    /// `paid_date <= date`: that is when it became known.
    #[inline]
    pub fn paid_day(&self) -> i32 {
        if self.paid_window == 0 || self.paid_date == OPEN {
            self.paid_date
        } else {
            self.picked_day()
        }
    }

    /// [`Inv::paid_day`] of a settlement known only to a span of days.
    #[cold]
    fn picked_day(&self) -> i32 {
        let first = self.paid_date - i32::from(self.paid_window);
        let pick = self.key.rotate_left(29).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32;
        let day = first + (pick % (u64::from(self.paid_window) + 1)) as i32;
        // A weekend's payments post on the Monday after, or on the Friday before when
        // the span ends first; a span of weekend days only keeps the day.
        let wd = crate::domain::weekday(day);
        let monday = day + (7 - wd) % 7;
        let friday = day - (wd - 4).max(0);
        if wd < 5 {
            day
        } else if monday <= self.paid_date {
            monday
        } else if friday >= first {
            friday
        } else {
            day
        }
    }

    /// [`Inv::paid_day`] for an invoice open at `s` as far as was known then: that day
    /// when it is after `s`; else (paid by `s`, but the listing that told it came
    /// later) the day it became known, `paid_date`, which is after `s`. An as-of date
    /// between two listings leaves such invoices among the open ones, and their cash
    /// surfaces, as far as the ledger goes, with that listing: counting them on the
    /// first day after `s` instead put them all in the first week of every forecast.
    #[inline]
    pub fn paid_day_after(&self, s: i32) -> i32 {
        let day = self.paid_day();
        if day > s {
            day
        } else {
            self.paid_date
        }
    }

    /// [`Inv::paid_day`] where the settlement is known by `t` (`paid_date <= t`), else
    /// [`OPEN`]: what a view at `t` may read of it.
    #[inline]
    pub fn paid_day_by(&self, t: i32) -> i32 {
        if self.paid_date <= t {
            self.paid_day()
        } else {
            OPEN
        }
    }

    /// (chunk, row in chunk) where it was read: file order.
    pub fn origin(&self) -> (u32, u16) {
        (self.chunk, self.row)
    }

    const PLACEHOLDER: Inv = Inv {
        cust: 0,
        invoice_date: 0,
        due_date: 0,
        paid_date: OPEN,
        paid_window: 0,
        amount_base: 0.0,
        amount_minor: 0,
        paid_minor: NULL_AMOUNT,
        currency: Currency::USD,
        channel: crate::domain::NO_CHANNEL,
        open_slot: u32::MAX,
        key: 0,
        chunk: 0,
        row: 0,
    };
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

/// A payment: the invoice it is applied to (position in `History::invoices`,
/// `u32::MAX` when unapplied or unknown), its date and amount.
#[derive(Debug, Clone, Copy)]
pub struct PayEvent {
    /// Invoice position or `u32::MAX`.
    pub pos: u32,
    /// Payment day.
    pub date: i32,
    /// Minor units.
    pub amount_minor: i64,
}

/// A collection activity.
#[derive(Debug, Clone, Copy)]
pub struct ActEvent {
    /// Invoice position or `u32::MAX`.
    pub pos: u32,
    /// Activity day.
    pub date: i32,
    /// Promised day ([`NULL_DATE`] when none).
    pub promised: i32,
    /// Kind.
    pub kind: ActivityKind,
}

/// Per-customer activity outcomes at a date.
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
    /// Country.
    pub country: Option<String>,
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
    /// Customer ids by index, in id order.
    pub customers: Vec<String>,
    /// Visible invoices grouped by customer (see `offsets`), by invoice date.
    pub invoices: Vec<Inv>,
    /// `invoices[offsets[c]..offsets[c+1]]` belong to customer `c`.
    pub offsets: Vec<usize>,
    /// Payments dated by as_of of known customers, grouped by customer (see
    /// `pay_offsets`), in file order.
    pub payments: Vec<PayEvent>,
    /// `payments[pay_offsets[c]..pay_offsets[c+1]]` belong to customer `c`.
    pub pay_offsets: Vec<usize>,
    /// Activities dated by as_of of known customers, grouped by customer.
    pub activities: Vec<ActEvent>,
    /// `activities[act_offsets[c]..act_offsets[c+1]]` belong to customer `c`.
    pub act_offsets: Vec<usize>,
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
    /// Bank holidays from the `holidays` table, every row of it: a holiday calendar is
    /// published ahead, so its later days are known at as_of.
    pub holidays: Holidays,
    /// The days of the open-items listings (`snapshot_date`) on or before as_of, in
    /// order; empty for invoices not read from listings.
    pub listing_days: Vec<i32>,
}

impl History {
    /// The day through which the data tell, at `d`, which invoices are settled: `d`,
    /// or where the invoices come from open-items listings, the last listing's day on
    /// or before `d` (a settlement after it shows only with the next listing; `d`
    /// before the first).
    pub fn known_through(&self, d: i32) -> i32 {
        match self.listing_days.partition_point(|&x| x <= d) {
            0 => d,
            k => self.listing_days[k - 1],
        }
    }

    /// The most days an as-of date between two open-items listings sits after the
    /// earlier one (the longest span between listings less one; 0 without listings):
    /// how much further than its horizon a cash model trained on them looks, so that a
    /// forecast from the last listing covers the horizon from a later as-of date.
    pub fn listing_reach(&self) -> i32 {
        self.listing_days.windows(2).map(|w| w[1] - w[0] - 1).max().unwrap_or(0).max(0)
    }

    /// Invoices of customer `c`.
    pub fn invoices_of(&self, c: usize) -> &[Inv] {
        &self.invoices[self.offsets[c]..self.offsets[c + 1]]
    }

    /// The position within customer `c`'s invoices of a payment's or activity's
    /// invoice position `pos` (None when unapplied or another customer's).
    pub fn local_pos(&self, c: usize, pos: u32) -> Option<usize> {
        let (base, p) = (self.offsets[c], pos as usize);
        (pos != u32::MAX && p >= base && p < self.offsets[c + 1]).then(|| p - base)
    }

    /// What payments and activities dated on or before `t` (≤ as_of) say about
    /// customer `c` and each of its invoices (aligned with [`Self::invoices_of`]).
    pub fn sides_at(&self, c: usize, t: i32) -> (Vec<InvSide>, CustSide) {
        let invs = self.invoices_of(c);
        let mut inv_side = vec![InvSide::default(); invs.len()];
        let mut cs = CustSide { last_payment: NULL_DATE, ..Default::default() };
        let local = |pos: u32| self.local_pos(c, pos);
        for e in &self.payments[self.pay_offsets[c]..self.pay_offsets[c + 1]] {
            if e.date > t {
                continue;
            }
            cs.last_payment = cs.last_payment.max(e.date);
            if let Some(i) = local(e.pos) {
                let s = &mut inv_side[i];
                s.paid_minor = s.paid_minor.saturating_add(e.amount_minor);
                s.n_payments = s.n_payments.saturating_add(1);
            }
        }
        for e in &self.activities[self.act_offsets[c]..self.act_offsets[c + 1]] {
            if e.date <= t {
                apply_activity(invs, &mut inv_side, &mut cs, local(e.pos), e.date, e.kind, e.promised, t);
            }
        }
        (inv_side, cs)
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
    /// Per customer of `customers`: the country on its latest invoice (issue date,
    /// country), when the invoices give one.
    countries: Vec<Option<(i32, String)>>,
    rows: Vec<Inv>,
    open: Vec<OpenInfo>,
    /// Customers of this chunk's invoices issued after the as-of date (payments and
    /// activities may name them before their first invoice).
    later: Vec<String>,
    /// `updated_at` per row of the chunk, when the file has it.
    updated: Option<Vec<i64>>,
    /// `snapshot_date` per row of the chunk, when the file has it.
    snapshot: Option<Vec<i32>>,
}

/// Keeps in `slot` the non-empty `value` dated `day` when it is at least as recent
/// as what it holds (a tie goes to the greater text, so file order does not
/// matter); copies the text only when it changes.
fn keep_latest(slot: &mut Option<(i32, String)>, day: i32, value: &str) {
    if value.is_empty() {
        return;
    }
    match slot {
        Some((d, v)) if *d < day || (*d == day && v.as_str() < value) => {
            *d = day;
            if v != value {
                *v = value.to_string();
            }
        }
        Some(_) => {}
        None => *slot = Some((day, value.to_string())),
    }
}

/// Loads the point-in-time history of `dir` at `as_of` (days since epoch).
///
/// # Errors
/// [`FeatureError`] when a table cannot be read.
pub fn load_history(dir: &Path, as_of: i32, opts: &InvoiceReadOptions, fx: &FxTable) -> Result<History, FeatureError> {
    let t0 = std::time::Instant::now();
    let stage =
        |name: &str| tracing::debug!(stage = name, elapsed_ms = t0.elapsed().as_millis() as u64, "load_history");
    let inv_src = TableSource::require(dir, "invoices")?;
    let (chunks, mut rejects) = read_invoices_with(&inv_src, opts, |c| {
        let mut local: HashMap<&str, u32> = HashMap::new();
        let mut customers = Vec::new();
        let mut countries: Vec<Option<(i32, String)>> = Vec::new();
        let mut rows = Vec::new();
        let mut open = Vec::new();
        let mut later: FxHashSet<&str> = FxHashSet::default();
        for i in 0..c.len() {
            if !c.valid[i] {
                continue;
            }
            if c.invoice_date[i] > as_of {
                later.insert(c.customer_id.value(i).trim());
                continue;
            }
            let cid = c.customer_id.value(i).trim();
            let cust = *local.entry(cid).or_insert_with(|| {
                customers.push(cid.to_string());
                countries.push(None);
                (customers.len() - 1) as u32
            });
            if let Some(v) = c.country.as_ref().filter(|a| !a.is_null(i)).map(|a| a.value(i).trim()) {
                keep_latest(&mut countries[cust as usize], c.invoice_date[i], v);
            }
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
                paid_window: 0,
                amount_base: fx.to_base(c.amount_minor[i], c.currency[i]),
                amount_minor: c.amount_minor[i],
                paid_minor: if settled { c.paid_minor[i] } else { NULL_AMOUNT },
                currency: c.currency[i],
                channel: c.channel[i],
                open_slot,
                key: id_key(c.invoice_id.value(i)),
                chunk: 0,
                row: i as u16,
            });
        }
        let later = later.into_iter().map(str::to_string).collect();
        ChunkOut {
            file: c.file.clone(),
            first_row: c.first_row,
            customers,
            countries,
            rows,
            open,
            later,
            // A column of nulls says nothing about versions.
            updated: c.updated_at.filter(|u| u.iter().any(|&t| t != crate::ingest::columns::NULL_INSTANT)),
            snapshot: c.snapshot_date.filter(|u| u.iter().any(|&t| t != NULL_DATE)),
        }
    })?;

    stage("invoices read");
    // Intern customers globally (each chunk brings only its distinct ids) and
    // renumber open slots.
    let mut chunks = chunks;
    let mut index: FxHashMap<String, u32> = FxHashMap::default();
    let mut customers: Vec<String> = Vec::new();
    let mut open: Vec<OpenInfo> = Vec::new();
    let mut chunk_meta = Vec::with_capacity(chunks.len());
    // The country on each customer's latest invoice (the customers table's wins).
    let mut invoice_country: Vec<Option<(i32, String)>> = Vec::new();
    let mut later: FxHashSet<String> = FxHashSet::default();
    for (ci, ch) in chunks.iter_mut().enumerate() {
        later.extend(ch.later.drain(..));
        let map: Vec<u32> = ch.customers.drain(..).map(|id| intern(&mut index, &mut customers, id)).collect();
        invoice_country.resize(customers.len(), None);
        for (local, found) in ch.countries.iter().enumerate() {
            if let Some((d, v)) = found {
                keep_latest(&mut invoice_country[map[local] as usize], *d, v);
            }
        }
        let base = open.len() as u32;
        for r in &mut ch.rows {
            r.cust = map[r.cust as usize];
            if r.open_slot != u32::MAX {
                r.open_slot += base;
            }
            r.chunk = ci as u32;
        }
        open.append(&mut ch.open);
        chunk_meta.push((ch.file.clone(), ch.first_row));
    }
    // Number customers in id order, not file order, so that the same rows in
    // another order give the same numbering, training rows and model bytes.
    let rank = id_order(&mut customers, &mut invoice_country, &mut index);
    // Versions of an invoice are told apart by `updated_at` or `snapshot_date` when
    // any file has one.
    let stamps = Stamps {
        updated: chunks.iter_mut().map(|ch| ch.updated.take()).collect(),
        snapshot: chunks.iter_mut().map(|ch| ch.snapshot.take()).collect(),
    };
    let versioned = stamps.updated.iter().any(Option::is_some) || stamps.snapshot.iter().any(Option::is_some);
    let snapshot_days = stamps.days_by(as_of);

    // Group by customer with a stable counting sort straight from the chunks, then
    // order each customer's invoices by date.
    let n_cust = customers.len();
    let mut offsets = vec![0usize; n_cust + 1];
    for ch in &chunks {
        for r in &ch.rows {
            offsets[rank[r.cust as usize] as usize + 1] += 1;
        }
    }
    for c in 0..n_cust {
        offsets[c + 1] += offsets[c];
    }
    let mut invoices = vec![Inv::PLACEHOLDER; offsets[n_cust]];
    let mut cursor = offsets.clone();
    for ch in chunks {
        for mut r in ch.rows {
            r.cust = rank[r.cust as usize];
            let c = r.cust as usize;
            invoices[cursor[c]] = r;
            cursor[c] += 1;
        }
    }
    drop(cursor);
    stage("invoices grouped");
    split_by_offsets(&mut invoices, &offsets)
        .into_par_iter()
        .for_each(|s| s.sort_unstable_by_key(|r| (r.invoice_date, r.due_date, r.key, r.origin())));

    // Duplicate invoice ids: keep the first in file order, reject the others. With
    // `updated_at` or `snapshot_date` the rows are versions of one invoice (monthly
    // exports, incremental extracts): see `merge_versions`. With open-items snapshots
    // an invoice missing from a later snapshot was settled: see `settle_missing`.
    let mut global: Vec<(u64, u32)> = invoices.par_iter().enumerate().map(|(i, r)| (r.key, i as u32)).collect();
    global.par_sort_unstable();
    let mut dups: Vec<u32> = Vec::new();
    let mut superseded: Vec<u32> = Vec::new();
    let mut missing = 0usize;
    for group in global.chunk_by(|a, b| a.0 == b.0) {
        let kept = match group {
            [only] => only.1,
            _ if versioned => {
                let (kept, others) = merge_versions(&mut invoices, group.iter().map(|e| e.1), &stamps);
                superseded.extend(others);
                kept
            }
            _ => {
                let keep = group.iter().min_by_key(|e| invoices[e.1 as usize].origin()).map_or(group[0].1, |e| e.1);
                dups.extend(group.iter().map(|e| e.1).filter(|p| *p != keep));
                keep
            }
        };
        if !snapshot_days.is_empty() {
            missing += usize::from(settle_missing(&mut invoices, kept, group, &stamps, &snapshot_days));
        }
    }
    if !superseded.is_empty() {
        tracing::info!(rows = superseded.len(), "older versions of invoices superseded by updated_at or snapshot_date");
    }
    if missing > 0 {
        tracing::info!(
            invoices = missing,
            "invoices settled on the first open-items snapshot that no longer lists them"
        );
    }
    let mut found: Vec<(u32, u16, u32)> = Vec::new();
    for &p in &dups {
        let r = &invoices[p as usize];
        found.push((r.chunk, r.row, r.open_slot));
    }
    dups.append(&mut superseded);
    if !dups.is_empty() {
        let mut is_dup = vec![false; invoices.len()];
        for &p in &dups {
            is_dup[p as usize] = true;
        }
        found.sort_unstable();
        for (ci, row, slot) in found {
            let (file, first_row) = &chunk_meta[ci as usize];
            rejects.push(RejectedRow {
                table: "invoices".into(),
                file: file.display().to_string(),
                row: first_row + u64::from(row),
                field: "invoice_id".into(),
                value: if slot != u32::MAX { open[slot as usize].invoice_id.clone() } else { String::new() },
                reason: "duplicate invoice_id (an earlier row has the same id)".into(),
            });
        }
        let mut k = 0;
        invoices.retain(|_| {
            k += 1;
            !is_dup[k - 1]
        });
        offsets.iter_mut().for_each(|o| *o = 0);
        for r in &invoices {
            offsets[r.cust as usize + 1] += 1;
        }
        for c in 0..n_cust {
            offsets[c + 1] += offsets[c];
        }
        global = invoices.par_iter().enumerate().map(|(i, r)| (r.key, i as u32)).collect();
        global.par_sort_unstable();
    }
    stage("duplicates checked");
    let lookup = KeyIndex::build(&invoices, &offsets, global);
    stage("indexed");

    let mut h = History {
        as_of,
        customers,
        invoices,
        offsets,
        payments: Vec::new(),
        pay_offsets: Vec::new(),
        activities: Vec::new(),
        act_offsets: Vec::new(),
        master: Vec::new(),
        open,
        has_payments: false,
        rejects: Vec::new(),
        unknown_currencies: Vec::new(),
        holidays: Holidays::default(),
        listing_days: snapshot_days,
    };
    if let Some(src) = TableSource::find(dir, "holidays")? {
        let (days, rj) = read_holidays(&src)?;
        rejects.extend(rj);
        h.holidays = days;
    }
    if let Some(src) = TableSource::find(dir, "payments")? {
        h.has_payments = true;
        let invoices = &h.invoices;
        let (mut parts, rj) = read_payments(&src, opts, |c| {
            let mut part = Accepted { file: c.file.clone(), first_row: c.first_row, ..Accepted::default() };
            let mut cache = CustCache::default();
            for i in 0..c.valid.len() {
                if !c.valid[i] {
                    continue;
                }
                let Some(cust) = cache.named(&index, &later, c.customer_id.value(i)).unwrap_or_else(|| {
                    part.unknown.push(no_invoices("payments", &c.file, c.first_row, i, c.customer_id.value(i)));
                    None
                }) else {
                    continue;
                };
                if c.payment_date[i] > as_of {
                    continue;
                }
                let invoice_key = linked(&c.invoice_id, i);
                // One remittance applied to several invoices repeats its payment id:
                // only a row repeating the id, invoice, date and amount is a copy
                // (dated alike, so both copies are on the same side of as_of).
                let copy = row_id(&c.payment_id, i).map(|k| {
                    mix_keys([k, invoice_key.unwrap_or(0), c.payment_date[i] as u64, c.amount_minor[i] as u64])
                });
                let pos = invoice_key.and_then(|k| lookup.find(cust, k)).unwrap_or(u32::MAX);
                let amount_minor = match invoices.get(pos as usize).filter(|v| v.cust == cust) {
                    Some(inv) => match in_invoice_currency(&c, i, inv) {
                        Ok(a) => a,
                        Err(r) => {
                            part.unknown.push(*r);
                            continue;
                        }
                    },
                    None => c.amount_minor[i],
                };
                if let Some(key) = copy {
                    part.note_id(key, i);
                }
                part.events.push((cust, PayEvent { pos, date: c.payment_date[i], amount_minor }));
            }
            part
        })?;
        rejects.extend(rj);
        for p in &mut parts {
            rejects.append(&mut p.unknown);
        }
        stage("payments decoded");
        let what = "duplicate payment_id with the same invoice_id, payment_date and amount";
        let mut repeated = drop_repeated(&mut parts, "payments", "payment_id", what);
        crate::ingest::read::fill_values(&src, "payment_id", &mut repeated)?;
        rejects.extend(repeated);
        stage("payments read");
        let parts = parts.into_iter().map(|p| p.events).collect();
        (h.payments, h.pay_offsets) = group_by_customer(parts, n_cust);
    } else {
        h.pay_offsets = vec![0; n_cust + 1];
    }

    if let Some(src) = TableSource::find(dir, "activities")? {
        let (mut parts, rj) = read_activities(&src, |c| {
            let mut part = Accepted { file: c.file.clone(), first_row: c.first_row, ..Accepted::default() };
            let mut cache = CustCache::default();
            for i in 0..c.valid.len() {
                if !c.valid[i] {
                    continue;
                }
                let Some(cust) = cache.named(&index, &later, c.customer_id.value(i)).unwrap_or_else(|| {
                    part.unknown.push(no_invoices("activities", &c.file, c.first_row, i, c.customer_id.value(i)));
                    None
                }) else {
                    continue;
                };
                if c.date[i] > as_of {
                    continue;
                }
                if let Some(k) = row_id(&c.activity_id, i) {
                    part.note_id(k, i);
                }
                let pos = linked(&c.invoice_id, i).and_then(|k| lookup.find(cust, k)).unwrap_or(u32::MAX);
                part.events
                    .push((cust, ActEvent { pos, date: c.date[i], promised: c.promised_date[i], kind: c.kind[i] }));
            }
            part
        })?;
        rejects.extend(rj);
        for p in &mut parts {
            rejects.append(&mut p.unknown);
        }
        stage("activities decoded");
        let mut repeated = drop_repeated(&mut parts, "activities", "activity_id", "duplicate activity_id");
        crate::ingest::read::fill_values(&src, "activity_id", &mut repeated)?;
        rejects.extend(repeated);
        stage("activities read");
        (h.activities, h.act_offsets) = group_by_customer(parts.into_iter().map(|p| p.events).collect(), n_cust);
    } else {
        h.act_offsets = vec![0; n_cust + 1];
    }

    let mut master: Vec<CustMaster> = invoice_country
        .into_iter()
        .map(|c| CustMaster { credit_limit_base: f64::NAN, country: c.map(|(_, v)| v), ..Default::default() })
        .collect();
    master.resize(n_cust, CustMaster { credit_limit_base: f64::NAN, ..Default::default() });
    if let Some(src) = TableSource::find(dir, "customers")? {
        let (list, rj): (Vec<Customer>, _) = read_customers(&src, opts)?;
        rejects.extend(rj);
        for cu in list {
            if let Some(&c) = index.get(cu.customer_id.as_str()) {
                let from_invoices = master[c as usize].country.take();
                master[c as usize] = CustMaster {
                    segment: cu.segment,
                    country: cu.country.filter(|v| !v.trim().is_empty()).or(from_invoices),
                    collector: cu.collector,
                    credit_limit_base: cu.credit_limit.map_or(f64::NAN, |m| fx.to_base(m.minor, m.currency)),
                };
            }
        }
    }
    stage("done");
    h.master = master;
    h.rejects = rejects;
    h.unknown_currencies = fx.unknown_seen();
    Ok(h)
}

/// Merges the rows of one invoice id read from a table with `updated_at`: they are
/// versions of the invoice, not mistakes. The invoice keeps its first version's terms
/// (customer, dates, amount: what was known when it was issued, so a due date moved
/// later does not reach back to earlier as-of dates) and takes its settlement from
/// the newest version, the one with the latest `updated_at` (on a tie the later
/// `snapshot_date`, then the later file row; a row without either is the oldest).
/// Returns the position of the kept row and those of the others.
fn merge_versions(invoices: &mut [Inv], group: impl Iterator<Item = u32>, stamps: &Stamps) -> (u32, Vec<u32>) {
    let mut rows: Vec<u32> = group.collect();
    rows.sort_by_key(|&p| stamps.of(&invoices[p as usize]));
    let (first, newest) = (rows[0] as usize, rows[rows.len() - 1] as usize);
    let latest = invoices[newest];
    let kept = &mut invoices[first];
    kept.paid_date = latest.paid_date;
    kept.paid_minor = if latest.currency == kept.currency { latest.paid_minor } else { NULL_AMOUNT };
    // The open slot names the invoice (its id and extra inputs): the first version's
    // when it was open, else the newest's.
    kept.open_slot = match (latest.paid_date == OPEN, kept.open_slot) {
        (false, _) => u32::MAX,
        (true, u32::MAX) => latest.open_slot,
        (true, own) => own,
    };
    let kept = rows.remove(0);
    (kept, rows)
}

/// What tells the rows of one invoice apart as versions, per chunk: each row's
/// `updated_at` and `snapshot_date`, when the chunk's file has them.
struct Stamps {
    updated: Vec<Option<Vec<i64>>>,
    snapshot: Vec<Option<Vec<i32>>>,
}

impl Stamps {
    /// The order of a row among its invoice's versions (oldest first).
    fn of(&self, r: &Inv) -> (i64, i32, (u32, u16)) {
        let at = self.updated[r.chunk as usize]
            .as_ref()
            .map_or(crate::ingest::columns::NULL_INSTANT, |u| u[usize::from(r.row)]);
        (at, self.snapshot_of(r), r.origin())
    }

    /// The snapshot day of a row ([`NULL_DATE`] for none).
    fn snapshot_of(&self, r: &Inv) -> i32 {
        self.snapshot[r.chunk as usize].as_ref().map_or(NULL_DATE, |s| s[usize::from(r.row)])
    }

    /// The distinct snapshot days on or before `as_of`, in order.
    fn days_by(&self, as_of: i32) -> Vec<i32> {
        let mut days: Vec<i32> =
            self.snapshot.iter().flatten().flatten().copied().filter(|&d| d != NULL_DATE && d <= as_of).collect();
        days.sort_unstable();
        days.dedup();
        days
    }
}

/// Open-items snapshots list every invoice open on their day: an invoice open in the
/// newest snapshot that lists it (by as_of) and missing from a later one (by as_of)
/// was settled, in full as far as the data says, after the last snapshot day that
/// lists it and by the first that no longer does. That first day is when it became
/// known and becomes its `paid_date`, so nothing reaches back before it; the days
/// before it in the span are its `paid_window` (none with daily snapshots, six with
/// weekly ones), where [`Inv::paid_day`] places the settlement. `days` are the
/// snapshot days by as_of; returns whether `kept` (the invoice's row, `group` all its
/// rows) was settled here.
fn settle_missing(invoices: &mut [Inv], kept: u32, group: &[(u64, u32)], stamps: &Stamps, days: &[i32]) -> bool {
    if invoices[kept as usize].paid_date != OPEN {
        return false;
    }
    let by = days[days.len() - 1];
    let Some(last_seen) =
        group.iter().map(|e| stamps.snapshot_of(&invoices[e.1 as usize])).filter(|&d| d != NULL_DATE && d <= by).max()
    else {
        return false;
    };
    let Some(&gone) = days.get(days.partition_point(|&d| d <= last_seen)) else { return false };
    let r = &mut invoices[kept as usize];
    r.paid_date = gone;
    r.paid_window = u16::try_from(gone - last_seen - 1).unwrap_or(u16::MAX);
    r.paid_minor = NULL_AMOUNT;
    r.open_slot = u32::MAX;
    true
}

/// The accepted payments or activities of one batch.
struct Accepted<E> {
    file: Arc<PathBuf>,
    first_row: u64,
    /// `(customer, event)` for rows dated on or before as_of.
    events: Vec<(u32, E)>,
    /// Rows naming a customer with no invoice, or otherwise refused here.
    unknown: Vec<RejectedRow>,
    /// `(identity key, row in batch, index in events)` of the events that carry an
    /// id, in row order.
    ids: Vec<(u64, u32, u32)>,
}

impl<E> Default for Accepted<E> {
    fn default() -> Self {
        Accepted { file: Arc::default(), first_row: 0, events: Vec::new(), unknown: Vec::new(), ids: Vec::new() }
    }
}

impl<E> Accepted<E> {
    /// Notes row `i`'s identity, just before its event is pushed.
    fn note_id(&mut self, key: u64, i: usize) {
        self.ids.push((key, i as u32, self.events.len() as u32));
    }
}

/// A fast hash of row `i`'s trimmed id, for finding repeated rows within one load (not
/// stored, so it need not be stable like [`id_key`], which is twice as slow).
fn row_id(ids: &arrow_array::StringArray, i: usize) -> Option<u64> {
    given_id(ids, i).map(|v| {
        let mut h = rustc_hash::FxHasher::default();
        h.write(v.as_bytes());
        h.finish()
    })
}

/// Row `i`'s id, trimmed, unless it is null or blank.
fn given_id(ids: &arrow_array::StringArray, i: usize) -> Option<&str> {
    (!ids.is_null(i)).then(|| ids.value(i).trim()).filter(|v| !v.is_empty())
}

/// One 64-bit key for a composite identity whose parts are already hashed ids or
/// small numbers: each part is spread by an odd multiplier and a rotation, and the sum
/// finished with splitmix64's mixer (a SipHash of the tuple cost a second per ten
/// million payments).
fn mix_keys(parts: [u64; 4]) -> u64 {
    const M: [u64; 4] = [0x9e37_79b9_7f4a_7c15, 0xbf58_476d_1ce4_e5b9, 0x94d0_49bb_1331_11eb, 0xd6e8_feb8_6659_fd93];
    let mut z = parts
        .iter()
        .zip(M)
        .enumerate()
        .fold(0u64, |acc, (j, (&v, m))| acc.wrapping_add(v.wrapping_mul(m).rotate_left(17 * j as u32 + 5)));
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The keys that occur more than once: bucketed by their top bits with a counting sort,
/// then each small bucket sorted in cache on its own thread (a third of the time of one
/// parallel sort of ten million keys).
fn repeated_keys(keys: impl Iterator<Item = u64> + Clone) -> FxHashSet<u64> {
    const BITS: u32 = 16;
    let bucket = |k: u64| (k >> (64 - BITS)) as usize;
    let mut offsets = vec![0usize; (1 << BITS) + 1];
    for k in keys.clone() {
        offsets[bucket(k) + 1] += 1;
    }
    for b in 0..1 << BITS {
        offsets[b + 1] += offsets[b];
    }
    let mut cursor = offsets.clone();
    let mut sorted = vec![0u64; offsets[1 << BITS]];
    for k in keys {
        sorted[cursor[bucket(k)]] = k;
        cursor[bucket(k)] += 1;
    }
    split_by_offsets(&mut sorted, &offsets)
        .into_par_iter()
        .flat_map_iter(|b| {
            b.sort_unstable();
            b.chunk_by(|x, y| x == y).filter(|g| g.len() > 1).map(|g| g[0]).collect::<Vec<_>>()
        })
        .collect()
}

/// A row repeating an earlier row's identity (a re-exported, overlapping file) would
/// count one payment or call twice: the first row in file order is kept and later
/// ones are rejected naming it (`what` says what was repeated).
fn drop_repeated<E>(parts: &mut [Accepted<E>], table: &str, field: &str, what: &str) -> Vec<RejectedRow> {
    // Repeats are rare: find the repeated keys alone, then gather only their rows.
    let repeated = repeated_keys(parts.iter().flat_map(|part| part.ids.iter().map(|e| e.0)));
    if repeated.is_empty() {
        return Vec::new();
    }
    let mut all: Vec<(u64, u32, u32)> = parts
        .iter()
        .enumerate()
        .flat_map(|(p, part)| part.ids.iter().map(move |&(k, row, _)| (k, p as u32, row)))
        .filter(|e| repeated.contains(&e.0))
        .collect();
    all.sort_unstable();
    let mut rejects = Vec::new();
    let mut drop: Vec<(u32, u32)> = Vec::new();
    for group in all.chunk_by(|a, b| a.0 == b.0).filter(|g| g.len() > 1) {
        let (_, p0, r0) = group[0];
        let first = &parts[p0 as usize];
        let first_row = first.first_row + u64::from(r0);
        for &(_, p, row) in &group[1..] {
            let part = &parts[p as usize];
            let seen = if part.file == first.file {
                format!("row {first_row}")
            } else {
                format!("row {first_row} of {}", first.file.display())
            };
            let reason = format!("{what} (first seen in {seen})");
            // The value is read back afterwards (`fill_values`): ids are not kept.
            let at = part.first_row + u64::from(row);
            rejects.push(RejectedRow::at(table, &part.file, at, field, String::new(), reason));
            drop.push((p, row));
        }
    }
    drop.sort_unstable();
    for d in drop.chunk_by(|a, b| a.0 == b.0) {
        let part = &mut parts[d[0].0 as usize];
        let mut gone: Vec<u32> = d
            .iter()
            .filter_map(|&(_, row)| part.ids.binary_search_by_key(&row, |e| e.1).ok().map(|j| part.ids[j].2))
            .collect();
        gone.sort_unstable();
        let mut k = 0u32;
        part.events.retain(|_| {
            k += 1;
            gone.binary_search(&(k - 1)).is_err()
        });
    }
    rejects.sort_by(|a, b| (&a.file, a.row).cmp(&(&b.file, b.row)));
    rejects
}

/// Stable counting sort of `(customer, event)` parts into grouped events + offsets.
fn group_by_customer<E: Copy>(parts: Vec<Vec<(u32, E)>>, n_cust: usize) -> (Vec<E>, Vec<usize>) {
    let mut offsets = vec![0usize; n_cust + 1];
    for (c, _) in parts.iter().flatten() {
        offsets[*c as usize + 1] += 1;
    }
    for c in 0..n_cust {
        offsets[c + 1] += offsets[c];
    }
    let Some(&(_, fill)) = parts.iter().flatten().next() else { return (Vec::new(), offsets) };
    let mut cursor = offsets.clone();
    let mut events = vec![fill; offsets[n_cust]];
    for part in parts {
        for (c, e) in part {
            events[cursor[c as usize]] = e;
            cursor[c as usize] += 1;
        }
    }
    (events, offsets)
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
                // while the invoice was still open count. Its settlement day counts
                // only once the settlement is known by as_of (a listing may tell it
                // later than it happened).
                let paid = inv.paid_day_by(as_of);
                if date + 7 <= as_of && paid >= date {
                    cs.reminders_evaluated += 1;
                    if paid <= date + 7 {
                        cs.reminders_answered += 1;
                    }
                }
            }
        }
        ActivityKind::PromiseToPay => {
            if let (Some(p), Some(inv)) = (pos, inv) {
                if promised != NULL_DATE && promised <= as_of {
                    cs.promises_evaluated += 1;
                    if inv.paid_day_by(as_of) <= promised {
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

fn intern(index: &mut FxHashMap<String, u32>, customers: &mut Vec<String>, id: String) -> u32 {
    if let Some(&i) = index.get(&id) {
        return i;
    }
    let i = customers.len() as u32;
    customers.push(id.clone());
    index.insert(id, i);
    i
}

/// Renumbers the interned customers in id order: reorders `customers` and
/// `countries`, updates `index` and returns each old number's new number.
fn id_order(
    customers: &mut Vec<String>,
    countries: &mut Vec<Option<(i32, String)>>,
    index: &mut FxHashMap<String, u32>,
) -> Vec<u32> {
    let mut order: Vec<u32> = (0..customers.len() as u32).collect();
    order.par_sort_unstable_by(|&a, &b| customers[a as usize].cmp(&customers[b as usize]));
    let mut rank = vec![0u32; order.len()];
    for (new, &old) in order.iter().enumerate() {
        rank[old as usize] = new as u32;
    }
    let mut ids = std::mem::take(customers);
    let mut found = std::mem::take(countries);
    *customers = order.iter().map(|&o| std::mem::take(&mut ids[o as usize])).collect();
    *countries = order.iter().map(|&o| found[o as usize].take()).collect();
    index.values_mut().for_each(|v| *v = rank[*v as usize]);
    rank
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

/// Remembers the last customer id looked up: exports are usually clustered by
/// customer, so most rows skip the hash lookup.
#[derive(Default)]
struct CustCache {
    last: Option<(String, Option<u32>)>,
}

impl CustCache {
    fn get(&mut self, index: &FxHashMap<String, u32>, id: &str) -> Option<u32> {
        let id = id.trim();
        if let Some((s, c)) = &self.last {
            if s == id {
                return *c;
            }
        }
        let c = index.get(id).copied();
        self.last = Some((id.to_string(), c));
        c
    }

    /// The customer a payment or activity names: `Some(Some(index))` when it has
    /// invoices by the as-of date, `Some(None)` when its first invoice comes after
    /// it (`later`), `None` when it has no invoice in the data.
    fn named(&mut self, index: &FxHashMap<String, u32>, later: &FxHashSet<String>, id: &str) -> Option<Option<u32>> {
        match self.get(index, id) {
            Some(c) => Some(Some(c)),
            None => later.contains(id.trim()).then_some(None),
        }
    }
}

/// A payment or activity row whose customer has no invoice anywhere in the data: there
/// is nothing to apply it to, so it is rejected rather than left out unseen.
fn no_invoices(table: &str, file: &Path, first_row: u64, i: usize, customer: &str) -> RejectedRow {
    let value = customer.trim().chars().take(40).collect();
    let reason = "customer_id has no invoice in the data".into();
    RejectedRow::at(table, file, first_row + i as u64, "customer_id", value, reason)
}

/// Payment row `i`'s amount in minor units of `inv`, the customer's own invoice it is
/// applied to: a payment is counted in its invoice's currency. One naming another
/// currency is rejected; one naming none (read in the default currency) takes the
/// invoice's, unless its amount does not fit it.
/// (The reject is boxed: it is the rare path and `RejectedRow` is large.)
fn in_invoice_currency(c: &crate::ingest::PaymentChunk, i: usize, inv: &Inv) -> Result<i64, Box<RejectedRow>> {
    let (paid, owed) = (c.currency[i], inv.currency);
    if paid == owed {
        return Ok(c.amount_minor[i]);
    }
    let reject = |field: &str, value: String, reason: String| {
        Box::new(RejectedRow::at("payments", &c.file, c.first_row + i as u64, field, value, reason))
    };
    let invoice = c.invoice_id.value(i).trim();
    if c.currency_given[i] {
        let why = format!("currency {} differs from invoice '{invoice}' ({})", paid.as_str(), owed.as_str());
        return Err(reject("currency", paid.as_str().into(), why));
    }
    rescale_minor(c.amount_minor[i], paid.minor_digits(), owed.minor_digits()).ok_or_else(|| {
        let given = crate::domain::Money { minor: c.amount_minor[i], currency: paid }.to_major_string();
        let why =
            format!("amount has more decimals than {} has (invoice '{invoice}', no currency given)", owed.as_str());
        reject("amount", given, why)
    })
}

/// `minor` in units of `from` decimal digits, in units of `to` digits (None when it
/// does not come out whole, or overflows).
fn rescale_minor(minor: i64, from: u32, to: u32) -> Option<i64> {
    if to >= from {
        return minor.checked_mul(10_i64.checked_pow(to - from)?);
    }
    let d = 10_i64.checked_pow(from - to)?;
    (minor % d == 0).then_some(minor / d)
}

/// The key of a row's `invoice_id`, when it has one.
fn linked(ids: &arrow_array::StringArray, i: usize) -> Option<u64> {
    given_id(ids, i).map(id_key)
}

/// Finds an invoice position by id key: first among the paying customer's own
/// invoices (a short, cache-friendly binary search), then across all invoices.
struct KeyIndex {
    /// `(key, position)` sorted by key within each customer's segment.
    by_customer: Vec<(u64, u32)>,
    offsets: Vec<usize>,
    /// `(key, position)` sorted by key over all invoices.
    global: Vec<(u64, u32)>,
}

impl KeyIndex {
    /// `global` is `(key, position)` of every invoice, sorted.
    fn build(invoices: &[Inv], offsets: &[usize], global: Vec<(u64, u32)>) -> Self {
        let mut by_customer: Vec<(u64, u32)> =
            invoices.par_iter().enumerate().map(|(i, r)| (r.key, i as u32)).collect();
        split_by_offsets(&mut by_customer, offsets).into_par_iter().for_each(|s| s.sort_unstable());
        KeyIndex { by_customer, offsets: offsets.to_vec(), global }
    }

    fn find(&self, cust: u32, key: u64) -> Option<u32> {
        let c = cust as usize;
        let seg = &self.by_customer[self.offsets[c]..self.offsets[c + 1]];
        if let Ok(i) = seg.binary_search_by_key(&key, |e| e.0) {
            return Some(seg[i].1);
        }
        self.global.binary_search_by_key(&key, |e| e.0).ok().map(|i| self.global[i].1)
    }
}

#[cfg(test)]
impl Inv {
    /// An invoice with every field at its empty value, for unit tests to fill in.
    pub fn placeholder_for_test() -> Inv {
        Inv::PLACEHOLDER
    }
}

#[cfg(test)]
impl History {
    /// A history of invoices only (no payments, activities or master data), for
    /// unit tests of code that reads a [`History`]. Invoices must be grouped by
    /// customer index and sorted by invoice date within each customer.
    pub fn from_invoices_for_test(customers: Vec<String>, mut invoices: Vec<Inv>, as_of: i32) -> History {
        let n = customers.len();
        let mut offsets = vec![0; n + 1];
        for r in &invoices {
            offsets[r.cust as usize + 1] += 1;
        }
        for c in 0..n {
            offsets[c + 1] += offsets[c];
        }
        let mut open = Vec::new();
        for r in &mut invoices {
            if r.paid_date > as_of {
                r.paid_date = OPEN;
                r.open_slot = open.len() as u32;
                open.push(OpenInfo { invoice_id: format!("I{}", r.key), extra: Vec::new() });
            } else {
                r.open_slot = u32::MAX;
            }
        }
        History {
            as_of,
            customers,
            invoices,
            offsets,
            payments: Vec::new(),
            pay_offsets: vec![0; n + 1],
            activities: Vec::new(),
            act_offsets: vec![0; n + 1],
            master: vec![CustMaster::default(); n],
            open,
            has_payments: false,
            rejects: Vec::new(),
            unknown_currencies: Vec::new(),
            holidays: Holidays::default(),
            listing_days: Vec::new(),
        }
    }
}

#[cfg(test)]
mod order_tests {
    use super::*;

    #[test]
    fn the_latest_country_does_not_depend_on_row_order() {
        let rows = [(5, "DE"), (9, "FR"), (9, "NL"), (9, ""), (3, "US")];
        let (mut forward, mut backward) = (None, None);
        for (d, v) in rows {
            keep_latest(&mut forward, d, v);
        }
        for (d, v) in rows.into_iter().rev() {
            keep_latest(&mut backward, d, v);
        }
        assert_eq!(forward, Some((9, "NL".to_string())));
        assert_eq!(forward, backward);
    }

    #[test]
    fn customers_are_renumbered_in_id_order() {
        let mut customers: Vec<String> = ["b", "c", "a"].map(String::from).to_vec();
        let mut countries = vec![Some((1, "B".to_string())), None, Some((2, "A".to_string()))];
        let mut index: FxHashMap<String, u32> = customers.iter().cloned().zip(0..).collect();
        let rank = id_order(&mut customers, &mut countries, &mut index);
        assert_eq!(rank, [1, 2, 0]);
        assert_eq!(customers, ["a", "b", "c"]);
        assert_eq!(countries, [Some((2, "A".to_string())), Some((1, "B".to_string())), None]);
        assert_eq!((index["a"], index["b"], index["c"]), (0, 1, 2));
    }
}

#[cfg(test)]
mod paid_day_tests {
    use super::*;
    use crate::domain::weekday;

    /// Ten million invoices are held in memory at once: each is one cache line.
    #[test]
    fn an_invoice_is_64_bytes() {
        assert_eq!(std::mem::size_of::<Inv>(), 64);
    }

    /// A settlement known only to a span of days is placed on one of its days, the
    /// same for the same invoice; over many invoices on each day of the span about
    /// equally, a weekend's on the Monday after; a known day is kept.
    #[test]
    fn a_settlement_known_to_a_span_lands_on_its_days_with_weekends_on_monday() {
        // 2024-03-01 (a Friday): the span is Saturday 2024-02-24 to that Friday.
        let gone = crate::domain::days_from_date(chrono::NaiveDate::from_ymd_opt(2024, 3, 1).unwrap());
        let at = |key: u64, window: u16| Inv { key, paid_date: gone, paid_window: window, ..Inv::PLACEHOLDER };
        assert_eq!(at(7, 0).paid_day(), gone);
        assert_eq!(Inv { paid_window: 6, ..Inv::PLACEHOLDER }.paid_day(), OPEN, "open stays open");
        let mut count = [0usize; 7];
        for k in 0..7_000u64 {
            let key = id_key(&format!("INV-{k}"));
            let day = at(key, 6).paid_day();
            assert!((gone - 6..=gone).contains(&day) && weekday(day) < 5, "{day}");
            assert_eq!(day, at(key, 6).paid_day());
            count[weekday(day) as usize] += 1;
        }
        assert_eq!(&count[5..], [0, 0], "no Saturday or Sunday");
        assert!((2_800..=3_200).contains(&count[0]), "Monday takes the weekend: {count:?}");
        for c in &count[1..5] {
            assert!((850..=1_150).contains(c), "{count:?}");
        }
        // A span ending on a Saturday moves its Saturday to the Friday before.
        let saturday = gone + 1;
        let days: FxHashSet<i32> =
            (0..100).map(|k| Inv { paid_date: saturday, ..at(id_key(&format!("S{k}")), 1) }.paid_day()).collect();
        assert_eq!(days, FxHashSet::from_iter([gone]));
        // A span of a weekend only keeps its days.
        let days: FxHashSet<i32> =
            (0..50).map(|k| Inv { paid_date: gone + 2, ..at(id_key(&format!("W{k}")), 1) }.paid_day()).collect();
        assert_eq!(days, FxHashSet::from_iter([gone + 1, gone + 2]));
        // Open at s as far as was known then: the picked day when after s, else the
        // listing's day.
        for k in 0..50 {
            let r = at(id_key(&format!("INV-{k}")), 6);
            let s = gone - 3;
            assert_eq!(r.paid_day_after(s), if r.paid_day() > s { r.paid_day() } else { gone });
        }
    }
}
