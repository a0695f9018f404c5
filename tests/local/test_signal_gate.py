"""The optional Gate-signal (backtest.min_net_sharpe) and the signal figures in metadata and Fail messages (issue 19).

Run with the fake step programs (tests/local/fixtures), whose ensemble writes the net Sharpe control.json forces.
"""

from __future__ import annotations

import json

import pytest

from pipelines.config import load_config
from pipelines.definition.graph import flatten_steps
from pipelines.lint import lint_definition
from pipelines.local.runner import build_definition
from steps.ensemble.settings import EnsembleSettings
from steps.evaluate.settings import EvaluateSettings


@pytest.fixture(scope="module")
def gated_definition():
    definition, _ = build_definition(load_config(profile="quick", overrides={"backtest": {"min_net_sharpe": 1.0}}))
    return definition


def test_without_a_threshold_the_definition_has_no_signal_gate(quick_definition, step_settings):
    text = json.dumps(quick_definition)
    assert "Gate-signal" not in text and "Fail-signal" not in text
    steps = flatten_steps(quick_definition)
    for name, model in (("Evaluate-xgboost", EvaluateSettings), ("BuildEnsemble", EnsembleSettings)):
        backtest = step_settings(steps[name].spec, model, quick_definition).backtest
        assert (backtest.quantile, backtest.cost_bps) == (0.2, 5.0)
    # With a threshold: Gate-signal sits between the ensemble's gates (AUC, then the plausibility ceiling) and the
    # artifact check, on the literal threshold.
    config = load_config(profile="quick", overrides={"backtest": {"min_net_sharpe": 1.0}})
    gated, _ = build_definition(config)
    assert lint_definition(gated, config) == []  # what upsert requires before publishing
    gate = flatten_steps(gated)["Gate-signal"]
    assert [branch[0] for branch in gate.branches[-2:]] == ["Gate-ensemble", "Gate-plausible-ensemble"]
    assert gate.spec["Arguments"]["Conditions"][0]["RightValue"] == 1.0
    assert {s["Name"] for s in gate.spec["Arguments"]["IfSteps"]} == {"CheckArtifact", "Gate-artifact"}


def test_a_net_sharpe_below_the_threshold_ends_in_fail_signal_and_registers_nothing(run_fake, gated_definition,
                                                                                     tmp_path):
    run = run_fake(definition=gated_definition, control={"state_dir": str(tmp_path), "ensemble": {"net_sharpe": 0.2}})

    assert run.result.exit_code == 1
    assert run.record.steps["Gate-ensemble"].properties == {"Outcome": True}
    assert run.record.steps["Gate-signal"].properties == {"Outcome": False}
    message = run.record.steps["Fail-signal"].failure_reason
    assert message.startswith("Gate-signal failed: the ensemble's holdout long-short net Sharpe 0.2 does not reach "
                              "backtest.min_net_sharpe 1.0 (")
    assert "(IC 0.0100 RankIC 0.0100" in message
    assert run.status("CheckArtifact") == "Skipped" and run.status("Register-RegisterModel") == "Skipped"
    assert run.record.model_package_arn is None


def test_a_net_sharpe_at_the_threshold_passes_and_the_package_carries_the_signal_figures(run_fake, gated_definition,
                                                                                         tmp_path):
    run = run_fake(definition=gated_definition, control={"state_dir": str(tmp_path), "ensemble": {"net_sharpe": 1.0}})

    assert run.result.exit_code == 0, run.lines[-20:]
    assert run.record.steps["Gate-signal"].properties == {"Outcome": True}
    metadata = run.record.steps["Register-RegisterModel"].arguments["CustomerMetadataProperties"]
    # the registered signal figures are the final holdout's (the fake FinalHoldout's 0.400), not the selection
    # holdout's that Gate-signal judged (1.0): issue 30
    assert metadata["holdout_net_sharpe"] == "0.400"
    assert metadata["holdout_ic"] == metadata["holdout_rank_ic"] == "0.0100"


def test_the_approval_listing_shows_ic_and_net_sharpe_beside_the_auc():
    from pipelines.deployment.registry import metrics_summary

    statistics = {"binary_classification_metrics": {
        "auc": {"value": 0.61, "standard_deviation": 0.01},
        "information_coefficient": {"value": 0.021, "standard_deviation": 0.004},
        "long_short_net_sharpe": {"value": -0.4, "standard_deviation": 0.9}}}
    summary = metrics_summary(statistics)
    assert (summary["auc"], summary["information_coefficient"], summary["long_short_net_sharpe"]) == (0.61, 0.021, -0.4)
    assert "information_coefficient" not in metrics_summary({"binary_classification_metrics": {"auc": {"value": 0.6}}})
    # One ticker per decision time: the evaluation says null, the listing says undefined (not None, not 0).
    from pipelines.approve import listing_cell

    undefined = metrics_summary({"binary_classification_metrics": {
        "auc": {"value": 0.61, "standard_deviation": 0.01},
        "long_short_net_sharpe": {"value": None, "standard_deviation": None}}})
    sharpe = undefined["long_short_net_sharpe"]
    assert sharpe is None and listing_cell(sharpe) == "undefined"
    assert listing_cell(0.0) == "0.0000"


