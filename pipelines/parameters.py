"""The pipeline's typed parameters: what a Studio user may change per execution without republishing."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal, get_args, get_origin

from sagemaker.workflow.parameters import (
    ParameterBoolean,
    ParameterFloat,
    ParameterInteger,
    ParameterString,
)

from pipelines import sdk  # noqa: F401
from pipelines.config import PipelineConfig


@dataclass(frozen=True)
class PipelineParameters:
    input_data_url: ParameterString
    tweets_data_url: ParameterString
    include_sentiment: ParameterBoolean
    min_model_auc: ParameterFloat
    min_ensemble_auc: ParameterFloat
    model_approval_status: ParameterString
    max_tuning_jobs: ParameterInteger
    max_parallel_jobs: ParameterInteger
    processing_instance_type: ParameterString
    training_instance_type: ParameterString
    gru_instance_type: ParameterString
    feature_instance_count: ParameterInteger

    def as_list(self) -> list:
        values = [getattr(self, name) for name in self.__dataclass_fields__]
        return [value for value in values if value is not None]


def build_parameters(config: PipelineConfig) -> PipelineParameters:
    """The parameters, with SageMaker's own guard where it has one: string parameters carry EnumValues, so
    SageMaker refuses a start (Studio, API, schedule) with a value outside them: ModelApprovalStatus without
    Approved unless the config approves every run (registry.approval_status: Approved), and each instance type
    parameter limited to security.allowed_instance_types when that is set. Numeric ranges have no such field
    in the definition: `PARAMETER_RANGES` below is checked by the CLIs and the local runner."""
    policy = ParameterPolicy.from_config(config)
    approval_values = [v for v in PARAMETER_RANGES[APPROVAL_PARAMETER].values
                       if v != APPROVED or policy.approved_at_start]  # fmt: skip
    instance_values = list(policy.allowed_instance_types) or None

    def instance_type(name: str, default: str) -> ParameterString:
        return ParameterString(name, default_value=default, enum_values=instance_values)

    return PipelineParameters(
        input_data_url=ParameterString("InputDataUrl", default_value=config.data.input_data_url),
        tweets_data_url=ParameterString("TweetsDataUrl", default_value=config.data.tweets_data_url),
        include_sentiment=ParameterBoolean("IncludeSentiment", default_value=config.features.include_sentiment),
        min_model_auc=ParameterFloat("MinModelAUC", default_value=config.gates.min_model_auc),
        min_ensemble_auc=ParameterFloat("MinEnsembleAUC", default_value=config.gates.min_ensemble_auc),
        model_approval_status=ParameterString(
            APPROVAL_PARAMETER, default_value=config.registry.approval_status, enum_values=approval_values
        ),
        max_tuning_jobs=ParameterInteger("MaxTuningJobs", default_value=config.tuning.max_jobs),
        max_parallel_jobs=ParameterInteger("MaxParallelJobs", default_value=config.tuning.max_parallel_jobs),
        processing_instance_type=instance_type("ProcessingInstanceType", config.instances.processing),
        training_instance_type=instance_type("TrainingInstanceType", config.instances.training),
        gru_instance_type=instance_type("GruInstanceType", config.instances.gru),
        feature_instance_count=ParameterInteger("FeatureInstanceCount", default_value=config.features.instance_count),
    )


# -- what a value given at start time may be ------------------------------------------------------------------
# One table: each parameter's allowed range or values, read from the bounds of the config field that sets its
# default (pipelines/config.py), so a value given for one execution (`upsert --start --param`, `pipelines.run
# --param`, Studio) is held to the same limits as the default. Applied by `pipelines.cli_options.
# parse_parameter_values` (upsert) and `pipelines.local.executor.resolve_parameters` (the local runner), with
# the start-time policy below (instance allowlist, approval).
@dataclass(frozen=True)
class ParameterRange:
    name: str
    kind: str  # the definition's Type: String, Integer, Float, Boolean
    source: str  # the config key whose bounds these are
    minimum: float | None = None
    maximum: float | None = None
    values: tuple[str, ...] = ()
    pattern: str | None = None
    instance_type: bool = False  # also held to security.allowed_instance_types

    def describe(self) -> str:
        if self.values:
            return f"one of {', '.join(self.values)}"
        if self.minimum is not None or self.maximum is not None:
            low = "-inf" if self.minimum is None else f"{self.minimum:g}"
            high = "inf" if self.maximum is None else f"{self.maximum:g}"
            return f"{low} to {high}"
        if self.pattern:
            return f"matching {self.pattern}"
        return "true or false" if self.kind == "Boolean" else "any"


def _field_bounds(model: type, field: str) -> dict[str, Any]:
    """min/max/pattern/values of a config field, from its pydantic metadata and Literal type."""
    info = model.model_fields[field]
    bounds: dict[str, Any] = {}
    for item in info.metadata:
        for attribute, key in (("ge", "minimum"), ("gt", "minimum"), ("le", "maximum"), ("lt", "maximum")):
            if getattr(item, attribute, None) is not None:
                bounds[key] = float(getattr(item, attribute))
        if getattr(item, "pattern", None):
            bounds["pattern"] = item.pattern
    if get_origin(info.annotation) is Literal:
        bounds["values"] = tuple(get_args(info.annotation))
    return bounds


def _ranges() -> dict[str, ParameterRange]:
    from pipelines import config as c

    table = (  # parameter, type, config model and field that set its default
        ("InputDataUrl", "String", c.Data, "input_data_url", "data.input_data_url"),
        ("TweetsDataUrl", "String", c.Data, "tweets_data_url", "data.tweets_data_url"),
        ("IncludeSentiment", "Boolean", c.Features, "include_sentiment", "features.include_sentiment"),
        ("MinModelAUC", "Float", c.Gates, "min_model_auc", "gates.min_model_auc"),
        ("MinEnsembleAUC", "Float", c.Gates, "min_ensemble_auc", "gates.min_ensemble_auc"),
        ("ModelApprovalStatus", "String", c.Registry, "approval_status", "registry.approval_status"),
        ("MaxTuningJobs", "Integer", c.Tuning, "max_jobs", "tuning.max_jobs"),
        ("MaxParallelJobs", "Integer", c.Tuning, "max_parallel_jobs", "tuning.max_parallel_jobs"),
        ("ProcessingInstanceType", "String", c.Instances, "processing", "instances.processing"),
        ("TrainingInstanceType", "String", c.Instances, "training", "instances.training"),
        ("GruInstanceType", "String", c.Instances, "gru", "instances.gru"),
        ("FeatureInstanceCount", "Integer", c.Features, "instance_count", "features.instance_count"),
    )
    return {
        name: ParameterRange(name, kind, source, instance_type=name.endswith("InstanceType"),
                             **_field_bounds(model, field))
        for name, kind, model, field, source in table
    }


PARAMETER_RANGES: dict[str, ParameterRange] = _ranges()
APPROVAL_PARAMETER = "ModelApprovalStatus"
APPROVED = "Approved"


@dataclass(frozen=True)
class ParameterPolicy:
    """The config's start-time policy: the instance allowlist, and whether an execution may be started
    with ModelApprovalStatus=Approved (it registers the model approved, skipping the manual approval; only
    where the config's own registry.approval_status is Approved)."""

    allowed_instance_types: tuple[str, ...] = ()
    approved_at_start: bool = False

    @classmethod
    def from_config(cls, config: PipelineConfig) -> ParameterPolicy:
        return cls(
            allowed_instance_types=tuple(config.security.allowed_instance_types),
            approved_at_start=config.registry.approval_status == APPROVED,
        )

    @classmethod
    def from_definition(cls, definition: dict[str, Any]) -> ParameterPolicy:
        """Without a config (a bare definition): Approved only where the definition's default is Approved."""
        defaults = {p.get("Name"): p.get("DefaultValue") for p in definition.get("Parameters", [])}
        return cls(approved_at_start=defaults.get(APPROVAL_PARAMETER) == APPROVED)


def parameter_value_error(name: str, value: Any, policy: ParameterPolicy) -> str | None:
    """One line naming the parameter, the value and what is allowed; None when the value is allowed.
    Values may be the command line's text or already typed; a value of the wrong type is the caller's error."""
    rule = PARAMETER_RANGES.get(name)
    shown = str(value).lower() if isinstance(value, bool) else value
    prefix = f"--param {name}={shown}"
    if rule is None:
        return None
    if rule.minimum is not None or rule.maximum is not None:
        try:
            number = float(value)
        except (TypeError, ValueError):
            return None
        if rule.kind == "Integer" and number != int(number):
            return f"{prefix}: expected a whole number from {rule.describe()} ({rule.source}'s bounds)"
        low = rule.minimum if rule.minimum is not None else float("-inf")
        high = rule.maximum if rule.maximum is not None else float("inf")
        if not low <= number <= high:  # nan is refused too
            return f"{prefix}: out of range; allowed {rule.describe()} ({rule.source}'s bounds)"
    if rule.values and str(value) not in rule.values:
        return f"{prefix}: allowed values are {', '.join(rule.values)}"
    if rule.pattern and not re.match(rule.pattern, str(value)):
        return f"{prefix}: expected a value {rule.describe()} ({rule.source}'s pattern)"
    if rule.instance_type and policy.allowed_instance_types and str(value) not in policy.allowed_instance_types:
        return (
            f"{prefix}: not in security.allowed_instance_types; allowed: {', '.join(policy.allowed_instance_types)}"
        )
    if name == APPROVAL_PARAMETER and str(value) == APPROVED and not policy.approved_at_start:
        allowed = ", ".join(v for v in rule.values if v != APPROVED)
        return (
            f"{prefix}: starting an execution Approved skips the manual approval; allowed: {allowed} "
            f"(only a config with registry.approval_status: {APPROVED} may start one Approved)"
        )
    return None


def parameter_value_errors(values: dict[str, Any], policy: ParameterPolicy) -> list[str]:
    """parameter_value_error for each given value, in the order given."""
    errors = (parameter_value_error(name, value, policy) for name, value in values.items())
    return [error for error in errors if error]
