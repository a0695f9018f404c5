"""The job images, checked statically (no Docker engine here): they install this package and its extras,
run as a non-root user, and every entrypoint the definition or the image names is a module that exists."""

from __future__ import annotations

import configparser
import importlib.util
import json
import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCKERFILES = sorted((REPO / "containers").glob("*/Dockerfile"))


def _extras() -> set[str]:
    parser = configparser.ConfigParser()
    parser.read(REPO / "setup.cfg")
    return set(parser["options.extras_require"])


def test_there_is_a_cpu_and_a_gpu_image():
    assert [p.parent.name for p in DOCKERFILES] == ["cpu", "gpu"]


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_image_installs_this_package_pinned_with_existing_extras(dockerfile):
    text = dockerfile.read_text()
    installs = re.findall(r'pip install -c constraints\.txt "?\.(\[[a-z,]+\])?"?', text)
    assert installs, "the image must pip install this package (.) with the constraints file"
    named = {e for group in installs for e in group.strip("[]").split(",") if e}
    assert named <= _extras(), f"extras not in setup.cfg: {named - _extras()}"
    assert "COPY steps ./steps" in text and "containers/constraints.txt" in text


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_image_runs_as_a_non_root_user_with_the_entrypoint(dockerfile):
    text = dockerfile.read_text()
    users = re.findall(r"^USER (\S+)", text, flags=re.MULTILINE)
    assert users and users[-1] not in {"root", "0"}
    assert 'ENTRYPOINT ["/usr/local/bin/conviction-entrypoint"]' in text


def test_entrypoint_modules_exist():
    script = (REPO / "containers" / "entrypoint.sh").read_text()
    modules = re.findall(r"python3 -m (steps\.[a-z_.]+)", script)
    assert set(modules) == {"steps.train", "steps.serve"}
    for module in modules:
        assert importlib.util.find_spec(module) is not None, module
    assert subprocess.run(["sh", "-n", str(REPO / "containers" / "entrypoint.sh")], check=False).returncode == 0


def test_every_module_the_definition_runs_exists_in_the_package():
    from pipelines.config import load_config
    from pipelines.definition import definition_json, get_pipeline
    from pipelines.lint import iter_steps

    definition = json.loads(definition_json(get_pipeline(load_config())))
    modules = set()
    for step in iter_steps(definition["Steps"]):
        entrypoint = step["Arguments"].get("AppSpecification", {}).get("ContainerEntrypoint")
        if entrypoint:
            assert entrypoint[:2] == ["python3", "-m"], step["Name"]
            modules.add(entrypoint[2])
    assert "steps.features" in modules
    for module in modules:
        assert importlib.util.find_spec(module) is not None, module


def test_constraints_pin_every_line():
    lines = [
        line
        for line in (REPO / "containers" / "constraints.txt").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert lines and all(re.fullmatch(r"[A-Za-z0-9_.\-]+==[0-9][A-Za-z0-9.+\-]*", line) for line in lines)


def test_build_script_tags_with_version_and_revision():
    script = (REPO / "containers" / "build_and_push.sh").read_text()
    assert 'tag="${version}-${revision}"' in script
    assert subprocess.run(["bash", "-n", str(REPO / "containers" / "build_and_push.sh")], check=False).returncode == 0
