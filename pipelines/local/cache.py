"""Step caching in the run folder, after SageMaker's: a step whose CacheConfig is enabled and whose key
(step name + resolved arguments + code digest) matches an earlier successful run, not older than its
ExpireAfter, reuses that run's outputs instead of running again.

Execution variables are left symbolic in the key (`{Execution.PipelineExecutionId}`), so a step's own
output prefix, which names the execution, does not defeat the cache; a downstream step's inputs name the
exact outputs it reads, so a chain of hits stays consistent and a rerun upstream changes the keys below it.

A hit must find its outputs exactly as the step wrote them: each entry keeps every output file's size and
sha256, checked on lookup; a file missing, added or changed makes the entry a miss (the step runs again),
and an unreadable entry is a miss too, never an error. An entry with nothing to verify (no outputs, or an
output with no files) is a miss as well: it would match outputs deleted since.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

_DURATION = re.compile(
    r"^P(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+)S)?)?$"
)


def parse_duration(text: str | None) -> timedelta | None:
    """ISO-8601 durations as CacheConfig.ExpireAfter writes them (P30D, PT1H, P1W); months are 30 days."""
    if not text:
        return None
    match = _DURATION.match(text)
    if not match or text in {"P", "PT"}:
        return None
    parts = {k: int(v) for k, v in match.groupdict().items() if v}
    days = parts.get("years", 0) * 365 + parts.get("months", 0) * 30 + parts.get("weeks", 0) * 7 + parts.get("days", 0)
    return timedelta(
        days=days, hours=parts.get("hours", 0), minutes=parts.get("minutes", 0), seconds=parts.get("seconds", 0)
    )


def cache_key(step_name: str, step_type: str, arguments: Any, code_digest: str) -> str:
    payload = json.dumps(
        {"step": step_name, "type": step_type, "arguments": arguments, "code": code_digest},
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def output_digests(store, uris: list[str]) -> dict[str, dict[str, list]]:
    """uri -> {relative file path: [size, sha256]} for every file under each output URI."""
    digests: dict[str, dict[str, list]] = {}
    for uri in uris:
        root = store.path(uri)
        files = {}
        for path in store.files(uri):
            relative = path.name if path == root else path.relative_to(root).as_posix()
            digest = hashlib.sha256()
            with path.open("rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
            files[relative] = [path.stat().st_size, digest.hexdigest()]
        digests[uri] = files
    return digests


def _unverifiable(recorded: Any) -> str | None:
    """Why an entry's recorded digests cannot prove its outputs are intact (None when they can).

    Nothing recorded proves nothing: an empty map, or an output with no files listed, would match outputs
    that were deleted since, so such an entry is a miss, as is one whose digests are not
    {uri: {file: [size, sha256]}}."""
    if not isinstance(recorded, dict):
        return "has no output digests"
    if not recorded:
        return "records no outputs to verify"
    for uri, files in recorded.items():
        if not isinstance(files, dict) or not files:
            return f"records no files to verify for {uri}"
        for name, digest in files.items():
            if not (isinstance(digest, list) and len(digest) == 2 and isinstance(digest[0], int)
                    and not isinstance(digest[0], bool) and isinstance(digest[1], str)):
                return f"has a malformed digest for {uri} {name}"
    return None


class StepCache:
    def __init__(self, root: Path, enabled: bool = True, warn: Callable[[str], None] | None = None):
        self.root = Path(root)
        self.enabled = enabled
        self.warn = warn or (lambda _: None)

    def _path(self, key: str) -> Path:
        return self.root / f"{key}.json"

    def lookup(self, key: str, expire_after: str | None, store=None) -> dict[str, Any] | None:
        """The entry for `key` if it is fresh and (given the store) its outputs are exactly as written."""
        if not self.enabled or not self._path(key).is_file():
            return None
        try:
            entry = json.loads(self._path(key).read_text())
            finished_at = float(entry["finished_at"])
            entry["properties"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            self.warn(f"cache entry {self._path(key)} is unreadable ({type(exc).__name__}); running the step")
            return None
        lifetime = parse_duration(expire_after)
        if lifetime is not None and time.time() - finished_at > lifetime.total_seconds():
            return None
        if store is not None:
            recorded = entry.get("output_digests")
            problem = _unverifiable(recorded)
            if problem:
                self.warn(f"cache entry for {entry.get('step', key)} {problem}; running the step")
                return None
            current = output_digests(store, list(recorded))
            for uri, files in recorded.items():
                if current.get(uri) != files:
                    changed = sorted(set(files) ^ set(current.get(uri, {}))) or sorted(
                        name for name in files if current.get(uri, {}).get(name) != files[name]
                    )
                    self.warn(
                        f"cache entry for {entry.get('step', key)} not used: {uri} changed since it was written "
                        f"({', '.join(changed[:3])}{'…' if len(changed) > 3 else ''}); running the step"
                    )
                    return None
        return entry

    def save(self, key: str, entry: dict[str, Any]) -> None:
        if not self.enabled:
            return
        self.root.mkdir(parents=True, exist_ok=True)
        partial = self._path(key).with_suffix(f".{os.getpid()}.{threading.get_ident()}.partial")
        partial.write_text(json.dumps({**entry, "finished_at": time.time()}, indent=2, sort_keys=True, default=str))
        partial.replace(self._path(key))
