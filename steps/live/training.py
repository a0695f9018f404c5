"""What the live path takes from the training features folder: settings, sectors and the model's columns.

Why from the table's manifest and not from flags: a live row built with another ingest lag, window set or
sector map than the training rows is exactly the skew this path exists to rule out. The manifest is what
BuildFeatures wrote (steps/features/run.py), so the engine gets the settings the table was built with,
`absent_inputs` included. The columns a model may take are the feature catalogue's
(steps/features/catalogue.py, a declaration): reading a manifest pulls in no build code. (This module was
steps/live/settings.py; it reads a file and declares no settings, so it is not named like a settings module.)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from steps.common.errors import StepInputError
from steps.common.io import read_json
from steps.features.catalogue import feature_columns
from steps.features.settings import OPTIONAL_BAR_INPUTS, FeatureSettings

MANIFEST = "manifest.json"


@dataclass(frozen=True)
class TrainingFeatures:
    settings: FeatureSettings
    sectors: dict[str, str] | None
    columns: list[str]
    source: Path

    def required_bar_inputs(self) -> tuple[str, ...]:
        """The optional bar inputs the training bars had: live bars must carry each."""
        return tuple(name for name in OPTIONAL_BAR_INPUTS if name not in self.settings.absent_inputs)

    def check_bars(self, columns: Iterable[str], where: str | Path) -> None:
        """Live bars must carry every input the training bars had: a stand-in would silently change features."""
        present = set(columns)
        for name in OPTIONAL_BAR_INPUTS:
            if name not in self.settings.absent_inputs and name not in present:
                raise StepInputError("missing column that the training bars had", file=where, column=name,
                                     fix=f"send '{name}' with every bar (the model was trained on features from it)")


def load_training_manifest(folder: Path, model_columns: str | None = None) -> TrainingFeatures:
    path = folder if folder.is_file() else folder / MANIFEST  # a missing folder is named with what it lacks
    manifest = read_json(path, name="features manifest")
    if "settings" not in manifest:
        raise StepInputError("no feature settings", file=path, column="settings",
                             fix="pass the features folder BuildFeatures wrote (its manifest.json)")
    settings = FeatureSettings.from_json(manifest["settings"])
    known = feature_columns(settings)
    columns = [c.strip() for c in model_columns.split(",") if c.strip()] if model_columns else list(
        manifest.get("feature_columns") or known)
    repeated = sorted({c for c in columns if columns.count(c) > 1})
    if repeated:
        raise StepInputError("named twice in --model-columns", file=path, column=repeated[0],
                             fix="name each column the model takes once")
    unknown = [c for c in columns if c not in known]
    if unknown:
        raise StepInputError(f"not a feature these settings compute (of {len(known)})", file=path, column=unknown[0],
                             fix="pass --model-columns with the table's feature names")
    sectors = manifest.get("sectors")
    return TrainingFeatures(settings, dict(sectors) if sectors else None, columns, path)
