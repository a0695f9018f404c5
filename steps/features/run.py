"""Load inputs, build features and folds, write the output folder (what `__main__` calls)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from steps.common.errors import StepInputError
from steps.common.folds import build_folds, fold_masks, holdout_mask
from steps.common.io import read_table, write_json, write_metrics, write_parquet
from steps.common.logging import StepTimer, log_input_size
from steps.common.validation import validate_bars, validate_tweets
from steps.features.build import build_features, feature_columns
from steps.features.settings import FeatureSettings

MANIFEST_VERSION = 1


@dataclass
class Inputs:
    bars: pd.DataFrame
    tweets: pd.DataFrame
    sectors: dict[str, str] | None


def load_sectors(universe: str | Path | None, logger: logging.Logger | None = None) -> dict[str, str] | None:
    """ticker -> sector from the universe CSV; None (no sector column) when no universe file is found."""
    if universe is None:
        return None
    source = Path(universe)
    if not source.is_file():
        if logger is not None:
            logger.warning("universe %s not found: the table gets no sector column", source)
        return None
    frame = pd.read_csv(source)
    for column in ("ticker", "sector"):
        if column not in frame.columns:
            raise StepInputError("missing column", file=source, column=column, fix="add a ticker,sector header")
    return dict(zip(frame["ticker"].astype(str), frame["sector"].astype(str), strict=True))


def load_inputs(bars_dir: str | Path, tweets_dir: str | Path | None, *, include_sentiment: bool,
                sectors: dict[str, str] | None, logger: logging.Logger) -> Inputs:
    bars = validate_bars(read_table(bars_dir, name="bars"), bars_dir)
    log_input_size(logger, "bars", bars, bars_dir)
    if include_sentiment and tweets_dir is not None:
        raw = read_table(tweets_dir, name="tweets", allow_empty=True)
        tweets = validate_tweets(raw, tweets_dir)
    else:
        tweets = validate_tweets(pd.DataFrame(), tweets_dir or "tweets")
    log_input_size(logger, "tweets", tweets, tweets_dir)
    return Inputs(bars, tweets, sectors)


def run_features(bars_dir: str | Path, tweets_dir: str | Path | None, output: str | Path,
                 settings: FeatureSettings, *, universe: str | Path | None,
                 logger: logging.Logger) -> dict[str, Any]:
    """The whole step. Everything is computed before the first file is written."""
    timer = StepTimer(logger)
    sectors = load_sectors(universe, logger)
    with timer.block("read_inputs"):
        inputs = load_inputs(bars_dir, tweets_dir, include_sentiment=settings.include_sentiment,
                             sectors=sectors, logger=logger)
    with timer.block("build_features"):
        frame = build_features(inputs.bars, inputs.tweets, settings, sectors=sectors)
    if frame.empty:
        raise StepInputError(
            f"no decision rows with a full {settings.label_horizon_bars}-bar label window",
            file=bars_dir, column="ts", fix="supply more bars or lower --label-horizon-bars",
        )
    with timer.block("build_folds"):
        folds = build_folds(inputs.bars["ts"], n_folds=settings.n_folds, train_days=settings.train_days,
                            validation_days=settings.validation_days, holdout_days=settings.holdout_days,
                            embargo_bars=settings.embargo_bars, frequency=settings.frequency,
                            source=str(bars_dir))
        masks = fold_masks(frame, folds)
        holdout = holdout_mask(frame, folds)
    fold_rows = [{"fold": k, "train": int(train.sum()), "validation": int(val.sum())}
                 for k, (train, val) in enumerate(masks)]
    empty = [row["fold"] for row in fold_rows if row["train"] == 0 or row["validation"] == 0]
    if empty:
        raise StepInputError(f"folds {empty} have no train or validation rows after purging", file=bars_dir,
                             column="ts", fix="lengthen --train-days/--validation-days or shorten --embargo-bars")
    columns = feature_columns(settings)
    manifest = {
        "manifest_version": MANIFEST_VERSION,
        "settings": settings.to_json(),
        "feature_columns": columns,
        "key_columns": ["ticker", "ts"],
        "group_columns": ["sector"] if sectors is not None else [],
        "target_columns": ["label", "forward_return", "label_end"],
        "sectors": sectors,
        "label": {"definition": "close[t+1+H] / close[t+1] - 1 > dead_zone, within ticker",
                  "horizon_bars": settings.label_horizon_bars, "dead_zone": settings.label_dead_zone},
        "rows": {"total": len(frame), "holdout": int(holdout.sum()), "folds": fold_rows,
                 "positive_rate": float(frame["label"].mean())},
        "tickers": int(frame["ticker"].nunique()),
        "data_range": {"bars_start": inputs.bars["ts"].min().isoformat(),
                       "bars_end": inputs.bars["ts"].max().isoformat(),
                       "rows_start": frame["ts"].min().isoformat(), "rows_end": frame["ts"].max().isoformat()},
        "inputs": {"bars": str(bars_dir), "tweets": str(tweets_dir) if tweets_dir else None,
                   "bar_rows": len(inputs.bars), "tweet_rows": len(inputs.tweets)},
    }
    out = Path(output)
    with timer.block("write"):
        write_parquet(frame, out / "features.parquet")
        write_json(folds.to_json(), out / "folds.json")
        write_json(manifest, out / "manifest.json")
    metrics = {"timings_s": timer.as_metrics(), "rows": manifest["rows"], "features": len(columns),
               "bars": len(inputs.bars), "tweets": len(inputs.tweets), "tickers": manifest["tickers"]}
    write_metrics(out, metrics)
    logger.info("wrote %d rows x %d features (%d holdout rows) to %s", len(frame), len(columns),
                int(holdout.sum()), out)
    return manifest
