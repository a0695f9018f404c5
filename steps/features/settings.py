"""Feature settings: one model, declared here, written to manifest.json so that steps.leaks recomputes with it.

The configurable part is two models that are also configs/pipeline.yaml's `features:` and `folds:` sections
(pipelines/config.py embeds them, so the config is validated by these bounds and messages, at load):
`FeatureOptions` (what a row holds) and `FoldSettings` (how rows are split); `FeatureConfiguration` is both, the
command line. `FeatureSettings` adds what steps.features finds in the bars itself (`absent_inputs`), and is what
the feature code takes. A new
setting is a field here (default, bound, one-line description) and the code that uses it: the CLI of
steps.features and steps.leaks, the config section and the pipeline's arguments follow from the model.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

from pydantic import Field, field_validator

from steps.common.settings import StepSettings

FREQUENCIES = ("1min", "1d")
KEY_COLUMNS = ("ticker", "ts")
GROUP_COLUMNS = ("sector",)
TARGET_COLUMNS = ("label", "forward_return", "label_end")
NON_FEATURE_COLUMNS = (*KEY_COLUMNS, *GROUP_COLUMNS, *TARGET_COLUMNS)
# Bar columns a price source may lack (close-only and wide files have no open/high/low, index files often no
# volume). A feature that needs an absent one is dropped, never computed from a stand-in (bar_features.py).
OPTIONAL_BAR_INPUTS = ("open", "high", "low", "volume")


class FoldSettings(StepSettings):
    """Walk-forward folds (purged, embargoed) and the untouched holdout: configs/pipeline.yaml `folds:`."""

    n_folds: int = Field(4, ge=1, le=20, description="walk-forward folds before the holdout")
    train_days: int = Field(126, ge=1, description="sessions in each fold's rolling train window")
    validation_days: int = Field(21, ge=1, description="sessions in each fold's validation window")
    embargo_bars: int = Field(30, ge=0, description="bars after a train row's label window before validation")
    holdout_days: int = Field(21, ge=1, description="the sessions after the folds: no fold and no tuning job "
                                                    "sees them; the gates and rounds select on them")
    final_holdout_days: int = Field(0, ge=0, description="the last sessions, the lockbox: sealed until the round "
                                                         "loop has ended, scored once before Register (0: none)")


class FeatureOptions(StepSettings):
    """What a decision row holds and how it is labelled: configs/pipeline.yaml `features:`."""

    # The config calls it bar_frequency (the bars' frequency); the flag and the manifest say frequency.
    frequency: Literal["1min", "1d"] = Field("1min", alias="bar_frequency",
                                             description="bar frequency of the input: 1min or 1d")
    windows: tuple[int, ...] = Field((5, 10, 60), min_length=1,
                                     description="trailing indicator windows in bars (each >= 2), e.g. 5,10,60")
    sample_every_bars: int = Field(15, ge=1, description="one decision row every N bars")
    label_horizon_bars: int = Field(30, ge=1, description="label: sign of the return from bar t+1 to t+1+H")
    label_dead_zone: float = Field(0.0, ge=0.0, lt=0.1, description="|return| below this is not a training row")
    ingest_lag_seconds: float = Field(60.0, ge=0.0, description="a tweet counts for bar t if created <= t - lag")
    include_sentiment: bool = Field(True, description="add the sent_* features from the scored tweets")
    rsi_period: int = Field(14, ge=2, description="bars in the RSI (added beside the windows' RSIs)")
    daily_window: int = Field(10, ge=2, description="sessions in the *_daily indicators (1-minute bars)")

    @field_validator("windows")
    @classmethod
    def _windows(cls, windows: tuple[int, ...]) -> tuple[int, ...]:
        """Sorted and unique: a window of one bar has no spread, so every window needs two bars or more."""
        if any(w < 2 for w in windows):
            raise ValueError("windows must be bar counts >= 2, e.g. 5,10,60")
        return tuple(sorted(set(windows)))


class FeatureConfiguration(FeatureOptions, FoldSettings):
    """What the pipeline configures of the table: the contract of steps.leaks (and of every reader)."""


class FeatureRun(StepSettings):
    """How steps.features works through its input, never what the table holds: configs/pipeline.yaml
    `features.ticker_batches`. Kept out of the contract and the manifest's settings, so a table built in turn
    and one built in one pass are the same table to every reader (tested)."""

    ticker_batches: int = Field(1, ge=1, le=1000,
                                description="build the ticker= partitions in this many batches in turn: the peak "
                                            "memory of a batch, the same table (1: one pass)")
    # refuse by default: a clock hours off passes every other check (the features and the leak checks agree on
    # the wrong instants), and the refusal needs clear evidence (steps/common/clock.py); warn keeps building.
    clock_check: Literal["refuse", "warn", "off"] = Field(
        "refuse", description="bars or tweets whose clock the data shows to be whole hours off: refuse, warn or off")


class FeatureCommand(FeatureConfiguration, FeatureRun):
    """The command line of steps.features: the configured table and how to build it."""


class FeatureSettings(FeatureConfiguration):
    """Everything the feature code takes: the configured options and folds plus what the bars lack."""

    # Set by steps.features from the bars it reads (not a configuration value): the optional bar columns the
    # bars do not have. Kept with the settings so that anything that recomputes the table from them (steps.leaks,
    # the shard merge) drops the same features.
    absent_inputs: tuple[str, ...] = Field((), description="optional bar columns the bars lack (set from the bars)")
    extra: dict[str, Any] = Field(default_factory=dict, description="reserved; recorded in the manifest")

    @field_validator("absent_inputs")
    @classmethod
    def _absent_inputs(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        absent = tuple(sorted({str(name) for name in names}))
        unknown = [name for name in absent if name not in OPTIONAL_BAR_INPUTS]
        if unknown:
            raise ValueError(f"absent_inputs {unknown} are not optional bar columns; name only "
                             f"{', '.join(OPTIONAL_BAR_INPUTS)}")
        return absent

    @property
    def window_unit(self) -> str:
        """Suffix of the sentiment columns: minutes for 1-minute bars, days for daily bars."""
        return "m" if self.frequency == "1min" else "d"

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    @classmethod
    def from_json(cls, payload: dict[str, Any], source: str = "manifest.json settings") -> FeatureSettings:
        """The settings a manifest records; names this version does not know are left out (older tables)."""
        return cls.parse({key: value for key, value in payload.items() if key in cls.model_fields}, source)

    def with_bars(self, columns: Iterable[str]) -> FeatureSettings:
        """These settings for bars with `columns`: every optional input they lack is absent (added to those
        already named; a recorded absence is kept, so a recomputation drops what the table dropped)."""
        present = set(columns)
        missing = {name for name in OPTIONAL_BAR_INPUTS if name not in present}
        if missing <= set(self.absent_inputs):
            return self
        return self.model_copy(update={"absent_inputs": tuple(sorted(missing | set(self.absent_inputs)))})

    def replace(self, **changes: Any) -> FeatureSettings:
        """A copy with `changes`, validated like any other settings."""
        return type(self)(**{**self.model_dump(), **changes})
