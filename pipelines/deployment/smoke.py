"""The smoke test: held-out rows to the new endpoint; response schema, probability range and values checked.

The rows come with the artifact's own predictions for them (`smoke_rows.parquet`, written by
steps.ensemble beside evaluation.json), so the endpoint must return those numbers, not merely numbers.
A malformed request must come back as a 4xx: the endpoint's input validation is part of what is tested.
"""

from __future__ import annotations

import io
import json
import math
import time
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from pipelines.deployment.invoker import Invoker

NOT_FEATURES = {"ticker", "ts", "expected_prediction", "label", "label_end", "forward_return", "sector"}


@dataclass
class SmokeResult:
    passed: bool
    summary: str
    rows: int = 0
    latency_ms: float = 0.0
    failures: list[str] = field(default_factory=list)


def csv_body(rows: pd.DataFrame, features: list[str]) -> bytes:
    """Held-out rows as the endpoint takes them; with their ticker, which per-stock/sector models route by."""
    columns = [*(["ticker"] if "ticker" in rows.columns else []), *features]
    buffer = io.StringIO()
    rows[columns].to_csv(buffer, index=False)
    return buffer.getvalue().encode()


def check_response(status: int, body: bytes, n_rows: int, expected: list[float] | None,
                   tolerance: float, threshold: float = 0.5) -> list[str]:
    if status != 200:
        return [f"status {status}: {body[:200].decode(errors='replace')}"]
    try:
        payload = json.loads(body)
    except json.JSONDecodeError:
        return ["response is not JSON"]
    predictions = payload.get("predictions") if isinstance(payload, dict) else None
    if not isinstance(predictions, list):
        return ["response has no 'predictions' list"]
    if len(predictions) != n_rows:
        return [f"{len(predictions)} predictions for {n_rows} rows"]
    failures: list[str] = []
    for i, item in enumerate(predictions):
        if not isinstance(item, dict) or set(item) != {"probability", "label"}:
            failures.append(f"prediction {i} is not {{probability, label}}: {str(item)[:80]}")
            continue
        p, label = item["probability"], item["label"]
        if isinstance(p, bool) or not isinstance(p, int | float) or not math.isfinite(p) or not 0.0 <= p <= 1.0:
            failures.append(f"prediction {i}: probability {p!r} is not in [0, 1]")
        elif label not in (0, 1) or isinstance(label, bool) or label != int(p >= threshold):
            failures.append(f"prediction {i}: label {label!r} does not match probability {p}")
        elif expected is not None and abs(p - expected[i]) > tolerance:
            failures.append(f"prediction {i}: {p} differs from the artifact's {expected[i]} by more than {tolerance}")
    return failures


def run_smoke_test(invoker: Invoker, endpoint_name: str, rows: pd.DataFrame, features: list[str], *,
                   tolerance: float, threshold: float = 0.5) -> SmokeResult:
    expected = rows["expected_prediction"].tolist() if "expected_prediction" in rows.columns else None
    started = time.perf_counter()
    response = invoker.invoke(endpoint_name, csv_body(rows, features), "text/csv")
    latency_ms = (time.perf_counter() - started) * 1e3
    failures = check_response(response.status, response.body, len(rows), expected, tolerance, threshold)
    bad = invoker.invoke(endpoint_name, b"not,a,number\n", "text/csv")
    if not 400 <= bad.status < 500:
        failures.append(f"a malformed CSV body got status {bad.status}, expected 4xx")
    checked = "values, " if expected is not None else ""
    if failures:
        summary = f"smoke test FAILED on {endpoint_name}: {failures[0]}" + (
            f" (+{len(failures) - 1} more)" if len(failures) > 1 else "")
    else:
        summary = (f"smoke test passed on {endpoint_name}: {len(rows)} held-out rows, schema, probability range, "
                   f"{checked}bad-input 4xx checked in {latency_ms:.0f} ms")
    return SmokeResult(not failures, summary, len(rows), latency_ms, failures)


def describe(result: SmokeResult) -> dict[str, Any]:
    return {"passed": result.passed, "rows": result.rows, "latency_ms": round(result.latency_ms, 2),
            "failures": result.failures[:10], "summary": result.summary}
