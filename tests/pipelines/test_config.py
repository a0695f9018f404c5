"""Config validation: a wrong key or value is one line naming the file, the key and what is allowed."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pipelines.config import DEFAULT_CONFIG, ConfigError, load_config

REPO = Path(__file__).resolve().parents[2]


def _write_config(tmp_path: Path, mutate) -> Path:
    raw = yaml.safe_load(DEFAULT_CONFIG.read_text())
    mutate(raw)
    (tmp_path / "configs" / "hpo").mkdir(parents=True)
    for hpo in (REPO / "configs" / "hpo").glob("*.yaml"):
        (tmp_path / "configs" / "hpo" / hpo.name).write_text(hpo.read_text())
    (tmp_path / "configs" / "universe.csv").write_text((REPO / "configs" / "universe.csv").read_text())
    path = tmp_path / "configs" / "pipeline.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_default_config_has_the_seed_gates_and_a_56_stock_universe_over_11_sectors():
    config = load_config()
    assert config.gates.min_model_auc == 0.60
    assert config.gates.min_ensemble_auc == 0.62
    assert len(config.universe) == 56
    assert len({m.sector for m in config.universe}) == 11


def test_xgboost_hpo_keeps_the_seed_defaults_and_ranges():
    hpo = load_config().hpo["xgboost"]
    assert {k: hpo.defaults[k] for k in ("max_depth", "min_child_weight", "subsample", "colsample_bytree")} == {
        "max_depth": 4,
        "min_child_weight": 10,
        "subsample": 0.8,
        "colsample_bytree": 0.8,
    }
    assert (hpo.defaults["eta"], hpo.defaults["num_round"], hpo.defaults["early_stopping_rounds"]) == (0.1, 1000, 50)
    assert hpo.defaults["eval_metric"] == "auc"
    eta = hpo.ranges["eta"]
    assert (eta.min, eta.max, eta.scaling) == (0.01, 0.3, "Logarithmic")
    assert (hpo.ranges["max_depth"].min, hpo.ranges["max_depth"].max) == (3, 6)
    assert {k: (r.min, r.max) for k, r in hpo.ranges.items() if k in ("gamma", "lambda", "alpha")} == {
        "gamma": (0, 5),
        "lambda": (0, 10),
        "alpha": (0, 10),
    }
    # Tuned hyperparameters are not also sent as static ones.
    assert set(hpo.static) == {"min_child_weight", "num_round", "early_stopping_rounds", "eval_metric"}


def test_profile_overrides_only_the_fields_it_sets():
    base, quick = load_config(), load_config(profile="quick")
    assert quick.tuning.max_jobs < base.tuning.max_jobs
    assert quick.tuning.objective_metric == base.tuning.objective_metric
    assert quick.folds.embargo_bars == base.folds.embargo_bars


def test_unknown_key_names_file_key_and_allowed_keys(tmp_path):
    path = _write_config(tmp_path, lambda raw: raw["gates"].update(min_model_aux=0.7))
    with pytest.raises(ConfigError) as error:
        load_config(path)
    message = str(error.value)
    assert "\n" not in message
    assert str(path) in message
    assert "gates.min_model_aux" in message
    assert "min_model_auc" in message  # what is allowed


def test_out_of_range_value_is_rejected_with_the_value(tmp_path):
    path = _write_config(tmp_path, lambda raw: raw["gates"].update(min_model_auc=1.7))
    with pytest.raises(ConfigError, match=r"gates\.min_model_auc.*1\.7"):
        load_config(path)


@pytest.mark.parametrize("section, key", [("gates", "max_tuning_attempts"), ("tuning", "max_jobs"),
                                          ("gates", "min_model_auc"), ("features", "instance_count")])
def test_a_boolean_for_a_number_is_refused_not_read_as_one(tmp_path, section, key):
    """YAML `max_tuning_attempts: true` would be 1 in pydantic's lax mode: a typo that silently changes a gate."""
    path = _write_config(tmp_path, lambda raw: raw[section].update({key: True}))
    with pytest.raises(ConfigError, match=rf"{section}\.{key}.*not true/false"):
        load_config(path)


def test_wrong_literal_lists_what_is_allowed(tmp_path):
    path = _write_config(tmp_path, lambda raw: raw["tuning"].update(strategy="Genetic"))
    with pytest.raises(ConfigError, match=r"tuning\.strategy.*Bayesian"):
        load_config(path)


