"""tweepy's async v2 streaming client with two seams opened: the API host and the reconnect loop.

Why override rather than use tweepy as is:
- tweepy hard-codes `https://api.twitter.com` in `AsyncStreamingClient._connect` and
  `AsyncBaseClient.request`; the fake server the reliability test talks to lives on 127.0.0.1, so both
  build their URL from `api_base` here (production keeps the default).
- tweepy's reconnect loop waits at least 60 s after a 429 and never reads `x-rate-limit-reset`, and its
  waits are fixed numbers. The loop below keeps tweepy's schedule (network errors +0.25 s up to 16 s;
  HTTP errors 5 s doubling to 320 s; 429 at least 60 s, doubling) but waits until the reset time when
  the server sends one, stops on 401/403 (retrying a bad token only gets the app banned), and is bounded
  by `max_retries` and a deadline. `Backoff.scale` shrinks every wait for tests.
- tweepy's `on_data` raises on a malformed line, which ends the stream; here it is counted and skipped.
- tweepy logs request headers (the bearer token) at DEBUG; `request` here never logs headers.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from tweepy.asynchronous import AsyncStreamingClient

from steps.common.errors import StepError
from steps.common.secrets import Secret
from steps.ingest.defaults import DEFAULT_API_BASE


class StreamRejected(StepError):
    """The API refused the credentials or the request; retrying cannot help."""


class StreamUnavailable(StepError):
    """The API could not be reached or answered with a server error; a later run may succeed."""


def _api_reason(body: Any) -> str:
    """The API's own words (`title`/`detail`, or the first error's `message`), clipped to one short line."""
    if not isinstance(body, dict):
        return ""
    parts = [str(body[key]) for key in ("title", "detail") if isinstance(body.get(key), str | int)]
    errors = body.get("errors")
    if not parts and isinstance(errors, list) and errors and isinstance(errors[0], dict):
        parts.append(str(errors[0].get("message", "")))
    return " ".join(" - ".join(p for p in parts if p).split())[:200]


@dataclass(frozen=True)
class Backoff:
    """tweepy's reconnect schedule, with `scale` to shrink it (tests) and a cap on any single wait."""

    network_step: float = 0.25
    network_max: float = 16.0
    http_start: float = 5.0
    http_max: float = 320.0
    rate_limit_start: float = 60.0
    reset_max: float = 900.0
    scale: float = 1.0


@dataclass
class StreamStats:
    connects: int = 0
    lines: int = 0
    tweets: int = 0
    malformed: int = 0
    keep_alives: int = 0
    http_errors: dict[int, int] = field(default_factory=dict)
    network_errors: int = 0
    rate_limit_waits: list[float] = field(default_factory=list)


TweetHandler = Callable[[dict[str, Any]], Awaitable[None]]


