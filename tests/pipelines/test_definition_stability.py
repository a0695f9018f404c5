"""--feature-analysis adds FeatureStability after the leak gate; every tuning job then reads its selection."""

from __future__ import annotations

import json

from pipelines.config import load_config
from pipelines.definition import definition_json, get_pipeline
from pipelines.lint import iter_steps
from steps.stability.settings import StabilitySettings


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
    assert registers


def test_register_points_at_clarify_shap_values_and_the_baseline_of_the_selected_columns():
    """With FeatureStability, Explainability.Report is its analysis.json (Clarify's format) and the data-quality
    baseline is its own, over the columns it selected (the models' inputs); both reports stay reachable."""
    definition = _definition(True)
    leak_gate = next(s for s in definition["Steps"] if s["Name"] == "LeakGate")
    stability = leak_gate["Arguments"]["IfSteps"][0]
    outputs = {o["OutputName"]: o["S3Output"]["LocalPath"]
               for o in stability["Arguments"]["ProcessingOutputConfig"]["Outputs"]}
    assert outputs["baseline"] == "/opt/ml/processing/output/baseline"
    arguments = stability["Arguments"]["AppSpecification"]["ContainerArguments"]
    assert arguments[arguments.index("--baseline-output") + 1] == outputs["baseline"]

    def output(name: str) -> dict:
        return {"Get": f"Steps.FeatureStability.ProcessingOutputConfig.Outputs['{name}'].S3Output.S3Uri"}

    def json_source(name: str, file: str) -> dict:
        return {"ContentType": "application/json", "S3Uri": {"Std:Join": {"On": "/", "Values": [output(name), file]}}}

    registers = [s for s in iter_steps(definition["Steps"]) if s["Type"] == "RegisterModel"]
    assert len(registers) == 3  # one per tuning round
    for register in registers:
        arguments = register["Arguments"]
        metrics = arguments["ModelMetrics"]
        assert metrics["Explainability"] == {"Report": json_source("stability", "analysis.json")}
        assert metrics["ModelDataQuality"] == {"Statistics": json_source("baseline", "statistics.json"),
                                               "Constraints": json_source("baseline", "constraints.json")}
        assert arguments["DriftCheckBaselines"]["ModelDataQuality"] == metrics["ModelDataQuality"]
        metadata = arguments["CustomerMetadataProperties"]
        assert metadata["stability_report"] == {"Std:Join": {"On": "/", "Values": [output("stability"),
                                                                                   "stability_report.json"]}}
        assert metadata["leak_report"]["Std:Join"]["Values"][-1] == "leak_report.json"


def test_off_by_default_and_the_tuning_reads_the_sealed_features():
    definition = _definition(False)
    names = {s["Name"] for s in iter_steps(definition["Steps"])}
    assert "FeatureStability" not in names
    tuning = next(s for s in iter_steps(definition["Steps"]) if s["Type"] == "Tuning")
    train = tuning["Arguments"]["TrainingJobDefinition"]["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"]
    assert "SealLockbox" in train["Get"]  # BuildFeatures' table less the lockbox


def test_feature_stability_takes_the_stability_section_as_its_settings(step_settings):
    """`stability:` (rfe included, issue 19) reaches steps.stability as its own model reads it: off and on."""
    for rfe in ({}, {"rfe": {"enabled": True, "step": 0.25, "min_features": 5}}):
        config = load_config(overrides={"stability": {"enabled": True, "floor": 0.02, **rfe}})
        definition = json.loads(definition_json(get_pipeline(config)))
        leak_gate = next(s for s in definition["Steps"] if s["Name"] == "LeakGate")
        read = step_settings(leak_gate["Arguments"]["IfSteps"][0], StabilitySettings, definition)
        assert read.model_dump() == config.stability.model_dump(exclude={"enabled"})
        assert read.floor == 0.02 and read.rfe.enabled is bool(rfe)
