"""Paired comparisons of backtest figures over resamples of the as-of dates, shared by
`reference_backtest.py` (arsight against the LightGBM reference) and
`compare_backtests.py` (two arsight reports of one ledger)."""

import numpy as np
import pandas as pd

EPOCH = pd.Timestamp("1970-01-01")


def paired(ours, ref, stat, n=1000, seed=1):
    """`stat` of arsight minus `stat` of the reference, and the 5th and 95th percentiles
    of that difference over `n` resamples of the as-of dates both sides scored (both on
    the same resample; a date's rows go together). `ours`, `ref`: DataFrames with an
    `as_of` column; `stat` reads a DataFrame."""
    dates = np.intersect1d(ours["as_of"].unique(), ref["as_of"].unique())
    go, gr = dict(tuple(ours.groupby("as_of"))), dict(tuple(ref.groupby("as_of")))
    diff = lambda ks: stat(pd.concat([go[k] for k in ks])) - stat(pd.concat([gr[k] for k in ks]))
    rng = np.random.default_rng(seed)
    diffs = [diff(dates[rng.integers(0, len(dates), len(dates))]) for _ in range(n)]
    return diff(dates), np.percentile(diffs, [5, 95])


def weighted_by_date(method, score, weight, columns):
    """A backtest report method's per-date `score` (a field of `by_date`) with its
    `weight` field, for the dates that have it: a DataFrame with `columns` = as-of (days
    since 1970), score times weight, weight; a pool of dates is the sum of the second
    over the sum of the third, as the report pools them."""
    return pd.DataFrame([((pd.Timestamp(b["as_of"]) - EPOCH).days, b[score] * b[weight], b[weight])
                         for b in method["by_date"] if b.get(score) is not None], columns=columns)


def cash_by_date(method):
    """A backtest report method's cash CRPS by as-of date (those whose horizon the data
    covers): `as_of`, `crps_w` (CRPS times the date's amount) and `amount`, to pool with
    [`crps`]."""
    return weighted_by_date(method, "cash_crps_days", "cash_amount_base", ["as_of", "crps_w", "amount"])


def bands_by_date(method):
    """A backtest report method's weekly-band interval score by as-of date: `as_of`,
    `score_w` (the date's score times its weeks' inflow) and `inflow`, to pool with
    [`interval_score`]."""
    return weighted_by_date(method, "forecast_interval_score", "forecast_inflow", ["as_of", "score_w", "inflow"])


def interval_score(x):
    """The inflow-weighted interval score of the dates in `x` (rows of [`bands_by_date`])."""
    return x["score_w"].sum() / x["inflow"].sum()


def crps(x):
    """The amount-weighted CRPS of the dates in `x` (rows of [`cash_by_date`])."""
    return x["crps_w"].sum() / x["amount"].sum()