class IngestStreamingClient(AsyncStreamingClient):
    def __init__(self, bearer: Secret, on_tweet_payload: TweetHandler, *, api_base: str = DEFAULT_API_BASE,
                 backoff: Backoff | None = None, read_timeout: float = 21.0, max_retries: int = 50,
                 deadline: float | None = None, backfill_minutes: int = 0,
                 logger: logging.Logger | None = None) -> None:
        # tweepy keeps the token as a plain attribute; it only ever goes into the Authorization header.
        super().__init__(bearer.reveal(), max_retries=max_retries)
        self.api_base = api_base.rstrip("/")
        self.backoff = backoff or Backoff()
        self.read_timeout = read_timeout
        self.deadline = deadline
        self.backfill_minutes = backfill_minutes
        self.handle_payload = on_tweet_payload
        self.logger = logger or logging.getLogger(__name__)
        self.stats = StreamStats()
        self.fatal: BaseException | None = None

    def __repr__(self) -> str:
        return f"IngestStreamingClient(api_base={self.api_base!r})"

    # --- seam 1: REST calls (rules) -------------------------------------------------------------
    async def request(self, method, route, params=None, json=None, user_auth=False):
        """tweepy's REST call, against `api_base`; a refusal or an outage ends the run on one line (tweepy's own
        exceptions would end it on a traceback), naming the status and the API's reason, never the token."""
        headers = {"User-Agent": self.user_agent, "Authorization": f"Bearer {self.bearer_token}"}
        timeout = aiohttp.ClientTimeout(total=30)
        where = f"{method} {self.api_base}{route}"
        try:
            async with aiohttp.ClientSession(timeout=timeout) as session, session.request(
                method, self.api_base + route, params=params, json=json, headers=headers
            ) as response:
                await response.read()
                if 200 <= response.status < 300:
                    return response
                try:
                    body = await response.json(content_type=None)
                except ValueError:
                    body = None
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise StreamUnavailable(f"{where}: no answer ({type(exc).__name__}); fix: check --api-base and the "
                                    "network, then run again") from None
        status, reason = response.status, _api_reason(body)
        said = f" ({reason})" if reason else ""
        if status in (401, 403):
            raise StreamRejected(f"{where} answered {status}{said}; fix: check the bearer token secret and the "
                                 "app's access level")
        if status == 429 or status >= 500:
            raise StreamUnavailable(f"{where} answered {status}{said}; fix: run again later (the API is rate "
                                    "limiting or failing)")
        raise StreamRejected(f"{where} answered {status}{said}; fix: check the stream rules in the config")

    # --- seam 2: the stream connection and its reconnect loop -----------------------------------
    async def _connect(self, method, endpoint, params=None, **kwargs):
        url = f"{self.api_base}/2/tweets/{endpoint}/stream"
        headers = {"Authorization": f"Bearer {self.bearer_token}", "User-Agent": self.user_agent}
        timeout = aiohttp.ClientTimeout(sock_connect=10, sock_read=self.read_timeout)
        session = aiohttp.ClientSession(timeout=timeout)
        errors = 0
        network_wait = 0.0
        http_wait = self.backoff.http_start
        try:
            while errors <= self.max_retries and not self._past_deadline():
                query = dict(params or {})
                if self.backfill_minutes:
                    query["backfill_minutes"] = str(self.backfill_minutes)
                try:
                    async with session.request(method, url, params=query, headers=headers) as resp:
                        if resp.status == 200:
                            errors, network_wait, http_wait = 0, 0.0, self.backoff.http_start
                            self.stats.connects += 1
                            await self.on_connect()
                            async for line in resp.content:
                                line = line.strip()
                                if line:
                                    await self.on_data(line)
                                else:
                                    await self.on_keep_alive()
                            await self.on_closed(resp)
                            continue
                        status = resp.status
                        self.stats.http_errors[status] = self.stats.http_errors.get(status, 0) + 1
                        await resp.read()
                        if status in (401, 403):
                            raise StreamRejected(
                                f"the stream API answered {status} at {self.api_base}; fix: check the bearer token "
                                "secret and the app's access level"
                            )
                        errors += 1
                        wait = http_wait
                        if status in (420, 429):
                            wait = max(wait, self.backoff.rate_limit_start)
                            reset = _reset_wait(resp.headers.get("x-rate-limit-reset"), self.backoff.reset_max)
                            if reset is not None:
                                wait = reset / self.backoff.scale  # the server said when: believe it
                            self.stats.rate_limit_waits.append(round(wait * self.backoff.scale, 3))
                        self.logger.warning("stream HTTP %d; reconnecting in %.2fs", status, wait * self.backoff.scale)
                        await self._sleep(wait)
                        http_wait = min(http_wait * 2, self.backoff.http_max)
                except (TimeoutError, aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as exc:
                    self.stats.network_errors += 1
                    errors += 1
                    self.logger.warning("stream connection error (%s); reconnecting in %.2fs",
                                        type(exc).__name__, network_wait * self.backoff.scale)
                    await self._sleep(network_wait)
                    network_wait = min(network_wait + self.backoff.network_step, self.backoff.network_max)
            if errors > self.max_retries:
                raise StreamRejected(f"gave up after {self.max_retries} failed reconnects to {self.api_base}")
        except asyncio.CancelledError:
            return
        except StepError as exc:
            self.fatal = exc
        finally:
            await session.close()
            await self.on_disconnect()

    def _past_deadline(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline

    async def _sleep(self, seconds: float) -> None:
        seconds *= self.backoff.scale
        if self.deadline is not None:
            seconds = max(0.0, min(seconds, self.deadline - time.monotonic()))
        await asyncio.sleep(seconds)

    # --- callbacks ------------------------------------------------------------------------------
    async def on_data(self, raw_data: bytes) -> None:
        self.stats.lines += 1
        try:
            payload = json.loads(raw_data)
            if not isinstance(payload, dict):
                raise ValueError("not an object")
        except ValueError:
            self.stats.malformed += 1
            self.logger.warning("malformed stream line %d skipped (%d bytes)", self.stats.malformed, len(raw_data))
            return
        if isinstance(payload.get("data"), dict):
            self.stats.tweets += 1
            await self.handle_payload(payload["data"])
        elif "errors" in payload:
            self.logger.warning("stream message with errors: %s", json.dumps(payload["errors"])[:300])

    async def on_keep_alive(self) -> None:
        self.stats.keep_alives += 1

    async def on_connect(self) -> None:
        self.logger.info("stream connected (%d)", self.stats.connects)

    async def on_closed(self, resp) -> None:
        self.logger.warning("stream closed by the server; reconnecting")

    async def on_disconnect(self) -> None:
        self.logger.info("stream disconnected")


def _reset_wait(header: str | None, cap: float) -> float | None:
    """Seconds until `x-rate-limit-reset` (epoch seconds), within [0, cap]; None when absent or bad."""
    if not header:
        return None
    try:
        return max(0.0, min(float(header) - time.time(), cap))
    except ValueError:
        return None
