"""Step caching in the run folder, after SageMaker's: a step whose CacheConfig is enabled and whose key
(step name + resolved arguments + code digest) matches an earlier successful run, not older than its
ExpireAfter, reuses that run's outputs instead of running again.

Execution variables are left symbolic in the key (`{Execution.PipelineExecutionId}`), so a step's own
output prefix, which names the execution, does not defeat the cache; a downstream step's inputs name the
exact outputs it reads, so a chain of hits stays consistent and a rerun upstream changes the keys below it.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
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


class StepCache:
    def __init__(self, root: Path, enabled: bool = True):
        self.root = Path(root)
        self.enabled = enabled

    def _path(self, key: str) -> Path:
        return self.root / f"{key}.json"

    def lookup(self, key: str, expire_after: str | None) -> dict[str, Any] | None:
        if not self.enabled or not self._path(key).is_file():
            return None
        entry = json.loads(self._path(key).read_text())
        lifetime = parse_duration(expire_after)
        if lifetime is not None and time.time() - entry["finished_at"] > lifetime.total_seconds():
            return None
        return entry

    def save(self, key: str, entry: dict[str, Any]) -> None:
        if not self.enabled:
            return
        self.root.mkdir(parents=True, exist_ok=True)
        partial = self._path(key).with_suffix(".partial")
        partial.write_text(json.dumps({**entry, "finished_at": time.time()}, indent=2, sort_keys=True, default=str))
        partial.replace(self._path(key))
