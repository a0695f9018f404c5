"""pipelines.definition.service_rules refuses what SageMaker's service model refuses, naming the field and the rule.

Each rule class has one planted violation whose field path and rule text are asserted exactly, next to the
nearest value that passes, so a test fails if its rule is removed or loosened. The real definition, its
expressions resolved with plain values, must pass: local green means cloud green, and no false refusals.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from pipelines.config import load_config
from pipelines.definition import definition_json, get_pipeline
from pipelines.definition.graph import iter_branch_steps
from pipelines.definition.java_regex import compiled_pattern
from pipelines.definition.requests import job_name
from pipelines.definition.service_rules import (
    UNKNOWN,
    RuleViolation,
    Unknown,
    service_model,
    validate_request,
)
from pipelines.definition.step_types import STEP_TYPES
from pipelines.local.errors import StepFailed
from pipelines.local.service_checks import refuse_invalid

SHAPES = service_model()["shapes"]
ROLE = "arn:aws:iam::000000000000:role/conviction-sagemaker-execution"
IMAGE = "000000000000.dkr.ecr.us-east-1.amazonaws.com/conviction-cpu:0.1.0"
EXECUTION_ID = "abcdef123456"


def _input(name: str, uri: str = "s3://bucket/prefix/data") -> dict[str, Any]:
    return {
        "InputName": name,
        "AppManaged": False,
        "S3Input": {
            "S3Uri": uri,
            "LocalPath": f"/opt/ml/processing/input/{name}",
            "S3DataType": "S3Prefix",
            "S3InputMode": "File",
            "S3DataDistributionType": "FullyReplicated",
            "S3CompressionType": "None",
        },
    }


def processing_request(**changes: Any) -> dict[str, Any]:
    """A minimal valid CreateProcessingJob request, with `changes` on top."""
    request = {
        "ProcessingJobName": "buildfeatures-abcdef123456",
        "ProcessingInputs": [_input("code"), _input("bars")],
        "ProcessingOutputConfig": {
            "Outputs": [
                {
                    "OutputName": "features",
                    "AppManaged": False,
                    "S3Output": {
                        "S3Uri": "s3://bucket/prefix/out",
                        "LocalPath": "/opt/ml/processing/output/features",
                        "S3UploadMode": "EndOfJob",
                    },
                }
            ]
        },
        "ProcessingResources": {
            "ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.xlarge", "VolumeSizeInGB": 30}
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": 7200},
        "AppSpecification": {"ImageUri": IMAGE, "ContainerEntrypoint": ["python3", "-m", "steps.features"]},
        "Environment": {"PYTHONPATH": "/opt/ml/processing/input/code"},
        "RoleArn": ROLE,
        "Tags": [{"Key": "project", "Value": "conviction"}],
    }
    request.update(changes)
    return request


def model_package_request(**metadata: str) -> dict[str, Any]:
    """A minimal valid CreateModelPackage request with the given CustomerMetadataProperties."""
    return {
        "ModelPackageGroupName": "conviction-direction",
        "ModelPackageDescription": "stacking ensemble of xgboost from pipeline conviction-direction",
        "ModelApprovalStatus": "PendingManualApproval",
        "InferenceSpecification": {
            "Containers": [{"Image": IMAGE, "ModelDataUrl": "s3://bucket/ensemble/model.tar.gz"}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["application/json"],
        },
        "CustomerMetadataProperties": metadata or {"algorithms": "xgboost"},
    }


def tuning_request(**resource_limits: Any) -> dict[str, Any]:
    """A minimal valid CreateHyperParameterTuningJob request."""
    return {
        "HyperParameterTuningJobName": "tune-xgboost-abcdef123456",
        "HyperParameterTuningJobConfig": {
            "Strategy": "Bayesian",
            "HyperParameterTuningJobObjective": {"Type": "Maximize", "MetricName": "validation:auc"},
            "ResourceLimits": {"MaxNumberOfTrainingJobs": 4, "MaxParallelTrainingJobs": 2, **resource_limits},
            "ParameterRanges": {
                "IntegerParameterRanges": [
                    {"Name": "max_depth", "MinValue": "3", "MaxValue": "6", "ScalingType": "Linear"}
                ]
            },
        },
        "TrainingJobDefinition": {
            "AlgorithmSpecification": {"TrainingImage": IMAGE, "TrainingInputMode": "File"},
            "RoleArn": ROLE,
            "OutputDataConfig": {"S3OutputPath": "s3://bucket/models/xgboost"},
            "StoppingCondition": {"MaxRuntimeInSeconds": 7200},
            "HyperParameterTuningResourceConfig": {
                "InstanceCount": 1,
                "InstanceType": "ml.m5.xlarge",
                "VolumeSizeInGB": 30,
            },
            "StaticHyperParameters": {"algorithm": "xgboost", "num_round": "1000"},
        },
    }


def only(violations: list[RuleViolation]) -> RuleViolation:
    assert len(violations) == 1, [str(v) for v in violations]
    return violations[0]


def pattern_rule(shape: str) -> str:
    return f"must match pattern {SHAPES[shape]['pattern']}"


# --- one planted violation per rule class ---------------------------------------------------------------------


def test_a_comma_in_a_model_package_metadata_value_is_refused_naming_the_field_and_the_pattern():
    violation = only(validate_request("CreateModelPackage", model_package_request(algorithms="xgboost,catboost")))

    assert violation.operation == "CreateModelPackage"
    assert violation.field == "CustomerMetadataProperties['algorithms']"
    assert violation.rule == pattern_rule("CustomerMetadataValue")
    assert violation.rule == r"must match pattern ([\p{L}\p{Z}\p{N}_.:\/=+\-@]*)${1,256}"
    assert violation.value == "'xgboost,catboost'"


def test_a_plus_in_a_model_package_metadata_value_passes():
    assert validate_request("CreateModelPackage", model_package_request(algorithms="xgboost+catboost")) == []


def test_a_pattern_must_match_the_whole_value_not_a_prefix():
    # "ab-" starts with a valid job name; Java's String.matches (fullmatch) still refuses it.
    violation = only(validate_request("CreateProcessingJob", processing_request(ProcessingJobName="ab-")))

    assert violation.field == "ProcessingJobName"
    assert violation.rule == pattern_rule("ProcessingJobName")


def test_a_string_longer_than_its_max_is_refused_and_one_at_the_max_passes():
    at_max, too_long = "a" * 256, "a" * 257

    violation = only(validate_request("CreateModelPackage", model_package_request(note=too_long)))

    assert violation.field == "CustomerMetadataProperties['note']"
    assert violation.rule == "at most 256 characters"
    assert violation.value.endswith("… (257 characters)")
    assert validate_request("CreateModelPackage", model_package_request(note=at_max)) == []


def test_an_empty_string_below_its_min_length_is_refused():
    violation = only(validate_request("CreateModelPackage", model_package_request(algorithms="")))

    assert violation.field == "CustomerMetadataProperties['algorithms']"
    assert violation.rule == "at least 1 character"


def test_an_integer_below_its_min_is_refused_naming_the_nested_field():
    request = tuning_request(MaxNumberOfTrainingJobs=0)

    violation = only(validate_request("CreateHyperParameterTuningJob", request))

    assert violation.field == "HyperParameterTuningJobConfig.ResourceLimits.MaxNumberOfTrainingJobs"
    assert violation.rule == "at least 1"
    assert violation.value == "0"
    assert validate_request("CreateHyperParameterTuningJob", tuning_request(MaxNumberOfTrainingJobs=1)) == []


def test_an_integer_above_its_max_is_refused():
    assert SHAPES["ProcessingInstanceCount"]["max"] == 100
    request = processing_request()
    request["ProcessingResources"]["ClusterConfig"]["InstanceCount"] = 101

    violation = only(validate_request("CreateProcessingJob", request))

    assert violation.field == "ProcessingResources.ClusterConfig.InstanceCount"
    assert violation.rule == "at most 100"


def test_a_float_below_its_min_is_refused_and_an_int_is_a_valid_float():
    def endpoint_config(weight: Any) -> dict[str, Any]:
        variant = {"VariantName": "AllTraffic", "ModelName": "m", "InitialVariantWeight": weight}
        return {"EndpointConfigName": "conviction", "ProductionVariants": [variant]}

    violation = only(validate_request("CreateEndpointConfig", endpoint_config(-0.5)))

    assert violation.field == "ProductionVariants[0].InitialVariantWeight"
    assert violation.rule == "at least 0"
    assert validate_request("CreateEndpointConfig", endpoint_config(1)) == []


def test_a_value_outside_its_enum_is_refused_listing_the_allowed_values():
    request = model_package_request()
    request["ModelApprovalStatus"] = "Pending"

    violation = only(validate_request("CreateModelPackage", request))

    assert violation.field == "ModelApprovalStatus"
    assert violation.rule == "one of Approved|Rejected|PendingManualApproval"


def test_a_long_enum_is_named_by_its_shape_and_shortened_in_the_rule():
    request = processing_request()
    request["ProcessingResources"]["ClusterConfig"]["InstanceType"] = "ml.m5.enormous"

    violation = only(validate_request("CreateProcessingJob", request))

    count = len(SHAPES["ProcessingInstanceType"]["enum"])
    assert violation.field == "ProcessingResources.ClusterConfig.InstanceType"
    assert violation.rule.startswith(f"one of {count} values of ProcessingInstanceType: ml.t3.medium|")
    assert violation.rule.endswith("|…")


def test_a_missing_required_member_is_refused_at_the_top_and_nested():
    request = processing_request()
    del request["RoleArn"]
    del request["ProcessingInputs"][1]["S3Input"]["S3Uri"]

    violations = validate_request("CreateProcessingJob", request)

    assert {(v.field, v.rule) for v in violations} == {
        ("RoleArn", "required member missing"),
        ("ProcessingInputs[1].S3Input.S3Uri", "required member missing"),
    }
    assert "RoleArn: required member missing" in [str(v) for v in violations]


def test_a_processing_job_takes_at_most_ten_inputs_as_the_service_model_says():
    assert SHAPES["ProcessingInputs"]["max"] == 10
    ten = processing_request(ProcessingInputs=[_input(f"in{i}") for i in range(10)])
    eleven = processing_request(ProcessingInputs=[_input(f"in{i}") for i in range(11)])

    violation = only(validate_request("CreateProcessingJob", eleven))

    assert violation.field == "ProcessingInputs"
    assert violation.rule == "at most 10 items"
    assert violation.value == "11 items"
    assert validate_request("CreateProcessingJob", ten) == []


def test_a_map_with_fewer_entries_than_its_min_is_refused():
    request = model_package_request()
    request["CustomerMetadataProperties"] = {}

    violation = only(validate_request("CreateModelPackage", request))

    assert (violation.field, violation.rule) == ("CustomerMetadataProperties", "at least 1 item")


def test_an_unknown_member_is_refused_where_it_appears():
    request = processing_request()
    request["ProcessingInputs"][0]["S3Input"]["S3Url"] = "s3://bucket/x"

    violation = only(validate_request("CreateProcessingJob", request))

    assert violation.field == "ProcessingInputs[0].S3Input.S3Url"
    assert violation.rule == "unknown member"
    assert violation.value == "'s3://bucket/x'"


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        ("1", "expected an integer, got str"),
        (True, "expected an integer, got bool"),
        (1.0, "expected an integer, got float"),
        (None, "expected an integer, got None"),
    ],
)
def test_a_value_of_the_wrong_type_is_refused_and_a_bool_is_not_an_integer(value, rule):
    request = processing_request()
    request["ProcessingResources"]["ClusterConfig"]["InstanceCount"] = value

    violation = only(validate_request("CreateProcessingJob", request))

    assert violation.field == "ProcessingResources.ClusterConfig.InstanceCount"
    assert violation.rule == rule


@pytest.mark.parametrize(
    ("field", "value", "rule"),
    [
        ("ProcessingJobName", 7, "expected a string, got int"),
        ("ProcessingInputs", {"code": {}}, "expected a list, got dict"),
        ("Environment", [("A", "1")], "expected a map (dict), got list"),
        ("StoppingCondition", 7200, "expected a structure (dict), got int"),
    ],
)
def test_strings_lists_maps_and_structures_refuse_other_types(field, value, rule):
    violation = only(validate_request("CreateProcessingJob", processing_request(**{field: value})))

    assert (violation.field, violation.rule) == (field, rule)


def test_a_boolean_member_refuses_the_string_false():
    request = processing_request()
    request["ProcessingInputs"][0]["AppManaged"] = "false"

    violation = only(validate_request("CreateProcessingJob", request))

    assert (violation.field, violation.rule) == ("ProcessingInputs[0].AppManaged", "expected a boolean, got str")


def test_a_map_key_is_checked_against_the_key_pattern():
    violation = only(validate_request("CreateModelPackage", model_package_request(**{"data,end": "2024-03-28"})))

    assert violation.field == "CustomerMetadataProperties['data,end']"
    assert violation.rule == "key " + pattern_rule("CustomerMetadataKey")
    assert violation.value == "'data,end'"


def test_an_environment_variable_name_is_checked_against_the_key_pattern():
    request = processing_request(Environment={"1_BAD": "x", "GOOD_1": "y"})

    violation = only(validate_request("CreateProcessingJob", request))

    assert violation.field == "Environment['1_BAD']"
    assert violation.rule == "key " + pattern_rule("ProcessingEnvironmentKey")


# --- Java regular-expression semantics (the translation itself: test_java_regex.py) ---------------------------


def test_a_line_break_is_refused_where_the_pattern_is_java_dot_star():
    # ContainerArgument's pattern is ".*": Java's dot stops at \n, \r, \u0085, \u2028 and \u2029.
    assert SHAPES["ContainerArgument"]["pattern"] == ".*"
    for text in ("a\nb", "a\rb", "a\u2028b"):
        request = processing_request()
        request["AppSpecification"]["ContainerArguments"] = ["--flag", text]

        violation = only(validate_request("CreateProcessingJob", request))

        assert (violation.field, violation.rule) == ("AppSpecification.ContainerArguments[1]", "must match pattern .*")
    assert compiled_pattern(".*").fullmatch("a\tb é")


# --- UNKNOWN --------------------------------------------------------------------------------------------------


def test_unknown_passes_as_a_scalar_a_structure_a_list_and_a_map():
    request = processing_request(
        ProcessingJobName=UNKNOWN,
        ProcessingInputs=UNKNOWN,
        Environment=UNKNOWN,
        StoppingCondition=UNKNOWN,
    )
    request["ProcessingResources"]["ClusterConfig"]["InstanceCount"] = UNKNOWN
    request["ProcessingOutputConfig"]["Outputs"][0]["S3Output"] = UNKNOWN
    request["AppSpecification"]["ContainerArguments"] = ["--n", UNKNOWN]

    assert validate_request("CreateProcessingJob", request) == []
    assert validate_request("CreateModelPackage", model_package_request(algorithms=UNKNOWN)) == []


def test_unknown_does_not_stand_in_for_a_missing_required_member():
    request = processing_request(ProcessingResources=UNKNOWN, AppSpecification=UNKNOWN)
    del request["RoleArn"]

    violation = only(validate_request("CreateProcessingJob", request))

    assert (violation.field, violation.rule) == ("RoleArn", "required member missing")


def test_unknown_is_one_value_that_survives_copies():
    assert Unknown() is UNKNOWN
    assert copy.deepcopy({"a": UNKNOWN})["a"] is UNKNOWN
    assert repr(UNKNOWN) == "UNKNOWN"


# --- messages -------------------------------------------------------------------------------------------------


def test_a_violation_is_one_line_with_a_shortened_value():
    request = processing_request()
    request["AppSpecification"]["ContainerArguments"] = ["x\n" * 60]

    violation = only(validate_request("CreateProcessingJob", request))

    assert "\n" not in str(violation)
    assert len(violation.value) <= 80
    assert violation.value.endswith("…")
    assert str(violation) == f"AppSpecification.ContainerArguments[0]: must match pattern .* (value {violation.value})"


def test_an_unknown_operation_is_a_programming_error():
    with pytest.raises(ValueError, match="CreateProcessingJobs"):
        validate_request("CreateProcessingJobs", {})


# --- steps ----------------------------------------------------------------------------------------------------
JOB_STEP_TYPES = {name for name, step_type in STEP_TYPES.items() if step_type.operation is not None}


def step_request(step_type: str, arguments: dict, job_name: Any) -> tuple[str, dict]:
    """The request a step of this type makes (its declaration: the one place that mapping lives)."""
    return STEP_TYPES[step_type].request(arguments, job_name)


def validate_step(step_name: str, step_type: str, arguments: dict, job_name: Any) -> list[str]:
    try:
        refuse_invalid(step_name, *step_request(step_type, arguments, job_name))
    except StepFailed as exc:
        return [exc.reason]
    return []


@pytest.mark.parametrize(
    ("step_type", "operation", "name_member"),
    [
        ("Processing", "CreateProcessingJob", "ProcessingJobName"),
        ("Training", "CreateTrainingJob", "TrainingJobName"),
        ("Tuning", "CreateHyperParameterTuningJob", "HyperParameterTuningJobName"),
        ("Model", "CreateModel", "ModelName"),
    ],
)
def test_a_job_step_maps_to_its_create_operation_with_the_job_name(step_type, operation, name_member):
    assert step_request(step_type, {"RoleArn": ROLE}, "job-1") == (operation, {name_member: "job-1", "RoleArn": ROLE})


def test_a_register_model_step_is_create_model_package_without_the_sdks_empty_structures():
    arguments = model_package_request()
    arguments["ModelMetrics"] = {
        "Bias": {},
        "Explainability": {},
        "ModelQuality": {"Statistics": {"ContentType": "application/json", "S3Uri": "s3://bucket/e.json"}},
    }

    operation, request = step_request("RegisterModel", arguments, "ignored")

    assert operation == "CreateModelPackage"
    assert request["ModelMetrics"] == {"ModelQuality": arguments["ModelMetrics"]["ModelQuality"]}
    assert "ModelPackageName" not in request
    assert validate_request(operation, request) == []


def test_a_step_that_calls_no_sagemaker_operation_has_nothing_to_validate():
    assert STEP_TYPES["Condition"].request({"Conditions": []}, "x") is None
    assert STEP_TYPES["Fail"].request({"ErrorMessage": "x"}, "x") is None


def test_a_refused_request_is_the_runners_one_line_validation_exception():
    arguments = model_package_request(algorithms="xgboost,catboost")

    messages = validate_step("Register-RegisterModel", "RegisterModel", arguments, None)

    assert messages == [
        "ValidationException: CreateModelPackage "
        "CustomerMetadataProperties['algorithms']: must match pattern "
        r"([\p{L}\p{Z}\p{N}_.:\/=+\-@]*)${1,256} (value 'xgboost,catboost')"
    ]


# --- the real definition ----------------------------------------------------------------------------------------


def _steps(steps: list[dict]) -> list[dict]:
    return list(iter_branch_steps(steps))


def _job_name(step_name: str, step_type: str) -> str:
    """The job name the runner gives the step (its own function, within the operation's limit)."""
    return job_name(step_name, f"20260101t000000-{EXECUTION_ID}", STEP_TYPES[step_type].job_name_limit)


def _resolver(definition: dict, unknown: bool = False):
    """Resolve the definition's expressions as an execution would, with plain values (or all as UNKNOWN)."""
    parameters = {p["Name"]: p["DefaultValue"] for p in definition["Parameters"]}

    def get(path: str) -> Any:
        if path.startswith("Parameters."):
            return parameters[path.removeprefix("Parameters.")]
        if path == "Execution.PipelineExecutionId":
            return EXECUTION_ID
        step = path.split(".")[1]
        job = f"{step.lower()}-{EXECUTION_ID}"[:32].strip("-")
        if path.endswith("S3Uri"):
            return f"s3://conviction-ml-artifacts/conviction-pipelines/executions/{EXECUTION_ID}/{step}/out"
        if path.endswith("HyperParameterTuningJobName"):
            return job
        if path.endswith("TrainingJobName"):
            return f"{job}-001-0a1b2c3d"
        if path.endswith("TrainingJobStatusCounters.Completed"):
            return 4
        raise AssertionError(f"an expression this test does not resolve: {path}")

    def resolve(value: Any) -> Any:
        if isinstance(value, dict):
            if len(value) == 1 and next(iter(value)) in ("Get", "Std:Join", "Std:JsonGet"):
                if unknown:
                    return UNKNOWN
                ((kind, spec),) = value.items()
                if kind == "Get":
                    return get(spec)
                if kind == "Std:Join":
                    return spec["On"].join(str(resolve(v)) for v in spec["Values"])
                return "2024-03-28T20:00:00+00:00"  # Std:JsonGet: a manifest's data_range timestamp
            return {k: resolve(v) for k, v in value.items()}
        if isinstance(value, list):
            return [resolve(v) for v in value]
        return value

    return resolve


@pytest.fixture(scope="module")
def definition() -> dict:
    """The definition with every optional stage on: tweet scoring (a Training step), stability selection."""
    config = load_config(
        overrides={"sentiment": {"enabled": True, "fingpt": {"enabled": True}}, "stability": {"enabled": True}}
    )
    return json.loads(definition_json(get_pipeline(config)))


@pytest.fixture(scope="module")
def job_steps(definition) -> list[tuple[str, str, dict]]:
    resolve = _resolver(definition)
    return [
        (s["Name"], s["Type"], resolve(s["Arguments"]))
        for s in _steps(definition["Steps"])
        if s["Type"] in JOB_STEP_TYPES
    ]


def test_every_job_step_of_the_real_definition_resolved_with_plain_values_passes(job_steps):
    types = {step_type for _, step_type, _ in job_steps}
    assert {"Processing", "Training", "Tuning", "RegisterModel"} <= types

    messages = [
        message
        for name, step_type, arguments in job_steps
        for message in validate_step(name, step_type, arguments, _job_name(name, step_type))
    ]

    assert messages == []


def test_every_job_step_of_the_real_definition_passes_with_its_expressions_unknown(definition):
    resolve = _resolver(definition, unknown=True)
    messages = [
        m
        for s in _steps(definition["Steps"])
        if s["Type"] in JOB_STEP_TYPES
        for m in validate_step(s["Name"], s["Type"], resolve(s["Arguments"]), UNKNOWN)
    ]

    assert messages == []


def test_a_create_model_request_from_the_registered_container_passes(job_steps):
    register = next(arguments for _, step_type, arguments in job_steps if step_type == "RegisterModel")
    container = register["InferenceSpecification"]["Containers"][0]
    arguments = {"PrimaryContainer": container, "ExecutionRoleArn": ROLE, "Tags": [{"Key": "a", "Value": "b"}]}

    operation, request = step_request("Model", arguments, f"model-{EXECUTION_ID}")

    assert operation == "CreateModel"
    assert validate_request(operation, request) == []
    bad = {**arguments, "PrimaryContainer": {**container, "ModelDataUrl": "ftp://bucket/model.tar.gz"}}
    assert [v.field for v in validate_request(*step_request("Model", bad, "m"))] == ["PrimaryContainer.ModelDataUrl"]


def test_the_definition_with_all_four_algorithms_registers_a_valid_model_package():
    config = load_config(overrides={"algorithms": ["xgboost", "catboost", "lightgbm", "gru"]})
    definition = json.loads(definition_json(get_pipeline(config)))
    resolve = _resolver(definition)
    messages = [
        m
        for s in _steps(definition["Steps"])
        if s["Type"] == "RegisterModel"
        for m in validate_step(s["Name"], s["Type"], resolve(s["Arguments"]), UNKNOWN)
    ]

    assert messages == []