def test_an_undefined_net_sharpe_is_refused_by_the_gate_with_a_message_not_a_crash(run_fake, gated_definition,
                                                                                     tmp_path):
    """One ticker per decision time: the ensemble writes a null net Sharpe and "undefined" in its metadata; null
    never reaches a threshold, so Gate-signal takes its else branch and Fail-signal says why."""
    run = run_fake(definition=gated_definition, control={"state_dir": str(tmp_path), "ensemble": {"net_sharpe": None}})

    assert run.result.exit_code == 1
    assert run.record.steps["Gate-signal"].properties == {"Outcome": False}
    (condition,) = run.record.steps["Gate-signal"].arguments
    assert condition["condition"]["LeftValue"] is None and condition["value"] is False
    message = run.record.steps["Fail-signal"].failure_reason
    assert message.startswith("Gate-signal failed: the ensemble's holdout long-short net Sharpe undefined does not "
                              "reach backtest.min_net_sharpe 1.0")
    assert "None" not in message and "null" not in message
    from pipelines.local.handlers.condition import ConditionHandler

    (first,) = ConditionHandler().gate_lines(run.record.steps["Gate-signal"])
    assert first.startswith("Gate-signal: FAILED: BuildEnsemble net Sharpe null >= 1.0000") and "undefined" in first
    assert first.endswith("(no)")
    assert run.status("CheckArtifact") == "Skipped" and run.status("Register-RegisterModel") == "Skipped"
    assert run.record.model_package_arn is None


def test_an_ordering_comparison_with_a_null_operand_is_false_and_equality_still_works():
    from pipelines.definition.conditions import condition_text, evaluate
    from pipelines.definition.expressions import EvaluationContext

    context = EvaluationContext(parameters={}, execution={})
    for kind in ("GreaterThan", "GreaterThanOrEqualTo", "LessThan", "LessThanOrEqualTo"):
        assert evaluate({"Type": kind, "LeftValue": None, "RightValue": 0.5}, context) is False
        assert evaluate({"Type": kind, "LeftValue": 0.5, "RightValue": None}, context) is False
    assert evaluate({"Type": "GreaterThanOrEqualTo", "LeftValue": 0.6, "RightValue": 0.5}, context) is True
    assert evaluate({"Type": "Equals", "LeftValue": None, "RightValue": None}, context) is True
    assert evaluate({"Type": "Equals", "LeftValue": None, "RightValue": 0.0}, context) is False
    text = condition_text({"Type": "GreaterThanOrEqualTo", "LeftValue": None, "RightValue": 1.0})
    assert text.startswith("null GreaterThanOrEqualTo 1.0000") and "undefined" in text


def test_the_backtest_plausibility_ceilings_reach_both_evaluations_from_the_horizon_entry(quick_definition,
                                                                                          step_settings):
    """Like max_holdout_auc: per `<bar_frequency>/<label_horizon_bars>` in leaks.plausibility, never in backtest:."""
    from pipelines.config import ConfigError

    steps = flatten_steps(quick_definition)
    config = load_config(profile="quick")
    entry = config.leaks.plausibility["1min/30"]
    for name, model in (("Evaluate-xgboost", EvaluateSettings), ("BuildEnsemble", EnsembleSettings)):
        ceiling = step_settings(steps[name].spec, model, quick_definition).backtest.plausibility
        assert (ceiling.max_period_sharpe, ceiling.max_hit_rate, ceiling.max_annual_sharpe, ceiling.min_periods) == (
            entry.max_period_sharpe, entry.max_hit_rate, entry.max_annual_sharpe, entry.min_periods)
    daily = load_config(profile="daily").evaluate_settings().backtest.plausibility
    assert daily.max_annual_sharpe == load_config(profile="daily").leaks.plausibility["1d/1"].max_annual_sharpe
    assert daily.max_annual_sharpe is not None
    changed = load_config(profile="quick", overrides={"leaks": {"plausibility": {"1min/30": {"max_hit_rate": 0.9}}}})
    assert changed.evaluate_settings().backtest.plausibility.max_hit_rate == 0.9
    with pytest.raises(ConfigError, match=r"key 'backtest.plausibility': unknown key"):
        load_config(profile="quick", overrides={"backtest": {"plausibility": {"max_hit_rate": 0.9}}})


def test_the_approval_listing_of_a_final_holdout_evaluation_says_what_selected_it():
    """Issue 30: the registered statistics are the lockbox's; the listing shows the selection holdout's AUC and the
    looks beside them, and the ensemble's clause from the selection holdout."""
    from pipelines.deployment.registry import metrics_summary

    final = {"binary_classification_metrics": {"auc": {"value": 0.58, "standard_deviation": 0.01}},
             "algorithm": "ensemble",
             "holdout": {"start": "2025-03-01T14:45:00+00:00", "end": "2025-03-10T19:15:00+00:00", "rows": 900},
             "selection_holdout": {"auc": {"value": 0.63}, "ensemble": {"best_single_auc": 0.62,
                                                                        "beats_best_single": True}},
             "selection": {"looks": {"n": 13}}}
    summary = metrics_summary(final)
    assert summary["auc"] == 0.58 and summary["selection_auc"] == 0.63 and summary["looks"] == 13
    assert summary["holdout"] == ("final holdout 2025-03-01..2025-03-10 (900 rows); selection holdout AUC 0.6300 "
                                  "after 13 looks")
    assert summary["best_single_auc"] == 0.62 and summary["beats_best_single"] is True
