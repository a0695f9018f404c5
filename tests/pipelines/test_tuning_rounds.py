"""Tuning rounds and SageMaker's warm-start parent limit: every earlier round is a parent, 5 parents at most.

"A tuning job can have a maximum of 5 parent jobs" and "Warm start tuning is not recursive"
(https://docs.aws.amazon.com/sagemaker/latest/dg/automatic-model-tuning-warm-start.html); botocore's
ParentHyperParameterTuningJobs has max 5. The mission caps `gates.max_tuning_attempts` at 3, within that.
"""

from __future__ import annotations

import json

import botocore.session
import pytest

from pipelines.config import MAX_WARM_START_PARENTS, ConfigError, Gates, load_config
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


def test_the_round_cap_fits_the_parent_limit():
    """The mission caps re-tuning at 3 rounds; round r names r - 1 parents, so the cap must stay within 5."""
    cap = next(m.le for m in Gates.model_fields["max_tuning_attempts"].metadata if getattr(m, "le", None))
    assert cap == 3 and cap - 1 <= MAX_WARM_START_PARENTS
    with pytest.raises(ConfigError, match="max_tuning_attempts"):
        load_config(profile="quick", overrides={"gates": {"max_tuning_attempts": cap + 1}})


@pytest.fixture(scope="module")
def three_rounds():
    config = load_config(profile="quick", overrides={"algorithms": ["xgboost"]})
    return config, json.loads(definition_json(get_pipeline(config)))


def test_every_round_names_every_earlier_round_oldest_first_and_lints_clean(three_rounds):
    config, definition = three_rounds
    steps = _all_steps(definition["Steps"])
    rounds = ["Tune-xgboost", "Tune-xgboost-2", "Tune-xgboost-3"]
    assert "Tune-xgboost-4" not in steps
    for number, name in enumerate(rounds):
        warm = steps[name]["Arguments"].get("WarmStartConfig", {})
        assert [p["HyperParameterTuningJobName"]["Get"] for p in warm.get("ParentHyperParameterTuningJobs", [])] == [
            f"Steps.{parent}.HyperParameterTuningJobName" for parent in rounds[:number]
        ]
    assert lint_definition(definition, config) == []


def test_a_sixth_parent_is_refused_by_lint_naming_the_step_and_field(three_rounds):
    config, definition = three_rounds
    definition = json.loads(json.dumps(definition))
    parents = _all_steps(definition["Steps"])["Tune-xgboost-3"]["Arguments"]["WarmStartConfig"][
        "ParentHyperParameterTuningJobs"]
    parents.extend(dict(parents[0]) for _ in range(MAX_WARM_START_PARENTS + 1 - len(parents)))
    assert len(parents) == MAX_WARM_START_PARENTS + 1

    found = [str(v) for v in lint_definition(definition, config)]

    assert any(v.startswith("Tune-xgboost-3: request: CreateHyperParameterTuningJob") and
               "ParentHyperParameterTuningJobs" in v for v in found), found
