"""steps.features.baseline: Model Monitor's statistics.json / constraints.json of the training rows.

The formats are checked against the published schemas, written out below as the expected keys and types:
- statistics.json: "Schema for Statistics (statistics.json file)",
  https://docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-byoc-statistics.html
  (awsdocs/amazon-sagemaker-developer-guide, doc_source/model-monitor-byoc-statistics.md);
- constraints.json: "Schema for Constraints (constraints.json file)",
  https://docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-byoc-constraints.html
  (the older page spells `comparion_method`; the current one, and the SDK's examples, `comparison_method`);
- a real file of each as the SDK's tests carry them: aws/sagemaker-python-sdk, tests/data/monitor/
  statistics.json and constraints.json (`"version": 0.0`).
The KLL sketch layout and bucket bounds are Deequ's (awslabs/deequ, analyzers/KLLSketch.scala,
QuantileNonSample.scala, NonSampleCompactor.scala), on which Model Monitor's container is built.
The numbers are checked against values worked out by hand for a small frame.
"""

from __future__ import annotations

import json
import math
from itertools import pairwise

import numpy as np
import pandas as pd
import pytest

from steps.common.feature_table import FeatureTable
from steps.common.folds import Fold, Folds
from steps.features.baseline import MONITORING_CONFIG, data_quality_baseline, training_rows, write_baseline
from steps.features.kll import KLLSketch, sketch_weight

NUMBER = "number"  # int or float, never bool
TYPES = {"Integral", "Fractional", "String", "Unknown"}

# The documented statistics.json example, as keys and types (numerical feature).
STATISTICS_SCHEMA = {
    "version": NUMBER,
    "dataset": {"item_count": NUMBER},
    "features": [{
        "name": str,
        "inferred_type": TYPES,
        "numerical_statistics": {
            "common": {"num_present": NUMBER, "num_missing": NUMBER},
            "mean": NUMBER, "sum": NUMBER, "std_dev": NUMBER, "min": NUMBER, "max": NUMBER,
            "distribution": {"kll": {
                "buckets": [{"lower_bound": NUMBER, "upper_bound": NUMBER, "count": NUMBER}],
                "sketch": {"parameters": {"c": NUMBER, "k": NUMBER}, "data": [[NUMBER]]},
            }},
        },
    }],
}
# The documented constraints.json example, as keys and types (numerical feature).
CONSTRAINTS_SCHEMA = {
    "version": NUMBER,
    "features": [{"name": str, "inferred_type": TYPES, "completeness": NUMBER,
                  "num_constraints": {"is_non_negative": bool}}],
    "monitoring_config": {
        "evaluate_constraints": {"Enabled", "Disabled"},
        "emit_metrics": {"Enabled", "Disabled"},
        "datatype_check_threshold": NUMBER,
        "domain_content_threshold": NUMBER,
        "distribution_constraints": {"perform_comparison": {"Enabled", "Disabled"}, "comparison_threshold": NUMBER,
                                     "comparison_method": {"Simple", "Robust"}},
    },
}


def conforms(value, schema, where: str = "$") -> None:
    """`value` has exactly the schema's keys, with the schema's types, all the way down."""
    if schema == NUMBER:
        assert isinstance(value, int | float) and not isinstance(value, bool), f"{where}: {value!r} is not a number"
        assert math.isfinite(value), f"{where}: {value!r}"
    elif isinstance(schema, set):
        assert value in schema, f"{where}: {value!r} not one of {sorted(schema)}"
    elif isinstance(schema, type):
        assert type(value) is schema, f"{where}: {value!r} is not {schema.__name__}"
    elif isinstance(schema, dict):
        assert isinstance(value, dict) and set(value) == set(schema), f"{where}: keys {sorted(value)}"
        for key, inner in schema.items():
            conforms(value[key], inner, f"{where}.{key}")
    elif isinstance(schema, list):
        assert isinstance(value, list), f"{where}: not a list"
        for i, item in enumerate(value):
            conforms(item, schema[0], f"{where}[{i}]")


