"""SageMaker's request rules, read from botocore's own SageMaker service model.

SageMaker validates every request against its service model before it does anything; the local runner and
`lint` must refuse what SageMaker would refuse (ARCHITECTURE.md, principle 6). `validate_request` checks a
request the way the service does: required members, unknown members, types, `min`/`max` (string length,
list and map item counts, numeric values), `enum` and `pattern` (map keys included), recursively.

The model's patterns are Java regular expressions, matched the way Java's `String.matches` does
(`pipelines.definition.java_regex` translates them for the `regex` package).

`UNKNOWN` stands for a value not known until run time (a pipeline expression, in static lint): it passes
every type and value check wherever it appears, but a required member is still required. A `RuntimeText`
is a run-time string whose longest value is known (a Std:Join of literals and a property whose length the
service bounds): it is held to a string member's maximum length, with what was assumed in the message, and
passes the other checks.
"""

from __future__ import annotations

import datetime
import decimal
import functools
import reprlib
from dataclasses import dataclass
from typing import Any

import botocore.loaders
from botocore.utils import parse_timestamp

from pipelines.definition.java_regex import compiled_pattern

__all__ = [
    "UNKNOWN",
    "RuleViolation",
    "RuntimeText",
    "Unknown",
    "service_model",
    "validate_request",
]


class Unknown:
    """The type of `UNKNOWN`: a value not known until run time."""

    _instance: Unknown | None = None

    def __new__(cls) -> Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNKNOWN"

    def __reduce__(self) -> str:
        return "UNKNOWN"


UNKNOWN = Unknown()


@dataclass(frozen=True)
class RuntimeText:
    """A string known only at run time, at most `max_length` characters: `assumed` says why (one phrase each
    for the parts that are not literal, e.g. "Steps.Train.BestTrainingJob.TrainingJobName: at most 63
    characters, botocore's TrainingJobName"). Its content is not known, so only a maximum length is judged."""

    max_length: int
    assumed: str


@dataclass(frozen=True)
class RuleViolation:
    """One rule of the service model that a request breaks."""

    operation: str  # "CreateModelPackage"
    field: str  # "CustomerMetadataProperties['algorithms']", "ProcessingInputs[3].S3Input.S3Uri"
    value: str  # the offending value, shortened; "" where there is none (a missing member)
    rule: str  # "must match pattern ...", "at most 256 characters", "required member missing", ...

    def __str__(self) -> str:
        if not self.value:
            return f"{self.field}: {self.rule}"
        return f"{self.field}: {self.rule} (value {self.value})"


# --- the service model --------------------------------------------------------------------------------------


@functools.cache
def service_model() -> dict[str, Any]:
    """botocore's SageMaker service model (service-2), as the raw dict botocore builds its shapes from."""
    return botocore.loaders.create_loader().load_service_model("sagemaker", "service-2")


@functools.cache
def _shapes() -> dict[str, dict[str, Any]]:
    return service_model()["shapes"]


# --- validation ---------------------------------------------------------------------------------------------

_SHOW = reprlib.Repr()
_SHOW.maxstring, _SHOW.maxother, _SHOW.maxlevel, _SHOW.maxdict, _SHOW.maxlist = 90, 90, 2, 4, 4
_SHOW_LIMIT = 80


def _show(value: Any) -> str:
    """The value in one line, at most about 80 characters."""
    text = repr(value[: _SHOW_LIMIT + 10]) if isinstance(value, str) else _SHOW.repr(value)
    return text if len(text) <= _SHOW_LIMIT else text[: _SHOW_LIMIT - 1] + "…"


def _type_name(value: Any) -> str:
    return "None" if value is None else type(value).__name__


_EXPECTED = {
    "string": "a string",
    "boolean": "a boolean",
    "integer": "an integer",
    "long": "an integer",
    "float": "a number",
    "double": "a number",
    "timestamp": "a timestamp",
    "blob": "bytes",
    "structure": "a structure (dict)",
    "list": "a list",
    "map": "a map (dict)",
}
_ENUM_SHOWN = 12


