"""Tuning rounds and SageMaker's warm-start parent limit: every earlier round is a parent, 5 parents at most.

"A tuning job can have a maximum of 5 parent jobs" and "Warm start tuning is not recursive"
(https://docs.aws.amazon.com/sagemaker/latest/dg/automatic-model-tuning-warm-start.html); botocore's
ParentHyperParameterTuningJobs has max 5. So `gates.max_tuning_attempts` is at most 6.
"""

from __future__ import annotations

import json

import botocore.session
import pytest

from pipelines.config import MAX_WARM_START_PARENTS, ConfigError, load_config
from pipelines.definition import definition_json, get_pipeline
from pipelines.lint import lint_definition


def _all_steps(steps: list[dict]) -> dict[str, dict]:
    found: dict[str, dict] = {}
    for step in steps:
        found[step["Name"]] = step
        for branch in ("IfSteps", "ElseSteps"):
            found.update(_all_steps(step.get("Arguments", {}).get(branch, [])))
    return found


def test_the_parent_limit_is_botocores():
    model = botocore.session.get_session().get_service_model("sagemaker")
    assert model.shape_for("ParentHyperParameterTuningJobs").metadata["max"] == MAX_WARM_START_PARENTS


def test_more_rounds_than_five_parents_allow_is_refused_in_one_line():
    with pytest.raises(ConfigError) as refused:
        load_config(profile="quick", overrides={"gates": {"max_tuning_attempts": MAX_WARM_START_PARENTS + 2}})
    message = str(refused.value)
    assert "\n" not in message
    assert "key 'gates.max_tuning_attempts': at most 6:" in message and "at most 5 parents" in message


@pytest.fixture(scope="module")
def six_rounds():
    config = load_config(profile="quick", overrides={"algorithms": ["xgboost"], "gates": {"max_tuning_attempts": 6}})
    return config, json.loads(definition_json(get_pipeline(config)))


def test_six_rounds_name_five_parents_oldest_first_and_lint_clean(six_rounds):
    config, definition = six_rounds
    steps = _all_steps(definition["Steps"])
    rounds = ["Tune-xgboost", *(f"Tune-xgboost-{r}" for r in range(2, 7))]
    assert "Tune-xgboost-7" not in steps
    for number, name in enumerate(rounds):
        warm = steps[name]["Arguments"].get("WarmStartConfig", {})
        assert [p["HyperParameterTuningJobName"]["Get"] for p in warm.get("ParentHyperParameterTuningJobs", [])] == [
            f"Steps.{parent}.HyperParameterTuningJobName" for parent in rounds[:number]
        ]
    assert lint_definition(definition, config) == []


def test_a_sixth_parent_is_refused_by_lint_naming_the_step_and_field(six_rounds):
    config, definition = six_rounds
    definition = json.loads(json.dumps(definition))
    parents = _all_steps(definition["Steps"])["Tune-xgboost-6"]["Arguments"]["WarmStartConfig"][
        "ParentHyperParameterTuningJobs"]
    parents.append(dict(parents[0]))

    found = [str(v) for v in lint_definition(definition, config)]

    assert any(v.startswith("Tune-xgboost-6: request: CreateHyperParameterTuningJob") and
               "ParentHyperParameterTuningJobs" in v for v in found), found