def _hand_table() -> FeatureTable:
    """8 rows an hour apart, holdout from 06:00, embargo 1 h, labels 30 min long.

    Rows 0-4 are training rows; row 5 is purged (its label window plus the embargo reaches the holdout);
    rows 6-7 are the holdout. Rows 5-7 hold values that would show in every figure if they were counted.
    """
    ts = pd.date_range("2025-03-03 00:00", periods=8, freq="h", tz="UTC")
    frame = pd.DataFrame({
        "ticker": "AAA", "ts": ts, "label": [0, 1] * 4, "forward_return": 0.0,
        "label_end": ts + pd.Timedelta(minutes=30),
        "a": [1.0, 2.0, np.nan, 3.0, 4.0, 100.0, -50.0, 1000.0],
        "n": pd.Series([0, 5, 5, 2, 8, 99, -7, 77], dtype="int64"),
        "neg": [-1.5, 0.5, 0.5, 0.5, 0.5, 9.0, 9.0, 9.0],
        "c": [7.0, 7.0, 7.0, 7.0, -np.inf, 1.0, 2.0, 3.0],
        "empty": [np.nan] * 5 + [1.0, 2.0, 3.0],
    })
    holdout = pd.Timestamp("2025-03-03 06:00", tz="UTC")
    folds = Folds(folds=[Fold(0, ts[0], ts[2], ts[3], ts[4])], holdout_start=holdout, holdout_end=ts[-1],
                  embargo_bars=60, embargo=pd.Timedelta(hours=1))
    return FeatureTable(frame=frame, folds=folds, manifest={}, feature_columns=["a", "n", "neg", "c", "empty"],
                        folder=None)  # type: ignore[arg-type]


def test_training_rows_are_the_refit_rows_never_the_holdout() -> None:
    table = _hand_table()
    assert training_rows(table.frame, table.folds).tolist() == [True] * 5 + [False] * 3


def test_statistics_equal_the_figures_worked_out_by_hand(tmp_path) -> None:
    write_baseline(_hand_table(), ["a", "n", "neg", "c", "empty"], tmp_path)
    statistics = json.loads((tmp_path / "statistics.json").read_text())
    constraints = json.loads((tmp_path / "constraints.json").read_text())
    assert statistics["dataset"] == {"item_count": 5}
    by_name = {f["name"]: f for f in statistics["features"]}
    assert list(by_name) == ["a", "n", "neg", "c", "empty"]

    a = by_name["a"]["numerical_statistics"]  # 1, 2, NaN, 3, 4
    assert by_name["a"]["inferred_type"] == "Fractional"
    assert a["common"] == {"num_present": 4, "num_missing": 1}
    assert (a["mean"], a["sum"], a["min"], a["max"]) == (2.5, 10.0, 1.0, 4.0)
    assert a["std_dev"] == pytest.approx(math.sqrt((1.5 ** 2 + 0.5 ** 2 + 0.5 ** 2 + 1.5 ** 2) / 4))  # population
    buckets = a["distribution"]["kll"]["buckets"]
    assert [b["count"] for b in buckets] == [1, 0, 0, 1, 0, 0, 1, 0, 0, 1]  # width 0.3 from 1: 1, 2, 3 and 4 (last)
    assert [b["lower_bound"] for b in buckets] == pytest.approx([1 + 0.3 * i for i in range(10)])
    assert buckets[-1]["upper_bound"] == 4.0

    n = by_name["n"]  # integers 0, 5, 5, 2, 8
    assert n["inferred_type"] == "Integral"
    stats = n["numerical_statistics"]
    assert (stats["mean"], stats["sum"], stats["min"], stats["max"]) == (4.0, 20.0, 0.0, 8.0)
    assert stats["std_dev"] == pytest.approx(math.sqrt((16 + 1 + 1 + 4 + 16) / 5))
    assert [b["count"] for b in stats["distribution"]["kll"]["buckets"]] == [1, 0, 1, 0, 0, 0, 2, 0, 0, 1]

    c = by_name["c"]["numerical_statistics"]  # 7, 7, 7, 7, -inf: a constant, and -inf counts as missing
    assert c["common"] == {"num_present": 4, "num_missing": 1}
    assert (c["mean"], c["std_dev"], c["min"], c["max"]) == (7.0, 0.0, 7.0, 7.0)
    buckets = c["distribution"]["kll"]["buckets"]  # Deequ: every bucket [7, 7], the inclusive last one holds all
    assert {(b["lower_bound"], b["upper_bound"]) for b in buckets} == {(7.0, 7.0)}
    assert [b["count"] for b in buckets] == [0] * 9 + [4]

    assert by_name["empty"] == {"name": "empty", "inferred_type": "Unknown",
                                "numerical_statistics": {"common": {"num_present": 0, "num_missing": 5}}}

    limits = {f["name"]: f for f in constraints["features"]}
    assert limits["a"] == {"name": "a", "inferred_type": "Fractional", "completeness": 0.8,
                           "num_constraints": {"is_non_negative": True}}
    assert limits["neg"]["num_constraints"] == {"is_non_negative": False}
    assert limits["n"]["completeness"] == 1.0
    assert limits["empty"] == {"name": "empty", "inferred_type": "Unknown", "completeness": 0.0}
    assert constraints["monitoring_config"] == MONITORING_CONFIG


