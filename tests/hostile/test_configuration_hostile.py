"""Issue 29, class 4: configuration. Every malformed config, --set, CONVICTION_* value, per-user file,
profile, bound or seed is one line naming where it came from (exit 2), never a traceback, and never slow."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.config import ConfigError, load_config, parse_yaml

REPO = Path(__file__).resolve().parents[2]

BOMB = "\n".join(["a: &a [x, x, x, x, x, x, x, x, x]"] +
                 [f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]" for i in range(8)]) + "\n"


def _lint(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    import os

    return subprocess.run([sys.executable, "-m", "pipelines.lint", *args], capture_output=True, text=True,
                          cwd=REPO, timeout=120, env={**os.environ, **(env or {})})


def _one_line(result: subprocess.CompletedProcess, *needles: str) -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1, result.stderr
    for needle in needles:
        assert needle in result.stderr, result.stderr


@pytest.mark.parametrize("text, problem", [
    (BOMB, "expands to more than 100,000 values"),
    ("a: &a [*a]\n", "a recursive alias"),
    ("a: &a {b: *a}\n", "a recursive alias"),
    ("a: *undefined\n", "found undefined alias"),
    ("pipeline: {name: a}\npipeline: {name: b}\n", "key 'pipeline' appears twice"),
    ("tuning:\n  max_jobs: 4\n  max_jobs: 400\n", "key 'max_jobs' appears twice in one mapping (first on line 2)"),
    ("a: {k: 1, k: 2}\n", "key 'k' appears twice"),
    ("? [a, b]\n: 1\n", "not a list or mapping"),
    ("[unclosed\n", "is not valid YAML"),
    ("a: !!python/object/apply:os.system [echo hi]\n", "is not valid YAML"),
    ("a:\x00b\n", "is not valid YAML"),
    ("[" * 5000 + "]" * 5000, "too deeply"),
])
def test_a_malformed_config_file_is_one_line(tmp_path: Path, text, problem):
    path = tmp_path / "pipeline.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as error:
        load_config(path)
    message = str(error.value)
    assert problem in message and str(path) in message and "\n" not in message and len(message) < 400


def test_the_alias_bomb_stops_lint_at_once_without_echoing_the_expansion(tmp_path: Path):
    path = tmp_path / "bomb.yaml"
    path.write_text(BOMB)
    result = _lint("--config", str(path))  # its subprocess timeout is the hang guard
    _one_line(result, str(path), "expands to more than 100,000 values")
    assert "x, x, x" not in result.stderr


@pytest.mark.parametrize("body, problem", [
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xd8", "not UTF-8 text"),
    (b"\xff\xfe" + "a: 1\n".encode("utf-16-le"), "not UTF-8 text"),
    (b"a: 1\n" + b"#" * (1024 * 1024 + 1), "more than a config's"),
])
def test_a_binary_or_huge_config_file_is_one_line(tmp_path: Path, body, problem):
    path = tmp_path / "pipeline.yaml"
    path.write_bytes(body)
    _one_line(_lint("--config", str(path)), str(path), problem)


@pytest.mark.parametrize("pair, problem", [
    ("tuning.max_jobs=[unclosed", "--set tuning.max_jobs: line 1 is not valid YAML"),
    ("tuning.max_jobs=*undefined", "found undefined alias"),
    ("tuning.max_jobs=" + BOMB.replace("\n", ", ").join("{}"), "is not valid YAML"),
    ("tuning.max_jobs={a: 1, a: 2}", "key 'a' appears twice"),
    ("tuning..max_jobs=4", "expected key=value"),
    ("=4", "expected key=value"),
    ("tuning.max_jobs", "expected key=value"),
])
def test_a_malformed_set_value_is_one_line(pair, problem):
    _one_line(_lint("--set", pair), problem)


def test_a_set_under_a_value_is_one_line():
    _one_line(_lint("--set", "tuning=4", "--set", "tuning.max_jobs=4"), "gave tuning a value, not a section")


@pytest.mark.parametrize("name, value, problem", [
    ("CONVICTION_PIPELINE__NAME", "[x", "CONVICTION_PIPELINE__NAME: line 1 is not valid YAML"),
    ("CONVICTION_TUNING__MAX_JOBS", "*a", "found undefined alias"),
    ("CONVICTION_PROFILES__QUICK", "5", "key 'profiles.quick'"),
])
def test_a_malformed_environment_value_is_one_line(name, value, problem):
    _one_line(_lint("--profile", "quick", env={name: value}), problem)


def test_a_profile_that_is_not_a_mapping_is_one_line(tmp_path: Path):
    source = (REPO / "configs" / "pipeline.yaml").read_text()
    for profile_body, problem in (("  quick: 5\n", "key 'profiles.quick': expected a mapping"),
                                  ("  quick: [a]\n", "key 'profiles.quick': expected a mapping")):
        path = tmp_path / "configs" / "pipeline.yaml"
        path.parent.mkdir(exist_ok=True)
        path.write_text(source.split("\nprofiles:\n")[0] + "\nprofiles:\n" + profile_body)
        with pytest.raises(ConfigError, match=problem):
            load_config(path, profile="quick")
    path.write_text(source.split("\nprofiles:\n")[0] + "\nprofiles: 7\n")
    with pytest.raises(ConfigError, match="key 'profiles': expected a mapping"):
        load_config(path, profile="quick")


def test_a_missing_or_broken_per_user_config_is_one_line(tmp_path: Path):
    missing = tmp_path / "nowhere.yaml"
    _one_line(_lint(env={"CONVICTION_USER_CONFIG": str(missing)}), "CONVICTION_USER_CONFIG", str(missing))
    for body, problem in ((BOMB.encode(), "expands to more than"), (b"\xff\xfe\x00", "not UTF-8"),
                          (b"pipeline: {}\npipeline: {}\n", "appears twice"), (b"- a\n", "must be a mapping")):
        path = tmp_path / "user.yaml"
        path.write_bytes(body)
        _one_line(_lint(env={"CONVICTION_USER_CONFIG": str(path)}), str(path), problem)


@pytest.mark.parametrize("seed", [10**40, 2**31, -1])
def test_a_tuning_seed_outside_sagemakers_int32_is_refused(seed):
    with pytest.raises(ConfigError, match=r"tuning\.random_seed"):
        load_config(overrides={"tuning": {"random_seed": seed}})
    assert load_config(overrides={"tuning": {"random_seed": 2**31 - 1}}).tuning.random_seed == 2**31 - 1


@pytest.mark.parametrize("cores", ["-4", "0", "100000"])
def test_pipelines_run_refuses_a_core_count_that_is_not_one(tmp_path: Path, cores):
    result = subprocess.run([sys.executable, "-m", "pipelines.run", "--cores", cores, "--run-dir",
                             str(tmp_path / "runs")], capture_output=True, text=True, cwd=REPO, timeout=120)
    _one_line(result, f"--cores {cores}")
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("flag", ["--request-timeout", "--idle-timeout"])
@pytest.mark.parametrize("value", ["1e300", "inf", "nan", "0", "-1", "3601"])
def test_serve_refuses_a_timeout_it_would_never_reach(flag, value):
    from steps.serve.__main__ import seconds

    with pytest.raises(ValueError):
        seconds(value)
    assert seconds("3600") == 3600.0


def test_parse_yaml_reads_ordinary_values_and_the_aliases_safe_dump_writes():
    import yaml

    shared = {"x": 1}
    assert parse_yaml(yaml.safe_dump({"a": shared, "b": shared}), "f") == {"a": {"x": 1}, "b": {"x": 1}}
    assert parse_yaml("base: &b {x: 1}\nother:\n  <<: *b\n  y: 2\n", "f")["other"] == {"x": 1, "y": 2}
    assert parse_yaml("4", "--set x") == 4
    assert parse_yaml("[a, b]", "--set x") == ["a", "b"]
    assert parse_yaml("{a: 1, b: {c: 2}}", "--set x") == {"a": 1, "b": {"c": 2}}
