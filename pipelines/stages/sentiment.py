"""Tweet scoring before BuildFeatures (`--twitter-sentiment`): [ScoreSentimentFinGPT ->] ScoreSentimentFinBERT.

    ScoreSentimentFinGPT (training job, GPU, managed spot)      only with `sentiment.fingpt.enabled` (`--fingpt`)
    -> ScoreSentimentFinBERT (ONNX Runtime int8, CPU; combines FinGPT's scores by `sentiment.combine`)
    -> its `tweets` output is BuildFeatures' and LeakTests' tweets input

FinBERT must start only after FinGPT has ended. SageMaker has no way to rejoin after a ConditionStep: a step
that depends on the ConditionStep is ready once the condition is evaluated (beside the branch, not after
it), and a step depending on steps of both branches waits for all of them (aws/sagemaker-python-sdk#3565).
So FinGPT is chosen when the definition is built, not by a run-time parameter, and FinBERT's `fingpt` input
is a property of the FinGPT step (its CheckpointConfig.S3Uri + "/scores"): SageMaker orders the two by that
data dependency. Without FinGPT, FinBERT has no `fingpt` input and scores alone.
Managed spot exists for training jobs only, hence a TrainingStep for a batch-inference job.

Incremental (`sentiment.cache`, steps/sentiment/score_cache.py): both steps read the score cache under the
project prefix (`<prefix>/sentiment/cache/`, not per execution) and score only the tweets it lacks for
their model's digest. FinBERT's `cache` output writes it back (old + new, FinGPT's new scores included:
a training job has no output prefix to add them to). Its README is uploaded with the code, so the prefix is
never empty (SageMaker fails a job whose S3 input has no objects). FinBERT is never cached by SageMaker:
its TweetsDataUrl grows under the same arguments, and the score cache makes a rerun cost only new tweets.
Scale-out: `instance_count` instances per step, the raw tweets `ShardedByS3Key` (their objects are
`date=…/ticker=…` files), each instance writing `shards/<host>/` (steps/sentiment/shards.py).
"""

from __future__ import annotations

from sagemaker.estimator import Estimator
from sagemaker.inputs import TrainingInput
from sagemaker.processing import ProcessingInput, ProcessingOutput
from sagemaker.workflow.execution_variables import ExecutionVariables
from sagemaker.workflow.functions import Join
from sagemaker.workflow.steps import ProcessingStep, TrainingStep

from pipelines import sdk  # noqa: F401
from pipelines.code_bundle import TRAINING_CODE_DIR
from pipelines.session import PendingUpload
from pipelines.stages.context import PROCESSING_ROOT, StageContext
from steps.common.resource_config import RESOURCE_CONFIG  # SageMaker's description of a job's instances
from steps.common.settings import settings_arguments

RAW_TWEETS_DIR = f"{PROCESSING_ROOT}/input/tweets"
MODEL_DIR = f"{PROCESSING_ROOT}/input/model"
FINGPT_DIR = f"{PROCESSING_ROOT}/input/fingpt"
SCORED_DIR = f"{PROCESSING_ROOT}/output/tweets"
CACHE_IN_DIR = f"{PROCESSING_ROOT}/input/cache"
CACHE_OUT_DIR = f"{PROCESSING_ROOT}/output/cache"
CHECKPOINT_DIR = "/opt/ml/checkpoints"
FINGPT_ENTRYPOINT = ["python3", "-m", "steps.sentiment.fingpt"]
CACHE_README = ("Sentiment scores kept across pipeline executions, by model digest and tweet id "
                "(steps/sentiment/score_cache.py). Safe to delete: missing scores are computed again.\n")


def score_cache_uri(ctx: StageContext) -> str | None:
    """The score cache, under the project prefix and not per execution (None: `sentiment.cache` is off).

    Building the definition records the README upload that keeps the prefix from ever being empty."""
    if not ctx.config.sentiment.cache:
        return None
    uri = ctx.s3("sentiment", "cache")
    readme = f"{uri}/README.txt"
    if not any(upload.s3_uri == readme for upload in ctx.session.pending_uploads):  # FinGPT and FinBERT both ask
        ctx.session.record_upload(PendingUpload(readme, body=CACHE_README.encode()))
    return uri


def fingpt_checkpoint_uri(ctx: StageContext) -> Join:
    """Per execution: a resumed spot job finds its own progress, never another execution's."""
    return Join(on="/", values=[ctx.config.s3_root, "executions", ExecutionVariables.PIPELINE_EXECUTION_ID,
                                "ScoreSentimentFinGPT", "checkpoints"])


def fingpt_scores_uri(fingpt_step: TrainingStep) -> Join:
    """FinBERT's `fingpt` input: a property of the FinGPT step, so SageMaker starts FinBERT after it ends."""
    return Join(on="/", values=[fingpt_step.properties.CheckpointConfig.S3Uri, "scores"])


def fingpt_settings_arguments(ctx: StageContext) -> list[str]:
    """`sentiment.fingpt`'s scoring settings as steps.sentiment.fingpt's `--settings` (steps/sentiment/settings.py)."""
    return settings_arguments(ctx.config.sentiment.fingpt_settings().to_arguments_json())


def finbert_settings_arguments(ctx: StageContext) -> list[str]:
    """`sentiment.finbert`'s scoring settings and `sentiment.combine` as steps.sentiment.finbert's `--settings`."""
    return settings_arguments(ctx.config.sentiment.finbert_settings().to_arguments_json())