def test_an_unknown_algorithm_is_refused_naming_the_registered_ones(tmp_path):
    path = _write_config(tmp_path, lambda raw: raw.update(algorithms=["xgboost", "prophet"]))
    with pytest.raises(ConfigError, match=r"algorithms.*prophet.*allowed: xgboost, catboost"):
        load_config(path)


def test_an_hpo_file_for_an_unknown_algorithm_is_refused_naming_the_registered_ones(tmp_path):
    path = _write_config(tmp_path, lambda raw: None)
    hpo = path.parent / "hpo" / "xgboost.yaml"
    hpo.write_text(hpo.read_text().replace("algorithm: xgboost", "algorithm: prophet"))
    with pytest.raises(ConfigError, match=r"xgboost\.yaml: key 'algorithm': unknown algorithm 'prophet'; allowed: "
                                          r"xgboost, catboost, lightgbm, gru"):
        load_config(path)


def test_missing_profile_lists_profiles():
    with pytest.raises(ConfigError, match=r"profiles\.fast.*profiles: quick"):
        load_config(profile="fast")


def test_invalid_yaml_names_the_line(tmp_path):
    path = tmp_path / "pipeline.yaml"
    path.write_text("pipeline:\n  name: [unclosed\n")
    with pytest.raises(ConfigError, match=r"pipeline\.yaml: line \d+ is not valid YAML"):
        load_config(path)


def test_bad_hpo_range_names_the_hpo_file(tmp_path):
    path = _write_config(tmp_path, lambda raw: None)
    hpo = path.parent / "hpo" / "xgboost.yaml"
    hpo.write_text(hpo.read_text().replace("min: 0.01, max: 0.3", "min: 0.0, max: 0.3"))
    with pytest.raises(ConfigError, match=r"xgboost\.yaml.*Logarithmic scaling needs 'min' > 0"):
        load_config(path)


def test_universe_with_duplicate_ticker_is_rejected(tmp_path):
    path = _write_config(tmp_path, lambda raw: None)
    universe = path.parent / "universe.csv"
    universe.write_text(universe.read_text() + "AAPL,Information Technology\n")
    with pytest.raises(ConfigError, match=r"universe\.csv line \d+: column 'ticker': lists AAPL again"):
        load_config(path)


def test_a_horizon_without_plausibility_thresholds_is_refused_in_one_line():
    """Plausibility depends on the data: a new horizon must say what an honest model reaches there."""
    with pytest.raises(ConfigError) as error:
        load_config(profile="daily", overrides={"features": {"label_horizon_bars": 5}})
    message = str(error.value)
    assert message.startswith(f"{DEFAULT_CONFIG}: key 'leaks.plausibility': no entry '1d/5'")
    assert "entries: 1d/1, 1min/30" in message and "\n" not in message
    added = {"leaks": {"plausibility": {"1d/5": {"max_holdout_auc": 0.62, "max_single_feature_auc": 0.6,
                                                 "min_future_correlation": 0.12, "max_future_to_past_correlation": 3,
                                                 "min_asymmetry_z": 3}}}}
    config = load_config(profile="daily", overrides={"features": {"label_horizon_bars": 5}, **added})
    assert config.plausibility.max_holdout_auc == 0.62


def test_plausibility_keys_name_a_frequency_and_a_horizon(tmp_path):
    def misnamed(raw):
        entries = raw["leaks"]["plausibility"]
        entries["daily"] = entries["1d/1"]  # a valid entry under a key that names no horizon

    path = _write_config(tmp_path, misnamed)
    with pytest.raises(ConfigError, match=r"key 'leaks.plausibility': entry 'daily': keys are '<bar_frequency>/"):
        load_config(path)


def test_the_pipeline_refuses_a_configuration_without_a_lockbox() -> None:
    """Register requires the final holdout's gate (docs/training.md, "Two holdouts"): no lockbox, no pipeline."""
    with pytest.raises(ConfigError, match="final_holdout_days must be >= 1"):
        load_config(overrides={"folds": {"final_holdout_days": 0}})
    assert load_config(profile="quick").folds.final_holdout_days == 8
    assert load_config(profile="daily").folds.final_holdout_days == 252
