"""Issue 31: a round that evaluates the same training job as the round before says so and reuses that evaluation."""

from __future__ import annotations

import json
import logging
import tarfile
from pathlib import Path

import pytest

from steps.evaluate.run import run_evaluation
from steps.evaluate.trials import TrialsInput

LOG = logging.getLogger("test")


def _archive(model: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(target, "w:gz") as tar:
        for path in model.iterdir():
            tar.add(path, arcname=path.name)


def test_the_same_job_evaluated_again_is_the_earlier_evaluation_said_so(model_dir: Path, features_dir: Path,
                                                                         tmp_path: Path, caplog) -> None:
    trials = tmp_path / "trials"
    _archive(model_dir, trials / "tune-x-001-abcd/output/model.tar.gz")
    first = run_evaluation(model_dir, features_dir, tmp_path / "round1", "xgboost", LOG, bootstrap=20,
                           trials=TrialsInput(trials, None, "round-1", completed=1))
    assert "reused_from" not in first and first["evaluated_with"]["model_meta_sha256"]
    with caplog.at_level(logging.INFO):
        second = run_evaluation(model_dir, features_dir, tmp_path / "round2", "xgboost", LOG, bootstrap=20,
                                trials=TrialsInput(None, tmp_path / "round1", "round-2"))
    assert "the same training job as the previous round" in caplog.text
    assert second["reused_from"]["note"].startswith("the previous round evaluated this same training job")
    assert second["binary_classification_metrics"] == first["binary_classification_metrics"]
    metrics = json.loads((tmp_path / "round2" / "metrics.json").read_text())
    assert "predict" not in metrics["timings_s"]  # nothing scored again
    assert (tmp_path / "round2" / "holdout_predictions.parquet").read_bytes() == \
        (tmp_path / "round1" / "holdout_predictions.parquet").read_bytes()


@pytest.mark.parametrize("change", ["settings", "tampered"])
def test_other_settings_or_a_changed_earlier_file_are_evaluated_afresh(model_dir: Path, features_dir: Path,
                                                                       tmp_path: Path, change: str) -> None:
    run_evaluation(model_dir, features_dir, tmp_path / "round1", "xgboost", LOG, bootstrap=20,
                   trials=TrialsInput(None, None, "round-1"))
    bootstrap = 20
    if change == "settings":
        bootstrap = 21
    else:
        path = tmp_path / "round1" / "evaluation.json"
        path.write_text(path.read_text().replace('"auc"', '"auc" ', 1))
    second = run_evaluation(model_dir, features_dir, tmp_path / "round2", "xgboost", LOG, bootstrap=bootstrap,
                            trials=TrialsInput(None, tmp_path / "round1", "round-2"))
    assert "reused_from" not in second
    metrics = json.loads((tmp_path / "round2" / "metrics.json").read_text())
    assert "predict" in metrics["timings_s"]
