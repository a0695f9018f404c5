"""Signal quality of a score against the forward return it is meant to rank: IC, Rank IC, ICIR.

A direction model's AUC says how often it orders up-moves above down-moves; a portfolio earns from how well
its score *ranks the names at one time* by what they will return. So, per decision time t (the cross-section
of tickers scored at t):

- IC_t: Pearson correlation, across the names scored at t, of the predicted probability and the forward
  return the label is built from (`forward_return`, steps/features: close[t+1+H] / close[t+1] - 1);
- Rank IC_t: the same on the ranks (Spearman; ties share their mean rank).

Over the periods: mean, standard deviation (ddof 1), ICIR = mean / std, t-statistic = mean / (std / sqrt(n))
and the share of periods with a positive IC. These are Qlib's definitions (`qlib.contrib.eva.alpha.calc_ic`
per datetime, ICIR = mean / std in its signal analysis), written with numpy/pandas here so the steps need no
Qlib. A period with fewer than two names, or where the scores or the returns are all equal, has no IC and is
left out (counted in `undefined_periods`). With two names an IC is +1 or -1: the mean is then the share of
times the pair was ordered right, rescaled to [-1, 1], which is coarse but not wrong.

Nothing here reads files: the evaluate and ensemble steps pass frames (steps/evaluate/signal.py).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

MIN_NAMES = 2


def utc_naive(ts: pd.Series | np.ndarray | pd.Index) -> np.ndarray:
    """datetime64[ns] in UTC without a zone: grouping on it is ~10x faster than on zoned Timestamp objects."""
    index = pd.DatetimeIndex(ts)
    return (index.tz_convert("UTC").tz_localize(None) if index.tz is not None else index).to_numpy()


def as_utc(index: pd.Index) -> pd.DatetimeIndex:
    """The inverse of `utc_naive` for a result's index."""
    return pd.DatetimeIndex(index).tz_localize("UTC").rename("ts")


def period_ic(ts: pd.Series | np.ndarray, scores: np.ndarray, forward_returns: np.ndarray) -> pd.DataFrame:
    """Per decision time: `ic`, `rank_ic` (NaN where undefined) and `names`, indexed and sorted by time.

    Rows whose score or forward return is missing are left out before anything is computed.
    """
    frame = pd.DataFrame({"ts": utc_naive(ts), "score": np.asarray(scores, dtype="float64"),
                          "ret": np.asarray(forward_returns, dtype="float64")})
    frame = frame[np.isfinite(frame["score"]) & np.isfinite(frame["ret"])]
    if frame.empty:
        return pd.DataFrame({"ic": [], "rank_ic": [], "names": []}, index=as_utc(pd.DatetimeIndex([])))
    groups = frame.groupby("ts", sort=True)
    frame["score_rank"] = groups["score"].rank(method="average")
    frame["ret_rank"] = groups["ret"].rank(method="average")
    out = pd.DataFrame({"ic": _grouped_pearson(frame, "score", "ret"),
                        "rank_ic": _grouped_pearson(frame, "score_rank", "ret_rank"),
                        "names": groups.size()})
    out.loc[out["names"] < MIN_NAMES, ["ic", "rank_ic"]] = np.nan
    out.index = as_utc(out.index)
    return out


def _grouped_pearson(frame: pd.DataFrame, x: str, y: str) -> pd.Series:
    """Pearson correlation of columns x and y within each `ts` (vectorised: one pass of group sums)."""
    groups = frame.groupby("ts", sort=True)
    dx = frame[x] - groups[x].transform("mean")
    dy = frame[y] - groups[y].transform("mean")
    sums = pd.DataFrame({"xy": dx * dy, "xx": dx * dx, "yy": dy * dy, "ts": frame["ts"]}).groupby("ts", sort=True).sum()
    denominator = np.sqrt(sums["xx"] * sums["yy"])
    # A constant score or return within a period (all names equal) has no correlation, not a zero one.
    tiny = 1e-12 * np.maximum(1.0, denominator)
    return (sums["xy"] / denominator).where(denominator > tiny)


def summarize(values: np.ndarray | pd.Series) -> dict[str, Any]:
    """mean, std (ddof 1), ICIR = mean / std, t_stat = mean / (std / sqrt(n)), share_positive, periods.

    Undefined figures are None (fewer than two periods, or no spread); NaN periods are not counted.
    """
    series = np.asarray(values, dtype="float64")
    defined = series[np.isfinite(series)]
    n = len(defined)
    mean = float(defined.mean()) if n else None
    std = float(defined.std(ddof=1)) if n > 1 else None
    ratio = mean / std if (std is not None and std > 0 and mean is not None) else None
    return {"mean": mean, "std": std, "icir": ratio,
            "t_stat": ratio * math.sqrt(n) if ratio is not None else None,
            "share_positive": float((defined > 0).mean()) if n else None,
            "periods": n, "undefined_periods": int(len(series) - n)}


def ic_summary(per_period: pd.DataFrame) -> dict[str, Any]:
    """Both summaries of a `period_ic` table, plus the median number of names per period."""
    names = per_period["names"] if len(per_period) else pd.Series([], dtype="float64")
    return {"ic": summarize(per_period["ic"]), "rank_ic": summarize(per_period["rank_ic"]),
            "median_names": float(names.median()) if len(names) else None}


def ic_by(per_period: pd.DataFrame, keys: pd.Series) -> dict[str, dict[str, Any]]:
    """`ic_summary` per key; `keys` is indexed like `per_period` (one key per decision time)."""
    return {str(key): ic_summary(per_period[keys == key]) for key in sorted(keys.dropna().unique())}


def quarter_of(ts: pd.Index | pd.Series) -> pd.Series:
    """'2024Q3' of each (UTC) timestamp, as the AUC tables name quarters."""
    naive = pd.DatetimeIndex(ts).tz_convert("UTC").tz_localize(None)
    return pd.Series(np.asarray(naive.to_period("Q").astype(str)), index=pd.Index(ts))


def market_volatility_regime(ts: pd.Series, volatility: pd.Series, index: pd.Index) -> pd.Series:
    """low / mid / high terciles, over the decision times in `index`, of the median realised volatility
    across the names at each time (a regime is a property of the market at t, so every name scored at t is
    in the same one; the volatility feature is known at t, so this looks at nothing later)."""
    median = pd.Series(np.asarray(volatility, dtype="float64"), index=utc_naive(ts)).groupby(level=0).median()
    median.index = as_utc(median.index)
    median = median.reindex(index)
    regime = pd.Series("unknown", index=index, dtype=object)
    known = median.notna()
    if known.sum() >= 3:
        regime[known] = pd.qcut(median[known].rank(method="first"), 3, labels=["low", "mid", "high"]).astype(str)
    return regime


def daily_means(per_period: pd.DataFrame, dates: pd.Series) -> dict[str, list]:
    """Mean IC and Rank IC per exchange date (the report's 'IC by period' chart): compact at any bar size."""
    if per_period.empty:
        return {"unit": "day", "dates": [], "ic": [], "rank_ic": []}
    daily = per_period[["ic", "rank_ic"]].groupby(dates.reindex(per_period.index).to_numpy()).mean()
    return {"unit": "day", "dates": [str(d) for d in daily.index],
            "ic": [_round(v) for v in daily["ic"]], "rank_ic": [_round(v) for v in daily["rank_ic"]]}


def _round(value: float) -> float | None:
    return round(float(value), 6) if np.isfinite(value) else None
