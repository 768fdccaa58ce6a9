"""Reading the CSV that `arsight backtest --data DIR --cash-rows rows.csv` writes, shared
by the notebooks that analyse it. Standard library only."""

import csv
import datetime as dt


def known_rows(path, days=None):
    """The rows, the cash model's horizon in days (`cap_days`), and the rows of the
    as-of dates whose first `days` (default the horizon) lie wholly before the end of
    the data as the rows tell it (the latest payment seen), so that every outcome in
    that span is known: `(rows, cap, known)`."""
    rows = list(csv.DictReader(open(path, newline="")))
    if not rows:
        return rows, None, []
    day = dt.date.fromisoformat
    end = max(day(r["as_of"]) + dt.timedelta(days=int(r["paid_after_days"]))
              for r in rows if r["paid_after_days"])
    cap = float(rows[0]["cap_days"])
    span = dt.timedelta(days=cap if days is None else days)
    return rows, cap, [r for r in rows if day(r["as_of"]) + span <= end]


def paid_by(r, limit):
    """Whether the row's invoice was paid within `limit` days of its as-of date."""
    p = r["paid_after_days"]
    return p != "" and int(p) <= limit


def amount_by_fifth(rows):
    """The rows' amount paid at each fifth of the levels of its distribution (the
    `paid_level` column; rows unpaid within the horizon count in none)."""
    fifths = [0.0] * 5
    for r in rows:
        if r.get("paid_level", "") != "":
            fifths[min(int(float(r["paid_level"]) * 5), 4)] += float(r["amount_base"])
    return fifths
