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
from steps.common.io import MANIFEST_FILES, check_files, read_json, read_table
from steps.features.bar_features import add_relative_returns, session_columns
from steps.features.coverage import finish_manifest
from steps.features.engagement import add_counts
from steps.features.settings import FeatureSettings

SHARDS_DIR = "shards"
SHARD_FILES = ["features.parquet", "sessions.parquet"]  # what a shard's manifest lists
SINGLE_FILES = ["features.parquet", "folds.json", "manifest.json"]  # a single instance's table (run.py)
MANIFEST = "manifest.json"
REBUILD = "delete the features folder (or its S3 prefix) and rerun steps.features"


def session_bounds(bars: pl.DataFrame) -> np.ndarray:
    """The first and last bar time of every session (New York date) in the bars: all that folds need."""
    ts = bars["ts"].to_physical().to_numpy()
    session, _ = session_columns(ts)
    frame = pl.DataFrame({"session": session, "ts": ts}).group_by("session").agg(
        pl.col("ts").min().alias("first"), pl.col("ts").max().alias("last"))
    values = np.unique(np.concatenate([frame["first"].to_numpy(), frame["last"].to_numpy()]))
    return pd.DatetimeIndex(values.astype("datetime64[ns]")).tz_localize("UTC")


def shard_folders(folder: Path) -> list[Path]:
    """Every entry of `shards/` but the temporaries (`.tmp-*`) of a write in progress or crashed."""
    root = folder / SHARDS_DIR
    return sorted(p for p in root.iterdir() if not p.name.startswith((".", "_"))) if root.is_dir() else []


def _run_of(manifest: dict[str, Any]) -> tuple[str | None, tuple[str, ...] | None]:
    shard = manifest.get("shard") or {}
    names = shard.get("host_names")
    return shard.get("run"), tuple(names) if isinstance(names, list) else None


def check_shards(folder: Path) -> tuple[list[Path], list[dict[str, Any]]]:
    """The shards and their manifests, when they are exactly what one job wrote; else one line naming the file.

    Refused: a single-instance table beside the shards, a shard without a manifest (its instance did not
    finish), a file that differs from what its manifest lists, shards of different jobs, a shard that is not
    one of the job's hosts (left by an older run) and a host of the job without its shard."""
    root = folder / SHARDS_DIR
    for name in SINGLE_FILES:
        if (folder / name).exists():
            raise StepInputError(f"is a single-instance table beside {SHARDS_DIR}/ (a sharded run): the two are "
                                 "from different runs and which is current is unknown", file=folder / name, fix=REBUILD)
    shards = shard_folders(folder)
    if not shards:
        raise StepInputError("holds no shards", file=root, fix=REBUILD)
    manifests = []
    for shard in shards:
        path = shard / MANIFEST
        if not shard.is_dir():
            raise StepInputError("is not a shard folder", file=shard, fix=REBUILD)
        if not path.is_file():
            raise StepInputError("not found: the instance that wrote this shard did not finish", file=path, fix=REBUILD)
        manifest = read_json(path, name="shard manifest")
        check_files(shard, manifest.get(MANIFEST_FILES), path, fix=REBUILD)
        manifests.append(manifest)
    runs = [_run_of(m) for m in manifests]
    counts = {run: runs.count(run) for run in runs}
    latest = {run: max((s / MANIFEST).stat().st_mtime for s, r in zip(shards, runs, strict=True) if r == run)
              for run in counts}
    reference = max(counts, key=lambda run: (counts[run], latest[run]))
    first = shards[runs.index(reference)]
    for shard, run in zip(shards, runs, strict=True):
        if run != reference:
            raise StepInputError(f"is from another run (job {run[0]}, hosts {_names(run[1])}) than "
                                 f"{SHARDS_DIR}/{first.name} (job {reference[0]}, hosts {_names(reference[1])})",
                                 file=shard / MANIFEST, fix=REBUILD)
    hosts = reference[1]
    if hosts is not None:
        for shard in shards:
            if shard.name not in hosts:
                raise StepInputError(f"is not one of the hosts of the run that wrote {SHARDS_DIR}/{first.name} "
                                     f"({_names(hosts)}): left by an older run", file=shard, fix=REBUILD)
        present = {s.name for s in shards}
        for host in hosts:
            if host not in present:
                raise StepInputError(f"not found: the run had hosts {_names(hosts)} and this one's shard is missing",
                                     file=root / host, fix=REBUILD)
    else:  # shards written before the host names were recorded: the count is what there is
        expected = (manifests[0].get("shard") or {}).get("hosts")
        if expected != len(shards):
            raise StepInputError(f"holds {len(shards)} shards, the run had {expected} hosts", file=root, fix=REBUILD)
    return shards, manifests


