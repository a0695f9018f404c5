"""A real HTTP server for the SageMaker serving contract, on the standard library, bounded under load.

`http.server.ThreadingHTTPServer` (what this was) starts one thread per connection and keeps it while
the connection idles, listens with a backlog of 5 and never times a socket out: 200 concurrent clients
got resets or timeouts, 800 idle keep-alive connections held 805 threads. Here instead:

- one selector thread owns every idle connection (no thread each) and accepts from a backlog of
  `LISTEN_BACKLOG`; a connection idle for `idle_timeout` seconds is closed, and past `max_connections`
  the longest-idle one makes room for a new one;
- a connection with bytes to read goes to a fixed pool of `workers` threads, which serves the requests
  it has sent and hands it back; a request must arrive whole within `request_timeout` (one deadline for
  the whole request, not per recv, so a client trickling bytes cannot hold a worker forever);
- GET requests (`/ping`) go to a separate pool of `CONTROL_WORKERS` threads that never waits on the
  model, so health checks answer while every scoring worker queues for the model;
- the model is called from one thread (ServingState).

Why not a framework server: measured side by side (docs/performance.md, Serving under load), waitress
serves the same throughput with 0 errors too, but its /ping queues behind scoring (p50 584 ms at 200
clients against 2.3 ms here), and it would add a dependency to the serving image and its hashed lock.
"""

from __future__ import annotations

import collections
import contextlib
import io
import json
import logging
import re
import resource
import selectors
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Any

from steps.serve.defaults import DEFAULT_IDLE_TIMEOUT_S, DEFAULT_REQUEST_TIMEOUT_S, DEFAULT_WORKERS
from steps.serve.model import ServingModel
from steps.serve.payload import PayloadError, parse_payload, predictions_body

# SageMaker real-time endpoints take request bodies up to 6 MB.
MAX_BODY_BYTES = 6 * 1024 * 1024
# The kernel caps this at net.core.somaxconn (4096 on current Linux).
LISTEN_BACKLOG = 1024
CONTROL_WORKERS = 2
# SageMaker's health check wants an answer within 2 s: a control thread waits at most this long on a client
# that does not read its answer (a /ping answer fits a socket buffer, so a reading client never waits).
CONTROL_WRITE_TIMEOUT_S = 1.0
DEFAULT_MAX_CONNECTIONS = 4096
# A worker serves at most this many pipelined requests of one connection before it queues it again.
REQUESTS_PER_TURN = 32
# The selector thread reads a request's head (request line and headers) before any worker takes it; past
# this size the head goes to a scoring worker, whose parser answers 431 or 414 for the long line or headers.
MAX_HEAD_BYTES = 32 * 1024
_HEAD_END = re.compile(rb"\r?\n\r?\n")
_ACCEPTS_PER_WAKE = 64
_FD_RESERVE = 64


class ServingState:
    """What every request shares: the model, the one thread that calls it, counters.

    Models are not thread-safe, so calls must be serialised; running them all on one thread (rather than
    under a lock on whichever worker holds the request) also keeps one OpenMP team for XGBoost/LightGBM
    instead of one per worker thread, and no convoy of workers waiting on a lock.
    """

    def __init__(self, model: ServingModel, logger: logging.Logger) -> None:
        self.model = model
        self.logger = logger
        self._model_thread = ThreadPoolExecutor(1, thread_name_prefix="serve-model")
        self._count_lock = threading.Lock()
        self.requests = 0
        self.errors = 0

    def count(self, *, request: bool = False, error: bool = False) -> None:
        with self._count_lock:
            self.requests += request
            self.errors += error

    def ping_body(self) -> bytes:
        return json.dumps({"status": "healthy", **self.model.describe()}).encode()

    def invoke(self, body: bytes, content_type: str | None) -> tuple[int, bytes]:
        """Score one request body: (HTTP status, JSON body). The transport is the caller's business."""
        started = time.perf_counter()
        try:
            frame = parse_payload(body, content_type, self.model.features, self.model.keys)
            probabilities = self._model_thread.submit(self.model.predict, frame).result()
            response = predictions_body(probabilities, self.model.threshold)
        except PayloadError as exc:
            return self.error(HTTPStatus.BAD_REQUEST, str(exc))
        except Exception as exc:  # the client gets one line; the traceback stays in the server log
            self.logger.exception("invocation failed")
            return self.error(HTTPStatus.INTERNAL_SERVER_ERROR,
                              f"internal error ({type(exc).__name__}); see the server log")
        self.logger.debug("scored %d rows in %.2f ms", len(frame), (time.perf_counter() - started) * 1e3)
        return HTTPStatus.OK, response

    def error(self, status: int, message: str) -> tuple[int, bytes]:
        self.count(error=True)
        return status, json.dumps({"error": " ".join(message.split())}).encode()


