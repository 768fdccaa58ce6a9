//! The feature catalogue: every feature's name, in output order, with its
//! definition. The definitions and [`FEATURE_VERSION`] are hashed into
//! [`definition_hash`], which models record and check on load.

use sha2::{Digest, Sha256};

/// Bumped whenever a definition changes meaning.
pub const FEATURE_VERSION: u32 = 1;

/// Weight of each new settled invoice in `days_late_ewma`.
pub const EWMA_ALPHA: f64 = 0.3;

/// Customer behaviour features (`f64`, NaN where undefined), in column order.
/// "Known at as_of" throughout: invoices issued on or before as_of, settlements,
/// payments and activities dated on or before it.
pub const CUSTOMER_FEATURES: [(&str, &str); 43] = [
    ("n_invoices", "invoices issued on or before as_of"),
    ("n_paid", "invoices settled on or before as_of"),
    ("n_open", "invoices issued and not settled by as_of"),
    ("n_invoices_90d", "invoices issued in (as_of-90d, as_of]"),
    ("tenure_days", "as_of minus the first invoice date"),
    ("amount_issued_base", "sum of amounts issued, base currency"),
    ("amount_paid_base", "sum of amounts of settled invoices, base currency"),
    ("invoice_amount_median_base", "median invoice amount issued, base currency"),
    ("days_late_mean", "mean of paid_date - due_date over settled invoices"),
    ("days_late_median", "median days late"),
    ("days_late_std", "sample standard deviation of days late"),
    ("days_late_p25", "25th percentile of days late (linear interpolation)"),
    ("days_late_p75", "75th percentile of days late"),
    ("days_late_p90", "90th percentile of days late"),
    ("days_late_amount_weighted", "amount-weighted mean days late"),
    ("days_to_pay_mean", "mean of paid_date - invoice_date over settled invoices"),
    ("days_to_pay_median", "median days to pay"),
    ("share_paid_late", "share of settled invoices with days late > 0"),
    ("share_paid_late_30", "share of settled invoices with days late > 30"),
    ("days_late_ewma", "EWMA of days late ordered by paid_date, alpha 0.3 on the newest"),
    ("days_late_last", "days late of the most recently settled invoice"),
    ("days_late_trend_last5", "mean days late of the 5 most recently settled minus days_late_mean"),
    ("days_late_trend_90d", "mean days late of invoices settled in (as_of-90d, as_of] minus days_late_mean"),
    ("days_since_last_payment", "as_of minus the last payment date (payments table, else paid_date)"),
    (
        "partial_payment_share",
        "share of invoices with a payment by as_of that were paid in several parts or are open with a part paid",
    ),
    ("short_payment_share", "share of settled invoices whose paid_amount is below the amount"),
    ("dispute_rate", "dispute_opened activities by as_of per invoice issued"),
    ("n_disputes_open", "invoices with a dispute opened and not resolved by as_of"),
    (
        "promise_kept_rate",
        "promises to pay whose promised_date <= as_of that were met (invoice settled by the promised date)",
    ),
    ("n_promises_evaluated", "promises with promised_date <= as_of on a known invoice"),
    (
        "reminder_response_rate",
        "reminders dated <= as_of-7d on an invoice open at the reminder that was settled within 7 days",
    ),
    ("n_reminders", "reminders (email, sms, call, letter) dated <= as_of"),
    ("open_amount_base", "open amount (amount less payments applied by as_of), base currency"),
    ("open_current_base", "open amount not yet due"),
    ("open_1_30_base", "open amount 1-30 days past due"),
    ("open_31_60_base", "open amount 31-60 days past due"),
    ("open_61_90_base", "open amount 61-90 days past due"),
    ("open_91_120_base", "open amount 91-120 days past due"),
    ("open_over_120_base", "open amount more than 120 days past due"),
    ("max_days_past_due", "largest days past due among open invoices (0 when none is past due)"),
    ("credit_limit_base", "credit limit from the customers table, base currency (master data, as of today)"),
    ("credit_utilisation", "open_amount_base / credit_limit_base"),
    (
        "seasonal_amplitude_days",
        "max minus min over due months (with >= 2 settled invoices, >= 3 months) of mean days late",
    ),
];

