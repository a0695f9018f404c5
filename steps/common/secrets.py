"""API credentials from AWS Secrets Manager, cached, and never printable.

Why a wrapper type: a bearer token that is a plain `str` ends up in an f-string, a log line or an
exception sooner or later. `Secret` hides its value from `str`/`repr`/formatting; code that needs the
value calls `.reveal()` at the one place it is sent (an HTTP header). Errors name the secret id and the
key that is missing, never the value. The cache keeps one Secrets Manager call per secret per TTL, so
a reconnecting stream does not hammer the API (and does not pay its latency on every reconnect).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from steps.common.errors import StepError


class SecretError(StepError):
    """The secret is missing, unreadable or malformed; the message never holds the secret's value."""


class Secret:
    """A secret value that does not print itself."""

    __slots__ = ("_value", "name")

    def __init__(self, value: str, name: str) -> None:
        self._value = value
        self.name = name

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret({self.name!r}, value=<redacted>)"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash((Secret, self.name))

    def __reduce__(self):  # no pickling into artifacts
        raise TypeError("a Secret cannot be pickled")


@dataclass
class SecretStore:
    """Reads secrets through boto3 (real AWS, or the emulator through `endpoint_url`) with a TTL cache."""

    region: str | None = None
    endpoint_url: str | None = None
    ttl_seconds: float = 900.0
    client: Any = None
    _cache: dict[str, tuple[float, dict[str, str] | str]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _client(self) -> Any:
        if self.client is None:
            from steps.common.aws import bounded_client

            self.client = bounded_client("secretsmanager", region=self.region, endpoint_url=self.endpoint_url,
                                         read_timeout_s=10)
        return self.client

    def _fetch(self, secret_id: str) -> dict[str, str] | str:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = self._client().get_secret_value(SecretId=secret_id)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "ClientError")
            if code == "ResourceNotFoundException":
                raise SecretError(
                    f"secret {secret_id!r} not found; fix: create it (aws secretsmanager create-secret "
                    f"--name {secret_id} --secret-string '{{\"bearer_token\": \"...\"}}') or pass the right id"
                ) from None
            raise SecretError(f"secret {secret_id!r}: cannot read it ({code}); fix: check the IAM policy") from None
        except BotoCoreError as exc:
            raise SecretError(f"secret {secret_id!r}: cannot reach Secrets Manager ({type(exc).__name__})") from None
        text = response.get("SecretString")
        if text is None:
            raise SecretError(f"secret {secret_id!r} holds binary data; fix: store a JSON object as SecretString")
        stripped = text.strip()
        if stripped.startswith("{"):
            try:
                payload = json.loads(stripped)
            except json.JSONDecodeError:
                payload = None  # raised below, outside the handler: the decode error's `.doc` holds the text
            if payload is None:
                raise SecretError(
                    f"secret {secret_id!r} is not valid JSON; fix: store a JSON object like "
                    '{"bearer_token": "..."}'
                )
            if not isinstance(payload, dict) or not all(isinstance(v, str) for v in payload.values()):
                raise SecretError(f"secret {secret_id!r}: expected a JSON object of strings")
            return payload
        return stripped

    def _payload(self, secret_id: str) -> dict[str, str] | str:
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(secret_id)
            if cached and now - cached[0] < self.ttl_seconds:
                return cached[1]
        payload = self._fetch(secret_id)
        with self._lock:
            self._cache[secret_id] = (now, payload)
        return payload

    def get(self, secret_id: str, key: str | None = None) -> Secret:
        """The value under `key` of a JSON secret, or the whole string secret when `key` is None."""
        payload = self._payload(secret_id)
        if key is None:
            if isinstance(payload, dict):
                raise SecretError(f"secret {secret_id!r} is a JSON object; fix: name the key to read")
            value = payload
        else:
            if not isinstance(payload, dict):
                raise SecretError(
                    f"secret {secret_id!r} is a plain string, not a JSON object with key {key!r}; fix: store "
                    f'{{"{key}": "..."}}'
                )
            if key not in payload:
                keys = ", ".join(sorted(payload)) or "none"
                raise SecretError(f"secret {secret_id!r} has no key {key!r} (keys: {keys}); fix: add it")
            value = payload[key]
        if not value.strip():
            raise SecretError(f"secret {secret_id!r} key {key!r} is empty; fix: store the credential")
        if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value) or not value.isascii():
            # A credential goes into an HTTP header: CR/LF would split it (requests refuses the header, and the
            # ingest loop read that as a dropped stream: exit 0 with 0 rows), other control characters and
            # non-ASCII are no bearer token (RFC 6750's token68 is printable ASCII).
            raise SecretError(f"secret {secret_id!r} key {key!r} holds a line break, a control character or "
                              "non-ASCII text (not shown); fix: store the credential as one line of printable "
                              "ASCII (no trailing newline)")
        return Secret(value, f"{secret_id}:{key}" if key else secret_id)

    def invalidate(self, secret_id: str | None = None) -> None:
        """Forget cached values (after a 401: the secret may have been rotated)."""
        with self._lock:
            if secret_id is None:
                self._cache.clear()
            else:
                self._cache.pop(secret_id, None)
