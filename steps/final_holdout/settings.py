"""steps.final_holdout's settings, declared once (the CLI is generated from them; the pipeline passes `--settings`
JSON from configs/pipeline.yaml: the horizon's plausible ceiling, `backtest:` and `selection:`)."""

from __future__ import annotations

from pydantic import Field

from steps.common.settings import StepSettings
from steps.evaluate.settings import SignalSettings


class FinalHoldoutSettings(StepSettings):
    """Scoring the lockbox, and counting the looks that came before it."""

    bootstrap: int = Field(200, ge=0, le=100000,
                           description="day-block bootstrap resamples of the final holdout AUC (0: none)")
    seed: int = Field(0, ge=0, description="seed of the bootstrap")
    suspicious_auc: float = Field(0.70, gt=0.5, le=1.0, description="flag a final AUC above this as a likely leak")
    backtest: SignalSettings = Field(default_factory=SignalSettings, description="the cost-aware backtest")
    pbo_blocks: int = Field(16, ge=4, le=24, description="time blocks S of the PBO's combinatorial cross-validation "
                                                        "(even; fewer where the out-of-fold rows are too few)")
