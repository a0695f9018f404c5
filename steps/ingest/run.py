"""The ingestion loop: rules in place, stream, buffer, flush, stop cleanly on a signal or a bound.

Stopping: SIGTERM/SIGINT only set an event (asyncio signal handlers run between loop callbacks, so a
signal that arrives during a flush waits until that flush has written its last file); the loop then
cancels the stream, flushes what is buffered and exits 0. The last flush is `final`: what the primary
output will not take then goes to the spill folder (see `PartitionedTweetWriter`). Every loop here is
bounded by `max_seconds` and, optionally, `max_tweets`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from steps.common.secrets import Secret
from steps.ingest.client import Backoff, IngestStreamingClient
from steps.ingest.metrics import publish_counts
from steps.ingest.records import TWEET_FIELDS, tweet_rows
from steps.ingest.rules import RULE_TAG_PREFIX, Rule
from steps.ingest.writer import PartitionedTweetWriter


@dataclass(frozen=True)
class IngestSettings:
    api_base: str
    flush_every: int = 500
    flush_seconds: float = 60.0
    max_seconds: float = 3600.0
    max_tweets: int = 0
    backfill_minutes: int = 0
    read_timeout: float = 21.0
    max_retries: int = 50
    backoff: Backoff = field(default_factory=Backoff)
    dedupe_days: int = 2
    sync_rules: bool = True


async def sync_rules(client: IngestStreamingClient, wanted: list[Rule], logger: logging.Logger) -> None:
    """Make our tagged rules exactly `wanted`; rules with other tags are not ours and stay."""
    from tweepy import StreamRule

    current = (await client.get_rules()).data or []
    ours = [r for r in current if (r.tag or "").startswith(RULE_TAG_PREFIX)]
    wanted_pairs = {(r.value, r.tag) for r in wanted}
    stale = [r.id for r in ours if (r.value, r.tag) not in wanted_pairs]
    present = {(r.value, r.tag) for r in ours}
    missing = [StreamRule(value=r.value, tag=r.tag) for r in wanted if (r.value, r.tag) not in present]
    if stale:
        await client.delete_rules(stale)
    if missing:
        await client.add_rules(missing)
    logger.info("stream rules: %d wanted, %d added, %d removed", len(wanted), len(missing), len(stale))


async def ingest(bearer: Secret, writer: PartitionedTweetWriter, universe: frozenset[str], rules: list[Rule],
                 settings: IngestSettings, *, logger: logging.Logger, cloudwatch: Any = None) -> dict[str, Any]:
    started = time.monotonic()
    deadline = started + settings.max_seconds
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    new_rows = 0
    not_in_universe = 0
    published: Counter[str] = Counter()

    async def on_tweet(tweet: dict[str, Any]) -> None:
        nonlocal new_rows, not_in_universe
        rows = tweet_rows(tweet, universe)
        if not rows:
            not_in_universe += 1
            return
        new_rows += writer.add(rows)
        if writer.due():
            flush()
        if settings.max_tweets and new_rows >= settings.max_tweets:
            stop.set()

    def flush(final: bool = False) -> None:
        written = writer.flush(final=final)
        if written and cloudwatch is not None:
            publish_counts(cloudwatch, written, logger=logger)
            published.update(written)

    client = IngestStreamingClient(
        bearer, on_tweet, api_base=settings.api_base, backoff=settings.backoff, read_timeout=settings.read_timeout,
        max_retries=settings.max_retries, deadline=deadline, backfill_minutes=settings.backfill_minutes,
        logger=logger,
    )
    stopped_by = "deadline"
    try:
        if settings.sync_rules:
            await sync_rules(client, rules, logger)
        task = client.filter(tweet_fields=TWEET_FIELDS)
        while time.monotonic() < deadline:
            if stop.is_set():
                stopped_by = "signal or max_tweets"
                break
            if task.done():
                stopped_by = "stream ended"
                break
            if writer.due():
                flush()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=min(0.25, max(0.0, deadline - time.monotonic())))
        client.disconnect()
        await asyncio.wait({task}, timeout=5)
    finally:
        flush(final=True)
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
    if client.fatal is not None:
        raise client.fatal
    stats = client.stats
    return {
        "stopped_by": stopped_by,
        "seconds": round(time.monotonic() - started, 3),
        "connects": stats.connects,
        "lines": stats.lines,
        "tweets_received": stats.tweets,
        "malformed_lines": stats.malformed,
        "keep_alives": stats.keep_alives,
        "http_errors": {str(k): v for k, v in stats.http_errors.items()},
        "network_errors": stats.network_errors,
        "rate_limit_waits": stats.rate_limit_waits,
        "rows_written": writer.rows_written,
        "duplicates_dropped": writer.duplicates,
        "not_in_universe": not_in_universe,
        "files_written": writer.files_written,
        "flushes": writer.flushes,
        "write_failures": writer.write_failures,
        "failed_flushes": writer.failed_flushes,
        "rows_spilled": writer.rows_spilled,
        "files_spilled": writer.files_spilled,
        "rows_not_durable": len(writer.buffer),
        "per_ticker": dict(sorted(writer.per_ticker.items())),
        # the last flush's clock finding (steps/common/clock.py stream_clock): null when none was judged
        "clock_offset_hours": writer.clock.offset_hours if writer.clock is not None else None,
        "metrics_published": sum(published.values()),
        "finished_at": datetime.now(UTC).isoformat(),
    }


def read_universe(path: str | Path) -> frozenset[str]:
    """The universe's tickers, upper-cased (cashtags are matched in upper case); names checked
    (steps.common.names: a ticker becomes a `ticker=X/` folder)."""
    from steps.common.names import read_universe_rows

    return frozenset(ticker.upper() for ticker, _ in read_universe_rows(path, need_sector=False))
