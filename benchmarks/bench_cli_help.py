"""How long `--help` takes for every CLI, and `pipelines.lint --definition` on the fullest definition
(prints figures; asserts nothing).

    .venv/bin/python benchmarks/bench_cli_help.py [--rounds 5]

Each command runs as a user runs it (`python -m <module> --help`, a new interpreter each time), in
interleaved rounds; best and median wall per command. Beside them, in the same run: the bare interpreter
(`python -c pass`, the floor) and `python -c "import sagemaker"` (what every CLI paid before the SDK was
imported late). `pipelines.lint --definition` lints a prebuilt definition of the fullest config (every
algorithm, per-sector models, both sentiment jobs, stability with RFE, a backtest gate, KMS and a VPC),
built once before the rounds: it reads JSON, loads no SageMaker SDK. The target is 1 s on a quiet machine,
for each; the load average is printed with the figures.
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
from typing import Any

REPO = Path(__file__).resolve().parent.parent
LINT_DEFINITION = "pipelines.lint --definition (fullest)"
# The fullest definition: every optional stage on (the issue-27 snapshot's FULL overrides).
FULLEST: dict[str, Any] = {
    "algorithms": ["xgboost", "catboost", "lightgbm", "gru"],
    "training": {"grouping": "sector"},
    "sentiment": {"enabled": True, "fingpt": {"enabled": True}},
    "stability": {"enabled": True, "rfe": {"enabled": True}},
    "backtest": {"min_net_sharpe": 0.5},
    "security": {
        "kms_key_id": "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        "subnets": ["subnet-0abc"],
        "security_group_ids": ["sg-0abc"],
        "network_isolation": True,
    },
}
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


def build_fullest(folder: Path) -> Path:
    """The fullest definition as JSON in `folder`, built in a child interpreter (as `upsert --dry-run`
    builds it), so this process never loads the SDK itself."""
    target = folder / "fullest.json"
    script = (
        "import json, sys\n"
        "from pipelines.config import load_config\n"
        "from pipelines.definition import definition_json, get_pipeline\n"
        "config = load_config(overrides=json.loads(sys.argv[1]))\n"
        "open(sys.argv[2], 'w').write(definition_json(get_pipeline(config)))\n"
    )
    one(["-c", script, json.dumps(FULLEST), str(target)])
    return target


def count_steps(steps: list[dict[str, Any]]) -> int:
    """Steps, condition branches included."""
    branches = [s.get("Arguments", {}) for s in steps if s.get("Type") == "Condition"]
    return len(steps) + sum(count_steps(b.get("IfSteps", [])) + count_steps(b.get("ElseSteps", [])) for b in branches)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        fullest = build_fullest(Path(folder))
        steps = count_steps(json.loads(fullest.read_text())["Steps"])
        print(f"fullest definition: {fullest.stat().st_size} bytes, {steps} steps")
        commands = {**COMMANDS, LINT_DEFINITION: ["-m", "pipelines.lint", "--definition", str(fullest)]}
        print(f"{os.cpu_count()} cores; load average before {os.getloadavg()[0]:.2f}")
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.rounds):
            for name, arguments in commands.items():
                times[name].append(one(arguments))
    print(f"{'command':<42}{'best s':>8}{'median s':>10}")
    for name, values in times.items():
        print(f"{name:<42}{min(values):>8.2f}{statistics.median(values):>10.2f}")
    print(f"load average after {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
