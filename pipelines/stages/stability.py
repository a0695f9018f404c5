"""FeatureStability (optional): SHAP stability selection after LeakGate passes and before tuning.

Its `features` output is the BuildFeatures folder with manifest.json's `feature_columns` narrowed to the
selected list (plus selected_features.json), so a tuning job whose `train` channel reads it trains every
algorithm on the selected features with no change to steps.train; `stability` holds the report, the plot
and analysis.json (the SHAP values in Clarify's explainability format); `baseline` the data-quality
baseline of the training rows over the selected columns, the ones every model then takes.
"""

from __future__ import annotations

from sagemaker.processing import ProcessingOutput
from sagemaker.workflow.steps import ProcessingStep

from pipelines import sdk  # noqa: F401
from pipelines.stages.checks import BASELINE_DIR, BASELINE_OUTPUT
from pipelines.stages.context import PROCESSING_ROOT, StageContext
from pipelines.stages.features import FEATURES_IN, FEATURES_OUTPUT, features_input
from steps.common.settings import settings_arguments

SELECTED_FEATURES_DIR = f"{PROCESSING_ROOT}/output/features"
STABILITY_DIR = f"{PROCESSING_ROOT}/output/stability"
EXPLAINABILITY_FILE = "analysis.json"  # in the `stability` output (steps/stability/explainability.py)


def stability_arguments(ctx: StageContext) -> list[str]:
    """The `stability:` section as steps.stability's `--settings` (its model, steps/stability/settings.py)."""
    return settings_arguments(ctx.config.stability.model_dump(mode="json", exclude={"enabled"}))


def build_stability_step(ctx: StageContext, features_step: ProcessingStep) -> ProcessingStep:
    """Outputs `features` (same name as BuildFeatures', so it can stand in for it as a training source)."""
    processor = ctx.processor("steps.stability", "feature-stability")
    step_args = processor.run(
        inputs=[
            ctx.code_input(),
            features_input(features_step),
        ],
        outputs=[
            ProcessingOutput(output_name=FEATURES_OUTPUT, source=SELECTED_FEATURES_DIR,
                             destination=ctx.output_uri("FeatureStability", FEATURES_OUTPUT)),
            ProcessingOutput(output_name="stability", source=STABILITY_DIR,
                             destination=ctx.output_uri("FeatureStability", "stability")),
            ProcessingOutput(output_name=BASELINE_OUTPUT, source=BASELINE_DIR,
                             destination=ctx.output_uri("FeatureStability", BASELINE_OUTPUT)),
        ],
        arguments=["--features", FEATURES_IN, "--output", STABILITY_DIR, "--output-features", SELECTED_FEATURES_DIR,
                   "--baseline-output", BASELINE_DIR, *stability_arguments(ctx)],
    )
    return ctx.processing_step("FeatureStability", step_args)
