"""Technical features per ticker, every window trailing (it ends at the bar's close).

Bars arrive sorted by (ticker, ts) as flat numpy arrays; each ticker is a contiguous slice. Windows never
cross tickers (a value needs `pos >= w` bars of its own ticker, else it is NaN), and a ticker's values do
not depend on other tickers, so a shard of tickers gives the values the whole universe gives. A value at t
is computed only from bars at or before t, so truncating the input after t changes nothing at or before t
(steps.leaks checks this).

Why compiled sweeps and not a TA library or pandas/polars rolling windows: every indicator family of a
window is computed in one pass over each ticker's bars by a numba kernel (kernels.py) that keeps its running
sums and EMAs in registers and writes only the decision rows; rolling sums slide and are recomputed every
few windows, variances use shifted sums, so the values match the slow reference loops in
tests/steps/test_features*.py to ~1e-12 relative. Measured against the numpy/polars version it replaced and
against `ta` and TA-Lib in docs/performance.md ("Features").

The families, their columns and what each needs are declared in catalogue.py; the definitions are here.
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
Daily indicators (1-minute bars only): the same indicator families with suffix `daily`, computed on the
ticker's daily bars (one per session: first open, max high, min low, last close, summed volume) over the
last `daily_window` *completed* sessions, i.e. known from the session's first bar on.
Session features (sessions are New York calendar dates):
- gap_overnight: log(session's first open / previous session's last close)
- prev_day_return: log(previous session's close / the session before's close)
- prev_day_range: log(previous session's high / its low)
Cross-sectional (build.py, at the decision rows): mkt_rel_ret_w and sec_rel_ret_w.

Absent inputs (`settings.absent_inputs`: close-only or wide price files have no open/high/low, many index
files no volume): the kernels run on stand-ins (close for a missing open/high/low, 1 for a missing volume)
so that one compiled loop serves every input shape, and every feature that reads an absent input (its
family's `needs` in catalogue.py) is dropped from the table. A stand-in value never reaches a column: a range
of a close-only series would be 0 everywhere, and a gap computed from close would be a copy of the previous
return.
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import polars as pl

from steps.features.catalogue import INDICATORS
from steps.features.kernels import STATE_SIZE, window_features
from steps.features.settings import FeatureSettings

MARKET_TZ = "America/New_York"
MINUTE_NS = 60_000_000_000
DAY_NS = 86_400_000_000_000


def macd_spans(window: int) -> tuple[int, int, int]:
    """Fast, slow and signal spans of the MACD at `window`: 12/26/9 scaled so that fast = window."""
    return window, max(window + 1, round(26 * window / 12)), max(2, round(9 * window / 12))


class TickerLayout:
    """Contiguous ticker slices of arrays sorted by (ticker, ts): starts, stops, and each row's position."""

    def __init__(self, ticker_id: np.ndarray) -> None:
        n = len(ticker_id)
        self.ticker_id = ticker_id
        self.starts = np.flatnonzero(np.r_[True, ticker_id[1:] != ticker_id[:-1]]) if n else np.zeros(0, "int64")
        self.stops = np.r_[self.starts[1:], n].astype("int64")
        self.pos = np.arange(n) - np.repeat(self.starts, self.stops - self.starts)


def trailing_returns(log_close: np.ndarray, pos: np.ndarray, at: np.ndarray, windows: tuple[int, ...]
                     ) -> dict[str, np.ndarray]:
    """ret_w at rows `at`: log(close[t] / close[t - w]) where the ticker has w bars before t (`pos`: each row's
    bar count before it in its ticker), else NaN. The live engine calls this on its per-ticker tail."""
    return {f"ret_{w}": np.where(pos[at] >= w, log_close[at] - log_close[np.maximum(at - w, 0)], np.nan)
            for w in windows}


def indicators(arrays: dict[str, np.ndarray], layout: TickerLayout, at: np.ndarray,
               windows: list[tuple[str, int]], rsi_windows: list[tuple[str, int]], threads: int = 1,
               pos0: np.ndarray | None = None, states: dict[str, np.ndarray] | None = None
               ) -> dict[str, np.ndarray]:
    """The indicators (catalogue.INDICATORS) at rows `at` for the (suffix, w) windows, plus RSI at `rsi_windows`.

    pos0/states (the live engine): resume every ticker's sweeps, one carried state array per suffix (and
    `rsi_<suffix>` for an RSI-only window), created here on first use (kernels.window_sweep).

    Every sweep asks for every indicator family, also where some are dropped (RSI outside `rsi_windows`, the
    rest of an RSI-only window): each distinct family set is its own compiled loop, ~1.5 s to compile in a
    process that has no cache (every job in a fresh container), while the extra families cost ~30 ms per
    window at full scale."""
    close = arrays["close"]
    with np.errstate(divide="ignore", invalid="ignore"):
        log_close = np.log(close)
    common = (close, log_close, arrays["high"], arrays["low"], arrays["volume"], layout.starts, layout.stops, at)
    out: dict[str, np.ndarray] = {}
    rsi_suffixes = {suffix for suffix, _ in rsi_windows}

    def carry(key: str) -> np.ndarray | None:
        if states is None:
            return None
        if key not in states:
            states[key] = np.zeros((len(layout.starts), STATE_SIZE))
        return states[key]

    for suffix, w in windows:
        values = window_features(*common, w, INDICATORS, macd_spans(w), threads=threads, pos0=pos0,
                                 state=carry(suffix))
        out.update({f"{family}_{suffix}": values[family] for family in INDICATORS
                    if family != "rsi" or suffix in rsi_suffixes})
    for suffix, w in rsi_windows:
        if f"rsi_{suffix}" not in out:
            out[f"rsi_{suffix}"] = window_features(*common, w, INDICATORS, macd_spans(w), threads=threads, pos0=pos0,
                                                   state=carry(f"rsi_{suffix}"))["rsi"]
    return out


