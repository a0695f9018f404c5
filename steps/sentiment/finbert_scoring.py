"""What `python -m steps.sentiment.finbert` runs (steps/sentiment/finbert.py's docstring says what the job
does): the command line lives there, apart from this module, so that `--help` answers without numpy
and pandas. Every name here can still be imported from steps.sentiment.finbert."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from steps.common.errors import StepInputError
from steps.common.io import atomic_dir, read_table, write_metrics, write_parquet
from steps.common.logging import StepTimer, log_input_size
from steps.common.validation import ENGAGEMENT_OBSERVED_AT
from steps.sentiment import score_cache
from steps.sentiment.combine import combine_scores
from steps.sentiment.labels import PROB_COLUMNS, score_from_probs
from steps.sentiment.onnx_scorer import OnnxSentimentModel
from steps.sentiment.settings import FinBertSettings
from steps.sentiment.shards import Shard, processing_shard

RAW_REQUIRED = ("tweet_id", "created_at", "ticker", "text")
COUNT_COLUMNS = ("like_count", "retweet_count", "reply_count")
OUTPUT_FILE = "scored.parquet"
FAMILY = "finbert"
# Part of every cache digest: bump it when the scoring code changes what a model's scores mean (label
# mapping, tokenization), so that no score of the old code is reused.
SCORER_VERSION = 1
DEFAULTS = FinBertSettings()  # the settings' one declaration (settings.py), also for callers of run_finbert


def finbert_digest(model: OnnxSentimentModel) -> str:
    """The model's identity for the cache: the scoring ONNX file, tokenizer and config, and the settings.

    The other ONNX files of the export (fp32, optimized) and export.json's timings do not change a score,
    so a re-export of the same weights keeps its cache only if it writes the same scoring file."""
    def decides(path: Path) -> bool:
        name = path.name
        return not name.endswith((".onnx", ".onnx.data", ".onnx_data")) or name.startswith(model.model_file)

    files = [p for p in score_cache.folder_files(model.model_dir, exclude={"export.json"}) if decides(p)]
    settings = {"family": FAMILY, "scorer": SCORER_VERSION, "scoring_model": model.model_file,
                "max_length": model.max_length, "label_order": model.order}
    return score_cache.model_digest(files, settings, root=model.model_dir)


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


def score_tweets(raw: pd.DataFrame, model: OnnxSentimentModel, *, batch_size: int = DEFAULTS.batch_size,
                 cached: pd.DataFrame | None = None) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """The tweets contract (ids, time, ticker, counts, engagement_observed_at when the raw tweets have it,
    p_pos/p_neg/p_neu, score, model), the rows newly
    scored (cache layout: tweet_id, text_sha, probabilities, created_at) and how many tweets were read from
    the cache.

    Each distinct (tweet_id, text) is scored once, in one length-sorted pass over the misses; `cached`
    (score_cache.read_cached) supplies the rest."""
    observed = [ENGAGEMENT_OBSERVED_AT] if ENGAGEMENT_OBSERVED_AT in raw.columns else []
    scored = raw[["tweet_id", "created_at", "ticker", *COUNT_COLUMNS, *observed]].copy()
    scored["tweet_id"] = scored["tweet_id"].astype(str)
    scored["created_at"] = pd.to_datetime(scored["created_at"], utc=True)
    for column in observed:  # passed through: when the counts were read decides whether they weight (features)
        scored[column] = pd.to_datetime(scored[column], utc=True)
    for column in COUNT_COLUMNS:
        scored[column] = scored[column].fillna(0).astype("int64")
    scored["text_sha"] = score_cache.text_digests(raw["text"].tolist())
    keys = list(score_cache.KEY_COLUMNS)
    tweets = scored[[*keys, "created_at"]].assign(text=raw["text"].to_numpy()).drop_duplicates(keys)
    if cached is not None and len(cached):
        tweets = tweets.merge(cached, on=keys, how="left")
        todo = tweets[tweets["p_pos"].isna()]
    else:
        tweets = tweets.assign(**dict.fromkeys(PROB_COLUMNS, np.nan))
        todo = tweets
    if len(todo):
        probs = model.predict_proba(todo["text"].tolist(), batch_size=batch_size)
        tweets.loc[todo.index, list(PROB_COLUMNS)] = probs
    fresh = tweets.loc[todo.index, [*keys, *PROB_COLUMNS, "created_at"]]
    scored = scored.merge(tweets[[*keys, *PROB_COLUMNS]], on=keys, how="left", validate="many_to_one")
    probs = scored[list(PROB_COLUMNS)].to_numpy(dtype=np.float64).reshape(-1, 3)
    scored["score"] = score_from_probs(probs)
    scored["model"] = model.name
    return scored.drop(columns="text_sha"), fresh.reset_index(drop=True), len(tweets) - len(todo)


def run_finbert(tweets_dir: str | Path, model_dir: str | Path, output: str | Path, *,
                batch_size: int = DEFAULTS.batch_size, threads: int | None = None,
                max_length: int = DEFAULTS.max_length, fingpt_dir: str | Path | None = None,
                combine: str = DEFAULTS.combine, cache_dir: str | Path | None = None,
                cache_out: str | Path | None = None, resource_config: str | Path | None = None,
                logger: logging.Logger) -> dict[str, Any]:
    """Score the raw tweets (the cache's misses only) and write the scored table, all or nothing."""
    timer = StepTimer(logger)
    shard = processing_shard(resource_config)
    with timer.block("load_model"):
        model = OnnxSentimentModel(model_dir, threads=threads, max_length=max_length)
        digest = finbert_digest(model)
    with timer.block("read_tweets"):
        raw = load_raw_tweets(tweets_dir)
    log_input_size(logger, "raw tweets", raw, tweets_dir)
    with timer.block("read_cache"):
        cached = score_cache.read_cached(cache_dir, FAMILY, digest, PROB_COLUMNS)
    start = time.perf_counter()
    with timer.block("score"):
        scored, fresh, reused = score_tweets(raw, model, batch_size=batch_size, cached=cached)
    seconds = time.perf_counter() - start
    with timer.block("combine"):
        fingpt = read_table(fingpt_dir, name="FinGPT scores", allow_empty=True) if fingpt_dir else pd.DataFrame()
        scored, combined_rows = combine_scores(scored, fingpt, combine, source=str(fingpt_dir))
    metrics = {
        "rows": len(scored), "model": model.name, "batch_size": batch_size, "max_length": model.max_length,
        "tweets_scored": len(fresh), "tweets_from_cache": reused,
        "tweets_per_second": round(len(fresh) / seconds, 2) if seconds > 0 and len(fresh) else None,
        "cache": {"model_digest": digest, "entries_read": len(cached)},
        "host": shard.host if shard else None,
        "combine": combine, "fingpt_rows_combined": combined_rows, "timings": timer.as_metrics(),
    }
    if cache_out is not None:
        with timer.block("write_cache"):
            metrics["cache"].update(_write_cache(cache_dir, cache_out, digest, fresh, fingpt_dir, shard))
    target = Path(output) / "shards" / shard.host if shard else Path(output)
    with atomic_dir(target) as staging:
        write_parquet(scored, Path(staging) / OUTPUT_FILE)
        write_metrics(staging, metrics)
    logger.info("%d rows: %d tweets scored (%.1f tweets/s), %d from the cache of %s (model %s)", len(scored),
                len(fresh), metrics["tweets_per_second"] or 0, metrics["tweets_from_cache"], model.name, digest)
    return metrics


def _write_cache(cache_dir: str | Path | None, cache_out: str | Path, digest: str, fresh: pd.DataFrame,
                 fingpt_dir: str | Path | None, shard: Shard | None) -> dict[str, int]:
    """The cache output: what was read (carried forward by one instance), this run's new FinBERT scores,
    and the FinGPT scores that job added (it runs as a training job, which has no output prefix of its own
    to add them to; it leaves them under `_cache/` beside its scores)."""
    with atomic_dir(cache_out) as staging:
        carried = score_cache.carry_forward(cache_dir, staging) if shard is None or shard.first else 0
        written = score_cache.write_new(staging, FAMILY, digest, fresh, fresh["created_at"], PROB_COLUMNS)
        from_fingpt = 0
        if fingpt_dir and (shard is None or shard.first):
            from_fingpt = score_cache.carry_forward(Path(fingpt_dir) / score_cache.FINGPT_HANDOFF, staging)
    return {"files_carried": carried, "files_written": len(written), "fingpt_files_added": from_fingpt}
