"""The pipeline's typed parameters: what a Studio user may change per execution without republishing.

Built from the one table (`pipelines.parameter_table`): its rows give each SDK Parameter's name, Type,
default (the config's value) and EnumValues, and PipelineParameters' fields, in the definition's order.
"""

from __future__ import annotations

from dataclasses import make_dataclass
from typing import Any

from sagemaker.workflow.parameters import (
    Parameter,
    ParameterBoolean,
    ParameterFloat,
    ParameterInteger,
    ParameterString,
)

from pipelines import sdk  # noqa: F401
from pipelines.config import PipelineConfig
from pipelines.parameter_table import PARAMETERS, ParameterPolicy, ParameterSpec

SDK_PARAMETER_TYPES = {"Integer": ParameterInteger, "Float": ParameterFloat, "Boolean": ParameterBoolean}


def _as_list(self) -> list:
    """The parameters the definition declares, in the table's order."""
    values = [getattr(self, name) for name in self.__dataclass_fields__]
    return [value for value in values if value is not None]


def _runtime_settings(self) -> dict[str, Any]:
    """The step settings that are pipeline parameters, by setting name: a stage passes each as its own flag
    holding the run-time value, since a `--settings` JSON literal cannot (pipelines/stages/features.py)."""
    return {spec.setting: getattr(self, spec.attribute) for spec in PARAMETERS.values() if spec.setting}


# One field per row of the table, so a parameter is declared once; frozen, and `dataclasses.replace` gives a
# stage another value for one field (pipelines/definition.py: the scored tweets' location).
PipelineParameters = make_dataclass(
    "PipelineParameters",
    [(spec.attribute, Parameter) for spec in PARAMETERS.values()],
    frozen=True,
    namespace={
        "__module__": __name__,
        "__doc__": "The SDK Parameter objects the stages read (`ctx.params.<field>`), one field per table row.",
        "as_list": _as_list,
        "runtime_settings": _runtime_settings,
    },
)


def sdk_parameter(spec: ParameterSpec, config: PipelineConfig, policy: ParameterPolicy) -> Parameter:
    """The SDK's Parameter for one row. String parameters carry EnumValues where the policy limits them, so
    SageMaker refuses a start (Studio, API, schedule) with a value outside them; numeric ranges have no such
    field in the definition and are checked by the CLIs and the local runner (`pipelines.parameter_values`)."""
    if spec.kind == "String":
        return ParameterString(spec.name, default_value=spec.default(config), enum_values=spec.enum_values(policy))
    return SDK_PARAMETER_TYPES[spec.kind](spec.name, default_value=spec.default(config))


def build_parameters(config: PipelineConfig) -> PipelineParameters:
    """The parameters, with the config's defaults and its start-time policy (`ParameterPolicy.from_config`)."""
    policy = ParameterPolicy.from_config(config)
    return PipelineParameters(**{spec.attribute: sdk_parameter(spec, config, policy) for spec in PARAMETERS.values()})
