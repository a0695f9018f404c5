"""The lockbox: the final holdout sealed away from every step of the round loop, and opened once at the end.

The chain below runs the real steps in-process on a tiny generated market, with every parquet read of the process
recorded (pandas and pyarrow, the two ways a step reads a table): training, evaluation (with its trial collection),
the ensemble and the artifact check never read a lockbox file; the final-holdout step reads it, once.
"""

from __future__ import annotations

import json
import logging
import tarfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from steps.check_artifact.run import run_check
from steps.common.errors import StepInputError
from steps.common.folds import build_folds, final_holdout_mask, holdout_mask, load_folds, sealed_mask
from steps.common.io import read_json
from steps.ensemble.run import run_ensemble
from steps.evaluate.run import run_evaluation
from steps.evaluate.trials import TRIALS_FILE, TrialsInput
from steps.features.run import run_features
from steps.features.table import load_feature_table
from steps.final_holdout.run import run_final_holdout
from steps.lockbox.seal import LOCKBOX_FILE, read_lockbox, seal

LOG = logging.getLogger("test")
FINAL_DAYS = 3



def test_the_folds_leave_the_last_sessions_to_the_lockbox_and_purge_the_labels_that_reach_it() -> None:
    days = pd.bdate_range("2025-01-02", periods=40, tz="UTC")
    bars = pd.Series([d + pd.Timedelta(hours=h) for d in days for h in (15, 16, 17)])
    folds = build_folds(bars, n_folds=2, train_days=10, validation_days=5, holdout_days=6, embargo_bars=0,
                        final_holdout_days=4)
    assert folds.final_holdout_start == days[36] + pd.Timedelta(hours=15)
    assert folds.holdout_start == days[30] + pd.Timedelta(hours=15)
    assert folds.holdout_end == days[35] + pd.Timedelta(hours=17)
    assert folds.folds[-1].validation_end < folds.holdout_start
    frame = pd.DataFrame({"ts": bars, "label_end": bars + pd.Timedelta(hours=23)})
    selection, final, sealed = (holdout_mask(frame, folds), final_holdout_mask(frame, folds),
                                sealed_mask(frame, folds))
    start = folds.final_holdout_start
    # selection rows end before the lockbox, labels included; the lockbox is every row from its start on
    assert (frame.loc[selection, "label_end"] < start).all() and (frame.loc[final, "ts"] >= start).all()
    assert final.sum() == 12 and not (selection & final).any()
    # the last selection day's 16:00 and 17:00 rows have labels (+23 h) ending at or after the lockbox's first bar
    # (15:00 the next day): they are in neither the selection holdout nor the sealed table
    purged = ~sealed & ~final
    assert list(frame.loc[purged, "ts"]) == [days[35] + pd.Timedelta(hours=16), days[35] + pd.Timedelta(hours=17)]
    assert not (selection & purged).any() and (sealed | final | purged).all()
    # the days the layout needs include the lockbox, and the error says so
    with pytest.raises(StepInputError, match=r"\+ 6 holdout \+ 20 final holdout days need 46"):
        build_folds(bars, n_folds=2, train_days=10, validation_days=5, holdout_days=6, embargo_bars=0,
                    final_holdout_days=20)
    # without a lockbox folds.json is what it was: no final_holdout_start key
    plain = build_folds(bars, n_folds=2, train_days=10, validation_days=5, holdout_days=6, embargo_bars=0)
    assert "final_holdout_start" not in plain.to_json() and plain.final_holdout_start is None


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory, sample_dir: Path, universe_csv: Path,
          tiny_settings) -> dict[str, Path]:
    """features (with a lockbox) -> sealed + lockbox; the folders the later steps are given."""
    root = tmp_path_factory.mktemp("chain")
    settings = tiny_settings.replace(holdout_days=4, final_holdout_days=FINAL_DAYS)
    run_features(sample_dir / "bars", sample_dir / "tweets", root / "features", settings, universe=universe_csv,
                 logger=LOG)
    seal(load_feature_table(root / "features"), root / "sealed", root / "lockbox", LOG)
    return {"root": root, "features": root / "features", "sealed": root / "sealed", "lockbox": root / "lockbox"}


