"""`--param Name=Value`: the one parser and checker of a value given for one execution.

Used by `upsert --start` (through `pipelines.cli_options.parse_parameter_values`), by `pipelines.run` (the
pairs) and by the local runner (`pipelines.local.executor.resolve_parameters`), so a value is refused with
the same line wherever it is given. Each value is checked in this order, and the first refusal is the error:

1. the definition declares the name;
2. the text reads as the parameter's Type;
3. the parameter's allowed range and the start-time policy (`pipelines.parameter_table`): before the
   definition's EnumValues, because its message says which limit refuses the value (the config field's
   bounds, security.allowed_instance_types, the approval rule), where EnumValues only lists values;
4. the definition's EnumValues (SageMaker's own guard), for a definition whose are stricter than the table.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from pipelines.parameter_table import (
    APPROVAL,
    APPROVED,
    AUC_GATE,
    DATA_URL,
    INSTANCE_TYPE,
    PARAMETERS,
    ParameterPolicy,
)
from steps.common.names import s3_uri_error


class ParameterValueError(ValueError):
    """A `--param` the definition or the start-time policy refuses, in one line; each command turns it into
    its own error (a usage error, a refused local run)."""


def parameter_pairs(pairs: Iterable[str]) -> list[tuple[str, str]]:
    """`Name=Value` texts as (name, value), in the order given."""
    split = []
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise ParameterValueError(f"--param {pair!r}: expected Name=Value, e.g. --param MinModelAUC=0.65")
        split.append((name, value))
    return split


def typed_value(name: str, kind: str, text: str) -> Any:
    """The text as the definition's Type reads it: int, float, bool or the text itself."""
    try:
        if kind == "Integer":
            return int(text)
        if kind == "Float":
            return float(text)
        if kind == "Boolean":
            if text.lower() not in {"true", "false"}:
                raise ValueError(text)
            return text.lower() == "true"
    except ValueError:
        article = "an" if kind == "Integer" else "a"
        raise ParameterValueError(f"--param {name}={text!r}: expected {article} {kind.lower()}") from None
    return text


def parameter_value_error(name: str, value: Any, policy: ParameterPolicy) -> str | None:
    """One line naming the parameter, the value and what is allowed; None when the value is allowed (or the
    parameter is not in the table). Values may be the command line's text or already typed; a value of the
    wrong type is the caller's error."""
    rule = PARAMETERS.get(name)
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
    if rule.policy == AUC_GATE and policy.auc_ceiling is not None:
        try:
            threshold = float(value)
        except (TypeError, ValueError):
            threshold = None
        if threshold is not None and threshold > policy.auc_ceiling:
            return (f"{prefix}: above the horizon's plausible ceiling {policy.auc_ceiling:g} (leaks.plausibility "
                    f"max_holdout_auc): Gate-plausible stops every AUC above it first, so no model could ever pass; "
                    f"use a value <= {policy.auc_ceiling:g}")
    if rule.policy == DATA_URL:
        refused = data_url_error(str(value), policy)
        if refused:
            return f"{prefix}: {refused}"
    allowlist = policy.allowed_instance_types
    if rule.policy == INSTANCE_TYPE and allowlist and str(value) not in allowlist:
        return f"{prefix}: not in security.allowed_instance_types; allowed: {', '.join(allowlist)}"
    if rule.policy == APPROVAL and str(value) == APPROVED and not policy.approved_at_start:
        allowed = ", ".join(v for v in rule.values if v != APPROVED)
        return (
            f"{prefix}: starting an execution Approved skips the manual approval; allowed: {allowed} "
            f"(only a config with registry.approval_status: {APPROVED} may start one Approved)"
        )
    return None


def default_value_errors(definition: dict[str, Any], policy: ParameterPolicy) -> list[str]:
    """One line per data-URL parameter whose DefaultValue the table or `policy` refuses (a config's
    data.input_data_url of file:// in a definition to publish): what a start without --param would run with."""
    refused = []
    for spec in definition.get("Parameters", []):
        rule = PARAMETERS.get(str(spec.get("Name")))
        # the data URLs only: lint's own rules already name a default instance type outside the allowlist
        if rule is not None and rule.policy == DATA_URL and "DefaultValue" in spec:
            error = parameter_value_error(str(spec.get("Name")), spec["DefaultValue"], policy)
            if error:
                refused.append(error.replace("--param ", "default ", 1))
    return refused


def checked_parameter_values(
    given: Iterable[tuple[str, str]], definition: dict[str, Any], policy: ParameterPolicy | None = None
) -> dict[str, Any]:
    """Each given (name, text) checked against the definition's parameters, the table and `policy` (default:
    the definition's own, `ParameterPolicy.from_definition`), in the order given; the values typed as each
    parameter's Type. Raises ParameterValueError at the first refusal."""
    if policy is None:
        policy = ParameterPolicy.from_definition(definition)
    declared = {p["Name"]: p for p in definition.get("Parameters", [])}
    values: dict[str, Any] = {}
    for name, text in given:
        if name not in declared:
            raise ParameterValueError(f"--param {name}: unknown parameter; parameters: {', '.join(declared)}")
        values[name] = typed_value(name, declared[name].get("Type", "String"), text)
        refused = parameter_value_error(name, text, policy)
        if refused:
            raise ParameterValueError(refused)
        allowed = declared[name].get("EnumValues")
        if allowed and text not in allowed:
            raise ParameterValueError(f"--param {name}={text!r}: allowed values are {', '.join(allowed)}")
    return values


def data_url_error(value: str, policy: ParameterPolicy) -> str | None:
    """Why a data URL (InputDataUrl, TweetsDataUrl, the config's data.*_url) cannot be read, or None: an
    s3:// URI whose bucket follows S3's naming rules and whose key has no `..`, `.` or empty segment
    (steps.common.names.s3_uri_error); `file://` only where a local run links the folder
    (`policy.local_folders`), never in what is published: a SageMaker job reads s3:// only."""
    if value.startswith("file://"):
        if policy.local_folders:
            return None
        return ("file:// is read only by a local run (pipelines.run links the folder); a SageMaker job reads "
                "s3:// only: upload the folder and pass its s3:// URI")
    return s3_uri_error(value)