def _names(hosts: tuple[str, ...] | None) -> str:
    return ", ".join(hosts) if hosts else "unknown"


def merge_rows(pieces: list[pl.DataFrame], settings: FeatureSettings,
               sectors: dict[str, str] | None, *, keep_unlabelled: bool = False) -> pd.DataFrame:
    """The table from per-ticker pieces that each hold every decision row of their tickers, labelled or not
    (build_features(keep_unlabelled=True)): the market- and sector-relative returns recomputed over all of
    them at each ts (each piece saw only its own tickers), then the unlabelled rows dropped and the rows
    sorted by (ts, ticker), as build_features does in one pass. Filtered and sorted in polars: one pandas
    copy of the table at the end, not three (the bound on the in-turn build's peak, in_turn.py).

    `keep_unlabelled`: keep the unlabelled rows (label a float, NaN where unlabelled), as
    build_features(keep_unlabelled=True) returns them: steps.leaks' recomputation in ticker batches."""
    columns = pieces[0].columns
    rows = pl.concat([piece.select(columns) for piece in pieces], how="vertical", rechunk=False)
    pieces.clear()  # the caller's list held the only other reference: each piece is freed once merged
    rows = rows.with_columns(
        pl.col("ticker").replace_strict(sectors or {}, default="Unknown", return_dtype=pl.String).alias("_sector"),
        *(pl.col(f"ret_{w}").fill_nan(None) for w in settings.windows))
    rows = add_relative_returns(rows, settings).drop("_sector")
    if not keep_unlabelled:
        rows = rows.filter(pl.col("label").is_not_null()).with_columns(pl.col("label").cast(pl.Int64))
    rows = rows.sort(["ts", "ticker"], maintain_order=True)
    merged = rows.select(columns).to_pandas()
    del rows
    for column in ("ts", "label_end"):
        merged[column] = merged[column].astype("datetime64[ns, UTC]")
    return merged


def tweet_rows(manifests: list[dict[str, Any]]) -> int:
    """Every instance reads all the tweets in one pass (any shard's count is the total); built in turn, an
    instance reads only its tickers' tweets, and the shards' counts add up."""
    if all(m["inputs"].get("tweet_rows_of_shard_tickers") for m in manifests):
        return sum(int(m["inputs"]["tweet_rows"]) for m in manifests)
    return int(manifests[0]["inputs"]["tweet_rows"])


def engagement(manifests: list[dict[str, Any]]) -> dict[str, int] | None:
    """The shards' engagement counts (engagement.py) added up when each counted its own tickers' tweets (built in
    turn), else any one's (each read every tweet), as tweet_rows; None from shards written before they had any."""
    if any("engagement" not in m for m in manifests):
        return None
    if all(m["inputs"].get("tweet_rows_of_shard_tickers") for m in manifests):
        total: dict[str, int] = {}
        for m in manifests:
            total = add_counts(total, m["engagement"])
        return total
    return dict(manifests[0]["engagement"])


def merge_shards(folder: Path) -> tuple[pd.DataFrame, Folds, dict[str, Any]]:
    """(table, folds, manifest) of a sharded features folder; the same as one instance would have written."""
    shards, manifests = check_shards(folder)
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
    manifest = {k: v for k, v in manifests[0].items() if k not in ("shard", "inputs", "files", "engagement")}
    settings = FeatureSettings.from_json(manifest["settings"], source=str(shards[0] / "manifest.json"))
    pieces = [pl.from_pandas(read_table(s / "features.parquet", name="features")) for s in shards]
    merged = merge_rows(pieces, settings, manifest.get("sectors"))
    bounds = pd.concat([read_table(s / "sessions.parquet", name="sessions")["ts"] for s in shards], ignore_index=True)
    folds = build_folds(bounds, n_folds=settings.n_folds, train_days=settings.train_days,
                        validation_days=settings.validation_days, holdout_days=settings.holdout_days,
                        final_holdout_days=settings.final_holdout_days,
                        embargo_bars=settings.embargo_bars, frequency=settings.frequency, source=str(folder))
    manifest = finish_manifest(manifest, merged, folds, folder)
    manifest["shards"] = [s.name for s in shards]
    manifest["inputs"] = {"bar_rows": sum(m["inputs"]["bar_rows"] for m in manifests),
                          "tweet_rows": tweet_rows(manifests)}
    manifest["engagement"] = engagement(manifests)
    return merged, folds, manifest
