"""How long `--help` takes for every CLI (prints figures; asserts nothing).

    .venv/bin/python benchmarks/bench_cli_help.py [--rounds 5]

Each command runs as a user runs it (`python -m <module> --help`, a new interpreter each time), in
interleaved rounds; best and median wall per command. Beside them, in the same run: the bare interpreter
(`python -c pass`, the floor) and `python -c "import sagemaker"` (what every CLI paid before the SDK was
imported late). The target is 1 s on a quiet machine; the load average is printed with the figures.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
COMMANDS = {
    "pipelines.run": ["-m", "pipelines.run", "--help"],
    "pipelines.upsert": ["-m", "pipelines.upsert", "--help"],
    "pipelines.lint": ["-m", "pipelines.lint", "--help"],
    "pipelines.approve": ["-m", "pipelines.approve", "--help"],
    "pipelines.deploy": ["-m", "pipelines.deploy", "--help"],
    "pipelines.report": ["-m", "pipelines.report", "--help"],
    "pipelines.emulator": ["-m", "pipelines.emulator", "--help"],
    "pipelines.experiments.sentiment_uplift": ["-m", "pipelines.experiments.sentiment_uplift", "--help"],
    "(floor) python -c pass": ["-c", "pass"],
    "(peer) import sagemaker": ["-c", "import sagemaker"],
}


def one(arguments: list[str]) -> float:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, *arguments], cwd=REPO, capture_output=True, timeout=120, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(arguments)} exited {done.returncode}: {done.stderr.decode()[-300:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(f"{os.cpu_count()} cores; load average before {os.getloadavg()[0]:.2f}")
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(args.rounds):
        for name, arguments in COMMANDS.items():
            times[name].append(one(arguments))
    print(f"{'command':<42}{'best s':>8}{'median s':>10}")
    for name, values in times.items():
        print(f"{name:<42}{min(values):>8.2f}{statistics.median(values):>10.2f}")
    print(f"load average after {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
