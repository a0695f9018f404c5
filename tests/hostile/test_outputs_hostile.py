"""Outputs after the features step are visible only complete, and their readers refuse anything else.

Each case is what used to exit 0 with a wrong or partial result (issue 15, class 3): a model folder a crash
left half-written, model_meta.json's features reordered, model or evaluation folders swapped, half the
out-of-fold rows missing, a feature that is NaN on every training row. Each is run through the step's own
command line (main_guard): exit 2, one line naming the file (and column) and the fix, nothing written.
"""

from __future__ import annotations

import json
import logging
import shutil
import tarfile
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from steps.common.cli import main_guard
from steps.common.io import describe_files
from steps.evaluate.run import run_evaluation
from steps.features.run import run_features
from steps.features.settings import FeatureSettings
from steps.sample_data.generator import generate_market
from steps.sample_data.writer import write_market
from steps.train.algorithms import get_algorithm
from steps.train.run import run_training

LOG = logging.getLogger("test")
UNIVERSE = pd.DataFrame({"ticker": ["AAPL", "MSFT", "JPM", "XOM"],
                         "sector": ["Information Technology", "Information Technology", "Financials", "Energy"]})
SETTINGS = FeatureSettings(n_folds=3, train_days=10, validation_days=4, holdout_days=5, embargo_bars=30)
FAST = {"xgboost": {"num_round": 30, "early_stopping_rounds": 5, "nthread": 1},
        "lightgbm": {"num_round": 30, "early_stopping_rounds": 5, "nthread": 1, "min_data_in_leaf": 20}}


