"""The step types a definition may hold, one declaration each (after the SDK's one class per step type).

A declaration holds what the definition layer knows of a type, from the service's side: the SageMaker
request its arguments become (`request`), the job it creates and how that job is named and listed (`job`,
`job_name_limit`), and where its properties come from (`property_shapes`: the botocore output shapes,
after the SDK's `Properties` shape names). Lint, the service rules and the local runner read these; what a
type *does* in a local run is its handler's (`pipelines.local.handlers`), which names its declaration.

A new step type: one class here and one entry in `STEP_TYPES`, then one handler module in
`pipelines/local/handlers/` (the factory finds it; tests/pipelines/test_step_types.py holds the tables to each
other).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, ClassVar

from pipelines.definition.requests import trial_request, without_empty
from pipelines.definition.service_rules import UNKNOWN

Request = tuple[str, dict[str, Any]]  # (operation, request)

# The retry policy's exception types (developer guide, "Retry Policy for Pipeline Steps",
# https://docs.aws.amazon.com/sagemaker/latest/dg/pipelines-retry-policy.html; the SDK's
# sagemaker/workflow/retry.py writes the same strings). Step.*: calling a downstream service failed;
# SageMaker.*: the job the step created failed, so only a step that creates a job can meet them.
STEP_EXCEPTIONS = ("Step.SERVICE_FAULT", "Step.THROTTLING")
JOB_EXCEPTIONS = ("SageMaker.JOB_INTERNAL_ERROR", "SageMaker.CAPACITY_ERROR", "SageMaker.RESOURCE_LIMIT")


@dataclass(frozen=True)
class Job:
    """The job a step creates, as SageMaker describes and lists it."""

    metadata_key: str  # its key in a ListPipelineExecutionSteps item's Metadata ("ProcessingJob")
    arn_property: str  # the describe-response member holding its ARN ("ProcessingJobArn")
    name_property: str  # ... and its name, which is also the create request's name member ("ProcessingJobName")
    arn_resource: str  # the resource type in its ARN ("processing-job")


class StepType:
    """One step type of the definition schema; the base is a type that makes no request and has no properties."""

    name: ClassVar[str]
    operation: ClassVar[str | None] = None  # the SageMaker API call the step makes (None: it makes none)
    job: ClassVar[Job | None] = None  # the job it creates, if any
    job_name_limit: ClassVar[int] = 63  # the service's length limit on the name of what the step creates
    property_shapes: ClassVar[tuple[str, ...]] = ()  # the botocore output shapes its properties come from
    # The exception types its RetryPolicies may name (none: the type takes no retry policy; the retry page
    # lists the steps that do), and those it accepts but SageMaker never retries for it.
    retry_exceptions: ClassVar[tuple[str, ...]] = ()
    unretried_exceptions: ClassVar[tuple[str, ...]] = ()

    def request(self, arguments: dict[str, Any], job_name: str) -> Request | None:
        """The SageMaker API call this step makes with these (resolved) arguments; None when it makes none."""
        return None

    def static_requests(self, arguments: dict[str, Any], job_name: str) -> list[Request]:
        """Every request the step makes, as lint knows them before a run (`UNKNOWN` for run-time values)."""
        request = self.request(arguments, job_name)
        return [request] if request is not None else []

    def property_error(self, tokens: list[str | int]) -> str | None:
        """Why `tokens` (`Get Steps.X.<tokens>`) is not a property of a step of this type (None when it is)."""
        if not self.property_shapes:
            return f"a {self.name} step has no properties"
        model = _service_model()
        errors = []
        for shape_name in self.property_shapes:
            error = _walk_shape(model.shape_for(shape_name), tokens)
            if error is None:
                return None
            errors.append(error)
        return errors[0]


class JobStepType(StepType):
    """A step that creates a job: its request is the create call, named by the job's name member."""

    operation: ClassVar[str]
    job: ClassVar[Job]
    retry_exceptions = STEP_EXCEPTIONS + JOB_EXCEPTIONS

    def request(self, arguments: dict[str, Any], job_name: str) -> Request:
        return self.operation, {self.job.name_property: job_name, **arguments}


class ProcessingStepType(JobStepType):
    name = "Processing"
    operation = "CreateProcessingJob"
    job = Job("ProcessingJob", "ProcessingJobArn", "ProcessingJobName", "processing-job")
    property_shapes = ("DescribeProcessingJobResponse",)


class TrainingStepType(JobStepType):
    name = "Training"
    operation = "CreateTrainingJob"
    job = Job("TrainingJob", "TrainingJobArn", "TrainingJobName", "training-job")
    property_shapes = ("DescribeTrainingJobResponse",)


