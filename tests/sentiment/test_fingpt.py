"""FinGPT batch scoring: constrained label log-probs, LoRA adapter, and kill/resume = one clean run."""

from __future__ import annotations

import logging
import os
import random
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pandas as pd
import pytest
from sentiment_constants import REPO
from tiny_models import build_causal_lm, synthetic_tweets

from steps.sentiment.fingpt import SCORES_FILE, run_fingpt

N_TWEETS = 120
SHARD = 8
HANG_GUARD_S = 300  # per resumed run: ~10x the whole test's usual ~30 s; trips on a hang, not on slowness


@pytest.fixture(scope="module")
def lm_and_tweets(tmp_path_factory):
    root = tmp_path_factory.mktemp("fingpt")
    model = build_causal_lm(root / "lm")
    texts, _ = synthetic_tweets(N_TWEETS, seed=8)
    raw = pd.DataFrame({
        "tweet_id": [str(5000 + i) for i in range(N_TWEETS)],
        "ticker": ["AAPL", "XOM", "JPM"] * (N_TWEETS // 3),
        "created_at": pd.date_range("2026-03-02 14:30", periods=N_TWEETS, freq="min", tz="UTC"),
        "text": texts,
    })
    (root / "tweets").mkdir()
    raw.sample(frac=1.0, random_state=1).to_parquet(root / "tweets" / "raw.parquet")  # arrival order != id order
    return model, root / "tweets"


def _argv(model, tweets, checkpoint, output) -> list[str]:
    return [sys.executable, "-m", "steps.sentiment.fingpt", "--tweets", str(tweets), "--model", str(model),
            "--checkpoint", str(checkpoint), "--output", str(output), "--shard-size", str(SHARD),
            "--batch-size", "4", "--device", "cpu"]


def test_probabilities_come_from_label_log_probs(lm_and_tweets, tmp_path):
    model, tweets = lm_and_tweets
    metrics = run_fingpt(tweets, model, tmp_path / "ckpt", tmp_path / "out", shard_size=100, batch_size=8,
                         device="cpu", logger=logging.getLogger("t"))
    scores = pd.read_parquet(tmp_path / "out" / SCORES_FILE)
    assert metrics["complete"] and len(scores) == N_TWEETS
    logp = scores[["logp_negative", "logp_neutral", "logp_positive"]].to_numpy()
    assert (logp < 0).all()
    expected = np.exp(logp) / np.exp(logp).sum(axis=1, keepdims=True)
    assert np.allclose(scores[["p_neg", "p_neu", "p_pos"]].to_numpy(), expected)
    assert np.allclose(scores["score"], scores["p_pos"] - scores["p_neg"])
    assert (tmp_path / "ckpt" / "scores" / SCORES_FILE).is_file()


def test_lora_adapter_is_applied(lm_and_tweets, tmp_path):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model, tweets = lm_and_tweets
    torch.manual_seed(0)
    lora = LoraConfig(r=4, lora_alpha=8, target_modules=["c_attn"], init_lora_weights=False)
    get_peft_model(AutoModelForCausalLM.from_pretrained(model), lora).save_pretrained(tmp_path / "adapter")
    logger = logging.getLogger("t")
    run_fingpt(tweets, model, tmp_path / "c1", tmp_path / "base", shard_size=100, device="cpu", logger=logger)
    run_fingpt(tweets, model, tmp_path / "c2", tmp_path / "tuned", adapter_dir=tmp_path / "adapter",
               shard_size=100, device="cpu", logger=logger)
    base, tuned = (pd.read_parquet(tmp_path / d / SCORES_FILE) for d in ("base", "tuned"))
    assert not np.allclose(base["logp_positive"], tuned["logp_positive"])


def test_checkpoint_from_other_input_is_refused(lm_and_tweets, tmp_path):
    from steps.common.errors import StepInputError

    model, tweets = lm_and_tweets
    logger = logging.getLogger("t")
    run_fingpt(tweets, model, tmp_path / "ckpt", tmp_path / "out", shard_size=100, max_shards=1, device="cpu",
               logger=logger)
    with pytest.raises(StepInputError, match="holds progress for other tweets"):
        run_fingpt(tweets, model, tmp_path / "ckpt", tmp_path / "out", shard_size=50, device="cpu", logger=logger)


@pytest.mark.slow
def test_killed_and_resumed_equals_one_uninterrupted_run(lm_and_tweets, tmp_path):
    model, tweets = lm_and_tweets
    run_fingpt(tweets, model, tmp_path / "clean-ckpt", tmp_path / "clean", shard_size=SHARD, batch_size=4,
               device="cpu", logger=logging.getLogger("t"))  # the same code, uninterrupted
    rng = random.Random(42)
    kills = 0
    started = time.monotonic()
    for _attempt in range(12):  # bounded: each run either is killed part-way or finishes
        proc = subprocess.Popen(_argv(model, tweets, tmp_path / "ckpt", tmp_path / "out"), cwd=REPO,
                                stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                                env={**os.environ, "OMP_NUM_THREADS": "1"})
        # Hang guard, not a timing check: a run that neither finishes nor is killed within HANG_GUARD_S
        # (about ten times the whole test's usual time) is killed here and fails the test below.
        hung = threading.Event()
        guard = threading.Timer(HANG_GUARD_S, lambda proc=proc, hung=hung: (hung.set(), proc.kill()))
        guard.start()
        target = rng.randint(2, 4)  # kill after a random number of finished shards ...
        seen = 0
        for line in proc.stderr:
            seen += " shard " in line and " done" in line
            if seen >= target:
                time.sleep(rng.uniform(0, 0.05))  # ... plus a random fraction of the next one
                proc.send_signal(signal.SIGKILL)
                break
        code = proc.wait(timeout=HANG_GUARD_S)
        guard.cancel()
        assert not hung.is_set(), f"hang guard: a FinGPT run was still going after {HANG_GUARD_S} s"
        if code == 0:
            break
        assert code == -signal.SIGKILL
        kills += 1
    print(f"FinGPT: killed {kills} times at random points, resumed, identical to the uninterrupted run "
          f"({time.monotonic() - started:.1f} s)")
    assert kills >= 3, "the run finished before being interrupted several times"
    resumed = pd.read_parquet(tmp_path / "out" / SCORES_FILE)
    uninterrupted = pd.read_parquet(tmp_path / "clean" / SCORES_FILE)
    pd.testing.assert_frame_equal(resumed, uninterrupted, check_exact=True)
    assert not list((tmp_path / "ckpt").rglob(".tmp-*"))
