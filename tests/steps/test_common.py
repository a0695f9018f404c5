"""steps.common: CLI guard, bools, log format, atomic writes, reading tables, folds."""

from __future__ import annotations

import json
import logging
import re

import numpy as np
import pandas as pd
import pytest

from steps.common.cli import main_guard, parse_bool
from steps.common.errors import StepInputError
from steps.common.folds import build_folds, fold_masks, holdout_mask, load_folds, save_folds
from steps.common.io import read_table, write_json, write_parquet
from steps.common.logging import StepTimer, get_logger


@pytest.mark.parametrize(("text", "expected"), [("true", True), ("False", False), ("1", True), ("0", False),
                                                ("yes", True), ("NO", False)])
def test_parse_bool_accepts_sagemaker_renderings(text: str, expected: bool) -> None:
    assert parse_bool(text) is expected


@pytest.mark.parametrize("word", ["maybe", "y", "n", "", "ture"])
def test_parse_bool_rejects_other_words(word: str) -> None:
    """One reading for the whole project (pipelines' environment switches use it too): "y" is not a boolean."""
    with pytest.raises(Exception, match="true/1/yes/on/false/0/no/off"):
        parse_bool(word)


def test_main_guard_turns_input_error_into_exit_2_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    def main(argv):
        raise StepInputError("has dtype object, expected numbers", file="bars/x.parquet", column="close",
                             fix="cast it to float64")

    assert main_guard(main, []) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "bars/x.parquet" in err and "'close'" in err and "fix:" in err
    assert "Traceback" not in err


def test_text_log_format(capsys: pytest.CaptureFixture[str]) -> None:
    logger = get_logger("features")
    logger.info("hello %d", 3)
    line = capsys.readouterr().err.strip()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ features INFO hello 3", line)


def test_json_log_format_and_timer(capsys: pytest.CaptureFixture[str]) -> None:
    logger = get_logger("train", "json")
    timer = StepTimer(logger)
    with timer.block("fit"):
        pass
    record = json.loads(capsys.readouterr().err.strip())
    assert record["step"] == "train" and record["level"] == "INFO" and "fit took" in record["message"]
    assert set(timer.as_metrics()) == {"fit", "total"}


def test_atomic_write_leaves_nothing_on_failure(tmp_path) -> None:
    with pytest.raises(TypeError):
        write_json({"bad": object()}, tmp_path / "out.json")
    assert list(tmp_path.iterdir()) == []


def test_read_table_hive_partitioned_and_csv(tmp_path) -> None:
    frame = pd.DataFrame({"ticker": ["A", "A", "B"], "x": [1.0, 2.0, 3.0]})
    frame.to_parquet(tmp_path / "hive", partition_cols=["ticker"])
    back = read_table(tmp_path / "hive").sort_values("x").reset_index(drop=True)
    assert back["ticker"].tolist() == ["A", "A", "B"]
    (tmp_path / "csv").mkdir()
    frame.to_csv(tmp_path / "csv" / "a.csv", index=False)
    assert len(read_table(tmp_path / "csv")) == 3
    with pytest.raises(StepInputError, match="no parquet or CSV"):
        (tmp_path / "empty").mkdir()
        read_table(tmp_path / "empty")
    write_parquet(frame, tmp_path / "one.parquet")
    assert len(read_table(tmp_path / "one.parquet")) == 3


def _minute_ts(days: int) -> pd.Series:
    sessions = pd.bdate_range("2025-03-03", periods=days)
    local = [pd.Timestamp(d) + pd.Timedelta(hours=9, minutes=30 + m) for d in sessions for m in range(1, 391)]
    return pd.Series(pd.DatetimeIndex(local).tz_localize("America/New_York").tz_convert("UTC"))


def test_folds_layout_purge_and_embargo(tmp_path) -> None:
    ts = _minute_ts(20)
    folds = build_folds(ts, n_folds=2, train_days=5, validation_days=3, holdout_days=4, embargo_bars=30)
    assert folds.days["total"] == 20
    f0, f1 = folds.folds
    assert f0.train_end < f0.validation_start <= f0.validation_end < f1.validation_start
    assert f1.validation_end < folds.holdout_start
    assert folds.embargo == pd.Timedelta(minutes=30)
    # Rows every 15 minutes with a 30-bar label.
    # Rows every 15 minutes; the label ends 31 bars later (next morning for the last rows of a day).
    bars = pd.DataFrame({"ts": ts, "label_end": ts.shift(-31)})
    rows = bars[(ts.dt.minute % 15 == 0) & bars["label_end"].notna()].reset_index(drop=True)
    masks = fold_masks(rows, folds)
    for fold, (train, validation) in zip(folds.folds, masks, strict=True):
        assert train.any() and validation.any()
        assert (rows.loc[train, "label_end"] + pd.Timedelta(minutes=30) < fold.validation_start).all()
        # The rows that were purged are exactly the train-window rows whose label + embargo reach validation.
        in_window = (rows["ts"] >= fold.train_start) & (rows["ts"] <= fold.train_end)
        purged = in_window & ~train
        assert (rows.loc[purged, "label_end"] + pd.Timedelta(minutes=30) >= fold.validation_start).all()
        assert purged.sum() > 0
        assert not (validation & holdout_mask(rows, folds)).any()
    save_folds(folds, tmp_path / "folds.json")
    assert load_folds(tmp_path / "folds.json").to_json() == folds.to_json()
    assert np.array_equal(fold_masks(rows, json.loads((tmp_path / "folds.json").read_text()))[0][0], masks[0][0])


def test_folds_need_enough_days() -> None:
    with pytest.raises(StepInputError, match="trading days"):
        build_folds(_minute_ts(10), n_folds=3, train_days=5, validation_days=3, holdout_days=4, embargo_bars=0)


def test_logger_does_not_propagate() -> None:
    assert get_logger("x").propagate is False
    assert logging.getLogger("steps.x").handlers


def test_a_folder_with_both_parquet_and_csv_is_refused_not_half_read(tmp_path) -> None:
    folder = tmp_path / "bars"
    folder.mkdir()
    pd.DataFrame({"ticker": ["AAA"], "x": [1]}).to_parquet(folder / "AAA.parquet")
    pd.DataFrame({"ticker": ["BBB"], "x": [2]}).to_csv(folder / "BBB.csv", index=False)
    with pytest.raises(StepInputError, match=r"both parquet \(1\) and CSV \(1\) files, e\.g\. BBB\.csv") as caught:
        read_table(folder, name="bars")
    assert caught.value.file == str(folder)
