"""steps.serve over real HTTP: the SageMaker contract, and 400s with one-line messages for bad payloads."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from steps.serve.model import load_artifact
from steps.serve.server import make_server


@pytest.fixture(scope="module")
def served(model_dir: Path, features_dir: Path) -> Iterator[tuple[str, list[str], pd.DataFrame, np.ndarray]]:
    with load_artifact(model_dir) as model:
        server = make_server(model, "127.0.0.1", 0)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        thread.start()
        rows = pd.read_parquet(features_dir / "features.parquet").tail(5).reset_index(drop=True)
        try:
            yield server.url, model.features, rows, model.predict(rows)
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=10)


def _post(url: str, body: bytes, content_type: str | None, path: str = "/invocations") -> tuple[int, dict]:
    headers = {"Content-Type": content_type} if content_type else {}
    request = urllib.request.Request(url + path, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _csv(rows: pd.DataFrame, features: list[str], header: bool = True) -> bytes:
    return rows[features].to_csv(index=False, header=header).encode()


def test_ping_and_good_payloads_score_like_the_model(served) -> None:
    url, features, rows, expected = served
    with urllib.request.urlopen(url + "/ping", timeout=10) as response:
        assert response.status == 200 and json.loads(response.read())["status"] == "healthy"
    with_header = _post(url, _csv(rows, features), "text/csv")
    reordered = _post(url, _csv(rows, list(reversed(features))), "text/csv; charset=utf-8")
    no_header = _post(url, _csv(rows, features, header=False), "text/csv")
    instances = [{k: (None if pd.isna(v) else float(v)) for k, v in row.items()} for row in
                 rows[features].to_dict("records")]
    as_json = _post(url, json.dumps({"instances": instances}).encode(), "application/json")
    for status, body in (with_header, reordered, no_header, as_json):
        assert status == 200
        probabilities = [p["probability"] for p in body["predictions"]]
        np.testing.assert_allclose(probabilities, expected, rtol=0, atol=1e-12)
        assert [p["label"] for p in body["predictions"]] == [int(p >= 0.5) for p in probabilities]


@pytest.mark.parametrize(("body", "content_type", "message"), [
    (b"", "text/csv", "empty body"),
    (b"1,2,3\n", "text/csv", "CSV row 1 has 3 values; the model takes"),
    (b"ret_5,bogus\n1,2\n", "text/csv", "unknown columns: bogus"),
    (b"{features}\n", "text/csv", "CSV header"),
    (b"{numbers_with_text}\n", "text/csv", "is not a number"),
    (b"{numbers_with_inf}\n", "text/csv", "is not a finite number"),
    (b"{header_only}\n", "text/csv", "no data rows"),
    (b"a=1", "text/plain", "unsupported Content-Type 'text/plain'"),
    (b"1,2", None, "unsupported Content-Type"),  # urllib then sends a form type
    (b"{not json", "application/json", "not valid JSON"),
    (b'{"rows": []}', "application/json", "expected {\"instances\""),
    (b'{"instances": [[1, 2]]}', "application/json", "instance 0: expected an object"),
    (b'{"instances": [{"ret_5": 1}]}', "application/json", "instance 0: missing features"),
    (b'{instance_with_text}', "application/json", "expected a number or null"),
    (b"\xff\xfe\x00", "text/csv", "not UTF-8"),
])
def test_bad_payloads_get_400_with_one_clear_line(served, body: bytes, content_type: str | None,
                                                 message: str) -> None:
    url, features, _rows, _expected = served
    n = len(features)
    fills = {
        b"{features}\n": (",".join(features[:-1]) + "\n" + ",".join(["1"] * (n - 1)) + "\n").encode(),
        b"{numbers_with_text}\n": (",".join(["1"] * (n - 1) + ["abc"]) + "\n").encode(),
        b"{numbers_with_inf}\n": (",".join(["1"] * (n - 1) + ["inf"]) + "\n").encode(),
        b"{header_only}\n": (",".join(features) + "\n").encode(),
        b'{instance_with_text}': json.dumps({"instances": [{**{f: 1.0 for f in features},
                                                            features[0]: "high"}]}).encode(),
    }
    status, payload = _post(url, fills.get(body, body), content_type)
    assert status == 400
    assert message in payload["error"], payload["error"]
    assert "\n" not in payload["error"] and "Traceback" not in payload["error"] and len(payload["error"]) < 300


def test_unknown_routes_are_404_and_the_server_keeps_serving(served) -> None:
    url, features, rows, _expected = served
    status, payload = _post(url, b"{}", "application/json", path="/predict")
    assert status == 404 and "POST /invocations" in payload["error"]
    assert _post(url, _csv(rows, features), "text/csv")[0] == 200
