"""Read the base models and their evaluations, stack, write the ensemble artifact and its evaluation.

Every input is checked before it is used: each base model folder against its model_meta.json listing
(`models/<algorithm>/` must hold that algorithm's model), each evaluation folder against its manifest and
against the model it must have scored (the sha256 of that model's model_meta.json), and each model's
out-of-fold predictions against the rows the features' folds put in validation windows (a stack fitted on
part of them would be fitted on a different, unreported sample). The output folder is complete once its
`manifest.json` is there; inside model.tar.gz, `ensemble_meta.json` (written last) lists every other file.
"""

from __future__ import annotations

import logging
import shutil
import tarfile
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from steps.common.archives import extract_archive
from steps.common.auc import auc_or_none
from steps.common.errors import StepInputError
from steps.common.feature_table import FeatureTable, holdout_rows
from steps.common.folds import fold_masks, holdout_mask, session_dates
from steps.common.holdout_report import holdout_report
from steps.common.io import (
    MANIFEST_FILES,
    OUTPUT_MANIFEST,
    atomic_path,
    check_manifest,
    clear_outputs,
    describe_files,
    file_digest,
    read_json,
    read_table,
    write_json,
    write_manifest,
    write_metrics,
    write_parquet,
)
from steps.common.logging import StepTimer, log_input_size
from steps.ensemble import stacking
from steps.ensemble.signal import walk_forward_scores
from steps.evaluate.metrics import bootstrap_std, point_metrics
from steps.evaluate.signal import SignalSettings, fold_sections, holdout_sections, with_forward_returns
from steps.features.table import load_feature_table
from steps.serve.model import (
    ARCHIVE_NAME,
    BASE_FOLDER,
    ENSEMBLE_META_FILE,
    META_LEARNER_FILE,
    MODEL_META_FILE,
    load_artifact,
)
from steps.train.algorithms import get_algorithm
from steps.train.algorithms.loader import check_model_folder, write_model_meta
from steps.train.settings import ALGORITHMS

OOF_FILE = "oof_predictions.parquet"
EVALUATION_FILE = "evaluation.json"
SMOKE_ROWS_FILE = "smoke_rows.parquet"
# Files of a model folder the artifact does not need (the OOF table is training evidence, not a model).
NOT_SHIPPED = {OOF_FILE}
OUTPUTS = [ARCHIVE_NAME, "holdout_predictions.parquet", SMOKE_ROWS_FILE, EVALUATION_FILE, "metrics.json"]
RESTAGE = "stage each algorithm's best training job output (model.tar.gz) under models/<algorithm>/"
REEVALUATE = "stage steps.evaluate's output for the model in models/<name>/ under evaluations/<name>/"


def check_base_model(name: str, folder: Path, entry: Path) -> tuple[dict[str, Any], str]:
    """A base model folder as steps.train wrote it, holding the algorithm its folder is named after.

    Returns its metadata and its identity (the sha256 of model_meta.json, which lists every file's sha256)."""
    meta = read_json(folder / MODEL_META_FILE, name=f"{name} model metadata")
    algorithm = meta.get("algorithm") if isinstance(meta, dict) else None
    if name in ALGORITHMS and algorithm != name:
        raise StepInputError(f"holds a {algorithm} model (model_meta.json 'algorithm'), not {name}: the model "
                             "folders are swapped or mislabelled", file=entry, column="algorithm", fix=RESTAGE)
    files = get_algorithm(str(algorithm)).files if algorithm in ALGORITHMS else ()
    check_model_folder(folder, meta, (*files, OOF_FILE))
    return meta, file_digest(folder / MODEL_META_FILE)["sha256"]


def expected_oof_rows(table: FeatureTable) -> dict[int, int]:
    """Rows per fold that a model trained on this table predicts out of fold (validation rows before the holdout)."""
    holdout = holdout_mask(table.frame, table.folds)
    return {int(fold.fold): int((validation & ~holdout).sum())
            for fold, (_, validation) in zip(table.folds.folds, fold_masks(table.frame, table.folds), strict=True)}


def _base_model_folders(models: Path, scratch: Path) -> dict[str, Path]:
    """`models/<name>/` holding model.tar.gz (extracted into scratch) or an extracted model folder."""
    if not models.is_dir():
        raise StepInputError("models folder not found", file=models, fix="pass the folder of <algorithm>/ folders")
    found: dict[str, Path] = {}
    for entry in sorted(p for p in models.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))):
        if (entry / MODEL_META_FILE).is_file():
            found[entry.name] = entry
            continue
        archives = sorted(entry.rglob(ARCHIVE_NAME))
        metas = sorted(entry.rglob(MODEL_META_FILE))
        if len(archives) == 1:
            found[entry.name] = extract_archive(archives[0], scratch / entry.name)
        elif len(metas) == 1:
            found[entry.name] = metas[0].parent
        else:
            raise StepInputError(f"{len(archives)} model.tar.gz and {len(metas)} model_meta.json found", file=entry,
                                 fix="put exactly one model (the best tuning job's) in each <algorithm>/ folder")
    if not found:
        raise StepInputError("no <algorithm>/ folders with a model", file=models,
                             fix="stage each algorithm's best model.tar.gz under models/<algorithm>/")
    return found


