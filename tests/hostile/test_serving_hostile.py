"""steps.serve under hostile load: bursts of clients, idle and trickling connections, saturated workers,
deeply nested JSON, and damaged artifacts or a busy port at start-up.

Each test would fail against the old `ThreadingHTTPServer` (backlog 5, a thread per connection, no
timeouts) or the old start-up (tracebacks). Waits are hang guards far above the expected time; what is
asserted is behaviour (answers, errors, thread counts, closed sockets), never how long it took.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from trained_model import build_model_folder

from steps.serve.model import ServingModel, load_artifact
from steps.serve.server import CONTROL_WORKERS, ServingServer, make_server

REPO = Path(__file__).resolve().parents[2]
GUARD_S = 60.0  # hang guard: every wait below is expected to end in well under a second or two


# -- fixtures ------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    """A real xgboost model folder (tiny generated market) and some feature rows to score."""
    from steps.features.table import load_feature_table

    root = tmp_path_factory.mktemp("served")
    model = build_model_folder(root, num_round=20)
    return model, load_feature_table(root / "features").frame.tail(50).reset_index(drop=True)


@pytest.fixture(scope="module")
def model(trained) -> Iterator[ServingModel]:
    with load_artifact(trained[0]) as loaded:
        yield loaded


def _serve(model, **limits) -> tuple[ServingServer, threading.Thread]:
    server = make_server(model, "127.0.0.1", 0, **limits)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    return server, thread


def _stop(server: ServingServer, thread: threading.Thread) -> None:
    server.shutdown()
    server.server_close()
    thread.join(timeout=GUARD_S)


def _wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + GUARD_S
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"hang guard: {what} not within {GUARD_S:.0f} s")
        time.sleep(0.02)


def _post_bytes(body: bytes, content_type: str = "text/csv", connection: str = "keep-alive") -> bytes:
    return (f"POST /invocations HTTP/1.1\r\nHost: t\r\nContent-Type: {content_type}\r\nConnection: {connection}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


def _ping(url: str) -> tuple[int, dict]:
    with urllib.request.urlopen(url + "/ping", timeout=GUARD_S) as response:
        return response.status, json.loads(response.read())


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    status = int((await reader.readline()).split()[1])
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        if name.lower() == "content-length":
            length = int(value)
    return status, await reader.readexactly(length)


def _complete_responses(data: bytes) -> list[tuple[int, bytes]]:
    """The complete HTTP responses at the start of `data` (Content-Length framed), in order."""
    answers = []
    while (end := data.find(b"\r\n\r\n")) >= 0:
        head = data[:end].decode("latin-1").split("\r\n")
        fields = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in head[1:])}
        length = int(fields.get("content-length", 0))
        if len(data) < end + 4 + length:
            break
        answers.append((int(head[0].split()[1]), data[end + 4:end + 4 + length]))
        data = data[end + 4 + length:]
    return answers


def _rows_csv(rows: pd.DataFrame, features: list[str]) -> list[bytes]:
    return [rows.iloc[[i]][features].to_csv(index=False).encode() for i in range(len(rows))]


# -- load ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("keep_alive", [True, False], ids=["keep-alive", "fresh-connection"])
def test_200_concurrent_clients_all_get_the_models_answer(model, trained, keep_alive: bool) -> None:
    """A burst of 200 clients at once: no reset, no refusal, every answer the in-process model's number."""
    rows = trained[1]
    bodies = _rows_csv(rows, model.features)
    expected = model.predict(rows)
    server, thread = _serve(model)
    per_client = 3 if keep_alive else 1

    async def client(c: int) -> list[tuple[int, int, float]]:
        got = []
        reader = writer = None
        for k in range(per_client):
            i = (c * per_client + k) % len(bodies)
            if writer is None:
                reader, writer = await asyncio.open_connection("127.0.0.1", server.server_address[1])
            writer.write(_post_bytes(bodies[i], connection="keep-alive" if keep_alive else "close"))
            status, body = await _read_response(reader)
            got.append((i, status, json.loads(body)["predictions"][0]["probability"]))
            if not keep_alive:
                writer.close()
                writer = None
        if writer is not None:
            writer.close()
        return got

    async def burst() -> list[list[tuple[int, int, float]]]:
        return await asyncio.wait_for(asyncio.gather(*(client(c) for c in range(200))), GUARD_S)

    try:
        results = [answer for got in asyncio.run(burst()) for answer in got]
    finally:
        _stop(server, thread)
    assert len(results) == 200 * per_client
    assert {status for _, status, _ in results} == {200}
    np.testing.assert_allclose([p for _, _, p in results], [expected[i] for i, _, _ in results], rtol=0, atol=1e-12)


