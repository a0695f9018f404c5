"""What `make images` builds from, checked statically: the build context (.dockerignore) carries every file the
Dockerfiles COPY and nothing heavy (.venv, .git, runs/); the bases are build arguments defaulting to the
upstream images; the stand-in bases come from Debian packages with the host's CA certificates, under their own
names; the build script fails with one clear line where there is no engine to build with."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from test_dockerfiles import instructions

REPO = Path(__file__).resolve().parents[2]
UPSTREAM_BASES = {
    "cpu": "python:3.11.7-slim-bookworm",
    "gpu": "nvidia/cuda:12.4.1-cudnn-runtime-ubuntu22.04",
}
BUILD_BASES = REPO / "containers" / "base" / "build_bases.sh"
BUILD_IMAGES = REPO / "containers" / "build_images.sh"


def ignore_patterns(text: str) -> list[tuple[bool, re.Pattern[str]]]:
    """A .dockerignore as (is_exception, regex) in file order; `**` spans folders, `*` and `?` do not."""
    patterns = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        exception = line.startswith("!")
        pattern = line.removeprefix("!").strip().strip("/")
        regex, i = "", 0
        while i < len(pattern):
            if pattern.startswith("**/", i):
                regex, i = regex + "(?:.*/)?", i + 3
            elif pattern.startswith("**", i):
                regex, i = regex + ".*", i + 2
            elif pattern[i] == "*":
                regex, i = regex + "[^/]*", i + 1
            elif pattern[i] == "?":
                regex, i = regex + "[^/]", i + 1
            else:
                regex, i = regex + re.escape(pattern[i]), i + 1
        patterns.append((exception, re.compile(regex + r"\Z")))
    return patterns


def is_ignored(path: str, patterns: list[tuple[bool, re.Pattern[str]]]) -> bool:
    """Docker's rule: the last pattern that matches the path or a folder above it decides."""
    parts = path.strip("/").split("/")
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    ignored = False
    for exception, regex in patterns:
        if any(regex.match(prefix) for prefix in prefixes):
            ignored = not exception
    return ignored


def copy_sources(dockerfile: Path) -> list[str]:
    """Every COPY source (relative to the repository root) of a Dockerfile."""
    sources = []
    for keyword, arguments in instructions(dockerfile.read_text()):
        if keyword == "COPY":
            words = [w for w in arguments.split() if not w.startswith("--")]
            sources += words[:-1]
    return sources


def files_under(source: str) -> list[str]:
    path = REPO / source
    if path.is_dir():
        return [p.relative_to(REPO).as_posix() for p in path.rglob("*")
                if p.is_file() and "__pycache__" not in p.parts]
    return [source]


PATTERNS = ignore_patterns((REPO / ".dockerignore").read_text())


@pytest.mark.parametrize("image", sorted(UPSTREAM_BASES))
def test_every_file_a_dockerfile_copies_is_in_the_build_context(image):
    sources = copy_sources(REPO / "containers" / image / "Dockerfile")
    assert {"steps", "configs", "setup.cfg", f"containers/{image}/requirements.lock"} <= set(sources)
    for source in sources:
        assert (REPO / source).exists(), source
        left_out = [f for f in files_under(source) if is_ignored(f, PATTERNS)]
        assert left_out == [], f"{source}: .dockerignore leaves out {left_out[:5]}"


@pytest.mark.parametrize("path", [
    ".venv/bin/python", ".venv", ".git/HEAD", "runs/images/cpu.log", "runs", "tests/containers/test_locks.py",
    "docs/performance.md", "steps/train/__pycache__/run.cpython-311.pyc", "benchmarks/x.py", ".pytest_cache/v",
    "containers/base/build_bases.sh", "data/bars.parquet",
])
def test_the_build_context_leaves_out_the_venv_git_runs_and_caches(path):
    assert is_ignored(path, PATTERNS)


def test_the_ignore_matcher_follows_dockers_last_match_rule():
    patterns = ignore_patterns("*\n!steps/\n**/__pycache__\n")
    assert not is_ignored("steps/train/run.py", patterns)
    assert is_ignored("steps/train/__pycache__/run.pyc", patterns)
    assert is_ignored("stepsx/run.py", patterns)


