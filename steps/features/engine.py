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
from dataclasses import dataclass, field

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
DAY_NS = 86_400_000_000_000
NO_TIME = np.iinfo(np.int64).min


@dataclass(frozen=True)
class SweepLayout:
    """Where each swept ticker's new bars are in the concatenated buffer (what indicators() reads)."""

    starts: np.ndarray
    stops: np.ndarray


@dataclass
class TickerState:
    """One ticker's carried state: its tail of bars, the bars since the last sweep, its sessions, its tweets."""

    index: int
    seen: int = 0  # bars swept so far
    last_ts: int = NO_TIME
    tail: dict[str, np.ndarray] = field(default_factory=dict)  # the last `keep` swept bars, with "ts"
    pending: list[dict[str, np.ndarray]] = field(default_factory=list)
    session: int = NO_TIME
    session_open: float = np.nan
    session_bars: list[dict[str, np.ndarray]] = field(default_factory=list)
    daily_seen: int = 0
    daily_tail: dict[str, np.ndarray] = field(default_factory=dict)
    daily_values: dict[str, float] = field(default_factory=dict)
    tweet_times: np.ndarray = field(default_factory=lambda: np.zeros(0, "int64"))
    tweet_prefix: dict[str, np.ndarray] = field(default_factory=dict)


