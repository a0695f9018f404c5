"""The LeakTests step against the BuildFeatures step on the full benchmark market, in the same run.

    python benchmarks/bench_leaks.py [--data DIR] [--cores 2] [--rounds 3] [--truncation-tickers 8]

The target (issue 16): the leak step, which now replays every decision row (the causality check) on top of
its full recomputation, takes at most 1.5 times the feature build it checks. Both steps run as child
processes pinned to `--cores` CPUs (as bench_features.py does), alternating feature step, leak step,
feature step, ... for `--rounds` rounds, so that whatever else the machine is doing falls on both alike;
the leak step reads the table the first feature run wrote. Prints each run's wall time and peak RSS, each
round's ratio (its leak run over its feature run, the pair run under the same load) and their median, the
medians of the wall and CPU times, and the leak step's own timings (metrics.json); asserts nothing.

Data: `--data DIR` holding bars/ and tweets/ (default: generated once with `python -m steps.sample_data
--size full` into /tmp/conviction-bench-full, shared with bench_features.py).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_features import DEFAULT_DATA, child_env, ensure_data, pin_cores  # noqa: E402


def timed_child(command: list[str], cores: int) -> tuple[float, float, float]:
    """(wall seconds, peak RSS in GB, CPU seconds: user + system) of one pinned child process; exits on
    failure with its stderr. CPU time is the steadier figure on a shared machine: what others run lengthens
    the wall time of both steps, not the work each one does."""
    with tempfile.TemporaryFile("w+") as errors:
        start = time.perf_counter()
        child = subprocess.Popen(command, cwd=ROOT, env=child_env(cores), stdout=subprocess.DEVNULL, stderr=errors,
                                 preexec_fn=lambda: pin_cores(cores))
        _, status, usage = os.wait4(child.pid, 0)  # this child's own rusage (ru_maxrss in KB on Linux)
        wall = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode != 0:
            errors.seek(0)
            raise SystemExit(f"{' '.join(command[:3])} failed:\n{errors.read()[-3000:]}")
    return wall, usage.ru_maxrss / 1024 / 1024, usage.ru_utime + usage.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--truncation-tickers", type=int, default=8,
                        help="as configs/pipeline.yaml leaks.truncation_tickers (0: every ticker)")
    args = parser.parse_args()
    cores = pin_cores(args.cores)
    data = ensure_data(args.data, args.cores)
    load = os.getloadavg()
    print(f"cores {cores} (of {os.cpu_count()}), load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}")

    with tempfile.TemporaryDirectory(prefix="bench-leaks-") as scratch:
        table = Path(scratch) / "features"

        def features_command(output: Path) -> list[str]:
            return [sys.executable, "-m", "steps.features", "--bars", str(data / "bars"), "--tweets",
                    str(data / "tweets"), "--output", str(output)]

        def leaks_command(output: Path) -> list[str]:
            return [sys.executable, "-m", "steps.leaks", "--features", str(table), "--bars", str(data / "bars"),
                    "--tweets", str(data / "tweets"), "--output", str(output), "--truncation-tickers",
                    str(args.truncation_tickers)]

        # A first feature run writes the table the leak step checks, and a first leak run follows: both warm
        # their compiled kernels' cache (each job of a pipeline finds it warm: code is staged once per digest).
        timed_child(features_command(table), args.cores)
        timed_child(leaks_command(Path(scratch) / "warm-up"), args.cores)
        walls: dict[str, list[float]] = {"features": [], "leaks": []}
        cpus: dict[str, list[float]] = {"features": [], "leaks": []}
        for round_ in range(1, args.rounds + 1):
            for name, command in (("features", features_command(Path(scratch) / f"f{round_}")),
                                  ("leaks", leaks_command(Path(scratch) / f"l{round_}"))):
                wall, peak, cpu = timed_child(command, args.cores)
                walls[name].append(wall)
                cpus[name].append(cpu)
                print(f"round {round_}: {name:8s} wall {wall:6.2f} s   CPU {cpu:6.2f} s   peak RSS {peak:.2f} GB",
                      flush=True)
            print(f"round {round_}: leaks / features = {walls['leaks'][-1] / walls['features'][-1]:.2f}", flush=True)
        metrics = json.loads((Path(scratch) / f"l{args.rounds}" / "metrics.json").read_text())
        features_metrics = json.loads((Path(scratch) / f"f{args.rounds}" / "metrics.json").read_text())

    median = {name: statistics.median(values) for name, values in walls.items()}
    ratios = [leaks / features for leaks, features in zip(walls["leaks"], walls["features"], strict=True)]
    print(f"\nleaks / features, each round's pair: median {statistics.median(ratios):.2f} (range {min(ratios):.2f}-"
          f"{max(ratios):.2f}; target <= 1.50). Medians of {args.rounds}: feature step {median['features']:.2f} s, "
          f"leak step {median['leaks']:.2f} s (ratio {median['leaks'] / median['features']:.2f}: the medians may come "
          "from rounds under different load)")
    cpu = {name: statistics.median(values) for name, values in cpus.items()}
    print(f"CPU (user + system), median: feature step {cpu['features']:.2f} s, leak step {cpu['leaks']:.2f} s  ->  "
          f"{cpu['leaks'] / cpu['features']:.2f}")
    print("feature step, last run: " + ", ".join(f"{k} {v:.2f} s" for k, v in features_metrics["timings_s"].items()))
    print("leak step, last run:    " + ", ".join(f"{k} {v:.2f} s" for k, v in metrics["timings_s"].items()))
    print("  (causal_replay, truncation_invariance and the table-only checks run in threads beside recompute_full; "
          "their times overlap)")
    print(f"leak report passed: {metrics['passed']}  ({metrics['rows']:,} rows, {metrics['bars']:,} bars, "
          f"{metrics['tweets']:,} tweets)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
