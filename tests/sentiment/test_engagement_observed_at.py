"""`engagement_observed_at` from the stream to the scored tweets BuildFeatures reads (issue 30).

The ingester writes when it received each tweet's counts; the FinBERT step passes the column through scoring;
the features step then weights a tweet by its counts only if they were read by created_at + ingest_lag.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from steps.common.validation import validate_tweets
from steps.features.engagement import engagement_counts
from steps.ingest.records import tweet_rows
from steps.ingest.sinks import LocalSink
from steps.ingest.writer import PartitionedTweetWriter
from steps.sentiment.combine import combine_scores
from steps.sentiment.finbert import load_raw_tweets, score_tweets

UNIVERSE = frozenset({"AAPL", "MSFT"})
CREATED = datetime(2026, 3, 2, 15, 0, 0, tzinfo=UTC)


class _FixedModel:
    """Stands in for the ONNX model: the same probabilities for every text."""

    name = "fixed"

    def predict_proba(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        return np.tile([0.6, 0.3, 0.1], (len(texts), 1))


def _tweet(tweet_id: str, tags: list[str], likes: int) -> dict:
    return {"id": tweet_id, "text": " ".join(f"${t}" for t in tags), "created_at": CREATED.isoformat(),
            "public_metrics": {"like_count": likes, "retweet_count": 1, "reply_count": 0},
            "entities": {"cashtags": [{"tag": t} for t in tags]}}


def test_the_ingester_writes_when_it_received_the_counts() -> None:
    received = CREATED + timedelta(seconds=5)
    rows = tweet_rows(_tweet("1", ["AAPL", "MSFT"], 7), UNIVERSE, now=received)
    assert [r["engagement_observed_at"] for r in rows] == [pd.Timestamp(received)] * 2
    # This machine's clock behind the stream's: the counts were not read before the tweet existed.
    behind = tweet_rows(_tweet("2", ["AAPL"], 7), UNIVERSE, now=CREATED - timedelta(seconds=2))
    assert behind[0]["engagement_observed_at"] == pd.Timestamp(CREATED)


def test_the_column_survives_the_raw_files_and_scoring_into_the_scored_tweets(tmp_path) -> None:
    writer = PartitionedTweetWriter(LocalSink(tmp_path / "raw"), logger=logging.getLogger("test"))
    writer.add(tweet_rows(_tweet("1", ["AAPL"], 9), UNIVERSE, now=CREATED + timedelta(seconds=5)))
    # Delivered two hours late (the backfill after a reconnect): its counts are two hours old, not the tweet's.
    writer.add(tweet_rows(_tweet("2", ["MSFT"], 90), UNIVERSE, now=CREATED + timedelta(hours=2)))
    writer.flush(final=True)
    raw = load_raw_tweets(tmp_path / "raw")
    scored, _, _ = score_tweets(raw, _FixedModel())
    fingpt = scored[["tweet_id", "ticker"]].assign(p_pos=0.2, p_neg=0.7, p_neu=0.1)
    combined, _ = combine_scores(scored, fingpt, "mean", source="fingpt")
    tweets = validate_tweets(combined, "scored").set_index("tweet_id")
    assert tweets.loc["1", "engagement_observed_at"] == pd.Timestamp(CREATED + timedelta(seconds=5))
    assert tweets.loc["2", "engagement_observed_at"] == pd.Timestamp(CREATED + timedelta(hours=2))
    assert engagement_counts(tweets, 60.0) == {"used": 1, "neutralised_late": 1, "neutralised_unknown": 0}


def test_raw_tweets_without_the_column_are_scored_without_it(tmp_path) -> None:
    raw = pd.DataFrame({"tweet_id": ["1"], "created_at": [pd.Timestamp(CREATED)], "ticker": ["AAPL"],
                        "text": ["$AAPL"], "like_count": [3], "retweet_count": [0], "reply_count": [0]})
    scored, _, _ = score_tweets(raw, _FixedModel())
    assert "engagement_observed_at" not in scored.columns  # not invented: unknown, so features leave it unweighted
    assert engagement_counts(validate_tweets(scored, "scored"), 60.0)["neutralised_unknown"] == 1
