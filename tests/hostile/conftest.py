"""Shared by the hostile-input tests: a small real model to serve and attack."""

from __future__ import annotations

from pathlib import Path

import pytest
from trained_model import build_model_folder


@pytest.fixture(scope="session")
def model_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real xgboost model folder from a tiny generated market."""
    return build_model_folder(tmp_path_factory.mktemp("archives"), num_round=10)
