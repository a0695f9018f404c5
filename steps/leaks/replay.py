"""The causal replay: every decision row's features recomputed by an engine that is fed the data in time order.

Why: steps.leaks.causality must show, for every decision row of every ticker (holdout included), that
the table's values depend only on data available at the row's time. Cutting the input at a few instants
only covers rows next to the cuts, and cutting it at every decision instant is one feature build per
instant. A replay covers every row in one pass: for each ticker it walks the bars in time order, and the
only statement that reads the input reads the *current* bar (`_replay_tickers`, the top of the loop); a
row is written at a decision bar from the engine's state alone (the bars it has been given so far, running
EMAs, the completed sessions), and that state has been given the bars up to this one and no other.
So a replayed value at t is a function of the ticker's bars stamped at or before t, whatever the engine
computes. Around it:

- decision rows are chosen by the bar's own clock (1-minute bars: minute of the New York day) or by the
  number of distinct sessions up to the bar (daily bars), both known at the bar;
- market and sector relative returns average replayed rows stamped t (each of them causal);
- sentiment columns come from steps.leaks.sentiment_recount (tweets created at or before t - lag).

The engine implements the feature definitions documented in steps/features/bar_features.py anew (each
window summed afresh at each decision row, no sliding sums, variances about the window's first value) and
shares no code with the feature kernels: a look-ahead in the feature code, wherever and whenever it is
active, makes the code disagree with the replay on exactly the rows it touches. What it shares is the feature
catalogue (steps/features/catalogue.py): which columns there are and what they are named. Each family's slot
in the engine's output row (WINDOW_SLOTS, SESSION_SLOTS) belongs to the formulas here; a catalogue family
without a slot fails the replay (and tests/steps/test_feature_catalogue.py) instead of going unchecked.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numba
import numpy as np
import pandas as pd
import polars as pl

from steps.features.catalogue import CATALOGUE, INDICATORS, SESSION_FEATURES, family_columns
from steps.features.settings import FeatureSettings
from steps.leaks.sentiment_recount import parse_sentiment_columns, recount

MARKET_TZ = "America/New_York"
MINUTE_NS = 60_000_000_000
HOUR_NS = 60 * MINUTE_NS
DAY_NS = 24 * HOUR_NS
# Where _window_values writes each family of a window (offset + slot) and _replay_tickers each session feature
# (after the windows): the layout of these formulas, not a list of features (the catalogue names those).
# A new feature's formula takes a new slot here and in the numba code that writes it.
RET, VOL, RANGE, VOLUME_Z, VWAP_DEV, RSI, MACD, MACD_HIST, BB_PCTB = range(9)
WINDOW_SLOTS = {"ret": RET, "vol": VOL, "range": RANGE, "volume_z": VOLUME_Z, "vwap_dev": VWAP_DEV, "rsi": RSI,
                "macd": MACD, "macd_hist": MACD_HIST, "bb_pctb": BB_PCTB}
RET_DAILY, GAP_OVERNIGHT, PREV_DAY_RETURN, PREV_DAY_RANGE = range(4)
SESSION_SLOTS = {"ret_daily": RET_DAILY, "gap_overnight": GAP_OVERNIGHT, "prev_day_return": PREV_DAY_RETURN,
                 "prev_day_range": PREV_DAY_RANGE}
WIDTH = len(WINDOW_SLOTS)  # slots of one window's block (numba reads these globals as constants)
SESSIONS = len(SESSION_SLOTS)
# The catalogue's families computed per bar window (the engine's window blocks).
CATALOGUE_WINDOW_FAMILIES = tuple(f for f in CATALOGUE if f.kind in ("return", "indicator", "period"))
NEAR_ZERO = 1e-12  # a standard deviation at or below this times the mean counts as zero (documented rule)
CLOSE, LOG_CLOSE, HIGH, LOW, VOLUME = range(5)  # rows of the engine's memory of bars


@dataclass
class Replay:
    """Replayed decision rows, sorted by (ticker, ts): `columns[name]` holds a feature on every row,
    `slices[ticker]` is that ticker's block of rows, `ts_ns` the rows' instants (UTC nanoseconds)."""

    tickers: np.ndarray  # the ticker of each row
    ts_ns: np.ndarray
    columns: dict[str, np.ndarray]
    slices: dict[str, slice]

    @property
    def frame(self) -> pd.DataFrame:
        """The rows as a table (ticker, ts, features): for reading, not for the check (a copy of everything)."""
        ts = pd.DatetimeIndex(self.ts_ns.view("datetime64[ns]")).tz_localize("UTC")
        return pd.DataFrame({"ticker": self.tickers, "ts": ts, **self.columns})


@numba.njit(nogil=True, cache=True, error_model="numpy")
def _window_values(seen, n, w, ema_f, ema_s, ema_g, row, offset):
    """The families of window `w` at the newest of the `n` bars in `seen` (rows CLOSE..VOLUME, columns 0..n-1),
    written to row[offset + slot] (WINDOW_SLOTS). One pass over the window: sums of squares are taken about the
    window's first close and volume (a member of the window, so they do not cancel the way raw sums would)."""
    close, log_close, high, low, volume = seen[CLOSE], seen[LOG_CLOSE], seen[HIGH], seen[LOW], seen[VOLUME]
    t = n - 1
    c = close[t]
    nan = np.nan
    moved = t >= w  # w one-bar changes end at the newest bar
    full = t >= w - 1  # w bars end at it
    row[offset + MACD] = (ema_f - ema_s) / c
    row[offset + MACD_HIST] = (ema_f - ema_s - ema_g) / c
    if not full:
        for f in (RET, VOL, RANGE, VOLUME_Z, VWAP_DEV, RSI, BB_PCTB):  # all but the EMAs, known from bar 1
            row[offset + f] = nan
        return
    first = t - w + 1
    c0, v0 = close[first], volume[first]
    top, bottom = -np.inf, np.inf
    volume_sum = typical_volume = dc = dc2 = dv = dv2 = squares = up = down = 0.0
    for j in range(first, t + 1):
        cj, vj = close[j], volume[j]
        top = max(top, high[j])
        bottom = min(bottom, low[j])
        volume_sum += vj
        typical_volume += (high[j] + low[j] + cj) * vj
        dc += cj - c0
        dc2 += (cj - c0) * (cj - c0)
        dv += vj - v0
        dv2 += (vj - v0) * (vj - v0)
        if moved:  # the change into bar j (bar first - 1 exists when moved)
            step = log_close[j] - log_close[j - 1]
            squares += step * step
            change = cj - close[j - 1]
            if change > 0.0:
                up += change
            elif change < 0.0:
                down -= change
    row[offset + RET] = log_close[t] - log_close[t - w] if moved else nan
    row[offset + VOL] = np.sqrt(squares) if moved else nan
    row[offset + RSI] = (100.0 * (up / (up + down)) if up + down > 0.0 else 50.0) if moved else nan
    volume_mean, close_mean = volume_sum / w, c0 + dc / w
    volume_std = np.sqrt(max(dv2 / w - (dv / w) ** 2, 0.0))
    close_std = np.sqrt(max(dc2 / w - (dc / w) ** 2, 0.0))
    row[offset + RANGE] = np.log(top / bottom)
    row[offset + VOLUME_Z] = (volume[t] - volume_mean) / volume_std if volume_std > NEAR_ZERO * volume_mean else 0.0
    row[offset + VWAP_DEV] = np.log(c / (typical_volume / (3.0 * volume_sum))) if volume_sum > 0.0 else nan
    band = 4.0 * close_std
    row[offset + BB_PCTB] = (c - (close_mean - 2.0 * close_std)) / band if band > NEAR_ZERO * close_mean else 0.5


