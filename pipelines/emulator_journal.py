"""The emulator's request journal, `<state-dir>/recording.jsonl`: every request that changed state, one per line.

A line is one JSON object in the format moto's recorder wrote (`method`, `url`, `headers`, `body`,
`body_encoded`: the body in base64 when true), so state folders written by earlier versions of the emulator,
which journalled through moto's recorder, replay unchanged. The emulator's HTTP front
(`pipelines.emulator_front`) writes it now: one line at a time under a lock, written then flushed, so two
large requests at once (a run's execution put while a step registers its model) never interleave.

A line that is not such an object (the torn last line `kill -9` leaves mid-write, a line that is valid JSON
but not an object, bytes that are not UTF-8) is recovered from before the emulator starts (`recover_journal`):
the valid prefix is kept, and that line and every one after it are set aside, byte for byte, in
`recording.dropped.jsonl` beside the journal, with one warning line naming the journal, the line, how many
requests were kept and how many lines were set aside. Only the prefix is replayed: the lines after a bad one
may depend on it (a model registered into a group created there), and nothing is lost, only moved aside.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import parse_qs

JOURNAL_NAME = "recording.jsonl"
DROPPED_NAME = "recording.dropped.jsonl"
_READ_ACTION_PREFIXES = ("Describe", "List", "Get", "Search", "BatchGet", "BatchDescribe", "Query")


class JournalError(RuntimeError):
    """The journal cannot be read (one line naming the file and the line)."""


def entry(method: str, url: str, headers: dict[str, str], body: bytes) -> dict[str, Any]:
    """A journal line for a request (as moto's recorder wrote it: a body, when there is one, in base64)."""
    encoded = bool(body)
    return {
        "headers": headers,
        "method": method,
        "url": url,
        "body": base64.b64encode(body).decode("ascii") if encoded else "",
        "body_encoded": encoded,
    }


def body_of(line: dict[str, Any]) -> bytes:
    body = line.get("body") or ""
    if line.get("body_encoded"):
        return base64.b64decode(body)
    return body.encode() if isinstance(body, str) else b""


def action_of(line: dict[str, Any]) -> str | None:
    """The API action a journalled request called: its `X-Amz-Target`'s, or a query protocol body's `Action`."""
    headers = {k.lower(): v for k, v in (line.get("headers") or {}).items()}
    target = headers.get("x-amz-target")
    if target:
        return target.rsplit(".", 1)[-1]
    if not line.get("body_encoded") and isinstance(line.get("body"), str):
        action = parse_qs(line["body"]).get("Action")
        if action:
            return action[0]
    if line.get("body_encoded") and "x-www-form-urlencoded" in headers.get("content-type", ""):
        action = parse_qs(body_of(line).decode("utf-8", "replace")).get("Action")
        if action:
            return action[0]
    return None


def is_read_only(line: dict[str, Any]) -> bool:
    """A request that changed nothing (replaying it would only cost time)."""
    if line.get("method") in {"GET", "HEAD"}:
        return True
    action = action_of(line)
    return bool(action and action.startswith(_READ_ACTION_PREFIXES))


def _parse(raw: bytes) -> tuple[dict[str, Any] | None, str]:
    """A journal line's request, or None and why it is not one."""
    try:
        line = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        return None, "not UTF-8"
    except RecursionError:
        return None, "nested too deeply"
    except ValueError as exc:
        return None, getattr(exc, "msg", "not JSON")
    if not isinstance(line, dict):
        return None, f"a JSON {type(line).__name__}, not an object"
    if not isinstance(line.get("method"), str) or not isinstance(line.get("url"), str):
        return None, "no method and url"
    return line, ""


def _scan(path: Path) -> tuple[list[dict[str, Any]], int | None, str, list[bytes]]:
    """(the valid prefix's requests, the first bad line's number or None, why, that line and all after it)."""
    raws = path.read_bytes().splitlines(keepends=True)
    lines = []
    for number, raw in enumerate(raws, start=1):
        if not raw.strip():
            continue
        line, why = _parse(raw)
        if line is None:
            return lines, number, why, raws[number - 1:]
        lines.append(line)
    return lines, None, "", []


def recover_journal(path: Path) -> str | None:
    """Keep the journal's valid prefix and set the rest aside (see the module's docstring); the warning to
    show, or None when the journal was whole."""
    if not path.is_file():
        return None
    lines, number, why, rest = _scan(path)
    if number is None:
        return None
    aside = path.with_name(DROPPED_NAME)
    with aside.open("ab") as handle:
        handle.writelines(raw if raw.endswith(b"\n") else raw + b"\n" for raw in rest)
    partial = path.with_suffix(".partial")
    partial.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    partial.replace(path)
    dropped = sum(1 for raw in rest if raw.strip())
    return (f"{path}:{number}: not a journalled request ({why}); kept the {len(lines)} requests before it, "
            f"set {dropped} line{'s' if dropped != 1 else ''} from there on aside in {aside}")


def read_journal(path: Path) -> list[dict[str, Any]]:
    """The journal's requests in order; a line that is not a journalled request is a `JournalError`
    (`recover_journal` first keeps the valid prefix)."""
    if not path.is_file():
        return []
    lines, number, why, _ = _scan(path)
    if number is not None:
        raise JournalError(f"{path}:{number}: not a journalled request ({why}); fix or remove that line")
    return lines


def compact_journal(path: Path, key_of: Callable[[dict[str, Any]], Any]) -> int:
    """Drop read-only requests, and every request but the last of those that share a key (`key_of` gives
    None for requests that are all kept: a local run's execution put carries the whole execution, so only
    the last per execution matters); returns how many requests remain."""
    if not path.is_file():
        return 0
    kept = [(line, key_of(line)) for line in read_journal(path) if not is_read_only(line)]
    last = {key: i for i, (_, key) in enumerate(kept) if key is not None}
    lines = [line for i, (line, key) in enumerate(kept) if key is None or last[key] == i]
    partial = path.with_suffix(".partial")
    partial.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    partial.replace(path)
    return len(lines)


class Journal:
    """Appends requests to the journal, one whole line at a time (the front answers on many threads)."""

    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()
        self._file: TextIO | None = None

    def append(self, line: dict[str, Any]) -> None:
        text = json.dumps(line) + "\n"
        with self._lock:
            if self._file is None:
                self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 (kept open until close)
            self._file.write(text)
            self._file.flush()

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None
