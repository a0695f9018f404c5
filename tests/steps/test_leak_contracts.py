"""Class 2 of issue 16: the leak step's contract comes from the configuration, not from the table under test.

A table built with a smaller ingest lag than configured (0 s against 60 s: tweets counted the moment they are
written, before the pipeline could have read them) must fail by name, whatever its manifest says.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from steps.common.io import describe_files
from steps.features.run import run_features
from steps.features.settings import FeatureSettings
from steps.leaks.contracts import settings_contract
from steps.leaks.run import run_leaks

ROOT = Path(__file__).resolve().parents[2]
TINY_CONTRACT = ["--n-folds", "3", "--train-days", "10", "--validation-days", "4", "--holdout-days", "5",
                 "--embargo-bars", "30"]  # tests/steps/conftest.py TINY_SETTINGS, ingest lag at its 60 s default


@pytest.fixture(scope="module")
def lag_zero_table(tmp_path_factory: pytest.TempPathFactory, sample_dir: Path, universe_csv: Path,
                   tiny_settings: FeatureSettings) -> Path:
    """The sample's features built with ingest_lag_seconds=0 by the real feature step (its manifest says 0)."""
    out = tmp_path_factory.mktemp("lag0")
    run_features(sample_dir / "bars", sample_dir / "tweets", out, tiny_settings.replace(ingest_lag_seconds=0.0),
                 universe=universe_csv, logger=logging.getLogger("test"))
    return out


def _checks(report: dict) -> dict[str, dict]:
    return {c["name"]: c for c in report["checks"]}


def test_a_table_built_with_a_smaller_lag_than_configured_fails_settings_contract(
        lag_zero_table: Path, sample_dir: Path, tmp_path: Path, tiny_settings: FeatureSettings) -> None:
    assert tiny_settings.ingest_lag_seconds == 60
    report = run_leaks(lag_zero_table, sample_dir / "bars", sample_dir / "tweets", tmp_path, cutoffs=1, seed=0,
                       logger=logging.getLogger("test"), contract=tiny_settings)
    contract = _checks(report)["settings_contract"]
    assert not contract["passed"] and contract["columns"] == ["ingest_lag_seconds"]
    assert "ingest_lag_seconds 0.0 in the table, 60.0 configured" in contract["details"]
    assert report["summary"].startswith("4 failed check(s): settings_contract (ingest_lag_seconds); causality (")
    # The replay, the recount and the recomputation use the configured 60 s, not the manifest's 0 s, so they fail too
    checks = _checks(report)
    assert not checks["causality"]["passed"] and "sent_5m" in checks["causality"]["columns"]
    assert not checks["timestamp_alignment"]["passed"]
    assert "no ingest lag" in checks["timestamp_alignment"]["details"]
    assert not checks["table_matches_code"]["passed"]
    assert report["contract"]["ingest_lag_seconds"] == 60


def test_a_manifest_that_claims_the_configured_lag_does_not_hide_a_lag_zero_table(
        lag_zero_table: Path, sample_dir: Path, tmp_path: Path, tiny_settings: FeatureSettings) -> None:
    """The contract check reads the manifest; the recount reads the tweets: editing the manifest moves the failure
    from settings_contract to the checks that recompute from the data."""
    forged = tmp_path / "forged"
    shutil.copytree(lag_zero_table, forged)
    manifest = json.loads((forged / "manifest.json").read_text())
    manifest["settings"]["ingest_lag_seconds"] = 60.0
    manifest["files"] = describe_files(forged, ["features.parquet", "folds.json"])
    (forged / "manifest.json").write_text(json.dumps(manifest))
    report = run_leaks(forged, sample_dir / "bars", sample_dir / "tweets", tmp_path / "out", cutoffs=1, seed=0,
                       logger=logging.getLogger("test"), contract=tiny_settings)
    checks = _checks(report)
    assert checks["settings_contract"]["passed"]
    assert not checks["timestamp_alignment"]["passed"] and not checks["table_matches_code"]["passed"]
    assert "tweet_count_60m" in checks["timestamp_alignment"]["columns"]


def test_the_cli_takes_the_contract_as_arguments_and_strict_exits_1(lag_zero_table: Path, sample_dir: Path,
                                                                   tmp_path: Path) -> None:
    def leaks(out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "steps.leaks", "--features", str(lag_zero_table), "--bars",
                               str(sample_dir / "bars"), "--tweets", str(sample_dir / "tweets"), "--output", str(out),
                               "--cutoffs", "1", "--truncation-tickers", "2", *TINY_CONTRACT, *extra],
                              capture_output=True, text=True, cwd=ROOT, timeout=600)

    configured = leaks(tmp_path / "configured", "--strict")  # the default lag (60 s) is the contract
    assert configured.returncode == 1, configured.stderr
    report = json.loads((tmp_path / "configured" / "leak_report.json").read_text())
    assert "settings_contract (ingest_lag_seconds)" in report["summary"]
    # told the table's own lag, every check passes: the verdict follows the configuration
    as_built = leaks(tmp_path / "as_built", "--ingest-lag-seconds", "0", "--strict")
    assert as_built.returncode == 0, as_built.stderr
    bad = leaks(tmp_path / "bad", "--windows", "1,5")  # a contract no feature build could have: bad input
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert bad.stderr.strip().splitlines() == ["error: command line: column 'windows': windows must be bar counts "
                                               ">= 2, e.g. 5,10,60 (got [1, 5]); fix: pass a valid --windows"]
    assert not (tmp_path / "bad").exists()


def test_without_a_configured_contract_the_check_fails_rather_than_trusting_the_manifest(
        features_dir: Path, sample_dir: Path, tmp_path: Path) -> None:
    report = run_leaks(features_dir, sample_dir / "bars", sample_dir / "tweets", tmp_path, cutoffs=1, seed=0,
                       logger=logging.getLogger("test"))
    contract = _checks(report)["settings_contract"]
    assert not contract["passed"] and "no configured settings were given" in contract["details"]
    assert [c["name"] for c in report["checks"] if not c["passed"]] == ["settings_contract"]


def test_every_setting_that_differs_or_is_missing_is_named() -> None:
    configured = FeatureSettings(frequency="1d", windows=(5, 10, 20), sample_every_bars=1, label_horizon_bars=1)
    recorded = {**configured.to_json(), "windows": [5, 10, 60], "label_horizon_bars": 1.0, "ingest_lag_seconds": 60}
    del recorded["embargo_bars"]
    result = settings_contract(recorded, configured, "features/manifest.json")
    assert not result.passed and result.columns == ["embargo_bars", "windows"]  # 1.0 and 1 are one horizon
    assert "embargo_bars '(missing)' in the table" in result.details and "features/manifest.json" in result.details
    assert settings_contract(configured.to_json(), configured, "m.json").passed
    assert not settings_contract(None, configured, "m.json").passed
    forged = {**configured.to_json(), "include_sentiment": 1}  # a bool must be a bool, not a truthy number
    assert settings_contract(forged, configured, "m.json").columns == ["include_sentiment"]
