"""SealLockbox: the final holdout taken out of the features folder before any round can read it.

It runs beside LeakTests, on BuildFeatures' folder (LeakTests checks every row, the lockbox's included: a leak
there would make the final figure worthless, and its checks score no model). Its `features` output (the same
output name as BuildFeatures', so it stands in for it) is what FeatureStability, every tuning job, evaluation,
ensemble and artifact check read; its `lockbox` output is an input of FinalHoldout[-r] only, which runs after
the round loop has ended (final_holdout.py; steps/lockbox/seal.py says what goes where).
"""

from __future__ import annotations

from sagemaker.processing import ProcessingOutput
from sagemaker.workflow.steps import ProcessingStep

from pipelines import sdk  # noqa: F401
from pipelines.stages.context import PROCESSING_ROOT, StageContext
from pipelines.stages.features import FEATURES_IN, FEATURES_OUTPUT, features_input

SEALED_DIR = f"{PROCESSING_ROOT}/output/features"
LOCKBOX_DIR = f"{PROCESSING_ROOT}/output/lockbox"
LOCKBOX_OUTPUT = "lockbox"
SEAL_STEP = "SealLockbox"


def build_seal_step(ctx: StageContext, features_step: ProcessingStep) -> ProcessingStep:
    processor = ctx.processor("steps.lockbox", "seal-lockbox")
    step_args = processor.run(
        inputs=[ctx.code_input(), features_input(features_step)],
        outputs=[
            ProcessingOutput(output_name=FEATURES_OUTPUT, source=SEALED_DIR,
                             destination=ctx.output_uri(SEAL_STEP, FEATURES_OUTPUT)),
            ProcessingOutput(output_name=LOCKBOX_OUTPUT, source=LOCKBOX_DIR,
                             destination=ctx.output_uri(SEAL_STEP, LOCKBOX_OUTPUT)),
        ],
        arguments=["--features", FEATURES_IN, "--output-features", SEALED_DIR, "--output-lockbox", LOCKBOX_DIR],
    )
    return ctx.processing_step(SEAL_STEP, step_args)


def lockbox_uri(seal_step: ProcessingStep):
    return seal_step.properties.ProcessingOutputConfig.Outputs[LOCKBOX_OUTPUT].S3Output.S3Uri