class FeatureEngine:
    """Per-ticker state fed bars and tweets in arrival order; emits BuildFeatures' rows per decision time.

    `settings` must be the table's (its `absent_inputs` included: the manifest's settings). `expected`: the
    tickers whose bars complete a decision time at once (the universe); without it a decision time completes
    only when a later event arrives or on flush()."""

    def __init__(self, settings: FeatureSettings, sectors: Mapping[str, str] | None = None,
                 expected: Iterable[str] | None = None) -> None:
        self.settings = settings
        self.sectors = dict(sectors) if sectors is not None else None
        self.expected = set(expected) if expected is not None else None
        self.columns = feature_columns(settings)
        self.windows = [(str(w), w) for w in settings.windows]
        self.rsi_windows = self.windows + ([] if settings.rsi_period in settings.windows
                                           else [(str(settings.rsi_period), settings.rsi_period)])
        self.keep = max(w for _, w in self.rsi_windows) + 2  # bars a resumed sweep reads before its first new bar
        self.daily_keep = max(settings.daily_window + 2, 3)
        self.specs = window_specs(settings)
        self.longest_tweet_window = max(int(length.value) for _, _, length in self.specs)
        self.tickers: dict[str, TickerState] = {}
        self.states: dict[str, np.ndarray] = {}
        self.daily_states: dict[str, np.ndarray] = {}
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
        frame = as_polars_bars(bars)
        ts = frame["ts"].to_physical().to_numpy()
        order = np.argsort(ts, kind="stable")  # arrival order within a delivery is by time
        ts = ts[order]
        codes, names = pd.factorize(frame["ticker"].to_numpy()[order])
        values = {c: self._input(frame, c)[order] for c in BAR_INPUTS}
        session, minute = session_columns(ts)
        decision = is_decision(self._clocks(session, minute), self.settings)
        kept = np.ones(len(ts), dtype=bool)
        by_ticker = np.argsort(codes, kind="stable")  # each ticker's bars, in time order
        bounds = np.concatenate(([0], np.flatnonzero(np.diff(codes[by_ticker])) + 1, [len(ts)]))
        for a, b in itertools.pairwise(bounds):
            rows = by_ticker[a:b]
            state = self._ticker(str(names[codes[rows[0]]]))
            t = ts[rows]
            if not (t[0] > state.last_ts and (len(t) < 2 or bool((t[1:] > t[:-1]).all()))):
                keep = t > np.maximum.accumulate(np.concatenate(([state.last_ts], t[:-1])))
                self.late_bars += int((~keep).sum())  # not later than the ticker's newest bar: dropped
                kept[rows[~keep]] = False
                rows, t = rows[keep], t[keep]
                if not len(rows):
                    continue
            state.last_ts = int(t[-1])
            state.pending.append({"ts": t, "session": session[rows], **{c: values[c][rows] for c in BAR_INPUTS}})
        newest = int(ts[kept].max()) if kept.any() else NO_TIME
        at_decision = decision & kept
        complete: list[int] = []
        for d in np.unique(ts[at_decision]):
            d = int(d)
            present = {str(names[c]) for c in codes[at_decision & (ts == d)]}
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
        for name, idx in tweets.groupby("ticker", sort=False).indices.items():
            idx = idx[np.argsort(available[idx], kind="stable")]
            state = self._ticker(str(name))
            times = available[idx]
            if len(state.tweet_times) and times[0] < state.tweet_times[-1]:
                times = np.maximum(times, state.tweet_times[-1])  # delivered after a later one: counted from now
            start = {k: float(v[-1]) for k, v in state.tweet_prefix.items()} or None
            prefix = tweet_prefix(weights[idx], scores[idx], positive[idx], start)
            if state.tweet_prefix:
                prefix = {k: np.r_[state.tweet_prefix[k], v[1:]] for k, v in prefix.items()}
            state.tweet_prefix, state.tweet_times = prefix, np.r_[state.tweet_times, times]
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

    def _ticker(self, name: str) -> TickerState:
        state = self.tickers.get(name)
        if state is None:
            state = self.tickers[name] = TickerState(index=len(self.tickers))
            for store in (self.states, self.daily_states):
                for key, values in store.items():
                    store[key] = np.r_[values, np.zeros((1, values.shape[1]))]
        return state

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
        swept, later = [], {}
        for state in self.tickers.values():
            if not state.pending:
                continue
            merged = state.pending[0] if len(state.pending) == 1 else {
                c: np.concatenate([p[c] for p in state.pending]) for c in state.pending[0]}
            cut = int(np.searchsorted(merged["ts"], last, side="right"))  # bars after `last` wait
            if cut < len(merged["ts"]):
                later[state.index] = {c: v[cut:] for c, v in merged.items()}
            state.pending = [{c: v[:cut] for c, v in merged.items()}] if cut else []
            if cut:
                swept.append(state)
        self._sessions(swept)
        rows = self._sweep(swept, np.array(decisions, dtype="int64"))
        for state in self.tickers.values():
            if state.index in later:
                state.pending = [later[state.index]]
        self.last_emitted = max(self.last_emitted, last)
        self._trim_tweets(decisions[0])
        if rows is None:
            return []
        stamps = pd.DatetimeIndex(rows["ts"]).asi8
        bounds = np.flatnonzero(np.r_[True, stamps[1:] != stamps[:-1], True])
        return [rows.iloc[a:b].reset_index(drop=True) for a, b in itertools.pairwise(bounds)]

    def _sessions(self, swept: list[TickerState]) -> None:
        """Complete every session that a pending bar has left, and sweep the daily indicators over them."""
        finished: dict[int, list[dict[str, np.ndarray]]] = {}
        for state in swept:
            if len(state.pending) > 1:  # one piece per ticker from here on (the sweep reads it too)
                state.pending = [{c: np.concatenate([p[c] for p in state.pending]) for c in state.pending[0]}]
            piece = state.pending[0]
            sessions = piece["session"]
            if sessions[0] == sessions[-1] == state.session:  # the usual case: no boundary in these bars
                state.session_bars.append({c: piece[c] for c in BAR_INPUTS})
                continue
            runs = np.flatnonzero(np.r_[True, sessions[1:] != sessions[:-1], True])
            for a, b in itertools.pairwise(runs):
                session = int(sessions[a])
                if session != state.session:
                    if state.session_bars:
                        finished.setdefault(state.index, []).append(self._daily_bar(state.session_bars))
                    state.session, state.session_open, state.session_bars = session, float(piece["open"][a]), []
                state.session_bars.append({c: piece[c][a:b] for c in BAR_INPUTS})
        if not finished:
            return
        by_index = {s.index: s for s in swept}
        done = [(by_index[index], {c: np.concatenate([day[c] for day in days]) for c in BAR_INPUTS})
                for index, days in finished.items()]
        if self.settings.frequency == "1min":
            self._daily_sweep(done)
        for state, new in done:
            state.daily_seen += len(new["close"])
            state.daily_tail = {c: np.concatenate((state.daily_tail.get(c, np.zeros(0)), new[c]))[-self.daily_keep:]
                                for c in BAR_INPUTS}

    @staticmethod
    def _daily_bar(bars: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
        joined = {c: np.concatenate([bar[c] for bar in bars]) for c in BAR_INPUTS}
        return daily_bars(joined["open"], joined["high"], joined["low"], joined["close"], joined["volume"],
                          np.zeros(1, "int64"))

    def _daily_sweep(self, done: list[tuple[TickerState, dict[str, np.ndarray]]]) -> None:
        """The daily indicators at each ticker's last completed session (what its next rows carry), all the
        tickers that completed sessions in one resumed sweep."""
        pieces = [{c: np.concatenate((state.daily_tail.get(c, np.zeros(0)), new[c])) for c in BAR_INPUTS}
                  for state, new in done]
        lengths = np.array([len(p["close"]) for p in pieces])
        stops = np.cumsum(lengths)
        starts = stops - np.array([len(new["close"]) for _, new in done])
        arrays = {c: np.concatenate([p[c] for p in pieces]) for c in BAR_INPUTS}
        indices = [state.index for state, _ in done]
        states = {key: values[indices] for key, values in self.daily_states.items()}
        window = self.settings.daily_window
        with np.errstate(divide="ignore", invalid="ignore"):
            values = indicators(arrays, SweepLayout(starts, stops), stops - 1, [("daily", window)],  # type: ignore[arg-type]
                                [("daily", window)], pos0=np.array([state.daily_seen for state, _ in done]),
                                states=states)
        self._scatter(self.daily_states, states, indices)
        for k, (state, _) in enumerate(done):
            state.daily_values = {name: float(v[k]) for name, v in values.items()}

    def _scatter(self, store: dict[str, np.ndarray], subset: dict[str, np.ndarray], indices: list[int]) -> None:
        for key, values in subset.items():
            if key not in store:
                store[key] = np.zeros((len(self.tickers), values.shape[1]))
            store[key][indices] = values

    def _sweep(self, swept: list[TickerState], decisions: np.ndarray) -> pd.DataFrame | None:
        """Advance every ticker with pending bars through them; the rows of the bars at `decisions`, sorted
        by (ts, ticker)."""
        pieces, starts, stops, pos0, base, indices = [], [], [], [], [], []
        offset = 0
        for state in swept:
            new = state.pending[0]  # merged by _sessions
            tail_len = len(state.tail.get("close", ()))
            joined = {c: np.concatenate((state.tail[c], new[c])) if tail_len else new[c] for c in new}
            n = len(joined["close"])
            pieces.append(joined)
            starts.append(offset + tail_len)
            stops.append(offset + n)
            pos0.append(state.seen)
            base.append(state.seen - tail_len)  # the ticker's bar count before this buffer's first row
            indices.append(state.index)
            offset += n
        names = {s.index: name for name, s in self.tickers.items()}
        at_parts, row_names = [], []
        for k, state in enumerate(swept):
            new_ts = pieces[k]["ts"][starts[k] - (stops[k] - len(pieces[k]["ts"])):]
            hits = np.flatnonzero(np.isin(new_ts, decisions)) + starts[k]
            at_parts.append(hits)
            row_names += [names[state.index]] * len(hits)
        arrays = {c: np.concatenate([p[c] for p in pieces]) for c in ("ts", *BAR_INPUTS)}
        at = np.concatenate(at_parts).astype("int64") if at_parts else np.zeros(0, "int64")
        lengths = np.array([len(p["close"]) for p in pieces])
        ticker_pos = np.arange(len(arrays["close"])) - np.repeat(np.cumsum(lengths) - lengths - np.array(base), lengths)
        states = {key: values[indices] for key, values in self.states.items()}
        layout = SweepLayout(np.array(starts, "int64"), np.array(stops, "int64"))
        with np.errstate(divide="ignore", invalid="ignore"):
            log_close = np.log(arrays["close"])
            columns = trailing_returns(log_close, ticker_pos, at, self.settings.windows)
            columns.update(indicators(arrays, layout, at, self.windows, self.rsi_windows,  # type: ignore[arg-type]
                                      pos0=np.array(pos0, "int64"), states=states))
        self._scatter(self.states, states, indices)
        for state, joined in zip(swept, pieces, strict=True):
            state.seen += len(joined["close"]) - len(state.tail.get("close", ()))
            state.tail = {c: v[-self.keep:] for c, v in joined.items()}
            state.pending = []
        if not len(at):
            return None
        row_ts = arrays["ts"][at]
        order = np.lexsort((np.array(row_names), row_ts))  # by time, then ticker
        at, row_ts = at[order], row_ts[order]
        ordered = [row_names[i] for i in order]
        columns = {name: values[order] for name, values in columns.items()}
        columns.update(self._session_columns(ordered, arrays["close"][at]))
        returns = [f"ret_{w}" for w in self.settings.windows]
        stamp = pl.Series(row_ts).cast(pl.Datetime("ns", "UTC"))
        relative = relative_returns(pl.DataFrame({"ticker": ordered, "ts": stamp, **{r: columns[r] for r in returns}}),
                                    self.settings, self.sectors)
        for name in relative_feature_names(self.settings):
            columns[name] = relative[name].to_numpy()
        if self.settings.include_sentiment:
            columns.update(self._sentiment(ordered, row_ts))
        keys: dict[str, object] = {"ticker": ordered, "ts": pd.DatetimeIndex(row_ts, tz="UTC")}
        if self.sectors is not None:
            keys["sector"] = [self.sectors.get(name, UNKNOWN_SECTOR) for name in ordered]
        return pd.DataFrame({**keys, **{name: columns[name] for name in self.columns}})

    def _session_columns(self, names: list[str], close: np.ndarray) -> dict[str, np.ndarray]:
        """Session values and daily indicators of rows of one session: per ticker, looked up once."""
        tickers, row_of = np.unique(np.array(names), return_inverse=True)
        states = [self.tickers[str(n)] for n in tickers]

        def previous(column: str, lag: int) -> np.ndarray:
            values = [s.daily_tail.get(column, ()) for s in states]
            return np.array([float(v[-lag]) if len(v) >= lag else np.nan for v in values])[row_of]

        opens = np.array([s.session_open for s in states])[row_of]
        out = session_values(close, opens, previous("close", 1), previous("close", 2), previous("high", 1),
                             previous("low", 1))
        if self.settings.frequency == "1min":
            daily = [k for k in self.columns if k.endswith("_daily") and k not in out and not k.startswith(
                ("sent", "tweet_count"))]
            for key in daily:
                out[key] = np.array([s.daily_values.get(key, np.nan) for s in states])[row_of]
        return out

    def _sentiment(self, names: list[str], row_ts: np.ndarray) -> dict[str, np.ndarray]:
        out = {name: np.zeros(len(names)) for _, name, _ in self.specs}
        rows_of: dict[str, list[int]] = {}
        for k, name in enumerate(names):
            rows_of.setdefault(name, []).append(k)
        for name, rows in rows_of.items():
            state = self.tickers[name]
            if not len(state.tweet_times):
                continue
            values = window_values(state.tweet_times, state.tweet_prefix, row_ts[rows], self.specs)
            for column, column_values in values.items():
                out[column][rows] = column_values
        return out

    def _trim_tweets(self, d: int) -> None:
        """Forget tweets no later window can hold (prefix sums are absolute, so the rest keep their values)."""
        horizon = d - self.longest_tweet_window
        for state in self.tickers.values():
            drop = int(np.searchsorted(state.tweet_times, horizon, side="right"))
            if drop > 256:
                state.tweet_times = state.tweet_times[drop:]
                state.tweet_prefix = {k: v[drop:] for k, v in state.tweet_prefix.items()}


def arrival_batches(bars: pd.DataFrame | pl.DataFrame, tweets: pd.DataFrame | None, settings: FeatureSettings
                    ) -> Iterator[tuple[str, pd.DataFrame | pl.DataFrame]]:
    """A recorded history as the engine would have received it: per UTC day, the tweets that became
    available by the day's last bar (by availability), then the day's bars (by time). ("tweets" | "bars",
    frame) pairs. The engine's rows do not depend on how arrivals are grouped (tests feed bar by bar)."""
    frame = as_polars_bars(bars).sort("ts", maintain_order=True)
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
