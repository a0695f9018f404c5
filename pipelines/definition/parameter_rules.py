"""The pipeline parameters' limits that no request shape states.

- a String parameter's `EnumValues` holds at most 16 values: SageMaker refuses more at CreatePipeline
  ("the limits of putting a maximum of 16 elements", https://github.com/aws/sagemaker-python-sdk/issues/2314;
  neither botocore's model nor the definition schema states it). `security.allowed_instance_types` becomes
  the instance-type parameters' EnumValues, so `pipelines.config` holds the allowlist to the same number.

This module imports nothing heavy: the config reads `MAX_ENUM_VALUES` from it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pipelines.definition.violation import Violation

RULE = "parameters"
MAX_ENUM_VALUES = 16  # sagemaker-python-sdk#2314


def parameter_limit_violations(definition: dict[str, Any]) -> Iterator[Violation]:
    """Every parameter whose EnumValues hold more values than SageMaker takes."""
    for index, parameter in enumerate(definition.get("Parameters") or []):
        values = parameter.get("EnumValues") if isinstance(parameter, dict) else None
        if isinstance(values, list) and len(values) > MAX_ENUM_VALUES:
            yield Violation(
                "(parameters)",
                RULE,
                f"Parameters[{index}] ({parameter.get('Name')}).EnumValues: {len(values)} values; a String "
                f"parameter takes at most {MAX_ENUM_VALUES}",
            )
