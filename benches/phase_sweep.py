#!/usr/bin/env python3
"""The protocol's figures at every phase of its two-week grid, arsight beside the
LightGBM reference.

    python3 benches/phase_sweep.py --data data/ibm [--arsight target/release/arsight] [--jobs 2] [--out DIR] [--starts 0,7]

The protocol's as-of dates start at T80 (the invoice date by which 80% of invoices were
issued) and step 14 days. Starting the same grid 1, 2, ..., 13 days later gives 13 other
sets of as-of dates with the same rules; each one is a backtest as legitimate as the
default's. This runs `reference_backtest.py` (both sides, one thread each) at all 14
starts and prints every figure per start, its mean and median over the starts, and on
how many starts each side meets the models issue's targets. The starts share most of
their data, so they are not independent samples; what they show is how much a figure
owes to which days of the fortnight the as-of dates fall on.

Needs what `reference_backtest.py` needs (pandas, pyarrow, lightgbm).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pandas as pd

import reference_backtest
from backtest_pairs import EPOCH

HERE = os.path.dirname(os.path.abspath(__file__))

# (key, label, format, target test or None)
FIGURES = [
    ("mae_days", "MAE d", "{:.2f}", lambda v: v <= 5.3),
    ("within_7d", "±7 d", "{:.1%}", None),
    ("p10_p90_coverage", "p10–p90 cov.", "{:.1%}", lambda v: 0.75 <= v <= 0.85),
    ("p10_p90_interval_score_days", "interval score d", "{:.2f}", None),
    ("late_roc_auc", "late ROC-AUC", "{:.3f}", lambda v: v >= 0.86),
    ("late_brier", "Brier", "{:.3f}", lambda v: v <= 0.140),
    ("wape", "WAPE 13 wk", "{:.3f}", lambda v: v <= 0.24),
    ("cash_crps_days", "cash CRPS d", "{:.2f}", None),
]


def run(args, k, start):
    day = (EPOCH + pd.Timedelta(days=start + k)).strftime("%Y-%m-%d")
    out = os.path.join(args.out, f"phase_{k}.json")
    cmd = [sys.executable, os.path.join(HERE, "reference_backtest.py"), "--data", args.data, "--arsight", args.arsight,
           "--from", day, "--every", str(args.every), "--json", out, "--work", os.path.join(args.out, f"work_{k}")]
    with open(os.path.join(args.out, f"phase_{k}.txt"), "w") as log:
        subprocess.run(cmd, check=True, stdout=log, stderr=subprocess.STDOUT)
    return k, day, json.load(open(out))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--arsight", default="target/release/arsight")
    ap.add_argument("--every", type=int, default=14)
    ap.add_argument("--jobs", type=int, default=2, help="starts run side by side (each side one thread)")
    ap.add_argument("--out", default=os.path.join(HERE, "tmp", "phases"))
    ap.add_argument("--starts", help="only these days after T80, comma-separated (default: 0 to every - 1)")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    start = reference_backtest.t80(reference_backtest.load(args.data))
    with ThreadPoolExecutor(args.jobs) as pool:
        ks = [int(k) for k in args.starts.split(",")] if args.starts else range(args.every)
        runs = sorted(pool.map(lambda k: run(args, k, start), ks))

    head = "| start | dates | side | " + " | ".join(f[1] for f in FIGURES) + " |"
    print(head + "\n|---|---:|---|" + "---:|" * len(FIGURES))
    for k, day, r in runs:
        for side in ("arsight", "reference"):
            cells = [f[2].format(r[side][f[0]]) if r[side].get(f[0]) is not None else "—" for f in FIGURES]
            first = f"| T80+{k} ({day}) | {len(r['as_of_dates'])} |" if side == "arsight" else "| | |"
            print(f"{first} {side} | " + " | ".join(cells) + " |")

    print(f"\nOver the {len(runs)} starts (mean / median; starts meeting the target)\n")
    print("| figure | arsight | reference | arsight minus reference: mean, starts below 0 | starts meeting target: arsight / reference |")
    print("|---|---:|---:|---:|---:|")
    for key, label, fmt, target in FIGURES:
        a = [r["arsight"][key] for _, _, r in runs if r["arsight"].get(key) is not None]
        b = [r["reference"][key] for _, _, r in runs if r["reference"].get(key) is not None]
        if not a or len(a) != len(b):
            continue
        diff = [x - y for x, y in zip(a, b)]
        both = lambda v: f"{fmt.format(statistics.mean(v))} / {fmt.format(statistics.median(v))}"
        met = f"{sum(map(target, a))} / {sum(map(target, b))}" if target else "—"
        print(f"| {label} | {both(a)} | {both(b)} | {statistics.mean(diff):+.4f}, {sum(d < 0 for d in diff)} of {len(diff)} "
              f"| {met} |")

    print("\nPaired over each start's own date resamples (arsight minus reference): starts whose 90% interval "
          "lies below 0 / straddles 0 / lies above 0\n")
    print("| figure | below | straddles | above |\n|---|---:|---:|---:|")
    names = list(runs[0][2]["paired"])
    for name in names:
        iv = [r["paired"][name] for _, _, r in runs if name in r["paired"]]
        below = sum(hi < 0 for _, _, hi in iv)
        above = sum(lo > 0 for _, lo, _ in iv)
        print(f"| {name} | {below} | {len(iv) - below - above} | {above} |")


if __name__ == "__main__":
    main()
