"""Which instance of a multi-instance scoring job this is, so that instances never write the same file.

The scoring steps run on `instance_count` instances with the raw tweets sharded across them
(`ShardedByS3Key` over the `date=…/ticker=…` objects): each instance scores its share and writes
`shards/<host>/…` in the step's output, which readers take as one table (`read_table` reads a folder
recursively). One instance writes the single file, as before.

Processing jobs describe their instances in `/opt/ml/config/resourceconfig.json` (`current_host`,
`hosts`; read by steps.common.resource_config); training jobs (FinGPT) in the `SM_CURRENT_HOST` / `SM_HOSTS`
environment variables.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from steps.common.errors import StepInputError
from steps.common.resource_config import host_list, read_resource_config


@dataclass(frozen=True)
class Shard:
    host: str
    hosts: tuple[str, ...]

    @property
    def first(self) -> bool:
        """The instance that writes what only one should (carried-forward cache files)."""
        return self.host == self.hosts[0]


def _shard(host: object, hosts: object, source: str) -> Shard | None:
    current, names = host_list(host, hosts, source)  # plain names (steps.common.names): they become folders
    if len(names) <= 1:
        return None
    return Shard(current, tuple(sorted(names)))


def processing_shard(resource_config: str | Path | None) -> Shard | None:
    """This processing instance's shard, or None with one instance (or no resource config, as locally)."""
    return read_resource_config(resource_config,
                                lambda config, path: _shard(config["current_host"], config["hosts"], str(path)),
                                fix="run the step as SageMaker starts it, or drop --resource-config")


def training_shard(environ: Mapping[str, str]) -> Shard | None:
    """This training instance's shard from SM_CURRENT_HOST / SM_HOSTS, or None with one instance."""
    if "SM_HOSTS" not in environ:
        return None
    try:
        hosts = json.loads(environ["SM_HOSTS"])
    except ValueError:
        raise StepInputError("SM_HOSTS is not a JSON list", file="SM_HOSTS",
                             fix="run the job as SageMaker starts it") from None
    return _shard(environ.get("SM_CURRENT_HOST"), hosts, "SM_HOSTS")
