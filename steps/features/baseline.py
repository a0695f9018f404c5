"""A data-quality baseline of the training features in SageMaker Model Monitor's format.

`statistics.json` and `constraints.json` as Model Monitor's baseline job (`suggest_baseline`) writes them,
so that Studio shows the registered package's data quality and a data-quality monitoring schedule can
use them as its baseline. Formats, as documented:

- statistics.json: https://docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-byoc-statistics.html
  (`version`, `dataset.item_count`, `features[]` with `name`, `inferred_type`, `numerical_statistics`
  {`common` {`num_present`, `num_missing`}, `mean`, `sum`, `std_dev`, `min`, `max`, `distribution.kll`
  {`buckets` [{`lower_bound`, `upper_bound`, `count`}], `sketch` {`parameters` {`c`, `k`}, `data`}}}).
  "By default, the distribution is materialized in 10 buckets."
- constraints.json: https://docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-byoc-constraints.html
  (`version`, `features[]` {`name`, `inferred_type`, `completeness`, `num_constraints.is_non_negative`},
  `monitoring_config` {`evaluate_constraints`, `emit_metrics`, `datatype_check_threshold`,
  `domain_content_threshold`, `distribution_constraints` {`perform_comparison`, `comparison_threshold`,
  `comparison_method`}}).

How each figure is computed (Model Monitor's container is Deequ on Spark; the Deequ meaning is kept):

- rows: the *training rows* only, the rows every final model is refit on (`development_mask` and not the
  holdout: before the holdout, label window plus embargo ending before it). Never a holdout row.
- `num_missing`: NaN (and ±inf, which JSON cannot carry) values; `num_present` the others.
- `mean`, `sum`, `min`, `max` over the present values; `std_dev` the population standard deviation
  (ddof 0, Deequ's StandardDeviation).
- `buckets`: 10 equal-width buckets from min to max (Deequ's KLLSketch bounds: `min + (max - min) * i /
  10`), each `[lower, upper)` except the last, `[lower, upper]`. The counts are exact (Deequ estimates them
  from the sketch: the same where the sketch holds every value, within the sketch's error otherwise).
- `sketch`: Deequ's KLL sketch of the present values in row order (steps/features/kll.py), k 2048, c 0.64.
- `inferred_type`: Integral for integer or boolean columns, Fractional for float ones, Unknown for a
  column with no present value (Deequ's DataType answers Unknown when it sees only nulls).
- constraints: `completeness` = num_present / rows; `is_non_negative` = min >= 0 (Deequ's suggestions);
  `monitoring_config` as the documented example, with the Robust comparison (a two-sample
  Kolmogorov-Smirnov correction for small samples) at threshold 0.1.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from steps.common.feature_table import FeatureTable
from steps.common.folds import Folds, development_mask, holdout_mask
from steps.common.io import OUTPUT_MANIFEST, clear_outputs, write_manifest, write_text
from steps.features.kll import KLLSketch

STATISTICS_FILE = "statistics.json"
CONSTRAINTS_FILE = "constraints.json"
BUCKETS = 10
VERSION = 0.0
MONITORING_CONFIG = {
    "evaluate_constraints": "Enabled",
    "emit_metrics": "Enabled",
    "datatype_check_threshold": 1.0,
    "domain_content_threshold": 1.0,
    "distribution_constraints": {
        "perform_comparison": "Enabled",
        "comparison_threshold": 0.1,
        "comparison_method": "Robust",
    },
}


def training_rows(frame: pd.DataFrame, folds: Folds) -> np.ndarray:
    """The rows a final model is refit on (steps.train): development rows, never the holdout."""
    return development_mask(frame, folds) & ~holdout_mask(frame, folds)


def inferred_type(series: pd.Series, present: int) -> str:
    if present == 0:
        return "Unknown"
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_integer_dtype(dtype):
        return "Integral"
    return "Fractional"


def equal_width_buckets(values: np.ndarray, low: float, high: float, buckets: int = BUCKETS) -> list[dict[str, Any]]:
    """Deequ's KLLSketch buckets with exact counts: [lower, upper) each, the last one [lower, upper]."""
    result = []
    for i in range(buckets):
        lower = low + (high - low) * i / float(buckets)
        upper = low + (high - low) * (i + 1) / float(buckets)
        if i == buckets - 1:
            count = int(np.count_nonzero((values >= lower) & (values <= upper)))
        else:
            count = int(np.count_nonzero((values >= lower) & (values < upper)))
        result.append({"lower_bound": float(lower), "upper_bound": float(upper), "count": count})
    return result


