"""The AWS API emulator for runs without an AWS account: moto's server behind the project's HTTP front.

Everything that would call AWS (the model registry, endpoints, alarms, secrets, and the pipeline
executions local runs mirror themselves into) talks to it through the same boto3 code as production,
given `endpoint_url`. It is two servers on 127.0.0.1: moto's `ThreadedMotoServer` on an internal port, and
in front of it, on the port users see, the project's own (`pipelines.emulator_front`), which forwards every
request to moto and answers the few SageMaker actions moto lacks (`pipelines.emulator_executions`). Only
moto's public surface is used (its server and HTTP API): its private modules change between releases.

Its state lives in the workspace: the front journals every request that changed state to
`<state-dir>/recording.jsonl` (`pipelines.emulator_journal`, moto's recorder format), and the next emulator
started on the same folder replays that journal before it answers, so `pipelines.approve` and
`pipelines.deploy` see the packages `pipelines.run` registered, and a run's execution and steps are there
after a restart.

    python -m pipelines.emulator [--state-dir runs/.emulator] [--port 0]   # serve until Ctrl-C / SIGTERM

    with Emulator(Path("runs/.emulator")) as emulator:
        sm = emulator.client("sagemaker")

One emulator serves a state folder at a time (a lock in the folder); another command that would start one
on the same folder uses the running one's endpoint instead.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from pipelines.emulator_journal import JOURNAL_NAME, JournalError, is_read_only

DEFAULT_STATE_DIR = Path("runs") / ".emulator"
DEFAULT_REGION = "us-east-1"
LOCK_NAME = "emulator.lock"
# Emulated credentials: moto accepts any; they are never valid against AWS.
EMULATOR_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
# botocore model extras: the emulator's one action that is not SageMaker's (pipelines.emulator_executions)
MODEL_EXTRAS = Path(__file__).with_name("emulator_model")
__all__ = ["Emulator", "EmulatorError", "compact_journal", "emulator_client", "exports", "is_read_only", "main"]


class EmulatorError(RuntimeError):
    """The emulator cannot start (one line)."""


def compact_journal(path: Path) -> int:
    """Drop read-only requests, and every put of a local run's execution but its last (each carries the
    whole execution), from the journal; returns how many requests remain."""
    from pipelines.emulator_executions import local_put_key
    from pipelines.emulator_journal import compact_journal as compact

    return compact(path, local_put_key)


class Emulator:
    """moto server on 127.0.0.1 (`port` 0: a free one), its state restored from and journalled to `state_dir`.

    When another emulator already serves `state_dir`, `start()` returns that one's endpoint and `stop()`
    leaves it running (`attached`)."""

    def __init__(self, state_dir: Path = DEFAULT_STATE_DIR, region: str = DEFAULT_REGION, port: int = 0,
                 warn: Callable[[str], None] | None = None):
        self.state_dir = Path(state_dir)
        # a journal recovered from a torn line says so on stderr (one line) unless the caller shows it itself
        self.warn = warn or (lambda message: print(f"emulator: warning: {message}", file=sys.stderr, flush=True))
        self.region = region
        self.port = port
        self.endpoint: str | None = None
        self.attached = False
        self._server = None  # the HTTP front (pipelines.emulator_front) on `port`
        self._moto = None  # moto's server behind it, on a port of its own
        self._lock = None
        self.replayed = 0

    @property
    def journal(self) -> Path:
        return self.state_dir / JOURNAL_NAME

    def start(self) -> str:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        running = self._claim()
        if running is not None:
            self.endpoint, self.attached = running, True
            return running
        try:
            return self._serve()
        except BaseException:
            self.stop()
            self._release()
            raise

    def _serve(self) -> str:
        from moto.server import ThreadedMotoServer

        from pipelines.emulator_executions import LocalExecutions
        from pipelines.emulator_front import Front, Moto
        from pipelines.emulator_journal import Journal, read_journal, recover_journal

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        try:
            recovered = recover_journal(self.journal)
            if recovered:
                self.warn(recovered)
            self.replayed = compact_journal(self.journal)
            lines = read_journal(self.journal)
        except JournalError as exc:
            raise EmulatorError(str(exc)) from None
        self._moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._moto.start()
        host, port = self._moto.get_host_and_port()
        moto = Moto(f"http://{host}:{port}")
        # moto's backends are process-wide: start from nothing, then the journal, so a second emulator
        # in the same process does not see (and duplicate) the first one's in-memory state.
        reset = moto.send("POST", "/moto-api/reset", [("Host", f"{host}:{port}")], b"")
        if not reset.ok:
            raise EmulatorError(f"moto's server on {moto.endpoint} refused /moto-api/reset ({reset.status})")
        self._server = Front(moto, LocalExecutions(), Journal(self.journal))
        self.endpoint = self._server.bind(self.port)
        self._server.replay(lines)
        self._server.serve()
        if self._lock is not None:  # tell later commands where this folder is served
            self._lock.seek(0)
            self._lock.truncate()
            self._lock.write(json.dumps({"endpoint": self.endpoint, "pid": os.getpid()}))
            self._lock.flush()
        return self.endpoint

    def _claim(self) -> str | None:
        """Hold the state folder's lock; if another emulator holds it, return that one's endpoint."""
        try:
            import fcntl
        except ImportError:  # no advisory locks here: one emulator per folder is up to the user
            return None
        handle = open(self.state_dir / LOCK_NAME, "a+")  # noqa: SIM115 (held until stop)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pass
        else:
            self._lock = handle
            return None
        try:
            deadline = time.monotonic() + 10  # the holder writes its endpoint once it serves
            while True:
                handle.seek(0)
                text = handle.read()
                if text.strip():
                    return str(json.loads(text)["endpoint"])
                if time.monotonic() > deadline:
                    raise EmulatorError(f"{self.state_dir} is locked by another emulator that gives no endpoint")
                time.sleep(0.1)
        finally:
            handle.close()

    def _release(self) -> None:
        if self._lock is not None:
            self._lock.seek(0)
            self._lock.truncate()
            self._lock.close()  # closing releases the lock
            self._lock = None

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
        if self._moto is not None:
            self._moto.stop()
            self._moto = None
            compact_journal(self.journal)
        self._release()

    def client(self, service: str):
        if self.endpoint is None:
            raise RuntimeError("the emulator is not started")
        return emulator_client(service, self.endpoint, self.region)

    def __enter__(self) -> Emulator:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def emulator_client(service: str, endpoint: str, region: str = DEFAULT_REGION):
    """A boto3 client for an emulator (or any endpoint given with --endpoint-url), with the emulator's
    credentials and, for SageMaker, the emulator's own action (`put_local_pipeline_execution`); bounded
    timeouts and retries as every client (pipelines.aws_timeouts)."""
    import boto3
    import botocore.session

    from pipelines.aws_timeouts import client_config

    core = botocore.session.Session()
    core.get_component("data_loader").search_paths.append(str(MODEL_EXTRAS))
    session = boto3.Session(botocore_session=core, region_name=region, **EMULATOR_CREDENTIALS)
    return session.client(service, endpoint_url=endpoint, config=client_config())


def exports(endpoint: str, region: str) -> list[str]:
    """The shell lines that point boto3, the AWS CLI, the SageMaker SDK and this project's commands at it."""
    return [
        f"export AWS_ENDPOINT_URL={endpoint}",
        f"export AWS_ACCESS_KEY_ID={EMULATOR_CREDENTIALS['aws_access_key_id']}",
        f"export AWS_SECRET_ACCESS_KEY={EMULATOR_CREDENTIALS['aws_secret_access_key']}",
        f"export AWS_DEFAULT_REGION={region}",
        f"export CONVICTION_AWS_ENDPOINT={endpoint}",
    ]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pipelines.emulator",
        description="Serve the AWS API emulator (moto) on 127.0.0.1 with the local runs' state, until Ctrl-C.",
    )
    parser.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR,
                        help=f"the emulator's state: its request journal (default {DEFAULT_STATE_DIR}, "
                             "where `pipelines.run --run-dir runs` keeps it)")  # fmt: skip
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default 0: a free one)")
    parser.add_argument("--region", default=DEFAULT_REGION, help=f"region for the printed settings ({DEFAULT_REGION})")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not 0 <= args.port <= 65535:
        print(f"emulator: --port {args.port}: expected 0-65535", file=sys.stderr)
        return 2
    import signal
    import threading

    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    emulator = Emulator(args.state_dir, args.region, args.port)
    try:
        endpoint = emulator.start()
    except (OSError, EmulatorError) as exc:
        print(f"emulator: {exc}", file=sys.stderr)
        return 2
    if emulator.attached:
        print(f"emulator: {args.state_dir} is already served by the emulator on {endpoint}", file=sys.stderr)
        print("\n".join(exports(endpoint, args.region)), flush=True)
        return 2
    lines = [
        f"# AWS API emulator (moto) on {endpoint}; state {emulator.state_dir} "
        f"({emulator.replayed} requests replayed). Point boto3, the AWS CLI and the SageMaker SDK at it:",
        *exports(endpoint, args.region),
        "# Ctrl-C (or SIGTERM) stops it; the state stays in the folder for the next start.",
    ]
    print("\n".join(lines), flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        emulator.stop()
    print(f"# stopped; {compact_journal(emulator.journal)} requests kept in {emulator.journal}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
