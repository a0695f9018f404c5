"""The model zoo in tuning rounds: Tune-<alg> + Evaluate-<alg> for every algorithm, then one Gate-models.

SageMaker cannot express "continue after whichever nested attempt passed", so re-tuning is by rounds:

    round 1: Tune-<alg>, Evaluate-<alg> (every algorithm, in parallel) -> Gate-plausible -> Gate-models
             Gate-plausible false -> Fail-implausible (an AUC above the horizon's ceiling: plausibility.py)
             Gate-models true  -> the ensemble chain of round 1 (ensemble.py)
             Gate-models false -> round 2
    round r: Tune-<alg>-r warm-started from Tune-<alg> ... Tune-<alg>-(r-1) (every earlier round a parent:
             warm start is not recursive), Evaluate-<alg>-r of its OverallBestTrainingJob
             -> Gate-models-r, true -> the ensemble chain of round r, false -> round r+1
    last round's false branch: Fail-models, naming every algorithm with its holdout AUC and the threshold.

Gate-models is an AND over algorithms of `holdout AUC >= MinModelAUC`; the number of rounds is
`gates.max_tuning_attempts`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sagemaker.workflow.condition_step import ConditionStep
from sagemaker.workflow.conditions import ConditionGreaterThanOrEqualTo
from sagemaker.workflow.fail_step import FailStep
from sagemaker.workflow.functions import Join, JsonGet
from sagemaker.workflow.properties import PropertyFile
from sagemaker.workflow.steps import ProcessingStep, TuningStep

from pipelines import sdk  # noqa: F401
from pipelines.stages.context import StageContext
from pipelines.stages.evaluation import build_evaluation_step, holdout_auc
from pipelines.stages.plausibility import build_plausibility_gate
from pipelines.stages.signal import as_text, summary
from pipelines.stages.tuning import best_model_uri, build_tuning_step, round_suffix


@dataclass
class ModelRound:
    """One tuning round: per algorithm its tuning step, best model URI and evaluation."""

    number: int
    algorithms: list[str]
    tuning: dict[str, TuningStep] = field(default_factory=dict)
    model_uris: dict[str, object] = field(default_factory=dict)
    evaluations: dict[str, tuple[ProcessingStep, PropertyFile]] = field(default_factory=dict)

    @property
    def suffix(self) -> str:
        return round_suffix(self.number)

    @property
    def steps(self) -> list:
        return [*self.tuning.values(), *(step for step, _ in self.evaluations.values())]

    def auc(self, algorithm: str) -> JsonGet:
        return holdout_auc(*self.evaluations[algorithm])


def build_model_round(
    ctx: StageContext, features_step: ProcessingStep, number: int, earlier: Sequence[ModelRound] = ()
) -> ModelRound:
    """Round `number`; its tuning steps name the same algorithm's step of every round in `earlier` as a parent."""
    algorithms = list(ctx.config.algorithms)
    round_ = ModelRound(number=number, algorithms=algorithms)
    for algorithm in algorithms:
        parents = [previous.tuning[algorithm] for previous in earlier]
        tune = build_tuning_step(ctx, algorithm, features_step, round_number=number, parents=parents)
        model_uri = best_model_uri(ctx, algorithm, tune, warm_started=bool(parents))
        round_.tuning[algorithm] = tune
        round_.model_uris[algorithm] = model_uri
        earlier_evaluation = earlier[-1].evaluations[algorithm][0] if earlier else None
        round_.evaluations[algorithm] = build_evaluation_step(ctx, algorithm, model_uri, features_step, number,
                                                              tuning_step=tune, earlier=earlier_evaluation)
    return round_


def build_fail_models(ctx: StageContext, last: ModelRound) -> FailStep:
    """Every algorithm with its holdout AUC and the threshold, so the message names the model(s) below it."""
    rounds = last.number
    values: list = [
        f"Gate-models{last.suffix} failed after {rounds} tuning round{'s' if rounds > 1 else ''}: "
        "every model must reach MinModelAUC ",
        ctx.params.min_model_auc,
        f" on the holdout. Round {rounds} holdout AUC:",
    ]
    for algorithm in last.algorithms:
        values += [f" {algorithm} ", as_text(last.auc(algorithm)), " (", summary(*last.evaluations[algorithm]), ");"]
    # One flat Join (no nested functions), with the spacing in the literals.
    return FailStep(name="Fail-models", error_message=Join(on="", values=values))


def build_model_gate(ctx: StageContext, round_: ModelRound, if_steps: list, else_steps: list) -> ConditionStep:
    return ConditionStep(
        name=f"Gate-models{round_.suffix}",
        conditions=[
            ConditionGreaterThanOrEqualTo(left=round_.auc(algorithm), right=ctx.params.min_model_auc)
            for algorithm in round_.algorithms
        ],
        if_steps=if_steps,
        else_steps=else_steps,
    )


def build_model_rounds(
    ctx: StageContext, features_step: ProcessingStep, on_pass: Callable[[ModelRound], list]
) -> list:
    """The steps of round 1 and its gate; each gate's false branch nests the next round.

    `on_pass(round)` builds what follows a passed Gate-models of that round (the ensemble chain).
    """
    rounds: list[ModelRound] = []
    for number in range(1, ctx.config.gates.max_tuning_attempts + 1):
        rounds.append(build_model_round(ctx, features_step, number, earlier=list(rounds)))
    else_steps: list = [build_fail_models(ctx, rounds[-1])]
    for round_ in reversed(rounds):
        gate = build_model_gate(ctx, round_, if_steps=on_pass(round_), else_steps=else_steps)
        plausible = build_plausibility_gate(
            ctx, f"Gate-plausible{round_.suffix}", f"Fail-implausible{round_.suffix}",
            {algorithm: round_.auc(algorithm) for algorithm in round_.algorithms}, if_steps=[gate],
        )
        else_steps = [*round_.steps, plausible]
    return else_steps
