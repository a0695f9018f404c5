"""What `python -m steps.live.monitor` computes: labels, quality per period, drift, CloudWatch metrics.

steps/live/monitor.py's docstring says what each figure means; the command line lives there, apart from
this module, so that `--help` answers without numpy, pandas, polars and the feature build. Every name here
can still be imported from steps.live.monitor."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl

from steps.common.errors import StepError, StepInputError
from steps.evaluate.metrics import point_metrics
from steps.features.build import build_features
from steps.features.settings import FeatureSettings
from steps.live.names import NAMESPACE

PSI_BINS = 10
PSI_FLOOR = 1e-4
MIN_DISTINCT = 100  # distinct live values a feature needs before its PSI means anything
MARKET_TZ = "America/New_York"


def realised_labels(bars: pd.DataFrame | pl.DataFrame, settings: FeatureSettings,
                    now: pd.Timestamp | None = None) -> pd.DataFrame:
    """(ticker, ts, label, forward_return, label_end) of every decision row whose label window has closed by
    `now` (default: the last bar), from the batch build itself."""
    table = build_features(bars, None, settings.replace(include_sentiment=False))
    labels = table[["ticker", "ts", "label", "forward_return", "label_end"]]
    if now is not None:
        labels = labels[labels["label_end"] <= now]
    return labels.reset_index(drop=True)


def join_labels(scores: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    """The scores whose labels are known, with them (a score without a closed window waits)."""
    return scores.merge(labels, on=["ticker", "ts"], how="inner")


def _period(ts: pd.Series, window: str) -> pd.Series:
    day = ts.dt.tz_convert(MARKET_TZ).dt.normalize().dt.tz_localize(None)
    if window == "daily":
        return day
    return day + pd.to_timedelta((4 - day.dt.day_of_week) % 7, unit="D")  # the week's Friday


def quality(joined: pd.DataFrame, window: str) -> pd.DataFrame:
    """One row per (model_package_arn, period): rows, auc (NaN with one class), calibration_error, brier."""
    if window not in ("daily", "weekly"):
        raise ValueError(f"window {window!r}: daily or weekly")
    out = []
    for (arn, period), group in joined.groupby(["model_package_arn", _period(joined["ts"], window)], sort=True):
        labels = group["label"].to_numpy(dtype="int64")
        probability = group["probability"].to_numpy(dtype="float64")
        metrics = point_metrics(labels, probability)
        out.append({"model_package_arn": arn, "window": window, "period": period, "rows": len(group),
                    "auc": metrics["auc"], "calibration_error": float(probability.mean() - labels.mean()),
                    "brier": metrics["brier"]})
    return pd.DataFrame(out, columns=["model_package_arn", "window", "period", "rows", "auc", "calibration_error",
                                      "brier"])


def psi(train: np.ndarray, live: np.ndarray, bins: int = PSI_BINS) -> float:
    """Population stability index of `live` against `train` on the training quantile bins (NaN a bin)."""
    train, live = np.asarray(train, dtype="float64"), np.asarray(live, dtype="float64")
    finite = train[~np.isnan(train)]
    edges = np.unique(np.quantile(finite, np.linspace(0, 1, bins + 1)[1:-1])) if len(finite) else np.zeros(0)

    def shares(values: np.ndarray) -> np.ndarray:
        counts = np.bincount(np.searchsorted(edges, values[~np.isnan(values)], side="right"),
                             minlength=len(edges) + 1).astype("float64")
        counts = np.r_[counts, np.isnan(values).sum()]
        return np.maximum(counts / max(len(values), 1), PSI_FLOOR)

    expected, actual = shares(train), shares(live)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def drift(training: pd.DataFrame, live: pd.DataFrame, columns: list[str], min_distinct: int = MIN_DISTINCT
          ) -> tuple[dict[str, float], list[str]]:
    """PSI of every feature column of the live rows against the training rows, and the columns left out because
    as many rows are no sample of them: a daily feature has one value per ticker and session, so a few days of
    a small universe hold a few dozen values (4 tickers x 5 days gave PSI 3-6 on the daily columns of an
    unshifted market), while 56 tickers fill it in two sessions. The test is on the *training* rows: the last
    len(live) of them (the table is in time order) must hold `min_distinct` distinct values. Asked of the live
    rows instead, a feature that collapsed live to a few values (a sentiment feed scoring every tweet alike)
    would be skipped, when that is the drift to report."""
    psis, skipped = {}, []
    for column in columns:
        values = live[column].to_numpy(dtype="float64", na_value=np.nan)
        trained = training[column].to_numpy(dtype="float64", na_value=np.nan)
        comparable = trained[-len(values):] if len(values) else trained[:0]
        if len(np.unique(comparable[~np.isnan(comparable)])) < min_distinct:
            skipped.append(column)
            continue
        psis[column] = psi(trained, values)
    return psis, skipped


def metric_data(qualities: list[pd.DataFrame], psis: Mapping[str, float], model_package_arn: str,
                at: pd.Timestamp) -> list[dict[str, Any]]:
    """PutMetricData entries: LiveAUC / LiveCalibrationError per period (at the period's end), FeaturePSI per
    feature and MaxFeaturePSI at `at`. A package ARN is longer than a dimension value may be (255): the
    dimension is its last two path parts (group/version)."""
    package = "/".join(model_package_arn.split("/")[-2:])[-255:]
    data: list[dict[str, Any]] = []
    for frame in qualities:
        for row in frame.itertuples(index=False):
            stamp = (pd.Timestamp(row.period).tz_localize(MARKET_TZ) + pd.Timedelta(hours=16)).tz_convert("UTC")
            dims = [{"Name": "ModelPackage", "Value": package}, {"Name": "Window", "Value": row.window}]
            if not np.isnan(row.auc):
                data.append({"MetricName": "LiveAUC", "Dimensions": dims, "Value": float(row.auc),
                             "Timestamp": stamp.to_pydatetime(), "Unit": "None"})
            data.append({"MetricName": "LiveCalibrationError", "Dimensions": dims,
                         "Value": float(row.calibration_error), "Timestamp": stamp.to_pydatetime(), "Unit": "None"})
    when = at.to_pydatetime()
    package_dim = [{"Name": "ModelPackage", "Value": package}]
    for feature, value in sorted(psis.items()):
        data.append({"MetricName": "FeaturePSI", "Dimensions": [*package_dim, {"Name": "Feature", "Value": feature}],
                     "Value": float(value), "Timestamp": when, "Unit": "None"})
    if psis:
        data.append({"MetricName": "MaxFeaturePSI", "Dimensions": package_dim, "Value": float(max(psis.values())),
                     "Timestamp": when, "Unit": "None"})
    return data


def publish(client: Any, data: list[dict[str, Any]], namespace: str = NAMESPACE) -> int:
    """PutMetricData in batches of 1000 (the API's limit); an error propagates: a monitor that cannot report
    must not look healthy."""
    for start in range(0, len(data), 1000):
        client.put_metric_data(Namespace=namespace, MetricData=data[start:start + 1000])
    return len(data)


def read_scores(files: list[Path]) -> tuple[pd.DataFrame, int]:
    """steps.live's score files, checked row by row, and the rows that repeat a (ticker, ts, package) dropped
    (a restarted follower, a file copied twice): counted once, and how many were dropped. A probability that is
    missing or outside [0, 1], or a time that is not a UTC timestamp, is refused naming the file."""
    from steps.common.io import read_table

    pieces = []
    for path in files:
        frame = read_table(path, name="scores")
        for column in ("ticker", "ts", "probability", "model_package_arn"):
            if column not in frame.columns:
                raise StepInputError("missing column", file=path, column=column, fix="pass steps.live's scores")
        ts = frame["ts"]
        if not pd.api.types.is_datetime64_any_dtype(ts.dtype) or getattr(ts.dt, "tz", None) is None or ts.isna().any():
            raise StepInputError(f"has dtype {ts.dtype} or missing times, expected UTC timestamps", file=path,
                                 column="ts", fix="pass the score files steps.live wrote (ts as timestamp[ns, UTC])")
        probability = frame["probability"]
        if not pd.api.types.is_numeric_dtype(probability.dtype) or pd.api.types.is_bool_dtype(probability.dtype):
            raise StepInputError(f"has dtype {probability.dtype}, expected numbers", file=path, column="probability",
                                 fix="pass the score files steps.live wrote")
        bad = ~probability.astype("float64").between(0, 1)  # NaN is outside too
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise StepInputError(f"has {int(bad.sum())} probabilities missing or outside [0, 1] (first: row {row}, "
                                 f"{probability.iloc[row]})", file=path, column="probability",
                                 fix="drop those rows or re-score them")
        pieces.append(frame.assign(ts=ts.dt.tz_convert("UTC"), probability=probability.astype("float64")))
    scores = pd.concat(pieces, ignore_index=True)
    keyed = scores.drop_duplicates(["ticker", "ts", "model_package_arn"], keep="first", ignore_index=True)
    return keyed, len(scores) - len(keyed)


def run_monitor(scores_dir: Path, bars: Path, features: Path, output: Path, *, tweets: Path | None = None,
                endpoint_url: str | None = None, region: str | None = None,
                publish_metrics: bool = False, logger: logging.Logger | None = None) -> dict[str, Any]:
    """Scores written by steps.live + the bars seen since -> monitor.json (quality, daily and weekly per package,
    and drift); with `publish_metrics`, the CloudWatch metrics too. Returns the summary written.

    `tweets`: the scored tweets the live scorer read. With them the live rows are replayed with sentiment and
    the sent_* features get a PSI like the others (a sentiment model that drifts, or a feed that goes quiet,
    shows there); without them those features are listed under `psi_not_computed`, never silently absent."""
    from steps.common.folds import holdout_mask
    from steps.common.io import write_json
    from steps.features.inputs import load_inputs
    from steps.features.parity import replay_features
    from steps.features.table import load_feature_table
    from steps.live.training import load_training_manifest

    training = load_training_manifest(features)
    files = sorted(scores_dir.glob("scores*.parquet"))
    if not files:
        raise StepInputError("no scores*.parquet (what python -m steps.live writes)", file=scores_dir,
                             column="probability", fix="pass the folder steps.live wrote its scores to")
    scores, duplicates = read_scores(files)
    with_sentiment = tweets is not None and training.settings.include_sentiment
    inputs = load_inputs(bars, tweets if with_sentiment else None, include_sentiment=with_sentiment,
                         sectors=training.sectors, logger=logger or logging.getLogger("monitor"),
                         frequency=training.settings.frequency)
    joined = join_labels(scores, realised_labels(inputs.bars, training.settings))
    qualities = [quality(joined, "daily"), quality(joined, "weekly")]
    table = load_feature_table(features)
    train_rows = table.frame[~holdout_mask(table.frame, table.folds)]
    live_rows = replay_features(inputs.bars, inputs.tweets if with_sentiment else None,
                                training.settings.replace(include_sentiment=with_sentiment), training.sectors)
    live_rows = live_rows.merge(scores[["ticker", "ts"]].drop_duplicates(), on=["ticker", "ts"])
    columns = [c for c in training.columns if c in live_rows.columns]
    psis, skipped = drift(train_rows, live_rows, columns)
    summary = {"scored_rows": len(scores), "duplicate_score_rows": duplicates, "labelled_rows": len(joined),
               "quality": pd.concat(qualities).astype({"period": str}).to_dict("records"),
               "psi": psis, "psi_skipped": skipped,
               "psi_not_computed": {c: "no --tweets: the sentiment features need the scored tweets"
                                    for c in training.columns if c not in live_rows.columns}}
    if publish_metrics:
        from botocore.exceptions import BotoCoreError, ClientError

        from steps.common.aws import bounded_client

        client = bounded_client("cloudwatch", endpoint_url=endpoint_url, region=region, read_timeout_s=20)
        for arn in sorted(scores["model_package_arn"].astype(str).unique()):
            mine = [q[q["model_package_arn"] == arn] for q in qualities]
            try:
                summary.setdefault("published", {})[arn] = publish(
                    client, metric_data(mine, psis, arn, pd.Timestamp.now(tz="UTC")))
            except (BotoCoreError, ClientError) as exc:  # nothing written: a monitor that cannot report fails
                raise StepError(f"CloudWatch PutMetricData failed: {str(exc).splitlines()[0]}; check the "
                                "credentials, --region and --endpoint-url") from None
    output.mkdir(parents=True, exist_ok=True)
    write_json(summary, output / "monitor.json")
    return summary