def test_the_sealed_table_holds_no_lockbox_row_and_the_lockbox_the_rest(chain: dict[str, Path]) -> None:
    full = load_feature_table(chain["features"])
    sealed = load_feature_table(chain["sealed"])
    withheld, description = read_lockbox(chain["lockbox"])
    start = full.folds.final_holdout_start
    assert start is not None and sealed.folds.final_holdout_start == start
    assert (sealed.frame["ts"] < start).all() and (sealed.frame["label_end"] < start).all()
    assert len(sealed.frame) + len(withheld) == len(full.frame)
    keys = ["ticker", "ts"]
    assert not sealed.frame[keys].merge(withheld[keys]).shape[0]
    assert description["final_holdout_rows"] == int((withheld["ts"] >= start).sum()) > 0
    # an outcome aggregate of the manifest is the sealed rows', not the whole table's
    assert sealed.manifest["rows"]["positive_rate"] == pytest.approx(sealed.frame["label"].mean())
    assert sealed.manifest["lockbox"]["sealed"] is True


def test_a_tampered_lockbox_is_refused(chain: dict[str, Path], tmp_path: Path) -> None:
    copy = tmp_path / "lockbox"
    copy.mkdir()
    for path in chain["lockbox"].iterdir():
        (copy / path.name).write_bytes(path.read_bytes())
    frame = pd.read_parquet(copy / LOCKBOX_FILE)
    frame.loc[0, "label"] = 1 - frame.loc[0, "label"]
    frame.to_parquet(copy / LOCKBOX_FILE, index=False)
    with pytest.raises(StepInputError, match="differs from what the lockbox manifest lists"):
        read_lockbox(copy)