def utc_offsets(ts_ns: np.ndarray, tz: str = MARKET_TZ) -> np.ndarray:
    """The UTC offset (ns) of `tz` at each UTC instant (int64 ns).

    Offsets change only at whole UTC hours (DST), so they are looked up on an hourly grid with a binary
    search instead of converting millions of timestamps one by one: exact, and ~20x faster. The grid spans
    whole UTC years and is kept (_offset_grid): the live engine asks for a day at a time, and building a
    grid with pandas cost ~0.3 ms a call, more than the lookup.
    """
    if len(ts_ns) == 0:
        return np.zeros(0, dtype="int64")
    years = np.array([ts_ns.min(), ts_ns.max()]).astype("datetime64[ns]").astype("datetime64[Y]").astype("int64")
    utc, offset = _offset_grid(tz, int(years[0]) + 1970, int(years[1]) + 1970)
    return offset[np.searchsorted(utc, ts_ns, side="right") - 1]


@functools.lru_cache(maxsize=16)
def _offset_grid(tz: str, first_year: int, last_year: int) -> tuple[np.ndarray, np.ndarray]:
    """(every UTC hour from first_year's start to last_year's end as int64 ns, the offset of `tz` there);
    read-only, since they are shared."""
    start, end = (pd.Timestamp(f"{year}-01-01", tz="UTC") for year in (first_year, last_year + 1))
    grid = pd.date_range(start, end, freq="h")
    utc = grid.tz_localize(None).as_unit("ns").asi8
    offset = grid.tz_convert(tz).tz_localize(None).as_unit("ns").asi8 - utc
    utc.flags.writeable = False
    offset.flags.writeable = False
    return utc, offset


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
    daily = daily_bars(opens, high, low, close, volume, starts)
    owner = ticker_id[starts]

    def previous(values: np.ndarray, lag: int = 1) -> np.ndarray:
        out = np.full(len(values), np.nan)
        if lag < len(values):
            same = owner[lag:] == owner[:-lag]
            out[lag:][same] = values[:-lag][same]
        return out

    row_session = session_id[at]
    out = session_values(close[at], daily["open"][row_session], previous(daily["close"])[row_session],
                         previous(daily["close"], 2)[row_session], previous(daily["high"])[row_session],
                         previous(daily["low"])[row_session])
    if settings.frequency == "1min" and n:
        day_layout = TickerLayout(owner)
        window = settings.daily_window
        values = indicators(daily, day_layout, np.arange(len(owner)), [("daily", window)], [("daily", window)])
        for name, per_session in values.items():
            out[name] = previous(per_session)[row_session]
    return out


def daily_bars(opens: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray, volume: np.ndarray,
               starts: np.ndarray) -> dict[str, np.ndarray]:
    """One bar per session from the minute bars, sessions beginning at rows `starts`: first open, max high, min
    low, last close, summed volume. The live engine aggregates each completed session with this too."""
    n = len(close)
    last = np.r_[starts[1:] - 1, n - 1].astype("int64")
    return {"open": opens[starts], "close": close[last], "high": np.maximum.reduceat(high, starts) if n else high,
            "low": np.minimum.reduceat(low, starts) if n else low,
            "volume": np.add.reduceat(volume, starts) if n else volume}


def session_values(close: np.ndarray, session_open: np.ndarray, prev_close: np.ndarray, prev2_close: np.ndarray,
                   prev_high: np.ndarray, prev_low: np.ndarray) -> dict[str, np.ndarray]:
    """The session features of rows closing at `close` in a session that opened at `session_open`, from the
    ticker's previous session (close, high, low) and the one before (close); NaN where there is none."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return {
            "ret_daily": np.log(close / prev_close),
            "gap_overnight": np.log(session_open / prev_close),
            "prev_day_return": np.log(prev_close / prev2_close),
            "prev_day_range": np.log(prev_high / prev_low),
        }


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
