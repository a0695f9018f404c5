"""The SDK version in one place; importing this module also guarantees pipelines/__init__.py ran first.

Keeping every SDK import in `pipelines/` means a later move to SDK v3 touches one layer.
"""

from __future__ import annotations

import sagemaker

SDK_VERSION: str = sagemaker.__version__
