#!/usr/bin/env python3
"""Reference backtest: what a data scientist builds in an afternoon with pandas and
LightGBM, under the same protocol as `arsight backtest`, run side by side with it.

    python3 benches/reference_backtest.py --data data/ibm [--arsight target/release/arsight] [--with-channel] [--with-master] [--params F] [--from DATE] [--every DAYS] [--json F] [--work DIR]

With --with-channel the reference also gets the invoice's delivery channel (the
contract's `channel` column, one indicator per channel) as a feature, as arsight does.
With --with-master it also gets the customers table's `segment` and `country` (one
indicator per value), as arsight's empirical model does.

Protocol (identical to `arsight backtest`, see src/models/backtest.rs):
- as-of dates D_k = T80 + 14k while D_k <= the last invoice date (T80: the invoice date
  by which 80% of invoices were issued);
- at D_k only invoices issued by D_k are visible, their paid_date only if <= D_k;
- models are retrained at every D_k: LightGBM L1 (p50), quantile 0.1 / 0.9 and binary
  (paid after due) on invoice features plus the customer's point-in-time history
  (settled invoices by the invoice's issue date);
- scored: invoices issued in (D_{k-1}, D_k] and open at D_k, settled by the end of the
  data; cash: every invoice open at D_k, amounts at the p50 date in weekly buckets
  over 13 weeks, WAPE pooled (weeks ending after the data's end are skipped when
  invoices are still open then).

Then both sides' figures get 90% intervals from resampling the as-of dates, and the
differences (arsight minus reference) of MAE, ROC-AUC, Brier and the protocol's cash
WAPE are resampled in pairs: arsight's rows come from `arsight backtest --scored-rows`
and `--cash-rows`, recomputed here and checked against its report.

Needs pandas, pyarrow, lightgbm (pip install pandas pyarrow lightgbm). Single thread
(num_threads=1) for both, as in CI.

--from and --every move the grid of as-of dates for both sides alike (the protocol's
default: T80 and 14 days), e.g. to read how much the figures owe to the phase of the
two-week grid; --json writes both sides' headline figures and the paired differences.
"""
import argparse
import json
import math
import os
import subprocess
import sys
import time

import numpy as np
import pandas as pd

try:
    import lightgbm as lgb
except ImportError:
    sys.exit("lightgbm is not installed: pip install lightgbm pandas pyarrow")

import backtest_pairs as pairs
from backtest_pairs import EPOCH


# Units of each currency per USD: the approximate table arsight uses by default
# (src/features/fx.rs), so both sides add amounts in the same base currency.
FX_PER_USD = {"USD": 1.0, "EUR": 0.92, "GBP": 0.79, "JPY": 150.0, "CAD": 1.36, "AUD": 1.52, "CHF": 0.88}


def fx_per_usd(df):
    if "currency" not in df.columns:
        return 1.0
    cur = df["currency"].fillna("USD").astype(str).str.upper()
    return cur.map(FX_PER_USD).fillna(1.0).to_numpy()


def load(data, with_channel=False, with_master=False):
    path = os.path.join(data, "invoices.parquet")
    if not os.path.exists(path):
        path = os.path.join(data, "invoices")
    df = pd.read_parquet(path)
    out = pd.DataFrame(
        {
            "customer_id": df["customer_id"].astype(str),
            "invoice_date": (pd.to_datetime(df["invoice_date"]) - EPOCH).dt.days,
            "due_date": (pd.to_datetime(df["due_date"]) - EPOCH).dt.days,
            "amount": df["amount"].astype(float) / fx_per_usd(df),
            "paid_date": (pd.to_datetime(df["paid_date"]) - EPOCH).dt.days,
        }
    )
    if with_channel and "channel" in df.columns:
        ch = df["channel"].fillna("").astype(str).str.strip().str.lower()
        for name in sorted(ch.unique()):
            out[f"channel_{name or 'none'}"] = (ch == name).astype(float).to_numpy()
    cust_path = os.path.join(data, "customers.parquet")
    if with_master and os.path.exists(cust_path):
        cust = pd.read_parquet(cust_path)
        cust = cust.assign(customer_id=cust["customer_id"].astype(str)).set_index("customer_id")
        for field in ["segment", "country"]:
            if field in cust.columns:
                v = out["customer_id"].map(cust[field]).fillna("").astype(str).str.strip()
                for name in sorted(v.unique()):
                    out[f"master_{field}_{name or 'none'}"] = (v == name).astype(float).to_numpy()
    out["paid_date"] = out["paid_date"].fillna(np.inf)
    return out.sort_values(["customer_id", "invoice_date"]).reset_index(drop=True)


