"""What `python -m steps.sentiment.fingpt` runs (steps/sentiment/fingpt.py's docstring says what the job
does): the command line lives there, apart from this module, so that `--help` answers without numpy
and pandas. Every name here can still be imported from steps.sentiment.fingpt."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from steps.common.errors import StepInputError
from steps.common.io import read_json, read_table, write_json, write_parquet
from steps.common.logging import StepTimer, log_input_size
from steps.sentiment import score_cache
from steps.sentiment.labels import LABELS, PROB_COLUMNS, score_from_probs, softmax
from steps.sentiment.settings import FinGptSettings
from steps.sentiment.shards import Shard

PROMPT = ("Instruction: What is the sentiment of this tweet? Please choose an answer from "
          "{negative/neutral/positive}.\nInput: {text}\nAnswer: ")
PROMPT_VERSION = 1
SCORES_FILE = "fingpt_scores.parquet"
FAMILY = "fingpt"
LOGP_COLUMNS = ("logp_negative", "logp_neutral", "logp_positive")
KEYS = list(score_cache.KEY_COLUMNS)
DEFAULTS = FinGptSettings()  # the settings' one declaration (settings.py), also for callers of run_fingpt


def fingpt_digest(model_dir: str | Path, adapter_dir: str | Path | None, max_length: int) -> str:
    """The cache's model identity: every file of the base model and the adapter, the prompt, the max length.

    Hashing a 7B model's ~13 GB takes ~15 s at disk speed, against the GPU hours it saves."""
    settings = {"family": FAMILY, "prompt": PROMPT, "prompt_version": PROMPT_VERSION, "max_length": max_length,
                "adapter": bool(adapter_dir)}
    digests = [score_cache.model_digest(score_cache.folder_files(d), {}, root=Path(d))
               for d in (model_dir, adapter_dir) if d]
    return score_cache.model_digest([], {**settings, "files": digests}, root=Path(model_dir))




def load_tweets(folder: str | Path) -> pd.DataFrame:
    frame = read_table(folder, name="tweets", allow_empty=True)
    if frame.empty:
        return pd.DataFrame(columns=["tweet_id", "ticker", "created_at", "text"])
    for column in ("tweet_id", "ticker", "created_at", "text"):
        if column not in frame.columns:
            raise StepInputError("missing column", file=folder, column=column,
                                 fix="pass the raw tweets written by python -m steps.ingest")
    frame = frame.assign(tweet_id=frame["tweet_id"].astype(str), ticker=frame["ticker"].astype(str),
                         text=frame["text"].fillna("").astype(str))
    frame = frame.drop_duplicates(["tweet_id", "ticker"]).sort_values(["tweet_id", "ticker"], kind="stable")
    return frame[["tweet_id", "ticker", "created_at", "text"]].reset_index(drop=True)


