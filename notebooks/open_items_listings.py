"""Open-items listings of a ledger: what an aging report gives instead of paid dates.

Writes OUT/invoices/snapshot_date=YYYY-MM-DD/part-0.parquet every EVERY days from the
ledger's first issue day (7: weekly, 28: about monthly), each listing the invoices
issued by its day and not settled by then, without `paid_date`, `paid_amount` and
`disputed`; and OUT/truth/invoices/part-0.parquet, the same invoices with their paid
dates, for `listings_against_truth.py`. Payments and activities are left out, as an
aging report has none.

    arsight generate --out g7t --customers 600 --invoices 20000 --seed 7 --occasional-share 0.25 --mixed-terms
    python3 notebooks/open_items_listings.py g7t w7 7
    arsight backtest --data w7 --scored-rows scored.csv --cash-rows cash.csv

Needs pandas and pyarrow.
"""

import os
import shutil
import sys

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq


def main(src, out, every):
    t = ds.dataset(os.path.join(src, "invoices")).to_table().to_pandas()
    shutil.rmtree(out, ignore_errors=True)
    truth = os.path.join(out, "truth", "invoices")
    os.makedirs(truth)
    pq.write_table(pa.Table.from_pandas(t, preserve_index=False), os.path.join(truth, "part-0.parquet"))
    issued = pd.to_datetime(t["invoice_date"])
    paid = pd.to_datetime(t["paid_date"])
    cols = [c for c in t.columns if c not in ("paid_date", "paid_amount", "disputed")]
    day = issued.min() + pd.Timedelta(days=every - 1)
    last = max(issued.max(), paid.max())
    rows = listings = 0
    while day <= last + pd.Timedelta(days=every):
        open_then = (issued <= day) & (paid.isna() | (paid > day))
        folder = os.path.join(out, "invoices", f"snapshot_date={day.date()}")
        os.makedirs(folder)
        pq.write_table(pa.Table.from_pandas(t.loc[open_then, cols], preserve_index=False), os.path.join(folder, "part-0.parquet"))
        rows += int(open_then.sum())
        listings += 1
        day += pd.Timedelta(days=every)
    print(f"{listings} listings, {rows} rows, {len(t)} invoices -> {out}")


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
