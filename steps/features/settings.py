"""Feature settings: one object, written to manifest.json so that steps.leaks recomputes with exactly it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from steps.common.errors import StepInputError

FREQUENCIES = ("1min", "1d")
KEY_COLUMNS = ("ticker", "ts")
GROUP_COLUMNS = ("sector",)
TARGET_COLUMNS = ("label", "forward_return", "label_end")
NON_FEATURE_COLUMNS = (*KEY_COLUMNS, *GROUP_COLUMNS, *TARGET_COLUMNS)
# Bar columns a price source may lack (close-only and wide files have no open/high/low, index files often no
# volume). A feature that needs an absent one is dropped, never computed from a stand-in (bar_features.py).
OPTIONAL_BAR_INPUTS = ("open", "high", "low", "volume")


@dataclass(frozen=True)
class FeatureSettings:
    frequency: str = "1min"
    windows: tuple[int, ...] = (5, 10, 60)
    sample_every_bars: int = 15
    label_horizon_bars: int = 30
    label_dead_zone: float = 0.0
    ingest_lag_seconds: float = 60.0
    include_sentiment: bool = True
    rsi_period: int = 14
    daily_window: int = 10
    n_folds: int = 4
    train_days: int = 126
    validation_days: int = 21
    embargo_bars: int = 30
    holdout_days: int = 21
    # Set by steps.features from the bars it reads (not a configuration value): the optional bar columns the
    # bars do not have. Kept with the settings so that anything that recomputes the table from them (steps.leaks,
    # the shard merge) drops the same features.
    absent_inputs: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.frequency not in FREQUENCIES:
            raise StepInputError(f"unknown frequency {self.frequency!r}", column="frequency",
                                 fix="use --frequency 1min or 1d")
        windows = tuple(sorted({int(w) for w in self.windows}))
        if not windows or windows[0] < 2:
            raise StepInputError(f"windows {self.windows} must be integers >= 2", column="windows",
                                 fix="pass e.g. --windows 5,10,60")
        object.__setattr__(self, "windows", windows)
        absent = tuple(sorted({str(name) for name in self.absent_inputs}))
        unknown = [name for name in absent if name not in OPTIONAL_BAR_INPUTS]
        if unknown:
            raise StepInputError(f"absent_inputs {unknown} are not optional bar columns", column="absent_inputs",
                                 fix=f"name only {', '.join(OPTIONAL_BAR_INPUTS)}")
        object.__setattr__(self, "absent_inputs", absent)
        for name in ("sample_every_bars", "label_horizon_bars", "rsi_period", "daily_window"):
            if int(getattr(self, name)) < 1:
                flag = "--" + name.replace("_", "-")
                raise StepInputError(f"{name} must be >= 1", column=name, fix=f"pass {flag} 1 or more")
        if self.label_dead_zone < 0 or self.ingest_lag_seconds < 0:
            raise StepInputError("label_dead_zone and ingest_lag_seconds must be >= 0", column="label_dead_zone",
                                 fix="pass non-negative values")

    @property
    def window_unit(self) -> str:
        """Suffix of the sentiment columns: minutes for 1-minute bars, days for daily bars."""
        return "m" if self.frequency == "1min" else "d"

    def to_json(self) -> dict[str, Any]:
        payload = asdict(self)
        payload["windows"] = list(self.windows)
        payload["absent_inputs"] = list(self.absent_inputs)
        return payload

    @classmethod
    def from_json(cls, payload: dict[str, Any]) -> FeatureSettings:
        known = {f.name for f in fields(cls)}
        values = {key: value for key, value in payload.items() if key in known}
        for name in ("windows", "absent_inputs"):
            if name in values:
                values[name] = tuple(values[name])
        return cls(**values)

    def with_bars(self, columns: Iterable[str]) -> FeatureSettings:
        """These settings for bars with `columns`: every optional input they lack is absent (added to those
        already named; a recorded absence is kept, so a recomputation drops what the table dropped)."""
        present = set(columns)
        missing = {name for name in OPTIONAL_BAR_INPUTS if name not in present}
        if missing <= set(self.absent_inputs):
            return self
        return replace(self, absent_inputs=tuple(sorted(missing | set(self.absent_inputs))))