def _plural(count: Any, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


class _Checker:
    """One request's walk through its shapes, collecting violations."""

    def __init__(self, operation: str):
        self.operation = operation
        self.shapes = _shapes()
        self.violations: list[RuleViolation] = []

    def add(self, field: str, value: str, rule: str) -> None:
        self.violations.append(RuleViolation(self.operation, field or "(request)", value, rule))

    def check(self, shape_name: str, value: Any, path: str, key: bool = False) -> None:
        if value is UNKNOWN:
            return
        shape = self.shapes[shape_name]
        if isinstance(value, RuntimeText):
            self._runtime_text(shape, value, path, key)
            return
        kind = shape["type"]
        method = getattr(self, f"_{kind}", None)
        if method is None:  # a `document`, or a type this module does not know: no rules to check
            return
        method(shape_name, shape, value, path, key)

    def _type_error(self, shape: dict[str, Any], value: Any, path: str, key: bool) -> None:
        prefix = "key: " if key else ""
        self.add(path, _show(value), f"{prefix}expected {_EXPECTED[shape['type']]}, got {_type_name(value)}")

    def _structure(self, name: str, shape: dict[str, Any], value: Any, path: str, key: bool) -> None:
        if not isinstance(value, dict):
            self._type_error(shape, value, path, key)
            return
        members = shape.get("members", {})
        for member in shape.get("required", ()):
            if member not in value and not members.get(member, {}).get("idempotencyToken"):
                self.add(f"{path}.{member}" if path else member, "", "required member missing")
        for member, item in value.items():
            field = f"{path}.{member}" if path else str(member)
            ref = members.get(member)
            if ref is None:
                if not isinstance(member, Unknown):
                    self.add(field, _show(item), "unknown member")
                continue
            if ref.get("jsonvalue"):  # any JSON value; botocore serialises it
                continue
            self.check(ref["shape"], item, field)
        if shape.get("union"):
            present = [m for m, item in value.items() if m in members and item is not None]
            if len(present) != 1:
                self.add(path, ", ".join(present), "exactly one member must be set (a union)")

    def _count(self, shape: dict[str, Any], value: Any, path: str) -> None:
        count = len(value)
        if "min" in shape and count < shape["min"]:
            self.add(path, _plural(count, "item"), f"at least {_plural(shape['min'], 'item')}")
        if "max" in shape and count > shape["max"]:
            self.add(path, _plural(count, "item"), f"at most {_plural(shape['max'], 'item')}")

    def _list(self, name: str, shape: dict[str, Any], value: Any, path: str, key: bool) -> None:
        if not isinstance(value, (list, tuple)):
            self._type_error(shape, value, path, key)
            return
        self._count(shape, value, path)
        member = shape["member"]["shape"]
        for index, item in enumerate(value):
            self.check(member, item, f"{path}[{index}]")

    def _map(self, name: str, shape: dict[str, Any], value: Any, path: str, key: bool) -> None:
        if not isinstance(value, dict):
            self._type_error(shape, value, path, key)
            return
        self._count(shape, value, path)
        key_shape, value_shape = shape["key"]["shape"], shape["value"]["shape"]
        for map_key, item in value.items():
            field = f"{path}[{map_key!r}]"
            if not isinstance(map_key, Unknown):
                self.check(key_shape, map_key, field, key=True)
            self.check(value_shape, item, field)

    def _string(self, name: str, shape: dict[str, Any], value: Any, path: str, key: bool) -> None:
        if not isinstance(value, str):
            self._type_error(shape, value, path, key)
            return
        prefix = "key " if key else ""
        shown = "'***' (sensitive)" if shape.get("sensitive") else _show(value)
        length = len(value)  # Smithy's `length` counts code points, as len() does
        if "min" in shape and length < shape["min"]:
            self.add(path, shown, f"{prefix}at least {_plural(shape['min'], 'character')}")
        if "max" in shape and length > shape["max"]:
            self.add(path, f"{shown} ({length} characters)", f"{prefix}at most {_plural(shape['max'], 'character')}")
        enum = shape.get("enum")
        if enum is not None and value not in enum:
            if len(enum) <= _ENUM_SHOWN:
                allowed = "|".join(enum)
            else:
                allowed = f"{len(enum)} values of {name}: {'|'.join(enum[: _ENUM_SHOWN // 2])}|…"
            self.add(path, shown, f"{prefix}one of {allowed}")
        pattern = shape.get("pattern")
        if pattern is not None and not compiled_pattern(pattern).fullmatch(value):
            self.add(path, shown, f"{prefix}must match pattern {pattern}")

    def _runtime_text(self, shape: dict[str, Any], value: RuntimeText, path: str, key: bool) -> None:
        """A run-time string: only its longest value can be judged, against the member's maximum length."""
        if shape["type"] == "string" and "max" in shape and value.max_length > shape["max"]:
            prefix = "key " if key else ""
            shown = f"up to {_plural(value.max_length, 'character')} at run time, assuming {value.assumed}"
            self.add(path, shown, f"{prefix}at most {_plural(shape['max'], 'character')}")

    def _range(self, shape: dict[str, Any], value: Any, path: str) -> None:
        if "min" in shape and value < shape["min"]:
            self.add(path, _show(value), f"at least {shape['min']}")
        if "max" in shape and value > shape["max"]:
            self.add(path, _show(value), f"at most {shape['max']}")

    def _integer(self, name: str, shape: dict[str, Any], value: Any, path: str, key: bool) -> None:
        if not isinstance(value, int) or isinstance(value, bool):
            self._type_error(shape, value, path, key)
            return
        self._range(shape, value, path)

    _long = _integer

    def _float(self, name: str, shape: dict[str, Any], value: Any, path: str, key: bool) -> None:
        if not isinstance(value, (int, float, decimal.Decimal)) or isinstance(value, bool):
            self._type_error(shape, value, path, key)
            return
        self._range(shape, value, path)

    _double = _float

    def _boolean(self, name: str, shape: dict[str, Any], value: Any, path: str, key: bool) -> None:
        if not isinstance(value, bool):
            self._type_error(shape, value, path, key)

    def _timestamp(self, name: str, shape: dict[str, Any], value: Any, path: str, key: bool) -> None:
        if isinstance(value, (datetime.datetime, datetime.date)):
            return
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return
        if isinstance(value, str):
            try:
                parse_timestamp(value)
                return
            except (ValueError, TypeError):
                pass
        self._type_error(shape, value, path, key)

    def _blob(self, name: str, shape: dict[str, Any], value: Any, path: str, key: bool) -> None:
        if not isinstance(value, (bytes, bytearray, str)) and not hasattr(value, "read"):
            self._type_error(shape, value, path, key)


def validate_request(operation: str, request: dict) -> list[RuleViolation]:
    """Every rule of the SageMaker service model that `request` (the API call's keyword arguments) breaks."""
    spec = service_model()["operations"].get(operation)
    if spec is None:
        raise ValueError(f"{operation!r} is not a SageMaker operation")
    checker = _Checker(operation)
    if "input" in spec:
        checker.check(spec["input"]["shape"], request, "")
    elif request:
        checker.add("(request)", _show(request), "the operation takes no parameters")
    return checker.violations
