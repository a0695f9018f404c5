"""The emulator's HTTP front: the port users see, in front of moto's own server on an internal loopback port.

Every request is forwarded to moto unchanged (method, path and query as sent, headers with Host, body; the
hop-by-hop headers dropped) and moto's answer returned, except the SageMaker actions the project answers
itself (`pipelines.emulator_executions`: a local run's execution and its steps, which moto lacks). This is
why the emulator has a front at all: moto's server and its HTTP API (`/moto-api/reset`) are its documented
surface, while adding actions inside moto meant patching its private dispatch, which each moto release is
free to change (5.2.6 did, and the project's action became a 404).

The front also keeps the journal (`pipelines.emulator_journal`): each request that changed state, forwarded
or answered here, once it succeeded. `replay` sends a journal's requests again, the project's actions to the
front's store and the rest to moto, before the front serves.
"""

from __future__ import annotations

import http.client
import json
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Protocol
from urllib.parse import quote, urlsplit

from pipelines.emulator_journal import Journal, action_of, body_of, entry, is_read_only

SAGEMAKER_TARGET = "SageMaker."
JSON_CONTENT_TYPE = "application/x-amz-json-1.1"
# RFC 9110 7.6.1 hop-by-hop headers, and those the front sets itself (length from the body it has whole;
# Expect: the front read the body already; Server and Date: the front's own server writes them)
_HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection", "te",
               "trailer", "trailers", "transfer-encoding", "upgrade", "content-length", "expect"}  # fmt: skip
_ANSWER_DROPPED = _HOP_BY_HOP | {"server", "date"}
# never written to the journal: a session token is a credential (the emulator's own are not)
_NOT_JOURNALLED = {"x-amz-security-token"}
MOTO_TIMEOUT_S = 120
SHUTDOWN_POLL_S = 0.05


@dataclass
class Answer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    @property
    def ok(self) -> bool:
        return self.status < 400

    def json(self) -> Any:
        return json.loads(self.body or b"{}")


def json_answer(document: Any, status: int = 200) -> Answer:
    body = json.dumps(document).encode()
    return Answer(status, [("Content-Type", JSON_CONTENT_TYPE)], body)


def error_answer(code: str, message: str, status: int = 400) -> Answer:
    """SageMaker's JSON error shape, which botocore reads into a ClientError with `code`."""
    return json_answer({"__type": code, "message": message}, status)


SageMakerCall = Callable[[str, dict[str, Any]], Answer]


class LocalActions(Protocol):
    """The SageMaker actions the front answers itself; `call` sends a SageMaker request on to moto."""

    actions: frozenset[str]

    def answer(self, action: str, params: dict[str, Any], call: SageMakerCall) -> Answer: ...

    def reset(self) -> None: ...


class Moto:
    """Requests to moto's server; a new loopback connection each (the front answers on many threads)."""

    def __init__(self, endpoint: str):
        self.endpoint = endpoint
        parts = urlsplit(endpoint)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80

    def send(self, method: str, target: str, headers: Iterable[tuple[str, str]], body: bytes) -> Answer:
        sent = {name: value for name, value in headers if name.lower() not in _HOP_BY_HOP}
        connection = http.client.HTTPConnection(self.host, self.port, timeout=MOTO_TIMEOUT_S)
        try:
            connection.request(method, target, body=body or None, headers=sent)
            response = connection.getresponse()
            data = response.read()
            answered = [(n, v) for n, v in response.getheaders() if n.lower() not in _ANSWER_DROPPED]
        except (OSError, http.client.HTTPException) as exc:
            return error_answer("ServiceUnavailable", f"the emulator's moto server did not answer: {exc}", 503)
        finally:
            connection.close()
        if method == "HEAD":  # no body: moto's length is the object's
            answered += [(n, v) for n, v in response.getheaders() if n.lower() == "content-length"]
        else:
            answered.append(("Content-Length", str(len(data))))
        return Answer(response.status, answered, data)

    def sagemaker(self, action: str, params: dict[str, Any], like: Iterable[tuple[str, str]] = ()) -> Answer:
        """A SageMaker JSON request, with the headers of the request it serves (region, account) otherwise."""
        headers = [(n, v) for n, v in like if n.lower() not in {"x-amz-target", "content-type", "host"}]
        headers += [("Host", f"{self.host}:{self.port}"), ("X-Amz-Target", f"{SAGEMAKER_TARGET}{action}"),
                    ("Content-Type", JSON_CONTENT_TYPE)]  # fmt: skip
        return self.send("POST", "/", headers, json.dumps(params).encode())


def sagemaker_action(headers: Iterable[tuple[str, str]]) -> str | None:
    for name, value in headers:
        if name.lower() == "x-amz-target" and value.startswith(SAGEMAKER_TARGET):
            return value.removeprefix(SAGEMAKER_TARGET)
    return None