def _cli(main: Callable[[Sequence[str] | None], int | None], argv: list[str],
         capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """Run a step's main as its `__main__` does; the exit code and the error line(s) on stderr."""
    capsys.readouterr()
    code = main_guard(main, argv)
    return code, capsys.readouterr().err.strip()


def _refused(code: int, err: str, *fragments: str) -> None:
    """Exit 2 and one error line, the last on stderr (the step's log lines come before it), no traceback."""
    assert code == 2, err
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and err.splitlines()[-1] == errors[0] and "Traceback" not in err, err
    assert "; fix: " in errors[0], err
    for fragment in fragments:
        assert fragment in errors[0], (fragment, errors[0])


def _nothing_in(folder: Path) -> None:
    assert not folder.exists() or not any(folder.iterdir()), sorted(p.name for p in folder.iterdir())


def _relist_features(folder: Path) -> None:
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["files"] = describe_files(folder, ["features.parquet", "folds.json"])
    (folder / "manifest.json").write_text(json.dumps(manifest))


@pytest.fixture(scope="module")
def market(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("market")
    write_market(generate_market(UNIVERSE, days=30, seed=3), root)
    UNIVERSE.to_csv(root / "universe.csv", index=False)
    return root


@pytest.fixture(scope="module")
def features(market: Path) -> Path:
    run_features(market / "bars", market / "tweets", market / "features", SETTINGS, universe=market / "universe.csv",
                 logger=LOG)
    return market / "features"


def _train(features: Path, algorithm: str, out: Path) -> Path:
    cls = get_algorithm(algorithm)
    staged = out.parent.name == "models"  # models/<algorithm>/: the job's other output goes outside models/
    output = out.parent.parent / "output" / out.name if staged else out.parent / f"{out.name}-output"
    run_training(features, out, output, cls, {**cls.defaults(), **FAST[algorithm]}, LOG)
    return out


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory, features: Path) -> Path:
    """models/<algorithm>/ and evaluations/<algorithm>/ for xgboost and lightgbm, as the pipeline stages them."""
    root = tmp_path_factory.mktemp("staged")
    for algorithm in ("xgboost", "lightgbm"):
        _train(features, algorithm, root / "models" / algorithm)
        run_evaluation(root / "models" / algorithm, features, root / "evaluations" / algorithm, None, LOG,
                       bootstrap=5)
    return root


def _ensemble_argv(root: Path, features: Path, out: Path) -> list[str]:
    return ["--models", str(root / "models"), "--evaluations", str(root / "evaluations"), "--features",
            str(features), "--output", str(out), "--bootstrap", "5"]


def test_a_model_folder_is_visible_only_complete_and_evaluate_refuses_one_that_is_not(
        features: Path, models: Path, tmp_path: Path, capsys, monkeypatch) -> None:
    from steps.evaluate.__main__ import main as evaluate
    from steps.train import run as train_run

    # A previous run's files (another algorithm's model, a stale group) are cleared; only what is listed stays.
    folder = tmp_path / "model"
    shutil.copytree(models / "models" / "lightgbm", folder)
    (folder / "groups" / "AAPL").mkdir(parents=True)
    (folder / "groups" / "AAPL" / "model.json").write_text("{}")
    _train(features, "xgboost", folder)
    meta = json.loads((folder / "model_meta.json").read_text())
    on_disk = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    assert on_disk == {*meta["files"], "model_meta.json"} == {"model.json", "oof_predictions.parquet",
                                                              "model_meta.json"}
    assert meta["files"]["model.json"] == describe_files(folder, ["model.json"])["model.json"]

    # A crash while writing (here: the out-of-fold table) leaves no model_meta.json: the old one went first.
    def crash(*_args, **_kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(train_run, "write_parquet", crash)
    with pytest.raises(OSError):
        _train(features, "xgboost", folder)
    monkeypatch.undo()
    assert not (folder / "model_meta.json").exists() and (folder / "model.json").exists()
    code, err = _cli(evaluate, ["--model", str(folder), "--features", str(features), "--output",
                                str(tmp_path / "evaluation")], capsys)
    _refused(code, err, "model_meta.json not found")
    _nothing_in(tmp_path / "evaluation")

    # A model file replaced after the listing was written (another job's valid booster) is refused.
    swapped = tmp_path / "swapped"
    shutil.copytree(models / "models" / "xgboost", swapped)
    cls = get_algorithm("xgboost")
    run_training(features, tmp_path / "other", tmp_path / "other-output", cls,
                 {**cls.defaults(), **FAST["xgboost"], "eta": 0.3, "max_depth": 2}, LOG)
    shutil.copy(tmp_path / "other" / "model.json", swapped / "model.json")
    with tarfile.open(tmp_path / "model.tar.gz", "w:gz") as tar:  # as SageMaker packs /opt/ml/model
        for path in sorted(swapped.iterdir()):
            tar.add(path, arcname=path.name)
    (tmp_path / "packed").mkdir()
    shutil.move(tmp_path / "model.tar.gz", tmp_path / "packed" / "model.tar.gz")
    code, err = _cli(evaluate, ["--model", str(tmp_path / "packed"), "--features", str(features), "--output",
                                str(tmp_path / "evaluation")], capsys)
    _refused(code, err, "/model.json: ", "model_meta.json lists", "not the file that run wrote", "retrain")
    _nothing_in(tmp_path / "evaluation")


def test_evaluation_and_artifact_folders_are_checked_against_their_manifests(
        features: Path, models: Path, tmp_path: Path, capsys) -> None:
    from steps.check_artifact.__main__ import main as check_artifact
    from steps.ensemble.__main__ import main as ensemble

    # An evaluation folder without its manifest (its writer did not finish) is not read.
    staged = tmp_path / "staged"
    shutil.copytree(models, staged)
    shutil.rmtree(staged / "models" / "lightgbm")
    shutil.rmtree(staged / "evaluations" / "lightgbm")
    (staged / "evaluations" / "xgboost" / "manifest.json").unlink()
    code, err = _cli(ensemble, _ensemble_argv(staged, features, tmp_path / "out"), capsys)
    _refused(code, err, "evaluations/xgboost/manifest.json: not found")
    _nothing_in(tmp_path / "out")

    # A complete ensemble output; then check_artifact given another artifact than the one it lists.
    shutil.copy(models / "evaluations" / "xgboost" / "manifest.json", staged / "evaluations" / "xgboost")
    code, err = _cli(ensemble, _ensemble_argv(staged, features, tmp_path / "out"), capsys)
    assert code == 0, err
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert set(manifest["files"]) == {"model.tar.gz", "holdout_predictions.parquet", "smoke_rows.parquet",
                                      "evaluation.json", "metrics.json"}
    with tarfile.open(tmp_path / "out" / "model.tar.gz") as tar:
        inner = json.loads(tar.extractfile("ensemble_meta.json").read())["files"]
        assert set(inner) == {m.name for m in tar.getmembers() if m.isfile()} - {"ensemble_meta.json"}
    other = tmp_path / "other-artifact"
    other.mkdir()
    with tarfile.open(tmp_path / "out" / "model.tar.gz") as source, \
            tarfile.open(other / "model.tar.gz", "w:gz") as target:  # same members, another archive
        for member in reversed(source.getmembers()):
            target.addfile(member, source.extractfile(member) if member.isfile() else None)
    code, err = _cli(check_artifact, ["--model", str(other), "--features", str(features), "--evaluation",
                                      str(tmp_path / "out"), "--output", str(tmp_path / "check")], capsys)
    _refused(code, err, "other-artifact/model.tar.gz: is not the artifact", "manifest.json")
    _nothing_in(tmp_path / "check")


def test_model_meta_features_reordered_are_refused_and_a_reordered_table_scores_identically(
        features: Path, models: Path, tmp_path: Path, capsys) -> None:
    from steps.evaluate.__main__ import main as evaluate

    # The table's columns in another order: the model selects by name, so the predictions are identical.
    shuffled = tmp_path / "shuffled"
    shutil.copytree(features, shuffled)
    frame = pd.read_parquet(shuffled / "features.parquet")
    frame[list(reversed(frame.columns))].to_parquet(shuffled / "features.parquet", index=False)
    _relist_features(shuffled)
    model = models / "models" / "xgboost"
    for table, out in ((features, tmp_path / "a"), (shuffled, tmp_path / "b")):
        code, err = _cli(evaluate, ["--model", str(model), "--features", str(table), "--output", str(out),
                                    "--bootstrap", "0"], capsys)
        assert code == 0, err
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "a" / "holdout_predictions.parquet"),
                                  pd.read_parquet(tmp_path / "b" / "holdout_predictions.parquet"))

    # model_meta.json's features reordered: the booster takes columns by position, so this is refused.
    for algorithm in ("xgboost", "lightgbm"):
        reordered = tmp_path / f"reordered-{algorithm}"
        shutil.copytree(models / "models" / algorithm, reordered)
        meta = json.loads((reordered / "model_meta.json").read_text())
        meta["features"] = [meta["features"][1], meta["features"][0], *meta["features"][2:]]
        (reordered / "model_meta.json").write_text(json.dumps(meta))
        out = tmp_path / f"out-{algorithm}"
        code, err = _cli(evaluate, ["--model", str(reordered), "--features", str(features), "--output", str(out)],
                         capsys)
        _refused(code, err, f"reordered-{algorithm}/model_meta.json", f"column '{meta['features'][0]}'",
                 "another order", "position 0")
        _nothing_in(out)


