"""Serving under load, for `bench_serving.py --load`: concurrent clients and idle connections against real
server processes, BEFORE (the server of an older commit, read with `git show`), AFTER (this checkout's
`python -m steps.serve`) and optionally waitress over the same model and request code.

The clients are asyncio coroutines in this process, each with its own connection: keep-alive (one
connection per client for all its requests) or fresh (a new connection per request, `Connection: close`).
All clients start at once, as a burst. An error is a failed exchange (reset, refused, closed early,
timeout) or a status other than 200. A prober sends GET /ping on a fresh connection every 50 ms during
each keep-alive run. Thread count and RSS of the server process come from /proc/<pid>/status.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import importlib.util
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pipelines.deployment.invoker import stop_process  # noqa: E402

REQUEST_TIMEOUT_S = 30.0
RUN_TIMEOUT_S = 300.0
START_TIMEOUT_S = 120.0


# -- servers ---------------------------------------------------------------------------------------------

def serve_before(model_dir: str, server_file: str) -> None:
    """Run an older steps/serve/server.py (a file taken from git) over the model, as its __main__ did."""
    from steps.serve.model import load_artifact

    spec = importlib.util.spec_from_file_location("before_server", server_file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with load_artifact(model_dir) as model:
        server = module.make_server(model, "127.0.0.1", 0)
        print(f"serving {server.url}", flush=True)
        server.serve_forever(poll_interval=0.2)


def serve_waitress(model_dir: str, waitress_path: str) -> None:
    """The same ServingState (parsing, model lock, errors) behind waitress, with limits like steps.serve's."""
    import logging

    sys.path.insert(0, waitress_path)
    import waitress

    from steps.serve.model import load_artifact
    from steps.serve.server import ServingState

    with load_artifact(model_dir) as model:
        state = ServingState(model, logging.getLogger("waitress-bench"))

        def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
            method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")
            if method == "GET" and path == "/ping":
                status, body = 200, state.ping_body()
            elif method == "POST" and path == "/invocations":
                length = int(environ.get("CONTENT_LENGTH") or 0)
                status, body = state.invoke(environ["wsgi.input"].read(length), environ.get("CONTENT_TYPE"))
            else:
                status, body = state.error(404, f"no route {method} {path}")
            start_response(f"{status} {HTTPStatus(status).phrase}",
                           [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]

        server = waitress.create_server(app, host="127.0.0.1", port=0, threads=16, backlog=1024,
                                        connection_limit=4096, channel_timeout=65)
        print(f"serving http://127.0.0.1:{server.effective_port}", flush=True)
        server.run()


def start(kind: str, model_dir: Path, scratch: Path, before_rev: str, waitress_path: Path | None,
          serve_args: list[str]) -> tuple[subprocess.Popen, str, int]:
    python = sys.executable
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    if kind == "AFTER":
        command = [python, "-m", "steps.serve", "--model", str(model_dir), "--port", "0", *serve_args]
    elif kind == "BEFORE":
        server_file = scratch / "before_server.py"
        server_file.write_bytes(subprocess.run(["git", "show", f"{before_rev}:steps/serve/server.py"], cwd=REPO,
                                               check=True, capture_output=True).stdout)
        command = [python, __file__, "before", str(model_dir), str(server_file)]
    else:
        command = [python, __file__, "waitress", str(model_dir), str(waitress_path)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env,
                               cwd=REPO)
    deadline = time.monotonic() + START_TIMEOUT_S
    line = ""
    while time.monotonic() < deadline and process.poll() is None:
        line = process.stdout.readline().strip()
        if line.startswith("serving "):
            url = line.split(" ", 1)[1]
            return process, url.rsplit(":", 1)[0].removeprefix("http://"), int(url.rsplit(":", 1)[1])
    process.kill()
    raise RuntimeError(f"{kind} server did not start (last line {line!r})")


def proc_status(pid: int) -> tuple[int, float]:
    """(threads, RSS MiB) of a process."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["Threads"]), int(fields["VmRSS"].split()[0]) / 1024


# -- clients ---------------------------------------------------------------------------------------------

@dataclass
class RunResult:
    latencies_ms: list[float] = field(default_factory=list)
    errors: collections.Counter = field(default_factory=collections.Counter)
    ping_ms: list[float] = field(default_factory=list)
    ping_errors: int = 0
    wall_s: float = 0.0
    threads_max: int = 0
    rss_max: float = 0.0


def classify(exc: BaseException) -> str:
    if isinstance(exc, ConnectionResetError):
        return "reset"
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, asyncio.IncompleteReadError | ConnectionAbortedError):
        return "closed early"
    if isinstance(exc, BrokenPipeError):
        return "broken pipe"
    return type(exc).__name__


async def exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> tuple[int, bool]:
    """Send one request, read one response: (status, whether the server closes the connection)."""
    writer.write(request)
    await writer.drain()
    status_line = await reader.readline()
    if not status_line:
        raise ConnectionAbortedError("closed before the status line")
    status = int(status_line.split()[1])
    length, close = 0, False
    for _ in range(100):
        header = await reader.readline()
        if header in (b"\r\n", b"\n", b""):
            break
        name, _, value = header.decode("latin-1").partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
        elif name.strip().lower() == "connection":
            close = value.strip().lower() == "close"
    await reader.readexactly(length)
    return status, close


def post(body: bytes, *, keep_alive: bool) -> bytes:
    connection = b"keep-alive" if keep_alive else b"close"
    return (b"POST /invocations HTTP/1.1\r\nHost: bench\r\nContent-Type: text/csv\r\nConnection: " + connection
            + b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)


PING = b"GET /ping HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n"


async def _close(writer: asyncio.StreamWriter | None) -> None:
    if writer is not None:
        writer.close()
        with contextlib.suppress(OSError, TimeoutError):
            await asyncio.wait_for(writer.wait_closed(), 5)


async def client(host: str, port: int, requests: list[bytes], keep_alive: bool, result: RunResult) -> None:
    reader = writer = None
    for request in requests:
        started = time.perf_counter()
        try:
            if writer is None:
                reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), REQUEST_TIMEOUT_S)
            status, close = await asyncio.wait_for(exchange(reader, writer, request), REQUEST_TIMEOUT_S)
        except Exception as exc:  # counted, then a new connection for the next request, as a client would
            result.errors[classify(exc)] += 1
            await _close(writer)
            reader = writer = None
            continue
        result.latencies_ms.append((time.perf_counter() - started) * 1e3)
        if status != 200:
            result.errors[f"HTTP {status}"] += 1
        if close or not keep_alive:
            await _close(writer)
            reader = writer = None
    await _close(writer)


async def prober(host: str, port: int, done: asyncio.Event, result: RunResult) -> None:
    for _ in range(int(RUN_TIMEOUT_S / 0.05)):
        if done.is_set():
            return
        started = time.perf_counter()
        writer = None
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), REQUEST_TIMEOUT_S)
            status, _ = await asyncio.wait_for(exchange(reader, writer, PING), REQUEST_TIMEOUT_S)
            result.ping_ms.append((time.perf_counter() - started) * 1e3)
            result.ping_errors += status != 200
        except Exception:
            result.ping_errors += 1
        await _close(writer)
        await asyncio.sleep(0.05)


async def sampler(pid: int, done: asyncio.Event, result: RunResult) -> None:
    for _ in range(int(RUN_TIMEOUT_S / 0.1)):
        threads, rss = proc_status(pid)
        result.threads_max, result.rss_max = max(result.threads_max, threads), max(result.rss_max, rss)
        if done.is_set():
            return
        await asyncio.sleep(0.1)


async def load_run(host: str, port: int, pid: int, bodies: list[bytes], clients: int, per_client: int,
                   keep_alive: bool) -> RunResult:
    result = RunResult()
    done = asyncio.Event()
    side = [asyncio.create_task(sampler(pid, done, result))]
    if keep_alive:
        side.append(asyncio.create_task(prober(host, port, done, result)))
    requests = [[post(bodies[(c * per_client + i) % len(bodies)], keep_alive=keep_alive) for i in range(per_client)]
                for c in range(clients)]
    started = time.perf_counter()
    try:
        await asyncio.wait_for(asyncio.gather(*(client(host, port, r, keep_alive, result) for r in requests)),
                               RUN_TIMEOUT_S)
    finally:
        result.wall_s = time.perf_counter() - started
        done.set()
        await asyncio.gather(*side)
    return result


def idle_run(host: str, port: int, pid: int, count: int) -> dict[str, Any]:
    """Hold `count` idle connections (connected, nothing sent): the server's threads and RSS, and a /ping."""
    sockets = []
    for _ in range(count):
        try:
            sockets.append(socket.create_connection((host, port), timeout=10))
        except OSError:
            break
    time.sleep(2.0)
    threads, rss = proc_status(pid)
    started = time.perf_counter()
    try:
        with socket.create_connection((host, port), timeout=REQUEST_TIMEOUT_S) as ping:
            ping.sendall(PING)
            status = ping.recv(64).split(b" ", 2)[1].decode()
    except OSError as exc:
        status = classify(exc)
    ping_ms = (time.perf_counter() - started) * 1e3
    for sock in sockets:
        sock.close()
    time.sleep(2.0)
    threads_after, rss_after = proc_status(pid)
    return {"opened": len(sockets), "threads": threads, "rss": rss, "ping": f"{status} in {ping_ms:.1f} ms",
            "threads_after": threads_after, "rss_after": rss_after}


# -- the report ------------------------------------------------------------------------------------------

def _pct(values: list[float], q: float) -> str:
    return f"{np.percentile(values, q):8.2f}" if values else "       -"


def run_load(model_dir: Path, levels: list[int], per_client: int, idle: int, before_rev: str,
             waitress_path: Path | None, scratch: Path, servers: list[str], serve_args: list[str]) -> int:
    smoke = pd.read_parquet(model_dir / "smoke_rows.parquet")
    from steps.serve.model import load_artifact

    with load_artifact(model_dir) as model:
        features, describe = model.features, model.describe()
    bodies = [smoke.iloc[[i]][features].to_csv(index=False).encode() for i in range(min(len(smoke), 200))]
    kinds = [*servers, *(["waitress"] if waitress_path else [])]
    print(f"model: {describe}; {per_client} requests per client (one CSV row each); {idle} idle connections")
    print(f"machine: {os.cpu_count()} CPUs; load average at start {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"BEFORE: steps/serve/server.py at {before_rev}; AFTER: this checkout {' '.join(serve_args)}")
    header = (f"{'server':8} {'connection':10} {'clients':>7} {'requests':>8} {'errors':>7}  {'p50 ms':>8} "
              f"{'p99 ms':>8} {'req/s':>7} {'ping p50':>8} {'ping max':>8} {'ping err':>8} {'threads':>7} "
              f"{'RSS MiB':>7}  kinds")
    rows, idle_rows, worst = [], [], 0
    print(header, flush=True)
    for kind in kinds:
        process, host, port = start(kind, model_dir, scratch, before_rev, waitress_path, serve_args)
        try:
            base_threads, base_rss = proc_status(process.pid)
            idle_rows.append((kind, "at start", base_threads, base_rss))
            for keep_alive in (True, False):
                for clients in levels:
                    result = asyncio.run(load_run(host, port, process.pid, bodies, clients, per_client, keep_alive))
                    errors = sum(result.errors.values())
                    if kind == "AFTER":
                        worst = max(worst, errors)
                    total = clients * per_client
                    rows.append(
                        f"{kind:8} {'keep-alive' if keep_alive else 'fresh':10} {clients:7d} {total:8d} {errors:7d}  "
                        f"{_pct(result.latencies_ms, 50)} {_pct(result.latencies_ms, 99)} "
                        f"{len(result.latencies_ms) / result.wall_s:7.0f} {_pct(result.ping_ms, 50)} "
                        f"{(f'{max(result.ping_ms):8.2f}' if result.ping_ms else '       -')} "
                        f"{result.ping_errors if keep_alive else '-':>8} {result.threads_max:7d} "
                        f"{result.rss_max:7.1f}  {dict(result.errors) or ''}")
                    print(rows[-1], flush=True)
            figures = idle_run(host, port, process.pid, idle)
            idle_rows.append((kind, f"{figures['opened']} idle", figures["threads"], figures["rss"], figures["ping"]))
            idle_rows.append((kind, "idle closed", figures["threads_after"], figures["rss_after"]))
        finally:
            stop_process(process, timeout_s=30)
    print()
    print(f"{'server':8} {'state':14} {'threads':>7} {'RSS MiB':>8}  /ping")
    for kind, state, threads, rss, *ping in idle_rows:
        print(f"{kind:8} {state:14} {threads:7d} {rss:8.1f}  {ping[0] if ping else ''}")
    print(f"\nload average at end {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 1 if worst else 0


if __name__ == "__main__":  # a server launched by start(): `serving_load.py before|waitress MODEL_DIR ARG`
    sys.path.insert(0, str(REPO))
    {"before": serve_before, "waitress": serve_waitress}[sys.argv[1]](sys.argv[2], sys.argv[3])
