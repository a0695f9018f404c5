"""The skeleton of evaluation.json: the sections every report on a holdout shares, in one order.

Why a module of its own: steps.evaluate (one model) and steps.ensemble (the stack) write the same report
shape, which the gates, the registry's model-quality metrics and the run report read alike. Each step adds
its own sections (a model's breakdowns, the ensemble's comparison with the best single model) in the middle;
the headline metrics, the holdout's extent, the bootstrap and the signal sections are spelled here once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from steps.common.folds import session_dates

HEADLINE_METRICS = ("auc", "accuracy", "log_loss", "brier")


def holdout_report(algorithm: str | None, frame: pd.DataFrame, labels: np.ndarray, point: Mapping[str, float],
                   spread: Mapping[str, float], sections: Mapping[str, Any], *, bootstrap: int, seed: int,
                   details: Mapping[str, Any]) -> dict[str, Any]:
    """evaluation.json for the holdout rows `frame` (with their `labels`): the point metrics with their
    day-block bootstrap spread, the signal sections (steps.evaluate.signal.holdout_sections), and the step's
    own `details` between the bootstrap and the signal quality (the order readers of the file see)."""
    return {
        "binary_classification_metrics": {
            metric: {"value": point[metric], "standard_deviation": spread[metric]} for metric in HEADLINE_METRICS
        } | sections["metrics"],
        "algorithm": algorithm,
        "holdout": {"rows": len(frame), "start": frame["ts"].min().isoformat(),
                    "end": frame["ts"].max().isoformat(), "positive_rate": float(labels.mean()),
                    "days": len(np.unique(session_dates(frame["ts"])))},
        "bootstrap": {"resamples": bootstrap, "unit": "trading day", "seed": seed},
        **details,
        "signal_quality": sections["signal_quality"],
        "backtest": sections["backtest"],
        # the AUC as text at 4 decimals too: what the pipeline's Fail messages quote (a definition cannot round)
        "signal_metadata": {**sections["signal_metadata"], "auc": metadata_text(point["auc"])},
    }


UNDEFINED = "undefined"  # the metadata string of a figure that cannot be computed: JSON null has no place there


def metadata_text(value: float | None, digits: int = 4) -> str:
    """A figure as the registry metadata and the Fail messages quote it (a metadata value is a string)."""
    return UNDEFINED if value is None or not np.isfinite(value) else f"{value:.{digits}f}"
