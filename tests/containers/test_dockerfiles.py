"""The job images, checked statically (no Docker engine here): they install their hash-checked lock and then
this package without dependencies, run as root as SageMaker expects, and every entrypoint the definition or the
image names is a module that exists."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCKERFILES = sorted((REPO / "containers").glob("*/Dockerfile"))


def instructions(text: str) -> list[tuple[str, str]]:
    """A Dockerfile's instructions, (KEYWORD, arguments), continuation lines joined and comments dropped."""
    result: list[tuple[str, str]] = []
    current = ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        line = current + stripped
        current = ""
        keyword, _, arguments = line.partition(" ")
        result.append((keyword.upper(), " ".join(arguments.split())))
    assert not current, "a continuation runs off the end of the Dockerfile"
    return result


def commands(text: str) -> list[str]:
    """Each shell command of the RUN instructions (split at &&, ; and ||)."""
    return [
        command.strip()
        for keyword, arguments in instructions(text)
        if keyword == "RUN"
        for command in re.split(r"&&|\|\||;", arguments)
        if command.strip()
    ]


ROOT = {"root", "0", "root:root", "0:0"}
LOCK_INSTALL = re.compile(r"^(?:python3 -m )?pip install --require-hashes --no-deps -r (\S+)$")
PACKAGE_INSTALL = re.compile(r"^(?:python3 -m )?pip install --no-deps --no-build-isolation \.$")


def install_problems(text: str, image: str) -> list[str]:
    """Every pip install is the image's lock with hashes, or this package without dependencies after it."""
    copies = {
        parts[-1].removeprefix("./"): parts[0]
        for keyword, arguments in instructions(text)
        if keyword == "COPY" and len(parts := arguments.split()) == 2
    }
    problems, locked = [], False
    for command in commands(text):
        if "pip install" not in command:
            continue
        if match := LOCK_INSTALL.match(command):
            source, expected = copies.get(match.group(1).removeprefix("./")), f"containers/{image}/requirements.lock"
            if source != expected:
                problems.append(f"{command!r} installs {source or match.group(1)}, not {expected}")
            locked = True
        elif PACKAGE_INSTALL.match(command):
            if not locked:
                problems.append("the package is installed before the lock")
        else:
            problems.append(f"{command!r} is neither the hash-checked lock nor the package with --no-deps")
    if not locked:
        problems.append("no pip install --require-hashes --no-deps -r <lock>")
    if not any(PACKAGE_INSTALL.match(c) for c in commands(text)):
        problems.append("the package itself (.) is not installed")
    return problems


def user_problems(text: str, entrypoint: str = "") -> list[str]:
    """Root, as SageMaker runs containers: every USER is root and the last is explicit; nothing hands /opt/ml
    to another user or drops to one."""
    problems = []
    users = [arguments for keyword, arguments in instructions(text) if keyword == "USER"]
    if not users:
        problems.append("no USER: the base image's user would apply; say USER root")
    problems += [f"USER {user}: SageMaker runs containers as root" for user in users if user not in ROOT]
    for command in commands(text):
        words = command.split()
        if words and words[0] == "chown":
            operands = [w for w in words[1:] if not w.startswith("-")]
            owner, paths = (operands[0], operands[1:]) if operands else ("", [])
            if owner not in ROOT and any(p.startswith("/opt/ml") for p in paths):
                problems.append(f"{command!r}: /opt/ml is mounted by SageMaker at run time; leave it to root")
    for source in (text, entrypoint):
        if re.search(r"\b(gosu|su-exec|runuser|setpriv|setuidgid|chroot --userspec)\b|\bsu\s+-|\bsudo -u\b", source):
            problems.append("drops to another user at run time")
    return problems


def test_there_is_a_cpu_and_a_gpu_image():
    assert [p.parent.name for p in DOCKERFILES] == ["cpu", "gpu"]


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_image_installs_its_lock_with_hashes_then_the_package_without_dependencies(dockerfile):
    text = dockerfile.read_text()
    assert install_problems(text, dockerfile.parent.name) == []
    assert "COPY steps ./steps" in text


@pytest.mark.parametrize(
    "install, problem",
    [
        ("RUN pip install -c constraints.txt \".[sentiment]\"", "neither"),
        ("RUN pip install --no-deps -r requirements.lock", "neither"),
        ("RUN pip install --require-hashes -r requirements.lock", "neither"),
        ("RUN pip install \"torch==2.5.1\" && pip install --no-deps --no-build-isolation .", "neither"),
        ("RUN pip install --require-hashes --no-deps -r other.lock", "not containers/cpu/requirements.lock"),
    ],
)
def test_install_problems_names_an_unlocked_install(install, problem):
    good = (REPO / "containers" / "cpu" / "Dockerfile").read_text()
    mutated = good.replace("RUN pip install --require-hashes --no-deps -r requirements.lock", install)
    assert mutated != good
    assert any(problem in p for p in install_problems(mutated, "cpu")), install_problems(mutated, "cpu")


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_image_runs_as_root_as_sagemaker_expects_with_the_entrypoint(dockerfile):
    text = dockerfile.read_text()
    entrypoint = (REPO / "containers" / "entrypoint.sh").read_text()
    assert user_problems(text, entrypoint) == []
    assert 'ENTRYPOINT ["/usr/local/bin/conviction-entrypoint"]' in text


@pytest.mark.parametrize(
    "lines, problem",
    [
        ("USER conviction", "USER conviction"),
        ("USER 1000:1000", "USER 1000:1000"),
        ("RUN useradd --uid 1000 conviction \\\n    && chown -R conviction:conviction /opt/ml\nUSER root", "/opt/ml"),
        ("RUN chown 1000 /opt/ml/model\nUSER root", "/opt/ml"),
        ("", "no USER"),
    ],
)
def test_user_problems_names_a_non_root_user(lines, problem):
    good = (REPO / "containers" / "cpu" / "Dockerfile").read_text()
    mutated = good.replace("USER root", lines)
    assert mutated != good
    assert any(problem in p for p in user_problems(mutated)), user_problems(mutated)
    assert any("drops" in p for p in user_problems(good, 'exec gosu conviction "$@"'))


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


def test_build_script_tags_with_version_and_revision():
    script = (REPO / "containers" / "build_and_push.sh").read_text()
    assert 'tag="${version}-${revision}"' in script
    assert subprocess.run(["bash", "-n", str(REPO / "containers" / "build_and_push.sh")], check=False).returncode == 0


@pytest.mark.parametrize("image", ["cpu", "gpu"])
def test_no_source_tree_is_left_in_the_working_directory_to_shadow_the_jobs_code(image):
    """`python3 -m steps.x` puts the working directory first on sys.path: a steps/ left in the image's WORKDIR
    would be imported instead of the content-hashed code on PYTHONPATH (container mode found jobs doing so)."""
    text = (REPO / "containers" / image / "Dockerfile").read_text()
    install = re.search(r"^RUN pip install --no-deps --no-build-isolation \..*?(?=^\S|\Z)", text, re.S | re.M)
    assert install, "the package install step"
    assert re.search(r"rm -rf steps pipelines", install.group(0)), install.group(0)
