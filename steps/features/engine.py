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
    session_columns,
    session_values,
    trailing_returns,
)
from steps.features.build import (
    UNKNOWN_SECTOR,
    as_polars_bars,
    is_decision,
    relative_returns,
)
from steps.features.catalogue import columns_of_kind, feature_columns
from steps.features.sentiment import (
    TweetHistory,
    by_segment_and_time,
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


class TweetStore:
    """Every ticker's tweets still inside some window, with their running prefix sums, as one
    sentiment.TweetHistory (a segment per ticker index), so that a session's rows of all tickers are one
    window_values call and a delivery of tweets extends every ticker's sums in one tweet_prefix call.

    Prefix sums are absolute (each continues from the ticker's last sum), so forgetting old tweets changes
    no window's difference of sums: the values stay the batch's bit for bit."""

    KEYS = ("w", "ws", "s", "pos")
    FORGET_AT = 4096  # stale tweets worth a copy of the history (~a day of the full universe's)

    def __init__(self) -> None:
        self.history = TweetHistory(np.zeros(0, "int64"), np.zeros(0, "int64"), {k: np.zeros(0) for k in self.KEYS})

    def grow(self) -> None:
        """A new ticker index: an empty segment (its sums start at 0)."""
        h = self.history
        self.history = TweetHistory(h.times, np.append(h.counts, 0),
                                    {k: np.append(v, 0.0) for k, v in h.prefix.items()})

    def last_times(self) -> np.ndarray:
        """Each ticker's latest tweet time (NO_TIME: none)."""
        h = self.history
        last = np.full(len(h.counts), NO_TIME)
        has = h.counts > 0
        last[has] = h.times[(h.begins + h.counts - 1)[has]]
        return last

    def extend(self, ticker: np.ndarray, times: np.ndarray, weights: np.ndarray, scores: np.ndarray,
               positive: np.ndarray) -> None:
        """Append tweets (sorted by ticker index, each ticker's by time, none earlier than its last one)."""
        h = self.history
        first, added = segments(ticker)
        tickers = ticker[first]
        last = h.prefix_begins[tickers] + h.counts[tickers]  # each ticker's running sums so far
        prefix = tweet_prefix(weights, scores, positive, added, {k: v[last] for k, v in h.prefix.items()})
        fresh = np.ones(len(prefix["w"]), bool)
        fresh[np.cumsum(added + 1) - added - 1] = False  # each run's first value is the start it was given
        more = np.zeros(len(h.counts), "int64")
        more[tickers] = added
        self.history = TweetHistory(merge(h.times, h.counts, times, more), h.counts + more,
                                    {k: merge(v, h.counts + 1, prefix[k][fresh], more) for k, v in h.prefix.items()})

    def forget(self, horizon: int) -> None:
        """Drop the tweets available at or before `horizon` (no window of a later row holds them) once there
        are enough of them to be worth a copy."""
        h = self.history
        stale = h.times <= horizon
        if int(stale.sum()) < self.FORGET_AT:
            return
        owner = np.repeat(np.arange(len(h.counts)), h.counts)
        drop = np.bincount(owner[stale], minlength=len(h.counts))
        prefix_owner = np.repeat(np.arange(len(h.counts)), h.counts + 1)
        keep = ranges(h.counts + 1) >= drop[prefix_owner]  # each ticker's sums from its first kept tweet on
        self.history = TweetHistory(h.times[~stale], h.counts - drop, {k: v[keep] for k, v in h.prefix.items()})


def merge(old: np.ndarray, old_lengths: np.ndarray, new: np.ndarray, new_lengths: np.ndarray) -> np.ndarray:
    """Per segment, `old`'s run followed by `new`'s (both flat, runs back to back in segment order)."""
    lengths = old_lengths + new_lengths
    begins = np.cumsum(lengths) - lengths
    out = np.empty(int(lengths.sum()), old.dtype)
    out[np.repeat(begins, old_lengths) + ranges(old_lengths)] = old
    out[np.repeat(begins + old_lengths, new_lengths) + ranges(new_lengths)] = new
    return out


@dataclass(frozen=True)
class RowBlock:
    """Emitted rows of one or more decision times, sorted by (ts, ticker), before any pandas frame exists.

    Why not a frame per decision time: a replay emits 6,552 of them for a year, and building, slicing and
    concatenating those frames cost more than computing them (~4 ms a day); blocks are stacked once."""

    tickers: list[str]
    ts: np.ndarray  # int64 ns UTC
    values: np.ndarray  # (features, rows), in feature_columns order
    sectors: list[str] | None


def rows_frame(blocks: list[RowBlock], columns: list[str], with_sector: bool) -> pd.DataFrame:
    """The table rows of `blocks`, in their order: ticker, ts, [sector], the features (one float block)."""
    values = blocks[0].values if len(blocks) == 1 else np.concatenate([b.values for b in blocks], axis=1)
    frame = pd.DataFrame(values.T, columns=columns, copy=False)
    if with_sector:
        frame.insert(0, "sector", [s for b in blocks for s in b.sectors or ()])
    frame.insert(0, "ts", pd.DatetimeIndex(np.concatenate([b.ts for b in blocks]), tz="UTC"))
    frame.insert(0, "ticker", [t for b in blocks for t in b.tickers])
    return frame


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
        self.daily_names = [c.name for c in columns_of_kind(settings, "indicator") if c.window == "daily"]
        self.relative_names = [c.name for c in columns_of_kind(settings, "relative")]
        # per ticker index
        self.names: list[str] = []
        self._names_enum = pl.Enum([])
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
        self.tweets = TweetStore()
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
        self.dropped_bars = 0  # of late_bars, those older than their ticker's newest bar: not in any state
        self.late_tweets = 0

    # ----- input ---------------------------------------------------------------------------------------
    def on_bars(self, bars: pd.DataFrame | pl.DataFrame) -> list[pd.DataFrame]:
        """Take bars (ticker, ts, close, and the optional open/high/low/volume) in arrival order; return the
        rows of every decision time these bars complete (one frame each, in time order)."""
        return self.frames(self.bars_rows(bars))

    def on_tweets(self, tweets: pd.DataFrame) -> list[pd.DataFrame]:
        """Take scored tweets (steps.validation's contract) in arrival order; a tweet later than the open
        decision time completes it (its rows are returned)."""
        return self.frames(self.tweets_rows(tweets))

    def flush(self) -> list[pd.DataFrame]:
        """Emit the open decision time's rows (end of a replay, or a grace period expired live)."""
        return self.frames(self.flush_rows())

    def frames(self, blocks: list[RowBlock]) -> list[pd.DataFrame]:
        """One frame per decision time of `blocks` (views of one frame per block: pandas copy-on-write)."""
        emitted = []
        for block in blocks:
            frame = rows_frame([block], self.columns, self.sectors is not None)
            stamps = block.ts
            bounds = np.flatnonzero(np.r_[True, stamps[1:] != stamps[:-1], True])
            for a, b in itertools.pairwise(bounds.tolist()):
                piece = frame.iloc[a:b]  # copy-on-write: a view until someone writes to it
                piece.index = pd.RangeIndex(b - a)
                emitted.append(piece)
        return emitted

    def bars_rows(self, bars: pd.DataFrame | pl.DataFrame) -> list[RowBlock]:
        """on_bars, the rows as blocks (one per session closed, each of one or more decision times); what a
        replay collects (rows_frame), skipping a frame per decision time.

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
        order = by_segment_and_time(ticker, ts, len(self.names))  # each ticker's bars in time order (ties:
        # as delivered): np.lexsort's order
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
        arrived = np.bincount(which, minlength=len(times))  # bars at each decision time (one per ticker)
        for k, d in enumerate(times.tolist()):
            if d <= self.last_emitted:
                self.late_bars += int(arrived[k])  # their decision time was emitted without them
                continue
            if d != self.open_decision:
                if self.open_decision != NO_TIME:
                    complete.append(self._take_open())  # a later decision time's bars have arrived
                self.open_decision = d
            if d < newest:  # a later bar has arrived: complete, whoever is present (no set of names needed)
                complete.append(self._take_open())
                continue
            self.open_rows |= {self.names[i] for i in ticker[at_decision[which == k]].tolist()}
            if self.expected is not None and self.expected <= self.open_rows:
                complete.append(self._take_open())
        if self.open_decision != NO_TIME and newest > self.open_decision:
            complete.append(self._take_open())
        return self._close(complete)

    def tweets_rows(self, tweets: pd.DataFrame) -> list[RowBlock]:
        """on_tweets, the rows as blocks (bars_rows)."""
        if not len(tweets) or not self.settings.include_sentiment:
            return []
        available = tweet_available_ns(tweets, self.settings)
        emitted = (self._close([self._take_open()]) if self.open_decision != NO_TIME
                   and available.max() > self.open_decision else [])
        late = available <= self.last_emitted
        self.late_tweets += int(late.sum())
        available = np.where(late, self.last_emitted + 1, available)
        codes, names = pd.factorize(tweets["ticker"], sort=False)  # first seen first
        ticker = np.array([self._ticker(str(name)) for name in names], "int64")[codes]
        order = by_segment_and_time(ticker, available, len(self.names))  # ties: as delivered
        ticker, times = ticker[order], available[order]
        times = np.maximum(times, self.tweets.last_times()[ticker])  # delivered after a later one: from now
        self.tweets.extend(ticker, times, tweet_weights(tweets, self.settings)[order],
                           tweets["score"].to_numpy(dtype="float64")[order], tweet_is_positive(tweets)[order])
        return emitted

    def flush_rows(self) -> list[RowBlock]:
        """flush, the rows as blocks (bars_rows)."""
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
        """Each bar's ticker index (new tickers get state, in order of first appearance). A cast to an Enum
        of the known names, whose physical codes are the indices (~4x faster than a replace per delivery)."""
        codes = tickers.cast(self._names_enum, strict=False)
        if codes.null_count():
            for name in tickers.filter(codes.is_null()).unique(maintain_order=True).to_list():
                self._ticker(name)
            codes = tickers.cast(self._names_enum)
        return codes.to_physical().cast(pl.Int64).to_numpy()

    def _by_ticker(self, ticker: np.ndarray) -> np.ndarray:
        """The stable order by ticker index: a radix sort on 16-bit codes (~6x faster than on int64)."""
        return np.argsort(ticker.astype("int16" if len(self.names) < 2**15 else "int64"), kind="stable")

    def _ticker(self, name: str) -> int:
        index = self.index.get(name)
        if index is not None:
            return index
        index = self.index[name] = len(self.names)
        self.names.append(name)
        self._names_enum = pl.Enum(self.names)
        self.name_rank = np.argsort(np.argsort(np.array(self.names), kind="stable"), kind="stable")
        self.seen, self.daily_seen = np.append(self.seen, 0), np.append(self.daily_seen, 0)
        self.last_ts, self.session = np.append(self.last_ts, NO_TIME), np.append(self.session, NO_TIME)
        self.session_open = np.append(self.session_open, np.nan)
        self.daily_values = np.concatenate((self.daily_values, np.full((1, len(self.daily_names)), np.nan)))
        self.tails.grow()
        self.daily_tails.grow()
        self.tweets.grow()
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
        self.dropped_bars += int((~kept).sum())  # lost entirely: steps.live reports them and exits non-zero
        return kept

    # ----- a decision time completes ---------------------------------------------------------------------
    def _take_open(self) -> int:
        d = self.open_decision
        self.open_decision, self.open_rows = NO_TIME, set()
        return d

    def _close(self, decisions: list[int]) -> list[RowBlock]:
        """Emit the rows of complete decision times (ascending). Those of one session are computed in one
        sweep (a replay delivers a day at a time: 26 decision times, one kernel call per window instead of
        26); rows, values and order are those of closing them one by one."""
        emitted: list[RowBlock] = []
        if not decisions:
            return emitted
        sessions = session_columns(np.array(decisions, dtype="int64"))[0]
        for a, b in itertools.pairwise(np.flatnonzero(np.r_[True, np.diff(sessions) != 0, True])):
            block = self._close_session(decisions[a:b])
            if block is not None:
                emitted.append(block)
        return emitted

    def _close_session(self, decisions: list[int]) -> RowBlock | None:
        last = decisions[-1]
        rows = None
        if self.pending:
            one = len(self.pending) == 1  # one delivery: already sorted by ticker (a replay's day)
            pending = concat(self.pending)
            due = pending["ts"] <= last  # bars after `last` wait
            everything = bool(due.all())
            self.pending = [take(pending, ~due)] if not everything else []
            if due.any():
                swept = (pending if one and everything else take(pending, np.flatnonzero(due)) if one
                         else take(pending, np.flatnonzero(due)[self._by_ticker(pending["ticker"][due])]))
                self._sessions(swept)
                rows = self._sweep(swept, np.array(decisions, dtype="int64"))
        self.last_emitted = max(self.last_emitted, last)
        self._trim_tweets(decisions[0])
        return rows

    def _sessions(self, swept: Bars) -> None:
        """Complete every session that a swept bar has left, and sweep the daily indicators over them."""
        if (swept["session"] == self.session[swept["ticker"]]).all():  # the usual case: no session boundary
            self.session_bars.append(swept)
            return
        if self._next_sessions(swept):
            return
        bars = concat([*self.session_bars, swept])
        bars = take(bars, self._by_ticker(bars["ticker"]))  # each ticker's bars in time order
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

    def _next_sessions(self, swept: Bars) -> bool:
        """_sessions' usual case in a replay, without re-sorting the open sessions' bars: each ticker's swept
        bars are all of one new session, and the open sessions' bars are one part (sorted by ticker). Those
        tickers' open sessions complete (daily_bars over exactly their bars, as in the general case) and their
        swept bars become the open ones. False (nothing done) in any other case."""
        if len(self.session_bars) != 1:
            return False
        ticker, session = swept["ticker"], swept["session"]
        first, count = segments(ticker)
        if not ((session[first] == session[first + count - 1]).all()  # one session per ticker (time order)
                and (np.diff(session)[(np.diff(ticker) == 0)] == 0).all()
                and (session[first] != self.session[ticker[first]]).all()):
            return False
        open_bars = self.session_bars[0]
        moving = np.zeros(len(self.names), bool)
        moving[ticker[first]] = True
        done_rows = moving[open_bars["ticker"]]  # open sessions that the swept bars complete
        staying = take(open_bars, ~done_rows) if not done_rows.all() else None
        self.session[ticker[first]] = session[first]
        self.session_open[ticker[first]] = swept["open"][first]
        self.session_bars = [swept] if staying is None else [swept, staying]
        if not done_rows.any():
            return True
        finished = open_bars if staying is None else take(open_bars, done_rows)
        starts, _ = segments(finished["ticker"])
        days = daily_bars(*(finished[c] for c in BAR_INPUTS), starts)
        joined = self.daily_tails.join({"ticker": finished["ticker"][starts], **{c: days[c] for c in BAR_INPUTS}})
        if self.settings.frequency == "1min":
            self._daily_sweep(joined)
        self.daily_seen[joined.tickers] += joined.stops - joined.starts
        self.daily_tails.keep_last(joined)
        return True

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

    def _sweep(self, swept: Bars, decisions: np.ndarray) -> RowBlock | None:
        """Advance every ticker with swept bars (sorted by ticker, ts) through them; the rows of the bars at
        `decisions`, sorted by (ts, ticker)."""
        joined = self.tails.join(swept)
        arrays, tickers = joined.arrays, joined.tickers
        at_decision = np.isin(swept["ts"], decisions)
        at = joined.new_rows[at_decision]
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
        row_ticker = swept["ticker"][at_decision]
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
        for name in self.relative_names:
            columns[name] = relative[name].to_numpy()
        if self.settings.include_sentiment:
            columns.update(self._sentiment(row_ticker, row_ts))
        block = np.empty((len(self.columns), len(at)))  # one float block: pandas builds it ~4x faster than
        for k, name in enumerate(self.columns):  # a dict of 100+ columns, and later slices and concats are cheaper
            block[k] = columns[name]
        sectors = None if self.sectors is None else [self.sectors.get(name, UNKNOWN_SECTOR) for name in ordered]
        return RowBlock(ordered, row_ts, block, sectors)

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
        return window_values(self.tweets.history, ticker, row_ts, self.specs)

    def _trim_tweets(self, d: int) -> None:
        """Forget tweets no later window can hold (prefix sums are absolute, so the rest keep their values)."""
        self.tweets.forget(d - self.longest_tweet_window)


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
