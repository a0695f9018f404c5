"""Shared helpers for the sentiment tests: the repo root, a Python that runs step programs, a canary."""

from __future__ import annotations

import os
import sys

import pytest
from sentiment_constants import REPO


@pytest.fixture
def step_env(aws_endpoint: str) -> dict[str, str]:
    """Environment for a step subprocess: the emulator's fake credentials and this checkout first."""
    env = dict(os.environ)
    env.update({
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
        "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1",
    })
    env.pop("AWS_PROFILE", None)
    return env


@pytest.fixture
def python() -> str:
    return sys.executable
