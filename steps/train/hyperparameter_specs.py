"""Every model family's hyperparameters (name, type, default, bounds, meaning), declared without any model
library: `python -m steps.train --help` lists them all without importing xgboost, catboost, lightgbm or torch,
and each family's class takes its tuple from here (`hyperparameters = DECLARED[name]`).

A new family adds its tuple here beside its `AlgorithmEntry` (steps/train/settings.py)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class HyperParameter:
    name: str
    kind: type
    default: Any
    help: str = ""
    minimum: float | None = None
    """The least value that makes sense (a size or a count), checked when the job reads its parameters: a GRU
    window of 0 rows or a batch of 0 would otherwise fail deep in training with a traceback, and some values
    a library takes without complaint (catboost's depth 0, a negative learning rate) train nonsense."""
    maximum: float | None = None
    above: float | None = None
    """An exclusive lower bound: a rate or a fraction must be above 0."""
    library: str | None = ""
    """The name the model library takes it under (`Algorithm.library_params`): "" its own name, another name where
    the library's differs (catboost's `random_seed`), None where the library is not handed it as it is (what the
    family's loop reads itself, such as round counts and patience, or turns into something else, such as threads)."""

    def bounds(self) -> str:
        """The allowed values in interval notation, e.g. (0, 1] or [1, inf)."""
        if self.above is not None:
            low = f"({self.above:g}"
        elif self.minimum is not None:
            low = f"[{self.minimum:g}"
        else:
            low = "(-inf"
        return f"{low}, {'inf)' if self.maximum is None else f'{self.maximum:g}]'}"

    def allowed(self) -> str:
        """The bounds in words: "at least 1" for a size or a count, else "in (0, 1]"."""
        if self.minimum is not None and self.maximum is None and self.above is None:
            return f"at least {self.minimum:g}"
        return f"in {self.bounds()}"

    def problem(self, value: Any) -> str | None:
        """Why `value` is refused, or None. Only numbers are bounded; NaN and infinities never pass."""
        if self.kind not in (int, float) or isinstance(value, bool):
            return None
        if not math.isfinite(value):
            return f"{self.name} must be a finite number, got {value!r}"
        if ((self.minimum is not None and value < self.minimum) or (self.above is not None and value <= self.above)
                or (self.maximum is not None and value > self.maximum)):
            return f"{self.name} must be {self.allowed()}, got {value!r}"
        return None


DECLARED: dict[str, tuple[HyperParameter, ...]] = {
    "xgboost": (
        HyperParameter("max_depth", int, 4, minimum=0),
        HyperParameter("min_child_weight", float, 10.0, minimum=0),
        HyperParameter("subsample", float, 0.8, above=0, maximum=1),
        HyperParameter("colsample_bytree", float, 0.8, above=0, maximum=1),
        HyperParameter("eta", float, 0.1, above=0),
        HyperParameter("gamma", float, 0.0, minimum=0),
        HyperParameter("lambda", float, 1.0, minimum=0),
        HyperParameter("alpha", float, 0.0, minimum=0),
        HyperParameter("num_round", int, 1000, minimum=1, library=None),
        HyperParameter("early_stopping_rounds", int, 50, minimum=1, library=None),
        HyperParameter("eval_metric", str, "auc"),
        HyperParameter("max_bin", int, 256, minimum=2),
        HyperParameter("scale_pos_weight", float, 1.0, above=0),
        HyperParameter("seed", int, 0),
        HyperParameter("nthread", int, 0, "0 = all cores", minimum=0, library=None),
    ),
    "catboost": (
        HyperParameter("iterations", int, 1000, minimum=1, library=None),
        HyperParameter("learning_rate", float, 0.05, above=0),
        HyperParameter("depth", int, 6, minimum=1, maximum=16),
        HyperParameter("l2_leaf_reg", float, 3.0, minimum=0),
        HyperParameter("random_strength", float, 1.0, minimum=0),
        HyperParameter("bagging_temperature", float, 1.0, minimum=0),
        HyperParameter("border_count", int, 128, minimum=1, maximum=65535),
        # Not handed to the classifier: it grows symmetric trees (catboost's default), which have no such setting.
        HyperParameter("min_data_in_leaf", int, 20, "used by Depthwise/Lossguide growing only", minimum=1,
                       library=None),
        HyperParameter("early_stopping_rounds", int, 50, "patience: rounds without a better validation AUC", minimum=1,
                       library=None),
        HyperParameter("eval_metric", str, "AUC"),
        HyperParameter("seed", int, 0, library="random_seed"),
        HyperParameter("nthread", int, 0, "0 = the job's cores", minimum=0, library=None),
    ),
    "lightgbm": (
        HyperParameter("num_round", int, 1000, minimum=1, library=None),
        HyperParameter("learning_rate", float, 0.05, above=0),
        HyperParameter("num_leaves", int, 31, minimum=2),
        HyperParameter("max_depth", int, -1, "-1 = no limit", minimum=-1),
        HyperParameter("min_data_in_leaf", int, 50, minimum=0),
        HyperParameter("feature_fraction", float, 0.8, above=0, maximum=1),
        HyperParameter("bagging_fraction", float, 0.8, above=0, maximum=1),
        HyperParameter("bagging_freq", int, 1, minimum=0),
        HyperParameter("lambda_l1", float, 0.0, minimum=0),
        HyperParameter("lambda_l2", float, 1.0, minimum=0),
        HyperParameter("min_gain_to_split", float, 0.0, minimum=0),
        HyperParameter("max_bin", int, 255, minimum=2),
        HyperParameter("early_stopping_rounds", int, 50, "patience: rounds without a better validation AUC", minimum=1,
                       library=None),
        HyperParameter("seed", int, 0),
        HyperParameter("nthread", int, 0, "0 = the job's cores", minimum=0, library=None),
    ),
    "gru": (
        HyperParameter("sequence_length", int, 8, "K: rows of the same ticker in each input sequence", minimum=1),
        HyperParameter("hidden_size", int, 32, minimum=1),
        HyperParameter("num_layers", int, 1, minimum=1),
        HyperParameter("dropout", float, 0.1, minimum=0, maximum=1),
        HyperParameter("learning_rate", float, 0.002, above=0),
        HyperParameter("weight_decay", float, 1e-5, minimum=0),
        HyperParameter("batch_size", int, 512, minimum=1),
        HyperParameter("max_epochs", int, 30, minimum=1),
        HyperParameter("patience", int, 4, "epochs without a better validation AUC before stopping", minimum=1),
        HyperParameter("seed", int, 0),
        HyperParameter("device", str, "auto", "auto | cpu | cuda"),
        HyperParameter("nthread", int, 0, "0 = the job's cores", minimum=0),
    ),
}