def _best_single(evaluations: Path, names: list[str], models: dict[str, tuple[dict[str, Any], str]],
                 ) -> dict[str, float]:
    """Each model's holdout AUC, from an evaluation folder that steps.evaluate completed for that very model."""
    aucs: dict[str, float] = {}
    for name in names:
        candidates = [evaluations / name / EVALUATION_FILE]
        candidates += sorted((evaluations / name).rglob(EVALUATION_FILE)) if (evaluations / name).is_dir() else []
        path = next((p for p in candidates if p.is_file()), candidates[0])
        if not path.is_file():
            raise StepInputError(f"{name} evaluation not found", file=path, fix=REEVALUATE)
        check_manifest(path.parent, what=f"{name} evaluation", fix=REEVALUATE, required=(EVALUATION_FILE,))
        report = read_json(path, name=f"{name} evaluation")
        meta, identity = models[name]
        evaluated = report.get("algorithm") if isinstance(report, dict) else None
        if evaluated != meta.get("algorithm"):
            raise StepInputError(f"is the evaluation of a {evaluated} model, but models/{name}/ holds a "
                                 f"{meta.get('algorithm')} model: the evaluation folders are swapped or mislabelled",
                                 file=path, column="algorithm", fix=REEVALUATE)
        scored = (report.get("model") or {}).get("meta_sha256")
        if scored != identity:
            raise StepInputError(f"evaluates another model (model_meta.json sha256 {str(scored)[:12]}...) than the "
                                 f"one in models/{name}/ ({identity[:12]}...): an evaluation of another training "
                                 "job", file=path, column="model.meta_sha256", fix=REEVALUATE)
        try:
            aucs[name] = float(report["binary_classification_metrics"]["auc"]["value"])
        except (KeyError, TypeError, ValueError):
            raise StepInputError("no binary_classification_metrics.auc.value", file=path,
                                 fix="pass steps.evaluate's output for this model") from None
    return aucs


def build_artifact_folder(folder: Path, base_folders: dict[str, Path], learner: stacking.MetaLearner,
                          meta: dict[str, Any]) -> None:
    """Each base model's listed files (no others, no OOF table) with its model_meta.json re-listing exactly
    those; then the meta-learner; then ensemble_meta.json, last, listing every other file of the artifact."""
    for name, source in base_folders.items():
        target = folder / BASE_FOLDER / name
        model_meta = read_json(source / MODEL_META_FILE, name=f"{name} model metadata")
        shipped = [f for f in model_meta[MANIFEST_FILES] if f not in NOT_SHIPPED]
        for file in shipped:
            (target / file).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source / file, target / file)
        write_model_meta(target, model_meta, shipped)
    write_json(learner.to_json(), folder / META_LEARNER_FILE)
    listed = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    write_json({**meta, MANIFEST_FILES: describe_files(folder, listed)}, folder / ENSEMBLE_META_FILE)


def pack(folder: Path, target: Path) -> None:
    with atomic_path(target) as temporary, tarfile.open(temporary, "w:gz") as tar:
        for path in sorted(folder.rglob("*")):
            tar.add(path, arcname=str(path.relative_to(folder)), recursive=False)


