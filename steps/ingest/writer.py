"""Buffered, de-duplicated Parquet writes partitioned `date=YYYY-MM-DD/ticker=XXX/`.

Rows are buffered and flushed every `flush_every` rows or `flush_seconds`, one file per partition per
flush, each written atomically (temp + rename locally, one PUT on S3): a reader never sees half a
file, and a process killed mid-flush leaves whole files only. De-duplication is by (tweet_id, ticker):
a tweet naming two tickers is two rows, and after a crash between its two files the missing row is
still written when the backfill re-delivers the tweet. On start the keys already in the newest
`dedupe_days` partitions are loaded, so a restarted ingester does not write again what the previous
one flushed (the stream's backfill re-delivers recent tweets on purpose).

Each flush also checks the rows' clock (steps/common/clock.py `stream_clock`): a live stream delivers a tweet
seconds after its `created_at`, so a median delay near a whole number of hours is a `created_at` in the wrong zone.
It is warned about (once per offset) and counted, never refused: the stream cannot be replayed, and the rows are
kept; steps.features judges the tweets against the bars before they are used.
"""

from __future__ import annotations

import io
import logging
import time
import uuid
from collections import Counter, OrderedDict

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from steps.common.clock import ClockVerdict, stream_clock
from steps.ingest.sinks import Sink

SCHEMA = pa.schema([
    ("tweet_id", pa.string()),
    ("created_at", pa.timestamp("ns", tz="UTC")),
    ("text", pa.string()),
    ("author_id", pa.string()),
    ("lang", pa.string()),
    ("like_count", pa.int64()),
    ("retweet_count", pa.int64()),
    ("reply_count", pa.int64()),
    ("quote_count", pa.int64()),
    ("ingested_at", pa.timestamp("ns", tz="UTC")),
    ("engagement_observed_at", pa.timestamp("ns", tz="UTC")),  # when the counts were received (records.py)
])


