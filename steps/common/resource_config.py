"""Which instances a SageMaker processing job runs on: its resource config, read in one place.

SageMaker writes `/opt/ml/config/resourceconfig.json` (`current_host`, `hosts`) into every processing job;
locally there is none. Its presence is how a step knows it runs in a processing job (steps.common.cli's
failure file), and its host list is how a multi-instance step (steps.features, steps.sentiment.finbert)
picks its shard. The steps read different things from it, so the reader takes the step's own `parse`;
what they share is here: no file means one instance, and anything malformed is one line naming the file.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from steps.common.errors import StepInputError

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
