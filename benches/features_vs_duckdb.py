#!/usr/bin/env python3
"""Side-by-side benchmark: `arsight features` against DuckDB computing the same
customer vectors and open-invoice rows (benches/features_duckdb.sql) over the same
Parquet files. Runs alternate (arsight, duckdb, arsight, duckdb, ...); each run is a
separate process so peak RSS is measured per side (os.wait4). Reports medians and
the arsight/DuckDB ratio, then compares the two outputs column by column.

    pip install duckdb pyarrow
    cargo build --release
    ./target/release/arsight generate --customers 200000 --invoices 10000000 --seed 7 --out benches/tmp/big
    python3 benches/features_vs_duckdb.py --data benches/tmp/big --as-of 2024-06-30 --repeats 5
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
import sys, time, duckdb
sql_path, data, as_of, out, threads = sys.argv[1:6]
sql = open(sql_path).read().replace("{data}", data).replace("{as_of}", as_of).replace("{out}", out)
con = duckdb.connect()
con.execute(f"SET threads = {threads}")
con.execute("SET preserve_insertion_order = false")
con.execute("SET enable_progress_bar = false")
t = time.perf_counter()
con.execute(sql)
print(f"{time.perf_counter() - t:.4f}")
"""


def run(cmd, env=None):
    t = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t
    out, err = p.stdout.read().decode(), p.stderr.read().decode()
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"command failed: {' '.join(cmd)}\n{err}")
    return wall, ru.ru_maxrss / 1024.0, out


def compare(a_dir, d_dir):
    import math
    import pandas as pd
    import pyarrow.parquet as pq
    report = {}
    for name, key in [("customer_features.parquet", "customer_id"), ("invoice_features.parquet", "invoice_id")]:
        a = pq.read_table(os.path.join(a_dir, name)).to_pandas().set_index(key).sort_index()
        d = pq.read_table(os.path.join(d_dir, name)).to_pandas().set_index(key).sort_index()
        rows_equal = list(a.index) == list(d.index)
        worst = []
        compared = []
        for col in a.columns:
            if col not in d.columns or not pd.api.types.is_numeric_dtype(a[col]) or not pd.api.types.is_numeric_dtype(d[col]):
                continue
            if not rows_equal:
                continue
            x = a[col].astype(float).values
            y = d[col].astype(float).values
            compared.append(col)
            diff = 0
            for u, v in zip(x, y):
                if (math.isnan(u) and (v is None or math.isnan(v))):
                    continue
                if v is None or math.isnan(v) or abs(u - v) > 1e-6 * max(1.0, abs(u)):
                    diff += 1
            if diff:
                worst.append((col, diff))
        report[name] = {"rows_arsight": len(a), "rows_duckdb": len(d), "same_keys": rows_equal,
                        "columns_compared": len(compared), "columns_with_differences": worst}
    return report


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--as-of", required=True)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--bin", default=os.path.join(HERE, "..", "target", "release", "arsight"))
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="arsight-bench-")
    a_out, d_out = os.path.join(work, "arsight"), os.path.join(work, "duckdb")
    os.makedirs(d_out, exist_ok=True)
    env = dict(os.environ, RAYON_NUM_THREADS=str(args.threads))
    sql = os.path.join(HERE, "features_duckdb.sql")
    res = {"arsight": [], "duckdb": []}
    load = os.getloadavg()
    for k in range(args.repeats):
        w, rss, _ = run([args.bin, "features", "--data", args.data, "--as-of", args.as_of, "--out", a_out], env)
        res["arsight"].append((w, rss))
        w, rss, out = run([sys.executable, "-c", DUCK_CHILD, sql, args.data, args.as_of, d_out, str(args.threads)])
        res["duckdb"].append((w, rss))
        print(f"run {k + 1}: arsight {res['arsight'][-1][0]:.2f}s {res['arsight'][-1][1]:.0f} MiB | "
              f"duckdb {w:.2f}s (query {float(out.split()[-1]):.2f}s) {rss:.0f} MiB", flush=True)
    med = {s: (statistics.median(x[0] for x in v), statistics.median(x[1] for x in v)) for s, v in res.items()}
    import pyarrow.parquet as pq
    n_inv = sum(pq.ParquetFile(os.path.join(args.data, "invoices", f)).metadata.num_rows
                for f in os.listdir(os.path.join(args.data, "invoices")) if f.endswith(".parquet"))
    summary = {
        "data": args.data, "as_of": args.as_of, "invoices": n_inv, "threads": args.threads, "repeats": args.repeats,
        "loadavg_before": load, "loadavg_after": os.getloadavg(),
        "arsight_median_s": round(med["arsight"][0], 3), "duckdb_median_s": round(med["duckdb"][0], 3),
        "ratio_arsight_over_duckdb": round(med["arsight"][0] / med["duckdb"][0], 3),
        "arsight_invoices_per_s": round(n_inv / med["arsight"][0]),
        "arsight_peak_rss_mib": round(med["arsight"][1]), "duckdb_peak_rss_mib": round(med["duckdb"][1]),
        "output_comparison": compare(a_out, d_out),
    }
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