def features(df, known_at):
    """Invoice features plus the customer's history known at each invoice's issue date
    (settlements dated on or before it), never later than `known_at`."""
    rows = []
    for _, g in df.groupby("customer_id", sort=False):
        issue = g["invoice_date"].to_numpy()
        due = g["due_date"].to_numpy()
        paid = g["paid_date"].to_numpy()
        for i in range(len(g)):
            t = min(issue[i], known_at)
            settled = (paid <= t) & (issue <= t)
            late = (paid - due)[settled]
            to_pay = (paid - issue)[settled]
            prior = issue < issue[i]
            open_now = (issue <= t) & (paid > t)
            rows.append(
                {
                    "n_prior": prior.sum(),
                    "n_settled": settled.sum(),
                    "late_mean": late.mean() if len(late) else np.nan,
                    "late_median": np.median(late) if len(late) else np.nan,
                    "late_std": late.std() if len(late) > 1 else np.nan,
                    "late_max": late.max() if len(late) else np.nan,
                    "share_late": (late > 0).mean() if len(late) else np.nan,
                    "late_last": late[np.argmax(paid[settled])] if len(late) else np.nan,
                    "to_pay_mean": to_pay.mean() if len(to_pay) else np.nan,
                    "n_open": open_now.sum(),
                }
            )
    f = pd.DataFrame(rows, index=df.index)
    for c in [c for c in df.columns if c.startswith(("channel_", "master_"))]:
        f[c] = df[c].to_numpy()
    f["log_amount"] = np.log1p(df["amount"].clip(lower=0))
    f["terms"] = df["due_date"] - df["invoice_date"]
    dates = EPOCH + pd.to_timedelta(df["invoice_date"], unit="D")
    f["month"] = dates.dt.month
    f["weekday"] = dates.dt.day_of_week
    return f


def auc(p, y):
    p, y = np.asarray(p), np.asarray(y, dtype=bool)
    pos, neg = y.sum(), (~y).sum()
    if pos == 0 or neg == 0:
        return float("nan")
    ranks = pd.Series(p).rank().to_numpy()
    return float((ranks[y].sum() - pos * (pos + 1) / 2) / (pos * neg))


def crps_of_quantiles(q, y, cap, levels=20):
    """CRPS of outcomes `y` under quantile functions through p10/p50/p90 (`q`, rows 0-2),
    linear between them and at the same slopes out to levels 0 and 1, quantiles and
    outcomes capped at `cap`: twice the mean pinball loss at the middles of `levels`
    equal steps (as arsight's backtest reads its own distributions)."""
    u = (np.arange(levels) + 0.5) / levels
    lo_slope = (q[1] - q[0]) / 0.4
    hi_slope = (q[2] - q[1]) / 0.4
    out = np.zeros(q.shape[1])
    y = np.minimum(y, cap)
    for t in u:
        if t <= 0.1:
            v = q[0] - (0.1 - t) * lo_slope
        elif t <= 0.5:
            v = q[0] + (t - 0.1) * lo_slope
        elif t <= 0.9:
            v = q[1] + (t - 0.5) * hi_slope
        else:
            v = q[2] + (t - 0.9) * hi_slope
        v = np.minimum(v, cap)
        out += np.where(y >= v, t * (y - v), (1 - t) * (v - y))
    return 2 * out / levels


