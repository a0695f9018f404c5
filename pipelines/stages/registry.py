"""Register[-r]: the ensemble artifact as a model package in the group, awaiting approval (or the status given).

ModelMetrics: the ensemble's evaluation.json (model statistics), the leak report (data statistics of the
features it was trained on) and, when the pipeline has a FeatureStability step, its SHAP stability report
(explainability). Customer metadata: the algorithms ("+"-joined: pipelines/model_metadata.py), the code digest,
the data range and the features manifest.
"""

from __future__ import annotations

from dataclasses import dataclass

from sagemaker.model_metrics import MetricsSource, ModelMetrics
from sagemaker.workflow.functions import Join, JsonGet
from sagemaker.workflow.step_collections import RegisterModel
from sagemaker.workflow.steps import ProcessingStep

from pipelines import sdk  # noqa: F401
from pipelines.model_metadata import encode_list
from pipelines.stages.context import StageContext
from pipelines.stages.ensemble import Ensemble
from pipelines.stages.models import ModelRound
from pipelines.stages.tuning import build_estimator


@dataclass(frozen=True)
class Report:
    """A JSON report one step writes: the step, its output name and the file in that output."""

    step: ProcessingStep
    output_name: str
    file_name: str

    @property
    def uri(self) -> Join:
        output = self.step.properties.ProcessingOutputConfig.Outputs[self.output_name].S3Output.S3Uri
        return Join(on="/", values=[output, self.file_name])


def _json_source(uri: Join) -> MetricsSource:
    return MetricsSource(s3_uri=uri, content_type="application/json")


def build_register_step(
    ctx: StageContext,
    round_: ModelRound,
    ensemble: Ensemble,
    features_step: ProcessingStep,
    leak_report: Report,
    stability_report: Report | None = None,
) -> RegisterModel:
    metrics = ModelMetrics(
        model_statistics=_json_source(Join(on="/", values=[ensemble.output_uri, "evaluation.json"])),
        model_data_statistics=_json_source(leak_report.uri),
        explainability=_json_source(stability_report.uri) if stability_report else None,
    )
    manifest = Report(features_step, "features", "manifest.json")
    return RegisterModel(
        name=f"Register{round_.suffix}",
        estimator=build_estimator(ctx, round_.algorithms[0]),
        image_uri=ctx.config.images.serving,
        model_data=ensemble.artifact_uri,
        content_types=["text/csv", "application/json"],
        response_types=["application/json"],
        inference_instances=ctx.config.instances.inference,
        transform_instances=ctx.config.instances.transform,
        model_package_group_name=ctx.config.registry.model_package_group,
        approval_status=ctx.params.model_approval_status,
        model_metrics=metrics,
        description=f"stacking ensemble of {', '.join(round_.algorithms)} from pipeline {ctx.config.pipeline.name}",
        # Metadata values allow letters, numbers, spaces and _.:/=+-@ only: a list is "+"-joined, never ",".
        customer_metadata_properties={
            "algorithms": encode_list(round_.algorithms),
            "tuning_round": str(round_.number),
            "grouping": ctx.config.training.grouping,
            "code_digest": ctx.code.digest,
            "pipeline": ctx.config.pipeline.name,
            "data_start": JsonGet(s3_uri=manifest.uri, json_path="data_range.rows_start"),
            "data_end": JsonGet(s3_uri=manifest.uri, json_path="data_range.rows_end"),
            # The feature list is in the manifest (`feature_columns`); a metadata value holds 256 characters.
            "features_manifest": manifest.uri,
        },
    )
