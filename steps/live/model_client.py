"""The model call: one request per decision time, every ticker's row in it.

Two clients with one method, `score(rows, columns) -> probabilities`:
- `HttpModel`: a running `python -m steps.serve` (the serving container's program) at a URL;
- `EndpointModel`: a SageMaker endpoint through boto3 `sagemaker-runtime` InvokeEndpoint (the emulator on
  127.0.0.1 locally, `--endpoint-url`).
Both send the serving contract's CSV with a header (ticker first, then the model's columns), so the
request bytes are the same either way. Floats are written with repr (shortest round-trip), so the server
parses exactly the engine's values.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Protocol

import numpy as np
import pandas as pd

from steps.common.errors import StepError

TIMEOUT_S = 30.0


class ModelCallError(StepError):
    """The model refused or did not answer; one line with its status and message."""


class Model(Protocol):
    def score(self, rows: pd.DataFrame, columns: list[str]) -> np.ndarray: ...


def csv_body(rows: pd.DataFrame, columns: list[str]) -> bytes:
    """ticker + columns as CSV with a header; NaN as an empty field (a missing value to the models)."""
    lines = [",".join(["ticker", *columns])]
    values = rows[columns].to_numpy(dtype="float64")
    for ticker, row in zip(rows["ticker"].astype(str), values, strict=True):
        lines.append(",".join([ticker, *("" if v != v else repr(float(v)) for v in row)]))
    return ("\n".join(lines) + "\n").encode()


def probabilities(body: bytes, expected: int, where: str) -> np.ndarray:
    try:
        payload = json.loads(body)
        values = np.array([float(p["probability"]) for p in payload["predictions"]], dtype="float64")
    except (ValueError, KeyError, TypeError) as exc:
        shape = "{'predictions': [{'probability': ...}]}"
        raise ModelCallError(f"{where}: the answer is not {shape} ({exc})") from None
    if len(values) != expected:
        raise ModelCallError(f"{where}: {len(values)} predictions for {expected} rows")
    return values


class HttpModel:
    def __init__(self, url: str, timeout_s: float = TIMEOUT_S) -> None:
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s

    def score(self, rows: pd.DataFrame, columns: list[str]) -> np.ndarray:
        request = urllib.request.Request(f"{self.url}/invocations", data=csv_body(rows, columns), method="POST",
                                         headers={"Content-Type": "text/csv", "Accept": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                return probabilities(response.read(), len(rows), self.url)
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf-8", "replace").strip().splitlines()
            raise ModelCallError(f"{self.url} answered {exc.code}: {detail[0] if detail else ''}") from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ModelCallError(f"{self.url} did not answer ({reason}); start `python -m steps.serve` there "
                                 "or pass the right --serve-url") from None


class EndpointModel:
    def __init__(self, endpoint_name: str, runtime_client) -> None:
        self.endpoint_name = endpoint_name
        self.runtime = runtime_client

    def score(self, rows: pd.DataFrame, columns: list[str]) -> np.ndarray:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = self.runtime.invoke_endpoint(EndpointName=self.endpoint_name, ContentType="text/csv",
                                                    Accept="application/json", Body=csv_body(rows, columns))
        except (ClientError, BotoCoreError) as exc:
            raise ModelCallError(f"endpoint {self.endpoint_name}: {str(exc).splitlines()[0]}") from None
        return probabilities(response["Body"].read(), len(rows), f"endpoint {self.endpoint_name}")
