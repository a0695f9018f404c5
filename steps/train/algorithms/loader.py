"""`load_model_dir(dir)`: any family's model folder (or its model.tar.gz) -> an object with predict(frame).

The folder holds `model_meta.json` and the family's files; a grouped model (per stock or per sector) also
holds one sub-folder per group under `groups/`, and `predict` routes each row by its ticker to its group's
model, or to the global model for a ticker whose group had too few rows (or is unknown).

`model_meta.json` is written last (`write_model_meta`) and lists every other file of the folder with its
size and sha256 (`files`); the loader reads nothing before the folder matches that listing, so a folder a
crash left half-written, or one whose model file was swapped, is refused with one line. The model file's own
record of the features it was trained on (booster feature names, gru.json) must equal `features`, in order:
a `features` list reordered after training would feed every column to the wrong input.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from steps.common.archives import contained_file, extract_archive
from steps.common.errors import StepInputError
from steps.common.io import MANIFEST_FILES, check_files, describe_files, file_digest, read_json, write_json

META_FILE = "model_meta.json"
RETRAIN = "retrain the model with steps.train (its model folder is complete only as that step writes it)"


def write_model_meta(folder: str | Path, meta: dict[str, Any], files: list[str]) -> Path:
    """Write `model_meta.json` LAST, listing `files` (already written in `folder`) with sizes and sha256."""
    listing = describe_files(folder, files)
    return write_json({**{k: v for k, v in meta.items() if k != MANIFEST_FILES}, MANIFEST_FILES: listing},
                      Path(folder) / META_FILE)


def check_model_folder(folder: Path, meta: dict[str, Any], required: tuple[str, ...]) -> None:
    """Refuse a model folder whose files are not exactly what model_meta.json lists (or lists none)."""
    path = folder / META_FILE
    listing = meta.get(MANIFEST_FILES)
    if isinstance(listing, list):  # before sizes and digests: nothing to check the files against
        raise StepInputError("lists file names without sizes and sha256 (written by an older steps.train, or by "
                             "hand)", file=path, column=MANIFEST_FILES, fix=RETRAIN)
    for name in listing if isinstance(listing, dict) else {}:
        contained_file(folder, str(name), path, fix=RETRAIN)
    check_files(folder, listing, path, fix=RETRAIN)
    for name in required:
        if name not in listing:
            raise StepInputError(f"lists no {name}, the {meta.get('algorithm')} model's file", file=path,
                                 column=MANIFEST_FILES, fix=RETRAIN)


def check_feature_order(meta_features: list[str], trained: list[str] | None, source: Path, model_file: str) -> None:
    """The model file's features (as trained) must be model_meta.json's `features`, name for name, in order."""
    if trained is None or list(trained) == list(meta_features):
        return
    if sorted(trained) == sorted(meta_features):
        position = next(i for i, (a, b) in enumerate(zip(trained, meta_features, strict=True)) if a != b)
        problem = (f"lists the features in another order than {model_file} was trained on (position {position}: "
                   f"{meta_features[position]!r}, the model's input there is {trained[position]!r}); scoring by "
                   "this list would feed columns to the wrong inputs")
        column = meta_features[position]
    else:
        extra = [f for f in meta_features if f not in trained]
        absent = [f for f in trained if f not in meta_features]
        problem = (f"lists {len(meta_features)} features, {model_file} was trained on {len(trained)} "
                   f"({len(extra)} listed but not trained on, {len(absent)} trained on but not listed)")
        column = (extra or absent)[0]
    raise StepInputError(problem, file=source / META_FILE, column=column,
                         fix="restore model_meta.json as steps.train wrote it, or retrain")


def find_model_folder(path: str | Path, scratch: str | Path) -> Path:
    """The folder with model_meta.json: `path`, or `path/model.tar.gz` (or `path` the archive) extracted."""
    path = Path(path)
    archive = path / "model.tar.gz" if path.is_dir() else path
    if archive.is_file() and archive.name.endswith((".tar.gz", ".tgz")):
        path = extract_archive(archive, Path(scratch) / "model", fix="pass the training job's output")
    if (path / META_FILE).is_file():
        return path
    found = sorted(path.rglob(META_FILE)) if path.is_dir() else []
    if len(found) == 1:
        return found[0].parent
    raise StepInputError(f"{META_FILE} not found" if not found else f"{len(found)} copies of {META_FILE}",
                         file=path, fix="pass the model folder or model.tar.gz")


class LoadedModel:
    """A trained model with its metadata; `predict(frame)` selects `meta["features"]` by name."""

    def __init__(self, meta: dict[str, Any], algorithm_cls, global_model, group_models: dict[str, Any],
                 meta_sha256: str | None = None):
        self.meta = meta
        self.meta_sha256 = meta_sha256  # the identity of this model (its meta lists every file's sha256)
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


def _groups(meta: dict[str, Any], source: Path) -> dict[str, dict[str, Any]]:
    """`grouping`: mode, ticker_group (ticker -> group) and groups (group -> folder, refit_iterations), each
    checked for its type: model_meta.json lists the digests but is covered by none itself."""
    grouping = meta.get("grouping")
    if grouping is None:
        return {}
    if not isinstance(grouping, dict):
        raise StepInputError("'grouping' is not an object", file=source, column="grouping", fix=RETRAIN)
    groups = grouping.get("groups") or {}
    ticker_group = grouping.get("ticker_group", {})
    if not isinstance(groups, dict) or not isinstance(ticker_group, dict):
        raise StepInputError("'grouping.groups' and 'grouping.ticker_group' must be objects", file=source,
                             column="grouping", fix=RETRAIN)
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in ticker_group.items()):
        raise StepInputError("'grouping.ticker_group' must map tickers to group names", file=source,
                             column="grouping.ticker_group", fix=RETRAIN)
    for name, group in groups.items():
        where = f"grouping.groups.{name}"
        if not isinstance(group, dict):
            raise StepInputError("is not an object", file=source, column=where, fix=RETRAIN)
        for key in ("folder", "refit_iterations"):
            if key not in group:
                raise StepInputError(f"has no '{key}' (each group needs 'folder' and 'refit_iterations')",
                                     file=source, column=where, fix=RETRAIN)
        if not isinstance(group["folder"], str) or not group["folder"]:
            raise StepInputError("'folder' is not a folder name", file=source, column=where, fix=RETRAIN)
        iterations = group["refit_iterations"]
        if iterations is not None and (isinstance(iterations, bool) or not isinstance(iterations, int)
                                       or iterations < 1):
            raise StepInputError(f"'refit_iterations' {str(iterations)[:40]!r} is not a positive whole number",
                                 file=source, column=where, fix=RETRAIN)
    return groups


def load_model_dir(path: str | Path) -> LoadedModel:
    """Load a model folder or model.tar.gz written by steps.train, whatever its algorithm and grouping."""
    from steps.train.algorithms import get_algorithm

    with tempfile.TemporaryDirectory() as scratch:
        folder = find_model_folder(path, scratch)
        contained_file(folder, META_FILE, folder / META_FILE, fix=RETRAIN)
        meta = read_json(folder / META_FILE, name="model metadata")
        if "algorithm" not in meta or "features" not in meta:
            raise StepInputError("needs 'algorithm' and 'features'", file=folder / META_FILE, column="algorithm",
                                 fix="pass a model folder written by steps.train")
        algorithm_cls = get_algorithm(str(meta["algorithm"]))
        groups = _groups(meta, folder / META_FILE)
        group_files = [f"{group['folder']}/{name}" for group in groups.values() for name in algorithm_cls.files]
        check_model_folder(folder, meta, (*algorithm_cls.files, *group_files))
        features = meta["features"]
        if not isinstance(features, list) or not features or not all(isinstance(f, str) for f in features):
            raise StepInputError("needs a list of feature names", file=folder / META_FILE, column="features",
                                 fix=RETRAIN)
        global_model = algorithm_cls.load(folder, meta)
        check_feature_order(features, global_model.trained_features(), folder, algorithm_cls.files[0])
        group_models = {}
        for name, group in groups.items():
            group_meta = {**meta, "refit_iterations": group["refit_iterations"]}
            group_models[name] = algorithm_cls.load(folder / group["folder"], group_meta)
            check_feature_order(features, group_models[name].trained_features(), folder,
                                f"{group['folder']}/{algorithm_cls.files[0]}")
        digest = file_digest(folder / META_FILE)["sha256"]
    return LoadedModel(meta, algorithm_cls, global_model, group_models, digest)