class LabelScorer:
    """A causal LM (and optional LoRA adapter) answering the prompt with one of the three labels."""

    def __init__(self, model_dir: str | Path, adapter_dir: str | Path | None = None, *, device: str = "auto",
                 max_length: int = DEFAULTS.max_length) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.torch = torch
        self.device = ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
            dtype = torch.float16 if self.device == "cuda" else torch.float32
            model = AutoModelForCausalLM.from_pretrained(str(model_dir), local_files_only=True, dtype=dtype)
        except (OSError, ValueError) as exc:
            raise StepInputError(f"cannot load the base model: {str(exc).splitlines()[0]}", file=model_dir,
                                 fix="pass a save_pretrained folder with config, weights and tokenizer") from None
        if adapter_dir:
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, str(adapter_dir))
        self.model = model.to(self.device).eval()
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.max_length = max_length
        # " positive" with a leading space is one token in BPE vocabularies; a word-level vocabulary has
        # no such token, so fall back to the bare word.
        self.label_ids = [self._label_tokens(label) for label in ("negative", "neutral", "positive")]
        self.single_token = all(len(ids) == 1 for ids in self.label_ids)

    def _label_tokens(self, label: str) -> list[int]:
        for text in (f" {label}", label):
            ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
            if ids and self.tokenizer.unk_token_id not in ids:
                return ids
        raise StepInputError(f"the tokenizer cannot spell the label {label!r}", file="--model",
                             fix="use a model whose vocabulary covers negative/neutral/positive")

    def log_probs(self, texts: Sequence[str]) -> np.ndarray:
        """(n, 3) log-probabilities of (negative, neutral, positive) after each prompt."""
        torch = self.torch
        prompts = [PROMPT.replace("{text}", t) for t in texts]
        encoded = [self.tokenizer(p, add_special_tokens=False)["input_ids"][-self.max_length:] for p in prompts]
        result = np.zeros((len(texts), 3), dtype=np.float64)
        for k, label in enumerate(self.label_ids):
            if self.single_token and k > 0:
                break
            sequences = encoded if self.single_token else [ids + label[:-1] for ids in encoded]
            width = max(len(s) for s in sequences)
            pad = self.tokenizer.pad_token_id
            input_ids = torch.full((len(sequences), width), pad, dtype=torch.long)
            mask = torch.zeros((len(sequences), width), dtype=torch.long)
            for row, seq in enumerate(sequences):  # left padding: every answer position is the last one
                input_ids[row, width - len(seq):] = torch.tensor(seq)
                mask[row, width - len(seq):] = 1
            positions = (mask.cumsum(-1) - 1).clamp(min=0)
            with torch.inference_mode():
                logits = self.model(input_ids=input_ids.to(self.device), attention_mask=mask.to(self.device),
                                    position_ids=positions.to(self.device)).logits.float()
            logp = torch.log_softmax(logits, dim=-1).cpu()
            if self.single_token:
                ids = [label_ids[0] for label_ids in self.label_ids]
                result[:] = logp[:, -1, ids].double().numpy()
            else:
                n = len(label)
                steps = logp[:, -n:, :]  # the positions that predict the label's tokens
                result[:, k] = sum(steps[:, j, label[j]].double().numpy() for j in range(n))
        return result


def fingerprint(todo: pd.DataFrame, model_digest: str, shard_size: int, batch_size: int) -> str:
    """What a checkpoint's progress belongs to: the tweets left to score, the model and the batching."""
    digest = hashlib.sha256()
    digest.update(json.dumps([PROMPT_VERSION, model_digest, shard_size, batch_size]).encode())
    digest.update(pd.util.hash_pandas_object(todo[[*KEYS, "text"]], index=False).to_numpy().tobytes())
    return digest.hexdigest()


