"""What the running environment has that a lock does not say: the drift `make test-latest` tests.

    python containers/lock_drift.py requirements.lock

Prints one line per package whose installed version differs from the lock's, and the packages on one side
only, so a red `make test-latest` names the release to look at first (and a green one the versions a
`make lock UPGRADE=1` would take). Always exits 0: the tests that follow are the verdict.
"""

from __future__ import annotations

import re
import sys
from importlib.metadata import distributions
from pathlib import Path

from packaging.utils import canonicalize_name

PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", re.MULTILINE)
# installed by the Makefile beside the lock, never in it
NOT_LOCKED = {"pip", "torch", "conviction-pipelines", "uv"}


def locked_versions(text: str) -> dict[str, str]:
    return {canonicalize_name(name): version for name, version in PIN.findall(text)}


def installed_versions() -> dict[str, str]:
    return {canonicalize_name(d.metadata["Name"]): d.version for d in distributions() if d.metadata["Name"]}


def drift(locked: dict[str, str], installed: dict[str, str]) -> list[str]:
    lines = []
    for name in sorted(set(locked) | set(installed)):
        if name in NOT_LOCKED:
            continue
        have, pinned = installed.get(name), locked.get(name)
        if have == pinned:
            continue
        if pinned is None:
            lines.append(f"  {name} {have}: installed, not in the lock")
        elif have is None:
            lines.append(f"  {name}: locked at {pinned}, not installed")
        else:
            lines.append(f"  {name} {pinned} -> {have}")
    return lines


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python containers/lock_drift.py <lock>", file=sys.stderr)
        return 2
    path = Path(argv[0])
    lines = drift(locked_versions(path.read_text()), installed_versions())
    if lines:
        print(f"newest allowed versions that differ from {path} ({len(lines)}):")
        print("\n".join(lines))
    else:
        print(f"the newest versions setup.cfg allows are the ones {path} pins")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
