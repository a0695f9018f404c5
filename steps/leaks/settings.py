"""steps.leaks' settings, declared once: configs/pipeline.yaml's `leaks:` section and its per-horizon screens
(`leaks.plausibility.<frequency>/<horizon>`) embed these models, the step's command line is generated from
`LeakSettings`, and the pipeline passes one `--settings` JSON built from the config (pipelines/stages/checks.py).
"""

from __future__ import annotations

from pydantic import Field

from steps.common.settings import StepSettings
from steps.features.settings import FeatureConfiguration, FeatureSettings


class LeakScreens(StepSettings):
    """The statistical screens' thresholds: what an honest feature can reach at one bar frequency and horizon
    (docs/leaks.md "Plausibility"), so the config holds one set per `<bar_frequency>/<label_horizon_bars>`."""

    max_single_feature_auc: float = Field(0.75, gt=0.5, le=1.0,
                                          description="target_leakage: flag a feature whose AUC alone is outside "
                                                      "[1 - a, a]")
    min_future_correlation: float = Field(0.3, gt=0.0, le=1.0,
                                          description="target_leakage / past_future_asymmetry: flag from this "
                                                      "|rank corr| with the forward return")
    max_future_to_past_correlation: float = Field(3.0, ge=1.0,
                                                  description="target_leakage: ... and more than this many times "
                                                              "its |rank corr| with the past return")
    min_asymmetry_z: float = Field(3.0, gt=0.0,
                                   description="past_future_asymmetry: future minus past |corr| in standard errors")


class LeakRun(StepSettings):
    """How much the truncation replay re-computes, and in how many ticker batches the step reads the bars:
    configs/pipeline.yaml `leaks:` (beside `plausibility`)."""

    cutoffs: int = Field(5, ge=1, le=50, description="random truncation instants")
    truncation_tickers: int = Field(8, ge=0, description="tickers sampled for the truncation check (0: all); "
                                                         "the other checks see every row")
    seed: int = Field(0, ge=0, description="seed of the cut-offs and the ticker sample")
    ticker_batches: int = Field(1, ge=1, le=1000,
                                description="read and check the ticker=X/ bar partitions in this many batches in "
                                            "turn (1: one pass): the memory of a batch plus the table instead of "
                                            "every bar at once, for a little more wall time; the same report "
                                            "(docs/leaks.md)")


class LeakSettings(LeakRun, LeakScreens, FeatureConfiguration):
    """The command line of steps.leaks: the replay, the screens and the configured feature settings, which are
    the table's contract (settings_contract), never the table's own manifest."""

    def contract(self) -> FeatureSettings:
        """The configured feature settings the table is held to."""
        return FeatureSettings(**self.model_dump(include=set(FeatureConfiguration.model_fields)))
