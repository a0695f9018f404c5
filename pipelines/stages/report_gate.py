"""A gate on a check step's own verdict: its JSON report says `passed`, else the run stops quoting its `summary`.

LeakGate (steps.leaks' leak_report.json) and Gate-artifact[-r] (steps.check_artifact's check_report.json) have this
shape: the step succeeds whatever it finds, so that the gate decides and the Fail step's message says why.
"""

from __future__ import annotations

from sagemaker.workflow.condition_step import ConditionStep
from sagemaker.workflow.conditions import ConditionEquals
from sagemaker.workflow.fail_step import FailStep
from sagemaker.workflow.functions import Join, JsonGet
from sagemaker.workflow.properties import PropertyFile
from sagemaker.workflow.steps import ProcessingStep

from pipelines import sdk  # noqa: F401


def build_report_gate(name: str, fail_name: str, step: ProcessingStep, report: PropertyFile, failure: str,
                      if_steps: list) -> ConditionStep:
    """`if_steps` when the report's `passed` is true, else `fail_name` with `failure` and the report's `summary`."""

    def reported(json_path: str) -> JsonGet:
        return JsonGet(step_name=step.name, property_file=report, json_path=json_path)

    fail = FailStep(name=fail_name, error_message=Join(on=" ", values=[failure, reported("summary")]))
    return ConditionStep(name=name, conditions=[ConditionEquals(left=reported("passed"), right=True)],
                         if_steps=if_steps, else_steps=[fail])