class FramingError(ValueError):
    """A request whose body length cannot be known for certain: answered 400, and the connection closed."""


def body_length(headers: Any) -> int:
    """The body's length from the request headers (0 when none is declared), by RFC 9112 section 6.

    Only one Content-Length of ASCII digits (RFC 9110 section 8.6: `1*DIGIT`; the spaces and tabs around a
    field value are not part of it) is accepted: Python's int() would also take `+513`, `51_3`, ` 5 `,
    Arabic-Indic digits. Transfer-Encoding is refused whatever it says (this server reads no chunked
    bodies), and so with a Content-Length beside it (section 6.3: the two disagree on where the request
    ends, the classic request-smuggling shape): the caller answers 400 and closes the connection.
    """
    if headers.get_all("Transfer-Encoding"):
        raise FramingError("Transfer-Encoding is not supported (with or without Content-Length); send the body "
                           "with one Content-Length header")
    values = headers.get_all("Content-Length") or []
    if not values:
        return 0
    if len(values) > 1:
        raise FramingError(f"{len(values)} Content-Length headers; send exactly one")
    value = values[0].strip(" \t")
    if not (value.isascii() and value.isdigit()) or len(value) > 18:
        raise FramingError(f"Content-Length {value[:20]!r} is not a whole number of bytes (digits only)")
    return int(value)


class _DeadlineReader(io.RawIOBase):
    """Socket reads that give up at one deadline for the whole request; no deadline: never wait.
    `pending`: bytes the selector thread already read from the socket (a request's head), returned first."""

    def __init__(self, sock: socket.socket) -> None:
        super().__init__()
        self.sock = sock
        self.deadline: float | None = None
        self.pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int | None:
        if self.pending:
            size = min(len(buffer), len(self.pending))
            buffer[:size] = self.pending[:size]
            self.pending = self.pending[size:]
            return size
        if self.deadline is None:
            self.sock.settimeout(0.0)
        else:
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("the request did not arrive in time")
            self.sock.settimeout(remaining)
        try:
            return self.sock.recv_into(buffer)
        except BlockingIOError:  # only without a deadline: nothing buffered in the kernel
            return None


class _TimedWriter(io.RawIOBase):
    """Socket writes bounded in time: a client that stops reading cannot hold a worker."""

    def __init__(self, sock: socket.socket, timeout: float) -> None:
        super().__init__()
        self.sock = sock
        self.timeout = timeout

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.sock.settimeout(self.timeout)
        self.sock.sendall(data)
        return len(data)


class InvocationHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 parsing from the standard library; one handler per worker turn, not per connection."""

    server_version = "conviction-serve"
    protocol_version = "HTTP/1.1"
    server: ServingServer

    def __init__(self, connection: socket.socket, client_address: Any, server: ServingServer) -> None:
        # BaseRequestHandler.__init__ would serve the connection to its end; a worker serves one turn.
        self.request = connection
        self.client_address = client_address
        self.server = server
        self.connection = connection
        self.reader = _DeadlineReader(connection)
        self.rfile = io.BufferedReader(self.reader)
        self.wfile = _TimedWriter(connection, server.request_timeout)
        self.close_connection = True

    def serve_one(self) -> None:
        self.reader.deadline = time.monotonic() + self.server.request_timeout
        try:
            self.handle_one_request()
        finally:
            self.reader.deadline = None

    def has_buffered_request(self) -> bool:
        """Bytes of a next (pipelined) request already read or waiting in the kernel; never blocks."""
        self.reader.deadline = None
        return bool(self.rfile.peek(1))

    @property
    def state(self) -> ServingState:
        return self.server.state

    def log_message(self, format: str, *args: Any) -> None:
        self.state.logger.debug("%s %s", self.address_string(), format % args)

    def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _error(self, status: int, message: str) -> None:
        self._send(*self.state.error(status, message))

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Protocol errors (bad request line, URI too long, ...) as the same one-line JSON as every other error."""
        self.close_connection = True
        status, body = self.state.error(code, message or HTTPStatus(code).phrase)
        self.send_response(status, message)
        self.send_header("Connection", "close")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if getattr(self, "command", "") != "HEAD":
            self.wfile.write(body)

    def _framed_length(self) -> int | None:
        """The body length, or None after answering 400 (bad framing: the connection is closed)."""
        try:
            return body_length(self.headers)
        except FramingError as exc:
            self.close_connection = True
            self._error(HTTPStatus.BAD_REQUEST, str(exc))
            return None

    def do_GET(self) -> None:
        length = self._framed_length()
        if length is None:
            return
        if length:  # a GET body has no meaning here; not read, so the connection cannot be reused
            self.close_connection = True
        if self.path.split("?", 1)[0] == "/ping":
            self._send(HTTPStatus.OK, self.state.ping_body())
        else:
            self._error(HTTPStatus.NOT_FOUND, f"no route GET {self.path}; use GET /ping or POST /invocations")

    def do_POST(self) -> None:
        if self.path.split("?", 1)[0] == "/invocations":
            self.state.count(request=True)
        length = self._framed_length()
        if length is None:
            return
        if self.path.split("?", 1)[0] != "/invocations":
            self._discard_body(length)
            self._error(HTTPStatus.NOT_FOUND, f"no route POST {self.path}; use POST /invocations")
            return
        if self.headers.get("Content-Length") is None:
            self.close_connection = True
            self._error(HTTPStatus.BAD_REQUEST, "missing Content-Length header")
            return
        if length > MAX_BODY_BYTES:
            self.close_connection = True
            self._error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                        f"body of {length} bytes; send at most {MAX_BODY_BYTES} bytes per request")
            return
        body = self.rfile.read(length) if length else b""
        if len(body) < length:  # the client closed mid-body: nobody to answer
            self.close_connection = True
            return
        self._send(*self.state.invoke(body, self.headers.get("Content-Type")))

    def _discard_body(self, length: int) -> None:
        if 0 < length <= MAX_BODY_BYTES:
            self.rfile.read(length)
        elif length:
            self.close_connection = True


@dataclass(eq=False)
class _Connection:
    sock: socket.socket
    address: Any
    last_active: float = field(default_factory=time.monotonic)
    close: bool = False
    head: bytes = b""  # what the selector thread has read of the next request's head
    head_since: float | None = None


def _fd_limit() -> int:
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft if soft != resource.RLIM_INFINITY else 1 << 20


