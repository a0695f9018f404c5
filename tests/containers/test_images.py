"""The built job images, run (`make images` first): the lock is what got installed (`pip list`), `pip check`
is clean, they run as root, and SageMaker's two ways of starting them work — `<image> train` with /opt/ml
mounted trains a model and prints the definition's metric lines; `<image> serve` answers GET /ping and
POST /invocations on 8080.

Skipped, with the reason, where docker or the image is absent; CONVICTION_REQUIRE_IMAGES (CI: cpu) makes
absence a failure. Every container started here is removed (`docker rm -f`) however the test ends, and every wait is
bounded in time."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest
from built_images import DOCKER_TIMEOUT_S, REPO, VERSION, absent, docker, image_tag

from pipelines.stages.tuning import METRIC_DEFINITIONS
from steps.features.run import run_features
from steps.features.settings import FeatureSettings
from steps.sample_data.generator import generate_market
from steps.sample_data.writer import write_market

pytestmark = pytest.mark.images

TRAIN_TIMEOUT_S = 600
SERVE_START_TIMEOUT_S = 90
# SageMaker passes a training job's hyperparameters as strings, the tuner's objective among them.
HYPERPARAMETERS = {"algorithm": "xgboost", "num_round": "20", "early_stopping_rounds": "5", "max_depth": "3",
                   "nthread": "1", "_tuning_objective_metric": "validation:auc"}
UNIVERSE = pd.DataFrame({"ticker": ["AAPL", "MSFT", "JPM", "XOM"],
                         "sector": ["Information Technology", "Information Technology", "Financials", "Energy"]})
TINY_SETTINGS = FeatureSettings(n_folds=3, train_days=10, validation_days=4, holdout_days=5, embargo_bars=30)


def run_in(tag: str, *command: str) -> subprocess.CompletedProcess[str]:
    """A one-off command in the image, its entrypoint bypassed; the container is removed afterwards."""
    name = f"conviction-test-{uuid.uuid4().hex[:12]}"
    try:
        return docker("run", "--name", name, "--entrypoint", command[0], tag, *command[1:])
    finally:
        docker("rm", "-f", name)


@contextmanager
def container(*run_args: str) -> Iterator[str]:
    """A detached container, removed (docker rm -f) however the block ends."""
    name = f"conviction-test-{uuid.uuid4().hex[:12]}"
    started = docker("run", "-d", "--name", name, *run_args)
    try:
        assert started.returncode == 0, started.stderr
        yield name
    finally:
        docker("rm", "-f", name)


def lock_pins(kind: str) -> dict[str, str]:
    text = (REPO / "containers" / kind / "requirements.lock").read_text()
    return {canonical(name): version for name, version in re.findall(r"^([A-Za-z0-9][\w.-]*)==(\S+)", text, re.M)}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@pytest.mark.parametrize("kind", ["cpu", "gpu"])
def test_the_image_holds_exactly_its_locked_versions(kind):
    tag = image_tag(kind)
    # pip list, not pip freeze: freeze writes the package itself as `name @ file:///opt/conviction`.
    listing = run_in(tag, "python3", "-m", "pip", "list", "--format=json")
    assert listing.returncode == 0, listing.stderr
    installed = {canonical(p["name"]): p["version"] for p in json.loads(listing.stdout)}
    locked = lock_pins(kind)
    wrong = {name: (version, installed.get(name)) for name, version in locked.items() if installed.get(name) != version}
    assert wrong == {}, "locked version != installed version"
    extra = set(installed) - set(locked) - {"pip", "conviction-pipelines"}
    assert extra == set(), "installed but not in the lock"
    assert installed["conviction-pipelines"] == VERSION


@pytest.mark.parametrize("kind", ["cpu", "gpu"])
def test_pip_check_is_clean(kind):
    check = run_in(image_tag(kind), "python3", "-m", "pip", "check")
    assert check.returncode == 0, check.stdout + check.stderr


@pytest.mark.parametrize("kind", ["cpu", "gpu"])
def test_the_image_runs_as_root_and_carries_its_provenance_labels(kind):
    tag = image_tag(kind)
    inspect = json.loads(docker("image", "inspect", tag).stdout)[0]["Config"]
    assert inspect["User"] in ("", "root", "0")
    assert run_in(tag, "id", "-u").stdout.strip() == "0"
    labels = inspect["Labels"]
    lock = REPO / "containers" / kind / "requirements.lock"
    assert labels["conviction.requirements-lock-sha256"] == hashlib.sha256(lock.read_bytes()).hexdigest()
    assert labels["conviction.version"] == VERSION
    assert re.fullmatch(r"[0-9a-f]{7,40}(-dirty)?", labels["conviction.git-revision"])


@pytest.fixture(scope="module")
def features_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """steps.features' output on a tiny generated market: what the `train` channel carries."""
    root = tmp_path_factory.mktemp("market")
    write_market(generate_market(UNIVERSE, days=30, seed=3), root)
    UNIVERSE.to_csv(root / "universe.csv", index=False)
    out = tmp_path_factory.mktemp("features")
    run_features(root / "bars", root / "tweets", out, TINY_SETTINGS, universe=root / "universe.csv",
                 logger=logging.getLogger("test"))
    return out


