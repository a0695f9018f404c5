"""pipelines.lint resolves what the runner resolves (issue 28): `--param` values, property paths against the
outputs a step declares, the longest value of a run-time string; and `--definition` loads no SageMaker SDK."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines import lint
from pipelines.config import load_config
from pipelines.definition.graph import iter_branch_steps
from pipelines.definition.rules import check_definition
from pipelines.local.errors import DefinitionRefused, LocalRunError
from pipelines.local.executor import PipelineExecution, RunOptions, resolve_parameters

REPO = Path(__file__).resolve().parents[2]
FEATURES_URI = "Steps.BuildFeatures.ProcessingOutputConfig.Outputs['features'].S3Output.S3Uri"


@pytest.fixture(scope="module")
def built():
    from pipelines.definition import definition_json, get_pipeline

    config = load_config()
    return config, json.loads(definition_json(get_pipeline(config)))


@pytest.fixture
def definition(built):
    return copy.deepcopy(built[1])


@pytest.fixture
def config(built):
    return built[0]


@pytest.fixture
def definition_file(tmp_path, built) -> Path:
    path = tmp_path / "definition.json"
    path.write_text(json.dumps(built[1]))
    return path


def _step(definition, name):
    return next(s for s in iter_branch_steps(definition["Steps"]) if s["Name"] == name)


def _refused_by_runner(definition, tmp_path) -> str:
    with pytest.raises(DefinitionRefused) as refused:
        PipelineExecution(definition, RunOptions(run_dir=tmp_path))
    return str(refused.value)


# -- --param ------------------------------------------------------------------------------------------------
def test_a_refused_param_is_the_runners_line_and_exit_2(definition, definition_file, capsys):
    with pytest.raises(LocalRunError) as runner:
        resolve_parameters(definition, {"MinModelAUC": "2"})
    assert lint.main(["--definition", str(definition_file), "--param", "MinModelAUC=2"]) == 2
    assert capsys.readouterr().err.strip() == f"lint: {runner.value}"
    assert "MinModelAUC=2: out of range" in str(runner.value)


def test_an_undeclared_param_is_refused_as_the_runner_refuses_it(definition, definition_file, capsys):
    with pytest.raises(LocalRunError) as runner:
        resolve_parameters(definition, {"NoSuch": "1"})
    assert lint.main(["--definition", str(definition_file), "--param", "NoSuch=1"]) == 2
    assert capsys.readouterr().err.strip() == f"lint: {runner.value}"


def test_param_values_are_what_the_requests_are_judged_with(definition_file, capsys):
    """A value the parameter checks allow (an s3:// URI, its key within S3's 1024 bytes) but the requests refuse
    (S3Uri: at most 1024 characters): ignored before issue 28, so lint passed what the runner then refused at the
    first step."""
    assert lint.main(["--definition", str(definition_file)]) == 0
    long_uri = "s3://bucket/" + "x" * 1015  # a key S3 takes (<= 1024 bytes), a URI the request cannot carry
    capsys.readouterr()
    assert lint.main(["--definition", str(definition_file), "--param", f"InputDataUrl={long_uri}"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert any(
        line.startswith("BuildFeatures: request: CreateProcessingJob ProcessingInputs[")
        and "S3Uri: at most 1024 characters" in line
        for line in lines
    ), lines


def test_param_values_reach_the_policy_rules(definition, config):
    """The instance allowlist judges the value given, not the default (here: one the config allows)."""
    given = {"ProcessingInstanceType": "ml.m5.large"}
    assert lint.lint_definition(definition, config, given) == []
    unchecked = {"ProcessingInstanceType": "ml.p4d.24xlarge"}  # lint_definition takes checked values; main checks
    assert {v.rule for v in lint.lint_definition(definition, config, unchecked)} >= {"instances"}


# -- property paths against declared outputs ----------------------------------------------------------------
def test_a_property_naming_an_undeclared_output_is_refused_by_lint_and_the_runner(definition, config, tmp_path):
    leaks = _step(definition, "LeakTests")
    text = json.dumps(leaks["Arguments"]).replace("Outputs['features']", "Outputs['featurez']")
    leaks["Arguments"] = json.loads(text)
    found = [str(v) for v in lint.lint_definition(definition, config) if v.rule == "property"]
    assert found and all(line.startswith("LeakTests: property: Get ") for line in found)
    assert "BuildFeatures declares no ProcessingOutputConfig.Outputs item with OutputName 'featurez'" in found[0]
    assert "(declared: features;" in found[0]
    assert "OutputName 'featurez'" in _refused_by_runner(definition, tmp_path)


def test_an_output_index_past_the_declared_outputs_is_refused(definition):
    leaks = _step(definition, "LeakTests")
    leaks["Arguments"] = json.loads(json.dumps(leaks["Arguments"]).replace("Outputs['features']", "Outputs[3]"))
    found = [str(v) for v in check_definition(definition) if v.rule == "property"]
    assert found and "BuildFeatures declares 1 ProcessingOutputConfig.Outputs (index [3] is out of range" in found[0]


def test_a_property_file_in_an_undeclared_output_is_refused_by_lint_and_the_runner(definition, config, tmp_path):
    _step(definition, "LeakTests")["PropertyFiles"][0]["OutputName"] = "leakz"
    found = [str(v) for v in lint.lint_definition(definition, config)]
    expected = (
        "LeakTests: property: PropertyFiles[0] 'LeakReport': OutputName 'leakz' is not one of the step's "
        "ProcessingOutputConfig.Outputs (declared: leaks, baseline)"
    )
    assert any(line.startswith(expected) for line in found), found
    assert "OutputName 'leakz'" in _refused_by_runner(definition, tmp_path)


def test_the_declared_outputs_pass(built):
    assert [v for v in check_definition(built[1]) if v.rule == "property"] == []


# -- run-time strings: their longest value --------------------------------------------------------------------
def _metadata(definition):
    return _step(definition, "Register-RegisterModel")["Arguments"]["CustomerMetadataProperties"]


def _features_prefix(definition, prefix: str) -> None:
    output = _step(definition, "BuildFeatures")["Arguments"]["ProcessingOutputConfig"]["Outputs"][0]
    output["S3Output"]["S3Uri"]["Std:Join"]["Values"][0] = prefix


def test_a_metadata_value_built_from_a_declared_output_uri_is_judged_by_its_length(definition, config):
    """features_manifest is BuildFeatures' output URI + /manifest.json: lint knows that URI's length from
    the request BuildFeatures declares (a 12-character execution id in it), so a long prefix is refused."""
    assert FEATURES_URI in json.dumps(_metadata(definition)["features_manifest"])
    _features_prefix(definition, "s3://conviction-ml-artifacts/" + "p" * 167)  # 196 + 47 + /manifest.json
    found = [str(v) for v in lint.lint_definition(definition, config) if v.step == "Register-RegisterModel"]
    assert len(found) == 1, found
    assert found[0].startswith(
        "Register-RegisterModel: request: CreateModelPackage CustomerMetadataProperties['features_manifest']: "
        "at most 256 characters (value up to 257 characters at run time, assuming "
        f"{FEATURES_URI} is the 243-character value BuildFeatures declares)"
    )


def test_a_metadata_value_within_its_limit_passes(definition, config):
    _features_prefix(definition, "s3://conviction-ml-artifacts/" + "p" * 166)  # 256 characters with the file
    assert [v for v in lint.lint_definition(definition, config) if v.step == "Register-RegisterModel"] == []


def test_a_job_name_property_counts_at_its_botocore_limit(definition, config):
    best = {"Get": "Steps.Tune-xgboost.BestTrainingJob.TrainingJobName"}
    _metadata(definition)["best_job"] = {"Std:Join": {"On": "/", "Values": ["x" * 193, best]}}  # 193+1+63 = 257
    found = [str(v) for v in lint.lint_definition(definition, config) if v.step == "Register-RegisterModel"]
    assert found == [
        "Register-RegisterModel: request: CreateModelPackage CustomerMetadataProperties['best_job']: at most 256 "
        "characters (value up to 257 characters at run time, assuming Steps.Tune-xgboost.BestTrainingJob."
        "TrainingJobName is at most 63 characters (botocore's TrainingJobName))"
    ]
    _metadata(definition)["best_job"]["Std:Join"]["Values"][0] = "x" * 192  # 256: within the limit
    assert [v for v in lint.lint_definition(definition, config) if v.step == "Register-RegisterModel"] == []


def test_a_description_built_from_a_run_time_string_is_judged_too(definition, config):
    register = _step(definition, "Register-RegisterModel")["Arguments"]
    name = {"Get": "Steps.Tune-xgboost.BestTrainingJob.TrainingJobName"}
    register["ModelPackageDescription"] = {"Std:Join": {"On": " ", "Values": ["d" * 1000, name]}}
    found = [str(v) for v in lint.lint_definition(definition, config) if v.step == "Register-RegisterModel"]
    assert len(found) == 1 and "ModelPackageDescription: at most 1024 characters (value up to 1064" in found[0]


def test_a_json_value_has_no_known_length_and_is_not_judged(definition, config):
    """Std:JsonGet reads a file a step writes: nothing bounds it before the run (the runner judges it)."""
    assert "Std:JsonGet" in json.dumps(_metadata(definition))
    assert lint.lint_definition(definition, config) == []


# -- --definition loads no SageMaker SDK --------------------------------------------------------------------
def test_lint_definition_imports_no_sagemaker_module(definition_file):
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "pipelines.lint", "--definition", str(definition_file)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    imported = [line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")]
    assert "pipelines.definition.service_rules" in imported  # the rules did run
    assert [name for name in imported if name.split(".")[0] in {"sagemaker", "sagemaker_core"}] == []
