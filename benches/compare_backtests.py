"""Two `arsight backtest --out` reports of the same ledger, side by side, with the
paired differences of the cash distributions' CRPS and of the weekly bands' interval
score over resamples of the as-of dates.

    arsight backtest --data DIR --out a.json                   # one build or setting
    arsight backtest --data DIR --params b.toml --out b.json   # the other
    python3 benches/compare_backtests.py a.json b.json

The CRPS of a date is amount-weighted over its open invoices (`cash_amount_base`), so
a resample pools its dates' CRPS by those amounts, as the report pools them; the
resampling is `reference_backtest.py`'s (`backtest_pairs.py`). The same resamples serve
both reports: the interval is of the difference, which is much narrower than either
report's own interval when the two builds err on the same dates. Needs numpy and pandas.
"""

import argparse
import json

import backtest_pairs as pairs


def arsight(report):
    return next(m for m in report["methods"] if m["method"].startswith("arsight"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("a")
    ap.add_argument("b")
    args = ap.parse_args()
    a, b = (json.load(open(p)) for p in (args.a, args.b))
    if a["as_of_dates"] != b["as_of_dates"]:
        raise SystemExit("the reports have different as-of dates: not the same backtest")
    ma, mb = arsight(a), arsight(b)
    keys = ["mae_days", "p10_p90_coverage", "late_roc_auc", "late_brier", "wape", "wape_4w",
            "forecast_wape", "forecast_interval_coverage", "forecast_interval_score", "forecast_interval_width",
            "cash_crps_days"]
    print(f"{'figure':28s} {'a':>10s} {'b':>10s}")
    for k in keys:
        if ma.get(k) is not None and mb.get(k) is not None:
            print(f"{k:28s} {ma[k]:10.4f} {mb[k]:10.4f}")
    ca, cb = pairs.cash_by_date(ma), pairs.cash_by_date(mb)
    if len(ca) == 0 or len(cb) == 0:
        raise SystemExit("no date with a cash CRPS in both reports")
    d, (lo, hi) = pairs.paired(cb, ca, pairs.crps)
    both = ca.merge(cb, on="as_of", suffixes=("_a", "_b"))
    lower = int((both["crps_w_b"] / both["amount_b"] < both["crps_w_a"] / both["amount_a"]).sum())
    print(f"\ncash CRPS, b minus a: {d:+.3f} d ({lo:+.3f} to {hi:+.3f} in 90% of 1000 date resamples); "
          f"b lower at {lower} of {len(both)} dates")
    ba, bb = pairs.bands_by_date(ma), pairs.bands_by_date(mb)
    if len(ba) and len(bb):
        d, (lo, hi) = pairs.paired(bb, ba, pairs.interval_score)
        print(f"weekly bands' 80% interval score, b minus a: {d:+.4f} ({lo:+.4f} to {hi:+.4f} in 90% of 1000 "
              f"date resamples)")


if __name__ == "__main__":
    main()
