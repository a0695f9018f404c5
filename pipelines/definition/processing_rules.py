"""Where a processing job's container reads its inputs and writes its outputs: under /opt/ml/processing/.

- an input's `S3Input.LocalPath` "is an absolute path to the input data and must begin with
  /opt/ml/processing/" (botocore's ProcessingS3Input LocalPath doc string)
- an output's `S3Output.LocalPath` "is an absolute path to a directory containing output files" (botocore's
  ProcessingS3Output LocalPath doc string); the same /opt/ml/processing/ prefix is held to it, as SageMaker
  does (issue 28's measured set: a definition with an output outside it is refused), though the API reference
  states the prefix for inputs only

An input the container manages itself (`AppManaged`) has no LocalPath to judge; a path only a run knows is
not judged.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pipelines.definition.violation import Violation

RULE = "processing"
PROCESSING_ROOT = "/opt/ml/processing/"


def processing_path_violations(step: str, arguments: Any) -> Iterator[Violation]:
    """Every LocalPath of a Processing step's (resolved) arguments outside /opt/ml/processing/."""
    if not isinstance(arguments, dict):
        return
    inputs = arguments.get("ProcessingInputs")
    for index, item in enumerate(inputs if isinstance(inputs, list) else []):
        s3 = item.get("S3Input") if isinstance(item, dict) else None
        if isinstance(s3, dict):
            yield from _check(step, f"ProcessingInputs[{index}] ({item.get('InputName')}).S3Input.LocalPath", s3)
    config = arguments.get("ProcessingOutputConfig")
    outputs = config.get("Outputs") if isinstance(config, dict) else None
    for index, item in enumerate(outputs if isinstance(outputs, list) else []):
        s3 = item.get("S3Output") if isinstance(item, dict) else None
        if isinstance(s3, dict):
            field = f"ProcessingOutputConfig.Outputs[{index}] ({item.get('OutputName')}).S3Output.LocalPath"
            yield from _check(step, field, s3)


def _check(step: str, field: str, location: dict[str, Any]) -> Iterator[Violation]:
    path = location.get("LocalPath")
    if isinstance(path, str) and not path.startswith(PROCESSING_ROOT):
        yield Violation(step, RULE, f"{field} {path!r} must begin with {PROCESSING_ROOT}")
