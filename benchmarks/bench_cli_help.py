"""How long `--help` takes for every CLI, and `pipelines.lint --definition` on the fullest definition
(prints figures; asserts nothing).

    .venv/bin/python benchmarks/bench_cli_help.py [--rounds 3] [--no-lint-definition]

Every CLI is every command `conviction` dispatches to (pipelines/cli.py `COMMANDS`, which
tests/pipelines/test_cli_help.py holds to every `__main__` in the tree), plus `conviction --help` itself. Each
runs as a user runs it (`python -m <module> --help`, a new interpreter each time, this interpreter: run it with
the venv's), in interleaved rounds; the median and the best wall time per command. Beside them, in the same run:
the bare interpreter (`python -c pass`, the floor: what no CLI can beat) and `python -c "import sagemaker"`
(what every pipelines CLI paid before the SDK was imported late). `pipelines.lint --definition` lints a prebuilt
definition of the fullest config (every algorithm, per-sector models, both sentiment jobs, stability with RFE, a
backtest gate, KMS and a VPC), built once before the rounds: it reads JSON, loads no SageMaker SDK.

The target is 1 s for each on a quiet machine; the load average (1 min) is printed before and after, since on
a loaded machine every figure, the floor included, grows with it.
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
sys.path.insert(0, str(REPO))

from pipelines.cli import COMMANDS  # noqa: E402  (light: the list of commands, no command imported)

LINT_DEFINITION = "pipelines.lint --definition (fullest)"
FLOOR = "(floor) python -c pass"
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


def help_commands() -> dict[str, list[str]]:
    """Label -> interpreter arguments: every CLI's --help, conviction's, the floor and the SDK import."""
    commands = {command.module: ["-m", command.module, "--help"] for command in COMMANDS}
    commands["conviction --help (pipelines.cli)"] = ["-m", "pipelines.cli", "--help"]
    commands[FLOOR] = ["-c", "pass"]
    commands["(peer) import sagemaker"] = ["-c", "import sagemaker"]
    return commands


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
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-lint-definition", action="store_true", help="skip building the fullest definition")
    args = parser.parse_args()
    commands = help_commands()
    with tempfile.TemporaryDirectory() as folder:
        if not args.no_lint_definition:
            fullest = build_fullest(Path(folder))
            steps = count_steps(json.loads(fullest.read_text())["Steps"])
            print(f"fullest definition: {fullest.stat().st_size} bytes, {steps} steps")
            commands[LINT_DEFINITION] = ["-m", "pipelines.lint", "--definition", str(fullest)]
        load_before = os.getloadavg()[0]
        print(f"{sys.executable}; {os.cpu_count()} cores; load average (1 min) before {load_before:.2f}")
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.rounds):
            for name, arguments in commands.items():
                times[name].append(one(arguments))
    floor = statistics.median(times[FLOOR])
    print(f"{'command':<46}{'median s':>9}{'best s':>8}{'- floor s':>10}")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:<46}{median:>9.2f}{min(values):>8.2f}{median - floor:>10.2f}")
    slowest = max((n for n in times if not n.startswith("(")), key=lambda n: statistics.median(times[n]))
    print(f"slowest CLI: {slowest} {statistics.median(times[slowest]):.2f} s (median of {args.rounds}); "
          f"load average (1 min) before {load_before:.2f}, after {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
