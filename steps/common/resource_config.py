"""Which instances a SageMaker processing job runs on: its resource config, read in one place.

SageMaker writes `/opt/ml/config/resourceconfig.json` (`current_host`, `hosts`) into every processing job;
locally there is none. Its presence is how a step knows it runs in a processing job (steps.common.cli's
failure file), and its host list is how a multi-instance step (steps.features, steps.sentiment.finbert)
picks its shard. The steps read different things from it, so the reader takes the step's own `parse`;
what they share is here: no file means one instance, and anything malformed is one line naming the file.
Host names become folder names (`shards/<host>/`): `host_list` checks each is a plain name
(steps.common.names), so `../../x` as a host cannot move a shard outside the step's output.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from steps.common.errors import StepInputError
from steps.common.names import safe_name

RESOURCE_CONFIG = "/opt/ml/config/resourceconfig.json"

Parsed = TypeVar("Parsed")


def read_resource_config(resource_config: str | Path | None, parse: Callable[[Any, Path], Parsed], *,
                         fix: str) -> Parsed | None:
    """`parse(config, path)` of the JSON at `resource_config`; None when no path is given or no file is there.

    A file that is not JSON, or that `parse` cannot read (a KeyError, TypeError or ValueError), is a
    StepInputError naming the file, with the caller's `fix`."""
    path = Path(resource_config) if resource_config else None
    if path is None or not path.is_file():
        return None
    try:
        return parse(json.loads(path.read_text()), path)
    except (KeyError, TypeError, ValueError) as exc:
        raise StepInputError(f"malformed resource config ({exc})", file=path, fix=fix) from None


HOSTS_FIX = "host names become folder names (algo-1, algo-2, ...): run the step as SageMaker starts it"


def host_list(current: object, hosts: object, source: str | Path) -> tuple[str, list[str]]:
    """(this host, every host) of a resource config (or SM_CURRENT_HOST / SM_HOSTS): a list of distinct plain
    names (steps.common.names) holding the current one, else a StepInputError naming `source`."""
    if not isinstance(hosts, list) or not hosts:
        raise StepInputError(f"'hosts' must be a list of host names, not {str(hosts)[:60]!r}", file=source,
                             column="hosts", fix=HOSTS_FIX)
    names = [safe_name(host, "hosts", source, fix=HOSTS_FIX) for host in hosts]
    host = safe_name(current, "current_host", source, fix=HOSTS_FIX)
    if host not in names or len(set(names)) != len(names):
        problem = "lists a host twice" if len(set(names)) != len(names) else f"does not list the current host {host}"
        raise StepInputError(f"'hosts' {problem}", file=source, column="hosts", fix=HOSTS_FIX)
    return host, names
