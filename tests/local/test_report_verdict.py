"""Issue 31's report items, each on a hand-built record or section (the browser check is test_report_screenshot):
the verdict first, units on the backtest, charts with ticks and legends, per-group AUC, the model's own
importance, the trials chart, approval and job logs, and the CLI's --output, unknown ARN and empty execution."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from pipelines.report import __main__ as cli
from pipelines.report.breakdown import breakdown_section
from pipelines.report.collect import ModelResult, ReportData, TuningResult
from pipelines.report.importance import importance_section
from pipelines.report.logs import cloudwatch_url, local_log_links
from pipelines.report.render import render
from pipelines.report.signal import backtest_table, curve_chart
from pipelines.report.svg import roc_chart
from pipelines.report.trials import trials_chart

ARN = "arn:aws:sagemaker:us-east-1:123456789012:model-package/conviction-direction/1"


def _gate(name: str, left, right, kind: str, passed: bool, interval=None) -> dict:
    condition = {"Type": kind, "LeftValue": left, "RightValue": right}
    if interval:
        condition["LeftInterval"] = interval
    return {"name": name, "type": "Condition", "status": "Succeeded", "properties": {"Outcome": passed},
            "arguments": [{"condition": condition, "value": passed}]}


def _failed_record() -> dict:
    return {"pipeline_name": "p", "execution_id": "e", "status": "Failed",
            "failure_reason": "Step failure: Fail-models", "steps": [
                {"name": "BuildFeatures", "type": "Processing", "status": "Succeeded"},
                _gate("Gate-models", 0.5812, 0.6, "GreaterThanOrEqualTo", False, [0.571, 0.5914]),
                {"name": "Fail-models", "type": "Fail", "status": "Failed",
                 "failure_reason": "no model reached MinModelAUC 0.60: xgboost 0.5812"},
            ]}


def _verdict(html: str) -> str:
    return re.search(r'<section id="verdict">.*?</section>', html, re.S).group(0)


def test_the_verdict_comes_first_with_the_ending_step_and_each_gates_value_interval_and_threshold() -> None:
    html = render(ReportData(record=_failed_record()))
    body = html.split("</h1>", 1)[1]
    assert body.index('<section id="verdict">') < body.index("<h2>")  # before every section
    verdict = _verdict(html)
    assert "Fail-models" in verdict and "no model reached MinModelAUC 0.60: xgboost 0.5812" in verdict
    row = re.search(r'<tr data-verdict-gate="Gate-models">(.*?)</tr>', verdict).group(1)
    assert re.findall(r"<td[^>]*>(.*?)</td>", row) == [
        "Gate-models", "0.5812", "0.5710 – 0.5914", "≥ 0.6000", "<span class=fail>fail</span>"]
    assert 'class="banner bad"' in verdict


def test_the_verdict_shows_final_beside_selection_auc_ic_icir_net_sharpe_and_the_plausibility_flags() -> None:
    final = {"binary_classification_metrics": {"auc": {"value": 0.5531, "standard_deviation": 0.004}},
             "selection_holdout": {"auc": {"value": 0.5712, "standard_deviation": 0.005}},
             "final_metadata": {}, "signal_quality": {"holdout": {"ic": {"mean": 0.0213, "icir": 0.41}}},
             "backtest": {"long_short": {"net": {"sharpe": 1.87, "sharpe_per_period": 0.052}},
                          "plausibility": {"plausible": False, "flags": ["hit rate 0.99 is above 0.75"]}}}
    record = {**_failed_record(), "status": "Succeeded", "failure_reason": None, "model_package_arn": ARN}
    record["steps"] = [*record["steps"][:2], {"name": "Register", "type": "RegisterModel", "status": "Succeeded",
                                              "properties": {"ModelApprovalStatus": "PendingManualApproval"}}]
    verdict = _verdict(render(ReportData(record=record, finals=[("FinalHoldout", final)])))
    assert "0.5531</b> ± 0.0040" in verdict and "0.5712 ± 0.0050" in verdict
    assert "0.0213 / 0.41" in verdict and "1.87 annualised, 0.052 per period" in verdict
    assert 'data-plausible="false"' in verdict and "hit rate 0.99 is above 0.75" in verdict
    assert f"registered {ARN}" in verdict and "PendingManualApproval" in verdict


def test_backtest_figures_carry_their_units() -> None:
    html = backtest_table({"long_short": {"net": {"annualized_return": 18.1965, "max_drawdown": -0.0123,
                                                  "hit_rate": 0.5432, "sharpe": 1.5}}})
    assert "<td class=num>1,819.65%</td>" in html  # 18.1965 is a fraction a year: 1,819.65 %
    assert "<td class=num>-1.23%</td>" in html and "<td class=num>54.32%</td>" in html
    assert "annual return (%, annualised" in html and "Sharpe (per period, not annualised)" in html
    assert "18.1965" not in html


def test_roc_has_ticks_auc_in_the_legend_and_a_dashed_twin() -> None:
    curve = ([0.0, 0.2, 1.0], [0.0, 0.5, 1.0])
    svg = roc_chart([("xgboost (Evaluate-xgboost)", *curve), ("ensemble (BuildEnsemble)", *curve)], [0.6643, 0.6643])
    assert len(re.findall(r'class="tick x-tick"', svg)) >= 5 and len(re.findall(r'class="tick y-tick"', svg)) >= 5
    entries = re.findall(r'class="legend-entry"[^>]*>([^<]*)<', svg)
    assert entries[0] == "xgboost (Evaluate-xgboost), AUC 0.6643"
    assert entries[1].startswith("ensemble (BuildEnsemble), AUC 0.6643, dashed: same curve as xgboost")
    assert len(re.findall(r'<polyline [^>]*stroke-dasharray="8 6"', svg)) == 1
    width, height = map(int, re.search(r'width="(\d+)" height="(\d+)"', svg).groups())
    assert width > 520 and height > 150


def test_the_drawdown_has_its_own_visible_line_and_the_axis_is_in_percent() -> None:
    svg = curve_chart({"cumulative": [0.01, 0.03, 0.02, 0.05], "drawdown": [0.0, 0.0, -0.01, 0.0],
                       "ts": ["2025-02-17", "2025-02-18", "2025-02-19", "2025-02-20"]})
    assert re.search(r'<polyline [^>]*stroke="#c62828"[^>]*><title>drawdown</title>', svg)
    assert "worst -1.00%" in svg and re.search(r'class="tick y-tick"[^>]*>\d+(\.\d+)?%<', svg)


def _model_with_groups() -> ModelResult:
    return ModelResult(step="Evaluate-xgboost", name="xgboost", auc=0.6, auc_std=0.01, metrics={}, extra={
        "by_sector": {"Energy": {"auc": 0.55, "rows": 800}, "Utilities": {"auc": 0.71, "rows": 600}},
        "by_ticker": {f"T{i:02d}": {"auc": 0.5 + i / 100, "rows": 200} for i in range(20)},
        "by_period": {"unit": "week", "auc": {"2025-02-24/2025-03-02": {"auc": 0.58, "rows": 4196},
                                              "2025-02-17/2025-02-23": {"auc": 0.61, "rows": 7270}}},
        "calibration": [{"bin": "0.4-0.5", "rows": 10, "mean_prediction": 0.45, "positive_rate": 0.43}]})


def test_per_sector_ticker_week_auc_and_calibration_are_shown() -> None:
    html = breakdown_section(ReportData(record={}, models=[_model_with_groups()]))
    sectors = re.findall(r'data-sector="([^"]+)"', html)
    assert sectors == ["Utilities", "Energy"]  # best first
    tickers = re.findall(r'data-ticker="([^"]+)"', html)
    assert tickers == ["T19", "T18", "T17", "T16", "T15", "T04", "T03", "T02", "T01", "T00"]
    assert "10 more" in html
    assert re.findall(r'data-period="([^"]+)"', html) == ["2025-02-17/2025-02-23", "2025-02-24/2025-03-02"]
    assert "<td class=num>0.450</td><td class=num>0.430</td>" in html and "calibration-chart" in html


def test_the_models_own_importance_is_shown_as_shares_and_the_gru_says_it_has_none() -> None:
    tree = ModelResult(step="Evaluate-xgboost", name="xgboost", auc=0.6, auc_std=0.01, metrics={},
                       training_job="job-1",
                       model_meta={"algorithm": "xgboost", "feature_importance_type": "total_gain",
                                   "feature_importance": {"a": 30.0, "b": 10.0, "c": 0.0}})
    gru = ModelResult(step="Evaluate-gru", name="gru", auc=0.6, auc_std=0.01, metrics={}, training_job="job-2",
                      model_meta={"algorithm": "gru", "feature_importance": None})
    html = importance_section(ReportData(record={}, models=[tree, gru]))
    assert re.findall(r'data-importance-feature="([^"]+)"><td>[^<]*</td><td class=num>([^<]*)<', html) == [
        ("a", "75.0%"), ("b", "25.0%"), ("c", "0.0%")]
    assert "1 never used" in html and "total_gain" in html
    assert "GRU: a recurrent network has no importance of its own" in html


def test_trials_chart_draws_each_trial_in_launch_order_and_marks_the_best() -> None:
    trials = [{"job": f"tune-00{i}", "status": "Succeeded", "objective": value, "hyperparameters": {}}
              for i, value in ((3, 0.61), (1, 0.58), (2, 0.66), (4, None))]
    svg = trials_chart(TuningResult("Tune-xgboost", "validation:auc", "tune-002", 0.66, trials, [], "tune-002", 0.66))
    circles = re.findall(r'<circle class="(trial[^"]*)"[^>]*><title>trial (\d+): ([^,]+), ([0-9.]+)', svg)
    assert [(n, job) for _, n, job, _ in circles] == [("1", "tune-001"), ("2", "tune-002"), ("3", "tune-003")]
    assert [c[0] for c in circles] == ["trial", "trial best", "trial"]
    assert "best 0.6600" in svg and "1 trial(s) with no objective" in svg


def test_job_logs_are_linked_relative_to_the_page_and_to_cloudwatch(tmp_path: Path) -> None:
    run = tmp_path / "runs" / "x"
    (run / "jobs" / "build-1").mkdir(parents=True)
    (run / "jobs" / "build-1" / "job.log").write_text("log")
    (run / "jobs" / "tune-1" / "tune-1-001").mkdir(parents=True)
    (run / "jobs" / "tune-1" / "tune-1-001" / "job.log").write_text("log")
    steps = [{"name": "BuildFeatures", "type": "Processing", "properties": {"ProcessingJobName": "build-1"}},
             {"name": "Tune", "type": "Tuning", "properties": {
                 "HyperParameterTuningJobName": "tune-1", "TrainingJobSummaries": [{"TrainingJobName": "tune-1-001"}]}},
             {"name": "Gate", "type": "Condition", "properties": {}}]
    assert local_log_links(steps, run, run) == {"BuildFeatures": [("build-1", "jobs/build-1/job.log")],
                                                "Tune": [("tune-1-001", "jobs/tune-1/tune-1-001/job.log")]}
    elsewhere = local_log_links(steps, run, tmp_path / "out")
    assert elsewhere["BuildFeatures"] == [("build-1", "../runs/x/jobs/build-1/job.log")]
    url = cloudwatch_url("eu-west-1", "Processing", "build-1")
    assert url.startswith("https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1#logsV2:")
    assert "$252Faws$252Fsagemaker$252FProcessingJobs" in url and url.endswith("logStreamNameFilter$253Dbuild-1")
    html = render(ReportData(record={"status": "Succeeded", "steps": steps},
                             job_logs=local_log_links(steps, run, run)))
    assert '<a class="log" href="jobs/build-1/job.log">log</a>' in html


def test_a_sagemaker_register_step_carries_the_packages_approval_status() -> None:
    class Client:
        def describe_model_package(self, ModelPackageName):
            assert ModelPackageName == ARN
            return {"ModelApprovalStatus": "Approved"}

    described = {"PipelineArn": "arn:aws:sagemaker:eu-west-1:1:pipeline/p",
                 "PipelineExecutionArn": "arn:aws:sagemaker:eu-west-1:1:pipeline/p/execution/e",
                 "PipelineExecutionStatus": "Succeeded"}
    steps = [{"StepName": "Register", "StepStatus": "Succeeded", "Metadata": {"RegisterModel": {"Arn": ARN}}},
             {"StepName": "Tune", "StepStatus": "Succeeded",
              "Metadata": {"TuningJob": {"Arn": "arn:aws:sagemaker:eu-west-1:1:hyper-parameter-tuning-job/tune-9"}}}]
    record = cli.record_from_steps(described, steps, Client())
    assert record["model_package_arn"] == ARN and record["region"] == "eu-west-1"
    assert ReportData(record=record).approval == "Approved"
    tune = next(s for s in record["steps"] if s["name"] == "Tune")
    assert tune["properties"]["HyperParameterTuningJobName"] == "tune-9"


def test_output_writes_there_and_leaves_the_runs_own_report(tmp_path: Path) -> None:
    run = tmp_path / "runs" / "r1"
    run.mkdir(parents=True)
    (run / "execution.json").write_text(json.dumps(_failed_record()))
    (run / "report.html").write_text("the run's own")
    target = tmp_path / "elsewhere" / "mine.html"
    assert cli.main(["--execution", str(run / "execution.json"), "--output", str(target)]) == 0
    assert (run / "report.html").read_text() == "the run's own"
    assert 'id="verdict"' in target.read_text()


def test_an_unknown_execution_arn_is_one_line(monkeypatch, capsys) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "y")

    def missing(client, arn):
        raise ClientError({"Error": {"Code": "ResourceNotFound", "Message": f"Pipeline execution {arn} not found"}},
                          "DescribePipelineExecution")

    monkeypatch.setattr(cli, "record_from_sagemaker", missing)
    arn = "arn:aws:sagemaker:us-east-1:1:pipeline/p/execution/nope"
    assert cli.main(["--execution-arn", arn, "--region", "us-east-1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"report: {arn}: ResourceNotFound") and "Traceback" not in err[0]


@pytest.mark.parametrize("status", ["Succeeded", "Executing"])
def test_an_execution_with_no_steps_says_what_is_missing(status: str) -> None:
    html = render(ReportData(record={"pipeline_name": "p", "execution_id": "e", "status": status, "steps": []}))
    assert f"Pipeline {status} with no steps recorded" in html and 'class="banner bad"' in html
    assert "Pipeline Succeeded<" not in html and "<h2>" not in html  # no empty sections