def sagemaker_training_layout(root: Path, features_dir: Path) -> Path:
    """/opt/ml as SageMaker mounts it for a File-mode job with one `train` channel."""
    config = root / "input" / "config"
    config.mkdir(parents=True)
    shutil.copytree(features_dir, root / "input" / "data" / "train")
    (config / "hyperparameters.json").write_text(json.dumps(HYPERPARAMETERS))
    (config / "inputdataconfig.json").write_text(json.dumps(
        {"train": {"TrainingInputMode": "File", "S3DistributionType": "FullyReplicated", "RecordWrapperType": "None"}}))
    (config / "resourceconfig.json").write_text(json.dumps(
        {"current_host": "algo-1", "hosts": ["algo-1"], "network_interface_name": "eth0"}))
    for folder in ("model", "output/data", "checkpoints"):
        (root / folder).mkdir(parents=True)
    return root


def train_in(tag: str, opt_ml: Path) -> subprocess.CompletedProcess[str]:
    """`docker run <image> train`, as SageMaker starts a training job: no other argument, no SM_* variables."""
    name = f"conviction-test-{uuid.uuid4().hex[:12]}"
    try:
        return docker("run", "--name", name, "--network", "none",
                      "-v", f"{opt_ml / 'input'}:/opt/ml/input:ro",
                      "-v", f"{opt_ml / 'model'}:/opt/ml/model",
                      "-v", f"{opt_ml / 'output'}:/opt/ml/output",
                      "-v", f"{opt_ml / 'checkpoints'}:/opt/ml/checkpoints",
                      tag, "train", timeout=TRAIN_TIMEOUT_S)
    finally:
        docker("rm", "-f", name)


def assert_trained(result: subprocess.CompletedProcess[str], opt_ml: Path) -> None:
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    for definition in METRIC_DEFINITIONS:
        values = [float(v) for v in re.findall(definition["Regex"], result.stdout)]
        assert len(values) == 1 and 0.0 <= values[0] <= 1.0, (definition["Name"], result.stdout[-2000:])
    model = opt_ml / "model"
    assert {"model.json", "model_meta.json", "oof_predictions.parquet"} <= {p.name for p in model.iterdir()}
    assert json.loads((model / "model_meta.json").read_text())["algorithm"] == "xgboost"


