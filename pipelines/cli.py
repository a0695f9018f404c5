"""`conviction <command> [args]`: one entry point for every command line of the project.

    conviction run --profile quick          # = python -m pipelines.run --profile quick
    conviction features --bars DIR ...      # = python -m steps.features --bars DIR ...
    conviction --help | conviction help features | conviction --version

Each command is the existing module, run exactly as `python -m <module>` runs it (runpy: same argv handling,
same exit codes), so the `python -m` forms keep working and say the same. `COMMANDS` is the one list of the
project's CLIs: tests/pipelines/test_cli_help.py checks that it names every module with a `__main__`, and
benchmarks/bench_cli_help.py times each one's `--help`. Nothing here imports a command's module before the
command is chosen: `conviction --help` costs the interpreter's start and this file.

Installed as a console script by `pip install -e .` (setup.cfg `[options.entry_points]`, which the Makefile's
install runs); without the install, `python -m pipelines.cli <command>` is the same thing.
"""

from __future__ import annotations

import difflib
import runpy
import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

PACKAGE = "conviction-pipelines"
PROG = "conviction"


@dataclass(frozen=True)
class Command:
    name: str
    module: str
    summary: str
    group: str


# The order is the help's: the pipeline's own commands first, then each step as the pipeline runs it.
COMMANDS: tuple[Command, ...] = (
    Command("run", "pipelines.run", "run the whole pipeline locally (e.g. --profile quick)", "pipeline"),
    Command("upsert", "pipelines.upsert", "build, lint and publish the pipeline definition (--dry-run: print it)",
            "pipeline"),
    Command("lint", "pipelines.lint", "policy and SageMaker checks on the definition, before publishing", "pipeline"),
    Command("approve", "pipelines.approve", "list, approve or reject registered model packages", "pipeline"),
    Command("deploy", "pipelines.deploy", "deploy the newest approved model package to an endpoint", "pipeline"),
    Command("report", "pipelines.report", "the HTML run report of a local or SageMaker execution", "pipeline"),
    Command("emulator", "pipelines.emulator", "serve the local AWS API emulator (moto) until Ctrl-C", "pipeline"),
    Command("sentiment-uplift", "pipelines.experiments.sentiment_uplift",
            "experiment: the holdout AUC with and without the sentiment features", "pipeline"),
    Command("sample-data", "steps.sample_data", "write a generated market (bars and tweets)", "step"),
    Command("import-prices", "steps.import_prices", "real daily OHLCV (CSV or arch's) -> bars", "step"),
    Command("ingest", "steps.ingest", "the X/Twitter filtered stream -> Parquet by date and ticker", "step"),
    Command("sentiment-export", "steps.sentiment.export", "export a Hugging Face classifier to ONNX (int8)", "step"),
    Command("finbert", "steps.sentiment.finbert", "score tweets with the exported FinBERT (ONNX Runtime)", "step"),
    Command("fingpt", "steps.sentiment.fingpt", "score tweets with the FinGPT LLM (GPU job)", "step"),
    Command("features", "steps.features", "build the feature table, labels and walk-forward folds", "step"),
    Command("leaks", "steps.leaks", "leak tests on the feature table", "step"),
    Command("stability", "steps.stability", "SHAP stability feature selection over the folds", "step"),
    Command("lockbox", "steps.lockbox", "seal the final holdout away from the features", "step"),
    Command("train", "steps.train", "a training job (SageMaker hyperparameters as --name value)", "step"),
    Command("evaluate", "steps.evaluate", "score a model on the holdout: AUC, calibration, backtest", "step"),
    Command("ensemble", "steps.ensemble", "stack the tuned models and score the holdout", "step"),
    Command("final-holdout", "steps.final_holdout", "open the lockbox once: the ensemble on the final holdout",
            "step"),
    Command("check-artifact", "steps.check_artifact", "check the model artifact reproduces the evaluation", "step"),
    Command("serve", "steps.serve", "the serving container's HTTP server (/ping, /invocations)", "step"),
    Command("live", "steps.live", "score bars and tweets as they arrive", "step"),
    Command("monitor", "steps.live.monitor", "live AUC, calibration and feature drift; CloudWatch metrics", "step"),
)
BY_NAME = {command.name: command for command in COMMANDS}


def find(name: str) -> Command | None:
    """The command called `name`; `sample_data` and `sample-data` are the same name."""
    return BY_NAME.get(name.replace("_", "-"))


def version() -> str:
    """The installed distribution's version; from a checkout that is not installed, setup.cfg's; else unknown."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed_version

    try:
        return installed_version(PACKAGE)
    except PackageNotFoundError:
        pass
    setup_cfg = Path(__file__).resolve().parent.parent / "setup.cfg"
    try:
        import configparser

        parser = configparser.ConfigParser(interpolation=None)
        parser.read(setup_cfg, encoding="utf-8")
        return parser.get("metadata", "version", fallback="unknown")
    except (OSError, configparser.Error):
        return "unknown"


def usage() -> str:
    width = max(len(command.name) for command in COMMANDS)
    lines = [f"usage: {PROG} <command> [args]     ({PROG} <command> --help: that command's options)",
             f"       {PROG} --help | --version | help <command>", ""]
    for group, title in (("pipeline", "The pipeline:"), ("step", "The steps (each also a SageMaker job's program):")):
        lines.append(title)
        lines += [f"  {c.name:<{width}}  {c.summary}" for c in COMMANDS if c.group == group]
        lines.append("")
    lines.append(f"Each command is `python -m <module>` (e.g. `{PROG} features` = `python -m steps.features`).")
    return "\n".join(lines)


def run_command(command: Command, arguments: Sequence[str]) -> int:
    """Run the command's module as `python -m` runs it, with `arguments`; its exit status."""
    saved = sys.argv
    sys.argv = [command.module, *arguments]
    try:
        with warnings.catch_warnings():
            # Called in a process that already imported the module (a test, a notebook), runpy warns that it runs a
            # second copy as __main__: that copy is what `python -m` runs, so the warning says nothing here.
            warnings.filterwarnings("ignore", message=r".*found in sys\.modules after import of package",
                                    category=RuntimeWarning)
            runpy.run_module(command.module, run_name="__main__", alter_sys=True)
    except SystemExit as stop:
        if stop.code is None:
            return 0
        if isinstance(stop.code, int):
            return stop.code
        print(stop.code, file=sys.stderr)
        return 1
    finally:
        sys.argv = saved
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if not arguments:
        print(usage(), file=sys.stderr)
        return 2
    if arguments[0] in ("-h", "--help"):
        print(usage())
        return 0
    first, rest = arguments[0], arguments[1:]
    if first in ("-V", "--version"):
        print(f"{PROG} {version()}")
        return 0
    if first == "help":
        if not rest:
            print(usage())
            return 0
        first, rest = rest[0], ["--help"]
    command = find(first)
    if command is None:
        close = difflib.get_close_matches(first.replace("_", "-"), list(BY_NAME), n=3)
        hint = f"; did you mean {' or '.join(close)}?" if close else f"; `{PROG} --help` lists them"
        print(f"{PROG}: unknown command {first!r}{hint}", file=sys.stderr)
        return 2
    return run_command(command, rest)


if __name__ == "__main__":
    sys.exit(main())
