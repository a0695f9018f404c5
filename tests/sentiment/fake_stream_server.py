"""A fake X/Twitter v2 filtered-stream server on 127.0.0.1 that replays a script with faults.

The script is N valid tweets with malformed lines and duplicate lines mixed in. Each connection serves
from the cursor to the next segment boundary and then ends with the segment's fault: a cut in the
middle of a line (connection aborted), a clean close, or a stall longer than the client's read
timeout. Connect attempts can be refused first with a 429 (with `x-rate-limit-reset`) or a 503. With
`backfill_minutes` the server re-sends the previous connection's whole span (a generous model of the
API's backfill), so a client that lost what was in flight still receives every tweet at least once.
After the script the stream sends keep-alives until the client goes away.
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web


@dataclass
class Script:
    lines: list[bytes]
    valid_ids: list[str]
    malformed_lines: int
    boundaries: list[int]
    end_faults: list[str]
    refusals: dict[int, str]  # connect attempt number -> "429" | "503"
    gaps: set[int]  # line indexes before which the server sends keep-alives for a while


def tweet_payload(i: int, tickers: list[str], rng: random.Random) -> dict:
    named = rng.sample(tickers, 2 if rng.random() < 0.1 else 1)
    day = 1 + (i * 3) // 10_000
    return {
        "data": {
            "id": str(1_700_000_000_000_000_000 + i),
            "text": f"{' '.join('$' + t for t in named)} looks {'strong' if i % 2 else 'weak'} today #{i}",
            "created_at": f"2026-03-{day:02d}T{14 + i % 6:02d}:{i % 60:02d}:{(i * 7) % 60:02d}.000Z",
            "author_id": str(1000 + i % 97),
            "lang": "en",
            "entities": {"cashtags": [{"start": 0, "end": len(t) + 1, "tag": t} for t in named]},
            "public_metrics": {"like_count": i % 13, "retweet_count": i % 5, "reply_count": i % 3, "quote_count": 0},
        },
        "matching_rules": [{"id": "1", "tag": "conviction-cashtags-0"}],
    }


def build_script(n_tweets: int, tickers: list[str], seed: int = 0, segments: int = 12) -> Script:
    rng = random.Random(seed)
    lines: list[bytes] = []
    valid: list[str] = []
    malformed = 0
    for i in range(n_tweets):
        payload = tweet_payload(i, tickers, rng)
        line = json.dumps(payload).encode()
        lines.append(line)
        valid.append(payload["data"]["id"])
        if i % 97 == 50:
            lines.append(b'{"data": {"id": "broken", "text": "unterminated')
            malformed += 1
        if i % 41 == 7 and i > 100:
            lines.append(lines[rng.randrange(max(0, len(lines) - 300), len(lines) - 1)])  # a duplicate
    cuts = sorted(rng.sample(range(200, len(lines) - 200), segments - 1))
    faults = ["cut_mid_line", "close", "stall"]
    return Script(
        lines=lines, valid_ids=valid, malformed_lines=malformed, boundaries=[*cuts, len(lines)],
        end_faults=[faults[k % 3] for k in range(segments)], refusals={2: "429", 5: "503", 6: "503", 9: "429"},
        gaps={cuts[0] // 2, cuts[3] + 17},
    )


@dataclass
class ServerState:
    bearer: str
    script: Script
    stall_seconds: float = 1.5
    backfill_replays: bool = True
    furthest: int = 0
    previous_start: int = 0
    attempts: int = 0
    connections: int = 0
    refused: dict[str, int] = field(default_factory=dict)
    unauthorized: int = 0
    lines_sent: int = 0
    malformed_sent: int = 0
    script_done_at: float | None = None
    rules: list[dict] = field(default_factory=list)
    rule_calls: int = 0


class FakeStreamServer:
    """Runs the aiohttp app on its own thread and loop; `url` is http://127.0.0.1:<port>."""

    def __init__(self, state: ServerState) -> None:
        self.state = state
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None
        # A test may answer GET /rules itself (an outage, an odd status) instead of the scripted server.
        self.override_rules: Callable[[web.Request], Awaitable[web.Response]] | None = None

    def __enter__(self) -> FakeStreamServer:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=10)
        return self

    def __exit__(self, *exc) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_get("/2/tweets/search/stream", self._stream)
        app.router.add_get("/2/tweets/search/stream/rules", self._get_rules)
        app.router.add_post("/2/tweets/search/stream/rules", self._post_rules)
        self._runner = web.AppRunner(app, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"

    def _authorized(self, request: web.Request) -> bool:
        ok = request.headers.get("Authorization") == f"Bearer {self.state.bearer}"
        self.state.unauthorized += 0 if ok else 1
        return ok

    async def _get_rules(self, request: web.Request) -> web.Response:
        if self.override_rules is not None:
            return await self.override_rules(request)
        if not self._authorized(request):
            return web.json_response({"title": "Unauthorized"}, status=401)
        self.state.rule_calls += 1
        return web.json_response({"data": self.state.rules, "meta": {"result_count": len(self.state.rules)}})

    async def _post_rules(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return web.json_response({"title": "Unauthorized"}, status=401)
        self.state.rule_calls += 1
        body = await request.json()
        if "delete" in body:
            ids = set(body["delete"]["ids"])
            self.state.rules = [r for r in self.state.rules if r["id"] not in ids]
            return web.json_response({"meta": {"summary": {"deleted": len(ids)}}})
        added = []
        for rule in body.get("add", []):
            if len(rule["value"]) > 512:
                return web.json_response({"title": "Invalid Request", "detail": "rule too long"}, status=400)
            added.append({"id": str(100 + len(self.state.rules) + len(added)), **rule})
        self.state.rules.extend(added)
        return web.json_response({"data": added, "meta": {"summary": {"created": len(added)}}})

    async def _stream(self, request: web.Request) -> web.StreamResponse:
        state, script = self.state, self.state.script
        if not self._authorized(request):
            return web.json_response({"title": "Unauthorized"}, status=401)
        state.attempts += 1
        refusal = script.refusals.get(state.attempts)
        if refusal == "429":
            state.refused["429"] = state.refused.get("429", 0) + 1
            return web.json_response({"title": "Too Many Requests"}, status=429,
                                     headers={"x-rate-limit-reset": str(int(time.time()) + 1)})
        if refusal == "503":
            state.refused["503"] = state.refused.get("503", 0) + 1
            return web.json_response({"title": "Service Unavailable"}, status=503)
        state.connections += 1
        backfill = request.query.get("backfill_minutes") and state.backfill_replays
        start = state.previous_start if backfill else state.furthest
        state.previous_start = state.furthest
        end = next((b for b in script.boundaries if b > state.furthest), len(script.lines))
        fault = script.end_faults[script.boundaries.index(end)] if state.furthest < len(script.lines) else None
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        try:
            chunk: list[bytes] = []
            for index in range(start, end):
                if index in script.gaps:
                    await response.write(b"".join(chunk))
                    chunk = []
                    for _ in range(3):  # keep-alive gap, shorter than the client's read timeout
                        await response.write(b"\r\n")
                        await asyncio.sleep(0.2)
                chunk.append(script.lines[index] + b"\r\n")
                state.lines_sent += 1
                state.malformed_sent += script.lines[index].startswith(b'{"data": {"id": "broken"')
                state.furthest = max(state.furthest, index + 1)
                if len(chunk) >= 25:
                    await response.write(b"".join(chunk))
                    chunk = []
                    await asyncio.sleep(0)
            if fault == "cut_mid_line":
                # The last line of the segment goes out half-written, then the connection drops.
                last = chunk.pop() if chunk else b""
                state.lines_sent -= 1 if last else 0
                await response.write(b"".join(chunk) + last[: len(last) // 2])
                await asyncio.sleep(0.05)
                request.transport.abort()
                return response
            await response.write(b"".join(chunk))
            if fault == "stall":
                await asyncio.sleep(state.stall_seconds)
                return response
            if fault == "close":
                await response.write_eof()
                return response
            state.script_done_at = state.script_done_at or time.monotonic()
            for _ in range(600):  # keep-alives after the script, bounded (120 s)
                await response.write(b"\r\n")
                await asyncio.sleep(0.2)
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        return response
