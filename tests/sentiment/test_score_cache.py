"""Incremental scoring: a second run with 1 % new tweets scores only those, and its table equals a
from-scratch scoring; a model change, an edited text or a poisoned cache are handled as they must be."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from sentiment_constants import REPO
from tiny_models import build_bert_classifier, synthetic_tweets

from steps.common.errors import StepInputError
from steps.sentiment import score_cache
from steps.sentiment.export import export_classifier
from steps.sentiment.finbert import run_finbert
from steps.sentiment.onnx_scorer import OnnxSentimentModel

N_OLD = 600
N_NEW = 6  # 1 %
LOGGER = logging.getLogger("test")
INT8_BATCH_NOISE = 1e-3  # int8 quantizes each batch's activations with the batch's range (observed ~1e-4)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Two exports of one tiny BERT: fp32 (ORT-optimized, batch-independent) and int8 (production's)."""
    root = tmp_path_factory.mktemp("cache-models")
    hf = build_bert_classifier(root / "hf", seed=3)
    export_classifier(hf, root / "fp32", quantize="none")
    export_classifier(hf, root / "int8", quantize="int8")
    return root


def _tweets(n: int, start: int, seed: int) -> pd.DataFrame:
    """Raw tweets over several days; every fifth tweet names two tickers (two rows, one text)."""
    texts, _ = synthetic_tweets(n, seed=seed)
    rows = []
    for i, text in enumerate(texts):
        when = pd.Timestamp("2026-03-02 14:30", tz="UTC") + pd.Timedelta(minutes=37 * (start + i))
        for ticker in (["AAPL", "MSFT"] if i % 5 == 0 else [("AAPL", "XOM", "JPM")[i % 3]]):
            rows.append({"tweet_id": str(10_000 + start + i), "created_at": when, "ticker": ticker, "text": text,
                         "like_count": i % 7, "retweet_count": 0, "reply_count": 1})
    return pd.DataFrame(rows)


def _write_raw(frame: pd.DataFrame, folder):
    """The ingest's layout: date=/ticker=/part.parquet."""
    for (date, ticker), part in frame.groupby([frame["created_at"].dt.strftime("%Y-%m-%d"), "ticker"]):
        target = folder / f"date={date}" / f"ticker={ticker}"
        target.mkdir(parents=True, exist_ok=True)
        part.drop(columns="ticker").to_parquet(target / "part-0.parquet", index=False)
    return folder


class _Spy:
    """Records every text the model is asked to score."""

    def __init__(self, monkeypatch):
        self.texts: list[str] = []
        original = OnnxSentimentModel.predict_proba

        def spy(model, texts, batch_size=32):
            self.texts.extend(texts)
            return original(model, texts, batch_size)

        monkeypatch.setattr(OnnxSentimentModel, "predict_proba", spy)


def _table(folder) -> pd.DataFrame:
    return pd.read_parquet(folder / "scored.parquet")


