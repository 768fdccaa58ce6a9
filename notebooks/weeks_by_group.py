"""Where the cash forecast's weekly expectation misses: weeks 1-4 after each as-of
date, by how far from due each open invoice was.

Reads the CSV that `arsight backtest --data DIR --cash-rows rows.csv` writes (every
invoice open at every as-of date, with `p_week_1` .. `p_week_4`: its distribution's
probability of payment in each of the four weeks after the date, counted on the day
the payment settles) and prints, per group, the amount expected in each week (amount
times probability, summed; before the forecast's weekly factors) over the amount that
arrived, and each group's part of the week's whole miss. Only as-of dates whose four
weeks lie before the end of the data are counted.

    python3 notebooks/weeks_by_group.py rows.csv

Standard library only.
"""

import sys
from collections import defaultdict

from cash_rows import known_rows

WEEKS = 4
# Days until due at the as-of date (negative: past due).
GROUPS = [("over 30 days past due", -10**9, -31), ("1-30 days past due", -30, -1),
          ("due in week 1", 0, 7), ("due in week 2", 8, 14), ("due in weeks 3-4", 15, 28),
          ("due later", 29, 10**9)]


def main(path):
    rows, _, known = known_rows(path, 7 * WEEKS)
    if not rows or "p_week_1" not in rows[0]:
        print("no rows with p_week_1..4 (rows from an older arsight?)")
        return
    dates = sorted({r["as_of"] for r in known})
    print(f"{len(known)} open-invoice rows at {len(dates)} as-of dates "
          f"({dates[0] if dates else '-'} .. {dates[-1] if dates else '-'})\n")
    exp = defaultdict(lambda: [0.0] * WEEKS)
    got = defaultdict(lambda: [0.0] * WEEKS)
    amount = defaultdict(float)
    for r in known:
        due_in = -int(r["days_past_due"])
        g = next(name for name, lo, hi in GROUPS if lo <= due_in <= hi)
        a = float(r["amount_base"])
        amount[g] += a
        for w in range(WEEKS):
            exp[g][w] += a * float(r[f"p_week_{w + 1}"])
        if r["paid_after_days"]:
            p = int(r["paid_after_days"])
            if 1 <= p <= 7 * WEEKS:
                got[g][(p - 1) // 7] += a
    total_e = [sum(exp[g][w] for g in exp) for w in range(WEEKS)]
    total_a = [sum(got[g][w] for g in got) for w in range(WEEKS)]
    head = " | ".join(f"week {w + 1} expected / arrived (part of miss)" for w in range(WEEKS))
    print(f"| group | amount share | {head} |")
    print("|---|---:|" + "---:|" * WEEKS)
    whole = sum(amount.values())
    for name, _, _ in GROUPS + [("all", 0, 0)]:
        if name != "all" and name not in amount:
            continue
        cells = []
        for w in range(WEEKS):
            e = total_e[w] if name == "all" else exp[name][w]
            a = total_a[w] if name == "all" else got[name][w]
            miss = total_e[w] - total_a[w]
            ratio = f"{e / a:.2f}" if a > 0 else "-"
            part = f"{(e - a) / miss:+.0%}" if miss else "-"
            cells.append(f"{ratio} ({part})")
        share = 1.0 if name == "all" else amount[name] / whole
        print(f"| {name} | {share:.1%} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main(sys.argv[1])
