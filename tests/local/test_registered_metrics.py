"""The registered package's ModelMetrics are Studio-native, end to end on the real steps (issue 21, item 4).

With FeatureStability: ModelDataQuality and DriftCheckBaselines name its Model Monitor baseline over the
selected columns, Explainability its Clarify analysis.json, and the project's own reports are customer
metadata URIs; every URI names a file the run wrote (CreateModelPackage itself was validated against
botocore's model by the runner). Formats and numbers: tests/steps/test_baseline.py, test_stability.py.
"""

from __future__ import annotations

import json

import pytest

from pipelines.config import load_config
from pipelines.emulator import Emulator
from pipelines.local.executor import RunOptions
from pipelines.local.runner import run_config


@pytest.mark.slow
def test_registered_package_points_at_model_monitor_baseline_and_clarify_shap_values(tmp_path):
    from sagemaker.model_card import EvaluationJob, EvaluationMetricTypeEnum

    config = load_config(profile="quick", overrides={"sample_data": {"tickers": 4}, "stability": {"enabled": True}})
    lines: list[str] = []
    run_dir = tmp_path / "runs"
    result = run_config(config, RunOptions(run_dir=run_dir, max_trials=1, cores=2, echo=lines.append,
                                           parameters={"MinModelAUC": "0.5", "MinEnsembleAUC": "0.5"}))
    assert result.exit_code == 0 and result.record.model_package_arn, lines[-20:]
    with Emulator(run_dir / ".emulator") as emulator:
        package = emulator.client("sagemaker").describe_model_package(
            ModelPackageName=result.record.model_package_arn)

    store = run_dir / "s3"

    def read(uri: str) -> dict:
        return json.loads((store / uri.removeprefix("s3://")).read_text())

    metrics = package["ModelMetrics"]
    baseline = result.steps["FeatureStability"].outputs["baseline"]
    assert metrics["ModelDataQuality"] == {
        "Statistics": {"ContentType": "application/json", "S3Uri": f"{baseline}/statistics.json"},
        "Constraints": {"ContentType": "application/json", "S3Uri": f"{baseline}/constraints.json"},
    }
    assert package["DriftCheckBaselines"]["ModelDataQuality"] == metrics["ModelDataQuality"]
    stability = result.steps["FeatureStability"].outputs["stability"]
    selected = read(f"{stability}/selected_features.json")["selected"]
    statistics = read(metrics["ModelDataQuality"]["Statistics"]["S3Uri"])
    constraints = read(metrics["ModelDataQuality"]["Constraints"]["S3Uri"])
    assert [f["name"] for f in statistics["features"]] == selected  # the columns every model takes
    assert [f["name"] for f in constraints["features"]] == selected
    assert statistics["dataset"]["item_count"] > 0

    assert metrics["Explainability"]["Report"]["S3Uri"] == f"{stability}/analysis.json"
    job = EvaluationJob(name="Explainability report")
    job.add_metric_group_from_json(str(store / f"{stability}/analysis.json".removeprefix("s3://")),
                                   metric_type=EvaluationMetricTypeEnum.CLARIFY_EXPLAINABILITY)
    assert job.metric_groups[0].name == "explanations - global_shap_values, label=label0"

    metadata = package["CustomerMetadataProperties"]
    assert read(metadata["leak_report"])["passed"] is True
    assert read(metadata["stability_report"])["selected"] == selected
