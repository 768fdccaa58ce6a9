//! What a collector needs beside the ranking to act on an open invoice: how far past
//! due it is, the contact so far, the latest promise and whether it was kept, an open
//! dispute, and the next action that follows from them. Read from the customer's
//! history as known at the as-of date.
//!
//! The next action, first rule that applies:
//! 1. a dispute opened and not resolved: `resolve dispute`;
//! 2. a promise to pay whose date has not passed: `await promise`;
//! 3. the latest promise's date passed unpaid: `follow up broken promise`;
//! 4. more than 30 days past due: `call`;
//! 5. past due, and a reminder, call or letter in the last 7 days: `await reminder`;
//! 6. past due: `send reminder`;
//! 7. not yet due with P(> 30 days late) of at least 0.5: `pre-due reminder`;
//! 8. otherwise `none`.

use serde::Serialize;

use crate::domain::{date_from_days, ActivityKind};
use crate::features::history::History;
use crate::ingest::columns::NULL_DATE;

/// Days after a reminder, call or letter during which the next one waits.
pub const REMINDER_WAIT_DAYS: i32 = 7;

/// What to do next with an open invoice, by the first rule that applies: a dispute
/// open, a promise not yet due, a promise broken, more than 30 days past due, past due
/// and contacted in the last 7 days, past due, not yet due but likely to be more than
/// 30 days late, otherwise nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub enum NextAction {
    /// A dispute is open.
    #[serde(rename = "resolve dispute")]
    ResolveDispute,
    /// A promise to pay whose date has not passed.
    #[serde(rename = "await promise")]
    AwaitPromise,
    /// The latest promise's date passed unpaid.
    #[serde(rename = "follow up broken promise")]
    FollowUpBrokenPromise,
    /// More than 30 days past due.
    #[serde(rename = "call")]
    Call,
    /// Past due, contacted in the last [`REMINDER_WAIT_DAYS`] days.
    #[serde(rename = "await reminder")]
    AwaitReminder,
    /// Past due.
    #[serde(rename = "send reminder")]
    SendReminder,
    /// Not yet due, likely to be more than 30 days late.
    #[serde(rename = "pre-due reminder")]
    PreDueReminder,
    /// Nothing to do yet.
    #[serde(rename = "none")]
    None,
}

/// The state of a promise to pay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Promise {
    /// Its date has not passed.
    Open,
    /// Its date passed unpaid.
    Broken,
}

/// The state of an open invoice's collection and its next action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FollowUp {
    /// Days past due at the as-of date (0 when not yet due).
    pub days_past_due: i32,
    /// Reminders, calls and letters on this invoice so far.
    pub contacts: u32,
    /// The latest of them.
    pub last_contact: Option<String>,
    /// The date of the latest promise to pay on this invoice.
    pub promised_date: Option<String>,
    /// `open` (its date has not passed) or `broken` (passed unpaid).
    pub promise: Option<Promise>,
    /// A dispute opened and not resolved.
    pub in_dispute: bool,
    /// What to do next (rules in the module docs).
    pub next_action: NextAction,
}

impl FollowUp {
    /// Whether the next action is one to take now: not `await promise`, `await
    /// reminder` or `none`.
    pub fn needs_action_today(&self) -> bool {
        !matches!(self.next_action, NextAction::AwaitPromise | NextAction::AwaitReminder | NextAction::None)
    }
}

/// The follow-up of invoice `i` (position in [`History::invoices`]) of customer `c`,
/// open at `as_of`, with its P(> 30 days late) `p_late_30`.
pub fn follow_up(h: &History, c: usize, i: usize, as_of: i32, p_late_30: f64) -> FollowUp {
    follow_ups(h, c, &[(i, p_late_30)], as_of).remove(0)
}

