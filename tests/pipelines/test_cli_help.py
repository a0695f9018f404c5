"""Every command line answers `--help` without loading the heavy libraries (issue 31), and `conviction` names
them all.

The CLIs are found in the tree, not listed here: every `__main__.py` under steps/ and pipelines/ and every module
there with a `if __name__ == "__main__":` block. Each one's `--help` runs in a fresh interpreter (as a user runs
it) that then reports which of the heavy libraries it imported: none may be. No timing is asserted
(benchmarks/bench_cli_help.py prints the times)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.cli import COMMANDS

REPO = Path(__file__).resolve().parents[2]
# What --help must not load: each costs 0.2-2 s to import (pandas pulls pyarrow in).
HEAVY = ("sklearn", "torch", "xgboost", "lightgbm", "catboost", "numba", "polars", "pyarrow", "pandas", "scipy",
         "shap", "sagemaker", "onnxruntime", "transformers", "optuna", "moto")
MAIN_GUARD = re.compile(r"^if __name__ == [\"']__main__[\"']:", re.MULTILINE)
# Runs `python -m <module> --help` inside this interpreter (runpy, as -m does), then prints the exit status and
# the heavy top-level packages in sys.modules as JSON on the last line of stderr.
RUNNER = """
import contextlib, json, runpy, sys
module, heavy = sys.argv[1], set(sys.argv[2].split(","))
sys.argv = [module, "--help"]
code = 0
try:
    runpy.run_module(module, run_name="__main__", alter_sys=True)
except SystemExit as stop:
    code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
loaded = sorted({name.split(".")[0] for name in sys.modules} & heavy)
print(json.dumps({"code": code, "loaded": loaded}), file=sys.stderr)
"""


def discovered_clis() -> list[str]:
    """Module names of every CLI in steps/ and pipelines/: packages with a __main__.py, modules with a main guard."""
    found = set()
    for top in ("steps", "pipelines"):
        for path in (REPO / top).rglob("*.py"):
            relative = path.relative_to(REPO).with_suffix("")
            if path.name == "__main__.py":
                found.add(".".join(relative.parts[:-1]))
            elif path.name != "__init__.py" and MAIN_GUARD.search(path.read_text(encoding="utf-8")):
                found.add(".".join(relative.parts))
    return sorted(found)


CLIS = discovered_clis()


def test_the_discovery_finds_the_known_clis():
    """A guard against a discovery that finds nothing (and so checks nothing)."""
    assert {"steps.features", "steps.train", "steps.live.monitor", "pipelines.run", "pipelines.report",
            "pipelines.experiments.sentiment_uplift", "pipelines.cli"} <= set(CLIS)


def test_conviction_names_every_cli():
    """`conviction <command>` reaches every CLI the tree has (a new one must be added to pipelines/cli.py)."""
    assert sorted({c.module for c in COMMANDS} | {"pipelines.cli"}) == CLIS
    assert len({c.name for c in COMMANDS}) == len(COMMANDS)


@pytest.mark.parametrize("module", CLIS)
def test_help_exits_0_without_the_heavy_libraries(module):
    done = subprocess.run([sys.executable, "-c", RUNNER, module, ",".join(HEAVY)], cwd=REPO, capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.stderr.strip(), f"{module}: the runner printed nothing"
    report = json.loads(done.stderr.strip().splitlines()[-1])
    assert report["code"] == 0, done.stderr[-2000:]
    assert "usage" in done.stdout.lower() or module in done.stdout, done.stdout[:500]
    assert report["loaded"] == [], f"python -m {module} --help imported {report['loaded']}"
