#!/usr/bin/env python3
"""Side-by-side benchmark and cross-check: `arsight kpis` against DuckDB computing the
same collections KPIs (benches/kpis_duckdb.sql) from the same Parquet files, at one
date without a trend. Runs alternate (arsight, duckdb, arsight, duckdb, ...), each a
separate process timed end to end (reading the files included); reports medians and
the arsight/DuckDB ratio, then checks every figure of the two sides: amounts in minor
units exactly, ratios to 1e-9, counts exactly. Exits non-zero on a mismatch. The
ratio is arsight's whole process over DuckDB's SQL alone (its Python start and import
left out), which favours DuckDB.

    pip install duckdb pandas pyarrow
    cargo build --release
    ./target/release/arsight generate --customers 200000 --invoices 10000000 --seed 7 --out benches/tmp/big
    python3 benches/kpis_vs_duckdb.py --data benches/tmp/big --as-of 2024-12-31 --repeats 5
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
DUCK_CHILD = r"""
import sys, json, time, duckdb
sql_path, data, as_of, window, threads, out = sys.argv[1:7]
sql = open(sql_path).read().replace("{data}", data).replace("{as_of}", as_of).replace("{window}", window)
con = duckdb.connect()
con.execute(f"SET threads = {threads}")
con.execute("SET enable_progress_bar = false")
t = time.perf_counter()
con.execute(sql)
print(f"{time.perf_counter() - t:.4f}")
cur = con.execute("SELECT * FROM by_currency").fetchdf().to_dict(orient="records")
col = con.execute("SELECT * FROM collections").fetchdf().to_dict(orient="records")[0]
json.dump({"currencies": cur, "collections": col}, open(out, "w"), default=float)
"""


def run(cmd, env=None):
    t = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, env=env)
    wall = time.perf_counter() - t
    if p.returncode != 0:
        sys.exit(f"command failed: {' '.join(cmd)}\n{p.stderr.decode()}")
    return wall, p.stdout.decode()


def none_if_nan(v):
    return None if v is None or (isinstance(v, float) and v != v) else v


def compare(a, d):
    """Every figure of arsight's report `a` against DuckDB's `d`; a list of mismatches."""
    bad = []

    def same(what, x, y, exact):
        x, y = none_if_nan(x), none_if_nan(y)
        if x is None or y is None:
            ok = x is None and y is None
        elif exact:
            ok = int(round(x)) == int(round(y))
        else:
            ok = abs(x - y) <= 1e-9 * max(1.0, abs(x), abs(y))
        if not ok:
            bad.append(f"{what}: arsight {x} duckdb {y}")

    duck = {c["currency"]: c for c in d["currencies"]}
    mine = {c["currency"]: c["kpis"] for c in a["currencies"]}
    if sorted(duck) != sorted(mine):
        bad.append(f"currencies: arsight {sorted(mine)} duckdb {sorted(duck)}")
    for cur in sorted(set(duck) & set(mine)):
        k, q = mine[cur], duck[cur]
        for f, g in [("receivables_minor", "receivables"), ("sales_minor", "sales")]:
            same(f"{cur} {f}", k[f], q[g], True)
        for f, g in [("current_minor", "current_minor"), ("days_1_30_minor", "d1_30"), ("days_31_60_minor", "d31_60"),
                     ("days_61_90_minor", "d61_90"), ("over_90_minor", "over_90")]:
            same(f"{cur} aging.{f}", k["aging"][f], q[g], True)
        for f, g in [("dso_days", "dso"), ("best_possible_dso_days", "best_dso"), ("cei_percent", "cei")]:
            same(f"{cur} {f}", k[f], q[g], False)
    c, q = a["collections"], d["collections"]
    for f in ["settled_invoices", "promises_due", "promises_kept", "disputes_opened", "open_invoices",
              "open_disputed_invoices", "customers_past_due"]:
        same(f"collections.{f}", c[f], q[f], True)
    for f in ["on_time_share", "mean_days_late"]:
        same(f"collections.{f}", c[f], q[f], False)
    return bad


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--as-of", required=True)
    ap.add_argument("--window", type=int, default=90)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--arsight", default=os.path.join(HERE, "..", "target", "release", "arsight"))
    args = ap.parse_args()
    tmp = tempfile.mkdtemp()
    a_out, d_out = os.path.join(tmp, "arsight.json"), os.path.join(tmp, "duckdb.json")
    env = dict(os.environ, RAYON_NUM_THREADS=str(args.threads))
    a_cmd = [args.arsight, "kpis", "--data", args.data, "--as-of", args.as_of, "--window", f"{args.window}d",
             "--trend", "1", "--out", a_out]
    d_cmd = [sys.executable, "-c", DUCK_CHILD, os.path.join(HERE, "kpis_duckdb.sql"), args.data, args.as_of,
             str(args.window), str(args.threads), d_out]
    # arsight: the whole process. DuckDB: the whole process, and the SQL alone (reading
    # the files included, Python's start and import of duckdb left out).
    times = {"arsight": [], "duckdb": [], "duckdb SQL": []}
    for _ in range(args.repeats):
        times["arsight"].append(run(a_cmd, env)[0])
        wall, out = run(d_cmd)
        times["duckdb"].append(wall)
        times["duckdb SQL"].append(float(out.split()[0]))
    load = os.getloadavg()
    ma, md = statistics.median(times["arsight"]), statistics.median(times["duckdb SQL"])
    print(f"data {args.data}, as of {args.as_of}, window {args.window} d, {args.threads} threads, load {load[0]:.2f}")
    for k, v in times.items():
        print(f"  {k:10s} " + " ".join(f"{x:.3f}" for x in v) + f"  median {statistics.median(v):.3f} s")
    print(f"  arsight (process) / duckdb (SQL alone) = {ma / md:.2f}")
    bad = compare(json.load(open(a_out)), json.load(open(d_out)))
    if bad:
        print(f"{len(bad)} figures differ:")
        for b in bad[:30]:
            print("  " + b)
        sys.exit(1)
    print("every figure agrees")


if __name__ == "__main__":
    main()
