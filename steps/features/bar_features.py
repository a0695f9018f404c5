"""Technical features per ticker, every window trailing (it ends at the bar's close).

Bars arrive sorted by (ticker, ts) as flat numpy arrays; each ticker is a contiguous slice. Windows never
cross tickers (a value needs `pos >= w` bars of its own ticker, else it is NaN), and a ticker's values do
not depend on other tickers, so a shard of tickers gives the values the whole universe gives. A value at t
is computed only from bars at or before t, so truncating the input after t changes nothing at or before t
(steps.leaks checks this).

Why numpy prefix sums and not a TA library or pandas/polars rolling windows: every windowed *sum* here
(squared returns, volume, price x volume, gains, losses, closes) is read from one per-ticker prefix sum
for every window at once, and only at the decision rows (one bar in `sample_every_bars`); rolling max/min
use a doubling table (exact); EMAs are one `scipy.signal.lfilter` per ticker; rolling standard deviations
use polars' `rolling_std`, which stays accurate (~1e-13 relative) where a prefix-sum variance would lose
digits to cancellation. Measured against pandas/polars windows per ticker and against `ta` and TA-Lib in
docs/performance.md ("Features"); matches the slow reference loops in tests/steps/test_features*.py to
~1e-11 relative (the prefix sums of non-negative terms lose at most ~n/w ulps).

Windows (`settings.windows`, in bars: minutes for 1-minute bars, sessions for daily bars), for window w:
- ret_w: log(close[t] / close[t-w]);  ret_daily: log(close[t] / previous session's last close)
- vol_w: sqrt(sum of squared 1-bar log returns over the last w bars) (realised volatility)
- range_w: log(max high / min low) over the last w bars
- volume_z_w: (volume - mean) / std (ddof 0) over the last w bars; 0 when std <= 1e-12 x mean
- vwap_dev_w: log(close / VWAP of the last w bars), VWAP on the typical price (h + l + c) / 3
- rsi_w: Cutler's RSI, 100 * gains / (gains + losses) over the last w changes (50 if flat); rsi_14 too
- macd_w: (EMA_f(close) - EMA_s(close)) / close with spans f = w, s = round(26 w / 12) (12/26/9 scaled);
  macd_hist_w: (MACD line - EMA_g(MACD line)) / close, g = max(2, round(9 w / 12)). EMAs: adjust=False,
  started at the ticker's first bar (y0 = x0, y_t = (1 - a) y_{t-1} + a x_t, a = 2 / (span + 1))
- bb_pctb_w: Bollinger %b, (close - (mean - 2 sd)) / (4 sd) over the last w closes (ddof 0); 0.5 if sd is 0
Daily indicators (1-minute bars only): the same eight families with suffix `daily`, computed on the
ticker's daily bars (one per session: first open, max high, min low, last close, summed volume) over the
last `daily_window` *completed* sessions, i.e. known from the session's first bar on.
Session features (sessions are New York calendar dates):
- gap_overnight: log(session's first open / previous session's last close)
- prev_day_return: log(previous session's close / the session before's close)
- prev_day_range: log(previous session's high / its low)
Cross-sectional (build.py, at the decision rows): mkt_rel_ret_w and sec_rel_ret_w.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import polars as pl
from scipy.signal import lfilter

from steps.features.settings import FeatureSettings

MARKET_TZ = "America/New_York"
BOLLINGER_K = 2.0
ZERO_STD = 1e-12
MINUTE_NS = 60_000_000_000
DAY_NS = 86_400_000_000_000
FAMILIES = ("vol", "range", "volume_z", "vwap_dev", "rsi", "macd", "macd_hist", "bb_pctb")


def macd_spans(window: int) -> tuple[int, int, int]:
    """Fast, slow and signal spans of the MACD at `window`: 12/26/9 scaled so that fast = window."""
    return window, max(window + 1, round(26 * window / 12)), max(2, round(9 * window / 12))


def bar_feature_names(settings: FeatureSettings) -> list[str]:
    suffixes = [str(w) for w in settings.windows]
    if settings.frequency == "1min":
        suffixes.append("daily")
    names = [f"ret_{w}" for w in settings.windows] + ["ret_daily"]
    for family in FAMILIES:
        names += [f"{family}_{suffix}" for suffix in suffixes]
    if settings.rsi_period not in settings.windows:
        names.append(f"rsi_{settings.rsi_period}")
    names += ["gap_overnight", "prev_day_return", "prev_day_range"]
    names += relative_feature_names(settings)
    return names


def relative_feature_names(settings: FeatureSettings) -> list[str]:
    return [f"mkt_rel_ret_{w}" for w in settings.windows] + [f"sec_rel_ret_{w}" for w in settings.windows]


class TickerLayout:
    """Contiguous ticker slices of arrays sorted by (ticker, ts): starts, stops, and each row's position."""

    def __init__(self, ticker_id: np.ndarray) -> None:
        n = len(ticker_id)
        self.ticker_id = ticker_id
        self.starts = np.flatnonzero(np.r_[True, ticker_id[1:] != ticker_id[:-1]]) if n else np.zeros(0, "int64")
        self.stops = np.r_[self.starts[1:], n].astype("int64")
        self.pos = np.arange(n) - np.repeat(self.starts, self.stops - self.starts)

    def prefix(self, values: np.ndarray) -> np.ndarray:
        """Per-ticker running sum, restarted at each ticker: P[i] = sum of values[start..i]."""
        out = np.empty(len(values), dtype="float64")
        for a, b in zip(self.starts, self.stops, strict=True):
            np.cumsum(values[a:b], out=out[a:b])
        return out

    def window_sum(self, prefix: np.ndarray, at: np.ndarray | None, w: int) -> np.ndarray:
        """Sum of the last w values ending at rows `at` (None: every row); NaN where the ticker has fewer
        than w rows."""
        if at is None:  # every row: shifted slices instead of gathers
            before = np.zeros(len(prefix))
            before[w:] = prefix[:-w] if w < len(prefix) else before[w:]
            out = prefix - np.where(self.pos >= w, before, 0.0)
            out[self.pos < w - 1] = np.nan
            return out
        pos = self.pos[at]
        before = np.where(pos >= w, prefix[np.maximum(at - w, 0)], 0.0)
        return np.where(pos >= w - 1, prefix[at] - before, np.nan)

    def ema(self, values: np.ndarray, span: int) -> np.ndarray:
        """EMA (adjust=False) per ticker, started at the ticker's first value."""
        alpha = 2.0 / (span + 1.0)
        out = np.empty(len(values), dtype="float64")
        for a, b in zip(self.starts, self.stops, strict=True):
            out[a] = values[a]
            if b - a > 1:
                out[a + 1:b], _ = lfilter([alpha], [1.0, alpha - 1.0], values[a + 1:b], zi=[(1.0 - alpha) * values[a]])
        return out


