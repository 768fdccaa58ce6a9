//! Model inputs and labels, built point-in-time from a loaded [`History`].
//!
//! A training row is an invoice with the features known on its issue date (the
//! customer's history up to that day); a scoring row is an invoice open at the
//! as-of date with the features known then. Labels are only what is decidable at
//! the training date `d`: a settlement dated after `d` is unknown, but an invoice
//! still unpaid more than N days past due at `d` is known to be more than N days late.

use ndarray::Array2;
use rayon::prelude::*;

use crate::features::catalogue::{CUSTOMER_FEATURES, INVOICE_FEATURES};
use crate::features::customer_at;
use crate::features::history::History;
use crate::features::invoice_values;

/// Number of model inputs (customer vector + invoice features).
pub const N_MODEL_FEATURES: usize = CUSTOMER_FEATURES.len() + INVOICE_FEATURES.len();

/// Model input names: `cust.<name>` then `inv.<name>`, in column order.
pub fn model_feature_names() -> Vec<String> {
    CUSTOMER_FEATURES
        .iter()
        .map(|f| format!("cust.{}", f.0))
        .chain(INVOICE_FEATURES.iter().map(|f| format!("inv.{}", f.0)))
        .collect()
}

/// Rows of model inputs with what is known about each invoice.
#[derive(Debug, Clone)]
pub struct Rows {
    /// Inputs, one row per invoice.
    pub x: Array2<f64>,
    /// Invoice position in `History::invoices`.
    pub pos: Vec<usize>,
    /// Customer index.
    pub cust: Vec<usize>,
    /// Issue day.
    pub invoice_date: Vec<i32>,
    /// Due day.
    pub due_date: Vec<i32>,
    /// Settlement day if known at the rows' date, else `i32::MAX`.
    pub paid_date: Vec<i32>,
    /// Amount in base currency (model input scale).
    pub amount_base: Vec<f64>,
    /// Amount in minor units and currency, for cash figures.
    pub amount_minor: Vec<(i64, crate::domain::Currency)>,
}

impl Rows {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.pos.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.pos.is_empty()
    }

    /// Days late (`paid − due`) where settled, NaN otherwise.
    pub fn late_days(&self) -> Vec<f64> {
        self.paid_date
            .iter()
            .zip(&self.due_date)
            .map(|(&p, &d)| if p == i32::MAX { f64::NAN } else { f64::from(p - d) })
            .collect()
    }

    /// "More than `days` late" where decidable at `d`: settled, or still unpaid at
    /// `d` more than `days` past due.
    pub fn late_beyond(&self, days: i32, d: i32) -> Vec<Option<bool>> {
        self.paid_date
            .iter()
            .zip(&self.due_date)
            .map(|(&p, &due)| {
                if p != i32::MAX {
                    Some(p > due + days)
                } else if d > due + days {
                    Some(true)
                } else {
                    None
                }
            })
            .collect()
    }
}

struct Part {
    x: Vec<f64>,
    pos: Vec<usize>,
    cust: Vec<usize>,
}

fn assemble(h: &History, parts: Vec<Part>, d: i32) -> Rows {
    let n: usize = parts.iter().map(|p| p.pos.len()).sum();
    let mut flat = Vec::with_capacity(n * N_MODEL_FEATURES);
    let (mut pos, mut cust) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for p in parts {
        flat.extend(p.x);
        pos.extend(p.pos);
        cust.extend(p.cust);
    }
    let inv = |p: &usize| h.invoices[*p];
    Rows {
        x: Array2::from_shape_vec((n, N_MODEL_FEATURES), flat).expect("rows of equal width"),
        invoice_date: pos.iter().map(|p| inv(p).invoice_date).collect(),
        due_date: pos.iter().map(|p| inv(p).due_date).collect(),
        paid_date: pos.iter().map(|p| if inv(p).paid_date <= d { inv(p).paid_date } else { i32::MAX }).collect(),
        amount_base: pos.iter().map(|p| inv(p).amount_base).collect(),
        amount_minor: pos.iter().map(|p| (inv(p).amount_minor, inv(p).currency)).collect(),
        pos,
        cust,
    }
}

/// Training rows at `d`: every invoice issued on or before `d`, with the features
/// known on its issue date (so never anything after `d`).
pub fn training_rows(h: &History, d: i32) -> Rows {
    let parts: Vec<Part> = (0..h.customers.len())
        .into_par_iter()
        .map(|c| {
            let invs = h.invoices_of(c);
            let k = invs.partition_point(|r| r.invoice_date <= d);
            let mut part = Part { x: Vec::with_capacity(k * N_MODEL_FEATURES), pos: Vec::new(), cust: Vec::new() };
            let mut i = 0;
            while i < k {
                let t = invs[i].invoice_date;
                let at = customer_at(h, c, t);
                while i < k && invs[i].invoice_date == t {
                    part.x.extend_from_slice(&at.vector);
                    part.x.extend_from_slice(&invoice_values(&at, i));
                    part.pos.push(h.offsets[c] + i);
                    part.cust.push(c);
                    i += 1;
                }
            }
            part
        })
        .collect();
    assemble(h, parts, d)
}

/// Scoring rows at `d`: invoices open at `d` (issued on or before it, not settled
/// by it) that `keep` selects, with the features known at `d`.
pub fn scoring_rows(h: &History, d: i32, keep: impl Fn(usize) -> bool + Sync) -> Rows {
    let parts: Vec<Part> = (0..h.customers.len())
        .into_par_iter()
        .map(|c| {
            let mut part = Part { x: Vec::new(), pos: Vec::new(), cust: Vec::new() };
            let all = h.invoices_of(c);
            let any =
                all.iter().enumerate().any(|(i, r)| r.invoice_date <= d && r.paid_date > d && keep(h.offsets[c] + i));
            if !any {
                return part;
            }
            let at = customer_at(h, c, d);
            for i in 0..at.invs.len() {
                let pos = h.offsets[c] + i;
                if at.invs[i].paid_date > d && keep(pos) {
                    part.x.extend_from_slice(&at.vector);
                    part.x.extend_from_slice(&invoice_values(&at, i));
                    part.pos.push(pos);
                    part.cust.push(c);
                }
            }
            part
        })
        .collect();
    assemble(h, parts, d)
}

/// Index of a model input by name.
///
/// # Panics
/// When the name is not a model input (a programming error).
pub fn feature_index(name: &str) -> usize {
    model_feature_names().iter().position(|n| n == name).unwrap_or_else(|| panic!("no model feature {name}"))
}
