"""The built job images, for the tests that run them: the tag `make images` builds for this version, and
whether its absence skips a test or fails it.

CONVICTION_REQUIRE_IMAGES: `1` or `all`, every image must be here (absence fails the test); `cpu` (what CI
builds), that one must. Otherwise a missing docker, daemon or image skips, with the reason and the command.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
VERSION = next(line.split("=", 1)[1].strip() for line in (REPO / "setup.cfg").read_text().splitlines()
               if re.match(r"version\s*=", line))  # fmt: skip
DOCKER_TIMEOUT_S = 120


def required(kind: str) -> bool:
    wanted = {w.strip() for w in os.environ.get("CONVICTION_REQUIRE_IMAGES", "").split(",") if w.strip()}
    return bool(wanted & {"1", "all", kind})


def docker(*args: str, timeout: float = DOCKER_TIMEOUT_S) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, check=False)


def absent(kind: str, reason: str) -> None:
    if required(kind):
        pytest.fail(f"{reason} (CONVICTION_REQUIRE_IMAGES requires the {kind} image here)")
    pytest.skip(reason)


def image_tag(kind: str) -> str:
    """The image `make images` built for this version; skips (or fails where required) when docker, its
    daemon or the image is missing."""
    tag = f"conviction-{kind}:{VERSION}"
    if shutil.which("docker") is None:
        absent(kind, "no docker CLI on this machine")
    if docker("info", timeout=30).returncode != 0:
        absent(kind, "the Docker daemon is not running (start it: 'dockerd &' or 'sudo systemctl start docker')")
    if docker("image", "inspect", tag).returncode != 0:
        absent(kind, f"no image {tag} here: build it with `make images IMAGES={kind}`")
    return tag
