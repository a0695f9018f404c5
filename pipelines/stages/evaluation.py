"""Evaluate-<algorithm>[-<round>]: out-of-time holdout AUC (and breakdowns) of one tuning round's best model."""

from __future__ import annotations

from sagemaker.processing import ProcessingInput, ProcessingOutput
from sagemaker.workflow.functions import JsonGet
from sagemaker.workflow.properties import PropertyFile
from sagemaker.workflow.steps import ProcessingStep

from pipelines import sdk  # noqa: F401
from pipelines.stages.context import PROCESSING_ROOT, StageContext
from pipelines.stages.features import FEATURES_IN, features_input
from pipelines.stages.tuning import round_suffix
from steps.common.settings import settings_arguments

MODEL_IN = f"{PROCESSING_ROOT}/input/model"
EVALUATION_DIR = f"{PROCESSING_ROOT}/output/evaluation"
AUC_JSON_PATH = "binary_classification_metrics.auc.value"


def build_evaluation_step(
    ctx: StageContext, algorithm: str, model_uri, features_step: ProcessingStep, round_number: int = 1
) -> tuple[ProcessingStep, PropertyFile]:
    name = f"Evaluate-{algorithm}{round_suffix(round_number)}"
    evaluation = PropertyFile(
        name=f"Evaluation-{algorithm}{round_suffix(round_number)}", output_name="evaluation", path="evaluation.json"
    )
    processor = ctx.processor("steps.evaluate", f"evaluate-{algorithm}")
    step_args = processor.run(
        inputs=[
            ctx.code_input(),
            ProcessingInput(source=model_uri, destination=MODEL_IN, input_name="model"),
            features_input(features_step),
        ],
        outputs=[
            ProcessingOutput(
                output_name="evaluation", source=EVALUATION_DIR, destination=ctx.output_uri(name, "evaluation")
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
            # what the config sets (the horizon's ceiling, the backtest); the step's defaults for the rest
            *settings_arguments(ctx.config.evaluate_settings().model_dump(mode="json", exclude_unset=True)),
        ],
    )
    return ctx.processing_step(name, step_args, [evaluation]), evaluation


def holdout_auc(evaluation_step: ProcessingStep, evaluation: PropertyFile) -> JsonGet:
    return JsonGet(step_name=evaluation_step.name, property_file=evaluation, json_path=AUC_JSON_PATH)
