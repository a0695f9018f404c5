"""Register: a model package in the group, with its metrics, awaiting approval (or the status given)."""

from __future__ import annotations

from sagemaker.model_metrics import MetricsSource, ModelMetrics
from sagemaker.workflow.functions import Join
from sagemaker.workflow.step_collections import RegisterModel
from sagemaker.workflow.steps import ProcessingStep, TuningStep

from pipelines import sdk  # noqa: F401
from pipelines.stages.context import StageContext
from pipelines.stages.tuning import best_model_uri, build_estimator


def build_register_step(
    ctx: StageContext, algorithm: str, tuning_step: TuningStep, evaluation_step: ProcessingStep
) -> RegisterModel:
    evaluation_uri = evaluation_step.properties.ProcessingOutputConfig.Outputs["evaluation"].S3Output.S3Uri
    metrics = ModelMetrics(
        model_statistics=MetricsSource(
            s3_uri=Join(on="/", values=[evaluation_uri, "evaluation.json"]), content_type="application/json"
        )
    )
    return RegisterModel(
        name="Register",
        estimator=build_estimator(ctx, algorithm),
        image_uri=ctx.config.images.serving,
        model_data=best_model_uri(ctx, algorithm, tuning_step),
        content_types=["text/csv", "application/json"],
        response_types=["application/json"],
        inference_instances=ctx.config.instances.inference,
        transform_instances=ctx.config.instances.transform,
        model_package_group_name=ctx.config.registry.model_package_group,
        approval_status=ctx.params.model_approval_status,
        model_metrics=metrics,
        description=f"{algorithm} stock-direction model from pipeline {ctx.config.pipeline.name}",
        customer_metadata_properties={
            "algorithm": algorithm,
            "code_digest": ctx.code.digest,
            "pipeline": ctx.config.pipeline.name,
        },
    )
