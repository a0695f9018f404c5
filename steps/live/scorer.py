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
                "late_bars": self.engine.late_bars, "late_tweets": self.engine.late_tweets}


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


@dataclass
class FolderFollower:
    """Polls `root/bars` and `root/tweets` for new parquet files, oldest name first, each read once.

    Bounded: stops after `idle_s` without a new file, or after `max_files` files (None: no limit)."""

    root: Path
    known_tickers: set[str] | None
    poll_s: float = 0.5
    idle_s: float = 60.0
    max_files: int | None = None
    seen: set[Path] = field(default_factory=set)
    rejected: list[dict[str, str]] = field(default_factory=list)

    def follow(self, scorer: LiveScorer, logger: logging.Logger) -> int:
        taken = 0
        last_new = time.monotonic()
        while time.monotonic() - last_new < self.idle_s and (self.max_files is None or taken < self.max_files):
            new = sorted((p for kind in ("tweets", "bars") for p in (self.root / kind).glob("*.parquet")
                          if p not in self.seen), key=lambda p: (p.name, p.parent.name))
            if not new:
                time.sleep(self.poll_s)
                continue
            for path in new[: (self.max_files - taken) if self.max_files is not None else None]:
                self.seen.add(path)
                taken += 1
                try:  # checked whole before the engine sees any of it: a rejected file leaves no trace there
                    frame = read_table(path, name=path.parent.name)
                    if path.parent.name == "bars":
                        checked = validate_bars(frame, path, known_tickers=self.known_tickers)
                    else:
                        checked = validate_tweets(frame, path, known_tickers=self.known_tickers)
                except StepInputError as exc:
                    self._reject(path, str(exc), logger)
                    continue
                if path.parent.name == "bars":
                    scorer.on_bars(checked)
                else:
                    scorer.on_tweets(checked)
                logger.info("took %s", path)
            last_new = time.monotonic()
        scorer.flush()
        return taken


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