def test_idle_connections_hold_no_thread_and_are_closed_after_the_idle_timeout(model) -> None:
    threads_before = threading.active_count()
    server, thread = _serve(model, workers=4, idle_timeout=1.0)
    idle: list[socket.socket] = []
    try:
        idle = [socket.create_connection(server.server_address, timeout=GUARD_S) for _ in range(300)]
        _wait_for(lambda: server.open_connections >= 300, "300 idle connections accepted")
        status, _ = _ping(server.url)  # the server still answers while they are held
        # selector thread + 4 workers + the control lane + the model thread, not one thread per connection
        assert threading.active_count() <= threads_before + 1 + 4 + CONTROL_WORKERS + 1
        for sock in idle:  # closed by the server: EOF on every one
            assert sock.recv(1) == b""
        _wait_for(lambda: server.open_connections == 0, "idle connections closed")
    finally:
        for sock in idle:
            sock.close()
        _stop(server, thread)
    assert status == 200


def test_past_max_connections_the_longest_idle_connection_makes_room(model) -> None:
    server, thread = _serve(model, max_connections=5)
    held: list[socket.socket] = []
    try:
        for _ in range(5):
            held.append(socket.create_connection(server.server_address, timeout=GUARD_S))
            _wait_for(lambda: server.open_connections == len(held), "connection accepted")
        status, _ = _ping(server.url)  # a sixth connection: the oldest idle one is closed for it
        oldest_closed = held[0].recv(1) == b""
        _wait_for(lambda: server.open_connections == 4, "the ping's connection closed")
    finally:
        for sock in held:
            sock.close()
        _stop(server, thread)
    assert status == 200 and oldest_closed


def test_ping_answers_while_every_scoring_worker_waits_on_the_model() -> None:
    entered, release = threading.Event(), threading.Event()
    calls = {"done": 0}

    class BlockedModel:
        features, keys, threshold = ["x"], (), 0.5

        def predict(self, frame: pd.DataFrame) -> np.ndarray:
            entered.set()
            release.wait(GUARD_S)
            calls["done"] += 1
            return np.full(len(frame), 0.25)

        def describe(self) -> dict:
            return {"kind": "stub"}

    server, thread = _serve(BlockedModel(), workers=4)
    clients = [socket.create_connection(server.server_address, timeout=GUARD_S) for _ in range(12)]
    try:
        for sock in clients:
            sock.sendall(_post_bytes(b"x\n1\n"))
        if not entered.wait(GUARD_S):
            pytest.fail("hang guard: the model was never called")
        status, payload = _ping(server.url)
        done_at_ping = calls["done"]
        release.set()
        answers = [sock.makefile("rb").readline() for sock in clients]
    finally:
        release.set()
        for sock in clients:
            sock.close()
        _stop(server, thread)
    assert status == 200 and payload["status"] == "healthy"
    assert done_at_ping == 0, "ping was answered only after the model calls queued before it"
    assert answers == [b"HTTP/1.1 200 OK\r\n"] * 12


@pytest.mark.parametrize("ping_first", [False, True], ids=["posts-then-ping", "ping-then-posts"])
def test_pipelined_requests_on_one_connection_are_all_answered_in_order(model, trained, ping_first: bool) -> None:
    """Requests sent back to back in one write: the ones read ahead into the buffer must not be lost."""
    rows = trained[1].head(3)
    bodies = _rows_csv(rows, model.features)
    expected = model.predict(rows)
    ping = b"GET /ping HTTP/1.1\r\nHost: t\r\n\r\n"
    posts = b"".join(_post_bytes(b) for b in bodies)
    server, thread = _serve(model)
    try:
        with socket.create_connection(server.server_address, timeout=GUARD_S) as sock:
            sock.sendall(ping + posts if ping_first else posts + ping)
            data = b""
            for _ in range(1000):  # until four complete answers are in (or the server closes: a failure)
                answers = _complete_responses(data)
                if len(answers) >= 4:
                    break
                chunk = sock.recv(65536)
                if not chunk:
                    pytest.fail(f"the server closed after {len(answers)} answers")
                data += chunk
    finally:
        _stop(server, thread)
    if ping_first:
        answers = answers[1:] + answers[:1]
    assert [status for status, _ in answers] == [200] * 4
    got = [json.loads(body)["predictions"][0]["probability"] for _, body in answers[:3]]
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    assert json.loads(answers[3][1])["status"] == "healthy"


