"""Building the features in batches of tickers, one after the other (steps/features/in_turn.py): the same table
as the one-pass build, a batch's tickers at a time, and bad batch counts refused in one line."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pandas as pd
import pytest

from steps.common.cli import main_guard
from steps.features import build as build_module
from steps.features import in_turn
from steps.features.__main__ import main as features_main
from steps.features.run import run_features
from steps.features.settings import FeatureSettings
from steps.features.table import load_feature_table
from steps.sample_data.generator import generate_market
from steps.sample_data.writer import load_universe, write_market

ROOT = Path(__file__).resolve().parents[2]
QUICK_SETTINGS = FeatureSettings(n_folds=3, train_days=15, validation_days=5, holdout_days=8)  # the quick profile's


@pytest.fixture(scope="module")
def quick_sample(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The quick profile's market (all 56 tickers, 40 days, seed 7: what `make run` generates) and its universe."""
    universe_csv = ROOT / "configs" / "universe.csv"
    root = tmp_path_factory.mktemp("quick")
    write_market(generate_market(load_universe(universe_csv), days=40, seed=7), root)
    return root, universe_csv


def _same_table(left: Path, right: Path) -> None:
    """Frame, folds and manifest alike (merged shards record no bars_start/bars_end: compared where present)."""
    a, b = load_feature_table(left), load_feature_table(right)
    if "shards" in a.manifest:
        b.manifest["data_range"] = {k: b.manifest["data_range"][k] for k in a.manifest["data_range"]}
    pd.testing.assert_frame_equal(a.frame, b.frame, check_exact=False, rtol=1e-12, atol=1e-15)
    assert a.folds.to_json() == b.folds.to_json()
    assert a.feature_columns == b.feature_columns
    for key in ("rows", "data_range", "fold_coverage", "tickers", "settings", "sectors", "engagement"):
        assert a.manifest[key] == b.manifest[key], key
    assert a.manifest["inputs"]["bar_rows"] == b.manifest["inputs"]["bar_rows"]
    assert a.manifest["inputs"]["tweet_rows"] == b.manifest["inputs"]["tweet_rows"]


