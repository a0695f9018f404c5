"""One registry of model families (steps/train/settings.py's ALGORITHMS), read by the config, the tuning stage and
`get_algorithm`; and the library parameters derived from each family's own hyperparameter declarations.

The table test the SageMaker SDK keeps for its step types: every family in the registry has its class, under its
name, and its HPO file; the pinned dictionaries are what the families handed their libraries when each one wrote
its parameters out by hand (before issue 27), so deriving them changed nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from steps.train.algorithms import Algorithm, get_algorithm
from steps.train.settings import ALGORITHMS, known_algorithm

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", list(ALGORITHMS))
def test_every_family_in_the_registry_has_its_class_under_its_name_and_its_hpo_file(name):
    cls = get_algorithm(name)
    assert issubclass(cls, Algorithm) and cls.name == name
    spec = yaml.safe_load((REPO / "configs" / "hpo" / f"{name}.yaml").read_text())
    assert spec["algorithm"] == name
    assert set(spec["defaults"]) <= {hp.name for hp in cls.hyperparameters}


@pytest.mark.parametrize("name", list(ALGORITHMS))
def test_every_family_takes_its_hyperparameters_from_the_library_free_declarations(name):
    """steps.train --help lists steps/train/hyperparameter_specs.py without importing any family: the class
    must use that very tuple, or the help would document other names, defaults or bounds than the job applies."""
    from steps.train.hyperparameter_specs import DECLARED

    assert set(DECLARED) == set(ALGORITHMS)
    assert get_algorithm(name).hyperparameters is DECLARED[name]


def test_the_hyperparameter_declarations_are_read_without_a_model_library_or_pandas():
    libraries = ["xgboost", "lightgbm", "catboost", "torch", "sklearn", "pandas", "numpy", "steps.train.algorithms"]
    done = subprocess.run([sys.executable, "-c", "import sys, steps.train.hyperparameter_specs; "
                           f"print([m for m in {libraries!r} if m in sys.modules])"],
                          capture_output=True, text=True, cwd=REPO, env={"PYTHONPATH": str(REPO)}, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stderr


def test_the_registry_is_read_without_importing_a_model_library():
    """The pipeline reads it (config, tuning stage): that must not cost, or require, any family's library."""
    libraries = ["xgboost", "lightgbm", "catboost", "torch", "sklearn", "steps.train.algorithms"]
    done = subprocess.run([sys.executable, "-c", "import sys, steps.train.settings; "
                           f"print([m for m in {libraries!r} if m in sys.modules])"],
                          capture_output=True, text=True, cwd=REPO, env={"PYTHONPATH": str(REPO)}, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stderr


def test_only_the_gru_is_a_gpu_family():
    assert [name for name, entry in ALGORITHMS.items() if entry.gpu] == ["gru"]


def test_an_unknown_family_is_refused_naming_the_known_ones():
    assert known_algorithm("lightgbm") == "lightgbm"
    with pytest.raises(ValueError, match=r"unknown algorithm 'prophet'; allowed: xgboost, catboost, lightgbm, gru"):
        known_algorithm("prophet")


def _model(name: str):
    cls = get_algorithm(name)
    return cls({**cls.defaults(), "nthread": 3, "seed": 7})


def test_xgboost_gets_the_parameters_it_always_got():
    assert _model("xgboost")._booster_params() == {
        "objective": "binary:logistic", "tree_method": "hist", "eval_metric": "auc", "max_depth": 4,
        "min_child_weight": 10.0, "subsample": 0.8, "colsample_bytree": 0.8, "eta": 0.1, "gamma": 0.0, "lambda": 1.0,
        "alpha": 0.0, "max_bin": 256, "scale_pos_weight": 1.0, "seed": 7, "nthread": 3, "verbosity": 0}


def test_lightgbm_gets_the_parameters_it_always_got():
    assert _model("lightgbm")._booster_params() == {
        "objective": "binary", "metric": "auc", "learning_rate": 0.05, "num_leaves": 31, "max_depth": -1,
        "min_data_in_leaf": 50, "feature_fraction": 0.8, "bagging_fraction": 0.8, "bagging_freq": 1, "lambda_l1": 0.0,
        "lambda_l2": 1.0, "min_gain_to_split": 0.0, "max_bin": 255, "seed": 7, "deterministic": True,
        "force_row_wise": True, "num_threads": 3, "verbosity": -1}


def test_catboost_gets_the_parameters_it_always_got():
    assert _model("catboost")._classifier(11).get_params() == {
        "iterations": 11, "learning_rate": 0.05, "depth": 6, "l2_leaf_reg": 3.0, "loss_function": "Logloss",
        "border_count": 128, "thread_count": 3, "random_seed": 7, "verbose": False, "random_strength": 1.0,
        "eval_metric": "AUC", "bagging_temperature": 1.0, "allow_writing_files": False}


def test_a_hyperparameter_reaches_the_library_under_its_library_name_unless_the_loop_reads_it():
    model = _model("catboost")
    params = model.library_params()
    assert params["random_seed"] == 7 and "seed" not in params
    assert not {"iterations", "early_stopping_rounds", "nthread", "min_data_in_leaf"} & set(params)
