"""Evaluate-<algorithm>[-<round>]: out-of-time holdout AUC (and breakdowns) of one tuning round's best model.

It also collects the round's tuning trials' out-of-fold predictions, with the previous round's collection, for
the count of looks that FinalHoldout reports (steps/evaluate/trials.py says why here): the trial archives are one
S3 key prefix, `<models>/<algorithm>/<tuning job name>-` (SageMaker names a tuning job's training jobs
`<tuning job name>-<NNN>-<hash>`, and writes each under the estimator's output path).
"""

from __future__ import annotations

from sagemaker.processing import ProcessingInput, ProcessingOutput
from sagemaker.workflow.functions import Join, JsonGet
from sagemaker.workflow.properties import PropertyFile
from sagemaker.workflow.steps import ProcessingStep, TuningStep

from pipelines import sdk  # noqa: F401
from pipelines.stages.context import PROCESSING_ROOT, StageContext
from pipelines.stages.features import FEATURES_IN, features_input
from pipelines.stages.tuning import round_suffix
from steps.common.settings import settings_arguments

MODEL_IN = f"{PROCESSING_ROOT}/input/model"
TRIALS_IN = f"{PROCESSING_ROOT}/input/trials"
EARLIER_TRIALS_IN = f"{PROCESSING_ROOT}/input/earlier-trials"
EVALUATION_DIR = f"{PROCESSING_ROOT}/output/evaluation"
EVALUATION_OUTPUT = "evaluation"
AUC_JSON_PATH = "binary_classification_metrics.auc.value"


def trials_prefix(ctx: StageContext, algorithm: str, tuning_step: TuningStep) -> Join:
    """Every training job the tuning job launched: the key prefix `<models>/<algorithm>/<tuning job name>-`."""
    return Join(on="", values=[ctx.s3("models", algorithm) + "/",
                               tuning_step.properties.HyperParameterTuningJobName, "-"])


def evaluation_uri(step: ProcessingStep):
    return step.properties.ProcessingOutputConfig.Outputs[EVALUATION_OUTPUT].S3Output.S3Uri


def build_evaluation_step(
    ctx: StageContext, algorithm: str, model_uri, features_step: ProcessingStep, round_number: int = 1,
    tuning_step: TuningStep | None = None, earlier: ProcessingStep | None = None,
) -> tuple[ProcessingStep, PropertyFile]:
    """`tuning_step`: collect its trials too; `earlier`: the previous round's Evaluate step of the same algorithm,
    whose collection this one extends."""
    name = f"Evaluate-{algorithm}{round_suffix(round_number)}"
    evaluation = PropertyFile(
        name=f"Evaluation-{algorithm}{round_suffix(round_number)}", output_name="evaluation", path="evaluation.json"
    )
    processor = ctx.processor("steps.evaluate", f"evaluate-{algorithm}")
    trial_inputs, trial_arguments = [], []
    if tuning_step is not None:
        trial_inputs.append(ProcessingInput(source=trials_prefix(ctx, algorithm, tuning_step),
                                            destination=TRIALS_IN, input_name="trials"))
        trial_arguments += ["--trials", TRIALS_IN, "--round", f"round-{round_number}", "--trials-completed",
                            Join(on="", values=[tuning_step.properties.TrainingJobStatusCounters.Completed])]
    if earlier is not None:
        trial_inputs.append(ProcessingInput(source=evaluation_uri(earlier), destination=EARLIER_TRIALS_IN,
                                            input_name="earlier-trials"))
        trial_arguments += ["--earlier-trials", EARLIER_TRIALS_IN]
    step_args = processor.run(
        inputs=[
            ctx.code_input(),
            ProcessingInput(source=model_uri, destination=MODEL_IN, input_name="model"),
            features_input(features_step),
            *trial_inputs,
        ],
        outputs=[
            ProcessingOutput(
                output_name=EVALUATION_OUTPUT, source=EVALUATION_DIR, destination=ctx.output_uri(name, "evaluation")
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
            *trial_arguments,
            # what the config sets (the horizon's ceiling, the backtest); the step's defaults for the rest
            *settings_arguments(ctx.config.evaluate_settings().model_dump(mode="json", exclude_unset=True)),
        ],
    )
    return ctx.processing_step(name, step_args, [evaluation]), evaluation


def holdout_auc(evaluation_step: ProcessingStep, evaluation: PropertyFile) -> JsonGet:
    return JsonGet(step_name=evaluation_step.name, property_file=evaluation, json_path=AUC_JSON_PATH)
