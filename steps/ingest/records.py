"""One stream message -> rows of the raw tweets table (one row per universe ticker the tweet mentions)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from steps.ingest.rules import tickers_of

# The raw table's columns (partition keys `date` and `ticker` live in the path, hive style).
RAW_COLUMNS = (
    "tweet_id", "created_at", "ticker", "text", "author_id", "lang",
    "like_count", "retweet_count", "reply_count", "quote_count", "ingested_at", "engagement_observed_at",
)
TWEET_FIELDS = ["created_at", "public_metrics", "entities", "author_id", "lang"]


def tweet_rows(tweet: Mapping[str, Any], universe: frozenset[str], now: datetime | None = None) -> list[dict]:
    """Rows for one tweet object (`data` of a stream message); [] when it names no universe ticker.

    `engagement_observed_at` is when the counts in `public_metrics` were received (`now`): the stream delivers
    them with the tweet, so a tweet received late (the backfill after a reconnect) carries counts read late, and
    steps.features weights it by them only if they were read by created_at + ingest_lag (docs/sentiment.md)."""
    tweet_id = str(tweet.get("id", "")).strip()
    if not tweet_id:
        return []
    created = pd.Timestamp(tweet.get("created_at") or (now or datetime.now(UTC)))
    created = created.tz_localize("UTC") if created.tzinfo is None else created.tz_convert("UTC")
    metrics = tweet.get("public_metrics") or {}
    ingested = pd.Timestamp(now or datetime.now(UTC))
    # The counts arrive with the tweet. A receive time before created_at is this machine's clock behind the
    # stream's: the counts were read no earlier than the tweet was made (the contract refuses earlier times).
    observed = max(ingested, created)
    return [
        {
            "tweet_id": tweet_id,
            "created_at": created,
            "ticker": ticker,
            "text": str(tweet.get("text", "")),
            "author_id": str(tweet.get("author_id", "")),
            "lang": str(tweet.get("lang", "")),
            "like_count": int(metrics.get("like_count", 0) or 0),
            "retweet_count": int(metrics.get("retweet_count", 0) or 0),
            "reply_count": int(metrics.get("reply_count", 0) or 0),
            "quote_count": int(metrics.get("quote_count", 0) or 0),
            "ingested_at": ingested,
            "engagement_observed_at": observed,
        }
        for ticker in tickers_of(tweet, universe)
    ]