class BoundedKeySet:
    """The most recent `capacity` keys: de-duplication memory that cannot grow without bound."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._keys: OrderedDict[tuple[str, str], None] = OrderedDict()

    def __contains__(self, key: tuple[str, str]) -> bool:
        return key in self._keys

    def remember(self, key: tuple[str, str]) -> None:
        self._keys[key] = None
        self._keys.move_to_end(key)
        while len(self._keys) > self.capacity:
            self._keys.popitem(last=False)

    def __len__(self) -> int:
        return len(self._keys)


class PartitionedTweetWriter:
    """Buffer, de-duplicate, flush. A failed write never drops rows: each partition file is retried
    `write_attempts` times with doubling waits from `write_backoff` seconds (capped at 2 s); rows whose file
    could not be written stay buffered and are tried again at the next flush. After `spill_after`
    consecutive failed flushes, or at the final flush, rows the primary will not take go to the `spill`
    sink instead (same key layout, so moving them back is a plain copy). Each row goes to exactly one
    place: it leaves the buffer only once its file is in place, primary or spill."""

    def __init__(self, sink: Sink, *, flush_every: int = 500, flush_seconds: float = 60.0,
                 dedupe_capacity: int = 2_000_000, logger: logging.Logger | None = None,
                 spill: Sink | None = None, write_attempts: int = 3, write_backoff: float = 0.2,
                 spill_after: int = 3) -> None:
        self.sink = sink
        self.spill = spill
        self.flush_every = flush_every
        self.flush_seconds = flush_seconds
        self.write_attempts = max(1, write_attempts)
        self.write_backoff = max(0.0, write_backoff)
        self.spill_after = max(1, spill_after)
        self.logger = logger or logging.getLogger(__name__)
        self.run_id = uuid.uuid4().hex[:12]
        self.seen = BoundedKeySet(dedupe_capacity)
        self.buffer: list[dict] = []
        self.flushes = 0
        self.rows_written = 0
        self.duplicates = 0
        self.files_written = 0
        self.rows_spilled = 0
        self.files_spilled = 0
        self.write_failures = 0
        self.failed_flushes = 0
        self.last_error: str | None = None
        self.per_ticker: Counter[str] = Counter()
        self.clock: ClockVerdict | None = None  # the last flush's clock finding (None: none judged yet)
        self._clock_warned: set[int | None] = set()
        self._consecutive_failures = 0
        self._sequence = 0
        self._last_flush = time.monotonic()

    def load_existing(self, days: int) -> int:
        """Remember the keys in the newest `days` date partitions that exist; returns how many.

        The newest partitions present, not the last days of the calendar: the backfill re-delivers the
        tweets of the minutes before a restart, whatever their date."""
        loaded = 0
        for day in self.sink.dates()[-days:] if days > 0 else []:
            for key in self.sink.list(f"date={day}/"):
                ticker = _ticker_of_key(key)
                ids = pq.read_table(io.BytesIO(self.sink.read(key)), columns=["tweet_id"]).column(0).to_pylist()
                for tweet_id in ids:
                    self.seen.remember((tweet_id, ticker))
                    loaded += 1
        return loaded

    def add(self, rows: list[dict]) -> int:
        """Buffer the rows not seen before; returns how many were new."""
        new = 0
        for row in rows:
            key = (row["tweet_id"], row["ticker"])
            if key in self.seen:
                self.duplicates += 1
                continue
            self.seen.remember(key)
            self.buffer.append(row)
            new += 1
        return new

    def due(self) -> bool:
        if not self.buffer:
            return False
        waited = time.monotonic() - self._last_flush >= self.flush_seconds
        if self._consecutive_failures:
            return waited  # the primary is failing: try again on the timer, not on every new tweet
        return len(self.buffer) >= self.flush_every or waited

    def _write_with_retries(self, key: str, body: bytes) -> bool:
        delay = self.write_backoff
        for attempt in range(1, self.write_attempts + 1):
            try:
                self.sink.write(key, body)
                return True
            except Exception as exc:  # OSError locally (ENOSPC, EROFS), botocore errors on S3
                self.write_failures += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
                self.logger.warning("write %s failed (attempt %d of %d): %s", self.sink.describe(key), attempt,
                                    self.write_attempts, self.last_error)
                if attempt < self.write_attempts and delay > 0:
                    time.sleep(delay)
                    delay = min(2.0, delay * 2)
        return False

    def flush(self, *, final: bool = False) -> dict[str, int]:
        """Write the buffer, one file per (date, ticker); returns rows per ticker written to the primary.

        `final`: the last flush before exit; what the primary will not take goes to the spill sink."""
        self._last_flush = time.monotonic()
        if not self.buffer:
            return {}
        frame = pd.DataFrame(self.buffer)
        frame["date"] = frame["created_at"].dt.strftime("%Y-%m-%d")
        self._check_clock(frame)
        self.logger.info("flush %d: writing %d rows to %d partitions", self.flushes, len(frame),
                         frame.groupby(["date", "ticker"]).ngroups)
        sequence = self._sequence
        self._sequence += 1
        written: dict[str, int] = {}
        done: set[int] = set()
        primary_ok = True
        spill_now = final or self._consecutive_failures + 1 >= self.spill_after
        for (date, ticker), part in frame.groupby(["date", "ticker"], sort=True):
            table = pa.Table.from_pandas(part.drop(columns=["date", "ticker"]), schema=SCHEMA, preserve_index=False)
            body = io.BytesIO()
            pq.write_table(table, body)
            key = f"date={date}/ticker={ticker}/part-{self.run_id}-{sequence:06d}.parquet"
            if primary_ok and self._write_with_retries(key, body.getvalue()):
                self.files_written += 1
                self.rows_written += len(part)
                written[ticker] = written.get(ticker, 0) + len(part)
                done.update(part.index)
                continue
            primary_ok = False  # one partition's retries are enough to call the primary down for this flush
            if spill_now and self.spill is not None and self._spill(key, body.getvalue()):
                self.rows_spilled += len(part)
                done.update(part.index)
        # A row leaves the buffer only once its file is in place (primary or spill).
        self.buffer = [row for i, row in enumerate(self.buffer) if i not in done]
        self.per_ticker.update(written)
        self.flushes += 1
        if primary_ok:
            self._consecutive_failures = 0
        else:
            self.failed_flushes += 1
            self._consecutive_failures += 1
            self.logger.warning("flush %d: primary write failing (%d in a row); %d rows kept in memory, "
                                "%d spilled so far", self.flushes - 1, self._consecutive_failures,
                                len(self.buffer), self.rows_spilled)
        return written

    def _check_clock(self, frame: pd.DataFrame) -> None:
        """The buffered rows' delay from created_at to ingested_at: a whole number of hours is a clock, said once
        per offset (a restart's backfill or a replay is not judged: stream_clock)."""
        verdict = stream_clock(frame["created_at"], frame["ingested_at"])
        if verdict.level == "unknown":
            return
        self.clock = verdict
        if verdict.level == "warn" and verdict.offset_hours not in self._clock_warned:
            self._clock_warned.add(verdict.offset_hours)
            self.logger.warning("column 'created_at': clock check: %s; fix: %s", verdict.problem, verdict.fix)

    def _spill(self, key: str, body: bytes) -> bool:
        try:
            self.spill.write(key, body)
        except Exception as exc:
            self.last_error = f"spill {type(exc).__name__}: {exc}"
            self.logger.error("spill write %s failed: %s", self.spill.describe(key), self.last_error)
            return False
        self.files_spilled += 1
        self.logger.warning("spilled %s", self.spill.describe(key))
        return True


def _ticker_of_key(key: str) -> str:
    for part in key.split("/"):
        if part.startswith("ticker="):
            return part.removeprefix("ticker=")
    return ""
