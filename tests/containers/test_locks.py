"""The locks (requirements.lock for development and tests, containers/<image>/requirements.lock for the job
images, all made by containers/lock.sh), checked statically: every requirement pinned with hashes, the
package's requirements met, closed under dependencies as far as the installed metadata tells, torch at the
Makefile's pin, one version per library across the tests and the images; and the test environment itself is
exactly the development lock (what ships is what is tested)."""

from __future__ import annotations

import configparser
import importlib.metadata
import re
import subprocess
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO = Path(__file__).resolve().parents[2]
LOCK_SCRIPT = REPO / "containers" / "lock.sh"
DEV_LOCK = REPO / "requirements.lock"
IMAGES = ("cpu", "gpu")
HASH = re.compile(r"--hash=sha256:[0-9a-f]{64}")
# The images: linux x86_64, CPython 3.11 (what lock.sh resolves for).
IMAGE_ENVIRONMENT = {
    **default_environment(),
    "os_name": "posix",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "platform_machine": "x86_64",
    "platform_python_implementation": "CPython",
    "implementation_name": "cpython",
    "python_version": "3.11",
    "python_full_version": "3.11.7",
}


@dataclass(frozen=True)
class Pin:
    name: str
    version: str
    hashes: tuple[str, ...]
    line: str


class LockError(ValueError):
    pass


def parse_lock(text: str) -> dict[str, Pin]:
    """A pip requirements lock: `name==version` with --hash options on every requirement, nothing else."""
    logical: list[str] = []
    current = ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        logical.append(current + stripped)
        current = ""
    if current:
        raise LockError(f"a line continuation runs off the end of the file: {current!r}")
    pins: dict[str, Pin] = {}
    for line in logical:
        line = re.sub(r"\s+#.*$", "", line)
        tokens = line.split()
        options = [t for t in tokens if t.startswith("-")]
        requirement = " ".join(t for t in tokens if not t.startswith("-"))
        if not requirement:
            raise LockError(f"an option outside a requirement (index, editable, include): {line!r}")
        bad = [o for o in options if not HASH.fullmatch(o)]
        if bad:
            raise LockError(f"{requirement}: only --hash=sha256:<64 hex> options are allowed, got {bad}")
        if not options:
            raise LockError(f"{requirement}: no --hash")
        parsed = Requirement(requirement)
        specifiers = list(parsed.specifier)
        if parsed.url or len(specifiers) != 1 or specifiers[0].operator != "==" or "*" in specifiers[0].version:
            raise LockError(f"{requirement}: not pinned to one version with ==")
        if parsed.extras:
            raise LockError(f"{requirement}: extras belong in the resolution, not the lock")
        name = canonicalize_name(parsed.name)
        if name in pins:
            raise LockError(f"{name} is listed twice")
        pins[name] = Pin(name, specifiers[0].version, tuple(options), requirement)
    if not pins:
        raise LockError("no requirement")
    return pins


def lock_path(image: str) -> Path:
    return REPO / "containers" / image / "requirements.lock"


def lock(image: str) -> dict[str, Pin]:
    return parse_lock(lock_path(image).read_text())


def image_extras() -> dict[str, list[str]]:
    """The extras each image's lock resolves, as containers/lock.sh says (`compile <image> <extra>...`)."""
    found = re.findall(r"^compile_image (\w+)((?: [a-z0-9_-]+)+)\s*$", LOCK_SCRIPT.read_text(), flags=re.MULTILINE)
    return {image: extras.split() for image, extras in found}


