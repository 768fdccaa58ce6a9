#!/usr/bin/env python3
"""GBDT training and prediction speed, arsight against LightGBM, side by side.

    cargo build --release --example gbdt_bench
    python3 benches/gbdt_vs_lightgbm.py [--threads 2] [--repeats 3]

Same data (200k train / 50k test rows x 30 features, 2% missing, non-linear target
with noise), same settings (500 trees, 31 leaves, learning rate 0.05, 255 bins,
min 20 rows per leaf, no L2 penalty, squared loss), same thread count; the two sides alternate in
one run and medians are reported. Scratch data goes to benches/tmp/ (git-ignored).
"""
import argparse
import json
import os
import statistics
import subprocess
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
TMP = os.path.join(HERE, "tmp")
BIN = os.path.join(HERE, "..", "target", "release", "examples", "gbdt_bench")


def make_data(seed=1):
    os.makedirs(TMP, exist_ok=True)
    rng = np.random.default_rng(seed)
    out = {}
    for name, n in [("train", 200_000), ("test", 50_000)]:
        if seed != 1:
            name = f"{name}_s{seed}"
        x = rng.normal(size=(n, 30))
        x[rng.random(x.shape) < 0.02] = np.nan
        z = np.nan_to_num(x)
        y = 3 * z[:, 0] + 2 * np.sin(2 * z[:, 1]) + z[:, 2] * z[:, 3] + np.where(z[:, 4] > 0.5, 4, 0) + 0.5 * z[:, 5] ** 2
        y = y + rng.normal(0, 1, n)
        for k, v in [("x", x), ("y", y)]:
            p = os.path.join(TMP, f"{k}_{name}.f64")
            v.astype("<f8").tofile(p)
            out[f"{k}_{name.split('_')[0]}"] = p
    return out


def ours(files, threads):
    args = [BIN, files["x_train"], files["y_train"], files["x_test"], files["y_test"], "30", "500", "31", "0.05"]
    r = subprocess.run(args, capture_output=True, text=True, check=True, env={**os.environ, "RAYON_NUM_THREADS": str(threads)})
    return json.loads(r.stdout)


def lightgbm(files, threads):
    import lightgbm as lgb

    x = np.fromfile(files["x_train"]).reshape(-1, 30)
    y = np.fromfile(files["y_train"])
    xt = np.fromfile(files["x_test"]).reshape(-1, 30)
    yt = np.fromfile(files["y_test"])
    params = dict(objective="regression", num_leaves=31, learning_rate=0.05, min_data_in_leaf=20, max_bin=255,
                  num_threads=threads, verbose=-1, seed=42)
    t = time.perf_counter()
    m = lgb.train(params, lgb.Dataset(x, y), 500)
    fit_s = time.perf_counter() - t
    t = time.perf_counter()
    p = m.predict(xt, num_threads=1)
    batch_s = time.perf_counter() - t
    lat = []
    for i in range(2000):
        row = xt[i : i + 1]
        t = time.perf_counter()
        m.predict(row, num_threads=1)
        lat.append(time.perf_counter() - t)
    lat.sort()
    return {"fit_s": fit_s, "mae": float(np.abs(p - yt).mean()), "batch_rows_per_s": len(yt) / batch_s,
            "row_p50_us": lat[len(lat) // 2] * 1e6}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--accuracy-seeds", type=int, default=0,
                    help="also compare test MAE on this many more data sets (seeds 2, 3, ...), one fit each")
    a = ap.parse_args()
    files = make_data()
    runs = {"arsight": [], "lightgbm": []}
    load = [os.getloadavg()[0]]
    for r in range(a.repeats):
        runs["arsight"].append(ours(files, a.threads))
        runs["lightgbm"].append(lightgbm(files, a.threads))
        load.append(os.getloadavg()[0])
        print(f"repeat {r + 1}: arsight fit {runs['arsight'][-1]['fit_s']:.2f}s, lightgbm fit {runs['lightgbm'][-1]['fit_s']:.2f}s")
    med = {k: {m: statistics.median(x[m] for x in v) for m in ["fit_s", "mae", "batch_rows_per_s", "row_p50_us"]} for k, v in runs.items()}
    a_, l_ = med["arsight"], med["lightgbm"]
    print(f"\nmedians over {a.repeats} alternating repeats, {a.threads} training threads, load average {min(load):.1f}-{max(load):.1f}")
    print("| | arsight | LightGBM | ratio |\n|---|---:|---:|---:|")
    print(f"| training 200k x 30, 500 trees (s) | {a_['fit_s']:.2f} | {l_['fit_s']:.2f} | {a_['fit_s'] / l_['fit_s']:.2f} |")
    print(f"| test MAE | {a_['mae']:.4f} | {l_['mae']:.4f} | {a_['mae'] / l_['mae']:.3f} |")
    print(f"| batch prediction, 1 thread (rows/s) | {a_['batch_rows_per_s']:,.0f} | {l_['batch_rows_per_s']:,.0f} | {a_['batch_rows_per_s'] / l_['batch_rows_per_s']:.2f} |")
    print(f"| single row p50 (µs; LightGBM through Python) | {a_['row_p50_us']:.2f} | {l_['row_p50_us']:.2f} | {a_['row_p50_us'] / l_['row_p50_us']:.2f} |")
    if a.accuracy_seeds:
        # One data set says little about accuracy: small changes to binning move
        # either side's MAE by ~0.5%. Same generator, other seeds.
        ratios = [a_["mae"] / l_["mae"]]
        print("\n| data seed | arsight MAE | LightGBM MAE | ratio |\n|---|---:|---:|---:|")
        print(f"| 1 | {a_['mae']:.4f} | {l_['mae']:.4f} | {ratios[0]:.3f} |")
        for seed in range(2, 2 + a.accuracy_seeds):
            f = make_data(seed)
            o, l = ours(f, a.threads)["mae"], lightgbm(f, a.threads)["mae"]
            ratios.append(o / l)
            print(f"| {seed} | {o:.4f} | {l:.4f} | {o / l:.3f} |")
        print(f"| median ratio | | | {statistics.median(ratios):.3f} |")


if __name__ == "__main__":
    main()
