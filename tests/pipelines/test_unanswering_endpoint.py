"""An endpoint that accepts connections and never answers: every CLI client gives up after bounded waits and
says which endpoint did not answer and after how long (issue 15.8)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from pipelines import upsert
from pipelines.aws_timeouts import (
    CONNECT_TIMEOUT_ENV,
    MAX_ATTEMPTS_ENV,
    READ_TIMEOUT_ENV,
    TimeoutSettingError,
    client_config,
    timeouts,
)

HANG_GUARD_S = 120  # far above the expected ~3 s (2 attempts x 1 s read timeout, backoff) plus the build
SERVER_LIFETIME_S = 300  # the silent server stops by itself even if the test never stops it


@pytest.fixture
def silent_endpoint() -> Iterator[str]:
    """A TCP server on 127.0.0.1 that accepts every connection and never sends a byte; closed at test end."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.2)
    stop = threading.Event()
    accepted: list[socket.socket] = []

    def serve() -> None:
        deadline = time.monotonic() + SERVER_LIFETIME_S
        while not stop.is_set() and time.monotonic() < deadline and len(accepted) < 100:
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            accepted.append(connection)  # held open, never answered

    thread = threading.Thread(target=serve, name="silent-endpoint", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(timeout=5)
        for connection in accepted:
            connection.close()
        listener.close()


@pytest.fixture
def fake_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))


def _call_with_guard(function, *args):
    """Run function(*args) in a thread; fail (not hang) if it has not returned within HANG_GUARD_S."""
    result: dict[str, object] = {}
    thread = threading.Thread(target=lambda: result.setdefault("value", function(*args)), daemon=True)
    thread.start()
    thread.join(timeout=HANG_GUARD_S)
    assert not thread.is_alive(), f"still waiting after {HANG_GUARD_S}s"
    return result.get("value")


def test_upsert_gives_up_on_an_endpoint_that_never_answers(silent_endpoint, fake_credentials, monkeypatch, capsys):
    monkeypatch.setenv(READ_TIMEOUT_ENV, "1")
    monkeypatch.setenv(CONNECT_TIMEOUT_ENV, "1")
    monkeypatch.setenv(MAX_ATTEMPTS_ENV, "2")
    code = _call_with_guard(upsert.main, ["--endpoint-url", silent_endpoint])
    assert code == 1
    said = [line for line in capsys.readouterr().err.splitlines() if line.startswith("upsert: ")]
    assert len(said) == 1, said  # one line (the log lines before it are the build's)
    assert silent_endpoint in said[0], said
    assert "did not answer within 1s" in said[0] and "gave up after" in said[0] and "2 attempt(s)" in said[0]


def test_defaults_and_overrides_are_bounded():
    assert timeouts({}) == (5.0, 30.0, 3)
    config = client_config({READ_TIMEOUT_ENV: "2.5", MAX_ATTEMPTS_ENV: "4"})
    assert (config.connect_timeout, config.read_timeout) == (5.0, 2.5)
    assert config.retries == {"total_max_attempts": 4, "mode": "standard"}
    bads = ({READ_TIMEOUT_ENV: "0"}, {READ_TIMEOUT_ENV: "nan"}, {MAX_ATTEMPTS_ENV: "0"}, {CONNECT_TIMEOUT_ENV: "x"})
    for bad in bads:
        with pytest.raises(TimeoutSettingError, match=next(iter(bad))):
            timeouts(bad)


def test_every_cli_client_carries_the_bounds(fake_credentials):
    from pipelines.emulator import emulator_client
    from pipelines.publish import AwsTarget

    clients = [
        AwsTarget(region="us-east-1", endpoint_url="http://127.0.0.1:9").client("sagemaker"),
        emulator_client("s3", "http://127.0.0.1:9"),
    ]
    for client in clients:
        assert client.meta.config.connect_timeout == 5.0 and client.meta.config.read_timeout == 30.0
        assert client.meta.config.retries == {"total_max_attempts": 3, "mode": "standard"}


def test_a_bad_override_is_a_one_line_upsert_error(fake_credentials, monkeypatch, capsys):
    monkeypatch.setenv(READ_TIMEOUT_ENV, "forever")
    assert upsert.main(["--endpoint-url", "http://127.0.0.1:9"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and READ_TIMEOUT_ENV in err and "forever" in err


def test_a_bad_override_is_a_one_line_error_for_the_emulator_clients_too(monkeypatch, tmp_path, capsys):
    from pipelines.approve import main as approve

    monkeypatch.setenv(MAX_ATTEMPTS_ENV, "0")
    assert approve(["--local", "--run-dir", str(tmp_path), "--list"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.splitlines()[-1].startswith("approve: ") and MAX_ATTEMPTS_ENV in err.splitlines()[-1]
