"""`load_model_dir(dir)`: any family's model folder (or its model.tar.gz) -> an object with predict(frame).

The folder holds `model_meta.json` and the family's files; a grouped model (per stock or per sector) also
holds one sub-folder per group under `groups/`, and `predict` routes each row by its ticker to its group's
model, or to the global model for a ticker whose group had too few rows (or is unknown).
"""

from __future__ import annotations

import tarfile
import tempfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from steps.common.errors import StepInputError
from steps.common.io import read_json

META_FILE = "model_meta.json"


def find_model_folder(path: str | Path, scratch: str | Path) -> Path:
    """The folder with model_meta.json: `path`, or `path/model.tar.gz` (or `path` the archive) extracted."""
    path = Path(path)
    archive = path / "model.tar.gz" if path.is_dir() else path
    if archive.is_file() and archive.name.endswith((".tar.gz", ".tgz")):
        try:
            with tarfile.open(archive) as tar:
                tar.extractall(scratch, filter="data")
        except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:  # truncated gzip: EOFError
            raise StepInputError(f"cannot extract ({exc})", file=archive, fix="pass the training job's output") from exc
        path = Path(scratch)
    if (path / META_FILE).is_file():
        return path
    found = sorted(path.rglob(META_FILE)) if path.is_dir() else []
    if len(found) == 1:
        return found[0].parent
    raise StepInputError(f"{META_FILE} not found" if not found else f"{len(found)} copies of {META_FILE}",
                         file=path, fix="pass the model folder or model.tar.gz")


class LoadedModel:
    """A trained model with its metadata; `predict(frame)` selects `meta["features"]` by name."""

    def __init__(self, meta: dict[str, Any], algorithm_cls, global_model, group_models: dict[str, Any]):
        self.meta = meta
        self.algorithm = meta["algorithm"]
        self.features: list[str] = list(meta["features"])
        self.algorithm_cls = algorithm_cls
        self.global_model = global_model
        self.group_models = group_models
        grouping = meta.get("grouping") or {}
        self.grouping_mode: str = grouping.get("mode", "global")
        self.ticker_group: dict[str, str] = grouping.get("ticker_group", {})

    def groups_of(self, frame: pd.DataFrame) -> np.ndarray:
        """The model that scores each row: a group name, or "global"."""
        if not self.group_models:
            return np.full(len(frame), "global", dtype=object)
        groups = frame["ticker"].astype(str).map(self.ticker_group)
        return np.where(groups.isin(list(self.group_models)), groups, "global").astype(object)

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        missing = [c for c in self.features if c not in frame.columns]
        if missing:
            raise StepInputError("the model's feature is missing from the frame", column=missing[0],
                                 fix="score a frame with every column in model_meta.json 'features'")
        if self.group_models and "ticker" not in frame.columns:
            raise StepInputError("a grouped model routes rows by ticker", column="ticker",
                                 fix="include the ticker column")
        x = self.algorithm_cls.design_matrix(frame.reset_index(drop=True), self.features,
                                             self.global_model.params)
        scores = np.empty(len(frame), dtype="float64")
        groups = self.groups_of(frame)
        for group in np.unique(groups) if len(frame) else []:
            rows = groups == group
            model = self.global_model if group == "global" else self.group_models[group]
            scores[rows] = model.predict(x[rows])
        return scores


def load_model_dir(path: str | Path) -> LoadedModel:
    """Load a model folder or model.tar.gz written by steps.train, whatever its algorithm and grouping."""
    from steps.train.algorithms import get_algorithm

    with tempfile.TemporaryDirectory() as scratch:
        folder = find_model_folder(path, scratch)
        meta = read_json(folder / META_FILE, name="model metadata")
        if "algorithm" not in meta or "features" not in meta:
            raise StepInputError("needs 'algorithm' and 'features'", file=folder / META_FILE, column="algorithm",
                                 fix="pass a model folder written by steps.train")
        algorithm_cls = get_algorithm(str(meta["algorithm"]))
        global_model = algorithm_cls.load(folder, meta)
        group_models = {}
        for name, group in ((meta.get("grouping") or {}).get("groups") or {}).items():
            group_meta = {**meta, "refit_iterations": group["refit_iterations"]}
            group_models[name] = algorithm_cls.load(folder / group["folder"], group_meta)
    return LoadedModel(meta, algorithm_cls, global_model, group_models)
