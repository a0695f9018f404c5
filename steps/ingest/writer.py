"""Buffered, de-duplicated Parquet writes partitioned `date=YYYY-MM-DD/ticker=XXX/`.

Rows are buffered and flushed every `flush_every` rows or `flush_seconds`, one file per partition per
flush, each written atomically (temp + rename locally, one PUT on S3): a reader never sees half a
file, and a process killed mid-flush leaves whole files only. De-duplication is by (tweet_id, ticker):
a tweet naming two tickers is two rows, and after a crash between its two files the missing row is
still written when the backfill re-delivers the tweet. On start the keys already in the newest
`dedupe_days` partitions are loaded, so a restarted ingester does not write again what the previous
one flushed (the stream's backfill re-delivers recent tweets on purpose).
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
    def __init__(self, sink: Sink, *, flush_every: int = 500, flush_seconds: float = 60.0,
                 dedupe_capacity: int = 2_000_000, logger: logging.Logger | None = None) -> None:
        self.sink = sink
        self.flush_every = flush_every
        self.flush_seconds = flush_seconds
        self.logger = logger or logging.getLogger(__name__)
        self.run_id = uuid.uuid4().hex[:12]
        self.seen = BoundedKeySet(dedupe_capacity)
        self.buffer: list[dict] = []
        self.flushes = 0
        self.rows_written = 0
        self.duplicates = 0
        self.files_written = 0
        self.per_ticker: Counter[str] = Counter()
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
        return len(self.buffer) >= self.flush_every or time.monotonic() - self._last_flush >= self.flush_seconds

    def flush(self) -> dict[str, int]:
        """Write the buffer, one file per (date, ticker); returns rows per ticker written."""
        self._last_flush = time.monotonic()
        if not self.buffer:
            return {}
        frame = pd.DataFrame(self.buffer)
        frame["date"] = frame["created_at"].dt.strftime("%Y-%m-%d")
        self.logger.info("flush %d: writing %d rows to %d partitions", self.flushes, len(frame),
                         frame.groupby(["date", "ticker"]).ngroups)
        written: dict[str, int] = {}
        for (date, ticker), part in frame.groupby(["date", "ticker"], sort=True):
            table = pa.Table.from_pandas(part.drop(columns=["date", "ticker"]), schema=SCHEMA, preserve_index=False)
            body = io.BytesIO()
            pq.write_table(table, body)
            key = f"date={date}/ticker={ticker}/part-{self.run_id}-{self.flushes:06d}.parquet"
            self.sink.write(key, body.getvalue())
            self.files_written += 1
            written[ticker] = written.get(ticker, 0) + len(part)
        # Only now is the buffer safe to drop: every file of this flush is in place.
        self.rows_written += len(self.buffer)
        self.per_ticker.update(written)
        self.buffer = []
        self.flushes += 1
        return written


def _ticker_of_key(key: str) -> str:
    for part in key.split("/"):
        if part.startswith("ticker="):
            return part.removeprefix("ticker=")
    return ""
