"""The model behind the endpoint: an ensemble artifact or a single model folder, loaded the same way.

An ensemble artifact (what `steps.ensemble` writes) is a folder, or a `model.tar.gz` of one, holding:

    ensemble_meta.json      kind, base model names and folders, features, threshold
    meta_learner.json       logistic regression on the base models' logits: intercept, coefficients
    base/<name>/            each base model's folder (model_meta.json + the algorithm's files)

A plain model folder (`model_meta.json`, what a training job writes) is served as a one-model "ensemble"
with no meta-learner, so the model registered before the ensemble existed deploys the same way.

`ensemble_meta.json` is written last and lists every other file of the artifact with its size and sha256
(`files`); nothing is loaded from an artifact that differs from that listing (a file missing, changed or
from another build), and each base model folder is checked against its own model_meta.json the same way.

The meta-learner is stored as numbers in JSON and applied with numpy, not pickled: the artifact stays
readable, portable across library versions, and bit-for-bit reproducible in a fresh process
(`steps.check_artifact` depends on that).
"""

from __future__ import annotations

import math
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from steps.common.archives import contained_file, extract_archive
from steps.common.artifact_json import read_artifact_json
from steps.common.errors import StepError, StepInputError
from steps.common.io import MANIFEST_FILES, check_files
from steps.train.algorithms import LoadedModel, load_model_dir

ENSEMBLE_META_FILE = "ensemble_meta.json"
META_LEARNER_FILE = "meta_learner.json"
MODEL_META_FILE = "model_meta.json"
BASE_FOLDER = "base"
ARCHIVE_NAME = "model.tar.gz"
LOGIT_CLIP = 1e-6


def logit(p: np.ndarray) -> np.ndarray:
    clipped = np.clip(np.asarray(p, dtype="float64"), LOGIT_CLIP, 1.0 - LOGIT_CLIP)
    return np.log(clipped / (1.0 - clipped))


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(z, dtype="float64")))


@dataclass
class MetaLearner:
    """P(up) = sigmoid(intercept + sum_i coefficients[i] * logit(p_i)) over the base models in `inputs` order."""

    inputs: list[str]
    coefficients: list[float]
    intercept: float
    settings: dict[str, Any] = field(default_factory=dict)

    def predict(self, base_predictions: pd.DataFrame) -> np.ndarray:
        z = np.full(len(base_predictions), float(self.intercept))
        for name, coefficient in zip(self.inputs, self.coefficients, strict=True):
            z = z + float(coefficient) * logit(base_predictions[name].to_numpy())
        return sigmoid(z)

    def to_json(self) -> dict[str, Any]:
        return {"type": "logistic_regression", "input_transform": "logit", "inputs": self.inputs,
                "coefficients": [float(c) for c in self.coefficients], "intercept": float(self.intercept),
                "settings": self.settings}

    @classmethod
    def from_json(cls, payload: dict[str, Any], source: Path) -> MetaLearner:
        try:
            if payload.get("type") != "logistic_regression" or payload.get("input_transform") != "logit":
                raise ValueError(f"unsupported meta-learner {payload.get('type')!r}")
            learner = cls(list(payload["inputs"]), [float(c) for c in payload["coefficients"]],
                          float(payload["intercept"]), dict(payload.get("settings", {})))
            if len(learner.inputs) != len(learner.coefficients):
                raise ValueError("inputs and coefficients differ in length")
            if not all(math.isfinite(v) for v in (*learner.coefficients, learner.intercept)):
                raise ValueError("a coefficient or the intercept is not a finite number")
            return learner
        except (KeyError, TypeError, ValueError) as exc:
            raise StepInputError(f"malformed meta-learner ({exc})", file=source,
                                 fix="rebuild the artifact with steps.ensemble") from None


class ServingModel:
    """Base models (+ an optional meta-learner): `predict(frame)` -> P(label = 1) per row."""

    def __init__(self, base: dict[str, LoadedModel], meta_learner: MetaLearner | None, *, threshold: float = 0.5,
                 meta: dict[str, Any] | None = None, folder: Path | None = None) -> None:
        if not base:
            raise StepInputError("an artifact needs at least one base model", file=folder,
                                 fix="rebuild the artifact with steps.ensemble")
        if meta_learner is None and len(base) != 1:
            raise StepInputError("several base models but no meta-learner", file=folder,
                                 fix="rebuild the artifact with steps.ensemble")
        if meta_learner is not None and sorted(meta_learner.inputs) != sorted(base):
            raise StepInputError(f"meta-learner inputs {meta_learner.inputs} differ from base models {sorted(base)}",
                                 file=folder, fix="rebuild the artifact with steps.ensemble")
        self.base = base
        self.meta_learner = meta_learner
        self.threshold = float(threshold)
        self.meta = meta or {}
        self.folder = folder
        features: list[str] = []
        for model in base.values():
            features.extend(f for f in model.features if f not in features)
        self.features = features
        # Per-stock / per-sector models route each row by its ticker, so requests must carry it.
        self.keys: tuple[str, ...] = ("ticker",) if any(m.group_models for m in base.values()) else ()

    @property
    def kind(self) -> str:
        return "ensemble" if self.meta_learner is not None else "single"

    def base_predictions(self, frame: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({name: model.predict(frame) for name, model in self.base.items()}, index=frame.index)

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        base = self.base_predictions(frame)
        if self.meta_learner is None:
            return base.iloc[:, 0].to_numpy(dtype="float64")
        return self.meta_learner.predict(base)

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "base_models": {n: m.algorithm for n, m in self.base.items()},
                "features": len(self.features), "threshold": self.threshold}