class ServingServer:
    """Selector thread for accepting and idle connections; worker pools for requests (module docstring)."""

    def __init__(self, listener: socket.socket, state: ServingState, *, workers: int = DEFAULT_WORKERS,
                 idle_timeout: float = DEFAULT_IDLE_TIMEOUT_S, request_timeout: float = DEFAULT_REQUEST_TIMEOUT_S,
                 max_connections: int = DEFAULT_MAX_CONNECTIONS) -> None:
        if workers < 1 or idle_timeout <= 0 or request_timeout <= 0 or max_connections < 1:
            raise ValueError("workers and max_connections must be >= 1, timeouts > 0")
        self.state = state
        self.workers = workers
        self.idle_timeout = float(idle_timeout)
        self.request_timeout = float(request_timeout)
        self.max_connections = max(1, min(max_connections, _fd_limit() - _FD_RESERVE))
        self.socket = listener
        self.socket.setblocking(False)
        self.server_address = self.socket.getsockname()
        self._scoring = ThreadPoolExecutor(workers, thread_name_prefix="serve-worker")
        self._control = ThreadPoolExecutor(CONTROL_WORKERS, thread_name_prefix="serve-control")
        self._selector = selectors.DefaultSelector()
        self._wake_read, self._wake_write = socket.socketpair()
        self._wake_read.setblocking(False)
        self._wake_write.setblocking(False)
        self._returned: collections.deque[_Connection] = collections.deque()
        self._idle: collections.OrderedDict[_Connection, None] = collections.OrderedDict()  # oldest first
        self._partial: dict[_Connection, None] = {}  # idle connections holding part of a request head
        self._busy = 0
        self._accepting = False
        self._stop = threading.Event()
        self._stopped = threading.Event()
        self._stopped.set()
        self._closed = False

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def open_connections(self) -> int:
        """Idle plus in-flight connections (read from the selector thread's counters)."""
        return len(self._idle) + self._busy

    # -- the selector thread -------------------------------------------------------------------------

    def serve_forever(self, poll_interval: float = 0.2) -> None:
        """Serve until a stop is requested; a stop requested before this starts (a SIGTERM during start-up) is
        honoured: the flag is never cleared, so a server serves once."""
        self._stopped.clear()
        try:
            self._selector.register(self._wake_read, selectors.EVENT_READ, "wake")
            self._set_accepting(True)
            while not self._stop.is_set():
                for key, _events in self._selector.select(poll_interval):
                    try:
                        if key.data == "listen":
                            self._accept()
                        elif key.data == "wake":
                            self._take_back()
                        else:
                            self._dispatch(key.data)
                    except Exception:  # one bad event must not stop the server
                        self.state.logger.exception("selector event failed")
                self._close_idle(time.monotonic() - self.idle_timeout)
                self._close_slow_heads(time.monotonic() - self.request_timeout)
        finally:
            self._set_accepting(False)
            self._selector.unregister(self._wake_read)
            self._stopped.set()

    def _set_accepting(self, on: bool) -> None:
        if on and not self._accepting:
            self._selector.register(self.socket, selectors.EVENT_READ, "listen")
        elif not on and self._accepting:
            self._selector.unregister(self.socket)
        self._accepting = on

    def _accept(self) -> None:
        for _ in range(_ACCEPTS_PER_WAKE):
            if self.open_connections >= self.max_connections and not self._idle:
                self._set_accepting(False)  # every connection is in flight: new ones wait in the backlog
                return
            try:
                sock, address = self.socket.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # e.g. EMFILE: leave the rest in the backlog until a connection closes
                self.state.logger.warning("accept failed: %s", exc)
                self._set_accepting(False)
                return
            if self.open_connections >= self.max_connections:
                self._close(next(iter(self._idle)))  # the longest-idle connection makes room
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # headers and body leave in two writes
            self._park(_Connection(sock, address))

    def _park(self, connection: _Connection) -> None:
        connection.sock.setblocking(False)  # the selector thread must never wait on one client
        connection.last_active = time.monotonic()
        self._idle[connection] = None
        self._selector.register(connection.sock, selectors.EVENT_READ, connection)

    def _dispatch(self, connection: _Connection) -> None:
        """Read what the client sent (never waiting); hand the connection to a worker once a request's head
        is whole. A client trickling its head holds no worker, so the control lane cannot be starved."""
        try:
            chunk = connection.sock.recv(MAX_HEAD_BYTES - len(connection.head))
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk:  # the client closed (or reset) the connection
            self._close(connection)
            return
        connection.head += chunk
        if not _HEAD_END.search(connection.head) and len(connection.head) < MAX_HEAD_BYTES:
            if connection.head_since is None:
                connection.head_since = time.monotonic()
                self._partial[connection] = None
            return  # the rest of the head wakes the selector again
        self._partial.pop(connection, None)
        self._selector.unregister(connection.sock)
        del self._idle[connection]
        self._busy += 1
        if connection.head.startswith(b"GET ") and len(connection.head) < MAX_HEAD_BYTES:
            self._control.submit(self._serve, connection, None, 1, CONTROL_WRITE_TIMEOUT_S)
        else:
            self._scoring.submit(self._serve, connection)

    def _close_slow_heads(self, cutoff: float) -> None:
        """A head still incomplete `request_timeout` seconds after its first byte: the connection is closed."""
        for connection in [c for c in self._partial if c.head_since is not None and c.head_since < cutoff]:
            self._close(connection)

    def _take_back(self) -> None:
        try:
            while self._wake_read.recv(4096):
                pass
        except BlockingIOError:
            pass
        while self._returned:
            connection = self._returned.popleft()
            self._busy -= 1
            if connection.close:
                self._shut(connection.sock)
            else:
                self._park(connection)
        if not self._accepting and not self._stop.is_set():
            self._set_accepting(True)

    def _close_idle(self, cutoff: float) -> None:
        while self._idle:
            oldest = next(iter(self._idle))
            if oldest.last_active > cutoff:
                return
            self._close(oldest)

    def _close(self, connection: _Connection) -> None:
        self._partial.pop(connection, None)
        self._selector.unregister(connection.sock)
        del self._idle[connection]
        self._shut(connection.sock)
        if not self._accepting and not self._stop.is_set():  # a descriptor is free again
            self._set_accepting(True)

    @staticmethod
    def _shut(sock: socket.socket) -> None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_WR)
        sock.close()

    # -- worker threads ------------------------------------------------------------------------------

    def _serve(self, connection: _Connection, handler: InvocationHandler | None = None,
               turn: int = REQUESTS_PER_TURN, write_timeout: float | None = None) -> None:
        """Serve up to `turn` requests this connection has sent, then hand it back to the selector thread.

        `handler`: the one whose read buffer already holds this connection's next (pipelined) requests.
        The control lane serves one request a turn: a GET with POSTs pipelined behind it must not make a
        control thread wait on the model; and it writes with a short timeout (`write_timeout`): a client
        that stops reading its answers cannot hold a control thread either.
        """
        if handler is None:
            handler = InvocationHandler(connection.sock, connection.address, self)
            handler.reader.pending, connection.head, connection.head_since = connection.head, b"", None
        handler.wfile.timeout = min(write_timeout or self.request_timeout, self.request_timeout)
        try:
            for _ in range(turn):
                handler.serve_one()
                if handler.close_connection or not handler.has_buffered_request():
                    break
            else:  # more pipelined requests: to the back of the scoring queue, with the buffer holding them
                if not self._closed:
                    self._scoring.submit(self._serve, connection, handler)
                    return
            connection.close = handler.close_connection
        except OSError as exc:  # reset, broken pipe, timed-out write: the client is gone
            self.state.logger.debug("%s: connection dropped (%s)", connection.address, exc)
            connection.close = True
        except Exception:
            self.state.logger.exception("connection from %s failed", connection.address)
            connection.close = True
        self._hand_back(connection)

    def _hand_back(self, connection: _Connection) -> None:
        if self._closed:
            self._shut(connection.sock)
            return
        self._returned.append(connection)
        with contextlib.suppress(OSError):  # a full pipe has a wake-up pending anyway; closed: shutting down
            self._wake_write.send(b"\0")

    # -- lifecycle -----------------------------------------------------------------------------------

    def request_stop(self) -> None:
        """Ask serve_forever to return, now or as soon as it starts; never waits (safe in a signal handler)."""
        self._stop.set()
        with contextlib.suppress(OSError):
            self._wake_write.send(b"\0")

    def shutdown(self) -> None:
        """Stop serve_forever (from another thread) and wait until it has returned."""
        self.request_stop()
        self._stopped.wait()

    def server_close(self) -> None:
        """Close the listening socket and every connection; requests in flight finish on their own."""
        self._closed = True
        # Queued requests are still answered (each bounded by request_timeout), then their connections close.
        self._scoring.shutdown(wait=False)
        self._control.shutdown(wait=False)
        for connection in list(self._idle):
            self._close(connection)
        self.socket.close()
        self._selector.close()
        self._wake_read.close()
        self._wake_write.close()


def listen(host: str, port: int, backlog: int = LISTEN_BACKLOG) -> socket.socket:
    """A listening socket; bound before the model loads, so a busy port fails fast."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host, port), family=family, backlog=backlog)


def make_server(model: ServingModel, host: str = "127.0.0.1", port: int = 8080,
                logger: logging.Logger | None = None, **limits: Any) -> ServingServer:
    """A listening server; `limits`: workers, idle_timeout, request_timeout, max_connections."""
    state = ServingState(model, logger or logging.getLogger("steps.serve"))
    return ServingServer(listen(host, port), state, **limits)

