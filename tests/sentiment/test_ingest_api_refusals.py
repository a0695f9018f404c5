"""The stream API refusing or not answering ends ingest on one line (exit 2), naming the status and the fix,
never the token, with nothing written: a wrong bearer token (401 from the rules API and from the stream),
a rules API that is not there, and one that answers 503."""

from __future__ import annotations

import json
import socket
import subprocess
from pathlib import Path

import boto3
import pytest
from fake_stream_server import FakeStreamServer, ServerState, build_script
from sentiment_constants import CANARY, REPO

HANG_GUARD_S = 120  # these runs end in about a second; only a hang reaches this


def _ingest(python: str, env: dict[str, str], output: Path, api_base: str, endpoint: str,
            *extra: str) -> subprocess.CompletedProcess:
    argv = [python, "-m", "steps.ingest", "--output", str(output), "--endpoint-url", endpoint, "--api-base",
            api_base, "--max-seconds", "30", "--backoff-scale", "0.01", "--max-retries", "2", "--no-metrics",
            "--read-timeout", "1.0", *extra]
    return subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=HANG_GUARD_S)


def _store_token(endpoint: str, token: str) -> None:
    boto3.client("secretsmanager", endpoint_url=endpoint).create_secret(
        Name="conviction/twitter", SecretString=json.dumps({"bearer_token": token}))


def _error_line(result: subprocess.CompletedProcess) -> str:
    assert "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    return errors[0]


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.moto
@pytest.mark.parametrize("sync_rules", [True, False], ids=["rules-api", "stream"])
def test_a_wrong_token_ends_on_one_line_without_the_token(tmp_path, aws_endpoint, step_env, python, sync_rules):
    wrong = CANARY + "-wrong"
    _store_token(aws_endpoint, wrong)
    output = tmp_path / "tweets"
    state = ServerState(bearer=CANARY, script=build_script(1000, ["AAPL", "MSFT"], seed=1))
    with FakeStreamServer(state) as server:
        extra = () if sync_rules else ("--no-sync-rules",)
        result = _ingest(python, step_env, output, server.url, aws_endpoint, *extra)
    assert result.returncode == 2, result.stderr
    line = _error_line(result)
    assert "answered 401" in line and "fix: check the bearer token secret" in line
    assert state.unauthorized == 1, "a refused token must not be retried"
    assert wrong not in result.stderr + result.stdout
    assert not any(p.is_file() for p in output.rglob("*")) if output.exists() else True


@pytest.mark.moto
def test_an_unreachable_rules_api_ends_on_one_line(tmp_path, aws_endpoint, step_env, python):
    _store_token(aws_endpoint, CANARY)
    result = _ingest(python, step_env, tmp_path / "tweets", f"http://127.0.0.1:{_closed_port()}", aws_endpoint)
    assert result.returncode == 2, result.stderr
    line = _error_line(result)
    assert "no answer" in line and "/2/tweets/search/stream/rules" in line and "fix: check --api-base" in line
    assert CANARY not in result.stderr


@pytest.mark.moto
def test_a_failing_rules_api_says_run_again_later(tmp_path, aws_endpoint, step_env, python):
    _store_token(aws_endpoint, CANARY)
    from aiohttp import web

    state = ServerState(bearer=CANARY, script=build_script(1000, ["AAPL", "MSFT"], seed=2))
    with FakeStreamServer(state) as server:
        async def unavailable(request: web.Request) -> web.Response:
            return web.json_response({"title": "Service Unavailable", "detail": "try later"}, status=503)

        server.override_rules = unavailable
        result = _ingest(python, step_env, tmp_path / "tweets", server.url, aws_endpoint)
    assert result.returncode == 2, result.stderr
    line = _error_line(result)
    assert "answered 503 (Service Unavailable - try later)" in line and "run again later" in line


@pytest.mark.moto
@pytest.mark.parametrize("token", [CANARY + "\r\nX-Injected: 1", CANARY + "\n", "\r" + CANARY, CANARY + "\x00x",
                                   CANARY + "\t", CANARY + "\u00e9", CANARY + "\x7f"],
                         ids=["crlf-header", "trailing-newline", "leading-cr", "nul", "tab", "non-ascii", "del"])
def test_a_token_that_cannot_be_a_header_ends_on_one_line_with_nothing_written(tmp_path, aws_endpoint, step_env,
                                                                               python, token):
    """Issue 29: a token with CR/LF made requests refuse the header, read as a dropped stream: exit 0, 0 rows."""
    _store_token(aws_endpoint, token)
    output = tmp_path / "tweets"
    state = ServerState(bearer=CANARY, script=build_script(1000, ["AAPL", "MSFT"], seed=1))
    with FakeStreamServer(state) as server:
        result = _ingest(python, step_env, output, server.url, aws_endpoint)
    assert result.returncode == 2, result.stderr
    line = _error_line(result)
    assert "conviction/twitter" in line and "bearer_token" in line and "line break" in line
    assert CANARY not in result.stderr + result.stdout
    assert not output.exists() or not any(output.rglob("*.parquet"))