class TuningStepType(JobStepType):
    name = "Tuning"
    operation = "CreateHyperParameterTuningJob"
    job = Job("TuningJob", "HyperParameterTuningJobArn", "HyperParameterTuningJobName", "hyper-parameter-tuning-job")
    job_name_limit = 32  # HyperParameterTuningJobName
    # "Jobs running inside both the tuning and AutoML steps conduct retries internally and will not retry the
    # SageMaker.JOB_INTERNAL_ERROR exception type, even if a retry policy is configured" (the retry page)
    unretried_exceptions = ("SageMaker.JOB_INTERNAL_ERROR",)
    property_shapes = ("DescribeHyperParameterTuningJobResponse", "ListTrainingJobsForHyperParameterTuningJobResponse")

    def static_requests(self, arguments: dict[str, Any], job_name: str) -> list[Request]:
        """The tuning job's request and one trial's CreateTrainingJob, every tuned hyperparameter UNKNOWN."""
        requests = super().static_requests(arguments, job_name)
        training = arguments.get("TrainingJobDefinition")
        if isinstance(training, dict):
            ranges = training.get("HyperParameterRanges") or arguments.get("HyperParameterTuningJobConfig", {}).get(
                "ParameterRanges", {}
            )
            tuned = {spec["Name"]: UNKNOWN for specs in ranges.values() for spec in specs if "Name" in spec}
            requests.append(trial_request(training, {**training.get("StaticHyperParameters", {}), **tuned}, job_name))
        return requests


class RegisterModelStepType(StepType):
    name = "RegisterModel"
    operation = "CreateModelPackage"
    retry_exceptions = STEP_EXCEPTIONS  # it creates no job: nothing can fail with a SageMaker job's error
    property_shapes = ("DescribeModelPackageOutput",)

    def request(self, arguments: dict[str, Any], job_name: str) -> Request:
        return self.operation, without_empty(arguments)


class ModelStepType(StepType):
    name = "Model"
    operation = "CreateModel"
    retry_exceptions = STEP_EXCEPTIONS
    property_shapes = ("DescribeModelOutput",)

    def request(self, arguments: dict[str, Any], job_name: str) -> Request:
        return self.operation, {"ModelName": job_name, **without_empty(arguments)}


class ConditionStepType(StepType):
    name = "Condition"

    def property_error(self, tokens: list[str | int]) -> str | None:
        return None if tokens == ["Outcome"] else "a ConditionStep has one property, Outcome"


class FailStepType(StepType):
    name = "Fail"


STEP_TYPES: dict[str, StepType] = {
    step_type.name: step_type
    for step_type in (
        ProcessingStepType(),
        TrainingStepType(),
        TuningStepType(),
        ConditionStepType(),
        FailStepType(),
        RegisterModelStepType(),
        ModelStepType(),
    )
}


def step_type_of_metadata(key: str) -> str:
    """The step type whose ListPipelineExecutionSteps `Metadata` item has this key ("ProcessingJob" ->
    "Processing"); a type with no job lists itself by name ("Condition"), and an unknown key is shown as it is."""
    for step_type in STEP_TYPES.values():
        if key == (step_type.job.metadata_key if step_type.job else step_type.name):
            return step_type.name
    return key or "Step"


def property_error(step_type: str, tokens: list[str | int]) -> str | None:
    """Why `tokens` is not a property of a step of `step_type` (None when it is)."""
    declared = STEP_TYPES.get(step_type)
    return declared.property_error(tokens) if declared else f"a {step_type} step has no properties"


# -- the describe-response shapes -------------------------------------------------------------------------
@functools.cache
def _service_model():
    import botocore.session

    return botocore.session.get_session().get_service_model("sagemaker")


def _walk_shape(shape, tokens: list[str | int]) -> str | None:
    walked: list[str] = []
    for token in tokens:
        kind = shape.type_name
        if kind == "structure":
            if not isinstance(token, str) or token not in shape.members:
                return f"{'.'.join(walked) or shape.name} has no member {token!r}"
            shape = shape.members[token]
        elif kind == "list":
            shape = shape.member  # [index] or ['name']: the SDK's PropertiesList takes both
        elif kind == "map":
            if not isinstance(token, str):
                return f"{'.'.join(walked)} is a map: index it with ['key']"
            shape = shape.value
        else:
            return f"{'.'.join(walked)} is a {kind}; it has no {token!r}"
        walked.append(str(token))
    return None
