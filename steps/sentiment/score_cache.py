"""Sentiment scores kept across executions: a tweet is scored once per model, not once per run.

Why: re-scoring every tweet on every execution costs hours at FinBERT's CPU rate (and GPU hours for
FinGPT), and a daily retrain adds only yesterday's tweets. Scores are kept under the project prefix
(`s3://…/<prefix>/sentiment/cache/`, the steps' `cache` input and output) in this layout:

    <cache>/<family>/model=<model digest>/date=YYYY-MM-DD/part-<content sha256[:16]>.parquet

- `family` is `finbert` or `fingpt`; the model digest is the sha256 of every file that decides the
  scores plus the scoring settings (`model_digest`): a new model, tokenizer, prompt or max length is a new
  digest, so every tweet is scored again (the old entries are no longer read).
- a row is keyed by `tweet_id` and `text_sha` (the text's sha256[:16]): an id whose text differs from the
  cached one is a miss, never a silently reused score. Rows of one tweet naming several tickers share it.
- file names are their content's digest: two instances or two executions writing the same rows write the
  same object, and no name is ever reused for other contents, so concurrent writers cannot clobber
  each other on S3 (last writer wins only between identical bytes).

A run reads the cache, scores the misses, and writes into its cache output the files it read (carried
forward: the local store replaces an output prefix on upload where S3 adds to it; carrying the old files
makes both end with old + new) plus one new file per date. The cache is an optimisation only: the
scored table a run writes is the same with or without it (tested; with int8 dynamic quantization a
tweet's probabilities move by ~1e-4 with its batch-mates, so a from-scratch run reproduces the cached
ones to that, and fp32 scoring exactly).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds

from steps.common.errors import StepInputError
from steps.common.io import write_parquet

KEY_COLUMNS = ("tweet_id", "text_sha")
CACHE_FIX = "delete that file from the cache prefix (its tweets are scored again on the next run)"
README = "README.txt"
# FinGPT runs as a training job, which has no output prefix to add cache files to: it leaves its new
# entries in this folder beside its scores, and ScoreSentimentFinBERT (which writes the cache) adds them.
FINGPT_HANDOFF = "_cache"
# Written at the cache prefix's root by `pipelines.upsert` (and the local runner) so that the prefix has an
# object before the first run: SageMaker fails a job whose S3 input has none.
README_TEXT = ("Sentiment scores kept across pipeline executions (steps/sentiment/score_cache.py). "
               "Safe to delete: missing scores are computed again.\n")


def text_digests(texts: Iterable[str]) -> np.ndarray:
    """sha256[:16] of each text's UTF-8 bytes: the half of the key that catches a reused or edited id."""
    return np.array([hashlib.sha256(t.encode("utf-8", "surrogatepass")).hexdigest()[:16] for t in texts],
                    dtype=object)


def _hash_file(digest, path: Path) -> None:
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)


def model_digest(files: Sequence[Path], settings: dict, *, root: Path) -> str:
    """sha256[:16] over the files' relative names and bytes and the settings (JSON, sorted keys)."""
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode())
    for path in sorted(files):
        digest.update(b"\0" + path.relative_to(root).as_posix().encode() + b"\0")
        _hash_file(digest, path)
    return digest.hexdigest()[:16]


def folder_files(folder: str | Path, *, exclude: Iterable[str] = ()) -> list[Path]:
    """Every file under `folder` except hidden ones and the names in `exclude`."""
    root = Path(folder)
    excluded = set(exclude)
    return sorted(p for p in root.rglob("*") if p.is_file() and p.name not in excluded
                  and not any(part.startswith(".") for part in p.relative_to(root).parts))


def model_folder(cache_dir: str | Path, family: str, digest: str) -> Path:
    return Path(cache_dir) / family / f"model={digest}"


