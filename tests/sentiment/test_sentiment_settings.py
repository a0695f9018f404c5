"""Issue 17 for the sentiment steps: FinBERT's and FinGPT's settings are declared once (steps/sentiment/settings.py),
reach the jobs as `--settings` JSON read back by the steps' own parsers, and a bad value stops the step on one line
before it reads or writes anything."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from sentiment_constants import REPO

from pipelines.config import load_config
from pipelines.definition import definition_json, get_pipeline
from pipelines.lint import iter_steps
from steps.common.settings import SETTINGS_FLAG
from steps.sentiment import finbert, fingpt
from steps.sentiment.settings import FinBertSettings, FinGptSettings

CHANGED = {"combine": "fingpt", "finbert": {"batch_size": 7, "max_length": 64},
           "fingpt": {"enabled": True, "shard_size": 100, "batch_size": 3, "max_length": 512}}


def test_the_definition_passes_the_configs_settings_as_the_steps_read_them(monkeypatch) -> None:
    """Every configured value reaches its step: read back through the step's generated command line."""
    config = load_config(overrides={"sentiment": {"enabled": True, **CHANGED}})
    steps = {s["Name"]: s for s in iter_steps(json.loads(definition_json(get_pipeline(config)))["Steps"])}
    finbert_argv = steps["ScoreSentimentFinBERT"]["Arguments"]["AppSpecification"]["ContainerArguments"]
    fingpt_argv = steps["ScoreSentimentFinGPT"]["Arguments"]["AlgorithmSpecification"]["ContainerArguments"]
    assert all(isinstance(a, str) and len(a) <= 256 for a in [*finbert_argv, *fingpt_argv])
    assert "--batch-size" not in finbert_argv and SETTINGS_FLAG in finbert_argv and SETTINGS_FLAG in fingpt_argv

    _, finbert_settings = finbert.parse_args(finbert_argv)
    assert finbert_settings == FinBertSettings(combine="fingpt", batch_size=7, max_length=64)
    monkeypatch.setenv("SM_CHANNEL_TWEETS", "/opt/ml/input/data/tweets")  # the job's channels
    monkeypatch.setenv("SM_CHANNEL_MODEL", "/opt/ml/input/data/model")
    args, fingpt_settings = fingpt.parse_args(fingpt_argv)
    assert fingpt_settings == FinGptSettings(shard_size=100, batch_size=3, max_length=512)
    assert args.checkpoint == "/opt/ml/checkpoints"


def test_the_config_and_the_steps_share_their_defaults() -> None:
    """One declaration: the config's default sections are the steps' defaults (combine: mean, in both)."""
    sentiment = load_config(overrides={"sentiment": {"enabled": True}}).sentiment
    assert sentiment.finbert_settings() == FinBertSettings() and sentiment.fingpt_settings() == FinGptSettings()
    _, standalone = finbert.parse_args(["--tweets", "t", "--model", "m", "--output", "o"])
    assert standalone.combine == "mean"


@pytest.mark.parametrize("step, argv, named", [
    ("finbert", ["--batch-size", "0"], "column 'batch_size'"),
    ("finbert", ["--max-length", "4"], "column 'max_length'"),
    ("finbert", [SETTINGS_FLAG, '{"combine": "both"}'], "column 'combine'"),
    ("finbert", [SETTINGS_FLAG, '{"batch_sise": 8}'], "column 'batch_sise': is not a setting of this step"),
    ("fingpt", ["--shard-size", "0"], "column 'shard_size'"),
    ("fingpt", [SETTINGS_FLAG, '{"max_length": 8}'], "column 'max_length'"),
])
def test_a_bad_setting_exits_2_on_one_line_and_writes_nothing(step, argv, named, tmp_path: Path) -> None:
    out = tmp_path / "out"
    paths = ["--tweets", str(tmp_path / "none"), "--model", str(tmp_path / "none"), "--output", str(out)]
    if step == "fingpt":
        paths += ["--checkpoint", str(tmp_path / "ckpt")]
    done = subprocess.run([sys.executable, "-m", f"steps.sentiment.{step}", *paths, *argv], capture_output=True,
                          text=True, cwd=REPO, timeout=120)
    assert done.returncode == 2, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and done.stderr.startswith("error: ")
    assert named in done.stderr and "fix: " in done.stderr
    assert not out.exists() and not (tmp_path / "ckpt").exists()
