"""The clock check's modes, apart from the check itself (steps/common/clock.py, which needs polars and pandas):
`python -m steps.import_prices --help` lists them without loading either."""

from __future__ import annotations

from typing import Literal

ClockMode = Literal["refuse", "warn", "off"]
CLOCK_MODES: tuple[str, ...] = ("refuse", "warn", "off")
