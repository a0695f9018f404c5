"""A step's one-line error reaches SageMaker: a training job's /opt/ml/output/failure (FailureReason), a
processing job's /opt/ml/output/message (ExitMessage); outside a job nothing is written."""

from __future__ import annotations

import pytest

from steps.common import cli
from steps.common.errors import StepInputError


def _failing(exc: BaseException):
    def main(argv):
        raise exc

    return main


@pytest.fixture
def outside_a_job(monkeypatch, tmp_path):
    for name in ("SM_OUTPUT_DIR", "TRAINING_JOB_NAME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(cli, "_PROCESSING_CONFIG", str(tmp_path / "no-such" / "resourceconfig.json"))


def test_a_training_jobs_error_line_is_its_failure_file(outside_a_job, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("SM_OUTPUT_DIR", str(tmp_path / "output"))
    error = StepInputError("column sent_5m is missing", file=tmp_path / "features.parquet", column="sent_5m",
                           fix="rebuild the features")  # fmt: skip
    assert cli.main_guard(_failing(error)) == error.exit_code
    printed = capsys.readouterr().err.strip().removeprefix("error: ")
    assert (tmp_path / "output" / "failure").read_text() == printed
    assert "sent_5m" in printed


def test_an_unexpected_exception_still_raises_after_writing_its_last_line(outside_a_job, monkeypatch, tmp_path):
    monkeypatch.setenv("SM_OUTPUT_DIR", str(tmp_path / "output"))
    with pytest.raises(ZeroDivisionError):
        cli.main_guard(_failing(ZeroDivisionError("division by zero\nmore")))
    assert (tmp_path / "output" / "failure").read_text() == "ZeroDivisionError: division by zero"


def test_a_processing_jobs_error_goes_to_its_exit_message(outside_a_job, monkeypatch, tmp_path):
    config = tmp_path / "opt" / "ml" / "config" / "resourceconfig.json"
    config.parent.mkdir(parents=True)
    config.write_text("{}")
    monkeypatch.setattr(cli, "_PROCESSING_CONFIG", str(config))
    assert cli.job_failure_file() == "/opt/ml/output/message"
    monkeypatch.setenv("TRAINING_JOB_NAME", "train-1")
    assert cli.job_failure_file() == "/opt/ml/output/failure"


def test_outside_a_job_nothing_is_written(outside_a_job, tmp_path):
    assert cli.job_failure_file() is None
    assert cli.main_guard(_failing(OSError(28, "No space left on device", str(tmp_path / "x")))) == cli.IO_ERROR_EXIT
    assert not any(tmp_path.rglob("failure"))


def test_the_failure_line_is_cut_at_sagemakers_1024_characters(outside_a_job, monkeypatch, tmp_path):
    monkeypatch.setenv("SM_OUTPUT_DIR", str(tmp_path / "output"))
    cli.report_job_failure("x" * 5000)
    assert len((tmp_path / "output" / "failure").read_text()) == 1024
