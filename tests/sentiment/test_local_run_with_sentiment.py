"""--twitter-sentiment through the local runner: raw tweets -> ScoreSentimentFinBERT (a tiny offline BERT
exported to ONNX through the real export code) -> BuildFeatures, whose table then carries the sent_* columns."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest
from conftest import REPO
from tiny_models import build_bert_classifier, synthetic_tweets

from pipelines.config import load_config
from pipelines.local.executor import RunOptions
from pipelines.local.runner import run_config
from steps.sentiment.export import export_classifier


@pytest.mark.slow
def test_local_run_scores_raw_tweets_and_the_features_carry_sentiment(tmp_path):
    market = tmp_path / "market"
    generate = [sys.executable, "-m", "steps.sample_data", "--output", str(market), "--days", "40", "--tickers", "3"]
    subprocess.run(generate, cwd=REPO, check=True, capture_output=True, timeout=300)
    scored = pd.read_parquet(market / "tweets")
    texts, _ = synthetic_tweets(len(scored), seed=3)
    raw = scored[["tweet_id", "created_at", "ticker", "like_count", "retweet_count", "reply_count"]].assign(
        text=texts, ticker=scored["ticker"].astype(str)
    )
    (tmp_path / "raw").mkdir()
    raw.to_parquet(tmp_path / "raw" / "tweets.parquet", index=False)

    config = load_config(profile="quick", overrides={"sentiment": {"enabled": True}})
    run_dir = tmp_path / "runs"
    model_dir = run_dir / "s3" / config.sentiment.finbert.model_url.removeprefix("s3://")
    export_classifier(build_bert_classifier(tmp_path / "hf", train=True), model_dir, quantize="int8")

    lines: list[str] = []
    result = run_config(
        config,
        RunOptions(
            run_dir=run_dir,
            parameters={
                "InputDataUrl": (market / "bars").as_uri() + "/",
                "TweetsDataUrl": (tmp_path / "raw").as_uri() + "/",
                "MinModelAUC": "0.5",
                "MinEnsembleAUC": "0.5",
            },
            max_trials=1,
            cores=2,
            echo=lines.append,
        ),
    )
    steps = result.steps
    assert steps["ScoreSentimentFinBERT"].status == "Succeeded", lines[-30:]
    assert steps["BuildFeatures"].status == "Succeeded", lines[-30:]
    features_uri = steps["BuildFeatures"].outputs["features"]
    table = pd.read_parquet(run_dir / "s3" / features_uri.removeprefix("s3://") / "features.parquet")
    for column in ("sent_5m", "sent_10m", "sent_60m", "sent_daily", "sent_mean_5m", "sent_sum_10m",
                   "sent_pos_ratio_60m"):  # fmt: skip
        assert column in table.columns, column
        assert table[column].abs().sum() > 0, column  # scored, not the zero fill of "no tweets"
    assert result.exit_code == 0, result.record.failure_reason