def test_a_request_trickled_byte_by_byte_is_cut_off_at_the_request_deadline(model) -> None:
    """A per-recv timeout would let this client hold a worker for ever; the deadline is for the whole request."""
    server, thread = _serve(model, workers=1, request_timeout=1.0)
    request = _post_bytes(b"x" * 200)
    sent = 0
    try:
        with socket.create_connection(server.server_address, timeout=GUARD_S) as sock:
            sock.settimeout(0.3)
            closed = False
            for byte in request:  # at most len(request) * 0.3 s, far above the 1 s deadline
                try:
                    sock.sendall(bytes([byte]))
                    sent += 1
                    closed = sock.recv(1) == b""
                except TimeoutError:
                    continue
                except OSError:
                    closed = True
                if closed:
                    break
        status, _ = _ping(server.url)
    finally:
        _stop(server, thread)
    assert closed and sent < len(request), "the server kept reading a request past its deadline"
    assert status == 200


# -- bad requests --------------------------------------------------------------------------------------

@pytest.mark.parametrize("body", [
    b'{"instances": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    b'{"instances": [{"x": ' + b"[" * 5_000 + b"]" * 5_000 + b"}]}",
], ids=["instances-nested-100000-deep", "a-value-nested-5000-deep"])
def test_deeply_nested_json_is_a_400_with_one_line(model, body: bytes) -> None:
    server, thread = _serve(model)
    try:
        request = urllib.request.Request(server.url + "/invocations", data=body, method="POST",
                                         headers={"Content-Type": "application/json"})
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(request, timeout=GUARD_S)
        payload = json.loads(caught.value.read())
        status, _ = _ping(server.url)
    finally:
        _stop(server, thread)
    assert caught.value.code == 400
    assert payload["error"].startswith("JSON body: nested too deeply") and "\n" not in payload["error"]
    assert status == 200


@pytest.mark.parametrize(("request_bytes", "status"), [
    (b"GARBAGE\r\n\r\n", None),  # no version: answered as HTTP/0.9 would be, a body without headers
    (b"BREW /pot HTTP/1.1\r\n\r\n", 501),
    (b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n", 414),
    (b"POST /invocations HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 400),
], ids=["bad-request-line", "unknown-method", "uri-too-long", "no-content-length"])
def test_protocol_errors_are_one_line_json_and_close_the_connection(model, request_bytes: bytes,
                                                                    status: int | None) -> None:
    server, thread = _serve(model)
    try:
        with socket.create_connection(server.server_address, timeout=GUARD_S) as sock:
            sock.sendall(request_bytes)
            data = b""
            for _ in range(1000):  # until the server closes
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
    finally:
        _stop(server, thread)
    answers = _complete_responses(data) if status else [(None, data)]
    assert len(answers) == 1 and answers[0][0] == status
    error = json.loads(answers[0][1])["error"]
    assert error and "\n" not in error and "<" not in error


# -- start-up ------------------------------------------------------------------------------------------

def _start(model_dir: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "steps.serve", "--model", str(model_dir), *args],
                          capture_output=True, text=True, timeout=GUARD_S, cwd=REPO,
                          env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})})


def _assert_one_line_failure(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr and "serving" not in result.stdout
    for fragment in fragments:
        assert fragment in lines[0]


def test_a_truncated_model_tar_gz_fails_start_up_with_one_line(trained, tmp_path: Path) -> None:
    archive = tmp_path / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(trained[0], arcname=".")
    data = archive.read_bytes()
    archive.write_bytes(data[: len(data) // 2])
    _assert_one_line_failure(_start(archive, "--port", "0"), str(archive), "cannot extract")


def test_a_corrupt_model_json_fails_start_up_with_one_line(trained, tmp_path: Path, relist) -> None:
    folder = tmp_path / "model"
    shutil.copytree(trained[0], folder)
    model_file = folder / "model.json"
    model_file.write_text(model_file.read_text()[:1000])
    # The folder's listing refuses a file other than the one training wrote ...
    _assert_one_line_failure(_start(folder, "--port", "0"), str(model_file), "not the file that run wrote")
    # ... and a corrupt file the listing vouches for (a writer that wrote it corrupt) is the library's error,
    # on one line naming the folder.
    relist(folder)
    _assert_one_line_failure(_start(folder, "--port", "0"), str(folder), "cannot load base model")


def test_a_busy_port_fails_start_up_with_one_line(trained) -> None:
    with socket.create_server(("127.0.0.1", 0)) as holder:
        port = holder.getsockname()[1]
        result = _start(trained[0], "--port", str(port))
    _assert_one_line_failure(result, f"127.0.0.1:{port}", "Address already in use", "another --port")


def test_a_bad_sagemaker_bind_to_port_fails_start_up_with_one_line(trained) -> None:
    result = _start(trained[0], env={"SAGEMAKER_BIND_TO_PORT": "80a"})
    _assert_one_line_failure(result, "SAGEMAKER_BIND_TO_PORT", "'80a'")