@numba.njit(nogil=True, cache=True)
def _absorb(seen, n, c, h, lo, v):
    """Append a bar to what the engine has seen."""
    seen[CLOSE, n] = c
    seen[LOG_CLOSE, n] = np.log(c)
    seen[HIGH, n] = h
    seen[LOW, n] = lo
    seen[VOLUME, n] = v


@numba.njit(nogil=True, cache=True)
def _update_emas(ema, alpha, n, c):
    """MACD EMAs (adjust=False) of one window: fast and slow start at the first close, signal at 0."""
    if n == 0:
        ema[0] = ema[1] = c
        ema[2] = 0.0
    else:
        ema[0] = alpha[0] * c + (1.0 - alpha[0]) * ema[0]
        ema[1] = alpha[1] * c + (1.0 - alpha[1]) * ema[1]
        ema[2] = alpha[2] * (ema[0] - ema[1]) + (1.0 - alpha[2]) * ema[2]


@numba.njit(nogil=True, cache=True, error_model="numpy")
def _replay_tickers(open_, high, low, close, volume, session, decision, starts, stops, windows, with_macd, alphas,
                    daily_window, daily_alpha, with_daily, stage, out):
    """Replay each ticker's bars (rows starts[i]..stops[i]-1, in time order); write a column of `out` at every
    decision bar. Feature layout: WINDOW_SLOTS per window, SESSION_SLOTS, then WINDOW_SLOTS of the daily bars. A
    ticker's rows are written to `stage` (row by row, as they are made) and then copied feature by feature
    into `out` (a feature per row of `out`, which is how the check reads them).

    The engine's memory of the past (`seen`: the bars it was given; `seen_daily`: the sessions completed)
    is filled one bar at a time; it could hold the whole ticker, but holds only what has been appended."""
    n_windows = len(windows)
    session_at = n_windows * WIDTH
    daily_at = session_at + SESSIONS
    row = 0
    longest = 0
    for ticker in range(len(starts)):
        longest = max(longest, stops[ticker] - starts[ticker])
    # Allocated once and reused across tickers: a ticker's replay reads only the columns 0..n-1 it has written
    # itself (every window ends at column n-1); test_replay_is_causal_at_every_decision_instant would see a
    # read of another ticker's stale, later bars.
    seen = np.empty((5, longest))
    seen_daily = np.empty((5, longest))
    ema = np.zeros((n_windows, 3))  # windows without a MACD (an RSI period alone) keep zeros
    for ticker in range(len(starts)):
        first_row = row
        daily_ema = np.empty(3)
        daily_values = np.full(WIDTH, np.nan)  # of the last completed session: known from the next session's first bar
        n = 0  # bars seen
        days = 0  # sessions completed
        current = -1
        s_open = s_high = s_low = s_close = s_volume = 0.0
        prev_close = prev_prev_close = prev_high = prev_low = np.nan
        for i in range(starts[ticker], stops[ticker]):
            # The only reads of the input: bar i, the newest bar. Everything below works on these scalars
            # and on the engine's state, which holds the bars before i and nothing after.
            o, h, lo, c, v, day, emit = open_[i], high[i], low[i], close[i], volume[i], session[i], decision[i]
            if n > 0 and day != current:  # bar i opens a session: the previous one is complete
                _absorb(seen_daily, days, s_close, s_high, s_low, s_volume)
                _update_emas(daily_ema, daily_alpha, days, s_close)
                days += 1
                if with_daily:
                    _window_values(seen_daily, days, daily_window, daily_ema[0], daily_ema[1], daily_ema[2],
                                   daily_values, 0)
                prev_prev_close, prev_close, prev_high, prev_low = prev_close, s_close, s_high, s_low
            if n == 0 or day != current:
                current, s_open, s_high, s_low, s_volume = day, o, h, lo, 0.0
            s_high, s_low, s_close, s_volume = max(s_high, h), min(s_low, lo), c, s_volume + v
            _absorb(seen, n, c, h, lo, v)
            for j in range(n_windows):
                if with_macd[j]:
                    _update_emas(ema[j], alphas[j], n, c)
            n += 1
            if not emit:
                continue
            values = stage[row - first_row]
            for j in range(n_windows):
                _window_values(seen, n, windows[j], ema[j, 0], ema[j, 1], ema[j, 2], values, WIDTH * j)
            values[session_at + RET_DAILY] = np.log(c / prev_close) if days >= 1 else np.nan
            values[session_at + GAP_OVERNIGHT] = np.log(s_open / prev_close) if days >= 1 else np.nan
            values[session_at + PREV_DAY_RETURN] = np.log(prev_close / prev_prev_close) if days >= 2 else np.nan
            values[session_at + PREV_DAY_RANGE] = np.log(prev_high / prev_low) if days >= 1 else np.nan
            for f in range(WIDTH):
                values[daily_at + f] = daily_values[f] if days >= 1 else np.nan
            row += 1
        for f in range(out.shape[0]):
            for r in range(first_row, row):
                out[f, r] = stage[r - first_row, f]


