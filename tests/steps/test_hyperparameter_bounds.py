"""Every bounded hyperparameter refuses values outside its bounds in one line before anything is trained:
xgboost, LightGBM and catboost raised tracebacks from C++ for most of them (num_round 0, subsample 1.5,
num_leaves 1), and catboost trained nonsense without complaint for others (depth 0: AUC 0.5; a negative
learning rate: AUC 0.38)."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from steps.common.errors import StepConfigError
from steps.train.algorithms import get_algorithm
from steps.train.hyperparameters import resolve
from steps.train.settings import ALGORITHMS

REPO = Path(__file__).resolve().parents[2]


def _bounded():
    for name in ALGORITHMS:
        for hp in get_algorithm(name).hyperparameters:
            if hp.kind in (int, float) and (hp.minimum, hp.maximum, hp.above) != (None, None, None):
                yield name, hp


def _outside(hp) -> list[float]:
    step = 1 if hp.kind is int else 1e-9
    values = []
    if hp.minimum is not None:
        values.append(hp.minimum - step)
    if hp.above is not None:
        values.append(hp.above)
    if hp.maximum is not None:
        values.append(hp.maximum + step)
    return values


def _inside(hp) -> list[float]:
    step = 1 if hp.kind is int else 1e-9
    values = [v for v in (hp.minimum, hp.maximum) if v is not None]
    if hp.above is not None:
        values.append(hp.above + step)
    return values


BOUNDED = list(_bounded())


def test_the_boosters_declare_bounds_for_their_sizes_counts_and_rates():
    names = {(algorithm, hp.name) for algorithm, hp in BOUNDED}
    assert {("xgboost", "num_round"), ("xgboost", "eta"), ("xgboost", "subsample"), ("lightgbm", "num_leaves"),
            ("lightgbm", "bagging_fraction"), ("catboost", "depth"), ("catboost", "learning_rate"),
            ("gru", "dropout")} <= names


@pytest.mark.parametrize(("algorithm", "hp"), BOUNDED, ids=[f"{a}-{h.name}" for a, h in BOUNDED])
def test_a_value_outside_the_bounds_is_one_line_naming_it_and_the_bounds_are_accepted(algorithm, hp):
    cls = get_algorithm(algorithm)
    for value in _outside(hp):
        with pytest.raises(StepConfigError) as caught:
            resolve(cls, {hp.name: str(value)}, "command line")
        message = str(caught.value)
        assert hp.name in message and hp.allowed() in message and "\n" not in message, message
    for value in _inside(hp):
        assert resolve(cls, {hp.name: str(value)}, "command line")[hp.name] == value


@pytest.mark.parametrize("text", ["nan", "inf", "-inf"])
def test_a_float_that_is_not_finite_is_refused(text):
    with pytest.raises(StepConfigError, match="finite"):
        resolve(get_algorithm("xgboost"), {"eta": text}, "command line")


@pytest.mark.parametrize("algorithm", sorted(ALGORITHMS))
def test_the_shipped_defaults_and_tuning_ranges_lie_within_the_bounds(algorithm):
    """configs/hpo/<algorithm>.yaml: every default and both ends of every range resolve: a tuning job would
    otherwise fail each trial that draws near the edge."""
    spec = yaml.safe_load((REPO / "configs" / "hpo" / f"{algorithm}.yaml").read_text())
    cls = get_algorithm(algorithm)
    resolve(cls, {k: str(v) for k, v in spec["defaults"].items()}, "defaults")
    for name, bounds in spec["ranges"].items():
        for end in ("min", "max"):
            if end in bounds:
                value = bounds[end]
                resolve(cls, {name: str(int(value) if bounds["type"] == "integer" else value)}, f"ranges.{name}")
        assert math.isfinite(bounds.get("min", 0)) and math.isfinite(bounds.get("max", 0))


def test_the_job_refuses_before_writing_anything_and_help_lists_the_bounds(tmp_path):
    env = {"SM_CHANNEL_TRAIN": str(tmp_path / "absent"), "SM_MODEL_DIR": str(tmp_path / "model"),
           "SM_OUTPUT_DATA_DIR": str(tmp_path / "out"), "SM_INPUT_CONFIG_DIR": str(tmp_path / "config"),
           "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-m", "steps.train", "--algorithm", "catboost", "--depth", "0"],
                          capture_output=True, text=True, env={**env, "PYTHONPATH": str(REPO)}, timeout=300)
    assert done.returncode == 2 and "depth must be in [1, 16], got 0" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and not (tmp_path / "model").exists()
    shown = subprocess.run([sys.executable, "-m", "steps.train", "--help"], capture_output=True, text=True,
                           env={**env, "PYTHONPATH": str(REPO)}, timeout=300)
    assert shown.returncode == 0 and "--depth int (default 6; allowed [1, 16])" in shown.stdout