def run_ensemble(models: str | Path, evaluations: str | Path, features: str | Path, output: str | Path,
                 logger: logging.Logger, *, margin: float = 0.0, c: float = 1.0, period: str = "W",
                 smoke_rows: int = 32, bootstrap: int = 200, seed: int = 0,
                 signal: SignalSettings | None = None) -> dict[str, Any]:
    timer = StepTimer(logger)
    signal = signal or SignalSettings()
    out = Path(output)
    with tempfile.TemporaryDirectory() as scratch_dir:
        scratch = Path(scratch_dir)
        with timer.block("read_inputs"):
            base_folders = _base_model_folders(Path(models), scratch / "models")
            names = list(base_folders)
            checked = {n: check_base_model(n, base_folders[n], Path(models) / n) for n in names}
            table = load_feature_table(features)
            best = _best_single(Path(evaluations), names, checked)
            oof_by_model = {n: read_table(base_folders[n] / OOF_FILE, name=f"{n} out-of-fold predictions")
                            for n in names}
        log_input_size(logger, "features", table.frame, table.folder)
        logger.info("base models: %s (holdout AUC from their evaluations: %s)", ", ".join(names),
                    ", ".join(f"{n}={best[n]:.4f}" for n in names))
        holdout_start = table.folds.holdout_start
        with timer.block("fit_meta_learner"):
            oof = stacking.align_oof(oof_by_model, holdout_start, expected=expected_oof_rows(table))
            walk_forward = stacking.walk_forward_meta(oof, names, c=c, seed=seed)
            learner = stacking.fit_meta_learner(oof, names, c=c, seed=seed)
        logger.info("meta-learner on %d out-of-fold rows (all before %s): intercept=%.4f %s", len(oof),
                    holdout_start.isoformat(), learner.intercept,
                    " ".join(f"{n}={w:.4f}" for n, w in zip(names, learner.coefficients, strict=True)))
        features_used: list[str] = []
        for folder in base_folders.values():
            features_used += [f for f in read_json(folder / MODEL_META_FILE)["features"] if f not in features_used]
        meta = {
            "kind": "stacking",
            "base_models": {n: {"folder": f"{BASE_FOLDER}/{n}",
                                "algorithm": read_json(base_folders[n] / MODEL_META_FILE).get("algorithm")}
                            for n in names},
            "meta_learner": META_LEARNER_FILE,
            "features": features_used,
            "threshold": 0.5,
            "trained_on": {"oof_rows": len(oof), "oof_start": oof["ts"].min().isoformat(),
                           "oof_end": oof["ts"].max().isoformat(), "holdout_start": holdout_start.isoformat()},
        }
        artifact = scratch / "artifact"
        with timer.block("build_artifact"):
            build_artifact_folder(artifact, base_folders, learner, meta)
            pack(artifact, scratch / ARCHIVE_NAME)
        frame, labels = holdout_rows(table)
        with timer.block("score_holdout"), load_artifact(scratch / ARCHIVE_NAME) as model:
            # Scored through the packed artifact and the serving code: exactly what steps.check_artifact
            # and the endpoint will compute.
            base = model.base_predictions(frame)
            scores = model.predict(frame)
        with timer.block("metrics"):
            point = point_metrics(labels, scores)
            spread = bootstrap_std(labels, scores, session_dates(frame["ts"]), resamples=bootstrap, seed=seed)
            best_name = max(best, key=lambda n: best[n])
            ensemble = {
                "algorithms": names,
                "best_single_auc": best[best_name],
                "best_single_algorithm": best_name,
                "margin": margin,
                "beats_best_single": stacking.beats_best_single(point["auc"], best[best_name], margin),
                "lead_over_best_single": point["auc"] - best[best_name],
                "base_holdout_auc": best,
                "base_holdout_auc_recomputed": {n: auc_or_none(labels, base[n].to_numpy()) for n in names},
                "pairwise_correlation": stacking.pairwise_correlation(base, names),
                "pairwise_correlation_oof": stacking.pairwise_correlation(oof, names),
                "auc_by_period": stacking.auc_by_period(frame, scores, base, names, period),
                "period": period,
                "meta_learner": {**learner.to_json(), "walk_forward": walk_forward},
            }
        with timer.block("signal_quality"):
            sections = holdout_sections(frame, scores, table.manifest, signal, table.folder / "features.parquet")
            meta_scores = with_forward_returns(walk_forward_scores(oof, names, c=c, seed=seed), table.frame)
            sections["signal_quality"]["by_fold"] = fold_sections(meta_scores, "prediction", signal, table.manifest)
        report = holdout_report("ensemble", frame, labels, point, spread, sections, bootstrap=bootstrap, seed=seed,
                                details={"ensemble": ensemble})
        report["signal_metadata"]["best_single_auc"] = f"{best[best_name]:.4f}"  # quoted by Fail-ensemble
        predictions = pd.DataFrame({"ticker": frame["ticker"], "ts": frame["ts"], "label": labels,
                                    "prediction": scores})
        # A few held-out rows with their expected output: the deploy smoke test sends them to the endpoint.
        smoke = frame.iloc[np.linspace(0, len(frame) - 1, min(smoke_rows, len(frame))).astype(int)]
        smoke = smoke[["ticker", "ts", *features_used]].assign(
            expected_prediction=scores[smoke.index.to_numpy()])
        with timer.block("write"):
            # The old manifest first, so a crash from here on leaves a folder that readers refuse.
            clear_outputs(out, [OUTPUT_MANIFEST, *OUTPUTS])
            out.mkdir(parents=True, exist_ok=True)
            with atomic_path(out / ARCHIVE_NAME) as temporary:
                shutil.copyfile(scratch / ARCHIVE_NAME, temporary)
            write_parquet(predictions, out / "holdout_predictions.parquet")
            write_parquet(smoke.reset_index(drop=True), out / SMOKE_ROWS_FILE)
            write_json(report, out / EVALUATION_FILE)
    write_metrics(out, {"timings_s": timer.as_metrics(), "holdout_rows": len(frame), "oof_rows": len(oof),
                        "base_models": len(names), **point, "best_single_auc": best[best_name],
                        "beats_best_single": ensemble["beats_best_single"]})
    write_manifest(out, OUTPUTS, step="ensemble", base_models={n: checked[n][1] for n in names})  # last
    logger.info("ensemble holdout auc=%.4f (sd %.4f) vs best single %s %.4f (margin %.4f): beats_best_single=%s",
                point["auc"], spread["auc"], best_name, best[best_name], margin, ensemble["beats_best_single"])
    logger.info("ensemble holdout %s", report["signal_metadata"]["summary"])
    for flag in report["backtest"]["plausibility"]["flags"]:
        logger.warning("IMPLAUSIBLE BACKTEST: %s", flag)
    return report
