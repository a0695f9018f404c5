"""A local step's requests, held to botocore's SageMaker model before the step runs.

`pipelines.definition.service_rules` knows the model and `pipelines.definition.step_types` which request a
step makes; this module turns a violation into the step failure SageMaker would report (a
ValidationException).
"""

from __future__ import annotations

from typing import Any

from pipelines.definition.service_rules import validate_request
from pipelines.local.errors import StepFailed


def refuse_invalid(step_name: str, operation: str, request: dict[str, Any]) -> None:
    """Fail the step as SageMaker would: a ValidationException naming the field, the value and the rule."""
    violations = validate_request(operation, request)
    if violations:
        shown = "; ".join(str(v) for v in violations[:5])
        more = f" (and {len(violations) - 5} more)" if len(violations) > 5 else ""
        raise StepFailed(step_name, f"ValidationException: {operation} {shown}{more}")
