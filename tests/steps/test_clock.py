"""A clock off by whole hours is found from the data (steps/common/clock.py), where every other check passes.

Each shifted input is a generated market (steps.sample_data, so the planted tie between tweet counts and |returns|
exists) with its timestamps moved the way the mistake moves them; the expected offset is computed here with
pandas from the two versions of the same timestamps (stamped minus true), never read from the check.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from steps.common.clock import bars_clock, stream_clock, tweets_clock
from steps.common.errors import StepInputError
from steps.features.inputs import check_clocks
from steps.features.run import run_features
from steps.features.settings import FeatureSettings
from steps.import_prices.run import import_prices
from steps.ingest.sinks import LocalSink
from steps.ingest.writer import PartitionedTweetWriter
from steps.sample_data.generator import GeneratedMarket, generate_market
from steps.sample_data.writer import write_market

NEW_YORK = "America/New_York"
# The tickers of tests/steps/conftest.py's universe (its `universe_csv` fixture) and its tiny settings.
UNIVERSE = pd.DataFrame({"ticker": ["AAPL", "MSFT", "JPM", "XOM"], "sector": ["IT", "IT", "Financials", "Energy"]})
SETTINGS = FeatureSettings(n_folds=3, train_days=10, validation_days=4, holdout_days=5, embargo_bars=30)
EIGHT = pd.DataFrame({"ticker": ["AAPL", "MSFT", "NVDA", "JPM", "BAC", "XOM", "CVX", "JNJ"],
                      "sector": ["IT", "IT", "IT", "Fin", "Fin", "Energy", "Energy", "Health"]})


def _local_labelled_utc(ts: pd.Series) -> pd.Series:
    """The mistake: New York wall-clock times written with a UTC label."""
    return ts.dt.tz_convert(NEW_YORK).dt.tz_localize(None).dt.tz_localize("UTC")


def _offsets_hours(stamped: pd.Series, true: pd.Series) -> set[int]:
    return set(((stamped - true).dt.total_seconds() / 3600).round().astype(int))


def _write(market: GeneratedMarket, root: Path, *, bars: pd.DataFrame | None = None,
           tweets: pd.DataFrame | None = None) -> Path:
    changed = GeneratedMarket(market.bars if bars is None else bars, market.tweets if tweets is None else tweets,
                              market.universe, market.params, market.seed, market.frequency)
    write_market(changed, root)
    return root


@pytest.mark.parametrize(("start", "days"), [("2025-01-02", 10), ("2025-06-02", 10), ("2025-02-24", 20)])
def test_bars_in_new_york_time_labelled_utc_are_refused_with_the_offset(tmp_path: Path, universe_csv: Path,
                                                                         start: str, days: int) -> None:
    """Winter (-5 h), summer (-4 h) and a span across the March DST change (both, each on its own sessions)."""
    market = generate_market(UNIVERSE, days=days, seed=1, start=start)
    shifted = market.bars.assign(ts=_local_labelled_utc(market.bars["ts"]))
    offsets = _offsets_hours(shifted["ts"], market.bars["ts"])
    assert offsets <= {-5, -4} and offsets  # the mistake as the calendar makes it
    root = _write(market, tmp_path / "in", bars=shifted)
    with pytest.raises(StepInputError) as caught:
        run_features(root / "bars", root / "tweets", tmp_path / "out", SETTINGS, universe=universe_csv,
                     logger=logging.getLogger("test"))
    message = str(caught.value)
    assert "\n" not in message and message.startswith(str(root / "bars")) and "column 'ts'" in message
    for offset in offsets:
        assert f"{offset:+d} h on" in message
    assert "New York local times labelled UTC" in message and "tz_localize('America/New_York')" in message
    # The sessions counted per offset are the New York dates with that offset, independently.
    dates = market.bars["ts"].dt.tz_convert(NEW_YORK).dt.date
    for offset in offsets:
        sessions = dates[(shifted["ts"] - market.bars["ts"]).dt.total_seconds() == offset * 3600].nunique()
        assert f"{offset:+d} h on {sessions} sessions" in message
    assert not (tmp_path / "out" / "features.parquet").exists()


def test_warn_mode_builds_and_says_the_offset(tmp_path: Path, caplog) -> None:
    market = generate_market(UNIVERSE, days=10, seed=1)
    shifted = market.bars.assign(ts=_local_labelled_utc(market.bars["ts"]))
    with caplog.at_level(logging.WARNING):
        check_clocks(pl_bars(shifted), market.tweets.iloc[:0], frequency="1min", bars_source="bars.parquet",
                     tweets_source=None, mode="warn", logger=logging.getLogger("test"))
    warned = [r.getMessage() for r in caplog.records if "clock check" in r.getMessage()]
    assert len(warned) == 1 and "bars.parquet: column 'ts'" in warned[0] and "-5 h on 10 sessions" in warned[0]
    with caplog.at_level(logging.INFO):
        caplog.clear()
        check_clocks(pl_bars(shifted), market.tweets, frequency="1min", bars_source="b", tweets_source="t",
                     mode="off", logger=logging.getLogger("test"))
    assert not [r for r in caplog.records if "clock" in r.getMessage()]


def pl_bars(bars: pd.DataFrame):
    from steps.common.validation import validate_bars

    return validate_bars(bars, "bars", as_polars=True)


def test_tweets_three_hours_late_are_refused_with_the_offset(tmp_path: Path) -> None:
    """+3 h: created_at 3 h after the minute the tweet was written in (8 tickers x 30 days: ~10,000 tweets)."""
    universe = tmp_path / "universe.csv"
    EIGHT.to_csv(universe, index=False)
    market = generate_market(EIGHT, days=30, seed=3)
    # the whole file is on the wrong clock: when the counts were read too (engagement_observed_at)
    late = market.tweets.assign(created_at=market.tweets["created_at"] + pd.Timedelta(hours=3),
                                engagement_observed_at=market.tweets["engagement_observed_at"] + pd.Timedelta(hours=3))
    assert _offsets_hours(late["created_at"], market.tweets["created_at"]) == {3}
    root = _write(market, tmp_path / "in", tweets=late)
    with pytest.raises(StepInputError) as caught:
        run_features(root / "bars", root / "tweets", tmp_path / "out", SETTINGS, universe=universe,
                     logger=logging.getLogger("test"))
    message = str(caught.value)
    assert message.startswith(str(root / "tweets")) and "column 'created_at'" in message
    assert "estimated clock offset +3 h" in message and "lead-lag peaks at +3 h" in message
    assert "shift it by -3 h" in message


@pytest.mark.parametrize("hours", [4, -5])
def test_shifted_tweets_are_flagged_at_their_offset(hours: int, caplog) -> None:
    market = generate_market(EIGHT, days=30, seed=3)
    moved = market.tweets["created_at"] + pd.Timedelta(hours=hours)
    verdict = tweets_clock(market.tweets["ticker"], moved, bars_ticker=market.bars["ticker"],
                           bars_ts=market.bars["ts"], close=market.bars["close"])
    assert verdict.level in ("warn", "refuse") and verdict.offset_hours == hours
    assert f"estimated clock offset {hours:+d} h" in verdict.problem
    bars = pl_bars(market.bars)
    tweets = market.tweets.assign(created_at=moved)
    with caplog.at_level(logging.WARNING):
        check_clocks(bars, tweets, frequency="1min", bars_source="b", tweets_source="tweets/", mode="warn",
                     logger=logging.getLogger("test"))
    warned = [r.getMessage() for r in caplog.records if "clock check" in r.getMessage()]
    assert len(warned) == 1 and warned[0].startswith("tweets/: column 'created_at'") and f"{hours:+d} h" in warned[0]


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_unshifted_sample_data_passes(seed: int) -> None:
    """No false alarm on the generator's own market: both checks find lag 0."""
    market = generate_market(EIGHT, days=30, seed=seed)
    bars = bars_clock(market.bars["ts"])
    assert bars.level == "ok" and bars.offset_hours == 0 and bars.figures["sessions"] == 30
    assert bars.figures["share_in_session"] == 1.0
    tweets = tweets_clock(market.tweets["ticker"], market.tweets["created_at"], bars_ticker=market.bars["ticker"],
                          bars_ts=market.bars["ts"], close=market.bars["close"])
    assert tweets.level == "ok" and tweets.offset_hours == 0 and tweets.figures["peak_lag_hours"] == 0


