"""Benchmark the live path: replay throughput against the batch build, and per-decision-time latency.

    python benchmarks/bench_live.py [--data DIR] [--days N] [--latency-days 2] [--repeat 3]

1. Throughput, one process, the same inputs in memory: `build_features` (the batch step's computation,
   default threads) against the replay (every bar and tweet through the FeatureEngine in arrival order),
   both producing every decision row; the rows are compared (bit for bit) as a by-product. The replay is
   timed in its two parts, ordering the recorded history into arrival batches and the engine's work on
   that stream, and as their sum (what `replay_features` costs).
2. Latency, as live: the engine is warmed up on all but the last `--latency-days` days, then fed one minute
   at a time (all tickers' bars of that minute in one delivery, the minute's tweets before them); each
   decision time is scored by a local `python -m steps.serve` (an xgboost model trained here on a tiny
   generated market with the same feature settings). Per decision time: the engine call that completed it
   plus the model call (CSV over HTTP), p50/p99, and the engine alone.
Data: `--data DIR` with bars/ and tweets/ (default /tmp/conviction-bench-full, generated with
`python -m steps.sample_data --size full` when absent). Prints figures and the load average; asserts nothing.
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DEFAULT_DATA = Path(tempfile.gettempdir()) / "conviction-bench-full"


def load(data: Path, days: int | None):
    import pandas as pd
    import polars as pl

    from steps.features.inputs import load_inputs, load_sectors

    if not (data / "bars").is_dir():
        subprocess.run([sys.executable, "-m", "steps.sample_data", "--output", str(data), "--size", "full"],
                       check=True, cwd=ROOT)
    sectors = load_sectors(ROOT / "configs" / "universe.csv")
    inputs = load_inputs(data / "bars", data / "tweets", include_sentiment=True, sectors=sectors,
                         logger=logging.getLogger("bench"))
    bars, tweets = inputs.bars, inputs.tweets
    if days:
        first = bars["ts"].min()
        end = first + pd.Timedelta(days=days * 7 / 5)
        bars = bars.filter(pl.col("ts") < end)
        tweets = tweets[tweets["created_at"] < end]
    return bars, tweets, sectors


def tiny_model(scratch: Path, settings) -> Path:
    import pandas as pd

    from steps.features.run import run_features
    from steps.sample_data.generator import generate_market
    from steps.sample_data.writer import write_market
    from steps.train.algorithms import get_algorithm
    from steps.train.run import run_training

    universe = pd.read_csv(ROOT / "configs" / "universe.csv").head(8)
    write_market(generate_market(universe, days=30, seed=3), scratch / "sample")
    universe.to_csv(scratch / "universe.csv", index=False)
    tiny = settings.replace(absent_inputs=(), n_folds=3, train_days=10, validation_days=4, holdout_days=5)
    logger = logging.getLogger("bench")
    run_features(scratch / "sample" / "bars", scratch / "sample" / "tweets", scratch / "features", tiny,
                 universe=scratch / "universe.csv", logger=logger)
    algorithm = get_algorithm("xgboost")
    params = {**algorithm.defaults(), "num_round": 60, "early_stopping_rounds": 10, "nthread": 1}
    run_training(scratch / "features", scratch / "model", scratch / "output", algorithm, params, logger)
    return scratch / "model"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--days", type=int, default=None, help="only the first N trading days (default: all)")
    parser.add_argument("--latency-days", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3, help="throughput rounds (best of)")
    args = parser.parse_args()

    import numpy as np
    import pandas as pd

    from pipelines.deployment.invoker import LocalServeInvoker
    from steps.features.build import build_features
    from steps.features.catalogue import feature_columns
    from steps.features.engine import FeatureEngine, arrival_batches
    from steps.features.parity import history_tickers, mismatches, replay_features, replay_stream
    from steps.features.sentiment import tweet_available_ns
    from steps.features.settings import FeatureSettings
    from steps.live.model_client import HttpModel

    print(f"{os.cpu_count()} cores; load average before {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}")
    bars, tweets, sectors = load(args.data, args.days)
    settings = FeatureSettings().with_bars(bars.columns)
    print(f"inputs: {bars.height:,} bars, {len(tweets):,} tweets, {bars['ticker'].n_unique()} tickers")

    # Warm the compiled kernels (both the batch and the resumed sweeps) on a small slice first.
    head = bars.head(20_000)
    build_features(head, tweets.head(100), settings, sectors=sectors, keep_unlabelled=True)
    replay_features(head, tweets.head(100), settings, sectors)

    # Best of --repeat rounds, batch and replay taking turns, so that load from elsewhere falls on both alike.
    # The replay is timed in two parts: putting the recorded history in arrival order (arrival_batches: one
    # sort of every bar by time, the tweets by availability; a live feed delivers in order, so a live engine
    # never pays it) and the engine's own work on that stream. Their sum is the whole replay_features call.
    batch_times, order_times, engine_times = [], [], []
    tickers = history_tickers(bars)
    for _ in range(args.repeat):
        started = time.perf_counter()
        batch = build_features(bars, tweets, settings, sectors=sectors, keep_unlabelled=True)
        batch_times.append(time.perf_counter() - started)
        started = time.perf_counter()
        stream = list(arrival_batches(bars, tweets, settings))
        order_times.append(time.perf_counter() - started)
        started = time.perf_counter()
        live = replay_stream(stream, tickers, settings, sectors)
        engine_times.append(time.perf_counter() - started)
        del stream
    replay_times = [o + e for o, e in zip(order_times, engine_times, strict=True)]
    batch_s, replay_s, engine_s = min(batch_times), min(replay_times), min(engine_times)
    print("rounds (batch / replay = ordering + engine, s): " + ", ".join(
        f"{b:.2f} / {o + e:.2f} = {o:.2f} + {e:.2f}"
        for b, o, e in zip(batch_times, order_times, engine_times, strict=True)))
    decision_times = live["ts"].nunique()
    _, differing = mismatches(batch, live, feature_columns(settings), rel_tol=0.0)
    print(f"batch build_features: {batch_s:.2f} s ({bars.height / batch_s / 1e6:.2f} M bars/s), {len(batch):,} rows")
    print(f"replay through the engine: {replay_s:.2f} s ({bars.height / replay_s / 1e6:.2f} M bars/s, "
          f"{replay_s / decision_times * 1000:.2f} ms per decision time over {decision_times:,}); "
          f"replay / batch = {replay_s / batch_s:.1f}x; values differing: {differing}")
    print(f"of which the engine on the arrival-ordered stream (what a live feed costs): {engine_s:.2f} s; "
          f"engine / batch = {engine_s / batch_s:.1f}x; ordering the history {min(order_times):.2f} s")
    print(f"load average after throughput {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}")

    # Latency: warm up on the history, then minute by minute.
    ts = bars["ts"]
    days = ts.dt.convert_time_zone("America/New_York").dt.date()
    cut_day = sorted(days.unique().to_list())[-args.latency_days]
    history = bars.filter(days < cut_day)
    recent = bars.filter(days >= cut_day)
    cut = pd.Timestamp(recent["ts"].min())
    available = pd.Series(tweet_available_ns(tweets, settings))
    old_tweets = tweets[(available < cut.value).to_numpy()]
    new_tweets = tweets[(available >= cut.value).to_numpy()]
    engine = FeatureEngine(settings, sectors, expected=list(sectors))
    for kind, part in arrival_batches(history, old_tweets, settings):
        engine.on_tweets(part) if kind == "tweets" else engine.on_bars(part)
    engine.flush()
    with tempfile.TemporaryDirectory(prefix="bench-live-") as scratch:
        model_dir = tiny_model(Path(scratch), settings)
        invoker = LocalServeInvoker()
        invoker.attach("bench", model_dir)
        try:
            model = HttpModel(invoker.url("bench"))
            columns = feature_columns(settings)
            new_available = tweet_available_ns(new_tweets, settings)
            minutes = recent.partition_by("ts", maintain_order=True)
            total_ms, engine_ms, call_ms = [], [], []
            for minute in minutes:
                t = minute["ts"][0]
                due = (new_available <= pd.Timestamp(t).value)
                if due.any():
                    engine.on_tweets(new_tweets[due])
                    new_tweets, new_available = new_tweets[~due], new_available[~due]
                begun = time.perf_counter()
                frames = engine.on_bars(minute)
                featured = time.perf_counter()
                for rows in frames:
                    model.score(rows, columns)
                done = time.perf_counter()
                if frames:
                    total_ms.append((done - begun) * 1000)
                    engine_ms.append((featured - begun) * 1000)
                    call_ms.append((done - featured) * 1000)
        finally:
            invoker.close()
    q = lambda values, p: float(np.quantile(values, p))  # noqa: E731
    print(f"latency per decision time ({len(total_ms)} decision times, {len(sectors)} tickers, feature update + "
          f"scoring over HTTP): p50 {q(total_ms, 0.5):.1f} ms, p99 {q(total_ms, 0.99):.1f} ms, "
          f"max {max(total_ms):.1f} ms;"
          f" engine alone p50 {q(engine_ms, 0.5):.1f} ms p99 {q(engine_ms, 0.99):.1f} ms; model call p50 "
          f"{q(call_ms, 0.5):.1f} ms p99 {q(call_ms, 0.99):.1f} ms")
    print(f"load average after {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}")


if __name__ == "__main__":
    main()
