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
from pipelines.stages.context import PROCESSING_ROOT, StageContext

RAW_TWEETS_DIR = f"{PROCESSING_ROOT}/input/tweets"
MODEL_DIR = f"{PROCESSING_ROOT}/input/model"
FINGPT_DIR = f"{PROCESSING_ROOT}/input/fingpt"
SCORED_DIR = f"{PROCESSING_ROOT}/output/tweets"
CHECKPOINT_DIR = "/opt/ml/checkpoints"
FINGPT_ENTRYPOINT = ["python3", "-m", "steps.sentiment.fingpt"]


def fingpt_checkpoint_uri(ctx: StageContext) -> Join:
    """Per execution: a resumed spot job finds its own progress, never another execution's."""
    return Join(on="/", values=[ctx.config.s3_root, "executions", ExecutionVariables.PIPELINE_EXECUTION_ID,
                                "ScoreSentimentFinGPT", "checkpoints"])


def fingpt_scores_uri(fingpt_step: TrainingStep) -> Join:
    """FinBERT's `fingpt` input: a property of the FinGPT step, so SageMaker starts FinBERT after it ends."""
    return Join(on="/", values=[fingpt_step.properties.CheckpointConfig.S3Uri, "scores"])


def build_fingpt_step(ctx: StageContext) -> TrainingStep:
    fingpt = ctx.config.sentiment.fingpt
    arguments = ["--checkpoint", CHECKPOINT_DIR, "--shard-size", str(fingpt.shard_size),
                 "--batch-size", str(fingpt.batch_size)]
    spot = {"use_spot_instances": True, "max_wait": fingpt.max_wait_seconds} if fingpt.spot else {}
    estimator = Estimator(
        image_uri=fingpt.image or ctx.config.images.gpu,
        role=ctx.config.pipeline.role_arn,
        instance_count=1,
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
        "tweets": TrainingInput(s3_data=ctx.params.tweets_data_url, input_mode="File"),
        "model": TrainingInput(s3_data=fingpt.base_model_url, input_mode="File"),
        "code": TrainingInput(s3_data=ctx.code.s3_uri, input_mode="File"),
    }
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
    inputs = [
        ctx.code_input(),
        ProcessingInput(source=ctx.params.tweets_data_url, destination=RAW_TWEETS_DIR, input_name="tweets"),
        ProcessingInput(source=sentiment.finbert.model_url, destination=MODEL_DIR, input_name="model"),
    ]
    fingpt_arguments: list[str] = []
    if fingpt_step is not None:
        inputs.append(ProcessingInput(source=fingpt_scores_uri(fingpt_step), destination=FINGPT_DIR,
                                      input_name="fingpt"))
        fingpt_arguments = ["--fingpt", FINGPT_DIR]
    step_args = processor.run(
        inputs=inputs,
        outputs=[ProcessingOutput(output_name="tweets", source=SCORED_DIR,
                                  destination=ctx.output_uri("ScoreSentimentFinBERT", "tweets"))],
        arguments=[
            "--tweets", RAW_TWEETS_DIR, "--model", MODEL_DIR, "--output", SCORED_DIR,
            *fingpt_arguments, "--combine", sentiment.combine,
            "--batch-size", str(sentiment.finbert.batch_size), "--max-length", str(sentiment.finbert.max_length),
        ],
    )
    return ctx.processing_step("ScoreSentimentFinBERT", step_args)


def build_sentiment_stage(ctx: StageContext) -> tuple[list, ProcessingStep]:
    """The steps to put before BuildFeatures, and the step whose `tweets` output BuildFeatures reads."""
    fingpt = build_fingpt_step(ctx) if ctx.config.sentiment.fingpt.enabled else None
    finbert = build_finbert_step(ctx, fingpt)
    return [*([fingpt] if fingpt else []), finbert], finbert


def scored_tweets_uri(finbert: ProcessingStep):
    return finbert.properties.ProcessingOutputConfig.Outputs["tweets"].S3Output.S3Uri