def test_the_sample_builds_with_the_default_refuse_and_says_what_it_found(sample_dir: Path, universe_csv: Path,
                                                                         tmp_path: Path, caplog) -> None:
    with caplog.at_level(logging.INFO):
        run_features(sample_dir / "bars", sample_dir / "tweets", tmp_path, SETTINGS, universe=universe_csv,
                     logger=logging.getLogger("test"))
    said = [r.getMessage() for r in caplog.records if "clock check" in r.getMessage()]
    assert any("'ts'" in s and "fit the 09:30-16:00 New York session" in s for s in said)
    assert any("'created_at'" in s and "at lag 0" in s for s in said)
    assert (tmp_path / "features.parquet").exists()


def test_too_few_tweets_says_so_and_passes(caplog) -> None:
    market = generate_market(UNIVERSE, days=10, seed=1)
    few = market.tweets.iloc[::40].reset_index(drop=True)  # ~40 tweets: late by 3 h, but nothing to judge with
    few = few.assign(created_at=few["created_at"] + pd.Timedelta(hours=3))
    assert len(few) < 300
    with caplog.at_level(logging.INFO):
        check_clocks(pl_bars(market.bars), few, frequency="1min", bars_source="b", tweets_source="t",
                     mode="refuse", logger=logging.getLogger("test"))
    said = [r.getMessage() for r in caplog.records if "created_at" in r.getMessage()]
    assert said == [f"t: column 'created_at': clock check: not enough tweets to check the clock ({len(few)}, 300 "
                    "needed)"]


