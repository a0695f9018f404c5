"""Fixtures of the image tests: the built images by kind (tests/containers/built_images.py)."""

from __future__ import annotations

import pytest
from built_images import image_tag


@pytest.fixture
def cpu_image() -> str:
    return image_tag("cpu")
