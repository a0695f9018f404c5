"""Load a model (model.tar.gz or a model folder), score the holdout, write evaluation.json."""

from __future__ import annotations

import logging
import tarfile
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from steps.common.errors import StepInputError
from steps.common.feature_table import feature_matrix, load_feature_table
from steps.common.folds import holdout_mask, session_dates
from steps.common.io import read_json, write_json, write_metrics, write_parquet
from steps.common.logging import StepTimer, log_input_size
from steps.evaluate.metrics import bootstrap_std, point_metrics
from steps.train.algorithms import get_algorithm
from steps.train.run import META_FILE


def _model_folder(path: Path, scratch: Path) -> Path:
    """The folder with model_meta.json: `path`, or `path/model.tar.gz` extracted into `scratch`."""
    archive = path / "model.tar.gz" if path.is_dir() else path
    if archive.is_file() and archive.name.endswith((".tar.gz", ".tgz")):
        try:
            with tarfile.open(archive) as tar:
                tar.extractall(scratch, filter="data")
        except (tarfile.TarError, OSError) as exc:
            raise StepInputError(f"cannot extract ({exc})", file=archive, fix="pass the training job's output") from exc
        path = scratch
    if (path / META_FILE).is_file():
        return path
    found = sorted(path.rglob(META_FILE)) if path.is_dir() else []
    if len(found) == 1:
        return found[0].parent
    raise StepInputError(f"{META_FILE} not found", file=path, fix="pass the model folder or model.tar.gz")


def run_evaluation(model_path: str | Path, features_path: str | Path, output: str | Path,
                   algorithm: str | None, logger: logging.Logger, *, bootstrap: int = 200,
                   seed: int = 0) -> dict[str, Any]:
    timer = StepTimer(logger)
    with tempfile.TemporaryDirectory() as scratch:
        with timer.block("load_model"):
            folder = _model_folder(Path(model_path), Path(scratch))
            meta = read_json(folder / META_FILE, name="model metadata")
            name = algorithm or meta.get("algorithm")
            if algorithm and meta.get("algorithm") not in (None, algorithm):
                raise StepInputError(f"model was trained with {meta.get('algorithm')!r}, not {algorithm!r}",
                                     file=folder / META_FILE, column="algorithm",
                                     fix="pass the matching --algorithm")
            model = get_algorithm(str(name)).load(folder, meta)
        with timer.block("read_features"):
            table = load_feature_table(features_path)
        log_input_size(logger, "features", table.frame, table.folder)
        features = meta.get("features", table.feature_columns)
        missing = [c for c in features if c not in table.frame.columns]
        if missing:
            raise StepInputError("the model's feature is missing from the table",
                                 file=table.folder / "features.parquet", column=missing[0],
                                 fix="evaluate with the features the model was trained on")
        frame = table.frame[holdout_mask(table.frame, table.folds)].reset_index(drop=True)
        labels = frame["label"].to_numpy(dtype="int64")
        if len(frame) == 0 or len(np.unique(labels)) < 2:
            raise StepInputError(f"holdout has {len(frame)} rows and {len(np.unique(labels))} classes",
                                 file=table.folder / "features.parquet", column="label",
                                 fix="rebuild the features with a longer --holdout-days")
        with timer.block("predict"):
            scores = model.predict(feature_matrix(frame, features))
        with timer.block("metrics"):
            point = point_metrics(labels, scores)
            spread = bootstrap_std(labels, scores, session_dates(frame["ts"]), resamples=bootstrap, seed=seed)
    report = {
        "binary_classification_metrics": {
            metric: {"value": point[metric], "standard_deviation": spread[metric]}
            for metric in ("auc", "accuracy", "log_loss", "brier")
        },
        "algorithm": name,
        "holdout": {"rows": len(frame), "start": frame["ts"].min().isoformat(),
                    "end": frame["ts"].max().isoformat(), "positive_rate": float(labels.mean()),
                    "days": len(np.unique(session_dates(frame["ts"])))},
        "bootstrap": {"resamples": bootstrap, "unit": "trading day", "seed": seed},
        "model": {"validation_auc": meta.get("validation_auc"), "refit_iterations": meta.get("refit_iterations")},
    }
    predictions = pd.DataFrame({"ticker": frame["ticker"], "ts": frame["ts"], "label": labels,
                                "prediction": scores, "forward_return": frame.get("forward_return")})
    out = Path(output)
    write_parquet(predictions, out / "holdout_predictions.parquet")
    write_json(report, out / "evaluation.json")
    write_metrics(out, {"timings_s": timer.as_metrics(), "holdout_rows": len(frame), **point})
    logger.info("holdout auc=%.4f (sd %.4f) accuracy=%.4f log_loss=%.4f brier=%.4f on %d rows", point["auc"],
                spread["auc"], point["accuracy"], point["log_loss"], point["brier"], len(frame))
    return report