def test_too_few_sessions_says_so_and_passes() -> None:
    market = generate_market(UNIVERSE, days=2, seed=1)
    verdict = bars_clock(_local_labelled_utc(market.bars["ts"]))
    assert verdict.level == "unknown" and "too few sessions to check the clock (2 with" in verdict.problem


def test_extended_hours_bars_are_not_judged() -> None:
    """Bars from 04:00 to 20:00 New York fit no whole-hour shift of the 6.5-hour session: left alone."""
    days = pd.bdate_range("2025-01-06", periods=5)
    local = [d + pd.Timedelta(minutes=m) for d in days for m in range(4 * 60, 20 * 60)]
    ts = pd.Series(pd.DatetimeIndex(local).tz_localize(NEW_YORK).tz_convert("UTC"))
    verdict = bars_clock(ts)
    assert verdict.level == "unknown" and "extended hours" in verdict.problem
    assert verdict.figures["share_in_session"] == pytest.approx(391 / 960, abs=1e-4)


def test_daily_bars_are_checked_by_their_dates(tmp_path: Path) -> None:
    """Daily bars have no intraday clock: the generator's (stamped at the 16:00 close) pass; dates that fall on
    Sunday-Thursday (midnight-UTC stamps read in New York) are refused by steps.import_prices."""
    daily = generate_market(UNIVERSE, days=30, seed=1, frequency="1d").bars
    verdict = bars_clock(daily["ts"], "1d")
    assert verdict.level == "ok" and verdict.figures["stamped_at_new_york"] == "16:00"
    dates = pd.bdate_range("2025-01-02", periods=30)
    closes = 40 * np.exp(np.cumsum(np.random.default_rng(0).normal(0, 0.01, 30)))
    midnight = pd.DataFrame({"Date": dates.strftime("%Y-%m-%dT00:00:00Z"), "Close": closes.round(4)})
    midnight.to_csv(tmp_path / "AAA.csv", index=False)
    # What the importer makes of them, by pandas: every Monday's close lands on a Sunday.
    read_as = pd.to_datetime(midnight["Date"]).dt.tz_convert(NEW_YORK).dt.day_name()
    assert set(read_as) == {"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday"}
    with pytest.raises(StepInputError) as caught:
        import_prices([str(tmp_path / "AAA.csv")], tmp_path / "out")
    message = str(caught.value)
    assert "column 'ts'" in message and "Sunday-Thursday" in message and "one day early" in message
    assert f"{(read_as.isin(['Saturday', 'Sunday'])).mean():.0%} on weekends" in message
    assert not (tmp_path / "out").exists()
    midnight.assign(Date=dates.strftime("%Y-%m-%d")).to_csv(tmp_path / "AAA.csv", index=False)
    summary = import_prices([str(tmp_path / "AAA.csv")], tmp_path / "plain")
    assert summary["clock_check"]["level"] == "ok"