def _rolling_extreme(values: np.ndarray, windows: list[int], at: np.ndarray, ufunc: np.ufunc) -> dict[int, np.ndarray]:
    """max/min over the last w rows ending at `at`, from a doubling table (level k covers 2**k rows).

    Rows of an earlier ticker may enter the first w - 1 rows of a ticker; those rows are masked by the
    caller (pos >= w - 1), so the windows that are kept never cross tickers."""
    needed = {w: int(np.log2(w)) for w in windows}
    out: dict[int, np.ndarray] = {}
    level, span = values, 1
    for k in range(max(needed.values(), default=-1) + 1):
        if k > 0:
            half = span // 2
            doubled = np.empty_like(level)
            doubled[:half] = level[:half]
            ufunc(level[half:], level[:-half], out=doubled[half:])
            level = doubled
        for w, kk in needed.items():
            if kk == k:
                out[w] = ufunc(level[at], level[np.maximum(at - (w - span), 0)])
        span *= 2
    return out


def _rolling_std(columns: dict[str, np.ndarray], windows: list[int],
                 layout: TickerLayout) -> dict[tuple[str, int], np.ndarray]:
    """Population std over the last w rows of the ticker, for every row: polars' rolling_std (accurate where
    a prefix-sum variance cancels), run on each ticker's slice so that no rounding state crosses tickers."""
    frame = pl.DataFrame(columns)
    exprs = [pl.col(name).rolling_std(w, min_samples=w, ddof=0).alias(f"{name}_{w}")
             for name in columns for w in windows]
    parts = [frame.slice(int(a), int(b - a)).lazy().select(exprs)
             for a, b in zip(layout.starts, layout.stops, strict=True)]
    result = pl.concat(parts).collect() if parts else frame.select(exprs)
    return {(name, w): result[f"{name}_{w}"].to_numpy() for name in columns for w in windows}