/// Per-invoice features for invoices open at as_of (`f64`), in column order.
pub const INVOICE_FEATURES: [(&str, &str); 16] = [
    ("amount_base", "invoice amount, base currency"),
    ("terms_days", "due_date - invoice_date"),
    ("days_since_issue", "as_of - invoice_date"),
    ("days_to_due", "due_date - as_of (negative when past due)"),
    ("days_past_due", "max(0, as_of - due_date)"),
    ("is_past_due", "1 when as_of > due_date"),
    ("open_amount_base", "amount less payments applied by as_of, base currency"),
    ("paid_share", "payments applied by as_of / amount"),
    ("amount_rel_customer_median", "amount_base / the customer's invoice_amount_median_base"),
    ("is_in_dispute", "1 when a dispute was opened and not resolved by as_of"),
    ("n_reminders_sent", "reminders on this invoice dated <= as_of"),
    ("has_open_promise", "1 when a promise to pay made by as_of has promised_date > as_of"),
    ("due_month", "calendar month of due_date (1-12)"),
    ("due_month_delta_days", "customer's mean days late for invoices due in this calendar month minus days_late_mean"),
    (
        "due_to_run_days",
        "days from due_date to the customer's next payment-run day (on or after it), when its settlement dates by as_of follow a run calendar (80% of the newest 24 distinct dates, at least 8, on one weekday, on the 15th and month end, or on one day of the month; or on two weekdays, each holding a fifth of them, when no one-day calendar fits)",
    ),
    ("run_interval_days", "7 for weekly payment runs, the longer gap for twice-weekly ones (Tuesday and Friday: 4), 15 for the 15th and month end, 30 for monthly; missing without a run calendar"),
];

/// Names of customer features in order.
pub fn customer_feature_names() -> Vec<&'static str> {
    CUSTOMER_FEATURES.iter().map(|f| f.0).collect()
}

/// Names of invoice features in order.
pub fn invoice_feature_names() -> Vec<&'static str> {
    INVOICE_FEATURES.iter().map(|f| f.0).collect()
}

/// SHA-256 (hex) of the version, the EWMA weight and every name and definition.
pub fn definition_hash() -> String {
    let mut h = Sha256::new();
    h.update(format!("arsight-features v{FEATURE_VERSION} ewma={EWMA_ALPHA}\n"));
    // Amounts "in base currency" are read through the built-in rates.
    for (c, r) in super::fx::BUILT_IN_RATES {
        h.update(format!("fx\t{c}\t{r}\n"));
    }
    for (section, list) in [("customer", &CUSTOMER_FEATURES[..]), ("invoice", &INVOICE_FEATURES[..])] {
        for (n, d) in list {
            h.update(format!("{section}\t{n}\t{d}\n"));
        }
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The catalogue as Markdown (committed as `features/CATALOGUE.md`).
pub fn catalogue_markdown() -> String {
    let mut s = format!(
        "# Feature catalogue\n\nFeature version {FEATURE_VERSION}, definition hash `{}`.\n\
         Generated by `arsight features --catalogue`; a test keeps this file in step with the code.\n\n\
         ## Customer behaviour vector (`customer_features.parquet`)\n\n\
         Key: `customer_id`; also `segment`, `collector` (text, from the customers table) and `payment_runs` (text: the payment-run calendar its settlements by as_of follow, as for `due_to_run_days`; empty without one).\n\n| feature | definition |\n|---|---|\n",
        definition_hash()
    );
    for (n, d) in CUSTOMER_FEATURES {
        s.push_str(&format!("| `{n}` | {d} |\n"));
    }
    s.push_str(
        "\n## Open-invoice rows (`invoice_features.parquet`)\n\n\
         Keys: `invoice_id`, `customer_id`; also `currency`, `invoice_date`, `due_date`, `amount` (decimal), \
         then any extra numeric columns asked for with `--extra-feature`.\n\n| feature | definition |\n|---|---|\n",
    );
    for (n, d) in INVOICE_FEATURES {
        s.push_str(&format!("| `{n}` | {d} |\n"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique() {
        let mut all = customer_feature_names();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), CUSTOMER_FEATURES.len());
        let mut inv = invoice_feature_names();
        inv.sort_unstable();
        inv.dedup();
        assert_eq!(inv.len(), INVOICE_FEATURES.len());
    }

    #[test]
    fn hash_is_stable_hex() {
        let h = definition_hash();
        assert_eq!(h.len(), 64);
        assert_eq!(h, definition_hash());
    }

    #[test]
    fn committed_catalogue_matches_the_code() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/features/CATALOGUE.md");
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert_eq!(committed, catalogue_markdown(), "run `arsight features --catalogue > features/CATALOGUE.md`");
    }
}
