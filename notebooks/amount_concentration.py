"""How concentrated a ledger's invoice amounts are: the share of the amount carried by
the largest 1% of invoices and by the largest tenth of the customers, per currency
(amounts in one currency add up without rates).

    python3 notebooks/amount_concentration.py DIR [DIR ...]

Reads DIR/invoices (a file or a folder of Parquet parts) with pyarrow and pandas.
"""

import sys

import pandas as pd


def shares(inv):
    a = inv["amount"].astype(float)
    top_invoices = a.sort_values(ascending=False)
    top_invoices = top_invoices.head(max(len(a) // 100, 1)).sum() / a.sum()
    by_customer = a.groupby(inv["customer_id"]).sum().sort_values(ascending=False)
    top_customers = by_customer.head(max(len(by_customer) // 10, 1)).sum() / by_customer.sum()
    return top_invoices, top_customers


def main(dirs):
    print("| data | currency | invoices | largest 1% of invoices | largest tenth of customers |")
    print("|---|---|---:|---:|---:|")
    for d in dirs:
        inv = pd.read_parquet(f"{d}/invoices", columns=["customer_id", "amount", "currency"])
        for cur, g in sorted(inv.groupby("currency"), key=lambda x: -len(x[1])):
            i, c = shares(g)
            print(f"| {d} | {cur} | {len(g)} | {100 * i:.0f}% | {100 * c:.0f}% |")


if __name__ == "__main__":
    main(sys.argv[1:])
