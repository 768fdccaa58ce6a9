"""Closing days read from a ledger's settlements against the calendar it was made with.

Trains `arsight` on DATA (a ledger without a `holidays` table) at each as-of date and
compares the closing days its payment-date model learned (`closed_days`, which close
every currency, and `closed_by_currency`) with a `holidays.parquet` (the table of the
same ledger generated with it; a row without a currency closes every currency). Per
as-of date and currency, weekdays only: learned days up to the as-of date that were
holidays (right) or not (wrong), and days in the year after it projected right, wrong,
and holidays not projected (missed). Wrong days ahead are listed.

    arsight generate --out cur7 --customers 600 --invoices 20000 --seed 7 \\
        --start 2022-07-01 --end 2025-06-30 --currency-holidays
    cp -r cur7 cur7n && rm cur7n/holidays.parquet
    python3 notebooks/learned_closures.py --data cur7n --holidays cur7/holidays.parquet \\
        --as-of 2024-07-01 2025-01-02 2025-06-30 [--arsight target/release/arsight]

Needs pandas and pyarrow.
"""

import argparse
import datetime as dt
import glob
import json
import os
import subprocess
import tempfile

import pandas as pd

EPOCH = dt.date(1970, 1, 1)


def weekday(day):
    return (day + 3) % 7 < 5


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--holidays", required=True)
    ap.add_argument("--as-of", nargs="+", required=True)
    ap.add_argument("--arsight", default="target/release/arsight")
    a = ap.parse_args()
    inv = pd.read_parquet(os.path.join(a.data, "invoices"), columns=["currency"])
    currencies = sorted(inv.currency.dropna().unique())
    h = pd.read_parquet(a.holidays)
    truth = {c: set() for c in currencies}
    for date, cur in zip(h.date, h.currency if "currency" in h else [None] * len(h)):
        day = (pd.Timestamp(date).date() - EPOCH).days
        for c in currencies if cur is None or cur == "" else [cur]:
            if c in truth and weekday(day):
                truth[c].add(day)
    total = dict(right=0, wrong=0, ahead_right=0, ahead_wrong=0, missed=0)
    for as_of in a.as_of:
        until = (dt.date.fromisoformat(as_of) - EPOCH).days
        with tempfile.TemporaryDirectory() as models:
            subprocess.run(
                [a.arsight, "train", "--data", a.data, "--as-of", as_of, "--models", models],
                check=True,
                stdout=subprocess.DEVNULL,
            )
            path = glob.glob(os.path.join(models, "payment_date", "*", "model.json"))[0]
            m = json.load(open(path))
        common = set(m.get("closed_days", []))
        own = {c: set(days) for c, days in m.get("closed_by_currency", [])}
        for c in currencies:
            got = {d for d in common | own.get(c, set()) if weekday(d)}
            t = truth[c]
            row = dict(
                right=sum(d in t for d in got if d <= until),
                wrong=sum(d not in t for d in got if d <= until),
                ahead_right=sum(d in t for d in got if until < d <= until + 365),
                ahead_wrong=sum(d not in t for d in got if until < d <= until + 365),
                missed=sum(until < d <= until + 365 and d not in got for d in t),
            )
            for k, v in row.items():
                total[k] += v
            bad = [str(EPOCH + dt.timedelta(d)) for d in sorted(got) if until < d <= until + 365 and d not in t]
            print(as_of, c, row, "wrong ahead: " + " ".join(bad) if bad else "")
    print("total", total)


if __name__ == "__main__":
    main()
