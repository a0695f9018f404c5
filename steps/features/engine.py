"""Incremental feature engine: BuildFeatures' rows computed as bars and tweets arrive (the live path).

Why this shape: train/serve skew (features computed one way in training, another live) is the defect to
rule out, so no formula lives here. Every value comes from the functions the batch build calls:
- window indicators: the same compiled sweep (kernels.window_sweep), *resumed*: each ticker's running sums,
  EMAs and counters are carried between calls (`pos0`/`state`), so a sweep over the bars since the last
  decision time continues the one uninterrupted batch sweep bit for bit;
- ret_w: bar_features.trailing_returns on each ticker's tail (the last max window + 2 bars);
- session features: bar_features.daily_bars on each completed session and session_values on the row;
  daily indicators: the same resumed sweep over the completed sessions' daily bars;
- market-/sector-relative returns: build.relative_returns on the rows of one decision time;
- sentiment: sentiment.tweet_prefix (continued from the running sums, which equals the batch's cumulative
  sums exactly) and sentiment.window_values at the decision time.
What is the engine's own is bookkeeping: which bars are pending, when a decision time is complete.

Events and time. A bar stamped t is known at t (it closes at t); a tweet counts from
`created_at + ingest_lag` (sentiment.tweet_available_ns). A decision time d (build.is_decision) is complete,
and its rows are emitted, when every expected ticker has delivered its bar at d, when any event later than
d arrives, or on `flush()`. Cross-sectional means at d use the rows emitted at d, i.e. the bars that had
arrived for d.

Late data (live only; a replay has none). A bar older than its ticker's last bar is dropped (counted in
`late_bars`): a sweep cannot go back. A bar newer than its ticker's last bar but at or before a decision time
already emitted enters the ticker's state (later rows are exact) but gets no row of its own (counted too):
re-emitting d would change scores already acted on. A tweet available before the last emitted decision time
is counted from that time on (counted in `late_tweets`), as it could not have been seen earlier.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import polars as pl

from steps.features.bar_features import (
    daily_bars,
    indicators,
    relative_feature_names,
    session_columns,
    session_values,
    trailing_returns,
)
from steps.features.build import (
    UNKNOWN_SECTOR,
    as_polars_bars,
    feature_columns,
    is_decision,
    relative_returns,
)
from steps.features.sentiment import (
    tweet_available_ns,
    tweet_is_positive,
    tweet_prefix,
    tweet_weights,
    window_specs,
    window_values,
)
from steps.features.settings import FeatureSettings

BAR_INPUTS = ("open", "high", "low", "close", "volume")
TAIL_COLUMNS = ("ts", *BAR_INPUTS)
DAY_NS = 86_400_000_000_000
NO_TIME = np.iinfo(np.int64).min

Bars = dict[str, np.ndarray]  # a set of bars as parallel arrays: "ticker" (engine index), "ts", "session", inputs


@dataclass(frozen=True)
class SweepLayout:
    """Where each swept ticker's new bars are in the concatenated buffer (what indicators() reads)."""

    starts: np.ndarray
    stops: np.ndarray


@dataclass(frozen=True)
class Joined:
    """Tickers' kept tails followed by their new rows, one contiguous segment per ticker (a sweep's buffer).

    Why arrays and not a loop over tickers: a replay closes a session per day for every ticker, and Python
    bookkeeping per ticker (dicts of small arrays, concatenations) cost ~60 ms a day against ~2 ms of
    compiled sweeps; index arithmetic over all tickers at once is a handful of numpy calls."""

    arrays: Bars
    tickers: np.ndarray  # engine index of each segment
    begins: np.ndarray  # first row of each segment (its tail)
    starts: np.ndarray  # first new row of each segment
    stops: np.ndarray
    tail_lengths: np.ndarray
    new_rows: np.ndarray  # where each new row went, in the order given