def interval_score(lo, hi, y, alpha=0.2):
    """The interval score of central 1 - alpha intervals [lo, hi] (Gneiting and Raftery,
    2007), as arsight's report computes it: width plus 2 / alpha times the miss."""
    return (hi - lo) + 2 / alpha * (np.maximum(lo - y, 0) + np.maximum(y - hi, 0))


def t80(df):
    """The invoice date (days since 1970) by which 80% of `df`'s invoices were issued:
    the protocol's first as-of date."""
    dates = np.sort(df["invoice_date"].to_numpy())
    return int(dates[math.ceil(len(dates) * 0.8) - 1])


def reference(df, horizon_weeks=13, every=14, start=None):
    first = t80(df) if start is None else start
    as_of = list(range(first, int(df["invoice_date"].max()) + 1, every))
    data_end = int(np.where(np.isinf(df["paid_date"]), df["invoice_date"], df["paid_date"]).max())
    params = dict(verbose=-1, num_threads=1, learning_rate=0.05, num_leaves=15, min_data_in_leaf=20, seed=42)
    pool = {k: [] for k in ["pred", "lo", "hi", "actual", "p_late", "late", "date", "cust"]}
    cash_f, cash_a, cash_date, cash_w = [], [], [], []
    top = 7 * horizon_weeks + 1
    cash_score = {"crps": 0.0, "ae": 0.0, "amount": 0.0}
    cash_by_date = []
    n_scored = 0
    for k, d in enumerate(as_of):
        prev = d - every if k == 0 else as_of[k - 1]
        vis = df[df["invoice_date"] <= d].copy()
        vis["paid_known"] = np.where(vis["paid_date"] <= d, vis["paid_date"], np.inf)
        X = features(vis.assign(paid_date=vis["paid_known"]), d)
        settled = np.isfinite(vis["paid_known"]).to_numpy()
        y = (vis["paid_known"] - vis["due_date"]).to_numpy()
        models = {}
        for name, obj in [("p50", dict(objective="l1")), ("p10", dict(objective="quantile", alpha=0.1)), ("p90", dict(objective="quantile", alpha=0.9))]:
            models[name] = lgb.train({**params, **obj}, lgb.Dataset(X[settled], y[settled]), 200)
        lab = np.where(settled, y > 0, np.where(d > vis["due_date"], True, np.nan))
        known = ~pd.isna(lab)
        clf = lgb.train({**params, "objective": "binary"}, lgb.Dataset(X[known], lab[known].astype(float)), 200)

        open_at_d = ~settled
        scored = open_at_d & (vis["invoice_date"] > prev).to_numpy()
        xs = X[scored]
        if len(xs):
            p50 = models["p50"].predict(xs)
            q = np.sort(np.stack([models["p10"].predict(xs), p50, models["p90"].predict(xs)]), axis=0)
            due = vis["due_date"].to_numpy()[scored]
            actual = vis["paid_date"].to_numpy()[scored]
            pl = clf.predict(xs)
            pl = np.where(d > due, 1.0, pl)
            ok = np.isfinite(actual)
            n_scored += ok.sum()
            floor = d + 1
            pool["pred"] += list(np.maximum(np.round(due + q[1]), floor)[ok])
            pool["lo"] += list(np.maximum(np.round(due + q[0]), floor)[ok])
            pool["hi"] += list(np.maximum(np.round(due + q[2]), floor)[ok])
            pool["actual"] += list(actual[ok])
            pool["p_late"] += list(pl[ok])
            pool["late"] += list((actual > due)[ok])
            pool["date"] += [d] * int(ok.sum())
            pool["cust"] += list(vis["customer_id"].to_numpy()[scored][ok])
        # Cash: everything open at d, placed at the p50 date.
        xo = X[open_at_d]
        due_o = vis["due_date"].to_numpy()[open_at_d]
        amt = vis["amount"].to_numpy()[open_at_d]
        act = vis["paid_date"].to_numpy()[open_at_d]
        pred_day = np.maximum(np.round(due_o + models["p50"].predict(xo)), d + 1) if len(xo) else np.array([])
        complete = np.isfinite(act).all()
        if len(xo) and (complete or d + 7 * horizon_weeks <= data_end):
            # The open invoices scored one by one, as arsight's backtest does: days to
            # payment capped a day past the horizon, amount-weighted.
            y = np.minimum(act - d, top)
            qo = np.sort(np.stack([models[m].predict(xo) for m in ("p10", "p50", "p90")]), axis=0)
            qo = np.maximum(np.round(due_o + qo), d + 1) - d
            crps = float((amt * crps_of_quantiles(qo, y, top)).sum())
            cash_by_date.append((d, crps, float(amt.sum())))
            cash_score["crps"] += crps
            cash_score["ae"] += float((amt * np.abs(np.minimum(pred_day - d, top) - y)).sum())
            cash_score["amount"] += float(amt.sum())
        for w in range(1, horizon_weeks + 1):
            if not complete and d + 7 * w > data_end:
                break
            lo, hi = d + 7 * (w - 1), d + 7 * w
            cash_f.append(amt[(pred_day > lo) & (pred_day <= hi)].sum())
            cash_a.append(amt[(act > lo) & (act <= hi)].sum())
            cash_date.append(d)
            cash_w.append(w)
    pred, lo, hi, actual = (np.array(pool[k]) for k in ["pred", "lo", "hi", "actual"])
    err = np.abs(pred - actual)
    iscore = interval_score(lo, hi, actual)
    p_late, late = np.array(pool["p_late"]), np.array(pool["late"], dtype=bool)
    f, a = np.array(cash_f), np.array(cash_a)
    return {
        "method": "LightGBM reference (Python)"
        + (" + channel" if any(c.startswith("channel_") for c in df.columns) else "")
        + (" + segment, country" if any(c.startswith("master_") for c in df.columns) else ""),
        "as_of_dates": len(as_of),
        "n_scored": int(n_scored),
        "mae_days": float(err.mean()),
        "within_7d": float((err <= 7).mean()),
        "p10_p90_coverage": float(((actual >= lo) & (actual <= hi)).mean()),
        "p10_p90_interval_score_days": float(iscore.mean()),
        "late_roc_auc": auc(p_late, late),
        "late_brier": float(((p_late - late) ** 2).mean()),
        "wape": float(np.abs(f - a).sum() / a.sum()),
        "cash_crps_days": cash_score["crps"] / cash_score["amount"] if cash_score["amount"] else None,
        "cash_placement_ae_days": cash_score["ae"] / cash_score["amount"] if cash_score["amount"] else None,
        # Per as-of date, for resampling: scored rows' dates and errors, and the
        # protocol weeks' (date, forecast, actual).
        "scored_date": np.array(pool["date"]),
        "scored_cust": np.array(pool["cust"]),
        "abs_err": err,
        "iscore": iscore,
        "p_late": p_late,
        "late": late,
        "weeks": pd.DataFrame({"as_of": cash_date, "w": cash_w, "f": f, "a": a}),
        "cash_by_date": pd.DataFrame(cash_by_date, columns=["as_of", "crps_w", "amount"]),
    }


