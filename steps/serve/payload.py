"""Request bodies to feature frames, with one-line messages for everything a client can get wrong.

Accepted (docs/steps.md, steps.serve):
- `text/csv`: rows of numbers, either with a header row of feature names (any order, every feature
  exactly once) or with exactly the model's feature count per row in the model's order;
- `application/json`: `{"instances": [{feature: value, ...}, ...]}` with every feature in every instance.
A `ticker` column (text) is always accepted, named in the CSV header or in JSON instances; models trained
per stock or per sector route rows by it, so for them it is required.
An empty field (CSV) or `null` (JSON) is a missing value, which the models handle; anything else that
is not a finite number is refused.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from typing import Any

import numpy as np
import pandas as pd

from steps.common.artifact_json import parse_json_text

MAX_ROWS = 100_000
ROUTING_KEYS = ("ticker",)
CSV_TYPES = {"text/csv", "application/csv"}
JSON_TYPES = {"application/json"}
_MISSING_TEXT = {"", "nan", "na", "null"}
# A float needs at most 17 significant digits; longer text is not a feature value.
MAX_NUMBER_CHARS = 100
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


class PayloadError(ValueError):
    """A bad request body; the message is one line that says what to send instead."""


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def _names(items: list[str], limit: int = 5) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" (+{len(items) - limit} more)" if len(items) > limit else "")


def _number(text: str, where: str) -> float:
    """A decimal number as CSV writers write it; Python's float() would also take `1_000`, `infinity`,
    Arabic-Indic digits and 10,000-digit strings."""
    value = text.strip()
    if value.lower() in _MISSING_TEXT:
        return math.nan
    if value.lower().lstrip("+-") in ("inf", "infinity"):
        raise PayloadError(f"{where}: {value!r} is not a finite number")
    if len(value) > MAX_NUMBER_CHARS or not _DECIMAL.fullmatch(value):
        shown = f"a {len(value)}-character value" if len(value) > MAX_NUMBER_CHARS else repr(value[:40])
        raise PayloadError(f"{where}: {shown} is not a number (send decimal numbers of at most "
                           f"{MAX_NUMBER_CHARS} characters)")
    number = float(value)
    if math.isinf(number):
        raise PayloadError(f"{where}: {value[:40]!r} is not a finite number")
    return number


def _check_names(given: list[str], features: list[str], where: str) -> None:
    """`features` here is every column the model takes: its features and any text key (ticker)."""
    duplicated = sorted({n for n in given if given.count(n) > 1})
    if duplicated:
        raise PayloadError(f"{where}: duplicate columns: {_names(duplicated)}")
    missing = [f for f in features if f not in given]
    unknown = [n for n in given if n not in features]
    if missing or unknown:
        parts = []
        if missing:
            parts.append(f"missing features: {_names(missing)}")
        if unknown:
            parts.append(f"unknown columns: {_names(unknown)}")
        raise PayloadError(f"{where}: {'; '.join(parts)} (the model takes {len(features)} features)")


def _looks_like_header(row: list[str], features: list[str]) -> bool:
    """A header names at least one feature, or holds text and no number; a row of numbers and missing values
    only (`nan`, empty fields) is data: a headerless body may start with a row of missing values."""
    cells = [cell.strip() for cell in row]
    if any(cell in features for cell in cells):
        return True
    values = [cell for cell in cells if cell.lower() not in _MISSING_TEXT]
    if not values:
        return False
    for cell in values:
        try:
            float(cell)
            return False
        except ValueError:
            continue
    return True


def parse_csv(text: str, features: list[str], keys: tuple[str, ...] = ()) -> pd.DataFrame:
    try:
        rows = list(csv.reader(io.StringIO(text)))
    except csv.Error as exc:  # e.g. a field over the csv module's 128 KiB limit
        raise PayloadError(f"body is not valid CSV ({exc}); send one row of feature values per line") from None
    while rows and not any(cell.strip() for cell in rows[-1]) and len(rows[-1]) <= 1:
        rows.pop()  # blank lines at the end: no row follows them, so no answer can shift
    for line, row in enumerate(rows, start=1):
        if not row or (len(row) == 1 and not row[0].strip() and len(features) + len(keys) > 1):
            raise PayloadError(f"CSV line {line} is blank; send one row per line (a row of missing values is "
                               "its commas: ',,,')")
    if not rows:
        raise PayloadError("CSV body has no rows; send one row of feature values per line")
    header: list[str] | None = None
    if _looks_like_header(rows[0], [*features, *ROUTING_KEYS]):
        header = [cell.strip() for cell in rows[0]]
        sent_keys = tuple(k for k in ROUTING_KEYS if k in header and k not in keys)
        keys = (*keys, *sent_keys)
        _check_names(header, [*features, *keys], "CSV header")
        rows = rows[1:]
        if not rows:
            raise PayloadError("CSV body has a header row but no data rows")
    elif keys:
        raise PayloadError(f"this model routes rows by {', '.join(keys)}: send a header row naming "
                           f"{', '.join(keys)} and the {len(features)} features")
    columns = header or features
    if len(rows) > MAX_ROWS:
        raise PayloadError(f"{len(rows)} rows in one request; send at most {MAX_ROWS}")
    values = np.empty((len(rows), len(columns)), dtype="float64")
    texts: dict[str, list[str]] = {key: [] for key in keys}
    first_line = 2 if header else 1
    for i, row in enumerate(rows):
        if len(row) != len(columns):
            how = "the header has" if header else "the model takes"
            hint = "" if header else " (send exactly that many values per row, or a header row of feature names)"
            raise PayloadError(f"CSV row {i + first_line} has {len(row)} values; {how} {len(columns)}{hint}")
        for j, cell in enumerate(row):
            if columns[j] in texts:
                texts[columns[j]].append(_key(cell, f"CSV row {i + first_line}, column '{columns[j]}'"))
                values[i, j] = math.nan
            else:
                values[i, j] = _number(cell, f"CSV row {i + first_line}, column '{columns[j]}'")
    frame = pd.DataFrame(values, columns=columns)[features]
    return frame.assign(**texts) if texts else frame


def _shown(value: Any) -> str:
    """A short rendering of what the client sent: never re-encodes a whole (possibly deep) container."""
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, str):
        return json.dumps(value[:40])
    return json.dumps(value)[:40]


def _key(value: Any, where: str) -> str:
    """A routing key (ticker): non-empty text."""
    if not isinstance(value, str) or not value.strip():
        raise PayloadError(f"{where}: expected a ticker symbol, got {_shown(value)}")
    return value.strip()


def _json_value(value: Any, where: str) -> float:
    if value is None:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PayloadError(f"{where}: expected a number or null, got {_shown(value)}")
    if math.isinf(value) or math.isnan(value):
        raise PayloadError(f"{where}: expected a finite number or null")
    return float(value)


def parse_json(text: str, features: list[str], keys: tuple[str, ...] = ()) -> pd.DataFrame:
    try:  # bounded: nesting, number length, no NaN/Infinity (steps.common.artifact_json)
        payload = parse_json_text(text)
    except ValueError as exc:
        raise PayloadError(f"JSON body: {exc}; send {{\"instances\": [{{\"<feature>\": <number>, ...}}]}}"
                           ) from None
    shape = 'expected {"instances": [{"<feature>": <number>, ...}, ...]}'
    if not isinstance(payload, dict) or "instances" not in payload:
        raise PayloadError(f"JSON body: {shape}")
    instances = payload["instances"]
    if not isinstance(instances, list) or not instances:
        raise PayloadError(f"JSON body: 'instances' must be a non-empty list; {shape}")
    if len(instances) > MAX_ROWS:
        raise PayloadError(f"{len(instances)} instances in one request; send at most {MAX_ROWS}")
    values = np.empty((len(instances), len(features)), dtype="float64")
    texts: dict[str, list[str]] = {key: [] for key in keys}
    for i, instance in enumerate(instances):
        where = f"instance {i}"
        if not isinstance(instance, dict):
            raise PayloadError(f"{where}: expected an object of feature: value, got {type(instance).__name__}")
        present = (*keys, *(k for k in ROUTING_KEYS if k in instance and k not in keys))
        if i == 0:
            texts.update({k: [] for k in present if k not in texts})
        elif set(present) != set(texts):
            named = ", ".join(texts) or "no ticker"
            raise PayloadError(f"{where}: every instance must name the same columns ({named})")
        _check_names(list(instance), [*features, *present], where)
        for j, name in enumerate(features):
            values[i, j] = _json_value(instance[name], f"{where}, feature '{name}'")
        for key in texts:
            texts[key].append(_key(instance[key], f"{where}, '{key}'"))
    frame = pd.DataFrame(values, columns=features)
    return frame.assign(**texts) if texts else frame


def parse_payload(body: bytes, content_type: str | None, features: list[str],
                  keys: tuple[str, ...] = ()) -> pd.DataFrame:
    """A frame with exactly `features` (and the text `keys` a grouped model routes by) as columns."""
    kind = media_type(content_type)
    if kind not in CSV_TYPES | JSON_TYPES:
        shown = kind or "none"
        raise PayloadError(f"unsupported Content-Type {shown!r}; send text/csv or application/json")
    if not body or not body.strip():
        raise PayloadError("empty body; send at least one row of feature values")
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise PayloadError("body is not UTF-8 text") from None
    return parse_csv(text, features, keys) if kind in CSV_TYPES else parse_json(text, features, keys)


def predictions_body(probabilities: np.ndarray, threshold: float) -> bytes:
    rows = [{"probability": float(p), "label": int(p >= threshold)} for p in probabilities]
    return json.dumps({"predictions": rows}).encode()