/// [`follow_up`] of several open invoices of customer `c` (position and P(> 30 days
/// late) each), in one pass over the customer's activities.
pub fn follow_ups(h: &History, c: usize, open: &[(usize, f64)], as_of: i32) -> Vec<FollowUp> {
    // Each activity's invoice among the open ones, sorted by position and searched.
    let mut by_pos: Vec<(usize, usize)> = open.iter().enumerate().map(|(k, &(i, _))| (i, k)).collect();
    by_pos.sort_unstable();
    let mut tally = vec![Tally::default(); open.len()];
    for e in h.activities[h.act_offsets[c]..h.act_offsets[c + 1]].iter().filter(|e| e.date <= as_of) {
        if let Ok(j) = by_pos.binary_search_by_key(&(e.pos as usize), |&(i, _)| i) {
            tally[by_pos[j].1].add(e);
        }
    }
    tally.into_iter().zip(open).map(|(t, &(i, p))| t.finish(h.invoices[i].due_date, as_of, p)).collect()
}

/// The contact, promises and disputes on one invoice so far.
#[derive(Debug, Clone, Copy)]
struct Tally {
    contacts: u32,
    last_contact: i32,
    promised: i32,
    opened: bool,
    resolved: bool,
}

impl Default for Tally {
    fn default() -> Self {
        Tally { contacts: 0, last_contact: NULL_DATE, promised: NULL_DATE, opened: false, resolved: false }
    }
}

impl Tally {
    fn add(&mut self, e: &crate::features::history::ActEvent) {
        match e.kind {
            k if k.is_reminder() => {
                self.contacts += 1;
                self.last_contact = self.last_contact.max(e.date);
            }
            ActivityKind::PromiseToPay if e.promised != NULL_DATE => self.promised = self.promised.max(e.promised),
            ActivityKind::DisputeOpened => self.opened = true,
            ActivityKind::DisputeResolved => self.resolved = true,
            _ => {}
        }
    }

