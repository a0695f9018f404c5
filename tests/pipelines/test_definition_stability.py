"""--feature-analysis adds FeatureStability after the leak gate; every tuning job then reads its selection."""

from __future__ import annotations

import json

from pipelines.config import load_config
from pipelines.definition import definition_json, get_pipeline
from pipelines.lint import iter_steps


def _definition(enabled: bool) -> dict:
    return json.loads(definition_json(get_pipeline(load_config(overrides={"stability": {"enabled": enabled}}))))


def test_stability_step_sits_first_in_the_leak_gates_true_branch_and_feeds_tuning():
    definition = _definition(True)
    leak_gate = next(s for s in definition["Steps"] if s["Name"] == "LeakGate")
    branch = leak_gate["Arguments"]["IfSteps"]
    assert branch[0]["Name"] == "FeatureStability" and branch[0]["Type"] == "Processing"
    assert branch[0]["Arguments"]["AppSpecification"]["ContainerEntrypoint"] == ["python3", "-m", "steps.stability"]
    selection = {"Get": "Steps.FeatureStability.ProcessingOutputConfig.Outputs['features'].S3Output.S3Uri"}
    tunings = [s for s in iter_steps(definition["Steps"]) if s["Type"] == "Tuning"]
    assert tunings
    for tuning in tunings:
        channels = {
            c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"]
            for c in tuning["Arguments"]["TrainingJobDefinition"]["InputDataConfig"]
        }
        assert channels["train"] == selection, tuning["Name"]
    registers = [s for s in iter_steps(definition["Steps"]) if s["Type"] == "RegisterModel"]
    assert registers and all("Explainability" in r["Arguments"]["ModelMetrics"] for r in registers)


def test_off_by_default_and_the_tuning_reads_build_features():
    definition = _definition(False)
    names = {s["Name"] for s in iter_steps(definition["Steps"])}
    assert "FeatureStability" not in names
    tuning = next(s for s in iter_steps(definition["Steps"]) if s["Type"] == "Tuning")
    train = tuning["Arguments"]["TrainingJobDefinition"]["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"]
    assert "BuildFeatures" in train["Get"]
