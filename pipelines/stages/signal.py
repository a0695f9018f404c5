"""Where signal quality shows in the definition: step arguments, Fail messages, the optional Gate-signal, metadata.

The evaluations (steps.evaluate, steps.ensemble) write `signal_quality`, `backtest`, three metrics in
`binary_classification_metrics` and `signal_metadata` strings into evaluation.json (steps/evaluate/signal.py).
This module only points at them:

- the steps' `backtest` settings come from config `backtest:` with the rest of their settings
  (`PipelineConfig.evaluate_settings` / `ensemble_settings`);
- `summary`: the one-line `signal_metadata.summary` ("IC 0.0123 RankIC ... long-short net Sharpe ...") the
  Fail messages of the model and ensemble gates quote beside each AUC;
- `build_signal_gate`: with `backtest.min_net_sharpe` set, Gate-signal[-r] (ensemble holdout long-short net
  Sharpe >= it) before the artifact check, else Fail-signal[-r]; without it, nothing (the definition is
  unchanged);
- `registry_metadata`: holdout IC, Rank IC and net Sharpe as the model package's customer metadata (strings
  within CustomerMetadataValue's pattern, written so by the step: `undefined` where a figure cannot be
  computed, e.g. one ticker per decision time).

An undefined net Sharpe is JSON null in evaluation.json. The gate must refuse it, not pass it and not crash:
the local runner evaluates an ordering comparison with a null operand as false (pipelines/definition/
conditions.py), so Gate-signal takes its else branch and Fail-signal quotes the metadata string `undefined`
(the message quotes the string, not the number, so a null is never rendered into it). On SageMaker a null
operand either compares false or fails the condition step; either way nothing is registered.
"""

from __future__ import annotations

from sagemaker.workflow.condition_step import ConditionStep
from sagemaker.workflow.conditions import ConditionGreaterThanOrEqualTo
from sagemaker.workflow.fail_step import FailStep
from sagemaker.workflow.functions import Join, JsonGet
from sagemaker.workflow.properties import PropertyFile
from sagemaker.workflow.steps import ProcessingStep

from pipelines import sdk  # noqa: F401
from pipelines.stages.context import StageContext

SUMMARY_PATH = "signal_metadata.summary"
NET_SHARPE_PATH = "binary_classification_metrics.long_short_net_sharpe.value"
METADATA_KEYS = ("holdout_ic", "holdout_rank_ic", "holdout_net_sharpe")


def summary(step: ProcessingStep, evaluation: PropertyFile) -> JsonGet:
    return JsonGet(step_name=step.name, property_file=evaluation, json_path=SUMMARY_PATH)


AUC_TEXT_PATH = "signal_metadata.auc"  # the holdout AUC at 4 decimals (steps/common/holdout_report.py)


def as_text(value: JsonGet, path: str = AUC_TEXT_PATH) -> JsonGet:
    """The same report's figure as the text the step writes for messages (a definition cannot round a number)."""
    return JsonGet(step_name=value.step_name, property_file=value.property_file, json_path=path)


def registry_metadata(step: ProcessingStep, evaluation: PropertyFile) -> dict[str, JsonGet]:
    return {key: JsonGet(step_name=step.name, property_file=evaluation, json_path=f"signal_metadata.{key}")
            for key in METADATA_KEYS}


def build_signal_gate(ctx: StageContext, suffix: str, step: ProcessingStep, evaluation: PropertyFile,
                      if_steps: list) -> list:
    """[Gate-signal] wrapping `if_steps` when `backtest.min_net_sharpe` is set; else `if_steps` unchanged."""
    threshold = ctx.config.backtest.min_net_sharpe
    if threshold is None:
        return if_steps
    sharpe = JsonGet(step_name=step.name, property_file=evaluation, json_path=NET_SHARPE_PATH)
    metadata = registry_metadata(step, evaluation)
    fail = FailStep(
        name=f"Fail-signal{suffix}",
        error_message=Join(on="", values=[
            f"Gate-signal{suffix} failed: the ensemble's holdout long-short net Sharpe ",
            metadata["holdout_net_sharpe"],
            f" does not reach backtest.min_net_sharpe {threshold!r} (an undefined Sharpe, e.g. with fewer than two "
            "names per decision time, never does) (", summary(step, evaluation), ")",
        ]),
    )
    gate = ConditionStep(
        name=f"Gate-signal{suffix}",
        conditions=[ConditionGreaterThanOrEqualTo(left=sharpe, right=float(threshold))],
        if_steps=if_steps,
        else_steps=[fail],
    )
    return [gate]
