"""Two `arsight backtest --out` reports of the same ledger, side by side, with the
paired difference of the cash distributions' CRPS over resamples of the as-of dates.

    arsight backtest --data DIR --out a.json                   # one build or setting
    arsight backtest --data DIR --params b.toml --out b.json   # the other
    python3 notebooks/compare_backtests.py a.json b.json [--resamples 1000] [--seed 7]

The CRPS of a date is amount-weighted over its open invoices (`cash_amount_base`), so
a resample pools its dates' CRPS by those amounts, as the report pools them. The same
resamples serve both reports: the interval is of the difference, which is much
narrower than either report's own interval when the two builds err on the same dates.
Standard library only.
"""

import argparse
import json
import random


def arsight(report):
    return next(m for m in report["methods"] if m["method"].startswith("arsight"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--resamples", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    a, b = (json.load(open(p)) for p in (args.a, args.b))
    if a["as_of_dates"] != b["as_of_dates"]:
        raise SystemExit("the reports have different as-of dates: not the same backtest")
    ma, mb = arsight(a), arsight(b)
    keys = ["mae_days", "p10_p90_coverage", "late_roc_auc", "late_brier", "wape", "wape_4w",
            "forecast_wape", "forecast_interval_coverage", "cash_crps_days"]
    print(f"{'figure':28s} {'a':>10s} {'b':>10s}")
    for k in keys:
        if k in ma and k in mb and ma[k] is not None and mb[k] is not None:
            print(f"{k:28s} {ma[k]:10.4f} {mb[k]:10.4f}")
    # Dates whose horizon the data covers carry a CRPS and its amount.
    by_a = {r["as_of"]: r for r in ma["by_date"]}
    rows = []
    for r in mb["by_date"]:
        q = by_a.get(r["as_of"])
        if q is None or r.get("cash_crps_days") is None or q.get("cash_crps_days") is None:
            continue
        rows.append((q["cash_crps_days"], r["cash_crps_days"], r["cash_amount_base"]))
    if not rows:
        raise SystemExit("no date with a cash CRPS in both reports")

    def pooled(sample, side):
        w = sum(s[2] for s in sample)
        return sum(s[side] * s[2] for s in sample) / w

    rng = random.Random(args.seed)
    diffs = []
    for _ in range(args.resamples):
        s = [rows[rng.randrange(len(rows))] for _ in rows]
        diffs.append(pooled(s, 1) - pooled(s, 0))
    diffs.sort()
    lo, hi = diffs[int(0.05 * len(diffs))], diffs[int(0.95 * len(diffs)) - 1]
    better = sum(1 for r in rows if r[1] < r[0])
    print(f"\ncash CRPS, b minus a: {pooled(rows, 1) - pooled(rows, 0):+.3f} d "
          f"({lo:+.3f} to {hi:+.3f} in 90% of {args.resamples} date resamples); "
          f"b lower at {better} of {len(rows)} dates")


if __name__ == "__main__":
    main()
