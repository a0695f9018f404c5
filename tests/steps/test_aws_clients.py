"""The steps' boto3 clients give up in seconds on an endpoint that accepts connections and never answers
(a blackholed route, a hung emulator), where botocore's defaults would wait minutes."""

from __future__ import annotations

import socket
import threading

import pytest

from steps.common.aws import ATTEMPTS, CONNECT_TIMEOUT_S, bounded_client
from steps.common.secrets import SecretError, SecretStore


@pytest.fixture
def silent_endpoint():
    """A socket on 127.0.0.1 that accepts (the kernel's backlog) and never reads or replies."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    server.close()


def test_the_client_carries_bounded_timeouts_and_standard_retries():
    client = bounded_client("cloudwatch", region="us-east-1", endpoint_url="http://127.0.0.1:9", read_timeout_s=7)
    config = client.meta.config
    assert (config.connect_timeout, config.read_timeout) == (CONNECT_TIMEOUT_S, 7)
    assert config.retries == {"total_max_attempts": ATTEMPTS, "mode": "standard"}


def test_a_secret_from_a_silent_endpoint_fails_in_one_line_within_seconds(silent_endpoint, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    store = SecretStore(region="us-east-1", endpoint_url=silent_endpoint)
    store.client = bounded_client("secretsmanager", region="us-east-1", endpoint_url=silent_endpoint,
                                  read_timeout_s=0.5)
    raised: list[BaseException] = []

    def fetch() -> None:
        try:
            store.get("conviction/twitter", "bearer_token")
        except BaseException as exc:  # handed to the test thread
            raised.append(exc)

    worker = threading.Thread(target=fetch, daemon=True)
    worker.start()
    worker.join(timeout=60)  # hang guard only: ~3 x 0.5 s expected; botocore's defaults wait ~4 minutes
    assert not worker.is_alive(), "the bounded client did not give up"
    assert len(raised) == 1 and isinstance(raised[0], SecretError), raised
    assert "cannot reach Secrets Manager" in str(raised[0]) and "\n" not in str(raised[0])