@pytest.mark.parametrize("image", sorted(UPSTREAM_BASES))
def test_the_base_is_a_build_argument_defaulting_to_the_upstream_image(image):
    steps = instructions((REPO / "containers" / image / "Dockerfile").read_text())
    assert steps[0] == ("ARG", f"BASE_IMAGE={UPSTREAM_BASES[image]}")
    assert steps[1] == ("FROM", "${BASE_IMAGE}")
    assert [s for s in steps if s[0] == "FROM"] == [("FROM", "${BASE_IMAGE}")]


def test_stand_in_bases_come_from_debian_minbase_with_the_hosts_ca_certificates():
    script = BUILD_BASES.read_text()
    assert re.search(r"debootstrap --variant=minbase\b.*\bca-certificates\b", script)
    assert "docker import" in script
    assert "/usr/local/share/ca-certificates" in script and "/etc/ssl/certs/ca-certificates.crt" in script
    assert "update-ca-certificates" in script
    # The tree lives outside the repository and goes however the script ends.
    assert "mktemp -d /tmp/" in script and "trap remove_work EXIT" in script
    assert 'rm -rf --one-file-system "$work"' in script
    assert subprocess.run(["bash", "-n", str(BUILD_BASES)], check=False).returncode == 0


@pytest.mark.parametrize("image", sorted(UPSTREAM_BASES))
def test_stand_ins_carry_their_own_names_and_say_what_they_stand_in_for(image):
    dockerfile = (REPO / "containers" / "base" / f"{image}.Dockerfile").read_text()
    assert f'conviction.stand-in-for="{UPSTREAM_BASES[image]}"' in dockerfile
    assert "PIP_CERT=/etc/ssl/certs/ca-certificates.crt" in dockerfile
    scripts = BUILD_BASES.read_text() + BUILD_IMAGES.read_text()
    tags = re.findall(r"(?:-t|docker tag \S+) \"?([^\s\"]+)", scripts)
    assert tags and all(not tag.startswith(("python", "nvidia")) for tag in tags), tags
    assert 'standin="conviction-base/${kind}:bookworm"' in BUILD_IMAGES.read_text()


def test_make_images_calls_the_build_script_with_the_images_variable():
    makefile = (REPO / "Makefile").read_text()
    assert re.search(r"^images:\n\tcontainers/build_images\.sh \$\(IMAGES\)$", makefile, re.MULTILINE)
    assert re.search(r"^IMAGES \?= all$", makefile, re.MULTILINE)
    script = BUILD_IMAGES.read_text()
    assert 'tag="conviction-${kind}:${version}"' in script
    assert "conviction.requirements-lock-sha256=" in script and "conviction.git-revision=" in script
    assert subprocess.run(["bash", "-n", str(BUILD_IMAGES)], check=False).returncode == 0


def _build_images(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    bash = shutil.which("bash") or "/bin/bash"
    return subprocess.run([bash, str(BUILD_IMAGES), *args], capture_output=True, text=True, env=env, timeout=60,
                          check=False)


def test_without_a_docker_cli_the_build_stops_with_one_line(tmp_path: Path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("dirname", "sed", "git", "date"):
        if found := shutil.which(tool):
            (bin_dir / tool).symlink_to(found)
    result = _build_images({"PATH": str(bin_dir), "HOME": str(tmp_path)}, "cpu")
    assert result.returncode != 0
    [line] = result.stderr.strip().splitlines()
    assert line == "build_images: docker is not installed (Debian: apt-get install docker.io)"


@pytest.mark.skipif(shutil.which("docker") is None, reason="no docker CLI on this machine")
def test_without_a_running_daemon_the_build_says_how_to_start_one(tmp_path: Path):
    env = {**os.environ, "DOCKER_HOST": f"unix://{tmp_path}/no-daemon.sock"}
    result = _build_images(env, "cpu")
    assert result.returncode != 0
    [line] = result.stderr.strip().splitlines()
    assert "daemon is not running" in line and "dockerd &" in line and "systemctl start docker" in line


def test_an_unknown_image_kind_is_a_usage_error():
    result = _build_images(dict(os.environ), "tpu")
    assert result.returncode == 2 and "usage" in result.stderr


def test_build_and_push_passes_the_base_argument_and_refuses_a_stand_in_before_logging_in():
    script = (REPO / "containers" / "build_and_push.sh").read_text()
    assert '--build-arg "BASE_IMAGE=' in script and "conviction.requirements-lock-sha256=" in script
    assert script.index("conviction.stand-in-for") < script.index("docker login")