def run_fingpt(tweets_dir: str | Path, model_dir: str | Path, checkpoint_dir: str | Path, output: str | Path, *,
               adapter_dir: str | Path | None = None, shard_size: int = DEFAULTS.shard_size,
               batch_size: int = DEFAULTS.batch_size, max_length: int = DEFAULTS.max_length,
               device: str = "auto", max_shards: int | None = None,
               cache_dir: str | Path | None = None, shard: Shard | None = None,
               logger: logging.Logger) -> dict[str, Any]:
    timer = StepTimer(logger)
    checkpoint = Path(checkpoint_dir)
    progress_root = checkpoint / shard.host if shard else checkpoint  # instances never share a file
    shards_dir = progress_root / "shards"
    with timer.block("read_tweets"):
        tweets = load_tweets(tweets_dir)
    log_input_size(logger, "tweets", tweets, tweets_dir)
    tweets["text_sha"] = score_cache.text_digests(tweets["text"].tolist())
    with timer.block("read_cache"):
        model_digest = fingpt_digest(model_dir, adapter_dir, max_length)
        cached = score_cache.read_cached(cache_dir, FAMILY, model_digest, LOGP_COLUMNS)
    distinct = tweets.drop_duplicates(KEYS).sort_values(KEYS, kind="stable")
    known = distinct.merge(cached[KEYS], on=KEYS, how="left", indicator=True)["_merge"].eq("both").to_numpy()
    todo = distinct[~known].reset_index(drop=True)
    print_ = fingerprint(todo, model_digest, shard_size, batch_size)
    progress_path = progress_root / "progress.json"
    if progress_path.is_file():
        progress = read_json(progress_path, name="FinGPT progress")
        if progress.get("fingerprint") != print_:
            raise StepInputError(
                "the checkpoint folder holds progress for other tweets, model or settings", file=progress_path,
                fix="point --checkpoint at an empty folder (each pipeline execution has its own)",
            )
    # A job killed mid-write (spot reclaim) leaves its temporary shard behind; only one job owns a
    # checkpoint folder, so whatever temporary file is here now belongs to a dead writer.
    stale = sorted(shards_dir.glob(".tmp-*")) if shards_dir.is_dir() else []
    stale += sorted(progress_root.glob(".tmp-*"))  # a progress.json caught mid-write lands beside the shards
    for leftover in stale:
        leftover.unlink(missing_ok=True)
    if stale:
        logger.info("removed %d partial file(s) left by an interrupted run", len(stale))
    n_shards = (len(todo) + shard_size - 1) // shard_size
    done = {k for k in range(n_shards) if (shards_dir / f"shard-{k:05d}.parquet").is_file()}
    logger.info("%d rows, %d distinct tweets: %d from the cache (model %s), %d to score in %d shards; %d already "
                "done (resuming: %s)", len(tweets), len(distinct), int(known.sum()), model_digest, len(todo),
                n_shards, len(done), bool(done))
    scorer = None
    scored_now = 0
    for k in range(n_shards):
        if k in done:
            continue
        if max_shards is not None and scored_now >= max_shards:
            break
        scorer = scorer or LabelScorer(model_dir, adapter_dir, device=device, max_length=max_length)
        part = todo.iloc[k * shard_size:(k + 1) * shard_size]
        with timer.block("score"):
            logp = np.concatenate([scorer.log_probs(part["text"].iloc[i:i + batch_size].tolist())
                                   for i in range(0, len(part), batch_size)])
        write_parquet(_new_scores(part, logp), shards_dir / f"shard-{k:05d}.parquet")
        done.add(k)
        scored_now += 1
        write_json({"fingerprint": print_, "shards": n_shards, "done": sorted(done), "shard_size": shard_size},
                   progress_path)
        logger.info("shard %d/%d done", k + 1, n_shards)
    complete = len(done) == n_shards
    metrics = {"tweets": len(tweets), "distinct_tweets": len(distinct), "tweets_from_cache": int(known.sum()),
               "tweets_to_score": len(todo), "model_digest": model_digest, "shards": n_shards,
               "shards_scored_now": scored_now, "shards_resumed": n_shards - scored_now if complete else None,
               "complete": complete, "host": shard.host if shard else None, "timings": timer.as_metrics()}
    if complete:
        parts = [pd.read_parquet(shards_dir / f"shard-{k:05d}.parquet") for k in range(n_shards)]
        fresh = pd.concat(parts, ignore_index=True) if parts else _new_scores(todo, np.zeros((0, 3)))
        scores = _scores_table(tweets, pd.concat([cached, fresh[[*KEYS, *LOGP_COLUMNS]]], ignore_index=True))
        scores_dir = checkpoint / "scores"
        for folder in (scores_dir / shard.host if shard else scores_dir, Path(output)):
            write_parquet(scores, folder / SCORES_FILE)
        score_cache.write_new(scores_dir / score_cache.FINGPT_HANDOFF, FAMILY, model_digest, fresh,
                              fresh["created_at"], LOGP_COLUMNS)
        write_json(metrics, Path(output) / "metrics.json")
    return metrics


def _new_scores(part: pd.DataFrame, logp: np.ndarray) -> pd.DataFrame:
    """One row per distinct tweet scored now: the cache's key, its time (the cache's date) and log-probs."""
    frame = part[[*KEYS, "created_at"]].reset_index(drop=True).copy()
    for i, column in enumerate(LOGP_COLUMNS):
        frame[column] = logp[:, i]
    return frame


def _scores_table(tweets: pd.DataFrame, logps: pd.DataFrame) -> pd.DataFrame:
    """Every (tweet_id, ticker) row with its tweet's probabilities (FinBERT's `fingpt` input)."""
    merged = tweets[["tweet_id", "ticker", "created_at", *KEYS[1:]]].merge(
        logps.drop_duplicates(KEYS), on=KEYS, how="left", validate="many_to_one")
    logp = merged[list(LOGP_COLUMNS)].to_numpy(dtype=np.float64).reshape(-1, 3)
    probs = softmax(logp)[:, [2, 0, 1]]  # (negative, neutral, positive) -> LABELS order (positive, negative, neutral)
    frame = merged[["tweet_id", "ticker", "created_at"]].reset_index(drop=True).copy()
    for i, column in enumerate(PROB_COLUMNS):
        frame[column] = probs[:, i]
    frame["score"] = score_from_probs(probs)
    for i, column in enumerate(LOGP_COLUMNS):
        frame[column] = logp[:, i]
    frame["model"] = "fingpt"
    assert tuple(LABELS) == ("positive", "negative", "neutral")
    return frame
