"""Wall time of local runs, one step at a time against concurrent steps, in one script (prints; asserts nothing).

    .venv/bin/python benchmarks/bench_local_run.py [--rounds 1] [--max-trials N] [--only quick|four]

Two definitions: the quick profile (xgboost) and the four-algorithm run (xgboost, catboost, lightgbm, gru),
both on the bundled sample data with no cache. Each runs with `--max-parallel 1` (SageMaker's order, one
job at a time: what the runner did before it ran ready steps concurrently) and with the default (the
cores), alternating which goes first from round to round. Per run: wall time, the most tuning trials in
flight at once, the gate outcome and each tuning step's best objective (which must agree: the two orders
run the same trials). Then the ratio concurrent / sequential, with the load average before and after.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipelines.config import load_config
from pipelines.local.executor import RunOptions, default_cores
from pipelines.local.record import most_trials_in_flight
from pipelines.local.runner import run_config

DEFINITIONS = {
    "quick": {},
    "four": {"algorithms": ["xgboost", "catboost", "lightgbm", "gru"]},
}


def one_run(name: str, max_parallel: int | None, max_trials: int | None) -> dict[str, Any]:
    config = load_config(profile="quick", overrides=DEFINITIONS[name] or None)
    run_dir = Path(tempfile.mkdtemp(prefix=f"bench-local-{name}-"))
    started = time.monotonic()
    result = run_config(
        config,
        RunOptions(
            run_dir=run_dir,
            use_cache=False,
            max_trials=max_trials,
            cores=default_cores(),
            max_parallel=max_parallel,
            echo=lambda _: None,
        ),
    )
    wall = time.monotonic() - started
    best = {
        step.name: round(step.metrics["best_objective"], 6)
        for step in result.steps.values()
        if step.type == "Tuning" and step.status == "Succeeded"
    }
    return {
        "wall": wall,
        "status": result.record.status,
        "at_once": most_trials_in_flight(result.record),
        "best": best,
        "steps": sum(step.status == "Succeeded" for step in result.steps.values()),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--max-trials", type=int, default=None, help="cap each tuning step's trials")
    parser.add_argument("--only", choices=sorted(DEFINITIONS), default=None)
    args = parser.parse_args()
    names = [args.only] if args.only else list(DEFINITIONS)
    print(f"{default_cores()} cores; load average before {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}")
    header = f"{'definition':<11}{'round':>6}  {'mode':<14}{'wall s':>8}{'trials at once':>16}"
    print(f"{header}  status     best objectives")
    walls: dict[tuple[str, str], list[float]] = {}
    bests: dict[tuple[str, str], list[dict[str, float]]] = {}
    for name in names:
        for round_number in range(1, args.rounds + 1):
            modes = [("sequential", 1), ("concurrent", None)]
            if round_number % 2 == 0:
                modes.reverse()
            for label, max_parallel in modes:
                figures = one_run(name, max_parallel, args.max_trials)
                walls.setdefault((name, label), []).append(figures["wall"])
                bests.setdefault((name, label), []).append(figures["best"])
                shown = ", ".join(f"{k}={v:.4f}" for k, v in figures["best"].items())
                print(
                    f"{name:<11}{round_number:>6}  {label:<14}{figures['wall']:>8.1f}{figures['at_once']:>16}  "
                    f"{figures['status']:<10} {shown}"
                )
    print()
    for name in names:
        sequential, concurrent = walls[(name, "sequential")], walls[(name, "concurrent")]
        same = bests[(name, "sequential")] == bests[(name, "concurrent")]
        print(
            f"{name}: concurrent / sequential wall = {min(concurrent) / min(sequential):.2f} (best of "
            f"{len(sequential)}: {min(concurrent):.1f}s / {min(sequential):.1f}s); same best objectives: {same}"
        )
    print(f"load average after {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}")


if __name__ == "__main__":
    main()
