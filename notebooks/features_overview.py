"""Summarise a feature directory written by `arsight features`.

    python3 notebooks/features_overview.py data/default-features
"""
import json
import sys

import pyarrow.parquet as pq

out = sys.argv[1] if len(sys.argv) > 1 else "data/default-features"
manifest = json.load(open(f"{out}/manifest.json"))
print(f"as of {manifest['as_of']}: {manifest['n_customers']} customers, {manifest['n_open_invoices']} open invoices")
cust = pq.read_table(f"{out}/customer_features.parquet").to_pandas()
print(cust.describe().T[["count", "mean", "50%", "max"]].to_string())
inv = pq.read_table(f"{out}/invoice_features.parquet").to_pandas()
print(inv.groupby("currency")["open_amount_base"].agg(["count", "sum"]).to_string())
