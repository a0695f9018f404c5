"""The pipeline's parameters, declared once: one row per parameter, read by everything that knows one.

A row names the parameter as the definition declares it, the field a stage reads (`ctx.params.<attribute>`),
its Type, the config key that sets its default, the start-time policy it answers to, and the step setting
it carries at run time. The allowed range or values come from the bounds of that same config field
(pipelines/config.py), so a value given for one execution (`upsert --start --param`, `pipelines.run --param`,
Studio) is held to the same limits as the default.

Read by `pipelines.parameters` (the SDK's Parameter objects, in this order: the definition's order) and
`pipelines.parameter_values` (the one `--param` checker: upsert, pipelines.run and the local runner). This
module loads no SageMaker SDK, so the local runner checks values without it.
"""

from __future__ import annotations

from dataclasses import dataclass
from operator import attrgetter
from typing import Any, Literal, get_args, get_origin

from pipelines.config import PipelineConfig

INSTANCE_TYPE = "instance_type"  # policy: held to security.allowed_instance_types (EnumValues carry it)
APPROVAL = "approval"  # policy: Approved at start only where the config approves every run
APPROVED = "Approved"
DATA_URL = "data_url"  # policy: an s3:// URI by S3's rules; file:// only where a local run links the folder
AUC_GATE = "auc_gate"  # policy: a holdout AUC threshold at most the horizon's plausible ceiling (else unpassable)

_ROWS = (  # Name, PipelineParameters field, Type, config key (default and bounds), policy, step setting
    ("InputDataUrl", "input_data_url", "String", "data.input_data_url", DATA_URL, None),
    ("TweetsDataUrl", "tweets_data_url", "String", "data.tweets_data_url", DATA_URL, None),
    ("IncludeSentiment", "include_sentiment", "Boolean", "features.include_sentiment", "", "include_sentiment"),
    ("MinModelAUC", "min_model_auc", "Float", "gates.min_model_auc", AUC_GATE, None),
    ("MinEnsembleAUC", "min_ensemble_auc", "Float", "gates.min_ensemble_auc", AUC_GATE, None),
    ("MinFinalAUC", "min_final_auc", "Float", "gates.min_final_auc", AUC_GATE, None),
    ("ModelApprovalStatus", "model_approval_status", "String", "registry.approval_status", APPROVAL, None),
    ("MaxTuningJobs", "max_tuning_jobs", "Integer", "tuning.max_jobs", "", None),
    ("MaxParallelJobs", "max_parallel_jobs", "Integer", "tuning.max_parallel_jobs", "", None),
    ("ProcessingInstanceType", "processing_instance_type", "String", "instances.processing", INSTANCE_TYPE, None),
    ("TrainingInstanceType", "training_instance_type", "String", "instances.training", INSTANCE_TYPE, None),
    ("GruInstanceType", "gru_instance_type", "String", "instances.gru", INSTANCE_TYPE, None),
    ("FeatureInstanceCount", "feature_instance_count", "Integer", "features.instance_count", "", None),
)  # fmt: skip


@dataclass(frozen=True)
class ParameterSpec:
    """One pipeline parameter: how the definition declares it, where its default comes from, and what a value
    given at start time may be."""

    name: str  # the definition's Name
    attribute: str  # the PipelineParameters field a stage reads
    kind: str  # the definition's Type: String, Integer, Float, Boolean
    source: str  # the config key that sets its default, and whose bounds hold a value given at start
    policy: str = ""  # INSTANCE_TYPE, APPROVAL, DATA_URL, AUC_GATE or "" (none)
    setting: str | None = None  # the step setting it sets at run time (its own flag beside --settings)
    minimum: float | None = None
    maximum: float | None = None
    values: tuple[str, ...] = ()
    pattern: str | None = None

    def default(self, config: PipelineConfig) -> Any:
        """The config's value for this parameter: the definition's DefaultValue."""
        return attrgetter(self.source)(config)

    def enum_values(self, policy: ParameterPolicy) -> list[str] | None:
        """The definition's EnumValues, SageMaker's own guard at start (Studio, API, schedule): the approval
        values without Approved unless the config approves every run, and an instance type limited to the
        allowlist when one is set. None: no EnumValues (numeric ranges have no such field in a definition)."""
        if self.policy == APPROVAL:
            return [value for value in self.values if value != APPROVED or policy.approved_at_start]
        if self.policy == INSTANCE_TYPE:
            return list(policy.allowed_instance_types) or None
        return None

    def describe(self) -> str:
        """What a value may be, as the one-line errors say it."""
        if self.values:
            return f"one of {', '.join(self.values)}"
        if self.minimum is not None or self.maximum is not None:
            low = "-inf" if self.minimum is None else f"{self.minimum:g}"
            high = "inf" if self.maximum is None else f"{self.maximum:g}"
            return f"{low} to {high}"
        if self.pattern:
            return f"matching {self.pattern}"
        return "true or false" if self.kind == "Boolean" else "any"


