"""What follows a passed Gate-models: BuildEnsemble -> Gate-ensemble -> CheckArtifact -> Gate-artifact -> Register.

    BuildEnsemble[-r]   stacking on the round's best models' out-of-fold predictions (steps.ensemble)
    Gate-ensemble[-r]   ensemble AUC >= MinEnsembleAUC and ensemble.beats_best_single, else Fail-ensemble[-r]
    Gate-plausible-ensemble[-r]  ensemble AUC <= the horizon's plausible ceiling, else Fail-implausible-ensemble[-r]
    CheckArtifact[-r]   the packed artifact, loaded fresh through the serving code, reproduces the holdout
                        predictions (steps.check_artifact)
    Gate-artifact[-r]   check_report passed, else Fail-artifact[-r]: the last gate of the round loop
    FinalHoldout[-r]    the lockbox opened: the artifact scored once on the final holdout (final_holdout.py)
    Gate-final[-r]      final holdout AUC >= MinFinalAUC and <= the ceiling, else Fail-final[-r]
    Register[-r]        the ensemble artifact as a model package (registry.py)

Container paths and files follow docs/steps.md.
"""

from __future__ import annotations

from dataclasses import dataclass

from sagemaker.processing import ProcessingInput, ProcessingOutput
from sagemaker.workflow.condition_step import ConditionStep
from sagemaker.workflow.conditions import ConditionEquals, ConditionGreaterThanOrEqualTo
from sagemaker.workflow.fail_step import FailStep
from sagemaker.workflow.functions import Join, JsonGet
from sagemaker.workflow.properties import PropertyFile
from sagemaker.workflow.steps import ProcessingStep

from pipelines import sdk  # noqa: F401
from pipelines.stages.context import PROCESSING_ROOT, StageContext
from pipelines.stages.evaluation import AUC_JSON_PATH
from pipelines.stages.features import FEATURES_IN, features_input
from pipelines.stages.final_holdout import build_final_gate, build_final_holdout_step
from pipelines.stages.models import ModelRound
from pipelines.stages.plausibility import build_plausibility_gate
from pipelines.stages.report_gate import build_report_gate
from pipelines.stages.signal import as_text, build_signal_gate, summary
from steps.common.settings import settings_arguments

MODELS_IN = f"{PROCESSING_ROOT}/input/models"
EVALUATIONS_IN = f"{PROCESSING_ROOT}/input/evaluations"
ENSEMBLE_DIR = f"{PROCESSING_ROOT}/output/ensemble"
MODEL_IN = f"{PROCESSING_ROOT}/input/model"
EVALUATION_IN = f"{PROCESSING_ROOT}/input/evaluation"
CHECK_DIR = f"{PROCESSING_ROOT}/output/check"


@dataclass
class Ensemble:
    step: ProcessingStep
    evaluation: PropertyFile

    @property
    def output_uri(self):
        return self.step.properties.ProcessingOutputConfig.Outputs["ensemble"].S3Output.S3Uri

    @property
    def artifact_uri(self) -> Join:
        return Join(on="/", values=[self.output_uri, "model.tar.gz"])

    def get(self, path: str) -> JsonGet:
        return JsonGet(step_name=self.step.name, property_file=self.evaluation, json_path=path)


def build_ensemble_step(ctx: StageContext, round_: ModelRound, features_step: ProcessingStep) -> Ensemble:
    name = f"BuildEnsemble{round_.suffix}"
    evaluation = PropertyFile(
        name=f"EnsembleEvaluation{round_.suffix}", output_name="ensemble", path="evaluation.json"
    )
    inputs = [ctx.code_input()]
    for algorithm in round_.algorithms:
        step, _ = round_.evaluations[algorithm]
        inputs += [
            ProcessingInput(
                source=round_.model_uris[algorithm],
                destination=f"{MODELS_IN}/{algorithm}",
                input_name=f"model-{algorithm}",
            ),
            ProcessingInput(
                source=step.properties.ProcessingOutputConfig.Outputs["evaluation"].S3Output.S3Uri,
                destination=f"{EVALUATIONS_IN}/{algorithm}",
                input_name=f"evaluation-{algorithm}",
            ),
        ]
    inputs.append(features_input(features_step))
    processor = ctx.processor("steps.ensemble", "build-ensemble")
    step_args = processor.run(
        inputs=inputs,
        outputs=[
            ProcessingOutput(output_name="ensemble", source=ENSEMBLE_DIR, destination=ctx.output_uri(name, "ensemble"))
        ],
        arguments=[
            "--models",
            MODELS_IN,
            "--evaluations",
            EVALUATIONS_IN,
            "--features",
            FEATURES_IN,
            "--output",
            ENSEMBLE_DIR,
            # what the config sets (the gate's margin, the backtest); the step's defaults for the rest
            *settings_arguments(ctx.config.ensemble_settings().model_dump(mode="json", exclude_unset=True)),
        ],
    )
    return Ensemble(ctx.processing_step(name, step_args, [evaluation]), evaluation)