def macd_alphas(window: int) -> tuple[float, float, float]:
    """EMA weights of the MACD at `window`: spans 12/26/9 scaled so that the fast span is the window."""
    fast, slow, signal = window, max(window + 1, round(26 * window / 12)), max(2, round(9 * window / 12))
    return 2.0 / (fast + 1.0), 2.0 / (slow + 1.0), 2.0 / (signal + 1.0)


def new_york_clock(ts_ns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(session, minute of the day) of UTC instants: the New York calendar day (days since 1970-01-01) and
    the wall-clock minute. Offsets change on whole UTC hours only, so each instant takes its hour's offset."""
    session, minute = np.empty(len(ts_ns), dtype=np.int64), np.empty(len(ts_ns), dtype=np.int64)
    if len(ts_ns) == 0:
        return session, minute
    first, last = int(ts_ns.min()) // HOUR_NS, int(ts_ns.max()) // HOUR_NS
    grid = pd.date_range(pd.Timestamp(first * HOUR_NS, tz="UTC"), periods=last - first + 1, freq="h").as_unit("ns")
    offsets = grid.tz_convert(MARKET_TZ).tz_localize(None).asi8 - grid.tz_localize(None).asi8
    _local_clock(ts_ns, first, offsets, session, minute)
    return session, minute


@numba.njit(nogil=True, cache=True)
def _local_clock(ts_ns, first_hour, offsets, session, minute):
    """Each instant's own clock, element by element (no temporaries the size of the bars)."""
    for i in range(len(ts_ns)):
        local = ts_ns[i] + offsets[ts_ns[i] // HOUR_NS - first_hour]
        session[i] = local // DAY_NS
        minute[i] = (local % DAY_NS) // MINUTE_NS


def _bars_by_ticker(bars: pd.DataFrame | pl.DataFrame) -> tuple[pl.DataFrame, list[str], np.ndarray]:
    """The bars as polars sorted by (ticker, ts) with ts as Datetime(ns, UTC), the tickers, and their run lengths.

    An optional input the bars lack (close-only or volume-less prices) gets a stand-in here — open, high and low
    the close, volume NaN — only so the engine has a value to read: every feature that reads one is absent from
    the table (steps.features drops it), so no replayed value built on a stand-in is ever compared."""
    frame = bars if isinstance(bars, pl.DataFrame) else pl.from_pandas(
        bars[[c for c in ("ticker", "ts", "open", "high", "low", "close", "volume") if c in bars.columns]])
    stand_ins = {"open": pl.col("close"), "high": pl.col("close"), "low": pl.col("close"),
                 "volume": pl.lit(float("nan"))}
    missing = [name for name in stand_ins if name not in frame.columns]
    if missing:
        frame = frame.with_columns(stand_ins[name].cast(pl.Float64).alias(name) for name in missing)
    if frame.schema["ts"] != pl.Datetime("ns", "UTC") or frame.schema["ticker"] != pl.String or any(
            frame.schema[c] != pl.Float64 for c in ("open", "high", "low", "close", "volume")):  # validated: as is
        ts = pl.col("ts").dt.cast_time_unit("ns")
        zone = frame.schema["ts"].time_zone  # type: ignore[union-attr]
        frame = frame.select(pl.col("ticker").cast(pl.String),
                             ts.dt.replace_time_zone("UTC") if zone is None else ts.dt.convert_time_zone("UTC"),
                             *(pl.col(c).cast(pl.Float64) for c in ("open", "high", "low", "close", "volume")))
    runs = frame.select(pl.col("ticker").rle()).unnest("ticker")
    ts_ns = frame["ts"].to_physical().to_numpy()
    lengths = runs["len"].to_numpy().astype(np.int64)
    stops = np.cumsum(lengths)
    in_order = runs["value"].n_unique() == len(runs) and all(
        bool(np.all(np.diff(ts_ns[b - n:b]) > 0)) for n, b in zip(lengths, stops, strict=True))
    if not in_order:
        frame = frame.sort(["ticker", "ts"], maintain_order=True)
        runs = frame.select(pl.col("ticker").rle()).unnest("ticker")
        lengths = runs["len"].to_numpy().astype(np.int64)
    return frame, [str(t) for t in runs["value"].to_list()], lengths


def replay_decision_rows(bars: pd.DataFrame | pl.DataFrame, tweets: pd.DataFrame | None, settings: FeatureSettings,
                         sectors: Mapping[str, str] | None, columns: list[str]) -> Replay:
    """Every decision row of every ticker with the bar features of `settings` and the sentiment columns named
    in `columns` (see the module docstring for why each value is a function of the data available at its row)."""
    frame, tickers, lengths = _bars_by_ticker(bars)
    ts_ns = frame["ts"].to_physical().to_numpy()
    session, minute = new_york_clock(ts_ns)
    if settings.frequency == "1min":
        decision = minute % settings.sample_every_bars == 0
        del minute
    else:  # the session's rank among the sessions seen so far (np.unique's rank counts only earlier sessions)
        decision = np.unique(session, return_inverse=True)[1] % settings.sample_every_bars == 0
    bar_windows = sorted({*settings.windows, settings.rsi_period})
    stops = np.cumsum(lengths)
    starts = stops - lengths
    at = np.flatnonzero(decision)
    rows_per_ticker = np.diff(np.searchsorted(at, np.r_[starts, stops[-1:]])) if len(starts) else np.zeros(0, int)
    width = WIDTH * len(bar_windows) + SESSIONS + WIDTH
    out = np.empty((width, len(at)))  # a feature per row: the check gathers each one at the table's rows
    stage = np.empty((int(rows_per_ticker.max()) if len(at) else 0, width))
    arrays = [frame[c].to_numpy() for c in ("open", "high", "low", "close", "volume")]
    _replay_tickers(*arrays, session, decision, starts, stops, np.asarray(bar_windows, dtype=np.int64),
                    np.array([w in settings.windows for w in bar_windows]),
                    np.array([macd_alphas(w) for w in bar_windows]), int(settings.daily_window),
                    np.array(macd_alphas(settings.daily_window)), settings.frequency == "1min", stage, out)
    owner = np.repeat(np.arange(len(tickers)), rows_per_ticker)
    names = np.asarray(tickers, dtype=object)[owner]
    result = _named_columns(out, bar_windows, settings)
    row_ts = ts_ns[at]
    result.update(_relative_returns(result, owner, tickers, row_ts, settings.windows, sectors))
    sentiment = parse_sentiment_columns(columns)
    if sentiment:
        rows = pd.DataFrame({"ticker": names, "ts": pd.DatetimeIndex(row_ts.view("datetime64[ns]")).tz_localize("UTC")})
        result.update(recount(rows, tweets, sentiment, pd.Timedelta(seconds=settings.ingest_lag_seconds)))
    bounds = np.r_[0, np.cumsum(rows_per_ticker)]
    return Replay(names, row_ts, result, {t: slice(int(bounds[k]), int(bounds[k + 1])) for k, t in enumerate(tickers)})


def _named_columns(out: np.ndarray, bar_windows: list[int], settings: FeatureSettings) -> dict[str, np.ndarray]:
    """The engine's output rows under the catalogue's names: each window's families (the window families of the
    catalogue whose columns the settings define at that window), the session features, the daily indicators.
    A catalogue family without a slot in the engine's layout is a feature with no replay formula: refused here,
    so that a new feature cannot pass the causality check unchecked."""
    at_window: set[str] = set()
    for family in CATALOGUE_WINDOW_FAMILIES:
        at_window.update(c.name for c in family_columns(family, settings) if c.window != "daily")
    result: dict[str, np.ndarray] = {}
    for j, w in enumerate(bar_windows):
        for family, slot in WINDOW_SLOTS.items():
            if f"{family}_{w}" in at_window:
                result[f"{family}_{w}"] = out[WIDTH * j + slot]
    session_at = WIDTH * len(bar_windows)
    for name in SESSION_FEATURES:
        result[name] = out[session_at + _slot(SESSION_SLOTS, name)]
    if settings.frequency == "1min":
        for family in INDICATORS:
            result[f"{family}_daily"] = out[session_at + SESSIONS + _slot(WINDOW_SLOTS, family)]
    unreplayed = sorted(at_window - set(result))
    if unreplayed:
        raise ValueError(f"no replay formula for {', '.join(unreplayed)} (add one to steps/leaks/replay.py)")
    return result


def _slot(slots: dict[str, int], family: str) -> int:
    if family not in slots:
        raise ValueError(f"no replay formula for the feature family {family!r} (add one to steps/leaks/replay.py)")
    return slots[family]


def _relative_returns(values: dict[str, np.ndarray], owner: np.ndarray, tickers: list[str], ts: np.ndarray,
                      windows: tuple[int, ...], sectors: Mapping[str, str] | None) -> dict[str, np.ndarray]:
    """ret_w minus the mean ret_w of every ticker (of the ticker's sector) with a row at the same instant;
    tickers without a sector form the sector "Unknown"; a missing ret_w takes no part in a mean."""
    out: dict[str, np.ndarray] = {}
    if not len(ts):
        return {f"{kind}_rel_ret_{w}": np.zeros(0) for kind in ("mkt", "sec") for w in windows}
    _, instant = np.unique(ts, return_inverse=True)
    known = dict(sectors or {})
    _, sector_of_ticker = np.unique(np.array([known.get(t, "Unknown") for t in tickers], dtype=str),
                                    return_inverse=True)
    sector = sector_of_ticker[owner]
    _, group = np.unique(instant * (sector.max() + 1) + sector, return_inverse=True)
    for w in windows:
        ret = values[f"ret_{w}"]
        present = ~np.isnan(ret)
        filled = np.where(present, ret, 0.0)
        for kind, key in (("mkt", instant), ("sec", group)):
            with np.errstate(divide="ignore", invalid="ignore"):
                mean = np.bincount(key, weights=filled) / np.bincount(key, weights=present.astype("float64"))
            out[f"{kind}_rel_ret_{w}"] = ret - mean[key]
    return out


def combine_replays(pieces: list[Replay], settings: FeatureSettings, sectors: Mapping[str, str] | None) -> Replay:
    """One Replay from replays of disjoint batches of tickers (steps/leaks/in_turn.py), in the pieces' order.

    Every column but the market- and sector-relative returns is per ticker, so a batch's values are final. The
    relative returns are recomputed here over every batch's rows at each instant, by the same `_relative_returns`
    as one pass: each mean still averages replayed `ret_w` stamped t only, so the replay stays causal. `pieces` is
    emptied as it is read (each batch's arrays freed once copied)."""
    relative = {f"{kind}_rel_ret_{w}" for kind in ("mkt", "sec") for w in settings.windows}
    tickers: list[str] = [t for piece in pieces for t in piece.slices]
    lengths = np.array([s.stop - s.start for piece in pieces for s in piece.slices.values()], dtype=np.int64)
    names = list(pieces[0].columns) if pieces else []
    ts_ns = np.concatenate([p.ts_ns for p in pieces]) if pieces else np.zeros(0, dtype=np.int64)
    row_tickers = np.concatenate([p.tickers for p in pieces]) if pieces else np.zeros(0, dtype=object)
    columns: dict[str, np.ndarray] = {}
    for name in names:
        if name not in relative:
            columns[name] = np.concatenate([p.columns.pop(name) for p in pieces])
    pieces.clear()
    owner = np.repeat(np.arange(len(tickers)), lengths)
    rebuilt = _relative_returns(columns, owner, tickers, ts_ns, settings.windows, sectors)
    columns = {name: columns[name] if name in columns else rebuilt[name] for name in names}
    bounds = np.r_[0, np.cumsum(lengths)]
    return Replay(row_tickers, ts_ns, columns,
                  {t: slice(int(bounds[k]), int(bounds[k + 1])) for k, t in enumerate(tickers)})
