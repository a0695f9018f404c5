"""Load a model (model.tar.gz or a model folder), score the holdout, write evaluation.json.

The output folder is complete once `manifest.json` is there (written last, listing every file with its size
and sha256). evaluation.json names the model it scored by the sha256 of its model_meta.json (which lists
every file of the model with theirs), so steps.ensemble can refuse an evaluation of another model.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from steps.common.auc import auc_or_none
from steps.common.errors import StepInputError
from steps.common.feature_table import holdout_rows
from steps.common.folds import holdout_mask, session_dates
from steps.common.holdout_report import HEADLINE_METRICS, holdout_report
from steps.common.io import OUTPUT_MANIFEST, clear_outputs, write_json, write_manifest, write_metrics, write_parquet
from steps.common.logging import StepTimer, log_input_size
from steps.evaluate.metrics import bootstrap_std, point_metrics
from steps.evaluate.reuse import fingerprint, reusable
from steps.evaluate.signal import SignalSettings, fold_sections, holdout_sections, read_oof, with_forward_returns
from steps.evaluate.trials import TRIALS_FILE, TRIALS_MANIFEST, TrialsInput, collect
from steps.features.table import load_feature_table
from steps.train.algorithms import LoadedModel, load_model_dir

EVALUATION_FILE = "evaluation.json"
PREDICTIONS_FILE = "holdout_predictions.parquet"
OUTPUTS = [EVALUATION_FILE, PREDICTIONS_FILE, "metrics.json"]


def auc_by(frame: pd.DataFrame, keys: pd.Series | np.ndarray, scores: np.ndarray) -> dict[str, dict[str, Any]]:
    """AUC and row count per key (None where a key's rows hold one class)."""
    labels = frame["label"].to_numpy(dtype="int64")
    keys = np.asarray(keys, dtype=object)
    return {str(key): {"auc": auc_or_none(labels[keys == key], scores[keys == key]),
                       "rows": int((keys == key).sum())} for key in sorted(set(keys))}


def volatility_regime(frame: pd.DataFrame) -> pd.Series | None:
    """Low / mid / high terciles of the longest intraday realised-volatility feature (known at t: no leak)."""
    candidates = sorted((c for c in frame.columns if c.startswith("vol_") and c[4:].isdigit()),
                        key=lambda c: int(c[4:]))
    if not candidates:
        return None
    column = candidates[-1]
    values = frame[column]
    if values.notna().sum() < 3:
        return None
    terciles = pd.qcut(values.rank(method="first"), 3, labels=["low", "mid", "high"]).astype(str)
    return terciles.where(values.notna(), "unknown").rename(column)


# A week of daily bars for two tickers is ten rows: its AUC says nothing. Decay is judged on the latest
# week with at least this many rows.
MIN_PERIOD_ROWS = 100


def degradation(report: dict[str, Any], min_auc: float | None) -> dict[str, Any] | None:
    """The latest holdout week's AUC, and whether it is below the gate when one is given.

    The pipeline passes no gate here, so a changed MinModelAUC does not invalidate the cached evaluation;
    the run summary and the report compare the latest week with the execution's MinModelAUC instead.
    Visible decay is a reason to look, not to hide.
    """
    periods = [(period, v["auc"], v["rows"]) for period, v in report.get("by_period", {}).get("auc", {}).items()
               if v["auc"] is not None and v["rows"] >= MIN_PERIOD_ROWS]
    if not periods:
        return None
    latest, auc, rows = max(periods)
    return {"latest_period": latest, "auc": auc, "rows": rows, "gate": min_auc,
            "below_gate": None if min_auc is None else auc < min_auc}


def suspicion(auc: float, threshold: float) -> dict[str, Any]:
    """An out-of-time AUC this high on direction labels is far likelier a leak than an edge."""
    flagged = auc > threshold
    reason = (f"holdout AUC {auc:.4f} is above {threshold:.2f}: check features and labels for look-ahead"
              if flagged else "")
    return {"flag": flagged, "threshold": threshold, "reason": reason}


def breakdowns(frame: pd.DataFrame, scores: np.ndarray, model: LoadedModel) -> dict[str, Any]:
    """Where the model is good and where not: by model group, sector, ticker, week, and a calibration table."""
    report: dict[str, Any] = {"by_ticker": auc_by(frame, frame["ticker"].astype(str), scores)}
    if "sector" in frame.columns:
        report["by_sector"] = auc_by(frame, frame["sector"].fillna("unknown").astype(str), scores)
    if model.group_models:
        report["by_group"] = {"mode": model.grouping_mode, "auc": auc_by(frame, model.groups_of(frame), scores)}
    naive_ts = pd.DatetimeIndex(frame["ts"]).tz_convert("UTC").tz_localize(None)
    weeks = np.asarray(naive_ts.to_period("W").astype(str))
    report["by_period"] = {"unit": "week", "auc": auc_by(frame, weeks, scores)}
    report["by_quarter"] = auc_by(frame, np.asarray(naive_ts.to_period("Q").astype(str)), scores)
    regime = volatility_regime(frame)
    if regime is not None:
        report["by_volatility_regime"] = {"feature": regime.name, "auc": auc_by(frame, regime.to_numpy(), scores)}
    bins = np.clip((scores * 10).astype(int), 0, 9)
    labels = frame["label"].to_numpy(dtype="int64")
    report["calibration"] = [{"bin": f"{b / 10:.1f}-{(b + 1) / 10:.1f}", "rows": int((bins == b).sum()),
                              "mean_prediction": float(scores[bins == b].mean()),
                              "positive_rate": float(labels[bins == b].mean())}
                             for b in range(10) if (bins == b).any()]
    return report


def run_evaluation(model_path: str | Path, features_path: str | Path, output: str | Path,
                   algorithm: str | None, logger: logging.Logger, *, bootstrap: int = 200,
                   seed: int = 0, suspicious_auc: float = 0.70, min_auc: float | None = None,
                   signal: SignalSettings | None = None, trials: TrialsInput | None = None) -> dict[str, Any]:
    """`trials`: also collect the round's tuning trials' out-of-fold predictions (steps/evaluate/trials.py)."""
    timer = StepTimer(logger)
    signal = signal or SignalSettings()
    with timer.block("load_model"):
        model = load_model_dir(model_path)
        meta = model.meta
        name = algorithm or meta.get("algorithm")
        if algorithm and meta.get("algorithm") not in (None, algorithm):
            raise StepInputError(f"model was trained with {meta.get('algorithm')!r}, not {algorithm!r}",
                                 file=Path(model_path), column="algorithm", fix="pass the matching --algorithm")
    with timer.block("read_features"):
        table = load_feature_table(features_path)
    log_input_size(logger, "features", table.frame, table.folder)
    features = meta.get("features", table.feature_columns)
    missing = [c for c in features if c not in table.frame.columns]
    if missing:
        raise StepInputError("the model's feature is missing from the table",
                             file=table.folder / "features.parquet", column=missing[0],
                             fix="evaluate with the features the model was trained on")
    settings = {"bootstrap": bootstrap, "seed": seed, "suspicious_auc": suspicious_auc, "min_auc": min_auc,
                "backtest": signal.model_dump(mode="json")}
    wanted = fingerprint(model.meta_sha256, table.manifest, settings)
    earlier = reusable(trials.earlier if trials else None, wanted, logger)
    if earlier is not None:
        report, predictions = earlier
        point = {m: report["binary_classification_metrics"][m]["value"] for m in HEADLINE_METRICS}
        spread = {m: report["binary_classification_metrics"][m]["standard_deviation"] for m in HEADLINE_METRICS}
    else:
        report, predictions, point, spread = _evaluate(model, model_path, table, name, bootstrap=bootstrap, seed=seed,
                                                       suspicious_auc=suspicious_auc, min_auc=min_auc, signal=signal,
                                                       timer=timer)
        report["evaluated_with"] = wanted
    rows = len(predictions)
    out = Path(output)
    # the old manifest first: no new file under an old listing
    clear_outputs(out, [OUTPUT_MANIFEST, *OUTPUTS, TRIALS_FILE, TRIALS_MANIFEST])
    write_parquet(predictions, out / PREDICTIONS_FILE)
    write_json(report, out / EVALUATION_FILE)
    listed = list(OUTPUTS)
    if trials is not None:
        with timer.block("collect_trials"):
            collected = collect(trials.archives, trials.earlier, trials.round_name, trials.completed, out, logger)
        listed += [TRIALS_MANIFEST] + ([TRIALS_FILE] if (out / TRIALS_FILE).is_file() else [])
        logger.info("%d trial(s) of %d round(s) collected for the count of looks", collected["trials"],
                    len(collected["rounds"]))
    write_metrics(out, {"timings_s": timer.as_metrics(), "holdout_rows": rows, **point,
                        "suspicious": report["suspicion"]["flag"]})
    write_manifest(out, listed, step="evaluate", algorithm=name, model_meta_sha256=model.meta_sha256)  # last
    if report["suspicion"]["flag"]:
        logger.warning("SUSPICIOUS: %s", report["suspicion"]["reason"])
    decay = report["degradation"]
    if decay and decay["below_gate"]:
        logger.warning("latest holdout week %s: AUC %.4f is below the gate %.2f", decay["latest_period"],
                       decay["auc"], decay["gate"])
    logger.info("holdout auc=%.4f (sd %.4f) accuracy=%.4f log_loss=%.4f brier=%.4f on %d rows", point["auc"],
                spread["auc"], point["accuracy"], point["log_loss"], point["brier"], rows)
    logger.info("holdout %s", report["signal_metadata"]["summary"])
    for flag in report["backtest"]["plausibility"]["flags"]:
        logger.warning("IMPLAUSIBLE BACKTEST: %s", flag)
    return report


def _evaluate(model: LoadedModel, model_path: str | Path, table: Any, name: str | None, *, bootstrap: int, seed: int,
              suspicious_auc: float, min_auc: float | None, signal: SignalSettings, timer: StepTimer
              ) -> tuple[dict[str, Any], pd.DataFrame, dict[str, float], dict[str, float]]:
    """Score the holdout and write nothing: the report, the predictions, the point metrics and their spread."""
    meta = model.meta
    frame, labels = holdout_rows(table)
    with timer.block("predict"):
        # The whole table is passed so a sequence model sees each holdout row's history; only holdout
        # rows are scored and reported.
        holdout = holdout_mask(table.frame, table.folds)
        scores = model.predict(table.frame)[holdout]
    with timer.block("metrics"):
        point = point_metrics(labels, scores)
        spread = bootstrap_std(labels, scores, session_dates(frame["ts"]), resamples=bootstrap, seed=seed)
    with timer.block("signal_quality"):
        sections = holdout_sections(frame, scores, table.manifest, signal, table.folder / "features.parquet")
        oof = read_oof(model_path)
        if oof is not None:
            sections["signal_quality"]["by_fold"] = fold_sections(with_forward_returns(oof, table.frame),
                                                                  "prediction", signal, table.manifest)
    details = {
        "model": {"meta_sha256": model.meta_sha256,
                  "validation_auc": meta.get("validation_auc"), "refit_iterations": meta.get("refit_iterations"),
                  "best_iterations": [f.get("best_iteration") for f in meta.get("folds", [])],
                  "grouping": model.grouping_mode, "group_models": len(model.group_models)},
        **breakdowns(frame, scores, model),
        "suspicion": suspicion(point["auc"], suspicious_auc),
    }
    report = holdout_report(name, frame, labels, point, spread, sections, bootstrap=bootstrap, seed=seed,
                            details=details)
    report["degradation"] = degradation(report, min_auc)
    predictions = pd.DataFrame({"ticker": frame["ticker"], "ts": frame["ts"], "label": labels,
                                "prediction": scores, "forward_return": frame.get("forward_return")})
    return report, predictions, point, spread
