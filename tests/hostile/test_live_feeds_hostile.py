"""Issue 29, class 8: live feeds that lie. An outlier stamp is quarantined alone, deliveries are idempotent,
a file still being written is judged later, temporaries are not read, a file without a trained column is
refused, a non-finite feature quarantines its row, and the monitor refuses bad score files on one line."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from steps.common.errors import StepInputError
from steps.features.engine import FeatureEngine
from steps.features.settings import FeatureSettings
from steps.live.monitor import read_scores
from steps.live.scorer import FolderFollower, LiveScorer
from steps.sample_data.generator import generate_market

UNIVERSE = pd.DataFrame({"ticker": ["AAPL", "MSFT", "JPM", "XOM"],
                         "sector": ["Information Technology", "Information Technology", "Financials", "Energy"]})
SETTINGS = FeatureSettings(n_folds=3, train_days=10, validation_days=4, holdout_days=5, embargo_bars=30)
SECTORS = dict(zip(UNIVERSE["ticker"], UNIVERSE["sector"], strict=True))
LOG = logging.getLogger("test")


class ConstantModel:
    """A model stand-in: the same probability for every row (what is scored is what these tests count)."""

    def score(self, rows: pd.DataFrame, columns: list[str]) -> np.ndarray:
        return np.full(len(rows), 0.5)


@pytest.fixture(scope="module")
def market():
    return generate_market(UNIVERSE, days=4, seed=5)


def _scorer() -> LiveScorer:
    engine = FeatureEngine(SETTINGS, SECTORS, expected=list(SECTORS))
    return LiveScorer(engine, ConstantModel(), ["ret_5"], "local")


def _feed(root: Path, market, *, tweets: bool = True) -> Path:
    """One bars file per session (and one tweets file per session), named in time order."""
    (root / "bars").mkdir(parents=True)
    (root / "tweets").mkdir()
    day = market.bars["ts"].dt.tz_convert("America/New_York").dt.date
    for k, (_, rows) in enumerate(market.bars.groupby(day)):
        rows.to_parquet(root / "bars" / f"{k:03d}-b.parquet")
    if tweets:
        tday = market.tweets["created_at"].dt.tz_convert("America/New_York").dt.date
        for k, (_, rows) in enumerate(market.tweets.groupby(tday)):
            rows.to_parquet(root / "tweets" / f"{k:03d}-a.parquet")
    return root


def _follow(root: Path, **options) -> tuple[FolderFollower, LiveScorer]:
    scorer = _scorer()
    follower = FolderFollower(root, set(SECTORS), poll_s=0.01, idle_s=0.2, **options)
    follower.follow(scorer, LOG)
    return follower, scorer


@pytest.fixture(scope="module")
def clean(market, tmp_path_factory) -> LiveScorer:
    return _follow(_feed(tmp_path_factory.mktemp("clean"), market))[1]


@pytest.mark.parametrize("ahead", [pd.DateOffset(years=3), pd.Timedelta(days=40), pd.Timedelta(days=11)])
def test_one_bar_stamped_far_ahead_is_quarantined_alone(tmp_path: Path, market, clean, ahead) -> None:
    root = _feed(tmp_path, market)
    first = root / "bars" / "000-b.parquet"
    bars = pd.read_parquet(first)
    bars.loc[bars.index[-1], "ts"] = bars["ts"].iloc[-1] + ahead  # last row of the ticker: still sorted
    bars.to_parquet(first)
    follower, scorer = _follow(root)
    assert follower.quarantined_rows == 1 and follower.quarantined[0]["file"] == str(first)
    assert len(clean.table()) - 1 <= len(scorer.table()) <= len(clean.table())  # at most its own row is lost
    assert scorer.engine.dropped_bars == 0 and not follower.rejected


def test_the_writers_temporaries_are_never_read(tmp_path: Path, market, clean) -> None:
    root = _feed(tmp_path, market)
    (root / "bars" / ".tmp-000-b.parquet").write_bytes(b"half a file")
    (root / "tweets" / "_tmp-1.parquet").write_bytes(b"half a file")
    shutil.copy(root / "bars" / "001-b.parquet", root / "bars" / ".tmp-999-b.parquet")
    follower, scorer = _follow(root)
    assert not follower.rejected and follower.duplicate_files == 0
    assert len(scorer.table()) == len(clean.table())


def test_a_file_being_written_is_judged_only_once_it_holds_still(tmp_path: Path) -> None:
    follower = FolderFollower(tmp_path, None)
    growing = tmp_path / "x.parquet"
    growing.write_bytes(b"PAR1")
    assert not follower._settled(growing)
    assert follower._settled(growing)
    with growing.open("ab") as handle:
        handle.write(b"more")
    assert not follower._settled(growing) and follower._settled(growing)
    assert not follower._settled(tmp_path / "gone.parquet")


def test_the_same_tweets_under_two_names_or_reordered_count_once(tmp_path: Path, market, clean) -> None:
    root = _feed(tmp_path, market)
    shutil.copy(root / "tweets" / "001-a.parquet", root / "tweets" / "001-a-again.parquet")
    again = pd.read_parquet(root / "tweets" / "002-a.parquet")
    again.iloc[::-1].to_parquet(root / "tweets" / "002-b-resent.parquet")  # other bytes, same tweets
    follower, scorer = _follow(root)
    assert follower.duplicate_files == 1 and follower.duplicate_tweets == len(again)
    pd.testing.assert_frame_equal(scorer.table(), clean.table())


def test_the_same_bars_file_twice_is_skipped_not_dropped(tmp_path: Path, market, clean) -> None:
    root = _feed(tmp_path, market)
    shutil.copy(root / "bars" / "001-b.parquet", root / "bars" / "001-c.parquet")
    follower, scorer = _follow(root)
    assert follower.duplicate_files == 1 and scorer.engine.dropped_bars == 0
    pd.testing.assert_frame_equal(scorer.table(), clean.table())


def test_a_late_session_is_counted_as_dropped(tmp_path: Path, market) -> None:
    root = _feed(tmp_path, market, tweets=False)
    late = root / "bars" / "001-b.parquet"
    late.rename(root / "bars" / "999-b.parquet")  # session 2 arrives after the last one
    _follower, scorer = _follow(root)
    assert scorer.engine.dropped_bars == len(pd.read_parquet(root / "bars" / "999-b.parquet"))


@pytest.mark.parametrize("column", ["volume", "high"])
def test_a_bars_file_missing_a_trained_column_is_refused_naming_it(tmp_path: Path, market, column) -> None:
    root = _feed(tmp_path, market, tweets=False)
    path = root / "bars" / "002-b.parquet"
    pd.read_parquet(path).drop(columns=[column]).to_parquet(path)
    follower, _ = _follow(root, required_bar_columns=("open", "high", "low", "volume"))
    assert len(follower.rejected) == 1
    reason = follower.rejected[0]["reason"]
    assert str(path) in reason and f"column '{column}'" in reason and "\n" not in reason


@pytest.mark.parametrize("value", [np.inf, -np.inf])
def test_a_non_finite_feature_quarantines_its_row_and_the_rest_are_scored(value) -> None:
    scorer = _scorer()
    scorer.columns = ["ret_5", "ret_15"]
    rows = pd.DataFrame({"ticker": ["AAPL", "MSFT", "JPM"], "ts": pd.Timestamp("2025-01-02T15:00Z"),
                         "ret_5": [0.1, value, np.nan], "ret_15": [0.0, 0.0, 0.0]})
    scorer.engine.flush = lambda: [rows]  # type: ignore[method-assign]
    scorer.flush()
    assert scorer.table()["ticker"].tolist() == ["AAPL", "JPM"]  # NaN is the model's; inf is not
    assert scorer.quarantined_rows == 1 and scorer.quarantined[0]["column"] == "ret_5"


def _scores(path: Path, **change) -> Path:
    frame = pd.DataFrame({"ticker": ["AAPL", "MSFT"], "ts": pd.to_datetime(["2025-01-02T15:00Z"] * 2),
                          "probability": [0.4, 0.6], "model_package_arn": "arn"}).assign(**change)
    frame.to_parquet(path)
    return path


def test_the_monitor_counts_a_repeated_score_row_once(tmp_path: Path) -> None:
    files = [_scores(tmp_path / "scores-a.parquet"), _scores(tmp_path / "scores-b.parquet")]
    scores, duplicates = read_scores(files)
    assert len(scores) == 2 and duplicates == 2


@pytest.mark.parametrize(("change", "column"), [
    ({"probability": [np.nan, 0.5]}, "probability"),
    ({"probability": [1.5, 0.5]}, "probability"),
    ({"probability": [-0.1, 0.5]}, "probability"),
    ({"probability": ["0.4", "0.5"]}, "probability"),
    ({"ts": ["2025-01-02T15:00Z", "2025-01-02T15:00Z"]}, "ts"),
    ({"ts": pd.to_datetime(["2025-01-02T15:00", "2025-01-02T15:00"])}, "ts"),  # naive
])
def test_the_monitor_refuses_bad_score_rows_on_one_line(tmp_path: Path, change, column) -> None:
    bad = _scores(tmp_path / "scores-x.parquet", **change)
    with pytest.raises(StepInputError) as error:
        read_scores([_scores(tmp_path / "scores-a.parquet"), bad])
    message = str(error.value)
    assert str(bad) in message and f"column '{column}'" in message and "\n" not in message


def test_a_restarted_follower_keeps_one_score_per_ticker_and_time(tmp_path: Path) -> None:
    """A restart on the same feed and output rescores the day's decision times: the day's file keeps the first
    score of each (ticker, ts) and adds only new ones (issue 29: the day's scores were doubled)."""
    import pandas as pd

    from steps.live.scorer import DayScores

    def scores(times: list[str], probability: float) -> pd.DataFrame:
        ts = pd.to_datetime(times, utc=True)
        return pd.DataFrame({"ticker": ["AAPL"] * len(ts) + ["MSFT"] * len(ts), "ts": list(ts) * 2,
                             "probability": probability})

    first = DayScores(tmp_path)
    first.save(scores(["2025-02-03T14:30Z"], 0.61))
    first.save(scores(["2025-02-03T14:35Z"], 0.62))
    restarted = DayScores(tmp_path)  # a new process: the day's file is read back
    restarted.save(scores(["2025-02-03T14:30Z", "2025-02-03T14:35Z"], 0.99))  # the same decision times again
    path = restarted.save(scores(["2025-02-03T14:40Z"], 0.63))

    day = pd.read_parquet(path)
    assert len(day) == 6 and not day.duplicated(["ticker", "ts"]).any()
    assert sorted(day["probability"].round(2).unique()) == [0.61, 0.62, 0.63]  # the first scores stand