def _read_json(path: Path, what: str) -> dict[str, Any]:
    return read_artifact_json(path, name=what, fix="rebuild the artifact")


def _threshold(meta: dict[str, Any], source: Path) -> float:
    """The label cut-off: ensemble_meta.json is the listing itself, so no digest covers it; it is checked here."""
    value = meta.get("threshold", 0.5)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 < value < 1.0:
        raise StepInputError(f"threshold {str(value)[:40]!r} is not a number strictly between 0 and 1", file=source,
                             column="threshold", fix="rebuild the artifact with steps.ensemble")
    return float(value)


def _check_contained(root: Path, listing: Any, manifest: Path) -> None:
    """Every listed file a regular file inside the artifact (no symlink, hard link or path leading out)."""
    for name in listing if isinstance(listing, dict) else {}:
        contained_file(root, str(name), manifest, fix="rebuild the artifact with steps.ensemble")


def find_artifact_root(path: Path) -> Path:
    """The folder holding ensemble_meta.json or model_meta.json: `path` or the one folder below it that does."""
    for name in (ENSEMBLE_META_FILE, MODEL_META_FILE):
        if (path / name).is_file():
            return path
    for name in (ENSEMBLE_META_FILE, MODEL_META_FILE):
        found = [p for p in sorted(path.rglob(name)) if BASE_FOLDER not in p.relative_to(path).parts[:-1]]
        if len(found) == 1:
            return found[0].parent
    raise StepInputError(f"neither {ENSEMBLE_META_FILE} nor {MODEL_META_FILE} found", file=path,
                         fix="pass the ensemble output, a model folder, or a folder holding model.tar.gz")


def _load_base(folder: Path, name: str) -> LoadedModel:
    """One base model; whatever its library raises on a damaged file becomes one line naming the folder.

    XGBoost, CatBoost and LightGBM each raise their own error types (with multi-line native backtraces)
    on a truncated or corrupt model file: all of them mean the artifact is bad, not the server.
    """
    try:
        return load_model_dir(folder)
    except StepError:
        raise
    except Exception as exc:
        first_line = (str(exc).strip().splitlines() or [""])[0][:200]
        raise StepInputError(f"cannot load base model '{name}' ({type(exc).__name__}: {first_line})", file=folder,
                             fix="rebuild the artifact (steps.train / steps.ensemble)") from None


def load_folder(folder: Path) -> ServingModel:
    """Load an extracted artifact folder (ensemble or single model)."""
    root = find_artifact_root(folder)
    if (root / ENSEMBLE_META_FILE).is_file():
        _check_contained(root, {ENSEMBLE_META_FILE: None}, root / ENSEMBLE_META_FILE)
        meta = _read_json(root / ENSEMBLE_META_FILE, "ensemble metadata")
        _check_contained(root, meta.get(MANIFEST_FILES), root / ENSEMBLE_META_FILE)
        check_files(root, meta.get(MANIFEST_FILES), root / ENSEMBLE_META_FILE,
                    fix="rebuild the artifact with steps.ensemble (it is complete only as that step packs it)")
        try:
            folders = {str(name): str(entry["folder"]) for name, entry in dict(meta["base_models"]).items()}
            listed = [f"{folder_name}/{MODEL_META_FILE}" for folder_name in folders.values()]
            listed += [META_LEARNER_FILE] if meta.get("meta_learner") else []
        except (KeyError, TypeError, ValueError) as exc:
            raise StepInputError(f"malformed ensemble metadata ({type(exc).__name__}: {exc})",
                                 file=root / ENSEMBLE_META_FILE,
                                 fix="rebuild the artifact with steps.ensemble") from None
        threshold = _threshold(meta, root / ENSEMBLE_META_FILE)
        for name in listed:  # every base model is one the artifact lists (check_files keeps those inside it)
            if name not in meta[MANIFEST_FILES]:
                raise StepInputError(f"lists no {name}", file=root / ENSEMBLE_META_FILE,
                                     fix="rebuild the artifact with steps.ensemble")
        base = {name: _load_base(root / folder_name, name) for name, folder_name in folders.items()}
        learner = None
        if meta.get("meta_learner"):
            learner = MetaLearner.from_json(_read_json(root / META_LEARNER_FILE, "meta-learner"),
                                            root / META_LEARNER_FILE)
        return ServingModel(base, learner, threshold=threshold, meta=meta, folder=root)
    model = _load_base(root, root.name)
    return ServingModel({model.algorithm: model}, None, meta={"kind": "single"}, folder=root)


class LoadedArtifact:
    """A model loaded from a folder or a model.tar.gz; an archive is extracted into a folder it owns."""

    def __init__(self, path: str | Path) -> None:
        source = Path(path)
        self._scratch: Path | None = None
        archive = source / ARCHIVE_NAME if source.is_dir() else source
        if archive.is_file() and archive.name.endswith((".tar.gz", ".tgz")) and not (
            source.is_dir() and ((source / ENSEMBLE_META_FILE).is_file() or (source / MODEL_META_FILE).is_file())
        ):
            self._scratch = Path(tempfile.mkdtemp(prefix="conviction-model-"))
            try:
                folder = extract_archive(archive, self._scratch / "model")
            except BaseException:  # a refused archive leaves nothing behind
                self.close()
                raise
        elif source.is_dir():
            folder = source
        else:
            raise StepInputError("model not found", file=source, fix="pass a model folder or model.tar.gz")
        try:
            self.model = load_folder(folder)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None

    def __enter__(self) -> ServingModel:
        return self.model

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def load_artifact(path: str | Path) -> LoadedArtifact:
    """`with load_artifact(path) as model: model.predict(frame)`; path: folder, model.tar.gz or its folder."""
    return LoadedArtifact(path)
