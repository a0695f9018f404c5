"""Values given at start time are held to each parameter's allowed range and the start-time policy (issue 15.6):
by the local runner when it resolves parameters, and by `upsert --start` before any AWS call."""

from __future__ import annotations

import boto3
import pytest

from pipelines import upsert
from pipelines.cli_options import UsageError, parse_parameter_values
from pipelines.config import Gates, load_config
from pipelines.local.errors import LocalRunError
from pipelines.local.executor import PipelineExecution, RunOptions
from pipelines.local.runner import build_definition
from pipelines.parameter_table import PARAMETERS, ParameterPolicy
from pipelines.parameter_values import parameter_value_error
from pipelines.parameters import PipelineParameters, build_parameters

# (parameter, value, what the one-line error must say besides the name and the value)
REFUSED = [
    ("MinModelAUC", "-1", "0.5 to 1"),
    ("MaxTuningJobs", "-3", "1 to 500"),
    ("FeatureInstanceCount", "0", "1 to 100"),
    ("ModelApprovalStatus", "Approved", "PendingManualApproval, Rejected"),
    ("ProcessingInstanceType", "ml.p4d.24xlarge", "security.allowed_instance_types"),
]


@pytest.fixture(scope="module")
def config():
    return load_config(profile="quick")


@pytest.fixture(scope="module")
def definition(config):
    built, _ = build_definition(config)
    return built


def test_the_table_covers_every_declared_parameter_with_the_config_bounds(config):
    declared = {p.name for p in build_parameters(config).as_list()}
    assert declared == set(PARAMETERS)
    auc = PARAMETERS["MinModelAUC"]
    bounds = {type(m).__name__: m for m in Gates.model_fields["min_model_auc"].metadata}
    assert (auc.minimum, auc.maximum) == (bounds["Ge"].ge, bounds["Le"].le)
    assert PARAMETERS["ModelApprovalStatus"].values == ("PendingManualApproval", "Approved", "Rejected")


def test_the_table_drives_the_parameters_fields_order_and_runtime_settings(config):
    built = build_parameters(config)
    assert list(PipelineParameters.__dataclass_fields__) == [spec.attribute for spec in PARAMETERS.values()]
    assert [p.name for p in built.as_list()] == list(PARAMETERS)
    assert built.runtime_settings() == {"include_sentiment": built.include_sentiment}
    assert built.max_tuning_jobs.default_value == config.tuning.max_jobs


def test_allowed_values_pass_and_nan_and_fractions_do_not():
    policy = ParameterPolicy(allowed_instance_types=("ml.m5.xlarge",))
    for name, value in [("MinModelAUC", "0.7"), ("MaxTuningJobs", "500"), ("FeatureInstanceCount", 3),
                        ("ModelApprovalStatus", "Rejected"), ("ProcessingInstanceType", "ml.m5.xlarge"),
                        ("IncludeSentiment", True), ("InputDataUrl", "s3://my-data/bars/")]:
        assert parameter_value_error(name, value, policy) is None, name
    local = ParameterPolicy(local_folders=True)  # a local run links a file:// folder; what is published cannot
    assert parameter_value_error("InputDataUrl", "file:///tmp/bars/", local) is None
    assert "out of range" in parameter_value_error("MinModelAUC", "nan", policy)
    assert "whole number" in parameter_value_error("MaxTuningJobs", 2.5, policy)
    assert parameter_value_error("ModelApprovalStatus", "Approved", ParameterPolicy(approved_at_start=True)) is None


def _unguarded(definition: dict) -> dict:
    """The definition without its EnumValues (as one built before they were added): the table still holds."""
    return {**definition, "Parameters": [{k: v for k, v in p.items() if k != "EnumValues"}
                                          for p in definition["Parameters"]]}


@pytest.mark.parametrize("guarded", [True, False], ids=["definition", "definition-without-enum-values"])
@pytest.mark.parametrize(("name", "value", "allowed"), REFUSED)
def test_the_local_runner_refuses_before_anything_runs(config, definition, tmp_path, name, value, allowed, guarded):
    options = RunOptions(run_dir=tmp_path / "runs", parameters={name: value},
                         parameter_policy=ParameterPolicy.from_config(config))
    with pytest.raises(LocalRunError) as refused:
        PipelineExecution(definition if guarded else _unguarded(definition), options)
    message = str(refused.value)  # the table's policy speaks before the definition's EnumValues: same line
    assert message.count("\n") == 0 and f"{name}={value}" in message and allowed in message
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


# (given --param, what the one line says): each command refuses it with the same line
SAME_LINE = [
    *[(f"{name}={value}", allowed) for name, value, allowed in REFUSED],
    ("MinModelAUX=0.7", "--param MinModelAUX: unknown parameter; parameters: InputDataUrl, "),
    ("MinModelAUC=high", "--param MinModelAUC='high': expected a float"),
    ("ModelApprovalStatus=Maybe", "allowed values are PendingManualApproval"),
]


@pytest.mark.parametrize(("pair", "says"), SAME_LINE)
def test_upsert_and_the_local_runner_refuse_a_value_with_the_same_line(config, definition, tmp_path, pair, says):
    policy = ParameterPolicy.from_config(config)
    with pytest.raises(UsageError) as by_upsert:
        parse_parameter_values([pair], definition, policy)
    name, _, value = pair.partition("=")
    with pytest.raises(LocalRunError) as by_runner:
        PipelineExecution(definition, RunOptions(run_dir=tmp_path / "runs", parameters={name: value},
                                                 parameter_policy=policy))
    assert str(by_upsert.value) == str(by_runner.value)
    assert says in str(by_runner.value)


