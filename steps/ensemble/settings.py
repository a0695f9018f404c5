"""steps.ensemble's settings, declared once: the CLI is generated from `EnsembleSettings`, and the pipeline passes
`--settings` JSON built from configs/pipeline.yaml (`margin` is `gates.ensemble_margin`, which the config declares
with this model's field; `backtest` is `backtest:`; pipelines/stages/ensemble.py)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from steps.common.settings import StepSettings
from steps.evaluate.settings import SignalSettings


class EnsembleSettings(StepSettings):
    """The stacked ensemble: its meta-learner, its evaluation and what it must reach beside the best single model."""

    margin: float = Field(0.0, ge=-0.1, le=0.1,
                          description="the ensemble may sit this much below the best single AUC (negative: must lead)")
    c: float = Field(1.0, gt=0.0, le=1e6, description="inverse L2 strength of the logistic meta-learner")
    period: Literal["D", "W", "M"] = Field("W", description="AUC-by-period granularity")
    smoke_rows: int = Field(32, ge=1, le=1000, description="held-out rows kept for the deploy smoke test")
    bootstrap: int = Field(200, ge=0, le=100000,
                           description="day-block bootstrap resamples of the holdout AUC (0: none)")
    seed: int = Field(0, ge=0, description="seed of the bootstrap")
    backtest: SignalSettings = Field(default_factory=SignalSettings, description="the cost-aware backtest")
