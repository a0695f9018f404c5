"""The runner against the project's real definition, with fake step programs: control flow, gates, cache."""

from __future__ import annotations

import copy
import json
import math
import re

import pytest

from pipelines.definition.errors import UnsupportedConstruct
from pipelines.definition.graph import execution_order, flatten_steps
from pipelines.emulator import Emulator
from pipelines.lint import iter_steps
from pipelines.local.errors import DefinitionUnreadable
from pipelines.local.executor import PipelineExecution, RunOptions


def _all_step_names(steps: list[dict]) -> list[str]:
    return [step["Name"] for step in iter_steps(steps)]


def _registered(run_dir) -> list[dict]:
    with Emulator(run_dir / ".emulator") as emulator:
        return emulator.client("sagemaker").list_model_packages(ModelPackageGroupName="conviction-direction")[
            "ModelPackageSummaryList"
        ]


def test_runs_exactly_the_definitions_steps_in_dag_order(run_fake, quick_definition, tmp_path):
    # Given the published definition; when it runs to the end
    run = run_fake()

    # Then every step of the definition is in the record, nothing else, in an order the DAG allows
    assert run.result.exit_code == 0, run.lines
    assert sorted(run.record.steps) == sorted(_all_step_names(quick_definition["Steps"]))
    executed = [name for name, step in run.record.steps.items() if step.status == "Succeeded"]
    assert executed == [
        "BuildFeatures",
        "LeakTests",
        "SealLockbox",
        "LeakGate",
        "Tune-xgboost",
        "Evaluate-xgboost",
        "Gate-plausible",
        "Gate-models",
        "BuildEnsemble",
        "Gate-ensemble",
        "Gate-plausible-ensemble",
        "CheckArtifact",
        "Gate-artifact",
        "FinalHoldout",
        "Gate-final",
        "Register-RegisterModel",
    ]
    position = {name: i for i, name in enumerate(run.record.steps)}
    for name, step in run.record.steps.items():
        assert all(position[dependency] < position[name] for dependency in step.depends_on)
    assert {run.status("Fail-leaks"), run.status("Fail-models"), run.status("Tune-xgboost-2")} == {"Skipped"}
    # And the package is in the registry, visible to a later command through the emulator's journal
    packages = _registered(tmp_path / "runs")
    assert [p["ModelPackageArn"] for p in packages] == [run.record.model_package_arn]
    assert packages[0]["ModelApprovalStatus"] == "PendingManualApproval"
    # And the record on disk says the same
    document = json.loads(run.record.path.read_text())
    assert document["status"] == "Succeeded"
    assert {s["name"]: s["status"] for s in document["steps"]}["Register-RegisterModel"] == "Succeeded"


def test_gate_above_the_auc_ends_in_the_fail_step_and_registers_nothing(run_fake, tmp_path):
    run = run_fake(parameters={"MinModelAUC": "0.7"})  # the ceiling: above it is refused (test_parameter_policy)

    assert run.result.exit_code == 1
    for gate in ("Gate-models", "Gate-models-2", "Gate-models-3"):
        assert run.status(gate) == "Succeeded"
        assert run.record.steps[gate].properties == {"Outcome": False}
    assert run.status("Fail-models") == "Failed"
    message = run.record.steps["Fail-models"].failure_reason
    assert message.startswith("Gate-models-3 failed after 3 tuning rounds: every model must reach MinModelAUC 0.7")
    assert " xgboost 0.6" in message
    assert run.record.failure_reason == f"Fail-models: {message}"
    assert run.status("Register-RegisterModel") == "Skipped"
    assert run.record.model_package_arn is None
    assert not (tmp_path / "runs" / ".emulator").exists()


def test_planted_leak_ends_the_run_at_the_leak_gate(run_fake):
    run = run_fake(control={"leak": True})

    assert run.result.exit_code == 1
    assert run.record.steps["LeakGate"].properties == {"Outcome": False}
    assert run.status("Fail-leaks") == "Failed"
    assert run.record.steps["Fail-leaks"].failure_reason.startswith("Leak tests failed: 1 leak: feature")
    for later in ("Tune-xgboost", "Evaluate-xgboost", "Gate-models", "Register-RegisterModel"):
        assert run.status(later) == "Skipped"


