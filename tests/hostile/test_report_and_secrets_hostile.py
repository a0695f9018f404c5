"""The report and the definition against hostile content (issue 29, class 6 `pipelines.report` and class 7):
a malformed execution record is one line naming the file and the field; everything an artifact says is
escaped in report.html; credential-shaped strings in the definition are refused by lint, masked."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from pipelines.report.__main__ import main as report_main

PAYLOAD = "<script>alert(1)</script>"


def _run_dir(tmp_path: Path, record) -> Path:
    execution = tmp_path / "runs" / "e1" / "execution.json"
    execution.parent.mkdir(parents=True)
    execution.write_text(record if isinstance(record, str) else json.dumps(record))
    return execution


def _step(name: str, outputs: dict[str, str], kind: str = "Processing") -> dict:
    return {"name": name, "type": kind, "status": "Succeeded", "outputs": outputs, "properties": {},
            "depends_on": []}


# -- a malformed record ----------------------------------------------------------------------------------------
MALFORMED = [
    pytest.param("[1, 2]", "the record is a list, not an object", id="a-list"),
    pytest.param('"text"', "the record is a string, not an object", id="a-string"),
    pytest.param('{"steps": {"a": 1}}', "steps is an object, expected a list", id="steps-an-object"),
    pytest.param('{"steps": ["BuildFeatures"]}', "steps[0] is a string, not an object", id="a-step-a-string"),
    pytest.param('{"steps": [{"type": "Processing"}]}', "steps[0].name is missing", id="a-step-without-a-name"),
    pytest.param('{"steps": [{"name": "A", "outputs": ["s3://b/k"]}]}', "steps[0] (A).outputs is a list",
                 id="outputs-a-list"),
    pytest.param('{"steps": [{"name": "A", "outputs": {"o": 3}}]}', "steps[0] (A).outputs.o is a number",
                 id="an-output-a-number"),
    pytest.param('{"steps": [{"name": "A", "properties": "x"}]}', "steps[0] (A).properties is a string",
                 id="properties-a-string"),
    pytest.param('{"steps": [{"name": "A", "seconds": "12"}]}', "steps[0] (A).seconds is a string",
                 id="seconds-a-string"),
    pytest.param('{"steps": [], "parameters": [1]}', "parameters is a list, expected an object", id="parameters"),
    pytest.param('{"steps": [], "model_package_arn": 7}', "model_package_arn is a number", id="arn-a-number"),
    pytest.param('{"steps": [', "not JSON", id="truncated"),
    pytest.param("[" * 50000, "nested too deeply", id="deep"),
]


@pytest.mark.parametrize(("record", "says"), MALFORMED)
def test_a_malformed_execution_record_is_one_line_naming_the_file_and_the_field(tmp_path, capsys, record, says):
    execution = _run_dir(tmp_path, record)
    assert report_main(["--execution", str(execution)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith(f"report: {execution}: ") and says in err, err
    assert not (execution.parent / "report.html").exists()
    assert sorted(p.name for p in execution.parent.iterdir()) == ["execution.json"]


def test_a_record_that_is_not_utf8_is_one_line(tmp_path, capsys):
    execution = _run_dir(tmp_path, "{}")
    execution.write_bytes(b'{"steps": "\xff\xfe"}')
    assert report_main(["--execution", str(execution)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"report: {execution}: not UTF-8 text; regenerate it with `python -m pipelines.run`"


# -- everything an artifact says is escaped --------------------------------------------------------------------
def _hostile_artifacts(tmp_path: Path) -> Path:
    s3 = tmp_path / "runs" / "s3" / "b"
    evaluation = {
        "algorithm": PAYLOAD,
        "binary_classification_metrics": {
            "auc": {"value": 0.6, "standard_deviation": 0.01},
            PAYLOAD: {"value": 0.5},
            "accuracy": {"value": PAYLOAD},
        },
        "suspicion": {"flag": True, "reason": PAYLOAD},
        "degradation": {"auc": 0.4, "gate": 0.5, "latest_period": PAYLOAD},
        "signal_quality": {"holdout": {"ic": {"mean": PAYLOAD}}, "by_quarter": {PAYLOAD: {}},
                           "ic_by_period": {"ic": [0.1], "dates": [PAYLOAD]}},
        "backtest": {"settings": {"scheme": PAYLOAD, "holding_periods": PAYLOAD, "periods": PAYLOAD},
                     "curve": {"cumulative": [0.1, 0.2], "drawdown": [0.0, 0.0], "ts": [PAYLOAD, PAYLOAD]}},
    }
    (s3 / "eval").mkdir(parents=True)
    (s3 / "eval" / "evaluation.json").write_text(json.dumps(evaluation))
    (s3 / "leaks").mkdir()
    (s3 / "leaks" / "leak_report.json").write_text(json.dumps(
        {"passed": False, "summary": PAYLOAD,
         "checks": [{"name": PAYLOAD, "passed": False, "details": PAYLOAD, "columns": [PAYLOAD]}]}))
    (s3 / "stab").mkdir()
    (s3 / "stab" / "stability_report.json").write_text(json.dumps(
        {"features_after": PAYLOAD, "features_before": PAYLOAD, "floor": PAYLOAD, "scale": PAYLOAD,
         "features": {PAYLOAD: {"mean_share": 0.5, "selected": False, "dropped_because": [PAYLOAD]}}}))
    (s3 / "stab" / "stability.svg").write_text(f'<svg xmlns="http://www.w3.org/2000/svg">{PAYLOAD}</svg>')
    (s3 / "feat").mkdir()
    (s3 / "feat" / "manifest.json").write_text(json.dumps(
        {"feature_columns": ["a"], "rows": {"total": PAYLOAD, "holdout": PAYLOAD}, "tickers": PAYLOAD,
         "absent_inputs": [PAYLOAD], "dropped_features": {PAYLOAD: PAYLOAD}, "fold_coverage": {"note": PAYLOAD}}))
    (s3 / "check").mkdir()
    (s3 / "check" / "check_report.json").write_text(json.dumps({"passed": True, "summary": PAYLOAD}))
    record = {
        "pipeline_name": PAYLOAD, "execution_id": PAYLOAD, "status": "Failed", "failure_reason": PAYLOAD,
        "parameters": {PAYLOAD: PAYLOAD}, "model_package_arn": PAYLOAD,
        "steps": [
            _step("Evaluate-xgboost", {"evaluation": "s3://b/eval"}),
            _step("LeakTests", {"leaks": "s3://b/leaks"}),
            _step("Stability", {"stability": "s3://b/stab"}),
            _step("BuildFeatures", {"features": "s3://b/feat"}),
            _step("CheckArtifact", {"check": "s3://b/check"}),
            {**_step("Tune-xgboost", {}, "Tuning"), "properties": {
                "TrainingJobSummaries": [{"TrainingJobName": PAYLOAD, "TrainingJobStatus": PAYLOAD,
                                          "TunedHyperParameters": {PAYLOAD: PAYLOAD}}],
                "BestTrainingJob": {"TrainingJobName": PAYLOAD}}},
            {**_step(PAYLOAD, {}), "status": "Failed", "failure_reason": PAYLOAD},
        ],
    }
    return _run_dir(tmp_path, record)


def test_every_string_an_artifact_or_the_record_holds_is_escaped_in_the_report(tmp_path, capsys):
    execution = _hostile_artifacts(tmp_path)
    assert report_main(["--execution", str(execution)]) == 0, capsys.readouterr().err
    html = (execution.parent / "report.html").read_text()
    # the page has no script of its own: any <script (or an unescaped tag from the payload) came from an artifact
    assert "<script" not in html.lower()
    assert "&lt;script&gt;" in html
    # the stability plot is an <img> (a picture runs no script), not markup spliced into the page
    assert re.search(r'<img class="plot" alt="stability plot" src="data:image/svg\+xml;base64,', html)


@pytest.mark.parametrize(
    ("artifact", "body"),
    [
        ("eval/evaluation.json", '{"binary_classification_metrics": [1], "suspicion": "x", "degradation": 5}'),
        ("eval/evaluation.json", '{"binary_classification_metrics": {"auc": {"value": "high"}}}'),
        ("eval/evaluation.json", '{"signal_quality": {"holdout": 3}, "backtest": {"curve": {"cumulative": ["a"]}}}'),
        ("leaks/leak_report.json", '{"checks": [1, 2]}'),
        ("stab/stability_report.json", '{"features": {"a": 3}}'),
        ("eval/evaluation.json", "[1, 2]"),
        ("eval/evaluation.json", "\"\xff\""),
        ("eval/evaluation.json", "[" * 50000),
    ],
)
def test_an_artifact_of_an_unexpected_shape_leaves_the_report_written_and_says_where(tmp_path, capsys,
                                                                                     artifact, body):
    execution = _hostile_artifacts(tmp_path)
    (tmp_path / "runs" / "s3" / "b" / artifact).write_text(body, encoding="latin-1")
    assert report_main(["--execution", str(execution)]) == 0, capsys.readouterr().err
    html = (execution.parent / "report.html").read_text()
    assert "<script" not in html.lower() and html.rstrip().endswith("</html>")


# -- credential-shaped strings anywhere in the definition --------------------------------------------------------
KEY_ID = "AKIA" + "Q3EGRZBMJXN7T5WY"  # shaped like an access key id, not one
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCY" + "EXAMPLEKEY"  # AWS's documented example shape: 40 characters


@pytest.fixture(scope="module")
def definition():
    from pipelines.config import load_config
    from pipelines.definition import definition_json, get_pipeline

    return json.loads(definition_json(get_pipeline(load_config())))


def _parameter(definition: dict, name: str) -> dict:
    return next(p for p in definition["Parameters"] if p["Name"] == name)


PLANTED = [
    pytest.param(("param", "InputDataUrl", f"s3://{KEY_ID}:{SECRET}@bucket/data/"), "Parameters[InputDataUrl]",
                 id="key-and-secret-in-url-userinfo"),
    pytest.param(("param", "InputDataUrl", f"s3://bucket/data/?aws_access_key_id={KEY_ID}"),
                 "Parameters[InputDataUrl]", id="key-id-in-a-query"),
    pytest.param(("param", "InputDataUrl", f"https://host/data?k={SECRET}"), "Parameters[InputDataUrl]",
                 id="secret-key-shape-in-a-query"),
    pytest.param(("param", "InputDataUrl", "https://h/x?X-Amz-Signature=abc123&X-Amz-Security-Token=zz"),
                 "Parameters[InputDataUrl]", id="presigned-url"),
    pytest.param(("param", "InputDataUrl", "https://user:hunter2@host/data"), "Parameters[InputDataUrl]",
                 id="password-in-userinfo"),
    pytest.param(("param", "InputDataUrl", f"prefix_{KEY_ID}_suffix"), "Parameters[InputDataUrl]",
                 id="key-id-between-underscores"),
    pytest.param(("enum", "ProcessingInstanceType", f"s3://x/?token={SECRET}"), "Parameters[ProcessingInstanceType]",
                 id="an-allowed-value"),
    pytest.param(("step-input", None, f"s3://{KEY_ID}:{SECRET}@bucket/in/"), "Steps[BuildFeatures]",
                 id="a-processing-input-uri"),
    pytest.param(("register-env", None, f"ASIA{'Z' * 16}"), "Steps[", id="a-model-environment"),
]


def _plant(definition: dict, where) -> dict:
    import copy

    planted = copy.deepcopy(definition)
    kind, name, value = where
    if kind == "param":
        _parameter(planted, name)["DefaultValue"] = value
    elif kind == "enum":
        _parameter(planted, name).setdefault("EnumValues", []).append(value)
    elif kind == "step-input":
        step = next(s for s in planted["Steps"] if s["Name"] == "BuildFeatures")
        step["Arguments"]["ProcessingInputs"][0]["S3Input"]["S3Uri"] = value
    else:  # the first step that is not a job (its arguments are not in the per-job rule's reach)
        from pipelines.definition.graph import iter_branch_steps

        step = next(s for s in iter_branch_steps(planted["Steps"]) if s["Type"] not in {"Processing", "Training",
                                                                                          "Tuning"})
        step.setdefault("Arguments", {})["Planted"] = {"Environment": {"AWS_ACCESS_KEY_ID": value}}
    return planted


@pytest.mark.parametrize(("where", "names"), PLANTED)
def test_lint_refuses_a_credential_shaped_string_anywhere_in_the_definition_without_echoing_it(
        tmp_path, capsys, definition, where, names):
    from pipelines.lint import main as lint_main

    path = tmp_path / "definition.json"
    path.write_text(json.dumps(_plant(definition, where)))
    assert lint_main(["--definition", str(path)]) == 1
    out, err = capsys.readouterr()
    found = [line for line in out.splitlines() if ": secrets: " in line]
    assert len(found) == 1 and names in found[0], out
    assert "Secrets Manager" in found[0]
    # masked: neither the key id, nor the secret, nor the password, nor the token
    for secret in (KEY_ID, SECRET, "hunter2", "abc123", f"ASIA{'Z' * 16}", SECRET[:20]):
        assert secret not in out and secret not in err
    assert "no violations" not in out


def test_the_projects_own_definition_has_no_credential_shaped_string(definition):
    from pipelines.lint import credential_violations

    assert credential_violations(definition) == []


@pytest.mark.parametrize("value", ["s3://bucket/data/", "arn:aws:secretsmanager:us-east-1:1:secret:x",
                                   "https://host/x?page=2&limit=50", "conviction/twitter/bearer",
                                   "a" * 40, "s3://bucket/" + "0123456789abcdef" * 3])
def test_ordinary_values_are_not_taken_for_credentials(value):
    from pipelines.lint import credential_kind

    assert credential_kind(value) is None