def read_cached(cache_dir: str | Path | None, family: str, digest: str, value_columns: Sequence[str]) -> pd.DataFrame:
    """The cached rows of one model: KEY_COLUMNS + value_columns, one row per key.

    A file that cannot be read, lacks a column or holds a probability outside [0, 1] stops the run with one
    line naming it: a poisoned cache would otherwise feed wrong scores to every later execution."""
    columns = [*KEY_COLUMNS, *value_columns]
    folder = model_folder(cache_dir, family, digest) if cache_dir else None
    files = sorted(folder.rglob("*.parquet")) if folder is not None and folder.is_dir() else []
    files = [p for p in files if not any(part.startswith((".", "_")) for part in p.relative_to(folder).parts)]
    frames = []
    for path in files:
        try:
            table = ds.dataset(str(path), format="parquet").to_table()
        except (pa.ArrowInvalid, OSError) as exc:
            raise StepInputError(f"cannot read cached scores: {str(exc).splitlines()[0]}", file=path,
                                 fix=CACHE_FIX) from None
        missing = [c for c in columns if c not in table.column_names]
        if missing:
            raise StepInputError("missing column in cached scores", file=path, column=missing[0], fix=CACHE_FIX)
        frame = table.select(columns).to_pandas()
        for column in value_columns:
            values = pd.to_numeric(frame[column], errors="coerce")
            bad = values.isna() | ~np.isfinite(values)
            if column.startswith("p_"):
                bad |= (values < 0) | (values > 1)
            if bad.any():
                raise StepInputError("cached scores hold a missing, non-finite or out-of-range value", file=path,
                                     column=column, fix=CACHE_FIX)
            frame[column] = values.astype("float64")
        frame["_file"] = path.name
        frames.append(frame)
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype=object if c in KEY_COLUMNS else "float64") for c in columns})
    cached = pd.concat(frames, ignore_index=True).astype({"tweet_id": str, "text_sha": str})
    # Two writers may have scored one tweet (two shards, two executions): keep one, the same one every time.
    cached = cached.sort_values([*KEY_COLUMNS, "_file"], kind="stable").drop_duplicates(list(KEY_COLUMNS))
    return cached.drop(columns="_file").reset_index(drop=True)


def write_new(cache_out: str | Path, family: str, digest: str, rows: pd.DataFrame, dates: pd.Series,
              value_columns: Sequence[str]) -> list[Path]:
    """One file per date of the newly scored rows, named by its content; returns the files written."""
    if rows.empty:
        return []
    frame = rows[[*KEY_COLUMNS, *value_columns]].reset_index(drop=True).astype({"tweet_id": str, "text_sha": str})
    day = pd.to_datetime(dates.reset_index(drop=True), utc=True).dt.strftime("%Y-%m-%d")
    written = []
    for date, part in frame.groupby(day.to_numpy(), sort=True):
        part = part.sort_values(list(KEY_COLUMNS), kind="stable").reset_index(drop=True)
        content = hashlib.sha256(pd.util.hash_pandas_object(part, index=False).to_numpy().tobytes()).hexdigest()
        target = model_folder(cache_out, family, digest) / f"date={date}" / f"part-{content[:16]}.parquet"
        written.append(write_parquet(part, target))
    return written


def carry_forward(cache_in: str | Path | None, cache_out: str | Path) -> int:
    """Link (or copy) every file of the cache input into the cache output; returns how many.

    Why: a processing output is uploaded to its prefix at the end of the job. S3 adds the files to what is
    there; the local store replaces the prefix. Carrying what was read makes both end with old + new."""
    if not cache_in or not Path(cache_in).is_dir():
        return 0
    source, target = Path(cache_in), Path(cache_out)
    count = 0
    for path in folder_files(source):
        destination = target / path.relative_to(source)
        if destination.exists():
            continue
        destination.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(path, destination)
        except OSError:  # another filesystem, or links refused: a copy is the same bytes
            shutil.copy2(path, destination)
        count += 1
    return count
