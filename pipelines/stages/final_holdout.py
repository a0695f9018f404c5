"""FinalHoldout[-r] -> Gate-final[-r] -> Register[-r]: the lockbox, opened once, after the round loop has ended.

Gate-artifact[-r] passing is the last selection gate of round r: no later round can run after it. Only then
does FinalHoldout[-r] take SealLockbox's `lockbox` output (its only reader; lockbox.py) and score the ensemble
artifact on the final holdout, with the selection holdout's figures beside and the looks counted (every
algorithm's last Evaluate output holds the trials of every round so far: steps/evaluate/trials.py).

Gate-final[-r]: final-holdout AUC >= MinFinalAUC and <= the horizon's plausible ceiling, else Fail-final[-r],
naming both holdouts' AUC and the number of looks. Register[-r] registers the final holdout's evaluation.json as
the model quality metrics. A processing job takes at most 10 inputs: code, the ensemble output, the features,
the lockbox and one per algorithm (4 families today; tests/pipelines hold a definition to the limit).
"""

from __future__ import annotations

from dataclasses import dataclass

from sagemaker.processing import ProcessingInput, ProcessingOutput
from sagemaker.workflow.condition_step import ConditionStep
from sagemaker.workflow.conditions import ConditionGreaterThanOrEqualTo, ConditionLessThanOrEqualTo
from sagemaker.workflow.fail_step import FailStep
from sagemaker.workflow.functions import Join, JsonGet
from sagemaker.workflow.properties import PropertyFile
from sagemaker.workflow.steps import ProcessingStep

from pipelines import sdk  # noqa: F401
from pipelines.stages.context import PROCESSING_ROOT, StageContext
from pipelines.stages.evaluation import AUC_JSON_PATH, evaluation_uri
from pipelines.stages.features import FEATURES_IN, features_input
from pipelines.stages.lockbox import lockbox_uri
from pipelines.stages.models import ModelRound
from steps.common.settings import settings_arguments

ENSEMBLE_IN = f"{PROCESSING_ROOT}/input/ensemble"
LOCKBOX_IN = f"{PROCESSING_ROOT}/input/lockbox"
TRIALS_IN = f"{PROCESSING_ROOT}/input/trials"
FINAL_DIR = f"{PROCESSING_ROOT}/output/final"
FINAL_OUTPUT = "final"
SUMMARY_PATH = "final_metadata.summary"
METADATA_KEYS = ("final_auc", "selection_auc", "looks", "selection_dsr", "pbo")


@dataclass
class FinalHoldout:
    step: ProcessingStep
    evaluation: PropertyFile

    @property
    def output_uri(self):
        return self.step.properties.ProcessingOutputConfig.Outputs[FINAL_OUTPUT].S3Output.S3Uri

    def get(self, path: str) -> JsonGet:
        return JsonGet(step_name=self.step.name, property_file=self.evaluation, json_path=path)

    def metadata(self) -> dict[str, JsonGet]:
        """The final and selection figures as the model package's customer metadata (strings the step writes
        within CustomerMetadataValue's pattern)."""
        return {key: self.get(f"final_metadata.{key}") for key in METADATA_KEYS}


def build_final_holdout_step(ctx: StageContext, round_: ModelRound, ensemble_uri, features_step: ProcessingStep,
                             seal_step: ProcessingStep) -> FinalHoldout:
    name = f"FinalHoldout{round_.suffix}"
    evaluation = PropertyFile(name=f"FinalEvaluation{round_.suffix}", output_name=FINAL_OUTPUT,
                              path="evaluation.json")
    inputs = [
        ctx.code_input(),
        ProcessingInput(source=ensemble_uri, destination=ENSEMBLE_IN, input_name="ensemble"),
        features_input(features_step),
        ProcessingInput(source=lockbox_uri(seal_step), destination=LOCKBOX_IN, input_name="lockbox"),
    ]
    for algorithm in round_.algorithms:
        step, _ = round_.evaluations[algorithm]
        inputs.append(ProcessingInput(source=evaluation_uri(step), destination=f"{TRIALS_IN}/{algorithm}",
                                      input_name=f"trials-{algorithm}"))
    processor = ctx.processor("steps.final_holdout", "final-holdout")
    step_args = processor.run(
        inputs=inputs,
        outputs=[ProcessingOutput(output_name=FINAL_OUTPUT, source=FINAL_DIR,
                                  destination=ctx.output_uri(name, FINAL_OUTPUT))],
        arguments=[
            "--model", ENSEMBLE_IN, "--features", FEATURES_IN, "--lockbox", LOCKBOX_IN, "--trials", TRIALS_IN,
            "--output", FINAL_DIR,
            *settings_arguments(ctx.config.final_holdout_settings().model_dump(mode="json", exclude_unset=True)),
        ],
    )
    return FinalHoldout(ctx.processing_step(name, step_args, [evaluation]), evaluation)


DSR_PATH = "selection.selection_holdout.dsr.dsr"
PBO_PATH = "selection.pbo.pbo"


def build_final_gate(ctx: StageContext, round_: ModelRound, final: FinalHoldout, if_steps: list) -> ConditionStep:
    """Gate-final[-r]: the lockbox AUC within [MinFinalAUC, the horizon's ceiling], and with `gates.min_dsr` /
    `gates.max_pbo` set the selection statistics too; else Fail-final[-r]."""
    auc = final.get(AUC_JSON_PATH)
    gates = ctx.config.gates
    ceiling = ctx.config.plausibility.max_holdout_auc
    conditions = [ConditionGreaterThanOrEqualTo(left=auc, right=ctx.params.min_final_auc),
                  ConditionLessThanOrEqualTo(left=auc, right=ceiling)]
    optional = ""
    if gates.min_dsr is not None:
        conditions.append(ConditionGreaterThanOrEqualTo(left=final.get(DSR_PATH), right=float(gates.min_dsr)))
        optional += f", the deflated Sharpe ratio must reach gates.min_dsr {gates.min_dsr!r}"
    if gates.max_pbo is not None:
        conditions.append(ConditionLessThanOrEqualTo(left=final.get(PBO_PATH), right=float(gates.max_pbo)))
        optional += f", the probability of backtest overfitting must stay <= gates.max_pbo {gates.max_pbo!r}"
    message = Join(on="", values=[
        f"Gate-final{round_.suffix} failed: the final holdout (the lockbox, scored once after the rounds) AUC ",
        final.get("final_metadata.final_auc"), " must reach MinFinalAUC ", ctx.params.min_final_auc,
        f" and stay <= the plausible ceiling {ceiling}{optional}; the selection holdout said ",
        final.get("final_metadata.selection_auc"), " after ", final.get("final_metadata.looks"),
        " looks, so nothing is registered (", final.get(SUMMARY_PATH), ")",
    ])
    return ConditionStep(
        name=f"Gate-final{round_.suffix}",
        conditions=conditions,
        if_steps=if_steps,
        else_steps=[FailStep(name=f"Fail-final{round_.suffix}", error_message=message)],
    )