def _ratio(numerator: np.ndarray, denominator: np.ndarray, when_zero: float, zero: np.ndarray | float = 0.0
           ) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        value = numerator / denominator
    return np.where(np.isnan(denominator), np.nan, np.where(denominator > zero, value, when_zero))


def indicators(arrays: dict[str, np.ndarray], layout: TickerLayout, at: np.ndarray,
               windows: list[tuple[str, int]], rsi_windows: list[tuple[str, int]],
               std: Callable[..., dict[tuple[str, int], np.ndarray]] = _rolling_std) -> dict[str, np.ndarray]:
    """The eight indicator families at rows `at` for the (suffix, w) windows, plus RSI at `rsi_windows`."""
    close, high, low, volume = arrays["close"], arrays["high"], arrays["low"], arrays["volume"]
    pos = layout.pos[at]
    first = layout.pos == 0
    log_close = np.log(close)
    one_bar = np.where(first, 0.0, log_close - np.r_[log_close[:1], log_close[:-1]])
    change = np.where(first, 0.0, close - np.r_[close[:1], close[:-1]])
    sizes = [w for _, w in windows]
    out: dict[str, np.ndarray] = {}
    squared = layout.prefix(one_bar * one_bar)
    volume_sum = layout.prefix(volume)
    typical_volume = layout.prefix((high + low + close) / 3.0 * volume)
    close_sum = layout.prefix(close)
    highs = _rolling_extreme(high, sizes, at, np.maximum)
    lows = _rolling_extreme(low, sizes, at, np.minimum)
    stds = std({"volume": volume, "close": close}, sizes, layout)
    for suffix, w in windows:
        full = pos >= w - 1
        vol = layout.window_sum(squared, at, w)
        out[f"vol_{suffix}"] = np.where(pos >= w, np.sqrt(np.clip(vol, 0.0, None)), np.nan)
        out[f"range_{suffix}"] = np.where(full, np.log(highs[w] / lows[w]), np.nan)
        v_sum = layout.window_sum(volume_sum, at, w)
        v_mean, v_std = v_sum / w, np.where(full, stds["volume", w][at], np.nan)
        out[f"volume_z_{suffix}"] = _ratio(volume[at] - v_mean, v_std, 0.0, ZERO_STD * v_mean)
        with np.errstate(divide="ignore", invalid="ignore"):
            vwap_dev = np.log(close[at] * v_sum / layout.window_sum(typical_volume, at, w))
        out[f"vwap_dev_{suffix}"] = np.where(v_sum > 0, vwap_dev, np.nan)
        fast, slow, signal = macd_spans(w)
        line = layout.ema(close, fast) - layout.ema(close, slow)
        out[f"macd_{suffix}"] = line[at] / close[at]
        out[f"macd_hist_{suffix}"] = (line[at] - layout.ema(line, signal)[at]) / close[at]
        c_mean = layout.window_sum(close_sum, at, w) / w
        c_std = np.where(full, stds["close", w][at], np.nan)
        lower = c_mean - BOLLINGER_K * c_std
        out[f"bb_pctb_{suffix}"] = _ratio(close[at] - lower, 2 * BOLLINGER_K * c_std, 0.5, ZERO_STD * c_mean)
    gains, losses = layout.prefix(np.clip(change, 0.0, None)), layout.prefix(np.clip(-change, 0.0, None))
    for suffix, w in rsi_windows:
        up = np.where(pos >= w, layout.window_sum(gains, at, w), np.nan)
        down = np.where(pos >= w, layout.window_sum(losses, at, w), np.nan)
        out[f"rsi_{suffix}"] = _ratio(100.0 * up, up + down, 50.0)
    return out


