"""How long PBO takes at the sizes a search produces (prints figures; asserts nothing).

    .venv/bin/python benchmarks/bench_selection_statistics.py [--rounds 5]

Sharpe PBO on T = 2,000 rows x N = 40 trials with S = 16 blocks (12,870 combinations), and AUC PBO on
20,000 prediction rows (500 decision times x 40 tickers) x 40 trials, 16 blocks. Best and median wall over
the rounds; the load average is printed with them, since the figures on a shared machine move with it.
The target is well under a second for each.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

from steps.common.selection_statistics import (
    pbo_from_predictions,
    probability_of_backtest_overfitting,
    time_blocks,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    rounds = parser.parse_args().rounds
    rng = np.random.default_rng(0)
    returns = rng.normal(0.0, 0.01, size=(2000, 40))
    labels = rng.integers(0, 2, 20000)
    predictions = rng.random((20000, 40))
    block = time_blocks(np.repeat(np.arange(500), 40), 16)
    cases = {
        "sharpe PBO, T=2000 N=40 S=16": lambda: probability_of_backtest_overfitting(returns, 16),
        "auc PBO, 20000 rows N=40 S=16": lambda: pbo_from_predictions(labels, predictions, block, 16),
    }
    for name, run in cases.items():
        walls = []
        for _ in range(rounds):
            start = time.perf_counter()
            result = run()
            walls.append(time.perf_counter() - start)
        print(f"{name}: best {min(walls) * 1000:.0f} ms, median {statistics.median(walls) * 1000:.0f} ms "
              f"({result.n_combinations} combinations, pbo {result.pbo:.3f})")
    print(f"load average: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
