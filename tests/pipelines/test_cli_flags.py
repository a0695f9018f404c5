"""One flag convention across the CLIs (issue 31, docs/design.md "Command lines"): kebab-case everywhere except
steps.train's SageMaker hyperparameters, `--log-format` wherever a command logs, `--model` for a model,
`--profile` listing the config's profiles, every action documented, and renamed or removed flags saying what
replaces them."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pipelines import approve, deploy, lint, run, upsert
from pipelines.cli import COMMANDS
from steps.common.cli import StepArgumentParser, add_renamed_flag

REPO = Path(__file__).resolve().parents[2]
PARSERS = {
    "run": lambda argv: run.parse_args(argv),
    "upsert": lambda argv: upsert.build_parser().parse_args(argv),
    "approve": lambda argv: approve.build_parser().parse_args(argv),
    "deploy": lambda argv: deploy.build_parser().parse_args(argv),
    "lint": lambda argv: lint.main(argv),
}


def help_of(module: str) -> str:
    done = subprocess.run([sys.executable, "-m", module, "--help"], cwd=REPO, capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-1000:]
    return done.stdout


def source_of(module: str) -> str:
    path = REPO / Path(*module.split("."))
    return (path / "__main__.py" if path.is_dir() else path.with_suffix(".py")).read_text(encoding="utf-8")


HELPS = {command.module: help_of(command.module) for command in COMMANDS}


def parsed_help(command: str, capsys) -> str:
    with pytest.raises(SystemExit) as done:
        PARSERS[command](["--help"])
    assert done.value.code == 0
    return " ".join(capsys.readouterr().out.split())


@pytest.mark.parametrize("module", sorted(HELPS))
def test_flags_are_kebab_case_but_the_training_jobs_hyperparameters(module):
    underscored = sorted(set(re.findall(r"(?<![\w-])--[a-z0-9]+_[a-z0-9_]+", HELPS[module])))
    if module == "steps.train":  # SageMaker passes them under these names (hyperparameters.json)
        assert "--min_group_rows" in underscored and "--max_depth" in underscored
        assert "--log-format" in HELPS[module] and "--log_format" not in underscored
    else:
        assert underscored == []


@pytest.mark.parametrize("module", sorted(HELPS))
def test_a_command_that_logs_takes_log_format(module):
    if "get_logger(" in source_of(module):
        assert "--log-format" in HELPS[module]


def test_the_commands_that_lacked_log_format_take_it():
    for module in ("steps.live", "steps.live.monitor", "steps.train", "pipelines.lint"):
        assert "--log-format" in HELPS[module], module


def test_a_model_is_given_as_model():
    for module in ("steps.serve", "steps.evaluate", "steps.check_artifact", "steps.final_holdout",
                   "steps.sentiment.finbert", "steps.sentiment.export"):
        assert re.search(r"--model\b(?!-)", HELPS[module]), module
    assert "[--model DIR]" in HELPS["steps.serve"] and "[--model-dir" not in HELPS["steps.serve"]
    assert "(formerly --model-dir)" in " ".join(HELPS["steps.serve"].split())


@pytest.mark.parametrize("flag", ["--model", "--model-dir"])
def test_serve_reads_the_model_from_either_spelling_and_warns_on_the_old(flag, tmp_path):
    missing = tmp_path / "no-such-model"
    done = subprocess.run([sys.executable, "-m", "steps.serve", flag, str(missing), "--port", "0"], cwd=REPO,
                          capture_output=True, text=True, timeout=300, check=False)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and str(missing) in lines[-1] and "model not found" in lines[-1]
    warnings = [line for line in lines if "deprecated" in line]
    assert warnings == ([] if flag == "--model" else
                        ["python -m steps.serve: warning: --model-dir is deprecated and goes in the next release; "
                         "use --model"])


def test_a_renamed_flag_sets_the_new_one_and_says_so(capsys):
    parser = StepArgumentParser(prog="demo")
    parser.add_argument("--new-name", dest="value", default="default")
    add_renamed_flag(parser, "--old_name", "--new-name", dest="value")
    assert parser.parse_args([]).value == "default" and capsys.readouterr().err == ""
    assert parser.parse_args(["--new-name", "a"]).value == "a" and capsys.readouterr().err == ""
    assert parser.parse_args(["--old_name", "b"]).value == "b"
    assert capsys.readouterr().err == "demo: warning: --old_name is deprecated and goes in the next release; " \
                                      "use --new-name\n"
    parser.print_help()
    assert "--old_name" not in capsys.readouterr().out


@pytest.mark.parametrize("command", ["run", "upsert", "lint", "approve", "deploy"])
def test_profile_help_lists_the_configs_profiles(command, capsys):
    profiles = list(yaml.safe_load((REPO / "configs" / "pipeline.yaml").read_text())["profiles"])
    assert len(profiles) >= 2
    text = parsed_help(command, capsys)
    assert f"configs/pipeline.yaml has: {', '.join(profiles)}" in text


def test_profile_keeps_its_value():
    assert run.parse_args(["--profile", "quick"]).profile == "quick"
    assert run.parse_args([]).profile is None
    assert approve.build_parser().parse_args(["--list", "--profile", "daily"]).profile == "daily"


def test_approve_and_reject_say_what_they_do(capsys):
    text = parsed_help("approve", capsys)
    assert re.search(r"--approve set the package \(--latest or --version N\) to Approved", text)
    assert re.search(r"--reject set the package \(--latest or --version N\) to Rejected", text)


@pytest.mark.parametrize(("flag", "names"), [("--use-aws", "python -m pipelines.upsert"),
                                             ("--deploy", "python -m pipelines.deploy")])
def test_lint_refuses_the_words_that_say_nothing_about_a_definition(flag, names, capsys):
    with pytest.raises(SystemExit) as done:
        lint.main([flag])
    assert done.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith(f"python -m pipelines.lint: error: {flag} is not taken here: ") and names in error
    help_text = parsed_help("lint", capsys)
    assert flag not in help_text and "--per-sector" in help_text


def test_upsert_and_run_still_take_the_old_words():
    assert upsert.build_parser().parse_args(["--use-aws"]).use_aws is True
    assert run.parse_args(["--deploy"]).deploy is True  # refused later, by resolve_legacy_options, as before


def test_lint_logs_what_an_old_word_did(tmp_path, capsys):
    """--per-sector changes the definition lint checks, and lint says so in its log format."""
    definition = tmp_path / "empty.json"
    definition.write_text('{"Version": "2020-12-01", "Parameters": [], "Steps": []}')
    lint.main(["--per-sector", "--definition", str(definition), "--log-format", "json"])
    logged = [line for line in capsys.readouterr().err.splitlines() if '"step": "lint"' in line]
    assert len(logged) == 1 and "--per-sector: one model per sector" in logged[0]



def test_third_party_info_logs_are_quiet_unless_verbose(tmp_path) -> None:
    """Issue 31: with AWS_ENDPOINT_URL exported, botocore said 'Found endpoint ...' 13 times per command (the SDK
    sets the root logger to INFO on import); now only with --verbose."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "AWS_ENDPOINT_URL": "http://127.0.0.1:9"}
    env.pop("CONVICTION_VERBOSE", None)
    command = [sys.executable, "-m", "pipelines.lint", "--profile", "quick"]
    quiet = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    loud = subprocess.run([*command, "--verbose"], capture_output=True, text=True, env=env, timeout=300)
    assert quiet.returncode == 0 and loud.returncode == 0, quiet.stderr + loud.stderr
    assert "INFO:botocore" not in quiet.stdout + quiet.stderr
    assert "INFO:botocore" in loud.stdout + loud.stderr
