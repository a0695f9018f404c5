"""The AWS API emulator for runs without an AWS account: moto in server mode on 127.0.0.1.

Everything that would call AWS (the model registry now; endpoints, alarms and secrets later) talks to
it through the same boto3 code as production, given `endpoint_url`. Its state lives in the workspace:
moto's own recorder journals every request that changes state to `<state-dir>/recording.jsonl`, and
the next emulator started on the same folder replays that journal before it answers, so
`pipelines.approve` and `pipelines.deploy` see the packages `pipelines.run` registered.

    with Emulator(Path("runs/.emulator")) as emulator:
        sm = emulator.client("sagemaker")
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import boto3
import requests

DEFAULT_STATE_DIR = Path("runs") / ".emulator"
DEFAULT_REGION = "us-east-1"
JOURNAL_NAME = "recording.jsonl"
# Emulated credentials: moto accepts any; they are never valid against AWS.
EMULATOR_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
_READ_ACTION_PREFIXES = ("Describe", "List", "Get", "Search", "BatchGet", "BatchDescribe", "Query")


def _action_of(entry: dict[str, Any]) -> str | None:
    headers = {k.lower(): v for k, v in (entry.get("headers") or {}).items()}
    target = headers.get("x-amz-target")
    if target:
        return target.rsplit(".", 1)[-1]
    if not entry.get("body_encoded") and isinstance(entry.get("body"), str):
        action = parse_qs(entry["body"]).get("Action")
        if action:
            return action[0]
    return None


def is_read_only(entry: dict[str, Any]) -> bool:
    """A recorded request that changed nothing (replaying it would only cost time)."""
    if entry.get("method") in {"GET", "HEAD"}:
        return True
    action = _action_of(entry)
    return bool(action and action.startswith(_READ_ACTION_PREFIXES))


def compact_journal(path: Path) -> int:
    """Drop read-only requests from the journal; returns how many state-changing ones remain."""
    if not path.is_file():
        return 0
    kept = []
    for line in path.read_text().splitlines():
        if line.strip() and not is_read_only(json.loads(line)):
            kept.append(line)
    partial = path.with_suffix(".partial")
    partial.write_text("".join(f"{line}\n" for line in kept))
    partial.replace(path)
    return len(kept)


class Emulator:
    """moto server on a free port of 127.0.0.1, its state restored from and journalled to `state_dir`."""

    def __init__(self, state_dir: Path = DEFAULT_STATE_DIR, region: str = DEFAULT_REGION):
        self.state_dir = Path(state_dir)
        self.region = region
        self.endpoint: str | None = None
        self._server = None
        self.replayed = 0

    @property
    def journal(self) -> Path:
        return self.state_dir / JOURNAL_NAME

    def start(self) -> str:
        from moto.moto_api import recorder
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        recorder._location = str(self.journal)
        recorder.stop_recording()
        # moto's backends are process-wide: start from nothing, then the journal, so a second emulator
        # in the same process does not see (and duplicate) the first one's in-memory state.
        requests.post(f"{self.endpoint}/moto-api/reset", timeout=30)
        if self.journal.is_file():
            self.replayed = compact_journal(self.journal)
            recorder.replay_recording(target_host=self.endpoint)
        recorder.start_recording()
        return self.endpoint

    def stop(self) -> None:
        if self._server is None:
            return
        from moto.moto_api import recorder

        recorder.stop_recording()
        self._server.stop()
        self._server = None
        compact_journal(self.journal)

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
    """A boto3 client for an emulator (or any endpoint given with --aws-endpoint)."""
    session = boto3.Session(region_name=region, **EMULATOR_CREDENTIALS)
    return session.client(service, endpoint_url=endpoint)
