"""BuildFeatures: bars + scored tweets -> feature matrix, labels and walk-forward folds."""

from __future__ import annotations

from sagemaker.processing import ProcessingInput, ProcessingOutput
from sagemaker.workflow.functions import Join
from sagemaker.workflow.steps import ProcessingStep

from pipelines import sdk  # noqa: F401
from pipelines.code_bundle import PROCESSING_CODE_DIR
from pipelines.stages.context import PROCESSING_ROOT, StageContext
from steps.common.resource_config import RESOURCE_CONFIG  # SageMaker's description of a job's instances
from steps.common.settings import settings_arguments

BARS_DIR = f"{PROCESSING_ROOT}/input/bars"
TWEETS_DIR = f"{PROCESSING_ROOT}/input/tweets"
FEATURES_DIR = f"{PROCESSING_ROOT}/output/features"
FEATURES_IN = f"{PROCESSING_ROOT}/input/features"  # where every job that reads the table finds it
FEATURES_OUTPUT = "features"
"""The output that holds the feature table: BuildFeatures', and FeatureStability's narrowed copy (the same name, so
that it can stand in for BuildFeatures as the tuning jobs' source)."""


def features_uri(features_step: ProcessingStep):
    """The feature table's S3 URI: a property of `features_step` (BuildFeatures or FeatureStability), known at run
    time."""
    return features_step.properties.ProcessingOutputConfig.Outputs[FEATURES_OUTPUT].S3Output.S3Uri


def features_input(features_step: ProcessingStep) -> ProcessingInput:
    """The feature table as a processing job's `features` input, at FEATURES_IN."""
    return ProcessingInput(source=features_uri(features_step), destination=FEATURES_IN, input_name="features")


def parameter_settings_arguments(ctx: StageContext, values: dict) -> list:
    """`values` as `--settings` JSON (steps/common/settings.py), but the settings that are pipeline Parameters:
    a JSON literal cannot hold a run-time value, so each is its own flag (a flag wins over --settings).
    Std:Join turns the boolean parameter into the "true"/"false" text a container argument needs."""
    runtime = ctx.params.runtime_settings()
    literal = {name: value for name, value in values.items() if name not in runtime}
    flags = [item for name in sorted(runtime) if name in values
             for item in ("--" + name.replace("_", "-"), Join(on="", values=[runtime[name]]))]
    return [*settings_arguments(literal), *flags]


def features_arguments(ctx: StageContext) -> list:
    """steps.features' arguments: the paths, and BuildFeatures' settings (`PipelineConfig.build_features_settings`)."""
    return [
        "--bars",
        BARS_DIR,
        "--tweets",
        TWEETS_DIR,
        "--output",
        FEATURES_DIR,
        "--universe",
        f"{PROCESSING_CODE_DIR}/configs/universe.csv",
        *parameter_settings_arguments(ctx, ctx.config.build_features_settings()),
        # Named explicitly so that the local runner maps it into the job folder (one host there).
        "--resource-config",
        RESOURCE_CONFIG,
    ]


def build_features_step(ctx: StageContext) -> ProcessingStep:
    processor = ctx.processor("steps.features", "build-features")
    # Scale-out: FeatureInstanceCount instances, each given a shard of the bar objects (ShardedByS3Key over
    # the ticker= partitions) and every tweet; each writes shards/<host>/ and the readers of the features
    # merge the shards (steps/features/run.py, shards.py). One instance writes the table as before.
    processor.instance_count = ctx.params.feature_instance_count
    step_args = processor.run(
        inputs=[
            ctx.code_input(),
            ProcessingInput(source=ctx.params.input_data_url, destination=BARS_DIR, input_name="bars",
                            s3_data_distribution_type="ShardedByS3Key"),
            ProcessingInput(source=ctx.params.tweets_data_url, destination=TWEETS_DIR, input_name="tweets"),
        ],
        outputs=[
            ProcessingOutput(
                output_name=FEATURES_OUTPUT,
                source=FEATURES_DIR,
                destination=ctx.output_uri("BuildFeatures", FEATURES_OUTPUT),
            )
        ],
        arguments=features_arguments(ctx),
    )
    return ctx.processing_step("BuildFeatures", step_args)
