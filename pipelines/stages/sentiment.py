"""Tweet scoring before BuildFeatures (`--twitter-sentiment`): FinGPT gate, then ScoreSentimentFinBERT.

    FinGPTGate (UseFinGPT == true) ─ true ─> ScoreSentimentFinGPT  (training job, GPU, managed spot)
                                   └ false ─> SkipFinGPT           (writes the `_SKIPPED` marker)
    -> ScoreSentimentFinBERT (ONNX Runtime int8, CPU; combines FinGPT's scores by `sentiment.combine`)
    -> its `tweets` output is BuildFeatures' and LeakTests' tweets input

Why FinGPT runs first and writes to a fixed per-execution prefix: a step outside a condition cannot
depend on a step inside one branch, so FinBERT reads `.../ScoreSentimentFinGPT/checkpoints/scores/`, a
prefix that either branch fills (the FinGPT job through its checkpoint sync, or SkipFinGPT's marker).
Managed spot exists for training jobs only, hence a TrainingStep for a batch-inference job.
"""

from __future__ import annotations

from sagemaker.estimator import Estimator
from sagemaker.inputs import TrainingInput
from sagemaker.processing import ProcessingInput, ProcessingOutput
from sagemaker.workflow.condition_step import ConditionStep
from sagemaker.workflow.conditions import ConditionEquals
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
SKIPPED_DIR = f"{PROCESSING_ROOT}/output/scores"
CHECKPOINT_DIR = "/opt/ml/checkpoints"
FINGPT_ENTRYPOINT = ["python3", "-m", "steps.sentiment.fingpt"]


def fingpt_checkpoint_uri(ctx: StageContext) -> Join:
    """Per execution: a resumed spot job finds its own progress, never another execution's."""
    return Join(on="/", values=[ctx.config.s3_root, "executions", ExecutionVariables.PIPELINE_EXECUTION_ID,
                                "ScoreSentimentFinGPT", "checkpoints"])


def fingpt_scores_uri(ctx: StageContext) -> Join:
    return Join(on="/", values=[fingpt_checkpoint_uri(ctx), "scores"])


def build_fingpt_step(ctx: StageContext) -> TrainingStep:
    fingpt = ctx.config.sentiment.fingpt
    arguments = ["--checkpoint", CHECKPOINT_DIR, "--shard-size", str(fingpt.shard_size),
                 "--batch-size", str(fingpt.batch_size)]
    spot = {"use_spot_instances": True, "max_wait": fingpt.max_wait_seconds} if fingpt.spot else {}
    estimator = Estimator(
        image_uri=fingpt.image,
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


def build_skip_fingpt_step(ctx: StageContext) -> ProcessingStep:
    processor = ctx.processor("steps.sentiment.skipped", "skip-fingpt")
    step_args = processor.run(
        inputs=[ctx.code_input()],
        outputs=[ProcessingOutput(output_name="scores", source=SKIPPED_DIR, destination=fingpt_scores_uri(ctx))],
        arguments=["--output", SKIPPED_DIR],
    )
    return ProcessingStep(name="SkipFinGPT", step_args=step_args, retry_policies=ctx.retry_policies)


def build_fingpt_gate(ctx: StageContext) -> ConditionStep:
    return ConditionStep(
        name="FinGPTGate",
        conditions=[ConditionEquals(left=ctx.params.use_fingpt, right=True)],
        if_steps=[build_fingpt_step(ctx)],
        else_steps=[build_skip_fingpt_step(ctx)],
    )


def build_finbert_step(ctx: StageContext, after: ConditionStep) -> ProcessingStep:
    sentiment = ctx.config.sentiment
    processor = ctx.processor("steps.sentiment.finbert", "score-finbert")
    if sentiment.finbert.image:
        processor.image_uri = sentiment.finbert.image
    step_args = processor.run(
        inputs=[
            ctx.code_input(),
            ProcessingInput(source=ctx.params.tweets_data_url, destination=RAW_TWEETS_DIR, input_name="tweets"),
            ProcessingInput(source=sentiment.finbert.model_url, destination=MODEL_DIR, input_name="model"),
            ProcessingInput(source=fingpt_scores_uri(ctx), destination=FINGPT_DIR, input_name="fingpt"),
        ],
        outputs=[ProcessingOutput(output_name="tweets", source=SCORED_DIR,
                                  destination=ctx.output_uri("ScoreSentimentFinBERT", "tweets"))],
        arguments=[
            "--tweets", RAW_TWEETS_DIR, "--model", MODEL_DIR, "--output", SCORED_DIR,
            "--fingpt", FINGPT_DIR, "--combine", sentiment.combine,
            "--batch-size", str(sentiment.finbert.batch_size), "--max-length", str(sentiment.finbert.max_length),
        ],
    )
    return ctx.processing_step("ScoreSentimentFinBERT", step_args, depends_on=[after])


def build_sentiment_stage(ctx: StageContext) -> tuple[list, ProcessingStep]:
    """The steps to put before BuildFeatures, and the step whose `tweets` output BuildFeatures reads."""
    gate = build_fingpt_gate(ctx)
    finbert = build_finbert_step(ctx, after=gate)
    return [gate, finbert], finbert


def scored_tweets_uri(finbert: ProcessingStep):
    return finbert.properties.ProcessingOutputConfig.Outputs["tweets"].S3Output.S3Uri
