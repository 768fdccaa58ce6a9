"""Reference prediction service for the load benchmark: FastAPI + LightGBM.

What a data scientist would stand up next to arsight: the same customer behaviour
vectors (written by `arsight features` for the same data and as-of date), a few
invoice inputs computed per request, and LightGBM models of the same shape as
arsight's (payment-date p10/p50/p90: 60 trees x 15 leaves; three risk classifiers:
60 trees x 4 leaves by default, sizes read from arsight's manifests when present). Models are
trained at start on the customers' invoices (labels: days late), one thread each.

    python3 benches/fastapi_reference.py --data data/default --as-of 2024-12-31 --models models

Prints `listening on http://127.0.0.1:PORT` once it accepts requests. Serves
`GET /healthz` and `POST /v1/predictions` with arsight's request and reply shape
(new invoices of known customers; invoice ids alone are not supported).
"""

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
from datetime import date

import lightgbm as lgb
import numpy as np
import pandas as pd
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

ap = argparse.ArgumentParser()
ap.add_argument("--data", required=True)
ap.add_argument("--as-of", required=True)
ap.add_argument("--models", default="models")
ap.add_argument("--arsight", default=os.path.join("target", "release", "arsight"))
args = ap.parse_args()


def shape(kind, default_trees, default_leaves):
    try:
        cur = open(os.path.join(args.models, kind, "CURRENT")).read().strip()
        m = json.load(open(os.path.join(args.models, kind, cur, "manifest.json")))["hyperparameters"]
        return m["n_trees"], m["max_leaves"]
    except (OSError, KeyError, ValueError):
        return default_trees, default_leaves


tmp = tempfile.mkdtemp()
subprocess.run([args.arsight, "features", "--data", args.data, "--as-of", args.as_of, "--out", tmp],
               check=True, stdout=subprocess.DEVNULL)
cf = pd.read_parquet(os.path.join(tmp, "customer_features.parquet"))
cust_cols = [c for c in cf.columns if c != "customer_id" and pd.api.types.is_numeric_dtype(cf[c])]
vectors = {cid: row for cid, row in zip(cf["customer_id"], cf[cust_cols].to_numpy(dtype=np.float64))}

inv = pd.read_parquet(os.path.join(args.data, "invoices"))
inv = inv[inv["customer_id"].isin(vectors.keys())]
for c in ("invoice_date", "due_date", "paid_date"):
    inv[c] = pd.to_datetime(inv[c])
as_of = pd.Timestamp(args.as_of)
paid = inv[inv["paid_date"].notna() & (inv["paid_date"] <= as_of)].sample(n=min(50_000, len(inv)), random_state=1)


def invoice_inputs(amount, issue, due):
    terms = (due - issue).days
    return [amount, np.log1p(max(amount, 0.0)), terms, issue.month, issue.weekday(), due.day]


X = np.array([np.concatenate([vectors[c], invoice_inputs(float(a), i, d)])
              for c, a, i, d in zip(paid["customer_id"], paid["amount"], paid["invoice_date"], paid["due_date"])])
late = (paid["paid_date"] - paid["due_date"]).dt.days.to_numpy(dtype=np.float64)
p_trees, p_leaves = shape("payment_date", 60, 15)
r_trees, r_leaves = shape("risk", 60, 4)
common = dict(verbose=-1, num_threads=1, learning_rate=0.05, min_data_in_leaf=20)
models = {}
for name, obj in (("p10", dict(objective="quantile", alpha=0.1)), ("p50", dict(objective="l1")),
                  ("p90", dict(objective="quantile", alpha=0.9))):
    models[name] = lgb.train({**common, **obj, "num_leaves": p_leaves}, lgb.Dataset(X, late), p_trees)
for name, threshold in (("p_late", 0), ("p_late_30", 30), ("p_unpaid_90", 90)):
    y = (late > threshold).astype(float)
    if y.min() == y.max():
        y[0] = 1 - y[0]
    models[name] = lgb.train({**common, "objective": "binary", "num_leaves": r_leaves}, lgb.Dataset(X, y), r_trees)

app = FastAPI()


@app.get("/healthz")
def healthz():
    return "ok"


def problem(status, field, detail):
    return JSONResponse({"type": "about:blank", "status": status, "title": "invalid value", "detail": detail,
                         "field": field}, status_code=status, media_type="application/problem+json")


@app.post("/v1/predictions")
async def predictions(request: Request):
    try:
        body = json.loads(await request.body())
    except ValueError as e:
        return problem(400, None, str(e))
    items = body.get("invoices") if isinstance(body, dict) else None
    if not isinstance(items, list) or not 1 <= len(items) <= 10_000:
        return problem(422, "invoices", "should hold 1 to 10000 invoices")
    rows, dues = [], []
    for i, it in enumerate(items):
        v = vectors.get(it.get("customer_id"))
        if v is None:
            return problem(404, f"invoices[{i}].customer_id", "unknown customer")
        try:
            issue, due = date.fromisoformat(it["invoice_date"]), date.fromisoformat(it["due_date"])
            amount = float(it["amount"])
        except (KeyError, ValueError, TypeError) as e:
            return problem(422, f"invoices[{i}]", str(e))
        rows.append(np.concatenate([v, invoice_inputs(amount, issue, due)]))
        dues.append(due)
    x = np.vstack(rows)
    out = {k: m.predict(x) for k, m in models.items()}
    res = []
    for i, it in enumerate(items):
        q = sorted(out[k][i] for k in ("p10", "p50", "p90"))
        days = [dues[i].toordinal() + int(round(v)) for v in q]
        p = [float(out[k][i]) for k in ("p_late", "p_late_30", "p_unpaid_90")]
        res.append({
            "invoice_id": it.get("invoice_id"), "customer_id": it["customer_id"],
            "p10_paid_date": date.fromordinal(days[0]).isoformat(),
            "predicted_paid_date": date.fromordinal(days[1]).isoformat(),
            "p90_paid_date": date.fromordinal(days[2]).isoformat(),
            "p_late": p[0], "p_late_30": p[1], "p_unpaid_90": p[2],
            "risk_score": int(round(100 * (0.2 * p[0] + 0.3 * p[1] + 0.5 * p[2]))),
        })
    return {"predictions": res}


sock = socket.socket()
sock.bind(("127.0.0.1", 0))
port = sock.getsockname()[1]
sock.close()


class Announce(uvicorn.Server):
    async def startup(self, sockets=None):
        await super().startup(sockets)
        print(f"listening on http://127.0.0.1:{port}", flush=True)


Announce(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)).run()
sys.exit(0)
