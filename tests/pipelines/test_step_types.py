"""Each step type is declared once and every table agrees: the definition's declarations, the runner's
handlers, botocore's SageMaker model (after the SDK's own test that every step type is in each table).

A new step type fails here until it has its declaration (`pipelines.definition.step_types.STEP_TYPES`), its
handler (`pipelines.local.handlers.HANDLERS`) and what the mirror lists for it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from pipelines.definition.step_types import STEP_TYPES, property_error, step_type_of_metadata
from pipelines.local.handlers import HANDLERS
from pipelines.local.record import StepRecord

ROOT = Path(__file__).resolve().parents[2]
ARN = "arn:aws:sagemaker:us-east-1:000000000000"

# What a finished step of each type leaves in its record, as the mirror reads it (a new type adds its line).
FINISHED = {
    "Processing": ("Succeeded", {"ProcessingJobName": "features-abc"}),
    "Training": ("Succeeded", {"TrainingJobName": "train-abc"}),
    "Tuning": ("Succeeded", {"HyperParameterTuningJobName": "tune-abc"}),
    "Condition": ("Succeeded", {"Outcome": True}),
    "Fail": ("Failed", {}),
    "RegisterModel": ("Succeeded", {"ModelPackageArn": f"{ARN}:model-package/group/1"}),
    "Model": ("Succeeded", {"ModelArn": f"{ARN}:model/model-abc"}),
}


@pytest.fixture(scope="module")
def model():
    import botocore.session

    return botocore.session.get_session().get_service_model("sagemaker")


def test_every_step_type_has_one_declaration_and_one_handler():
    assert set(HANDLERS) == set(STEP_TYPES) == set(FINISHED)
    for name, handler in HANDLERS.items():
        assert handler.step_type == name
        assert type(handler.declaration) is type(STEP_TYPES[name])


@pytest.mark.parametrize("name", sorted(STEP_TYPES))
def test_a_step_types_request_is_a_sagemaker_operation_naming_its_job_within_the_services_limit(name, model):
    declared = STEP_TYPES[name]
    request = declared.request({}, "job-1")
    if declared.operation is None:
        assert request is None and declared.job is None
        return
    operation, body = request
    assert operation == declared.operation and operation in model.operation_names
    members = model.operation_model(operation).input_shape.members
    named = [member for member, value in body.items() if value == "job-1"]
    assert set(named) <= set(members)
    for member in named:  # the name the runner gives fits the service's limit on it
        assert members[member].metadata["max"] == declared.job_name_limit
    if declared.job is not None:
        assert named == [declared.job.name_property]


@pytest.mark.parametrize("name", sorted(STEP_TYPES))
def test_a_step_types_properties_are_shapes_of_the_service_model(name, model):
    declared = STEP_TYPES[name]
    for shape in declared.property_shapes:
        assert model.shape_for(shape).type_name == "structure"
    if declared.job is not None:
        describe = model.shape_for(declared.property_shapes[0]).members
        assert {declared.job.arn_property, declared.job.name_property} <= set(describe)


def test_a_property_of_a_type_without_properties_or_of_an_unknown_type_is_named_as_such():
    assert property_error("Fail", ["Anything"]) == "a Fail step has no properties"
    assert property_error("Lambda", ["OutputParameters"]) == "a Lambda step has no properties"
    assert property_error("Condition", ["Outcome"]) is None
    assert property_error("Processing", ["ProcessingJobName"]) is None


@pytest.mark.parametrize("name", sorted(STEP_TYPES))
def test_every_handler_lists_its_step_with_sagemakers_metadata_for_the_type(name, model):
    status, properties = FINISHED[name]
    step = StepRecord(name=f"{name}-step", type=name, status=status, properties=properties)

    metadata = HANDLERS[name].list_metadata(step, "20260101t000000-abc", ARN)

    assert len(metadata) == 1
    (key,) = metadata
    assert key in model.shape_for("PipelineExecutionStepMetadata").members
    assert step_type_of_metadata(key) == name  # and the report, reading SageMaker's list, names the type back


def _imports(path: Path) -> set[str]:
    """Every module a file imports, at module level or inside a function."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


@pytest.mark.parametrize("layer", ["pipelines/definition", "pipelines/report", "pipelines/lint.py"])
def test_the_definition_layer_lint_and_the_report_import_nothing_from_the_runner(layer):
    paths = [ROOT / layer] if layer.endswith(".py") else sorted((ROOT / layer).rglob("*.py"))
    runner = {str(p.relative_to(ROOT)): sorted(m for m in _imports(p) if m.startswith("pipelines.local"))
              for p in paths}  # fmt: skip
    assert {path: modules for path, modules in runner.items() if modules} == {}


def test_a_second_handler_for_one_type_is_refused_not_swapped_in():
    """The factory reads handler classes from the package: a duplicate would otherwise replace one silently."""
    from pipelines.local.handlers import discover_handlers
    from pipelines.local.handlers.fail import FailHandler

    class AnotherFail(FailHandler):
        declaration = FailHandler.declaration

    AnotherFail.__module__ = "pipelines.local.handlers.another_fail"
    try:
        with pytest.raises(TypeError, match="two handlers for step type Fail"):
            discover_handlers()
    finally:
        del AnotherFail
        import gc

        gc.collect()
    assert list(discover_handlers()) == list(STEP_TYPES)