def test_features_without_a_final_holdout_cannot_be_sealed(features_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(StepInputError, match=r"no final holdout to seal.*--final-holdout-days"):
        seal(load_feature_table(features_dir), tmp_path / "a", tmp_path / "b", LOG)


def _train(features: Path, out: Path, seed: int) -> Path:
    from steps.train.algorithms import get_algorithm
    from steps.train.run import run_training

    algorithm = get_algorithm("xgboost")
    params = {**algorithm.defaults(), "num_round": 20 + 10 * seed, "early_stopping_rounds": 5, "nthread": 1,
              "max_depth": 2 + seed}
    run_training(features, out / "model", out / "output", algorithm, params, LOG)
    return out / "model"


def _archive(model: Path, target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(target, "w:gz") as tar:
        for path in model.iterdir():
            tar.add(path, arcname=path.name)
    return target


@pytest.fixture
def parquet_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every parquet file the process opens from here on, by either library."""
    reads: list[str] = []
    for owner, name in ((pd, "read_parquet"), (pq, "read_table"), (pq, "ParquetFile")):
        original = getattr(owner, name)

        def wrapper(source, *args, __original=original, **kwargs):
            reads.append(str(source))
            return __original(source, *args, **kwargs)

        monkeypatch.setattr(owner, name, wrapper)
    return reads


def test_no_step_of_the_round_loop_reads_the_lockbox_and_the_final_step_reads_it_once(
        chain: dict[str, Path], parquet_reads: list[str], tmp_path: Path) -> None:
    sealed = chain["sealed"]
    # two tuning trials of one round, laid out as SageMaker writes a tuning job's training jobs
    trials = tmp_path / "trials"
    models = [_train(sealed, tmp_path / f"trial{i}", i) for i in range(2)]
    for i, model in enumerate(models):
        _archive(model, trials / f"tune-x-{i + 1:03d}-abcd/output/model.tar.gz")
    staged = tmp_path / "staged"
    _archive(models[1], staged / "models" / "xgboost" / "model.tar.gz")
    run_evaluation(staged / "models" / "xgboost", sealed, staged / "evaluations" / "xgboost", "xgboost", LOG,
                   bootstrap=10, trials=TrialsInput(trials, None, "round-1", completed=2))
    run_ensemble(staged / "models", staged / "evaluations", sealed, tmp_path / "ensemble", LOG, bootstrap=10)
    run_check(tmp_path / "ensemble", sealed, tmp_path / "ensemble", tmp_path / "check", LOG)
    lockbox = str(chain["lockbox"])
    before = [path for path in parquet_reads if path.startswith(lockbox)]
    assert parquet_reads and before == [], before
    collected = read_json(staged / "evaluations" / "xgboost" / "trials.json")
    assert collected["trials"] == 2 and collected["counters"] == {"round-1": 2}
    assert (staged / "evaluations" / "xgboost" / TRIALS_FILE).is_file()

    trials_root = tmp_path / "collections"
    (trials_root / "xgboost").mkdir(parents=True)
    for path in (staged / "evaluations" / "xgboost").iterdir():
        (trials_root / "xgboost" / path.name).write_bytes(path.read_bytes())
    report = run_final_holdout(tmp_path / "ensemble", sealed, chain["lockbox"], trials_root, tmp_path / "final", LOG)
    after = [path for path in parquet_reads if path.startswith(lockbox)]
    assert len(after) == 1 and after[0].endswith(LOCKBOX_FILE)
    # the headline is the final holdout's: its rows are the lockbox's final-holdout rows, scored by the artifact
    folds = load_folds(sealed / "folds.json")
    assert report["holdout"]["start"] >= folds.final_holdout_start.isoformat()
    selection = json.loads((tmp_path / "ensemble" / "evaluation.json").read_text())
    assert report["selection_holdout"]["auc"] == selection["binary_classification_metrics"]["auc"]
    assert report["holdout"]["rows"] == report["final_holdout"]["final_holdout_rows"]
    looks = report["selection"]["looks"]
    assert looks["trials"] == 2 and looks["n"] == 3 and looks["tuning_job_counters"] == {"xgboost/round-1": 2}
    metadata = report["final_metadata"]
    final_auc = report["binary_classification_metrics"]["auc"]["value"]
    assert metadata["looks"] == "3" and metadata["final_auc"] == f"{final_auc:.4f}"
    predictions = pd.read_parquet(tmp_path / "final" / "holdout_predictions.parquet")
    assert np.isfinite(predictions["prediction"]).all() and len(predictions) == report["holdout"]["rows"]


def test_a_tuning_job_that_completed_more_trials_than_were_found_is_refused(
        chain: dict[str, Path], model_dir: Path, tmp_path: Path) -> None:
    trials = tmp_path / "trials"
    _archive(model_dir, trials / "tune-x-001-abcd/output/model.tar.gz")
    staged = tmp_path / "models" / "xgboost"
    _archive(model_dir, staged / "model.tar.gz")
    with pytest.raises(StepInputError, match="completed 3 trials but 1 archives were found"):
        run_evaluation(staged, chain["sealed"], tmp_path / "out", "xgboost", LOG, bootstrap=0,
                       trials=TrialsInput(trials, None, "round-2", completed=3))


def test_the_final_step_refuses_features_that_were_never_sealed_or_a_lockbox_of_other_features(
        chain: dict[str, Path], features_dir: Path, tmp_path: Path) -> None:
    """Hostile wiring: the unsealed table (it holds the lockbox rows the rounds would have seen) and a lockbox
    sealed from another table are refused before anything is scored."""
    ensemble = tmp_path / "ensemble"
    ensemble.mkdir()
    (ensemble / "model.tar.gz").write_bytes(b"")
    (ensemble / "evaluation.json").write_text("{}")
    with pytest.raises(StepInputError, match="the features hold final-holdout rows: they were never sealed"):
        run_final_holdout(ensemble, chain["features"], chain["lockbox"], None, tmp_path / "out", LOG)
    with pytest.raises(StepInputError, match="the lockbox was not sealed from these features"):
        run_final_holdout(ensemble, features_dir, chain["lockbox"], None, tmp_path / "out", LOG)
    assert not (tmp_path / "out").exists()  # nothing written