def test_swapped_model_or_evaluation_folders_are_refused_naming_what_they_hold(
        features: Path, models: Path, tmp_path: Path, capsys) -> None:
    from steps.ensemble.__main__ import main as ensemble

    swapped = tmp_path / "swapped"
    shutil.copytree(models, swapped)
    for kind in ("models", "evaluations"):
        (swapped / kind / "xgboost").rename(swapped / kind / "tmp")
        (swapped / kind / "lightgbm").rename(swapped / kind / "xgboost")
        (swapped / kind / "tmp").rename(swapped / kind / "lightgbm")
    code, err = _cli(ensemble, _ensemble_argv(swapped, features, tmp_path / "out"), capsys)
    _refused(code, err, "models/lightgbm: column 'algorithm': holds a xgboost model", "not lightgbm")
    _nothing_in(tmp_path / "out")

    # Models in place, evaluations swapped: evaluations/xgboost is lightgbm's.
    evaluations = tmp_path / "evaluations-swapped"
    shutil.copytree(models, evaluations)
    for kind in ("evaluations",):
        (evaluations / kind / "xgboost").rename(evaluations / kind / "tmp")
        (evaluations / kind / "lightgbm").rename(evaluations / kind / "xgboost")
        (evaluations / kind / "tmp").rename(evaluations / kind / "lightgbm")
    code, err = _cli(ensemble, _ensemble_argv(evaluations, features, tmp_path / "out"), capsys)
    _refused(code, err, "is the evaluation of a xgboost model, but models/lightgbm/ holds a lightgbm model")
    _nothing_in(tmp_path / "out")

    # Same algorithm, another training job's evaluation: refused by the model's identity.
    stale = tmp_path / "stale"
    shutil.copytree(models, stale)
    _train(features, "xgboost", tmp_path / "retrained")
    meta = json.loads((tmp_path / "retrained" / "model_meta.json").read_text())
    meta["hyperparameters"]["eta"] = 0.2  # another job (its metadata differs), listed as steps.train lists it
    from steps.train.algorithms.loader import write_model_meta

    write_model_meta(tmp_path / "retrained", meta, sorted(meta["files"]))
    shutil.rmtree(stale / "models" / "xgboost")
    shutil.copytree(tmp_path / "retrained", stale / "models" / "xgboost")
    code, err = _cli(ensemble, _ensemble_argv(stale, features, tmp_path / "out"), capsys)
    _refused(code, err, "evaluations/xgboost/evaluation.json: column 'model.meta_sha256': evaluates another model")
    _nothing_in(tmp_path / "out")


