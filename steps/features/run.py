"""Load inputs, build features and folds, write the output folder (what `__main__` calls).

Scale-out: with several processing instances (SageMaker writes /opt/ml/config/resourceconfig.json with
`current_host` and `hosts`), each instance gets a shard of the bar files (`ShardedByS3Key` over the
`ticker=` partitions) and all the tweets. Per-ticker work (every bar and sentiment feature, labels) is
done on the shard; the whole-table work (cross-sectional returns, folds) cannot be, so each instance writes
`shards/<host>/` (rows including the unlabelled ones, their settings, and its sessions' first/last bar
times) and `steps.common.feature_table.load_feature_table` merges the shards on read (shards.py): the
merged table equals the one a single instance writes (tested). One instance writes the table directly.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import pandas as pd

from steps.common.errors import StepInputError
from steps.common.folds import build_folds
from steps.common.io import (
    MANIFEST_FILES,
    atomic_dir,
    clear_outputs,
    describe_files,
    write_json,
    write_metrics,
    write_parquet,
)
from steps.common.logging import StepTimer
from steps.common.resource_config import RESOURCE_CONFIG, host_list, read_resource_config
from steps.common.validation import check_no_infinities
from steps.features.build import build_features
from steps.features.catalogue import dropped_features, feature_columns
from steps.features.coverage import finish_manifest
from steps.features.engagement import describe_counts, engagement_counts
from steps.features.in_turn import Built, build_in_turn, ticker_batches_of
from steps.features.inputs import inputs_settings, load_inputs, load_sectors
from steps.features.settings import FeatureSettings
from steps.features.shards import SHARD_FILES, SHARDS_DIR, session_bounds

FEATURES_FILE = "features.parquet"
FOLDS_FILE = "folds.json"
MANIFEST_FILE = "manifest.json"
SINGLE_FILES = [FEATURES_FILE, FOLDS_FILE]  # what a single instance's manifest lists

MANIFEST_VERSION = 2  # 2: `files` lists what the step wrote (sizes, sha256); the manifest comes last
JOB_CONFIG = "processingjobconfig.json"  # beside the resource config on SageMaker
BARS_UNIVERSE = "_universe.csv"  # ticker,sector beside the bar files; overrides --universe


def current_shard(resource_config: str | Path | None = RESOURCE_CONFIG) -> tuple[str, list[str], str | None] | None:
    """(this host, all hosts, the job's name) when the job runs on several instances, else None.

    The job name (`ProcessingJobName` of processingjobconfig.json beside the resource config) is the same on
    every instance of one job: the reader refuses shards of different jobs (one left from an older run)."""
    read = read_resource_config(resource_config, lambda config, path: (path, *host_list(config["current_host"],
                                                                                     config["hosts"], path)),
                                fix="check the job's instances")
    if read is None:
        return None
    path, host, hosts = read
    if len(hosts) <= 1:
        return None
    job = path.parent / JOB_CONFIG
    run = None
    if job.is_file():
        try:
            run = str(json.loads(job.read_text())["ProcessingJobName"])
        except (KeyError, TypeError, ValueError) as exc:
            raise StepInputError(f"malformed job config ({exc})", file=job, fix="check the job's config") from exc
    return host, hosts, run


def _settings_manifest(settings: FeatureSettings, sectors: dict[str, str] | None) -> dict[str, Any]:
    return {
        "manifest_version": MANIFEST_VERSION,
        "settings": settings.to_json(),
        "feature_columns": feature_columns(settings),
        "absent_inputs": list(settings.absent_inputs),
        "dropped_features": dropped_features(settings),
        "key_columns": ["ticker", "ts"],
        "group_columns": ["ticker", "sector"] if sectors is not None else ["ticker"],
        "target_columns": ["label", "forward_return", "label_end"],
        "sectors": sectors,
        "label": {"definition": "close[t+1+H] / close[t+1] - 1 > dead_zone, within ticker",
                  "horizon_bars": settings.label_horizon_bars, "dead_zone": settings.label_dead_zone},
    }


def run_features(bars_dir: str | Path, tweets_dir: str | Path | None, output: str | Path,
                 settings: FeatureSettings, *, universe: str | Path | None,
                 logger: logging.Logger, resource_config: str | Path | None = RESOURCE_CONFIG,
                 ticker_batches: int = 1, clock_check: str = "refuse") -> dict[str, Any]:
    """The whole step. Everything is computed before the first file is written.

    `clock_check` (refuse | warn | off): bars or tweets whose clock the data shows to be whole hours off
    (steps/common/clock.py) are refused, warned about, or not checked.

    `ticker_batches` > 1: the tickers' partitions are read and built in that many batches, one after the other
    (in_turn.py: the peak memory of a batch, not of the universe; the same table)."""
    timer = StepTimer(logger)
    carried = Path(bars_dir) / BARS_UNIVERSE
    if carried.is_file():  # imported real data carries its own universe (steps.import_prices)
        logger.info("using the universe %s that travels with the bars (instead of %s)", carried, universe)
        universe = carried
    sectors = load_sectors(universe, logger)
    shard = current_shard(resource_config)
    built = _build(bars_dir, tweets_dir, settings, sectors, logger, timer, ticker_batches,
                   keep_unlabelled=shard is not None, clock_check=clock_check)
    settings = built.settings
    logger.info("%s", describe_counts(built.engagement, settings.ingest_lag_seconds))
    if shard is not None:
        return _write_shard(built, Path(output), sectors, shard, timer, logger, bars_dir, tweets_dir)
    frame = built.frame
    if frame.empty:
        raise StepInputError(
            f"no decision rows with a full {settings.label_horizon_bars}-bar label window",
            file=bars_dir, column="ts", fix="supply more bars or lower --label-horizon-bars",
        )
    check_no_infinities(frame, Path(output) / FEATURES_FILE)
    with timer.block("build_folds"):
        folds = build_folds(pd.Series(built.bounds), n_folds=settings.n_folds, train_days=settings.train_days,
                            validation_days=settings.validation_days, holdout_days=settings.holdout_days,
                            final_holdout_days=settings.final_holdout_days,
                            embargo_bars=settings.embargo_bars, frequency=settings.frequency,
                            source=str(bars_dir))
        manifest = finish_manifest(_settings_manifest(settings, sectors), frame, folds, bars_dir)
    unused = manifest["fold_coverage"]
    if unused["sessions_before_folds"]:
        logger.warning("%s", unused["note"])
    manifest["inputs"] = {"bars": str(bars_dir), "tweets": str(tweets_dir) if tweets_dir else None,
                          "bar_rows": built.bar_rows, "tweet_rows": built.tweet_rows}
    manifest["engagement"] = built.engagement
    manifest["data_range"].update({"bars_start": built.bars_start.isoformat(),
                                   "bars_end": built.bars_end.isoformat()})
    out = Path(output)
    with timer.block("write"):
        # What a previous run left goes first (its manifest before anything else), so that a crash from here on
        # leaves data without a manifest (refused), never new data under an old manifest or beside old shards.
        clear_outputs(out, [MANIFEST_FILE, SHARDS_DIR, FEATURES_FILE, FOLDS_FILE, "metrics.json"])
        write_parquet(frame, out / FEATURES_FILE)
        write_json(folds.to_json(), out / FOLDS_FILE)
        manifest[MANIFEST_FILES] = describe_files(out, SINGLE_FILES)
    metrics = {"timings_s": timer.as_metrics(), "rows": manifest["rows"], "features": len(manifest["feature_columns"]),
               "bars": built.bar_rows, "tweets": built.tweet_rows, "tickers": manifest["tickers"]}
    write_metrics(out, metrics)
    write_json(manifest, out / MANIFEST_FILE)  # last: the folder is complete once it is there
    logger.info("wrote %d rows x %d features (%d holdout rows) to %s", len(frame), len(manifest["feature_columns"]),
                manifest["rows"]["holdout"], out)
    return manifest


def _build(bars_dir: str | Path, tweets_dir: str | Path | None, settings: FeatureSettings,
           sectors: dict[str, str] | None, logger: logging.Logger, timer: StepTimer, ticker_batches: int, *,
           keep_unlabelled: bool, clock_check: str = "refuse") -> Built:
    """One pass over every input, or (ticker_batches > 1 and bars partitioned by ticker) batches in turn."""
    batches = ticker_batches_of(bars_dir, ticker_batches, logger, "built")
    if batches:
        with timer.block("build_in_turn"):
            return build_in_turn(bars_dir, tweets_dir, settings, sectors=sectors, batches=batches, logger=logger,
                                 keep_unlabelled=keep_unlabelled, clock_check=clock_check)
    with timer.block("read_inputs"):
        inputs = load_inputs(bars_dir, tweets_dir, include_sentiment=settings.include_sentiment,
                             sectors=sectors, logger=logger, frequency=settings.frequency, clock_check=clock_check)
    settings = inputs_settings(settings, inputs.bars, bars_dir, logger)
    with timer.block("build_features"):
        frame = build_features(inputs.bars, inputs.tweets, settings, sectors=sectors, keep_unlabelled=keep_unlabelled)
    ts = inputs.bars["ts"]
    return Built(frame, session_bounds(inputs.bars), settings, inputs.bars.height, len(inputs.tweets),
                 ts.min(), ts.max(), engagement=engagement_counts(inputs.tweets, settings.ingest_lag_seconds))


def _write_shard(built: Built, output: Path, sectors: dict[str, str] | None,
                 shard: tuple[str, list[str], str | None], timer: StepTimer, logger: logging.Logger,
                 bars_dir: str | Path, tweets_dir: str | Path | None) -> dict[str, Any]:
    host, hosts, run = shard
    frame = built.frame
    manifest = _settings_manifest(built.settings, sectors)
    manifest.update({"shard": {"host": host, "hosts": len(hosts), "host_names": hosts, "run": run,
                               "tickers": sorted(frame["ticker"].unique().tolist()), "pid": os.getpid()},
                     "inputs": {"bars": str(bars_dir), "tweets": str(tweets_dir) if tweets_dir else None,
                                "bar_rows": built.bar_rows, "tweet_rows": built.tweet_rows,
                                "tweet_rows_of_shard_tickers": built.tweets_of_own_tickers},
                     "engagement": built.engagement})
    # A single instance's table, or shards of hosts this job does not have, are a previous run's: removed (the
    # other hosts' shards of this job are theirs to replace).
    check_no_infinities(frame, output / SHARDS_DIR / host / FEATURES_FILE)
    clear_outputs(output, [MANIFEST_FILE, FEATURES_FILE, FOLDS_FILE, "metrics.json"])
    root = output / SHARDS_DIR
    if root.is_dir():
        clear_outputs(root, [p.name for p in root.iterdir() if not p.name.startswith((".", "_"))
                             and p.name not in hosts], temporaries=False)  # the others' writes in progress
    with timer.block("write"), atomic_dir(root / host) as folder:
        write_parquet(frame, folder / FEATURES_FILE)
        write_parquet(pd.DataFrame({"ts": built.bounds}), folder / "sessions.parquet")
        manifest[MANIFEST_FILES] = describe_files(folder, SHARD_FILES)
        write_metrics(folder, {"timings_s": timer.as_metrics(), "rows": len(frame),
                               "bars": built.bar_rows, "tweets": built.tweet_rows})
        write_json(manifest, folder / MANIFEST_FILE)  # last
    logger.info("shard %s of %d hosts: wrote %d rows for %d tickers to %s", host, len(hosts), len(frame),
                len(manifest["shard"]["tickers"]), root / host)
    return manifest