def test_the_policy_speaks_before_the_definitions_enum_values(config, definition):
    """The definition's EnumValues hold the same allowlist, but only the policy's line says where it comes from."""
    with pytest.raises(UsageError, match=r"not in security\.allowed_instance_types"):
        parse_parameter_values(["ProcessingInstanceType=ml.p4d.24xlarge"], definition,
                               ParameterPolicy.from_config(config))


def test_without_a_config_the_runner_still_checks_ranges_and_approval(definition, tmp_path):
    for name, value, allowed in REFUSED[:4]:  # the allowlist is the config's: not known without one
        with pytest.raises(LocalRunError, match=allowed):
            PipelineExecution(_unguarded(definition), RunOptions(run_dir=tmp_path / "runs", parameters={name: value}))


def test_the_definition_carries_sagemakers_own_guard_for_string_parameters(config, definition):
    enums = {p["Name"]: p.get("EnumValues") for p in definition["Parameters"]}
    assert enums["ModelApprovalStatus"] == ["PendingManualApproval", "Rejected"]
    for name in ("ProcessingInstanceType", "TrainingInstanceType", "GruInstanceType"):
        assert enums[name] == config.security.allowed_instance_types
    approving = load_config(profile="quick", overrides={"registry": {"approval_status": "Approved"},
                                                        "security": {"allowed_instance_types": []}})
    built = {p.name: p for p in build_parameters(approving).as_list()}
    assert built["ModelApprovalStatus"].enum_values == ["PendingManualApproval", "Approved", "Rejected"]
    assert built["ProcessingInstanceType"].enum_values is None  # no allowlist: no guard to carry


def test_pipelines_run_cli_refuses_with_one_line(tmp_path, capsys):
    from pipelines.run import main

    assert main(["--profile", "quick", "--param", "MaxTuningJobs=-3", "--run-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "MaxTuningJobs=-3" in err and "1 to 500" in err


@pytest.mark.moto
@pytest.mark.parametrize(("name", "value", "allowed"), REFUSED)
def test_upsert_start_refuses_before_any_aws_call(aws_endpoint, capsys, name, value, allowed):
    s3 = boto3.client("s3", region_name="us-east-1", endpoint_url=aws_endpoint)
    s3.create_bucket(Bucket="conviction-ml-artifacts")
    assert upsert.main(["--endpoint-url", aws_endpoint, "--start", "--param", f"{name}={value}"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and f"{name}={value}" in err and allowed in err
    sagemaker = boto3.client("sagemaker", region_name="us-east-1", endpoint_url=aws_endpoint)
    assert sagemaker.list_pipelines()["PipelineSummaries"] == []  # nothing published, nothing started
    assert "Contents" not in s3.list_objects_v2(Bucket="conviction-ml-artifacts")  # nothing uploaded


@pytest.mark.moto
def test_upsert_start_approved_is_allowed_where_the_config_approves(aws_endpoint, capsys):
    boto3.client("s3", region_name="us-east-1", endpoint_url=aws_endpoint).create_bucket(
        Bucket="conviction-ml-artifacts")
    argv = ["--endpoint-url", aws_endpoint, "--set", "registry.approval_status=Approved", "--start",
            "--param", "ModelApprovalStatus=Approved"]
    assert upsert.main(argv) == 0, capsys.readouterr().err
    sagemaker = boto3.client("sagemaker", region_name="us-east-1", endpoint_url=aws_endpoint)
    executions = sagemaker.list_pipeline_executions(PipelineName="conviction-direction")
    assert len(executions["PipelineExecutionSummaries"]) == 1


def test_an_auc_gate_above_the_plausible_ceiling_is_refused_before_any_round_runs() -> None:
    """Issue 31: MinModelAUC=0.99 could never pass: Gate-plausible stops every AUC above 0.70 first. Refused in one
    line at start (from the config or from the definition's own Gate-plausible), and in the config itself."""
    from pipelines.config import load_config
    from pipelines.local.runner import build_definition

    config = load_config(profile="quick")
    for policy in (ParameterPolicy.from_config(config), ParameterPolicy.from_definition(build_definition(config)[0])):
        assert policy.auc_ceiling == 0.7
        for name in ("MinModelAUC", "MinEnsembleAUC", "MinFinalAUC"):
            refused = parameter_value_error(name, "0.99", policy)
            assert refused == (f"--param {name}=0.99: above the horizon's plausible ceiling 0.7 (leaks.plausibility "
                               "max_holdout_auc): Gate-plausible stops every AUC above it first, so no model could "
                               "ever pass; use a value <= 0.7")
            assert parameter_value_error(name, "0.7", policy) is None
    daily = ParameterPolicy.from_config(load_config(profile="daily"))
    assert parameter_value_error("MinModelAUC", "0.65", daily) is not None  # daily's ceiling is 0.60
    # a configured default above the ceiling is said before a run, not refused: the daily profile's ensemble gate
    # (the mission's 0.62) is above its ceiling (0.60) by design: nothing is registered on next-session direction
    assert load_config(profile="daily").unpassable_gates() == [
        "gates.min_ensemble_auc 0.62 is above the plausible ceiling 0.6 (leaks.plausibility 1d/1 max_holdout_auc): "
        "no model can pass it"]
    assert config.unpassable_gates() == []
