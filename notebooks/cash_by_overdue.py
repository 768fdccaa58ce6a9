"""Calibration of the remaining-time (cash) model by how overdue invoices are.

Reads the CSV that `arsight backtest --data DIR --cash-rows rows.csv` writes (every
invoice open at every as-of date, the model's p10/p50/p90 days until payment, its
probability of payment within the horizon, and the days until it was actually paid) and
prints, per group of days past due at the as-of date, how often payment came by each
quantile and within the model's horizon, beside the probability the model gave it, and
(from rows with a `paid_level` column) how the amount paid spread over the levels of
its distribution, and the amount-weighted pinball loss of each quantile.

A calibrated model pays by p10, p50 and p90 in about 10%, 50% and 90% of the
invoices of every group. Only as-of dates whose horizon lies wholly before the end of
the data are counted, so every outcome within the horizon is known.

    python3 notebooks/cash_by_overdue.py rows.csv

Standard library only.
"""

import sys
from collections import defaultdict

from cash_rows import amount_by_fifth, known_rows, paid_by

GROUPS = [("not yet due", -10**9, -1), ("0-30 days past due", 0, 30),
          ("31-90 days past due", 31, 90), ("over 90 days past due", 91, 10**9)]


def main(path):
    rows, cap, complete = known_rows(path)
    if not rows:
        print("no rows")
        return
    dates = sorted({r["as_of"] for r in complete})
    print(f"{len(dates)} of {len({r['as_of'] for r in rows})} as-of dates with a complete "
          f"{cap:.0f}-day horizon; {len(complete)} open-invoice rows")
    print()
    print("| days past due at the as-of date | rows | amount | paid by p10 | by p50 | by p90 "
          "| p50 beyond the horizon | paid within the horizon | predicted within |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, lo, hi in GROUPS:
        g = [r for r in complete if lo <= int(r["days_past_due"]) <= hi]
        if not g:
            continue
        amount = sum(float(r["amount_base"]) for r in g)

        def share(f):
            return 100.0 * sum(1 for r in g if f(r)) / len(g)

        by = [share(lambda r, k=k: paid_by(r, float(r[k]))) for k in ("p10_days", "p50_days", "p90_days")]
        beyond = share(lambda r: float(r["p50_days"]) > cap)
        within = share(lambda r: paid_by(r, cap))
        # The model's probability of payment within the horizon (rows written before
        # the column existed have none).
        pred = ("—" if "p_within_cap" not in g[0]
                else f"{100.0 * sum(float(r['p_within_cap']) for r in g) / len(g):.0f}%")
        print(f"| {name} | {len(g)} | {amount:,.0f} | {by[0]:.0f}% | {by[1]:.0f}% | {by[2]:.0f}% "
              f"| {beyond:.0f}% | {within:.0f}% | {pred} |")
    if "paid_level" in complete[0]:
        levels(complete)
        by_date(complete)
    pinball(complete, cap)


LEVEL_GROUPS = [("due in more than 14 days", -10**9, -15), ("due within 14 days", -14, 0),
                ("past due", 1, 10**9)]


def levels(complete):
    """Share of the amount paid at each fifth of the levels of its distribution (the
    `paid_level` column). Right distributions put as much in each fifth, together what
    was paid within the horizon; more in the low fifths means payment came earlier than
    the distributions said, more in the middle ones that they were too wide."""
    print()
    print("Amount paid at each fifth of its distribution's levels (within the horizon)")
    print()
    print("| days to due at the as-of date | rows | 0–0.2 | 0.2–0.4 | 0.4–0.6 | 0.6–0.8 | 0.8–1 | paid within |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, lo, hi in LEVEL_GROUPS:
        g = [r for r in complete if lo <= int(r["days_past_due"]) <= hi]
        total = sum(float(r["amount_base"]) for r in g)
        if not g or total <= 0:
            continue
        fifths = amount_by_fifth(g)
        cells = " | ".join(f"{100.0 * v / total:.1f}%" for v in fifths)
        print(f"| {name} | {len(g)} | {cells} | {100.0 * sum(fifths) / total:.1f}% |")


BY_DATE_LEVELS = (0.1, 0.3, 0.5, 0.7, 0.9)


def by_date(complete):
    """For the invoices not yet due, the share of the amount paid by each of a few
    levels of its distribution, per as-of date (from the `paid_level` column; unpaid
    within the horizon counts as past every level, which for invoices not yet due is
    nearly always so). Right distributions give the levels themselves at every date;
    shares that move from date to date mean the ledger drifts faster than the
    recalibration on the newest weeks follows."""
    print()
    print("Invoices not yet due: share of the amount paid by each level of its distribution, by as-of date")
    print()
    print("| as-of | rows | " + " | ".join(f"by {u}" for u in BY_DATE_LEVELS) + " |")
    print("|---|---:|" + "---:|" * len(BY_DATE_LEVELS))
    groups = defaultdict(list)
    for r in complete:
        if int(r["days_past_due"]) <= 0:
            groups[r["as_of"]].append(r)
    for as_of in sorted(groups):
        g = groups[as_of]
        total = sum(float(r["amount_base"]) for r in g)
        if total <= 0:
            continue
        shares = [sum(float(r["amount_base"]) for r in g if r["paid_level"] != "" and float(r["paid_level"]) <= u)
                  / total for u in BY_DATE_LEVELS]
        print(f"| {as_of} | {len(g)} | " + " | ".join(f"{v:.3f}" for v in shares) + " |")


def pinball(complete, cap):
    """Amount-weighted pinball loss of each group's p10, p50 and p90 days (days capped a
    day past the horizon, where "not paid within it" lies): a proper score of each
    quantile, lower is better; a quantile moved away from the outcomes scores worse
    even where it lowers a weekly sum's error."""
    print()
    print(f"Pinball loss of the quantiles, days (amount-weighted, capped at {cap + 1:.0f} days)")
    print()
    print("| days to due at the as-of date | rows | p10 | p50 | p90 |")
    print("|---|---:|---:|---:|---:|")
    top = cap + 1
    for name, lo, hi in LEVEL_GROUPS:
        g = [r for r in complete if lo <= int(r["days_past_due"]) <= hi]
        total = sum(float(r["amount_base"]) for r in g)
        if not g or total <= 0:
            continue
        loss = [0.0, 0.0, 0.0]
        for r in g:
            y = min(float(r["paid_after_days"]), top) if r["paid_after_days"] else top
            w = float(r["amount_base"])
            for k, (col, a) in enumerate((("p10_days", 0.1), ("p50_days", 0.5), ("p90_days", 0.9))):
                q = min(float(r[col]), top)
                loss[k] += w * (a * (y - q) if y >= q else (1 - a) * (q - y)) / total
        print(f"| {name} | {len(g)} | {loss[0]:.3f} | {loss[1]:.3f} | {loss[2]:.3f} |")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "rows.csv")
