"""steps.evaluate's settings, declared once: the CLI is generated from `EvaluateSettings`, the pipeline passes
`--settings` JSON built from configs/pipeline.yaml (`suspicious_auc` from this horizon's
`leaks.plausibility.max_holdout_auc`, `backtest` from `backtest:`; pipelines/stages/evaluation.py)."""

from __future__ import annotations

from pydantic import Field

from steps.common.settings import StepSettings


class SignalSettings(StepSettings):
    """The backtest's settings (configs/pipeline.yaml `backtest:`; flags --backtest-quantile, --backtest-cost-bps
    of steps.evaluate and steps.ensemble); the holding period comes from the features manifest."""

    quantile: float = Field(0.2, gt=0.0, le=0.5, description="long the top, short the bottom quantile by score")
    cost_bps: float = Field(5.0, ge=0.0, le=10000.0, description="trading cost per unit traded, each side, in bps")


class EvaluateSettings(StepSettings):
    """The holdout evaluation of one model."""

    bootstrap: int = Field(200, ge=0, le=100000,
                           description="day-block bootstrap resamples of the holdout AUC (0: none)")
    seed: int = Field(0, ge=0, description="seed of the bootstrap")
    suspicious_auc: float = Field(0.70, gt=0.5, le=1.0, description="flag a holdout AUC above this as a likely leak")
    min_auc: float | None = Field(None, ge=0.5, le=1.0,
                                  description="the model gate: flag the latest holdout week whose AUC is below it")
    backtest: SignalSettings = Field(default_factory=SignalSettings, description="the cost-aware backtest")
