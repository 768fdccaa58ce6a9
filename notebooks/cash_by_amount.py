"""Calibration of the remaining-time (cash) model by invoice size.

On a ledger with heavy-tailed amounts a few invoices decide a week's total, so the
distributions of the largest invoices matter more than their number says. Reads the CSV
that `arsight backtest --data DIR --cash-rows rows.csv` writes and splits each as-of
date's open invoices by their rank in amount at that date (the largest 1%, the next
9%, the rest). For each group it prints how often payment came by the p10, p50 and p90
days and within the horizon beside the model's probability of it, where the amount paid
fell among the levels of its distribution (`paid_level`: right distributions spread it
evenly over the fifths; the mean level of the paid amount beside what right
distributions give), all weighted by amount as the weekly sums weigh them.

A model whose distributions are right for large invoices as for small ones gives each
group about 10% / 50% / 90% by the quantiles and an even spread over the fifths. Only
as-of dates whose horizon lies wholly before the end of the data are counted.

    python3 notebooks/cash_by_amount.py rows.csv

Standard library only.
"""

import sys
from collections import defaultdict

from cash_rows import amount_by_fifth, known_rows, paid_by

# Shares of each date's open invoices, largest first, by count.
GROUPS = [("largest 1%", 0.0, 0.01), ("next 9%", 0.01, 0.10), ("the other 90%", 0.10, 1.0)]


def main(path):
    rows, cap, complete = known_rows(path)
    if not rows:
        print("no rows")
        return
    by_date = defaultdict(list)
    for r in complete:
        by_date[r["as_of"]].append(r)
    group_rows = defaultdict(list)
    for date_rows in by_date.values():
        date_rows.sort(key=lambda r: -float(r["amount_base"]))
        n = len(date_rows)
        for i, r in enumerate(date_rows):
            for name, lo, hi in GROUPS:
                if lo * n <= i < max(hi * n, lo * n + 1):
                    group_rows[name].append(r)
                    break
    total = sum(float(r["amount_base"]) for r in complete)
    print(f"{len(by_date)} as-of dates with a complete {cap:.0f}-day horizon; {len(complete)} open-invoice rows")
    print()
    print("| open invoices by amount at the date | rows | share of the amount | paid by p10 | by p50 | by p90 "
          "| paid within the horizon | predicted within | 0–0.2 | 0.2–0.4 | 0.4–0.6 | 0.6–0.8 | 0.8–1 "
          "| mean level paid | were they right |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, _, _ in GROUPS:
        g = group_rows[name]
        amount = sum(float(r["amount_base"]) for r in g)
        if not g or amount <= 0:
            continue

        # Amount-weighted, as the weekly sums weigh them.
        def share(f):
            return 100.0 * sum(float(r["amount_base"]) for r in g if f(r)) / amount

        by = [share(lambda r, k=k: paid_by(r, float(r[k]))) for k in ("p10_days", "p50_days", "p90_days")]
        within = share(lambda r: paid_by(r, cap))
        pred = 100.0 * sum(float(r["amount_base"]) * float(r["p_within_cap"]) for r in g) / amount
        fifths = amount_by_fifth(g)
        cells = " | ".join(f"{100.0 * v / amount:.1f}%" for v in fifths)
        # The amount-weighted mean level at which the paid amount came, against what
        # right distributions give: an invoice paid within the horizon with probability
        # P is paid at a level uniform on [0, P], so Σ a·P·P/2 over Σ a·P.
        paid = [(float(r["amount_base"]), float(r["paid_level"])) for r in g if r.get("paid_level", "") != ""]
        mean = sum(a * u for a, u in paid) / max(sum(a for a, _ in paid), 1e-300)
        p_in = [(float(r["amount_base"]), float(r["p_within_cap"])) for r in g]
        right = sum(a * p * p / 2 for a, p in p_in) / max(sum(a * p for a, p in p_in), 1e-300)
        print(f"| {name} | {len(g)} | {100.0 * amount / total:.0f}% | {by[0]:.0f}% | {by[1]:.0f}% | {by[2]:.0f}% "
              f"| {within:.0f}% | {pred:.0f}% | {cells} | {mean:.3f} | {right:.3f} |")
    print()
    print("Shares are of each group's amount. Right distributions put as much of it in each fifth of the levels "
          "(up to the probability of payment within the horizon), and the paid amount's mean level near the last "
          "column's; above it, the group was paid later than its distributions said.")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "rows.csv")
