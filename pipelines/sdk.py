"""The SDK version in one place, and one fix to the SDK's config handling.

Importing this module also guarantees pipelines/__init__.py ran first (environment for the SDK).
Keeping every SDK import in `pipelines/` means a later move to SDK v3 touches one layer.
"""

from __future__ import annotations

import json
from typing import Any

import sagemaker
import sagemaker.utils as _sdk_utils

SDK_VERSION: str = sagemaker.__version__

# The SDK re-validates the whole defaults config against its JSON schema (schema check included) on
# every config lookup: ~75 lookups x 0.14 s made one definition build take 4-7 s. The config does not
# change within a process, so each distinct config is validated once; an invalid one still raises.
_validated_configs: set[str] = set()
_validate_every_time = _sdk_utils.validate_sagemaker_config


def _validate_once(config: dict[str, Any] | None = None) -> None:
    key = json.dumps(config, sort_keys=True, default=str)
    if key not in _validated_configs:
        _validate_every_time(config)
        _validated_configs.add(key)


_sdk_utils.validate_sagemaker_config = _validate_once
