"""Expressions and conditions as data: the definition's JSON in, values out."""

from __future__ import annotations

import pytest

from pipelines.definition.conditions import evaluate
from pipelines.definition.errors import DefinitionError, UnsupportedConstruct
from pipelines.definition.expressions import EvaluationContext, parse_path, resolve


@pytest.fixture
def context() -> EvaluationContext:
    documents = {"s3://b/eval/evaluation.json": {"metrics": {"auc": {"value": 0.7}}, "items": [{"x": 1}]}}
    return EvaluationContext(
        parameters={"MinAUC": 0.6, "Flag": True, "Name": "a"},
        execution={"PipelineExecutionId": "exec-1"},
        step_properties={
            "Eval": {
                "ProcessingOutputConfig": {
                    "Outputs": [{"OutputName": "evaluation", "S3Output": {"S3Uri": "s3://b/eval"}}]
                }
            },
            "Tune": {"TrainingJobSummaries": [{"TrainingJobName": "best"}, {"TrainingJobName": "second"}]},
        },
        property_files={"Eval": {"EvalFile": {"OutputName": "evaluation", "FilePath": "evaluation.json"}}},
        read_json_at=documents.__getitem__,
    )


def test_paths_parse_like_sagemakers():
    assert parse_path("ProcessingOutputConfig.Outputs['x'].S3Output.S3Uri") == [
        "ProcessingOutputConfig",
        "Outputs",
        "x",
        "S3Output",
        "S3Uri",
    ]
    assert parse_path("TrainingJobSummaries[0].TrainingJobName") == ["TrainingJobSummaries", 0, "TrainingJobName"]


def test_get_join_and_json_get(context):
    auc = {"Std:JsonGet": {"PropertyFile": {"Get": "Steps.Eval.PropertyFiles.EvalFile"}, "Path": "metrics.auc.value"}}
    value = {
        "Std:Join": {
            "On": "/",
            "Values": [
                {"Get": "Steps.Eval.ProcessingOutputConfig.Outputs['evaluation'].S3Output.S3Uri"},
                {"Get": "Execution.PipelineExecutionId"},
                {"Get": "Steps.Tune.TrainingJobSummaries[0].TrainingJobName"},
                {"Get": "Parameters.Flag"},
                auc,
            ],
        }
    }
    assert resolve(value, context) == "s3://b/eval/exec-1/best/true/0.7"
    assert resolve(auc, context) == 0.7
    items = {"Std:JsonGet": {"PropertyFile": {"Get": "Steps.Eval.PropertyFiles.EvalFile"}, "Path": "items[0].x"}}
    assert resolve(items, context) == 1


def test_missing_things_are_errors_that_name_them(context):
    with pytest.raises(UnsupportedConstruct, match="Std:Concat"):
        resolve({"Std:Concat": {}}, context)
    with pytest.raises(DefinitionError, match="Nope"):
        resolve({"Get": "Parameters.Nope"}, context)
    with pytest.raises(DefinitionError, match=r"metrics\.f1"):
        resolve(
            {"Std:JsonGet": {"PropertyFile": {"Get": "Steps.Eval.PropertyFiles.EvalFile"}, "Path": "metrics.f1"}},
            context,
        )


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ({"Type": "GreaterThanOrEqualTo", "LeftValue": 0.6, "RightValue": {"Get": "Parameters.MinAUC"}}, True),
        ({"Type": "GreaterThan", "LeftValue": 0.6, "RightValue": {"Get": "Parameters.MinAUC"}}, False),
        ({"Type": "LessThan", "LeftValue": "0.5", "RightValue": 0.6}, True),
        ({"Type": "LessThanOrEqualTo", "LeftValue": 0.7, "RightValue": 0.6}, False),
        ({"Type": "Equals", "LeftValue": {"Get": "Parameters.Flag"}, "RightValue": True}, True),
        ({"Type": "In", "QueryValue": {"Get": "Parameters.Name"}, "Values": ["b", "a"]}, True),
        ({"Type": "Not", "Expression": {"Type": "Equals", "LeftValue": 1, "RightValue": 1}}, False),
        (
            {
                "Type": "Or",
                "Conditions": [
                    {"Type": "Equals", "LeftValue": 1, "RightValue": 2},
                    {"Type": "Equals", "LeftValue": 2, "RightValue": 2},
                ],
            },
            True,
        ),
    ],
)
def test_conditions(context, condition, expected):
    assert evaluate(condition, context) is expected


def test_unknown_condition_is_named(context):
    with pytest.raises(UnsupportedConstruct, match="'Xor'"):
        evaluate({"Type": "Xor"}, context)


def test_a_gate_operand_is_named_by_what_it_reads() -> None:
    """Issue 31: 'True Equals True -> True' did not say what was checked; the summary names each operand."""
    from pipelines.definition.operands import operand_label

    auc = {"Std:JsonGet": {"Path": "binary_classification_metrics.auc.value",
                           "PropertyFile": {"Get": "Steps.Evaluate-xgboost-2.PropertyFiles.Evaluation-xgboost-2"}}}
    assert operand_label(auc) == "Evaluate-xgboost-2 AUC"
    assert operand_label({"Get": "Parameters.MinModelAUC"}) == "MinModelAUC"
    passed = {"Std:JsonGet": {"Path": "passed", "PropertyFile": {"Get": "Steps.LeakTests.PropertyFiles.LeakReport"}}}
    assert operand_label(passed) == "LeakTests passed"
    other = {"Std:JsonGet": {"Path": "a.b.some_figure.value", "PropertyFile": {"Get": "Steps.X.PropertyFiles.Y"}}}
    assert operand_label(other) == "X some_figure"
    assert operand_label(0.7) is None and operand_label(True) is None
