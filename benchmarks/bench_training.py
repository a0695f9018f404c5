"""Seconds per training job (= one tuning trial) per algorithm on the sample set, and each one's holdout AUC.

    python benchmarks/bench_training.py [--days 40] [--tickers all] [--threads 1] [--algorithms a,b]

Builds the quick profile's features from the generated sample market (56 tickers x 40 days, the features
`make run` trains on), then trains each algorithm once with its configs/hpo defaults through the same
walk-forward loop a tuning trial runs (3 folds with early stopping, then the refit), and evaluates it on
the out-of-time holdout. `--threads` is what one trial gets: `make run` on 2 cores runs 2 trials in
parallel at 1 thread each. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pipelines.config import load_config  # noqa: E402
from steps.evaluate.run import run_evaluation  # noqa: E402
from steps.features.run import run_features  # noqa: E402
from steps.sample_data.generator import generate_market  # noqa: E402
from steps.sample_data.writer import write_market  # noqa: E402
from steps.train.algorithms import get_algorithm  # noqa: E402
from steps.train.hyperparameters import resolve  # noqa: E402
from steps.train.run import run_training  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=40)
    parser.add_argument("--tickers", default="all")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--algorithms", default="xgboost,catboost,lightgbm,gru")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    log = logging.getLogger("bench")
    config = load_config(profile="quick", overrides={"algorithms": args.algorithms.split(",")})
    universe = pd.read_csv(REPO / "configs" / "universe.csv")
    if args.tickers != "all":
        universe = universe.head(int(args.tickers))
    settings = config.feature_settings()
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        started = time.perf_counter()
        write_market(generate_market(universe, days=args.days, seed=config.sample_data.seed), root / "sample")
        universe.to_csv(root / "universe.csv", index=False)
        manifest = run_features(root / "sample" / "bars", root / "sample" / "tweets", root / "features", settings,
                                universe=root / "universe.csv", logger=log)
        rows = manifest.get("rows", {}).get("total") if isinstance(manifest, dict) else None
        print(f"sample: {len(universe)} tickers x {args.days} days, {rows or '?'} feature rows, "
              f"built in {time.perf_counter() - started:.1f}s; {args.threads} thread(s) per trial")
        print(f"{'algorithm':<10} {'s/trial':>8} {'cv auc':>7} {'holdout auc':>12} {'(sd)':>7}  best iterations")
        for name in args.algorithms.split(","):
            algorithm = get_algorithm(name)
            static = {k: str(v) for k, v in config.hpo[name].defaults.items()}
            params = resolve(algorithm, {**static, "nthread": str(args.threads)}, f"configs/hpo/{name}.yaml")
            started = time.perf_counter()
            result = run_training(root / "features", root / name, root / f"{name}-out", algorithm, params, log)
            seconds = time.perf_counter() - started
            report = run_evaluation(root / name, root / "features", root / f"{name}-eval", name, log, bootstrap=100)
            auc = report["binary_classification_metrics"]["auc"]
            iterations = [f["best_iteration"] for f in result.folds]
            print(f"{name:<10} {seconds:8.1f} {result.validation_auc:7.4f} {auc['value']:12.4f} "
                  f"{auc['standard_deviation']:7.4f}  {iterations}", flush=True)


if __name__ == "__main__":
    main()