@pytest.fixture(scope="module")
def cpu_model(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Path:
    """A model trained in the CPU image (what the serving test serves)."""
    tag = image_tag("cpu")  # before the features are made: an absent image skips at once
    features_dir = request.getfixturevalue("features_dir")
    opt_ml = sagemaker_training_layout(tmp_path_factory.mktemp("opt-ml-cpu"), features_dir)
    assert_trained(train_in(tag, opt_ml), opt_ml)
    return opt_ml / "model"


def test_train_in_the_cpu_image_writes_the_model_and_prints_the_metric_lines(cpu_model):
    assert (cpu_model / "model_meta.json").is_file()


def test_train_in_the_gpu_image_runs_on_a_machine_without_a_gpu(tmp_path, request):
    tag = image_tag("gpu")
    features_dir = request.getfixturevalue("features_dir")
    opt_ml = sagemaker_training_layout(tmp_path / "opt-ml", features_dir)
    assert_trained(train_in(tag, opt_ml), opt_ml)


def http(url: str, body: bytes | None = None, content_type: str | None = None) -> tuple[int, bytes]:
    headers = {"Content-Type": content_type} if content_type else {}
    request = urllib.request.Request(url, data=body, method="POST" if body is not None else "GET", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def wait_for_ping(name: str, base_url: str) -> None:
    """GET /ping until 200, at most SERVE_START_TIMEOUT_S and 180 tries; fails with the container's log."""
    deadline = time.monotonic() + SERVE_START_TIMEOUT_S
    for _ in range(180):
        try:
            if http(base_url + "/ping")[0] == 200:
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        state = docker("inspect", "--format", "{{.State.Running}}", name).stdout.strip()
        if state != "true" or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    logs = docker("logs", "--tail", "40", name)
    pytest.fail(f"{name}: no 200 from /ping within {SERVE_START_TIMEOUT_S}s (running: {state})\n"
                f"{logs.stdout}{logs.stderr}")


def test_serve_answers_ping_and_invocations_on_8080(cpu_model, features_dir):
    tag = image_tag("cpu")
    with container("-p", "127.0.0.1::8080", "-v", f"{cpu_model}:/opt/ml/model:ro", tag, "serve") as name:
        port = docker("port", name, "8080/tcp").stdout.strip().splitlines()[0].rsplit(":", 1)[1]
        base_url = f"http://127.0.0.1:{port}"
        wait_for_ping(name, base_url)
        features = json.loads((cpu_model / "model_meta.json").read_text())["features"]
        rows = pd.read_parquet(features_dir / "features.parquet").tail(3)
        status, body = http(base_url + "/invocations", rows[features].to_csv(index=False).encode(), "text/csv")
        assert status == 200, body
        predictions = json.loads(body)["predictions"]
        assert len(predictions) == 3 and all(0.0 <= p["probability"] <= 1.0 for p in predictions)


@pytest.mark.parametrize("kind", ["cpu", "gpu"])
def test_the_jobs_code_on_pythonpath_is_what_python_m_imports(kind, tmp_path):
    """A job's content-hashed `steps/` (a processing input or training channel on PYTHONPATH) must win over the
    image's installed copy, from the image's own working directory, as `python3 -m steps.<name>` starts."""
    tag = image_tag(kind)
    code = tmp_path / "code"
    (code / "steps").mkdir(parents=True)
    (code / "steps" / "__init__.py").write_text("")
    (code / "steps" / "which.py").write_text("import steps\nprint('imported', steps.__file__)\n")
    name = f"conviction-test-{uuid.uuid4().hex[:12]}"
    try:
        ran = docker("run", "--name", name, "-v", f"{code}:/opt/ml/processing/input/code:ro",
                     "-e", "PYTHONPATH=/opt/ml/processing/input/code", "--entrypoint", "python3", tag,
                     "-m", "steps.which")  # fmt: skip
    finally:
        docker("rm", "-f", name)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == "imported /opt/ml/processing/input/code/steps/__init__.py"


def test_a_failed_build_leaves_no_tag_and_no_container(tmp_path):
    """What build_images.sh relies on: the legacy builder tags only a finished image, and --force-rm removes
    the failed step's container."""
    if shutil.which("docker") is None or docker("info", timeout=30).returncode != 0:
        absent("cpu", "no docker CLI or no running daemon")
    (tmp_path / "present.txt").write_text("a step that succeeds before the one that fails\n")
    (tmp_path / "Dockerfile").write_text("FROM scratch\nCOPY present.txt /present.txt\nCOPY missing.txt /missing.txt\n")
    tag = f"conviction-test/failed-build:{uuid.uuid4().hex[:12]}"
    before = set(docker("ps", "-aq").stdout.split())
    build = subprocess.run(["docker", "build", "--force-rm", "-t", tag, str(tmp_path)], capture_output=True,
                           text=True, timeout=DOCKER_TIMEOUT_S, check=False, env={**os.environ, "DOCKER_BUILDKIT": "0"})
    assert build.returncode != 0
    assert docker("image", "inspect", tag).returncode != 0, f"{tag} was tagged by a failed build"
    assert set(docker("ps", "-aq").stdout.split()) <= before