def test_files_follow_the_documented_schemas(tmp_path) -> None:
    """Every numerical feature has exactly the documented keys and types (module docstring: the sources)."""
    write_baseline(_hand_table(), ["a", "n", "neg", "c"], tmp_path)
    statistics = json.loads((tmp_path / "statistics.json").read_text())
    constraints = json.loads((tmp_path / "constraints.json").read_text())
    conforms(statistics, STATISTICS_SCHEMA)
    conforms(constraints, CONSTRAINTS_SCHEMA)
    assert statistics["version"] == 0.0 and constraints["version"] == 0.0
    for feature in statistics["features"]:
        numbers = feature["numerical_statistics"]
        kll = numbers["distribution"]["kll"]
        # "By default, the distribution is materialized in 10 buckets."
        assert len(kll["buckets"]) == 10
        assert sum(b["count"] for b in kll["buckets"]) == numbers["common"]["num_present"]
        assert kll["buckets"][0]["lower_bound"] == numbers["min"]
        assert kll["buckets"][-1]["upper_bound"] == numbers["max"]
        bounds = [(b["lower_bound"], b["upper_bound"]) for b in kll["buckets"]]
        assert all(upper == lower for (_, upper), (lower, _) in pairwise(bounds))
        assert kll["sketch"]["parameters"] == {"c": 0.64, "k": 2048.0}
        assert sketch_weight(kll["sketch"]["data"]) == numbers["common"]["num_present"]


# --- the KLL sketch: Deequ's QuantileNonSample, ported ------------------------------------------------------------

class ItemByItemKLL:
    """A literal, one-item-at-a-time port of Deequ's QuantileNonSample.update/condense and
    NonSampleCompactor.compact, to hold the chunked implementation to."""

    def __init__(self, k: int, c: float) -> None:
        self.k, self.c = k, c
        self.buffers: list[list[float]] = [[]]
        self.compressions = [0]
        self.offsets = [0]

    def capacity(self, h: int) -> int:
        return 2 * (math.ceil(self.k * self.c ** h / 2) + 1)

    def update(self, item: float) -> None:
        self.buffers[0].append(item)
        if sum(map(len, self.buffers)) > sum(self.capacity(h) for h in range(len(self.buffers))):
            for h in range(len(self.buffers)):
                if len(self.buffers[h]) >= self.capacity(h):
                    if h + 1 >= len(self.buffers):
                        self.buffers.append([])
                        self.compressions.append(0)
                        self.offsets.append(0)
                    buffer = self.buffers[h]
                    items = len(buffer)
                    even = items - items % 2
                    if self.compressions[h] % 2 == 1:
                        self.offsets[h] = 1 - self.offsets[h]
                    ordered = sorted(buffer[:even])
                    output = [ordered[i] for i in range(self.offsets[h], even, 2)]
                    self.buffers[h] = [buffer[items - 1]] if items % 2 else []
                    self.compressions[h] += 1
                    self.buffers[h + 1].extend(output)
                    break


@pytest.mark.parametrize(("k", "n"), [(16, 3000), (64, 5000), (2048, 12000)])
def test_kll_sketch_is_the_state_deequ_reaches_item_by_item(k: int, n: int) -> None:
    rng = np.random.default_rng(k)
    values = np.round(rng.standard_normal(n), 2)  # rounded: ties, as real features have
    reference = ItemByItemKLL(k, 0.64)
    for v in values:
        reference.update(float(v))
    chunked = KLLSketch(sketch_size=k).update(values)
    assert chunked.data() == reference.buffers
    assert sketch_weight(chunked.data()) == n


def test_sketch_ranks_approximate_the_cdf_and_are_exact_below_capacity() -> None:
    rng = np.random.default_rng(5)
    values = rng.standard_normal(200_000)
    data = KLLSketch().update(values).data()
    items = np.concatenate([np.asarray(level) for level in data])
    weights = np.concatenate([np.full(len(level), 2 ** h) for h, level in enumerate(data)])
    for q in (-2.0, -1.0, 0.0, 0.5, 1.5):
        assert weights[items <= q].sum() / len(values) == pytest.approx((values <= q).mean(), abs=0.01)
    # up to the first compaction the sketch holds every value: Deequ's bucket counts from it equal exact ones
    few = rng.standard_normal(2000)
    statistics, _ = data_quality_baseline(pd.DataFrame({"x": few}), ["x"])
    kll = statistics["features"][0]["numerical_statistics"]["distribution"]["kll"]
    assert kll["sketch"]["data"] == [few.tolist()]
    held = np.asarray(kll["sketch"]["data"][0])
    # Deequ's counts: getRankExclusive(upper) - getRankExclusive(lower), the last bucket's upper bound inclusive
    for i, bucket in enumerate(kll["buckets"]):
        upper = (held <= bucket["upper_bound"]) if i == 9 else (held < bucket["upper_bound"])
        assert bucket["count"] == int(upper.sum() - (held < bucket["lower_bound"]).sum())
