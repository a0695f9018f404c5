"""truncation_invariance: features recomputed from inputs cut at random instants equal the full computation
on every row at or before the cut (a look-ahead in the *code* changes them). With the cut-offs and tickers it
samples, and `bars_where`, which the other runs use to cut bars too."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd
import polars as pl

from steps.features.catalogue import feature_columns
from steps.features.settings import FeatureSettings
from steps.leaks.checks.common import Bars, CheckResult
from steps.leaks.compare import compare_frames

BuildFn = Callable[..., pd.DataFrame]


def choose_cutoffs(frame: pd.DataFrame, count: int, seed: int) -> list[pd.Timestamp]:
    """`count` distinct decision instants between the 5th and 95th percentile of the rows' times."""
    instants = np.sort(frame["ts"].unique())
    if len(instants) < 3 or count < 1:
        return []
    low, high = int(len(instants) * 0.05), max(int(len(instants) * 0.95), 1)
    pool = instants[low:high]
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(pool), size=min(count, len(pool)), replace=False)
    return [pd.Timestamp(pool[i]).tz_localize("UTC") if pd.Timestamp(pool[i]).tzinfo is None
            else pd.Timestamp(pool[i]) for i in sorted(chosen)]


def bars_where(bars: Bars, *, tickers: list[str] | None = None, until: pd.Timestamp | None = None) -> Bars:
    """The bars of `tickers` (all when None) with ts <= `until` (all when None), in the input's own type."""
    if isinstance(bars, pl.DataFrame):
        if tickers is not None:
            bars = bars.filter(pl.col("ticker").is_in(tickers))
        if until is None:
            return bars
        instant = pl.lit(pd.Timestamp(until).tz_convert("UTC").value).cast(pl.Datetime("ns", "UTC"))
        return bars.filter(pl.col("ts").dt.convert_time_zone("UTC") <= instant)
    if tickers is not None:
        bars = bars[bars["ticker"].isin(tickers)]
    return bars if until is None else bars[bars["ts"] <= until]


def choose_tickers(bars: Bars, count: int, seed: int, sectors: Mapping[str, str] | None = None) -> list[str] | None:
    """`count` tickers drawn at random (None: all of them, when count is 0 or covers the universe).

    With sectors, as many as possible come in pairs from one sector: a ticker alone in its sector of the
    sample has no peer whose later bars a sector feature could read, so a look-ahead across a sector's
    tickers only shows on a sample that holds two of them (tests/steps/test_leaks.py plants one)."""
    tickers = np.sort(np.asarray(bars["ticker"].unique(), dtype=object))
    if count <= 0 or count >= len(tickers):
        return None
    rng = np.random.default_rng(seed)
    chosen: list[str] = []
    if sectors:
        members: dict[str, list[str]] = {}
        for ticker in tickers:
            members.setdefault(sectors.get(ticker, "Unknown"), []).append(str(ticker))
        shared = [sector for sector in sorted(members) if len(members[sector]) >= 2]
        for position in rng.permutation(len(shared)):
            if len(chosen) + 2 > count:
                break
            chosen += rng.choice(members[shared[position]], size=2, replace=False).tolist()
    rest = [str(t) for t in tickers if t not in chosen]
    chosen += rng.choice(rest, size=count - len(chosen), replace=False).tolist()
    return sorted(chosen)


def truncation_invariance(full: pd.DataFrame | None, bars: Bars, tweets: pd.DataFrame,
                          settings: FeatureSettings, sectors: Mapping[str, str] | None,
                          cutoffs: list[pd.Timestamp], build: BuildFn,
                          tickers: list[str] | None = None) -> CheckResult:
    """Features from inputs cut at each cut-off equal the full computation at or before it.

    With `tickers`, both computations run on those tickers alone (cross-sectional features then refer to
    that sub-universe in both, so the comparison stays exact): the cost is the sample's share of one build
    per cut-off instead of the whole universe's. `full` is the full computation on the same tickers.
    """
    columns = feature_columns(settings)
    if tickers is not None:
        bars = bars_where(bars, tickers=tickers)
        tweets = tweets[tweets["ticker"].isin(tickers)] if len(tweets) else tweets
        full = None
    if full is None:
        full = build(bars, tweets, settings, sectors=sectors, keep_unlabelled=True, threads=1)
    bad_columns: dict[str, dict[str, object]] = {}
    row_problems = []
    compared = 0
    # A tweet is part of the data at the cut-off once it could have been ingested: created_at + lag <= cut-off.
    available = tweets["created_at"] + pd.Timedelta(seconds=settings.ingest_lag_seconds) if len(tweets) else None
    for cutoff in cutoffs:
        kept_tweets = tweets[available <= cutoff] if available is not None else tweets
        truncated = build(bars_where(bars, until=cutoff), kept_tweets, settings, sectors=sectors,
                          keep_unlabelled=True, threads=1)  # one core: the full recomputation has the others
        before_full = full[full["ts"] <= cutoff]
        before_cut = truncated[truncated["ts"] <= cutoff]
        if len(before_full) != len(before_cut):
            row_problems.append(f"cut-off {cutoff}: {len(before_full)} rows in the full computation, "
                                f"{len(before_cut)} after truncation")
        compared += len(before_cut)
        for column, problem in compare_frames(before_full, before_cut, columns).items():
            problem["cutoff"] = str(cutoff)
            bad_columns.setdefault(column, problem)
    passed = not bad_columns and not row_problems
    scope = f"{len(tickers)} sampled tickers ({', '.join(tickers)})" if tickers is not None else "all tickers"
    if passed:
        details = (f"{len(cutoffs)} cut-offs, {compared} rows at or before them on {scope}: every feature equals "
                   "the full computation")
    else:
        parts = [f"{c} differs on {p['rows']} rows (first {p['example']}, cut-off {p['cutoff']})"
                 for c, p in bad_columns.items()]
        details = "features change when later data is removed (look-ahead in the code): " + "; ".join(
            parts + row_problems)
    return CheckResult("truncation_invariance", passed, details, sorted(bad_columns),
                       {"cutoffs": [str(c) for c in cutoffs], "rows_compared": compared, "tickers": tickers})
