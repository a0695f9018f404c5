"""FinBERT on ONNX Runtime: parity with PyTorch, int8 agreement on a trained head, the step program."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch
from sentiment_constants import REPO
from tiny_models import build_bert_classifier, synthetic_tweets

from steps.sentiment.export import export_classifier
from steps.sentiment.finbert import run_finbert
from steps.sentiment.labels import softmax
from steps.sentiment.onnx_scorer import OnnxSentimentModel

FP32_TOLERANCE = 1e-4  # max |p_onnx - p_torch| per probability, fp32 (observed ~1e-6)
INT8_TARGET = 0.97


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny BERT trained for a few seconds on synthetic tweets, exported (fp32, optimized, int8)."""
    root = tmp_path_factory.mktemp("finbert")
    hf = build_bert_classifier(root / "hf", train=True)
    export_classifier(hf, root / "onnx", quantize="int8")
    return hf, root / "onnx"


def torch_probs(hf_dir, texts: list[str]) -> np.ndarray:
    from transformers import AutoTokenizer, BertForSequenceClassification

    model = BertForSequenceClassification.from_pretrained(hf_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(hf_dir)
    with torch.inference_mode():
        enc = tokenizer(texts, padding=True, truncation=True, max_length=128, return_tensors="pt")
        return softmax(model(**enc).logits.numpy().astype(np.float64))  # label order is 0,1,2 = pos,neg,neu


@pytest.mark.slow
def test_onnx_matches_pytorch_and_int8_agrees(trained):
    hf, onnx_dir = trained
    texts, labels = synthetic_tweets(400, seed=99)
    expected = torch_probs(hf, texts)
    fp32 = OnnxSentimentModel(onnx_dir, model_file="model.onnx", threads=2).predict_proba(texts)
    optimized = OnnxSentimentModel(onnx_dir, model_file="model_optimized.onnx", threads=2).predict_proba(texts)
    int8 = OnnxSentimentModel(onnx_dir, threads=2).predict_proba(texts)  # export.json: the int8 file
    assert np.abs(fp32 - expected).max() < FP32_TOLERANCE
    assert np.abs(optimized - expected).max() < FP32_TOLERANCE
    torch_labels = expected.argmax(1)
    assert (torch_labels == np.array(labels)).mean() > 0.9, "the tiny head did not learn: agreement would be vacuous"
    agreement = float((int8.argmax(1) == torch_labels).mean())
    print(f"FinBERT tiny trained head: fp32 max|dp|={np.abs(fp32 - expected).max():.2e}, "
          f"optimized max|dp|={np.abs(optimized - expected).max():.2e}, int8 label agreement={agreement:.4f}, "
          f"int8 max|dp|={np.abs(int8 - expected).max():.3f}")
    assert agreement >= INT8_TARGET


def _raw_tweets(n: int) -> pd.DataFrame:
    texts, _ = synthetic_tweets(n, seed=5)
    return pd.DataFrame({
        "tweet_id": [str(1000 + i) for i in range(n)],
        "created_at": pd.date_range("2026-03-02 14:30", periods=n, freq="min", tz="UTC"),
        "ticker": ["AAPL", "MSFT"] * (n // 2),
        "text": texts, "like_count": 1, "retweet_count": 0, "reply_count": 2,
    })


@pytest.mark.slow
def test_step_writes_the_tweets_contract_and_features_accept_it(trained, tmp_path):
    from steps.common.validation import validate_tweets

    _, onnx_dir = trained
    raw_dir = tmp_path / "raw" / "date=2026-03-02"
    raw_dir.mkdir(parents=True)
    _raw_tweets(40).to_parquet(raw_dir / "part.parquet")
    result = subprocess.run(
        [sys.executable, "-m", "steps.sentiment.finbert", "--tweets", str(tmp_path / "raw"), "--model", str(onnx_dir),
         "--output", str(tmp_path / "scored"), "--threads", "1"],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin:" + str(REPO / ".venv" / "bin")},
    )
    assert result.returncode == 0, result.stderr
    scored = pd.read_parquet(tmp_path / "scored" / "scored.parquet")
    assert list(scored.columns) == ["tweet_id", "created_at", "ticker", "like_count", "retweet_count",
                                    "reply_count", "p_pos", "p_neg", "p_neu", "score", "model"]
    assert np.allclose(scored[["p_pos", "p_neg", "p_neu"]].sum(axis=1), 1.0)
    assert scored["score"].between(-1, 1).all()
    validate_tweets(scored, "scored")  # the features step's own contract check
    metrics = json.loads((tmp_path / "scored" / "metrics.json").read_text())
    assert metrics["rows"] == 40 and metrics["model"].endswith("model_int8.onnx")


def test_bad_input_is_one_line_exit_2_and_writes_nothing(trained, tmp_path):
    _, onnx_dir = trained
    (tmp_path / "raw").mkdir()
    _raw_tweets(4).drop(columns=["text"]).to_parquet(tmp_path / "raw" / "t.parquet")
    result = subprocess.run(
        [sys.executable, "-m", "steps.sentiment.finbert", "--tweets", str(tmp_path / "raw"), "--model", str(onnx_dir),
         "--output", str(tmp_path / "scored")],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin:" + str(REPO / ".venv" / "bin")},
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("error: ") and "column 'text'" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "scored").exists()


def test_combine_policies(trained, tmp_path):
    import logging

    _, onnx_dir = trained
    (tmp_path / "raw").mkdir()
    raw = _raw_tweets(6)
    raw.to_parquet(tmp_path / "raw" / "t.parquet")
    fingpt = pd.DataFrame({"tweet_id": raw["tweet_id"][:2], "ticker": raw["ticker"][:2],
                           "p_pos": [1.0, 0.0], "p_neg": [0.0, 1.0], "p_neu": [0.0, 0.0]})
    (tmp_path / "fingpt").mkdir()
    fingpt.to_parquet(tmp_path / "fingpt" / "scores.parquet")
    (tmp_path / "fingpt" / "_SKIPPED").write_text("")
    logger = logging.getLogger("t")
    run_finbert(tmp_path / "raw", onnx_dir, tmp_path / "only", logger=logger)
    metrics = run_finbert(tmp_path / "raw", onnx_dir, tmp_path / "gpt", fingpt_dir=tmp_path / "fingpt",
                          combine="fingpt", logger=logger)
    only = pd.read_parquet(tmp_path / "only" / "scored.parquet")
    gpt = pd.read_parquet(tmp_path / "gpt" / "scored.parquet")
    assert metrics["fingpt_rows_combined"] == 2
    assert gpt["score"].tolist()[:2] == [1.0, -1.0]
    assert np.allclose(gpt["score"][2:], only["score"][2:])