class Front:
    """Forwards to `moto`, answers `local`'s actions, journals what changed state (when `journal` is given)."""

    def __init__(self, moto: Moto, local: LocalActions, journal: Journal | None = None):
        self.moto = moto
        self.local = local
        self.journal = journal
        self.endpoint: str | None = None
        self._server = None
        self._thread: threading.Thread | None = None
        self._changes = threading.Lock()  # a local change and its journal line, one at a time

    # -- answering ---------------------------------------------------------------------------------------
    def handle(self, method: str, target: str, headers: list[tuple[str, str]], body: bytes,
               journal: bool = True) -> Answer:  # fmt: skip
        """One request: `target` is the path and query as sent."""
        changes = journal and self.journal is not None and method not in {"GET", "HEAD"}
        changes = changes and not target.startswith("/moto-api/")
        line = entry(method, f"{self.endpoint}{target}", self._journalled(headers), body) if changes else {}
        changes = changes and not is_read_only(line)
        action = sagemaker_action(headers)
        if action in self.local.actions:
            try:
                params = json.loads(body or b"{}")
            except ValueError:
                return error_answer("SerializationException", f"{action}: the body is not JSON")
            if not isinstance(params, dict):
                return error_answer("SerializationException", f"{action}: the body is not a JSON object")

            def call(name: str, request: dict[str, Any]) -> Answer:
                return self.moto.sagemaker(name, request, headers)

            if not changes:
                return self.local.answer(action, params, call)
            with self._changes:
                answer = self.local.answer(action, params, call)
                if answer.ok:
                    self.journal.append(line)
            return answer
        answer = self.moto.send(method, target, headers, body)
        if method == "POST" and target.split("?", 1)[0] == "/moto-api/reset" and answer.ok:
            self.local.reset()
        if changes and answer.ok:
            self.journal.append(line)
        return answer

    @staticmethod
    def _journalled(headers: list[tuple[str, str]]) -> dict[str, str]:
        return {name: value for name, value in headers if name.lower() not in _NOT_JOURNALLED}

    def replay(self, lines: Iterable[dict[str, Any]]) -> tuple[int, int]:
        """Send a journal's requests again (not journalled again); (requests replayed, refused)."""
        replayed = refused = 0
        host = urlsplit(self.endpoint or self.moto.endpoint).netloc
        for line in lines:
            parts = urlsplit(str(line["url"]))
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            headers = [(n, str(v)) for n, v in (line.get("headers") or {}).items() if n.lower() != "host"]
            headers.append(("Host", host))  # the endpoint of this start (the port changes between starts)
            answer = self.handle(str(line["method"]), target, headers, body_of(line), journal=False)
            replayed += 1
            refused += not answer.ok
            if not answer.ok:
                logging.getLogger(__name__).warning(
                    "replay: %s %s (%s) refused: %s", line["method"], target, action_of(line), answer.status
                )
        return replayed, refused

    def wsgi(self, environ: dict[str, Any], start_response) -> list[bytes]:
        from werkzeug.datastructures import EnvironHeaders
        from werkzeug.wrappers import Request

        request = Request(environ)
        target = environ.get("RAW_URI") or environ.get("REQUEST_URI")
        if not target or not target.startswith("/"):
            query = environ.get("QUERY_STRING")
            target = quote(environ.get("PATH_INFO") or "/") + (f"?{query}" if query else "")
        headers = list(EnvironHeaders(environ).items())
        answer = self.handle(request.method, target, headers, request.get_data())
        try:
            phrase = HTTPStatus(answer.status).phrase
        except ValueError:
            phrase = "Unknown"
        start_response(f"{answer.status} {phrase}", answer.headers)
        return [answer.body]

    # -- serving -----------------------------------------------------------------------------------------
    def bind(self, port: int = 0) -> str:
        """Take the port on 127.0.0.1 (connections wait until `serve`); the endpoint users see."""
        from werkzeug.serving import make_server

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self._server = make_server("127.0.0.1", port, self.wsgi, threaded=True)
        self.endpoint = f"http://127.0.0.1:{self._server.server_port}"
        return self.endpoint

    def serve(self) -> None:
        if self._server is None:
            raise RuntimeError("the front is not bound to a port")
        # a short poll: `shutdown` waits for the loop's next poll, and every command that ends stops an emulator
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": SHUTDOWN_POLL_S},
                                        name="emulator-front", daemon=True)  # fmt: skip
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            if self._thread is not None:
                self._server.shutdown()
                self._thread.join(timeout=30)
            self._server.server_close()
            self._server = self._thread = None
        if self.journal is not None:
            self.journal.close()
