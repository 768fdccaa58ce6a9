"""What the protocol's cash WAPE would be if the cash model's distributions were exactly right.

Reads the CSV that `arsight backtest --data DIR --cash-rows rows.csv` writes (every
invoice open at every as-of date, the cash model's p10/p50/p90 days until payment, the
day the protocol placed it on, and the days until it was actually paid). It recomputes
the protocol's weekly WAPE (whole amount at the placed day, 13 weekly buckets per as-of
date, pooled) from the outcomes, then draws outcomes from the model's own distributions
(piecewise linear through p10/p50/p90, tails as long again as the neighbouring stretch,
whole days, independent invoices) and scores the same placement against them.

If the model were right, the actual WAPE would be one draw from that simulated spread;
its median is the floor that better medians cannot go below without sharper
distributions. `--sharpen 0.9,0.8,0.7` also draws from distributions narrowed around
their medians by those factors (what the floor would be with that much more
information). Independent draws make the floor optimistic: shocks shared by invoices of
one week only widen it.

    python3 notebooks/protocol_floor.py rows.csv [--draws 200] [--sharpen 0.9,0.7]

Standard library only; seeded.
"""

import argparse
import csv
import math
import random
import statistics
from collections import defaultdict

WEEKS = 13
LEVELS = (0.0, 0.1, 0.5, 0.9, 1.0)


def week(days):
    return max(1, math.ceil(max(days, 1) / 7))


def wape(rows, placed, outcome):
    """Pooled weekly WAPE of amounts at `placed` days against amounts at `outcome` days."""
    f, a = defaultdict(float), defaultdict(float)
    for r, p, o in zip(rows, placed, outcome):
        if week(p) <= WEEKS:
            f[(r["as_of"], week(p))] += r["amount"]
        if o is not None and week(o) <= WEEKS:
            a[(r["as_of"], week(o))] += r["amount"]
    keys = set(f) | set(a)
    total = sum(a.values())
    return sum(abs(f[k] - a[k]) for k in keys) / total if total else float("nan")


def knots(r, sharpen):
    p10, p50, p90 = r["p10"], r["p50"], r["p90"]
    p10 = p50 - (p50 - p10) * sharpen
    p90 = p50 + (p90 - p50) * sharpen
    return (max(p10 - (p50 - p10), 0.0), p10, p50, p90, p90 + (p90 - p50))


def draw(xs, u):
    for i in range(1, len(LEVELS)):
        if u <= LEVELS[i]:
            lo, hi = LEVELS[i - 1], LEVELS[i]
            t = (u - lo) / (hi - lo) if hi > lo else 0.0
            return xs[i - 1] + t * (xs[i] - xs[i - 1])
    return xs[-1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("rows")
    ap.add_argument("--draws", type=int, default=200)
    ap.add_argument("--sharpen", default="")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    rows = []
    for r in csv.DictReader(open(args.rows, newline="")):
        paid = r["paid_after_days"]
        rows.append({"as_of": r["as_of"], "amount": float(r["amount_base"]),
                     "p10": float(r["p10_days"]), "p50": float(r["p50_days"]),
                     "p90": float(r["p90_days"]), "placed": int(r["placed_days"]),
                     "paid": int(paid) if paid not in ("", None) else None})
    if not rows:
        print("no rows")
        return
    placed = [r["placed"] for r in rows]
    actual = wape(rows, placed, [r["paid"] for r in rows])
    print(f"{len(rows)} open-invoice rows over {len({r['as_of'] for r in rows})} as-of dates")
    print(f"protocol WAPE, actual outcomes: {actual:.3f}")
    paid = [r for r in rows if r["paid"] is not None]
    # The day a continuous draw x lands on is floor(x) + 1, as below.
    day = lambda x: math.floor(x) + 1
    inside = sum(day(r["p10"]) <= r["paid"] <= day(r["p90"]) for r in paid) / max(len(paid), 1)
    print(f"paid on a day between p10's and p90's: {inside:.1%} of {len(paid)} paid rows")
    rng = random.Random(args.seed)
    factors = [1.0] + [float(s) for s in args.sharpen.split(",") if s]
    print("| distributions | simulated WAPE, median | 5th–95th percentile | share of draws at or below the actual |")
    print("|---|---:|---:|---:|")
    for s in factors:
        xs = [knots(r, s) for r in rows]
        sims = sorted(
            wape(rows, placed, [math.floor(draw(x, rng.random())) + 1 for x in xs])
            for _ in range(args.draws))
        lo = sims[int(0.05 * (len(sims) - 1))]
        hi = sims[int(0.95 * (len(sims) - 1))]
        below = sum(v <= actual for v in sims) / len(sims)
        label = "as fitted" if s == 1.0 else f"narrowed to {s:.0%} of their width"
        print(f"| {label} | {statistics.median(sims):.3f} | {lo:.3f}–{hi:.3f} | {below:.0%} |")


if __name__ == "__main__":
    main()
