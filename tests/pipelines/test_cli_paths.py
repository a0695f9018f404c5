"""Output paths a user gets wrong are one line and exit 2, with nothing written: a file where a folder goes,
a folder the user cannot write."""

from __future__ import annotations

import os

import pytest

from pipelines import run, upsert


def test_a_run_dir_that_is_a_file_is_a_usage_error(tmp_path, capsys):
    target = tmp_path / "runs"
    target.write_text("not a folder")
    assert run.main(["--profile", "quick", "--run-dir", str(target)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"error: --run-dir {target}: not a folder (a file is there)"
    assert target.read_text() == "not a folder"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere: a read-only folder cannot be shown")
def test_a_run_dir_it_cannot_write_is_a_usage_error(tmp_path, capsys):
    folder = tmp_path / "ro"
    folder.mkdir(mode=0o555)
    assert run.main(["--profile", "quick", "--run-dir", str(folder / "runs")]) == 2
    assert "cannot write there" in capsys.readouterr().err


def test_an_output_whose_folder_is_a_file_is_a_usage_error(tmp_path, capsys, no_aws_credentials):
    blocker = tmp_path / "out"
    blocker.write_text("a file")
    assert upsert.main(["--dry-run", "--output", str(blocker / "pipeline.json")]) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]  # after the build's log line
    assert last == f"upsert: --output {blocker / 'pipeline.json'}: cannot write there ({blocker} is a file)"
    assert blocker.read_text() == "a file"
