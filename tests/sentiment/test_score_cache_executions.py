"""Two pipeline executions of the definition's ScoreSentimentFinBERT through the local runner: the second,
with 1 % new tweets, scores only those through the cache prefix the first one wrote, and its table equals
a from-scratch scoring. The definition is the published one, cut to that step (the rest needs nothing from
this test and would only add minutes)."""

from __future__ import annotations

import json
import logging

import pandas as pd
import pytest
from test_score_cache import N_NEW, N_OLD, _tweets, _write_raw
from tiny_models import build_bert_classifier

from pipelines.config import load_config
from pipelines.local.executor import PipelineExecution, RunOptions
from pipelines.local.runner import build_definition
from steps.sentiment.export import export_classifier
from steps.sentiment.finbert import run_finbert

STEP = "ScoreSentimentFinBERT"


def _execute(definition, uploads, run_dir, raw_dir):
    options = RunOptions(run_dir=run_dir, parameters={"TweetsDataUrl": raw_dir.as_uri() + "/"}, cores=1,
                         echo=lambda line: None)
    result = PipelineExecution(definition, options, uploads).run()
    record = result.steps[STEP]
    assert record.status == "Succeeded", record.failure_reason
    scored_uri = record.outputs["tweets"]
    folder = run_dir / "s3" / scored_uri.removeprefix("s3://")
    return pd.read_parquet(folder / "scored.parquet"), json.loads((folder / "metrics.json").read_text())


@pytest.mark.slow
def test_second_execution_with_1pct_new_tweets_scores_only_those(tmp_path):
    config = load_config(profile="quick", overrides={"sentiment": {"enabled": True}})
    definition, uploads = build_definition(config)
    definition["Steps"] = [step for step in definition["Steps"] if step["Name"] == STEP]
    run_dir = tmp_path / "runs"
    model_dir = run_dir / "s3" / config.sentiment.finbert.model_url.removeprefix("s3://")
    export_classifier(build_bert_classifier(tmp_path / "hf", seed=5), model_dir, quantize="none")
    old, new = _tweets(N_OLD, 0, seed=21), _tweets(N_NEW, N_OLD, seed=22)
    both = pd.concat([old, new], ignore_index=True)

    # Given a first execution that scored every tweet it was given
    _, first = _execute(definition, uploads, run_dir, _write_raw(old, tmp_path / "raw-day1"))
    assert first["tweets_scored"] == N_OLD and first["tweets_from_cache"] == 0
    cache = run_dir / "s3" / config.s3_root.removeprefix("s3://") / "sentiment" / "cache"
    assert (cache / "README.txt").is_file() and list((cache / "finbert").rglob("*.parquet"))

    # When the next execution sees 1 % more tweets
    table, second = _execute(definition, uploads, run_dir, _write_raw(both, tmp_path / "raw-day2"))

    # Then only those are scored, and the table is what scoring everything from scratch gives
    assert second["tweets_scored"] == N_NEW and second["tweets_from_cache"] == N_OLD
    run_finbert(tmp_path / "raw-day2", model_dir, tmp_path / "scratch", logger=logging.getLogger("t"))
    scratch = pd.read_parquet(tmp_path / "scratch" / "scored.parquet")
    pd.testing.assert_frame_equal(table, scratch, check_exact=True)
