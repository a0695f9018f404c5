"""Constants the sentiment tests share. A module with a name of its own, not `conftest`: `from conftest import`
resolves to whichever conftest pytest imported first, so it broke when these tests ran beside another folder's."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CANARY = "canary-bearer-7f3e9c1d-DO-NOT-LOG"
