"""Lists in a model package's CustomerMetadataProperties, within SageMaker's pattern for those values.

A metadata value may hold letters, numbers, spaces and `_.:/=+-@` only (botocore's `CustomerMetadataValue`:
`^([\\p{L}\\p{Z}\\p{N}_.:\\/=+\\-@]*)$`, 1-256 characters): a comma makes CreateModelPackage fail with a
ValidationException, at the very end of a run. Lists are therefore joined with "+"
("xgboost+catboost+lightgbm+gru"). The definition writes with `encode_list`; whoever reads a package back
uses `decode_list`. No SageMaker SDK import here: the deployment code reads packages with boto3 alone.
"""

from __future__ import annotations

from collections.abc import Iterable

LIST_SEPARATOR = "+"


def encode_list(items: Iterable[str]) -> str:
    """["xgboost", "gru"] -> "xgboost+gru"; an empty item or one holding the separator is refused."""
    values = [str(item) for item in items]
    if not values:
        raise ValueError("a metadata list needs at least one item (an empty metadata value is refused)")
    for value in values:
        if not value or LIST_SEPARATOR in value:
            raise ValueError(f"metadata list item {value!r}: must be non-empty and hold no {LIST_SEPARATOR!r}")
    return LIST_SEPARATOR.join(values)


def decode_list(value: str) -> list[str]:
    """The inverse of `encode_list`: "xgboost+gru" -> ["xgboost", "gru"]."""
    return value.split(LIST_SEPARATOR) if value else []
