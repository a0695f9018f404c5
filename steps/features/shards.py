"""Merging the shards that several feature instances wrote (see run.py): cross-sectional returns and folds.

Every per-ticker value is final on its shard; what needs the whole universe is recomputed here: the market-
and sector-relative returns (over all decision rows at the same ts, labelled or not, as build.py does) and
the folds (from the union of the shards' session first/last bar times, as build_folds sees them). Rows
without a label are dropped afterwards, so the merged table equals the single-instance one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl

from steps.common.errors import StepInputError
from steps.common.folds import Folds, build_folds
from steps.features.bar_features import add_relative_returns, session_columns
from steps.features.settings import FeatureSettings

SHARDS_DIR = "shards"


def session_bounds(bars: pl.DataFrame) -> np.ndarray:
    """The first and last bar time of every session (New York date) in the bars: all that folds need."""
    ts = bars["ts"].to_physical().to_numpy()
    session, _ = session_columns(ts)
    frame = pl.DataFrame({"session": session, "ts": ts}).group_by("session").agg(
        pl.col("ts").min().alias("first"), pl.col("ts").max().alias("last"))
    values = np.unique(np.concatenate([frame["first"].to_numpy(), frame["last"].to_numpy()]))
    return pd.DatetimeIndex(values.astype("datetime64[ns]")).tz_localize("UTC")


def shard_folders(folder: Path) -> list[Path]:
    root = folder / SHARDS_DIR
    return sorted(p for p in root.iterdir() if (p / "features.parquet").is_file()) if root.is_dir() else []


def merge_shards(folder: Path) -> tuple[pd.DataFrame, Folds, dict[str, Any]]:
    """(table, folds, manifest) of a sharded features folder; the same as one instance would have written."""
    from steps.common.io import read_json, read_table
    from steps.features.run import finish_manifest

    shards = shard_folders(folder)
    manifests = [read_json(s / "manifest.json", name="shard manifest") for s in shards]
    settings_seen = {str(m.get("settings")) for m in manifests}
    if len(settings_seen) != 1:
        raise StepInputError("shards were built with different settings", file=folder / SHARDS_DIR,
                             fix="rebuild every shard in one job")
    owners: dict[str, str] = {}
    for shard, manifest in zip(shards, manifests, strict=True):
        for ticker in manifest.get("shard", {}).get("tickers", []):
            if ticker in owners:
                raise StepInputError(
                    f"ticker {ticker} is in shards {owners[ticker]} and {shard.name}", file=folder / SHARDS_DIR,
                    column="ticker", fix="partition the bars so that each file holds whole tickers (ticker=X/)")
            owners[ticker] = shard.name
    manifest = {k: v for k, v in manifests[0].items() if k not in ("shard", "inputs")}
    settings = FeatureSettings.from_json(manifest["settings"])
    frame = pd.concat([read_table(s / "features.parquet", name="features") for s in shards], ignore_index=True)
    sectors = manifest.get("sectors") or {}
    rows = pl.from_pandas(frame).with_columns(
        pl.col("ticker").replace_strict(sectors, default="Unknown", return_dtype=pl.String).alias("_sector"),
        *(pl.col(f"ret_{w}").fill_nan(None) for w in settings.windows))
    merged = add_relative_returns(rows, settings).drop("_sector").to_pandas()
    for column in ("ts", "label_end"):
        merged[column] = merged[column].astype("datetime64[ns, UTC]")
    merged = merged[merged["label"].notna()].sort_values(["ts", "ticker"], kind="stable").reset_index(drop=True)
    merged["label"] = merged["label"].astype("int64")
    merged = merged[list(frame.columns)]
    bounds = pd.concat([read_table(s / "sessions.parquet", name="sessions")["ts"] for s in shards], ignore_index=True)
    folds = build_folds(bounds, n_folds=settings.n_folds, train_days=settings.train_days,
                        validation_days=settings.validation_days, holdout_days=settings.holdout_days,
                        embargo_bars=settings.embargo_bars, frequency=settings.frequency, source=str(folder))
    manifest = finish_manifest(manifest, merged, folds, folder)
    manifest["shards"] = [s.name for s in shards]
    manifest["inputs"] = {"bar_rows": sum(m["inputs"]["bar_rows"] for m in manifests),
                          "tweet_rows": manifests[0]["inputs"]["tweet_rows"]}
    return merged, folds, manifest