def test_the_quick_sample_built_in_turn_equals_the_one_pass_table(quick_sample, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """7 batches of 8 tickers: the market- and sector-relative returns, which need every ticker at each ts, come
    out as in one pass; and no build ever saw more than one batch's tickers (the memory bound)."""
    sample, universe = quick_sample
    logger = logging.getLogger("test")
    run_features(sample / "bars", sample / "tweets", tmp_path / "one", QUICK_SETTINGS, universe=universe, logger=logger)
    seen: list[int] = []
    original = build_module.build_features

    def counting(bars, tweets, settings, **kwargs):
        seen.append(bars["ticker"].n_unique())
        assert set(tweets["ticker"]) <= set(bars["ticker"].unique())  # only the batch's tweets were read
        return original(bars, tweets, settings, **kwargs)

    monkeypatch.setattr(in_turn, "build_features", counting)
    run_features(sample / "bars", sample / "tweets", tmp_path / "turns", QUICK_SETTINGS, universe=universe,
                 logger=logger, ticker_batches=7)
    assert seen == [8] * 7
    _same_table(tmp_path / "turns", tmp_path / "one")
    one = load_feature_table(tmp_path / "one").frame
    assert one["mkt_rel_ret_60"].abs().max() > 0 and one["ticker"].nunique() == 56  # relative returns are live


def test_more_batches_than_tickers_is_one_ticker_a_batch(sample_dir: Path, universe_csv: Path, features_dir: Path,
                                                         tmp_path: Path, tiny_settings) -> None:
    assert in_turn.batches_of(["A", "B", "C"], 10) == [["A"], ["B"], ["C"]]
    assert in_turn.batches_of(["A", "B", "C", "D", "E"], 2) == [["A", "B", "C"], ["D", "E"]]
    run_features(sample_dir / "bars", sample_dir / "tweets", tmp_path / "f", tiny_settings, universe=universe_csv,
                 logger=logging.getLogger("test"), ticker_batches=50)
    _same_table(tmp_path / "f", features_dir)


def test_bars_not_partitioned_by_ticker_are_built_in_one_pass(sample_dir: Path, universe_csv: Path,
                                                              features_dir: Path, tmp_path: Path, tiny_settings,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    from steps.common.io import read_table

    flat = tmp_path / "bars"
    flat.mkdir()
    read_table(sample_dir / "bars").to_parquet(flat / "bars.parquet", index=False)
    assert in_turn.ticker_partitions(flat) is None
    with caplog.at_level(logging.WARNING):
        run_features(flat, sample_dir / "tweets", tmp_path / "f", tiny_settings, universe=universe_csv,
                     logger=logging.getLogger("test"), ticker_batches=3)
    assert "not partitioned as ticker=X/" in caplog.text
    _same_table(tmp_path / "f", features_dir)


@pytest.mark.parametrize("count", ["0", "-2"])
def test_a_batch_count_below_one_is_refused_in_one_line(sample_dir: Path, universe_csv: Path, tmp_path: Path,
                                                        count: str, capsys: pytest.CaptureFixture) -> None:
    code = main_guard(features_main, ["--bars", str(sample_dir / "bars"), "--output", str(tmp_path / "f"),
                                      "--universe", str(universe_csv), "--ticker-batches", count])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "--ticker-batches" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "f").exists() or not any((tmp_path / "f").iterdir())


def test_a_ticker_without_a_column_is_refused_as_in_one_pass(sample_dir: Path, universe_csv: Path, tmp_path: Path,
                                                              tiny_settings) -> None:
    """One ticker's files lack volume: batches cannot build some tickers with volume features and some without;
    the dataset reads the column as missing values there, refused in one line as the one-pass build does."""
    import pyarrow.parquet as pq

    from steps.common.errors import StepInputError

    bars = tmp_path / "bars"
    shutil.copytree(sample_dir / "bars", bars)
    last = sorted(bars.iterdir())[-1]
    for part in last.glob("*.parquet"):
        table = pq.read_table(part)
        pq.write_table(table.drop(["volume"]), part)
    messages = []
    for batches in (1, 4):
        with pytest.raises(StepInputError, match=r"column 'volume': has .* missing") as caught:
            run_features(bars, sample_dir / "tweets", tmp_path / "f", tiny_settings, universe=universe_csv,
                         logger=logging.getLogger("test"), ticker_batches=batches)
        messages.append(str(caught.value).split(":", 2)[-1])
    assert messages[0] == messages[1]
    assert not (tmp_path / "f").exists() or not any((tmp_path / "f").iterdir())


def test_a_ticker_partition_without_rows_is_absent_as_in_one_pass(sample_dir: Path, universe_csv: Path,
                                                                  features_dir: Path, tmp_path: Path,
                                                                  tiny_settings) -> None:
    """A partition whose file holds no rows (an export cut to a window the ticker did not trade in) is a batch of
    nothing: skipped with a warning, the others built, the table the one-pass table."""
    import pyarrow.parquet as pq

    bars = tmp_path / "bars"
    shutil.copytree(sample_dir / "bars", bars)
    donor = next(bars.glob("ticker=AAPL/*.parquet"))
    (bars / "ticker=AAA").mkdir()
    pq.write_table(pq.read_table(donor).slice(0, 0), bars / "ticker=AAA" / "part-0.parquet")
    assert in_turn.ticker_partitions(bars) == ["AAA", "AAPL", "JPM", "MSFT", "XOM"]
    run_features(bars, sample_dir / "tweets", tmp_path / "f", tiny_settings, universe=universe_csv,
                 logger=logging.getLogger("test"), ticker_batches=5)
    _same_table(tmp_path / "f", features_dir)