def package_requirements(extras: list[str]) -> list[Requirement]:
    """setup.cfg's install_requires and the entries of the given extras (`%(other)s` lines expanded, as
    setuptools reads them)."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(REPO / "setup.cfg")
    section = parser["options.extras_require"]

    def extra_lines(extra: str, seen: tuple[str, ...] = ()) -> list[str]:
        lines = []
        for line in section[extra].splitlines():
            included = re.fullmatch(r"\s*%\((\w+)\)s\s*", line)
            if included and included.group(1) not in seen:
                lines += extra_lines(included.group(1), (*seen, extra))
            else:
                lines.append(line)
        return lines

    lines = parser["options"]["install_requires"].splitlines()
    for extra in extras:
        lines += extra_lines(extra)
    return [Requirement(line) for line in lines if line.strip() and not line.strip().startswith("#")]


def build_requirements() -> list[Requirement]:
    build_system = tomllib.loads((REPO / "pyproject.toml").read_text())["build-system"]
    return [Requirement(r) for r in build_system["requires"]]


def applies(requirement: Requirement, extra: str = "") -> bool:
    return requirement.marker is None or requirement.marker.evaluate({**IMAGE_ENVIRONMENT, "extra": extra})


def unmet(requirements: list[Requirement], pins: dict[str, Pin]) -> list[str]:
    problems = []
    for requirement in requirements:
        if not applies(requirement):
            continue
        pin = pins.get(canonicalize_name(requirement.name))
        if pin is None:
            problems.append(f"{requirement}: not in the lock")
        elif not requirement.specifier.contains(Version(pin.version), prereleases=True):
            problems.append(f"{requirement}: the lock has {pin.version}")
    return problems


def installed_requires(name: str, version: str) -> list[str] | None:
    """Requires-Dist of the installed copy of `name` if it is that version (the test environment), else None."""
    try:
        installed = importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError:
        return None
    return list(installed.requires or []) if Version(installed.version) == Version(version) else None


Requires = Callable[[str, str], list[str] | None]


def closure_gaps(
    roots: list[Requirement], pins: dict[str, Pin], requires: Requires = installed_requires
) -> tuple[list[str], set[str]]:
    """Walk the dependencies from `roots` through each pinned package's metadata (`requires`: by default the
    installed copy's, where it is the pinned version); returns what the lock misses or pins outside a
    specifier, and the names whose metadata was not at hand."""
    problems: list[str] = []
    unread: set[str] = set()
    seen: set[tuple[str, str]] = set()
    queue = [(r, "") for r in roots]
    while queue:
        requirement, extra = queue.pop()
        if not applies(requirement, extra):
            continue
        name = canonicalize_name(requirement.name)
        pin = pins.get(name)
        if pin is None:
            problems.append(f"{requirement} (needed{' for ' + extra if extra else ''}): not in the lock")
            continue
        if not requirement.specifier.contains(Version(pin.version), prereleases=True):
            problems.append(f"{requirement}: the lock has {pin.version}")
        for wanted in ("", *sorted(requirement.extras)):
            if (name, wanted) in seen:
                continue
            seen.add((name, wanted))
            listed = requires(name, pin.version)
            if listed is None:
                unread.add(name)
                continue
            queue += [(Requirement(r), wanted) for r in listed]
    return problems, unread


def makefile_torch_pins() -> set[str]:
    return set(re.findall(r"\btorch==([0-9][0-9A-Za-z.+]*)", (REPO / "Makefile").read_text()))


# ---------------------------------------------------------------------------------------------------------
# The parser refuses what a hash-checked, dependency-free install cannot take.


@pytest.mark.parametrize(
    "text, message",
    [
        ("numpy==2.4.6\n", "no --hash"),
        ("numpy>=2.4 \\\n    --hash=sha256:" + "a" * 64 + "\n", "not pinned"),
        ("numpy==2.4.* \\\n    --hash=sha256:" + "a" * 64 + "\n", "not pinned"),
        ("numpy==2.4.6 \\\n    --hash=md5:" + "a" * 32 + "\n", "only --hash"),
        ("--index-url https://example.invalid/simple\nnumpy==2.4.6 --hash=sha256:" + "a" * 64 + "\n", "option"),
        ("-e .\n", "option"),
        ("numpy==2.4.6 --hash=sha256:" + "a" * 64 + "\nNumPy==2.4.6 --hash=sha256:" + "b" * 64 + "\n", "twice"),
        ("# only comments\n", "no requirement"),
    ],
)
def test_the_lock_parser_refuses_an_unhashed_or_unpinned_lock(text, message):
    with pytest.raises(LockError, match=message):
        parse_lock(text)


def test_the_lock_parser_reads_continuations_and_comments():
    text = (
        "# header\nnumpy==2.4.6 \\\n    --hash=sha256:" + "a" * 64 + " \\\n    --hash=sha256:" + "b" * 64 + "\n"
        "    # via pandas\nPyYAML==6.0.4 --hash=sha256:" + "c" * 64 + "    # via -r setup.cfg\n"
    )
    pins = parse_lock(text)
    assert set(pins) == {"numpy", "pyyaml"}
    assert pins["numpy"].version == "2.4.6" and len(pins["numpy"].hashes) == 2


# ---------------------------------------------------------------------------------------------------------
# The locks.


def test_each_image_has_a_lock_made_by_the_lock_script():
    assert DEV_LOCK.read_text().startswith("# This file was autogenerated by uv")
    assert image_extras() == {"cpu": ["sentiment"], "gpu": ["gru", "sentiment"]}
    for image in IMAGES:
        assert lock_path(image).read_text().startswith("# This file was autogenerated by uv"), image
        assert "containers/lock.sh" in lock_path(image).read_text().splitlines()[1], image
    assert subprocess.run(["bash", "-n", str(LOCK_SCRIPT)], check=False).returncode == 0
    assert not (REPO / "containers" / "constraints.txt").exists()
    assert not (REPO / "containers" / "freeze_constraints.sh").exists()


@pytest.mark.parametrize("image", IMAGES)
def test_every_requirement_of_the_lock_is_pinned_with_hashes(image):
    pins = lock(image)  # raises on an unpinned or unhashed requirement
    assert len(pins) > 50, "a complete lock lists every transitive package"


@pytest.mark.parametrize("image", IMAGES)
def test_the_lock_satisfies_setup_cfg_for_the_images_extras(image):
    pins = lock(image)
    requirements = package_requirements(image_extras()[image]) + build_requirements()
    assert unmet(requirements, pins) == []


def test_unmet_names_a_missing_or_out_of_range_requirement():
    pins = lock("cpu")
    assert unmet([Requirement("numpy>=1.26")], pins) == []
    assert unmet([Requirement("numpy>=99")], pins) == [f"numpy>=99: the lock has {pins['numpy'].version}"]
    assert unmet([Requirement("not-a-locked-package>=1")], pins) == ["not-a-locked-package>=1: not in the lock"]
    assert unmet([Requirement("pywin32>=1; sys_platform == 'win32'")], pins) == []


@pytest.mark.parametrize("image", IMAGES)
def test_the_lock_is_closed_under_the_dependencies_the_installed_metadata_lists(image):
    pins = lock(image)
    roots = package_requirements(image_extras()[image]) + build_requirements()
    problems, unread = closure_gaps(roots, pins)
    # Packages installed here at another version (or not at all: torch here is the CPU build, so its CUDA
    # dependencies) are not walked; `pip check` in the Dockerfiles covers them at build time.
    if len(unread) == len(pins):
        pytest.skip("no locked version is installed in this environment")
    assert problems == []


def test_closure_gaps_finds_a_dependency_the_lock_dropped_or_pins_out_of_range():
    def pin(name: str, version: str) -> Pin:
        return Pin(name, version, ("--hash=sha256:" + "0" * 64,), f"{name}=={version}")

    metadata = {
        "tweepy": ["requests>=2.27", 'aiohttp>=3.7.3; extra == "async"'],
        "requests": ["idna>=2.5"],
        "aiohttp": ["yarl>=1.17"],
    }
    pins = {p.name: p for p in (pin("tweepy", "4.17.0"), pin("requests", "2.34.2"), pin("idna", "3.20"),
                                pin("aiohttp", "3.14.5"), pin("yarl", "1.25.1"))}
    roots = [Requirement("tweepy[async]>=4.17,<5")]
    assert closure_gaps(roots, pins, lambda name, version: metadata.get(name, [])) == ([], set())
    dropped = {name: p for name, p in pins.items() if name != "aiohttp"}
    problems, _ = closure_gaps(roots, dropped, lambda name, version: metadata.get(name, []))
    assert problems == ['aiohttp>=3.7.3; extra == "async" (needed for async): not in the lock']
    old_idna = {**pins, "idna": pin("idna", "2.0")}
    problems, _ = closure_gaps(roots, old_idna, lambda name, version: metadata.get(name, []))
    assert problems == ["idna>=2.5: the lock has 2.0"]


def test_gpu_lock_carries_what_fingpt_and_the_gru_import():
    pins = lock("gpu")
    for name in ("torch", "transformers", "tokenizers", "peft", "accelerate", "safetensors"):
        assert name in pins, name


@pytest.mark.parametrize("image", IMAGES)
def test_torch_in_every_lock_is_the_makefiles_pin(image):
    pins = makefile_torch_pins()
    assert len(pins) == 1, f"the Makefile should pin one torch version, found {pins}"
    (pin,) = pins
    locked = Version(lock(image)["torch"].version)
    # `torch==X` as pip reads it: X itself, or X with a local label (+cpu, the CPU build).
    assert SpecifierSet(f"=={pin}").contains(locked), f"{image} lock has torch {locked}, the Makefile {pin}"
    tested = Version(importlib.metadata.version("torch"))
    assert SpecifierSet(f"=={pin}").contains(tested), f"the tests run torch {tested}, the Makefile pins {pin}"


def test_every_lock_pins_a_library_at_one_version_across_images():
    cpu, gpu = lock("cpu"), lock("gpu")
    assert {n: p.version for n, p in cpu.items() if n in gpu and gpu[n].version != p.version} == {}


def test_readme_names_the_lock_tool_and_its_version():
    version = re.search(r"^UV_VERSION=(\S+)$", LOCK_SCRIPT.read_text(), flags=re.MULTILINE)
    assert version
    readme = (REPO / "README.md").read_text()
    assert f"uv {version.group(1)}" in readme and "containers/lock.sh" in readme


# ---------------------------------------------------------------------------------------------------------
# The development lock: what `make install`, `make test` and CI install.

# Installed by the Makefile beside the lock (pip and torch from their pins, the package itself editable) or
# by containers/lock.sh (uv), never listed in the lock.
NOT_IN_THE_DEV_LOCK = {"pip", "torch", "conviction-pipelines", "uv"}


def dev_lock() -> dict[str, Pin]:
    return parse_lock(DEV_LOCK.read_text())


def test_the_dev_lock_pins_every_requirement_with_hashes():
    pins = dev_lock()  # raises on an unpinned or unhashed requirement
    assert len(pins) > 100, "a complete lock lists every transitive package"


def test_the_dev_lock_satisfies_setup_cfg_for_the_dev_extra():
    requirements = package_requirements(["dev"]) + build_requirements()
    assert {r.name for r in requirements} >= {"moto", "sagemaker", "pytest", "ruff", "xgboost"}  # dev expanded
    (torch_pin,) = makefile_torch_pins()
    torch = [r for r in requirements if canonicalize_name(r.name) == "torch"]
    assert torch and all(r.specifier.contains(Version(torch_pin)) for r in torch), "setup.cfg refuses the torch pin"
    assert unmet([r for r in requirements if canonicalize_name(r.name) != "torch"], dev_lock()) == []


def test_the_dev_lock_leaves_torch_and_only_its_cuda_build_to_the_makefile():
    pins = dev_lock()
    cuda = sorted(n for n in pins if n == "torch" or n == "triton" or n.startswith(("nvidia-", "cuda-")))
    # xgboost's own NCCL (a Linux requirement of xgboost, not torch) is the one CUDA library that stays
    assert cuda in ([], ["nvidia-nccl-cu12"]), cuda
    # what the CPU build of torch requires is locked, so `pip install --no-deps` leaves nothing unmet
    torch_needs = [Requirement(r) for r in importlib.metadata.requires("torch") or []]
    assert unmet([r for r in torch_needs if not r.marker], pins) == []


def test_the_test_environment_is_exactly_the_dev_lock():
    """What ships is what is tested: every locked package installed at its locked version, nothing else."""
    distributions = [d for d in importlib.metadata.distributions() if d.metadata["Name"]]
    installed = {canonicalize_name(d.metadata["Name"]): d.version for d in distributions}
    pins = dev_lock()
    wrong = {n: (p.version, installed.get(n)) for n, p in pins.items() if installed.get(n) != p.version}
    extra = sorted(set(installed) - set(pins) - NOT_IN_THE_DEV_LOCK)
    assert (wrong, extra) == ({}, []), (
        "this environment is not requirements.lock (locked, installed): run `make clean install` "
        "(or `make lock` after changing setup.cfg)"
    )


def test_the_images_and_the_tests_share_one_version_of_every_library():
    dev = dev_lock()
    for image in IMAGES:
        shared = [(n, p.version) for n, p in lock(image).items() if n in dev]
        differing = {n: (version, dev[n].version) for n, version in shared if dev[n].version != version}
        assert differing == {}, f"{image} image lock vs requirements.lock: {differing}"


def test_lock_drift_names_what_differs_from_the_lock():
    import importlib.util

    spec = importlib.util.spec_from_file_location("lock_drift", REPO / "containers" / "lock_drift.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    text = "moto==5.2.5 \\\n    --hash=sha256:" + "a" * 64 + "\nPyYAML==6.0.3 --hash=sha256:" + "b" * 64
    locked = module.locked_versions(text)
    assert locked == {"moto": "5.2.5", "pyyaml": "6.0.3"}
    lines = module.drift(locked, {"moto": "5.2.6", "pyyaml": "6.0.3", "six": "1.17.0", "pip": "26.3"})
    assert lines == ["  moto 5.2.5 -> 5.2.6", "  six 1.17.0: installed, not in the lock"]
    assert module.drift({"a": "1"}, {}) == ["  a: locked at 1, not installed"]


def test_the_makefile_installs_the_lock_hash_checked_into_a_new_venv():
    makefile = (REPO / "Makefile").read_text()
    stamp_rule = makefile.split("$(STAMP):", 1)[1].split("\n\n", 1)[0]
    assert "$(LOCK)" in stamp_rule.splitlines()[0], "the venv is rebuilt when the lock changes"
    assert "rm -rf $(VENV)" in stamp_rule
    assert "--require-hashes --no-deps -r $(LOCK)" in stamp_rule
    assert "--no-deps --no-build-isolation -e ." in stamp_rule
    assert "pip check" in stamp_rule
    assert re.search(r"^TORCH_PIN := torch==", makefile, flags=re.MULTILINE)
    for target in ("lock:", "test-latest:"):
        assert re.search(rf"^{target}", makefile, flags=re.MULTILINE), target
