"""LeakTests: re-derive the features from truncated inputs; any leak ends the run before tuning.

LeakTests also writes the data-quality baseline of the training rows (Model Monitor's statistics.json and
constraints.json) to its `baseline` output: it is the first step that reads the whole table (with several
BuildFeatures instances no instance sees every ticker or the folds; the shards are merged on read).
"""

from __future__ import annotations

from sagemaker.processing import ProcessingInput, ProcessingOutput
from sagemaker.workflow.condition_step import ConditionStep
from sagemaker.workflow.properties import PropertyFile
from sagemaker.workflow.steps import ProcessingStep

from pipelines import sdk  # noqa: F401
from pipelines.stages.context import PROCESSING_ROOT, StageContext
from pipelines.stages.features import BARS_DIR, FEATURES_IN, TWEETS_DIR, features_input, parameter_settings_arguments
from pipelines.stages.report_gate import build_report_gate

LEAKS_DIR = f"{PROCESSING_ROOT}/output/leaks"
BASELINE_DIR = f"{PROCESSING_ROOT}/output/baseline"
BASELINE_OUTPUT = "baseline"  # the output holding statistics.json and constraints.json (steps/features/baseline.py)


def leak_arguments(ctx: StageContext) -> list:
    """steps.leaks' settings (`LeakSettings`): the `leaks:` section, the screens' thresholds of this run's horizon
    (`leaks.plausibility`) and the configured feature settings the table is held to (its contract)."""
    return parameter_settings_arguments(ctx, ctx.config.leak_settings().model_dump(mode="json"))


def build_leak_step(ctx: StageContext, features_step: ProcessingStep) -> tuple[ProcessingStep, PropertyFile]:
    report = PropertyFile(name="LeakReport", output_name="leaks", path="leak_report.json")
    processor = ctx.processor("steps.leaks", "leak-tests")
    step_args = processor.run(
        inputs=[
            ctx.code_input(),
            features_input(features_step),
            ProcessingInput(source=ctx.params.input_data_url, destination=BARS_DIR, input_name="bars"),
            ProcessingInput(source=ctx.params.tweets_data_url, destination=TWEETS_DIR, input_name="tweets"),
        ],
        outputs=[
            ProcessingOutput(output_name="leaks", source=LEAKS_DIR, destination=ctx.output_uri("LeakTests", "leaks")),
            ProcessingOutput(output_name=BASELINE_OUTPUT, source=BASELINE_DIR,
                             destination=ctx.output_uri("LeakTests", BASELINE_OUTPUT)),
        ],
        arguments=[
            "--features",
            FEATURES_IN,
            "--bars",
            BARS_DIR,
            "--tweets",
            TWEETS_DIR,
            "--output",
            LEAKS_DIR,
            "--baseline-output",
            BASELINE_DIR,
            *leak_arguments(ctx),
        ],
    )
    return ctx.processing_step("LeakTests", step_args, [report]), report


def build_leak_gate(
    leak_step: ProcessingStep, report: PropertyFile, if_steps: list, ctx: StageContext
) -> ConditionStep:
    """Every later step sits in the gate's true branch, so a leak means nothing is tuned or registered."""
    return build_report_gate("LeakGate", "Fail-leaks", leak_step, report, "Leak tests failed:", if_steps)