def segments(ticker: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(first row, row count) of each run of equal values in `ticker` (rows grouped by ticker)."""
    first = np.flatnonzero(np.concatenate(([True], ticker[1:] != ticker[:-1]))) if len(ticker) else ticker[:0]
    return first, np.diff(np.append(first, len(ticker)))


def ranges(lengths: np.ndarray) -> np.ndarray:
    """0..n-1 for each n in `lengths`, concatenated (the offset of each row inside its segment)."""
    return np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)


class TailStore:
    """Each ticker's last `keep` bars (what a resumed sweep reads before its first new row), right-aligned in
    one matrix per column, so that joining them to new bars is a gather and not a concatenation per ticker."""

    def __init__(self, columns: tuple[str, ...], keep: int) -> None:
        self.keep = keep
        self.values = {c: np.zeros((0, keep), "int64" if c == "ts" else "float64") for c in columns}
        self.lengths = np.zeros(0, "int64")

    def grow(self) -> None:
        self.values = {c: np.concatenate((v, np.zeros((1, self.keep), v.dtype))) for c, v in self.values.items()}
        self.lengths = np.append(self.lengths, 0)

    def join(self, new: Bars) -> Joined:
        """`new` (sorted by ticker, each ticker's rows in time order) after each of its tickers' tails."""
        first, count = segments(new["ticker"])
        tickers = new["ticker"][first]
        tail_lengths = self.lengths[tickers]
        lengths = tail_lengths + count
        stops = np.cumsum(lengths)
        begins = stops - lengths
        starts = begins + tail_lengths
        new_rows = np.repeat(starts, count) + ranges(count)
        offsets = ranges(tail_lengths)
        tail_rows = np.repeat(begins, tail_lengths) + offsets
        source = (np.repeat(tickers, tail_lengths), self.keep - np.repeat(tail_lengths, tail_lengths) + offsets)
        total = int(stops[-1]) if len(stops) else 0
        arrays = {}
        for c, stored in self.values.items():
            column = np.empty(total, new[c].dtype)
            column[new_rows] = new[c]
            column[tail_rows] = stored[source]
            arrays[c] = column
        return Joined(arrays, tickers, begins, starts, stops, tail_lengths, new_rows)

    def keep_last(self, joined: Joined) -> None:
        """Store the last `keep` rows of every segment of `joined` as those tickers' tails."""
        kept = np.minimum(joined.stops - joined.begins, self.keep)
        offsets = ranges(kept)
        rows = np.repeat(joined.stops - kept, kept) + offsets
        target = (np.repeat(joined.tickers, kept), self.keep - np.repeat(kept, kept) + offsets)
        for c, stored in self.values.items():
            stored[target] = joined.arrays[c][rows]
        self.lengths[joined.tickers] = kept


def take(bars: Bars, rows: np.ndarray) -> Bars:
    return {c: v[rows] for c, v in bars.items()}


def concat(parts: list[Bars]) -> Bars:
    return parts[0] if len(parts) == 1 else {c: np.concatenate([p[c] for p in parts]) for c in parts[0]}


class FeatureEngine:
    """Per-ticker state fed bars and tweets in arrival order; emits BuildFeatures' rows per decision time.

    `settings` must be the table's (its `absent_inputs` included: the manifest's settings). `expected`: the
    tickers whose bars complete a decision time at once (the universe); without it a decision time completes
    only when a later event arrives or on flush().

    State is kept per ticker *index* in arrays (seen, last_ts, tails, sessions, daily values), so that every
    step of a delivery is a few numpy calls over all tickers, whatever their number."""

    def __init__(self, settings: FeatureSettings, sectors: Mapping[str, str] | None = None,
                 expected: Iterable[str] | None = None) -> None:
        self.settings = settings
        self.sectors = dict(sectors) if sectors is not None else None
        self.expected = set(expected) if expected is not None else None
        self.columns = feature_columns(settings)
        self.windows = [(str(w), w) for w in settings.windows]
        self.rsi_windows = self.windows + ([] if settings.rsi_period in settings.windows
                                           else [(str(settings.rsi_period), settings.rsi_period)])
        keep = max(w for _, w in self.rsi_windows) + 2  # bars a resumed sweep reads before its first new bar
        self.specs = window_specs(settings)
        self.longest_tweet_window = max(int(length.value) for _, _, length in self.specs)
        self.daily_names = [k for k in self.columns if k.endswith("_daily") and k != "ret_daily"
                            and not k.startswith(("sent", "tweet_count"))]
        # per ticker index
        self.names: list[str] = []
        self.index: dict[str, int] = {}
        self.name_rank = np.zeros(0, "int64")  # position of each ticker's name in sorted order
        self.seen = np.zeros(0, "int64")  # bars swept so far
        self.last_ts = np.zeros(0, "int64")
        self.tails = TailStore(TAIL_COLUMNS, keep)
        self.session = np.zeros(0, "int64")
        self.session_open = np.zeros(0)
        self.daily_seen = np.zeros(0, "int64")
        self.daily_tails = TailStore(BAR_INPUTS, max(settings.daily_window + 2, 3))
        self.daily_values = np.zeros((0, len(self.daily_names)))
        self.tweet_times: list[np.ndarray] = []
        self.tweet_prefix: list[dict[str, np.ndarray]] = []
        self.states: dict[str, np.ndarray] = {}
        self.daily_states: dict[str, np.ndarray] = {}
        # bars
        self.pending: list[Bars] = []  # arrived, not yet swept (each ticker's in time order)
        self.session_bars: list[Bars] = []  # swept bars of each ticker's current session
        self.open_decision = NO_TIME  # the decision time whose rows are being collected
        self.open_rows: set[str] = set()  # tickers with a bar at open_decision
        self.last_emitted = NO_TIME
        self.sessions_seen = 0
        self.last_session = NO_TIME
        self.late_bars = 0
        self.late_tweets = 0

    # ----- input ---------------------------------------------------------------------------------------
    def on_bars(self, bars: pd.DataFrame | pl.DataFrame) -> list[pd.DataFrame]:
        """Take bars (ticker, ts, close, and the optional open/high/low/volume) in arrival order; return the
        rows of every decision time these bars complete (one frame each, in time order).

        A delivery may hold one minute (live) or days (a replay): a decision time is complete once a later bar
        has arrived or every expected ticker's bar at it has, and the rows are what a bar-by-bar feed gives
        (tested)."""
        if not len(bars):
            return []
        frame = as_polars_bars(bars, sort=False)
        ts = frame["ts"].to_physical().to_numpy()
        ticker = self._codes(frame["ticker"])
        session, minute = session_columns(ts)
        by_time = np.argsort(ts, kind="stable")  # arrival order within a delivery is by time
        decision = np.empty(len(ts), bool)
        decision[by_time] = is_decision(self._clocks(session[by_time], minute[by_time]), self.settings)
        order = np.lexsort((ts, ticker))  # each ticker's bars, in time order (ties: as delivered)
        new = {"ticker": ticker[order], "ts": ts[order], "session": session[order],
               **{c: self._input(frame, c)[order] for c in BAR_INPUTS}}
        decision = decision[order]
        kept = self._not_late(new)
        if not kept.all():
            new, decision = take(new, kept), decision[kept]
        if not len(new["ts"]):
            return []
        first, count = segments(new["ticker"])
        self.last_ts[new["ticker"][first]] = new["ts"][first + count - 1]
        self.pending.append(new)
        ts, ticker = new["ts"], new["ticker"]
        newest = int(ts.max())
        complete: list[int] = []
        at_decision = np.flatnonzero(decision)
        times, which = np.unique(ts[at_decision], return_inverse=True)
        for k, d in enumerate(times.tolist()):
            present = {self.names[i] for i in ticker[at_decision[which == k]].tolist()}
            if d <= self.last_emitted:
                self.late_bars += len(present)  # their decision time was emitted without them
                continue
            if d != self.open_decision:
                if self.open_decision != NO_TIME:
                    complete.append(self._take_open())  # a later decision time's bars have arrived
                self.open_decision = d
            self.open_rows |= present
            if d < newest or (self.expected is not None and self.expected <= self.open_rows):
                complete.append(self._take_open())
        if self.open_decision != NO_TIME and newest > self.open_decision:
            complete.append(self._take_open())
        return self._close(complete)

    def on_tweets(self, tweets: pd.DataFrame) -> list[pd.DataFrame]:
        """Take scored tweets (steps.validation's contract) in arrival order; a tweet later than the open
        decision time completes it (its rows are returned)."""
        if not len(tweets) or not self.settings.include_sentiment:
            return []
        available = tweet_available_ns(tweets, self.settings)
        emitted = (self._close([self._take_open()]) if self.open_decision != NO_TIME
                   and available.max() > self.open_decision else [])
        late = available <= self.last_emitted
        self.late_tweets += int(late.sum())
        available = np.where(late, self.last_emitted + 1, available)
        weights, scores = tweet_weights(tweets), tweets["score"].to_numpy(dtype="float64")
        positive = tweet_is_positive(tweets)
        names = tweets["ticker"].astype(str).to_numpy()
        codes = np.array([self._ticker(name) for name in pd.unique(names)])
        ticker = codes[pd.factorize(names, sort=False)[0]]
        by_ticker = np.lexsort((available, ticker))  # each ticker's tweets by availability (ties: as delivered)
        first, count = segments(ticker[by_ticker])
        for a, n in zip(first.tolist(), count.tolist(), strict=True):
            idx = by_ticker[a:a + n]
            i = int(ticker[idx[0]])
            times, known = available[idx], self.tweet_times[i]
            if len(known) and times[0] < known[-1]:
                times = np.maximum(times, known[-1])  # delivered after a later one: counted from now
            carried = self.tweet_prefix[i]
            start = {k: float(v[-1]) for k, v in carried.items()} or None
            prefix = tweet_prefix(weights[idx], scores[idx], positive[idx], start)
            if carried:
                prefix = {k: np.concatenate((carried[k], v[1:])) for k, v in prefix.items()}
            self.tweet_prefix[i], self.tweet_times[i] = prefix, np.concatenate((known, times))
        return emitted

    def flush(self) -> list[pd.DataFrame]:
        """Emit the open decision time's rows (end of a replay, or a grace period expired live)."""
        return self._close([self._take_open()]) if self.open_decision != NO_TIME else []

    # ----- bookkeeping -----------------------------------------------------------------------------------
    def _input(self, frame: pl.DataFrame, column: str) -> np.ndarray:
        """build._input_array's stand-ins (close for open/high/low, 1 for volume) for an absent input."""
        if column in frame.columns and column not in self.settings.absent_inputs:
            return frame[column].cast(pl.Float64).to_numpy()
        if column == "volume":
            return np.ones(frame.height)
        return frame["close"].cast(pl.Float64).to_numpy()

    def _clocks(self, session: np.ndarray, minute: np.ndarray) -> np.ndarray:
        """The decision clock of bars in time order: minute of the day (1min) or the session's number in the
        data so far (1d; build.decision_rows numbers the sessions of the whole input the same way)."""
        if self.settings.frequency == "1min":
            return minute
        running = np.maximum.accumulate(np.r_[self.last_session, session])
        new = running[1:] > running[:-1]
        clock = self.sessions_seen + np.cumsum(new) - 1
        self.sessions_seen += int(new.sum())
        self.last_session = int(running[-1])
        return clock

    def _codes(self, tickers: pl.Series) -> np.ndarray:
        """Each bar's ticker index (new tickers get state)."""
        names = tickers.unique(maintain_order=True).to_list()
        for name in names:
            self._ticker(name)
        return tickers.replace_strict(names, [self.index[n] for n in names], return_dtype=pl.Int64).to_numpy()

    def _ticker(self, name: str) -> int:
        index = self.index.get(name)
        if index is not None:
            return index
        index = self.index[name] = len(self.names)
        self.names.append(name)
        self.name_rank = np.argsort(np.argsort(np.array(self.names), kind="stable"), kind="stable")
        self.seen, self.daily_seen = np.append(self.seen, 0), np.append(self.daily_seen, 0)
        self.last_ts, self.session = np.append(self.last_ts, NO_TIME), np.append(self.session, NO_TIME)
        self.session_open = np.append(self.session_open, np.nan)
        self.daily_values = np.concatenate((self.daily_values, np.full((1, len(self.daily_names)), np.nan)))
        self.tails.grow()
        self.daily_tails.grow()
        self.tweet_times.append(np.zeros(0, "int64"))
        self.tweet_prefix.append({})
        for store in (self.states, self.daily_states):
            for key, values in store.items():
                store[key] = np.concatenate((values, np.zeros((1, values.shape[1]))))
        return index

    def _not_late(self, new: Bars) -> np.ndarray:
        """Which of a delivery's bars (sorted by ticker, ts) are later than their ticker's newest bar so far;
        the others are dropped (counted in late_bars): a sweep cannot go back."""
        ticker, ts = new["ticker"], new["ts"]
        first = np.concatenate(([True], ticker[1:] != ticker[:-1]))
        previous = np.where(first, self.last_ts[ticker], np.concatenate(([NO_TIME], ts[:-1])))
        kept = ts > previous
        if kept.all():  # the usual case
            return kept
        start, count = segments(ticker)
        for a, n in zip(start.tolist(), count.tolist(), strict=True):
            t = ts[a:a + n]
            kept[a:a + n] = t > np.maximum.accumulate(np.concatenate(([self.last_ts[ticker[a]]], t[:-1])))
        self.late_bars += int((~kept).sum())
        return kept

    # ----- a decision time completes ---------------------------------------------------------------------
    def _take_open(self) -> int:
        d = self.open_decision
        self.open_decision, self.open_rows = NO_TIME, set()
        return d

    def _close(self, decisions: list[int]) -> list[pd.DataFrame]:
        """Emit the rows of complete decision times (ascending). Those of one session are computed in one
        sweep (a replay delivers a day at a time: 26 decision times, one kernel call per window instead of
        26); rows, values and order are those of closing them one by one."""
        emitted: list[pd.DataFrame] = []
        if not decisions:
            return emitted
        sessions = session_columns(np.array(decisions, dtype="int64"))[0]
        for a, b in itertools.pairwise(np.flatnonzero(np.r_[True, np.diff(sessions) != 0, True])):
            emitted += self._close_session(decisions[a:b])
        return emitted

    def _close_session(self, decisions: list[int]) -> list[pd.DataFrame]:
        last = decisions[-1]
        rows = None
        if self.pending:
            pending = concat(self.pending)
            due = pending["ts"] <= last  # bars after `last` wait
            self.pending = [take(pending, ~due)] if not due.all() else []
            if due.any():
                swept = take(pending, np.flatnonzero(due)[np.argsort(pending["ticker"][due], kind="stable")])
                self._sessions(swept)
                rows = self._sweep(swept, np.array(decisions, dtype="int64"))
        self.last_emitted = max(self.last_emitted, last)
        self._trim_tweets(decisions[0])
        if rows is None:
            return []
        stamps = pd.DatetimeIndex(rows["ts"]).asi8
        bounds = np.flatnonzero(np.r_[True, stamps[1:] != stamps[:-1], True])
        emitted = []
        for a, b in itertools.pairwise(bounds.tolist()):
            piece = rows.iloc[a:b]  # copy-on-write: a view until someone writes to it
            piece.index = pd.RangeIndex(b - a)
            emitted.append(piece)
        return emitted

    def _sessions(self, swept: Bars) -> None:
        """Complete every session that a swept bar has left, and sweep the daily indicators over them."""
        if (swept["session"] == self.session[swept["ticker"]]).all():  # the usual case: no session boundary
            self.session_bars.append(swept)
            return
        bars = concat([*self.session_bars, swept])
        bars = take(bars, np.argsort(bars["ticker"], kind="stable"))  # each ticker's bars in time order
        ticker, session = bars["ticker"], bars["session"]
        starts = np.flatnonzero(np.r_[True, (ticker[1:] != ticker[:-1]) | (session[1:] != session[:-1])])
        run_ticker = ticker[starts]
        current = np.r_[run_ticker[1:] != run_ticker[:-1], True]  # each ticker's last session: still open
        self.session[run_ticker[current]] = session[starts[current]]
        self.session_open[run_ticker[current]] = bars["open"][starts[current]]
        run_of_row = np.cumsum(np.r_[True, (ticker[1:] != ticker[:-1]) | (session[1:] != session[:-1])]) - 1
        self.session_bars = [take(bars, current[run_of_row])]
        if current.all():
            return
        days = daily_bars(*(bars[c] for c in BAR_INPUTS), starts)
        finished = ~current
        done = {"ticker": run_ticker[finished], **{c: days[c][finished] for c in BAR_INPUTS}}
        joined = self.daily_tails.join(done)
        if self.settings.frequency == "1min":
            self._daily_sweep(joined)
        self.daily_seen[joined.tickers] += joined.stops - joined.starts
        self.daily_tails.keep_last(joined)

    def _daily_sweep(self, joined: Joined) -> None:
        """The daily indicators at each ticker's last completed session (what its next rows carry), all the
        tickers that completed sessions in one resumed sweep."""
        states = {key: values[joined.tickers] for key, values in self.daily_states.items()}
        window = self.settings.daily_window
        with np.errstate(divide="ignore", invalid="ignore"):
            values = indicators(joined.arrays, SweepLayout(joined.starts, joined.stops), joined.stops - 1,  # type: ignore[arg-type]
                                [("daily", window)], [("daily", window)], pos0=self.daily_seen[joined.tickers],
                                states=states)
        self._scatter(self.daily_states, states, joined.tickers)
        for j, name in enumerate(self.daily_names):
            self.daily_values[joined.tickers, j] = values[name]

    def _scatter(self, store: dict[str, np.ndarray], subset: dict[str, np.ndarray], indices: np.ndarray) -> None:
        for key, values in subset.items():
            if key not in store:
                store[key] = np.zeros((len(self.names), values.shape[1]))
            store[key][indices] = values

    def _sweep(self, swept: Bars, decisions: np.ndarray) -> pd.DataFrame | None:
        """Advance every ticker with swept bars (sorted by ticker, ts) through them; the rows of the bars at
        `decisions`, sorted by (ts, ticker)."""
        joined = self.tails.join(swept)
        arrays, tickers = joined.arrays, joined.tickers
        at = joined.new_rows[np.isin(swept["ts"], decisions)]
        base = self.seen[tickers] - joined.tail_lengths  # each ticker's bar count before its first buffer row
        ticker_pos = np.arange(len(arrays["close"])) - np.repeat(joined.begins - base, joined.stops - joined.begins)
        states = {key: values[tickers] for key, values in self.states.items()}
        with np.errstate(divide="ignore", invalid="ignore"):
            log_close = np.log(arrays["close"])
            columns = trailing_returns(log_close, ticker_pos, at, self.settings.windows)
            columns.update(indicators(arrays, SweepLayout(joined.starts, joined.stops), at, self.windows,  # type: ignore[arg-type]
                                      self.rsi_windows, pos0=self.seen[tickers], states=states))
        self._scatter(self.states, states, tickers)
        self.seen[tickers] += joined.stops - joined.starts
        self.tails.keep_last(joined)
        if not len(at):
            return None
        row_ticker = swept["ticker"][np.isin(swept["ts"], decisions)]
        row_ts = arrays["ts"][at]
        order = np.lexsort((self.name_rank[row_ticker], row_ts))  # by time, then ticker
        at, row_ts, row_ticker = at[order], row_ts[order], row_ticker[order]
        ordered = [self.names[i] for i in row_ticker.tolist()]
        columns = {name: values[order] for name, values in columns.items()}
        columns.update(self._session_columns(row_ticker, arrays["close"][at]))
        returns = [f"ret_{w}" for w in self.settings.windows]
        stamp = pl.Series(row_ts).cast(pl.Datetime("ns", "UTC"))
        relative = relative_returns(pl.DataFrame({"ticker": ordered, "ts": stamp, **{r: columns[r] for r in returns}}),
                                    self.settings, self.sectors)
        for name in relative_feature_names(self.settings):
            columns[name] = relative[name].to_numpy()
        if self.settings.include_sentiment:
            columns.update(self._sentiment(row_ticker, row_ts))
        block = np.empty((len(self.columns), len(at)))  # one float block: pandas builds it ~4x faster than
        for k, name in enumerate(self.columns):  # a dict of 100+ columns, and later slices and concats are cheaper
            block[k] = columns[name]
        frame = pd.DataFrame(block.T, columns=self.columns, copy=False)
        if self.sectors is not None:
            frame.insert(0, "sector", [self.sectors.get(name, UNKNOWN_SECTOR) for name in ordered])
        frame.insert(0, "ts", pd.DatetimeIndex(row_ts, tz="UTC"))
        frame.insert(0, "ticker", ordered)
        return frame

    def _session_columns(self, ticker: np.ndarray, close: np.ndarray) -> dict[str, np.ndarray]:
        """Session values and daily indicators of rows of one session, looked up by ticker index."""
        tails, lengths = self.daily_tails, self.daily_tails.lengths[ticker]
        keep = tails.keep

        def previous(column: str, lag: int) -> np.ndarray:
            return np.where(lengths >= lag, tails.values[column][ticker, keep - lag], np.nan)

        out = session_values(close, self.session_open[ticker], previous("close", 1), previous("close", 2),
                             previous("high", 1), previous("low", 1))
        if self.settings.frequency == "1min":
            values = self.daily_values[ticker]
            out.update({name: values[:, j] for j, name in enumerate(self.daily_names)})
        return out

    def _sentiment(self, ticker: np.ndarray, row_ts: np.ndarray) -> dict[str, np.ndarray]:
        out = {name: np.zeros(len(ticker)) for _, name, _ in self.specs}
        by_ticker = np.argsort(ticker, kind="stable")
        first, count = segments(ticker[by_ticker])
        for a, n in zip(first.tolist(), count.tolist(), strict=True):
            rows = by_ticker[a:a + n]
            i = int(ticker[rows[0]])
            if not len(self.tweet_times[i]):
                continue
            values = window_values(self.tweet_times[i], self.tweet_prefix[i], row_ts[rows], self.specs)
            for column, column_values in values.items():
                out[column][rows] = column_values
        return out

    def _trim_tweets(self, d: int) -> None:
        """Forget tweets no later window can hold (prefix sums are absolute, so the rest keep their values)."""
        horizon = d - self.longest_tweet_window
        for i, times in enumerate(self.tweet_times):
            drop = int(np.searchsorted(times, horizon, side="right"))
            if drop > 256:
                self.tweet_times[i] = times[drop:]
                self.tweet_prefix[i] = {k: v[drop:] for k, v in self.tweet_prefix[i].items()}


def arrival_batches(bars: pd.DataFrame | pl.DataFrame, tweets: pd.DataFrame | None, settings: FeatureSettings
                    ) -> Iterator[tuple[str, pd.DataFrame | pl.DataFrame]]:
    """A recorded history as the engine would have received it: per UTC day, the tweets that became
    available by the day's last bar (by availability), then the day's bars (by time). ("tweets" | "bars",
    frame) pairs. The engine's rows do not depend on how arrivals are grouped (tests feed bar by bar)."""
    frame = as_polars_bars(bars, sort=False).sort("ts", maintain_order=True)
    ts = frame["ts"].to_physical().to_numpy()
    ordered, available = pd.DataFrame(), np.zeros(0, "int64")
    if tweets is not None and len(tweets) and settings.include_sentiment:
        times = tweet_available_ns(tweets, settings)
        order = np.argsort(times, kind="stable")
        ordered, available = tweets.iloc[order].reset_index(drop=True), times[order]
    days = np.flatnonzero(np.r_[True, np.diff(ts // DAY_NS) != 0, True]) if len(ts) else np.zeros(1, "int64")
    sent = 0
    for a, b in itertools.pairwise(days):
        upto = int(np.searchsorted(available, ts[b - 1], side="right"))
        if upto > sent:
            yield "tweets", ordered.iloc[sent:upto]
            sent = upto
        yield "bars", frame.slice(int(a), int(b - a))
    if sent < len(ordered):
        yield "tweets", ordered.iloc[sent:]