    /// The follow-up of an invoice due on `due` with this tally at `as_of`.
    fn finish(self, due: i32, as_of: i32, p_late_30: f64) -> FollowUp {
        let Tally { contacts, last_contact, promised, opened, resolved } = self;
        let days_past_due = (as_of - due).max(0);
        let promise =
            (promised != NULL_DATE).then_some(if promised >= as_of { Promise::Open } else { Promise::Broken });
        let in_dispute = opened && !resolved;
        let next_action = if in_dispute {
            NextAction::ResolveDispute
        } else if promise == Some(Promise::Open) {
            NextAction::AwaitPromise
        } else if promise == Some(Promise::Broken) {
            NextAction::FollowUpBrokenPromise
        } else if days_past_due > 30 {
            NextAction::Call
        } else if days_past_due > 0 && last_contact != NULL_DATE && as_of - last_contact < REMINDER_WAIT_DAYS {
            NextAction::AwaitReminder
        } else if days_past_due > 0 {
            NextAction::SendReminder
        } else if p_late_30 >= 0.5 {
            NextAction::PreDueReminder
        } else {
            NextAction::None
        };
        let day = |d: i32| (d != NULL_DATE).then(|| date_from_days(d).map(|x| x.to_string()).unwrap_or_default());
        FollowUp {
            days_past_due,
            contacts,
            last_contact: day(last_contact),
            promised_date: day(promised),
            promise,
            in_dispute,
            next_action,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::history::{id_key, FAR_FUTURE};
    use crate::features::load_history;
    use crate::features::FxTable;
    use crate::fixtures::{hand_ledger, hand_ledger_day};
    use crate::ingest::InvoiceReadOptions;

    /// The hand-worked ledger's open invoices (see `fixtures::hand_ledger`), some at
    /// later or earlier dates.
    #[test]
    fn each_open_invoice_gets_the_action_its_state_calls_for() {
        let dir = tempfile::tempdir().unwrap();
        hand_ledger(dir.path());
        let d = hand_ledger_day();
        // Everything in the files: a later date sees the activities up to it.
        let h = load_history(dir.path(), FAR_FUTURE, &InvoiceReadOptions::default(), &FxTable::default()).unwrap();
        let at = |id: &str, day: i32, p: f64| {
            let c = h.customers.iter().position(|x| x == &id[..1]).unwrap();
            let i = (h.offsets[c]..h.offsets[c + 1]).find(|&i| h.invoices[i].key == id_key(id)).unwrap();
            follow_up(&h, c, i, day, p)
        };
        // B1: disputed at D−30, 90 days past due.
        let b1 = at("B1", d, 0.9);
        assert_eq!((b1.next_action, b1.in_dispute, b1.days_past_due), (NextAction::ResolveDispute, true, 90));
        // B2: promised for D−5, still open at D.
        let b2 = at("B2", d, 0.9);
        assert_eq!(
            (b2.next_action, b2.promise, b2.promised_date.as_deref()),
            (NextAction::FollowUpBrokenPromise, Some(Promise::Broken), Some("2024-03-26"))
        );
        // Before the promised date, the same promise is open.
        assert_eq!(at("B2", d - 6, 0.9).next_action, NextAction::AwaitPromise);
        // A2: 20 days past due, reminded at D−3; the next reminder waits 7 days; after
        // 30 days past due, a call.
        let a2 = at("A2", d, 0.2);
        assert_eq!(
            (a2.next_action, a2.contacts, a2.last_contact.as_deref()),
            (NextAction::AwaitReminder, 1, Some("2024-03-28"))
        );
        assert_eq!(at("A2", d + 4, 0.2).next_action, NextAction::SendReminder);
        assert_eq!(at("A2", d + 11, 0.2).next_action, NextAction::Call);
        assert_eq!(at("A2", d - 4, 0.2).contacts, 0, "the reminder is not known before its date");
        // A3: not yet due, by its risk.
        assert_eq!(at("A3", d, 0.6).next_action, NextAction::PreDueReminder);
        assert_eq!((at("A3", d, 0.1).next_action, at("A3", d, 0.1).days_past_due), (NextAction::None, 0));
        let today: Vec<bool> = [("B1", d), ("B2", d), ("B2", d - 6), ("A2", d), ("A2", d + 11), ("A3", d)]
            .iter()
            .map(|&(id, day)| at(id, day, 0.1).needs_action_today())
            .collect();
        assert_eq!(today, [true, true, false, false, true, false]);
    }

    /// One pass over a customer's activities gives each open invoice the follow-up it
    /// gets alone.
    #[test]
    fn follow_ups_of_a_customer_match_one_at_a_time() {
        let dir = crate::fixtures::generated_dir(40, 3_000, "2023-01-01", "2024-06-30", 9);
        let h = load_history(dir.path(), FAR_FUTURE, &InvoiceReadOptions::default(), &FxTable::default()).unwrap();
        let d = crate::domain::days_from_date(chrono::NaiveDate::from_ymd_opt(2024, 3, 31).unwrap());
        let (mut checked, mut actions) = (0, std::collections::HashSet::new());
        for c in 0..h.customers.len() {
            let open: Vec<(usize, f64)> = (h.offsets[c]..h.offsets[c + 1])
                .filter(|&i| h.invoices[i].invoice_date <= d && h.invoices[i].paid_date > d)
                .map(|i| (i, (i % 10) as f64 / 10.0))
                .collect();
            let all = follow_ups(&h, c, &open, d);
            for (f, &(i, p)) in all.iter().zip(&open) {
                assert_eq!(f, &follow_up(&h, c, i, d, p));
                actions.insert(format!("{:?}", f.next_action));
                checked += 1;
            }
        }
        assert!(checked > 100 && actions.len() >= 4, "{checked} invoices, actions {actions:?}");
    }

    /// The API and the dashboard read the actions and promise states as the words in
    /// the module docs.
    #[test]
    fn actions_serialise_as_the_documented_words() {
        let words = [
            (NextAction::ResolveDispute, "resolve dispute"),
            (NextAction::AwaitPromise, "await promise"),
            (NextAction::FollowUpBrokenPromise, "follow up broken promise"),
            (NextAction::Call, "call"),
            (NextAction::AwaitReminder, "await reminder"),
            (NextAction::SendReminder, "send reminder"),
            (NextAction::PreDueReminder, "pre-due reminder"),
            (NextAction::None, "none"),
        ];
        let docs = include_str!("mod.rs");
        for (a, w) in words {
            assert_eq!(serde_json::to_value(a).unwrap(), w);
            assert!(docs.contains(&format!("`{w}`")), "{w} is in the module docs");
        }
        assert_eq!(serde_json::to_value(Promise::Broken).unwrap(), "broken");
        assert_eq!(serde_json::to_value(Promise::Open).unwrap(), "open");
    }
}