def test_a_stream_whose_created_at_is_local_time_is_warned_about(tmp_path: Path, caplog) -> None:
    """steps.ingest: rows arrive seconds after they are written; created_at 5 h before arrival is a clock."""
    now = datetime(2026, 1, 15, 15, 0, tzinfo=UTC)
    writer = PartitionedTweetWriter(LocalSink(tmp_path), flush_every=10_000, logger=logging.getLogger("test"))

    def rows(delay: timedelta, n: int = 40, first: int = 0) -> list[dict]:
        return [{"tweet_id": str(first + i), "created_at": pd.Timestamp(now - delay - timedelta(seconds=i)),
                 "ticker": "AAPL", "text": "", "author_id": "", "lang": "en", "like_count": 0, "retweet_count": 0,
                 "reply_count": 0, "quote_count": 0, "ingested_at": pd.Timestamp(now),
                 "engagement_observed_at": pd.Timestamp(now)} for i in range(n)]

    with caplog.at_level(logging.WARNING):
        writer.add(rows(timedelta(seconds=2)))
        writer.flush()
        assert writer.clock is not None and writer.clock.level == "ok" and not caplog.records
        local = pd.Timestamp(now).tz_convert(NEW_YORK).tz_localize(None).tz_localize("UTC").to_pydatetime()
        writer.add(rows(now - local, first=100))  # New York wall clock labelled UTC: 5 h behind in January
        writer.flush()
    assert (now - local) == timedelta(hours=5)
    assert writer.clock.offset_hours == -5 and writer.rows_written == 80  # warned, never dropped
    warned = [r.getMessage() for r in caplog.records]
    assert len(warned) == 1 and "estimated clock offset -5 h" in warned[0] and "created_at" in warned[0]
    replay = stream_clock(pd.Series([pd.Timestamp("2025-03-01", tz="UTC")] * 30), pd.Series([pd.Timestamp(now)] * 30))
    assert replay.level == "unknown" and "replay" in replay.problem


def test_batches_in_turn_check_each_batch_and_the_flag_sets_the_mode(tmp_path: Path, universe_csv: Path) -> None:
    """`--ticker-batches 2`: each batch's bars are checked as they are read; `--clock-check warn` builds."""
    from steps.features.__main__ import parse_args

    market = generate_market(UNIVERSE, days=10, seed=1)
    root = _write(market, tmp_path / "in", bars=market.bars.assign(ts=_local_labelled_utc(market.bars["ts"])))
    with pytest.raises(StepInputError, match=r"column 'ts': .*estimated clock offset -5 h on 10 sessions"):
        run_features(root / "bars", root / "tweets", tmp_path / "out", SETTINGS, universe=universe_csv,
                     logger=logging.getLogger("test"), ticker_batches=2)
    _, configured = parse_args(["--bars", "b", "--output", "o", "--clock-check", "warn"])
    assert configured.clock_check == "warn"
    _, default = parse_args(["--bars", "b", "--output", "o"])
    assert default.clock_check == "refuse"
    with pytest.raises(SystemExit):
        parse_args(["--bars", "b", "--output", "o", "--clock-check", "maybe"])