def utc_offsets(ts_ns: np.ndarray, tz: str = MARKET_TZ) -> np.ndarray:
    """The UTC offset (ns) of `tz` at each UTC instant (int64 ns).

    Offsets change only at whole UTC hours (DST), so they are looked up on an hourly grid with a binary
    search instead of converting millions of timestamps one by one: exact, and ~20x faster.
    """
    if len(ts_ns) == 0:
        return np.zeros(0, dtype="int64")
    hour = 3_600_000_000_000
    first, last = int(ts_ns.min()) // hour * hour, int(ts_ns.max()) // hour * hour + hour
    grid = pd.date_range(pd.Timestamp(first, tz="UTC"), pd.Timestamp(last, tz="UTC"), freq="h")
    utc = grid.tz_localize(None).as_unit("ns").asi8
    local = grid.tz_convert(tz).tz_localize(None).as_unit("ns").asi8
    return (local - utc)[np.searchsorted(utc, ts_ns, side="right") - 1]


def session_columns(ts_ns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(session, minute_of_day): New York calendar day number (days since 1970-01-01) and wall-clock minute."""
    local = ts_ns + utc_offsets(ts_ns)
    return local // DAY_NS, (local % DAY_NS) // MINUTE_NS


def session_features(layout: TickerLayout, session: np.ndarray, arrays: dict[str, np.ndarray], at: np.ndarray,
                     settings: FeatureSettings) -> dict[str, np.ndarray]:
    """Session features at rows `at` of bars sorted by (ticker, ts), and the daily indicators for 1-minute bars."""
    ticker_id = layout.ticker_id
    opens, high, low, close, volume = (arrays[k] for k in ("open", "high", "low", "close", "volume"))
    n = len(close)
    new = np.r_[True, (session[1:] != session[:-1]) | (ticker_id[1:] != ticker_id[:-1])] if n else np.zeros(0, bool)
    starts = np.flatnonzero(new)
    session_id = np.cumsum(new) - 1
    last = np.r_[starts[1:] - 1, n - 1].astype("int64")
    daily = {"open": opens[starts], "close": close[last], "high": np.maximum.reduceat(high, starts) if n else high,
             "low": np.minimum.reduceat(low, starts) if n else low,
             "volume": np.add.reduceat(volume, starts) if n else volume}
    owner = ticker_id[starts]

    def previous(values: np.ndarray, lag: int = 1) -> np.ndarray:
        out = np.full(len(values), np.nan)
        if lag < len(values):
            same = owner[lag:] == owner[:-lag]
            out[lag:][same] = values[:-lag][same]
        return out

    prev_close = previous(daily["close"])
    row_session = session_id[at]
    with np.errstate(divide="ignore", invalid="ignore"):
        out = {
            "ret_daily": np.log(close[at] / prev_close[row_session]),
            "gap_overnight": np.log(daily["open"] / prev_close)[row_session],
            "prev_day_return": np.log(prev_close / previous(daily["close"], 2))[row_session],
            "prev_day_range": previous(np.log(daily["high"] / daily["low"]))[row_session],
        }
    if settings.frequency == "1min" and n:
        day_layout = TickerLayout(owner)
        window = settings.daily_window
        values = indicators(daily, day_layout, np.arange(len(owner)), [("daily", window)], [("daily", window)])
        for name, per_session in values.items():
            out[name] = previous(per_session)[row_session]
    return out


def add_relative_returns(rows: pl.DataFrame, settings: FeatureSettings) -> pl.DataFrame:
    """mkt_rel_ret_w / sec_rel_ret_w: ret_w minus the mean ret_w over all tickers / the ticker's sector at
    the same ts. The mean at t uses only values stamped t (each itself trailing): no look-ahead.
    Rows with no sector use the sector "Unknown" (one group)."""
    exprs = []
    for w in settings.windows:
        ret = pl.col(f"ret_{w}")
        exprs.append((ret - ret.mean().over("ts")).alias(f"mkt_rel_ret_{w}"))
        exprs.append((ret - ret.mean().over(["ts", "_sector"])).alias(f"sec_rel_ret_{w}"))
    return rows.with_columns(exprs)
