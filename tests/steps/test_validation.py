"""Input contracts: each violation is a one-line StepInputError naming file, column and fix."""

from __future__ import annotations

import pandas as pd
import pytest

from steps.common.errors import StepInputError
from steps.common.validation import validate_bars, validate_tweets
from steps.features.build import build_features
from steps.features.settings import FeatureSettings
from steps.sample_data.generator import to_daily


def _bars(market) -> pd.DataFrame:
    return market.bars.head(500).copy()


def _naive(frame):
    frame["ts"] = frame["ts"].dt.tz_localize(None)
    return frame


def _duplicate(frame):
    return pd.concat([frame.head(3), frame], ignore_index=True).sort_values(["ticker", "ts"], kind="stable")


def _unsorted(frame):
    return frame.iloc[::-1].reset_index(drop=True)


def _negative(frame):
    frame.loc[7, "low"] = -1.0
    return frame


@pytest.mark.parametrize(("breaker", "column", "words"), [
    (lambda f: f.drop(columns=["volume"]), "volume", "missing column"),
    (_naive, "ts", "naive"),
    (_duplicate, "ts", "duplicate"),
    (_unsorted, "ts", "not sorted"),
    (_negative, "low", "low > 0"),
    (lambda f: f.assign(close=f["close"].astype(str)), "close", "expected numbers"),
    (lambda f: f.head(0), None, "empty"),
])
def test_bad_bars(market, breaker, column, words) -> None:
    with pytest.raises(StepInputError) as error:
        validate_bars(breaker(_bars(market)), "in/bars")
    message = str(error.value)
    assert "\n" not in message and message.startswith("in/bars") and words in message and "fix:" in message
    if column:
        assert f"column '{column}'" in message


def test_bad_tweets(market) -> None:
    tweets = market.tweets.head(50).copy()
    with pytest.raises(StepInputError, match="column 'score'"):
        validate_tweets(tweets.assign(score=2.0), "in/tweets")
    with pytest.raises(StepInputError, match="neither 'score'"):
        validate_tweets(tweets.drop(columns=["score", "p_pos"]), "in/tweets")
    with pytest.raises(StepInputError, match=r"column 'tweet_id'.*duplicate"):
        validate_tweets(pd.concat([tweets, tweets.head(1)]), "in/tweets")
    scored_only = validate_tweets(tweets.drop(columns=["p_pos", "p_neg", "p_neu"]), "in/tweets")
    assert scored_only["p_pos"].isna().all() and len(scored_only) == 50
    assert validate_tweets(pd.DataFrame(), "none").empty


def test_daily_bars_use_day_windows(market) -> None:
    daily = validate_bars(to_daily(market.bars), "daily")
    settings = FeatureSettings(frequency="1d", windows=(2, 5), sample_every_bars=1, label_horizon_bars=2)
    frame = build_features(daily, validate_tweets(market.tweets, "t"), settings)
    assert {"sent_2d", "sent_5d", "sent_daily", "tweet_count_5d", "ret_2", "rsi_14"} <= set(frame.columns)
    assert (frame["label_end"] > frame["ts"]).all()
    assert frame.groupby("ticker").size().max() == 30 - 3