def build_fingpt_step(ctx: StageContext) -> TrainingStep:
    fingpt = ctx.config.sentiment.fingpt
    arguments = ["--checkpoint", CHECKPOINT_DIR, *fingpt_settings_arguments(ctx)]
    cache = score_cache_uri(ctx)
    spot = {"use_spot_instances": True, "max_wait": fingpt.max_wait_seconds} if fingpt.spot else {}
    estimator = Estimator(
        image_uri=fingpt.image or ctx.config.images.gpu,
        role=ctx.config.pipeline.role_arn,
        instance_count=fingpt.instance_count,
        instance_type=fingpt.instance_type,
        volume_size=ctx.config.instances.volume_size_gb,
        max_run=fingpt.max_run_seconds,
        checkpoint_s3_uri=fingpt_checkpoint_uri(ctx),
        checkpoint_local_path=CHECKPOINT_DIR,
        output_path=ctx.s3("sentiment", "fingpt"),
        base_job_name="score-fingpt",
        container_entry_point=FINGPT_ENTRYPOINT,
        container_arguments=arguments,
        environment={"PYTHONPATH": TRAINING_CODE_DIR, "PYTHONUNBUFFERED": "1"},
        sagemaker_session=ctx.session,
        tags=[{"Key": k, "Value": v} for k, v in sorted(ctx.config.pipeline.tags.items())],
        **ctx.estimator_security(),  # KMS, VPC and network isolation as every other job
        **spot,
    )
    inputs = {
        "tweets": TrainingInput(s3_data=ctx.params.tweets_data_url, input_mode="File",
                                distribution="ShardedByS3Key"),
        "model": TrainingInput(s3_data=fingpt.base_model_url, input_mode="File"),
        "code": TrainingInput(s3_data=ctx.code.s3_uri, input_mode="File"),
    }
    if cache:  # read here; its new entries travel to FinBERT, which writes the cache (module docstring)
        inputs["cache"] = TrainingInput(s3_data=cache, input_mode="File")
    if fingpt.adapter_url:
        inputs["adapter"] = TrainingInput(s3_data=fingpt.adapter_url, input_mode="File")
    # No cache: a resumed or re-run execution must score this execution's tweets into its own prefix.
    return TrainingStep(name="ScoreSentimentFinGPT", step_args=estimator.fit(inputs=inputs),
                        retry_policies=ctx.retry_policies)


def build_finbert_step(ctx: StageContext, fingpt_step: TrainingStep | None) -> ProcessingStep:
    sentiment = ctx.config.sentiment
    processor = ctx.processor("steps.sentiment.finbert", "score-finbert")
    if sentiment.finbert.image:
        processor.image_uri = sentiment.finbert.image
    processor.instance_count = sentiment.finbert.instance_count
    inputs = [
        ctx.code_input(),
        ProcessingInput(source=ctx.params.tweets_data_url, destination=RAW_TWEETS_DIR, input_name="tweets",
                        s3_data_distribution_type="ShardedByS3Key"),
        ProcessingInput(source=sentiment.finbert.model_url, destination=MODEL_DIR, input_name="model"),
    ]
    outputs = [ProcessingOutput(output_name="tweets", source=SCORED_DIR,
                                destination=ctx.output_uri("ScoreSentimentFinBERT", "tweets"))]
    cache = score_cache_uri(ctx)
    cache_arguments: list[str] = []
    if cache:
        inputs.append(ProcessingInput(source=cache, destination=CACHE_IN_DIR, input_name="cache"))
        outputs.append(ProcessingOutput(output_name="cache", source=CACHE_OUT_DIR, destination=cache))
        cache_arguments = ["--cache", CACHE_IN_DIR, "--cache-out", CACHE_OUT_DIR]
    fingpt_arguments: list[str] = []
    if fingpt_step is not None:
        inputs.append(ProcessingInput(source=fingpt_scores_uri(fingpt_step), destination=FINGPT_DIR,
                                      input_name="fingpt"))
        fingpt_arguments = ["--fingpt", FINGPT_DIR]
    step_args = processor.run(
        inputs=inputs,
        outputs=outputs,
        arguments=[
            "--tweets", RAW_TWEETS_DIR, "--model", MODEL_DIR, "--output", SCORED_DIR,
            *fingpt_arguments, *finbert_settings_arguments(ctx),
            *cache_arguments, "--resource-config", RESOURCE_CONFIG,
        ],
    )
    # No SageMaker cache (see the module docstring); retries as every job step.
    return ProcessingStep(name="ScoreSentimentFinBERT", step_args=step_args, retry_policies=ctx.retry_policies)


def build_sentiment_stage(ctx: StageContext) -> tuple[list, ProcessingStep]:
    """The steps to put before BuildFeatures, and the step whose `tweets` output BuildFeatures reads."""
    fingpt = build_fingpt_step(ctx) if ctx.config.sentiment.fingpt.enabled else None
    finbert = build_finbert_step(ctx, fingpt)
    return [*([fingpt] if fingpt else []), finbert], finbert


def scored_tweets_uri(finbert: ProcessingStep):
    return finbert.properties.ProcessingOutputConfig.Outputs["tweets"].S3Output.S3Uri
