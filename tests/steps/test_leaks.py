"""steps.leaks: the clean sample passes; planted look-ahead (in the table or in the code) is caught."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from steps.common.io import describe_files
from steps.common.validation import validate_bars, validate_tweets
from steps.features.build import build_features
from steps.features.settings import FeatureSettings
from steps.features.table import load_feature_table
from steps.leaks.checks.truncation_invariance import choose_cutoffs, choose_tickers, truncation_invariance
from steps.leaks.run import run_checks, run_leaks

ROOT = Path(__file__).resolve().parents[2]


# The fixture table's settings (tests/steps/conftest.py TINY_SETTINGS) as the configured contract.
TINY_CONTRACT = ["--n-folds", "3", "--train-days", "10", "--validation-days", "4", "--holdout-days", "5",
                 "--embargo-bars", "30"]


def _leaks_cli(features: Path, sample: Path, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "steps.leaks", "--features", str(features), "--bars",
                           str(sample / "bars"), "--tweets", str(sample / "tweets"), "--output", str(out),
                           "--cutoffs", "3", *TINY_CONTRACT, *extra], capture_output=True, text=True, cwd=ROOT)


def test_clean_sample_passes_every_check(features_dir: Path, sample_dir: Path, tmp_path: Path,
                                         tiny_settings: FeatureSettings) -> None:
    report = run_leaks(features_dir, sample_dir / "bars", sample_dir / "tweets", tmp_path, cutoffs=3, seed=0,
                       logger=logging.getLogger("test"), contract=tiny_settings)
    assert report["passed"], report
    assert report["summary"] == "no leaks found"
    names = {c["name"] for c in report["checks"]}
    assert {"truncation_invariance", "table_matches_code", "label_alignment", "folds", "duplicates"} <= names
    assert (tmp_path / "leak_report.txt").read_text().startswith("LEAK REPORT: PASSED")


def test_baseline_output_holds_model_monitor_statistics_of_the_training_rows(features_dir: Path, sample_dir: Path,
                                                                          tmp_path: Path) -> None:
    """`--baseline-output`: statistics.json / constraints.json of every feature column over the training rows
    (counted here from folds.json, never the holdout); format and numbers: tests/steps/test_baseline.py."""
    result = _leaks_cli(features_dir, sample_dir, tmp_path / "out", "--baseline-output", str(tmp_path / "baseline"),
                        "--truncation-tickers", "2")
    assert result.returncode == 0, result.stderr
    statistics = json.loads((tmp_path / "baseline" / "statistics.json").read_text())
    constraints = json.loads((tmp_path / "baseline" / "constraints.json").read_text())
    table = load_feature_table(features_dir)
    folds = json.loads((features_dir / "folds.json").read_text())
    holdout = pd.Timestamp(folds["holdout_start"])
    frame = table.frame
    train = frame[(frame["ts"] < holdout) & (frame["label_end"] + pd.Timedelta(seconds=folds["embargo_seconds"])
                                             < holdout)]
    assert 0 < len(train) < len(frame[frame["ts"] < holdout])  # some rows purged before the holdout
    assert statistics["dataset"]["item_count"] == len(train)
    assert [f["name"] for f in statistics["features"]] == table.feature_columns
    assert [f["name"] for f in constraints["features"]] == table.feature_columns
    for feature in statistics["features"]:
        column = train[feature["name"]].replace([np.inf, -np.inf], np.nan)
        numbers = feature["numerical_statistics"]
        assert numbers["common"] == {"num_present": int(column.notna().sum()), "num_missing": int(column.isna().sum())}
        if column.notna().any():
            assert numbers["mean"] == pytest.approx(column.mean(), rel=1e-9, abs=1e-12), feature["name"]
            assert (numbers["min"], numbers["max"]) == (column.min(), column.max())
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["baseline"]["rows"] == len(train)


def _planted(features_dir: Path, tmp_path: Path, plant) -> Path:
    target = tmp_path / "features"
    shutil.copytree(features_dir, target)
    frame = pd.read_parquet(target / "features.parquet")
    frame = plant(frame)
    frame.to_parquet(target / "features.parquet", index=False)
    manifest = json.loads((target / "manifest.json").read_text())
    manifest["feature_columns"] = [c for c in frame.columns if c not in
                                   ("ticker", "ts", "sector", "label", "forward_return", "label_end")]
    manifest["files"] = describe_files(target, ["features.parquet", "folds.json"])  # what the reader checks
    (target / "manifest.json").write_text(json.dumps(manifest))
    return target


def test_planted_future_column_fails_and_strict_exits_1(features_dir: Path, sample_dir: Path, tmp_path: Path) -> None:
    def plant(frame: pd.DataFrame) -> pd.DataFrame:
        # ret_5 of the next decision row: a feature shifted one step into the future.
        frame["ret_5_next"] = frame.groupby("ticker")["ret_5"].shift(-1)
        return frame

    leaky = _planted(features_dir, tmp_path, plant)
    result = _leaks_cli(leaky, sample_dir, tmp_path / "out")
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "out" / "leak_report.json").read_text())
    assert report["passed"] is False
    failed = {c["name"]: c for c in report["checks"] if not c["passed"]}
    assert "ret_5_next" in failed["table_matches_code"]["columns"]
    # The one-line summary the pipeline's Fail-leaks message carries names the check and the column.
    assert "table_matches_code (" in report["summary"] and "ret_5_next" in report["summary"]
    strict = _leaks_cli(leaky, sample_dir, tmp_path / "out2", "--strict")
    assert strict.returncode == 1
    assert (tmp_path / "out2" / "leak_report.json").exists()


def test_overwritten_feature_with_centred_window_is_named(features_dir: Path, sample_dir: Path,
                                                          tmp_path: Path) -> None:
    def plant(frame: pd.DataFrame) -> pd.DataFrame:
        frame["ret_10"] = frame.groupby("ticker")["ret_10"].transform(
            lambda s: s.rolling(3, center=True, min_periods=1).mean())
        return frame

    leaky = _planted(features_dir, tmp_path, plant)
    report = run_leaks(leaky, sample_dir / "bars", sample_dir / "tweets", tmp_path / "out", cutoffs=2, seed=1,
                       logger=logging.getLogger("test"))
    check = next(c for c in report["checks"] if c["name"] == "table_matches_code")
    assert not report["passed"] and check["columns"] == ["ret_10"]


def test_planted_label_copy_is_flagged_by_association(features_dir: Path, sample_dir: Path, tmp_path: Path) -> None:
    leaky = _planted(features_dir, tmp_path, lambda f: f.assign(future=f["forward_return"] * 3))
    report = run_leaks(leaky, sample_dir / "bars", sample_dir / "tweets", tmp_path / "out", cutoffs=1, seed=0,
                       logger=logging.getLogger("test"))
    check = next(c for c in report["checks"] if c["name"] == "target_leakage")
    assert not check["passed"] and check["columns"] == ["future"]


def test_leaky_code_fails_truncation_invariance(features_dir: Path, market) -> None:
    def leaky_build(bars, tweets, settings, **kwargs):
        frame = build_features(bars, tweets, settings, **kwargs)
        # A centred window: the value at t reads the next decision row.
        frame["ret_60"] = frame.groupby("ticker")["ret_60"].transform(
            lambda s: s.rolling(3, center=True, min_periods=1).mean())
        return frame

    table = load_feature_table(features_dir)
    bars, tweets = validate_bars(market.bars, "bars"), validate_tweets(market.tweets, "tweets")
    results = {r.name: r for r in run_checks(table, bars, tweets, cutoffs=3, seed=0, build=leaky_build)}
    assert not results["truncation_invariance"].passed
    assert results["truncation_invariance"].columns == ["ret_60"]


def _peer_look_ahead_build(bars, tweets, settings, **kwargs):
    """A cross-ticker leak: sec_rel_ret at t subtracts the *other* tickers of the sector at their next decision
    row (a misaligned sector join). A ticker alone in its sector of a sample has no peer to leak from."""
    frame = build_features(bars, tweets, settings, **kwargs)
    w = settings.windows[0]
    ret = frame[f"ret_{w}"]
    ahead = ret.groupby(frame["ticker"]).shift(-1)
    keys = [frame["sector"], frame["ts"]]
    total, count = ahead.groupby(keys).transform("sum"), ahead.groupby(keys).transform("count")
    peers = (total - ahead.fillna(0.0)) / (count - ahead.notna())
    frame[f"sec_rel_ret_{w}"] = ret - peers.fillna(0.0)
    return frame


def test_sampled_tickers_come_in_sector_pairs_so_a_peer_look_ahead_is_caught(features_dir: Path, market) -> None:
    table = load_feature_table(features_dir)
    bars, tweets = validate_bars(market.bars, "bars"), validate_tweets(market.tweets, "tweets")
    sectors = table.manifest["sectors"]
    # The only sector with two tickers is Information Technology: every 2-ticker sample is that pair.
    assert {tuple(choose_tickers(bars, 2, seed, sectors)) for seed in range(10)} == {("AAPL", "MSFT")}
    assert len(set(choose_tickers(bars, 3, 0, sectors)) & {"AAPL", "MSFT"}) == 2
    # Why it matters: on a sample of singletons the leak is invisible ...
    settings = FeatureSettings.from_json(table.manifest["settings"])
    cutoffs = choose_cutoffs(table.frame, 3, 0)
    alone = truncation_invariance(None, bars, tweets, settings, sectors, cutoffs, _peer_look_ahead_build,
                                  ["JPM", "XOM"])
    assert alone.passed
    # ... and on the pair the step samples it is caught, whatever the seed.
    for seed in range(3):
        results = {r.name: r for r in run_checks(table, bars, tweets, cutoffs=3, seed=seed, truncation_tickers=2,
                                                 build=_peer_look_ahead_build)}
        check = results["truncation_invariance"]
        assert not check.passed and check.columns == [f"sec_rel_ret_{settings.windows[0]}"], check.details
        assert check.data["tickers"] == ["AAPL", "MSFT"]


def test_purge_violation_is_caught(features_dir: Path, sample_dir: Path, tmp_path: Path) -> None:
    target = _planted(features_dir, tmp_path, lambda f: f)
    folds = json.loads((target / "folds.json").read_text())
    folds["embargo_seconds"] = 0
    (target / "folds.json").write_text(json.dumps(folds))
    manifest = json.loads((target / "manifest.json").read_text())  # a writer that got the folds wrong, listed
    manifest["files"] = describe_files(target, ["features.parquet", "folds.json"])
    (target / "manifest.json").write_text(json.dumps(manifest))
    report = run_leaks(target, sample_dir / "bars", sample_dir / "tweets", tmp_path / "out", cutoffs=1, seed=0,
                       logger=logging.getLogger("test"))
    check = next(c for c in report["checks"] if c["name"] == "folds")
    assert not check["passed"] and "embargo" in check["details"]


def test_missing_manifest_is_bad_input(features_dir: Path, sample_dir: Path, tmp_path: Path) -> None:
    target = _planted(features_dir, tmp_path, lambda f: f)
    (target / "manifest.json").unlink()
    result = _leaks_cli(target, sample_dir, tmp_path / "out")
    assert result.returncode == 2
    assert "manifest.json" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


# --- one planted leak of each kind, each caught by the check named in the issue -----------------------------

def _check(report: dict, name: str) -> dict:
    return next(c for c in report["checks"] if c["name"] == name)


def _leaks(features: Path, sample: Path, out: Path, **kwargs) -> dict:
    return run_leaks(features, sample / "bars", sample / "tweets", out, cutoffs=kwargs.pop("cutoffs", 2), seed=0,
                     logger=logging.getLogger("test"), **kwargs)


def test_clean_sample_passes_every_named_check(features_dir: Path, sample_dir: Path, tmp_path: Path,
                                               tiny_settings: FeatureSettings) -> None:
    report = _leaks(features_dir, sample_dir, tmp_path, truncation_tickers=2, contract=tiny_settings)
    assert {c["name"]: c["passed"] for c in report["checks"]} == {
        "settings_contract": True, "past_future_asymmetry": True, "causality": True, "truncation_invariance": True,
        "table_matches_code": True, "label_alignment": True, "labels_match_bars": True,
        "timestamp_alignment": True, "folds": True, "duplicates": True, "target_leakage": True}
    assert "tweet_count_60m" in _check(report, "timestamp_alignment")["details"]
    rows = len(load_feature_table(features_dir).frame)
    assert f"rows verified causal: {rows} of {rows}" in _check(report, "causality")["details"]
    assert report["thresholds"]["max_single_feature_auc"] == 0.75


def test_feature_shifted_one_bar_into_the_future_fails_truncation(features_dir: Path, market) -> None:
    def leaky_build(bars, tweets, settings, **kwargs):
        ahead = bars.copy()  # every price feature at t reads the close of bar t+1
        ahead["close"] = ahead.groupby("ticker")["close"].shift(-1).fillna(ahead["close"])
        return build_features(ahead, tweets, settings, **kwargs)

    table = load_feature_table(features_dir)
    bars, tweets = validate_bars(market.bars, "bars"), validate_tweets(market.tweets, "tweets")
    results = {r.name: r for r in run_checks(table, bars, tweets, cutoffs=3, seed=0, build=leaky_build)}
    assert not results["truncation_invariance"].passed
    assert {"ret_5", "ret_60", "rsi_14"} <= set(results["truncation_invariance"].columns)


def test_tweet_counted_before_its_ingest_lag_fails_timestamp_alignment(features_dir: Path, sample_dir: Path,
                                                                        market, tmp_path: Path) -> None:
    table = load_feature_table(features_dir)
    no_lag = FeatureSettings.from_json(table.manifest["settings"]).replace(ingest_lag_seconds=0)
    eager = build_features(validate_bars(market.bars, "bars"), validate_tweets(market.tweets, "tweets"), no_lag)
    sentiment = [c for c in eager.columns if c.startswith(("sent_", "tweet_count_"))]

    def plant(frame: pd.DataFrame) -> pd.DataFrame:
        merged = frame.drop(columns=sentiment).merge(eager[["ticker", "ts", *sentiment]], on=["ticker", "ts"])
        return merged[frame.columns]

    report = _leaks(_planted(features_dir, tmp_path, plant), sample_dir, tmp_path / "out")
    check = _check(report, "timestamp_alignment")
    assert not check["passed"]
    assert {"tweet_count_60m", "sent_mean_5m", "sent_sum_10m"} <= set(check["columns"])
    assert "no ingest lag" in check["details"]
    assert "timestamp_alignment (" in report["summary"]


def test_label_window_overlapping_validation_fails_folds(features_dir: Path, sample_dir: Path,
                                                         tmp_path: Path) -> None:
    # label_end understated to one minute after ts: purging by label_end then keeps train rows whose real
    # 31-bar label window runs into the validation window.
    leaky = _planted(features_dir, tmp_path, lambda f: f.assign(label_end=f["ts"] + pd.Timedelta(minutes=1)))
    report = _leaks(leaky, sample_dir, tmp_path / "out")
    check = _check(report, "folds")
    assert not check["passed"] and "label window (from the bars)" in check["details"]
    assert "folds (" in report["summary"]


def test_holdout_rows_in_a_fold_fail_folds(features_dir: Path, sample_dir: Path, tmp_path: Path) -> None:
    target = _planted(features_dir, tmp_path, lambda f: f)
    folds = json.loads((target / "folds.json").read_text())
    moved = tmp_path / "folds_into_holdout.json"
    folds["folds"][-1]["validation_end"] = folds["holdout_end"]
    moved.write_text(json.dumps(folds))
    # --folds names the fold file apart from the features folder (the CLI)
    result = _leaks_cli(target, sample_dir, tmp_path / "out", "--folds", str(moved), "--strict")
    assert result.returncode == 1, result.stderr
    check = _check(json.loads((tmp_path / "out" / "leak_report.json").read_text()), "folds")
    assert not check["passed"] and "holdout" in check["details"]


def test_copied_label_column_fails_target_leakage(features_dir: Path, sample_dir: Path, tmp_path: Path) -> None:
    leaky = _planted(features_dir, tmp_path, lambda f: f.assign(label_copy=f["label"].astype("float64")))
    report = _leaks(leaky, sample_dir, tmp_path / "out")
    check = _check(report, "target_leakage")
    assert not check["passed"] and check["columns"] == ["label_copy"] and "AUC 1.000" in check["details"]


def test_feature_correlated_with_the_future_not_the_past_fails_target_leakage(features_dir: Path, sample_dir: Path,
                                                                               tmp_path: Path) -> None:
    def plant(frame: pd.DataFrame) -> pd.DataFrame:
        noise = np.random.default_rng(0).standard_normal(len(frame)) * frame["forward_return"].std() * 1.5
        return frame.assign(hint=frame["forward_return"] + noise)  # AUC ~0.7: under the AUC limit

    report = _leaks(_planted(features_dir, tmp_path, plant), sample_dir, tmp_path / "out")
    check = _check(report, "target_leakage")
    assert not check["passed"] and check["columns"] == ["hint"]
    assert "corr with future return" in check["details"] and "AUC" not in check["details"].split("hint:")[1]


def test_row_duplicated_into_the_holdout_fails_duplicates(features_dir: Path, sample_dir: Path,
                                                          tmp_path: Path) -> None:
    folds = json.loads((features_dir / "folds.json").read_text())
    holdout_start = pd.Timestamp(folds["holdout_start"])

    def plant(frame: pd.DataFrame) -> pd.DataFrame:
        columns = load_feature_table(features_dir).feature_columns
        source, target = frame.index[frame["ts"] < holdout_start][100], frame.index[frame["ts"] >= holdout_start][5]
        frame.loc[target, columns] = frame.loc[source, columns].to_numpy()
        return frame

    report = _leaks(_planted(features_dir, tmp_path, plant), sample_dir, tmp_path / "out")
    check = _check(report, "duplicates")
    assert not check["passed"] and "and the holdout" in check["details"]
