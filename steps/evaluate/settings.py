"""steps.evaluate's settings, declared once: the CLI is generated from `EvaluateSettings`, the pipeline passes
`--settings` JSON built from configs/pipeline.yaml (`suspicious_auc` from this horizon's
`leaks.plausibility.max_holdout_auc`, `backtest` from `backtest:` and, for its plausibility screen, this
horizon's `leaks.plausibility` entry; pipelines/stages/evaluation.py)."""

from __future__ import annotations

from pydantic import Field

from steps.common.backtest_plausibility import BacktestPlausibility
from steps.common.settings import StepSettings


class BacktestOptions(StepSettings):
    """The book (configs/pipeline.yaml `backtest:`; flags --backtest-quantile, --backtest-cost-bps of
    steps.evaluate and steps.ensemble); the holding period comes from the features manifest."""

    quantile: float = Field(0.2, gt=0.0, le=0.5, description="long the top, short the bottom quantile by score")
    cost_bps: float = Field(5.0, ge=0.0, le=10000.0, description="trading cost per unit traded, each side, in bps")


class SignalSettings(BacktestOptions):
    """The book and the screen of its economics. The screen's ceilings depend on the bar frequency and horizon,
    so the config sets them from `leaks.plausibility.<key>`, beside the AUC ceiling, not in `backtest:`."""

    plausibility: BacktestPlausibility = Field(default_factory=BacktestPlausibility,
                                               description="the screen of the backtest's economics (a flag)")


class EvaluateSettings(StepSettings):
    """The holdout evaluation of one model."""

    bootstrap: int = Field(200, ge=0, le=100000,
                           description="day-block bootstrap resamples of the holdout AUC (0: none)")
    seed: int = Field(0, ge=0, description="seed of the bootstrap")
    suspicious_auc: float = Field(0.70, gt=0.5, le=1.0, description="flag a holdout AUC above this as a likely leak")
    min_auc: float | None = Field(None, ge=0.5, le=1.0,
                                  description="the model gate: flag the latest holdout week whose AUC is below it")
    backtest: SignalSettings = Field(default_factory=SignalSettings, description="the cost-aware backtest")
