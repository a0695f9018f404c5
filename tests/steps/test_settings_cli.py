"""steps/common/settings.py: the generated command line, `--settings` JSON, and the packing under the 256-character
limit of a container argument."""

from __future__ import annotations

import argparse
import itertools
import json
import subprocess
import sys
from pathlib import Path

import pytest

from steps.common.errors import StepInputError
from steps.common.settings import SETTINGS_FLAG, SettingTooLong, settings_arguments, settings_from_argv
from steps.features.settings import FeatureConfiguration
from steps.leaks.settings import LeakSettings
from steps.stability.settings import StabilitySettings

ROOT = Path(__file__).resolve().parents[2]


def test_packing_keeps_every_argument_within_256_characters_and_reads_back_the_same() -> None:
    values = {f"setting_{i:02d}": [i] * (i % 7) or i / 3 for i in range(60)}
    arguments = settings_arguments(values)
    objects = arguments[1::2]
    assert arguments[::2] == [SETTINGS_FLAG] * len(objects)
    assert all(len(text) <= 256 for text in objects) and len(objects) > 1
    merged: dict = {}
    for text in objects:
        merged.update(json.loads(text))
    assert merged == values
    # as few objects as fit: no two neighbours would fit in one
    assert all(len(json.dumps({**json.loads(a), **json.loads(b)}, separators=(",", ":"))) > 256
               for a, b in itertools.pairwise(objects))
    assert settings_arguments(dict(reversed(values.items()))) == arguments  # the order given does not matter


def test_a_setting_too_long_for_any_argument_is_refused_naming_it() -> None:
    # {"windows":[2,...,99]}: 12 + 8 one-digit and 90 two-digit numbers (188) + 97 commas + 2 = 299 characters
    with pytest.raises(SettingTooLong, match=r"'windows' is 299 characters") as refused:
        settings_arguments({"windows": list(range(2, 100))})
    assert refused.value.name == "windows"


def test_the_leak_steps_settings_read_back_from_their_packed_arguments() -> None:
    """LeakSettings' JSON is longer than one argument: two objects, read back by the step into the same model."""
    configured = LeakSettings(windows=(5, 20), cutoffs=3, ingest_lag_seconds=30.0, min_asymmetry_z=4.0)
    arguments = settings_arguments(configured.model_dump(mode="json"))
    assert arguments.count(SETTINGS_FLAG) == 2
    assert settings_from_argv(LeakSettings, ["--features", "x", *arguments]) == configured


def test_a_flag_wins_over_settings_and_a_setting_given_twice_is_refused() -> None:
    read = settings_from_argv(FeatureConfiguration, [SETTINGS_FLAG, '{"n_folds": 3, "windows": [5, 10]}',
                                                     "--n-folds", "6"])
    assert (read.n_folds, read.windows) == (6, (5, 10))
    with pytest.raises(StepInputError, match="column 'n_folds': is given in two --settings objects"):
        settings_from_argv(FeatureConfiguration, [SETTINGS_FLAG, '{"n_folds": 3}', SETTINGS_FLAG, '{"n_folds": 4}'])


def test_a_nested_section_has_its_own_flags_and_json_object() -> None:
    read = settings_from_argv(StabilitySettings, [SETTINGS_FLAG, '{"rfe": {"enabled": true, "step": 0.2}}',
                                                  "--rfe-min-features", "5"])
    assert (read.rfe.enabled, read.rfe.step, read.rfe.min_features) == (True, 0.2, 5)
    with pytest.raises(StepInputError, match=r"column 'rfe.stepp': is not a setting of this step"):
        settings_from_argv(StabilitySettings, [SETTINGS_FLAG, '{"rfe": {"stepp": 0.2}}'])


def test_help_shows_each_settings_description_default_and_bound() -> None:
    parser = argparse.ArgumentParser(prog="x")
    from steps.common.settings import add_settings_arguments

    add_settings_arguments(parser, FeatureConfiguration)
    text = " ".join(parser.format_help().split())
    assert "--daily-window DAILY_WINDOW sessions in the *_daily indicators (1-minute bars) (default 10; >= 2)" in text
    assert "--label-dead-zone LABEL_DEAD_ZONE |return| below this is not a training row (default 0.0; >= 0.0, < " \
           "0.1)" in text


@pytest.mark.parametrize("argv", [[SETTINGS_FLAG, "not json"], [SETTINGS_FLAG, "[5, 10]"],
                                  [SETTINGS_FLAG, '{"windowz": [5]}'], ["--windows", "1,5"]])
def test_bad_settings_exit_2_on_one_line_and_write_nothing(argv: list[str], tmp_path: Path) -> None:
    out = tmp_path / "features"
    done = subprocess.run([sys.executable, "-m", "steps.features", "--bars", str(tmp_path / "none"), "--output",
                           str(out), *argv], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and done.stderr.startswith("error: ")
    assert "Traceback" not in done.stderr and not out.exists()
