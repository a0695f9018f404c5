"""--twitter-sentiment through the local runner: raw tweets -> ScoreSentimentFinBERT (a tiny offline BERT
exported to ONNX through the real export code) -> BuildFeatures, whose table then carries the sent_* columns."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest
from sentiment_constants import REPO
from tiny_models import build_bert_classifier, synthetic_tweets

from pipelines.config import load_config
from pipelines.local.executor import RunOptions
from pipelines.local.runner import folds_days_needed, run_config
from steps.sentiment.export import export_classifier


def _market_with_raw_tweets(tmp_path):
    """A small generated market whose tweets are raw text (no scores), as ingestion writes them."""
    market = tmp_path / "market"
    days = str(folds_days_needed(load_config(profile="quick")) + 2)  # the quick folds, both holdouts, a margin
    generate = [sys.executable, "-m", "steps.sample_data", "--output", str(market), "--days", days, "--tickers", "3"]
    subprocess.run(generate, cwd=REPO, check=True, capture_output=True, timeout=300)
    scored = pd.read_parquet(market / "tweets")
    texts, _ = synthetic_tweets(len(scored), seed=3)
    raw = scored[["tweet_id", "created_at", "ticker", "like_count", "retweet_count", "reply_count",
                  "engagement_observed_at"]].assign(
        text=texts, ticker=scored["ticker"].astype(str)
    )
    (tmp_path / "raw").mkdir()
    raw.to_parquet(tmp_path / "raw" / "tweets.parquet", index=False)
    return market


def _run_with_tiny_finbert(tmp_path, config, min_auc: str):
    """Run `config` locally on the small market, with a tiny BERT exported where model_url points."""
    market = _market_with_raw_tweets(tmp_path)
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
                "MinModelAUC": min_auc,
                "MinEnsembleAUC": min_auc,
            },
            max_trials=1,
            cores=2,
            echo=lines.append,
        ),
    )
    return result, lines, run_dir


@pytest.mark.slow
def test_local_run_scores_raw_tweets_and_the_features_carry_sentiment(tmp_path):
    config = load_config(profile="quick", overrides={"sentiment": {"enabled": True}})
    result, lines, run_dir = _run_with_tiny_finbert(tmp_path, config, min_auc="0.5")
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


@pytest.mark.slow
def test_the_fullest_configuration_runs_every_job_locally(tmp_path):
    # (that it passes lint is tests/local/test_service_fidelity.py's, a fast test)
    # Given every optional stage: four algorithms, tweet scoring, SHAP feature analysis
    config = load_config(
        profile="quick",
        overrides={
            "algorithms": ["xgboost", "catboost", "lightgbm", "gru"],
            "sentiment": {"enabled": True},
            "stability": {"enabled": True},
        },
    )
    # When it runs on this machine (gates at their floor, 0.5: a 40-day sample proves the plumbing, not the models)
    result, lines, _ = _run_with_tiny_finbert(tmp_path, config, min_auc="0.5")

    # Then every request passed the service model and every job ran; the run ends at the registry or at the
    # ensemble gate (on a 40-day random sample the ensemble may be no better than its best model: an honest
    # failure, reported by the FailStep, not an error)
    failed = {name: step.failure_reason for name, step in result.steps.items() if step.status == "Failed"}
    assert not [reason for reason in failed.values() if "ValidationException" in (reason or "")], failed
    assert set(failed) <= {"Fail-ensemble"}, failed
    for name in ("ScoreSentimentFinBERT", "BuildFeatures", "LeakTests", "FeatureStability", "BuildEnsemble"):
        assert result.steps[name].status == "Succeeded", name
    for algorithm in ("xgboost", "catboost", "lightgbm", "gru"):
        assert result.steps[f"Tune-{algorithm}"].status == "Succeeded", algorithm
        assert result.steps[f"Evaluate-{algorithm}"].status == "Succeeded", algorithm
    if failed:
        assert result.exit_code == 1 and "vs best single model" in failed["Fail-ensemble"], failed
    else:
        assert result.exit_code == 0 and result.record.model_package_arn, lines[-20:]