def feature_statistics(name: str, series: pd.Series) -> dict[str, Any]:
    """One `features[]` entry of statistics.json for a numeric column (already restricted to the rows)."""
    raw = series.to_numpy(dtype="float64", na_value=np.nan)
    values = raw[np.isfinite(raw)]
    present = len(values)
    common = {"num_present": present, "num_missing": len(raw) - present}
    kind = inferred_type(series, present)
    if present == 0:
        return {"name": name, "inferred_type": kind, "numerical_statistics": {"common": common}}
    low, high = float(values.min()), float(values.max())
    sketch = KLLSketch().update(values)
    return {
        "name": name,
        "inferred_type": kind,
        "numerical_statistics": {
            "common": common,
            "mean": float(values.mean()),
            "sum": float(values.sum()),
            "std_dev": float(values.std(ddof=0)),
            "min": low,
            "max": high,
            "distribution": {"kll": {"buckets": equal_width_buckets(values, low, high),
                                     "sketch": {"parameters": sketch.parameters(), "data": sketch.data()}}},
        },
    }


def feature_constraints(statistics: dict[str, Any], rows: int) -> dict[str, Any]:
    numbers = statistics["numerical_statistics"]
    present = numbers["common"]["num_present"]
    entry: dict[str, Any] = {"name": statistics["name"], "inferred_type": statistics["inferred_type"],
                             "completeness": present / rows if rows else 0.0}
    if present:
        entry["num_constraints"] = {"is_non_negative": bool(numbers["min"] >= 0)}
    return entry


def data_quality_baseline(frame: pd.DataFrame, columns: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(statistics, constraints) of `columns` over every row of `frame` (pass the training rows only)."""
    features = [feature_statistics(c, frame[c]) for c in columns]
    statistics = {"version": VERSION, "dataset": {"item_count": len(frame)}, "features": features}
    constraints = {"version": VERSION, "features": [feature_constraints(f, len(frame)) for f in features],
                   "monitoring_config": json.loads(json.dumps(MONITORING_CONFIG))}
    return statistics, constraints


def write_baseline(table: FeatureTable, columns: list[str], folder: str | Path) -> dict[str, Any]:
    """statistics.json and constraints.json of the training rows of `table` over `columns`, into `folder`.

    Compact JSON (the sketches hold a few thousand numbers per feature); strict JSON: no NaN or inf is
    written (a ValueError here is a bug in this module, not bad input). Returns a summary for metrics.json.
    """
    rows = training_rows(table.frame, table.folds)
    statistics, constraints = data_quality_baseline(table.frame.loc[rows, columns], columns)
    out = Path(folder)
    clear_outputs(out, [OUTPUT_MANIFEST, CONSTRAINTS_FILE, STATISTICS_FILE])
    for payload, name in ((constraints, CONSTRAINTS_FILE), (statistics, STATISTICS_FILE)):
        write_text(json.dumps(payload, allow_nan=False, separators=(",", ":")) + "\n", out / name)
    write_manifest(out, [STATISTICS_FILE, CONSTRAINTS_FILE], step="baseline")  # last: the pair is complete
    return {"rows": int(rows.sum()), "features": len(columns),
            "files": [STATISTICS_FILE, CONSTRAINTS_FILE]}
