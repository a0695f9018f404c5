"""steps.stability's settings, declared once: configs/pipeline.yaml's `stability:` section embeds
`StabilitySettings`, the step's command line is generated from it and the pipeline passes it as `--settings`
JSON (pipelines/stages/stability.py). The scale and the rules are explained in steps/stability/select.py.
"""

from __future__ import annotations

from pydantic import Field

from steps.common.settings import StepSettings


class RfeOptions(StepSettings):
    """Recursive feature elimination with walk-forward CV (steps/stability/rfe.py): a feature is kept only if RFE
    and the SHAP rules both keep it. Flags: --rfe-enabled, --rfe-step, --rfe-min-features."""

    enabled: bool = Field(False, description="also run recursive feature elimination (a feature must pass both)")
    step: float = Field(0.1, gt=0.0, lt=1.0, description="share of the starting features RFE removes per round")
    min_features: int = Field(3, ge=1, description="RFE keeps at least this many features")


class StabilitySettings(StepSettings):
    """SHAP stability selection over the walk-forward folds."""

    floor: float = Field(0.01, ge=0.0, lt=1.0, description="minimum mean share of total mean |SHAP| (0.01 = 1%)")
    max_rank_spread: float = Field(0.5, gt=0.0, le=1.0,
                                   description="largest rank movement across folds, as a share of the feature count")
    min_sign_correlation: float = Field(0.1, ge=0.0, lt=1.0,
                                        description="|corr(value, SHAP)| below this: no clear direction in a fold")
    min_validation_z: float = Field(2.0, allow_inf_nan=False,
                                    description="minimum agreement of SHAP values with validation labels (z)")
    min_features: int = Field(3, ge=1, description="at least this many features are kept (the largest shares)")
    max_rows_per_fold: int = Field(20000, ge=100, description="validation rows explained per fold (train rows: 4x)")
    seed: int = Field(0, ge=0, description="seed of the row samples and the boosters")
    rfe: RfeOptions = Field(default_factory=RfeOptions, description="recursive feature elimination")