def arsight_weeks(rows_csv, horizon_weeks=13):
    """arsight's protocol weeks, recomputed from `arsight backtest --cash-rows`: every
    open invoice at its placed date: the p50 rounded to a day, on the customer's
    payment-run day where its settlements follow a calendar (`placed_days`)."""
    r = pd.read_csv(rows_csv)
    d = ((pd.to_datetime(r["as_of"]) - EPOCH).dt.days).to_numpy()
    place = r["placed_days"].to_numpy()
    paid = r["paid_after_days"].to_numpy()
    out = []
    for day in np.unique(d):
        m = d == day
        for w in range(1, horizon_weeks + 1):
            lo, hi = 7 * (w - 1), 7 * w
            amt = r["amount_base"].to_numpy()[m]
            out.append((day, w, amt[(place[m] > lo) & (place[m] <= hi)].sum(), amt[(paid[m] > lo) & (paid[m] <= hi)].sum()))
    return pd.DataFrame(out, columns=["as_of", "w", "f", "a"])


def arsight_scored(rows_csv):
    """arsight's scored invoices from `arsight backtest --scored-rows`, as day numbers."""
    r = pd.read_csv(rows_csv, dtype={"customer_id": str})
    day = lambda c: (pd.to_datetime(r[c]) - EPOCH).dt.days.to_numpy()
    return pd.DataFrame({"as_of": day("as_of"), "customer_id": r["customer_id"].to_numpy(),
                         "err": np.abs(day("p50_paid_date") - day("paid_date")),
                         "iscore": interval_score(day("p10_paid_date"), day("p90_paid_date"), day("paid_date")),
                         "p_late": r["p_late"].to_numpy(), "late": day("paid_date") > day("due_date")})