def config_field_bounds(source: str) -> dict[str, Any]:
    """minimum/maximum/pattern/values of the config field at `source` ("gates.min_model_auc"), from its
    pydantic metadata and Literal type."""
    section, field = source.split(".")
    info = PipelineConfig.model_fields[section].annotation.model_fields[field]
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


PARAMETERS: dict[str, ParameterSpec] = {
    name: ParameterSpec(name, attribute, kind, source, policy, setting, **config_field_bounds(source))
    for name, attribute, kind, source, policy, setting in _ROWS
}


@dataclass(frozen=True)
class ParameterPolicy:
    """The config's start-time policy: the instance allowlist, and whether an execution may be started
    with ModelApprovalStatus=Approved (it registers the model approved, skipping the manual approval; only
    where the config's own registry.approval_status is Approved)."""

    allowed_instance_types: tuple[str, ...] = ()
    approved_at_start: bool = False
    # a data URL may be file:// (a local run links the folder into its store); False for what is published
    # (upsert, lint): a SageMaker job reads s3:// only
    local_folders: bool = False
    # the horizon's plausible ceiling (leaks.plausibility max_holdout_auc): an AUC gate above it can never pass,
    # since Gate-plausible refuses every AUC above the ceiling before the gate reads it
    auc_ceiling: float | None = None

    @classmethod
    def from_config(cls, config: PipelineConfig, *, local_folders: bool = False) -> ParameterPolicy:
        return cls(
            allowed_instance_types=tuple(config.security.allowed_instance_types),
            approved_at_start=config.registry.approval_status == APPROVED,
            local_folders=local_folders,
            auc_ceiling=config.plausibility.max_holdout_auc,
        )

    @classmethod
    def from_definition(cls, definition: dict[str, Any], *, local_folders: bool = False) -> ParameterPolicy:
        """Without a config (a bare definition): Approved only where the definition's default is Approved; the AUC
        ceiling as Gate-plausible holds it (a literal of the definition)."""
        defaults = {p.get("Name"): p.get("DefaultValue") for p in definition.get("Parameters", [])}
        approval = [spec.name for spec in PARAMETERS.values() if spec.policy == APPROVAL]
        return cls(approved_at_start=any(defaults.get(name) == APPROVED for name in approval),
                   local_folders=local_folders, auc_ceiling=_plausible_ceiling(definition))


def _plausible_ceiling(definition: dict[str, Any]) -> float | None:
    """The number Gate-plausible holds every holdout AUC to (pipelines/stages/plausibility.py), if any: a definition
    this module cannot read has none (the runner refuses it on its own, naming what is wrong)."""
    from pipelines.definition.errors import DefinitionError
    from pipelines.definition.graph import flatten_steps

    try:
        gate = flatten_steps(definition).get("Gate-plausible")
    except DefinitionError:
        return None
    for condition in (gate.spec.get("Arguments") or {}).get("Conditions") or [] if gate else []:
        right = condition.get("RightValue") if isinstance(condition, dict) else None
        if isinstance(right, int | float) and not isinstance(right, bool):
            return float(right)
    return None
