"""BuildFeatures: bars + scored tweets -> feature matrix, labels and walk-forward folds."""

from __future__ import annotations

from sagemaker.processing import ProcessingInput, ProcessingOutput
from sagemaker.workflow.functions import Join
from sagemaker.workflow.steps import ProcessingStep

from pipelines import sdk  # noqa: F401
from pipelines.code_bundle import PROCESSING_CODE_DIR
from pipelines.stages.context import PROCESSING_ROOT, StageContext

BARS_DIR = f"{PROCESSING_ROOT}/input/bars"
TWEETS_DIR = f"{PROCESSING_ROOT}/input/tweets"
FEATURES_DIR = f"{PROCESSING_ROOT}/output/features"


def feature_settings_arguments(ctx: StageContext) -> list:
    """The feature and fold settings as steps.features / steps.leaks arguments (steps/features/arguments.py).

    BuildFeatures builds with them and LeakTests holds the table to them (its settings_contract check): the
    contract comes from this configuration, never from the manifest of the table under test.
    """
    features, folds = ctx.config.features, ctx.config.folds
    return [
        "--frequency",
        features.bar_frequency,
        "--windows",
        ",".join(str(w) for w in features.windows),
        "--sample-every-bars",
        str(features.sample_every_bars),
        "--label-horizon-bars",
        str(features.label_horizon_bars),
        "--label-dead-zone",
        repr(features.label_dead_zone),
        "--ingest-lag-seconds",
        str(features.ingest_lag_seconds),
        # Std:Join turns the boolean parameter into the "true"/"false" text a container argument needs.
        "--include-sentiment",
        Join(on="", values=[ctx.params.include_sentiment]),
        "--n-folds",
        str(folds.n_folds),
        "--train-days",
        str(folds.train_days),
        "--validation-days",
        str(folds.validation_days),
        "--embargo-bars",
        str(folds.embargo_bars),
        "--holdout-days",
        str(folds.holdout_days),
        "--daily-window",
        str(features.daily_window),
    ]


def features_arguments(ctx: StageContext) -> list:
    return [
        "--bars",
        BARS_DIR,
        "--tweets",
        TWEETS_DIR,
        "--output",
        FEATURES_DIR,
        "--universe",
        f"{PROCESSING_CODE_DIR}/configs/universe.csv",
        *feature_settings_arguments(ctx),
        # Named explicitly so that the local runner maps it into the job folder (one host there).
        "--resource-config",
        "/opt/ml/config/resourceconfig.json",
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
                output_name="features",
                source=FEATURES_DIR,
                destination=ctx.output_uri("BuildFeatures", "features"),
            )
        ],
        arguments=features_arguments(ctx),
    )
    return ctx.processing_step("BuildFeatures", step_args)
