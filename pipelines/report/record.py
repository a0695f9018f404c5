"""The execution record the report reads (`execution.json`), checked for shape before anything is drawn.

The record is written by the local runner, but the report is also pointed at records by hand: a record
edited, truncated or from another tool must end the report on one line naming the file and the field
(exit 2), never an AttributeError deep in the page. Only the shape the report relies on is checked.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


class RecordError(ValueError):
    """An execution record the report cannot read (one line: the file, the field, the fix)."""


_STEP_FIELDS: dict[str, tuple[type, ...]] = {
    "name": (str,),
    "type": (str,),
    "status": (str,),
    "outputs": (dict,),
    "properties": (dict,),
    "metrics": (dict,),
    "arguments": (dict, list),  # a job step's request members; a condition's list of conditions
    "depends_on": (list,),
    "seconds": (int, float),
    "failure_reason": (str,),
    "branch": (str, list),
    "cache_hit": (bool,),
}
_RECORD_FIELDS: dict[str, tuple[type, ...]] = {
    "steps": (list,),
    "parameters": (dict,),
    "status": (str,),
    "failure_reason": (str,),
    "model_package_arn": (str,),
    "pipeline_name": (str,),
    "execution_id": (str,),
}
_NAMES = {dict: "an object", list: "a list", str: "a string", int: "a number", float: "a number", bool: "true/false"}


def _expected(types: tuple[type, ...]) -> str:
    return " or ".join(dict.fromkeys(_NAMES[t] for t in types))


def _kind(value: Any) -> str:
    return "true/false" if isinstance(value, bool) else _NAMES.get(type(value), type(value).__name__)


def check_record(record: Any, where: str) -> dict[str, Any]:
    """The record, if it has the report's shape; else a `RecordError` naming `where` and the field."""
    fix = "regenerate it with `python -m pipelines.run` or fix that field"
    if not isinstance(record, dict):
        raise RecordError(f"{where}: the record is {_kind(record)}, not an object; {fix}")
    for key, types in _RECORD_FIELDS.items():
        value = record.get(key)
        if value is not None and (not isinstance(value, types) or (isinstance(value, bool) and bool not in types)):
            raise RecordError(f"{where}: {key} is {_kind(value)}, expected {_expected(types)}; {fix}")
    for index, step in enumerate(record.get("steps") or []):
        if not isinstance(step, dict):
            raise RecordError(f"{where}: steps[{index}] is {_kind(step)}, not an object; {fix}")
        if not isinstance(step.get("name"), str):
            raise RecordError(f"{where}: steps[{index}].name is missing or not a string; {fix}")
        for key, types in _STEP_FIELDS.items():
            value = step.get(key)
            if value is None or (isinstance(value, types) and not (isinstance(value, bool) and bool not in types)):
                continue
            raise RecordError(f"{where}: steps[{index}] ({step['name']}).{key} is {_kind(value)}, "
                              f"expected {_expected(types)}; {fix}")
        for name, uri in (step.get("outputs") or {}).items():
            if not isinstance(uri, str):
                raise RecordError(f"{where}: steps[{index}] ({step['name']}).outputs.{name} is {_kind(uri)}, "
                                  f"expected a string; {fix}")
    return record


def read_record(path: Path) -> dict[str, Any]:
    """`execution.json`, parsed and checked (`RecordError` on one line otherwise)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise RecordError(f"{path}: not UTF-8 text; regenerate it with `python -m pipelines.run`") from None
    except OSError as exc:
        raise RecordError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    try:
        record = json.loads(text)
    except RecursionError:
        raise RecordError(f"{path}: nested too deeply to be an execution record") from None
    except ValueError as exc:
        raise RecordError(f"{path}: not JSON ({getattr(exc, 'msg', exc)}); regenerate it with "
                          "`python -m pipelines.run`") from None
    return check_record(record, str(path))