def test_half_the_out_of_fold_rows_missing_is_refused_with_expected_and_found_counts(
        features: Path, models: Path, tmp_path: Path, capsys) -> None:
    from steps.ensemble.__main__ import main as ensemble

    staged = tmp_path / "staged"
    shutil.copytree(models, staged)
    folder = staged / "models" / "lightgbm"
    oof = pd.read_parquet(folder / "oof_predictions.parquet")
    total = len(oof)
    oof.iloc[: total // 2].to_parquet(folder / "oof_predictions.parquet", index=False)

    # Truncated after the listing was written: refused by the listing.
    code, err = _cli(ensemble, _ensemble_argv(staged, features, tmp_path / "out"), capsys)
    _refused(code, err, "lightgbm/oof_predictions.parquet", "model_meta.json lists")
    _nothing_in(tmp_path / "out")

    # Written short and listed so (a writer that lost rows), and evaluated as it is: refused by the counts.
    meta = json.loads((folder / "model_meta.json").read_text())
    from steps.train.algorithms.loader import write_model_meta

    write_model_meta(folder, meta, sorted(meta["files"]))
    shutil.rmtree(staged / "evaluations" / "lightgbm")
    run_evaluation(folder, features, staged / "evaluations" / "lightgbm", None, LOG, bootstrap=5)
    code, err = _cli(ensemble, _ensemble_argv(staged, features, tmp_path / "out"), capsys)
    _refused(code, err, "lightgbm/oof_predictions.parquet: column 'fold'",
             f"holds {total // 2} out-of-fold rows, the features' folds call for {total}")
    _nothing_in(tmp_path / "out")


def test_a_feature_nan_on_every_training_row_is_refused_naming_the_column(
        features: Path, tmp_path: Path, capsys, monkeypatch) -> None:
    from steps.train.__main__ import main as train

    broken = tmp_path / "features"
    shutil.copytree(features, broken)
    frame = pd.read_parquet(broken / "features.parquet")
    manifest = json.loads((broken / "manifest.json").read_text())
    column = manifest["feature_columns"][2]
    frame[column] = np.nan
    frame.to_parquet(broken / "features.parquet", index=False)
    _relist_features(broken)
    model = tmp_path / "model"
    monkeypatch.setenv("SM_CHANNEL_TRAIN", str(broken))
    monkeypatch.setenv("SM_MODEL_DIR", str(model))
    monkeypatch.setenv("SM_OUTPUT_DATA_DIR", str(tmp_path / "output"))
    monkeypatch.setenv("SM_INPUT_CONFIG_DIR", str(tmp_path / "config"))
    code, err = _cli(train, ["--algorithm", "xgboost", "--num_round", "10", "--nthread", "1"], capsys)
    _refused(code, err, "features.parquet", f"column '{column}'", "is NaN on all")
    _nothing_in(model)
    _nothing_in(tmp_path / "output")

    # NaN on the holdout rows only is not this error: the training window has values.
    holdout_start = pd.Timestamp(json.loads((broken / "folds.json").read_text())["holdout_start"])
    frame = pd.read_parquet(features / "features.parquet")
    frame.loc[frame["ts"] >= holdout_start, column] = np.nan
    frame.to_parquet(broken / "features.parquet", index=False)
    _relist_features(broken)
    code, err = _cli(train, ["--algorithm", "xgboost", "--num_round", "10", "--nthread", "1"], capsys)
    assert code == 0, err
    assert (model / "model_meta.json").is_file()


def test_the_stability_steps_narrowed_features_folder_is_complete_even_from_shards(
        market: Path, features: Path, tmp_path: Path) -> None:
    """Its manifest lists what it wrote (a sharded source is written merged: there is no single table to copy),
    and a stale table in the target from an earlier run is replaced, never read under the new manifest."""
    from steps.features.table import load_feature_table
    from steps.stability.run import narrowed_copy

    hosts = ["algo-1", "algo-2"]
    sharded = tmp_path / "sharded"
    for index, host in enumerate(hosts):
        bars = tmp_path / host / "bars"
        for partition in sorted((market / "bars").iterdir())[index::2]:
            shutil.copytree(partition, bars / partition.name)
        (tmp_path / host / "resourceconfig.json").write_text(json.dumps({"current_host": host, "hosts": hosts}))
        run_features(bars, market / "tweets", sharded, SETTINGS, universe=market / "universe.csv", logger=LOG,
                     resource_config=tmp_path / host / "resourceconfig.json")
    for source in (features, sharded):
        table = load_feature_table(source)
        target = tmp_path / f"narrowed-{source.name}"
        shutil.copytree(features, target)  # an earlier run's full table: replaced, not kept
        (target / "shards").mkdir()
        selected = table.feature_columns[:3]
        narrowed_copy(table, target, selected, {"selected": selected})
        narrowed = load_feature_table(target)
        assert narrowed.feature_columns == selected
        assert not (target / "shards").exists()
        assert set(narrowed.manifest["files"]) == {"features.parquet", "folds.json", "selected_features.json"}
        pd.testing.assert_frame_equal(narrowed.frame[["ticker", "ts", *selected, "label"]].reset_index(drop=True),
                                      table.frame[["ticker", "ts", *selected, "label"]].reset_index(drop=True))
