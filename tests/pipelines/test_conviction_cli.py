"""`conviction <command>` (pipelines/cli.py, the console script): the same program as `python -m <module>`, the
commands listed with one line each, the package's version."""

from __future__ import annotations

import configparser
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.cli import COMMANDS, main

REPO = Path(__file__).resolve().parents[2]


def python_m(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *arguments], cwd=REPO, capture_output=True, text=True, timeout=300,
                          check=False)


def setup_cfg_version() -> str:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(REPO / "setup.cfg", encoding="utf-8")
    return parser["metadata"]["version"]


def test_setup_cfg_installs_the_console_script():
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(REPO / "setup.cfg", encoding="utf-8")
    scripts = [line.strip() for line in parser["options.entry_points"]["console_scripts"].splitlines() if line.strip()]
    assert scripts == ["conviction = pipelines.cli:main"]


def test_help_lists_every_command_with_its_line(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in COMMANDS:
        assert re.search(rf"^  {re.escape(command.name)} +{re.escape(command.summary)}$", out, re.MULTILINE), command
    assert main([]) == 2 and "usage: conviction" in capsys.readouterr().err


def test_version_is_the_package_version(capsys):
    from importlib.metadata import version

    assert main(["--version"]) == 0
    printed = capsys.readouterr().out.strip()
    assert printed == f"conviction {version('conviction-pipelines')}"
    assert printed == f"conviction {setup_cfg_version()}"  # the installed package is this checkout's


def test_version_falls_back_to_setup_cfg_when_not_installed(monkeypatch, capsys):
    import importlib.metadata

    def not_installed(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", not_installed)
    assert main(["-V"]) == 0
    assert capsys.readouterr().out.strip() == f"conviction {setup_cfg_version()}"


@pytest.mark.parametrize(("command", "module"), [("lockbox", "steps.lockbox"), ("run", "pipelines.run"),
                                                 ("monitor", "steps.live.monitor")])
def test_a_command_is_its_module(command, module, capsys):
    """Same help text and status as `python -m <module> --help`, in-process and through `python -m pipelines.cli`."""
    expected = python_m(module, "--help")
    assert expected.returncode == 0
    assert main([command, "--help"]) == 0
    assert capsys.readouterr().out == expected.stdout
    via_module = python_m("pipelines.cli", command, "--help")
    assert (via_module.returncode, via_module.stdout) == (0, expected.stdout)
    assert main(["help", command]) == 0 and capsys.readouterr().out == expected.stdout


def test_arguments_reach_the_step_and_its_exit_status_comes_back(tmp_path, capsys):
    """`conviction sample-data ...` writes what `python -m steps.sample_data ...` writes, byte for byte; a step's
    one-line input error keeps its exit status 2."""
    universe = tmp_path / "universe.csv"
    universe.write_text("ticker,sector\nAAA,Tech\nBBB,Energy\n")
    common = ["--days", "3", "--tickers", "2", "--universe", str(universe), "--seed", "11"]
    assert main(["sample-data", "--output", str(tmp_path / "via_conviction"), *common]) == 0
    assert python_m("steps.sample_data", "--output", str(tmp_path / "via_module"), *common).returncode == 0
    written = sorted(p.relative_to(tmp_path / "via_module") for p in (tmp_path / "via_module").rglob("*.parquet"))
    assert written
    for relative in written:
        assert (tmp_path / "via_conviction" / relative).read_bytes() == \
            (tmp_path / "via_module" / relative).read_bytes(), relative
    capsys.readouterr()
    assert main(["sample_data", "--output", str(tmp_path / "refused"), "--days", "0", "--universe", str(universe)]) == 2
    assert "--days" in capsys.readouterr().err and not (tmp_path / "refused").exists()


def test_an_unknown_command_is_one_line_with_the_nearest_names(capsys):
    assert main(["featurs"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "conviction: unknown command 'featurs'; did you mean features?"

