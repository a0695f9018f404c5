"""`python -m steps.serve --model DIR [--host 127.0.0.1] [--port 8080]`: the serving container.

SageMaker starts the image as `serve` with the model at /opt/ml/model and expects port 8080 on every
interface (`SAGEMAKER_BIND_TO_PORT` overrides the port); run by hand it listens on 127.0.0.1. `--port 0`
picks a free port. Prints `serving <url>` on stdout once it accepts requests; SIGTERM stops it.
A bad artifact, a bad port or a port in use ends it with one line on stderr and exit code 2.
`--model` was `--model-dir` (the steps' one name for a model is `--model`); the old spelling still works, with
a deprecation warning, until the next release.
"""

from __future__ import annotations

import argparse
import errno
import os
import signal
import socket
import sys
import threading
from collections.abc import Sequence

from steps.common.cli import StepArgumentParser, add_renamed_flag, run_main
from steps.common.errors import StepConfigError
from steps.common.logging import get_logger
from steps.serve.defaults import DEFAULT_IDLE_TIMEOUT_S, DEFAULT_REQUEST_TIMEOUT_S, DEFAULT_WORKERS

PORT_VARIABLE = "SAGEMAKER_BIND_TO_PORT"


def _port(text: str, where: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise StepConfigError(f"port {text!r} is not a number from 0 to 65535", file=where,
                              fix="pass a port such as 8080 (0 picks a free one)")
    return port


MAX_TIMEOUT_S = 3600.0  # an hour: past it a deadline is never reached (1e300 started a server that answered nothing)


def seconds(text: str) -> float:
    value = float(text)
    if not 0 < value <= MAX_TIMEOUT_S:
        raise ValueError(text)
    return value


def count(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(text)
    return value


def _listen(args: argparse.Namespace) -> socket.socket:
    from steps.serve.server import listen

    try:
        return listen(args.host, args.port)
    except (OSError, OverflowError) as exc:
        reason = (exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)).split(" (while ")[0]
        in_use = isinstance(exc, OSError) and exc.errno == errno.EADDRINUSE
        fix = (f"stop what holds the port, or pass another --port (or {PORT_VARIABLE})" if in_use
               else "pass a --host this machine has (0.0.0.0 for every interface, 127.0.0.1 for this one)")
        raise StepConfigError(f"cannot listen on {args.host}:{args.port} ({reason})", file="--host/--port",
                              fix=fix) from None


def main(argv: Sequence[str] | None = None) -> int:
    args_in = list(sys.argv[1:] if argv is None else argv)
    sagemaker_mode = bool(args_in) and args_in[0] == "serve"
    if sagemaker_mode:
        args_in = args_in[1:]
    parser = StepArgumentParser(prog="python -m steps.serve", description=__doc__.splitlines()[0])
    parser.add_argument("--model", dest="model_dir", metavar="DIR", default="/opt/ml/model",
                        help="ensemble output, model folder or model.tar.gz (formerly --model-dir)")
    add_renamed_flag(parser, "--model-dir", "--model", dest="model_dir")
    parser.add_argument("--host", default="0.0.0.0" if sagemaker_mode else "127.0.0.1")
    parser.add_argument("--port", default=None, help=f"default: ${PORT_VARIABLE}, else 8080; 0 picks a free port")
    parser.add_argument("--workers", type=count, default=DEFAULT_WORKERS,
                        help="threads that read and score requests (the model itself runs one request at a time)")
    parser.add_argument("--idle-timeout", type=seconds, default=DEFAULT_IDLE_TIMEOUT_S,
                        help="seconds a keep-alive connection may idle before the server closes it (0 to 3600)")
    parser.add_argument("--request-timeout", type=seconds, default=DEFAULT_REQUEST_TIMEOUT_S,
                        help="seconds a request may take to arrive whole (above 0, at most 3600)")
    parser.add_log_format()
    args = parser.parse_args(args_in)
    if args.port is not None:
        args.port = _port(args.port, "--port")
    else:
        args.port = _port(os.environ.get(PORT_VARIABLE, "8080"), PORT_VARIABLE)
    # after parsing: --help answers without numpy and pandas
    from steps.serve.model import load_artifact
    from steps.serve.server import ServingServer, ServingState

    logger = get_logger("serve", args.log_format)
    # Signals first: a SIGTERM while the model loads (or before serve_forever runs) ends the server cleanly,
    # with the extracted model removed, instead of killing it mid-load or being lost.
    stopping = threading.Event()
    serving: list[ServingServer] = []

    def stop(_signum: int, _frame: object) -> None:
        stopping.set()
        for server in serving:
            server.request_stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    listener = _listen(args)
    try:
        artifact = load_artifact(args.model_dir)
    except BaseException:
        listener.close()
        raise
    with artifact as model:
        logger.info("model loaded from %s: %s", args.model_dir, model.describe())
        server = ServingServer(listener, ServingState(model, logger), workers=args.workers,
                               idle_timeout=args.idle_timeout, request_timeout=args.request_timeout)
        serving.append(server)
        if stopping.is_set():
            server.request_stop()
        logger.info("listening on %s", server.url)
        print(f"serving {server.url}", flush=True)
        try:
            server.serve_forever(poll_interval=0.2)
        finally:
            server.server_close()
        logger.info("stopped after %d requests (%d errors)", server.state.requests, server.state.errors)
    return 0


if __name__ == "__main__":
    run_main(main)
