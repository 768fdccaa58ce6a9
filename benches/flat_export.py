"""Writes a contract directory's invoices as a flat ERP open-items export: one CSV row
per invoice, cleared or open, in the shape `examples/mappings/erp-open-items.toml`
reads (numeric baseline and due dates with a trailing ".0", date-time clearing dates,
float document numbers, the payment terms as a code), with 50 rows repeated as such
exports often have them. Nothing else of the directory goes along (no payments,
activities or customers table, no channel): what a ledger holding only an invoice
table gives arsight to work with.

    python3 benches/flat_export.py --data DIR --out open_items.csv
    arsight import --input open_items.csv --mapping examples/mappings/erp-open-items.toml --out FLAT
    python3 benches/reference_backtest.py --data FLAT

pandas and pyarrow.
"""

import argparse

import numpy as np
import pandas as pd
import pyarrow.dataset as ds


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--duplicates", type=int, default=50)
    a = ap.parse_args()
    t = ds.dataset(f"{a.data}/invoices").to_table().to_pandas()

    def numeric(d):
        return "" if pd.isna(d) else pd.Timestamp(d).strftime("%Y%m%d") + ".0"

    doc = [f"{1930000000 + i}.0" for i in range(len(t))]
    terms = (pd.to_datetime(t["due_date"]) - pd.to_datetime(t["invoice_date"])).dt.days
    out = pd.DataFrame(
        {
            "business_code": "U001",
            "cust_number": t["customer_id"],
            "clear_date": ["" if pd.isna(d) else pd.Timestamp(d).strftime("%Y-%m-%d 00:00:00") for d in t["paid_date"]],
            "doc_id": doc,
            "posting_date": [pd.Timestamp(d).strftime("%Y-%m-%d") for d in t["invoice_date"]],
            "due_in_date": [numeric(d) for d in t["due_date"]],
            "invoice_currency": t["currency"],
            "document type": "RV",
            "total_open_amount": [f"{float(x):.2f}" for x in t["amount"]],
            "baseline_create_date": [numeric(d) for d in t["invoice_date"]],
            "cust_payment_terms": [f"N{x:03d}" for x in terms],
            "invoice_id": doc,
            "isOpen": [int(pd.isna(d)) for d in t["paid_date"]],
        }
    )
    dup = out.sample(min(a.duplicates, len(out)), random_state=1)
    out = pd.concat([out, dup]).sample(frac=1, random_state=np.random.RandomState(2))
    out.to_csv(a.out, index=False)
    print(f"{len(out)} rows ({len(dup)} repeated) written to {a.out}")


if __name__ == "__main__":
    main()
