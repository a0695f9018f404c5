"""`python -m steps.live`: the holdout replayed through the live scorer and a local steps.serve gives the batch
holdout predictions (issue 18); bad input and a refusing model end it on one line."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipelines.deployment.invoker import LocalServeInvoker
from steps.common.cli import main_guard
from steps.common.folds import load_folds
from steps.evaluate.run import PREDICTIONS_FILE, run_evaluation
from steps.live.__main__ import main
from steps.live.model_client import csv_body

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def served(model_dir: Path):
    invoker = LocalServeInvoker(start_timeout_s=60)
    invoker.attach("live-test", model_dir)
    try:
        yield invoker.url("live-test")
    finally:
        invoker.close()


def test_holdout_replay_through_the_scorer_equals_the_batch_holdout_predictions(
        features_dir: Path, model_dir: Path, sample_dir: Path, served: str, tmp_path: Path) -> None:
    run_evaluation(model_dir, features_dir, tmp_path / "eval", None, logging.getLogger("test"), bootstrap=5)
    batch = pd.read_parquet(tmp_path / "eval" / PREDICTIONS_FILE)
    holdout_start = load_folds(features_dir / "folds.json").holdout_start
    arn = "arn:aws:sagemaker:us-east-1:123456789012:model-package/conviction/1"
    code = main(["--features", str(features_dir), "--bars", str(sample_dir / "bars"), "--tweets",
                 str(sample_dir / "tweets"), "--serve-url", served, "--model-package-arn", arn,
                 "--score-from", holdout_start.isoformat(), "--output", str(tmp_path / "live")])
    assert code == 0
    scores = pd.read_parquet(tmp_path / "live" / "scores.parquet")
    assert list(scores.columns) == ["ticker", "ts", "probability", "model_package_arn"]
    assert (scores["model_package_arn"] == arn).all() and (scores["ts"] >= holdout_start).all()
    joined = batch.merge(scores, on=["ticker", "ts"], how="left")
    assert len(batch) > 300 and joined["probability"].notna().all()  # every batch holdout row was scored live
    np.testing.assert_array_equal(joined["probability"].to_numpy(), joined["prediction"].to_numpy())
    # The live rows past the batch's are the last decision times, whose label window had not closed.
    extra = scores.merge(batch, on=["ticker", "ts"], how="left", indicator=True)
    assert (extra.loc[extra["_merge"] == "left_only", "ts"] > batch["ts"].max()).all()


def test_csv_body_round_trips_every_float_and_sends_nan_as_missing() -> None:
    rows = pd.DataFrame({"ticker": ["AAPL", "JPM"], "a": [0.1 + 0.2, np.nan], "b": [1e-300, -2.5]})
    body = csv_body(rows, ["a", "b"]).decode()
    assert body.splitlines()[0] == "ticker,a,b"
    first, second = (line.split(",") for line in body.splitlines()[1:])
    assert float(first[1]) == 0.1 + 0.2 and float(first[2]) == 1e-300 and second == ["JPM", "", "-2.5"]


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "steps.live", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=120)


def test_bad_inputs_and_a_dead_model_end_on_one_line_with_exit_2(features_dir: Path, sample_dir: Path,
                                                                 tmp_path: Path) -> None:
    bad = tmp_path / "bars.csv"
    pd.DataFrame({"ticker": ["AAPL"], "ts": ["not a time"], "close": [1.0]}).to_csv(bad, index=False)
    cases = [
        (["--features", str(tmp_path / "nowhere"), "--bars", str(bad)], "holds manifest.json"),
        (["--features", str(features_dir), "--bars", str(bad)], "column 'ts'"),
        (["--features", str(features_dir), "--bars", str(sample_dir / "bars"), "--model-columns", "ret_5,bogus"],
         "column 'bogus'"),
        (["--features", str(features_dir), "--bars", str(sample_dir / "bars"), "--tweets", str(sample_dir / "tweets")],
         "did not answer"),
    ]
    cases.append((["--features", str(features_dir), "--bars", str(sample_dir / "bars"), "--model-columns",
                   "ret_5,ret_5"], "named twice"))
    for args, expected in cases:
        out = tmp_path / "out"
        out.mkdir(exist_ok=True)
        (out / "scores.parquet").write_bytes(b"an earlier run's scores")  # must not pass for this run's
        result = _cli(*args, "--serve-url", "http://127.0.0.1:9", "--output", str(out))
        assert result.returncode == 2, (args, result.stderr)
        errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
        assert len(errors) == 1 and expected in errors[0] and "Traceback" not in result.stderr, (args, errors)
        assert not (out / "scores.parquet").exists(), args


def test_a_bad_feed_file_is_set_aside_with_its_reason_and_the_valid_ones_are_scored(features_dir: Path, market,
                                                                                      served: str, tmp_path: Path):
    """One bad delivery (not parquet; a ticker the model was not trained on) must not stop scoring the
    universe: it moves to rejected/ with a reason, every valid file is scored exactly as without it, exit 3."""
    bars = market.bars.sort_values(["ts", "ticker"], kind="stable").reset_index(drop=True)
    days = bars["ts"].dt.tz_convert("America/New_York").dt.date
    today = bars[days == days.max()]
    parts = np.array_split(np.arange(len(today)), 3)

    def feed_with(bad: bool) -> Path:
        feed = tmp_path / ("bad" if bad else "clean")
        for kind in ("bars", "tweets"):
            (feed / kind).mkdir(parents=True)
        for k, part in enumerate(parts):
            today.iloc[part].to_parquet(feed / "bars" / f"{2 * k:04d}-bars.parquet", index=False)
        if bad:
            (feed / "bars" / "0001-bars.parquet").write_bytes(b"PAR1 not really")
            stranger = today.iloc[parts[1]].assign(ticker="ZZZZ")
            stranger.to_parquet(feed / "bars" / "0003-bars.parquet", index=False)
        return feed

    common = ["--features", str(features_dir), "--serve-url", served, "--idle-s", "0.5", "--poll-s", "0.1"]
    clean, bad = feed_with(False), feed_with(True)
    assert main_guard(main, [*common, "--follow", str(clean), "--output", str(tmp_path / "clean-out")]) == 0
    assert main_guard(main, [*common, "--follow", str(bad), "--output", str(tmp_path / "bad-out")]) == 3
    name = f"scores-{today['ts'].iloc[-1]:%Y-%m-%d}.parquet"
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "bad-out" / name),
                                  pd.read_parquet(tmp_path / "clean-out" / name))
    rejected = bad / "rejected" / "bars"
    assert sorted(p.name for p in rejected.iterdir()) == ["0001-bars.parquet", "0001-bars.parquet.reason.txt",
                                                          "0003-bars.parquet", "0003-bars.parquet.reason.txt"]
    assert "ZZZZ" in (rejected / "0003-bars.parquet.reason.txt").read_text()
    assert not (bad / "bars" / "0001-bars.parquet").exists()
    summary = json.loads((tmp_path / "bad-out" / "live_metrics.json").read_text())
    assert [Path(r["file"]).name for r in summary["rejected_files"]] == ["0001-bars.parquet", "0003-bars.parquet"]


def test_following_a_feed_folder_scores_what_the_replay_scores(features_dir: Path, market, served: str,
                                                                tmp_path: Path) -> None:
    bars = market.bars.sort_values(["ts", "ticker"], kind="stable").reset_index(drop=True)
    days = bars["ts"].dt.tz_convert("America/New_York").dt.date
    last = days.max()
    history, feed = tmp_path / "history", tmp_path / "feed"
    for folder in (history, feed / "bars", feed / "tweets"):
        folder.mkdir(parents=True)
    bars[days < last].to_parquet(history / "bars.parquet", index=False)
    tweets = market.tweets
    cut = bars.loc[days == last, "ts"].min() - pd.Timedelta(minutes=1)
    tweets[tweets["created_at"] + pd.Timedelta(seconds=60) <= cut].to_parquet(history / "tweets.parquet", index=False)
    today = bars[days == last]
    for k, part in enumerate(np.array_split(np.arange(len(today)), 3)):  # the feed writes three bar files
        today.iloc[part].to_parquet(feed / "bars" / f"{k:04d}-bars.parquet", index=False)
    tweets[tweets["created_at"] + pd.Timedelta(seconds=60) > cut].to_parquet(feed / "tweets" / "0000-a.parquet",
                                                                               index=False)
    common = ["--features", str(features_dir), "--serve-url", served]
    assert main([*common, "--bars", str(history / "bars.parquet"), "--tweets", str(history / "tweets.parquet"),
                 "--follow", str(feed), "--idle-s", "0.5", "--poll-s", "0.1", "--output", str(tmp_path / "live")]) == 0
    followed = pd.read_parquet(tmp_path / "live" / f"scores-{today['ts'].iloc[-1]:%Y-%m-%d}.parquet")
    all_bars, all_tweets = tmp_path / "all_bars.parquet", tmp_path / "all_tweets.parquet"
    bars.to_parquet(all_bars, index=False)
    tweets.to_parquet(all_tweets, index=False)
    assert main([*common, "--bars", str(all_bars), "--tweets", str(all_tweets), "--score-from",
                 today["ts"].min().isoformat(), "--output", str(tmp_path / "replayed")]) == 0
    replayed = pd.read_parquet(tmp_path / "replayed" / "scores.parquet")
    assert len(followed) == len(replayed) > 50
    pd.testing.assert_frame_equal(followed.reset_index(drop=True), replayed.reset_index(drop=True))
