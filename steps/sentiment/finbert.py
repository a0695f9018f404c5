"""`python -m steps.sentiment.finbert`: the ScoreSentimentFinBERT processing step.

Container paths: `/opt/ml/processing/input/tweets` (raw tweets from steps.ingest: tweet_id, created_at,
ticker, text and the engagement counts; hive folders fine), `/opt/ml/processing/input/model` (an
exported folder: export.json + ONNX + tokenizer; the production image also has one baked in),
optionally `/opt/ml/processing/input/fingpt` (FinGPT scores to combine), output
`/opt/ml/processing/output/tweets` -> `scored.parquet` in the tweets contract (docs/steps.md) +
`metrics.json`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from steps.common.cli import StepArgumentParser, run_main
from steps.common.errors import StepInputError
from steps.common.io import atomic_dir, read_table, write_metrics, write_parquet
from steps.common.logging import StepTimer, get_logger, log_input_size
from steps.sentiment.combine import COMBINE_POLICIES, combine_scores
from steps.sentiment.labels import PROB_COLUMNS, score_from_probs
from steps.sentiment.onnx_scorer import OnnxSentimentModel

RAW_REQUIRED = ("tweet_id", "created_at", "ticker", "text")
COUNT_COLUMNS = ("like_count", "retweet_count", "reply_count")
OUTPUT_FILE = "scored.parquet"


def load_raw_tweets(folder: str | Path) -> pd.DataFrame:
    frame = read_table(folder, name="raw tweets", allow_empty=True)
    if frame.empty:
        return pd.DataFrame(columns=[*RAW_REQUIRED, *COUNT_COLUMNS])
    for column in RAW_REQUIRED:
        if column not in frame.columns:
            raise StepInputError("missing column", file=folder, column=column,
                                 fix="pass the raw tweets written by python -m steps.ingest")
    for column in COUNT_COLUMNS:
        if column not in frame.columns:
            raise StepInputError("missing column", file=folder, column=column,
                                 fix="the ingest writes engagement counts; fill missing ones with 0")
    frame["text"] = frame["text"].fillna("").astype(str)
    return frame.drop_duplicates(["tweet_id", "ticker"]).reset_index(drop=True)


def score_tweets(raw: pd.DataFrame, model: OnnxSentimentModel, *, batch_size: int = 32) -> pd.DataFrame:
    """The tweets contract: ids, time, ticker, counts, p_pos/p_neg/p_neu, score, model."""
    scored = raw[["tweet_id", "created_at", "ticker", *COUNT_COLUMNS]].copy()
    scored["tweet_id"] = scored["tweet_id"].astype(str)
    scored["created_at"] = pd.to_datetime(scored["created_at"], utc=True)
    for column in COUNT_COLUMNS:
        scored[column] = scored[column].fillna(0).astype("int64")
    probs = model.predict_proba(raw["text"].tolist(), batch_size=batch_size) if len(raw) else np.zeros((0, 3))
    for i, column in enumerate(PROB_COLUMNS):
        scored[column] = probs[:, i]
    scored["score"] = score_from_probs(probs)
    scored["model"] = model.name
    return scored


def run_finbert(tweets_dir: str | Path, model_dir: str | Path, output: str | Path, *, batch_size: int = 32,
                threads: int | None = None, max_length: int = 128, fingpt_dir: str | Path | None = None,
                combine: str = "finbert", logger: logging.Logger) -> dict[str, Any]:
    timer = StepTimer(logger)
    with timer.block("load_model"):
        model = OnnxSentimentModel(model_dir, threads=threads, max_length=max_length)
    with timer.block("read_tweets"):
        raw = load_raw_tweets(tweets_dir)
    log_input_size(logger, "raw tweets", raw, tweets_dir)
    start = time.perf_counter()
    with timer.block("score"):
        scored = score_tweets(raw, model, batch_size=batch_size)
    seconds = time.perf_counter() - start
    with timer.block("combine"):
        fingpt = read_table(fingpt_dir, name="FinGPT scores", allow_empty=True) if fingpt_dir else pd.DataFrame()
        scored, combined_rows = combine_scores(scored, fingpt, combine, source=str(fingpt_dir))
    metrics = {
        "rows": len(scored), "model": model.name, "batch_size": batch_size, "max_length": model.max_length,
        "tweets_per_second": round(len(raw) / seconds, 2) if seconds > 0 and len(raw) else None,
        "combine": combine, "fingpt_rows_combined": combined_rows, "timings": timer.as_metrics(),
    }
    with atomic_dir(output) as staging:
        write_parquet(scored, Path(staging) / OUTPUT_FILE)
        write_metrics(staging, metrics)
    logger.info("scored %d tweets (%.1f tweets/s) with %s", len(scored), metrics["tweets_per_second"] or 0,
                model.name)
    return metrics


def parse_args(argv: Sequence[str] | None):
    parser = StepArgumentParser(prog="python -m steps.sentiment.finbert", description=__doc__)
    parser.add_argument("--tweets", required=True, help="raw tweets folder (steps.ingest output)")
    parser.add_argument("--model", required=True, help="exported model folder (steps.sentiment.export)")
    parser.add_argument("--output", required=True)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--threads", type=int, default=None, help="ONNX Runtime intra-op threads (default: cores)")
    parser.add_argument("--fingpt", default=None, help="FinGPT scores folder to combine (may be empty)")
    parser.add_argument("--combine", choices=COMBINE_POLICIES, default="finbert")
    parser.add_log_format()
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logger = get_logger("sentiment.finbert", args.log_format)
    run_finbert(args.tweets, args.model, args.output, batch_size=args.batch_size, threads=args.threads,
                max_length=args.max_length, fingpt_dir=args.fingpt, combine=args.combine, logger=logger)
    return 0


if __name__ == "__main__":
    run_main(main)
