"""`make run` passes a relative run folder; jobs run in their own folders, so the runner must not care."""

from __future__ import annotations

from pathlib import Path


def test_relative_run_dir_is_resolved_before_jobs_run(run_fake, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run = run_fake(run_dir=Path("runs"))
    assert run.record.status == "Succeeded", run.record.failure_reason
    assert (tmp_path / "runs").is_dir()
