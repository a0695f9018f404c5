"""Seconds of the evaluate step at full size, with and without the signal-quality and backtest sections.

    python benchmarks/bench_evaluation.py [--data DIR] [--rounds 3] [--before /work/main] [--threads 2]

Builds the default profile's features (56 tickers x 252 days of generated 1-minute bars unless `--data`
holds a `steps.sample_data --size full` folder), trains one xgboost (configs/hpo defaults, `--num-round`
rounds) and then runs `python -m steps.evaluate` on it `--rounds` times, alternating the code under test
(this tree) with `--before` (a tree without issue 19's sections: `git archive <fork point> | tar -x -C DIR`) so that
load on a shared machine falls on both alike. Prints wall seconds per run, the step's own block timings
(metrics.json `timings_s`) and the share of the step the `signal_quality` block takes. Asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pipelines.config import load_config  # noqa: E402
from steps.features.run import run_features  # noqa: E402
from steps.sample_data.generator import generate_market  # noqa: E402
from steps.sample_data.writer import write_market  # noqa: E402
from steps.train.algorithms import get_algorithm  # noqa: E402
from steps.train.run import run_training  # noqa: E402


def _evaluate(code: Path, model: Path, features: Path, out: Path, threads: int) -> tuple[float, dict]:
    env = {**os.environ, "PYTHONPATH": str(code), "OMP_NUM_THREADS": str(threads)}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "steps.evaluate", "--model", str(model), "--features", str(features),
                           "--output", str(out), "--algorithm", "xgboost"], cwd=code, env=env, capture_output=True,
                          text=True, timeout=1800)
    if done.returncode != 0:
        raise SystemExit(f"steps.evaluate from {code} exited {done.returncode}: {done.stderr.strip()[-500:]}")
    return time.perf_counter() - started, json.loads((out / "metrics.json").read_text())["timings_s"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=None, help="a steps.sample_data --size full folder")
    parser.add_argument("--days", type=int, default=252)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--before", type=Path, default=None, help="code root without the signal sections")
    parser.add_argument("--num-round", type=int, default=100)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    log = logging.getLogger("bench")
    config = load_config()
    settings = config.feature_settings()
    universe = pd.read_csv(REPO / "configs" / "universe.csv")
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        data = args.data
        if data is None:
            data = root / "sample"
            write_market(generate_market(universe, days=args.days, seed=config.sample_data.seed), data)
        universe.to_csv(root / "universe.csv", index=False)
        started = time.perf_counter()
        manifest = run_features(data / "bars", data / "tweets", root / "features", settings,
                                universe=root / "universe.csv", logger=log)
        print(f"features: {manifest['rows']['total']} rows ({manifest['rows']['holdout']} holdout) x "
              f"{len(manifest['feature_columns'])} features in {time.perf_counter() - started:.1f} s")
        algorithm = get_algorithm("xgboost")
        params = {**algorithm.defaults(), "num_round": args.num_round, "nthread": args.threads}
        started = time.perf_counter()
        run_training(root / "features", root / "model", root / "output", algorithm, params, log)
        print(f"training (one xgboost, {args.num_round} rounds): {time.perf_counter() - started:.1f} s")
        codes = {"after": REPO, **({"before": args.before} if args.before else {})}
        walls: dict[str, list[float]] = {name: [] for name in codes}
        blocks: dict[str, list[dict]] = {name: [] for name in codes}
        for index in range(args.rounds):
            order = list(codes) if index % 2 == 0 else list(reversed(codes))
            for name in order:
                wall, timings = _evaluate(codes[name], root / "model", root / "features",
                                          root / f"eval-{name}-{index}", args.threads)
                walls[name].append(wall)
                blocks[name].append(timings)
                print(f"round {index} {name}: {wall:.2f} s wall; blocks " +
                      ", ".join(f"{k} {v:.2f}" for k, v in timings.items()))
        for name in codes:
            signal = [b.get("signal_quality", 0.0) for b in blocks[name]]
            total = [sum(v for k, v in b.items() if k != "total") for b in blocks[name]]
            print(f"{name}: wall median {statistics.median(walls[name]):.2f} s (min {min(walls[name]):.2f}); "
                  f"signal_quality block median {statistics.median(signal):.3f} s = "
                  f"{100 * statistics.median(s / t for s, t in zip(signal, total, strict=True)):.1f}% of the step's "
                  "blocks")


if __name__ == "__main__":
    main()