def _by_key(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(["tweet_id", "ticker"]).reset_index(drop=True)


@pytest.fixture(scope="module")
def old_and_new():
    old = _tweets(N_OLD, 0, seed=11)
    new = _tweets(N_NEW, N_OLD, seed=12)
    return old, new


def test_second_run_with_1pct_new_tweets_scores_only_those_and_equals_from_scratch(models, old_and_new, tmp_path,
                                                                                   monkeypatch):
    old, new = old_and_new
    spy = _Spy(monkeypatch)
    first = run_finbert(_write_raw(old, tmp_path / "raw1"), models / "fp32", tmp_path / "out1",
                        cache_dir=tmp_path / "empty", cache_out=tmp_path / "cache1", logger=LOGGER)
    assert first["tweets_scored"] == N_OLD and first["tweets_from_cache"] == 0  # two-ticker tweets scored once
    assert len(spy.texts) == N_OLD

    spy.texts.clear()
    both = pd.concat([old, new], ignore_index=True)
    raw2 = _write_raw(both, tmp_path / "raw2")
    second = run_finbert(raw2, models / "fp32", tmp_path / "out2", cache_dir=tmp_path / "cache1",
                         cache_out=tmp_path / "cache2", logger=LOGGER)
    assert sorted(spy.texts) == sorted(new["text"].drop_duplicates())  # only the new tweets reached the model
    assert second["tweets_scored"] == N_NEW and second["tweets_from_cache"] == N_OLD
    assert second["cache"]["model_digest"] == first["cache"]["model_digest"]

    scratch = run_finbert(raw2, models / "fp32", tmp_path / "scratch", logger=LOGGER)
    assert scratch["tweets_scored"] == N_OLD + N_NEW
    pd.testing.assert_frame_equal(_table(tmp_path / "out2"), _table(tmp_path / "scratch"), check_exact=True)
    assert len(_table(tmp_path / "out2")) == len(both)

    # The cache now holds every tweet once: the first run's files carried forward plus the new ones
    cached = score_cache.read_cached(tmp_path / "cache2", "finbert", second["cache"]["model_digest"], ["p_pos"])
    assert len(cached) == N_OLD + N_NEW
    first_files = {p.relative_to(tmp_path / "cache1") for p in (tmp_path / "cache1").rglob("*.parquet")}
    second_files = {p.relative_to(tmp_path / "cache2") for p in (tmp_path / "cache2").rglob("*.parquet")}
    assert first_files < second_files and second["cache"]["files_carried"] == len(first_files)

    # A third run with nothing new scores nothing
    spy.texts.clear()
    third = run_finbert(raw2, models / "fp32", tmp_path / "out3", cache_dir=tmp_path / "cache2",
                        cache_out=tmp_path / "cache3", logger=LOGGER)
    assert third["tweets_scored"] == 0 and spy.texts == []
    pd.testing.assert_frame_equal(_table(tmp_path / "out3"), _table(tmp_path / "scratch"), check_exact=True)


def test_int8_incremental_equals_from_scratch_within_the_batch_noise(models, old_and_new, tmp_path):
    old, new = old_and_new
    run_finbert(_write_raw(old, tmp_path / "raw1"), models / "int8", tmp_path / "out1", cache_out=tmp_path / "c1",
                logger=LOGGER)
    raw2 = _write_raw(pd.concat([old, new], ignore_index=True), tmp_path / "raw2")
    second = run_finbert(raw2, models / "int8", tmp_path / "out2", cache_dir=tmp_path / "c1",
                         cache_out=tmp_path / "c2", logger=LOGGER)
    run_finbert(raw2, models / "int8", tmp_path / "scratch", logger=LOGGER)
    assert second["tweets_scored"] == N_NEW
    incremental, scratch = _table(tmp_path / "out2"), _table(tmp_path / "scratch")
    columns = ["tweet_id", "created_at", "ticker", "like_count", "retweet_count", "reply_count", "model"]
    pd.testing.assert_frame_equal(incremental[columns], scratch[columns], check_exact=True)
    probs = ["p_pos", "p_neg", "p_neu"]
    assert np.abs(incremental[probs].to_numpy() - scratch[probs].to_numpy()).max() < INT8_BATCH_NOISE


def test_a_new_model_or_max_length_scores_every_tweet_again(models, old_and_new, tmp_path, tmp_path_factory):
    old, _ = old_and_new
    raw = _write_raw(old.head(60), tmp_path / "raw")
    distinct = old.head(60)["tweet_id"].nunique()
    first = run_finbert(raw, models / "fp32", tmp_path / "o1", cache_out=tmp_path / "c1", logger=LOGGER)
    shorter = run_finbert(raw, models / "fp32", tmp_path / "o2", max_length=16, cache_dir=tmp_path / "c1",
                          cache_out=tmp_path / "c2", logger=LOGGER)
    assert shorter["tweets_scored"] == distinct
    assert shorter["cache"]["model_digest"] != first["cache"]["model_digest"]
    other = tmp_path_factory.mktemp("other-model")
    export_classifier(build_bert_classifier(other / "hf", seed=4), other / "fp32", quantize="none")
    retrained = run_finbert(raw, other / "fp32", tmp_path / "o3", cache_dir=tmp_path / "c2",
                            cache_out=tmp_path / "c3", logger=LOGGER)
    assert retrained["tweets_scored"] == distinct
    again = run_finbert(raw, models / "fp32", tmp_path / "o4", cache_dir=tmp_path / "c3",
                        cache_out=tmp_path / "c4", logger=LOGGER)
    assert again["tweets_scored"] == 0  # the first model's entries were carried through both runs


def test_an_edited_text_under_a_known_id_is_scored_again(models, old_and_new, tmp_path):
    old, _ = old_and_new
    sample = old.head(30)
    run_finbert(_write_raw(sample, tmp_path / "raw1"), models / "fp32", tmp_path / "o1",
                cache_out=tmp_path / "c1", logger=LOGGER)
    edited = sample.copy()
    first_id = edited["tweet_id"].iat[0]
    edited.loc[edited["tweet_id"] == first_id, "text"] = "crash lawsuit downgrade bearish"
    metrics = run_finbert(_write_raw(edited, tmp_path / "raw2"), models / "fp32", tmp_path / "o2",
                          cache_dir=tmp_path / "c1", cache_out=tmp_path / "c2", logger=LOGGER)
    assert metrics["tweets_scored"] == 1
    scratch = run_finbert(tmp_path / "raw2", models / "fp32", tmp_path / "scratch", logger=LOGGER)
    assert scratch["rows"] == metrics["rows"]
    pd.testing.assert_frame_equal(_table(tmp_path / "o2"), _table(tmp_path / "scratch"), check_exact=True)


def test_instances_score_their_shares_and_together_equal_one_instance(models, old_and_new, tmp_path):
    old, _ = old_and_new
    sample = old.head(100)
    days = sample["created_at"].dt.strftime("%Y-%m-%d")
    split = days < sorted(days.unique())[len(days.unique()) // 2]
    hosts = ["algo-1", "algo-2"]
    for host, part in zip(hosts, (sample[split], sample[~split]), strict=True):
        config = tmp_path / host / "resourceconfig.json"
        config.parent.mkdir()
        config.write_text(json.dumps({"current_host": host, "hosts": hosts}))
        run_finbert(_write_raw(part, tmp_path / host / "raw"), models / "fp32", tmp_path / "out",
                    cache_dir=tmp_path / "c0", cache_out=tmp_path / host / "cache", resource_config=config,
                    logger=LOGGER)
    single = run_finbert(_write_raw(sample, tmp_path / "raw"), models / "fp32", tmp_path / "single", logger=LOGGER)
    from steps.common.io import read_table

    merged = read_table(tmp_path / "out", name="scored tweets")  # as BuildFeatures reads the output prefix
    assert sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*.parquet")) == [
        "shards/algo-1/scored.parquet", "shards/algo-2/scored.parquet"]
    pd.testing.assert_frame_equal(_by_key(merged), _by_key(_table(tmp_path / "single")), check_exact=True)
    assert single["rows"] == len(merged)


@pytest.mark.parametrize("poison, column", [
    (lambda f: f.assign(p_pos=1.5), "p_pos"),
    (lambda f: f.assign(p_neg=np.nan), "p_neg"),
    (lambda f: f.drop(columns="text_sha"), "text_sha"),
])
def test_a_poisoned_cache_file_stops_the_run_naming_it(models, old_and_new, tmp_path, poison, column):
    old, _ = old_and_new
    raw = _write_raw(old.head(20), tmp_path / "raw")
    metrics = run_finbert(raw, models / "fp32", tmp_path / "o1", cache_out=tmp_path / "c1", logger=LOGGER)
    victim = sorted((tmp_path / "c1").rglob("*.parquet"))[0]
    poison(pd.read_parquet(victim)).to_parquet(victim, index=False)
    with pytest.raises(StepInputError) as caught:
        run_finbert(raw, models / "fp32", tmp_path / "o2", cache_dir=tmp_path / "c1", cache_out=tmp_path / "c2",
                    logger=LOGGER)
    assert str(victim) in str(caught.value) and f"column '{column}'" in str(caught.value)
    assert "delete that file" in str(caught.value)
    assert not (tmp_path / "o2").exists() and not (tmp_path / "c2").exists()
    assert metrics["cache"]["model_digest"] in str(victim)


def test_the_step_program_refuses_an_unreadable_cache_file_on_one_line(models, old_and_new, tmp_path):
    old, _ = old_and_new
    raw = _write_raw(old.head(10), tmp_path / "raw")
    metrics = run_finbert(raw, models / "fp32", tmp_path / "o1", cache_out=tmp_path / "c1", logger=LOGGER)
    digest = metrics["cache"]["model_digest"]
    bad = tmp_path / "c1" / "finbert" / f"model={digest}" / "date=2026-03-02" / "part-truncated.parquet"
    bad.write_bytes(b"PAR1 not really parquet")
    result = subprocess.run(
        [sys.executable, "-m", "steps.sentiment.finbert", "--tweets", str(raw), "--model", str(models / "fp32"),
         "--output", str(tmp_path / "o2"), "--cache", str(tmp_path / "c1"), "--cache-out", str(tmp_path / "c2"),
         "--threads", "1"],
        cwd=REPO, capture_output=True, text=True, timeout=300, check=False,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin:" + str(REPO / ".venv" / "bin")},
    )
    assert result.returncode == 2, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and str(bad) in last and "cannot read cached scores" in last
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "o2").exists() and not (tmp_path / "c2").exists()


@pytest.mark.parametrize("content", [
    '{"current_host": "algo-1"}',  # no hosts
    "not json",
    '{"current_host": "algo-9", "hosts": ["algo-1", "algo-2"]}',  # not one of them
    '{"current_host": "a/b", "hosts": ["a/b", "c"]}',  # would become a path
])
def test_a_malformed_resource_config_is_refused_on_one_line(tmp_path, content):
    from steps.sentiment.shards import processing_shard

    config = tmp_path / "resourceconfig.json"
    config.write_text(content)
    with pytest.raises(StepInputError) as caught:
        processing_shard(config)
    assert str(config) in str(caught.value) and "\n" not in str(caught.value)
