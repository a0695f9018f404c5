"""Evaluate-<algorithm> and Gate-<algorithm>: out-of-time holdout AUC, compared with MinModelAUC."""

from __future__ import annotations

from sagemaker.processing import ProcessingInput, ProcessingOutput
from sagemaker.workflow.condition_step import ConditionStep
from sagemaker.workflow.conditions import ConditionGreaterThanOrEqualTo
from sagemaker.workflow.fail_step import FailStep
from sagemaker.workflow.functions import Join, JsonGet
from sagemaker.workflow.properties import PropertyFile
from sagemaker.workflow.steps import ProcessingStep, TuningStep

from pipelines import sdk  # noqa: F401
from pipelines.stages.checks import FEATURES_IN
from pipelines.stages.context import PROCESSING_ROOT, StageContext
from pipelines.stages.tuning import best_model_uri

MODEL_IN = f"{PROCESSING_ROOT}/input/model"
EVALUATION_DIR = f"{PROCESSING_ROOT}/output/evaluation"
AUC_JSON_PATH = "binary_classification_metrics.auc.value"


def build_evaluation_step(
    ctx: StageContext, algorithm: str, tuning_step: TuningStep, features_step: ProcessingStep
) -> tuple[ProcessingStep, PropertyFile]:
    evaluation = PropertyFile(name=f"Evaluation-{algorithm}", output_name="evaluation", path="evaluation.json")
    processor = ctx.processor("steps.evaluate", f"evaluate-{algorithm}")
    features_uri = features_step.properties.ProcessingOutputConfig.Outputs["features"].S3Output.S3Uri
    step_args = processor.run(
        inputs=[
            ctx.code_input(),
            ProcessingInput(
                source=best_model_uri(ctx, algorithm, tuning_step), destination=MODEL_IN, input_name="model"
            ),
            ProcessingInput(source=features_uri, destination=FEATURES_IN, input_name="features"),
        ],
        outputs=[
            ProcessingOutput(
                output_name="evaluation",
                source=EVALUATION_DIR,
                destination=ctx.output_uri(f"Evaluate-{algorithm}", "evaluation"),
            )
        ],
        arguments=[
            "--model",
            MODEL_IN,
            "--features",
            FEATURES_IN,
            "--output",
            EVALUATION_DIR,
            "--algorithm",
            algorithm,
        ],
    )
    step = ProcessingStep(
        name=f"Evaluate-{algorithm}",
        step_args=step_args,
        property_files=[evaluation],
        cache_config=ctx.cache,
        retry_policies=ctx.retry_policies,
    )
    return step, evaluation


def holdout_auc(evaluation_step: ProcessingStep, evaluation: PropertyFile) -> JsonGet:
    return JsonGet(step_name=evaluation_step.name, property_file=evaluation, json_path=AUC_JSON_PATH)


def build_model_gate(
    ctx: StageContext,
    algorithm: str,
    evaluation_step: ProcessingStep,
    evaluation: PropertyFile,
    if_steps: list,
) -> ConditionStep:
    """AUC >= MinModelAUC releases the true branch; otherwise a FailStep says which model and by how much."""
    auc = holdout_auc(evaluation_step, evaluation)
    fail = FailStep(
        name=f"Fail-{algorithm}",
        error_message=Join(
            on=" ",
            values=[
                f"Gate-{algorithm} failed: {algorithm} holdout AUC",
                auc,
                "is below MinModelAUC",
                ctx.params.min_model_auc,
            ],
        ),
    )
    return ConditionStep(
        name=f"Gate-{algorithm}",
        conditions=[ConditionGreaterThanOrEqualTo(left=auc, right=ctx.params.min_model_auc)],
        if_steps=if_steps,
        else_steps=[fail],
    )
