"""Tune-<algorithm>[-<round>]: a Bayesian TuningStep over the ranges in configs/hpo/<algorithm>.yaml.

Round 1 tunes from scratch. Round r > 1 is warm-started (IdenticalDataAndAlgorithm) from every earlier
round of the same algorithm, named one by one: warm start is not recursive, so a round that named only
round r-1 would neither start from nor report round r-2's trials ("If you want to use the information from
MyTuningJob1, you must explicitly add it as a parent",
https://docs.aws.amazon.com/sagemaker/latest/dg/automatic-model-tuning-warm-start.html). Its model is the
OverallBestTrainingJob, the best by the cross-validated objective across every round so far (never by
holdout AUC). Every round writes under the same output path, so a model's S3 URI depends only on its
training job's name, whichever tuning job ran it.
"""

from __future__ import annotations

from collections.abc import Sequence

from sagemaker.estimator import Estimator
from sagemaker.inputs import TrainingInput
from sagemaker.parameter import CategoricalParameter, ContinuousParameter, IntegerParameter
from sagemaker.tuner import HyperparameterTuner, WarmStartConfig, WarmStartTypes
from sagemaker.workflow.functions import Join
from sagemaker.workflow.steps import ProcessingStep, TuningStep

from pipelines import sdk  # noqa: F401
from pipelines.code_bundle import TRAINING_CODE_DIR
from pipelines.config import HpoRange
from pipelines.stages.context import StageContext
from pipelines.stages.features import features_uri
from steps.train.settings import ALGORITHMS

# The training program prints these lines; the tuner and the local runner both read them with these regexes.
METRIC_DEFINITIONS = [
    {"Name": "validation:auc", "Regex": r"validation:auc=([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)"},
    {"Name": "train:auc", "Regex": r"train:auc=([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)"},
]


def _sdk_range(spec: HpoRange):
    if spec.type == "categorical":
        return CategoricalParameter(spec.values)
    if spec.type == "integer":
        return IntegerParameter(int(spec.min), int(spec.max), scaling_type=spec.scaling)
    return ContinuousParameter(spec.min, spec.max, scaling_type=spec.scaling)


def _hyperparameter_text(value: object) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def round_suffix(round_number: int) -> str:
    """Step-name suffix of a tuning round: "" for the first, "-2", "-3" for the re-tunes."""
    return "" if round_number == 1 else f"-{round_number}"


def build_estimator(ctx: StageContext, algorithm: str) -> Estimator:
    hpo = ctx.config.hpo[algorithm]
    static = {"algorithm": algorithm, **{k: _hyperparameter_text(v) for k, v in hpo.static.items()},
              **ctx.config.training.hyperparameters()}
    # A GPU family (the GRU) runs on GruInstanceType (a GPU type by default), so it gets the GPU image; the image is
    # fixed when the definition is built, and the GPU image also runs on a CPU type if the parameter is set to one.
    gpu = ALGORITHMS[algorithm].gpu
    instance_type = ctx.params.gru_instance_type if gpu else ctx.params.training_instance_type
    return Estimator(
        image_uri=ctx.config.images.gpu if gpu else ctx.config.images.training,
        role=ctx.config.pipeline.role_arn,
        instance_count=1,
        instance_type=instance_type,
        volume_size=ctx.config.instances.volume_size_gb,
        max_run=ctx.config.instances.max_runtime_seconds,
        output_path=ctx.s3("models", algorithm),
        base_job_name=f"train-{algorithm}",
        hyperparameters=static,
        metric_definitions=METRIC_DEFINITIONS,
        environment={"PYTHONPATH": TRAINING_CODE_DIR, "PYTHONUNBUFFERED": "1"},
        sagemaker_session=ctx.session,
        tags=[{"Key": k, "Value": v} for k, v in sorted(ctx.config.pipeline.tags.items())],
        **ctx.estimator_security(),
    )


class OrderedWarmStartConfig(WarmStartConfig):
    """The SDK's WarmStartConfig with its parents kept in the order given: the SDK holds them in a set, whose
    order for pipeline variables changes from one process to the next, and the definition must be byte-stable."""

    def __init__(self, warm_start_type: WarmStartTypes, parents: list) -> None:
        super().__init__(warm_start_type, parents=set(parents))
        self.parents = list(parents)


def build_tuning_step(
    ctx: StageContext,
    algorithm: str,
    features_step: ProcessingStep,
    round_number: int = 1,
    parents: Sequence[TuningStep] = (),
) -> TuningStep:
    """Tune-<algorithm>; with `parents` (every earlier round's step, oldest first) a warm-started re-tune."""
    tuning = ctx.config.tuning
    warm_start = None
    if parents:
        warm_start = OrderedWarmStartConfig(
            WarmStartTypes.IDENTICAL_DATA_AND_ALGORITHM,
            parents=[parent.properties.HyperParameterTuningJobName for parent in parents],
        )
    tuner = HyperparameterTuner(
        estimator=build_estimator(ctx, algorithm),
        objective_metric_name=tuning.objective_metric,
        objective_type=tuning.objective_type,
        hyperparameter_ranges={name: _sdk_range(spec) for name, spec in ctx.config.hpo[algorithm].ranges.items()},
        metric_definitions=METRIC_DEFINITIONS,
        strategy=tuning.strategy,
        max_jobs=ctx.params.max_tuning_jobs,
        max_parallel_jobs=ctx.params.max_parallel_jobs,
        early_stopping_type=tuning.early_stopping,
        random_seed=tuning.random_seed,
        base_tuning_job_name=f"tune-{algorithm}",
        warm_start_config=warm_start,
    )
    step_args = tuner.fit(
        inputs={
            "train": TrainingInput(s3_data=features_uri(features_step), input_mode="File"),
            "code": TrainingInput(s3_data=ctx.code.s3_uri, input_mode="File"),
        }
    )
    return TuningStep(
        name=f"Tune-{algorithm}{round_suffix(round_number)}",
        step_args=step_args,
        cache_config=ctx.cache,
        retry_policies=ctx.retry_policies,
    )


def best_model_uri(ctx: StageContext, algorithm: str, tuning_step: TuningStep, warm_started: bool = False):
    """The best training job's model.tar.gz, at the path SageMaker writes it under the estimator's output.

    A warm-started job's own summaries (and BestTrainingJob) hold only its own trials; its
    OverallBestTrainingJob is the best of the jobs it and the parents it names launched, by the objective
    (the cross-validated AUC): with every earlier round named, the best model across the rounds so far.
    """
    if warm_started:
        return Join(
            on="/",
            values=[
                ctx.s3("models", algorithm),
                tuning_step.properties.OverallBestTrainingJob.TrainingJobName,
                "output/model.tar.gz",
            ],
        )
    return tuning_step.get_top_model_s3_uri(
        top_k=0,
        s3_bucket=ctx.config.pipeline.bucket,
        prefix=f"{ctx.config.pipeline.prefix}/models/{algorithm}",
    )
