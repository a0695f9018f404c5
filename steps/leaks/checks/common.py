"""What the leak checks share: the result every check returns, and the bars they read."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd
import polars as pl

Bars = pd.DataFrame | pl.DataFrame  # the step reads polars (as steps.features does); tests may pass pandas


@dataclass
class CheckResult:
    """One check's verdict as the report shows it: `columns` are the ones at fault, `data` its figures."""

    name: str
    passed: bool
    details: str
    columns: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
