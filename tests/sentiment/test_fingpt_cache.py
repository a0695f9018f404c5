"""FinGPT incremental: a second run with 1 % new tweets scores only those, its table equals a from-scratch
run, its new entries reach the cache through FinBERT's cache output, and instances keep their own files."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
from test_score_cache import _tweets, _write_raw
from tiny_models import build_bert_classifier, build_causal_lm

from steps.sentiment import score_cache
from steps.sentiment.export import export_classifier
from steps.sentiment.finbert import run_finbert
from steps.sentiment.fingpt import LOGP_COLUMNS, SCORES_FILE, LabelScorer, run_fingpt
from steps.sentiment.shards import training_shard

N_OLD, N_NEW = 200, 2  # 1 %
LOGGER = logging.getLogger("test")
# Torch on CPU may pick another kernel for another batch shape: last-bit differences, nothing more.
FLOAT_NOISE = 1e-5


@pytest.fixture(scope="module")
def lm(tmp_path_factory):
    return build_causal_lm(tmp_path_factory.mktemp("fingpt-cache") / "lm")


def _run(lm, raw, root, name, cache=None, **kwargs):
    return run_fingpt(raw, lm, root / f"ckpt-{name}", root / f"out-{name}", shard_size=32, batch_size=8,
                      device="cpu", cache_dir=cache, logger=LOGGER, **kwargs)


def test_second_run_with_1pct_new_tweets_scores_only_those_and_the_cache_fills_through_finbert(lm, tmp_path,
                                                                                              monkeypatch):
    old, new = _tweets(N_OLD, 0, seed=31), _tweets(N_NEW, N_OLD, seed=32)
    first = _run(lm, _write_raw(old, tmp_path / "raw1"), tmp_path, "1")
    assert first["tweets_to_score"] == N_OLD and first["tweets_from_cache"] == 0
    handoff = tmp_path / "ckpt-1" / "scores" / score_cache.FINGPT_HANDOFF
    # FinBERT (the cache's writer) adds FinGPT's new entries to its cache output
    hf = build_bert_classifier(tmp_path / "bert", seed=1)
    export_classifier(hf, tmp_path / "bert-onnx", quantize="none")
    finbert = run_finbert(tmp_path / "raw1", tmp_path / "bert-onnx", tmp_path / "scored1",
                          fingpt_dir=tmp_path / "ckpt-1" / "scores", combine="mean", cache_out=tmp_path / "cache1",
                          logger=LOGGER)
    assert finbert["fingpt_rows_combined"] == len(old)  # the hand-off folder is not read as scores
    assert finbert["cache"]["fingpt_files_added"] == len(list(handoff.rglob("*.parquet"))) > 0
    assert list((tmp_path / "cache1" / "fingpt").rglob("*.parquet"))

    scored: list[str] = []
    original = LabelScorer.log_probs
    monkeypatch.setattr(LabelScorer, "log_probs", lambda self, texts: (scored.extend(texts), original(self, texts))[1])
    raw2 = _write_raw(pd.concat([old, new], ignore_index=True), tmp_path / "raw2")
    second = _run(lm, raw2, tmp_path, "2", cache=tmp_path / "cache1")
    assert second["tweets_to_score"] == N_NEW and second["tweets_from_cache"] == N_OLD
    assert sorted(scored) == sorted(new["text"].drop_duplicates())
    monkeypatch.undo()

    scratch = _run(lm, raw2, tmp_path, "scratch")
    assert scratch["tweets_to_score"] == N_OLD + N_NEW
    incremental = pd.read_parquet(tmp_path / "out-2" / SCORES_FILE)
    fresh = pd.read_parquet(tmp_path / "out-scratch" / SCORES_FILE)
    numbers = ["p_pos", "p_neg", "p_neu", "score", *LOGP_COLUMNS]
    keys = [c for c in fresh.columns if c not in numbers]
    pd.testing.assert_frame_equal(incremental[keys], fresh[keys], check_exact=True)
    assert np.abs(incremental[numbers].to_numpy() - fresh[numbers].to_numpy()).max() < FLOAT_NOISE
    assert len(incremental) == len(old) + len(new)  # every (tweet, ticker) row, scored once per tweet


def test_instances_keep_their_own_progress_and_scores(lm, tmp_path):
    raw = _write_raw(_tweets(40, 0, seed=33), tmp_path / "raw")
    hosts = '["algo-1", "algo-2"]'
    for host in ("algo-1", "algo-2"):
        shard = training_shard({"SM_HOSTS": hosts, "SM_CURRENT_HOST": host})
        run_fingpt(raw, lm, tmp_path / "ckpt", tmp_path / f"out-{host}", shard_size=16, device="cpu", shard=shard,
                   logger=LOGGER)
    assert (tmp_path / "ckpt" / "algo-1" / "progress.json").is_file()
    assert (tmp_path / "ckpt" / "algo-2" / "progress.json").is_file()
    assert not (tmp_path / "ckpt" / "progress.json").exists()
    for host in ("algo-1", "algo-2"):
        assert (tmp_path / "ckpt" / "scores" / host / SCORES_FILE).is_file()


@pytest.mark.parametrize("environ", [
    {"SM_HOSTS": "algo-1", "SM_CURRENT_HOST": "algo-1"},  # not JSON
    {"SM_HOSTS": '["algo-1", "algo-2"]', "SM_CURRENT_HOST": "algo-3"},  # not one of them
    {"SM_HOSTS": '["../x", "algo-2"]', "SM_CURRENT_HOST": "algo-2"},  # would become a path
])
def test_a_malformed_host_list_is_refused_on_one_line(environ):
    from steps.common.errors import StepInputError

    with pytest.raises(StepInputError) as caught:
        training_shard(environ)
    assert "\n" not in str(caught.value) and "SM_HOSTS" in str(caught.value)
