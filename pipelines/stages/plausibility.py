"""Gate-plausible[-r] and Gate-plausible-ensemble[-r]: an out-of-time AUC above what the data allows stops the run.

Plausibility depends on the data (configs/pipeline.yaml `leaks.plausibility`, one entry per bar frequency
and label horizon; docs/leaks.md). On next-session index direction honest models score 0.45-0.58, so a
holdout AUC of 0.667 is a leak in the input data or the features, not a discovery: a flag in
evaluation.json is not enough, the run must not reach Register. Each tuning round's AUCs are held to the
ceiling right after the evaluations, before Gate-models (so an implausible round is not re-tuned, and the
message says why it stopped), and the ensemble's before CheckArtifact and Register.

The ceiling is a literal of the definition, not a pipeline parameter: raising it means changing the
configuration and publishing again (visible in the definition's diff), not a value typed at start time.
"""

from __future__ import annotations

from sagemaker.workflow.condition_step import ConditionStep
from sagemaker.workflow.conditions import ConditionLessThanOrEqualTo
from sagemaker.workflow.fail_step import FailStep
from sagemaker.workflow.functions import Join, JsonGet

from pipelines import sdk  # noqa: F401
from pipelines.config import horizon_key
from pipelines.stages.context import StageContext
from pipelines.stages.signal import as_text


def build_plausibility_gate(
    ctx: StageContext, name: str, fail_name: str, aucs: dict[str, JsonGet], if_steps: list
) -> ConditionStep:
    """Every AUC in `aucs` (label -> the evaluation's value) <= the horizon's max_holdout_auc, else `fail_name`."""
    key = horizon_key(ctx.config.features)
    ceiling = ctx.config.plausibility.max_holdout_auc
    values: list = [
        f"{name} failed: a holdout AUC above {ceiling} is implausible for {ctx.config.features.frequency} bars "
        f"with a {ctx.config.features.label_horizon_bars}-bar label horizon (leaks.plausibility {key} "
        "max_holdout_auc; docs/leaks.md): a leak in the input data or the features is likelier than skill, so "
        "nothing is registered. Holdout AUC:",
    ]
    for label, auc in aucs.items():
        values += [f" {label} ", as_text(auc), ";"]
    return ConditionStep(
        name=name,
        conditions=[ConditionLessThanOrEqualTo(left=auc, right=ceiling) for auc in aucs.values()],
        if_steps=if_steps,
        # One flat Join (no nested functions), with the spacing in the literals, as Fail-models.
        else_steps=[FailStep(name=fail_name, error_message=Join(on="", values=values))],
    )
