"""A real HTTP server for the SageMaker serving contract, on the standard library.

`http.server.ThreadingHTTPServer` is enough here: the work per request is a model call of a few
hundred microseconds to milliseconds, the endpoint sits behind SageMaker's own front end, and a
framework would add a dependency to every serving image for nothing this contract needs.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from steps.serve.model import ServingModel
from steps.serve.payload import PayloadError, parse_payload, predictions_body

# SageMaker real-time endpoints take request bodies up to 6 MB.
MAX_BODY_BYTES = 6 * 1024 * 1024


class ServingState:
    """What every request handler shares: the model, a lock around it, counters."""

    def __init__(self, model: ServingModel, logger: logging.Logger) -> None:
        self.model = model
        self.logger = logger
        self.lock = threading.Lock()
        self.requests = 0
        self.errors = 0


class InvocationHandler(BaseHTTPRequestHandler):
    server_version = "conviction-serve"
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        # Headers and body leave in two writes: without TCP_NODELAY, Nagle's algorithm holds the body back
        # until the client's delayed ACK (~40 ms on Linux) on every keep-alive request.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    @property
    def state(self) -> ServingState:
        return self.server.state  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:
        self.state.logger.debug("%s %s", self.address_string(), format % args)

    def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _error(self, status: int, message: str) -> None:
        self.state.errors += 1
        one_line = " ".join(message.split())
        self._send(status, json.dumps({"error": one_line}).encode())

    def do_GET(self) -> None:
        if self.path.split("?", 1)[0] == "/ping":
            self._send(HTTPStatus.OK, json.dumps({"status": "healthy", **self.state.model.describe()}).encode())
        else:
            self._error(HTTPStatus.NOT_FOUND, f"no route GET {self.path}; use GET /ping or POST /invocations")

    def do_POST(self) -> None:
        if self.path.split("?", 1)[0] != "/invocations":
            self._discard_body()
            self._error(HTTPStatus.NOT_FOUND, f"no route POST {self.path}; use POST /invocations")
            return
        self.state.requests += 1
        length_header = self.headers.get("Content-Length")
        try:
            length = int(length_header) if length_header is not None else -1
        except ValueError:
            length = -1
        if length < 0:
            self.close_connection = True
            self._error(HTTPStatus.BAD_REQUEST, "missing or bad Content-Length header")
            return
        if length > MAX_BODY_BYTES:
            self.close_connection = True
            self._error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                        f"body of {length} bytes; send at most {MAX_BODY_BYTES} bytes per request")
            return
        body = self.rfile.read(length) if length else b""
        started = time.perf_counter()
        try:
            frame = parse_payload(body, self.headers.get("Content-Type"), self.state.model.features,
                                  self.state.model.keys)
            with self.state.lock:
                probabilities = self.state.model.predict(frame)
            response = predictions_body(probabilities, self.state.model.threshold)
        except PayloadError as exc:
            self._error(HTTPStatus.BAD_REQUEST, str(exc))
            return
        except Exception as exc:  # the client gets one line; the traceback stays in the server log
            self.state.logger.exception("invocation failed")
            self._error(HTTPStatus.INTERNAL_SERVER_ERROR, f"internal error ({type(exc).__name__}); see the server log")
            return
        self.state.logger.debug("scored %d rows in %.2f ms", len(frame), (time.perf_counter() - started) * 1e3)
        self._send(HTTPStatus.OK, response)

    def _discard_body(self) -> None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = 0
        if 0 < length <= MAX_BODY_BYTES:
            self.rfile.read(length)


class ServingServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], state: ServingState) -> None:
        super().__init__(address, InvocationHandler)
        self.state = state

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"


def make_server(model: ServingModel, host: str = "127.0.0.1", port: int = 8080,
                logger: logging.Logger | None = None) -> ServingServer:
    return ServingServer((host, port), ServingState(model, logger or logging.getLogger("steps.serve")))