def test_tuning_stays_in_the_declared_ranges_and_exposes_the_argmax(run_fake, quick_definition):
    run = run_fake(max_trials=4)

    tune = run.record.steps["Tune-xgboost"]
    summaries = tune.properties["TrainingJobSummaries"]
    assert len(summaries) == 4 == tune.metrics["trials"]
    leak_gate = next(step for step in quick_definition["Steps"] if step["Name"] == "LeakGate")
    tuning = leak_gate["Arguments"]["IfSteps"][0]["Arguments"]
    ranges = tuning["HyperParameterTuningJobConfig"]["ParameterRanges"]
    for summary in summaries:
        tuned = summary["TunedHyperParameters"]
        for spec in ranges["ContinuousParameterRanges"] + ranges["IntegerParameterRanges"]:
            assert float(spec["MinValue"]) <= float(tuned[spec["Name"]]) <= float(spec["MaxValue"])
        assert set(tuned) == {s["Name"] for s in ranges["ContinuousParameterRanges"] + ranges["IntegerParameterRanges"]}
    values = [s["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] for s in summaries]
    best = tune.properties["BestTrainingJob"]
    assert best["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] == max(values)
    assert summaries[0]["TrainingJobName"] == best["TrainingJobName"]
    # Evaluate read the best job's model (the definition's TrainingJobSummaries[0] path)
    model_input = next(
        i for i in run.record.steps["Evaluate-xgboost"].arguments["ProcessingInputs"] if i["InputName"] == "model"
    )
    assert f"/{best['TrainingJobName']}/output/model.tar.gz" in model_input["S3Input"]["S3Uri"]
    trial_lines = [line for line in run.lines if re.search(r"Tune-\S+ trial \d+/\d+ ", line)]
    assert len(trial_lines) == 4 and all("validation:auc=" in line for line in trial_lines)


def test_second_run_reuses_cached_steps(run_fake, tmp_path):
    first = run_fake()
    second = run_fake()
    third = run_fake(use_cache=False)

    assert first.result.exit_code == second.result.exit_code == 0
    cached = {name for name, step in second.record.steps.items() if step.cache_hit}
    assert cached == {
        "BuildFeatures",
        "LeakTests",
        "SealLockbox",
        "Tune-xgboost",
        "Evaluate-xgboost",
        "BuildEnsemble",
        "CheckArtifact",
        "FinalHoldout",
    }
    assert not any(step.cache_hit for step in first.record.steps.values())
    assert not any(step.cache_hit for step in third.record.steps.values())
    # a cache hit returns the earlier execution's outputs, and downstream steps read those
    assert second.record.steps["BuildFeatures"].outputs == first.record.steps["BuildFeatures"].outputs
    # a changed parameter that feeds a step's arguments misses for that step
    fourth = run_fake(parameters={"IncludeSentiment": "false"})
    assert not fourth.record.steps["BuildFeatures"].cache_hit


def test_failed_training_jobs_fail_the_tuning_step(run_fake):
    run = run_fake(control={"fail_training": True}, max_trials=2)

    assert run.result.exit_code == 1
    assert run.status("Tune-xgboost") == "Failed"
    assert "every training job" in run.record.steps["Tune-xgboost"].failure_reason
    assert run.status("Evaluate-xgboost") == "NotStarted"


def _with_argument(definition: dict, value) -> dict:
    changed = copy.deepcopy(definition)
    changed["Steps"][0]["Arguments"]["AppSpecification"]["ContainerArguments"].append(value)
    return changed


def test_unsupported_expression_is_an_error_naming_it(quick_definition, tmp_path):
    changed = _with_argument(quick_definition, {"Std:Concat": {"Values": ["a", "b"]}})
    with pytest.raises(DefinitionUnreadable, match="Std:Concat") as refused:
        PipelineExecution(changed, RunOptions(run_dir=tmp_path))
    assert isinstance(refused.value.cause, UnsupportedConstruct)

    changed = _with_argument(quick_definition, {"Get": "Execution.PipelineExecutionColour"})
    with pytest.raises(DefinitionUnreadable, match="PipelineExecutionColour") as refused:
        PipelineExecution(changed, RunOptions(run_dir=tmp_path))
    assert isinstance(refused.value.cause, UnsupportedConstruct)


def test_unsupported_step_type_and_condition_are_errors_naming_them(quick_definition, tmp_path):
    changed = copy.deepcopy(quick_definition)
    changed["Steps"].append({"Name": "Notify", "Type": "Lambda", "Arguments": {}})
    with pytest.raises(DefinitionUnreadable, match="'Lambda'") as refused:
        PipelineExecution(changed, RunOptions(run_dir=tmp_path))
    assert isinstance(refused.value.cause, UnsupportedConstruct)

    changed = copy.deepcopy(quick_definition)
    next(step for step in changed["Steps"] if step["Name"] == "LeakGate")["Arguments"]["Conditions"][0]["Type"] = "And"
    with pytest.raises(UnsupportedConstruct, match="'And'"):
        flatten_steps(changed)


def test_order_follows_depends_on_as_well_as_data(quick_definition):
    changed = copy.deepcopy(quick_definition)
    features, leaks = changed["Steps"][0], changed["Steps"][1]
    changed["Steps"][0], changed["Steps"][1] = leaks, features
    features["DependsOn"] = []
    order = execution_order(flatten_steps(changed))
    assert order.index("BuildFeatures") < order.index("LeakTests")

    changed["Steps"][1]["DependsOn"] = ["LeakGate"]
    with pytest.raises(Exception, match="cycle"):
        execution_order(flatten_steps(changed))


def test_log_scaling_is_sampled_in_log_space():
    import optuna

    from pipelines.local.jobs.tuning import suggest

    ranges = {
        "ContinuousParameterRanges": [
            {"Name": "eta", "MinValue": "0.01", "MaxValue": "0.3", "ScalingType": "Logarithmic"}
        ]
    }
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    values = []
    for _ in range(400):
        trial = study.ask()
        values.append(float(suggest(trial, ranges)["eta"]))
        study.tell(trial, 0.0)
    geometric_middle = math.sqrt(0.01 * 0.3)  # half the draws below it in log space; ~13% if linear
    share_below = sum(v < geometric_middle for v in values) / len(values)
    assert 0.4 < share_below < 0.6
    assert all(0.01 <= v <= 0.3 for v in values)


def test_a_fault_inside_the_runner_fails_that_step_with_its_reason_not_a_traceback(run_fake, monkeypatch):
    from pipelines.local.handlers import processing

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(processing, "run_processing_job", disk_full)
    run = run_fake()

    assert run.result.exit_code == 1
    step = run.record.steps["BuildFeatures"]
    assert step.status == "Failed"
    assert step.failure_reason.startswith("the local runner failed: OSError: [Errno 28] No space left on device")
    assert "Traceback" in next(run.record.path.parent.glob("runner-error-BuildFeatures.log")).read_text()
    assert json.loads(run.record.path.read_text())["status"] == "Failed"


def test_the_summary_prints_gate_values_at_four_decimals_with_their_interval(run_fake):
    from pipelines.local.runner import print_summary

    run = run_fake(control={"holdout_auc": 0.6523456789})
    condition = run.record.steps["Gate-models"].arguments[0]["condition"]
    assert condition["LeftValue"] == pytest.approx(0.6523456789)
    assert condition["LeftInterval"] == pytest.approx([0.6523456789 - 1.96 * 0.01, 0.6523456789 + 1.96 * 0.01])

    lines: list[str] = []
    print_summary(run.result, echo=lines.append)
    # one line per gate (issue 31): the outcome, and what was compared with what, named
    gate = next(line for line in lines if line.strip().startswith("Gate-models:"))
    assert gate.strip() == ("Gate-models: passed: Evaluate-xgboost AUC 0.6523 (95% interval 0.6327-0.6719) >= "
                            "MinModelAUC 0.6000")
    assert sum(line.strip().startswith("Gate-models:") for line in lines) == 1
    assert "0.6523456789" not in "\n".join(lines)


def test_branches_not_taken_are_said_once_each_during_the_run_and_in_the_summary(run_fake):
    from pipelines.local.runner import print_summary

    run = run_fake()
    skips = [line for line in run.lines if line.startswith("[ skip ]")]
    assert len(skips) == len(set(skips))
    assert any(line.startswith("[ skip ] Gate-models.ElseSteps") and "steps" in line for line in skips)
    assert not any("Tune-xgboost-2" in line for line in skips)  # inside Gate-models.ElseSteps: said once there

    lines: list[str] = []
    print_summary(run.result, echo=lines.append)
    table = "\n".join(lines)
    assert "Tune-xgboost-3" not in table and "Skipped" not in table
    skipped = [name for name, step in run.record.steps.items() if step.status == "Skipped"]
    summary = next(line for line in lines if line.startswith("not executed: "))
    counted = sum(int(part.split("(")[1].split()[0]) if "(" in part else 1 for part in summary[14:].split("; "))
    assert counted == len(skipped)


def _store_file(run, step: str, output: str):
    uri = run.record.steps[step].outputs[output]
    folder = run.record.path.parent.parent / "s3" / uri.removeprefix("s3://")
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    assert files, uri
    return files


def test_a_cache_entry_whose_outputs_changed_or_went_missing_is_not_a_hit(run_fake):
    first = run_fake()
    # Given one output file deleted and another changed in place (same size), after the run that wrote them
    deleted = _store_file(first, "BuildFeatures", "features")[0]
    deleted.unlink()
    changed = _store_file(first, "LeakTests", "leaks")[0]
    body = bytearray(changed.read_bytes())
    body[0] ^= 1
    changed.write_bytes(bytes(body))

    second = run_fake()

    # Then both steps run again (and everything that reads them), the run still registers, and it says why
    assert second.result.exit_code == 0, second.lines
    assert not second.record.steps["BuildFeatures"].cache_hit
    assert not second.record.steps["LeakTests"].cache_hit
    warnings = [line for line in second.lines if line.startswith("warning: cache entry for")]
    assert any("BuildFeatures" in line and deleted.name in line for line in warnings), warnings
    assert second.record.model_package_arn


def test_an_unreadable_cache_entry_is_a_miss_with_a_warning(run_fake, tmp_path):
    first = run_fake()
    key = first.record.steps["BuildFeatures"].cache_key
    (tmp_path / "runs" / ".cache" / f"{key}.json").write_text('{"truncated": ')

    second = run_fake()

    assert second.result.exit_code == 0
    assert not second.record.steps["BuildFeatures"].cache_hit
    assert any("is unreadable (JSONDecodeError)" in line for line in second.lines)


def _fake_run_in_its_own_process(run_dir, control: dict):
    """A quick fake run in a child process (so a test can interrupt the runner alone), with these knobs."""
    import subprocess
    import sys
    from pathlib import Path

    script = (
        "import sys; from pathlib import Path\n"
        f"sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "from conftest import fake_run\n"
        "from pipelines.config import load_config\n"
        "from pipelines.local.runner import build_definition\n"
        "config = load_config(profile='quick')\n"
        "definition, _ = build_definition(config)\n"
        f"fake_run(config, definition, Path({str(run_dir)!r}), control={control!r})\n"
    )
    return subprocess.Popen([sys.executable, "-c", script], cwd=Path(__file__).parents[2],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def test_an_interrupted_run_ends_its_jobs_and_records_stopped(tmp_path):
    import os
    import signal
    import time

    # Given a run (its own process) whose BuildFeatures job waits for a file that never comes (up to 120 s)
    run_dir = tmp_path / "runs"
    child = _fake_run_in_its_own_process(run_dir, {"hold_until": "/never/there"})
    try:
        deadline = time.monotonic() + 120
        executing = False
        while time.monotonic() < deadline and not executing:
            time.sleep(0.2)
            records = list(run_dir.glob("*/execution.json"))
            if records:
                steps = {s["name"]: s["status"] for s in json.loads(records[0].read_text())["steps"]}
                executing = steps.get("BuildFeatures") == "Executing" and any(run_dir.glob("*/jobs/buildfeatures*"))
        assert executing, "the run never reached BuildFeatures"
        time.sleep(1.0)  # the job program has started

        # When the runner alone is interrupted (not its job: the signal goes to the runner's process only)
        os.kill(child.pid, signal.SIGINT)
        child.wait(timeout=60)  # hang guard: without ending its job it would wait out the job's 120 s
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()

    # Then the record ends Stopped, the step too, and no step is left Executing
    document = json.loads(next(run_dir.glob("*/execution.json")).read_text())
    statuses = {s["name"]: s["status"] for s in document["steps"]}
    assert document["status"] == "Stopped"
    assert statuses["BuildFeatures"] == "Stopped"
    assert "Executing" not in statuses.values()
    step = next(s for s in document["steps"] if s["name"] == "BuildFeatures")
    assert step["failure_reason"] == "the run was interrupted while this step ran"


def test_an_interrupted_tuning_step_ends_its_trials_and_draws_no_more(tmp_path):
    """Ctrl-C while tuning trials run: the trials are ended (SIGTERM) and no further wave starts, so the run
    stops in seconds, not after every trial has run (issue 29: a quick run took 17.8 s, a default one > 35 s)."""
    import os
    import signal
    import time
    from pathlib import Path

    # Given a run (its own process) whose tuning trials each wait for a file that never comes (up to 120 s)
    run_dir = tmp_path / "runs"
    child = _fake_run_in_its_own_process(run_dir, {"train_hold_until": "/never/there"})
    try:
        deadline = time.monotonic() + 120
        trials: list[Path] = []
        while time.monotonic() < deadline and not trials:
            time.sleep(0.2)
            trials = [p for p in run_dir.glob("*/jobs/tune-xgboost*/*") if p.is_dir()]
        assert trials, "the run never started a tuning trial"
        time.sleep(1.0)  # the trial programs have started

        # When the runner alone is interrupted
        os.kill(child.pid, signal.SIGINT)
        child.wait(timeout=60)  # hang guard: without ending its trials it would wait out each one's 120 s
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()

    # Then the run ended Stopped (child.wait's 60 s is the hang guard: a held trial waits 120 s), and no trial
    # beyond the first wave started
    document = json.loads(next(run_dir.glob("*/execution.json")).read_text())
    assert document["status"] == "Stopped"
    started = [p for p in run_dir.glob("*/jobs/tune-xgboost*/*") if (p / "job.log").is_file()
               and "not started: the run is stopping" not in (p / "job.log").read_text()]
    assert len(started) <= 2, [p.name for p in started]  # the quick profile's MaxParallelJobs: one wave

