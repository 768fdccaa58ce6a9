"""`arsight backtest` on open-items listings, scored against the true paid dates.

On listings the backtest can only score against what the listings tell (a day of the
span between the last listing that shows an invoice and the first that no longer
does). This reads its `--scored-rows` and `--cash-rows` and the truth that
`open_items_listings.py` wrote, joins them on (customer, issue date, due date), and
prints the payment-date errors, p10-p90 coverage, Brier and ROC-AUC of P(late), and the
protocol's weekly cash WAPE (whole amounts at the p50 day, 13 weeks, only the weeks up
to END, the last listing day) against the true days, and the same for the expected
inflow of weeks 1-4 (each amount spread by the rows' `p_week_1..4`, the forecast's
distributions before its weekly factors).

    python3 notebooks/listings_against_truth.py w7/truth scored.csv cash.csv 2024-12-27

Needs pandas and pyarrow.
"""

import os
import sys

import pandas as pd
import pyarrow.dataset as ds

KEY = ["customer_id", "invoice_date", "due_date"]


def auc(score, label):
    ranks = score.rank()
    pos = label.sum()
    neg = len(label) - pos
    return (ranks[label].sum() - pos * (pos + 1) / 2) / (pos * neg)


def wape(c, after):
    forecast, actual = {}, {}
    for as_of, placed, amount, weeks, a in zip(c.as_of, c.placed_days, c.amount_base, c.weeks, c[after]):
        w = (placed - 1) // 7 + 1
        if 1 <= w <= weeks:
            forecast[(as_of, w)] = forecast.get((as_of, w), 0.0) + amount
        if pd.notna(a) and a >= 1:
            w = (int(a) - 1) // 7 + 1
            if 1 <= w <= weeks:
                actual[(as_of, w)] = actual.get((as_of, w), 0.0) + amount
    keys = set(forecast) | set(actual)
    return sum(abs(forecast.get(k, 0.0) - actual.get(k, 0.0)) for k in keys) / sum(actual.values())


def expected_wape(c, after):
    """WAPE of weeks 1-4 of the expected inflow (amount times `p_week_w`)."""
    c = c[c.weeks >= 4]
    err = total = 0.0
    for _, g in c.groupby("as_of"):
        a = g[after]
        for w in range(1, 5):
            f = (g.amount_base * g[f"p_week_{w}"]).sum()
            actual = g.amount_base[(a >= 7 * (w - 1) + 1) & (a <= 7 * w)].sum()
            err += abs(f - actual)
            total += actual
    return err / total


def main(truth_dir, scored_csv, cash_csv, end):
    t = ds.dataset(os.path.join(truth_dir, "invoices")).to_table().to_pandas()
    for col in ["invoice_date", "due_date", "paid_date"]:
        t[col] = pd.to_datetime(t[col])
    t = t[KEY + ["paid_date"]].rename(columns={"paid_date": "true_paid"})
    t = t[~t.duplicated(KEY, keep=False)]
    s = pd.read_csv(scored_csv)
    for col in ["as_of", "invoice_date", "due_date", "p10_paid_date", "p50_paid_date", "p90_paid_date", "paid_date"]:
        s[col] = pd.to_datetime(s[col])
    m = s.merge(t, on=KEY)
    m = m[m.true_paid.notna()]
    err = (m.p50_paid_date - m.true_paid).dt.days
    late = m.true_paid > m.due_date
    print(f"{len(s)} scored invoices, {len(m)} matched to the truth")
    print(f"against the true days: MAE {err.abs().mean():.2f} d, mean error {err.mean():+.2f} d, within 7 d {100 * (err.abs() <= 7).mean():.1f}%")
    cov = ((m.true_paid >= m.p10_paid_date) & (m.true_paid <= m.p90_paid_date)).mean()
    print(f"p10-p90 coverage {100 * cov:.1f}%, P(late) Brier {((m.p_late - late) ** 2).mean():.3f}, ROC-AUC {auc(m.p_late, late):.3f}")
    off = (m.paid_date - m.true_paid).dt.days
    print(f"the backtest's outcome day minus the true day: mean {off.mean():+.2f} d, mean absolute {off.abs().mean():.2f} d")
    c = pd.read_csv(cash_csv)
    for col in ["as_of", "invoice_date", "due_date"]:
        c[col] = pd.to_datetime(c[col])
    c = c.merge(t, on=KEY)
    c["true_after"] = (c.true_paid - c.as_of).dt.days
    c["weeks"] = ((pd.Timestamp(end) - c.as_of).dt.days // 7).clip(upper=13)
    print(f"protocol WAPE 13 wk: {wape(c, 'true_after'):.3f} against the true days, {wape(c, 'paid_after_days'):.3f} against the backtest's outcomes")
    print(f"expected inflow WAPE 4 wk: {expected_wape(c, 'true_after'):.3f} against the true days, {expected_wape(c, 'paid_after_days'):.3f} against the backtest's outcomes")


if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    main(*sys.argv[1:])
