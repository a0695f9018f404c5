"""Wall time of a local quick run, per step and in total (prints figures; asserts nothing).

    .venv/bin/python benchmarks/bench_local_run.py [--run-dir DIR] [--cached] [pipelines.run options ...]

By default every step runs (a fresh run folder, no cache); `--cached` runs twice in one folder and
reports the second, cached run as well.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipelines.config import load_config
from pipelines.local.executor import RunOptions, default_cores
from pipelines.local.runner import run_config


def one_run(run_dir: Path, profile: str, max_trials: int | None, use_cache: bool) -> None:
    config = load_config(profile=profile)
    started = time.monotonic()
    result = run_config(
        config,
        RunOptions(
            run_dir=run_dir, use_cache=use_cache, max_trials=max_trials, cores=default_cores(), echo=lambda _: None
        ),
    )
    total = time.monotonic() - started
    print(f"{'step':<26}{'type':<15}{'status':<11}{'seconds':>9}  cache")
    for step in result.steps.values():
        seconds = f"{step.seconds:.2f}" if step.seconds is not None else "-"
        print(f"{step.name:<26}{step.type:<15}{step.status:<11}{seconds:>9}  {'hit' if step.cache_hit else ''}")
    print(f"total wall time {total:.2f}s (pipeline {result.record.status}; {default_cores()} cores; profile {profile})")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--run-dir", default=None)
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--max-trials", type=int, default=None)
    parser.add_argument("--cached", action="store_true")
    args = parser.parse_args()
    run_dir = Path(args.run_dir or tempfile.mkdtemp(prefix="bench-local-run-"))
    print(f"run folder {run_dir} (pid {os.getpid()})")
    one_run(run_dir, args.profile, args.max_trials, use_cache=args.cached)
    if args.cached:
        print("\nsecond run, same folder:")
        one_run(run_dir, args.profile, args.max_trials, use_cache=True)


if __name__ == "__main__":
    main()
