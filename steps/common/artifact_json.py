"""Reading a JSON file that an artifact or a step's output carries, bounded and strict.

Why not `json.loads(path.read_text())`: a file planted in a model archive or an output folder decides what
that reader costs. Nesting 100,000 levels deep gives a RecursionError traceback, a 5,000-digit integer a
ValueError (Python's 4,300-digit limit on int()), a byte that is not UTF-8 a UnicodeDecodeError, a 1 GB
file the memory to hold it; and Python's decoder accepts `NaN` and `Infinity`, which are not JSON (RFC 8259),
so an ensemble threshold of NaN was served. `read_artifact_json` refuses each of those in one line naming
the file: every artifact JSON read goes through it (steps.common.io.read_json delegates here).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from steps.common.errors import StepInputError

MAX_JSON_BYTES = 64 * 1024 * 1024
MAX_JSON_DEPTH = 64
# The longest number a writer of this project produces is a float's repr (about 24 characters).
MAX_NUMBER_CHARS = 100


class _Refused(ValueError):
    """A bound was crossed while decoding."""


def _integer(text: str) -> int:
    if len(text) > MAX_NUMBER_CHARS:
        raise _Refused(f"a {len(text)}-digit number (at most {MAX_NUMBER_CHARS} characters)")
    return int(text)


def _float(text: str) -> float:
    if len(text) > MAX_NUMBER_CHARS:
        raise _Refused(f"a {len(text)}-character number (at most {MAX_NUMBER_CHARS} characters)")
    value = float(text)
    if not math.isfinite(value):
        raise _Refused(f"the number {text[:40]} overflows to {value}")
    return value


def _constant(text: str) -> Any:
    raise _Refused(f"{text} is not a JSON number (JSON has no NaN or Infinity)")


def depth(value: Any) -> int:
    """Nesting depth of decoded JSON (a scalar is 0), without recursion."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, level = stack.pop()
        deepest = max(deepest, level)
        if isinstance(item, dict):
            stack.extend((child, level + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, level + 1) for child in item)
    return deepest


def parse_json_text(data: bytes | str, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Decoded JSON, or ValueError with a one-line reason (not UTF-8, too deep, a number too long,
    NaN/Infinity, invalid JSON)."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValueError(f"not UTF-8 text (byte {exc.start})") from None
    try:
        value = json.loads(data, parse_int=_integer, parse_float=_float, parse_constant=_constant)
    except _Refused as exc:
        raise ValueError(str(exc)) from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    except RecursionError:
        raise ValueError(f"nested too deeply (at most {max_depth} levels)") from None
    if depth(value) > max_depth:
        raise ValueError(f"nested too deeply (at most {max_depth} levels)")
    return value


def read_artifact_json(path: str | Path, *, name: str = "JSON file", fix: str = "rewrite it",
                       max_bytes: int = MAX_JSON_BYTES, max_depth: int = MAX_JSON_DEPTH) -> dict[str, Any]:
    """The JSON object in `path`; anything else is one StepInputError line naming the file and `fix`."""
    source = Path(path)
    if not source.is_file():
        raise StepInputError(f"{name} not found", file=source, fix=f"pass the folder that holds {source.name}")
    try:
        size = source.stat().st_size
        if size > max_bytes:
            raise ValueError(f"{size} bytes (at most {max_bytes})")
        with source.open("rb") as handle:
            data = handle.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise ValueError(f"more than {max_bytes} bytes")
        value = parse_json_text(data, max_depth=max_depth)
    except OSError as exc:
        raise StepInputError(f"cannot read {name} ({exc.strerror or exc})", file=source, fix=fix) from None
    except ValueError as exc:
        raise StepInputError(f"{name}: {exc}", file=source, fix=fix) from None
    if not isinstance(value, dict):
        raise StepInputError(f"{name} is not a JSON object", file=source, fix=fix)
    return value