def without_history(df, rows):
    """True for the rows whose customer had no invoice settled by the row's as-of date."""
    first = df[np.isfinite(df["paid_date"])].groupby("customer_id")["paid_date"].min()
    return ~(rows["customer_id"].map(first).fillna(np.inf) <= rows["as_of"]).to_numpy()


def date_interval(by_date, stat, n=1000, seed=1):
    """5th and 95th percentiles of `stat` (of a list of per-date parts) over `n`
    resamples of the as-of dates in `by_date`."""
    keys = sorted(by_date)
    rng = np.random.default_rng(seed)
    return np.percentile([stat([by_date[keys[i]] for i in rng.integers(0, len(keys), len(keys))]) for _ in range(n)], [5, 95])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--arsight", default="target/release/arsight")
    ap.add_argument("--with-channel", action="store_true", help="give the reference the delivery channel too")
    ap.add_argument("--with-master", action="store_true",
                    help="give the reference the customers table's segment and country too (one-hot)")
    ap.add_argument("--params", help="model settings file passed to `arsight backtest --params`")
    ap.add_argument("--from", dest="start", help="first as-of date, YYYY-MM-DD (default: T80), for both sides")
    ap.add_argument("--every", type=int, default=14, help="days between as-of dates, for both sides (default 14)")
    ap.add_argument("--json", help="write both sides' headline figures and the paired differences here")
    ap.add_argument("--work", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "tmp"),
                    help="where arsight's report and rows go (default benches/tmp; one per run side by side)")
    args = ap.parse_args()
    df = load(args.data, args.with_channel, args.with_master)
    start = None if args.start is None else int((pd.Timestamp(args.start) - EPOCH).days)
    t = time.perf_counter()
    ref = reference(df, every=args.every, start=start)
    ref_s = time.perf_counter() - t
    out = os.path.join(args.work, "arsight_backtest.json")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    t = time.perf_counter()
    extra = ["--params", args.params] if args.params else []
    extra += ["--every", f"{args.every}d"] + (["--from", args.start] if args.start else [])
    rows = os.path.join(os.path.dirname(out), "arsight_cash_rows.csv")
    scored = os.path.join(os.path.dirname(out), "arsight_scored_rows.csv")
    subprocess.run([args.arsight, "backtest", "--data", args.data, "--out", out, "--cash-rows", rows,
                    "--scored-rows", scored, *extra], check=True,
                   stdout=subprocess.DEVNULL, env={**os.environ, "RAYON_NUM_THREADS": "1"})
    ours_s = time.perf_counter() - t
    report = json.load(open(out))
    print(f"{report['n_scored']} invoices scored by arsight over {len(report['as_of_dates'])} as-of dates; "
          f"reference: {ref['n_scored']} over {ref['as_of_dates']}\n")
    print("| method | MAE d | ±7 d | p10–p90 cov. | late ROC-AUC | Brier | WAPE 13 wk | forecast WAPE | forecast weeks in p10–p90 | forecast daily WAPE 4 wk | time s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for i, m in enumerate(report["methods"]):
        cov = "—" if m["p10_p90_coverage"] is None else f"{100 * m['p10_p90_coverage']:.1f}%"
        tm = f"{ours_s:.1f}" if i == 0 else ""
        fw = m.get("forecast_wape")
        fc = m.get("forecast_interval_coverage")
        fd = m.get("forecast_daily_wape")
        fw = "—" if fw is None else f"{fw:.3f}"
        fc = "—" if fc is None else f"{100 * fc:.1f}%"
        fd = "—" if fd is None else f"{fd:.3f}"
        print(f"| {m['method']} | {m['mae_days']:.2f} | {100 * m['within_7d']:.1f}% | {cov} | {m['late_roc_auc']:.3f} | "
              f"{m['late_brier']:.3f} | {m['wape']:.3f} | {fw} | {fc} | {fd} | {tm} |")
    print(f"| {ref['method']} | {ref['mae_days']:.2f} | {100 * ref['within_7d']:.1f}% | {100 * ref['p10_p90_coverage']:.1f}% | "
          f"{ref['late_roc_auc']:.3f} | {ref['late_brier']:.3f} | {ref['wape']:.3f} | — | — | — | {ref_s:.1f} |")
    right = report["methods"][0].get("wape_if_right")
    if right:
        print(f"\narsight's WAPE 13 wk were its distributions right (outcomes drawn from them): {right['median']:.3f} "
              f"({right['p5_p95'][0]:.3f}–{right['p5_p95'][1]:.3f} in 90% of draws; "
              f"{100 * right['share_at_or_below_actual']:.0f}% of draws at or below its actual {report['methods'][0]['wape']:.3f})")

    fmt = lambda v: "—" if v is None else f"{v:.2f}"
    model0 = report["methods"][0]
    print("\nScored invoices' p10–p90 paid dates, 80% interval score (width plus ten times the days outside; "
          f"lower is better), days: arsight {fmt(model0.get('p10_p90_interval_score_days'))}, "
          f"reference {fmt(ref['p10_p90_interval_score_days'])}")
    print("\nCash distributions invoice by invoice (open invoices of the as-of dates whose horizon the data covers, "
          "amount-weighted, days to payment capped a day past the horizon), CRPS / placements' absolute error, days: "
          f"arsight {fmt(model0.get('cash_crps_days'))} / {fmt(model0.get('cash_placement_ae_days'))}, "
          f"reference {fmt(ref['cash_crps_days'])} / {fmt(ref['cash_placement_ae_days'])}")

    # How far each figure would move with other as-of dates, and whether the gaps
    # between the two sides are larger than that.
    iv = report["methods"][0].get("intervals", {})
    rng_of = lambda v, f: "—" if v is None else f"{f(v[0])}–{f(v[1])}"
    ref_rows = pd.DataFrame({"as_of": ref["scored_date"], "customer_id": ref["scored_cust"], "err": ref["abs_err"],
                             "iscore": ref["iscore"], "p_late": ref["p_late"], "late": ref["late"]})
    mae = lambda x: x["err"].mean()
    iscore = lambda x: x["iscore"].mean()
    roc = lambda x: auc(x["p_late"], x["late"])
    brier = lambda x: ((x["p_late"] - x["late"]) ** 2).mean()
    wape = lambda x: np.abs(x["f"] - x["a"]).sum() / x["a"].sum()
    dates = lambda df: {d: g for d, g in df.groupby("as_of")}
    ref_mae = date_interval(dates(ref_rows), lambda parts: mae(pd.concat(parts)))
    ref_wape = date_interval(dates(ref["weeks"]), lambda parts: wape(pd.concat(parts)))
    print("\n90% intervals from 1,000 resamples of the as-of dates\n")
    print("| method | MAE d | WAPE 13 wk |\n|---|---:|---:|")
    print(f"| {report['methods'][0]['method']} | {rng_of(iv.get('mae_days'), lambda x: f'{x:.2f}')} | "
          f"{rng_of(iv.get('wape'), lambda x: f'{x:.3f}')} |")
    print(f"| {ref['method']} | {ref_mae[0]:.2f}–{ref_mae[1]:.2f} | {ref_wape[0]:.3f}–{ref_wape[1]:.3f} |")

    ours_rows, ours_weeks = arsight_scored(scored), arsight_weeks(rows)
    ours_weeks = ours_weeks.merge(ref["weeks"][["as_of", "w"]], on=["as_of", "w"])
    model = report["methods"][0]
    for name, again, said in [("MAE", mae(ours_rows), model["mae_days"]), ("WAPE", wape(ours_weeks), model["wape"]),
                              ("interval score", iscore(ours_rows), model["p10_p90_interval_score_days"])]:
        if abs(again - said) > 1e-3:
            print(f"\nwarning: arsight's {name} recomputed from its rows is {again:.4f}, its report says {said:.4f}")
    ours_cash = pairs.cash_by_date(model)
    print("\narsight minus the reference, on the same resamples of the as-of dates\n")
    print("| figure | difference | 90% of resamples |\n|---|---:|---:|")
    headline = ["mae_days", "within_7d", "p10_p90_coverage", "p10_p90_interval_score_days", "late_roc_auc",
                "late_brier", "wape", "cash_crps_days"]
    summary = {"as_of_dates": report["as_of_dates"], "n_scored": [report["n_scored"], int(ref["n_scored"])],
               "arsight": {k: model.get(k) for k in headline + ["wape_4w", "forecast_wape"]},
               "reference": {k: ref[k] for k in headline}, "paired": {}}
    for name, o, r, f, digits in [("MAE d", ours_rows, ref_rows, mae, 2),
                                  ("p10–p90 interval score d", ours_rows, ref_rows, iscore, 2),
                                  ("late ROC-AUC", ours_rows, ref_rows, roc, 3),
                                  ("Brier", ours_rows, ref_rows, brier, 3), ("WAPE 13 wk", ours_weeks, ref["weeks"], wape, 3),
                                  ("cash CRPS d", ours_cash, ref["cash_by_date"], pairs.crps, 2)]:
        if len(o) == 0 or len(r) == 0:
            continue
        d, (lo, hi) = pairs.paired(o, r, f)
        summary["paired"][name] = [float(d), float(lo), float(hi)]
        print(f"| {name} | {d:+.{digits}f} | {lo:+.{digits}f} to {hi:+.{digits}f} |")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(summary, fh, indent=1)

    # Invoices of customers with no settled invoice at the as-of date apart.
    print("\nBy the customer's history at the as-of date (arsight / reference)\n")
    print("| customers | invoices | MAE d | late ROC-AUC | Brier |\n|---|---:|---:|---:|---:|")
    cold_o, cold_r = without_history(df, ours_rows), without_history(df, ref_rows)
    for name, mo, mr in [("with settled invoices", ~cold_o, ~cold_r), ("without", cold_o, cold_r)]:
        o, r = ours_rows[mo], ref_rows[mr]
        if len(o) == 0:
            continue
        both = lambda f, digits: f"{f(o):.{digits}f} / {f(r):.{digits}f}"
        print(f"| {name} | {len(o)} / {len(r)} | {both(mae, 2)} | {both(roc, 3)} | {both(brier, 3)} |")


if __name__ == "__main__":
    main()