def build_check_step(
    ctx: StageContext, round_: ModelRound, ensemble: Ensemble, features_step: ProcessingStep
) -> tuple[ProcessingStep, PropertyFile]:
    name = f"CheckArtifact{round_.suffix}"
    report = PropertyFile(name=f"ArtifactCheck{round_.suffix}", output_name="check", path="check_report.json")
    processor = ctx.processor("steps.check_artifact", "check-artifact")
    step_args = processor.run(
        inputs=[
            ctx.code_input(),
            ProcessingInput(source=ensemble.artifact_uri, destination=MODEL_IN, input_name="model"),
            features_input(features_step),
            ProcessingInput(source=ensemble.output_uri, destination=EVALUATION_IN, input_name="evaluation"),
        ],
        outputs=[ProcessingOutput(output_name="check", source=CHECK_DIR, destination=ctx.output_uri(name, "check"))],
        arguments=[
            "--model",
            MODEL_IN,
            "--features",
            FEATURES_IN,
            "--evaluation",
            EVALUATION_IN,
            "--output",
            CHECK_DIR,
            # The report's `passed` is what Gate-artifact reads; the step itself succeeds so the gate decides.
            "--fail-on-mismatch",
            "false",
        ],
    )
    return ctx.processing_step(name, step_args, [report]), report


def build_ensemble_chain(
    ctx: StageContext, round_: ModelRound, features_step: ProcessingStep, seal_step: ProcessingStep, register_builder
) -> list:
    """[BuildEnsemble, Gate-ensemble] of one round; `register_builder(round_, ensemble, final)` builds its
    Register."""
    ensemble = build_ensemble_step(ctx, round_, features_step)
    check, report = build_check_step(ctx, round_, ensemble, features_step)
    final = build_final_holdout_step(ctx, round_, ensemble.output_uri, features_step, seal_step)
    register = register_builder(round_, ensemble, final)
    artifact_gate = build_report_gate(
        f"Gate-artifact{round_.suffix}", f"Fail-artifact{round_.suffix}", check, report,
        "The ensemble artifact does not reproduce its holdout predictions when loaded through the serving code:",
        if_steps=[final.step, build_final_gate(ctx, round_, final, if_steps=[register])],
    )
    ensemble_auc = ensemble.get(AUC_JSON_PATH)
    plausible = build_plausibility_gate(
        ctx, f"Gate-plausible-ensemble{round_.suffix}", f"Fail-implausible-ensemble{round_.suffix}",
        {"ensemble": ensemble_auc},
        if_steps=build_signal_gate(ctx, round_.suffix, ensemble.step, ensemble.evaluation, [check, artifact_gate]),
    )
    ensemble_gate = ConditionStep(
        name=f"Gate-ensemble{round_.suffix}",
        conditions=[
            ConditionGreaterThanOrEqualTo(left=ensemble_auc, right=ctx.params.min_ensemble_auc),
            ConditionEquals(left=ensemble.get("ensemble.beats_best_single"), right=True),
        ],
        if_steps=[plausible],
        else_steps=[
            FailStep(
                name=f"Fail-ensemble{round_.suffix}",
                error_message=Join(
                    on="",
                    values=[
                        f"Gate-ensemble{round_.suffix} failed: ensemble holdout AUC ",
                        as_text(ensemble_auc),
                        " (needs >= MinEnsembleAUC ",
                        ctx.params.min_ensemble_auc,
                        ") vs best single model ",
                        ensemble.get("ensemble.best_single_algorithm"),
                        " ",
                        ensemble.get("signal_metadata.best_single_auc"),
                        " (needs >= best single - margin ",
                        ensemble.get("ensemble.margin"),
                        "); ensemble holdout ",
                        summary(ensemble.step, ensemble.evaluation),
                    ],
                ),
            )
        ],
    )
    return [ensemble.step, ensemble_gate]
