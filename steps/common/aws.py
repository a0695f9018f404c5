"""boto3 clients for the steps, each with bounded waits.

botocore's defaults wait 60 s to connect and 60 s per read, retried up to 4 times in the legacy mode: a
blackholed endpoint (a wrong VPC route, a dead emulator) holds a step for minutes before the one-line error.
The steps that talk to AWS themselves (the ingester, the secret store, the live scorer and its monitor) take
their clients from here: 5 s to connect, a read timeout per use, and the standard retry mode (3 attempts in all,
backoff with jitter, throttling retried)."""

from __future__ import annotations

from typing import Any

CONNECT_TIMEOUT_S = 5.0
ATTEMPTS = 3


def bounded_client(service: str, *, region: str | None = None, endpoint_url: str | None = None,
                   read_timeout_s: float = 60.0) -> Any:
    """A boto3 client for `service` whose every call gives up after about ATTEMPTS x (connect + read) seconds."""
    import boto3  # only the steps that talk to AWS pay for importing boto3
    from botocore.config import Config

    config = Config(connect_timeout=CONNECT_TIMEOUT_S, read_timeout=read_timeout_s,
                    retries={"total_max_attempts": ATTEMPTS, "mode": "standard"})
    return boto3.client(service, region_name=region, endpoint_url=endpoint_url, config=config)
