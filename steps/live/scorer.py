"""The live loop: arrivals -> FeatureEngine -> one model call per decision time -> scores.

Two feeds, one loop:
- replay: recorded bars and tweets in arrival order (engine.arrival_batches); decision times before
  `score_from` only warm the engine up (their rows are computed, not scored);
- follow: a folder the feeds write into (`bars/*.parquet`, `tweets/*.parquet`, each file complete when it
  appears: written elsewhere and renamed in, as steps.ingest does), polled in name order, after an optional
  history replayed for warm-up. A file that cannot be read or fails validation (a truncated write, a ticker
  the model was not trained on, a bad timestamp) is moved to `rejected/<bars|tweets>/` with a `.reason.txt`
  beside it and the loop goes on: one bad delivery must not stop scoring the universe. The run then ends with
  exit code 3 (steps.live.__main__.RejectedFiles), the files named in the summary.
Scores are (ticker, ts, probability, model_package_arn), one row per ticker and decision time, written
temp-then-rename: the replay's `scores.parquet` at the end, the follower's `scores-<UTC date>.parquet`
after every decision time, so a reader never sees half a file.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl

from steps.common.errors import StepInputError
from steps.common.io import read_table, write_json, write_parquet, write_text
from steps.common.validation import validate_bars, validate_tweets
from steps.features.engine import FeatureEngine, arrival_batches
from steps.features.settings import FeatureSettings
from steps.live.model_client import Model

REJECTED_DIR = "rejected"

SCORES_FILE = "scores.parquet"
SUMMARY_FILE = "live_metrics.json"
SCORE_COLUMNS = ["ticker", "ts", "probability", "model_package_arn"]


@dataclass
class LiveScorer:
    """Feeds the engine, scores every completed decision time once, keeps the scores and call timings."""

    engine: FeatureEngine
    model: Model
    columns: list[str]
    model_package_arn: str
    score_from: pd.Timestamp | None = None
    on_scores: Callable[[pd.DataFrame], None] | None = None
    keep_scores: bool = True  # a follower hands each decision time to on_scores and keeps nothing
    scores: list[pd.DataFrame] = field(default_factory=list)
    decision_seconds: list[float] = field(default_factory=list)  # feature update + model call, per decision time
    call_seconds: list[float] = field(default_factory=list)
    quarantined: list[dict[str, str]] = field(default_factory=list)  # rows not scored (a non-finite feature)
    quarantined_rows: int = 0

    def on_bars(self, bars: pd.DataFrame | pl.DataFrame) -> None:
        started = time.perf_counter()
        self._score(self.engine.on_bars(bars), started)

    def on_tweets(self, tweets: pd.DataFrame) -> None:
        started = time.perf_counter()
        self._score(self.engine.on_tweets(tweets), started)

    def flush(self) -> None:
        self._score(self.engine.flush(), time.perf_counter())

    def _score(self, frames: list[pd.DataFrame], started: float) -> None:
        for rows in frames:
            if self.score_from is not None and rows["ts"].iloc[0] < self.score_from:
                continue
            rows = self._finite_rows(rows)
            if rows.empty:
                continue
            called = time.perf_counter()
            probability = self.model.score(rows, self.columns)
            done = time.perf_counter()
            self.call_seconds.append(done - called)
            self.decision_seconds.append(done - started)
            if len(self.call_seconds) > 20_000:  # a follower runs for days: keep the recent timings only
                del self.call_seconds[:10_000], self.decision_seconds[:10_000]
            started = done  # a second decision time completed by the same arrival waits only for its own call
            scored = pd.DataFrame({"ticker": rows["ticker"].to_numpy(), "ts": rows["ts"].to_numpy(),
                                   "probability": probability, "model_package_arn": self.model_package_arn})
            if self.keep_scores:
                self.scores.append(scored)
            if self.on_scores is not None:
                self.on_scores(scored)

    def _finite_rows(self, rows: pd.DataFrame) -> pd.DataFrame:
        """The rows whose model features hold no ±inf; the others are quarantined (counted, the first few
        named), not sent: one overflowed feature must neither stop the loop nor reach the model. (A missing
        value, NaN, is the model's to handle, as in training.)"""
        values = rows[self.columns].to_numpy(dtype="float64", na_value=np.nan)
        infinite = np.isinf(values)
        bad = infinite.any(axis=1)
        if not bad.any():
            return rows
        self.quarantined_rows += int(bad.sum())
        for i in np.flatnonzero(bad)[: max(0, 20 - len(self.quarantined))].tolist():
            column = self.columns[int(np.flatnonzero(infinite[i])[0])]
            self.quarantined.append({"ticker": str(rows["ticker"].iloc[i]), "ts": str(rows["ts"].iloc[i]),
                                     "column": column, "reason": "non-finite feature: row not scored"})
        return rows[~bad].reset_index(drop=True)

    def table(self) -> pd.DataFrame:
        if not self.scores:
            return pd.DataFrame({c: pd.Series(dtype="float64") for c in SCORE_COLUMNS})
        return pd.concat(self.scores, ignore_index=True)

    def timings(self) -> dict[str, float | int]:
        def quantile(values: list[float], q: float) -> float | None:
            return float(np.quantile(values, q)) * 1000 if values else None

        self.decision_seconds, self.call_seconds = self.decision_seconds[-10_000:], self.call_seconds[-10_000:]
        return {"decision_times_timed": len(self.decision_seconds),
                "decision_ms_p50": quantile(self.decision_seconds, 0.5),
                "decision_ms_p99": quantile(self.decision_seconds, 0.99),
                "model_call_ms_p50": quantile(self.call_seconds, 0.5),
                "late_bars": self.engine.late_bars, "dropped_bars": self.engine.dropped_bars,
                "late_tweets": self.engine.late_tweets, "quarantined_rows": self.quarantined_rows,
                "quarantined": self.quarantined}


def replay(scorer: LiveScorer, bars: pd.DataFrame | pl.DataFrame, tweets: pd.DataFrame | None,
           settings: FeatureSettings) -> None:
    """Feed a recorded history through the scorer in arrival order, then flush the last decision time."""
    for kind, batch in arrival_batches(bars, tweets, settings):
        if kind == "tweets":
            scorer.on_tweets(batch)  # type: ignore[arg-type]
        else:
            scorer.on_bars(batch)
    scorer.flush()


def write_scores(frame: pd.DataFrame, output: Path, name: str = SCORES_FILE) -> Path:
    output.mkdir(parents=True, exist_ok=True)
    return write_parquet(frame, output / name)


class DayScores:
    """A following scorer's `scores-<day>.parquet`, rewritten whole after each decision time; only the current
    day is held. Keyed by (ticker, ts): a restarted follower that meets the same feed again rescores decision
    times the day's file already holds, and the first score stands (it is the one acted on), never a second
    row (issue 29: a restart on the same feed and output doubled the day's scores)."""

    def __init__(self, output: Path) -> None:
        self.output = output
        self.day: str | None = None
        self.scores = pd.DataFrame()

    def save(self, scored: pd.DataFrame) -> Path:
        day = scored["ts"].iloc[0].strftime("%Y-%m-%d")
        if day != self.day:
            existing = self.output / f"scores-{day}.parquet"  # a restarted follower continues the day's file
            self.day, self.scores = day, pd.read_parquet(existing) if existing.is_file() else pd.DataFrame()
        parts = [frame for frame in (self.scores, scored) if not frame.empty]
        self.scores = pd.concat(parts, ignore_index=True).drop_duplicates(["ticker", "ts"], keep="first",
                                                                          ignore_index=True)
        return write_scores(self.scores, self.output, f"scores-{day}.parquet")


# A bar or tweet stamped this far ahead of the feed's clock (the newest bar taken so far, else the delivery's
# median time), or ahead of the wall clock, is an outlier: quarantined alone, so that it cannot make every
# later bar "late". A market closure is at most a few sessions; 10 days is well beyond any.
AHEAD_OF_FEED = pd.Timedelta(days=10)
AHEAD_OF_NOW = pd.Timedelta(days=1)


def feed_files(folder: Path) -> list[Path]:
    """The parquet deliveries in a feed folder: hidden and `_`-prefixed names are the writers' temporaries
    (`.tmp-*`) and markers, never data (steps.common.io.data_files' rule)."""
    return [p for p in folder.glob("*.parquet") if not p.name.startswith((".", "_")) and p.is_file()]


@dataclass
class FolderFollower:
    """Polls `root/bars` and `root/tweets` for new parquet files, oldest name first, each read once.

    A file is judged only once its size and modification time held still over one poll (a file written in
    place is not yet complete: it is looked at again, never quarantined for being half-written). Deliveries are
    idempotent: a file whose bytes were taken before (under any name) is skipped, and a tweet already taken
    (the same tweet_id and ticker) is not counted again; both are counted in the summary.
    Bounded: stops after `idle_s` without a new file, or after `max_files` files (None: no limit)."""

    root: Path
    known_tickers: set[str] | None
    poll_s: float = 0.5
    idle_s: float = 60.0
    max_files: int | None = None
    required_bar_columns: tuple[str, ...] = ()  # inputs the training bars had: a file without one is refused
    seen: set[Path] = field(default_factory=set)
    rejected: list[dict[str, str]] = field(default_factory=list)
    quarantined: list[dict[str, str]] = field(default_factory=list)
    quarantined_rows: int = 0
    duplicate_files: int = 0
    duplicate_tweets: int = 0
    digests: set[str] = field(default_factory=set)
    tweet_keys: set[tuple[str, str]] = field(default_factory=set)
    sizes: dict[Path, tuple[int, int]] = field(default_factory=dict)

    def follow(self, scorer: LiveScorer, logger: logging.Logger) -> int:
        taken = 0
        last_new = time.monotonic()
        while time.monotonic() - last_new < self.idle_s and (self.max_files is None or taken < self.max_files):
            new = sorted((p for kind in ("tweets", "bars") for p in feed_files(self.root / kind)
                          if p not in self.seen), key=lambda p: (p.name, p.parent.name))
            ready = [p for p in new if self._settled(p)]
            if not ready:
                time.sleep(self.poll_s)
                if new:
                    last_new = time.monotonic()  # a file is still being written: not idle
                continue
            for path in ready[: (self.max_files - taken) if self.max_files is not None else None]:
                self.seen.add(path)
                self.sizes.pop(path, None)
                taken += 1
                self._take(path, scorer, logger)
            last_new = time.monotonic()
        scorer.flush()
        return taken

    def _settled(self, path: Path) -> bool:
        """True once the file's (size, mtime) equals what the previous poll saw."""
        try:
            stat = path.stat()
        except OSError:  # renamed away or deleted meanwhile
            return False
        now = (stat.st_size, stat.st_mtime_ns)
        before = self.sizes.get(path)
        self.sizes[path] = now
        return before == now

    def _take(self, path: Path, scorer: LiveScorer, logger: logging.Logger) -> None:
        try:  # checked whole before the engine sees any of it: a rejected file leaves no trace there
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            if digest in self.digests:
                self.duplicate_files += 1
                logger.warning("skipped %s: the same bytes were delivered before under another name", path)
                return
            frame = read_table(path, name=path.parent.name)
            if path.parent.name == "bars":
                for column in self.required_bar_columns:
                    if column not in frame.columns:
                        raise StepInputError("missing column that the training bars had", file=path, column=column,
                                             fix=f"send '{column}' with every bar (the model was trained on it)")
                checked = validate_bars(frame, path, known_tickers=self.known_tickers)
                checked = self._on_time(checked, "ts", path, scorer, logger)
            else:
                checked = validate_tweets(frame, path, known_tickers=self.known_tickers, logger=logger)
                checked = self._on_time(checked, "created_at", path, scorer, logger)
                keys = list(zip(checked["tweet_id"].astype(str), checked["ticker"].astype(str), strict=True))
                fresh = np.array([key not in self.tweet_keys for key in keys], bool)
                self.duplicate_tweets += int((~fresh).sum())
                self.tweet_keys.update(keys)
                checked = checked[fresh].reset_index(drop=True)
        except StepInputError as exc:
            self._reject(path, str(exc), logger)
            return
        except OSError as exc:
            self._reject(path, f"{path}: cannot be read ({exc.strerror or exc})", logger)
            return
        self.digests.add(digest)
        if path.parent.name == "bars":
            scorer.on_bars(checked)
        else:
            scorer.on_tweets(checked)
        logger.info("took %s", path)

    def _on_time(self, frame: pd.DataFrame, column: str, path: Path, scorer: LiveScorer,
                 logger: logging.Logger) -> pd.DataFrame:
        """The rows stamped within reach of the feed's clock; the outliers are quarantined (counted, named)."""
        if frame.empty:
            return frame
        stamps = frame[column]
        newest = scorer.engine.last_ts[scorer.engine.last_ts > np.iinfo("int64").min] if len(
            scorer.engine.last_ts) else np.zeros(0, "int64")
        clock = pd.Timestamp(int(newest.max()), tz="UTC") if len(newest) else stamps.median()
        limit = min(clock + AHEAD_OF_FEED, pd.Timestamp.now(tz="UTC") + AHEAD_OF_NOW)
        ahead = (stamps > limit).to_numpy()
        if not ahead.any():
            return frame
        self.quarantined_rows += int(ahead.sum())
        for i in np.flatnonzero(ahead)[: max(0, 20 - len(self.quarantined))].tolist():
            self.quarantined.append({"file": str(path), "ticker": str(frame["ticker"].iloc[i]),
                                     column: str(stamps.iloc[i]),
                                     "reason": f"stamped after {limit} (the feed's clock {clock} + "
                                               f"{AHEAD_OF_FEED.days} days, or now + 1 day)"})
        logger.error("%s: quarantined %d row(s) stamped after %s, first %s at %s", path, int(ahead.sum()), limit,
                     frame["ticker"].iloc[int(np.flatnonzero(ahead)[0])], stamps[ahead].iloc[0])
        return frame[~ahead].reset_index(drop=True)


    def _reject(self, path: Path, reason: str, logger: logging.Logger) -> None:
        """Move the file out of the feed (so a restarted follower does not meet it again) with its reason."""
        folder = self.root / REJECTED_DIR / path.parent.name
        target = folder / path.name
        try:
            folder.mkdir(parents=True, exist_ok=True)
            write_text(reason + "\n", folder / f"{path.name}.reason.txt")
            path.replace(target)
        except OSError as exc:  # a read-only feed: the file stays where it is, skipped, and is still reported
            logger.error("cannot move %s to %s (%s)", path, target, exc.strerror or exc)
            target = path
        self.rejected.append({"file": str(path), "moved_to": str(target), "reason": reason})
        logger.error("rejected %s: %s", path, reason)


def write_summary(output: Path, scorer: LiveScorer, extra: dict) -> Path:
    output.mkdir(parents=True, exist_ok=True)
    return write_json({**scorer.timings(), **extra}, output / SUMMARY_FILE)
