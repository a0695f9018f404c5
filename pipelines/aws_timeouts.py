"""Bounded waits for every boto3 client the CLIs make: an endpoint that accepts and never answers costs at
most a few tries of a bounded wait, then one line naming the endpoint, never minutes of silence.

    CONVICTION_AWS_CONNECT_TIMEOUT   seconds to open a connection          (default 5)
    CONVICTION_AWS_READ_TIMEOUT      seconds to wait for a response        (default 30)
    CONVICTION_AWS_MAX_ATTEMPTS      tries per call, the first included    (default 3, botocore "standard" mode)

Worst case for one call: MAX_ATTEMPTS x (CONNECT or READ timeout) plus botocore's backoff (under 20 s in all
with the defaults: standard mode backs off at most 20 s per retry, usually well under 1 s at attempts 2-3).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from pipelines.config import ConfigError

CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 30.0
MAX_ATTEMPTS = 3
CONNECT_TIMEOUT_ENV = "CONVICTION_AWS_CONNECT_TIMEOUT"
READ_TIMEOUT_ENV = "CONVICTION_AWS_READ_TIMEOUT"
MAX_ATTEMPTS_ENV = "CONVICTION_AWS_MAX_ATTEMPTS"
# bounds on the overrides: a typo must not turn into an unbounded wait or zero tries
_TIMEOUT_RANGE = (0.1, 600.0)
_ATTEMPTS_RANGE = (1, 10)


class TimeoutSettingError(ConfigError):
    """An override that is not a number in range (one line; the CLIs print ConfigError lines and exit 2)."""


def _number(environ: Mapping[str, str], name: str, default: float, low: float, high: float, kind=float):
    text = environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = kind(text)
    except ValueError:
        raise TimeoutSettingError(f"{name}={text!r}: expected a number from {low:g} to {high:g}") from None
    if not low <= value <= high:  # also refuses nan
        raise TimeoutSettingError(f"{name}={text!r}: expected a number from {low:g} to {high:g}")
    return value


def timeouts(environ: Mapping[str, str] | None = None) -> tuple[float, float, int]:
    """(connect timeout s, read timeout s, max attempts), the env overrides applied."""
    environ = os.environ if environ is None else environ
    return (
        _number(environ, CONNECT_TIMEOUT_ENV, CONNECT_TIMEOUT_S, *_TIMEOUT_RANGE),
        _number(environ, READ_TIMEOUT_ENV, READ_TIMEOUT_S, *_TIMEOUT_RANGE),
        _number(environ, MAX_ATTEMPTS_ENV, MAX_ATTEMPTS, *_ATTEMPTS_RANGE, kind=int),
    )


def client_config(environ: Mapping[str, str] | None = None):
    """The botocore Config every client gets: bounded connect/read timeouts and retries."""
    from botocore.config import Config

    connect, read, attempts = timeouts(environ)
    # total_max_attempts counts the first try; botocore's `max_attempts` would count retries only (one more try)
    return Config(
        connect_timeout=connect, read_timeout=read, retries={"total_max_attempts": attempts, "mode": "standard"}
    )


def unreachable_errors() -> tuple[type[Exception], ...]:
    from botocore.exceptions import ConnectTimeoutError, EndpointConnectionError, ReadTimeoutError

    return (ConnectTimeoutError, ReadTimeoutError, EndpointConnectionError)


def describe_unreachable(exc: Exception, elapsed_s: float, fallback_endpoint: str | None = None) -> str:
    """One line: which endpoint did not answer, how, and after how long (and how to wait longer)."""
    from botocore.exceptions import ReadTimeoutError

    endpoint = getattr(exc, "kwargs", {}).get("endpoint_url") or fallback_endpoint or "the AWS endpoint"
    connect, read, attempts = timeouts()
    if isinstance(exc, ReadTimeoutError):
        how = f"accepted the connection but did not answer within {read:g}s"
        override = READ_TIMEOUT_ENV
    else:
        how = f"could not be reached (connect timeout {connect:g}s)"
        override = CONNECT_TIMEOUT_ENV
    return (
        f"{endpoint} {how}; gave up after {elapsed_s:.1f}s and {attempts} attempt(s) "
        f"(check --endpoint-url and the network; {override}, {MAX_ATTEMPTS_ENV} allow longer)"
    )
